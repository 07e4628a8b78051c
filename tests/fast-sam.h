// fast-sam.h — the CLI and server checks shared by the fast SAM family's tests (test-mobilesam.c,
// test-effsam.c), header-only: `vlm segment --save-tensors` on the case gray_odd.point of a fixture
// against its reference, and a CPU server answering a click with the reference's scores and a
// segment-everything request.
#ifndef VLM_TEST_FAST_SAM_H
#define VLM_TEST_FAST_SAM_H
#include <cjson/cJSON.h>

#include "harness.h"
#include "model-file.h"
#include "serve-client.h"

struct fast_sam {
    const char * cli, * tmpdir;
    const char * model;         // -m of the server
    int64_t      C, G, L;       // the fixture's embedding [1, C, G, G] and low-res side L
};

// The case gray_odd.point: one positive point, multimask.
#define FAST_SAM_POINT "102.80000000000001,70.95"

// Compares `vlm segment --save-tensors` output with the reference case gray_odd.point.
static inline void fast_sam_check_outputs(const struct fast_sam * fs, const char * what, const char * got_path,
                                          const struct vlm_safetensors * exp) {
    struct vlm_safetensors * got = NULL;
    CHECK(vlm_safetensors_open(got_path, &got) == VLM_STATUS_OK, "%s: open --save-tensors output: %s", what, vlm_last_error());
    if (!got) return;
    const struct { const char * got, * exp; int64_t d1, d2, d3; double tol; } T[] = {
        { "image_embeddings", "gray_odd.image_embeddings", fs->C, fs->G, fs->G, 1e-3 },
        { "low_res_logits", "gray_odd.point.low_res_logits", fs->L, fs->L, 0, 5e-3 },
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
    test_check_masks(what, mk ? mk->data : NULL, mk ? mk->nbytes : 0, me ? me->data : NULL, me ? me->nbytes : 0);
    vlm_safetensors_close(got);
}

static inline void fast_sam_segment(const struct fast_sam * fs, const char * backend, const char * model, const char * label,
                                    const struct vlm_safetensors * exp) {
    char out[8192], what[128], st[600];
    snprintf(what, sizeof what, "%s %s", backend, label);
    snprintf(st, sizeof st, "%s/out.safetensors", fs->tmpdir);
    int rc = test_run_cli(out, sizeof out, fs->tmpdir, NULL, "segment --backend %s -m '%s' '%s' --point " FAST_SAM_POINT " --save-tensors '%s'",
                          backend, model, test_fixture("images/gray_odd.jpg"), st);
    CHECK(rc == 0, "%s: exit %d: %s", what, rc, out);
    if (rc == 0) fast_sam_check_outputs(fs, what, st, exp);
}

static inline int fast_sam_post_json(int port, const char * path, const char * json, cJSON ** out) {
    char * body = NULL;
    int st = serve_http(port, "POST", path, json, strlen(json), "application/json", &body, NULL);
    *out = body ? cJSON_Parse(body) : NULL;
    free(body);
    return st;
}

// One click and one segment-everything request on a CPU server; the click's scores are the
// reference's. extra (or NULL) sends more requests to the server on port with the image id.
static inline void fast_sam_serve(const struct fast_sam * fs, const struct vlm_safetensors * exp,
                                  void (*extra)(int port, const char * image_id)) {
    char log_path[600];
    snprintf(log_path, sizeof log_path, "%s/serve.log", fs->tmpdir);
    const char * args[] = { "-m", fs->model, "--backend", "cpu", NULL };
    struct serve_proc sp = { 0 };
    if (!serve_start(fs->cli, args, log_path, &sp)) {
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
    snprintf(json, sizeof json, "{\"image\": \"%s\", \"points\": [[" FAST_SAM_POINT ", 1]]}", cJSON_IsString(id) ? id->valuestring : "");
    cJSON * r = NULL;
    st = fast_sam_post_json(sp.port, "/v1/segment", json, &r);
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
    st = fast_sam_post_json(sp.port, "/v1/everything", json, &r);
    CHECK(st == 200 && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "masks")) > 0, "everything: %d", st);
    cJSON_Delete(r);
    if (extra && cJSON_IsString(id)) extra(sp.port, id->valuestring);
    cJSON_Delete(o);
    CHECK(serve_stop(&sp) == 0, "server did not exit cleanly (log: %s)", log_path);
    printf("  %-34s click and everything answered, clean exit\n", "serve cpu");
}

#endif
