// gguf.c — strict GGUF (v2/v3) reader, mmap'd, as llama.cpp writes it.
//
// ref: ggml-org/ggml docs/gguf.md ("File Structure"), ggml/src/gguf.cpp gguf_init_from_file_impl
//   u32 magic "GGUF", u32 version, u64 tensor_count, u64 metadata_kv_count,
//   kv pairs: string key, u32 value type, value (arrays: u32 element type, u64 count, elements),
//   tensor infos: string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset,
//   padding to general.alignment (default 32), then the tensor data (offsets relative to it).
//   Strings are u64 length + bytes (no NUL). Everything little-endian.
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf-meta.h"
#include "model-file.h"
#include "name-table.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf.c assumes a little-endian host"
#endif

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS          4    // GGML_MAX_DIMS
#define GGUF_MAX_ARRAY_DEPTH   8

struct gguf_kv {
    char *          key;        // NUL-terminated copy
    uint32_t        type;       // enum vlm_gguf_type
    uint32_t        arr_type;   // element type of arrays
    uint64_t        n;          // array length
    const uint8_t * data;       // the value's bytes in the map (arrays: the first element)
    char *          str;        // STRING: NUL-terminated copy
    uint64_t *      str_offs;   // STRING arrays: offset of each element's length field from data
    size_t          rec_begin, rec_end;   // the whole record (key, type, value) in the file
};

struct vlm_gguf {
    const char *             path;
    void *                   map;
    size_t                   map_size;
    uint32_t                 version;
    uint32_t                 alignment;
    int64_t                  n_kv;
    struct gguf_kv *         kv;
    int32_t *                kv_slots;
    uint32_t                 kv_n_slots;
    int32_t                  n_tensors;
    struct vlm_file_tensor * tensors;
    char **                  tensor_names;
    int32_t *                t_slots;
    uint32_t                 t_n_slots;
    char *                   path_copy;
};

const char * vlm_gguf_type_name(int32_t t) {
    const struct vlm_ggml_type * gt = vlm_ggml_type(t);
    return gt ? gt->name : "?";
}

static const char * value_type_name(uint32_t t) {
    static const char * const names[] = { "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
                                          "bool", "string", "array", "uint64", "int64", "float64" };
    return t < VLM_GGUF_TYPE_COUNT ? names[t] : "?";
}

// Byte size of a fixed-size value type; 0 for string / array / unknown.
static size_t value_type_size(uint32_t t) {
    switch (t) {
        case VLM_GGUF_TYPE_UINT8: case VLM_GGUF_TYPE_INT8: case VLM_GGUF_TYPE_BOOL: return 1;
        case VLM_GGUF_TYPE_UINT16: case VLM_GGUF_TYPE_INT16: return 2;
        case VLM_GGUF_TYPE_UINT32: case VLM_GGUF_TYPE_INT32: case VLM_GGUF_TYPE_FLOAT32: return 4;
        case VLM_GGUF_TYPE_UINT64: case VLM_GGUF_TYPE_INT64: case VLM_GGUF_TYPE_FLOAT64: return 8;
        default: return 0;
    }
}

// ---- bounded reader ----

// size: where the header may end (the file's size, or the header limit when smaller).
struct rd {
    const uint8_t * p;
    size_t          size, pos, file_size;
    const char *    path;
};

// A read of n bytes at r->pos that does not fit r->size: true (error recorded) when it would
// fit in the file, i.e. the header limit was hit rather than the end of the file.
static bool rd_over_limit(const struct rd * r, uint64_t n, const char * what) {
    if (r->size >= r->file_size || n > r->file_size - r->pos) return false;
    vlm_error(VLM_STATUS_BAD_MODEL, "%s: header over the limit of %zu bytes (%s at offset %zu needs %" PRIu64 " bytes)",
              r->path, r->size, what, r->pos, n);
    return true;
}

static bool rd_need(struct rd * r, size_t n, const char * what) {
    if (n > r->size - r->pos) {
        if (rd_over_limit(r, n, what)) return false;
        vlm_error(VLM_STATUS_BAD_MODEL, "%s: file truncated: %s needs %zu bytes at offset %zu but the file has %zu",
                  r->path, what, n, r->pos, r->size);
        return false;
    }
    return true;
}

