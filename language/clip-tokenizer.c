// clip-tokenizer.c — OpenAI CLIP's SimpleTokenizer (BPE over UTF-8 bytes with "</w>" word
// ends) and clip.tokenize. See tokenizer.h for the exact behaviour and what differs (ftfy).
#include "tokenizer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "core.h"
#include "unicode-props.h"

#define SOT_TEXT "<|startoftext|>"
#define EOT_TEXT "<|endoftext|>"
#define MAX_LINE 4096                     // merges lines are a few bytes
#define MAX_VOCAB (1 << 22)               // ids accepted from vocab.json
#define MAX_JSON_BYTES ((size_t)256 << 20)
#define MAX_TEXT_BYTES ((size_t)1 << 30)  // longest text accepted by tokenize
#define CACHE_MAX_KEY 64                  // pre-tokens up to this many bytes are cached
#define CACHE_MAX_ENTRIES (1 << 16)
#define CACHE_SLOTS (1 << 17)

// ---- small helpers ------------------------------------------------------------------------

struct bytes_buf {
    char * data;
    size_t len, cap;
};

static bool buf_append(struct bytes_buf * b, const void * p, size_t n) {
    size_t need;
    if (!vlm_add_size(b->len, n, &need)) return false;
    if (need > b->cap) {
        size_t cap;
        if (!vlm_grow_size(b->cap, need, 4096, &cap)) return false;
        char * d = realloc(b->data, cap);
        if (!d) return false;
        b->data = d;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len = need;
    return true;
}

// ---- the tokenizer ------------------------------------------------------------------------

struct pair_slot {
    uint64_t key;      // (first + 1) << 32 | (second + 1); 0 = empty
    int32_t  rank;
    int32_t  merged;
};

struct cache_entry {
    uint64_t hash;
    uint32_t key_off, ids_off;
    uint16_t key_len, n_ids;
};

struct vlm_clip_tokenizer {
    int32_t  n_vocab;
    // vocab strings (byte-encoded unicode, UTF-8) by id; len == UINT32_MAX: no entry
    char *     str;
    uint32_t * str_off;
    uint32_t * str_len;
    // raw bytes of each id for decode; raw_len == UINT32_MAX: not decodable
    uint8_t *  raw;
    uint32_t * raw_off;
    uint32_t * raw_len;
    // encoder: string -> id (later ids win, as dict(zip(vocab, range)))
    int32_t *  enc_slots;
    size_t     enc_cap;
    // bpe_ranks: (first id, second id) -> rank and the id of the joined string
    struct pair_slot * pairs;
    size_t     pair_cap;
    int32_t    byte_id[256];       // id of byte_encoder[b]
    int32_t    byte_end_id[256];   // id of byte_encoder[b] + "</w>"
    int32_t    sot, eot;
    // cache of BPE results by pre-token bytes
    pthread_mutex_t      cache_mu;
    int32_t *            cache_slots;   // entry index, -1 empty
    struct cache_entry * cache;
    int32_t              cache_n;
    struct bytes_buf     cache_keys;
    struct bytes_buf     cache_ids;
};

// ref: clip/simple_tokenizer.py bytes_to_unicode — printable bytes map to themselves, the
// other 68 to U+0100 + n in byte order. Fills cp[b] and returns nothing.
static void bytes_to_unicode(uint32_t cp[256], uint8_t order[256]) {
    int n_order = 0, n = 0;
    bool printable[256] = { false };
    for (int b = '!'; b <= '~'; b++) printable[b] = true;
    for (int b = 0xA1; b <= 0xAC; b++) printable[b] = true;
    for (int b = 0xAE; b <= 0xFF; b++) printable[b] = true;
    for (int b = 0; b < 256; b++) if (printable[b]) { cp[b] = (uint32_t)b; order[n_order++] = (uint8_t)b; }
    for (int b = 0; b < 256; b++) if (!printable[b]) { cp[b] = 256u + (uint32_t)n++; order[n_order++] = (uint8_t)b; }
}

static int32_t enc_find(const struct vlm_clip_tokenizer * t, const char * s, size_t n) {
    size_t mask = t->enc_cap - 1;
    for (size_t i = vlm_hash_bytes(s, n) & mask;; i = (i + 1) & mask) {
        int32_t id = t->enc_slots[i];
        if (id < 0) return -1;
        if (t->str_len[id] == n && memcmp(t->str + t->str_off[id], s, n) == 0) return id;
    }
}

// Maps the string of id to id; an earlier id with the same string is replaced.
static void enc_insert(struct vlm_clip_tokenizer * t, int32_t id) {
    const char * s = t->str + t->str_off[id];
    size_t n = t->str_len[id], mask = t->enc_cap - 1;
    for (size_t i = vlm_hash_bytes(s, n) & mask;; i = (i + 1) & mask) {
        int32_t o = t->enc_slots[i];
        if (o < 0 || (t->str_len[o] == n && memcmp(t->str + t->str_off[o], s, n) == 0)) {
            t->enc_slots[i] = id;
            return;
        }
    }
}

static int32_t pair_find(const struct vlm_clip_tokenizer * t, int32_t a, int32_t b, int32_t * merged) {
    uint64_t key = ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
    size_t mask = t->pair_cap - 1;
    for (size_t i = vlm_hash_u64(key) & mask;; i = (i + 1) & mask) {
        const struct pair_slot * s = &t->pairs[i];
        if (s->key == 0) return -1;
        if (s->key == key) { *merged = s->merged; return s->rank; }
    }
}

static void pair_insert(struct vlm_clip_tokenizer * t, int32_t a, int32_t b, int32_t rank, int32_t merged) {
    uint64_t key = ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
    size_t mask = t->pair_cap - 1;
    for (size_t i = vlm_hash_u64(key) & mask;; i = (i + 1) & mask) {
        struct pair_slot * s = &t->pairs[i];
        if (s->key == 0 || s->key == key) {   // a repeated merge keeps the later rank, as a dict does
            s->key = key;
            s->rank = rank;
            s->merged = merged;
            return;
        }
    }
}

void vlm_clip_tokenizer_free(struct vlm_clip_tokenizer * t) {
    if (!t) return;
    pthread_mutex_destroy(&t->cache_mu);
    free(t->str); free(t->str_off); free(t->str_len);
    free(t->raw); free(t->raw_off); free(t->raw_len);
    free(t->enc_slots); free(t->pairs);
    free(t->cache_slots); free(t->cache);
    free(t->cache_keys.data); free(t->cache_ids.data);
    free(t);
}

int32_t vlm_clip_tokenizer_n_vocab(const struct vlm_clip_tokenizer * t) { return t ? t->n_vocab : 0; }
int32_t vlm_clip_tokenizer_sot(const struct vlm_clip_tokenizer * t) { return t ? t->sot : -1; }
int32_t vlm_clip_tokenizer_eot(const struct vlm_clip_tokenizer * t) { return t ? t->eot : -1; }

// ---- loading ------------------------------------------------------------------------------

// A merges file: line strings, split into parts on ASCII whitespace (str.split()).
struct merge_list {
    struct bytes_buf text;      // parts, each NUL-terminated
    uint32_t *       part_off;  // [n * 2]: offsets of the first two parts
    uint8_t *        n_parts;   // [n]: 0, 1, 2 or 3 (= more than two)
    uint32_t *       join_off;  // [n]: offset of the joined string (NUL-terminated)
    int32_t          n;
};

static void merge_list_free(struct merge_list * m) {
    free(m->text.data); free(m->part_off); free(m->n_parts); free(m->join_off);
    memset(m, 0, sizeof *m);
}

static bool ascii_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

// Reads merges as upstream: skips the header line (hf: only when it starts with "#version"),
// then at most max_merges lines. require_all: fewer lines is an error.
static enum vlm_status read_merges(const char * path, bool hf, int32_t max_merges, bool require_all,
                                   struct merge_list * m) {
    enum vlm_status st = VLM_STATUS_OK;
    char * line = malloc(MAX_LINE + 2);
    gzFile f = gzopen(path, "rb");
    memset(m, 0, sizeof *m);
    m->part_off = malloc(sizeof(uint32_t) * 2 * (size_t)max_merges);
    m->n_parts = malloc((size_t)max_merges);
    m->join_off = malloc(sizeof(uint32_t) * (size_t)max_merges);
    if (!line || !m->part_off || !m->n_parts || !m->join_off) { st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path); goto fail; }
    if (!f) { st = vlm_error(VLM_STATUS_IO, "%s: cannot open: %s", path, strerror(errno ? errno : ENOENT)); goto fail; }
    for (int64_t ln = 0; m->n < max_merges; ln++) {
        if (!gzgets(f, line, MAX_LINE + 2)) {
            int err = 0;
            const char * msg = gzerror(f, &err);
            if (err != Z_OK && err != Z_STREAM_END) { st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: corrupt file (%s)", path, msg); goto fail; }
            break;
        }
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\n') line[--len] = 0;
        else if (len > MAX_LINE) { st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: line %lld is too long", path, (long long)ln + 1); goto fail; }
        if (!vlm_utf8_valid(line, len)) { st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: line %lld is not valid UTF-8", path, (long long)ln + 1); goto fail; }
        if (ln == 0 && (!hf || strncmp(line, "#version", 8) == 0)) continue;   // header
        int32_t k = m->n;
        m->n_parts[k] = 0;
        size_t start = m->text.len;
        for (size_t i = 0; i < len;) {
            while (i < len && ascii_space(line[i])) i++;
            if (i >= len) break;
            size_t j = i;
            while (j < len && !ascii_space(line[j])) j++;
            if (m->n_parts[k] < 2) m->part_off[2 * k + m->n_parts[k]] = (uint32_t)m->text.len;
            if (m->n_parts[k] < 3) m->n_parts[k]++;
            if (!buf_append(&m->text, line + i, j - i) || !buf_append(&m->text, "", 1)) goto oom;
            i = j;
        }
        // the joined string: all parts concatenated (built in place in line, which it fits)
        size_t jn = 0;
        for (size_t i = start; i < m->text.len; i++) {
            if (m->text.data[i]) line[jn++] = m->text.data[i];
        }
        line[jn] = 0;
        m->join_off[k] = (uint32_t)m->text.len;
        if (!buf_append(&m->text, line, jn + 1)) goto oom;
        if (m->text.len > UINT32_MAX / 2) { st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: merges too large", path); goto fail; }
        m->n++;
    }
    if (require_all && m->n < max_merges) {
        st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: %d merges, expected %d (not a CLIP bpe_simple_vocab file?)", path, m->n, max_merges);
        goto fail;
    }
    gzclose(f);
    free(line);
    return VLM_STATUS_OK;
oom:
    st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
fail:
    if (f) gzclose(f);
    free(line);
    merge_list_free(m);
    return st;
}

// Allocates the per-id arrays for n ids (all absent).
static bool alloc_vocab(struct vlm_clip_tokenizer * t, int32_t n) {
    t->n_vocab = n;
    t->str_off = calloc((size_t)n, sizeof(uint32_t));
    t->str_len = malloc((size_t)n * sizeof(uint32_t));
    t->raw_off = calloc((size_t)n, sizeof(uint32_t));
    t->raw_len = malloc((size_t)n * sizeof(uint32_t));
    t->enc_cap = vlm_pow2_at_least((size_t)n * 2);
    t->enc_slots = malloc(t->enc_cap * sizeof(int32_t));
    if (!t->str_off || !t->str_len || !t->raw_off || !t->raw_len || !t->enc_slots) return false;
    for (int32_t i = 0; i < n; i++) t->str_len[i] = t->raw_len[i] = UINT32_MAX;
    memset(t->enc_slots, 0xFF, t->enc_cap * sizeof(int32_t));
    return true;
}

// Sets the strings of every id from the blob (s_off / s_len into blob), fills the encoder
// in id order, and derives the raw bytes (byte_decoder of each character) for decode.
static enum vlm_status finish_vocab(struct vlm_clip_tokenizer * t, const char * path, const struct merge_list * m) {
    uint32_t cp_of[256];
    uint8_t order[256];
    int16_t byte_of[0x200];
    bytes_to_unicode(cp_of, order);
    for (int i = 0; i < 0x200; i++) byte_of[i] = -1;
    for (int b = 0; b < 256; b++) byte_of[cp_of[b]] = (int16_t)b;

    for (int32_t i = 0; i < t->n_vocab; i++) if (t->str_len[i] != UINT32_MAX) enc_insert(t, i);

    // raw bytes
    size_t raw_size = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) if (t->str_len[i] != UINT32_MAX) raw_size += t->str_len[i];
    t->raw = malloc(raw_size + 1);
    uint32_t * cps = malloc((MAX_LINE + 64) * sizeof(uint32_t));
    if (!t->raw || !cps) { free(cps); return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path); }
    size_t pos = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        uint32_t n = t->str_len[i];
        if (n == UINT32_MAX || n > MAX_LINE + 64) continue;
        size_t nc = vlm_utf8_decode_lenient(t->str + t->str_off[i], n, cps);
        bool ok = true;
        for (size_t k = 0; k < nc; k++) {
            if (cps[k] >= 0x200 || byte_of[cps[k]] < 0) { ok = false; break; }
        }
        if (!ok) continue;   // upstream decode would raise KeyError: we refuse the id
        t->raw_off[i] = (uint32_t)pos;
        for (size_t k = 0; k < nc; k++) t->raw[pos++] = (uint8_t)byte_of[cps[k]];
        t->raw_len[i] = (uint32_t)nc;
    }
    free(cps);

    // byte symbols
    for (int b = 0; b < 256; b++) {
        char s[16];
        int n = vlm_utf8_encode(cp_of[b], s);
        t->byte_id[b] = enc_find(t, s, (size_t)n);
        memcpy(s + n, "</w>", 4);
        t->byte_end_id[b] = enc_find(t, s, (size_t)n + 4);
        if (t->byte_id[b] < 0 || t->byte_end_id[b] < 0)
            return vlm_error(VLM_STATUS_BAD_MODEL, "%s: the vocabulary lacks the byte symbol for 0x%02x", path, b);
    }
    t->sot = enc_find(t, SOT_TEXT, strlen(SOT_TEXT));
    t->eot = enc_find(t, EOT_TEXT, strlen(EOT_TEXT));
    if (t->sot < 0 || t->eot < 0) return vlm_error(VLM_STATUS_BAD_MODEL, "%s: the vocabulary lacks %s or %s", path, SOT_TEXT, EOT_TEXT);

    // ref: simple_tokenizer.py SimpleTokenizer.__init__ — bpe_ranks = dict(zip(merges, range))
    t->pair_cap = vlm_pow2_at_least((size_t)(m->n > 0 ? m->n : 1) * 2);
    t->pairs = calloc(t->pair_cap, sizeof *t->pairs);
    if (!t->pairs) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
    for (int32_t k = 0; k < m->n; k++) {
        if (m->n_parts[k] != 2) continue;   // such a merge never matches a pair of symbols
        const char * a = m->text.data + m->part_off[2 * k];
        const char * b = m->text.data + m->part_off[2 * k + 1];
        int32_t ia = enc_find(t, a, strlen(a)), ib = enc_find(t, b, strlen(b));
        if (ia < 0 || ib < 0) continue;      // a part that is no symbol: the pair can never form
        const char * j = m->text.data + m->join_off[k];
        int32_t merged = enc_find(t, j, strlen(j));   // the id a dict lookup of the joined string gives
        if (merged < 0) return vlm_error(VLM_STATUS_BAD_MODEL, "%s: merge %d ('%s %s') is not in the vocabulary", path, k + 1, a, b);
        pair_insert(t, ia, ib, k, merged);
    }
    return VLM_STATUS_OK;
}

static bool set_str(struct vlm_clip_tokenizer * t, struct bytes_buf * blob, int32_t id, const char * s, size_t n) {
    if (blob->len + n > UINT32_MAX / 2) return false;
    t->str_off[id] = (uint32_t)blob->len;
    t->str_len[id] = (uint32_t)n;
    return buf_append(blob, s, n);
}

// ref: simple_tokenizer.py SimpleTokenizer.__init__ — the vocab from the merges file.
static enum vlm_status load_gz(struct vlm_clip_tokenizer * t, const char * path) {
    struct merge_list m;
    struct bytes_buf blob = { 0 };
    enum vlm_status st = read_merges(path, false, VLM_CLIP_N_MERGES, true, &m);
    if (st != VLM_STATUS_OK) return st;
    if (!alloc_vocab(t, 512 + m.n + 2)) goto oom;
    uint32_t cp_of[256];
    uint8_t order[256];
    bytes_to_unicode(cp_of, order);
    for (int i = 0; i < 256; i++) {
        char s[16];
        int n = vlm_utf8_encode(cp_of[order[i]], s);
        if (!set_str(t, &blob, i, s, (size_t)n)) goto oom;
        memcpy(s + n, "</w>", 4);
        if (!set_str(t, &blob, 256 + i, s, (size_t)n + 4)) goto oom;
    }
    for (int32_t k = 0; k < m.n; k++) {
        const char * j = m.text.data + m.join_off[k];
        if (!set_str(t, &blob, 512 + k, j, strlen(j))) goto oom;
    }
    if (!set_str(t, &blob, 512 + m.n, SOT_TEXT, strlen(SOT_TEXT))) goto oom;
    if (!set_str(t, &blob, 512 + m.n + 1, EOT_TEXT, strlen(EOT_TEXT))) goto oom;
    t->str = blob.data;
    blob.data = NULL;
    st = finish_vocab(t, path, &m);
    merge_list_free(&m);
    return st;
oom:
    free(blob.data);
    merge_list_free(&m);
    return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
}

static char * read_small_file(const char * path, size_t max, size_t * size, enum vlm_status * st) {
    FILE * f = fopen(path, "rb");
    if (!f) { *st = vlm_error(VLM_STATUS_IO, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    char * data = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            if (cap >= max) { *st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: larger than %zu bytes", path, max); goto fail; }
            cap = cap ? cap * 2 : 65536;
            char * d = realloc(data, cap + 1);
            if (!d) { *st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path); goto fail; }
            data = d;
        }
        size_t r = fread(data + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) { *st = vlm_error(VLM_STATUS_IO, "%s: read error", path); goto fail; }
            break;
        }
    }
    fclose(f);
    data[n] = 0;
    *size = n;
    return data;
fail:
    fclose(f);
    free(data);
    return NULL;
}

