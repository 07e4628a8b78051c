// test-safetensors.c — the safetensors reader on the fixture files, write -> read round
// trips, and malformed files (each must give an error naming the problem, never a crash).
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "harness.h"
#include "model-file.h"

static const char * g_dir;   // the scratch folder

static void write_bytes(const char * path, const void * data, size_t n) {
    FILE * f = fopen(path, "wb");
    if (!f) { perror(path); exit(1); }
    if (n && fwrite(data, 1, n, f) != n) { perror(path); exit(1); }
    fclose(f);
}

static uint8_t * read_bytes(const char * path, size_t * n) { return (uint8_t *)vlm_read_file(path, SIZE_MAX, n); }

// A safetensors file with the given header length field, header text and data bytes.
static const char * make_raw(const char * name, uint64_t header_len, const char * header, const void * data,
                             size_t data_len) {
    size_t hl = strlen(header);
    uint8_t * buf = malloc(8 + hl + data_len + 1);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(header_len >> (8 * i));
    memcpy(buf + 8, header, hl);
    if (data_len) memcpy(buf + 8 + hl, data, data_len);
    const char * p = test_tmp_path(name);
    write_bytes(p, buf, 8 + hl + data_len);
    free(buf);
    return p;
}

static const char * make(const char * name, const char * header, size_t data_len) {
    uint8_t data[4096] = { 0 };
    if (data_len > sizeof data) data_len = sizeof data;
    return make_raw(name, strlen(header), header, data, data_len);
}

// Opening path must fail with an error that names the file and contains `what`.
static void expect_fail(const char * path, const char * what) {
    struct vlm_safetensors * st = (struct vlm_safetensors *)1;
    enum vlm_status s = vlm_safetensors_open(path, &st);
    const char * err = vlm_last_error();
    CHECK(s != VLM_STATUS_OK, "%s: opened but should fail (%s)", path, what);
    CHECK(st == NULL, "%s: out not NULL on failure", path);
    CHECK(strstr(err, path) != NULL, "%s: error does not name the file: %s", path, err);
    CHECK(strstr(err, what) != NULL, "%s: error '%s' does not mention '%s'", path, err, what);
    if (s == VLM_STATUS_OK) vlm_safetensors_close(st);
}

// Number of tensors in a safetensors header, counted independently with cJSON.
static int count_header_tensors(const char * path) {
    size_t n;
    uint8_t * b = read_bytes(path, &n);
    if (!b || n < 8) { free(b); return -1; }
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | b[i];
    cJSON * j = cJSON_ParseWithLength((const char *)b + 8, hl);
    int count = 0;
    for (cJSON * e = j ? j->child : NULL; e; e = e->next) count += strcmp(e->string, "__metadata__") != 0;
    cJSON_Delete(j);
    free(b);
    return j ? count : -1;
}

static bool shape_is(const struct vlm_file_tensor * t, int32_t n, const int64_t * s) {
    if (!t || t->n_dims != n) return false;
    for (int32_t i = 0; i < n; i++) if (t->shape[i] != s[i]) return false;
    return true;
}

// Independent fp16 decoding (not the library's) for cross-checks.
static float half_ref(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 1024), e - 25);
    return s ? -v : v;
}

