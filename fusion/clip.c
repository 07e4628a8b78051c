// clip.c — CLIP model: hyper-parameters from tensor shapes, weight binding (OpenAI and HF
// transformers names) and the image / text forward passes.
#define _GNU_SOURCE   // dladdr
#ifndef VLM_ASSETS_REL   // set by CMakeLists.txt from the install layout
#define VLM_ASSETS_REL "../share/vlm"
#endif
#ifndef VLM_ASSETS_REL_LIB   // the same from the library's folder
#define VLM_ASSETS_REL_LIB "../share/vlm"
#endif
#ifndef VLM_ASSETS_INSTALLED
#define VLM_ASSETS_INSTALLED "/usr/local/share/vlm"
#endif
#include <dlfcn.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clip.h"
#include "image.h"
#include "model-config.h"
#include "model.h"
#include "tokenizer.h"

// Activation budget of one forward: batches are chunked so that one chunk fits in it.
#define CLIP_CHUNK_BUDGET   (64u << 20)
#define CLIP_MAX_VISION_CHUNK 16
#define CLIP_MAX_TEXT_CHUNK   64

// ---- hyper-parameters ----------------------------------------------------------------------
struct clip_hparams {
    bool    hf;
    int32_t embed_dim;
    int32_t image_size, patch, grid;
    int32_t v_width, v_layers, v_heads, v_mlp;
    int32_t context, vocab;
    int32_t t_width, t_layers, t_heads, t_mlp;
};

static const struct vlm_file_tensor * st_find(const struct vlm_safetensors * st, const char * name) {
    return vlm_safetensors_find(st, name);
}

// Number of blocks: 1 + the largest N of "<prefix>N.<suffix>" names (0 when none).
static int32_t count_layers(const struct vlm_safetensors * st, const char * prefix, const char * suffix) {
    size_t pl = strlen(prefix);
    long max = -1;
    for (int32_t i = 0; i < st->n_tensors; i++) {
        const char * n = st->tensors[i].name;
        if (strncmp(n, prefix, pl) != 0) continue;
        char * end = NULL;
        long idx = strtol(n + pl, &end, 10);
        if (end == n + pl || *end != '.' || strcmp(end + 1, suffix) != 0) continue;
        if (idx >= 0 && idx < 4096 && idx > max) max = idx;
    }
    return (int32_t)(max + 1);
}

// ref: openai/CLIP clip/model.py build_model (OpenAI names); transformers CLIPModel (HF names).
// Heads default to width // 64 as build_model does; config.json may override (clip_config).
static enum vlm_status clip_infer(const struct vlm_safetensors * st, const char * path, struct clip_hparams * hp) {
    memset(hp, 0, sizeof *hp);
    const struct vlm_file_tensor *conv, *vpos, *proj, *tpos, *tok, *lnf, *fc;
    hp->hf = st_find(st, "vision_model.embeddings.class_embedding") != NULL;
    if (!hp->hf) {
        if (!st_find(st, "visual.proj") && st_find(st, "visual.attnpool.positional_embedding"))
            return vlm_error(VLM_STATUS_UNSUPPORTED, "%s: ResNet CLIP models (RN50, ...) are not supported, only ViT ones",
                             path);
        conv = st_find(st, "visual.conv1.weight");
        vpos = st_find(st, "visual.positional_embedding");
        proj = st_find(st, "visual.proj");
        tpos = st_find(st, "positional_embedding");
        tok  = st_find(st, "token_embedding.weight");
        lnf  = st_find(st, "ln_final.weight");
        fc   = st_find(st, "text_projection");
    } else {
        conv = st_find(st, "vision_model.embeddings.patch_embedding.weight");
        vpos = st_find(st, "vision_model.embeddings.position_embedding.weight");
        proj = st_find(st, "visual_projection.weight");
        tpos = st_find(st, "text_model.embeddings.position_embedding.weight");
        tok  = st_find(st, "text_model.embeddings.token_embedding.weight");
        lnf  = st_find(st, "text_model.final_layer_norm.weight");
        fc   = st_find(st, "text_projection.weight");
    }
    const char * missing = !conv ? "patch embedding (visual.conv1.weight)" : !vpos ? "vision positional embedding"
                         : !proj ? "visual projection" : !tpos ? "text positional embedding"
                         : !tok ? "token embedding" : !lnf ? "final layer norm" : !fc ? "text projection" : NULL;
    if (missing) return vlm_error(VLM_STATUS_BAD_MODEL, "%s: not a complete CLIP ViT model: no %s", path, missing);
    if (conv->n_dims != 4 || conv->shape[1] != 3 || conv->shape[2] != conv->shape[3] || vpos->n_dims != 2 ||
        proj->n_dims != 2 || tpos->n_dims != 2 || tok->n_dims != 2 || lnf->n_dims != 1 || fc->n_dims != 2)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: CLIP tensors have unexpected ranks", path);

