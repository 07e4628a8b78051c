// test-ops-vulkan.c — every op on the Vulkan backend against the CPU backend.
// Random inputs in [-1, 1) (plus large-magnitude rows and -inf masks for softmax/attention),
// aligned and odd shapes (1 row, primes, K not a multiple of the tile), strided and
// permuted views as inputs, and guard regions around outputs in the arena. Prints
// "op  shape  nmse  max_abs" per case. Runs twice: with push descriptors (when the device
// has them) and with descriptor pools (VLM_VK_DISABLE_PUSH_DESCRIPTOR=1).
// Skips (77) without a Vulkan device unless VLM_TEST_REQUIRE_VULKAN=1.
// Also times a 1024x1024x1024 matmul on Vulkan (printed, never asserted).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core.h"
#include "harness.h"

#define MAX_IN 6
#define GUARD_FLOATS 256
#define GUARD_PATTERN 0x5A5A5A5Au

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

static uint64_t rng = 0x1234567ULL;

static int64_t numel_of(int nd, const int64_t * s) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= s[i];
    return n;
}

// Fills an input with uniform [-1, 1) values (times amp), converted to its dtype.
static void input_init(struct input * in, enum vlm_dtype dt, int nd, const int64_t * shape, float amp) {
    memset(in, 0, sizeof *in);
    in->used = true;
    in->dtype = dt;
    in->nd = nd;
    for (int i = 0; i < 4; i++) in->shape[i] = i < nd ? shape[i] : 1;
    int64_t n = numel_of(nd, shape);
    if (vlm_dtype_is_block(dt)) {   // block dtypes: quantized from uniform values by the table
        float * f = malloc((size_t) n * sizeof(float));
        for (int64_t k = 0; k < n; k++) f[k] = test_rand(&rng) * amp;
        in->data = malloc(vlm_dtype_nbytes(dt, n) + 16);
        vlm_dtype_traits(dt)->from_f32(f, in->data, n);
        free(f);
        return;
    }
    in->data = malloc((size_t) n * vlm_dtype_size(dt) + 16);
    for (int64_t k = 0; k < n; k++) {
        float v = test_rand(&rng) * amp;
        switch (dt) {
        case VLM_DTYPE_F32: ((float *) in->data)[k] = v; break;
        case VLM_DTYPE_F16: ((uint16_t *) in->data)[k] = vlm_f32_to_f16(v); break;
        case VLM_DTYPE_BF16: ((uint16_t *) in->data)[k] = vlm_f32_to_bf16(v); break;
        case VLM_DTYPE_I32: ((int32_t *) in->data)[k] = (int32_t) ((test_rand(&rng) + 1.0f) * 1000.0f) - 700; break;
        case VLM_DTYPE_U8: ((uint8_t *) in->data)[k] = (uint8_t) ((test_rand(&rng) + 1.0f) * 127.9f); break;
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
    size_t mark = vlm_arena_mark(x);
    struct vlm_tensor in[MAX_IN];
    memset(in, 0, sizeof in);
    for (int k = 0; k < MAX_IN; k++)
        if (c->in[k].used) in[k] = input_make(x, &c->in[k]);
    // guard before the output, and a patterned region where the output will land
    int64_t gshape[1] = { GUARD_FLOATS };
    uint32_t * pat = malloc(sizeof(uint32_t) * (GUARD_FLOATS + 65536));
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
    case VLM_OP_CONV_TRANSPOSE2D: out = vlm_op_conv_transpose2d(x, in[0], in[1], opt2, c->i[0]); break;
    case VLM_OP_CONV2D_DW: out = vlm_op_conv2d_dw(x, in[0], in[1], opt2, c->i[0], c->i[1]); break;
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

static int n_cases_run;

static void run_case(struct vlm_ctx * cpu, struct vlm_ctx * vk, const struct tcase * c) {
    int64_t n_cpu = 0, n_vk = 0;
    char s_cpu[128] = "?", s_vk[128] = "?";
    bool g_cpu = true, g_vk = true;
    float * a = run_on(cpu, c, &n_cpu, s_cpu, sizeof s_cpu, &g_cpu);
    CHECK(a != NULL, "%s: cpu failed: %s", c->name, cpu->error);
    float * b = run_on(vk, c, &n_vk, s_vk, sizeof s_vk, &g_vk);
    CHECK(b != NULL, "%s: vulkan failed: %s", c->name, vk->error);
    n_cases_run++;
    if (a && b) {
        CHECK(n_cpu == n_vk && strcmp(s_cpu, s_vk) == 0, "%s: shapes differ: %s vs %s", c->name, s_cpu, s_vk);
        if (n_cpu == n_vk) {
            // infinities must match in sign and position; compare the finite rest
            bool inf_ok = true;
            for (int64_t k = 0; k < n_cpu; k++)
                if (isinf(a[k]) || isinf(b[k])) {
                    if (a[k] != b[k]) inf_ok = false;
                    a[k] = b[k] = 0;
                }
            double nmse = test_nmse(b, a, (size_t) n_cpu), mx = test_max_abs(b, a, (size_t) n_cpu);
            printf("%-28s %-22s nmse %.3e  max_abs %.3e%s\n", c->name, s_vk, nmse, mx, nmse <= c->tol && inf_ok ? "" : "  <-- FAIL");
            CHECK(nmse <= c->tol && inf_ok, "%s %s: nmse %.3e > %.1e (max_abs %.3e)", c->name, s_vk, nmse, c->tol, mx);
        }
        CHECK(g_vk, "%s: vulkan wrote outside its output (guard region changed)", c->name);
        CHECK(g_cpu, "%s: cpu wrote outside its output (guard region changed)", c->name);
    }
    // recover a failed context so later cases still run
    if (!vlm_ctx_ok(vk)) { vk->status = VLM_STATUS_OK; vk->error[0] = 0; }
    if (!vlm_ctx_ok(cpu)) { cpu->status = VLM_STATUS_OK; cpu->error[0] = 0; }
    free(a);
    free(b);
}

static void case_free(struct tcase * c) {
    for (int k = 0; k < MAX_IN; k++) free(c->in[k].data);
    memset(c, 0, sizeof *c);
}

#define S(...) ((const int64_t[]) { __VA_ARGS__ })
#define ND(...) (int) (sizeof((const int64_t[]) { __VA_ARGS__ }) / sizeof(int64_t))
#define IN(c, k, dt, amp, ...) input_init(&(c).in[k], dt, ND(__VA_ARGS__), S(__VA_ARGS__), amp)

static const double TOL_EXACT = 1e-12, TOL_ELEM = 1e-7, TOL_GEMM = 1e-6;

static void cases_linear(struct vlm_ctx * cpu, struct vlm_ctx * vk) {
    struct { int64_t M, K, N; enum vlm_dtype wdt; bool bias; } L[] = {
        { 1, 7, 5, VLM_DTYPE_F32, false }, { 64, 128, 96, VLM_DTYPE_F32, true }, { 37, 129, 61, VLM_DTYPE_F32, true },
        { 1, 768, 2304, VLM_DTYPE_F16, true }, { 17, 33, 100, VLM_DTYPE_BF16, true }, { 200, 64, 3, VLM_DTYPE_F16, false },
        { 130, 96, 130, VLM_DTYPE_F32, true },
    };
    for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) {
        struct tcase c = { .name = "linear", .op = VLM_OP_LINEAR, .tol = L[i].wdt == VLM_DTYPE_F32 ? TOL_GEMM : 2e-6 };
        if (L[i].wdt != VLM_DTYPE_F32) c.name = L[i].wdt == VLM_DTYPE_F16 ? "linear(w f16)" : "linear(w bf16)";
        IN(c, 0, VLM_DTYPE_F32, 1.0f, L[i].M, L[i].K);
        IN(c, 1, L[i].wdt, 0.2f, L[i].N, L[i].K);
        if (L[i].bias) IN(c, 2, VLM_DTYPE_F32, 1.0f, L[i].N);
        run_case(cpu, vk, &c);
        case_free(&c);
    }
    // leading dims that do not merge: a slice along dim 1 of [2, 9, 13, 24]
    struct tcase c = { .name = "linear(slice view)", .op = VLM_OP_LINEAR, .tol = TOL_GEMM };
    IN(c, 0, VLM_DTYPE_F32, 1.0f, 2, 9, 13, 24);
    input_slice(&c.in[0], 1, 2, 5);
    IN(c, 1, VLM_DTYPE_F32, 0.3f, 19, 24);
    IN(c, 2, VLM_DTYPE_BF16, 1.0f, 19);
    run_case(cpu, vk, &c);
    case_free(&c);
    // permuted leading dims [3, 4, 5, K] -> [4, 3, 5, K]
    struct tcase d = { .name = "linear(perm view)", .op = VLM_OP_LINEAR, .tol = TOL_GEMM };
    IN(d, 0, VLM_DTYPE_F32, 1.0f, 3, 4, 5, 40);
    input_perm(&d.in[0], 1, 0, 2, 3);
    IN(d, 1, VLM_DTYPE_F32, 0.3f, 23, 40);
    run_case(cpu, vk, &d);
    case_free(&d);
}

static void cases_matmul(struct vlm_ctx * cpu, struct vlm_ctx * vk) {
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
        run_case(cpu, vk, &c);
        case_free(&c);
    }
    // 2-D with a permuted a (k-major)
    struct tcase c = { .name = "matmul(2d, a^T)", .op = VLM_OP_MATMUL, .tol = TOL_GEMM };
    IN(c, 0, VLM_DTYPE_F32, 1.0f, 45, 31);
    input_perm(&c.in[0], 1, 0, 2, 3);
    IN(c, 1, VLM_DTYPE_F32, 1.0f, 45, 70);
    run_case(cpu, vk, &c);
    case_free(&c);
}

static void cases_elementwise(struct vlm_ctx * cpu, struct vlm_ctx * vk) {
    static const char * bin_names[] = { "add", "sub", "mul", "div" };
    for (int op = 0; op < VLM_BINARY_COUNT; op++) {
        struct tcase c = { .name = bin_names[op], .op = VLM_OP_BINARY, .i = { op }, .tol = TOL_ELEM };
        IN(c, 0, VLM_DTYPE_F32, 1.0f, 2, 3, 5, 7);
        IN(c, 1, VLM_DTYPE_F32, 1.0f, 3, 1, 7);
        if (op == VLM_BINARY_DIV) for (int k = 0; k < 21; k++) ((float *) c.in[1].data)[k] += 2.0f;
        run_case(cpu, vk, &c);
        case_free(&c);
    }
    struct tcase c = { .name = "add(perm + row)", .op = VLM_OP_BINARY, .i = { VLM_BINARY_ADD }, .tol = TOL_ELEM };
    IN(c, 0, VLM_DTYPE_F32, 1.0f, 13, 11, 7, 5);
    input_perm(&c.in[0], 3, 2, 1, 0);
    IN(c, 1, VLM_DTYPE_F32, 1.0f, 13);
    run_case(cpu, vk, &c);
    case_free(&c);

    struct tcase s = { .name = "scale", .op = VLM_OP_SCALE, .f = { 0.37f, -1.5f }, .tol = TOL_ELEM };
    IN(s, 0, VLM_DTYPE_F32, 3.0f, 3, 1001);
    input_slice(&s.in[0], 1, 1, 999);
    run_case(cpu, vk, &s);
    case_free(&s);

    // more than 65535 * 256 elements: the 1-D grid folds over x and y
    // (a strided view, so that the scalar path runs; contiguous inputs take 4 per invocation)
    struct tcase big = { .name = "relu(17M, slice)", .op = VLM_OP_UNARY, .i = { VLM_UNARY_RELU }, .tol = TOL_ELEM };
    IN(big, 0, VLM_DTYPE_F32, 1.0f, 2, 8500003);
    input_slice(&big.in[0], 1, 1, 8500002);
    run_case(cpu, vk, &big);
    case_free(&big);
    struct tcase con = { .name = "gelu_erf(contiguous)", .op = VLM_OP_UNARY, .i = { VLM_UNARY_GELU_ERF }, .tol = TOL_ELEM };
    IN(con, 0, VLM_DTYPE_F32, 5.0f, 7, 1001);
    run_case(cpu, vk, &con);
    case_free(&con);

    static const char * un_names[] = { "gelu_erf", "gelu_tanh", "quick_gelu", "relu", "silu", "sigmoid" };
    for (int op = 0; op < VLM_UNARY_COUNT; op++) {
        struct tcase u = { .name = un_names[op], .op = VLM_OP_UNARY, .i = { op }, .tol = TOL_ELEM };
        IN(u, 0, VLM_DTYPE_F32, 6.0f, 5, 7, 11, 13);
        input_perm(&u.in[0], 0, 2, 1, 3);
        run_case(cpu, vk, &u);
        case_free(&u);
    }
}

static void cases_norm(struct vlm_ctx * cpu, struct vlm_ctx * vk) {
    struct tcase c = { .name = "layer_norm", .op = VLM_OP_LAYER_NORM, .f = { 1e-6f }, .tol = TOL_ELEM };
    IN(c, 0, VLM_DTYPE_F32, 2.0f, 1, 768);
    IN(c, 1, VLM_DTYPE_F32, 1.0f, 768);
    IN(c, 2, VLM_DTYPE_F32, 1.0f, 768);
    for (int k = 0; k < 768; k++) ((float *) c.in[0].data)[k] += 3.0f;   // non-zero mean
    run_case(cpu, vk, &c);
    case_free(&c);

    struct tcase d = { .name = "layer_norm(perm, f16 w)", .op = VLM_OP_LAYER_NORM, .f = { 1e-5f }, .tol = TOL_ELEM };
    IN(d, 0, VLM_DTYPE_F32, 1.0f, 5, 13, 11, 7);
    input_perm(&d.in[0], 0, 3, 2, 1);
    IN(d, 1, VLM_DTYPE_F16, 1.0f, 13);
    IN(d, 2, VLM_DTYPE_BF16, 1.0f, 13);
    run_case(cpu, vk, &d);
    case_free(&d);

    struct tcase e = { .name = "layer_norm(no affine)", .op = VLM_OP_LAYER_NORM, .f = { 1e-5f }, .tol = TOL_ELEM };
    IN(e, 0, VLM_DTYPE_F32, 1.0f, 3, 1031);
    run_case(cpu, vk, &e);
    case_free(&e);

    struct tcase r = { .name = "rms_norm", .op = VLM_OP_RMS_NORM, .f = { 1e-6f }, .tol = TOL_ELEM };
    IN(r, 0, VLM_DTYPE_F32, 1.0f, 2, 9, 576);
    IN(r, 1, VLM_DTYPE_F32, 1.0f, 576);
    run_case(cpu, vk, &r);
    case_free(&r);

    struct tcase r2 = { .name = "rms_norm(slice, no w)", .op = VLM_OP_RMS_NORM, .f = { 1e-5f }, .tol = TOL_ELEM };
    IN(r2, 0, VLM_DTYPE_F32, 1.0f, 7, 37);
    input_slice(&r2.in[0], 1, 3, 31);
    run_case(cpu, vk, &r2);
    case_free(&r2);

    // more than 65535 rows: the grid folds over x and y
    struct tcase big = { .name = "layer_norm(70000 rows)", .op = VLM_OP_LAYER_NORM, .f = { 1e-5f }, .tol = TOL_ELEM };
    IN(big, 0, VLM_DTYPE_F32, 1.0f, 70000, 3);
    run_case(cpu, vk, &big);
    case_free(&big);

    struct tcase l = { .name = "layer_norm_2d", .op = VLM_OP_LAYER_NORM_2D, .f = { 1e-6f }, .tol = TOL_ELEM };
    IN(l, 0, VLM_DTYPE_F32, 1.0f, 2, 32, 9, 11);
    IN(l, 1, VLM_DTYPE_F32, 1.0f, 32);
    IN(l, 2, VLM_DTYPE_F32, 1.0f, 32);
    run_case(cpu, vk, &l);
    case_free(&l);

    struct tcase l2 = { .name = "layer_norm_2d(chan-last)", .op = VLM_OP_LAYER_NORM_2D, .f = { 1e-6f }, .tol = TOL_ELEM };
    IN(l2, 0, VLM_DTYPE_F32, 1.0f, 1, 8, 6, 17);   // [B, H, W, C] permuted to [B, C, H, W]
    input_perm(&l2.in[0], 0, 3, 1, 2);
    IN(l2, 1, VLM_DTYPE_F16, 1.0f, 17);
    IN(l2, 2, VLM_DTYPE_F32, 1.0f, 17);
    run_case(cpu, vk, &l2);
    case_free(&l2);
}

static void cases_softmax(struct vlm_ctx * cpu, struct vlm_ctx * vk) {
    struct tcase c = { .name = "softmax", .op = VLM_OP_SOFTMAX, .f = { 1.0f }, .tol = TOL_ELEM };
    IN(c, 0, VLM_DTYPE_F32, 1.0f, 3, 1000);
    run_case(cpu, vk, &c);
    case_free(&c);

    struct tcase d = { .name = "softmax(scale, mask -inf)", .op = VLM_OP_SOFTMAX, .f = { 0.125f }, .tol = TOL_ELEM };
    IN(d, 0, VLM_DTYPE_F32, 80.0f, 2, 3, 17, 29);   // large magnitudes
    IN(d, 1, VLM_DTYPE_F32, 1.0f, 17, 29);
    float * m = d.in[1].data;
    for (int i = 0; i < 17; i++)
        for (int j = 0; j < 29; j++) if (j > i + 5) m[i * 29 + j] = -INFINITY;
    for (int j = 0; j < 29; j++) m[3 * 29 + j] = -INFINITY;   // one fully masked row -> zeros
    run_case(cpu, vk, &d);
    case_free(&d);

    struct tcase big = { .name = "softmax(66000 rows)", .op = VLM_OP_SOFTMAX, .f = { 1.0f }, .tol = TOL_ELEM };
    IN(big, 0, VLM_DTYPE_F32, 1.0f, 66000, 5);
    run_case(cpu, vk, &big);
    case_free(&big);

    struct tcase e = { .name = "softmax(perm)", .op = VLM_OP_SOFTMAX, .f = { 2.0f }, .tol = TOL_ELEM };
    IN(e, 0, VLM_DTYPE_F32, 1.0f, 1, 31, 7, 5);
    input_perm(&e.in[0], 0, 3, 2, 1);
    run_case(cpu, vk, &e);
    case_free(&e);
}

static void cases_attention(struct vlm_ctx * cpu, struct vlm_ctx * vk) {
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
        run_case(cpu, vk, &c);
        case_free(&c);
    }
}

