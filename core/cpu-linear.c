// cpu-linear.c — the CPU linear for weights kept in their stored type: F16, BF16, Q8_0, Q4_0,
// Q4_K, and F32 (few rows; many with AVX-512). F32 / F16 / BF16 weights with few activation
// rows run as dot-product tiles (AVX2 or AVX-512; below), the 16-bit ones widened in registers;
// with AVX-512 from GEMM_ROWS_AVX512_* rows as a packed GEMM (BLIS-style loops around a 14x32
// outer-product micro-kernel, the weights widened while packed; below); from TILED_ROWS_AVX2
// rows with AVX2 only, or without AVX2, through sgemm (F16 / BF16 widened to F32 first). Block
// types as ggml's vec_dot_type: each activation row is quantized once per call (Q8_0 for Q8_0
// and Q4_0 weights, Q8_K for Q4_K) and dotted block by block in integers; F16 / BF16 weights
// dot with the F32 activations (F32 products and sums; ggml instead rounds the activations to
// F16). Threads split the weight rows into chunks; each chunk is dotted with every activation
// row, four rows at a time, so a weight block is loaded once per four rows and the chunk stays
// in cache across all of them. With many rows, Q8_0 / Q4_0 go to an 8-bit integer GEMM where the
// CPU has AVX512-VNNI, and the other types (and those without VNNI) are widened to F32 and
// multiplied by sgemm as F32 weights are.
// The kernels are plain C, AVX2 + FMA + F16C, AVX-512F for the tiles, AVX-512F/BW/VL for the
// packed GEMM and AVX512-VNNI for Q8_0 / Q4_0, chosen at run time (__builtin_cpu_supports, F16C
// through cpuid; VLM_NO_AVX512=1 stops at AVX2, VLM_NO_AVX2=1 forces plain C).
#include <cpuid.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#define THREAD_ID()    omp_get_thread_num()
#define THREAD_COUNT() omp_get_num_threads()
#else
#define THREAD_ID()    0
#define THREAD_COUNT() 1
#endif

#include "core.h"
#include "quant.h"

#define CHUNK_ROWS  16   // weight rows per work item
#define GEMM_ROWS   8    // plain C F16 / BF16 with at least this many activation rows: widen + sgemm
#define WIDEN_BYTES ((int64_t)64 << 20)   // most F32 bytes of a weight widened at once for sgemm
// Activation rows from which sgemm (F32: OpenBLAS in op_linear; F16 / BF16: widened first,
// linear_widen_gemm) takes over from the tiles with AVX2 only (VLM_NO_AVX512=1, 1 thread on a
// 2-core Zen AVX-512 machine at K, N of 768 and 3072): the tiles 3x ahead at 7 rows, 1.2x at 50,
// even at 256 and behind at 1024.
#define TILED_ROWS_AVX2 256
// With AVX-512 the tiles run below these rows and the packed GEMM (below) from them, no sgemm.
// Measured on 2 Zen 5 cores at N, K of 768 / 3072 (GFLOP/s): F32 tiles 230-245 at 512 rows
// against 215-225 packed, 205-225 at 1024 against 240-250; F16 / BF16 tiles (half the weight
// bytes) 260-365 up to 1024, even at 2048, behind at 3072 (210-295 against 270-310); OpenBLAS
// 185-205 from 512 rows on.
#define GEMM_ROWS_AVX512_F32 1024
#define GEMM_ROWS_AVX512_16  2048   // F16 / BF16

// Activation rows as a kernel reads them: row r at p + r * stride; for Q8_0 rows also the
// block scales as floats, block ib of row r at d[ib * d_stride + r] (so that four rows' scales
// load as one vector).
struct rows {
    const char *  p;
    size_t        stride;
    const float * d;
    int64_t       d_stride;
};

// Dots of one weight row w (K values) with nr (1..4) activation rows, into out[r * os].
typedef void (*dot_fn)(int64_t K, const void * w, const struct rows * a, int nr, float * out, int64_t os);

static struct rows rows_at(const struct rows * a, int r) {
    return (struct rows){ a->p + r * a->stride, a->stride, a->d ? a->d + r : NULL, a->d_stride };
}

// ---- plain C ---------------------------------------------------------------------------------

// ref: ggml/src/ggml-cpu/quants.c ggml_vec_dot_q8_0_q8_0_generic
static void dot_q8_0(int64_t K, const void * vw, const struct rows * a, int nr, float * out, int64_t os) {
    const struct vlm_block_q8_0 * x = vw;
    for (int r = 0; r < nr; r++) {
        const struct vlm_block_q8_0 * y = (const void *)(a->p + r * a->stride);
        float sumf = 0;
        for (int64_t ib = 0; ib < K / VLM_QK; ib++) {
            int sumi = 0;
            for (int j = 0; j < VLM_QK; j++) sumi += x[ib].qs[j] * y[ib].qs[j];
            sumf += sumi * (vlm_f16_to_f32(x[ib].d) * vlm_f16_to_f32(y[ib].d));
        }
        out[r * os] = sumf;
    }
}

// ref: ggml/src/ggml-cpu/quants.c ggml_vec_dot_q4_0_q8_0_generic
static void dot_q4_0(int64_t K, const void * vw, const struct rows * a, int nr, float * out, int64_t os) {
    const struct vlm_block_q4_0 * x = vw;
    for (int r = 0; r < nr; r++) {
        const struct vlm_block_q8_0 * y = (const void *)(a->p + r * a->stride);
        float sumf = 0;
        for (int64_t ib = 0; ib < K / VLM_QK; ib++) {
            int sumi0 = 0, sumi1 = 0;
            for (int j = 0; j < VLM_QK / 2; ++j) {
                const int v0 = (x[ib].qs[j] & 0x0F) - 8;
                const int v1 = (x[ib].qs[j] >> 4) - 8;
                sumi0 += v0 * y[ib].qs[j];
                sumi1 += v1 * y[ib].qs[j + VLM_QK / 2];
            }
            sumf += (sumi0 + sumi1) * vlm_f16_to_f32(x[ib].d) * vlm_f16_to_f32(y[ib].d);
        }
        out[r * os] = sumf;
    }
}

// The 8 scales (utmp[0..1] as bytes) and 8 mins (utmp[2..3]) of a Q4_K super-block.
// ref: ggml/src/ggml-cpu/quants.c ggml_vec_dot_q4_K_q8_K_generic (the kmask unpacking)
static inline void q4_K_scales(const uint8_t * scales, uint32_t utmp[4]) {
    const uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
    memcpy(utmp, scales, 12);
    utmp[3] = ((utmp[2] >> 4) & kmask2) | (((utmp[1] >> 6) & kmask3) << 4);
    const uint32_t uaux = utmp[1] & kmask1;
    utmp[1] = (utmp[2] & kmask2) | (((utmp[0] >> 6) & kmask3) << 4);
    utmp[2] = uaux;
    utmp[0] &= kmask1;
}

// ref: ggml/src/ggml-cpu/quants.c ggml_vec_dot_q4_K_q8_K_generic
static void dot_q4_K(int64_t K, const void * vw, const struct rows * a, int nr, float * out, int64_t os) {
    const struct vlm_block_q4_K * x = vw;
    for (int r = 0; r < nr; r++) {
        const struct vlm_block_q8_K * y = (const void *)(a->p + r * a->stride);
        uint32_t utmp[4];
        const uint8_t * scales = (const uint8_t *)&utmp[0], * mins = (const uint8_t *)&utmp[2];
        int8_t  aux8[VLM_QK_K];
        int16_t aux16[8];
        int32_t aux32[8];
        float   sums[8] = { 0 };
        float   sumf = 0;
        for (int64_t i = 0; i < K / VLM_QK_K; ++i) {
            const uint8_t * q4 = x[i].qs;
            const int8_t *  q8 = y[i].qs;
            memset(aux32, 0, sizeof aux32);
            int8_t * pa = aux8;
            for (int j = 0; j < VLM_QK_K / 64; ++j) {
                for (int l = 0; l < 32; ++l) pa[l] = (int8_t)(q4[l] & 0xF);
                pa += 32;
                for (int l = 0; l < 32; ++l) pa[l] = (int8_t)(q4[l] >> 4);
                pa += 32;
                q4 += 32;
            }
            q4_K_scales(x[i].scales, utmp);
            int sumi = 0;
            for (int j = 0; j < VLM_QK_K / 16; ++j) sumi += y[i].bsums[j] * mins[j / 2];
            pa = aux8;
            int is = 0;
            for (int j = 0; j < VLM_QK_K / 32; ++j) {
                int32_t scale = scales[is++];
                for (int g = 0; g < 4; g++) {
                    for (int l = 0; l < 8; ++l) aux16[l] = (int16_t)(q8[l] * pa[l]);
                    for (int l = 0; l < 8; ++l) aux32[l] += scale * aux16[l];
                    q8 += 8;
                    pa += 8;
                }
            }
            const float d = vlm_f16_to_f32(x[i].d) * y[i].d;
            for (int l = 0; l < 8; ++l) sums[l] += d * aux32[l];
            const float dmin = vlm_f16_to_f32(x[i].dmin) * y[i].d;
            sumf -= dmin * sumi;
        }
        for (int l = 0; l < 8; ++l) sumf += sums[l];
        out[r * os] = sumf;
    }
}

static void dot_f16(int64_t K, const void * vw, const struct rows * a, int nr, float * out, int64_t os) {
    const uint16_t * w = vw;
    for (int r = 0; r < nr; r++) {
        const float * y = (const float *)(a->p + r * a->stride);
        float sum = 0;
        for (int64_t k = 0; k < K; k++) sum += vlm_f16_to_f32(w[k]) * y[k];
        out[r * os] = sum;
    }
}

static void dot_bf16(int64_t K, const void * vw, const struct rows * a, int nr, float * out, int64_t os) {
    const uint16_t * w = vw;
    for (int r = 0; r < nr; r++) {
        const float * y = (const float *)(a->p + r * a->stride);
        float sum = 0;
        for (int64_t k = 0; k < K; k++) sum += vlm_bf16_to_f32(w[k]) * y[k];
        out[r * os] = sum;
    }
}

