#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// matmul.comp: D[z, m, n] = sum_k A[z, m, k] * B[z, k, n] (+ bias[n]) — MATMUL and LINEAR.
// A rows are two-level (row m -> (m / a_m1, m % a_m1)) so LINEAR's leading dims need no copy.
// LINEAR passes B = W^T: b_sk = 1, b_sn = K; for block-dtype weights (Q8_0, Q4_0, Q4_K) b_off
// and b_sn are in bytes and every value is dequantized as it is loaded. D is contiguous [batch, M, N].
// Bindings, push constants and accessors: matmul-io.glsl. Dispatch: (ceil(N / BN), ceil(M / BM), batch).
#include "matmul-io.glsl"
#include "gemm.glsl"

void main() { gemm_main(); }
