// test-sam-everything.c — automatic mask generation against the reference
// SamAutomaticMaskGenerator output (segment_everything case) of shared/fixtures/sam-tiny (48
// masks), tests/data/sam-mini (8 masks of a model with a 128 input and 2 multimask
// outputs) and tests/data/mobilesam-tiny (12 masks of MobileSAM's TinyViT encoder): mask count and order, bbox, area, predicted_iou, stability_score, point_coords and
// the segmentation of each mask, on CPU and (when present) Vulkan; the filter counts of the
// result; and on the CPU `vlm segment --everything`: its --json (compressed COCO RLE, decoded
// here as pycocotools does and compared with the library's masks) and its hint when the
// default thresholds leave no mask. Also the progress callback, and vlm_mask_to_rle /
// vlm_mask_box against their per-pixel definitions.
#include "fixtures.h"
#include "vlm.h"

// ref: pycocotools/common/maskApi.c rleFrString, then rleDecode (column-major runs, 0s first).
static bool rle_string_decode(const char * s, int32_t w, int32_t h, uint8_t * out) {
    size_t n = strlen(s), m = 0, at = 0;
    int64_t * cnts = malloc((n + 1) * sizeof *cnts);
    if (!cnts) return false;
    for (size_t p = 0; s[p];) {
        int64_t x = 0;
        int k = 0;
        for (bool more = true; more; k++) {
            int64_t c = s[p++] - 48;
            x |= (c & 0x1f) << (5 * k);
            more = c & 0x20;
            if (!more && (c & 0x10)) x |= (int64_t)(~(uint64_t)0 << (5 * (k + 1)));
            if (more && !s[p]) { free(cnts); return false; }
        }
        if (m > 2) x += cnts[m - 2];
        cnts[m++] = x;
    }
    bool ok = true;
    for (size_t i = 0; i < m && ok; i++) {
        ok = cnts[i] >= 0 && at + (size_t)cnts[i] <= (size_t)w * h;
        for (int64_t j = 0; ok && j < cnts[i]; j++, at++) {
            size_t y = at % (size_t)h, x = at / (size_t)h;
            out[y * (size_t)w + x] = (uint8_t)(i & 1);
        }
    }
    free(cnts);
    return ok && at == (size_t)w * h;
}

// `vlm segment --everything` with p's thresholds: the JSON's masks equal the library's r.
static void check_cli(const char * name, const char * model_path, const char * image, const struct vlm_sam_everything_params * p,
                      const struct vlm_sam_everything_result * r, int32_t n_default) {
    const char * dir = test_tmp_dir("everything");
    char out[8192], json[300];
    snprintf(json, sizeof json, "%s/masks.json", dir);
    int rc = test_run_cli(out, sizeof out, dir, NULL, "segment -m '%s' '%s' --everything --backend cpu --points-per-side %d "
                          "--pred-iou-thresh %g --stability-score-thresh %g --box-nms-thresh %g --json '%s'", model_path,
                          image, p->points_per_side, p->pred_iou_thresh, p->stability_score_thresh, p->box_nms_thresh, json);
    CHECK(rc == 0, "%s: segment --everything --json: rc %d: %s", name, rc, out);
    char * text = test_read_text(json);
    cJSON * j = text ? cJSON_Parse(text) : NULL;
    const cJSON * masks = cJSON_GetObjectItem(j, "masks");
    CHECK(cJSON_GetArraySize(masks) == r->n_masks, "%s: JSON holds %d masks, the library %d", name, cJSON_GetArraySize(masks),
          r->n_masks);
    uint8_t * m = malloc((size_t)r->width * r->height);
    int bad = 0;
    for (int i = 0; m && i < cJSON_GetArraySize(masks) && i < r->n_masks; i++) {
        const cJSON * seg = cJSON_GetObjectItem(cJSON_GetArrayItem(masks, i), "segmentation");
        const cJSON * c = cJSON_GetObjectItem(seg, "counts"), * sz = cJSON_GetObjectItem(seg, "size");
        bool ok = cJSON_IsString(c) && cJSON_GetArrayItem(sz, 0)->valueint == r->height &&
                  cJSON_GetArrayItem(sz, 1)->valueint == r->width && rle_string_decode(c->valuestring, r->width, r->height, m) &&
                  !memcmp(m, r->masks[i].segmentation, (size_t)r->width * r->height);
        bad += !ok;
    }
    CHECK(bad == 0, "%s: %d JSON masks differ from the library's after decoding their compressed RLE", name, bad);
    free(m);
    cJSON_Delete(j);
    free(text);
    // default thresholds (n_default masks): when nothing is kept the output says why
    rc = test_run_cli(out, sizeof out, dir, NULL, "segment -m '%s' '%s' --everything --backend cpu --points-per-side %d",
                      model_path, image, p->points_per_side);
    char want[128];
    snprintf(want, sizeof want, "no masks left: of %d candidates", r->n_candidates);
    CHECK(rc == 0 && (n_default > 0 ? !strstr(out, "no masks left") : strstr(out, want) && strstr(out, "--pred-iou-thresh") != NULL),
          "%s: %d masks with default thresholds, output: %s", name, n_default, out);
}

