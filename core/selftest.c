// selftest.c — the per-op comparison of a device against the CPU backend (see selftest.h):
// the cases (random inputs in [-1, 1) plus large-magnitude rows and -inf masks, aligned and odd
// shapes, strided and permuted views, guard regions around outputs in the arena), their run on
// both contexts, the cached verdict per device and the gate vlm_ctx_new passes a Vulkan device
// through.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "selftest.h"
#include "vk-internal.h"

#define MAX_IN 6
#define GUARD_FLOATS 256
#define GUARD_PATTERN 0x5A5A5A5Au
#define CACHE_MAGIC "vlm-selftest 1"

enum view_kind { VIEW_NONE = 0, VIEW_PERM, VIEW_SLICE };

// One input: host data for a base contiguous tensor, then an optional view of it.
struct input {
    bool           used;
    enum vlm_dtype dtype;
    int32_t        nd;
    int64_t        shape[4];   // base shape
    enum view_kind view;
    int32_t        perm[4];    // VIEW_PERM
    int32_t        sdim;       // VIEW_SLICE
    int64_t        sstart, slen;
    void *         data;       // host bytes of the base tensor
};

struct tcase {
    const char * name;
    enum vlm_op_type op;
    struct input in[MAX_IN];
    int32_t      i[4];
    float        f[4];
    double       tol;          // NMSE threshold
};

// One run over the cases. dry: nothing runs, the cases are only hashed (the cache key).
struct run {
    struct vlm_ctx * cpu, * dev;
    bool             big, dry;
    struct vlm_rng   rng;
    uint64_t         hash;
    int              n_cases, n_failed;
    vlm_selftest_fn  fn;
    void *           user;
    struct vlm_selftest_verdict * verdict;   // NULL: not collected
};

// Uniform floats in (-1, 1).
static float rand_uniform(struct vlm_rng * r) { return (float) (2.0 * vlm_rng_uniform(r) - 1.0); }

// h with n more bytes mixed in.
static uint64_t hash_add(uint64_t h, const void * p, size_t n) { return vlm_hash_u64(h ^ vlm_hash_bytes(p, n)); }

static int64_t numel_of(int nd, const int64_t * s) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= s[i];
    return n;
}

// Fills an input with uniform [-1, 1) values (times amp), converted to its dtype (zeros in a
// dry run: only the shapes matter there).
static void input_init(struct run * st, struct input * in, enum vlm_dtype dt, int nd, const int64_t * shape, float amp) {
    memset(in, 0, sizeof *in);
    in->used = true;
    in->dtype = dt;
    in->nd = nd;
    for (int i = 0; i < 4; i++) in->shape[i] = i < nd ? shape[i] : 1;
    int64_t n = numel_of(nd, shape);
    size_t bytes = vlm_dtype_is_block(dt) ? vlm_dtype_nbytes(dt, n) : (size_t) n * vlm_dtype_size(dt);
    in->data = calloc(1, bytes + 16);
    if (!in->data || st->dry) return;
    if (vlm_dtype_is_block(dt)) {   // block dtypes: quantized from uniform values by the table
        float * f = malloc((size_t) n * sizeof(float));
        if (!f) return;
        for (int64_t k = 0; k < n; k++) f[k] = rand_uniform(&st->rng) * amp;
        vlm_dtype_traits(dt)->from_f32(f, in->data, n);
        free(f);
        return;
    }
    for (int64_t k = 0; k < n; k++) {
        float v = rand_uniform(&st->rng) * amp;
        switch (dt) {
        case VLM_DTYPE_F32: ((float *) in->data)[k] = v; break;
        case VLM_DTYPE_F16: ((uint16_t *) in->data)[k] = vlm_f32_to_f16(v); break;
        case VLM_DTYPE_BF16: ((uint16_t *) in->data)[k] = vlm_f32_to_bf16(v); break;
        case VLM_DTYPE_I32: ((int32_t *) in->data)[k] = (int32_t) ((rand_uniform(&st->rng) + 1.0f) * 1000.0f) - 700; break;
        case VLM_DTYPE_U8: ((uint8_t *) in->data)[k] = (uint8_t) ((rand_uniform(&st->rng) + 1.0f) * 127.9f); break;
        default: break;
        }
    }
}
static void input_perm(struct input * in, int p0, int p1, int p2, int p3) {
    in->view = VIEW_PERM;
    in->perm[0] = p0; in->perm[1] = p1; in->perm[2] = p2; in->perm[3] = p3;
}

static void input_slice(struct input * in, int dim, int64_t start, int64_t len) {
    in->view = VIEW_SLICE;
    in->sdim = dim; in->sstart = start; in->slen = len;
}

static struct vlm_tensor input_make(struct vlm_ctx * x, const struct input * in) {
    struct vlm_tensor t = vlm_tensor_from_host(x, in->dtype, in->nd, in->shape, in->data);
    if (in->view == VIEW_PERM) t = vlm_tensor_permute(t, in->perm);
    else if (in->view == VIEW_SLICE) t = vlm_tensor_slice(t, in->sdim, in->sstart, in->slen);
    return t;
}

