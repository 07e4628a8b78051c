// test-serve-api.c — `vlm serve` over real HTTP on loopback ($VLM_CLI serve --port 0):
// masks equal to `vlm segment --save-tensors` for the same prompts on sam-tiny (points, box,
// single mask, mask_input), segment-everything against `vlm segment --everything --json`,
// CLIP classify against the library, every bad-input case (400 / 404 / 405 / 413, the server
// still serving afterwards), LRU eviction, idle connection timeout, and a bounded load test:
// 16 concurrent clients x 50 segment requests on one image with zero failed or lost
// responses (prints requests/s and p50 / p99 latency).
#include <pthread.h>

#include <cjson/cJSON.h>

#include "harness.h"
#include "model-file.h"
#include "serve-client.h"
#include "vlm.h"

static const char * tmpdir;   // the scratch folder
static const char * cli;
static const char * sam_dir;

static uint8_t * read_file(const char * path, size_t * n) { return (uint8_t *)vlm_read_file(path, SIZE_MAX, n); }

// POST a JSON text; returns the status, *out the parsed body (NULL if not JSON).
static int post_json(int port, const char * path, const char * json, cJSON ** out) {
    char * body = NULL;
    int st = serve_http(port, "POST", path, json, strlen(json), "application/json", &body, NULL);
    *out = body ? cJSON_Parse(body) : NULL;
    free(body);
    return st;
}

// Checks a request fails with the given status and a JSON {"error": "..."} body.
static void expect_error(int port, const char * method, const char * path, const char * body, size_t n, int want,
                         const char * what) {
    char * resp = NULL;
    int st = serve_http(port, method, path, body, n, "application/json", &resp, NULL);
    cJSON * o = resp ? cJSON_Parse(resp) : NULL;
    const cJSON * e = cJSON_GetObjectItemCaseSensitive(o, "error");
    CHECK(st == want, "%s: status %d, want %d (%s)", what, st, want, resp ? resp : "no body");
    CHECK(cJSON_IsString(e) && e->valuestring[0], "%s: no {\"error\": message} body: %s", what, resp ? resp : "");
    if (st == want && cJSON_IsString(e)) printf("  %-34s %d %s\n", what, st, e->valuestring);
    cJSON_Delete(o);
    free(resp);
}

// Decodes a base64 PNG mask (0/255) into a 0/1 [h, w] array; NULL on failure.
static uint8_t * decode_mask(const char * b64, int32_t * w, int32_t * h) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t len = strlen(b64), n = 0;
    uint8_t * png = malloc(len);
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; png && i < len && b64[i] != '='; i++) {
        const char * p = strchr(tbl, b64[i]);
        if (!p || !b64[i]) {
            free(png);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)(p - tbl);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            png[n++] = (uint8_t)(acc >> bits);
        }
    }
    struct vlm_image img = { 0 };
    uint8_t * m = NULL;
    if (png && vlm_image_decode(png, n, &img) == VLM_STATUS_OK && (m = malloc((size_t)img.width * img.height))) {
        bool binary = true;
        for (size_t i = 0; i < (size_t)img.width * img.height; i++) {
            uint8_t v = img.data[3 * i];
            binary &= v == 0 || v == 255;
            m[i] = v > 127;
        }
        *w = img.width;
        *h = img.height;
        if (!binary) {
            free(m);
            m = NULL;
        }
    }
    vlm_image_free(&img);
    free(png);
    return m;
}

// Runs `vlm segment` on dog.jpg with args and --save-tensors; compares its masks and IoU
// scores with a server response.
static void compare_with_cli(const char * what, const char * args, const cJSON * resp, const char * tensors_out) {
    char cmd[8192], path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, tensors_out);
    snprintf(cmd, sizeof cmd, "'%s' segment -m '%s' '%s' %s --backend cpu --save-tensors '%s' > '%s/cli.txt' 2>&1", cli, sam_dir,
             test_fixture("images/dog.jpg"), args, path, tmpdir);
    int rc = system(cmd);
    CHECK(rc == 0, "%s: vlm segment failed (see %s/cli.txt)", what, tmpdir);
    if (rc != 0) return;
    struct vlm_safetensors * st = NULL;
    if (vlm_safetensors_open(path, &st) != VLM_STATUS_OK) {
        CHECK(0, "%s: %s", what, vlm_last_error());
        return;
    }
    const struct vlm_file_tensor * mt = vlm_safetensors_find(st, "masks"), * it = vlm_safetensors_find(st, "iou_predictions");
    const cJSON * arr = cJSON_GetObjectItemCaseSensitive(resp, "masks");
    int n = cJSON_GetArraySize(arr);
    CHECK(mt && it && mt->n_dims == 3 && mt->shape[0] == n, "%s: %d masks from the server, CLI has %lld", what, n,
          mt ? (long long)mt->shape[0] : -1LL);
    if (mt && it && mt->n_dims == 3 && mt->shape[0] == n) {
        const int64_t H = mt->shape[1], W = mt->shape[2];
        for (int i = 0; i < n; i++) {
            const cJSON * m = cJSON_GetArrayItem(arr, i);
            const cJSON * png = cJSON_GetObjectItemCaseSensitive(m, "png");
            const cJSON * score = cJSON_GetObjectItemCaseSensitive(m, "score");
            const cJSON * area = cJSON_GetObjectItemCaseSensitive(m, "area");
            const cJSON * box = cJSON_GetObjectItemCaseSensitive(m, "box");
            int32_t w = 0, h = 0;
            uint8_t * mk = cJSON_IsString(png) ? decode_mask(png->valuestring, &w, &h) : NULL;
            CHECK(mk && w == W && h == H, "%s: mask %d: not a %lldx%lld 0/255 PNG", what, i, (long long)W, (long long)H);
            if (!mk || w != W || h != H) {
                free(mk);
                continue;
            }
            const uint8_t * ref = (const uint8_t *)mt->data + (size_t)i * W * H;
            int64_t diff = 0, n_on = 0;
            int32_t x0 = (int32_t)W, y0 = (int32_t)H, x1 = -1, y1 = -1;
            for (int64_t k = 0; k < W * H; k++) {
                diff += (mk[k] != 0) != (ref[k] != 0);
                if (ref[k]) {
                    n_on++;
                    int32_t x = (int32_t)(k % W), y = (int32_t)(k / W);
                    if (x < x0) x0 = x;
                    if (x > x1) x1 = x;
                    if (y < y0) y0 = y;
                    if (y > y1) y1 = y;
                }
            }
            if (x1 < 0) x0 = y0 = x1 = y1 = 0;
            CHECK(diff == 0, "%s: mask %d differs from vlm segment in %lld pixels", what, i, (long long)diff);
            float ref_iou = ((const float *)it->data)[i];
            CHECK(cJSON_IsNumber(score) && fabs(score->valuedouble - ref_iou) <= 1e-5, "%s: mask %d score %g, CLI %g", what, i,
                  cJSON_IsNumber(score) ? score->valuedouble : NAN, ref_iou);
            CHECK(cJSON_IsNumber(area) && (int64_t)area->valuedouble == n_on, "%s: mask %d area %g, want %lld", what, i,
                  cJSON_IsNumber(area) ? area->valuedouble : -1, (long long)n_on);
            CHECK(cJSON_GetArraySize(box) == 4 && cJSON_GetArrayItem(box, 0)->valueint == x0 &&
                      cJSON_GetArrayItem(box, 1)->valueint == y0 && cJSON_GetArrayItem(box, 2)->valueint == x1 &&
                      cJSON_GetArrayItem(box, 3)->valueint == y1,
                  "%s: mask %d box differs from [%d, %d, %d, %d]", what, i, x0, y0, x1, y1);
            free(mk);
        }
        printf("  %-34s %d masks equal to vlm segment\n", what, n);
    }
    vlm_safetensors_close(st);
}

