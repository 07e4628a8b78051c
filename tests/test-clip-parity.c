// test-clip-parity.c — CLIP against the reference fixtures (shared/fixtures/clip-tiny), stage
// by stage, on the CPU backend and (when a device works) on Vulkan: preprocessing, token ids,
// image / text features, logits; plus the HF transformers name map (the fixture's weights
// renamed and re-laid-out as CLIPModel stores them), batching, truncation and bad input.
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clip.h"
#include "fixtures.h"
#include "model.h"

#define NI 4
#define NT 6

struct row { char stage[32], backend[16]; double max_abs, cosine; bool ok; };
static struct row table[64];
static int n_rows;

static void report(const char * stage, const char * backend, double max_abs, double cosine, bool ok) {
    if (n_rows < 64) {
        struct row * r = &table[n_rows++];
        snprintf(r->stage, sizeof r->stage, "%s", stage);
        snprintf(r->backend, sizeof r->backend, "%s", backend);
        r->max_abs = max_abs, r->cosine = cosine, r->ok = ok;
    }
}

static const float * fixture_f32(const struct vlm_safetensors * st, const char * name, int64_t numel) {
    return test_fixture_data(st, name, VLM_DTYPE_F32, (size_t)numel * 4);
}

// Worst cosine over rows of [n, e] and the max abs error over everything.
static void compare_rows(const float * a, const float * ref, int n, int e, double * max_abs, double * min_cos) {
    *max_abs = test_max_abs(a, ref, (size_t)n * e);
    *min_cos = 1.0;
    for (int i = 0; i < n; i++) {
        double c = test_cosine(a + (size_t)i * e, ref + (size_t)i * e, (size_t)e);
        if (!(c >= *min_cos)) *min_cos = c;
    }
}

static void logits_of(const float * imf, const float * txf, int e, float scale, float * out) {
    for (int i = 0; i < NI; i++)
        for (int j = 0; j < NT; j++) {
            const float * a = imf + (size_t)i * e, * b = txf + (size_t)j * e;
            double ab = 0, aa = 0, bb = 0;
            for (int k = 0; k < e; k++) ab += (double)a[k] * b[k], aa += (double)a[k] * a[k], bb += (double)b[k] * b[k];
            out[i * NT + j] = (float)(scale * ab / sqrt(aa * bb));
        }
}

