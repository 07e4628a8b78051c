// test-index.c — `vlm index` and `vlm search` ($VLM_CLI) on a copy of the fixture images with
// the clip-tiny model: a killed run resumes from its checkpoint, undecodable files are reported
// and skipped, a second run embeds nothing, changed / touched / removed files, search results
// against a brute-force cosine over `vlm embed`, and bad input (another model, a corrupt index,
// an empty or missing folder, --top 0) failing with a message and leaving the index as it was;
// `vlm serve --index`: /v1/search as the CLI, /v1/index/ID the file or a thumbnail, by id only.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "model-file.h"
#include "serve-client.h"

static const char * tmp;   // the scratch folder
static char out[65536], model[512], imgs[300], ix[340];

#define CLI(env, ...) test_run_cli(out, sizeof out, tmp, env, __VA_ARGS__)

static void sh(const char * fmt, const char * a, const char * b) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    if (system(cmd) != 0) fprintf(stderr, "command failed: %s\n", cmd);
}

static bool exists(const char * p) { struct stat s; return stat(p, &s) == 0; }

// Entries of the index file: rows of "embeddings" (each checked to have unit norm); -1 when unreadable.
static int index_rows(const char * path, int dim) {
    struct vlm_safetensors * st = NULL;
    if (vlm_safetensors_open(path, &st) != VLM_STATUS_OK) return -1;
    const struct vlm_file_tensor * t = vlm_safetensors_find(st, "embeddings");
    int n = t && t->dtype == VLM_DTYPE_F32 && t->n_dims == 2 && t->shape[1] == dim && st->metadata_json ? (int)t->shape[0] : -1;
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < dim; j++) s += test_f32(t->data, (size_t)i * dim + j) * test_f32(t->data, (size_t)i * dim + j);
        if (fabs(s - 1) > 1e-4) n = -1;
    }
    vlm_safetensors_close(st);
    return n;
}

static void expect_fail(const char * what, int rc, int want_rc, const char * needle) {
    CHECK(rc == want_rc && strstr(out, "vlm ") && (!needle || strstr(out, needle)), "%s: exit %d (want %d), message with '%s': %s",
          what, rc, want_rc, needle ? needle : "", out);
    printf("  %-34s exit %d: %.*s", what, rc, (int)strcspn(out, "\n") + 1, out);
}

// The JSON results of `vlm search --json`, NULL when it failed.
static cJSON * search_json(const char * args) {
    int rc = CLI(NULL, "search '%s' --backend cpu --json %s", ix, args);
    const char * brace = strchr(out, '{');
    cJSON * j = rc == 0 && brace ? cJSON_Parse(brace) : NULL;
    CHECK(j != NULL, "search %s: exit %d, JSON: %s", args, rc, out);
    return j;
}