static bool rd_u32(struct rd * r, uint32_t * v, const char * what) {
    if (!rd_need(r, 4, what)) return false;
    memcpy(v, r->p + r->pos, 4);
    r->pos += 4;
    return true;
}

static bool rd_u64(struct rd * r, uint64_t * v, const char * what) {
    if (!rd_need(r, 8, what)) return false;
    memcpy(v, r->p + r->pos, 8);
    r->pos += 8;
    return true;
}

// A string: *s points at its bytes in the map.
static bool rd_str(struct rd * r, const char ** s, uint64_t * len, const char * what) {
    uint64_t n;
    if (!rd_u64(r, &n, what)) return false;
    if (n > r->size - r->pos) {
        if (rd_over_limit(r, n, what)) return false;
        vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s has length %" PRIu64 " at offset %zu, past the end of the file "
                  "(%zu bytes)", r->path, what, n, r->pos - 8, r->size);
        return false;
    }
    *s = (const char *)r->p + r->pos;
    *len = n;
    r->pos += (size_t)n;
    return true;
}

static char * dup_str(const char * s, uint64_t len) {
    char * p = malloc((size_t)len + 1);
    if (!p) return NULL;
    memcpy(p, s, (size_t)len);
    p[len] = 0;
    return p;
}

// Skips (validates) a value of the given type; depth counts array nesting.
static bool skip_value(struct rd * r, uint32_t type, int depth, const char * key) {
    size_t sz = value_type_size(type);
    if (sz) return rd_need(r, sz, "a metadata value") && (r->pos += sz, true);
    if (type == VLM_GGUF_TYPE_STRING) {
        const char * s;
        uint64_t len;
        return rd_str(r, &s, &len, "a metadata string");
    }
    if (type == VLM_GGUF_TYPE_ARRAY) {
        if (depth >= GGUF_MAX_ARRAY_DEPTH) {
            vlm_error(VLM_STATUS_BAD_MODEL, "%s: metadata '%s': arrays nested deeper than %d", r->path, key,
                      GGUF_MAX_ARRAY_DEPTH);
            return false;
        }
        uint32_t et;
        uint64_t n;
        if (!rd_u32(r, &et, "an array type") || !rd_u64(r, &n, "an array length")) return false;
        size_t esz = value_type_size(et);
        size_t min = esz ? esz : et == VLM_GGUF_TYPE_STRING ? 8 : et == VLM_GGUF_TYPE_ARRAY ? 12 : 0;
        if (min == 0) {
            vlm_error(VLM_STATUS_BAD_MODEL, "%s: metadata '%s': array of unknown type %" PRIu32, r->path, key, et);
            return false;
        }
        if (n > (r->size - r->pos) / min) {
            uint64_t bytes;
            if (rd_over_limit(r, __builtin_mul_overflow(n, (uint64_t)min, &bytes) ? UINT64_MAX : bytes, "an array"))
                return false;
            vlm_error(VLM_STATUS_BAD_MODEL, "%s: metadata '%s': array of %" PRIu64 " %s elements does not fit in the "
                      "%zu bytes left in the file", r->path, key, n, value_type_name(et), r->size - r->pos);
            return false;
        }
        if (esz) { r->pos += (size_t)n * esz; return true; }
        for (uint64_t i = 0; i < n; i++)
            if (!skip_value(r, et, depth + 1, key)) return false;
        return true;
    }
    vlm_error(VLM_STATUS_BAD_MODEL, "%s: metadata '%s' has unknown value type %" PRIu32, r->path, key, type);
    return false;
}

// ---- lookups ----

static const char * kv_name_of(const void * items, int32_t i) { return ((const struct gguf_kv *)items)[i].key; }
static const char * t_name_of(const void * items, int32_t i) { return ((const struct vlm_file_tensor *)items)[i].name; }

static const struct gguf_kv * find_kv(const struct vlm_gguf * g, const char * key) {
    if (!g || !key) return NULL;
    int32_t i = vlm_name_table_find(g->kv_slots, g->kv_n_slots, key, kv_name_of, g->kv);
    return i >= 0 ? &g->kv[i] : NULL;
}

int32_t vlm_gguf_n_tensors(const struct vlm_gguf * g) { return g ? g->n_tensors : 0; }
int64_t vlm_gguf_n_kv(const struct vlm_gguf * g) { return g ? g->n_kv : 0; }
uint32_t vlm_gguf_version(const struct vlm_gguf * g) { return g ? g->version : 0; }
uint32_t vlm_gguf_alignment(const struct vlm_gguf * g) { return g ? g->alignment : 0; }