// Runs the case's op on x; returns the output as fp32 host data (malloc'd), NULL on error.
// Also checks the guard regions around the output.
static float * run_on(struct vlm_ctx * x, const struct tcase * c, int64_t * n_out, char * shape_str, size_t ss, bool * guard_ok) {
    uint32_t * pat = malloc(sizeof(uint32_t) * (GUARD_FLOATS + 65536));
    bool have = pat != NULL;
    for (int k = 0; k < MAX_IN; k++) have = have && (!c->in[k].used || c->in[k].data);
    if (!have) {
        free(pat);
        vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "self-test: out of host memory");
        return NULL;
    }
    size_t mark = vlm_arena_mark(x);
    struct vlm_tensor in[MAX_IN];
    memset(in, 0, sizeof in);
    for (int k = 0; k < MAX_IN; k++)
        if (c->in[k].used) in[k] = input_make(x, &c->in[k]);
    // guard before the output, and a patterned region where the output will land
    int64_t gshape[1] = { GUARD_FLOATS };
    for (int k = 0; k < GUARD_FLOATS + 65536; k++) pat[k] = GUARD_PATTERN;
    struct vlm_tensor pre = vlm_tensor_from_host(x, VLM_DTYPE_F32, 1, gshape, pat);
    size_t after_pre = vlm_arena_mark(x);
    int64_t fshape[1] = { GUARD_FLOATS + 65536 };
    struct vlm_tensor fill = vlm_tensor_from_host(x, VLM_DTYPE_F32, 1, fshape, pat);
    vlm_arena_reset(x, after_pre);

    struct vlm_tensor out;
    memset(&out, 0, sizeof out);
    const struct vlm_tensor * opt1 = c->in[1].used ? &in[1] : NULL;
    const struct vlm_tensor * opt2 = c->in[2].used ? &in[2] : NULL;
    switch (c->op) {
    case VLM_OP_LINEAR: out = vlm_op_linear(x, in[0], in[1], opt2); break;
    case VLM_OP_MATMUL: out = vlm_op_matmul(x, in[0], in[1]); break;
    case VLM_OP_BINARY: out = vlm_op_binary(x, (enum vlm_binary) c->i[0], in[0], in[1]); break;
    case VLM_OP_SCALE: out = vlm_op_scale(x, in[0], c->f[0], c->f[1]); break;
    case VLM_OP_UNARY: out = vlm_op_unary(x, (enum vlm_unary) c->i[0], in[0]); break;
    case VLM_OP_LAYER_NORM: out = vlm_op_layer_norm(x, in[0], opt1, opt2, c->f[0]); break;
    case VLM_OP_RMS_NORM: out = vlm_op_rms_norm(x, in[0], opt1, c->f[0]); break;
    case VLM_OP_LAYER_NORM_2D: out = vlm_op_layer_norm_2d(x, in[0], in[1], in[2], c->f[0]); break;
    case VLM_OP_SOFTMAX: out = vlm_op_softmax(x, in[0], c->f[0], opt1); break;
    case VLM_OP_ATTENTION: {
        struct vlm_attention_params p = { .scale = c->f[0], .causal = c->i[0] != 0, .q_pos0 = c->i[1],
                                          .mask = c->in[3].used ? &in[3] : NULL,
                                          .rel_h = c->in[4].used ? &in[4] : NULL,
                                          .rel_w = c->in[5].used ? &in[5] : NULL };
        out = vlm_op_attention(x, in[0], in[1], in[2], &p);
        break;
    }
    case VLM_OP_CONV2D: out = vlm_op_conv2d(x, in[0], in[1], opt2, c->i[0], c->i[1]); break;
    case VLM_OP_CONV2D_DW: out = vlm_op_conv2d_dw(x, in[0], in[1], opt2, c->i[0], c->i[1]); break;
    case VLM_OP_CONV_TRANSPOSE2D: out = vlm_op_conv_transpose2d(x, in[0], in[1], opt2, c->i[0]); break;
    case VLM_OP_INTERPOLATE: out = vlm_op_interpolate(x, in[0], c->i[0], c->i[1], c->i[2] != 0); break;
    case VLM_OP_COPY:
        if (c->i[1]) {   // copy_into a strided destination: dst = transpose of a fresh [.., b, a] tensor
            struct vlm_tensor s = in[0];
            int64_t tshape[4];
            for (int d = 0; d < s.n_dims; d++) tshape[d] = s.shape[d];
            int64_t t0 = tshape[s.n_dims - 1];
            tshape[s.n_dims - 1] = tshape[s.n_dims - 2];
            tshape[s.n_dims - 2] = t0;
            struct vlm_tensor base = vlm_tensor_new(x, (enum vlm_dtype) c->i[0], s.n_dims, tshape);
            struct vlm_tensor dst = vlm_tensor_transpose(base, s.n_dims - 2, s.n_dims - 1);
            vlm_op_copy_into(x, dst, s);
            out = vlm_op_copy(x, dst, (enum vlm_dtype) c->i[0]);   // materialize for download
        } else {
            out = vlm_op_copy(x, in[0], (enum vlm_dtype) c->i[0]);
        }
        break;
    case VLM_OP_CONCAT: out = vlm_op_concat(x, in[0], in[1], c->i[0]); break;
    case VLM_OP_GATHER: out = vlm_op_gather(x, in[0], in[1]); break;
    case VLM_OP_ROPE: out = vlm_op_rope(x, in[0], c->i[0], c->f[0], (enum vlm_rope_mode) c->i[1]); break;
    default: break;
    }
    float * res = NULL;
    if (vlm_ctx_ok(x) && out.n_dims > 0) {
        vlm_tensor_shape_str(&out, shape_str, ss);
        int64_t n = vlm_tensor_numel(&out);
        size_t es = vlm_dtype_size(out.dtype);
        void * raw = malloc((size_t) n * es + 16);
        res = malloc((size_t) n * sizeof(float) + 16);
        if (!raw || !res) {
            free(raw);
            free(res);
            free(pat);
            vlm_arena_reset(x, mark);
            vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "self-test: out of host memory");
            return NULL;
        }
        vlm_tensor_download(x, out, raw);
        if (out.dtype == VLM_DTYPE_I32) for (int64_t k = 0; k < n; k++) res[k] = (float) ((int32_t *) raw)[k];
        else vlm_dtype_traits(out.dtype)->to_f32(raw, res, n);
        free(raw);
        *n_out = n;
        // guards: the region before the output, and the patterned floats just after it
        uint32_t g[GUARD_FLOATS];
        vlm_tensor_download(x, pre, g);
        for (int k = 0; k < GUARD_FLOATS; k++) if (g[k] != GUARD_PATTERN) *guard_ok = false;
        size_t end = out.offset + (size_t) n * es;
        size_t fend = fill.offset + (size_t) fshape[0] * 4;
        if (out.buf == fill.buf && out.offset >= fill.offset && end + GUARD_FLOATS * 4 <= fend) {
            size_t gs = (end + 3) & ~(size_t) 3;
            struct vlm_tensor post = vlm_tensor_in(x->arena, gs, VLM_DTYPE_F32, 1, gshape);
            vlm_tensor_download(x, post, g);
            // bytes between end and gs (sub-word outputs) belong to the pattern too
            for (int k = 0; k < GUARD_FLOATS; k++) if (g[k] != GUARD_PATTERN) *guard_ok = false;
        }
        if (!vlm_ctx_ok(x)) { free(res); res = NULL; }
    }
    free(pat);
    vlm_arena_reset(x, mark);
    return res;
}


// Hashes what defines a case (the cache key covers the case list).
static void case_hash(struct run * st, const struct tcase * c) {
    st->hash = hash_add(st->hash, c->name, strlen(c->name));
    st->hash = hash_add(st->hash, &c->op, sizeof c->op);
    st->hash = hash_add(st->hash, c->i, sizeof c->i);
    st->hash = hash_add(st->hash, c->f, sizeof c->f);
    st->hash = hash_add(st->hash, &c->tol, sizeof c->tol);
    for (int k = 0; k < MAX_IN; k++) {
        const struct input * in = &c->in[k];
        if (!in->used) continue;
        st->hash = hash_add(st->hash, &in->dtype, sizeof in->dtype);
        st->hash = hash_add(st->hash, in->shape, sizeof in->shape);
        st->hash = hash_add(st->hash, &in->view, sizeof in->view);
    }
}

// Records a failed row in the verdict: a variant's name turns the variant off, an op's name
// (its plain kernel) makes the device unusable.
static void verdict_add(struct vlm_selftest_verdict * v, const struct vlm_selftest_row * r) {
    v->n_failed++;
    int var = vlm_vk_variant_find(r->kernel);
    bool first = !v->failure[0] || (var < 0 && v->device_ok);   // a plain kernel's failure outranks a variant's
    if (var >= 0) v->bad_variants |= 1u << var;
    else v->device_ok = false;
    if (first) {
        if (r->error[0]) snprintf(v->failure, sizeof v->failure, "%s: %s: %s", r->kernel, r->name, r->error);
        else
            snprintf(v->failure, sizeof v->failure, "%s: %s %s nmse %.2e > %.0e", r->kernel, r->name, r->shape, r->nmse, r->tol);
    }
}

static void clear_error(struct vlm_ctx * x) {
    if (!vlm_ctx_ok(x)) { x->status = VLM_STATUS_OK; x->error[0] = 0; }
}

