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