const struct vlm_file_tensor * vlm_gguf_tensor(const struct vlm_gguf * g, int32_t i) {
    return g && i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const struct vlm_file_tensor * vlm_gguf_find(const struct vlm_gguf * g, const char * name) {
    if (!g || !name) return NULL;
    int32_t i = vlm_name_table_find(g->t_slots, g->t_n_slots, name, t_name_of, g->tensors);
    return i >= 0 ? &g->tensors[i] : NULL;
}

bool vlm_gguf_get_str(const struct vlm_gguf * g, const char * key, const char ** out) {
    const struct gguf_kv * kv = find_kv(g, key);
    if (!kv || kv->type != VLM_GGUF_TYPE_STRING) return false;
    if (out) *out = kv->str;
    return true;
}

static bool scalar_int(uint32_t type, const uint8_t * p, int64_t * out) {
    switch (type) {
        case VLM_GGUF_TYPE_UINT8:  { uint8_t v;  memcpy(&v, p, 1); *out = v; return true; }
        case VLM_GGUF_TYPE_INT8:   { int8_t v;   memcpy(&v, p, 1); *out = v; return true; }
        case VLM_GGUF_TYPE_UINT16: { uint16_t v; memcpy(&v, p, 2); *out = v; return true; }
        case VLM_GGUF_TYPE_INT16:  { int16_t v;  memcpy(&v, p, 2); *out = v; return true; }
        case VLM_GGUF_TYPE_UINT32: { uint32_t v; memcpy(&v, p, 4); *out = v; return true; }
        case VLM_GGUF_TYPE_INT32:  { int32_t v;  memcpy(&v, p, 4); *out = v; return true; }
        case VLM_GGUF_TYPE_INT64:  { int64_t v;  memcpy(&v, p, 8); *out = v; return true; }
        case VLM_GGUF_TYPE_UINT64: {
            uint64_t v;
            memcpy(&v, p, 8);
            if (v > (uint64_t)INT64_MAX) return false;
            *out = (int64_t)v;
            return true;
        }
        default: return false;
    }
}

bool vlm_gguf_get_int(const struct vlm_gguf * g, const char * key, int64_t * out) {
    const struct gguf_kv * kv = find_kv(g, key);
    int64_t v;
    if (!kv || !scalar_int(kv->type, kv->data, &v)) return false;
    if (out) *out = v;
    return true;
}

bool vlm_gguf_get_float(const struct vlm_gguf * g, const char * key, double * out) {
    const struct gguf_kv * kv = find_kv(g, key);
    if (!kv) return false;
    if (kv->type == VLM_GGUF_TYPE_FLOAT32) {
        float v;
        memcpy(&v, kv->data, 4);
        if (out) *out = v;
        return true;
    }
    if (kv->type == VLM_GGUF_TYPE_FLOAT64) {
        double v;
        memcpy(&v, kv->data, 8);
        if (out) *out = v;
        return true;
    }
    return false;
}

bool vlm_gguf_get_bool(const struct vlm_gguf * g, const char * key, bool * out) {
    const struct gguf_kv * kv = find_kv(g, key);
    if (!kv || kv->type != VLM_GGUF_TYPE_BOOL) return false;
    if (out) *out = kv->data[0] != 0;
    return true;
}

bool vlm_gguf_get_array(const struct vlm_gguf * g, const char * key, enum vlm_gguf_type * elem_type, uint64_t * n,
                        const void ** data) {
    const struct gguf_kv * kv = find_kv(g, key);
    if (!kv || kv->type != VLM_GGUF_TYPE_ARRAY) return false;
    if (elem_type) *elem_type = (enum vlm_gguf_type)kv->arr_type;
    if (n) *n = kv->n;
    if (data) *data = value_type_size(kv->arr_type) ? kv->data : NULL;
    return true;
}

bool vlm_gguf_get_array_str(const struct vlm_gguf * g, const char * key, uint64_t i, const char ** s, size_t * len) {
    const struct gguf_kv * kv = find_kv(g, key);
    if (!kv || kv->type != VLM_GGUF_TYPE_ARRAY || kv->arr_type != VLM_GGUF_TYPE_STRING || i >= kv->n) return false;
    const uint8_t * p = kv->data + kv->str_offs[i];
    uint64_t n;
    memcpy(&n, p, 8);
    if (s) *s = (const char *)p + 8;
    if (len) *len = (size_t)n;
    return true;
}

bool vlm_gguf_kv_record(const struct vlm_gguf * g, int64_t i, const char ** key, const void ** bytes, size_t * n) {
    if (!g || i < 0 || i >= g->n_kv) return false;
    *key = g->kv[i].key;
    *bytes = (const uint8_t *)g->map + g->kv[i].rec_begin;
    *n = g->kv[i].rec_end - g->kv[i].rec_begin;
    return true;
}

void vlm_gguf_mapping(const struct vlm_gguf * g, const void ** base, size_t * size) {
    *base = g ? g->map : NULL;
    *size = g ? g->map_size : 0;
}

// ---- printing ----

static void print_string(FILE * f, const char * s, size_t len, size_t max) {
    fputc('"', f);
    for (size_t i = 0; i < len && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\x%02x", c);
        else fputc(c, f);
    }
    fputc('"', f);
    if (len > max) fprintf(f, "... (%zu bytes)", len);
}

static void print_scalar(FILE * f, uint32_t type, const uint8_t * p) {
    int64_t iv;
    if (type == VLM_GGUF_TYPE_UINT64) {
        uint64_t v;
        memcpy(&v, p, 8);
        fprintf(f, "%" PRIu64, v);
    } else if (scalar_int(type, p, &iv)) {
        fprintf(f, "%" PRId64, iv);
    } else if (type == VLM_GGUF_TYPE_FLOAT32) {
        float v;
        memcpy(&v, p, 4);
        fprintf(f, "%g", (double)v);
    } else if (type == VLM_GGUF_TYPE_FLOAT64) {
        double v;
        memcpy(&v, p, 8);
        fprintf(f, "%g", v);
    } else if (type == VLM_GGUF_TYPE_BOOL) {
        fputs(p[0] ? "true" : "false", f);
    }
}

void vlm_gguf_print_metadata(const struct vlm_gguf * g, FILE * f) {
    if (!g || !f) return;
    for (int64_t i = 0; i < g->n_kv; i++) {
        const struct gguf_kv * kv = &g->kv[i];
        fprintf(f, "%s = ", kv->key);
        if (kv->type == VLM_GGUF_TYPE_STRING) {
            print_string(f, kv->str, strlen(kv->str), 80);
        } else if (kv->type == VLM_GGUF_TYPE_ARRAY) {
            fprintf(f, "%s[%" PRIu64 "] [", value_type_name(kv->arr_type), kv->n);
            uint64_t show = kv->n < 6 ? kv->n : 5;
            size_t esz = value_type_size(kv->arr_type);
            for (uint64_t j = 0; j < show; j++) {
                if (j) fputs(", ", f);
                if (esz) print_scalar(f, kv->arr_type, kv->data + j * esz);
                else if (kv->arr_type == VLM_GGUF_TYPE_STRING) {
                    const char * s;
                    size_t len;
                    vlm_gguf_get_array_str(g, kv->key, j, &s, &len);
                    print_string(f, s, len, 40);
                } else fputs("[...]", f);
            }
            fputs(kv->n > show ? ", ...]" : "]", f);
        } else {
            print_scalar(f, kv->type, kv->data);
        }
        fputc('\n', f);
    }
}

// ---- open / close ----

void vlm_gguf_close(struct vlm_gguf * g) {
    if (!g) return;
    for (int64_t i = 0; g->kv && i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].str);
        free(g->kv[i].str_offs);
    }
    free(g->kv);
    free(g->kv_slots);
    if (g->tensor_names)
        for (int32_t i = 0; i < g->n_tensors; i++) free(g->tensor_names[i]);
    free(g->tensor_names);
    free(g->tensors);
    free(g->t_slots);
    free(g->path_copy);
    if (g->map) munmap(g->map, g->map_size);
    free(g);
}

