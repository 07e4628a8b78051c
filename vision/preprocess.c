// preprocess.c — model input preprocessing on the host: SAM (longest-side bilinear resize,
// normalize, zero pad) and CLIP (shorter-side bicubic resize, center crop, normalize), both
// bit-exact with the PIL-based reference pipelines up to float32 rounding.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "image.h"

// ref: segment_anything/modeling/sam.py Sam.__init__ (pixel_mean, pixel_std defaults)
const float vlm_sam_pixel_mean[3] = { 123.675f, 116.28f, 103.53f };
const float vlm_sam_pixel_std[3] = { 58.395f, 57.12f, 57.375f };

// ref: openai/CLIP clip/clip.py _transform Normalize(...)
const float vlm_clip_pixel_mean[3] = { 0.48145466f, 0.4578275f, 0.40821073f };
const float vlm_clip_pixel_std[3] = { 0.26862954f, 0.26130258f, 0.27577711f };

// ref: segment_anything/utils/transforms.py ResizeLongestSide.get_preprocess_shape
void vlm_sam_preprocess_shape(int32_t h, int32_t w, int32_t target, int32_t * new_h, int32_t * new_w) {
    double scale = target * 1.0 / (double)(h > w ? h : w);
    double newh = h * scale, neww = w * scale;
    *new_w = (int32_t)(neww + 0.5);
    *new_h = (int32_t)(newh + 0.5);
    if (*new_w < 1) *new_w = 1;   // extreme aspect ratios: at least 1, as vlm_sam_preprocess resizes
    if (*new_h < 1) *new_h = 1;
}

static enum vlm_status check_rgb(const struct vlm_image * img, const char * who) {
    if (!img || !img->data || img->width <= 0 || img->height <= 0)
        return vlm_error(VLM_STATUS_INVALID_ARG, "%s: empty image", who);
    if (img->channels != 3)
        return vlm_error(VLM_STATUS_INVALID_ARG, "%s: expected an RGB image, got %d channels", who, (int)img->channels);
    return VLM_STATUS_OK;
}

enum vlm_status vlm_sam_preprocess(const struct vlm_image * img, int32_t target, const float mean[3],
                                   const float std[3], float * out, struct vlm_image * resized) {
    if (resized) memset(resized, 0, sizeof *resized);
    enum vlm_status st = check_rgb(img, "sam preprocess");
    if (st != VLM_STATUS_OK) return st;
    if (!out || !mean || !std || target <= 0 || target > 65536)
        return vlm_error(VLM_STATUS_INVALID_ARG, "sam preprocess: bad arguments (target %d)", (int)target);
    int32_t nh, nw;
    vlm_sam_preprocess_shape(img->height, img->width, target, &nh, &nw);
    if (nh < 1) nh = 1;   // extreme aspect ratios: PIL would refuse a 0-sized resize
    if (nw < 1) nw = 1;

    // ref: segment_anything/utils/transforms.py ResizeLongestSide.apply_image
    //      (torchvision resize on a PIL image = PIL Image.resize(BILINEAR))
    struct vlm_image r = { 0 };
    st = vlm_image_resize(img, nw, nh, VLM_RESAMPLE_BILINEAR, &r);
    if (st != VLM_STATUS_OK) return st;

    // ref: segment_anything/modeling/sam.py Sam.preprocess — normalize, then pad with zeros
    const size_t plane = (size_t)target * target;
    memset(out, 0, 3 * plane * sizeof(float));
    for (int32_t c = 0; c < 3; c++) {
        float * o = out + c * plane;   // [target, target]
        for (int32_t y = 0; y < nh; y++) {
            const uint8_t * row = r.data + (size_t)y * nw * 3;
            for (int32_t x = 0; x < nw; x++) o[(size_t)y * target + x] = ((float)row[x * 3 + c] - mean[c]) / std[c];
        }
    }
    if (resized)
        *resized = r;
    else
        vlm_image_free(&r);
    return VLM_STATUS_OK;
}

// ref: torchvision/transforms/functional.py _compute_resized_output_size (size = [n], no max_size)
void vlm_clip_resize_shape(int32_t h, int32_t w, int32_t n, int32_t * new_h, int32_t * new_w) {
    int64_t shrt = w <= h ? w : h, lng = w <= h ? h : w;
    int32_t new_short = n, new_long = (int32_t)((double)((int64_t)n * lng) / (double)shrt);
    if (w <= h) {
        *new_w = new_short;
        *new_h = new_long;
    } else {
        *new_w = new_long;
        *new_h = new_short;
    }
}

enum vlm_status vlm_clip_preprocess(const struct vlm_image * img, int32_t n, const float mean[3], const float std[3],
                                    float * out) {
    enum vlm_status st = check_rgb(img, "clip preprocess");
    if (st != VLM_STATUS_OK) return st;
    if (!out || !mean || !std || n <= 0 || n > 65536)
        return vlm_error(VLM_STATUS_INVALID_ARG, "clip preprocess: bad arguments (size %d)", (int)n);

    // ref: openai/CLIP clip/clip.py _transform: Resize(n, interpolation=BICUBIC)
    int32_t rh, rw;
    vlm_clip_resize_shape(img->height, img->width, n, &rh, &rw);
    if (rh < n || rw < n)
        return vlm_error(VLM_STATUS_INVALID_ARG, "clip preprocess: image %dx%d too elongated", (int)img->width,
                         (int)img->height);
    struct vlm_image r = { 0 };
    const struct vlm_image * src = img;
    if (rh != img->height || rw != img->width) {   // torchvision returns the image as is when the size matches
        st = vlm_image_resize(img, rw, rh, VLM_RESAMPLE_BICUBIC, &r);
        if (st != VLM_STATUS_OK) return st;
        src = &r;
    }

    // ref: torchvision/transforms/functional.py center_crop: int(round((h - n) / 2.0)), round half to even
    const int32_t top = (int32_t)nearbyint((rh - n) / 2.0);
    const int32_t left = (int32_t)nearbyint((rw - n) / 2.0);

    // ref: torchvision ToTensor (x.float() / 255) then Normalize ((x - mean) / std), float32
    const size_t plane = (size_t)n * n;
    for (int32_t c = 0; c < 3; c++) {
        float * o = out + c * plane;   // [n, n]
        for (int32_t y = 0; y < n; y++) {
            const uint8_t * row = src->data + ((size_t)(top + y) * rw + left) * 3;
            for (int32_t x = 0; x < n; x++) {
                float v = (float)row[x * 3 + c] / 255.0f;
                o[(size_t)y * n + x] = (v - mean[c]) / std[c];
            }
        }
    }
    vlm_image_free(&r);
    return VLM_STATUS_OK;
}
