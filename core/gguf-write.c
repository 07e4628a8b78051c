// gguf-write.c — GGUF v3 writer: a file's metadata copied record by record and its tensors
// re-typed through the dtype table, laid out as ggml's gguf_write_to_file does.
// ref: ggml-org/ggml docs/gguf.md ("File Structure"): header, metadata, tensor infos (name,
//   n_dims, ne[] innermost first, ggml type, offset), padding to general.alignment (32), data
//   with every tensor's offset a multiple of the alignment.
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf-meta.h"

#define GGUF_ALIGN   32
#define ROWS_PER_PASS 256   // rows converted at a time (bounds the F32 staging memory)

static bool put(FILE * f, const void * p, size_t n) { return fwrite(p, 1, n, f) == n; }
static bool put_u32(FILE * f, uint32_t v) { return put(f, &v, 4); }
static bool put_u64(FILE * f, uint64_t v) { return put(f, &v, 8); }
static bool put_str(FILE * f, const char * s) { return put_u64(f, strlen(s)) && put(f, s, strlen(s)); }
static bool put_zeros(FILE * f, size_t n) {
    static const uint8_t z[GGUF_ALIGN] = { 0 };
    return put(f, z, n);
}

// Rows [r0, r0 + n) of ft converted to type `to` into out (F32 staging in tmp).
static void convert_rows(const struct vlm_file_tensor * ft, int64_t row_len, int64_t r0, int64_t n, enum vlm_dtype to,
                         float * tmp, uint8_t * out) {
    const struct vlm_dtype_traits * from = vlm_dtype_traits(ft->dtype), * dst = vlm_dtype_traits(to);
    size_t in_row = vlm_dtype_nbytes(ft->dtype, row_len), out_row = vlm_dtype_nbytes(to, row_len);
    #pragma omp parallel for schedule(dynamic, 4)
    for (int64_t r = 0; r < n; r++) {
        float * row = tmp + r * row_len;
        from->to_f32((const uint8_t *)ft->data + (size_t)(r0 + r) * in_row, row, row_len);
        dst->from_f32(row, out + (size_t)r * out_row, row_len);
    }
}

