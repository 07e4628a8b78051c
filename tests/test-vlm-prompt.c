// test-vlm-prompt.c — the SmolVLM image+text prompt against libmtmd on
// ../shared/fixtures/smolvlm-tiny (vlm cases), CPU and Vulkan: the chat-formatted text and
// the id layout exact; fed llama.cpp's own image embeddings (vlm.exact.image_embd), the final
// logits within 1e-3 and the greedy answers identical.
#include <cjson/cJSON.h>

#include "fixtures.h"
#include "smolvlm.h"
#include "vlm.h"

static void run(const cJSON * vlm, struct vlm_safetensors * exp, enum vlm_backend_type backend, const char * bname) {
    struct vlm_model_params mp = vlm_model_default_params();
    mp.backend = backend;
    mp.n_threads = 2;
    struct vlm_model * m = NULL;
    if (vlm_model_load(test_fixture("smolvlm-tiny/smolvlm-tiny-f32.gguf"), &mp, &m) != VLM_STATUS_OK) {
        CHECK(0, "%s: load: %s", bname, vlm_last_error());
        return;
    }
    const int32_t V = vlm_llm_n_vocab(m), E = vlm_llm_n_embd(m);
    const int32_t gx = cJSON_GetObjectItem(vlm, "grid_x")->valueint, gy = cJSON_GetObjectItem(vlm, "grid_y")->valueint;
    const int32_t n_img = cJSON_GetObjectItem(vlm, "n_image_tokens")->valueint, per_tile = n_img / (gx * gy + 1);
    const struct vlm_file_tensor * embd = vlm_safetensors_find(exp, "vlm.exact.image_embd");
    CHECK(embd && embd->nbytes == (size_t)n_img * E * 4, "vlm.exact.image_embd");
    float * rows = embd ? test_aligned_copy(embd->data, embd->nbytes) : NULL;
    const cJSON * cases = cJSON_GetObjectItem(vlm, "cases");
    for (int32_t c = 0; c < cJSON_GetArraySize(cases) && rows; c++) {
        const cJSON * k = cJSON_GetArrayItem(cases, c);
        const char * user = cJSON_GetObjectItem(k, "user_prompt")->valuestring;
        char content[512], * formatted = NULL;
        snprintf(content, sizeof content, "%s%s", VLM_MEDIA_MARKER, user);
        struct vlm_chat_message msg = { "user", content };
        CHECK(vlm_llm_chat_format(m, &msg, 1, true, &formatted) == VLM_STATUS_OK, "chat: %s", vlm_last_error());
        const char * want_fmt = cJSON_GetObjectItem(k, "formatted_prompt")->valuestring;
        CHECK(formatted && !strcmp(formatted, want_fmt), "%s case %d: formatted prompt '%s'", bname, c, formatted);
        struct vlm_image_prompt p;
        CHECK(vlm_idefics3_prompt(m, formatted, gx, gy, per_tile, &p) == VLM_STATUS_OK, "prompt: %s", vlm_last_error());
        const cJSON * want_ids = cJSON_GetObjectItem(k, "prompt_ids_with_image_as_-1");
        bool same = p.n == cJSON_GetArraySize(want_ids) && p.n_image_rows == n_img;
        for (int32_t i = 0; same && i < p.n; i++) same = p.ids[i] == cJSON_GetArrayItem(want_ids, i)->valueint;
        CHECK(same, "%s case %d: prompt layout differs (%d positions, %d expected)", bname, c, p.n,
              cJSON_GetArraySize(want_ids));

        struct vlm_llm_session * s = NULL;
        vlm_llm_session_new(m, NULL, &s);
        CHECK(vlm_image_prompt_decode(s, &p, rows, E) == VLM_STATUS_OK, "decode: %s", vlm_last_error());
        const struct vlm_file_tensor * ref = vlm_safetensors_find(exp, cJSON_GetObjectItem(k, "logits_last_exact")->valuestring);
        double e = ref && vlm_llm_logits(s) ? test_max_abs(vlm_llm_logits(s), ref->data, (size_t)V) : INFINITY;
        printf("  %-6s case %d: %d positions, logits max abs %.3g (tolerance 1e-3)\n", bname, c, p.n, e);
        CHECK(e <= 1e-3, "%s case %d: logits max abs %.3g", bname, c, e);

        struct vlm_sampler * smp = NULL;
        vlm_sampler_new(NULL, &smp);
        const cJSON * g = cJSON_GetObjectItem(cJSON_GetObjectItem(k, "greedy_exact"), "ids");
        struct vlm_generate_params gp = { .max_tokens = cJSON_GetArraySize(g) };
        struct vlm_generation gen;
        CHECK(vlm_llm_generate(s, smp, &gp, &gen) == VLM_STATUS_OK, "generate: %s", vlm_last_error());
        same = gen.n_ids == cJSON_GetArraySize(g);
        for (int32_t i = 0; same && i < gen.n_ids; i++) same = gen.ids[i] == cJSON_GetArrayItem(g, i)->valueint;
        CHECK(same, "%s case %d: greedy answer differs", bname, c);
        printf("  %-6s case %d: greedy %d tokens %s\n", bname, c, gen.n_ids, same ? "identical" : "DIFFERENT");
        vlm_generation_free(&gen);
        vlm_sampler_free(smp);
        // a mismatched embedding width is refused
        CHECK(vlm_image_prompt_decode(s, &p, rows, E + 1) == VLM_STATUS_INVALID_ARG, "width mismatch accepted");
        vlm_llm_session_free(s);
        vlm_image_prompt_free(&p);
        free(formatted);
    }
    // bad prompts
    struct vlm_image_prompt p;
    CHECK(vlm_idefics3_prompt(m, "no marker", gx, gy, per_tile, &p) == VLM_STATUS_INVALID_ARG, "no marker accepted");
    CHECK(vlm_idefics3_prompt(m, "<__media__><__media__>", gx, gy, per_tile, &p) == VLM_STATUS_INVALID_ARG, "two markers");
    free(rows);
    vlm_model_free(m);
}

int main(void) {
    cJSON * cases = NULL;
    struct vlm_safetensors * exp = NULL;
    test_smolvlm_fixture(&cases, &exp);
    const cJSON * vlm = cJSON_GetObjectItem(cases, "vlm");
    if (test_want_backend("cpu")) run(vlm, exp, VLM_BACKEND_CPU, "cpu");
    if (test_want_backend("vulkan")) {
        struct vlm_model_params mp = vlm_model_default_params();
        mp.backend = VLM_BACKEND_VULKAN;
        struct vlm_model * probe = NULL;
        if (vlm_model_load(test_fixture("smolvlm-tiny/smolvlm-tiny-f32.gguf"), &mp, &probe) == VLM_STATUS_OK) {
            vlm_model_free(probe);
            run(vlm, exp, VLM_BACKEND_VULKAN, "vulkan");
        } else {
            fprintf(stderr, "vulkan: %s\n", vlm_last_error());
            CHECK(!test_require_vulkan(), "Vulkan required but unavailable");
        }
    }
    cJSON_Delete(cases);
    vlm_safetensors_close(exp);
    TEST_END();
}
