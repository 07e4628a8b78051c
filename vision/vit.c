// vit.c — the shared pre-norm transformer block (see vit.h).
#include <math.h>

#include "vit.h"

#define SHAPE(...) ((const int64_t[]){ __VA_ARGS__ })

static struct vlm_tensor get(struct vlm_ctx * x, const struct vlm_weights * w, int32_t n_dims, const int64_t * shape,
                             const char * prefix, int32_t layer, const char * suffix) {
    return vlm_weights_getf(x, w, n_dims, shape, "%s%d.%s", prefix, layer, suffix);
}

void vlm_vit_block_bind(struct vlm_ctx * x, const struct vlm_weights * w, const struct vlm_vit_tower * tw,
                        const struct vlm_vit_block_names * nm, const char * prefix, int32_t l, struct vlm_vit_block * b) {
    int64_t d = tw->width, m = tw->mlp;
    b->ln1_w = get(x, w, 1, SHAPE(d), prefix, l, nm->ln1_w);
    b->ln1_b = get(x, w, 1, SHAPE(d), prefix, l, nm->ln1_b);
    b->ln2_w = get(x, w, 1, SHAPE(d), prefix, l, nm->ln2_w);
    b->ln2_b = get(x, w, 1, SHAPE(d), prefix, l, nm->ln2_b);
    if (nm->qkv_w) {
        b->qkv_w = get(x, w, 2, SHAPE(3 * d, d), prefix, l, nm->qkv_w);
        b->qkv_b = get(x, w, 1, SHAPE(3 * d), prefix, l, nm->qkv_b);
    } else {
        b->q_w = get(x, w, 2, SHAPE(d, d), prefix, l, nm->q_w);
        b->q_b = get(x, w, 1, SHAPE(d), prefix, l, nm->q_b);
        b->k_w = get(x, w, 2, SHAPE(d, d), prefix, l, nm->k_w);
        b->k_b = get(x, w, 1, SHAPE(d), prefix, l, nm->k_b);
        b->v_w = get(x, w, 2, SHAPE(d, d), prefix, l, nm->v_w);
        b->v_b = get(x, w, 1, SHAPE(d), prefix, l, nm->v_b);
    }
    b->out_w = get(x, w, 2, SHAPE(d, d), prefix, l, nm->out_w);
    b->out_b = get(x, w, 1, SHAPE(d), prefix, l, nm->out_b);
    b->fc1_w = get(x, w, 2, SHAPE(m, d), prefix, l, nm->fc1_w);
    b->fc1_b = get(x, w, 1, SHAPE(m), prefix, l, nm->fc1_b);
    b->fc2_w = get(x, w, 2, SHAPE(d, m), prefix, l, nm->fc2_w);
    b->fc2_b = get(x, w, 1, SHAPE(d), prefix, l, nm->fc2_b);
}

struct vlm_tensor vlm_vit_heads_view(struct vlm_tensor t, int64_t col, int64_t heads, int64_t hd) {
    struct vlm_tensor v = t;
    int64_t b = t.shape[0], n = t.shape[1], row = t.stride[1];
    v.n_dims = 4;
    v.shape[0] = b, v.shape[1] = heads, v.shape[2] = n, v.shape[3] = hd;
    v.stride[0] = t.stride[0], v.stride[1] = hd, v.stride[2] = row, v.stride[3] = 1;
    v.offset = t.offset + (size_t)col * vlm_dtype_size(t.dtype);
    return v;
}

// ref: clip/model.py ResidualAttentionBlock.forward (transformers CLIPEncoderLayer.forward,
// llama.cpp tools/mtmd/clip.cpp clip_graph::build_vit with NORM_TYPE_NORMAL):
//   x = x + out_proj(attn(ln_1(x)));  x = x + c_proj(act(c_fc(ln_2(x))))
void vlm_vit_block_forward(struct vlm_ctx * ctx, const struct vlm_vit_tower * tw, const struct vlm_vit_block * b,
                           struct vlm_tensor x, bool causal) {
    int64_t bsz = x.shape[0], t = x.shape[1], d = tw->width, heads = tw->heads, hd = d / heads;
    size_t mark = vlm_arena_mark(ctx);
    struct vlm_tensor h = vlm_op_layer_norm(ctx, x, &b->ln1_w, &b->ln1_b, tw->eps);   // [B, T, D]
    struct vlm_tensor q, k, v;
    if (b->qkv_w.n_dims) {
        // nn.MultiheadAttention: in_proj packs q, k, v row blocks in that order
        struct vlm_tensor qkv = vlm_op_linear(ctx, h, b->qkv_w, &b->qkv_b);          // [B, T, 3D]
        q = vlm_vit_heads_view(qkv, 0, heads, hd);                                   // [B, H, T, hd]
        k = vlm_vit_heads_view(qkv, d, heads, hd);
        v = vlm_vit_heads_view(qkv, 2 * d, heads, hd);
    } else {
        q = vlm_vit_heads_view(vlm_op_linear(ctx, h, b->q_w, &b->q_b), 0, heads, hd); // [B, H, T, hd]
        k = vlm_vit_heads_view(vlm_op_linear(ctx, h, b->k_w, &b->k_b), 0, heads, hd);
        v = vlm_vit_heads_view(vlm_op_linear(ctx, h, b->v_w, &b->v_b), 0, heads, hd);
    }
    if (!vlm_ctx_ok(ctx)) return;
    struct vlm_attention_params ap = { .scale = 1.0f / sqrtf((float)hd), .causal = causal };
    struct vlm_tensor a = vlm_op_attention(ctx, q, k, v, &ap);                          // [B, H, T, hd]
    a = vlm_op_copy(ctx, vlm_tensor_permute(a, (const int32_t[]){ 0, 2, 1, 3 }), VLM_DTYPE_F32);   // [B, T, H, hd]
    a = vlm_tensor_reshape(a, 3, SHAPE(bsz, t, d));                                     // [B, T, D]
    a = vlm_op_linear(ctx, a, b->out_w, &b->out_b);
    vlm_op_copy_into(ctx, x, vlm_op_add(ctx, x, a));
    vlm_arena_reset(ctx, mark);

    h = vlm_op_layer_norm(ctx, x, &b->ln2_w, &b->ln2_b, tw->eps);
    h = vlm_op_linear(ctx, h, b->fc1_w, &b->fc1_b);                                     // [B, T, M]
    h = vlm_op_unary(ctx, tw->act, h);
    h = vlm_op_linear(ctx, h, b->fc2_w, &b->fc2_b);                                     // [B, T, D]
    vlm_op_copy_into(ctx, x, vlm_op_add(ctx, x, h));
    vlm_arena_reset(ctx, mark);
}
