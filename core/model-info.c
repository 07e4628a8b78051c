// model-info.c — `vlm info`: what a model file is (format, parameters, dtypes, memory needed
// as F32 on a backend); the family that claims it describes its architecture (model-family.h).
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf-meta.h"
#include "model-family.h"

#define INFO_ALIGN 256   // the weight store's per-tensor alignment (weights.c)

// ---- formatting ----

static void fmt_count(int64_t n, char * out, size_t size) {
    if (n < 1000) snprintf(out, size, "%" PRId64, n);
    else if (n < 1000000) snprintf(out, size, "%.1f K", (double)n / 1e3);
    else if (n < 1000000000) snprintf(out, size, "%.1f M", (double)n / 1e6);
    else snprintf(out, size, "%.2f B", (double)n / 1e9);
}

static void fmt_bytes(double b, char * out, size_t size) {
    if (b < 1024) snprintf(out, size, "%.0f B", b);
    else if (b < 1024.0 * 1024) snprintf(out, size, "%.1f KiB", b / 1024);
    else if (b < 1024.0 * 1024 * 1024) snprintf(out, size, "%.1f MiB", b / (1024.0 * 1024));
    else snprintf(out, size, "%.2f GiB", b / (1024.0 * 1024 * 1024));
}

static int64_t numel_of(const struct vlm_file_tensor * t) {
    int64_t n = 1;
    for (int32_t d = 0; d < t->n_dims; d++) n *= t->shape[d];   // fits: the readers checked the byte size
    return n;
}

// Totals over a tensor list; hist counts per type name.
struct info_stats {
    int64_t params;
    double  mem_f32;         // bytes once loaded (F32 copies, or as stored for GGUF)
    bool    mem_as_stored;
    int32_t n;
    struct { const char * name; int32_t count; } hist[48];
    int32_t n_hist;
};

// bytes: what the tensor takes in memory once loaded.
static void stats_add(struct info_stats * s, const struct vlm_file_tensor * t, const char * type_name, double bytes) {
    int64_t n = numel_of(t);
    s->params += n;
    s->n++;
    s->mem_f32 += (double)(((uint64_t)bytes + INFO_ALIGN - 1) / INFO_ALIGN * INFO_ALIGN);
    for (int32_t i = 0; i < s->n_hist; i++)
        if (strcmp(s->hist[i].name, type_name) == 0) { s->hist[i].count++; return; }
    if (s->n_hist < (int32_t)(sizeof s->hist / sizeof *s->hist)) {
        s->hist[s->n_hist].name = type_name;
        s->hist[s->n_hist++].count = 1;
    }
}

static void print_stats(FILE * f, const struct info_stats * s) {
    char p[32], m[32];
    fmt_count(s->params, p, sizeof p);
    fmt_bytes(s->mem_f32, m, sizeof m);
    fprintf(f, "parameters:    %s\n", p);
    fprintf(f, "tensors:       %d (", s->n);
    for (int32_t i = 0; i < s->n_hist; i++) fprintf(f, "%s%s %d", i ? ", " : "", s->hist[i].name, s->hist[i].count);
    fprintf(f, ")\n");
    fprintf(f, "%s%s\n", s->mem_as_stored ? "memory:        " : "memory (f32):  ", m);
    if (s->mem_as_stored) fprintf(f, "               (weights as stored, memory-mapped on the CPU)\n");
}

// The family's architecture lines, or why none applies.
static void describe(const struct vlm_model_source * src, FILE * f) {
    if (src->family) {
        src->family->describe(src, f);
        return;
    }
    char names[256];
    vlm_model_family_names(names, sizeof names);
    const char * arch = NULL;
    if (src->gguf && vlm_gguf_get_str(src->gguf, "general.architecture", &arch))
        fprintf(f, "architecture:  %s (not supported by vlm)\n", arch);
    else
        fprintf(f, "architecture:  unknown (not a model of vlm's families: %s)\n", names);
}

static void info_safetensors(const struct vlm_model_source * src, FILE * f) {
    const struct vlm_safetensors * st = src->file;
    struct info_stats s = { 0 };
    for (int32_t i = 0; i < st->n_tensors; i++) {
        const struct vlm_file_tensor * t = &st->tensors[i];
        bool fl = t->dtype == VLM_DTYPE_F32 || t->dtype == VLM_DTYPE_F16 || t->dtype == VLM_DTYPE_BF16;
        static const char * const names[] = { "F32", "F16", "BF16", "I32", "U8", "I64" };   // as safetensors names them
        stats_add(&s, t, (unsigned)t->dtype < sizeof names / sizeof *names ? names[t->dtype] : vlm_dtype_name(t->dtype),
                  (double)numel_of(t) * (double)(fl ? 4 : vlm_dtype_size(t->dtype)));
    }
    fprintf(f, "file:          %s\n", src->path);
    fprintf(f, "format:        %s\n", src->pytorch ? "PyTorch checkpoint (zip + pickle)" : "safetensors");
    describe(src, f);
    print_stats(f, &s);
    if (src->config) {   // the config's own name for the architecture, when it has one
        cJSON * cj = cJSON_ParseWithLength(src->config, src->config_len);
        const cJSON * a = cJSON_GetObjectItemCaseSensitive(cj, "architecture");
        if (cJSON_IsString(a)) fprintf(f, "config:        %s (architecture \"%s\")\n", src->config_path, a->valuestring);
        else fprintf(f, "config:        %s\n", src->config_path);
        cJSON_Delete(cj);
    }
    if (st->metadata_json) fprintf(f, "metadata:      %s\n", st->metadata_json);
}

// ---- GGUF ----

static void info_gguf(const struct vlm_model_source * src, FILE * f) {
    const struct vlm_gguf * g = src->gguf;
    struct info_stats s = { .mem_as_stored = true };
    for (int32_t i = 0; i < vlm_gguf_n_tensors(g); i++) {
        const struct vlm_file_tensor * t = vlm_gguf_tensor(g, i);
        stats_add(&s, t, vlm_gguf_type_name(t->gguf_type), (double)t->nbytes);
    }
    const char * gname = NULL;
    vlm_gguf_get_str(g, "general.name", &gname);
    fprintf(f, "file:          %s\n", src->path);
    fprintf(f, "format:        gguf v%u (alignment %u)\n", vlm_gguf_version(g), vlm_gguf_alignment(g));
    describe(src, f);
    if (gname) fprintf(f, "name:          %s\n", gname);
    print_stats(f, &s);
    fprintf(f, "metadata:      %" PRId64 " keys\n", vlm_gguf_n_kv(g));
    // indent the metadata listing under the summary
    char * buf = NULL;
    size_t len = 0;
    FILE * mf = open_memstream(&buf, &len);
    if (mf) {
        vlm_gguf_print_metadata(g, mf);
        fclose(mf);
        for (char * line = buf; line && *line;) {
            char * nl = strchr(line, '\n');
            size_t n = nl ? (size_t)(nl - line) : strlen(line);
            fprintf(f, "  %.*s\n", (int)n, line);
            line = nl ? nl + 1 : line + n;
        }
        free(buf);
    }
}

// ---- entry ----

enum vlm_status vlm_model_file_info(const char * path, FILE * f) {
    if (!path || !f) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_model_file_info: path or stream is NULL");
    struct vlm_model_source src;
    enum vlm_status st = vlm_model_source_open(path, false, &src);
    if (st != VLM_STATUS_OK) return st;
    if (src.gguf) info_gguf(&src, f);
    else info_safetensors(&src, f);
    vlm_model_source_close(&src);
    return VLM_STATUS_OK;
}
