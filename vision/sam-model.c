// sam-model.c — SAM model set-up: hyper-parameters inferred from tensor shapes, weight lookup
// by official name with a fallback to HF transformers SamModel names, persistent derived
// tensors (dense positional encoding, gathered relative positions), arena sizing.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "model-config.h"
#include "model.h"
#include "sam.h"

// ---- names -----------------------------------------------------------------------------

// ref: transformers/models/sam/convert_sam_to_hf.py KEYS_TO_MODIFY_MAPPING (applied in order)
static const char * const hf_map[][2] = {
    { "iou_prediction_head.layers.0", "iou_prediction_head.proj_in" },
    { "iou_prediction_head.layers.1", "iou_prediction_head.layers.0" },
    { "iou_prediction_head.layers.2", "iou_prediction_head.proj_out" },
    { "mask_decoder.output_upscaling.0", "mask_decoder.upscale_conv1" },
    { "mask_decoder.output_upscaling.1", "mask_decoder.upscale_layer_norm" },
    { "mask_decoder.output_upscaling.3", "mask_decoder.upscale_conv2" },
    { "mask_downscaling.0", "mask_embed.conv1" },
    { "mask_downscaling.1", "mask_embed.layer_norm1" },
    { "mask_downscaling.3", "mask_embed.conv2" },
    { "mask_downscaling.4", "mask_embed.layer_norm2" },
    { "mask_downscaling.6", "mask_embed.conv3" },
    { "point_embeddings", "point_embed" },
    { "pe_layer.positional_encoding_gaussian_matrix", "shared_embedding.positional_embedding" },
    { "image_encoder", "vision_encoder" },
    { "neck.0", "neck.conv1" },
    { "neck.1", "neck.layer_norm1" },
    { "neck.2", "neck.conv2" },
    { "neck.3", "neck.layer_norm2" },
    { "patch_embed.proj", "patch_embed.projection" },
    { ".norm", ".layer_norm" },
    { "blocks", "layers" },
};

static void str_replace_once(char * s, size_t cap, const char * from, const char * to) {
    char * p = strstr(s, from);
    if (!p) return;
    char tail[512];
    snprintf(tail, sizeof tail, "%s", p + strlen(from));
    *p = 0;
    size_t n = strlen(s);
    snprintf(s + n, cap - n, "%s%s", to, tail);
}

static void hf_name(const char * official, char * out, size_t cap) {
    snprintf(out, cap, "%s", official);
    for (size_t i = 0; i < sizeof hf_map / sizeof *hf_map; i++)
        if (strstr(out, hf_map[i][0])) str_replace_once(out, cap, hf_map[i][0], hf_map[i][1]);
    // ref: convert_sam_to_hf.py output_hypernetworks_mlps pattern
    char * p = strstr(out, "output_hypernetworks_mlps.");
    if (p) {
        if (strstr(p, ".layers.0.")) str_replace_once(p, cap - (size_t)(p - out), ".layers.0.", ".proj_in.");
        else if (strstr(p, ".layers.1.")) str_replace_once(p, cap - (size_t)(p - out), ".layers.1.", ".layers.0.");
        else if (strstr(p, ".layers.2.")) str_replace_once(p, cap - (size_t)(p - out), ".layers.2.", ".proj_out.");
    }
}

// HF transformers SamModel files are recognised once by their encoder name; lookups then use
// only HF names (some HF names, e.g. iou_prediction_head.layers.0, are other official names).
static bool is_hf_weights(const struct vlm_weights * w) {
    return !vlm_weights_has(w, "image_encoder.pos_embed") && vlm_weights_has(w, "vision_encoder.pos_embed");
}

static const char * resolve(const struct vlm_weights * w, const char * official, char * buf, size_t cap) {
    if (!is_hf_weights(w)) return official;
    hf_name(official, buf, cap);
    if (vlm_weights_has(w, buf)) return buf;
    // HF ties the prompt encoder's PE matrix to shared_image_embedding (saved once)
    if (strstr(official, "pe_layer.positional_encoding_gaussian_matrix") &&
        vlm_weights_has(w, "shared_image_embedding.positional_embedding"))
        return "shared_image_embedding.positional_embedding";
    return official;   // the error names the official key
}

bool vlm_sam_has_weight(const struct vlm_sam_model * sm, const char * official) {
    char buf[512];
    return vlm_weights_has(sm->model->weights, resolve(sm->model->weights, official, buf, sizeof buf));
}

struct vlm_tensor vlm_sam_weight(struct vlm_sam_model * sm, const char * official, int32_t n_dims, const int64_t * shape) {
    char buf[512];
    return vlm_weights_get(sm->ctx, sm->model->weights, resolve(sm->model->weights, official, buf, sizeof buf), n_dims,
                           shape);
}

static bool is_hf_file(const struct vlm_safetensors * st) {
    return !vlm_safetensors_find(st, "image_encoder.pos_embed") && vlm_safetensors_find(st, "vision_encoder.pos_embed");
}

// Shape of a file tensor by official or HF name (NULL when absent).
static const struct vlm_file_tensor * file_find(const struct vlm_safetensors * st, const char * official) {
    if (!is_hf_file(st)) return vlm_safetensors_find(st, official);
    char buf[512];
    hf_name(official, buf, sizeof buf);
    const struct vlm_file_tensor * t = vlm_safetensors_find(st, buf);
    if (!t && strstr(official, "pe_layer.positional_encoding_gaussian_matrix"))
        t = vlm_safetensors_find(st, "shared_image_embedding.positional_embedding");
    return t;
}

// Every tensor with these suffixes is used only by vlm_op_linear (official and HF SamModel names;
// MobileSAM's TinyViT blocks: attn.qkv, attn.proj, mlp.fc1, mlp.fc2).
const char * const vlm_sam_linear_weights[] = { "attn.qkv.weight", "attn.proj.weight", "mlp.lin1.weight", "mlp.lin2.weight",
                                                "mlp.fc1.weight", "mlp.fc2.weight", NULL };

static struct vlm_tensor getf(struct vlm_sam_model * sm, int32_t n_dims, const int64_t * shape, const char * fmt, ...)
    __attribute__((format(printf, 4, 5)));
static struct vlm_tensor getf(struct vlm_sam_model * sm, int32_t n_dims, const int64_t * shape, const char * fmt, ...) {
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return vlm_sam_weight(sm, name, n_dims, shape);
}

