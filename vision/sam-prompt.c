// sam-prompt.c — SAM prompt encoder: Fourier features of points and box corners (host side,
// a few values per prompt), the dense positional encoding (computed once at load) and the
// mask-input downscaling network (ops).
#include <math.h>
#include <string.h>

#include "sam.h"

// ref: segment_anything/modeling/prompt_encoder.py PositionEmbeddingRandom._pe_encoding
// coords in [0, 1]: c = 2 * coords - 1; p = c @ G; p = 2 * pi * p; [sin(p), cos(p)] (float32).
void vlm_sam_pe_encode(const struct vlm_sam_model * sm, float x, float y, float * out) {
    const int32_t half = sm->prompt_dim / 2;
    const float cx = 2.0f * x - 1.0f, cy = 2.0f * y - 1.0f;
    const float two_pi = (float)(2.0 * M_PI);
    for (int32_t k = 0; k < half; k++) {
        float p = cx * sm->pe_gauss[k] + cy * sm->pe_gauss[half + k];
        p = two_pi * p;
        out[k] = sinf(p);
        out[half + k] = cosf(p);
    }
}

// ref: prompt_encoder.py PositionEmbeddingRandom.forward: grid (j + 0.5) / w, (i + 0.5) / h,
// laid out token-major [h*w, C] (the decoder's flatten(2).permute(0, 2, 1) order).
void vlm_sam_dense_pe_host(const struct vlm_sam_model * sm, float * out) {
    const int32_t G = sm->grid, C = sm->prompt_dim;
    for (int32_t i = 0; i < G; i++)
        for (int32_t j = 0; j < G; j++) {
            // cumsum(ones) - 0.5 then / size, in float32 as upstream
            float y = ((float)(i + 1) - 0.5f) / (float)G, x = ((float)(j + 1) - 0.5f) / (float)G;
            vlm_sam_pe_encode(sm, x, y, out + ((size_t)i * G + j) * C);
        }
}

int32_t vlm_sam_sparse_count(const struct vlm_sam_model * sm, int32_t n_points, bool has_box) {
    if (sm->effsam) return sm->max_points;   // points padded (truncated upstream) to decoder_max_num_input_points
    // points (+ a padding point when there is no box) + 2 box corners
    return (n_points > 0 ? n_points + (has_box ? 0 : 1) : 0) + (has_box ? 2 : 0);
}

// ref: efficient_sam.py EfficientSam.predict_masks (points padded to decoder_max_num_input_points
// with coordinates -1 and label -1) and efficient_sam_decoder.py PromptEncoder._embed_points: every
// point's PE of (p + 0.5) / size, plus invalid_points (-1), point_embeddings (1), the box corner
// embeddings (2, 3) or nothing (0); the padding's PE is kept. A box is its two corners, after the points.
static void effsam_sparse(const struct vlm_sam_model * sm, const float * coords, const int32_t * labels, int32_t n_points,
                          const float * box, float * out) {
    const int32_t C = sm->prompt_dim;
    const float S = (float)sm->img_size;
    for (int32_t i = 0; i < sm->max_points; i++) {
        float px = -1.0f, py = -1.0f;
        const float * e = sm->not_a_point;
        if (i < n_points) {
            px = coords[2 * i];
            py = coords[2 * i + 1];
            e = sm->point_embed + (size_t)(labels[i] == 1 ? 1 : 0) * C;
        } else if (box && i < n_points + 2) {
            px = box[2 * (i - n_points)];
            py = box[2 * (i - n_points) + 1];
            e = sm->point_embed + (size_t)(2 + i - n_points) * C;
        }
        float * o = out + (size_t)i * C;
        vlm_sam_pe_encode(sm, (px + 0.5f) / S, (py + 0.5f) / S, o);
        for (int32_t c = 0; c < C; c++) o[c] += e[c];
    }
}

// ref: prompt_encoder.py PromptEncoder._embed_points, _embed_boxes, forward (sparse part)
void vlm_sam_embed_sparse(const struct vlm_sam_model * sm, const float * coords, const int32_t * labels,
                          int32_t n_points, const float * box, float * out) {
    if (sm->effsam) return effsam_sparse(sm, coords, labels, n_points, box, out);
    const int32_t C = sm->prompt_dim;
    const float S = (float)sm->img_size;
    float * o = out;
    if (n_points > 0) {
        for (int32_t i = 0; i < n_points; i++, o += C) {
            // points + 0.5 (pixel centre), divided by the input size (x by width, y by height)
            vlm_sam_pe_encode(sm, (coords[2 * i] + 0.5f) / S, (coords[2 * i + 1] + 0.5f) / S, o);
            const float * e = sm->point_embed + (size_t)(labels[i] == 1 ? 1 : 0) * C;
            for (int32_t c = 0; c < C; c++) o[c] += e[c];
        }
        if (!box) {
            // padding point (0, 0) with label -1: its PE is zeroed, then not_a_point_embed added
            for (int32_t c = 0; c < C; c++) o[c] = 0.0f + sm->not_a_point[c];
            o += C;
        }
    }
    if (box) {
        for (int32_t k = 0; k < 2; k++, o += C) {
            vlm_sam_pe_encode(sm, (box[2 * k] + 0.5f) / S, (box[2 * k + 1] + 0.5f) / S, o);
            const float * e = sm->point_embed + (size_t)(2 + k) * C;
            for (int32_t c = 0; c < C; c++) o[c] += e[c];
        }
    }
}

// ref: prompt_encoder.py PromptEncoder.mask_downscaling: Conv(1->c/4, k2 s2) -> LayerNorm2d ->
// GELU -> Conv(c/4->c, k2 s2) -> LayerNorm2d -> GELU -> Conv(c->C, 1x1). [B,1,4G,4G] -> [B,C,G,G]
struct vlm_tensor vlm_sam_embed_masks(struct vlm_ctx * x, struct vlm_sam_model * sm, struct vlm_tensor masks) {
    struct vlm_tensor h = vlm_op_conv2d(x, masks, sm->md_w[0], &sm->md_b[0], 2, 0);
    h = vlm_op_layer_norm_2d(x, h, sm->md_ln_w[0], sm->md_ln_b[0], 1e-6f);
    h = vlm_op_unary(x, VLM_UNARY_GELU_ERF, h);
    h = vlm_op_conv2d(x, h, sm->md_w[1], &sm->md_b[1], 2, 0);
    h = vlm_op_layer_norm_2d(x, h, sm->md_ln_w[1], sm->md_ln_b[1], 1e-6f);
    h = vlm_op_unary(x, VLM_UNARY_GELU_ERF, h);
    return vlm_op_conv2d(x, h, sm->md_w[2], &sm->md_b[2], 1, 0);
}