// A Hugging Face CLIPTokenizer folder: vocab.json gives the ids, merges.txt the ranks (at most
// 48894 lines after the "#version" header, as CLIPTokenizer reads them).
static enum vlm_status load_hf(struct vlm_clip_tokenizer * t, const char * vocab_path, const char * merges_path) {
    enum vlm_status st = VLM_STATUS_IO;
    struct merge_list m;
    struct bytes_buf blob = { 0 };
    size_t size = 0;
    cJSON * root = NULL;
    char * json = read_small_file(vocab_path, MAX_JSON_BYTES, &size, &st);
    if (!json) return st;
    root = cJSON_ParseWithLength(json, size);
    free(json);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: not a JSON object of token -> id", vocab_path);
    }
    st = read_merges(merges_path, true, VLM_CLIP_N_MERGES, false, &m);
    if (st != VLM_STATUS_OK) { cJSON_Delete(root); return st; }
    int32_t max_id = -1;
    const cJSON * it;
    cJSON_ArrayForEach(it, root) {
        double v = it->valuedouble;
        if (!cJSON_IsNumber(it) || !it->string || v < 0 || v >= MAX_VOCAB || v != (double)(int32_t)v) {
            st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: entry '%.40s' has no valid id", vocab_path, it->string ? it->string : "");
            goto fail;
        }
        if ((int32_t)v > max_id) max_id = (int32_t)v;
    }
    if (max_id < 0) { st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: empty vocabulary", vocab_path); goto fail; }
    if (!alloc_vocab(t, max_id + 1)) goto oom;
    cJSON_ArrayForEach(it, root) {
        if (!vlm_utf8_valid(it->string, strlen(it->string))) {
            st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: a token is not valid UTF-8", vocab_path);
            goto fail;
        }
        if (!set_str(t, &blob, (int32_t)it->valuedouble, it->string, strlen(it->string))) goto oom;
    }
    cJSON_Delete(root);
    root = NULL;
    t->str = blob.data;
    blob.data = NULL;
    st = finish_vocab(t, vocab_path, &m);
    merge_list_free(&m);
    return st;
oom:
    st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", vocab_path);
fail:
    cJSON_Delete(root);
    free(blob.data);
    merge_list_free(&m);
    return st;
}

