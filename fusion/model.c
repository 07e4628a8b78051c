// model.c — vlm_model_load: opens a model file, infers the architecture from its tensor
// names, creates the backend context and hands the weights to the architecture's init.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model.h"
#include "clip.h"
#include "sam.h"

struct vlm_model_params vlm_model_default_params(void) {
    struct vlm_model_params p = { .backend = VLM_BACKEND_AUTO, .device_index = -1, .n_threads = 0 };
    return p;
}

// Tensor names that identify each architecture (upstream names first, then HF transformers').
static enum vlm_model_kind detect_kind(const struct vlm_safetensors * st) {
    static const char * const sam_keys[]  = { "image_encoder.pos_embed", "vision_encoder.pos_embed" };
    // visual.attnpool.*: a ResNet CLIP, which the CLIP init refuses with its own message
    static const char * const clip_keys[] = { "visual.class_embedding", "vision_model.embeddings.class_embedding",
                                              "visual.attnpool.positional_embedding" };
    for (size_t i = 0; i < sizeof sam_keys / sizeof *sam_keys; i++)
        if (vlm_safetensors_find(st, sam_keys[i])) return VLM_MODEL_SAM;
    for (size_t i = 0; i < sizeof clip_keys / sizeof *clip_keys; i++)
        if (vlm_safetensors_find(st, clip_keys[i])) return VLM_MODEL_CLIP;
    return VLM_MODEL_UNKNOWN;
}

// A model is a .safetensors file or a directory holding model.safetensors.
static void resolve_model_file(const char * path, char * out, size_t out_size) {
    struct stat s;
    if (stat(path, &s) == 0 && S_ISDIR(s.st_mode)) snprintf(out, out_size, "%s/model.safetensors", path);
    else snprintf(out, out_size, "%s", path);
}

enum vlm_status vlm_model_load(const char * path, const struct vlm_model_params * params, struct vlm_model ** out) {
    if (!out) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_model_load: out is NULL");
    *out = NULL;
    if (!path) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_model_load: path is NULL");
    struct vlm_model_params defaults = vlm_model_default_params();
    if (!params) params = &defaults;

    enum vlm_status st = VLM_STATUS_OK;
    struct vlm_model * m = calloc(1, sizeof *m);
    if (!m) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    resolve_model_file(path, m->path, sizeof m->path);

    if ((st = vlm_safetensors_open(m->path, &m->file)) != VLM_STATUS_OK) goto fail;
    m->kind = detect_kind(m->file);
    size_t arena = 0;
    switch (m->kind) {
    case VLM_MODEL_SAM: arena = vlm_sam_arena_bytes(m->file); break;
    case VLM_MODEL_CLIP: arena = vlm_clip_arena_bytes(m->file); break;
    default:
        st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: not a SAM or CLIP model (no image_encoder.* or visual.* tensors)", m->path);
        goto fail;
    }

    char err[512] = "";
    m->ctx = vlm_ctx_new(params->backend, params->n_threads, arena, err, sizeof err);
    if (!m->ctx) {
        st = vlm_error(params->backend == VLM_BACKEND_VULKAN ? VLM_STATUS_UNSUPPORTED : VLM_STATUS_OUT_OF_MEMORY,
                       "%s", err);
        goto fail;
    }
    if ((st = vlm_weights_load(m->ctx, m->file, NULL, &m->weights)) != VLM_STATUS_OK) goto fail;
    st = m->kind == VLM_MODEL_SAM ? vlm_sam_model_init(m) : vlm_clip_model_init(m);
    if (st != VLM_STATUS_OK) goto fail;
    *out = m;
    return VLM_STATUS_OK;
fail:
    vlm_model_free(m);
    return st;
}

void vlm_model_free(struct vlm_model * m) {
    if (!m) return;
    vlm_sam_model_free(m->sam);
    vlm_clip_model_free(m->clip);
    if (m->ctx) vlm_weights_free(m->ctx, m->weights);
    vlm_ctx_free(m->ctx);
    vlm_safetensors_close(m->file);
    free(m);
}

enum vlm_model_kind vlm_model_kind(const struct vlm_model * m) { return m ? m->kind : VLM_MODEL_UNKNOWN; }

const char * vlm_model_backend_name(const struct vlm_model * m) { return m && m->ctx ? vlm_ctx_backend_name(m->ctx) : ""; }
