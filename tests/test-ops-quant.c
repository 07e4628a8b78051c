// test-ops-quant.c — the block-quantized and half weight dtypes on the CPU backend: the dtype
// table's round trips on values known to be exact, and linear / gather / copy with F16, BF16,
// Q8_0, Q4_0 and Q4_K weights against a naive double-precision reference on the dequantized
// weights; also linear with F32 / F16 / BF16 weights at the shapes of the dot-product tiles. The
// whole test runs three times: with the best kernels the CPU has (AVX-512, AVX2), with
// VLM_NO_AVX512=1 and with VLM_NO_AVX2=1 (plain C).
// NMSE thresholds (sum (y - ref)^2 / sum ref^2):
//   gather, copy: exact (the same dequantization as the table's)
//   linear, reference on the activations as the kernel sees them (Q8_0 / Q8_K rounded for
//   quantized weights, F32 for F16 / BF16): 1e-10 (integer block sums are exact; only the
//   order of float sums differs)
//   linear, reference on the F32 activations: 2e-4 with Q8_0 activations (32-value blocks:
//   a rounding error of amax / 254 per value, NMSE ~3e-5 on normal data), 4e-4 with Q8_K
//   (256-value blocks, larger amax); only over 32 outputs or more (one dot product alone
//   can be near zero)
//   quantize -> dequantize of normal data: Q8_0 1e-4, Q4_0 2e-2, Q4_K 1e-2
#include <sys/wait.h>

#include "harness.h"
#include "core.h"
#include "quant.h"

#define NMSE_TIGHT 1e-10

static struct vlm_ctx * X;
static uint64_t         rng = 0x243f6a8885a308d3ULL;

static float * rand_buf(int64_t n) {
    float * p = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) p[i] = test_rand(&rng);
    return p;
}

// Data quantized to dtype then dequantized (what the kernels see as weights).
static float * through(enum vlm_dtype dt, const float * src, int64_t n, void ** stored) {
    const struct vlm_dtype_traits * t = vlm_dtype_traits(dt);
    void * q = malloc(vlm_dtype_nbytes(dt, n));
    float * back = malloc((size_t)n * sizeof(float));
    t->from_f32(src, q, n);
    t->to_f32(q, back, n);
    *stored = q;
    return back;
}

