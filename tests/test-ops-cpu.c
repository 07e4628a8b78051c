// test-ops-cpu.c — every CPU op against a naive double-precision reference written here,
// over aligned and odd shapes, strided views as inputs, with guard bytes around outputs.
// NMSE thresholds (sum (y - ref)^2 / sum ref^2), chosen per op:
//   exact elementwise / data movement: 1e-12   normalization, softmax, rope: 1e-11
//   sgemm-based (linear, matmul, conv, attention): 1e-9   interpolate: 1e-10 (torch computes
//   source coordinates in float; the reference uses double)
#include "harness.h"
#include "core.h"

#define NMSE_EXACT 1e-12
#define NMSE_NORM  1e-11
#define NMSE_GEMM  1e-9
#define NMSE_INTERP 1e-10

static struct vlm_ctx * X;
static uint64_t         rng = 0x9e3779b97f4a7c15ULL;

static float * rand_buf(int64_t n) {
    float * p = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) p[i] = test_rand(&rng);
    return p;
}

static int64_t prod(int nd, const int64_t * s) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= s[i];
    return n;
}

// Layouts of test inputs: the logical tensor is the same, the memory differs.
enum { L_CONTIG = 0, L_TRANS, L_SLICE, L_REVERSE, L_COUNT, L_CHLAST = L_COUNT };   // L_CHLAST: 4-D, not in the loops
static const char * layout_name[L_COUNT + 1] = { "contiguous", "transposed", "sliced", "reversed", "channels last" };

// A tensor of logical shape `shape` holding `data` (contiguous logical order) in a given layout.
static struct vlm_tensor make_in(int nd, const int64_t * shape, const float * data, int layout) {
    int64_t st[4];
    struct vlm_tensor base, view;
    memcpy(st, shape, sizeof(int64_t) * nd);
    if (layout == L_TRANS && nd >= 2) {
        st[nd - 1] = shape[nd - 2];
        st[nd - 2] = shape[nd - 1];
        base = vlm_tensor_new(X, VLM_DTYPE_F32, nd, st);
        view = vlm_tensor_transpose(base, nd - 2, nd - 1);
    } else if (layout == L_SLICE) {
        st[nd - 1] += 5;
        st[0] += 1;
        base = vlm_tensor_new(X, VLM_DTYPE_F32, nd, st);
        int64_t n = prod(nd, st);
        float * nan = malloc((size_t)n * sizeof(float));
        for (int64_t i = 0; i < n; i++) nan[i] = NAN;
        vlm_tensor_upload(X, base, nan);
        free(nan);
        view = vlm_tensor_slice(vlm_tensor_slice(base, nd - 1, 2, shape[nd - 1]), 0, 1, shape[0]);
    } else if (layout == L_CHLAST && nd == 4) {   // stored [B, H, W, C], seen as [B, C, H, W]
        base = vlm_tensor_new(X, VLM_DTYPE_F32, 4, (int64_t[]){ shape[0], shape[2], shape[3], shape[1] });
        view = vlm_tensor_permute(base, (int32_t[]){ 0, 3, 1, 2 });
    } else if (layout == L_REVERSE && nd >= 2) {
        int32_t perm[4];
        for (int i = 0; i < nd; i++) { st[i] = shape[nd - 1 - i]; perm[i] = nd - 1 - i; }
        base = vlm_tensor_new(X, VLM_DTYPE_F32, nd, st);
        view = vlm_tensor_permute(base, perm);
    } else {
        view = vlm_tensor_new(X, VLM_DTYPE_F32, nd, shape);
    }
    vlm_tensor_upload(X, view, data);
    return view;
}

// ---- guards: a 256-byte tensor right before the output and a filled region after it ----
#define GUARD_AFTER 4096
struct guard { struct vlm_tensor g; size_t fill_from, fill_to; };

static struct guard guard_begin(size_t out_bytes) {
    struct guard gd;
    int64_t n = 256;
    gd.g = vlm_tensor_new(X, VLM_DTYPE_U8, 1, &n);
    memset(vlm_tensor_host(&gd.g), 0xA5, 256);
    gd.fill_from = X->arena_used;
    gd.fill_to   = gd.fill_from + out_bytes + 256 + GUARD_AFTER;
    if (gd.fill_to > X->arena_size) gd.fill_to = X->arena_size;
    memset((char *)X->arena->host + gd.fill_from, 0xA5, gd.fill_to - gd.fill_from);
    return gd;
}

static bool guard_ok(const struct guard * gd, const struct vlm_tensor * out) {
    const unsigned char * g = vlm_tensor_host(&gd->g);
    for (int i = 0; i < 256; i++) if (g[i] != 0xA5) return false;
    if (out->n_dims == 0) return true;
    size_t end = out->offset + (size_t)vlm_tensor_numel(out) * vlm_dtype_size(out->dtype);
    const unsigned char * a = X->arena->host;
    for (size_t i = end; i < gd->fill_to; i++) if (a[i] != 0xA5) return false;
    return true;
}

static double nmse_d(const float * y, const double * ref, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)y[i] - ref[i];
        num += d * d;
        den += ref[i] * ref[i];
    }
    if (num != num) return INFINITY;
    return den > 0 ? num / den : num;
}

// Downloads out, compares with ref (logical order), checks shape and guards.
static void check_out(const char * what, const struct guard * gd, struct vlm_tensor out, int nd, const int64_t * shape,
                      const double * ref, double thresh) {
    CHECK(vlm_ctx_ok(X), "%s: ctx error: %s", what, X->error);
    if (!vlm_ctx_ok(X)) return;
    bool same = out.n_dims == nd;
    for (int i = 0; same && i < nd; i++) same = out.shape[i] == shape[i];
    CHECK(same, "%s: wrong output shape", what);
    CHECK(vlm_tensor_is_contiguous(&out), "%s: output not contiguous", what);
    if (!same) return;
    int64_t n = prod(nd, shape);
    float * y = malloc((size_t)n * sizeof(float));
    vlm_tensor_download(X, out, y);
    double e = nmse_d(y, ref, n);
    if (getenv("VLM_TEST_VERBOSE")) printf("%-90s nmse %.3g\n", what, e);
    CHECK(e <= thresh, "%s: nmse %.3g > %.1g", what, e, thresh);
    if (gd) CHECK(guard_ok(gd, &out), "%s: guard bytes around the output were overwritten", what);
    free(y);
}

// index helpers on padded 4-D logical shapes
static void pad4(int nd, const int64_t * s, int64_t * o) {
    for (int i = 0; i < 4; i++) o[i] = 1;
    for (int i = 0; i < nd; i++) o[4 - nd + i] = s[i];
}

