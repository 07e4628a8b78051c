// model.h — what a struct vlm_model (public, opaque) holds: the backend context that owns
// the weights and the activation arena, the model file, and the architecture's own state.
// vlm_model_load (model.c) detects the architecture from tensor names and hands the weights
// to the architecture's init (vision/sam.h, fusion/clip.h).
#ifndef VLM_MODEL_H
#define VLM_MODEL_H
#include "core.h"
#include "model-file.h"

struct vlm_sam_model;    // vision/sam.h
struct vlm_clip_model;   // fusion/clip.h
struct vlm_llama_model;  // language/llama.h

struct vlm_model {
    enum vlm_model_kind     kind;
    struct vlm_ctx *        ctx;       // backend, weights and arena; one user at a time
    struct vlm_safetensors *file;      // safetensors models
    struct vlm_gguf *       gguf;      // GGUF models
    struct vlm_weights *    weights;
    struct vlm_sam_model *  sam;       // kind == VLM_MODEL_SAM
    struct vlm_clip_model * clip;      // kind == VLM_MODEL_CLIP
    struct vlm_llama_model *llama;     // kind == VLM_MODEL_LLAMA
    char                    path[1024];
    enum vlm_weight_type    weight_type;   // how the linear weights of a safetensors model are kept
    // Backend fallback: a model whose backend was chosen automatically moves to the CPU when
    // its Vulkan device is lost or runs out of memory (vlm_model_fall_back_to_cpu).
    bool                    can_fall_back;
    uint32_t                generation;    // +1 at each move; sessions re-create their buffers
    struct vlm_ctx *        lost_ctx;      // the failed context, kept until the model is freed
};

// When m's backend was chosen automatically and `st` says its Vulkan device was lost or ran
// out of memory: reloads the model on the CPU (printing a warning) and returns true, so the
// caller retries the failed call once. Otherwise returns false. Buffers made on the old
// context must be freed with m->lost_ctx.
bool vlm_model_fall_back_to_cpu(struct vlm_model * m, enum vlm_status st);
#endif
