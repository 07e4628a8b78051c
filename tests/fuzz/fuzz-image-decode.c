// fuzz-image-decode.c — libFuzzer target: vlm_image_decode over every format it sniffs
// (PNG, JPEG with EXIF orientation, WebP, and the stb formats BMP, GIF, TGA).
#include "fuzz-common.h"
#include "vlm.h"

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    static int init;
    if (!init) { vlm_image_set_max_pixels(4 << 20); init = 1; }   // keep each run fast
    struct vlm_image img = { 0 };
    if (vlm_image_decode(data, size, &img) != VLM_STATUS_OK) {
        if (img.data) abort();
        if (!vlm_last_error()[0]) abort();
        return 0;
    }
    if (img.width <= 0 || img.height <= 0 || img.channels != 3 || !img.data) abort();
    volatile uint64_t sink = vlm_fuzz_touch(img.data, (size_t)img.width * img.height * 3);
    (void)sink;
    vlm_image_free(&img);
    return 0;
}
