// cmd-info.c — `vlm info MODEL` and `vlm devices`.
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core.h"
#include "model-file.h"

int vlm_cmd_info(int argc, char ** argv) {
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: vlm info MODEL... [--max-header-bytes N]\n\n"
               "Prints the detected architecture, parameter count, dtypes and the memory a model needs.\n"
               "MODEL is a .safetensors or .gguf file, or a directory holding model.safetensors.\n"
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
        if (shown++) printf("\n");
        if (vlm_model_file_info(argv[i], stdout) != VLM_STATUS_OK) rc = cli_fail("info", "%s", vlm_last_error());
    }
    return rc;
}

int vlm_cmd_devices(int argc, char ** argv) {
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: vlm devices\n\nLists the Vulkan devices, their key limits and the backend 'auto' picks.\n");
        return 0;
    }
    if (argc > 1) return cli_usage_error("devices", "unexpected argument '%s'", argv[1]);
    int n = vlm_vk_print_devices(stdout);
    char err[512] = "";
    struct vlm_ctx * x = vlm_ctx_new(VLM_BACKEND_AUTO, 0, 1 << 20, err, sizeof err);
    if (!x) return cli_fail("devices", "%s", err);
    printf("%sauto picks: %s\n", n > 0 ? "\n" : "", vlm_ctx_backend_name(x));
    vlm_ctx_free(x);
    return 0;
}
