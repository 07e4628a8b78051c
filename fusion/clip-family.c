// clip-family.c — the CLIP family for the generic loader and `vlm info`: ViT CLIP models under
// OpenAI's names and HF transformers', detected from tensor names.
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "clip.h"
#include "model.h"

// Both towers under OpenAI's or HF's names, or a key tensor of one (visual.attnpool.*: a
// ResNet CLIP, which init refuses with its own message).
static bool clip_detect(const struct vlm_model_source * src) {
    static const char * const keys[] = { "visual.class_embedding", "vision_model.embeddings.class_embedding",
                                         "visual.attnpool.positional_embedding" };
    const struct vlm_safetensors * st = src->file;
    if (!st) return false;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (vlm_safetensors_find(st, keys[i])) return true;
    return (vlm_file_has_prefix(st, "visual.") && vlm_file_has_prefix(st, "transformer.") &&
            vlm_safetensors_find(st, "token_embedding.weight")) ||
           (vlm_file_has_prefix(st, "vision_model.") && vlm_file_has_prefix(st, "text_model."));
}

// ---- `vlm info` ----

struct clip_names {
    const char * patch;     // [W, 3, P, P]
    const char * pos;       // [G*G + 1, W]
    const char * vblocks;
    const char * token;     // [V, Wt]
    const char * tblocks;
    const char * proj;      // text projection
    int32_t      proj_dim;  // which dim of proj is the joint embedding
    const char * naming;
};

static void describe_clip(const struct vlm_safetensors * st, const struct clip_names * nm, char * out, size_t size,
                          char * extra, size_t extra_size) {
    int64_t W = vlm_file_dim(st, nm->patch, 4, 0), P = vlm_file_dim(st, nm->patch, 4, 2), npos = vlm_file_dim(st, nm->pos, 2, 0);
    int64_t V = vlm_file_dim(st, nm->token, 2, 0), Wt = vlm_file_dim(st, nm->token, 2, 1), E = vlm_file_dim(st, nm->proj, 2, nm->proj_dim);
    int32_t vl = vlm_file_count_indexed(st, nm->vblocks), tl = vlm_file_count_indexed(st, nm->tblocks);
    int64_t g = 0;
    while (npos > 1 && (g + 1) * (g + 1) <= npos - 1) g++;
    int64_t res = g * g == npos - 1 && P > 0 ? g * P : -1;
    static const struct { const char * name; int64_t w, p, layers, res, wt, e; } known[] = {
        { "ViT-B/32", 768, 32, 12, 224, 512, 512 },
        { "ViT-B/16", 768, 16, 12, 224, 512, 512 },
        { "ViT-L/14", 1024, 14, 24, 224, 768, 768 },
        { "ViT-L/14@336px", 1024, 14, 24, 336, 768, 768 },
    };
    const char * variant = NULL;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (W == known[i].w && P == known[i].p && vl == known[i].layers && res == known[i].res && Wt == known[i].wt &&
            E == known[i].e)
            variant = known[i].name;
    snprintf(out, size, "clip%s (%s: vision width %" PRId64 ", patch %" PRId64 ", %d layers, image %" PRId64
             "; text width %" PRId64 ", %d layers; embed %" PRId64 ")", nm->naming, variant ? variant : "custom", W, P,
             vl, res, Wt, tl, E);
    snprintf(extra, extra_size, "vocabulary %" PRId64 ", %" PRId64 " image positions", V, npos);
}

static void clip_describe(const struct vlm_model_source * src, FILE * f) {
    const struct vlm_safetensors * st = src->file;
    char arch[512], extra[512] = "";
    if (vlm_file_has_prefix(st, "vision_model.")) {
        static const struct clip_names nm = { "vision_model.embeddings.patch_embedding.weight",
                                              "vision_model.embeddings.position_embedding.weight",
                                              "vision_model.encoder.layers.",
                                              "text_model.embeddings.token_embedding.weight",
                                              "text_model.encoder.layers.", "text_projection.weight", 0,
                                              ", HF transformers naming" };
        describe_clip(st, &nm, arch, sizeof arch, extra, sizeof extra);
    } else if (!vlm_safetensors_find(st, "visual.conv1.weight") || vlm_file_has_prefix(st, "visual.layer1.")) {
        snprintf(arch, sizeof arch, "clip (ModifiedResNet image encoder: not supported, only ViT CLIP models)");
    } else {
        static const struct clip_names nm = { "visual.conv1.weight", "visual.positional_embedding",
                                              "visual.transformer.resblocks.", "token_embedding.weight",
                                              "transformer.resblocks.", "text_projection", 1, "" };
        describe_clip(st, &nm, arch, sizeof arch, extra, sizeof extra);
    }
    fprintf(f, "architecture:  %s\n", arch);
    if (extra[0]) fprintf(f, "details:       %s\n", extra);
}

struct vlm_clip_model * vlm_clip_of(const struct vlm_model * m) { return vlm_model_arch(m, &vlm_clip_family); }

static void clip_free(void * arch) { vlm_clip_model_free(arch); }

static const char * const clip_config_names[] = { "config.json", "open_clip_config.json", NULL };

const struct vlm_model_family vlm_clip_family = {
    .name = "clip",
    .kind = VLM_MODEL_CLIP,
    .config_names = clip_config_names,
    .detect = clip_detect,
    .describe = clip_describe,
    .arena_bytes = vlm_clip_arena_bytes,
    .linear_weights = vlm_clip_linear_weights,
    .init = vlm_clip_model_init,
    .free = clip_free,
};
