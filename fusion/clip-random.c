// clip-random.c — writes a CLIP checkpoint with the OpenAI tensor names and shapes of a
// released variant and random weights (F16 like the releases, logit_scale F32), for
// `vlm bench` and tests on machines without the real weights. The distributions follow
// clip/model.py CLIP.initialize_parameters so activations have realistic magnitudes.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip.h"

struct clip_variant {
    const char * name;
    int32_t      image_size, patch, v_width, v_layers;
    int32_t      embed_dim, context, vocab, t_width, t_layers;
};

// ref: openai/CLIP model card / build_model shapes of the released ViT checkpoints
static const struct clip_variant variants[] = {
    { "ViT-B/32", 224, 32, 768, 12, 512, 77, 49408, 512, 12 },
    { "ViT-B/16", 224, 16, 768, 12, 512, 77, 49408, 512, 12 },
    { "ViT-L/14", 224, 14, 1024, 24, 768, 77, 49408, 768, 12 },
    { "ViT-L/14@336px", 336, 14, 1024, 24, 768, 77, 49408, 768, 12 },
    { "tiny", 64, 16, 128, 2, 32, 77, 49408, 128, 2 },   // the fixtures' shapes
};

enum fill { FILL_NORMAL, FILL_UNIFORM, FILL_CONST };

struct writer {
    struct vlm_file_tensor * t;
    char **                  names;
    int32_t                  n, cap;
    struct vlm_rng           rng;
    bool                     oom;
};

static void add(struct writer * w, const char * name, int32_t n_dims, const int64_t * shape, enum fill fill, float a) {
    if (w->oom) return;
    if (w->n == w->cap) {
        int32_t cap = w->cap ? 2 * w->cap : 256;
        struct vlm_file_tensor * t = realloc(w->t, sizeof *t * (size_t)cap);
        char ** nm = t ? realloc(w->names, sizeof *nm * (size_t)cap) : NULL;
        if (t) w->t = t;
        if (!t || !nm) { w->oom = true; return; }
        w->names = nm;
        w->cap = cap;
    }
    size_t numel = 1;
    for (int32_t i = 0; i < n_dims; i++) numel *= (size_t)shape[i];
    uint16_t * data = malloc(numel * sizeof *data);
    char * nm = strdup(name);
    if (!data || !nm) { free(data); free(nm); w->oom = true; return; }
    for (size_t i = 0; i < numel; i++) {
        float v = fill == FILL_NORMAL ? a * (float)vlm_rng_normal(&w->rng)
                : fill == FILL_UNIFORM ? a * (float)(2.0 * vlm_rng_uniform(&w->rng) - 1.0) : a;
        data[i] = vlm_f32_to_f16(v);
    }
    struct vlm_file_tensor * t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->name = nm;
    t->dtype = VLM_DTYPE_F16;
    t->n_dims = n_dims;
    for (int32_t i = 0; i < n_dims; i++) t->shape[i] = shape[i];
    t->data = data;
    t->nbytes = numel * sizeof *data;
    t->gguf_type = -1;
    w->names[w->n++] = nm;
}

#define SHAPE(...) ((const int64_t[]){ __VA_ARGS__ })

// ref: clip/model.py CLIP.initialize_parameters (std of each weight); nn.Linear biases and
// LayerNorm parameters keep PyTorch's defaults (zeros / ones).
static void add_blocks(struct writer * w, const char * prefix, int64_t d, int32_t layers) {
    float attn_std = 1.0f / sqrtf((float)d);
    float proj_std = attn_std / sqrtf(2.0f * layers);
    float fc_std = 1.0f / sqrtf(2.0f * d);
    char name[256];
    for (int32_t l = 0; l < layers; l++) {
#define N(s) (snprintf(name, sizeof name, "%s%d.%s", prefix, l, s), name)
        add(w, N("attn.in_proj_weight"), 2, SHAPE(3 * d, d), FILL_NORMAL, attn_std);
        add(w, N("attn.in_proj_bias"), 1, SHAPE(3 * d), FILL_CONST, 0);
        add(w, N("attn.out_proj.weight"), 2, SHAPE(d, d), FILL_NORMAL, proj_std);
        add(w, N("attn.out_proj.bias"), 1, SHAPE(d), FILL_CONST, 0);
        add(w, N("ln_1.weight"), 1, SHAPE(d), FILL_CONST, 1);
        add(w, N("ln_1.bias"), 1, SHAPE(d), FILL_CONST, 0);
        add(w, N("mlp.c_fc.weight"), 2, SHAPE(4 * d, d), FILL_NORMAL, fc_std);
        add(w, N("mlp.c_fc.bias"), 1, SHAPE(4 * d), FILL_CONST, 0);
        add(w, N("mlp.c_proj.weight"), 2, SHAPE(d, 4 * d), FILL_NORMAL, proj_std);
        add(w, N("mlp.c_proj.bias"), 1, SHAPE(d), FILL_CONST, 0);
        add(w, N("ln_2.weight"), 1, SHAPE(d), FILL_CONST, 1);
        add(w, N("ln_2.bias"), 1, SHAPE(d), FILL_CONST, 0);
#undef N
    }
}

