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
    { "index",    vlm_cmd_index,    "embed every image of a folder with CLIP into an index for 'vlm search' (incremental)" },
    { "search",   vlm_cmd_search,   "the images of an index closest to a text or an image (CLIP)" },
    { "serve",    vlm_cmd_serve,    "a local web page and JSON API for interactive segmentation (SAM, CLIP labels)" },
    { "bench",    vlm_cmd_bench,    "time each model stage, against the machine's peak" },
    { "pull",     vlm_cmd_pull,     "download a model of the registry into the cache (then use its name as -m)" },
    { "models",   vlm_cmd_models,   "list the known models, which are downloaded, their sizes" },
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

// The CPU backend runs many short OpenMP regions, back to back when a language model generates
// (some 250 per token). Workers that sleep between regions (OMP_WAIT_POLICY=passive) take tens
// of microseconds to wake each time: SmolLM2-135M then generates 61 tokens/s instead of 139 on
// 2 idle cores. Workers that spin take the cores other work needs on a busy machine: with two
// other busy processes on 2 cores, a spin of 10,000 made generation 7x slower and libgomp's
// default spin made CLIP ViT-B/32 4x slower. So the workers spin briefly when no other process
// is running at start (/proc/loadavg's count of runnable tasks), and sleep otherwise. libgomp reads the
// setting only when it is loaded, so the command sets it and starts itself again, once, unless
// the user chose a policy (OMP_WAIT_POLICY or GOMP_SPINCOUNT).
static void set_omp_wait(char ** argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    int running = 1 << 30;   // "0.52 0.61 0.70 2/345 6789": runnable tasks, this one included
    FILE * f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%*f %*f %*f %d/", &running) != 1) running = 1 << 30;
        fclose(f);
    }
    if (running <= 1) setenv("GOMP_SPINCOUNT", "10000", 1);   // nothing else running: spin briefly
    else setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv);   // returns only on failure: then carry on as we are
}

int main(int argc, char ** argv) {
    set_omp_wait(argv);
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
