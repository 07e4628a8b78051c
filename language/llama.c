// llama.c — the Llama-family decoder: hyper-parameters and weights from a llama.cpp GGUF,
// sessions with a growing KV cache, and the batched forward pass.
// ref: llama.cpp src/models/llama.cpp (llm_build_llama), src/llama-model.cpp (LLM_ARCH_LLAMA)
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"
#include "gguf-meta.h"
#include "model.h"
#include "tokenizer.h"

// ---- hyper-parameters ---------------------------------------------------------------------

static enum vlm_status get_int(const struct vlm_gguf * g, const char * key, int64_t lo, int64_t hi, int32_t * out) {
    int64_t v;
    if (!vlm_gguf_get_int(g, key, &v)) return vlm_error(VLM_STATUS_BAD_MODEL, "missing GGUF key '%s'", key);
    if (v < lo || v > hi)
        return vlm_error(VLM_STATUS_BAD_MODEL, "GGUF key '%s' = %lld is out of range [%lld, %lld]", key, (long long)v,
                         (long long)lo, (long long)hi);
    *out = (int32_t)v;
    return VLM_STATUS_OK;
}

// ref: llama.cpp src/llama-model.cpp llama_model::load_hparams
enum vlm_status vlm_llama_read_hparams(const struct vlm_gguf * g, struct vlm_llama_hparams * hp) {
    memset(hp, 0, sizeof *hp);
    const char * arch = NULL;
    if (!vlm_gguf_get_str(g, "general.architecture", &arch))
        return vlm_error(VLM_STATUS_BAD_MODEL, "missing GGUF key 'general.architecture'");
    if (strcmp(arch, "llama") != 0) return vlm_error(VLM_STATUS_UNSUPPORTED, "unsupported architecture '%s'", arch);
    enum vlm_status st;
    if ((st = get_int(g, "llama.embedding_length", 1, 1 << 16, &hp->n_embd)) ||
        (st = get_int(g, "llama.block_count", 1, 1024, &hp->n_layer)) ||
        (st = get_int(g, "llama.attention.head_count", 1, 1024, &hp->n_head)) ||
        (st = get_int(g, "llama.feed_forward_length", 1, 1 << 18, &hp->n_ff)) ||
        (st = get_int(g, "llama.context_length", 1, 1 << 24, &hp->n_ctx_train)))
        return st;
    int64_t v;
    hp->n_head_kv = hp->n_head;
    if (vlm_gguf_get_int(g, "llama.attention.head_count_kv", &v)) {
        if ((st = get_int(g, "llama.attention.head_count_kv", 1, hp->n_head, &hp->n_head_kv))) return st;
    }
    if (hp->n_embd % hp->n_head != 0 || hp->n_head % hp->n_head_kv != 0)
        return vlm_error(VLM_STATUS_BAD_MODEL, "llama.embedding_length %d must be a multiple of the head count %d, and "
                         "that of head_count_kv %d", hp->n_embd, hp->n_head, hp->n_head_kv);
    hp->head_dim = hp->n_embd / hp->n_head;
    hp->n_rot = hp->head_dim;
    if (vlm_gguf_get_int(g, "llama.rope.dimension_count", &v) && v != hp->head_dim)
        return vlm_error(VLM_STATUS_UNSUPPORTED, "llama.rope.dimension_count = %lld: partial rotary embeddings "
                         "(other than the head size %d) are not supported", (long long)v, hp->head_dim);
    double f;
    hp->rope_theta = 10000.0f;
    if (vlm_gguf_get_float(g, "llama.rope.freq_base", &f)) hp->rope_theta = (float)f;
    if (!(hp->rope_theta > 0.0f)) return vlm_error(VLM_STATUS_BAD_MODEL, "llama.rope.freq_base must be > 0");
    if (!vlm_gguf_get_float(g, "llama.attention.layer_norm_rms_epsilon", &f))
        return vlm_error(VLM_STATUS_BAD_MODEL, "missing GGUF key 'llama.attention.layer_norm_rms_epsilon'");
    hp->rms_eps = (float)f;
    // A rope scaling other than none/linear 1.0 would change the angles.
    const char * scaling = NULL;
    if (vlm_gguf_get_str(g, "llama.rope.scaling.type", &scaling) && strcmp(scaling, "none") != 0)
        return vlm_error(VLM_STATUS_UNSUPPORTED, "llama.rope.scaling.type '%s' is not supported", scaling);
    // The GGUF converter permutes llama's Q/K weights for ggml's NORMAL rope (adjacent pairs).
    // ref: llama.cpp src/llama-model.cpp llama_model_rope_type (LLM_ARCH_LLAMA -> LLAMA_ROPE_TYPE_NORM)
    hp->rope_mode = VLM_ROPE_NORMAL;
    const struct vlm_file_tensor * te = vlm_gguf_find(g, "token_embd.weight");
    if (!te || te->n_dims != 2) return vlm_error(VLM_STATUS_BAD_MODEL, "missing 2-D tensor 'token_embd.weight'");
    hp->n_vocab = (int32_t)te->shape[0];
    if (vlm_gguf_get_int(g, "llama.vocab_size", &v) && v != hp->n_vocab)
        return vlm_error(VLM_STATUS_BAD_MODEL, "llama.vocab_size = %lld but token_embd.weight has %d rows", (long long)v,
                         hp->n_vocab);
    return VLM_STATUS_OK;
}

