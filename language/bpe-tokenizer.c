// bpe-tokenizer.c — the byte-level BPE tokenizer of GGUF text models, as llama.cpp builds it
// from tokenizer.ggml.* metadata (see tokenizer.h for what is covered).
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "gguf-meta.h"
#include "tokenizer.h"
#include "unicode-props.h"

// ref: llama.cpp include/llama.h enum llama_token_attr
#define ATTR_UNKNOWN      (1u << 0)
#define ATTR_UNUSED       (1u << 1)
#define ATTR_NORMAL       (1u << 2)
#define ATTR_CONTROL      (1u << 3)
#define ATTR_USER_DEFINED (1u << 4)
#define ATTR_BYTE         (1u << 5)
#define ATTR_LSTRIP       (1u << 7)
#define ATTR_RSTRIP       (1u << 8)
#define ATTR_SPECIAL      (ATTR_UNKNOWN | ATTR_CONTROL)

#define MAX_TOKENS (1 << 24)
#define MAX_TEXT_BYTES ((size_t)1 << 30)

enum pre_kind { PRE_GPT2, PRE_DIGITS_GPT2, PRE_LLAMA3, PRE_QWEN2 };

struct merge_slot {
    uint64_t key;      // (left id + 1) << 32 | (right id + 1); 0 = empty
    int32_t  rank;
    int32_t  merged;   // id of the joined text, -1 when it is not a token
};

struct vlm_bpe_vocab {
    int32_t    n_vocab;
    char *     text;        // token texts, each NUL-terminated
    size_t *   text_off;    // [n_vocab]
    uint32_t * text_len;    // [n_vocab]
    uint16_t * attr;        // [n_vocab] ATTR_* bits
    char *     piece;       // token_to_piece(special = true) of every token
    size_t *   piece_off;   // [n_vocab + 1]
    int32_t *  slots;       // text -> id, open addressing, -1 empty
    size_t     slot_cap;
    struct merge_slot * merges;
    size_t     merge_cap;
    int32_t *  special;     // CONTROL / USER_DEFINED / UNKNOWN ids, longest text first
    int32_t    n_special;
    int32_t *  eog;         // sorted
    int32_t    n_eog;
    int32_t    bos, eos;
    bool       add_bos, add_eos;
    bool       ignore_merges;   // a pre-token that is a token is taken whole
    enum pre_kind pre;
    char       byte_char[256][4];   // GPT-2 byte character of each byte, UTF-8 (1 or 2 bytes)
    uint8_t    byte_char_len[256];
    int16_t    char_byte[324];      // the byte of code point c < 324, -1 if none
};

static int32_t find_text(const struct vlm_bpe_vocab * v, const char * s, size_t n) {
    size_t mask = v->slot_cap - 1;
    for (size_t i = vlm_hash_bytes(s, n) & mask;; i = (i + 1) & mask) {
        int32_t id = v->slots[i];
        if (id < 0) return -1;
        if (v->text_len[id] == n && memcmp(v->text + v->text_off[id], s, n) == 0) return id;
    }
}

static const struct merge_slot * find_merge(const struct vlm_bpe_vocab * v, int32_t a, int32_t b) {
    if (a < 0 || b < 0) return NULL;
    uint64_t key = ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
    size_t mask = v->merge_cap - 1;
    for (size_t i = vlm_hash_u64(key) & mask;; i = (i + 1) & mask) {
        if (v->merges[i].key == 0) return NULL;
        if (v->merges[i].key == key) return &v->merges[i];
    }
}

void vlm_bpe_vocab_free(struct vlm_bpe_vocab * v) {
    if (!v) return;
    free(v->text); free(v->text_off); free(v->text_len); free(v->attr);
    free(v->piece); free(v->piece_off); free(v->slots); free(v->merges);
    free(v->special); free(v->eog);
    free(v);
}

int32_t vlm_bpe_n_vocab(const struct vlm_bpe_vocab * v) { return v ? v->n_vocab : 0; }
int32_t vlm_bpe_bos(const struct vlm_bpe_vocab * v) { return v ? v->bos : -1; }
int32_t vlm_bpe_eos(const struct vlm_bpe_vocab * v) { return v ? v->eos : -1; }

int32_t vlm_bpe_token_id(const struct vlm_bpe_vocab * v, const char * text) {
    return v && text ? find_text(v, text, strlen(text)) : -1;
}