static void cases_conv(struct vlm_ctx * cpu, struct vlm_ctx * vk) {
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
        run_case(cpu, vk, &c);
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
        run_case(cpu, vk, &c);
        case_free(&c);
    }
    struct tcase t = { .name = "conv_transpose2d", .op = VLM_OP_CONV_TRANSPOSE2D, .i = { 2 }, .tol = TOL_GEMM };
    IN(t, 0, VLM_DTYPE_F32, 1.0f, 1, 16, 8, 7);
    IN(t, 1, VLM_DTYPE_F32, 0.3f, 16, 8, 2, 2);
    IN(t, 2, VLM_DTYPE_F32, 1.0f, 8);
    run_case(cpu, vk, &t);
    case_free(&t);
    struct tcase t2 = { .name = "conv_transpose2d(perm,f16)", .op = VLM_OP_CONV_TRANSPOSE2D, .i = { 4 }, .tol = TOL_GEMM };
    IN(t2, 0, VLM_DTYPE_F32, 1.0f, 2, 5, 6, 12);
    input_perm(&t2.in[0], 0, 3, 1, 2);
    IN(t2, 1, VLM_DTYPE_F16, 0.3f, 12, 3, 4, 4);
    run_case(cpu, vk, &t2);
    case_free(&t2);
}

