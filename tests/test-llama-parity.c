// test-llama-parity.c — the GGUF Llama decoder against llama.cpp's own outputs on
// ../shared/fixtures/smolvlm-tiny (text part), CPU and Vulkan, F32 and F16 files:
//   - final-position logits of the 3 prompts vs the `exact` runs (max abs <= 1e-3),
//     every position's logits for prompt 0, with one batch and token by token (KV cache);
//   - greedy continuations: the same ids, stopping at the same end-of-generation token;
//   - a rewound session reproduces the same logits (the prompt's KV state is reusable).
#include <cjson/cJSON.h>

#include "gguf-meta.h"
#include "fixtures.h"
#include "vlm.h"

static struct vlm_safetensors * expected;

static const float * expect_f32(const char * key, size_t n) {
    return test_fixture_data(expected, key, VLM_DTYPE_COUNT, n * sizeof(float));
}

static int32_t * ids_of(const cJSON * arr, int32_t * n) {
    *n = cJSON_GetArraySize(arr);
    int32_t * ids = malloc(sizeof(int32_t) * (size_t)(*n ? *n : 1));
    for (int32_t i = 0; i < *n; i++) ids[i] = cJSON_GetArrayItem(arr, i)->valueint;
    return ids;
}

static double max_abs_logits(const float * got, const float * ref, size_t n) {
    return ref ? test_max_abs(got, ref, n) : INFINITY;
}

static void run_file(const cJSON * cases, const char * file, const char * tag, enum vlm_backend_type backend,
                     const char * bname, double * worst) {
    struct vlm_model_params mp = vlm_model_default_params();
    mp.backend = backend;
    mp.n_threads = 2;
    struct vlm_model * m = NULL;
    if (vlm_model_load(test_fixture(file), &mp, &m) != VLM_STATUS_OK) {
        CHECK(0, "%s: load %s: %s", bname, file, vlm_last_error());
        return;
    }
    CHECK(vlm_model_kind(m) == VLM_MODEL_LLAMA, "%s: kind", file);
    const int32_t V = vlm_llm_n_vocab(m);
    CHECK(V == 49280, "n_vocab %d", V);
    char key[128];

    // final-position logits, one batch
    const cJSON * tl = cJSON_GetObjectItem(cases, "text_logits");
    for (int32_t c = 0; c < cJSON_GetArraySize(tl); c++) {
        const cJSON * tc = cJSON_GetArrayItem(tl, c);
        int32_t n = 0, * ids = ids_of(cJSON_GetObjectItem(tc, "ids"), &n);
        struct vlm_llm_session * s = NULL;
        CHECK(vlm_llm_session_new(m, NULL, &s) == VLM_STATUS_OK, "session: %s", vlm_last_error());
        CHECK(vlm_llm_decode(s, ids, n) == VLM_STATUS_OK, "decode: %s", vlm_last_error());
        snprintf(key, sizeof key, "text.f32.exact.logits_last.%d", c);   // same weights in both files
        const float * ref = expect_f32(key, (size_t)V), * got = vlm_llm_logits(s);
        double e = got ? max_abs_logits(got, ref, (size_t)V) : INFINITY;
        if (e > *worst) *worst = e;
        printf("  %-6s %-4s logits_last[%d]  max abs %.3g\n", bname, tag, c, e);
        CHECK(e <= 1e-3, "%s %s prompt %d: logits max abs %.3g > 1e-3", bname, tag, c, e);
        // the same state rewound to n-1 and fed the last token again gives the same logits
        CHECK(vlm_llm_rewind(s, n - 1) == VLM_STATUS_OK && vlm_llm_decode(s, ids + n - 1, 1) == VLM_STATUS_OK,
              "rewind: %s", vlm_last_error());
        got = vlm_llm_logits(s);
        e = got ? max_abs_logits(got, ref, (size_t)V) : INFINITY;
        CHECK(e <= 1e-3, "%s %s prompt %d after rewind: max abs %.3g", bname, tag, c, e);
        vlm_llm_session_free(s);
        free(ids);
    }

    // every position of prompt 0: one batch with logits_all, and token by token
    {
        const cJSON * tc = cJSON_GetArrayItem(tl, 0);
        int32_t n = 0, * ids = ids_of(cJSON_GetObjectItem(tc, "ids"), &n);
        const float * ref = expect_f32("text.f32.exact.logits_all.0", (size_t)n * V);
        struct vlm_llm_session_params sp = vlm_llm_session_default_params();
        sp.logits_all = true;
        struct vlm_llm_session * s = NULL, * t = NULL;
        vlm_llm_session_new(m, &sp, &s);
        vlm_llm_session_new(m, NULL, &t);
        CHECK(vlm_llm_decode(s, ids, n) == VLM_STATUS_OK, "decode all: %s", vlm_last_error());
        const float * all = vlm_llm_logits(s);
        double e_all = all ? max_abs_logits(all - (size_t)(n - 1) * V, ref, (size_t)n * V) : INFINITY, e_step = 0;
        for (int32_t i = 0; i < n && ref; i++) {
            CHECK(vlm_llm_decode(t, ids + i, 1) == VLM_STATUS_OK, "decode step %d: %s", i, vlm_last_error());
            const float * g = vlm_llm_logits(t);
            double e = g ? test_max_abs(g, ref + (size_t)i * V, (size_t)V) : INFINITY;
            if (e > e_step) e_step = e;
        }
        printf("  %-6s %-4s logits_all[0]   max abs %.3g (one batch), %.3g (token by token)\n", bname, tag, e_all, e_step);
        CHECK(e_all <= 1e-3 && e_step <= 1e-3, "%s %s logits_all: %.3g / %.3g", bname, tag, e_all, e_step);
        if (e_all > *worst) *worst = e_all;
        if (e_step > *worst) *worst = e_step;
        vlm_llm_session_free(s);
        vlm_llm_session_free(t);
        free(ids);
    }

    // greedy continuations, stopping after an end-of-generation token
    const cJSON * tg = cJSON_GetObjectItem(cases, "text_generation");
    const int32_t n_predict = cJSON_GetObjectItem(cases, "n_predict")->valueint;
    for (int32_t c = 0; c < cJSON_GetArraySize(tg); c++) {
        const cJSON * tc = cJSON_GetArrayItem(tg, c);
        const cJSON * want = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(tc, "greedy"), "f32_exact"), "ids");
        int32_t n = 0, n_want = 0, * ids = ids_of(cJSON_GetObjectItem(tc, "ids"), &n), * exp_ids = ids_of(want, &n_want);
        struct vlm_llm_session * s = NULL;
        struct vlm_sampler * smp = NULL;
        vlm_llm_session_new(m, NULL, &s);
        vlm_sampler_new(NULL, &smp);
        int32_t got[64], n_got = 0;
        enum vlm_status st = vlm_llm_decode(s, ids, n);
        while (st == VLM_STATUS_OK && n_got < n_predict) {
            int32_t id = vlm_sampler_sample(smp, vlm_llm_logits(s), V);
            got[n_got++] = id;
            if (vlm_llm_is_eog(m, id)) break;
            st = vlm_llm_decode(s, &id, 1);
        }
        bool same = n_got == n_want;
        for (int32_t i = 0; same && i < n_got; i++) same = got[i] == exp_ids[i];
        printf("  %-6s %-4s greedy[%d]       %d tokens, %s\n", bname, tag, c, n_got, same ? "identical" : "DIFFERENT");
        CHECK(st == VLM_STATUS_OK && same, "%s %s greedy case %d: %d tokens vs %d expected (%s)", bname, tag, c, n_got,
              n_want, vlm_last_error());
        vlm_sampler_free(smp);
        vlm_llm_session_free(s);
        free(ids);
        free(exp_ids);
    }

    // bad input: ids out of range, context overflow
    struct vlm_llm_session_params sp = vlm_llm_session_default_params();
    sp.n_ctx = 4;
    struct vlm_llm_session * s = NULL;
    vlm_llm_session_new(m, &sp, &s);
    int32_t bad = V, five[5] = { 1, 2, 3, 4, 5 };
    CHECK(vlm_llm_decode(s, &bad, 1) == VLM_STATUS_INVALID_ARG, "id out of range accepted");
    CHECK(vlm_llm_decode(s, five, 5) == VLM_STATUS_INVALID_ARG && strstr(vlm_last_error(), "context"),
          "overflow: %s", vlm_last_error());
    CHECK(vlm_llm_decode(s, five, 4) == VLM_STATUS_OK, "a full context: %s", vlm_last_error());
    vlm_llm_session_free(s);
    vlm_model_free(m);
}

