// model-info.c — `vlm info`: what a model file is (format, architecture inferred from tensor
// names and shapes, parameters, dtypes, memory needed as F32 on a backend).
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gguf-meta.h"
#include "model-file.h"

#define INFO_ALIGN 256   // the weight store's per-tensor alignment (weights.c)

// ---- formatting ----

static void fmt_count(int64_t n, char * out, size_t size) {
    if (n < 1000) snprintf(out, size, "%" PRId64, n);
    else if (n < 1000000) snprintf(out, size, "%.1f K", (double)n / 1e3);
    else if (n < 1000000000) snprintf(out, size, "%.1f M", (double)n / 1e6);
    else snprintf(out, size, "%.2f B", (double)n / 1e9);
}

static void fmt_bytes(double b, char * out, size_t size) {
    if (b < 1024) snprintf(out, size, "%.0f B", b);
    else if (b < 1024.0 * 1024) snprintf(out, size, "%.1f KiB", b / 1024);
    else if (b < 1024.0 * 1024 * 1024) snprintf(out, size, "%.1f MiB", b / (1024.0 * 1024));
    else snprintf(out, size, "%.2f GiB", b / (1024.0 * 1024 * 1024));
}

static int64_t numel_of(const struct vlm_file_tensor * t) {
    int64_t n = 1;
    for (int32_t d = 0; d < t->n_dims; d++) n *= t->shape[d];   // fits: the readers checked the byte size
    return n;
}

// Totals over a tensor list; hist counts per type name.
struct info_stats {
    int64_t params;
    double  mem_f32;         // bytes once loaded (F32 copies, or as stored for GGUF)
    bool    mem_as_stored;
    int32_t n;
    struct { const char * name; int32_t count; } hist[48];
    int32_t n_hist;
};

// bytes: what the tensor takes in memory once loaded.
static void stats_add(struct info_stats * s, const struct vlm_file_tensor * t, const char * type_name, double bytes) {
    int64_t n = numel_of(t);
    s->params += n;
    s->n++;
    s->mem_f32 += (double)(((uint64_t)bytes + INFO_ALIGN - 1) / INFO_ALIGN * INFO_ALIGN);
    for (int32_t i = 0; i < s->n_hist; i++)
        if (strcmp(s->hist[i].name, type_name) == 0) { s->hist[i].count++; return; }
    if (s->n_hist < (int32_t)(sizeof s->hist / sizeof *s->hist)) {
        s->hist[s->n_hist].name = type_name;
        s->hist[s->n_hist++].count = 1;
    }
}

static void print_stats(FILE * f, const struct info_stats * s) {
    char p[32], m[32];
    fmt_count(s->params, p, sizeof p);
    fmt_bytes(s->mem_f32, m, sizeof m);
    fprintf(f, "parameters:    %s\n", p);
    fprintf(f, "tensors:       %d (", s->n);
    for (int32_t i = 0; i < s->n_hist; i++) fprintf(f, "%s%s %d", i ? ", " : "", s->hist[i].name, s->hist[i].count);
    fprintf(f, ")\n");
    fprintf(f, "%s%s\n", s->mem_as_stored ? "memory:        " : "memory (f32):  ", m);
    if (s->mem_as_stored) fprintf(f, "               (weights as stored, memory-mapped on the CPU)\n");
}

// ---- safetensors architectures ----

static bool any_prefix(const struct vlm_safetensors * st, const char * prefix) {
    size_t n = strlen(prefix);
    for (int32_t i = 0; i < st->n_tensors; i++)
        if (strncmp(st->tensors[i].name, prefix, n) == 0) return true;
    return false;
}

// 1 + the largest N of tensors named "<prefix>N.<anything>".
static int32_t count_blocks(const struct vlm_safetensors * st, const char * prefix) {
    size_t n = strlen(prefix);
    int32_t max = -1;
    for (int32_t i = 0; i < st->n_tensors; i++) {
        const char * name = st->tensors[i].name;
        if (strncmp(name, prefix, n) != 0) continue;
        char * end;
        long v = strtol(name + n, &end, 10);
        if (end != name + n && *end == '.' && v >= 0 && v < 100000 && v > max) max = (int32_t)v;
    }
    return max + 1;
}

