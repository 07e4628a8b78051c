// smolvlm-vision.c — SmolVLM / Idefics3 vision side as llama.cpp's libmtmd runs it: mmproj
// GGUF loading, the idefics3 tiling and the SigLIP encoder + connector (see smolvlm-vision.h).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf-meta.h"
#include "image.h"
#include "smolvlm-vision.h"

#define SHAPE(...) ((const int64_t[]){ __VA_ARGS__ })

// Activation budget of one forward: tiles are encoded in chunks that fit in it.
#define VISION_CHUNK_BUDGET ((size_t)256 << 20)
#define VISION_MAX_CHUNK    64

// ---- projectors ------------------------------------------------------------------------------
// Everything that depends on clip.projector_type is in one entry of this table: its own
// metadata keys, its tensors, its output tokens per tile and the forward pass after the tower.
struct projector {
    const char * name;
    enum vlm_status (*read_hparams)(const struct vlm_gguf * g, const char * path, struct vlm_mmproj_hparams * hp);
    int32_t (*tokens_per_tile)(const struct vlm_mmproj_hparams * hp);
    enum vlm_status (*bind)(struct vlm_smolvlm_vision * v);
    // x [B, T, D] (the tower's output) -> [B, tokens_per_tile, projection_dim]
    struct vlm_tensor (*forward)(struct vlm_ctx * ctx, const struct vlm_smolvlm_vision * v, struct vlm_tensor x);
};

static int32_t patch_grid(const struct vlm_mmproj_hparams * hp) { return hp->image_size / hp->patch_size; }

// ref: llama.cpp tools/mtmd/clip.cpp clip_model_loader::load_hparams, case PROJECTOR_TYPE_IDEFICS3
static enum vlm_status idefics3_read_hparams(const struct vlm_gguf * g, const char * path,
                                             struct vlm_mmproj_hparams * hp) {
    int64_t sf = 1, le = 0;
    vlm_gguf_get_int(g, "clip.vision.projector.scale_factor", &sf);
    vlm_gguf_get_int(g, "clip.vision.preproc_image_size", &le);
    // ref: clip_graph::build_patch_merge_permute asserts scale_factor > 1; the grid is not padded here
    if (sf < 2 || patch_grid(hp) % sf != 0)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: clip.vision.projector.scale_factor %lld does not divide the %d-patch "
                         "grid into blocks of at least 2", path, (long long)sf, patch_grid(hp));
    if (le < 0 || le > 65536)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: clip.vision.preproc_image_size %lld out of range", path, (long long)le);
    hp->scale_factor = (int32_t)sf;
    hp->longest_edge = (int32_t)le;
    return VLM_STATUS_OK;
}

static int32_t idefics3_tokens_per_tile(const struct vlm_mmproj_hparams * hp) {
    int32_t n = patch_grid(hp) / hp->scale_factor;
    return n * n;
}

// ref: llama.cpp tools/mtmd/clip.cpp clip_model_loader::load_tensors (TN_MM_PROJECTOR "mm.model.fc")
static enum vlm_status idefics3_bind(struct vlm_smolvlm_vision * v) {
    int64_t s = v->hp.scale_factor;
    v->fc_w = vlm_weights_get(v->ctx, v->weights, "mm.model.fc.weight", 2,
                              SHAPE(v->hp.projection_dim, (int64_t)v->hp.n_embd * s * s));
    return VLM_STATUS_OK;
}

// ref: llama.cpp tools/mtmd/models/siglip.cpp clip_graph_siglip::build (PROJECTOR_TYPE_IDEFICS3) and
// tools/mtmd/clip.cpp clip_graph::build_patch_merge_permute: output token (R, C) of a tile is the
// concatenation over dy, dx (dy outer) of patch (s*R + dy, s*C + dx); channel (dy*s + dx)*D + e.
static struct vlm_tensor idefics3_forward(struct vlm_ctx * ctx, const struct vlm_smolvlm_vision * v, struct vlm_tensor x) {
    int64_t n = x.shape[0], d = v->hp.n_embd, s = v->hp.scale_factor, gs = patch_grid(&v->hp) / s;
    // x viewed as [B*gs, s (dy), gs, s*D]: s neighbouring columns are already adjacent
    struct vlm_tensor t = vlm_tensor_reshape(x, 4, SHAPE(n * gs, s, gs, s * d));
    t = vlm_op_copy(ctx, vlm_tensor_permute(t, (const int32_t[]){ 0, 2, 1, 3 }), VLM_DTYPE_F32);   // [B*gs, gs, s, s*D]
    t = vlm_tensor_reshape(t, 3, SHAPE(n, gs * gs, s * s * d));                                    // [B, tok, s*s*D]
    return vlm_op_linear(ctx, t, v->fc_w, NULL);                                                   // [B, tok, P]
}