static bool is_file(const char * p) {
    struct stat s;
    return stat(p, &s) == 0 && S_ISREG(s.st_mode);
}

enum vlm_status vlm_clip_tokenizer_load(const char * path, struct vlm_clip_tokenizer ** out) {
    if (!out) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_clip_tokenizer_load: out is NULL");
    *out = NULL;
    if (!path) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_clip_tokenizer_load: path is NULL");
    struct stat s;
    if (stat(path, &s) != 0) return vlm_error(VLM_STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
    struct vlm_clip_tokenizer * t = calloc(1, sizeof *t);
    if (!t) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
    pthread_mutex_init(&t->cache_mu, NULL);
    t->cache_slots = malloc(CACHE_SLOTS * sizeof(int32_t));
    t->cache = malloc(CACHE_MAX_ENTRIES * sizeof *t->cache);
    if (!t->cache_slots || !t->cache) { vlm_clip_tokenizer_free(t); return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path); }
    memset(t->cache_slots, 0xFF, CACHE_SLOTS * sizeof(int32_t));

    enum vlm_status st;
    if (S_ISDIR(s.st_mode)) {
        size_t n = strlen(path) + 64;
        char * a = malloc(n), * b = malloc(n);
        if (!a || !b) { free(a); free(b); vlm_clip_tokenizer_free(t); return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path); }
        snprintf(a, n, "%s/bpe_simple_vocab_16e6.txt.gz", path);
        if (is_file(a)) {
            st = load_gz(t, a);
        } else {
            snprintf(a, n, "%s/vocab.json", path);
            snprintf(b, n, "%s/merges.txt", path);
            if (is_file(a) && is_file(b)) st = load_hf(t, a, b);
            else st = vlm_error(VLM_STATUS_IO, "%s: no bpe_simple_vocab_16e6.txt.gz, nor vocab.json + merges.txt", path);
        }
        free(a);
        free(b);
    } else {
        st = load_gz(t, path);
    }
    if (st != VLM_STATUS_OK) { vlm_clip_tokenizer_free(t); return st; }
    *out = t;
    return VLM_STATUS_OK;
}

