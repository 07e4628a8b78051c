// cmd-generate.c — the language-model subcommands: `vlm generate` (continue a prompt, the
// text streamed as it is produced) and `vlm tokenize` (print the ids of a text).
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "model-file.h"

static bool is_help(const char * a) { return !strcmp(a, "--help") || !strcmp(a, "-h"); }

// Loads a model (a path, a registry name's text GGUF, or the default) and checks it is a language model.
static struct vlm_model * load_llm(const char * cmd, const char * arg, const struct vlm_model_params * params) {
    char path[PATH_MAX];
    if (!cli_resolve_model(cmd, "-m", arg, cmd, "text", path, sizeof path)) return NULL;
    struct vlm_model * m = cli_load_model(cmd, path, params);
    if (m && vlm_model_kind(m) != VLM_MODEL_LLAMA) {
        cli_fail(cmd, "%s is not a language model (a GGUF with general.architecture = llama)", path);
        vlm_model_free(m);
        return NULL;
    }
    return m;
}

// ---- vlm generate ---------------------------------------------------------------------------------
static void generate_usage(FILE * f) {
    fprintf(f,
            "usage: vlm generate [-m MODEL.gguf] -p PROMPT [options]\n\n"
            "Continues PROMPT with a llama.cpp GGUF text model (F32, F16, BF16, Q8_0, Q4_0, Q4_K), printing\n"
            "the text as it is produced. Sampling is greedy unless --temp is above 0.\n\n"
            "options:\n"
            "  -m, --model MODEL.gguf   the text model, or a name of 'vlm models' (default smolvlm-256m's)\n"
            "  -p, --prompt TEXT        the prompt (UTF-8); special-token texts like <|im_start|> are parsed\n"
            "  --chat                   wrap the prompt as a user turn in the model's chat format\n"
            "  --system TEXT            with --chat: a system message first\n"
            "  --max-tokens N           most tokens to generate (default 128)\n"
            "  --temp T                 temperature (default 0: greedy)\n"
            "  --top-k K, --top-p P, --min-p P   sampling filters (defaults 40, 0.95, 0.05; used when T > 0)\n"
            "  --repeat-penalty R       penalize the last 64 tokens (default 1.0: off)\n"
            "  --seed S                 random seed for sampling (default 0)\n"
            "  --stop TEXT              stop when the text contains TEXT (repeatable)\n"
            "  --ctx N                  context size (default: the model's)\n"
            "  --json                   print one JSON object (text, ids, counts, timings) instead of the text\n"
            "  --save-tensors OUT.st    prompt_ids, logits_last (at the last prompt position), generated_ids\n"
            "  --backend cpu|vulkan|auto, --threads N, --max-pixels N, --max-header-bytes N\n");
}

static bool print_text(const char * text, size_t len, void * user) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return true;
}

static bool save_generation_tensors(const char * path, const int32_t * prompt, int32_t n_prompt, const float * logits,
                                    int32_t n_vocab, const struct vlm_generation * g) {
    struct vlm_file_tensor t[3];
    memset(t, 0, sizeof t);
    t[0] = (struct vlm_file_tensor){ .name = "prompt_ids", .dtype = VLM_DTYPE_I32, .n_dims = 1, .shape = { n_prompt },
                                     .data = prompt, .nbytes = (size_t)n_prompt * 4 };
    t[1] = (struct vlm_file_tensor){ .name = "logits_last", .dtype = VLM_DTYPE_F32, .n_dims = 1, .shape = { n_vocab },
                                     .data = logits, .nbytes = (size_t)n_vocab * 4 };
    t[2] = (struct vlm_file_tensor){ .name = "generated_ids", .dtype = VLM_DTYPE_I32, .n_dims = 1, .shape = { g->n_ids },
                                     .data = g->ids, .nbytes = (size_t)g->n_ids * 4 };
    return vlm_safetensors_write(path, t, 3) == VLM_STATUS_OK;
}

