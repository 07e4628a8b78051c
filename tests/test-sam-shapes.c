// test-sam-shapes.c — a SAM at shapes other than the released ViT-B/L/H (tests/data/sam-small:
// 512 input, 32x32 grid, 128x128 low-res logits) through `vlm segment` ($VLM_CLI) on CPU and
// Vulkan: --save-tensors against the reference, --mask-input at the model's low-res size, the
// saved embedding reused; the library getters; and broken variants of the model made here
// (config.json contradicting the shapes, an image size that is not a multiple of the patch, a
// block missing or extra): each a non-zero exit of `vlm segment` and `vlm serve` with a one-line
// error naming the key or tensor, and no output file left behind.
#include "fixtures.h"
#include "variant-files.h"
#include "vlm.h"

static const char * tmpdir;   // the scratch folder
static char small_dir[4096];

static void path_in(char * out, size_t n, const char * name) { snprintf(out, n, "%s/%s", tmpdir, name); }

// Compares a `vlm segment --save-tensors` output with the reference tensors of case `name`
// (image stem `img`) at the fixture's tolerances.
static void check_outputs(const char * what, const char * got_path, const struct vlm_safetensors * exp, const char * img,
                          const char * name) {
    struct vlm_safetensors * got = NULL;
    CHECK(vlm_safetensors_open(got_path, &got) == VLM_STATUS_OK, "%s: open --save-tensors output: %s", what, vlm_last_error());
    if (!got) return;
    char t[256];
    const struct vlm_file_tensor * r = vlm_safetensors_find(got, "resized");
    snprintf(t, sizeof t, "%s.resized", img);
    const struct vlm_file_tensor * re = vlm_safetensors_find(exp, t);
    CHECK(r && re && r->n_dims == 3 && r->shape[0] == re->shape[0] && r->shape[1] == re->shape[1] && r->nbytes == re->nbytes,
          "%s: resized [%lld, %lld, 3], reference [%lld, %lld, 3]", what, r ? (long long)r->shape[0] : -1LL,
          r ? (long long)r->shape[1] : -1LL, re ? (long long)re->shape[0] : -1LL, re ? (long long)re->shape[1] : -1LL);
    if (r && re && r->nbytes == re->nbytes)
        CHECK(!memcmp(r->data, re->data, r->nbytes), "%s: resized differs from the reference", what);
    const struct vlm_file_tensor * e = vlm_safetensors_find(got, "image_embeddings");
    snprintf(t, sizeof t, "%s.image_embeddings", img);
    const struct vlm_file_tensor * ee = vlm_safetensors_find(exp, t);
    CHECK(e && ee && e->n_dims == 4 && e->shape[1] == 24 && e->shape[2] == 32 && e->shape[3] == 32 && e->nbytes == ee->nbytes,
          "%s: image_embeddings not [1, 24, 32, 32]", what);
    if (e && ee && e->nbytes == ee->nbytes) {
        double mx = test_max_abs(e->data, ee->data, e->nbytes / 4), cs = test_cosine(e->data, ee->data, e->nbytes / 4);
        CHECK(mx <= 1e-3 && cs >= 0.99999, "%s: embeddings max abs %.3g cosine %.8f", what, mx, cs);
    }
    const struct vlm_file_tensor * l = vlm_safetensors_find(got, "low_res_logits");
    snprintf(t, sizeof t, "%s.low_res_logits", name);
    const struct vlm_file_tensor * le = vlm_safetensors_find(exp, t);
    CHECK(l && le && l->n_dims == 3 && l->shape[1] == 128 && l->shape[2] == 128 && l->nbytes == le->nbytes,
          "%s: low_res_logits not [n, 128, 128] as the reference", what);
    if (l && le && l->nbytes == le->nbytes) {
        double mx = test_max_abs(l->data, le->data, l->nbytes / 4);
        CHECK(mx <= 5e-3, "%s: low_res_logits max abs %.3g", what, mx);
        printf("  %-40s logits max abs %.3g\n", what, mx);
    }
    const struct vlm_file_tensor * io = vlm_safetensors_find(got, "iou_predictions");
    snprintf(t, sizeof t, "%s.iou_predictions", name);
    const struct vlm_file_tensor * ie = vlm_safetensors_find(exp, t);
    CHECK(io && ie && io->nbytes == ie->nbytes && test_max_abs(io->data, ie->data, io->nbytes / 4) <= 1e-3,
          "%s: iou_predictions", what);
    const struct vlm_file_tensor * mk = vlm_safetensors_find(got, "masks");
    snprintf(t, sizeof t, "%s.masks", name);
    const struct vlm_file_tensor * me = vlm_safetensors_find(exp, t);
    test_check_masks(what, mk ? mk->data : NULL, mk ? mk->nbytes : 0, me ? me->data : NULL, me ? me->nbytes : 0);
    vlm_safetensors_close(got);
}

