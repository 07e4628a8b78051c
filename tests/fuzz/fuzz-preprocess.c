// fuzz-preprocess.c — libFuzzer target: decode, then the SAM (ResizeLongestSide, normalize,
// pad) and CLIP (shorter side resize, center crop, normalize) preprocessing and the plain
// resampler on the decoded image. The first two input bytes pick the target sizes (small,
// so each run stays fast; the arithmetic is the same as at 1024 / 224).
#include "fuzz-common.h"
#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    static int init;
    if (!init) { vlm_image_set_max_pixels(1 << 20); init = 1; }
    if (size < 3) return 0;
    int32_t sam_target = 1 + data[0] % 96, clip_n = 1 + data[1] % 64;
    enum vlm_resample filter = (enum vlm_resample)(data[2] % 2);
    data += 3, size -= 3;
    struct vlm_image img = { 0 }, resized = { 0 }, scaled = { 0 };
    float * out = NULL;
    if (vlm_image_decode(data, size, &img) != VLM_STATUS_OK) return 0;

    out = malloc((size_t)3 * sam_target * sam_target * sizeof *out);
    if (!out) abort();
    if (vlm_sam_preprocess(&img, sam_target, vlm_sam_pixel_mean, vlm_sam_pixel_std, out, &resized) ==
        VLM_STATUS_OK) {
        int32_t nh, nw;
        vlm_sam_preprocess_shape(img.height, img.width, sam_target, &nh, &nw);
        if (resized.width != nw || resized.height != nh) abort();
    }
    free(out);
    out = malloc((size_t)3 * clip_n * clip_n * sizeof *out);
    if (!out) abort();
    (void)vlm_clip_preprocess(&img, clip_n, vlm_clip_pixel_mean, vlm_clip_pixel_std, out);
    int32_t ow = 1 + (img.width * 7) % 97, oh = 1 + (img.height * 5) % 89;
    if (vlm_image_resize(&img, ow, oh, filter, &scaled) == VLM_STATUS_OK) {
        volatile uint64_t sink = vlm_fuzz_touch(scaled.data, (size_t)ow * oh * scaled.channels);
        (void)sink;
    }
    free(out);
    vlm_image_free(&scaled);
    vlm_image_free(&resized);
    vlm_image_free(&img);
    return 0;
}