int vlm_cmd_generate(int argc, char ** argv) {
    const char * cmd = "generate", * model_path = NULL, * prompt = NULL, * system = NULL, * st_path = NULL;
    const char * stops[16];
    int n_stop = 0, max_tokens = 128, n_ctx = 0, seed = 0;
    bool chat = false, json = false;
    struct vlm_model_params mp = vlm_model_default_params();
    struct vlm_sampler_params sp = vlm_sampler_default_params();
    for (int i = 1; i < argc; i++) {
        const char * a = argv[i];
        if (is_help(a)) {
            generate_usage(stdout);
            return 0;
        }
        bool has_value = i + 1 < argc;
        const char * v = has_value ? argv[i + 1] : NULL;
        if (!strcmp(a, "--chat")) { chat = true; continue; }
        if (!strcmp(a, "--json")) { json = true; continue; }
        if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "-p") || !strcmp(a, "--prompt") ||
            !strcmp(a, "--system") || !strcmp(a, "--max-tokens") || !strcmp(a, "--temp") || !strcmp(a, "--top-k") ||
            !strcmp(a, "--top-p") || !strcmp(a, "--min-p") || !strcmp(a, "--repeat-penalty") || !strcmp(a, "--seed") ||
            !strcmp(a, "--stop") || !strcmp(a, "--ctx") || !strcmp(a, "--save-tensors")) {
            if (!has_value) return cli_usage_error(cmd, "%s needs a value", a);
            i++;
            bool ok = true;
            if (!strcmp(a, "-m") || !strcmp(a, "--model")) model_path = v;
            else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) prompt = v;
            else if (!strcmp(a, "--system")) system = v;
            else if (!strcmp(a, "--save-tensors")) st_path = v;
            else if (!strcmp(a, "--max-tokens")) ok = cli_parse_int(v, 1, 1 << 24, &max_tokens);
            else if (!strcmp(a, "--ctx")) ok = cli_parse_int(v, 1, 1 << 24, &n_ctx);
            else if (!strcmp(a, "--seed")) ok = cli_parse_int(v, 0, 2147483647L, &seed);
            else if (!strcmp(a, "--top-k")) ok = cli_parse_int(v, 0, 1 << 24, &sp.top_k);
            else if (!strcmp(a, "--temp")) ok = cli_parse_float(v, 0.0f, 100.0f, &sp.temperature);
            else if (!strcmp(a, "--top-p")) ok = cli_parse_float(v, 0.0f, 1.0f, &sp.top_p);
            else if (!strcmp(a, "--min-p")) ok = cli_parse_float(v, 0.0f, 1.0f, &sp.min_p);
            else if (!strcmp(a, "--repeat-penalty")) ok = cli_parse_float(v, 0.01f, 100.0f, &sp.repeat_penalty);
            else if (!strcmp(a, "--stop")) {
                if (n_stop == (int)(sizeof stops / sizeof *stops)) return cli_usage_error(cmd, "at most 16 --stop strings");
                if (!*v) return cli_usage_error(cmd, "--stop needs a non-empty text");
                stops[n_stop++] = v;
            }
            if (!ok) return cli_usage_error(cmd, "bad value '%s' for %s", v, a);
            continue;
        }
        int c = cli_common_option(cmd, argc, argv, &i, &mp);
        if (c < 0) return 2;
        if (c == 0) return cli_usage_error(cmd, "unknown option '%s'", a);
    }
    if (!prompt) return cli_usage_error(cmd, "no prompt (-p TEXT)");
    if (!*prompt && !chat) return cli_usage_error(cmd, "the prompt is empty");
    if (!cli_check_output(cmd, "--save-tensors", st_path)) return 1;
    sp.seed = (uint64_t)seed;

    int rc = 1;
    struct vlm_model * m = NULL;
    struct vlm_llm_session * s = NULL;
    struct vlm_sampler * smp = NULL;
    struct vlm_generation g = { 0 };
    char * formatted = NULL;
    int32_t * ids = NULL, n_ids = 0;
    float * logits_last = NULL;
    double t0 = vlm_now_ms();
    if (!(m = load_llm(cmd, model_path, &mp))) goto done;
    double t_load = vlm_now_ms() - t0;
    const char * text = prompt;
    if (chat) {
        struct vlm_chat_message msgs[2] = { { "system", system }, { "user", prompt } };
        if (vlm_llm_chat_format(m, system ? msgs : msgs + 1, system ? 2 : 1, true, &formatted) != VLM_STATUS_OK) {
            cli_fail(cmd, "%s", vlm_last_error());
            goto done;
        }
        text = formatted;
    }
    if (vlm_llm_tokenize(m, text, true, &ids, &n_ids) != VLM_STATUS_OK) {
        cli_fail(cmd, "prompt: %s", vlm_last_error());
        goto done;
    }
    if (n_ids == 0) {
        cli_fail(cmd, "the prompt has no tokens");
        goto done;
    }
    struct vlm_llm_session_params lp = vlm_llm_session_default_params();
    lp.n_ctx = n_ctx;
    if (vlm_llm_session_new(m, &lp, &s) != VLM_STATUS_OK || vlm_sampler_new(&sp, &smp) != VLM_STATUS_OK) {
        cli_fail(cmd, "%s", vlm_last_error());
        goto done;
    }
    int32_t ctx_size = n_ctx > 0 ? n_ctx : vlm_llm_n_ctx_train(m);
    if (n_ids > ctx_size) {
        cli_fail(cmd, "the prompt has %d tokens, more than the context of %d (--ctx)", n_ids, ctx_size);
        goto done;
    }
    if (max_tokens > ctx_size - n_ids) max_tokens = ctx_size - n_ids;   // the context ends the text
    vlm_sampler_accept(smp, ids, n_ids);
    double t1 = vlm_now_ms();
    if (vlm_llm_decode(s, ids, n_ids) != VLM_STATUS_OK) {
        cli_fail(cmd, "%s", vlm_last_error());
        goto done;
    }
    double t_prompt = vlm_now_ms() - t1;
    if (st_path) {
        const int32_t V = vlm_llm_n_vocab(m);
        if (!(logits_last = malloc((size_t)V * sizeof(float)))) {
            cli_fail(cmd, "out of memory");
            goto done;
        }
        memcpy(logits_last, vlm_llm_logits(s), (size_t)V * sizeof(float));
    }
    struct vlm_generate_params gp = { .max_tokens = max_tokens, .stop = stops, .n_stop = n_stop,
                                      .on_text = json ? NULL : print_text };
    double t2 = vlm_now_ms();
    if (max_tokens > 0 && vlm_llm_generate(s, smp, &gp, &g) != VLM_STATUS_OK) {
        if (!json) printf("\n");
        cli_fail(cmd, "%s", vlm_last_error());
        goto done;
    }
    double t_gen = vlm_now_ms() - t2;
    if (!json) printf("\n");
    fflush(stdout);   // the text before the statistics on stderr
    if (st_path && !save_generation_tensors(st_path, ids, n_ids, logits_last, vlm_llm_n_vocab(m), &g)) {
        cli_fail(cmd, "%s", vlm_last_error());
        goto done;
    }
    static const char * const reasons[] = { "eog", "max_tokens", "stop_string", "callback" };
    if (json) {
        cJSON * o = cJSON_CreateObject(), * gen = cJSON_CreateIntArray(g.ids, g.n_ids);
        cJSON_AddStringToObject(o, "text", g.text ? g.text : "");
        cJSON_AddItemToObject(o, "prompt_ids", cJSON_CreateIntArray(ids, n_ids));
        cJSON_AddItemToObject(o, "generated_ids", gen);
        cJSON_AddStringToObject(o, "stop_reason", reasons[g.stop_reason]);
        cJSON_AddNumberToObject(o, "prompt_tokens", n_ids);
        cJSON_AddNumberToObject(o, "generated_tokens", g.n_ids);
        cJSON * t = cJSON_AddObjectToObject(o, "timings_ms");
        cJSON_AddNumberToObject(t, "load", t_load);
        cJSON_AddNumberToObject(t, "prompt_eval", t_prompt);
        cJSON_AddNumberToObject(t, "generate", t_gen);
        char * out = cJSON_Print(o);
        if (out) printf("%s\n", out);
        free(out);
        cJSON_Delete(o);
    } else {
        fprintf(stderr, "vlm generate: %d prompt tokens in %.0f ms (%.1f tok/s), %d generated in %.0f ms (%.1f tok/s), "
                        "stop: %s, backend %s\n",
                n_ids, t_prompt, n_ids / (t_prompt / 1e3), g.n_ids, t_gen, g.n_ids > 0 ? g.n_ids / (t_gen / 1e3) : 0.0,
                reasons[g.stop_reason], vlm_model_backend_name(m));
    }
    rc = 0;
