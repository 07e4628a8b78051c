// smolvlm-random.c — a full-size SmolVLM vision projector (mmproj GGUF) with random weights,
// for benchmarks that need no download and can hand the same file to llama.cpp: the SigLIP
// tower of SmolVLM-256M / 500M (512-pixel tiles, patch 16, width 768, 12 layers) and its
// idefics3 connector, with the keys and tensor names llama.cpp's converter writes.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf-meta.h"
#include "smolvlm-vision.h"

struct random_mmproj {
    const char * name;
    int32_t image_size, patch, n_embd, n_ff, n_layer, n_head, scale, projection, longest_edge;
};

// ref: HuggingFaceTB/SmolVLM-256M-Instruct and -500M-Instruct config.json (vision_config,
// scale_factor, text hidden size); llama.cpp's converter writes longest_edge 2048 as
// clip.vision.preproc_image_size
static const struct random_mmproj mmprojs[] = {
    { "smolvlm-256m", 512, 16, 768, 3072, 12, 12, 4, 576, 2048 },
    { "smolvlm-500m", 512, 16, 768, 3072, 12, 12, 4, 960, 2048 },
};

// Uniform in [-scale, scale).
static float uniform(struct vlm_rng * r, float scale) { return (float)(2.0 * vlm_rng_uniform(r) - 1.0) * scale; }