size_t vlm_llama_arena_bytes(const struct vlm_llama_hparams * hp, int32_t n_batch) {
    // Per token of a batch, the floats live at once inside one layer: the residual and its
    // norm, q/k/v, the attention output and its permuted copy, gate/up/down; plus the logits
    // of every position (logits_all) and alignment slack.
    size_t E = (size_t)hp->n_embd, F = (size_t)hp->n_ff, QKV = (size_t)(hp->n_head + 2 * hp->n_head_kv) * hp->head_dim;
    size_t per_token = 6 * E + 3 * QKV + 3 * F + (size_t)hp->n_vocab;
    return per_token * sizeof(float) * (size_t)n_batch + ((size_t)64 << 20);
}

// ---- model --------------------------------------------------------------------------------

enum vlm_status vlm_llama_model_init(struct vlm_model * m) {
    struct vlm_llama_model * lm = calloc(1, sizeof *lm);
    if (!lm) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    m->arch = lm;
    enum vlm_status st = vlm_llama_read_hparams(m->src.gguf, &lm->hp);
    if (st != VLM_STATUS_OK) return vlm_error(st, "%s: %s", m->src.path, vlm_last_error());
    const struct vlm_llama_hparams * hp = &lm->hp;
    struct vlm_ctx * x = m->ctx;
    const struct vlm_weights * w = m->weights;
    int64_t E = hp->n_embd, V = hp->n_vocab, F = hp->n_ff, Dh = hp->head_dim;
    int64_t Q = hp->n_head * Dh, KV = hp->n_head_kv * Dh;
    lm->tok_embd    = vlm_weights_get(x, w, "token_embd.weight", 2, (int64_t[]){ V, E });
    lm->output_norm = vlm_weights_get(x, w, "output_norm.weight", 1, (int64_t[]){ E });
    lm->tied_output = !vlm_weights_has(w, "output.weight");
    lm->output      = lm->tied_output ? lm->tok_embd : vlm_weights_get(x, w, "output.weight", 2, (int64_t[]){ V, E });
    lm->layers = calloc((size_t)hp->n_layer, sizeof *lm->layers);
    if (!lm->layers) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    for (int32_t i = 0; i < hp->n_layer && vlm_ctx_ok(x); i++) {
        struct vlm_llama_layer * L = &lm->layers[i];
        L->attn_norm = vlm_weights_getf(x, w, 1, (int64_t[]){ E }, "blk.%d.attn_norm.weight", i);
        L->wq        = vlm_weights_getf(x, w, 2, (int64_t[]){ Q, E }, "blk.%d.attn_q.weight", i);
        L->wk        = vlm_weights_getf(x, w, 2, (int64_t[]){ KV, E }, "blk.%d.attn_k.weight", i);
        L->wv        = vlm_weights_getf(x, w, 2, (int64_t[]){ KV, E }, "blk.%d.attn_v.weight", i);
        L->wo        = vlm_weights_getf(x, w, 2, (int64_t[]){ E, Q }, "blk.%d.attn_output.weight", i);
        L->ffn_norm  = vlm_weights_getf(x, w, 1, (int64_t[]){ E }, "blk.%d.ffn_norm.weight", i);
        L->w_gate    = vlm_weights_getf(x, w, 2, (int64_t[]){ F, E }, "blk.%d.ffn_gate.weight", i);
        L->w_up      = vlm_weights_getf(x, w, 2, (int64_t[]){ F, E }, "blk.%d.ffn_up.weight", i);
        L->w_down    = vlm_weights_getf(x, w, 2, (int64_t[]){ E, F }, "blk.%d.ffn_down.weight", i);
    }
    if (!vlm_ctx_ok(x)) return vlm_error(x->status, "%s: %s", m->src.path, x->error);
    char extra[160];
    snprintf(extra, sizeof extra, "blk.%d.attn_norm.weight", hp->n_layer);
    if (vlm_weights_has(w, extra))
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: tensor '%s' beyond llama.block_count = %d", m->src.path, extra, hp->n_layer);
    if ((st = vlm_bpe_vocab_load(m->src.gguf, &lm->vocab)) != VLM_STATUS_OK)
        return vlm_error(st, "%s: %s", m->src.path, vlm_last_error());
    if (vlm_bpe_n_vocab(lm->vocab) != hp->n_vocab)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: the tokenizer has %d tokens but token_embd.weight %d rows", m->src.path,
                         vlm_bpe_n_vocab(lm->vocab), hp->n_vocab);
    return VLM_STATUS_OK;
}

