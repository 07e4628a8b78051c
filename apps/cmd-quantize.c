// cmd-quantize.c — `vlm quantize IN.gguf OUT.gguf TYPE`.
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core.h"
#include "gguf-meta.h"

int vlm_cmd_quantize(int argc, char ** argv) {
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: vlm quantize IN.gguf OUT.gguf TYPE [--quiet]\n\n"
               "Writes IN.gguf with its weight matrices (2-D *.weight tensors other than norms, token_embd\n"
               "included) stored as TYPE: q8_0, q4_0, q4_k (rows not a multiple of 256 as q8_0), f16; or\n"
               "with every tensor as f32 (TYPE f32). Other tensors and all metadata are kept; general.file_type\n"
               "is updated. The block layouts are ggml's, so llama.cpp reads the file.\n");
        return 0;
    }
    const char * pos[3] = { NULL, NULL, NULL };
    int n_pos = 0;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quiet")) quiet = true;
        else if (argv[i][0] == '-' && argv[i][1]) return cli_usage_error("quantize", "unknown option '%s'", argv[i]);
        else if (n_pos < 3) pos[n_pos++] = argv[i];
        else return cli_usage_error("quantize", "unexpected argument '%s'", argv[i]);
    }
    if (n_pos < 3) return cli_usage_error("quantize", "expected IN.gguf OUT.gguf TYPE");
    enum vlm_dtype type;
    if (!cli_parse_weight_type(pos[2], &type) || type == VLM_DTYPE_BF16)
        return cli_usage_error("quantize", "unknown type '%s' (q8_0, q4_0, q4_k, f16 or f32)", pos[2]);
    if (vlm_gguf_quantize(pos[0], pos[1], type, quiet ? NULL : stdout) != VLM_STATUS_OK)
        return cli_fail("quantize", "%s", vlm_last_error());
    return 0;
}
