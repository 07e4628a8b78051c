// families.c — the model families this build has, in the order the loader asks them (a
// projector GGUF before the llama decoder, whose architecture it may share).
#include "clip.h"
#include "llama.h"
#include "sam.h"
#include "smolvlm-vision.h"

const struct vlm_model_family * const vlm_model_families[] = {
    &vlm_sam_family, &vlm_clip_family, &vlm_mmproj_family, &vlm_llama_family, NULL,
};