// ---- linear -----------------------------------------------------------------------------------
static void test_linear(int64_t M, int64_t K, int64_t N, int layout, enum vlm_dtype wdt, bool bias) {
    size_t mark = vlm_arena_mark(X);
    int64_t xs[3] = { 1, M, K }, ws[2] = { N, K };
    float * xd = rand_buf(M * K), * wd = rand_buf(N * K), * bd = rand_buf(N);
    struct vlm_tensor in = make_in(3, xs, xd, layout);
    struct vlm_tensor w, b = make_in(1, &N, bd, L_CONTIG);
    if (wdt == VLM_DTYPE_F32) {
        w = make_in(2, ws, wd, L_CONTIG);
    } else {
        w = vlm_tensor_new(X, wdt, 2, ws);
        uint16_t * h = vlm_tensor_host(&w);
        for (int64_t i = 0; i < N * K; i++) {
            h[i]  = wdt == VLM_DTYPE_F16 ? vlm_f32_to_f16(wd[i]) : vlm_f32_to_bf16(wd[i]);
            wd[i] = wdt == VLM_DTYPE_F16 ? vlm_f16_to_f32(h[i]) : vlm_bf16_to_f32(h[i]);
        }
    }
    double * ref = malloc((size_t)(M * N) * sizeof(double));
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double s = bias ? bd[n] : 0.0;
            for (int64_t k = 0; k < K; k++) s += (double)xd[m * K + k] * wd[n * K + k];
            ref[m * N + n] = s;
        }
    struct guard gd = guard_begin((size_t)(M * N) * 4);
    struct vlm_tensor y = vlm_op_linear(X, in, w, bias ? &b : NULL);
    int64_t os[3] = { 1, M, N };
    char what[160];
    snprintf(what, sizeof what, "linear M=%lld K=%lld N=%lld %s w=%s%s", (long long)M, (long long)K, (long long)N,
             layout_name[layout], vlm_dtype_name(wdt), bias ? " +bias" : "");
    check_out(what, layout == L_CONTIG ? &gd : NULL, y, 3, os, ref, NMSE_GEMM);
    free(xd); free(wd); free(bd); free(ref);
    vlm_arena_reset(X, mark);
}

// ---- matmul -----------------------------------------------------------------------------------
static void test_matmul(int64_t Ba, int64_t Bb, int64_t M, int64_t K, int64_t N, int la, int lb) {
    size_t mark = vlm_arena_mark(X);
    int64_t as[3] = { Ba, M, K }, bs[3] = { Bb, K, N }, B = Ba > Bb ? Ba : Bb;
    float * ad = rand_buf(Ba * M * K), * bd = rand_buf(Bb * K * N);
    struct vlm_tensor a = make_in(3, as, ad, la), b = make_in(3, bs, bd, lb);
    double * ref = malloc((size_t)(B * M * N) * sizeof(double));
    for (int64_t i = 0; i < B; i++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++)
                    s += (double)ad[((Ba == 1 ? 0 : i) * M + m) * K + k] * bd[((Bb == 1 ? 0 : i) * K + k) * N + n];
                ref[(i * M + m) * N + n] = s;
            }
    struct guard gd = guard_begin((size_t)(B * M * N) * 4);
    struct vlm_tensor c = vlm_op_matmul(X, a, b);
    int64_t os[3] = { B, M, N };
    char what[160];
    snprintf(what, sizeof what, "matmul B=%lld/%lld M=%lld K=%lld N=%lld a:%s b:%s", (long long)Ba, (long long)Bb,
             (long long)M, (long long)K, (long long)N, layout_name[la], layout_name[lb]);
    check_out(what, &gd, c, 3, os, ref, NMSE_GEMM);
    free(ad); free(bd); free(ref);
    vlm_arena_reset(X, mark);
}

// ---- binary / scale / unary --------------------------------------------------------------------
static void test_binary(int na, const int64_t * sa, int nb, const int64_t * sb, int la, int lb) {
    size_t mark = vlm_arena_mark(X);
    int nd = na > nb ? na : nb;
    int64_t a4[4], b4[4], o4[4], os[4];
    pad4(na, sa, a4);
    pad4(nb, sb, b4);
    for (int i = 0; i < 4; i++) o4[i] = a4[i] > b4[i] ? a4[i] : b4[i];
    for (int i = 0; i < nd; i++) os[i] = o4[4 - nd + i];
    int64_t nA = prod(na, sa), nB = prod(nb, sb), n = prod(4, o4);
    float * ad = rand_buf(nA), * bd = rand_buf(nB);
    for (int64_t i = 0; i < nB; i++) if (fabsf(bd[i]) < 0.05f) bd[i] = 0.5f;   // keep DIV well-conditioned
    struct vlm_tensor a = make_in(na, sa, ad, la), b = make_in(nb, sb, bd, lb);
    for (int op = 0; op < VLM_BINARY_COUNT; op++) {
        double * ref = malloc((size_t)n * sizeof(double));
        for (int64_t i0 = 0; i0 < o4[0]; i0++) for (int64_t i1 = 0; i1 < o4[1]; i1++)
        for (int64_t i2 = 0; i2 < o4[2]; i2++) for (int64_t i3 = 0; i3 < o4[3]; i3++) {
            int64_t ia = (((a4[0] == 1 ? 0 : i0) * a4[1] + (a4[1] == 1 ? 0 : i1)) * a4[2] + (a4[2] == 1 ? 0 : i2)) * a4[3] + (a4[3] == 1 ? 0 : i3);
            int64_t ib = (((b4[0] == 1 ? 0 : i0) * b4[1] + (b4[1] == 1 ? 0 : i1)) * b4[2] + (b4[2] == 1 ? 0 : i2)) * b4[3] + (b4[3] == 1 ? 0 : i3);
            double va = ad[ia], vb = bd[ib], r = 0;
            switch (op) { case 0: r = va + vb; break; case 1: r = va - vb; break; case 2: r = va * vb; break; default: r = va / vb; }
            ref[((i0 * o4[1] + i1) * o4[2] + i2) * o4[3] + i3] = r;
        }
        struct guard gd = guard_begin((size_t)n * 4);
        struct vlm_tensor y = vlm_op_binary(X, (enum vlm_binary)op, a, b);
        char what[128];
        snprintf(what, sizeof what, "binary op %d (%dd vs %dd) %s/%s", op, na, nb, layout_name[la], layout_name[lb]);
        check_out(what, &gd, y, nd, os, ref, NMSE_EXACT);
        free(ref);
    }
    free(ad); free(bd);
    vlm_arena_reset(X, mark);
}

static double ref_unary(int op, double v) {
    switch (op) {
        case VLM_UNARY_GELU_ERF:   return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
        case VLM_UNARY_GELU_TANH:  return 0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
        case VLM_UNARY_QUICK_GELU: return v / (1.0 + exp(-1.702 * v));
        case VLM_UNARY_RELU:       return v > 0 ? v : 0;
        case VLM_UNARY_SILU:       return v / (1.0 + exp(-v));
        case VLM_UNARY_STEP:       return v > 0 ? 1 : 0;
        default:                   return 1.0 / (1.0 + exp(-v));
    }
}

