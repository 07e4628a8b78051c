// model-config.c — config.json next to a model: reading it, and the CLIP and SAM parsers
// (see model-config.h).
#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model-config.h"

char * vlm_model_config_read(const char * model_path, const char * const * names, int n_names, char * path_out,
                             size_t path_size, size_t * n_out) {
    const char * slash = strrchr(model_path, '/');
    int dir_len = slash ? (int)(slash - model_path) : 1;
    const char * dir = slash ? model_path : ".";
    for (int i = 0; i < n_names; i++) {
        if ((size_t)snprintf(path_out, path_size, "%.*s/%s", dir_len, dir, names[i]) >= path_size) continue;
        char * buf = vlm_read_file(path_out, VLM_MODEL_CONFIG_MAX_BYTES, n_out);
        if (buf) return buf;
    }
    return NULL;
}

static bool act_parse(const char * s, enum vlm_unary * out) {
    if (!strcmp(s, "quick_gelu")) *out = VLM_UNARY_QUICK_GELU;
    else if (!strcmp(s, "gelu")) *out = VLM_UNARY_GELU_ERF;
    else if (!strcmp(s, "gelu_new") || !strcmp(s, "gelu_pytorch_tanh") || !strcmp(s, "gelu_fast")) *out = VLM_UNARY_GELU_TANH;
    else if (!strcmp(s, "relu")) *out = VLM_UNARY_RELU;
    else if (!strcmp(s, "silu") || !strcmp(s, "swish")) *out = VLM_UNARY_SILU;
    else return false;
    return true;
}

// o[key] when it is a number in 1..65536 (truncated to an integer), else 0.
static int32_t json_int(const cJSON * o, const char * key) {
    const cJSON * v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    return cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 65536 ? (int32_t)v->valuedouble : 0;
}

// o[key] when it is a number in (0, 1), else 0.
static float json_eps(const cJSON * o, const char * key) {
    const cJSON * e = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    return cJSON_IsNumber(e) && e->valuedouble > 0 && e->valuedouble < 1 ? (float)e->valuedouble : 0.0f;
}

// Parses text as a JSON value; NULL (with an error naming name) when it is not JSON.
static cJSON * parse_json(const char * text, size_t n, const char * name) {
    cJSON * root = cJSON_ParseWithLength(text, n);
    if (!root) vlm_error(VLM_STATUS_BAD_MODEL, "%s: not valid JSON", name);
    return root;
}

enum vlm_status vlm_clip_config_parse(const char * text, size_t n, const char * name, struct vlm_clip_config * cfg) {
    memset(cfg, 0, sizeof *cfg);
    cJSON * root = parse_json(text, n, name);
    if (!root) return VLM_STATUS_BAD_MODEL;
    enum vlm_status st = VLM_STATUS_OK;
    const cJSON * tc = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    const cJSON * vc = cJSON_GetObjectItemCaseSensitive(root, "vision_config");
    const cJSON * oc = cJSON_GetObjectItemCaseSensitive(root, "model_cfg");
    if (!oc && (cJSON_GetObjectItemCaseSensitive(root, "vision_cfg") || cJSON_GetObjectItemCaseSensitive(root, "text_cfg")))
        oc = root;
    if (cJSON_IsObject(tc) || cJSON_IsObject(vc)) {
        cfg->text_heads = json_int(tc, "num_attention_heads");
        cfg->vision_heads = json_int(vc, "num_attention_heads");
        const cJSON * items[2] = { tc, vc };
        bool * has[2] = { &cfg->has_text_act, &cfg->has_vision_act };
        enum vlm_unary * act[2] = { &cfg->text_act, &cfg->vision_act };
        float * eps[2] = { &cfg->text_eps, &cfg->vision_eps };
        for (int i = 0; i < 2; i++) {
            const cJSON * a = items[i] ? cJSON_GetObjectItemCaseSensitive(items[i], "hidden_act") : NULL;
            if (cJSON_IsString(a)) {
                if (!act_parse(a->valuestring, act[i])) {
                    st = vlm_error(VLM_STATUS_UNSUPPORTED, "%s: unsupported hidden_act '%.64s'", name, a->valuestring);
                    goto done;
                }
                *has[i] = true;
            }
            *eps[i] = json_eps(items[i], "layer_norm_eps");
        }
    } else if (cJSON_IsObject(oc)) {
        const cJSON * v = cJSON_GetObjectItemCaseSensitive(oc, "vision_cfg");
        const cJSON * t = cJSON_GetObjectItemCaseSensitive(oc, "text_cfg");
        cfg->vision_head_width = json_int(v, "head_width");
        if (!cfg->vision_head_width) cfg->vision_head_width = 64;   // open_clip's default
        cfg->text_heads = json_int(t, "heads");
        // ref: open_clip model.py _build_vision_tower: act_layer = QuickGELU if quick_gelu else nn.GELU
        cfg->vision_act = cfg->text_act = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(oc, "quick_gelu"))
                                              ? VLM_UNARY_QUICK_GELU
                                              : VLM_UNARY_GELU_ERF;
        cfg->has_vision_act = cfg->has_text_act = true;
    } else {
        cfg->text_heads = json_int(root, "transformer_heads");
        cfg->vision_heads = json_int(root, "vision_heads");
        const cJSON * a = cJSON_GetObjectItemCaseSensitive(root, "activation");
        if (!cJSON_IsString(a)) a = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
        if (cJSON_IsString(a)) {
            if (!act_parse(a->valuestring, &cfg->vision_act)) {
                st = vlm_error(VLM_STATUS_UNSUPPORTED, "%s: unsupported activation '%.64s'", name, a->valuestring);
                goto done;
            }
            cfg->text_act = cfg->vision_act;
            cfg->has_vision_act = cfg->has_text_act = true;
        }
        cfg->vision_eps = cfg->text_eps = json_eps(root, "layer_norm_eps");
    }
