// core.h — the internal runtime: tensors, execution context, ops, backends.
// Knows nothing about SAM, CLIP or any model. Model code is straight-line C calling
// vlm_op_* on a struct vlm_ctx; the CPU backend runs each op at once, the Vulkan
// backend records it into a command buffer (see vk-backend.c).
//
// Conventions
//   - Tensors are in PyTorch dimension order: shape[0] is outermost; strides are in
//     elements; nn.Linear weights are [out, in].
//   - Block-quantized dtypes (Q8_0, Q4_0, Q4_K: weight storage only) keep strides in logical
//     elements too, and every byte offset goes through the dtype table: element e (a multiple
//     of the block size) starts at byte e / block * block_bytes. Such a tensor is valid only
//     with an innermost stride of 1, a row length and all other strides that are multiples of
//     the block size; ops further require it contiguous, so the only views are whole rows
//     (vlm_tensor_slice along dim 0). Permuted or transposed views are invalid.
//   - Ops take tensors by value (they are small headers) and return the output header.
//   - Errors are sticky on the context: after the first failure every op is a no-op that
//     returns an empty tensor, and the caller checks vlm_ctx_ok() once per stage.
//   - Activations come from the context's arena: mark before a block, reset after it.
#ifndef VLM_CORE_H
#define VLM_CORE_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "vlm.h"

#define VLM_MAX_DIMS 4

enum vlm_dtype {
    VLM_DTYPE_F32 = 0,
    VLM_DTYPE_F16,
    VLM_DTYPE_BF16,
    VLM_DTYPE_I32,
    VLM_DTYPE_U8,
    VLM_DTYPE_I64,     // read from files only (HF position_ids buffers); no op takes it
    VLM_DTYPE_Q8_0,    // ggml block_q8_0: 32 values, { f16 d; int8 qs[32] } (34 bytes), x = d * q
    VLM_DTYPE_Q4_0,    // ggml block_q4_0: 32 values, { f16 d; uint8 qs[16] } (18 bytes), x = d * (q - 8)
    VLM_DTYPE_Q4_K,    // ggml block_q4_K: 256 values, { f16 d, dmin; uint8 scales[12]; uint8 qs[128] } (144 bytes)
    VLM_DTYPE_COUNT
};

// The dtype table (dtype.c): one entry per enum vlm_dtype. Shaders use the enum values as
// their type codes (shaders/common.glsl DT_*).
struct vlm_dtype_traits {
    const char * name;          // "f32", "q8_0", ...
    int32_t      ggml_type;     // GGUF / ggml tensor type id, -1 when GGUF has none
    int32_t      block;         // elements per block (1 for plain types)
    size_t       block_bytes;   // bytes per block (the element size for plain types)
    bool         is_float;      // F32, F16, BF16
    // Converts n values (a multiple of block) to / from F32; NULL where there is no conversion.
    // from_f32 of the block types is ggml's reference quantizer (quantize_row_*_ref).
    void (*to_f32)(const void * src, float * dst, int64_t n);
    void (*from_f32)(const float * src, void * dst, int64_t n);
};
// The entry of dtype (an entry named "?" with block 0 for values out of range).
const struct vlm_dtype_traits * vlm_dtype_traits(enum vlm_dtype dtype);
static inline const char * vlm_dtype_name(enum vlm_dtype d) { return vlm_dtype_traits(d)->name; }
static inline bool   vlm_dtype_is_block(enum vlm_dtype d) { return vlm_dtype_traits(d)->block > 1; }
// Bytes of one element of a plain dtype; 0 for block types (use vlm_dtype_nbytes).
static inline size_t vlm_dtype_size(enum vlm_dtype d) {
    const struct vlm_dtype_traits * t = vlm_dtype_traits(d);
    return t->block == 1 ? t->block_bytes : 0;
}
// Bytes of n elements (n a multiple of the block size); 0 on overflow or a partial block.
size_t vlm_dtype_nbytes(enum vlm_dtype dtype, int64_t n);

// ggml tensor types (ref: ggml/src/ggml.c type_traits): name, block size and bytes for every
// id a GGUF file may hold, and the vlm dtype that holds it as stored (VLM_DTYPE_COUNT if none).
struct vlm_ggml_type {
    const char *   name;          // "F32", "Q4_K", ...
    int32_t        block;
    size_t         block_bytes;
    enum vlm_dtype dtype;
};
const struct vlm_ggml_type * vlm_ggml_type(int32_t ggml_type);   // NULL for unknown ids

