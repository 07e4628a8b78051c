// test-vqa-batch.c — the VQA scripts of the `vlm` executable ($VLM_CLI) with the smolvlm-tiny
// fixture pair: `vlm ask --batch` over a JSONL file made here (a line that is not JSON, a
// missing image, a line without a question, an image asked about twice, extra keys kept),
// resumed after its last line was deleted or torn, split into shards that cover every line
// once, over a folder; the VQA session's memory of recent images; and `vlm vqa-score` on a
// hand-made answers file.
#include <cjson/cJSON.h>

#include "harness.h"
#include "vqa.h"

static const char * tmp;   // the scratch folder
static char out[1 << 20];
static char f32[1024], mmproj[1024], models[2200];

#define run(...) test_run_cli(out, sizeof out, tmp, "OMP_NUM_THREADS=2", __VA_ARGS__)

static void expect_error(const char * what, int rc, const char * needle) {
    CHECK(rc != 0 && rc < 128, "%s: exit %d (expected a clean failure)", what, rc);
    CHECK(strstr(out, needle) != NULL, "%s: message lacks '%s': %s", what, needle, out);
}

static void write_text(const char * name, const char * text) {
    FILE * f = fopen(test_tmp_path(name), "wb");
    if (f) fputs(text, f), fclose(f);
}

static char * read_text(const char * name) {
    char * s = test_read_text(test_tmp_path(name));
    return s ? s : calloc(1, 1);
}

// The JSON objects of a JSONL text (lines that do not parse are NULL), as a cJSON array.
static cJSON * parse_lines(const char * text) {
    cJSON * a = cJSON_CreateArray();
    const char * p = text;
    while (*p) {
        const char * e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char * line = strndup(p, n);
        cJSON * o = line[0] == '{' ? cJSON_Parse(line) : NULL;
        if (line[0] == '{') cJSON_AddItemToArray(a, o ? o : cJSON_CreateNull());
        free(line);
        p += n + (e != NULL);
    }
    return a;
}

static const char * str(const cJSON * o, const char * key) {
    const char * v = cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
    return v ? v : "";
}

static int line_of(const cJSON * o) {
    const cJSON * l = cJSON_GetObjectItem(o, "line");
    return cJSON_IsNumber(l) ? l->valueint : -1;
}

#define N_LINES 8   // lines with a record (the file's ninth line is blank)
static const char * const input =
    "{\"id\": \"a\", \"image\": \"dog.jpg\", \"question\": \"What is this?\", \"answers\": [\"dog\", \"dog\", \"cat\"]}\n"
    "{\"id\": \"b\", \"image\": \"dog.jpg\", \"question\": \"What colour is it?\"}\n"
    "this is not JSON\n"
    "{\"id\": \"d\", \"image\": \"missing.jpg\", \"question\": \"What is this?\"}\n"
    "{\"id\": \"e\", \"image\": \"truck.jpg\", \"question\": \"What is this?\", \"extra\": [1, 2]}\n"
    "{\"image\": \"dog.jpg\", \"question\": \"Describe this image.\"}\n"
    "{\"id\": \"g\", \"image\": \"truck.jpg\"}\n"
    "{\"id\": \"h\", \"image\": \"truck.jpg\", \"question\": \"Where is it?\"}\n"
    "\n";