static bool hasf(const struct vlm_safetensors * st, const char * fmt, ...) __attribute__((format(printf, 2, 3)));
static bool hasf(const struct vlm_safetensors * st, const char * fmt, ...) {
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return file_find(st, name) != NULL;
}

// See sam.h; an HF file's tensors are counted under their HF names.
int64_t vlm_sam_count_indexed(const struct vlm_safetensors * st, const char * official_prefix) {
    char prefix[256];
    if (is_hf_file(st)) hf_name(official_prefix, prefix, sizeof prefix);
    else snprintf(prefix, sizeof prefix, "%s", official_prefix);
    return vlm_file_count_indexed(st, prefix);
}

// Blocks are counted up to the first one missing `first` (its first tensor): a tensor of a
// later block means that one is missing, not that the checkpoint is shallower.
static enum vlm_status check_count(const struct vlm_safetensors * st, const char * prefix, const char * first,
                                   int64_t count) {
    int64_t n = vlm_sam_count_indexed(st, prefix);
    if (n > count)
        return vlm_error(VLM_STATUS_BAD_MODEL, "SAM model: missing tensor %s%lld.%s (the checkpoint has %stensors of %s%lld)",
                         prefix, (long long)count, first, n - 1 == count ? "other " : "", prefix, (long long)n - 1);
    return VLM_STATUS_OK;
}

// ---- hyper-parameters --------------------------------------------------------------------

struct sam_dims {
    bool    tinyvit;   // MobileSAM: D the last stage's width, G from the image size (config.json), tv
    struct vlm_tinyvit_dims tv;
    bool    effsam;    // EfficientSAM: G from the image size (config.json), heads from it or D / 64
    int64_t u1, u2;    // output upscaling widths (SAM: C / 4, C / 8)
    int64_t D, G, patch, depth, hd, heads, window, mlp, C, dec_depth, dec_mlp, n_mask_tokens, iou_hidden, iou_depth;
    int64_t  mask_in;
    uint64_t global;   // bit i: block i attends globally (VLM_SAM_MAX_BLOCKS <= 64)
};

static enum vlm_status infer_dims(const struct vlm_safetensors * st, struct sam_dims * d) {
    memset(d, 0, sizeof *d);
    const struct vlm_file_tensor * pos = file_find(st, "image_encoder.pos_embed");
    const struct vlm_file_tensor * pw = file_find(st, "image_encoder.patch_embed.proj.weight");
    const struct vlm_file_tensor * neck = file_find(st, "image_encoder.neck.0.weight");
    const struct vlm_file_tensor * mt = file_find(st, "mask_decoder.mask_tokens.weight");
    enum vlm_status rc;
    if ((d->tinyvit = vlm_tinyvit_detect(st))) {
        // ref: mobile_sam/build_sam.py build_sam_vit_t: vit_patch_size 16; neck.0 [C, last stage width, 1, 1]
        if (!neck || neck->n_dims != 4 || !mt || mt->n_dims != 2)
            return vlm_error(VLM_STATUS_BAD_MODEL, "MobileSAM model: missing or malformed image_encoder.neck.0.weight / "
                                                   "mask_decoder.mask_tokens.weight");
        d->patch = 16;
        d->C = neck->shape[0];
        d->D = neck->shape[1];
        d->n_mask_tokens = mt->shape[0];
        if (d->C < 8 || d->C % 2 || d->n_mask_tokens < 1 || d->n_mask_tokens > VLM_SAM_MAX_MASK_TOKENS)
            return vlm_error(VLM_STATUS_BAD_MODEL, "MobileSAM model: unsupported prompt dim %lld or %lld mask tokens",
                             (long long)d->C, (long long)d->n_mask_tokens);
        goto decoder;
    }
    // SAM's ViT (pos_embed [1, G, G, D]) or EfficientSAM's (ref: efficient_sam_encoder.py
    // ImageEncoderViT.__init__: pos_embed [1, 1 + (224 / P)^2, D] of the pretraining grid, so G comes
    // from the image size: config.json's, else 1024; MLP fc1 / fc2 for lin1 / lin2; no rel_pos)
    d->effsam = vlm_effsam_detect(st);
    const char * who = d->effsam ? "EfficientSAM model" : "SAM model";
    if ((!d->effsam && (!pos || pos->n_dims != 4)) || !pw || pw->n_dims != 4 || !neck || neck->n_dims != 4 || !mt ||
        mt->n_dims != 2)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: missing or malformed %spatch_embed / neck.0 / mask_decoder.mask_tokens", who,
                         d->effsam ? "image_encoder." : "image_encoder.pos_embed / ");
    d->G = d->effsam ? 1 : pos->shape[1];
    d->D = d->effsam ? pw->shape[0] : pos->shape[3];
    d->patch = pw->shape[2];
    d->C = neck->shape[0];
    d->n_mask_tokens = mt->shape[0];
    // prompt dim C: C / 2 Fourier pairs in the positional encoding, C // 4 and C // 8 upscaling channels
    if ((!d->effsam && pos->shape[2] != d->G) || d->G <= 0 || d->G > 256 || d->D <= 0 || d->patch <= 0 || d->patch > 64 ||
        d->C < 8 || d->C % 2 || d->n_mask_tokens < 1 || d->n_mask_tokens > VLM_SAM_MAX_MASK_TOKENS)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: unsupported sizes (grid %lld, width %lld, patch %lld, prompt dim %lld, "
                         "%lld mask tokens)", who, (long long)d->G, (long long)d->D, (long long)d->patch, (long long)d->C,
                         (long long)d->n_mask_tokens);
    while (d->depth < VLM_SAM_MAX_BLOCKS && hasf(st, "image_encoder.blocks.%lld.norm1.weight", (long long)d->depth)) d->depth++;
    rc = check_count(st, "image_encoder.blocks.", "norm1.weight", d->depth);   // a missing block 0 named first
    if (rc != VLM_STATUS_OK) return rc;
    if (d->depth == 0) return vlm_error(VLM_STATUS_BAD_MODEL, "%s: no image_encoder.blocks.*", who);
    const char * l1_name = d->effsam ? "image_encoder.blocks.0.mlp.fc1.weight" : "image_encoder.blocks.0.mlp.lin1.weight";
    const struct vlm_file_tensor * l1 = file_find(st, l1_name);
    if (!l1 || l1->n_dims != 2) return vlm_error(VLM_STATUS_BAD_MODEL, "%s: missing %s", who, l1_name);
    d->mlp = l1->shape[0];
    if (d->effsam) goto decoder;   // heads: model_dims, from config.json
    for (int64_t i = 0; i < d->depth; i++) {
        char name[128];
        snprintf(name, sizeof name, "image_encoder.blocks.%lld.attn.rel_pos_h", (long long)i);
        const struct vlm_file_tensor * rp = file_find(st, name);
        if (!rp || rp->n_dims != 2 || rp->shape[1] <= 0)
            return vlm_error(VLM_STATUS_BAD_MODEL, "SAM model: missing or malformed %s (relative positions are required)", name);
        if (d->hd == 0) d->hd = rp->shape[1];
        if (rp->shape[1] != d->hd) return vlm_error(VLM_STATUS_BAD_MODEL, "SAM model: %s: head dim differs between blocks", name);
        if (rp->shape[0] == 2 * d->G - 1) d->global |= 1ULL << i;
        else {
            int64_t win = (rp->shape[0] + 1) / 2;
            if (rp->shape[0] % 2 == 0 || win <= 0 || (d->window && d->window != win))
                return vlm_error(VLM_STATUS_BAD_MODEL, "SAM model: %s: unexpected size %lld", name, (long long)rp->shape[0]);
            d->window = win;
        }
    }
    if (d->D % d->hd) return vlm_error(VLM_STATUS_BAD_MODEL, "SAM model: width %lld not a multiple of head dim %lld",
                                       (long long)d->D, (long long)d->hd);
    d->heads = d->D / d->hd;
