// test-language-cli.c — the language commands of the `vlm` executable ($VLM_CLI) on
// ../shared/fixtures/smolvlm-tiny: `tokenize`, `generate` (greedy text and --save-tensors
// against llama.cpp's outputs), `describe` / `ask` end to end from the JPEG (prompt layout
// exact, logits within the own-decoder tolerance, the image prefix reused by a second
// question, the embedding cache), `describe --objects` with sam-tiny and clip-tiny (the masks
// of `segment --everything`, concepts, captions, the overlay), and bad input: one-line errors,
// non-zero exits, no output file left behind.
#include <cjson/cJSON.h>

#include "fixtures.h"

static const char * tmp;   // the scratch folder
static char out[1 << 21];
static char f32[1024], f16[1024], mmproj[1024], dog[1024];

static int run(const char * fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char * fmt, ...) {
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return test_run_cli(out, sizeof out, tmp, "OMP_NUM_THREADS=2", "%s", args);
}

static bool exists(const char * name) { return access(test_tmp_path(name), F_OK) == 0; }

static void expect_error(const char * what, int rc, const char * needle) {
    CHECK(rc != 0 && rc < 128, "%s: exit %d (expected a clean failure)", what, rc);
    CHECK(strstr(out, needle) != NULL, "%s: message lacks '%s': %s", what, needle, out);
    CHECK(!strstr(out, "Segmentation") && !strstr(out, "Abort"), "%s: crashed: %s", what, out);
}

// The JSON object printed last in out (after any stderr lines).
static cJSON * json_out(void) {
    const char * b = strchr(out, '{');
    return b ? cJSON_Parse(b) : NULL;
}

static int32_t * ids_of(const cJSON * a, int * n) {
    *n = cJSON_GetArraySize(a);
    int32_t * v = malloc(sizeof(int32_t) * (size_t)(*n + 1));
    for (int i = 0; i < *n; i++) v[i] = cJSON_GetArrayItem(a, i)->valueint;
    return v;
}

