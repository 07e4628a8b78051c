// image.h — internal image helpers: Pillow-exact uint8 resampling (resize.c) and the SAM and
// CLIP preprocessing (preprocess.c). Decoding and PNG writing are the public vlm_image_* API
// in include/vlm.h (image-io.c).
#ifndef VLM_IMAGE_H
#define VLM_IMAGE_H

#include <stdint.h>

#include "vlm.h"

// ---- resampling (resize.c) ---------------------------------------------------------------
enum vlm_resample {
    VLM_RESAMPLE_BILINEAR = 0,   // PIL Image.BILINEAR (triangle, support 1)
    VLM_RESAMPLE_BICUBIC,        // PIL Image.BICUBIC (a = -0.5, support 2)
};

// Resizes an 8-bit interleaved image [h, w, channels] (channels 1..4, no row padding) to
// [out_h, out_w, channels] exactly as Pillow's Image.resize(size, filter) does on an 8-bit
// image with the default box (whole image): separable passes, horizontal first, antialiased
// when downscaling, 22-bit fixed-point weights, uint8 rounding after each pass.
// Channels are independent (like Pillow's "RGB"/"L"; Pillow premultiplies "RGBA" first, this
// does not). dst must hold out_w * out_h * channels bytes and must not overlap src.
enum vlm_status vlm_image_resample(const uint8_t * src, int32_t w, int32_t h, int32_t channels,
                                   uint8_t * dst, int32_t out_w, int32_t out_h, enum vlm_resample filter);

// Allocating variant on a struct vlm_image (any channel count 1..4). out is released with
// vlm_image_free. out must not be in.
enum vlm_status vlm_image_resize(const struct vlm_image * in, int32_t out_w, int32_t out_h,
                                 enum vlm_resample filter, struct vlm_image * out);

// ---- llama.cpp's resize kernels (resize.c) -----------------------------------------------
// ref: llama.cpp tools/mtmd/mtmd-image.cpp img_tool. RGB [h, w, 3] to [out_h, out_w, 3]; dst
// must not overlap src; all sizes >= 1.
// Bilinear with align-corners sampling (x * (w-1)/(out_w-1)), float lerps, truncated to uint8.
void vlm_mtmd_resize_bilinear(const uint8_t * src, int32_t w, int32_t h, uint8_t * dst, int32_t out_w, int32_t out_h);
// ViT.cpp's bicubic: source x = floor(j * w / out_w), 4x4 clamped neighbourhood, rounded, clamped.
void vlm_mtmd_resize_bicubic(const uint8_t * src, int32_t w, int32_t h, uint8_t * dst, int32_t out_w, int32_t out_h);

// ---- SAM (preprocess.c) ------------------------------------------------------------------
// ref: segment_anything/modeling/sam.py Sam.pixel_mean / pixel_std (RGB, 0..255 scale)
extern const float vlm_sam_pixel_mean[3];
extern const float vlm_sam_pixel_std[3];

// ref: segment_anything/utils/transforms.py ResizeLongestSide.get_preprocess_shape
// scale = target / max(h, w) in double; new = int(old * scale + 0.5).
void vlm_sam_preprocess_shape(int32_t h, int32_t w, int32_t target, int32_t * new_h, int32_t * new_w);

// SAM image preprocessing (SamPredictor.set_image + Sam.preprocess):
//   1. longest side resized to `target` with PIL bilinear (ResizeLongestSide.apply_image);
//   2. (pixel - mean[c]) / std[c] in float32;
//   3. zero padding on the right and bottom AFTER normalizing, to target x target.
// img: RGB (channels == 3). out: [3, target, target] floats (caller-owned). resized: when
// not NULL, receives the resized uint8 [new_h, new_w, 3] image (release with vlm_image_free).
enum vlm_status vlm_sam_preprocess(const struct vlm_image * img, int32_t target, const float mean[3],
                                   const float std[3], float * out, struct vlm_image * resized);

// ---- CLIP (preprocess.c) -----------------------------------------------------------------
// ref: openai/CLIP clip/clip.py _transform (normalize constants)
extern const float vlm_clip_pixel_mean[3];
extern const float vlm_clip_pixel_std[3];

// ref: torchvision/transforms/functional.py _compute_resized_output_size (int size, no max_size)
// The shorter side becomes n, the longer int(n * long / short) (truncated).
void vlm_clip_resize_shape(int32_t h, int32_t w, int32_t n, int32_t * new_h, int32_t * new_w);

// CLIP image preprocessing (clip._transform(n)): Resize(n, BICUBIC) with PIL, CenterCrop(n)
// (top = round-half-even((h - n) / 2)), ToTensor (/255 in float32), Normalize(mean, std).
// img: RGB. out: [3, n, n] floats (caller-owned).
enum vlm_status vlm_clip_preprocess(const struct vlm_image * img, int32_t n, const float mean[3],
                                    const float std[3], float * out);

#endif // VLM_IMAGE_H