static void cases_resample(struct vlm_ctx * cpu, struct vlm_ctx * vk) {
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
        run_case(cpu, vk, &c);
        case_free(&c);
    }
}

static void cases_data(struct vlm_ctx * cpu, struct vlm_ctx * vk) {
    struct { enum vlm_dtype from, to; int into; const char * name; } L[] = {
        { VLM_DTYPE_F32, VLM_DTYPE_F32, 0, "copy(perm f32)" }, { VLM_DTYPE_F32, VLM_DTYPE_F16, 0, "copy(f32->f16)" },
        { VLM_DTYPE_F32, VLM_DTYPE_BF16, 0, "copy(f32->bf16)" }, { VLM_DTYPE_F16, VLM_DTYPE_F32, 0, "copy(f16->f32)" },
        { VLM_DTYPE_BF16, VLM_DTYPE_F32, 0, "copy(bf16->f32)" }, { VLM_DTYPE_I32, VLM_DTYPE_I32, 0, "copy(i32)" },
        { VLM_DTYPE_U8, VLM_DTYPE_F32, 0, "copy(u8->f32)" }, { VLM_DTYPE_I32, VLM_DTYPE_F32, 0, "copy(i32->f32)" },
        { VLM_DTYPE_F32, VLM_DTYPE_F16, 1, "copy_into(f16 strided)" }, { VLM_DTYPE_F32, VLM_DTYPE_F32, 1, "copy_into(f32 strided)" },
        { VLM_DTYPE_U8, VLM_DTYPE_U8, 0, "copy(u8)" },
    };
    for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) {
        struct tcase c = { .name = L[i].name, .op = VLM_OP_COPY, .i = { L[i].to, L[i].into }, .tol = TOL_EXACT };
        IN(c, 0, L[i].from, 3.0f, 3, 5, 7, 9);
        input_perm(&c.in[0], 2, 0, 3, 1);
        run_case(cpu, vk, &c);
        case_free(&c);
    }
    for (int dim = 0; dim < 3; dim++) {
        struct tcase c = { .name = "concat", .op = VLM_OP_CONCAT, .i = { dim }, .tol = TOL_EXACT };
        int64_t sa[3] = { 3, 5, 7 }, sb[3] = { 3, 5, 7 };
        sb[dim] = 4;
        input_init(&c.in[0], VLM_DTYPE_F32, 3, sa, 1.0f);
        input_init(&c.in[1], VLM_DTYPE_F32, 3, sb, 1.0f);
        if (dim == 2) input_perm(&c.in[1], 0, 1, 2, 3);
        run_case(cpu, vk, &c);
        case_free(&c);
    }
    struct tcase cc = { .name = "concat(f16, view)", .op = VLM_OP_CONCAT, .i = { 1 }, .tol = TOL_EXACT };
    IN(cc, 0, VLM_DTYPE_F16, 1.0f, 2, 3, 5);
    IN(cc, 1, VLM_DTYPE_F16, 1.0f, 2, 5, 3);
    input_perm(&cc.in[1], 0, 2, 1, 3);
    run_case(cpu, vk, &cc);
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
        run_case(cpu, vk, &g);
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
            run_case(cpu, vk, &r);
            case_free(&r);
        }
}

