// test-pull.c — `vlm pull`, `vlm models` and model names in -m, against a small HTTP server on
// 127.0.0.1 started here that serves the fixture files: real downloads through libcurl, a
// checksum failure, a transfer dropped mid-file and resumed, a 404, a stalled server, a full disk
// (a file-size limit), an unwritable cache, unknown names, a gated file; after each failure no
// file under the final name and the cache still usable. Also: the proxy from the environment,
// the progress bar on a terminal (script(1)), two pulls at once. Then names resolve in
// segment/describe, and a corrupted cached file is caught.
#define _GNU_SOURCE   // strcasestr
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>

#include "harness.h"
#include "sha256.h"

static const char * tmpdir;   // the scratch folder
static char cache[512], out_text[1 << 16], env[2048], base[64];
static const char * fx;

// ---- the server: GET /MODE/PATH serves fixtures/PATH; MODE says how ------------------------
//   ok       the file, with Range support
//   drop     the first request sends half the file and closes; later ones as ok
//   dropall  every request sends half the file and closes
//   stall    sends the headers and 1000 bytes, then nothing
//   corrupt  the file with one byte changed
//   gated    401 unless "Authorization: Bearer sesame"
//   slow     the file in 20 pieces 100 ms apart
static int srv_fd;
static atomic_int stop_server, drop_served, requests, slow_requests, proxied;
static char last_range[64];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void send_all(int fd, const void * p, size_t n) {
    const char * c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        c += w, n -= (size_t)w;
    }
}

static void respond(int fd, int code, const char * reason) {
    char h[256];
    int n = snprintf(h, sizeof h, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", code, reason);
    send_all(fd, h, (size_t)n);
}

static void * serve_conn(void * arg) {
    int fd = (int)(intptr_t)arg;
    char req[8192] = "";
    size_t n = 0;
    while (n < sizeof req - 1 && !strstr(req, "\r\n\r\n")) {
        ssize_t r = recv(fd, req + n, sizeof req - 1 - n, 0);
        if (r <= 0) break;
        n += (size_t)r;
        req[n] = 0;
    }
    req[n] = 0;
    atomic_fetch_add(&requests, 1);
    char mode[32] = "", rel[1024] = "";
    long long start = 0;
    const char * range = strcasestr(req, "\r\nRange: bytes=");
    if (range) start = atoll(range + 15);
    pthread_mutex_lock(&mu);
    snprintf(last_range, sizeof last_range, "%s", range ? range + 2 : "");
    char * eol = strchr(last_range, '\r');
    if (eol) *eol = 0;
    pthread_mutex_unlock(&mu);
    // a proxy's request names the whole URL: GET http://host/MODE/PATH (counted in proxied)
    const char * target = req + 4;
    if (!strncmp(req, "GET http://", 11)) {
        target = strchr(req + 11, '/');
        atomic_fetch_add(&proxied, 1);
    }
    if (!target || sscanf(target, "/%31[^/]/%1023s HTTP/1.1", mode, rel) != 2 || strstr(rel, "..")) {
        respond(fd, 400, "Bad Request");
        goto done;
    }
    if (!strcmp(mode, "gated") && !strstr(req, "\r\nAuthorization: Bearer sesame\r\n")) {
        respond(fd, 401, "Unauthorized");
        goto done;
    }
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", fx, rel);
    char * data = test_read_text(path);
    struct stat st;
    if (!data || stat(path, &st) != 0) {
        free(data);
        respond(fd, 404, "Not Found");
        goto done;
    }
    long long size = st.st_size;
    if (!strcmp(mode, "corrupt")) data[size / 2] ^= 0x55;
    if (start < 0 || start > size) start = 0;
    if (start == size && size > 0) {
        free(data);
        respond(fd, 416, "Range Not Satisfiable");
        goto done;
    }
    char h[512];
    int hn = range ? snprintf(h, sizeof h,
                              "HTTP/1.1 206 Partial Content\r\nContent-Length: %lld\r\nContent-Range: bytes %lld-%lld/%lld\r\n"
                              "Connection: close\r\n\r\n", size - start, start, size - 1, size)
                   : snprintf(h, sizeof h, "HTTP/1.1 200 OK\r\nContent-Length: %lld\r\nConnection: close\r\n\r\n", size);
    send_all(fd, h, (size_t)hn);
    long long end = size;
    if (!strcmp(mode, "dropall") || (!strcmp(mode, "drop") && atomic_fetch_add(&drop_served, 1) == 0)) end = size / 2;
    if (!strcmp(mode, "stall")) end = start + 1000 < size ? start + 1000 : size;
    if (!strcmp(mode, "slow")) {
        atomic_fetch_add(&slow_requests, 1);
        for (long long off = start, step = (end - start) / 20 + 1; off < end; off += step) {
            send_all(fd, data + off, (size_t)(off + step < end ? step : end - off));
            usleep(100000);
        }
    } else if (end > start) {
        send_all(fd, data + start, (size_t)(end - start));
    }
    free(data);
    if (!strcmp(mode, "stall"))
        for (int i = 0; i < 1200 && !atomic_load(&stop_server); i++) usleep(50000);   // 60 s of silence
done:
    shutdown(fd, SHUT_RDWR);
    close(fd);
    return NULL;
}

static void * accept_loop(void * arg) {
    (void)arg;
    while (!atomic_load(&stop_server)) {
        int c = accept(srv_fd, NULL, NULL);
        if (c < 0) continue;
        pthread_t t;
        if (pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)c) == 0) pthread_detach(t);
        else close(c);
    }
    return NULL;
}