static void test_round_trips(void) {
    // Q8_0: x = d q with one |q| = 127 and d a power of two: exact, and the block bytes known
    float x[64], y[64];
    struct vlm_block_q8_0 b8[2];
    for (int j = 0; j < 64; j++) x[j] = 0.25f * (float)(j == 5 ? -127 : j == 40 ? 127 : (j * 37) % 255 - 127);
    vlm_dtype_traits(VLM_DTYPE_Q8_0)->from_f32(x, b8, 64);
    vlm_dtype_traits(VLM_DTYPE_Q8_0)->to_f32(b8, y, 64);
    CHECK(!memcmp(x, y, sizeof x) && b8[0].d == vlm_f32_to_f16(0.25f) && b8[0].qs[5] == -127 && b8[1].qs[8] == 127,
          "q8_0 round trip of d * q values");
    // Q4_0: x = d (q - 8) with the largest magnitude -8 d: exact; nibble order low = j, high = j + 16
    struct vlm_block_q4_0 b4[2];
    for (int j = 0; j < 64; j++) x[j] = 0.5f * (float)((j % 32 == 3 ? 0 : (j * 7) % 16) - 8);
    vlm_dtype_traits(VLM_DTYPE_Q4_0)->from_f32(x, b4, 64);
    vlm_dtype_traits(VLM_DTYPE_Q4_0)->to_f32(b4, y, 64);
    CHECK(!memcmp(x, y, sizeof x) && b4[0].d == vlm_f32_to_f16(0.5f) && (b4[0].qs[3] & 15) == 0 &&
          (b4[0].qs[3] >> 4) == (19 * 7) % 16, "q4_0 round trip of d (q - 8) values");
    // Q4_K: a hand-built block, value = d sc_j q - dmin m_j with the 6-bit packing of scales
    struct vlm_block_q4_K bk;
    float want[256], got[256];
    memset(&bk, 0, sizeof bk);
    bk.d = vlm_f32_to_f16(0.5f);
    bk.dmin = vlm_f32_to_f16(0.25f);
    uint8_t sc[8] = { 1, 7, 63, 20, 33, 48, 5, 62 }, mn[8] = { 0, 3, 63, 9, 40, 17, 1, 50 };
    for (int j = 0; j < 8; j++) {   // ref: ggml quantize_row_q4_K_ref's packing
        if (j < 4) { bk.scales[j] = sc[j]; bk.scales[j + 4] = mn[j]; }
        else {
            bk.scales[j + 4] = (uint8_t)((sc[j] & 0xF) | ((mn[j] & 0xF) << 4));
            bk.scales[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            bk.scales[j] |= (uint8_t)((mn[j] >> 4) << 6);
        }
    }
    for (int i = 0; i < 256; i++) {
        int chunk = i / 64, hi = (i % 64) >= 32, l = i % 32, q = (i * 5 + 3) % 16;
        bk.qs[chunk * 32 + l] |= (uint8_t)(hi ? q << 4 : q);
        int j = i / 32;
        want[i] = 0.5f * (float)sc[j] * (float)q - 0.25f * (float)mn[j];
    }
    vlm_dtype_traits(VLM_DTYPE_Q4_K)->to_f32(&bk, got, 256);
    int bad = 0;
    for (int i = 0; i < 256; i++) bad += got[i] != want[i];
    CHECK(bad == 0, "q4_k dequantization of a hand-packed block: %d wrong", bad);
    // normal data: quantize -> dequantize within each type's error
    const enum vlm_dtype types[3] = { VLM_DTYPE_Q8_0, VLM_DTYPE_Q4_0, VLM_DTYPE_Q4_K };
    const double limit[3] = { 1e-4, 2e-2, 1e-2 };
    for (int t = 0; t < 3; t++) {
        float * v = rand_buf(4096);
        void *  q;
        float * back = through(types[t], v, 4096, &q);
        double  e = test_nmse(back, v, 4096);
        CHECK(e < limit[t], "%s quantize/dequantize nmse %.3g >= %.3g", vlm_dtype_name(types[t]), e, limit[t]);
        free(v); free(q); free(back);
    }
    // F16 / BF16 through the table
    float h[4] = { 1.0f, -2.0f, 0.5f, 65504.0f }, hb[4];
    uint16_t raw[4];
    vlm_dtype_traits(VLM_DTYPE_F16)->from_f32(h, raw, 4);
    vlm_dtype_traits(VLM_DTYPE_F16)->to_f32(raw, hb, 4);
    CHECK(!memcmp(h, hb, sizeof h) && raw[0] == 0x3c00, "f16 round trip");
    CHECK(vlm_dtype_nbytes(VLM_DTYPE_Q4_K, 512) == 288 && vlm_dtype_nbytes(VLM_DTYPE_Q8_0, 33) == 0 &&
          vlm_dtype_size(VLM_DTYPE_Q4_0) == 0 && vlm_dtype_size(VLM_DTYPE_BF16) == 2 &&
          vlm_ggml_type(12)->dtype == VLM_DTYPE_Q4_K && vlm_ggml_type(14)->dtype == VLM_DTYPE_COUNT &&
          vlm_dtype_traits(VLM_DTYPE_Q4_0)->ggml_type == 2, "table sizes and ggml ids");
}

// Activations as the kernel sees them: rounded through Q8_0 / Q8_K for quantized weights.
static void act_as_seen(enum vlm_dtype wt, const float * a, float * out, int64_t M, int64_t K) {
    if ((wt == VLM_DTYPE_Q8_0 || wt == VLM_DTYPE_Q4_0) && X->backend == VLM_BACKEND_KIND_CPU) {
        void * q = malloc(vlm_dtype_nbytes(VLM_DTYPE_Q8_0, K));
        for (int64_t m = 0; m < M; m++) {   // the CPU's own rounding (ggml's x86 one with AVX2)
            vlm_cpu_quantize_row_q8_0(a + m * K, q, K);
            vlm_dtype_traits(VLM_DTYPE_Q8_0)->to_f32(q, out + m * K, K);
        }
        free(q);
    } else if (wt == VLM_DTYPE_Q8_0 || wt == VLM_DTYPE_Q4_0) {
        void * q;
        for (int64_t m = 0; m < M; m++) {
            float * b = through(VLM_DTYPE_Q8_0, a + m * K, K, &q);
            memcpy(out + m * K, b, (size_t)K * sizeof(float));
            free(b); free(q);
        }
    } else if (wt == VLM_DTYPE_Q4_K) {
        struct vlm_block_q8_K * q = malloc((size_t)(K / 256) * sizeof *q);
        for (int64_t m = 0; m < M; m++) {
            vlm_quantize_row_q8_K(a + m * K, q, K);
            for (int64_t k = 0; k < K; k++) out[m * K + k] = q[k / 256].d * q[k / 256].qs[k % 256];
        }
        free(q);
    } else {
        memcpy(out, a, (size_t)(M * K) * sizeof(float));
    }
}

static void ref_linear(const float * a, const float * w, const float * bias, float * out, int64_t M, int64_t N, int64_t K) {
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double s = bias ? bias[n] : 0.0;
            for (int64_t k = 0; k < K; k++) s += (double)a[m * K + k] * w[n * K + k];
            out[m * N + n] = (float)s;
        }
}