// A buffer owns bytes on one backend: host memory for the CPU backend, a VkBuffer for
// Vulkan. Tensors point into buffers; a buffer outlives every tensor that views it.
struct vlm_buffer;

struct vlm_tensor {
    enum vlm_dtype      dtype;
    int32_t             n_dims;               // 0 = empty / invalid tensor
    int64_t             shape[VLM_MAX_DIMS];  // PyTorch order, unused dims are 1
    int64_t             stride[VLM_MAX_DIMS]; // in elements, unused dims 0
    struct vlm_buffer * buf;
    size_t              offset;               // bytes into buf
};

// ---- tensor headers (no data movement) ----------------------------------------------
int64_t           vlm_tensor_numel(const struct vlm_tensor * t);
bool              vlm_tensor_is_contiguous(const struct vlm_tensor * t);
bool              vlm_tensor_valid(const struct vlm_tensor * t);
// Fills shape and contiguous strides; dims beyond n_dims are 1 / 0.
void              vlm_tensor_set_shape(struct vlm_tensor * t, int32_t n_dims, const int64_t * shape);
// Views share the buffer. reshape needs a contiguous tensor.
struct vlm_tensor vlm_tensor_reshape(struct vlm_tensor t, int32_t n_dims, const int64_t * shape);
struct vlm_tensor vlm_tensor_permute(struct vlm_tensor t, const int32_t * perm);   // perm[i] = source dim
struct vlm_tensor vlm_tensor_slice(struct vlm_tensor t, int32_t dim, int64_t start, int64_t len);
struct vlm_tensor vlm_tensor_transpose(struct vlm_tensor t, int32_t d0, int32_t d1);
// Bytes from t->offset to the end of t's last element (last block for block dtypes); false
// for an invalid tensor or on overflow.
bool              vlm_tensor_extent(const struct vlm_tensor * t, size_t * bytes);
// Writes "[a, b, c] f32" into out.
void              vlm_tensor_shape_str(const struct vlm_tensor * t, char * out, size_t out_size);

// ---- errors ----------------------------------------------------------------------------
// Records a one-line message as the calling thread's last error (vlm_last_error()) and
// returns status, so that `return vlm_error(VLM_STATUS_IO, "%s: cannot open", path);` works.
enum vlm_status vlm_error(enum vlm_status status, const char * fmt, ...) __attribute__((format(printf, 2, 3)));
// Milliseconds of the monotonic clock (timings of stages and commands).
double vlm_now_ms(void);

// A whole file (file.c) as a NUL-terminated buffer (caller frees) and its size in *n_out; NULL
// with errno set when it cannot be opened or read, is a folder (EISDIR) or holds more than max
// bytes (EFBIG).
char * vlm_read_file(const char * path, size_t max, size_t * n_out);
// A file written atomically (file.c): open gives a FILE under a temporary name next to
// path (mode 0644); commit(ok) flushes, syncs and renames it over path when ok, else (or when
// any of that fails) removes it and records "write failed" as vlm_error does; discard removes
// it and leaves the last error as it is (for failures already reported).
struct vlm_atomic_file {
    FILE *       f;
    const char * path;
    char         tmp[4096 + 16];
};
enum vlm_status vlm_atomic_open(struct vlm_atomic_file * a, const char * path);
enum vlm_status vlm_atomic_commit(struct vlm_atomic_file * a, bool ok);
void            vlm_atomic_discard(struct vlm_atomic_file * a);
// The status that went with the last vlm_error of this thread.
enum vlm_status vlm_last_status(void);

