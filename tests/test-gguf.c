// test-gguf.c — the GGUF reader on a synthetic file with every metadata type, on malformed
// files (each must give an error naming the problem), and on the smolvlm-tiny fixtures
// (checked against their config.json and against each other: the F16 file holds the same values).
#include <cjson/cJSON.h>
#include <dirent.h>
#include <unistd.h>

#include "core.h"
#include "gguf-meta.h"
#include "harness.h"
#include "model-file.h"

static const char * g_dir;   // the scratch folder

// ---- a little GGUF writer ----

struct gb { uint8_t * p; size_t n, cap; };

static void gb_put(struct gb * b, const void * d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void gb_u8(struct gb * b, uint8_t v) { gb_put(b, &v, 1); }
static void gb_u32(struct gb * b, uint32_t v) { gb_put(b, &v, 4); }
static void gb_u64(struct gb * b, uint64_t v) { gb_put(b, &v, 8); }
static void gb_str(struct gb * b, const char * s) { gb_u64(b, strlen(s)); gb_put(b, s, strlen(s)); }
static void gb_head(struct gb * b, uint32_t version, uint64_t nt, uint64_t nkv) {
    gb_put(b, "GGUF", 4);
    gb_u32(b, version);
    gb_u64(b, nt);
    gb_u64(b, nkv);
}
static void gb_kv_u32(struct gb * b, const char * k, uint32_t v) { gb_str(b, k); gb_u32(b, VLM_GGUF_TYPE_UINT32); gb_u32(b, v); }
static void gb_kv_str(struct gb * b, const char * k, const char * v) { gb_str(b, k); gb_u32(b, VLM_GGUF_TYPE_STRING); gb_str(b, v); }
static void gb_tensor(struct gb * b, const char * name, uint32_t n_dims, const uint64_t * ne, uint32_t type, uint64_t off) {
    gb_str(b, name);
    gb_u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) gb_u64(b, ne[i]);
    gb_u32(b, type);
    gb_u64(b, off);
}
static void gb_pad(struct gb * b, size_t align) { while (b->n % align) gb_u8(b, 0); }
static void gb_zeros(struct gb * b, size_t n) { for (size_t i = 0; i < n; i++) gb_u8(b, 0); }

static const char * gb_save(struct gb * b, const char * name) {
    const char * p = test_tmp_path(name);
    FILE * f = fopen(p, "wb");
    if (!f || (b->n && fwrite(b->p, 1, b->n, f) != b->n)) { perror(p); exit(1); }
    fclose(f);
    free(b->p);
    memset(b, 0, sizeof *b);
    return p;
}

static void expect_fail(const char * path, const char * what) {
    struct vlm_gguf * g = (struct vlm_gguf *)1;
    enum vlm_status s = vlm_gguf_open(path, &g);
    const char * err = vlm_last_error();
    CHECK(s != VLM_STATUS_OK, "%s: opened but should fail (%s)", path, what);
    CHECK(g == NULL, "%s: out not NULL on failure", path);
    CHECK(strstr(err, path) != NULL, "%s: error does not name the file: %s", path, err);
    CHECK(strstr(err, what) != NULL, "%s: error '%s' does not mention '%s'", path, err, what);
    if (s == VLM_STATUS_OK) vlm_gguf_close(g);
}

// ---- a valid synthetic file with every value type ----

static const float Q8_SCALE[2] = { 0.5f, -0.25f };

