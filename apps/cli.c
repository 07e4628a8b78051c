// cli.c — helpers shared by the subcommands: messages, common options, number lists.
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_fail(const char * cmd, const char * fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "vlm %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 1;
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

static bool parse_int(const char * s, long lo, long hi, int * out) {
    char * end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = (int)v;
    return true;
}

int cli_common_option(const char * cmd, int argc, char ** argv, int * i, struct vlm_model_params * params) {
    const char * a = argv[*i];
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
        } else if (!parse_int(v, 1, 1024, &params->n_threads)) {
            cli_usage_error(cmd, "--threads takes a number from 1 to 1024, not '%s'", v);
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
