// vk-ops.c — records each op of enum vlm_op_type as Vulkan dispatches (shaders/*.comp).
// One push-constant struct per shader, mirrored field for field in the GLSL `p` block;
// sizes and strides in elements; views bound by byte range with a residual element offset.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vk-internal.h"

#define PC_CHECK(T) _Static_assert(sizeof(T) <= VLM_VK_PUSH_BYTES, #T " must fit 128 bytes of push constants")

// A tensor as a 4-D view: shapes left-padded with 1, strides with 0.
struct view4 {
    uint32_t ne[4];
    uint32_t st[4];
};

static bool fits_u32(struct vlm_ctx * x, int64_t v, const char * what) {
    if (v < 0 || v > (int64_t) UINT32_MAX) {
        vlm_ctx_fail(x, VLM_STATUS_UNSUPPORTED, "vk-ops.c: %s %lld exceeds 32 bits", what, (long long) v);
        return false;
    }
    return true;
}

static bool view4_of(struct vlm_ctx * x, const struct vlm_tensor * t, struct view4 * v) {
    int off = 4 - t->n_dims;
    for (int i = 0; i < 4; i++) {
        int j = i - off;
        int64_t ne = j >= 0 ? t->shape[j] : 1, st = j >= 0 ? t->stride[j] : 0;
        if (ne == 1) st = 0;
        if (!fits_u32(x, ne, "dimension") || !fits_u32(x, st, "stride")) return false;
        v->ne[i] = (uint32_t) ne;
        v->st[i] = (uint32_t) st;
    }
    return true;
}

static bool present(const struct vlm_tensor * t) { return t->n_dims > 0; }

static uint32_t dt(const struct vlm_tensor * t) { return (uint32_t) t->dtype; }

static uint64_t groups_of(uint64_t n, uint32_t per) { return (n + per - 1) / per; }

// Records an elementwise-style dispatch with ceil(n / 256) workgroups folded over x/y.
static void dispatch_1d(struct vlm_ctx * x, const char * shader, const struct vlm_vk_bind * b, uint32_t nb, uint32_t wmask,
                        const void * pc, uint32_t pc_size, uint64_t n, double flops) {
    uint32_t gx, gy;
    vlm_vk_grid_1d(groups_of(n, 256), &gx, &gy);
    vlm_vk_dispatch(x, shader, NULL, 0, b, nb, wmask, pc, pc_size, gx, gy, 1, flops);
}

static bool numel_u32(struct vlm_ctx * x, const struct vlm_tensor * t, uint32_t * n) {
    int64_t v = vlm_tensor_numel(t);
    if (!fits_u32(x, v, "element count")) return false;
    *n = (uint32_t) v;
    return true;
}

// ---- copy ------------------------------------------------------------------------------

struct pc_copy {
    uint32_t ne[4], sa[4], sd[4];
    uint32_t a_off, d_off, a_dt, d_dt, n;
    uint32_t a_row, a_row_bytes;   // block-dtype sources (contiguous): values and bytes per row
};
PC_CHECK(struct pc_copy);

// dst[...] = convert(src[...]) for two views of the same shape.
static void record_copy(struct vlm_ctx * x, const struct vlm_tensor * src, const struct vlm_tensor * dst) {
    struct vlm_vk_bind b[2];
    struct pc_copy pc;
    struct view4 va, vd;
    memset(&pc, 0, sizeof pc);
    if (!view4_of(x, src, &va) || !view4_of(x, dst, &vd) || !numel_u32(x, dst, &pc.n)) return;
    if (!vlm_vk_bind_tensor(x, src, &b[0], &pc.a_off) || !vlm_vk_bind_tensor(x, dst, &b[1], &pc.d_off)) return;
    for (int i = 0; i < 4; i++) { pc.ne[i] = vd.ne[i]; pc.sa[i] = va.st[i]; pc.sd[i] = vd.st[i]; }
    pc.a_dt = dt(src);
    pc.d_dt = dt(dst);
    if (vlm_dtype_is_block(src->dtype)) {
        int64_t row = src->shape[src->n_dims - 1];
        pc.a_row = (uint32_t) row;
        pc.a_row_bytes = (uint32_t) vlm_dtype_nbytes(src->dtype, row);
    }
    dispatch_1d(x, "copy", b, 2, 1u << 1, &pc, sizeof pc, pc.n, 0);
}

static void op_concat(struct vlm_ctx * x, const struct vlm_op * op) {
    int dim = op->i[0];
    const struct vlm_tensor * a = &op->src[0], * c = &op->src[1];
    struct vlm_tensor da = vlm_tensor_slice(op->dst, dim, 0, a->shape[dim]);
    struct vlm_tensor db = vlm_tensor_slice(op->dst, dim, a->shape[dim], c->shape[dim]);
    if (vlm_tensor_numel(a) > 0) record_copy(x, a, &da);
    if (vlm_tensor_numel(c) > 0) record_copy(x, c, &db);
}

// ---- elementwise -----------------------------------------------------------------------

struct pc_binary {
    uint32_t ne[4], sa[4], sb[4];
    uint32_t a_off, b_off, d_off, op, n;
};
PC_CHECK(struct pc_binary);

static void op_binary(struct vlm_ctx * x, const struct vlm_op * op) {
    struct vlm_vk_bind b[3];
    struct pc_binary pc;
    struct view4 va, vb, vd;
    memset(&pc, 0, sizeof pc);
    if (!view4_of(x, &op->src[0], &va) || !view4_of(x, &op->src[1], &vb) || !view4_of(x, &op->dst, &vd) ||
        !numel_u32(x, &op->dst, &pc.n))
        return;
    if (!vlm_vk_bind_tensor(x, &op->src[0], &b[0], &pc.a_off) || !vlm_vk_bind_tensor(x, &op->src[1], &b[1], &pc.b_off) ||
        !vlm_vk_bind_tensor(x, &op->dst, &b[2], &pc.d_off))
        return;
    for (int i = 0; i < 4; i++) { pc.ne[i] = vd.ne[i]; pc.sa[i] = va.st[i]; pc.sb[i] = vb.st[i]; }
    pc.op = (uint32_t) op->i[0];
    dispatch_1d(x, "binary", b, 3, 1u << 2, &pc, sizeof pc, pc.n, pc.n);
}