// From a `vlm segment --save-tensors` output in tmpdir: the best mask's low-res logits
// [1, L, L] as a --mask-input file (its path into mi_path); *best the mask's index.
static bool write_best_mask_input(const char * tensors_out, char * mi_path, size_t mi_size, int * best) {
    char a_path[512];
    snprintf(a_path, sizeof a_path, "%s/%s", tmpdir, tensors_out);
    snprintf(mi_path, mi_size, "%s/mask-input-%s", tmpdir, tensors_out);
    struct vlm_safetensors * sa = NULL;
    bool ok = vlm_safetensors_open(a_path, &sa) == VLM_STATUS_OK;
    const struct vlm_file_tensor * lt = ok ? vlm_safetensors_find(sa, "low_res_logits") : NULL;
    const struct vlm_file_tensor * it = ok ? vlm_safetensors_find(sa, "iou_predictions") : NULL;
    *best = 0;
    ok = lt && it && lt->n_dims == 3;
    if (ok) {
        const float * iou = it->data;
        for (int i = 1; i < (int)it->shape[0]; i++)
            if (iou[i] > iou[*best]) *best = i;
        const int64_t L = lt->shape[1];
        struct vlm_file_tensor t = { .name = "mask_input", .dtype = VLM_DTYPE_F32, .n_dims = 3, .shape = { 1, L, L },
                                     .data = (const float *)lt->data + (size_t)(*best * L * L),
                                     .nbytes = sizeof(float) * (size_t)(L * L), .gguf_type = -1 };
        ok = vlm_safetensors_write(mi_path, &t, 1) == VLM_STATUS_OK;
    }
    vlm_safetensors_close(sa);
    return ok;
}

// ---- load test ------------------------------------------------------------------------------------
#define LOAD_CLIENTS 16
#define LOAD_REQUESTS 50
#define LOAD_PROMPTS 4
static const int load_points[LOAD_PROMPTS][2] = { { 400, 300 }, { 200, 150 }, { 600, 400 }, { 100, 450 } };
static char * load_ref[LOAD_PROMPTS];   // the reference first-mask PNG of each prompt
static int load_port;
static char load_image[32];

struct load_worker {
    int     index, ok, failed;
    double  lat[LOAD_REQUESTS];
};

static void * load_run(void * arg) {
    struct load_worker * w = arg;
    for (int r = 0; r < LOAD_REQUESTS; r++) {
        int k = (w->index + r) % LOAD_PROMPTS;
        char json[256];
        snprintf(json, sizeof json, "{\"image\": \"%s\", \"points\": [[%d, %d, 1]], \"multimask\": true}", load_image,
                 load_points[k][0], load_points[k][1]);
        double t0 = serve_now_ms();
        char * body = NULL;
        int st = serve_http(load_port, "POST", "/v1/segment", json, strlen(json), NULL, &body, NULL);
        w->lat[r] = serve_now_ms() - t0;
        cJSON * o = body ? cJSON_Parse(body) : NULL;
        const cJSON * masks = cJSON_GetObjectItemCaseSensitive(o, "masks");
        const cJSON * png = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(masks, 0), "png");
        bool good = st == 200 && cJSON_GetArraySize(masks) == 3 && cJSON_IsString(png) && load_ref[k] &&
                    !strcmp(png->valuestring, load_ref[k]);
        if (good) w->ok++;
        else {
            w->failed++;
            fprintf(stderr, "load: client %d request %d: status %d, %.200s\n", w->index, r, st, body ? body : "(none)");
        }
        cJSON_Delete(o);
        free(body);
    }
    return NULL;
}

