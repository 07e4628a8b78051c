// test-mobilesam.c — MobileSAM (tests/data/mobilesam-tiny, made by scripts/make-mobilesam-fixture.py:
// TinyViT encoder, 256 input, 16x16 embedding, 64x64 low-res logits) through the CLI ($VLM_CLI) and
// the server: `vlm info` names it; `vlm segment` on its mobile_sam.pt and on a safetensors copy
// (the same names) against the reference on CPU and Vulkan; `vlm serve` answers a click and a
// segment-everything request with the CLI's masks; broken variants (a missing block, a missing
// BatchNorm statistic, config.json contradicting the shapes) fail with a one-line error naming
// the tensor or key, leave no output, and the server refuses them at start.
#include <cjson/cJSON.h>

#include "harness.h"
#include "variant-files.h"
#include "model-file.h"
#include "serve-client.h"
#include "vlm.h"

static char tmpdir[256];
static char fixture[4096], pt_path[4200];
static const char * cli;

// The case gray_odd.point: one positive point, multimask.
#define POINT "102.80000000000001,70.95"

// Compares `vlm segment --save-tensors` output with the reference case gray_odd.point.
static void check_outputs(const char * what, const char * got_path, const struct vlm_safetensors * exp) {
    struct vlm_safetensors * got = NULL;
    CHECK(vlm_safetensors_open(got_path, &got) == VLM_STATUS_OK, "%s: open --save-tensors output: %s", what, vlm_last_error());
    if (!got) return;
    static const struct { const char * got, * exp; int64_t d1, d2, d3; double tol; } T[] = {
        { "image_embeddings", "gray_odd.image_embeddings", 32, 16, 16, 1e-3 },
        { "low_res_logits", "gray_odd.point.low_res_logits", 64, 64, 0, 5e-3 },
        { "iou_predictions", "gray_odd.point.iou_predictions", 0, 0, 0, 1e-3 },
    };
    for (size_t i = 0; i < sizeof T / sizeof *T; i++) {
        const struct vlm_file_tensor * g = vlm_safetensors_find(got, T[i].got), * e = vlm_safetensors_find(exp, T[i].exp);
        bool shape_ok = g && e && g->nbytes == e->nbytes && (!T[i].d1 || g->shape[1] == T[i].d1) &&
                        (!T[i].d2 || g->shape[2] == T[i].d2) && (!T[i].d3 || g->shape[3] == T[i].d3);
        CHECK(shape_ok, "%s: %s missing or not the reference's shape", what, T[i].got);
        if (!shape_ok) continue;
        double mx = test_max_abs(g->data, e->data, g->nbytes / 4);
        CHECK(mx <= T[i].tol, "%s: %s max abs %.3g > %.3g", what, T[i].got, mx, T[i].tol);
        printf("  %-34s %-18s max abs %.3g\n", what, T[i].got, mx);
    }
    const struct vlm_file_tensor * mk = vlm_safetensors_find(got, "masks"), * me = vlm_safetensors_find(exp, "gray_odd.point.masks");
    CHECK(mk && me && mk->nbytes == me->nbytes, "%s: masks size", what);
    if (mk && me && mk->nbytes == me->nbytes) {
        size_t nd = 0;
        for (size_t i = 0; i < mk->nbytes; i++) nd += (((const uint8_t *)mk->data)[i] != 0) != (((const uint8_t *)me->data)[i] != 0);
        CHECK(nd <= mk->nbytes / 1000, "%s: masks differ on %zu of %zu pixels", what, nd, mk->nbytes);
    }
    vlm_safetensors_close(got);
}

static void segment(const char * backend, const char * model, const char * label, const struct vlm_safetensors * exp) {
    char out[8192], what[128], st[600];
    snprintf(what, sizeof what, "%s %s", backend, label);
    snprintf(st, sizeof st, "%s/out.safetensors", tmpdir);
    int rc = test_run_cli(out, sizeof out, tmpdir, NULL, "segment --backend %s -m '%s' '%s' --point " POINT " --save-tensors '%s'",
                          backend, model, test_fixture("images/gray_odd.jpg"), st);
    CHECK(rc == 0, "%s: exit %d: %s", what, rc, out);
    if (rc == 0) check_outputs(what, st, exp);
}

// A copy of mobile_sam.pt as dir/model.safetensors (the I64 num_batches_tracked counters left out,
// as the loader never reads them), without the tensors starting with drop (NULL: none).
static bool write_variant(const char * dir, const char * drop) {
    char dst[4200];
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    struct vlm_safetensors * st = NULL;
    if (vlm_model_file_open(pt_path, &st) != VLM_STATUS_OK) return false;
    struct vlm_file_tensor * t = calloc((size_t)st->n_tensors, sizeof *t);
    int32_t n = 0;
    for (int32_t i = 0; t && i < st->n_tensors; i++) {
        const struct vlm_file_tensor * f = &st->tensors[i];
        if (f->dtype == VLM_DTYPE_I64 || (drop && !strncmp(f->name, drop, strlen(drop)))) continue;
        t[n++] = *f;
    }
    bool ok = t && vlm_safetensors_write(dst, t, n) == VLM_STATUS_OK;
    free(t);
    vlm_safetensors_close(st);
    return ok;
}


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
        bool ok = write_variant(dir, cases[i].drop) && variant_write_config(fixture, dir, cases[i].key, cases[i].value);
        CHECK(ok, "%s: cannot make the model", cases[i].what);
        if (!ok) continue;
        variant_expect_refused(cases[i].what, tmpdir, dir, img, cases[i].expect);
    }
}