static void test_fixtures(void) {
    const char * dir = test_fixtures_dir();
    char path[1024];

    // SAM: all F32, upstream names
    snprintf(path, sizeof path, "%s/sam-tiny/model.safetensors", dir);
    struct vlm_safetensors * st = NULL;
    CHECK(vlm_safetensors_open(path, &st) == VLM_STATUS_OK, "open %s: %s", path, vlm_last_error());
    if (st) {
        CHECK(st->n_tensors == count_header_tensors(path), "sam tensor count %d vs header %d", st->n_tensors,
              count_header_tensors(path));
        const struct vlm_file_tensor * t = vlm_safetensors_find(st, "image_encoder.patch_embed.proj.weight");
        // config.json: encoder_embed_dim 48, patch 16
        CHECK(t && shape_is(t, 4, (int64_t[]){ 48, 3, 16, 16 }) && t->dtype == VLM_DTYPE_F32 && t->gguf_type == -1,
              "sam patch_embed shape/dtype");
        CHECK(t && t->nbytes == 48 * 3 * 16 * 16 * 4, "sam patch_embed nbytes");
        CHECK(vlm_safetensors_find(st, "mask_decoder.iou_token.weight") != NULL, "sam iou_token present");
        CHECK(vlm_safetensors_find(st, "no.such.tensor") == NULL, "missing name -> NULL");
        CHECK(vlm_safetensors_find(st, "") == NULL, "empty name -> NULL");
        CHECK(st->metadata_json && strstr(st->metadata_json, "\"format\""), "sam __metadata__ kept: %s",
              st->metadata_json ? st->metadata_json : "(null)");
        // every tensor is found by its own name, and data lies inside the mapping
        int found = 0;
        for (int32_t i = 0; i < st->n_tensors; i++) found += vlm_safetensors_find(st, st->tensors[i].name) == &st->tensors[i];
        CHECK(found == st->n_tensors, "find by name for all tensors: %d of %d", found, st->n_tensors);
        vlm_safetensors_close(st);
    }

    // CLIP: F16 weights, F32 logit_scale
    snprintf(path, sizeof path, "%s/clip-tiny/model.safetensors", dir);
    st = NULL;
    CHECK(vlm_safetensors_open(path, &st) == VLM_STATUS_OK, "open %s: %s", path, vlm_last_error());
    if (st) {
        CHECK(st->n_tensors == count_header_tensors(path), "clip tensor count");
        const struct vlm_file_tensor * t = vlm_safetensors_find(st, "token_embedding.weight");
        CHECK(t && shape_is(t, 2, (int64_t[]){ 49408, 128 }) && t->dtype == VLM_DTYPE_F16, "clip token_embedding");
        const struct vlm_file_tensor * ls = vlm_safetensors_find(st, "logit_scale");
        CHECK(ls && ls->dtype == VLM_DTYPE_F32, "clip logit_scale is F32");
        if (t) {
            // the library's F16 -> F32 equals an independent decoding
            size_t n = 128 * 64;
            float * a = malloc(n * 4);
            vlm_dtype_traits(VLM_DTYPE_F16)->to_f32(t->data, a, (int64_t)n);
            int bad = 0;
            for (size_t i = 0; i < n; i++) {
                uint16_t h;
                memcpy(&h, (const uint8_t *)t->data + 2 * i, 2);
                bad += a[i] != half_ref(h);
            }
            CHECK(bad == 0, "F16 conversion mismatches: %d", bad);
            free(a);
        }
        // rewrite every tensor and read it back
        const char * copy = test_tmp_path("clip-copy.safetensors");
        CHECK(vlm_safetensors_write(copy, st->tensors, st->n_tensors) == VLM_STATUS_OK, "write copy: %s", vlm_last_error());
        struct vlm_safetensors * st2 = NULL;
        CHECK(vlm_safetensors_open(copy, &st2) == VLM_STATUS_OK, "reopen copy: %s", vlm_last_error());
        if (st2) {
            int same = st2->n_tensors == st->n_tensors;
            for (int32_t i = 0; same && i < st->n_tensors; i++) {
                const struct vlm_file_tensor * a = &st->tensors[i], * b = vlm_safetensors_find(st2, a->name);
                same = b && b->dtype == a->dtype && shape_is(b, a->n_dims, a->shape) && b->nbytes == a->nbytes &&
                       memcmp(a->data, b->data, a->nbytes) == 0;
            }
            CHECK(same, "clip copy differs from the original");
            vlm_safetensors_close(st2);
        }
        vlm_safetensors_close(st);
    }

    // cases files: U8 and I32 tensors
    snprintf(path, sizeof path, "%s/sam-tiny/cases.safetensors", dir);
    st = NULL;
    CHECK(vlm_safetensors_open(path, &st) == VLM_STATUS_OK, "open %s: %s", path, vlm_last_error());
    if (st) {
        CHECK(st->n_tensors == count_header_tensors(path), "sam cases count");
        const struct vlm_file_tensor * t = vlm_safetensors_find(st, "amg.0.segmentation");
        CHECK(t && t->dtype == VLM_DTYPE_U8 && shape_is(t, 2, (int64_t[]){ 534, 800 }), "amg.0.segmentation U8 [534, 800]");
        vlm_safetensors_close(st);
    }
    snprintf(path, sizeof path, "%s/clip-tiny/cases.safetensors", dir);
    st = NULL;
    CHECK(vlm_safetensors_open(path, &st) == VLM_STATUS_OK, "open %s: %s", path, vlm_last_error());
    if (st) {
        const struct vlm_file_tensor * t = vlm_safetensors_find(st, "text_tokens");
        CHECK(t && t->dtype == VLM_DTYPE_I32 && shape_is(t, 2, (int64_t[]){ 6, 77 }), "text_tokens I32 [6, 77]");
        vlm_safetensors_close(st);
    }
}