// The strict reader: copies of the index with one thing wrong in the metadata or the tensor
// (written with the safetensors writer, so only that thing is wrong) are refused by name; the
// unchanged copy written the same way is accepted, so the refusals are the reader's.
static void check_reader(void) {
    struct vlm_safetensors * st = NULL;
    CHECK(vlm_safetensors_open(ix, &st) == VLM_STATUS_OK && st->metadata_json, "open the index");
    if (!st || !st->metadata_json) { vlm_safetensors_close(st); return; }
    cJSON * meta = cJSON_Parse(st->metadata_json);
    const char * text = cJSON_GetStringValue(cJSON_GetObjectItem(meta, "vlm.index"));
    const struct vlm_file_tensor * t = vlm_safetensors_find(st, "embeddings");
    const int n = t ? (int)t->shape[0] : 0, d = t ? (int)t->shape[1] : 0;
    float * emb = malloc(sizeof(float) * (size_t)(n + 1) * d);
    for (int i = 0; emb && i < (n + 1) * d; i++) emb[i] = i < n * d ? (float)test_f32(t->data, (size_t)i) : 0.0f;
    static const struct { const char * what, * needle; } cases[] = {
        { "unchanged", NULL },
        { "version 2", "version 2" },
        { "a path with ..", "entry 1 lacks a safe relative path" },
        { "an absolute path", "entry 1 lacks a safe relative path" },
        { "a path twice", "twice" },
        { "a bad sha256", "entry 1 lacks" },
        { "a fractional size", "entry 1 lacks" },
        { "no model", "\"model\" lacks" },
        { "a relative root", "\"root\"" },
        { "one row too many", "\"embeddings\" is not F32" },
        { "a NaN", "non-finite" },
        { "F16 embeddings", "\"embeddings\" is not F32" },
        { "another format", "\"format\": \"vlm-index\"" },
        { "metadata not JSON", "no JSON" },
    };
    char path[160];
    snprintf(path, sizeof path, "%s/crafted.safetensors", tmp);
    for (size_t c = 0; text && emb && c < sizeof cases / sizeof *cases; c++) {
        cJSON * j = cJSON_Parse(text);
        cJSON * es = cJSON_GetObjectItem(j, "entries"), * e1 = cJSON_GetArrayItem(es, 1);
        int rows = n;
        const char * format = "vlm-index";
        bool nan = false, f16 = false, not_json = false;
        switch (c) {
        case 1: cJSON_ReplaceItemInObject(j, "version", cJSON_CreateNumber(2)); break;
        case 2: cJSON_ReplaceItemInObject(e1, "path", cJSON_CreateString("sub/../../etc/passwd")); break;
        case 3: cJSON_ReplaceItemInObject(e1, "path", cJSON_CreateString("/etc/passwd")); break;
        case 4: {
            const char * first = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(es, 0), "path"));
            cJSON_ReplaceItemInObject(e1, "path", cJSON_CreateString(first));
            break;
        }
        case 5: cJSON_ReplaceItemInObject(e1, "sha256", cJSON_CreateString("not-a-hash")); break;
        case 6: cJSON_ReplaceItemInObject(e1, "size", cJSON_CreateNumber(1.5)); break;
        case 7: cJSON_DeleteItemFromObject(j, "model"); break;
        case 8: cJSON_ReplaceItemInObject(j, "root", cJSON_CreateString("photos")); break;
        case 9: rows = n + 1; break;
        case 10: nan = true; break;
        case 11: f16 = true; break;
        case 12: format = "other"; break;
        case 13: not_json = true; break;
        }
        char * js = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        if (nan) emb[d + 3] = NAN;
        const char * m[] = { "format", format, "vlm.index", not_json ? "{\"version\": 1," : js, NULL };
        struct vlm_file_tensor w = { .name = "embeddings", .dtype = f16 ? VLM_DTYPE_F16 : VLM_DTYPE_F32, .n_dims = 2,
                                     .shape = { f16 ? 2 * rows : rows, d }, .data = emb,
                                     .nbytes = sizeof(float) * (size_t)rows * d, .gguf_type = -1 };
        CHECK(vlm_safetensors_write_meta(path, &w, 1, m) == VLM_STATUS_OK, "write the %s copy", cases[c].what);
        emb[d + 3] = (float)test_f32(t->data, (size_t)d + 3);
        free(js);
        int rc = CLI(NULL, "search '%s' 'a dog' --backend cpu", path);
        if (!cases[c].needle) {
            CHECK(rc == 0 && strstr(out, "/dog.jpg"), "the %s copy is read: %s", cases[c].what, out);
        } else {
            char what[80];
            snprintf(what, sizeof what, "index: %s", cases[c].what);
            expect_fail(what, rc, 1, cases[c].needle);
        }
    }
    cJSON_Delete(meta);
    free(emb);
    vlm_safetensors_close(st);
}