static void * upload_run(void * arg) {
    int * ok = arg;
    const char * names[2] = { "images/gray_odd.jpg", "images/groceries.jpg" };   // under --max-pixels
    for (int i = 0; i < 2; i++) {
        size_t n = 0;
        uint8_t * b = read_file(test_fixture(names[i]), &n);
        char * body = NULL;
        int st = b ? serve_http(load_port, "POST", "/v1/images", b, n, "application/octet-stream", &body, NULL) : -1;
        ok[i] = st == 200;
        free(b);
        free(body);
    }
    return NULL;
}

// The same new image posted by several clients at once: one encoder run, one id.
#define SAME_CLIENTS 4
struct same_upload {
    int  status, cached;
    char id[32];
};
static void * same_run(void * arg) {
    struct same_upload * u = arg;
    size_t n = 0;
    uint8_t * b = read_file(test_fixture("images/shapes_rgba.png"), &n);
    char * body = NULL;
    u->status = b ? serve_http(load_port, "POST", "/v1/images", b, n, "image/png", &body, NULL) : -1;
    cJSON * o = body ? cJSON_Parse(body) : NULL;
    const cJSON * id = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (cJSON_IsString(id)) snprintf(u->id, sizeof u->id, "%s", id->valuestring);
    u->cached = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "cached"));
    cJSON_Delete(o);
    free(body);
    free(b);
    return NULL;
}

static void same_upload_test(int port) {
    load_port = port;
    struct same_upload u[SAME_CLIENTS];
    pthread_t t[SAME_CLIENTS];
    memset(u, 0, sizeof u);
    for (int i = 0; i < SAME_CLIENTS; i++) pthread_create(&t[i], NULL, same_run, &u[i]);
    for (int i = 0; i < SAME_CLIENTS; i++) pthread_join(t[i], NULL);
    int fresh = 0;
    for (int i = 0; i < SAME_CLIENTS; i++) {
        CHECK(u[i].status == 200 && u[i].id[0] && !strcmp(u[i].id, u[0].id), "same upload %d: %d id %s", i, u[i].status, u[i].id);
        fresh += !u[i].cached;
    }
    CHECK(fresh == 1, "%d concurrent uploads of one image: %d encoder runs, want 1", SAME_CLIENTS, fresh);
    printf("  %-34s %d clients, %d encoder run\n", "concurrent uploads of one image", SAME_CLIENTS, fresh);
}

static int cmp_double(const void * a, const void * b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void load_test(int port, const char * image_id) {
    load_port = port;
    snprintf(load_image, sizeof load_image, "%s", image_id);
    for (int k = 0; k < LOAD_PROMPTS; k++) {
        char json[256];
        snprintf(json, sizeof json, "{\"image\": \"%s\", \"points\": [[%d, %d, 1]]}", image_id, load_points[k][0],
                 load_points[k][1]);
        cJSON * o = NULL;
        int st = post_json(port, "/v1/segment", json, &o);
        const cJSON * png = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "masks"), 0), "png");
        CHECK(st == 200 && cJSON_IsString(png), "load: reference request %d failed (%d)", k, st);
        load_ref[k] = cJSON_IsString(png) ? strdup(png->valuestring) : NULL;
        cJSON_Delete(o);
    }
    static struct load_worker w[LOAD_CLIENTS];
    pthread_t tid[LOAD_CLIENTS], up;
    int up_ok[2] = { 0, 0 };
    double t0 = serve_now_ms();
    for (int i = 0; i < LOAD_CLIENTS; i++) {
        w[i] = (struct load_worker){ .index = i };
        pthread_create(&tid[i], NULL, load_run, &w[i]);
    }
    // two other images uploaded meanwhile: their encoder runs queue with the decoders
    pthread_create(&up, NULL, upload_run, up_ok);
    for (int i = 0; i < LOAD_CLIENTS; i++) pthread_join(tid[i], NULL);
    pthread_join(up, NULL);
    double secs = (serve_now_ms() - t0) / 1e3;
    int ok = 0, failed = 0;
    static double lat[LOAD_CLIENTS * LOAD_REQUESTS];
    for (int i = 0; i < LOAD_CLIENTS; i++) {
        ok += w[i].ok;
        failed += w[i].failed;
        memcpy(lat + i * LOAD_REQUESTS, w[i].lat, sizeof w[i].lat);
    }
    qsort(lat, LOAD_CLIENTS * LOAD_REQUESTS, sizeof *lat, cmp_double);
    const int total = LOAD_CLIENTS * LOAD_REQUESTS;
    printf("load: %d clients x %d segment requests: %d ok, %d failed, %d lost in %.2f s — %.1f requests/s, "
           "latency p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
           LOAD_CLIENTS, LOAD_REQUESTS, ok, failed, total - ok - failed, secs, total / secs, lat[total / 2],
           lat[(int)(total * 0.99)], lat[total - 1]);
    CHECK(ok == total && failed == 0, "load: %d of %d requests failed or gave wrong masks", total - ok, total);
    CHECK(up_ok[0] && up_ok[1], "load: concurrent image uploads failed (%d, %d)", up_ok[0], up_ok[1]);
    for (int k = 0; k < LOAD_PROMPTS; k++) free(load_ref[k]);
}