// Checked size arithmetic for parsers: return false on overflow (out untouched).
static inline bool vlm_mul_size(size_t a, size_t b, size_t * out) { return !__builtin_mul_overflow(a, b, out); }
static inline bool vlm_add_size(size_t a, size_t b, size_t * out) { return !__builtin_add_overflow(a, b, out); }
static inline bool vlm_align_size(size_t a, size_t align, size_t * out) {
    size_t t;
    if (align == 0 || __builtin_add_overflow(a, align - 1, &t)) return false;
    *out = t / align * align;
    return true;
}
// Capacity of a growing buffer that must hold need bytes: cap (initial when 0) doubled until
// it does; false on overflow (out untouched).
static inline bool vlm_grow_size(size_t cap, size_t need, size_t initial, size_t * out) {
    if (cap == 0) cap = initial ? initial : 1;
    while (cap < need)
        if (__builtin_mul_overflow(cap, (size_t)2, &cap)) return false;
    *out = cap;
    return true;
}
// Grows *arr (of *cap elements of elem bytes) to hold need, by vlm_grow_size from initial;
// false (arr untouched) on overflow or out of memory.
static inline bool vlm_grow_array(void ** arr, size_t * cap, size_t need, size_t elem, size_t initial) {
    if (need <= *cap) return true;
    size_t c, bytes;
    if (!vlm_grow_size(*cap, need, initial, &c) || !vlm_mul_size(c, elem, &bytes)) return false;
    void * p = realloc(*arr, bytes);
    if (!p) return false;
    *arr = p;
    *cap = c;
    return true;
}

// Open-addressing tables (the tokenizers'): FNV-1a over bytes, the splitmix64 finalizer over a
// 64-bit key, and a power-of-two slot count (at least 16) of at least n.
static inline uint64_t vlm_hash_bytes(const void * p, size_t n) {
    const uint8_t * b = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}
static inline uint64_t vlm_hash_u64(uint64_t x) {
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27; x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// v / |v| in place (a zero vector stays zero, not NaN): embeddings for cosine similarity.
// ref: clip/model.py CLIP.forward: features / features.norm(dim=1, keepdim=True)
static inline void vlm_l2_normalize(float * v, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)v[i] * v[i];
    if (s <= 0) return;
    float inv = (float)(1.0 / sqrt(s));
    for (int64_t i = 0; i < n; i++) v[i] *= inv;
}

// The pseudo-random numbers of the random checkpoints, benchmark inputs, tests and sampling:
// splitmix64 (a counter through vlm_hash_u64's finalizer), uniform in (0, 1) with 53 bits, and
// standard normal by Box-Muller.
struct vlm_rng { uint64_t state; };
static inline uint64_t vlm_rng_next(struct vlm_rng * r) { return vlm_hash_u64(r->state += 0x9E3779B97F4A7C15ULL); }
static inline double   vlm_rng_uniform(struct vlm_rng * r) { return ((double)(vlm_rng_next(r) >> 11) + 0.5) / 9007199254740992.0; }
static inline double   vlm_rng_normal(struct vlm_rng * r) {
    double u = vlm_rng_uniform(r), v = vlm_rng_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}
static inline size_t vlm_pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c *= 2;
    return c;
}

// ---- execution context ---------------------------------------------------------------
enum vlm_backend_kind { VLM_BACKEND_KIND_CPU = 0, VLM_BACKEND_KIND_VULKAN };

struct vlm_vk;   // Vulkan device state (vk-backend.c), NULL on CPU

struct vlm_ctx {
    enum vlm_backend_kind backend;
    enum vlm_status       status;          // sticky: first error wins
    char                  error[512];
    int32_t               n_threads;
    struct vlm_vk *       vk;
    struct vlm_buffer *   arena;           // activations
    size_t                arena_used;
    size_t                arena_peak;
    size_t                arena_size;
    double                flops;           // multiply-adds x 2 of the ops run so far (for `vlm bench`)
    double *              profile_ms;      // [VLM_OP_COUNT] ms per op type (CPU: wall, Vulkan: device), VLM_PROFILE=1
};

// Creates a context on the given backend (AUTO = Vulkan if a device works, else CPU).
// arena_bytes is the activation arena size. On failure returns NULL and writes the reason
// into err (when err is not NULL).
struct vlm_ctx * vlm_ctx_new(enum vlm_backend_type backend, int32_t n_threads, size_t arena_bytes,
                             char * err, size_t err_size);
