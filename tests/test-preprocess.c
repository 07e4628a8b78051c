// test-preprocess.c — model input preprocessing against the fixtures: CLIP pixel_values
// (PIL bicubic shorter-side resize, center crop, normalize) and SAM's normalized, zero-padded
// [3, 1024, 1024] input built on the exact PIL bilinear resize.
#include "fixtures.h"
#include "image.h"
#include "vlm.h"


static void test_clip(void) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", test_fixture("clip-tiny"));
    struct test_cases fx;
    test_cases_open(dir, TEST_NEED_CHECK, &fx);
    const cJSON * images = cJSON_GetObjectItemCaseSensitive(fx.json, "images");
    CHECK(cJSON_IsArray(images), "clip-tiny/cases.json: no images array");
    const struct vlm_file_tensor * pv = test_tensor(fx.st, "pixel_values", VLM_DTYPE_COUNT, 0);
    const int n_img = cJSON_GetArraySize(images);
    CHECK(test_tensor_shape(pv, VLM_DTYPE_F32, 4, (const int64_t[]){ n_img, 3, -1, -1 }) && pv->shape[2] == pv->shape[3],
          "pixel_values missing or not f32 [%d, 3, n, n]", n_img);
    if (pv && pv->n_dims == 4 && pv->shape[0] == n_img) {
        const int32_t n = (int32_t)pv->shape[2];
        const size_t  per = (size_t)3 * n * n;
        float *       out = malloc(per * sizeof(float));
        double        worst = 0;
        for (int i = 0; i < n_img; i++) {
            const char * name = cJSON_GetStringValue(cJSON_GetArrayItem(images, i));
            char         rel[256];
            snprintf(rel, sizeof rel, "images/%s", name ? name : "?");
            struct vlm_image img;
            enum vlm_status  s = vlm_image_load(test_fixture(rel), &img);
            CHECK(s == VLM_STATUS_OK, "%s: %s", rel, vlm_last_error());
            if (s != VLM_STATUS_OK) continue;
            s = vlm_clip_preprocess(&img, n, vlm_clip_pixel_mean, vlm_clip_pixel_std, out);
            CHECK(s == VLM_STATUS_OK, "%s: clip preprocess: %s", rel, vlm_last_error());
            if (s == VLM_STATUS_OK) {
                const float * ref = (const float *)pv->data + (size_t)i * per;
                double        m = test_max_abs(out, ref, per);
                size_t        n_diff = 0;
                for (size_t k = 0; k < per; k++) n_diff += out[k] != ref[k];
                printf("clip %-14s [3, %d, %d]  max abs error %.3g, %zu of %zu values differ\n", name, n, n, m, n_diff, per);
                CHECK(m <= 2e-2, "%s: clip pixel_values max abs error %g > 2e-2", name, m);
                if (m > worst) worst = m;
            }
            vlm_image_free(&img);
        }
        printf("clip pixel_values worst max abs error %.3g\n", worst);
        free(out);
    }
    test_cases_close(&fx);
}

