// dtype.c — the dtype table: names, block sizes, GGUF type ids and row conversions to and
// from F32 for every enum vlm_dtype, and the ggml type ids a GGUF file may hold.
#include <math.h>
#include <string.h>

#include "core.h"
#include "quant.h"

// ---- plain types ------------------------------------------------------------------------

static void f32_to_f32(const void * src, float * dst, int64_t n) { memmove(dst, src, (size_t)n * 4); }
static void f32_from_f32(const float * src, void * dst, int64_t n) { memmove(dst, src, (size_t)n * 4); }

static void f16_to_f32(const void * src, float * dst, int64_t n) {
    const uint16_t * s = src;
    for (int64_t i = 0; i < n; i++) dst[i] = vlm_f16_to_f32(s[i]);
}
static void f16_from_f32(const float * src, void * dst, int64_t n) {
    uint16_t * d = dst;
    for (int64_t i = 0; i < n; i++) d[i] = vlm_f32_to_f16(src[i]);
}
static void bf16_to_f32(const void * src, float * dst, int64_t n) {
    const uint16_t * s = src;
    for (int64_t i = 0; i < n; i++) dst[i] = vlm_bf16_to_f32(s[i]);
}
static void bf16_from_f32(const float * src, void * dst, int64_t n) {
    uint16_t * d = dst;
    for (int64_t i = 0; i < n; i++) d[i] = vlm_f32_to_bf16(src[i]);
}
static void i32_to_f32(const void * src, float * dst, int64_t n) {
    const int32_t * s = src;
    for (int64_t i = 0; i < n; i++) dst[i] = (float)s[i];
}
static void u8_to_f32(const void * src, float * dst, int64_t n) {
    const uint8_t * s = src;
    for (int64_t i = 0; i < n; i++) dst[i] = (float)s[i];
}

// ---- Q8_0 ---------------------------------------------------------------------------------

// ref: ggml/src/ggml-quants.c dequantize_row_q8_0
static void q8_0_to_f32(const void * src, float * dst, int64_t n) {
    const struct vlm_block_q8_0 * x = src;
    for (int64_t i = 0; i < n / VLM_QK; i++) {
        const float d = vlm_f16_to_f32(x[i].d);
        for (int j = 0; j < VLM_QK; j++) dst[i * VLM_QK + j] = x[i].qs[j] * d;
    }
}

// ref: ggml/src/ggml-quants.c quantize_row_q8_0_ref
static void q8_0_from_f32(const float * x, void * dst, int64_t n) {
    struct vlm_block_q8_0 * y = dst;
    for (int64_t i = 0; i < n / VLM_QK; i++) {
        float amax = 0.0f;
        for (int j = 0; j < VLM_QK; j++) amax = fmaxf(amax, fabsf(x[i * VLM_QK + j]));
        const float d  = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = vlm_f32_to_f16(d);
        for (int j = 0; j < VLM_QK; j++) y[i].qs[j] = (int8_t)roundf(x[i * VLM_QK + j] * id);
    }
}

// ---- Q4_0 ---------------------------------------------------------------------------------

