// quant.h — ggml's block layouts (ref: ggml/src/ggml-common.h block_q8_0, block_q4_0,
// block_q4_K, block_q8_K) for the CPU code that reads them (dtype.c, cpu-linear.c).
#ifndef VLM_QUANT_H
#define VLM_QUANT_H
#include <stdint.h>

#define VLM_QK   32    // QK8_0 = QK4_0
#define VLM_QK_K 256   // QK_K
// The CPU linear with block-quantized weights: below this many activation rows each weight row
// is dotted with the rows quantized to 8 bits, as llama.cpp does (bit-exact with it); from this
// many on, Q8_0 / Q4_0 go to an 8-bit integer GEMM where the CPU has AVX512-VNNI, else weight
// chunks are dequantized to F32 and multiplied by sgemm (prompts, image tiles: about twice the
// speed of the dots).
#define VLM_LINEAR_QUANT_GEMM_ROWS 32

struct vlm_block_q8_0 { uint16_t d; int8_t qs[VLM_QK]; };
struct vlm_block_q4_0 { uint16_t d; uint8_t qs[VLM_QK / 2]; };   // qs[j]: value j (low nibble), j + 16 (high)
struct vlm_block_q4_K {
    uint16_t d, dmin;                 // super-block scales of the 6-bit scales and mins
    uint8_t  scales[12];              // 8 scales and 8 mins, 6 bits each
    uint8_t  qs[VLM_QK_K / 2];        // 4 chunks of 64 values: low nibbles first 32, high nibbles next 32
};
// Activations for Q4_K dot products only (never stored in files).
struct vlm_block_q8_K { float d; int8_t qs[VLM_QK_K]; int16_t bsums[VLM_QK_K / 16]; };

_Static_assert(sizeof(struct vlm_block_q8_0) == 34, "block_q8_0 is 34 bytes");
_Static_assert(sizeof(struct vlm_block_q4_0) == 18, "block_q4_0 is 18 bytes");
_Static_assert(sizeof(struct vlm_block_q4_K) == 144, "block_q4_K is 144 bytes");
_Static_assert(sizeof(struct vlm_block_q8_K) == 292, "block_q8_K is 292 bytes");

// ref: ggml/src/ggml-quants.c get_scale_min_k4 — scale and min of sub-block j (0..7).
static inline void vlm_q4_K_scale_min(int j, const uint8_t * q, uint8_t * d, uint8_t * m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
    }
}

// ref: ggml/src/ggml-quants.c quantize_row_q8_K_ref — k values (a multiple of 256) to Q8_K.
void vlm_quantize_row_q8_K(const float * x, struct vlm_block_q8_K * y, int64_t k);
#endif
