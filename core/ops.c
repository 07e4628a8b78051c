// ops.c — op front-ends: check shapes and dtypes, allocate the output from the arena, fill
// struct vlm_op (conventions in core.h) and hand it to the context's backend.
//
// What a backend can rely on (beyond core.h):
//   - every src is a valid tensor on the context's backend, all of its elements inside its buffer
//     (non-negative strides, possibly 0 for broadcast dims);
//   - activation inputs are F32 (other dtypes are converted here with a COPY first);
//   - LINEAR: src0 innermost stride 1; src1 contiguous [N, K] F32/F16/BF16/Q8_0/Q4_0/Q4_K (K a
//     multiple of the block size); src2 [N] F32/F16/BF16.
//   - Block dtypes (Q8_0, Q4_0, Q4_K) appear only as LINEAR src1, GATHER src0 and COPY src0
//     (dst F32), always contiguous.
//   - MATMUL: src0 [B, M, K], src1 [B, K, N], both 3-D with B equal to dst's (a broadcast side
//     has stride 0 in dim 0).
//   - BINARY: src0, src1 have exactly dst's n_dims and shape (stride 0 on broadcast dims).
//   - SOFTMAX: src1 mask, when present, has src0's n_dims and shape (stride 0 on broadcast dims).
//   - ATTENTION: src3 mask, when present, is [B, H, Tq, Tk] (stride 0 on broadcast dims);
//     src4 rel_h [B, H, Tq, kh], src5 rel_w [B, H, Tq, kw] (both or neither), i1 = kh, i2 = kw.
//     causal masks key j > query i (indices within the call).
//   - CONV2D / CONV_TRANSPOSE2D / CONV2D_DW: weights contiguous F32/F16/BF16, bias [Cout] F32/F16/BF16.
//   - COPY: src0 and dst have the same n_dims and shape; CONCAT: same dtype on all three.
//   - GATHER: src0 [V, D] F32/F16/BF16 (any strides) or a contiguous block dtype, src1 I32 with up
//     to 3 dims, dst = ids shape + [D].
//   - Outputs (dst) are new contiguous arena tensors, except COPY from vlm_op_copy_into.
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core.h"

const char * vlm_op_name(enum vlm_op_type type) {
    static const char * const names[VLM_OP_COUNT] = {
        "linear", "matmul", "binary", "scale", "unary", "layer_norm", "rms_norm", "layer_norm_2d", "softmax",
        "attention", "conv2d", "conv_transpose2d", "interpolate", "copy", "concat", "gather", "rope",
        "conv2d_dw",
    };
    return (unsigned) type < VLM_OP_COUNT ? names[type] : "?";
}

static struct vlm_tensor tensor_empty(void) {
    struct vlm_tensor t;
    memset(&t, 0, sizeof t);
    return t;
}

static bool is_float_dtype(enum vlm_dtype d) {
    return d == VLM_DTYPE_F32 || d == VLM_DTYPE_F16 || d == VLM_DTYPE_BF16;
}

static bool in_bounds(const struct vlm_tensor * t) {
    size_t end;
    if (!t->buf || !vlm_tensor_extent(t, &end) || !vlm_add_size(end, t->offset, &end)) return false;
    return end <= t->buf->size;
}

// Checks that t can be read by this context's backend; records an error naming the op otherwise.
static bool check_tensor(struct vlm_ctx * x, const char * op, const char * what, const struct vlm_tensor * t) {
    if (!vlm_ctx_ok(x)) return false;
    char s[128];
    vlm_tensor_shape_str(t, s, sizeof s);
    if (!vlm_tensor_valid(t) || !t->buf) {
        vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "%s: %s is not a valid tensor (%s)", op, what, s);
        return false;
    }
    if (t->buf->kind != x->backend) {
        vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "%s: %s %s lives on another backend", op, what, s);
        return false;
    }
    if (!in_bounds(t)) {
        vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "%s: %s %s reaches outside its buffer", op, what, s);
        return false;
    }
    return true;
}

static void fail_shapes(struct vlm_ctx * x, const char * op, const char * why, const struct vlm_tensor * a,
                        const struct vlm_tensor * b) {
    char sa[128], sb[128] = "";
    vlm_tensor_shape_str(a, sa, sizeof sa);
    if (b) vlm_tensor_shape_str(b, sb, sizeof sb);
    if (b) vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "%s: %s (%s and %s)", op, why, sa, sb);
    else   vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "%s: %s (%s)", op, why, sa);
}

