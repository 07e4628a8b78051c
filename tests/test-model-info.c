// test-model-info.c — `vlm info` (vlm_model_file_info): architecture detection from tensor
// names and shapes on synthetic SAM / CLIP headers (official and HF naming), errors on bad
// paths and malformed files, one policy for a broken config.json in every family, and the fixtures
// (safetensors directory, GGUF text and mmproj).
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "harness.h"
#include "model-file.h"
#include "vlm.h"

static const char * g_dir;   // the scratch folder
static uint8_t * g_zeros;   // shared zero data for synthetic tensors
#define ZEROS (16u << 20)

// Runs vlm_model_file_info into a string (caller frees); *status gets its result.
static char * info(const char * path, enum vlm_status * status) {
    char * buf = NULL;
    size_t len = 0;
    FILE * f = open_memstream(&buf, &len);
    *status = vlm_model_file_info(path, f);
    fclose(f);
    return buf;
}

struct spec { char name[128]; int32_t n_dims; int64_t shape[4]; };

static void add(struct spec * s, int * n, const char * name, int32_t n_dims, int64_t a, int64_t b, int64_t c, int64_t d) {
    snprintf(s[*n].name, sizeof s[*n].name, "%s", name);
    s[*n].n_dims = n_dims;
    int64_t v[4] = { a, b, c, d };
    memcpy(s[*n].shape, v, sizeof v);
    (*n)++;
}

static const char * write_spec(const char * file, const struct spec * s, int n) {
    struct vlm_file_tensor * ts = calloc((size_t)n, sizeof *ts);
    for (int i = 0; i < n; i++) {
        ts[i].name = s[i].name;
        ts[i].dtype = VLM_DTYPE_F16;
        ts[i].n_dims = s[i].n_dims;
        size_t bytes = 2;
        for (int d = 0; d < s[i].n_dims; d++) { ts[i].shape[d] = s[i].shape[d]; bytes *= (size_t)s[i].shape[d]; }
        ts[i].nbytes = bytes;
        ts[i].data = g_zeros;
        if (bytes > ZEROS) { fprintf(stderr, "%s too large for the test\n", s[i].name); exit(1); }
    }
    const char * p = test_tmp_path(file);
    if (vlm_safetensors_write(p, ts, n) != VLM_STATUS_OK) { fprintf(stderr, "%s\n", vlm_last_error()); exit(1); }
    free(ts);
    return p;
}

// A SAM image encoder + decoder skeleton: embed D, depth, heads, global blocks, in either naming.
static const char * make_sam(const char * file, int64_t D, int depth, int heads, const int * globals, int n_glob,
                             bool hf) {
    static struct spec s[64];
    int n = 0;
    char name[128];
    add(s, &n, hf ? "vision_encoder.patch_embed.projection.weight" : "image_encoder.patch_embed.proj.weight", 4, D, 3,
        16, 16);
    add(s, &n, hf ? "vision_encoder.pos_embed" : "image_encoder.pos_embed", 4, 1, 64, 64, D);
    for (int b = 0; b < depth; b++) {
        bool global = false;
        for (int g = 0; g < n_glob; g++) global |= globals[g] == b;
        snprintf(name, sizeof name, "%s%d.attn.rel_pos_h", hf ? "vision_encoder.layers." : "image_encoder.blocks.", b);
        add(s, &n, name, 2, global ? 127 : 27, D / heads, 0, 0);
    }
    add(s, &n, "mask_decoder.iou_token.weight", 2, 1, 256, 0, 0);
    if (hf) add(s, &n, "prompt_encoder.shared_embedding.positional_embedding", 2, 2, 128, 0, 0);
    return write_spec(file, s, n);
}

static const char * make_clip(const char * file, int64_t W, int64_t P, int layers, int64_t res, int64_t Wt, int64_t E) {
    static struct spec s[64];
    int n = 0;
    char name[128];
    int64_t g = res / P;
    add(s, &n, "visual.conv1.weight", 4, W, 3, P, P);
    add(s, &n, "visual.positional_embedding", 2, g * g + 1, W, 0, 0);
    for (int b = 0; b < layers; b++) {
        snprintf(name, sizeof name, "visual.transformer.resblocks.%d.ln_1.weight", b);
        add(s, &n, name, 1, W, 0, 0, 0);
        snprintf(name, sizeof name, "transformer.resblocks.%d.ln_1.weight", b);
        add(s, &n, name, 1, Wt, 0, 0, 0);
    }
    add(s, &n, "token_embedding.weight", 2, 8, Wt, 0, 0);
    add(s, &n, "text_projection", 2, Wt, E, 0, 0);
    return write_spec(file, s, n);
}

static void expect_info(const char * path, const char * want) {
    enum vlm_status st;
    char * out = info(path, &st);
    CHECK(st == VLM_STATUS_OK, "info %s: %s", path, vlm_last_error());
    CHECK(out && strstr(out, want), "info %s lacks '%s':\n%s", path, want, out ? out : "");
    free(out);
}

