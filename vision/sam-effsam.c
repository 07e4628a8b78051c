// sam-effsam.c — EfficientSAM's image encoder and input (yformer/EfficientSAM
// efficient_sam/efficient_sam_encoder.py ImageEncoderViT, efficient_sam.py EfficientSam): a plain
// ViT (patch embedding, absolute positions resized from the 224-pixel pretraining grid, pre-norm
// blocks of global attention and a GELU MLP) and SAM's neck (sam-encoder.c). Its prompt encoder,
// decoder and mask resize are SAM's code branching on sm->effsam (sam-prompt.c, sam-decoder.c,
// sam-post.c); the weights are bound in sam-model.c.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "model.h"
#include "sam.h"
#include "vit.h"

#define F32 VLM_DTYPE_F32

struct vlm_effsam {
    struct vlm_vit_tower tower;   // the blocks (width, heads, MLP, eps 1e-6, GELU)
    struct vlm_buffer *  buf;     // pos
    struct vlm_tensor    pos;     // [1, G, G, D]: pos_embed without its class token, resized to the grid
};

// ref: efficient_sam_decoder.py PromptEncoder.invalid_points: EfficientSAM's alone
bool vlm_effsam_detect(const struct vlm_safetensors * st) {
    return vlm_safetensors_find(st, "prompt_encoder.invalid_points.weight") != NULL;
}

// ref: efficient_sam_encoder.py get_abs_pos(abs_pos, has_cls_token=True, [G, G]): the [1, 1 + s*s, D]
// table less its class token as an s x s grid, F.interpolate(mode="bicubic", align_corners=False)
// to G x G when s != G. pos: host [1 + s*s, D] -> out [G*G, D].
static bool resize_pos(const float * pos, int64_t s, int64_t D, int64_t G, float * out) {
    if (s == G) {
        memcpy(out, pos + D, (size_t)(G * G * D) * sizeof(float));
        return true;
    }
    float * a = malloc((size_t)(s * s + G * G) * sizeof(float)), * b = a ? a + s * s : NULL;
    bool ok = a != NULL;
    for (int64_t c = 0; c < D && ok; c++) {
        for (int64_t i = 0; i < s * s; i++) a[i] = pos[(1 + i) * D + c];
        ok = vlm_interp_plane(a, (int32_t)s, (int32_t)s, b, (int32_t)G, (int32_t)G, true);
        for (int64_t i = 0; ok && i < G * G; i++) out[i * D + c] = b[i];
    }
    free(a);
    return ok;
}

enum vlm_status vlm_effsam_init(struct vlm_sam_model * sm, int32_t depth, int32_t heads, int32_t mlp) {
    struct vlm_ctx * x = sm->ctx;
    const struct vlm_weights * w = sm->model->weights;
    const int64_t G = sm->grid, D = sm->embed_dim;
    struct vlm_effsam * e = calloc(1, sizeof *e);
    if (!e) return vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    sm->effsam = e;
    // ref: efficient_sam_encoder.py Block(dim, num_heads, mlp_ratio, qkv_bias=True): norm1 / norm2
    // LayerNorm(eps=1e-6), Attention (packed qkv, head_dim ** -0.5), Mlp fc1 -> GELU -> fc2
    e->tower = (struct vlm_vit_tower){ .width = (int32_t)D, .layers = depth, .heads = heads, .mlp = mlp, .eps = 1e-6f,
                                       .act = VLM_UNARY_GELU_ERF };
    e->tower.blocks = calloc((size_t)(depth ? depth : 1), sizeof *e->tower.blocks);
    if (!e->tower.blocks) return vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    static const struct vlm_vit_block_names names = {
        .ln1_w = "norm1.weight", .ln1_b = "norm1.bias", .ln2_w = "norm2.weight", .ln2_b = "norm2.bias",
        .qkv_w = "attn.qkv.weight", .qkv_b = "attn.qkv.bias", .out_w = "attn.proj.weight", .out_b = "attn.proj.bias",
        .fc1_w = "mlp.fc1.weight", .fc1_b = "mlp.fc1.bias", .fc2_w = "mlp.fc2.weight", .fc2_b = "mlp.fc2.bias",
    };
    for (int32_t i = 0; i < depth && vlm_ctx_ok(x); i++)
        vlm_vit_block_bind(x, w, &e->tower, &names, "image_encoder.blocks.", i, &e->tower.blocks[i]);