decoder:
    while (d->dec_depth < VLM_SAM_MAX_DEC_LAYERS && hasf(st, "mask_decoder.transformer.layers.%lld.norm1.weight", (long long)d->dec_depth))
        d->dec_depth++;
    // ref: EfficientSAM two_way_transformer.py TwoWayAttentionBlock: MLPBlock(C, mlp_dim, C, 1): layers.0.0, fc
    const struct vlm_file_tensor * dl1 = file_find(st, d->effsam ? "mask_decoder.transformer.layers.0.mlp.layers.0.0.weight"
                                                                 : "mask_decoder.transformer.layers.0.mlp.lin1.weight");
    if (d->dec_depth == 0 || !dl1 || dl1->n_dims != 2)
        return vlm_error(VLM_STATUS_BAD_MODEL, "SAM model: missing mask_decoder.transformer.layers.*");
    d->dec_mlp = dl1->shape[0];
    if ((rc = check_count(st, "mask_decoder.transformer.layers.", "norm1.weight", d->dec_depth)) != VLM_STATUS_OK) return rc;
    int64_t n_hyper = vlm_sam_count_indexed(st, "mask_decoder.output_hypernetworks_mlps.");
    if (n_hyper != d->n_mask_tokens)
        return vlm_error(VLM_STATUS_BAD_MODEL, "SAM model: %lld mask_decoder.output_hypernetworks_mlps.* for the %lld tokens of "
                         "mask_decoder.mask_tokens.weight", (long long)n_hyper, (long long)d->n_mask_tokens);
    if (d->effsam) {
        // ref: efficient_sam_decoder.py MaskDecoder: iou_prediction_head = MLPBlock (layers.N.0 then fc, GELU),
        // final_output_upscaling_layers.{0,1}.0 ConvTranspose2d [C, u1, 2, 2], [u1, u2, 2, 2]
        while (d->iou_depth < VLM_SAM_MAX_MLP_LAYERS - 1 &&
               hasf(st, "mask_decoder.iou_prediction_head.layers.%lld.0.weight", (long long)d->iou_depth))
            d->iou_depth++;
        const struct vlm_file_tensor * ih = file_find(st, "mask_decoder.iou_prediction_head.layers.0.0.weight");
        if (d->iou_depth < 1 || !ih || ih->n_dims != 2 || !hasf(st, "mask_decoder.iou_prediction_head.fc.weight"))
            return vlm_error(VLM_STATUS_BAD_MODEL, "EfficientSAM model: missing mask_decoder.iou_prediction_head.layers.0.0.weight "
                                                   "or .fc.weight");
        d->iou_depth++;   // the hidden layers and fc
        d->iou_hidden = ih->shape[0];
        const struct vlm_file_tensor * u0 = file_find(st, "mask_decoder.final_output_upscaling_layers.0.0.weight");
        const struct vlm_file_tensor * u1 = file_find(st, "mask_decoder.final_output_upscaling_layers.1.0.weight");
        if (vlm_sam_count_indexed(st, "mask_decoder.final_output_upscaling_layers.") != 2 || !u0 || u0->n_dims != 4 || !u1 ||
            u1->n_dims != 4)
            return vlm_error(VLM_STATUS_BAD_MODEL, "EfficientSAM model: missing or malformed mask_decoder.final_output_upscaling_"
                                                   "layers.{0,1}.0.weight (two upscaling layers are supported)");
        d->u1 = u0->shape[1];
        d->u2 = u1->shape[1];
        return VLM_STATUS_OK;
    }
    d->u1 = d->C / 4;
    d->u2 = d->C / 8;
    while (d->iou_depth < VLM_SAM_MAX_MLP_LAYERS && hasf(st, "mask_decoder.iou_prediction_head.layers.%lld.weight", (long long)d->iou_depth))
        d->iou_depth++;
    const struct vlm_file_tensor * ih = file_find(st, "mask_decoder.iou_prediction_head.layers.0.weight");
    if (d->iou_depth < 2 || !ih || ih->n_dims != 2)
        return vlm_error(VLM_STATUS_BAD_MODEL, "SAM model: missing mask_decoder.iou_prediction_head");
    d->iou_hidden = ih->shape[0];
    const struct vlm_file_tensor * md = file_find(st, "prompt_encoder.mask_downscaling.3.weight");
    if (!md || md->n_dims != 4) return vlm_error(VLM_STATUS_BAD_MODEL, "SAM model: missing prompt_encoder.mask_downscaling.3.weight");
    d->mask_in = md->shape[0];
    return VLM_STATUS_OK;
}

