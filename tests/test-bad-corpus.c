// test-bad-corpus.c — runs the `vlm` command ($VLM_CLI) on every malformed input listed in
// tests/data/bad/cases.txt and checks: the exit code, the one-line error message, no crash
// (no signal), and no output file left behind.
//
// cases.txt: one case per line, fields separated by " | ":
//   <file> | <args template> | <expected exit code> | <expected stderr substring>
// <file> is a name in tests/data/bad/, "-" for none, or built at test time from the fixtures:
//   @cut:<fixture path>:<n>        the first n bytes (n < 0: all but the last -n bytes)
//   @nan:<fixture path>:<tensor>   a copy of a safetensors file whose tensor's first value is NaN
//   @inf:<fixture path>:<tensor>   the same with +Inf
//   @text:<n>                      a text file of n bytes (repeated words, one line)
// Generated files keep the fixture's base name, in a fresh folder that also gets the
// fixture's config.json. Args are split on spaces after substituting {file}, {dir} (the
// case's scratch folder, where outputs go), {sam}, {clip}, {images} (fixture folders) and
// \xNN escapes. " && " separates commands run in turn in the same folder (e.g. save, then
// reload): every command but the last must exit 0; the checks apply to the last. After a
// failing case the scratch folder must hold nothing but the inputs (and earlier outputs).
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "model-file.h"

// Paths are joined into 1-4 KiB buffers; a truncated path names no file and fails its case
// visibly, so gcc's may-truncate warnings say nothing useful here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#define CASE_TIMEOUT_S 300
#define MAX_ARGS       64

static int n_skipped;

static bool read_all(const char * path, uint8_t ** data, size_t * n) {
    FILE * f = fopen(path, "rb");
    if (!f) return false;
    size_t cap = 1 << 16, len = 0;
    uint8_t * buf = malloc(cap);
    for (size_t k; buf && (k = fread(buf + len, 1, cap - len, f)) > 0;) {
        len += k;
        if (len == cap) {
            uint8_t * p = realloc(buf, cap *= 2);
            if (!p) { free(buf); buf = NULL; }
            else buf = p;
        }
    }
    fclose(f);
    if (!buf) return false;
    *data = buf;
    *n = len;
    return true;
}