// Floating-point operations of the matrix ops (2 per multiply-add), for `vlm bench`'s
// GFLOP/s; elementwise ops are not counted.
static double op_flops(const struct vlm_op * op) {
    const struct vlm_tensor * s0 = &op->src[0], * s1 = &op->src[1], * d = &op->dst;
    double out = (double)vlm_tensor_numel(d);
    switch (op->type) {
        case VLM_OP_LINEAR:
        case VLM_OP_MATMUL:           return 2.0 * out * (double)s0->shape[s0->n_dims - 1];
        case VLM_OP_CONV2D:           return 2.0 * out * (double)(s1->shape[1] * s1->shape[2] * s1->shape[3]);
        case VLM_OP_CONV2D_DW:        return 2.0 * out * (double)(s1->shape[2] * s1->shape[3]);
        case VLM_OP_CONV_TRANSPOSE2D: return 2.0 * (double)vlm_tensor_numel(s0) * (double)(s1->shape[1] * s1->shape[2] * s1->shape[3]);
        case VLM_OP_ATTENTION: {      // q k^T and p v: [B, H, Tq, D] x [Tk, D], [Tq, Tk] x [Tk, Dv]
            double bhq = (double)(s0->shape[0] * s0->shape[1] * s0->shape[2]);
            return 2.0 * bhq * (double)s1->shape[2] * (double)(s0->shape[3] + op->src[2].shape[3]);
        }
        default: return 0;
    }
}

static struct vlm_tensor dispatch(struct vlm_ctx * x, struct vlm_op * op) {
    if (!vlm_ctx_ok(x)) return tensor_empty();
    x->flops += op_flops(op);
    if (x->backend == VLM_BACKEND_KIND_VULKAN) {
        vlm_vk_run_op(x, op);
    } else if (x->profile_ms) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        vlm_cpu_run_op(x, op);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        x->profile_ms[op->type] += (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    } else {
        vlm_cpu_run_op(x, op);
    }
    return vlm_ctx_ok(x) ? op->dst : tensor_empty();
}

static void op_init(struct vlm_op * op, enum vlm_op_type type) {
    memset(op, 0, sizeof *op);
    op->type = type;
}

// An activation input as F32 (converted with a COPY when it has another dtype).
static bool as_f32(struct vlm_ctx * x, const char * op, const char * what, struct vlm_tensor * t) {
    if (!check_tensor(x, op, what, t)) return false;
    if (t->dtype == VLM_DTYPE_F32) return true;
    *t = vlm_op_copy(x, *t, VLM_DTYPE_F32);
    return vlm_ctx_ok(x);
}

// Right-aligned NumPy broadcast of t to (n_dims, shape): broadcast dims get stride 0.
static bool broadcast_to(const struct vlm_tensor * t, int32_t n_dims, const int64_t * shape, struct vlm_tensor * out) {
    if (t->n_dims > n_dims) return false;
    struct vlm_tensor r = *t;
    int off = n_dims - t->n_dims;
    for (int i = 0; i < VLM_MAX_DIMS; i++) { r.shape[i] = 1; r.stride[i] = 0; }
    for (int i = 0; i < n_dims; i++) {
        int j = i - off;
        r.shape[i] = shape[i];
        if (j < 0) r.stride[i] = 0;
        else if (t->shape[j] == shape[i]) r.stride[i] = t->shape[j] == 1 ? 0 : t->stride[j];
        else if (t->shape[j] == 1) r.stride[i] = 0;
        else return false;
    }
    r.n_dims = n_dims;
    *out = r;
    return true;
}

static struct vlm_tensor new_like(struct vlm_ctx * x, const struct vlm_tensor * t, enum vlm_dtype dtype) {
    return vlm_tensor_new(x, dtype, t->n_dims, t->shape);
}

// A weight that must be contiguous: float (F32/F16/BF16; strided views are materialized), or
// where block allows, a contiguous block dtype.
static bool weight_contig(struct vlm_ctx * x, const char * op, const char * what, struct vlm_tensor * w, bool block) {
    if (!check_tensor(x, op, what, w)) return false;
    if (block && vlm_dtype_is_block(w->dtype)) {
        if (vlm_tensor_is_contiguous(w)) return true;
        fail_shapes(x, op, "a quantized weight must be contiguous", w, NULL);
        return false;
    }
    if (!is_float_dtype(w->dtype)) {
        fail_shapes(x, op, block ? "weight dtype must be f32, f16, bf16, q8_0, q4_0 or q4_k"
                                 : "weight dtype must be f32, f16 or bf16", w, NULL);
        return false;
    }
    if (!vlm_tensor_is_contiguous(w)) *w = vlm_op_copy(x, *w, VLM_DTYPE_F32);
    return vlm_ctx_ok(x);
}