    // ref: build_model: vision_width = conv1.weight.shape[0], patch = shape[-1],
    // grid = round(sqrt(positional_embedding.shape[0] - 1)), image_resolution = patch * grid
    hp->v_width = (int32_t)conv->shape[0];
    hp->patch   = (int32_t)conv->shape[3];
    int64_t n_pos = vpos->shape[0];
    int64_t g = (int64_t)llround(sqrt((double)(n_pos - 1)));
    if (n_pos < 2 || g * g + 1 != n_pos || vpos->shape[1] != hp->v_width || g > 1024 || hp->patch < 1)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: vision positional embedding %lldx%lld does not fit a square grid",
                         path, (long long)vpos->shape[0], (long long)vpos->shape[1]);
    hp->grid = (int32_t)g;
    hp->image_size = hp->patch * hp->grid;
    // ref: build_model: embed_dim = text_projection.shape[1] (HF Linear: weight [E, D])
    hp->t_width   = (int32_t)lnf->shape[0];
    hp->embed_dim = (int32_t)(hp->hf ? fc->shape[0] : fc->shape[1]);
    hp->context   = (int32_t)tpos->shape[0];
    hp->vocab     = (int32_t)tok->shape[0];
    int64_t pe = hp->hf ? proj->shape[0] : proj->shape[1], pd = hp->hf ? proj->shape[1] : proj->shape[0];
    int64_t fd = hp->hf ? fc->shape[1] : fc->shape[0];
    if (pe != hp->embed_dim || pd != hp->v_width || fd != hp->t_width || tpos->shape[1] != hp->t_width ||
        tok->shape[1] != hp->t_width || hp->context < 2 || hp->vocab < 2)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: CLIP projection / embedding shapes are inconsistent", path);
    if (hp->hf) {
        hp->v_layers = count_layers(st, "vision_model.encoder.layers.", "self_attn.q_proj.weight");
        hp->t_layers = count_layers(st, "text_model.encoder.layers.", "self_attn.q_proj.weight");
    } else {
        hp->v_layers = count_layers(st, "visual.transformer.resblocks.", "attn.in_proj_weight");
        hp->t_layers = count_layers(st, "transformer.resblocks.", "attn.in_proj_weight");
    }
    if (hp->v_layers < 1 || hp->t_layers < 1)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: CLIP model without %s transformer blocks", path,
                         hp->v_layers < 1 ? "vision" : "text");
    const struct vlm_file_tensor * vfc = NULL, * tfc = NULL;
    if (hp->hf) {
        vfc = st_find(st, "vision_model.encoder.layers.0.mlp.fc1.weight");
        tfc = st_find(st, "text_model.encoder.layers.0.mlp.fc1.weight");
    } else {
        vfc = st_find(st, "visual.transformer.resblocks.0.mlp.c_fc.weight");
        tfc = st_find(st, "transformer.resblocks.0.mlp.c_fc.weight");
    }
    if (!vfc || !tfc || vfc->n_dims != 2 || tfc->n_dims != 2)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: CLIP block 0 has no MLP weights", path);
    hp->v_mlp = (int32_t)vfc->shape[0];
    hp->t_mlp = (int32_t)tfc->shape[0];
    // ref: build_model: transformer_heads = transformer_width // 64; CLIP: vision_heads = vision_width // 64
    hp->v_heads = hp->v_width / 64 > 0 ? hp->v_width / 64 : 1;
    hp->t_heads = hp->t_width / 64 > 0 ? hp->t_width / 64 : 1;
    return VLM_STATUS_OK;
}

// Bytes of activations of one forward over n sequences of t tokens of width d, MLP m (the
// peak of clip_tower_forward plus the embedding stage), with the arena's 256-byte rounding.
static size_t tower_bytes(int64_t n, int64_t t, int64_t d, int64_t m, int64_t extra_floats) {
    int64_t ntd = n * t * d, ntm = n * t * m;
    int64_t attn = 8 * ntd, mlp = 3 * ntd + 2 * ntm;
    int64_t floats = extra_floats + 3 * ntd + (attn > mlp ? attn : mlp);
    return (size_t)floats * 4 + 64 * 256;
}

static size_t vision_bytes(const struct clip_hparams * hp, int64_t n) {
    int64_t s = hp->image_size, t = (int64_t)hp->grid * hp->grid + 1;
    int64_t extra = n * 3 * s * s + n * (int64_t)hp->v_width * hp->grid * hp->grid + 4 * n * hp->v_width;
    return tower_bytes(n, t, hp->v_width, hp->v_mlp, extra);
}

static size_t text_bytes(const struct clip_hparams * hp, int64_t n) {
    int64_t extra = n * hp->context + 4 * n * hp->t_width + n * hp->embed_dim;
    return tower_bytes(n, hp->context, hp->t_width, hp->t_mlp, extra);
}

static void clip_chunks(const struct clip_hparams * hp, int32_t * vision_chunk, int32_t * text_chunk, size_t * arena) {
    int32_t vc = 1, tc = 1;
    while (vc < CLIP_MAX_VISION_CHUNK && vision_bytes(hp, vc + 1) <= CLIP_CHUNK_BUDGET) vc++;
    while (tc < CLIP_MAX_TEXT_CHUNK && text_bytes(hp, tc + 1) <= CLIP_CHUNK_BUDGET) tc++;
    size_t v = vision_bytes(hp, vc), t = text_bytes(hp, tc);
    size_t peak = v > t ? v : t;
    *vision_chunk = vc;
    *text_chunk = tc;
    *arena = peak + peak / 4 + (4u << 20);
}

static bool hp_sane(const struct clip_hparams * hp) {
    // Bounds that keep every size computation far from overflow.
    return hp->v_width <= 65536 && hp->t_width <= 65536 && hp->v_mlp > 0 && hp->v_mlp <= 1 << 20 && hp->t_mlp > 0 &&
           hp->t_mlp <= 1 << 20 && hp->context <= 65536 && hp->image_size <= 16384 && hp->embed_dim > 0 &&
           hp->embed_dim <= 65536;
}

enum vlm_status vlm_clip_arena_bytes(const struct vlm_model_source * src, size_t * arena) {
    struct clip_hparams hp;
    *arena = 0;   // not a CLIP ViT: init reports why
    if (clip_infer(src->file, "model", &hp) != VLM_STATUS_OK || !hp_sane(&hp)) return VLM_STATUS_OK;
    int32_t vc, tc;
    clip_chunks(&hp, &vc, &tc, arena);
    return VLM_STATUS_OK;
}