// A session's context (llama.cpp's llama_context beside its llama_model): the model
// context's backend and device, its own activation arena (arena_bytes, 0 = default) and
// command recording. Buffers of model_ctx (the weights) are read in it; model_ctx must
// outlive it and must not be recording (sync it after uploading the weights). Each context
// is used by one thread at a time; several contexts on one device run from several threads.
struct vlm_ctx * vlm_ctx_new_session(struct vlm_ctx * model_ctx, size_t arena_bytes, char * err, size_t err_size);
void             vlm_ctx_free(struct vlm_ctx * x);
const char *     vlm_ctx_backend_name(const struct vlm_ctx * x);   // "cpu" or "vulkan (llvmpipe ...)"
static inline bool vlm_ctx_ok(const struct vlm_ctx * x) { return x->status == VLM_STATUS_OK; }
// Records an error (printf-style) unless one is already recorded; returns the status.
enum vlm_status  vlm_ctx_fail(struct vlm_ctx * x, enum vlm_status status, const char * fmt, ...)
    __attribute__((format(printf, 3, 4)));
// After a failed call: waits for recorded work and clears the sticky error so that the model
// stays usable (except after a lost device, where nothing more will work).
void             vlm_ctx_recover(struct vlm_ctx * x);
// Waits for all recorded work (no-op on CPU). Returns the sticky status.
enum vlm_status  vlm_ctx_sync(struct vlm_ctx * x);
// VLM_PROFILE=1: prints the time per op type since the last flush to stderr and restarts.
void             vlm_ctx_profile_flush(struct vlm_ctx * x, const char * label);

// Buffers outside the arena (model weights, caches that outlive a forward).
struct vlm_buffer * vlm_buffer_new(struct vlm_ctx * x, size_t bytes);
// A CPU buffer over someone else's read-only host memory (a mapped model file): the memory
// must outlive the buffer, and vlm_buffer_free does not free it. NULL on a Vulkan context.
struct vlm_buffer * vlm_buffer_wrap_host(struct vlm_ctx * x, const void * host, size_t bytes);
void                vlm_buffer_free(struct vlm_ctx * x, struct vlm_buffer * b);
// Host pointer of a CPU buffer, NULL for device buffers.
void *              vlm_buffer_host(struct vlm_buffer * b);

// Arena: allocations are 256-byte aligned; reset frees everything after the mark.
size_t            vlm_arena_mark(struct vlm_ctx * x);
void              vlm_arena_reset(struct vlm_ctx * x, size_t mark);
// A new contiguous tensor in the arena (contents undefined).
struct vlm_tensor vlm_tensor_new(struct vlm_ctx * x, enum vlm_dtype dtype, int32_t n_dims, const int64_t * shape);
// A new contiguous tensor in a given buffer at a byte offset (for weights).
struct vlm_tensor vlm_tensor_in(struct vlm_buffer * b, size_t offset, enum vlm_dtype dtype, int32_t n_dims,
                                const int64_t * shape);

// Host <-> tensor copies. data is contiguous host memory of the tensor's dtype.
// download syncs first and handles strided (view) tensors.
void vlm_tensor_upload(struct vlm_ctx * x, struct vlm_tensor t, const void * data);
void vlm_tensor_download(struct vlm_ctx * x, struct vlm_tensor t, void * data);
// Convenience: new arena tensor initialized from host data.
struct vlm_tensor vlm_tensor_from_host(struct vlm_ctx * x, enum vlm_dtype dtype, int32_t n_dims,
                                       const int64_t * shape, const void * data);

// ---- ops -----------------------------------------------------------------------------
// All float ops compute in fp32; inputs may be F32 views (any strides) unless noted;
// weights may be F32, F16 or BF16 where noted, and also Q8_0, Q4_0, Q4_K (contiguous) for
// linear, gather and copy. Outputs are new contiguous F32 tensors.

// STEP: 1 where x > 0, else 0 (a mask threshold at 0; NaN gives 0).
enum vlm_unary { VLM_UNARY_GELU_ERF = 0, VLM_UNARY_GELU_TANH, VLM_UNARY_QUICK_GELU, VLM_UNARY_RELU,
                 VLM_UNARY_SILU, VLM_UNARY_SIGMOID, VLM_UNARY_STEP, VLM_UNARY_COUNT };
enum vlm_binary { VLM_BINARY_ADD = 0, VLM_BINARY_SUB, VLM_BINARY_MUL, VLM_BINARY_DIV, VLM_BINARY_COUNT };