// Greedy ids of a fixture generation case (at most n_predict, stopping after EOG) into got.
static int32_t greedy_ids(struct vlm_model * m, const cJSON * tc, int32_t n_predict, int32_t * got) {
    int32_t n = 0, n_got = 0, * ids = ids_of(cJSON_GetObjectItem(tc, "ids"), &n);
    struct vlm_llm_session * s = NULL;
    struct vlm_sampler * smp = NULL;
    vlm_llm_session_new(m, NULL, &s);
    vlm_sampler_new(NULL, &smp);
    enum vlm_status st = vlm_llm_decode(s, ids, n);
    while (st == VLM_STATUS_OK && n_got < n_predict) {
        int32_t id = vlm_sampler_sample(smp, vlm_llm_logits(s), vlm_llm_n_vocab(m));
        got[n_got++] = id;
        if (vlm_llm_is_eog(m, id)) break;
        st = vlm_llm_decode(s, &id, 1);
    }
    vlm_sampler_free(smp);
    vlm_llm_session_free(s);
    free(ids);
    return n_got;
}

// Q8_0 / Q4_0 / Q4_K copies of the F32 file written by vlm's own quantizer (ggml's block
// layouts): the logits' error against llama.cpp's F32 run and the greedy ids' agreement are
// reported. This random model is sensitive to weight rounding: llama.cpp itself, on the same
// Q8_0 file, is 0.54 from its F32 logits on prompt 0 (and vlm's CPU logits equal its to the
// bit there), so the bounds only catch a broken kernel (garbage is off by the logits' scale, ~20).
static void run_quantized(const cJSON * cases, enum vlm_backend_type backend, const char * bname) {
    static const struct { enum vlm_dtype type; const char * name; double bound; } Q[] = {
        { VLM_DTYPE_Q8_0, "q8_0", 3.0 }, { VLM_DTYPE_Q4_0, "q4_0", 12.0 }, { VLM_DTYPE_Q4_K, "q4_k", 3.0 } };
    const char * dir = test_tmp_dir("llama-parity");
    char path[600];
    const cJSON * tl = cJSON_GetObjectItem(cases, "text_logits"), * tg = cJSON_GetObjectItem(cases, "text_generation");
    const int32_t n_predict = cJSON_GetObjectItem(cases, "n_predict")->valueint;
    for (size_t q = 0; q < sizeof Q / sizeof *Q; q++) {
        snprintf(path, sizeof path, "%s/%s.gguf", dir, Q[q].name);
        if (vlm_gguf_quantize(test_fixture("smolvlm-tiny/smolvlm-tiny-f32.gguf"), path, Q[q].type, NULL) != VLM_STATUS_OK) {
            CHECK(0, "quantize %s: %s", Q[q].name, vlm_last_error());
            continue;
        }
        struct vlm_model_params mp = vlm_model_default_params();
        mp.backend = backend;
        mp.n_threads = 2;
        struct vlm_model * m = NULL;
        if (vlm_model_load(path, &mp, &m) != VLM_STATUS_OK) {
            CHECK(0, "%s: load %s: %s", bname, Q[q].name, vlm_last_error());
            continue;
        }
        const int32_t V = vlm_llm_n_vocab(m);
        double worst = 0;
        for (int32_t c = 0; c < cJSON_GetArraySize(tl); c++) {
            int32_t n = 0, * ids = ids_of(cJSON_GetObjectItem(cJSON_GetArrayItem(tl, c), "ids"), &n);
            struct vlm_llm_session * s = NULL;
            vlm_llm_session_new(m, NULL, &s);
            char key[64];
            snprintf(key, sizeof key, "text.f32.exact.logits_last.%d", c);
            const float * ref = expect_f32(key, (size_t)V);
            double e = vlm_llm_decode(s, ids, n) == VLM_STATUS_OK && ref ? test_max_abs(vlm_llm_logits(s), ref, (size_t)V)
                                                                        : INFINITY;
            if (!(e <= worst)) worst = e;
            vlm_llm_session_free(s);
            free(ids);
        }
        int32_t agree = 0, total = 0;
        for (int32_t c = 0; c < cJSON_GetArraySize(tg); c++) {
            const cJSON * tc = cJSON_GetArrayItem(tg, c);
            int32_t n_want = 0, got[64];
            int32_t * want = ids_of(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(tc, "greedy"), "f32_exact"),
                                                        "ids"), &n_want);
            int32_t n_got = greedy_ids(m, tc, n_predict, got), i = 0;
            while (i < n_got && i < n_want && got[i] == want[i]) i++;   // ids until the first difference
            agree += i;
            total += n_want;
            free(want);
        }
        printf("  %-6s %-4s logits max abs %.3g vs F32; greedy: %d of %d ids before the first difference\n", bname,
               Q[q].name, worst, agree, total);
        CHECK(worst <= Q[q].bound, "%s %s: logits max abs %.3g > %.3g", bname, Q[q].name, worst, Q[q].bound);
        vlm_model_free(m);
    }
}

