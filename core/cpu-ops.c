// cpu-ops.c — the CPU backend: one kernel per op. Matrix products go through OpenBLAS
// (single-threaded BLAS calls, split over OpenMP threads here), except linear with few rows
// or weights not F32 (cpu-linear.c); everything else is plain C with `omp parallel for` over
// independent outputs, so results do not depend on the number of threads.
#include <math.h>
#include <pthread.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "core.h"

// ---- helpers -------------------------------------------------------------------------------

// A right-aligned 4-D view of a host tensor: leading dims padded with ne 1, st 0.
struct v4 {
    char *  p;        // first element
    int64_t ne[4];
    int64_t st[4];    // in elements
    size_t  es;       // element size
    enum vlm_dtype dtype;
};

static struct v4 v4_of(const struct vlm_tensor * t) {
    struct v4 v;
    int       off = 4 - t->n_dims;
    for (int i = 0; i < 4; i++) { v.ne[i] = 1; v.st[i] = 0; }
    for (int i = 0; i < t->n_dims; i++) { v.ne[off + i] = t->shape[i]; v.st[off + i] = t->stride[i]; }
    v.p     = vlm_tensor_host(t);
    v.es    = vlm_dtype_size(t->dtype);
    v.dtype = t->dtype;
    return v;
}

static inline float * f32_row(const struct v4 * v, int64_t i0, int64_t i1, int64_t i2) {
    return (float *)v->p + i0 * v->st[0] + i1 * v->st[1] + i2 * v->st[2];
}

static inline float load_f(enum vlm_dtype d, const char * p) {
    switch (d) {
        case VLM_DTYPE_F32:  { float f; memcpy(&f, p, 4); return f; }
        case VLM_DTYPE_F16:  { uint16_t h; memcpy(&h, p, 2); return vlm_f16_to_f32(h); }
        case VLM_DTYPE_BF16: { uint16_t h; memcpy(&h, p, 2); return vlm_bf16_to_f32(h); }
        case VLM_DTYPE_I32:  { int32_t i; memcpy(&i, p, 4); return (float)i; }
        case VLM_DTYPE_U8:   return (float)*(const uint8_t *)p;
        default:             return 0.0f;
    }
}

static inline void store_f(enum vlm_dtype d, char * p, float f) {
    switch (d) {
        case VLM_DTYPE_F32:  memcpy(p, &f, 4); break;
        case VLM_DTYPE_F16:  { uint16_t h = vlm_f32_to_f16(f); memcpy(p, &h, 2); break; }
        case VLM_DTYPE_BF16: { uint16_t h = vlm_f32_to_bf16(f); memcpy(p, &h, 2); break; }
        // rounded half to even and clamped, as copy.comp (NaN gives 0)
        case VLM_DTYPE_U8:   *(uint8_t *)p = (uint8_t)fminf(fmaxf(nearbyintf(f), 0.0f), 255.0f); break;
        default:             break;
    }
}

static void * xmalloc(struct vlm_ctx * x, size_t n, const char * what) {
    void * p = malloc(n ? n : 1);
    if (!p) vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "cpu: out of memory (%.1f MiB for %s)", (double)n / (1 << 20), what);
    return p;
}

// Any tensor as a contiguous F32 array: the tensor's own memory when it already is one,
// else a converted copy in *tmp (caller frees). NULL on allocation failure.
static float * as_contig_f32(struct vlm_ctx * x, const struct vlm_tensor * t, float ** tmp) {
    *tmp = NULL;
    if (t->dtype == VLM_DTYPE_F32 && vlm_tensor_is_contiguous(t)) return vlm_tensor_host(t);
    int64_t n = vlm_tensor_numel(t);
    float * d = xmalloc(x, (size_t)n * sizeof(float), "a contiguous copy");
    if (!d) return NULL;
    struct v4 v  = v4_of(t);
    int       nt = x->n_threads;
    int64_t   rows = v.ne[0] * v.ne[1] * v.ne[2];
    #pragma omp parallel for num_threads(nt) schedule(static) if (n > 32768)
    for (int64_t r = 0; r < rows; r++) {
        int64_t i2 = r % v.ne[2], i1 = (r / v.ne[2]) % v.ne[1], i0 = r / (v.ne[2] * v.ne[1]);
        const char * src = v.p + (size_t)(i0 * v.st[0] + i1 * v.st[1] + i2 * v.st[2]) * v.es;
        float *      out = d + r * v.ne[3];
        if (v.dtype == VLM_DTYPE_F32 && v.st[3] == 1) memcpy(out, src, (size_t)v.ne[3] * 4);
        else
            for (int64_t i3 = 0; i3 < v.ne[3]; i3++) out[i3] = load_f(v.dtype, src + (size_t)(i3 * v.st[3]) * v.es);
    }
    *tmp = d;
    return d;
}

void vlm_cpu_gemm(int nt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float * A, int64_t lda,
                 const float * B, int64_t ldb, float beta, float * C, int64_t ldc) {
    enum CBLAS_TRANSPOSE TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
    double work = (double)M * N * K;
    if (nt <= 1 || work < 262144.0 || (M < 2 * nt && N < 2 * nt)) {
        cblas_sgemm(CblasRowMajor, TA, TB, (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
        return;
    }
    bool    split_m = M >= N || N < 2 * nt;
    int64_t total   = split_m ? M : N;
    int     parts   = nt;
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int p = 0; p < parts; p++) {
        // chunk boundaries rounded to 16 so that the kernels see full tiles
        int64_t c0 = (total * p / parts) & ~(int64_t)15, c1 = p == parts - 1 ? total : (total * (p + 1) / parts) & ~(int64_t)15;
        if (c1 <= c0) continue;
        if (split_m) {
            const float * Ap = ta ? A + c0 : A + c0 * lda;
            cblas_sgemm(CblasRowMajor, TA, TB, (int)(c1 - c0), (int)N, (int)K, alpha, Ap, (int)lda, B, (int)ldb, beta,
                        C + c0 * ldc, (int)ldc);
        } else {
            const float * Bp = tb ? B + c0 * ldb : B + c0;
            cblas_sgemm(CblasRowMajor, TA, TB, (int)M, (int)(c1 - c0), (int)K, alpha, A, (int)lda, Bp, (int)ldb, beta,
                        C + c0, (int)ldc);
        }
    }
}

// A float vector (bias, norm weight) of n elements as F32 (tmp to free, or NULL if absent).
static float * vec_f32(struct vlm_ctx * x, const struct vlm_tensor * v, float ** tmp) {
    *tmp = NULL;
    if (v->n_dims == 0) return NULL;
    return as_contig_f32(x, v, tmp);
}

// ---- LINEAR --------------------------------------------------------------------------------

static void op_linear(struct vlm_ctx * x, const struct vlm_op * op) {
    const struct vlm_tensor * in = &op->src[0], * w = &op->src[1], * b = &op->src[2], * dst = &op->dst;
    int     nd = in->n_dims;
    int64_t K = in->shape[nd - 1], N = w->shape[0], M = vlm_tensor_numel(in) / K;
    float * a_tmp = NULL, * b_tmp = NULL;

    // Do the leading dims collapse to rows of one stride?
    int64_t lda = K, expect = -1;
    bool    rows_ok = true;
    for (int i = nd - 2; i >= 0; i--) {
        if (in->shape[i] == 1) continue;
        if (expect < 0) { lda = in->stride[i]; expect = in->stride[i] * in->shape[i]; }
        else if (in->stride[i] != expect) { rows_ok = false; break; }
        else expect *= in->shape[i];
    }
    const float * A = vlm_tensor_host(in);
    if (!rows_ok || lda < K) {
        A   = as_contig_f32(x, in, &a_tmp);
        lda = K;
    }
    const float * bias = vec_f32(x, b, &b_tmp);
    float *       C    = vlm_tensor_host(dst);
    if (!A || (b->n_dims && !bias)) goto done;
    if (w->dtype != VLM_DTYPE_F32 || vlm_cpu_linear_tiled(w->dtype, M) || vlm_cpu_linear_packed(w->dtype, M)) {   // consumed as stored
        vlm_cpu_linear_stored(x, M, N, K, A, lda, w->dtype, vlm_tensor_host(w), bias, C);
        goto done;
    }
    const float * W = vlm_tensor_host(w);
    if (bias) {
        #pragma omp parallel for num_threads(x->n_threads) schedule(static) if (M * N > 65536)
        for (int64_t m = 0; m < M; m++) memcpy(C + m * N, bias, (size_t)N * sizeof(float));
    }
    if (M == 1) {   // one row (a decoded token): sgemv over chunks of W's rows, which streams W once
        int     nt = x->n_threads;
        int64_t chunk = (N + nt - 1) / nt;
        #pragma omp parallel for num_threads(nt) schedule(static) if (N * K > 65536)
        for (int p = 0; p < nt; p++) {
            int64_t n0 = p * chunk, nn = N - n0 < chunk ? N - n0 : chunk;
            if (nn > 0)
                cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)nn, (int)K, 1.0f, W + n0 * K, (int)K, A, 1,
                            bias ? 1.0f : 0.0f, C + n0, 1);
        }
    } else {
        vlm_cpu_gemm(x->n_threads, false, true, M, N, K, 1.0f, A, lda, W, K, bias ? 1.0f : 0.0f, C, N);
    }
done:
    free(a_tmp);
    free(b_tmp);
}

// ---- MATMUL --------------------------------------------------------------------------------

// How a [R, C] matrix with strides (s_r, s_c) can be passed to BLAS: trans flag and ld.
static bool blas_layout(int64_t R, int64_t C, int64_t s_r, int64_t s_c, bool * trans, int64_t * ld) {
    if ((s_c == 1 || C == 1) && (R == 1 || s_r >= C)) { *trans = false; *ld = R == 1 ? C : s_r; return true; }
    if ((s_r == 1 || R == 1) && (C == 1 || s_c >= R)) { *trans = true; *ld = C == 1 ? R : s_c; return true; }
    return false;
}

static void op_matmul(struct vlm_ctx * x, const struct vlm_op * op) {
    const struct vlm_tensor * a = &op->src[0], * b = &op->src[1];
    int64_t B = op->dst.shape[0], M = a->shape[1], K = a->shape[2], N = b->shape[2];
    float * a_tmp = NULL, * b_tmp = NULL;
    const float * Ap = vlm_tensor_host(a), * Bp = vlm_tensor_host(b);
    int64_t sa = a->stride[0], sb = b->stride[0], lda, ldb;
    bool    ta, tb;
    if (!blas_layout(M, K, a->stride[1], a->stride[2], &ta, &lda)) {
        struct vlm_tensor t = *a;
        if (sa == 0) t.shape[0] = 1;
        Ap = as_contig_f32(x, &t, &a_tmp);
        ta = false; lda = K; sa = sa == 0 ? 0 : M * K;
    }
    if (!blas_layout(K, N, b->stride[1], b->stride[2], &tb, &ldb)) {
        struct vlm_tensor t = *b;
        if (sb == 0) t.shape[0] = 1;
        Bp = as_contig_f32(x, &t, &b_tmp);
        tb = false; ldb = N; sb = sb == 0 ? 0 : K * N;
    }
    float * C  = vlm_tensor_host(&op->dst);
    int     nt = x->n_threads;
    if (!Ap || !Bp) goto done;
    if (B >= nt && nt > 1 && (double)M * N * K <= 16777216.0) {
        // many small products: one per thread
        #pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t i = 0; i < B; i++)
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N,
                        (int)K, 1.0f, Ap + i * sa, (int)lda, Bp + i * sb, (int)ldb, 0.0f, C + i * M * N, (int)N);
    } else {
        for (int64_t i = 0; i < B; i++)
            vlm_cpu_gemm(nt, ta, tb, M, N, K, 1.0f, Ap + i * sa, lda, Bp + i * sb, ldb, 0.0f, C + i * M * N, N);
    }
