// fuzz-config-json.c — libFuzzer target: the model config.json readers (fusion/model-config.c)
// as the loaders use them: the file next to a model read by vlm_model_config_load, then the
// CLIP parser (HF, open_clip and flat layouts), the SAM parser and MobileSAM's TinyViT check (against
// the released TinyViT-5M's sizes) on its bytes. The input is
// also parsed straight from an exact-size buffer (no NUL after it), so a read past the
// length is caught by ASan.
#include <stdbool.h>

#include "fuzz-common.h"
#include "model-config.h"
#include "model-family.h"
#include "vlm.h"

static char g_dir[256], g_model[320], g_config[320];

static void cleanup(void) {
    unlink(g_config);
    rmdir(g_dir);
}

int LLVMFuzzerInitialize(int * argc, char *** argv) {
    const char * tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/vlm-fuzz-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) abort();
    snprintf(g_model, sizeof g_model, "%s/model.safetensors", g_dir);
    snprintf(g_config, sizeof g_config, "%s/config.json", g_dir);
    atexit(cleanup);
    return 0;
}

static void check_clip(const uint8_t * data, size_t size) {
    struct vlm_clip_config c;
    if (vlm_clip_config_parse((const char *)data, size, "config.json", &c) != VLM_STATUS_OK) {
        if (!vlm_last_error()[0]) abort();
        return;
    }
    if (c.vision_heads < 0 || c.vision_heads > 65536 || c.text_heads < 0 || c.text_heads > 65536) abort();
    if (c.vision_head_width < 0 || c.vision_head_width > 65536) abort();
    if (!(c.vision_eps >= 0 && c.vision_eps < 1) || !(c.text_eps >= 0 && c.text_eps < 1)) abort();
    if ((c.has_vision_act && (unsigned)c.vision_act >= VLM_UNARY_COUNT) ||
        (c.has_text_act && (unsigned)c.text_act >= VLM_UNARY_COUNT))
        abort();
}

static void check_sam(const uint8_t * data, size_t size) {
    struct vlm_sam_config s;
    if (vlm_sam_config_parse((const char *)data, size, "config.json", &s) != VLM_STATUS_OK) {
        if (!vlm_last_error()[0]) abort();
        return;
    }
    if (s.decoder_heads < 0 || s.decoder_heads > 64 || s.n_global < -1 || s.n_global > VLM_SAM_CONFIG_MAX_GLOBAL) abort();
    for (int32_t i = 0; i < s.n_global; i++)
        if (s.global_idx[i] < 0 || s.global_idx[i] > 65535) abort();
    if (s.has_pixel_norm && !(s.pixel_std[0] > 0 && s.pixel_std[1] > 0 && s.pixel_std[2] > 0)) abort();
    if (s.upscale_dims[0] < 0 || s.upscale_dims[1] < 0 || s.upscale_dims[0] > 65536 || s.upscale_dims[1] > 65536) abort();
}

static void check_tinyvit(const uint8_t * data, size_t size) {
    // build_sam_vit_t's encoder (mobile_sam/build_sam.py) at 1024
    static const struct vlm_tinyvit_dims d = { .n_stages = 4, .out_dim = 320, .dim = { 64, 128, 160, 320 },
                                               .depth = { 2, 2, 6, 2 }, .heads = { 0, 4, 5, 10 }, .window = { 0, 7, 14, 7 },
                                               .hidden = { 256, 512, 640, 1280 }, .res = { 256, 128, 64, 64 },
                                               .merge_stride = { 2, 2, 1, 0 } };
    if (vlm_tinyvit_config_check((const char *)data, size, "config.json", &d) != VLM_STATUS_OK && !vlm_last_error()[0]) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    // the loaders' path: config.json next to the model file, read back whole
    FILE * f = fopen(g_config, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    static const char * const names[] = { "open_clip_config.json", "config.json", NULL };
    char path[400];
    size_t n = 0;
    char * text = NULL;
    if (vlm_model_config_load(g_model, names, path, sizeof path, &text, &n) == VLM_STATUS_OK) {   // a JSON object
        if (!text || n != size || memcmp(text, data, size) != 0 || text[n] != 0 || strcmp(path, g_config) != 0) abort();
        check_clip((const uint8_t *)text, n);
        check_sam((const uint8_t *)text, n);
        check_tinyvit((const uint8_t *)text, n);
        free(text);
    } else if (text || !strstr(vlm_last_error(), "config.json: ")) {   // refused, naming the file
        abort();
    }

    // the same bytes with nothing after them
    uint8_t * exact = malloc(size ? size : 1);
    if (!exact) abort();
    memcpy(exact, data, size);
    check_clip(exact, size);
    check_sam(exact, size);
    check_tinyvit(exact, size);
    free(exact);
    return 0;
}
