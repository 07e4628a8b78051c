// model-config.h — config.json next to a model: the settings that tensor shapes cannot tell
// (attention heads, activations, layer-norm eps). The parsers take the file's bytes and
// need no model, so the fuzz target tests/fuzz/fuzz-config-json.c runs them directly; the
// loader reads the file (core/config-file.c) and the families (fusion/clip.c,
// vision/sam-model.c) apply what the parser found.
#ifndef VLM_MODEL_CONFIG_H
#define VLM_MODEL_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

// CLIP, in one of three layouts:
//   HF transformers: projection_dim, text_config / vision_config {hidden_size, num_hidden_layers,
//     num_attention_heads, hidden_act, layer_norm_eps, ...}
//   open_clip (config.json or open_clip_config.json, maybe under model_cfg): embed_dim,
//     vision_cfg / text_cfg {width, layers, head_width / heads, ...}, quick_gelu (false: nn.GELU),
//     preprocess_cfg {mean, std}
//   flat (the fixtures' and clip/model.py build_model's names): embed_dim, vision_width,
//     transformer_heads, vision_heads, activation, mean, std, ...
// Zero / false fields were not given. A key that is present must hold a valid value (sizes:
// integers in 1..65536, eps in (0, 1), mean / std 3 finite numbers, std > 0), else the parse
// fails naming it; the loader checks the sizes against the tensors.
enum vlm_clip_config_layout { VLM_CLIP_CONFIG_FLAT, VLM_CLIP_CONFIG_HF, VLM_CLIP_CONFIG_OPEN_CLIP };
struct vlm_clip_config {
    enum vlm_clip_config_layout layout;
    int32_t        vision_heads, text_heads;   // 1..65536
    int32_t        vision_head_width;          // open_clip: vision heads = width / head_width when it divides
    // what the tensors also tell
    int32_t        embed_dim, image_size, patch, vision_width, vision_layers;
    int32_t        context, vocab, text_width, text_layers;
    bool           has_vision_act, has_text_act;
    enum vlm_unary vision_act, text_act;
    float          vision_eps, text_eps;       // in (0, 1)
    bool           has_pixel_norm;
    float          pixel_mean[3], pixel_std[3];   // 0..1 scale
};
// text: n bytes, NUL-terminated or not. name prefixes the error message. Fails on JSON that
// does not parse and on an invalid value (VLM_STATUS_BAD_MODEL), and on an activation vlm has
// not (VLM_STATUS_UNSUPPORTED); *cfg is zeroed first.
enum vlm_status vlm_clip_config_parse(const char * text, size_t n, const char * name, struct vlm_clip_config * cfg);
// The key in the file of one of cfg's size fields (e.g. &cfg->vision_width: "vision_width",
// "vision_config.hidden_size" or "vision_cfg.width").
const char *    vlm_clip_config_key(const struct vlm_clip_config * cfg, const void * field);

// SAM: the hyper-parameters of upstream's build_sam.py under flat names (as
// shared/fixtures/sam-tiny/config.json: image_size, patch_size, encoder_embed_dim, ...) or of HF
// transformers' SamConfig (vision_config / prompt_encoder_config / mask_decoder_config). Shapes
// tell all but the decoder heads and the pixel normalization: the loader checks every other
// value given against the tensors. Zero fields (n_global -1, has_pixel_norm false) were not given.
#define VLM_SAM_CONFIG_MAX_GLOBAL 64
// The input size of MobileSAM and EfficientSAM when config.json gives none: their tensors do
// not tell it (SAM's do: pos_embed's grid x the patch size). ref: build_sam.py image_size
#define VLM_SAM_DEFAULT_IMAGE_SIZE 1024
struct vlm_sam_config {
    bool    hf;                      // HF layout: the error messages name keys as "vision_config.image_size"
    int32_t image_size, patch_size, embed_dim, depth, heads, window;
    double  mlp_ratio;               // encoder MLP width / embed dim
    double  layer_norm_eps;          // the image encoder's, in (0, 1)
    int32_t enc_mlp;                 // encoder MLP width (HF vision_config.mlp_dim: SlimSAM's pruned width)
    int32_t prompt_dim, mask_in_chans;
    int32_t decoder_depth, decoder_mlp, decoder_heads, n_multimask, iou_depth, iou_hidden;
    int32_t max_points;              // EfficientSAM's decoder_max_num_input_points
    int32_t upscale_dims[2];         // EfficientSAM's decoder_upscaling_layer_dims
    // HF only: prompt_encoder_config.image_size / image_embedding_size (the encoder's input and
    // grid), mask_decoder_config.hidden_size and vision_config.output_channels (the prompt dim)
    int32_t pe_image_size, pe_grid, decoder_width, out_channels;
    int32_t n_global;                // -1: not given
    int32_t global_idx[VLM_SAM_CONFIG_MAX_GLOBAL];
    bool    has_pixel_norm;
    float   pixel_mean[3], pixel_std[3];
};
// Fails (VLM_STATUS_BAD_MODEL, naming the key) on JSON that does not parse and on a value of
// the wrong kind: sizes must be integers in 1..65536, decoder heads 1..64, indexes 0..65535,
// mlp_ratio in (0, 1024], layer_norm_eps in (0, 1), pixel_mean / pixel_std 3 finite numbers
// (std > 0). null counts as not given.
enum vlm_status vlm_sam_config_parse(const char * text, size_t n, const char * name, struct vlm_sam_config * cfg);
// The key in the file of one of cfg's fields (e.g. &cfg->image_size: "image_size", or
// "vision_config.image_size" in the HF layout; &cfg->n_global for the global block indexes).
const char *    vlm_sam_config_key(const struct vlm_sam_config * cfg, const void * field);

// MobileSAM's TinyViT encoder sizes, from the tensor shapes (vision/sam-tinyvit.c); stage 0 is
// MBConv (no heads or window).
#define VLM_TINYVIT_MAX_STAGES 4    // upstream's TinyViT.__init__ stage resolutions assume 4
struct vlm_tinyvit_dims {
    int32_t n_stages, out_dim;
    int32_t dim[VLM_TINYVIT_MAX_STAGES], depth[VLM_TINYVIT_MAX_STAGES], heads[VLM_TINYVIT_MAX_STAGES];
    int32_t window[VLM_TINYVIT_MAX_STAGES], hidden[VLM_TINYVIT_MAX_STAGES];   // hidden: MBConv / MLP width
    int32_t res[VLM_TINYVIT_MAX_STAGES], merge_stride[VLM_TINYVIT_MAX_STAGES];   // input side; 0: no merge after
};
// config.json's bytes (text, n; path names it in errors): the TinyViT keys it gives (upstream
// TinyViT's embed_dims, depths, num_heads, window_sizes, mlp_ratio, mbconv_expand_ratio) must
// agree with d. Fails (VLM_STATUS_BAD_MODEL) naming the key and the tensor.
enum vlm_status vlm_tinyvit_config_check(const char * text, size_t n, const char * path, const struct vlm_tinyvit_dims * d);
#endif