static void test_unary_scale(int nd, const int64_t * s, int layout) {
    size_t mark = vlm_arena_mark(X);
    int64_t n = prod(nd, s);
    float * d = rand_buf(n);
    for (int64_t i = 0; i < n; i++) d[i] *= 4.0f;
    struct vlm_tensor a = make_in(nd, s, d, layout);
    double * ref = malloc((size_t)n * sizeof(double));
    for (int op = 0; op < VLM_UNARY_COUNT; op++) {
        for (int64_t i = 0; i < n; i++) ref[i] = ref_unary(op, d[i]);
        struct guard gd = guard_begin((size_t)n * 4);
        struct vlm_tensor y = vlm_op_unary(X, (enum vlm_unary)op, a);
        char what[96];
        snprintf(what, sizeof what, "unary %d n=%lld %s", op, (long long)n, layout_name[layout]);
        check_out(what, &gd, y, nd, s, ref, NMSE_EXACT);
    }
    for (int64_t i = 0; i < n; i++) ref[i] = -1.5 * d[i] + 0.25;
    struct guard gd = guard_begin((size_t)n * 4);
    struct vlm_tensor y = vlm_op_scale(X, a, -1.5f, 0.25f);
    check_out("scale", &gd, y, nd, s, ref, NMSE_EXACT);
    free(d); free(ref);
    vlm_arena_reset(X, mark);
}

// ---- norms & softmax -----------------------------------------------------------------------------
static void test_norms(int64_t R, int64_t D, int layout) {
    size_t mark = vlm_arena_mark(X);
    int64_t s[2] = { R, D };
    float * d = rand_buf(R * D), * w = rand_buf(D), * b = rand_buf(D);
    for (int64_t i = 0; i < R * D; i++) d[i] = d[i] * 3.0f + 1.5f;   // offset mean: tests two-pass variance
    struct vlm_tensor a = make_in(2, s, d, layout), tw = make_in(1, &D, w, L_CONTIG), tb = make_in(1, &D, b, L_CONTIG);
    double * ref = malloc((size_t)(R * D) * sizeof(double));
    for (int pass = 0; pass < 3; pass++) {
        for (int64_t r = 0; r < R; r++) {
            double mean = 0, var = 0, ms = 0;
            for (int64_t i = 0; i < D; i++) { mean += d[r * D + i]; ms += (double)d[r * D + i] * d[r * D + i]; }
            mean /= D;
            ms /= D;
            for (int64_t i = 0; i < D; i++) var += (d[r * D + i] - mean) * (d[r * D + i] - mean);
            var /= D;
            for (int64_t i = 0; i < D; i++) {
                if (pass == 0) ref[r * D + i] = (d[r * D + i] - mean) / sqrt(var + 1e-6) * w[i] + b[i];
                else if (pass == 1) ref[r * D + i] = (d[r * D + i] - mean) / sqrt(var + 1e-5);
                else ref[r * D + i] = d[r * D + i] / sqrt(ms + 1e-6) * w[i];
            }
        }
        struct guard gd = guard_begin((size_t)(R * D) * 4);
        struct vlm_tensor y = pass == 0 ? vlm_op_layer_norm(X, a, &tw, &tb, 1e-6f)
                            : pass == 1 ? vlm_op_layer_norm(X, a, NULL, NULL, 1e-5f)
                                        : vlm_op_rms_norm(X, a, &tw, 1e-6f);
        char what[96];
        snprintf(what, sizeof what, "%s R=%lld D=%lld %s", pass == 2 ? "rms_norm" : "layer_norm", (long long)R, (long long)D,
                 layout_name[layout]);
        check_out(what, &gd, y, 2, s, ref, NMSE_NORM);
    }
    free(d); free(w); free(b); free(ref);
    vlm_arena_reset(X, mark);
}

static void test_layer_norm_2d(int64_t B, int64_t C, int64_t H, int64_t W, int layout) {
    size_t mark = vlm_arena_mark(X);
    int64_t s[4] = { B, C, H, W }, n = B * C * H * W;
    float * d = rand_buf(n), * w = rand_buf(C), * b = rand_buf(C);
    for (int64_t i = 0; i < n; i++) d[i] = d[i] * 2.0f - 0.7f;
    struct vlm_tensor a = make_in(4, s, d, layout), tw = make_in(1, &C, w, L_CONTIG), tb = make_in(1, &C, b, L_CONTIG);
    double * ref = malloc((size_t)n * sizeof(double));
    for (int64_t bi = 0; bi < B; bi++)
        for (int64_t p = 0; p < H * W; p++) {
            double u = 0, v = 0;
            for (int64_t c = 0; c < C; c++) u += d[(bi * C + c) * H * W + p];
            u /= C;
            for (int64_t c = 0; c < C; c++) { double t = d[(bi * C + c) * H * W + p] - u; v += t * t; }
            v /= C;
            for (int64_t c = 0; c < C; c++) ref[(bi * C + c) * H * W + p] = w[c] * ((d[(bi * C + c) * H * W + p] - u) / sqrt(v + 1e-6)) + b[c];
        }
    struct guard gd = guard_begin((size_t)n * 4);
    struct vlm_tensor y = vlm_op_layer_norm_2d(X, a, tw, tb, 1e-6f);
    char what[96];
    snprintf(what, sizeof what, "layer_norm_2d %lldx%lldx%lldx%lld %s", (long long)B, (long long)C, (long long)H,
             (long long)W, layout_name[layout]);
    check_out(what, &gd, y, 4, s, ref, NMSE_NORM);
    free(d); free(w); free(b); free(ref);
    vlm_arena_reset(X, mark);
}

static void test_softmax(int64_t A, int64_t R, int64_t D, bool mask, int layout) {
    size_t mark = vlm_arena_mark(X);
    int64_t s[3] = { A, R, D }, ms[2] = { R, D }, n = A * R * D;
    float * d = rand_buf(n), * m = rand_buf(R * D);
    for (int64_t i = 0; i < n; i++) d[i] *= 8.0f;
    for (int64_t i = 0; i < R * D; i++) if (m[i] < -0.8f) m[i] = -INFINITY;
    for (int64_t r = 0; r < R; r++) m[r * D] = 0.0f;   // every row keeps one finite entry
    struct vlm_tensor a = make_in(3, s, d, layout), tm = make_in(2, ms, m, L_CONTIG);
    double * ref = malloc((size_t)n * sizeof(double));
    for (int64_t i = 0; i < A * R; i++) {
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < D; j++) {
            double v = 0.7 * d[i * D + j] + (mask ? m[(i % R) * D + j] : 0.0);
            ref[i * D + j] = v;
            if (v > mx) mx = v;
        }
        for (int64_t j = 0; j < D; j++) { ref[i * D + j] = exp(ref[i * D + j] - mx); sum += ref[i * D + j]; }
        for (int64_t j = 0; j < D; j++) ref[i * D + j] /= sum;
    }
    struct guard gd = guard_begin((size_t)n * 4);
    struct vlm_tensor y = vlm_op_softmax(X, a, 0.7f, mask ? &tm : NULL);
    char what[96];
    snprintf(what, sizeof what, "softmax %lldx%lldx%lld%s %s", (long long)A, (long long)R, (long long)D, mask ? " +mask" : "",
             layout_name[layout]);
    check_out(what, &gd, y, 3, s, ref, NMSE_NORM);
    free(d); free(m); free(ref);
    vlm_arena_reset(X, mark);
}

