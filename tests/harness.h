// harness.h — tiny test harness shared by tests/test-*.c (header-only).
// CHECK(cond, fmt, ...) records a failure and goes on; TEST_END() prints
// "N passed, N failed" and returns the exit code. SKIP(reason) exits 77 (ctest: skipped).
#ifndef VLM_TEST_HARNESS_H
#define VLM_TEST_HARNESS_H
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include "core.h"

static int test_passed, test_failed;

#define CHECK(cond, ...)                                                         \
    do {                                                                         \
        if (cond) { test_passed++; }                                             \
        else {                                                                   \
            test_failed++;                                                       \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                 \
            fprintf(stderr, __VA_ARGS__);                                        \
            fprintf(stderr, "\n");                                               \
        }                                                                        \
    } while (0)

#define SKIP(...)                                                                \
    do {                                                                         \
        fprintf(stderr, "SKIP: ");                                               \
        fprintf(stderr, __VA_ARGS__);                                            \
        fprintf(stderr, "\n");                                                   \
        exit(77);                                                                \
    } while (0)

#define TEST_END()                                                               \
    do {                                                                         \
        printf("%d passed, %d failed\n", test_passed, test_failed);              \
        return test_failed ? 1 : 0;                                              \
    } while (0)

// The fixtures folder: $VLM_FIXTURES, else the build's default (../shared/fixtures).
// Skips the test when it is absent.
static inline const char * test_fixtures_dir(void) {
    const char * d = getenv("VLM_FIXTURES");
    if (!d || !*d) d = getenv("VLM_FIXTURES_DEFAULT");
    struct stat st;
    if (!d || stat(d, &st) != 0 || !S_ISDIR(st.st_mode))
        SKIP("fixtures not found (set VLM_FIXTURES to the shared/fixtures folder)");
    return d;
}

// Joins the fixtures folder and a relative path into a static buffer (one at a time).
static inline const char * test_fixture(const char * rel) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", test_fixtures_dir(), rel);
    return path;
}

// A path under the source tree's tests/data ($VLM_SOURCE_DIR, set by ctest) in a static buffer
// (one at a time); skips the test when VLM_SOURCE_DIR is not set.
static inline const char * test_data(const char * rel) {
    static char path[4096];
    const char * src = getenv("VLM_SOURCE_DIR");
    if (!src || !*src) SKIP("VLM_SOURCE_DIR not set (run through ctest)");
    snprintf(path, sizeof path, "%s/tests/data/%s", src, rel);
    return path;
}

// The comparisons read through test_f32: fixture tensors are mmap'd straight from
// safetensors files, where a float need not be 4-byte aligned.
static inline double test_f32(const float * p, size_t i) {
    float v;
    memcpy(&v, (const char *)p + i * sizeof v, sizeof v);
    return v;
}

// Normalized mean squared error: sum((a-b)^2) / sum(b^2) (b is the reference).
static inline double test_nmse(const float * a, const float * ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = test_f32(a, i) - test_f32(ref, i);
        num += d * d;
        den += test_f32(ref, i) * test_f32(ref, i);
    }
    return den > 0 ? num / den : num;
}

// Binary masks (nonzero = on) against the reference's: the same size, at most 0.1% of the pixels
// differing (those whose logit is near zero may flip).
static inline void test_check_masks(const char * what, const void * got, size_t got_n, const void * ref, size_t ref_n) {
    CHECK(got && ref && got_n == ref_n, "%s: masks size", what);
    if (!got || !ref || got_n != ref_n) return;
    size_t nd = 0;
    for (size_t i = 0; i < got_n; i++) nd += (((const uint8_t *)got)[i] != 0) != (((const uint8_t *)ref)[i] != 0);
    CHECK(nd <= got_n / 1000, "%s: masks differ on %zu of %zu pixels", what, nd, got_n);
}

static inline double test_max_abs(const float * a, const float * ref, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(test_f32(a, i) - test_f32(ref, i));
        if (!(d <= m)) m = d;   // NaN propagates as a failure
    }
    return m;
}

static inline double test_cosine(const float * a, const float * b, size_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        double x = test_f32(a, i), y = test_f32(b, i);
        ab += x * y, aa += x * x, bb += y * y;
    }
    return ab / (sqrt(aa * bb) + 1e-30);
}

// An aligned copy of a file tensor's bytes (caller frees).
static inline void * test_aligned_copy(const void * data, size_t n) {
    void * p = malloc(n ? n : 1);
    if (p && n) memcpy(p, data, n);
    return p;
}

// Deterministic uniform floats in (-1, 1).
static inline float test_rand(uint64_t * state) {
    struct vlm_rng r = { *state };
    float v = (float)(2.0 * vlm_rng_uniform(&r) - 1.0);
    *state = r.state;
    return v;
}

// Removes a scratch folder and everything in it (links are removed, not followed).
static inline void test_rmtree(const char * dir) {
    DIR * d = opendir(dir);
    for (struct dirent * e; d && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char path[4096 + 256 + 2];
        struct stat sb;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path) continue;
        if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) test_rmtree(path);
        else unlink(path);
    }
    if (d) closedir(d);
    rmdir(dir);
}