// ---- config.json -----------------------------------------------------------------------------
// Settings that shapes cannot tell (heads, activations, eps, pixel normalization), from
// config.json or open_clip_config.json next to the model (the source's config, parsed by
// vlm_clip_config_parse, model-config.c); the sizes it gives must agree with the tensors.
static enum vlm_status clip_config(const struct vlm_model_source * src, struct clip_hparams * hp, struct vlm_clip_model * c) {
    if (!src->config) return VLM_STATUS_OK;
    const char * path = src->config_path;
    struct vlm_clip_config cfg;
    enum vlm_status st = vlm_clip_config_parse(src->config, src->config_len, path, &cfg);
    if (st != VLM_STATUS_OK) return st;
    // sizes the config gives must be the tensors'
    const struct { const int32_t * given; int32_t tensors; } checks[] = {
        { &cfg.embed_dim, hp->embed_dim }, { &cfg.image_size, hp->image_size }, { &cfg.patch, hp->patch },
        { &cfg.vision_width, hp->v_width }, { &cfg.vision_layers, hp->v_layers }, { &cfg.context, hp->context },
        { &cfg.vocab, hp->vocab }, { &cfg.text_width, hp->t_width }, { &cfg.text_layers, hp->t_layers },
    };
    for (size_t i = 0; i < sizeof checks / sizeof *checks; i++)
        if (*checks[i].given && *checks[i].given != checks[i].tensors)
            return vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s is %d but the tensors say %d", path,
                             vlm_clip_config_key(&cfg, checks[i].given), *checks[i].given, checks[i].tensors);
    if (cfg.has_pixel_norm) {
        memcpy(c->mean, cfg.pixel_mean, sizeof c->mean);
        memcpy(c->std, cfg.pixel_std, sizeof c->std);
    }
    if (cfg.text_heads) hp->t_heads = cfg.text_heads;
    if (cfg.vision_heads) hp->v_heads = cfg.vision_heads;
    if (cfg.vision_head_width && hp->v_width % cfg.vision_head_width == 0) hp->v_heads = hp->v_width / cfg.vision_head_width;
    if (cfg.has_vision_act) c->vision.act = cfg.vision_act;
    if (cfg.has_text_act) c->text.act = cfg.text_act;
    if (cfg.vision_eps > 0) c->vision.eps = cfg.vision_eps;
    if (cfg.text_eps > 0) c->text.eps = cfg.text_eps;
    if (hp->v_width % hp->v_heads != 0 || hp->t_width % hp->t_heads != 0)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: %d heads do not divide width %d", path,
                         hp->v_width % hp->v_heads ? hp->v_heads : hp->t_heads,
                         hp->v_width % hp->v_heads ? hp->v_width : hp->t_width);
    return VLM_STATUS_OK;
}

// ---- weights ---------------------------------------------------------------------------------
#define SHAPE(...) ((const int64_t[]){ __VA_ARGS__ })

// ref: clip/model.py ResidualAttentionBlock (nn.MultiheadAttention in_proj packs q, k, v)
static const struct vlm_vit_block_names openai_block_names = {
    .ln1_w = "ln_1.weight", .ln1_b = "ln_1.bias", .ln2_w = "ln_2.weight", .ln2_b = "ln_2.bias",
    .qkv_w = "attn.in_proj_weight", .qkv_b = "attn.in_proj_bias",
    .out_w = "attn.out_proj.weight", .out_b = "attn.out_proj.bias",
    .fc1_w = "mlp.c_fc.weight", .fc1_b = "mlp.c_fc.bias", .fc2_w = "mlp.c_proj.weight", .fc2_b = "mlp.c_proj.bias",
};

// ref: transformers models/clip/modeling_clip.py CLIPEncoderLayer
static const struct vlm_vit_block_names hf_block_names = {
    .ln1_w = "layer_norm1.weight", .ln1_b = "layer_norm1.bias", .ln2_w = "layer_norm2.weight",
    .ln2_b = "layer_norm2.bias",
    .q_w = "self_attn.q_proj.weight", .q_b = "self_attn.q_proj.bias", .k_w = "self_attn.k_proj.weight",
    .k_b = "self_attn.k_proj.bias", .v_w = "self_attn.v_proj.weight", .v_b = "self_attn.v_proj.bias",
    .out_w = "self_attn.out_proj.weight", .out_b = "self_attn.out_proj.bias",
    .fc1_w = "mlp.fc1.weight", .fc1_b = "mlp.fc1.bias", .fc2_w = "mlp.fc2.weight", .fc2_b = "mlp.fc2.bias",
};

static enum vlm_status bind_blocks(struct vlm_model * m, struct vlm_vit_tower * tw, bool hf, const char * prefix) {
    tw->blocks = calloc((size_t)tw->layers, sizeof *tw->blocks);
    if (!tw->blocks) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    for (int32_t l = 0; l < tw->layers; l++) {
        vlm_vit_block_bind(m->ctx, m->weights, tw, hf ? &hf_block_names : &openai_block_names, prefix, l, &tw->blocks[l]);
        if (!vlm_ctx_ok(m->ctx)) return vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s", m->src.path, m->ctx->error);
    }
    return VLM_STATUS_OK;
}

static void model_dir(const char * path, char * out, size_t n) {
    snprintf(out, n, "%s", path);
    char * slash = strrchr(out, '/');
    if (slash) *slash = 0;
    else snprintf(out, n, ".");
}

static bool file_exists(const char * p) { return access(p, R_OK) == 0; }

