// concepts.c — CLIP labels shared by classify, concepts and describe --objects (see concepts.h).
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "clip.h"
#include "concepts.h"

static int ranked_cmp(const void * a, const void * b) {
    const struct vlm_ranked * x = a, * y = b;
    if (x->prob != y->prob) return x->prob > y->prob ? -1 : 1;
    return x->index - y->index;
}

bool vlm_rank_texts(const float * img, const float * txt, int32_t n, int32_t e, float scale, struct vlm_ranked * out) {
    double mx = -INFINITY, sum = 0;
    double * l = malloc(sizeof *l * (size_t)(n ? n : 1));
    if (!l) return false;
    for (int32_t i = 0; i < n; i++) {
        double c = 0;
        for (int32_t k = 0; k < e; k++) c += (double)img[k] * txt[(size_t)i * e + k];
        out[i].cosine = (float)c;
        out[i].index = i;
        l[i] = (double)scale * out[i].cosine;
        if (l[i] > mx) mx = l[i];
    }
    for (int32_t i = 0; i < n; i++) sum += (l[i] = exp(l[i] - mx));
    for (int32_t i = 0; i < n; i++) out[i].prob = (float)(l[i] / sum);
    free(l);
    qsort(out, (size_t)n, sizeof *out, ranked_cmp);
    return true;
}

int32_t vlm_split_list(char * s, bool lines, char *** out, int32_t * bad) {
    int32_t n = 0, cap = 16;
    char ** v = malloc(sizeof *v * (size_t)cap);
    if (!v) { *bad = 0; return -1; }
    char * p = s;
    int32_t pos = 0;
    for (;;) {
        char * end = strchr(p, lines ? '\n' : ',');
        if (end) *end = 0;
        pos++;
        while (*p == ' ' || *p == '\t' || *p == '\r') p++;
        char * q = p + strlen(p);
        while (q > p && (q[-1] == ' ' || q[-1] == '\t' || q[-1] == '\r')) *--q = 0;
        bool skip = lines && (!*p || *p == '#');
        if (!skip && !*p) {
            free(v);
            *bad = pos;
            return -1;
        }
        if (!skip) {
            if (n == cap) {
                char ** nv = realloc(v, sizeof *v * (size_t)(cap *= 2));
                if (!nv) { free(v); *bad = 0; return -1; }
                v = nv;
            }
            v[n++] = p;
        }
        if (!end) break;
        p = end + 1;
    }
    *out = v;
    return n;
}

struct vlm_model * vlm_load_clip(const char * cmd, const char * path, const struct vlm_model_params * params) {
    struct vlm_model * m = cli_load_model(cmd, path, params);
    if (m && vlm_model_kind(m) != VLM_MODEL_CLIP) {
        cli_fail(cmd, "%s is not a CLIP model (it is a %s model); use a CLIP checkpoint", path,
                 vlm_model_kind(m) == VLM_MODEL_SAM ? "Segment Anything" : "different");
        vlm_model_free(m);
        return NULL;
    }
    return m;
}

// ---- the concept list and its cached text embeddings ----------------------------------------------
#define CONCEPT_TEMPLATE "a photo of a {}."
#define CONCEPT_CHUNK    64   // texts per encoding call (the lock is released between them)
#define CACHE_MAGIC "VLMCLIPC"

// FNV-1a style 64-bit hash over 8-byte words (fast enough to hash a model file per run).
static uint64_t hash_bytes(uint64_t h, const void * data, size_t n) {
    const unsigned char * p = data;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x100000001B3ULL;
        h ^= h >> 29;
        p += 8, n -= 8;
    }
    while (n--) h = (h ^ *p++) * 0x100000001B3ULL;
    return h;
}

static bool hash_file(const char * path, uint64_t * h) {
    FILE * f = fopen(path, "rb");
    if (!f) return false;
    size_t cap = 1u << 20;
    unsigned char * buf = malloc(cap);
    if (!buf) { fclose(f); return false; }
    size_t n;
    while ((n = fread(buf, 1, cap, f)) > 0) *h = hash_bytes(*h, buf, n);
    bool ok = !ferror(f);
    free(buf);
    fclose(f);
    return ok;
}

static bool cache_dir(char * out, size_t n) { return cli_cache_dir(out, n) && cli_mkdirs(out); }

// Reads cached embeddings [n, e]; false when absent or not matching.
static bool cache_read(const char * path, int32_t n, int32_t e, float * out) {
    size_t size = 0;
    char * b = vlm_read_file(path, 16 + sizeof(float) * (size_t)n * e, &size);
    if (!b) return false;
    uint32_t hdr[2];
    bool ok = size == 16 + sizeof(float) * (size_t)n * e && !memcmp(b, CACHE_MAGIC, 8);
    if (ok) {
        memcpy(hdr, b + 8, 8);
        ok = hdr[0] == (uint32_t)n && hdr[1] == (uint32_t)e;
    }
    if (ok) memcpy(out, b + 16, sizeof(float) * (size_t)n * e);
    for (size_t i = 0; ok && i < (size_t)n * e; i++) ok = isfinite(out[i]);
    free(b);
    return ok;
}

