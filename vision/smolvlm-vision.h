// smolvlm-vision.h — the vision side of SmolVLM / Idefics3 as llama.cpp's libmtmd runs it:
// the vision projector file (GGUF `mmproj`, general.architecture = clip), the idefics3 image
// preprocessing (tiles + overview) and the SigLIP encoder with its connector (pixel shuffle +
// projection into the language model's embedding space). Internal API (not in vlm.h yet).
//
//     struct vlm_smolvlm_vision * v = NULL;
//     vlm_smolvlm_vision_load("mmproj.gguf", &params, &v);
//     struct vlm_smolvlm_tiles tiles;
//     vlm_smolvlm_preprocess(v, &image, NULL, &tiles);                // llama.cpp's tiling
//     float * embd = malloc(sizeof *embd * tiles.n_tiles * vlm_smolvlm_tokens_per_tile(v) *
//                           vlm_smolvlm_embd_dim(v));
//     vlm_smolvlm_encode(v, &tiles, embd);                             // rows in tile order
//     vlm_smolvlm_tiles_free(&tiles); vlm_smolvlm_vision_free(v);
#ifndef VLM_SMOLVLM_VISION_H
#define VLM_SMOLVLM_VISION_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core.h"
#include "model-family.h"
#include "vit.h"

// The projector file as a model family (smolvlm-family.c): `vlm info` describes it, vlm_model_load
// refuses it.
extern const struct vlm_model_family vlm_mmproj_family;

// Projector types of the clip.projector_type key that are supported.
enum vlm_mmproj_projector { VLM_MMPROJ_IDEFICS3 = 0, VLM_MMPROJ_COUNT };

// Everything the mmproj metadata says (llama.cpp tools/mtmd/clip.cpp load_hparams).
struct vlm_mmproj_hparams {
    enum vlm_mmproj_projector projector;
    const char *              projector_name;   // "idefics3"
    int32_t image_size;      // clip.vision.image_size: the tile side S
    int32_t patch_size;      // clip.vision.patch_size
    int32_t n_embd;          // clip.vision.embedding_length
    int32_t n_ff;            // clip.vision.feed_forward_length
    int32_t n_layer;         // clip.vision.block_count
    int32_t n_head;          // clip.vision.attention.head_count
    int32_t projection_dim;  // clip.vision.projection_dim (the language model's width)
    float   eps;             // clip.vision.attention.layer_norm_epsilon
    int32_t scale_factor;    // clip.vision.projector.scale_factor (pixel shuffle, per side)
    int32_t longest_edge;    // clip.vision.preproc_image_size (0: sides rounded to S instead)
    float   mean[3], std[3]; // clip.vision.image_mean / image_std
    enum vlm_unary act;      // clip.use_gelu: GELU (tanh form); clip.use_silu: SiLU; else quick GELU
};

struct vlm_smolvlm_vision {
    char                      path[1024];
    struct vlm_mmproj_hparams hp;
    int32_t                   n_patches;   // (S / patch)^2 per tile
    int32_t                   tile_chunk;  // most tiles per forward (the arena is sized for it)
    struct vlm_ctx *          ctx;         // backend, weights and arena
    struct vlm_gguf *         file;        // kept open: CPU weights point into its mapping
    pthread_mutex_t           lock;        // encodes take turns on the arena
    bool                      lock_ok;
    struct vlm_weights *      weights;
    struct vlm_tensor         patch_w;     // [D, 3, P, P]
    struct vlm_tensor         patch_b;     // [D]
    struct vlm_tensor         pos;         // [n_patches, D]
    struct vlm_vit_tower      tower;
    struct vlm_tensor         post_ln_w, post_ln_b;   // [D]
    struct vlm_tensor         fc_w;        // idefics3: [projection_dim, D * scale_factor^2]
};

// Loads an mmproj GGUF (F32 / F16 / BF16 / Q8_0 weights, used as F32) onto the backend of
// params (NULL: defaults). Errors: VLM_STATUS_BAD_MODEL with one line naming the key or tensor
// (a language-model GGUF, an unknown clip.projector_type, a missing size), VLM_STATUS_IO.
enum vlm_status vlm_smolvlm_vision_load(const char * mmproj_path, const struct vlm_model_params * params,
                                        struct vlm_smolvlm_vision ** out);
void            vlm_smolvlm_vision_free(struct vlm_smolvlm_vision * v);

// Image tokens per tile (after the pixel shuffle) and their width (= the text model's width).
int32_t vlm_smolvlm_tokens_per_tile(const struct vlm_smolvlm_vision * v);
int32_t vlm_smolvlm_embd_dim(const struct vlm_smolvlm_vision * v);

// Cost control for the tiling. Zeroed (or NULL) = exactly llama.cpp's behaviour.
//   no_upscale: the longest edge is at most the image's own (scale <= 1) instead of
//     clip.vision.preproc_image_size; the sides are still rounded up to whole tiles.
//   max_tiles (> 0): when the grid would have more tiles, the largest scale s whose grid
//     ceil(w*s/S) x ceil(h*s/S) has at most max_tiles tiles is used instead (the overview tile
//     is extra). The image is then letterboxed into that grid as usual.
struct vlm_smolvlm_tiling {
    int32_t max_tiles;
    bool    no_upscale;
};

// Preprocessed tiles: the grid_x * grid_y crops of the refined image in row-major order, then
// the overview (the whole image at S x S), normalized with the file's mean / std.
struct vlm_smolvlm_tiles {
    int32_t n_tiles;          // grid_x * grid_y + 1
    int32_t size;             // S
    int32_t grid_x, grid_y;   // columns, rows
    float * pixels;           // [n_tiles, S, S, 3] (HWC, RGB)
};

// ref: llama.cpp tools/mtmd/mtmd-image.cpp mtmd_image_preprocessor_idefics3::preprocess.
// image: RGB (channels == 3). tiling: NULL for llama.cpp's behaviour.
enum vlm_status vlm_smolvlm_preprocess(const struct vlm_smolvlm_vision * v, const struct vlm_image * image,
                                       const struct vlm_smolvlm_tiling * tiling, struct vlm_smolvlm_tiles * out);
void            vlm_smolvlm_tiles_free(struct vlm_smolvlm_tiles * t);

// Encodes all tiles (batched, tile_chunk tiles per forward; concurrent calls take turns): out_embd receives
// [n_tiles * tokens_per_tile, embd_dim] floats, rows in tile order.
enum vlm_status vlm_smolvlm_encode(struct vlm_smolvlm_vision * v, const struct vlm_smolvlm_tiles * tiles,
                                   float * out_embd);
// Writes a full-size mmproj GGUF with random weights ("smolvlm-256m", "smolvlm-500m": SmolVLM's
// SigLIP tower and idefics3 connector, llama.cpp's keys and names), block and connector
// matrices stored as type (the rest F32), for benchmarks; llama.cpp's libmtmd loads it too.
enum vlm_status vlm_smolvlm_write_random_mmproj(const char * path, const char * variant, enum vlm_dtype type,
                                                uint64_t seed);
#endif