bool vlm_bpe_is_eog(const struct vlm_bpe_vocab * v, int32_t id) {
    if (!v || id < 0 || id >= v->n_vocab) return false;
    int32_t lo = 0, hi = v->n_eog;
    while (lo < hi) {
        int32_t mid = (lo + hi) / 2;
        if (v->eog[mid] < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < v->n_eog && v->eog[lo] == id;
}

int32_t vlm_bpe_eog_ids(const struct vlm_bpe_vocab * v, const int32_t ** ids) {
    *ids = v ? v->eog : NULL;
    return v ? v->n_eog : 0;
}

const char * vlm_bpe_token_piece(const struct vlm_bpe_vocab * v, int32_t id, bool render_special, size_t * len) {
    *len = 0;
    if (!v || id < 0 || id >= v->n_vocab) return NULL;
    // ref: llama.cpp src/llama-vocab.cpp llama_vocab::impl::token_to_piece
    if (!render_special && (v->attr[id] & ATTR_SPECIAL)) return v->piece + v->piece_off[id];
    *len = v->piece_off[id + 1] - v->piece_off[id];
    return v->piece + v->piece_off[id];
}

// ---- UTF-8 as llama.cpp reads it ------------------------------------------------------------

// ref: llama.cpp src/unicode.cpp unicode_cpt_from_utf8 and unicode_cpts_from_utf8 — lead bits
// decide the length, only continuation bits are checked; a failure is one U+FFFD per byte.
static size_t cpts_from_utf8(const char * s, size_t n, uint32_t * out) {
    const uint8_t * u = (const uint8_t *)s;
    size_t i = 0, m = 0;
    while (i < n) {
        uint8_t b = u[i];
        size_t k = b < 0x80 ? 1 : (b & 0x40) == 0 ? 0 : (b & 0x20) == 0 ? 2 : (b & 0x10) == 0 ? 3 : (b & 0x08) == 0 ? 4 : 0;
        bool ok = k > 0 && i + k <= n;
        for (size_t j = 1; ok && j < k; j++) ok = (u[i + j] & 0xC0) == 0x80;
        if (!ok) { out[m++] = VLM_UNICODE_REPLACEMENT; i++; continue; }
        uint32_t c = k == 1 ? b : k == 2 ? (b & 0x1Fu) : k == 3 ? (b & 0x0Fu) : (b & 0x07u);
        for (size_t j = 1; j < k; j++) c = (c << 6) | (u[i + j] & 0x3Fu);
        out[m++] = c;
        i += k;
    }
    return m;
}

// ---- pre-tokenizers -------------------------------------------------------------------------

// Word boundaries as lengths in code points; a growable list.
struct spans {
    size_t * len;
    size_t   n, cap;
};

static bool spans_push(struct spans * s, size_t len) {
    if (s->n == s->cap) {
        size_t cap;
        if (!vlm_grow_size(s->cap, s->n + 1, 64, &cap)) return false;
        size_t * p = realloc(s->len, cap * sizeof *p);
        if (!p) return false;
        s->len = p;
        s->cap = cap;
    }
    s->len[s->n++] = len;
    return true;
}

struct cpt_class { bool in_range, letter, number, space; };

static struct cpt_class classify(const uint32_t * cpts, size_t pos, size_t end) {
    struct cpt_class f = { false, false, false, false };
    if (pos >= end) return f;
    uint32_t c = cpts[pos];
    f.in_range = true;
    f.letter = vlm_unicode_llama_is_letter(c);
    f.number = vlm_unicode_llama_is_number(c);
    f.space = vlm_unicode_is_space(c);
    return f;
}

// ref: llama.cpp src/unicode.cpp unicode_regex_split (the "\\p{N}" regex run through
// std::regex on the collapsed text): every \p{N} code point is a word, and so is each run of
// other code points between them.
static bool split_digits(const uint32_t * cpts, const struct spans * in, struct spans * out) {
    size_t start = 0;
    for (size_t w = 0; w < in->n; w++) {
        size_t end = start + in->len[w], run = start;
        for (size_t p = start; p < end; p++) {
            uint32_t c = cpts[p];
            bool digit = c < 0x80 ? (c >= '0' && c <= '9') : (!vlm_unicode_is_space(c) && vlm_unicode_llama_is_number(c));
            if (!digit) continue;
            if (p > run && !spans_push(out, p - run)) return false;
            if (!spans_push(out, 1)) return false;
            run = p + 1;
        }
        if (end > run && !spans_push(out, end - run)) return false;
        start = end;
    }
    return true;
}

// ref: llama.cpp src/unicode.cpp unicode_regex_split_custom_gpt2 and _llama3 (their first
// alternatives) — 's|'t|'re|'ve|'m|'ll|'d at pos, case-insensitive for llama3 (whose
// unicode_tolower is ASCII's here: no other code point lower-cases to d, e, l, m, r, s, t, v):
// the length of the match, 0 if none.
static size_t match_contraction(const uint32_t * cpts, size_t pos, size_t end, bool ignore_case) {
    if (cpts[pos] != '\'' || pos + 1 >= end) return 0;
    uint32_t a = cpts[pos + 1], b = pos + 2 < end ? cpts[pos + 2] : 0;
    if (ignore_case) {
        a = a >= 'A' && a <= 'Z' ? a + 32 : a;
        b = b >= 'A' && b <= 'Z' ? b + 32 : b;
    }
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (pos + 2 < end && ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))) return 3;
    return 0;
}

// ref: llama.cpp src/unicode.cpp unicode_regex_split_custom_gpt2 and _llama3 (their last
// alternatives) — \s+(?!\S)|\s+, else one code point: the end of the match at pos.
static size_t match_spaces(const uint32_t * cpts, size_t pos, size_t end) {
    size_t n = 0;
    while (classify(cpts, pos + n, end).space) n++;
    if (n > 1 && pos + n < end) return pos + n - 1;   // \s+(?!\S)
    return pos + (n > 0 ? n : 1);
}

// ref: llama.cpp src/unicode.cpp unicode_regex_split_custom_gpt2 — the end of the match at pos of
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
static size_t match_gpt2(const uint32_t * cpts, size_t pos, size_t end) {
    size_t n = match_contraction(cpts, pos, end, false);
    if (n > 0) return pos + n;
    const bool space = cpts[pos] == ' ';
    const struct cpt_class f = classify(cpts, pos + space, end);
    size_t p = pos + space;
    if (f.letter) {
        while (classify(cpts, p, end).letter) p++;
        return p;
    }
    if (f.number) {
        while (classify(cpts, p, end).number) p++;
        return p;
    }
    if (f.in_range && !(f.space || f.letter || f.number)) {
        for (struct cpt_class g = f; g.in_range && !(g.space || g.letter || g.number); g = classify(cpts, ++p, end)) {}
        return p;
    }
    return match_spaces(cpts, pos, end);
}

// ref: llama.cpp src/unicode.cpp unicode_regex_split_custom_llama3 (max_digits 3) and
// unicode_regex_split_custom_qwen2 (max_digits 1, the same otherwise) — the end of the match at pos of
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
static size_t match_llama3(const uint32_t * cpts, size_t pos, size_t end, size_t max_digits) {
    size_t n = match_contraction(cpts, pos, end, true);
    if (n > 0) return pos + n;
    const uint32_t cpt = cpts[pos];
    const struct cpt_class flags = classify(cpts, pos, end);
    size_t p = pos;
    if (!(cpt == '\r' || cpt == '\n' || flags.number) && (flags.letter || classify(cpts, pos + 1, end).letter)) {
        for (p = pos + 1; classify(cpts, p, end).letter; p++) {}
        return p;
    }
    if (flags.number) {   // in groups of max_digits
        while (p - pos < max_digits && classify(cpts, p, end).number) p++;
        return p;
    }
    const struct cpt_class f2 = cpt == ' ' ? classify(cpts, pos + 1, end) : flags;
    if (!(f2.space || f2.letter || f2.number) && flags.in_range) {
        p += cpt == ' ';
        for (struct cpt_class g = f2; g.in_range && !(g.space || g.letter || g.number); g = classify(cpts, ++p, end)) {}
        while (p < end && (cpts[p] == '\r' || cpts[p] == '\n')) p++;
        return p;
    }
    size_t last_rn_end = 0;   // \s*[\r\n]+
    for (p = pos; classify(cpts, p, end).space; p++)
        if (cpts[p] == '\r' || cpts[p] == '\n') last_rn_end = p + 1;
    return last_rn_end > 0 ? last_rn_end : match_spaces(cpts, pos, end);
}

