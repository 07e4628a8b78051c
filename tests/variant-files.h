// variant-files.h — broken variants of a fixture model for the bad-input tests (header-only): a
// config.json with one key changed, and the check that `vlm segment` and `vlm serve` refuse a
// variant with a one-line error and leave no output behind.
#ifndef VLM_TEST_VARIANT_FILES_H
#define VLM_TEST_VARIANT_FILES_H
#include <dirent.h>

#include <cjson/cJSON.h>

#include "harness.h"
#include "model-file.h"

// src (safetensors or a PyTorch checkpoint) copied to dir/model.safetensors (I64 tensors such as
// BatchNorm's num_batches_tracked left out: the loaders never read them), without the tensors
// whose names start with drop (NULL: none).
static inline bool variant_write_model(const char * src, const char * dir, const char * drop) {
    char dst[4200];
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    struct vlm_safetensors * st = NULL;
    if (vlm_model_file_open(src, &st) != VLM_STATUS_OK) return false;
    struct vlm_file_tensor * t = calloc((size_t)st->n_tensors + 1, sizeof *t);
    int32_t n = 0;
    for (int32_t i = 0; t && i < st->n_tensors; i++) {
        const struct vlm_file_tensor * f = &st->tensors[i];
        if (f->dtype == VLM_DTYPE_I64 || (drop && !strncmp(f->name, drop, strlen(drop)))) continue;
        t[n++] = *f;
    }
    bool ok = t && vlm_safetensors_write(dst, t, n) == VLM_STATUS_OK;
    free(t);
    vlm_safetensors_close(st);
    return ok;
}

// fixture_dir/config.json copied to dir with key set to the JSON value `value` ("-": removed;
// key NULL: the file unchanged; a value starting with '!' is written instead of the whole file).
static inline bool variant_write_config(const char * fixture_dir, const char * dir, const char * key, const char * value) {
    char src[4200], dst[4200];
    snprintf(src, sizeof src, "%s/config.json", fixture_dir);
    snprintf(dst, sizeof dst, "%s/config.json", dir);
    char * text = test_read_text(src);
    cJSON * c = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!c) return false;
    const bool whole = key && value[0] == '!';
    if (key && !whole) cJSON_DeleteItemFromObjectCaseSensitive(c, key);
    if (key && !whole && strcmp(value, "-")) cJSON_AddItemToObject(c, key, cJSON_Parse(value));
    char * s = whole ? strdup(value + 1) : cJSON_Print(c);
    cJSON_Delete(c);
    FILE * f = s ? fopen(dst, "w") : NULL;
    bool ok = f && fputs(s, f) >= 0;
    if (f) ok = fclose(f) == 0 && ok;
    free(s);
    return ok;
}

static inline int variant_count_files(const char * dir) {
    DIR * d = opendir(dir);
    int n = 0;
    struct dirent * e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n;
}

// `vlm segment` (CPU) on the model in dir: exit 1 with a one-line error containing expect, no
// output file left in dir; `vlm serve` refuses the model at start with the same message.
static inline void variant_expect_refused(const char * what, const char * tmpdir, const char * dir, const char * image,
                                          const char * expect) {
    char out[8192], out2[8192];
    int before = variant_count_files(dir);
    int rc = test_run_cli(out, sizeof out, tmpdir, NULL,
                          "segment --backend cpu -m '%s' '%s' --point 10,10 -o '%s/m.png' --json '%s/o.json' "
                          "--save-tensors '%s/t.safetensors'",
                          dir, image, dir, dir, dir);
    const char * nl = strchr(out, '\n');
    CHECK(rc == 1, "%s: exit %d, want 1: %s", what, rc, out);
    CHECK(nl && nl[1] == 0, "%s: not a one-line error: %s", what, out);
    CHECK(strstr(out, expect) != NULL, "%s: error lacks '%s': %s", what, expect, out);
    CHECK(variant_count_files(dir) == before, "%s: output left behind", what);
    printf("  %-40s exit %d: %s", what, rc, out);
    // timeout: in case it serves
    rc = test_run_cli(out2, sizeof out2, tmpdir, "timeout 120", "serve --backend cpu --port 0 -m '%s'", dir);
    CHECK(rc == 1 && strstr(out2, expect) != NULL, "%s: serve: exit %d: %s", what, rc, out2);
}
#endif