static const struct projector projectors[VLM_MMPROJ_COUNT] = {
    [VLM_MMPROJ_IDEFICS3] = { "idefics3", idefics3_read_hparams, idefics3_tokens_per_tile, idefics3_bind,
                              idefics3_forward },
};

// ---- metadata --------------------------------------------------------------------------------
static enum vlm_status get_int(const struct vlm_gguf * g, const char * path, const char * key, int64_t lo, int64_t hi,
                               int32_t * out) {
    int64_t v;
    if (!vlm_gguf_get_int(g, key, &v)) return vlm_error(VLM_STATUS_BAD_MODEL, "%s: no integer metadata key %s", path, key);
    if (v < lo || v > hi)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s = %lld is out of range [%lld, %lld]", path, key, (long long)v,
                         (long long)lo, (long long)hi);
    *out = (int32_t)v;
    return VLM_STATUS_OK;
}

static enum vlm_status get_f32_triple(const struct vlm_gguf * g, const char * path, const char * key, float out[3]) {
    enum vlm_gguf_type et;
    uint64_t n;
    const void * data;
    if (!vlm_gguf_get_array(g, key, &et, &n, &data) || et != VLM_GGUF_TYPE_FLOAT32 || n < 3 || !data)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s must be an array of at least 3 float32", path, key);
    memcpy(out, data, 3 * sizeof *out);
    for (int i = 0; i < 3; i++)
        if (!isfinite(out[i])) return vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s holds a non-finite value", path, key);
    return VLM_STATUS_OK;
}