static int post_json(int port, const char * path, const char * json, cJSON ** out) {
    char * body = NULL;
    int st = serve_http(port, "POST", path, json, strlen(json), "application/json", &body, NULL);
    *out = body ? cJSON_Parse(body) : NULL;
    free(body);
    return st;
}

// One click and one segment-everything request on a CPU server; the click's scores are the CLI's.
static void serve_test(const struct vlm_safetensors * exp) {
    char log_path[600];
    snprintf(log_path, sizeof log_path, "%s/serve.log", tmpdir);
    const char * args[] = { "-m", pt_path, "--backend", "cpu", NULL };
    struct serve_proc sp = { 0 };
    if (!serve_start(cli, args, log_path, &sp)) {
        CHECK(0, "server did not start (log: %s)", log_path);
        return;
    }
    char * body = NULL, json[512];
    FILE * f = fopen(test_fixture("images/gray_odd.jpg"), "rb");
    static uint8_t img[1 << 20];
    size_t n = f ? fread(img, 1, sizeof img, f) : 0;
    if (f) fclose(f);
    int st = serve_http(sp.port, "POST", "/v1/images", img, n, "image/jpeg", &body, NULL);
    cJSON * o = body ? cJSON_Parse(body) : NULL;
    free(body);
    const cJSON * id = cJSON_GetObjectItemCaseSensitive(o, "id");
    CHECK(st == 200 && cJSON_IsString(id), "upload: %d", st);
    snprintf(json, sizeof json, "{\"image\": \"%s\", \"points\": [[" POINT ", 1]]}", cJSON_IsString(id) ? id->valuestring : "");
    cJSON * r = NULL;
    st = post_json(sp.port, "/v1/segment", json, &r);
    const cJSON * masks = cJSON_GetObjectItemCaseSensitive(r, "masks");
    const struct vlm_file_tensor * iou = vlm_safetensors_find(exp, "gray_odd.point.iou_predictions");
    CHECK(st == 200 && cJSON_GetArraySize(masks) == 3 && iou && iou->nbytes == 12, "segment: %d, %d masks", st,
          cJSON_GetArraySize(masks));
    for (int i = 0; st == 200 && iou && i < cJSON_GetArraySize(masks) && i < 3; i++) {
        const cJSON * sc = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(masks, i), "score");
        CHECK(cJSON_IsNumber(sc) && fabs(sc->valuedouble - test_f32(iou->data, (size_t)i)) <= 1e-3, "segment: mask %d score", i);
    }
    cJSON_Delete(r);
    snprintf(json, sizeof json, "{\"image\": \"%s\", \"points_per_side\": 2, \"pred_iou_thresh\": -1, "
             "\"stability_score_thresh\": 0}", cJSON_IsString(id) ? id->valuestring : "");
    st = post_json(sp.port, "/v1/everything", json, &r);
    CHECK(st == 200 && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "masks")) > 0, "everything: %d", st);
    cJSON_Delete(r);
    cJSON_Delete(o);
    CHECK(serve_stop(&sp) == 0, "server did not exit cleanly (log: %s)", log_path);
    printf("  %-34s click and everything answered, clean exit\n", "serve cpu");
}

int main(void) {
    cli = getenv("VLM_CLI");
    if (!cli || !*cli || access(cli, X_OK) != 0) SKIP("VLM_CLI not set to the built vlm executable (run through ctest)");
    snprintf(fixture, sizeof fixture, "%s", test_data("mobilesam-tiny"));
    snprintf(pt_path, sizeof pt_path, "%s/mobile_sam.pt", fixture);
    char cases[4200];
    snprintf(cases, sizeof cases, "%s/cases.safetensors", fixture);
    struct vlm_safetensors * exp = NULL;
    if (vlm_safetensors_open(cases, &exp) != VLM_STATUS_OK) SKIP("%s: %s", cases, vlm_last_error());
    test_fixtures_dir();   // the images
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vlm-mobilesam-XXXXXX");
    if (!mkdtemp(tmpdir)) SKIP("cannot create a temp dir");

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
    CHECK(write_variant(st_dir, NULL) && variant_write_config(fixture, st_dir, NULL, NULL), "write the safetensors copy");

    segment("cpu", pt_path, "mobile_sam.pt", exp);
    segment("cpu", st_dir, "safetensors", exp);
    if (test_want_backend("vulkan")) {
        struct vlm_model * model = NULL;
        struct vlm_model_params mp = vlm_model_default_params();
        mp.backend = VLM_BACKEND_VULKAN;
        enum vlm_status st = vlm_model_load(pt_path, &mp, &model);
        vlm_model_free(model);
        if (st == VLM_STATUS_OK) segment("vulkan", pt_path, "mobile_sam.pt", exp);
        else if (test_require_vulkan()) CHECK(0, "VLM_TEST_REQUIRE_VULKAN=1 but no Vulkan device: %s", vlm_last_error());
        else fprintf(stderr, "SKIP (vulkan half): %s\n", vlm_last_error());
    }
    serve_test(exp);
    bad_models();
    vlm_safetensors_close(exp);
    if (!test_failed) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmpdir);
    }
    TEST_END();
}
