// resize.c — uint8 image resampling that reproduces Pillow's Image.resize bit for bit
// (bilinear and bicubic, antialiased when downscaling). Ported from Pillow
// src/libImaging/Resample.c (8-bit path); channels are processed independently.
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "image.h"

// ref: Pillow src/libImaging/Resample.c bilinear_filter
static double filter_bilinear(double x) {
    if (x < 0.0) x = -x;
    if (x < 1.0) return 1.0 - x;
    return 0.0;
}

// ref: Pillow src/libImaging/Resample.c bicubic_filter (a = -0.5)
static double filter_bicubic(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

struct resample_filter {
    double (*fn)(double x);
    double support;
};

// 8 bits for the result, 2 bits of headroom for negative lobes and sums above 1.
// ref: Pillow src/libImaging/Resample.c PRECISION_BITS
#define PRECISION_BITS (32 - 8 - 2)

// ref: Pillow src/libImaging/Resample.c clip8 (the _clip8_lookups table covers -640..639
// after the shift; everything below 0 is 0 and above 255 is 255, which is this clamp)
static inline uint8_t clip8(int32_t in) {
    int32_t v = in >> PRECISION_BITS;   // arithmetic shift, as Pillow relies on
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

// Per output index: the first source index, the number of taps, and ksize fixed-point weights.
struct resample_coeffs {
    int32_t   ksize;
    int32_t * bounds;   // [out_size, 2]: xmin, count
    int32_t * kk;       // [out_size, ksize]
};

static void coeffs_free(struct resample_coeffs * c) {
    free(c->bounds);
    free(c->kk);
    c->bounds = NULL;
    c->kk = NULL;
}

// ref: Pillow src/libImaging/Resample.c precompute_coeffs + normalize_coeffs_8bpc
// (box = (0, in_size): in0 = 0.0f, in1 = (float)in_size).
static enum vlm_status precompute_coeffs(int32_t in_size, int32_t out_size, const struct resample_filter * f,
                                         struct resample_coeffs * c) {
    memset(c, 0, sizeof *c);
    const float in0 = 0.0f, in1 = (float)in_size;
    double scale = (double)(in1 - in0) / out_size;
    double filterscale = scale;
    if (filterscale < 1.0) filterscale = 1.0;
    // determine support size (length of resampling filter)
    const double support = f->support * filterscale;
    // maximum number of coeffs
    const double ks = ceil(support) * 2 + 1;
    if (!(ks < (double)INT32_MAX / 8)) return vlm_error(VLM_STATUS_INVALID_ARG, "resize: filter too wide");
    const int32_t ksize = (int32_t)ks;
    size_t n_kk, kk_bytes, bounds_bytes;
    if (!vlm_mul_size((size_t)out_size, (size_t)ksize, &n_kk) || !vlm_mul_size(n_kk, sizeof(double), &kk_bytes) ||
        !vlm_mul_size((size_t)out_size, 2 * sizeof(int32_t), &bounds_bytes))
        return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "resize: coefficient table too large");
    double *  pre = malloc(kk_bytes);
    int32_t * kk = malloc(n_kk * sizeof(int32_t));
    int32_t * bounds = malloc(bounds_bytes);
    if (!pre || !kk || !bounds) {
        free(pre);
        free(kk);
        free(bounds);
        return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "resize: out of memory for coefficients");
    }
    for (int32_t xx = 0; xx < out_size; xx++) {
        double center = in0 + (xx + 0.5) * scale;
        double ww = 0.0;
        double ss = 1.0 / filterscale;
        // Round the value
        int32_t xmin = (int32_t)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        // Round the value
        int32_t xmax = (int32_t)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double * k = &pre[(size_t)xx * ksize];
        int32_t  x;
        for (x = 0; x < xmax; x++) {
            double w = f->fn((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (x = 0; x < xmax; x++) {
            if (ww != 0.0) k[x] /= ww;
        }
        // Remaining values should stay empty if they are used despite of xmax.
        for (; x < ksize; x++) k[x] = 0;
        bounds[xx * 2 + 0] = xmin;
        bounds[xx * 2 + 1] = xmax;
    }
    // ref: normalize_coeffs_8bpc — round half away from zero to 22-bit fixed point
    for (size_t i = 0; i < n_kk; i++) {
        if (pre[i] < 0)
            kk[i] = (int32_t)(-0.5 + pre[i] * (1 << PRECISION_BITS));
        else
            kk[i] = (int32_t)(0.5 + pre[i] * (1 << PRECISION_BITS));
    }
    free(pre);
    c->ksize = ksize;
    c->bounds = bounds;
    c->kk = kk;
    return VLM_STATUS_OK;
}

// One output row of the horizontal pass; ch is a literal at every call site so that the
// channel loops unroll.
// ref: Pillow src/libImaging/Resample.c ImagingResampleHorizontal_8bpc (inner loops)
static inline __attribute__((always_inline)) void
horizontal_row(const uint8_t * row, uint8_t * out, int32_t out_w, const int32_t ch, const struct resample_coeffs * c) {
    for (int32_t xx = 0; xx < out_w; xx++) {
        const int32_t   xmin = c->bounds[xx * 2 + 0];
        const int32_t   xmax = c->bounds[xx * 2 + 1];
        const int32_t * k = &c->kk[(size_t)xx * c->ksize];
        int32_t         ss[4] = { 1 << (PRECISION_BITS - 1), 1 << (PRECISION_BITS - 1), 1 << (PRECISION_BITS - 1),
                                  1 << (PRECISION_BITS - 1) };
        const uint8_t * p = row + (size_t)xmin * ch;
        for (int32_t x = 0; x < xmax; x++) {
            for (int32_t b = 0; b < ch; b++) ss[b] += (int32_t)p[x * ch + b] * k[x];
        }
        for (int32_t b = 0; b < ch; b++) out[xx * ch + b] = clip8(ss[b]);
    }
}

// src rows [offset, offset + n_rows) of a [*, in_w, ch] image -> dst [n_rows, out_w, ch].
// Rows are independent (integer arithmetic), so threads do not change the result.
static void resample_horizontal(const uint8_t * src, int32_t in_w, int32_t ch, int32_t offset, int32_t n_rows,
                                uint8_t * dst, int32_t out_w, const struct resample_coeffs * c) {
    const int parallel = (int64_t)n_rows * out_w * c->ksize * ch > (1 << 20);
    (void)parallel;  // without OpenMP
#pragma omp parallel for schedule(static) if (parallel)
    for (int32_t yy = 0; yy < n_rows; yy++) {
        const uint8_t * row = src + ((size_t)(yy + offset) * in_w) * ch;
        uint8_t *       out = dst + (size_t)yy * out_w * ch;
        switch (ch) {
            case 1: horizontal_row(row, out, out_w, 1, c); break;
            case 2: horizontal_row(row, out, out_w, 2, c); break;
            case 3: horizontal_row(row, out, out_w, 3, c); break;
            default: horizontal_row(row, out, out_w, 4, c); break;
        }
    }
}

// ref: Pillow src/libImaging/Resample.c ImagingResampleVertical_8bpc
// src [*, w, ch] -> dst [out_h, w, ch]; bounds are relative to src's first row. The sums are
// the same integers as Pillow's (same terms, exact int32 addition), accumulated a block of
// columns at a time so that source rows are read contiguously.
#define VERTICAL_BLOCK 512
static void resample_vertical(const uint8_t * src, int32_t w, int32_t ch, uint8_t * dst, int32_t out_h,
                              const struct resample_coeffs * c) {
    const size_t row_len = (size_t)w * ch;
    const int    parallel = (int64_t)out_h * (int64_t)row_len * c->ksize > (1 << 20);
    (void)parallel;  // without OpenMP
#pragma omp parallel for schedule(static) if (parallel)
    for (int32_t yy = 0; yy < out_h; yy++) {
        const int32_t * k = &c->kk[(size_t)yy * c->ksize];
        const int32_t   ymin = c->bounds[yy * 2 + 0];
        const int32_t   ymax = c->bounds[yy * 2 + 1];
        uint8_t *       out = dst + (size_t)yy * row_len;
        int32_t         ss[VERTICAL_BLOCK];
        for (size_t i0 = 0; i0 < row_len; i0 += VERTICAL_BLOCK) {
            const size_t n = row_len - i0 < VERTICAL_BLOCK ? row_len - i0 : VERTICAL_BLOCK;
            for (size_t i = 0; i < n; i++) ss[i] = 1 << (PRECISION_BITS - 1);
            for (int32_t y = 0; y < ymax; y++) {
                const uint8_t * p = src + (size_t)(y + ymin) * row_len + i0;
                const int32_t   ky = k[y];
                for (size_t i = 0; i < n; i++) ss[i] += (int32_t)p[i] * ky;
            }
            for (size_t i = 0; i < n; i++) out[i0 + i] = clip8(ss[i]);
        }
    }
}

enum vlm_status vlm_image_resample(const uint8_t * src, int32_t w, int32_t h, int32_t channels,
                                   uint8_t * dst, int32_t out_w, int32_t out_h, enum vlm_resample filter) {
    static const struct resample_filter bilinear = { filter_bilinear, 1.0 };
    static const struct resample_filter bicubic = { filter_bicubic, 2.0 };
    const struct resample_filter *      f;
    switch (filter) {
        case VLM_RESAMPLE_BILINEAR: f = &bilinear; break;
        case VLM_RESAMPLE_BICUBIC: f = &bicubic; break;
        default: return vlm_error(VLM_STATUS_INVALID_ARG, "resize: unknown filter %d", (int)filter);
    }
    if (!src || !dst || w <= 0 || h <= 0 || out_w <= 0 || out_h <= 0 || channels < 1 || channels > 4)
        return vlm_error(VLM_STATUS_INVALID_ARG, "resize: bad arguments (%dx%dx%d -> %dx%d)", (int)w, (int)h,
                         (int)channels, (int)out_w, (int)out_h);

    // ref: Pillow src/libImaging/Resample.c ImagingResampleInner
    const int need_horizontal = out_w != w;
    const int need_vertical = out_h != h;
    size_t    n_out;
    if (!vlm_mul_size((size_t)out_w, (size_t)out_h, &n_out) || !vlm_mul_size(n_out, (size_t)channels, &n_out))
        return vlm_error(VLM_STATUS_INVALID_ARG, "resize: output %dx%d too large", (int)out_w, (int)out_h);

    struct resample_coeffs vert = { 0 }, horiz = { 0 };
    uint8_t *              tmp = NULL;
    enum vlm_status        st = precompute_coeffs(h, out_h, f, &vert);
    if (st != VLM_STATUS_OK) goto fail;
    // First and last used rows of the source image
    const int32_t ybox_first = vert.bounds[0];
    const int32_t ybox_last = vert.bounds[out_h * 2 - 2] + vert.bounds[out_h * 2 - 1];

    const uint8_t * cur = src;   // the image the vertical pass reads
    int32_t         cur_w = w;
    if (need_horizontal) {
        st = precompute_coeffs(w, out_w, f, &horiz);
        if (st != VLM_STATUS_OK) goto fail;
        // Shift bounds for vertical pass
        for (int32_t i = 0; i < out_h; i++) vert.bounds[i * 2] -= ybox_first;
        const int32_t rows = ybox_last - ybox_first;
        if (need_vertical) {
            size_t n_tmp;
            if (!vlm_mul_size((size_t)out_w * channels, (size_t)rows, &n_tmp)) {
                st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "resize: temporary image too large");
                goto fail;
            }
            tmp = malloc(n_tmp ? n_tmp : 1);
            if (!tmp) {
                st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "resize: out of memory");
                goto fail;
            }
            resample_horizontal(src, w, channels, ybox_first, rows, tmp, out_w, &horiz);
            cur = tmp;
        } else {
            // rows == h here (no vertical resampling: identity bounds)
            resample_horizontal(src, w, channels, ybox_first, rows, dst, out_w, &horiz);
            cur = NULL;
        }
        cur_w = out_w;
    }
    if (need_vertical) {
        resample_vertical(cur, cur_w, channels, dst, out_h, &vert);
    } else if (!need_horizontal) {
        // none of the passes are needed: copy
        memcpy(dst, src, n_out);
    }
    st = VLM_STATUS_OK;
fail:
    free(tmp);
    coeffs_free(&vert);
    coeffs_free(&horiz);
    return st;
}

enum vlm_status vlm_image_resize(const struct vlm_image * in, int32_t out_w, int32_t out_h,
                                 enum vlm_resample filter, struct vlm_image * out) {
    if (!out) return vlm_error(VLM_STATUS_INVALID_ARG, "resize: out is NULL");
    memset(out, 0, sizeof *out);
    if (!in || !in->data || in->width <= 0 || in->height <= 0 || in->channels < 1 || in->channels > 4 ||
        out_w <= 0 || out_h <= 0)
        return vlm_error(VLM_STATUS_INVALID_ARG, "resize: bad image or size");
    size_t n;
    if (!vlm_mul_size((size_t)out_w, (size_t)out_h, &n) || !vlm_mul_size(n, (size_t)in->channels, &n))
        return vlm_error(VLM_STATUS_INVALID_ARG, "resize: output %dx%d too large", (int)out_w, (int)out_h);
    uint8_t * data = malloc(n);
    if (!data) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "resize: out of memory for %dx%d", (int)out_w, (int)out_h);
    enum vlm_status st = vlm_image_resample(in->data, in->width, in->height, in->channels, data, out_w, out_h, filter);
    if (st != VLM_STATUS_OK) {
        free(data);
        return st;
    }
    out->width = out_w;
    out->height = out_h;
    out->channels = in->channels;
    out->data = data;
    return VLM_STATUS_OK;
}