// config.json next to the model (the source's config, parsed by vlm_sam_config_parse,
// model-config.c): the decoder heads and pixel normalization, which shapes cannot tell, are
// taken from it; every other value it gives must agree with the shapes d. cfg is zeroed
// (n_global -1) when there is none.
static enum vlm_status load_config(const struct vlm_model_source * src, const struct sam_dims * d, struct vlm_sam_config * cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->n_global = -1;
    if (!src->config) return VLM_STATUS_OK;
    const char * path = src->config_path;
    enum vlm_status st = vlm_sam_config_parse(src->config, src->config_len, path, cfg);
    if (st != VLM_STATUS_OK) return st;
#define KEY(field) vlm_sam_config_key(cfg, &cfg->field)
    if (cfg->patch_size && cfg->patch_size != d->patch)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s %d contradicts image_encoder.patch_embed.proj.weight (patch %lld)", path,
                         KEY(patch_size), cfg->patch_size, (long long)d->patch);
    if (cfg->image_size && cfg->image_size % d->patch)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s %d is not a multiple of the patch size %lld (%s)", path, KEY(image_size),
                         cfg->image_size, (long long)d->patch,
                         d->tinyvit ? "MobileSAM's encoder downsamples by 16" : "image_encoder.patch_embed.proj.weight");
    if (cfg->image_size && !d->tinyvit && !d->effsam && cfg->image_size != d->G * d->patch)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s %d contradicts image_encoder.pos_embed (a %lldx%lld grid of %lld-pixel patches: %lld)",
                         path, KEY(image_size), cfg->image_size, (long long)d->G, (long long)d->G, (long long)d->patch,
                         (long long)(d->G * d->patch));
    const struct { const int32_t * given; int64_t actual; const char * tensor; } checks[] = {
        { &cfg->embed_dim, d->D, "image_encoder.pos_embed" },
        { &cfg->depth, d->depth, "image_encoder.blocks.*" },
        { &cfg->heads, d->effsam ? cfg->heads : d->heads, "image_encoder.blocks.0.attn.rel_pos_h (head dim)" },   // EfficientSAM: config.json tells
        { &cfg->window, d->window ? d->window : cfg->window, "image_encoder.blocks.*.attn.rel_pos_h" },   // all global: no window
        { &cfg->prompt_dim, d->C, "image_encoder.neck.0.weight" },
        { &cfg->mask_in_chans, d->mask_in, "prompt_encoder.mask_downscaling.3.weight" },
        { &cfg->decoder_depth, d->dec_depth, "mask_decoder.transformer.layers.*" },
        { &cfg->decoder_mlp, d->dec_mlp, "mask_decoder.transformer.layers.0.mlp.lin1.weight" },
        { &cfg->n_multimask, d->n_mask_tokens - 1, "mask_decoder.mask_tokens.weight" },
        { &cfg->iou_depth, d->iou_depth, "mask_decoder.iou_prediction_head.layers.*" },
        { &cfg->iou_hidden, d->iou_hidden, "mask_decoder.iou_prediction_head.layers.0.weight" },
        { &cfg->enc_mlp, d->mlp, "image_encoder.blocks.0.mlp.lin1.weight" },
        { &cfg->decoder_width, d->C, "mask_decoder.mask_tokens.weight" },
        { &cfg->out_channels, d->C, "image_encoder.neck.0.weight" },
        { &cfg->upscale_dims[0], d->u1, "mask_decoder.final_output_upscaling_layers.0.0.weight" },
        { &cfg->upscale_dims[1], d->u2, "mask_decoder.final_output_upscaling_layers.1.0.weight" },
    };
    // the prompt encoder's input and grid are the image encoder's (ref: transformers SamPromptEncoderConfig)
    const int64_t size = cfg->image_size ? cfg->image_size : d->tinyvit || d->effsam ? VLM_SAM_DEFAULT_IMAGE_SIZE : d->G * d->patch;
    if (cfg->pe_image_size && cfg->pe_image_size != size) {
        char from[96];   // KEY's buffer is reused by the next call
        snprintf(from, sizeof from, "%s", cfg->image_size ? KEY(image_size) : "image_encoder.pos_embed");
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s %d contradicts the image encoder's input size %lld (%s)", path,
                         KEY(pe_image_size), cfg->pe_image_size, (long long)size, from);
    }
    if (cfg->pe_grid && cfg->pe_grid * d->patch != size)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s %d contradicts the image encoder's grid of %lld (image_encoder.pos_embed)",
                         path, KEY(pe_grid), cfg->pe_grid, (long long)(size / d->patch));
    for (size_t i = 0; i < sizeof checks / sizeof *checks; i++)
        if (*checks[i].given && *checks[i].given != checks[i].actual)
            return vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s %d contradicts the checkpoint: %s gives %lld", path,
                             vlm_sam_config_key(cfg, checks[i].given), *checks[i].given, checks[i].tensor,
                             (long long)checks[i].actual);
    // ref: image_encoder.py Block: mlp_dim = int(dim * mlp_ratio)
    if (cfg->mlp_ratio > 0 && !d->tinyvit && (int64_t)(d->D * cfg->mlp_ratio) != d->mlp)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s %g contradicts image_encoder.blocks.0.mlp.lin1.weight (%lld x %lld)", path,
                         KEY(mlp_ratio), cfg->mlp_ratio, (long long)d->mlp, (long long)d->D);
    // ref: image_encoder.py ImageEncoderViT: norm_layer = partial(nn.LayerNorm, eps=1e-6), as vlm runs it
    if (cfg->layer_norm_eps > 0 && fabs(cfg->layer_norm_eps - 1e-6) > 1e-12)
        return vlm_error(VLM_STATUS_UNSUPPORTED, "%s: %s %g: SAM's image encoder normalizes with eps 1e-6", path,
                         cfg->hf ? "vision_config.layer_norm_eps" : "layer_norm_eps", cfg->layer_norm_eps);
    if (cfg->n_global > 0 && d->tinyvit)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s: MobileSAM's TinyViT encoder has no global attention blocks "
                         "(image_encoder.layers.*)", path, KEY(n_global));
    if (cfg->n_global >= 0 && !d->tinyvit) {
        // EfficientSAM's blocks all attend globally (no rel_pos); SAM's by their rel_pos size
        const uint64_t global = d->effsam ? (d->depth >= 64 ? ~0ULL : (1ULL << d->depth) - 1) : d->global;
        uint64_t given = 0;
        for (int32_t i = 0; i < cfg->n_global; i++) {
            if (cfg->global_idx[i] >= d->depth)
                return vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s names block %d of a %lld-block encoder (image_encoder.blocks.*)",
                                 path, KEY(n_global), cfg->global_idx[i], (long long)d->depth);
            given |= 1ULL << cfg->global_idx[i];
        }
        for (int64_t i = 0; i < d->depth; i++)
            if (((given ^ global) >> i) & 1 && d->effsam)
                return vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s makes block %lld windowed: EfficientSAM's image_encoder.blocks.* "
                                 "all attend globally", path, KEY(n_global), (long long)i);
            else if (((given ^ global) >> i) & 1)
                return vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s makes block %lld %s, image_encoder.blocks.%lld.attn.rel_pos_h %s",
                                 path, KEY(n_global), (long long)i, (given >> i) & 1 ? "global" : "windowed", (long long)i,
                                 (global >> i) & 1 ? "spans the whole grid" : "spans a window");
    }