// ---- BPE ----------------------------------------------------------------------------------

// Scratch for bpe_word. Pending pairs are kept in one bucket per rank (a linked list of
// nodes) and a small min-heap of the ranks that have a bucket with entries, so that a word
// of a million symbols costs O(1) per pair instead of a heap operation per pair.
struct bpe_scratch {
    int32_t *  sym;      // [cap] symbol id per node, -1 once merged into its left neighbour
    int32_t *  prev;     // [cap]
    int32_t *  next;     // [cap]
    uint32_t * mark;     // [cap] pass in which the node was queued for re-pairing
    int32_t *  list;     // [4 cap] nodes of the current pass (3 cap), then the re-pair queue (cap)
    int32_t *  ent_pos;  // [3 cap] bucket entries: node
    int32_t *  ent_next; // [3 cap] next entry of the same bucket, -1 at the end
    int32_t *  b_rank;   // [nb] bucket: rank, first entry, last node added, flags
    int32_t *  b_head;
    int32_t *  b_last;
    uint8_t *  b_sorted; // entries were added in increasing node order
    uint8_t *  b_queued; // its rank is in the rank heap
    int32_t *  slots;    // [n_slots] rank -> bucket (open addressing), -1 empty
    int32_t *  rheap;    // [nb] min-heap of ranks
    size_t     cap, n_buckets_cap, n_slots;
};