static void test_synthetic(void) {
    const int gb[] = { 2, 5, 8, 11 }, gl[] = { 5, 11, 17, 23 }, gh[] = { 7, 15, 23, 31 }, gc[] = { 1, 3 };
    expect_info(make_sam("vit_b.safetensors", 768, 12, 12, gb, 4, false),
                "architecture:  sam (vit_b: encoder embed 768, depth 12, heads 12)");
    expect_info(make_sam("vit_l.safetensors", 1024, 24, 16, gl, 4, false), "sam (vit_l: encoder embed 1024, depth 24");
    expect_info(make_sam("vit_h.safetensors", 1280, 32, 16, gh, 4, false), "sam (vit_h: encoder embed 1280, depth 32");
    expect_info(make_sam("vit_b_hf.safetensors", 768, 12, 12, gb, 4, true), "sam, HF transformers naming (vit_b:");
    expect_info(make_sam("custom.safetensors", 48, 4, 3, gc, 2, false),
                "sam (custom: encoder embed 48, depth 4, heads 3)");
    expect_info(test_tmp_path("custom.safetensors"), "global attention blocks [1, 3]");
    // a vit_b width with the wrong global blocks is not vit_b
    expect_info(make_sam("not_b.safetensors", 768, 12, 12, gc, 2, false), "sam (custom: encoder embed 768, depth 12");
    expect_info(make_clip("b16.safetensors", 768, 16, 12, 224, 512, 512), "clip (ViT-B/16:");
    expect_info(make_clip("b32.safetensors", 768, 32, 12, 224, 512, 512), "clip (ViT-B/32:");
    expect_info(make_clip("l14.safetensors", 1024, 14, 24, 336, 768, 768), "clip (ViT-L/14@336px:");
    expect_info(make_clip("clipc.safetensors", 64, 8, 1, 32, 48, 16),
                "clip (custom: vision width 64, patch 8, 1 layers, image 32; text width 48, 1 layers; embed 16)");
    expect_info(test_tmp_path("b16.safetensors"), "format:        safetensors");
    expect_info(test_tmp_path("b16.safetensors"), "(F16 ");

    // a directory: model.safetensors + config.json
    mkdir(test_tmp_path("dir"), 0755);
    char p[600];
    snprintf(p, sizeof p, "%s/dir/model.safetensors", g_dir);
    rename(test_tmp_path("custom.safetensors"), p);
    snprintf(p, sizeof p, "%s/dir/config.json", g_dir);
    FILE * f = fopen(p, "w");
    fputs("{\"architecture\": \"sam\"}", f);
    fclose(f);
    expect_info(test_tmp_path("dir"), "(architecture \"sam\")");
    expect_info(test_tmp_path("dir"), "dir/model.safetensors");
}

static void test_errors(void) {
    enum vlm_status st;
    char * out = info(test_tmp_path("missing.safetensors"), &st);
    CHECK(st == VLM_STATUS_IO && strstr(vlm_last_error(), "missing.safetensors"), "missing path: %s", vlm_last_error());
    free(out);
    mkdir(test_tmp_path("empty-dir"), 0755);
    out = info(test_tmp_path("empty-dir"), &st);
    CHECK(st == VLM_STATUS_IO && strstr(vlm_last_error(), "no model.safetensors"), "empty dir: %s", vlm_last_error());
    free(out);
    FILE * f = fopen(test_tmp_path("bad.safetensors"), "wb");
    fputs("\x10\0\0\0\0\0\0\0{\"a\": 1}", f);
    fclose(f);
    out = info(test_tmp_path("bad.safetensors"), &st);
    CHECK(st == VLM_STATUS_BAD_MODEL && strstr(vlm_last_error(), "bad.safetensors"), "malformed: %s", vlm_last_error());
    free(out);
    f = fopen(test_tmp_path("bad.gguf"), "wb");
    fputs("GGUF\3\0\0\0", f);
    fclose(f);
    out = info(test_tmp_path("bad.gguf"), &st);
    CHECK(st == VLM_STATUS_BAD_MODEL && strstr(vlm_last_error(), "bad.gguf"), "malformed gguf: %s", vlm_last_error());
    free(out);
    CHECK(vlm_model_file_info(NULL, stdout) == VLM_STATUS_INVALID_ARG, "NULL path");
}