enum vlm_status vlm_gguf_write_retyped(const char * path, const struct vlm_gguf * src, const enum vlm_dtype * types,
                                       int64_t file_type, FILE * progress) {
    if (!path || !src || !types) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_gguf_write_retyped: missing argument");
    int32_t nt = vlm_gguf_n_tensors(src);
    // check every tensor first: nothing is written for a request that cannot be met
    for (int32_t i = 0; i < nt; i++) {
        const struct vlm_file_tensor * ft = vlm_gguf_tensor(src, i);
        const struct vlm_dtype_traits * to = vlm_dtype_traits(types[i]);
        int64_t row_len = ft->n_dims > 0 ? ft->shape[ft->n_dims - 1] : 1;
        bool same = types[i] == ft->dtype;
        if (to->ggml_type < 0 || ft->dtype == VLM_DTYPE_COUNT ||
            (!same && (!vlm_dtype_traits(ft->dtype)->to_f32 || !to->from_f32)) || row_len % to->block != 0) {
            return vlm_error(VLM_STATUS_INVALID_ARG, "%s: tensor '%s' (%s, rows of %" PRId64 ") cannot be stored as %s",
                             path, ft->name, vlm_gguf_type_name(ft->gguf_type), row_len, to->name);
        }
    }

    struct vlm_atomic_file af;
    enum vlm_status status = vlm_atomic_open(&af, path);
    if (status != VLM_STATUS_OK) return status;
    FILE * f = af.f;
    float * stage = NULL;
    uint8_t * out = NULL;
    size_t stage_cap = 0, out_cap = 0;

    // header and metadata
    int64_t n_kv = vlm_gguf_n_kv(src), kept = 0;
    bool has_ftype = false;
    for (int64_t i = 0; i < n_kv; i++) {
        const char * key;
        const void * rec;
        size_t n;
        vlm_gguf_kv_record(src, i, &key, &rec, &n);
        if (strcmp(key, "general.alignment") != 0) kept++;
        has_ftype = has_ftype || strcmp(key, "general.file_type") == 0;
    }
    bool ok = put(f, "GGUF", 4) && put_u32(f, 3) && put_u64(f, (uint64_t)nt) &&
              put_u64(f, (uint64_t)(kept + (!has_ftype && file_type >= 0)));
    for (int64_t i = 0; ok && i < n_kv; i++) {
        const char * key;
        const void * rec;
        size_t n;
        vlm_gguf_kv_record(src, i, &key, &rec, &n);
        if (strcmp(key, "general.alignment") == 0) continue;
        if (strcmp(key, "general.file_type") == 0 && file_type >= 0)
            ok = put_str(f, key) && put_u32(f, VLM_GGUF_TYPE_UINT32) && put_u32(f, (uint32_t)file_type);
        else
            ok = put(f, rec, n);
    }
    if (ok && !has_ftype && file_type >= 0)
        ok = put_str(f, "general.file_type") && put_u32(f, VLM_GGUF_TYPE_UINT32) && put_u32(f, (uint32_t)file_type);

    // tensor infos: offsets of the re-typed data, each aligned
    uint64_t offset = 0;
    for (int32_t i = 0; ok && i < nt; i++) {
        const struct vlm_file_tensor * ft = vlm_gguf_tensor(src, i);
        int64_t numel = 1;
        for (int32_t d = 0; d < ft->n_dims; d++) numel *= ft->shape[d];
        ok = put_str(f, ft->name) && put_u32(f, (uint32_t)ft->n_dims);
        for (int32_t d = ft->n_dims - 1; ok && d >= 0; d--) ok = put_u64(f, (uint64_t)ft->shape[d]);   // ggml order
        ok = ok && put_u32(f, (uint32_t)vlm_dtype_traits(types[i])->ggml_type) && put_u64(f, offset);
        offset += (vlm_dtype_nbytes(types[i], numel) + GGUF_ALIGN - 1) / GGUF_ALIGN * GGUF_ALIGN;
    }
    long pos = ok ? ftell(f) : -1;
    ok = ok && pos >= 0 && put_zeros(f, (size_t)((GGUF_ALIGN - pos % GGUF_ALIGN) % GGUF_ALIGN));

    // tensor data
    for (int32_t i = 0; ok && i < nt; i++) {
        const struct vlm_file_tensor * ft = vlm_gguf_tensor(src, i);
        int64_t row_len = ft->n_dims > 0 ? ft->shape[ft->n_dims - 1] : 1, rows = 1;
        for (int32_t d = 0; d + 1 < ft->n_dims; d++) rows *= ft->shape[d];
        size_t nbytes = vlm_dtype_nbytes(types[i], rows * row_len);
        if (types[i] == ft->dtype) {
            ok = put(f, ft->data, nbytes);
        } else {
            int64_t per = rows < ROWS_PER_PASS ? rows : ROWS_PER_PASS;
            size_t  need_stage = (size_t)(per * row_len) * sizeof(float), need_out = vlm_dtype_nbytes(types[i], per * row_len);
            if (need_stage > stage_cap) { free(stage); stage = malloc(need_stage); stage_cap = stage ? need_stage : 0; }
            if (need_out > out_cap) { free(out); out = malloc(need_out); out_cap = out ? need_out : 0; }
            if (!stage || !out) {
                status = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory converting '%s'", path, ft->name);
                goto fail;
            }
            for (int64_t r0 = 0; ok && r0 < rows; r0 += per) {
                int64_t n = rows - r0 < per ? rows - r0 : per;
                convert_rows(ft, row_len, r0, n, types[i], stage, out);
                ok = put(f, out, vlm_dtype_nbytes(types[i], n * row_len));
            }
        }
        ok = ok && put_zeros(f, (GGUF_ALIGN - nbytes % GGUF_ALIGN) % GGUF_ALIGN);
        if (ok && progress)
            fprintf(progress, "%-40s %-5s -> %-5s [%" PRId64 ", %" PRId64 "]\n", ft->name,
                    vlm_gguf_type_name(ft->gguf_type), vlm_dtype_name(types[i]), rows, row_len);
    }
    status = vlm_atomic_commit(&af, ok);
fail:
    vlm_atomic_discard(&af);
    free(stage);
    free(out);
    return status;
}

// ref: llama.cpp include/llama.h enum llama_ftype (MOSTLY_Q4_K_S: Q4_K for most 2-D weights)
static int64_t ftype_of(enum vlm_dtype type) {
    switch (type) {
        case VLM_DTYPE_F32:  return 0;    // ALL_F32
        case VLM_DTYPE_F16:  return 1;    // MOSTLY_F16
        case VLM_DTYPE_Q4_0: return 2;    // MOSTLY_Q4_0
        case VLM_DTYPE_Q8_0: return 7;    // MOSTLY_Q8_0
        case VLM_DTYPE_Q4_K: return 14;   // MOSTLY_Q4_K_S
        default:             return -1;
    }
}