// ref: llama.cpp tools/mtmd/clip.cpp clip_model_loader::load_hparams (vision modality)
static enum vlm_status read_hparams(const struct vlm_gguf * g, const char * path, struct vlm_mmproj_hparams * hp) {
    memset(hp, 0, sizeof *hp);
    const char * arch = NULL, * proj = NULL;
    if (!vlm_gguf_get_str(g, "general.architecture", &arch))
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: no general.architecture: not a vision projector (mmproj) file", path);
    if (strcmp(arch, "clip") != 0)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: general.architecture is '%s', not 'clip': not a vision projector "
                         "(mmproj) file", path, arch);
    bool has_vision = false;
    if (!vlm_gguf_get_bool(g, "clip.has_vision_encoder", &has_vision) || !has_vision)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: clip.has_vision_encoder is not true: no vision encoder", path);
    if (!vlm_gguf_get_str(g, "clip.projector_type", &proj) && !vlm_gguf_get_str(g, "clip.vision.projector_type", &proj))
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: no clip.projector_type", path);
    hp->projector = VLM_MMPROJ_COUNT;
    for (int i = 0; i < VLM_MMPROJ_COUNT; i++)
        if (strcmp(proj, projectors[i].name) == 0) hp->projector = (enum vlm_mmproj_projector)i;
    if (hp->projector == VLM_MMPROJ_COUNT)
        return vlm_error(VLM_STATUS_UNSUPPORTED, "%s: clip.projector_type '%s' is not supported (supported: idefics3)",
                         path, proj);
    hp->projector_name = projectors[hp->projector].name;

    enum vlm_status st;
    if ((st = get_int(g, path, "clip.vision.embedding_length", 1, 65536, &hp->n_embd)) ||
        (st = get_int(g, path, "clip.vision.attention.head_count", 1, 4096, &hp->n_head)) ||
        (st = get_int(g, path, "clip.vision.feed_forward_length", 1, 1 << 20, &hp->n_ff)) ||
        (st = get_int(g, path, "clip.vision.block_count", 1, 1024, &hp->n_layer)) ||
        (st = get_int(g, path, "clip.vision.projection_dim", 1, 65536, &hp->projection_dim)) ||
        (st = get_int(g, path, "clip.vision.image_size", 1, 16384, &hp->image_size)) ||
        (st = get_int(g, path, "clip.vision.patch_size", 1, 16384, &hp->patch_size)))
        return st;
    double eps;
    if (!vlm_gguf_get_float(g, "clip.vision.attention.layer_norm_epsilon", &eps))
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: no float metadata key clip.vision.attention.layer_norm_epsilon", path);
    if (!(eps > 0 && eps < 1))
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: clip.vision.attention.layer_norm_epsilon %g out of range", path, eps);
    hp->eps = (float)eps;
    if (hp->n_embd % hp->n_head != 0)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: %d heads do not divide the width %d", path, hp->n_head, hp->n_embd);
    int64_t hd = hp->n_embd / hp->n_head, kv = hp->n_head;
    if (vlm_gguf_get_int(g, "clip.vision.attention.head_dim", &hd) && hd != hp->n_embd / hp->n_head)
        return vlm_error(VLM_STATUS_UNSUPPORTED, "%s: clip.vision.attention.head_dim %lld is not width / heads", path,
                         (long long)hd);
    if (vlm_gguf_get_int(g, "clip.vision.attention.head_count_kv", &kv) && kv != hp->n_head)
        return vlm_error(VLM_STATUS_UNSUPPORTED, "%s: clip.vision.attention.head_count_kv %lld: grouped-query vision "
                         "attention is not supported", path, (long long)kv);
    if (hp->image_size % hp->patch_size != 0)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: clip.vision.patch_size %d does not divide clip.vision.image_size %d",
                         path, hp->patch_size, hp->image_size);
    if ((st = get_f32_triple(g, path, "clip.vision.image_mean", hp->mean)) ||
        (st = get_f32_triple(g, path, "clip.vision.image_std", hp->std)))
        return st;
    for (int i = 0; i < 3; i++)
        if (hp->std[i] == 0.0f) return vlm_error(VLM_STATUS_BAD_MODEL, "%s: clip.vision.image_std has a zero", path);
    // ref: load_hparams: use_gelu -> FFN_GELU (ggml_gelu, the tanh form), use_silu -> FFN_SILU,
    // neither -> FFN_GELU_QUICK
    bool gelu = false, silu = false;
    vlm_gguf_get_bool(g, "clip.use_gelu", &gelu);
    vlm_gguf_get_bool(g, "clip.use_silu", &silu);
    if (gelu && silu) return vlm_error(VLM_STATUS_BAD_MODEL, "%s: both clip.use_gelu and clip.use_silu are true", path);
    hp->act = gelu ? VLM_UNARY_GELU_TANH : silu ? VLM_UNARY_SILU : VLM_UNARY_QUICK_GELU;
    return projectors[hp->projector].read_hparams(g, path, hp);
}

// ---- weights ---------------------------------------------------------------------------------
// ref: llama.cpp tools/mtmd/clip-impl.h TN_ATTN_*, TN_LN_1, TN_LN_2, TN_FFN_* ("v.blk.<layer>.*").
// ffn_up is fc1 and ffn_down fc2; swapped: old converters stored each under the other's name.
#define SIGLIP_BLOCK_NAMES(UP, DOWN)                                                                 \
    {                                                                                              \
        .ln1_w = "ln1.weight", .ln1_b = "ln1.bias", .ln2_w = "ln2.weight", .ln2_b = "ln2.bias",    \
        .q_w = "attn_q.weight", .q_b = "attn_q.bias", .k_w = "attn_k.weight", .k_b = "attn_k.bias", \
        .v_w = "attn_v.weight", .v_b = "attn_v.bias", .out_w = "attn_out.weight",                  \
        .out_b = "attn_out.bias", .fc1_w = UP ".weight", .fc1_b = UP ".bias",                       \
        .fc2_w = DOWN ".weight", .fc2_b = DOWN ".bias",                                             \
    }
static const struct vlm_vit_block_names siglip_names = SIGLIP_BLOCK_NAMES("ffn_up", "ffn_down");
static const struct vlm_vit_block_names siglip_names_swapped = SIGLIP_BLOCK_NAMES("ffn_down", "ffn_up");

