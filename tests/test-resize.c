// test-resize.c — the Pillow-exact resize: SAM's ResizeLongestSide(1024) of every fixture
// image must equal the reference `<img>.resized` (PIL bilinear) byte for byte; plus
// properties that hold for any correct port (identity, constants, bounds, bad arguments).
#include "fixtures.h"
#include "image.h"
#include "vlm.h"

static void test_sam_fixture(void) {
    struct vlm_safetensors * st = test_fixture_tensors(test_fixture("sam-tiny"), "cases.safetensors", TEST_NEED_CHECK);
    if (!st) return;
    static const char * names[] = { "dog", "truck", "shapes_rgba", "gray_odd" };
    static const char * files[] = { "images/dog.jpg", "images/truck.jpg", "images/shapes_rgba.png", "images/gray_odd.jpg" };
    for (int i = 0; i < 4; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s.resized", names[i]);
        const struct vlm_file_tensor * ref = vlm_safetensors_find(st, key);
        CHECK(test_tensor_shape(ref, VLM_DTYPE_U8, 3, (const int64_t[]){ -1, -1, 3 }), "%s: missing or not u8 HxWx3", key);
        if (!ref) continue;
        struct vlm_image img;
        enum vlm_status  s = vlm_image_load(test_fixture(files[i]), &img);
        CHECK(s == VLM_STATUS_OK, "%s: %s", files[i], vlm_last_error());
        if (s != VLM_STATUS_OK) continue;
        int32_t nh, nw;
        vlm_sam_preprocess_shape(img.height, img.width, 1024, &nh, &nw);
        CHECK(nh == ref->shape[0] && nw == ref->shape[1], "%s: target %dx%d, reference %lldx%lld", names[i], nw, nh,
              (long long)ref->shape[1], (long long)ref->shape[0]);
        struct vlm_image r;
        s = vlm_image_resize(&img, nw, nh, VLM_RESAMPLE_BILINEAR, &r);
        CHECK(s == VLM_STATUS_OK, "%s: resize: %s", names[i], vlm_last_error());
        if (s == VLM_STATUS_OK && nh == ref->shape[0] && nw == ref->shape[1]) {
            const uint8_t * e = ref->data;
            size_t          n = (size_t)nh * nw, diff_px = 0;
            int             max_d = 0;
            for (size_t k = 0; k < n; k++) {
                int d = 0;
                for (int c = 0; c < 3; c++) {
                    int dc = abs((int)r.data[k * 3 + c] - (int)e[k * 3 + c]);
                    if (dc > d) d = dc;
                }
                diff_px += d > 0;
                if (d > max_d) max_d = d;
            }
            printf("%-12s %4dx%-4d -> %4dx%-4d  differing pixels %zu of %zu (max diff %d)\n", names[i], img.width,
                   img.height, nw, nh, diff_px, n, max_d);
            CHECK(diff_px == 0, "%s: %zu pixels differ from the PIL reference (max %d)", names[i], diff_px, max_d);
        }
        vlm_image_free(&r);
        vlm_image_free(&img);
    }
    vlm_safetensors_close(st);
}