// Writes `mask_input` [1, L, L] from data (L * L floats).
static bool write_mask_input(const char * path, const void * data, int64_t L) {
    struct vlm_file_tensor t = { .name = "mask_input", .dtype = VLM_DTYPE_F32, .n_dims = 3, .shape = { 1, L, L },
                                 .data = data, .nbytes = (size_t)(L * L) * sizeof(float), .gguf_type = -1 };
    return vlm_safetensors_write(path, &t, 1) == VLM_STATUS_OK;
}

// `vlm segment` on dog.jpg with args and --save-tensors out_path, checked against case `name`.
static void segment_case(const char * backend, const char * label, const char * args, const char * out_path,
                         const struct vlm_safetensors * exp, const char * name) {
    char out[8192], what[128];
    snprintf(what, sizeof what, "%s: %s %s", backend, name, label);
    int rc = test_run_cli(out, sizeof out, tmpdir, NULL, "segment --backend %s -m '%s' '%s' %s --save-tensors '%s'", backend,
                          small_dir, test_fixture("images/dog.jpg"), args, out_path);
    CHECK(rc == 0, "%s: exit %d: %s", what, rc, out);
    if (rc == 0) check_outputs(what, out_path, exp, "dog", name);
}

static void run_backend(const char * backend, const struct vlm_safetensors * exp) {
    char out[8192], st[600], emb[600], mi[600], mi_wrong[600], args[2048];
    path_in(st, sizeof st, "out.safetensors");
    path_in(emb, sizeof emb, "emb.safetensors");
    path_in(mi, sizeof mi, "input-mask.safetensors");
    path_in(mi_wrong, sizeof mi_wrong, "input-mask-256.safetensors");

    // the case dog.point, with every other output too
    snprintf(args, sizeof args, "--point 320,293.70000000000005 --save-embedding '%s' -o '%s/mask.png' --json '%s/out.json'",
             emb, tmpdir, tmpdir);
    segment_case(backend, "--save-tensors", args, st, exp, "dog.point");
    // the saved embedding: no encoder run, the resized image recomputed at 512
    snprintf(args, sizeof args, "--point 320,293.70000000000005 --embedding '%s'", emb);
    segment_case(backend, "--embedding", args, st, exp, "dog.point");
    // the case dog.mask_refine: --mask-input [1, 128, 128]
    const struct vlm_file_tensor * m = vlm_safetensors_find(exp, "dog.mask_refine.mask_input");
    void * mcopy = m ? test_aligned_copy(m->data, m->nbytes) : NULL;
    CHECK(m && m->nbytes == 128 * 128 * 4 && mcopy && write_mask_input(mi, mcopy, 128), "write the 128x128 mask input");
    free(mcopy);
    snprintf(args, sizeof args, "--point 240,160.2 --single --mask-input '%s'", mi);
    segment_case(backend, "--mask-input", args, st, exp, "dog.mask_refine");

    // a mask input at the released models' 256x256 is refused, naming the model's size
    static float big[256 * 256];
    CHECK(write_mask_input(mi_wrong, big, 256), "write the 256x256 mask input");
    int rc = test_run_cli(out, sizeof out, tmpdir, NULL, "segment --backend %s -m '%s' '%s' --point 10,10 --mask-input '%s' -o '%s/x.png'",
                          backend, small_dir, test_fixture("images/dog.jpg"), mi_wrong, tmpdir);
    CHECK(rc == 1 && strstr(out, "[1, 128, 128]"), "%s: 256x256 --mask-input: exit %d: %s", backend, rc, out);
    char x[600];
    path_in(x, sizeof x, "x.png");
    CHECK(access(x, F_OK) != 0, "%s: refused run left %s", backend, x);
    printf("  %-40s exit %d: %s", "256x256 --mask-input", rc, out);
}

// ---- broken variants of sam-small ----

// A copy of sam-small's model.safetensors in dir: tensors starting with `drop` left out, and
// those starting with `copy_from` added again renamed to `copy_to` (NULL: none).
static bool write_variant(const char * dir, const char * drop, const char * copy_from, const char * copy_to) {
    char src[4200], dst[4200];
    snprintf(src, sizeof src, "%s/model.safetensors", small_dir);
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    struct vlm_safetensors * st = NULL;
    if (vlm_safetensors_open(src, &st) != VLM_STATUS_OK) return false;
    struct vlm_file_tensor * t = calloc((size_t)st->n_tensors * 2, sizeof *t);
    char(*names)[160] = calloc((size_t)st->n_tensors, sizeof *names);
    int32_t n = 0;
    for (int32_t i = 0; t && names && i < st->n_tensors; i++) {
        const struct vlm_file_tensor * f = &st->tensors[i];
        if (drop && !strncmp(f->name, drop, strlen(drop))) continue;
        t[n++] = *f;
        if (copy_from && !strncmp(f->name, copy_from, strlen(copy_from))) {
            snprintf(names[i], sizeof names[i], "%s%s", copy_to, f->name + strlen(copy_from));
            t[n] = *f;
            t[n++].name = names[i];
        }
    }
    bool ok = t && names && vlm_safetensors_write(dst, t, n) == VLM_STATUS_OK;
    free(t);
    free(names);
    vlm_safetensors_close(st);
    return ok;
}