// ref: ggml/src/ggml-quants.c dequantize_row_q4_0
static void q4_0_to_f32(const void * src, float * dst, int64_t n) {
    const struct vlm_block_q4_0 * x = src;
    for (int64_t i = 0; i < n / VLM_QK; i++) {
        const float d = vlm_f16_to_f32(x[i].d);
        for (int j = 0; j < VLM_QK / 2; j++) {
            dst[i * VLM_QK + j]              = ((x[i].qs[j] & 0x0F) - 8) * d;
            dst[i * VLM_QK + j + VLM_QK / 2] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

// ref: ggml/src/ggml-quants.c quantize_row_q4_0_ref
static void q4_0_from_f32(const float * x, void * dst, int64_t n) {
    struct vlm_block_q4_0 * y = dst;
    for (int64_t i = 0; i < n / VLM_QK; i++) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < VLM_QK; j++) {
            const float v = x[i * VLM_QK + j];
            if (amax < fabsf(v)) {
                amax = fabsf(v);
                max  = v;
            }
        }
        const float d  = max / -8;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = vlm_f32_to_f16(d);
        for (int j = 0; j < VLM_QK / 2; j++) {
            const float   x0  = x[i * VLM_QK + j] * id;
            const float   x1  = x[i * VLM_QK + VLM_QK / 2 + j] * id;
            const uint8_t xi0 = (uint8_t)((int8_t)(x0 + 8.5f) < 15 ? (int8_t)(x0 + 8.5f) : 15);
            const uint8_t xi1 = (uint8_t)((int8_t)(x1 + 8.5f) < 15 ? (int8_t)(x1 + 8.5f) : 15);
            y[i].qs[j] = (uint8_t)(xi0 | (xi1 << 4));
        }
    }
}

// ---- Q4_K ---------------------------------------------------------------------------------

// ref: ggml/src/ggml-quants.c nearest_int
static inline int nearest_int(float fval) {
    float val = fval + 12582912.f;
    int   i;
    memcpy(&i, &val, sizeof(int));
    return (i & 0x007fffff) - 0x00400000;
}

// ref: ggml/src/ggml-quants.c make_qkx2_quants
static float make_qkx2_quants(int n, int nmax, const float * x, const float * weights, uint8_t * L, float * the_min,
                              uint8_t * Laux, float rmin, float rdelta, int nstep, bool use_mad) {
    float min = x[0], max = x[0], sum_w = weights[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)(l < 0 ? 0 : l > nmax ? nmax : l);
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * (x[i] - min));
            l = l < 0 ? 0 : l > nmax ? nmax : l;
            Laux[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min   = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                for (int i = 0; i < n; ++i) L[i] = Laux[i];
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

// ref: ggml/src/ggml-quants.c quantize_row_q4_K_ref
static void q4_K_from_f32(const float * x, void * dst, int64_t n) {
    struct vlm_block_q4_K * y = dst;
    uint8_t L[VLM_QK_K], Laux[32];
    float   weights[32], mins[VLM_QK_K / 32], scales[VLM_QK_K / 32];
    for (int64_t i = 0; i < n / VLM_QK_K; i++) {
        float max_scale = 0, max_min = 0;   // as the min is deducted, scales are always positive
        for (int j = 0; j < VLM_QK_K / 32; ++j) {
            float sum_x2 = 0;
            for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
            float av_x = sqrtf(sum_x2 / 32);
            for (int l = 0; l < 32; ++l) weights[l] = av_x + fabsf(x[32 * j + l]);
            scales[j] = make_qkx2_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -1.f, 0.1f, 20, false);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
        float inv_min   = max_min > 0 ? 63.f / max_min : 0.f;
        for (int j = 0; j < VLM_QK_K / 32; ++j) {
            uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
            uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
            ls = ls < 63 ? ls : 63;
            lm = lm < 63 ? lm : 63;
            if (j < 4) {
                y[i].scales[j]     = ls;
                y[i].scales[j + 4] = lm;
            } else {
                y[i].scales[j + 4]  = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
                y[i].scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
                y[i].scales[j - 0] |= (uint8_t)((lm >> 4) << 6);
            }
        }
        y[i].d    = vlm_f32_to_f16(max_scale / 63.f);
        y[i].dmin = vlm_f32_to_f16(max_min / 63.f);
        uint8_t sc, m;
        for (int j = 0; j < VLM_QK_K / 32; ++j) {
            vlm_q4_K_scale_min(j, y[i].scales, &sc, &m);
            const float d = vlm_f16_to_f32(y[i].d) * sc;
            if (!d) continue;
            const float dm = vlm_f16_to_f32(y[i].dmin) * m;
            for (int ii = 0; ii < 32; ++ii) {
                int l = nearest_int((x[32 * j + ii] + dm) / d);
                L[32 * j + ii] = (uint8_t)(l < 0 ? 0 : l > 15 ? 15 : l);
            }
        }
        uint8_t * q = y[i].qs;
        for (int j = 0; j < VLM_QK_K; j += 64) {
            for (int l = 0; l < 32; ++l) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
            q += 32;
        }
        x += VLM_QK_K;
    }
}

// ref: ggml/src/ggml-quants.c dequantize_row_q4_K
static void q4_K_to_f32(const void * src, float * y, int64_t n) {
    const struct vlm_block_q4_K * x = src;
    for (int64_t i = 0; i < n / VLM_QK_K; i++) {
        const uint8_t * q = x[i].qs;
        const float d = vlm_f16_to_f32(x[i].d), min = vlm_f16_to_f32(x[i].dmin);
        int is = 0;
        uint8_t sc, m;
        for (int j = 0; j < VLM_QK_K; j += 64) {
            vlm_q4_K_scale_min(is + 0, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            vlm_q4_K_scale_min(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
            q += 32;
            is += 2;
        }
    }
}

// ref: ggml/src/ggml-quants.c quantize_row_q8_K_ref
void vlm_quantize_row_q8_K(const float * x, struct vlm_block_q8_K * y, int64_t k) {
    for (int64_t i = 0; i < k / VLM_QK_K; i++) {
        float max = 0, amax = 0;
        for (int j = 0; j < VLM_QK_K; ++j) {
            float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max  = x[j];
            }
        }
        if (!amax) {
            y[i].d = 0;
            memset(y[i].qs, 0, VLM_QK_K);
            memset(y[i].bsums, 0, sizeof y[i].bsums);
            x += VLM_QK_K;
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < VLM_QK_K; ++j) {
            int v = nearest_int(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < VLM_QK_K / 16; ++j) {
            int sum = 0;
            for (int ii = 0; ii < 16; ++ii) sum += y[i].qs[j * 16 + ii];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
        x += VLM_QK_K;
    }
}

// ---- the table ----------------------------------------------------------------------------

static const struct vlm_dtype_traits dtypes[VLM_DTYPE_COUNT] = {
    [VLM_DTYPE_F32]  = { "f32", 0, 1, 4, true, f32_to_f32, f32_from_f32 },
    [VLM_DTYPE_F16]  = { "f16", 1, 1, 2, true, f16_to_f32, f16_from_f32 },
    [VLM_DTYPE_BF16] = { "bf16", 30, 1, 2, true, bf16_to_f32, bf16_from_f32 },
    [VLM_DTYPE_I32]  = { "i32", 26, 1, 4, false, i32_to_f32, NULL },
    [VLM_DTYPE_U8]   = { "u8", -1, 1, 1, false, u8_to_f32, NULL },
    [VLM_DTYPE_I64]  = { "i64", 27, 1, 8, false, NULL, NULL },
    [VLM_DTYPE_Q8_0] = { "q8_0", 8, VLM_QK, sizeof(struct vlm_block_q8_0), false, q8_0_to_f32, q8_0_from_f32 },
    [VLM_DTYPE_Q4_0] = { "q4_0", 2, VLM_QK, sizeof(struct vlm_block_q4_0), false, q4_0_to_f32, q4_0_from_f32 },
    [VLM_DTYPE_Q4_K] = { "q4_k", 12, VLM_QK_K, sizeof(struct vlm_block_q4_K), false, q4_K_to_f32, q4_K_from_f32 },
};

static const struct vlm_dtype_traits dtype_unknown = { "?", -1, 0, 0, false, NULL, NULL };

const struct vlm_dtype_traits * vlm_dtype_traits(enum vlm_dtype dtype) {
    return (unsigned)dtype < VLM_DTYPE_COUNT ? &dtypes[dtype] : &dtype_unknown;
}

size_t vlm_dtype_nbytes(enum vlm_dtype dtype, int64_t n) {
    const struct vlm_dtype_traits * t = vlm_dtype_traits(dtype);
    size_t out;
    if (t->block == 0 || n < 0 || n % t->block != 0 || !vlm_mul_size((size_t)(n / t->block), t->block_bytes, &out))
        return 0;
    return out;
}

// ---- ggml type ids (ref: ggml/src/ggml.c type_traits: type_name, blck_size, type_size) ----

#define NONE VLM_DTYPE_COUNT
static const struct vlm_ggml_type ggml_types[] = {
    [0] = { "F32", 1, 4, VLM_DTYPE_F32 },       [1] = { "F16", 1, 2, VLM_DTYPE_F16 },
    [2] = { "Q4_0", 32, 18, VLM_DTYPE_Q4_0 },   [3] = { "Q4_1", 32, 20, NONE },
    [6] = { "Q5_0", 32, 22, NONE },             [7] = { "Q5_1", 32, 24, NONE },
    [8] = { "Q8_0", 32, 34, VLM_DTYPE_Q8_0 },   [9] = { "Q8_1", 32, 36, NONE },
    [10] = { "Q2_K", 256, 84, NONE },           [11] = { "Q3_K", 256, 110, NONE },
    [12] = { "Q4_K", 256, 144, VLM_DTYPE_Q4_K },[13] = { "Q5_K", 256, 176, NONE },
    [14] = { "Q6_K", 256, 210, NONE },          [15] = { "Q8_K", 256, 292, NONE },
    [16] = { "IQ2_XXS", 256, 66, NONE },        [17] = { "IQ2_XS", 256, 74, NONE },
    [18] = { "IQ3_XXS", 256, 98, NONE },        [19] = { "IQ1_S", 256, 50, NONE },
    [20] = { "IQ4_NL", 32, 18, NONE },          [21] = { "IQ3_S", 256, 110, NONE },
    [22] = { "IQ2_S", 256, 82, NONE },          [23] = { "IQ4_XS", 256, 136, NONE },
    [24] = { "I8", 1, 1, NONE },                [25] = { "I16", 1, 2, NONE },
    [26] = { "I32", 1, 4, VLM_DTYPE_I32 },      [27] = { "I64", 1, 8, VLM_DTYPE_I64 },
    [28] = { "F64", 1, 8, NONE },               [29] = { "IQ1_M", 256, 56, NONE },
    [30] = { "BF16", 1, 2, VLM_DTYPE_BF16 },    [34] = { "TQ1_0", 256, 54, NONE },
    [35] = { "TQ2_0", 256, 66, NONE },          [39] = { "MXFP4", 32, 17, NONE },
};
#undef NONE

const struct vlm_ggml_type * vlm_ggml_type(int32_t id) {
    if (id < 0 || id >= (int32_t)(sizeof ggml_types / sizeof *ggml_types) || !ggml_types[id].name) return NULL;
    return &ggml_types[id];
}