struct pc_unary {
    uint32_t ne[4], sa[4];
    uint32_t a_off, d_off, op, n;
    float    scale, bias;
    uint32_t vec4_path;
};
PC_CHECK(struct pc_unary);

static void op_unary(struct vlm_ctx * x, const struct vlm_op * op, bool scale) {
    struct vlm_vk_bind b[2];
    struct pc_unary pc;
    struct view4 va;
    memset(&pc, 0, sizeof pc);
    if (!view4_of(x, &op->src[0], &va) || !numel_u32(x, &op->dst, &pc.n)) return;
    if (!vlm_vk_bind_tensor(x, &op->src[0], &b[0], &pc.a_off) || !vlm_vk_bind_tensor(x, &op->dst, &b[1], &pc.d_off)) return;
    for (int i = 0; i < 4; i++) { pc.ne[i] = va.ne[i]; pc.sa[i] = va.st[i]; }
    pc.op = scale ? 100u : (uint32_t) op->i[0];
    pc.scale = op->f[0];
    pc.bias = op->f[1];
    // contiguous and 16-byte aligned: one vec4 per invocation (4x fewer memory operations)
    pc.vec4_path = vlm_tensor_is_contiguous(&op->src[0]) && (b[0].off + 4ull * pc.a_off) % 16 == 0 &&
                   (b[1].off + 4ull * pc.d_off) % 16 == 0 && b[0].off % 16 == 0 && b[1].off % 16 == 0 &&
                   vlm_vk_take_variant(x, VLM_VK_VARIANT_UNARY_VEC4);
    dispatch_1d(x, "unary", b, 2, 1u << 1, &pc, sizeof pc, pc.vec4_path ? (pc.n + 3) / 4 : pc.n, pc.n);
}

// ---- normalization ---------------------------------------------------------------------

struct pc_norm {
    uint32_t ncols, ne1, ne2, nrows;
    uint32_t sa[4];
    uint32_t a_off, d_off, w_off, b_off;
    uint32_t w_dt, b_dt, has_w, has_b;
    float    eps;
};
PC_CHECK(struct pc_norm);

static uint32_t wg_for_cols(uint32_t ncols) {
    uint32_t wg = 32;
    while (wg < 256 && wg < ncols) wg *= 2;
    return wg;
}

static void op_norm(struct vlm_ctx * x, const struct vlm_op * op, bool rms) {
    struct vlm_vk_bind b[4];
    memset(b, 0, sizeof b);
    struct pc_norm pc;
    struct view4 va;
    memset(&pc, 0, sizeof pc);
    if (!view4_of(x, &op->src[0], &va)) return;
    if (!vlm_vk_bind_tensor(x, &op->src[0], &b[0], &pc.a_off) || !vlm_vk_bind_tensor(x, &op->dst, &b[3], &pc.d_off)) return;
    if (present(&op->src[1])) {
        if (!vlm_vk_bind_tensor(x, &op->src[1], &b[1], &pc.w_off)) return;
        pc.has_w = 1;
        pc.w_dt = dt(&op->src[1]);
    }
    if (!rms && present(&op->src[2])) {
        if (!vlm_vk_bind_tensor(x, &op->src[2], &b[2], &pc.b_off)) return;
        pc.has_b = 1;
        pc.b_dt = dt(&op->src[2]);
    }
    if (present(&op->src[1]) && op->src[1].stride[0] != 1 && op->src[1].shape[0] > 1) {
        vlm_ctx_fail(x, VLM_STATUS_UNSUPPORTED, "vk-ops.c: norm weight must be contiguous");
        return;
    }
    pc.ncols = va.ne[3];
    pc.ne1 = va.ne[1];
    pc.ne2 = va.ne[2];
    pc.nrows = va.ne[0] * va.ne[1] * va.ne[2];
    for (int i = 0; i < 4; i++) pc.sa[i] = va.st[i];
    pc.eps = op->f[0];
    uint32_t spec[2] = { wg_for_cols(pc.ncols), rms ? 1u : 0u };
    uint32_t gx, gy;
    vlm_vk_grid_1d(pc.nrows, &gx, &gy);
    vlm_vk_dispatch(x, "norm", spec, 2, b, 4, 1u << 3, &pc, sizeof pc, gx, gy, 1, 5.0 * pc.nrows * pc.ncols);
}

struct pc_ln2d {
    uint32_t C, H, W, n;
    uint32_t s[4];
    uint32_t a_off, w_off, b_off, w_dt, b_dt, d_off;
    float    eps;
};
PC_CHECK(struct pc_ln2d);

static void op_layer_norm_2d(struct vlm_ctx * x, const struct vlm_op * op) {
    struct vlm_vk_bind b[4];
    struct pc_ln2d pc;
    struct view4 va;
    memset(&pc, 0, sizeof pc);
    if (!view4_of(x, &op->src[0], &va)) return;
    if (!vlm_vk_bind_tensor(x, &op->src[0], &b[0], &pc.a_off) || !vlm_vk_bind_tensor(x, &op->src[1], &b[1], &pc.w_off) ||
        !vlm_vk_bind_tensor(x, &op->src[2], &b[2], &pc.b_off) || !vlm_vk_bind_tensor(x, &op->dst, &b[3], &pc.d_off))
        return;
    pc.C = va.ne[1];
    pc.H = va.ne[2];
    pc.W = va.ne[3];
    pc.n = va.ne[0] * va.ne[2] * va.ne[3];
    for (int i = 0; i < 4; i++) pc.s[i] = va.st[i];
    pc.w_dt = dt(&op->src[1]);
    pc.b_dt = dt(&op->src[2]);
    pc.eps = op->f[0];
    dispatch_1d(x, "layer-norm-2d", b, 4, 1u << 3, &pc, sizeof pc, pc.n, 6.0 * pc.n * pc.C);
}

struct pc_softmax {
    uint32_t ncols, ne1, ne2, nrows;
    uint32_t sa[4], sm[4];
    uint32_t a_off, m_off, d_off, has_mask;
    float    scale;
};
PC_CHECK(struct pc_softmax);