static bool write_all(const char * path, const void * data, size_t n) {
    FILE * f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static void copy_config(const char * fixture, const char * dir) {
    char cfg[4096], dst[4096];
    snprintf(cfg, sizeof cfg, "%s", fixture);
    char * slash = strrchr(cfg, '/');
    if (!slash) return;
    snprintf(slash + 1, sizeof cfg - (size_t)(slash + 1 - cfg), "config.json");
    uint8_t * d;
    size_t n;
    if (!read_all(cfg, &d, &n)) return;
    snprintf(dst, sizeof dst, "%s/config.json", dir);
    write_all(dst, d, n);
    free(d);
}

// Builds the case's input in dir; returns false (with a reason) when it cannot.
static bool make_input(const char * spec, const char * bad_dir, const char * fixtures, const char * dir,
                       char * path, size_t path_size, char * why, size_t why_size) {
    if (!strcmp(spec, "-")) { path[0] = 0; return true; }
    if (spec[0] != '@') {
        snprintf(path, path_size, "%s/%s", bad_dir, spec);
        if (access(path, R_OK) != 0) { snprintf(why, why_size, "missing %s", path); return false; }
        return true;
    }
    if (!strncmp(spec, "@text:", 6)) {
        size_t n = strtoull(spec + 6, NULL, 10);
        char * t = malloc(n + 1);
        if (!t) { snprintf(why, why_size, "out of memory"); return false; }
        static const char words[] = "a photo of a dog ";
        for (size_t i = 0; i < n; i++) t[i] = words[i % (sizeof words - 1)];
        if (n) t[n - 1] = '\n';
        snprintf(path, path_size, "%s/prompt.txt", dir);
        bool ok = write_all(path, t, n);
        free(t);
        if (!ok) snprintf(why, why_size, "cannot write %s", path);
        return ok;
    }
    // @cut / @nan / @inf on a fixture
    char kind[8] = "", rel[1024] = "", arg[512] = "";
    if (sscanf(spec, "@%7[a-z]:%1023[^:]:%511s", kind, rel, arg) != 3) {
        snprintf(why, why_size, "bad file spec '%s'", spec);
        return false;
    }
    if (!fixtures) { snprintf(why, why_size, "fixtures not found"); return false; }
    char src[2048];
    snprintf(src, sizeof src, "%s/%s", fixtures, rel);
    uint8_t * d = NULL;
    size_t n = 0;
    if (!read_all(src, &d, &n)) { snprintf(why, why_size, "cannot read fixture %s", src); return false; }
    const char * base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    snprintf(path, path_size, "%s/%s", dir, base);
    bool ok = false;
    if (!strcmp(kind, "cut")) {
        long long k = strtoll(arg, NULL, 10);
        size_t keep = k >= 0 ? ((size_t)k < n ? (size_t)k : n) : ((size_t)-k < n ? n - (size_t)-k : 0);
        ok = write_all(path, d, keep);
    } else if (!strcmp(kind, "nan") || !strcmp(kind, "inf")) {
        struct vlm_safetensors * st = NULL;
        if (vlm_safetensors_open(src, &st) != VLM_STATUS_OK) {
            snprintf(why, why_size, "%s", vlm_last_error());
        } else {
            const struct vlm_file_tensor * t = vlm_safetensors_find(st, arg);
            if (!t || t->nbytes < 4 || t->dtype != VLM_DTYPE_F32) {
                snprintf(why, why_size, "%s has no F32 tensor '%s'", src, arg);
            } else {
                size_t off = (size_t)((const uint8_t *)t->data - (const uint8_t *)st->map);
                float v = !strcmp(kind, "nan") ? NAN : INFINITY;
                memcpy(d + off, &v, 4);
                ok = write_all(path, d, n);
                copy_config(src, dir);
            }
            vlm_safetensors_close(st);
        }
    } else {
        snprintf(why, why_size, "unknown file spec '%s'", spec);
    }
    free(d);
    if (!ok && !why[0]) snprintf(why, why_size, "cannot write %s", path);
    return ok;
}

// Appends src to dst with {placeholders} and \xNN escapes replaced.
static bool expand(const char * src, char * dst, size_t size, const char * const * keys, const char * const * vals) {
    size_t n = 0;
    while (*src) {
        const char * rep = NULL;
        size_t skip = 1;
        char esc[2] = { 0 };
        if (*src == '{') {
            for (int i = 0; keys[i]; i++) {
                size_t kl = strlen(keys[i]);
                if (!strncmp(src + 1, keys[i], kl) && src[1 + kl] == '}') { rep = vals[i]; skip = kl + 2; break; }
            }
            if (rep && !*rep) return false;   // a placeholder whose value is unknown
        } else if (src[0] == '\\' && src[1] == 'x' && src[2] && src[3]) {
            char hex[3] = { src[2], src[3], 0 };
            esc[0] = (char)strtol(hex, NULL, 16);
            rep = esc;
            skip = 4;
        }
        if (!rep) { esc[0] = *src; rep = esc; }
        size_t l = strlen(rep);
        if (n + l + 1 > size) return false;
        memcpy(dst + n, rep, l);
        n += l;
        src += skip;
    }
    dst[n] = 0;
    return true;
}

// Names in dir that are not in keep[0..n_keep).
static int count_extra_files(const char * dir, char keep[][256], int n_keep, char * first, size_t first_size) {
    DIR * d = opendir(dir);
    if (!d) return -1;
    int extra = 0;
    for (struct dirent * e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        bool kept = false;
        for (int i = 0; i < n_keep; i++) kept = kept || !strcmp(keep[i], e->d_name);
        if (!kept && extra++ == 0) snprintf(first, first_size, "%s", e->d_name);
    }
    closedir(d);
    return extra;
}

// Names in dir that look like temporary files (".tmp" in the name).
static int count_tmp_files(const char * dir, char * first, size_t first_size) {
    DIR * d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent * e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp") && n++ == 0) snprintf(first, first_size, "%s", e->d_name);
    closedir(d);
    return n;
}

// Runs argv; *status is the waitpid status; err receives stderr (truncated to err_size - 1).
static bool run(char ** argv, int * status, char * err, size_t err_size, double * seconds) {
    int pfd[2];
    if (pipe(pfd) != 0) return false;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(pfd[1], 2);
        close(pfd[0]);
        alarm(CASE_TIMEOUT_S);   // survives exec: SIGALRM ends a hung command
        execv(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t n = 0;
    char buf[4096];
    for (ssize_t k; (k = read(pfd[0], buf, sizeof buf)) != 0;) {
        if (k < 0) { if (errno == EINTR) continue; break; }
        size_t take = (size_t)k < err_size - 1 - n ? (size_t)k : err_size - 1 - n;
        memcpy(err + n, buf, take);
        n += take;
    }
    err[n] = 0;
    close(pfd[0]);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR) {}
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    return true;
}

int main(void) {
    const char * cli = getenv("VLM_CLI");
    const char * src_dir = getenv("VLM_SOURCE_DIR");
    if (!cli || access(cli, X_OK) != 0) SKIP("VLM_CLI is not set to the vlm executable");
    if (!src_dir) SKIP("VLM_SOURCE_DIR is not set");
    const char * fixtures = getenv("VLM_FIXTURES");
    if (!fixtures || !*fixtures) fixtures = getenv("VLM_FIXTURES_DEFAULT");
    struct stat sb;
    if (fixtures && (stat(fixtures, &sb) != 0 || !S_ISDIR(sb.st_mode))) fixtures = NULL;
    setenv("VLM_BACKEND", "cpu", 1);   // the cases exercise input handling, not a device

    char bad_dir[4096], manifest[4096];
    snprintf(bad_dir, sizeof bad_dir, "%s/tests/data/bad", src_dir);
    snprintf(manifest, sizeof manifest, "%s/cases.txt", bad_dir);
    FILE * mf = fopen(manifest, "r");
    if (!mf) SKIP("%s not found", manifest);
    const char * root = test_tmp_dir("bad-corpus");

    char fx_sam[2048] = "", fx_clip[2048] = "", fx_images[2048] = "";
    if (fixtures) {
        snprintf(fx_sam, sizeof fx_sam, "%s/sam-tiny", fixtures);
        snprintf(fx_clip, sizeof fx_clip, "%s/clip-tiny", fixtures);
        snprintf(fx_images, sizeof fx_images, "%s/images", fixtures);
    }
    char line[4096];
    int line_no = 0, case_no = 0;
    while (fgets(line, sizeof line, mf)) {
        line_no++;
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#') continue;
        char * field[4] = { 0 };
        char * p = line;
        int nf = 0;
        while (nf < 4) {
            field[nf++] = p;
            char * sep = strstr(p, " | ");
            if (!sep) break;
            *sep = 0;
            p = sep + 3;
        }
        if (nf != 4) { CHECK(false, "cases.txt:%d: need 4 fields separated by ' | '", line_no); continue; }
        for (int i = 0; i < 4; i++) {   // trim
            while (*field[i] == ' ') field[i]++;
            size_t l = strlen(field[i]);
            while (l && field[i][l - 1] == ' ') field[i][--l] = 0;
        }
        const char * spec = field[0], * args = field[1], * expect_msg = field[3];
        int expect_rc = atoi(field[2]);
        bool needs_fixtures = spec[0] == '@' && strncmp(spec, "@text:", 6) != 0;
        needs_fixtures = needs_fixtures || strstr(args, "{sam}") || strstr(args, "{clip}") || strstr(args, "{images}");
        if (needs_fixtures && !fixtures) { n_skipped++; continue; }

        char dir[4096 + 32];
        snprintf(dir, sizeof dir, "%s/case-%03d", root, ++case_no);
        if (mkdir(dir, 0700) != 0) { CHECK(false, "cannot create %s", dir); continue; }
        char in_path[4096] = "", why[1024] = "";
        if (!make_input(spec, bad_dir, fixtures, dir, in_path, sizeof in_path, why, sizeof why)) {
            CHECK(false, "cases.txt:%d: %s", line_no, why);
            test_rmtree(dir);
            continue;
        }
        // the folder's contents before the run (generated inputs)
        char keep[8][256];
        int n_keep = 0;
        DIR * d = opendir(dir);
        for (struct dirent * e; d && (e = readdir(d)) && n_keep < 8;)
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) snprintf(keep[n_keep++], 256, "%s", e->d_name);
        if (d) closedir(d);

        static char expanded[1 << 16];
        const char * keys[] = { "file", "dir", "sam", "clip", "images", NULL };
        const char * vals[] = { in_path, dir, fx_sam, fx_clip, fx_images, NULL };
        if (!expand(args, expanded, sizeof expanded, keys, vals)) {
            CHECK(false, "cases.txt:%d: cannot expand '%s'", line_no, args);
            test_rmtree(dir);
            continue;
        }
        const char * label = spec[0] == '-' ? args : spec;
        static char err[1 << 16];
        int status = 0;
        double secs = 0;
        bool ran = true, setup_ok = true;
        for (char * cmd = expanded; cmd && ran && setup_ok;) {
            char * next = strstr(cmd, " && ");
            if (next) { *next = 0; next += 4; }
            char * argv[MAX_ARGS + 2];
            int argc = 0;
            argv[argc++] = (char *)cli;
            for (char * tok = strtok(cmd, " "); tok && argc < MAX_ARGS; tok = strtok(NULL, " ")) argv[argc++] = tok;
            argv[argc] = NULL;
            ran = run(argv, &status, err, sizeof err, &secs);
            if (ran && next) {   // an earlier command: must succeed; its outputs are inputs of the next
                setup_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
                CHECK(setup_ok, "cases.txt:%d %s: setup command '%s' failed: %.500s", line_no, label, argv[1], err);
                n_keep = 0;
                d = opendir(dir);
                for (struct dirent * e; d && (e = readdir(d)) && n_keep < 8;)
                    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) snprintf(keep[n_keep++], 256, "%s", e->d_name);
                if (d) closedir(d);
            }
            cmd = next;
        }
        if (!ran || !setup_ok) {
            CHECK(ran, "cases.txt:%d: cannot run %s", line_no, cli);
            test_rmtree(dir);
            continue;
        }
        bool signaled = WIFSIGNALED(status);
        int rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        CHECK(!signaled, "cases.txt:%d %s: killed by signal %d (%s)", line_no, label, WTERMSIG(status),
              strsignal(WTERMSIG(status)));
        CHECK(rc == expect_rc, "cases.txt:%d %s: exit code %d, expected %d; stderr: %.500s", line_no, label, rc,
              expect_rc, err);
        if (strcmp(expect_msg, "-") != 0) {
            CHECK(strstr(err, expect_msg) != NULL, "cases.txt:%d %s: stderr lacks \"%s\": %.500s", line_no, label,
                  expect_msg, err);
        }
        if (expect_rc != 0) {   // the error is one line
            int lines = 0;
            for (const char * q = err; *q; q++) lines += *q == '\n';
            CHECK(lines == 1, "cases.txt:%d %s: expected a one-line error, got %d lines: %.800s", line_no, label,
                  lines, err);
        }
        char extra[256] = "";
        if (expect_rc != 0) {   // a failed command leaves no output, complete or partial
            int n_extra = count_extra_files(dir, keep, n_keep, extra, sizeof extra);
            CHECK(n_extra == 0, "cases.txt:%d %s: %d file(s) left behind (e.g. %s)", line_no, label, n_extra, extra);
        } else {                // a successful one leaves no temporary files
            int n_tmp = count_tmp_files(dir, extra, sizeof extra);
            CHECK(n_tmp == 0, "cases.txt:%d %s: %d temporary file(s) left behind (e.g. %s)", line_no, label, n_tmp,
                  extra);
        }
        printf("%-44.44s rc=%d %5.2fs %s\n", label, rc, secs, expect_rc == 0 ? "(accepted)" : expect_msg);
        test_rmtree(dir);
    }
    fclose(mf);
    if (n_skipped) printf("%d case(s) skipped: fixtures not found\n", n_skipped);
    TEST_END();
}
