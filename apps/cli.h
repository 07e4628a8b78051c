// cli.h — the `vlm` command: one function per subcommand (apps/cmd-*.c) and the small
// helpers they share (apps/cli.c). Every subcommand returns the process exit code:
// 0 success, 1 runtime failure (bad input file, model error), 2 usage error.
#ifndef VLM_CLI_H
#define VLM_CLI_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "core.h"
#include "vlm.h"

int vlm_cmd_info(int argc, char ** argv);
int vlm_cmd_devices(int argc, char ** argv);
int vlm_cmd_segment(int argc, char ** argv);
int vlm_cmd_embed(int argc, char ** argv);
int vlm_cmd_classify(int argc, char ** argv);
int vlm_cmd_concepts(int argc, char ** argv);
int vlm_cmd_bench(int argc, char ** argv);
int vlm_cmd_serve(int argc, char ** argv);
int vlm_cmd_generate(int argc, char ** argv);
int vlm_cmd_tokenize(int argc, char ** argv);
int vlm_cmd_describe(int argc, char ** argv);
int vlm_cmd_ask(int argc, char ** argv);
int vlm_cmd_quantize(int argc, char ** argv);
int vlm_cmd_vqa_score(int argc, char ** argv);
int vlm_cmd_pull(int argc, char ** argv);
int vlm_cmd_models(int argc, char ** argv);

// Writes n bytes to path atomically: a temporary file (mkstemp) in the same folder, then
// rename; on failure nothing is left and err holds the reason.
bool cli_write_atomic(const char * path, const void * data, size_t n, char * err, size_t err_size);
// Checks, before any heavy work, that an output file can be written: its folder exists and
// is writable and the path is not a folder. Prints "vlm <cmd>: <opt> <path>: ..." and returns
// false when not. NULL paths pass.
bool cli_check_output(const char * cmd, const char * opt, const char * path);
// Prints "vlm <cmd>: <message>" to stderr and returns 1 (runtime failure).
int  cli_fail(const char * cmd, const char * fmt, ...) __attribute__((format(printf, 2, 3)));
// Prints "vlm <cmd>: <message>" and "run 'vlm <cmd> --help' for usage" and returns 2.
int  cli_usage_error(const char * cmd, const char * fmt, ...) __attribute__((format(printf, 2, 3)));
// Handles the options every subcommand takes: --backend cpu|vulkan|auto (default: env
// VLM_BACKEND, else auto), --threads N and the input limits (cli_limit_option). Returns 1 if
// argv[*i] was one of them (advancing *i past its value), 0 if not, -1 on a bad value
// (message printed).
int  cli_common_option(const char * cmd, int argc, char ** argv, int * i, struct vlm_model_params * params);
// The input limits, set process-wide in the library as they are parsed (same returns):
//   --max-pixels N        vlm_image_set_max_pixels
//   --max-header-bytes N  vlm_model_file_set_max_header
//   --max-tokens N        vlm_clip_set_max_tokens
int  cli_limit_option(const char * cmd, int argc, char ** argv, int * i);
// Prints the lines of `vlm --help` that explain them; subcommands print CLI_LIMITS_USAGE.
void cli_print_limits_help(FILE * f);
// The options of every model command that say where and how the model runs.
#define CLI_BACKEND_USAGE                                                                                     \
    "  --backend cpu|vulkan|auto, --threads N, --weights auto|f32|f16|q8_0 (how linear weights are kept;\n"     \
    "  auto, the default: as stored when F16 / BF16, else F32)\n"
#define CLI_MODEL_USAGE                                                                                       \
    "  a MODEL is a file or folder, or a name of 'vlm models' (after 'vlm pull NAME'; --pull downloads it\n"   \
    "  when missing); without -m the command's default model of 'vlm models' is used\n"
#define CLI_LIMITS_USAGE "  --max-pixels N, --max-header-bytes N, --max-tokens N (input limits: see vlm --help)\n"
// Whole number / finite float in [lo, hi]; false on anything else.
bool cli_parse_int(const char * s, long lo, long hi, int * out);
bool cli_parse_float(const char * s, float lo, float hi, float * out);
// A GGUF weight type by name: q8_0, q4_0, q4_k, f16, bf16 or f32.
bool cli_parse_weight_type(const char * s, enum vlm_dtype * out);
// Parses a float list "a,b,c" into out[n_expected]; false unless exactly n_expected numbers
// (n_optional more allowed) are present. *n_got receives how many were read.
bool cli_parse_floats(const char * s, float * out, int n_min, int n_max, int * n_got);
// The per-user cache folder: $XDG_CACHE_HOME/vlm, else ~/.cache/vlm (not created); false
// when neither variable is set.
bool cli_cache_dir(char * out, size_t n);
// mkdir -p; false with errno set.
bool cli_mkdirs(const char * path);
// --pull (taken by cli_common_option): a model named but not downloaded yet is pulled.
extern bool cli_pull_missing;
// A model argument as the user gave it (arg of option opt, e.g. "--sam"; NULL: the default model
// of command deflt) made a path:
// an existing file or folder stays as it is; a registry name ('vlm models') becomes its cached
// file of that role ("model", "text", "mmproj"), checked (size, sha256) and, with --pull,
// downloaded first. Returns 1 for a path, 2 for a name, 0 after printing why neither (a
// missing download names the 'vlm pull' to run; an unknown name gets close names).
int  cli_resolve_model(const char * cmd, const char * opt, const char * arg, const char * deflt, const char * role,
                       char * out, size_t out_size);
// Loads a model, printing a one-line error naming the file on failure (returns NULL).
struct vlm_model * cli_load_model(const char * cmd, const char * path, const struct vlm_model_params * params);
#endif