static size_t build_valid(struct gb * b, uint32_t alignment) {
    gb_head(b, 3, 4, 17);
    gb_kv_str(b, "general.architecture", "test");
    gb_str(b, "v.u8");  gb_u32(b, VLM_GGUF_TYPE_UINT8);  gb_u8(b, 200);
    gb_str(b, "v.i8");  gb_u32(b, VLM_GGUF_TYPE_INT8);   gb_u8(b, (uint8_t)-3);
    gb_str(b, "v.u16"); gb_u32(b, VLM_GGUF_TYPE_UINT16); uint16_t u16 = 60000; gb_put(b, &u16, 2);
    gb_str(b, "v.i16"); gb_u32(b, VLM_GGUF_TYPE_INT16);  int16_t i16 = -30000; gb_put(b, &i16, 2);
    gb_kv_u32(b, "v.u32", 4000000000u);
    gb_str(b, "v.i32"); gb_u32(b, VLM_GGUF_TYPE_INT32);  gb_u32(b, (uint32_t)-5);
    gb_str(b, "v.f32"); gb_u32(b, VLM_GGUF_TYPE_FLOAT32); float f = 0.5f; gb_put(b, &f, 4);
    gb_str(b, "v.bool"); gb_u32(b, VLM_GGUF_TYPE_BOOL);  gb_u8(b, 1);
    gb_str(b, "v.u64"); gb_u32(b, VLM_GGUF_TYPE_UINT64); gb_u64(b, UINT64_MAX);
    gb_str(b, "v.i64"); gb_u32(b, VLM_GGUF_TYPE_INT64);  gb_u64(b, (uint64_t)-9);
    gb_str(b, "v.f64"); gb_u32(b, VLM_GGUF_TYPE_FLOAT64); double d = 2.5; gb_put(b, &d, 8);
    gb_str(b, "a.i32"); gb_u32(b, VLM_GGUF_TYPE_ARRAY); gb_u32(b, VLM_GGUF_TYPE_INT32); gb_u64(b, 3);
    gb_u32(b, 1); gb_u32(b, 2); gb_u32(b, 3);
    gb_str(b, "a.str"); gb_u32(b, VLM_GGUF_TYPE_ARRAY); gb_u32(b, VLM_GGUF_TYPE_STRING); gb_u64(b, 3);
    gb_str(b, "a"); gb_str(b, "bc\n"); gb_str(b, "");
    gb_str(b, "a.nested"); gb_u32(b, VLM_GGUF_TYPE_ARRAY); gb_u32(b, VLM_GGUF_TYPE_ARRAY); gb_u64(b, 2);
    gb_u32(b, VLM_GGUF_TYPE_UINT8); gb_u64(b, 2); gb_u8(b, 1); gb_u8(b, 2);
    gb_u32(b, VLM_GGUF_TYPE_STRING); gb_u64(b, 1); gb_str(b, "x");
    gb_str(b, "a.empty"); gb_u32(b, VLM_GGUF_TYPE_ARRAY); gb_u32(b, VLM_GGUF_TYPE_FLOAT32); gb_u64(b, 0);
    gb_kv_u32(b, "general.alignment", alignment);
    // tensors: f32 ne [3, 2] at 0; f16 ne [4] ; bf16 ne [2, 1, 1]; q8_0 ne [64, 1] last
    size_t a = alignment;
    uint64_t ne0[] = { 3, 2 }, ne1[] = { 4 }, ne2[] = { 2, 1, 1 }, ne3[] = { 64, 1 };
    size_t o1 = (24 + a - 1) / a * a, o2 = (o1 + 8 + a - 1) / a * a, o3 = (o2 + 4 + a - 1) / a * a;
    gb_tensor(b, "t.f32", 2, ne0, 0, 0);
    gb_tensor(b, "t.f16", 1, ne1, 1, o1);
    gb_tensor(b, "t.bf16", 3, ne2, 30, o2);
    gb_tensor(b, "t.q8", 2, ne3, 8, o3);
    gb_pad(b, a);
    size_t base = b->n;
    for (int i = 0; i < 6; i++) { float v = (float)i - 2.5f; gb_put(b, &v, 4); }
    gb_pad(b, a);
    uint16_t h[4] = { 0x3c00, 0xc000, 0x3800, 0x0000 };   // 1, -2, 0.5, 0
    gb_put(b, h, 8);
    gb_pad(b, a);
    uint16_t bf[2] = { 0x3f80, 0x4000 };   // 1, 2
    gb_put(b, bf, 4);
    gb_pad(b, a);
    for (int blk = 0; blk < 2; blk++) {   // two Q8_0 blocks, d then 32 int8
        uint16_t dh = vlm_f32_to_f16(Q8_SCALE[blk]);
        gb_put(b, &dh, 2);
        for (int j = 0; j < 32; j++) gb_u8(b, (uint8_t)(int8_t)(j - 16 + blk));
    }
    return base;
}

