// model-config.c — config.json next to a model: reading it, and the CLIP and SAM parsers
// (see model-config.h).
#include <cjson/cJSON.h>
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
        FILE * f = fopen(path_out, "rb");
        if (!f) continue;
        long len = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
        char * buf = len >= 0 && (size_t)len <= VLM_MODEL_CONFIG_MAX_BYTES && fseek(f, 0, SEEK_SET) == 0
                         ? malloc((size_t)len + 1)
                         : NULL;
        size_t n = buf ? fread(buf, 1, (size_t)len, f) : 0;
        bool ok = buf && n == (size_t)len;
        fclose(f);
        if (!ok) {
            free(buf);
            continue;
        }
        buf[n] = 0;
        if (n_out) *n_out = n;
        return buf;
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

enum vlm_status vlm_sam_config_parse(const char * text, size_t n, const char * name, struct vlm_sam_config * cfg) {
    memset(cfg, 0, sizeof *cfg);
    cJSON * root = parse_json(text, n, name);
    if (!root) return VLM_STATUS_BAD_MODEL;
    const cJSON * h = cJSON_GetObjectItemCaseSensitive(root, "decoder_num_heads");
    const cJSON * mdc = cJSON_GetObjectItemCaseSensitive(root, "mask_decoder_config");
    if (!cJSON_IsNumber(h) && cJSON_IsObject(mdc)) h = cJSON_GetObjectItemCaseSensitive(mdc, "num_attention_heads");
    if (cJSON_IsNumber(h) && h->valuedouble >= 1 && h->valuedouble <= 64) cfg->decoder_heads = (int32_t)h->valuedouble;
    cJSON_Delete(root);
    return VLM_STATUS_OK;
}