static int64_t dim_of(const struct vlm_safetensors * st, const char * name, int32_t n_dims, int32_t d) {
    const struct vlm_file_tensor * t = vlm_safetensors_find(st, name);
    return t && t->n_dims == n_dims && d < n_dims ? t->shape[d] : -1;
}

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
    int64_t D = dim_of(st, nm->patch, 4, 0), P = dim_of(st, nm->patch, 4, 2), grid = dim_of(st, nm->pos, 4, 1);
    int32_t depth = count_blocks(st, nm->blocks);
    int64_t heads = -1, prompt = dim_of(st, nm->token, 2, 1);
    char globals[256] = "", name[512];
    size_t gl = 0;
    int64_t window = -1;
    for (int32_t b = 0; b < depth; b++) {
        snprintf(name, sizeof name, "%s%d%s", nm->blocks, b, nm->rel);
        int64_t len = dim_of(st, name, 2, 0), hd = dim_of(st, name, 2, 1);
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
    int64_t D = dim_of(st, "image_encoder.patch_embed.proj.weight", 4, 0), P = dim_of(st, "image_encoder.patch_embed.proj.weight", 4, 2);
    int64_t mlp = dim_of(st, "image_encoder.blocks.0.mlp.fc1.weight", 2, 0), prompt = dim_of(st, "mask_decoder.iou_token.weight", 2, 1);
    int32_t depth = count_blocks(st, "image_encoder.blocks.");
    if (heads <= 0) heads = D > 0 && D % 64 == 0 ? D / 64 : -1;
    // build_efficient_sam.py: ViT-T 192 wide with 3 heads, ViT-S 384 with 6; 12 blocks, image 1024, prompt dim 256
    const char * variant = "custom";
    if (depth == 12 && P == 16 && image == 1024 && prompt == 256 && mlp == 4 * D) variant = D == 192 ? "vit_t" : D == 384 ? "vit_s" : variant;
    snprintf(out, size, "efficientsam (EfficientSAM %s: ViT encoder embed %" PRId64 ", depth %d, heads %" PRId64 ", MLP %" PRId64 ")",
             variant, D, depth, heads, mlp);
    snprintf(extra, extra_size, "image %" PRId64 " (patch %" PRId64 ", grid %" PRId64 ", low-res masks %" PRId64 "), prompt dim %" PRId64
             ", %d mask tokens", image, P, P > 0 ? image / P : -1, P > 0 ? 4 * image / P : -1, prompt,
             (int)dim_of(st, "mask_decoder.mask_tokens.weight", 2, 0));
}

