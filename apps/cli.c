// cli.c — helpers shared by the subcommands: messages, common options, number lists.
#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "selftest.h"
#include "model-file.h"
#include "registry.h"
#include "tokenizer.h"

bool cli_pull_missing;

int cli_fail(const char * cmd, const char * fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "vlm %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 1;
}

bool cli_check_output(const char * cmd, const char * opt, const char * path) {
    if (!path) return true;
    struct stat st;
    if (!*path) return !cli_fail(cmd, "%s: empty file name", opt);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return !cli_fail(cmd, "%s %s: is a folder, not a file", opt, path);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char * slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = 0;
    else *slash = 0;
    if (stat(dir, &st) != 0) return !cli_fail(cmd, "%s %s: folder %s does not exist", opt, path, dir);
    if (!S_ISDIR(st.st_mode)) return !cli_fail(cmd, "%s %s: %s is not a folder", opt, path, dir);
    if (access(dir, W_OK | X_OK) != 0) return !cli_fail(cmd, "%s %s: folder %s is not writable", opt, path, dir);
    return true;
}

int cli_usage_error(const char * cmd, const char * fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "vlm %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nrun 'vlm %s --help' for usage\n", cmd);
    va_end(ap);
    return 2;
}

bool cli_parse_int(const char * s, long lo, long hi, int * out) {
    char * end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = (int)v;
    return true;
}

bool cli_parse_weight_type(const char * s, enum vlm_dtype * out) {
    static const enum vlm_dtype types[] = { VLM_DTYPE_Q8_0, VLM_DTYPE_Q4_0, VLM_DTYPE_Q4_K, VLM_DTYPE_F16,
                                            VLM_DTYPE_BF16, VLM_DTYPE_F32 };
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (!strcmp(s, vlm_dtype_name(types[i]))) {
            *out = types[i];
            return true;
        }
    return false;
}

