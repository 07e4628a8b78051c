// ctx.c — execution context: backend choice, sticky errors, buffers, the activation arena,
// host <-> tensor copies.
#define _GNU_SOURCE   // strcasestr
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cblas.h>

#include "core.h"
#include "selftest.h"

#define ARENA_ALIGN 256
// Arena size used when vlm_ctx_new is given 0 bytes. On the CPU the pages are only touched
// when used, so a generous default costs nothing.
#define ARENA_DEFAULT_BYTES ((size_t)1 << 30)

// The public struct plus private storage (the backend name).
struct ctx_impl {
    struct vlm_ctx pub;
    char           name[256];
};

static struct vlm_tensor tensor_empty(void) {
    struct vlm_tensor t;
    memset(&t, 0, sizeof t);
    return t;
}

static void set_err(char * err, size_t err_size, const char * msg) {
    if (err && err_size) snprintf(err, err_size, "%s", msg);
}

// Mesa's lavapipe / llvmpipe and SwiftShader are Vulkan devices that run on the CPU.
static bool device_is_cpu(const char * name) {
    return name && (strcasestr(name, "llvmpipe") || strcasestr(name, "lavapipe") || strcasestr(name, "swiftshader"));
}

static int32_t env_device_index(void) {
    const char * e = getenv("VLM_VK_DEVICE");
    if (!e || !*e) return -1;
    char * end = NULL;
    long   v   = strtol(e, &end, 10);
    return (end && *end == '\0' && v >= 0 && v < 64) ? (int32_t)v : -1;
}

static struct vlm_ctx * ctx_new_arena(struct ctx_impl * c, size_t arena_bytes, char * err, size_t err_size);

// A zeroed context (NULL with the reason in err and the thread's error when out of memory).
static struct ctx_impl * ctx_alloc(char * err, size_t err_size) {
    struct ctx_impl * c = calloc(1, sizeof *c);
    if (!c) {
        set_err(err, err_size, "out of memory creating the execution context");
        vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory creating the execution context");
    }
    return c;
}

struct vlm_ctx * vlm_ctx_new(enum vlm_backend_type backend, int32_t n_threads, size_t arena_bytes,
                             char * err, size_t err_size) {
    char   msg[512];
    bool   forced = backend != VLM_BACKEND_AUTO;   // vulkan asked for explicitly (argument or env)
    struct ctx_impl * c = ctx_alloc(err, err_size);
    if (!c) return NULL;
    struct vlm_ctx * x = &c->pub;
    x->status = VLM_STATUS_OK;

    if (backend == VLM_BACKEND_AUTO) {
        const char * e = getenv("VLM_BACKEND");
        if (e && *e) {
            enum vlm_backend_type b;
            if (!vlm_backend_parse(e, &b)) {
                snprintf(msg, sizeof msg, "VLM_BACKEND=%s: expected cpu, vulkan or auto", e);
                goto fail_msg;
            }
            backend = b;
            forced  = b != VLM_BACKEND_AUTO;
        }
    }
    if (backend != VLM_BACKEND_AUTO && backend != VLM_BACKEND_CPU && backend != VLM_BACKEND_VULKAN) {
        snprintf(msg, sizeof msg, "unknown backend %d", (int)backend);
        goto fail_msg;
    }

    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int32_t)n : 1;
    }
    if (n_threads > 256) n_threads = 256;
    x->n_threads = n_threads;
    const char * prof = getenv("VLM_PROFILE");
    if (prof && *prof && strcmp(prof, "0") != 0) x->profile_ms = calloc(VLM_OP_COUNT, sizeof(double));

    x->backend = VLM_BACKEND_KIND_CPU;
    if (backend == VLM_BACKEND_VULKAN || backend == VLM_BACKEND_AUTO) {
        char vkerr[384] = "";
        struct vlm_vk * vk = vlm_vk_init(env_device_index(), vkerr, sizeof vkerr);
        if (!vk) {
            if (backend == VLM_BACKEND_VULKAN) {
                snprintf(msg, sizeof msg, "Vulkan backend requested but unavailable: %.400s",
                         vkerr[0] ? vkerr : "no usable device");
                vlm_error(VLM_STATUS_UNSUPPORTED, "%s", msg);
                set_err(err, err_size, msg);
                free(x->profile_ms);
                free(c);
                return NULL;
            }
            // AUTO: fall back to the CPU
        } else if (backend == VLM_BACKEND_AUTO && !forced && device_is_cpu(vlm_vk_device_name(vk)) &&
                   !getenv("VLM_VK_FAULT") && !getenv("VLM_SELFTEST_INJECT")) {
            // AUTO on a machine whose only Vulkan device runs on the CPU: the CPU backend
            // (BLAS) is faster than emulated shaders. (Unless a fault or a wrong result is
            // injected: then AUTO takes the device, so that the CPU fallback and the
            // self-test's gate can be tested on such a machine.)
            vlm_vk_free(vk);
        } else if (!vlm_selftest_gate(vk, backend == VLM_BACKEND_AUTO, vkerr, sizeof vkerr)) {
            // a kernel gave wrong results in the device's self-test: never its outputs
            vlm_vk_free(vk);
            if (backend == VLM_BACKEND_VULKAN) {
                snprintf(msg, sizeof msg, "%.380s; see `vlm devices --selftest` (VLM_VK_SKIP_SELFTEST=1 uses the device anyway)",
                         vkerr);
                vlm_error(VLM_STATUS_UNSUPPORTED, "%s", msg);
                set_err(err, err_size, msg);
                free(x->profile_ms);
                free(c);
                return NULL;
            }
            fprintf(stderr, "vlm: %s: using the CPU backend\n", vkerr);
        } else {
            x->vk      = vk;
            x->backend = VLM_BACKEND_KIND_VULKAN;
        }
    }
    if (x->backend == VLM_BACKEND_KIND_VULKAN)
        snprintf(c->name, sizeof c->name, "vulkan (%s)", vlm_vk_device_name(x->vk));
    else
        snprintf(c->name, sizeof c->name, "cpu");

    // BLAS runs single-threaded: the CPU backend splits work over OpenMP threads itself, so
    // that one threading runtime owns the cores (no oversubscription, deterministic splits).
    openblas_set_num_threads(1);
    return ctx_new_arena(c, arena_bytes, err, err_size);

