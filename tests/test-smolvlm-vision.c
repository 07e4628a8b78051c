// test-smolvlm-vision.c — the SmolVLM vision side against llama.cpp's own outputs
// (shared/fixtures/smolvlm-tiny): mmproj metadata, the idefics3 tiles from the fixture's decoded
// image, the image embeddings on the CPU and (when a device works) on Vulkan, the same from the
// JPEG through our own decoder, the tiling cost controls and bad projector files.
#define _GNU_SOURCE   // memmem
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"
#include "smolvlm-vision.h"

#define S     128
#define NTILE 13
#define NTOK  4
#define NEMBD 64

// The fixture's normalized tiles back to bytes: round((v * 0.5 + 0.5) * 255).
static int to_u8(double v) { return (int)lround((v * 0.5 + 0.5) * 255.0); }

// Counts values of two tile sets that differ by one LSB and by more (after to_u8).
static void compare_tiles(const float * a, const float * ref, size_t n, size_t * off1, size_t * off_more) {
    *off1 = *off_more = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs(to_u8(test_f32(a, i)) - to_u8(test_f32(ref, i)));
        if (d == 1) (*off1)++;
        else if (d > 1) (*off_more)++;
    }
}

// Embeddings of tiles on one backend vs the reference; returns the max abs difference.
static double encode_vs(struct vlm_smolvlm_vision * v, const struct vlm_smolvlm_tiles * tiles, const float * ref,
                        const char * what) {
    static float embd[NTILE * NTOK * NEMBD];
    enum vlm_status st = vlm_smolvlm_encode(v, tiles, embd);
    CHECK(st == VLM_STATUS_OK, "%s: encode: %s", what, vlm_last_error());
    if (st != VLM_STATUS_OK) return INFINITY;
    double e = test_max_abs(embd, ref, (size_t)NTILE * NTOK * NEMBD);
    printf("%-40s image_embd max abs %.3g\n", what, e);
    return e;
}

static void run_backend(struct vlm_smolvlm_vision * v, const char * name, const struct vlm_smolvlm_tiles * ours,
                        const struct vlm_smolvlm_tiles * ref_tiles, const float * embd_ref) {
    char what[96];
    snprintf(what, sizeof what, "%s, fixture tiles", name);
    double e = encode_vs(v, ref_tiles, embd_ref, what);
    CHECK(e <= 2e-3, "%s: max abs %.3g (<= 2e-3)", what, e);
    snprintf(what, sizeof what, "%s, our tiles", name);
    e = encode_vs(v, ours, embd_ref, what);
    CHECK(e <= 2e-3, "%s: max abs %.3g (<= 2e-3)", what, e);

    // one tile alone (a smaller batch) gives the batch's rows
    static float one[NTOK * NEMBD], all[NTILE * NTOK * NEMBD];
    struct vlm_smolvlm_tiles t5 = *ours;
    t5.n_tiles = 1;
    t5.pixels = ours->pixels + (size_t)5 * S * S * 3;
    enum vlm_status st = vlm_smolvlm_encode(v, ours, all);
    enum vlm_status st1 = vlm_smolvlm_encode(v, &t5, one);
    double d = test_max_abs(one, all + (size_t)5 * NTOK * NEMBD, NTOK * NEMBD);
    CHECK(st == VLM_STATUS_OK && st1 == VLM_STATUS_OK && d <= 1e-5, "%s: tile 5 alone vs in the batch: %.3g", name, d);
}

// Two threads encoding on one model get what one thread gets.
struct job {
    struct vlm_smolvlm_vision *      v;
    const struct vlm_smolvlm_tiles * tiles;
    float                            out[NTILE * NTOK * NEMBD];
    enum vlm_status                  st;
};
static void * job_run(void * p) {
    struct job * j = p;
    for (int r = 0; r < 3 && j->st == VLM_STATUS_OK; r++) j->st = vlm_smolvlm_encode(j->v, j->tiles, j->out);
    return NULL;
}

static void two_threads(struct vlm_smolvlm_vision * v, const struct vlm_smolvlm_tiles * tiles, const float * embd_ref) {
    static struct job jobs[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        jobs[i] = (struct job){ .v = v, .tiles = tiles, .st = VLM_STATUS_OK };
        pthread_create(&th[i], NULL, job_run, &jobs[i]);
    }
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    size_t n = (size_t)NTILE * NTOK * NEMBD;
    double e0 = test_max_abs(jobs[0].out, embd_ref, n), e1 = test_max_abs(jobs[1].out, embd_ref, n);
    CHECK(jobs[0].st == VLM_STATUS_OK && jobs[1].st == VLM_STATUS_OK && e0 <= 2e-3 && e1 <= 2e-3,
          "two threads on one model: max abs %.3g / %.3g", e0, e1);
}