static void test_tokenize_generate(const cJSON * cases, struct vlm_safetensors * exp) {
    // tokenize: the first fixture case that quotes safely in a shell
    const cJSON * tks = cJSON_GetObjectItem(cases, "tokenizer"), * tk = NULL;
    for (int i = 0; i < cJSON_GetArraySize(tks) && !tk; i++) {
        const char * t = cJSON_GetObjectItem(cJSON_GetArrayItem(tks, i), "text")->valuestring;
        if (!strchr(t, '\'') && !strchr(t, '\\') && strlen(t) > 3) tk = cJSON_GetArrayItem(tks, i);
    }
    const char * text = cJSON_GetObjectItem(tk, "text")->valuestring;
    char q[2048];
    snprintf(q, sizeof q, "'%s'", text);
    int rc = run("tokenize -m %s -p %s --json", f32, q);
    cJSON * j = json_out();
    int n = 0, n_want = 0;
    int32_t * got = j ? ids_of(cJSON_GetObjectItem(j, "ids"), &n) : NULL;
    int32_t * want = ids_of(cJSON_GetObjectItem(tk, "ids"), &n_want);
    bool same = rc == 0 && got && n == n_want;
    for (int i = 0; same && i < n; i++) same = got[i] == want[i];
    CHECK(same, "tokenize --json: %s", out);
    free(got); free(want); cJSON_Delete(j);

    // generate: the greedy continuation of a fixture prompt, as text and as tensors
    const cJSON * g = cJSON_GetArrayItem(cJSON_GetObjectItem(cases, "text_generation"), 0);
    const cJSON * ge = cJSON_GetObjectItem(cJSON_GetObjectItem(g, "greedy"), "f32_exact");
    snprintf(q, sizeof q, "'%s'", cJSON_GetObjectItem(g, "prompt")->valuestring);
    rc = run("generate -m %s -p %s --max-tokens 16 --backend cpu --save-tensors %s/gen.safetensors --json", f16, q, tmp);
    CHECK(rc == 0, "generate: %s", out);
    j = json_out();
    got = j ? ids_of(cJSON_GetObjectItem(j, "generated_ids"), &n) : NULL;
    want = ids_of(cJSON_GetObjectItem(ge, "ids"), &n_want);
    same = got && n == n_want;
    for (int i = 0; same && i < n; i++) same = got[i] == want[i];
    CHECK(same, "generate: greedy ids differ from llama.cpp's");
    free(got); free(want); cJSON_Delete(j);
    char p[256];
    snprintf(p, sizeof p, "%s/gen.safetensors", tmp);
    struct vlm_safetensors * st = NULL;
    CHECK(vlm_safetensors_open(p, &st) == VLM_STATUS_OK, "gen.safetensors: %s", vlm_last_error());
    const struct vlm_file_tensor * lg = st ? vlm_safetensors_find(st, "logits_last") : NULL;
    const struct vlm_file_tensor * ref = vlm_safetensors_find(exp, "text.f32.exact.logits_last.0");
    CHECK(st && vlm_safetensors_find(st, "prompt_ids") && vlm_safetensors_find(st, "generated_ids") && lg && ref &&
          lg->nbytes == ref->nbytes, "gen.safetensors: tensors");
    vlm_safetensors_close(st);

    // plain text output streams the continuation, and --chat wraps the prompt
    rc = run("generate -m %s -p 'Water boils at' --backend cpu", f32);
    CHECK(rc == 0 && strstr(out, "stop: eog"), "generate to EOG: %s", out);
    rc = run("generate -m %s -p hi --chat --max-tokens 4 --temp 0.8 --seed 3 --top-k 20 --backend cpu", f32);
    CHECK(rc == 0, "generate --chat with sampling: %s", out);

    // bad input
    expect_error("mmproj as text model", run("generate -m %s -p x", mmproj), "mmproj");
    expect_error("--max-tokens 0", run("generate -m %s -p x --max-tokens 0", f32), "--max-tokens");
    expect_error("negative temp", run("generate -m %s -p x --temp -1", f32), "--temp");
    expect_error("invalid UTF-8", run("generate -m %s -p \"$(printf '\\377\\376')\" --backend cpu", f32), "UTF-8");
    expect_error("prompt over the context", run("generate -m %s -p 'a b c d e f g h' --ctx 4 --backend cpu", f32), "context");
    expect_error("not a model", run("generate -m %s -p x", dog), "vlm generate");
    expect_error("SAM as text model", run("generate -m %s/sam-tiny -p x", test_fixtures_dir()), "not a language model");
    expect_error("tokenize without text", run("tokenize -m %s", f32), "no text");
    rc = run("generate -m %s -p x --save-tensors %s/bad/x.safetensors --backend cpu", f32, tmp);
    CHECK(rc != 0 && !exists("bad"), "unwritable --save-tensors: %d %s", rc, out);
}