void vlm_llama_model_free(struct vlm_llama_model * lm) {
    if (!lm) return;
    vlm_bpe_vocab_free(lm->vocab);
    free(lm->layers);
    free(lm);
}

int32_t vlm_llm_n_vocab(const struct vlm_model * m) { return vlm_llama_of(m) ? vlm_llama_of(m)->hp.n_vocab : 0; }
int32_t vlm_llm_n_embd(const struct vlm_model * m) { return vlm_llama_of(m) ? vlm_llama_of(m)->hp.n_embd : 0; }
int32_t vlm_llm_n_ctx_train(const struct vlm_model * m) { return vlm_llama_of(m) ? vlm_llama_of(m)->hp.n_ctx_train : 0; }

static enum vlm_status not_llm(const char * fn) {
    return vlm_error(VLM_STATUS_UNSUPPORTED, "%s: not a language model (load a llama GGUF)", fn);
}

enum vlm_status vlm_llm_tokenize(const struct vlm_model * m, const char * text, bool parse_special, int32_t ** ids,
                                 int32_t * n_ids) {
    if (!ids || !n_ids || !text) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_llm_tokenize: NULL argument");
    *ids = NULL;
    *n_ids = 0;
    if (!vlm_llama_of(m)) return not_llm("vlm_llm_tokenize");
    return vlm_bpe_tokenize(vlm_llama_of(m)->vocab, text, strlen(text), true, parse_special, ids, n_ids);
}

size_t vlm_llm_token_piece(const struct vlm_model * m, int32_t id, char * out, size_t cap) {
    size_t len = 0;
    const char * piece = vlm_llama_of(m) ? vlm_bpe_token_piece(vlm_llama_of(m)->vocab, id, true, &len) : NULL;
    if (piece && out) memcpy(out, piece, len < cap ? len : cap);
    return len;
}

int32_t vlm_llm_token_id(const struct vlm_model * m, const char * text) {
    return vlm_llama_of(m) && text ? vlm_bpe_token_id(vlm_llama_of(m)->vocab, text) : -1;
}

bool vlm_llm_is_eog(const struct vlm_model * m, int32_t id) {
    return vlm_llama_of(m) ? vlm_bpe_is_eog(vlm_llama_of(m)->vocab, id) : false;
}

// ---- sessions -----------------------------------------------------------------------------

struct vlm_llm_session {
    const struct vlm_model * model;
    struct vlm_llm_session_params params;
    int32_t             n_ctx;      // most positions allowed
    int32_t             cap;        // positions the KV cache holds now
    int32_t             n_past;
    struct vlm_buffer * kv;         // K then V of every layer
    struct vlm_tensor * k, * v;     // [n_layer] of [1, Hkv, cap, Dh] F32
    float *             logits;     // [n_out, n_vocab]
    int32_t             n_out;
};

