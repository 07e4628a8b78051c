// test-sam-hf-names.c — a SAM checkpoint under the HF transformers SamModel names loads and
// predicts exactly like the same weights under the official names. The HF copy of the
// sam-tiny fixture is made here from the renames of the spec (sam-spec.md B.3, written out
// per component rather than as the loader's substring table), with the prompt encoder's PE
// matrix saved once as `shared_image_embedding.positional_embedding` (tied in HF).
#include <unistd.h>

#include "harness.h"
#include "model-file.h"
#include "vlm.h"

// Official -> HF name (spec B.3).
static void hf_name(const char * official, char * out, size_t cap) {
    static const char * const renames[][2] = {
        { "image_encoder.", "vision_encoder." },
        { ".patch_embed.proj.", ".patch_embed.projection." },
        { ".blocks.", ".layers." },
        { ".neck.0.", ".neck.conv1." },
        { ".neck.1.", ".neck.layer_norm1." },
        { ".neck.2.", ".neck.conv2." },
        { ".neck.3.", ".neck.layer_norm2." },
        { ".point_embeddings.", ".point_embed." },
        { ".mask_downscaling.0.", ".mask_embed.conv1." },
        { ".mask_downscaling.1.", ".mask_embed.layer_norm1." },
        { ".mask_downscaling.3.", ".mask_embed.conv2." },
        { ".mask_downscaling.4.", ".mask_embed.layer_norm2." },
        { ".mask_downscaling.6.", ".mask_embed.conv3." },
        { ".output_upscaling.0.", ".upscale_conv1." },
        { ".output_upscaling.1.", ".upscale_layer_norm." },
        { ".output_upscaling.3.", ".upscale_conv2." },
        { ".norm1.", ".layer_norm1." },
        { ".norm2.", ".layer_norm2." },
        { ".norm3.", ".layer_norm3." },
        { ".norm4.", ".layer_norm4." },
        { ".norm_final_attn.", ".layer_norm_final_attn." },
        // the 3-layer MLP heads: layers.0 / .1 / .2 -> proj_in / layers.0 / proj_out
        { "_mlps.0.layers.0.", "_mlps.0.proj_in." }, { "_mlps.0.layers.1.", "_mlps.0.layers.0." }, { "_mlps.0.layers.2.", "_mlps.0.proj_out." },
        { "_mlps.1.layers.0.", "_mlps.1.proj_in." }, { "_mlps.1.layers.1.", "_mlps.1.layers.0." }, { "_mlps.1.layers.2.", "_mlps.1.proj_out." },
        { "_mlps.2.layers.0.", "_mlps.2.proj_in." }, { "_mlps.2.layers.1.", "_mlps.2.layers.0." }, { "_mlps.2.layers.2.", "_mlps.2.proj_out." },
        { "_mlps.3.layers.0.", "_mlps.3.proj_in." }, { "_mlps.3.layers.1.", "_mlps.3.layers.0." }, { "_mlps.3.layers.2.", "_mlps.3.proj_out." },
        { "iou_prediction_head.layers.0.", "iou_prediction_head.proj_in." },
        { "iou_prediction_head.layers.1.", "iou_prediction_head.layers.0." },
        { "iou_prediction_head.layers.2.", "iou_prediction_head.proj_out." },
    };
    if (!strcmp(official, "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix")) {
        snprintf(out, cap, "shared_image_embedding.positional_embedding");
        return;
    }
    char a[512], b[512];
    snprintf(a, sizeof a, "%s", official);
    for (size_t i = 0; i < sizeof renames / sizeof *renames; i++) {
        char * p = strstr(a, renames[i][0]);
        if (!p) continue;
        *p = 0;
        snprintf(b, sizeof b, "%s%s%s", a, renames[i][1], p + strlen(renames[i][0]));
        snprintf(a, sizeof a, "%s", b);
    }
    snprintf(out, cap, "%s", a);
}

static bool copy_file(const char * from, const char * to) {
    char * text = test_read_text(from);
    FILE * f = text ? fopen(to, "wb") : NULL;
    bool ok = f && fwrite(text, 1, strlen(text), f) == strlen(text);
    if (f) ok = fclose(f) == 0 && ok;
    free(text);
    return ok;
}

