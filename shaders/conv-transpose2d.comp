#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// conv-transpose2d.comp: transposed convolution with kernel == stride S (no overlap):
//   out[z, co, oy, ox] = bias[co] + sum_ci in[z, ci, oy / S, ox / S] * w[ci, co, oy % S, ox % S]
// Bindings: 0 in (f32, 4-D view), 1 w (raw, contiguous [Cin, Cout, S, S]), 2 bias (raw), 3 d.
// Dispatch: ceil(n / 256) workgroups folded over x/y, n = B * Cout * OH * OW.
layout(local_size_x = 256) in;

layout(binding = 0) readonly buffer A { float data_a[]; };
layout(binding = 1) readonly buffer W { uint data_w[]; };
layout(binding = 2) readonly buffer C { uint data_c[]; };
layout(binding = 3) writeonly buffer D { float data_d[]; };

layout(push_constant) uniform Params {   // mirrors struct pc_convt (core/vk-ops.c)
    uint cin, cout, OH, OW, S;
    uint s0, s1, s2, s3, a_off;
    uint w_off, w_dt, c_off, c_dt, has_bias, d_off, n;
} p;

void main() {
    uint idx = flat_group() * 256u + gl_LocalInvocationID.x;
    if (idx >= p.n) return;
    uvec4 ii = unflatten4(idx, p.cout, p.OH, p.OW);
    uint z = ii.x, co = ii.y, oy = ii.z, ox = ii.w;
    uint iy = fdiv(oy, p.S), ix = fdiv(ox, p.S);
    uint ky = oy - iy * p.S, kx = ox - ix * p.S;
    uint ab = p.a_off + z * p.s0 + iy * p.s2 + ix * p.s3;
    uint wb = p.w_off + (co * p.S + ky) * p.S + kx;
    uint wstep = p.cout * p.S * p.S;
    float acc = 0.0;
    for (uint ci = 0u; ci < p.cin; ci++) {
        uint iw = wb + ci * wstep;
        acc = fma(data_a[ab + ci * p.s1], LOAD(data_w, p.w_dt, iw), acc);
    }
    if (p.has_bias != 0u) { uint ic = p.c_off + co; acc += LOAD(data_c, p.c_dt, ic); }
    data_d[p.d_off + idx] = acc;
}