static bool check_vec(struct vlm_ctx * x, const char * op, const char * what, const struct vlm_tensor * v, int64_t n) {
    if (!check_tensor(x, op, what, v)) return false;
    if (v->n_dims != 1 || v->shape[0] != n || !is_float_dtype(v->dtype)) {
        char s[128], m[160];
        vlm_tensor_shape_str(v, s, sizeof s);
        snprintf(m, sizeof m, "%s must be a float vector of %lld", what, (long long)n);
        vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "%s: %s, got %s", op, m, s);
        return false;
    }
    return true;
}

// ---- ops ---------------------------------------------------------------------------------

struct vlm_tensor vlm_op_linear(struct vlm_ctx * x, struct vlm_tensor in, struct vlm_tensor w, const struct vlm_tensor * b) {
    const char * name = "linear";
    if (!as_f32(x, name, "input", &in) || !weight_contig(x, name, "weight", &w, true)) return tensor_empty();
    int64_t K = in.shape[in.n_dims - 1];
    if (w.n_dims != 2 || w.shape[1] != K) {
        fail_shapes(x, name, "weight must be [N, K] with K = input's last dim", &in, &w);
        return tensor_empty();
    }
    int64_t N = w.shape[0];
    if (b && !check_vec(x, name, "bias", b, N)) return tensor_empty();
    if (in.stride[in.n_dims - 1] != 1) {
        in = vlm_op_copy(x, in, VLM_DTYPE_F32);
        if (!vlm_ctx_ok(x)) return tensor_empty();
    }
    int64_t shape[VLM_MAX_DIMS];
    memcpy(shape, in.shape, sizeof shape);
    shape[in.n_dims - 1] = N;
    struct vlm_op op;
    op_init(&op, VLM_OP_LINEAR);
    op.src[0] = in;
    op.src[1] = w;
    if (b) op.src[2] = *b;
    op.dst = vlm_tensor_new(x, VLM_DTYPE_F32, in.n_dims, shape);
    return dispatch(x, &op);
}

// A 2-D or 3-D tensor as a 3-D header.
static bool as_3d(struct vlm_tensor * t) {
    if (t->n_dims == 3) return true;
    if (t->n_dims != 2) return false;
    t->shape[2] = t->shape[1]; t->stride[2] = t->stride[1];
    t->shape[1] = t->shape[0]; t->stride[1] = t->stride[0];
    t->shape[0] = 1;           t->stride[0] = 0;
    t->n_dims = 3;
    return true;
}

struct vlm_tensor vlm_op_matmul(struct vlm_ctx * x, struct vlm_tensor a, struct vlm_tensor b) {
    const char * name = "matmul";
    if (!as_f32(x, name, "a", &a) || !as_f32(x, name, "b", &b)) return tensor_empty();
    int32_t nd = a.n_dims > b.n_dims ? a.n_dims : b.n_dims;
    struct vlm_tensor a3 = a, b3 = b;
    if (!as_3d(&a3) || !as_3d(&b3) || a3.shape[2] != b3.shape[1] ||
        (a3.shape[0] != b3.shape[0] && a3.shape[0] != 1 && b3.shape[0] != 1)) {
        fail_shapes(x, name, "expected [B, M, K] @ [B, K, N]", &a, &b);
        return tensor_empty();
    }
    int64_t B = a3.shape[0] > b3.shape[0] ? a3.shape[0] : b3.shape[0];
    if (a3.shape[0] != B) { a3.shape[0] = B; a3.stride[0] = 0; }
    if (b3.shape[0] != B) { b3.shape[0] = B; b3.stride[0] = 0; }
    struct vlm_op op;
    op_init(&op, VLM_OP_MATMUL);
    op.src[0] = a3;
    op.src[1] = b3;
    if (nd == 2) {
        int64_t shape[2] = { a3.shape[1], b3.shape[2] };
        op.dst = vlm_tensor_new(x, VLM_DTYPE_F32, 2, shape);
        // the backend sees a 3-D dst
        if (op.dst.n_dims == 2) as_3d(&op.dst);
        struct vlm_tensor r = dispatch(x, &op);
        if (r.n_dims == 0) return r;
        return vlm_tensor_reshape(r, 2, shape);
    }
    int64_t shape[3] = { B, a3.shape[1], b3.shape[2] };
    op.dst = vlm_tensor_new(x, VLM_DTYPE_F32, 3, shape);
    return dispatch(x, &op);
}