done:
    free(a_tmp);
    free(b_tmp);
}

// ---- elementwise -----------------------------------------------------------------------------

static void op_scale(struct vlm_ctx * x, const struct vlm_op * op) {
    struct v4 a = v4_of(&op->src[0]), d = v4_of(&op->dst);
    float     s = op->f[0], c = op->f[1];
    int64_t   rows = d.ne[0] * d.ne[1] * d.ne[2], n = d.ne[3], sa = a.st[3];
    #pragma omp parallel for num_threads(x->n_threads) schedule(static) if (rows * n > 32768)
    for (int64_t r = 0; r < rows; r++) {
        int64_t i2 = r % d.ne[2], i1 = (r / d.ne[2]) % d.ne[1], i0 = r / (d.ne[2] * d.ne[1]);
        const float * pa = f32_row(&a, i0, i1, i2);
        float *       pd = (float *)d.p + r * n;
        for (int64_t i = 0; i < n; i++) pd[i] = s * pa[i * sa] + c;
    }
}

static inline float gelu_erf(float v)   { return 0.5f * v * (1.0f + erff(v * (float)M_SQRT1_2)); }
static inline float gelu_tanh(float v)  {
    const float k = 0.7978845608028654f;   // sqrt(2 / pi)
    return 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
}
static inline float sigmoidf(float v)   { return 1.0f / (1.0f + expf(-v)); }

// exp(x) for x <= 0 (softmax after subtracting the row max), 8 lanes at a time, with the
// Cephes expf range reduction and polynomial (about 1 ulp); inputs below -88.37 give 0.
// ref: Cephes Math Library expf.c
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define VLM_HAVE_AVX2_PATH 1
// One body for both widths (P: the intrinsics' prefix, _mm256 or _mm512), so the 16-lane exp
// is the 8-lane one operation for operation and their results equal bit for bit.
#define EXP_NONPOS_BODY(V, VI, P, FLOOR, CAST_I_PS)                                               \
    x = P##_max_ps(x, P##_set1_ps(-88.3762626647949f));                                          \
    V fx = FLOOR(P##_fmadd_ps(x, P##_set1_ps(1.44269504088896341f), P##_set1_ps(0.5f)));          \
    x    = P##_fnmadd_ps(fx, P##_set1_ps(0.693359375f), x);                                       \
    x    = P##_fnmadd_ps(fx, P##_set1_ps(-2.12194440e-4f), x);                                    \
    V z  = P##_mul_ps(x, x);                                                                      \
    V y  = P##_set1_ps(1.9875691500e-4f);                                                         \
    y    = P##_fmadd_ps(y, x, P##_set1_ps(1.3981999507e-3f));                                     \
    y    = P##_fmadd_ps(y, x, P##_set1_ps(8.3334519073e-3f));                                     \
    y    = P##_fmadd_ps(y, x, P##_set1_ps(4.1665795894e-2f));                                     \
    y    = P##_fmadd_ps(y, x, P##_set1_ps(1.6666665459e-1f));                                     \
    y    = P##_fmadd_ps(y, x, P##_set1_ps(5.0000001201e-1f));                                     \
    y    = P##_add_ps(P##_fmadd_ps(y, z, x), P##_set1_ps(1.0f));                                  \
    VI n = P##_slli_epi32(P##_add_epi32(P##_cvtps_epi32(fx), P##_set1_epi32(127)), 23);           \
    return P##_mul_ps(y, CAST_I_PS(n));
#define FLOOR_512(v) _mm512_roundscale_ps((v), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)
__attribute__((target("avx2,fma"))) static inline __m256 exp256_nonpos(__m256 x) {
    EXP_NONPOS_BODY(__m256, __m256i, _mm256, _mm256_floor_ps, _mm256_castsi256_ps)
}
__attribute__((target("avx512f"))) static inline __m512 exp512_nonpos(__m512 x) {
    EXP_NONPOS_BODY(__m512, __m512i, _mm512, FLOOR_512, _mm512_castsi512_ps)
}
#undef FLOOR_512
#undef EXP_NONPOS_BODY

// One query row against tk keys (decoding: sgemm calls for one row cost more than the
// arithmetic): s[j] = scale * q . k_j, k_j at k + j * ldk, D values each.
__attribute__((target("avx2,fma"))) static void attn_scores_row_avx2(const float * q, const float * k, int64_t ldk,
                                                                    int64_t tk, int64_t D, float scale, float * s) {
    for (int64_t j = 0; j < tk; j++) {
        const float * kj = k + j * ldk;
        __m256        acc = _mm256_setzero_ps();
        int64_t       d = 0;
        for (; d + 8 <= D; d += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(kj + d), acc);
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        h = _mm_add_ss(h, _mm_movehdup_ps(h));
        float sum = _mm_cvtss_f32(h);
        for (; d < D; d++) sum += q[d] * kj[d];
        s[j] = scale * sum;
    }
}

// out[Dv] = sum over j < tk of p[j] * v_j, v_j at v + j * ldv.
__attribute__((target("avx2,fma"))) static void attn_mix_row_avx2(const float * p, const float * v, int64_t ldv,
                                                                 int64_t tk, int64_t Dv, float * out) {
    memset(out, 0, (size_t)Dv * sizeof(float));
    for (int64_t j = 0; j < tk; j++) {
        const float * vj = v + j * ldv;
        const __m256  pj = _mm256_set1_ps(p[j]);
        int64_t       d = 0;
        for (; d + 8 <= Dv; d += 8) _mm256_storeu_ps(out + d, _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + d), _mm256_loadu_ps(out + d)));
        for (; d < Dv; d++) out[d] += p[j] * vj[d];
    }
}

__attribute__((target("avx2,fma"))) static void softmax_row_avx2(float * s, int64_t n) {
    __m256  vmx = _mm256_set1_ps(-INFINITY);
    int64_t i   = 0;
    for (; i + 8 <= n; i += 8) vmx = _mm256_max_ps(vmx, _mm256_loadu_ps(s + i));
    float lanes[8];
    _mm256_storeu_ps(lanes, vmx);
    float mx = lanes[0];
    for (int j = 1; j < 8; j++) mx = lanes[j] > mx ? lanes[j] : mx;
    for (; i < n; i++) mx = s[i] > mx ? s[i] : mx;
    if (mx == -INFINITY) {
        memset(s, 0, (size_t)n * sizeof(float));
        return;
    }
    __m256 vm = _mm256_set1_ps(mx), vsum = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = exp256_nonpos(_mm256_sub_ps(_mm256_loadu_ps(s + i), vm));
        _mm256_storeu_ps(s + i, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    if (i < n) {   // tail: pad with -inf (exp = 0)
        float t[8];
        for (int j = 0; j < 8; j++) t[j] = i + j < n ? s[i + j] : -INFINITY;
        __m256 e = exp256_nonpos(_mm256_sub_ps(_mm256_loadu_ps(t), vm));
        _mm256_storeu_ps(t, e);
        vsum = _mm256_add_ps(vsum, e);
        for (int j = 0; i + j < n; j++) s[i + j] = t[j];
    }
    _mm256_storeu_ps(lanes, vsum);
    double sum = 0.0;
    for (int j = 0; j < 8; j++) sum += lanes[j];
    __m256 inv = _mm256_set1_ps((float)(1.0 / sum));
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(s + i, _mm256_mul_ps(_mm256_loadu_ps(s + i), inv));
    for (; i < n; i++) s[i] *= (float)(1.0 / sum);
}

// Softmax of one row without the final division (the fused attention scales its output rows
// instead of the n probabilities): s[i] = exp(s[i] - max), returns 1 / sum (0, and zeros, when
// every entry is -inf).
__attribute__((target("avx512f"))) static float softmax_exp_row_avx512(float * s, int64_t n) {
    __m512  vmx = _mm512_set1_ps(-INFINITY);
    int64_t i   = 0;
    for (; i + 16 <= n; i += 16) vmx = _mm512_max_ps(vmx, _mm512_loadu_ps(s + i));
    const __mmask16 tail = (__mmask16)((1u << (n - i)) - 1);
    vmx = _mm512_mask_max_ps(vmx, tail, vmx, _mm512_maskz_loadu_ps(tail, s + i));
    const float mx = _mm512_reduce_max_ps(vmx);
    if (mx == -INFINITY) {
        memset(s, 0, (size_t)n * sizeof(float));
        return 0.0f;
    }
    const __m512 vm = _mm512_set1_ps(mx);
    __m512       vsum = _mm512_setzero_ps();
    for (i = 0; i + 16 <= n; i += 16) {
        const __m512 e = exp512_nonpos(_mm512_sub_ps(_mm512_loadu_ps(s + i), vm));
        _mm512_storeu_ps(s + i, e);
        vsum = _mm512_add_ps(vsum, e);
    }
    if (tail) {
        const __m512 e = _mm512_maskz_mov_ps(tail, exp512_nonpos(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, s + i), vm)));
        _mm512_mask_storeu_ps(s + i, tail, e);
        vsum = _mm512_add_ps(vsum, e);
    }
    float lanes[16];
    _mm512_storeu_ps(lanes, vsum);
    double sum = 0.0;
    for (int j = 0; j < 16; j++) sum += lanes[j];
    return (float)(1.0 / sum);
}

// One layer-norm row (contiguous), the scalar path's double sums with 8 lanes: the mean, the
// centred sum of squares, then y = x * rstd - mean * rstd, times w, plus b.
__attribute__((target("avx2,fma"))) static void layer_norm_row_avx2(const float * a, float * d, int64_t n, const float * w,
                                                                    const float * b, float eps) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(a + i);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    double l[4], sum = 0.0, sq = 0.0;
    _mm256_storeu_pd(l, _mm256_add_pd(s0, s1));
    for (int j = 0; j < 4; j++) sum += l[j];
    for (; i < n; i++) sum += a[i];
    const double mean = sum / (double)n;
    const __m256d vm = _mm256_set1_pd(mean);
    s0 = s1 = _mm256_setzero_pd();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256  v = _mm256_loadu_ps(a + i);
        __m256d t0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), vm);
        __m256d t1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), vm);
        s0 = _mm256_fmadd_pd(t0, t0, s0);
        s1 = _mm256_fmadd_pd(t1, t1, s1);
    }
    _mm256_storeu_pd(l, _mm256_add_pd(s0, s1));
    for (int j = 0; j < 4; j++) sq += l[j];
    for (; i < n; i++) { double t = a[i] - mean; sq += t * t; }
    const float rstd = (float)(1.0 / sqrt(sq / (double)n + (double)eps)), shift = -(float)mean * rstd;
    const __m256 vr = _mm256_set1_ps(rstd), vs = _mm256_set1_ps(shift);
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 y = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), vr, vs);
        if (w) y = _mm256_mul_ps(y, _mm256_loadu_ps(w + i));
        if (b) y = _mm256_add_ps(y, _mm256_loadu_ps(b + i));
        _mm256_storeu_ps(d + i, y);
    }
    for (; i < n; i++) {
        float y = a[i] * rstd + shift;
        if (w) y *= w[i];
        if (b) y += b[i];
        d[i] = y;
    }
}