fail_msg:
    vlm_error(VLM_STATUS_INVALID_ARG, "%s", msg);
    set_err(err, err_size, msg);
    free(x->profile_ms);
    free(c);
    return NULL;
}

struct vlm_ctx * vlm_ctx_new_session(struct vlm_ctx * model_ctx, size_t arena_bytes, char * err, size_t err_size) {
    struct ctx_impl * c = ctx_alloc(err, err_size);
    if (!c) return NULL;
    struct vlm_ctx * x = &c->pub;
    x->status    = VLM_STATUS_OK;
    x->backend   = model_ctx->backend;
    x->n_threads = model_ctx->n_threads;
    snprintf(c->name, sizeof c->name, "%s", vlm_ctx_backend_name(model_ctx));
    if (model_ctx->profile_ms) x->profile_ms = calloc(VLM_OP_COUNT, sizeof(double));
    if (model_ctx->vk) {
        char vkerr[300] = "";
        if (!(x->vk = vlm_vk_share(model_ctx->vk, vkerr, sizeof vkerr))) {
            char msg[400];
            snprintf(msg, sizeof msg, "cannot create a session on the Vulkan device: %s", vkerr);
            vlm_error(VLM_STATUS_DEVICE_OOM, "%s", msg);
            set_err(err, err_size, msg);
            free(x->profile_ms);
            free(c);
            return NULL;
        }
    }
    return ctx_new_arena(c, arena_bytes, err, err_size);
}

// The arena of a new context (the context is freed on failure).
static struct vlm_ctx * ctx_new_arena(struct ctx_impl * c, size_t arena_bytes, char * err, size_t err_size) {
    struct vlm_ctx * x = &c->pub;
    char msg[512];
    if (arena_bytes == 0) arena_bytes = ARENA_DEFAULT_BYTES;
    if (!vlm_align_size(arena_bytes, ARENA_ALIGN, &arena_bytes)) {
        snprintf(msg, sizeof msg, "activation arena size %zu is too large", arena_bytes);
        vlm_error(VLM_STATUS_INVALID_ARG, "%s", msg);
        set_err(err, err_size, msg);
        vlm_ctx_free(x);
        return NULL;
    }
    x->arena = vlm_buffer_new(x, arena_bytes);
    if (!x->arena) {
        snprintf(msg, sizeof msg, "cannot allocate the activation arena (%.1f MiB): %.300s",
                 (double)arena_bytes / (1 << 20), x->error);
        enum vlm_status st = x->status != VLM_STATUS_OK ? x->status : VLM_STATUS_OUT_OF_MEMORY;
        vlm_error(st, "%s", msg);
        set_err(err, err_size, msg);
        vlm_ctx_free(x);
        return NULL;
    }
    x->arena_size = arena_bytes;
    x->arena_used = 0;
    x->arena_peak = 0;
    return x;
}

