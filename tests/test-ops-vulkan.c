// test-ops-vulkan.c — every op on the Vulkan backend against the CPU backend: the cases of the
// self-test (core/selftest.c: aligned and odd shapes, strided and permuted views, guard regions
// around outputs) plus its big grid-folding ones; a case that ran a kernel variant runs again on
// the plain kernel. Prints "op  kernel  shape  nmse  max_abs" per case. Runs twice: with push
// descriptors (when the device has them) and with descriptor pools
// (VLM_VK_DISABLE_PUSH_DESCRIPTOR=1). Skips (77) without a Vulkan device unless
// VLM_TEST_REQUIRE_VULKAN=1. Also times a 1024x1024x1024 matmul on Vulkan (printed, never asserted).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core.h"
#include "harness.h"
#include "selftest.h"
#include "vk-internal.h"

static uint64_t rng = 0x1234567ULL;
static int n_cases_run;
static uint32_t variants_seen;

static void check_row(const struct vlm_selftest_row * r, void * user) {
    (void) user;
    n_cases_run++;
    int v = vlm_vk_variant_find(r->kernel);
    if (v >= 0) variants_seen |= 1u << v;
    printf("%-28s %-14s %-22s nmse %.3e  max_abs %.3e%s\n", r->name, r->kernel, r->shape, r->nmse, r->max_abs,
           r->pass ? "" : "  <-- FAIL");
    CHECK(r->pass, "%s (%s) %s: nmse %.3e > %.1e (max_abs %.3e) %s", r->name, r->kernel, r->shape, r->nmse, r->tol,
          r->max_abs, r->error);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// One-row linear at decoder shapes (SmolLM2-135M: hidden 576, MLP 1536, vocabulary 49152),
// F32 and Q8_0 weights, on the matvec variant and on the tiled GEMM in the same run.
static void bench_matvec(struct vlm_ctx * vk) {
    static const struct { int64_t K, N; enum vlm_dtype dt; } L[] = {
        { 576, 1536, VLM_DTYPE_F32 }, { 1536, 576, VLM_DTYPE_F32 }, { 4096, 4096, VLM_DTYPE_F32 }, { 576, 49152, VLM_DTYPE_Q8_0 }, { 576, 1536, VLM_DTYPE_Q8_0 },
    };
    for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) {
        int64_t K = L[i].K, N = L[i].N;
        float * h = malloc(sizeof(float) * K * N);
        void * wq = malloc(vlm_dtype_nbytes(L[i].dt, K * N));
        for (int64_t k = 0; k < K * N; k++) h[k] = test_rand(&rng) * 0.1f;
        if (L[i].dt == VLM_DTYPE_F32) memcpy(wq, h, sizeof(float) * K * N);
        else vlm_dtype_traits(L[i].dt)->from_f32(h, wq, K * N);
        size_t mark = vlm_arena_mark(vk);
        int64_t ws[2] = { N, K }, xs[2] = { 1, K };
        struct vlm_tensor w = vlm_tensor_from_host(vk, L[i].dt, 2, ws, wq);
        struct vlm_tensor a = vlm_tensor_from_host(vk, VLM_DTYPE_F32, 2, xs, h);
        double ms[2];
        for (int plain = 0; plain < 2; plain++) {
            vlm_vk_variant_enable(vk->vk, VLM_VK_VARIANT_MATVEC, !plain);
            size_t m0 = vlm_arena_mark(vk);
            vlm_op_linear(vk, a, w, NULL);   // warm-up: pipeline creation
            vlm_ctx_sync(vk);
            int reps = 10;
            double t0 = now_s();
            for (int r = 0; r < reps; r++) {
                vlm_op_linear(vk, a, w, NULL);
                vlm_ctx_sync(vk);   // one token at a time
            }
            ms[plain] = (now_s() - t0) / reps * 1e3;
            vlm_arena_reset(vk, m0);
        }
        vlm_vk_variant_enable(vk->vk, VLM_VK_VARIANT_MATVEC, true);
        CHECK(vlm_ctx_ok(vk), "linear benchmark failed: %s", vk->error);
        printf("linear [1, %lld] x [%lld, %lld] %s: matvec %.3f ms (%.2f GFLOP/s), tiled %.3f ms (%.2f GFLOP/s)\n",
               (long long) K, (long long) N, (long long) K, vlm_dtype_name(L[i].dt), ms[0], 2e-6 * K * N / ms[0], ms[1],
               2e-6 * K * N / ms[1]);
        vlm_arena_reset(vk, mark);
        free(h);
        free(wq);
    }
}