static void test_sam(void) {
    struct vlm_safetensors * st = test_fixture_tensors(test_fixture("sam-tiny"), "cases.safetensors", TEST_NEED_CHECK);
    if (!st) return;
    const int32_t T = 1024;
    float *       out = malloc((size_t)3 * T * T * sizeof(float));
    static const char * names[] = { "dog", "gray_odd" };
    static const char * files[] = { "images/dog.jpg", "images/gray_odd.jpg" };
    for (int i = 0; i < 2; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s.resized", names[i]);
        const struct vlm_file_tensor * ref = vlm_safetensors_find(st, key);
        struct vlm_image               img, resized;
        enum vlm_status                s = vlm_image_load(test_fixture(files[i]), &img);
        CHECK(ref && s == VLM_STATUS_OK, "%s: %s", key, vlm_last_error());
        if (!ref || s != VLM_STATUS_OK) continue;
        s = vlm_sam_preprocess(&img, T, vlm_sam_pixel_mean, vlm_sam_pixel_std, out, &resized);
        CHECK(s == VLM_STATUS_OK, "%s: sam preprocess: %s", names[i], vlm_last_error());
        if (s == VLM_STATUS_OK) {
            const int32_t nh = resized.height, nw = resized.width;
            CHECK(nh == ref->shape[0] && nw == ref->shape[1] &&
                      memcmp(resized.data, ref->data, (size_t)nh * nw * 3) == 0,
                  "%s: resized image differs from the reference", names[i]);
            // Inside: (pixel - mean) / std of the reference pixel; outside: exactly 0 (padding after normalizing).
            size_t bad_in = 0, bad_pad = 0;
            const uint8_t * e = ref->data;
            for (int c = 0; c < 3; c++) {
                for (int32_t y = 0; y < T; y++) {
                    for (int32_t x = 0; x < T; x++) {
                        float v = out[((size_t)c * T + y) * T + x];
                        if (y < nh && x < nw && y < ref->shape[0] && x < ref->shape[1]) {
                            float want = ((float)e[((size_t)y * nw + x) * 3 + c] - vlm_sam_pixel_mean[c]) / vlm_sam_pixel_std[c];
                            bad_in += fabsf(v - want) > 1e-6f;
                        } else {
                            bad_pad += v != 0.0f;
                        }
                    }
                }
            }
            printf("sam  %-14s %dx%d in [3, %d, %d]: %zu bad normalized values, %zu bad padding values\n", names[i],
                   nw, nh, T, T, bad_in, bad_pad);
            CHECK(bad_in == 0 && bad_pad == 0, "%s: %zu bad normalized, %zu bad padding values", names[i], bad_in, bad_pad);
        }
        vlm_image_free(&resized);
        vlm_image_free(&img);
    }
    // Bad arguments.
    struct vlm_image gray = { 4, 4, 1, (uint8_t *)out };
    CHECK(vlm_sam_preprocess(&gray, T, vlm_sam_pixel_mean, vlm_sam_pixel_std, out, NULL) == VLM_STATUS_INVALID_ARG,
          "1-channel image accepted by sam preprocess");
    CHECK(vlm_clip_preprocess(&gray, 8, vlm_clip_pixel_mean, vlm_clip_pixel_std, out) == VLM_STATUS_INVALID_ARG,
          "1-channel image accepted by clip preprocess");
    struct vlm_image empty = { 0 };
    CHECK(vlm_sam_preprocess(&empty, T, vlm_sam_pixel_mean, vlm_sam_pixel_std, out, NULL) == VLM_STATUS_INVALID_ARG,
          "empty image accepted");
    free(out);
    vlm_safetensors_close(st);
}

// An image already n on its shorter side is only cropped: check the crop offsets directly
// (torchvision CenterCrop: top = round((h - n) / 2), Python rounding half to even).
static void test_clip_crop(void) {
    const int32_t    n = 4, w = 9, h = 4;   // left = round(2.5) = 2
    uint8_t          px[9 * 4 * 3];
    for (int i = 0; i < w * h; i++) px[i * 3] = px[i * 3 + 1] = px[i * 3 + 2] = (uint8_t)(i % w * 10);
    struct vlm_image img = { w, h, 3, px };
    const float      zero[3] = { 0, 0, 0 }, one[3] = { 1, 1, 1 };
    float            out[3 * 4 * 4];
    CHECK(vlm_clip_preprocess(&img, n, zero, one, out) == VLM_STATUS_OK, "clip crop: %s", vlm_last_error());
    CHECK(out[0] == 20.0f / 255.0f && out[3] == 50.0f / 255.0f, "clip crop: left column %g, expected x = 2 (%g)",
          out[0] * 255.0f, 20.0);
    const int32_t w2 = 11;   // left = round(3.5) = 4
    uint8_t       px2[11 * 4 * 3];
    for (int i = 0; i < w2 * h; i++) px2[i * 3] = px2[i * 3 + 1] = px2[i * 3 + 2] = (uint8_t)(i % w2 * 10);
    struct vlm_image img2 = { w2, h, 3, px2 };
    CHECK(vlm_clip_preprocess(&img2, n, zero, one, out) == VLM_STATUS_OK && out[0] == 40.0f / 255.0f,
          "clip crop: left column %g, expected x = 4", out[0] * 255.0f);
}

int main(void) {
    test_fixtures_dir();
    test_clip_crop();
    test_sam();
    test_clip();
    TEST_END();
}
