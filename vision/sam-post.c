// sam-post.c — SAM mask post-processing (Sam.postprocess_masks): low-res logits -> input
// frame -> crop -> original size, bilinear with align_corners=False and no antialiasing.
#include <stdlib.h>
#include <string.h>

#include "sam.h"

// ref: pytorch aten/src/ATen/native/UpSample.h area_pixel_compute_source_index (align_corners
// False, linear) and upsample_bilinear2d: src = scale * (dst + 0.5) - 0.5 clamped at 0,
// i0 = (int)src, i1 = i0 + (i0 < in - 1), lambda = src - i0; scale = in / out in float.
static void coeffs(int32_t in, int32_t out, int32_t * i0, int32_t * i1, float * l1) {
    const float scale = (float)in / (float)out;
    for (int32_t d = 0; d < out; d++) {
        float s = scale * ((float)d + 0.5f) - 0.5f;
        if (s < 0) s = 0;
        int32_t a = (int32_t)s;
        if (a > in - 1) a = in - 1;
        i0[d] = a;
        i1[d] = a + (a < in - 1 ? 1 : 0);
        l1[d] = s - (float)a;
    }
}

void vlm_sam_bilinear_host(const float * src, int32_t src_h, int32_t src_w, int64_t src_stride, float * dst,
                           int32_t dst_h, int32_t dst_w) {
    int32_t * y0 = malloc(sizeof(int32_t) * (size_t)(dst_h + dst_w) * 2);
    float * ly = malloc(sizeof(float) * (size_t)(dst_h + dst_w));
    if (!y0 || !ly) {
        free(y0);
        free(ly);
        memset(dst, 0, sizeof(float) * (size_t)dst_h * (size_t)dst_w);
        return;
    }
    int32_t *y1 = y0 + dst_h, *x0 = y1 + dst_h, *x1 = x0 + dst_w;
    float * lx = ly + dst_h;
    coeffs(src_h, dst_h, y0, y1, ly);
    coeffs(src_w, dst_w, x0, x1, lx);
    for (int32_t oy = 0; oy < dst_h; oy++) {
        const float h1l = ly[oy], h0l = 1.0f - h1l;
        const float * r0 = src + (int64_t)y0[oy] * src_stride;
        const float * r1 = src + (int64_t)y1[oy] * src_stride;
        float * o = dst + (int64_t)oy * dst_w;
        for (int32_t ox = 0; ox < dst_w; ox++) {
            const float w1l = lx[ox], w0l = 1.0f - w1l;
            o[ox] = h0l * (w0l * r0[x0[ox]] + w1l * r0[x1[ox]]) + h1l * (w0l * r1[x0[ox]] + w1l * r1[x1[ox]]);
        }
    }
    free(y0);
    free(ly);
}

// ref: segment_anything/modeling/sam.py Sam.postprocess_masks
enum vlm_status vlm_sam_postprocess(struct vlm_sam_model * sm, const float * low_res, int32_t in_h, int32_t in_w,
                                    int32_t orig_h, int32_t orig_w, float * out) {
    struct vlm_ctx * x = sm->ctx;
    if (!vlm_ctx_ok(x)) return x->status;
    const int64_t M = sm->mask_input_size, S = sm->img_size;
    size_t need = 0;
    bool fits = vlm_mul_size((size_t)orig_h, (size_t)orig_w, &need) && vlm_mul_size(need, sizeof(float), &need) &&
                vlm_add_size(need, (size_t)(S * S + M * M) * sizeof(float) + 4096, &need) &&
                x->arena_used + need <= x->arena_size;
    if (!fits) {
        // host path (same formula) for outputs larger than the activation arena
        float * up = malloc(sizeof(float) * (size_t)(S * S));
        if (!up) return vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "out of memory");
        vlm_sam_bilinear_host(low_res, (int32_t)M, (int32_t)M, M, up, (int32_t)S, (int32_t)S);
        vlm_sam_bilinear_host(up, in_h, in_w, S, out, orig_h, orig_w);
        free(up);
        return x->status;
    }
    const size_t mark = vlm_arena_mark(x);
    struct vlm_tensor lr = vlm_tensor_from_host(x, VLM_DTYPE_F32, 4, (int64_t[]){ 1, 1, M, M }, low_res);
    struct vlm_tensor up = vlm_op_interpolate(x, lr, S, S, false);                           // [1, 1, S, S]
    struct vlm_tensor crop = vlm_tensor_slice(vlm_tensor_slice(up, 2, 0, in_h), 3, 0, in_w); // [1, 1, in_h, in_w]
    struct vlm_tensor o = vlm_op_interpolate(x, crop, orig_h, orig_w, false);                // [1, 1, H, W]
    vlm_tensor_download(x, o, out);
    vlm_arena_reset(x, mark);
    return x->status;
}