// MobileSAM (ChaoningZhang/MobileSAM tiny_vit_sam.py TinyViT): per stage the width, depth and, after
// the MBConv stage 0, heads and window from attention_biases [heads, window^2]. The image size is
// not in the tensors: config.json's image_size, else upstream's 1024.
static void describe_mobilesam(const struct vlm_safetensors * st, int64_t image, char * out, size_t size, char * extra,
                               size_t extra_size) {
    char dims[128] = "", depths[128] = "", heads[128] = "", windows[128] = "", name[160];
    size_t nd = 0, nde = 0, nh = 0, nw = 0;
    int32_t n = count_blocks(st, "image_encoder.layers.");
    bool released = n == 4;   // build_sam.py build_sam_vit_t: TinyViT-5M
    static const int64_t R_DIM[4] = { 64, 128, 160, 320 }, R_DEPTH[4] = { 2, 2, 6, 2 }, R_HEADS[4] = { 0, 4, 5, 10 },
                         R_WIN[4] = { 0, 7, 14, 7 };
    for (int32_t s = 0; s < n; s++) {
        snprintf(name, sizeof name, "image_encoder.layers.%d.blocks.", s);
        int32_t depth = count_blocks(st, name);
        snprintf(name, sizeof name, "image_encoder.layers.%d.blocks.0.%s", s, s ? "attn.norm.weight" : "conv1.c.weight");
        int64_t dim = dim_of(st, name, s ? 1 : 4, s ? 0 : 1), h = 0, w = 0;
        if (s > 0) {
            snprintf(name, sizeof name, "image_encoder.layers.%d.blocks.0.attn.attention_biases", s);
            h = dim_of(st, name, 2, 0);
            int64_t off = dim_of(st, name, 2, 1);
            while ((w + 1) * (w + 1) <= off) w++;
            nh += (size_t)snprintf(heads + nh, nh < sizeof heads ? sizeof heads - nh : 0, "%s%" PRId64, s > 1 ? ", " : "", h);
            nw += (size_t)snprintf(windows + nw, nw < sizeof windows ? sizeof windows - nw : 0, "%s%" PRId64, s > 1 ? ", " : "", w);
        }
        nd += (size_t)snprintf(dims + nd, nd < sizeof dims ? sizeof dims - nd : 0, "%s%" PRId64, s ? ", " : "", dim);
        nde += (size_t)snprintf(depths + nde, nde < sizeof depths ? sizeof depths - nde : 0, "%s%d", s ? ", " : "", depth);
        released = released && dim == R_DIM[s] && depth == R_DEPTH[s] && h == R_HEADS[s] && w == R_WIN[s];
    }
    int64_t prompt = dim_of(st, "mask_decoder.iou_token.weight", 2, 1);
    released = released && image == 1024 && prompt == 256;
    snprintf(out, size, "mobilesam (MobileSAM %s: TinyViT encoder, stage widths [%s], depths [%s], heads [%s], windows [%s])",
             released ? "vit_t" : "custom", dims, depths, heads, windows);
    snprintf(extra, extra_size, "image %" PRId64 " (grid %" PRId64 ", low-res masks %" PRId64 "), prompt dim %" PRId64, image,
             image / 16, image / 4, prompt);
}

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
    int64_t W = dim_of(st, nm->patch, 4, 0), P = dim_of(st, nm->patch, 4, 2), npos = dim_of(st, nm->pos, 2, 0);
    int64_t V = dim_of(st, nm->token, 2, 0), Wt = dim_of(st, nm->token, 2, 1), E = dim_of(st, nm->proj, 2, nm->proj_dim);
    int32_t vl = count_blocks(st, nm->vblocks), tl = count_blocks(st, nm->tblocks);
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

static void detect_safetensors(const struct vlm_safetensors * st, int64_t image_size, int64_t heads, char * arch, size_t size,
                               char * extra, size_t extra_size) {
    extra[0] = 0;
    if (vlm_safetensors_find(st, "image_encoder.patch_embed.seq.0.c.weight") && any_prefix(st, "mask_decoder.")) {
        describe_mobilesam(st, image_size > 0 ? image_size : 1024, arch, size, extra, extra_size);
    } else if (vlm_safetensors_find(st, "prompt_encoder.invalid_points.weight") && any_prefix(st, "image_encoder.blocks.")) {
        describe_effsam(st, image_size > 0 ? image_size : 1024, heads, arch, size, extra, extra_size);
    } else if (any_prefix(st, "image_encoder.") && any_prefix(st, "mask_decoder.")) {
        static const struct sam_names nm = { "image_encoder.patch_embed.proj.weight", "image_encoder.pos_embed",
                                             "image_encoder.blocks.", ".attn.rel_pos_h", "mask_decoder.iou_token.weight",
                                             "" };
        describe_sam(st, &nm, arch, size, extra, extra_size);
    } else if (any_prefix(st, "vision_encoder.") &&
               (any_prefix(st, "mask_decoder.") || any_prefix(st, "prompt_encoder.shared_embedding"))) {
        static const struct sam_names nm = { "vision_encoder.patch_embed.projection.weight", "vision_encoder.pos_embed",
                                             "vision_encoder.layers.", ".attn.rel_pos_h", "mask_decoder.iou_token.weight",
                                             ", HF transformers naming" };
        describe_sam(st, &nm, arch, size, extra, extra_size);
    } else if (any_prefix(st, "visual.") && any_prefix(st, "transformer.") &&
               vlm_safetensors_find(st, "token_embedding.weight")) {
        if (!vlm_safetensors_find(st, "visual.conv1.weight") || any_prefix(st, "visual.layer1.")) {
            snprintf(arch, size, "clip (ModifiedResNet image encoder: not supported, only ViT CLIP models)");
            return;
        }
        static const struct clip_names nm = { "visual.conv1.weight", "visual.positional_embedding",
                                              "visual.transformer.resblocks.", "token_embedding.weight",
                                              "transformer.resblocks.", "text_projection", 1, "" };
        describe_clip(st, &nm, arch, size, extra, extra_size);
    } else if (any_prefix(st, "vision_model.") && any_prefix(st, "text_model.")) {
        static const struct clip_names nm = { "vision_model.embeddings.patch_embedding.weight",
                                              "vision_model.embeddings.position_embedding.weight",
                                              "vision_model.encoder.layers.",
                                              "text_model.embeddings.token_embedding.weight",
                                              "text_model.encoder.layers.", "text_projection.weight", 0,
                                              ", HF transformers naming" };
        describe_clip(st, &nm, arch, size, extra, extra_size);
    } else {
        snprintf(arch, size, "unknown (no SAM image_encoder.*/mask_decoder.* or CLIP visual.*/transformer.* tensors)");
    }
}