#undef KEY
    return VLM_STATUS_OK;
}

// Shapes, then config.json; MobileSAM's encoder sizes at the image size the config gives
// (upstream's 1024 when it gives none).
static enum vlm_status model_dims(const struct vlm_model_source * src, struct sam_dims * d, struct vlm_sam_config * cfg) {
    enum vlm_status rc = infer_dims(src->file, d);
    if (rc == VLM_STATUS_OK) rc = load_config(src, d, cfg);
    if (rc != VLM_STATUS_OK || (!d->tinyvit && !d->effsam)) return rc;
    d->G = (cfg->image_size ? cfg->image_size : VLM_SAM_DEFAULT_IMAGE_SIZE) / d->patch;
    if (d->tinyvit) return vlm_tinyvit_dims(src, d->G * d->patch, &d->tv);
    // ref: build_efficient_sam.py: ViT-T 192 wide with 3 heads, ViT-S 384 with 6 (head dim 64); the
    // heads are not in the shapes
    if (cfg->heads && d->D % cfg->heads)
        return vlm_error(VLM_STATUS_BAD_MODEL, "EfficientSAM model: config.json: encoder_num_heads %d does not divide the "
                         "encoder width %lld (image_encoder.patch_embed.proj.weight)", cfg->heads, (long long)d->D);
    d->heads = cfg->heads ? cfg->heads : d->D % 64 == 0 ? d->D / 64 : 0;
    if (d->heads <= 0)
        return vlm_error(VLM_STATUS_BAD_MODEL, "EfficientSAM model: cannot tell the heads of a %lld-wide encoder (give "
                         "encoder_num_heads in config.json)", (long long)d->D);
    d->hd = d->D / d->heads;
    return VLM_STATUS_OK;
}

// ---- arena -------------------------------------------------------------------------------

#define MiB ((size_t)1 << 20)

enum vlm_status vlm_sam_arena_bytes(const struct vlm_model_source * src, size_t * out) {
    struct sam_dims d;
    struct vlm_sam_config cfg;
    *out = 64 * MiB;
    if (model_dims(src, &d, &cfg) != VLM_STATUS_OK) return VLM_STATUS_OK;   // init reports the error
    size_t S = (size_t)(d.G * d.patch), T = (size_t)(d.G * d.G), D = (size_t)d.D, H = (size_t)d.heads;
    size_t Gp = d.window ? (size_t)((d.G + d.window - 1) / d.window * d.window) : (size_t)d.G;
    size_t Tp = Gp * Gp, side = (size_t)(d.G > d.window ? d.G : d.window);
    // encoder, floats: persistent input, patch conv, tokens, padded window grid
    size_t enc = 3 * S * S + 3 * T * D + Tp * D;
    // one block (window or global, whichever is larger): see sam-encoder.c block()
    size_t tt = Tp > T ? Tp : T;
    enc += tt * D * 12 + 4 * H * tt * side + T * D * 6 + 2 * T * (size_t)d.mlp;
    if (d.tinyvit) enc = vlm_tinyvit_arena_floats(&d.tv, (int64_t)S) + T * D * 4;   // + the neck
    // decoder with VLM_SAM_DEC_MAX_BATCH prompts: keys, per-layer temporaries, upscaling
    size_t B = VLM_SAM_DEC_MAX_BATCH, C = (size_t)d.C, NT = 64;
    size_t dec = B * T * C * 14 + B * NT * (size_t)d.dec_mlp * 2 + B * T * (C / 4) * 4 * 3 + B * T * (C / 8) * 16 * 3 +
                 B * (size_t)d.n_mask_tokens * 16 * T + B * 16 * T * 3;
    size_t bytes = (enc > dec ? enc : dec) * 4;
    // post-processing of one mask: 1024x1024 plus an original-size plane up to 16 Mpixel
    bytes += S * S * 4 + 64 * MiB;
    bytes += 256 * 1024;   // per-tensor alignment (256 B x ~1000 tensors)
    *out = bytes;
    return VLM_STATUS_OK;
}

// ---- init --------------------------------------------------------------------------------

static void sam_attn_get(struct vlm_sam_model * sm, struct vlm_sam_attn * a, const char * prefix, int64_t C) {
    const struct vlm_file_tensor * q = NULL;
    char name[256];
    snprintf(name, sizeof name, "%s.q_proj.weight", prefix);
    q = file_find(sm->model->src.file, name);
    int64_t ci = q && q->n_dims == 2 ? q->shape[0] : C;
    a->internal = (int32_t)ci;
    // ref: transformer.py Attention.__init__: "num_heads must divide embedding_dim"
    if (ci % sm->dec_heads)
        vlm_ctx_fail(sm->ctx, VLM_STATUS_BAD_MODEL, "%d decoder heads do not divide the width %lld of %s (decoder_num_heads "
                     "in config.json; upstream's default is 8)", sm->dec_heads, (long long)ci, name);
    int64_t in_shape[2] = { ci, C }, out_shape[2] = { C, ci }, b_in[1] = { ci }, b_out[1] = { C };
    a->q_w = getf(sm, 2, in_shape, "%s.q_proj.weight", prefix);
    a->q_b = getf(sm, 1, b_in, "%s.q_proj.bias", prefix);
    a->k_w = getf(sm, 2, in_shape, "%s.k_proj.weight", prefix);
    a->k_b = getf(sm, 1, b_in, "%s.k_proj.bias", prefix);
    a->v_w = getf(sm, 2, in_shape, "%s.v_proj.weight", prefix);
    a->v_b = getf(sm, 1, b_in, "%s.v_proj.bias", prefix);
    a->o_w = getf(sm, 2, out_shape, "%s.out_proj.weight", prefix);
    a->o_b = getf(sm, 1, b_out, "%s.out_proj.bias", prefix);
}