// ---- AVX2 + FMA + F16C -------------------------------------------------------------------------

// Thread t's equal share [r0, r1) of N weight rows, boundaries multiples of 8, so that no thread
// idles on a short last chunk (the widen + sgemm and the int8 GEMM paths).
static void thread_rows(int64_t N, int t, int nt, int64_t * r0, int64_t * r1) {
    *r0 = t == 0 ? 0 : (N * t / nt) & ~(int64_t)7;
    *r1 = t == nt - 1 ? N : (N * (t + 1) / nt) & ~(int64_t)7;
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define AVX2_INLINE __attribute__((target("avx2,fma,f16c"), always_inline)) static inline

// ref: ggml/src/ggml-cpu/arch/x86/quants.c hsum_float_8
AVX2_INLINE float hsum_float_8(const __m256 x) {
    __m128 res = _mm256_extractf128_ps(x, 1);
    res = _mm_add_ps(res, _mm256_castps256_ps128(x));
    res = _mm_add_ps(res, _mm_movehl_ps(res, res));
    res = _mm_add_ss(res, _mm_movehdup_ps(res));
    return _mm_cvtss_f32(res);
}

// ref: ggml/src/ggml-cpu/arch/x86/quants.c bytes_from_nibbles_32
AVX2_INLINE __m256i bytes_from_nibbles_32(const uint8_t * rsi) {
    const __m128i tmp   = _mm_loadu_si128((const __m128i *)rsi);
    const __m256i bytes = _mm256_insertf128_si256(_mm256_castsi128_si256(tmp), _mm_srli_epi16(tmp, 4), 1);
    return _mm256_and_si256(_mm256_set1_epi8(0xF), bytes);
}

// Sum of the products of |x| (u8) and sign(x) * y (i8) in 8 lanes, as floats.
// ref: ggml/src/ggml-cpu/arch/x86/quants.c mul_sum_us8_pairs_float, sum_i16_pairs_float
AVX2_INLINE __m256 mul_sum_us8_pairs_float(const __m256i ax, const __m256i sy) {
    const __m256i dot = _mm256_maddubs_epi16(ax, sy);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_set1_epi16(1), dot));
}

// Q8_0 / Q4_0 weights with nr Q8_0 activation rows: the weight block is unpacked, its signs
// taken and its scale multiplied into the rows' scales once for all rows. MULSUM(ax, sy):
// the products of |x| (u8) and sign(x) * y (i8) summed in 8 lanes, as floats (maddubs + madd
// on AVX2, one vpdpbusd with AVX512-VNNI).
// ref: ggml/src/ggml-cpu/arch/x86/quants.c ggml_vec_dot_q8_0_q8_0, ggml_vec_dot_q4_0_q8_0 (AVX2)
#define DEFINE_DOT_Q(NAME, TARGET, MULSUM)                                                                          \
    __attribute__((target(TARGET), always_inline)) static inline void NAME##_rows(                                  \
        int64_t K, const void * vw, bool q4, const struct rows * a, const int nr, float * out, int64_t os) {        \
        __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };    \
        const struct vlm_block_q8_0 * x8 = vw;                                                                      \
        const struct vlm_block_q4_0 * x4 = vw;                                                                      \
        for (int64_t ib = 0; ib < K / VLM_QK; ib++) {                                                               \
            __m256i qx;                                                                                             \
            float   dx;                                                                                             \
            if (q4) {                                                                                               \
                qx = _mm256_sub_epi8(bytes_from_nibbles_32(x4[ib].qs), _mm256_set1_epi8(8));                        \
                dx = _cvtsh_ss(x4[ib].d);                                                                           \
            } else {                                                                                                \
                qx = _mm256_loadu_si256((const __m256i *)x8[ib].qs);                                                \
                dx = _cvtsh_ss(x8[ib].d);                                                                           \
            }                                                                                                       \
            const __m256i ax = _mm256_sign_epi8(qx, qx);                                                            \
            const __m256  d  = _mm256_castps128_ps256(                                                              \
                nr == 4 ? _mm_mul_ps(_mm_set1_ps(dx), _mm_loadu_ps(a->d + ib * a->d_stride))                        \
                        : _mm_set1_ps(dx * a->d[ib * a->d_stride]));                                                \
            for (int r = 0; r < nr; r++) {                                                                          \
                const struct vlm_block_q8_0 * y = (const struct vlm_block_q8_0 *)(a->p + r * a->stride) + ib;       \
                const __m256i sy = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)y->qs), qx);                \
                const __m256  dr = nr == 1 ? _mm256_set1_ps(dx * a->d[ib * a->d_stride])                            \
                                           : _mm256_permutevar8x32_ps(d, _mm256_set1_epi32(r));                     \
                acc[r] = _mm256_fmadd_ps(dr, MULSUM(ax, sy), acc[r]);                                               \
            }                                                                                                       \
        }                                                                                                           \
        for (int r = 0; r < nr; r++) out[r * os] = hsum_float_8(acc[r]);                                            \
    }

// The row loops of a kernel over ROWS(K, w, VARIANT, rows, nr, out, os): four rows at once, else
// one by one.
#define DEFINE_DOT_Q_TYPE(NAME, TARGET, ROWS, Q4)                                                                   \
    __attribute__((target(TARGET))) static void NAME(int64_t K, const void * w, const struct rows * a, int nr,     \
                                                     float * out, int64_t os) {                                     \
        if (nr == 4) {                                                                                              \
            ROWS(K, w, Q4, a, 4, out, os);                                                                          \
            return;                                                                                                 \
        }                                                                                                           \
        for (int r = 0; r < nr; r++) {                                                                              \
            struct rows one = rows_at(a, r);                                                                        \
            ROWS(K, w, Q4, &one, 1, out + r * os, os);                                                              \
        }                                                                                                           \
    }

// ref: ggml/src/ggml-cpu/arch/x86/quants.c get_scale_shuffle_k4
AVX2_INLINE __m256i scale_shuffle_k4(int i) {
    static const uint8_t k_shuffle[256] = {
         0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
         2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3,
         4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5,
         6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7,
         8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9,
        10,11,10,11,10,11,10,11,10,11,10,11,10,11,10,11,10,11,10,11,10,11,10,11,10,11,10,11,10,11,10,11,
        12,13,12,13,12,13,12,13,12,13,12,13,12,13,12,13,12,13,12,13,12,13,12,13,12,13,12,13,12,13,12,13,
        14,15,14,15,14,15,14,15,14,15,14,15,14,15,14,15,14,15,14,15,14,15,14,15,14,15,14,15,14,15,14,15,
    };
    return _mm256_loadu_si256((const __m256i *)k_shuffle + i);
}

// Q4_K weights with nr Q8_K activation rows: nibbles and scales unpacked once for all rows.
// ref: ggml/src/ggml-cpu/arch/x86/quants.c ggml_vec_dot_q4_K_q8_K (AVX2)
AVX2_INLINE void dot_q4_K_rows_avx2(int64_t K, const void * vw, const struct rows * a, const int nr, float * out,
                                    int64_t os) {
    const struct vlm_block_q4_K * x = vw;
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
    __m128 acc_m[4] = { _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps() };
    for (int64_t i = 0; i < K / VLM_QK_K; ++i) {
        uint32_t utmp[4];
        q4_K_scales(x[i].scales, utmp);
        const __m256i mins_and_scales = _mm256_cvtepu8_epi16(_mm_set_epi32((int)utmp[3], (int)utmp[2], (int)utmp[1], (int)utmp[0]));
        const __m128i sc128  = _mm256_extracti128_si256(mins_and_scales, 0);
        const __m256i scales = _mm256_insertf128_si256(_mm256_castsi128_si256(sc128), sc128, 1);
        const float   dx = _cvtsh_ss(x[i].d), dminx = _cvtsh_ss(x[i].dmin);
        __m256i sumi[4] = { _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256() };
        const uint8_t * q4 = x[i].qs;
        for (int j = 0; j < VLM_QK_K / 64; ++j) {
            const __m256i scale_l = _mm256_shuffle_epi8(scales, scale_shuffle_k4(2 * j + 0));
            const __m256i scale_h = _mm256_shuffle_epi8(scales, scale_shuffle_k4(2 * j + 1));
            const __m256i q4bits  = _mm256_loadu_si256((const __m256i *)q4);
            q4 += 32;
            const __m256i q4l = _mm256_and_si256(q4bits, m4);
            const __m256i q4h = _mm256_and_si256(_mm256_srli_epi16(q4bits, 4), m4);
            for (int r = 0; r < nr; r++) {
                const int8_t * q8 = ((const struct vlm_block_q8_K *)(a->p + r * a->stride) + i)->qs + 64 * j;
                __m256i p16l = _mm256_maddubs_epi16(q4l, _mm256_loadu_si256((const __m256i *)q8));
                __m256i p16h = _mm256_maddubs_epi16(q4h, _mm256_loadu_si256((const __m256i *)(q8 + 32)));
                p16l = _mm256_madd_epi16(scale_l, p16l);
                p16h = _mm256_madd_epi16(scale_h, p16h);
                sumi[r] = _mm256_add_epi32(sumi[r], _mm256_add_epi32(p16l, p16h));
            }
        }
        for (int r = 0; r < nr; r++) {
            const struct vlm_block_q8_K * y = (const struct vlm_block_q8_K *)(a->p + r * a->stride) + i;
            const __m256i q8sums = _mm256_loadu_si256((const __m256i *)y->bsums);
            const __m128i q8s  = _mm_hadd_epi16(_mm256_extracti128_si256(q8sums, 0), _mm256_extracti128_si256(q8sums, 1));
            const __m128i prod = _mm_madd_epi16(_mm256_extracti128_si256(mins_and_scales, 1), q8s);
            acc_m[r] = _mm_fmadd_ps(_mm_set1_ps(-y->d * dminx), _mm_cvtepi32_ps(prod), acc_m[r]);
            acc[r]   = _mm256_fmadd_ps(_mm256_set1_ps(y->d * dx), _mm256_cvtepi32_ps(sumi[r]), acc[r]);
        }
    }
    for (int r = 0; r < nr; r++) {
        __m128 m = _mm_add_ps(acc_m[r], _mm_movehl_ps(acc_m[r], acc_m[r]));
        m = _mm_add_ss(m, _mm_movehdup_ps(m));
        out[r * os] = hsum_float_8(acc[r]) + _mm_cvtss_f32(m);
    }
}