struct vlm_llm_session_params vlm_llm_session_default_params(void) {
    struct vlm_llm_session_params p = { .n_ctx = 0, .logits_all = false };
    return p;
}

// (Re)allocates the KV cache for cap positions, keeping the first n_past of the old one.
static enum vlm_status kv_reserve(struct vlm_llm_session * s, struct vlm_ctx * x, int32_t cap) {
    const struct vlm_llama_hparams * hp = &vlm_llama_of(s->model)->hp;
    size_t per = (size_t)hp->n_head_kv * (size_t)cap * (size_t)hp->head_dim * sizeof(float);
    size_t aligned = (per + 255) / 256 * 256, total;
    if (!vlm_mul_size(aligned, 2 * (size_t)hp->n_layer, &total))
        return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "KV cache of %d positions is too large", cap);
    struct vlm_buffer * kv = vlm_buffer_new(x, total);
    if (!kv) return vlm_error(x->status ? x->status : VLM_STATUS_OUT_OF_MEMORY, "KV cache (%zu MiB): %s", total >> 20,
                              x->error[0] ? x->error : "out of memory");
    struct vlm_tensor * k = calloc((size_t)hp->n_layer * 2, sizeof *k);
    if (!k) {
        vlm_buffer_free(x, kv);
        return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    int64_t shape[4] = { 1, hp->n_head_kv, cap, hp->head_dim };
    for (int32_t i = 0; i < 2 * hp->n_layer; i++) k[i] = vlm_tensor_in(kv, (size_t)i * aligned, VLM_DTYPE_F32, 4, shape);
    if (s->kv && s->n_past > 0) {   // carry over the positions already computed
        for (int32_t i = 0; i < 2 * hp->n_layer; i++)
            vlm_op_copy_into(x, vlm_tensor_slice(k[i], 2, 0, s->n_past), vlm_tensor_slice(s->k[i], 2, 0, s->n_past));
        vlm_ctx_sync(x);
    }
    if (s->kv) vlm_buffer_free(x, s->kv);
    free(s->k);
    s->kv = kv;
    s->k = k;
    s->v = k + hp->n_layer;
    s->cap = cap;
    return vlm_ctx_ok(x) ? VLM_STATUS_OK : vlm_error(x->status, "KV cache: %s", x->error);
}

enum vlm_status vlm_llm_session_new(const struct vlm_model * m, const struct vlm_llm_session_params * params,
                                    struct vlm_llm_session ** out) {
    if (!out) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_llm_session_new: out is NULL");
    *out = NULL;
    if (!vlm_llama_of(m)) return not_llm("vlm_llm_session_new");
    struct vlm_llm_session_params defaults = vlm_llm_session_default_params();
    if (!params) params = &defaults;
    if (params->n_ctx < 0) return vlm_error(VLM_STATUS_INVALID_ARG, "n_ctx %d < 0", params->n_ctx);
    struct vlm_llm_session * s = calloc(1, sizeof *s);
    if (!s) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    s->model = m;
    s->params = *params;
    s->n_ctx = params->n_ctx > 0 ? params->n_ctx : vlm_llama_of(m)->hp.n_ctx_train;
    *out = s;
    return VLM_STATUS_OK;
}

void vlm_llm_session_free(struct vlm_llm_session * s) {
    if (!s) return;
    if (s->kv) {   // on the model's device: freed through any of its contexts
        struct vlm_ctx * x = vlm_model_ctx_acquire(s->model);
        if (x) vlm_buffer_free(x, s->kv);
        vlm_model_ctx_release(s->model, x);
    }
    free(s->k);
    free(s->logits);
    free(s);
}

const float * vlm_llm_logits(const struct vlm_llm_session * s) {
    return s && s->logits && s->n_out > 0 ? s->logits + (size_t)(s->n_out - 1) * (size_t)vlm_llama_of(s->model)->hp.n_vocab : NULL;
}

int32_t vlm_llm_n_past(const struct vlm_llm_session * s) { return s ? s->n_past : 0; }

const struct vlm_model * vlm_llm_session_model(const struct vlm_llm_session * s) { return s ? s->model : NULL; }

enum vlm_status vlm_llm_rewind(struct vlm_llm_session * s, int32_t n_past) {
    if (!s || n_past < 0 || n_past > s->n_past)
        return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_llm_rewind: position %d outside [0, %d]", n_past, s ? s->n_past : 0);
    s->n_past = n_past;
    s->n_out = 0;   // the logits belonged to a forgotten position
    return VLM_STATUS_OK;
}