// ref: mask_decoder.py MLP (layers.N, ReLU); EfficientSAM mlp.py MLPBlock (layers.N.0 then fc, GELU)
static void sam_mlp_get(struct vlm_sam_model * sm, struct vlm_sam_mlp * m, const char * prefix, int32_t n_layers,
                        int64_t in, int64_t hidden, int64_t out) {
    m->n_layers = n_layers;
    m->act = sm->effsam ? VLM_UNARY_GELU_ERF : VLM_UNARY_RELU;
    for (int32_t i = 0; i < n_layers; i++) {
        int64_t o = i == n_layers - 1 ? out : hidden, k = i == 0 ? in : hidden;
        int64_t ws[2] = { o, k }, bs[1] = { o };
        if (sm->effsam && i == n_layers - 1) {
            m->w[i] = getf(sm, 2, ws, "%s.fc.weight", prefix);
            m->b[i] = getf(sm, 1, bs, "%s.fc.bias", prefix);
        } else {
            m->w[i] = getf(sm, 2, ws, sm->effsam ? "%s.layers.%d.0.weight" : "%s.layers.%d.weight", prefix, i);
            m->b[i] = getf(sm, 1, bs, sm->effsam ? "%s.layers.%d.0.bias" : "%s.layers.%d.bias", prefix, i);
        }
    }
}

// Downloads a small weight to a new host array.
static float * host_copy(struct vlm_sam_model * sm, const char * name, int64_t n0, int64_t n1) {
    int64_t shape[2] = { n0, n1 };
    struct vlm_tensor t = vlm_sam_weight(sm, name, 2, shape);
    if (!vlm_ctx_ok(sm->ctx)) return NULL;
    float * h = malloc((size_t)(n0 * n1) * sizeof(float));
    if (!h) {
        vlm_ctx_fail(sm->ctx, VLM_STATUS_OUT_OF_MEMORY, "out of memory");
        return NULL;
    }
    vlm_tensor_download(sm->ctx, t, h);
    return h;
}

enum vlm_status vlm_sam_model_init(struct vlm_model * m) {
    struct sam_dims d;
    struct vlm_sam_config cfg;
    enum vlm_status st = model_dims(&m->src, &d, &cfg);
    if (st != VLM_STATUS_OK) return st;
    struct vlm_sam_model * sm = calloc(1, sizeof *sm);
    if (!sm) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    m->arch = sm;
    sm->model = m;
    sm->ctx = m->ctx;
    struct vlm_ctx * x = m->ctx;

    sm->grid = (int32_t)d.G;
    sm->patch = (int32_t)d.patch;
    sm->img_size = (int32_t)(d.G * d.patch);
    sm->embed_dim = (int32_t)d.D;
    sm->depth = (int32_t)d.depth;
    sm->head_dim = (int32_t)d.hd;
    sm->heads = (int32_t)d.heads;
    sm->window = (int32_t)d.window;
    sm->enc_mlp = (int32_t)d.mlp;
    sm->prompt_dim = (int32_t)d.C;
    sm->mask_in_chans = (int32_t)d.mask_in;
    sm->dec_depth = (int32_t)d.dec_depth;
    sm->dec_mlp = (int32_t)d.dec_mlp;
    sm->dec_heads = cfg.decoder_heads ? cfg.decoder_heads : 8;   // upstream's TwoWayTransformer num_heads
    // ref: efficient_sam.py EfficientSam.__init__ pixel_mean / pixel_std (ImageNet's, on the 0..1 scale)
    static const float effsam_mean[3] = { 0.485f, 0.456f, 0.406f }, effsam_std[3] = { 0.229f, 0.224f, 0.225f };
    memcpy(sm->pixel_mean, cfg.has_pixel_norm ? cfg.pixel_mean : d.effsam ? effsam_mean : vlm_sam_pixel_mean, sizeof sm->pixel_mean);
    memcpy(sm->pixel_std, cfg.has_pixel_norm ? cfg.pixel_std : d.effsam ? effsam_std : vlm_sam_pixel_std, sizeof sm->pixel_std);
    sm->dec_act = d.effsam ? VLM_UNARY_GELU_ERF : VLM_UNARY_RELU;   // efficient_sam.py build_efficient_sam: activation "gelu"
    sm->max_points = d.effsam ? (cfg.max_points ? cfg.max_points : 6) : 0;   // build_efficient_sam: decoder_max_num_input_points
    sm->n_mask_tokens = (int32_t)d.n_mask_tokens;
    sm->iou_hidden = (int32_t)d.iou_hidden;
    sm->iou_depth = (int32_t)d.iou_depth;
    sm->upscale_c1 = (int32_t)d.u1;
    sm->upscale_c2 = (int32_t)d.u2;
    sm->mask_input_size = 4 * sm->grid;
    const int64_t D = d.D, C = d.C, G = d.G, P = d.patch, hd = d.hd;

    // ref: segment_anything/modeling/image_encoder.py ImageEncoderViT.__init__ (MobileSAM: sam-tinyvit.c,
    // EfficientSAM: sam-effsam.c)
    if (d.tinyvit) {
        vlm_tinyvit_init(sm, &d.tv);
    } else {
        sm->patch_w = vlm_sam_weight(sm, "image_encoder.patch_embed.proj.weight", 4, (int64_t[]){ D, 3, P, P });
        sm->patch_b = vlm_sam_weight(sm, "image_encoder.patch_embed.proj.bias", 1, (int64_t[]){ D });
        if (d.effsam) {
            sm->depth = 0;   // its blocks are sm->effsam's
            if (vlm_ctx_ok(x)) vlm_effsam_init(sm, (int32_t)d.depth, (int32_t)d.heads, (int32_t)d.mlp);
        } else {
            sm->pos_embed = vlm_sam_weight(sm, "image_encoder.pos_embed", 4, (int64_t[]){ 1, G, G, D });
        }
    }
    for (int32_t i = 0; i < sm->depth; i++) {
        struct vlm_sam_block * b = &sm->blocks[i];
        const char * p = "image_encoder.blocks";
        b->norm1_w = getf(sm, 1, (int64_t[]){ D }, "%s.%d.norm1.weight", p, i);
        b->norm1_b = getf(sm, 1, (int64_t[]){ D }, "%s.%d.norm1.bias", p, i);
        b->qkv_w = getf(sm, 2, (int64_t[]){ 3 * D, D }, "%s.%d.attn.qkv.weight", p, i);
        b->qkv_b = getf(sm, 1, (int64_t[]){ 3 * D }, "%s.%d.attn.qkv.bias", p, i);
        b->proj_w = getf(sm, 2, (int64_t[]){ D, D }, "%s.%d.attn.proj.weight", p, i);
        b->proj_b = getf(sm, 1, (int64_t[]){ D }, "%s.%d.attn.proj.bias", p, i);
        b->norm2_w = getf(sm, 1, (int64_t[]){ D }, "%s.%d.norm2.weight", p, i);
        b->norm2_b = getf(sm, 1, (int64_t[]){ D }, "%s.%d.norm2.bias", p, i);
        b->lin1_w = getf(sm, 2, (int64_t[]){ d.mlp, D }, "%s.%d.mlp.lin1.weight", p, i);
        b->lin1_b = getf(sm, 1, (int64_t[]){ d.mlp }, "%s.%d.mlp.lin1.bias", p, i);
        b->lin2_w = getf(sm, 2, (int64_t[]){ D, d.mlp }, "%s.%d.mlp.lin2.weight", p, i);
        b->lin2_b = getf(sm, 1, (int64_t[]){ D }, "%s.%d.mlp.lin2.bias", p, i);
        b->rel_pos_h = getf(sm, 2, (int64_t[]){ -1, hd }, "%s.%d.attn.rel_pos_h", p, i);
        b->rel_pos_w = getf(sm, 2, (int64_t[]){ -1, hd }, "%s.%d.attn.rel_pos_w", p, i);
        if (!vlm_ctx_ok(x)) break;
        b->global = b->rel_pos_h.shape[0] == 2 * G - 1;
        b->size = b->global ? (int32_t)G : sm->window;
    }
    sm->neck0_w = vlm_sam_weight(sm, "image_encoder.neck.0.weight", 4, (int64_t[]){ C, D, 1, 1 });
    sm->neck1_w = vlm_sam_weight(sm, "image_encoder.neck.1.weight", 1, (int64_t[]){ C });
    sm->neck1_b = vlm_sam_weight(sm, "image_encoder.neck.1.bias", 1, (int64_t[]){ C });
    sm->neck2_w = vlm_sam_weight(sm, "image_encoder.neck.2.weight", 4, (int64_t[]){ C, C, 3, 3 });
    sm->neck3_w = vlm_sam_weight(sm, "image_encoder.neck.3.weight", 1, (int64_t[]){ C });
    sm->neck3_b = vlm_sam_weight(sm, "image_encoder.neck.3.bias", 1, (int64_t[]){ C });

