// safetensors.c — strict safetensors reader (mmap'd) and atomic writer.
//
// File layout (ref: huggingface/safetensors README "Format", safetensors/src/tensor.rs):
//   8 bytes   N, little-endian u64: the header size
//   N bytes   a JSON object {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...,
//             "__metadata__": {"key": "value"}}, padded with spaces to a multiple of 8 bytes
//   rest      the byte buffer; offsets are relative to its start, and the tensors must tile it
//             exactly (contiguous, non-overlapping, no gap, nothing after the last one).
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model-file.h"
#include "name-table.h"

// ---- dtypes ----

static bool dtype_from_string(const char * s, enum vlm_dtype * out) {
    static const struct { const char * name; enum vlm_dtype dtype; } map[] = {
        { "F32", VLM_DTYPE_F32 }, { "F16", VLM_DTYPE_F16 }, { "BF16", VLM_DTYPE_BF16 },
        { "I32", VLM_DTYPE_I32 }, { "U8", VLM_DTYPE_U8 }, { "I64", VLM_DTYPE_I64 },
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (strcmp(s, map[i].name) == 0) { *out = map[i].dtype; return true; }
    return false;
}

static const char * dtype_to_string(enum vlm_dtype d) {
    switch (d) {
        case VLM_DTYPE_F32:  return "F32";
        case VLM_DTYPE_F16:  return "F16";
        case VLM_DTYPE_BF16: return "BF16";
        case VLM_DTYPE_I32:  return "I32";
        case VLM_DTYPE_U8:   return "U8";
        case VLM_DTYPE_I64:  return "I64";
        default:             return NULL;
    }
}

static size_t st_dtype_size(enum vlm_dtype d) {
    switch (d) {
        case VLM_DTYPE_F32: case VLM_DTYPE_I32: return 4;
        case VLM_DTYPE_F16: case VLM_DTYPE_BF16: return 2;
        case VLM_DTYPE_U8: return 1;
        case VLM_DTYPE_I64: return 8;
        default: return 0;
    }
}

// dtypes of the safetensors spec that this reader does not load.
static bool dtype_is_known_unsupported(const char * s) {
    static const char * const names[] = { "BOOL", "U16", "I8", "I16", "U32", "U64", "F64",
                                          "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2",
                                          "C64" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(s, names[i]) == 0) return true;
    return false;
}

// ---- name index (kept in the private `names` block: int32 slots, then the name bytes) ----

static const char * tensor_name_of(const void * items, int32_t i) {
    return ((const struct vlm_file_tensor *)items)[i].name;
}

static int32_t * st_slots(const struct vlm_safetensors * st) { return (int32_t *)st->names; }

const struct vlm_file_tensor * vlm_safetensors_find(const struct vlm_safetensors * st, const char * name) {
    if (!st || !name || st->n_tensors == 0) return NULL;
    uint32_t n_slots = vlm_name_table_slots(st->n_tensors);
    int32_t i = vlm_name_table_find(st_slots(st), n_slots, name, tensor_name_of, st->tensors);
    return i >= 0 ? &st->tensors[i] : NULL;
}

void vlm_safetensors_close(struct vlm_safetensors * st) {
    if (!st) return;
    if (st->map) munmap(st->map, st->map_size);
    for (int32_t i = 0; i < st->n_owned; i++) free(st->owned[i]);
    free(st->owned);
    free(st->tensors);
    free(st->names);
    free(st->metadata_json);
    free(st);
}

// ---- reader ----

// A JSON number that is a non-negative integer exactly representable in a double.
static bool json_u64(const cJSON * item, uint64_t * out) {
    if (!cJSON_IsNumber(item)) return false;
    double v = item->valuedouble;
    if (!(v >= 0.0) || v >= 9007199254740992.0 || v != (double)(uint64_t)v) return false;
    *out = (uint64_t)v;
    return true;
}

static void shape_str(const struct vlm_file_tensor * t, char * out, size_t size) {
    size_t n = (size_t)snprintf(out, size, "[");
    for (int32_t i = 0; i < t->n_dims && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%" PRId64, i ? ", " : "", t->shape[i]);
    if (n < size) snprintf(out + n, size - n, "]");
}

enum vlm_status vlm_model_file_map(const char * path, void ** map, size_t * size) {
    *map = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return vlm_error(VLM_STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    enum vlm_status status = VLM_STATUS_OK;
    if (fstat(fd, &sb) != 0) {
        status = vlm_error(VLM_STATUS_IO, "%s: cannot stat: %s", path, strerror(errno));
    } else if (!S_ISREG(sb.st_mode)) {
        status = vlm_error(VLM_STATUS_IO, "%s: not a regular file", path);
    } else if (sb.st_size > 0) {
        void * m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
            status = vlm_error(VLM_STATUS_IO, "%s: cannot map %zu bytes: %s", path, (size_t)sb.st_size, strerror(errno));
        else
            *map = m, *size = (size_t)sb.st_size;
    }
    close(fd);
    return status;
}

struct st_span { size_t begin, end; int32_t index; };

static int span_cmp(const void * a, const void * b) {
    const struct st_span * x = a, * y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

enum vlm_status vlm_safetensors_open(const char * path, struct vlm_safetensors ** out) {
    if (!out) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_safetensors_open: out is NULL");
    *out = NULL;
    if (!path) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_safetensors_open: path is NULL");

    enum vlm_status status = VLM_STATUS_BAD_MODEL;
    struct vlm_safetensors * st = NULL;
    cJSON * root = NULL;
    struct st_span * spans = NULL;
    st = calloc(1, sizeof *st);
    if (!st) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
    if ((status = vlm_model_file_map(path, &st->map, &st->map_size)) != VLM_STATUS_OK) goto fail;
    size_t file_size = st->map_size;
    if (file_size < 8) {
        status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: file is too small to be a safetensors file (%zu bytes, "
                           "the header length alone takes 8)", path, file_size);
        goto fail;
    }

    // header length
    const uint8_t * base = st->map;
    uint64_t n_header = 0;
    for (int i = 7; i >= 0; i--) n_header = (n_header << 8) | base[i];
    const uint64_t max_header = vlm_model_file_max_header();
    if (n_header > max_header) {
        status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: header length %" PRIu64 " exceeds the limit of %" PRIu64 " bytes "
                           "(file is %zu bytes)", path, n_header, max_header, file_size);
        goto fail;
    }
    if (n_header > file_size - 8) {
        status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: header length %" PRIu64 " is past the end of the file "
                           "(%zu bytes after the length field)", path, n_header, file_size - 8);
        goto fail;
    }
    if (n_header < 2) {
        status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: header length %" PRIu64 " is too small for a JSON object",
                           path, n_header);
        goto fail;
    }
    const char * header = (const char *)base + 8;
    const uint8_t * data = base + 8 + n_header;
    size_t data_size = file_size - 8 - (size_t)n_header;

    // the header: one JSON object, then only whitespace (the writer pads with spaces)
    if (header[0] != '{') {
        status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: header does not start with '{' (not a JSON object)", path);
        goto fail;
    }
    const char * end = NULL;
    root = cJSON_ParseWithLengthOpts(header, (size_t)n_header, &end, 0);
    if (!root) {
        const char * at = end;   // cJSON sets it to the error position on failure
        size_t pos = at && at >= header && at <= header + n_header ? (size_t)(at - header) : 0;
        status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: header is not valid JSON (error near byte %zu of %" PRIu64 ")",
                           path, pos, n_header);
        goto fail;
    }
    for (const char * p = end; p < header + n_header; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: unexpected bytes after the header's JSON object "
                               "(at byte %zu of %" PRIu64 ")", path, (size_t)(p - header), n_header);
            goto fail;
        }
    }
    if (!cJSON_IsObject(root)) {
        status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: header is not a JSON object", path);
        goto fail;
    }

    // count tensors and their name bytes
    size_t n = 0, name_bytes = 0;
    for (const cJSON * e = root->child; e; e = e->next) {
        if (!e->string) { status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: header entry without a name", path); goto fail; }
        if (strcmp(e->string, "__metadata__") == 0) continue;
        n++;
        name_bytes += strlen(e->string) + 1;   // bounded by the header size
    }
    if (n > (size_t)INT32_MAX / 4) {
        status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: too many tensors (%zu)", path, n);
        goto fail;
    }
    uint32_t n_slots = vlm_name_table_slots((int32_t)n);
    size_t slot_bytes = (size_t)n_slots * sizeof(int32_t);
    st->tensors = calloc(n ? n : 1, sizeof *st->tensors);
    st->names = malloc(slot_bytes + name_bytes + 1);
    spans = malloc((n ? n : 1) * sizeof *spans);
    if (!st->tensors || !st->names || !spans) {
        status = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory for %zu tensors", path, n);
        goto fail;
    }
    memset(st->names, 0xff, slot_bytes);   // all slots -1
    char * name_at = st->names + slot_bytes;

    int32_t k = 0;
    bool have_metadata = false;
    for (const cJSON * e = root->child; e; e = e->next) {
        const char * name = e->string;
        if (strcmp(name, "__metadata__") == 0) {
            if (have_metadata) {
                status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: duplicate \"__metadata__\" entry", path);
                goto fail;
            }
            have_metadata = true;
            if (!cJSON_IsObject(e)) {
                status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: \"__metadata__\" is not a JSON object", path);
                goto fail;
            }
            for (const cJSON * m = e->child; m; m = m->next) {
                if (!cJSON_IsString(m)) {
                    status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: \"__metadata__\" value of '%s' is not a string",
                                       path, m->string ? m->string : "");
                    goto fail;
                }
            }
            st->metadata_json = cJSON_PrintUnformatted(e);
            if (!st->metadata_json) {
                status = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
                goto fail;
            }
            continue;
        }
        struct vlm_file_tensor * t = &st->tensors[k];
        size_t len = strlen(name);
        memcpy(name_at, name, len + 1);
        t->name = name_at;
        name_at += len + 1;
        t->gguf_type = -1;

        int32_t dup = vlm_name_table_insert(st_slots(st), n_slots, t->name, k, tensor_name_of, st->tensors);
        if (dup >= 0) {
            status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: duplicate tensor name '%s'", path, name);
            goto fail;
        }
        if (!cJSON_IsObject(e)) {
            status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: tensor '%s' entry is not a JSON object", path, name);
            goto fail;
        }
        // dtype
        const cJSON * jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        if (!cJSON_IsString(jd)) {
            status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: tensor '%s' has no \"dtype\" string", path, name);
            goto fail;
        }
        if (!dtype_from_string(jd->valuestring, &t->dtype)) {
            if (dtype_is_known_unsupported(jd->valuestring))
                status = vlm_error(VLM_STATUS_UNSUPPORTED, "%s: tensor '%s' has unsupported dtype %s "
                                   "(supported: F32, F16, BF16, I32, U8, I64)", path, name, jd->valuestring);
            else
                status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: tensor '%s' has unknown dtype \"%.32s\"",
                                   path, name, jd->valuestring);
            goto fail;
        }
        // shape
        const cJSON * js = cJSON_GetObjectItemCaseSensitive(e, "shape");
        if (!cJSON_IsArray(js)) {
            status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: tensor '%s' has no \"shape\" array", path, name);
            goto fail;
        }
        int n_dims = cJSON_GetArraySize(js);
        if (n_dims > VLM_FILE_MAX_DIMS) {
            status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: tensor '%s' has %d dims (max %d)", path, name, n_dims,
                               VLM_FILE_MAX_DIMS);
            goto fail;
        }
        t->n_dims = n_dims;
        size_t numel = 1;
        bool overflow = false;
        int d = 0;
        for (const cJSON * v = js->child; v; v = v->next, d++) {
            uint64_t dim;
            if (!json_u64(v, &dim) || dim > (uint64_t)INT64_MAX) {
                status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: tensor '%s' shape entry %d is not a non-negative "
                                   "integer below 2^53", path, name, d);
                goto fail;
            }
            t->shape[d] = (int64_t)dim;
            if (!vlm_mul_size(numel, (size_t)dim, &numel)) overflow = true;
        }
        size_t nbytes = 0;
        if (overflow || !vlm_mul_size(numel, st_dtype_size(t->dtype), &nbytes)) {
            char s[256];
            shape_str(t, s, sizeof s);
            status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: tensor '%s' shape %s x %s overflows 64 bits", path, name, s,
                               jd->valuestring);
            goto fail;
        }
        // data_offsets
        const cJSON * jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        uint64_t b = 0, en = 0;
        if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 || !json_u64(jo->child, &b) ||
            !json_u64(jo->child->next, &en)) {
            status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: tensor '%s' has no valid \"data_offsets\" "
                               "(need [begin, end] non-negative integers)", path, name);
            goto fail;
        }
        if (b > en) {
            status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: tensor '%s' data_offsets [%" PRIu64 ", %" PRIu64 "] "
                               "end before begin", path, name, b, en);
            goto fail;
        }
        if (en > data_size) {
            status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: tensor '%s' data_offsets [%" PRIu64 ", %" PRIu64 "] past "
                               "the end of the file (%zu bytes of data)", path, name, b, en, data_size);
            goto fail;
        }
        if (en - b != nbytes) {
            char s[256];
            shape_str(t, s, sizeof s);
            status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: tensor '%s' is %s %s = %zu bytes but data_offsets "
                               "[%" PRIu64 ", %" PRIu64 "] hold %" PRIu64 " bytes", path, name, jd->valuestring, s,
                               nbytes, b, en, en - b);
            goto fail;
        }
        t->data = data + b;
        t->nbytes = nbytes;
        spans[k] = (struct st_span){ (size_t)b, (size_t)en, k };
        k++;
    }
    st->n_tensors = k;

    // the tensors must tile the byte buffer exactly
    qsort(spans, (size_t)k, sizeof *spans, span_cmp);
    size_t at = 0;
    for (int32_t i = 0; i < k; i++) {
        const struct st_span * s = &spans[i];
        if (s->begin < at) {
            const struct st_span * p = &spans[i - 1];
            status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: tensors '%s' [%zu, %zu] and '%s' [%zu, %zu] overlap", path,
                               st->tensors[p->index].name, p->begin, p->end, st->tensors[s->index].name, s->begin,
                               s->end);
            goto fail;
        }
        if (s->begin > at) {
            if (i == 0)
                status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: gap of %zu bytes before the first tensor '%s' "
                                   "(data_offsets must start at 0)", path, s->begin, st->tensors[s->index].name);
            else
                status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: gap of %zu bytes between tensor '%s' (ends at %zu) and "
                                   "'%s' (begins at %zu); tensors must be contiguous", path, s->begin - at,
                                   st->tensors[spans[i - 1].index].name, at, st->tensors[s->index].name, s->begin);
            goto fail;
        }
        at = s->end;
    }
    if (at != data_size) {
        status = vlm_error(VLM_STATUS_BAD_MODEL, "%s: %zu bytes after the last tensor (data ends at %zu, file has "
                           "%zu bytes of data)", path, data_size - at, at, data_size);
        goto fail;
    }

    free(spans);
    cJSON_Delete(root);
    *out = st;
    return VLM_STATUS_OK;