static void test_valid(void) {
    struct gb b = { 0 };
    size_t base = build_valid(&b, 64);
    size_t size = b.n;
    const char * path = gb_save(&b, "valid.gguf");
    struct vlm_gguf * g = NULL;
    CHECK(vlm_gguf_open(path, &g) == VLM_STATUS_OK, "open synthetic: %s", vlm_last_error());
    if (!g) return;
    const char * s = NULL;
    int64_t iv;
    double dv;
    bool bv;
    CHECK(vlm_gguf_get_str(g, "general.architecture", &s) && !strcmp(s, "test"), "get_str");
    CHECK(vlm_gguf_get_int(g, "v.u8", &iv) && iv == 200, "u8");
    CHECK(vlm_gguf_get_int(g, "v.i8", &iv) && iv == -3, "i8");
    CHECK(vlm_gguf_get_int(g, "v.u16", &iv) && iv == 60000, "u16");
    CHECK(vlm_gguf_get_int(g, "v.i16", &iv) && iv == -30000, "i16");
    CHECK(vlm_gguf_get_int(g, "v.u32", &iv) && iv == 4000000000LL, "u32");
    CHECK(vlm_gguf_get_int(g, "v.i32", &iv) && iv == -5, "i32");
    CHECK(vlm_gguf_get_int(g, "v.i64", &iv) && iv == -9, "i64");
    CHECK(!vlm_gguf_get_int(g, "v.u64", &iv), "u64 above INT64_MAX is not an int64");
    CHECK(!vlm_gguf_get_int(g, "v.f32", &iv) && !vlm_gguf_get_int(g, "general.architecture", &iv), "int of non-int");
    CHECK(vlm_gguf_get_float(g, "v.f32", &dv) && dv == 0.5, "f32");
    CHECK(vlm_gguf_get_float(g, "v.f64", &dv) && dv == 2.5, "f64");
    CHECK(!vlm_gguf_get_float(g, "v.i32", &dv), "float of int");
    CHECK(vlm_gguf_get_bool(g, "v.bool", &bv) && bv, "bool");
    CHECK(!vlm_gguf_get_str(g, "v.u8", &s) && !vlm_gguf_get_str(g, "missing", &s), "str of non-str / missing");
    enum vlm_gguf_type et;
    uint64_t n;
    const void * data;
    int32_t i3 = 0;   // array elements are unaligned raw bytes
    CHECK(vlm_gguf_get_array(g, "a.i32", &et, &n, &data) && et == VLM_GGUF_TYPE_INT32 && n == 3 && data &&
          (memcpy(&i3, (const uint8_t *)data + 8, 4), i3 == 3), "i32 array");
    size_t len;
    CHECK(vlm_gguf_get_array(g, "a.str", &et, &n, &data) && et == VLM_GGUF_TYPE_STRING && n == 3 && !data, "str array");
    CHECK(vlm_gguf_get_array_str(g, "a.str", 1, &s, &len) && len == 3 && !memcmp(s, "bc\n", 3), "str array [1]");
    CHECK(vlm_gguf_get_array_str(g, "a.str", 2, &s, &len) && len == 0, "str array [2] empty");
    CHECK(!vlm_gguf_get_array_str(g, "a.str", 3, &s, &len), "str array out of range");
    CHECK(vlm_gguf_get_array(g, "a.nested", &et, &n, &data) && et == VLM_GGUF_TYPE_ARRAY && n == 2 && !data, "nested");
    CHECK(vlm_gguf_get_array(g, "a.empty", &et, &n, NULL) && n == 0, "empty array");
    CHECK(vlm_gguf_n_kv(g) == 17 && vlm_gguf_version(g) == 3 && vlm_gguf_alignment(g) == 64, "kv count / version / align");

    CHECK(vlm_gguf_n_tensors(g) == 4, "tensor count");
    const struct vlm_file_tensor * t = vlm_gguf_find(g, "t.f32");
    CHECK(t && t->n_dims == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->dtype == VLM_DTYPE_F32 && t->nbytes == 24,
          "t.f32 shape reversed to [2, 3]");
    if (t) {
        float v[6];
        memcpy(v, t->data, 24);
        CHECK(v[0] == -2.5f && v[5] == 2.5f, "t.f32 data");
        CHECK((uintptr_t)t->data % 64 == 0, "data aligned to general.alignment");
    }
    t = vlm_gguf_find(g, "t.f16");
    if (t) {
        float v[4];
        vlm_dtype_traits(t->dtype)->to_f32(t->data, v, 4);
        CHECK(t->dtype == VLM_DTYPE_F16 && t->gguf_type == 1 && v[0] == 1 && v[1] == -2 && v[2] == 0.5f,
              "t.f16");
    } else CHECK(0, "t.f16 missing");
    t = vlm_gguf_find(g, "t.bf16");
    CHECK(t && t->dtype == VLM_DTYPE_BF16 && t->n_dims == 3 && t->shape[0] == 1 && t->shape[2] == 2, "t.bf16");
    t = vlm_gguf_find(g, "t.q8");
    CHECK(t && t->gguf_type == 8 && t->dtype == VLM_DTYPE_Q8_0 && t->nbytes == 68 && t->shape[0] == 1 &&
          t->shape[1] == 64, "t.q8: 2 blocks of 34 bytes, shape [1, 64]");
    if (t) {
        CHECK((size_t)((const uint8_t *)t->data + t->nbytes - (const uint8_t *)vlm_gguf_tensor(g, 0)->data) ==
              size - base, "q8 tensor ends the file");
        float v[64];
        vlm_dtype_traits(VLM_DTYPE_Q8_0)->to_f32(t->data, v, 64);
        int bad = 0;
        for (int i = 0; i < 64; i++) bad += v[i] != Q8_SCALE[i / 32] * (float)(i % 32 - 16 + i / 32);
        CHECK(bad == 0, "q8_0 dequantization: %d wrong", bad);
    }
    CHECK(!vlm_gguf_find(g, "nope") && !vlm_gguf_tensor(g, 4) && !vlm_gguf_tensor(g, -1), "lookups out of range");
    CHECK(!strcmp(vlm_gguf_type_name(8), "Q8_0") && !strcmp(vlm_gguf_type_name(12), "Q4_K") &&
          !strcmp(vlm_gguf_type_name(999), "?"), "type names");

    // metadata listing
    char * buf = NULL;
    size_t blen = 0;
    FILE * mf = open_memstream(&buf, &blen);
    vlm_gguf_print_metadata(g, mf);
    fclose(mf);
    CHECK(buf && strstr(buf, "general.architecture = \"test\"") && strstr(buf, "v.i64 = -9") &&
          strstr(buf, "v.u64 = 18446744073709551615") && strstr(buf, "a.str = string[3] [\"a\", \"bc\\n\", \"\"]") &&
          strstr(buf, "v.bool = true"), "print_metadata:\n%s", buf ? buf : "");
    free(buf);
    vlm_gguf_close(g);
    vlm_gguf_close(NULL);

    // default alignment (32) and version 2 also work
    build_valid(&b, 32);
    memcpy(b.p + 4, &(uint32_t){ 2 }, 4);
    path = gb_save(&b, "valid-v2.gguf");
    g = NULL;
    CHECK(vlm_gguf_open(path, &g) == VLM_STATUS_OK && vlm_gguf_version(g) == 2, "v2 file: %s", vlm_last_error());
    vlm_gguf_close(g);

    // every truncation of the valid file fails
    FILE * f = fopen(test_tmp_path("valid.gguf"), "rb");
    uint8_t * bytes = malloc(size);
    CHECK(f && fread(bytes, 1, size, f) == size, "reread valid.gguf");
    if (f) fclose(f);
    int opened = 0;
    for (size_t cut = 0; cut < size; cut++) {
        FILE * o = fopen(test_tmp_path("cut.gguf"), "wb");
        fwrite(bytes, 1, cut, o);
        fclose(o);
        struct vlm_gguf * c = NULL;
        if (vlm_gguf_open(test_tmp_path("cut.gguf"), &c) == VLM_STATUS_OK) { opened++; vlm_gguf_close(c); }
        else if (!strstr(vlm_last_error(), "cut.gguf")) opened += 1000;
    }
    CHECK(opened == 0, "%d of %zu truncations opened or gave an error without the file name", opened, size);
    free(bytes);
}