static void cache_write(const char * cmd, const char * path, int32_t n, int32_t e, const float * emb) {
    size_t size = 16 + sizeof(float) * (size_t)n * e;
    char * b = malloc(size);
    if (!b) return;
    uint32_t hdr[2] = { (uint32_t)n, (uint32_t)e };
    memcpy(b, CACHE_MAGIC, 8);
    memcpy(b + 8, hdr, 8);
    memcpy(b + 16, emb, sizeof(float) * (size_t)n * e);
    char err[PATH_MAX + 64];
    if (!cli_write_atomic(path, b, size, err, sizeof err)) fprintf(stderr, "vlm %s: warning: cache not written: %s\n", cmd, err);
    free(b);
}

void vlm_concepts_free(struct vlm_concepts * c) {
    if (!c) return;
    free(c->buf);
    free(c->names);
    free(c->feats);
    memset(c, 0, sizeof *c);
}

bool vlm_concepts_load(const char * cmd, struct vlm_model * m, const char * model_path, const char * list_path,
                       bool use_cache, pthread_mutex_t * lock, struct vlm_concepts * c, char * err, size_t err_size) {
    memset(c, 0, sizeof *c);
    char list_buf[PATH_MAX];
    if (!list_path) {
        if (!vlm_clip_find_asset("concepts.txt", list_buf, sizeof list_buf)) {
            snprintf(err, err_size, "the concept list assets/concepts.txt was not found (set VLM_ASSETS to the assets folder)");
            return false;
        }
        list_path = list_buf;
    }
    size_t list_size = 0;
    if (!(c->buf = vlm_read_file(list_path, 16u << 20, &list_size))) {
        snprintf(err, err_size, "%s: cannot read: %s", list_path, strerror(errno));
        return false;
    }
    // the cache key covers the list as read (before splitting edits the buffer)
    uint64_t key = hash_bytes(0xCBF29CE484222325ULL, c->buf, list_size);
    key = hash_bytes(key, CONCEPT_TEMPLATE, sizeof CONCEPT_TEMPLATE);
    int32_t bad = 0, n = vlm_split_list(c->buf, true, &c->names, &bad), e = vlm_clip_embed_dim(m);
    char ** texts = NULL;
    bool ok = false;
    if (n < 0) { snprintf(err, err_size, "out of memory"); goto done; }
    if (n == 0) { snprintf(err, err_size, "%s: no concepts", list_path); goto done; }
    c->n = n, c->dim = e;
    if (!(c->feats = malloc(sizeof *c->feats * (size_t)e * n))) { snprintf(err, err_size, "out of memory"); goto done; }

    char cache_path[PATH_MAX] = "", dir[PATH_MAX - 64];
    struct stat sb;
    const char * mfile = model_path;
    char mbuf[PATH_MAX];
    if (stat(model_path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        snprintf(mbuf, sizeof mbuf, "%s/model.safetensors", model_path);
        mfile = mbuf;
    }
    key = hash_bytes(key, &e, sizeof e);
    if (use_cache && cache_dir(dir, sizeof dir) && hash_file(mfile, &key)) {
        snprintf(cache_path, sizeof cache_path, "%s/concepts-%016llx.bin", dir, (unsigned long long)key);
        if (cache_read(cache_path, n, e, c->feats)) {
            ok = true;
            goto done;
        }
    }
    fprintf(stderr, "vlm %s: computing the text embeddings of %d concepts%s\n", cmd, (int)n,
            cache_path[0] ? " (once per model, then cached)" : "");
    if (!(texts = calloc((size_t)n, sizeof *texts))) { snprintf(err, err_size, "out of memory"); goto done; }
    for (int32_t i = 0; i < n; i++) {
        size_t l = strlen(c->names[i]);
        if (!(texts[i] = malloc(l + 32))) { snprintf(err, err_size, "out of memory"); goto done; }
        snprintf(texts[i], l + 32, "a photo of a %s.", c->names[i]);   // CONCEPT_TEMPLATE
    }
    struct vlm_clip_params p = vlm_clip_default_params();
    for (int32_t i = 0; i < n; i += CONCEPT_CHUNK) {
        int32_t k = n - i < CONCEPT_CHUNK ? n - i : CONCEPT_CHUNK;
        if (lock) pthread_mutex_lock(lock);
        enum vlm_status st = vlm_clip_encode_texts(m, (const char * const *)texts + i, k, &p, c->feats + (size_t)i * e,
                                                   (size_t)k * e, NULL);
        if (st != VLM_STATUS_OK) snprintf(err, err_size, "%s: %s", list_path, vlm_last_error());
        if (lock) pthread_mutex_unlock(lock);
        if (st != VLM_STATUS_OK) goto done;
    }
    if (cache_path[0]) cache_write(cmd, cache_path, n, e, c->feats);
    ok = true;
done:
    for (int32_t i = 0; texts && i < n; i++) free(texts[i]);
    free(texts);
    if (!ok) vlm_concepts_free(c);
    return ok;
}
