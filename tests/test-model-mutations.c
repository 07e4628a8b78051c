// test-model-mutations.c — small SAM, MobileSAM, EfficientSAM, SlimSAM and CLIP checkpoints with every tensor in turn
// dropped, one of its dimensions grown or shrunk, or given an extra dimension, and with every
// number of their config.json in turn replaced by a contradicting value: each variant either
// loads and runs (a click, an image and a text) or fails with a one-line error naming what is
// wrong; never a crash or a hang (the sanitizer run of the suite also checks for out-of-bounds
// accesses).
#include <cjson/cJSON.h>

#include "harness.h"
#include "model-file.h"

static const char * g_dir;   // the scratch folder
static int  g_loaded, g_refused;

// A failed load's message: one line, naming something.
static void check_refusal(const char * what) {
    const char * e = vlm_last_error();
    CHECK(e && *e && !strchr(e, '\n'), "%s: the error is one non-empty line ('%s')", what, e ? e : "");
    g_refused++;
}

// Loads DIR on the CPU; when it loads, runs one prompt (SAM) or an image and a text (CLIP).
static void try_model(const char * dir, const char * what) {
    struct vlm_model_params mp = vlm_model_default_params();
    mp.backend = VLM_BACKEND_CPU;
    mp.n_threads = 1;
    struct vlm_model * m = NULL;
    if (vlm_model_load(dir, &mp, &m) != VLM_STATUS_OK) {
        check_refusal(what);
        return;
    }
    g_loaded++;
    uint8_t px[40 * 30 * 3];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 37 % 251);
    struct vlm_image img = { 40, 30, 3, px };
    enum vlm_status st = VLM_STATUS_OK;
    if (vlm_model_kind(m) == VLM_MODEL_SAM) {
        struct vlm_sam_session * s = NULL;
        struct vlm_masks masks = { 0 };
        struct vlm_point pt = { 20, 15, 1 };
        struct vlm_sam_prompt p = { .points = &pt, .n_points = 1, .multimask_output = true };
        st = vlm_sam_session_new(m, &s);
        if (st == VLM_STATUS_OK) st = vlm_sam_set_image(s, &img);
        if (st == VLM_STATUS_OK) st = vlm_sam_predict(s, &p, &masks);
        vlm_masks_free(&masks);
        vlm_sam_session_free(s);
    } else if (vlm_model_kind(m) == VLM_MODEL_CLIP) {
        int32_t e = vlm_clip_embed_dim(m);
        float * f = malloc(sizeof(float) * (size_t)(e > 0 ? e : 1));
        const char * text = "a photo of a dog";
        struct vlm_clip_params cp = vlm_clip_default_params();
        st = f ? vlm_clip_encode_image(m, &img, &cp, f, (size_t)e) : VLM_STATUS_OUT_OF_MEMORY;
        if (st == VLM_STATUS_OK) st = vlm_clip_encode_texts(m, &text, 1, &cp, f, (size_t)e, NULL);
        free(f);
    }
    if (st != VLM_STATUS_OK) check_refusal(what);   // a shape the loader let through, refused by an op
    vlm_model_free(m);
}

// Writes `tensors` as DIR/model.safetensors next to a copy of config (NULL: none).
static bool write_variant(const char * dir, const struct vlm_file_tensor * t, int32_t n, const char * config) {
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (vlm_safetensors_write(path, t, n) != VLM_STATUS_OK) return false;
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    if (!config) return true;
    FILE * f = fopen(path, "wb");
    bool ok = f && fwrite(config, 1, strlen(config), f) == strlen(config);
    if (f) fclose(f);
    return ok;
}

static size_t numel(const struct vlm_file_tensor * t) {
    size_t n = 1;
    for (int32_t d = 0; d < t->n_dims; d++) n *= (size_t)t->shape[d];
    return n;
}

// Every tensor dropped, its first dimension + 1 (zeros appended), its last dimension - 1
// (data cut) and a trailing dimension of 1 added.
// only: mutate just the tensors whose names start with it (NULL: all); skip: not those starting with it.
static void mutate_tensors(const char * name, const char * model_dir, const char * model_file, const char * only,
                           const char * skip) {
    char path[4200], what[600];
    snprintf(path, sizeof path, "%s/%s", model_dir, model_file);
    struct vlm_safetensors * st = NULL;
    if (vlm_model_file_open(path, &st) != VLM_STATUS_OK) {
        CHECK(0, "%s: %s", path, vlm_last_error());
        return;
    }
    snprintf(path, sizeof path, "%s/config.json", model_dir);
    char * config = vlm_read_file(path, 1u << 20, NULL);
    const int32_t n = st->n_tensors;
    struct vlm_file_tensor * t = malloc(sizeof *t * (size_t)n);
    size_t max_bytes = 0;
    for (int32_t i = 0; i < n; i++) max_bytes = st->tensors[i].nbytes > max_bytes ? st->tensors[i].nbytes : max_bytes;
    uint8_t * grown = calloc(1, max_bytes * 2 + 64);
    for (int32_t i = 0; t && grown && i < n; i++) {
        const struct vlm_file_tensor * orig = &st->tensors[i];
        if ((only && strncmp(orig->name, only, strlen(only)) != 0) || (skip && !strncmp(orig->name, skip, strlen(skip))))
            continue;
        for (int kind = 0; kind < 4; kind++) {
            memcpy(t, st->tensors, sizeof *t * (size_t)n);
            struct vlm_file_tensor * m = &t[i];
            int32_t count = n;
            size_t es = orig->nbytes / (numel(orig) ? numel(orig) : 1);
            if (kind == 0) {   // dropped
                memmove(t + i, t + i + 1, sizeof *t * (size_t)(n - i - 1));
                count = n - 1;
                snprintf(what, sizeof what, "%s without %s", name, orig->name);
            } else if (kind == 1) {   // first dimension + 1
                if (m->n_dims == 0) continue;
                m->shape[0]++;
                memset(grown, 0, max_bytes * 2 + 64);
                memcpy(grown, orig->data, orig->nbytes);
                m->data = grown;
                m->nbytes = numel(m) * es;
                snprintf(what, sizeof what, "%s with %s's dim 0 + 1", name, orig->name);
            } else if (kind == 2) {   // last dimension - 1
                if (m->n_dims == 0 || m->shape[m->n_dims - 1] < 2) continue;
                m->shape[m->n_dims - 1]--;
                m->nbytes = numel(m) * es;
                snprintf(what, sizeof what, "%s with %s's last dim - 1", name, orig->name);
            } else {   // one more dimension
                if (m->n_dims >= VLM_FILE_MAX_DIMS) continue;
                m->shape[m->n_dims++] = 1;
                snprintf(what, sizeof what, "%s with %s given a trailing dim", name, orig->name);
            }
            if (!write_variant(g_dir, t, count, config)) {
                CHECK(0, "%s: cannot write the variant: %s", what, vlm_last_error());
                continue;
            }
            try_model(g_dir, what);
        }
    }
    free(grown);
    free(t);
    free(config);
    vlm_safetensors_close(st);
}

