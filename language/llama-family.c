// llama-family.c — the llama decoder family (GGUF general.architecture "llama": SmolLM2,
// SmolVLM's text model) for the generic loader and `vlm info`.
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "gguf-meta.h"
#include "llama.h"
#include "model.h"

static bool llama_detect(const struct vlm_model_source * src) {
    const char * arch = NULL;
    return src->gguf && vlm_gguf_get_str(src->gguf, "general.architecture", &arch) && !strcmp(arch, "llama");
}

static enum vlm_status llama_arena_bytes(const struct vlm_model_source * src, size_t * bytes) {
    struct vlm_llama_hparams hp;
    enum vlm_status st = vlm_llama_read_hparams(src->gguf, &hp);
    if (st != VLM_STATUS_OK) return vlm_error(st, "%s: %s", src->path, vlm_last_error());
    *bytes = vlm_llama_arena_bytes(&hp, VLM_LLAMA_BATCH);
    return VLM_STATUS_OK;
}

static bool gguf_has_token(const struct vlm_gguf * g, const char * text) {
    uint64_t n;
    enum vlm_gguf_type et;
    if (!vlm_gguf_get_array(g, "tokenizer.ggml.tokens", &et, &n, NULL) || et != VLM_GGUF_TYPE_STRING) return false;
    size_t tl = strlen(text);
    for (uint64_t i = n; i-- > 0;) {   // special tokens are usually at the end
        const char * s;
        size_t len;
        if (vlm_gguf_get_array_str(g, "tokenizer.ggml.tokens", i, &s, &len) && len == tl && !memcmp(s, text, tl))
            return true;
    }
    return false;
}

static void llama_describe(const struct vlm_model_source * src, FILE * f) {
    const struct vlm_gguf * g = src->gguf;
    uint64_t n_vocab = 0;
    if (!vlm_gguf_get_array(g, "tokenizer.ggml.tokens", NULL, &n_vocab, NULL)) n_vocab = 0;
    const bool smolvlm = gguf_has_token(g, "<global-img>") && gguf_has_token(g, "<fake_token_around_image>");
    fprintf(f, "architecture:  llama (%s: %" PRId64 " layers, embed %" PRId64 ", heads %" PRId64 " / %" PRId64
            " kv, ffn %" PRId64 ", vocab %" PRIu64 ")\n", smolvlm ? "SmolVLM text decoder" : "text decoder",
            vlm_gguf_int_at(g, "llama", "block_count"), vlm_gguf_int_at(g, "llama", "embedding_length"),
            vlm_gguf_int_at(g, "llama", "attention.head_count"), vlm_gguf_int_at(g, "llama", "attention.head_count_kv"),
            vlm_gguf_int_at(g, "llama", "feed_forward_length"), n_vocab);
}

struct vlm_llama_model * vlm_llama_of(const struct vlm_model * m) { return vlm_model_arch(m, &vlm_llama_family); }

static void llama_free(void * arch) { vlm_llama_model_free(arch); }

const struct vlm_model_family vlm_llama_family = {
    .name = "llama",
    .kind = VLM_MODEL_LLAMA,
    .detect = llama_detect,
    .describe = llama_describe,
    .arena_bytes = llama_arena_bytes,
    .init = vlm_llama_model_init,
    .free = llama_free,
};