// ---- attention --------------------------------------------------------------------------------
// Hkv: kv heads (GQA when < H); pos0: the first query's position among the keys (KV cache).
static void test_attention_kv(int64_t B, int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv, bool mask,
                              bool causal, int32_t pos0, int64_t kh, int layout) {
    size_t mark = vlm_arena_mark(X);
    int64_t qs[4] = { B, H, Tq, D }, ks[4] = { B, Hkv, Tk, D }, vs[4] = { B, Hkv, Tk, Dv }, ms[4] = { 1, 1, Tq, Tk };
    int64_t kw = kh ? Tk / kh : 0, rhs[4] = { B, H, Tq, kh }, rws[4] = { B, H, Tq, kw };
    float * qd = rand_buf(B * H * Tq * D), * kd = rand_buf(B * Hkv * Tk * D), * vd = rand_buf(B * Hkv * Tk * Dv);
    float * md = rand_buf(Tq * Tk), * rh = kh ? rand_buf(B * H * Tq * kh) : NULL, * rw = kh ? rand_buf(B * H * Tq * kw) : NULL;
    for (int64_t i = 0; i < B * H * Tq * D; i++) qd[i] *= 2.0f;
    struct vlm_tensor q = make_in(4, qs, qd, layout), k = make_in(4, ks, kd, layout == L_REVERSE ? L_TRANS : layout);
    struct vlm_tensor v = make_in(4, vs, vd, layout), m = make_in(4, ms, md, L_CONTIG);
    struct vlm_tensor th = kh ? make_in(4, rhs, rh, L_SLICE) : m, tw = kh ? make_in(4, rws, rw, L_CONTIG) : m;
    float scale = 1.0f / sqrtf((float)D);
    int64_t n = B * H * Tq * Dv;
    double * ref = malloc((size_t)n * sizeof(double)), * s = malloc((size_t)Tk * sizeof(double));
    for (int64_t b = 0; b < B; b++) for (int64_t h = 0; h < H; h++) for (int64_t i = 0; i < Tq; i++) {
        int64_t bh = b * H + h, bkv = b * Hkv + h / (H / Hkv);
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < Tk; j++) {
            double t = 0;
            for (int64_t c = 0; c < D; c++) t += (double)qd[(bh * Tq + i) * D + c] * kd[(bkv * Tk + j) * D + c];
            t *= scale;
            if (kh) t += rh[(bh * Tq + i) * kh + j / kw] + rw[(bh * Tq + i) * kw + j % kw];
            if (mask) t += md[i * Tk + j];
            if (causal && j > pos0 + i) t = -INFINITY;
            s[j] = t;
            if (t > mx) mx = t;
        }
        for (int64_t j = 0; j < Tk; j++) { s[j] = exp(s[j] - mx); sum += s[j]; }
        for (int64_t c = 0; c < Dv; c++) {
            double o = 0;
            for (int64_t j = 0; j < Tk; j++) o += s[j] / sum * vd[(bkv * Tk + j) * Dv + c];
            ref[(bh * Tq + i) * Dv + c] = o;
        }
    }
    struct vlm_attention_params p = { .scale = scale, .causal = causal, .q_pos0 = pos0, .mask = mask ? &m : NULL,
                                      .rel_h = kh ? &th : NULL, .rel_w = kh ? &tw : NULL };
    struct guard gd = guard_begin((size_t)n * 4);
    struct vlm_tensor y = vlm_op_attention(X, q, k, v, &p);
    int64_t os[4] = { B, H, Tq, Dv };
    char what[192];
    snprintf(what, sizeof what, "attention B=%lld H=%lld Hkv=%lld Tq=%lld Tk=%lld D=%lld Dv=%lld pos0=%d%s%s%s %s",
             (long long)B, (long long)H, (long long)Hkv, (long long)Tq, (long long)Tk, (long long)D, (long long)Dv,
             (int)pos0, mask ? " mask" : "", causal ? " causal" : "", kh ? " rel" : "", layout_name[layout]);
    check_out(what, layout == L_CONTIG ? &gd : NULL, y, 4, os, ref, NMSE_GEMM);
    free(qd); free(kd); free(vd); free(md); free(rh); free(rw); free(ref); free(s);
    vlm_arena_reset(X, mark);
}

static void test_attention(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv, bool mask, bool causal,
                           int64_t kh, int layout) {
    test_attention_kv(B, H, H, Tq, Tk, D, Dv, mask, causal, 0, kh, layout);
}

// ---- convolutions -----------------------------------------------------------------------------
static void test_conv2d(int64_t B, int64_t Cin, int64_t H, int64_t W, int64_t Cout, int64_t k, int32_t stride, int32_t pad,
                        int layout, enum vlm_dtype wdt) {
    size_t mark = vlm_arena_mark(X);
    int64_t is[4] = { B, Cin, H, W }, wsh[4] = { Cout, Cin, k, k };
    int64_t Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1, os[4] = { B, Cout, Ho, Wo };
    float * id = rand_buf(B * Cin * H * W), * wd = rand_buf(Cout * Cin * k * k), * bd = rand_buf(Cout);
    struct vlm_tensor in = make_in(4, is, id, layout), w, b = make_in(1, &Cout, bd, L_CONTIG);
    if (wdt == VLM_DTYPE_F32) {
        w = make_in(4, wsh, wd, L_CONTIG);
    } else {
        w = vlm_tensor_new(X, VLM_DTYPE_F16, 4, wsh);
        uint16_t * h = vlm_tensor_host(&w);
        for (int64_t i = 0; i < Cout * Cin * k * k; i++) { h[i] = vlm_f32_to_f16(wd[i]); wd[i] = vlm_f16_to_f32(h[i]); }
    }
    int64_t n = B * Cout * Ho * Wo;
    double * ref = malloc((size_t)n * sizeof(double));
    for (int64_t bi = 0; bi < B; bi++) for (int64_t co = 0; co < Cout; co++)
    for (int64_t oy = 0; oy < Ho; oy++) for (int64_t ox = 0; ox < Wo; ox++) {
        double s = bd[co];
        for (int64_t ci = 0; ci < Cin; ci++) for (int64_t ky = 0; ky < k; ky++) for (int64_t kx = 0; kx < k; kx++) {
            int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
            s += (double)id[((bi * Cin + ci) * H + iy) * W + ix] * wd[((co * Cin + ci) * k + ky) * k + kx];
        }
        ref[((bi * Cout + co) * Ho + oy) * Wo + ox] = s;
    }
    struct guard gd = guard_begin((size_t)n * 4);
    struct vlm_tensor y = vlm_op_conv2d(X, in, w, &b, stride, pad);
    char what[160];
    snprintf(what, sizeof what, "conv2d %lldx%lldx%lldx%lld -> %lld k=%lld s=%d p=%d %s w=%s", (long long)B, (long long)Cin,
             (long long)H, (long long)W, (long long)Cout, (long long)k, stride, pad, layout_name[layout], vlm_dtype_name(wdt));
    check_out(what, &gd, y, 4, os, ref, NMSE_GEMM);
    free(id); free(wd); free(bd); free(ref);
    vlm_arena_reset(X, mark);
}

