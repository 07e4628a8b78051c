#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// copy.comp: d[i0,i1,i2,i3] = convert(a[i0,i1,i2,i3]) for 4-D strided views of any dtype
// (COPY, CONCAT halves, downloads of views); block-dtype sources (Q8_0, Q4_0, Q4_K) to F32.
// Same dtype copies raw bits; F16/BF16/U8
// destinations are written with atomics so neighbouring elements are never clobbered.
// Float -> I32 truncates toward zero; float -> U8 rounds to nearest and clamps to [0, 255].
// Bindings: 0 a (raw), 1 d (raw). Dispatch: ceil(n / 256) workgroups folded over x/y.
layout(local_size_x = 256) in;

layout(binding = 0) readonly buffer A { uint data_a[]; };
layout(binding = 1) buffer D { uint data_d[]; };

layout(push_constant) uniform Params {   // mirrors struct pc_copy (core/vk-ops.c)
    uint ne0, ne1, ne2, ne3;             // shape (outermost first)
    uint sa0, sa1, sa2, sa3;             // a strides, elements
    uint sd0, sd1, sd2, sd3;             // d strides, elements
    uint a_off, d_off;                   // element offsets
    uint a_dt, d_dt;
    uint n;
    uint a_row, a_row_bytes;             // block-dtype a (contiguous, a_off in bytes): row length, bytes
} p;

DEFINE_LOAD_BLOCK(load_block_a, data_a)

void store_sub(uint i, uint bits, uint width) {   // width 8 or 16
    uint lg = width == 8u ? 2u : 1u;   // log2(elements per word)
    uint w = i >> lg;
    uint shift = (i & ((1u << lg) - 1u)) * width;
    uint mask = ((1u << width) - 1u) << shift;
    atomicAnd(data_d[w], ~mask);
    atomicOr(data_d[w], (bits << shift) & mask);
}

void main() {
    uint idx = flat_group() * 256u + gl_LocalInvocationID.x;
    if (idx >= p.n) return;
    uvec4 ii = unflatten4(idx, p.ne1, p.ne2, p.ne3);
    uint i0 = ii.x, i1 = ii.y, i2 = ii.z, i3 = ii.w;
    uint ia = p.a_off + i0 * p.sa0 + i1 * p.sa1 + i2 * p.sa2 + i3 * p.sa3;
    uint id = p.d_off + i0 * p.sd0 + i1 * p.sd1 + i2 * p.sd2 + i3 * p.sd3;
    uint bits;
    if (p.a_dt >= DT_Q8_0) {   // to F32 (ops.c allows nothing else)
        uint rel = i0 * p.sa0 + i1 * p.sa1 + i2 * p.sa2 + i3 * p.sa3;
        uint row = fdiv(rel, p.a_row);
        bits = floatBitsToUint(load_block_a(p.a_dt, p.a_off + row * p.a_row_bytes, rel - row * p.a_row));
    } else if (p.a_dt == p.d_dt) {
        bits = RAW(data_a, p.a_dt, ia);
    } else {
        float v = p.a_dt == DT_I32 ? 0.0 : LOAD(data_a, p.a_dt, ia);
        if (p.d_dt == DT_F32) {
            bits = p.a_dt == DT_I32 ? floatBitsToUint(float(int(data_a[ia]))) : floatBitsToUint(v);
        } else if (p.d_dt == DT_F16) {
            bits = f32_to_f16_bits(p.a_dt == DT_I32 ? float(int(data_a[ia])) : v);
        } else if (p.d_dt == DT_BF16) {
            bits = f32_to_bf16_bits(p.a_dt == DT_I32 ? float(int(data_a[ia])) : v);
        } else if (p.d_dt == DT_I32) {
            bits = uint(int(clamp(v, -2147483648.0, 2147483520.0)));   // NaN -> implementation value
        } else {   // U8
            int q = p.a_dt == DT_I32 ? int(data_a[ia]) : int(clamp(roundEven(v), 0.0, 255.0));
            bits = uint(clamp(q, 0, 255));
        }
    }
    if (p.d_dt == DT_F32 || p.d_dt == DT_I32) data_d[id] = bits;
    else store_sub(id, bits, p.d_dt == DT_U8 ? 8u : 16u);
}
