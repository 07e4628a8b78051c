#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// gather.comp: out[n, d] = table[ids[n], d]; table [V, D] any float dtype and strides (or a
// contiguous block dtype, rows of t_s0 bytes), ids I32
// with up to 3 dims (flattened row-major to n). Ids outside [0, v_total) give zero rows. The
// table binding may hold only rows [r0, r0 + V) of a larger table (one dispatch per block of
// rows when the table exceeds the binding range): then only those ids are written.
// Bindings: 0 table (raw), 1 ids (i32), 2 d (contiguous [N, D]).
// Dispatch: ceil(N * D / 256) workgroups folded over x/y.
layout(local_size_x = 256) in;

layout(binding = 0) readonly buffer T { uint data_t[]; };
layout(binding = 1) readonly buffer I { int data_i[]; };
layout(binding = 2) writeonly buffer D { float data_d[]; };

layout(push_constant) uniform Params {   // mirrors struct pc_gather (core/vk-ops.c)
    uint D, V, ne1, ne2;
    uint si0, si1, si2, i_off;
    uint t_s0, t_s1, t_off, t_dt;
    uint d_off, n, r0, v_total;
} p;

DEFINE_LOAD_BLOCK(load_block_t, data_t)

void main() {
    uint idx = flat_group() * 256u + gl_LocalInvocationID.x;
    if (idx >= p.n) return;
    uint row = fdiv(idx, p.D);
    uint d = idx - row * p.D;
    uvec4 ii = unflatten4(row, 1u, p.ne1, p.ne2);
    uint i0 = ii.x, i1 = ii.z, i2 = ii.w;
    int id = data_i[p.i_off + i0 * p.si0 + i1 * p.si1 + i2 * p.si2];
    if (id < 0 || uint(id) >= p.v_total) {   // no row: zeros, written by the first block's dispatch
        if (p.r0 == 0u) data_d[p.d_off + idx] = 0.0;
        return;
    }
    if (uint(id) < p.r0 || uint(id) - p.r0 >= p.V) return;   // another block's row
    id -= int(p.r0);
    float v = 0.0;
    {
        if (p.t_dt >= DT_Q8_0) {   // contiguous rows of t_s0 bytes from byte t_off
            v = load_block_t(p.t_dt, p.t_off + uint(id) * p.t_s0, d);
        } else {
            uint it = p.t_off + uint(id) * p.t_s0 + d * p.t_s1;
            v = LOAD(data_t, p.t_dt, it);
        }
    }
    data_d[p.d_off + idx] = v;
}
