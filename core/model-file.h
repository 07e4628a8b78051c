// model-file.h — model file readers: safetensors, PyTorch zip checkpoints and GGUF (strict,
// mmap'd), and the weight store that uploads named tensors to a backend as F32.
#ifndef VLM_MODEL_FILE_H
#define VLM_MODEL_FILE_H
#include <stdio.h>
#include "core.h"

#define VLM_FILE_MAX_DIMS 8

// One tensor of a model file. data points into the mmap'd file (little-endian, C order).
struct vlm_file_tensor {
    const char *   name;
    enum vlm_dtype dtype;       // GGUF Q8_0 and other non-float types: see gguf_type
    int32_t        n_dims;
    int64_t        shape[VLM_FILE_MAX_DIMS];   // PyTorch order (GGUF's ne[] reversed)
    const void *   data;
    size_t         nbytes;
    int32_t        gguf_type;   // GGUF ggml_type id, -1 for safetensors
};

// Largest model header the readers accept: a safetensors file's JSON header (the length in
// its first 8 bytes), a GGUF file's metadata and tensor infos (the bytes before the padding
// and tensor data). Process-wide; vlm_model_file_set_max_header(0) restores the default.
// The safetensors writer refuses headers over the default.
#define VLM_MODEL_DEFAULT_MAX_HEADER ((uint64_t)100 << 20)
void     vlm_model_file_set_max_header(uint64_t max_bytes);
uint64_t vlm_model_file_max_header(void);

// ---- safetensors ----
// Limits: header <= vlm_model_file_max_header(), offsets in range, contiguous and
// non-overlapping, dtype x shape == byte size, no duplicate names.
struct vlm_safetensors {
    int32_t                  n_tensors;
    struct vlm_file_tensor * tensors;
    char *                   metadata_json;   // the "__metadata__" object as JSON text, or NULL
    // private
    void *                   map;
    size_t                   map_size;
    char *                   names;           // storage for tensor names
    void **                  owned;           // PyTorch files: inflated storages, gathered strided views
    int32_t                  n_owned;
};
// On failure *out is NULL and vlm_last_error() says "<path>: <problem>".
enum vlm_status vlm_safetensors_open(const char * path, struct vlm_safetensors ** out);
void            vlm_safetensors_close(struct vlm_safetensors * st);
const struct vlm_file_tensor * vlm_safetensors_find(const struct vlm_safetensors * st, const char * name);
// Writes tensors to path atomically (temp file + rename). data of each tensor is contiguous.
enum vlm_status vlm_safetensors_write(const char * path, const struct vlm_file_tensor * tensors, int32_t n);

// Maps a whole regular file read-only (*map NULL for an empty file); "<path>: cannot open: ..." etc.
enum vlm_status vlm_model_file_map(const char * path, void ** map, size_t * size);

// ---- PyTorch checkpoints (core/pytorch.c) ----
// A torch.save zip archive (state dict, possibly nested) or a TorchScript archive, as the same
// named-tensor table (close with vlm_safetensors_close). The pickle is interpreted, never run:
// only tensor rebuilds, storages, OrderedDict and TorchScript objects are accepted.
// Contiguous views point into the mapped file; strided views and deflated entries are copied.
enum vlm_status vlm_pytorch_open(const char * path, struct vlm_safetensors ** out);
// Any tensor file by its first bytes: a PyTorch zip archive, else safetensors.
enum vlm_status vlm_model_file_open(const char * path, struct vlm_safetensors ** out);

// ---- GGUF (v3, as llama.cpp writes it) ----
struct vlm_gguf;   // opaque
enum vlm_status vlm_gguf_open(const char * path, struct vlm_gguf ** out);
void            vlm_gguf_close(struct vlm_gguf * g);
int32_t         vlm_gguf_n_tensors(const struct vlm_gguf * g);
const struct vlm_file_tensor * vlm_gguf_tensor(const struct vlm_gguf * g, int32_t i);
const struct vlm_file_tensor * vlm_gguf_find(const struct vlm_gguf * g, const char * name);
// Metadata lookups; return false when the key is absent or of another type.
bool            vlm_gguf_get_str(const struct vlm_gguf * g, const char * key, const char ** out);
bool            vlm_gguf_get_int(const struct vlm_gguf * g, const char * key, int64_t * out);   // any integer type
bool            vlm_gguf_get_float(const struct vlm_gguf * g, const char * key, double * out);  // f32/f64
// Prints every metadata key = value (arrays abbreviated) to f.
void            vlm_gguf_print_metadata(const struct vlm_gguf * g, FILE * f);

// ---- weight store ----
// Named tensors uploaded to a backend buffer as F32 (F16/BF16 converted on load), in one
// buffer per model. Lookups name the missing tensor or the wrong shape in the error.
struct vlm_weights;
// Uploads every tensor of the file whose name starts with one of prefixes (NULL = all).
enum vlm_status vlm_weights_load(struct vlm_ctx * x, const struct vlm_safetensors * st,
                                 const char * const * prefixes, struct vlm_weights ** out);
// Linear-layer weights to store in another type than F32: the 2-D float tensors whose names
// end with one of suffixes (NULL-terminated) become dtype (F16 or Q8_0; a Q8_0 row needs whole
// blocks, else the tensor stays F32), or with as_stored keep their stored type when it is F16
// or BF16 (no F32 copy). The model code reads them as it reads F32 ones, and only hands them
// to vlm_op_linear.
struct vlm_linear_weights {
    enum vlm_dtype       dtype;
    const char * const * suffixes;
    bool                 as_stored;   // F16 / BF16 stay so; dtype is then unused
};
enum vlm_status vlm_weights_load_as(struct vlm_ctx * x, const struct vlm_safetensors * st, const char * const * prefixes,
                                    const struct vlm_linear_weights * lin, struct vlm_weights ** out);
void            vlm_weights_free(struct vlm_ctx * x, struct vlm_weights * w);
bool            vlm_weights_has(const struct vlm_weights * w, const char * name);
// The tensor `name` with n_dims dims; shape entries of -1 match anything. On a miss or a
// shape mismatch records an error on x ("missing tensor 'name'") and returns an empty tensor.
struct vlm_tensor vlm_weights_get(struct vlm_ctx * x, const struct vlm_weights * w, const char * name,
                                  int32_t n_dims, const int64_t * shape);
// printf-style name.
struct vlm_tensor vlm_weights_getf(struct vlm_ctx * x, const struct vlm_weights * w, int32_t n_dims,
                                   const int64_t * shape, const char * fmt, ...) __attribute__((format(printf, 5, 6)));
int64_t         vlm_weights_param_count(const struct vlm_weights * w);

// ---- `vlm info` ----
// Prints the detected architecture, parameter count, dtypes and memory needed of a model
// file (safetensors or GGUF) or directory to f. Returns a status (errors via vlm_last_error()).
enum vlm_status vlm_model_file_info(const char * path, FILE * f);
#endif