static void op_softmax(struct vlm_ctx * x, const struct vlm_op * op) {
    struct vlm_vk_bind b[3];
    memset(b, 0, sizeof b);
    struct pc_softmax pc;
    struct view4 va, vm;
    memset(&pc, 0, sizeof pc);
    memset(&vm, 0, sizeof vm);
    if (!view4_of(x, &op->src[0], &va)) return;
    if (!vlm_vk_bind_tensor(x, &op->src[0], &b[0], &pc.a_off) || !vlm_vk_bind_tensor(x, &op->dst, &b[2], &pc.d_off)) return;
    if (present(&op->src[1])) {
        if (!view4_of(x, &op->src[1], &vm) || !vlm_vk_bind_tensor(x, &op->src[1], &b[1], &pc.m_off)) return;
        pc.has_mask = 1;
    }
    pc.ncols = va.ne[3];
    pc.ne1 = va.ne[1];
    pc.ne2 = va.ne[2];
    pc.nrows = va.ne[0] * va.ne[1] * va.ne[2];
    for (int i = 0; i < 4; i++) { pc.sa[i] = va.st[i]; pc.sm[i] = vm.st[i]; }
    pc.scale = op->f[0];
    uint32_t spec[1] = { wg_for_cols(pc.ncols) };
    uint32_t gx, gy;
    vlm_vk_grid_1d(pc.nrows, &gx, &gy);
    vlm_vk_dispatch(x, "softmax", spec, 1, b, 3, 1u << 2, &pc, sizeof pc, gx, gy, 1, 5.0 * pc.nrows * pc.ncols);
}

// ---- matrix products -------------------------------------------------------------------

struct pc_matmul {
    uint32_t M, N, K, a_kcontig, b_ncontig;
    uint32_t a_off, a_sb, a_sm0, a_sm1, a_m1, a_sk;
    uint32_t b_off, b_sb, b_sk, b_sn;
    uint32_t c_off, d_off, d_sm;
};
PC_CHECK(struct pc_matmul);

// Tile configuration (spec constants 0..5): BM, BN, BK and vec4s per thread along M and N.
// 8 x 8 outputs per thread on big tiles (few shared-memory loads per multiply-add, which
// also suits lavapipe, where every non-uniform load is a per-lane loop); smaller tiles so
// that few rows or columns still fill the device.
static void gemm_tiles(bool cpu_device, uint32_t M, uint32_t N, uint32_t spec[VLM_VK_MAX_SPEC]) {
    memset(spec, 0, VLM_VK_MAX_SPEC * sizeof *spec);
    if (M <= 16) {                   // e.g. one token: 16 x 64, 4 x 8 per thread
        spec[1] = 16; spec[2] = 64; spec[3] = 8; spec[4] = 1; spec[5] = 2;
    } else if (M <= 32 || N <= 32) { // 32 x 32, 4 x 4 per thread
        spec[1] = 32; spec[2] = 32; spec[3] = 16; spec[4] = 1; spec[5] = 1;
    } else {                         // 64 x 64, 8 x 8 per thread (16 x 8 on CPU devices)
        spec[1] = 64; spec[2] = 64; spec[3] = 16; spec[4] = 2; spec[5] = 2;
        if (cpu_device) spec[4] = 4;   // 16 x 8 per thread: register spills are cheap there, loads are not
    }
    spec[0] = (spec[1] / (4 * spec[4])) * (spec[2] / (4 * spec[5]));
}

static void record_gemm(struct vlm_ctx * x, const char * shader, uint32_t M, uint32_t N, uint32_t batch,
                        const struct vlm_vk_bind * b, uint32_t extra_spec_n, const uint32_t * extra_spec,
                        const void * pc, uint32_t pc_size, double flops) {
    uint32_t spec[VLM_VK_MAX_SPEC];
    gemm_tiles(vlm_vk_caps(x->vk)->type == VK_PHYSICAL_DEVICE_TYPE_CPU, M, N, spec);
    for (uint32_t i = 0; i < extra_spec_n; i++) spec[6 + i] = extra_spec[i];
    uint32_t gx = (N + spec[2] - 1) / spec[2], gy = (M + spec[1] - 1) / spec[1];
    vlm_vk_dispatch(x, shader, spec, 12, b, 4, 1u << 3, pc, pc_size, gx, gy, batch, flops);
}

#define MATVEC_MAX_M 4   // rows up to which LINEAR takes matvec.comp (its MV_MAX_M)

// Rows of a table (a weight [N, K] or an embedding table [V, D]) per binding when the whole
// table exceeds the device's maxStorageBufferRange, 0 when it fits. The offset of a block is
// aligned down to minStorageBufferOffsetAlignment when bound: room is left for that.
static int64_t rows_per_binding(struct vlm_ctx * x, const struct vlm_tensor * t) {
    const struct vlm_vk_caps * c = vlm_vk_caps(x->vk);
    const size_t row = vlm_dtype_is_block(t->dtype) ? vlm_dtype_nbytes(t->dtype, t->shape[1])
                                                    : (size_t) t->stride[0] * vlm_dtype_size(t->dtype);
    size_t extent;
    if (!vlm_tensor_extent(t, &extent) || extent + c->min_offset_align + 4 <= c->max_binding_range) return 0;
    int64_t rows = row ? (int64_t) ((c->max_binding_range - c->min_offset_align - 4) / row) : 0;
    if (rows < 1) vlm_ctx_fail(x, VLM_STATUS_UNSUPPORTED, "vk-ops.c: one row of %zu bytes exceeds the binding range", row);
    return rows;
}

static void linear_fits(struct vlm_ctx * x, const struct vlm_op * op);