// Every record line answered or failed exactly once, the failures being lines 3, 4 and 7.
static void check_answers(const char * what, const char * text) {
    cJSON * a = parse_lines(text);
    int seen[N_LINES + 2] = { 0 };
    CHECK(cJSON_GetArraySize(a) == N_LINES, "%s: %d lines, not %d: %s", what, cJSON_GetArraySize(a), N_LINES, text);
    const cJSON * o;
    cJSON_ArrayForEach(o, a) {
        int l = line_of(o);
        if (l < 1 || l > N_LINES + 1) {
            CHECK(0, "%s: a line without a valid \"line\"", what);
            continue;
        }
        seen[l]++;
        bool bad = l == 3 || l == 4 || l == 7;
        const cJSON * err = cJSON_GetObjectItem(o, "error"), * ans = cJSON_GetObjectItem(o, "answer");
        CHECK(bad ? cJSON_IsString(err) && !ans : cJSON_IsString(ans) && !err, "%s: line %d: %s", what, l, text);
        if (!bad) {
            CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "tokens")) > 0 && cJSON_IsNumber(cJSON_GetObjectItem(o, "ms")),
                  "%s: line %d lacks tokens / ms", what, l);
            CHECK(cJSON_GetObjectItem(o, "question") && cJSON_GetObjectItem(o, "image"), "%s: line %d lost its keys", what, l);
        }
    }
    for (int l = 1; l <= N_LINES + 1; l++)
        CHECK(seen[l] == (l <= N_LINES), "%s: line %d written %d times", what, l, seen[l]);
    cJSON_Delete(a);
}