// The test's scratch folder: made once, as $TMPDIR/vlm-test-<tag>-XXXXXX (TMPDIR defaults to
// /tmp), and removed with all it holds at exit, unless a check failed: then it stays for a look
// and stderr names it. Exits 1 when it cannot be made.
static char test_tmp_root[256];
static pid_t test_tmp_owner;

static inline void test_tmp_cleanup(void) {
    if (getpid() != test_tmp_owner) return;   // a forked child that exits leaves it alone
    if (test_failed) fprintf(stderr, "kept %s\n", test_tmp_root);
    else test_rmtree(test_tmp_root);
}

static inline const char * test_tmp_dir(const char * tag) {
    if (test_tmp_root[0]) return test_tmp_root;
    const char * tmp = getenv("TMPDIR");
    int n = snprintf(test_tmp_root, sizeof test_tmp_root, "%s/vlm-test-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    if (n < 0 || (size_t)n >= sizeof test_tmp_root || !mkdtemp(test_tmp_root)) {
        fprintf(stderr, "cannot create a scratch folder %s\n", test_tmp_root);
        exit(1);
    }
    test_tmp_owner = getpid();
    atexit(test_tmp_cleanup);
    return test_tmp_root;
}

// A path in the scratch folder (test_tmp_dir first), in one of eight static buffers used in turn,
// so that a few may stand in one call.
static inline const char * test_tmp_path(const char * name) {
    static char paths[8][512];
    static unsigned next;
    if (!test_tmp_root[0]) {
        fprintf(stderr, "test_tmp_path(%s) before test_tmp_dir\n", name);
        abort();
    }
    char * p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", test_tmp_root, name);
    return p;
}

// A new empty folder in the scratch folder; its path as test_tmp_path gives it. Exits 1 when
// it cannot be made.
static inline const char * test_tmp_mkdir(const char * name) {
    const char * p = test_tmp_path(name);
    if (mkdir(p, 0755) != 0) {
        fprintf(stderr, "cannot create %s\n", p);
        exit(1);
    }
    return p;
}

// A whole file as a NUL-terminated string (caller frees), NULL if unreadable.
static inline char * test_read_text(const char * path) { return vlm_read_file(path, SIZE_MAX, NULL); }

// Runs `env ENV $VLM_CLI ARGS` (env: "NAME=value ..." or NULL; args printf-style) with stdout
// and stderr captured into out (through a file in log_dir); returns the exit code, 128 +
// signal when killed.
static inline int test_run_cli(char * out, size_t out_size, const char * log_dir, const char * env, const char * fmt, ...)
    __attribute__((format(printf, 5, 6)));
static inline int test_run_cli(char * out, size_t out_size, const char * log_dir, const char * env, const char * fmt, ...) {
    char args[4096], cmd[8192], log[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(log, sizeof log, "%s/cli-output.txt", log_dir);
    snprintf(cmd, sizeof cmd, "env %s \"%s\" %s >%s 2>&1", env ? env : "", getenv("VLM_CLI"), args, log);
    int status = system(cmd);
    char * text = test_read_text(log);
    snprintf(out, out_size, "%s", text ? text : "");
    free(text);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

// Whether two files exist and hold the same bytes.
static inline bool test_same_file(const char * a, const char * b) {
    FILE * fa = fopen(a, "rb"), * fb = fopen(b, "rb");
    bool same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        same = ca == cb;
        if (ca == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

// The CLI lists a Vulkan device (`vlm devices`, output into out); when it does not, skips the
// test, or fails it under VLM_TEST_REQUIRE_VULKAN=1 (from main: returns its exit code).
#define TEST_CLI_NEED_VULKAN(out, out_size, log_dir, env)                                                     \
    do {                                                                                                     \
        if (test_run_cli(out, out_size, log_dir, env, "devices") != 0 || !strstr(out, "vulkan device 0:")) {  \
            if (!test_require_vulkan()) SKIP("no Vulkan device");                                            \
            CHECK(0, "no Vulkan device but VLM_TEST_REQUIRE_VULKAN=1: %s", out);                             \
            TEST_END();                                                                                      \
        }                                                                                                    \
    } while (0)

// VLM_TEST_BACKENDS (e.g. "cpu" or "cpu,vulkan", the default) limits the backends a test tries.
static inline bool test_want_backend(const char * name) {
    const char * e = getenv("VLM_TEST_BACKENDS");
    return !e || !*e || strstr(e, name) != NULL;
}

// Which backends to run: "cpu" and, when a device works, "vulkan". Set VLM_TEST_REQUIRE_VULKAN=1
// (CI does) to fail instead of skipping the Vulkan half.
static inline int test_require_vulkan(void) {
    const char * e = getenv("VLM_TEST_REQUIRE_VULKAN");
    return e && *e == '1';
}
#endif