struct span { uint64_t begin, end; int32_t index; };

static int span_cmp(const void * a, const void * b) {
    const struct span * x = a, * y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

enum vlm_status vlm_gguf_open(const char * path, struct vlm_gguf ** out) {
    if (!out) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_gguf_open: out is NULL");
    *out = NULL;
    if (!path) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_gguf_open: path is NULL");

    enum vlm_status status = VLM_STATUS_BAD_MODEL;
    struct vlm_gguf * g = NULL;
    struct span * spans = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return vlm_error(VLM_STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        status = vlm_error(VLM_STATUS_IO, "%s: not a regular file", path);
        goto fail;
    }
    size_t size = (size_t)sb.st_size;
    if (size < 24) {
        status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: file is too small to be a GGUF file (%zu bytes, the header "
                           "alone takes 24)", path, size);
        goto fail;
    }
    g = calloc(1, sizeof *g);
    if (!g || !(g->path_copy = strdup(path))) { status = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path); goto fail; }
    g->path = g->path_copy;
    g->map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (g->map == MAP_FAILED) {
        g->map = NULL;
        status = vlm_error(VLM_STATUS_IO, "%s: cannot map %zu bytes: %s", path, size, strerror(errno));
        goto fail;
    }
    g->map_size = size;
    close(fd);
    fd = -1;

    const uint64_t max_header = vlm_model_file_max_header();
    struct rd r = { .p = g->map, .size = max_header < size ? (size_t)max_header : size, .pos = 0, .file_size = size,
                    .path = path };
    if (memcmp(r.p, "GGUF", 4) != 0) {
        status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: bad magic %02x %02x %02x %02x (not a GGUF file)", path, r.p[0],
                           r.p[1], r.p[2], r.p[3]);
        goto fail;
    }
    if (r.size < 24) {
        status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: header over the limit of %zu bytes (the fixed part alone takes 24)",
                           path, r.size);
        goto fail;
    }
    r.pos = 4;
    uint64_t n_tensors, n_kv;
    rd_u32(&r, &g->version, "version");
    if (g->version != 2 && g->version != 3) {
        if ((g->version & 0xffff) == 0)
            status = vlm_error(VLM_STATUS_UNSUPPORTED, "%s: big-endian GGUF files are not supported", path);
        else
            status = vlm_error(VLM_STATUS_UNSUPPORTED, "%s: GGUF version %" PRIu32 " is not supported (need 2 or 3)",
                               path, g->version);
        goto fail;
    }
    rd_u64(&r, &n_tensors, "tensor count");
    rd_u64(&r, &n_kv, "metadata count");
    // every kv takes >= 13 bytes (key length, type, a 1-byte value), every tensor info >= 24; at most
    // 2^29 of each (int32 indexes)
    // within the header limit when it is smaller than the file
    size_t left = r.size - r.pos;
    const char * within = r.size < size ? "a header limit of" : "a file of";
    if (n_tensors > (1u << 29) || n_tensors > left / 24) {
        status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: tensor count %" PRIu64 " is impossible for %s %zu bytes",
                           path, n_tensors, within, r.size);
        goto fail;
    }
    if (n_kv > (1u << 29) || n_kv > (left - (size_t)n_tensors * 24) / 13) {
        status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: metadata count %" PRIu64 " is impossible for %s %zu bytes",
                           path, n_kv, within, r.size);
        goto fail;
    }

    // metadata
    g->kv = calloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kv);
    g->kv_n_slots = vlm_name_table_slots((int32_t)n_kv);
    g->kv_slots = malloc((size_t)g->kv_n_slots * sizeof(int32_t));
    if (!g->kv || !g->kv_slots) { status = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path); goto fail; }
    memset(g->kv_slots, 0xff, (size_t)g->kv_n_slots * sizeof(int32_t));
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    for (uint64_t i = 0; i < n_kv; i++) {
        struct gguf_kv * kv = &g->kv[i];
        const char * key;
        uint64_t key_len;
        kv->rec_begin = r.pos;
        if (!rd_str(&r, &key, &key_len, "a metadata key")) goto fail;
        if (!(kv->key = dup_str(key, key_len))) { status = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path); goto fail; }
        g->n_kv = (int64_t)i + 1;
        if (strlen(kv->key) != key_len) {
            status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: metadata key %" PRIu64 " contains a NUL byte", path, i);
            goto fail;
        }
        if (vlm_name_table_insert(g->kv_slots, g->kv_n_slots, kv->key, (int32_t)i, kv_name_of, g->kv) >= 0) {
            status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: duplicate metadata key '%s'", path, kv->key);
            goto fail;
        }
        if (!rd_u32(&r, &kv->type, "a metadata type")) goto fail;
        if (kv->type >= VLM_GGUF_TYPE_COUNT) {
            status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: metadata '%s' has unknown value type %" PRIu32, path, kv->key,
                               kv->type);
            goto fail;
        }
        if (kv->type == VLM_GGUF_TYPE_STRING) {
            const char * s;
            uint64_t len;
            if (!rd_str(&r, &s, &len, "a metadata string")) goto fail;
            kv->data = (const uint8_t *)s;
            if (!(kv->str = dup_str(s, len))) { status = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path); goto fail; }
        } else if (kv->type == VLM_GGUF_TYPE_ARRAY) {
            size_t at = r.pos;
            if (!skip_value(&r, kv->type, 0, kv->key)) goto fail;   // validates the whole array
            memcpy(&kv->arr_type, r.p + at, 4);
            memcpy(&kv->n, r.p + at + 4, 8);
            kv->data = r.p + at + 12;
            if (kv->arr_type == VLM_GGUF_TYPE_STRING) {
                // index every element for O(1) access (n <= file size / 8: validated above)
                kv->str_offs = malloc((kv->n ? (size_t)kv->n : 1) * sizeof *kv->str_offs);
                if (!kv->str_offs) { status = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path); goto fail; }
                uint64_t off = 0;
                for (uint64_t j = 0; j < kv->n; j++) {
                    uint64_t len;
                    kv->str_offs[j] = off;
                    memcpy(&len, kv->data + off, 8);
                    off += 8 + len;
                }
            }
        } else {
            kv->data = r.p + r.pos;
            if (!skip_value(&r, kv->type, 0, kv->key)) goto fail;
        }
        kv->rec_end = r.pos;
        if (strcmp(kv->key, "general.alignment") == 0) {
            uint32_t a;
            if (kv->type != VLM_GGUF_TYPE_UINT32) {
                status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: general.alignment has type %s, expected uint32", path,
                                   value_type_name(kv->type));
                goto fail;
            }
            memcpy(&a, kv->data, 4);
            if (a == 0 || (a & (a - 1)) != 0) {
                status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: general.alignment %" PRIu32 " is not a power of two", path, a);
                goto fail;
            }
            g->alignment = a;
        }
    }

    // tensor infos
    int32_t nt = (int32_t)n_tensors;
    g->tensors = calloc(nt ? (size_t)nt : 1, sizeof *g->tensors);
    g->tensor_names = calloc(nt ? (size_t)nt : 1, sizeof *g->tensor_names);
    g->t_n_slots = vlm_name_table_slots(nt);
    g->t_slots = malloc((size_t)g->t_n_slots * sizeof(int32_t));
    spans = malloc((nt ? (size_t)nt : 1) * sizeof *spans);
    if (!g->tensors || !g->tensor_names || !g->t_slots || !spans) {
        status = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory for %d tensors", path, nt);
        goto fail;
    }
    memset(g->t_slots, 0xff, (size_t)g->t_n_slots * sizeof(int32_t));
    for (int32_t i = 0; i < nt; i++) {
        struct vlm_file_tensor * t = &g->tensors[i];
        const char * name;
        uint64_t name_len;
        if (!rd_str(&r, &name, &name_len, "a tensor name")) goto fail;
        if (!(g->tensor_names[i] = dup_str(name, name_len))) { status = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path); goto fail; }
        g->n_tensors = i + 1;
        t->name = g->tensor_names[i];
        if (strlen(t->name) != name_len) {
            status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: tensor %d name contains a NUL byte", path, i);
            goto fail;
        }
        if (vlm_name_table_insert(g->t_slots, g->t_n_slots, t->name, i, t_name_of, g->tensors) >= 0) {
            status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: duplicate tensor name '%s'", path, t->name);
            goto fail;
        }
        uint32_t n_dims, type;
        if (!rd_u32(&r, &n_dims, "a tensor's n_dims")) goto fail;
        if (n_dims > GGUF_MAX_DIMS) {
            status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: tensor '%s' has n_dims %" PRIu32 " (max %d)", path, t->name,
                               n_dims, GGUF_MAX_DIMS);
            goto fail;
        }
        uint64_t ne[GGUF_MAX_DIMS] = { 1, 1, 1, 1 };
        for (uint32_t d = 0; d < n_dims; d++) {
            if (!rd_u64(&r, &ne[d], "a tensor dimension")) goto fail;
            if (ne[d] > (uint64_t)INT64_MAX) {
                status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: tensor '%s' dimension %" PRIu32 " is negative (%" PRId64 ")",
                                   path, t->name, d, (int64_t)ne[d]);
                goto fail;
            }
        }
        uint64_t offset;
        if (!rd_u32(&r, &type, "a tensor type") || !rd_u64(&r, &offset, "a tensor offset")) goto fail;
        const struct vlm_ggml_type * ti = type <= (uint32_t)INT32_MAX ? vlm_ggml_type((int32_t)type) : NULL;
        if (!ti) {
            status = vlm_error(VLM_STATUS_UNSUPPORTED, "%s: tensor '%s' has unknown ggml type %" PRIu32, path, t->name,
                               type);
            goto fail;
        }
        if (ne[0] % (uint64_t)ti->block != 0) {
            status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: tensor '%s' of type %s has a row of %" PRIu64 " values, not a "
                               "multiple of its block size %" PRId32, path, t->name, ti->name, ne[0], ti->block);
            goto fail;
        }
        size_t nbytes = (size_t)(ne[0] / (uint64_t)ti->block);
        bool ok = vlm_mul_size(nbytes, ti->block_bytes, &nbytes);
        for (int d = 1; d < GGUF_MAX_DIMS; d++) ok = ok && vlm_mul_size(nbytes, (size_t)ne[d], &nbytes);
        if (!ok) {
            status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: tensor '%s' shape [%" PRIu64 ", %" PRIu64 ", %" PRIu64 ", %"
                               PRIu64 "] (ggml order) overflows 64 bits", path, t->name, ne[0], ne[1], ne[2], ne[3]);
            goto fail;
        }
        t->gguf_type = (int32_t)type;
        t->dtype = ti->dtype;   // VLM_DTYPE_COUNT for types vlm cannot hold
        t->n_dims = (int32_t)n_dims;
        for (uint32_t d = 0; d < n_dims; d++) t->shape[d] = (int64_t)ne[n_dims - 1 - d];   // PyTorch order
        t->nbytes = nbytes;
        if (offset % g->alignment != 0) {
            status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: tensor '%s' offset %" PRIu64 " is not a multiple of the "
                               "alignment %" PRIu32, path, t->name, offset, g->alignment);
            goto fail;
        }
        spans[i] = (struct span){ offset, 0, i };
    }

    // tensor data
    size_t data_start;
    if (!vlm_align_size(r.pos, g->alignment, &data_start) || (nt > 0 && data_start > size)) {
        status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: file truncated: tensor data would start at %zu, past the end of "
                           "the file (%zu bytes)", path, r.pos, size);
        goto fail;
    }
    size_t data_size = nt > 0 ? size - data_start : 0;
    for (int32_t i = 0; i < nt; i++) {
        struct vlm_file_tensor * t = &g->tensors[i];
        uint64_t off = spans[i].begin;
        if (off > data_size || t->nbytes > data_size - off) {
            status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: tensor '%s' data [%" PRIu64 ", %" PRIu64 "] past the end of the "
                               "file (%zu bytes of data)", path, t->name, off,
                               off > UINT64_MAX - t->nbytes ? UINT64_MAX : off + (uint64_t)t->nbytes, data_size);
            goto fail;
        }
        spans[i].end = off + t->nbytes;
        t->data = (const uint8_t *)g->map + data_start + off;
    }
    qsort(spans, (size_t)nt, sizeof *spans, span_cmp);
    for (int32_t i = 1; i < nt; i++) {
        if (spans[i].begin < spans[i - 1].end) {
            status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: tensors '%s' [%" PRIu64 ", %" PRIu64 "] and '%s' [%" PRIu64 ", %"
                               PRIu64 "] overlap", path, g->tensors[spans[i - 1].index].name, spans[i - 1].begin,
                               spans[i - 1].end, g->tensors[spans[i].index].name, spans[i].begin, spans[i].end);
            goto fail;
        }
    }
    free(spans);
    *out = g;
    return VLM_STATUS_OK;
fail:
    if (fd >= 0) close(fd);
    free(spans);
    vlm_gguf_close(g);
    return status;
}