// VLM_PROFILE=1: time per op type, printed to stderr when the context ends: wall time of the
// CPU backend's ops, device time of the Vulkan backend's dispatches (timestamp queries, read
// when their batch is waited for; none where the queue has no timestamps).
void vlm_ctx_profile_flush(struct vlm_ctx * x, const char * label) {
    if (!x || !x->profile_ms) return;
    double total = 0;
    for (int i = 0; i < VLM_OP_COUNT; i++) total += x->profile_ms[i];
    if (total <= 0) return;
    fprintf(stderr, "vlm profile (%s%s%s): %.1f ms in ops\n", vlm_ctx_backend_name(x), label ? ", " : "", label ? label : "", total);
    for (int i = 0; i < VLM_OP_COUNT; i++)
        if (x->profile_ms[i] > 0)
            fprintf(stderr, "  %-18s %10.1f ms %5.1f%%\n", vlm_op_name((enum vlm_op_type) i), x->profile_ms[i], 100 * x->profile_ms[i] / total);
    memset(x->profile_ms, 0, VLM_OP_COUNT * sizeof(double));
}

void vlm_ctx_free(struct vlm_ctx * x) {
    if (!x) return;
    if (x->profile_ms) {
        vlm_ctx_profile_flush(x, NULL);
        free(x->profile_ms);
    }
    if (x->backend == VLM_BACKEND_KIND_VULKAN && x->vk) vlm_vk_sync(x);
    vlm_buffer_free(x, x->arena);
    x->arena = NULL;
    if (x->vk) vlm_vk_free(x->vk);
    free((struct ctx_impl *)x);
}

const char * vlm_ctx_backend_name(const struct vlm_ctx * x) {
    if (!x) return "none";
    return ((const struct ctx_impl *)x)->name;
}

enum vlm_status vlm_ctx_fail(struct vlm_ctx * x, enum vlm_status status, const char * fmt, ...) {
    if (!x) return status;
    if (x->status == VLM_STATUS_OK && status != VLM_STATUS_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(x->error, sizeof x->error, fmt, ap);
        va_end(ap);
        for (char * p = x->error; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
        x->status = status;
        vlm_error(status, "%s", x->error);
    }
    return status;
}

enum vlm_status vlm_ctx_sync(struct vlm_ctx * x) {
    if (x->backend == VLM_BACKEND_KIND_VULKAN && x->vk) vlm_vk_sync(x);
    return x->status;
}

// ---- buffers ----------------------------------------------------------------------------

struct vlm_buffer * vlm_buffer_new(struct vlm_ctx * x, size_t bytes) {
    if (x->backend == VLM_BACKEND_KIND_VULKAN) return vlm_vk_buffer_new(x, bytes);
    size_t alloc;
    if (!vlm_align_size(bytes ? bytes : 1, ARENA_ALIGN, &alloc)) {
        vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "buffer of %zu bytes is too large", bytes);
        return NULL;
    }
    struct vlm_buffer * b = calloc(1, sizeof *b);
    void *              p = b ? aligned_alloc(ARENA_ALIGN, alloc) : NULL;
    if (!p) {
        free(b);
        vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "out of host memory allocating %.1f MiB",
                     (double)bytes / (1 << 20));
        return NULL;
    }
    b->kind = VLM_BACKEND_KIND_CPU;
    b->size = bytes;
    b->host = p;
    b->vk   = NULL;
    return b;
}

struct vlm_buffer * vlm_buffer_wrap_host(struct vlm_ctx * x, const void * host, size_t bytes) {
    if (x->backend != VLM_BACKEND_KIND_CPU || !host) return NULL;
    struct vlm_buffer * b = calloc(1, sizeof *b);
    if (!b) {
        vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "out of host memory");
        return NULL;
    }
    b->kind     = VLM_BACKEND_KIND_CPU;
    b->size     = bytes;
    b->host     = (void *)host;   // read-only: only weights live there, and no op writes weights
    b->borrowed = true;
    return b;
}

void vlm_buffer_free(struct vlm_ctx * x, struct vlm_buffer * b) {
    if (!b) return;
    if (b->kind == VLM_BACKEND_KIND_VULKAN) {
        vlm_vk_buffer_free(x, b);
        return;
    }
    if (!b->borrowed) free(b->host);
    free(b);
}