static const enum vlm_dtype WTYPES[5] = { VLM_DTYPE_F16, VLM_DTYPE_BF16, VLM_DTYPE_Q8_0, VLM_DTYPE_Q4_0, VLM_DTYPE_Q4_K };

static void test_linear(enum vlm_dtype wt) {
    const int64_t Ms[5] = { 1, 3, 17, 45, 64 }, Ns[3] = { 1, 37, 129 };
    int64_t blk = wt == VLM_DTYPE_Q4_K ? 256 : 32;
    const int64_t Ks[2] = { blk, blk * (wt == VLM_DTYPE_Q4_K ? 3 : 9) };
    double loose = wt == VLM_DTYPE_Q4_K ? 4e-4 : wt == VLM_DTYPE_Q8_0 || wt == VLM_DTYPE_Q4_0 ? 2e-4 : NMSE_TIGHT;
    for (int ki = 0; ki < 2; ki++)
        for (int ni = 0; ni < 3; ni++)
            for (int mi = 0; mi < 5; mi++) {
                int64_t M = Ms[mi], N = Ns[ni], K = Ks[ki];
                bool    with_bias = (mi + ni) % 2 == 0, strided = mi == 2 || mi == 3;
                size_t  mark = vlm_arena_mark(X);
                float * wf = rand_buf(N * K), * a = rand_buf(M * K), * bias = rand_buf(N);
                void *  wq;
                float * wd = through(wt, wf, N * K, &wq);
                float * seen = malloc((size_t)(M * K) * sizeof(float));
                float * ref = malloc((size_t)(M * N) * sizeof(float)), * ref_seen = malloc((size_t)(M * N) * sizeof(float));
                float * got = malloc((size_t)(M * N) * sizeof(float));
                // from VLM_LINEAR_QUANT_GEMM_ROWS rows the CPU may multiply the F32 activations
                if (X->backend == VLM_BACKEND_KIND_CPU && vlm_cpu_linear_f32_activations(wt, M)) memcpy(seen, a, (size_t)(M * K) * sizeof(float));
                else act_as_seen(wt, a, seen, M, K);
                ref_linear(a, wd, with_bias ? bias : NULL, ref, M, N, K);
                ref_linear(seen, wd, with_bias ? bias : NULL, ref_seen, M, N, K);
                struct vlm_tensor w = vlm_tensor_new(X, wt, 2, (int64_t[]){ N, K });
                vlm_tensor_upload(X, w, wq);
                struct vlm_tensor in;
                if (strided) {   // rows of a wider buffer: lda = K + 8
                    float * wide = malloc((size_t)(M * (K + 8)) * sizeof(float));
                    for (int64_t m = 0; m < M; m++) memcpy(wide + m * (K + 8), a + m * K, (size_t)K * sizeof(float));
                    in = vlm_tensor_slice(vlm_tensor_from_host(X, VLM_DTYPE_F32, 2, (int64_t[]){ M, K + 8 }, wide), 1, 0, K);
                    free(wide);
                } else {
                    in = vlm_tensor_from_host(X, VLM_DTYPE_F32, 2, (int64_t[]){ M, K }, a);
                }
                struct vlm_tensor b = vlm_tensor_from_host(X, VLM_DTYPE_F32, 1, (int64_t[]){ N }, bias);
                struct vlm_tensor y = vlm_op_linear(X, in, w, with_bias ? &b : NULL);
                CHECK(vlm_ctx_ok(X), "linear %s M=%lld N=%lld K=%lld: %s", vlm_dtype_name(wt), (long long)M, (long long)N,
                      (long long)K, X->error);
                if (vlm_ctx_ok(X)) {
                    vlm_tensor_download(X, y, got);
                    double e1 = test_nmse(got, ref_seen, (size_t)(M * N)), e2 = test_nmse(got, ref, (size_t)(M * N));
                    CHECK(e1 < NMSE_TIGHT && (M * N < 32 || e2 < loose), "linear %s M=%lld N=%lld K=%lld%s%s: nmse %.3g (as seen), %.3g "
                          "(f32 activations)", vlm_dtype_name(wt), (long long)M, (long long)N, (long long)K,
                          with_bias ? " bias" : "", strided ? " strided" : "", e1, e2);
                }
                vlm_arena_reset(X, mark);
                free(wf); free(a); free(bias); free(wq); free(wd); free(seen); free(ref); free(ref_seen); free(got);
            }
}

