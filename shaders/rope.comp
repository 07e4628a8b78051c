#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// rope.comp: rotary embedding of [B, H, T, D] (4-D view) into a contiguous d.
//   pair (x0, x1) = NORMAL: (x[2i], x[2i+1]); NEOX: (x[i], x[i + D/2]),  i < D/2
//   y0 = x0 cos - x1 sin, y1 = x0 sin + x1 cos, angle = (pos0 + t) * theta^(-2i/D)
// cos/sin come from a host-computed table cs[t][i] = (cos, sin) (double precision angles).
// Bindings: 0 a, 1 cs (f32 [T, D/2, 2]), 2 d. Dispatch: ceil(B*H*T*D/2 / 256) folded over x/y.
layout(local_size_x = 256) in;

layout(binding = 0) readonly buffer A { float data_a[]; };
layout(binding = 1) readonly buffer CS { float data_cs[]; };
layout(binding = 2) writeonly buffer D { float data_d[]; };

layout(push_constant) uniform Params {   // mirrors struct pc_rope (core/vk-ops.c)
    uint H, T, half_d, neox;
    uint s0, s1, s2, s3;
    uint a_off, d_off, n;
} p;

void main() {
    uint idx = flat_group() * 256u + gl_LocalInvocationID.x;
    if (idx >= p.n) return;
    uint row = fdiv(idx, p.half_d);
    uint i = idx - row * p.half_d;
    uvec4 ii = unflatten4(row, 1u, p.H, p.T);
    uint b = ii.x, h = ii.z, t = ii.w;
    uint e0 = p.neox != 0u ? i : 2u * i;
    uint e1 = p.neox != 0u ? i + p.half_d : 2u * i + 1u;
    uint base = p.a_off + b * p.s0 + h * p.s1 + t * p.s2;
    float x0 = data_a[base + e0 * p.s3];
    float x1 = data_a[base + e1 * p.s3];
    float c = data_cs[(t * p.half_d + i) * 2u];
    float s = data_cs[(t * p.half_d + i) * 2u + 1u];
    uint dbase = p.d_off + row * 2u * p.half_d;
    data_d[dbase + e0] = x0 * c - x1 * s;
    data_d[dbase + e1] = x0 * s + x1 * c;
}
