// test-limits.c — the input limits of the `vlm` command (--max-pixels, --max-header-bytes,
// --max-tokens), each run exactly at the limit (success, output written) and one past it (exit
// 1, a one-line error, no output file), plus bad limit values (usage errors).
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "tokenizer.h"
#include "vlm.h"

static const char * tmpdir;   // the scratch folder
static char out_json[320], err_path[320], std_path[320];
static char err_text[1 << 14], std_text[1 << 14];

static void slurp(const char * path, char * buf, size_t size) {
    FILE * f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, size - 1, f) : 0;
    buf[n] = 0;
    if (f) fclose(f);
}

// Runs `$VLM_CLI args` (stdout into std_text, stderr into err_text); returns the exit code
// (128 + signal when killed).
static int run_cli(const char * fmt, ...) __attribute__((format(printf, 1, 2)));
static int run_cli(const char * fmt, ...) {
    char args[4096], cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "\"%s\" %s >%s 2>%s", getenv("VLM_CLI"), args, std_path, err_path);
    int status = system(cmd);
    slurp(std_path, std_text, sizeof std_text);
    slurp(err_path, err_text, sizeof err_text);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

static bool exists(const char * path) { return access(path, F_OK) == 0; }

static int count_lines(const char * s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

// One limit: `args --flag limit` succeeds (and writes out_json when it is in args), `args --flag
// limit-1` fails with one line naming the problem (expect) and leaves no output.
static void check_limit(const char * what, const char * flag, long long limit, const char * expect, const char * args) {
    unlink(out_json);
    int rc = run_cli("%s %s %lld", args, flag, limit);
    CHECK(rc == 0, "%s: at the limit (%s %lld) exited %d: %s", what, flag, limit, rc, err_text);
    if (strstr(args, out_json)) CHECK(exists(out_json), "%s: at the limit: no %s written", what, out_json);
    unlink(out_json);
    rc = run_cli("%s %s %lld", args, flag, limit - 1);
    CHECK(rc == 1, "%s: one past the limit (%s %lld) exited %d, expected 1: %s", what, flag, limit - 1, rc, err_text);
    CHECK(count_lines(err_text) == 1 && strstr(err_text, expect), "%s: one past the limit: expected one line with '%s', got: %s",
          what, expect, err_text);
    CHECK(!exists(out_json), "%s: one past the limit left %s behind", what, out_json);
    if (!strstr(args, "--json")) CHECK(!std_text[0], "%s: one past the limit printed: %s", what, std_text);
    printf("%-34s at %lld ok, at %lld: %s", what, limit, limit - 1, err_text);
}

// A small GGUF v3 file: one string key, one F32 [4] tensor. Returns the header size (the
// bytes before the alignment padding and the tensor data).
static long long write_gguf(const char * path) {
    uint8_t b[256];
    size_t n = 0;
#define PUT(p, k) (memcpy(b + n, (p), (k)), n += (k))
#define PUT32(v) do { uint32_t v_ = (v); PUT(&v_, 4); } while (0)
#define PUT64(v) do { uint64_t v_ = (v); PUT(&v_, 8); } while (0)
#define PUTSTR(s) do { PUT64(strlen(s)); PUT((s), strlen(s)); } while (0)
    PUT("GGUF", 4);
    PUT32(3);           // version
    PUT64(1);           // tensors
    PUT64(1);           // key/values
    PUTSTR("general.name");
    PUT32(8);           // string
    PUTSTR("limits");
    PUTSTR("w");        // tensor info: name, n_dims, ne, type F32, offset
    PUT32(1);
    PUT64(4);
    PUT32(0);
    PUT64(0);
    long long header = (long long)n;
    while (n % 32) b[n++] = 0;
    for (int i = 0; i < 4; i++) {
        float v = (float)i;
        PUT(&v, 4);
    }
#undef PUT
#undef PUT32
#undef PUT64
#undef PUTSTR
    FILE * f = fopen(path, "wb");
    bool ok = f && fwrite(b, 1, n, f) == n;
    if (f) ok = fclose(f) == 0 && ok;
    return ok ? header : -1;
}

int main(void) {
    if (!getenv("VLM_CLI")) SKIP("VLM_CLI not set (run through ctest)");
    const char * fx = test_fixtures_dir();
    setenv("VLM_BACKEND", "cpu", 1);   // limits are about input handling, not a device
    tmpdir = test_tmp_dir("limits");
    snprintf(out_json, sizeof out_json, "%s/out.json", tmpdir);
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", tmpdir);
    snprintf(std_path, sizeof std_path, "%s/stdout.txt", tmpdir);
    char clip[1024], image[1024], args[4096];
    snprintf(clip, sizeof clip, "%s/clip-tiny", fx);
    snprintf(image, sizeof image, "%s/images/gray_odd.jpg", fx);

    // --max-pixels: the image's width x height
    struct vlm_image img = { 0 };
    CHECK(vlm_image_load(image, &img) == VLM_STATUS_OK, "%s: %s", image, vlm_last_error());
    long long pixels = (long long)img.width * img.height;
    vlm_image_free(&img);
    snprintf(args, sizeof args, "embed -m %s --image %s --json %s", clip, image, out_json);
    if (pixels > 1) check_limit("--max-pixels (embed --image)", "--max-pixels", pixels, "over the limit", args);

    // --max-header-bytes: the safetensors header length (its first 8 bytes)
    char model[1100];
    snprintf(model, sizeof model, "%s/model.safetensors", clip);
    uint8_t len8[8] = { 0 };
    FILE * f = fopen(model, "rb");
    CHECK(f && fread(len8, 1, 8, f) == 8, "cannot read %s", model);
    if (f) fclose(f);
    long long header = 0;
    for (int i = 7; i >= 0; i--) header = header << 8 | len8[i];
    snprintf(args, sizeof args, "embed -m %s --text dog --json %s", clip, out_json);
    if (header > 2) check_limit("--max-header-bytes (safetensors)", "--max-header-bytes", header, "exceeds the limit", args);
    // ... and a GGUF file's metadata and tensor table
    char gguf[320];
    snprintf(gguf, sizeof gguf, "%s/limits.gguf", tmpdir);
    long long gh = write_gguf(gguf);
    CHECK(gh > 24, "cannot write %s", gguf);
    snprintf(args, sizeof args, "info %s", gguf);
    if (gh > 24) {
        CHECK(run_cli("%s", args) == 0 && strstr(std_text, "gguf"), "info on the test GGUF: %s%s", std_text, err_text);
        check_limit("--max-header-bytes (GGUF)", "--max-header-bytes", gh, "header over the limit", args);
    }

    // --max-tokens: the prompt's tokens, without <start>/<end>
    const char * text = "a photo of a dog";
    char bpe[1100];
    snprintf(bpe, sizeof bpe, "%s/bpe_simple_vocab_16e6.txt.gz", clip);
    struct vlm_clip_tokenizer * tok = NULL;
    int32_t n_tok = 0;
    CHECK(vlm_clip_tokenizer_load(bpe, &tok) == VLM_STATUS_OK, "%s: %s", bpe, vlm_last_error());
    if (tok) CHECK(vlm_clip_tokenize(tok, text, NULL, 0, &n_tok) == VLM_STATUS_OK && n_tok > 1, "cannot tokenize");
    vlm_clip_tokenizer_free(tok);
    snprintf(args, sizeof args, "embed -m %s --text \"%s\" --json %s", clip, text, out_json);
    if (n_tok > 1) check_limit("--max-tokens (embed --text)", "--max-tokens", n_tok, "over the limit of", args);
    // a limit over the context: texts past 77 tokens are still truncated, not refused
    CHECK(run_cli("embed -m %s --text \"%s\" --json %s --max-tokens 1000", clip, text, out_json) == 0,
          "--max-tokens 1000: %s", err_text);
    // labels of classify go through the same tokenizer
    CHECK(run_cli("classify -m %s %s --labels dog,cat --max-tokens 1", clip, image) == 1 &&
              strstr(err_text, "over the limit of 1 tokens"),
          "classify with --max-tokens 1 (the template has more): %s", err_text);

    // bad values are usage errors (2) with a message
    static const char * const bad[] = { "--max-pixels 0", "--max-pixels -5", "--max-header-bytes 12k",
                                        "--max-tokens 99999999999", "--max-tokens" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = run_cli("embed -m %s --text dog %s", clip, bad[i]);
        CHECK(rc == 2 && strstr(err_text, bad[i][6] == 'p' ? "--max-pixels" : bad[i][6] == 'h' ? "--max-header-bytes"
                                                                                              : "--max-tokens"),
              "'%s' should be a usage error, got %d: %s", bad[i], rc, err_text);
    }
    CHECK(run_cli("info %s --max-pixels x", gguf) == 2, "info with a bad limit: %s", err_text);
    CHECK(run_cli("info %s --frobnicate", gguf) == 2 && strstr(err_text, "unknown option"), "info --frobnicate: %s", err_text);

    TEST_END();
}