static void scratch_free(struct bpe_scratch * s) {
    free(s->sym); free(s->prev); free(s->next); free(s->mark); free(s->list);
    free(s->ent_pos); free(s->ent_next);
    free(s->b_rank); free(s->b_head); free(s->b_last); free(s->b_sorted); free(s->b_queued);
    free(s->slots); free(s->rheap);
    memset(s, 0, sizeof *s);
}

static bool scratch_reserve(struct bpe_scratch * s, size_t n) {
    if (n <= s->cap) return true;
    size_t cap = vlm_pow2_at_least(n), c3, c4;
    if (!vlm_mul_size(cap, 3, &c3) || !vlm_mul_size(cap, 4, &c4)) return false;
    // distinct ranks in one word: at most one per entry and one per merge of the table
    size_t nb = c3 < ((size_t)VLM_CLIP_N_MERGES + 1) * 2 ? c3 : ((size_t)VLM_CLIP_N_MERGES + 1) * 2;
    scratch_free(s);
    s->sym = malloc(cap * sizeof(int32_t));
    s->prev = malloc(cap * sizeof(int32_t));
    s->next = malloc(cap * sizeof(int32_t));
    s->mark = malloc(cap * sizeof(uint32_t));
    s->list = malloc(c4 * sizeof(int32_t));
    s->ent_pos = malloc(c3 * sizeof(int32_t));
    s->ent_next = malloc(c3 * sizeof(int32_t));
    s->b_rank = malloc(nb * sizeof(int32_t));
    s->b_head = malloc(nb * sizeof(int32_t));
    s->b_last = malloc(nb * sizeof(int32_t));
    s->b_sorted = malloc(nb);
    s->b_queued = malloc(nb);
    s->n_slots = vlm_pow2_at_least(nb * 2);
    s->slots = malloc(s->n_slots * sizeof(int32_t));
    s->rheap = malloc(nb * sizeof(int32_t));
    if (!s->sym || !s->prev || !s->next || !s->mark || !s->list || !s->ent_pos || !s->ent_next || !s->b_rank ||
        !s->b_head || !s->b_last || !s->b_sorted || !s->b_queued || !s->slots || !s->rheap) {
        scratch_free(s);
        return false;
    }
    s->cap = cap;
    s->n_buckets_cap = nb;
    return true;
}

static void rheap_push(int32_t * h, size_t * n, int32_t v) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= v) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static int32_t rheap_pop(int32_t * h, size_t * n) {
    int32_t top = h[0], v = h[--(*n)];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && h[c + 1] < h[c]) c++;
        if (h[c] >= v) break;
        h[i] = h[c];
        i = c;
    }
    if (m) h[i] = v;
    return top;
}

