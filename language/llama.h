// llama.h — the Llama-family text decoder (SmolLM2, the text model of SmolVLM) as llama.cpp
// runs it from a GGUF file with general.architecture = llama: RMSNorm, RoPE, causal
// grouped-query attention over a KV cache, SwiGLU, tied or untied output.
// The model (weights, hyper-parameters, vocabulary) is immutable after load; a session holds
// what changes per conversation: the KV cache, the position and the last logits.
#ifndef VLM_LLAMA_H
#define VLM_LLAMA_H
#include "core.h"
#include "model-family.h"

struct vlm_model;
struct vlm_bpe_vocab;   // tokenizer.h

// Hyper-parameters, all from the GGUF metadata (llama.* keys).
struct vlm_llama_hparams {
    int32_t n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_rot, n_ctx_train;
    int32_t head_dim;          // n_embd / n_head
    float   rope_theta;        // llama.rope.freq_base
    float   rms_eps;           // llama.attention.layer_norm_rms_epsilon
    enum vlm_rope_mode rope_mode;   // NORMAL (adjacent pairs) for the llama architecture
};

struct vlm_llama_layer {
    struct vlm_tensor attn_norm, wq, wk, wv, wo;   // wq [H*Dh, E], wk/wv [Hkv*Dh, E], wo [E, H*Dh]
    struct vlm_tensor ffn_norm, w_gate, w_up, w_down;   // gate/up [F, E], down [E, F]
};

struct vlm_llama_model {
    struct vlm_llama_hparams hp;
    struct vlm_tensor        tok_embd;      // [V, E]
    struct vlm_tensor        output_norm;   // [E]
    struct vlm_tensor        output;        // [V, E]: output.weight, or tok_embd when tied
    bool                     tied_output;
    struct vlm_llama_layer * layers;        // [n_layer]
    struct vlm_bpe_vocab *   vocab;
};

// Reads the hyper-parameters of a llama GGUF (errors name the missing key).
enum vlm_status vlm_llama_read_hparams(const struct vlm_gguf * g, struct vlm_llama_hparams * hp);
// Activation arena for batches of up to n_batch tokens.
size_t          vlm_llama_arena_bytes(const struct vlm_llama_hparams * hp, int32_t n_batch);
// The family (llama-family.c: detection, arena, `vlm info`) and its init: binds the weights of
// m->weights and the vocabulary into m->arch.
extern const struct vlm_model_family vlm_llama_family;
enum vlm_status vlm_llama_model_init(struct vlm_model * m);
void            vlm_llama_model_free(struct vlm_llama_model * lm);
// m's decoder state, NULL when m is not a llama model.
struct vlm_llama_model * vlm_llama_of(const struct vlm_model * m);

// The model a session was made from.
const struct vlm_model * vlm_llm_session_model(const struct vlm_llm_session * s);

// Writes a full-size llama GGUF with random weights ("smollm2-135m", "smolvlm-256m": the real
// shapes, a synthetic byte-level BPE vocabulary of the real size) stored as type (F32, F16,
// BF16, Q8_0, Q4_0, Q4_K), for benchmarks; llama.cpp loads it too.
enum vlm_status vlm_llama_write_random(const char * path, const char * variant, enum vlm_dtype type, uint64_t seed);

// Tokens per forward pass: longer inputs are processed in chunks of this size.
#define VLM_LLAMA_BATCH 512
#endif
