// model-config.h — config.json next to a model: the settings that tensor shapes cannot tell
// (attention heads, activations, layer-norm eps). The parsers take the file's bytes and
// need no model, so the fuzz target tests/fuzz/fuzz-config-json.c runs them directly; the
// loaders (fusion/clip.c, vision/sam-model.c) read the file with vlm_model_config_read and
// apply what the parser found.
#ifndef VLM_MODEL_CONFIG_H
#define VLM_MODEL_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

// Larger config files are not read (treated as absent).
#define VLM_MODEL_CONFIG_MAX_BYTES ((size_t)4 << 20)

// Reads the first of names[0..n_names) that exists in the folder of model_path (the model
// file). Returns the NUL-terminated text (malloc'd; *n_out its length) and its path in
// path_out, or NULL when none is there or readable within VLM_MODEL_CONFIG_MAX_BYTES.
char * vlm_model_config_read(const char * model_path, const char * const * names, int n_names, char * path_out,
                             size_t path_size, size_t * n_out);

// CLIP, in one of three layouts:
//   HF transformers: text_config / vision_config {num_attention_heads, hidden_act, layer_norm_eps}
//   open_clip (config.json or open_clip_config.json, maybe under model_cfg): vision_cfg.head_width,
//     text_cfg.heads, quick_gelu (false: nn.GELU)
//   flat (the fixtures' and build_model's names): transformer_heads, vision_heads, activation
// Zero / false fields were not given.
struct vlm_clip_config {
    int32_t        vision_heads, text_heads;   // 1..65536
    int32_t        vision_head_width;          // open_clip: vision heads = width / head_width when it divides
    bool           has_vision_act, has_text_act;
    enum vlm_unary vision_act, text_act;
    float          vision_eps, text_eps;       // in (0, 1)
};
// text: n bytes, NUL-terminated or not. name prefixes the error message. Fails on JSON that
// does not parse (VLM_STATUS_BAD_MODEL) and on an activation vlm has not
// (VLM_STATUS_UNSUPPORTED); *cfg is zeroed first.
enum vlm_status vlm_clip_config_parse(const char * text, size_t n, const char * name, struct vlm_clip_config * cfg);

// SAM: the mask decoder's heads, upstream-style "decoder_num_heads" or HF
// "mask_decoder_config.num_attention_heads" (1..64; 0: not given).
struct vlm_sam_config {
    int32_t decoder_heads;
};
enum vlm_status vlm_sam_config_parse(const char * text, size_t n, const char * name, struct vlm_sam_config * cfg);
#endif
