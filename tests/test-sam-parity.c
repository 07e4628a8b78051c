// test-sam-parity.c — SAM stage-by-stage parity against the PyTorch reference fixtures:
// resized image, image embeddings, low-res logits, IoU predictions and final masks, on CPU and
// Vulkan, for shared/fixtures/sam-tiny (the released models' sizes: 1024 input, 64x64 grid,
// 256x256 low-res; 4 images x 5 prompt kinds) and tests/data/sam-small (made by
// scripts/make-sam-fixture.py: 512 input, 32x32 grid, 128x128 low-res, window 7, one global
// block, prompt dim 24; 9 cases on 3 images) and tests/data/sam-mini (128 input, window 14 over
// an 8x8 grid, prompt dim 20, 2 multimask outputs, 1 decoder layer, IoU head depth 2; 5 cases),
// and tests/data/mobilesam-tiny (MobileSAM's TinyViT encoder, made by
// scripts/make-mobilesam-fixture.py: 256 input, 16x16 grid; read from its mobile_sam.pt; 7 cases).
#include "fixtures.h"
#include "sam.h"
#include "vlm.h"

struct worst {
    double resized_diff;   // fraction of differing bytes
    double emb_max, emb_cos;
    double logits_max, iou_max, mask_frac;
};

// Prompts of one image, decoded again in one vlm_sam_predict_batch call.
#define MAX_BATCH 8
struct batch {
    int                   n;
    struct vlm_sam_prompt p[MAX_BATCH];
    struct vlm_point      pts[MAX_BATCH][8];
    struct vlm_box        box[MAX_BATCH];
    char                  name[MAX_BATCH][96];
};

// Limits per weight type: F32 the fixtures' tolerances; the encoder's linear weights kept as F16
// or Q8_0 (--weights) change the results within these (the measured errors are printed).
struct limits { double emb_max, emb_cos, logits, iou, mask_frac; };
static const struct limits LIMITS[] = {
    [VLM_WEIGHTS_AUTO] = { 1e-3, 0.99999, 5e-3, 1e-3, 1e-3 },   // the fixture is F32: as F32
    [VLM_WEIGHTS_F32]  = { 1e-3, 0.99999, 5e-3, 1e-3, 1e-3 },
    [VLM_WEIGHTS_F16]  = { 2e-2, 0.99999, 0.3, 3e-3, 3e-3 },
    [VLM_WEIGHTS_Q8_0] = { 0.5, 0.9995, 6.0, 5e-2, 3e-2 },
};

// predict_batch groups prompts by token count; every result must match the reference too.
static void check_batch(struct vlm_sam_session * s, struct batch * b, const struct vlm_safetensors * exp, const char * backend,
                        double tol, double * worst) {
    if (b->n == 0) return;
    struct vlm_masks out[MAX_BATCH];
    enum vlm_status st = vlm_sam_predict_batch(s, b->p, b->n, out);
    CHECK(st == VLM_STATUS_OK, "%s: predict_batch: %s", backend, vlm_last_error());
    for (int i = 0; i < b->n && st == VLM_STATUS_OK; i++) {
        char tname[160];
        snprintf(tname, sizeof tname, "%s.low_res_logits", b->name[i]);
        const struct vlm_file_tensor * lt = vlm_safetensors_find(exp, tname);
        const size_t L = (size_t)out[i].low_res_size;
        bool ok = lt && (size_t)out[i].n_masks * L * L * 4 == lt->nbytes;
        double d = ok ? test_max_abs(out[i].low_res_logits, lt->data, lt->nbytes / 4) : 1e9;
        if (!(d <= *worst)) *worst = d;
        CHECK(ok && d <= tol, "%s %s: batched logits max abs %.3g", backend, b->name[i], d);
        vlm_masks_free(&out[i]);
    }
    b->n = 0;
}

static void stem(const char * file, char * out, size_t n) {
    snprintf(out, n, "%s", file);
    char * dot = strrchr(out, '.');
    if (dot) *dot = 0;
}