static bool no_temp_files(void) {
    DIR * d = opendir(g_dir);
    bool ok = true;
    for (struct dirent * e; d && (e = readdir(d));) if (strstr(e->d_name, ".tmp.")) ok = false;
    if (d) closedir(d);
    return ok;
}

static void test_roundtrip(void) {
    float f32[6] = { 1.5f, -2.25f, 0.0f, 3e-8f, 65504.0f, -1e30f };
    uint16_t f16[4] = { 0x3c00, 0xc000, 0x0001, 0x7bff };
    uint16_t bf16[4] = { 0x3f80, 0xbf80, 0x4049, 0x0000 };
    int32_t i32[3] = { -7, 0, 2147483647 };
    uint8_t u8[5] = { 0, 1, 127, 128, 255 };
    float scalar = 4.0f;
    struct vlm_file_tensor ts[] = {
        { .name = "a.f32", .dtype = VLM_DTYPE_F32, .n_dims = 2, .shape = { 2, 3 }, .data = f32, .nbytes = sizeof f32 },
        { .name = "b \"quoted\"\\ name\n", .dtype = VLM_DTYPE_F16, .n_dims = 1, .shape = { 4 }, .data = f16, .nbytes = 8 },
        { .name = "c.bf16", .dtype = VLM_DTYPE_BF16, .n_dims = 3, .shape = { 1, 2, 2 }, .data = bf16, .nbytes = 8 },
        { .name = "d.empty", .dtype = VLM_DTYPE_F32, .n_dims = 2, .shape = { 0, 4 }, .data = NULL, .nbytes = 0 },
        { .name = "e.i32", .dtype = VLM_DTYPE_I32, .n_dims = 1, .shape = { 3 }, .data = i32, .nbytes = 12 },
        { .name = "f.u8", .dtype = VLM_DTYPE_U8, .n_dims = 1, .shape = { 5 }, .data = u8, .nbytes = 5 },
        { .name = "g.scalar", .dtype = VLM_DTYPE_F32, .n_dims = 0, .data = &scalar, .nbytes = 4 },
    };
    int32_t n = (int32_t)(sizeof ts / sizeof *ts);
    const char * path = test_tmp_path("rt.safetensors");
    CHECK(vlm_safetensors_write(path, ts, n) == VLM_STATUS_OK, "write: %s", vlm_last_error());
    CHECK(no_temp_files(), "temp file left after a successful write");
    size_t size;
    uint8_t * bytes = read_bytes(path, &size);
    if (bytes && size >= 8) {
        uint64_t hl = 0;
        for (int i = 7; i >= 0; i--) hl = hl << 8 | bytes[i];
        CHECK(hl % 8 == 0, "header length %llu not a multiple of 8", (unsigned long long)hl);
        size_t data = 0;
        for (int32_t i = 0; i < n; i++) data += ts[i].nbytes;
        CHECK(8 + hl + data == size, "file size %zu != 8 + %llu + %zu", size, (unsigned long long)hl, data);
        const char * end = memchr(bytes + 8, 0, hl) ? NULL : (const char *)bytes + 8 + hl;
        size_t k = 0;
        while (end && k < hl && end[-1 - (long)k] == ' ') k++;
        CHECK(end && end[-1 - (long)k] == '}' && k < 8, "header padding: %zu spaces", k);
    }
    free(bytes);
    struct vlm_safetensors * st = NULL;
    CHECK(vlm_safetensors_open(path, &st) == VLM_STATUS_OK, "reopen: %s", vlm_last_error());
    if (st) {
        CHECK(st->n_tensors == n, "round trip count %d", st->n_tensors);
        CHECK(st->metadata_json == NULL, "no metadata written");
        for (int32_t i = 0; i < n; i++) {
            const struct vlm_file_tensor * t = vlm_safetensors_find(st, ts[i].name);
            CHECK(t && t->dtype == ts[i].dtype && shape_is(t, ts[i].n_dims, ts[i].shape) && t->nbytes == ts[i].nbytes &&
                  (ts[i].nbytes == 0 || memcmp(t->data, ts[i].data, ts[i].nbytes) == 0), "round trip of '%s'", ts[i].name);
            CHECK(t == &st->tensors[i], "file order kept for '%s'", ts[i].name);
        }
        // overwrite the open file atomically with a subset: the old mapping stays valid
        CHECK(vlm_safetensors_write(path, ts, 2) == VLM_STATUS_OK, "overwrite: %s", vlm_last_error());
        CHECK(memcmp(st->tensors[0].data, f32, sizeof f32) == 0, "old mapping intact after overwrite");
        vlm_safetensors_close(st);
        st = NULL;
        CHECK(vlm_safetensors_open(path, &st) == VLM_STATUS_OK && st && st->n_tensors == 2, "reopen overwritten file");
        vlm_safetensors_close(st);
        st = NULL;
        // with "__metadata__": string values, escaped, read back as the same JSON object
        const char * meta[] = { "format", "test", "json \"q\"", "{\"a\": [1, 2]}\n", NULL };
        CHECK(vlm_safetensors_write_meta(path, ts, 2, meta) == VLM_STATUS_OK, "write with metadata: %s", vlm_last_error());
        CHECK(vlm_safetensors_open(path, &st) == VLM_STATUS_OK && st && st->n_tensors == 2 && st->metadata_json &&
              !strcmp(st->metadata_json, "{\"format\":\"test\",\"json \\\"q\\\"\":\"{\\\"a\\\": [1, 2]}\\n\"}"),
              "metadata round trip: %s", st && st->metadata_json ? st->metadata_json : vlm_last_error());
        vlm_safetensors_close(st);
        const char * odd[] = { "key", NULL };
        CHECK(vlm_safetensors_write_meta(test_tmp_path("odd.safetensors"), ts, 1, odd) == VLM_STATUS_INVALID_ARG &&
              access(test_tmp_path("odd.safetensors"), F_OK) != 0, "a metadata key without a value is refused");
    }

    // the writer refuses bad input and leaves nothing behind
    struct vlm_file_tensor dup[2] = { ts[0], ts[0] };
    CHECK(vlm_safetensors_write(test_tmp_path("dup.safetensors"), dup, 2) != VLM_STATUS_OK &&
          strstr(vlm_last_error(), "duplicate"), "duplicate names rejected: %s", vlm_last_error());
    struct vlm_file_tensor wrong = ts[0];
    wrong.nbytes = 20;
    CHECK(vlm_safetensors_write(test_tmp_path("wrong.safetensors"), &wrong, 1) != VLM_STATUS_OK &&
          strstr(vlm_last_error(), "nbytes"), "nbytes mismatch rejected: %s", vlm_last_error());
    CHECK(access(test_tmp_path("dup.safetensors"), F_OK) != 0 && access(test_tmp_path("wrong.safetensors"), F_OK) != 0,
          "no output file after a refused write");
    CHECK(vlm_safetensors_write(test_tmp_path("no-such-dir/x.safetensors"), ts, 1) == VLM_STATUS_IO, "unwritable dir -> IO");
    CHECK(no_temp_files(), "temp file left after failed writes");

}