struct vlm_tensor vlm_op_binary(struct vlm_ctx * x, enum vlm_binary kind, struct vlm_tensor a, struct vlm_tensor b) {
    const char * name = "binary";
    if ((unsigned)kind >= VLM_BINARY_COUNT) {
        vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "binary: unknown op %d", (int)kind);
        return tensor_empty();
    }
    if (!as_f32(x, name, "a", &a) || !as_f32(x, name, "b", &b)) return tensor_empty();
    int32_t nd = a.n_dims > b.n_dims ? a.n_dims : b.n_dims;
    int64_t shape[VLM_MAX_DIMS] = { 1, 1, 1, 1 };
    for (int i = 0; i < nd; i++) {
        int     ia = i - (nd - a.n_dims), ib = i - (nd - b.n_dims);
        int64_t sa = ia >= 0 ? a.shape[ia] : 1, sb = ib >= 0 ? b.shape[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            fail_shapes(x, name, "shapes do not broadcast", &a, &b);
            return tensor_empty();
        }
        shape[i] = sa > sb ? sa : sb;
    }
    struct vlm_op op;
    op_init(&op, VLM_OP_BINARY);
    broadcast_to(&a, nd, shape, &op.src[0]);
    broadcast_to(&b, nd, shape, &op.src[1]);
    op.i[0] = (int32_t)kind;
    op.dst  = vlm_tensor_new(x, VLM_DTYPE_F32, nd, shape);
    return dispatch(x, &op);
}

struct vlm_tensor vlm_op_scale(struct vlm_ctx * x, struct vlm_tensor a, float scale, float bias) {
    if (!as_f32(x, "scale", "input", &a)) return tensor_empty();
    struct vlm_op op;
    op_init(&op, VLM_OP_SCALE);
    op.src[0] = a;
    op.f[0]   = scale;
    op.f[1]   = bias;
    op.dst    = new_like(x, &a, VLM_DTYPE_F32);
    return dispatch(x, &op);
}

struct vlm_tensor vlm_op_unary(struct vlm_ctx * x, enum vlm_unary kind, struct vlm_tensor a) {
    if ((unsigned)kind >= VLM_UNARY_COUNT) {
        vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "unary: unknown op %d", (int)kind);
        return tensor_empty();
    }
    if (!as_f32(x, "unary", "input", &a)) return tensor_empty();
    struct vlm_op op;
    op_init(&op, VLM_OP_UNARY);
    op.src[0] = a;
    op.i[0]   = (int32_t)kind;
    op.dst    = new_like(x, &a, VLM_DTYPE_F32);
    return dispatch(x, &op);
}

struct vlm_tensor vlm_op_layer_norm(struct vlm_ctx * x, struct vlm_tensor a, const struct vlm_tensor * w,
                                    const struct vlm_tensor * b, float eps) {
    const char * name = "layer_norm";
    if (!as_f32(x, name, "input", &a)) return tensor_empty();
    int64_t D = a.shape[a.n_dims - 1];
    if ((w && !check_vec(x, name, "weight", w, D)) || (b && !check_vec(x, name, "bias", b, D))) return tensor_empty();
    struct vlm_op op;
    op_init(&op, VLM_OP_LAYER_NORM);
    op.src[0] = a;
    if (w) op.src[1] = *w;
    if (b) op.src[2] = *b;
    op.f[0] = eps;
    op.dst  = new_like(x, &a, VLM_DTYPE_F32);
    return dispatch(x, &op);
}

struct vlm_tensor vlm_op_rms_norm(struct vlm_ctx * x, struct vlm_tensor a, const struct vlm_tensor * w, float eps) {
    const char * name = "rms_norm";
    if (!as_f32(x, name, "input", &a)) return tensor_empty();
    int64_t D = a.shape[a.n_dims - 1];
    if (w && !check_vec(x, name, "weight", w, D)) return tensor_empty();
    struct vlm_op op;
    op_init(&op, VLM_OP_RMS_NORM);
    op.src[0] = a;
    if (w) op.src[1] = *w;
    op.f[0] = eps;
    op.dst  = new_like(x, &a, VLM_DTYPE_F32);
    return dispatch(x, &op);
}