bool cli_parse_float(const char * s, float lo, float hi, float * out) {
    char * end = NULL;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

int cli_limit_option(const char * cmd, int argc, char ** argv, int * i) {
    const char * a = argv[*i];
    if (strcmp(a, "--max-pixels") && strcmp(a, "--max-header-bytes") && strcmp(a, "--max-tokens")) return 0;
    if (*i + 1 >= argc) {
        cli_usage_error(cmd, "%s needs a value", a);
        return -1;
    }
    const char * v = argv[++*i];
    char * end = NULL;
    errno = 0;
    long long n = v[0] >= '0' && v[0] <= '9' ? strtoll(v, &end, 10) : 0;
    const long long hi = !strcmp(a, "--max-tokens") ? INT32_MAX : INT64_MAX;
    if (errno || !end || *end || n < 1 || n > hi) {
        cli_usage_error(cmd, "%s takes a whole number from 1 to %lld, not '%s'", a, hi, v);
        return -1;
    }
    if (!strcmp(a, "--max-pixels")) vlm_image_set_max_pixels((int64_t)n);
    else if (!strcmp(a, "--max-header-bytes")) vlm_model_file_set_max_header((uint64_t)n);
    else vlm_clip_set_max_tokens((int64_t)n);
    return 1;
}

void cli_print_limits_help(FILE * f) {
    fprintf(f,
            "input limits (every command but devices; a larger input is refused with a one-line error):\n"
            "  --max-pixels N        largest image decoded, width x height (default %lld)\n"
            "  --max-header-bytes N  largest model header: a safetensors file's JSON header, a GGUF file's\n"
            "                        metadata and tensor table (default %" PRIu64 ")\n"
            "  --max-tokens N        refuse a text (CLIP prompt or label) of more than N tokens, counted\n"
            "                        without <start>/<end>, before truncation to the 77-token context\n"
            "                        (default: no limit)\n",
            (long long)VLM_IMAGE_DEFAULT_MAX_PIXELS, VLM_MODEL_DEFAULT_MAX_HEADER);
}

int cli_common_option(const char * cmd, int argc, char ** argv, int * i, struct vlm_model_params * params) {
    int lim = cli_limit_option(cmd, argc, argv, i);
    if (lim) return lim;
    const char * a = argv[*i];
    if (!strcmp(a, "--pull")) {
        cli_pull_missing = true;
        return 1;
    }
    if (!strcmp(a, "--backend") || !strcmp(a, "--threads")) {
        if (*i + 1 >= argc) {
            cli_usage_error(cmd, "%s needs a value", a);
            return -1;
        }
        const char * v = argv[++*i];
        if (!strcmp(a, "--backend")) {
            if (!vlm_backend_parse(v, &params->backend)) {
                cli_usage_error(cmd, "unknown backend '%s' (use cpu, vulkan or auto)", v);
                return -1;
            }
        } else if (!cli_parse_int(v, 1, 1024, &params->n_threads)) {
            cli_usage_error(cmd, "--threads takes a number from 1 to 1024, not '%s'", v);
            return -1;
        }
        return 1;
    }
    if (!strcmp(a, "--weights")) {
        const char * v = *i + 1 < argc ? argv[++*i] : "";
        if (!strcmp(v, "auto")) params->weights = VLM_WEIGHTS_AUTO;
        else if (!strcmp(v, "f32")) params->weights = VLM_WEIGHTS_F32;
        else if (!strcmp(v, "f16")) params->weights = VLM_WEIGHTS_F16;
        else if (!strcmp(v, "q8_0")) params->weights = VLM_WEIGHTS_Q8_0;
        else {
            cli_usage_error(cmd, "--weights takes auto, f32, f16 or q8_0, not '%s'", v);
            return -1;
        }
        return 1;
    }
    return 0;
}

bool cli_parse_floats(const char * s, float * out, int n_min, int n_max, int * n_got) {
    int n = 0;
    const char * p = s;
    while (*p) {
        if (n == n_max) return false;
        char * end = NULL;
        errno = 0;
        float v = strtof(p, &end);
        if (errno || end == p || v != v || v - v != 0) return false;   // not a finite number
        out[n++] = v;
        p = end;
        if (*p == ',') {
            p++;
            if (!*p) return false;
        } else if (*p) {
            return false;
        }
    }
    if (n < n_min) return false;
    if (n_got) *n_got = n;
    return true;
}

struct vlm_model * cli_load_model(const char * cmd, const char * path, const struct vlm_model_params * params) {
    struct vlm_model * m = NULL;
    if (!path) {
        cli_usage_error(cmd, "no model given (-m MODEL)");
        return NULL;
    }
    if (vlm_model_load(path, params, &m) != VLM_STATUS_OK) {
        cli_fail(cmd, "%s", vlm_last_error());
        return NULL;
    }
    return m;
}

bool cli_write_atomic(const char * path, const void * data, size_t n, char * err, size_t err_size) {
    struct vlm_atomic_file af;
    enum vlm_status st = vlm_atomic_open(&af, path);
    if (st == VLM_STATUS_OK) st = vlm_atomic_commit(&af, fwrite(data, 1, n, af.f) == n);
    if (st != VLM_STATUS_OK) snprintf(err, err_size, "%s", vlm_last_error());
    return st == VLM_STATUS_OK;
}

// One home for both in core (selftest.c: the self-test's cache needs them too).
bool cli_cache_dir(char * out, size_t n) { return vlm_user_cache_dir(out, n); }

bool cli_mkdirs(const char * path) { return vlm_mkdirs(path); }

int cli_resolve_model(const char * cmd, const char * opt, const char * arg, const char * deflt, const char * role, char * out,
                      size_t n) {
    struct stat st;
    if (arg && stat(arg, &st) == 0) {
        snprintf(out, n, "%s", arg);
        return 1;
    }
    struct vlm_registry r;
    char err[8192];
    if (!vlm_registry_load(&r, err, sizeof err)) {
        if (!arg) cli_usage_error(cmd, "no model given (%s MODEL)", opt);
        else cli_fail(cmd, "%s: %s", arg, strerror(ENOENT));
        return 0;
    }
    int rc = 0;
    const char * name = arg ? arg : vlm_registry_default(&r, deflt);
    const struct vlm_reg_model * m = name ? vlm_registry_find(&r, name) : NULL;
    const struct vlm_reg_file * f = NULL;
    for (int i = 0; m && i < m->n_files && !f; i++)
        if (!strcmp(m->files[i].role, role)) f = &m->files[i];
    if (!name) {
        cli_usage_error(cmd, "no model given (%s MODEL)", opt);
    } else if (!m) {
        // a path-like argument is a missing file; anything else an unknown name
        const char * dot = strrchr(arg, '.');
        if (strchr(arg, '/') || (dot && dot != arg && strlen(dot) <= 12)) {
            cli_fail(cmd, "%s: %s", arg, strerror(ENOENT));
        } else {
            char hint[256];
            vlm_registry_suggest(&r, arg, hint, sizeof hint);
            cli_fail(cmd, "'%s' is neither a file nor a known model%s; 'vlm models' lists the known ones", arg, hint);
        }
    } else if (!f) {
        cli_fail(cmd, "model '%s' is a %s model: it has no %s file for 'vlm %s'", m->name, m->task ? m->task : "different",
                 role, cmd);
    } else if (!vlm_models_file_path(m, f, out, n)) {
        cli_fail(cmd, "no model cache folder: set VLM_MODELS (or HOME)");
    } else {
        int64_t bytes;
        char why[512];
        enum vlm_cache_state s = vlm_cache_check(out, f, true, &bytes, why, sizeof why);
        bool pull_failed = false;
        if (s != VLM_CACHE_OK && cli_pull_missing) {   // vlm_pull_model prints its own errors
            if (vlm_pull_model(cmd, m, NULL)) s = vlm_cache_check(out, f, true, &bytes, why, sizeof why);
            else pull_failed = true;
        }
        if (s == VLM_CACHE_OK) rc = 2;
        else if (pull_failed) rc = 0;
        else if (s == VLM_CACHE_CORRUPT)
            cli_fail(cmd, "model '%s': the cached file %s is corrupt (%s): run 'vlm pull %s' to download it again", m->name,
                     out, why, m->name);
        else if (!arg)
            cli_fail(cmd, "no %s given, and the default model '%s' is not downloaded%s: run 'vlm pull %s' (or add --pull)",
                     opt, m->name, s == VLM_CACHE_PARTIAL ? " completely" : "", m->name);
        else
            cli_fail(cmd, "model '%s' is not downloaded%s: run 'vlm pull %s' (or add --pull)", m->name,
                     s == VLM_CACHE_PARTIAL ? " completely" : "", m->name);
    }
    vlm_registry_free(&r);
    return rc;
}