// Depthwise conv2d on channel-last input [B, H, W, C] (layout applies to that 4-D input).
static void test_conv2d_dw(int64_t B, int64_t H, int64_t W, int64_t C, int64_t k, int32_t stride, int32_t pad, int layout,
                           bool bias) {
    size_t mark = vlm_arena_mark(X);
    int64_t is[4] = { B, H, W, C }, wsh[4] = { C, 1, k, k };
    int64_t Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1, os[4] = { B, Ho, Wo, C };
    float * id = rand_buf(B * H * W * C), * wd = rand_buf(C * k * k), * bd = rand_buf(C);
    struct vlm_tensor in = make_in(4, is, id, layout), w = make_in(4, wsh, wd, L_CONTIG), b = make_in(1, &C, bd, L_CONTIG);
    int64_t n = B * Ho * Wo * C;
    double * ref = malloc((size_t)n * sizeof(double));
    for (int64_t bi = 0; bi < B; bi++) for (int64_t oy = 0; oy < Ho; oy++) for (int64_t ox = 0; ox < Wo; ox++)
    for (int64_t c = 0; c < C; c++) {
        double s = bias ? bd[c] : 0.0;
        for (int64_t ky = 0; ky < k; ky++) for (int64_t kx = 0; kx < k; kx++) {
            int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
            s += (double)id[((bi * H + iy) * W + ix) * C + c] * wd[(c * k + ky) * k + kx];
        }
        ref[((bi * Ho + oy) * Wo + ox) * C + c] = s;
    }
    struct guard gd = guard_begin((size_t)n * 4);
    struct vlm_tensor y = vlm_op_conv2d_dw(X, in, w, bias ? &b : NULL, stride, pad);
    char what[160];
    snprintf(what, sizeof what, "conv2d_dw %lldx%lldx%lldx%lld k=%lld s=%d p=%d %s%s", (long long)B, (long long)H,
             (long long)W, (long long)C, (long long)k, stride, pad, layout_name[layout], bias ? "" : " no bias");
    check_out(what, &gd, y, 4, os, ref, NMSE_GEMM);
    free(id); free(wd); free(bd); free(ref);
    vlm_arena_reset(X, mark);
}

static void test_conv_transpose2d(int64_t B, int64_t Cin, int64_t H, int64_t W, int64_t Cout, int32_t k, int layout) {
    size_t mark = vlm_arena_mark(X);
    int64_t is[4] = { B, Cin, H, W }, wsh[4] = { Cin, Cout, k, k }, os[4] = { B, Cout, H * k, W * k };
    float * id = rand_buf(B * Cin * H * W), * wd = rand_buf(Cin * Cout * k * k), * bd = rand_buf(Cout);
    struct vlm_tensor in = make_in(4, is, id, layout), w = make_in(4, wsh, wd, L_CONTIG), b = make_in(1, &Cout, bd, L_CONTIG);
    int64_t n = B * Cout * H * k * W * k;
    double * ref = malloc((size_t)n * sizeof(double));
    for (int64_t i = 0; i < n; i++) ref[i] = 0;
    // scatter form of torch's conv_transpose2d: out[y*s + ky, x*s + kx] += in[y, x] * w[ci, co, ky, kx]
    for (int64_t bi = 0; bi < B; bi++) for (int64_t co = 0; co < Cout; co++)
    for (int64_t oy = 0; oy < H * k; oy++) for (int64_t ox = 0; ox < W * k; ox++) ref[((bi * Cout + co) * H * k + oy) * W * k + ox] = bd[co];
    for (int64_t bi = 0; bi < B; bi++) for (int64_t ci = 0; ci < Cin; ci++) for (int64_t co = 0; co < Cout; co++)
    for (int64_t y = 0; y < H; y++) for (int64_t xx = 0; xx < W; xx++) for (int64_t ky = 0; ky < k; ky++) for (int64_t kx = 0; kx < k; kx++)
        ref[((bi * Cout + co) * H * k + y * k + ky) * W * k + xx * k + kx] +=
            (double)id[((bi * Cin + ci) * H + y) * W + xx] * wd[((ci * Cout + co) * k + ky) * k + kx];
    struct guard gd = guard_begin((size_t)n * 4);
    struct vlm_tensor y = vlm_op_conv_transpose2d(X, in, w, &b, k);
    char what[128];
    snprintf(what, sizeof what, "conv_transpose2d %lldx%lldx%lldx%lld -> %lld k=%d %s", (long long)B, (long long)Cin,
             (long long)H, (long long)W, (long long)Cout, k, layout_name[layout]);
    check_out(what, &gd, y, 4, os, ref, NMSE_GEMM);
    free(id); free(wd); free(bd); free(ref);
    vlm_arena_reset(X, mark);
}

// ---- interpolate ------------------------------------------------------------------------------
// Naive re-implementation of torch's rules (double):
//   bilinear, align_corners=False: src = max((dst + 0.5) * in / out - 0.5, 0); i0 = floor(src);
//     i1 = min(i0 + 1, in - 1); weights (1 - l, l).
//   antialias (aten/src/ATen/native/cpu/UpSampleKernel.cpp, _compute_weights_aa with the
//     triangle filter): scale = in / out, support = max(scale, 1), center = scale * (i + 0.5),
//     taps j in [max((long)(center - support + 0.5), 0), min((long)(center + support + 0.5), in)),
//     w_j = tri((j - center + 0.5) / max(scale, 1)), normalized to sum 1.
static int ref_taps(int64_t in, int64_t out, int64_t o, bool aa, int64_t * idx, double * w) {
    double scale = (double)in / (double)out;
    if (!aa) {
        double src = (o + 0.5) * scale - 0.5;
        if (src < 0) src = 0;
        int64_t i0 = (int64_t)floor(src);
        if (i0 > in - 1) i0 = in - 1;
        double l = src - i0;
        idx[0] = i0; idx[1] = i0 + 1 < in ? i0 + 1 : in - 1;
        w[0] = 1 - l; w[1] = l;
        return 2;
    }
    double support = scale > 1 ? scale : 1, center = scale * (o + 0.5), total = 0;
    int64_t lo = (int64_t)(center - support + 0.5), hi = (int64_t)(center + support + 0.5);
    if (lo < 0) lo = 0;
    if (hi > in) hi = in;
    int n = 0;
    for (int64_t j = lo; j < hi; j++) {
        double t = fabs((j - center + 0.5) / support);
        idx[n] = j;
        w[n] = t < 1 ? 1 - t : 0;
        total += w[n++];
    }
    for (int i = 0; i < n; i++) w[i] /= total;
    return n;
}

static void test_interpolate(int64_t B, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW, bool aa, int layout) {
    size_t mark = vlm_arena_mark(X);
    int64_t is[4] = { B, C, H, W }, os[4] = { B, C, OH, OW }, n = B * C * OH * OW;
    float * id = rand_buf(B * C * H * W);
    struct vlm_tensor in = make_in(4, is, id, layout);
    double * ref = malloc((size_t)n * sizeof(double));
    int64_t iy[256], ix[256];
    double  wy[256], wx[256];
    for (int64_t bc = 0; bc < B * C; bc++) for (int64_t oy = 0; oy < OH; oy++) {
        int ny = ref_taps(H, OH, oy, aa, iy, wy);
        for (int64_t ox = 0; ox < OW; ox++) {
            int nx = ref_taps(W, OW, ox, aa, ix, wx);
            double s = 0;
            for (int a = 0; a < ny; a++) for (int b = 0; b < nx; b++) s += wy[a] * wx[b] * id[(bc * H + iy[a]) * W + ix[b]];
            ref[(bc * OH + oy) * OW + ox] = s;
        }
    }
    struct guard gd = guard_begin((size_t)n * 4);
    struct vlm_tensor y = vlm_op_interpolate(X, in, OH, OW, aa);
    char what[128];
    snprintf(what, sizeof what, "interpolate %lldx%lld -> %lldx%lld%s %s", (long long)H, (long long)W, (long long)OH,
             (long long)OW, aa ? " antialias" : "", layout_name[layout]);
    check_out(what, &gd, y, 4, os, ref, NMSE_INTERP);
    free(id); free(ref);
    vlm_arena_reset(X, mark);
}