done:
    cJSON_Delete(root);
    return st;
}

// ref: segment_anything/build_sam.py _build_sam arguments; transformers/models/sam/configuration_sam.py
static const struct {
    const char * flat, * section, * key;
    size_t       offset;
    int32_t      max;
} sam_keys[] = {
    { "image_size", "vision_config", "image_size", offsetof(struct vlm_sam_config, image_size), 65536 },
    { "patch_size", "vision_config", "patch_size", offsetof(struct vlm_sam_config, patch_size), 65536 },
    { "encoder_embed_dim", "vision_config", "hidden_size", offsetof(struct vlm_sam_config, embed_dim), 65536 },
    { "encoder_depth", "vision_config", "num_hidden_layers", offsetof(struct vlm_sam_config, depth), 65536 },
    { "encoder_num_heads", "vision_config", "num_attention_heads", offsetof(struct vlm_sam_config, heads), 65536 },
    { "window_size", "vision_config", "window_size", offsetof(struct vlm_sam_config, window), 65536 },
    { "prompt_embed_dim", "prompt_encoder_config", "hidden_size", offsetof(struct vlm_sam_config, prompt_dim), 65536 },
    { "mask_in_chans", "prompt_encoder_config", "mask_input_channels", offsetof(struct vlm_sam_config, mask_in_chans), 65536 },
    { "decoder_depth", "mask_decoder_config", "num_hidden_layers", offsetof(struct vlm_sam_config, decoder_depth), 65536 },
    { "decoder_mlp_dim", "mask_decoder_config", "mlp_dim", offsetof(struct vlm_sam_config, decoder_mlp), 65536 },
    { "decoder_num_heads", "mask_decoder_config", "num_attention_heads", offsetof(struct vlm_sam_config, decoder_heads), 64 },
    { "num_multimask_outputs", "mask_decoder_config", "num_multimask_outputs", offsetof(struct vlm_sam_config, n_multimask), 65536 },
    { "iou_head_depth", "mask_decoder_config", "iou_head_depth", offsetof(struct vlm_sam_config, iou_depth), 65536 },
    { "iou_head_hidden_dim", "mask_decoder_config", "iou_head_hidden_dim", offsetof(struct vlm_sam_config, iou_hidden), 65536 },
};

const char * vlm_sam_config_key(const struct vlm_sam_config * cfg, const void * field) {
    static _Thread_local char buf[96];
    const size_t off = (size_t)((const char *)field - (const char *)cfg);
    for (size_t i = 0; i < sizeof sam_keys / sizeof *sam_keys; i++) {
        if (sam_keys[i].offset != off) continue;
        if (!cfg->hf) return sam_keys[i].flat;
        snprintf(buf, sizeof buf, "%s.%s", sam_keys[i].section, sam_keys[i].key);
        return buf;
    }
    if (field == &cfg->n_global) return cfg->hf ? "vision_config.global_attn_indexes" : "encoder_global_attn_indexes";
    if (field == &cfg->mlp_ratio) return cfg->hf ? "vision_config.mlp_ratio" : "mlp_ratio";
    return "?";
}