fail:
    free(spans);
    cJSON_Delete(root);
    vlm_safetensors_close(st);
    return status;
}

// ---- writer ----

struct strbuf { char * p; size_t n, cap; bool oom; };

static void sb_put(struct strbuf * b, const char * s, size_t len) {
    if (b->oom) return;
    size_t need, cap;
    if (!vlm_add_size(b->n, len, &need) || !vlm_add_size(need, 1, &need)) { b->oom = true; return; }
    if (need > b->cap) {
        if (!vlm_grow_size(b->cap, need, 256, &cap)) { b->oom = true; return; }
        char * p = realloc(b->p, cap);
        if (!p) { b->oom = true; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = 0;
}

static void sb_puts(struct strbuf * b, const char * s) { sb_put(b, s, strlen(s)); }

static void sb_json_string(struct strbuf * b, const char * s) {
    sb_put(b, "\"", 1);
    for (const unsigned char * p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"') sb_put(b, "\\\"", 2);
        else if (*p == '\\') sb_put(b, "\\\\", 2);
        else if (*p < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", *p); sb_put(b, esc, 6); }
        else sb_put(b, (const char *)p, 1);
    }
    sb_put(b, "\"", 1);
}

enum vlm_status vlm_safetensors_write(const char * path, const struct vlm_file_tensor * tensors, int32_t n) {
    return vlm_safetensors_write_meta(path, tensors, n, NULL);
}

enum vlm_status vlm_safetensors_write_meta(const char * path, const struct vlm_file_tensor * tensors, int32_t n,
                                           const char * const * meta) {
    if (!path) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_safetensors_write: path is NULL");
    if (n < 0 || (n > 0 && !tensors))
        return vlm_error(VLM_STATUS_INVALID_ARG, "%s: invalid tensor list (%d tensors)", path, n);

    enum vlm_status status = VLM_STATUS_OK;
    struct strbuf hb = { 0 };
    int32_t * slots = NULL;

    uint32_t n_slots = vlm_name_table_slots(n);
    slots = n_slots ? malloc((size_t)n_slots * sizeof *slots) : NULL;
    if (!slots) { status = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path); goto fail; }
    memset(slots, 0xff, (size_t)n_slots * sizeof *slots);

    // header: {"__metadata__":{"key":"value",...},"name":{"dtype":"F32","shape":[..],"data_offsets":[b,e]},...}
    // in the given order
    sb_puts(&hb, "{");
    if (meta && meta[0]) {
        sb_puts(&hb, "\"__metadata__\":{");
        for (size_t k = 0; meta[k]; k += 2) {
            if (!meta[k + 1]) { status = vlm_error(VLM_STATUS_INVALID_ARG, "%s: metadata key '%s' has no value", path, meta[k]); goto fail; }
            if (k) sb_puts(&hb, ",");
            sb_json_string(&hb, meta[k]);
            sb_puts(&hb, ":");
            sb_json_string(&hb, meta[k + 1]);
        }
        sb_puts(&hb, n ? "}," : "}");
    }
    size_t offset = 0;
    for (int32_t i = 0; i < n; i++) {
        const struct vlm_file_tensor * t = &tensors[i];
        const char * dname = (unsigned)t->dtype < VLM_DTYPE_COUNT ? dtype_to_string(t->dtype) : NULL;
        if (!t->name || !dname || t->n_dims < 0 || t->n_dims > VLM_FILE_MAX_DIMS || (t->nbytes > 0 && !t->data)) {
            status = vlm_error(VLM_STATUS_INVALID_ARG, "%s: tensor %d ('%s') has no name, an unsupported dtype, "
                               "bad dims or no data", path, i, t->name ? t->name : "");
            goto fail;
        }
        if (strcmp(t->name, "__metadata__") == 0) {
            status = vlm_error(VLM_STATUS_INVALID_ARG, "%s: '__metadata__' is not a valid tensor name", path);
            goto fail;
        }
        if (vlm_name_table_insert(slots, n_slots, t->name, i, tensor_name_of, tensors) >= 0) {
            status = vlm_error(VLM_STATUS_INVALID_ARG, "%s: duplicate tensor name '%s'", path, t->name);
            goto fail;
        }
        size_t numel = 1, nbytes = 0;
        bool ok = true;
        for (int32_t d = 0; d < t->n_dims; d++)
            ok = ok && t->shape[d] >= 0 && vlm_mul_size(numel, (size_t)t->shape[d], &numel);
        if (!ok || !vlm_mul_size(numel, st_dtype_size(t->dtype), &nbytes) || nbytes != t->nbytes) {
            status = vlm_error(VLM_STATUS_INVALID_ARG, "%s: tensor '%s': nbytes %zu does not match its dtype and shape",
                               path, t->name, t->nbytes);
            goto fail;
        }
        char num[64];
        if (i) sb_puts(&hb, ",");
        sb_json_string(&hb, t->name);
        sb_puts(&hb, ":{\"dtype\":\"");
        sb_puts(&hb, dname);
        sb_puts(&hb, "\",\"shape\":[");
        for (int32_t d = 0; d < t->n_dims; d++) {
            snprintf(num, sizeof num, "%s%" PRId64, d ? "," : "", t->shape[d]);
            sb_puts(&hb, num);
        }
        size_t next;
        if (!vlm_add_size(offset, nbytes, &next)) {
            status = vlm_error(VLM_STATUS_INVALID_ARG, "%s: total data size overflows", path);
            goto fail;
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%zu,%zu]}", offset, next);
        sb_puts(&hb, num);
        offset = next;
    }
    sb_puts(&hb, "}");
    // ref: safetensors/src/tensor.rs prepare(): pad the header with spaces to a multiple of 8
    while (!hb.oom && hb.n % 8 != 0) sb_puts(&hb, " ");
    if (hb.oom) { status = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory for the header", path); goto fail; }
    if (hb.n > VLM_MODEL_DEFAULT_MAX_HEADER) {
        status = vlm_error(VLM_STATUS_INVALID_ARG, "%s: header of %zu bytes exceeds the limit of %" PRIu64, path, hb.n,
                           VLM_MODEL_DEFAULT_MAX_HEADER);
        goto fail;
    }

    struct vlm_atomic_file af;
    if ((status = vlm_atomic_open(&af, path)) != VLM_STATUS_OK) goto fail;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)hb.n >> (8 * i));
    bool ok = fwrite(len8, 1, 8, af.f) == 8 && fwrite(hb.p, 1, hb.n, af.f) == hb.n;
    for (int32_t i = 0; ok && i < n; i++) ok = fwrite(tensors[i].data, 1, tensors[i].nbytes, af.f) == tensors[i].nbytes;
    if ((status = vlm_atomic_commit(&af, ok)) != VLM_STATUS_OK) goto fail;
    free(slots);
    free(hb.p);
    return VLM_STATUS_OK;
fail:
    free(slots);
    free(hb.p);
    return status;
}
