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

    char tmp_path[4096];
    if ((size_t)snprintf(tmp_path, sizeof tmp_path, "%s.tmp.XXXXXX", path) >= sizeof tmp_path)
        return vlm_error(VLM_STATUS_INVALID_ARG, "%s: path too long", path);
    int fd = mkstemp(tmp_path);
    if (fd < 0) return vlm_error(VLM_STATUS_IO, "%s: cannot create a temporary file: %s", path, strerror(errno));
    FILE * f = fchmod(fd, 0644) == 0 ? fdopen(fd, "wb") : NULL;
    enum vlm_status status = VLM_STATUS_OK;
    float * stage = NULL;
    uint8_t * out = NULL;
    size_t stage_cap = 0, out_cap = 0;
    if (!f) {
        close(fd);
        status = vlm_error(VLM_STATUS_IO, "%s: cannot write: %s", path, strerror(errno));
        goto fail;
    }

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
    if (!ok || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        status = vlm_error(VLM_STATUS_IO, "%s: write failed: %s", path, strerror(errno));
        goto fail;
    }
    FILE * done = f;
    f = NULL;
    if (fclose(done) != 0 || rename(tmp_path, path) != 0) {
        status = vlm_error(VLM_STATUS_IO, "%s: cannot write: %s", path, strerror(errno));
        goto fail;
    }
    free(stage);
    free(out);
    return VLM_STATUS_OK;
fail:
    if (f) fclose(f);
    unlink(tmp_path);
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