// LINEAR: y[..., N] = x[..., K] @ w[N, K]^T + b. A weight larger than the binding range runs
// as blocks of its rows, each writing its columns of y.
static void op_linear(struct vlm_ctx * x, const struct vlm_op * op) {
    const int64_t N = op->src[1].shape[0], rows = rows_per_binding(x, &op->src[1]);
    if (rows == 0 || !vlm_ctx_ok(x)) {
        if (vlm_ctx_ok(x)) linear_fits(x, op);
        return;
    }
    const int last = op->dst.n_dims - 1;
    for (int64_t n0 = 0; n0 < N && vlm_ctx_ok(x); n0 += rows) {
        const int64_t nb = N - n0 < rows ? N - n0 : rows;
        struct vlm_op part = *op;
        part.src[1] = vlm_tensor_slice(op->src[1], 0, n0, nb);
        if (present(&op->src[2])) part.src[2] = vlm_tensor_slice(op->src[2], 0, n0, nb);
        part.dst = vlm_tensor_slice(op->dst, last, n0, nb);   // its columns: rows keep the stride N
        linear_fits(x, &part);
    }
}

// LINEAR with a weight that fits one binding. The leading dims of x are merged where their
// strides allow into at most batch x (m0 x m1) rows; y's rows may be strided (a block of columns).
static void linear_fits(struct vlm_ctx * x, const struct vlm_op * op) {
    const struct vlm_tensor * in = &op->src[0], * w = &op->src[1], * bias = &op->src[2];
    struct vlm_vk_bind b[4];
    memset(b, 0, sizeof b);
    struct pc_matmul pc;
    memset(&pc, 0, sizeof pc);
    int64_t K = in->shape[in->n_dims - 1], N = w->shape[0];
    // leading dims without size-1 dims, merged when contiguous with each other
    int64_t ls[VLM_MAX_DIMS], lst[VLM_MAX_DIMS];
    int nl = 0;
    for (int d = 0; d < in->n_dims - 1; d++) {
        if (in->shape[d] == 1) continue;
        if (nl > 0 && lst[nl - 1] == in->shape[d] * in->stride[d]) {
            ls[nl - 1] *= in->shape[d];
            lst[nl - 1] = in->stride[d];
        } else {
            ls[nl] = in->shape[d];
            lst[nl] = in->stride[d];
            nl++;
        }
    }
    int64_t batch = 1, sb = 0, m0 = 1, s0 = 0, m1 = 1, s1 = 0;
    if (nl == 1) { m1 = ls[0]; s1 = lst[0]; }
    else if (nl == 2) { m0 = ls[0]; s0 = lst[0]; m1 = ls[1]; s1 = lst[1]; }
    else if (nl == 3) { batch = ls[0]; sb = lst[0]; m0 = ls[1]; s0 = lst[1]; m1 = ls[2]; s1 = lst[2]; }
    int64_t M = m0 * m1;
    if (!fits_u32(x, M, "rows") || !fits_u32(x, N, "N") || !fits_u32(x, K, "K") || !fits_u32(x, batch, "batch") ||
        !fits_u32(x, sb, "stride") || !fits_u32(x, s0, "stride") || !fits_u32(x, s1, "stride") || batch > 65535)
        return;
    if (!vlm_vk_bind_tensor(x, in, &b[0], &pc.a_off) || !vlm_vk_bind_tensor(x, w, &b[1], &pc.b_off) ||
        !vlm_vk_bind_tensor(x, &op->dst, &b[3], &pc.d_off))
        return;
    uint32_t extra[4] = { dt(in), dt(w), 0, 0 };
    if (present(bias)) {
        if (!vlm_vk_bind_tensor(x, bias, &b[2], &pc.c_off)) return;
        extra[2] = 1;
        extra[3] = dt(bias);
    }
    const int64_t d_sm = op->dst.n_dims >= 2 ? op->dst.stride[op->dst.n_dims - 2] : N;
    if (!fits_u32(x, d_sm, "stride")) return;
    pc.M = (uint32_t) M; pc.N = (uint32_t) N; pc.K = (uint32_t) K; pc.d_sm = (uint32_t) d_sm;
    pc.a_kcontig = 1;                       // innermost stride 1 (ops.c guarantees it)
    pc.b_ncontig = 0;                       // w [N, K]: k is contiguous
    pc.a_sb = (uint32_t) sb; pc.a_sm0 = (uint32_t) s0; pc.a_sm1 = (uint32_t) s1; pc.a_m1 = (uint32_t) m1;
    pc.a_sk = (uint32_t) in->stride[in->n_dims - 1];
    pc.b_sb = 0; pc.b_sk = 1; pc.b_sn = (uint32_t) K;
    if (vlm_dtype_is_block(w->dtype)) {   // rows addressed in bytes
        size_t row_bytes = vlm_dtype_nbytes(w->dtype, K);
        if (!fits_u32(x, (int64_t) row_bytes, "row size")) return;
        pc.b_sn = (uint32_t) row_bytes;
    }
    double flops = 2.0 * batch * M * N * K;
    if (M <= MATVEC_MAX_M && vlm_vk_take_variant(x, VLM_VK_VARIANT_MATVEC)) {
        // few rows: matvec.comp, NR weight rows per workgroup of WG threads striding over K: on a
        // GPU 64 threads for 2 rows (many workgroups); on a CPU device (lavapipe) one SIMD
        // width for 16 rows, since every workgroup costs a call there
        bool cpu_dev = vlm_vk_caps(x->vk)->type == VK_PHYSICAL_DEVICE_TYPE_CPU;
        uint32_t spec[VLM_VK_MAX_SPEC] = { cpu_dev ? 8 : 64, cpu_dev ? 16 : 2 }, gx, gy;
        // 4 values per load where every row start is 16-byte aligned
        spec[2] = in->dtype == VLM_DTYPE_F32 && w->dtype <= VLM_DTYPE_BF16 && K % 4 == 0 && pc.a_off % 4 == 0 &&
                  s0 % 4 == 0 && s1 % 4 == 0 && sb % 4 == 0 && pc.b_off % 4 == 0 && b[0].off % 16 == 0 && b[1].off % 16 == 0;
        for (int i = 0; i < 4; i++) spec[6 + i] = extra[i];
        vlm_vk_grid_1d(groups_of(pc.N, spec[1]), &gx, &gy);
        vlm_vk_dispatch(x, "matvec", spec, VLM_VK_MAX_SPEC, b, 4, 1u << 3, &pc, sizeof pc, gx, gy, (uint32_t) batch, flops);
        return;
    }
    record_gemm(x, "matmul", pc.M, pc.N, (uint32_t) batch, b, 4, extra, &pc, sizeof pc, flops);
}

