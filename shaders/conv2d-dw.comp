#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// conv2d-dw.comp: depthwise conv2d on channel-last input (groups == channels),
//   d[z, oy, ox, c] = bias[c] + sum_{ky, kx} w[c, 0, ky, kx] * in[z, oy * S - P + ky, ox * S - P + kx, c]
// (zero padding). One invocation per output element, c fastest.
// Bindings: 0 in (f32, 4-D view [B, H, W, C]), 1 w (raw, W_DT, contiguous [C, 1, KH, KW]),
// 2 bias (raw), 3 d (contiguous [B, OH, OW, C]).
// Dispatch: ceil(B * OH * OW * C / 256) workgroups folded over x/y.
layout(local_size_x = 256) in;

layout(binding = 0) readonly buffer A { float data_a[]; };
layout(binding = 1) readonly buffer W { uint data_w[]; };
layout(binding = 2) readonly buffer Bi { uint data_b[]; };
layout(binding = 3) writeonly buffer D { float data_d[]; };

layout(push_constant) uniform Params {   // mirrors struct pc_conv2d_dw (core/vk-ops.c)
    uint H, W, C, OH, OW, KH, KW, stride, pad, n;
    uint s0, s1, s2, s3;
    uint a_off, w_off, b_off, d_off, w_dt, b_dt, has_bias;
} p;

void main() {
    uint idx = flat_group() * 256u + gl_LocalInvocationID.x;
    if (idx >= p.n) return;
    uvec4 ii = unflatten4(idx, p.OH, p.OW, p.C);
    uint z = ii.x, oy = ii.y, ox = ii.z, c = ii.w;
    float acc = 0.0;
    if (p.has_bias != 0u) { uint ib = p.b_off + c; acc = LOAD(data_b, p.b_dt, ib); }
    for (uint ky = 0u; ky < p.KH; ky++) {
        int iy = int(oy * p.stride + ky) - int(p.pad);
        if (iy < 0 || iy >= int(p.H)) continue;
        for (uint kx = 0u; kx < p.KW; kx++) {
            int ix = int(ox * p.stride + kx) - int(p.pad);
            if (ix < 0 || ix >= int(p.W)) continue;
            uint iw = p.w_off + (c * p.KH + ky) * p.KW + kx;
            acc += LOAD(data_w, p.w_dt, iw) * data_a[p.a_off + z * p.s0 + uint(iy) * p.s1 + uint(ix) * p.s2 + c * p.s3];
        }
    }
    data_d[p.d_off + idx] = acc;
}
