// index.c — the photo index file (see index.h for the format): strict reader, atomic writer,
// the model check and the top-k search shared by `vlm index`, `vlm search` and `vlm serve`.
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "clip.h"
#include "concepts.h"
#include "index.h"
#include "model-file.h"
#include "model.h"
#include "registry.h"
#include "sha256.h"

void vlm_index_model_free(struct vlm_index_model * m) {
    if (!m) return;
    free(m->name);
    free(m->file);
    memset(m, 0, sizeof *m);
}

void vlm_index_free(struct vlm_index * ix) {
    if (!ix) return;
    for (int32_t i = 0; ix->entries && i < ix->n; i++) free(ix->entries[i].path);
    free(ix->entries);
    free(ix->emb);
    free(ix->root);
    vlm_index_model_free(&ix->model);
    memset(ix, 0, sizeof *ix);
}

bool vlm_index_file_id(const char * path, const struct vlm_index_file * known, struct vlm_index_file * out) {
    struct stat s;
    if (stat(path, &s) != 0) return false;
    if (!S_ISREG(s.st_mode)) { errno = EISDIR; return false; }
    struct vlm_index_file f = { .size = s.st_size, .mtime = s.st_mtim.tv_sec, .mtime_ns = s.st_mtim.tv_nsec };
    if (known && known->size == f.size && known->mtime == f.mtime && known->mtime_ns == f.mtime_ns)
        memcpy(f.sha256, known->sha256, sizeof f.sha256);
    else if (!vlm_sha256_file(path, f.sha256)) return false;
    *out = f;
    return true;
}

// ---- reading ---------------------------------------------------------------------------------------
// A whole number in [lo, hi] under key; false when absent, not a number or out of range.
static bool get_int(const cJSON * o, const char * key, double lo, double hi, int64_t * out) {
    const cJSON * v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi) || v->valuedouble != floor(v->valuedouble))
        return false;
    *out = (int64_t)v->valuedouble;
    return true;
}