enum vlm_status vlm_gguf_quantize(const char * in_path, const char * out_path, enum vlm_dtype type, FILE * progress) {
    int64_t ftype = ftype_of(type);
    if (ftype < 0)
        return vlm_error(VLM_STATUS_INVALID_ARG, "quantize: type %s is not one of f32, f16, q8_0, q4_0, q4_k",
                         vlm_dtype_name(type));
    struct vlm_gguf * g = NULL;
    enum vlm_status status = vlm_gguf_open(in_path, &g);
    if (status != VLM_STATUS_OK) return status;
    int32_t nt = vlm_gguf_n_tensors(g);
    enum vlm_dtype * types = malloc((nt ? (size_t)nt : 1) * sizeof *types);
    if (!types) {
        vlm_gguf_close(g);
        return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "quantize: out of memory");
    }
    for (int32_t i = 0; i < nt; i++) {
        const struct vlm_file_tensor * ft = vlm_gguf_tensor(g, i);
        size_t len = strlen(ft->name);
        bool convertible = ft->dtype != VLM_DTYPE_COUNT && vlm_dtype_traits(ft->dtype)->to_f32 &&
                           (vlm_dtype_traits(ft->dtype)->is_float || vlm_dtype_is_block(ft->dtype));
        bool matrix = ft->n_dims == 2 && len > 7 && strcmp(ft->name + len - 7, ".weight") == 0 &&
                      !(len > 12 && strcmp(ft->name + len - 12, "_norm.weight") == 0);
        int64_t row = ft->n_dims > 0 ? ft->shape[ft->n_dims - 1] : 1;
        types[i] = ft->dtype;
        if (type == VLM_DTYPE_F32 ? !convertible : !(convertible && matrix)) continue;
        // ref: llama.cpp src/llama-quant.cpp tensor_type_fallback: a K-quant needs rows of 256
        // (llama.cpp falls back to Q5_0, which vlm does not have: Q8_0)
        enum vlm_dtype t = type == VLM_DTYPE_Q4_K && row % 256 != 0 ? VLM_DTYPE_Q8_0 : type;
        if (row % vlm_dtype_traits(t)->block == 0) types[i] = t;
    }
    status = vlm_gguf_write_retyped(out_path, g, types, ftype, progress);
    free(types);
    vlm_gguf_close(g);
    return status;
}

// ---- GGUF from scratch -------------------------------------------------------------------------

struct builder_tensor {
    char *        name;
    int32_t       n_dims;
    int64_t       shape[VLM_FILE_MAX_DIMS];   // PyTorch order
    const float * data;
};

struct vlm_gguf_builder {
    char *                  kv;       // metadata records as GGUF writes them
    size_t                  kv_len;
    FILE *                  kv_f;     // open_memstream over kv
    int64_t                 n_kv;
    struct builder_tensor * t;
    int32_t                 n_t, cap_t;
    bool                    failed;
};

struct vlm_gguf_builder * vlm_gguf_builder_new(void) {
    struct vlm_gguf_builder * b = calloc(1, sizeof *b);
    if (b && !(b->kv_f = open_memstream(&b->kv, &b->kv_len))) {
        free(b);
        b = NULL;
    }
    return b;
}

void vlm_gguf_builder_free(struct vlm_gguf_builder * b) {
    if (!b) return;
    if (b->kv_f) fclose(b->kv_f);
    free(b->kv);
    for (int32_t i = 0; i < b->n_t; i++) free(b->t[i].name);
    free(b->t);
    free(b);
}

static void kv_head(struct vlm_gguf_builder * b, const char * key, enum vlm_gguf_type type) {
    b->failed |= !(put_str(b->kv_f, key) && put_u32(b->kv_f, (uint32_t)type));
    b->n_kv++;
}

