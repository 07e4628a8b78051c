// sam-post.c — SAM mask post-processing (Sam.postprocess_masks): low-res logits -> input
// frame -> crop -> original size, bilinear with align_corners=False and no antialiasing; on the
// host (separable, only the crop, threaded) or as ops on the Vulkan backend. EfficientSAM:
// low-res logits -> original size in one bicubic resize, on the host. Also torch's bilinear and
// bicubic F.interpolate of one plane (EfficientSAM's input and pos_embed).
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "sam.h"

// ref: pytorch aten/src/ATen/native/UpSample.h area_pixel_compute_source_index (align_corners
// False, linear) and upsample_bilinear2d: src = scale * (dst + 0.5) - 0.5 clamped at 0,
// i0 = (int)src, i1 = i0 + (i0 < in - 1), lambda = src - i0; scale = in / out in float.
static void coeffs_one(int32_t in, float scale, int32_t d, int32_t * i0, int32_t * i1, float * l1) {
    float s = scale * ((float)d + 0.5f) - 0.5f;
    if (s < 0) s = 0;
    int32_t a = (int32_t)s;
    if (a > in - 1) a = in - 1;
    *i0 = a;
    *i1 = a + (a < in - 1 ? 1 : 0);
    *l1 = s - (float)a;
}

// One bilinear pass, rows [r0, r1) of a dst_h x dst_w window at the top left of the
// full_h x full_w resize of src: separable, each source row's horizontal interpolation
// computed once (row scratch: 2 * dst_w floats) and blended in the same order as upstream's
// h0l * (w0l * a + w1l * b) + h1l * (w0l * c + w1l * d), so the result is identical.
struct taps { int32_t * i0, * i1; float * l1; };

static void bilinear_rows(const float * src, int64_t src_stride, const struct taps * ty, const struct taps * tx, float * dst,
                          int32_t dst_w, int32_t r0, int32_t r1, float * rows) {
    int32_t have[2] = { -1, -1 };   // source row held by each scratch row
    for (int32_t oy = r0; oy < r1; oy++) {
        const float * h[2];
        const int32_t want[2] = { ty->i0[oy], ty->i1[oy] };
        for (int k = 0; k < 2; k++) {
            int32_t slot = have[0] == want[k] ? 0 : have[1] == want[k] ? 1 : -1;
            if (slot < 0) {
                slot = have[0] == want[1 - k] ? 1 : 0;   // keep the row the other tap uses
                const float * r = src + (int64_t)want[k] * src_stride;
                float * o = rows + (size_t)slot * dst_w;
                for (int32_t ox = 0; ox < dst_w; ox++) {
                    const float w1l = tx->l1[ox], w0l = 1.0f - w1l;
                    o[ox] = w0l * r[tx->i0[ox]] + w1l * r[tx->i1[ox]];
                }
                have[slot] = want[k];
            }
            h[k] = rows + (size_t)slot * dst_w;
        }
        const float h1l = ty->l1[oy], h0l = 1.0f - h1l;
        float * o = dst + (int64_t)oy * dst_w;
        for (int32_t ox = 0; ox < dst_w; ox++) o[ox] = h0l * h[0][ox] + h1l * h[1][ox];
    }
}

// Taps of the first dst_n of full_n outputs from in_n inputs; NULL when out of memory.
static bool taps_new(int32_t in, int32_t full, int32_t dst_n, struct taps * t) {
    t->i0 = malloc(sizeof(int32_t) * (size_t)dst_n * 2);
    t->l1 = malloc(sizeof(float) * (size_t)dst_n);
    if (!t->i0 || !t->l1) {
        free(t->i0);
        free(t->l1);
        t->i0 = NULL;   // taps_free may follow
        t->l1 = NULL;
        return false;
    }
    t->i1 = t->i0 + dst_n;
    const float scale = (float)in / (float)full;
    for (int32_t d = 0; d < dst_n; d++) coeffs_one(in, scale, d, &t->i0[d], &t->i1[d], &t->l1[d]);
    return true;
}

static void taps_free(struct taps * t) {
    free(t->i0);
    free(t->l1);
}

// ref: pytorch aten/src/ATen/native/UpSample.h get_cubic_upsample_coefficients (A = -0.75) and
// cpu/UpSampleKernel.cpp compute_indices_weights_cubic: src = scale * (dst + 0.5) - 0.5 (not
// clamped), i = floor(src), t = src - i; taps i - 1 .. i + 2 clamped to the input; float.
struct cubic_taps { int32_t * i; float * w; };   // [n, 4] each

