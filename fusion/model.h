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

struct vlm_model {
    enum vlm_model_kind     kind;
    struct vlm_ctx *        ctx;       // backend, weights and arena; one user at a time
    struct vlm_safetensors *file;
    struct vlm_weights *    weights;
    struct vlm_sam_model *  sam;       // kind == VLM_MODEL_SAM
    struct vlm_clip_model * clip;      // kind == VLM_MODEL_CLIP
    char                    path[1024];
};
#endif