struct vlm_tensor vlm_op_layer_norm_2d(struct vlm_ctx * x, struct vlm_tensor a, struct vlm_tensor w,
                                       struct vlm_tensor b, float eps) {
    const char * name = "layer_norm_2d";
    if (!as_f32(x, name, "input", &a)) return tensor_empty();
    if (a.n_dims != 4) {
        fail_shapes(x, name, "input must be [B, C, H, W]", &a, NULL);
        return tensor_empty();
    }
    if (!check_vec(x, name, "weight", &w, a.shape[1]) || !check_vec(x, name, "bias", &b, a.shape[1])) return tensor_empty();
    struct vlm_op op;
    op_init(&op, VLM_OP_LAYER_NORM_2D);
    op.src[0] = a;
    op.src[1] = w;
    op.src[2] = b;
    op.f[0]   = eps;
    op.dst    = new_like(x, &a, VLM_DTYPE_F32);
    return dispatch(x, &op);
}

struct vlm_tensor vlm_op_softmax(struct vlm_ctx * x, struct vlm_tensor a, float scale, const struct vlm_tensor * mask) {
    const char * name = "softmax";
    if (!as_f32(x, name, "input", &a)) return tensor_empty();
    struct vlm_op op;
    op_init(&op, VLM_OP_SOFTMAX);
    op.src[0] = a;
    if (mask) {
        struct vlm_tensor m = *mask;
        if (!as_f32(x, name, "mask", &m)) return tensor_empty();
        if (!broadcast_to(&m, a.n_dims, a.shape, &op.src[1])) {
            fail_shapes(x, name, "mask does not broadcast to the input", &a, mask);
            return tensor_empty();
        }
    }
    op.f[0] = scale;
    op.dst  = new_like(x, &a, VLM_DTYPE_F32);
    return dispatch(x, &op);
}

struct vlm_tensor vlm_op_attention(struct vlm_ctx * x, struct vlm_tensor q, struct vlm_tensor k, struct vlm_tensor v,
                                   const struct vlm_attention_params * p) {
    const char * name = "attention";
    if (!p) {
        vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "attention: missing params");
        return tensor_empty();
    }
    if (!as_f32(x, name, "q", &q) || !as_f32(x, name, "k", &k) || !as_f32(x, name, "v", &v)) return tensor_empty();
    if (q.n_dims != 4 || k.n_dims != 4 || v.n_dims != 4) {
        fail_shapes(x, name, "q, k, v must be 4-D [B, H, T, D]", &q, &k);
        return tensor_empty();
    }
    if (k.shape[0] != q.shape[0] || k.shape[1] < 1 || q.shape[1] % k.shape[1] != 0 || k.shape[3] != q.shape[3]) {
        fail_shapes(x, name, "k must be [B, Hkv, Tk, D] matching q [B, H, Tq, D], H a multiple of Hkv", &q, &k);
        return tensor_empty();
    }
    if (v.shape[0] != k.shape[0] || v.shape[1] != k.shape[1] || v.shape[2] != k.shape[2]) {
        fail_shapes(x, name, "v must be [B, H, Tk, Dv] matching k", &k, &v);
        return tensor_empty();
    }
    int64_t B = q.shape[0], H = q.shape[1], Tq = q.shape[2], Tk = k.shape[2];
    struct vlm_op op;
    op_init(&op, VLM_OP_ATTENTION);
    op.src[0] = q;
    op.src[1] = k;
    op.src[2] = v;
    if (p->mask) {
        struct vlm_tensor m = *p->mask;
        int64_t           shape[4] = { B, H, Tq, Tk };
        if (!as_f32(x, name, "mask", &m)) return tensor_empty();
        if (!broadcast_to(&m, 4, shape, &op.src[3])) {
            fail_shapes(x, name, "mask does not broadcast to [B, H, Tq, Tk]", &q, p->mask);
            return tensor_empty();
        }
    }
    if ((p->rel_h != NULL) != (p->rel_w != NULL)) {
        vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "attention: rel_h and rel_w must be given together");
        return tensor_empty();
    }
    if (p->rel_h) {
        struct vlm_tensor rh = *p->rel_h, rw = *p->rel_w;
        if (!as_f32(x, name, "rel_h", &rh) || !as_f32(x, name, "rel_w", &rw)) return tensor_empty();
        int64_t kh = rh.shape[rh.n_dims - 1], kw = rw.shape[rw.n_dims - 1];
        int64_t sh[4] = { B, H, Tq, kh }, sw[4] = { B, H, Tq, kw };
        if (kh * kw != Tk || !broadcast_to(&rh, 4, sh, &op.src[4]) || !broadcast_to(&rw, 4, sw, &op.src[5])) {
            fail_shapes(x, name, "rel_h [B, H, Tq, kh] and rel_w [B, H, Tq, kw] need kh * kw = Tk", &rh, &rw);
            return tensor_empty();
        }
        op.i[1] = (int32_t)kh;
        op.i[2] = (int32_t)kw;
    }
    op.f[0] = p->scale;
    if (p->q_pos0 < 0) {
        vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "attention: q_pos0 %d < 0", (int)p->q_pos0);
        return tensor_empty();
    }
    op.i[0] = p->causal ? 1 : 0;
    op.i[3] = p->q_pos0;
    int64_t shape[4] = { B, H, Tq, v.shape[3] };
    op.dst = vlm_tensor_new(x, VLM_DTYPE_F32, 4, shape);
    return dispatch(x, &op);
}

