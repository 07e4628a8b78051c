// weights.c — the weight store: named tensors of a model file uploaded once to one backend
// buffer, floats converted to F32 (F16 / BF16 / quantized on load) or, for the linear weights a
// policy names, to F16 / Q8_0 or kept as stored F16 / BF16; each tensor 256-byte aligned; or,
// for GGUF files loaded as stored, kept in their stored type (on the CPU backend pointing into
// the file's mapping).
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf-meta.h"
#include "model-file.h"
#include "name-table.h"

#define WEIGHTS_ALIGN 256

struct weights_entry {
    const char *      name;       // points into the file's names (copied below)
    struct vlm_tensor t;          // n_dims 0 / buf NULL for tensors with no elements
    int32_t           n_dims;     // file dims (PyTorch order)
    int64_t           shape[VLM_MAX_DIMS];
};

struct vlm_weights {
    struct vlm_buffer *    buf;
    struct vlm_buffer *    file_buf;   // CPU, stored types: the mapped file (borrowed)
    int32_t                n;
    struct weights_entry * entries;
    char *                 names;
    int32_t *              slots;
    uint32_t               n_slots;
    int64_t                params;
};

static const char * entry_name_of(const void * items, int32_t i) {
    return ((const struct weights_entry *)items)[i].name;
}

// Tensors to load: those under one of the prefixes (all when NULL), except I64 ones (index
// buffers such as HF's position_ids, which the models compute themselves).
static bool selected(const struct vlm_file_tensor * ft, const char * const * prefixes) {
    if (ft->dtype == VLM_DTYPE_I64) return false;
    const char * name = ft->name;
    if (!prefixes) return true;
    for (const char * const * p = prefixes; *p; p++)
        if (strncmp(name, *p, strlen(*p)) == 0) return true;
    return false;
}

static bool is_float(enum vlm_dtype d) { return d == VLM_DTYPE_F32 || d == VLM_DTYPE_F16 || d == VLM_DTYPE_BF16; }

// Converted to F32 on load (unless kept as stored): floats and the block types.
static bool to_convert(enum vlm_dtype d) { return is_float(d) || vlm_dtype_is_block(d); }