// Runs every image and case on one backend; returns false when the backend is unavailable.
static bool run_backend(enum vlm_backend_type backend, enum vlm_weight_type wt, const char * name,
                        const char * model_path, const cJSON * cases, const struct vlm_safetensors * exp, struct worst * w) {
    const struct limits * lim = &LIMITS[wt];
    struct vlm_model_params mp = vlm_model_default_params();
    mp.backend = backend;
    mp.weights = wt;
    struct vlm_model * model = NULL;
    enum vlm_status st = vlm_model_load(model_path, &mp, &model);
    if (st != VLM_STATUS_OK) {
        if (backend == VLM_BACKEND_VULKAN && st == VLM_STATUS_UNSUPPORTED) {
            fprintf(stderr, "vulkan: unavailable (%s)\n", vlm_last_error());
            return false;
        }
        CHECK(0, "%s: model load failed: %s", name, vlm_last_error());
        return true;
    }
    CHECK(vlm_model_kind(model) == VLM_MODEL_SAM, "%s: model kind", name);
    printf("%s: backend %s\n", name, vlm_model_backend_name(model));
    struct vlm_sam_session * s = NULL;
    st = vlm_sam_session_new(model, &s);
    CHECK(st == VLM_STATUS_OK, "%s: session: %s", name, vlm_last_error());
    memset(w, 0, sizeof *w);
    w->emb_cos = 1.0;
    char cur_image[64] = "";
    static struct batch bt;
    void * copies[64] = { 0 };   // aligned mask inputs
    int    n_copies = 0;
    bt.n = 0;
    double batch_worst = 0;
    int n_cases = cJSON_GetArraySize(cases);
    for (int ci = 0; ci < n_cases && s; ci++) {
        const cJSON * c = cJSON_GetArrayItem(cases, ci);
        const char * img_file = cJSON_GetObjectItem(c, "image")->valuestring;
        const char * case_name = cJSON_GetObjectItem(c, "name")->valuestring;
        char prefix[64], tname[160];
        stem(img_file, prefix, sizeof prefix);
        if (strcmp(cur_image, img_file)) {
            check_batch(s, &bt, exp, name, lim->logits, &batch_worst);
            snprintf(cur_image, sizeof cur_image, "%s", img_file);
            char rel[256];
            snprintf(rel, sizeof rel, "images/%s", img_file);
            struct vlm_image img = { 0 };
            st = vlm_image_load(test_fixture(rel), &img);
            CHECK(st == VLM_STATUS_OK, "load %s: %s", rel, vlm_last_error());
            if (st != VLM_STATUS_OK) continue;
            st = vlm_sam_set_image(s, &img);
            CHECK(st == VLM_STATUS_OK, "%s: set_image %s: %s", name, img_file, vlm_last_error());
            vlm_image_free(&img);
            if (st != VLM_STATUS_OK) continue;
            // resized uint8 image (EfficientSAM's fixture has none: its input is a float resize)
            snprintf(tname, sizeof tname, "%s.resized", prefix);
            const struct vlm_file_tensor * rt = vlm_safetensors_find(exp, tname);
            size_t sz = 0;
            vlm_sam_session_get_tensor(s, "resized", NULL, 0, &sz);
            if (rt) {
                CHECK(sz == rt->nbytes, "%s %s: resized size %zu vs %zu", name, prefix, sz, rt->nbytes);
                if (sz == rt->nbytes) {
                    uint8_t * r = malloc(sz);
                    vlm_sam_session_get_tensor(s, "resized", r, sz, NULL);
                    size_t nd = 0;
                    for (size_t i = 0; i < sz; i++) nd += r[i] != ((const uint8_t *)rt->data)[i];
                    double frac = (double)nd / sz;
                    if (frac > w->resized_diff) w->resized_diff = frac;
                    CHECK(nd == 0, "%s %s: resized differs on %zu bytes", name, prefix, nd);
                    free(r);
                }
            }
            // image embeddings
            snprintf(tname, sizeof tname, "%s.image_embeddings", prefix);
            const struct vlm_file_tensor * et = test_fixture_find(exp, tname);
            vlm_sam_session_get_tensor(s, "image_embeddings", NULL, 0, &sz);
            if (et && sz == et->nbytes) {
                float * e = malloc(sz);
                vlm_sam_session_get_tensor(s, "image_embeddings", e, sz, NULL);
                size_t n = sz / 4;
                double mx = test_max_abs(e, et->data, n), cs = test_cosine(e, et->data, n);
                if (!(mx <= w->emb_max)) w->emb_max = mx;
                if (!(cs >= w->emb_cos)) w->emb_cos = cs;
                CHECK(mx <= lim->emb_max && cs >= lim->emb_cos, "%s %s: embeddings max abs %.3g cosine %.8f", name, prefix,
                      mx, cs);
                free(e);
            } else {
                CHECK(0, "%s %s: embeddings size %zu", name, prefix, sz);
            }
        }
        // prompt
        struct vlm_point pts[8];
        struct vlm_box box = { 0 };
        struct vlm_sam_prompt p = { 0 };
        const cJSON * pc = cJSON_GetObjectItem(c, "point_coords");
        const cJSON * pl = cJSON_GetObjectItem(c, "point_labels");
        if (cJSON_IsArray(pc)) {
            p.n_points = cJSON_GetArraySize(pc);
            for (int i = 0; i < p.n_points && i < 8; i++) {
                pts[i].x = (float)cJSON_GetArrayItem(cJSON_GetArrayItem(pc, i), 0)->valuedouble;
                pts[i].y = (float)cJSON_GetArrayItem(cJSON_GetArrayItem(pc, i), 1)->valuedouble;
                pts[i].label = cJSON_GetArrayItem(pl, i)->valueint;
            }
            p.points = pts;
        }
        const cJSON * bx = cJSON_GetObjectItem(c, "box");
        if (cJSON_IsArray(bx)) {
            box.x0 = (float)cJSON_GetArrayItem(bx, 0)->valuedouble;
            box.y0 = (float)cJSON_GetArrayItem(bx, 1)->valuedouble;
            box.x1 = (float)cJSON_GetArrayItem(bx, 2)->valuedouble;
            box.y1 = (float)cJSON_GetArrayItem(bx, 3)->valuedouble;
            p.box = &box;
        }
        const cJSON * mi = cJSON_GetObjectItem(c, "mask_input");
        if (cJSON_IsString(mi)) {
            const struct vlm_file_tensor * mt = test_fixture_find(exp, mi->valuestring);
            // an aligned copy: the library reads floats (kept for the batched pass)
            if (mt && n_copies < 64) p.mask_input = copies[n_copies++] = test_aligned_copy(mt->data, mt->nbytes);
        }
        p.multimask_output = cJSON_IsTrue(cJSON_GetObjectItem(c, "multimask_output"));
        if (bt.n < MAX_BATCH) {
            int k = bt.n++;
            bt.p[k] = p;
            memcpy(bt.pts[k], pts, sizeof pts);
            bt.box[k] = box;
            bt.p[k].points = p.points ? bt.pts[k] : NULL;
            bt.p[k].box = p.box ? &bt.box[k] : NULL;
            snprintf(bt.name[k], sizeof bt.name[k], "%s", case_name);
        }
        struct vlm_masks m = { 0 };
        st = vlm_sam_predict(s, &p, &m);
        CHECK(st == VLM_STATUS_OK, "%s %s: predict: %s", name, case_name, vlm_last_error());
        if (st != VLM_STATUS_OK) continue;
        snprintf(tname, sizeof tname, "%s.low_res_logits", case_name);
        const struct vlm_file_tensor * lt = test_fixture_find(exp, tname);
        snprintf(tname, sizeof tname, "%s.iou_predictions", case_name);
        const struct vlm_file_tensor * it = test_fixture_find(exp, tname);
        snprintf(tname, sizeof tname, "%s.masks", case_name);
        const struct vlm_file_tensor * mt = test_fixture_find(exp, tname);
        if (lt && it && mt) {
            CHECK(m.n_masks == it->shape[0], "%s %s: %d masks, expected %lld", name, case_name, m.n_masks, (long long)it->shape[0]);
            CHECK(mt->shape[1] == m.height && mt->shape[2] == m.width, "%s %s: mask size", name, case_name);
            if (m.n_masks == it->shape[0] && mt->shape[1] == m.height && mt->shape[2] == m.width) {
                size_t nl = (size_t)m.n_masks * (size_t)m.low_res_size * (size_t)m.low_res_size;
                CHECK(lt->nbytes == nl * 4, "%s %s: low-res logits %dx%d, reference %lldx%lld", name, case_name,
                      m.low_res_size, m.low_res_size, (long long)lt->shape[1], (long long)lt->shape[2]);
                if (lt->nbytes != nl * 4) nl = 0;
                double lm = test_max_abs(m.low_res_logits, lt->data, nl);
                double im = test_max_abs(m.iou, it->data, (size_t)m.n_masks);
                size_t hw = (size_t)m.n_masks * m.width * m.height, nd = 0;
                for (size_t i = 0; i < hw; i++) nd += (m.masks[i] != 0) != (((const uint8_t *)mt->data)[i] != 0);
                double frac = (double)nd / hw;
                if (!(lm <= w->logits_max)) w->logits_max = lm;
                if (!(im <= w->iou_max)) w->iou_max = im;
                if (frac > w->mask_frac) w->mask_frac = frac;
                CHECK(lm <= lim->logits, "%s %s: low-res logits max abs %.3g", name, case_name, lm);
                CHECK(im <= lim->iou, "%s %s: iou max abs %.3g", name, case_name, im);
                CHECK(frac <= lim->mask_frac, "%s %s: masks differ on %.4f%% of pixels", name, case_name, 100 * frac);
            }
        }
        vlm_masks_free(&m);
    }
    if (s) check_batch(s, &bt, exp, name, lim->logits, &batch_worst);
    for (int i = 0; i < n_copies; i++) free(copies[i]);
    printf("%s: batched predict (grouped by token count), worst logits max abs %.3g\n", name, batch_worst);
    vlm_sam_session_free(s);
    vlm_model_free(model);
    return true;
}