// MATMUL: c[B, M, N] = a[B, M, K] @ b[B, K, N] (3-D views, stride 0 on a broadcast batch).
static void op_matmul(struct vlm_ctx * x, const struct vlm_op * op) {
    const struct vlm_tensor * a = &op->src[0], * bt = &op->src[1];
    struct vlm_vk_bind b[4];
    memset(b, 0, sizeof b);
    struct pc_matmul pc;
    memset(&pc, 0, sizeof pc);
    int64_t B = op->dst.shape[0], M = a->shape[1], K = a->shape[2], N = bt->shape[2];
    for (int i = 0; i < 3; i++)
        if (!fits_u32(x, a->stride[i], "stride") || !fits_u32(x, bt->stride[i], "stride")) return;
    if (!fits_u32(x, M, "M") || !fits_u32(x, N, "N") || !fits_u32(x, K, "K")) return;
    if (B > 65535) {
        vlm_ctx_fail(x, VLM_STATUS_UNSUPPORTED, "vk-ops.c: matmul batch %lld > 65535", (long long) B);
        return;
    }
    if (!vlm_vk_bind_tensor(x, a, &b[0], &pc.a_off) || !vlm_vk_bind_tensor(x, bt, &b[1], &pc.b_off) ||
        !vlm_vk_bind_tensor(x, &op->dst, &b[3], &pc.d_off))
        return;
    pc.M = (uint32_t) M; pc.N = (uint32_t) N; pc.K = (uint32_t) K; pc.d_sm = (uint32_t) N;
    pc.a_sb = (uint32_t) (a->shape[0] == 1 ? 0 : a->stride[0]);
    pc.a_sm0 = 0; pc.a_m1 = pc.M ? pc.M : 1; pc.a_sm1 = (uint32_t) a->stride[1]; pc.a_sk = (uint32_t) a->stride[2];
    pc.b_sb = (uint32_t) (bt->shape[0] == 1 ? 0 : bt->stride[0]);
    pc.b_sk = (uint32_t) bt->stride[1]; pc.b_sn = (uint32_t) bt->stride[2];
    // tile-load order: along whichever dim is contiguous
    pc.a_kcontig = pc.a_sk == 1 ? 1 : (pc.a_sm1 == 1 ? 0 : 1);
    pc.b_ncontig = pc.b_sn == 1 ? 1 : (pc.b_sk == 1 ? 0 : 1);
    uint32_t extra[4] = { dt(a), dt(bt), 0, 0 };
    record_gemm(x, "matmul", pc.M, pc.N, (uint32_t) B, b, 4, extra, &pc, sizeof pc, 2.0 * B * M * N * K);
}

struct pc_conv2d {
    uint32_t M, N, K, a_kcontig, b_ncontig;
    uint32_t w_off, in_off, s[4];
    uint32_t H, W, KH, KW, OW, stride, pad;
    uint32_t c_off, d_off;
};
PC_CHECK(struct pc_conv2d);

static void op_conv2d(struct vlm_ctx * x, const struct vlm_op * op) {
    const struct vlm_tensor * in = &op->src[0], * w = &op->src[1], * bias = &op->src[2];
    struct vlm_vk_bind b[4];
    memset(b, 0, sizeof b);
    struct pc_conv2d pc;
    struct view4 vi;
    memset(&pc, 0, sizeof pc);
    if (!view4_of(x, in, &vi)) return;
    int64_t Cout = w->shape[0], K = w->shape[1] * w->shape[2] * w->shape[3];
    int64_t OH = op->dst.shape[2], OW = op->dst.shape[3];
    if (!fits_u32(x, K, "K") || !fits_u32(x, OH * OW, "output size")) return;
    if (OH > 65535 || OW > 65535 || vi.ne[0] > 65535) {
        vlm_ctx_fail(x, VLM_STATUS_UNSUPPORTED, "vk-ops.c: conv2d output %lldx%lld or batch too large", (long long) OH, (long long) OW);
        return;
    }
    if (!vlm_vk_bind_tensor(x, w, &b[0], &pc.w_off) || !vlm_vk_bind_tensor(x, in, &b[1], &pc.in_off) ||
        !vlm_vk_bind_tensor(x, &op->dst, &b[3], &pc.d_off))
        return;
    uint32_t extra[3] = { dt(w), 0, 0 };
    if (present(bias)) {
        if (!vlm_vk_bind_tensor(x, bias, &b[2], &pc.c_off)) return;
        extra[1] = 1;
        extra[2] = dt(bias);
    }
    pc.M = (uint32_t) Cout; pc.N = (uint32_t) (OH * OW); pc.K = (uint32_t) K;
    pc.a_kcontig = 1;
    pc.b_ncontig = 1;
    for (int i = 0; i < 4; i++) pc.s[i] = vi.st[i];
    pc.H = vi.ne[2]; pc.W = vi.ne[3];
    pc.KH = (uint32_t) w->shape[2]; pc.KW = (uint32_t) w->shape[3];
    pc.OW = (uint32_t) OW;
    pc.stride = (uint32_t) op->i[0];
    pc.pad = (uint32_t) op->i[1];
    record_gemm(x, "conv2d", pc.M, pc.N, vi.ne[0], b, 3, extra, &pc, sizeof pc, 2.0 * vi.ne[0] * Cout * OH * OW * K);
}

struct pc_convt {
    uint32_t cin, cout, OH, OW, S;
    uint32_t s[4], a_off;
    uint32_t w_off, w_dt, c_off, c_dt, has_bias, d_off, n;
};
PC_CHECK(struct pc_convt);

