// gguf-meta.h — GGUF extras beyond model-file.h: array metadata (tokenizer vocabularies and
// merges), type names, the file mapping, and the GGUF writer. Implemented in gguf.c and
// gguf-write.c; ggml type ids and block layouts are in the dtype table (core.h).
#ifndef VLM_GGUF_META_H
#define VLM_GGUF_META_H
#include "model-file.h"

// GGUF metadata value types (ref: ggml docs/gguf.md, enum gguf_metadata_value_type).
enum vlm_gguf_type {
    VLM_GGUF_TYPE_UINT8 = 0, VLM_GGUF_TYPE_INT8, VLM_GGUF_TYPE_UINT16, VLM_GGUF_TYPE_INT16,
    VLM_GGUF_TYPE_UINT32, VLM_GGUF_TYPE_INT32, VLM_GGUF_TYPE_FLOAT32, VLM_GGUF_TYPE_BOOL,
    VLM_GGUF_TYPE_STRING, VLM_GGUF_TYPE_ARRAY, VLM_GGUF_TYPE_UINT64, VLM_GGUF_TYPE_INT64,
    VLM_GGUF_TYPE_FLOAT64, VLM_GGUF_TYPE_COUNT
};

// The array stored under key: its element type, length and, for fixed-size element types,
// the raw little-endian elements (*data NULL for string and nested-array elements).
// Returns false when the key is absent or not an array.
bool vlm_gguf_get_array(const struct vlm_gguf * g, const char * key, enum vlm_gguf_type * elem_type, uint64_t * n,
                        const void ** data);
// Element i of a string array: len bytes at *s (not NUL-terminated). O(1).
bool vlm_gguf_get_array_str(const struct vlm_gguf * g, const char * key, uint64_t i, const char ** s, size_t * len);
// Any metadata bool.
bool vlm_gguf_get_bool(const struct vlm_gguf * g, const char * key, bool * out);
// Number of metadata keys, the GGUF version and the alignment of the tensor data.
int64_t      vlm_gguf_n_kv(const struct vlm_gguf * g);
uint32_t     vlm_gguf_version(const struct vlm_gguf * g);
uint32_t     vlm_gguf_alignment(const struct vlm_gguf * g);
// "F32", "Q8_0", ... ("?" for unknown ids).
const char * vlm_gguf_type_name(int32_t ggml_type);
// The whole file as mapped (read-only; tensor data pointers point into it).
void         vlm_gguf_mapping(const struct vlm_gguf * g, const void ** base, size_t * size);
// Metadata record i (0 <= i < vlm_gguf_n_kv) as the file holds it: key, type and value bytes.
bool         vlm_gguf_kv_record(const struct vlm_gguf * g, int64_t i, const char ** key, const void ** bytes, size_t * n);

// Writes src to path as a GGUF v3 file, atomically (a temporary file in the same folder,
// renamed over path when complete): every metadata record of src in order, except
// general.alignment (the default 32 is used) and general.file_type (set to file_type when
// >= 0, a llama_ftype value, else copied); then every tensor of src, tensor i stored as
// types[i]: the stored bytes when the type is unchanged, else converted through F32 with the
// dtype table (ggml's reference quantizers). A type must hold whole rows (a row length that is
// a multiple of its block). progress, when not NULL, gets one line per tensor.
enum vlm_status vlm_gguf_write_retyped(const char * path, const struct vlm_gguf * src, const enum vlm_dtype * types,
                                       int64_t file_type, FILE * progress);
// `vlm quantize`: in_path re-typed to out_path. type F32: every float or quantized tensor to
// F32; F16, Q8_0, Q4_0, Q4_K: the 2-D tensors named *.weight except *_norm.weight (token_embd
// included), rows that Q4_K cannot hold (not a multiple of 256) as Q8_0, rows no type can
// hold as they are; the rest as stored. general.file_type becomes the llama_ftype value
// (0, 1, 7, 2, 14 = MOSTLY_Q4_K_S).
enum vlm_status vlm_gguf_quantize(const char * in_path, const char * out_path, enum vlm_dtype type, FILE * progress);

// A GGUF written from scratch (benchmark models with random weights): metadata records in
// the order added, then F32 tensors (shape in PyTorch order; data must stay alive until
// written). Errors are collected and reported by vlm_gguf_builder_write (atomic).
struct vlm_gguf_builder;
struct vlm_gguf_builder * vlm_gguf_builder_new(void);
void vlm_gguf_builder_free(struct vlm_gguf_builder * b);
void vlm_gguf_builder_str(struct vlm_gguf_builder * b, const char * key, const char * v);
void vlm_gguf_builder_u32(struct vlm_gguf_builder * b, const char * key, uint32_t v);
void vlm_gguf_builder_f32(struct vlm_gguf_builder * b, const char * key, float v);
void vlm_gguf_builder_bool(struct vlm_gguf_builder * b, const char * key, bool v);
void vlm_gguf_builder_f32_array(struct vlm_gguf_builder * b, const char * key, const float * v, uint64_t n);
void vlm_gguf_builder_i32_array(struct vlm_gguf_builder * b, const char * key, const int32_t * v, uint64_t n);
void vlm_gguf_builder_str_array(struct vlm_gguf_builder * b, const char * key, const char * const * v, uint64_t n);
void vlm_gguf_builder_tensor(struct vlm_gguf_builder * b, const char * name, int32_t n_dims, const int64_t * shape,
                             const float * data);
enum vlm_status vlm_gguf_builder_write(struct vlm_gguf_builder * b, const char * path);

// The weight store (weights.c) for a GGUF file: like vlm_weights_load, with F16 / BF16 / Q8_0 /
// Q4_0 / Q4_K tensors converted to F32 and I32 kept; other quantized types fail with
// VLM_STATUS_UNSUPPORTED. Shapes are in PyTorch order (a GGUF ne = [in, out] matrix is [out, in]).
enum vlm_status vlm_weights_load_gguf(struct vlm_ctx * x, const struct vlm_gguf * g, const char * const * prefixes,
                                      struct vlm_weights ** out);
// Like vlm_weights_load_gguf, but F16 / BF16 / Q8_0 / Q4_0 / Q4_K tensors keep their stored
// type (F32 and I32 as stored too), for vlm_op_linear / gather / copy to consume directly. On
// the CPU backend those tensors point into the file's mapping instead of being copied: g must
// stay open until the weights are freed. Non-finite values are not checked for them (that
// would read the whole file at load time). On Vulkan they are uploaded as stored.
enum vlm_status vlm_weights_load_gguf_stored(struct vlm_ctx * x, const struct vlm_gguf * g,
                                             const char * const * prefixes, struct vlm_weights ** out);
#endif