static void bench_matmul(struct vlm_ctx * vk) {
    const int64_t n = 1024;
    float * h = malloc(sizeof(float) * n * n);
    for (int64_t k = 0; k < n * n; k++) h[k] = test_rand(&rng);
    size_t mark = vlm_arena_mark(vk);
    int64_t shape[2] = { n, n };
    struct vlm_tensor a = vlm_tensor_from_host(vk, VLM_DTYPE_F32, 2, shape, h);
    struct vlm_tensor b = vlm_tensor_from_host(vk, VLM_DTYPE_F32, 2, shape, h);
    vlm_op_matmul(vk, a, b);   // warm-up: pipeline creation
    vlm_ctx_sync(vk);
    int reps = 3;
    double t0 = now_s();
    for (int r = 0; r < reps; r++) {
        size_t m = vlm_arena_mark(vk);
        vlm_op_matmul(vk, a, b);
        vlm_arena_reset(vk, m);
    }
    vlm_ctx_sync(vk);
    double dt = (now_s() - t0) / reps;
    CHECK(vlm_ctx_ok(vk), "matmul benchmark failed: %s", vk->error);
    printf("matmul 1024x1024x1024 on %s: %.1f ms, %.2f GFLOP/s\n", vlm_ctx_backend_name(vk), dt * 1e3, 2.0 * n * n * n / dt / 1e9);
    vlm_arena_reset(vk, mark);

    // attention [1, 4, 1024, 64] (SAM-style global attention, smaller)
    int64_t qs[4] = { 1, 4, 1024, 64 };
    struct vlm_tensor q = vlm_tensor_from_host(vk, VLM_DTYPE_F32, 4, qs, h);
    struct vlm_attention_params p = { .scale = 0.125f };
    vlm_op_attention(vk, q, q, q, &p);   // warm-up
    vlm_ctx_sync(vk);
    t0 = now_s();
    vlm_op_attention(vk, q, q, q, &p);
    vlm_ctx_sync(vk);
    dt = now_s() - t0;
    CHECK(vlm_ctx_ok(vk), "attention benchmark failed: %s", vk->error);
    printf("attention [1, 4, 1024, 64] on %s: %.1f ms, %.2f GFLOP/s\n", vlm_ctx_backend_name(vk), dt * 1e3,
           2.0 * 4 * 1024 * 1024 * 128 / dt / 1e9);
    vlm_arena_reset(vk, mark);
    free(h);
}

// A view wider than maxStorageBufferRange (128 MiB on lavapipe) must fail cleanly with
// UNSUPPORTED naming the limit, or work on devices with a larger range.
static void check_binding_limit(struct vlm_ctx * vk) {
    size_t mark = vlm_arena_mark(vk);
    int64_t shape[1] = { (int64_t) (136u << 20) / 4 };
    struct vlm_tensor t = vlm_tensor_new(vk, VLM_DTYPE_F32, 1, shape);
    if (!vlm_ctx_ok(vk)) {   // arena too small: nothing to check
        vk->status = VLM_STATUS_OK;
        return;
    }
    struct vlm_tensor r = vlm_op_scale(vk, t, 2.0f, 0.0f);
    vlm_ctx_sync(vk);
    bool ok = vlm_ctx_ok(vk) ? r.n_dims == 1 : (vk->status == VLM_STATUS_UNSUPPORTED && strstr(vk->error, "maxStorageBufferRange"));
    printf("136 MiB binding: %s\n", vlm_ctx_ok(vk) ? "ok (device range is larger)" : vk->error);
    CHECK(ok, "oversized binding: status %d, %s", (int) vk->status, vk->error);
    vk->status = VLM_STATUS_OK;
    vk->error[0] = 0;
    vlm_arena_reset(vk, mark);
}

