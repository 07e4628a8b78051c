// clip.h — CLIP (openai/CLIP clip/model.py): the ViT image tower, the text tower and the joint
// embedding space, as straight-line C over core.h ops. Weights come from a safetensors file
// with OpenAI names (visual.*, transformer.*, token_embedding.weight, ...) or HF transformers
// CLIPModel names (vision_model.*, text_model.*, visual_projection.weight, ...); the
// hyper-parameters are inferred from shapes as clip.model.build_model does, with config.json
// used only for what shapes cannot tell (heads for non-OpenAI head widths, the activation).
#ifndef VLM_CLIP_H
#define VLM_CLIP_H

#include "core.h"
#include "model-family.h"
#include "vit.h"

struct vlm_model;       // fusion/model.h
struct vlm_clip_tokenizer;   // language/tokenizer.h

struct vlm_clip_model {
    bool              hf_names;       // HF transformers CLIPModel names
    int32_t           embed_dim;
    // vision: image_size = patch * grid, tokens = grid^2 + 1
    int32_t           image_size, patch, grid;
    struct vlm_vit_tower vision;
    struct vlm_tensor conv1_w;        // [Dv, 3, P, P]
    struct vlm_tensor class_emb;      // [Dv]
    struct vlm_tensor vis_pos;        // [grid^2 + 1, Dv]
    struct vlm_tensor ln_pre_w, ln_pre_b, ln_post_w, ln_post_b;
    struct vlm_tensor vis_proj;       // OpenAI [Dv, E] (x @ proj); HF Linear weight [E, Dv]
    // text
    int32_t           context, vocab;
    struct vlm_vit_tower text;
    struct vlm_tensor tok_emb;        // [V, Dt]
    struct vlm_tensor txt_pos;        // [context, Dt]
    struct vlm_tensor ln_final_w, ln_final_b;
    struct vlm_tensor txt_proj;       // OpenAI [Dt, E]; HF Linear weight [E, Dt]
    float             logit_scale;    // exp(logit_scale)
    float             mean[3], std[3];
    // batching: most images / texts per forward (the arena is sized for these)
    int32_t           vision_chunk, text_chunk;
    // tokenizer (NULL when no vocabulary was found: text calls fail with tokenizer_error)
    struct vlm_clip_tokenizer * tokenizer;
    char              tokenizer_error[1536];
};

// The family (clip-family.c: detection, `vlm info`) and its hooks (clip.c): the activation
// arena for a CLIP model source (0 when it is not a CLIP ViT); init, called by vlm_model_load
// once m->ctx, m->src and m->weights are set, fills m->arch.
extern const struct vlm_model_family vlm_clip_family;
enum vlm_status vlm_clip_arena_bytes(const struct vlm_model_source * src, size_t * arena);
enum vlm_status vlm_clip_model_init(struct vlm_model * m);
// m's CLIP state, NULL when m is not a CLIP model.
struct vlm_clip_model * vlm_clip_of(const struct vlm_model * m);
// Name suffixes of CLIP's linear weights (attention and MLP of both towers, OpenAI and HF
// names), NULL-terminated: kept as F16 / Q8_0 when a model is loaded so.
extern const char * const vlm_clip_linear_weights[];
void            vlm_clip_model_free(struct vlm_clip_model * c);

// Forward passes (fusion/clip.c). Raw features (not normalized), like encode_image /
// encode_text. pixels: [n, 3, S, S] preprocessed; tokens: [n, context] as tokenize() gives.
// Batches are split into chunks of vision_chunk / text_chunk internally.
enum vlm_status vlm_clip_forward_images(struct vlm_model * m, const float * pixels, int32_t n, float * out);
enum vlm_status vlm_clip_forward_texts(struct vlm_model * m, const int32_t * tokens, int32_t n, float * out);

// Writes a checkpoint with the OpenAI names and shapes of a released variant ("ViT-B/32",
// "ViT-B/16", "ViT-L/14", "ViT-L/14@336px", or "tiny" = the fixtures' shapes) and random F16
// weights drawn as clip/model.py initializes them (seeded, deterministic), atomically.
enum vlm_status vlm_clip_write_random_checkpoint(const char * path, const char * variant, uint64_t seed);

// Finds a runtime data file: $VLM_ASSETS/name, then share/vlm relative to the running executable
// (an install), assets/ next to or above it (build dir -> source tree), $VLM_SOURCE_DIR/assets,
// then the configured <prefix>/share/vlm. Returns false if absent.
bool            vlm_clip_find_asset(const char * name, char * out, size_t out_size);
#endif