struct bad_model {
    const char * what;
    const char * drop, * copy_from, * copy_to;   // tensors (write_variant)
    const char * key, * value;                   // config.json (variant_write_config); key "" = no config.json
    const char * expect;                         // in the error message
};

static void bad_models(void) {
    static const struct bad_model cases[] = {
        { "config image_size 1024", NULL, NULL, NULL, "image_size", "1024",
          "config.json: image_size 1024 contradicts image_encoder.pos_embed" },
        { "image_size not a multiple of the patch", NULL, NULL, NULL, "image_size", "520",
          "image_size 520 is not a multiple of the patch size 16" },
        { "config patch_size 8", NULL, NULL, NULL, "patch_size", "8", "patch_size 8 contradicts image_encoder.patch_embed.proj.weight" },
        { "config encoder_depth 4", NULL, NULL, NULL, "encoder_depth", "4", "encoder_depth 4 contradicts the checkpoint: image_encoder.blocks.*" },
        { "config global blocks [2]", NULL, NULL, NULL, "encoder_global_attn_indexes", "[2]",
          "encoder_global_attn_indexes makes block 1 windowed, image_encoder.blocks.1.attn.rel_pos_h" },
        { "config window_size 14", NULL, NULL, NULL, "window_size", "14", "window_size 14 contradicts the checkpoint" },
        { "config prompt_embed_dim 256", NULL, NULL, NULL, "prompt_embed_dim", "256", "prompt_embed_dim 256 contradicts the checkpoint: image_encoder.neck.0.weight" },
        { "config mlp_ratio 4", NULL, NULL, NULL, "mlp_ratio", "4", "mlp_ratio 4 contradicts image_encoder.blocks.0.mlp.lin1.weight" },
        { "config decoder heads 5", NULL, NULL, NULL, "decoder_num_heads", "5",
          "5 decoder heads do not divide the width 24 of mask_decoder.transformer.layers.0.self_attn.q_proj.weight" },
        { "config image_size a string", NULL, NULL, NULL, "image_size", "\"big\"", "image_size must be an integer" },
        { "config.json not JSON", NULL, NULL, NULL, "image_size", "!{\"image_size\": ", "config.json: not valid JSON" },
        { "HF config: vision_config.image_size 1024", NULL, NULL, NULL, "image_size",
          "!{\"vision_config\": {\"image_size\": 1024}, \"mask_decoder_config\": {\"num_attention_heads\": 2}}",
          "config.json: vision_config.image_size 1024 contradicts image_encoder.pos_embed" },
        { "HF config: mask_decoder_config.num_hidden_layers 3", NULL, NULL, NULL, "image_size",
          "!{\"mask_decoder_config\": {\"num_hidden_layers\": 3, \"num_attention_heads\": 2}}",
          "mask_decoder_config.num_hidden_layers 3 contradicts the checkpoint: mask_decoder.transformer.layers.* gives 2" },
        { "no config.json: 8 decoder heads", NULL, NULL, NULL, "", NULL,
          "8 decoder heads do not divide the width 12 of mask_decoder.transformer.layers.0.cross_attn_token_to_image" },
        { "missing block 1", "image_encoder.blocks.1.", NULL, NULL, NULL, NULL,
          "missing tensor image_encoder.blocks.1.norm1.weight (the checkpoint has tensors of image_encoder.blocks.2)" },
        { "block 2 without norm1", "image_encoder.blocks.2.norm1.weight", NULL, NULL, NULL, NULL,
          "missing tensor image_encoder.blocks.2.norm1.weight (the checkpoint has other tensors of image_encoder.blocks.2)" },
        { "block 2 without lin2", "image_encoder.blocks.2.mlp.lin2.weight", NULL, NULL, NULL, NULL,
          "missing tensor 'image_encoder.blocks.2.mlp.lin2.weight'" },
        { "extra block 3", NULL, "image_encoder.blocks.0.", "image_encoder.blocks.3.", NULL, NULL,
          "encoder_depth 3 contradicts the checkpoint: image_encoder.blocks.* gives 4" },
        { "extra decoder layer 2", NULL, "mask_decoder.transformer.layers.0.", "mask_decoder.transformer.layers.2.", NULL, NULL,
          "decoder_depth 2 contradicts the checkpoint: mask_decoder.transformer.layers.* gives 3" },
        { "extra hypernetwork MLP 4", NULL, "mask_decoder.output_hypernetworks_mlps.0.", "mask_decoder.output_hypernetworks_mlps.4.",
          NULL, NULL, "5 mask_decoder.output_hypernetworks_mlps.* for the 4 tokens of mask_decoder.mask_tokens.weight" },
    };
    const char * img = test_fixture("images/gray_odd.jpg");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct bad_model * c = &cases[i];
        char dir[600];
        snprintf(dir, sizeof dir, "%s/bad-%zu", tmpdir, i);
        mkdir(dir, 0700);
        bool ok = write_variant(dir, c->drop, c->copy_from, c->copy_to) &&
                  (c->key && !c->key[0] ? true : variant_write_config(small_dir, dir, c->key, c->value));
        CHECK(ok, "%s: cannot make the model", c->what);
        if (!ok) continue;
        variant_expect_refused(c->what, tmpdir, dir, img, c->expect);
    }
}