bool vlm_clip_find_asset(const char * name, char * out, size_t out_size) {
    const char * env = getenv("VLM_ASSETS");
    if (env && *env) {
        snprintf(out, out_size, "%s/%s", env, name);
        if (file_exists(out)) return true;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char * slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        // an install (bin/../share/vlm), next to the executable, the build dir's source tree (build/, build/tests/)
        static const char * const rel[] = { VLM_ASSETS_REL, "assets", "../assets", "../../assets" };
        for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
            snprintf(out, out_size, "%s/%s/%s", exe, rel[i], name);
            if (file_exists(out)) return true;
        }
    }
    const char * src = getenv("VLM_SOURCE_DIR");
    if (src && *src) {
        snprintf(out, out_size, "%s/assets/%s", src, name);
        if (file_exists(out)) return true;
    }
    Dl_info dl;   // a program linked with an installed libvlm.so: lib/../share/vlm
    if (dladdr((void *)vlm_clip_find_asset, &dl) && dl.dli_fname && strchr(dl.dli_fname, '/')) {
        snprintf(exe, sizeof exe, "%s", dl.dli_fname);
        *strrchr(exe, '/') = 0;
        snprintf(out, out_size, "%s/%s/%s", exe, VLM_ASSETS_REL_LIB, name);
        if (file_exists(out)) return true;
    }
    snprintf(out, out_size, "%s/%s", VLM_ASSETS_INSTALLED, name);   // the configured prefix
    return file_exists(out);
}

// The BPE vocabulary: next to the model (OpenAI's gz merges file, or HF vocab.json +
// merges.txt), else the copy of OpenAI's file in assets/.
static void clip_load_tokenizer(struct vlm_model * m, struct vlm_clip_model * c) {
    char dir[1024], p1[1200], p2[1200];
    model_dir(m->src.path, dir, sizeof dir);
    enum vlm_status st = VLM_STATUS_UNSUPPORTED;
    snprintf(p1, sizeof p1, "%s/bpe_simple_vocab_16e6.txt.gz", dir);
    snprintf(p2, sizeof p2, "%s/vocab.json", dir);
    if (file_exists(p1)) {
        st = vlm_clip_tokenizer_load(p1, &c->tokenizer);
    } else if (file_exists(p2)) {
        st = vlm_clip_tokenizer_load(dir, &c->tokenizer);
    } else if (vlm_clip_find_asset("bpe_simple_vocab_16e6.txt.gz", p1, sizeof p1)) {
        st = vlm_clip_tokenizer_load(p1, &c->tokenizer);
    } else {
        snprintf(c->tokenizer_error, sizeof c->tokenizer_error,
                 "%s: no CLIP BPE vocabulary: put bpe_simple_vocab_16e6.txt.gz (or vocab.json + merges.txt) next to "
                 "the model, or set VLM_ASSETS to the assets folder",
                 m->src.path);
        return;
    }
    if (st != VLM_STATUS_OK) {
        c->tokenizer = NULL;
        snprintf(c->tokenizer_error, sizeof c->tokenizer_error, "%s", vlm_last_error());
    }
}

enum vlm_status vlm_clip_model_init(struct vlm_model * m) {
    if (!m || !m->ctx || !m->src.file || !m->weights) return vlm_error(VLM_STATUS_INVALID_ARG, "clip init: model not loaded");
    struct clip_hparams hp;
    enum vlm_status st = clip_infer(m->src.file, m->src.path, &hp);
    if (st != VLM_STATUS_OK) return st;
    if (!hp_sane(&hp)) return vlm_error(VLM_STATUS_BAD_MODEL, "%s: CLIP dimensions out of range", m->src.path);
    struct vlm_clip_model * c = calloc(1, sizeof *c);
    if (!c) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    // ref: clip/model.py LayerNorm (eps 1e-5), QuickGELU; HF configs may say otherwise
    c->vision.eps = c->text.eps = 1e-5f;
    c->vision.act = c->text.act = VLM_UNARY_QUICK_GELU;
    memcpy(c->mean, vlm_clip_pixel_mean, sizeof c->mean);
    memcpy(c->std, vlm_clip_pixel_std, sizeof c->std);
    if ((st = clip_config(&m->src, &hp, c)) != VLM_STATUS_OK) goto fail;

    c->hf_names = hp.hf;
    c->embed_dim = hp.embed_dim;
    c->image_size = hp.image_size;
    c->patch = hp.patch;
    c->grid = hp.grid;
    c->context = hp.context;
    c->vocab = hp.vocab;
    c->vision.width = hp.v_width;
    c->vision.layers = hp.v_layers;
    c->vision.heads = hp.v_heads;
    c->vision.mlp = hp.v_mlp;
    c->text.width = hp.t_width;
    c->text.layers = hp.t_layers;
    c->text.heads = hp.t_heads;
    c->text.mlp = hp.t_mlp;
    size_t arena;
    clip_chunks(&hp, &c->vision_chunk, &c->text_chunk, &arena);
    if (m->ctx->arena_size < arena) {
        st = vlm_error(VLM_STATUS_INVALID_ARG, "%s: activation arena %zu bytes, CLIP needs %zu", m->src.path,
                       m->ctx->arena_size, arena);
        goto fail;
    }