static void op_conv_transpose2d(struct vlm_ctx * x, const struct vlm_op * op) {
    const struct vlm_tensor * in = &op->src[0], * w = &op->src[1], * bias = &op->src[2];
    struct vlm_vk_bind b[4];
    memset(b, 0, sizeof b);
    struct pc_convt pc;
    struct view4 vi;
    memset(&pc, 0, sizeof pc);
    if (!view4_of(x, in, &vi) || !numel_u32(x, &op->dst, &pc.n)) return;
    if (!vlm_vk_bind_tensor(x, in, &b[0], &pc.a_off) || !vlm_vk_bind_tensor(x, w, &b[1], &pc.w_off) ||
        !vlm_vk_bind_tensor(x, &op->dst, &b[3], &pc.d_off))
        return;
    if (present(bias)) {
        if (!vlm_vk_bind_tensor(x, bias, &b[2], &pc.c_off)) return;
        pc.has_bias = 1;
        pc.c_dt = dt(bias);
    }
    pc.cin = vi.ne[1];
    pc.cout = (uint32_t) w->shape[1];
    pc.OH = (uint32_t) op->dst.shape[2];
    pc.OW = (uint32_t) op->dst.shape[3];
    pc.S = (uint32_t) op->i[0];
    for (int i = 0; i < 4; i++) pc.s[i] = vi.st[i];
    pc.w_dt = dt(w);
    dispatch_1d(x, "conv-transpose2d", b, 4, 1u << 3, &pc, sizeof pc, pc.n, 2.0 * pc.n * pc.cin);
}

struct pc_conv2d_dw {
    uint32_t H, W, C, OH, OW, KH, KW, stride, pad, n;
    uint32_t s[4];
    uint32_t a_off, w_off, b_off, d_off, w_dt, b_dt, has_bias;
};
PC_CHECK(struct pc_conv2d_dw);

static void op_conv2d_dw(struct vlm_ctx * x, const struct vlm_op * op) {
    const struct vlm_tensor * in = &op->src[0], * w = &op->src[1], * bias = &op->src[2];
    struct vlm_vk_bind b[4];
    memset(b, 0, sizeof b);
    struct pc_conv2d_dw pc;
    struct view4 vi;
    memset(&pc, 0, sizeof pc);
    if (!view4_of(x, in, &vi) || !numel_u32(x, &op->dst, &pc.n)) return;
    if (!vlm_vk_bind_tensor(x, in, &b[0], &pc.a_off) || !vlm_vk_bind_tensor(x, w, &b[1], &pc.w_off) ||
        !vlm_vk_bind_tensor(x, &op->dst, &b[3], &pc.d_off))
        return;
    if (present(bias)) {
        if (!vlm_vk_bind_tensor(x, bias, &b[2], &pc.b_off)) return;
        pc.has_bias = 1;
        pc.b_dt = dt(bias);
    }
    pc.H = vi.ne[1]; pc.W = vi.ne[2]; pc.C = vi.ne[3];
    pc.OH = (uint32_t) op->dst.shape[1]; pc.OW = (uint32_t) op->dst.shape[2];
    pc.KH = (uint32_t) w->shape[2]; pc.KW = (uint32_t) w->shape[3];
    pc.stride = (uint32_t) op->i[0];
    pc.pad = (uint32_t) op->i[1];
    for (int i = 0; i < 4; i++) pc.s[i] = vi.st[i];
    pc.w_dt = dt(w);
    dispatch_1d(x, "conv2d-dw", b, 4, 1u << 3, &pc, sizeof pc, pc.n, 2.0 * pc.n * pc.KH * pc.KW);
}

// ---- attention -------------------------------------------------------------------------

// Parameters of attention.comp (too many for push constants): a uint array in the staging
// ring, indices as read by the shader.
enum { AP_TQ = 0, AP_TK, AP_D, AP_DV, AP_H, AP_Q = 5, AP_K = 10, AP_V = 15, AP_MASK = 20, AP_RH = 25, AP_RW = 30,
       AP_KW = 35, AP_FLAGS, AP_SCALE, AP_DOFF, AP_POS0, AP_GROUP, AP_COUNT };

// off + 4 strides of a 4-D view into prm[at..at+4].
static bool put_view(struct vlm_ctx * x, const struct vlm_tensor * t, struct vlm_vk_bind * b, uint32_t * prm, int at) {
    struct view4 v;
    if (!view4_of(x, t, &v) || !vlm_vk_bind_tensor(x, t, b, &prm[at])) return false;
    for (int i = 0; i < 4; i++) prm[at + 1 + i] = v.st[i];
    return true;
}

static void op_attention(struct vlm_ctx * x, const struct vlm_op * op) {
    const struct vlm_tensor * q = &op->src[0], * k = &op->src[1], * v = &op->src[2];
    struct vlm_vk_bind b[8];
    memset(b, 0, sizeof b);
    uint32_t prm[AP_COUNT];
    memset(prm, 0, sizeof prm);
    int64_t B = q->shape[0], H = q->shape[1], Tq = q->shape[2], Tk = k->shape[2], D = q->shape[3], Dv = v->shape[3];
    int64_t dmax = D > Dv ? D : Dv;
    dmax = (dmax + 15) / 16 * 16;
    if (dmax < 16) dmax = 16;
    const struct vlm_vk_caps * caps = vlm_vk_caps(x->vk);
    uint32_t bc = dmax <= 64 ? 32 : 16;   // keys per block
    size_t shared = (size_t) (2 * bc * dmax) * sizeof(float);
    if (dmax > 256 || shared > caps->max_shared) {
        vlm_ctx_fail(x, VLM_STATUS_UNSUPPORTED, "vk-ops.c: attention head size %lld needs %zu bytes of shared memory (device has %u)",
                     (long long) dmax, shared, caps->max_shared);
        return;
    }
    if (!fits_u32(x, Tq, "Tq") || !fits_u32(x, Tk, "Tk") || B > 65535 || H > 65535 || (Tq + 63) / 64 > 65535) {
        vlm_ctx_fail(x, VLM_STATUS_UNSUPPORTED, "vk-ops.c: attention grid too large");
        return;
    }
    prm[AP_TQ] = (uint32_t) Tq; prm[AP_TK] = (uint32_t) Tk; prm[AP_D] = (uint32_t) D; prm[AP_DV] = (uint32_t) Dv;
    prm[AP_H] = (uint32_t) H;
    prm[AP_POS0] = (uint32_t) op->i[3];
    prm[AP_GROUP] = (uint32_t) (H / k->shape[1]);
    if (!put_view(x, q, &b[0], prm, AP_Q) || !put_view(x, k, &b[1], prm, AP_K) || !put_view(x, v, &b[2], prm, AP_V)) return;
    uint32_t flags = 0;
    if (present(&op->src[3])) {
        if (!put_view(x, &op->src[3], &b[3], prm, AP_MASK)) return;
        flags |= 1;
    }
    if (op->i[0]) flags |= 2;
    if (present(&op->src[4]) && present(&op->src[5])) {
        if (!put_view(x, &op->src[4], &b[4], prm, AP_RH) || !put_view(x, &op->src[5], &b[5], prm, AP_RW)) return;
        prm[AP_KW] = (uint32_t) op->i[2];
        if (prm[AP_KW] == 0) prm[AP_KW] = (uint32_t) op->src[5].shape[3];
        flags |= 4;
    }
    prm[AP_FLAGS] = flags;
    memcpy(&prm[AP_SCALE], &op->f[0], sizeof(float));
    if (!vlm_vk_bind_tensor(x, &op->dst, &b[6], &prm[AP_DOFF])) return;
    if (!vlm_vk_bind_host(x, prm, sizeof prm, &b[7])) return;
    uint32_t spec[3] = { 64, (uint32_t) dmax, bc };
    vlm_vk_dispatch(x, "attention", spec, 3, b, 8, 1u << 6, NULL, 0, (uint32_t) ((Tq + 63) / 64), (uint32_t) H,
                    (uint32_t) B, 2.0 * B * H * Tq * Tk * (D + Dv));
}