// s[i * kw + j] = (s[i * kw + j] + ph[i * sh]) + pw[j] for one score row (SAM rel-pos bias).
__attribute__((target("avx2,fma"))) static void add_rel_row_avx2(float * s, int64_t kh, int64_t kw, const float * ph,
                                                                  int64_t sh, const float * pw) {
    for (int64_t i = 0; i < kh; i++) {
        __m256  hv = _mm256_set1_ps(ph[i * sh]);
        float * si = s + i * kw;
        int64_t j  = 0;
        for (; j + 8 <= kw; j += 8)
            _mm256_storeu_ps(si + j, _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(si + j), hv), _mm256_loadu_ps(pw + j)));
        for (; j < kw; j++) si[j] = (si[j] + ph[i * sh]) + pw[j];
    }
}

// GELU (erf form) of a contiguous row, 8 lanes at a time: erf by Abramowitz & Stegun 7.1.26
// (|error| <= 1.5e-7), the same approximation PyTorch's vectorized CPU GELU uses.
// ref: pytorch aten/src/ATen/cpu/vec/vec256/vec256_float.h Vectorized<float>::erf
__attribute__((target("avx2,fma"))) static void gelu_erf_row_avx2(float * d, const float * a, int64_t n) {
    const __m256 neg_zero = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    const __m256 rsqrt2 = _mm256_set1_ps((float)M_SQRT1_2);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v    = _mm256_loadu_ps(a + i);
        __m256 x    = _mm256_mul_ps(v, rsqrt2);
        __m256 sign = _mm256_and_ps(neg_zero, x);
        __m256 ax   = _mm256_xor_ps(sign, x);
        __m256 t    = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), ax, one));
        __m256 r    = _mm256_fmadd_ps(_mm256_set1_ps(1.061405429f), t, _mm256_set1_ps(-1.453152027f));
        r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(1.421413741f));
        r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(-0.284496736f));
        r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(0.254829592f));
        __m256 e    = exp256_nonpos(_mm256_xor_ps(neg_zero, _mm256_mul_ps(x, x)));   // exp(-x^2)
        __m256 erf  = _mm256_fnmadd_ps(_mm256_mul_ps(e, t), r, one);                  // 1 - r t exp(-x^2)
        erf = _mm256_xor_ps(sign, erf);
        _mm256_storeu_ps(d + i, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, erf)));
    }
    for (; i < n; i++) d[i] = gelu_erf(a[i]);
}

// GELU (erf) 16 lanes at a time (AVX-512F): the 8-lane row operation for operation, so results
// equal bit for bit.
__attribute__((target("avx512f"))) static void gelu_erf_row_avx512(float * d, const float * a, int64_t n) {
    const __m512i sign_bit = _mm512_set1_epi32((int)0x80000000);
    const __m512  one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f), rsqrt2 = _mm512_set1_ps((float)M_SQRT1_2);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512  v    = _mm512_loadu_ps(a + i);
        __m512  x    = _mm512_mul_ps(v, rsqrt2);
        __m512i sign = _mm512_and_si512(sign_bit, _mm512_castps_si512(x));
        __m512  ax   = _mm512_castsi512_ps(_mm512_xor_si512(sign, _mm512_castps_si512(x)));
        __m512  t    = _mm512_div_ps(one, _mm512_fmadd_ps(_mm512_set1_ps(0.3275911f), ax, one));
        __m512  r    = _mm512_fmadd_ps(_mm512_set1_ps(1.061405429f), t, _mm512_set1_ps(-1.453152027f));
        r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(1.421413741f));
        r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(-0.284496736f));
        r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(0.254829592f));
        __m512 e   = exp512_nonpos(_mm512_castsi512_ps(_mm512_xor_si512(sign_bit, _mm512_castps_si512(_mm512_mul_ps(x, x)))));
        __m512 erf = _mm512_fnmadd_ps(_mm512_mul_ps(e, t), r, one);   // 1 - r t exp(-x^2)
        erf = _mm512_castsi512_ps(_mm512_xor_si512(sign, _mm512_castps_si512(erf)));
        _mm512_storeu_ps(d + i, _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, erf)));
    }
    gelu_erf_row_avx2(d + i, a + i, n - i);   // the tail
}

// v * sigmoid(k v) of a contiguous row, 8 lanes at a time: SiLU (k = 1) and CLIP's QuickGELU
// (k = 1.702). The sigmoid from e = exp(-|u|), u = k v (never overflows): 1 / (1 + e) for
// u >= 0, e / (1 + e) below.
__attribute__((target("avx2,fma"))) static void sigmoid_mul_row_avx2(float * d, const float * a, int64_t n, float k) {
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f), kv = _mm256_set1_ps(k);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(a + i), u = _mm256_mul_ps(kv, v);
        __m256 e = exp256_nonpos(_mm256_or_ps(u, sign));   // exp(-|u|)
        __m256 num = _mm256_blendv_ps(one, e, u);          // e where u < 0
        _mm256_storeu_ps(d + i, _mm256_div_ps(_mm256_mul_ps(v, num), _mm256_add_ps(one, e)));
    }
    for (; i < n; i++) d[i] = a[i] * sigmoidf(k * a[i]);
}

// GELU (tanh form) of a contiguous row, 8 lanes at a time: tanh(u) = sign(u) (1 - e) / (1 + e)
// with e = exp(-2 |u|) <= 1 (never overflows).
// ref: torch.nn.functional.gelu(approximate='tanh')
__attribute__((target("avx2,fma"))) static void gelu_tanh_row_avx2(float * d, const float * a, int64_t n) {
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    const __m256 k = _mm256_set1_ps(0.7978845608028654f), c = _mm256_set1_ps(0.044715f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v  = _mm256_loadu_ps(a + i);
        __m256 u  = _mm256_mul_ps(k, _mm256_fmadd_ps(_mm256_mul_ps(c, v), _mm256_mul_ps(v, v), v));
        __m256 su = _mm256_and_ps(sign, u);
        __m256 e  = exp256_nonpos(_mm256_mul_ps(_mm256_set1_ps(-2.0f), _mm256_andnot_ps(sign, u)));
        __m256 t  = _mm256_xor_ps(su, _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e)));
        _mm256_storeu_ps(d + i, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, t)));
    }
    for (; i < n; i++) d[i] = gelu_tanh(a[i]);
}

// d = a (+ - * /) b for contiguous rows of n.
__attribute__((target("avx2,fma"))) static void binary_row_avx2(int kind, float * d, const float * a, const float * b,
                                                                 int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(a + i), y = _mm256_loadu_ps(b + i);
        __m256 r = kind == VLM_BINARY_ADD ? _mm256_add_ps(x, y) : kind == VLM_BINARY_SUB ? _mm256_sub_ps(x, y)
                 : kind == VLM_BINARY_MUL ? _mm256_mul_ps(x, y) : _mm256_div_ps(x, y);
        _mm256_storeu_ps(d + i, r);
    }
    for (; i < n; i++)
        d[i] = kind == VLM_BINARY_ADD ? a[i] + b[i] : kind == VLM_BINARY_SUB ? a[i] - b[i]
             : kind == VLM_BINARY_MUL ? a[i] * b[i] : a[i] / b[i];
}

// ---- attention products with AVX-512 ---------------------------------------------------------
// For blocks of query rows, instead of two sgemm calls that repack k and v for every block:
// k is packed once per (batch, kv head) as kt [D, ldkt] (keys along rows, zero-padded to a
// multiple of 16), and both products (scores = q @ kt, out = p @ v) are small GEMMs whose tiles
// of NR rows x NV vectors of 16 columns are accumulated in zmm registers (NR x NV <= 24 of 32).
#define ATTN_TILE_ROWS 4
#define ATTN_TILE_VECS 6

// CALL(NR, NV) with compile-time NR = nr (1..4) and NV = nv (1..6), so that each tile's loops
// unroll and its accumulators stay in registers.
#define ATTN_TILE_CASES(nv, CALL, NR)                                                   \
    switch (nv) {                                                                       \
    case 6: CALL(NR, 6); break;                                                         \
    case 5: CALL(NR, 5); break;                                                         \
    case 4: CALL(NR, 4); break;                                                         \
    case 3: CALL(NR, 3); break;                                                         \
    case 2: CALL(NR, 2); break;                                                         \
    default: CALL(NR, 1); break;                                                        \
    }
#define ATTN_TILE_DISPATCH(nr, nv, CALL)                                                \
    switch (nr) {                                                                       \
    case 4: ATTN_TILE_CASES(nv, CALL, 4) break;                                         \
    case 3: ATTN_TILE_CASES(nv, CALL, 3) break;                                         \
    case 2: ATTN_TILE_CASES(nv, CALL, 2) break;                                         \
    default: ATTN_TILE_CASES(nv, CALL, 1) break;                                        \
    }

// c[r, 16 v + i] = scale * sum over k < K of a[r, k] * b[k, 16 v + i], for NR rows, NV vectors;
// with add, c's values plus that sum (scale 1).
__attribute__((target("avx512f"), always_inline)) static inline void
attn_tile_avx512(const float * a, int64_t lda, const float * b, int64_t ldb, int64_t K, float scale, float * c,
                 int64_t ldc, bool add, const int NR, const int NV) {
    __m512 acc[ATTN_TILE_ROWS][ATTN_TILE_VECS];
    #pragma GCC unroll 8
    for (int r = 0; r < NR; r++)
        #pragma GCC unroll 8
        for (int v = 0; v < NV; v++) acc[r][v] = add ? _mm512_loadu_ps(c + r * ldc + 16 * v) : _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k++) {
        __m512 bv[ATTN_TILE_VECS];
        #pragma GCC unroll 8
        for (int v = 0; v < NV; v++) bv[v] = _mm512_loadu_ps(b + k * ldb + 16 * v);
        #pragma GCC unroll 8
        for (int r = 0; r < NR; r++) {
            const __m512 ab = _mm512_set1_ps(a[r * lda + k]);
            #pragma GCC unroll 8
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(ab, bv[v], acc[r][v]);
        }
    }
    const __m512 sc = _mm512_set1_ps(scale);
    #pragma GCC unroll 8
    for (int r = 0; r < NR; r++)
        #pragma GCC unroll 8
        for (int v = 0; v < NV; v++) _mm512_storeu_ps(c + r * ldc + 16 * v, _mm512_mul_ps(acc[r][v], sc));
}