static void test_malformed(void) {
    struct gb b = { 0 };
    uint64_t ne2[] = { 4, 4 };

    gb_put(&b, "GGUX", 4); gb_u32(&b, 3); gb_u64(&b, 0); gb_u64(&b, 0);
    expect_fail(gb_save(&b, "magic.gguf"), "bad magic");
    gb_head(&b, 1, 0, 0);
    expect_fail(gb_save(&b, "v1.gguf"), "version 1 is not supported");
    gb_head(&b, 4, 0, 0);
    expect_fail(gb_save(&b, "v4.gguf"), "version 4 is not supported");
    gb_head(&b, 0x03000000u, 0, 0);
    expect_fail(gb_save(&b, "be.gguf"), "big-endian");
    gb_put(&b, "GGUF", 4); gb_u32(&b, 3);
    expect_fail(gb_save(&b, "short.gguf"), "too small");

    // counts that cannot fit the file
    gb_head(&b, 3, 1ull << 31, 0); gb_zeros(&b, 64);
    expect_fail(gb_save(&b, "nt31.gguf"), "tensor count 2147483648 is impossible");
    gb_head(&b, 3, 1ull << 63, 0); gb_zeros(&b, 64);
    expect_fail(gb_save(&b, "nt63.gguf"), "tensor count");
    gb_head(&b, 3, 100, 0); gb_zeros(&b, 64);
    expect_fail(gb_save(&b, "nt100.gguf"), "tensor count 100 is impossible");
    gb_head(&b, 3, 0, 1ull << 40); gb_zeros(&b, 64);
    expect_fail(gb_save(&b, "nkv.gguf"), "metadata count");

    // strings
    gb_head(&b, 3, 0, 1); gb_u64(&b, 1ull << 32); gb_put(&b, "abcdefghijklmn", 14);
    expect_fail(gb_save(&b, "key4g.gguf"), "length 4294967296");
    gb_head(&b, 3, 0, 1); gb_u64(&b, UINT64_MAX); gb_put(&b, "abcdefghijklmn", 14);
    expect_fail(gb_save(&b, "keymax.gguf"), "past the end of the file");
    gb_head(&b, 3, 0, 1); gb_str(&b, "k"); gb_u32(&b, VLM_GGUF_TYPE_STRING); gb_u64(&b, 0xFFFFFFFFull); gb_put(&b, "x", 1);
    expect_fail(gb_save(&b, "val4g.gguf"), "length 4294967295");
    gb_head(&b, 3, 0, 1); gb_u64(&b, 3); gb_put(&b, "a\0b", 3); gb_u32(&b, VLM_GGUF_TYPE_UINT8); gb_u8(&b, 0);
    expect_fail(gb_save(&b, "keynul.gguf"), "NUL byte");

    // metadata types and arrays
    gb_head(&b, 3, 0, 1); gb_str(&b, "k"); gb_u32(&b, 13); gb_u64(&b, 0);
    expect_fail(gb_save(&b, "type13.gguf"), "unknown value type 13");
    gb_head(&b, 3, 0, 1); gb_str(&b, "k"); gb_u32(&b, VLM_GGUF_TYPE_ARRAY); gb_u32(&b, VLM_GGUF_TYPE_UINT8);
    gb_u64(&b, 1ull << 62); gb_zeros(&b, 16);
    expect_fail(gb_save(&b, "arr-huge.gguf"), "does not fit");
    gb_head(&b, 3, 0, 1); gb_str(&b, "k"); gb_u32(&b, VLM_GGUF_TYPE_ARRAY); gb_u32(&b, VLM_GGUF_TYPE_UINT64);
    gb_u64(&b, (1ull << 61) + 1); gb_zeros(&b, 16);   // n * 8 wraps around 64 bits
    expect_fail(gb_save(&b, "arr-wrap.gguf"), "does not fit");
    gb_head(&b, 3, 0, 1); gb_str(&b, "k"); gb_u32(&b, VLM_GGUF_TYPE_ARRAY); gb_u32(&b, VLM_GGUF_TYPE_STRING);
    gb_u64(&b, 1ull << 40); gb_zeros(&b, 16);
    expect_fail(gb_save(&b, "arr-str.gguf"), "does not fit");
    gb_head(&b, 3, 0, 1); gb_str(&b, "k"); gb_u32(&b, VLM_GGUF_TYPE_ARRAY); gb_u32(&b, 99); gb_u64(&b, 1); gb_zeros(&b, 8);
    expect_fail(gb_save(&b, "arr-type.gguf"), "unknown type 99");
    gb_head(&b, 3, 0, 1); gb_str(&b, "k");
    gb_u32(&b, VLM_GGUF_TYPE_ARRAY);
    for (int i = 0; i < 12; i++) { gb_u32(&b, VLM_GGUF_TYPE_ARRAY); gb_u64(&b, 1); }
    gb_u32(&b, VLM_GGUF_TYPE_UINT8); gb_u64(&b, 0);
    expect_fail(gb_save(&b, "arr-deep.gguf"), "nested deeper");
    gb_head(&b, 3, 0, 2); gb_kv_u32(&b, "k", 1); gb_kv_u32(&b, "k", 2);
    expect_fail(gb_save(&b, "dupkey.gguf"), "duplicate metadata key 'k'");
    gb_head(&b, 3, 0, 1); gb_str(&b, "general.alignment"); gb_u32(&b, VLM_GGUF_TYPE_UINT64); gb_u64(&b, 32);
    expect_fail(gb_save(&b, "align-type.gguf"), "expected uint32");
    gb_head(&b, 3, 0, 1); gb_kv_u32(&b, "general.alignment", 48);
    expect_fail(gb_save(&b, "align48.gguf"), "not a power of two");
    gb_head(&b, 3, 0, 1); gb_kv_u32(&b, "general.alignment", 0);
    expect_fail(gb_save(&b, "align0.gguf"), "not a power of two");

    // tensor infos
    uint64_t ne5[] = { 1, 1, 1, 1, 1 };
    gb_head(&b, 3, 1, 0); gb_tensor(&b, "t", 5, ne5, 0, 0); gb_pad(&b, 32); gb_zeros(&b, 4);
    expect_fail(gb_save(&b, "ndims5.gguf"), "n_dims 5 (max 4)");
    uint64_t neg[] = { 1ull << 63 };
    gb_head(&b, 3, 1, 0); gb_tensor(&b, "t", 1, neg, 0, 0); gb_pad(&b, 32); gb_zeros(&b, 4);
    expect_fail(gb_save(&b, "neg.gguf"), "is negative");
    uint64_t big[] = { 1ull << 32, 1ull << 32, 4 };
    gb_head(&b, 3, 1, 0); gb_tensor(&b, "t", 3, big, 0, 0); gb_pad(&b, 32); gb_zeros(&b, 4);
    expect_fail(gb_save(&b, "overflow.gguf"), "overflows 64 bits");
    gb_head(&b, 3, 1, 0); gb_tensor(&b, "t", 2, ne2, 99, 0); gb_pad(&b, 32); gb_zeros(&b, 64);
    expect_fail(gb_save(&b, "type99.gguf"), "unknown ggml type 99");
    gb_head(&b, 3, 1, 0); gb_tensor(&b, "t", 2, ne2, 4, 0); gb_pad(&b, 32); gb_zeros(&b, 64);
    expect_fail(gb_save(&b, "type4.gguf"), "unknown ggml type 4");
    uint64_t q33[] = { 33 };
    gb_head(&b, 3, 1, 0); gb_tensor(&b, "t", 1, q33, 8, 0); gb_pad(&b, 32); gb_zeros(&b, 64);
    expect_fail(gb_save(&b, "q8-33.gguf"), "not a multiple of its block size 32");
    gb_head(&b, 3, 1, 0); gb_tensor(&b, "t", 2, ne2, 0, 4); gb_pad(&b, 32); gb_zeros(&b, 96);
    expect_fail(gb_save(&b, "unaligned.gguf"), "offset 4 is not a multiple of the alignment 32");
    gb_head(&b, 3, 1, 0); gb_tensor(&b, "t", 2, ne2, 0, 32); gb_pad(&b, 32); gb_zeros(&b, 64);
    expect_fail(gb_save(&b, "past.gguf"), "'t' data [32, 96] past the end of the file (64 bytes of data)");
    gb_head(&b, 3, 1, 0); gb_tensor(&b, "t", 2, ne2, 0, UINT64_MAX - 31); gb_pad(&b, 32); gb_zeros(&b, 64);
    expect_fail(gb_save(&b, "past-wrap.gguf"), "past the end of the file");
    gb_head(&b, 3, 1, 0); gb_tensor(&b, "t", 2, ne2, 0, 0);
    expect_fail(gb_save(&b, "nodata.gguf"), "truncated");
    gb_head(&b, 3, 2, 0); gb_tensor(&b, "a", 2, ne2, 0, 0); gb_tensor(&b, "b", 2, ne2, 0, 32); gb_pad(&b, 32);
    gb_zeros(&b, 96);
    expect_fail(gb_save(&b, "overlap.gguf"), "tensors 'a' [0, 64] and 'b' [32, 96] overlap");
    gb_head(&b, 3, 2, 0); gb_tensor(&b, "a", 2, ne2, 0, 0); gb_tensor(&b, "a", 2, ne2, 0, 64); gb_pad(&b, 32);
    gb_zeros(&b, 128);
    expect_fail(gb_save(&b, "duptensor.gguf"), "duplicate tensor name 'a'");
    gb_head(&b, 3, 1, 0); gb_u64(&b, 3); gb_put(&b, "a\0b", 3); gb_u32(&b, 1); gb_u64(&b, 1); gb_u32(&b, 0); gb_u64(&b, 0);
    gb_pad(&b, 32); gb_zeros(&b, 4);
    expect_fail(gb_save(&b, "tnul.gguf"), "NUL byte");

    // not a file
    struct vlm_gguf * g = (struct vlm_gguf *)1;
    CHECK(vlm_gguf_open(test_tmp_path("missing.gguf"), &g) == VLM_STATUS_IO && g == NULL, "missing -> IO");
    CHECK(vlm_gguf_open(g_dir, &g) == VLM_STATUS_IO && g == NULL, "directory -> IO");
    // a file with no tensors and no metadata is valid
    gb_head(&b, 3, 0, 0);
    g = NULL;
    CHECK(vlm_gguf_open(gb_save(&b, "empty.gguf"), &g) == VLM_STATUS_OK && vlm_gguf_n_tensors(g) == 0, "empty gguf");
    vlm_gguf_close(g);
}

