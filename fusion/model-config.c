// model-config.c — config.json next to a model: the CLIP and SAM parsers and MobileSAM's TinyViT
// check (see model-config.h; the file is read by core/config-file.c).
#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model-config.h"

static bool act_parse(const char * s, enum vlm_unary * out) {
    if (!strcmp(s, "quick_gelu")) *out = VLM_UNARY_QUICK_GELU;
    else if (!strcmp(s, "gelu")) *out = VLM_UNARY_GELU_ERF;
    else if (!strcmp(s, "gelu_new") || !strcmp(s, "gelu_pytorch_tanh") || !strcmp(s, "gelu_fast")) *out = VLM_UNARY_GELU_TANH;
    else if (!strcmp(s, "relu")) *out = VLM_UNARY_RELU;
    else if (!strcmp(s, "silu") || !strcmp(s, "swish")) *out = VLM_UNARY_SILU;
    else return false;
    return true;
}

// Parses text as a JSON value; NULL (with an error naming name) when it is not JSON.
static cJSON * parse_json(const char * text, size_t n, const char * name) {
    cJSON * root = cJSON_ParseWithLength(text, n);
    if (!root) vlm_error(VLM_STATUS_BAD_MODEL, "%s: not valid JSON", name);
    return root;
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

// The value at a dotted path ("vision_config.hidden_size") below o; NULL when absent or null.
static const cJSON * json_at(const cJSON * o, const char * path) {
    char part[64];
    while (o && path && *path) {
        const char * dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        if (len >= sizeof part || !cJSON_IsObject(o)) return NULL;
        memcpy(part, path, len);
        part[len] = 0;
        o = cJSON_GetObjectItemCaseSensitive(o, part);
        path = dot ? dot + 1 : NULL;
    }
    return o && !cJSON_IsNull(o) ? o : NULL;
}

// ref: clip/model.py build_model; transformers/models/clip/configuration_clip.py;
// open_clip/model.py CLIPVisionCfg / CLIPTextCfg
static const struct {
    size_t       offset;
    const char * key[3];   // per layout: flat, HF, open_clip (NULL: the layout has no such key)
} clip_keys[] = {
    { offsetof(struct vlm_clip_config, embed_dim), { "embed_dim", "projection_dim", "embed_dim" } },
    { offsetof(struct vlm_clip_config, image_size), { "image_resolution", "vision_config.image_size", "vision_cfg.image_size" } },
    { offsetof(struct vlm_clip_config, patch), { "vision_patch_size", "vision_config.patch_size", "vision_cfg.patch_size" } },
    { offsetof(struct vlm_clip_config, vision_width), { "vision_width", "vision_config.hidden_size", "vision_cfg.width" } },
    { offsetof(struct vlm_clip_config, vision_layers), { "vision_layers", "vision_config.num_hidden_layers", "vision_cfg.layers" } },
    { offsetof(struct vlm_clip_config, vision_heads), { "vision_heads", "vision_config.num_attention_heads", NULL } },
    { offsetof(struct vlm_clip_config, vision_head_width), { NULL, NULL, "vision_cfg.head_width" } },
    { offsetof(struct vlm_clip_config, context), { "context_length", "text_config.max_position_embeddings", "text_cfg.context_length" } },
    { offsetof(struct vlm_clip_config, vocab), { "vocab_size", "text_config.vocab_size", "text_cfg.vocab_size" } },
    { offsetof(struct vlm_clip_config, text_width), { "transformer_width", "text_config.hidden_size", "text_cfg.width" } },
    { offsetof(struct vlm_clip_config, text_layers), { "transformer_layers", "text_config.num_hidden_layers", "text_cfg.layers" } },
    { offsetof(struct vlm_clip_config, text_heads), { "transformer_heads", "text_config.num_attention_heads", "text_cfg.heads" } },
};

const char * vlm_clip_config_key(const struct vlm_clip_config * cfg, const void * field) {
    const size_t off = (size_t)((const char *)field - (const char *)cfg);
    for (size_t i = 0; i < sizeof clip_keys / sizeof *clip_keys; i++)
        if (clip_keys[i].offset == off && clip_keys[i].key[cfg->layout]) return clip_keys[i].key[cfg->layout];
    return "?";
}

// The activation (a string at path below o) into *act; false with an error on an unknown one.
static bool clip_act(const cJSON * o, const char * path, const char * name, bool * has, enum vlm_unary * act) {
    const cJSON * a = json_at(o, path);
    if (!a) return true;
    if (!cJSON_IsString(a) || !act_parse(a->valuestring, act)) {
        vlm_error(VLM_STATUS_UNSUPPORTED, "%s: unsupported %s '%.64s'", name, path, cJSON_IsString(a) ? a->valuestring : "?");
        return false;
    }
    *has = true;
    return true;
}

// The eps at path below o into *eps; false with an error when present but not in (0, 1).
static bool clip_eps(const cJSON * o, const char * path, const char * name, float * eps) {
    const cJSON * e = json_at(o, path);
    if (!e) return true;
    if (!cJSON_IsNumber(e) || !(e->valuedouble > 0 && e->valuedouble < 1)) {
        vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s must be a number in (0, 1)", name, path);
        return false;
    }
    *eps = (float)e->valuedouble;
    return true;
}

enum vlm_status vlm_clip_config_parse(const char * text, size_t n, const char * name, struct vlm_clip_config * cfg) {
    memset(cfg, 0, sizeof *cfg);
    cJSON * root = parse_json(text, n, name);
    if (!root) return VLM_STATUS_BAD_MODEL;
    enum vlm_status st = VLM_STATUS_BAD_MODEL;
    const cJSON * tc = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    const cJSON * vc = cJSON_GetObjectItemCaseSensitive(root, "vision_config");
    const cJSON * oc = cJSON_GetObjectItemCaseSensitive(root, "model_cfg");
    if (!oc && (cJSON_GetObjectItemCaseSensitive(root, "vision_cfg") || cJSON_GetObjectItemCaseSensitive(root, "text_cfg")))
        oc = root;
    cfg->layout = cJSON_IsObject(tc) || cJSON_IsObject(vc) ? VLM_CLIP_CONFIG_HF
                : cJSON_IsObject(oc)                       ? VLM_CLIP_CONFIG_OPEN_CLIP
                                                           : VLM_CLIP_CONFIG_FLAT;
    const cJSON * base = cfg->layout == VLM_CLIP_CONFIG_OPEN_CLIP ? oc : root;
    for (size_t i = 0; i < sizeof clip_keys / sizeof *clip_keys; i++) {
        const char * key = clip_keys[i].key[cfg->layout];
        const cJSON * v = key ? json_at(base, key) : NULL;
        if (!v) continue;
        if (!is_int_in(v, 1, 65536)) {
            vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s must be an integer in 1..65536", name, key);
            goto done;
        }
        *(int32_t *)((char *)cfg + clip_keys[i].offset) = (int32_t)v->valuedouble;
    }
    if (cfg->layout == VLM_CLIP_CONFIG_HF) {
        if (!clip_act(root, "text_config.hidden_act", name, &cfg->has_text_act, &cfg->text_act) ||
            !clip_act(root, "vision_config.hidden_act", name, &cfg->has_vision_act, &cfg->vision_act) ||
            !clip_eps(root, "text_config.layer_norm_eps", name, &cfg->text_eps) ||
            !clip_eps(root, "vision_config.layer_norm_eps", name, &cfg->vision_eps))
            goto done;
    } else if (cfg->layout == VLM_CLIP_CONFIG_OPEN_CLIP) {
        if (!cfg->vision_head_width) cfg->vision_head_width = 64;   // open_clip's default
        // ref: open_clip model.py _build_vision_tower: act_layer = QuickGELU if quick_gelu else nn.GELU
        cfg->vision_act = cfg->text_act = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(oc, "quick_gelu"))
                                              ? VLM_UNARY_QUICK_GELU
                                              : VLM_UNARY_GELU_ERF;
        cfg->has_vision_act = cfg->has_text_act = true;
    } else {
        const char * act = json_at(root, "activation") ? "activation" : "hidden_act";
        if (!clip_act(root, act, name, &cfg->has_vision_act, &cfg->vision_act) ||
            !clip_eps(root, "layer_norm_eps", name, &cfg->vision_eps))
            goto done;
        cfg->text_act = cfg->vision_act;
        cfg->has_text_act = cfg->has_vision_act;
        cfg->text_eps = cfg->vision_eps;
    }
    const char * mean_key = cfg->layout == VLM_CLIP_CONFIG_OPEN_CLIP ? "preprocess_cfg.mean" : "mean";
    const char * std_key = cfg->layout == VLM_CLIP_CONFIG_OPEN_CLIP ? "preprocess_cfg.std" : "std";
    const cJSON * mean = json_at(cfg->layout == VLM_CLIP_CONFIG_OPEN_CLIP ? root : base, mean_key);
    const cJSON * std = json_at(cfg->layout == VLM_CLIP_CONFIG_OPEN_CLIP ? root : base, std_key);
    if (cfg->layout != VLM_CLIP_CONFIG_HF && (mean || std)) {
        if (!float_array(mean, 3, false, cfg->pixel_mean) || !float_array(std, 3, true, cfg->pixel_std)) {
            vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s and %s must both be 3 finite numbers (std > 0)", name, mean_key, std_key);
            goto done;
        }
        cfg->has_pixel_norm = true;
    }
    st = VLM_STATUS_OK;
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
    { "encoder_mlp_dim", "vision_config", "mlp_dim", offsetof(struct vlm_sam_config, enc_mlp), 65536 },
    { "prompt_embed_dim", "prompt_encoder_config", "hidden_size", offsetof(struct vlm_sam_config, prompt_dim), 65536 },
    { "mask_in_chans", "prompt_encoder_config", "mask_input_channels", offsetof(struct vlm_sam_config, mask_in_chans), 65536 },
    { "decoder_depth", "mask_decoder_config", "num_hidden_layers", offsetof(struct vlm_sam_config, decoder_depth), 65536 },
    { "decoder_mlp_dim", "mask_decoder_config", "mlp_dim", offsetof(struct vlm_sam_config, decoder_mlp), 65536 },
    { "decoder_num_heads", "mask_decoder_config", "num_attention_heads", offsetof(struct vlm_sam_config, decoder_heads), 64 },
    { "num_multimask_outputs", "mask_decoder_config", "num_multimask_outputs", offsetof(struct vlm_sam_config, n_multimask), 65536 },
    { "iou_head_depth", "mask_decoder_config", "iou_head_depth", offsetof(struct vlm_sam_config, iou_depth), 65536 },
    { "iou_head_hidden_dim", "mask_decoder_config", "iou_head_hidden_dim", offsetof(struct vlm_sam_config, iou_hidden), 65536 },
    { "decoder_max_num_input_points", "mask_decoder_config", "decoder_max_num_input_points", offsetof(struct vlm_sam_config, max_points), 1024 },
    { NULL, "prompt_encoder_config", "image_size", offsetof(struct vlm_sam_config, pe_image_size), 65536 },
    { NULL, "prompt_encoder_config", "image_embedding_size", offsetof(struct vlm_sam_config, pe_grid), 65536 },
    { NULL, "mask_decoder_config", "hidden_size", offsetof(struct vlm_sam_config, decoder_width), 65536 },
    { NULL, "vision_config", "output_channels", offsetof(struct vlm_sam_config, out_channels), 65536 },
};