    // ref: segment_anything/modeling/prompt_encoder.py PromptEncoder.__init__
    if (vlm_ctx_ok(x)) sm->pe_gauss = host_copy(sm, "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix", 2, C / 2);
    if (vlm_ctx_ok(x) && !(sm->point_embed = calloc((size_t)(4 * C), sizeof(float))))
        vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    // ref: efficient_sam_decoder.py PromptEncoder.__init__: label 0 adds nothing (row 0 stays zero),
    // 1 point_embeddings, 2 / 3 the box corners
    static const char * const effsam_points[4] = { NULL, "prompt_encoder.point_embeddings.weight",
                                                   "prompt_encoder.bbox_top_left_embeddings.weight",
                                                   "prompt_encoder.bbox_bottom_right_embeddings.weight" };
    for (int32_t j = 0; j < 4 && vlm_ctx_ok(x); j++) {
        char name[128];
        snprintf(name, sizeof name, "prompt_encoder.point_embeddings.%d.weight", j);
        if (d.effsam && !effsam_points[j]) continue;
        float * e = host_copy(sm, d.effsam ? effsam_points[j] : name, 1, C);
        if (e) memcpy(sm->point_embed + j * C, e, (size_t)C * sizeof(float));
        free(e);
    }
    if (vlm_ctx_ok(x))
        sm->not_a_point = host_copy(sm, d.effsam ? "prompt_encoder.invalid_points.weight" : "prompt_encoder.not_a_point_embed.weight", 1, C);
    if (vlm_ctx_ok(x) && d.effsam && !(sm->no_mask = calloc((size_t)C, sizeof(float))))   // no dense prompt: zeros
        vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    if (vlm_ctx_ok(x) && !d.effsam) sm->no_mask = host_copy(sm, "prompt_encoder.no_mask_embed.weight", 1, C);
    const int64_t c4 = d.mask_in / 4, c16 = d.mask_in;
    if (!d.effsam) {
        sm->md_w[0] = vlm_sam_weight(sm, "prompt_encoder.mask_downscaling.0.weight", 4, (int64_t[]){ c4, 1, 2, 2 });
        sm->md_b[0] = vlm_sam_weight(sm, "prompt_encoder.mask_downscaling.0.bias", 1, (int64_t[]){ c4 });
        sm->md_ln_w[0] = vlm_sam_weight(sm, "prompt_encoder.mask_downscaling.1.weight", 1, (int64_t[]){ c4 });
        sm->md_ln_b[0] = vlm_sam_weight(sm, "prompt_encoder.mask_downscaling.1.bias", 1, (int64_t[]){ c4 });
        sm->md_w[1] = vlm_sam_weight(sm, "prompt_encoder.mask_downscaling.3.weight", 4, (int64_t[]){ c16, c4, 2, 2 });
        sm->md_b[1] = vlm_sam_weight(sm, "prompt_encoder.mask_downscaling.3.bias", 1, (int64_t[]){ c16 });
        sm->md_ln_w[1] = vlm_sam_weight(sm, "prompt_encoder.mask_downscaling.4.weight", 1, (int64_t[]){ c16 });
        sm->md_ln_b[1] = vlm_sam_weight(sm, "prompt_encoder.mask_downscaling.4.bias", 1, (int64_t[]){ c16 });
        sm->md_w[2] = vlm_sam_weight(sm, "prompt_encoder.mask_downscaling.6.weight", 4, (int64_t[]){ C, c16, 1, 1 });
        sm->md_b[2] = vlm_sam_weight(sm, "prompt_encoder.mask_downscaling.6.bias", 1, (int64_t[]){ C });
    }

