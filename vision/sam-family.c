// sam-family.c — the Segment Anything family for the generic loader and `vlm info`: SAM (upstream
// and HF transformers names, SlimSAM), MobileSAM and EfficientSAM, detected from tensor names.
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "model.h"
#include "sam.h"

// A tensor that identifies a layout (upstream names first, then HF transformers'), or an image
// encoder beside a mask decoder.
static bool sam_detect(const struct vlm_model_source * src) {
    static const char * const keys[] = { "image_encoder.pos_embed", "vision_encoder.pos_embed",
                                         "image_encoder.patch_embed.seq.0.c.weight",     // MobileSAM
                                         "prompt_encoder.invalid_points.weight" };       // EfficientSAM
    const struct vlm_safetensors * st = src->file;
    if (!st) return false;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (vlm_safetensors_find(st, keys[i])) return true;
    return (vlm_file_has_prefix(st, "image_encoder.") || vlm_file_has_prefix(st, "vision_encoder.")) &&
           vlm_file_has_prefix(st, "mask_decoder.");
}

// ---- `vlm info` ----

struct sam_names {
    const char * patch;     // conv weight [D, 3, P, P]
    const char * pos;       // [1, H, W, D]
    const char * blocks;    // "image_encoder.blocks."
    const char * rel;       // ".attn.rel_pos_h" [2 * size - 1, head_dim]
    const char * token;     // prompt dim: [1, C]
    const char * naming;
};

static void describe_sam(const struct vlm_safetensors * st, const struct sam_names * nm, char * out, size_t size,
                         char * extra, size_t extra_size) {
    int64_t D = vlm_file_dim(st, nm->patch, 4, 0), P = vlm_file_dim(st, nm->patch, 4, 2), grid = vlm_file_dim(st, nm->pos, 4, 1);
    int32_t depth = vlm_file_count_indexed(st, nm->blocks);
    int64_t heads = -1, prompt = vlm_file_dim(st, nm->token, 2, 1);
    char globals[256] = "", name[512];
    size_t gl = 0;
    int64_t window = -1;
    for (int32_t b = 0; b < depth; b++) {
        snprintf(name, sizeof name, "%s%d%s", nm->blocks, b, nm->rel);
        int64_t len = vlm_file_dim(st, name, 2, 0), hd = vlm_file_dim(st, name, 2, 1);
        if (b == 0 && hd > 0 && D > 0 && D % hd == 0) heads = D / hd;
        if (grid > 0 && len == 2 * grid - 1 && gl < sizeof globals)
            gl += (size_t)snprintf(globals + gl, sizeof globals - gl, "%s%d", gl ? ", " : "", b);
        else if (len > 0) window = (len + 1) / 2;
    }
    // the released checkpoints (segment_anything/build_sam.py): 1024x1024 input, patch 16, window 14
    static const struct { const char * name; int64_t d, depth, heads; const char * globals; } known[] = {
        { "vit_b", 768, 12, 12, "2, 5, 8, 11" },
        { "vit_l", 1024, 24, 16, "5, 11, 17, 23" },
        { "vit_h", 1280, 32, 16, "7, 15, 23, 31" },
        // SlimSAM (HF nielsr/slimsam-50-uniform, -77-uniform: ViT-B pruned to these widths, MLP 1536 / 696)
        { "SlimSAM-50", 384, 12, 12, "2, 5, 8, 11" },
        { "SlimSAM-77", 168, 12, 12, "2, 5, 8, 11" },
    };
    const char * variant = NULL;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (D == known[i].d && depth == known[i].depth && heads == known[i].heads && !strcmp(globals, known[i].globals) &&
            grid == 64 && P == 16 && window == 14)
            variant = known[i].name;
    snprintf(out, size, "sam%s (%s%sencoder embed %" PRId64 ", depth %d, heads %" PRId64 ")", nm->naming,
             variant ? variant : "custom", ": ", D, depth, heads);
    snprintf(extra, extra_size, "image %" PRId64 " (patch %" PRId64 ", grid %" PRId64 ", low-res masks %" PRId64 "), "
             "window %" PRId64 ", global attention blocks [%s], prompt dim %" PRId64,
             grid > 0 && P > 0 ? grid * P : -1, P, grid, grid > 0 ? 4 * grid : -1, window, globals, prompt);
}