// Compares the device's result of c (with the variants of variants_off turned off) to ref.
static void compare(struct run * st, const struct tcase * c, const float * ref, int64_t n_ref, const char * s_ref,
                    bool g_ref, uint32_t variants_off) {
    struct vlm_selftest_row r;
    memset(&r, 0, sizeof r);
    r.op = vlm_op_name(c->op);
    r.name = c->name;
    r.tol = c->tol;
    struct vlm_vk * vk = st->dev->vk;
    uint32_t saved_off = 0;
    if (vk) {
        for (int v = 0; v < VLM_VK_VARIANT_COUNT; v++) {
            if (!vlm_vk_variant_enabled(vk, (enum vlm_vk_variant) v)) saved_off |= 1u << v;
            if (variants_off & (1u << v)) vlm_vk_variant_enable(vk, (enum vlm_vk_variant) v, false);
        }
        vlm_vk_variants_used(vk, true);
    }
    int64_t n = 0;
    bool g = true;
    double t0 = vlm_now_ms();
    float * out = run_on(st->dev, c, &n, r.shape, sizeof r.shape, &g);
    r.ms = vlm_now_ms() - t0;
    uint32_t used = vk ? vlm_vk_variants_used(vk, true) : 0;
    if (vk)
        for (int v = 0; v < VLM_VK_VARIANT_COUNT; v++) vlm_vk_variant_enable(vk, (enum vlm_vk_variant) v, !(saved_off & (1u << v)));
    snprintf(r.kernel, sizeof r.kernel, "%s", r.op);
    for (int v = 0; v < VLM_VK_VARIANT_COUNT; v++)
        if (used & (1u << v)) snprintf(r.kernel, sizeof r.kernel, "%s", vlm_vk_variant_name((enum vlm_vk_variant) v));

    if (!ref) snprintf(r.error, sizeof r.error, "cpu failed: %.200s", st->cpu->error);
    else if (!out) snprintf(r.error, sizeof r.error, "device failed: %.200s", st->dev->error[0] ? st->dev->error : "out of memory");
    else if (n != n_ref || strcmp(r.shape, s_ref) != 0) snprintf(r.error, sizeof r.error, "shapes differ: %s vs cpu %s", r.shape, s_ref);
    else {
        // infinities must match in sign and position; compare the finite rest
        bool inf_ok = true;
        double num = 0, den = 0, mx = 0;
        for (int64_t k = 0; k < n; k++) {
            double a = out[k], b = ref[k];
            if (isinf(a) || isinf(b)) {
                if (a != b) inf_ok = false;
                continue;
            }
            double d = a - b;
            num += d * d;
            den += b * b;
            if (!(fabs(d) <= mx)) mx = fabs(d);   // NaN propagates as a failure
        }
        r.nmse = den > 0 ? num / den : num;
        r.max_abs = mx;
        r.pass = r.nmse <= c->tol && inf_ok && g && g_ref;
        if (!inf_ok) snprintf(r.error, sizeof r.error, "infinities differ from the cpu's");
        else if (!g) snprintf(r.error, sizeof r.error, "device wrote outside its output (guard region changed)");
        else if (!g_ref) snprintf(r.error, sizeof r.error, "cpu wrote outside its output (guard region changed)");
    }
    clear_error(st->dev);
    free(out);
    st->n_cases++;
    if (!r.pass) {
        st->n_failed++;
        if (st->verdict) verdict_add(st->verdict, &r);
    }
    if (st->fn) st->fn(&r, st->user);
    // a case that ran variants: once more on the plain kernels
    if (used & ~variants_off) compare(st, c, ref, n_ref, s_ref, g_ref, variants_off | used);
}

static void run_case(struct run * st, const struct tcase * c) {
    if (st->dry) {
        case_hash(st, c);
        st->n_cases++;
        return;
    }
    int64_t n_cpu = 0;
    char s_cpu[64] = "?";
    bool g_cpu = true;
    float * ref = run_on(st->cpu, c, &n_cpu, s_cpu, sizeof s_cpu, &g_cpu);
    compare(st, c, ref, n_cpu, s_cpu, g_cpu, 0);
    clear_error(st->cpu);
    free(ref);
}

static void case_free(struct tcase * c) {
    for (int k = 0; k < MAX_IN; k++) free(c->in[k].data);
    memset(c, 0, sizeof *c);
}

#define S(...) ((const int64_t[]) { __VA_ARGS__ })
#define ND(...) (int) (sizeof((const int64_t[]) { __VA_ARGS__ }) / sizeof(int64_t))
#define IN(c, k, dt, amp, ...) input_init(st, &(c).in[k], dt, ND(__VA_ARGS__), S(__VA_ARGS__), amp)

// NMSE bounds: bit-exact data movement, elementwise fp32 math, fp32 sums over K.
static const double TOL_EXACT = 1e-12, TOL_ELEM = 1e-7, TOL_GEMM = 1e-6;

static void cases_linear(struct run * st) {
    struct { int64_t M, K, N; enum vlm_dtype wdt; bool bias; } L[] = {
        { 1, 7, 5, VLM_DTYPE_F32, false }, { 64, 128, 96, VLM_DTYPE_F32, true }, { 37, 129, 61, VLM_DTYPE_F32, true },
        { 1, 768, 2304, VLM_DTYPE_F16, true }, { 17, 33, 100, VLM_DTYPE_BF16, true }, { 200, 64, 3, VLM_DTYPE_F16, false },
        { 130, 96, 130, VLM_DTYPE_F32, true }, { 2, 129, 61, VLM_DTYPE_BF16, true }, { 4, 1000, 33, VLM_DTYPE_F32, true },
        { 3, 2048, 257, VLM_DTYPE_F16, false }, { 5, 64, 17, VLM_DTYPE_F32, false }, { 1, 64, 45, VLM_DTYPE_BF16, true },
    };
    for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) {
        struct tcase c = { .name = "linear", .op = VLM_OP_LINEAR, .tol = L[i].wdt == VLM_DTYPE_F32 ? TOL_GEMM : 2e-6 };
        if (L[i].wdt != VLM_DTYPE_F32) c.name = L[i].wdt == VLM_DTYPE_F16 ? "linear(w f16)" : "linear(w bf16)";
        IN(c, 0, VLM_DTYPE_F32, 1.0f, L[i].M, L[i].K);
        IN(c, 1, L[i].wdt, 0.2f, L[i].N, L[i].K);
        if (L[i].bias) IN(c, 2, VLM_DTYPE_F32, 1.0f, L[i].N);
        run_case(st, &c);
        case_free(&c);
    }
    // leading dims that do not merge: a slice along dim 1 of [2, 9, 13, 24]
    struct tcase c = { .name = "linear(slice view)", .op = VLM_OP_LINEAR, .tol = TOL_GEMM };
    IN(c, 0, VLM_DTYPE_F32, 1.0f, 2, 9, 13, 24);
    input_slice(&c.in[0], 1, 2, 5);
    IN(c, 1, VLM_DTYPE_F32, 0.3f, 19, 24);
    IN(c, 2, VLM_DTYPE_BF16, 1.0f, 19);
    run_case(st, &c);
    case_free(&c);
    // 4 rows in two levels that do not merge: [2, 3, 40] sliced to [2, 2, 40] (the matvec's a_row)
    struct tcase e = { .name = "linear(4 rows, slice)", .op = VLM_OP_LINEAR, .tol = TOL_GEMM };
    IN(e, 0, VLM_DTYPE_F32, 1.0f, 2, 3, 40);
    input_slice(&e.in[0], 1, 1, 2);
    IN(e, 1, VLM_DTYPE_F32, 0.3f, 7, 40);
    IN(e, 2, VLM_DTYPE_F16, 1.0f, 7);
    run_case(st, &e);
    case_free(&e);
    // permuted leading dims [3, 4, 5, K] -> [4, 3, 5, K]
    struct tcase d = { .name = "linear(perm view)", .op = VLM_OP_LINEAR, .tol = TOL_GEMM };
    IN(d, 0, VLM_DTYPE_F32, 1.0f, 3, 4, 5, 40);
    input_perm(&d.in[0], 1, 0, 2, 3);
    IN(d, 1, VLM_DTYPE_F32, 0.3f, 23, 40);
    run_case(st, &d);
    case_free(&d);
}