static void test_batch(void) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/data && cp %s/images/dog.jpg %s/images/truck.jpg %s/data/", tmp,
             test_fixtures_dir(), test_fixtures_dir(), tmp);
    CHECK(system(cmd) == 0, "copying the images");
    write_text("data/questions.jsonl", input);

    int rc = run("ask --batch %s %s -o %s", test_tmp_path("data/questions.jsonl"), models, test_tmp_path("answers.jsonl"));
    CHECK(rc == 1, "batch with bad lines: exit %d, not 1: %s", rc, out);
    CHECK(!strstr(out, "ETA"), "progress shown on a stderr that is not a terminal: %s", out);
    CHECK(strstr(out, "questions.jsonl:3: not a JSON object") && strstr(out, "questions.jsonl:4:") &&
          strstr(out, "missing.jpg") && strstr(out, "questions.jsonl:7:") && !strstr(out, "questions.jsonl:1:"),
          "batch: each bad line named with its number: %s", out);
    char * first = read_text("answers.jsonl");
    check_answers("batch", first);
    cJSON * a = parse_lines(first);
    const cJSON * l1 = cJSON_GetArrayItem(a, 0), * l5 = cJSON_GetArrayItem(a, 4), * l4 = cJSON_GetArrayItem(a, 3);
    CHECK(line_of(l1) == 1 && cJSON_GetArraySize(cJSON_GetObjectItem(l1, "answers")) == 3 && !strcmp(str(l1, "id"), "a"),
          "batch: line 1 keeps its keys");
    CHECK(line_of(l5) == 5 && cJSON_GetArraySize(cJSON_GetObjectItem(l5, "extra")) == 2, "batch: line 5 keeps \"extra\"");
    CHECK(line_of(l4) == 4 && !strcmp(str(l4, "id"), "d"), "batch: the error line of a line with an id carries it");
    cJSON_Delete(a);

    // resume: the last line deleted, then the last line torn mid-way; only it is answered again
    char * cut = strdup(first);
    char * last = cut + strlen(cut) - 1;
    while (last > cut && last[-1] != '\n') last--;
    size_t keep = (size_t)(last - cut), half = strlen(last) / 2;
    for (int torn = 0; torn < 2; torn++) {
        last[torn ? half : 0] = 0;
        write_text("answers.jsonl", cut);
        rc = run("ask --batch %s %s -o %s", test_tmp_path("data/questions.jsonl"), models, test_tmp_path("answers.jsonl"));
        char * again = read_text("answers.jsonl");
        const char * what = torn ? "resume after a torn line" : "resume after a deleted line";
        CHECK(rc == 1 && !strstr(out, "questions.jsonl:3") && (!torn || strstr(out, "partial last line")),
              "%s: earlier lines not redone (exit %d): %s", what, rc, out);
        CHECK(!strncmp(again, first, keep), "%s: the earlier lines changed", what);
        check_answers(what, again);
        cJSON * x = parse_lines(again), * y = parse_lines(first);
        const cJSON * ax = cJSON_GetArrayItem(x, N_LINES - 1), * ay = cJSON_GetArrayItem(y, N_LINES - 1);
        CHECK(ax && ay && !strcmp(str(ax, "answer"), str(ay, "answer")), "%s: the line answered again differs", what);
        cJSON_Delete(x), cJSON_Delete(y);
        free(again);
        memcpy(cut, first, strlen(first) + 1);
    }
    char * before = read_text("answers.jsonl");
    rc = run("ask --batch %s %s -o %s", test_tmp_path("data/questions.jsonl"), models, test_tmp_path("answers.jsonl"));
    char * after = read_text("answers.jsonl");
    CHECK(rc == 1 && !strcmp(before, after), "a finished batch run again adds nothing and still fails: %d %s", rc, out);
    free(before), free(after);
    free(cut);

    // two shards: every line once, the first shard the lines of even index
    int seen[N_LINES + 2] = { 0 };
    for (int k = 1; k <= 2; k++) {
        char name[32];
        snprintf(name, sizeof name, "shard%d.jsonl", k);
        rc = run("ask --batch %s %s -o %s --shard %d/2", test_tmp_path("data/questions.jsonl"), models, test_tmp_path(name), k);
        CHECK(rc == 1, "shard %d/2: exit %d: %s", k, rc, out);
        char * t = read_text(name);
        cJSON * s = parse_lines(t);
        const cJSON * o;
        cJSON_ArrayForEach(o, s) {
            int l = line_of(o);
            CHECK(l >= 1 && l <= N_LINES && (l - 1) % 2 == k - 1, "shard %d/2 holds line %d", k, l);
            if (l >= 1 && l <= N_LINES) seen[l]++;
            cJSON * whole = parse_lines(first);
            CHECK(!strcmp(str(o, "answer"), str(cJSON_GetArrayItem(whole, l - 1), "answer")),
                  "shard %d/2: line %d's answer differs from the whole run's", k, l);
            cJSON_Delete(whole);
        }
        cJSON_Delete(s);
        free(t);
    }
    for (int l = 1; l <= N_LINES; l++) CHECK(seen[l] == 1, "the shards hold line %d %d times", l, seen[l]);
    free(first);

    // the scores of the shards together are those of the whole
    rc = run("vqa-score %s --json", test_tmp_path("answers.jsonl"));
    char * whole = strdup(out);
    rc |= run("vqa-score %s %s --json", test_tmp_path("shard1.jsonl"), test_tmp_path("shard2.jsonl"));
    CHECK(rc == 0 && !strcmp(whole, out) && strstr(out, "\"count\": 1,") && strstr(out, "\"failed\": 3,"),
          "vqa-score of the shards: %s / %s", whole, out);
    free(whole);

    // a folder of images, one question, answers on stdout
    write_text("data/notes.txt", "not an image");
    rc = run("ask --batch %s --question 'What is this?' %s", test_tmp_path("data"), models);
    cJSON * f = parse_lines(out);
    const cJSON * f0 = cJSON_GetArrayItem(f, 0), * f1 = cJSON_GetArrayItem(f, 1);
    CHECK(rc == 0 && cJSON_GetArraySize(f) == 2 && !strcmp(str(f0, "image"), "dog.jpg") && !strcmp(str(f1, "image"), "truck.jpg") &&
          cJSON_GetObjectItem(f1, "answer") && !strcmp(str(f1, "question"), "What is this?"), "folder batch: %s", out);
    cJSON_Delete(f);
    rc = run("ask --batch %s --question 'What is this?' %s -o %s", test_tmp_path("data"), models, test_tmp_path("folder.jsonl"));
    char * once = read_text("folder.jsonl");
    write_text("data/zebra.png", "not a PNG");
    rc |= run("ask --batch %s --question 'What is this?' %s -o %s", test_tmp_path("data"), models, test_tmp_path("folder.jsonl"));
    char * twice = read_text("folder.jsonl");
    f = parse_lines(twice);
    CHECK(rc == 1 && !strncmp(once, twice, strlen(once)) && cJSON_GetArraySize(f) == 3 &&
          !strcmp(str(cJSON_GetArrayItem(f, 2), "image"), "zebra.png") && cJSON_GetObjectItem(cJSON_GetArrayItem(f, 2), "error"),
          "folder batch resumed with a new (broken) image: %s", twice);
    cJSON_Delete(f);
    free(once), free(twice);
    remove(test_tmp_path("data/zebra.png"));

    // bad use
    expect_error("folder without --question", run("ask --batch %s %s", test_tmp_path("data"), models), "--question");
    expect_error("batch and an image", run("ask --batch %s %s %s", test_tmp_path("data/questions.jsonl"),
                 test_fixture("images/dog.jpg"), models), "--batch");
    expect_error("shard 0/2", run("ask --batch %s %s --shard 0/2", test_tmp_path("data/questions.jsonl"), models), "--shard");
    expect_error("shard 3/2", run("ask --batch %s %s --shard 3/2", test_tmp_path("data/questions.jsonl"), models), "--shard");
    expect_error("shard x", run("ask --batch %s %s --shard x", test_tmp_path("data/questions.jsonl"), models), "--shard");
    expect_error("-o without --batch", run("ask %s q %s -o %s", test_fixture("images/dog.jpg"), models,
                 test_tmp_path("x.jsonl")), "--batch");
    expect_error("missing input", run("ask --batch %s %s -o %s", test_tmp_path("none.jsonl"), models, test_tmp_path("y.jsonl")), "none.jsonl");
    CHECK(access(test_tmp_path("y.jsonl"), F_OK) != 0, "a failed batch left its answers file");
    expect_error("unwritable output", run("ask --batch %s %s -o %s", test_tmp_path("data/questions.jsonl"), models,
                 test_tmp_path("no/such/dir/a.jsonl")), "a.jsonl");
}

