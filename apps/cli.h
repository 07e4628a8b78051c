// cli.h — the `vlm` command: one function per subcommand (apps/cmd-*.c) and the small
// helpers they share (apps/cli.c). Every subcommand returns the process exit code:
// 0 success, 1 runtime failure (bad input file, model error), 2 usage error.
#ifndef VLM_CLI_H
#define VLM_CLI_H
#include <stdbool.h>
#include <stdint.h>
#include "vlm.h"

int vlm_cmd_info(int argc, char ** argv);
int vlm_cmd_devices(int argc, char ** argv);
int vlm_cmd_segment(int argc, char ** argv);
int vlm_cmd_embed(int argc, char ** argv);
int vlm_cmd_classify(int argc, char ** argv);
int vlm_cmd_concepts(int argc, char ** argv);
int vlm_cmd_bench(int argc, char ** argv);
int vlm_cmd_serve(int argc, char ** argv);

// Prints "vlm <cmd>: <message>" to stderr and returns 1 (runtime failure).
int  cli_fail(const char * cmd, const char * fmt, ...) __attribute__((format(printf, 2, 3)));
// Prints "vlm <cmd>: <message>" and "run 'vlm <cmd> --help' for usage" and returns 2.
int  cli_usage_error(const char * cmd, const char * fmt, ...) __attribute__((format(printf, 2, 3)));
// Handles the options every subcommand takes: --backend cpu|vulkan|auto (default: env
// VLM_BACKEND, else auto) and --threads N. Returns 1 if argv[*i] was one of them (advancing
// *i past its value), 0 if not, -1 on a bad value (message printed).
int  cli_common_option(const char * cmd, int argc, char ** argv, int * i, struct vlm_model_params * params);
// Parses a float list "a,b,c" into out[n_expected]; false unless exactly n_expected numbers
// (n_optional more allowed) are present. *n_got receives how many were read.
bool cli_parse_floats(const char * s, float * out, int n_min, int n_max, int * n_got);
// Loads a model, printing a one-line error naming the file on failure (returns NULL).
struct vlm_model * cli_load_model(const char * cmd, const char * path, const struct vlm_model_params * params);
#endif
