// common.glsl — shared helpers: dtype codes (enum vlm_dtype), loads of any dtype from raw
// uint buffers, fp32 -> f16/bf16 rounding, and the flat workgroup index of folded grids.
// Buffers are declared as uint[] so that no 8/16-bit storage feature is needed; every
// value is converted to fp32 on load and all math is fp32.
#ifndef VLM_COMMON_GLSL
#define VLM_COMMON_GLSL

#define DT_F32  0u
#define DT_F16  1u
#define DT_BF16 2u
#define DT_I32  3u
#define DT_U8   4u
#define DT_Q8_0 6u   // block types (enum vlm_dtype): addressed in bytes, see DEFINE_LOAD_BLOCK
#define DT_Q4_0 7u
#define DT_Q4_K 8u

// Element i of a raw uint buffer holding dtype dt (i must be a plain variable).
#define LOAD_F32(buf, i)  uintBitsToFloat(buf[i])
#define LOAD_F16(buf, i)  unpackHalf2x16(buf[(i) >> 1u] >> (((i) & 1u) * 16u)).x
#define LOAD_BF16(buf, i) uintBitsToFloat((buf[(i) >> 1u] >> (((i) & 1u) * 16u)) << 16u)
#define LOAD_I32(buf, i)  float(int(buf[i]))
#define LOAD_U8(buf, i)   float((buf[(i) >> 2u] >> (((i) & 3u) * 8u)) & 255u)
#define LOAD(buf, dt, i)                                              \
    ((dt) == DT_F32 ? LOAD_F32(buf, i) : (dt) == DT_F16 ? LOAD_F16(buf, i) \
   : (dt) == DT_BF16 ? LOAD_BF16(buf, i) : (dt) == DT_I32 ? LOAD_I32(buf, i) : LOAD_U8(buf, i))
// Raw bits of element i (same-dtype copies).
#define RAW(buf, dt, i)                                                      \
    ((dt) == DT_F32 || (dt) == DT_I32 ? buf[i]                             \
   : (dt) == DT_U8 ? ((buf[(i) >> 2u] >> (((i) & 3u) * 8u)) & 255u)        \
   : ((buf[(i) >> 1u] >> (((i) & 1u) * 16u)) & 65535u))

// Byte b and the half at even byte b of a raw uint buffer.
#define BYTE_AT(buf, b) ((buf[(b) >> 2u] >> (((b) & 3u) * 8u)) & 255u)
#define HALF_AT(buf, b) unpackHalf2x16(buf[(b) >> 2u] >> (((b) & 2u) * 8u)).x

// Defines `float NAME(uint dt, uint row, uint k)`: value k of the block-type row starting at
// byte row of buf (ggml's block layouts, core/quant.h; dequantized as ggml's dequantize_row_*).
// ref: ggml/src/ggml-quants.c dequantize_row_q8_0, dequantize_row_q4_0, dequantize_row_q4_K
#define DEFINE_LOAD_BLOCK(NAME, buf)                                                        \
float NAME(uint dt, uint row, uint k) {                                                     \
    if (dt == DT_Q8_0) {                                                                    \
        uint b = row + (k >> 5u) * 34u;                                                     \
        int q = int(BYTE_AT(buf, b + 2u + (k & 31u)) << 24u) >> 24;                         \
        return HALF_AT(buf, b) * float(q);                                                  \
    }                                                                                       \
    if (dt == DT_Q4_0) {                                                                    \
        uint b = row + (k >> 5u) * 18u, j = k & 31u;                                        \
        uint q = (BYTE_AT(buf, b + 2u + (j & 15u)) >> ((j >> 4u) * 4u)) & 15u;              \
        return HALF_AT(buf, b) * (float(q) - 8.0);                                          \
    }                                                                                       \
    uint b = row + (k >> 8u) * 144u, j = k & 255u, sub = j >> 5u;                           \
    uint q = (BYTE_AT(buf, b + 16u + (j >> 6u) * 32u + (j & 31u)) >> ((sub & 1u) * 4u)) & 15u; \
    uint sc, mn;                                                                            \
    if (sub < 4u) {                                                                         \
        sc = BYTE_AT(buf, b + 4u + sub) & 63u;                                              \
        mn = BYTE_AT(buf, b + 8u + sub) & 63u;                                              \
    } else {                                                                                \
        uint e = BYTE_AT(buf, b + 8u + sub);                                                \
        sc = (e & 15u) | ((BYTE_AT(buf, b + sub) >> 6u) << 4u);                             \
        mn = (e >> 4u) | ((BYTE_AT(buf, b + 4u + sub) >> 6u) << 4u);                        \
    }                                                                                       \
    return HALF_AT(buf, b) * float(sc) * float(q) - HALF_AT(buf, b + 2u) * float(mn);       \
}

// fp32 -> IEEE half, round to nearest even (NaN stays NaN, overflow -> inf).
uint f32_to_f16_bits(float f) {
    uint x = floatBitsToUint(f);
    uint sign = (x >> 16u) & 0x8000u;
    uint e = (x >> 23u) & 255u;
    uint m = x & 0x7fffffu;
    if (e == 255u) return sign | 0x7c00u | (m != 0u ? 0x200u : 0u);
    int ee = int(e) - 127 + 15;
    if (ee >= 31) return sign | 0x7c00u;
    if (ee <= 0) {
        if (ee < -10) return sign;
        m |= 0x800000u;
        uint shift = uint(14 - ee);
        uint h = m >> shift;
        uint rem = m & ((1u << shift) - 1u);
        uint half_ = 1u << (shift - 1u);
        if (rem > half_ || (rem == half_ && (h & 1u) != 0u)) h++;
        return sign | h;
    }
    uint h = (uint(ee) << 10u) | (m >> 13u);
    uint rem = m & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) != 0u)) h++;   // may carry into the exponent: correct
    return sign | h;
}

// fp32 -> bfloat16, round to nearest even (NaN -> quiet NaN).
uint f32_to_bf16_bits(float f) {
    uint x = floatBitsToUint(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return ((x >> 16u) | 0x40u) & 0xffffu;
    return ((x + 0x7fffu + ((x >> 16u) & 1u)) >> 16u) & 0xffffu;
}

// a / b without integer division (scalarized and slow on CPU Vulkan drivers such as
// lavapipe): a float estimate, one refinement on the remainder, then a +-1 fix. Exact for
// every a < 2^32 and 0 < b.
uint fdiv(uint a, uint b) {
    float inv = 1.0 / float(b);
    uint q = uint(min(float(a) * inv, 4294967040.0));
    int r = int(a - q * b);
    q = uint(int(q) + int(float(r) * inv));
    r = int(a - q * b);
    if (r < 0) q--;
    else if (uint(r) >= b) q++;
    return q;
}

// Row-major flat index -> (i0, i1, i2, i3) for a shape (*, ne1, ne2, ne3).
uvec4 unflatten4(uint idx, uint ne1, uint ne2, uint ne3) {
    uint t = fdiv(idx, ne3);
    uint i3 = idx - t * ne3;
    uint u = fdiv(t, ne2);
    uint i2 = t - u * ne2;
    uint i0 = fdiv(u, ne1);
    return uvec4(i0, u - i0 * ne1, i2, i3);
}

// Flat index of a workgroup in a grid folded over x and y (vlm_vk_grid_1d).
uint flat_group() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }

#endif