void vlm_gguf_builder_str(struct vlm_gguf_builder * b, const char * key, const char * v) {
    kv_head(b, key, VLM_GGUF_TYPE_STRING);
    b->failed |= !put_str(b->kv_f, v);
}
void vlm_gguf_builder_u32(struct vlm_gguf_builder * b, const char * key, uint32_t v) {
    kv_head(b, key, VLM_GGUF_TYPE_UINT32);
    b->failed |= !put_u32(b->kv_f, v);
}
void vlm_gguf_builder_f32(struct vlm_gguf_builder * b, const char * key, float v) {
    kv_head(b, key, VLM_GGUF_TYPE_FLOAT32);
    b->failed |= !put(b->kv_f, &v, 4);
}
void vlm_gguf_builder_bool(struct vlm_gguf_builder * b, const char * key, bool v) {
    uint8_t u = v;
    kv_head(b, key, VLM_GGUF_TYPE_BOOL);
    b->failed |= !put(b->kv_f, &u, 1);
}
void vlm_gguf_builder_f32_array(struct vlm_gguf_builder * b, const char * key, const float * v, uint64_t n) {
    kv_head(b, key, VLM_GGUF_TYPE_ARRAY);
    b->failed |= !(put_u32(b->kv_f, VLM_GGUF_TYPE_FLOAT32) && put_u64(b->kv_f, n) && put(b->kv_f, v, 4 * n));
}
void vlm_gguf_builder_i32_array(struct vlm_gguf_builder * b, const char * key, const int32_t * v, uint64_t n) {
    kv_head(b, key, VLM_GGUF_TYPE_ARRAY);
    b->failed |= !(put_u32(b->kv_f, VLM_GGUF_TYPE_INT32) && put_u64(b->kv_f, n) && put(b->kv_f, v, 4 * n));
}
void vlm_gguf_builder_str_array(struct vlm_gguf_builder * b, const char * key, const char * const * v, uint64_t n) {
    kv_head(b, key, VLM_GGUF_TYPE_ARRAY);
    b->failed |= !(put_u32(b->kv_f, VLM_GGUF_TYPE_STRING) && put_u64(b->kv_f, n));
    for (uint64_t i = 0; i < n && !b->failed; i++) b->failed |= !put_str(b->kv_f, v[i]);
}

void vlm_gguf_builder_tensor(struct vlm_gguf_builder * b, const char * name, int32_t n_dims, const int64_t * shape,
                             const float * data) {
    if (b->n_t == b->cap_t) {
        int32_t cap = b->cap_t ? 2 * b->cap_t : 64;
        struct builder_tensor * t = realloc(b->t, (size_t)cap * sizeof *t);
        if (!t) {
            b->failed = true;
            return;
        }
        b->t = t;
        b->cap_t = cap;
    }
    struct builder_tensor * t = &b->t[b->n_t];
    if (n_dims < 1 || n_dims > VLM_FILE_MAX_DIMS || !(t->name = strdup(name))) {
        b->failed = true;
        return;
    }
    t->n_dims = n_dims;
    memcpy(t->shape, shape, (size_t)n_dims * sizeof *shape);
    t->data = data;
    b->n_t++;
}

enum vlm_status vlm_gguf_builder_write(struct vlm_gguf_builder * b, const char * path) {
    if (!b || !path) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_gguf_builder_write: missing argument");
    if (b->failed || fflush(b->kv_f) != 0) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
    struct vlm_atomic_file af;
    enum vlm_status st = vlm_atomic_open(&af, path);
    if (st != VLM_STATUS_OK) return st;
    FILE * f = af.f;
    bool ok = put(f, "GGUF", 4) && put_u32(f, 3) && put_u64(f, (uint64_t)b->n_t) && put_u64(f, (uint64_t)b->n_kv) &&
              put(f, b->kv, b->kv_len);
    uint64_t offset = 0;
    for (int32_t i = 0; ok && i < b->n_t; i++) {
        const struct builder_tensor * t = &b->t[i];
        int64_t numel = 1;
        ok = put_str(f, t->name) && put_u32(f, (uint32_t)t->n_dims);
        for (int32_t d = t->n_dims - 1; ok && d >= 0; d--) ok = put_u64(f, (uint64_t)t->shape[d]);   // ggml order
        for (int32_t d = 0; d < t->n_dims; d++) numel *= t->shape[d];
        ok = ok && put_u32(f, (uint32_t)vlm_dtype_traits(VLM_DTYPE_F32)->ggml_type) && put_u64(f, offset);
        offset += ((uint64_t)numel * 4 + GGUF_ALIGN - 1) / GGUF_ALIGN * GGUF_ALIGN;
    }
    long pos = ok ? ftell(f) : -1;
    ok = ok && pos >= 0 && put_zeros(f, (size_t)((GGUF_ALIGN - pos % GGUF_ALIGN) % GGUF_ALIGN));
    for (int32_t i = 0; ok && i < b->n_t; i++) {
        int64_t numel = 1;
        for (int32_t d = 0; d < b->t[i].n_dims; d++) numel *= b->t[i].shape[d];
        size_t n = (size_t)numel * 4;
        ok = put(f, b->t[i].data, n) && put_zeros(f, (GGUF_ALIGN - n % GGUF_ALIGN) % GGUF_ALIGN);
    }
    return vlm_atomic_commit(&af, ok);
}