static const char * get_str(const cJSON * o, const char * key) {
    const cJSON * v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

static bool is_sha256(const char * s) {
    if (!s || strlen(s) != 64) return false;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

// A file's size, mtime and sha256 from o; false naming nothing (the caller names the entry).
static bool get_file_id(const cJSON * o, struct vlm_index_file * f) {
    const char * h = get_str(o, "sha256");
    const double big = 9007199254740992.0;   // 2^53: whole numbers a JSON double holds exactly
    if (!get_int(o, "size", 0, big, &f->size) || !get_int(o, "mtime", -big, big, &f->mtime) ||
        !get_int(o, "mtime_ns", 0, 999999999, &f->mtime_ns) || !is_sha256(h))
        return false;
    memcpy(f->sha256, h, 65);
    return true;
}

// A relative path inside the root: not absolute, no empty, "." or ".." component.
static bool safe_rel_path(const char * p) {
    if (!p || !*p || *p == '/') return false;
    for (const char * c = p; *c;) {
        size_t n = strcspn(c, "/");
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) return false;
        c += n;
        if (*c == '/') c++;
        if (c[-1] == '/' && !*c) return false;
    }
    return true;
}

static int cmp_path_ptr(const void * a, const void * b) { return strcmp(*(char * const *)a, *(char * const *)b); }

static enum vlm_status bad(const char * path, const char * what) {
    return vlm_error(VLM_STATUS_BAD_MODEL, "%s: not a valid vlm index: %s", path, what);
}

// The metadata JSON (already parsed) into ix; n rows expected.
static enum vlm_status read_meta(const char * path, const cJSON * j, struct vlm_index * ix) {
    int64_t version, dim, size, n;
    const cJSON * m = cJSON_GetObjectItemCaseSensitive(j, "model");
    const cJSON * es = cJSON_GetObjectItemCaseSensitive(j, "entries");
    if (!get_int(j, "version", 0, 1e9, &version)) return bad(path, "no \"version\"");
    if (version != VLM_INDEX_VERSION)
        return vlm_error(VLM_STATUS_UNSUPPORTED, "%s: index version %lld, this vlm reads version %d "
                         "(index the folder again)", path, (long long)version, VLM_INDEX_VERSION);
    const char * root = get_str(j, "root");
    if (!root || root[0] != '/') return bad(path, "\"root\" is not an absolute folder");
    if (!cJSON_IsObject(m) || !get_str(m, "name") || !get_str(m, "file") || !get_int(m, "embed_dim", 1, 1 << 20, &dim) ||
        !get_int(m, "image_size", 1, 1 << 16, &size) || !get_file_id(m, &ix->model.id))
        return bad(path, "\"model\" lacks name, file, size, mtime, mtime_ns, sha256, embed_dim or image_size");
    if (!cJSON_IsArray(es)) return bad(path, "\"entries\" is not a list");
    n = cJSON_GetArraySize(es);
    if (!(ix->root = strdup(root)) || !(ix->model.name = strdup(get_str(m, "name"))) ||
        !(ix->model.file = strdup(get_str(m, "file"))))
        return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
    ix->model.embed_dim = (int32_t)dim, ix->model.image_size = (int32_t)size;
    if (n > 0 && !(ix->entries = calloc((size_t)n, sizeof *ix->entries)))
        return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
    const cJSON * e;
    cJSON_ArrayForEach(e, es) {
        struct vlm_index_entry * x = &ix->entries[ix->n];
        const char * p = get_str(e, "path");
        if (!cJSON_IsObject(e) || !safe_rel_path(p) || !get_file_id(e, &x->id)) {
            char what[96];
            snprintf(what, sizeof what, "entry %d lacks a safe relative path, size, mtime, mtime_ns or sha256",
                     (int)ix->n);
            return bad(path, what);
        }
        if (!(x->path = strdup(p))) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
        ix->n++;
    }
    // no path twice
    char ** sorted = malloc(sizeof *sorted * (size_t)(ix->n ? ix->n : 1));
    if (!sorted) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
    for (int32_t i = 0; i < ix->n; i++) sorted[i] = ix->entries[i].path;
    qsort(sorted, (size_t)ix->n, sizeof *sorted, cmp_path_ptr);
    for (int32_t i = 1; i < ix->n; i++)
        if (!strcmp(sorted[i - 1], sorted[i])) {
            enum vlm_status st =
                vlm_error(VLM_STATUS_BAD_MODEL, "%s: not a valid vlm index: path '%s' twice", path, sorted[i]);
            free(sorted);
            return st;
        }
    free(sorted);
    return VLM_STATUS_OK;
}

enum vlm_status vlm_index_read(const char * path, struct vlm_index * out) {
    memset(out, 0, sizeof *out);
    struct vlm_safetensors * st = NULL;
    enum vlm_status s = vlm_safetensors_open(path, &st);
    if (s != VLM_STATUS_OK) {
        // the reader's message names the file and the problem (truncated data, a bad header, ...)
        if (vlm_last_status() == VLM_STATUS_IO) return s;
        char why[1024];
        snprintf(why, sizeof why, "%s", vlm_last_error());
        return vlm_error(VLM_STATUS_BAD_MODEL, "not a valid vlm index: %s", why);
    }
    cJSON * meta = st->metadata_json ? cJSON_Parse(st->metadata_json) : NULL;
    const char * format = get_str(meta, "format"), * text = get_str(meta, VLM_INDEX_META_KEY);
    cJSON * j = text ? cJSON_Parse(text) : NULL;
    const struct vlm_file_tensor * t = vlm_safetensors_find(st, "embeddings");
    if (!format || strcmp(format, VLM_INDEX_FORMAT))
        s = bad(path, "the safetensors metadata has no \"format\": \"" VLM_INDEX_FORMAT "\"");
    else if (!j) s = bad(path, "no JSON \"" VLM_INDEX_META_KEY "\" in the safetensors metadata");
    else if (st->n_tensors != 1 || !t) s = bad(path, "the file must hold the one tensor \"embeddings\"");
    else s = read_meta(path, j, out);
    if (s == VLM_STATUS_OK) {
        int32_t d = out->model.embed_dim;
        if (t->dtype != VLM_DTYPE_F32 || t->n_dims != 2 || t->shape[0] != out->n || t->shape[1] != d) {
            char what[160];
            snprintf(what, sizeof what, "\"embeddings\" is not F32 [%d, %d] (%d entries, model dim %d)", (int)out->n,
                     (int)d, (int)out->n, (int)d);
            s = bad(path, what);
        } else if (!(out->emb = malloc(t->nbytes ? t->nbytes : 1))) {
            s = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
        } else {
            memcpy(out->emb, t->data, t->nbytes);
            for (size_t i = 0; i < t->nbytes / sizeof(float) && s == VLM_STATUS_OK; i++)
                if (!isfinite(out->emb[i])) s = bad(path, "a non-finite embedding value");
        }
    }
    cJSON_Delete(j);
    cJSON_Delete(meta);
    vlm_safetensors_close(st);
    if (s != VLM_STATUS_OK) vlm_index_free(out);
    return s;
}

// ---- writing ----------------------------------------------------------------------------------------
static cJSON * file_id_json(cJSON * o, const struct vlm_index_file * f) {
    cJSON_AddNumberToObject(o, "size", (double)f->size);
    cJSON_AddNumberToObject(o, "mtime", (double)f->mtime);
    cJSON_AddNumberToObject(o, "mtime_ns", (double)f->mtime_ns);
    cJSON_AddStringToObject(o, "sha256", f->sha256);
    return o;
}

enum vlm_status vlm_index_write(const char * path, const struct vlm_index * ix) {
    cJSON * j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "version", VLM_INDEX_VERSION);
    cJSON_AddStringToObject(j, "root", ix->root);
    cJSON * m = file_id_json(cJSON_AddObjectToObject(j, "model"), &ix->model.id);
    cJSON_AddStringToObject(m, "name", ix->model.name);
    cJSON_AddStringToObject(m, "file", ix->model.file);
    cJSON_AddNumberToObject(m, "embed_dim", ix->model.embed_dim);
    cJSON_AddNumberToObject(m, "image_size", ix->model.image_size);
    cJSON * es = cJSON_AddArrayToObject(j, "entries");
    for (int32_t i = 0; es && i < ix->n; i++) {
        cJSON * e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "path", ix->entries[i].path);
        cJSON_AddItemToArray(es, file_id_json(e, &ix->entries[i].id));
    }
    char * text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!text) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
    const char * meta[] = { "format", VLM_INDEX_FORMAT, VLM_INDEX_META_KEY, text, NULL };
    int32_t d = ix->model.embed_dim;
    struct vlm_file_tensor t = { .name = "embeddings", .dtype = VLM_DTYPE_F32, .n_dims = 2, .shape = { ix->n, d },
                                 .data = ix->emb, .nbytes = sizeof(float) * (size_t)ix->n * (size_t)d, .gguf_type = -1 };
    enum vlm_status s = vlm_safetensors_write_meta(path, &t, 1, meta);
    free(text);
    return s;
}