// Masks and IoU of a point prompt and a box prompt on the image, for the model at path.
static bool predict(const char * path, const struct vlm_image * img, struct vlm_masks out[2]) {
    struct vlm_model_params mp = vlm_model_default_params();
    mp.backend = VLM_BACKEND_CPU;
    struct vlm_model * m = NULL;
    struct vlm_sam_session * s = NULL;
    bool ok = vlm_model_load(path, &mp, &m) == VLM_STATUS_OK && vlm_model_kind(m) == VLM_MODEL_SAM &&
              vlm_sam_session_new(m, &s) == VLM_STATUS_OK && vlm_sam_set_image(s, img) == VLM_STATUS_OK;
    struct vlm_point pt = { 300, 200, 1 };
    struct vlm_box box = { 100, 80, 500, 400 };
    struct vlm_sam_prompt p[2] = { { .points = &pt, .n_points = 1, .multimask_output = true },
                                   { .box = &box, .multimask_output = false } };
    for (int i = 0; ok && i < 2; i++) ok = vlm_sam_predict(s, &p[i], &out[i]) == VLM_STATUS_OK;
    if (!ok) fprintf(stderr, "%s: %s\n", path, vlm_last_error());
    vlm_sam_session_free(s);
    vlm_model_free(m);
    return ok;
}

int main(void) {
    char official[1024], image_path[1024], config[1024];
    snprintf(official, sizeof official, "%s", test_fixture("sam-tiny/model.safetensors"));
    snprintf(config, sizeof config, "%s", test_fixture("sam-tiny/config.json"));
    snprintf(image_path, sizeof image_path, "%s", test_fixture("images/dog.jpg"));
    const char * dir = test_tmp_dir("sam-hf");

    struct vlm_safetensors * st = NULL;
    CHECK(vlm_safetensors_open(official, &st) == VLM_STATUS_OK, "open fixture: %s", vlm_last_error());
    if (!st) TEST_END();
    struct vlm_file_tensor * t = calloc((size_t)st->n_tensors, sizeof *t);
    char (*names)[512] = calloc((size_t)st->n_tensors, sizeof *names);
    int n = 0, renamed = 0;
    for (int32_t i = 0; i < st->n_tensors; i++) {
        const struct vlm_file_tensor * ft = &st->tensors[i];
        if (!strcmp(ft->name, "pixel_mean") || !strcmp(ft->name, "pixel_std")) continue;   // popped by the converter
        t[n] = *ft;
        hf_name(ft->name, names[n], sizeof names[n]);
        renamed += strcmp(names[n], ft->name) != 0;
        CHECK(strncmp(names[n], "image_encoder.", 14) && !strstr(names[n], "mask_downscaling") &&
                  !strstr(names[n], "output_upscaling") && !strstr(names[n], ".norm"),
              "no official-only name left: %s", names[n]);
        t[n].name = names[n];
        n++;
    }
    char hf_dir_model[512], hf_config[512];
    snprintf(hf_dir_model, sizeof hf_dir_model, "%s/model.safetensors", dir);
    snprintf(hf_config, sizeof hf_config, "%s/config.json", dir);
    CHECK(vlm_safetensors_write(hf_dir_model, t, n) == VLM_STATUS_OK, "write HF copy: %s", vlm_last_error());
    CHECK(copy_file(config, hf_config), "copy config.json");
    // the decoder's attention, tokens and the two prompt embeddings keep their names
    CHECK(renamed >= n / 2, "most tensors renamed (%d of %d)", renamed, n);
    vlm_safetensors_close(st);
    free(t);
    free(names);

    struct vlm_image img = { 0 };
    CHECK(vlm_image_load(image_path, &img) == VLM_STATUS_OK, "image: %s", vlm_last_error());
    struct vlm_masks a[2] = { { 0 } }, b[2] = { { 0 } };
    bool ok_a = predict(official, &img, a), ok_b = predict(dir, &img, b);
    CHECK(ok_a && ok_b, "both load and predict");
    for (int i = 0; ok_a && ok_b && i < 2; i++) {
        size_t hw = (size_t)a[i].width * (size_t)a[i].height;
        CHECK(a[i].n_masks == b[i].n_masks && a[i].width == b[i].width && a[i].height == b[i].height, "prompt %d: shapes", i);
        CHECK(!memcmp(a[i].iou, b[i].iou, sizeof(float) * (size_t)a[i].n_masks), "prompt %d: IoU identical", i);
        CHECK(!memcmp(a[i].low_res_logits, b[i].low_res_logits, sizeof(float) * 256 * 256 * (size_t)a[i].n_masks),
              "prompt %d: low-res logits identical", i);
        CHECK(!memcmp(a[i].masks, b[i].masks, hw * (size_t)a[i].n_masks), "prompt %d: masks identical", i);
    }
    for (int i = 0; i < 2; i++) {
        vlm_masks_free(&a[i]);
        vlm_masks_free(&b[i]);
    }
    vlm_image_free(&img);
    TEST_END();
}