// ---- forward ------------------------------------------------------------------------------

// One batch of T positions starting at s->n_past: res [T, E] in (the residual stream, kept
// across layers; each layer's temporaries are released at its end). With logits_out, the
// logits of the last row (or of every row, all_rows) are downloaded there.
// ref: llama.cpp src/models/llama.cpp llm_build_llama::llm_build_llama
static void forward(struct vlm_llm_session * s, struct vlm_ctx * x, struct vlm_tensor res, int64_t T, float * logits_out,
                    bool all_rows) {
    const struct vlm_llama_model * lm = vlm_llama_of(s->model);
    const struct vlm_llama_hparams * hp = &lm->hp;
    const int64_t H = hp->n_head, Hkv = hp->n_head_kv, Dh = hp->head_dim;
    const int32_t pos0 = s->n_past;
    const int32_t to_bhtd[4] = { 0, 2, 1, 3 };   // [1, T, H, Dh] <-> [1, H, T, Dh]
    struct vlm_attention_params ap = { .scale = 1.0f / sqrtf((float)Dh), .causal = true, .q_pos0 = pos0 };
    for (int32_t il = 0; il < hp->n_layer && vlm_ctx_ok(x); il++) {
        const struct vlm_llama_layer * L = &lm->layers[il];
        size_t mark = vlm_arena_mark(x);
        struct vlm_tensor h = vlm_op_rms_norm(x, res, &L->attn_norm, hp->rms_eps);                 // [T, E]
        struct vlm_tensor q = vlm_op_linear(x, h, L->wq, NULL);                                    // [T, H*Dh]
        struct vlm_tensor k = vlm_op_linear(x, h, L->wk, NULL);                                    // [T, Hkv*Dh]
        struct vlm_tensor v = vlm_op_linear(x, h, L->wv, NULL);
        q = vlm_tensor_permute(vlm_tensor_reshape(q, 4, (int64_t[]){ 1, T, H, Dh }), to_bhtd);     // [1, H, T, Dh]
        k = vlm_tensor_permute(vlm_tensor_reshape(k, 4, (int64_t[]){ 1, T, Hkv, Dh }), to_bhtd);   // [1, Hkv, T, Dh]
        v = vlm_tensor_permute(vlm_tensor_reshape(v, 4, (int64_t[]){ 1, T, Hkv, Dh }), to_bhtd);
        q = vlm_op_rope(x, q, pos0, hp->rope_theta, hp->rope_mode);
        k = vlm_op_rope(x, k, pos0, hp->rope_theta, hp->rope_mode);
        vlm_op_copy_into(x, vlm_tensor_slice(s->k[il], 2, pos0, T), k);
        vlm_op_copy_into(x, vlm_tensor_slice(s->v[il], 2, pos0, T), v);
        struct vlm_tensor kc = vlm_tensor_slice(s->k[il], 2, 0, pos0 + T);                          // [1, Hkv, n, Dh]
        struct vlm_tensor vc = vlm_tensor_slice(s->v[il], 2, 0, pos0 + T);
        struct vlm_tensor a = vlm_op_attention(x, q, kc, vc, &ap);                                  // [1, H, T, Dh]
        a = vlm_op_copy(x, vlm_tensor_permute(a, to_bhtd), VLM_DTYPE_F32);                          // [1, T, H, Dh]
        a = vlm_tensor_reshape(a, 2, (int64_t[]){ T, H * Dh });
        struct vlm_tensor r = vlm_op_add(x, res, vlm_op_linear(x, a, L->wo, NULL));                 // [T, E]
        h = vlm_op_rms_norm(x, r, &L->ffn_norm, hp->rms_eps);
        struct vlm_tensor g = vlm_op_unary(x, VLM_UNARY_SILU, vlm_op_linear(x, h, L->w_gate, NULL)); // [T, F]
        g = vlm_op_mul(x, g, vlm_op_linear(x, h, L->w_up, NULL));
        r = vlm_op_add(x, r, vlm_op_linear(x, g, L->w_down, NULL));                                 // [T, E]
        vlm_op_copy_into(x, res, r);
        vlm_arena_reset(x, mark);
    }
    if (!logits_out) return;
    struct vlm_tensor rows = all_rows ? res : vlm_tensor_slice(res, 0, T - 1, 1);                   // [n_out, E]
    struct vlm_tensor hn = vlm_op_rms_norm(x, rows, &lm->output_norm, hp->rms_eps);
    struct vlm_tensor logits = vlm_op_linear(x, hn, lm->output, NULL);                              // [n_out, V]
    if (vlm_ctx_ok(x)) vlm_tensor_download(x, logits, logits_out);
}