// ---- llama.cpp's own kernels (libmtmd img_tool) ------------------------------------------

static inline int32_t clamp_i32(int32_t x, int32_t lo, int32_t hi) { return x < lo ? lo : x > hi ? hi : x; }

// ref: llama.cpp tools/mtmd/mtmd-image.cpp img_tool::lerp
static inline float lerp_f32(float s, float e, float t) { return s + (e - s) * t; }

// ref: llama.cpp tools/mtmd/mtmd-image.cpp img_tool::resize_bilinear
void vlm_mtmd_resize_bilinear(const uint8_t * src, int32_t w, int32_t h, uint8_t * dst, int32_t out_w, int32_t out_h) {
    float x_ratio = out_w > 1 ? (float)(w - 1) / (float)(out_w - 1) : 0.0f;
    float y_ratio = out_h > 1 ? (float)(h - 1) / (float)(out_h - 1) : 0.0f;
    for (int32_t y = 0; y < out_h; y++) {
        for (int32_t x = 0; x < out_w; x++) {
            float px = (float)x * x_ratio;
            float py = (float)y * y_ratio;
            int32_t x0 = (int32_t)px < w - 1 ? (int32_t)px : w - 1;
            int32_t y0 = (int32_t)py < h - 1 ? (int32_t)py : h - 1;
            int32_t x1 = x0 + 1 < w - 1 ? x0 + 1 : w - 1;
            int32_t y1 = y0 + 1 < h - 1 ? y0 + 1 : h - 1;
            float xf = px - (float)x0;
            float yf = py - (float)y0;
            const uint8_t * p00 = src + ((size_t)y0 * w + x0) * 3, * p10 = src + ((size_t)y0 * w + x1) * 3;
            const uint8_t * p01 = src + ((size_t)y1 * w + x0) * 3, * p11 = src + ((size_t)y1 * w + x1) * 3;
            uint8_t * o = dst + ((size_t)y * out_w + x) * 3;
            for (int c = 0; c < 3; c++) {
                float top = lerp_f32((float)p00[c], (float)p10[c], xf);
                float bottom = lerp_f32((float)p01[c], (float)p11[c], xf);
                o[c] = (uint8_t)lerp_f32(top, bottom, yf);   // truncated
            }
        }
    }
}

