#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// binary.comp: d = a (op) b elementwise over 4-D views; broadcasting comes as stride 0.
// op: 0 add, 1 sub, 2 mul, 3 div (enum vlm_binary). d is contiguous F32.
// Bindings: 0 a (f32), 1 b (f32), 2 d. Dispatch: ceil(n / 256) workgroups folded over x/y.
layout(local_size_x = 256) in;

layout(binding = 0) readonly buffer A { float data_a[]; };
layout(binding = 1) readonly buffer B { float data_b[]; };
layout(binding = 2) writeonly buffer D { float data_d[]; };

layout(push_constant) uniform Params {   // mirrors struct pc_binary (core/vk-ops.c)
    uint ne0, ne1, ne2, ne3;
    uint sa0, sa1, sa2, sa3;
    uint sb0, sb1, sb2, sb3;
    uint a_off, b_off, d_off;
    uint op, n;
} p;

void main() {
    uint idx = flat_group() * 256u + gl_LocalInvocationID.x;
    if (idx >= p.n) return;
    uvec4 ii = unflatten4(idx, p.ne1, p.ne2, p.ne3);
    uint i0 = ii.x, i1 = ii.y, i2 = ii.z, i3 = ii.w;
    float a = data_a[p.a_off + i0 * p.sa0 + i1 * p.sa1 + i2 * p.sa2 + i3 * p.sa3];
    float b = data_b[p.b_off + i0 * p.sb0 + i1 * p.sb1 + i2 * p.sb2 + i3 * p.sb3];
    float r;
    if (p.op == 0u) r = a + b;
    else if (p.op == 1u) r = a - b;
    else if (p.op == 2u) r = a * b;
    else r = a / b;
    data_d[p.d_off + idx] = r;
}