// Copies the fixture mmproj with its projector type renamed (same length) or cut short.
static const char * write_variant(const char * src, const char * name, const char * from, const char * to, size_t cut) {
    size_t n = 0;
    char * buf = vlm_read_file(src, SIZE_MAX, &n);
    if (!buf) return NULL;
    if (from) {
        char * p = memmem(buf, (size_t)n, from, strlen(from));
        if (p) memcpy(p, to, strlen(to));
    }
    const char * out = test_tmp_path(name);
    FILE * o = fopen(out, "wb");
    size_t len = cut ? cut : (size_t)n;
    if (!o || fwrite(buf, 1, len, o) != len) { if (o) fclose(o); free(buf); return NULL; }
    fclose(o);
    free(buf);
    return out;
}

static void bad_files(const char * mmproj, const struct vlm_model_params * mp) {
    struct vlm_smolvlm_vision * v = NULL;
    char text[4096];
    snprintf(text, sizeof text, "%s", test_fixture("smolvlm-tiny/smolvlm-tiny-f32.gguf"));
    enum vlm_status st = vlm_smolvlm_vision_load(text, mp, &v);
    printf("text GGUF as mmproj: %s\n", vlm_last_error());
    CHECK(st == VLM_STATUS_BAD_MODEL && !v && strstr(vlm_last_error(), "general.architecture") &&
              !strchr(vlm_last_error(), '\n'), "text GGUF refused naming the key: %s", vlm_last_error());

    const char * p = write_variant(mmproj, "unknown-proj.gguf", "idefics3", "idefics9", 0);
    CHECK(p != NULL, "write the renamed copy");
    st = p ? vlm_smolvlm_vision_load(p, mp, &v) : VLM_STATUS_OK;
    printf("unknown projector: %s\n", vlm_last_error());
    CHECK(st == VLM_STATUS_UNSUPPORTED && !v && strstr(vlm_last_error(), "clip.projector_type") &&
              strstr(vlm_last_error(), "idefics9"), "unknown projector refused naming the key: %s", vlm_last_error());
    if (p) unlink(p);

    // cut at several places: header, metadata, tensor infos, data
    static const size_t cuts[] = { 3, 24, 200, 1500, 4000, 600000 };
    int refused = 0;
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        p = write_variant(mmproj, "cut.gguf", NULL, NULL, cuts[i]);
        st = p ? vlm_smolvlm_vision_load(p, mp, &v) : VLM_STATUS_OK;
        if (st != VLM_STATUS_OK && !v && !strchr(vlm_last_error(), '\n')) refused++;
        if (i == 3) printf("truncated at %zu bytes: %s\n", cuts[i], vlm_last_error());
        vlm_smolvlm_vision_free(v);
        v = NULL;
        if (p) unlink(p);
    }
    CHECK(refused == (int)(sizeof cuts / sizeof *cuts), "truncated files refused: %d of %zu", refused,
          sizeof cuts / sizeof *cuts);
    st = vlm_smolvlm_vision_load(test_tmp_path("missing.gguf"), mp, &v);
    CHECK(st == VLM_STATUS_IO && !v, "missing file -> IO (%d)", st);
}

// ---- requantized copies of the fixture mmproj --------------------------------------------------
// ref: ggml docs/gguf.md: the metadata is copied byte for byte; the tensor infos and data are
// rewritten with 2-D+ tensors stored as F16, or as Q8_0 where rows are whole blocks of 32.
struct rd { const uint8_t * p; size_t pos; };
static uint64_t rd_u64(struct rd * r) { uint64_t v; memcpy(&v, r->p + r->pos, 8); r->pos += 8; return v; }
static uint32_t rd_u32(struct rd * r) { uint32_t v; memcpy(&v, r->p + r->pos, 4); r->pos += 4; return v; }
static void skip_value(struct rd * r, uint32_t type) {
    static const size_t sizes[13] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };
    if (type == 8) { r->pos += rd_u64(r); return; }
    if (type == 9) {
        uint32_t et = rd_u32(r);
        uint64_t n = rd_u64(r);
        for (uint64_t i = 0; i < n; i++) skip_value(r, et);
        return;
    }
    r->pos += sizes[type];
}
static void put(FILE * f, const void * p, size_t n) { fwrite(p, 1, n, f); }
static void pad(FILE * f, long align) { while (ftell(f) % align) fputc(0, f); }