// An image asked about again after others comes from the session's recent embeddings.
static void test_recent(void) {
    struct vlm_model_params mp = vlm_model_default_params();
    mp.backend = VLM_BACKEND_CPU;
    struct vlm_model * text = NULL;
    struct vlm_smolvlm_vision * vision = NULL;
    struct vlm_vqa * q = NULL;
    struct vlm_sampler * smp = NULL;
    struct vlm_image img[3] = { 0 };
    struct vlm_vqa_params vp = { .n_recent = 2, .tiling = { .max_tiles = 1 } };
    bool ok = vlm_model_load(f32, &mp, &text) == VLM_STATUS_OK && vlm_smolvlm_vision_load(mmproj, &mp, &vision) == VLM_STATUS_OK &&
              vlm_vqa_new(text, vision, &vp, &q) == VLM_STATUS_OK && vlm_sampler_new(NULL, &smp) == VLM_STATUS_OK &&
              vlm_image_load(test_fixture("images/dog.jpg"), &img[0]) == VLM_STATUS_OK &&
              vlm_image_load(test_fixture("images/truck.jpg"), &img[1]) == VLM_STATUS_OK &&
              vlm_image_load(test_fixture("images/gray_odd.jpg"), &img[2]) == VLM_STATUS_OK;
    CHECK(ok, "recent images: set-up: %s", vlm_last_error());
    // two remembered: dog, truck, dog (remembered), gray (truck, the least recent, dropped),
    // truck (encoded again), gray (remembered)
    const int order[6] = { 0, 1, 0, 2, 1, 2 };
    const bool cached[6] = { false, false, true, false, false, true };
    for (int k = 0; ok && k < 6; k++) {
        struct vlm_generate_params gp = { .max_tokens = 1 };
        struct vlm_generation g;
        ok = vlm_vqa_set_image(q, &img[order[k]]) == VLM_STATUS_OK && vlm_vqa_ask(q, "What is this?", smp, &gp, &g) == VLM_STATUS_OK;
        vlm_generation_free(&g);
        CHECK(ok && vlm_vqa_timings(q)->image_cached == cached[k], "recent images: question %d: cached %d, expected %d",
              k + 1, ok && vlm_vqa_timings(q)->image_cached, cached[k]);
    }
    for (int k = 0; k < 3; k++) vlm_image_free(&img[k]);
    vlm_sampler_free(smp);
    vlm_vqa_free(q);
    vlm_smolvlm_vision_free(vision);
    vlm_model_free(text);
}