AVX2 static void dot_q4_K_avx2(int64_t K, const void * w, const struct rows * a, int nr, float * out, int64_t os) {
    if (nr == 4) {
        dot_q4_K_rows_avx2(K, w, a, 4, out, os);
        return;
    }
    for (int r = 0; r < nr; r++) {
        struct rows one = rows_at(a, r);
        dot_q4_K_rows_avx2(K, w, &one, 1, out + r * os, os);
    }
}

// One activation row to Q8_0 as ggml's x86 build does it for its vec_dot (127 / amax as the
// multiplier, round half to even: so the quantized activations are llama.cpp's), plus each
// block's scale as a float in d[ib * d_stride] unless d is NULL.
// ref: ggml/src/ggml-cpu/arch/x86/quants.c quantize_row_q8_0 (AVX2)
AVX2 static void quantize_row_q8_0_avx2(const float * x, struct vlm_block_q8_0 * y, int64_t K, float * d,
                                        int64_t d_stride) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t ib = 0; ib < K / VLM_QK; ib++, x += VLM_QK) {
        __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8), v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
        __m256 amax = _mm256_andnot_ps(sign_bit, v0);
        amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_bit, v1));
        amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_bit, v2));
        amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_bit, v3));
        __m128 max4 = _mm_max_ps(_mm256_extractf128_ps(amax, 1), _mm256_castps256_ps128(amax));
        max4 = _mm_max_ps(max4, _mm_movehl_ps(max4, max4));
        max4 = _mm_max_ss(max4, _mm_movehdup_ps(max4));
        const float mx = _mm_cvtss_f32(max4);
        y[ib].d = (uint16_t)_cvtss_sh(mx / 127.f, 0);
        if (d) d[ib * d_stride] = _cvtsh_ss(y[ib].d);
        const __m256 mul = _mm256_set1_ps(mx != 0.0f ? 127.f / mx : 0.0f);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        i0 = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));   // bytes in lane order 0 4 1 5 2 6 3 7
        _mm256_storeu_si256((__m256i *)y[ib].qs, _mm256_permutevar8x32_epi32(i0, perm));
    }
}

// Weight rows widened to F32 for sgemm (n values): F16 / BF16 eight at a time, Q8_0 a block
// (32) at a time; exact, as dtype.c's plain C widening.
AVX2 static void widen_f16_avx2(const void * src, float * dst, int64_t n) {
    const uint16_t * h = src;
    int64_t          i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < n; i++) dst[i] = _cvtsh_ss(h[i]);
}

AVX2 static void widen_bf16_avx2(const void * src, float * dst, int64_t n) {
    const uint16_t * h = src;
    int64_t          i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(
                                      _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(h + i))), 16)));
    for (; i < n; i++) dst[i] = vlm_bf16_to_f32(h[i]);
}

AVX2 static void widen_q8_0_avx2(const void * src, float * dst, int64_t n) {
    const struct vlm_block_q8_0 * x = src;
    for (int64_t ib = 0; ib < n / VLM_QK; ib++, dst += VLM_QK) {
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(x[ib].d));
        for (int j = 0; j < VLM_QK; j += 8) {
            const __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(x[ib].qs + j)));
            _mm256_storeu_ps(dst + j, _mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
        }
    }
}

#define TARGET_AVX2 "avx2,fma,f16c"
#define TARGET_VNNI "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni"

__attribute__((target(TARGET_VNNI), always_inline)) static inline __m256 mul_sum_us8_pairs_float_vnni(const __m256i ax,
                                                                                                       const __m256i sy) {
    return _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, sy));
}

DEFINE_DOT_Q(dot_q_avx2, TARGET_AVX2, mul_sum_us8_pairs_float)
DEFINE_DOT_Q(dot_q_vnni, TARGET_VNNI, mul_sum_us8_pairs_float_vnni)
DEFINE_DOT_Q_TYPE(dot_q8_0_avx2, TARGET_AVX2, dot_q_avx2_rows, false)
DEFINE_DOT_Q_TYPE(dot_q4_0_avx2, TARGET_AVX2, dot_q_avx2_rows, true)
DEFINE_DOT_Q_TYPE(dot_q8_0_vnni, TARGET_VNNI, dot_q_vnni_rows, false)
DEFINE_DOT_Q_TYPE(dot_q4_0_vnni, TARGET_VNNI, dot_q_vnni_rows, true)

// ---- F32 / F16 / BF16 weights: dot-product tiles (AVX2, AVX-512) -------------------------------
// C[M, N] = A[M, K] @ W[N, K]^T for few rows, on W as stored ([N, K] rows, no packed copy): a
// tile of RM activation rows x RN weight rows keeps one vector accumulator per output and walks
// K a vector at a time, RM + RN loads for RM * RN FMAs; F16 / BF16 weights are widened in
// registers (F16C; BF16 by a shift). Each output is the same lane-wise sum along K, then the
// horizontal sum, then a scalar K tail, whatever its tile: results do not depend on M, the
// tiling or the threads. Tiles (RM x RN): AVX2 (16 registers) 3x4, 2x6, 1x12; AVX-512 (32;
// cpu_level 2) 4x6, 3x8, 2x12, 1x16. Weight rows past a thread's share repeat its last row and
// are not stored.
// ref: ggml/src/ggml-cpu/llamafile/sgemm.cpp tinyBLAS::gemm<RM, RN> (accumulators per output,
// horizontal sums at the end, no packing)

#define TARGET_AVX512 "avx2,fma,f16c,avx512f"
#define TILE_BLOCK 48   // weight rows per cache block: a multiple of every RN

struct tiled {
    int64_t       M, K, lda, N;
    const float * A;
    const char *  W;
    size_t        w_row;
    const float * bias;
    float *       C;
};

// Weight k of row w as F32 (the scalar K tail).
static inline float weight_at(enum vlm_dtype wt, const char * w, int64_t k) {
    const uint16_t * h = (const uint16_t *)w;
    return wt == VLM_DTYPE_F32 ? ((const float *)w)[k] : wt == VLM_DTYPE_F16 ? vlm_f16_to_f32(h[k]) : vlm_bf16_to_f32(h[k]);
}

AVX2_INLINE __m256 load8_avx2(enum vlm_dtype wt, const char * w, int64_t k) {
    if (wt == VLM_DTYPE_F32) return _mm256_loadu_ps((const float *)w + k);
    const __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)w + k));
    return wt == VLM_DTYPE_F16 ? _mm256_cvtph_ps(h) : _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

__attribute__((target(TARGET_AVX512), always_inline)) static inline __m512 load16_avx512(enum vlm_dtype wt, const char * w,
                                                                                         int64_t k) {
    if (wt == VLM_DTYPE_F32) return _mm512_loadu_ps((const float *)w + k);
    const __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)w + k));
    return wt == VLM_DTYPE_F16 ? _mm512_cvtph_ps(h) : _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

__attribute__((target(TARGET_AVX512), always_inline)) static inline float hsum_avx512(__m512 v) {
    return _mm512_reduce_add_ps(v);
}

// One tile: activation rows a[0..RM), weight rows w[0..RN); outputs of weight rows j < nv go to
// c[i * ldc + j] (+ bias[j]). RM, RN and wt are constants where it is inlined.
#define DEFINE_TILE(NAME, TARGET, V, VL, ZERO, LOADA, LOADW, FMA, HSUM)                                               \
    __attribute__((target(TARGET), always_inline)) static inline void NAME(                                         \
        const int RM, const int RN, const enum vlm_dtype wt, int64_t K, const float * const * a,                     \
        const char * const * w, int nv, const float * bias, float * c, int64_t ldc) {                                \
        V acc[4][16];                                                                                                \
        _Pragma("GCC unroll 4") for (int i = 0; i < RM; i++)                                                        \
            _Pragma("GCC unroll 16") for (int j = 0; j < RN; j++) acc[i][j] = ZERO;                                  \
        int64_t k = 0;                                                                                               \
        for (; k + VL <= K; k += VL) {                                                                               \
            V av[4];                                                                                                 \
            _Pragma("GCC unroll 4") for (int i = 0; i < RM; i++) av[i] = LOADA(a[i] + k);                            \
            _Pragma("GCC unroll 16") for (int j = 0; j < RN; j++) {                                                  \
                const V wv = LOADW(wt, w[j], k);                                                                     \
                _Pragma("GCC unroll 4") for (int i = 0; i < RM; i++) acc[i][j] = FMA(av[i], wv, acc[i][j]);          \
            }                                                                                                        \
        }                                                                                                            \
        _Pragma("GCC unroll 4") for (int i = 0; i < RM; i++)                                                        \
            _Pragma("GCC unroll 16") for (int j = 0; j < RN; j++) {                                                  \
                if (j >= nv) continue;                                                                               \
                float s = HSUM(acc[i][j]);                                                                           \
                for (int64_t t = k; t < K; t++) s += a[i][t] * weight_at(wt, w[j], t);                               \
                c[i * ldc + j] = bias ? s + bias[j] : s;                                                             \
            }                                                                                                        \
    }

DEFINE_TILE(tile_avx2, TARGET_AVX2, __m256, 8, _mm256_setzero_ps(), _mm256_loadu_ps, load8_avx2, _mm256_fmadd_ps,
            hsum_float_8)
DEFINE_TILE(tile_avx512, TARGET_AVX512, __m512, 16, _mm512_setzero_ps(), _mm512_loadu_ps, load16_avx512,
            _mm512_fmadd_ps, hsum_avx512)

// Weight rows [r0, r1) against all M activation rows, in blocks of TILE_BLOCK weight rows (kept in
// cache across the activation rows); TILE_CASE(..., RM, RN) runs the RM x RN tiles of rm = RM rows.
#define TILE_CASE(TILE, WT, RM, RN)                                                                                  \
    case RM:                                                                                                         \
        for (int64_t n = b0; n < b1; n += RN) {                                                                      \
            const char * w[RN];                                                                                      \
            for (int j = 0; j < RN; j++) w[j] = g->W + (size_t)(n + j < b1 ? n + j : b1 - 1) * g->w_row;             \
            const int nv = b1 - n < RN ? (int)(b1 - n) : RN;                                                         \
            TILE(RM, RN, WT, g->K, a, w, nv, g->bias ? g->bias + n : NULL, g->C + m0 * g->N + n, g->N);              \
        }                                                                                                            \
        break;