// Each number of config.json (top level and inside arrays) set to 0, -1, 1e9 and a string.
static void mutate_config(const char * name, const char * model_dir, const char * model_file) {
    char path[4200], what[600];
    snprintf(path, sizeof path, "%s/config.json", model_dir);
    char * text = vlm_read_file(path, 1u << 20, NULL);
    if (!text) return;
    snprintf(path, sizeof path, "%s/%s", model_dir, model_file);
    struct vlm_safetensors * st = NULL;
    if (vlm_model_file_open(path, &st) != VLM_STATUS_OK) {
        free(text);
        return;
    }
    cJSON * root = cJSON_Parse(text);
    int32_t n_numbers = 0;
    for (cJSON * it = root ? root->child : NULL; it; it = it->next)
        n_numbers += cJSON_IsNumber(it) ? 1 : cJSON_IsArray(it) ? cJSON_GetArraySize(it) : 0;
    static const char * const values[] = { "0", "-1", "1e9", "\"x\"" };
    for (int32_t k = 0; root && k < n_numbers; k++) {
        for (size_t v = 0; v < sizeof values / sizeof *values; v++) {
            cJSON * copy = cJSON_Duplicate(root, true);
            int32_t at = 0;
            char key[128] = "?";
            for (cJSON * it = copy->child; it; it = it->next) {
                cJSON * items = cJSON_IsArray(it) ? it->child : it;
                for (cJSON * x = items; x; x = cJSON_IsArray(it) ? x->next : NULL) {
                    if (!cJSON_IsNumber(x)) continue;
                    if (at++ == k) {
                        snprintf(key, sizeof key, "%s", it->string ? it->string : "?");
                        cJSON * repl = cJSON_Parse(values[v]);
                        if (cJSON_IsArray(it)) cJSON_ReplaceItemViaPointer(it, x, repl);
                        else cJSON_ReplaceItemInObjectCaseSensitive(copy, key, repl);   // keeps the key
                        goto replaced;
                    }
                }
            }
        replaced:;
            char * cfg = cJSON_PrintUnformatted(copy);
            snprintf(what, sizeof what, "%s with config \"%s\" (number %d) = %s", name, key, k, values[v]);
            if (cfg && write_variant(g_dir, st->tensors, st->n_tensors, cfg)) try_model(g_dir, what);
            else CHECK(0, "%s: cannot write the variant", what);
            free(cfg);
            cJSON_Delete(copy);
        }
    }
    cJSON_Delete(root);
    vlm_safetensors_close(st);
    free(text);
}

int main(void) {
    g_dir = test_tmp_dir("mutations");
    // the models, each as its file and the config.json beside it (PyTorch files are rewritten as
    // safetensors, the loaders read both alike)
    // (SlimSAM's decoder is SAM's under HF names: only its pruned encoder's first block is mutated;
    // EfficientSAM's second decoder layer is read as its first)
    const struct { const char * name, * dir, * file, * only, * skip; } models[] = {
        { "sam-mini", "tests/data/sam-mini", "model.safetensors", NULL, NULL },
        { "mobilesam-tiny", "tests/data/mobilesam-tiny", "mobile_sam.pt", NULL, NULL },
        { "effsam-tiny", "tests/data/effsam-tiny", "efficient_sam_tiny.pt", NULL, "mask_decoder.transformer.layers.1." },
        { "slimsam-tiny", "tests/data/slimsam-tiny", "model.safetensors", "vision_encoder.layers.0.", NULL },
        { "clip-tiny", NULL, "model.safetensors", NULL, NULL },
    };
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", models[i].dir ? test_data(models[i].dir + strlen("tests/data/"))
                                                       : test_fixture(models[i].name));
        mutate_tensors(models[i].name, dir, models[i].file, models[i].only, models[i].skip);
        mutate_config(models[i].name, dir, models[i].file);
    }
    printf("%d variants loaded and ran, %d refused with a one-line error\n", g_loaded, g_refused);
    CHECK(g_refused > 0 && g_loaded > 0, "both outcomes seen");
    TEST_END();
}