// y[..., N] = x[..., K] @ w[N, K]^T + b[N]. x: any leading dims, innermost contiguous.
// w: [N, K] contiguous F32/F16/BF16/Q8_0/Q4_0/Q4_K, consumed as stored. b: NULL or [N].
// CPU: F32/F16/BF16 with few rows as dot-product tiles on the weights as stored, with more
// through sgemm; Q8_0/Q4_0 weights take activations quantized to Q8_0 per row and Q4_K weights
// to Q8_K (ggml's vec_dot_type), with integer block dot products; F16/BF16 take F32
// activations (F32 products, F32 sums).
struct vlm_tensor vlm_op_linear(struct vlm_ctx * x, struct vlm_tensor in, struct vlm_tensor w, const struct vlm_tensor * b);
// c[B, M, N] = a[B, M, K] @ b[B, K, N] (3-D; B broadcasts when one side has B == 1). Strided views allowed
// (e.g. b = transpose of [B, N, K]).
struct vlm_tensor vlm_op_matmul(struct vlm_ctx * x, struct vlm_tensor a, struct vlm_tensor b);
// Elementwise with NumPy broadcasting over up to 4 dims (right-aligned).
struct vlm_tensor vlm_op_binary(struct vlm_ctx * x, enum vlm_binary op, struct vlm_tensor a, struct vlm_tensor b);
static inline struct vlm_tensor vlm_op_add(struct vlm_ctx * x, struct vlm_tensor a, struct vlm_tensor b) { return vlm_op_binary(x, VLM_BINARY_ADD, a, b); }
static inline struct vlm_tensor vlm_op_mul(struct vlm_ctx * x, struct vlm_tensor a, struct vlm_tensor b) { return vlm_op_binary(x, VLM_BINARY_MUL, a, b); }
// y = scale * x + bias (scalar constants).
struct vlm_tensor vlm_op_scale(struct vlm_ctx * x, struct vlm_tensor a, float scale, float bias);
struct vlm_tensor vlm_op_unary(struct vlm_ctx * x, enum vlm_unary op, struct vlm_tensor a);
// Normalizes over the innermost dim. w, b: NULL or [D] (F32/F16/BF16).
struct vlm_tensor vlm_op_layer_norm(struct vlm_ctx * x, struct vlm_tensor a, const struct vlm_tensor * w,
                                    const struct vlm_tensor * b, float eps);
struct vlm_tensor vlm_op_rms_norm(struct vlm_ctx * x, struct vlm_tensor a, const struct vlm_tensor * w, float eps);
// LayerNorm2d (SAM neck / mask decoder): normalizes over channels of [B, C, H, W].
struct vlm_tensor vlm_op_layer_norm_2d(struct vlm_ctx * x, struct vlm_tensor a, struct vlm_tensor w,
                                       struct vlm_tensor b, float eps);
// softmax(scale * a + mask) over the innermost dim. mask: NULL or broadcastable to a.
struct vlm_tensor vlm_op_softmax(struct vlm_ctx * x, struct vlm_tensor a, float scale, const struct vlm_tensor * mask);

// Fused attention: out[B, H, Tq, Dv] = softmax(scale * q k^T + bias) v, computed row-block by
// row-block without materializing [Tq, Tk]. q [B, H, Tq, D], k [B, Hkv, Tk, D], v [B, Hkv, Tk, Dv]
// (views with any strides). Optional terms of the bias:
//   mask   additive, broadcastable to [B, H, Tq, Tk] (e.g. [1, 1, Tq, Tk])
//   causal key j > q_pos0 + query i is masked (after the mask); q_pos0 is the position of the
//          first query row among the keys (a KV cache holding q_pos0 earlier tokens)
// Grouped-query attention: k and v may have fewer heads Hkv than q (H % Hkv == 0); query head
// h reads kv head h / (H / Hkv), as llama.cpp's GQA.
//   rel_h, rel_w  SAM's decomposed relative positions: [B, H, Tq, kh] and [B, H, Tq, kw], with
//          Tk = kh * kw; bias[q][k] += rel_h[q][k / kw] + rel_w[q][k % kw].
struct vlm_attention_params {
    float                     scale;
    bool                      causal;
    int32_t                   q_pos0;
    const struct vlm_tensor * mask;
    const struct vlm_tensor * rel_h;
    const struct vlm_tensor * rel_w;
};
struct vlm_tensor vlm_op_attention(struct vlm_ctx * x, struct vlm_tensor q, struct vlm_tensor k, struct vlm_tensor v,
                                   const struct vlm_attention_params * p);