void * vlm_buffer_host(struct vlm_buffer * b) { return b ? b->host : NULL; }

// ---- arena -------------------------------------------------------------------------------

size_t vlm_arena_mark(struct vlm_ctx * x) { return x->arena_used; }

void vlm_arena_reset(struct vlm_ctx * x, size_t mark) {
    if (mark <= x->arena_used) x->arena_used = mark;
}

// Bytes of a contiguous tensor of the given shape; false on a bad shape or overflow.
static bool shape_bytes(enum vlm_dtype dtype, int32_t n_dims, const int64_t * shape, size_t * out) {
    if ((unsigned)dtype >= VLM_DTYPE_COUNT || n_dims <= 0 || n_dims > VLM_MAX_DIMS || !shape) return false;
    size_t n = 1;
    for (int i = 0; i < n_dims; i++) {
        if (shape[i] <= 0 || !vlm_mul_size(n, (size_t)shape[i], &n)) return false;
    }
    int32_t block = vlm_dtype_traits(dtype)->block;
    if (n > (size_t)INT64_MAX || shape[n_dims - 1] % block != 0) return false;
    *out = vlm_dtype_nbytes(dtype, (int64_t)n);
    return *out != 0;
}

struct vlm_tensor vlm_tensor_new(struct vlm_ctx * x, enum vlm_dtype dtype, int32_t n_dims, const int64_t * shape) {
    if (!vlm_ctx_ok(x)) return tensor_empty();
    size_t bytes, start = 0, end;
    if (!shape_bytes(dtype, n_dims, shape, &bytes)) {
        struct vlm_tensor t = tensor_empty();
        t.dtype = dtype;
        if (n_dims > 0 && n_dims <= VLM_MAX_DIMS && shape) vlm_tensor_set_shape(&t, n_dims, shape);
        char s[128];
        vlm_tensor_shape_str(&t, s, sizeof s);
        vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "tensor_new: invalid shape %s (%d dims)", s, (int)n_dims);
        return tensor_empty();
    }
    if (!x->arena || !vlm_align_size(x->arena_used, ARENA_ALIGN, &start) || !vlm_add_size(start, bytes, &end) ||
        end > x->arena_size) {
        double need = (double)start / (1 << 20) + (double)bytes / (1 << 20);
        vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY,
                     "activation arena exhausted (need %.1f MiB, have %.1f MiB): raise the arena size",
                     need, (double)x->arena_size / (1 << 20));
        return tensor_empty();
    }
    x->arena_used = end;
    if (end > x->arena_peak) x->arena_peak = end;
    struct vlm_tensor t = tensor_empty();
    t.dtype  = dtype;
    t.buf    = x->arena;
    t.offset = start;
    vlm_tensor_set_shape(&t, n_dims, shape);
    return t;
}

struct vlm_tensor vlm_tensor_in(struct vlm_buffer * b, size_t offset, enum vlm_dtype dtype, int32_t n_dims,
                                const int64_t * shape) {
    size_t bytes, end;
    if (!b || !shape_bytes(dtype, n_dims, shape, &bytes) || !vlm_add_size(offset, bytes, &end) || end > b->size)
        return tensor_empty();
    struct vlm_tensor t = tensor_empty();
    t.dtype  = dtype;
    t.buf    = b;
    t.offset = offset;
    vlm_tensor_set_shape(&t, n_dims, shape);
    return t;
}

void * vlm_tensor_host(const struct vlm_tensor * t) {
    if (!t || !t->buf || !t->buf->host) return NULL;
    return (char *)t->buf->host + t->offset;
}

// ---- host <-> tensor ----------------------------------------------------------------------

// True when every element of t lies inside its buffer; block dtypes must be contiguous.
static bool tensor_in_bounds(const struct vlm_tensor * t) {
    size_t end;
    if (!t->buf || !vlm_tensor_extent(t, &end) || !vlm_add_size(end, t->offset, &end)) return false;
    if (vlm_dtype_is_block(t->dtype) && !vlm_tensor_is_contiguous(t)) return false;
    return end <= t->buf->size;
}

