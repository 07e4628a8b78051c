// cmd-info.c — `vlm info MODEL` and `vlm devices [--selftest]`.
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "core.h"
#include "model-file.h"
#include "registry.h"
#include "selftest.h"

static int show(const char * path, int * shown) {
    if ((*shown)++) printf("\n");
    return vlm_model_file_info(path, stdout) == VLM_STATUS_OK ? 0 : cli_fail("info", "%s", vlm_last_error());
}

// One model: a file or folder, or a registry name (each of its downloaded weight files).
static int info_one(const char * arg, int * shown) {
    struct stat st;
    struct vlm_registry r;
    char err[4096], path[PATH_MAX];
    if (stat(arg, &st) == 0 || !vlm_registry_load(&r, err, sizeof err)) return show(arg, shown);
    const struct vlm_reg_model * m = vlm_registry_find(&r, arg);
    int rc = m ? 0 : show(arg, shown);
    for (int k = 0; m && k < m->n_files && !rc; k++) {
        if (!strcmp(m->files[k].role, "config")) continue;
        if (!cli_resolve_model("info", "MODEL", arg, "info", m->files[k].role, path, sizeof path)) rc = 1;
        else rc = show(path, shown);
    }
    vlm_registry_free(&r);
    return rc;
}

int vlm_cmd_info(int argc, char ** argv) {
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: vlm info MODEL... [--max-header-bytes N]\n\n"
               "Prints the detected architecture, parameter count, dtypes and the memory a model needs.\n"
               "MODEL is a .safetensors or .gguf file, a directory holding model.safetensors, or a name of\n"
               "'vlm models' (its downloaded files).\n"
               CLI_LIMITS_USAGE);
        return 0;
    }
    int n_models = 0;
    for (int i = 1; i < argc; i++) {   // options first: they apply to every model
        int c = cli_limit_option("info", argc, argv, &i);
        if (c < 0) return 2;
        if (c == 0 && argv[i][0] == '-' && argv[i][1]) return cli_usage_error("info", "unknown option '%s'", argv[i]);
        if (c == 0) n_models++;
    }
    if (n_models == 0) return cli_usage_error("info", "no model given");
    int rc = 0, shown = 0;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1]) {   // a limit and its value (checked above)
            i++;
            continue;
        }
        if (info_one(argv[i], &shown)) rc = 1;
    }
    return rc;
}

static void print_row(const struct vlm_selftest_row * r, void * user) {
    (void) user;
    printf("%-16s %-14s %-28s %-20s %9.2e %9.2e %7.0e  %-4s %7.1f%s%s\n", r->op, r->kernel, r->name, r->shape, r->nmse,
           r->max_abs, r->tol, r->pass ? "pass" : "FAIL", r->ms, r->error[0] ? "  " : "", r->error);
    fflush(stdout);
}

// `vlm devices --selftest`: the self-test's table, its verdict, the cache written.
static int selftest(void) {
    printf("%-16s %-14s %-28s %-20s %9s %9s %7s  %-4s %7s\n", "op", "kernel", "case", "shape", "nmse", "max_abs", "tol",
           "", "ms");
    struct vlm_selftest_verdict v;
    double t0 = vlm_now_ms();
    if (!vlm_selftest_device(print_row, NULL, &v)) return cli_fail("devices", "%s", vlm_last_error());
    printf("\n%d cases, %d failed, %.1f s", v.n_cases, v.n_failed, (vlm_now_ms() - t0) / 1e3);
    if (v.cache_path[0]) printf("; cached in %s", v.cache_path);
    printf("\n");
    if (!v.device_ok) printf("device: NOT USED by --backend auto, refused by --backend vulkan (%s)\n", v.failure);
    else if (v.bad_variants) {
        printf("device: used, with these kernel variants disabled:");
        for (int i = 0; i < VLM_VK_VARIANT_COUNT; i++)
            if (v.bad_variants & (1u << i)) printf(" %s", vlm_vk_variant_name((enum vlm_vk_variant) i));
        printf(" (%s)\n", v.failure);
    } else printf("device: all kernels pass\n");
    return v.n_failed ? 1 : 0;
}

int vlm_cmd_devices(int argc, char ** argv) {
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: vlm devices [--selftest]\n\nLists the Vulkan devices, their key limits and the backend 'auto' picks.\n"
               "--selftest runs every op and kernel variant on the Vulkan device against the CPU backend and prints\n"
               "a table (op, kernel, case, output shape, errors, tolerance, pass/fail, milliseconds); the verdict is\n"
               "cached per device, driver and vlm version ($XDG_CACHE_HOME/vlm or ~/.cache/vlm). --backend auto runs\n"
               "it on a device's first use and takes the device only when its plain kernels pass; a failed variant\n"
               "is turned off. Exit status 1 when a case failed.\n");
        return 0;
    }
    bool st = argc > 1 && !strcmp(argv[1], "--selftest");
    if (argc > (st ? 2 : 1)) return cli_usage_error("devices", "unexpected argument '%s'", argv[st ? 2 : 1]);
    if (st) return selftest();
    int n = vlm_vk_print_devices(stdout);
    char err[512] = "";
    struct vlm_ctx * x = vlm_ctx_new(VLM_BACKEND_AUTO, 0, 1 << 20, err, sizeof err);
    if (!x) return cli_fail("devices", "%s", err);
    printf("%sauto picks: %s\n", n > 0 ? "\n" : "", vlm_ctx_backend_name(x));
    vlm_ctx_free(x);
    return 0;
}
