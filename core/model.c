// model.c — vlm_model_load: opens a model source (model-source.c: the format, the family that
// claims the file, its config), creates the backend context, uploads the weights and hands
// them to the family's init; then the pool of compute contexts that calls borrow.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf-meta.h"
#include "model.h"

struct vlm_model_params vlm_model_default_params(void) {
    struct vlm_model_params p = { .backend = VLM_BACKEND_AUTO, .device_index = -1, .n_threads = 0 };
    return p;
}

// Loads the weights onto m->ctx and runs the family's init.
static enum vlm_status init_weights(struct vlm_model * m) {
    // GGUF weights stay in their stored type (F16, Q8_0, Q4_K, ...): the kernels consume them;
    // a safetensors model's linear weights are F32, F16 or Q8_0 as asked, by default as stored
    // when that is F16 / BF16
    const struct vlm_linear_weights lin = {
        m->weight_type == VLM_WEIGHTS_F16 ? VLM_DTYPE_F16 : m->weight_type == VLM_WEIGHTS_Q8_0 ? VLM_DTYPE_Q8_0 : VLM_DTYPE_F32,
        m->family->linear_weights,
        m->weight_type == VLM_WEIGHTS_AUTO,
    };
    enum vlm_status st = m->src.gguf ? vlm_weights_load_gguf_stored(m->ctx, m->src.gguf, NULL, &m->weights)
                                     : vlm_weights_load_as(m->ctx, m->src.file, NULL, &lin, &m->weights);
    return st == VLM_STATUS_OK ? m->family->init(m) : st;
}

void * vlm_model_arch(const struct vlm_model * m, const struct vlm_model_family * family) {
    return m && m->family == family ? m->arch : NULL;
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
    pthread_mutex_init(&m->pool_mu, NULL);
    if ((st = vlm_model_source_open(path, true, &m->src)) != VLM_STATUS_OK) goto fail;
    m->family = m->src.family;
    if (!m->family->init) {
        st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s", m->src.path, m->family->load_refusal);
        goto fail;
    }
    size_t arena = 0;
    if ((st = m->family->arena_bytes(&m->src, &arena)) != VLM_STATUS_OK) goto fail;

    char err[512] = "";
    const char * env = getenv("VLM_BACKEND");
    const bool auto_backend = params->backend == VLM_BACKEND_AUTO && (!env || !*env || !strcmp(env, "auto"));
    m->weight_type = params->weights;
    m->ctx = vlm_ctx_new(params->backend, params->n_threads, arena, err, sizeof err);
    if (!m->ctx && auto_backend && vlm_last_status() == VLM_STATUS_DEVICE_OOM) {   // no room for the arena
        fprintf(stderr, "vlm: warning: %s; continuing on the CPU\n", err);
        m->ctx = vlm_ctx_new(VLM_BACKEND_CPU, params->n_threads, arena, err, sizeof err);
    }
    if (!m->ctx) {
        st = vlm_error(params->backend == VLM_BACKEND_VULKAN ? VLM_STATUS_UNSUPPORTED : VLM_STATUS_OUT_OF_MEMORY,
                       "%s", err);
        goto fail;
    }
    m->can_fall_back = auto_backend && m->ctx->backend == VLM_BACKEND_KIND_VULKAN;
    m->arena_bytes = arena;
    st = init_weights(m);
    if (st != VLM_STATUS_OK && vlm_model_fall_back_to_cpu(m, st)) st = VLM_STATUS_OK;   // already re-initialized
    if (st != VLM_STATUS_OK) goto fail;
    if ((st = vlm_ctx_sync(m->ctx)) != VLM_STATUS_OK) goto fail;   // the weights are on the device for every context
    m->pool[m->n_pool++] = m->ctx;
    *out = m;
    return VLM_STATUS_OK;
fail:
    vlm_model_free(m);
    return st;
}

// Frees the family's state and the weights (on m->ctx).
static void free_weights(struct vlm_model * m) {
    if (m->arch) m->family->free(m->arch);
    m->arch = NULL;
    if (m->ctx) vlm_weights_free(m->ctx, m->weights);
    m->weights = NULL;
}

// Frees the pool's free contexts other than m->ctx (which the model frees itself) and empties it.
static void pool_clear(struct vlm_model * m) {
    for (int32_t i = 0; i < m->n_pool; i++)
        if (m->pool[i] != m->ctx) vlm_ctx_free(m->pool[i]);
    m->n_pool = 0;
}