// `vlm serve --index`: search and images by id, bad requests answered and the server still up;
// a --clip of another model refused at start.
static void check_serve(const char * other_model) {
    char log_path[256], * body = NULL, * file = NULL;
    size_t n = 0, file_n = 0;
    snprintf(log_path, sizeof log_path, "%s/serve.log", tmp);
    const char * args[] = { "--index", ix, "--backend", "cpu", NULL };
    struct serve_proc sp = { 0 };
    if (!serve_start(getenv("VLM_CLI"), args, log_path, &sp)) {
        CHECK(0, "vlm serve --index did not start (log %s)", log_path);
        return;
    }
    int st = serve_http(sp.port, "GET", "/v1/health", NULL, 0, NULL, &body, NULL);
    cJSON * j = st == 200 ? cJSON_Parse(body) : NULL;
    CHECK(j && cJSON_GetObjectItem(j, "index") && cJSON_GetObjectItem(j, "index")->valueint == 4 &&
          cJSON_IsNull(cJSON_GetObjectItem(j, "model")), "health: 4 indexed images, no SAM: %s", body);
    cJSON_Delete(j), free(body);
    // the same results as `vlm search --json`
    cJSON * cli_res = search_json("--top 3 'a red truck'");
    st = serve_http(sp.port, "GET", "/v1/search?q=a%20red%20truck&top=3", NULL, 0, NULL, &body, NULL);
    j = st == 200 ? cJSON_Parse(body) : NULL;
    const cJSON * a = cJSON_GetObjectItem(j, "results"), * b = cJSON_GetObjectItem(cli_res, "results");
    bool same = a && b && cJSON_GetArraySize(a) == 3 && cJSON_GetArraySize(b) == 3;
    for (int i = 0; same && i < 3; i++)
        same = !strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(a, i), "path")->valuestring,
                       cJSON_GetObjectItem(cJSON_GetArrayItem(b, i), "path")->valuestring) &&
               fabs(cJSON_GetObjectItem(cJSON_GetArrayItem(a, i), "score")->valuedouble -
                    cJSON_GetObjectItem(cJSON_GetArrayItem(b, i), "score")->valuedouble) < 1e-6;
    CHECK(same, "GET /v1/search: the results of vlm search (status %d): %s", st, body);
    // /v1/index/ID: the file's bytes; ?size=N a PNG
    const cJSON * first = cJSON_GetArrayItem(a, 0);
    char url[64], path[512];
    int id = first ? cJSON_GetObjectItem(first, "id")->valueint : 0;
    snprintf(path, sizeof path, "%s/%s", imgs, first ? cJSON_GetObjectItem(first, "path")->valuestring : "");
    cJSON_Delete(j), cJSON_Delete(cli_res), free(body);
    snprintf(url, sizeof url, "/v1/index/%d", id);
    st = serve_http(sp.port, "GET", url, NULL, 0, NULL, &body, &n);
    FILE * f = fopen(path, "rb");
    if (f && (file = malloc(1 << 20))) file_n = fread(file, 1, 1 << 20, f);
    if (f) fclose(f);
    CHECK(st == 200 && file && n == file_n && !memcmp(body, file, n), "GET %s: the bytes of %s (%zu bytes)", url, path, n);
    free(body), free(file);
    snprintf(url, sizeof url, "/v1/index/%d?size=32", id);
    st = serve_http(sp.port, "GET", url, NULL, 0, NULL, &body, &n);
    CHECK(st == 200 && n > 8 && !memcmp(body, "\x89PNG", 4), "GET %s: a PNG thumbnail", url);
    free(body);
    static const struct { const char * method, * url; int status; } bad_req[] = {
        { "GET", "/v1/index/4", 404 }, { "GET", "/v1/index/-1", 404 }, { "GET", "/v1/index/..%2F..%2Fetc%2Fpasswd", 404 },
        { "GET", "/v1/index/1x", 404 }, { "GET", "/v1/index/0?size=0", 400 }, { "GET", "/v1/search", 400 },
        { "GET", "/v1/search?q=dog&top=0", 400 }, { "POST", "/v1/search?q=dog", 405 }, { "POST", "/v1/segment", 404 },
    };
    for (size_t i = 0; i < sizeof bad_req / sizeof *bad_req; i++) {
        st = serve_http(sp.port, bad_req[i].method, bad_req[i].url, "{}", 2, "application/json", &body, NULL);
        CHECK(st == bad_req[i].status && strstr(body ? body : "", "\"error\""), "%s %s: %d (want %d): %s", bad_req[i].method,
              bad_req[i].url, st, bad_req[i].status, body);
        free(body);
    }
    st = serve_http(sp.port, "GET", "/v1/health", NULL, 0, NULL, &body, NULL);
    CHECK(st == 200, "still serving after the bad requests");
    free(body);
    CHECK(serve_stop(&sp) == 0, "the server exits cleanly on SIGTERM");
    // --clip of another model than the index's: refused at start
    int rc = CLI(NULL, "serve --index '%s' --clip '%s' --backend cpu --port 0", ix, other_model);
    expect_fail("serve --index with another --clip", rc, 1, "clip-tiny");
}