#define DEFINE_TILED(NAME, TARGET, RM_MAX, ...)                                                                      \
    __attribute__((target(TARGET))) static void NAME(const struct tiled * g, int64_t r0, int64_t r1) {              \
        for (int64_t b0 = r0; b0 < r1; b0 += TILE_BLOCK) {                                                           \
            const int64_t b1 = b0 + TILE_BLOCK < r1 ? b0 + TILE_BLOCK : r1;                                          \
            for (int64_t m0 = 0; m0 < g->M;) {                                                                       \
                const int     rm = g->M - m0 < RM_MAX ? (int)(g->M - m0) : RM_MAX;                                   \
                const float * a[4];                                                                                  \
                for (int i = 0; i < rm; i++) a[i] = g->A + (m0 + i) * g->lda;                                        \
                switch (rm) { __VA_ARGS__ }                                                                          \
                m0 += rm;                                                                                            \
            }                                                                                                        \
        }                                                                                                            \
    }
#define TILES_AVX2(WT)   TILE_CASE(tile_avx2, WT, 3, 4) TILE_CASE(tile_avx2, WT, 2, 6) TILE_CASE(tile_avx2, WT, 1, 12)
#define TILES_AVX512(WT) TILE_CASE(tile_avx512, WT, 4, 6) TILE_CASE(tile_avx512, WT, 3, 8) \
                         TILE_CASE(tile_avx512, WT, 2, 12) TILE_CASE(tile_avx512, WT, 1, 16)

DEFINE_TILED(tiled_f32_avx2, TARGET_AVX2, 3, TILES_AVX2(VLM_DTYPE_F32))
DEFINE_TILED(tiled_f16_avx2, TARGET_AVX2, 3, TILES_AVX2(VLM_DTYPE_F16))
DEFINE_TILED(tiled_bf16_avx2, TARGET_AVX2, 3, TILES_AVX2(VLM_DTYPE_BF16))
DEFINE_TILED(tiled_f32_avx512, TARGET_AVX512, 4, TILES_AVX512(VLM_DTYPE_F32))
DEFINE_TILED(tiled_f16_avx512, TARGET_AVX512, 4, TILES_AVX512(VLM_DTYPE_F16))
DEFINE_TILED(tiled_bf16_avx512, TARGET_AVX512, 4, TILES_AVX512(VLM_DTYPE_BF16))
#undef TILE_CASE
#undef TILES_AVX2
#undef TILES_AVX512

// ---- F32 / F16 / BF16 weights with many rows: packed GEMM (AVX-512) ---------------------------
// C[M, N] = A[M, K] @ W[N, K]^T (+ bias) from GEMM_ROWS_AVX512_* activation rows, BLIS's loops:
// threads split the rows of A (multiples of GEMM_MR) and each runs, on its own packed copies,
//   for each block of GEMM_NC weight rows and GEMM_KC values of K:
//     pack that W block as panels [kc][GEMM_NR] (F16 / BF16 widened here: one kernel for all)
//     for each block of GEMM_MC activation rows: pack it as panels [kc][GEMM_MR], then
//       for each A panel (kept in L1), for each W panel (from L2): the micro-kernel.
// The micro-kernel is an outer product: per k two vector loads of the W panel (32 weight rows),
// GEMM_MR broadcasts of A, 2 * GEMM_MR FMAs into 28 accumulators (zmm registers), added into C
// (with the bias on the first K block) after kc steps; rows and columns past M, N are zero in
// the panels and not stored. Each output is a sequential FMA sum over k within a K block and the
// sum of the blocks in K order, whatever M, the tiling or the threads (but not the tiles' sum).
// Weights are packed per call (O(N K) per thread, against O(M N K / threads) FMAs); the threads
// pack the same W blocks rather than wait for each other (barriers cost more on a busy machine).
// Blocks measured on a 2-core Zen 5 (L1 48 KiB, L2 1 MiB): this loop order (A panel in L1) with
// W blocks of 768 x 256 ahead of BLIS's usual W panel in L1 with the whole W in L3, 270-300
// against 220-270 GFLOP/s, KC 192, 384 no better.
// ref: Goto & van de Geijn, "Anatomy of High-Performance Matrix Multiplication" (2008); BLIS's
// five loops around the micro-kernel (Van Zee & van de Geijn 2015)
#define GEMM_MR 14    // activation rows per micro-tile (broadcasts)
#define GEMM_NR 32    // weight rows per micro-tile (two zmm)
#ifndef GEMM_KC
#define GEMM_KC 256   // K per block: an A panel is GEMM_KC * GEMM_MR * 4 = 14 KiB (L1)
#endif
#ifndef GEMM_MC
#define GEMM_MC 448   // activation rows packed at once, a multiple of GEMM_MR
#endif
#ifndef GEMM_NC
#define GEMM_NC 768   // weight rows per block, a multiple of GEMM_NR: 768 KiB of W (L2)
#endif

struct packed_gemm {
    int64_t        M, N, K, lda;
    const float *  A;
    const char *   W;
    size_t         w_row;
    enum vlm_dtype wt;
    const float *  bias;
    float *        C;
};

#define TARGET_GEMM "avx2,fma,f16c,avx512f,avx512vl,avx512bw"   // cpu_level 2

// 16 values of row w from k (only the lanes of mask m, the others zero), widened to F32.
__attribute__((target(TARGET_GEMM), always_inline)) static inline __m512 gemm_load16(enum vlm_dtype wt, const char * w,
                                                                                     int64_t k, __mmask16 m) {
    if (wt == VLM_DTYPE_F32) return _mm512_maskz_loadu_ps(m, (const float *)w + k);
    const __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)w + k);
    return wt == VLM_DTYPE_F16 ? _mm512_cvtph_ps(h) : _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// 16 rows r[i] (16 values each) transposed in registers: out[c] lane i = r[i] lane c. Pairs of
// rows interleaved, then pairs of pairs, then the 128-bit lanes of four groups of four rows.
__attribute__((target(TARGET_GEMM), always_inline)) static inline void gemm_transpose16(const __m512 r[16], __m512 out[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i]     = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);   // per 128-bit lane: a0 b0 a1 b1
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);   // a2 b2 a3 b3
    }
    for (int g = 0; g < 4; g++) {   // rows 4g..4g+3, per 128-bit lane L: column 4L + c in u[4g + c]
        const __m512d t0 = _mm512_castps_pd(t[4 * g]), t1 = _mm512_castps_pd(t[4 * g + 1]);
        const __m512d t2 = _mm512_castps_pd(t[4 * g + 2]), t3 = _mm512_castps_pd(t[4 * g + 3]);
        u[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    for (int c = 0; c < 4; c++) {   // column 4L + c: lane L of u[c], u[4 + c], u[8 + c], u[12 + c]
        const __m512 v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88), v1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);
        const __m512 v2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88), v3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
        out[c]      = _mm512_shuffle_f32x4(v0, v2, 0x88);
        out[4 + c]  = _mm512_shuffle_f32x4(v1, v3, 0x88);
        out[8 + c]  = _mm512_shuffle_f32x4(v0, v2, 0xDD);
        out[12 + c] = _mm512_shuffle_f32x4(v1, v3, 0xDD);
    }
}

// Rows rows[0..nr) (nr <= 16; stored as wt; the others zero) x K [k0, k0 + kc) transposed into
// dst[k * ld + i] for i < 16 in mask (the panel's width: GEMM_NR / 2 or GEMM_MR).
__attribute__((target(TARGET_GEMM), always_inline)) static inline void gemm_pack16(enum vlm_dtype wt, const char * const * rows,
                                                                                   int nr, int64_t k0, int64_t kc, float * dst,
                                                                                   int64_t ld, __mmask16 mask) {
    for (int64_t k = 0; k < kc; k += 16) {
        const int       nk = kc - k < 16 ? (int)(kc - k) : 16;
        const __mmask16 km = nk == 16 ? 0xFFFF : (__mmask16)((1u << nk) - 1);
        __m512          r[16], out[16];
        for (int i = 0; i < 16; i++) r[i] = i < nr ? gemm_load16(wt, rows[i], k0 + k, km) : _mm512_setzero_ps();
        gemm_transpose16(r, out);
        for (int c = 0; c < nk; c++) _mm512_mask_storeu_ps(dst + (k + c) * ld, mask, out[c]);
    }
}

// W rows [n0, n0 + nn) x K [k0, k0 + kc) as panels wp[p][k][GEMM_NR], widened to F32; rows past
// nn zero.
__attribute__((target(TARGET_GEMM))) static void gemm_pack_w(const struct packed_gemm * g, int64_t n0, int64_t nn,
                                                             int64_t k0, int64_t kc, float * wp) {
    for (int64_t p = 0; p < nn; p += GEMM_NR) {
        for (int h = 0; h < GEMM_NR; h += 16) {
            const char * rows[16];
            const int    nr = nn - p - h < 0 ? 0 : nn - p - h < 16 ? (int)(nn - p - h) : 16;
            for (int i = 0; i < nr; i++) rows[i] = g->W + (size_t)(n0 + p + h + i) * g->w_row;
            gemm_pack16(g->wt, rows, nr, k0, kc, wp + (p / GEMM_NR) * kc * GEMM_NR + h, GEMM_NR, 0xFFFF);
        }
    }
}

// A rows [m0, m0 + mm) x K [k0, k0 + kc) as panels ap[p][k][GEMM_MR]; rows past mm zero.
__attribute__((target(TARGET_GEMM))) static void gemm_pack_a(const struct packed_gemm * g, int64_t m0, int64_t mm,
                                                             int64_t k0, int64_t kc, float * ap) {
    for (int64_t p = 0; p < mm; p += GEMM_MR) {
        const char * rows[16];
        const int    nr = mm - p < GEMM_MR ? (int)(mm - p) : GEMM_MR;
        for (int i = 0; i < nr; i++) rows[i] = (const char *)(g->A + (m0 + p + i) * g->lda);
        gemm_pack16(VLM_DTYPE_F32, rows, nr, k0, kc, ap + (p / GEMM_MR) * kc * GEMM_MR, GEMM_MR, (1u << GEMM_MR) - 1);
    }
}

