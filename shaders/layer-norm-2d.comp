#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// layer-norm-2d.comp: SAM's LayerNorm2d over channels of [B, C, H, W]:
//   u = mean_c x, s = mean_c (x - u)^2, y = w[c] * (x - u) / sqrt(s + eps) + b[c]
// One invocation per pixel (b, y, x), looping over C.
// Bindings: 0 a (f32, 4-D view), 1 w (raw), 2 b (raw), 3 d (contiguous).
// Dispatch: ceil(B * H * W / 256) workgroups folded over x/y.
layout(local_size_x = 256) in;

layout(binding = 0) readonly buffer A { float data_a[]; };
layout(binding = 1) readonly buffer W { uint data_w[]; };
layout(binding = 2) readonly buffer B { uint data_b[]; };
layout(binding = 3) writeonly buffer D { float data_d[]; };

layout(push_constant) uniform Params {   // mirrors struct pc_ln2d (core/vk-ops.c)
    uint C, H, W, n;
    uint s0, s1, s2, s3;
    uint a_off, w_off, b_off, w_dt, b_dt, d_off;
    float eps;
} p;

void main() {
    uint idx = flat_group() * 256u + gl_LocalInvocationID.x;
    if (idx >= p.n) return;
    uvec4 ii = unflatten4(idx, 1u, p.H, p.W);
    uint z = ii.x, y = ii.z, x = ii.w;
    uint base = p.a_off + z * p.s0 + y * p.s2 + x * p.s3;
    float s = 0.0;
    for (uint c = 0u; c < p.C; c++) s += data_a[base + c * p.s1];
    float u = s / float(p.C);
    float v = 0.0;
    for (uint c = 0u; c < p.C; c++) { float d = data_a[base + c * p.s1] - u; v += d * d; }
    float inv = 1.0 / sqrt(v / float(p.C) + p.eps);
    uint hw = p.H * p.W;
    uint dbase = p.d_off + z * p.C * hw + y * p.W + x;
    for (uint c = 0u; c < p.C; c++) {
        uint iw = p.w_off + c, ib = p.b_off + c;
        data_d[dbase + c * hw] = (data_a[base + c * p.s1] - u) * inv * LOAD(data_w, p.w_dt, iw) + LOAD(data_b, p.b_dt, ib);
    }
}