// Copies between contiguous host memory and a strided host tensor (dir 0: to tensor).
static void host_strided_copy(const struct vlm_tensor * t, void * contig, int to_tensor) {
    size_t    es = vlm_dtype_size(t->dtype);
    char *    base = vlm_tensor_host(t);
    char *    h    = contig;
    int64_t   ne[4] = { 1, 1, 1, 1 }, st[4] = { 0, 0, 0, 0 };
    int       off = VLM_MAX_DIMS - t->n_dims;
    for (int i = 0; i < t->n_dims; i++) { ne[off + i] = t->shape[i]; st[off + i] = t->stride[i]; }
    for (int64_t i0 = 0; i0 < ne[0]; i0++)
        for (int64_t i1 = 0; i1 < ne[1]; i1++)
            for (int64_t i2 = 0; i2 < ne[2]; i2++) {
                char * row = base + (size_t)(i0 * st[0] + i1 * st[1] + i2 * st[2]) * es;
                if (st[3] == 1) {
                    if (to_tensor) memcpy(row, h, (size_t)ne[3] * es);
                    else           memcpy(h, row, (size_t)ne[3] * es);
                    h += (size_t)ne[3] * es;
                } else {
                    for (int64_t i3 = 0; i3 < ne[3]; i3++, h += es) {
                        if (to_tensor) memcpy(row + (size_t)(i3 * st[3]) * es, h, es);
                        else           memcpy(h, row + (size_t)(i3 * st[3]) * es, es);
                    }
                }
            }
}

void vlm_tensor_upload(struct vlm_ctx * x, struct vlm_tensor t, const void * data) {
    if (!vlm_ctx_ok(x)) return;
    if (!data || !tensor_in_bounds(&t)) {
        char s[128];
        vlm_tensor_shape_str(&t, s, sizeof s);
        vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "tensor_upload: invalid tensor %s or data", s);
        return;
    }
    size_t bytes = vlm_dtype_nbytes(t.dtype, vlm_tensor_numel(&t));
    if (t.buf->kind == VLM_BACKEND_KIND_CPU) {
        if (vlm_tensor_is_contiguous(&t)) memcpy(vlm_tensor_host(&t), data, bytes);
        else                              host_strided_copy(&t, (void *)data, 1);
        return;
    }
    if (vlm_tensor_is_contiguous(&t)) {
        vlm_vk_upload(x, t.buf, t.offset, data, bytes);
        return;
    }
    // strided device view: upload contiguous into the arena, then copy into the view
    struct vlm_tensor tmp = vlm_tensor_new(x, t.dtype, t.n_dims, t.shape);
    if (!vlm_ctx_ok(x)) return;
    vlm_vk_upload(x, tmp.buf, tmp.offset, data, bytes);
    vlm_op_copy_into(x, t, tmp);
    // tmp stays allocated until the caller resets the arena: the copy may still be pending.
}

void vlm_tensor_download(struct vlm_ctx * x, struct vlm_tensor t, void * data) {
    if (vlm_ctx_sync(x) != VLM_STATUS_OK) return;
    if (!data || !tensor_in_bounds(&t)) {
        char s[128];
        vlm_tensor_shape_str(&t, s, sizeof s);
        vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "tensor_download: invalid tensor %s or data", s);
        return;
    }
    size_t bytes = vlm_dtype_nbytes(t.dtype, vlm_tensor_numel(&t));
    if (t.buf->kind == VLM_BACKEND_KIND_CPU) {
        if (vlm_tensor_is_contiguous(&t)) memcpy(data, vlm_tensor_host(&t), bytes);
        else                              host_strided_copy(&t, data, 0);
        return;
    }
    if (vlm_tensor_is_contiguous(&t)) {
        vlm_vk_download(x, t.buf, t.offset, data, bytes);
        return;
    }
    // strided device view: gather into a contiguous arena tensor with a COPY op, then read
    size_t            mark = vlm_arena_mark(x);
    struct vlm_tensor tmp  = vlm_op_copy(x, t, t.dtype);
    if (vlm_ctx_sync(x) == VLM_STATUS_OK) vlm_vk_download(x, tmp.buf, tmp.offset, data, bytes);
    vlm_arena_reset(x, mark);
}

struct vlm_tensor vlm_tensor_from_host(struct vlm_ctx * x, enum vlm_dtype dtype, int32_t n_dims,
                                       const int64_t * shape, const void * data) {
    struct vlm_tensor t = vlm_tensor_new(x, dtype, n_dims, shape);
    if (!vlm_ctx_ok(x)) return tensor_empty();
    vlm_tensor_upload(x, t, data);
    return vlm_ctx_ok(x) ? t : tensor_empty();
}

void vlm_ctx_recover(struct vlm_ctx * x) {
    vlm_ctx_sync(x);
    if (x->status == VLM_STATUS_DEVICE_LOST) return;
    x->status = VLM_STATUS_OK;
    x->error[0] = 0;
}
