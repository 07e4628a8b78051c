// pull.c — downloads of registry models with libcurl: resumable (.part + Range), sha256 and
// size verified before the file takes its final name, progress on a terminal.
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "core.h"
#include "registry.h"
#include "sha256.h"

struct dl {
    CURL *              curl;
    const char *        part;
    int                 fd;
    struct vlm_sha256   sha;
    int64_t             have;       // bytes of the .part file before this transfer
    int64_t             got;        // bytes written in this transfer
    int64_t             expected;   // size from the registry, -1 unknown
    int64_t             total;      // size the server announced, -1 unknown
    int64_t             range_start;  // from Content-Range, -1 when absent
    char                why[512];   // our reason to abort a transfer (not retried)
    int                 werr;       // errno of a failed write
    bool                tty, stalled;
    const char *        label;
    double              t0, last_draw, last_data, timeout;
};

static size_t on_header(char * p, size_t size, size_t n, void * user) {
    struct dl * d = user;
    size_t len = size * n;
    long long a, b, t;
    if (len > 5 && !strncasecmp(p, "HTTP/", 5)) d->range_start = -1;   // a new response (after a redirect)
    else if (len > 14 && !strncasecmp(p, "Content-Range:", 14) &&
             sscanf(p + 14, " bytes %lld-%lld/%lld", &a, &b, &t) == 3)
        d->range_start = a, d->total = t;
    return len;
}

// The first bytes of a 2xx body: check the range, then open the .part file.
static bool start_body(struct dl * d) {
    long code = 0;
    curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code == 206) {
        if (d->range_start != d->have) {
            snprintf(d->why, sizeof d->why, "the server resumed at byte %lld, not %lld", (long long)d->range_start,
                     (long long)d->have);
            return false;
        }
    } else {   // 200: the whole file, whatever was asked
        curl_off_t cl = -1;
        curl_easy_getinfo(d->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
        d->total = cl;
        d->have = 0;
        vlm_sha256_init(&d->sha);
    }
    if (d->expected >= 0 && d->total >= 0 && d->total != d->expected) {
        snprintf(d->why, sizeof d->why, "the server has %lld bytes, the registry says %lld", (long long)d->total,
                 (long long)d->expected);
        return false;
    }
    d->fd = open(d->part, O_WRONLY | O_CREAT | O_CLOEXEC | (d->have ? O_APPEND : O_TRUNC), 0644);
    if (d->fd < 0) {
        d->werr = errno;
        return false;
    }
    return true;
}

static size_t on_body(char * p, size_t size, size_t n, void * user) {
    struct dl * d = user;
    size_t len = size * n;
    if (d->fd < 0 && !start_body(d)) return 0;
    if (d->expected >= 0 && d->have + d->got + (int64_t)len > d->expected) {
        snprintf(d->why, sizeof d->why, "the server sent more than the %lld bytes the registry lists", (long long)d->expected);
        return 0;
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = write(d->fd, p + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            d->werr = w < 0 ? errno : ENOSPC;
            return 0;
        }
        off += (size_t)w;
    }
    vlm_sha256_update(&d->sha, p, len);
    d->got += (int64_t)len;
    d->last_data = vlm_now_ms() * 1e-3;
    return len;
}

static void draw(struct dl * d, bool last) {
    double t = vlm_now_ms() * 1e-3, el = t - d->t0;
    if (!last && t - d->last_draw < 0.2) return;
    d->last_draw = t;
    int64_t done = d->have + d->got, total = d->total >= 0 ? d->total : d->expected;
    double rate = el > 0 ? d->got / el : 0;
    char a[32], b[32] = "?", r[32], eta[32] = "";
    vlm_format_bytes((double)done, a, sizeof a);
    if (total > 0) vlm_format_bytes((double)total, b, sizeof b);
    vlm_format_bytes(rate, r, sizeof r);
    char bar[26] = "";
    int pct = total > 0 ? (int)(100.0 * done / total) : 0;
    if (total > 0) {
        int fill = (int)(25.0 * done / total);
        for (int i = 0; i < 25; i++) bar[i] = i < fill ? '#' : '.';
        bar[25] = 0;
        if (rate > 0 && !last) {
            long s = (long)((total - done) / rate);
            snprintf(eta, sizeof eta, " ETA %ld:%02ld", s / 60, s % 60);
        }
    }
    fprintf(stderr, "\r\033[K%-36.36s %3d%% [%s] %s / %s  %s/s%s", d->label, pct, bar, a, b, r, eta);
    if (last) fputc('\n', stderr);
}