struct vlm_tensor vlm_op_conv2d(struct vlm_ctx * x, struct vlm_tensor in, struct vlm_tensor w, const struct vlm_tensor * b,
                                int32_t stride, int32_t pad) {
    const char * name = "conv2d";
    if (!as_f32(x, name, "input", &in) || !weight_contig(x, name, "weight", &w, false)) return tensor_empty();
    if (in.n_dims != 4 || w.n_dims != 4 || w.shape[1] != in.shape[1]) {
        fail_shapes(x, name, "expected input [B, Cin, H, W] and weight [Cout, Cin, kh, kw]", &in, &w);
        return tensor_empty();
    }
    if (stride < 1 || pad < 0) {
        vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "conv2d: bad stride %d or padding %d", stride, pad);
        return tensor_empty();
    }
    int64_t Ho = (in.shape[2] + 2 * (int64_t)pad - w.shape[2]) / stride + 1;
    int64_t Wo = (in.shape[3] + 2 * (int64_t)pad - w.shape[3]) / stride + 1;
    if (in.shape[2] + 2 * (int64_t)pad < w.shape[2] || in.shape[3] + 2 * (int64_t)pad < w.shape[3] || Ho < 1 || Wo < 1) {
        fail_shapes(x, name, "kernel larger than the padded input", &in, &w);
        return tensor_empty();
    }
    if (b && !check_vec(x, name, "bias", b, w.shape[0])) return tensor_empty();
    struct vlm_op op;
    op_init(&op, VLM_OP_CONV2D);
    op.src[0] = in;
    op.src[1] = w;
    if (b) op.src[2] = *b;
    op.i[0] = stride;
    op.i[1] = pad;
    int64_t shape[4] = { in.shape[0], w.shape[0], Ho, Wo };
    op.dst = vlm_tensor_new(x, VLM_DTYPE_F32, 4, shape);
    return dispatch(x, &op);
}

struct vlm_tensor vlm_op_conv2d_dw(struct vlm_ctx * x, struct vlm_tensor in, struct vlm_tensor w, const struct vlm_tensor * b,
                                   int32_t stride, int32_t pad) {
    const char * name = "conv2d_dw";
    if (!as_f32(x, name, "input", &in) || !weight_contig(x, name, "weight", &w, false)) return tensor_empty();
    if (in.n_dims != 4 || w.n_dims != 4 || w.shape[0] != in.shape[3] || w.shape[1] != 1 ||
        w.shape[2] * w.shape[3] > VLM_DW_MAX_TAPS) {
        fail_shapes(x, name, "expected input [B, H, W, C] and weight [C, 1, kh, kw] (kh * kw <= 64)", &in, &w);
        return tensor_empty();
    }
    if (stride < 1 || pad < 0) {
        vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "conv2d_dw: bad stride %d or padding %d", stride, pad);
        return tensor_empty();
    }
    int64_t Ho = (in.shape[1] + 2 * (int64_t)pad - w.shape[2]) / stride + 1;
    int64_t Wo = (in.shape[2] + 2 * (int64_t)pad - w.shape[3]) / stride + 1;
    if (in.shape[1] + 2 * (int64_t)pad < w.shape[2] || in.shape[2] + 2 * (int64_t)pad < w.shape[3] || Ho < 1 || Wo < 1) {
        fail_shapes(x, name, "kernel larger than the padded input", &in, &w);
        return tensor_empty();
    }
    if (b && !check_vec(x, name, "bias", b, w.shape[0])) return tensor_empty();
    struct vlm_op op;
    op_init(&op, VLM_OP_CONV2D_DW);
    op.src[0] = in;
    op.src[1] = w;
    if (b) op.src[2] = *b;
    op.i[0] = stride;
    op.i[1] = pad;
    int64_t shape[4] = { in.shape[0], Ho, Wo, in.shape[3] };
    op.dst = vlm_tensor_new(x, VLM_DTYPE_F32, 4, shape);
    return dispatch(x, &op);
}