// EfficientSAM (yformer/EfficientSAM efficient_sam_encoder.py ImageEncoderViT): a plain ViT; its image
// size and heads are not in the tensors (config.json's image_size and encoder_num_heads, else
// upstream's 1024 and a head dim of 64).
static void describe_effsam(const struct vlm_safetensors * st, int64_t image, int64_t heads, char * out, size_t size,
                            char * extra, size_t extra_size) {
    int64_t D = vlm_file_dim(st, "image_encoder.patch_embed.proj.weight", 4, 0), P = vlm_file_dim(st, "image_encoder.patch_embed.proj.weight", 4, 2);
    int64_t mlp = vlm_file_dim(st, "image_encoder.blocks.0.mlp.fc1.weight", 2, 0), prompt = vlm_file_dim(st, "mask_decoder.iou_token.weight", 2, 1);
    int32_t depth = vlm_file_count_indexed(st, "image_encoder.blocks.");
    if (heads <= 0) heads = D > 0 && D % 64 == 0 ? D / 64 : -1;
    // build_efficient_sam.py: ViT-T 192 wide with 3 heads, ViT-S 384 with 6; 12 blocks, image 1024, prompt dim 256
    const char * variant = "custom";
    if (depth == 12 && P == 16 && image == 1024 && prompt == 256 && mlp == 4 * D) variant = D == 192 ? "vit_t" : D == 384 ? "vit_s" : variant;
    snprintf(out, size, "efficientsam (EfficientSAM %s: ViT encoder embed %" PRId64 ", depth %d, heads %" PRId64 ", MLP %" PRId64 ")",
             variant, D, depth, heads, mlp);
    snprintf(extra, extra_size, "image %" PRId64 " (patch %" PRId64 ", grid %" PRId64 ", low-res masks %" PRId64 "), prompt dim %" PRId64
             ", %d mask tokens", image, P, P > 0 ? image / P : -1, P > 0 ? 4 * image / P : -1, prompt,
             (int)vlm_file_dim(st, "mask_decoder.mask_tokens.weight", 2, 0));
}

// MobileSAM (ChaoningZhang/MobileSAM tiny_vit_sam.py TinyViT): per stage the width, depth and, after
// the MBConv stage 0, heads and window from attention_biases [heads, window^2]. The image size is
// not in the tensors: config.json's image_size, else upstream's 1024.
static void describe_mobilesam(const struct vlm_safetensors * st, int64_t image, char * out, size_t size, char * extra,
                               size_t extra_size) {
    char dims[128] = "", depths[128] = "", heads[128] = "", windows[128] = "", name[160];
    size_t nd = 0, nde = 0, nh = 0, nw = 0;
    int32_t n = vlm_file_count_indexed(st, "image_encoder.layers.");
    bool released = n == 4;   // build_sam.py build_sam_vit_t: TinyViT-5M
    static const int64_t R_DIM[4] = { 64, 128, 160, 320 }, R_DEPTH[4] = { 2, 2, 6, 2 }, R_HEADS[4] = { 0, 4, 5, 10 },
                         R_WIN[4] = { 0, 7, 14, 7 };
    for (int32_t s = 0; s < n; s++) {
        snprintf(name, sizeof name, "image_encoder.layers.%d.blocks.", s);
        int32_t depth = vlm_file_count_indexed(st, name);
        snprintf(name, sizeof name, "image_encoder.layers.%d.blocks.0.%s", s, s ? "attn.norm.weight" : "conv1.c.weight");
        int64_t dim = vlm_file_dim(st, name, s ? 1 : 4, s ? 0 : 1), h = 0, w = 0;
        if (s > 0) {
            snprintf(name, sizeof name, "image_encoder.layers.%d.blocks.0.attn.attention_biases", s);
            h = vlm_file_dim(st, name, 2, 0);
            int64_t off = vlm_file_dim(st, name, 2, 1);
            while ((w + 1) * (w + 1) <= off) w++;
            nh += (size_t)snprintf(heads + nh, nh < sizeof heads ? sizeof heads - nh : 0, "%s%" PRId64, s > 1 ? ", " : "", h);
            nw += (size_t)snprintf(windows + nw, nw < sizeof windows ? sizeof windows - nw : 0, "%s%" PRId64, s > 1 ? ", " : "", w);
        }
        nd += (size_t)snprintf(dims + nd, nd < sizeof dims ? sizeof dims - nd : 0, "%s%" PRId64, s ? ", " : "", dim);
        nde += (size_t)snprintf(depths + nde, nde < sizeof depths ? sizeof depths - nde : 0, "%s%d", s ? ", " : "", depth);
        released = released && dim == R_DIM[s] && depth == R_DEPTH[s] && h == R_HEADS[s] && w == R_WIN[s];
    }
    int64_t prompt = vlm_file_dim(st, "mask_decoder.iou_token.weight", 2, 1);
    released = released && image == 1024 && prompt == 256;
    snprintf(out, size, "mobilesam (MobileSAM %s: TinyViT encoder, stage widths [%s], depths [%s], heads [%s], windows [%s])",
             released ? "vit_t" : "custom", dims, depths, heads, windows);
    snprintf(extra, extra_size, "image %" PRId64 " (grid %" PRId64 ", low-res masks %" PRId64 "), prompt dim %" PRId64, image,
             image / 16, image / 4, prompt);
}