static void test_describe_ask(const cJSON * cases, struct vlm_safetensors * exp) {
    const cJSON * vlm = cJSON_GetObjectItem(cases, "vlm");
    const cJSON * c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(vlm, "cases"), 0);
    const char * question = cJSON_GetObjectItem(c0, "user_prompt")->valuestring;
    const char * backends[2] = { "cpu", "vulkan" };
    for (int b = 0; b < 2; b++) {
        if (!test_want_backend(backends[b])) continue;
        int rc = run("ask %s '%s' -m %s --mmproj %s --backend %s --max-tokens 16 --max-tiles 0 --save-tensors %s/vqa.safetensors",
                     dog, question, f32, mmproj, backends[b], tmp);
        if (rc != 0 && b == 1 && !test_require_vulkan() && strstr(out, "ulkan")) continue;   // no device
        CHECK(rc == 0, "%s ask: %s", backends[b], out);
        char p[256];
        snprintf(p, sizeof p, "%s/vqa.safetensors", tmp);
        struct vlm_safetensors * st = NULL;
        if (vlm_safetensors_open(p, &st) != VLM_STATUS_OK) {
            CHECK(0, "%s: vqa.safetensors: %s", backends[b], vlm_last_error());
            continue;
        }
        const struct vlm_file_tensor * ids = vlm_safetensors_find(st, "prompt_ids");
        const cJSON * want = cJSON_GetObjectItem(c0, "prompt_ids_with_image_as_-1");
        bool same = ids && ids->shape[0] == cJSON_GetArraySize(want);
        for (int i = 0; same && i < (int)ids->shape[0]; i++) {
            int32_t v;
            memcpy(&v, (const char *)ids->data + 4 * i, 4);
            same = v == cJSON_GetArrayItem(want, i)->valueint;
        }
        CHECK(same, "%s: prompt_ids differ from libmtmd's layout", backends[b]);
        const struct vlm_file_tensor * px = vlm_safetensors_find(st, "pixel_values"), * em = vlm_safetensors_find(st, "image_embd");
        CHECK(px && px->n_dims == 4 && px->shape[0] == 13 && px->shape[3] == 3, "%s: pixel_values", backends[b]);
        CHECK(em && em->shape[0] == 52 && em->shape[1] == 64, "%s: image_embd", backends[b]);
        // from vlm's own JPEG decoder (libjpeg-turbo, not the oracle's stb: a few pixel values
        // differ), so twice the README's 5e-2 for own image embeddings from the same pixels
        const struct vlm_file_tensor * lg = vlm_safetensors_find(st, "logits_last");
        const struct vlm_file_tensor * ref = vlm_safetensors_find(exp, cJSON_GetObjectItem(c0, "logits_last_exact")->valuestring);
        double e = lg && ref && lg->nbytes == ref->nbytes ? test_max_abs(lg->data, ref->data, ref->nbytes / 4) : INFINITY;
        printf("  %-6s ask from the JPEG: logits max abs %.3g (tolerance 1e-1)\n", backends[b], e);
        CHECK(e <= 1e-1, "%s: logits from the JPEG differ by %.3g", backends[b], e);
        vlm_safetensors_close(st);
    }

    // two questions: the second reuses the image part of the first's prompt; the cache fills
    int rc = run("ask %s 'What do you see?' 'Describe this image.' -m %s --mmproj %s --backend cpu --max-tokens 4 "
                 "--max-tiles 0 --json --cache %s/cache", dog, f32, mmproj, tmp);
    cJSON * j = json_out();
    const cJSON * ans = j ? cJSON_GetObjectItem(j, "answers") : NULL;
    CHECK(rc == 0 && cJSON_GetArraySize(ans) == 2, "ask two questions: %s", out);
    if (cJSON_GetArraySize(ans) == 2) {
        int reused = cJSON_GetObjectItem(cJSON_GetArrayItem(ans, 1), "reused_tokens")->valueint;
        CHECK(reused >= 80, "second question reused %d positions (the image prefix is 88)", reused);
    }
    cJSON_Delete(j);
    rc = run("describe %s -m %s --mmproj %s --backend cpu --max-tokens 4 --max-tiles 0 --json --cache %s/cache", dog, f32,
             mmproj, tmp);
    j = json_out();
    ans = j ? cJSON_GetObjectItem(j, "answers") : NULL;
    const cJSON * tm = ans ? cJSON_GetObjectItem(cJSON_GetArrayItem(ans, 0), "timings_ms") : NULL;
    CHECK(rc == 0 && tm && cJSON_GetObjectItem(tm, "image_encoder")->valuedouble == 0.0,
          "describe: the image embeddings come from the cache: %s", out);
    cJSON_Delete(j);
    rc = run("describe %s -m %s --mmproj %s --backend cpu --max-tokens 4 --max-tiles 2", dog, f32, mmproj);
    CHECK(rc == 0, "describe --max-tiles 2: %s", out);

    // a region question: SAM's mask for a click (the same as `vlm segment -o`) and the crop the
    // language model sees (recomputed here from the mask by the documented rule)
    rc = run("ask %s 'What is this?' --point 320,290 --sam %s/sam-tiny -m %s --mmproj %s --backend cpu --max-tokens 4 "
             "--mask-out %s/mask.png --region-out %s/crop.png --json", dog, test_fixtures_dir(), f32, mmproj, tmp, tmp);
    j = json_out();
    CHECK(rc == 0 && j && cJSON_GetObjectItem(j, "region") && cJSON_GetObjectItem(j, "answers"), "region ask: %.300s", out);
    cJSON_Delete(j);
    rc = run("segment -m %s/sam-tiny %s --point 320,290 -o %s/seg.png --backend cpu", test_fixtures_dir(), dog, tmp);
    struct vlm_image mask = { 0 }, seg = { 0 }, crop = { 0 }, img = { 0 };
    char p1[256], p2[256], p3[256];
    snprintf(p1, sizeof p1, "%s/mask.png", tmp);
    snprintf(p2, sizeof p2, "%s/seg.png", tmp);
    snprintf(p3, sizeof p3, "%s/crop.png", tmp);
    bool loaded = rc == 0 && vlm_image_load(p1, &mask) == VLM_STATUS_OK && vlm_image_load(p2, &seg) == VLM_STATUS_OK &&
                  vlm_image_load(p3, &crop) == VLM_STATUS_OK && vlm_image_load(dog, &img) == VLM_STATUS_OK;
    CHECK(loaded, "region outputs: %s", out);
    if (loaded) {
        size_t n = (size_t)img.width * img.height;
        CHECK(mask.width == seg.width && !memcmp(mask.data, seg.data, n * 3), "region mask differs from vlm segment's");
        int x0 = img.width, y0 = img.height, x1 = -1, y1 = -1;
        for (int y = 0; y < img.height; y++)
            for (int x = 0; x < img.width; x++)
                if (mask.data[((size_t)y * img.width + x) * 3]) {
                    x0 = x < x0 ? x : x0, x1 = x > x1 ? x : x1, y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
                }
        int side = x1 - x0 > y1 - y0 ? x1 - x0 + 1 : y1 - y0 + 1, m = (int)ceil(0.15 * side);
        if (m < 8) m = 8;
        int cx0 = x0 - m < 0 ? 0 : x0 - m, cy0 = y0 - m < 0 ? 0 : y0 - m;
        int cx1 = x1 + m >= img.width ? img.width - 1 : x1 + m, cy1 = y1 + m >= img.height ? img.height - 1 : y1 + m;
        bool same = crop.width == cx1 - cx0 + 1 && crop.height == cy1 - cy0 + 1;
        for (int y = 0; same && y < crop.height; y++)
            for (int x = 0; same && x < crop.width; x++) {
                size_t si = ((size_t)(cy0 + y) * img.width + cx0 + x) * 3;
                for (int c = 0; c < 3 && same; c++) {
                    int v = img.data[si + c], want = mask.data[si] ? v : (int)lround(v * 0.5);
                    same = crop.data[((size_t)y * crop.width + x) * 3 + c] == want;
                }
            }
        CHECK(same, "the region crop differs from the reference crop (box %d,%d..%d,%d)", cx0, cy0, cx1, cy1);
    }
    vlm_image_free(&mask); vlm_image_free(&seg); vlm_image_free(&crop); vlm_image_free(&img);
    expect_error("--point without --sam", run("ask %s q --point 1,1 -m %s --mmproj %s", dog, f32, mmproj), "--sam");
    expect_error("point outside the image", run("ask %s q --point 5000,1 --sam %s/sam-tiny -m %s --mmproj %s --backend cpu "
                 "--mask-out %s/m2.png", dog, test_fixtures_dir(), f32, mmproj, tmp), "vlm ask");
    CHECK(!exists("m2.png"), "a failed region question left its mask behind");

    // bad input
    expect_error("empty question", run("ask %s '  ' -m %s --mmproj %s", dog, f32, mmproj), "empty");
    expect_error("no question", run("ask %s -m %s --mmproj %s", dog, f32, mmproj), "no question");
    expect_error("text model as mmproj", run("describe %s -m %s --mmproj %s --backend cpu", dog, f32, f16), "mmproj");
    expect_error("mmproj as text model", run("describe %s -m %s --mmproj %s --backend cpu", dog, mmproj, mmproj), "mmproj");
    expect_error("missing image", run("describe %s/none.jpg -m %s --mmproj %s", tmp, f32, mmproj), "none.jpg");
    expect_error("not an image", run("describe %s -m %s --mmproj %s --backend cpu", f32, f32, mmproj), "vlm describe");
    expect_error("no mmproj", run("describe %s -m %s", dog, f32), "--mmproj");
    rc = run("describe %s -m %s --mmproj %s --backend cpu --max-tokens 2 --save-tensors %s/no/such/dir/x.st", dog, f32,
             mmproj, tmp);
    CHECK(rc != 0 && !exists("no"), "unwritable --save-tensors: %d", rc);
}