// F32 / F16 / BF16 weights at shapes around the dot-product tiles (cpu-linear.c): rows 1, 3, 50
// (tiles), 257 (tiles with AVX-512, sgemm with AVX2) and 1030 (F32: the packed GEMM with AVX-512;
// F16 / BF16: tiles with AVX-512; sgemm with AVX2), K below, at and past a
// vector with a tail, N below a tile, across cache blocks and threads; the tiles' outputs of one
// row equal that row run alone (M = 1), bit for bit.
static void test_linear_tiles(void) {
    const enum vlm_dtype types[3] = { VLM_DTYPE_F32, VLM_DTYPE_F16, VLM_DTYPE_BF16 };
    const int64_t Ms[5] = { 1, 3, 50, 257, 1030 }, Ns[3] = { 1, 13, 100 }, Ks[3] = { 5, 77, 256 };
    for (int t = 0; t < 3; t++)
        for (int ki = 0; ki < 3; ki++)
            for (int ni = 0; ni < 3; ni++)
                for (int mi = 0; mi < 5; mi++) {
                    const enum vlm_dtype wt = types[t];
                    int64_t M = Ms[mi], N = Ns[ni], K = Ks[ki];
                    bool    with_bias = (mi + ni + ki) % 2 == 0;
                    size_t  mark = vlm_arena_mark(X);
                    float * wf = rand_buf(N * K), * a = rand_buf(M * K), * bias = rand_buf(N);
                    void *  wq;
                    float * wd = through(wt, wf, N * K, &wq);
                    float * ref = malloc((size_t)(M * N) * sizeof(float)), * got = malloc((size_t)(M * N) * sizeof(float));
                    ref_linear(a, wd, with_bias ? bias : NULL, ref, M, N, K);
                    struct vlm_tensor w = vlm_tensor_new(X, wt, 2, (int64_t[]){ N, K });
                    vlm_tensor_upload(X, w, wq);
                    struct vlm_tensor in = vlm_tensor_from_host(X, VLM_DTYPE_F32, 2, (int64_t[]){ M, K }, a);
                    struct vlm_tensor b = vlm_tensor_from_host(X, VLM_DTYPE_F32, 1, (int64_t[]){ N }, bias);
                    struct vlm_tensor y = vlm_op_linear(X, in, w, with_bias ? &b : NULL);
                    char what[128];
                    snprintf(what, sizeof what, "linear %s M=%lld N=%lld K=%lld%s", vlm_dtype_name(wt), (long long)M,
                             (long long)N, (long long)K, with_bias ? " bias" : "");
                    CHECK(vlm_ctx_ok(X), "%s: %s", what, X->error);
                    if (vlm_ctx_ok(X)) {
                        vlm_tensor_download(X, y, got);
                        double e = test_nmse(got, ref, (size_t)(M * N));
                        CHECK(e < NMSE_TIGHT, "%s: nmse %.3g", what, e);
                    }
                    if (vlm_ctx_ok(X) && vlm_cpu_linear_tiled(wt, M) && M > 1) {   // the last row alone
                        float * one = malloc((size_t)N * sizeof(float));
                        struct vlm_tensor in1 = vlm_tensor_slice(in, 0, M - 1, 1);
                        vlm_tensor_download(X, vlm_op_linear(X, in1, w, with_bias ? &b : NULL), one);
                        CHECK(vlm_ctx_ok(X) && !memcmp(one, got + (M - 1) * N, (size_t)N * sizeof(float)),
                              "%s: the last row alone differs", what);
                        free(one);
                    }
                    vlm_arena_reset(X, mark);
                    free(wf); free(a); free(bias); free(wq); free(wd); free(ref); free(got);
                }
}