struct progress_log { int calls, last, total; bool monotone; };
static void log_progress(void * user, int32_t done, int32_t total) {
    struct progress_log * l = user;
    l->monotone = l->calls == 0 ? done > 0 : l->monotone && done > l->last;
    l->calls++;
    l->last = done;
    l->total = total;
}

// vlm_mask_to_rle and vlm_mask_box against the plain per-pixel definitions, on sizes that cut
// the 64 x 64 transpose blocks, masks of 0/1 and of 0/255, empty and full.
static void check_rle_and_box(void) {
    static const int32_t sizes[][2] = { { 1, 1 }, { 67, 131 }, { 130, 64 }, { 200, 3 } };
    uint64_t seed = 7;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (int kind = 0; kind < 4; kind++) {
            const int32_t w = sizes[si][0], h = sizes[si][1];
            uint8_t * m = malloc((size_t)w * h);
            for (int32_t i = 0; i < w * h; i++) {
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                const int32_t x = i % w, y = i / w;
                // 0: empty, 1: full, 2: a random blob of 1s, 3: scattered 255s
                m[i] = kind == 0 ? 0 : kind == 1 ? 1 : kind == 2 ? ((x - w / 3) * (x - w / 3) + (y - h / 2) * (y - h / 2) < w * h / 8)
                                                                 : (seed >> 60) == 0 ? 255 : 0;
            }
            int64_t * counts = NULL, n = 0, want = 0, run = 0, nc = 0;
            bool ok = vlm_mask_to_rle(m, w, h, &counts, &n) == VLM_STATUS_OK && n > 0, cur = false;
            for (int32_t x = 0; ok && x < w; x++)
                for (int32_t y = 0; ok && y < h; y++) {
                    const bool v = m[(size_t)y * w + x] != 0;
                    if (v != cur) {
                        ok = nc < n && counts[nc++] == run;
                        run = 0;
                        cur = v;
                    }
                    run++;
                }
            ok = ok && nc == n - 1 && counts[nc] == run;
            CHECK(ok, "rle of a %dx%d mask (kind %d)", w, h, kind);
            free(counts);
            int32_t box[4], x0 = w, y0 = h, x1 = -1, y1 = -1;
            for (int32_t i = 0; i < w * h; i++)
                if (m[i]) {
                    want++;
                    x0 = i % w < x0 ? i % w : x0, x1 = i % w > x1 ? i % w : x1;
                    y0 = i / w < y0 ? i / w : y0, y1 = i / w > y1 ? i / w : y1;
                }
            if (x1 < 0) x0 = y0 = x1 = y1 = 0;
            const int64_t area = vlm_mask_box(m, w, h, box);
            CHECK(area == want && box[0] == x0 && box[1] == y0 && box[2] == x1 && box[3] == y1,
                  "box of a %dx%d mask (kind %d): area %lld [%d %d %d %d], expected %lld [%d %d %d %d]", w, h, kind,
                  (long long)area, box[0], box[1], box[2], box[3], (long long)want, x0, y0, x1, y1);
            free(m);
        }
}