    struct vlm_ctx * x = m->ctx;
    const struct vlm_weights * w = m->weights;
    int64_t dv = hp.v_width, dt = hp.t_width, e = hp.embed_dim, p = hp.patch;
    int64_t nv = (int64_t)hp.grid * hp.grid + 1;
    if (!hp.hf) {
        // ref: clip/model.py VisionTransformer.__init__ / CLIP.__init__
        c->conv1_w    = vlm_weights_get(x, w, "visual.conv1.weight", 4, SHAPE(dv, 3, p, p));
        c->class_emb  = vlm_weights_get(x, w, "visual.class_embedding", 1, SHAPE(dv));
        c->vis_pos    = vlm_weights_get(x, w, "visual.positional_embedding", 2, SHAPE(nv, dv));
        c->ln_pre_w   = vlm_weights_get(x, w, "visual.ln_pre.weight", 1, SHAPE(dv));
        c->ln_pre_b   = vlm_weights_get(x, w, "visual.ln_pre.bias", 1, SHAPE(dv));
        c->ln_post_w  = vlm_weights_get(x, w, "visual.ln_post.weight", 1, SHAPE(dv));
        c->ln_post_b  = vlm_weights_get(x, w, "visual.ln_post.bias", 1, SHAPE(dv));
        c->vis_proj   = vlm_weights_get(x, w, "visual.proj", 2, SHAPE(dv, e));
        c->tok_emb    = vlm_weights_get(x, w, "token_embedding.weight", 2, SHAPE(hp.vocab, dt));
        c->txt_pos    = vlm_weights_get(x, w, "positional_embedding", 2, SHAPE(hp.context, dt));
        c->ln_final_w = vlm_weights_get(x, w, "ln_final.weight", 1, SHAPE(dt));
        c->ln_final_b = vlm_weights_get(x, w, "ln_final.bias", 1, SHAPE(dt));
        c->txt_proj   = vlm_weights_get(x, w, "text_projection", 2, SHAPE(dt, e));
    } else {
        // ref: transformers modeling_clip.py CLIPVisionEmbeddings / CLIPTextEmbeddings / CLIPModel
        c->conv1_w    = vlm_weights_get(x, w, "vision_model.embeddings.patch_embedding.weight", 4, SHAPE(dv, 3, p, p));
        c->class_emb  = vlm_weights_get(x, w, "vision_model.embeddings.class_embedding", 1, SHAPE(dv));
        c->vis_pos    = vlm_weights_get(x, w, "vision_model.embeddings.position_embedding.weight", 2, SHAPE(nv, dv));
        c->ln_pre_w   = vlm_weights_get(x, w, "vision_model.pre_layrnorm.weight", 1, SHAPE(dv));   // sic
        c->ln_pre_b   = vlm_weights_get(x, w, "vision_model.pre_layrnorm.bias", 1, SHAPE(dv));
        c->ln_post_w  = vlm_weights_get(x, w, "vision_model.post_layernorm.weight", 1, SHAPE(dv));
        c->ln_post_b  = vlm_weights_get(x, w, "vision_model.post_layernorm.bias", 1, SHAPE(dv));
        c->vis_proj   = vlm_weights_get(x, w, "visual_projection.weight", 2, SHAPE(e, dv));
        c->tok_emb    = vlm_weights_get(x, w, "text_model.embeddings.token_embedding.weight", 2, SHAPE(hp.vocab, dt));
        c->txt_pos    = vlm_weights_get(x, w, "text_model.embeddings.position_embedding.weight", 2, SHAPE(hp.context, dt));
        c->ln_final_w = vlm_weights_get(x, w, "text_model.final_layer_norm.weight", 1, SHAPE(dt));
        c->ln_final_b = vlm_weights_get(x, w, "text_model.final_layer_norm.bias", 1, SHAPE(dt));
        c->txt_proj   = vlm_weights_get(x, w, "text_projection.weight", 2, SHAPE(e, dt));
    }
    if (!vlm_ctx_ok(x)) {
        st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s", m->src.path, x->error);
        goto fail;
    }
    if ((st = bind_blocks(m, &c->vision, hp.hf, hp.hf ? "vision_model.encoder.layers." : "visual.transformer.resblocks.")) !=
            VLM_STATUS_OK ||
        (st = bind_blocks(m, &c->text, hp.hf, hp.hf ? "text_model.encoder.layers." : "transformer.resblocks.")) !=
            VLM_STATUS_OK)
        goto fail;

    // logit_scale: a scalar ([] or [1]) read from the mapped file; exp() as CLIP.forward does.
    const struct vlm_file_tensor * ls = vlm_safetensors_find(m->src.file, "logit_scale");
    float raw = logf(1.0f / 0.07f);   // ref: CLIP.__init__ initial value, used when absent
    if (ls) {
        if (ls->nbytes != vlm_dtype_size(ls->dtype) || (ls->dtype != VLM_DTYPE_F32 && ls->dtype != VLM_DTYPE_F16 &&
                                                         ls->dtype != VLM_DTYPE_BF16)) {
            st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: logit_scale is not a float scalar", m->src.path);
            goto fail;
        }
        vlm_dtype_traits(ls->dtype)->to_f32(ls->data, &raw, 1);
    }
    if (!isfinite(raw) || raw > 20.0f) {
        st = vlm_error(VLM_STATUS_NON_FINITE, "%s: logit_scale %g is not usable", m->src.path, (double)raw);
        goto fail;
    }
    c->logit_scale = expf(raw);
    clip_load_tokenizer(m, c);
    m->arch = c;
    return VLM_STATUS_OK;
fail:
    vlm_clip_model_free(c);
    return st;
}

void vlm_clip_model_free(struct vlm_clip_model * c) {
    if (!c) return;
    free(c->vision.blocks);
    free(c->text.blocks);
    vlm_clip_tokenizer_free(c->tokenizer);
    free(c);
}

// Every tensor with these suffixes is used only by vlm_op_linear (rows of in_proj_weight too).
const char * const vlm_clip_linear_weights[] = { "attn.in_proj_weight", "attn.out_proj.weight", "mlp.c_fc.weight",
                                                 "mlp.c_proj.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
                                                 "self_attn.v_proj.weight", "self_attn.out_proj.weight", "mlp.fc1.weight",
                                                 "mlp.fc2.weight", NULL };