// ref: llama.cpp tools/mtmd/mtmd-image.cpp img_tool::resize_bicubic (from ViT.cpp). The cubic
// coefficients are computed in double and stored as float, the polynomials in float, as there.
// The column pass of upstream's inner loop is repeated for every row jj but only its last
// evaluation (all four C[] fresh) reaches the pixel: it runs once here.
void vlm_mtmd_resize_bicubic(const uint8_t * src, int32_t nx, int32_t ny, uint8_t * dst, int32_t out_w, int32_t out_h) {
    float tx = (float)nx / (float)out_w;
    float ty = (float)ny / (float)out_h;
    for (int32_t i = 0; i < out_h; i++) {
        for (int32_t j = 0; j < out_w; j++) {
            int32_t x = (int32_t)(tx * (float)j);
            int32_t y = (int32_t)(ty * (float)i);
            float dx = tx * (float)j - (float)x;
            float dy = ty * (float)i - (float)y;
            int32_t xm = clamp_i32(x - 1, 0, nx - 1), x0 = clamp_i32(x, 0, nx - 1);
            int32_t xp = clamp_i32(x + 1, 0, nx - 1), xq = clamp_i32(x + 2, 0, nx - 1);
            uint8_t * o = dst + ((size_t)i * out_w + j) * 3;
            for (int k = 0; k < 3; k++) {
                float C[4];
                for (int jj = 0; jj <= 3; jj++) {
                    const uint8_t * row = src + (size_t)clamp_i32(y - 1 + jj, 0, ny - 1) * nx * 3;
                    float d0 = (float)(row[xm * 3 + k] - row[x0 * 3 + k]);
                    float d2 = (float)(row[xp * 3 + k] - row[x0 * 3 + k]);
                    float d3 = (float)(row[xq * 3 + k] - row[x0 * 3 + k]);
                    float a0 = (float)row[x0 * 3 + k];
                    float a1 = (float)(-1.0 / 3 * d0 + d2 - 1.0 / 6 * d3);
                    float a2 = (float)(1.0 / 2 * d0 + 1.0 / 2 * d2);
                    float a3 = (float)(-1.0 / 6 * d0 - 1.0 / 2 * d2 + 1.0 / 6 * d3);
                    C[jj] = a0 + a1 * dx + a2 * dx * dx + a3 * dx * dx * dx;
                }
                float d0 = C[0] - C[1], d2 = C[2] - C[1], d3 = C[3] - C[1], a0 = C[1];
                float a1 = (float)(-1.0 / 3 * d0 + d2 - 1.0 / 6 * d3);
                float a2 = (float)(1.0 / 2 * d0 + 1.0 / 2 * d2);
                float a3 = (float)(-1.0 / 6 * d0 - 1.0 / 2 * d2 + 1.0 / 6 * d3);
                float cc = a0 + a1 * dy + a2 * dy * dy + a3 * dy * dy * dy;
                o[k] = (uint8_t)fminf(fmaxf(roundf(cc), 0.0f), 255.0f);
            }
        }
    }
}
