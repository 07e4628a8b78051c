// test-clip-cli.c — the CLIP subcommands of the `vlm` executable ($VLM_CLI, set by ctest):
// `embed --save-tensors / --json` against the fixtures, `classify` ordering and
// probabilities, `concepts` with its on-disk cache, and bad input (exit code, message, no
// output file left behind).
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixtures.h"

static const char * cli;
static const char * tmp;   // the scratch folder
static char out_txt[300], err_txt[300];

// Runs "$VLM_CLI <args>" with stdout / stderr captured in tmp/out.txt and tmp/err.txt;
// returns the exit code (-1 if it did not exit normally).
static int run(const char * env, const char * fmt, ...) {
    char args[8192], cmd[9000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s '%s' %s > '%s' 2> '%s'", env ? env : "", cli, args, out_txt, err_txt);
    int s = system(cmd);
    return WIFEXITED(s) ? WEXITSTATUS(s) : -1;
}

static char * slurp(const char * path) {
    char * b = vlm_read_file(path, SIZE_MAX, NULL);
    return b ? b : strdup("");
}

static bool exists(const char * p) { struct stat s; return stat(p, &s) == 0; }

// No file in tmp whose name starts with prefix (the output or a leftover temporary).
static bool no_file_like(const char * prefix) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q '^%s'", tmp, prefix);
    return system(cmd) != 0;
}

static void expect_failure(const char * what, const char * out_name, int rc) {
    char * e = slurp(err_txt);
    CHECK(rc != 0 && rc != -1, "%s: exit code %d (expected failure)", what, rc);
    CHECK(strlen(e) > 10 && strstr(e, "vlm "), "%s: a message on stderr (got \"%s\")", what, e);
    if (out_name) CHECK(no_file_like(out_name), "%s: no output file %s left behind", what, out_name);
    printf("  %-40s exit %d: %.*s", what, rc, (int)strcspn(e, "\n") + 1, e);
    free(e);
}

static const float * tensor_f32(const struct vlm_safetensors * st, const char * name, size_t numel) {
    const struct vlm_file_tensor * t = test_tensor(st, name, VLM_DTYPE_F32, numel * 4);
    return t ? t->data : NULL;
}