// A value of section[key] (section NULL: the root); NULL when absent or null.
static const cJSON * sam_value(const cJSON * root, const char * section, const char * key) {
    const cJSON * o = section ? cJSON_GetObjectItemCaseSensitive(root, section) : root;
    const cJSON * v = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    return v && !cJSON_IsNull(v) ? v : NULL;
}

static bool is_int_in(const cJSON * v, double lo, double hi) {
    return cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi && v->valuedouble == (double)(int32_t)v->valuedouble;
}

// n finite numbers (positive when positive) of a JSON array into out.
static bool float_array(const cJSON * a, int n, bool positive, float * out) {
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) return false;
    for (int i = 0; i < n; i++) {
        const cJSON * v = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || (positive && !(v->valuedouble > 0))) return false;
        out[i] = (float)v->valuedouble;
    }
    return true;
}

enum vlm_status vlm_sam_config_parse(const char * text, size_t n, const char * name, struct vlm_sam_config * cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->n_global = -1;
    cJSON * root = parse_json(text, n, name);
    if (!root) return VLM_STATUS_BAD_MODEL;
    enum vlm_status st = VLM_STATUS_OK;
    cfg->hf = cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "vision_config")) ||
              cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "mask_decoder_config"));
    for (size_t i = 0; i < sizeof sam_keys / sizeof *sam_keys; i++) {
        const char * section = cfg->hf ? sam_keys[i].section : NULL, * key = cfg->hf ? sam_keys[i].key : sam_keys[i].flat;
        const cJSON * v = sam_value(root, section, key);
        if (!v) continue;
        if (!is_int_in(v, 1, sam_keys[i].max)) {
            st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s%s%s must be an integer in 1..%d", name, section ? section : "",
                           section ? "." : "", key, sam_keys[i].max);
            goto done;
        }
        *(int32_t *)((char *)cfg + sam_keys[i].offset) = (int32_t)v->valuedouble;
    }
    const char * gsec = cfg->hf ? "vision_config" : NULL, * gkey = cfg->hf ? "global_attn_indexes" : "encoder_global_attn_indexes";
    const cJSON * g = sam_value(root, gsec, gkey);
    if (g) {
        int k = cJSON_IsArray(g) ? cJSON_GetArraySize(g) : -1;
        bool ok = k >= 0 && k <= VLM_SAM_CONFIG_MAX_GLOBAL;
        for (int i = 0; ok && i < k; i++) {
            const cJSON * v = cJSON_GetArrayItem(g, i);
            ok = is_int_in(v, 0, 65535);
            if (ok) cfg->global_idx[i] = (int32_t)v->valuedouble;
        }
        if (!ok) {
            st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s%s%s must be an array of at most %d block indexes", name,
                           gsec ? gsec : "", gsec ? "." : "", gkey, VLM_SAM_CONFIG_MAX_GLOBAL);
            goto done;
        }
        cfg->n_global = k;
    }
    const cJSON * ratio = sam_value(root, gsec, "mlp_ratio");
    if (ratio) {
        if (!cJSON_IsNumber(ratio) || !(ratio->valuedouble > 0 && ratio->valuedouble <= 1024)) {
            st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s%smlp_ratio must be a number in (0, 1024]", name, gsec ? gsec : "",
                           gsec ? "." : "");
            goto done;
        }
        cfg->mlp_ratio = ratio->valuedouble;
    }
    const cJSON * mean = sam_value(root, NULL, "pixel_mean"), * std = sam_value(root, NULL, "pixel_std");
    if (mean || std) {
        if (!float_array(mean, 3, false, cfg->pixel_mean) || !float_array(std, 3, true, cfg->pixel_std)) {
            st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: pixel_mean and pixel_std must both be 3 finite numbers (std > 0)", name);
            goto done;
        }
        cfg->has_pixel_norm = true;
    }
done:
    cJSON_Delete(root);
    return st;
}