const char * vlm_sam_config_key(const struct vlm_sam_config * cfg, const void * field) {
    static _Thread_local char buf[96];
    const size_t off = (size_t)((const char *)field - (const char *)cfg);
    for (size_t i = 0; i < sizeof sam_keys / sizeof *sam_keys; i++) {
        if (sam_keys[i].offset != off) continue;
        if (!cfg->hf) return sam_keys[i].flat ? sam_keys[i].flat : "?";
        snprintf(buf, sizeof buf, "%s.%s", sam_keys[i].section, sam_keys[i].key);
        return buf;
    }
    if (field == &cfg->n_global) return cfg->hf ? "vision_config.global_attn_indexes" : "encoder_global_attn_indexes";
    if (field == &cfg->mlp_ratio) return cfg->hf ? "vision_config.mlp_ratio" : "mlp_ratio";
    if (field == &cfg->upscale_dims[0]) return "decoder_upscaling_layer_dims[0]";
    if (field == &cfg->upscale_dims[1]) return "decoder_upscaling_layer_dims[1]";
    return "?";
}

// A value of section[key] (section NULL: the root); NULL when absent or null.
static const cJSON * sam_value(const cJSON * root, const char * section, const char * key) {
    const cJSON * o = section ? cJSON_GetObjectItemCaseSensitive(root, section) : root;
    const cJSON * v = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    return v && !cJSON_IsNull(v) ? v : NULL;
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
        const cJSON * v = key ? sam_value(root, section, key) : NULL;   // some keys are HF's only
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
    const cJSON * up = cfg->hf ? NULL : sam_value(root, NULL, "decoder_upscaling_layer_dims");
    if (up) {
        bool ok = cJSON_GetArraySize(up) == 2 && cJSON_IsArray(up);
        for (int i = 0; ok && i < 2; i++) {
            const cJSON * v = cJSON_GetArrayItem(up, i);
            ok = is_int_in(v, 1, 65536);
            if (ok) cfg->upscale_dims[i] = (int32_t)v->valuedouble;
        }
        if (!ok) {
            st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: decoder_upscaling_layer_dims must be 2 integers in 1..65536", name);
            goto done;
        }
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
    const cJSON * eps = sam_value(root, gsec, "layer_norm_eps");
    if (eps) {
        if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0 && eps->valuedouble < 1)) {
            st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s%slayer_norm_eps must be a number in (0, 1)", name, gsec ? gsec : "",
                           gsec ? "." : "");
            goto done;
        }
        cfg->layer_norm_eps = eps->valuedouble;
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