static enum vlm_status bind_tower(struct vlm_smolvlm_vision * v, const struct vlm_gguf * g) {
    struct vlm_vit_tower * tw = &v->tower;
    tw->width = v->hp.n_embd, tw->layers = v->hp.n_layer, tw->heads = v->hp.n_head, tw->mlp = v->hp.n_ff;
    tw->eps = v->hp.eps;
    tw->act = v->hp.act;
    tw->blocks = calloc((size_t)tw->layers, sizeof *tw->blocks);
    if (!tw->blocks) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    for (int32_t l = 0; l < tw->layers; l++) {
        // ref: llama.cpp tools/mtmd/clip.cpp load_tensors is_ffn_swapped: ffn_down taking n_embd
        // inputs (ggml ne[0]) is really ffn_up
        char name[64];
        snprintf(name, sizeof name, "v.blk.%d.ffn_down.weight", l);
        const struct vlm_file_tensor * fd = vlm_gguf_find(g, name);
        bool swapped = fd && fd->n_dims == 2 && fd->shape[1] == tw->width;
        vlm_vit_block_bind(v->ctx, v->weights, tw, swapped ? &siglip_names_swapped : &siglip_names, "v.blk.", l,
                           &tw->blocks[l]);
        if (!vlm_ctx_ok(v->ctx)) return vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s", v->path, v->ctx->error);
    }
    return VLM_STATUS_OK;
}

// ref: ggml/src/ggml.c ggml_conv_2d: the patch embedding runs as an F16 im2col times the kernel,
// which the CPU matmul converts to F16 too: an F32 kernel is used rounded to half precision.
static enum vlm_status round_to_f16(struct vlm_ctx * x, struct vlm_tensor t, const char * path) {
    if (t.dtype != VLM_DTYPE_F32) return VLM_STATUS_OK;
    size_t n = (size_t)vlm_tensor_numel(&t);
    float * k = malloc(sizeof *k * n);
    if (!k) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    vlm_tensor_download(x, t, k);
    for (size_t i = 0; i < n; i++) k[i] = vlm_f16_to_f32(vlm_f32_to_f16(k[i]));
    vlm_tensor_upload(x, t, k);
    free(k);
    if (vlm_ctx_sync(x) != VLM_STATUS_OK) return vlm_error(x->status, "%s: %s", path, x->error);
    return VLM_STATUS_OK;
}

// ref: llama.cpp tools/mtmd/clip.cpp load_tensors (TN_PATCH_EMBD, TN_PATCH_BIAS, TN_POS_EMBD, TN_LN_POST)
static enum vlm_status bind_weights(struct vlm_smolvlm_vision * v, const struct vlm_gguf * g) {
    struct vlm_ctx * x = v->ctx;
    const struct vlm_weights * w = v->weights;
    int64_t d = v->hp.n_embd, p = v->hp.patch_size;
    v->patch_w = vlm_weights_get(x, w, "v.patch_embd.weight", 4, SHAPE(d, 3, p, p));
    v->patch_b = vlm_weights_get(x, w, "v.patch_embd.bias", 1, SHAPE(d));
    v->pos = vlm_weights_get(x, w, "v.position_embd.weight", 2, SHAPE(v->n_patches, d));
    v->post_ln_w = vlm_weights_get(x, w, "v.post_ln.weight", 1, SHAPE(d));
    v->post_ln_b = vlm_weights_get(x, w, "v.post_ln.bias", 1, SHAPE(d));
    enum vlm_status st = projectors[v->hp.projector].bind(v);
    if (st == VLM_STATUS_OK && !vlm_ctx_ok(x)) st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s", v->path, x->error);
    if (st != VLM_STATUS_OK) return st;
    if ((st = round_to_f16(x, v->patch_w, v->path)) != VLM_STATUS_OK) return st;
    return bind_tower(v, g);
}