// One GEMM_MR x GEMM_NR tile over kc: c[i * ldc + j] (+)= sum_k ap[k][i] * wp[k][j] for i < mr and
// the columns in masks m0 (j < 16), m1 (16 <= j < 32); first: c is set (plus bias if not NULL).
__attribute__((target(TARGET_GEMM))) static void gemm_micro_avx512(int64_t kc, const float * restrict ap,
                                                                     const float * restrict wp, float * c, int64_t ldc,
                                                                     int mr, __mmask16 m0, __mmask16 m1, bool first,
                                                                     const float * bias) {
    __m512 acc[GEMM_MR][2];
    _Pragma("GCC unroll 14") for (int i = 0; i < GEMM_MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; k++, ap += GEMM_MR, wp += GEMM_NR) {
        const __m512 w0 = _mm512_load_ps(wp), w1 = _mm512_load_ps(wp + 16);
        _Pragma("GCC unroll 14") for (int i = 0; i < GEMM_MR; i++) {
            const __m512 a = _mm512_set1_ps(ap[i]);
            acc[i][0] = _mm512_fmadd_ps(a, w0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(a, w1, acc[i][1]);
        }
    }
    const __m512 b0 = first && bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
    const __m512 b1 = first && bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
    _Pragma("GCC unroll 14") for (int i = 0; i < GEMM_MR; i++) {
        if (i >= mr) break;
        float * ci = c + i * ldc;
        const __m512 c0 = first ? b0 : _mm512_maskz_loadu_ps(m0, ci), c1 = first ? b1 : _mm512_maskz_loadu_ps(m1, ci + 16);
        _mm512_mask_storeu_ps(ci, m0, _mm512_add_ps(acc[i][0], c0));
        _mm512_mask_storeu_ps(ci + 16, m1, _mm512_add_ps(acc[i][1], c1));
    }
}

// Activation rows [r0, r1) of the product, with this thread's packing buffers.
__attribute__((target(TARGET_GEMM))) static void gemm_rows_avx512(const struct packed_gemm * g, int64_t r0, int64_t r1,
                                                                    float * wp, float * ap) {
    for (int64_t jc = 0; jc < g->N; jc += GEMM_NC) {
        const int64_t nc = g->N - jc < GEMM_NC ? g->N - jc : GEMM_NC;
        for (int64_t pc = 0; pc < g->K; pc += GEMM_KC) {
            const int64_t kc = g->K - pc < GEMM_KC ? g->K - pc : GEMM_KC;
            gemm_pack_w(g, jc, nc, pc, kc, wp);
            for (int64_t ic = r0; ic < r1; ic += GEMM_MC) {
                const int64_t mc = r1 - ic < GEMM_MC ? r1 - ic : GEMM_MC;
                gemm_pack_a(g, ic, mc, pc, kc, ap);
                for (int64_t ir = 0; ir < mc; ir += GEMM_MR) {   // an A panel (L1) against all W panels (L2)
                    const int mr = mc - ir < GEMM_MR ? (int)(mc - ir) : GEMM_MR;
                    for (int64_t jr = 0; jr < nc; jr += GEMM_NR) {
                        const int       nr = nc - jr < GEMM_NR ? (int)(nc - jr) : GEMM_NR;
                        const __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
                        const __mmask16 m1 = nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
                        gemm_micro_avx512(kc, ap + (ir / GEMM_MR) * kc * GEMM_MR, wp + (jr / GEMM_NR) * kc * GEMM_NR,
                                          g->C + (ic + ir) * g->N + jc + jr, g->N, mr, m0, m1, pc == 0,
                                          g->bias ? g->bias + jc + jr : NULL);
                    }
                }
            }
        }
    }
}

static void * gemm_buffer(size_t floats) { return aligned_alloc(64, (floats * sizeof(float) + 63) & ~(size_t)63); }

static bool linear_packed_gemm(struct vlm_ctx * x, int64_t M, int64_t N, int64_t K, const float * A, int64_t lda,
                               enum vlm_dtype wtype, const void * W, const float * bias, float * C) {
    const struct packed_gemm g = { M, N, K, lda, A, W, vlm_dtype_nbytes(wtype, K), wtype, bias, C };
    const int64_t nc = N < GEMM_NC ? (N + GEMM_NR - 1) / GEMM_NR * GEMM_NR : GEMM_NC;
    const int64_t panels = (M + GEMM_MR - 1) / GEMM_MR;
    const int     nt = panels < x->n_threads ? (int)panels : x->n_threads;
    bool          oom = false;
    #pragma omp parallel num_threads(nt)
    {
        const int t = THREAD_ID(), n = THREAD_COUNT();
        // this thread's rows: an equal share of the GEMM_MR-row panels
        const int64_t r0 = panels * t / n * GEMM_MR, r1 = panels * (t + 1) / n * GEMM_MR < M ? panels * (t + 1) / n * GEMM_MR : M;
        float * wp = gemm_buffer((size_t)(nc * GEMM_KC)), * ap = gemm_buffer((size_t)GEMM_MC * GEMM_KC);
        if (!wp || !ap) {
            #pragma omp atomic write
            oom = true;
        } else if (r1 > r0) {
            gemm_rows_avx512(&g, r0, r1, wp, ap);
        }
        free(wp);
        free(ap);
    }
    if (oom) vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "cpu: out of memory for packed GEMM panels");
    return !oom;
}

// ---- Q8_0 / Q4_0 GEMM in 8-bit integers (AVX512-VNNI) -----------------------------------------
// From VLM_LINEAR_QUANT_GEMM_ROWS activation rows. The activation rows are quantized to Q8_0
// once per product, as the one-row path does, and kept as plain rows: qs [M, K] int8, block
// scales [M, nb] and the offsets below. The weights go through in strips of 32 rows (two panels
// of 16), each packed once at load (vlm_cpu_pack_weight, below: the weights quantized at load)
// or else by the thread that owns it, per product, into the layout vpdpbusd wants: per block and
// panel, 8 vectors of 16 rows x 4 bytes (row i's bytes 4s .. 4s+3 of the block in lane i of
// vector s), as unsigned bytes w + 128, and the 16 rows' scales as floats. A micro-tile of
// 4 activation rows x 32 weight rows then takes, per block, 8 x 2 vector loads of the strip and
// 8 x 4 four-byte broadcasts of the activation rows (the signed operand), 64 vpdpbusd into 8
// integer accumulators that start at the block's offset -128 * sum(a) (taking back the +128 of
// the weights), then per accumulator one conversion, one product of the scales and one FMA:
// 88 vector operations per 4096 multiply-adds (the per-row-tile kernel this replaces took 160),
// the 16 outputs of a row and panel side by side, stored as one vector into C's row.
// 2 Zen 5 cores, Q8_0 (GOP/s, this kernel against the one before): 713 / 412 at 50 x 3072 x 768,
// 879 / 172 at 50 x 768 x 3072, 990 / 724 at 4096 x 2304 x 768, 932 / 579 at 4096 x 768 x 3072.
// ref: oneDNN's VNNI GEMM (weights in 16 x 4-byte panels, broadcast activations);
//      ggml/src/ggml-cpu/llamafile/sgemm.cpp tinyBLAS_Q0_AVX (per-block integer dot, then the
//      product of the block scales)

#define Q8_MR    4    // activation rows per micro-tile
#define Q8_STRIP 32   // weight rows per strip: two panels of 16 (one per 32-bit lane)
#define Q8_GROUPS (VLM_QK / 4)   // four-byte groups per block: the vectors of a block and panel

// The quantized activation rows.
struct q8_rows {
    const int8_t *  q;   // [M, K]
    const float *   d;   // [M, nb] block scales
    const int32_t * c;   // [M, nb] -128 * sum of the block's values
};

// Weight rows [n0, n0 + 32) (rows past N as zeros) packed for the micro-kernel: wp [nb][2][8]
// vectors of 64 bytes, wd [nb][2][16] scales.
__attribute__((target(TARGET_VNNI))) static void pack_strip_q8(const char * W, size_t w_row, bool q4, int64_t N,
                                                                 int64_t n0, int64_t nb, uint8_t * wp, float * wd) {
    const __m256i bias = _mm256_set1_epi8((char)0x80);
    for (int64_t b = 0; b < nb; b++)
        for (int q = 0; q < 2; q++) {
            __m256i r[16];   // the 32 signed bytes of block b of each row of the panel
            for (int i = 0; i < 16; i++) {
                const int64_t n = n0 + q * 16 + i;
                float         d = 0.0f;
                r[i] = _mm256_setzero_si256();
                if (n < N && q4) {
                    const struct vlm_block_q4_0 * x = (const struct vlm_block_q4_0 *)(W + (size_t)n * w_row) + b;
                    r[i] = _mm256_sub_epi8(bytes_from_nibbles_32(x->qs), _mm256_set1_epi8(8));
                    d = _cvtsh_ss(x->d);
                } else if (n < N) {
                    const struct vlm_block_q8_0 * x = (const struct vlm_block_q8_0 *)(W + (size_t)n * w_row) + b;
                    r[i] = _mm256_loadu_si256((const __m256i *)x->qs);
                    d = _cvtsh_ss(x->d);
                }
                r[i] = _mm256_xor_si256(r[i], bias);
                wd[(b * 2 + q) * 16 + i] = d;
            }
            // two 8 x 8 transposes of 4-byte groups: column s of rows 0-7 and of rows 8-15
            uint8_t * out = wp + (size_t)(b * 2 + q) * Q8_GROUPS * 64;
            for (int h = 0; h < 2; h++) {
                const __m256i * x = r + 8 * h;
                const __m256i t0 = _mm256_unpacklo_epi32(x[0], x[1]), t1 = _mm256_unpackhi_epi32(x[0], x[1]);
                const __m256i t2 = _mm256_unpacklo_epi32(x[2], x[3]), t3 = _mm256_unpackhi_epi32(x[2], x[3]);
                const __m256i t4 = _mm256_unpacklo_epi32(x[4], x[5]), t5 = _mm256_unpackhi_epi32(x[4], x[5]);
                const __m256i t6 = _mm256_unpacklo_epi32(x[6], x[7]), t7 = _mm256_unpackhi_epi32(x[6], x[7]);
                const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
                const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
                const __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
                const __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
                const __m256i col[8] = {
                    _mm256_permute2x128_si256(u0, u4, 0x20), _mm256_permute2x128_si256(u1, u5, 0x20),
                    _mm256_permute2x128_si256(u2, u6, 0x20), _mm256_permute2x128_si256(u3, u7, 0x20),
                    _mm256_permute2x128_si256(u0, u4, 0x31), _mm256_permute2x128_si256(u1, u5, 0x31),
                    _mm256_permute2x128_si256(u2, u6, 0x31), _mm256_permute2x128_si256(u3, u7, 0x31),
                };
                for (int s = 0; s < Q8_GROUPS; s++) _mm256_storeu_si256((__m256i *)(out + s * 64 + h * 32), col[s]);
            }
        }
}

