// serve-util.c — helpers of `vlm serve`: base64 and a growing byte string.
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "serve.h"

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