// Bytes of activations of one forward over n tiles (an upper bound of the peak of encode_chunk,
// with the arena's 256-byte rounding).
static size_t chunk_bytes(const struct vlm_smolvlm_vision * v, int64_t n) {
    int64_t s = v->hp.image_size, t = v->n_patches, d = v->hp.n_embd, m = v->hp.n_ff;
    int64_t ntd = n * t * d, ntm = n * t * m, attn = 8 * ntd, mlp = 3 * ntd + 2 * ntm;
    int64_t out = n * vlm_smolvlm_tokens_per_tile(v) * (int64_t)v->hp.projection_dim;
    int64_t floats = n * 3 * s * s + 2 * ntd + (attn > mlp ? attn : mlp) + 2 * ntd + out;
    return (size_t)floats * 4 + 64 * 256;
}

enum vlm_status vlm_smolvlm_vision_load(const char * mmproj_path, const struct vlm_model_params * params,
                                        struct vlm_smolvlm_vision ** out) {
    if (!out) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_smolvlm_vision_load: out is NULL");
    *out = NULL;
    if (!mmproj_path) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_smolvlm_vision_load: path is NULL");
    struct vlm_model_params defaults = vlm_model_default_params();
    if (!params) params = &defaults;
    struct vlm_smolvlm_vision * v = calloc(1, sizeof *v);
    if (!v) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    snprintf(v->path, sizeof v->path, "%s", mmproj_path);
    struct vlm_gguf * g = NULL;
    enum vlm_status st = vlm_gguf_open(mmproj_path, &g);
    if (st != VLM_STATUS_OK) goto fail;
    if ((st = read_hparams(g, v->path, &v->hp)) != VLM_STATUS_OK) goto fail;
    v->n_patches = patch_grid(&v->hp) * patch_grid(&v->hp);
    v->tile_chunk = 1;
    while (v->tile_chunk < VISION_MAX_CHUNK && chunk_bytes(v, v->tile_chunk + 1) <= VISION_CHUNK_BUDGET) v->tile_chunk++;
    size_t peak = chunk_bytes(v, v->tile_chunk);
    char err[512] = "";
    v->ctx = vlm_ctx_new(params->backend, params->n_threads, peak + peak / 4 + (4u << 20), err, sizeof err);
    if (!v->ctx) {
        st = vlm_error(params->backend == VLM_BACKEND_VULKAN ? VLM_STATUS_UNSUPPORTED : VLM_STATUS_OUT_OF_MEMORY, "%s", err);
        goto fail;
    }
    static const char * const prefixes[] = { "v.", "mm.", NULL };
    // weights in their stored type (F16, Q8_0, ...), consumed by the kernels; on the CPU they
    // point into the file's mapping, which stays open with the model
    v->file = g;
    g = NULL;
    if ((st = vlm_weights_load_gguf_stored(v->ctx, v->file, prefixes, &v->weights)) != VLM_STATUS_OK) goto fail;
    if ((st = bind_weights(v, v->file)) != VLM_STATUS_OK) goto fail;
    if (pthread_mutex_init(&v->lock, NULL) != 0) {
        st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: cannot create a mutex", v->path);
        goto fail;
    }
    v->lock_ok = true;
    *out = v;
    return VLM_STATUS_OK;
fail:
    vlm_gguf_close(g);
    vlm_smolvlm_vision_free(v);
    return st;
}

void vlm_smolvlm_vision_free(struct vlm_smolvlm_vision * v) {
    if (!v) return;
    if (v->lock_ok) pthread_mutex_destroy(&v->lock);
    free(v->tower.blocks);
    if (v->ctx) vlm_weights_free(v->ctx, v->weights);
    vlm_ctx_free(v->ctx);
    vlm_gguf_close(v->file);
    free(v);
}

int32_t vlm_smolvlm_tokens_per_tile(const struct vlm_smolvlm_vision * v) {
    return v ? projectors[v->hp.projector].tokens_per_tile(&v->hp) : 0;
}

int32_t vlm_smolvlm_embd_dim(const struct vlm_smolvlm_vision * v) { return v ? v->hp.projection_dim : 0; }

// ---- preprocessing ---------------------------------------------------------------------------
// ref: llama.cpp tools/mtmd/mtmd-image.cpp img_tool::calc_size_preserved_ratio (idefics3 sets no
// min / max pixels unless told to)
static void size_preserved_ratio(int32_t w, int32_t h, int32_t align, int32_t longest_edge, int32_t * ow, int32_t * oh) {
    if (longest_edge > 0) {
        float scale = fminf((float)longest_edge / (float)w, (float)longest_edge / (float)h);
        *ow = (int32_t)ceilf((float)w * scale / (float)align) * align;
        *oh = (int32_t)ceilf((float)h * scale / (float)align) * align;
    } else {
        int32_t rw = (int32_t)roundf((float)w / (float)align) * align, rh = (int32_t)roundf((float)h / (float)align) * align;
        *ow = rw > align ? rw : align;
        *oh = rh > align ? rh : align;
    }
}