done:
    vlm_generation_free(&g);
    free(logits_last);
    free(ids);
    free(formatted);
    vlm_sampler_free(smp);
    vlm_llm_session_free(s);
    vlm_model_free(m);
    return rc;
}

// ---- vlm tokenize ---------------------------------------------------------------------------------
static void tokenize_usage(FILE * f) {
    fprintf(f,
            "usage: vlm tokenize [-m MODEL.gguf] -p TEXT [--no-parse-special] [--json]\n\n"
            "Prints the token ids of TEXT (UTF-8) with the model's tokenizer, one 'id piece' per line.\n\n"
            "options:\n"
            "  -m, --model MODEL.gguf   the text model whose tokenizer to use\n"
            "  -p, --prompt TEXT        the text\n"
            "  --no-parse-special       tokenize special-token texts (<|im_start|>) as plain text\n"
            "  --json                   print {\"ids\": [...]} instead\n"
            "  --max-header-bytes N\n");
}

int vlm_cmd_tokenize(int argc, char ** argv) {
    const char * cmd = "tokenize", * model_path = NULL, * text = NULL;
    bool json = false, parse_special = true;
    struct vlm_model_params mp = vlm_model_default_params();
    mp.backend = VLM_BACKEND_CPU;   // nothing runs on a device
    for (int i = 1; i < argc; i++) {
        const char * a = argv[i];
        if (is_help(a)) {
            tokenize_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--json")) { json = true; continue; }
        if (!strcmp(a, "--no-parse-special")) { parse_special = false; continue; }
        if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            if (i + 1 >= argc) return cli_usage_error(cmd, "%s needs a value", a);
            if (a[1] == 'm' || a[2] == 'm') model_path = argv[++i];
            else text = argv[++i];
            continue;
        }
        int c = cli_common_option(cmd, argc, argv, &i, &mp);
        if (c < 0) return 2;
        if (c == 0) return cli_usage_error(cmd, "unknown option '%s'", a);
    }
    if (!text) return cli_usage_error(cmd, "no text (-p TEXT)");
    struct vlm_model * m = load_llm(cmd, model_path, &mp);
    if (!m) return 1;
    int32_t * ids = NULL, n = 0;
    if (vlm_llm_tokenize(m, text, parse_special, &ids, &n) != VLM_STATUS_OK) {
        vlm_model_free(m);
        return cli_fail(cmd, "%s", vlm_last_error());
    }
    if (json) {
        cJSON * o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "ids", cJSON_CreateIntArray(ids, n));
        char * out = cJSON_PrintUnformatted(o);
        if (out) printf("%s\n", out);
        free(out);
        cJSON_Delete(o);
    } else {
        for (int32_t i = 0; i < n; i++) {
            char piece[256];
            size_t len = vlm_llm_token_piece(m, ids[i], piece, sizeof piece);
            printf("%6d '%.*s'\n", ids[i], (int)(len < sizeof piece ? len : sizeof piece), piece);
        }
    }
    free(ids);
    vlm_model_free(m);
    return 0;
}