static void cases_matmul(struct run * st) {
    struct { int64_t B, M, K, N; int bt; int ab; } L[] = {
        { 1, 1, 33, 17, 0, 0 }, { 3, 64, 64, 64, 0, 0 }, { 2, 37, 129, 61, 0, 0 }, { 2, 37, 129, 61, 1, 0 },
        { 4, 16, 80, 50, 1, 1 }, { 1, 100, 5, 1, 0, 0 }, { 5, 7, 11, 13, 1, 0 },
    };
    for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) {
        struct tcase c = { .name = L[i].bt ? "matmul(b transposed)" : "matmul", .op = VLM_OP_MATMUL, .tol = TOL_GEMM };
        if (L[i].ab) c.name = "matmul(a bcast, b^T)";
        IN(c, 0, VLM_DTYPE_F32, 1.0f, L[i].ab ? 1 : L[i].B, L[i].M, L[i].K);
        if (L[i].bt) {
            IN(c, 1, VLM_DTYPE_F32, 1.0f, L[i].B, L[i].N, L[i].K);
            input_perm(&c.in[1], 0, 2, 1, 3);
        } else {
            IN(c, 1, VLM_DTYPE_F32, 1.0f, L[i].B, L[i].K, L[i].N);
        }
        run_case(st, &c);
        case_free(&c);
    }
    // 2-D with a permuted a (k-major)
    struct tcase c = { .name = "matmul(2d, a^T)", .op = VLM_OP_MATMUL, .tol = TOL_GEMM };
    IN(c, 0, VLM_DTYPE_F32, 1.0f, 45, 31);
    input_perm(&c.in[0], 1, 0, 2, 3);
    IN(c, 1, VLM_DTYPE_F32, 1.0f, 45, 70);
    run_case(st, &c);
    case_free(&c);
}

static void cases_elementwise(struct run * st) {
    static const char * bin_names[] = { "add", "sub", "mul", "div" };
    for (int op = 0; op < VLM_BINARY_COUNT; op++) {
        struct tcase c = { .name = bin_names[op], .op = VLM_OP_BINARY, .i = { op }, .tol = TOL_ELEM };
        IN(c, 0, VLM_DTYPE_F32, 1.0f, 2, 3, 5, 7);
        IN(c, 1, VLM_DTYPE_F32, 1.0f, 3, 1, 7);
        if (op == VLM_BINARY_DIV) for (int k = 0; k < 21; k++) ((float *) c.in[1].data)[k] += 2.0f;
        run_case(st, &c);
        case_free(&c);
    }
    struct tcase c = { .name = "add(perm + row)", .op = VLM_OP_BINARY, .i = { VLM_BINARY_ADD }, .tol = TOL_ELEM };
    IN(c, 0, VLM_DTYPE_F32, 1.0f, 13, 11, 7, 5);
    input_perm(&c.in[0], 3, 2, 1, 0);
    IN(c, 1, VLM_DTYPE_F32, 1.0f, 13);
    run_case(st, &c);
    case_free(&c);

    struct tcase s = { .name = "scale", .op = VLM_OP_SCALE, .f = { 0.37f, -1.5f }, .tol = TOL_ELEM };
    IN(s, 0, VLM_DTYPE_F32, 3.0f, 3, 1001);
    input_slice(&s.in[0], 1, 1, 999);
    run_case(st, &s);
    case_free(&s);

    // more than 65535 * 256 elements: the 1-D grid folds over x and y
    // (a strided view, so that the scalar path runs; contiguous inputs take 4 per invocation)
    if (st->big) {
        struct tcase big = { .name = "relu(17M, slice)", .op = VLM_OP_UNARY, .i = { VLM_UNARY_RELU }, .tol = TOL_ELEM };
        IN(big, 0, VLM_DTYPE_F32, 1.0f, 2, 8500003);
        input_slice(&big.in[0], 1, 1, 8500002);
        run_case(st, &big);
        case_free(&big);
    }
    struct tcase con = { .name = "gelu_erf(contiguous)", .op = VLM_OP_UNARY, .i = { VLM_UNARY_GELU_ERF }, .tol = TOL_ELEM };
    IN(con, 0, VLM_DTYPE_F32, 5.0f, 7, 1001);
    run_case(st, &con);
    case_free(&con);

    static const char * un_names[] = { "gelu_erf", "gelu_tanh", "quick_gelu", "relu", "silu", "sigmoid", "step" };
    for (int op = 0; op < VLM_UNARY_COUNT; op++) {
        struct tcase u = { .name = un_names[op], .op = VLM_OP_UNARY, .i = { op }, .tol = TOL_ELEM };
        IN(u, 0, VLM_DTYPE_F32, 6.0f, 5, 7, 11, 13);
        input_perm(&u.in[0], 0, 2, 1, 3);
        run_case(st, &u);
        case_free(&u);
    }
}

static void cases_norm(struct run * st) {
    struct tcase c = { .name = "layer_norm", .op = VLM_OP_LAYER_NORM, .f = { 1e-6f }, .tol = TOL_ELEM };
    IN(c, 0, VLM_DTYPE_F32, 2.0f, 1, 768);
    IN(c, 1, VLM_DTYPE_F32, 1.0f, 768);
    IN(c, 2, VLM_DTYPE_F32, 1.0f, 768);
    for (int k = 0; k < 768; k++) ((float *) c.in[0].data)[k] += 3.0f;   // non-zero mean
    run_case(st, &c);
    case_free(&c);

    struct tcase d = { .name = "layer_norm(perm, f16 w)", .op = VLM_OP_LAYER_NORM, .f = { 1e-5f }, .tol = TOL_ELEM };
    IN(d, 0, VLM_DTYPE_F32, 1.0f, 5, 13, 11, 7);
    input_perm(&d.in[0], 0, 3, 2, 1);
    IN(d, 1, VLM_DTYPE_F16, 1.0f, 13);
    IN(d, 2, VLM_DTYPE_BF16, 1.0f, 13);
    run_case(st, &d);
    case_free(&d);

    struct tcase e = { .name = "layer_norm(no affine)", .op = VLM_OP_LAYER_NORM, .f = { 1e-5f }, .tol = TOL_ELEM };
    IN(e, 0, VLM_DTYPE_F32, 1.0f, 3, 1031);
    run_case(st, &e);
    case_free(&e);

    struct tcase r = { .name = "rms_norm", .op = VLM_OP_RMS_NORM, .f = { 1e-6f }, .tol = TOL_ELEM };
    IN(r, 0, VLM_DTYPE_F32, 1.0f, 2, 9, 576);
    IN(r, 1, VLM_DTYPE_F32, 1.0f, 576);
    run_case(st, &r);
    case_free(&r);

    struct tcase r2 = { .name = "rms_norm(slice, no w)", .op = VLM_OP_RMS_NORM, .f = { 1e-5f }, .tol = TOL_ELEM };
    IN(r2, 0, VLM_DTYPE_F32, 1.0f, 7, 37);
    input_slice(&r2.in[0], 1, 3, 31);
    run_case(st, &r2);
    case_free(&r2);

    // more than 65535 rows: the grid folds over x and y
    struct tcase big = { .name = "layer_norm(70000 rows)", .op = VLM_OP_LAYER_NORM, .f = { 1e-5f }, .tol = TOL_ELEM };
    IN(big, 0, VLM_DTYPE_F32, 1.0f, 70000, 3);
    run_case(st, &big);
    case_free(&big);

    struct tcase l = { .name = "layer_norm_2d", .op = VLM_OP_LAYER_NORM_2D, .f = { 1e-6f }, .tol = TOL_ELEM };
    IN(l, 0, VLM_DTYPE_F32, 1.0f, 2, 32, 9, 11);
    IN(l, 1, VLM_DTYPE_F32, 1.0f, 32);
    IN(l, 2, VLM_DTYPE_F32, 1.0f, 32);
    run_case(st, &l);
    case_free(&l);

    struct tcase l2 = { .name = "layer_norm_2d(chan-last)", .op = VLM_OP_LAYER_NORM_2D, .f = { 1e-6f }, .tol = TOL_ELEM };
    IN(l2, 0, VLM_DTYPE_F32, 1.0f, 1, 8, 6, 17);   // [B, H, W, C] permuted to [B, C, H, W]
    input_perm(&l2.in[0], 0, 3, 1, 2);
    IN(l2, 1, VLM_DTYPE_F16, 1.0f, 17);
    IN(l2, 2, VLM_DTYPE_F32, 1.0f, 17);
    run_case(st, &l2);
    case_free(&l2);
}

