// main.c — `vlm`, one command with subcommands (apps/cmd-*.c).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

struct vlm_subcommand {
    const char * name;
    int (*run)(int argc, char ** argv);
    const char * summary;
};

static const struct vlm_subcommand subcommands[] = {
    { "describe", vlm_cmd_describe, "describe an image (SmolVLM: a text GGUF and its mmproj)" },
    { "ask",      vlm_cmd_ask,      "answer questions about an image (SmolVLM)" },
    { "vqa-score", vlm_cmd_vqa_score, "score `vlm ask --batch` answers: VQA accuracy and exact match" },
    { "generate", vlm_cmd_generate, "continue a text prompt with a GGUF language model (streams the text)" },
    { "tokenize", vlm_cmd_tokenize, "print the token ids of a text for a GGUF language model" },
    { "segment",  vlm_cmd_segment,  "cut out objects with SAM from point/box prompts, or everything" },
    { "embed",    vlm_cmd_embed,    "map images and texts into CLIP's shared embedding space" },
    { "classify", vlm_cmd_classify, "zero-shot classify an image against text labels (CLIP)" },
    { "concepts", vlm_cmd_concepts, "tag an image with the best entries of a built-in concept list (CLIP)" },
    { "serve",    vlm_cmd_serve,    "a local web page and JSON API for interactive segmentation (SAM, CLIP labels)" },
    { "bench",    vlm_cmd_bench,    "time each model stage, against the machine's peak" },
    { "info",     vlm_cmd_info,     "print a model file's architecture, parameters, dtypes and memory" },
    { "quantize", vlm_cmd_quantize, "re-type a GGUF model's weight matrices (q8_0, q4_0, q4_k, f16, f32)" },
    { "devices",  vlm_cmd_devices,  "list Vulkan devices and which backend 'auto' picks" },
};

static void usage(FILE * f) {
    fprintf(f, "vlm %s — local vision-language and segmentation models (Vulkan / CPU)\n\n"
               "usage: vlm <command> [options]   (vlm <command> --help for its options)\n\ncommands:\n",
            vlm_version());
    for (size_t i = 0; i < sizeof subcommands / sizeof *subcommands; i++)
        fprintf(f, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(f, "\nevery command takes --backend cpu|vulkan|auto (default: $VLM_BACKEND, else auto)\n\n");
    cli_print_limits_help(f);
}

// The CPU backend runs many short OpenMP regions. With libgomp's default wait policy idle
// workers spin between regions, which on a busy machine takes the cores the working threads
// need (we measured CLIP ViT-B/32 4x slower under load). libgomp reads OMP_WAIT_POLICY only
// when it is loaded, so the command sets it and starts itself again, once, unless the user
// chose a policy.
static void prefer_passive_omp_wait(char ** argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv);   // returns only on failure: then carry on as we are
}

int main(int argc, char ** argv) {
    prefer_passive_omp_wait(argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("vlm %s\n", vlm_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof subcommands / sizeof *subcommands; i++)
        if (!strcmp(argv[1], subcommands[i].name)) return subcommands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "vlm: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