// ref: ggml/src/ggml-quants.c quantize_row_q8_0_ref: d = max|x| / 127, q = round(x / d)
static void q8_0_row(const float * x, size_t n, FILE * f) {
    for (size_t b = 0; b < n / 32; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[b * 32 + j]));
        float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        uint16_t h = vlm_f32_to_f16(d);
        put(f, &h, 2);
        for (int j = 0; j < 32; j++) {
            int8_t q = (int8_t)roundf(x[b * 32 + j] * id);
            put(f, &q, 1);
        }
    }
}

static const char * write_requant(const char * src, const char * name, bool q8) {
    size_t n = 0;
    uint8_t * buf = (uint8_t *)vlm_read_file(src, SIZE_MAX, &n);
    if (!buf) return NULL;
    struct rd r = { buf, 8 };
    uint64_t nt = rd_u64(&r), nkv = rd_u64(&r);
    for (uint64_t i = 0; i < nkv; i++) {
        r.pos += rd_u64(&r);
        skip_value(&r, rd_u32(&r));
    }
    size_t kv_end = r.pos, info_pos = r.pos;
    for (uint64_t i = 0; i < nt; i++) {   // find the end of the infos: the data starts after them
        r.pos += rd_u64(&r);
        r.pos += 8 * rd_u32(&r) + 12;
    }
    size_t data = (r.pos + 31) / 32 * 32;
    const char * out = test_tmp_path(name);
    FILE * o = fopen(out, "wb");
    if (!o) { free(buf); return NULL; }
    put(o, buf, kv_end);
    // pass 0 writes the infos, pass 1 the data
    for (int pass = 0; pass < 2; pass++) {
        uint64_t off = 0;
        r.pos = info_pos;
        for (uint64_t i = 0; i < nt; i++) {
            size_t name_at = r.pos, name_len = (size_t)rd_u64(&r);
            r.pos += name_len;
            uint32_t nd = rd_u32(&r);
            uint64_t ne[4] = { 1, 1, 1, 1 }, numel = 1;
            for (uint32_t k = 0; k < nd; k++) numel *= (ne[k] = rd_u64(&r));
            uint32_t type = rd_u32(&r);
            uint64_t src_off = rd_u64(&r);
            uint32_t to = type != 0 || nd < 2 ? type : q8 ? (ne[0] % 32 == 0 ? 8 : 0) : 1;
            uint64_t bytes = to == 0 ? numel * 4 : to == 1 ? numel * 2 : numel / 32 * 34;
            const float * x = (const float *)(buf + data + src_off);
            if (pass == 0) {
                put(o, buf + name_at, 8 + name_len);
                put(o, &nd, 4);
                put(o, ne, 8 * nd);
                put(o, &to, 4);
                put(o, &off, 8);
            } else if (to == 1) {
                for (uint64_t k = 0; k < numel; k++) {
                    uint16_t h = vlm_f32_to_f16(x[k]);
                    put(o, &h, 2);
                }
            } else if (to == 8) {
                q8_0_row(x, numel, o);
            } else {
                put(o, x, bytes);
            }
            if (pass == 1) pad(o, 32);
            off = (off + bytes + 31) / 32 * 32;
        }
        pad(o, 32);
    }
    fclose(o);
    free(buf);
    return out;
}

