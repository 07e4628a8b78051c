// unicode-props.c — Unicode classes, lower-casing, UTF-8 and HTML unescaping as Python does
// them (see unicode-props.h for what is covered). The tables are generated.
#include "unicode-props.h"

#include <string.h>

#include "unicode-props-data.inc"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static bool in_ranges(const uint32_t (*r)[2], size_t n, uint32_t c) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < r[mid][0]) hi = mid;
        else if (c > r[mid][1]) lo = mid + 1;
        else return true;
    }
    return false;
}

bool vlm_unicode_is_letter(uint32_t c) {
    if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
    return in_ranges(vlm_ucd_letter, N_OF(vlm_ucd_letter), c);
}

bool vlm_unicode_is_number(uint32_t c) {
    if (c < 0x80) return c >= '0' && c <= '9';
    return in_ranges(vlm_ucd_number, N_OF(vlm_ucd_number), c);
}

bool vlm_unicode_is_space(uint32_t c) {
    if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
    return in_ranges(vlm_ucd_space, N_OF(vlm_ucd_space), c);
}

bool vlm_unicode_is_pyspace(uint32_t c) {
    if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
    return in_ranges(vlm_ucd_pyspace, N_OF(vlm_ucd_pyspace), c);
}

bool vlm_unicode_llama_is_letter(uint32_t c) {
    if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
    return in_ranges(vlm_ucd_llama_letter, N_OF(vlm_ucd_llama_letter), c);
}

bool vlm_unicode_llama_is_number(uint32_t c) {
    if (c < 0x80) return c >= '0' && c <= '9';
    return in_ranges(vlm_ucd_llama_number, N_OF(vlm_ucd_llama_number), c);
}

// ---- UTF-8 ------------------------------------------------------------------------------

// Decodes one sequence at s[0..n). On success returns its length and sets *cp. On failure
// returns -(length of the maximal subpart), at least -1 (Unicode's "maximal subpart" rule).
static int utf8_next(const uint8_t * s, size_t n, uint32_t * cp) {
    uint8_t b = s[0];
    if (b < 0x80) { *cp = b; return 1; }
    int need;
    uint32_t c;
    uint8_t lo = 0x80, hi = 0xBF;   // range of the second byte
    if (b >= 0xC2 && b <= 0xDF) { need = 1; c = b & 0x1F; }
    else if (b >= 0xE0 && b <= 0xEF) {
        need = 2; c = b & 0x0F;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3; c = b & 0x07;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else {
        return -1;
    }
    for (int k = 1; k <= need; k++) {
        if ((size_t)k >= n) return -k;
        uint8_t t = s[k];
        if (k == 1 ? (t < lo || t > hi) : (t < 0x80 || t > 0xBF)) return -k;
        c = (c << 6) | (t & 0x3F);
    }
    *cp = c;
    return need + 1;
}

size_t vlm_utf8_decode_lenient(const char * s, size_t n, uint32_t * out) {
    const uint8_t * u = (const uint8_t *)s;
    size_t i = 0, m = 0;
    while (i < n) {
        if (u[i] < 0x80) { out[m++] = u[i++]; continue; }
        uint32_t cp;
        int k = utf8_next(u + i, n - i, &cp);
        if (k > 0) { out[m++] = cp; i += (size_t)k; }
        else { out[m++] = VLM_UNICODE_REPLACEMENT; i += 1; }   // one U+FFFD per bad byte
    }
    return m;
}

size_t vlm_utf8_decode_replace(const uint8_t * s, size_t n, uint32_t * out) {
    size_t i = 0, m = 0;
    while (i < n) {
        if (s[i] < 0x80) { out[m++] = s[i++]; continue; }
        uint32_t cp;
        int k = utf8_next(s + i, n - i, &cp);
        if (k > 0) { out[m++] = cp; i += (size_t)k; }
        else { out[m++] = VLM_UNICODE_REPLACEMENT; i += (size_t)(-k); }   // one per maximal subpart
    }
    return m;
}

int vlm_utf8_encode(uint32_t c, char out[4]) {
    if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) c = VLM_UNICODE_REPLACEMENT;
    if (c < 0x80) { out[0] = (char)c; return 1; }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

bool vlm_utf8_valid(const char * s, size_t n) {
    const uint8_t * u = (const uint8_t *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) { i++; continue; }
        uint32_t cp;
        int k = utf8_next(u + i, n - i, &cp);
        if (k < 0) return false;
        i += (size_t)k;
    }
    return true;
}

