#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// conv2d.comp: implicit-GEMM convolution, out[z, co, oy, ox] = bias[co] +
//   sum_{ci, ky, kx} w[co, ci, ky, kx] * in[z, ci, oy * S - P + ky, ox * S - P + kx]
// (zero padding). GEMM view: M = Cout, N = OH * OW, K = Cin * KH * KW.
// Bindings: 0 w (raw, W_DT, contiguous), 1 in (f32, 4-D view), 2 bias (raw, BIAS_DT), 3 d.
// Dispatch: (ceil(N / BN), ceil(M / BM), batch).
layout(constant_id = 6) const uint W_DT = 0;
layout(constant_id = 7) const uint HAS_BIAS = 0;
layout(constant_id = 8) const uint BIAS_DT = 0;

layout(binding = 0) readonly buffer A { uint data_a[]; };
layout(binding = 1) readonly buffer B { float data_b[]; };
layout(binding = 2) readonly buffer C { uint data_c[]; };
layout(binding = 3) writeonly buffer D { float data_d[]; };

layout(push_constant) uniform Params {   // mirrors struct pc_conv2d (core/vk-ops.c)
    uint M, N, K, a_kcontig, b_ncontig;
    uint w_off, in_off, s0, s1, s2, s3;
    uint H, W, KH, KW, OW, stride, pad;
    uint c_off, d_off;
} p;

uint a_row(uint m) { return p.w_off + m * p.K; }
float a_load(uint base, uint k) { uint i = base + k; return LOAD(data_a, W_DT, i); }
uint b_col(uint n) { uint oy = fdiv(n, p.OW); return (oy << 16u) | (n - oy * p.OW); }
float b_load(uint base, uint k) {
    uint khw = p.KH * p.KW;
    uint ci = fdiv(k, khw);
    uint r = k - ci * khw;
    uint ky = fdiv(r, p.KW);
    uint kx = r - ky * p.KW;
    int iy = int((base >> 16u) * p.stride + ky) - int(p.pad);
    int ix = int((base & 65535u) * p.stride + kx) - int(p.pad);
    if (iy < 0 || ix < 0 || iy >= int(p.H) || ix >= int(p.W)) return 0.0;
    return data_b[p.in_off + gl_WorkGroupID.z * p.s0 + ci * p.s1 + uint(iy) * p.s2 + uint(ix) * p.s3];
}
void d_store(uint m, uint n, float v) {
    if (HAS_BIAS != 0u) { uint i = p.c_off + m; v += LOAD(data_c, BIAS_DT, i); }
    data_d[p.d_off + (gl_WorkGroupID.z * p.M + m) * p.N + n] = v;
}

#include "gemm.glsl"

void main() { gemm_main(); }