// The refined size: llama.cpp's, then the cost controls of struct vlm_smolvlm_tiling.
static void refined_size(const struct vlm_mmproj_hparams * hp, int32_t w, int32_t h, const struct vlm_smolvlm_tiling * t,
                         int32_t * rw, int32_t * rh) {
    int32_t s = hp->image_size, le = hp->longest_edge, big = w > h ? w : h;
    if (t && t->no_upscale && le > big) le = big;
    size_preserved_ratio(w, h, s, le, rw, rh);
    if (!t || t->max_tiles <= 0 || (int64_t)(*rw / s) * (*rh / s) <= t->max_tiles) return;
    // The tile count ceil(w*q/S) * ceil(h*q/S) grows with the scale q, and the largest q for a
    // grid cx x cy is min(cx*S/w, cy*S/h): the best grid within max_tiles gives the largest q.
    float best = 0.0f;
    int32_t bx = 1, by = 1;
    for (int32_t cx = 1; cx <= t->max_tiles; cx++) {
        int32_t cy = t->max_tiles / cx;
        float q = fminf((float)cx * (float)s / (float)w, (float)cy * (float)s / (float)h);
        if (q > best) best = q, bx = cx, by = cy;
    }
    int32_t gx = (int32_t)ceilf((float)w * best / (float)s), gy = (int32_t)ceilf((float)h * best / (float)s);
    *rw = (gx < 1 ? 1 : gx > bx ? bx : gx) * s;
    *rh = (gy < 1 ? 1 : gy > by ? by : gy) * s;
}

// ref: llama.cpp tools/mtmd/mtmd-image.cpp img_tool::resize: a plain copy at the same size; PAD_NONE
// stretches (the overview, bilinear); PAD_CEIL keeps the aspect ratio, inner size
// min(ceil(side * scale), target), letterboxed on black at ((tw - nw) / 2, (th - nh) / 2) (the
// refined image, bicubic). dst: [th, tw, 3].
static enum vlm_status resize_into(const struct vlm_image * src, uint8_t * dst, int32_t tw, int32_t th, bool letterbox) {
    int32_t sw = src->width, sh = src->height;
    if (sw == tw && sh == th) {
        memcpy(dst, src->data, (size_t)tw * th * 3);
        return VLM_STATUS_OK;
    }
    if (!letterbox) {
        vlm_mtmd_resize_bilinear(src->data, sw, sh, dst, tw, th);
        return VLM_STATUS_OK;
    }
    float scale = fminf((float)tw / (float)sw, (float)th / (float)sh);
    int32_t nw = (int32_t)ceilf((float)sw * scale), nh = (int32_t)ceilf((float)sh * scale);
    if (nw > tw) nw = tw;
    if (nh > th) nh = th;
    uint8_t * inner = malloc((size_t)nw * nh * 3);
    if (!inner) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "smolvlm preprocess: out of memory for %dx%d", nw, nh);
    vlm_mtmd_resize_bicubic(src->data, sw, sh, inner, nw, nh);
    memset(dst, 0, (size_t)tw * th * 3);
    int32_t ox = (tw - nw) / 2, oy = (th - nh) / 2;
    for (int32_t y = 0; y < nh; y++) memcpy(dst + ((size_t)(y + oy) * tw + ox) * 3, inner + (size_t)y * nw * 3, (size_t)nw * 3);
    free(inner);
    return VLM_STATUS_OK;
}

// ref: llama.cpp tools/mtmd/clip-impl.h clip_image_f32::from_u8 and normalize: (u8 / 255 - mean) / std
static void normalize_tile(const uint8_t * src, int32_t src_w, int32_t x0, int32_t y0, int32_t s, const float mean[3],
                           const float std[3], float * out) {
    for (int32_t y = 0; y < s; y++) {
        const uint8_t * row = src + ((size_t)(y0 + y) * src_w + x0) * 3;
        for (int32_t i = 0; i < s * 3; i++) out[(size_t)y * s * 3 + i] = ((float)row[i] / 255.0f - mean[i % 3]) / std[i % 3];
    }
}

