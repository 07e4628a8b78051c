#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// softmax.comp: y = softmax(scale * a + mask) over the innermost dim, one workgroup per row.
// a, mask: 4-D views (mask broadcast through stride 0); d contiguous. A row whose every
// entry is -inf gives zeros.
// Bindings: 0 a, 1 mask, 2 d. Dispatch: n_rows workgroups folded over x/y.
layout(local_size_x_id = 0) in;   // spec 0: workgroup size (power of two)

layout(binding = 0) readonly buffer A { float data_a[]; };
layout(binding = 1) readonly buffer M { float data_m[]; };
layout(binding = 2) buffer D { float data_d[]; };

layout(push_constant) uniform Params {   // mirrors struct pc_softmax (core/vk-ops.c)
    uint ncols, ne1, ne2, nrows;
    uint sa0, sa1, sa2, sa3;
    uint sm0, sm1, sm2, sm3;
    uint a_off, m_off, d_off, has_mask;
    float scale;
} p;

shared float red[1024];

float reduce(float v, bool is_max) {
    uint tid = gl_LocalInvocationID.x;
    red[tid] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2u; s > 0u; s >>= 1u) {
        if (tid < s) red[tid] = is_max ? max(red[tid], red[tid + s]) : red[tid] + red[tid + s];
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

void main() {
    uint row = flat_group();
    if (row >= p.nrows) return;
    uint tid = gl_LocalInvocationID.x;
    uint WG = gl_WorkGroupSize.x;
    uint i2 = row % p.ne2;
    uint i1 = (row / p.ne2) % p.ne1;
    uint i0 = row / (p.ne2 * p.ne1);
    uint abase = p.a_off + i0 * p.sa0 + i1 * p.sa1 + i2 * p.sa2;
    uint mbase = p.m_off + i0 * p.sm0 + i1 * p.sm1 + i2 * p.sm2;
    uint dbase = p.d_off + row * p.ncols;
    float mx = -1.0 / 0.0;
    for (uint c = tid; c < p.ncols; c += WG) {
        float v = p.scale * data_a[abase + c * p.sa3];
        if (p.has_mask != 0u) v += data_m[mbase + c * p.sm3];
        mx = max(mx, v);
    }
    mx = reduce(mx, true);
    float s = 0.0;
    for (uint c = tid; c < p.ncols; c += WG) {
        float v = p.scale * data_a[abase + c * p.sa3];
        if (p.has_mask != 0u) v += data_m[mbase + c * p.sm3];
        float e = isinf(mx) && mx < 0.0 ? 0.0 : exp(v - mx);
        data_d[dbase + c] = e;
        s += e;
    }
    s = reduce(s, false);
    float inv = s > 0.0 ? 1.0 / s : 0.0;
    // each thread rescales exactly the entries it wrote (no barrier needed)
    for (uint c = tid; c < p.ncols; c += WG) data_d[dbase + c] *= inv;
}