// Quantized weights: the CPU rounds activations to Q8_0 (Q8_0 / Q4_0 weights) or Q8_K (Q4_K),
// Vulkan multiplies them in F32, so linear differs by the activation rounding: NMSE 2e-4 and
// 4e-4 (as test-ops-quant.c's bounds against F32 activations). Gather and copy: the same
// dequantization on both sides up to float contraction, 1e-12.
static void cases_quant(struct vlm_ctx * cpu, struct vlm_ctx * vk) {
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
            run_case(cpu, vk, &c);
            case_free(&c);
        }
        // 3-D input with a sliced (non-mergeable) leading dim
        struct tcase c = { .name = names[t][0], .op = VLM_OP_LINEAR, .tol = W[t] == VLM_DTYPE_Q4_K ? 4e-4 : 2e-4 };
        IN(c, 0, VLM_DTYPE_F32, 1.0f, 3, 9, blk);
        input_slice(&c.in[0], 1, 2, 6);
        IN(c, 1, W[t], 0.2f, 45, blk);
        run_case(cpu, vk, &c);
        case_free(&c);

        struct tcase g = { .name = names[t][1], .op = VLM_OP_GATHER, .tol = TOL_EXACT };
        IN(g, 0, W[t], 1.0f, 29, 2 * blk);
        IN(g, 1, VLM_DTYPE_I32, 1.0f, 2, 5);
        int32_t * ids = g.in[1].data;
        for (int k = 0; k < 10; k++) ids[k] = (int32_t) ((k * 11 + t) % 29);
        run_case(cpu, vk, &g);
        case_free(&g);

        for (int view = 0; view < 2; view++) {   // whole tensor, then rows 4..11
            struct tcase cp = { .name = names[t][2], .op = VLM_OP_COPY, .i = { VLM_DTYPE_F32, view }, .tol = TOL_EXACT };
            IN(cp, 0, W[t], 2.0f, 13, 3 * blk);
            if (view) input_slice(&cp.in[0], 0, 4, 8);
            run_case(cpu, vk, &cp);
            case_free(&cp);
        }
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
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

