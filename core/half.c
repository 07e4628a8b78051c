// half.c — fp16 / bf16 <-> fp32 conversion (round to nearest even).
#include <string.h>

#include "core.h"

static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float    bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float vlm_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp  = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0x1f)                         // inf / nan (keep the payload)
        return bits_f32(sign | 0x7f800000u | (mant << 13));
    if (exp == 0) {
        if (mant == 0) return bits_f32(sign);
        // subnormal: mant * 2^-24
        float v = (float)mant * 5.9604644775390625e-08f;
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t vlm_f32_to_f16(float f) {
    uint32_t u    = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a    = u & 0x7fffffffu;
    if (a >= 0x7f800000u)                    // inf or nan
        return sign | 0x7c00 | (a > 0x7f800000u ? (0x200 | ((a >> 13) & 0x3ff)) : 0);
    if (a >= 0x477ff000u)                    // rounds to >= 65520: overflow to inf
        return sign | 0x7c00;
    if (a < 0x38800000u) {                   // below the smallest normal half (2^-14)
        if (a < 0x33000000u) return sign;    // < 2^-25: rounds to zero (2^-25 itself ties to 0)
        // subnormal half: value / 2^-24, rounded to nearest even
        uint32_t e     = a >> 23;
        uint32_t m     = (a & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e;            // m * 2^(e-150) / 2^-24 = m >> (126 - e)
        uint32_t r     = m >> shift;
        uint32_t rem   = m & ((1u << shift) - 1);
        uint32_t half  = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return sign | (uint16_t)r;
    }
    // normal: rebias exponent, round mantissa 23 -> 10 bits to nearest even
    uint32_t r = a + 0xfff + ((a >> 13) & 1);
    r = (r >> 13) - (112u << 10);
    return sign | (uint16_t)r;
}

float vlm_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t vlm_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)     // nan: keep it quiet
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}
