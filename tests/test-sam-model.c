// test-sam-model.c — SAM model set-up and API checks without reference outputs:
// random checkpoints (official names and shapes) load and infer their sizes, prompt
// validation rejects bad prompts with VLM_STATUS_INVALID_ARG, a mask input alone is allowed,
// embeddings round-trip through a file, batched prediction equals single prediction, and a
// checkpoint with a missing tensor is refused with a message naming it.
#include <unistd.h>

#include "harness.h"
#include "model-file.h"
#include "model.h"
#include "sam.h"
#include "vlm.h"

int main(void) {
    test_tmp_dir("sam-model");
    const char * path = test_tmp_path("model.safetensors"), * emb_path = test_tmp_path("emb.safetensors"),
               * bad_path = test_tmp_path("bad.safetensors");

    CHECK(vlm_sam_write_random_checkpoint(path, "vit_x", 1) == VLM_STATUS_INVALID_ARG, "unknown variant rejected");
    enum vlm_status st = vlm_sam_write_random_checkpoint(path, "tiny", 7);
    CHECK(st == VLM_STATUS_OK, "write random tiny checkpoint: %s", vlm_last_error());
    if (st != VLM_STATUS_OK) TEST_END();

    struct vlm_model_params mp = vlm_model_default_params();
    mp.backend = VLM_BACKEND_CPU;
    struct vlm_model * m = NULL;
    st = vlm_model_load(path, &mp, &m);
    CHECK(st == VLM_STATUS_OK, "load random tiny: %s", vlm_last_error());
    if (!m) TEST_END();
    const struct vlm_sam_model * sm = vlm_sam_of(m);
    CHECK(vlm_model_kind(m) == VLM_MODEL_SAM && sm, "kind SAM");
    CHECK(sm->embed_dim == 48 && sm->depth == 4 && sm->heads == 3 && sm->head_dim == 16 && sm->window == 14,
          "encoder sizes inferred (D %d depth %d heads %d hd %d window %d)", sm->embed_dim, sm->depth, sm->heads, sm->head_dim,
          sm->window);
    CHECK(!sm->blocks[0].global && sm->blocks[1].global && !sm->blocks[2].global && sm->blocks[3].global, "global blocks 1 and 3");
    CHECK(sm->prompt_dim == 32 && sm->mask_in_chans == 8 && sm->dec_depth == 2 && sm->dec_mlp == 64 && sm->n_mask_tokens == 4 &&
              sm->iou_hidden == 32 && sm->iou_depth == 3 && sm->img_size == 1024 && sm->grid == 64,
          "prompt / decoder sizes inferred");
    CHECK(sm->dec_heads == 8, "decoder heads default to upstream's 8 without config.json (%d)", sm->dec_heads);

    // a small image
    struct vlm_image img = { 96, 64, 3, malloc(96 * 64 * 3) };
    for (int i = 0; i < 96 * 64 * 3; i++) img.data[i] = (uint8_t)(i * 7 % 251);
    struct vlm_sam_session * s = NULL;
    CHECK(vlm_sam_session_new(m, &s) == VLM_STATUS_OK, "session");
    struct vlm_point pt = { 40, 30, 1 };
    struct vlm_sam_prompt p = { .points = &pt, .n_points = 1, .multimask_output = true };
    struct vlm_masks out = { 0 };
    CHECK(vlm_sam_predict(s, &p, &out) == VLM_STATUS_INVALID_ARG, "predict before set_image fails");
    CHECK(vlm_sam_set_image(s, &img) == VLM_STATUS_OK, "set_image: %s", vlm_last_error());
    int32_t w = 0, h = 0;
    CHECK(vlm_sam_image_size(s, &w, &h) && w == 96 && h == 64, "image size");
    st = vlm_sam_predict(s, &p, &out);
    CHECK(st == VLM_STATUS_OK && out.n_masks == 3 && out.width == 96 && out.height == 64, "predict: %s", vlm_last_error());
    bool finite = true;
    for (int i = 0; st == VLM_STATUS_OK && i < 3 * 256 * 256; i++) finite &= isfinite(out.low_res_logits[i]);
    CHECK(finite, "finite logits");

    // bad prompts
    struct vlm_point bad_label = { 10, 10, 2 };
    struct vlm_box rev = { 50, 10, 20, 40 }, outside = { 0, 0, 200, 40 };
    struct vlm_sam_prompt bads[5] = {
        { .points = &bad_label, .n_points = 1 },
        { .box = &rev },
        { .box = &outside },
        { .n_points = 0 },
        { .points = NULL, .n_points = 2 },
    };
    const char * names[5] = { "label 2", "x0 > x1 box", "box outside", "no prompt", "points NULL" };
    for (int i = 0; i < 5; i++) {
        struct vlm_masks o = { 0 };
        st = vlm_sam_predict(s, &bads[i], &o);
        CHECK(st == VLM_STATUS_INVALID_ARG && strlen(vlm_last_error()) > 0 && o.masks == NULL, "%s rejected (%d: %s)", names[i],
              st, vlm_last_error());
    }
    // a mask input alone is allowed (as upstream's predict)
    struct vlm_sam_prompt mo = { .mask_input = out.low_res_logits, .multimask_output = false };
    struct vlm_masks om = { 0 };
    CHECK(vlm_sam_predict(s, &mo, &om) == VLM_STATUS_OK && om.n_masks == 1, "mask input alone: %s", vlm_last_error());
    vlm_masks_free(&om);

    // batched = single, with prompts of different token counts
    struct vlm_box bx = { 10, 5, 60, 50 };
    struct vlm_point two[2] = { { 20, 20, 1 }, { 70, 40, 0 } };
    struct vlm_sam_prompt ps[3] = { p, { .box = &bx }, { .points = two, .n_points = 2, .box = &bx, .multimask_output = true } };
    struct vlm_masks bo[3], so[3];
    CHECK(vlm_sam_predict_batch(s, ps, 3, bo) == VLM_STATUS_OK, "predict_batch: %s", vlm_last_error());
    for (int i = 0; i < 3; i++) {
        CHECK(vlm_sam_predict(s, &ps[i], &so[i]) == VLM_STATUS_OK, "single %d", i);
        CHECK(bo[i].n_masks == so[i].n_masks &&
                  test_max_abs(bo[i].low_res_logits, so[i].low_res_logits, (size_t)so[i].n_masks * 256 * 256) < 1e-4,
              "batched prompt %d equals single", i);
        vlm_masks_free(&bo[i]);
        vlm_masks_free(&so[i]);
    }

    // embedding round trip
    CHECK(vlm_sam_save_embedding(s, emb_path) == VLM_STATUS_OK, "save embedding: %s", vlm_last_error());
    struct vlm_sam_session * s2 = NULL;
    CHECK(vlm_sam_session_new(m, &s2) == VLM_STATUS_OK, "session 2");
    CHECK(vlm_sam_load_embedding(s2, emb_path) == VLM_STATUS_OK, "load embedding: %s", vlm_last_error());
    struct vlm_masks o2 = { 0 };
    CHECK(vlm_sam_predict(s2, &p, &o2) == VLM_STATUS_OK && o2.n_masks == 3 &&
              test_max_abs(o2.low_res_logits, out.low_res_logits, 3 * 256 * 256) == 0.0 &&
              !memcmp(o2.masks, out.masks, 3 * 96 * 64),
          "same masks from the loaded embedding");
    CHECK(vlm_sam_load_embedding(s2, path) == VLM_STATUS_INVALID_ARG, "a model file is not an embedding: %s", vlm_last_error());
    vlm_masks_free(&o2);
    vlm_sam_session_free(s2);
    vlm_masks_free(&out);
    vlm_sam_session_free(s);

    // a checkpoint missing a tensor is refused, naming it
    struct vlm_safetensors * st_in = NULL;
    CHECK(vlm_safetensors_open(path, &st_in) == VLM_STATUS_OK, "reopen");
    if (st_in) {
        struct vlm_file_tensor * keep = malloc(sizeof *keep * (size_t)st_in->n_tensors);
        int n = 0;
        for (int i = 0; i < st_in->n_tensors; i++)
            if (strcmp(st_in->tensors[i].name, "mask_decoder.iou_token.weight")) keep[n++] = st_in->tensors[i];
        CHECK(vlm_safetensors_write(bad_path, keep, n) == VLM_STATUS_OK, "write truncated checkpoint");
        struct vlm_model * bm = NULL;
        st = vlm_model_load(bad_path, &mp, &bm);
        CHECK(st == VLM_STATUS_BAD_MODEL && bm == NULL && strstr(vlm_last_error(), "iou_token"),
              "missing tensor named: %d %s", st, vlm_last_error());
        free(keep);
        vlm_safetensors_close(st_in);
    }
    vlm_image_free(&img);
    vlm_model_free(m);
    TEST_END();
}