// f[r][q] = the dots of activation rows m0 + r with the strip's panel q (16 weight rows per vector).
#define Q8_ROWS(X) X(0) X(1) X(2) X(3)
__attribute__((target(TARGET_VNNI), always_inline)) static inline void micro_q8(int64_t nb, int64_t K,
                                                                                 const uint8_t * wp, const float * wd,
                                                                                 const struct q8_rows * a, int64_t m0,
                                                                                 __m512 f[Q8_MR][2]) {
#define Q8_DECL(r)                                                                                   \
    const int8_t *  aq##r = a->q + (m0 + r) * K;                                                     \
    const float *   ad##r = a->d + (m0 + r) * nb;                                                    \
    const int32_t * ac##r = a->c + (m0 + r) * nb;                                                    \
    __m512          f##r##0 = _mm512_setzero_ps(), f##r##1 = _mm512_setzero_ps();
    Q8_ROWS(Q8_DECL)
#undef Q8_DECL
    for (int64_t b = 0; b < nb; b++, wp += 2 * Q8_GROUPS * 64, wd += 32) {
#define Q8_INIT(r) __m512i i##r##0 = _mm512_set1_epi32(ac##r[b]), i##r##1 = i##r##0;
        Q8_ROWS(Q8_INIT)
#undef Q8_INIT
        _Pragma("GCC unroll 8") for (int s = 0; s < Q8_GROUPS; s++) {
            const __m512i w0 = _mm512_load_si512((const void *)(wp + s * 64));
            const __m512i w1 = _mm512_load_si512((const void *)(wp + (Q8_GROUPS + s) * 64));
#define Q8_DOT(r)                                                                          \
    {                                                                                      \
        int32_t g;                                                                         \
        memcpy(&g, aq##r + b * VLM_QK + s * 4, 4);                                         \
        const __m512i av = _mm512_set1_epi32(g);                                           \
        i##r##0 = _mm512_dpbusd_epi32(i##r##0, w0, av);                                    \
        i##r##1 = _mm512_dpbusd_epi32(i##r##1, w1, av);                                    \
    }
            Q8_ROWS(Q8_DOT)
#undef Q8_DOT
        }
        const __m512 d0 = _mm512_load_ps(wd), d1 = _mm512_load_ps(wd + 16);
#define Q8_SCALE(r)                                                                                           \
    {                                                                                                         \
        const __m512 da = _mm512_set1_ps(ad##r[b]);                                                           \
        f##r##0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i##r##0), _mm512_mul_ps(d0, da), f##r##0);             \
        f##r##1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i##r##1), _mm512_mul_ps(d1, da), f##r##1);             \
    }
        Q8_ROWS(Q8_SCALE)
#undef Q8_SCALE
    }
#define Q8_OUT(r) f[r][0] = f##r##0; f[r][1] = f##r##1;
    Q8_ROWS(Q8_OUT)
#undef Q8_OUT
}
#undef Q8_ROWS

struct int8_gemm {
    const char *    W;
    size_t          w_row;
    bool            q4;
    int64_t         M, N, K, nb;
    const uint8_t * wp;   // every strip packed at load (vlm_cpu_pack_weight), or NULL: packed here
    const float *   wd;
    struct q8_rows  a;
    const float *   bias;
    float *         C;
};

// Bytes and scales of one packed strip.
#define Q8_STRIP_BYTES(nb)  ((size_t)(nb) * Q8_STRIP * VLM_QK)
#define Q8_STRIP_SCALES(nb) ((size_t)(nb) * Q8_STRIP)

// One thread's strips [s0, s1): each packed into wp / wd (unless packed at load), then dotted
// with every activation row. (A function of its own: clang does not give OpenMP's outlined
// regions the target attribute of the function around them.)
__attribute__((target(TARGET_VNNI))) static void gemm_strips_q8(const struct int8_gemm * g, int64_t s0, int64_t s1,
                                                                  uint8_t * wp, float * wd) {
    for (int64_t s = s0; s < s1; s++) {
        const int64_t n0 = s * Q8_STRIP;
        if (g->wp) {
            wp = (uint8_t *)g->wp + s * Q8_STRIP_BYTES(g->nb);
            wd = (float *)g->wd + s * Q8_STRIP_SCALES(g->nb);
        } else {
            pack_strip_q8(g->W, g->w_row, g->q4, g->N, n0, g->nb, wp, wd);
        }
        // columns n0 .. n0 + 31 of C that exist, per panel, and the bias there
        const __mmask16 keep[2] = { g->N - n0 >= 16 ? 0xFFFF : (__mmask16)((1u << (g->N - n0)) - 1),
                                    g->N - n0 >= 32 ? 0xFFFF : g->N - n0 <= 16 ? 0 : (__mmask16)((1u << (g->N - n0 - 16)) - 1) };
        __m512 bias[2] = { _mm512_setzero_ps(), _mm512_setzero_ps() };
        for (int q = 0; g->bias && q < 2; q++) bias[q] = _mm512_maskz_loadu_ps(keep[q], g->bias + n0 + q * 16);
        for (int64_t m0 = 0; m0 < g->M; m0 += Q8_MR) {
            __m512 f[Q8_MR][2];   // rows past M are the zero rows of the padding, not stored
            micro_q8(g->nb, g->K, wp, wd, &g->a, m0, f);
            for (int r = 0; r < Q8_MR && m0 + r < g->M; r++)
                for (int q = 0; q < 2; q++)
                    _mm512_mask_storeu_ps(g->C + (m0 + r) * g->N + n0 + q * 16, keep[q], _mm512_add_ps(f[r][q], bias[q]));
        }
    }
}

// Activation row m: Q8_0 blocks (tmp), then its values, scales and offsets into a's rows.
__attribute__((target(TARGET_VNNI))) static void quantize_row_q8(const float * x, int64_t K, int64_t nb, int64_t m,
                                                                   struct vlm_block_q8_0 * tmp, int8_t * q, float * d,
                                                                   int32_t * c) {
    quantize_row_q8_0_avx2(x, tmp, K, d + m * nb, 1);
    const __m256i bias = _mm256_set1_epi8((char)0x80);
    for (int64_t b = 0; b < nb; b++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)tmp[b].qs);
        _mm256_storeu_si256((__m256i *)(q + m * K + b * VLM_QK), v);
        // sum of the values + 128 in four 64-bit lanes
        const __m256i u = _mm256_sad_epu8(_mm256_xor_si256(v, bias), _mm256_setzero_si256());
        const __m128i h = _mm_add_epi64(_mm256_castsi256_si128(u), _mm256_extracti128_si256(u, 1));
        const int32_t sum = (int32_t)(_mm_cvtsi128_si64(h) + _mm_extract_epi64(h, 1)) - 128 * VLM_QK;
        c[m * nb + b] = -128 * sum;
    }
}

// ---- weights packed at load ----
// vlm_cpu_pack_weight keeps a weight's strips packed as gemm_strips_q8 wants them (beside its
// rows, which the few-row paths read), so that a product packs nothing; the weights' loader
// calls it for the linear weights it quantizes, and vlm_cpu_unpack_weights when it frees them.
// A list (a model has tens of linear weights), read under a shared lock by every product.
struct packed_weight {
    const void *   W;
    enum vlm_dtype wtype;
    int64_t        N, K;
    uint8_t *      wp;   // strip s at s * Q8_STRIP_BYTES(nb)
    float *        wd;   // strip s at s * Q8_STRIP_SCALES(nb)
};
static pthread_rwlock_t       g_packed_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct packed_weight * g_packed;
static int                    g_n_packed, g_packed_cap;

static struct packed_weight packed_find(const void * W, enum vlm_dtype wtype, int64_t N, int64_t K) {
    struct packed_weight found = { 0 };
    pthread_rwlock_rdlock(&g_packed_lock);
    for (int i = 0; i < g_n_packed; i++)
        if (g_packed[i].W == W && g_packed[i].wtype == wtype && g_packed[i].N == N && g_packed[i].K == K) {
            found = g_packed[i];
            break;
        }
    pthread_rwlock_unlock(&g_packed_lock);
    return found;
}

__attribute__((target(TARGET_VNNI))) static void pack_strips_q8(const void * W, size_t w_row, bool q4, int64_t N,
                                                                  int64_t nb, int64_t s, uint8_t * wp, float * wd) {
    pack_strip_q8(W, w_row, q4, N, s * Q8_STRIP, nb, wp + s * Q8_STRIP_BYTES(nb), wd + s * Q8_STRIP_SCALES(nb));
}