// The F16 copy holds the same values (the fixture's weights are on the F16 grid): the same
// embeddings up to float rounding (F16 weights go through their own kernel, whose sums run in
// another order than sgemm's: 1.7e-6 on an AVX-512 EPYC). The Q8_0 copy is close.
static void requantized(const char * mmproj, const struct vlm_model_params * mp, const struct vlm_smolvlm_tiles * tiles,
                        const float * embd_f32, const float * embd_ref) {
    static float e[NTILE * NTOK * NEMBD];
    for (int q8 = 0; q8 < 2; q8++) {
        const char * p = write_requant(mmproj, q8 ? "q8_0.gguf" : "f16.gguf", q8);
        struct vlm_smolvlm_vision * v = NULL;
        enum vlm_status st = p ? vlm_smolvlm_vision_load(p, mp, &v) : VLM_STATUS_IO;
        CHECK(st == VLM_STATUS_OK, "load the %s copy: %s", q8 ? "Q8_0" : "F16", vlm_last_error());
        if (st == VLM_STATUS_OK) st = vlm_smolvlm_encode(v, tiles, e);
        size_t n = (size_t)NTILE * NTOK * NEMBD;
        double d = test_max_abs(e, embd_f32, n), dr = test_max_abs(e, embd_ref, n), c = test_cosine(e, embd_ref, n);
        printf("%-5s mmproj: image_embd max abs %.3g vs the F32 file, %.3g vs llama.cpp (cosine %.6f)\n",
               q8 ? "Q8_0" : "F16", d, dr, c);
        if (q8) CHECK(st == VLM_STATUS_OK && c > 0.999, "Q8_0 mmproj: cosine %.6f", c);
        else CHECK(st == VLM_STATUS_OK && d <= 1e-5 && dr <= 2e-3, "F16 mmproj: %.3g vs F32, %.3g vs llama.cpp", d, dr);
        vlm_smolvlm_vision_free(v);
        if (p) unlink(p);
    }
}

// The cost controls on the fixture model (S = 128, longest edge 512).
static void tiling(const struct vlm_smolvlm_vision * v, const struct vlm_image * dog) {
    struct vlm_smolvlm_tiles t;
    struct { int32_t w, h, max_tiles; bool no_upscale; int32_t gx, gy; } cases[] = {
        { 800, 534, 0, false, 4, 3 },   // llama.cpp: 512 x 384
        { 800, 534, 12, false, 4, 3 },  // the limit is not reached
        { 800, 534, 6, false, 3, 2 },   // q = min(384/800, 256/534): 384 x 256
        { 800, 534, 1, false, 1, 1 },
        { 800, 534, 0, true, 4, 3 },    // the longest edge is already below the image's
        { 200, 100, 0, false, 4, 2 },   // upscaled: 512 x 256
        { 200, 100, 0, true, 2, 1 },    // scale 1: ceil(200/128) x ceil(100/128)
        { 200, 100, 3, false, 2, 1 },   // q = min(256/200, 128/100); 3x1 would not be larger
        { 100, 700, 3, false, 1, 3 },   // tall: q = 384/700
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct vlm_image img = { cases[i].w, cases[i].h, 3, NULL };
        img.data = calloc((size_t)img.width * img.height, 3);
        for (size_t k = 0; k < (size_t)img.width * img.height * 3; k++) img.data[k] = dog->data[k % 1000];
        struct vlm_smolvlm_tiling opt = { cases[i].max_tiles, cases[i].no_upscale };
        enum vlm_status st = vlm_smolvlm_preprocess(v, &img, &opt, &t);
        bool ok = st == VLM_STATUS_OK && t.grid_x == cases[i].gx && t.grid_y == cases[i].gy &&
                  t.n_tiles == t.grid_x * t.grid_y + 1;
        if (!ok) {
            bad++;
            fprintf(stderr, "tiling %dx%d max_tiles %d no_upscale %d: grid %dx%d, expected %dx%d (%s)\n", cases[i].w,
                    cases[i].h, cases[i].max_tiles, cases[i].no_upscale, t.grid_x, t.grid_y, cases[i].gx, cases[i].gy,
                    vlm_last_error());
        }
        vlm_smolvlm_tiles_free(&t);
        free(img.data);
    }
    CHECK(bad == 0, "tiling cost controls: %d cases wrong", bad);
    // odd shapes: every tile is whole and the grid covers the letterboxed image
    static const int32_t odd[][2] = { { 1, 1 }, { 1, 1000 }, { 1000, 1 }, { 129, 127 }, { 128, 128 }, { 3, 2 } };
    bad = 0;
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
        struct vlm_image img = { odd[i][0], odd[i][1], 3, NULL };
        img.data = calloc((size_t)img.width * img.height, 3);
        for (int32_t mt = 0; mt <= 2; mt++) {
            struct vlm_smolvlm_tiling opt = { mt, mt == 1 };
            enum vlm_status st = vlm_smolvlm_preprocess(v, &img, &opt, &t);
            if (st != VLM_STATUS_OK || t.grid_x < 1 || t.grid_y < 1 || t.n_tiles != t.grid_x * t.grid_y + 1 ||
                (mt > 0 && t.grid_x * t.grid_y > mt) || !isfinite(t.pixels[(size_t)t.n_tiles * S * S * 3 - 1]))
                bad++, fprintf(stderr, "odd image %dx%d max_tiles %d: %s\n", img.width, img.height, mt, vlm_last_error());
            vlm_smolvlm_tiles_free(&t);
        }
        free(img.data);
    }
    CHECK(bad == 0, "odd image shapes: %d failed", bad);
    struct vlm_smolvlm_tiling neg = { -1, false };
    CHECK(vlm_smolvlm_preprocess(v, dog, &neg, &t) == VLM_STATUS_INVALID_ARG, "negative max_tiles refused");
    struct vlm_image gray = { 4, 4, 1, dog->data };
    CHECK(vlm_smolvlm_preprocess(v, &gray, NULL, &t) == VLM_STATUS_INVALID_ARG && t.pixels == NULL,
          "non-RGB image refused");
}