// Splits each word of in at the matches of the pre-tokenizer's pattern.
static bool split_words(const uint32_t * cpts, const struct spans * in, struct spans * out, enum pre_kind kind) {
    size_t start = 0;
    for (size_t w = 0; w < in->n; w++) {
        const size_t end = start + in->len[w];
        for (size_t pos = start; pos < end;) {
            size_t e = kind == PRE_LLAMA3 ? match_llama3(cpts, pos, end, 3)
                     : kind == PRE_QWEN2  ? match_llama3(cpts, pos, end, 1)
                     : match_gpt2(cpts, pos, end);
            if (!spans_push(out, e - pos)) return false;
            pos = e;
        }
        start = end;
    }
    return true;
}

// ---- BPE ------------------------------------------------------------------------------------

struct symbol {
    int32_t prev, next;
    size_t  start, n;   // bytes of the byte-encoded word
    int32_t id;         // token of those bytes, -1 if none
};

struct bigram {
    int32_t rank, left, right;
    size_t  left_n, right_n;   // sizes when queued: a changed symbol makes the entry stale
    int32_t merged;
};

// Min-heap on (rank, left), the order of llama.cpp's llm_bigram_bpe::comparator.
static bool bigram_before(const struct bigram * a, const struct bigram * b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

struct work {   // per-call buffers
    uint32_t *      cpts;
    struct spans    a, b;
    char *          word;
    size_t          word_cap;
    struct symbol * sym;
    size_t          sym_cap;
    struct bigram * heap;
    size_t          heap_n, heap_cap;
    int32_t *       ids;
    size_t          n_ids, ids_cap;
};

static bool grow(void ** arr, size_t * cap, size_t need, size_t elem) { return vlm_grow_array(arr, cap, need, elem, 64); }

static bool emit(struct work * w, int32_t id) {
    if (!grow((void **)&w->ids, &w->ids_cap, w->n_ids + 1, sizeof *w->ids)) return false;
    w->ids[w->n_ids++] = id;
    return true;
}

static bool heap_push(struct work * w, struct bigram b) {
    if (!grow((void **)&w->heap, &w->heap_cap, w->heap_n + 1, sizeof *w->heap)) return false;
    size_t i = w->heap_n++;
    while (i > 0 && bigram_before(&b, &w->heap[(i - 1) / 2])) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = b;
    return true;
}

static struct bigram heap_pop(struct work * w) {
    struct bigram top = w->heap[0], last = w->heap[--w->heap_n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= w->heap_n) break;
        if (c + 1 < w->heap_n && bigram_before(&w->heap[c + 1], &w->heap[c])) c++;
        if (!bigram_before(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (w->heap_n > 0) w->heap[i] = last;
    return top;
}

// ref: llama.cpp src/llama-vocab.cpp llm_tokenizer_bpe_session::add_new_bigram
static bool add_bigram(const struct vlm_bpe_vocab * v, struct work * w, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return true;
    const struct merge_slot * m = find_merge(v, w->sym[left].id, w->sym[right].id);
    if (!m) return true;
    struct bigram b = { m->rank, left, right, w->sym[left].n, w->sym[right].n, m->merged };
    return heap_push(w, b);
}

// ref: llama.cpp src/llama-vocab.cpp llm_tokenizer_bpe_session::tokenize — one word (its
// byte-encoded text in w->word[0..n)) merged by rank, then looked up.
static bool bpe_word(const struct vlm_bpe_vocab * v, struct work * w, size_t n) {
    int32_t whole = v->ignore_merges ? find_text(v, w->word, n) : -1;
    if (whole >= 0) return emit(w, whole);
    int32_t n_sym = 0;
    for (size_t off = 0; off < n;) {
        size_t k = (uint8_t)w->word[off] < 0x80 ? 1 : 2;   // byte characters are U+0000..U+0143
        if (!grow((void **)&w->sym, &w->sym_cap, (size_t)n_sym + 1, sizeof *w->sym)) return false;
        struct symbol * s = &w->sym[n_sym];
        s->start = off;
        s->n = k;
        s->id = find_text(v, w->word + off, k);
        s->prev = n_sym - 1;
        off += k;
        s->next = off == n ? -1 : n_sym + 1;
        n_sym++;
    }
    w->heap_n = 0;
    for (int32_t i = 1; i < n_sym; i++)
        if (!add_bigram(v, w, i - 1, i)) return false;
    while (w->heap_n > 0) {
        struct bigram b = heap_pop(w);
        struct symbol * l = &w->sym[b.left], * r = &w->sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n != b.left_n || r->n != b.right_n) continue;   // outdated
        l->n += r->n;
        l->id = b.merged;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) w->sym[r->next].prev = b.left;
        if (!add_bigram(v, w, l->prev, b.left) || !add_bigram(v, w, b.left, l->next)) return false;
    }
    for (int32_t i = 0; i != -1; i = w->sym[i].next) {
        const struct symbol * s = &w->sym[i];
        if (s->id >= 0) {
            if (!emit(w, s->id)) return false;
            continue;
        }
        for (size_t j = 0; j < s->n; j++) {   // not a token: each byte of the text alone
            int32_t id = find_text(v, w->word + s->start + j, 1);
            if (id >= 0 && !emit(w, id)) return false;
        }
    }
    return true;
}

// Pre-tokenizes, byte-encodes and merges one raw fragment.
static bool tokenize_fragment(const struct vlm_bpe_vocab * v, struct work * w, const char * text, size_t len) {
    size_t n_cpts = cpts_from_utf8(text, len, w->cpts);
    w->a.n = w->b.n = 0;
    if (!spans_push(&w->a, n_cpts)) return false;
    if (v->pre == PRE_DIGITS_GPT2) {   // \p{N} first
        if (!split_digits(w->cpts, &w->a, &w->b)) return false;
        struct spans t = w->a;
        w->a = w->b;
        w->b = t;
        w->b.n = 0;
    }
    if (!split_words(w->cpts, &w->a, &w->b, v->pre)) return false;
    size_t start = 0;
    for (size_t i = 0; i < w->b.n; i++) {
        size_t n = 0;
        // ref: llama.cpp src/unicode.cpp unicode_byte_encoding_process
        for (size_t p = start; p < start + w->b.len[i]; p++) {
            char u[4];
            int k = vlm_utf8_encode(w->cpts[p], u);
            if (!grow((void **)&w->word, &w->word_cap, n + 2 * (size_t)k, 1)) return false;
            for (int j = 0; j < k; j++) {
                uint8_t b = (uint8_t)u[j];
                memcpy(w->word + n, v->byte_char[b], v->byte_char_len[b]);
                n += v->byte_char_len[b];
            }
        }
        start += w->b.len[i];
        if (n > 0 && !bpe_word(v, w, n)) return false;
    }
    return true;
}

// ---- special tokens -------------------------------------------------------------------------

struct fragment {
    int32_t id;          // >= 0: a special token; -1: raw text
    size_t  off, len;
};

struct fragments {
    struct fragment * f;
    size_t n, cap;
};

static bool frag_push(struct fragments * fs, int32_t id, size_t off, size_t len) {
    if (!grow((void **)&fs->f, &fs->cap, fs->n + 1, sizeof *fs->f)) return false;
    fs->f[fs->n++] = (struct fragment){ id, off, len };
    return true;
}

static const char * find_bytes(const char * h, size_t hn, const char * s, size_t sn) {
    if (sn == 0 || sn > hn) return NULL;
    for (const char * p = h; (p = memchr(p, s[0], (size_t)(h + hn - p) + 1 - sn)) != NULL; p++)
        if (memcmp(p, s, sn) == 0) return p;
    return NULL;
}

// ref: llama.cpp src/llama-vocab.cpp llama_vocab::impl::tokenizer_st_partition
static bool partition(const struct vlm_bpe_vocab * v, const char * text, size_t len, bool parse_special,
                      struct fragments * cur, struct fragments * next) {
    cur->n = 0;
    if (len > 0 && !frag_push(cur, -1, 0, len)) return false;
    for (int32_t s = 0; s < v->n_special; s++) {
        int32_t id = v->special[s];
        uint16_t attr = v->attr[id];
        if (!parse_special && (attr & ATTR_SPECIAL)) continue;
        const char * st = v->text + v->text_off[id];
        size_t sn = v->text_len[id];
        next->n = 0;
        for (size_t i = 0; i < cur->n; i++) {
            struct fragment f = cur->f[i];
            if (f.id >= 0) {
                if (!frag_push(next, f.id, 0, 0)) return false;
                continue;
            }
            size_t off = f.off, n = f.len;
            for (;;) {
                const char * m = find_bytes(text + off, n, st, sn);
                if (!m) {
                    if (n > 0 && !frag_push(next, -1, off, n)) return false;
                    break;
                }
                size_t at = (size_t)(m - text), left = at - off;
                if (attr & ATTR_LSTRIP)
                    while (left > 0 && isspace((unsigned char)text[off + left - 1])) left--;
                if (left > 0 && !frag_push(next, -1, off, left)) return false;
                if (!frag_push(next, id, 0, 0)) return false;
                size_t r_off = at + sn, r_len = off + n - r_off;
                if (attr & ATTR_RSTRIP)
                    while (r_len > 0 && isspace((unsigned char)text[r_off])) r_off++, r_len--;
                off = r_off;
                n = r_len;
                if (n == 0) break;
            }
        }
        struct fragments t = *cur;
        *cur = *next;
        *next = t;
    }
    return true;
}

enum vlm_status vlm_bpe_tokenize(const struct vlm_bpe_vocab * v, const char * text, size_t len, bool add_special,
                                 bool parse_special, int32_t ** ids, int32_t * n_ids) {
    *ids = NULL;
    *n_ids = 0;
    if (!v || (!text && len)) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_bpe_tokenize: no vocab or text");
    if (len > MAX_TEXT_BYTES) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_bpe_tokenize: text of %zu bytes is too long", len);
    if (!vlm_utf8_valid(text, len)) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_bpe_tokenize: text is not valid UTF-8");
    struct work w = { 0 };
    struct fragments fa = { 0 }, fb = { 0 };
    enum vlm_status st = VLM_STATUS_OUT_OF_MEMORY;
    w.cpts = malloc((len ? len : 1) * sizeof *w.cpts);
    if (!w.cpts || !partition(v, text, len, parse_special, &fa, &fb)) goto fail;
    // ref: llama.cpp src/llama-vocab.cpp llama_vocab::impl::tokenize (LLAMA_VOCAB_TYPE_BPE)
    if (add_special && v->add_bos && !emit(&w, v->bos)) goto fail;
    for (size_t i = 0; i < fa.n; i++) {
        bool ok = fa.f[i].id >= 0 ? emit(&w, fa.f[i].id) : tokenize_fragment(v, &w, text + fa.f[i].off, fa.f[i].len);
        if (!ok) goto fail;
    }
    if (add_special && v->add_eos && !emit(&w, v->eos)) goto fail;
    if (w.n_ids > INT32_MAX) { st = vlm_error(VLM_STATUS_INVALID_ARG, "vlm_bpe_tokenize: too many tokens"); goto fail; }
    *ids = w.ids;
    *n_ids = (int32_t)w.n_ids;
    w.ids = NULL;
    st = VLM_STATUS_OK;
fail:
    if (st == VLM_STATUS_OUT_OF_MEMORY) vlm_error(st, "vlm_bpe_tokenize: out of memory");
    free(w.cpts); free(w.a.len); free(w.b.len); free(w.word); free(w.sym); free(w.heap); free(w.ids);
    free(fa.f); free(fb.f);
    return st;
}

// ---- loading --------------------------------------------------------------------------------

// The pre-tokenizer names supported, with their regex lists.
// ref: llama.cpp src/llama-vocab.cpp llama_vocab::impl::load (tokenizer_pre -> pre_type) and
// llm_tokenizer_bpe::llm_tokenizer_bpe (pre_type -> regex_exprs)
#define LLAMA3_FLAGS 1   // ignore_merges and add_bos
#define NO_BOS       2   // no default bos id
static const struct { const char * name; enum pre_kind kind; int flags; } k_pre[] = {
    { "starcoder", PRE_DIGITS_GPT2, 0 }, { "refact", PRE_DIGITS_GPT2, 0 }, { "command-r", PRE_DIGITS_GPT2, 0 },
    { "smollm", PRE_DIGITS_GPT2, 0 }, { "codeshell", PRE_DIGITS_GPT2, 0 }, { "exaone", PRE_DIGITS_GPT2, 0 },
    { "minerva-7b", PRE_DIGITS_GPT2, 0 }, { "mellum2", PRE_DIGITS_GPT2, 0 },
    { "gpt-2", PRE_GPT2, 0 }, { "phi-2", PRE_GPT2, 0 }, { "jina-es", PRE_GPT2, 0 }, { "jina-de", PRE_GPT2, 0 },
    { "gigachat", PRE_GPT2, 0 }, { "jina-v2-es", PRE_GPT2, 0 }, { "jina-v2-de", PRE_GPT2, 0 }, { "a.x-4.0", PRE_GPT2, 0 },
    { "mellum", PRE_GPT2, 0 }, { "modern-bert", PRE_GPT2, 0 }, { "mpt", PRE_GPT2, 0 }, { "olmo", PRE_GPT2, 0 },
    { "jais", PRE_GPT2, 0 }, { "trillion", PRE_GPT2, 0 }, { "granite-docling", PRE_GPT2, 0 }, { "exaone4", PRE_GPT2, 0 },
    { "jina-v1-en", PRE_GPT2, 0 }, { "jina-v2-code", PRE_GPT2, 0 }, { "roberta-bpe", PRE_GPT2, 0 },
    { "llama3", PRE_LLAMA3, LLAMA3_FLAGS }, { "llama-v3", PRE_LLAMA3, LLAMA3_FLAGS }, { "llama-bpe", PRE_LLAMA3, LLAMA3_FLAGS },
    { "falcon3", PRE_LLAMA3, LLAMA3_FLAGS }, { "falcon-h1", PRE_LLAMA3, LLAMA3_FLAGS }, { "pixtral", PRE_LLAMA3, LLAMA3_FLAGS },
    { "midm-2.0", PRE_LLAMA3, LLAMA3_FLAGS }, { "lfm2", PRE_LLAMA3, LLAMA3_FLAGS }, { "jina-v5-nano", PRE_LLAMA3, LLAMA3_FLAGS },
    { "dbrx", PRE_LLAMA3, 0 }, { "smaug-bpe", PRE_LLAMA3, 0 }, { "glm4", PRE_LLAMA3, NO_BOS }, { "chatglm-bpe", PRE_LLAMA3, NO_BOS },
    { "qwen2", PRE_QWEN2, 0 }, { "deepseek-r1-qwen", PRE_QWEN2, 0 }, { "kormo", PRE_QWEN2, 0 }, { "f2llmv2", PRE_QWEN2, 0 },
    { "megrez", PRE_QWEN2, 0 }, { "stablelm2", PRE_QWEN2, 0 }, { "hunyuan", PRE_QWEN2, 0 }, { "solar-open", PRE_QWEN2, 0 },
};

// ref: llama.cpp src/llama-vocab.cpp llama_vocab::impl::load — texts of the auto-detected
// special tokens and of the end-of-generation tokens.
static const char * const k_eot[] = { "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
    "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>",
    "<end_of_utterance>", NULL };
static const char * const k_eom[] = { "<|eom_id|>", NULL };
static const char * const k_fim_pre[] = { "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>",
    "<PRE>", "\xe2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>", NULL };
static const char * const k_fim_suf[] = { "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "hole\xef\xbd\x9c>",
    "<SUF>", "\xe2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>", NULL };
static const char * const k_fim_mid[] = { "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>",
    "<MID>", "\xe2\x96\x81<MID>", "<|code_middle|>", "<|middle|>", NULL };
static const char * const k_fim_pad[] = { "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL };
static const char * const k_fim_rep[] = { "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL };
static const char * const k_fim_sep[] = { "<|file_sep|>", NULL };
static const char * const k_eog[] = { "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>",
    "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>", "[e~[", NULL };
static const char * const k_user_defined[] = { "<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", NULL };

static bool text_in(const struct vlm_bpe_vocab * v, int32_t id, const char * const * list) {
    const char * t = v->text + v->text_off[id];
    for (; *list; list++)
        if (strlen(*list) == v->text_len[id] && memcmp(*list, t, v->text_len[id]) == 0) return true;
    return false;
}

static bool text_is(const struct vlm_bpe_vocab * v, int32_t id, const char * s) {
    return id >= 0 && strlen(s) == v->text_len[id] && memcmp(s, v->text + v->text_off[id], v->text_len[id]) == 0;
}

// The first token (lowest id) whose text is in list, marked CONTROL; -1 if none.
static int32_t detect(struct vlm_bpe_vocab * v, const char * const * list) {
    for (int32_t id = 0; id < v->n_vocab; id++) {
        if (text_in(v, id, list)) {
            v->attr[id] |= ATTR_CONTROL;
            return id;
        }
    }
    return -1;
}

static int cmp_i32(const void * a, const void * b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

struct special_key { uint32_t len; int32_t id; };

static int cmp_special(const void * a, const void * b) {   // longer text first, then lower id
    const struct special_key * x = a, * y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static void eog_add(struct vlm_bpe_vocab * v, int32_t id) {   // v->eog has room for every id
    if (id < 0) return;
    for (int32_t i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) return;
    v->eog[v->n_eog++] = id;
}

static void eog_remove(struct vlm_bpe_vocab * v, int32_t id) {
    for (int32_t i = 0; i < v->n_eog; i++) {
        if (v->eog[i] == id) {
            v->eog[i] = v->eog[--v->n_eog];
            return;
        }
    }
}

struct bytes {
    char * d;
    size_t n, cap;
};

static bool bytes_add(struct bytes * b, const void * p, size_t n) {
    size_t need;
    if (!vlm_add_size(b->n, n, &need) || need > MAX_TEXT_BYTES) return false;
    if (!grow((void **)&b->d, &b->cap, need, 1)) return false;
    memcpy(b->d + b->n, p, n);
    b->n = need;
    return true;
}

// ref: llama.cpp src/llama-vocab.cpp llama_decode_text — the byte-character text of a NORMAL
// token back to bytes. cpts needs room for the text's length.
static bool decode_text(const struct vlm_bpe_vocab * v, int32_t id, uint32_t * cpts, struct bytes * out) {
    const char * t = v->text + v->text_off[id];
    size_t len = v->text_len[id], n = cpts_from_utf8(t, len, cpts);
    for (size_t i = 0; i < n; i++) {
        if (cpts[i] < 324 && v->char_byte[cpts[i]] >= 0) {
            char b = (char)v->char_byte[cpts[i]];
            if (!bytes_add(out, &b, 1)) return false;
            continue;
        }
        char u[4], hex[24] = "[UNK_BYTE_0x";
        int k = vlm_utf8_encode(cpts[i], u);
        for (int j = 0; j < k; j++) sprintf(hex + 12 + 2 * j, "%02x", (uint8_t)u[j]);
        if (!bytes_add(out, hex, strlen(hex)) || !bytes_add(out, t, len) || !bytes_add(out, "]", 1)) return false;
    }
    return true;
}

#define FAIL(status, ...) do { st = vlm_error(status, __VA_ARGS__); goto fail; } while (0)

// The string array under key: its length; false when absent or of another type.
static bool str_array(const struct vlm_gguf * g, const char * key, uint64_t * n) {
    enum vlm_gguf_type t;
    return vlm_gguf_get_array(g, key, &t, n, NULL) && t == VLM_GGUF_TYPE_STRING;
}

// ref: llama.cpp src/llama-vocab.cpp llama_vocab::impl::load (the gpt2 model)
enum vlm_status vlm_bpe_vocab_load(const struct vlm_gguf * g, struct vlm_bpe_vocab ** out) {
    static const char * const id_keys[] = {
        "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id",
        "tokenizer.ggml.eom_token_id", "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.seperator_token_id",
        "tokenizer.ggml.padding_token_id", "tokenizer.ggml.mask_token_id", "tokenizer.ggml.fim_pre_token_id",
        "tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.fim_pad_token_id",
        "tokenizer.ggml.fim_rep_token_id", "tokenizer.ggml.fim_sep_token_id",
        "tokenizer.ggml.prefix_token_id", "tokenizer.ggml.suffix_token_id", "tokenizer.ggml.middle_token_id",
    };
    enum { BOS, EOS, EOT, EOM, UNK, SEP, PAD, MASK, FIM_PRE, FIM_SUF, FIM_MID, FIM_PAD, FIM_REP, FIM_SEP, N_IDS };
    static const int deprecated_to[3] = { FIM_PRE, FIM_SUF, FIM_MID };
    enum vlm_status st = VLM_STATUS_OUT_OF_MEMORY;
    struct vlm_bpe_vocab * v = NULL;
    uint32_t * cpts = NULL;
    char * buf = NULL;
    struct special_key * keys = NULL;
    *out = NULL;
    if (!g) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_bpe_vocab_load: no file");

    const char * model = NULL, * pre = NULL;
    if (!vlm_gguf_get_str(g, "tokenizer.ggml.model", &model)) return vlm_error(VLM_STATUS_BAD_MODEL, "tokenizer.ggml.model is missing");
    if (strcmp(model, "gpt2") != 0) return vlm_error(VLM_STATUS_UNSUPPORTED, "unsupported tokenizer model '%.64s'", model);
    if (!vlm_gguf_get_str(g, "tokenizer.ggml.pre", &pre)) pre = "default";   // llama.cpp's fallback
    int kind = -1, pre_flags = 0;
    for (size_t i = 0; i < sizeof k_pre / sizeof k_pre[0]; i++)
        if (strcmp(pre, k_pre[i].name) == 0) kind = (int)k_pre[i].kind, pre_flags = k_pre[i].flags;
    if (kind < 0) return vlm_error(VLM_STATUS_UNSUPPORTED, "unsupported pre-tokenizer '%.64s'", pre);

    uint64_t n_tok = 0, n_merges = 0;
    if (!str_array(g, "tokenizer.ggml.tokens", &n_tok)) return vlm_error(VLM_STATUS_BAD_MODEL, "tokenizer.ggml.tokens is missing or not a string array");
    if (n_tok == 0 || n_tok > MAX_TOKENS) return vlm_error(VLM_STATUS_BAD_MODEL, "tokenizer.ggml.tokens: %llu tokens", (unsigned long long)n_tok);
    if (!str_array(g, "tokenizer.ggml.merges", &n_merges)) return vlm_error(VLM_STATUS_BAD_MODEL, "tokenizer.ggml.merges is missing or not a string array");
    if (n_merges > INT32_MAX) return vlm_error(VLM_STATUS_BAD_MODEL, "tokenizer.ggml.merges: too many merges");
    const int32_t * types = NULL;
    {
        enum vlm_gguf_type t;
        uint64_t n_types;
        const void * data;
        if (vlm_gguf_get_array(g, "tokenizer.ggml.token_type", &t, &n_types, &data)) {
            if (t != VLM_GGUF_TYPE_INT32) return vlm_error(VLM_STATUS_BAD_MODEL, "tokenizer.ggml.token_type is not an int32 array");
            if (n_types < n_tok) return vlm_error(VLM_STATUS_BAD_MODEL, "tokenizer.ggml.token_type: %llu types for %llu tokens",
                                                  (unsigned long long)n_types, (unsigned long long)n_tok);
            types = data;
        }
    }

    v = calloc(1, sizeof *v);
    if (!v) goto fail;
    int32_t n = (int32_t)n_tok;
    v->n_vocab = n;
    v->pre = (enum pre_kind)kind;
    v->ignore_merges = v->add_bos = (pre_flags & LLAMA3_FLAGS) != 0;
    v->text_off = malloc(sizeof *v->text_off * (size_t)n);
    v->text_len = malloc(sizeof *v->text_len * (size_t)n);
    v->attr = calloc((size_t)n, sizeof *v->attr);
    v->piece_off = malloc(sizeof *v->piece_off * ((size_t)n + 1));
    v->eog = malloc(sizeof *v->eog * (size_t)n);
    v->slot_cap = vlm_pow2_at_least((size_t)n * 2);
    v->slots = malloc(sizeof *v->slots * v->slot_cap);
    if (!v->text_off || !v->text_len || !v->attr || !v->piece_off || !v->eog || !v->slots) goto fail;
    memset(v->slots, 0xFF, sizeof *v->slots * v->slot_cap);

    // token texts (an empty one becomes "[EMPTY_<id>]", as llama.cpp does)
    size_t total = 0, max_len = 0;
    for (int32_t i = 0; i < n; i++) {
        const char * s;
        size_t len;
        vlm_gguf_get_array_str(g, "tokenizer.ggml.tokens", (uint64_t)i, &s, &len);
        if (len > UINT32_MAX / 2) FAIL(VLM_STATUS_BAD_MODEL, "token %d: text of %zu bytes", i, len);
        if (len == 0) len = 24;
        if (len > max_len) max_len = len;
        if (!vlm_add_size(total, len + 1, &total)) FAIL(VLM_STATUS_BAD_MODEL, "tokenizer.ggml.tokens: too large");
    }
    v->text = malloc(total);
    if (!v->text) goto fail;
    total = 0;
    for (int32_t i = 0; i < n; i++) {
        const char * s;
        size_t len;
        vlm_gguf_get_array_str(g, "tokenizer.ggml.tokens", (uint64_t)i, &s, &len);
        char * d = v->text + total;
        if (len == 0) len = (size_t)sprintf(d, "[EMPTY_%d]", i);
        else memcpy(d, s, len);
        d[len] = '\0';
        v->text_off[i] = total;
        v->text_len[i] = (uint32_t)len;
        total += len + 1;
        if (find_text(v, d, len) >= 0) FAIL(VLM_STATUS_BAD_MODEL, "token %d: duplicate text '%.40s'", i, d);
        size_t mask = v->slot_cap - 1, h = vlm_hash_bytes(d, len) & mask;
        while (v->slots[h] >= 0) h = (h + 1) & mask;
        v->slots[h] = i;
        // ref: llama.cpp src/llama-vocab.cpp llama_vocab::impl::load (token types -> attributes)
        static const uint16_t type_attr[7] = { 0, ATTR_NORMAL, ATTR_UNKNOWN, ATTR_CONTROL, ATTR_USER_DEFINED, ATTR_UNUSED, ATTR_BYTE };
        int32_t t;
        if (types) memcpy(&t, types + i, sizeof t);
        v->attr[i] = !types ? ATTR_NORMAL : (t >= 0 && t < 7) ? type_attr[t] : 0;
    }

    // merges "left right" -> rank (the first of repeated pairs wins)
    v->merge_cap = vlm_pow2_at_least((size_t)n_merges * 2);
    v->merges = calloc(v->merge_cap, sizeof *v->merges);
    buf = malloc(2 * max_len + 1);
    if (!v->merges || !buf) goto fail;
    for (int32_t r = 0; r < (int32_t)n_merges; r++) {
        const char * s;
        size_t len;
        vlm_gguf_get_array_str(g, "tokenizer.ggml.merges", (uint64_t)r, &s, &len);
        const char * sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        if (!sp) FAIL(VLM_STATUS_BAD_MODEL, "merge %d ('%.*s') has no space", r, (int)(len < 40 ? len : 40), s);
        size_t ln = (size_t)(sp - s), rn = len - ln - 1;
        int32_t a = find_text(v, s, ln), b = find_text(v, sp + 1, rn);
        if (a < 0 || b < 0)
            FAIL(VLM_STATUS_BAD_MODEL, "merge %d ('%.*s') refers to an unknown token", r, (int)(len < 40 ? len : 40), s);
        uint64_t key = ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
        size_t mask = v->merge_cap - 1, h = vlm_hash_u64(key) & mask;
        while (v->merges[h].key != 0 && v->merges[h].key != key) h = (h + 1) & mask;
        if (v->merges[h].key == key) continue;
        memcpy(buf, s, ln);
        memcpy(buf + ln, sp + 1, rn);
        v->merges[h] = (struct merge_slot){ key, r, find_text(v, buf, ln + rn) };
    }

    // special token ids: defaults of the gpt2 model, then the file's (out of range: ignored)
    int32_t ids[N_IDS];
    for (int i = 0; i < N_IDS; i++) ids[i] = -1;
    ids[BOS] = ids[EOS] = 11 < n ? 11 : -1;
    if (pre_flags & NO_BOS) ids[BOS] = -1;
    for (int k = 0; k < (int)(sizeof id_keys / sizeof id_keys[0]); k++) {
        int64_t val;
        if (vlm_gguf_get_int(g, id_keys[k], &val) && val >= 0 && val < n) ids[k < N_IDS ? k : deprecated_to[k - N_IDS]] = (int32_t)val;
    }
    vlm_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &v->add_bos);
    vlm_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &v->add_eos);
    if ((v->add_bos && ids[BOS] < 0) || (v->add_eos && ids[EOS] < 0))
        FAIL(VLM_STATUS_BAD_MODEL, "add_%s_token is set but the vocab has no such token", v->add_bos && ids[BOS] < 0 ? "bos" : "eos");
    v->bos = ids[BOS];
    v->eos = ids[EOS];

    // auto-detected special tokens (llama.cpp takes the first in hash order; here the lowest id)
    static const char * const * const detected[] = { k_eot, k_eom, k_fim_pre, k_fim_suf, k_fim_mid, k_fim_pad, k_fim_rep, k_fim_sep };
    static const int detected_slot[] = { EOT, EOM, FIM_PRE, FIM_SUF, FIM_MID, FIM_PAD, FIM_REP, FIM_SEP };
    for (int k = 0; k < 8; k++)
        if (ids[detected_slot[k]] < 0) ids[detected_slot[k]] = detect(v, detected[k]);

    // end-of-generation tokens
    eog_add(v, ids[FIM_PAD]);
    eog_add(v, ids[FIM_REP]);
    eog_add(v, ids[FIM_SEP]);
    for (int32_t i = 0; i < n; i++) {
        if (text_in(v, i, k_eog)) {
            eog_add(v, i);
            v->attr[i] |= ATTR_CONTROL;
        }
    }
    for (int32_t i = 0; i < n; i++)   // "quick hack for gpt-oss"
        if (text_in(v, i, k_user_defined)) v->attr[i] = ATTR_USER_DEFINED;
    eog_add(v, ids[EOS]);
    eog_add(v, ids[EOT]);
    eog_add(v, ids[EOM]);
    {
        bool has_return = false, has_call = false, has_flush = false, has_tool_response = false;
        int32_t end_id = -1, s_id = -1;
        for (int32_t i = 0; i < v->n_eog; i++) {
            int32_t id = v->eog[i];
            has_return |= text_is(v, id, "<|return|>");
            has_call |= text_is(v, id, "<|call|>") || text_is(v, id, "<|calls|>");
            has_flush |= text_is(v, id, "<|flush|>");
            has_tool_response |= text_is(v, id, "<|tool_response>");
            if (text_is(v, id, "<|end|>")) end_id = id;
            if (text_is(v, id, "</s>")) s_id = id;
        }
        if (end_id >= 0 && ((has_return && has_call) || (has_call && has_flush))) {
            eog_remove(v, end_id);
            v->attr[end_id] = ATTR_USER_DEFINED;
        }
        if (s_id >= 0 && has_tool_response) {
            eog_remove(v, s_id);
            v->attr[s_id] = ATTR_NORMAL;
        }
    }
    qsort(v->eog, (size_t)v->n_eog, sizeof *v->eog, cmp_i32);

    // special tokens for the partition, longest text first
    keys = malloc(sizeof *keys * (size_t)n);
    v->special = malloc(sizeof *v->special * (size_t)n);
    if (!keys || !v->special) goto fail;
    for (int32_t i = 0; i < n; i++)
        if (v->attr[i] & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) keys[v->n_special++] = (struct special_key){ v->text_len[i], i };
    qsort(keys, (size_t)v->n_special, sizeof *keys, cmp_special);
    for (int32_t i = 0; i < v->n_special; i++) v->special[i] = keys[i].id;

    // byte characters
    // ref: llama.cpp src/unicode.cpp unicode_byte_to_utf8_map
    for (int i = 0; i < 324; i++) v->char_byte[i] = -1;
    for (int b = 0, extra = 0; b < 256; b++) {
        bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        uint32_t c = printable ? (uint32_t)b : 256u + (uint32_t)extra++;
        v->byte_char_len[b] = (uint8_t)vlm_utf8_encode(c, v->byte_char[b]);
        v->char_byte[c] = (int16_t)b;
    }

    // pieces (token_to_piece with special = true), as llama.cpp's cache
    struct bytes pieces = { 0 };
    cpts = malloc(sizeof *cpts * (max_len + 1));
    if (!cpts) goto fail;
    for (int32_t i = 0; i < n; i++) {
        uint16_t a = v->attr[i];
        bool ok = true;
        v->piece_off[i] = pieces.n;
        // ref: llama.cpp src/llama-vocab.cpp llama_vocab::impl::token_to_piece (LLAMA_VOCAB_TYPE_BPE)
        if (a & (ATTR_SPECIAL | ATTR_USER_DEFINED)) {
            ok = bytes_add(&pieces, v->text + v->text_off[i], v->text_len[i]);
        } else if (a & ATTR_NORMAL) {
            ok = decode_text(v, i, cpts, &pieces);
        } else if (a & ATTR_BYTE) {   // token_to_byte: strtol of text.substr(3, 2)
            char hex[3] = { 0 };
            if (v->text_len[i] > 3) memcpy(hex, v->text + v->text_off[i] + 3, v->text_len[i] - 3 < 2 ? v->text_len[i] - 3 : 2);
            char b = (char)strtol(hex, NULL, 16);
            ok = bytes_add(&pieces, &b, 1);
        }
        if (!ok) {
            free(pieces.d);
            FAIL(VLM_STATUS_BAD_MODEL, "token pieces: out of memory or over 1 GiB");
        }
    }
    v->piece_off[n] = pieces.n;
    v->piece = pieces.d ? pieces.d : malloc(1);
    if (!v->piece) goto fail;

    // per-token attributes set by model name
    // ref: llama.cpp src/llama-vocab.cpp llama_vocab::impl::load ("Handle per token attributes")
    {
        const char * name = NULL, * arch = NULL;
        char lname[256] = "";
        if (vlm_gguf_get_str(g, "general.name", &name))
            for (size_t i = 0; name[i] && i + 1 < sizeof lname; i++) lname[i] = (char)tolower((unsigned char)name[i]), lname[i + 1] = 0;
        if (!vlm_gguf_get_str(g, "general.architecture", &arch)) arch = "";
        if (strstr(pre, "jina-v2-de") || strstr(pre, "jina-v2-es") || strstr(pre, "jina-v2-code") ||
            strstr(arch, "nomic-bert-moe") || strstr(arch, "jina-bert-v3")) {
            int32_t id = vlm_bpe_token_id(v, "<mask>");
            if (id >= 0) v->attr[id] |= ATTR_LSTRIP;
        } else if (strstr(lname, "phi-3") || strstr(lname, "phi3")) {
            for (int32_t i = 0; i < v->n_special; i++) v->attr[v->special[i]] |= ATTR_RSTRIP;
            static const char * const unset[] = { "</s>", "<unk>", "<s>", "<|endoftext|>" };
            for (int k = 0; k < 4; k++) {
                int32_t id = vlm_bpe_token_id(v, unset[k]);
                if (id < 0) FAIL(VLM_STATUS_BAD_MODEL, "phi-3 vocab without the token '%s'", unset[k]);
                if (k == 0) v->attr[id] |= ATTR_RSTRIP;
                else v->attr[id] &= (uint16_t)~ATTR_RSTRIP;
            }
        } else if (strstr(lname, "modern-bert")) {
            int32_t id = vlm_bpe_token_id(v, "[MASK]");
            if (id >= 0) v->attr[id] |= ATTR_LSTRIP;
        }
    }
    st = VLM_STATUS_OK;
    *out = v;
    v = NULL;
fail:
    if (st == VLM_STATUS_OUT_OF_MEMORY) vlm_error(st, "vlm_bpe_vocab_load: out of memory");
    vlm_bpe_vocab_free(v);
    free(cpts);
    free(buf);
    free(keys);
    return st;
}