// ---- forward ---------------------------------------------------------------------------------
// The last block for the pooled tokens only: every token still provides keys and values, but
// queries, the output projection and the MLP run on one row per sequence (the class token,
// or the EOT token), which is all that ln_post / ln_final read. rows: I32 [B] indices into the
// flattened [B*T] tokens; mask: NULL or [B, 1, 1, T] additive (the causal row of the EOT
// query). Returns the block's output for those rows, [B, D] (allocated in the arena).
static struct vlm_tensor block_forward_rows(struct vlm_ctx * ctx, const struct vlm_vit_tower * tw,
                                           const struct vlm_vit_block * b, struct vlm_tensor x, struct vlm_tensor rows,
                                           const struct vlm_tensor * mask) {
    int64_t bsz = x.shape[0], t = x.shape[1], d = tw->width, heads = tw->heads, hd = d / heads;
    struct vlm_tensor y = vlm_tensor_new(ctx, VLM_DTYPE_F32, 3, SHAPE(bsz, 1, d));    // [B, 1, D] result
    size_t mark = vlm_arena_mark(ctx);
    struct vlm_tensor h = vlm_op_layer_norm(ctx, x, &b->ln1_w, &b->ln1_b, tw->eps);   // [B, T, D]
    struct vlm_tensor hs = vlm_op_gather(ctx, vlm_tensor_reshape(h, 2, SHAPE(bsz * t, d)), rows);   // [B, D]
    hs = vlm_tensor_reshape(hs, 3, SHAPE(bsz, 1, d));
    struct vlm_tensor q, k, v;
    if (b->qkv_w.n_dims) {
        struct vlm_tensor wq = vlm_tensor_slice(b->qkv_w, 0, 0, d), bq = vlm_tensor_slice(b->qkv_b, 0, 0, d);
        struct vlm_tensor wkv = vlm_tensor_slice(b->qkv_w, 0, d, 2 * d), bkv = vlm_tensor_slice(b->qkv_b, 0, d, 2 * d);
        q = vlm_vit_heads_view(vlm_op_linear(ctx, hs, wq, &bq), 0, heads, hd);                 // [B, H, 1, hd]
        struct vlm_tensor kv = vlm_op_linear(ctx, h, wkv, &bkv);                        // [B, T, 2D]
        k = vlm_vit_heads_view(kv, 0, heads, hd);                                               // [B, H, T, hd]
        v = vlm_vit_heads_view(kv, d, heads, hd);
    } else {
        q = vlm_vit_heads_view(vlm_op_linear(ctx, hs, b->q_w, &b->q_b), 0, heads, hd);
        k = vlm_vit_heads_view(vlm_op_linear(ctx, h, b->k_w, &b->k_b), 0, heads, hd);
        v = vlm_vit_heads_view(vlm_op_linear(ctx, h, b->v_w, &b->v_b), 0, heads, hd);
    }
    if (!vlm_ctx_ok(ctx)) return y;
    struct vlm_attention_params ap = { .scale = 1.0f / sqrtf((float)hd), .mask = mask };
    struct vlm_tensor a = vlm_op_attention(ctx, q, k, v, &ap);                          // [B, H, 1, hd]
    a = vlm_op_copy(ctx, vlm_tensor_permute(a, (const int32_t[]){ 0, 2, 1, 3 }), VLM_DTYPE_F32);
    a = vlm_tensor_reshape(a, 3, SHAPE(bsz, 1, d));
    a = vlm_op_linear(ctx, a, b->out_w, &b->out_b);
    struct vlm_tensor xs = vlm_op_gather(ctx, vlm_tensor_reshape(x, 2, SHAPE(bsz * t, d)), rows);   // [B, D]
    struct vlm_tensor r = vlm_op_add(ctx, vlm_tensor_reshape(xs, 3, SHAPE(bsz, 1, d)), a);          // [B, 1, D]
    h = vlm_op_layer_norm(ctx, r, &b->ln2_w, &b->ln2_b, tw->eps);
    h = vlm_op_linear(ctx, h, b->fc1_w, &b->fc1_b);                                     // [B, 1, M]
    h = vlm_op_unary(ctx, tw->act, h);
    h = vlm_op_linear(ctx, h, b->fc2_w, &b->fc2_b);
    vlm_op_copy_into(ctx, y, vlm_op_add(ctx, r, h));
    vlm_arena_reset(ctx, mark);
    return vlm_tensor_reshape(y, 2, SHAPE(bsz, d));
}

// Output projection: OpenAI x @ proj ([D, E], plain matmul); HF Linear weight [E, D].
static struct vlm_tensor project(struct vlm_ctx * ctx, const struct vlm_clip_model * c, struct vlm_tensor x /*[B, D]*/,
                                 struct vlm_tensor proj) {
    if (c->hf_names) return vlm_op_linear(ctx, x, proj, NULL);                          // [B, E]
    int64_t bsz = x.shape[0], d = x.shape[1], e = proj.shape[1];
    struct vlm_tensor a = vlm_tensor_reshape(x, 3, SHAPE(1, bsz, d));
    struct vlm_tensor p = vlm_tensor_reshape(proj, 3, SHAPE(1, d, e));
    return vlm_tensor_reshape(vlm_op_matmul(ctx, a, p), 2, SHAPE(bsz, e));               // [B, E]
}

static enum vlm_status finish(struct vlm_ctx * ctx, const char * what) {
    if (vlm_ctx_sync(ctx) != VLM_STATUS_OK || !vlm_ctx_ok(ctx))
        return vlm_error(ctx->status ? ctx->status : VLM_STATUS_DEVICE_LOST, "clip %s: %s", what, ctx->error);
    return VLM_STATUS_OK;
}