// Hand-derived values (see the rules above) for a 1x4 ramp [0, 1, 2, 3]:
//   bilinear to width 8: [0, .25, .75, 1.25, 1.75, 2.25, 2.75, 3]
//   antialiased to width 2: taps {0,1,2} weights (3,3,1)/7 -> 5/7; taps {1,2,3} weights (1,3,3)/7 -> 16/7
static void test_interpolate_known(void) {
    size_t mark = vlm_arena_mark(X);
    float ramp[4] = { 0, 1, 2, 3 }, y8[8], y2[2];
    int64_t s[4] = { 1, 1, 1, 4 };
    struct vlm_tensor in = make_in(4, s, ramp, L_CONTIG);
    struct vlm_tensor a = vlm_op_interpolate(X, in, 1, 8, false), b = vlm_op_interpolate(X, in, 1, 2, true);
    vlm_tensor_download(X, a, y8);
    vlm_tensor_download(X, b, y2);
    const float e8[8] = { 0, .25f, .75f, 1.25f, 1.75f, 2.25f, 2.75f, 3 };
    CHECK(vlm_ctx_ok(X) && test_max_abs(y8, e8, 8) < 1e-6, "interpolate known bilinear values");
    const float e2[2] = { 5.0f / 7.0f, 16.0f / 7.0f };
    CHECK(vlm_ctx_ok(X) && test_max_abs(y2, e2, 2) < 1e-6, "interpolate known antialias values (%g %g)", y2[0], y2[1]);
    vlm_arena_reset(X, mark);
}

// ---- copy / concat / gather / rope ---------------------------------------------------------------
static void test_copy_concat(int layout) {
    size_t mark = vlm_arena_mark(X);
    int64_t s[4] = { 3, 5, 7, 11 }, n = 3 * 5 * 7 * 11;
    float * d = rand_buf(n);
    struct vlm_tensor a = make_in(4, s, d, layout);
    double * ref = malloc((size_t)n * 2 * sizeof(double));
    for (int64_t i = 0; i < n; i++) ref[i] = d[i];
    struct guard gd = guard_begin((size_t)n * 4);
    struct vlm_tensor c = vlm_op_copy(X, a, VLM_DTYPE_F32);
    char what[96];
    snprintf(what, sizeof what, "copy f32 %s", layout_name[layout]);
    check_out(what, &gd, c, 4, s, ref, 0.0);
    // f16 round trip: equals the reference rounding of each element
    struct vlm_tensor h = vlm_op_copy(X, a, VLM_DTYPE_F16);
    struct vlm_tensor back = vlm_op_copy(X, h, VLM_DTYPE_F32);
    for (int64_t i = 0; i < n; i++) ref[i] = vlm_f16_to_f32(vlm_f32_to_f16(d[i]));
    check_out("copy f32->f16->f32", NULL, back, 4, s, ref, 0.0);
    // copy_into a permuted destination view, read back through the view
    int32_t perm[4] = { 3, 2, 1, 0 };
    int64_t rs[4] = { 11, 7, 5, 3 };
    struct vlm_tensor dbase = vlm_tensor_new(X, VLM_DTYPE_F32, 4, rs);
    struct vlm_tensor dview = vlm_tensor_permute(dbase, perm);
    vlm_op_copy_into(X, dview, a);
    float * y = malloc((size_t)n * sizeof(float));
    vlm_tensor_download(X, dview, y);
    for (int64_t i = 0; i < n; i++) ref[i] = d[i];
    CHECK(vlm_ctx_ok(X) && nmse_d(y, ref, n) == 0.0, "copy_into permuted destination (%s)", layout_name[layout]);
    // f32 -> u8: rounded half to even, clamped to [0, 255] (NaN: 0), through the layout's view
    static const float from[8] = { -1.2f, 0.5f, 1.5f, 2.5f, 254.6f, 300.0f, 3.49f, NAN };
    static const uint8_t want[8] = { 0, 0, 2, 2, 255, 255, 3, 0 };
    struct vlm_tensor f8 = make_in(2, (int64_t[]){ 2, 4 }, from, layout);
    uint8_t got[8] = { 0 };
    vlm_tensor_download(X, vlm_op_copy(X, f8, VLM_DTYPE_U8), got);
    CHECK(vlm_ctx_ok(X) && !memcmp(got, want, sizeof want), "copy f32->u8 %s: %u %u %u %u %u %u %u %u", layout_name[layout],
          got[0], got[1], got[2], got[3], got[4], got[5], got[6], got[7]);
    // concat along each dim
    for (int dim = 0; dim < 4; dim++) {
        int64_t cs[4];
        memcpy(cs, s, sizeof cs);
        cs[dim] *= 2;
        for (int64_t i0 = 0; i0 < cs[0]; i0++) for (int64_t i1 = 0; i1 < cs[1]; i1++)
        for (int64_t i2 = 0; i2 < cs[2]; i2++) for (int64_t i3 = 0; i3 < cs[3]; i3++) {
            int64_t ii[4] = { i0, i1, i2, i3 };
            bool second = ii[dim] >= s[dim];
            if (second) ii[dim] -= s[dim];
            double v = d[((ii[0] * s[1] + ii[1]) * s[2] + ii[2]) * s[3] + ii[3]];
            ref[((i0 * cs[1] + i1) * cs[2] + i2) * cs[3] + i3] = second ? 2.0 * v : v;
        }
        struct vlm_tensor twice = vlm_op_scale(X, a, 2.0f, 0.0f);
        struct guard gd2 = guard_begin((size_t)n * 8);
        struct vlm_tensor cc = vlm_op_concat(X, a, twice, dim);
        snprintf(what, sizeof what, "concat dim %d %s", dim, layout_name[layout]);
        check_out(what, &gd2, cc, 4, cs, ref, 0.0);
    }
    free(d); free(ref); free(y);
    vlm_arena_reset(X, mark);
}