// c[M, N] = scale * a[M, K] @ b[K, N] for N a multiple of 16 (b's rows ldb apart, c's ldc).
// With scale 1 (p @ v), K in slices of ATTN_K_SLICE: the slice of b, up to 32 KiB for
// p @ v's 64 columns, stays in L1 while every tile of rows passes over it; unsliced, each tile
// of 4 rows would stream all of v (1 MiB for a SAM head) from L3.
#define ATTN_K_SLICE 128
__attribute__((target("avx512f"))) static void attn_gemm_avx512(const float * a, int64_t lda, int64_t M, const float * b,
                                                                int64_t ldb, int64_t K, int64_t N, float scale, float * c,
                                                                int64_t ldc) {
    const int64_t slice = scale == 1.0f ? ATTN_K_SLICE : K;
    for (int64_t k0 = 0; k0 < K; k0 += slice) {
        const int64_t kn = K - k0 < slice ? K - k0 : slice;
        const bool    add = k0 > 0;
        for (int64_t j0 = 0; j0 < N; j0 += 16 * ATTN_TILE_VECS) {
            const int nv = N - j0 >= 16 * ATTN_TILE_VECS ? ATTN_TILE_VECS : (int)((N - j0) / 16);
            for (int64_t r0 = 0; r0 < M; r0 += ATTN_TILE_ROWS) {
                const int nr = M - r0 >= ATTN_TILE_ROWS ? ATTN_TILE_ROWS : (int)(M - r0);
#define ATTN_TILE(NR, NV) attn_tile_avx512(a + r0 * lda + k0, lda, b + k0 * ldb + j0, ldb, kn, scale, c + r0 * ldc + j0, ldc, add, NR, NV)
                ATTN_TILE_DISPATCH(nr, nv, ATTN_TILE)
#undef ATTN_TILE
            }
        }
    }
}

static int g_use_avx512 = -1;   // -1: not checked yet; VLM_NO_AVX512=1 (or VLM_NO_AVX2=1) turns it off

static bool use_avx512(void) {
    if (g_use_avx512 < 0) {
        const char * e = getenv("VLM_NO_AVX512"), * e2 = getenv("VLM_NO_AVX2");
        int ok = __builtin_cpu_supports("avx512f") && !(e && *e == '1') && !(e2 && *e2 == '1');
        __atomic_store_n(&g_use_avx512, ok, __ATOMIC_RELAXED);
    }
    return g_use_avx512 == 1;
}

static int g_use_avx2 = -1;   // -1: not checked yet; VLM_NO_AVX2=1 forces the plain C path

static bool use_avx2(void) {
    if (g_use_avx2 < 0) {
        const char * e = getenv("VLM_NO_AVX2");
        int ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && !(e && *e == '1');
        __atomic_store_n(&g_use_avx2, ok, __ATOMIC_RELAXED);
    }
    return g_use_avx2 == 1;
}
#endif


static void op_binary(struct vlm_ctx * x, const struct vlm_op * op) {
    struct v4 a = v4_of(&op->src[0]), b = v4_of(&op->src[1]), d = v4_of(&op->dst);
    int       kind = op->i[0];
    int64_t   rows = d.ne[0] * d.ne[1] * d.ne[2], n = d.ne[3], sa = a.st[3], sb = b.st[3];
    #pragma omp parallel for num_threads(x->n_threads) schedule(static) if (rows * n > 32768)
    for (int64_t r = 0; r < rows; r++) {
        int64_t i2 = r % d.ne[2], i1 = (r / d.ne[2]) % d.ne[1], i0 = r / (d.ne[2] * d.ne[1]);
        const float * pa = f32_row(&a, i0, i1, i2), * pb = f32_row(&b, i0, i1, i2);
        float *       pd = (float *)d.p + r * n;
#ifdef VLM_HAVE_AVX2_PATH
        if (sa == 1 && sb == 1 && use_avx2()) {
            binary_row_avx2(kind, pd, pa, pb, n);
            continue;
        }
#endif
        switch (kind) {
            case VLM_BINARY_ADD: for (int64_t i = 0; i < n; i++) pd[i] = pa[i * sa] + pb[i * sb]; break;
            case VLM_BINARY_SUB: for (int64_t i = 0; i < n; i++) pd[i] = pa[i * sa] - pb[i * sb]; break;
            case VLM_BINARY_MUL: for (int64_t i = 0; i < n; i++) pd[i] = pa[i * sa] * pb[i * sb]; break;
            case VLM_BINARY_DIV: for (int64_t i = 0; i < n; i++) pd[i] = pa[i * sa] / pb[i * sb]; break;
            default: break;
        }
    }
}

static void op_unary(struct vlm_ctx * x, const struct vlm_op * op) {
    struct v4 a = v4_of(&op->src[0]), d = v4_of(&op->dst);
    int       kind = op->i[0];
    int64_t   rows = d.ne[0] * d.ne[1] * d.ne[2], n = d.ne[3], sa = a.st[3];
    #pragma omp parallel for num_threads(x->n_threads) schedule(static) if (rows * n > 8192)
    for (int64_t r = 0; r < rows; r++) {
        int64_t i2 = r % d.ne[2], i1 = (r / d.ne[2]) % d.ne[1], i0 = r / (d.ne[2] * d.ne[1]);
        const float * pa = f32_row(&a, i0, i1, i2);
        float *       pd = (float *)d.p + r * n;
        switch (kind) {
            // ref: torch.nn.functional.gelu (approximate='none' / 'tanh')
            case VLM_UNARY_GELU_ERF:
#ifdef VLM_HAVE_AVX2_PATH
                if (sa == 1 && use_avx512()) {
                    gelu_erf_row_avx512(pd, pa, n);
                    break;
                }
                if (sa == 1 && use_avx2()) {
                    gelu_erf_row_avx2(pd, pa, n);
                    break;
                }
#endif
                for (int64_t i = 0; i < n; i++) pd[i] = gelu_erf(pa[i * sa]);
                break;
            case VLM_UNARY_GELU_TANH:
#ifdef VLM_HAVE_AVX2_PATH
                if (sa == 1 && use_avx2()) {
                    gelu_tanh_row_avx2(pd, pa, n);
                    break;
                }
#endif
                for (int64_t i = 0; i < n; i++) pd[i] = gelu_tanh(pa[i * sa]);
                break;
            // ref: openai/CLIP clip/model.py QuickGELU: x * sigmoid(1.702 * x)
            case VLM_UNARY_QUICK_GELU:
#ifdef VLM_HAVE_AVX2_PATH
                if (sa == 1 && use_avx2()) {
                    sigmoid_mul_row_avx2(pd, pa, n, 1.702f);
                    break;
                }
#endif
                for (int64_t i = 0; i < n; i++) { float v = pa[i * sa]; pd[i] = v * sigmoidf(1.702f * v); }
                break;
            case VLM_UNARY_RELU:       for (int64_t i = 0; i < n; i++) { float v = pa[i * sa]; pd[i] = v > 0.0f ? v : 0.0f; } break;
            case VLM_UNARY_SILU:
#ifdef VLM_HAVE_AVX2_PATH
                if (sa == 1 && use_avx2()) {
                    sigmoid_mul_row_avx2(pd, pa, n, 1.0f);
                    break;
                }
#endif
                for (int64_t i = 0; i < n; i++) { float v = pa[i * sa]; pd[i] = v / (1.0f + expf(-v)); }
                break;
            case VLM_UNARY_SIGMOID:    for (int64_t i = 0; i < n; i++) pd[i] = sigmoidf(pa[i * sa]); break;
            case VLM_UNARY_STEP:       for (int64_t i = 0; i < n; i++) pd[i] = pa[i * sa] > 0.0f ? 1.0f : 0.0f; break;
            default: break;
        }
    }
}

// ---- normalization ---------------------------------------------------------------------------

// ref: pytorch aten/src/ATen/native/cpu/layer_norm_kernel.cpp LayerNormKernelImplInternal
// (two-pass moments here, in double; y = (x * rstd - mean * rstd) * w + b in float).
static void op_layer_norm(struct vlm_ctx * x, const struct vlm_op * op) {
    struct v4 a = v4_of(&op->src[0]), d = v4_of(&op->dst);
    float *   w_tmp = NULL, * b_tmp = NULL;
    const float * w = vec_f32(x, &op->src[1], &w_tmp), * b = vec_f32(x, &op->src[2], &b_tmp);
    float     eps = op->f[0];
    int64_t   rows = d.ne[0] * d.ne[1] * d.ne[2], n = d.ne[3], sa = a.st[3];
    if ((op->src[1].n_dims && !w) || (op->src[2].n_dims && !b)) goto done;
    #pragma omp parallel for num_threads(x->n_threads) schedule(static) if (rows * n > 16384)
    for (int64_t r = 0; r < rows; r++) {
        int64_t i2 = r % d.ne[2], i1 = (r / d.ne[2]) % d.ne[1], i0 = r / (d.ne[2] * d.ne[1]);
        const float * pa = f32_row(&a, i0, i1, i2);
        float *       pd = (float *)d.p + r * n;
#ifdef VLM_HAVE_AVX2_PATH
        if (sa == 1 && use_avx2()) {
            layer_norm_row_avx2(pa, pd, n, w, b, eps);
            continue;
        }
#endif
        double        sum = 0.0, sq = 0.0;
        for (int64_t i = 0; i < n; i++) sum += pa[i * sa];
        double mean = sum / (double)n;
        for (int64_t i = 0; i < n; i++) { double t = pa[i * sa] - mean; sq += t * t; }
        float rstd  = (float)(1.0 / sqrt(sq / (double)n + (double)eps));
        float shift = -(float)mean * rstd;
        for (int64_t i = 0; i < n; i++) {
            float y = pa[i * sa] * rstd + shift;
            if (w) y *= w[i];
            if (b) y += b[i];
            pd[i] = y;
        }
    }
done:
    free(w_tmp);
    free(b_tmp);
}

// ref: transformers LlamaRMSNorm.forward: x * rsqrt(mean(x^2) + eps) * w
static void op_rms_norm(struct vlm_ctx * x, const struct vlm_op * op) {
    struct v4 a = v4_of(&op->src[0]), d = v4_of(&op->dst);
    float *   w_tmp = NULL;
    const float * w = vec_f32(x, &op->src[1], &w_tmp);
    float     eps = op->f[0];
    int64_t   rows = d.ne[0] * d.ne[1] * d.ne[2], n = d.ne[3], sa = a.st[3];
    if (op->src[1].n_dims && !w) return;
    #pragma omp parallel for num_threads(x->n_threads) schedule(static) if (rows * n > 16384)
    for (int64_t r = 0; r < rows; r++) {
        int64_t i2 = r % d.ne[2], i1 = (r / d.ne[2]) % d.ne[1], i0 = r / (d.ne[2] * d.ne[1]);
        const float * pa = f32_row(&a, i0, i1, i2);
        float *       pd = (float *)d.p + r * n;
        double        sq = 0.0;
        for (int64_t i = 0; i < n; i++) sq += (double)pa[i * sa] * pa[i * sa];
        float rs = (float)(1.0 / sqrt(sq / (double)n + (double)eps));
        for (int64_t i = 0; i < n; i++) {
            float y = pa[i * sa] * rs;
            pd[i] = w ? w[i] * y : y;
        }
    }
    free(w_tmp);
}