// F32 / F16 / BF16 weights with enough rows for the packed AVX-512 GEMM (cpu-linear.c, from
// 1024 rows for F32, 2048 for F16 / BF16; the AVX2 and plain C reruns take sgemm): rows past a
// multiple of the 14-row micro-tile and of the 448-row block (per thread), N in and past a
// 32-column panel and past a 768-row block, K of 1, a 16-value tail and past a 256-value block,
// rows of a wider buffer (lda > K, not 16-aligned), with and without bias, on 2 and 3 threads.
static void test_linear_packed(void) {
    const enum vlm_dtype types[3] = { VLM_DTYPE_F32, VLM_DTYPE_F16, VLM_DTYPE_BF16 };
    const struct { int64_t M, N, K, pad; int threads; } cases[6] = {
        { 2061, 33, 257, 0, 2 }, { 2061, 100, 530, 5, 2 }, { 2287, 31, 17, 3, 3 },
        { 2051, 65, 1, 0, 2 }, { 2054, 3105, 40, 2, 2 }, { 2500, 64, 300, 1, 3 },
    };
    for (int t = 0; t < 3; t++)
        for (int c = 0; c < 6; c++) {
            const enum vlm_dtype wt = types[t];
            const int64_t M = cases[c].M, N = cases[c].N, K = cases[c].K, lda = K + cases[c].pad;
            const bool    with_bias = (t + c) % 2 == 0;
            struct vlm_ctx * x = vlm_ctx_new(VLM_BACKEND_CPU, cases[c].threads, 64u << 20, NULL, 0);
            float * wf = rand_buf(N * K), * a = rand_buf(M * K), * bias = rand_buf(N);
            void *  wq;
            float * wd = through(wt, wf, N * K, &wq);
            float * ref = malloc((size_t)(M * N) * sizeof(float)), * got = malloc((size_t)(M * N) * sizeof(float));
            float * wide = malloc((size_t)(M * lda + 1) * sizeof(float));
            ref_linear(a, wd, with_bias ? bias : NULL, ref, M, N, K);
            for (int64_t m = 0; m < M; m++) memcpy(wide + 1 + m * lda, a + m * K, (size_t)K * sizeof(float));
            struct vlm_tensor w = vlm_tensor_new(x, wt, 2, (int64_t[]){ N, K });
            vlm_tensor_upload(x, w, wq);
            // rows at wide + 1 + m * lda: a slice of columns [1, K + 1) of a [M, lda + 1] view
            struct vlm_tensor full = vlm_tensor_from_host(x, VLM_DTYPE_F32, 2, (int64_t[]){ M, lda }, wide);
            struct vlm_tensor in = cases[c].pad ? vlm_tensor_slice(full, 1, 1, K)
                                                : vlm_tensor_from_host(x, VLM_DTYPE_F32, 2, (int64_t[]){ M, K }, a);
            struct vlm_tensor b = vlm_tensor_from_host(x, VLM_DTYPE_F32, 1, (int64_t[]){ N }, bias);
            struct vlm_tensor y = vlm_op_linear(x, in, w, with_bias ? &b : NULL);
            char what[160];
            snprintf(what, sizeof what, "packed linear %s M=%lld N=%lld K=%lld lda=%lld%s, %d threads%s", vlm_dtype_name(wt),
                     (long long)M, (long long)N, (long long)K, (long long)(cases[c].pad ? lda : K), with_bias ? " bias" : "",
                     cases[c].threads, vlm_cpu_linear_packed(wt, M) ? "" : " (not packed here)");
            CHECK(vlm_ctx_ok(x), "%s: %s", what, vlm_ctx_ok(x) ? "" : x->error);
            if (vlm_ctx_ok(x)) {
                vlm_tensor_download(x, y, got);
                double e = test_nmse(got, ref, (size_t)(M * N));
                CHECK(e < NMSE_TIGHT, "%s: nmse %.3g", what, e);
            }
            vlm_ctx_free(x);
            free(wf); free(a); free(bias); free(wq); free(wd); free(ref); free(got); free(wide);
        }
}