static bool cubic_taps_new(int32_t in, int32_t out, struct cubic_taps * t) {
    t->i = malloc(sizeof(int32_t) * 4 * (size_t)out);
    t->w = malloc(sizeof(float) * 4 * (size_t)out);
    if (!t->i || !t->w) {
        free(t->i);
        free(t->w);
        return false;
    }
    const float scale = (float)in / (float)out, A = -0.75f;
    for (int32_t d = 0; d < out; d++) {
        const float src = scale * ((float)d + 0.5f) - 0.5f;
        int32_t i0 = (int32_t)floorf(src);
        if (i0 > in - 1) i0 = in - 1;
        float x = src - (float)i0;   // guard_index_and_lambda: clamped to [0, 1]
        x = x < 0 ? 0 : x > 1 ? 1 : x;
        const float x1 = x + 1.0f, x2 = 1.0f - x, x3 = x2 + 1.0f;
        float * w = t->w + 4 * (size_t)d;
        w[0] = ((A * x1 - 5 * A) * x1 + 8 * A) * x1 - 4 * A;   // cubic_convolution2
        w[1] = ((A + 2) * x - (A + 3)) * x * x + 1;             // cubic_convolution1
        w[2] = ((A + 2) * x2 - (A + 3)) * x2 * x2 + 1;
        w[3] = ((A * x3 - 5 * A) * x3 + 8 * A) * x3 - 4 * A;
        for (int32_t k = 0; k < 4; k++) {
            int32_t j = i0 - 1 + k;
            t->i[4 * (size_t)d + k] = j < 0 ? 0 : j > in - 1 ? in - 1 : j;
        }
    }
    return true;
}

// Separable, horizontal taps first: each output is sum_y wy * (sum_x wx * src), accumulated in
// upstream's order (cpu/UpSampleKernel.cpp Interpolate<2>::eval), so the result is the same.
static bool bicubic_plane(const float * src, int32_t in_h, int32_t in_w, float * dst, int32_t out_h, int32_t out_w) {
    struct cubic_taps ty = { 0 }, tx = { 0 };
    float * rows = malloc(sizeof(float) * (size_t)in_h * (size_t)out_w);
    bool ok = rows && cubic_taps_new(in_h, out_h, &ty);
    if (ok && !cubic_taps_new(in_w, out_w, &tx)) {
        free(ty.i);
        free(ty.w);
        ok = false;
    }
    if (ok) {
        for (int32_t y = 0; y < in_h; y++) {
            const float * r = src + (size_t)y * in_w;
            float * o = rows + (size_t)y * out_w;
            for (int32_t x = 0; x < out_w; x++) {
                const int32_t * i = tx.i + 4 * (size_t)x;
                const float * w = tx.w + 4 * (size_t)x;
                float acc = r[i[0]] * w[0];
                for (int k = 1; k < 4; k++) acc += r[i[k]] * w[k];
                o[x] = acc;
            }
        }
        for (int32_t y = 0; y < out_h; y++) {
            const int32_t * i = ty.i + 4 * (size_t)y;
            const float * w = ty.w + 4 * (size_t)y;
            float * o = dst + (size_t)y * out_w;
            for (int32_t x = 0; x < out_w; x++) {
                float acc = rows[(size_t)i[0] * out_w + x] * w[0];
                for (int k = 1; k < 4; k++) acc += rows[(size_t)i[k] * out_w + x] * w[k];
                o[x] = acc;
            }
        }
        free(ty.i);
        free(ty.w);
        free(tx.i);
        free(tx.w);
    }
    free(rows);
    return ok;
}

bool vlm_interp_plane(const float * src, int32_t in_h, int32_t in_w, float * dst, int32_t out_h, int32_t out_w, bool bicubic) {
    if (bicubic) return bicubic_plane(src, in_h, in_w, dst, out_h, out_w);
    struct taps ty = { 0 }, tx = { 0 };
    float * rows = malloc(2 * sizeof(float) * (size_t)out_w);
    bool ok = rows && taps_new(in_h, out_h, out_h, &ty) && taps_new(in_w, out_w, out_w, &tx);
    if (ok) bilinear_rows(src, in_w, &ty, &tx, dst, out_w, 0, out_h, rows);
    taps_free(&ty);
    taps_free(&tx);
    free(rows);
    return ok;
}

size_t vlm_sam_post_scratch(int32_t in_h, int32_t in_w, int32_t orig_h, int32_t orig_w) {
    const bool resize = in_h != orig_h || in_w != orig_w;
    return (resize ? (size_t)in_h * (size_t)in_w : 0) + 2 * (size_t)(in_w > orig_w ? in_w : orig_w);
}