    // pos_embed [1, 1 + s*s, D] (ImageEncoderViT.__init__: the 224-pixel pretraining grid + a class token)
    struct vlm_tensor pe = vlm_weights_get(x, w, "image_encoder.pos_embed", 3, (int64_t[]){ 1, -1, D });
    if (!vlm_ctx_ok(x)) return x->status;
    int64_t n = pe.shape[1] - 1, s = (int64_t)llround(sqrt((double)(n > 0 ? n : 0)));
    if (n < 1 || s * s != n)
        return vlm_ctx_fail(x, VLM_STATUS_BAD_MODEL, "image_encoder.pos_embed: %lld positions are not a square grid plus a "
                            "class token", (long long)pe.shape[1]);
    size_t mark = vlm_arena_mark(x);
    if (pe.dtype != F32) pe = vlm_op_copy(x, pe, F32);
    float * host = malloc((size_t)(pe.shape[1] * D + G * G * D) * sizeof(float)), * out = host ? host + pe.shape[1] * D : NULL;
    if (!host) return vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    vlm_tensor_download(x, pe, host);
    vlm_arena_reset(x, mark);
    if (vlm_ctx_ok(x) && !resize_pos(host, s, D, G, out)) vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    if (vlm_ctx_ok(x) && (e->buf = vlm_buffer_new(x, (size_t)(G * G * D) * sizeof(float)))) {
        e->pos = vlm_tensor_in(e->buf, 0, F32, 4, (int64_t[]){ 1, G, G, D });
        vlm_tensor_upload(x, e->pos, out);
        vlm_ctx_sync(x);
    }
    free(host);
    return x->status;
}

void vlm_effsam_free(struct vlm_sam_model * sm) {
    struct vlm_effsam * e = sm->effsam;
    if (!e) return;
    if (e->buf && sm->ctx) vlm_buffer_free(sm->ctx, e->buf);
    free(e->tower.blocks);
    free(e);
    sm->effsam = NULL;
}

// ref: efficient_sam_encoder.py ImageEncoderViT.forward
enum vlm_status vlm_effsam_encode(struct vlm_ctx * x, struct vlm_sam_model * sm, const float * pixels, struct vlm_tensor out) {
    const struct vlm_effsam * e = sm->effsam;
    const size_t mark = vlm_arena_mark(x);
    const int64_t G = sm->grid, D = sm->embed_dim, S = sm->img_size, T = G * G;
    struct vlm_tensor img = vlm_tensor_from_host(x, F32, 4, (int64_t[]){ 1, 3, S, S }, pixels);
    struct vlm_tensor pe = vlm_op_conv2d(x, img, sm->patch_w, &sm->patch_b, sm->patch, 0);             // [1, D, G, G]
    struct vlm_tensor h = vlm_op_add(x, vlm_tensor_permute(pe, (int32_t[]){ 0, 2, 3, 1 }), e->pos);   // [1, G, G, D]
    h = vlm_tensor_reshape(h, 3, (int64_t[]){ 1, T, D });
    for (int32_t i = 0; i < e->tower.layers && vlm_ctx_ok(x); i++) vlm_vit_block_forward(x, &e->tower, &e->tower.blocks[i], h, false);
    vlm_sam_neck(x, sm, vlm_tensor_reshape(h, 2, (int64_t[]){ T, D }), out);                             // [1, C, G, G]
    vlm_ctx_sync(x);
    vlm_arena_reset(x, mark);
    return x->status;
}

enum vlm_status vlm_effsam_preprocess(const struct vlm_sam_model * sm, const struct vlm_image * img, float * out) {
    const int32_t S = sm->img_size, H = img->height, W = img->width;
    float * plane = malloc((size_t)H * (size_t)W * sizeof(float));
    if (!plane) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    bool ok = true;
    for (int32_t c = 0; c < 3 && ok; c++) {
        // torchvision ToTensor: uint8 / 255 in float
        for (size_t i = 0; i < (size_t)H * (size_t)W; i++) plane[i] = (float)img->data[3 * i + (size_t)c] / 255.0f;
        float * o = out + (size_t)c * S * S;   // [S, S]
        ok = vlm_interp_plane(plane, H, W, o, S, S, false);
        for (size_t i = 0; ok && i < (size_t)S * S; i++) o[i] = (o[i] - sm->pixel_mean[c]) / sm->pixel_std[c];
    }
    free(plane);
    return ok ? VLM_STATUS_OK : vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
}
