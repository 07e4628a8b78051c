// model.h — what a struct vlm_model (public, opaque) holds: the source it was loaded from, the
// backend context that owns the weights, the family's own state and the pool of compute
// contexts its calls borrow. vlm_model_load (model.c) asks the families (model-family.h)
// which one the file is and hands the weights to that family's init.
#ifndef VLM_MODEL_H
#define VLM_MODEL_H
#include <pthread.h>

#include "core.h"
#include "model-family.h"

#define VLM_MODEL_MAX_CTX 16   // compute contexts of one model (threads running it at once)

struct vlm_model {
    struct vlm_model_source src;       // the file, its family and config
    const struct vlm_model_family * family;   // src.family
    void *                  arch;      // the family's state (its init makes it, e.g. a vlm_sam_model)
    struct vlm_ctx *        ctx;       // backend and weights; its arena is the first compute context
    struct vlm_weights *    weights;
    enum vlm_weight_type    weight_type;   // how the linear weights of a safetensors model are kept
    // Backend fallback: a model whose backend was chosen automatically moves to the CPU when
    // its Vulkan device is lost or runs out of memory (vlm_model_fall_back_to_cpu).
    bool                    can_fall_back;
    uint32_t                generation;    // +1 at each move; sessions re-create their buffers
    struct vlm_ctx *        lost_ctx;      // the failed context, kept until the model is freed
    // The compute contexts (activation arena, command recording) that calls borrow: ctx first,
    // more made on the same device when several threads run the model at once. The weights and
    // configuration are read-only after load; everything else a call changes is in its context
    // or in the caller's session (SAM's image embedding, the LLM's KV cache).
    pthread_mutex_t         pool_mu;
    struct vlm_ctx *        pool[VLM_MODEL_MAX_CTX];   // free contexts
    int32_t                 n_pool, n_made;            // free ones; made beside ctx
    size_t                  arena_bytes;
};

// The family's state when m is of that family, else NULL (each family's accessor, e.g.
// vlm_sam_of, is this with its own type).
void * vlm_model_arch(const struct vlm_model * m, const struct vlm_model_family * family);

// Borrows a compute context for one call (ctx itself when free: a single user always gets it);
// NULL with the reason in vlm_last_error() when none can be made. Give it back with
// vlm_model_ctx_release (a context with a sticky error is recovered or dropped there).
struct vlm_ctx * vlm_model_ctx_acquire(const struct vlm_model * m);
void             vlm_model_ctx_release(const struct vlm_model * m, struct vlm_ctx * x);

// When m's backend was chosen automatically and `st` says its Vulkan device was lost or ran
// out of memory: reloads the model on the CPU (printing a warning) and returns true, so the
// caller retries the failed call once. Otherwise returns false. Buffers made on the old
// context must be freed with m->lost_ctx.
bool vlm_model_fall_back_to_cpu(struct vlm_model * m, enum vlm_status st);
#endif