// ---- resampling, gather, rope ----------------------------------------------------------

struct pc_interp {
    uint32_t C, H, W, OH, OW;
    uint32_t s[4], a_off, d_off, n, antialias;
    float    scale_h, scale_w;
};
PC_CHECK(struct pc_interp);

static void op_interpolate(struct vlm_ctx * x, const struct vlm_op * op) {
    struct vlm_vk_bind b[2];
    struct pc_interp pc;
    struct view4 vi;
    memset(&pc, 0, sizeof pc);
    if (!view4_of(x, &op->src[0], &vi) || !numel_u32(x, &op->dst, &pc.n)) return;
    if (!vlm_vk_bind_tensor(x, &op->src[0], &b[0], &pc.a_off) || !vlm_vk_bind_tensor(x, &op->dst, &b[1], &pc.d_off)) return;
    pc.C = vi.ne[1]; pc.H = vi.ne[2]; pc.W = vi.ne[3];
    pc.OH = (uint32_t) op->dst.shape[2]; pc.OW = (uint32_t) op->dst.shape[3];
    for (int i = 0; i < 4; i++) pc.s[i] = vi.st[i];
    pc.antialias = op->i[0] ? 1 : 0;
    pc.scale_h = (float) pc.H / (float) pc.OH;
    pc.scale_w = (float) pc.W / (float) pc.OW;
    dispatch_1d(x, "interpolate", b, 2, 1u << 1, &pc, sizeof pc, pc.n, 8.0 * pc.n);
}

struct pc_gather {
    uint32_t D, V, ne1, ne2;
    uint32_t si[3], i_off;
    uint32_t t_s0, t_s1, t_off, t_dt;
    uint32_t d_off, n, r0, v_total;
};
PC_CHECK(struct pc_gather);

static void gather_rows(struct vlm_ctx * x, const struct vlm_op * op, int64_t r0, int64_t rn);

// GATHER: a table larger than the binding range runs as blocks of its rows (each dispatch
// writes the ids of its block; the first one also the zeros of ids outside the table).
static void op_gather(struct vlm_ctx * x, const struct vlm_op * op) {
    const int64_t V = op->src[0].shape[0], rows = rows_per_binding(x, &op->src[0]);
    if (!vlm_ctx_ok(x)) return;
    if (rows == 0) {
        gather_rows(x, op, 0, V);
        return;
    }
    for (int64_t r0 = 0; r0 < V && vlm_ctx_ok(x); r0 += rows) gather_rows(x, op, r0, V - r0 < rows ? V - r0 : rows);
}

// GATHER over table rows [r0, r0 + rn).
static void gather_rows(struct vlm_ctx * x, const struct vlm_op * op, int64_t r0, int64_t rn) {
    const struct vlm_tensor * ids = &op->src[1];
    const struct vlm_tensor block = vlm_tensor_slice(op->src[0], 0, r0, rn), * tab = &block;
    struct vlm_vk_bind b[3];
    struct pc_gather pc;
    memset(&pc, 0, sizeof pc);
    if (!numel_u32(x, &op->dst, &pc.n)) return;
    // ids as 3 dims, left-padded
    struct vlm_tensor i3 = *ids;
    struct view4 vi;
    if (!view4_of(x, &i3, &vi)) return;   // vi.ne[0] is 1 (ids have <= 3 dims)
    if (!fits_u32(x, tab->stride[0], "stride") || !fits_u32(x, tab->stride[1], "stride")) return;
    if (!vlm_vk_bind_tensor(x, tab, &b[0], &pc.t_off) || !vlm_vk_bind_tensor(x, ids, &b[1], &pc.i_off) ||
        !vlm_vk_bind_tensor(x, &op->dst, &b[2], &pc.d_off))
        return;
    if (!fits_u32(x, op->src[0].shape[0], "rows")) return;
    pc.D = (uint32_t) tab->shape[1];
    pc.V = (uint32_t) rn;
    pc.r0 = (uint32_t) r0;
    pc.v_total = (uint32_t) op->src[0].shape[0];
    pc.ne1 = vi.ne[2]; pc.ne2 = vi.ne[3];
    pc.si[0] = vi.st[1]; pc.si[1] = vi.st[2]; pc.si[2] = vi.st[3];
    // block dtypes (contiguous): t_s0 is the row's bytes
    size_t row_bytes = vlm_dtype_nbytes(tab->dtype, tab->shape[1]);
    if (vlm_dtype_is_block(tab->dtype) && !fits_u32(x, (int64_t) row_bytes, "row size")) return;
    pc.t_s0 = (uint32_t) (vlm_dtype_is_block(tab->dtype) ? row_bytes : (size_t) tab->stride[0]);
    pc.t_s1 = (uint32_t) tab->stride[1];
    pc.t_dt = dt(tab);
    dispatch_1d(x, "gather", b, 3, 1u << 2, &pc, sizeof pc, pc.n, 0);
}