// ref: segment-anything modeling/common.py LayerNorm2d.forward:
//   u = x.mean(1); s = (x - u)^2.mean(1); x = (x - u) / sqrt(s + eps); w * x + b
static void op_layer_norm_2d(struct vlm_ctx * x, const struct vlm_op * op) {
    const struct vlm_tensor * t = &op->src[0];
    float *   w_tmp = NULL, * b_tmp = NULL;
    const float * w = vec_f32(x, &op->src[1], &w_tmp), * b = vec_f32(x, &op->src[2], &b_tmp);
    float     eps = op->f[0];
    int64_t   B = t->shape[0], C = t->shape[1], H = t->shape[2], W = t->shape[3], P = H * W;
    const float * src = vlm_tensor_host(t);
    float *       dst = vlm_tensor_host(&op->dst);
    enum { PB = 64 };
    int64_t nblk = (P + PB - 1) / PB;
    if (!w || !b) goto done;
    #pragma omp parallel for num_threads(x->n_threads) schedule(static) if (B * C * P > 16384)
    for (int64_t job = 0; job < B * nblk; job++) {
        int64_t bi = job / nblk, p0 = (job % nblk) * PB, np = P - p0 < PB ? P - p0 : PB;
        int64_t off[PB];
        double  mean[PB], var[PB];
        float   meanf[PB], den[PB];
        for (int64_t j = 0; j < np; j++) {
            int64_t p = p0 + j;
            off[j]  = bi * t->stride[0] + (p / W) * t->stride[2] + (p % W) * t->stride[3];
            mean[j] = 0.0;
            var[j]  = 0.0;
        }
        for (int64_t c = 0; c < C; c++)
            for (int64_t j = 0; j < np; j++) mean[j] += src[off[j] + c * t->stride[1]];
        for (int64_t j = 0; j < np; j++) { mean[j] /= (double)C; meanf[j] = (float)mean[j]; }
        for (int64_t c = 0; c < C; c++)
            for (int64_t j = 0; j < np; j++) {
                double v = src[off[j] + c * t->stride[1]] - mean[j];
                var[j] += v * v;
            }
        for (int64_t j = 0; j < np; j++) den[j] = sqrtf((float)(var[j] / (double)C) + eps);
        for (int64_t c = 0; c < C; c++) {
            float * out = dst + (bi * C + c) * P + p0;
            for (int64_t j = 0; j < np; j++) out[j] = w[c] * ((src[off[j] + c * t->stride[1]] - meanf[j]) / den[j]) + b[c];
        }
    }
done:
    free(w_tmp);
    free(b_tmp);
}

// In-place softmax of one row; a row whose entries are all -inf becomes zeros.
static void softmax_row(float * s, int64_t n) {
#ifdef VLM_HAVE_AVX2_PATH
    if (use_avx2()) {
        softmax_row_avx2(s, n);
        return;
    }
#endif
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) mx = s[i] > mx ? s[i] : mx;
    if (mx == -INFINITY) {
        memset(s, 0, (size_t)n * sizeof(float));
        return;
    }
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) { s[i] = expf(s[i] - mx); sum += s[i]; }
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) s[i] *= inv;
}

static void op_softmax(struct vlm_ctx * x, const struct vlm_op * op) {
    struct v4 a = v4_of(&op->src[0]), d = v4_of(&op->dst), m;
    bool      has_mask = op->src[1].n_dims != 0;
    if (has_mask) m = v4_of(&op->src[1]);
    float     scale = op->f[0];
    int64_t   rows = d.ne[0] * d.ne[1] * d.ne[2], n = d.ne[3], sa = a.st[3];
    int       nt = rows * n > 8192 ? x->n_threads : 1;
    // each thread a contiguous share of the rows, its row index advanced without divisions
    // (rows of a few entries, e.g. SAM's 7 tokens, are many)
    #pragma omp parallel num_threads(nt)
    {
        const int t = omp_get_thread_num(), n_t = omp_get_num_threads();
        const int64_t r0 = rows * t / n_t, r1 = rows * (t + 1) / n_t;
        int64_t i2 = r0 % d.ne[2], i1 = (r0 / d.ne[2]) % d.ne[1], i0 = r0 / (d.ne[2] * d.ne[1]);
        for (int64_t r = r0; r < r1; r++) {
            const float * pa = f32_row(&a, i0, i1, i2);
            float *       pd = (float *)d.p + r * n;
            for (int64_t i = 0; i < n; i++) pd[i] = scale * pa[i * sa];
            if (has_mask) {
                const float * pm = f32_row(&m, i0, i1, i2);
                for (int64_t i = 0; i < n; i++) pd[i] += pm[i * m.st[3]];
            }
            softmax_row(pd, n);
            if (++i2 == d.ne[2] && (i2 = 0, ++i1 == d.ne[1])) i1 = 0, i0++;
        }
    }
}

// ---- ATTENTION -------------------------------------------------------------------------------

// q/k/v with innermost stride 1 and rows at least D apart, for BLAS; else a contiguous copy.
static const float * attn_operand(struct vlm_ctx * x, const struct vlm_tensor * t, float ** tmp, int64_t * s0,
                                  int64_t * s1, int64_t * ld) {
    *tmp = NULL;
    int64_t T = t->shape[2], D = t->shape[3];
    if ((t->stride[3] == 1 || D == 1) && (T == 1 || t->stride[2] >= D)) {
        *s0 = t->stride[0];
        *s1 = t->stride[1];
        *ld = T == 1 ? D : t->stride[2];
        return vlm_tensor_host(t);
    }
    const float * p = as_contig_f32(x, t, tmp);
    *s0 = t->shape[1] * T * D;
    *s1 = T * D;
    *ld = D;
    return p;
}

// Fused attention, one (batch, head, block of query rows) per work item: scores for the
// block [RB, Tk] in a per-thread buffer, bias terms, softmax, then @ v; the two products by
// attn_gemm_avx512 where Dv is a multiple of 16 (k transposed once per op), else by sgemm (or
// the one-row AVX2 loops when decoding).
// ref: segment-anything modeling/image_encoder.py Attention.forward, add_decomposed_rel_pos
static void op_attention(struct vlm_ctx * x, const struct vlm_op * op) {
    const struct vlm_tensor * q = &op->src[0], * k = &op->src[1], * v = &op->src[2];
    const struct vlm_tensor * mask = &op->src[3], * rh = &op->src[4], * rw = &op->src[5];
    int64_t B = q->shape[0], H = q->shape[1], Tq = q->shape[2], D = q->shape[3], Tk = k->shape[2], Dv = v->shape[3];
    int64_t kh = op->i[1], kw = op->i[2], pos0 = op->i[3], group = H / k->shape[1];
    bool    causal = op->i[0] != 0, has_mask = mask->n_dims != 0, has_rel = rh->n_dims != 0;
    float   scale = op->f[0];
    float * q_tmp = NULL, * k_tmp = NULL, * v_tmp = NULL;
    int64_t qs0, qs1, ldq, ks0, ks1, ldk, vs0, vs1, ldv;
    const float * Q = attn_operand(x, q, &q_tmp, &qs0, &qs1, &ldq);
    const float * Kp = attn_operand(x, k, &k_tmp, &ks0, &ks1, &ldk);
    const float * V = attn_operand(x, v, &v_tmp, &vs0, &vs1, &ldv);
    float *       O = vlm_tensor_host(&op->dst);
    const float * M  = has_mask ? vlm_tensor_host(mask) : NULL;
    const float * RH = has_rel ? vlm_tensor_host(rh) : NULL;
    const float * RW = has_rel ? vlm_tensor_host(rw) : NULL;
    int     nt = x->n_threads;
    bool    oom = false;
    float * kt = NULL;   // AVX-512 tiles: k^T per (batch, kv head) [D, ldkt]
    int64_t ldkt = (Tk + 15) / 16 * 16, lds = Tk, RB = 0, nblk = 0, jobs = 0;
    if (!Q || !Kp || !V) goto done;
#ifdef VLM_HAVE_AVX2_PATH
    const int64_t Hkv = k->shape[1];
    if (Tq > 1 && Dv % 16 == 0 && use_avx512() &&
        (kt = malloc((size_t)(B * Hkv * D) * (size_t)ldkt * sizeof(float)))) {
        lds = ldkt;
        #pragma omp parallel for num_threads(nt) schedule(static) if (B * Hkv * D * Tk > 65536)
        for (int64_t bh = 0; bh < B * Hkv; bh++) {
            const float * kp = Kp + (bh / Hkv) * ks0 + (bh % Hkv) * ks1;
            float *       ko = kt + bh * D * ldkt;
            for (int64_t j0 = 0; j0 < Tk; j0 += 16)   // in 16 x 16 blocks: 16 lines on each side
                for (int64_t d0 = 0; d0 < D; d0 += 16)
                    for (int64_t j = j0; j < j0 + 16 && j < Tk; j++)
                        for (int64_t d = d0; d < d0 + 16 && d < D; d++) ko[d * ldkt + j] = kp[j * ldk + d];
            for (int64_t d = 0; d < D; d++) memset(ko + d * ldkt + Tk, 0, (size_t)(ldkt - Tk) * sizeof(float));
        }
    }
#endif
    // query rows per block: the tiles repack nothing per block, so 32 (a small score block);
    // sgemm repacks k and v per block, so up to 128 as long as the score block stays within
    // 1 MiB (L2): 64 rows x 4096 keys for SAM's global attention
    RB = kt ? 32 : Tk <= 2048 ? 128 : 64;
    nblk = (Tq + RB - 1) / RB;
    jobs = B * H * nblk;

    #pragma omp parallel num_threads(nt)
    {
        float * S = malloc((size_t)(Tq < RB ? Tq : RB) * (size_t)lds * sizeof(float));
        float   inv[128];   // the AVX-512 path: 1 / sum of each row's exponentials (RB <= 128)
        if (!S) {
            #pragma omp atomic write
            oom = true;
        }
        #pragma omp for schedule(dynamic, 1)
        for (int64_t job = 0; job < jobs; job++) {
            if (!S) continue;
            int64_t bh = job / nblk, b = bh / H, h = bh % H;
            int64_t q0 = (job % nblk) * RB, rb = Tq - q0 < RB ? Tq - q0 : RB;
            const float * qp = Q + b * qs0 + h * qs1 + q0 * ldq;
            const float * kp = Kp + b * ks0 + (h / group) * ks1;
            const float * vp = V + b * vs0 + (h / group) * vs1;
            // causal: keys after the block's last query are masked for all of its rows
            const int64_t tk = causal && !has_rel && pos0 + q0 + rb < Tk ? pos0 + q0 + rb : Tk;
            // [rb, tk] = scale * q[rb, D] @ k[tk, D]^T (rows lds apart)
#ifdef VLM_HAVE_AVX2_PATH
            const bool one_row = rb == 1 && use_avx2();
            if (kt) attn_gemm_avx512(qp, ldq, rb, kt + (b * Hkv + h / group) * D * ldkt, ldkt, D, (tk + 15) / 16 * 16, scale, S, lds);
            else if (one_row) attn_scores_row_avx2(qp, kp, ldk, tk, D, scale, S);
            else
#endif
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rb, (int)tk, (int)D, scale, qp, (int)ldq, kp,
                        (int)ldk, 0.0f, S, (int)lds);
            for (int64_t r = 0; r < rb; r++) {
                float * s  = S + r * lds;
                int64_t qi = q0 + r;
                if (has_rel) {
                    // attn[q, i * kw + j] + rel_h[q, i] + rel_w[q, j]
                    const float * ph = RH + b * rh->stride[0] + h * rh->stride[1] + qi * rh->stride[2];
                    const float * pw = RW + b * rw->stride[0] + h * rw->stride[1] + qi * rw->stride[2];
                    int64_t sw = rw->stride[3];
#ifdef VLM_HAVE_AVX2_PATH
                    if (sw == 1 && use_avx2()) add_rel_row_avx2(s, kh, kw, ph, rh->stride[3], pw);
                    else
#endif
                    for (int64_t i = 0; i < kh; i++) {
                        float   hv = ph[i * rh->stride[3]];
                        float * si = s + i * kw;
                        if (sw == 1)
                            for (int64_t j = 0; j < kw; j++) si[j] = (si[j] + hv) + pw[j];
                        else
                            for (int64_t j = 0; j < kw; j++) si[j] = (si[j] + hv) + pw[j * sw];
                    }
                }
                if (has_mask) {
                    const float * pm = M + b * mask->stride[0] + h * mask->stride[1] + qi * mask->stride[2];
                    int64_t sm = mask->stride[3];
                    if (sm == 1) for (int64_t j = 0; j < tk; j++) s[j] += pm[j];
                    else         for (int64_t j = 0; j < tk; j++) s[j] += pm[j * sm];
                }
                if (causal)
                    for (int64_t j = pos0 + qi + 1; j < tk; j++) s[j] = -INFINITY;
#ifdef VLM_HAVE_AVX2_PATH
                if (kt) {
                    inv[r] = softmax_exp_row_avx512(s, tk);
                    continue;
                }
#endif
                softmax_row(s, tk);
            }
            // out[rb, Dv] = p[rb, tk] @ v[tk, Dv]
            float * op_ = O + ((b * H + h) * Tq + q0) * Dv;
#ifdef VLM_HAVE_AVX2_PATH
            if (kt) {   // the rows of p summed to 1 / inv: their outputs scaled by inv
                attn_gemm_avx512(S, lds, rb, vp, ldv, tk, Dv, 1.0f, op_, Dv);
                for (int64_t r = 0; r < rb; r++)
                    for (int64_t d = 0; d < Dv; d++) op_[r * Dv + d] *= inv[r];
                continue;
            }
            if (one_row) {
                attn_mix_row_avx2(S, vp, ldv, tk, Dv, op_);
                continue;
            }
#endif
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rb, (int)Dv, (int)tk, 1.0f, S, (int)lds, vp,
                        (int)ldv, 0.0f, op_, (int)Dv);
        }
        free(S);
    }
    if (oom) vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "attention: out of memory for the score block");