struct vlm_tensor vlm_op_conv_transpose2d(struct vlm_ctx * x, struct vlm_tensor in, struct vlm_tensor w,
                                          const struct vlm_tensor * b, int32_t stride) {
    const char * name = "conv_transpose2d";
    if (!as_f32(x, name, "input", &in) || !weight_contig(x, name, "weight", &w, false)) return tensor_empty();
    if (in.n_dims != 4 || w.n_dims != 4 || w.shape[0] != in.shape[1]) {
        fail_shapes(x, name, "expected input [B, Cin, H, W] and weight [Cin, Cout, k, k]", &in, &w);
        return tensor_empty();
    }
    if (stride < 1 || w.shape[2] != stride || w.shape[3] != stride) {
        fail_shapes(x, name, "only kernel == stride is supported", &in, &w);
        return tensor_empty();
    }
    if (b && !check_vec(x, name, "bias", b, w.shape[1])) return tensor_empty();
    struct vlm_op op;
    op_init(&op, VLM_OP_CONV_TRANSPOSE2D);
    op.src[0] = in;
    op.src[1] = w;
    if (b) op.src[2] = *b;
    op.i[0] = stride;
    int64_t shape[4] = { in.shape[0], w.shape[1], in.shape[2] * stride, in.shape[3] * stride };
    op.dst = vlm_tensor_new(x, VLM_DTYPE_F32, 4, shape);
    return dispatch(x, &op);
}

struct vlm_tensor vlm_op_interpolate(struct vlm_ctx * x, struct vlm_tensor in, int64_t out_h, int64_t out_w, bool antialias) {
    const char * name = "interpolate";
    if (!as_f32(x, name, "input", &in)) return tensor_empty();
    if (in.n_dims != 4 || out_h < 1 || out_w < 1 || out_h > (1 << 20) || out_w > (1 << 20)) {
        char s[128];
        vlm_tensor_shape_str(&in, s, sizeof s);
        vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "interpolate: bad input %s or output size %lldx%lld", s,
                     (long long)out_h, (long long)out_w);
        return tensor_empty();
    }
    struct vlm_op op;
    op_init(&op, VLM_OP_INTERPOLATE);
    op.src[0] = in;
    op.i[0]   = antialias ? 1 : 0;
    int64_t shape[4] = { in.shape[0], in.shape[1], out_h, out_w };
    op.dst = vlm_tensor_new(x, VLM_DTYPE_F32, 4, shape);
    return dispatch(x, &op);
}

// Block dtypes: only to F32, from a contiguous source.
static bool copy_dtypes_ok(const struct vlm_tensor * from, enum vlm_dtype to) {
    if (vlm_dtype_is_block(from->dtype)) return to == VLM_DTYPE_F32 && vlm_tensor_is_contiguous(from);
    if (from->dtype == to) return (unsigned)to < VLM_DTYPE_COUNT && !vlm_dtype_is_block(to);
    if (is_float_dtype(to)) return is_float_dtype(from->dtype) || from->dtype == VLM_DTYPE_I32 || from->dtype == VLM_DTYPE_U8;
    return to == VLM_DTYPE_U8 && is_float_dtype(from->dtype);   // rounded half to even, clamped to [0, 255]
}

struct vlm_tensor vlm_op_copy(struct vlm_ctx * x, struct vlm_tensor in, enum vlm_dtype dtype) {
    const char * name = "copy";
    if (!check_tensor(x, name, "input", &in)) return tensor_empty();
    if (!copy_dtypes_ok(&in, dtype)) {
        vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "copy: cannot convert %s to %s", vlm_dtype_name(in.dtype),
                     vlm_dtype_name(dtype));
        return tensor_empty();
    }
    struct vlm_op op;
    op_init(&op, VLM_OP_COPY);
    op.src[0] = in;
    op.dst    = new_like(x, &in, dtype);
    return dispatch(x, &op);
}

