// test-cli.c — the `vlm` command as a user meets it: help, usage errors, `info`, `devices`,
// `bench --json` on the fixture models, and bad input files. Every failure must exit non-zero
// with a one-line message on stderr, never crash.
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static const char * tmpdir;   // the scratch folder
static char out_text[1 << 16];

#define run_cli(...) test_run_cli(out_text, sizeof out_text, tmpdir, NULL, __VA_ARGS__)

static void write_file(const char * path, const void * data, size_t n) {
    FILE * f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
}

// Checks one bench JSON line: the stages named, each with a positive median.
static void check_bench_json(const char * model, const char * stage0, const char * stage1) {
    int rc = run_cli("bench -m %s --runs 1 --json --backend cpu", model);
    CHECK(rc == 0, "bench %s exited %d: %s", model, rc, out_text);
    cJSON * j = cJSON_Parse(strchr(out_text, '{') ? strchr(out_text, '{') : out_text);
    CHECK(j != NULL, "bench --json printed no JSON: %s", out_text);
    if (!j) return;
    cJSON * stages = cJSON_GetObjectItem(j, "stages");
    const char * names[2] = { stage0, stage1 };
    for (int i = 0; i < 2; i++) {
        cJSON * s = cJSON_GetObjectItem(stages, names[i]);
        cJSON * ms = s ? cJSON_GetObjectItem(s, "median_ms") : NULL;
        CHECK(ms && cJSON_IsNumber(ms) && ms->valuedouble > 0, "bench %s: stage %s has no positive median_ms", model,
              names[i]);
    }
    CHECK(cJSON_IsString(cJSON_GetObjectItem(j, "backend")), "bench JSON has no backend");
    cJSON * peak = cJSON_GetObjectItem(j, "sgemm_peak_gflops");
    CHECK(peak && peak->valuedouble > 0, "bench JSON has no measured peak");
    cJSON_Delete(j);
}

int main(void) {
    if (!getenv("VLM_CLI")) SKIP("VLM_CLI not set (run through ctest)");
    const char * fx = test_fixtures_dir();
    tmpdir = test_tmp_dir("cli");

    // help and usage errors
    CHECK(run_cli("--help") == 0 && strstr(out_text, "segment"), "--help should list the commands");
    CHECK(run_cli("%s", "") == 2, "no command should be a usage error (2)");
    CHECK(run_cli("frobnicate") == 2 && strstr(out_text, "unknown command"), "unknown command: %s", out_text);
    CHECK(run_cli("info") == 2, "info without a model should be a usage error");
    CHECK(run_cli("bench --random sam-vit-b --backend quantum") == 2 && strstr(out_text, "unknown backend"),
          "bad --backend: %s", out_text);

    // info on every fixture model
    char path[1024];
    snprintf(path, sizeof path, "%s/sam-tiny", fx);
    CHECK(run_cli("info %s", path) == 0 && strstr(out_text, "sam"), "info sam-tiny: %s", out_text);
    snprintf(path, sizeof path, "%s/clip-tiny/model.safetensors", fx);
    CHECK(run_cli("info %s", path) == 0 && strstr(out_text, "clip"), "info clip-tiny: %s", out_text);
    snprintf(path, sizeof path, "%s/smolvlm-tiny/smolvlm-tiny-f16.gguf", fx);
    CHECK(run_cli("info %s", path) == 0 && strstr(out_text, "gguf"), "info gguf: %s", out_text);

    // bad model files: missing, empty, garbage, truncated header
    CHECK(run_cli("info %s/missing.safetensors", tmpdir) == 1 && strstr(out_text, "missing.safetensors"),
          "missing file should name the file: %s", out_text);
    snprintf(path, sizeof path, "%s/empty.safetensors", tmpdir);
    write_file(path, "", 0);
    CHECK(run_cli("info %s", path) == 1 && strstr(out_text, "empty.safetensors"), "empty file: %s", out_text);
    snprintf(path, sizeof path, "%s/lying.safetensors", tmpdir);
    const unsigned char lying[16] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}' };
    write_file(path, lying, sizeof lying);
    CHECK(run_cli("info %s", path) == 1, "header size past the end should fail: %s", out_text);
    snprintf(path, sizeof path, "%s/not-a-model.safetensors", tmpdir);
    write_file(path, "\x02\0\0\0\0\0\0\0{}", 10);
    CHECK(run_cli("segment -m %s %s/images/dog.jpg --point 10,10", path, fx) == 1,
          "segment with an empty model should fail: %s", out_text);

    // a model of the wrong kind is refused by name
    CHECK(run_cli("segment -m %s/clip-tiny %s/images/dog.jpg --point 10,10", fx, fx) == 1, "CLIP model for segment: %s",
          out_text);
    CHECK(run_cli("classify -m %s/sam-tiny %s/images/dog.jpg --labels dog,cat", fx, fx) == 1, "SAM model for classify: %s",
          out_text);

    // devices never fails: it lists what it finds and what auto picks
    CHECK(run_cli("devices") == 0 && strstr(out_text, "auto picks"), "devices: %s", out_text);

    // bench JSON on the fixture models (tiny, so fast)
    snprintf(path, sizeof path, "%s/sam-tiny", fx);
    check_bench_json(path, "image_encoder", "prompt_decoder");
    snprintf(path, sizeof path, "%s/clip-tiny", fx);
    check_bench_json(path, "image_encoder", "text_encoder");

    TEST_END();
}