// One step of the stream over b[0..n): writes the character or U+FFFD at out and returns the
// bytes consumed, or 0 when b is the valid start of a sequence that n bytes do not complete.
static size_t stream_step(const uint8_t * b, size_t n, char * out, size_t * o) {
    uint32_t cp;
    int k = b[0] < 0x80 ? (cp = b[0], 1) : utf8_next(b, n, &cp);
    if (k > 0) {
        memcpy(out + *o, b, (size_t)k);
        *o += (size_t)k;
        return (size_t)k;
    }
    if ((size_t)-k == n && b[0] >= 0xC2 && b[0] <= 0xF4) return 0;   // truncated, not ill-formed
    *o += (size_t)vlm_utf8_encode(VLM_UNICODE_REPLACEMENT, out + *o);
    return (size_t)-k;
}

size_t vlm_utf8_stream_push(struct vlm_utf8_stream * s, const char * bytes, size_t n, char * out) {
    const uint8_t * p = (const uint8_t *)bytes;
    size_t o = 0;
    while (s->n_held > 0) {   // the held bytes followed by the first bytes of p
        uint8_t tmp[8];
        size_t t = s->n_held, take = n < 4 ? n : 4;
        memcpy(tmp, s->held, t);
        if (take) memcpy(tmp + t, p, take);
        size_t k = stream_step(tmp, t + take, out, &o);
        if (k == 0) {   // still incomplete: everything of p is held too (t + take < 4)
            memcpy(s->held, tmp, t + take);
            s->n_held = (uint8_t)(t + take);
            return o;
        }
        if (k < t) {   // an ill-formed part inside the held bytes: keep the rest held
            memmove(s->held, s->held + k, t - k);
            s->n_held = (uint8_t)(t - k);
        } else {
            p += k - t;
            n -= k - t;
            s->n_held = 0;
        }
    }
    size_t i = 0;
    while (i < n) {
        size_t k = stream_step(p + i, n - i, out, &o);
        if (k == 0) {
            memcpy(s->held, p + i, n - i);
            s->n_held = (uint8_t)(n - i);
            break;
        }
        i += k;
    }
    return o;
}

size_t vlm_utf8_stream_finish(struct vlm_utf8_stream * s, char * out) {
    if (s->n_held == 0) return 0;
    s->n_held = 0;   // a truncated sequence is one maximal subpart: one U+FFFD
    return (size_t)vlm_utf8_encode(VLM_UNICODE_REPLACEMENT, out);
}

// ---- lower-casing -------------------------------------------------------------------------

static uint32_t lower_simple(uint32_t c) {
    if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    size_t lo = 0, hi = N_OF(vlm_ucd_lower);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < vlm_ucd_lower[mid].first) hi = mid;
        else if (c > vlm_ucd_lower[mid].last) lo = mid + 1;
        else {
            if ((c - vlm_ucd_lower[mid].first) % vlm_ucd_lower[mid].stride != 0) return c;
            return (uint32_t)((int64_t)c + vlm_ucd_lower[mid].delta);
        }
    }
    return c;
}

static bool case_ignorable(uint32_t c) { return in_ranges(vlm_ucd_case_ignorable, N_OF(vlm_ucd_case_ignorable), c); }
static bool cased(uint32_t c) { return in_ranges(vlm_ucd_cased, N_OF(vlm_ucd_cased), c); }

// ref: CPython Objects/unicodeobject.c handle_capital_sigma — U+03A3 is final when
// \p{cased} \p{case-ignorable}* U+03A3 !(\p{case-ignorable}* \p{cased}).
static uint32_t lower_sigma(const uint32_t * in, size_t n, size_t i) {
    size_t j = i;
    while (j > 0 && case_ignorable(in[j - 1])) j--;
    bool final_sigma = j > 0 && cased(in[j - 1]);
    if (final_sigma) {
        j = i + 1;
        while (j < n && case_ignorable(in[j])) j++;
        final_sigma = j == n || !cased(in[j]);
    }
    return final_sigma ? 0x03C2 : 0x03C3;
}

size_t vlm_unicode_lower(const uint32_t * in, size_t n, uint32_t * out) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = in[i];
        if (c < 0x80) { out[m++] = (c >= 'A' && c <= 'Z') ? c + 32 : c; continue; }
        if (c == 0x03A3) { out[m++] = lower_sigma(in, n, i); continue; }
        bool multi = false;
        for (size_t k = 0; k < N_OF(vlm_ucd_lower_multi); k++) {
            if (vlm_ucd_lower_multi[k][0] == c) {
                out[m++] = vlm_ucd_lower_multi[k][1];
                out[m++] = vlm_ucd_lower_multi[k][2];
                multi = true;
                break;
            }
        }
        if (!multi) out[m++] = lower_simple(c);
    }
    return m;
}

// ---- html.unescape --------------------------------------------------------------------------

