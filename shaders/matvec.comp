#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// matvec.comp: LINEAR for a few activation rows (token generation, the decoders' one-row
// steps): D[z, m, n] = sum_k A[z, m, k] * W[n, k] (+ bias[n]) for the M <= MV_MAX_M rows, the
// matrix-vector variant beside matmul.comp's tiles (which waste most of a 16-row tile there).
// One workgroup per NR weight rows: thread t takes k = t, t + WG, ... (consecutive threads read
// consecutive weights; each weight is read once for all M rows, block dtypes dequantized as
// loaded; Q8_0 a 32-value block per step instead, its scale read once), then a shared-memory
// tree sum per (row, m).
// Bindings, push constants and accessors: matmul-io.glsl (b_col(n) is weight row n).
// Dispatch: ceil(N / NR) workgroups folded over x and y (vlm_vk_grid_1d), batch in z.
layout(local_size_x_id = 0) in;              // spec 0: WG, a power of two
layout(constant_id = 1) const uint NR = 2;   // spec 1: weight rows per workgroup
layout(constant_id = 2) const uint VEC4 = 0; // spec 2: 1 = 4 values per load (F32 A; F32/F16/BF16 W;
                                             // K, every row start and binding 16-byte aligned)

#include "matmul-io.glsl"

// A and W once more, 16 bytes per element (the same bindings)
layout(binding = 0) readonly buffer A4 { vec4 data_a4[]; };
layout(binding = 1) readonly buffer B4 { vec4 data_b4[]; };

// Values 4 k4 .. 4 k4 + 3 of the weight row at element base (a multiple of 4).
vec4 w_load4(uint base, uint k4) {
    if (B_DT == DT_F32) return data_b4[(base >> 2u) + k4];
    uint i = (base >> 1u) + 2u * k4;
    uint u0 = data_b[i], u1 = data_b[i + 1u];
    if (B_DT == DT_F16) return vec4(unpackHalf2x16(u0), unpackHalf2x16(u1));
    return vec4(uintBitsToFloat(u0 << 16u), uintBitsToFloat(u0 & 0xffff0000u), uintBitsToFloat(u1 << 16u),
                uintBitsToFloat(u1 & 0xffff0000u));   // BF16
}

#define MV_MAX_M 4u   // rows of A (core/vk-ops.c MATVEC_MAX_M)

shared float mv_sum[NR * MV_MAX_M * gl_WorkGroupSize.x];

void main() {
    const uint WG = gl_WorkGroupSize.x;
    uint tid = gl_LocalInvocationID.x;
    uint n0 = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * NR;
    // loops over m run to the constant MV_MAX_M (m < M inside) so that acc is indexed by
    // constants once unrolled (registers, not scratch memory)
    uint M = min(p.M, MV_MAX_M);
    uint a_base[MV_MAX_M], w_base[NR];
    for (uint m = 0u; m < MV_MAX_M; m++) a_base[m] = m < M ? a_row(m) : 0u;
    for (uint r = 0u; r < NR; r++) w_base[r] = n0 + r < p.N ? b_col(n0 + r) : 0u;
    float acc[NR * MV_MAX_M];
    for (uint i = 0u; i < NR * MV_MAX_M; i++) acc[i] = 0.0;

    if (VEC4 != 0u)
        for (uint k4 = tid; k4 < p.K / 4u; k4 += WG) {
            vec4 a[MV_MAX_M];
            for (uint m = 0u; m < MV_MAX_M; m++) a[m] = m < M ? data_a4[(a_base[m] >> 2u) + k4] : vec4(0.0);
            for (uint r = 0u; r < NR; r++) {
                vec4 w = n0 + r < p.N ? w_load4(w_base[r], k4) : vec4(0.0);
                for (uint m = 0u; m < MV_MAX_M; m++) acc[r * MV_MAX_M + m] += dot(a[m], w);
            }
        }
    else if (B_DT == DT_Q8_0)
        // a 32-value block per step: each row's scale read once, d * sum(a q) per block
        for (uint blk = tid; blk < p.K / 32u; blk += WG) {
            float s[NR * MV_MAX_M];
            for (uint i = 0u; i < NR * MV_MAX_M; i++) s[i] = 0.0;
            for (uint j = 0u; j < 32u; j++) {
                float a[MV_MAX_M];
                for (uint m = 0u; m < MV_MAX_M; m++) a[m] = m < M ? a_load(a_base[m], blk * 32u + j) : 0.0;
                for (uint r = 0u; r < NR; r++) {
                    float q = n0 + r < p.N ? float(int(BYTE_AT(data_b, w_base[r] + blk * 34u + 2u + j) << 24u) >> 24) : 0.0;
                    for (uint m = 0u; m < MV_MAX_M; m++) s[r * MV_MAX_M + m] = fma(a[m], q, s[r * MV_MAX_M + m]);
                }
            }
            for (uint r = 0u; r < NR; r++) {
                float d = n0 + r < p.N ? HALF_AT(data_b, w_base[r] + blk * 34u) : 0.0;
                for (uint m = 0u; m < MV_MAX_M; m++) acc[r * MV_MAX_M + m] = fma(d, s[r * MV_MAX_M + m], acc[r * MV_MAX_M + m]);
            }
        }
    else
        for (uint k = tid; k < p.K; k += WG) {
            float a[MV_MAX_M];
            for (uint m = 0u; m < MV_MAX_M; m++) a[m] = m < M ? a_load(a_base[m], k) : 0.0;
            for (uint r = 0u; r < NR; r++) {
                float w = n0 + r < p.N ? b_load(w_base[r], k) : 0.0;
                for (uint m = 0u; m < MV_MAX_M; m++) acc[r * MV_MAX_M + m] = fma(a[m], w, acc[r * MV_MAX_M + m]);
            }
        }
    for (uint i = 0u; i < NR * MV_MAX_M; i++) mv_sum[i * WG + tid] = acc[i];
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s)
            for (uint i = 0u; i < NR * MV_MAX_M; i++) mv_sum[i * WG + tid] += mv_sum[i * WG + tid + s];
        barrier();
    }
    for (uint i = tid; i < NR * M; i += WG) {   // NR * M may exceed WG
        uint r = i / M, m = i - r * M;
        if (n0 + r < p.N) d_store(m, n0 + r, mv_sum[(r * MV_MAX_M + m) * WG]);
    }
}