int main(void) {
    cJSON * cases = NULL;
    test_smolvlm_fixture(&cases, &expected);
    const struct { enum vlm_backend_type b; const char * name; } backends[] = {
        { VLM_BACKEND_CPU, "cpu" }, { VLM_BACKEND_VULKAN, "vulkan" } };
    for (int i = 0; i < 2; i++) {
        if (!test_want_backend(backends[i].name)) continue;
        if (backends[i].b == VLM_BACKEND_VULKAN) {
            struct vlm_model_params mp = vlm_model_default_params();
            mp.backend = VLM_BACKEND_VULKAN;
            struct vlm_model * probe = NULL;
            if (vlm_model_load(test_fixture("smolvlm-tiny/smolvlm-tiny-f32.gguf"), &mp, &probe) != VLM_STATUS_OK) {
                fprintf(stderr, "vulkan: %s\n", vlm_last_error());
                CHECK(!test_require_vulkan(), "Vulkan required but unavailable");
                continue;
            }
            vlm_model_free(probe);
        }
        double worst = 0;
        run_file(cases, "smolvlm-tiny/smolvlm-tiny-f32.gguf", "f32", backends[i].b, backends[i].name, &worst);
        run_file(cases, "smolvlm-tiny/smolvlm-tiny-f16.gguf", "f16", backends[i].b, backends[i].name, &worst);
        printf("%s: worst logits max abs %.3g (tolerance 1e-3)\n", backends[i].name, worst);
        run_quantized(cases, backends[i].b, backends[i].name);
    }
    cJSON_Delete(cases);
    vlm_safetensors_close(expected);
    TEST_END();
}