// A SAM at shapes other than the released models' (tests/data/sam-small: 512 input, 128x128
// low-res logits) on a CPU and an auto-backend server: every request is answered, masks
// (CPU) equal `vlm segment`'s, mask_input takes the model's low-res logits, bad requests get a
// 4xx and the server keeps serving, then exits cleanly.
static void small_model_test(const char * log_path) {
    static char small[4096];
    snprintf(small, sizeof small, "%s", test_data("sam-small"));
    sam_dir = small;
    size_t dog_n = 0;
    uint8_t * dog = read_file(test_fixture("images/dog.jpg"), &dog_n);
    CHECK(dog != NULL, "cannot read dog.jpg");
    static const char * const backends[2] = { "cpu", "auto" };
    for (int k = 0; k < 2 && dog; k++) {
        const char * args[] = { "-m", small, "--backend", backends[k], NULL };
        struct serve_proc sp = { 0 };
        if (!serve_start(cli, args, log_path, &sp)) {
            CHECK(0, "sam-small %s: server did not start (log: %s)", backends[k], log_path);
            continue;
        }
        char * body = NULL, id[64] = "", json[512], what[96];
        int st = serve_http(sp.port, "POST", "/v1/images", dog, dog_n, "image/jpeg", &body, NULL);
        cJSON * o = body ? cJSON_Parse(body) : NULL;
        const cJSON * jid = cJSON_GetObjectItemCaseSensitive(o, "id");
        CHECK(st == 200 && cJSON_IsString(jid), "sam-small %s: upload: %d %s", backends[k], st, body ? body : "(no reply)");
        if (cJSON_IsString(jid)) snprintf(id, sizeof id, "%s", jid->valuestring);
        cJSON_Delete(o);
        free(body);

        snprintf(json, sizeof json, "{\"image\": \"%s\", \"points\": [[320, 290, 1]]}", id);
        cJSON * r1 = NULL;
        st = post_json(sp.port, "/v1/segment", json, &r1);
        const cJSON * masks = cJSON_GetObjectItemCaseSensitive(r1, "masks");
        CHECK(st == 200 && cJSON_GetArraySize(masks) == 3 && cJSON_GetObjectItemCaseSensitive(r1, "width")->valueint == 800,
              "sam-small %s: segment point: %d", backends[k], st);
        snprintf(what, sizeof what, "sam-small %s: point", backends[k]);
        if (k == 0) compare_with_cli(what, "--point 320,290", r1, "small-a.safetensors");

        const cJSON * rid = cJSON_GetObjectItemCaseSensitive(r1, "id");
        snprintf(json, sizeof json, "{\"image\": \"%s\", \"points\": [[420, 310, 1]], \"mask_input\": \"%s\", "
                 "\"multimask\": false}", id, cJSON_IsString(rid) ? rid->valuestring : "");
        st = post_json(sp.port, "/v1/segment", json, &o);
        CHECK(st == 200 && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "masks")) == 1,
              "sam-small %s: segment with mask_input: %d", backends[k], st);
        char mi[512];
        int best = 0;
        if (k == 0 && write_best_mask_input("small-a.safetensors", mi, sizeof mi, &best)) {
            char args2[1024];
            snprintf(args2, sizeof args2, "--point 420,310 --mask-input '%s' --single", mi);
            snprintf(what, sizeof what, "sam-small %s: mask_input", backends[k]);
            compare_with_cli(what, args2, o, "small-b.safetensors");
        }
        cJSON_Delete(o);

        char b[512];
        snprintf(b, sizeof b, "{\"image\": \"%s\", \"points\": [[5000, 100, 1]]}", id);
        expect_error(sp.port, "POST", "/v1/segment", b, strlen(b), 400, "sam-small: point outside the image");
        snprintf(b, sizeof b, "{\"image\": \"%s\", \"points\": [[1, 2, 1]], \"mask_input\": \"%s\", \"mask_index\": 7}",
                 id, cJSON_IsString(rid) ? rid->valuestring : "");
        expect_error(sp.port, "POST", "/v1/segment", b, strlen(b), 400, "sam-small: mask_index out of range");
        snprintf(b, sizeof b, "{\"image\": \"%s\", \"points_per_side\": 2, \"pred_iou_thresh\": 0, "
                 "\"stability_score_thresh\": 0}", id);
        st = post_json(sp.port, "/v1/everything", b, &o);
        CHECK(st == 200 && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "masks")) > 0,
              "sam-small %s: everything: %d", backends[k], st);
        cJSON_Delete(o);
        // still serving: the first request again gives the same masks
        snprintf(json, sizeof json, "{\"image\": \"%s\", \"points\": [[320, 290, 1]]}", id);
        st = post_json(sp.port, "/v1/segment", json, &o);
        const cJSON * p0 = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "masks"), 0), "png");
        const cJSON * q0 = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(masks, 0), "png");
        CHECK(st == 200 && cJSON_IsString(p0) && cJSON_IsString(q0) && !strcmp(p0->valuestring, q0->valuestring),
              "sam-small %s: after the bad requests: %d or a different mask", backends[k], st);
        cJSON_Delete(o);
        cJSON_Delete(r1);
        CHECK(serve_stop(&sp) == 0, "sam-small %s: server did not exit cleanly (log: %s)", backends[k], log_path);
        printf("  %-34s every request answered, clean exit\n", backends[k]);
    }
    free(dog);
}