void vlm_op_copy_into(struct vlm_ctx * x, struct vlm_tensor dst, struct vlm_tensor src) {
    const char * name = "copy_into";
    if (!check_tensor(x, name, "source", &src) || !check_tensor(x, name, "destination", &dst)) return;
    bool same = src.n_dims == dst.n_dims;
    for (int i = 0; same && i < src.n_dims; i++) same = src.shape[i] == dst.shape[i];
    if (!same) {
        fail_shapes(x, name, "shapes differ", &dst, &src);
        return;
    }
    if (!copy_dtypes_ok(&src, dst.dtype)) {
        vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "copy_into: cannot convert %s to %s", vlm_dtype_name(src.dtype),
                     vlm_dtype_name(dst.dtype));
        return;
    }
    struct vlm_op op;
    op_init(&op, VLM_OP_COPY);
    op.src[0] = src;
    op.dst    = dst;
    dispatch(x, &op);
}

struct vlm_tensor vlm_op_concat(struct vlm_ctx * x, struct vlm_tensor a, struct vlm_tensor b, int32_t dim) {
    const char * name = "concat";
    if (!check_tensor(x, name, "a", &a) || !check_tensor(x, name, "b", &b)) return tensor_empty();
    if (dim < 0) dim += a.n_dims;
    bool ok = a.n_dims == b.n_dims && a.dtype == b.dtype && !vlm_dtype_is_block(a.dtype) && dim >= 0 && dim < a.n_dims;
    for (int i = 0; ok && i < a.n_dims; i++) ok = i == dim || a.shape[i] == b.shape[i];
    if (!ok) {
        fail_shapes(x, name, "shapes or dtypes do not match outside the concatenated dim", &a, &b);
        return tensor_empty();
    }
    int64_t shape[VLM_MAX_DIMS];
    memcpy(shape, a.shape, sizeof shape);
    shape[dim] += b.shape[dim];
    struct vlm_op op;
    op_init(&op, VLM_OP_CONCAT);
    op.src[0] = a;
    op.src[1] = b;
    op.i[0]   = dim;
    op.dst    = vlm_tensor_new(x, a.dtype, a.n_dims, shape);
    return dispatch(x, &op);
}

struct vlm_tensor vlm_op_gather(struct vlm_ctx * x, struct vlm_tensor table, struct vlm_tensor ids) {
    const char * name = "gather";
    if (!check_tensor(x, name, "table", &table) || !check_tensor(x, name, "ids", &ids)) return tensor_empty();
    bool table_ok = is_float_dtype(table.dtype) || (vlm_dtype_is_block(table.dtype) && vlm_tensor_is_contiguous(&table));
    if (table.n_dims != 2 || !table_ok || ids.dtype != VLM_DTYPE_I32 || ids.n_dims > 3) {
        fail_shapes(x, name, "expected a float or contiguous quantized table [V, D] and i32 ids of up to 3 dims", &table, &ids);
        return tensor_empty();
    }
    int64_t shape[VLM_MAX_DIMS];
    for (int i = 0; i < ids.n_dims; i++) shape[i] = ids.shape[i];
    shape[ids.n_dims] = table.shape[1];
    struct vlm_op op;
    op_init(&op, VLM_OP_GATHER);
    op.src[0] = table;
    op.src[1] = ids;
    op.dst    = vlm_tensor_new(x, VLM_DTYPE_F32, ids.n_dims + 1, shape);
    return dispatch(x, &op);
}

struct vlm_tensor vlm_op_rope(struct vlm_ctx * x, struct vlm_tensor in, int32_t pos0, float theta, enum vlm_rope_mode mode) {
    const char * name = "rope";
    if (!as_f32(x, name, "input", &in)) return tensor_empty();
    if (in.n_dims != 4 || in.shape[3] % 2 != 0 || !(theta > 0.0f) ||
        (mode != VLM_ROPE_NORMAL && mode != VLM_ROPE_NEOX) || pos0 < 0) {
        fail_shapes(x, name, "expected [B, H, T, D] with even D, theta > 0, pos0 >= 0 and a known mode", &in, NULL);
        return tensor_empty();
    }
    struct vlm_op op;
    op_init(&op, VLM_OP_ROPE);
    op.src[0] = in;
    op.i[0]   = pos0;
    op.i[1]   = (int32_t)mode;
    op.f[0]   = theta;
    op.dst    = new_like(x, &in, VLM_DTYPE_F32);
    return dispatch(x, &op);
}