// Runs n positions (ids or embedding rows) through the model in batches of VLM_LLAMA_BATCH.
static enum vlm_status decode(struct vlm_llm_session * s, const int32_t * ids, const float * embd, int32_t n) {
    if (!s) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_llm_decode: session is NULL");
    if (n <= 0 || (!ids && !embd)) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_llm_decode: nothing to decode");
    struct vlm_llama_model * lm = vlm_llama_of(s->model);
    const struct vlm_llama_hparams * hp = &lm->hp;
    if (n > s->n_ctx - s->n_past)
        return vlm_error(VLM_STATUS_INVALID_ARG, "context overflow: %d positions after %d exceed the context of %d", n,
                         s->n_past, s->n_ctx);
    for (int32_t i = 0; ids && i < n; i++)
        if (ids[i] < 0 || ids[i] >= hp->n_vocab)
            return vlm_error(VLM_STATUS_INVALID_ARG, "token id %d out of range [0, %d)", ids[i], hp->n_vocab);
    const bool all = s->params.logits_all;
    const size_t V = (size_t)hp->n_vocab;
    float * lg = realloc(s->logits, (all ? (size_t)n : 1) * V * sizeof(float));
    if (!lg) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory for the logits");
    s->logits = lg;
    s->n_out = 0;

    struct vlm_ctx * x = vlm_model_ctx_acquire(s->model);   // sessions on one model run in parallel
    if (!x) return vlm_last_status();
    enum vlm_status st = VLM_STATUS_OK;
    if (s->n_past + n > s->cap) {   // grow the cache: at least double, in steps of 256 positions
        int32_t need = s->n_past + n, cap = s->cap ? s->cap : 256;
        while (cap < need) cap *= 2;
        if (cap > s->n_ctx) cap = s->n_ctx;
        st = kv_reserve(s, x, cap);
    }
    for (int32_t i0 = 0; st == VLM_STATUS_OK && i0 < n && vlm_ctx_ok(x); i0 += VLM_LLAMA_BATCH) {
        int32_t T = n - i0 < VLM_LLAMA_BATCH ? n - i0 : VLM_LLAMA_BATCH;
        size_t mark = vlm_arena_mark(x);
        struct vlm_tensor res;                                                                      // [T, E]
        if (ids) res = vlm_op_gather(x, lm->tok_embd, vlm_tensor_from_host(x, VLM_DTYPE_I32, 1, (int64_t[]){ T }, ids + i0));
        else res = vlm_tensor_from_host(x, VLM_DTYPE_F32, 2, (int64_t[]){ T, hp->n_embd }, embd + (size_t)i0 * hp->n_embd);
        // every batch's rows with logits_all, else only the last row of the last batch
        float * out = all ? lg + (size_t)i0 * V : (i0 + T == n ? lg : NULL);
        forward(s, x, res, T, out, all);
        vlm_arena_reset(x, mark);
        if (vlm_ctx_ok(x)) s->n_past += T;
    }
    if (st == VLM_STATUS_OK) st = vlm_ctx_sync(x);
    if (st != VLM_STATUS_OK) {
        st = vlm_error(st, "decode: %s", x->error[0] ? x->error : vlm_last_error());
    }
    vlm_model_ctx_release(s->model, x);   // recovers a context with an error
    if (st == VLM_STATUS_OK) s->n_out = all ? n : 1;
    return st;
}

enum vlm_status vlm_llm_decode(struct vlm_llm_session * s, const int32_t * ids, int32_t n) {
    return decode(s, ids, NULL, n);
}

enum vlm_status vlm_llm_decode_embd(struct vlm_llm_session * s, const float * embd, int32_t n) {
    return decode(s, NULL, embd, n);
}