bool vlm_model_fall_back_to_cpu(struct vlm_model * m, enum vlm_status st) {
    if (!m || !m->can_fall_back || (st != VLM_STATUS_DEVICE_LOST && st != VLM_STATUS_DEVICE_OOM)) return false;
    if (m->ctx->backend != VLM_BACKEND_KIND_VULKAN) return false;
    fprintf(stderr, "vlm: warning: %s: %s; continuing on the CPU\n", vlm_ctx_backend_name(m->ctx),
            m->ctx->error[0] ? m->ctx->error : vlm_last_error());
    m->can_fall_back = false;
    pthread_mutex_lock(&m->pool_mu);   // the free contexts of the lost device go; borrowed ones at release
    pool_clear(m);
    pthread_mutex_unlock(&m->pool_mu);
    free_weights(m);
    vlm_ctx_free(m->lost_ctx);
    m->lost_ctx = m->ctx;
    char err[512] = "";
    m->ctx = vlm_ctx_new(VLM_BACKEND_CPU, m->lost_ctx->n_threads, m->lost_ctx->arena_size, err, sizeof err);
    m->generation++;
    if (!m->ctx) {
        vlm_error(VLM_STATUS_OUT_OF_MEMORY, "CPU fallback: %s", err);
        return false;
    }
    if (init_weights(m) != VLM_STATUS_OK) return false;
    pthread_mutex_lock(&m->pool_mu);
    m->pool[m->n_pool++] = m->ctx;
    pthread_mutex_unlock(&m->pool_mu);
    return true;
}

struct vlm_ctx * vlm_model_ctx_acquire(const struct vlm_model * cm) {
    struct vlm_model * m = (struct vlm_model *)cm;   // the pool is the model's only mutable part (locked)
    pthread_mutex_lock(&m->pool_mu);
    struct vlm_ctx * x = NULL;
    if (m->n_pool > 0) {   // m->ctx when free (a single user always runs on it), else the last one in
        int32_t take = m->n_pool - 1;
        for (int32_t i = 0; i < m->n_pool; i++)
            if (m->pool[i] == m->ctx) take = i;
        x = m->pool[take];
        m->pool[take] = m->pool[--m->n_pool];
    } else if (m->n_made + 1 < VLM_MODEL_MAX_CTX) {
        char err[512] = "";
        if ((x = vlm_ctx_new_session(m->ctx, m->arena_bytes, err, sizeof err))) m->n_made++;
        else vlm_error(vlm_last_status(), "%s: %s", m->src.path, err);
    } else {
        vlm_error(VLM_STATUS_UNSUPPORTED, "%s: more than %d threads run this model at once", m->src.path, VLM_MODEL_MAX_CTX);
    }
    pthread_mutex_unlock(&m->pool_mu);
    return x;
}

void vlm_model_ctx_release(const struct vlm_model * cm, struct vlm_ctx * x) {
    struct vlm_model * m = (struct vlm_model *)cm;
    if (!x) return;
    if (!vlm_ctx_ok(x)) vlm_ctx_recover(x);
    pthread_mutex_lock(&m->pool_mu);
    bool current = x == m->ctx || (m->ctx && x->backend == m->ctx->backend && x != m->lost_ctx);
    if (current && vlm_ctx_ok(x) && m->n_pool < VLM_MODEL_MAX_CTX) {
        m->pool[m->n_pool++] = x;
    } else if (x != m->ctx && x != m->lost_ctx) {
        vlm_ctx_free(x);
        if (m->n_made > 0) m->n_made--;
    }
    pthread_mutex_unlock(&m->pool_mu);
}

void vlm_model_free(struct vlm_model * m) {
    if (!m) return;
    pool_clear(m);
    free_weights(m);
    vlm_ctx_free(m->ctx);
    vlm_ctx_free(m->lost_ctx);
    pthread_mutex_destroy(&m->pool_mu);
    vlm_model_source_close(&m->src);
    free(m);
}

enum vlm_model_kind vlm_model_kind(const struct vlm_model * m) { return m && m->family ? m->family->kind : VLM_MODEL_UNKNOWN; }

const char * vlm_model_backend_name(const struct vlm_model * m) { return m && m->ctx ? vlm_ctx_backend_name(m->ctx) : ""; }