// All cases of one fixture folder (the model file, cases.json, cases.safetensors) on every
// backend; images from the shared fixtures.
static void run_fixture(const char * dir, const char * model_file, int n_cases) {
    struct test_cases fx;
    if (!test_cases_open(dir, TEST_NEED_CHECK, &fx)) {
        test_cases_close(&fx);
        return;
    }
    printf("== %s\n", dir);
    const cJSON * cases = cJSON_GetObjectItem(fx.json, "cases");
    CHECK(cJSON_GetArraySize(cases) == n_cases, "%d cases in %s/cases.json", n_cases, dir);
    const struct vlm_safetensors * exp = fx.st;
    char model[4096];
    snprintf(model, sizeof model, "%s/%s", dir, model_file);
    struct worst wc, wv, wq[2];
    memset(&wc, 0, sizeof wc);
    memset(&wv, 0, sizeof wv);
    bool have_cpu = test_want_backend("cpu");
    if (have_cpu) run_backend(VLM_BACKEND_CPU, VLM_WEIGHTS_F32, "cpu", model, cases, exp, &wc);
    if (have_cpu) run_backend(VLM_BACKEND_CPU, VLM_WEIGHTS_F16, "cpu f16", model, cases, exp, &wq[0]);
    if (have_cpu) run_backend(VLM_BACKEND_CPU, VLM_WEIGHTS_Q8_0, "cpu q8_0", model, cases, exp, &wq[1]);
    bool have_vk = test_want_backend("vulkan") &&
                   run_backend(VLM_BACKEND_VULKAN, VLM_WEIGHTS_F32, "vulkan", model, cases, exp, &wv);
    if (!have_vk && test_want_backend("vulkan")) {
        if (test_require_vulkan()) CHECK(0, "VLM_TEST_REQUIRE_VULKAN=1 but no Vulkan device");
        else fprintf(stderr, "SKIP (vulkan half): no Vulkan device\n");
    }
    printf("\n%-8s %12s %12s %12s %12s %12s %12s\n", "backend", "resized", "emb max", "emb cos", "logits max", "iou max",
           "mask diff");
    if (have_cpu)
        printf("%-8s %12.3g %12.3g %12.8f %12.3g %12.3g %11.4f%%\n", "cpu", wc.resized_diff, wc.emb_max, wc.emb_cos, wc.logits_max,
           wc.iou_max, 100 * wc.mask_frac);
    if (have_vk)
        printf("%-8s %12.3g %12.3g %12.8f %12.3g %12.3g %11.4f%%\n", "vulkan", wv.resized_diff, wv.emb_max, wv.emb_cos,
               wv.logits_max, wv.iou_max, 100 * wv.mask_frac);
    for (int i = 0; have_cpu && i < 2; i++)   // the encoder's linear weights kept as F16 / Q8_0 (--weights)
        printf("%-8s %12.3g %12.3g %12.8f %12.3g %12.3g %11.4f%%\n", i ? "cpu q8_0" : "cpu f16", wq[i].resized_diff,
               wq[i].emb_max, wq[i].emb_cos, wq[i].logits_max, wq[i].iou_max, 100 * wq[i].mask_frac);
    printf("limits   %12s %12s %12s %12s %12s %12s\n", "0", "1e-3", ">=0.99999", "5e-3", "1e-3", "0.1%");
    const struct limits * f16 = &LIMITS[VLM_WEIGHTS_F16], * q8 = &LIMITS[VLM_WEIGHTS_Q8_0];
    printf("(f16: %g, >=%g, %g, %g, %g%%; q8_0: %g, >=%g, %g, %g, %g%%)\n\n", f16->emb_max, f16->emb_cos, f16->logits,
           f16->iou, 100 * f16->mask_frac, q8->emb_max, q8->emb_cos, q8->logits, q8->iou, 100 * q8->mask_frac);
    test_cases_close(&fx);
}

int main(void) {
    char tiny[4096];
    snprintf(tiny, sizeof tiny, "%s/sam-tiny", test_fixtures_dir());
    run_fixture(tiny, "model.safetensors", 20);
    run_fixture(test_data("sam-small"), "model.safetensors", 9);
    run_fixture(test_data("sam-mini"), "model.safetensors", 5);
    run_fixture(test_data("mobilesam-tiny"), "mobile_sam.pt", 7);
    run_fixture(test_data("slimsam-tiny"), "model.safetensors", 6);
    run_fixture(test_data("effsam-tiny"), "efficient_sam_tiny.pt", 6);
    TEST_END();
}