// Finds an HTML5 entity name (with or without ';') of len bytes; NULL when absent.
static const uint32_t * entity_find(const char * name, size_t len) {
    size_t lo = 0, hi = N_OF(vlm_html_entities);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char * e = vlm_html_entities[mid].name;
        size_t el = strlen(e);
        int c = memcmp(name, e, len < el ? len : el);
        if (c == 0) c = (len > el) - (len < el);
        if (c < 0) hi = mid;
        else if (c > 0) lo = mid + 1;
        else return vlm_html_entities[mid].cp;
    }
    return NULL;
}

// ref: CPython Lib/html/__init__.py _invalid_charrefs (numeric references to C1 / NUL / CR).
static const uint32_t charref_c1[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

// ref: CPython Lib/html/__init__.py _replace_charref (numeric branch). Returns the number of
// code points written to out (0 or 1).
static size_t numeric_charref(uint32_t num, uint32_t * out) {
    if (num == 0x00) { out[0] = 0xFFFD; return 1; }
    if (num == 0x0D) { out[0] = 0x0D; return 1; }
    if (num >= 0x80 && num <= 0x9F) { out[0] = charref_c1[num - 0x80]; return 1; }
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) { out[0] = 0xFFFD; return 1; }
    // _invalid_codepoints: dropped
    if ((num >= 0x01 && num <= 0x08) || num == 0x0B || (num >= 0x0E && num <= 0x1F) || num == 0x7F ||
        (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE)
        return 0;
    out[0] = num;
    return 1;
}

static bool is_hex(uint32_t c) { return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }
static uint32_t hex_val(uint32_t c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

// ref: CPython Lib/html/__init__.py unescape — the pattern
//   &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)
// replaced left to right; everything that does not match is copied.
size_t vlm_html_unescape(const uint32_t * in, size_t n, uint32_t * out) {
    size_t i = 0, m = 0;
    while (i < n) {
        uint32_t c = in[i];
        if (c != '&' || i + 1 >= n) { out[m++] = c; i++; continue; }
        uint32_t d = in[i + 1];
        if (d == '#') {
            size_t j = i + 2;
            uint32_t num = 0;
            bool hex = false;
            if (j < n && in[j] >= '0' && in[j] <= '9') {
                while (j < n && in[j] >= '0' && in[j] <= '9') {
                    num = num > 0x10FFFF ? 0x110000 : num * 10 + (in[j] - '0');
                    j++;
                }
            } else if (j + 1 < n && (in[j] | 0x20) == 'x' && is_hex(in[j + 1])) {
                hex = true;
                j++;
                while (j < n && is_hex(in[j])) {
                    num = num > 0x10FFFF ? 0x110000 : num * 16 + hex_val(in[j]);
                    j++;
                }
            } else {   // "&#" followed by neither: no reference ('#' cannot start a name)
                out[m++] = c;
                i++;
                continue;
            }
            (void)hex;
            if (num > 0x10FFFF) num = 0x110000;
            if (j < n && in[j] == ';') j++;
            m += numeric_charref(num, out + m);
            i = j;
            continue;
        }
        // named reference: up to 32 characters outside [\t\n\f <&#;], then an optional ';'
        size_t j = i + 1;
        while (j < n && j - (i + 1) < 32) {
            uint32_t e = in[j];
            if (e == '\t' || e == '\n' || e == '\f' || e == ' ' || e == '<' || e == '&' || e == '#' || e == ';') break;
            j++;
        }
        if (j == i + 1) { out[m++] = c; i++; continue; }
        if (j < n && in[j] == ';') j++;
        size_t len = j - (i + 1);   // 1..33, ';' included
        char name[34];
        for (size_t k = 0; k < len; k++) {
            uint32_t e = in[i + 1 + k];
            name[k] = e < 0x80 ? (char)e : (char)0xFF;   // non-ASCII never matches a name
        }
        const uint32_t * v = entity_find(name, len);
        size_t keep = len;   // characters of the name after the entity, copied as they are
        if (!v) {
            // the longest prefix (at least 2 characters) that is an entity, as the standard says
            for (size_t x = len - 1; x >= 2 && !v; x--) {
                v = entity_find(name, x);
                if (v) keep = x;
            }
        }
        if (v) {
            uint32_t rest[33];
            size_t n_rest = len - keep;
            memcpy(rest, in + i + 1 + keep, n_rest * sizeof(uint32_t));   // in may alias out
            out[m++] = v[0];
            if (v[1]) out[m++] = v[1];
            memcpy(out + m, rest, n_rest * sizeof(uint32_t));
            m += n_rest;
        } else {
            // no reference: copy "&" and the name
            memmove(out + m, in + i, (len + 1) * sizeof(uint32_t));
            m += len + 1;
        }
        i = j;
    }
    return m;
}