static void test_gather(enum vlm_dtype dt) {
    size_t mark = vlm_arena_mark(X);
    int64_t V = 37, D = 13, N = 9, ts[2] = { V, D };
    float * td = rand_buf(V * D);
    int32_t ids[9] = { 0, 36, 5, 5, 17, 1, 35, 2, 0 };
    struct vlm_tensor table;
    if (dt == VLM_DTYPE_F32) {
        table = make_in(2, ts, td, L_TRANS);
    } else {
        table = vlm_tensor_new(X, dt, 2, ts);
        uint16_t * h = vlm_tensor_host(&table);
        for (int64_t i = 0; i < V * D; i++) {
            h[i]  = dt == VLM_DTYPE_F16 ? vlm_f32_to_f16(td[i]) : vlm_f32_to_bf16(td[i]);
            td[i] = dt == VLM_DTYPE_F16 ? vlm_f16_to_f32(h[i]) : vlm_bf16_to_f32(h[i]);
        }
    }
    struct vlm_tensor tid = vlm_tensor_from_host(X, VLM_DTYPE_I32, 1, &N, ids);
    double ref[9 * 13];
    for (int64_t i = 0; i < N; i++) for (int64_t j = 0; j < D; j++) ref[i * D + j] = td[ids[i] * D + j];
    struct guard gd = guard_begin((size_t)(N * D) * 4);
    struct vlm_tensor y = vlm_op_gather(X, table, tid);
    int64_t os[2] = { N, D };
    char what[64];
    snprintf(what, sizeof what, "gather %s", vlm_dtype_name(dt));
    check_out(what, &gd, y, 2, os, ref, 0.0);
    free(td);
    vlm_arena_reset(X, mark);
}

static void test_rope(int64_t B, int64_t H, int64_t T, int64_t D, int32_t pos0, enum vlm_rope_mode mode, int layout) {
    size_t mark = vlm_arena_mark(X);
    int64_t s[4] = { B, H, T, D }, n = B * H * T * D;
    float * d = rand_buf(n);
    struct vlm_tensor a = make_in(4, s, d, layout);
    double * ref = malloc((size_t)n * sizeof(double));
    for (int64_t r = 0; r < B * H * T; r++) {
        int64_t t = r % T;
        for (int64_t i = 0; i < D / 2; i++) {
            double ang = (double)(pos0 + t) * pow(10000.0, -2.0 * i / D);
            int64_t i0 = mode == VLM_ROPE_NEOX ? i : 2 * i, i1 = mode == VLM_ROPE_NEOX ? i + D / 2 : 2 * i + 1;
            double x0 = d[r * D + i0], x1 = d[r * D + i1];
            ref[r * D + i0] = x0 * cos(ang) - x1 * sin(ang);
            ref[r * D + i1] = x1 * cos(ang) + x0 * sin(ang);
        }
    }
    struct guard gd = guard_begin((size_t)n * 4);
    struct vlm_tensor y = vlm_op_rope(X, a, pos0, 10000.0f, mode);
    char what[96];
    snprintf(what, sizeof what, "rope %s T=%lld D=%lld pos0=%d %s", mode == VLM_ROPE_NEOX ? "neox" : "normal", (long long)T,
             (long long)D, pos0, layout_name[layout]);
    // angles up to ~pos * 1 rad in float: allow float rounding of the angle
    check_out(what, &gd, y, 4, s, ref, 1e-9);
    free(d); free(ref);
    vlm_arena_reset(X, mark);
}

// ---- conversions -------------------------------------------------------------------------------
static void test_half(void) {
    CHECK(vlm_f32_to_f16(1.0f) == 0x3c00, "f16(1)");
    CHECK(vlm_f32_to_f16(-2.0f) == 0xc000, "f16(-2)");
    CHECK(vlm_f32_to_f16(65504.0f) == 0x7bff, "f16(65504)");
    CHECK(vlm_f32_to_f16(65520.0f) == 0x7c00, "f16(65520) overflows to inf");
    CHECK(vlm_f32_to_f16(0.1f) == 0x2e66, "f16(0.1)");
    CHECK(vlm_f32_to_f16(5.960464477539063e-08f) == 0x0001, "f16 smallest subnormal");
    CHECK(vlm_f32_to_f16(2.98023223876953125e-08f) == 0x0000, "f16 half of the smallest subnormal ties to 0");
    CHECK(vlm_f32_to_f16(1.0f + 1.0f / 2048.0f) == 0x3c00, "f16 tie rounds to even (down)");
    CHECK(vlm_f32_to_f16(1.0f + 3.0f / 2048.0f) == 0x3c02, "f16 tie rounds to even (up)");
    CHECK((vlm_f32_to_f16(NAN) & 0x7c00) == 0x7c00 && (vlm_f32_to_f16(NAN) & 0x3ff), "f16 nan stays nan");
    CHECK(vlm_f32_to_bf16(1.0f + 1.0f / 256.0f) == 0x3f80, "bf16 tie rounds to even");
    CHECK(vlm_f32_to_bf16(1.0f + 3.0f / 256.0f) == 0x3f82, "bf16 tie rounds up to even");
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;   // nan payloads
        if (vlm_f32_to_f16(vlm_f16_to_f32((uint16_t)h)) != h) bad++;
        float f = vlm_bf16_to_f32((uint16_t)h);
        if (f == f && vlm_f32_to_bf16(f) != h) bad++;
    }
    CHECK(bad == 0, "f16/bf16 round trips of every finite value (%d bad)", bad);
}

