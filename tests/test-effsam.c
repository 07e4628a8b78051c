// test-effsam.c — EfficientSAM (tests/data/effsam-tiny, made by scripts/make-effsam-fixture.py: ViT
// encoder, 256 input stretched, 16x16 embedding, 64x64 low-res logits) and SlimSAM
// (tests/data/slimsam-tiny, made by scripts/make-sam-fixture.py: an HF SamModel checkpoint with a
// pruned width and MLP) through the CLI ($VLM_CLI) and the server: `vlm info` names them; `vlm
// segment` against the reference on CPU and Vulkan (EfficientSAM from its .pt and a safetensors
// copy), segment-everything; EfficientSAM refuses a mask input and more points than its decoder
// takes with a one-line error, and the server answers such a request with 400 and keeps serving;
// broken variants (a missing block or tensor, config.json contradicting the shapes) fail with a
// one-line error naming the tensor or key, leave no output, and the server refuses them at start.
// (Stage-by-stage parity of every case: test-sam-parity.)
#include "fast-sam.h"
#include "fixtures.h"
#include "variant-files.h"
#include "vlm.h"

static const char * tmpdir;   // the scratch folder
static const char * cli;

struct family {
    const char * name, * fixture_dir, * model_file;
    const char * info[2];   // expected in `vlm info`
};

static void info(const char * path, const char * const expect[2]) {
    char out[8192];
    int rc = test_run_cli(out, sizeof out, tmpdir, NULL, "info '%s'", path);
    CHECK(rc == 0 && strstr(out, expect[0]) && strstr(out, expect[1]), "vlm info %s: exit %d: %s", path, rc, out);
}

// `vlm segment` with a prompt EfficientSAM refuses: exit 1, one line containing expect.
static void refused(const char * model, const char * args, const char * expect) {
    char out[8192];
    int rc = test_run_cli(out, sizeof out, tmpdir, NULL, "segment --backend cpu -m '%s' '%s' %s", model,
                          test_fixture("images/gray_odd.jpg"), args);
    const char * nl = strchr(out, '\n');
    CHECK(rc == 1 && nl && nl[1] == 0 && strstr(out, expect), "segment %s: exit %d: %s", args, rc, out);
    printf("  %-40s exit %d: %s", args, rc, out);
}

// EfficientSAM's server: 7 points get 400 with the reason; a click afterwards is answered.
static void effsam_serve_extra(int port, const char * image_id) {
    char json[512];
    cJSON * r = NULL;
    snprintf(json, sizeof json, "{\"image\": \"%s\", \"points\": [[10, 10, 1], [20, 10, 1], [30, 10, 1], [40, 10, 1], "
             "[50, 10, 0], [60, 10, 1], [70, 10, 1]]}", image_id);
    int st = fast_sam_post_json(port, "/v1/segment", json, &r);
    const cJSON * err = cJSON_GetObjectItemCaseSensitive(r, "error");
    CHECK(st == 400 && cJSON_IsString(err) && strstr(err->valuestring, "at most 6 points"), "7 points: %d", st);
    cJSON_Delete(r);
    snprintf(json, sizeof json, "{\"image\": \"%s\", \"box\": [20, 20, 200, 100], \"points\": [[100, 60, 0]]}", image_id);
    st = fast_sam_post_json(port, "/v1/segment", json, &r);
    CHECK(st == 200 && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "masks")) == 3, "box + point after a 400: %d", st);
    cJSON_Delete(r);
}

static void everything(const char * model) {
    char out[8192];
    int rc = test_run_cli(out, sizeof out, tmpdir, NULL, "segment --backend cpu -m '%s' '%s' --everything --points-per-side 3 "
                          "--pred-iou-thresh -10 --stability-score-thresh 0 --box-nms-thresh 1.01", model,
                          test_fixture("images/gray_odd.jpg"));
    CHECK(rc == 0 && strstr(out, " masks (points per side 3)"), "everything: exit %d: %s", rc, out);
}