static void cases_softmax(struct run * st) {
    struct tcase c = { .name = "softmax", .op = VLM_OP_SOFTMAX, .f = { 1.0f }, .tol = TOL_ELEM };
    IN(c, 0, VLM_DTYPE_F32, 1.0f, 3, 1000);
    run_case(st, &c);
    case_free(&c);

    struct tcase d = { .name = "softmax(scale, mask -inf)", .op = VLM_OP_SOFTMAX, .f = { 0.125f }, .tol = TOL_ELEM };
    IN(d, 0, VLM_DTYPE_F32, 80.0f, 2, 3, 17, 29);   // large magnitudes
    IN(d, 1, VLM_DTYPE_F32, 1.0f, 17, 29);
    float * m = d.in[1].data;
    for (int i = 0; i < 17; i++)
        for (int j = 0; j < 29; j++) if (j > i + 5) m[i * 29 + j] = -INFINITY;
    for (int j = 0; j < 29; j++) m[3 * 29 + j] = -INFINITY;   // one fully masked row -> zeros
    run_case(st, &d);
    case_free(&d);

    struct tcase big = { .name = "softmax(66000 rows)", .op = VLM_OP_SOFTMAX, .f = { 1.0f }, .tol = TOL_ELEM };
    IN(big, 0, VLM_DTYPE_F32, 1.0f, 66000, 5);
    run_case(st, &big);
    case_free(&big);

    struct tcase e = { .name = "softmax(perm)", .op = VLM_OP_SOFTMAX, .f = { 2.0f }, .tol = TOL_ELEM };
    IN(e, 0, VLM_DTYPE_F32, 1.0f, 1, 31, 7, 5);
    input_perm(&e.in[0], 0, 3, 2, 1);
    run_case(st, &e);
    case_free(&e);
}

static void cases_attention(struct run * st) {
    // Hkv: kv heads (0 = H; GQA when fewer); pos0: first query position among the keys (KV cache)
    struct { int64_t B, H, Tq, Tk, D, Dv; int mask, causal, rel, qperm, Hkv, pos0; } L[] = {
        { 1, 2, 37, 53, 64, 64, 0, 0, 0, 0, 0, 0 }, { 2, 3, 16, 16, 32, 32, 1, 0, 0, 0, 0, 0 },
        { 1, 2, 33, 33, 64, 64, 0, 1, 0, 1, 0, 0 }, { 1, 2, 29, 56, 80, 80, 0, 0, 1, 0, 0, 0 },
        { 1, 1, 1, 77, 64, 48, 1, 0, 0, 0, 0, 0 }, { 2, 4, 50, 50, 16, 16, 1, 1, 0, 1, 0, 0 },
        { 1, 3, 64, 49, 128, 128, 0, 0, 1, 1, 0, 0 },
        { 1, 6, 5, 12, 16, 16, 0, 1, 0, 0, 2, 7 }, { 1, 8, 1, 40, 32, 32, 0, 1, 0, 0, 2, 39 },
        { 1, 9, 70, 100, 64, 64, 0, 1, 0, 1, 3, 30 }, { 2, 4, 67, 67, 16, 16, 1, 1, 0, 0, 4, 0 },
    };
    for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) {
        int64_t Hkv = L[i].Hkv ? L[i].Hkv : L[i].H;
        struct tcase c = { .name = "attention", .op = VLM_OP_ATTENTION, .f = { 1.0f / sqrtf((float) L[i].D) },
                           .i = { L[i].causal, L[i].pos0 }, .tol = TOL_GEMM };
        if (Hkv != L[i].H || L[i].pos0) c.name = "attention(gqa, q_pos0)";
        else if (L[i].rel) c.name = "attention(rel_pos)";
        else if (L[i].mask && L[i].causal) c.name = "attention(mask, causal)";
        else if (L[i].mask) c.name = "attention(mask)";
        else if (L[i].causal) c.name = "attention(causal)";
        if (L[i].qperm) {   // q, k, v from [B, T, H, D] layouts
            IN(c, 0, VLM_DTYPE_F32, 2.0f, L[i].B, L[i].Tq, L[i].H, L[i].D);
            input_perm(&c.in[0], 0, 2, 1, 3);
            IN(c, 1, VLM_DTYPE_F32, 2.0f, L[i].B, L[i].Tk, Hkv, L[i].D);
            input_perm(&c.in[1], 0, 2, 1, 3);
        } else {
            IN(c, 0, VLM_DTYPE_F32, 2.0f, L[i].B, L[i].H, L[i].Tq, L[i].D);
            IN(c, 1, VLM_DTYPE_F32, 2.0f, L[i].B, Hkv, L[i].Tk, L[i].D);
        }
        IN(c, 2, VLM_DTYPE_F32, 1.0f, L[i].B, Hkv, L[i].Tk, L[i].Dv);
        if (L[i].mask) {
            IN(c, 3, VLM_DTYPE_F32, 1.0f, 1, 1, L[i].Tq, L[i].Tk);
            float * m = c.in[3].data;
            for (int64_t k = 0; k < L[i].Tq * L[i].Tk; k += 7) m[k] = -INFINITY;
        }
        if (L[i].rel) {
            int64_t kh = 7, kw = L[i].Tk / 7;
            IN(c, 4, VLM_DTYPE_F32, 1.0f, L[i].B, L[i].H, L[i].Tq, kh);
            IN(c, 5, VLM_DTYPE_F32, 1.0f, L[i].B, L[i].H, L[i].Tq, kw);
        }
        run_case(st, &c);
        case_free(&c);
    }
}

