// model-source.c — opening a model file for the loader and `vlm info`: its format, the family
// that claims it and that family's config file (config-file.c), and the shape queries the
// families' detectors and describers share.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model-family.h"

static bool is_gguf_file(const char * path) {
    FILE * f = fopen(path, "rb");
    char magic[4] = { 0 };
    bool yes = f && fread(magic, 1, 4, f) == 4 && !memcmp(magic, "GGUF", 4);
    if (f) fclose(f);
    return yes;
}

void vlm_model_family_names(char * out, size_t size) {
    size_t n = 0;
    out[0] = 0;
    for (int i = 0; vlm_model_families[i] && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%s", i ? ", " : "", vlm_model_families[i]->name);
}

void vlm_model_source_close(struct vlm_model_source * src) {
    vlm_safetensors_close(src->file);
    vlm_gguf_close(src->gguf);
    free(src->config);
    memset(src, 0, sizeof *src);
}

enum vlm_status vlm_model_source_open(const char * path, bool need_family, struct vlm_model_source * src) {
    memset(src, 0, sizeof *src);
    struct stat sb;
    if (stat(path, &sb) != 0) return vlm_error(VLM_STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) {   // a model folder: model.safetensors (+ config.json)
        snprintf(src->path, sizeof src->path, "%s/model.safetensors", path);
        if (stat(src->path, &sb) != 0) return vlm_error(VLM_STATUS_IO, "%s: directory has no model.safetensors", path);
    } else {
        snprintf(src->path, sizeof src->path, "%s", path);
    }
    enum vlm_status st;
    if (is_gguf_file(src->path)) {
        st = vlm_gguf_open(src->path, &src->gguf);
    } else {
        st = vlm_model_file_open(src->path, &src->file);
        src->pytorch = st == VLM_STATUS_OK && src->file->map_size >= 4 && !memcmp(src->file->map, "PK\x03\x04", 4);
    }
    if (st != VLM_STATUS_OK) return st;
    for (int i = 0; vlm_model_families[i] && !src->family; i++)
        if (vlm_model_families[i]->detect(src)) src->family = vlm_model_families[i];
    if (!src->family) {
        if (!need_family) return VLM_STATUS_OK;
        char names[256];
        vlm_model_family_names(names, sizeof names);
        const char * arch = NULL;
        if (src->gguf && vlm_gguf_get_str(src->gguf, "general.architecture", &arch))
            st = vlm_error(VLM_STATUS_UNSUPPORTED, "%s: unsupported GGUF architecture '%.64s' (vlm runs %s)", src->path, arch, names);
        else if (src->gguf)
            st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: missing GGUF key 'general.architecture'", src->path);
        else
            st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: no model family recognizes its tensors (vlm runs %s)", src->path, names);
        vlm_model_source_close(src);
        return st;
    }
    st = vlm_model_config_load(src->path, src->family->config_names, src->config_path, sizeof src->config_path,
                               &src->config, &src->config_len);
    if (st != VLM_STATUS_OK) vlm_model_source_close(src);
    return st;
}

// ---- shape queries ----

int64_t vlm_file_dim(const struct vlm_safetensors * st, const char * name, int32_t n_dims, int32_t d) {
    const struct vlm_file_tensor * t = vlm_safetensors_find(st, name);
    return t && t->n_dims == n_dims && d < n_dims ? t->shape[d] : -1;
}

int32_t vlm_file_count_indexed(const struct vlm_safetensors * st, const char * prefix) {
    const size_t n = strlen(prefix);
    int32_t count = 0;
    for (int32_t i = 0; i < st->n_tensors; i++) {
        const char * name = st->tensors[i].name;
        if (strncmp(name, prefix, n) != 0) continue;
        char * end = NULL;
        long v = strtol(name + n, &end, 10);
        if (end != name + n && *end == '.' && v >= 0 && v < (1L << 30) && v + 1 > count) count = (int32_t)v + 1;
    }
    return count;
}

bool vlm_file_has_prefix(const struct vlm_safetensors * st, const char * prefix) {
    const size_t n = strlen(prefix);
    for (int32_t i = 0; i < st->n_tensors; i++)
        if (strncmp(st->tensors[i].name, prefix, n) == 0) return true;
    return false;
}

int64_t vlm_gguf_int_at(const struct vlm_gguf * g, const char * prefix, const char * key) {
    char k[256];
    int64_t v = -1;
    snprintf(k, sizeof k, "%s.%s", prefix, key);
    if (!vlm_gguf_get_int(g, k, &v)) v = -1;
    return v;
}