// Truncated copies of a valid file fail at every cut point.
static void test_truncated(const char * path) {
    size_t size;
    uint8_t * bytes = read_bytes(path, &size);
    CHECK(bytes != NULL, "read %s", path);
    if (bytes) {
        uint64_t hl = 0;
        for (int i = 7; i >= 0; i--) hl = hl << 8 | bytes[i];
        size_t cuts[] = { 0, 1, 7, 8, 9, 8 + hl / 2, 8 + hl - 1, 8 + hl, 8 + hl + 1, size / 2, size - 1 };
        for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
            if (cuts[i] >= size) continue;
            char name[64];
            snprintf(name, sizeof name, "cut-%zu.safetensors", cuts[i]);
            write_bytes(test_tmp_path(name), bytes, cuts[i]);
            struct vlm_safetensors * t = NULL;
            enum vlm_status s = vlm_safetensors_open(test_tmp_path(name), &t);
            CHECK(s != VLM_STATUS_OK && t == NULL, "truncated at %zu opened", cuts[i]);
            CHECK(strstr(vlm_last_error(), name) != NULL, "truncated at %zu: error '%s' lacks the file", cuts[i],
                  vlm_last_error());
            vlm_safetensors_close(t);
        }
        free(bytes);
    }
}

static void test_malformed(void) {
    const char * T1 = "\"x.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
    char h[1024];

    // header length field
    expect_fail(make_raw("len-huge.st", UINT64_MAX, "{}", NULL, 0), "exceeds the limit");
    expect_fail(make_raw("len-2e8.st", 200u << 20, "{}", NULL, 0), "exceeds the limit");
    expect_fail(make_raw("len-past.st", 100, "{}", NULL, 0), "past the end of the file");
    expect_fail(make_raw("len-zero.st", 0, "", NULL, 0), "too small");
    expect_fail(make_raw("empty.st", 0, "", NULL, 0), "header length");
    write_bytes(test_tmp_path("tiny.st"), "abc", 3);
    expect_fail(test_tmp_path("tiny.st"), "too small");

    // header JSON
    expect_fail(make("not-json.st", "{\"x\": [1, 2", 0), "not valid JSON");
    expect_fail(make("garbage.st", "hello world!", 0), "does not start with '{'");
    expect_fail(make("array.st", "[1, 2, 3]   ", 0), "does not start with '{'");
    expect_fail(make("trailing.st", "{} xyz  ", 0), "unexpected bytes");
    {
        uint8_t nul[16] = { 6, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', 0, ' ', ' ' };   // a NUL byte in the padding
        write_bytes(test_tmp_path("nul.st"), nul, 14);
        expect_fail(test_tmp_path("nul.st"), "unexpected bytes");
    }

    // per-tensor checks
    snprintf(h, sizeof h, "{%s}", T1);
    expect_fail(make("short-data.st", h, 4), "past the end of the file (4 bytes of data)");
    expect_fail(make("long-data.st", h, 12), "4 bytes after the last tensor");
    expect_fail(make("offsets-past.st", "{\"x.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[10,18]}}", 16),
                "'x.weight' data_offsets [10, 18] past the end of the file (16 bytes of data)");
    expect_fail(make("begin-after-end.st", "{\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8),
                "end before begin");
    expect_fail(make("mismatch.st", "{\"x\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
                "is F16 [2] = 4 bytes but data_offsets [0, 8] hold 8 bytes");
    expect_fail(make("overflow.st", "{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],"
                     "\"data_offsets\":[0,8]}}", 8), "overflows 64 bits");
    expect_fail(make("overflow2.st", "{\"x\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],"
                     "\"data_offsets\":[0,8]}}", 8), "below 2^53");
    expect_fail(make("overflow3.st", "{\"x\":{\"dtype\":\"BF16\",\"shape\":[4503599627370495,4096],"
                     "\"data_offsets\":[0,8]}}", 8), "overflows 64 bits");
    expect_fail(make("neg-dim.st", "{\"x\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8),
                "shape entry 0 is not a non-negative integer");
    expect_fail(make("frac-dim.st", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 8),
                "not a non-negative integer");
    expect_fail(make("str-dim.st", "{\"x\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8),
                "not a non-negative integer");
    expect_fail(make("dims9.st", "{\"x\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 8),
                "9 dims (max 8)");
    expect_fail(make("i64.st", "{\"x\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
                "I64");   // 2 x 8 bytes do not fit in 8
    {   // an I64 tensor of the right size opens (HF checkpoints carry position_ids)
        struct vlm_safetensors * st = NULL;
        const char * p = make("i64-ok.st", "{\"x\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8);
        CHECK(vlm_safetensors_open(p, &st) == VLM_STATUS_OK, "I64 tensor: %s", vlm_last_error());
        const struct vlm_file_tensor * t = st ? vlm_safetensors_find(st, "x") : NULL;
        CHECK(t && t->dtype == VLM_DTYPE_I64 && t->nbytes == 8, "I64 tensor read back");
        vlm_safetensors_close(st);
    }
    expect_fail(make("f64.st", "{\"x\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8),
                "unsupported dtype F64");
    expect_fail(make("bool.st", "{\"x\":{\"dtype\":\"BOOL\",\"shape\":[8],\"data_offsets\":[0,8]}}", 8),
                "unsupported dtype BOOL");
    expect_fail(make("unknown-dtype.st", "{\"x\":{\"dtype\":\"Q9\",\"shape\":[8],\"data_offsets\":[0,8]}}", 8),
                "unknown dtype \"Q9\"");
    expect_fail(make("no-dtype.st", "{\"x\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "no \"dtype\"");
    expect_fail(make("no-shape.st", "{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8), "no \"shape\"");
    expect_fail(make("no-offsets.st", "{\"x\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8), "data_offsets");
    expect_fail(make("offsets3.st", "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4,8]}}", 8),
                "data_offsets");
    expect_fail(make("neg-offset.st", "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8),
                "data_offsets");
    expect_fail(make("entry-not-obj.st", "{\"x\":[1,2]}", 0), "not a JSON object");
    expect_fail(make("meta-not-obj.st", "{\"__metadata__\":[1]}", 0), "\"__metadata__\" is not a JSON object");
    expect_fail(make("meta-not-str.st", "{\"__metadata__\":{\"a\":1}}", 0), "is not a string");

    // the tensors together
    snprintf(h, sizeof h, "{%s,%s}", T1, T1);
    expect_fail(make("dup.st", h, 8), "duplicate tensor name 'x.weight'");
    expect_fail(make("overlap.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                     "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 24),
                "tensors 'a' [0, 16] and 'b' [8, 24] overlap");
    expect_fail(make("same-range.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                     "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16), "overlap");
    expect_fail(make("gap.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20),
                "gap of 4 bytes between tensor 'a'");
    expect_fail(make("gap-start.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12),
                "gap of 4 bytes before the first tensor");
    expect_fail(make("data-no-tensors.st", "{}", 8), "8 bytes after the last tensor");

    // still valid: out-of-order offsets, zero-size tensors, empty header, metadata
    struct vlm_safetensors * st = NULL;
    const char * ok = make("ok.st", "{\"__metadata__\":{\"k\":\"v\"},\"b\":{\"dtype\":\"F32\",\"shape\":[2],"
                           "\"data_offsets\":[8,16]},\"z\":{\"dtype\":\"U8\",\"shape\":[0,3],\"data_offsets\":[8,8]},"
                           "\"a\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]}}  ", 16);
    CHECK(vlm_safetensors_open(ok, &st) == VLM_STATUS_OK, "valid unusual file: %s", vlm_last_error());
    if (st) {
        CHECK(st->n_tensors == 3 && strcmp(st->tensors[0].name, "b") == 0, "header order kept");
        CHECK(st->metadata_json && strstr(st->metadata_json, "\"k\":\"v\""), "metadata json");
        vlm_safetensors_close(st);
    }
    st = NULL;
    CHECK(vlm_safetensors_open(make("empty-obj.st", "{}", 0), &st) == VLM_STATUS_OK && st && st->n_tensors == 0,
          "empty header is a valid (empty) file");
    vlm_safetensors_close(st);

    // not a file
    st = (struct vlm_safetensors *)1;
    CHECK(vlm_safetensors_open(test_tmp_path("does-not-exist.st"), &st) == VLM_STATUS_IO && st == NULL, "missing file -> IO");
    CHECK(strstr(vlm_last_error(), "does-not-exist.st") != NULL, "missing file named: %s", vlm_last_error());
    CHECK(vlm_safetensors_open(g_dir, &st) == VLM_STATUS_IO && st == NULL, "directory -> IO: %s", vlm_last_error());
    vlm_safetensors_close(NULL);
}

int main(void) {
    g_dir = test_tmp_dir("st");
    test_malformed();
    test_roundtrip();
    test_truncated(test_tmp_path("rt.safetensors"));
    if (test_failed) TEST_END();
    test_fixtures();
    test_truncated(test_tmp_path("clip-copy.safetensors"));
    TEST_END();
}