static void cases_conv(struct run * st) {
    struct { int64_t B, Cin, H, W, Cout, k; int s, p; enum vlm_dtype wdt; int bias, chlast; } L[] = {
        { 1, 3, 32, 32, 16, 4, 4, 0, VLM_DTYPE_F32, 1, 0 },   // patch embed
        { 2, 8, 13, 11, 5, 3, 1, 1, VLM_DTYPE_F32, 1, 0 },
        { 1, 6, 15, 17, 9, 3, 2, 1, VLM_DTYPE_F16, 0, 0 },
        { 1, 24, 8, 8, 70, 1, 1, 0, VLM_DTYPE_F32, 0, 1 },    // 1x1 neck on a channels-last view
        { 1, 16, 9, 9, 16, 3, 1, 1, VLM_DTYPE_BF16, 1, 1 },
    };
    for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) {
        struct tcase c = { .name = L[i].chlast ? "conv2d(chan-last)" : "conv2d", .op = VLM_OP_CONV2D,
                           .i = { L[i].s, L[i].p }, .tol = TOL_GEMM };
        if (L[i].chlast) {
            IN(c, 0, VLM_DTYPE_F32, 1.0f, L[i].B, L[i].H, L[i].W, L[i].Cin);
            input_perm(&c.in[0], 0, 3, 1, 2);
        } else {
            IN(c, 0, VLM_DTYPE_F32, 1.0f, L[i].B, L[i].Cin, L[i].H, L[i].W);
        }
        IN(c, 1, L[i].wdt, 0.3f, L[i].Cout, L[i].Cin, L[i].k, L[i].k);
        if (L[i].bias) IN(c, 2, VLM_DTYPE_F32, 1.0f, L[i].Cout);
        run_case(st, &c);
        case_free(&c);
    }
    // depthwise on channel-last input (TinyViT): odd sizes, both strides, a permuted NCHW source, f16 weights
    struct { int64_t B, H, W, C; int s; enum vlm_dtype wdt; int bias, perm; } DW[] = {
        { 2, 11, 9, 13, 2, VLM_DTYPE_F32, 1, 0 },
        { 1, 7, 15, 33, 1, VLM_DTYPE_F16, 0, 1 },
        { 1, 14, 14, 20, 2, VLM_DTYPE_BF16, 1, 1 },
    };
    for (size_t i = 0; i < sizeof DW / sizeof DW[0]; i++) {
        struct tcase c = { .name = DW[i].perm ? "conv2d_dw(perm)" : "conv2d_dw", .op = VLM_OP_CONV2D_DW,
                           .i = { DW[i].s, 1 }, .tol = TOL_GEMM };
        if (DW[i].perm) {
            IN(c, 0, VLM_DTYPE_F32, 1.0f, DW[i].B, DW[i].C, DW[i].H, DW[i].W);
            input_perm(&c.in[0], 0, 2, 3, 1);
        } else {
            IN(c, 0, VLM_DTYPE_F32, 1.0f, DW[i].B, DW[i].H, DW[i].W, DW[i].C);
        }
        IN(c, 1, DW[i].wdt, 0.3f, DW[i].C, 1, 3, 3);
        if (DW[i].bias) IN(c, 2, VLM_DTYPE_F32, 1.0f, DW[i].C);
        run_case(st, &c);
        case_free(&c);
    }
    struct tcase t = { .name = "conv_transpose2d", .op = VLM_OP_CONV_TRANSPOSE2D, .i = { 2 }, .tol = TOL_GEMM };
    IN(t, 0, VLM_DTYPE_F32, 1.0f, 1, 16, 8, 7);
    IN(t, 1, VLM_DTYPE_F32, 0.3f, 16, 8, 2, 2);
    IN(t, 2, VLM_DTYPE_F32, 1.0f, 8);
    run_case(st, &t);
    case_free(&t);
    struct tcase t2 = { .name = "conv_transpose2d(perm,f16)", .op = VLM_OP_CONV_TRANSPOSE2D, .i = { 4 }, .tol = TOL_GEMM };
    IN(t2, 0, VLM_DTYPE_F32, 1.0f, 2, 5, 6, 12);
    input_perm(&t2.in[0], 0, 3, 1, 2);
    IN(t2, 1, VLM_DTYPE_F16, 0.3f, 12, 3, 4, 4);
    run_case(st, &t2);
    case_free(&t2);
}

static void cases_resample(struct run * st) {
    struct { int64_t B, C, H, W, OH, OW; int aa, perm; } L[] = {
        { 1, 3, 7, 9, 16, 20, 0, 0 }, { 1, 2, 64, 48, 17, 13, 0, 0 }, { 1, 2, 64, 48, 17, 13, 1, 0 },
        { 2, 3, 10, 10, 25, 4, 1, 1 }, { 1, 1, 256, 256, 1024, 1024, 0, 0 }, { 1, 1, 100, 30, 37, 30, 1, 0 },
    };
    for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) {
        struct tcase c = { .name = L[i].aa ? "interpolate(antialias)" : "interpolate", .op = VLM_OP_INTERPOLATE,
                           .i = { (int32_t) L[i].OH, (int32_t) L[i].OW, L[i].aa }, .tol = TOL_ELEM };
        if (L[i].perm) {
            IN(c, 0, VLM_DTYPE_F32, 1.0f, L[i].B, L[i].H, L[i].W, L[i].C);
            input_perm(&c.in[0], 0, 3, 1, 2);
        } else {
            IN(c, 0, VLM_DTYPE_F32, 1.0f, L[i].B, L[i].C, L[i].H, L[i].W);
        }
        run_case(st, &c);
        case_free(&c);
    }
}