static bool run(enum vlm_backend_type backend, const char * name, const char * model_path, const cJSON * se,
                const struct vlm_safetensors * exp) {
    struct vlm_model_params mp = vlm_model_default_params();
    mp.backend = backend;
    struct vlm_model * model = NULL;
    enum vlm_status st = vlm_model_load(model_path, &mp, &model);
    if (st != VLM_STATUS_OK) {
        if (backend == VLM_BACKEND_VULKAN && st == VLM_STATUS_UNSUPPORTED) return false;
        CHECK(0, "%s: load: %s", name, vlm_last_error());
        return true;
    }
    const cJSON * prm = cJSON_GetObjectItem(se, "params");
    struct vlm_sam_everything_params p = vlm_sam_everything_default_params();
    p.points_per_side = cJSON_GetObjectItem(prm, "points_per_side")->valueint;
    p.pred_iou_thresh = (float)cJSON_GetObjectItem(prm, "pred_iou_thresh")->valuedouble;
    p.stability_score_thresh = (float)cJSON_GetObjectItem(prm, "stability_score_thresh")->valuedouble;
    p.stability_score_offset = (float)cJSON_GetObjectItem(prm, "stability_score_offset")->valuedouble;
    p.box_nms_thresh = (float)cJSON_GetObjectItem(prm, "box_nms_thresh")->valuedouble;
    p.crop_n_layers = cJSON_GetObjectItem(prm, "crop_n_layers")->valueint;

    char rel[256];
    snprintf(rel, sizeof rel, "images/%s", cJSON_GetObjectItem(se, "image")->valuestring);
    struct vlm_image img = { 0 };
    CHECK(vlm_image_load(test_fixture(rel), &img) == VLM_STATUS_OK, "load %s: %s", rel, vlm_last_error());
    struct vlm_sam_session * s = NULL;
    CHECK(vlm_sam_session_new(model, &s) == VLM_STATUS_OK, "session: %s", vlm_last_error());
    struct vlm_sam_everything_result r = { 0 };
    st = s && img.data ? vlm_sam_everything(s, &img, &p, &r) : VLM_STATUS_INVALID_ARG;
    CHECK(st == VLM_STATUS_OK, "%s: everything: %s", name, vlm_last_error());
    const cJSON * masks = cJSON_GetObjectItem(se, "masks");
    const int n = cJSON_GetArraySize(masks);
    CHECK(r.n_masks == n, "%s: %d masks, expected %d", name, r.n_masks, n);
    double worst_iou = 0, worst_stab = 0, worst_seg = 0, worst_pt = 0;
    int bbox_bad = 0, area_bad = 0;
    for (int i = 0; i < n && i < r.n_masks; i++) {
        const cJSON * e = cJSON_GetArrayItem(masks, i);
        const struct vlm_sam_annotation * a = &r.masks[i];
        const cJSON * bb = cJSON_GetObjectItem(e, "bbox");
        bool bok = true;
        for (int k = 0; k < 4; k++) bok &= a->bbox[k] == cJSON_GetArrayItem(bb, k)->valueint;
        if (!bok) {
            bbox_bad++;
            fprintf(stderr, "%s mask %d: bbox [%d %d %d %d] vs [%d %d %d %d]\n", name, i, a->bbox[0], a->bbox[1], a->bbox[2],
                    a->bbox[3], cJSON_GetArrayItem(bb, 0)->valueint, cJSON_GetArrayItem(bb, 1)->valueint,
                    cJSON_GetArrayItem(bb, 2)->valueint, cJSON_GetArrayItem(bb, 3)->valueint);
        }
        const double area = cJSON_GetObjectItem(e, "area")->valuedouble;
        const double npx = (double)r.width * r.height;
        // masks may flip where the logit is within ~1e-2 of zero: allow 0.1% of the pixels
        if (fabs((double)a->area - area) > 1e-3 * npx) area_bad++;
        double di = fabs(a->predicted_iou - cJSON_GetObjectItem(e, "predicted_iou")->valuedouble);
        double ds = fabs(a->stability_score - cJSON_GetObjectItem(e, "stability_score")->valuedouble);
        const cJSON * pc = cJSON_GetArrayItem(cJSON_GetObjectItem(e, "point_coords"), 0);
        double dp = fmax(fabs(a->point_coords[0] - cJSON_GetArrayItem(pc, 0)->valuedouble),
                         fabs(a->point_coords[1] - cJSON_GetArrayItem(pc, 1)->valuedouble));
        if (di > worst_iou) worst_iou = di;
        if (ds > worst_stab) worst_stab = ds;
        if (dp > worst_pt) worst_pt = dp;
        const struct vlm_file_tensor * seg = vlm_safetensors_find(exp, cJSON_GetObjectItem(e, "segmentation")->valuestring);
        CHECK(seg && seg->shape[0] == r.height && seg->shape[1] == r.width, "%s mask %d: segmentation tensor", name, i);
        if (seg && seg->shape[0] == r.height && seg->shape[1] == r.width) {
            size_t nd = 0;
            for (size_t k = 0; k < (size_t)r.width * r.height; k++)
                nd += (a->segmentation[k] != 0) != (((const uint8_t *)seg->data)[k] != 0);
            double f = (double)nd / ((double)r.width * r.height);
            if (f > worst_seg) worst_seg = f;
        }
        bool crop_ok = a->crop_box[0] == 0 && a->crop_box[1] == 0 && a->crop_box[2] == r.width && a->crop_box[3] == r.height;
        CHECK(crop_ok, "%s mask %d: crop_box [%d %d %d %d]", name, i, a->crop_box[0], a->crop_box[1], a->crop_box[2], a->crop_box[3]);
    }
    CHECK(bbox_bad == 0, "%s: %d boxes differ", name, bbox_bad);
    CHECK(area_bad == 0, "%s: %d areas differ by more than 0.1%% of the image", name, area_bad);
    CHECK(worst_iou <= 1e-3, "%s: predicted_iou max abs %.3g", name, worst_iou);
    CHECK(worst_stab <= 2e-3, "%s: stability_score max abs %.3g", name, worst_stab);
    CHECK(worst_pt <= 1e-3, "%s: point_coords max abs %.3g", name, worst_pt);
    CHECK(worst_seg <= 1e-3, "%s: segmentation differs on %.4f%% of pixels", name, 100 * worst_seg);
    printf("%-7s masks %d/%d  iou %.2e  stability %.2e  points %.1e  segmentation %.4f%%  boxes bad %d  areas bad %d\n", name,
           r.n_masks, n, worst_iou, worst_stab, worst_pt, 100 * worst_seg, bbox_bad, area_bad);

    // the filter counts: every candidate kept (the case turns the filters off) or accounted for
    const int32_t n_out = cJSON_GetObjectItem(prm, "points_per_side")->valueint * cJSON_GetObjectItem(prm, "points_per_side")->valueint;
    CHECK(r.n_candidates > 0 && r.n_candidates % n_out == 0 && r.n_masks + r.n_low_iou + r.n_unstable + r.n_crop_edge + r.n_duplicates ==
          r.n_candidates, "%s: %d masks + %d + %d + %d + %d removed != %d candidates", name, r.n_masks, r.n_low_iou, r.n_unstable,
          r.n_crop_edge, r.n_duplicates, r.n_candidates);
    struct vlm_sam_everything_params dp = vlm_sam_everything_default_params();
    dp.points_per_side = p.points_per_side;
    struct vlm_sam_everything_result rd = { 0 };
    CHECK(s && vlm_sam_everything(s, NULL, &dp, &rd) == VLM_STATUS_OK && rd.n_candidates == r.n_candidates &&
          rd.n_masks + rd.n_low_iou + rd.n_unstable + rd.n_crop_edge + rd.n_duplicates == rd.n_candidates,
          "%s: default thresholds: %d masks + %d + %d + %d + %d removed != %d candidates", name, rd.n_masks, rd.n_low_iou,
          rd.n_unstable, rd.n_crop_edge, rd.n_duplicates, rd.n_candidates);
    if (backend == VLM_BACKEND_CPU) check_cli(name, model_path, test_fixture(rel), &p, &r, rd.n_masks);
    vlm_sam_everything_result_free(&rd);

    // the same with the embedding reused (image NULL) gives the same masks, in batches of 5
    // points (the last one short) with the progress reported after each
    struct vlm_sam_everything_result r2 = { 0 };
    struct progress_log log = { 0 };
    struct vlm_sam_everything_params p2 = p;
    p2.points_per_batch = 5;
    p2.progress = log_progress;
    p2.progress_user = &log;
    st = s ? vlm_sam_everything(s, NULL, &p2, &r2) : VLM_STATUS_INVALID_ARG;
    CHECK(st == VLM_STATUS_OK && r2.n_masks == r.n_masks, "%s: everything on the set image", name);
    for (int i = 0; i < r2.n_masks && i < r.n_masks; i++)
        CHECK(llabs(r2.masks[i].area - r.masks[i].area) <= r.width * r.height / 1000 &&
                  fabsf(r2.masks[i].predicted_iou - r.masks[i].predicted_iou) <= 1e-5f,
              "%s: mask %d the same in batches of 5 (one-row products may sum in another order)", name, i);
    CHECK(log.calls == (n_out + 4) / 5 && log.last == n_out && log.total == n_out && log.monotone,
          "%s: progress: %d calls, last %d of %d (expected %d calls up to %d)", name, log.calls, log.last, log.total,
          (n_out + 4) / 5, n_out);
    // defaults and a bad parameter
    struct vlm_sam_everything_params d = vlm_sam_everything_default_params();
    CHECK(d.points_per_side == 32 && d.points_per_batch == 64 && fabsf(d.pred_iou_thresh - 0.88f) < 1e-6f &&
              fabsf(d.stability_score_thresh - 0.95f) < 1e-6f && d.stability_score_offset == 1.0f &&
              fabsf(d.box_nms_thresh - 0.7f) < 1e-6f && d.crop_n_layers == 0 && fabsf(d.crop_overlap_ratio - 512.0f / 1500) < 1e-6f &&
              d.crop_n_points_downscale_factor == 1 && d.min_mask_region_area == 0 && !d.progress,
          "default params mirror SamAutomaticMaskGenerator");
    d.points_per_side = 0;
    struct vlm_sam_everything_result r3 = { 0 };
    CHECK(s && vlm_sam_everything(s, NULL, &d, &r3) == VLM_STATUS_INVALID_ARG, "points_per_side 0 rejected");
    vlm_sam_everything_result_free(&r3);
    vlm_sam_everything_result_free(&r2);
    vlm_sam_everything_result_free(&r);
    vlm_sam_session_free(s);
    vlm_image_free(&img);
    vlm_model_free(model);
    return true;
}

