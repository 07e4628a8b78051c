// test-sam-post.c — SAM's host mask post-processing (vlm_sam_postprocess_host: separable,
// only the crop of the img_size upsample, the second resize skipped when the crop has the
// original size, threaded over rows) against the direct per-pixel form of
// Sam.postprocess_masks (two bilinear resizes, align_corners=False, around a crop), on crops
// that resize up, down, and not at all, with 1 and 3 threads.
#include "harness.h"
#include "sam.h"

// ref: pytorch upsample_bilinear2d (align_corners=False): src = in / out * (dst + 0.5) - 0.5
// clamped at 0, two taps, lambda = src - floor; blended h0l * (w0l a + w1l b) + h1l * (w0l c + w1l d).
static void bilinear(const float * src, int sh, int sw, int stride, float * dst, int dh, int dw) {
    const float fy = (float)sh / (float)dh, fx = (float)sw / (float)dw;
    for (int oy = 0; oy < dh; oy++)
        for (int ox = 0; ox < dw; ox++) {
            float sy = fy * ((float)oy + 0.5f) - 0.5f, sx = fx * ((float)ox + 0.5f) - 0.5f;
            if (sy < 0) sy = 0;
            if (sx < 0) sx = 0;
            int y0 = (int)sy < sh - 1 ? (int)sy : sh - 1, x0 = (int)sx < sw - 1 ? (int)sx : sw - 1;
            int y1 = y0 + (y0 < sh - 1), x1 = x0 + (x0 < sw - 1);
            float h1l = sy - (float)y0, h0l = 1.0f - h1l, w1l = sx - (float)x0, w0l = 1.0f - w1l;
            const float * r0 = src + (size_t)y0 * stride, * r1 = src + (size_t)y1 * stride;
            dst[(size_t)oy * dw + ox] = h0l * (w0l * r0[x0] + w1l * r0[x1]) + h1l * (w0l * r1[x0] + w1l * r1[x1]);
        }
}

static void check(int M, int S, int in_h, int in_w, int orig_h, int orig_w, int n_threads) {
    struct vlm_sam_model sm = { .mask_input_size = M, .img_size = S };
    float * low = malloc(sizeof(float) * (size_t)M * M), * up = malloc(sizeof(float) * (size_t)S * S);
    float * want = malloc(sizeof(float) * (size_t)orig_h * orig_w), * got = malloc(sizeof(float) * (size_t)orig_h * orig_w);
    float * scratch = malloc(sizeof(float) * vlm_sam_post_scratch(in_h, in_w, orig_h, orig_w));
    uint64_t s = 99;
    for (int i = 0; i < M * M; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        low[i] = (float)((int64_t)(s >> 40) - (1 << 23)) / (float)(1 << 20);   // logits in [-8, 8)
    }
    bilinear(low, M, M, M, up, S, S);
    bilinear(up, in_h, in_w, S, want, orig_h, orig_w);   // the crop [:in_h, :in_w] read in place
    bool ok = vlm_sam_postprocess_host(&sm, low, in_h, in_w, orig_h, orig_w, got, scratch, n_threads);
    double worst = 0;
    for (int i = 0; ok && i < orig_h * orig_w; i++) worst = fmax(worst, fabs((double)got[i] - want[i]));
    CHECK(ok && worst <= 1e-5, "postprocess %dx%d -> crop %dx%d of %dx%d -> %dx%d, %d threads: max abs %.3g", M, M, in_h, in_w,
          S, S, orig_h, orig_w, n_threads, worst);
    free(low), free(up), free(want), free(got), free(scratch);
}

int main(void) {
    for (int t = 1; t <= 3; t += 2) {
        check(16, 64, 64, 40, 50, 31, t);    // a tall crop, downscaled to the original
        check(16, 64, 37, 64, 90, 157, t);   // a wide crop, upscaled
        check(16, 64, 64, 40, 64, 40, t);    // the crop is the original size: one resize
        check(16, 64, 64, 64, 64, 64, t);    // no crop at all
        check(32, 96, 5, 96, 1, 19, t);      // a thin crop, one output row
    }
    TEST_END();
}