// The largest masks of `segment --everything`, each with CLIP concepts and a caption.
static void test_describe_objects(void) {
    const char * everything = "--points-per-side 4 --pred-iou-thresh -10 --stability-score-thresh 0 --box-nms-thresh 1.01";
    char sam[1100], clip[1100];
    snprintf(sam, sizeof sam, "%s/sam-tiny", test_fixtures_dir());
    snprintf(clip, sizeof clip, "%s/clip-tiny", test_fixtures_dir());
    setenv("XDG_CACHE_HOME", tmp, 1);   // the concepts' embedding cache
    int rc = run("segment -m %s %s --everything %s --backend cpu --json %s/everything.json", sam, dog, everything, tmp);
    char p[256];
    snprintf(p, sizeof p, "%s/everything.json", tmp);
    char * text = test_read_text(p);
    cJSON * seg = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON * masks = cJSON_GetObjectItem(seg, "masks");
    const int n_masks = cJSON_GetArraySize(masks), n = 5;
    CHECK(rc == 0 && n_masks > n, "segment --everything: %d masks: %s", n_masks, out);
    rc = run("describe %s --objects --sam %s --clip %s --max-objects %d %s -m %s --mmproj %s --backend cpu --max-tokens 8 "
             "--json --overlay %s/objects.png", dog, sam, clip, n, everything, f32, mmproj, tmp);
    cJSON * j = json_out();
    const cJSON * objs = cJSON_GetObjectItem(j, "objects");
    CHECK(rc == 0 && cJSON_GetArraySize(objs) == n && cJSON_GetArraySize(cJSON_GetObjectItem(j, "answers")) == 1,
          "describe --objects: %.300s", out);
    // the objects are the n largest masks (SAM's order among equal areas), masks as segment's
    bool * taken = calloc((size_t)n_masks + 1, 1);
    for (int k = 0; k < cJSON_GetArraySize(objs) && k < n; k++) {
        const cJSON * o = cJSON_GetArrayItem(objs, k);
        int best = -1;
        for (int i = 0; i < n_masks; i++) {
            double a = cJSON_GetObjectItem(cJSON_GetArrayItem(masks, i), "area")->valuedouble;
            if (!taken[i] && (best < 0 || a > cJSON_GetObjectItem(cJSON_GetArrayItem(masks, best), "area")->valuedouble)) best = i;
        }
        taken[best] = true;
        const cJSON * m = cJSON_GetArrayItem(masks, best);
        CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "mask_index")) == best &&
              cJSON_Compare(cJSON_GetObjectItem(o, "segmentation"), cJSON_GetObjectItem(m, "segmentation"), true) &&
              cJSON_Compare(cJSON_GetObjectItem(o, "bbox"), cJSON_GetObjectItem(m, "bbox"), true),
              "object %d is not segment --everything's mask %d", k + 1, best);
        const cJSON * cs = cJSON_GetObjectItem(o, "concepts"), * c0 = cJSON_GetArrayItem(cs, 0);
        const char * caption = cJSON_GetStringValue(cJSON_GetObjectItem(o, "caption")), * name = cJSON_GetStringValue(cJSON_GetObjectItem(c0, "concept"));
        CHECK(cJSON_GetArraySize(cs) == 3 && name && *name && cJSON_GetNumberValue(cJSON_GetObjectItem(c0, "prob")) > 0,
              "object %d: concepts", k + 1);
        CHECK(caption && *caption && !strchr(caption, '\n'), "object %d: a one-line caption", k + 1);
    }
    free(taken);
    cJSON_Delete(j);
    cJSON_Delete(seg);
    struct vlm_image ov = { 0 }, img = { 0 };
    snprintf(p, sizeof p, "%s/objects.png", tmp);
    bool loaded = vlm_image_load(p, &ov) == VLM_STATUS_OK && vlm_image_load(dog, &img) == VLM_STATUS_OK;
    CHECK(loaded && ov.width == img.width && ov.height == img.height &&
          memcmp(ov.data, img.data, (size_t)img.width * img.height * 3) != 0, "describe --objects --overlay");
    vlm_image_free(&ov), vlm_image_free(&img);
    rc = run("describe %s --objects --sam %s --clip %s --max-objects 3 %s -m %s --mmproj %s --backend cpu --max-tokens 8",
             dog, sam, clip, everything, f32, mmproj);
    CHECK(rc == 0 && strstr(out, "objects:\n 1. ") && strstr(out, "\n 3. ") && !strstr(out, "\n 4. "),
          "describe --objects: a numbered list: %s", out);

    expect_error("--objects without --sam", run("describe %s --objects --clip %s -m %s --mmproj %s", dog, clip, f32, mmproj),
                 "--sam");
    expect_error("--objects without --clip", run("describe %s --objects --sam %s -m %s --mmproj %s", dog, sam, f32, mmproj),
                 "--clip");
    expect_error("--max-objects 0", run("describe %s --objects --sam %s --clip %s --max-objects 0 -m %s --mmproj %s", dog, sam,
                 clip, f32, mmproj), "--max-objects");
    expect_error("--clip without --objects", run("describe %s --clip %s -m %s --mmproj %s", dog, clip, f32, mmproj), "--objects");
    expect_error("SAM as --clip", run("describe %s --objects --sam %s --clip %s -m %s --mmproj %s --backend cpu --overlay "
                 "%s/bad.png", dog, sam, sam, f32, mmproj, tmp), "not a CLIP model");
    CHECK(!exists("bad.png"), "a failed describe --objects left its overlay");
}

int main(void) {
    snprintf(f32, sizeof f32, "%s", test_fixture("smolvlm-tiny/smolvlm-tiny-f32.gguf"));
    snprintf(f16, sizeof f16, "%s", test_fixture("smolvlm-tiny/smolvlm-tiny-f16.gguf"));
    snprintf(mmproj, sizeof mmproj, "%s", test_fixture("smolvlm-tiny/mmproj-smolvlm-tiny-f32.gguf"));
    snprintf(dog, sizeof dog, "%s", test_fixture("images/dog.jpg"));
    cJSON * cases = NULL;
    struct vlm_safetensors * exp = NULL;
    test_smolvlm_fixture(&cases, &exp);
    tmp = test_tmp_dir("lang-cli");
    test_tokenize_generate(cases, exp);
    test_describe_ask(cases, exp);
    test_describe_objects();
    cJSON_Delete(cases);
    vlm_safetensors_close(exp);
    TEST_END();
}