static void test_properties(void) {
    uint64_t rs = 99;
    enum { W = 53, H = 31 };
    uint8_t src[W * H * 4];
    for (size_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)(test_rand(&rs) * 127.5f + 128.0f);
    for (int f = 0; f < 2; f++) {
        const enum vlm_resample filter = f ? VLM_RESAMPLE_BICUBIC : VLM_RESAMPLE_BILINEAR;
        const char *            fname = f ? "bicubic" : "bilinear";
        // Same size: a copy.
        uint8_t * dst = malloc(400 * 400 * 4);
        CHECK(vlm_image_resample(src, W, H, 3, dst, W, H, filter) == VLM_STATUS_OK && memcmp(dst, src, W * H * 3) == 0,
              "%s: same-size resize is not a copy", fname);
        // Constant images stay constant, up and down, every channel count.
        static const int sizes[][2] = { { 1, 1 }, { 7, 3 }, { 26, 15 }, { 53, 100 }, { 200, 31 }, { 399, 211 } };
        for (int ch = 1; ch <= 4; ch++) {
            uint8_t cst[W * H * 4];
            for (int i = 0; i < W * H * ch; i++) cst[i] = (uint8_t)(17 + 60 * (i % ch));
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
                const int ow = sizes[s][0], oh = sizes[s][1];
                enum vlm_status st = vlm_image_resample(cst, W, H, ch, dst, ow, oh, filter);
                size_t bad = 0;
                for (int i = 0; i < ow * oh * ch; i++) bad += dst[i] != (uint8_t)(17 + 60 * (i % ch));
                CHECK(st == VLM_STATUS_OK && bad == 0, "%s: constant %d-channel image changed at %dx%d (%zu values)",
                      fname, ch, ow, oh, bad);
            }
        }
        // Bilinear output stays within the source range (no overshoot); bicubic may ring.
        vlm_image_resample(src, W, H, 1, dst, 17, 90, filter);
        if (!f) {
            uint8_t lo = 255, hi = 0, olo = 255, ohi = 0;
            for (int i = 0; i < W * H; i++) { lo = src[i] < lo ? src[i] : lo; hi = src[i] > hi ? src[i] : hi; }
            for (int i = 0; i < 17 * 90; i++) { olo = dst[i] < olo ? dst[i] : olo; ohi = dst[i] > ohi ? dst[i] : ohi; }
            CHECK(olo >= lo && ohi <= hi, "bilinear: output range [%d, %d] outside the input's [%d, %d]", olo, ohi, lo, hi);
        }
        // Channels are independent: a 3-channel resize equals three 1-channel resizes.
        uint8_t plane[W * H], pout[40 * 20];
        vlm_image_resample(src, W, H, 3, dst, 40, 20, filter);
        size_t diff = 0;
        for (int c = 0; c < 3; c++) {
            for (int i = 0; i < W * H; i++) plane[i] = src[i * 3 + c];
            vlm_image_resample(plane, W, H, 1, pout, 40, 20, filter);
            for (int i = 0; i < 40 * 20; i++) diff += pout[i] != dst[i * 3 + c];
        }
        CHECK(diff == 0, "%s: channels not independent (%zu values)", fname, diff);
        free(dst);
    }
    // Bad arguments.
    uint8_t out[16];
    CHECK(vlm_image_resample(src, W, H, 5, out, 2, 2, VLM_RESAMPLE_BILINEAR) == VLM_STATUS_INVALID_ARG, "5 channels accepted");
    CHECK(vlm_image_resample(src, W, H, 3, out, 0, 2, VLM_RESAMPLE_BILINEAR) == VLM_STATUS_INVALID_ARG, "width 0 accepted");
    CHECK(vlm_image_resample(NULL, W, H, 3, out, 2, 2, VLM_RESAMPLE_BILINEAR) == VLM_STATUS_INVALID_ARG, "NULL accepted");
    CHECK(vlm_image_resample(src, W, H, 3, out, 2, 2, (enum vlm_resample)7) == VLM_STATUS_INVALID_ARG, "bad filter accepted");
    struct vlm_image bad = { 0 }, r;
    CHECK(vlm_image_resize(&bad, 4, 4, VLM_RESAMPLE_BICUBIC, &r) == VLM_STATUS_INVALID_ARG && r.data == NULL,
          "empty image accepted");
    vlm_image_free(&r);
}

static void test_shapes(void) {
    // ref: ResizeLongestSide.get_preprocess_shape: int(old * 1024 / long + 0.5)
    int32_t nh, nw;
    vlm_sam_preprocess_shape(534, 800, 1024, &nh, &nw);
    CHECK(nh == 684 && nw == 1024, "sam shape 800x534 -> %dx%d", nw, nh);
    vlm_sam_preprocess_shape(1024, 1024, 1024, &nh, &nw);
    CHECK(nh == 1024 && nw == 1024, "sam shape 1024x1024 -> %dx%d", nw, nh);
    vlm_sam_preprocess_shape(3000, 5, 1024, &nh, &nw);
    CHECK(nh == 1024 && nw == 2, "sam shape 5x3000 -> %dx%d", nw, nh);   // 5 * 1024 / 3000 = 1.707 -> 2
    // ref: torchvision _compute_resized_output_size: shorter side n, longer int(n * long / short)
    vlm_clip_resize_shape(534, 800, 64, &nh, &nw);
    CHECK(nh == 64 && nw == 95, "clip shape 800x534 -> %dx%d", nw, nh);   // 64 * 800 / 534 = 95.88
    vlm_clip_resize_shape(129, 257, 224, &nh, &nw);
    CHECK(nh == 224 && nw == 446, "clip shape 257x129 -> %dx%d", nw, nh);   // 224 * 257 / 129 = 446.26
    vlm_clip_resize_shape(700, 300, 224, &nh, &nw);
    CHECK(nh == 522 && nw == 224, "clip shape 300x700 -> %dx%d", nw, nh);   // 224 * 700 / 300 = 522.67
}

int main(void) {
    test_fixtures_dir();
    test_shapes();
    test_properties();
    test_sam_fixture();
    TEST_END();
}