// ---- fixtures ----

static int64_t jint(const cJSON * o, const char * k) {
    const cJSON * v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -1;
}

static void test_fixtures(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/smolvlm-tiny/config.json", test_fixtures_dir());
    FILE * f = fopen(path, "rb");
    if (!f) SKIP("%s missing", path);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    cJSON * cfg = cJSON_Parse(text);
    CHECK(cfg != NULL, "config.json parses");
    if (!cfg) return;
    const cJSON * tc = cJSON_GetObjectItemCaseSensitive(cfg, "text");
    const cJSON * vc = cJSON_GetObjectItemCaseSensitive(cfg, "vision");
    int64_t n_vocab = jint(tc, "n_vocab"), n_embd = jint(tc, "n_embd"), n_layer = jint(tc, "n_layer");
    int64_t n_head = jint(tc, "n_head"), n_head_kv = jint(tc, "n_head_kv"), n_ff = jint(tc, "n_ff");
    double theta = cJSON_GetObjectItemCaseSensitive(tc, "rope_theta")->valuedouble;

    struct vlm_gguf * g32 = NULL, * g16 = NULL, * gmm = NULL;
    snprintf(path, sizeof path, "%s/smolvlm-tiny/smolvlm-tiny-f32.gguf", test_fixtures_dir());
    CHECK(vlm_gguf_open(path, &g32) == VLM_STATUS_OK, "open f32: %s", vlm_last_error());
    snprintf(path, sizeof path, "%s/smolvlm-tiny/smolvlm-tiny-f16.gguf", test_fixtures_dir());
    CHECK(vlm_gguf_open(path, &g16) == VLM_STATUS_OK, "open f16: %s", vlm_last_error());
    snprintf(path, sizeof path, "%s/smolvlm-tiny/mmproj-smolvlm-tiny-f32.gguf", test_fixtures_dir());
    CHECK(vlm_gguf_open(path, &gmm) == VLM_STATUS_OK, "open mmproj: %s", vlm_last_error());
    if (g32) {
        const char * s = NULL;
        int64_t v;
        double d;
        CHECK(vlm_gguf_get_str(g32, "general.architecture", &s) && !strcmp(s, "llama"), "architecture llama");
        CHECK(vlm_gguf_get_int(g32, "llama.block_count", &v) && v == n_layer, "block_count");
        CHECK(vlm_gguf_get_int(g32, "llama.embedding_length", &v) && v == n_embd, "embedding_length");
        CHECK(vlm_gguf_get_int(g32, "llama.attention.head_count", &v) && v == n_head, "head_count");
        CHECK(vlm_gguf_get_int(g32, "llama.attention.head_count_kv", &v) && v == n_head_kv, "head_count_kv");
        CHECK(vlm_gguf_get_int(g32, "llama.feed_forward_length", &v) && v == n_ff, "ffn");
        CHECK(vlm_gguf_get_float(g32, "llama.rope.freq_base", &d) && d == theta, "rope base %g", d);
        CHECK(vlm_gguf_get_int(g32, "general.file_type", &v) && v == 0, "file_type 0");
        // token_embd, output_norm + 9 per layer (attn_norm, q, k, v, output, ffn_norm, gate, up, down)
        CHECK(vlm_gguf_n_tensors(g32) == 2 + 9 * n_layer, "tensor count %d", vlm_gguf_n_tensors(g32));
        enum vlm_gguf_type et;
        uint64_t nt;
        CHECK(vlm_gguf_get_array(g32, "tokenizer.ggml.tokens", &et, &nt, NULL) && et == VLM_GGUF_TYPE_STRING &&
              (int64_t)nt == n_vocab, "tokens array");
        // the special tokens of config.json sit at their ids
        const cJSON * sp = cJSON_GetObjectItemCaseSensitive(cfg, "special_tokens");
        int bad = 0, count = 0;
        for (const cJSON * e = sp ? sp->child : NULL; e; e = e->next, count++) {
            const char * tok;
            size_t len;
            if (!vlm_gguf_get_array_str(g32, "tokenizer.ggml.tokens", (uint64_t)e->valuedouble, &tok, &len) ||
                len != strlen(e->string) || memcmp(tok, e->string, len))
                bad++;
        }
        CHECK(count > 0 && bad == 0, "special tokens: %d of %d wrong", bad, count);
        const struct vlm_file_tensor * t = vlm_gguf_find(g32, "token_embd.weight");
        CHECK(t && t->n_dims == 2 && t->shape[0] == n_vocab && t->shape[1] == n_embd && t->gguf_type == 0,
              "token_embd [vocab, embd] F32");
        t = vlm_gguf_find(g32, "blk.0.attn_k.weight");
        CHECK(t && t->shape[0] == n_embd / n_head * n_head_kv && t->shape[1] == n_embd, "attn_k [kv dim, embd]");
        t = vlm_gguf_find(g32, "blk.1.ffn_down.weight");
        CHECK(t && t->shape[0] == n_embd && t->shape[1] == n_ff, "ffn_down [embd, ff]");
        CHECK(vlm_gguf_find(g32, "output.weight") == NULL, "tied output: no output.weight");
    }
    if (g32 && g16) {
        // same names; 2-D tensors F16 in the f16 file; identical values after conversion
        CHECK(vlm_gguf_n_tensors(g16) == vlm_gguf_n_tensors(g32), "same tensor count");
        int64_t v;
        CHECK(vlm_gguf_get_int(g16, "general.file_type", &v) && v == 1, "file_type 1");
        int mismatched = 0, f16_count = 0;
        for (int32_t i = 0; i < vlm_gguf_n_tensors(g32); i++) {
            const struct vlm_file_tensor * a = vlm_gguf_tensor(g32, i), * b = vlm_gguf_find(g16, a->name);
            if (!b || b->n_dims != a->n_dims || memcmp(a->shape, b->shape, sizeof a->shape)) { mismatched++; continue; }
            f16_count += b->dtype == VLM_DTYPE_F16;
            if ((a->n_dims == 2) != (b->dtype == VLM_DTYPE_F16)) mismatched++;
            size_t ne = a->nbytes / 4;
            float * x = malloc(ne * 4), * y = malloc(ne * 4);
            vlm_dtype_traits(a->dtype)->to_f32(a->data, x, (int64_t)ne);
            vlm_dtype_traits(b->dtype)->to_f32(b->data, y, (int64_t)ne);
            if (memcmp(x, y, ne * 4)) mismatched++;
            free(x);
            free(y);
        }
        // F16: token_embd and the 7 matrices of each layer; the norms stay F32
        CHECK(mismatched == 0 && f16_count == 1 + 7 * n_layer, "f16 vs f32 file: %d mismatched, %d F16", mismatched,
              f16_count);
    }
    if (gmm) {
        const char * s = NULL;
        int64_t v;
        int64_t vd = jint(vc, "n_embd"), patch = jint(vc, "patch_size"), sf = jint(vc, "scale_factor");
        CHECK(vlm_gguf_get_str(gmm, "general.architecture", &s) && !strcmp(s, "clip"), "mmproj arch clip");
        CHECK(vlm_gguf_get_str(gmm, "clip.projector_type", &s) && !strcmp(s, "idefics3"), "projector idefics3");
        CHECK(vlm_gguf_get_int(gmm, "clip.vision.block_count", &v) && v == jint(vc, "n_layer"), "vision layers");
        CHECK(vlm_gguf_get_int(gmm, "clip.vision.projector.scale_factor", &v) && v == sf, "scale factor");
        const struct vlm_file_tensor * t = vlm_gguf_find(gmm, "v.patch_embd.weight");
        CHECK(t && t->n_dims == 4 && t->shape[0] == vd && t->shape[1] == 3 && t->shape[2] == patch && t->shape[3] == patch,
              "patch_embd [96, 3, 16, 16]");
        t = vlm_gguf_find(gmm, "mm.model.fc.weight");
        CHECK(t && t->shape[0] == n_embd && t->shape[1] == vd * sf * sf, "mm.model.fc [64, 1536]");
        // patch_embd w/b, position_embd, post_ln w/b, mm.model.fc + 16 per layer (ln1, ln2, q, k, v, out, up, down: w/b)
        CHECK(vlm_gguf_n_tensors(gmm) == 6 + 16 * jint(vc, "n_layer"), "mmproj tensors %d", vlm_gguf_n_tensors(gmm));
        enum vlm_gguf_type et;
        uint64_t na;
        const void * data;
        const cJSON * mean = cJSON_GetObjectItemCaseSensitive(vc, "image_mean");
        float m0 = 0;
        CHECK(vlm_gguf_get_array(gmm, "clip.vision.image_mean", &et, &na, &data) && et == VLM_GGUF_TYPE_FLOAT32 &&
              na == 3 && (memcpy(&m0, data, 4), m0 == (float)cJSON_GetArrayItem(mean, 0)->valuedouble), "image_mean");
    }
    vlm_gguf_close(g32);
    vlm_gguf_close(g16);
    vlm_gguf_close(gmm);
    cJSON_Delete(cfg);
}

int main(void) {
    g_dir = test_tmp_dir("gguf");
    test_valid();
    test_malformed();
    if (test_failed) TEST_END();
    test_fixtures();   // skips (exit 77) when the fixtures are absent
    TEST_END();
}