// Q8_0 / Q4_0 weights with enough rows for the 8-bit integer GEMM (cpu-linear.c, from
// VLM_LINEAR_QUANT_GEMM_ROWS rows where the CPU has AVX512-VNNI; elsewhere widened for sgemm):
// rows past a multiple of the 4-row micro-tile, N below one 16-row panel, at one panel, past a
// 32-row strip and over more strips than threads, one block and several, 2 and 3 threads.
static void test_linear_int8(void) {
    const enum vlm_dtype types[2] = { VLM_DTYPE_Q8_0, VLM_DTYPE_Q4_0 };
    const struct { int64_t M, N, K; int threads; } cases[5] = {
        { 33, 5, 64, 3 }, { 103, 77, 96, 3 }, { 34, 300, 320, 2 }, { 257, 16, 32, 2 }, { 64, 33, 800, 2 },
    };
    for (int t = 0; t < 2; t++)
        for (int c = 0; c < 5; c++) {
            const enum vlm_dtype wt = types[t];
            const int64_t M = cases[c].M, N = cases[c].N, K = cases[c].K;
            const bool    with_bias = (t + c) % 2 == 0;
            struct vlm_ctx * x = vlm_ctx_new(VLM_BACKEND_CPU, cases[c].threads, 64u << 20, NULL, 0);
            float * wf = rand_buf(N * K), * a = rand_buf(M * K), * bias = rand_buf(N), * seen = malloc((size_t)(M * K) * sizeof(float));
            void *  wq;
            float * wd = through(wt, wf, N * K, &wq);
            float * ref = malloc((size_t)(M * N) * sizeof(float)), * got = malloc((size_t)(M * N) * sizeof(float));
            if (vlm_cpu_linear_f32_activations(wt, M)) memcpy(seen, a, (size_t)(M * K) * sizeof(float));
            else act_as_seen(wt, a, seen, M, K);
            ref_linear(seen, wd, with_bias ? bias : NULL, ref, M, N, K);
            struct vlm_tensor w = vlm_tensor_new(x, wt, 2, (int64_t[]){ N, K });
            vlm_tensor_upload(x, w, wq);
            struct vlm_tensor in = vlm_tensor_from_host(x, VLM_DTYPE_F32, 2, (int64_t[]){ M, K }, a);
            struct vlm_tensor b = vlm_tensor_from_host(x, VLM_DTYPE_F32, 1, (int64_t[]){ N }, bias);
            struct vlm_tensor y = vlm_op_linear(x, in, w, with_bias ? &b : NULL);
            char what[160];
            snprintf(what, sizeof what, "int8 linear %s M=%lld N=%lld K=%lld%s, %d threads", vlm_dtype_name(wt), (long long)M,
                     (long long)N, (long long)K, with_bias ? " bias" : "", cases[c].threads);
            CHECK(vlm_ctx_ok(x), "%s: %s", what, vlm_ctx_ok(x) ? "" : x->error);
            if (vlm_ctx_ok(x)) {
                vlm_tensor_download(x, y, got);
                double e = test_nmse(got, ref, (size_t)(M * N));
                CHECK(e < NMSE_TIGHT, "%s: nmse %.3g", what, e);
            }
            // the weight packed once (as the loader does for the weights it quantizes): the same
            // products, bit for bit
            const void * w_host = vlm_tensor_host(&w);
            if (vlm_ctx_ok(x) && vlm_cpu_pack_weight(w_host, wt, N, K, cases[c].threads)) {
                float * again = malloc((size_t)(M * N) * sizeof(float));
                vlm_tensor_download(x, vlm_op_linear(x, in, w, with_bias ? &b : NULL), again);
                CHECK(vlm_ctx_ok(x) && !memcmp(again, got, (size_t)(M * N) * sizeof(float)), "%s: packed at load differs", what);
                vlm_cpu_unpack_weights(w_host, 1);
                free(again);
            }
            vlm_ctx_free(x);
            free(wf); free(a); free(bias); free(seen); free(wq); free(wd); free(ref); free(got);
        }
}