int main(void) {
    char mmproj[4096], dir[4096], jpeg[4096];
    snprintf(mmproj, sizeof mmproj, "%s", test_fixture("smolvlm-tiny/mmproj-smolvlm-tiny-f32.gguf"));
    snprintf(dir, sizeof dir, "%s", test_fixture("smolvlm-tiny"));
    snprintf(jpeg, sizeof jpeg, "%s", test_fixture("images/dog.jpg"));
    if (access(mmproj, R_OK) != 0) SKIP("smolvlm-tiny fixtures not found");
    struct vlm_safetensors * cs = test_fixture_tensors(dir, "cases.safetensors", TEST_NEED_SKIP_ABSENT);
    test_tmp_dir("smolvlm");
    if (!cs) TEST_END();
    const uint8_t * rgb = test_fixture_data(cs, "vlm.image_rgb", VLM_DTYPE_COUNT, (size_t)534 * 800 * 3);
    const float * px_ref = test_fixture_data(cs, "vlm.pixel_values", VLM_DTYPE_COUNT, sizeof(float) * NTILE * S * S * 3);
    const float * embd_ref_raw = test_fixture_data(cs, "vlm.exact.image_embd", VLM_DTYPE_COUNT, sizeof(float) * NTILE * NTOK * NEMBD);
    CHECK(rgb && px_ref && embd_ref_raw, "fixture arrays present");
    if (!rgb || !px_ref || !embd_ref_raw) TEST_END();
    float * px_copy = test_aligned_copy(px_ref, sizeof(float) * NTILE * S * S * 3);
    float * embd_ref = test_aligned_copy(embd_ref_raw, sizeof(float) * NTILE * NTOK * NEMBD);

    struct vlm_model_params mp = vlm_model_default_params();
    mp.backend = VLM_BACKEND_CPU;
    struct vlm_smolvlm_vision * v = NULL;
    enum vlm_status st = vlm_smolvlm_vision_load(mmproj, &mp, &v);
    CHECK(st == VLM_STATUS_OK, "load %s: %s", mmproj, vlm_last_error());
    if (!v) TEST_END();
    const struct vlm_mmproj_hparams * hp = &v->hp;
    CHECK(hp->projector == VLM_MMPROJ_IDEFICS3 && hp->image_size == S && hp->patch_size == 16 && hp->n_embd == 96 &&
              hp->n_head == 4 && hp->n_layer == 2 && hp->n_ff == 192 && hp->projection_dim == NEMBD &&
              hp->scale_factor == 4 && hp->longest_edge == 512 && fabsf(hp->eps - 1e-6f) < 1e-12f &&
              hp->mean[1] == 0.5f && hp->std[2] == 0.5f && hp->act == VLM_UNARY_GELU_TANH,
          "hyper-parameters from the metadata");
    CHECK(vlm_smolvlm_tokens_per_tile(v) == NTOK && vlm_smolvlm_embd_dim(v) == NEMBD, "tokens per tile %d, width %d",
          vlm_smolvlm_tokens_per_tile(v), vlm_smolvlm_embd_dim(v));

    // ---- tiles from the fixture's decoded pixels (stb_image) ----
    struct vlm_image img = { 800, 534, 3, (uint8_t *)test_aligned_copy(rgb, (size_t)534 * 800 * 3) };
    struct vlm_smolvlm_tiles ours;
    st = vlm_smolvlm_preprocess(v, &img, NULL, &ours);
    CHECK(st == VLM_STATUS_OK, "preprocess: %s", vlm_last_error());
    if (st != VLM_STATUS_OK) TEST_END();
    CHECK(ours.grid_x == 4 && ours.grid_y == 3 && ours.n_tiles == NTILE && ours.size == S, "grid %dx%d, %d tiles",
          ours.grid_x, ours.grid_y, ours.n_tiles);
    size_t n_px = (size_t)NTILE * S * S * 3, off1, off_more;
    compare_tiles(ours.pixels, px_copy, n_px, &off1, &off_more);
    printf("tiles vs vlm.pixel_values: %zu of %zu values off by 1/255, %zu by more (max abs %.3g)\n", off1, n_px,
           off_more, test_max_abs(ours.pixels, px_copy, n_px));
    CHECK(off_more == 0 && off1 * 10000 < n_px * 2, "tiles: %zu off by 1 (< 0.02%%), %zu by more", off1, off_more);
    struct vlm_smolvlm_tiles ref_tiles = { NTILE, S, 4, 3, px_copy };

    run_backend(v, "cpu", &ours, &ref_tiles, embd_ref);
    static float embd_f32[NTILE * NTOK * NEMBD];
    CHECK(vlm_smolvlm_encode(v, &ours, embd_f32) == VLM_STATUS_OK, "encode: %s", vlm_last_error());
    requantized(mmproj, &mp, &ours, embd_f32, embd_ref);
    two_threads(v, &ours, embd_ref);
    tiling(v, &img);
    bad_files(mmproj, &mp);

    // ---- from the JPEG through our own decoder (libjpeg-turbo), no equality asserted ----
    struct vlm_image dec;
    st = vlm_image_load(jpeg, &dec);
    CHECK(st == VLM_STATUS_OK && dec.width == 800 && dec.height == 534, "decode dog.jpg: %s", vlm_last_error());
    if (st == VLM_STATUS_OK) {
        size_t n = (size_t)800 * 534 * 3, differ = 0;
        int worst = 0;
        for (size_t i = 0; i < n; i++) {
            int d = abs((int)dec.data[i] - (int)rgb[i]);
            differ += d != 0;
            if (d > worst) worst = d;
        }
        printf("own JPEG decode vs stb_image: %zu of %zu bytes differ, max %d\n", differ, n, worst);
        struct vlm_smolvlm_tiles t2;
        st = vlm_smolvlm_preprocess(v, &dec, NULL, &t2);
        CHECK(st == VLM_STATUS_OK && t2.grid_x == 4 && t2.grid_y == 3, "preprocess own decode");
        if (st == VLM_STATUS_OK) {
            compare_tiles(t2.pixels, px_copy, n_px, &off1, &off_more);
            printf("own-decode tiles vs vlm.pixel_values: %zu off by 1/255, %zu by more\n", off1, off_more);
            static float e2[NTILE * NTOK * NEMBD];
            st = vlm_smolvlm_encode(v, &t2, e2);
            double e = test_max_abs(e2, embd_ref, (size_t)NTILE * NTOK * NEMBD);
            double c = test_cosine(e2, embd_ref, (size_t)NTILE * NTOK * NEMBD);
            printf("own-decode image_embd: max abs %.3g, cosine %.6f\n", e, c);
            CHECK(st == VLM_STATUS_OK && c > 0.99, "own-decode embeddings close (cosine %.6f)", c);
        }
        vlm_smolvlm_tiles_free(&t2);
        vlm_image_free(&dec);
    }
    vlm_smolvlm_vision_free(v);

    // ---- Vulkan ----
    mp.backend = VLM_BACKEND_VULKAN;
    v = NULL;
    if (!test_want_backend("vulkan")) {
        printf("SKIP vulkan half: not in VLM_TEST_BACKENDS\n");
    } else if (vlm_smolvlm_vision_load(mmproj, &mp, &v) != VLM_STATUS_OK) {
        if (test_require_vulkan()) CHECK(0, "VLM_TEST_REQUIRE_VULKAN=1 but Vulkan failed: %s", vlm_last_error());
        else printf("SKIP vulkan half: %s\n", vlm_last_error());
    } else {
        printf("vulkan device: %s\n", vlm_ctx_backend_name(v->ctx));
        run_backend(v, "vulkan", &ours, &ref_tiles, embd_ref);
        vlm_smolvlm_vision_free(v);
    }

    vlm_smolvlm_tiles_free(&ours);
    free(img.data);
    free(px_copy);
    free(embd_ref);
    vlm_safetensors_close(cs);
    TEST_END();
}