// Weights and tables larger than the binding range (a device with a 64 KiB range, set through
// VLM_VK_MAX_BINDING_BYTES): linear runs as blocks of weight rows writing their columns, gather
// as blocks of table rows; both equal the same ops on a device with the whole range.
static void check_split_bindings(void) {
    char err[512] = "";
    struct vlm_ctx * whole = vlm_ctx_new(VLM_BACKEND_VULKAN, 0, 64u << 20, err, sizeof err);
    CHECK(whole != NULL, "vulkan context: %s", err);
    if (!whole) return;
    setenv("VLM_VK_MAX_BINDING_BYTES", "65536", 1);
    struct vlm_ctx * vk = vlm_ctx_new(VLM_BACKEND_VULKAN, 0, 64u << 20, err, sizeof err);
    unsetenv("VLM_VK_MAX_BINDING_BYTES");
    CHECK(vk != NULL, "vulkan context with VLM_VK_MAX_BINDING_BYTES: %s", err);
    if (!vk) {
        vlm_ctx_free(whole);
        return;
    }
    enum { N = 700, K = 96, V = 3000, D = 16 };
    static float w[N * K], bias[N], in[3 * K], tab[V * D], got[3 * N], want[3 * N];
    static uint8_t wq[N * K / 32 * 34];
    struct vlm_rng rng = { 11 };
    for (int i = 0; i < N * K; i++) w[i] = (float)vlm_rng_normal(&rng);
    for (int i = 0; i < N; i++) bias[i] = (float)vlm_rng_normal(&rng);
    for (int i = 0; i < 3 * K; i++) in[i] = (float)vlm_rng_normal(&rng);
    for (int i = 0; i < V * D; i++) tab[i] = (float)vlm_rng_normal(&rng);
    vlm_dtype_traits(VLM_DTYPE_Q8_0)->from_f32(w, wq, N * K);
    const int32_t ids[6] = { 0, 2999, 1234, -1, 3000, 700 };
    for (int q8 = 0; q8 < 2; q8++)
        for (int64_t M = 1; M <= 3; M += 2) {   // M = 1: the matrix-vector kernel; 3: the tiled one
            struct vlm_tensor r[2];
            struct vlm_ctx * xs[2] = { whole, vk };
            size_t marks[2];
            for (int b = 0; b < 2; b++) {
                struct vlm_ctx * x = xs[b];
                marks[b] = vlm_arena_mark(x);
                struct vlm_tensor wt = vlm_tensor_from_host(x, q8 ? VLM_DTYPE_Q8_0 : VLM_DTYPE_F32, 2, (int64_t[]){ N, K },
                                                            q8 ? (const void *)wq : w);
                struct vlm_tensor bt = vlm_tensor_from_host(x, VLM_DTYPE_F32, 1, (int64_t[]){ N }, bias);
                r[b] = vlm_op_linear(x, vlm_tensor_from_host(x, VLM_DTYPE_F32, 2, (int64_t[]){ M, K }, in), wt, &bt);
            }
            vlm_tensor_download(whole, r[0], want);
            vlm_tensor_download(vk, r[1], got);
            double e = test_nmse(got, want, (size_t)(M * N));
            printf("linear %s [%lld, %d] x [%d, %d] over 64 KiB bindings: nmse %.3g\n", q8 ? "q8_0" : "f32", (long long)M, K,
                   N, K, e);
            CHECK(vlm_ctx_ok(vk) && e == 0, "split linear %s M=%lld: nmse %.3g (%s)", q8 ? "q8_0" : "f32", (long long)M,
                  e, vk->error);
            for (int b = 0; b < 2; b++) vlm_arena_reset(xs[b], marks[b]);
        }
    size_t mark = vlm_arena_mark(vk);
    struct vlm_tensor g = vlm_op_gather(vk, vlm_tensor_from_host(vk, VLM_DTYPE_F32, 2, (int64_t[]){ V, D }, tab),
                                        vlm_tensor_from_host(vk, VLM_DTYPE_I32, 1, (int64_t[]){ 6 }, ids));
    vlm_tensor_download(vk, g, got);
    int bad = 0;
    for (int i = 0; i < 6; i++)
        for (int d = 0; d < D; d++) bad += got[i * D + d] != (ids[i] >= 0 && ids[i] < V ? tab[ids[i] * D + d] : 0.0f);
    printf("gather [%d, %d] over 64 KiB bindings: %d wrong values\n", V, D, bad);
    CHECK(vlm_ctx_ok(vk) && bad == 0, "split gather: %d wrong values (%s)", bad, vk->error);
    vlm_arena_reset(vk, mark);
    vlm_ctx_free(vk);
    vlm_ctx_free(whole);
}

static void run_all(struct vlm_ctx * cpu, struct vlm_ctx * vk, const char * filter) {
    vlm_selftest_run(cpu, vk, filter, true, check_row, NULL);
}