// An F16 weight of more than 64 MiB as F32 with 9 rows: the plain C run widens it for sgemm in
// two slices (cpu-linear.c WIDEN_BYTES); the other runs take the tiles.
static void test_linear_widen_slices(void) {
    const int64_t M = 9, N = 8200, K = 2048;
    size_t  mark = vlm_arena_mark(X);
    float * wf = rand_buf(N * K), * a = rand_buf(M * K), * bias = rand_buf(N);
    void *  wq;
    float * wd = through(VLM_DTYPE_F16, wf, N * K, &wq);
    float * ref = malloc((size_t)(M * N) * sizeof(float)), * got = malloc((size_t)(M * N) * sizeof(float));
    ref_linear(a, wd, bias, ref, M, N, K);
    struct vlm_tensor w = vlm_tensor_new(X, VLM_DTYPE_F16, 2, (int64_t[]){ N, K });
    vlm_tensor_upload(X, w, wq);
    struct vlm_tensor in = vlm_tensor_from_host(X, VLM_DTYPE_F32, 2, (int64_t[]){ M, K }, a);
    struct vlm_tensor b = vlm_tensor_from_host(X, VLM_DTYPE_F32, 1, (int64_t[]){ N }, bias);
    struct vlm_tensor y = vlm_op_linear(X, in, w, &b);
    CHECK(vlm_ctx_ok(X), "linear f16 [%lld, %lld] weight: %s", (long long)N, (long long)K, X->error);
    if (vlm_ctx_ok(X)) {
        vlm_tensor_download(X, y, got);
        double e = test_nmse(got, ref, (size_t)(M * N));
        CHECK(e < NMSE_TIGHT, "linear f16 [%lld, %lld] weight: nmse %.3g", (long long)N, (long long)K, e);
    }
    vlm_arena_reset(X, mark);
    free(wf); free(a); free(bias); free(wq); free(wd); free(ref); free(got);
}

static void test_gather_copy(enum vlm_dtype wt) {
    int64_t V = 23, D = wt == VLM_DTYPE_Q4_K ? 512 : 96;
    float * tf = rand_buf(V * D);
    void *  tq;
    float * td = through(wt, tf, V * D, &tq);
    size_t  mark = vlm_arena_mark(X);
    struct vlm_tensor t = vlm_tensor_new(X, wt, 2, (int64_t[]){ V, D });
    vlm_tensor_upload(X, t, tq);
    int32_t ids[7] = { 22, 0, 5, 5, 13, 1, 21 };
    struct vlm_tensor g = vlm_op_gather(X, t, vlm_tensor_from_host(X, VLM_DTYPE_I32, 2, (int64_t[]){ 1, 7 }, ids));
    float * got = malloc((size_t)(V * D) * sizeof(float));
    CHECK(vlm_ctx_ok(X) && g.n_dims == 3 && g.shape[2] == D, "gather %s: %s", vlm_dtype_name(wt), X->error);
    if (vlm_ctx_ok(X)) {
        vlm_tensor_download(X, g, got);
        int bad = 0;
        for (int i = 0; i < 7; i++) bad += memcmp(got + i * D, td + ids[i] * D, (size_t)D * sizeof(float)) != 0;
        CHECK(bad == 0, "gather %s: %d rows differ", vlm_dtype_name(wt), bad);
    }
    // copy to F32: whole tensor, a slice of whole rows, and into a strided (transposed) F32 view
    struct vlm_tensor c = vlm_op_copy(X, t, VLM_DTYPE_F32);
    struct vlm_tensor rows = vlm_op_copy(X, vlm_tensor_slice(t, 0, 3, 11), VLM_DTYPE_F32);
    struct vlm_tensor dst_base = vlm_tensor_new(X, VLM_DTYPE_F32, 2, (int64_t[]){ D, V });
    vlm_op_copy_into(X, vlm_tensor_transpose(dst_base, 0, 1), t);
    CHECK(vlm_ctx_ok(X), "copy %s: %s", vlm_dtype_name(wt), X->error);
    if (vlm_ctx_ok(X)) {
        vlm_tensor_download(X, c, got);
        CHECK(!memcmp(got, td, (size_t)(V * D) * sizeof(float)), "copy %s -> f32", vlm_dtype_name(wt));
        vlm_tensor_download(X, rows, got);
        CHECK(!memcmp(got, td + 3 * D, (size_t)(11 * D) * sizeof(float)), "copy of rows 3..13 %s -> f32", vlm_dtype_name(wt));
        vlm_tensor_download(X, dst_base, got);
        int bad = 0;
        for (int64_t v = 0; v < V; v++)
            for (int64_t d = 0; d < D; d++) bad += got[d * V + v] != td[v * D + d];
        CHECK(bad == 0, "copy_into a transposed f32 view from %s: %d wrong", vlm_dtype_name(wt), bad);
    }
    vlm_arena_reset(X, mark);
    free(tf); free(tq); free(td); free(got);
}