// ref: clip/model.py VisionTransformer.forward on one chunk of n images.
static enum vlm_status vision_chunk(struct vlm_model * m, struct vlm_ctx * ctx, const float * pixels, int32_t n, float * out) {
    const struct vlm_clip_model * c = vlm_clip_of(m);
    int64_t s = c->image_size, d = c->vision.width, g = c->grid, np = g * g, t = np + 1;
    size_t mark = vlm_arena_mark(ctx);
    struct vlm_tensor img = vlm_tensor_from_host(ctx, VLM_DTYPE_F32, 4, SHAPE(n, 3, s, s), pixels);   // [B, 3, S, S]
    struct vlm_tensor p = vlm_op_conv2d(ctx, img, c->conv1_w, NULL, c->patch, 0);        // [B, D, g, g]
    p = vlm_tensor_reshape(p, 3, SHAPE(n, d, np));
    p = vlm_tensor_permute(p, (const int32_t[]){ 0, 2, 1 });                             // [B, g*g, D] (row-major patches)
    // x = cat([class_embedding, patches]) + positional_embedding, written row block by row block
    struct vlm_tensor x = vlm_tensor_new(ctx, VLM_DTYPE_F32, 3, SHAPE(n, t, d));        // [B, T, D]
    struct vlm_tensor pos = vlm_tensor_reshape(c->vis_pos, 3, SHAPE(1, t, d));
    vlm_op_copy_into(ctx, vlm_tensor_slice(x, 1, 1, np), vlm_op_add(ctx, p, vlm_tensor_slice(pos, 1, 1, np)));
    struct vlm_tensor cls = vlm_op_add(ctx, vlm_tensor_reshape(c->class_emb, 3, SHAPE(1, 1, d)),
                                       vlm_tensor_slice(pos, 1, 0, 1));                  // [1, 1, D]
    for (int32_t i = 0; i < n; i++) vlm_op_copy_into(ctx, vlm_tensor_slice(vlm_tensor_slice(x, 0, i, 1), 1, 0, 1), cls);
    x = vlm_op_layer_norm(ctx, x, &c->ln_pre_w, &c->ln_pre_b, c->vision.eps);          // [B, T, D]
    if (!vlm_ctx_ok(ctx)) goto done;
    int32_t * cls_rows = malloc(sizeof *cls_rows * (size_t)n);
    if (!cls_rows) {
        vlm_ctx_fail(ctx, VLM_STATUS_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    for (int32_t i = 0; i < n; i++) cls_rows[i] = (int32_t)(i * t);   // the class token of each image
    struct vlm_tensor rows = vlm_tensor_from_host(ctx, VLM_DTYPE_I32, 1, SHAPE(n), cls_rows);
    free(cls_rows);
    for (int32_t l = 0; l + 1 < c->vision.layers; l++) vlm_vit_block_forward(ctx, &c->vision, &c->vision.blocks[l], x, false);
    struct vlm_tensor cl = block_forward_rows(ctx, &c->vision, &c->vision.blocks[c->vision.layers - 1], x, rows, NULL);
    // ln_post on the class token, then the projection
    cl = vlm_op_layer_norm(ctx, cl, &c->ln_post_w, &c->ln_post_b, c->vision.eps);     // [B, D]
    struct vlm_tensor f = project(ctx, c, cl, c->vis_proj);                             // [B, E]
    if (vlm_ctx_ok(ctx)) vlm_tensor_download(ctx, f, out);
done:;
    enum vlm_status st = finish(ctx, "image encoder");
    vlm_arena_reset(ctx, mark);
    return st;
}

// token_embedding[ids] for n ids -> [n, D] (a table larger than a device binding is split by the backend).
static struct vlm_tensor embed_tokens(struct vlm_ctx * ctx, const struct vlm_clip_model * c, const int32_t * ids,
                                      int64_t n) {
    return vlm_op_gather(ctx, c->tok_emb, vlm_tensor_from_host(ctx, VLM_DTYPE_I32, 1, SHAPE(n), ids));
}

// ref: clip/model.py CLIP.encode_text on one chunk of n token rows [n, context].
// Positions after the last pooled (EOT) token never reach a pooled vector under the causal
// mask, so the sequence is cut to the longest prefix any row needs: exact and much cheaper.
static enum vlm_status text_chunk(struct vlm_model * m, struct vlm_ctx * ctx, const int32_t * tokens, int32_t n, float * out) {
    const struct vlm_clip_model * c = vlm_clip_of(m);
    int64_t d = c->text.width, ctxlen = c->context;
    int32_t * ids = malloc(sizeof *ids * (size_t)n * (size_t)ctxlen);
    int32_t * rows = malloc(sizeof *rows * (size_t)n);
    float * mask = malloc(sizeof *mask * (size_t)n * (size_t)ctxlen);
    if (!ids || !rows || !mask) {
        free(ids), free(rows), free(mask);
        return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    // ref: encode_text: x[arange(B), text.argmax(dim=-1)] (first maximum, EOT is the largest id)
    int64_t len = 1;
    for (int32_t i = 0; i < n; i++) {
        const int32_t * r = tokens + (size_t)i * ctxlen;
        int32_t best = 0;
        for (int64_t j = 1; j < ctxlen; j++)
            if (r[j] > r[best]) best = (int32_t)j;
        rows[i] = best;
        if (best + 1 > len) len = best + 1;
    }
    for (int32_t i = 0; i < n; i++) {
        memcpy(ids + (size_t)i * len, tokens + (size_t)i * ctxlen, sizeof *ids * (size_t)len);
        rows[i] += (int32_t)(i * len);
    }
    size_t mark = vlm_arena_mark(ctx);
    // x = token_embedding[ids] + positional_embedding[:L] (temporaries released right away)
    struct vlm_tensor x = vlm_tensor_new(ctx, VLM_DTYPE_F32, 3, SHAPE(n, len, d));      // [B, L, D]
    size_t mark_e = vlm_arena_mark(ctx);
    struct vlm_tensor emb = embed_tokens(ctx, c, ids, n * len);                         // [B*L, D]
    struct vlm_tensor pos = vlm_tensor_reshape(vlm_tensor_slice(c->txt_pos, 0, 0, len), 3, SHAPE(1, len, d));
    if (vlm_ctx_ok(ctx)) vlm_op_copy_into(ctx, x, vlm_op_add(ctx, vlm_tensor_reshape(emb, 3, SHAPE(n, len, d)), pos));
    vlm_arena_reset(ctx, mark_e);
    if (!vlm_ctx_ok(ctx)) goto done;
    // the EOT query of each row sees keys 0..eot (the causal mask's row)
    for (int32_t i = 0; i < n; i++)
        for (int64_t j = 0; j < len; j++) mask[(size_t)i * len + j] = j <= rows[i] - i * len ? 0.0f : -INFINITY;
    struct vlm_tensor r = vlm_tensor_from_host(ctx, VLM_DTYPE_I32, 1, SHAPE(n), rows);
    struct vlm_tensor mk = vlm_tensor_from_host(ctx, VLM_DTYPE_F32, 4, SHAPE(n, 1, 1, len), mask);
    for (int32_t l = 0; l + 1 < c->text.layers; l++) vlm_vit_block_forward(ctx, &c->text, &c->text.blocks[l], x, true);
    struct vlm_tensor e = block_forward_rows(ctx, &c->text, &c->text.blocks[c->text.layers - 1], x, r, &mk);   // [B, D]
    // ln_final is per token: normalizing only the pooled rows is the same
    e = vlm_op_layer_norm(ctx, e, &c->ln_final_w, &c->ln_final_b, c->text.eps);
    struct vlm_tensor f = project(ctx, c, e, c->txt_proj);                              // [B, E]
    if (vlm_ctx_ok(ctx)) vlm_tensor_download(ctx, f, out);
done:;
    enum vlm_status st = finish(ctx, "text encoder");
    vlm_arena_reset(ctx, mark);
    free(ids);
    free(rows);
    free(mask);
    return st;
}

enum vlm_status vlm_clip_forward_images(struct vlm_model * m, const float * pixels, int32_t n, float * out) {
    if (!vlm_clip_of(m)) return vlm_error(VLM_STATUS_UNSUPPORTED, "not a CLIP model");
    const struct vlm_clip_model * c = vlm_clip_of(m);
    size_t per = (size_t)3 * c->image_size * c->image_size;
    struct vlm_ctx * x = vlm_model_ctx_acquire(m);   // calls from several threads run in parallel
    enum vlm_status st = x ? VLM_STATUS_OK : vlm_last_status();
    for (int32_t i = 0; i < n && st == VLM_STATUS_OK; i += c->vision_chunk) {
        int32_t k = n - i < c->vision_chunk ? n - i : c->vision_chunk;
        st = vision_chunk(m, x, pixels + per * i, k, out + (size_t)c->embed_dim * i);
    }
    vlm_model_ctx_release(m, x);   // recovers it after an error
    return st;
}

struct text_len { int32_t len, index; };

static int text_len_cmp(const void * a, const void * b) {
    const struct text_len * x = a, * y = b;
    return x->len != y->len ? (x->len < y->len ? -1 : 1) : (x->index < y->index ? -1 : x->index > y->index);
}

enum vlm_status vlm_clip_forward_texts(struct vlm_model * m, const int32_t * tokens, int32_t n, float * out) {
    if (!vlm_clip_of(m)) return vlm_error(VLM_STATUS_UNSUPPORTED, "not a CLIP model");
    const struct vlm_clip_model * c = vlm_clip_of(m);
    for (size_t i = 0; i < (size_t)n * c->context; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab)
            return vlm_error(VLM_STATUS_INVALID_ARG, "clip text encoder: token id %d out of range (vocabulary %d)",
                             (int)tokens[i], (int)c->vocab);
    if (n <= 0) return VLM_STATUS_OK;
    if (n <= c->text_chunk) {   // one forward, in the caller's order
        struct vlm_ctx * x = vlm_model_ctx_acquire(m);
        enum vlm_status st = x ? text_chunk(m, x, tokens, n, out) : vlm_last_status();
        vlm_model_ctx_release(m, x);
        return st;
    }
    // Many texts: chunks of similar length (sorted by pooled position), so that little of
    // each chunk is padding; rows are gathered into and scattered out of the chunk buffers.
    size_t ctxlen = (size_t)c->context, e = (size_t)c->embed_dim;
    struct text_len * order = malloc(sizeof *order * (size_t)n);
    int32_t * tk = malloc(sizeof *tk * ctxlen * (size_t)c->text_chunk);
    float * fo = malloc(sizeof *fo * e * (size_t)c->text_chunk);
    enum vlm_status st = VLM_STATUS_OK;
    if (!order || !tk || !fo) {
        st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "clip text encoder: out of memory");
        goto done;
    }
    for (int32_t i = 0; i < n; i++) {
        const int32_t * r = tokens + (size_t)i * ctxlen;
        int32_t best = 0;
        for (size_t j = 1; j < ctxlen; j++)
            if (r[j] > r[best]) best = (int32_t)j;
        order[i] = (struct text_len){ best, i };
    }
    qsort(order, (size_t)n, sizeof *order, text_len_cmp);
    struct vlm_ctx * x = vlm_model_ctx_acquire(m);
    if (!x) st = vlm_last_status();
    for (int32_t i = 0; i < n && st == VLM_STATUS_OK; i += c->text_chunk) {
        int32_t k = n - i < c->text_chunk ? n - i : c->text_chunk;
        for (int32_t j = 0; j < k; j++)
            memcpy(tk + (size_t)j * ctxlen, tokens + (size_t)order[i + j].index * ctxlen, sizeof *tk * ctxlen);
        st = text_chunk(m, x, tk, k, fo);
        for (int32_t j = 0; j < k && st == VLM_STATUS_OK; j++)
            memcpy(out + (size_t)order[i + j].index * e, fo + (size_t)j * e, sizeof *fo * e);
    }
    vlm_model_ctx_release(m, x);
done:
    free(order);
    free(tk);
    free(fo);
    return st;
}