enum vlm_status vlm_smolvlm_write_random_mmproj(const char * path, const char * variant, enum vlm_dtype type,
                                                uint64_t seed) {
    const struct random_mmproj * r = NULL;
    for (size_t i = 0; i < sizeof mmprojs / sizeof *mmprojs; i++)
        if (variant && !strcmp(variant, mmprojs[i].name)) r = &mmprojs[i];
    if (!r || !path) return vlm_error(VLM_STATUS_INVALID_ARG, "unknown random mmproj '%s' (smolvlm-256m, smolvlm-500m)",
                                      variant ? variant : "(null)");
    const int64_t D = r->n_embd, F = r->n_ff, P = r->patch, NP = (r->image_size / r->patch) * (r->image_size / r->patch);
    const int64_t FC_IN = D * r->scale * r->scale;
    const int64_t per_layer = 4 * D * D + 2 * D * F + 9 * D + F;   // q k v out, up down, 2 norms x2, biases
    const int64_t total = D * 3 * P * P + D + NP * D + per_layer * r->n_layer + 2 * D + (int64_t)r->projection * FC_IN;
    float * w = malloc(sizeof(float) * (size_t)total);
    struct vlm_gguf_builder * b = vlm_gguf_builder_new();
    enum vlm_status st = VLM_STATUS_OK;
    if (!w || !b) {
        st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    static const float half[3] = { 0.5f, 0.5f, 0.5f };
    vlm_gguf_builder_str(b, "general.architecture", "clip");
    vlm_gguf_builder_str(b, "general.type", "mmproj");
    vlm_gguf_builder_str(b, "general.name", r->name);
    vlm_gguf_builder_u32(b, "general.file_type", 0);
    vlm_gguf_builder_bool(b, "clip.has_vision_encoder", true);
    vlm_gguf_builder_u32(b, "clip.vision.projection_dim", (uint32_t)r->projection);
    vlm_gguf_builder_u32(b, "clip.vision.image_size", (uint32_t)r->image_size);
    vlm_gguf_builder_u32(b, "clip.vision.patch_size", (uint32_t)r->patch);
    vlm_gguf_builder_u32(b, "clip.vision.embedding_length", (uint32_t)D);
    vlm_gguf_builder_u32(b, "clip.vision.feed_forward_length", (uint32_t)F);
    vlm_gguf_builder_u32(b, "clip.vision.block_count", (uint32_t)r->n_layer);
    vlm_gguf_builder_u32(b, "clip.vision.attention.head_count", (uint32_t)r->n_head);
    vlm_gguf_builder_f32_array(b, "clip.vision.image_mean", half, 3);
    vlm_gguf_builder_f32_array(b, "clip.vision.image_std", half, 3);
    vlm_gguf_builder_str(b, "clip.projector_type", "idefics3");
    vlm_gguf_builder_f32(b, "clip.vision.attention.layer_norm_epsilon", 1e-6f);
    vlm_gguf_builder_u32(b, "clip.vision.projector.scale_factor", (uint32_t)r->scale);
    vlm_gguf_builder_bool(b, "clip.use_gelu", true);
    vlm_gguf_builder_u32(b, "clip.vision.preproc_image_size", (uint32_t)r->longest_edge);
    vlm_gguf_builder_u32(b, "general.quantization_version", 2);

    struct vlm_rng s = { seed * 0x9E3779B97F4A7C15ull + 7 };
    float * p = w;
    const float ws = 0.035f;
    // a named tensor of n random values (or `fill` everywhere when fill != 0)
    #define TENSOR(name_, n_dims_, fill_, ...)                                                          \
        do {                                                                                            \
            const int64_t sh_[] = { __VA_ARGS__ };                                                      \
            int64_t n_ = 1;                                                                             \
            for (int k_ = 0; k_ < n_dims_; k_++) n_ *= sh_[k_];                                         \
            for (int64_t i_ = 0; i_ < n_; i_++) p[i_] = (fill_) != 0.0f ? (fill_) : uniform(&s, ws);   \
            vlm_gguf_builder_tensor(b, name_, n_dims_, sh_, p);                                         \
            p += n_;                                                                                    \
        } while (0)
    TENSOR("v.patch_embd.weight", 4, 0.0f, D, 3, P, P);
    TENSOR("v.patch_embd.bias", 1, 0.0f, D);
    TENSOR("v.position_embd.weight", 2, 0.0f, NP, D);
    char name[64];
    for (int32_t l = 0; l < r->n_layer; l++) {
        static const char * const attn[4] = { "attn_q", "attn_k", "attn_v", "attn_out" };
        for (int k = 0; k < 2; k++) {
            snprintf(name, sizeof name, "v.blk.%d.ln%d.weight", l, k + 1);
            TENSOR(name, 1, 1.0f, D);
            snprintf(name, sizeof name, "v.blk.%d.ln%d.bias", l, k + 1);
            TENSOR(name, 1, 0.0f, D);
        }
        for (int k = 0; k < 4; k++) {
            snprintf(name, sizeof name, "v.blk.%d.%s.weight", l, attn[k]);
            TENSOR(name, 2, 0.0f, D, D);
            snprintf(name, sizeof name, "v.blk.%d.%s.bias", l, attn[k]);
            TENSOR(name, 1, 0.0f, D);
        }
        snprintf(name, sizeof name, "v.blk.%d.ffn_up.weight", l);
        TENSOR(name, 2, 0.0f, F, D);
        snprintf(name, sizeof name, "v.blk.%d.ffn_up.bias", l);
        TENSOR(name, 1, 0.0f, F);
        snprintf(name, sizeof name, "v.blk.%d.ffn_down.weight", l);
        TENSOR(name, 2, 0.0f, D, F);
        snprintf(name, sizeof name, "v.blk.%d.ffn_down.bias", l);
        TENSOR(name, 1, 0.0f, D);
    }
    TENSOR("v.post_ln.weight", 1, 1.0f, D);
    TENSOR("v.post_ln.bias", 1, 0.0f, D);
    TENSOR("mm.model.fc.weight", 2, 0.0f, r->projection, FC_IN);
    #undef TENSOR

    if (type == VLM_DTYPE_F32) {
        st = vlm_gguf_builder_write(b, path);
    } else {   // the matrices of the blocks and the connector re-typed, as llama.cpp's quantizer does
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.f32", path);
        struct vlm_gguf * g = NULL;
        enum vlm_dtype * types = NULL;
        if ((st = vlm_gguf_builder_write(b, tmp)) == VLM_STATUS_OK && (st = vlm_gguf_open(tmp, &g)) == VLM_STATUS_OK) {
            int32_t n = vlm_gguf_n_tensors(g);
            if (!(types = malloc(sizeof *types * (size_t)n))) st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
            for (int32_t i = 0; types && i < n; i++) {
                const struct vlm_file_tensor * t = vlm_gguf_tensor(g, i);
                bool matrix = t->n_dims == 2 && (!strncmp(t->name, "v.blk.", 6) || !strncmp(t->name, "mm.", 3));
                types[i] = matrix ? type : t->dtype;
            }
            if (types) st = vlm_gguf_write_retyped(path, g, types, -1, NULL);
        }
        free(types);
        vlm_gguf_close(g);
        unlink(tmp);
    }
done:
    free(w);
    vlm_gguf_builder_free(b);
    return st;
}