static int on_progress(void * user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    struct dl * d = user;
    if (d->tty && d->fd >= 0) draw(d, false);
    d->stalled = vlm_now_ms() * 1e-3 - d->last_data > d->timeout;   // no data for that long: give up (curl is called back ~1/s)
    return d->stalled;
}

static long env_long(const char * name, long def, long lo, long hi) {
    const char * v = getenv(name);
    int x;
    return v && *v && cli_parse_int(v, lo, hi, &x) ? x : def;
}

static bool is_hf(const char * url) {
    const char * h = strstr(url, "://");
    if (!h) return false;
    h += 3;
    size_t n = strcspn(h, "/:");
    return (n == 14 && !strncmp(h, "huggingface.co", 14)) || (n > 15 && !strncmp(h + n - 15, ".huggingface.co", 15));
}

enum attempt { DONE, RETRY, FAIL };

// One transfer into part, resuming what it holds. On DONE the .part is complete and its sha256
// is in hex.
static enum attempt transfer(const char * url, const char * part, const struct vlm_reg_file * f, const char * token,
                             bool token_explicit, char hex[65], char * msg, size_t ms) {
    struct dl d = { .part = part, .fd = -1, .expected = f->size, .total = -1, .range_start = -1,
                    .tty = isatty(STDERR_FILENO), .label = f->name };
    vlm_sha256_init(&d.sha);
    // what the .part holds already: hashed now, resumed from its end
    struct stat st;
    if (stat(part, &st) == 0 && st.st_size > 0) {
        if (f->size >= 0 && st.st_size > f->size) unlink(part);
        else if (!vlm_sha256_add_file(&d.sha, part)) {
            snprintf(msg, ms, "%s: cannot read: %s", part, strerror(errno));
            return FAIL;
        } else {
            d.have = (int64_t)d.sha.n;
        }
    }
    if (f->size >= 0 && d.have == f->size) {   // complete already (interrupted before the rename)
        vlm_sha256_final_hex(&d.sha, hex);
        return DONE;
    }
    if (!(d.curl = curl_easy_init())) {
        snprintf(msg, ms, "cannot start libcurl");
        return FAIL;
    }
    char range[48], auth[1100], agent[64];
    struct curl_slist * hdrs = NULL;
    if (token && *token && (token_explicit || is_hf(url))) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    snprintf(agent, sizeof agent, "vlm/%s", vlm_version());
    curl_easy_setopt(d.curl, CURLOPT_URL, url);
    curl_easy_setopt(d.curl, CURLOPT_USERAGENT, agent);
    curl_easy_setopt(d.curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(d.curl, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(d.curl, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(d.curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(d.curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(d.curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(d.curl, CURLOPT_HEADERDATA, &d);
    curl_easy_setopt(d.curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(d.curl, CURLOPT_WRITEDATA, &d);
    curl_easy_setopt(d.curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(d.curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(d.curl, CURLOPT_XFERINFODATA, &d);
    // a stalled server: less than 1 byte/s for VLM_PULL_TIMEOUT seconds (default 30) ends the transfer
    long timeout = env_long("VLM_PULL_TIMEOUT", 30, 1, 3600);
    curl_easy_setopt(d.curl, CURLOPT_CONNECTTIMEOUT, timeout);
    curl_easy_setopt(d.curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(d.curl, CURLOPT_LOW_SPEED_TIME, timeout);
    if (d.have > 0) {
        snprintf(range, sizeof range, "%lld-", (long long)d.have);
        curl_easy_setopt(d.curl, CURLOPT_RANGE, range);
    }
    d.t0 = d.last_draw = d.last_data = vlm_now_ms() * 1e-3;
    d.timeout = (double)timeout;
    CURLcode res = curl_easy_perform(d.curl);
    long code = 0;
    curl_easy_getinfo(d.curl, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(d.curl);
    curl_slist_free_all(hdrs);
    bool closed = d.fd < 0 || close(d.fd) == 0;
    if (!closed && !d.werr) d.werr = errno;
    if (d.tty && d.got) draw(&d, true);
    char done_s[32];
    vlm_format_bytes((double)(d.have + d.got), done_s, sizeof done_s);
    if (res == CURLE_OK && closed) {
        if (d.fd < 0 && d.have == 0 && f->size != 0) {
            // nothing came: an empty body for a file that is not empty
            snprintf(msg, ms, "%s: the server sent an empty file", url);
            return FAIL;
        }
        int64_t n = d.have + d.got;
        if ((d.total >= 0 && n != d.total) || (f->size >= 0 && n != f->size)) {
            snprintf(msg, ms, "%s: got %lld bytes, expected %lld", url, (long long)n,
                     (long long)(f->size >= 0 ? f->size : d.total));
            return RETRY;
        }
        vlm_sha256_final_hex(&d.sha, hex);
        return DONE;
    }
    if (d.why[0]) {
        snprintf(msg, ms, "%s: %s", url, d.why);
        unlink(part);   // what it holds cannot be resumed
        return FAIL;
    }
    if (d.werr) {
        snprintf(msg, ms, "%s: cannot write: %s (%s of the file kept; 'vlm pull' again resumes it)", part,
                 strerror(d.werr), done_s);
        return FAIL;
    }
    if (res == CURLE_HTTP_RETURNED_ERROR) {
        if (code == 416 && d.have > 0) {   // the .part does not fit the server's file: start again
            unlink(part);
            snprintf(msg, ms, "%s: the server refused to resume at byte %lld", url, (long long)d.have);
            return RETRY;
        }
        if (code == 401 || code == 403)
            snprintf(msg, ms, "%s: HTTP %ld: the file is gated or private: accept its licence on its page, then pass "
                              "--token TOKEN or set HF_TOKEN%s", url, code, token && *token ? " (the token given was refused)" : "");
        else if (code == 404) snprintf(msg, ms, "%s: not found (HTTP 404)", url);
        else snprintf(msg, ms, "%s: HTTP %ld", url, code);
        return code >= 500 || code == 429 ? RETRY : FAIL;
    }
    if (res == CURLE_OPERATION_TIMEDOUT || d.stalled) {
        snprintf(msg, ms, "%s: the server sent nothing for %ld s (VLM_PULL_TIMEOUT); %s kept, 'vlm pull' again resumes",
                 url, timeout, done_s);
        return RETRY;
    }
    if (res == CURLE_COULDNT_RESOLVE_HOST || res == CURLE_COULDNT_RESOLVE_PROXY || res == CURLE_UNSUPPORTED_PROTOCOL ||
        res == CURLE_URL_MALFORMAT || res == CURLE_SSL_CACERT || res == CURLE_PEER_FAILED_VERIFICATION) {
        snprintf(msg, ms, "%s: %s%s", url, curl_easy_strerror(res),
                 res == CURLE_COULDNT_RESOLVE_HOST ? " (no network? a proxy is taken from https_proxy)" : "");
        return FAIL;
    }
    snprintf(msg, ms, "%s: %s after %s%s", url, curl_easy_strerror(res), done_s,
             d.have + d.got ? " ('vlm pull' again resumes)" : "");
    return RETRY;
}

// Downloads one file to path; false with the message printed.
static bool pull_file(const char * cmd, const char * path, const struct vlm_reg_file * f, const char * token,
                      bool token_explicit) {
    char url[4096], part[PATH_MAX + 8], hex[65], msg[8192];
    vlm_registry_url(f, url, sizeof url);
    snprintf(part, sizeof part, "%s.part", path);
    // room for it, when its size is known
    struct statvfs vs;
    struct stat st;
    int64_t have = stat(part, &st) == 0 ? st.st_size : 0;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    if (f->size > have && statvfs(dir, &vs) == 0 && (double)vs.f_bavail * vs.f_frsize < (double)(f->size - have)) {
        char need[32], free_s[32];
        vlm_format_bytes((double)(f->size - have), need, sizeof need);
        vlm_format_bytes((double)vs.f_bavail * vs.f_frsize, free_s, sizeof free_s);
        cli_fail(cmd, "%s needs %s, only %s free in %s", f->name, need, free_s, dir);
        return false;
    }
    long retries = env_long("VLM_PULL_RETRIES", 3, 0, 100);
    for (long attempt = 0;; attempt++) {
        enum attempt a = transfer(url, part, f, token, token_explicit, hex, msg, sizeof msg);
        if (a == DONE) break;
        if (a == FAIL || attempt >= retries) {
            cli_fail(cmd, "%s", msg);
            return false;
        }
        fprintf(stderr, "vlm %s: %s; trying again (%ld of %ld)\n", cmd, msg, attempt + 1, retries);
        sleep((unsigned)(attempt + 1 < 5 ? attempt + 1 : 5));
    }
    if (f->sha256 && strcmp(hex, f->sha256)) {
        unlink(part);
        cli_fail(cmd, "%s: sha256 mismatch: got %s, the registry says %s (%s); the download was deleted", url, hex,
                 f->sha256, getenv("VLM_REGISTRY") ? getenv("VLM_REGISTRY") : "assets/models.json");
        return false;
    }
    if (rename(part, path) != 0) {
        cli_fail(cmd, "%s: cannot rename to %s: %s", part, path, strerror(errno));
        return false;
    }
    vlm_cache_record(path, hex);
    if (!f->sha256)
        fprintf(stderr, "vlm %s: %s: no published sha256 to check against; recorded %s\n", cmd, f->name, hex);
    return true;
}

bool vlm_pull_model(const char * cmd, const struct vlm_reg_model * m, const char * token) {
    static bool curl_ready;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return !cli_fail(cmd, "cannot initialize libcurl");
        curl_ready = true;
        signal(SIGXFSZ, SIG_IGN);   // a file-size limit makes write() fail (EFBIG) instead of killing us
    }
    bool token_explicit = token != NULL;
    if (!token) token = getenv("HF_TOKEN");
    char dir[PATH_MAX], path[PATH_MAX], why[512];
    if (!vlm_models_dir(dir, sizeof dir))
        return !cli_fail(cmd, "no cache folder: set VLM_MODELS (or HOME)");
    size_t dl = strlen(dir);
    if (snprintf(dir + dl, sizeof dir - dl, "/%s", m->name) >= (int)(sizeof dir - dl) || !cli_mkdirs(dir) ||
        access(dir, W_OK) != 0)
        return !cli_fail(cmd, "cannot use the model cache %s: %s (set VLM_MODELS to a writable folder)", dir,
                         strerror(errno));
    // one pull of a model at a time (another process may be downloading it: wait for it)
    int lock = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) != 0) {
        fprintf(stderr, "vlm %s: waiting for another vlm pull of %s\n", cmd, m->name);
        flock(lock, LOCK_EX);
    }
    bool ok = true;
    for (int i = 0; i < m->n_files && ok; i++) {
        const struct vlm_reg_file * f = &m->files[i];
        int64_t bytes;
        if (!vlm_models_file_path(m, f, path, sizeof path)) {
            ok = !cli_fail(cmd, "%s: path too long", dir);
            break;
        }
        enum vlm_cache_state s = vlm_cache_check(path, f, true, &bytes, why, sizeof why);
        if (s == VLM_CACHE_OK) continue;
        if (s == VLM_CACHE_CORRUPT) {
            fprintf(stderr, "vlm %s: %s is corrupt (%s): downloading it again\n", cmd, path, why);
            if (unlink(path) != 0) {
                ok = !cli_fail(cmd, "%s: cannot remove: %s", path, strerror(errno));
                break;
            }
        }
        ok = pull_file(cmd, path, f, token, token_explicit);
    }
    if (lock >= 0) close(lock);   // releases the lock
    return ok;
}

static int usage(FILE * out) {
    fprintf(out,
            "usage: vlm pull NAME... [--token TOKEN] [--force]\n\n"
            "Downloads models of the registry ('vlm models' lists them) into the cache: $VLM_MODELS, else\n"
            "$XDG_CACHE_HOME/vlm or ~/.cache/vlm, one folder per model. Then NAME goes where a model path\n"
            "goes (vlm segment -m sam-vit-b ...). A download resumes where an interrupted one stopped;\n"
            "size and sha256 are checked before a file takes its final name, and a present file is\n"
            "verified again (a corrupt one is downloaded again).\n\n"
            "  --token TOKEN   bearer token for gated or private files (default: $HF_TOKEN, sent to\n"
            "                  huggingface.co only)\n"
            "  --force         download again even when present\n\n"
            "environment: VLM_REGISTRY (a registry file instead of assets/models.json), VLM_REGISTRY_BASE\n"
            "(fetch every file from this base URL), VLM_PULL_TIMEOUT (seconds without data before a\n"
            "transfer is abandoned, default 30), VLM_PULL_RETRIES (default 3), https_proxy / no_proxy\n");
    return out == stdout ? 0 : 2;
}

static bool load_registry(const char * cmd, struct vlm_registry * r) {
    char err[8192];
    if (vlm_registry_load(r, err, sizeof err)) return true;
    cli_fail(cmd, "%s", err);
    return false;
}

int vlm_cmd_pull(int argc, char ** argv) {
    const char * cmd = "pull", * token = NULL;
    bool force = false;
    int n_names = 0;
    for (int i = 1; i < argc; i++) {
        const char * a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout);
        if (!strcmp(a, "--token")) {
            if (i + 1 >= argc || !*argv[i + 1]) return cli_usage_error(cmd, "--token needs a value");
            token = argv[++i];
        } else if (!strcmp(a, "--force")) {
            force = true;
        } else if (a[0] == '-') {
            return cli_usage_error(cmd, "unknown option '%s'", a);
        } else {
            n_names++;
        }
    }
    if (!n_names) return cli_usage_error(cmd, "no model named ('vlm models' lists them)");
    struct vlm_registry r;
    if (!load_registry(cmd, &r)) return 1;
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {   // every name known before any download starts
        if (!strcmp(argv[i], "--token")) i++;
        else if (argv[i][0] != '-' && !vlm_registry_find(&r, argv[i])) {
            char hint[256];
            vlm_registry_suggest(&r, argv[i], hint, sizeof hint);
            rc = cli_fail(cmd, "unknown model '%s'%s; 'vlm models' lists the known ones", argv[i], hint);
        }
    }
    for (int i = 1; i < argc && !rc; i++) {
        if (!strcmp(argv[i], "--token")) {
            i++;
            continue;
        }
        if (argv[i][0] == '-') continue;
        const struct vlm_reg_model * m = vlm_registry_find(&r, argv[i]);
        char path[PATH_MAX];
        for (int k = 0; force && k < m->n_files; k++)
            if (vlm_models_file_path(m, &m->files[k], path, sizeof path)) unlink(path);
        if (!vlm_pull_model(cmd, m, token)) rc = 1;
        else if (vlm_models_file_path(m, &m->files[0], path, sizeof path)) {
            *strrchr(path, '/') = 0;
            printf("%s: ready in %s\n", m->name, path);
        }
    }
    vlm_registry_free(&r);
    return rc;
}

// vlm models: the registry with what is in the cache.
int vlm_cmd_models(int argc, char ** argv) {
    const char * cmd = "models";
    bool verify = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: vlm models [--verify]\n\n"
                   "Lists the models 'vlm pull' knows: name, task, download size, whether it is in the cache\n"
                   "($VLM_MODELS, else $XDG_CACHE_HOME/vlm or ~/.cache/vlm) and what it is. * marks the default of\n"
                   "its commands. CACHE is present, '-' (not downloaded), partial, corrupt, or unchecked (changed since\n"
                   "its last check: --verify hashes such files).\n");
            return 0;
        }
        if (!strcmp(argv[i], "--verify")) verify = true;
        else return cli_usage_error(cmd, "unknown argument '%s'", argv[i]);
    }
    struct vlm_registry r;
    if (!load_registry(cmd, &r)) return 1;
    char dir[PATH_MAX] = "(none: set VLM_MODELS)";
    vlm_models_dir(dir, sizeof dir);
    printf("%-18s %-9s %-10s %-14s %s\n", "NAME", "TASK", "SIZE", "CACHE", "MODEL");
    bool any_default = false;
    for (int i = 0; i < r.n; i++) {
        const struct vlm_reg_model * m = &r.models[i];
        double size = 0;
        bool exact = true;
        int n_ok = 0, n_part = 0, n_bad = 0, n_unverified = 0;
        for (int k = 0; k < m->n_files; k++) {
            const struct vlm_reg_file * f = &m->files[k];
            char path[PATH_MAX], why[512];
            int64_t bytes = 0;
            enum vlm_cache_state s = vlm_models_file_path(m, f, path, sizeof path)
                                         ? vlm_cache_check(path, f, verify, &bytes, why, sizeof why)
                                         : VLM_CACHE_MISSING;
            if (f->size >= 0) size += (double)f->size;
            else if (s == VLM_CACHE_OK) size += (double)bytes;   // the size of the download
            else exact = false, size += f->approx_mb * 1e6;
            n_ok += s == VLM_CACHE_OK, n_part += s == VLM_CACHE_PARTIAL, n_bad += s == VLM_CACHE_CORRUPT;
            n_unverified += s == VLM_CACHE_OK && why[0];
        }
        char size_s[40] = "?", st[32];
        if (size > 0) {
            vlm_format_bytes(size, size_s + 1, sizeof size_s - 1);
            size_s[0] = '~';
        }
        const char * shown = exact ? size_s + 1 : size_s;
        if (n_bad) snprintf(st, sizeof st, "corrupt");
        else if (n_ok == m->n_files) snprintf(st, sizeof st, "%s", n_unverified ? "unchecked" : "present");
        else if (n_ok || n_part) snprintf(st, sizeof st, "partial");
        else snprintf(st, sizeof st, "-");
        bool is_default = false;
        static const char * const cmds[] = { "describe", "segment", "embed" };
        for (size_t c = 0; c < sizeof cmds / sizeof *cmds; c++) {
            const char * def = vlm_registry_default(&r, cmds[c]);
            if (def && !strcmp(def, m->name)) is_default = true;
        }
        any_default |= is_default;
        char name[64];
        snprintf(name, sizeof name, "%s%s", m->name, is_default ? " *" : "");
        printf("%-18s %-9s %-10s %-14s %s%s%s\n", name, m->task ? m->task : "", shown, st,
               m->description ? m->description : "", m->licence ? ", " : "", m->licence ? m->licence : "");
    }
    printf("\ncache: %s%s\n", dir, any_default ? "; * the default model of its commands" : "");
    vlm_registry_free(&r);
    return 0;
}