// Runs the feature stages on one loaded model and records a table row per stage.
static void run_backend(struct vlm_model * m, const char * name, const struct vlm_safetensors * cs, const float * px_ref,
                        const float * px_ours, const int32_t * tok_ref) {
    int e = vlm_clip_embed_dim(m);
    CHECK(e == 32, "%s: embed dim %d, expected 32", name, e);
    if (e != 32) return;
    const float * imf_ref = fixture_f32(cs, "image_features", NI * 32);
    const float * txf_ref = fixture_f32(cs, "text_features", NT * 32);
    const float * lg_ref = fixture_f32(cs, "logits_per_image", NI * NT);
    CHECK(imf_ref && txf_ref && lg_ref, "fixture tensors present");
    if (!imf_ref || !txf_ref || !lg_ref) return;
    float imf[NI * 32], imf2[NI * 32], txf[NT * 32], txf1[32], lg[NI * NT];
    struct vlm_clip_params raw = vlm_clip_default_params();
    raw.normalize = false;
    double ma, mc;

    // image features from the reference's pixel_values (isolates the image tower)
    enum vlm_status st = vlm_clip_encode_pixels(m, px_ref, NI, &raw, imf, sizeof imf / sizeof *imf);
    CHECK(st == VLM_STATUS_OK, "%s: encode_pixels: %s", name, vlm_last_error());
    compare_rows(imf, imf_ref, NI, 32, &ma, &mc);
    bool ok = st == VLM_STATUS_OK && mc >= 0.9999 && ma <= 2e-3;
    CHECK(ok, "%s image_features: max abs %.3g (<= 2e-3), cosine %.7f (>= 0.9999)", name, ma, mc);
    report("image_features", name, ma, mc, ok);

    // more images than one forward takes: chunked, same answers
    if (vlm_clip_of(m)->vision_chunk < 64) {
        int nb = vlm_clip_of(m)->vision_chunk + 3;
        float * many = malloc(sizeof *many * 3 * 64 * 64 * (size_t)nb), * mf = malloc(sizeof *mf * 32 * (size_t)nb);
        for (int i = 0; i < nb; i++) memcpy(many + (size_t)i * 3 * 64 * 64, px_ref + (size_t)(i % NI) * 3 * 64 * 64, sizeof *many * 3 * 64 * 64);
        st = vlm_clip_encode_pixels(m, many, nb, &raw, mf, (size_t)32 * nb);
        double worst = 0;
        for (int i = 0; i < nb; i++) worst = fmax(worst, test_max_abs(mf + (size_t)i * 32, imf + (size_t)(i % NI) * 32, 32));
        CHECK(st == VLM_STATUS_OK && worst <= 1e-4, "%s: %d images in chunks vs one batch: max abs %.3g", name, nb, worst);
        report("image chunked", name, worst, 1.0, st == VLM_STATUS_OK && worst <= 1e-4);
        free(many);
        free(mf);
    }

    // end to end from our own preprocessing
    st = vlm_clip_encode_pixels(m, px_ours, NI, &raw, imf2, sizeof imf2 / sizeof *imf2);
    compare_rows(imf2, imf_ref, NI, 32, &ma, &mc);
    ok = st == VLM_STATUS_OK && mc >= 0.999;
    CHECK(ok, "%s image_features from our preprocessing: cosine %.6f", name, mc);
    report("image_feat (e2e)", name, ma, mc, ok);

    // text features from the reference's token ids
    st = vlm_clip_encode_tokens(m, tok_ref, NT, &raw, txf, sizeof txf / sizeof *txf);
    CHECK(st == VLM_STATUS_OK, "%s: encode_tokens: %s", name, vlm_last_error());
    compare_rows(txf, txf_ref, NT, 32, &ma, &mc);
    ok = st == VLM_STATUS_OK && mc >= 0.9999 && ma <= 2e-3;
    CHECK(ok, "%s text_features: max abs %.3g (<= 2e-3), cosine %.7f (>= 0.9999)", name, ma, mc);
    report("text_features", name, ma, mc, ok);

    // one text alone (a shorter forward than the batch) gives the batch's answer
    st = vlm_clip_encode_tokens(m, tok_ref + 2 * 77, 1, &raw, txf1, 32);
    ma = test_max_abs(txf1, txf + 2 * 32, 32);
    CHECK(st == VLM_STATUS_OK && ma <= 1e-4, "%s: single text vs batch max abs %.3g", name, ma);
    report("text single=batch", name, ma, test_cosine(txf1, txf + 64, 32), st == VLM_STATUS_OK && ma <= 1e-4);

    // more texts than one forward takes (sorted-by-length chunks): same rows, same answers
    if (vlm_clip_of(m)->text_chunk < 200) {
        int nb = vlm_clip_of(m)->text_chunk + 7;
        int32_t * many = malloc(sizeof *many * 77 * (size_t)nb);
        float * mf = malloc(sizeof *mf * 32 * (size_t)nb);
        for (int i = 0; i < nb; i++) memcpy(many + (size_t)i * 77, tok_ref + (size_t)((i * 5) % NT) * 77, 77 * sizeof *many);
        st = vlm_clip_encode_tokens(m, many, nb, &raw, mf, (size_t)32 * nb);
        double worst = 0;
        for (int i = 0; i < nb; i++) worst = fmax(worst, test_max_abs(mf + (size_t)i * 32, txf + (size_t)((i * 5) % NT) * 32, 32));
        CHECK(st == VLM_STATUS_OK && worst <= 1e-4, "%s: %d texts in chunks vs one batch: max abs %.3g", name, nb, worst);
        report("text chunked", name, worst, 1.0, st == VLM_STATUS_OK && worst <= 1e-4);
        free(many);
        free(mf);
    }

    // logits
    logits_of(imf, txf, 32, vlm_clip_logit_scale(m), lg);
    ma = test_max_abs(lg, lg_ref, NI * NT);
    ok = ma <= 1e-2;
    CHECK(ok, "%s logits_per_image: max abs %.3g (<= 1e-2)", name, ma);
    report("logits_per_image", name, ma, test_cosine(lg, lg_ref, NI * NT), ok);

    // normalized API output = raw / norm
    float n1[32];
    st = vlm_clip_encode_tokens(m, tok_ref, 1, NULL, n1, 32);
    double nn = 0;
    for (int i = 0; i < 32; i++) nn += (double)n1[i] * n1[i];
    CHECK(st == VLM_STATUS_OK && fabs(nn - 1.0) < 1e-5 && test_cosine(n1, txf, 32) > 0.999999,
          "%s: normalized features have norm %.6f", name, sqrt(nn));

    // the arena estimate holds the real peak
    CHECK(m->ctx->arena_peak <= m->ctx->arena_size, "%s: arena peak %zu > size %zu", name, m->ctx->arena_peak,
          m->ctx->arena_size);
    printf("%s: arena peak %.2f MiB of %.2f MiB\n", name, m->ctx->arena_peak / 1048576.0, m->ctx->arena_size / 1048576.0);
}

// ---- HF transformers copy of the fixture ---------------------------------------------------------
struct hf_list { struct vlm_file_tensor t[256]; char names[256][96]; void * owned[8]; int n, n_owned; };