// Index of the first non-finite value of v[0..n), or n.
static size_t first_non_finite(const float * v, size_t n) {
    int bad = 0;
    if (n >= (1u << 20)) {
#pragma omp parallel for reduction(| : bad) schedule(static)
        for (size_t i = 0; i < n; i++) bad |= !isfinite(v[i]);
        if (!bad) return n;
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return i;
    return n;
}

void vlm_weights_free(struct vlm_ctx * x, struct vlm_weights * w) {
    if (!w) return;
    if (w->buf && w->buf->host) vlm_cpu_unpack_weights(w->buf->host, w->buf->size);
    if (w->buf) vlm_buffer_free(x, w->buf);
    if (w->file_buf) vlm_buffer_free(x, w->file_buf);
    free(w->entries);
    free(w->names);
    free(w->slots);
    free(w);
}

// The tensors of a file, whatever its format.
struct tensor_list {
    const struct vlm_file_tensor * (*get)(const void * file, int32_t i);
    const void * file;
    int32_t      n;
};

static const struct vlm_file_tensor * st_get(const void * file, int32_t i) {
    return &((const struct vlm_safetensors *)file)->tensors[i];
}
static const struct vlm_file_tensor * gguf_get(const void * file, int32_t i) {
    return vlm_gguf_tensor((const struct vlm_gguf *)file, i);
}

// The type a tensor is stored in: as in the file (map: GGUF kept as stored, or I32), F32, or
// for the linear weights a policy names, the policy's type (or the stored F16 / BF16).
static enum vlm_dtype stored_type(const struct vlm_file_tensor * ft, const void * map,
                                  const struct vlm_linear_weights * lin) {
    if (map || !to_convert(ft->dtype)) return ft->dtype;
    if (!lin || (!lin->as_stored && lin->dtype == VLM_DTYPE_F32) || !lin->suffixes || !is_float(ft->dtype) ||
        ft->n_dims != 2)
        return VLM_DTYPE_F32;
    const size_t len = strlen(ft->name);
    for (const char * const * sfx = lin->suffixes; *sfx; sfx++) {
        const size_t n = strlen(*sfx);
        if (len < n || strcmp(ft->name + len - n, *sfx) != 0) continue;
        if (lin->as_stored) return ft->dtype == VLM_DTYPE_F32 ? VLM_DTYPE_F32 : ft->dtype;
        return vlm_dtype_nbytes(lin->dtype, ft->shape[1]) ? lin->dtype : VLM_DTYPE_F32;   // whole blocks per row
    }
    return VLM_DTYPE_F32;
}

// map: the mapped file when tensors keep their stored type (NULL: convert to F32, or to lin's
// type for the linear weights it names).
static enum vlm_status load(struct vlm_ctx * x, const struct tensor_list * list, const char * const * prefixes,
                            const void * map, size_t map_size, const struct vlm_linear_weights * lin,
                            struct vlm_weights ** out) {
    if (!vlm_ctx_ok(x)) return vlm_error(x->status, "%s", x->error);

    enum vlm_status status = VLM_STATUS_OK;
    float * scratch = NULL;
    size_t * offsets = NULL;
    const struct vlm_file_tensor ** src = NULL;
    struct vlm_weights * w = calloc(1, sizeof *w);
    if (!w) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "weights: out of memory");

    // pass 1: select, check and lay out
    int32_t n = 0;
    size_t name_bytes = 0;
    for (int32_t i = 0; i < list->n; i++) {
        const struct vlm_file_tensor * ft = list->get(list->file, i);
        if (selected(ft, prefixes)) { n++; name_bytes += strlen(ft->name) + 1; }
    }
    w->entries = calloc(n ? (size_t)n : 1, sizeof *w->entries);
    w->names = malloc(name_bytes + 1);
    w->n_slots = vlm_name_table_slots(n);
    w->slots = w->n_slots ? malloc((size_t)w->n_slots * sizeof *w->slots) : NULL;
    if (!w->entries || !w->names || !w->slots) {
        status = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "weights: out of memory for %d tensors", n);
        goto fail;
    }
    memset(w->slots, 0xff, (size_t)w->n_slots * sizeof *w->slots);

    size_t total = 0, max_numel = 0, max_converted = 0;
    char * name_at = w->names;
    int32_t k = 0;
    offsets = malloc((n ? (size_t)n : 1) * sizeof *offsets);
    src = malloc((n ? (size_t)n : 1) * sizeof *src);
    if (!offsets || !src) { status = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "weights: out of memory"); goto fail; }
    for (int32_t i = 0; i < list->n; i++) {
        const struct vlm_file_tensor * ft = list->get(list->file, i);
        if (!selected(ft, prefixes)) continue;
        struct weights_entry * e = &w->entries[k];
        size_t len = strlen(ft->name);
        memcpy(name_at, ft->name, len + 1);
        e->name = name_at;
        name_at += len + 1;
        if (vlm_name_table_insert(w->slots, w->n_slots, e->name, k, entry_name_of, w->entries) >= 0) {
            status = vlm_error(VLM_STATUS_BAD_MODEL, "weights: duplicate tensor '%s'", ft->name);
            goto fail;
        }
        if (ft->n_dims > VLM_MAX_DIMS) {
            status = vlm_error(VLM_STATUS_UNSUPPORTED, "tensor '%s' has %d dims (at most %d supported)", ft->name,
                               ft->n_dims, VLM_MAX_DIMS);
            goto fail;
        }
        if (ft->gguf_type >= 0 && ft->dtype != VLM_DTYPE_I32 && !to_convert(ft->dtype)) {
            status = vlm_error(VLM_STATUS_UNSUPPORTED, "tensor '%s' has GGUF type %s (supported: F32, F16, BF16, Q8_0, "
                               "Q4_0, Q4_K, I32)", ft->name, vlm_gguf_type_name(ft->gguf_type));
            goto fail;
        }
        // a 0-dim (scalar) tensor is stored as [1]
        e->n_dims = ft->n_dims > 0 ? ft->n_dims : 1;
        size_t numel = 1, bytes = 0, start, end;
        bool ok = true;
        for (int32_t d = 0; d < e->n_dims; d++) {
            e->shape[d] = ft->n_dims > 0 ? ft->shape[d] : 1;
            ok = ok && vlm_mul_size(numel, (size_t)e->shape[d], &numel);
        }
        enum vlm_dtype dt = stored_type(ft, map, lin);
        e->t.dtype = dt;
        bool in_file = map && x->backend == VLM_BACKEND_KIND_CPU && dt != VLM_DTYPE_F32 && numel > 0;
        if (!ok || ((bytes = vlm_dtype_nbytes(dt, (int64_t)numel)) == 0 && numel > 0)) {
            status = vlm_error(VLM_STATUS_BAD_MODEL, "tensor '%s' has a size that overflows or splits a block", ft->name);
            goto fail;
        }
        if (in_file) {   // a view of the mapped file: its offset there, nothing to allocate
            offsets[k] = (size_t)((const char *)ft->data - (const char *)map);
        } else {
            if (!vlm_align_size(total, WEIGHTS_ALIGN, &start) || !vlm_add_size(start, bytes, &end)) {
                status = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "weights: total size overflows");
                goto fail;
            }
            offsets[k] = start;
            total = end;
        }
        // staged as F32 when the buffer is not host memory, or when converted on to dt
        if (dt == VLM_DTYPE_F32 && numel > max_numel) max_numel = numel;
        if (dt != VLM_DTYPE_F32 && (dt != ft->dtype || is_float(dt)) && numel > max_converted) max_converted = numel;
        src[k] = ft;
        w->params += (int64_t)numel;
        k++;
    }
    w->n = k;

    // pass 2: one buffer, convert and upload
    w->buf = vlm_buffer_new(x, total ? total : WEIGHTS_ALIGN);
    if (!w->buf || !vlm_ctx_ok(x)) {
        status = vlm_ctx_ok(x) ? vlm_error(VLM_STATUS_DEVICE_OOM, "weights: cannot allocate %.1f MiB",
                                           (double)total / (1 << 20))
                               : vlm_error(x->status, "weights: %s", x->error);
        goto fail;
    }
    if (map && x->backend == VLM_BACKEND_KIND_CPU && !(w->file_buf = vlm_buffer_wrap_host(x, map, map_size))) {
        status = vlm_error(x->status, "weights: %s", x->error);
        goto fail;
    }
    char * host = vlm_buffer_host(w->buf);
    if (host) max_numel = 0;
    if (max_converted > max_numel) max_numel = max_converted;
    if (max_numel > 0) {
        scratch = malloc(max_numel * sizeof(float));
        if (!scratch) {
            status = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "weights: out of memory for a %.1f MiB staging copy",
                               (double)max_numel * 4 / (1 << 20));
            goto fail;
        }
    }
    for (int32_t i = 0; i < w->n; i++) {
        struct weights_entry * e = &w->entries[i];
        const struct vlm_file_tensor * ft = src[i];
        size_t numel = 1;
        for (int32_t d = 0; d < e->n_dims; d++) numel *= (size_t)e->shape[d];
        if (numel == 0) {   // nothing to upload; the header keeps the shape for lookups
            e->t.n_dims = 0;
            continue;
        }
        bool in_file = w->file_buf && e->t.dtype != VLM_DTYPE_F32;
        e->t = vlm_tensor_in(in_file ? w->file_buf : w->buf, offsets[i], e->t.dtype, e->n_dims, e->shape);
        if (!vlm_tensor_valid(&e->t)) {
            status = vlm_error(VLM_STATUS_BAD_MODEL, "weights: cannot place tensor '%s'", e->name);
            goto fail;
        }
        if (in_file) continue;
        const bool kept = e->t.dtype == ft->dtype && e->t.dtype != VLM_DTYPE_F32;   // I32, or a type kept as stored
        if (kept && !is_float(ft->dtype)) {
            vlm_tensor_upload(x, e->t, ft->data);
        } else {   // to F32 and checked (F16 / BF16 kept as stored too), then to the policy's type
            const bool as_f32 = e->t.dtype == VLM_DTYPE_F32;
            float *    f = as_f32 && host ? (float *)(host + offsets[i]) : scratch;
            vlm_dtype_traits(ft->dtype)->to_f32(ft->data, f, (int64_t)numel);
            size_t bad = first_non_finite(f, numel);
            if (bad < numel) {
                status = vlm_error(VLM_STATUS_NON_FINITE, "tensor '%s' has a non-finite value (%g) at element %zu",
                                   e->name, (double)f[bad], bad);
                goto fail;
            }
            if (kept) {
                vlm_tensor_upload(x, e->t, ft->data);
            } else if (!as_f32 && host) {
                vlm_dtype_traits(e->t.dtype)->from_f32(f, host + offsets[i], (int64_t)numel);
                // a linear weight quantized here: also packed for the 8-bit GEMM (where it runs)
                if (e->n_dims == 2) vlm_cpu_pack_weight(host + offsets[i], e->t.dtype, e->shape[0], e->shape[1], x->n_threads);
            } else if (!as_f32) {
                void * q = malloc(vlm_dtype_nbytes(e->t.dtype, (int64_t)numel));
                if (!q) { status = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "weights: out of memory converting '%s'", e->name); goto fail; }
                vlm_dtype_traits(e->t.dtype)->from_f32(f, q, (int64_t)numel);
                vlm_tensor_upload(x, e->t, q);
                free(q);
            } else if (!host) {
                vlm_tensor_upload(x, e->t, f);
            }
        }
        if (!vlm_ctx_ok(x)) {
            status = vlm_error(x->status, "weights: uploading '%s': %s", e->name, x->error);
            goto fail;
        }
    }
    if (vlm_ctx_sync(x) != VLM_STATUS_OK) {
        status = vlm_error(x->status, "weights: %s", x->error);
        goto fail;
    }
    free(offsets);
    free(src);
    free(scratch);
    *out = w;
    return VLM_STATUS_OK;
