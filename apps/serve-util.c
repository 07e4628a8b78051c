// serve-util.c — helpers of `vlm serve`: base64, PNG encoding into memory (libpng with a
// memory write callback), FNV-1a 64 content hashes, a growing byte string.
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "serve.h"

uint64_t vlm_serve_fnv1a64(const void * data, size_t n) {
    const unsigned char * p = data;
    uint64_t h = 0xCBF29CE484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001B3ULL;
    return h;
}

void vlm_serve_buf_add(struct vlm_serve_buf * b, const char * s, size_t k) {
    size_t need, cap;
    if (b->oom) return;
    if (!vlm_add_size(b->n, k, &need) || !vlm_add_size(need, 1, &need)) {
        b->oom = true;
        return;
    }
    if (need > b->cap) {
        char * p = vlm_grow_size(b->cap, need, 256, &cap) ? realloc(b->p, cap) : NULL;
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, k);
    b->n += k;
    b->p[b->n] = 0;
}

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char * vlm_serve_base64_encode(const uint8_t * data, size_t n) {
    size_t len = 4 * ((n + 2) / 3);
    char * out = malloc(len + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < n) v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < n) v |= data[i + 2];
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64_alphabet[v & 63] : '=';
    }
    out[o] = 0;
    return out;
}

static int b64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

uint8_t * vlm_serve_base64_decode(const char * s, size_t * n_out) {
    // an optional "data:...;base64," prefix (what a browser's toDataURL gives)
    const char * comma = strncmp(s, "data:", 5) == 0 ? strchr(s, ',') : NULL;
    if (comma) s = comma + 1;
    size_t len = strlen(s);
    uint8_t * out = malloc(len / 4 * 3 + 3);
    if (!out) return NULL;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '=') break;
        if (c == '\n' || c == '\r' || c == ' ') continue;
        int v = b64_value(c);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    *n_out = o;
    return out;
}

struct membuf {
    uint8_t * p;
    size_t    n, cap;
    int       oom;
};

static void png_mem_write(png_structp png, png_bytep data, png_size_t len) {
    struct membuf * b = png_get_io_ptr(png);
    if (b->oom) return;
    size_t need, cap;
    if (!vlm_add_size(b->n, len, &need)) {
        b->oom = 1;
        return;
    }
    if (need > b->cap) {
        uint8_t * p = vlm_grow_size(b->cap, need, 4096, &cap) ? realloc(b->p, cap) : NULL;
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
}

static void png_mem_flush(png_structp png) { (void)png; }

uint8_t * vlm_serve_png_encode(const uint8_t * pixels, int32_t w, int32_t h, int32_t channels, bool mask01,
                               size_t * n_out) {
    if (w <= 0 || h <= 0 || (channels != 1 && channels != 3 && channels != 4)) return NULL;
    struct membuf buf = { 0 };
    uint8_t * row = malloc((size_t)w * channels);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!row || !info) goto fail;
    if (setjmp(png_jmpbuf(png))) goto fail;
    png_set_write_fn(png, &buf, png_mem_write, png_mem_flush);
    png_set_compression_level(png, 1);   // masks compress well even at the fastest level
    if (mask01) png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_NONE);   // long runs: filters only cost time
    int type = channels == 1 ? PNG_COLOR_TYPE_GRAY : channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_RGBA;
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int32_t y = 0; y < h; y++) {
        const uint8_t * src = pixels + (size_t)y * w * channels;
        if (mask01) {
            for (size_t i = 0; i < (size_t)w * channels; i++) row[i] = src[i] ? 255 : 0;
            png_write_row(png, row);
        } else {
            png_write_row(png, (png_bytep)src);
        }
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(row);
    if (buf.oom) {
        free(buf.p);
        return NULL;
    }
    *n_out = buf.n;
    return buf.p;
fail:
    if (png) png_destroy_write_struct(&png, info ? &info : NULL);
    free(row);
    free(buf.p);
    return NULL;
}