static void hf_add(struct hf_list * l, const char * name, const struct vlm_file_tensor * src, const void * data,
                   size_t nbytes, int n_dims, const int64_t * shape) {
    if (l->n >= 256) return;
    struct vlm_file_tensor * t = &l->t[l->n];
    snprintf(l->names[l->n], sizeof l->names[0], "%s", name);
    memset(t, 0, sizeof *t);
    t->name = l->names[l->n];
    t->dtype = src->dtype;
    t->n_dims = n_dims ? n_dims : src->n_dims;
    for (int i = 0; i < t->n_dims; i++) t->shape[i] = n_dims ? shape[i] : src->shape[i];
    t->data = data ? data : src->data;
    t->nbytes = data ? nbytes : src->nbytes;
    t->gguf_type = -1;
    l->n++;
}

// [r, c] F16 -> [c, r]
static void * transpose16(const struct vlm_file_tensor * s) {
    int64_t r = s->shape[0], c = s->shape[1];
    uint16_t * o = malloc((size_t)(r * c) * 2);
    const uint16_t * in = s->data;
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < c; j++) o[j * r + i] = in[i * c + j];
    return o;
}

// Writes dir/model.safetensors with CLIPModel names and dir/config.json; false on failure.
static bool write_hf_copy(const struct vlm_safetensors * st, const char * dir) {
    static struct hf_list l;
    memset(&l, 0, sizeof l);
    char name[128], src[128];
    static const char * const plain[][2] = {
        { "visual.class_embedding", "vision_model.embeddings.class_embedding" },
        { "visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight" },
        { "visual.positional_embedding", "vision_model.embeddings.position_embedding.weight" },
        { "visual.ln_pre.weight", "vision_model.pre_layrnorm.weight" },
        { "visual.ln_pre.bias", "vision_model.pre_layrnorm.bias" },
        { "visual.ln_post.weight", "vision_model.post_layernorm.weight" },
        { "visual.ln_post.bias", "vision_model.post_layernorm.bias" },
        { "token_embedding.weight", "text_model.embeddings.token_embedding.weight" },
        { "positional_embedding", "text_model.embeddings.position_embedding.weight" },
        { "ln_final.weight", "text_model.final_layer_norm.weight" },
        { "ln_final.bias", "text_model.final_layer_norm.bias" },
        { "logit_scale", "logit_scale" },
    };
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++) {
        const struct vlm_file_tensor * t = vlm_safetensors_find(st, plain[i][0]);
        if (!t) return false;
        hf_add(&l, plain[i][1], t, NULL, 0, 0, NULL);
    }
    static const char * const proj[][2] = { { "visual.proj", "visual_projection.weight" },
                                            { "text_projection", "text_projection.weight" } };
    for (int i = 0; i < 2; i++) {
        const struct vlm_file_tensor * t = vlm_safetensors_find(st, proj[i][0]);
        if (!t || t->dtype != VLM_DTYPE_F16) return false;
        void * d = transpose16(t);
        l.owned[l.n_owned++] = d;
        hf_add(&l, proj[i][1], t, d, t->nbytes, 2, (const int64_t[]){ t->shape[1], t->shape[0] });
    }
    static const char * const blk[][2] = { { "attn.out_proj.weight", "self_attn.out_proj.weight" },
                                           { "attn.out_proj.bias", "self_attn.out_proj.bias" },
                                           { "ln_1.weight", "layer_norm1.weight" }, { "ln_1.bias", "layer_norm1.bias" },
                                           { "ln_2.weight", "layer_norm2.weight" }, { "ln_2.bias", "layer_norm2.bias" },
                                           { "mlp.c_fc.weight", "mlp.fc1.weight" }, { "mlp.c_fc.bias", "mlp.fc1.bias" },
                                           { "mlp.c_proj.weight", "mlp.fc2.weight" }, { "mlp.c_proj.bias", "mlp.fc2.bias" } };
    for (int tower = 0; tower < 2; tower++) {
        const char * sp = tower ? "transformer.resblocks" : "visual.transformer.resblocks";
        const char * dp = tower ? "text_model.encoder.layers" : "vision_model.encoder.layers";
        for (int b = 0; b < 2; b++) {
            for (size_t i = 0; i < sizeof blk / sizeof *blk; i++) {
                snprintf(src, sizeof src, "%s.%d.%s", sp, b, blk[i][0]);
                snprintf(name, sizeof name, "%s.%d.%s", dp, b, blk[i][1]);
                const struct vlm_file_tensor * t = vlm_safetensors_find(st, src);
                if (!t) return false;
                hf_add(&l, name, t, NULL, 0, 0, NULL);
            }
            // in_proj [3D, D] -> q, k, v [D, D] (contiguous row blocks)
            snprintf(src, sizeof src, "%s.%d.attn.in_proj_weight", sp, b);
            const struct vlm_file_tensor * w = vlm_safetensors_find(st, src);
            snprintf(src, sizeof src, "%s.%d.attn.in_proj_bias", sp, b);
            const struct vlm_file_tensor * bb = vlm_safetensors_find(st, src);
            if (!w || !bb) return false;
            int64_t d = w->shape[1];
            static const char * const qkv[3] = { "q", "k", "v" };
            for (int k = 0; k < 3; k++) {
                snprintf(name, sizeof name, "%s.%d.self_attn.%s_proj.weight", dp, b, qkv[k]);
                hf_add(&l, name, w, (const char *)w->data + (size_t)(k * d * d) * 2, (size_t)(d * d) * 2, 2,
                       (const int64_t[]){ d, d });
                snprintf(name, sizeof name, "%s.%d.self_attn.%s_proj.bias", dp, b, qkv[k]);
                hf_add(&l, name, bb, (const char *)bb->data + (size_t)(k * d) * 2, (size_t)d * 2, 1, (const int64_t[]){ d });
            }
        }
    }
    // position_ids buffers (I64 [1, n]), as older transformers versions saved them: skipped
    static int64_t ids[2][1024];
    const char * pos[2][2] = { { "positional_embedding", "text_model.embeddings.position_ids" },
                               { "visual.positional_embedding", "vision_model.embeddings.position_ids" } };
    for (int i = 0; i < 2; i++) {
        const struct vlm_file_tensor * t = vlm_safetensors_find(st, pos[i][0]);
        if (!t || t->shape[0] > 1024) return false;
        for (int64_t j = 0; j < t->shape[0]; j++) ids[i][j] = j;
        struct vlm_file_tensor id = { .dtype = VLM_DTYPE_I64 };
        hf_add(&l, pos[i][1], &id, ids[i], (size_t)t->shape[0] * 8, 2, (const int64_t[]){ 1, t->shape[0] });
    }
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    bool ok = vlm_safetensors_write(path, l.t, l.n) == VLM_STATUS_OK;
    for (int i = 0; i < l.n_owned; i++) free(l.owned[i]);
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE * f = fopen(path, "w");
    if (!f) return false;
    fprintf(f, "{\"architectures\": [\"CLIPModel\"], \"projection_dim\": 32,\n"
               " \"text_config\": {\"hidden_act\": \"quick_gelu\", \"hidden_size\": 128, \"num_attention_heads\": 2,"
               " \"layer_norm_eps\": 1e-05},\n"
               " \"vision_config\": {\"hidden_act\": \"quick_gelu\", \"hidden_size\": 128, \"num_attention_heads\": 2,"
               " \"image_size\": 64, \"patch_size\": 16}}\n");
    return fclose(f) == 0 && ok;
}