static enum vlm_status info_safetensors(const char * path, const char * config, FILE * f) {
    struct vlm_safetensors * st = NULL;
    enum vlm_status status = vlm_model_file_open(path, &st);
    if (status != VLM_STATUS_OK) return status;
    const bool pytorch = st->map_size >= 4 && !memcmp(st->map, "PK\x03\x04", 4);
    struct info_stats s = { 0 };
    for (int32_t i = 0; i < st->n_tensors; i++) {
        const struct vlm_file_tensor * t = &st->tensors[i];
        bool fl = t->dtype == VLM_DTYPE_F32 || t->dtype == VLM_DTYPE_F16 || t->dtype == VLM_DTYPE_BF16;
        static const char * const names[] = { "F32", "F16", "BF16", "I32", "U8", "I64" };   // as safetensors names them
        stats_add(&s, t, (unsigned)t->dtype < sizeof names / sizeof *names ? names[t->dtype] : vlm_dtype_name(t->dtype),
                  (double)numel_of(t) * (double)(fl ? 4 : vlm_dtype_size(t->dtype)));
    }
    // config.json is informational (and gives MobileSAM's image size): report what it says, and
    // complain clearly if it is broken
    cJSON * cj = NULL;
    const char * cstate = NULL;
    if (config) {
        char * text = vlm_read_file(config, 1u << 24, NULL);
        if (text) {
            if (!(cj = cJSON_Parse(text))) cstate = " (not valid JSON, ignored)";
        } else {
            cstate = " (unreadable, ignored)";
        }
        free(text);
    }
    const cJSON * isz = cj ? cJSON_GetObjectItemCaseSensitive(cj, "image_size") : NULL;
    char arch[512], extra[512];
    const cJSON * nh = cj ? cJSON_GetObjectItemCaseSensitive(cj, "encoder_num_heads") : NULL;
    detect_safetensors(st, cJSON_IsNumber(isz) ? (int64_t)isz->valuedouble : 0, cJSON_IsNumber(nh) ? (int64_t)nh->valuedouble : 0,
                       arch, sizeof arch, extra, sizeof extra);
    fprintf(f, "file:          %s\n", path);
    fprintf(f, "format:        %s\n", pytorch ? "PyTorch checkpoint (zip + pickle)" : "safetensors");
    fprintf(f, "architecture:  %s\n", arch);
    if (extra[0]) fprintf(f, "details:       %s\n", extra);
    print_stats(f, &s);
    if (config) {
        const cJSON * a = cj ? cJSON_GetObjectItemCaseSensitive(cj, "architecture") : NULL;
        if (cstate) fprintf(f, "config:        %s%s\n", config, cstate);
        else if (cJSON_IsString(a)) fprintf(f, "config:        %s (architecture \"%s\")\n", config, a->valuestring);
        else fprintf(f, "config:        %s\n", config);
    }
    cJSON_Delete(cj);
    if (st->metadata_json) fprintf(f, "metadata:      %s\n", st->metadata_json);
    vlm_safetensors_close(st);
    return VLM_STATUS_OK;
}