static int cmp_i32(const void * a, const void * b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

struct bpe_state {
    struct bpe_scratch * s;
    size_t n_ent, n_buckets, n_rheap, slot_mask;
};

// The bucket of rank r (created when absent).
static int32_t bucket_of(struct bpe_state * st, int32_t r) {
    struct bpe_scratch * s = st->s;
    for (size_t i = vlm_hash_u64((uint64_t)(uint32_t)r) & st->slot_mask;; i = (i + 1) & st->slot_mask) {
        int32_t b = s->slots[i];
        if (b >= 0 && s->b_rank[b] == r) return b;
        if (b < 0) {
            b = (int32_t)st->n_buckets++;
            s->slots[i] = b;
            s->b_rank[b] = r;
            s->b_head[b] = -1;
            s->b_last[b] = -1;
            s->b_sorted[b] = 1;
            s->b_queued[b] = 0;
            return b;
        }
    }
}

// Records that node p and its right neighbour form the pair of rank r.
static void bpe_add(struct bpe_state * st, int32_t r, int32_t p) {
    struct bpe_scratch * s = st->s;
    int32_t b = bucket_of(st, r);
    size_t e = st->n_ent++;
    s->ent_pos[e] = p;
    s->ent_next[e] = s->b_head[b];
    s->b_head[b] = (int32_t)e;
    if (p <= s->b_last[b]) s->b_sorted[b] = 0;
    s->b_last[b] = p;
    if (!s->b_queued[b]) {
        s->b_queued[b] = 1;
        rheap_push(s->rheap, &st->n_rheap, r);
    }
}

// ref: clip/simple_tokenizer.py SimpleTokenizer.bpe — the word's bytes as symbols, the last
// with "</w>"; repeatedly take the adjacent pair of lowest rank and merge all of its
// occurrences left to right (non-overlapping) in one pass; stop when no pair has a rank.
// The pass for rank r takes every pending entry of rank r at once, in node order (= left to
// right), checks each is still that pair, and adds the pairs the merges created only after
// the pass, exactly as upstream rewrites the whole word per pass. Writes the ids to out
// (room for n); s must hold n nodes.
static size_t bpe_word(const struct vlm_clip_tokenizer * t, const uint8_t * w, size_t n,
                       struct bpe_scratch * s, int32_t * out) {
    if (n == 1) { out[0] = t->byte_end_id[w[0]]; return 1; }
    int32_t * sym = s->sym, * prev = s->prev, * next = s->next, * list = s->list;
    int32_t * queue = s->list + 3 * s->cap;
    uint32_t * mark = s->mark;
    struct bpe_state st = { .s = s };
    size_t distinct = 3 * n < s->n_buckets_cap ? 3 * n : s->n_buckets_cap;
    size_t n_slots = vlm_pow2_at_least(distinct * 2);
    if (n_slots > s->n_slots) n_slots = s->n_slots;
    st.slot_mask = n_slots - 1;
    memset(s->slots, 0xFF, n_slots * sizeof(int32_t));
    size_t alive = n;
    for (size_t i = 0; i < n; i++) {
        sym[i] = i + 1 < n ? t->byte_id[w[i]] : t->byte_end_id[w[i]];
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
        mark[i] = 0;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        int32_t merged, r = pair_find(t, sym[i], sym[i + 1], &merged);
        if (r >= 0) bpe_add(&st, r, (int32_t)i);
    }
    uint32_t pass = 0;
    while (st.n_rheap > 0 && alive > 1) {
        int32_t r = rheap_pop(s->rheap, &st.n_rheap);
        int32_t b = bucket_of(&st, r);
        size_t np = 0;
        for (int32_t e = s->b_head[b]; e >= 0; e = s->ent_next[e]) list[np++] = s->ent_pos[e];
        if (s->b_sorted[b]) {
            for (size_t i = 0; i < np / 2; i++) { int32_t x = list[i]; list[i] = list[np - 1 - i]; list[np - 1 - i] = x; }
        } else {
            qsort(list, np, sizeof(int32_t), cmp_i32);
        }
        s->b_head[b] = -1;
        s->b_last[b] = -1;
        s->b_sorted[b] = 1;
        s->b_queued[b] = 0;
        pass++;
        size_t nq = 0;
        for (size_t k = 0; k < np; k++) {
            int32_t p = list[k];
            if (sym[p] < 0 || next[p] < 0) continue;
            int32_t q = next[p], merged;
            if (pair_find(t, sym[p], sym[q], &merged) != r) continue;   // stale entry
            sym[p] = merged;
            sym[q] = -1;
            next[p] = next[q];
            if (next[q] >= 0) prev[next[q]] = p;
            alive--;
            if (prev[p] >= 0 && mark[prev[p]] != pass) { mark[prev[p]] = pass; queue[nq++] = prev[p]; }
            if (mark[p] != pass) { mark[p] = pass; queue[nq++] = p; }
        }
        for (size_t k = 0; k < nq; k++) {
            int32_t p = queue[k], merged;
            if (sym[p] < 0 || next[p] < 0) continue;
            int32_t rr = pair_find(t, sym[p], sym[next[p]], &merged);
            if (rr >= 0) bpe_add(&st, rr, p);
        }
    }
    size_t m = 0;
    for (int32_t i = 0; i >= 0; i = next[i]) out[m++] = sym[i];
    return m;
}

// Cache lookup: copies the ids into out and returns their count, or -1 when absent.
static int cache_get(struct vlm_clip_tokenizer * t, const uint8_t * w, size_t n, uint64_t h, int32_t * out) {
    int res = -1;
    pthread_mutex_lock(&t->cache_mu);
    for (size_t i = h & (CACHE_SLOTS - 1);; i = (i + 1) & (CACHE_SLOTS - 1)) {
        int32_t e = t->cache_slots[i];
        if (e < 0) break;
        const struct cache_entry * c = &t->cache[e];
        if (c->hash == h && c->key_len == n && memcmp(t->cache_keys.data + c->key_off, w, n) == 0) {
            memcpy(out, t->cache_ids.data + c->ids_off, c->n_ids * sizeof(int32_t));
            res = c->n_ids;
            break;
        }
    }
    pthread_mutex_unlock(&t->cache_mu);
    return res;
}

static void cache_put(struct vlm_clip_tokenizer * t, const uint8_t * w, size_t n, uint64_t h, const int32_t * ids, size_t n_ids) {
    pthread_mutex_lock(&t->cache_mu);
    if (t->cache_n < CACHE_MAX_ENTRIES) {   // full: later words are simply not cached
        size_t i = h & (CACHE_SLOTS - 1);
        bool present = false;
        for (;; i = (i + 1) & (CACHE_SLOTS - 1)) {
            int32_t e = t->cache_slots[i];
            if (e < 0) break;
            const struct cache_entry * c = &t->cache[e];
            if (c->hash == h && c->key_len == n && memcmp(t->cache_keys.data + c->key_off, w, n) == 0) { present = true; break; }
        }
        size_t key_off = t->cache_keys.len, ids_off = t->cache_ids.len;
        if (!present && buf_append(&t->cache_keys, w, n)) {
            if (buf_append(&t->cache_ids, ids, n_ids * sizeof(int32_t))) {
                struct cache_entry * c = &t->cache[t->cache_n];
                c->hash = h;
                c->key_off = (uint32_t)key_off;
                c->key_len = (uint16_t)n;
                c->ids_off = (uint32_t)ids_off;
                c->n_ids = (uint16_t)n_ids;
                t->cache_slots[i] = t->cache_n++;
            } else {
                t->cache_keys.len = key_off;
            }
        }
    }
    pthread_mutex_unlock(&t->cache_mu);
}

// ---- encode -------------------------------------------------------------------------------

static bool match_ascii(const uint32_t * s, size_t n, const char * lit) {
    size_t k = 0;
    for (; lit[k]; k++) {
        if (k >= n) return false;
        uint32_t c = s[k];
        // IGNORECASE: the regex module folds U+017F (long s) to 's'; the text is already lower-case
        if (c != (uint32_t)lit[k] && !(lit[k] == 's' && c == 0x017F)) return false;
    }
    return true;
}

// [^\s\p{L}\p{N}] under IGNORECASE. The regex module tests a class against every case variant
// of the character: U+0345 (combining ypogegrammeni) folds to U+03B9, a letter, so the negated
// class does not match it and, being neither letter nor number, it belongs to no pre-token
// (it is dropped like whitespace). gen-unicode-props.py checks that it is the only such case.
static bool punct_ic(uint32_t c) {
    return c != 0x0345 && !vlm_unicode_is_space(c) && !vlm_unicode_is_letter(c) && !vlm_unicode_is_number(c);
}

// Length of the pre-token at s[0..n), or 0 when s[0] starts none (whitespace).
// ref: simple_tokenizer.py SimpleTokenizer.__init__ self.pat, tried alternative by alternative.
static size_t pretoken_len(const uint32_t * s, size_t n) {
    uint32_t c = s[0];
    if (c == '<') {
        if (match_ascii(s, n, SOT_TEXT)) return strlen(SOT_TEXT);
        if (match_ascii(s, n, EOT_TEXT)) return strlen(EOT_TEXT);
    }
    if (c == '\'' && n >= 2) {
        uint32_t d = s[1];
        if (d == 's' || d == 0x017F || d == 't' || d == 'm' || d == 'd') return 2;
        if (n >= 3 && ((d == 'r' && s[2] == 'e') || (d == 'v' && s[2] == 'e') || (d == 'l' && s[2] == 'l'))) return 3;
    }
    if (vlm_unicode_is_letter(c)) {
        size_t k = 1;
        while (k < n && vlm_unicode_is_letter(s[k])) k++;
        return k;
    }
    if (vlm_unicode_is_number(c)) return 1;
    if (!punct_ic(c)) return 0;
    size_t k = 1;
    while (k < n && punct_ic(s[k])) k++;
    return k;
}

// ref: simple_tokenizer.py basic_clean + whitespace_clean + lower (ftfy.fix_text not done).
// Cleans text into code points; *out (malloc'd) holds *n_out of them.
static enum vlm_status clean_text(const char * text, size_t len, uint32_t ** out, size_t * n_out) {
    size_t bytes;
    uint32_t * a = NULL, * b = NULL;
    if (!vlm_mul_size(len + 1, sizeof(uint32_t), &bytes) || !(a = malloc(bytes)))
        return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "clip tokenizer: out of memory for a %zu-byte text", len);
    size_t n = vlm_utf8_decode_lenient(text, len, a);
    n = vlm_html_unescape(a, n, a);
    n = vlm_html_unescape(a, n, a);
    // strip() (str.isspace), re.sub(r'\s+', ' ') (regex \s), strip()
    size_t s0 = 0, e0 = n;
    while (s0 < e0 && vlm_unicode_is_pyspace(a[s0])) s0++;
    while (e0 > s0 && vlm_unicode_is_pyspace(a[e0 - 1])) e0--;
    size_t m = 0;
    for (size_t i = s0; i < e0;) {
        if (vlm_unicode_is_space(a[i])) {
            while (i < e0 && vlm_unicode_is_space(a[i])) i++;
            a[m++] = ' ';
        } else {
            a[m++] = a[i++];
        }
    }
    s0 = 0;
    while (s0 < m && vlm_unicode_is_pyspace(a[s0])) s0++;
    while (m > s0 && vlm_unicode_is_pyspace(a[m - 1])) m--;
    if (!vlm_mul_size(m - s0 + 1, 2 * sizeof(uint32_t), &bytes) || !(b = malloc(bytes))) {
        free(a);
        return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "clip tokenizer: out of memory for a %zu-byte text", len);
    }
    *n_out = vlm_unicode_lower(a + s0, m - s0, b);
    free(a);
    *out = b;
    return VLM_STATUS_OK;
}