static void test_score(void) {
    write_text("scored.jsonl",
               // 9 of 10 references match after normalization ("two" -> "2"): accuracy 1
               "{\"answer\": \"Two\", \"answers\": [\"2\", \"2\", \"2\", \"two\", \"3\", \"2\", \"2\", \"2\", \"2\", \"2\"]}\n"
               // 2 of 10: (2 x 1/3 + 8 x 2/3) / 10 = 0.6
               "{\"answer\": \"A dog.\", \"answers\": [\"dog\", \"dog\", \"cat\", \"cat\", \"cat\", \"puppy\", \"cat\", \"cat\", "
               "\"cat\", \"cat\"]}\n"
               "{\"answer\": \"red\", \"answers\": \"blue\"}\n"   // 0
               "{\"answer\": \"Yes!\", \"answers\": \"yes\"}\n"   // 1
               "{\"line\": 5, \"error\": \"cannot open\"}\n"
               "{\"answer\": \"x\"}\n"
               "\n"
               // 3 of 4, VQAv2's objects: (3 x 2/3 + 1) / 4 = 0.75
               "{\"answer\": \"three\", \"answers\": [{\"answer\": \"3\"}, {\"answer\": \"3\"}, {\"answer\": \"3\"}, "
               "{\"answer\": \"4\"}]}\n");
    int rc = run("vqa-score %s --json", test_tmp_path("scored.jsonl"));
    cJSON * j = cJSON_Parse(out);
    const cJSON * acc = cJSON_GetObjectItem(j, "vqa_accuracy"), * em = cJSON_GetObjectItem(j, "exact_match");
    CHECK(rc == 0 && acc && fabs(acc->valuedouble - 3.35 / 5) < 1e-6 && fabs(em->valuedouble - 0.8) < 1e-6 &&
          cJSON_GetNumberValue(cJSON_GetObjectItem(j, "count")) == 5 && cJSON_GetNumberValue(cJSON_GetObjectItem(j, "failed")) == 1 &&
          cJSON_GetNumberValue(cJSON_GetObjectItem(j, "no_references")) == 1, "vqa-score: %s", out);
    cJSON_Delete(j);
    rc = run("vqa-score %s", test_tmp_path("scored.jsonl"));
    CHECK(rc == 0 && strstr(out, "VQA accuracy  67.00%") && strstr(out, "exact match   80.00%"), "vqa-score text: %s", out);
    write_text("broken.jsonl", "{\"answer\": \"a\", \"answers\": \"a\"}\n{\"answer\": \n");
    expect_error("vqa-score on a broken line", run("vqa-score %s", test_tmp_path("broken.jsonl")), "broken.jsonl:2");
    write_text("empty.jsonl", "{\"answer\": \"a\"}\n");
    expect_error("vqa-score without references", run("vqa-score %s", test_tmp_path("empty.jsonl")), "answers");
    expect_error("vqa-score without a file", run("vqa-score"), "no answers file");
    expect_error("vqa-score on a missing file", run("vqa-score %s", test_tmp_path("none.jsonl")), "none.jsonl");
}

int main(void) {
    snprintf(f32, sizeof f32, "%s", test_fixture("smolvlm-tiny/smolvlm-tiny-f32.gguf"));
    snprintf(mmproj, sizeof mmproj, "%s", test_fixture("smolvlm-tiny/mmproj-smolvlm-tiny-f32.gguf"));
    if (access(f32, R_OK) != 0 || access(mmproj, R_OK) != 0) SKIP("smolvlm-tiny fixtures not found");
    snprintf(models, sizeof models, "-m %s --mmproj %s --backend cpu --max-tokens 6", f32, mmproj);
    tmp = test_tmp_dir("vqa-batch");
    test_batch();
    test_recent();
    test_score();
    TEST_END();
}