done:
    free(kt);
    free(q_tmp);
    free(k_tmp);
    free(v_tmp);
}

// ---- convolutions ------------------------------------------------------------------------------

// Output rows [oy0, oy1) of one image as im2col columns: col[r, (oy - oy0) * Wo + ox] is input
// (ci, oy * s - pad + ky, ox * s - pad + kx) for r = (ci, ky, kx), 0 outside the image.
static void im2col_rows(const float * img, const int64_t * st, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t s,
                        int64_t pad, int64_t Wo, int64_t R, int64_t oy0, int64_t oy1, float * col) {
    const int64_t cols = (oy1 - oy0) * Wo, step = s * st[3];
    for (int64_t r = 0; r < R; r++) {
        int64_t ci = r / (kh * kw), ky = (r / kw) % kh, kx = r % kw;
        float * c  = col + r * cols;
        const float * plane = img + ci * st[1];
        // output columns [ox0, ox1) read inside the image (ix = ox * s - pad + kx in [0, W))
        int64_t ox0 = kx >= pad ? 0 : (pad - kx + s - 1) / s;
        int64_t ox1 = W - 1 + pad - kx < 0 ? 0 : (W - 1 + pad - kx) / s + 1;
        if (ox1 > Wo) ox1 = Wo;
        if (ox0 > ox1) ox0 = ox1;
        for (int64_t oy = oy0; oy < oy1; oy++) {
            int64_t iy = oy * s - pad + ky;
            float * crow = c + (oy - oy0) * Wo;
            if (iy < 0 || iy >= H) {
                memset(crow, 0, (size_t)Wo * sizeof(float));
                continue;
            }
            memset(crow, 0, (size_t)ox0 * sizeof(float));
            memset(crow + ox1, 0, (size_t)(Wo - ox1) * sizeof(float));
            const float * p = plane + iy * st[2] + (ox0 * s - pad + kx) * st[3];
            if (step == 1) memcpy(crow + ox0, p, (size_t)(ox1 - ox0) * sizeof(float));
            else
                for (int64_t ox = ox0; ox < ox1; ox++, p += step) crow[ox] = *p;
        }
    }
}

// out[b, Cout, Ho*Wo] = w[Cout, R] @ im2col(in[b]) [R, Ho*Wo] (+ bias), R = Cin * kh * kw. A 1x1
// convolution over contiguous rows multiplies the input as it is (one threaded sgemm); the
// others go through im2col a band of output rows at a time (about IM2COL_BYTES of columns, so
// the band stays in cache and no image-sized buffer is allocated), the threads taking bands,
// each band one single-threaded sgemm into its output columns.
#define IM2COL_BYTES ((int64_t)2 << 20)
static void op_conv2d(struct vlm_ctx * x, const struct vlm_op * op) {
    const struct vlm_tensor * in = &op->src[0], * dst = &op->dst;
    int64_t B = in->shape[0], Cin = in->shape[1], H = in->shape[2], W = in->shape[3];
    int64_t Cout = op->src[1].shape[0], kh = op->src[1].shape[2], kw = op->src[1].shape[3];
    int64_t Ho = dst->shape[2], Wo = dst->shape[3], P = Ho * Wo, R = Cin * kh * kw;
    int64_t s = op->i[0], pad = op->i[1];
    const int64_t * st = in->stride;
    float * w_tmp = NULL, * b_tmp = NULL;
    const float * Wt = as_contig_f32(x, &op->src[1], &w_tmp);
    const float * bias = vec_f32(x, &op->src[2], &b_tmp);
    const float * src = vlm_tensor_host(in);
    float *       out = vlm_tensor_host(dst);
    int           nt = x->n_threads;
    bool direct = kh == 1 && kw == 1 && s == 1 && pad == 0 && st[3] == 1 && (H == 1 || st[2] == W) && st[1] >= P;
    if (!Wt || (op->src[2].n_dims && !bias)) goto done;
    if (direct) {
        for (int64_t b = 0; b < B; b++) {
            float * ob = out + b * Cout * P;
            if (bias) {
                #pragma omp parallel for num_threads(nt) schedule(static) if (Cout * P > 65536)
                for (int64_t c = 0; c < Cout; c++)
                    for (int64_t p = 0; p < P; p++) ob[c * P + p] = bias[c];
            }
            vlm_cpu_gemm(nt, false, false, Cout, P, R, 1.0f, Wt, R, src + b * st[0], st[1], bias ? 1.0f : 0.0f, ob, P);
        }
        goto done;
    }
    const int64_t band = IM2COL_BYTES / (R * Wo * (int64_t)sizeof(float)) > 0 ? IM2COL_BYTES / (R * Wo * (int64_t)sizeof(float)) : 1;
    const int64_t n_bands = (Ho + band - 1) / band;
    const int     nthr = n_bands * B < nt ? (int)(n_bands * B) : nt;
    bool          oom = false;
    #pragma omp parallel num_threads(nthr)
    {
        float * col = malloc((size_t)(R * band * Wo) * sizeof(float));   // [R, band * Wo]
        if (!col) {
            #pragma omp atomic write
            oom = true;
        }
        #pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < B * n_bands; t++) {
            if (!col) continue;
            const int64_t b = t / n_bands, oy0 = (t % n_bands) * band, oy1 = oy0 + band < Ho ? oy0 + band : Ho;
            const int64_t cols = (oy1 - oy0) * Wo;
            float *       ob = out + b * Cout * P + oy0 * Wo;
            im2col_rows(src + b * st[0], st, H, W, kh, kw, s, pad, Wo, R, oy0, oy1, col);
            for (int64_t c = 0; bias && c < Cout; c++)
                for (int64_t p = 0; p < cols; p++) ob[c * P + p] = bias[c];
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Cout, (int)cols, (int)R, 1.0f, Wt, (int)R, col,
                        (int)cols, bias ? 1.0f : 0.0f, ob, (int)P);
        }
        free(col);
    }
    if (oom) vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "cpu: out of memory for conv2d im2col");
done:
    free(w_tmp);
    free(b_tmp);
}

// conv_transpose2d with kernel == stride: every output pixel gets exactly one input pixel.
// t [Cout*k*k, H*W] = w[Cin, Cout*k*k]^T @ in[Cin, H*W], then scattered.
static void op_conv_transpose2d(struct vlm_ctx * x, const struct vlm_op * op) {
    const struct vlm_tensor * in = &op->src[0];
    int64_t B = in->shape[0], Cin = in->shape[1], H = in->shape[2], W = in->shape[3];
    int64_t Cout = op->src[1].shape[1], k = op->i[0], P = H * W, R = Cout * k * k;
    float * w_tmp = NULL, * b_tmp = NULL, * in_tmp = NULL, * t = NULL;
    const float * Wt = as_contig_f32(x, &op->src[1], &w_tmp);
    const float * bias = vec_f32(x, &op->src[2], &b_tmp);
    // in[b] is the [Cin, P] matrix of the GEMM, or (channels last: a permuted [B, H, W, Cin]) its
    // transpose, which BLAS reads as it is
    const bool    chlast = in->dtype == VLM_DTYPE_F32 && in->stride[1] == 1 && in->stride[3] == Cin && in->stride[2] == W * Cin;
    const float * src = chlast ? vlm_tensor_host(in) : as_contig_f32(x, in, &in_tmp);
    const int64_t sb = chlast ? in->stride[0] : Cin * P;
    float *       out = vlm_tensor_host(&op->dst);
    int           nt = x->n_threads;
    int64_t       Wo = W * k;
    if (!Wt || !src || (op->src[2].n_dims && !bias)) goto done;
    if (!(t = xmalloc(x, (size_t)R * (size_t)P * sizeof(float), "conv_transpose2d"))) goto done;
    for (int64_t b = 0; b < B; b++) {
        vlm_cpu_gemm(nt, true, chlast, R, P, Cin, 1.0f, Wt, R, src + b * sb, chlast ? Cin : P, 0.0f, t, P);
        float * ob = out + b * Cout * P * k * k;
        // out[co, y * k + ky, xx * k + kx] = t[(co, ky, kx), y, xx] + bias[co], one output row at a time
        #pragma omp parallel for num_threads(nt) schedule(static) if (R * P > 32768)
        for (int64_t row = 0; row < Cout * H * k; row++) {
            const int64_t co = row / (H * k), y = (row / k) % H, ky = row % k;
            const float   bv = bias ? bias[co] : 0.0f;
            const float * tr = t + (co * k + ky) * k * P + y * W;   // kx = 0; kx advances by P
            float *       o  = ob + (co * H * k + y * k + ky) * Wo;
            for (int64_t xx = 0; xx < W; xx++)
                for (int64_t kx = 0; kx < k; kx++) o[xx * k + kx] = tr[kx * P + xx] + bv;
        }
    }
done:
    free(t);
    free(in_tmp);
    free(w_tmp);
    free(b_tmp);
}

// ---- INTERPOLATE -----------------------------------------------------------------------------

// Per output index: taps [lo, lo + n) and their weights (at most max_taps).
struct taps {
    int64_t * lo;
    int32_t * n;     // tap count (aa) or offset of the second tap (linear)
    float *   w;     // [out, max_taps]
    int32_t   max_taps;
};

