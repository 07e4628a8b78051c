// test-mobilesam.c — MobileSAM (tests/data/mobilesam-tiny, made by scripts/make-mobilesam-fixture.py:
// TinyViT encoder, 256 input, 16x16 embedding, 64x64 low-res logits) through the CLI ($VLM_CLI) and
// the server: `vlm info` names it; `vlm segment` on its mobile_sam.pt and on a safetensors copy
// (the same names) against the reference on CPU and Vulkan; `vlm serve` answers a click and a
// segment-everything request with the CLI's masks; broken variants (a missing block, a missing
// BatchNorm statistic, config.json contradicting the shapes) fail with a one-line error naming
// the tensor or key, leave no output, and the server refuses them at start.
#include "fixtures.h"
#include "variant-files.h"
#include "fast-sam.h"
#include "vlm.h"

static const char * tmpdir;   // the scratch folder
static char fixture[4096], pt_path[4200];
static const char * cli;

static void bad_models(void) {
    static const struct { const char * what, * drop, * key, * value, * expect; } cases[] = {
        { "missing block layers.2.blocks.0", "image_encoder.layers.2.blocks.0.", NULL, NULL,
          "missing tensor image_encoder.layers.2.blocks.0.attn.norm.weight" },
        { "missing stage-0 block 0 (block 1 kept)", "image_encoder.layers.0.blocks.0.", NULL, NULL,
          "missing tensor image_encoder.layers.0.blocks.0.conv1.c.weight" },
        { "missing BatchNorm running_var", "image_encoder.layers.1.blocks.1.local_conv.bn.running_var", NULL, NULL,
          "image_encoder.layers.1.blocks.1.local_conv.bn.running_var" },
        { "missing attention_biases", "image_encoder.layers.3.blocks.0.attn.attention_biases", NULL, NULL,
          "image_encoder.layers.3.blocks.0.attn.attention_biases" },
        { "config num_heads", NULL, "num_heads", "[1, 2, 4, 5]",
          "num_heads[2] contradicts the checkpoint: image_encoder.layers.2.blocks.0.attn.attention_biases gives 3" },
        { "config window_sizes", NULL, "window_sizes", "[7, 7, 6, 16]", "window_sizes[1] contradicts the checkpoint" },
        { "config depths", NULL, "depths", "[2, 2, 2, 1]", "depths[2] contradicts the checkpoint" },
        { "config global blocks", NULL, "encoder_global_attn_indexes", "[1]",
          "encoder_global_attn_indexes: MobileSAM's TinyViT encoder has no global attention blocks" },
        { "config embed_dims of 3 stages", NULL, "embed_dims", "[16, 32, 48]", "embed_dims must be a list of 4 numbers" },
        { "config mlp_ratio", NULL, "mlp_ratio", "4.0", "mlp_ratio contradicts the checkpoint" },
        { "config image_size 250", NULL, "image_size", "250", "image_size 250 is not a multiple of the patch size 16" },
        { "config prompt_embed_dim", NULL, "prompt_embed_dim", "256",
          "prompt_embed_dim 256 contradicts the checkpoint: image_encoder.neck.0.weight" },
    };
    const char * img = test_fixture("images/gray_odd.jpg");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char dir[600];
        snprintf(dir, sizeof dir, "%s/bad-%zu", tmpdir, i);
        mkdir(dir, 0700);
        bool ok = variant_write_model(pt_path, dir, cases[i].drop) && variant_write_config(fixture, dir, cases[i].key, cases[i].value);
        CHECK(ok, "%s: cannot make the model", cases[i].what);
        if (!ok) continue;
        variant_expect_refused(cases[i].what, tmpdir, dir, img, cases[i].expect);
    }
}

int main(void) {
    cli = getenv("VLM_CLI");
    if (!cli || !*cli || access(cli, X_OK) != 0) SKIP("VLM_CLI not set to the built vlm executable (run through ctest)");
    snprintf(fixture, sizeof fixture, "%s", test_data("mobilesam-tiny"));
    snprintf(pt_path, sizeof pt_path, "%s/mobile_sam.pt", fixture);
    struct vlm_safetensors * exp = test_fixture_tensors(fixture, "cases.safetensors", TEST_NEED_SKIP);
    test_fixtures_dir();   // the images
    tmpdir = test_tmp_dir("mobilesam");

    char out[8192];
    int rc = test_run_cli(out, sizeof out, tmpdir, NULL, "info '%s'", pt_path);
    CHECK(rc == 0 && strstr(out, "mobilesam (MobileSAM custom: TinyViT encoder, stage widths [16, 32, 48, 320], depths "
                                 "[2, 2, 1, 1], heads [2, 3, 5], windows [5, 6, 16])") &&
              strstr(out, "image 256 (grid 16, low-res masks 64), prompt dim 32"),
          "vlm info: exit %d: %s", rc, out);

    // the same weights as safetensors (official names) with the config
    char st_dir[600];
    snprintf(st_dir, sizeof st_dir, "%s/safetensors", tmpdir);
    mkdir(st_dir, 0700);
    CHECK(variant_write_model(pt_path, st_dir, NULL) && variant_write_config(fixture, st_dir, NULL, NULL), "write the safetensors copy");

    const struct fast_sam fs = { cli, tmpdir, pt_path, 32, 16, 64 };
    fast_sam_segment(&fs, "cpu", pt_path, "mobile_sam.pt", exp);
    fast_sam_segment(&fs, "cpu", st_dir, "safetensors", exp);
    if (test_want_backend("vulkan")) {
        struct vlm_model * model = NULL;
        struct vlm_model_params mp = vlm_model_default_params();
        mp.backend = VLM_BACKEND_VULKAN;
        enum vlm_status st = vlm_model_load(pt_path, &mp, &model);
        vlm_model_free(model);
        if (st == VLM_STATUS_OK) fast_sam_segment(&fs, "vulkan", pt_path, "mobile_sam.pt", exp);
        else if (test_require_vulkan()) CHECK(0, "VLM_TEST_REQUIRE_VULKAN=1 but no Vulkan device: %s", vlm_last_error());
        else fprintf(stderr, "SKIP (vulkan half): %s\n", vlm_last_error());
    }
    fast_sam_serve(&fs, exp, NULL);
    bad_models();
    vlm_safetensors_close(exp);
    TEST_END();
}