int main(void) {
    cli = getenv("VLM_CLI");
    if (!cli || !*cli || access(cli, X_OK) != 0) SKIP("VLM_CLI (the vlm executable) not set; run through ctest");
    static char sam_buf[1024], clip_buf[1024];
    snprintf(sam_buf, sizeof sam_buf, "%s", test_fixture("sam-tiny"));
    snprintf(clip_buf, sizeof clip_buf, "%s", test_fixture("clip-tiny"));
    sam_dir = sam_buf;
    struct stat sb;
    if (stat(sam_buf, &sb) != 0) SKIP("fixture sam-tiny missing");
    {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "'%s' serve --help > /dev/null 2>&1", cli);
        int rc = system(cmd);
        if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0) SKIP("vlm was built without libmicrohttpd (no `vlm serve`)");
    }
    tmpdir = test_tmp_dir("serve-api");
    char log_path[512];
    snprintf(log_path, sizeof log_path, "%s/server.log", tmpdir);

    const char * args[] = { "-m", sam_buf, "--clip", clip_buf, "--backend", "cpu", "--max-body", "2", "--max-pixels", "500000",
                            NULL };
    struct serve_proc sp = { 0 };
    if (!serve_start(cli, args, log_path, &sp)) {
        CHECK(0, "vlm serve did not start (log: %s)", log_path);
        TEST_END();
    }
    const int port = sp.port;
    printf("server: %s\n", sp.url);

    // ---- health, upload ----
    char * body = NULL;
    int st = serve_http(port, "GET", "/v1/health", NULL, 0, NULL, &body, NULL);
    cJSON * o = body ? cJSON_Parse(body) : NULL;
    CHECK(st == 200 && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "model")) &&
              !strcmp(cJSON_GetObjectItemCaseSensitive(o, "status")->valuestring, "ok") &&
              !strcmp(cJSON_GetObjectItemCaseSensitive(o, "backend")->valuestring, "cpu"),
          "health: %d %s", st, body ? body : "");
    cJSON_Delete(o);
    free(body);

    size_t dog_n = 0;
    uint8_t * dog = read_file(test_fixture("images/dog.jpg"), &dog_n);
    CHECK(dog != NULL, "cannot read dog.jpg");
    char id[64] = "";
    for (int pass = 0; pass < 2 && dog; pass++) {
        st = serve_http(port, "POST", "/v1/images", dog, dog_n, "image/jpeg", &body, NULL);
        o = body ? cJSON_Parse(body) : NULL;
        const cJSON * jid = cJSON_GetObjectItemCaseSensitive(o, "id");
        const cJSON * cached = cJSON_GetObjectItemCaseSensitive(o, "cached");
        CHECK(st == 200 && cJSON_IsString(jid) && strlen(jid->valuestring) == 16 &&
                  cJSON_GetObjectItemCaseSensitive(o, "width")->valueint == 800 &&
                  cJSON_GetObjectItemCaseSensitive(o, "height")->valueint == 534,
              "upload %d: %d %s", pass, st, body ? body : "");
        CHECK(cJSON_IsBool(cached) && cJSON_IsTrue(cached) == (pass == 1), "upload %d: cached should be %s", pass,
              pass ? "true (same content, same id)" : "false");
        if (pass == 0 && cJSON_IsString(jid)) snprintf(id, sizeof id, "%s", jid->valuestring);
        else CHECK(cJSON_IsString(jid) && !strcmp(id, jid->valuestring), "re-upload gave another id");
        cJSON_Delete(o);
        free(body);
    }
    if (!id[0]) {
        serve_stop(&sp);
        TEST_END();
    }

    // ---- masks equal to vlm segment ----
    char json[1024];
    snprintf(json, sizeof json, "{\"image\": \"%s\", \"points\": [[400, 300, 1]], \"multimask\": true}", id);
    cJSON * r1 = NULL;
    st = post_json(port, "/v1/segment", json, &r1);
    CHECK(st == 200 && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r1, "masks")) == 3, "segment point: %d", st);
    compare_with_cli("point, multimask", "--point 400,300", r1, "a.safetensors");

    snprintf(json, sizeof json,
             "{\"image\": \"%s\", \"points\": [[300, 250, 1], [500, 120, 0]], \"box\": [150, 60, 640, 500]}", id);
    st = post_json(port, "/v1/segment", json, &o);
    CHECK(st == 200, "segment points + box: %d", st);
    compare_with_cli("2 points + box", "--point 300,250,1 --point 500,120,0 --box 150,60,640,500", o, "b.safetensors");
    cJSON_Delete(o);

    snprintf(json, sizeof json, "{\"image\": \"%s\", \"box\": [100, 100, 700, 450], \"multimask\": false}", id);
    st = post_json(port, "/v1/segment", json, &o);
    CHECK(st == 200 && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "masks")) == 1, "segment box single: %d", st);
    compare_with_cli("box, single", "--box 100,100,700,450 --single", o, "c.safetensors");
    cJSON_Delete(o);

    // mask_input: the best mask's logits of result 1, as the CLI takes them from a file
    {
        char mi_path[512];
        int best = 0;
        bool ok = write_best_mask_input("a.safetensors", mi_path, sizeof mi_path, &best);
        CHECK(ok, "mask_input: cannot prepare the CLI's --mask-input file");
        const cJSON * rid = cJSON_GetObjectItemCaseSensitive(r1, "id");
        if (ok && cJSON_IsString(rid)) {
            // default index (best) and an explicit one must agree
            for (int explicit_index = 0; explicit_index < 2; explicit_index++) {
                char extra[64] = "";
                if (explicit_index) snprintf(extra, sizeof extra, ", \"mask_index\": %d", best);
                snprintf(json, sizeof json,
                         "{\"image\": \"%s\", \"points\": [[420, 310, 1]], \"mask_input\": \"%s\"%s, \"multimask\": false}", id,
                         rid->valuestring, extra);
                st = post_json(port, "/v1/segment", json, &o);
                CHECK(st == 200, "segment mask_input: %d", st);
                char args2[1024];
                snprintf(args2, sizeof args2, "--point 420,310 --mask-input '%s' --single", mi_path);
                compare_with_cli(explicit_index ? "mask_input (mask_index)" : "mask_input (best)", args2, o, "d.safetensors");
                cJSON_Delete(o);
            }
        }
    }

    // ---- everything, against vlm segment --everything --json ----
    {
        snprintf(json, sizeof json,
                 "{\"image\": \"%s\", \"points_per_side\": 4, \"pred_iou_thresh\": 0, \"stability_score_thresh\": 0}", id);
        st = post_json(port, "/v1/everything", json, &o);
        CHECK(st == 200, "everything: %d", st);
        char cmd[4096], jpath[512];
        snprintf(jpath, sizeof jpath, "%s/everything.json", tmpdir);
        snprintf(cmd, sizeof cmd,
                 "'%s' segment -m '%s' '%s' --everything --points-per-side 4 --pred-iou-thresh 0 --stability-score-thresh 0 "
                 "--backend cpu --json '%s' > /dev/null 2>&1",
                 cli, sam_dir, test_fixture("images/dog.jpg"), jpath);
        int rc = system(cmd);
        size_t jn = 0;
        char * jt = rc == 0 ? (char *)read_file(jpath, &jn) : NULL;
        cJSON * ref = jt ? cJSON_ParseWithLength(jt, jn) : NULL;
        const cJSON * ra = cJSON_GetObjectItemCaseSensitive(ref, "masks"), * sa = cJSON_GetObjectItemCaseSensitive(o, "masks");
        int n = cJSON_GetArraySize(sa);
        CHECK(ref && cJSON_GetArraySize(ra) == n, "everything: %d masks, CLI %d", n, cJSON_GetArraySize(ra));
        for (int i = 0; ref && i < n && i < cJSON_GetArraySize(ra); i++) {
            const cJSON * a = cJSON_GetArrayItem(sa, i), * b = cJSON_GetArrayItem(ra, i);
            const cJSON * bb = cJSON_GetObjectItemCaseSensitive(b, "bbox"), * box = cJSON_GetObjectItemCaseSensitive(a, "box");
            CHECK(cJSON_GetObjectItemCaseSensitive(a, "area")->valuedouble == cJSON_GetObjectItemCaseSensitive(b, "area")->valuedouble,
                  "everything: mask %d area differs", i);
            CHECK(cJSON_GetArrayItem(box, 0)->valueint == cJSON_GetArrayItem(bb, 0)->valueint &&
                      cJSON_GetArrayItem(box, 2)->valueint ==
                          cJSON_GetArrayItem(bb, 0)->valueint + cJSON_GetArrayItem(bb, 2)->valueint &&
                      cJSON_GetArrayItem(box, 3)->valueint ==
                          cJSON_GetArrayItem(bb, 1)->valueint + cJSON_GetArrayItem(bb, 3)->valueint,
                  "everything: mask %d box differs from the CLI's bbox", i);
            CHECK(fabs(cJSON_GetObjectItemCaseSensitive(a, "score")->valuedouble -
                       cJSON_GetObjectItemCaseSensitive(b, "predicted_iou")->valuedouble) < 1e-5,
                  "everything: mask %d score differs", i);
        }
        printf("  %-34s %d masks equal to vlm segment --everything\n", "everything (4 points per side)", n);
        cJSON_Delete(ref);
        free(jt);
        cJSON_Delete(o);
    }

    // ---- CLIP: classify against the library, embed ----
    {
        snprintf(json, sizeof json, "{\"image\": \"%s\", \"labels\": [\"dog\", \"cat\", \"car\"]}", id);
        st = post_json(port, "/v1/classify", json, &o);
        const cJSON * probs = cJSON_GetObjectItemCaseSensitive(o, "probs");
        CHECK(st == 200 && cJSON_GetArraySize(probs) == 3, "classify: %d", st);
        struct vlm_model * clip = NULL;
        struct vlm_model_params mp = vlm_model_default_params();
        mp.backend = VLM_BACKEND_CPU;
        struct vlm_image img = { 0 };
        float ref[3];
        const char * labels[3] = { "dog", "cat", "car" };
        if (cJSON_GetArraySize(probs) == 3 && vlm_model_load(clip_buf, &mp, &clip) == VLM_STATUS_OK &&
            vlm_image_load(test_fixture("images/dog.jpg"), &img) == VLM_STATUS_OK &&
            vlm_clip_classify(clip, &img, labels, 3, NULL, ref) == VLM_STATUS_OK) {
            double md = 0;
            for (int i = 0; i < 3; i++) md = fmax(md, fabs(cJSON_GetArrayItem(probs, i)->valuedouble - ref[i]));
            CHECK(md < 1e-5, "classify: probabilities differ from vlm_clip_classify by %g", md);
            printf("  %-34s probs %.4f %.4f %.4f (library: %.4f %.4f %.4f)\n", "classify dog/cat/car",
                   cJSON_GetArrayItem(probs, 0)->valuedouble, cJSON_GetArrayItem(probs, 1)->valuedouble,
                   cJSON_GetArrayItem(probs, 2)->valuedouble, ref[0], ref[1], ref[2]);
        } else {
            CHECK(0, "classify: reference failed: %s", vlm_last_error());
        }
        vlm_image_free(&img);
        vlm_model_free(clip);
        cJSON_Delete(o);

        snprintf(json, sizeof json, "{\"image\": \"%s\", \"texts\": [\"a dog\", \"a cat\"]}", id);
        st = post_json(port, "/v1/embed", json, &o);
        const cJSON * ie = cJSON_GetObjectItemCaseSensitive(o, "image_embedding");
        const cJSON * te = cJSON_GetObjectItemCaseSensitive(o, "text_embeddings");
        int dim = cJSON_GetObjectItemCaseSensitive(o, "dim") ? cJSON_GetObjectItemCaseSensitive(o, "dim")->valueint : 0;
        double norm = 0;
        const cJSON * v;
        cJSON_ArrayForEach(v, ie) norm += v->valuedouble * v->valuedouble;
        CHECK(st == 200 && dim > 0 && cJSON_GetArraySize(ie) == dim && cJSON_GetArraySize(te) == 2 &&
                  cJSON_GetArraySize(cJSON_GetArrayItem(te, 1)) == dim && fabs(norm - 1) < 1e-4,
              "embed: %d, dim %d, |image| %g", st, dim, sqrt(norm));
        cJSON_Delete(o);

        // label: the first mask of result 1 as the object
        const cJSON * png = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r1, "masks"), 0), "png");
        if (cJSON_IsString(png)) {
            cJSON * req = cJSON_CreateObject();
            cJSON_AddStringToObject(req, "image", id);
            cJSON_AddStringToObject(req, "mask", png->valuestring);
            cJSON_AddNumberToObject(req, "top", 3);
            char * t = cJSON_PrintUnformatted(req);
            st = post_json(port, "/v1/label", t, &o);
            const cJSON * cs = cJSON_GetObjectItemCaseSensitive(o, "concepts");
            CHECK(st == 200 && cJSON_GetArraySize(cs) == 3, "label: %d", st);
            double prev = 2;
            cJSON_ArrayForEach(v, cs) {
                double c = cJSON_GetObjectItemCaseSensitive(v, "cosine")->valuedouble;
                CHECK(c <= prev && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(v, "label")), "label: not best first");
                prev = c;
            }
            if (cJSON_GetArraySize(cs) > 0)
                printf("  %-34s best concept '%s'\n", "label (object cut-out)",
                       cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cs, 0), "label")->valuestring);
            free(t);
            cJSON_Delete(req);
            cJSON_Delete(o);
        }
    }

    // ---- bad input: each a clean 4xx with a message ----
    char b[1024];
    expect_error(port, "POST", "/v1/segment", "{\"image\": ", 10, 400, "truncated JSON");
    expect_error(port, "POST", "/v1/segment", "[1, 2]", 6, 400, "JSON not an object");
    expect_error(port, "POST", "/v1/segment", "", 0, 400, "empty body");
    expect_error(port, "POST", "/v1/segment", "{\"points\": [[1, 2, 1]]}", 23, 400, "no image id");
    snprintf(b, sizeof b, "{\"image\": \"%s\", \"points\": [[1, 2, 1]]}", "0123456789abcdef");
    expect_error(port, "POST", "/v1/segment", b, strlen(b), 404, "unknown image id");
    snprintf(b, sizeof b, "{\"image\": \"%s\", \"points\": [[100, 100, 2]]}", id);
    expect_error(port, "POST", "/v1/segment", b, strlen(b), 400, "bad label 2");
    snprintf(b, sizeof b, "{\"image\": \"%s\", \"points\": [[100, \"a\", 1]]}", id);
    expect_error(port, "POST", "/v1/segment", b, strlen(b), 400, "point not numbers");
    snprintf(b, sizeof b, "{\"image\": \"%s\", \"points\": [[100]]}", id);
    expect_error(port, "POST", "/v1/segment", b, strlen(b), 400, "point of 1 number");
    snprintf(b, sizeof b, "{\"image\": \"%s\", \"points\": [[5000, 100, 1]]}", id);
    expect_error(port, "POST", "/v1/segment", b, strlen(b), 400, "point outside the image");
    snprintf(b, sizeof b, "{\"image\": \"%s\", \"box\": [300, 100, 200, 400]}", id);
    expect_error(port, "POST", "/v1/segment", b, strlen(b), 400, "box x0 > x1");
    snprintf(b, sizeof b, "{\"image\": \"%s\", \"box\": [0, 0, 900, 400]}", id);
    expect_error(port, "POST", "/v1/segment", b, strlen(b), 400, "box outside the image");
    snprintf(b, sizeof b, "{\"image\": \"%s\", \"box\": [0, 0, 100]}", id);
    expect_error(port, "POST", "/v1/segment", b, strlen(b), 400, "box of 3 numbers");
    snprintf(b, sizeof b, "{\"image\": \"%s\"}", id);
    expect_error(port, "POST", "/v1/segment", b, strlen(b), 400, "no prompt");
    snprintf(b, sizeof b, "{\"image\": \"%s\", \"points\": [[1, 2, 1]], \"multimask\": 3}", id);
    expect_error(port, "POST", "/v1/segment", b, strlen(b), 400, "multimask not a bool");
    snprintf(b, sizeof b, "{\"image\": \"%s\", \"points\": [[1, 2, 1]], \"mask_input\": \"r999999\"}", id);
    expect_error(port, "POST", "/v1/segment", b, strlen(b), 404, "unknown mask_input id");
    snprintf(b, sizeof b, "{\"image\": \"%s\", \"points\": [[1, 2, 1]], \"mask_input\": \"%s\", \"mask_index\": 7}", id,
             cJSON_GetObjectItemCaseSensitive(r1, "id")->valuestring);
    expect_error(port, "POST", "/v1/segment", b, strlen(b), 400, "mask_index out of range");
    snprintf(b, sizeof b, "{\"image\": \"%s\", \"points_per_side\": 0}", id);
    expect_error(port, "POST", "/v1/everything", b, strlen(b), 400, "everything points_per_side 0");
    snprintf(b, sizeof b, "{\"image\": \"%s\", \"labels\": []}", id);
    expect_error(port, "POST", "/v1/classify", b, strlen(b), 400, "classify no labels");
    snprintf(b, sizeof b, "{\"image\": \"%s\", \"labels\": [\"dog\", 3]}", id);
    expect_error(port, "POST", "/v1/classify", b, strlen(b), 400, "classify label not a string");
    snprintf(b, sizeof b, "{\"image\": \"%s\", \"labels\": [\"dog\", \"\"]}", id);
    expect_error(port, "POST", "/v1/classify", b, strlen(b), 400, "classify empty label");
    snprintf(b, sizeof b, "{\"image\": \"%s\", \"labels\": [\"dog\"], \"template\": \"no slot\"}", id);
    expect_error(port, "POST", "/v1/classify", b, strlen(b), 400, "classify template without {}");
    snprintf(b, sizeof b, "{\"image\": \"ffffffffffffffff\", \"labels\": [\"a\"]}");
    expect_error(port, "POST", "/v1/classify", b, strlen(b), 404, "classify unknown image");
    expect_error(port, "POST", "/v1/embed", "{}", 2, 400, "embed nothing");
    snprintf(b, sizeof b, "{\"image\": \"%s\", \"mask\": \"!!notbase64\"}", id);
    expect_error(port, "POST", "/v1/label", b, strlen(b), 400, "label bad mask");
    expect_error(port, "POST", "/v1/images", "not an image at all", 19, 400, "garbage image bytes");
    expect_error(port, "POST", "/v1/images", "", 0, 400, "empty image");
    expect_error(port, "POST", "/v1/nope", "{}", 2, 404, "unknown endpoint");
    expect_error(port, "GET", "/v1/segment", NULL, 0, 405, "GET on a POST endpoint");
    expect_error(port, "POST", "/v1/health", "{}", 2, 405, "POST on health");
    expect_error(port, "GET", "/../../etc/passwd", NULL, 0, 404, "path traversal");
    {
        size_t big = 3u << 20;   // over --max-body 2 (MB)
        char * junk = malloc(big);
        if (junk) {
            memset(junk, 'x', big);
            expect_error(port, "POST", "/v1/images", junk, big, 413, "body over --max-body");
            free(junk);
        }
        // a 1000x1000 image: over --max-pixels 500000
        uint8_t * px = calloc(1000 * 1000, 1);
        char ppath[512];
        snprintf(ppath, sizeof ppath, "%s/big.png", tmpdir);
        size_t pn = 0;
        uint8_t * png = px && vlm_png_write(ppath, px, 1000, 1000, 1) == VLM_STATUS_OK ? read_file(ppath, &pn) : NULL;
        CHECK(png != NULL, "cannot write the big test image");
        if (png) expect_error(port, "POST", "/v1/images", (const char *)png, pn, 413, "image over --max-pixels");
        free(png);
        free(px);
    }
    // still serving, and the mask is the same as before the bad requests
    snprintf(json, sizeof json, "{\"image\": \"%s\", \"points\": [[400, 300, 1]], \"multimask\": true}", id);
    st = post_json(port, "/v1/segment", json, &o);
    const cJSON * p0 = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "masks"), 0), "png");
    const cJSON * q0 = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r1, "masks"), 0), "png");
    CHECK(st == 200 && cJSON_IsString(p0) && cJSON_IsString(q0) && !strcmp(p0->valuestring, q0->valuestring),
          "after the bad requests: %d or a different mask", st);
    cJSON_Delete(o);
    st = serve_http(port, "GET", "/", NULL, 0, NULL, &body, NULL);
    CHECK(st == 200 && body && strstr(body, "<html"), "GET / (the page): %d", st);
    free(body);

    // ---- concurrency: the same image at once, then the load test ----
    same_upload_test(port);
    load_test(port, id);

    cJSON_Delete(r1);
    CHECK(serve_stop(&sp) == 0, "server did not exit cleanly on SIGTERM");

    // ---- a small cache (LRU eviction) and a short idle timeout ----
    const char * args2[] = { "-m", sam_buf, "--backend", "cpu", "--cache-mb", "4", "--timeout", "2", NULL };
    if (serve_start(cli, args2, log_path, &sp)) {
        const char * names[3] = { "images/dog.jpg", "images/truck.jpg", "images/groceries.jpg" };
        char ids[3][32] = { "", "", "" };
        for (int i = 0; i < 3; i++) {
            size_t n = 0;
            uint8_t * img = read_file(test_fixture(names[i]), &n);
            st = img ? serve_http(sp.port, "POST", "/v1/images", img, n, "image/jpeg", &body, NULL) : -1;
            o = body ? cJSON_Parse(body) : NULL;
            const cJSON * jid = cJSON_GetObjectItemCaseSensitive(o, "id");
            CHECK(st == 200 && cJSON_IsString(jid), "cache: upload %s: %d", names[i], st);
            if (cJSON_IsString(jid)) snprintf(ids[i], sizeof ids[i], "%s", jid->valuestring);
            cJSON_Delete(o);
            free(body);
            free(img);
        }
        // each entry is several MB: with 4 MB the oldest (dog) is gone, the newest is kept
        snprintf(b, sizeof b, "{\"image\": \"%s\", \"points\": [[10, 10, 1]]}", ids[0]);
        expect_error(sp.port, "POST", "/v1/segment", b, strlen(b), 404, "evicted image (LRU, --cache-mb 4)");
        snprintf(b, sizeof b, "{\"image\": \"%s\", \"points\": [[10, 10, 1]]}", ids[2]);
        st = post_json(sp.port, "/v1/segment", b, &o);
        CHECK(st == 200, "cache: newest image should be cached: %d", st);
        cJSON_Delete(o);
        // idle connection: closed by the server after --timeout 2
        int s = serve_connect(sp.port);
        double t0 = serve_now_ms();
        char c;
        ssize_t k = s >= 0 ? recv(s, &c, 1, 0) : 1;
        double waited = (serve_now_ms() - t0) / 1e3;
        CHECK(s >= 0 && k <= 0 && waited >= 1.5 && waited < 10, "idle connection: recv %zd after %.1f s", k, waited);
        printf("  %-34s closed after %.1f s\n", "idle connection (--timeout 2)", waited);
        if (s >= 0) close(s);
        CHECK(serve_stop(&sp) == 0, "second server did not exit cleanly");
    } else {
        CHECK(0, "second server did not start (log: %s)", log_path);
    }
    free(dog);
    small_model_test(log_path);
    TEST_END();
}