static void cases_data(struct run * st) {
    struct { enum vlm_dtype from, to; int into; const char * name; } L[] = {
        { VLM_DTYPE_F32, VLM_DTYPE_F32, 0, "copy(perm f32)" }, { VLM_DTYPE_F32, VLM_DTYPE_F16, 0, "copy(f32->f16)" },
        { VLM_DTYPE_F32, VLM_DTYPE_BF16, 0, "copy(f32->bf16)" }, { VLM_DTYPE_F16, VLM_DTYPE_F32, 0, "copy(f16->f32)" },
        { VLM_DTYPE_BF16, VLM_DTYPE_F32, 0, "copy(bf16->f32)" }, { VLM_DTYPE_I32, VLM_DTYPE_I32, 0, "copy(i32)" },
        { VLM_DTYPE_U8, VLM_DTYPE_F32, 0, "copy(u8->f32)" }, { VLM_DTYPE_I32, VLM_DTYPE_F32, 0, "copy(i32->f32)" },
        { VLM_DTYPE_F32, VLM_DTYPE_F16, 1, "copy_into(f16 strided)" }, { VLM_DTYPE_F32, VLM_DTYPE_F32, 1, "copy_into(f32 strided)" },
        { VLM_DTYPE_U8, VLM_DTYPE_U8, 0, "copy(u8)" }, { VLM_DTYPE_F32, VLM_DTYPE_U8, 0, "copy(f32->u8)" },
    };
    for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) {
        struct tcase c = { .name = L[i].name, .op = VLM_OP_COPY, .i = { L[i].to, L[i].into }, .tol = TOL_EXACT };
        IN(c, 0, L[i].from, 3.0f, 3, 5, 7, 9);
        input_perm(&c.in[0], 2, 0, 3, 1);
        run_case(st, &c);
        case_free(&c);
    }
    for (int dim = 0; dim < 3; dim++) {
        struct tcase c = { .name = "concat", .op = VLM_OP_CONCAT, .i = { dim }, .tol = TOL_EXACT };
        int64_t sa[3] = { 3, 5, 7 }, sb[3] = { 3, 5, 7 };
        sb[dim] = 4;
        input_init(st, &c.in[0], VLM_DTYPE_F32, 3, sa, 1.0f);
        input_init(st, &c.in[1], VLM_DTYPE_F32, 3, sb, 1.0f);
        if (dim == 2) input_perm(&c.in[1], 0, 1, 2, 3);
        run_case(st, &c);
        case_free(&c);
    }
    struct tcase cc = { .name = "concat(f16, view)", .op = VLM_OP_CONCAT, .i = { 1 }, .tol = TOL_EXACT };
    IN(cc, 0, VLM_DTYPE_F16, 1.0f, 2, 3, 5);
    IN(cc, 1, VLM_DTYPE_F16, 1.0f, 2, 5, 3);
    input_perm(&cc.in[1], 0, 2, 1, 3);
    run_case(st, &cc);
    case_free(&cc);

    enum vlm_dtype tdt[3] = { VLM_DTYPE_F32, VLM_DTYPE_F16, VLM_DTYPE_BF16 };
    for (int i = 0; i < 3; i++) {
        struct tcase g = { .name = i == 0 ? "gather" : i == 1 ? "gather(f16)" : "gather(bf16, 3-d ids)", .op = VLM_OP_GATHER,
                           .tol = TOL_EXACT };
        IN(g, 0, tdt[i], 1.0f, 50, 33);
        if (i == 2) IN(g, 1, VLM_DTYPE_I32, 1.0f, 2, 2, 3);
        else IN(g, 1, VLM_DTYPE_I32, 1.0f, 7);
        int32_t * ids = g.in[1].data;
        for (int k = 0; k < (i == 2 ? 12 : 7); k++) ids[k] = (int32_t) ((k * 17 + i) % 50);
        run_case(st, &g);
        case_free(&g);
    }
    for (int mode = 0; mode < 2; mode++)
        for (int perm = 0; perm < 2; perm++) {
            struct tcase r = { .name = mode == VLM_ROPE_NEOX ? "rope(neox)" : "rope(normal)", .op = VLM_OP_ROPE,
                               .i = { perm ? 1000 : 5, mode }, .f = { 10000.0f }, .tol = TOL_ELEM };
            if (perm) {
                IN(r, 0, VLM_DTYPE_F32, 1.0f, 1, 9, 4, 64);   // [B, T, H, D] -> [B, H, T, D]
                input_perm(&r.in[0], 0, 2, 1, 3);
            } else {
                IN(r, 0, VLM_DTYPE_F32, 1.0f, 2, 3, 11, 32);
            }
            run_case(st, &r);
            case_free(&r);
        }
}

// Quantized weights: the CPU rounds activations to Q8_0 (Q8_0 / Q4_0 weights) or Q8_K (Q4_K),
// Vulkan multiplies them in F32, so linear differs by the activation rounding: NMSE 2e-4 and
// 4e-4 (as test-ops-quant.c's bounds against F32 activations). Gather and copy: the same
// dequantization on both sides up to float contraction, 1e-12.
static void cases_quant(struct run * st) {
    const enum vlm_dtype W[3] = { VLM_DTYPE_Q8_0, VLM_DTYPE_Q4_0, VLM_DTYPE_Q4_K };
    const char * names[3][3] = { { "linear(w q8_0)", "gather(q8_0)", "copy(q8_0->f32)" },
                                 { "linear(w q4_0)", "gather(q4_0)", "copy(q4_0->f32)" },
                                 { "linear(w q4_k)", "gather(q4_k)", "copy(q4_k->f32)" } };
    for (int t = 0; t < 3; t++) {
        int64_t blk = W[t] == VLM_DTYPE_Q4_K ? 256 : 32;
        struct { int64_t M, K, N; bool bias; } L[] = {
            { 1, blk, 37, false }, { 3, 3 * blk, 129, true }, { 17, 2 * blk, 61, true }, { 64, 5 * blk, 33, false },
        };
        for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) {
            struct tcase c = { .name = names[t][0], .op = VLM_OP_LINEAR, .tol = W[t] == VLM_DTYPE_Q4_K ? 4e-4 : 2e-4 };
            IN(c, 0, VLM_DTYPE_F32, 1.0f, L[i].M, L[i].K);
            IN(c, 1, W[t], 0.2f, L[i].N, L[i].K);
            if (L[i].bias) IN(c, 2, VLM_DTYPE_F32, 1.0f, L[i].N);
            run_case(st, &c);
            case_free(&c);
        }
        // 3-D input with a sliced (non-mergeable) leading dim
        struct tcase c = { .name = names[t][0], .op = VLM_OP_LINEAR, .tol = W[t] == VLM_DTYPE_Q4_K ? 4e-4 : 2e-4 };
        IN(c, 0, VLM_DTYPE_F32, 1.0f, 3, 9, blk);
        input_slice(&c.in[0], 1, 2, 6);
        IN(c, 1, W[t], 0.2f, 45, blk);
        run_case(st, &c);
        case_free(&c);

        struct tcase g = { .name = names[t][1], .op = VLM_OP_GATHER, .tol = TOL_EXACT };
        IN(g, 0, W[t], 1.0f, 29, 2 * blk);
        IN(g, 1, VLM_DTYPE_I32, 1.0f, 2, 5);
        int32_t * ids = g.in[1].data;
        for (int k = 0; k < 10; k++) ids[k] = (int32_t) ((k * 11 + t) % 29);
        run_case(st, &g);
        case_free(&g);

        for (int view = 0; view < 2; view++) {   // whole tensor, then rows 4..11
            struct tcase cp = { .name = names[t][2], .op = VLM_OP_COPY, .i = { VLM_DTYPE_F32, view }, .tol = TOL_EXACT };
            IN(cp, 0, W[t], 2.0f, 13, 3 * blk);
            if (view) input_slice(&cp.in[0], 0, 4, 8);
            run_case(st, &cp);
            case_free(&cp);
        }
    }
}

static void run_groups(struct run * st, const char * groups) {
    static const struct { const char * name; void (*fn)(struct run *); } G[] = {
        { "linear", cases_linear }, { "matmul", cases_matmul }, { "elementwise", cases_elementwise }, { "norm", cases_norm },
        { "softmax", cases_softmax }, { "attention", cases_attention }, { "conv", cases_conv },
        { "resample", cases_resample }, { "data", cases_data }, { "quant", cases_quant },
    };
    st->rng.state = 0x1234567ULL;
    st->hash = 0;
    for (size_t g = 0; g < sizeof G / sizeof G[0]; g++)
        if (!groups || strstr(groups, G[g].name)) G[g].fn(st);
}

int vlm_selftest_run(struct vlm_ctx * cpu, struct vlm_ctx * dev, const char * groups, bool big, vlm_selftest_fn fn,
                     void * user) {
    struct run st = { .cpu = cpu, .dev = dev, .big = big, .fn = fn, .user = user };
    run_groups(&st, groups);
    return st.n_failed;
}

// ---- the cached verdict ------------------------------------------------------------------

// Nonzero while the self-test creates its own contexts (their gate passes).
static _Thread_local int selftest_depth;

bool vlm_user_cache_dir(char * out, size_t n) {
    const char * x = getenv("XDG_CACHE_HOME");
    const char * home = getenv("HOME");
    if (x && *x == '/') snprintf(out, n, "%s/vlm", x);
    else if (home && *home) snprintf(out, n, "%s/.cache/vlm", home);
    else return false;
    return true;
}