// The segment_everything case of one fixture folder (model_file in it) on every backend.
static void run_fixture(const char * dir, const char * model_file) {
    char model[4096];
    cJSON * j = test_fixture_json(dir, "cases.json", TEST_NEED_CHECK);
    const cJSON * se = cJSON_GetObjectItem(j, "segment_everything");
    CHECK(se != NULL, "%s/cases.json: segment_everything case present", dir);
    struct vlm_safetensors * exp = se ? test_fixture_tensors(dir, "cases.safetensors", TEST_NEED_CHECK) : NULL;
    snprintf(model, sizeof model, "%s/%s", dir, model_file);
    printf("== %s\n", dir);
    if (exp && test_want_backend("cpu")) run(VLM_BACKEND_CPU, "cpu", model, se, exp);
    if (exp && test_want_backend("vulkan") && !run(VLM_BACKEND_VULKAN, "vulkan", model, se, exp)) {
        if (test_require_vulkan()) CHECK(0, "VLM_TEST_REQUIRE_VULKAN=1 but no Vulkan device");
        else fprintf(stderr, "SKIP (vulkan half): no Vulkan device\n");
    }
    vlm_safetensors_close(exp);
    cJSON_Delete(j);
}

int main(void) {
    char tiny[4096];
    snprintf(tiny, sizeof tiny, "%s/sam-tiny", test_fixtures_dir());
    check_rle_and_box();
    run_fixture(tiny, "model.safetensors");
    run_fixture(test_data("sam-mini"), "model.safetensors");
    run_fixture(test_data("mobilesam-tiny"), "mobile_sam.pt");
    TEST_END();
}