// ---- GGUF ----

static bool gguf_has_token(const struct vlm_gguf * g, const char * text) {
    uint64_t n;
    enum vlm_gguf_type et;
    if (!vlm_gguf_get_array(g, "tokenizer.ggml.tokens", &et, &n, NULL) || et != VLM_GGUF_TYPE_STRING) return false;
    size_t tl = strlen(text);
    for (uint64_t i = n; i-- > 0;) {   // special tokens are usually at the end
        const char * s;
        size_t len;
        if (vlm_gguf_get_array_str(g, "tokenizer.ggml.tokens", i, &s, &len) && len == tl && !memcmp(s, text, tl))
            return true;
    }
    return false;
}

static int64_t gguf_int(const struct vlm_gguf * g, const char * arch, const char * key) {
    char k[256];
    int64_t v = -1;
    snprintf(k, sizeof k, "%s.%s", arch, key);
    if (!vlm_gguf_get_int(g, k, &v)) v = -1;
    return v;
}

// The rest of an mmproj's vision sizes: llama.cpp tiles images into image_size squares
// (idefics3: longest edge preproc_image_size) and merges scale_factor x scale_factor patches.
static void print_mmproj(const struct vlm_gguf * g, FILE * f) {
    int64_t img = gguf_int(g, "clip.vision", "image_size"), patch = gguf_int(g, "clip.vision", "patch_size");
    int64_t sf = gguf_int(g, "clip.vision.projector", "scale_factor"), le = gguf_int(g, "clip.vision", "preproc_image_size");
    double eps = 0;
    bool gelu = false, silu = false;
    vlm_gguf_get_float(g, "clip.vision.attention.layer_norm_epsilon", &eps);
    vlm_gguf_get_bool(g, "clip.use_gelu", &gelu);
    vlm_gguf_get_bool(g, "clip.use_silu", &silu);
    fprintf(f, "vision:        ffn %" PRId64 ", eps %g, %s", gguf_int(g, "clip.vision", "feed_forward_length"), eps,
            gelu ? "gelu (tanh)" : silu ? "silu" : "quick gelu");
    if (img > 0 && patch > 0 && img % patch == 0) {
        int64_t n = img / patch;
        fprintf(f, ", %" PRId64 "x%" PRId64 " patches per tile", n, n);
        if (sf > 1 && n % sf == 0)
            fprintf(f, ", pixel shuffle %" PRId64 " -> %" PRId64 " tokens per tile", sf, (n / sf) * (n / sf));
    }
    if (le > 0) fprintf(f, ", longest edge %" PRId64, le);
    fputc('\n', f);
}