struct pc_rope {
    uint32_t H, T, half_d, neox;
    uint32_t s[4], a_off, d_off, n;
};
PC_CHECK(struct pc_rope);

static void op_rope(struct vlm_ctx * x, const struct vlm_op * op) {
    struct vlm_vk_bind b[3];
    struct pc_rope pc;
    struct view4 vi;
    memset(&pc, 0, sizeof pc);
    if (!view4_of(x, &op->src[0], &vi)) return;
    uint32_t T = vi.ne[2], half = vi.ne[3] / 2;
    uint64_t n = (uint64_t) vi.ne[0] * vi.ne[1] * T * half;
    if (!fits_u32(x, (int64_t) n, "element count")) return;
    size_t tab_bytes = (size_t) T * half * 2 * sizeof(float);
    float * cs = malloc(tab_bytes ? tab_bytes : 1);
    if (!cs) {
        vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "vk-ops.c: rope: out of host memory");
        return;
    }
    // ref: transformers modeling_llama LlamaRotaryEmbedding: inv_freq = 1 / theta^(2i / D);
    // the same float formula as cpu-ops.c so both backends rotate by identical angles
    for (uint32_t t = 0; t < T; t++)
        for (uint32_t i = 0; i < half; i++) {
            float inv = 1.0f / powf(op->f[0], (float) (2 * i) / (float) vi.ne[3]);
            float ang = (float) ((int64_t) op->i[0] + t) * inv;
            cs[(t * half + i) * 2] = cosf(ang);
            cs[(t * half + i) * 2 + 1] = sinf(ang);
        }
    bool ok = vlm_vk_bind_tensor(x, &op->src[0], &b[0], &pc.a_off) && vlm_vk_bind_tensor(x, &op->dst, &b[2], &pc.d_off) &&
              vlm_vk_bind_host(x, cs, tab_bytes, &b[1]);
    free(cs);
    if (!ok) return;
    pc.H = vi.ne[1]; pc.T = T; pc.half_d = half;
    pc.neox = op->i[1] == VLM_ROPE_NEOX ? 1 : 0;
    for (int i = 0; i < 4; i++) pc.s[i] = vi.st[i];
    pc.n = (uint32_t) n;
    dispatch_1d(x, "rope", b, 3, 1u << 2, &pc, sizeof pc, n, 6.0 * n);
}

// ---- entry -----------------------------------------------------------------------------

static void record_op(struct vlm_ctx * x, const struct vlm_op * op) {
    switch (op->type) {
    case VLM_OP_LINEAR:           op_linear(x, op); break;
    case VLM_OP_MATMUL:           op_matmul(x, op); break;
    case VLM_OP_BINARY:           op_binary(x, op); break;
    case VLM_OP_SCALE:            op_unary(x, op, true); break;
    case VLM_OP_UNARY:            op_unary(x, op, false); break;
    case VLM_OP_LAYER_NORM:       op_norm(x, op, false); break;
    case VLM_OP_RMS_NORM:         op_norm(x, op, true); break;
    case VLM_OP_LAYER_NORM_2D:    op_layer_norm_2d(x, op); break;
    case VLM_OP_SOFTMAX:          op_softmax(x, op); break;
    case VLM_OP_ATTENTION:        op_attention(x, op); break;
    case VLM_OP_CONV2D:           op_conv2d(x, op); break;
    case VLM_OP_CONV_TRANSPOSE2D: op_conv_transpose2d(x, op); break;
    case VLM_OP_INTERPOLATE:      op_interpolate(x, op); break;
    case VLM_OP_CONV2D_DW:        op_conv2d_dw(x, op); break;
    case VLM_OP_COPY:             record_copy(x, &op->src[0], &op->dst); break;
    case VLM_OP_CONCAT:           op_concat(x, op); break;
    case VLM_OP_GATHER:           op_gather(x, op); break;
    case VLM_OP_ROPE:             op_rope(x, op); break;
    default:
        vlm_ctx_fail(x, VLM_STATUS_UNSUPPORTED, "vk-ops.c: op %d is not implemented on Vulkan", (int) op->type);
        break;
    }
}

// The name of the kernel an op just ran: its first variant among used (bits of enum
// vlm_vk_variant), else the op's own name (its plain kernel).
static const char * kernel_name(const struct vlm_op * op, uint32_t used) {
    for (int v = 0; v < VLM_VK_VARIANT_COUNT; v++)
        if (used & (1u << v)) return vlm_vk_variant_name((enum vlm_vk_variant) v);
    return vlm_op_name(op->type);
}

void vlm_vk_run_op(struct vlm_ctx * x, const struct vlm_op * op) {
    if (!x || x->status != VLM_STATUS_OK) return;
    if (!x->vk) {
        vlm_ctx_fail(x, VLM_STATUS_UNSUPPORTED, "vk-ops.c: context has no Vulkan device");
        return;
    }
    if (vlm_tensor_numel(&op->dst) == 0) return;   // nothing to compute
    vlm_vk_op_begin(x, op->type);
    const char * inject = vlm_vk_inject(x->vk);
    if (!*inject) {
        record_op(x, op);
        return;
    }
    // VLM_SELFTEST_INJECT: this op's kernel gives dst + 0.25 when it is the one named
    uint32_t before = vlm_vk_variants_used(x->vk, true);
    record_op(x, op);
    uint32_t used = vlm_vk_variants_used(x->vk, true);
    if (strcmp(inject, kernel_name(op, used)) == 0 && op->dst.dtype == VLM_DTYPE_F32) {
        struct vlm_op wrong = { .type = VLM_OP_SCALE, .f = { 1.0f, 0.25f } };
        wrong.src[0] = wrong.dst = op->dst;
        op_unary(x, &wrong, true);
    }
    vlm_vk_variants_set(x->vk, before | used);   // the injection's own kernels are not the op's
}