// The image size and EfficientSAM's heads come from config.json as the loader reads it
// (vlm_sam_config_parse: flat keys or HF's vision_config); a config it refuses counts as none.
static void sam_describe(const struct vlm_model_source * src, FILE * f) {
    const struct vlm_safetensors * st = src->file;
    struct vlm_sam_config cfg = { 0 };
    if (src->config && vlm_sam_config_parse(src->config, src->config_len, src->config_path, &cfg) != VLM_STATUS_OK)
        memset(&cfg, 0, sizeof cfg);
    const int64_t image = cfg.image_size ? cfg.image_size : VLM_SAM_DEFAULT_IMAGE_SIZE;   // MobileSAM, EfficientSAM
    const int64_t heads = cfg.heads;
    char arch[512], extra[512];
    if (vlm_safetensors_find(st, "image_encoder.patch_embed.seq.0.c.weight")) {
        describe_mobilesam(st, image, arch, sizeof arch, extra, sizeof extra);
    } else if (vlm_safetensors_find(st, "prompt_encoder.invalid_points.weight")) {
        describe_effsam(st, image, heads, arch, sizeof arch, extra, sizeof extra);
    } else if (vlm_file_has_prefix(st, "image_encoder.")) {
        static const struct sam_names nm = { "image_encoder.patch_embed.proj.weight", "image_encoder.pos_embed",
                                             "image_encoder.blocks.", ".attn.rel_pos_h", "mask_decoder.iou_token.weight",
                                             "" };
        describe_sam(st, &nm, arch, sizeof arch, extra, sizeof extra);
    } else {
        static const struct sam_names nm = { "vision_encoder.patch_embed.projection.weight", "vision_encoder.pos_embed",
                                             "vision_encoder.layers.", ".attn.rel_pos_h", "mask_decoder.iou_token.weight",
                                             ", HF transformers naming" };
        describe_sam(st, &nm, arch, sizeof arch, extra, sizeof extra);
    }
    fprintf(f, "architecture:  %s\n", arch);
    fprintf(f, "details:       %s\n", extra);
}

struct vlm_sam_model * vlm_sam_of(const struct vlm_model * m) { return vlm_model_arch(m, &vlm_sam_family); }

static void sam_free(void * arch) { vlm_sam_model_free(arch); }

static const char * const sam_config_names[] = { "config.json", NULL };

const struct vlm_model_family vlm_sam_family = {
    .name = "sam",
    .kind = VLM_MODEL_SAM,
    .config_names = sam_config_names,
    .detect = sam_detect,
    .describe = sam_describe,
    .arena_bytes = vlm_sam_arena_bytes,
    .linear_weights = vlm_sam_linear_weights,
    .init = vlm_sam_model_init,
    .free = sam_free,
};