// ---- the model -------------------------------------------------------------------------------------
struct vlm_model * vlm_index_load_model(const char * cmd, const struct vlm_index * ix, const char * index_path,
                                        const char * model_arg, const struct vlm_model_params * params,
                                        struct vlm_index_model * id) {
    memset(id, 0, sizeof *id);
    char buf[PATH_MAX], abs[PATH_MAX];
    const char * name = model_arg;
    if (!model_arg && ix) {   // the index's own model
        if (access(ix->model.file, R_OK) != 0) {
            cli_fail(cmd, "%s: its model %s (%s) is not readable (%s); give the model with -m", index_path,
                     ix->model.name, ix->model.file, strerror(errno));
            return NULL;
        }
        snprintf(buf, sizeof buf, "%s", ix->model.file);
        name = ix->model.name;
    } else if (!cli_resolve_model(cmd, "-m", model_arg, "embed", "model", buf, sizeof buf)) {   // embed's default: CLIP
        return NULL;
    }
    if (!name) name = buf;
    struct vlm_model * m = vlm_load_clip(cmd, buf, params);
    if (!m) return NULL;
    // m->src.path: the weights file of a folder
    bool same_file = ix && realpath(m->src.path, abs) && !strcmp(abs, ix->model.file);
    if (!realpath(m->src.path, abs) || !vlm_index_file_id(abs, same_file ? &ix->model.id : NULL, &id->id)) {
        cli_fail(cmd, "%s: cannot read: %s", m->src.path, strerror(errno));
        vlm_model_free(m);
        return NULL;
    }
    id->embed_dim = vlm_clip_embed_dim(m), id->image_size = vlm_clip_image_size(m);
    id->name = strdup(name), id->file = strdup(abs);
    if (!id->name || !id->file) {
        cli_fail(cmd, "out of memory");
        vlm_index_model_free(id), vlm_model_free(m);
        return NULL;
    }
    if (ix && (strcmp(id->id.sha256, ix->model.id.sha256) || id->embed_dim != ix->model.embed_dim)) {
        cli_fail(cmd, "%s was built with the model %s (%s, sha256 %.12s..., dim %d), not with %s (%s, sha256 %.12s..., "
                      "dim %d): give the index's model (or none: the index names it), or index into another --out",
                 index_path, ix->model.name, ix->model.file, ix->model.id.sha256, (int)ix->model.embed_dim, id->name,
                 id->file, id->id.sha256, (int)id->embed_dim);
        vlm_index_model_free(id), vlm_model_free(m);
        return NULL;
    }
    return m;
}

// ---- search ---------------------------------------------------------------------------------------------
int32_t vlm_index_top(const struct vlm_index * ix, const float * q, int32_t k, int32_t * idx, float * score) {
    int32_t d = ix->model.embed_dim, got = 0;
    if (k > ix->n) k = ix->n;
    for (int32_t i = 0; i < ix->n && k > 0; i++) {
        const float * e = ix->emb + (size_t)i * d;
        float acc[8] = { 0 }, s = 0;   // 8 partial sums: a vectorizable reduction
        int32_t j = 0;
        for (; j + 8 <= d; j += 8)
            for (int32_t k = 0; k < 8; k++) acc[k] += e[j + k] * q[j + k];
        for (; j < d; j++) s += e[j] * q[j];
        for (int32_t k = 0; k < 8; k++) s += acc[k];
        if (got == k && s <= score[k - 1]) continue;
        // insertion into the sorted best-k list (k is small)
        int32_t p = got < k ? got++ : k - 1;
        while (p > 0 && score[p - 1] < s) {
            score[p] = score[p - 1], idx[p] = idx[p - 1];
            p--;
        }
        score[p] = s, idx[p] = i;
    }
    return k;
}