static void run_all(struct vlm_ctx * cpu, struct vlm_ctx * vk, const char * filter) {
    struct { const char * name; void (*fn)(struct vlm_ctx *, struct vlm_ctx *); } groups[] = {
        { "linear", cases_linear }, { "matmul", cases_matmul }, { "elementwise", cases_elementwise }, { "norm", cases_norm },
        { "softmax", cases_softmax }, { "attention", cases_attention }, { "conv", cases_conv },
        { "resample", cases_resample }, { "data", cases_data }, { "quant", cases_quant },
    };
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
        if (!filter || strstr(filter, groups[g].name)) groups[g].fn(cpu, vk);
}

int main(int argc, char ** argv) {
    // usage: test-ops-vulkan [-o group,group] (groups: linear matmul elementwise norm softmax
    //        attention conv resample data quant bench)
    const char * filter = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "-o") == 0) filter = argv[i + 1];
    char err[512] = "";
    if (!test_want_backend("vulkan")) SKIP("vulkan is not in VLM_TEST_BACKENDS");
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
    printf("%-28s %-22s %s\n", "op", "shape", "nmse / max_abs");
    run_all(cpu, vk, filter);
    if (!filter || strstr(filter, "bench")) bench_matmul(vk);
    check_binding_limit(vk);
    vlm_ctx_free(vk);

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