static bool start_server(void) {
    srv_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    if (srv_fd < 0 || bind(srv_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(srv_fd, 16) != 0 ||
        getsockname(srv_fd, (struct sockaddr *)&a, &al) != 0)
        return false;
    snprintf(base, sizeof base, "http://127.0.0.1:%d", ntohs(a.sin_port));
    pthread_t t;
    return pthread_create(&t, NULL, accept_loop, NULL) == 0 && pthread_detach(t) == 0;
}

// ---- helpers -------------------------------------------------------------------------------
static bool sha_file(const char * path, char hex[65], long long * size) {
    FILE * f = fopen(path, "rb");
    if (!f) return false;
    struct vlm_sha256 s;
    vlm_sha256_init(&s);
    unsigned char buf[65536];
    size_t n;
    *size = 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) vlm_sha256_update(&s, buf, n), *size += (long long)n;
    fclose(f);
    vlm_sha256_final_hex(&s, hex);
    return true;
}

static bool exists(const char * path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static long long file_size(const char * path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

// Changes one byte of a file in place (as a failing disk would).
static bool flip_byte(const char * path, long off) {
    FILE * f = fopen(path, "r+b");
    if (!f) return false;
    int c = fseek(f, off, SEEK_SET) == 0 ? fgetc(f) : EOF;
    bool ok = c != EOF && fseek(f, off, SEEK_SET) == 0 && fputc(c ^ 0x55, f) != EOF;
    return fclose(f) == 0 && ok;
}

static const char * cached(const char * model, const char * file) {
    static char p[1024];
    snprintf(p, sizeof p, "%s/%s/%s", cache, model, file);
    return p;
}

// env for the CLI: the test registry, the cache, no proxy for the loopback server, no retries; a
// generous stall timeout (a loaded machine, a sanitizer build), 2 s where the stall is tested
static void set_env(const char * extra) {
    snprintf(env, sizeof env,
             "VLM_REGISTRY=%s/registry.json VLM_MODELS=%s no_proxy=127.0.0.1 NO_PROXY=127.0.0.1 VLM_PULL_RETRIES=0 "
             "VLM_PULL_TIMEOUT=30 HF_TOKEN= %s",
             tmpdir, cache, extra ? extra : "");
}

#define run(...) test_run_cli(out_text, sizeof out_text, tmpdir, env, __VA_ARGS__)

static void test_sha256(void) {
    static const struct { const char * in; const char * hex; } v[] = {
        { "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
        { "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
        { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
    };
    char hex[65];
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        struct vlm_sha256 s;
        vlm_sha256_init(&s);
        vlm_sha256_update(&s, v[i].in, strlen(v[i].in));
        vlm_sha256_final_hex(&s, hex);
        CHECK(!strcmp(hex, v[i].hex), "sha256('%s') = %s", v[i].in, hex);
    }
    // a million 'a', fed in uneven pieces
    static char a[1000000];
    memset(a, 'a', sizeof a);
    struct vlm_sha256 s;
    vlm_sha256_init(&s);
    for (size_t off = 0, step = 1; off < sizeof a; off += step, step = step * 7 % 1000 + 1)
        vlm_sha256_update(&s, a + off, off + step <= sizeof a ? step : sizeof a - off);
    vlm_sha256_final_hex(&s, hex);
    CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"), "sha256(1M 'a') = %s", hex);
}

// One registry file entry.
static void entry(FILE * f, const char * role, const char * name, const char * mode, const char * rel, long long size,
                  const char * sha, bool last) {
    fprintf(f, "{\"role\": \"%s\", \"name\": \"%s\", \"url\": \"%s/%s/%s\", \"size\": ", role, name, base, mode, rel);
    if (size >= 0) fprintf(f, "%lld", size);
    else fprintf(f, "null");
    fprintf(f, ", \"sha256\": ");
    if (sha) fprintf(f, "\"%s\"", sha);
    else fprintf(f, "null");
    fprintf(f, "}%s", last ? "" : ", ");
}

int main(void) {
    if (!getenv("VLM_CLI")) SKIP("VLM_CLI not set (run through ctest)");
    test_sha256();
    fx = test_fixtures_dir();
    unsetenv("http_proxy"), unsetenv("https_proxy"), unsetenv("HTTP_PROXY"), unsetenv("HTTPS_PROXY"), unsetenv("ALL_PROXY");
    signal(SIGPIPE, SIG_IGN);
    tmpdir = test_tmp_dir("pull");
    snprintf(cache, sizeof cache, "%s/cache", tmpdir);
    if (!start_server()) SKIP("cannot listen on 127.0.0.1");

    // the registry: fixture models, and the failure cases
    char sam_sha[65], cfg_sha[65], text_sha[65], mm_sha[65], path[1024];
    long long sam_size, cfg_size, text_size, mm_size;
    snprintf(path, sizeof path, "%s/sam-tiny/model.safetensors", fx);
    CHECK(sha_file(path, sam_sha, &sam_size), "read %s", path);
    snprintf(path, sizeof path, "%s/sam-tiny/config.json", fx);
    CHECK(sha_file(path, cfg_sha, &cfg_size), "read %s", path);
    snprintf(path, sizeof path, "%s/smolvlm-tiny/smolvlm-tiny-f32.gguf", fx);
    CHECK(sha_file(path, text_sha, &text_size), "read %s", path);
    snprintf(path, sizeof path, "%s/smolvlm-tiny/mmproj-smolvlm-tiny-f32.gguf", fx);
    CHECK(sha_file(path, mm_sha, &mm_size), "read %s", path);
    snprintf(path, sizeof path, "%s/registry.json", tmpdir);
    FILE * f = fopen(path, "w");
    if (!f) SKIP("cannot write %s", path);
    fprintf(f, "{\"registry\": 1, \"defaults\": {\"segment\": \"tiny-sam\", \"describe\": \"tiny-smolvlm\"}, \"models\": [\n");
    const char * sam_rel = "sam-tiny/model.safetensors";
    struct { const char * name, * mode; long long size; const char * sha; } sams[] = {
        { "tiny-sam", "ok", sam_size, sam_sha },       { "drop-once", "drop", sam_size, sam_sha },
        { "drop-always", "dropall", sam_size, sam_sha }, { "stall", "stall", sam_size, sam_sha },
        { "corrupt", "corrupt", sam_size, sam_sha },   { "wrong-sha", "ok", sam_size, text_sha },
        { "wrong-size", "ok", sam_size + 1, sam_sha }, { "no-sha", "ok", -1, NULL },
        { "gated", "gated", sam_size, sam_sha },       { "full-disk", "ok", sam_size, sam_sha },
        { "slow", "slow", sam_size, sam_sha },         { "slow-tty", "slow", sam_size, sam_sha },
    };
    for (size_t i = 0; i < sizeof sams / sizeof *sams; i++) {
        fprintf(f, "{\"name\": \"%s\", \"task\": \"segment\", \"files\": [", sams[i].name);
        entry(f, "model", "model.safetensors", sams[i].mode, sam_rel, sams[i].size, sams[i].sha, i != 0);
        if (i == 0) entry(f, "config", "config.json", "ok", "sam-tiny/config.json", cfg_size, cfg_sha, true);
        fprintf(f, "]},\n");
    }
    fprintf(f, "{\"name\": \"proxied\", \"task\": \"segment\", \"files\": [{\"role\": \"model\", \"name\": "
               "\"model.safetensors\", \"url\": \"http://vlm-test.invalid/ok/%s\", \"size\": %lld, \"sha256\": \"%s\"}]},\n",
            sam_rel, sam_size, sam_sha);
    fprintf(f, "{\"name\": \"missing\", \"task\": \"segment\", \"files\": [");
    entry(f, "model", "model.safetensors", "ok", "sam-tiny/no-such-file.safetensors", -1, NULL, true);
    fprintf(f, "]},\n{\"name\": \"tiny-smolvlm\", \"task\": \"describe\", \"files\": [");
    entry(f, "text", "smolvlm-tiny-f32.gguf", "ok", "smolvlm-tiny/smolvlm-tiny-f32.gguf", text_size, text_sha, false);
    entry(f, "mmproj", "mmproj-smolvlm-tiny-f32.gguf", "ok", "smolvlm-tiny/mmproj-smolvlm-tiny-f32.gguf", mm_size, mm_sha, true);
    fprintf(f, "]}\n]}\n");
    fclose(f);
    set_env(NULL);

    // listing, unknown names, usage
    CHECK(run("models") == 0 && strstr(out_text, "tiny-sam") && strstr(out_text, "tiny-smolvlm"), "models: %s", out_text);
    CHECK(run("pull tiny-sma") == 1 && strstr(out_text, "unknown model 'tiny-sma'") && strstr(out_text, "'tiny-sam'"),
          "unknown name needs a suggestion: %s", out_text);
    CHECK(run("pull") == 2, "pull without a name is a usage error: %s", out_text);
    CHECK(run("segment -m tiny-sma %s --point 10,10", test_fixture("images/dog.jpg")) == 1 &&
              strstr(out_text, "did you mean 'tiny-sam'"), "-m with an unknown name: %s", out_text);

    // a name not downloaded: the message says the pull to run
    CHECK(run("segment %s --point 10,10", test_fixture("images/dog.jpg")) == 1 && strstr(out_text, "vlm pull tiny-sam"),
          "missing default model: %s", out_text);

    // a real download through libcurl, quiet when not on a terminal
    CHECK(run("pull tiny-sam") == 0 && strstr(out_text, "ready"), "pull tiny-sam: %s", out_text);
    CHECK(!strchr(out_text, '\r') && !strstr(out_text, "ETA"), "no progress bar when not a tty: %s", out_text);
    char hex[65];
    long long n;
    CHECK(sha_file(cached("tiny-sam", "model.safetensors"), hex, &n) && !strcmp(hex, sam_sha), "downloaded file differs");
    CHECK(exists(cached("tiny-sam", "config.json")), "the config was not downloaded");
    CHECK(!exists(cached("tiny-sam", "model.safetensors.part")), "a .part file was left");
    CHECK(run("models") == 0 && strstr(out_text, "present"), "models shows the download: %s", out_text);
    int before = atomic_load(&requests);
    CHECK(run("pull tiny-sam") == 0 && atomic_load(&requests) == before, "a present, verified model is not fetched again");

    // 404
    CHECK(run("pull missing") == 1 && strstr(out_text, "404"), "404: %s", out_text);
    CHECK(!exists(cached("missing", "model.safetensors")) && !exists(cached("missing", "model.safetensors.part")),
          "a 404 leaves no file");

    // checksum failures: the server sends other bytes; the registry lists a wrong sha256 or size
    CHECK(run("pull corrupt") == 1 && strstr(out_text, "sha256 mismatch"), "corrupt download: %s", out_text);
    CHECK(!exists(cached("corrupt", "model.safetensors")) && !exists(cached("corrupt", "model.safetensors.part")),
          "a corrupt download leaves no file");
    CHECK(run("pull wrong-sha") == 1 && strstr(out_text, "sha256 mismatch") && strstr(out_text, "registry"),
          "wrong registry sha256: %s", out_text);
    CHECK(!exists(cached("wrong-sha", "model.safetensors")), "wrong sha256 leaves no file");
    CHECK(run("pull wrong-size") == 1 && strstr(out_text, "registry says"), "wrong registry size: %s", out_text);
    CHECK(!exists(cached("wrong-size", "model.safetensors")), "wrong size leaves no file");

    // dropped mid-file: one retry resumes with a Range request from where it stopped
    set_env("VLM_PULL_RETRIES=1");
    CHECK(run("pull drop-once") == 0, "drop-once with a retry: %s", out_text);
    char want_range[64];
    snprintf(want_range, sizeof want_range, "Range: bytes=%lld-", sam_size / 2);
    CHECK(!strcmp(last_range, want_range), "resumed with '%s', expected '%s'", last_range, want_range);
    CHECK(sha_file(cached("drop-once", "model.safetensors"), hex, &n) && !strcmp(hex, sam_sha), "resumed file differs");
    set_env(NULL);
    // dropped every time: fails, keeps the .part, and a later pull (here from a good server) resumes it
    CHECK(run("pull drop-always") == 1 && strstr(out_text, "resumes"), "drop-always: %s", out_text);
    CHECK(!exists(cached("drop-always", "model.safetensors")) &&
              file_size(cached("drop-always", "model.safetensors.part")) == sam_size / 2,
          "an interrupted download keeps its .part and no final file");
    char extra[256];
    snprintf(extra, sizeof extra, "VLM_REGISTRY_BASE=%s/ok/sam-tiny", base);
    set_env(extra);
    CHECK(run("pull drop-always") == 0 && !strcmp(last_range, want_range), "resume from another base URL: %s (%s)",
          out_text, last_range);
    CHECK(sha_file(cached("drop-always", "model.safetensors"), hex, &n) && !strcmp(hex, sam_sha), "resumed file differs");
    set_env(NULL);

    // a stalled server: given up after VLM_PULL_TIMEOUT seconds
    set_env("VLM_PULL_TIMEOUT=2");
    time_t t0 = time(NULL);
    CHECK(run("pull stall") == 1 && strstr(out_text, "sent nothing for 2 s"), "stall: %s", out_text);
    CHECK(time(NULL) - t0 < 50, "the stall took %ld s", (long)(time(NULL) - t0));
    set_env(NULL);
    CHECK(!exists(cached("stall", "model.safetensors")), "a stalled download leaves no final file");

    // a full disk (a file-size limit of 200 kB): clear message, no final file, then resumable
    char envfs[4400];
    snprintf(envfs, sizeof envfs, "%s prlimit --fsize=200000", env);
    int rc = test_run_cli(out_text, sizeof out_text, tmpdir, envfs, "pull full-disk");
    CHECK(rc == 1 && strstr(out_text, "File too large"), "full disk: rc %d: %s", rc, out_text);
    CHECK(!exists(cached("full-disk", "model.safetensors")), "a full disk leaves no final file");
    CHECK(run("pull full-disk") == 0, "after a full disk the pull resumes: %s", out_text);

    // an unwritable cache folder
    char envbad[4400];
    snprintf(envbad, sizeof envbad, "%s VLM_MODELS=%s/registry.json/models", env, tmpdir);
    rc = test_run_cli(out_text, sizeof out_text, tmpdir, envbad, "pull tiny-smolvlm");
    CHECK(rc == 1 && strstr(out_text, "cannot use the model cache") && strstr(out_text, "VLM_MODELS"),
          "unwritable cache: rc %d: %s", rc, out_text);

    if (geteuid() != 0) {   // (root writes anywhere)
        char ro[600];
        snprintf(ro, sizeof ro, "%s/read-only", tmpdir);
        mkdir(ro, 0555);
        snprintf(envbad, sizeof envbad, "%s VLM_MODELS=%s", env, ro);
        rc = test_run_cli(out_text, sizeof out_text, tmpdir, envbad, "pull tiny-smolvlm");
        CHECK(rc == 1 && strstr(out_text, "cannot use the model cache") && strstr(out_text, "ermission"),
              "read-only cache: rc %d: %s", rc, out_text);
    }

    // two pulls of one model at once: the second waits for the first, one download
    char bg_dir[600], bg_out[4096];
    snprintf(bg_dir, sizeof bg_dir, "%s/bg", tmpdir);
    mkdir(bg_dir, 0755);
    pid_t pid = fork();
    if (pid == 0) _exit(test_run_cli(bg_out, sizeof bg_out, bg_dir, env, "pull slow"));
    for (int i = 0; i < 500 && !exists(cached("slow", "model.safetensors.part")); i++) usleep(10000);   // it started
    rc = run("pull slow");
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "concurrent pulls: %d / %d: %s", rc, status, out_text);
    CHECK(strstr(out_text, "waiting for another vlm pull"), "the second pull should wait: %s", out_text);
    CHECK(atomic_load(&slow_requests) == 1, "concurrent pulls made %d downloads", atomic_load(&slow_requests));
    CHECK(sha_file(cached("slow", "model.safetensors"), hex, &n) && !strcmp(hex, sam_sha), "slow download differs");

    // the proxy from the environment (here the test server, for a host that does not resolve)
    snprintf(extra, sizeof extra, "http_proxy=%s no_proxy= NO_PROXY=", base);
    set_env(extra);
    CHECK(run("pull proxied") == 0 && atomic_load(&proxied) == 1, "through http_proxy: %s", out_text);
    set_env(NULL);

    // on a terminal (script(1) gives it one): a progress bar with the rate and the time left
    if (system("command -v script >/dev/null 2>&1") == 0) {
        char tty_env[2600];
        snprintf(tty_env, sizeof tty_env, "%s sh -c 'exec script -qec \"$0 $*\" /dev/null'", env);
        rc = test_run_cli(out_text, sizeof out_text, tmpdir, tty_env, "pull slow-tty");
        CHECK(rc == 0 && strchr(out_text, '\r') && strstr(out_text, "/s") && strstr(out_text, "ETA") && strstr(out_text, "100%"),
              "progress bar on a terminal: %s", out_text);
    }

    // a gated file: refused without the token (HF_TOKEN goes to huggingface.co only), fetched with --token
    snprintf(extra, sizeof extra, "HF_TOKEN=sesame");
    set_env(extra);
    CHECK(run("pull gated") == 1 && strstr(out_text, "401") && strstr(out_text, "--token"), "gated: %s", out_text);
    CHECK(!exists(cached("gated", "model.safetensors")), "a refused download leaves no file");
    set_env(NULL);
    CHECK(run("pull gated --token sesame") == 0, "gated with --token: %s", out_text);

    // no sha256 in the registry: the first download's is recorded, and a change detected
    CHECK(run("pull no-sha") == 0 && strstr(out_text, "recorded"), "no-sha: %s", out_text);

    // a registry that is not valid
    snprintf(path, sizeof path, "%s/bad-registry.json", tmpdir);
    f = fopen(path, "w");
    if (f) {
        fprintf(f, "{\"models\": [{\"name\": \"x\", \"files\": [{\"role\": \"model\", \"name\": \"m\", \"url\": "
                   "\"%s/ok/m\", \"sha256\": \"not-a-checksum\"}]}]}", base);
        fclose(f);
    }
    snprintf(envbad, sizeof envbad, "%s VLM_REGISTRY=%s", env, path);
    rc = test_run_cli(out_text, sizeof out_text, tmpdir, envbad, "pull x");
    CHECK(rc == 1 && strstr(out_text, "sha256") && strstr(out_text, "bad-registry.json"), "bad registry: %s", out_text);

    // names in -m: the same masks as the fixture path, the default model, and a corrupted cache file
    char ref_json[600], name_json[600], def_json[600];   // the best masks as PNG files
    snprintf(ref_json, sizeof ref_json, "%s/ref.png", tmpdir);
    snprintf(name_json, sizeof name_json, "%s/name.png", tmpdir);
    snprintf(def_json, sizeof def_json, "%s/default.png", tmpdir);
    const char * dog = test_fixture("images/dog.jpg");
    char dogp[1024];
    snprintf(dogp, sizeof dogp, "%s", dog);
    rc = run("segment -m %s/sam-tiny %s --point 320,290 --backend cpu -o %s", fx, dogp, ref_json);
    CHECK(rc == 0, "segment with the fixture path: %s", out_text);
    CHECK(run("segment -m tiny-sam %s --point 320,290 --backend cpu -o %s", dogp, name_json) == 0,
          "segment -m tiny-sam: %s", out_text);
    CHECK(run("segment %s --point 320,290 --backend cpu -o %s", dogp, def_json) == 0, "segment default: %s", out_text);
    char * a = test_read_text(ref_json), * b = test_read_text(name_json), * c = test_read_text(def_json);
    long long na = file_size(ref_json);
    CHECK(a && b && c && na > 0 && file_size(name_json) == na && file_size(def_json) == na && !memcmp(a, b, (size_t)na) &&
              !memcmp(a, c, (size_t)na),
          "segment by name differs from segment by path");
    free(a), free(b), free(c);

    CHECK(run("describe %s --max-tokens 4 --backend cpu", dogp) == 1 && strstr(out_text, "vlm pull tiny-smolvlm"),
          "describe without its default: %s", out_text);
    CHECK(run("describe %s --max-tokens 4 --backend cpu --pull", dogp) == 0, "describe --pull: %s", out_text);
    // the generated text, without the timing line
    char by_name[1 << 16];
    memcpy(by_name, out_text, sizeof by_name);
    char * timing = strstr(by_name, "vlm describe: image");
    if (timing) *timing = 0;
    CHECK(run("describe %s -m %s/smolvlm-tiny/smolvlm-tiny-f32.gguf --mmproj %s/smolvlm-tiny/mmproj-smolvlm-tiny-f32.gguf "
              "--max-tokens 4 --backend cpu", dogp, fx, fx) == 0,
          "describe by path: %s", out_text);
    CHECK(by_name[0] && !strncmp(by_name, out_text, strlen(by_name)), "describe by name '%s' differs from by path '%s'",
          by_name, out_text);
    CHECK(run("describe %s -m tiny-smolvlm --max-tokens 4 --backend cpu", dogp) == 0 &&
              !strncmp(by_name, out_text, strlen(by_name)),
          "describe -m tiny-smolvlm: %s", out_text);
    CHECK(run("info tiny-smolvlm") == 0 && strstr(out_text, "smolvlm-tiny-f32.gguf") && strstr(out_text, "mmproj"),
          "info by name: %s", out_text);
    CHECK(run("segment -m tiny-smolvlm %s --point 1,1", dogp) == 1 && strstr(out_text, "no model file"),
          "a describe model in segment: %s", out_text);

    // a corrupted cached file: detected, with the re-pull command; vlm pull repairs it
    CHECK(flip_byte(cached("tiny-sam", "model.safetensors"), 1000), "cannot change the cached file");
    CHECK(run("segment -m tiny-sam %s --point 320,290 --backend cpu", dogp) == 1 && strstr(out_text, "corrupt") &&
              strstr(out_text, "vlm pull tiny-sam"),
          "corrupt cache file: %s", out_text);
    CHECK(run("models") == 0 && strstr(out_text, "unchecked"), "models marks the changed file: %s", out_text);
    CHECK(run("pull tiny-sam") == 0 && strstr(out_text, "corrupt"), "pull repairs: %s", out_text);
    CHECK(run("segment -m tiny-sam %s --point 320,290 --backend cpu -o %s", dogp, name_json) == 0, "after repair: %s",
          out_text);
    // the same for a file without a registry sha256 (the recorded one)
    CHECK(flip_byte(cached("no-sha", "model.safetensors"), 1000), "cannot change the cached file");
    CHECK(run("segment -m no-sha %s --point 320,290 --backend cpu", dogp) == 1 && strstr(out_text, "corrupt") &&
              strstr(out_text, "recorded"),
          "changed file without a registry sha256: %s", out_text);

    atomic_store(&stop_server, 1);
    TEST_END();
}