// ref: pytorch aten/src/ATen/native/UpSample.h area_pixel_compute_source_index and
// cpu/UpSampleKernel.cpp compute_indices_weights_linear (align_corners=False)
static bool taps_linear(int64_t in, int64_t out, struct taps * t) {
    t->max_taps = 2;
    t->lo = malloc((size_t)out * sizeof *t->lo);
    t->n  = malloc((size_t)out * sizeof *t->n);
    t->w  = malloc((size_t)out * 2 * sizeof *t->w);
    if (!t->lo || !t->n || !t->w) return false;
    float ratio = (float)in / (float)out;
    for (int64_t o = 0; o < out; o++) {
        float src = ratio * ((float)o + 0.5f) - 0.5f;
        if (src < 0.0f) src = 0.0f;
        int64_t i0 = (int64_t)floorf(src);
        if (i0 > in - 1) i0 = in - 1;
        float l1 = src - (float)i0;
        l1 = l1 < 0.0f ? 0.0f : l1 > 1.0f ? 1.0f : l1;
        // torch keeps both taps at the last pixel (offset 0) with the computed weights
        t->lo[o] = i0;
        t->n[o]  = i0 < in - 1 ? 1 : 0;   // offset of the second tap
        t->w[o * 2 + 0] = 1.0f - l1;
        t->w[o * 2 + 1] = l1;
    }
    return true;
}

// ref: pytorch aten/src/ATen/native/cpu/UpSampleKernel.cpp _compute_weights_aa with the
// bilinear (triangle) filter: support = scale when downscaling, weights normalized.
static bool taps_aa(int64_t in, int64_t out, struct taps * t) {
    double scale    = (double)((float)in / (float)out);
    double support  = scale >= 1.0 ? scale : 1.0;
    double invscale = scale >= 1.0 ? 1.0 / scale : 1.0;
    int32_t max_taps = (int32_t)ceil(support) * 2 + 1;
    t->max_taps = max_taps;
    t->lo = malloc((size_t)out * sizeof *t->lo);
    t->n  = malloc((size_t)out * sizeof *t->n);
    t->w  = malloc((size_t)out * (size_t)max_taps * sizeof *t->w);
    if (!t->lo || !t->n || !t->w) return false;
    for (int64_t o = 0; o < out; o++) {
        double  center = scale * ((double)o + 0.5);
        int64_t xmin   = (int64_t)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int64_t xmax = (int64_t)(center + support + 0.5);
        if (xmax > in) xmax = in;
        int64_t n = xmax - xmin;
        if (n > max_taps) n = max_taps;
        if (n < 1) { n = 1; if (xmin > in - 1) xmin = in - 1; }
        double ws[64], total = 0.0;
        float * w = t->w + o * max_taps;
        for (int64_t j = 0; j < n; j++) {
            double d = fabs(((double)(j + xmin) - center + 0.5) * invscale);
            double v = d < 1.0 ? 1.0 - d : 0.0;
            if (j < 64) ws[j] = v;
            total += v;
            w[j] = (float)v;
        }
        for (int64_t j = 0; j < n; j++) {
            double v = j < 64 ? ws[j] : (double)w[j];
            w[j] = (float)(total != 0.0 ? v / total : v);
        }
        t->lo[o] = xmin;
        t->n[o]  = (int32_t)n;
    }
    return true;
}

static void taps_free(struct taps * t) {
    free(t->lo);
    free(t->n);
    free(t->w);
}

// Bilinear resize. Without antialias: out = wy0 * (wx0 * p00 + wx1 * p01) + wy1 * (wx0 * p10 + wx1 * p11)
// as torch's cpu_upsample_linear. With antialias: horizontal pass then vertical pass, each a
// normalized triangle filter, as torch's separable _upsample_bilinear2d_aa.
static void op_interpolate(struct vlm_ctx * x, const struct vlm_op * op) {
    const struct vlm_tensor * in = &op->src[0];
    int64_t B = in->shape[0], C = in->shape[1], H = in->shape[2], W = in->shape[3];
    int64_t OH = op->dst.shape[2], OW = op->dst.shape[3];
    bool    aa = op->i[0] != 0;
    const float * src = vlm_tensor_host(in);
    const int64_t * st = in->stride;
    float * out = vlm_tensor_host(&op->dst), * tmp = NULL;
    struct taps ty = { 0 }, tx = { 0 };
    int nt = x->n_threads;
    bool ok = aa ? (taps_aa(H, OH, &ty) && taps_aa(W, OW, &tx)) : (taps_linear(H, OH, &ty) && taps_linear(W, OW, &tx));
    if (!ok) {
        vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "interpolate: out of memory");
        goto done;
    }
    if (!aa) {
        #pragma omp parallel for num_threads(nt) schedule(static) if (B * C * OH * OW > 16384)
        for (int64_t r = 0; r < B * C * OH; r++) {
            int64_t oy = r % OH, c = (r / OH) % C, b = r / (OH * C);
            const float * plane = src + b * st[0] + c * st[1];
            const float * r0 = plane + ty.lo[oy] * st[2];
            const float * r1 = r0 + ty.n[oy] * st[2];
            float wy0 = ty.w[oy * 2], wy1 = ty.w[oy * 2 + 1];
            float * o = out + r * OW;
            for (int64_t ox = 0; ox < OW; ox++) {
                int64_t x0 = tx.lo[ox] * st[3], x1 = x0 + tx.n[ox] * st[3];
                float   wx0 = tx.w[ox * 2], wx1 = tx.w[ox * 2 + 1];
                float   t0 = wx0 * r0[x0] + wx1 * r0[x1];
                float   t1 = wx0 * r1[x0] + wx1 * r1[x1];
                o[ox] = t0 * wy0 + t1 * wy1;
            }
        }
        goto done;
    }
    // antialiased: horizontal into tmp [B, C, H, OW], then vertical into out
    if (!(tmp = xmalloc(x, (size_t)(B * C * H) * (size_t)OW * sizeof(float), "interpolate"))) goto done;
    #pragma omp parallel for num_threads(nt) schedule(static) if (B * C * H * OW > 16384)
    for (int64_t r = 0; r < B * C * H; r++) {
        int64_t y = r % H, c = (r / H) % C, b = r / (H * C);
        const float * row = src + b * st[0] + c * st[1] + y * st[2];
        float *       o   = tmp + r * OW;
        for (int64_t ox = 0; ox < OW; ox++) {
            const float * w = tx.w + ox * tx.max_taps;
            const float * p = row + tx.lo[ox] * st[3];
            float acc = w[0] * p[0];
            for (int32_t j = 1; j < tx.n[ox]; j++) acc += w[j] * p[j * st[3]];
            o[ox] = acc;
        }
    }
    #pragma omp parallel for num_threads(nt) schedule(static) if (B * C * OH * OW > 16384)
    for (int64_t r = 0; r < B * C * OH; r++) {
        int64_t oy = r % OH, bc = r / OH;
        const float * w = ty.w + oy * ty.max_taps;
        const float * p = tmp + (bc * H + ty.lo[oy]) * OW;
        float *       o = out + r * OW;
        for (int64_t ox = 0; ox < OW; ox++) o[ox] = w[0] * p[ox];
        for (int32_t j = 1; j < ty.n[oy]; j++)
            for (int64_t ox = 0; ox < OW; ox++) o[ox] += w[j] * p[j * OW + ox];
    }
done:
    free(tmp);
    taps_free(&ty);
    taps_free(&tx);
}

// ---- data movement -----------------------------------------------------------------------------

// dst[...] = src[...] over equal shapes, any strides, converting dtype.
static void copy_view(int nt, const struct vlm_tensor * dt, const struct vlm_tensor * sr) {
    struct v4 d = v4_of(dt), s = v4_of(sr);
    int64_t   rows = d.ne[0] * d.ne[1] * d.ne[2], n = d.ne[3];
    bool      same = d.dtype == s.dtype;
    if (same && vlm_tensor_is_contiguous(dt) && vlm_tensor_is_contiguous(sr)) {
        memcpy(d.p, s.p, (size_t)(rows * n) * d.es);
        return;
    }
    #pragma omp parallel for num_threads(nt) schedule(static) if (rows * n > 32768)
    for (int64_t r = 0; r < rows; r++) {
        int64_t i2 = r % d.ne[2], i1 = (r / d.ne[2]) % d.ne[1], i0 = r / (d.ne[2] * d.ne[1]);
        char *       pd = d.p + (size_t)(i0 * d.st[0] + i1 * d.st[1] + i2 * d.st[2]) * d.es;
        const char * ps = s.p + (size_t)(i0 * s.st[0] + i1 * s.st[1] + i2 * s.st[2]) * s.es;
        if (same && d.st[3] == 1 && s.st[3] == 1) {
            memcpy(pd, ps, (size_t)n * d.es);
        } else if (same) {
            for (int64_t i = 0; i < n; i++) memcpy(pd + (size_t)(i * d.st[3]) * d.es, ps + (size_t)(i * s.st[3]) * s.es, d.es);
        } else if (d.dtype == VLM_DTYPE_F32) {
            for (int64_t i = 0; i < n; i++) ((float *)pd)[i * d.st[3]] = load_f(s.dtype, ps + (size_t)(i * s.st[3]) * s.es);
        } else {
            for (int64_t i = 0; i < n; i++)
                store_f(d.dtype, pd + (size_t)(i * d.st[3]) * d.es, load_f(s.dtype, ps + (size_t)(i * s.st[3]) * s.es));
        }
    }
}

// A contiguous block-dtype source to an F32 destination view: row by row through the table.
static void copy_from_blocks(struct vlm_ctx * x, const struct vlm_tensor * dt, const struct vlm_tensor * sr) {
    struct v4    d = v4_of(dt);
    int64_t      rows = d.ne[0] * d.ne[1] * d.ne[2], n = d.ne[3];
    size_t       row_bytes = vlm_dtype_nbytes(sr->dtype, n);
    const char * src = vlm_tensor_host(sr);
    void (*to_f32)(const void *, float *, int64_t) = vlm_dtype_traits(sr->dtype)->to_f32;
    float * tmp = d.st[3] == 1 ? NULL : xmalloc(x, (size_t)n * sizeof(float), "a dequantized row");
    if (d.st[3] != 1 && !tmp) return;
    for (int64_t r = 0; r < rows; r++) {
        int64_t i2 = r % d.ne[2], i1 = (r / d.ne[2]) % d.ne[1], i0 = r / (d.ne[2] * d.ne[1]);
        float * pd = (float *)d.p + i0 * d.st[0] + i1 * d.st[1] + i2 * d.st[2];
        to_f32(src + (size_t)r * row_bytes, tmp ? tmp : pd, n);
        for (int64_t i = 0; tmp && i < n; i++) pd[i * d.st[3]] = tmp[i];
    }
    free(tmp);
}

static void op_copy(struct vlm_ctx * x, const struct vlm_op * op) {
    if (vlm_dtype_is_block(op->src[0].dtype)) copy_from_blocks(x, &op->dst, &op->src[0]);
    else copy_view(x->n_threads, &op->dst, &op->src[0]);
}

static void op_concat(struct vlm_ctx * x, const struct vlm_op * op) {
    int32_t           dim = op->i[0];
    struct vlm_tensor d0 = vlm_tensor_slice(op->dst, dim, 0, op->src[0].shape[dim]);
    struct vlm_tensor d1 = vlm_tensor_slice(op->dst, dim, op->src[0].shape[dim], op->src[1].shape[dim]);
    copy_view(x->n_threads, &d0, &op->src[0]);
    copy_view(x->n_threads, &d1, &op->src[1]);
}