// ref: segment_anything/modeling/sam.py Sam.postprocess_masks, on the host
bool vlm_sam_postprocess_host(const struct vlm_sam_model * sm, const float * low_res, int32_t in_h, int32_t in_w, int32_t orig_h,
                              int32_t orig_w, float * out, float * scratch, int32_t n_threads) {
    const int32_t M = sm->mask_input_size, S = sm->img_size;
    // ref: efficient_sam.py EfficientSam.predict_masks: F.interpolate(low_res_masks, (output_h,
    // output_w), mode="bicubic") of the original size, no crop
    if (sm->effsam) return vlm_interp_plane(low_res, M, M, out, orig_h, orig_w, true);
    const bool resize = in_h != orig_h || in_w != orig_w;
    float * up = resize ? scratch : out;   // the [in_h, in_w] crop of the S x S upsample
    float * rows = resize ? scratch + (size_t)in_h * (size_t)in_w : scratch;
    struct taps ty = { 0 }, tx = { 0 }, oy = { 0 }, ox = { 0 };
    bool ok = taps_new(M, S, in_h, &ty) && taps_new(M, S, in_w, &tx);
    if (ok && resize) ok = taps_new(in_h, orig_h, orig_h, &oy) && taps_new(in_w, orig_w, orig_w, &ox);
    if (ok) {
        // each thread a contiguous share of the rows and its own two scratch rows
        #pragma omp parallel num_threads(n_threads > 1 ? n_threads : 1)
        {
            const int nt = omp_get_num_threads(), t = omp_get_thread_num();
            float * my_rows = n_threads > 1 ? malloc(2 * sizeof(float) * (size_t)(in_w > orig_w ? in_w : orig_w)) : rows;
            if (my_rows) {
                bilinear_rows(low_res, M, &ty, &tx, up, in_w, (int32_t)((int64_t)in_h * t / nt), (int32_t)((int64_t)in_h * (t + 1) / nt),
                              my_rows);
            }
            #pragma omp barrier
            if (my_rows && resize) {
                bilinear_rows(up, in_w, &oy, &ox, out, orig_w, (int32_t)((int64_t)orig_h * t / nt),
                              (int32_t)((int64_t)orig_h * (t + 1) / nt), my_rows);
            }
            if (!my_rows) {
                #pragma omp atomic write
                ok = false;
            }
            if (my_rows != rows) free(my_rows);
        }
    }
    taps_free(&ty);
    taps_free(&tx);
    taps_free(&oy);
    taps_free(&ox);
    return ok;
}

// ref: segment_anything/modeling/sam.py Sam.postprocess_masks, predictor.py SamPredictor.predict_torch
// (masks > mask_threshold)
enum vlm_status vlm_sam_postprocess(struct vlm_ctx * x, struct vlm_sam_model * sm, const float * low_res, int32_t in_h, int32_t in_w,
                                    int32_t orig_h, int32_t orig_w, uint8_t * mask) {
    if (!vlm_ctx_ok(x)) return x->status;
    const int64_t M = sm->mask_input_size, S = sm->img_size;
    const size_t HW = (size_t)orig_h * (size_t)orig_w;
    size_t need = 0;   // the two resizes, the step and the bytes
    bool fits = vlm_mul_size(HW, 2 * sizeof(float) + 1, &need) &&
                vlm_add_size(need, (size_t)(S * S + M * M) * sizeof(float) + 4096, &need) &&
                x->arena_used + need <= x->arena_size;
    if (x->backend == VLM_BACKEND_KIND_CPU || !fits || sm->effsam) {
        // on the host: the CPU backend, and outputs larger than the activation arena
        float * logits = malloc(sizeof(float) * (HW + vlm_sam_post_scratch(in_h, in_w, orig_h, orig_w)));
        bool ok = logits && vlm_sam_postprocess_host(sm, low_res, in_h, in_w, orig_h, orig_w, logits, logits + HW, x->n_threads);
        for (size_t t = 0; ok && t < HW; t++) mask[t] = logits[t] > 0.0f;
        free(logits);
        return ok ? x->status : vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    const size_t mark = vlm_arena_mark(x);
    struct vlm_tensor lr = vlm_tensor_from_host(x, VLM_DTYPE_F32, 4, (int64_t[]){ 1, 1, M, M }, low_res);
    struct vlm_tensor up = vlm_op_interpolate(x, lr, S, S, false);                           // [1, 1, S, S]
    struct vlm_tensor crop = vlm_tensor_slice(vlm_tensor_slice(up, 2, 0, in_h), 3, 0, in_w); // [1, 1, in_h, in_w]
    struct vlm_tensor o = vlm_op_interpolate(x, crop, orig_h, orig_w, false);                // [1, 1, H, W]
    struct vlm_tensor m = vlm_op_copy(x, vlm_op_unary(x, VLM_UNARY_STEP, o), VLM_DTYPE_U8);  // [1, 1, H, W] of 0 / 1
    vlm_tensor_download(x, m, mask);
    vlm_arena_reset(x, mark);
    return x->status;
}