fail:
    free(offsets);
    free(src);
    free(scratch);
    vlm_weights_free(x, w);
    return status;
}

enum vlm_status vlm_weights_load(struct vlm_ctx * x, const struct vlm_safetensors * st,
                                 const char * const * prefixes, struct vlm_weights ** out) {
    return vlm_weights_load_as(x, st, prefixes, NULL, out);
}

enum vlm_status vlm_weights_load_as(struct vlm_ctx * x, const struct vlm_safetensors * st, const char * const * prefixes,
                                    const struct vlm_linear_weights * lin, struct vlm_weights ** out) {
    if (!out) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_weights_load_as: out is NULL");
    *out = NULL;
    if (!x || !st) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_weights_load_as: no context or file");
    struct tensor_list list = { st_get, st, st->n_tensors };
    return load(x, &list, prefixes, NULL, 0, lin, out);
}

enum vlm_status vlm_weights_load_gguf(struct vlm_ctx * x, const struct vlm_gguf * g, const char * const * prefixes,
                                      struct vlm_weights ** out) {
    if (!out) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_weights_load_gguf: out is NULL");
    *out = NULL;
    if (!x || !g) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_weights_load_gguf: no context or file");
    struct tensor_list list = { gguf_get, g, vlm_gguf_n_tensors(g) };
    return load(x, &list, prefixes, NULL, 0, NULL, out);
}