int main(void) {
    cli = getenv("VLM_CLI");
    if (!cli || !*cli || access(cli, X_OK) != 0) SKIP("VLM_CLI is not set to the vlm executable");
    const char * fx = test_fixtures_dir();
    char model[512], img[4][512], sam[512];
    snprintf(model, sizeof model, "%s/clip-tiny", fx);
    snprintf(sam, sizeof sam, "%s/sam-tiny/model.safetensors", fx);
    static const char * const names[4] = { "dog.jpg", "truck.jpg", "groceries.jpg", "gray_odd.jpg" };
    for (int i = 0; i < 4; i++) snprintf(img[i], sizeof img[i], "%s/images/%s", fx, names[i]);
    if (!exists(model)) SKIP("clip-tiny fixture absent");
    tmp = test_tmp_dir("clip-cli");
    snprintf(out_txt, sizeof out_txt, "%s/stdout.txt", tmp);
    snprintf(err_txt, sizeof err_txt, "%s/stderr.txt", tmp);

    // the six fixture texts
    cJSON * cj = test_fixture_json(model, "cases.json", TEST_NEED_CHECK);
    if (!cj) TEST_END();
    const cJSON * texts = cJSON_GetObjectItem(cj, "texts");
    char text_args[2048] = "", labels[1024] = "";
    for (int i = 0; i < 6; i++) {
        const char * t = cJSON_GetArrayItem(texts, i)->valuestring;
        snprintf(text_args + strlen(text_args), sizeof text_args - strlen(text_args), " --text '%s'", t);
        snprintf(labels + strlen(labels), sizeof labels - strlen(labels), "%s%s", i ? "," : "", t);
    }
    char path_st[256], path_json[256];
    snprintf(path_st, sizeof path_st, "%s/emb.safetensors", tmp);
    snprintf(path_json, sizeof path_json, "%s/emb.json", tmp);

    // ---- embed --save-tensors --json ----
    int rc = run(NULL, "embed --backend cpu -m '%s' --image '%s' --image '%s' --image '%s' --image '%s'%s "
                       "--save-tensors '%s' --json '%s'",
                 model, img[0], img[1], img[2], img[3], text_args, path_st, path_json);
    CHECK(rc == 0, "embed exit code %d: %s", rc, slurp(err_txt));
    struct vlm_safetensors * got = NULL, * ref = test_fixture_tensors(model, "cases.safetensors", TEST_NEED_CHECK);
    if (rc == 0 && ref && vlm_safetensors_open(path_st, &got) == VLM_STATUS_OK) {
        static const struct { const char * name; size_t n; double tol; } cmp[] = {
            { "pixel_values", 4 * 3 * 64 * 64, 2e-2 }, { "image_features", 4 * 32, 2e-3 },
            { "text_features", 6 * 32, 2e-3 }, { "logits_per_image", 4 * 6, 1e-2 } };
        for (size_t i = 0; i < sizeof cmp / sizeof *cmp; i++) {
            const float * a = tensor_f32(got, cmp[i].name, cmp[i].n), * b = tensor_f32(ref, cmp[i].name, cmp[i].n);
            double e = a && b ? test_max_abs(a, b, cmp[i].n) : INFINITY;
            CHECK(e <= cmp[i].tol, "embed --save-tensors %s: max abs %.3g (<= %.0e)", cmp[i].name, e, cmp[i].tol);
            printf("  --save-tensors %-18s max abs %.3g\n", cmp[i].name, e);
        }
        const struct vlm_file_tensor * ta = vlm_safetensors_find(got, "text_tokens"), * tb = vlm_safetensors_find(ref, "text_tokens");
        CHECK(ta && tb && ta->dtype == VLM_DTYPE_I32 && ta->nbytes == tb->nbytes && !memcmp(ta->data, tb->data, tb->nbytes),
              "embed --save-tensors text_tokens exact");
    } else {
        CHECK(0, "embed --save-tensors output readable: %s", vlm_last_error());
    }
    // --json: normalized embeddings and a 4 x 6 similarity matrix consistent with the logits
    {
        char * j = slurp(path_json);
        cJSON * o = cJSON_Parse(j);
        free(j);
        const cJSON * sim = o ? cJSON_GetObjectItem(o, "similarity") : NULL;
        const cJSON * ims = o ? cJSON_GetObjectItem(o, "images") : NULL;
        CHECK(o && cJSON_GetArraySize(sim) == 4 && cJSON_GetArraySize(cJSON_GetArrayItem(sim, 0)) == 6 &&
                  cJSON_GetArraySize(ims) == 4 && cJSON_GetArraySize(cJSON_GetObjectItem(o, "texts")) == 6,
              "embed --json has 4 images, 6 texts and a 4x6 similarity matrix");
        const float * lg = ref ? tensor_f32(ref, "logits_per_image", 24) : NULL;
        double scale = o ? cJSON_GetObjectItem(o, "logit_scale")->valuedouble : 0, err = 0, norm_err = 0;
        for (int i = 0; o && lg && i < 4; i++) {
            for (int k = 0; k < 6; k++)
                err = fmax(err, fabs(scale * cJSON_GetArrayItem(cJSON_GetArrayItem(sim, i), k)->valuedouble - lg[i * 6 + k]));
            const cJSON * emb = cJSON_GetObjectItem(cJSON_GetArrayItem(ims, i), "embedding");
            double s = 0;
            for (int k = 0; k < cJSON_GetArraySize(emb); k++) s += pow(cJSON_GetArrayItem(emb, k)->valuedouble, 2);
            norm_err = fmax(norm_err, fabs(sqrt(s) - 1));
        }
        CHECK(lg && err <= 1e-2 && norm_err < 1e-4, "embed --json: logit_scale x similarity vs reference logits %.3g, "
              "|embedding| - 1 = %.3g", err, norm_err);
        cJSON_Delete(o);
    }

    // ---- classify: order and probabilities follow softmax(reference logits of dog.jpg) ----
    rc = run(NULL, "classify --backend cpu -m '%s' '%s' --labels '%s' --template '{}'", model, img[0], labels);
    CHECK(rc == 0, "classify exit code %d", rc);
    {
        const float * lg = ref ? tensor_f32(ref, "logits_per_image", 24) : NULL;
        char * out = slurp(out_txt);
        double mx = -1e30, se = 0;
        int order[6] = { 0, 1, 2, 3, 4, 5 };
        for (int j = 0; lg && j < 6; j++) mx = fmax(mx, lg[j]);
        for (int j = 0; lg && j < 6; j++) se += exp(lg[j] - mx);
        for (int a = 0; lg && a < 6; a++)   // expected order: reference logits descending
            for (int b = a + 1; b < 6; b++)
                if (lg[order[b]] > lg[order[a]]) { int t = order[a]; order[a] = order[b]; order[b] = t; }
        CHECK(!strncmp(out, "prob    cosine  label\n", 22), "classify's first line names the columns:\n%s", out);
        char * line = strchr(out, '\n') ? strchr(out, '\n') + 1 : out;   // the rows after the header
        int good = 0;
        double perr = 0;
        for (int i = 0; lg && i < 6 && line && *line; i++) {
            float p = 0, c = 0;
            char label[256] = "";
            if (sscanf(line, "%f %f %255[^\n]", &p, &c, label) == 3 &&
                !strcmp(label, cJSON_GetArrayItem(texts, order[i])->valuestring))
                good++;
            perr = fmax(perr, fabs(p - exp(lg[order[i]] - mx) / se));
            line = strchr(line, '\n');
            if (line) line++;
        }
        CHECK(good == 6 && perr < 2e-3, "classify prints the 6 labels best first (%d in place), probability error %.3g:\n%s",
              good, perr, out);
        free(out);
    }
    rc = run(NULL, "classify --backend cpu -m '%s' '%s' --labels 'dog,cat,truck' --top 2", model, img[1]);
    {
        char * out = slurp(out_txt);
        int lines = 0;
        for (char * p = out; *p; p++) lines += *p == '\n';
        CHECK(rc == 0 && lines == 3 && !strncmp(out, "prob    cosine  label\n", 22), "classify --top 2 prints a header and 2 lines "
              "(exit %d, %d lines)", rc, lines);
        free(out);
    }
    // labels file (comments and blank lines skipped)
    {
        char lf[256];
        snprintf(lf, sizeof lf, "%s/labels.txt", tmp);
        FILE * f = fopen(lf, "w");
        fprintf(f, "# animals\ndog\n\n cat \ntruck\n");
        fclose(f);
        rc = run(NULL, "classify --backend cpu -m '%s' '%s' --labels-file '%s'", model, img[0], lf);
        char * out = slurp(out_txt);
        int lines = 0;
        for (char * p = out; *p; p++) lines += *p == '\n';
        CHECK(rc == 0 && lines == 4 && strstr(out, "  cat\n"), "classify --labels-file: exit %d, output:\n%s", rc, out);
        free(out);
    }

    // ---- concepts, twice: the second run reads the cache and prints the same ----
    {
        char env[256], cache_glob[300];
        snprintf(env, sizeof env, "XDG_CACHE_HOME='%s/cache'", tmp);
        rc = run(env, "concepts --backend cpu -m '%s' '%s' --top 5", model, img[0]);
        char * first = slurp(out_txt);
        int lines = 0;
        for (char * p = first; *p; p++) lines += *p == '\n';
        CHECK(rc == 0 && lines == 6 && !strncmp(first, "prob    cosine  concept\n", 24), "concepts --top 5: exit %d, %d lines: %s",
              rc, lines, slurp(err_txt));
        snprintf(cache_glob, sizeof cache_glob, "ls '%s/cache/vlm/' | grep -q '^concepts-.*\\.bin$'", tmp);
        CHECK(system(cache_glob) == 0, "concepts wrote its cache file");
        rc = run(env, "concepts --backend cpu -m '%s' '%s' --top 5", model, img[0]);
        char * second = slurp(out_txt);
        CHECK(rc == 0 && !strcmp(first, second), "concepts from the cache prints the same:\n%s---\n%s", first, second);
        printf("  concepts (dog.jpg, random weights):\n%s", first);
        free(first);
        free(second);
    }

    // ---- bad input ----
    char bad_out[256];
    snprintf(bad_out, sizeof bad_out, "%s/bad.safetensors", tmp);
    rc = run(NULL, "embed --backend cpu -m '%s' --text \"$(printf 'bad \\303\\050 utf-8')\" --save-tensors '%s'", model, bad_out);
    expect_failure("embed: invalid UTF-8 text", "bad.safetensors", rc);
    {
        char * e = slurp(err_txt);
        CHECK(strstr(e, "UTF-8") != NULL, "the message names UTF-8: %s", e);
        free(e);
    }
    char long_text[1200] = "";
    for (int i = 0; i < 90; i++) strcat(long_text, "dog ");
    rc = run(NULL, "embed --backend cpu -m '%s' --text '%s' --no-truncate --save-tensors '%s'", model, long_text, bad_out);
    expect_failure("embed --no-truncate: 92-token text", "bad.safetensors", rc);
    rc = run(NULL, "embed --backend cpu -m '%s' --text '%s' --save-tensors '%s'", model, long_text, bad_out);
    {
        char * e = slurp(err_txt);
        CHECK(rc == 0 && strstr(e, "truncated") && exists(bad_out), "embed truncates a long text with a warning (exit %d): %s",
              rc, e);
        free(e);
        unlink(bad_out);
    }
    rc = run(NULL, "embed --backend cpu -m '%s' --save-tensors '%s'", model, bad_out);
    expect_failure("embed: nothing to embed", "bad.safetensors", rc);
    rc = run(NULL, "embed --backend cpu -m '%s' --image '%s/nope.jpg' --save-tensors '%s'", model, tmp, bad_out);
    expect_failure("embed: missing image", "bad.safetensors", rc);
    {
        char corrupt[256];
        snprintf(corrupt, sizeof corrupt, "%s/corrupt.jpg", tmp);
        FILE * f = fopen(corrupt, "wb");
        fwrite("\xFF\xD8\xFF\xE0garbage", 1, 11, f);
        fclose(f);
        rc = run(NULL, "embed --backend cpu -m '%s' --image '%s' --json '%s/bad.json'", model, corrupt, tmp);
        expect_failure("embed: corrupt image", "bad.json", rc);
    }
    rc = run(NULL, "embed --backend cpu -m '%s' --image '%s' --save-tensors '%s'", sam, img[0], bad_out);
    expect_failure("embed: a SAM model", "bad.safetensors", rc);
    {
        char * e = slurp(err_txt);
        CHECK(strstr(e, "not a CLIP model") != NULL, "the message says it is not a CLIP model: %s", e);
        free(e);
    }
    rc = run(NULL, "embed --backend cpu -m '%s' --text dog --json '%s/no/such/dir/x.json'", model, tmp);
    expect_failure("embed: unwritable output", NULL, rc);
    rc = run(NULL, "classify --backend cpu -m '%s' '%s' --labels ''", model, img[0]);
    expect_failure("classify: empty label list", NULL, rc);
    rc = run(NULL, "classify --backend cpu -m '%s' '%s' --labels 'dog,,cat'", model, img[0]);
    expect_failure("classify: empty label", NULL, rc);
    rc = run(NULL, "classify --backend cpu -m '%s' '%s' --labels 'dog,cat' --template 'no placeholder'", model, img[0]);
    expect_failure("classify: template without {}", NULL, rc);
    rc = run(NULL, "classify --backend cpu -m '%s' '%s'", model, img[0]);
    expect_failure("classify: no labels", NULL, rc);
    rc = run(NULL, "concepts --backend cpu -m '%s' '%s' --top 0", model, img[0]);
    expect_failure("concepts: --top 0", NULL, rc);

    if (ref) vlm_safetensors_close(ref);
    if (got) vlm_safetensors_close(got);
    cJSON_Delete(cj);
    TEST_END();
}