int main(void) {
    cli = getenv("VLM_CLI");
    if (!cli || !*cli || access(cli, X_OK) != 0) SKIP("VLM_CLI not set to the built vlm executable (run through ctest)");
    test_fixtures_dir();   // the images
    tmpdir = test_tmp_dir("effsam");
    const struct family fam[] = {
        { "effsam-tiny", "effsam-tiny", "efficient_sam_tiny.pt",
          { "efficientsam (EfficientSAM custom: ViT encoder embed 24, depth 2, heads 2, MLP 60)",
            "image 256 (patch 16, grid 16, low-res masks 64), prompt dim 32" } },
        { "slimsam-tiny", "slimsam-tiny", "model.safetensors",
          { "sam, HF transformers naming (custom: encoder embed 36, depth 2, heads 3)", "window 7, global attention blocks [1]" } },
    };
    for (size_t f = 0; f < sizeof fam / sizeof *fam; f++) {
        char fixture[4096], model[4200];
        snprintf(fixture, sizeof fixture, "%s", test_data(fam[f].fixture_dir));
        snprintf(model, sizeof model, "%s/%s", fixture, fam[f].model_file);
        struct vlm_safetensors * exp = test_fixture_tensors(fixture, "cases.safetensors", TEST_NEED_SKIP);
        printf("== %s\n", fam[f].name);
        info(model, fam[f].info);
        const struct fast_sam fs = { cli, tmpdir, model, 32, 16, 64 };
        const bool effsam = f == 0;
        fast_sam_segment(&fs, "cpu", model, fam[f].model_file, exp);
        if (effsam) {   // the same names as safetensors, with the config
            char st_dir[600];
            snprintf(st_dir, sizeof st_dir, "%s/safetensors", tmpdir);
            mkdir(st_dir, 0700);
            CHECK(variant_write_model(model, st_dir, NULL) && variant_write_config(fixture, st_dir, NULL, NULL),
                  "write the safetensors copy");
            fast_sam_segment(&fs, "cpu", st_dir, "safetensors", exp);
        }
        if (test_want_backend("vulkan")) {
            struct vlm_model * m = NULL;
            struct vlm_model_params mp = vlm_model_default_params();
            mp.backend = VLM_BACKEND_VULKAN;
            enum vlm_status st = vlm_model_load(model, &mp, &m);
            vlm_model_free(m);
            if (st == VLM_STATUS_OK) fast_sam_segment(&fs, "vulkan", model, fam[f].model_file, exp);
            else if (test_require_vulkan()) CHECK(0, "VLM_TEST_REQUIRE_VULKAN=1 but no Vulkan device: %s", vlm_last_error());
            else fprintf(stderr, "SKIP (vulkan half): %s\n", vlm_last_error());
        }
        everything(model);
        if (effsam) {
            refused(model, "--point 10,10 --point 20,10 --point 30,10 --point 40,10 --point 50,10 --box 1,1,60,60",
                    "EfficientSAM takes at most 6 points (a box counts as 2), got 7 with the box");
            char mask[600], a[700];   // a low-res mask of the right size, refused all the same
            snprintf(mask, sizeof mask, "%s/mask.safetensors", tmpdir);
            static float zeros[64 * 64];
            struct vlm_file_tensor mt = { .name = "mask_input", .dtype = VLM_DTYPE_F32, .n_dims = 3, .shape = { 1, 64, 64 },
                                          .data = zeros, .nbytes = sizeof zeros, .gguf_type = -1 };
            CHECK(vlm_safetensors_write(mask, &mt, 1) == VLM_STATUS_OK, "write %s", mask);
            snprintf(a, sizeof a, "--point 10,10 --mask-input '%s'", mask);
            refused(model, a, "EfficientSAM takes no mask input");
        }
        fast_sam_serve(&fs, exp, effsam ? effsam_serve_extra : NULL);
        vlm_safetensors_close(exp);
    }

    // broken variants: one-line errors naming the tensor or key
    static const struct { const char * fixture, * file, * what, * drop, * key, * value, * expect; } bad[] = {
        { "effsam-tiny", "efficient_sam_tiny.pt", "missing block 0 (block 1 kept)", "image_encoder.blocks.0.", NULL, NULL,
          "missing tensor image_encoder.blocks.0.norm1.weight" },
        { "effsam-tiny", "efficient_sam_tiny.pt", "missing last block", "image_encoder.blocks.1.", NULL, NULL,
          "encoder_depth 2 contradicts the checkpoint: image_encoder.blocks.* gives 1" },
        { "effsam-tiny", "efficient_sam_tiny.pt", "missing qkv bias", "image_encoder.blocks.0.attn.qkv.bias", NULL, NULL,
          "image_encoder.blocks.0.attn.qkv.bias" },
        { "effsam-tiny", "efficient_sam_tiny.pt", "missing box corner embedding", "prompt_encoder.bbox_top_left_embeddings.",
          NULL, NULL, "prompt_encoder.bbox_top_left_embeddings.weight" },
        { "effsam-tiny", "efficient_sam_tiny.pt", "missing GroupNorm", "mask_decoder.final_output_upscaling_layers.0.1.weight",
          NULL, NULL, "mask_decoder.final_output_upscaling_layers.0.1.weight" },
        { "effsam-tiny", "efficient_sam_tiny.pt", "missing pos_embed", "image_encoder.pos_embed", NULL, NULL,
          "image_encoder.pos_embed" },
        { "effsam-tiny", "efficient_sam_tiny.pt", "config encoder_num_heads", NULL, "encoder_num_heads", "5",
          "encoder_num_heads 5 does not divide the encoder width 24" },
        { "effsam-tiny", "efficient_sam_tiny.pt", "config encoder_embed_dim", NULL, "encoder_embed_dim", "32",
          "encoder_embed_dim 32 contradicts the checkpoint" },
        { "effsam-tiny", "efficient_sam_tiny.pt", "config image_size 250", NULL, "image_size", "250",
          "image_size 250 is not a multiple of the patch size 16" },
        { "effsam-tiny", "efficient_sam_tiny.pt", "config mlp_ratio", NULL, "mlp_ratio", "4", "mlp_ratio 4 contradicts" },
        { "effsam-tiny", "efficient_sam_tiny.pt", "config global blocks", NULL, "encoder_global_attn_indexes", "[0]",
          "encoder_global_attn_indexes makes block 1 windowed: EfficientSAM's image_encoder.blocks.* all attend globally" },
        { "effsam-tiny", "efficient_sam_tiny.pt", "config decoder_upscaling_layer_dims", NULL, "decoder_upscaling_layer_dims",
          "[12, 8]", "decoder_upscaling_layer_dims[1] 8 contradicts the checkpoint: mask_decoder.final_output_upscaling_layers.1.0.weight gives 6" },
        // (errors name an HF file's tensors by their official names: sam-spec.md B.3 maps them)
        { "slimsam-tiny", "model.safetensors", "missing layer 0", "vision_encoder.layers.0.", NULL, NULL,
          "missing tensor image_encoder.blocks.0.norm1.weight" },
        { "slimsam-tiny", "model.safetensors", "missing lin2", "vision_encoder.layers.0.mlp.lin2.weight", NULL, NULL,
          "missing tensor 'image_encoder.blocks.0.mlp.lin2.weight'" },
        { "slimsam-tiny", "model.safetensors", "config mlp_dim", NULL, "vision_config",
          "{\"hidden_size\": 36, \"mlp_dim\": 51}", "vision_config.mlp_dim 51 contradicts the checkpoint" },
        { "slimsam-tiny", "model.safetensors", "config hidden_size", NULL, "vision_config",
          "{\"hidden_size\": 40, \"mlp_dim\": 50}", "vision_config.hidden_size 40 contradicts the checkpoint" },
        { "slimsam-tiny", "model.safetensors", "config output_channels", NULL, "vision_config",
          "{\"hidden_size\": 36, \"mlp_dim\": 50, \"output_channels\": 64}",
          "vision_config.output_channels 64 contradicts the checkpoint: image_encoder.neck.0.weight gives 32" },
        { "slimsam-tiny", "model.safetensors", "config prompt encoder image_size", NULL, "prompt_encoder_config",
          "{\"hidden_size\": 32, \"image_size\": 512}",
          "prompt_encoder_config.image_size 512 contradicts the image encoder's input size 256" },
        { "slimsam-tiny", "model.safetensors", "config prompt encoder grid", NULL, "prompt_encoder_config",
          "{\"image_size\": 256, \"image_embedding_size\": 32}",
          "prompt_encoder_config.image_embedding_size 32 contradicts the image encoder's grid of 16" },
        { "slimsam-tiny", "model.safetensors", "config decoder hidden_size", NULL, "mask_decoder_config", "{\"hidden_size\": 64}",
          "mask_decoder_config.hidden_size 64 contradicts the checkpoint: mask_decoder.mask_tokens.weight gives 32" },
    };
    const char * img = test_fixture("images/gray_odd.jpg");
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char dir[600], fixture[4096], model[4200];
        snprintf(fixture, sizeof fixture, "%s", test_data(bad[i].fixture));
        snprintf(model, sizeof model, "%s/%s", fixture, bad[i].file);
        snprintf(dir, sizeof dir, "%s/bad-%zu", tmpdir, i);
        mkdir(dir, 0700);
        bool ok = variant_write_model(model, dir, bad[i].drop) && variant_write_config(fixture, dir, bad[i].key, bad[i].value);
        CHECK(ok, "%s: cannot make the model", bad[i].what);
        if (ok) variant_expect_refused(bad[i].what, tmpdir, dir, img, bad[i].expect);
    }
    TEST_END();
}