enum vlm_status vlm_clip_write_random_checkpoint(const char * path, const char * variant, uint64_t seed) {
    if (!path) return vlm_error(VLM_STATUS_INVALID_ARG, "clip random checkpoint: path is NULL");
    if (!variant) variant = "ViT-B/32";
    const struct clip_variant * v = NULL;
    for (size_t i = 0; i < sizeof variants / sizeof *variants; i++)
        if (!strcmp(variants[i].name, variant)) v = &variants[i];
    if (!v)
        return vlm_error(VLM_STATUS_INVALID_ARG,
                         "clip random checkpoint: unknown variant '%s' (ViT-B/32, ViT-B/16, ViT-L/14, ViT-L/14@336px, tiny)",
                         variant);
    struct writer w = { .rng = { seed } };
    int64_t dv = v->v_width, dt = v->t_width, g = v->image_size / v->patch, e = v->embed_dim;
    float vscale = 1.0f / sqrtf((float)dv);
    // ref: VisionTransformer.__init__: scale = width ** -0.5; conv1 keeps nn.Conv2d's default
    // kaiming-uniform init (bound 1 / sqrt(fan_in)).
    add(&w, "visual.class_embedding", 1, SHAPE(dv), FILL_NORMAL, vscale);
    add(&w, "visual.positional_embedding", 2, SHAPE(g * g + 1, dv), FILL_NORMAL, vscale);
    add(&w, "visual.proj", 2, SHAPE(dv, e), FILL_NORMAL, vscale);
    add(&w, "visual.conv1.weight", 4, SHAPE(dv, 3, v->patch, v->patch), FILL_UNIFORM,
        1.0f / sqrtf(3.0f * v->patch * v->patch));
    add(&w, "visual.ln_pre.weight", 1, SHAPE(dv), FILL_CONST, 1);
    add(&w, "visual.ln_pre.bias", 1, SHAPE(dv), FILL_CONST, 0);
    add_blocks(&w, "visual.transformer.resblocks.", dv, v->v_layers);
    add(&w, "visual.ln_post.weight", 1, SHAPE(dv), FILL_CONST, 1);
    add(&w, "visual.ln_post.bias", 1, SHAPE(dv), FILL_CONST, 0);
    // ref: CLIP.initialize_parameters: token_embedding std 0.02, positional std 0.01,
    // text_projection std width ** -0.5
    add(&w, "positional_embedding", 2, SHAPE(v->context, dt), FILL_NORMAL, 0.01f);
    add(&w, "text_projection", 2, SHAPE(dt, e), FILL_NORMAL, 1.0f / sqrtf((float)dt));
    add(&w, "token_embedding.weight", 2, SHAPE(v->vocab, dt), FILL_NORMAL, 0.02f);
    add_blocks(&w, "transformer.resblocks.", dt, v->t_layers);
    add(&w, "ln_final.weight", 1, SHAPE(dt), FILL_CONST, 1);
    add(&w, "ln_final.bias", 1, SHAPE(dt), FILL_CONST, 0);
    enum vlm_status st;
    if (w.oom) {
        st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "clip random checkpoint: out of memory");
        goto done;
    }
    // logit_scale: F32 like the release; ln(100) as the released models learned it.
    // Stored as [1] (the release's [] scalar reads the same).
    float logit_scale = logf(100.0f);
    struct vlm_file_tensor ls = { .name = "logit_scale", .dtype = VLM_DTYPE_F32, .n_dims = 1, .shape = { 1 },
                                  .data = &logit_scale, .nbytes = sizeof logit_scale, .gguf_type = -1 };
    struct vlm_file_tensor * t = realloc(w.t, sizeof *t * (size_t)(w.n + 1));
    if (!t) {
        st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "clip random checkpoint: out of memory");
        goto done;
    }
    w.t = t;
    w.t[w.n] = ls;
    st = vlm_safetensors_write(path, w.t, w.n + 1);
done:
    for (int32_t i = 0; i < w.n; i++) {
        free((void *)w.t[i].data);
        free(w.names[i]);
    }
    free(w.t);
    free(w.names);
    return st;
}