static enum vlm_status info_gguf(const char * path, FILE * f) {
    struct vlm_gguf * g = NULL;
    enum vlm_status status = vlm_gguf_open(path, &g);
    if (status != VLM_STATUS_OK) return status;
    struct info_stats s = { .mem_as_stored = true };
    for (int32_t i = 0; i < vlm_gguf_n_tensors(g); i++) {
        const struct vlm_file_tensor * t = vlm_gguf_tensor(g, i);
        stats_add(&s, t, vlm_gguf_type_name(t->gguf_type), (double)t->nbytes);
    }
    const char * arch = "?", * gname = NULL, * proj = NULL;
    vlm_gguf_get_str(g, "general.architecture", &arch);
    vlm_gguf_get_str(g, "general.name", &gname);
    char desc[512];
    if (!strcmp(arch, "llama")) {
        uint64_t n_vocab = 0;
        if (!vlm_gguf_get_array(g, "tokenizer.ggml.tokens", NULL, &n_vocab, NULL)) n_vocab = 0;
        bool smolvlm = gguf_has_token(g, "<global-img>") && gguf_has_token(g, "<fake_token_around_image>");
        snprintf(desc, sizeof desc, "llama (%s: %" PRId64 " layers, embed %" PRId64 ", heads %" PRId64 " / %" PRId64
                 " kv, ffn %" PRId64 ", vocab %" PRIu64 ")", smolvlm ? "SmolVLM text decoder" : "text decoder",
                 gguf_int(g, "llama", "block_count"), gguf_int(g, "llama", "embedding_length"),
                 gguf_int(g, "llama", "attention.head_count"), gguf_int(g, "llama", "attention.head_count_kv"),
                 gguf_int(g, "llama", "feed_forward_length"), n_vocab);
    } else if (!strcmp(arch, "clip")) {
        vlm_gguf_get_str(g, "clip.projector_type", &proj);
        bool idefics3 = proj && !strcmp(proj, "idefics3");
        snprintf(desc, sizeof desc, "clip mmproj (%s%s: vision %" PRId64 " layers, embed %" PRId64 ", heads %" PRId64
                 ", image %" PRId64 ", patch %" PRId64 ", projection %" PRId64 ")",
                 idefics3 ? "SmolVLM / idefics3 connector" : "projector ", idefics3 ? "" : (proj ? proj : "?"),
                 gguf_int(g, "clip.vision", "block_count"), gguf_int(g, "clip.vision", "embedding_length"),
                 gguf_int(g, "clip.vision", "attention.head_count"), gguf_int(g, "clip.vision", "image_size"),
                 gguf_int(g, "clip.vision", "patch_size"), gguf_int(g, "clip.vision", "projection_dim"));
    } else {
        snprintf(desc, sizeof desc, "%s (not supported by vlm)", arch);
    }
    fprintf(f, "file:          %s\n", path);
    fprintf(f, "format:        gguf v%u (alignment %u)\n", vlm_gguf_version(g), vlm_gguf_alignment(g));
    fprintf(f, "architecture:  %s\n", desc);
    if (!strcmp(arch, "clip")) print_mmproj(g, f);
    if (gname) fprintf(f, "name:          %s\n", gname);
    print_stats(f, &s);
    fprintf(f, "metadata:      %" PRId64 " keys\n", vlm_gguf_n_kv(g));
    // indent the metadata listing under the summary
    char * buf = NULL;
    size_t len = 0;
    FILE * mf = open_memstream(&buf, &len);
    if (mf) {
        vlm_gguf_print_metadata(g, mf);
        fclose(mf);
        for (char * line = buf; line && *line;) {
            char * nl = strchr(line, '\n');
            size_t n = nl ? (size_t)(nl - line) : strlen(line);
            fprintf(f, "  %.*s\n", (int)n, line);
            line = nl ? nl + 1 : line + n;
        }
        free(buf);
    }
    vlm_gguf_close(g);
    return VLM_STATUS_OK;
}

// ---- entry ----

enum vlm_status vlm_model_file_info(const char * path, FILE * f) {
    if (!path || !f) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_model_file_info: path or stream is NULL");
    struct stat sb;
    if (stat(path, &sb) != 0) return vlm_error(VLM_STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
    char file[4096], config[4096];
    const char * cfg = NULL;
    if (S_ISDIR(sb.st_mode)) {
        snprintf(file, sizeof file, "%s/model.safetensors", path);
        if (stat(file, &sb) != 0)
            return vlm_error(VLM_STATUS_IO, "%s: directory has no model.safetensors", path);
        snprintf(config, sizeof config, "%s/config.json", path);
        if (stat(config, &sb) == 0) cfg = config;
    } else {   // config.json next to the file, as the loaders read it
        snprintf(file, sizeof file, "%s", path);
        const char * slash = strrchr(path, '/');
        snprintf(config, sizeof config, "%.*sconfig.json", slash ? (int)(slash - path + 1) : 0, path);
        if (stat(config, &sb) == 0 && S_ISREG(sb.st_mode)) cfg = config;
    }
    FILE * mf = fopen(file, "rb");
    if (!mf) return vlm_error(VLM_STATUS_IO, "%s: cannot open: %s", file, strerror(errno));
    char magic[4] = { 0 };
    size_t got = fread(magic, 1, 4, mf);
    fclose(mf);
    if (got == 4 && !memcmp(magic, "GGUF", 4)) return info_gguf(file, f);
    return info_safetensors(file, cfg, f);
}