static void test_fixtures(void) {
    char p[1024];
    const char * dir = test_fixtures_dir();
    snprintf(p, sizeof p, "%s/sam-tiny", dir);
    expect_info(p, "architecture:  sam (custom: encoder embed 48, depth 4, heads 3)");
    expect_info(p, "tensors:       ");
    snprintf(p, sizeof p, "%s/clip-tiny/model.safetensors", dir);
    expect_info(p, "clip (custom: vision width 128, patch 16, 2 layers, image 64; text width 128, 2 layers; embed 32)");
    snprintf(p, sizeof p, "%s/smolvlm-tiny/smolvlm-tiny-f16.gguf", dir);
    expect_info(p, "llama (SmolVLM text decoder: 2 layers, embed 64, heads 4 / 2 kv, ffn 128, vocab 49280)");
    expect_info(p, "general.file_type = 1");
    snprintf(p, sizeof p, "%s/smolvlm-tiny/mmproj-smolvlm-tiny-f32.gguf", dir);
    expect_info(p, "clip mmproj (SmolVLM / idefics3 connector");
    expect_info(p, "vision:        ffn 192, eps 1e-06, gelu (tanh), 8x8 patches per tile, pixel shuffle 4 -> 4 tokens "
                   "per tile, longest edge 512");
    // EfficientSAM's image size and heads are not in its tensors: config.json's, read as the loader
    // reads them, in upstream's flat layout or in HF's vision_config
    char eff[4096], pt[600];
    snprintf(eff, sizeof eff, "%s", test_data("effsam-tiny/efficient_sam_tiny.pt"));
    expect_info(eff, "ViT encoder embed 24, depth 2, heads 2, MLP 60)");
    expect_info(eff, "image 256 (patch 16, grid 16, low-res masks 64)");
    mkdir(test_tmp_path("effsam-hf"), 0755);
    snprintf(pt, sizeof pt, "%s/effsam-hf/efficient_sam_tiny.pt", g_dir);
    CHECK(symlink(eff, pt) == 0, "symlink %s", pt);
    FILE * f = fopen(test_tmp_path("effsam-hf/config.json"), "w");
    fputs("{\"vision_config\": {\"image_size\": 256, \"num_attention_heads\": 2}}", f);
    fclose(f);
    expect_info(pt, "ViT encoder embed 24, depth 2, heads 2, MLP 60)");
    expect_info(pt, "image 256 (patch 16, grid 16, low-res masks 64)");
}

// One policy for a family's config file, whichever the family: vlm_model_load and `vlm info` both
// refuse a config.json that is not a JSON object, naming the file; a bad value is refused by the
// family's parser naming the key. A file no family claims is refused naming the families.
static void expect_refused(const char * path, const char * want1, const char * want2) {
    struct vlm_model_params mp = vlm_model_default_params();
    mp.backend = VLM_BACKEND_CPU;
    struct vlm_model * m = NULL;
    enum vlm_status st = vlm_model_load(path, &mp, &m);
    CHECK(st != VLM_STATUS_OK && !m, "load %s succeeded", path);
    CHECK(strstr(vlm_last_error(), want1) && strstr(vlm_last_error(), want2), "load %s: '%s' lacks '%s' / '%s'", path,
          vlm_last_error(), want1, want2);
    vlm_model_free(m);
}

static void test_config_policy(void) {
    static const struct { const char * family, * fixture; } fams[] = { { "cfg-sam", "sam-tiny" }, { "cfg-clip", "clip-tiny" } };
    static const struct { const char * text, * want; } configs[] = {
        { "{\"image_size\": ", "config.json: not valid JSON" },
        { "[1, 2]", "config.json: not a JSON object" },
    };
    char src[1024], dst[1024];
    for (size_t f = 0; f < sizeof fams / sizeof *fams; f++) {
        snprintf(src, sizeof src, "%s/%s/model.safetensors", test_fixtures_dir(), fams[f].fixture);
        if (access(src, R_OK) != 0) continue;   // no fixtures: test_fixtures skips
        mkdir(test_tmp_path(fams[f].family), 0755);
        snprintf(dst, sizeof dst, "%s/%s/model.safetensors", g_dir, fams[f].family);
        CHECK(symlink(src, dst) == 0, "symlink %s", dst);
        snprintf(dst, sizeof dst, "%s/%s/config.json", g_dir, fams[f].family);
        for (size_t c = 0; c < sizeof configs / sizeof *configs; c++) {
            FILE * cf = fopen(dst, "w");
            fputs(configs[c].text, cf);
            fclose(cf);
            expect_refused(test_tmp_path(fams[f].family), dst, configs[c].want);
            enum vlm_status st;
            free(info(test_tmp_path(fams[f].family), &st));
            CHECK(st == VLM_STATUS_BAD_MODEL && strstr(vlm_last_error(), configs[c].want), "info %s: %s", fams[f].family,
                  vlm_last_error());
        }
        // a value of the wrong kind: the family's parser names the key
        FILE * cf = fopen(dst, "w");
        fputs(f == 0 ? "{\"image_size\": \"big\"}" : "{\"vision_width\": \"wide\"}", cf);
        fclose(cf);
        expect_refused(test_tmp_path(fams[f].family), "config.json", f == 0 ? "image_size" : "vision_width");
    }
    // tensors of no family
    static struct spec s[1];
    int n = 0;
    add(s, &n, "encoder.layer.0.weight", 2, 4, 4, 0, 0);
    expect_refused(write_spec("other.safetensors", s, n), "no model family recognizes its tensors", "sam, clip");
}

static void cleanup(void) { free(g_zeros); }

int main(void) {
    g_dir = test_tmp_dir("info");
    g_zeros = calloc(1, ZEROS);
    atexit(cleanup);
    test_synthetic();
    test_errors();
    test_config_policy();
    if (test_failed) TEST_END();
    test_fixtures();   // skips when the fixtures are absent
    TEST_END();
}