static bool linear_int8_gemm(struct vlm_ctx * x, int64_t M, int64_t N, int64_t K, const float * A, int64_t lda,
                             enum vlm_dtype wtype, const void * W, const float * bias, float * C) {
    const int64_t nb = K / VLM_QK, n_strips = (N + Q8_STRIP - 1) / Q8_STRIP;
    const int64_t Mp = (M + Q8_MR - 1) / Q8_MR * Q8_MR;   // rows padded to whole micro-tiles (zeros)
    const int     nt = n_strips < x->n_threads ? (int)n_strips : x->n_threads;
    int8_t *      q = calloc((size_t)(Mp * K), 1);
    float *       d = calloc((size_t)(Mp * nb), sizeof(float));
    int32_t *     c = calloc((size_t)(Mp * nb), sizeof(int32_t));
    bool          oom = !q || !d || !c;
    const struct packed_weight pk = packed_find(W, wtype, N, K);
    const struct int8_gemm g = { W, vlm_dtype_nbytes(wtype, K), wtype == VLM_DTYPE_Q4_0, M, N, K, nb, pk.wp, pk.wd,
                                 { q, d, c }, bias, C };
    if (!oom) {
        #pragma omp parallel num_threads(nt)
        {
            struct vlm_block_q8_0 * tmp = malloc((size_t)nb * sizeof *tmp);
            uint8_t *               wp = pk.wp ? NULL : aligned_alloc(64, Q8_STRIP_BYTES(nb));
            float *                 wd = pk.wp ? NULL : aligned_alloc(64, Q8_STRIP_SCALES(nb) * sizeof(float));
            if (!tmp || (!pk.wp && (!wp || !wd))) {
                #pragma omp atomic write
                oom = true;
            }
            #pragma omp for schedule(static)
            for (int64_t m = 0; m < M; m++)
                if (tmp) quantize_row_q8(A + m * lda, K, nb, m, tmp, q, d, c);
            bool failed;   // out of memory (every thread passed the barrier of the loop above)
            #pragma omp atomic read
            failed = oom;
            const int t = THREAD_ID(), n = THREAD_COUNT();
            if (!failed) gemm_strips_q8(&g, n_strips * t / n, n_strips * (t + 1) / n, wp, wd);
            free(tmp);
            free(wp);
            free(wd);
        }
    }
    free(q);
    free(d);
    free(c);
    if (oom) vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "cpu: out of memory for quantized activations");
    return !oom;
}

// 0: plain C, 1: AVX2 + FMA + F16C, 2: also AVX512-VNNI (with AVX512VL/BW). VLM_NO_AVX2=1
// forces plain C, VLM_NO_AVX512=1 stops at AVX2.
static int g_level = -1;   // -1: not checked yet

static int cpu_level(void) {
    if (g_level < 0) {
        const char * no2 = getenv("VLM_NO_AVX2"), * no512 = getenv("VLM_NO_AVX512");
        // F16C through cpuid: clang 14's __builtin_cpu_supports does not know "f16c"
        unsigned int a, b, c, d;
        bool f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
        int  level = 0;
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c && !(no2 && *no2 == '1')) {
            level = 1;
            if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") &&
                __builtin_cpu_supports("avx512bw") && !(no512 && *no512 == '1'))
                level = 2;
        }
        __atomic_store_n(&g_level, level, __ATOMIC_RELAXED);
    }
    return g_level;
}
#else
static int cpu_level(void) { return 0; }
#endif

// ---- driver ----------------------------------------------------------------------------------

static void quantize_q8_0(const float * x, void * y, int64_t K) { vlm_dtype_traits(VLM_DTYPE_Q8_0)->from_f32(x, y, K); }
static void quantize_q8_K(const float * x, void * y, int64_t K) { vlm_quantize_row_q8_K(x, y, K); }

struct kernel {
    dot_fn dot;
    void (*quantize)(const float * x, void * y, int64_t K);   // activation row -> vec-dot type; NULL: F32 rows
    size_t qblock_bytes;                                        // bytes per block of the vec-dot type
    int    qblock;
};

static bool kernel_of(enum vlm_dtype wtype, struct kernel * k) {
    int level = cpu_level();
    memset(k, 0, sizeof *k);
    switch (wtype) {
        case VLM_DTYPE_F16:  k->dot = dot_f16;  break;
        case VLM_DTYPE_BF16: k->dot = dot_bf16; break;
        case VLM_DTYPE_Q8_0: k->dot = dot_q8_0; break;
        case VLM_DTYPE_Q4_0: k->dot = dot_q4_0; break;
        case VLM_DTYPE_Q4_K: k->dot = dot_q4_K; break;
        default: return false;
    }
#if defined(__x86_64__) || defined(__i386__)
    switch (level > 0 ? wtype : VLM_DTYPE_COUNT) {
        case VLM_DTYPE_Q8_0: k->dot = level > 1 ? dot_q8_0_vnni : dot_q8_0_avx2; break;
        case VLM_DTYPE_Q4_0: k->dot = level > 1 ? dot_q4_0_vnni : dot_q4_0_avx2; break;
        case VLM_DTYPE_Q4_K: k->dot = dot_q4_K_avx2; break;
        default: break;
    }
#else
    (void)level;
#endif
    if (wtype == VLM_DTYPE_Q8_0 || wtype == VLM_DTYPE_Q4_0) {
        k->quantize = quantize_q8_0;
        k->qblock = VLM_QK;
        k->qblock_bytes = sizeof(struct vlm_block_q8_0);
    } else if (wtype == VLM_DTYPE_Q4_K) {
        k->quantize = quantize_q8_K;
        k->qblock = VLM_QK_K;
        k->qblock_bytes = sizeof(struct vlm_block_q8_K);
    }
    return true;
}

// Many rows (F16 / BF16 from GEMM_ROWS, block types without the int8 GEMM from
// VLM_LINEAR_QUANT_GEMM_ROWS): W widened to F32 a slice of at most WIDEN_BYTES at a time (the
// threads splitting its rows), each slice multiplied as an F32 weight is (vlm_cpu_gemm: the
// activation rows split over the threads). One slice for every weight of the SAM and CLIP
// encoders, so A is packed once per product as with F32 weights.
static bool linear_widen_gemm(struct vlm_ctx * x, int64_t M, int64_t N, int64_t K, const float * A, int64_t lda,
                              enum vlm_dtype wtype, const void * W, const float * bias, float * C) {
    const int     nt    = x->n_threads;
    const size_t  w_row = vlm_dtype_nbytes(wtype, K);
    const int64_t slice = N * K * (int64_t)sizeof(float) <= WIDEN_BYTES ? N
                        : WIDEN_BYTES / (K * (int64_t)sizeof(float)) > 0 ? WIDEN_BYTES / (K * (int64_t)sizeof(float)) : 1;
    float *       wf    = malloc((size_t)(slice * K) * sizeof(float));   // [slice, K]
    if (!wf) {
        vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "cpu: out of memory (%.1f MiB to widen a linear weight)",
                     (double)(slice * K) * sizeof(float) / (1 << 20));
        return false;
    }
    void (*widen)(const void *, float *, int64_t) = vlm_dtype_traits(wtype)->to_f32;
#if defined(__x86_64__) || defined(__i386__)
    if (cpu_level() > 0)
        widen = wtype == VLM_DTYPE_F16 ? widen_f16_avx2 : wtype == VLM_DTYPE_BF16 ? widen_bf16_avx2
              : wtype == VLM_DTYPE_Q8_0 ? widen_q8_0_avx2 : widen;
#endif
    for (int64_t n0 = 0; n0 < N; n0 += slice) {
        const int64_t nn = N - n0 < slice ? N - n0 : slice;
        #pragma omp parallel for num_threads(nt) schedule(static, 1) if (nn * K > 65536)
        for (int t = 0; t < nt; t++) {
            int64_t r0, r1;
            thread_rows(nn, t, nt, &r0, &r1);
            if (r1 > r0) widen((const char *)W + (size_t)(n0 + r0) * w_row, wf + r0 * K, (r1 - r0) * K);
        }
        if (bias) {
            #pragma omp parallel for num_threads(nt) schedule(static) if (M * nn > 65536)
            for (int64_t m = 0; m < M; m++) memcpy(C + m * N + n0, bias + n0, (size_t)nn * sizeof(float));
        }
        vlm_cpu_gemm(nt, false, true, M, nn, K, 1.0f, A, lda, wf, K, bias ? 1.0f : 0.0f, C + n0, N);
    }
    free(wf);
    return true;
}

#if defined(__x86_64__) || defined(__i386__)
// The tiles of F32 / F16 / BF16 weights (AVX2 or AVX-512, as cpu_level says), threads splitting
// the weight rows.
static void linear_tiled(struct vlm_ctx * x, int64_t M, int64_t N, int64_t K, const float * A, int64_t lda,
                         enum vlm_dtype wtype, const void * W, const float * bias, float * C) {
    const bool avx512 = cpu_level() > 1;
    void (*fn)(const struct tiled *, int64_t, int64_t) =
        wtype == VLM_DTYPE_F32 ? (avx512 ? tiled_f32_avx512 : tiled_f32_avx2)
        : wtype == VLM_DTYPE_F16 ? (avx512 ? tiled_f16_avx512 : tiled_f16_avx2)
                                 : (avx512 ? tiled_bf16_avx512 : tiled_bf16_avx2);
    const struct tiled g = { M, K, lda, N, A, W, vlm_dtype_nbytes(wtype, K), bias, C };
    const int nt = M * N * K > 65536 ? x->n_threads : 1;
    #pragma omp parallel for num_threads(nt) schedule(static, 1)
    for (int t = 0; t < nt; t++) {
        int64_t r0, r1;
        thread_rows(N, t, nt, &r0, &r1);
        if (r1 > r0) fn(&g, r0, r1);
    }
}
#endif

bool vlm_cpu_linear_packed(enum vlm_dtype wtype, int64_t M) {
    if (wtype != VLM_DTYPE_F32 && wtype != VLM_DTYPE_F16 && wtype != VLM_DTYPE_BF16) return false;
    return cpu_level() > 1 && M >= (wtype == VLM_DTYPE_F32 ? GEMM_ROWS_AVX512_F32 : GEMM_ROWS_AVX512_16);
}

bool vlm_cpu_linear_tiled(enum vlm_dtype wtype, int64_t M) {
    if (wtype != VLM_DTYPE_F32 && wtype != VLM_DTYPE_F16 && wtype != VLM_DTYPE_BF16) return false;
    if (cpu_level() > 1) return !vlm_cpu_linear_packed(wtype, M);
    return cpu_level() > 0 && M < TILED_ROWS_AVX2;
}