int main(void) {
    if (!getenv("VLM_CLI") || access(getenv("VLM_CLI"), X_OK) != 0) SKIP("VLM_CLI is not set to the vlm executable");
    const char * fx = test_fixtures_dir();
    snprintf(model, sizeof model, "%s/clip-tiny", fx);
    if (!exists(model)) SKIP("clip-tiny fixture absent");
    tmp = test_tmp_dir("index");
    snprintf(imgs, sizeof imgs, "%s/photos", tmp);
    snprintf(ix, sizeof ix, "%s/.vlm-index.safetensors", imgs);
    // 5 images (one in a subfolder), a text file named .jpg, a truncated JPEG, a text file
    char src[520];
    snprintf(src, sizeof src, "%s/images", fx);
    sh("mkdir -p '%s/sub'%s", imgs, "");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && cp '%s'/dog.jpg '%s'/truck.jpg '%s'/groceries.jpg '%s'/gray_odd.jpg . && "
                              "cp '%s'/shapes_rgba.png sub/ && echo 'not an image' > notes.jpg && head -c 3000 dog.jpg > trunc.jpg && "
                              "echo text > readme.txt", imgs, src, src, src, src, src);
    CHECK(system(cmd) == 0, "set up the folder");

    // ---- a run killed after 4 images (batches of 2, a checkpoint after each) ----
    int rc = CLI("VLM_INDEX_CRASH_AFTER=4", "index '%s' -m '%s' --backend cpu --batch 2 --checkpoint 0", imgs, model);
    CHECK(rc == 128 + 9 || rc == 9, "the crash hook kills the run (exit %d): %s", rc, out);
    CHECK(index_rows(ix, 32) == 2, "the killed run left its checkpoint: 2 rows (got %d)", index_rows(ix, 32));
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -q '\\.tmp\\.'", imgs);
    CHECK(system(cmd) != 0, "no temporary file left by the checkpoint");
    // the next run (model from the index, no -m) completes it
    rc = CLI(NULL, "index '%s' --backend cpu --batch 2", imgs);
    CHECK(rc == 0 && strstr(out, "7 images: 3 embedded, 2 unchanged") && strstr(out, "2 skipped"), "resumed run: %s", out);
    CHECK(strstr(out, "notes.jpg") && strstr(out, "trunc.jpg") && strstr(out, "warning"), "undecodable files reported: %s", out);
    CHECK(!strstr(out, "readme.txt"), "a .txt file is not looked at");
    CHECK(index_rows(ix, 32) == 5, "5 rows after the resumed run (got %d)", index_rows(ix, 32));
    printf("  resumed: %s", strstr(out, "vlm index: /") ? strstr(out, "vlm index: /") : out);

    // ---- a second run embeds nothing and does not rewrite the file ----
    struct stat before, after;
    stat(ix, &before);
    rc = CLI(NULL, "index '%s' --backend cpu", imgs);
    stat(ix, &after);
    CHECK(rc == 0 && strstr(out, " 0 embedded, 5 unchanged") && strstr(out, "up to date, nothing embedded"), "second run: %s", out);
    CHECK(before.st_mtim.tv_nsec == after.st_mtim.tv_nsec && before.st_ino == after.st_ino, "an up-to-date index is not rewritten");

    // ---- the Vulkan backend gives the same embeddings (within the CLIP fixtures' 2e-3) ----
    char vk[256];
    snprintf(vk, sizeof vk, "%s/vulkan.safetensors", tmp);
    rc = test_want_backend("vulkan") ? CLI(NULL, "index '%s' -m '%s' --out '%s' --backend vulkan", imgs, model, vk) : -1;
    struct vlm_safetensors * a = NULL, * b = NULL;
    if (rc == 0 && vlm_safetensors_open(ix, &a) == VLM_STATUS_OK && vlm_safetensors_open(vk, &b) == VLM_STATUS_OK) {
        const struct vlm_file_tensor * ta = vlm_safetensors_find(a, "embeddings"), * tb = vlm_safetensors_find(b, "embeddings");
        double e = ta && tb && ta->nbytes == tb->nbytes ? test_max_abs(tb->data, ta->data, ta->nbytes / 4) : INFINITY;
        CHECK(e <= 2e-3, "Vulkan index: embeddings within 2e-3 of the CPU's (max abs %.3g)", e);
        printf("  Vulkan vs CPU index embeddings: max abs %.3g\n", e);
    } else {
        CHECK(rc == -1 || !test_require_vulkan(), "VLM_TEST_REQUIRE_VULKAN=1 but the Vulkan index failed: %s", out);
        printf("  Vulkan not tested: %s\n", rc == -1 ? "VLM_TEST_BACKENDS" : out);
    }
    vlm_safetensors_close(a), vlm_safetensors_close(b);

    // ---- search against a brute-force cosine over `vlm embed` ----
    static const char * const files[5] = { "dog.jpg", "gray_odd.jpg", "groceries.jpg", "sub/shapes_rgba.png", "truck.jpg" };
    static const char * const texts[3] = { "a photo of a dog", "a red truck", "groceries on a table" };
    char emb_json[256];
    snprintf(emb_json, sizeof emb_json, "%s/emb.json", tmp);
    rc = CLI(NULL, "embed --backend cpu -m '%s' --image '%s/%s' --image '%s/%s' --image '%s/%s' --image '%s/%s' --image '%s/%s' "
                   "--text '%s' --text '%s' --text '%s' --json '%s'",
             model, imgs, files[0], imgs, files[1], imgs, files[2], imgs, files[3], imgs, files[4], texts[0], texts[1], texts[2],
             emb_json);
    char * ej = test_read_text(emb_json);
    cJSON * emb = rc == 0 && ej ? cJSON_Parse(ej) : NULL;
    free(ej);
    CHECK(emb != NULL, "vlm embed --json: %s", out);
    const cJSON * sim = cJSON_GetObjectItem(emb, "similarity");
    for (int t = 0; emb && t < 3; t++) {
        char args[256];
        snprintf(args, sizeof args, "--top 5 '%s'", texts[t]);
        cJSON * j = search_json(args);
        const cJSON * res = cJSON_GetObjectItem(j, "results");
        CHECK(cJSON_GetArraySize(res) == 5, "5 results");
        double best = -2, worst_err = 0;
        int best_i = -1;
        for (int i = 0; i < 5; i++) {
            double c = cJSON_GetArrayItem(cJSON_GetArrayItem(sim, i), t)->valuedouble;
            if (c > best) best = c, best_i = i;
        }
        for (int r = 0; r < cJSON_GetArraySize(res); r++) {   // every result's score is its brute-force cosine
            const cJSON * e = cJSON_GetArrayItem(res, r);
            const char * p = cJSON_GetObjectItem(e, "path")->valuestring;
            for (int i = 0; i < 5; i++)
                if (!strcmp(p, files[i])) {
                    double err = fabs(cJSON_GetObjectItem(e, "score")->valuedouble -
                                      cJSON_GetArrayItem(cJSON_GetArrayItem(sim, i), t)->valuedouble);
                    if (err > worst_err) worst_err = err;
                }
        }
        const cJSON * top = cJSON_GetArrayItem(res, 0);
        const char * top_path = top ? cJSON_GetObjectItem(top, "path")->valuestring : "";
        CHECK(best_i >= 0 && !strcmp(top_path, files[best_i]), "\"%s\": top result %s, brute force %s", texts[t], top_path,
              best_i >= 0 ? files[best_i] : "?");
        CHECK(worst_err < 1e-4, "\"%s\": scores within 1e-4 of the brute-force cosines (max error %.2g)", texts[t], worst_err);
        printf("  \"%s\": top %s (%.4f), brute force %s (%.4f), max score error %.2g\n", texts[t], top_path,
               top ? cJSON_GetObjectItem(top, "score")->valuedouble : 0, files[best_i], best, worst_err);
        cJSON_Delete(j);
    }
    cJSON_Delete(emb);
    // by an image: itself first, cosine 1
    snprintf(cmd, sizeof cmd, "--image '%s/truck.jpg' --top 2", imgs);
    cJSON * j = search_json(cmd);
    const cJSON * top = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "results"), 0);
    CHECK(top && !strcmp(cJSON_GetObjectItem(top, "path")->valuestring, "truck.jpg") &&
          fabs(cJSON_GetObjectItem(top, "score")->valuedouble - 1) < 1e-4, "--image truck.jpg finds itself with cosine 1");
    cJSON_Delete(j);
    rc = CLI(NULL, "search '%s' 'a dog' --top 3 --backend cpu", ix);
    CHECK(rc == 0 && strstr(out, "/dog.jpg") && strstr(out, " ms"), "plain output: paths, scores, ms: %s", out);

    // ---- changed, touched and removed files ----
    snprintf(cmd, sizeof cmd, "cd '%s' && printf 'trailing bytes' >> groceries.jpg && touch -d '2001-01-01' truck.jpg && "
                              "rm gray_odd.jpg", imgs);
    CHECK(system(cmd) == 0, "change the folder");
    rc = CLI(NULL, "index '%s' --backend cpu", imgs);
    CHECK(rc == 0 && strstr(out, "6 images: 1 embedded, 2 unchanged, 1 re-read with the same content, 1 removed"),
          "changed (re-embedded), touched (re-hashed only), removed (dropped): %s", out);
    CHECK(index_rows(ix, 32) == 4, "4 rows after the removal (got %d)", index_rows(ix, 32));

    // ---- bad input ----
    check_reader();
    char other[256], bad[256], empty[256];
    snprintf(other, sizeof other, "%s/other-clip", tmp);   // the same model with one weight byte changed
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s' && printf '\\001' | dd of='%s/model.safetensors' bs=1 seek=$(( $(stat -c %%s '%s/model.safetensors') - 1 )) "
                              "conv=notrunc 2>/dev/null", model, other, other, other);
    CHECK(system(cmd) == 0, "make a second model");
    char before_bytes[128];
    snprintf(before_bytes, sizeof before_bytes, "%s/ix-before", tmp);
    sh("cp '%s' '%s'", ix, before_bytes);
    rc = CLI(NULL, "search '%s' 'a dog' -m '%s' --backend cpu", ix, other);
    expect_fail("search with another model", rc, 1, "other-clip");
    CHECK(strstr(out, "clip-tiny") != NULL, "the message names both models: %s", out);
    rc = CLI(NULL, "index '%s' -m '%s' --backend cpu", imgs, other);
    expect_fail("index with another model", rc, 1, "clip-tiny");
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", ix, before_bytes);
    CHECK(system(cmd) == 0, "the index is left as it was");

    snprintf(cmd, sizeof cmd, "'%s' serve --help > /dev/null 2>&1", getenv("VLM_CLI"));
    if (system(cmd) == 0) check_serve(other);
    else printf("  vlm was built without libmicrohttpd: serve --index not tested\n");

    snprintf(bad, sizeof bad, "%s/truncated.safetensors", tmp);
    snprintf(cmd, sizeof cmd, "head -c $(( $(stat -c %%s '%s') - 40 )) '%s' > '%s'", ix, ix, bad);
    CHECK(system(cmd) == 0, "truncate a copy");
    rc = CLI(NULL, "search '%s' 'a dog' --backend cpu", bad);
    expect_fail("truncated index", rc, 1, "truncated.safetensors");
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && printf 'X' | dd of='%s' bs=1 seek=8 conv=notrunc 2>/dev/null", ix, bad, bad);
    CHECK(system(cmd) == 0, "corrupt a copy's header");
    rc = CLI(NULL, "search '%s' 'a dog' --backend cpu", bad);
    expect_fail("corrupt index header", rc, 1, "truncated.safetensors");
    rc = CLI(NULL, "search '%s/model.safetensors' 'a dog' --backend cpu", model);
    expect_fail("a model file as the index", rc, 1, "not a valid vlm index");
    rc = CLI(NULL, "index '%s' --out '%s' --backend cpu", imgs, bad);
    expect_fail("index into a corrupt index", rc, 1, "remove it");

    snprintf(empty, sizeof empty, "%s/empty", tmp);
    sh("mkdir -p '%s/sub' && echo text > '%s/notes.txt'", empty, empty);
    rc = CLI(NULL, "index '%s' -m '%s' --backend cpu", empty, model);
    expect_fail("empty folder", rc, 1, "no images found");
    snprintf(cmd, sizeof cmd, "%s/.vlm-index.safetensors", empty);
    CHECK(!exists(cmd), "no index written for an empty folder");
    rc = CLI(NULL, "index '%s/missing' -m '%s' --backend cpu", tmp, model);
    expect_fail("missing folder", rc, 1, "missing");
    rc = CLI(NULL, "search '%s' 'a dog' --top 0", ix);
    expect_fail("--top 0", rc, 2, "--top");
    rc = CLI(NULL, "search '%s' 'a dog' --top -3", ix);
    expect_fail("--top -3", rc, 2, "--top");
    rc = CLI(NULL, "search '%s'", ix);
    expect_fail("no query", rc, 2, "query");
    rc = CLI(NULL, "search '%s/none.safetensors' 'a dog'", tmp);
    expect_fail("missing index", rc, 1, "none.safetensors");
    rc = CLI(NULL, "index '%s' --batch 0", imgs);
    expect_fail("--batch 0", rc, 2, "--batch");
    TEST_END();
}