bool vlm_mkdirs(const char * path) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int) sizeof tmp) {
        errno = ENAMETOOLONG;
        return false;
    }
    for (char * p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return false;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return false;
    struct stat st;
    if (stat(tmp, &st) != 0) return false;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return false;
    }
    return true;
}

// The cache key of vk's device: name, driver version, vlm version, the case list (its hash)
// and VLM_SELFTEST_INJECT; and the cache file (one per device name) in $VLM_SELFTEST_CACHE, else
// the user's cache folder. path is "" when there is no folder.
static void cache_key(struct vlm_vk * vk, char * key, size_t key_size, char * path, size_t path_size) {
    const struct vlm_vk_caps * caps = vlm_vk_caps(vk);
    struct run dry = { .dry = true };
    run_groups(&dry, NULL);
    snprintf(key, key_size, "%s|driver %u|vendor %u|vlm %s|cases %d %016llx|inject %s", caps->name, caps->driver_version,
             caps->vendor_id, vlm_version(), dry.n_cases, (unsigned long long) dry.hash, vlm_vk_inject(vk));
    char dir[4096];
    const char * e = getenv("VLM_SELFTEST_CACHE");
    path[0] = 0;
    if (e && *e) snprintf(dir, sizeof dir, "%s", e);
    else if (vlm_user_cache_dir(dir, sizeof dir)) ;
    else return;
    snprintf(path, path_size, "%s/selftest-%016llx.txt", dir, (unsigned long long) vlm_hash_bytes(caps->name, strlen(caps->name)));
}

// Reads the verdict cached under key; false when absent, stale (another key) or corrupt.
static bool cache_read(const char * path, const char * key, struct vlm_selftest_verdict * v) {
    FILE * f = path[0] ? fopen(path, "r") : NULL;
    if (!f) return false;
    char line[1100], want[1100];
    int ok_dev = -1, n_lines = 0;
    unsigned mask = 0;
    bool ok = true, end = false;
    snprintf(want, sizeof want, "key %s\n", key);
    v->failure[0] = 0;
    while (ok && !end && fgets(line, sizeof line, f)) {
        if (n_lines++ == 0) ok = strcmp(line, CACHE_MAGIC "\n") == 0;
        else if (!strncmp(line, "key ", 4)) ok = strcmp(line, want) == 0;
        else if (!strncmp(line, "result ", 7))
            ok = sscanf(line, "result %d %d %x %d", &v->n_cases, &v->n_failed, &mask, &ok_dev) == 4;
        else if (!strncmp(line, "failure ", 8)) {
            line[strcspn(line, "\n")] = 0;
            snprintf(v->failure, sizeof v->failure, "%.300s", line + 8);
        } else if (!strcmp(line, "end\n")) end = true;
        else ok = false;
    }
    fclose(f);
    if (!ok || !end || ok_dev < 0 || n_lines < 4 || mask >= (1u << VLM_VK_VARIANT_COUNT)) return false;
    v->bad_variants = mask;
    v->device_ok = ok_dev != 0;
    v->cached = true;
    return true;
}

static void cache_write(const char * path, const char * key, const struct vlm_selftest_verdict * v) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char * slash = strrchr(dir, '/');
    if (!path[0] || !slash) return;
    *slash = 0;
    struct vlm_atomic_file af;
    if (!vlm_mkdirs(dir) || vlm_atomic_open(&af, path) != VLM_STATUS_OK) return;   // no cache: the test runs again next time
    bool ok = fprintf(af.f, "%s\nkey %s\nresult %d %d %x %d\n", CACHE_MAGIC, key, v->n_cases, v->n_failed, v->bad_variants,
                      v->device_ok ? 1 : 0) > 0;
    if (v->failure[0]) ok = ok && fprintf(af.f, "failure %s\n", v->failure) > 0;
    ok = ok && fprintf(af.f, "end\n") > 0;
    vlm_atomic_commit(&af, ok);
}

// Runs the (not big) cases on a new Vulkan context and a CPU one into v.
static bool run_device(vlm_selftest_fn fn, void * user, struct vlm_selftest_verdict * v) {
    char err[512] = "";
    selftest_depth++;
    struct vlm_ctx * dev = vlm_ctx_new(VLM_BACKEND_VULKAN, 0, 128u << 20, err, sizeof err);
    struct vlm_ctx * cpu = dev ? vlm_ctx_new(VLM_BACKEND_CPU, 0, 128u << 20, err, sizeof err) : NULL;
    selftest_depth--;
    if (!dev || !cpu) {
        vlm_ctx_free(dev);
        vlm_error(VLM_STATUS_UNSUPPORTED, "self-test: %s", err);
        return false;
    }
    v->device_ok = true;
    struct run st = { .cpu = cpu, .dev = dev, .fn = fn, .user = user, .verdict = v };
    run_groups(&st, NULL);
    v->n_cases = st.n_cases;
    vlm_ctx_free(dev);
    vlm_ctx_free(cpu);
    return true;
}

bool vlm_selftest_device(vlm_selftest_fn fn, void * user, struct vlm_selftest_verdict * v) {
    memset(v, 0, sizeof *v);
    char err[512] = "", key[1024];
    selftest_depth++;
    struct vlm_vk * vk = vlm_vk_init(-1, err, sizeof err);
    selftest_depth--;
    if (!vk) {
        vlm_error(VLM_STATUS_UNSUPPORTED, "self-test: %s", err);
        return false;
    }
    cache_key(vk, key, sizeof key, v->cache_path, sizeof v->cache_path);
    vlm_vk_free(vk);
    if (!run_device(fn, user, v)) return false;
    cache_write(v->cache_path, key, v);
    return true;
}

bool vlm_selftest_gate(struct vlm_vk * vk, bool may_run, char * msg, size_t msg_size) {
    const char * skip = getenv("VLM_VK_SKIP_SELFTEST");
    if (selftest_depth > 0 || (skip && *skip && strcmp(skip, "0") != 0)) return true;
    const char * name = vlm_vk_device_name(vk);
    struct vlm_selftest_verdict v;
    memset(&v, 0, sizeof v);
    char key[1024];
    cache_key(vk, key, sizeof key, v.cache_path, sizeof v.cache_path);
    if (!cache_read(v.cache_path, key, &v)) {
        if (!may_run) return true;   // never tested: trusted as asked for
        v.n_cases = v.n_failed = 0;
        v.bad_variants = 0;
        v.failure[0] = 0;
        v.cached = false;
        fprintf(stderr, "vlm: first use of Vulkan device %s: running its self-test (a few seconds, then cached%s%s)\n", name,
                v.cache_path[0] ? " in " : "", v.cache_path);
        if (!run_device(NULL, NULL, &v)) {
            snprintf(msg, msg_size, "%s", vlm_last_error());
            return false;
        }
        cache_write(v.cache_path, key, &v);
    }
    if (!v.device_ok) {
        snprintf(msg, msg_size, "Vulkan device %s failed its self-test (%s)", name, v.failure);
        return false;
    }
    if (v.bad_variants) {
        char list[256] = "";
        for (int i = 0; i < VLM_VK_VARIANT_COUNT; i++)
            if (v.bad_variants & (1u << i)) {
                vlm_vk_variant_enable(vk, (enum vlm_vk_variant) i, false);
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", list[0] ? ", " : "",
                         vlm_vk_variant_name((enum vlm_vk_variant) i));
            }
        fprintf(stderr, "vlm: Vulkan device %s gave wrong results in its self-test with %s (%s): disabled, the plain kernels run\n",
                name, list, v.failure);
    }
    return true;
}
