// llama-random.c — full-size llama GGUF files with random weights, for benchmarks that need no
// download and can hand the same file to llama.cpp: SmolLM2-135M's shape and SmolVLM-256M's
// text model. The vocabulary is synthetic but a valid byte-level BPE of the real size: three
// control tokens, the 256 byte symbols, then two-symbol merges; SmolVLM's image and chat
// tokens at their real ids (49152 <global-img>, 49153.. <row_R_col_C>, 49189
// <fake_token_around_image>, 49190 <image>, reserved, 49279 <end_of_utterance>).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf-meta.h"
#include "llama.h"

struct random_shape {
    const char * name;
    int32_t n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    float   rope_theta;
    bool    smolvlm;   // SmolVLM's 128 image/chat tokens after the first 49152
};

// ref: HuggingFaceTB/SmolLM2-135M config.json; HuggingFaceTB/SmolVLM-256M-Instruct text_config
static const struct random_shape shapes[] = {
    { "smollm2-135m", 49152, 576, 30, 9, 3, 1536, 8192, 100000.0f, false },
    { "smolvlm-256m", 49280, 576, 30, 9, 3, 1536, 8192, 100000.0f, true },
};

// GPT-2's byte-to-symbol map as UTF-8: printable bytes stand for themselves, the rest map to
// U+0100 onwards in byte order. ref: openai/gpt-2 src/encoder.py bytes_to_unicode
static void byte_symbol(int byte, char out[3]) {
    int cp = byte, n = 0;
    bool printable = (byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) || byte >= 174;
    if (!printable) {
        for (int b = 0; b < byte; b++)
            if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)) n++;
        cp = 256 + n;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        out[2] = 0;
    }
}

// Uniform in [-scale, scale).
static float uniform(struct vlm_rng * r, float scale) { return (float)(2.0 * vlm_rng_uniform(r) - 1.0) * scale; }

enum vlm_status vlm_llama_write_random(const char * path, const char * variant, enum vlm_dtype type, uint64_t seed) {
    const struct random_shape * sh = NULL;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        if (variant && !strcmp(variant, shapes[i].name)) sh = &shapes[i];
    if (!sh || !path) return vlm_error(VLM_STATUS_INVALID_ARG, "unknown random language model '%s' (smollm2-135m, smolvlm-256m)",
                                       variant ? variant : "(null)");
    const int64_t V = sh->n_vocab, E = sh->n_embd, F = sh->n_ff, Dh = E / sh->n_head, KV = Dh * sh->n_head_kv;
    enum vlm_status st = VLM_STATUS_OK;
    struct vlm_gguf_builder * b = vlm_gguf_builder_new();
    char ** tokens = calloc((size_t)V, sizeof *tokens), ** merges = calloc((size_t)V, sizeof *merges);
    int32_t * types = calloc((size_t)V, sizeof *types);
    // weights: one block per layer of [q | k | v | o | gate | up | down] and the embeddings
    const int64_t per_layer = E * E + 2 * KV * E + E * E + 3 * F * E + 2 * E;
    float * w = malloc(sizeof(float) * (size_t)(V * E + E + per_layer * sh->n_layer));
    char tmp[4096] = "";
    if (!b || !tokens || !merges || !types || !w) goto oom;

    static const char * const specials[3] = { "<|endoftext|>", "<|im_start|>", "<|im_end|>" };
    const int64_t V_base = sh->smolvlm ? 49152 : V;
    int32_t n_merges = 0;
    for (int64_t i = 0; i < V; i++) {
        char a[3], c[3], text[32];
        if (i >= V_base) {   // ref: HuggingFaceTB/SmolVLM-256M-Instruct added_tokens.json
            int64_t k = i - V_base;
            if (k == 0) snprintf(text, sizeof text, "<global-img>");
            else if (k <= 36) snprintf(text, sizeof text, "<row_%d_col_%d>", (int)(k - 1) / 6 + 1, (int)(k - 1) % 6 + 1);
            else if (k == 37) snprintf(text, sizeof text, "<fake_token_around_image>");
            else if (k == 38) snprintf(text, sizeof text, "<image>");
            else if (i == V - 1) snprintf(text, sizeof text, "<end_of_utterance>");
            else snprintf(text, sizeof text, "<reserved_%d>", (int)k);
            tokens[i] = strdup(text);
            types[i] = 3;
        } else if (i < 3) {
            tokens[i] = strdup(specials[i]);
            types[i] = 3;   // CONTROL
        } else if (i < 3 + 256) {
            byte_symbol((int)(i - 3), a);
            tokens[i] = strdup(a);
            types[i] = 1;
        } else {            // symbol(k % 256) + symbol(k / 256), a merge of the two
            int64_t k = i - 3 - 256;
            byte_symbol((int)(k % 256), a);
            byte_symbol((int)(k / 256), c);
            snprintf(text, sizeof text, "%s%s", a, c);
            tokens[i] = strdup(text);
            types[i] = 1;
            char m[16];
            snprintf(m, sizeof m, "%s %s", a, c);
            if (!(merges[n_merges++] = strdup(m))) goto oom;
        }
        if (!tokens[i]) goto oom;
    }