// conv2d: in [B, Cin, H, W], w [Cout, Cin, kh, kw] (F32/F16/BF16), b NULL or [Cout].
struct vlm_tensor vlm_op_conv2d(struct vlm_ctx * x, struct vlm_tensor in, struct vlm_tensor w, const struct vlm_tensor * b,
                                int32_t stride, int32_t pad);
// Depthwise conv2d (groups == channels) on channel-last input: in [B, H, W, C] (any strides),
// w [C, 1, kh, kw] (F32/F16/BF16, PyTorch's layout, kh * kw <= VLM_DW_MAX_TAPS), b NULL or [C];
// out [B, Ho, Wo, C].
// ref: torch.nn.Conv2d(C, C, k, stride, pad, groups=C) applied to in.permute(0, 3, 1, 2)
#define VLM_DW_MAX_TAPS 64
struct vlm_tensor vlm_op_conv2d_dw(struct vlm_ctx * x, struct vlm_tensor in, struct vlm_tensor w, const struct vlm_tensor * b,
                                   int32_t stride, int32_t pad);
// conv_transpose2d with kernel == stride (SAM's 2x2 stride 2): w [Cin, Cout, k, k].
struct vlm_tensor vlm_op_conv_transpose2d(struct vlm_ctx * x, struct vlm_tensor in, struct vlm_tensor w,
                                          const struct vlm_tensor * b, int32_t stride);
// Bilinear resize of [B, C, H, W] to [B, C, out_h, out_w], align_corners=False as
// torch.nn.functional.interpolate; antialias as torch's antialias=True on downscale.
struct vlm_tensor vlm_op_interpolate(struct vlm_ctx * x, struct vlm_tensor in, int64_t out_h, int64_t out_w, bool antialias);
// Materializes any view (permute, slice) as a contiguous tensor, converting dtype. Block
// dtypes convert to F32 only (from a contiguous tensor); nothing converts to them.
struct vlm_tensor vlm_op_copy(struct vlm_ctx * x, struct vlm_tensor in, enum vlm_dtype dtype);
// Copies src into an existing (possibly strided) destination view of the same shape.
void              vlm_op_copy_into(struct vlm_ctx * x, struct vlm_tensor dst, struct vlm_tensor src);
// Concatenation along dim.
struct vlm_tensor vlm_op_concat(struct vlm_ctx * x, struct vlm_tensor a, struct vlm_tensor b, int32_t dim);
// out[n, :] = table[ids[n], :]. table [V, D] (F32/F16/BF16, or contiguous Q8_0/Q4_0/Q4_K), ids I32 [N].
struct vlm_tensor vlm_op_gather(struct vlm_ctx * x, struct vlm_tensor table, struct vlm_tensor ids);
// Rotary embedding on [B, H, T, D] at positions pos0 + t, theta base. NEOX: pairs (i, i + D/2)
// (HF layout); NORMAL: pairs (2i, 2i+1) (llama.cpp GGUF layout for LLaMA).
enum vlm_rope_mode { VLM_ROPE_NORMAL = 0, VLM_ROPE_NEOX = 1 };
struct vlm_tensor vlm_op_rope(struct vlm_ctx * x, struct vlm_tensor in, int32_t pos0, float theta, enum vlm_rope_mode mode);

// ---- backend internals -----------------------------------------------------------------
struct vlm_buffer {
    enum vlm_backend_kind kind;
    size_t                size;
    void *                host;   // CPU: the bytes; Vulkan: NULL
    void *                vk;     // Vulkan: backend-private (struct vlm_vk_buffer *)
    bool                  borrowed;   // CPU: host is someone else's memory (a mapped file), not freed
};

// One op description handed to a backend. The front-ends in ops.c check shapes, allocate
// the output and fill this; cpu-ops.c executes it, vk-ops.c records it.
enum vlm_op_type {
    VLM_OP_LINEAR, VLM_OP_MATMUL, VLM_OP_BINARY, VLM_OP_SCALE, VLM_OP_UNARY, VLM_OP_LAYER_NORM,
    VLM_OP_RMS_NORM, VLM_OP_LAYER_NORM_2D, VLM_OP_SOFTMAX, VLM_OP_ATTENTION, VLM_OP_CONV2D,
    VLM_OP_CONV_TRANSPOSE2D, VLM_OP_INTERPOLATE, VLM_OP_COPY, VLM_OP_CONCAT, VLM_OP_GATHER, VLM_OP_ROPE,
    VLM_OP_CONV2D_DW, VLM_OP_COUNT
};