int main(void) {
    const char * cli = getenv("VLM_CLI");
    if (!cli || !*cli || access(cli, X_OK) != 0) SKIP("VLM_CLI not set to the built vlm executable (run through ctest)");
    snprintf(small_dir, sizeof small_dir, "%s", test_data("sam-small"));
    struct vlm_safetensors * exp = test_fixture_tensors(small_dir, "cases.safetensors", TEST_NEED_SKIP);
    test_fixtures_dir();   // the images
    tmpdir = test_tmp_dir("sam-shapes");

    // the library reports the model's own sizes
    struct vlm_model * model = NULL;
    struct vlm_model_params mp = vlm_model_default_params();
    mp.backend = VLM_BACKEND_CPU;
    CHECK(vlm_model_load(small_dir, &mp, &model) == VLM_STATUS_OK, "load sam-small: %s", vlm_last_error());
    CHECK(vlm_sam_input_size(model) == 512 && vlm_sam_embed_dim(model) == 24 && vlm_sam_embedding_size(model) == 32 &&
              vlm_sam_low_res_size(model) == 128,
          "getters: input %d, embedding [%d, %d], low-res %d", vlm_sam_input_size(model), vlm_sam_embed_dim(model),
          vlm_sam_embedding_size(model), vlm_sam_low_res_size(model));
    CHECK(vlm_sam_low_res_size(NULL) == 0 && vlm_sam_input_size(NULL) == 0, "getters on NULL give 0");
    vlm_model_free(model);

    // the same model with its settings in HF transformers' SamConfig layout
    char hf_dir[600], out[8192];
    snprintf(hf_dir, sizeof hf_dir, "%s/hf-config", tmpdir);
    mkdir(hf_dir, 0700);
    CHECK(write_variant(hf_dir, NULL, NULL, NULL) &&
              variant_write_config(small_dir, hf_dir, "image_size",
                           "!{\"vision_config\": {\"image_size\": 512, \"patch_size\": 16, \"hidden_size\": 32, "
                           "\"num_hidden_layers\": 3, \"num_attention_heads\": 2, \"window_size\": 7, "
                           "\"global_attn_indexes\": [1], \"mlp_ratio\": 3.0, \"mlp_dim\": null}, "
                           "\"prompt_encoder_config\": {\"hidden_size\": 24, \"mask_input_channels\": 12}, "
                           "\"mask_decoder_config\": {\"num_hidden_layers\": 2, \"num_attention_heads\": 2, \"mlp_dim\": 40, "
                           "\"num_multimask_outputs\": 3, \"iou_head_depth\": 3, \"iou_head_hidden_dim\": 16}}"),
          "write the HF-layout config");
    int rc = test_run_cli(out, sizeof out, tmpdir, NULL, "segment --backend cpu -m '%s' '%s' --point 10,10", hf_dir,
                          test_fixture("images/gray_odd.jpg"));
    CHECK(rc == 0, "model with an HF-layout config.json: exit %d: %s", rc, out);

    run_backend("cpu", exp);
    if (test_want_backend("vulkan")) {
        mp.backend = VLM_BACKEND_VULKAN;
        model = NULL;
        enum vlm_status st = vlm_model_load(small_dir, &mp, &model);
        vlm_model_free(model);
        if (st == VLM_STATUS_OK) run_backend("vulkan", exp);
        else if (test_require_vulkan()) CHECK(0, "VLM_TEST_REQUIRE_VULKAN=1 but no Vulkan device: %s", vlm_last_error());
        else fprintf(stderr, "SKIP (vulkan half): %s\n", vlm_last_error());
    }
    bad_models();
    vlm_safetensors_close(exp);
    TEST_END();
}