static _Atomic int64_t g_max_tokens;   // 0: no limit

void vlm_clip_set_max_tokens(int64_t max_tokens) { atomic_store(&g_max_tokens, max_tokens > 0 ? max_tokens : 0); }

// ref: simple_tokenizer.py SimpleTokenizer.encode. Writes the first max_ids ids, counts all
// of them in *n_total, and stops early once *n_total >= stop_after. Refuses a text of more
// tokens than the limit (vlm_clip_set_max_tokens), which it stops counting one past.
static enum vlm_status encode(struct vlm_clip_tokenizer * t, const char * text, int32_t * ids, size_t max_ids,
                              size_t stop_after, size_t * n_total) {
    *n_total = 0;
    size_t len = strlen(text);
    if (len > MAX_TEXT_BYTES) return vlm_error(VLM_STATUS_INVALID_ARG, "clip tokenizer: text of %zu bytes is too long (limit %zu)", len, MAX_TEXT_BYTES);
    const int64_t max_tokens = atomic_load(&g_max_tokens);
    if (max_tokens > 0 && (uint64_t)max_tokens < SIZE_MAX && stop_after < (size_t)max_tokens + 1)
        stop_after = (size_t)max_tokens + 1;
    uint32_t * cps = NULL;
    size_t n = 0;
    enum vlm_status st = clean_text(text, len, &cps, &n);
    if (st != VLM_STATUS_OK) return st;
    struct bpe_scratch s = { 0 };
    uint8_t * word = NULL;
    int32_t * wids = NULL;
    size_t word_cap = 0, total = 0;
    for (size_t i = 0; i < n && total < stop_after;) {
        size_t k = pretoken_len(cps + i, n - i);
        if (k == 0) { i++; continue; }
        // the pre-token as UTF-8 bytes (byte_encoder is applied symbol by symbol in bpe_word)
        size_t need;
        if (!vlm_mul_size(k, 4, &need)) goto oom;
        if (need > word_cap) {
            free(word); free(wids);
            word_cap = need < 256 ? 256 : need;
            word = malloc(word_cap);
            wids = malloc(word_cap * sizeof(int32_t));
            if (!word || !wids) goto oom;
        }
        size_t wn = 0;
        for (size_t j = 0; j < k; j++) wn += (size_t)vlm_utf8_encode(cps[i + j], (char *)word + wn);
        i += k;
        size_t nw;
        if (wn == strlen(SOT_TEXT) && memcmp(word, SOT_TEXT, wn) == 0) { wids[0] = t->sot; nw = 1; }
        else if (wn == strlen(EOT_TEXT) && memcmp(word, EOT_TEXT, wn) == 0) { wids[0] = t->eot; nw = 1; }
        else {
            uint64_t h = 0;
            int got = -1;
            if (wn <= CACHE_MAX_KEY) {
                h = vlm_hash_bytes(word, wn);
                got = cache_get(t, word, wn, h, wids);
            }
            if (got >= 0) {
                nw = (size_t)got;
            } else {
                if (!scratch_reserve(&s, wn)) goto oom;
                nw = bpe_word(t, word, wn, &s, wids);
                if (wn <= CACHE_MAX_KEY) cache_put(t, word, wn, h, wids, nw);
            }
        }
        for (size_t j = 0; j < nw; j++, total++) {
            if (total < max_ids) ids[total] = wids[j];
        }
    }
    *n_total = total;
    free(cps); free(word); free(wids);
    scratch_free(&s);
    if (max_tokens > 0 && total > (uint64_t)max_tokens)
        return vlm_error(VLM_STATUS_INVALID_ARG, "text is over the limit of %lld tokens: \"%.40s%s\"", (long long)max_tokens,
                         text, len > 40 ? "..." : "");
    return VLM_STATUS_OK;
oom:
    free(cps); free(word); free(wids);
    scratch_free(&s);
    return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "clip tokenizer: out of memory");
}