// Parameter conventions (src[] not listed are absent):
//   LINEAR           src0 in, src1 w, src2 b?
//   MATMUL           src0 a, src1 b
//   BINARY           src0 a, src1 b (broadcast to dst), i0 = enum vlm_binary
//   SCALE            src0, f0 scale, f1 bias
//   UNARY            src0, i0 = enum vlm_unary
//   LAYER_NORM       src0, src1 w?, src2 b?, f0 eps
//   RMS_NORM         src0, src1 w?, f0 eps
//   LAYER_NORM_2D    src0 [B,C,H,W], src1 w [C], src2 b [C], f0 eps
//   SOFTMAX          src0, src1 mask? (broadcast), f0 scale
//   ATTENTION        src0 q, src1 k, src2 v, src3 mask?, src4 rel_h?, src5 rel_w?, f0 scale, i0 causal,
//                    i3 q_pos0 (k, v may have H / group heads: GQA)
//   CONV2D           src0 in, src1 w, src2 b?, i0 stride, i1 pad
//   CONV_TRANSPOSE2D src0 in, src1 w, src2 b?, i0 stride
//   CONV2D_DW        src0 in [B,H,W,C], src1 w [C,1,kh,kw], src2 b?, i0 stride, i1 pad (dst [B,Ho,Wo,C])
//   INTERPOLATE      src0 in, i0 antialias (dst shape gives the size)
//   COPY             src0 -> dst (same shape; any strides on both; dtype converted to dst's)
//   CONCAT           src0, src1, i0 dim
//   GATHER           src0 table, src1 ids (I32)
//   ROPE             src0 [B,H,T,D], i0 pos0, i1 enum vlm_rope_mode, f0 theta
#define VLM_OP_MAX_SRC 6
struct vlm_op {
    enum vlm_op_type  type;
    struct vlm_tensor src[VLM_OP_MAX_SRC];  // n_dims == 0 for absent optional inputs
    struct vlm_tensor dst;
    int32_t           i[8];                 // integer parameters (op-specific, see ops.c)
    float             f[4];                 // float parameters
};

// "linear", "softmax", ... (VLM_PROFILE's and the self-test's name of an op type).
const char * vlm_op_name(enum vlm_op_type type);

void vlm_cpu_run_op(struct vlm_ctx * x, const struct vlm_op * op);
// Row-major C[M, N] = alpha * op(A)[M, K] @ op(B)[K, N] + beta * C with OpenBLAS, split over nt
// threads by rows (or columns when M is small); each part is one single-threaded sgemm.
void vlm_cpu_gemm(int nt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float * A, int64_t lda,
                  const float * B, int64_t ldb, float beta, float * C, int64_t ldc);
// CPU linear with a weight in its stored type (cpu-linear.c): C[M, N] = A[M, K] (row stride
// lda) @ W[N, K]^T (+ bias[N] when not NULL), W contiguous F16/BF16/Q8_0/Q4_0/Q4_K, or F32
// where vlm_cpu_linear_tiled or vlm_cpu_linear_packed. False (error recorded on x) when out of memory.
bool vlm_cpu_linear_stored(struct vlm_ctx * x, int64_t M, int64_t N, int64_t K, const float * A, int64_t lda,
                           enum vlm_dtype wtype, const void * W, const float * bias, float * C);