enum vlm_status vlm_smolvlm_preprocess(const struct vlm_smolvlm_vision * v, const struct vlm_image * image,
                                       const struct vlm_smolvlm_tiling * tiling, struct vlm_smolvlm_tiles * out) {
    if (!out) return vlm_error(VLM_STATUS_INVALID_ARG, "smolvlm preprocess: out is NULL");
    memset(out, 0, sizeof *out);
    if (!v || !image || !image->data || image->width <= 0 || image->height <= 0 || image->channels != 3)
        return vlm_error(VLM_STATUS_INVALID_ARG, "smolvlm preprocess: needs a model and an RGB image");
    if (tiling && tiling->max_tiles < 0)
        return vlm_error(VLM_STATUS_INVALID_ARG, "smolvlm preprocess: max_tiles %d is negative", (int)tiling->max_tiles);
    const struct vlm_mmproj_hparams * hp = &v->hp;
    int32_t s = hp->image_size, rw, rh;
    // ref: llama.cpp tools/mtmd/mtmd-image.cpp mtmd_image_preprocessor_idefics3::preprocess
    refined_size(hp, image->width, image->height, tiling, &rw, &rh);
    int64_t gx = rw / s, gy = rh / s, n = gx * gy + 1;
    size_t refined_bytes, tile_floats;
    if (rw <= 0 || rh <= 0 || n > INT32_MAX || !vlm_mul_size((size_t)rw * 3, (size_t)rh, &refined_bytes) ||
        !vlm_mul_size((size_t)n * 3, (size_t)s * s, &tile_floats) || tile_floats > ((size_t)1 << 34))
        return vlm_error(VLM_STATUS_INVALID_ARG, "smolvlm preprocess: %dx%d image gives a %dx%d grid, too large",
                         (int)image->width, (int)image->height, (int)gx, (int)gy);
    uint8_t * refined = malloc(refined_bytes), * overview = malloc((size_t)s * s * 3);
    float * pixels = malloc(sizeof *pixels * tile_floats);
    enum vlm_status st = VLM_STATUS_OK;
    if (!refined || !overview || !pixels) {
        st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "smolvlm preprocess: out of memory for %lld tiles", (long long)n);
        goto done;
    }
    // overview: image_resize_algo_ov = bilinear, image_pad_ov = PAD_NONE; refined: bicubic, PAD_CEIL, black
    if ((st = resize_into(image, overview, s, s, false)) != VLM_STATUS_OK ||
        (st = resize_into(image, refined, rw, rh, true)) != VLM_STATUS_OK)
        goto done;
    size_t per = (size_t)s * s * 3;
    for (int64_t ty = 0; ty < gy; ty++)
        for (int64_t tx = 0; tx < gx; tx++)
            normalize_tile(refined, rw, (int32_t)(tx * s), (int32_t)(ty * s), s, hp->mean, hp->std,
                           pixels + (size_t)(ty * gx + tx) * per);
    normalize_tile(overview, s, 0, 0, s, hp->mean, hp->std, pixels + (size_t)(n - 1) * per);
    out->n_tiles = (int32_t)n;
    out->size = s;
    out->grid_x = (int32_t)gx;
    out->grid_y = (int32_t)gy;
    out->pixels = pixels;
    pixels = NULL;
done:
    free(refined);
    free(overview);
    free(pixels);
    return st;
}

void vlm_smolvlm_tiles_free(struct vlm_smolvlm_tiles * t) {
    if (!t) return;
    free(t->pixels);
    memset(t, 0, sizeof *t);
}