int main(void) {
    char err[256];
    X = vlm_ctx_new(VLM_BACKEND_CPU, 2, (size_t)256 << 20, err, sizeof err);
    if (!X) { fprintf(stderr, "ctx: %s\n", err); return 1; }

    test_half();
    for (int l = 0; l < L_COUNT; l++) {
        test_linear(7, 13, 29, l, VLM_DTYPE_F32, true);
        test_unary_scale(3, (const int64_t[]){ 7, 13, 29 }, l);
        test_norms(7, 29, l);
        test_softmax(3, 7, 29, l & 1, l);
        test_layer_norm_2d(2, 7, 5, 3, l);
        test_attention(2, 3, 70, 37, 17, 13, true, false, 0, l);
        test_conv2d(2, 3, 11, 9, 5, 3, 2, 1, l, VLM_DTYPE_F32);
        test_conv_transpose2d(2, 5, 3, 7, 4, 2, l);
        test_conv2d_dw(2, 11, 9, 13, 3, 2, 1, l, true);   // TinyViT's merge (stride 2) and local conv (stride 1)
        test_conv2d_dw(1, 7, 5, 6, 3, 1, 1, l, l & 1);
        test_interpolate(2, 3, 13, 7, 29, 5, false, l);
        test_interpolate(1, 2, 29, 31, 7, 13, true, l);
        test_copy_concat(l);
        test_rope(1, 3, 5, 8, 3, VLM_ROPE_NEOX, l);
        test_rope(2, 1, 7, 6, 0, VLM_ROPE_NORMAL, l);
        test_matmul(3, 3, 7, 13, 29, l, (l + 1) % L_COUNT);
    }
    // aligned and large-ish shapes, 1-row and prime sizes
    test_linear(1, 768, 64, L_CONTIG, VLM_DTYPE_F32, false);
    test_linear(1, 100, 37, L_SLICE, VLM_DTYPE_F32, true);   // one row: sgemv, bias as beta
    test_linear(256, 96, 192, L_CONTIG, VLM_DTYPE_F32, true);
    test_linear(65, 31, 130, L_SLICE, VLM_DTYPE_F16, true);
    test_linear(33, 40, 17, L_CONTIG, VLM_DTYPE_BF16, false);
    test_matmul(1, 4, 64, 64, 64, L_CONTIG, L_TRANS);
    test_matmul(5, 1, 1, 29, 7, L_TRANS, L_CONTIG);
    test_matmul(2, 2, 200, 33, 150, L_CONTIG, L_CONTIG);
    test_binary(4, (const int64_t[]){ 2, 3, 5, 7 }, 1, (const int64_t[]){ 7 }, L_CONTIG, L_CONTIG);
    test_binary(3, (const int64_t[]){ 3, 1, 7 }, 4, (const int64_t[]){ 2, 3, 5, 1 }, L_TRANS, L_REVERSE);
    test_binary(2, (const int64_t[]){ 13, 29 }, 2, (const int64_t[]){ 13, 29 }, L_SLICE, L_TRANS);
    test_binary(1, (const int64_t[]){ 1 }, 3, (const int64_t[]){ 4, 1, 6 }, L_CONTIG, L_SLICE);
    test_norms(1, 768, L_CONTIG);
    test_norms(64, 256, L_SLICE);
    test_softmax(1, 1, 1, false, L_CONTIG);
    test_softmax(2, 64, 197, true, L_CONTIG);
    test_layer_norm_2d(1, 256, 8, 8, L_CONTIG);
    test_attention(1, 2, 1, 29, 64, 64, false, false, 0, L_CONTIG);
    test_attention(1, 2, 130, 35, 16, 16, false, false, 5, L_CONTIG);        // SAM rel-pos, kh*kw = 5*7
    test_attention(2, 2, 49, 49, 32, 32, true, true, 7, L_TRANS);
    test_attention(1, 2, 40, 76, 16, 16, false, false, 4, L_CONTIG);        // kw = 19: vector body + tail
    test_attention(1, 3, 67, 67, 8, 8, false, true, 0, L_SLICE);             // causal, odd block tail
    test_attention(1, 1, 200, 200, 64, 64, false, false, 0, L_REVERSE);
    test_attention(1, 2, 37, 150, 20, 112, false, false, 0, L_CONTIG);      // AVX-512 tiles: row, key and Dv tails
    test_attention(1, 2, 37, 150, 20, 112, true, true, 0, L_TRANS);
    // decoder forms: GQA ratios 1, 3, 4 and a query offset (KV cache: Tk = pos0 + Tq)
    test_attention_kv(1, 6, 2, 5, 12, 16, 16, false, true, 7, 0, L_CONTIG);
    test_attention_kv(1, 8, 2, 1, 40, 32, 32, false, true, 39, 0, L_SLICE);
    test_attention_kv(2, 4, 4, 70, 100, 16, 16, true, true, 30, 0, L_TRANS);
    test_attention_kv(1, 9, 3, 67, 67, 64, 64, false, true, 0, 0, L_CONTIG);
    test_conv2d(1, 3, 32, 32, 8, 16, 16, 0, L_CONTIG, VLM_DTYPE_F32);      // patch embedding
    test_conv2d(2, 16, 8, 8, 12, 1, 1, 0, L_CONTIG, VLM_DTYPE_F32);        // 1x1 (direct path)
    test_conv2d(1, 7, 9, 9, 6, 3, 1, 1, L_SLICE, VLM_DTYPE_F16);
    test_conv2d(1, 2, 5, 4, 3, 3, 3, 2, L_TRANS, VLM_DTYPE_F32);        // padding wider than a stride: empty column ranges
    test_conv2d(2, 2, 3, 7, 2, 5, 2, 2, L_CONTIG, VLM_DTYPE_F32);       // kernel larger than the input height
    test_conv_transpose2d(1, 16, 8, 8, 8, 2, L_CONTIG);
    test_conv_transpose2d(3, 16, 8, 9, 8, 2, L_CHLAST);   // SAM's decoder: token-major image tokens, read transposed
    test_interpolate(1, 1, 16, 16, 64, 64, false, L_CONTIG);               // SAM mask upscale x4
    test_interpolate(1, 2, 64, 48, 17, 23, false, L_TRANS);                // plain downscale
    test_interpolate(1, 1, 100, 60, 16, 32, true, L_CONTIG);               // aa: downscale H, upscale W
    test_interpolate(1, 1, 8, 8, 8, 8, true, L_CONTIG);                    // identity
    test_interpolate_known();
    test_gather(VLM_DTYPE_F32);
    test_gather(VLM_DTYPE_F16);
    test_gather(VLM_DTYPE_BF16);
    test_rope(1, 2, 9, 64, 1000, VLM_ROPE_NEOX, L_CONTIG);
    test_rope(1, 2, 9, 64, 17, VLM_ROPE_NORMAL, L_TRANS);

    // degenerate sizes
    test_linear(5, 1, 3, L_TRANS, VLM_DTYPE_F32, true);
    test_attention(1, 1, 1, 1, 4, 3, false, true, 0, L_CONTIG);
    test_interpolate(1, 1, 5, 5, 1, 1, true, L_CONTIG);
    test_interpolate(1, 1, 1, 1, 3, 3, false, L_CONTIG);
    test_conv2d(1, 1, 1, 1, 1, 1, 1, 0, L_CONTIG, VLM_DTYPE_F32);

    // thread-count independence: the same attention + linear with 1 thread gives identical bits
    {
        size_t mark = vlm_arena_mark(X);
        int64_t qs[4] = { 1, 2, 150, 32 }, n = 2 * 150 * 32;
        float * qd = rand_buf(n);
        struct vlm_tensor q = make_in(4, qs, qd, L_CONTIG);
        struct vlm_attention_params p = { .scale = 0.2f };
        float * y1 = malloc((size_t)n * 4), * y2 = malloc((size_t)n * 4);
        struct vlm_tensor a = vlm_op_attention(X, q, q, q, &p);
        vlm_tensor_download(X, a, y1);
        int32_t keep = X->n_threads;
        X->n_threads = 1;
        struct vlm_tensor b = vlm_op_attention(X, q, q, q, &p);
        vlm_tensor_download(X, b, y2);
        X->n_threads = keep;
        CHECK(vlm_ctx_ok(X) && memcmp(y1, y2, (size_t)n * 4) == 0, "attention identical for 1 and %d threads", keep);
        int64_t xs[2] = { 300, 96 }, wsz[2] = { 130, 96 };
        float * xd = rand_buf(300 * 96), * wd = rand_buf(130 * 96), * l1 = malloc(300 * 130 * 4), * l2 = malloc(300 * 130 * 4);
        struct vlm_tensor tx = make_in(2, xs, xd, L_CONTIG), tw = make_in(2, wsz, wd, L_CONTIG);
        vlm_tensor_download(X, vlm_op_linear(X, tx, tw, NULL), l1);
        X->n_threads = 1;
        vlm_tensor_download(X, vlm_op_linear(X, tx, tw, NULL), l2);
        X->n_threads = keep;
        CHECK(vlm_ctx_ok(X) && memcmp(l1, l2, 300 * 130 * 4) == 0, "linear identical for 1 and %d threads", keep);
        free(xd); free(wd); free(l1); free(l2);
        free(qd); free(y1); free(y2);
        vlm_arena_reset(X, mark);
    }
    CHECK(vlm_ctx_ok(X), "context still ok at the end: %s", X->error);
    vlm_ctx_free(X);
    TEST_END();
}
