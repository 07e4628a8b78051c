// vit.h — the pre-norm transformer block shared by the ViT towers (CLIP's image and text
// towers, SigLIP): x = x + out(attn(ln1(x))); x = x + fc2(act(fc1(ln2(x)))), every projection
// with bias, heads split from the width. Straight-line C over core.h ops.
#ifndef VLM_VIT_H
#define VLM_VIT_H
#include "core.h"
#include "model-file.h"

// One block's weights (nn.Linear layout, [out, in]). Either the packed qkv projection
// (OpenAI CLIP's nn.MultiheadAttention in_proj) or separate q, k, v.
struct vlm_vit_block {
    struct vlm_tensor ln1_w, ln1_b, ln2_w, ln2_b;
    struct vlm_tensor qkv_w, qkv_b;                  // packed in_proj: [3D, D], [3D] (n_dims 0 when separate)
    struct vlm_tensor q_w, q_b, k_w, k_b, v_w, v_b;  // separate projections: [D, D], [D]
    struct vlm_tensor out_w, out_b;                  // [D, D], [D]
    struct vlm_tensor fc1_w, fc1_b;                  // [M, D], [M]
    struct vlm_tensor fc2_w, fc2_b;                  // [D, M], [D]
};

struct vlm_vit_tower {
    int32_t                width, layers, heads, mlp;
    float                  eps;      // LayerNorm epsilon
    enum vlm_unary         act;      // MLP activation
    struct vlm_vit_block * blocks;   // [layers]
};

// Tensor names of a block: "<prefix><layer>.<suffix>" for each suffix; qkv_w / qkv_b NULL when
// q, k and v are separate (then q_w ... v_b are used).
struct vlm_vit_block_names {
    const char * ln1_w, * ln1_b, * ln2_w, * ln2_b;
    const char * qkv_w, * qkv_b;
    const char * q_w, * q_b, * k_w, * k_b, * v_w, * v_b;
    const char * out_w, * out_b, * fc1_w, * fc1_b, * fc2_w, * fc2_b;
};

// Binds block `layer` of tower tw (its width and mlp give the shapes). A missing tensor or a
// wrong shape is recorded on x (sticky), naming the tensor.
void vlm_vit_block_bind(struct vlm_ctx * x, const struct vlm_weights * w, const struct vlm_vit_tower * tw,
                        const struct vlm_vit_block_names * names, const char * prefix, int32_t layer,
                        struct vlm_vit_block * b);

// A [B, H, T, hd] view of the heads of a [B, T, row] activation whose columns col..col+H*hd
// hold them (q, k or v of a packed qkv row, or a whole [B, T, D] projection).
struct vlm_tensor vlm_vit_heads_view(struct vlm_tensor t, int64_t col, int64_t heads, int64_t hd);

// One block over x [B, T, D], updated in place; every temporary is released before returning.
// causal: the key j > query i is masked (CLIP's text tower); vision towers are bidirectional.
void vlm_vit_block_forward(struct vlm_ctx * ctx, const struct vlm_vit_tower * tw, const struct vlm_vit_block * b,
                           struct vlm_tensor x, bool causal);
#endif