// Two threads encoding on one model get what one thread gets.
struct job { struct vlm_model * m; const int32_t * tok; float out[NT * 32]; enum vlm_status st; };
static void * job_run(void * p) {
    struct job * j = p;
    struct vlm_clip_params raw = vlm_clip_default_params();
    raw.normalize = false;
    for (int r = 0; r < 5 && j->st == VLM_STATUS_OK; r++) j->st = vlm_clip_encode_tokens(j->m, j->tok, NT, &raw, j->out, NT * 32);
    return NULL;
}

int main(void) {
    char model_path[4096], dir[4096];
    snprintf(model_path, sizeof model_path, "%s", test_fixture("clip-tiny/model.safetensors"));
    snprintf(dir, sizeof dir, "%s", test_fixture("clip-tiny"));
    cJSON * cj = test_fixture_json(dir, "cases.json", TEST_NEED_SKIP_ABSENT);
    if (!cj) TEST_END();
    struct vlm_safetensors * cs = test_fixture_tensors(dir, "cases.safetensors", TEST_NEED_CHECK);
    if (!cs) TEST_END();
    test_tmp_dir("clip-parity");

    struct vlm_model_params mp = vlm_model_default_params();
    mp.backend = VLM_BACKEND_CPU;
    struct vlm_model * m = NULL;
    enum vlm_status st = vlm_model_load(model_path, &mp, &m);
    CHECK(st == VLM_STATUS_OK, "load %s on cpu: %s", model_path, vlm_last_error());
    if (!m) TEST_END();
    CHECK(vlm_model_kind(m) == VLM_MODEL_CLIP, "model kind is CLIP");
    CHECK(vlm_clip_image_size(m) == 64 && vlm_clip_context_length(m) == 77, "image size %d, context %d",
          vlm_clip_image_size(m), vlm_clip_context_length(m));
    CHECK(vlm_clip_of(m)->vision.heads == 2 && vlm_clip_of(m)->text.heads == 2 && vlm_clip_of(m)->vision.layers == 2 &&
              vlm_clip_of(m)->text.layers == 2 && vlm_clip_of(m)->patch == 16 && vlm_clip_of(m)->vocab == 49408,
          "hyper-parameters inferred from shapes (heads %d/%d, layers %d/%d)", vlm_clip_of(m)->vision.heads,
          vlm_clip_of(m)->text.heads, vlm_clip_of(m)->vision.layers, vlm_clip_of(m)->text.layers);

    // ---- preprocessing: pixel_values ----
    const float * px_ref = fixture_f32(cs, "pixel_values", NI * 3 * 64 * 64);
    CHECK(px_ref != NULL, "pixel_values in fixture");
    static float px[NI * 3 * 64 * 64];
    const cJSON * imgs = cJSON_GetObjectItem(cj, "images");
    double px_err = 0;
    bool px_ok = px_ref && cJSON_GetArraySize(imgs) == NI;
    for (int i = 0; px_ok && i < NI; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "images/%s", cJSON_GetArrayItem(imgs, i)->valuestring);
        struct vlm_image im;
        if (vlm_image_load(test_fixture(rel), &im) != VLM_STATUS_OK) {
            CHECK(0, "load %s: %s", rel, vlm_last_error());
            px_ok = false;
            break;
        }
        st = vlm_clip_preprocess_image(m, &im, px + (size_t)i * 3 * 64 * 64, 3 * 64 * 64);
        CHECK(st == VLM_STATUS_OK, "preprocess %s: %s", rel, vlm_last_error());
        vlm_image_free(&im);
        double e = test_max_abs(px + (size_t)i * 3 * 64 * 64, px_ref + (size_t)i * 3 * 64 * 64, 3 * 64 * 64);
        printf("pixel_values %-14s max abs %.3g\n", rel + 7, e);
        if (e > px_err) px_err = e;
    }
    CHECK(px_ok && px_err <= 2e-2, "pixel_values max abs %.3g (<= 2e-2)", px_err);
    report("pixel_values", "host", px_err, px_ref ? test_cosine(px, px_ref, NI * 3 * 64 * 64) : 0, px_ok && px_err <= 2e-2);

    // ---- tokens ----
    const struct vlm_file_tensor * tt = vlm_safetensors_find(cs, "text_tokens");
    CHECK(tt && tt->dtype == VLM_DTYPE_I32 && tt->nbytes == NT * 77 * 4, "text_tokens in fixture");
    const int32_t * tok_ref = tt ? tt->data : NULL;
    const cJSON * texts = cJSON_GetObjectItem(cj, "texts");
    int tok_bad = 0;
    for (int i = 0; tok_ref && i < NT; i++) {
        int32_t ids[77];
        bool tr = true;
        st = vlm_clip_tokenize_text(m, cJSON_GetArrayItem(texts, i)->valuestring, false, ids, 77, &tr);
        if (st != VLM_STATUS_OK || tr || memcmp(ids, tok_ref + i * 77, sizeof ids) != 0) tok_bad++;
    }
    CHECK(tok_ref && tok_bad == 0, "text_tokens: %d of %d rows differ (%s)", tok_bad, NT, vlm_last_error());
    report("text_tokens", "host", tok_bad, 1.0, tok_ref && tok_bad == 0);
    // the 26 tokenizer cases, through the model's tokenize (start / end / truncation)
    const cJSON * tc;
    int case_bad = 0, n_cases = 0, n_long = 0;
    cJSON_ArrayForEach(tc, cJSON_GetObjectItem(cj, "tokenizer")) {
        const char * text = cJSON_GetObjectItem(tc, "text")->valuestring;
        const cJSON * ids_j = cJSON_GetObjectItem(tc, "ids");
        int n = cJSON_GetArraySize(ids_j);
        int32_t ids[77], want[77] = { 0 };
        want[0] = 49406;
        for (int k = 0; k < n && k < 76; k++) want[1 + k] = cJSON_GetArrayItem(ids_j, k)->valueint;
        if (n + 2 <= 77) want[1 + n] = 49407;
        else want[76] = 49407, n_long++;
        bool tr = false;
        st = vlm_clip_tokenize_text(m, text, true, ids, 77, &tr);
        if (st != VLM_STATUS_OK || memcmp(ids, want, sizeof ids) != 0 || tr != (n + 2 > 77)) {
            case_bad++;
            fprintf(stderr, "tokenizer case \"%.40s\" differs\n", text);
        }
        if (n + 2 > 77) {
            st = vlm_clip_tokenize_text(m, text, false, ids, 77, &tr);
            CHECK(st == VLM_STATUS_INVALID_ARG, "over-long text refused without truncate (status %d)", st);
        }
        n_cases++;
    }
    CHECK(n_cases == 26 && case_bad == 0 && n_long >= 1, "tokenizer cases: %d of %d differ (%d over-long)", case_bad,
          n_cases, n_long);
    int32_t ids[77];
    st = vlm_clip_tokenize_text(m, "bad \xC3\x28 utf-8", true, ids, 77, NULL);
    CHECK(st == VLM_STATUS_INVALID_ARG && strstr(vlm_last_error(), "UTF-8"), "invalid UTF-8 refused: %s", vlm_last_error());
    st = vlm_clip_tokenize_text(m, "\xED\xA0\x80", true, ids, 77, NULL);   // a surrogate
    CHECK(st == VLM_STATUS_INVALID_ARG, "UTF-8 surrogate refused");

    // ---- features on CPU ----
    if (px_ref && tok_ref) run_backend(m, "cpu", cs, px_ref, px, tok_ref);

    if (tok_ref) {
        static struct job jobs[2];
        pthread_t th[2];
        for (int i = 0; i < 2; i++) {
            jobs[i] = (struct job){ .m = m, .tok = tok_ref, .st = VLM_STATUS_OK };
            pthread_create(&th[i], NULL, job_run, &jobs[i]);
        }
        for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
        const float * txf_ref = fixture_f32(cs, "text_features", NT * 32);
        double e0 = txf_ref ? test_max_abs(jobs[0].out, txf_ref, NT * 32) : 1, e1 = txf_ref ? test_max_abs(jobs[1].out, txf_ref, NT * 32) : 1;
        CHECK(jobs[0].st == VLM_STATUS_OK && jobs[1].st == VLM_STATUS_OK && e0 <= 2e-3 && e1 <= 2e-3,
              "two threads on one model: max abs %.3g / %.3g", e0, e1);
    }

    // classify: probabilities sum to 1 and follow the logits
    {
        struct vlm_image im;
        if (vlm_image_load(test_fixture("images/dog.jpg"), &im) == VLM_STATUS_OK) {
            const char * labels[NT];
            for (int i = 0; i < NT; i++) labels[i] = cJSON_GetArrayItem(texts, i)->valuestring;
            float probs[NT];
            st = vlm_clip_classify(m, &im, labels, NT, "{}", probs);
            const float * lg = fixture_f32(cs, "logits_per_image", NI * NT);
            double mx = -1e30, s = 0, se = 0, err = 0;
            for (int j = 0; lg && j < NT; j++) mx = fmax(mx, lg[j]);
            for (int j = 0; lg && j < NT; j++) se += exp(lg[j] - mx);
            for (int j = 0; lg && j < NT; j++) {
                s += probs[j];
                err = fmax(err, fabs(probs[j] - exp(lg[j] - mx) / se));
            }
            CHECK(st == VLM_STATUS_OK && fabs(s - 1) < 1e-5 && err < 2e-3, "classify: sum %.6f, max error vs softmax(ref) %.3g",
                  s, err);
            CHECK(vlm_clip_classify(m, &im, labels, 0, NULL, probs) == VLM_STATUS_INVALID_ARG, "classify with no labels fails");
            CHECK(vlm_clip_classify(m, &im, labels, 2, "no placeholder", probs) == VLM_STATUS_INVALID_ARG,
                  "template without {} fails");
            vlm_image_free(&im);
        }
    }
    // encode_texts with truncation flags
    {
        char long_text[2000] = "";
        for (int i = 0; i < 100; i++) strcat(long_text, "dog ");
        const char * tx[2] = { "a dog", long_text };
        bool tr[2] = { true, false };
        float out[64];
        st = vlm_clip_encode_texts(m, tx, 2, NULL, out, 64, tr);
        CHECK(st == VLM_STATUS_OK && !tr[0] && tr[1], "encode_texts reports truncation (%d %d)", tr[0], tr[1]);
        struct vlm_clip_params np = vlm_clip_default_params();
        np.truncate = false;
        CHECK(vlm_clip_encode_texts(m, tx, 2, &np, out, 64, NULL) == VLM_STATUS_INVALID_ARG, "no-truncate refuses");
        CHECK(vlm_clip_encode_texts(m, tx, 2, NULL, out, 63, NULL) == VLM_STATUS_INVALID_ARG, "short output buffer refused");
    }
    vlm_model_free(m);
    m = NULL;

    // ---- Vulkan ----
    mp.backend = VLM_BACKEND_VULKAN;
    st = test_want_backend("vulkan") ? vlm_model_load(model_path, &mp, &m) : VLM_STATUS_UNSUPPORTED;
    if (!test_want_backend("vulkan")) {
        printf("SKIP vulkan half: not in VLM_TEST_BACKENDS\n");
    } else if (st != VLM_STATUS_OK) {
        if (test_require_vulkan()) CHECK(0, "VLM_TEST_REQUIRE_VULKAN=1 but Vulkan failed: %s", vlm_last_error());
        else printf("SKIP vulkan half: %s\n", vlm_last_error());
    } else {
        printf("vulkan device: %s\n", vlm_model_backend_name(m));
        if (px_ref && tok_ref) run_backend(m, "vulkan", cs, px_ref, px, tok_ref);
        vlm_model_free(m);
        m = NULL;
    }

    // ---- HF transformers names ----
    {
        const char * dir = test_tmp_mkdir("hf");
        struct vlm_safetensors * ms = NULL;
        bool ok = vlm_safetensors_open(model_path, &ms) == VLM_STATUS_OK && write_hf_copy(ms, dir);
        vlm_safetensors_close(ms);
        CHECK(ok, "write the HF-named copy: %s", vlm_last_error());
        mp.backend = VLM_BACKEND_CPU;
        if (ok && vlm_model_load(dir, &mp, &m) == VLM_STATUS_OK) {
            CHECK(vlm_clip_of(m)->hf_names, "HF names detected");
            if (px_ref && tok_ref) run_backend(m, "cpu (HF names)", cs, px_ref, px, tok_ref);
            vlm_model_free(m);
            m = NULL;
        } else {
            CHECK(0, "load the HF-named copy: %s", vlm_last_error());
        }
    }

    // ---- linear weights as stored (the default: the fixture's F16 stays F16, no F32 copy), or
    // kept as F16 / Q8_0 (--weights): stored so, and close to the reference ----
    for (int w = 0; px_ref && tok_ref && test_want_backend("cpu") && w <= 2; w++) {
        static const char * const wnames[] = { "cpu as stored", "cpu f16-weights", "cpu q8_0-weights" };
        const char * wname = wnames[w];
        mp.backend = VLM_BACKEND_CPU;
        mp.weights = w == 0 ? VLM_WEIGHTS_AUTO : w == 1 ? VLM_WEIGHTS_F16 : VLM_WEIGHTS_Q8_0;
        st = vlm_model_load(model_path, &mp, &m);
        mp.weights = VLM_WEIGHTS_AUTO;
        CHECK(st == VLM_STATUS_OK, "%s: load: %s", wname, vlm_last_error());
        if (st != VLM_STATUS_OK) continue;
        const struct vlm_file_tensor * stored = vlm_safetensors_find(m->src.file, "transformer.resblocks.0.mlp.c_fc.weight");
        const enum vlm_dtype want = w == 1 ? VLM_DTYPE_F16 : w == 2 ? VLM_DTYPE_Q8_0
                                  : stored && stored->dtype != VLM_DTYPE_F32 ? stored->dtype : VLM_DTYPE_F32;
        struct vlm_tensor t1 = vlm_weights_get(m->ctx, m->weights, "transformer.resblocks.0.mlp.c_fc.weight", 2, NULL);
        struct vlm_tensor t2 = vlm_weights_get(m->ctx, m->weights, "visual.transformer.resblocks.1.attn.in_proj_weight", 2, NULL);
        struct vlm_tensor t3 = vlm_weights_get(m->ctx, m->weights, "ln_final.weight", 1, NULL);
        CHECK(t1.dtype == want && t2.dtype == want && t3.dtype == VLM_DTYPE_F32, "%s: linear weights stored as %s, "
              "the rest F32 (%s, %s, %s)", wname, vlm_dtype_name(want), vlm_dtype_name(t1.dtype), vlm_dtype_name(t2.dtype),
              vlm_dtype_name(t3.dtype));
        struct vlm_clip_params raw = vlm_clip_default_params();
        raw.normalize = false;
        float imf[NI * 32], txf[NT * 32];
        const float * imf_ref = fixture_f32(cs, "image_features", NI * 32), * txf_ref = fixture_f32(cs, "text_features", NT * 32);
        double ma, mc, ta, tc2;
        const double min_cos = w < 2 ? 0.99999 : 0.999;
        bool ok = vlm_clip_encode_pixels(m, px_ref, NI, &raw, imf, NI * 32) == VLM_STATUS_OK &&
                  vlm_clip_encode_tokens(m, tok_ref, NT, &raw, txf, NT * 32) == VLM_STATUS_OK && imf_ref && txf_ref;
        if (ok) {
            compare_rows(imf, imf_ref, NI, 32, &ma, &mc);
            compare_rows(txf, txf_ref, NT, 32, &ta, &tc2);
            ok = mc >= min_cos && tc2 >= min_cos;
            report("image_features", wname, ma, mc, mc >= min_cos);
            report("text_features", wname, ta, tc2, tc2 >= min_cos);
        }
        CHECK(ok, "%s: features within cosine %g of the reference (%s)", wname, min_cos, vlm_last_error());
        vlm_model_free(m);
        m = NULL;
    }

    // ---- a token table larger than the device's binding range (Vulkan splits the gather) ----
    if (tok_ref && test_want_backend("vulkan")) {
        setenv("VLM_VK_MAX_BINDING_BYTES", "1048576", 1);   // the 6.3 MB table in 7 bindings
        mp.backend = VLM_BACKEND_VULKAN;
        if (vlm_model_load(model_path, &mp, &m) == VLM_STATUS_OK) {
            float f[NT * 32];
            struct vlm_clip_params raw = vlm_clip_default_params();
            raw.normalize = false;
            const float * ref = fixture_f32(cs, "text_features", NT * 32);
            st = vlm_clip_encode_tokens(m, tok_ref, NT, &raw, f, NT * 32);
            double e = ref ? test_max_abs(f, ref, NT * 32) : 1;
            CHECK(st == VLM_STATUS_OK && e <= 2e-3, "vulkan: token table over 7 bindings: max abs %.3g (%s)", e, vlm_last_error());
            report("text (1 MiB bindings)", "vulkan", e, ref ? test_cosine(f, ref, NT * 32) : 0, st == VLM_STATUS_OK && e <= 2e-3);
            vlm_model_free(m);
            m = NULL;
        }
        unsetenv("VLM_VK_MAX_BINDING_BYTES");
    }

    // ---- the random-checkpoint writer: the fixture's names, shapes and dtypes for "tiny" ----
    {
        const char * rp = test_tmp_path("random.safetensors");
        struct vlm_safetensors * a = NULL, * b = NULL;
        st = vlm_clip_write_random_checkpoint(rp, "tiny", 7);
        CHECK(st == VLM_STATUS_OK, "write a random tiny checkpoint: %s", vlm_last_error());
        if (st == VLM_STATUS_OK && vlm_safetensors_open(rp, &a) == VLM_STATUS_OK &&
            vlm_safetensors_open(model_path, &b) == VLM_STATUS_OK) {
            int same = 0;
            for (int32_t i = 0; i < b->n_tensors; i++) {
                const struct vlm_file_tensor * t = &b->tensors[i], * u = vlm_safetensors_find(a, t->name);
                if (u && u->dtype == t->dtype && u->nbytes == t->nbytes && u->n_dims == t->n_dims &&
                    !memcmp(u->shape, t->shape, sizeof(int64_t) * (size_t)t->n_dims))
                    same++;
                else
                    fprintf(stderr, "random checkpoint: %s differs\n", t->name);
            }
            CHECK(same == b->n_tensors && a->n_tensors == b->n_tensors, "random tiny checkpoint matches the fixture's "
                  "layout (%d of %d tensors, %d written)", same, b->n_tensors, a->n_tensors);
            mp.backend = VLM_BACKEND_CPU;
            if (vlm_model_load(rp, &mp, &m) == VLM_STATUS_OK) {
                float f[32];
                st = vlm_clip_encode_text(m, "a dog", NULL, f, 32, NULL);
                CHECK(st == VLM_STATUS_OK && fabs(vlm_clip_logit_scale(m) - 100.0f) < 1e-3f,
                      "random checkpoint runs (logit scale %g)", vlm_clip_logit_scale(m));
                vlm_model_free(m);
                m = NULL;
            } else {
                CHECK(0, "load the random checkpoint: %s", vlm_last_error());
            }
        }
        vlm_safetensors_close(a);
        vlm_safetensors_close(b);
        CHECK(vlm_clip_write_random_checkpoint(rp, "ViT-Z/99", 1) == VLM_STATUS_INVALID_ARG, "unknown variant refused");
    }

    // ---- a model that is not CLIP ----
    mp.backend = VLM_BACKEND_CPU;
    if (vlm_model_load(test_fixture("sam-tiny/model.safetensors"), &mp, &m) == VLM_STATUS_OK) {
        float out[32];
        st = vlm_clip_encode_text(m, "a dog", NULL, out, 32, NULL);
        CHECK(st == VLM_STATUS_UNSUPPORTED && strstr(vlm_last_error(), "not a CLIP model"), "CLIP call on SAM: %s",
              vlm_last_error());
        CHECK(vlm_clip_embed_dim(m) == 0, "embed dim of a SAM model is 0");
        vlm_model_free(m);
    } else {
        printf("note: sam-tiny did not load (%s); wrong-kind check skipped\n", vlm_last_error());
    }

    printf("\n%-20s %-16s %12s %12s  %s\n", "stage", "backend", "max abs", "cosine", "");
    for (int i = 0; i < n_rows; i++)
        printf("%-20s %-16s %12.3g %12.7f  %s\n", table[i].stage, table[i].backend, table[i].max_abs, table[i].cosine,
               table[i].ok ? "ok" : "FAIL");
    vlm_safetensors_close(cs);
    cJSON_Delete(cj);
    TEST_END();
}