    // ref: segment_anything/modeling/mask_decoder.py MaskDecoder.__init__, transformer.py TwoWayTransformer
    for (int32_t l = 0; l < sm->dec_depth && vlm_ctx_ok(x); l++) {
        struct vlm_sam_dec_layer * L = &sm->layers[l];
        char p[160];
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.self_attn", l);
        sam_attn_get(sm, &L->self_attn, p, C);
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.cross_attn_token_to_image", l);
        sam_attn_get(sm, &L->t2i, p, C);
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.cross_attn_image_to_token", l);
        sam_attn_get(sm, &L->i2t, p, C);
        for (int32_t k = 0; k < 4; k++) {
            L->norm_w[k] = getf(sm, 1, (int64_t[]){ C }, "mask_decoder.transformer.layers.%d.norm%d.weight", l, k + 1);
            L->norm_b[k] = getf(sm, 1, (int64_t[]){ C }, "mask_decoder.transformer.layers.%d.norm%d.bias", l, k + 1);
        }
        // ref: transformer.py MLPBlock lin1 / lin2; EfficientSAM mlp.py MLPBlock(C, mlp, C, 1): layers.0.0 / fc
        const char * n1 = d.effsam ? "mlp.layers.0.0" : "mlp.lin1", * n2 = d.effsam ? "mlp.fc" : "mlp.lin2";
        L->lin1_w = getf(sm, 2, (int64_t[]){ d.dec_mlp, C }, "mask_decoder.transformer.layers.%d.%s.weight", l, n1);
        L->lin1_b = getf(sm, 1, (int64_t[]){ d.dec_mlp }, "mask_decoder.transformer.layers.%d.%s.bias", l, n1);
        L->lin2_w = getf(sm, 2, (int64_t[]){ C, d.dec_mlp }, "mask_decoder.transformer.layers.%d.%s.weight", l, n2);
        L->lin2_b = getf(sm, 1, (int64_t[]){ C }, "mask_decoder.transformer.layers.%d.%s.bias", l, n2);
    }
    sam_attn_get(sm, &sm->final_attn, "mask_decoder.transformer.final_attn_token_to_image", C);
    sm->norm_final_w = vlm_sam_weight(sm, "mask_decoder.transformer.norm_final_attn.weight", 1, (int64_t[]){ C });
    sm->norm_final_b = vlm_sam_weight(sm, "mask_decoder.transformer.norm_final_attn.bias", 1, (int64_t[]){ C });
    // ref: mask_decoder.py output_upscaling (ConvT, LayerNorm2d, GELU, ConvT, GELU); EfficientSAM
    // efficient_sam_decoder.py final_output_upscaling_layers.{0: ConvT, GroupNorm(1), GELU; 1: ConvT, GELU}
    const int64_t u1 = d.u1, u2 = d.u2;
    static const char * const up_names[2][3] = { { "output_upscaling.0", "output_upscaling.1", "output_upscaling.3" },
                                                  { "final_output_upscaling_layers.0.0", "final_output_upscaling_layers.0.1",
                                                    "final_output_upscaling_layers.1.0" } };
    const char * const * un = up_names[d.effsam];
    sm->up0_w = getf(sm, 4, (int64_t[]){ C, u1, 2, 2 }, "mask_decoder.%s.weight", un[0]);
    sm->up0_b = getf(sm, 1, (int64_t[]){ u1 }, "mask_decoder.%s.bias", un[0]);
    sm->up1_w = getf(sm, 1, (int64_t[]){ u1 }, "mask_decoder.%s.weight", un[1]);
    sm->up1_b = getf(sm, 1, (int64_t[]){ u1 }, "mask_decoder.%s.bias", un[1]);
    sm->up3_w = getf(sm, 4, (int64_t[]){ u1, u2, 2, 2 }, "mask_decoder.%s.weight", un[2]);
    sm->up3_b = getf(sm, 1, (int64_t[]){ u2 }, "mask_decoder.%s.bias", un[2]);
    for (int32_t t = 0; t < sm->n_mask_tokens && vlm_ctx_ok(x); t++) {
        char p[128];
        snprintf(p, sizeof p, "mask_decoder.output_hypernetworks_mlps.%d", t);
        sam_mlp_get(sm, &sm->hyper[t], p, 3, C, C, u2);
    }
    sam_mlp_get(sm, &sm->iou_head, "mask_decoder.iou_prediction_head", sm->iou_depth, C, sm->iou_hidden, sm->n_mask_tokens);
    if (vlm_ctx_ok(x) && !(sm->out_tokens = malloc((size_t)((1 + sm->n_mask_tokens) * C) * sizeof(float))))
        vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    if (vlm_ctx_ok(x)) {
        float * it = host_copy(sm, "mask_decoder.iou_token.weight", 1, C);
        float * mt = it ? host_copy(sm, "mask_decoder.mask_tokens.weight", sm->n_mask_tokens, C) : NULL;
        if (it && mt) {
            memcpy(sm->out_tokens, it, (size_t)C * sizeof(float));
            memcpy(sm->out_tokens + C, mt, (size_t)(sm->n_mask_tokens * C) * sizeof(float));
        }
        free(it);
        free(mt);
    }
    if (!vlm_ctx_ok(x)) goto fail;

    // persistent derived tensors: dense PE [1, G*G, C], then get_rel_pos per block
    {
        size_t pe_bytes = (size_t)(G * G * C) * sizeof(float), total = 0;
        if (!vlm_align_size(pe_bytes, 256, &total) ||
            !vlm_add_size(total, vlm_sam_encoder_pbuf_bytes(sm), &total)) {
            vlm_ctx_fail(x, VLM_STATUS_BAD_MODEL, "SAM model: sizes overflow");
            goto fail;
        }
        sm->pbuf = vlm_buffer_new(x, total);
        if (!sm->pbuf || !vlm_ctx_ok(x)) goto fail;
        sm->dense_pe = vlm_tensor_in(sm->pbuf, 0, VLM_DTYPE_F32, 3, (int64_t[]){ 1, G * G, C });
        float * pe = malloc(pe_bytes);
        if (!pe) {
            vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "out of memory");
            goto fail;
        }
        vlm_sam_dense_pe_host(sm, pe);
        vlm_tensor_upload(x, sm->dense_pe, pe);
        free(pe);
        size_t off = 0;
        vlm_align_size(pe_bytes, 256, &off);
        if (vlm_sam_encoder_prepare(sm, &off) != VLM_STATUS_OK) goto fail;
    }
    if (vlm_ctx_sync(x) != VLM_STATUS_OK) goto fail;
    return VLM_STATUS_OK;
fail:
    st = x->status != VLM_STATUS_OK ? x->status : VLM_STATUS_BAD_MODEL;
    vlm_error(st, "%s: %s", m->src.path, x->error[0] ? x->error : "SAM model init failed");
    vlm_sam_model_free(sm);
    m->arch = NULL;
    return st;
}

void vlm_sam_model_free(struct vlm_sam_model * sm) {
    if (!sm) return;
    if (sm->pbuf && sm->ctx) vlm_buffer_free(sm->ctx, sm->pbuf);
    vlm_tinyvit_free(sm);
    vlm_effsam_free(sm);
    free(sm->pe_gauss);
    free(sm->point_embed);
    free(sm->not_a_point);
    free(sm->no_mask);
    free(sm->out_tokens);
    free(sm);
}