// Whether that linear runs M rows with wtype (F32 / F16 / BF16) weights as dot-product tiles
// (the CPU has AVX2 and M is below the rows where sgemm or the packed GEMM win); F32 weights
// otherwise go to sgemm unless vlm_cpu_linear_packed.
bool vlm_cpu_linear_tiled(enum vlm_dtype wtype, int64_t M);
// Whether that linear runs M rows with wtype (F32 / F16 / BF16) weights as the packed AVX-512
// GEMM (many rows, the CPU has AVX-512); F32 weights then are consumed as stored too.
bool vlm_cpu_linear_packed(enum vlm_dtype wtype, int64_t M);
// Whether that linear multiplies the F32 activations as given (F16 / BF16 weights; block types
// from VLM_LINEAR_QUANT_GEMM_ROWS rows where the CPU has no AVX512-VNNI) rather than rows
// quantized to Q8_0 / Q8_K as llama.cpp does.
bool vlm_cpu_linear_f32_activations(enum vlm_dtype wtype, int64_t M);
// Keeps a Q8_0 / Q4_0 weight W [N, K] also packed as the 8-bit integer GEMM reads it (where the
// CPU has AVX512-VNNI; 1.125 bytes per weight beside the rows), so that products with many rows
// pack nothing; false where not packed (other types, no VNNI, out of memory: products pack
// per call). vlm_cpu_unpack_weights drops the packed copies of weights within [base, base + bytes).
bool vlm_cpu_pack_weight(const void * W, enum vlm_dtype wtype, int64_t N, int64_t K, int n_threads);
void vlm_cpu_unpack_weights(const void * base, size_t bytes);
// The CPU's FP32 FMA throughput with n_threads threads in GFLOP/s (an FMA loop, AVX-512 or AVX2:
// *isa names it); 0 without either.
double vlm_cpu_fma_peak_gflops(int n_threads, const char ** isa);
// One activation row to Q8_0 as that linear quantizes it (ggml's x86 rounding where AVX2 runs).
void vlm_cpu_quantize_row_q8_0(const float * x, void * y, int64_t K);

// Vulkan backend (vk-*.c). Errors go into x's sticky status.
struct vlm_vk *     vlm_vk_init(int32_t device_index, char * err, size_t err_size);  // NULL + reason on failure
// Another context's recording state on the same device (weights and buffers are shared).
struct vlm_vk *     vlm_vk_share(struct vlm_vk * other, char * err, size_t err_size);
void                vlm_vk_free(struct vlm_vk * vk);
const char *        vlm_vk_device_name(const struct vlm_vk * vk);
struct vlm_buffer * vlm_vk_buffer_new(struct vlm_ctx * x, size_t bytes);
void                vlm_vk_buffer_free(struct vlm_ctx * x, struct vlm_buffer * b);
void                vlm_vk_upload(struct vlm_ctx * x, struct vlm_buffer * b, size_t offset, const void * data, size_t n);
void                vlm_vk_download(struct vlm_ctx * x, struct vlm_buffer * b, size_t offset, void * data, size_t n);
enum vlm_status     vlm_vk_sync(struct vlm_ctx * x);
void                vlm_vk_run_op(struct vlm_ctx * x, const struct vlm_op * op);
// Prints the Vulkan devices, their key limits and which one AUTO picks (for `vlm devices`).
int                 vlm_vk_print_devices(void * file /* FILE * */);
// Kernel variants: faster kernels beside the plain kernel of an op, chosen per dispatch by
// vk-ops.c where the shapes suit and the variant is enabled (each is by default; VLM_VK_NO_<X>=1
// or a failed self-test (selftest.h) turns one off, and the plain kernel runs instead).
enum vlm_vk_variant { VLM_VK_VARIANT_UNARY_VEC4 = 0, VLM_VK_VARIANT_MATVEC, VLM_VK_VARIANT_COUNT };
const char *        vlm_vk_variant_name(enum vlm_vk_variant v);   // "unary.vec4"
int                 vlm_vk_variant_find(const char * name);       // the variant of that name, -1 if none
void                vlm_vk_variant_enable(struct vlm_vk * vk, enum vlm_vk_variant v, bool on);
bool                vlm_vk_variant_enabled(const struct vlm_vk * vk, enum vlm_vk_variant v);
// Bit v set: variant v was recorded since the last call with reset (the self-test's attribution).
uint32_t            vlm_vk_variants_used(struct vlm_vk * vk, bool reset);

// Host view of a CPU tensor's first element (NULL for device tensors).
void * vlm_tensor_host(const struct vlm_tensor * t);

// fp16 / bf16 conversion helpers.
float    vlm_f16_to_f32(uint16_t h);
uint16_t vlm_f32_to_f16(float f);
float    vlm_bf16_to_f32(uint16_t h);
uint16_t vlm_f32_to_bf16(float f);

#endif // VLM_CORE_H