// Views that are not whole rows, and conversions to block types, are refused with an error.
static void test_refusals(void) {
    struct vlm_ctx * x = vlm_ctx_new(VLM_BACKEND_CPU, 1, 16u << 20, NULL, 0);
    struct vlm_tensor q = vlm_tensor_new(x, VLM_DTYPE_Q8_0, 2, (int64_t[]){ 4, 64 });
    CHECK(vlm_tensor_transpose(q, 0, 1).n_dims == 2 && !vlm_tensor_valid(&(struct vlm_tensor){ 0 }), "transpose header");
    struct vlm_tensor qt = vlm_tensor_transpose(q, 0, 1);
    CHECK(!vlm_tensor_valid(&qt), "a transposed q8_0 view is invalid");
    CHECK(vlm_tensor_slice(q, 1, 16, 32).n_dims == 0, "a q8_0 slice inside a block is refused");
    CHECK(vlm_tensor_new(x, VLM_DTYPE_Q4_K, 2, (int64_t[]){ 2, 100 }).n_dims == 0 && !vlm_ctx_ok(x),
          "a q4_k row of 100 values is refused");
    vlm_ctx_free(x);
    x = vlm_ctx_new(VLM_BACKEND_CPU, 1, 16u << 20, NULL, 0);
    q = vlm_tensor_new(x, VLM_DTYPE_Q8_0, 2, (int64_t[]){ 4, 64 });
    struct vlm_tensor f = vlm_tensor_new(x, VLM_DTYPE_F32, 2, (int64_t[]){ 4, 64 });
    vlm_op_copy(x, f, VLM_DTYPE_Q8_0);
    CHECK(!vlm_ctx_ok(x) && strstr(x->error, "cannot convert f32 to q8_0"), "copy to q8_0 refused: %s", x->error);
    vlm_ctx_free(x);
    x = vlm_ctx_new(VLM_BACKEND_CPU, 1, 16u << 20, NULL, 0);
    q = vlm_tensor_new(x, VLM_DTYPE_Q8_0, 2, (int64_t[]){ 4, 64 });
    f = vlm_tensor_new(x, VLM_DTYPE_F32, 2, (int64_t[]){ 3, 64 });
    vlm_op_concat(x, q, q, 0);
    CHECK(!vlm_ctx_ok(x), "concat of q8_0 refused");
    vlm_ctx_free(x);
}

// Runs this test again with env NAME=1 and argument flag; true when it passed.
static bool rerun(const char * argv0, const char * env, const char * flag) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        setenv(env, "1", 1);
        execl("/proc/self/exe", argv0, flag, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(int argc, char ** argv) {
    const char * variant = argc > 1 ? argv[1] : "";
    char err[512] = "";
    if (!test_want_backend("cpu")) SKIP("cpu is not in VLM_TEST_BACKENDS");
    X = vlm_ctx_new(VLM_BACKEND_CPU, 0, 256u << 20, err, sizeof err);
    CHECK(X != NULL, "cpu context: %s", err);
    if (!X) TEST_END();
    printf("== %s kernels\n", !strcmp(variant, "--plain-c") ? "plain C" : !strcmp(variant, "--avx2") ? "AVX2 (no AVX512)"
                                                                                                  : "default");
    test_round_trips();
    for (int t = 0; t < 5; t++) {
        test_linear(WTYPES[t]);
        test_gather_copy(WTYPES[t]);
    }
    test_linear_tiles();
    test_linear_packed();
    test_linear_int8();
    test_linear_widen_slices();
    test_refusals();
    vlm_ctx_free(X);
    if (!*variant) {   // once more without AVX512, and with the plain C kernels
        CHECK(rerun(argv[0], "VLM_NO_AVX512", "--avx2"), "the run with VLM_NO_AVX512=1 failed");
        CHECK(rerun(argv[0], "VLM_NO_AVX2", "--plain-c"), "the run with VLM_NO_AVX2=1 failed");
    }
    TEST_END();
}