void vlm_cpu_quantize_row_q8_0(const float * x, void * y, int64_t K) {
#if defined(__x86_64__) || defined(__i386__)
    if (cpu_level() > 0) {
        quantize_row_q8_0_avx2(x, y, K, NULL, 0);
        return;
    }
#endif
    quantize_q8_0(x, y, K);
}

bool vlm_cpu_linear_f32_activations(enum vlm_dtype wtype, int64_t M) {
    if (wtype != VLM_DTYPE_Q8_0 && wtype != VLM_DTYPE_Q4_0 && wtype != VLM_DTYPE_Q4_K) return true;
    if (M < VLM_LINEAR_QUANT_GEMM_ROWS) return false;
    return wtype == VLM_DTYPE_Q4_K || cpu_level() < 2;   // Q8_0 / Q4_0 with VNNI: linear_int8_gemm
}

bool vlm_cpu_pack_weight(const void * W, enum vlm_dtype wtype, int64_t N, int64_t K, int n_threads) {
#if defined(__x86_64__) || defined(__i386__)
    if ((wtype != VLM_DTYPE_Q8_0 && wtype != VLM_DTYPE_Q4_0) || cpu_level() < 2 || N <= 0 || K <= 0 || K % VLM_QK)
        return false;
    const int64_t nb = K / VLM_QK, n_strips = (N + Q8_STRIP - 1) / Q8_STRIP;
    struct packed_weight p = { W, wtype, N, K, aligned_alloc(64, (size_t)n_strips * Q8_STRIP_BYTES(nb)),
                               aligned_alloc(64, (size_t)n_strips * Q8_STRIP_SCALES(nb) * sizeof(float)) };
    bool ok = p.wp && p.wd;
    if (ok) {
        #pragma omp parallel for num_threads(n_threads > 0 ? n_threads : 1) schedule(static)
        for (int64_t s = 0; s < n_strips; s++)
            pack_strips_q8(W, vlm_dtype_nbytes(wtype, K), wtype == VLM_DTYPE_Q4_0, N, nb, s, p.wp, p.wd);
        pthread_rwlock_wrlock(&g_packed_lock);
        if (g_n_packed == g_packed_cap) {
            const int cap = g_packed_cap ? 2 * g_packed_cap : 64;
            struct packed_weight * grown = realloc(g_packed, (size_t)cap * sizeof *grown);
            if (grown) g_packed = grown, g_packed_cap = cap;
        }
        ok = g_n_packed < g_packed_cap;
        if (ok) g_packed[g_n_packed++] = p;
        pthread_rwlock_unlock(&g_packed_lock);
    }
    if (!ok) {   // out of memory: products pack as they go
        free(p.wp);
        free(p.wd);
    }
    return ok;
#else
    (void)W, (void)wtype, (void)N, (void)K, (void)n_threads;
    return false;
#endif
}

void vlm_cpu_unpack_weights(const void * base, size_t bytes) {
    pthread_rwlock_wrlock(&g_packed_lock);
    for (int i = 0; i < g_n_packed;) {
        const char * w = g_packed[i].W;
        if (w >= (const char *)base && w < (const char *)base + bytes) {
            free(g_packed[i].wp);
            free(g_packed[i].wd);
            g_packed[i] = g_packed[--g_n_packed];
        } else {
            i++;
        }
    }
    pthread_rwlock_unlock(&g_packed_lock);
}

bool vlm_cpu_linear_stored(struct vlm_ctx * x, int64_t M, int64_t N, int64_t K, const float * A, int64_t lda,
                           enum vlm_dtype wtype, const void * W, const float * bias, float * C) {
#if defined(__x86_64__) || defined(__i386__)
    if (vlm_cpu_linear_packed(wtype, M)) return linear_packed_gemm(x, M, N, K, A, lda, wtype, W, bias, C);
    if (vlm_cpu_linear_tiled(wtype, M)) {
        linear_tiled(x, M, N, K, A, lda, wtype, W, bias, C);
        return true;
    }
#endif
    struct kernel k;
    if (!kernel_of(wtype, &k)) {
        vlm_ctx_fail(x, VLM_STATUS_UNSUPPORTED, "cpu: linear with %s weights", vlm_dtype_name(wtype));
        return false;
    }
#if defined(__x86_64__) || defined(__i386__)
    if (M >= VLM_LINEAR_QUANT_GEMM_ROWS && !vlm_cpu_linear_f32_activations(wtype, M))
        return linear_int8_gemm(x, M, N, K, A, lda, wtype, W, bias, C);
#endif
    if (M >= (k.quantize ? VLM_LINEAR_QUANT_GEMM_ROWS : GEMM_ROWS)) return linear_widen_gemm(x, M, N, K, A, lda, wtype, W, bias, C);
    int     nt = x->n_threads;
    size_t  w_row = vlm_dtype_nbytes(wtype, K);
    int64_t nb = k.quantize ? K / k.qblock : 0;
    struct rows a = { (const char *)A, (size_t)lda * sizeof(float), NULL, M };
    char *  aq = NULL;
    float * ad = NULL;
    if (k.quantize) {   // activations [M, K] -> [M, nb] blocks; Q8_0 scales also as floats [nb, M]
        a.stride = (size_t)nb * k.qblock_bytes;
        aq = malloc((size_t)M * a.stride);
        ad = k.qblock == VLM_QK ? malloc((size_t)(M * nb) * sizeof(float)) : NULL;
        if (!aq || (k.qblock == VLM_QK && !ad)) {
            free(aq);
            free(ad);
            vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "cpu: out of memory (%.1f MiB for quantized activations)",
                         (double)M * (double)a.stride / (1 << 20));
            return false;
        }
        #pragma omp parallel for num_threads(nt) schedule(static) if (M * K > 16384)
        for (int64_t m = 0; m < M; m++) {
#if defined(__x86_64__) || defined(__i386__)
            if (ad && cpu_level() > 0) {
                quantize_row_q8_0_avx2(A + m * lda, (struct vlm_block_q8_0 *)(aq + (size_t)m * a.stride), K, ad + m, M);
                continue;
            }
#endif
            k.quantize(A + m * lda, aq + (size_t)m * a.stride, K);
            const struct vlm_block_q8_0 * blocks = (const void *)(aq + (size_t)m * a.stride);
            for (int64_t ib = 0; ad && ib < nb; ib++) ad[ib * M + m] = vlm_f16_to_f32(blocks[ib].d);
        }
        a.p = aq;
        a.d = ad;
    }
    int64_t n_chunks = (N + CHUNK_ROWS - 1) / CHUNK_ROWS;
    // static schedule: each thread streams one contiguous range of weight rows
    #pragma omp parallel for num_threads(nt) schedule(static) if (N * K > 32768)
    for (int64_t c = 0; c < n_chunks; c++) {
        int64_t n0 = c * CHUNK_ROWS, n1 = n0 + CHUNK_ROWS < N ? n0 + CHUNK_ROWS : N;
        for (int64_t m0 = 0; m0 < M; m0 += 4) {
            int         nr = M - m0 < 4 ? (int)(M - m0) : 4;
            struct rows am = { a.p + (size_t)m0 * a.stride, a.stride, a.d ? a.d + m0 : NULL, a.d_stride };
            for (int64_t n = n0; n < n1; n++) {
                float * out = C + m0 * N + n;
                k.dot(K, (const char *)W + (size_t)n * w_row, &am, nr, out, N);
                if (bias)
                    for (int r = 0; r < nr; r++) out[r * N] += bias[n];
            }
        }
    }
    free(ad);
    free(aq);
    return true;
}

// ---- the CPU's arithmetic peak -----------------------------------------------------------------
// FP32 FMA throughput of n_threads threads in GFLOP/s: 16 independent FMA chains per thread
// (enough to cover the FMA latency on every x86 core), AVX-512 where the CPU has it, else AVX2.
// The limit no product can pass; `vlm bench` reports it beside the OpenBLAS sgemm peak. 0 where
// neither ISA is there.
#if defined(__x86_64__) || defined(__i386__)
#define FMA_CHAINS(V, SET1, FMA, STORE, LANES)                                      \
    V a[16];                                                                        \
    const V m = SET1(0.999f), b = SET1(0.001f);                                     \
    for (int i = 0; i < 16; i++) a[i] = SET1((float)i);                             \
    for (long k = 0; k < n; k++) {                                                  \
        _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++) a[i] = FMA(a[i], m, b); \
    }                                                                               \
    float out[LANES], s = 0;                                                        \
    for (int i = 0; i < 16; i++) {                                                  \
        STORE(out, a[i]);                                                           \
        s += out[0];                                                                \
    }                                                                               \
    return s;
__attribute__((target("avx512f"))) static float fma_chains_avx512(long n) {
    FMA_CHAINS(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_storeu_ps, 16)
}
AVX2 static float fma_chains_avx2(long n) { FMA_CHAINS(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_storeu_ps, 8) }
#undef FMA_CHAINS
#endif

double vlm_cpu_fma_peak_gflops(int n_threads, const char ** isa) {
    *isa = "none";
#if defined(__x86_64__) || defined(__i386__)
    if (cpu_level() == 0) return 0;
    const char * no512 = getenv("VLM_NO_AVX512");
    const bool   avx512 = __builtin_cpu_supports("avx512f") && !(no512 && *no512 == '1');
    const long n = 4000000;   // 16 x n FMAs per thread: about 20-60 ms
    double     best = 1e30;
    float      sink = 0;
    for (int r = 0; r < 3; r++) {   // the best of three (the first may wake the cores up)
        const double t0 = vlm_now_ms();
        #pragma omp parallel num_threads(n_threads) reduction(+ : sink)
        sink += avx512 ? fma_chains_avx512(n) : fma_chains_avx2(n);
        const double t = vlm_now_ms() - t0;
        if (t < best) best = t;
    }
    *isa = avx512 ? "AVX-512" : "AVX2";
    volatile float keep = sink;   // the chains' results are used
    (void)keep;
    return (double)n_threads * n * 16 * (avx512 ? 16 : 8) * 2 / (best * 1e6);
#else
    (void)n_threads;
    return 0;
#endif
}