// VLM_PROFILE=1: the device time of each op type from timestamp queries, where the queue has them.
static void check_profile(void) {
    char err[512] = "";
    setenv("VLM_PROFILE", "1", 1);
    struct vlm_ctx * x = vlm_ctx_new(VLM_BACKEND_VULKAN, 0, 16u << 20, err, sizeof err);
    unsetenv("VLM_PROFILE");
    CHECK(x != NULL && x->profile_ms, "vulkan context with VLM_PROFILE=1: %s", err);
    if (!x || !x->profile_ms) return;
    struct vlm_tensor a = vlm_tensor_new(x, VLM_DTYPE_F32, 2, (int64_t[]){ 64, 256 });
    struct vlm_tensor w = vlm_tensor_new(x, VLM_DTYPE_F32, 2, (int64_t[]){ 256, 256 });
    float * ones = malloc(256 * 256 * sizeof(float));
    for (int i = 0; i < 256 * 256; i++) ones[i] = 1.0f / 256;
    vlm_tensor_upload(x, a, ones);
    vlm_tensor_upload(x, w, ones);
    free(ones);
    vlm_op_softmax(x, vlm_op_linear(x, a, w, NULL), 1.0f, NULL);
    CHECK(vlm_ctx_sync(x) == VLM_STATUS_OK, "profiled ops: %s", x->error);
    if (vlm_vk_caps(x->vk)->timestamps)
        CHECK(x->profile_ms[VLM_OP_LINEAR] > 0 && x->profile_ms[VLM_OP_SOFTMAX] > 0 && x->profile_ms[VLM_OP_CONV2D] == 0,
              "device times: linear %g ms, softmax %g ms, conv2d %g ms", x->profile_ms[VLM_OP_LINEAR],
              x->profile_ms[VLM_OP_SOFTMAX], x->profile_ms[VLM_OP_CONV2D]);
    else
        printf("profile: the device's queue has no timestamps (not timed)\n");
    vlm_ctx_free(x);   // prints the profile
}

int main(int argc, char ** argv) {
    // usage: test-ops-vulkan [-o group,group] (groups: linear matmul elementwise norm softmax
    //        attention conv resample data quant bench)
    const char * filter = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "-o") == 0) filter = argv[i + 1];
    char err[512] = "";
    if (!test_want_backend("vulkan")) SKIP("vulkan is not in VLM_TEST_BACKENDS");
    setenv("VLM_VK_SKIP_SELFTEST", "1", 1);   // the kernels themselves, whatever a cached self-test said
    struct vlm_ctx * vk = vlm_ctx_new(VLM_BACKEND_VULKAN, 0, 320u << 20, err, sizeof err);
    if (!vk) {
        if (test_require_vulkan()) {
            CHECK(vk != NULL, "no Vulkan device but VLM_TEST_REQUIRE_VULKAN=1: %s", err);
            TEST_END();
        }
        SKIP("no Vulkan device: %s", err);
    }
    struct vlm_ctx * cpu = vlm_ctx_new(VLM_BACKEND_CPU, 0, 256u << 20, err, sizeof err);
    CHECK(cpu != NULL, "cpu context: %s", err);
    if (!cpu) TEST_END();

    printf("== %s (default options)\n", vlm_ctx_backend_name(vk));
    printf("%-28s %-14s %-22s %s\n", "case", "kernel", "shape", "nmse / max_abs");
    run_all(cpu, vk, filter);
    if (!filter)   // every kernel variant ran on some case (and the plain kernel on the same cases)
        for (int v = 0; v < VLM_VK_VARIANT_COUNT; v++)
            CHECK(variants_seen & (1u << v), "no case ran the variant %s", vlm_vk_variant_name((enum vlm_vk_variant) v));
    if (!filter || strstr(filter, "bench")) {
        bench_matmul(vk);
        bench_matvec(vk);
    }
    check_binding_limit(vk);
    vlm_ctx_free(vk);
    check_split_bindings();
    check_profile();

    // the descriptor-pool path
    setenv("VLM_VK_DISABLE_PUSH_DESCRIPTOR", "1", 1);
    vk = vlm_ctx_new(VLM_BACKEND_VULKAN, 0, 320u << 20, err, sizeof err);
    CHECK(vk != NULL, "vulkan context with VLM_VK_DISABLE_PUSH_DESCRIPTOR=1: %s", err);
    if (vk) {
        printf("== %s (VLM_VK_DISABLE_PUSH_DESCRIPTOR=1)\n", vlm_ctx_backend_name(vk));
        // every shader family once more through descriptor pools (the cheaper groups)
        run_all(cpu, vk, filter ? filter : "linear,matmul,norm,softmax,attention,data,quant");
        vlm_ctx_free(vk);
    }
    vlm_ctx_free(cpu);
    printf("%d cases run\n", n_cases_run);
    TEST_END();
}