// ---- encoder ---------------------------------------------------------------------------------
// ref: llama.cpp tools/mtmd/models/siglip.cpp clip_graph_siglip::build over n tiles at once:
// clip_graph::build_inp (patch conv + bias), build_vit (learned position embedding, pre-norm
// blocks, post_ln), then the projector. pixels: [n, S, S, 3]; out: [n * tokens, P].
static enum vlm_status encode_chunk(struct vlm_smolvlm_vision * v, const float * pixels, int32_t n, float * out) {
    struct vlm_ctx * ctx = v->ctx;
    int64_t s = v->hp.image_size, d = v->hp.n_embd, np = v->n_patches, g = patch_grid(&v->hp);
    size_t plane = (size_t)s * s;
    float * chw = malloc(sizeof *chw * 3 * plane * (size_t)n);
    if (!chw) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "smolvlm encode: out of memory");
    // ref: ggml/src/ggml.c ggml_conv_2d: im2col in F16, so the pixels are rounded to half precision
    for (int32_t t = 0; t < n; t++)
        for (size_t i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++)
                chw[((size_t)t * 3 + c) * plane + i] = vlm_f16_to_f32(vlm_f32_to_f16(pixels[((size_t)t * plane + i) * 3 + c]));
    size_t mark = vlm_arena_mark(ctx);
    struct vlm_tensor img = vlm_tensor_from_host(ctx, VLM_DTYPE_F32, 4, SHAPE(n, 3, s, s), chw);   // [B, 3, S, S]
    free(chw);
    struct vlm_tensor p = vlm_op_conv2d(ctx, img, v->patch_w, &v->patch_b, v->hp.patch_size, 0);   // [B, D, g, g]
    p = vlm_tensor_permute(vlm_tensor_reshape(p, 3, SHAPE(n, d, g * g)), (const int32_t[]){ 0, 2, 1 });   // [B, g*g, D]
    struct vlm_tensor x = vlm_op_add(ctx, p, vlm_tensor_reshape(v->pos, 3, SHAPE(1, np, d)));       // [B, T, D]
    for (int32_t l = 0; l < v->tower.layers && vlm_ctx_ok(ctx); l++)
        vlm_vit_block_forward(ctx, &v->tower, &v->tower.blocks[l], x, false);
    x = vlm_op_layer_norm(ctx, x, &v->post_ln_w, &v->post_ln_b, v->hp.eps);                       // [B, T, D]
    struct vlm_tensor y = projectors[v->hp.projector].forward(ctx, v, x);                            // [B, tok, P]
    if (vlm_ctx_ok(ctx)) vlm_tensor_download(ctx, y, out);
    enum vlm_status st = VLM_STATUS_OK;
    if (vlm_ctx_sync(ctx) != VLM_STATUS_OK || !vlm_ctx_ok(ctx))
        st = vlm_error(ctx->status ? ctx->status : VLM_STATUS_DEVICE_LOST, "smolvlm encode: %s", ctx->error);
    vlm_arena_reset(ctx, mark);
    return st;
}

enum vlm_status vlm_smolvlm_encode(struct vlm_smolvlm_vision * v, const struct vlm_smolvlm_tiles * tiles,
                                   float * out_embd) {
    if (!v || !tiles || !out_embd || (tiles->n_tiles > 0 && !tiles->pixels))
        return vlm_error(VLM_STATUS_INVALID_ARG, "smolvlm encode: NULL argument");
    if (tiles->size != v->hp.image_size || tiles->n_tiles < 0)
        return vlm_error(VLM_STATUS_INVALID_ARG, "smolvlm encode: tiles of %d pixels, the model takes %d",
                         (int)tiles->size, (int)v->hp.image_size);
    size_t per_in = (size_t)3 * tiles->size * tiles->size;
    size_t per_out = (size_t)vlm_smolvlm_tokens_per_tile(v) * v->hp.projection_dim;
    enum vlm_status st = VLM_STATUS_OK;
    pthread_mutex_lock(&v->lock);
    for (int32_t i = 0; i < tiles->n_tiles && st == VLM_STATUS_OK; i += v->tile_chunk) {
        int32_t k = tiles->n_tiles - i < v->tile_chunk ? tiles->n_tiles - i : v->tile_chunk;
        st = encode_chunk(v, tiles->pixels + per_in * i, k, out_embd + per_out * i);
    }
    if (st != VLM_STATUS_OK && v->ctx->status != VLM_STATUS_DEVICE_LOST) {   // keep the model usable
        v->ctx->status = VLM_STATUS_OK;
        v->ctx->error[0] = 0;
    }
    pthread_mutex_unlock(&v->lock);
    return st;
}