    vlm_gguf_builder_str(b, "general.architecture", "llama");
    vlm_gguf_builder_str(b, "general.type", "model");
    vlm_gguf_builder_str(b, "general.name", sh->name);
    vlm_gguf_builder_u32(b, "llama.block_count", (uint32_t)sh->n_layer);
    vlm_gguf_builder_u32(b, "llama.context_length", (uint32_t)sh->n_ctx);
    vlm_gguf_builder_u32(b, "llama.embedding_length", (uint32_t)E);
    vlm_gguf_builder_u32(b, "llama.feed_forward_length", (uint32_t)F);
    vlm_gguf_builder_u32(b, "llama.attention.head_count", (uint32_t)sh->n_head);
    vlm_gguf_builder_u32(b, "llama.attention.head_count_kv", (uint32_t)sh->n_head_kv);
    vlm_gguf_builder_f32(b, "llama.rope.freq_base", sh->rope_theta);
    vlm_gguf_builder_f32(b, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    vlm_gguf_builder_u32(b, "llama.vocab_size", (uint32_t)V);
    vlm_gguf_builder_u32(b, "llama.rope.dimension_count", (uint32_t)Dh);
    vlm_gguf_builder_u32(b, "general.file_type", 0);
    vlm_gguf_builder_str(b, "tokenizer.ggml.model", "gpt2");
    vlm_gguf_builder_str(b, "tokenizer.ggml.pre", "smollm");
    vlm_gguf_builder_str_array(b, "tokenizer.ggml.tokens", (const char * const *)tokens, (uint64_t)V);
    vlm_gguf_builder_i32_array(b, "tokenizer.ggml.token_type", types, (uint64_t)V);
    vlm_gguf_builder_str_array(b, "tokenizer.ggml.merges", (const char * const *)merges, (uint64_t)n_merges);
    vlm_gguf_builder_u32(b, "tokenizer.ggml.bos_token_id", 1);
    vlm_gguf_builder_u32(b, "tokenizer.ggml.eos_token_id", sh->smolvlm ? (uint32_t)(V - 1) : 2);
    // only the markers llama.cpp's template detection looks for (smolvlm / chatml)
    vlm_gguf_builder_str(b, "tokenizer.chat_template", sh->smolvlm ? "<|im_start|>{{ role }}: {{ content }}<end_of_utterance>"
                                                                   : "<|im_start|>{{ role }}\n{{ content }}<|im_end|>");
    vlm_gguf_builder_bool(b, "tokenizer.ggml.add_bos_token", false);
    vlm_gguf_builder_u32(b, "general.quantization_version", 2);

    struct vlm_rng s = { seed * 0x9E3779B97F4A7C15ull + 1 };
    float * p = w;
    const float ws = 0.035f;   // about the 0.02 standard deviation of the released models' matrices
    for (int64_t i = 0; i < V * E; i++) p[i] = uniform(&s, ws);
    vlm_gguf_builder_tensor(b, "token_embd.weight", 2, (int64_t[]){ V, E }, p);
    p += V * E;
    for (int32_t l = 0; l < sh->n_layer; l++) {
        static const char * const names[7] = { "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down" };
        const int64_t rows[7] = { E, KV, KV, E, F, F, E }, cols[7] = { E, E, E, E, E, E, F };
        char name[64];
        for (int k = 0; k < 7; k++) {
            for (int64_t i = 0; i < rows[k] * cols[k]; i++) p[i] = uniform(&s, ws);
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, names[k]);
            vlm_gguf_builder_tensor(b, name, 2, (int64_t[]){ rows[k], cols[k] }, p);
            p += rows[k] * cols[k];
        }
        for (int k = 0; k < 2; k++) {
            for (int64_t i = 0; i < E; i++) p[i] = 1.0f;
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, k ? "ffn_norm" : "attn_norm");
            vlm_gguf_builder_tensor(b, name, 1, (int64_t[]){ E }, p);
            p += E;
        }
    }
    for (int64_t i = 0; i < E; i++) p[i] = 1.0f;
    vlm_gguf_builder_tensor(b, "output_norm.weight", 1, (int64_t[]){ E }, p);

    if (type == VLM_DTYPE_F32) {
        st = vlm_gguf_builder_write(b, path);
    } else {   // written as F32 next to path, then quantized as `vlm quantize` does
        snprintf(tmp, sizeof tmp, "%s.f32", path);
        if ((st = vlm_gguf_builder_write(b, tmp)) == VLM_STATUS_OK) st = vlm_gguf_quantize(tmp, path, type, NULL);
        unlink(tmp);
    }
    goto done;
oom:
    st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
done:
    for (int64_t i = 0; tokens && i < V; i++) free(tokens[i]);
    for (int64_t i = 0; merges && i < V; i++) free(merges[i]);
    free(tokens);
    free(merges);
    free(types);
    free(w);
    vlm_gguf_builder_free(b);
    return st;
}