enum vlm_status vlm_clip_tokenize(struct vlm_clip_tokenizer * t, const char * text, int32_t * ids,
                                  int32_t max_ids, int32_t * n_ids) {
    if (n_ids) *n_ids = 0;
    if (!t || !text || !n_ids || max_ids < 0 || (max_ids > 0 && !ids))
        return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_clip_tokenize: invalid argument");
    size_t total = 0;
    enum vlm_status st = encode(t, text, ids, (size_t)max_ids, SIZE_MAX, &total);
    if (st != VLM_STATUS_OK) return st;
    if (total > INT32_MAX) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_clip_tokenize: more than 2^31 tokens");
    *n_ids = (int32_t)total;
    return VLM_STATUS_OK;
}

// ref: clip/clip.py tokenize
enum vlm_status vlm_clip_tokenize_context(struct vlm_clip_tokenizer * t, const char * text,
                                          int32_t out[VLM_CLIP_CONTEXT_LENGTH], bool truncate, bool * truncated) {
    const size_t ctx = VLM_CLIP_CONTEXT_LENGTH;
    if (truncated) *truncated = false;
    if (!out) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_clip_tokenize_context: out is NULL");
    memset(out, 0, ctx * sizeof(int32_t));
    if (!t || !text) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_clip_tokenize_context: invalid argument");
    int32_t ids[VLM_CLIP_CONTEXT_LENGTH];
    size_t n = 0;
    // only the first ctx - 1 ids can matter: stop as soon as the text is known to be too long
    enum vlm_status st = encode(t, text, ids, ctx - 1, ctx - 1, &n);
    if (st != VLM_STATUS_OK) return st;
    if (n + 2 > ctx) {
        if (!truncate)
            return vlm_error(VLM_STATUS_INVALID_ARG, "clip tokenizer: input is too long for context length %zu (more than %zu tokens)",
                             ctx, ctx - 2);
        // tokens = tokens[:context_length]; tokens[-1] = eot_token
        out[0] = t->sot;
        for (size_t i = 0; i + 1 < ctx - 1; i++) out[1 + i] = ids[i];
        out[ctx - 1] = t->eot;
        if (truncated) *truncated = true;
        return VLM_STATUS_OK;
    }
    out[0] = t->sot;
    for (size_t i = 0; i < n; i++) out[1 + i] = ids[i];
    out[1 + n] = t->eot;
    return VLM_STATUS_OK;
}

// ref: simple_tokenizer.py SimpleTokenizer.decode
enum vlm_status vlm_clip_decode(const struct vlm_clip_tokenizer * t, const int32_t * ids, int32_t n,
                                char * out, size_t out_size) {
    if (!out || out_size == 0) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_clip_decode: no output buffer");
    out[0] = 0;
    if (!t || n < 0 || (n > 0 && !ids)) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_clip_decode: invalid argument");
    size_t nb = 0;
    for (int32_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab || t->raw_len[ids[i]] == UINT32_MAX)
            return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_clip_decode: token %d (at %d) is not in the vocabulary", ids[i], i);
        nb += t->raw_len[ids[i]];
    }
    uint8_t * bytes = malloc(nb + 1);
    uint32_t * cps = malloc((nb + 1) * sizeof(uint32_t));
    if (!bytes || !cps) {
        free(bytes); free(cps);
        return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "vlm_clip_decode: out of memory");
    }
    size_t p = 0;
    for (int32_t i = 0; i < n; i++) {
        memcpy(bytes + p, t->raw + t->raw_off[ids[i]], t->raw_len[ids[i]]);
        p += t->raw_len[ids[i]];
    }
    // .decode('utf-8', errors="replace").replace('</w>', ' ')
    size_t nc = vlm_utf8_decode_replace(bytes, nb, cps), o = 0;
    enum vlm_status st = VLM_STATUS_OK;
    for (size_t i = 0; i < nc; i++) {
        char u[4];
        int k;
        if (cps[i] == '<' && i + 3 < nc && cps[i + 1] == '/' && cps[i + 2] == 'w' && cps[i + 3] == '>') {
            u[0] = ' ';
            k = 1;
            i += 3;
        } else {
            k = vlm_utf8_encode(cps[i], u);
        }
        if (o + (size_t)k + 1 > out_size) {
            out[0] = 0;
            st = vlm_error(VLM_STATUS_INVALID_ARG, "vlm_clip_decode: output buffer of %zu bytes is too small", out_size);
            break;
        }
        memcpy(out + o, u, (size_t)k);
        o += (size_t)k;
    }
    if (st == VLM_STATUS_OK) out[o] = 0;
    free(bytes);
    free(cps);
    return st;
}
