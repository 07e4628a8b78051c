// cmd-info.c — `vlm info MODEL` and `vlm devices`.
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core.h"
#include "model-file.h"

int vlm_cmd_info(int argc, char ** argv) {
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: vlm info MODEL...\n\n"
               "Prints the detected architecture, parameter count, dtypes and the memory a model needs.\n"
               "MODEL is a .safetensors or .gguf file, or a directory holding model.safetensors.\n");
        return 0;
    }
    if (argc < 2) return cli_usage_error("info", "no model given");
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        if (i > 1) printf("\n");
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