static void op_gather(struct vlm_ctx * x, const struct vlm_op * op) {
    const struct vlm_tensor * tab = &op->src[0];
    struct v4 ids = v4_of(&op->src[1]);
    int64_t   V = tab->shape[0], D = tab->shape[1], n = vlm_tensor_numel(&op->src[1]);
    size_t    es = vlm_dtype_size(tab->dtype);
    const char * tp = vlm_tensor_host(tab);
    float *   out = vlm_tensor_host(&op->dst);
    int32_t * idx = xmalloc(x, (size_t)n * sizeof(int32_t), "gather ids");
    if (!idx) return;
    int64_t k = 0;
    for (int64_t i0 = 0; i0 < ids.ne[0]; i0++)
        for (int64_t i1 = 0; i1 < ids.ne[1]; i1++)
            for (int64_t i2 = 0; i2 < ids.ne[2]; i2++)
                for (int64_t i3 = 0; i3 < ids.ne[3]; i3++) {
                    int32_t id;
                    memcpy(&id, ids.p + (size_t)(i0 * ids.st[0] + i1 * ids.st[1] + i2 * ids.st[2] + i3 * ids.st[3]) * 4, 4);
                    if (id < 0 || id >= V) {
                        vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "gather: id %d out of range [0, %lld)", id, (long long)V);
                        free(idx);
                        return;
                    }
                    idx[k++] = id;
                }
    size_t row_bytes = vlm_dtype_nbytes(tab->dtype, D);   // block dtypes: contiguous rows
    #pragma omp parallel for num_threads(x->n_threads) schedule(static) if (n * D > 32768)
    for (int64_t i = 0; i < n; i++) {
        const char * row = tp + (size_t)(idx[i] * tab->stride[0]) * es;
        float *      o   = out + i * D;
        if (es == 0) vlm_dtype_traits(tab->dtype)->to_f32(tp + (size_t)idx[i] * row_bytes, o, D);
        else if (tab->dtype == VLM_DTYPE_F32 && tab->stride[1] == 1) memcpy(o, row, (size_t)D * 4);
        else
            for (int64_t j = 0; j < D; j++) o[j] = load_f(tab->dtype, row + (size_t)(j * tab->stride[1]) * es);
    }
    free(idx);
}

// ref: transformers modeling_llama apply_rotary_pos_emb / rotate_half (NEOX pairs (i, i + D/2));
// ggml rope "normal" mode (pairs (2i, 2i + 1)). inv_freq = 1 / theta^(2i / D) in float.
static void op_rope(struct vlm_ctx * x, const struct vlm_op * op) {
    struct v4 a = v4_of(&op->src[0]), d = v4_of(&op->dst);
    int64_t   B = a.ne[0], H = a.ne[1], T = a.ne[2], D = a.ne[3], half = D / 2, sa = a.st[3];
    int32_t   pos0 = op->i[0];
    bool      neox = op->i[1] == VLM_ROPE_NEOX;
    float     theta = op->f[0];
    float *   cs = xmalloc(x, (size_t)(T * half * 2 + half) * sizeof(float), "rope tables");   // [T, half, cos/sin], inv_freq
    if (!cs) return;
    float *   inv_freq = cs + T * half * 2;
    for (int64_t i = 0; i < half; i++) inv_freq[i] = 1.0f / powf(theta, (float)(2 * i) / (float)D);
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < half; i++) {
            float inv = inv_freq[i];
            float ang = (float)(pos0 + t) * inv;
            cs[(t * half + i) * 2]     = cosf(ang);
            cs[(t * half + i) * 2 + 1] = sinf(ang);
        }
    #pragma omp parallel for num_threads(x->n_threads) schedule(static) if (B * H * T * D > 16384)
    for (int64_t r = 0; r < B * H * T; r++) {
        int64_t t = r % T, h = (r / T) % H, b = r / (T * H);
        const float * pa = f32_row(&a, b, h, t);
        float *       pd = (float *)d.p + r * D;
        const float * c  = cs + t * half * 2;
        for (int64_t i = 0; i < half; i++) {
            int64_t i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
            float   x0 = pa[i0 * sa], x1 = pa[i1 * sa], co = c[2 * i], si = c[2 * i + 1];
            pd[i0] = x0 * co - x1 * si;
            pd[i1] = x1 * co + x0 * si;
        }
    }
    free(cs);
}

// Depthwise conv2d on channel-last [B, H, W, C]: out[b, oy, ox, c] = bias[c] +
//   sum_{ky, kx} w[c, 0, ky, kx] * in[b, oy * s - pad + ky, ox * s - pad + kx, c] (zero padding).
// The kernel is transposed to [kh * kw, C] so that each output pixel runs along contiguous
// channels; tap[t] is the input pixel of tap t (NULL outside the image), channel stride sc.
static void dw_pixel(float * out, const float * const * tap, const float * w, int64_t taps, const float * bias, int64_t C,
                     int64_t sc) {
    for (int64_t c = 0; c < C; c++) {
        float acc = bias ? bias[c] : 0.0f;
        for (int64_t t = 0; t < taps; t++)
            if (tap[t]) acc += w[t * C + c] * tap[t][c * sc];
        out[c] = acc;
    }
}
#ifdef VLM_HAVE_AVX2_PATH
__attribute__((target("avx2,fma"))) static void dw_pixel_avx2(float * out, const float * const * tap, const float * w,
                                                             int64_t taps, const float * bias, int64_t C) {
    int64_t c = 0;
    for (; c + 8 <= C; c += 8) {
        __m256 acc = bias ? _mm256_loadu_ps(bias + c) : _mm256_setzero_ps();
        for (int64_t t = 0; t < taps; t++)
            if (tap[t]) acc = _mm256_fmadd_ps(_mm256_loadu_ps(w + t * C + c), _mm256_loadu_ps(tap[t] + c), acc);
        _mm256_storeu_ps(out + c, acc);
    }
    for (; c < C; c++) {
        float acc = bias ? bias[c] : 0.0f;
        for (int64_t t = 0; t < taps; t++)
            if (tap[t]) acc += w[t * C + c] * tap[t][c];
        out[c] = acc;
    }
}
#endif

static void op_conv2d_dw(struct vlm_ctx * x, const struct vlm_op * op) {
    const struct vlm_tensor * in = &op->src[0], * dst = &op->dst;
    int64_t B = in->shape[0], H = in->shape[1], W = in->shape[2], C = in->shape[3];
    int64_t kh = op->src[1].shape[2], kw = op->src[1].shape[3], Ho = dst->shape[1], Wo = dst->shape[2];
    int64_t s = op->i[0], pad = op->i[1];
    const int64_t * st = in->stride;
    float * w_tmp = NULL, * b_tmp = NULL, * wt = NULL;
    const float * Wc = as_contig_f32(x, &op->src[1], &w_tmp);
    const float * bias = vec_f32(x, &op->src[2], &b_tmp);
    const float * src = vlm_tensor_host(in);
    float *       out = vlm_tensor_host(dst);
    if (!Wc || (op->src[2].n_dims && !bias) || !(wt = xmalloc(x, (size_t)(kh * kw * C) * sizeof(float), "conv2d_dw"))) goto done;
    for (int64_t c = 0; c < C; c++)
        for (int64_t k = 0; k < kh * kw; k++) wt[k * C + c] = Wc[c * kh * kw + k];
#ifdef VLM_HAVE_AVX2_PATH
    const bool avx2 = st[3] == 1 && use_avx2();
#endif
    #pragma omp parallel for num_threads(x->n_threads) schedule(static) if (B * Ho * Wo * C > 16384)
    for (int64_t row = 0; row < B * Ho; row++) {
        int64_t b = row / Ho, oy = row % Ho;
        const float * tap[VLM_DW_MAX_TAPS];
        for (int64_t ox = 0; ox < Wo; ox++) {
            for (int64_t ky = 0; ky < kh; ky++)
                for (int64_t kx = 0; kx < kw; kx++) {
                    int64_t iy = oy * s - pad + ky, ix = ox * s - pad + kx;
                    bool inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
                    tap[ky * kw + kx] = inside ? src + b * st[0] + iy * st[1] + ix * st[2] : NULL;
                }
            float * o = out + ((row * Wo) + ox) * C;
#ifdef VLM_HAVE_AVX2_PATH
            if (avx2) {
                dw_pixel_avx2(o, tap, wt, kh * kw, bias, C);
                continue;
            }
#endif
            dw_pixel(o, tap, wt, kh * kw, bias, C, st[3]);
        }
    }
done:
    free(wt);
    free(w_tmp);
    free(b_tmp);
}

// ---- dispatch ------------------------------------------------------------------------------------

// One CPU op at a time in the process: each op already uses every core of its context, and
// OpenBLAS's OpenMP build is not documented as safe when several OpenMP root teams (the
// contexts of several threads) call it at once. Contexts used from several threads (a model's
// sessions) interleave op by op.
static pthread_mutex_t cpu_op_lock = PTHREAD_MUTEX_INITIALIZER;

static void run_op(struct vlm_ctx * x, const struct vlm_op * op);

void vlm_cpu_run_op(struct vlm_ctx * x, const struct vlm_op * op) {
    if (!vlm_ctx_ok(x)) return;
    if (op->dst.n_dims == 0 || !vlm_tensor_host(&op->dst)) {
        vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "cpu: op %d has no host output", (int)op->type);
        return;
    }
    pthread_mutex_lock(&cpu_op_lock);
    // BLAS calls below run inside OpenMP regions and must stay single-threaded, even when
    // other code (e.g. a peak measurement) changed OpenBLAS's thread count meanwhile. OpenBLAS's
    // OpenMP build also follows the calling thread's omp_get_max_threads(), a per-thread
    // setting: a thread's first op would otherwise run BLAS on every core and round differently.
    if (openblas_get_num_threads() != 1 || omp_get_max_threads() != 1) {
        openblas_set_num_threads(1);
        omp_set_num_threads(1);
    }
    run_op(x, op);
    pthread_mutex_unlock(&cpu_op_lock);
}

static void run_op(struct vlm_ctx * x, const struct vlm_op * op) {
    switch (op->type) {
        case VLM_OP_LINEAR:           op_linear(x, op); break;
        case VLM_OP_MATMUL:           op_matmul(x, op); break;
        case VLM_OP_BINARY:           op_binary(x, op); break;
        case VLM_OP_SCALE:            op_scale(x, op); break;
        case VLM_OP_UNARY:            op_unary(x, op); break;
        case VLM_OP_LAYER_NORM:       op_layer_norm(x, op); break;
        case VLM_OP_RMS_NORM:         op_rms_norm(x, op); break;
        case VLM_OP_LAYER_NORM_2D:    op_layer_norm_2d(x, op); break;
        case VLM_OP_SOFTMAX:          op_softmax(x, op); break;
        case VLM_OP_ATTENTION:        op_attention(x, op); break;
        case VLM_OP_CONV2D:           op_conv2d(x, op); break;
        case VLM_OP_CONV_TRANSPOSE2D: op_conv_transpose2d(x, op); break;
        case VLM_OP_CONV2D_DW:        op_conv2d_dw(x, op); break;
        case VLM_OP_INTERPOLATE:      op_interpolate(x, op); break;
        case VLM_OP_COPY:             op_copy(x, op); break;
        case VLM_OP_CONCAT:           op_concat(x, op); break;
        case VLM_OP_GATHER:           op_gather(x, op); break;
        case VLM_OP_ROPE:             op_rope(x, op); break;
        default:
            vlm_ctx_fail(x, VLM_STATUS_UNSUPPORTED, "cpu: unknown op %d", (int)op->type);
            break;
    }
}