enum vlm_status vlm_weights_load_gguf_stored(struct vlm_ctx * x, const struct vlm_gguf * g,
                                             const char * const * prefixes, struct vlm_weights ** out) {
    if (!out) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_weights_load_gguf_stored: out is NULL");
    *out = NULL;
    if (!x || !g) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_weights_load_gguf_stored: no context or file");
    struct tensor_list list = { gguf_get, g, vlm_gguf_n_tensors(g) };
    const void * map;
    size_t map_size;
    vlm_gguf_mapping(g, &map, &map_size);
    return load(x, &list, prefixes, map, map_size, NULL, out);
}

static const struct weights_entry * find_entry(const struct vlm_weights * w, const char * name) {
    if (!w || !name) return NULL;
    int32_t i = vlm_name_table_find(w->slots, w->n_slots, name, entry_name_of, w->entries);
    return i >= 0 ? &w->entries[i] : NULL;
}

bool vlm_weights_has(const struct vlm_weights * w, const char * name) { return find_entry(w, name) != NULL; }

int64_t vlm_weights_param_count(const struct vlm_weights * w) { return w ? w->params : 0; }

static void dims_str(int32_t n_dims, const int64_t * shape, char * out, size_t size) {
    size_t n = (size_t)snprintf(out, size, "[");
    for (int32_t i = 0; i < n_dims && n < size; i++) {
        if (shape[i] < 0) n += (size_t)snprintf(out + n, size - n, "%s*", i ? ", " : "");
        else n += (size_t)snprintf(out + n, size - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    }
    if (n < size) snprintf(out + n, size - n, "]");
}

struct vlm_tensor vlm_weights_get(struct vlm_ctx * x, const struct vlm_weights * w, const char * name,
                                  int32_t n_dims, const int64_t * shape) {
    struct vlm_tensor empty;
    memset(&empty, 0, sizeof empty);
    const struct weights_entry * e = find_entry(w, name);
    if (!e) {
        vlm_ctx_fail(x, VLM_STATUS_BAD_MODEL, "missing tensor '%s'", name ? name : "(null)");
        return empty;
    }
    bool ok = n_dims <= 0 || n_dims == e->n_dims;
    for (int32_t i = 0; ok && shape && i < n_dims; i++) ok = shape[i] < 0 || shape[i] == e->shape[i];
    if (!ok) {
        char have[160], want[160];
        dims_str(e->n_dims, e->shape, have, sizeof have);
        if (shape) dims_str(n_dims, shape, want, sizeof want);
        else snprintf(want, sizeof want, "%d dims", n_dims);
        vlm_ctx_fail(x, VLM_STATUS_BAD_MODEL, "tensor '%s' has shape %s, expected %s", name, have, want);
        return empty;
    }
    return e->t;
}

struct vlm_tensor vlm_weights_getf(struct vlm_ctx * x, const struct vlm_weights * w, int32_t n_dims,
                                   const int64_t * shape, const char * fmt, ...) {
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof name) {
        struct vlm_tensor empty;
        memset(&empty, 0, sizeof empty);
        vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "tensor name too long ('%.64s...')", name);
        return empty;
    }
    return vlm_weights_get(x, w, name, n_dims, shape);
}