// ref: ChaoningZhang/MobileSAM mobile_sam/modeling/tiny_vit_sam.py TinyViT.__init__ arguments
enum vlm_status vlm_tinyvit_config_check(const char * text, size_t n, const char * path, const struct vlm_tinyvit_dims * d) {
    cJSON * root = cJSON_ParseWithLength(text, n);
    enum vlm_status st = VLM_STATUS_OK;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: not a JSON object", path);
    }
    const struct { const char * key; const int32_t * actual; int32_t first; const char * tensor; } lists[] = {
        { "embed_dims", d->dim, 0, "image_encoder.layers.%d.blocks.0 (width)" },
        { "depths", d->depth, 0, "image_encoder.layers.%d.blocks.*" },
        { "num_heads", d->heads, 1, "image_encoder.layers.%d.blocks.0.attn.attention_biases" },
        { "window_sizes", d->window, 1, "image_encoder.layers.%d.blocks.0.attn.attention_biases" },
    };
    for (size_t i = 0; i < sizeof lists / sizeof *lists && st == VLM_STATUS_OK; i++) {
        const cJSON * a = cJSON_GetObjectItemCaseSensitive(root, lists[i].key);
        if (!a || cJSON_IsNull(a)) continue;
        if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != d->n_stages) {
            st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s must be a list of %d numbers (the stages of image_encoder.layers.*)", path,
                           lists[i].key, d->n_stages);
            break;
        }
        // stage 0 (MBConv) has no heads or window: upstream's values there are unused
        for (int32_t s = lists[i].first; s < d->n_stages; s++) {
            const cJSON * v = cJSON_GetArrayItem(a, s);
            if (!cJSON_IsNumber(v) || v->valuedouble != (double)lists[i].actual[s]) {
                char tensor[96];
                snprintf(tensor, sizeof tensor, lists[i].tensor, s);
                st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s[%d] contradicts the checkpoint: %s gives %d", path, lists[i].key, s,
                               tensor, lists[i].actual[s]);
                break;
            }
        }
    }
    // ref: MBConv hidden_chans = int(in_chans * expand_ratio); Mlp hidden = int(dim * mlp_ratio)
    const char * ratios[2] = { "mbconv_expand_ratio", "mlp_ratio" };
    for (int32_t k = 0; k < 2 && st == VLM_STATUS_OK; k++) {
        const cJSON * r = cJSON_GetObjectItemCaseSensitive(root, ratios[k]);
        if (!r || cJSON_IsNull(r)) continue;
        if (!cJSON_IsNumber(r) || !(r->valuedouble > 0 && r->valuedouble <= 1024)) {
            st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s must be a number in (0, 1024]", path, ratios[k]);
            break;
        }
        for (int32_t s = k; s < (k ? d->n_stages : 1) && st == VLM_STATUS_OK; s++)
            if ((int64_t)(d->dim[s] * r->valuedouble) != d->hidden[s])
                st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s contradicts the checkpoint: image_encoder.layers.%d.blocks.0.%s is "
                               "%d wide for a width of %d", path, ratios[k], s, k ? "mlp.fc1.weight" : "conv1.c.weight",
                               d->hidden[s], d->dim[s]);
    }
    cJSON_Delete(root);
    return st;
}
