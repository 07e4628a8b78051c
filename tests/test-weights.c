// test-weights.c — the weight store: upload with F16/BF16 -> F32 conversion, 256-byte
// alignment, prefix selection, name/shape lookups and their errors, NaN/Inf rejection; on a
// synthetic file and on the sam-tiny / clip-tiny fixtures; on the CPU and (when a device
// works) the Vulkan backend.
#include <dirent.h>
#include <unistd.h>

#include "core.h"
#include "gguf-meta.h"
#include "harness.h"
#include "model-file.h"

static const char * g_dir;   // the scratch folder

// Independent fp16 / bf16 decoding (not the library's).
static float half_ref(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 1024), e - 25);
    return s ? -v : v;
}
static float bf16_ref(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static float * download(struct vlm_ctx * x, struct vlm_tensor t) {
    size_t n = (size_t)vlm_tensor_numel(&t);
    float * p = calloc(n ? n : 1, 4);
    vlm_tensor_download(x, t, p);
    return p;
}

static struct vlm_ctx * new_ctx(enum vlm_backend_type b) {
    char err[512] = "";
    struct vlm_ctx * x = vlm_ctx_new(b, 2, 16 << 20, err, sizeof err);
    if (!x && b == VLM_BACKEND_CPU) fprintf(stderr, "cpu context: %s\n", err);
    return x;
}

static void test_synthetic(enum vlm_backend_type backend, const char * bname) {
    float f32[6] = { 1.5f, -2.25f, 0.0f, 3e-8f, 65504.0f, -1e30f };
    uint16_t f16[4] = { 0x3c00, 0xc000, 0x0001, 0x7bff };
    uint16_t bf16[4] = { 0x3f80, 0xbf80, 0x4049, 0x8000 };
    int32_t i32[3] = { -7, 0, 2147483647 };
    uint8_t u8[5] = { 0, 1, 127, 128, 255 };
    int64_t i64[2] = { 0, 1 };
    float scalar = 4.0f;
    struct vlm_file_tensor ts[] = {
        { .name = "enc.a", .dtype = VLM_DTYPE_F32, .n_dims = 2, .shape = { 2, 3 }, .data = f32, .nbytes = 24 },
        { .name = "enc.b", .dtype = VLM_DTYPE_F16, .n_dims = 1, .shape = { 4 }, .data = f16, .nbytes = 8 },
        { .name = "dec.c", .dtype = VLM_DTYPE_BF16, .n_dims = 3, .shape = { 1, 2, 2 }, .data = bf16, .nbytes = 8 },
        { .name = "dec.i", .dtype = VLM_DTYPE_I32, .n_dims = 1, .shape = { 3 }, .data = i32, .nbytes = 12 },
        { .name = "dec.u", .dtype = VLM_DTYPE_U8, .n_dims = 1, .shape = { 5 }, .data = u8, .nbytes = 5 },
        { .name = "scale", .dtype = VLM_DTYPE_F32, .n_dims = 0, .data = &scalar, .nbytes = 4 },
        { .name = "enc.empty", .dtype = VLM_DTYPE_F16, .n_dims = 2, .shape = { 0, 8 }, .data = NULL, .nbytes = 0 },
        // an index buffer as HF checkpoints carry (position_ids): read, but not loaded
        { .name = "enc.position_ids", .dtype = VLM_DTYPE_I64, .n_dims = 2, .shape = { 1, 2 }, .data = i64, .nbytes = 16 },
    };
    int32_t n = (int32_t)(sizeof ts / sizeof *ts);
    const char * path = test_tmp_path("w.safetensors");
    CHECK(vlm_safetensors_write(path, ts, n) == VLM_STATUS_OK, "write: %s", vlm_last_error());
    struct vlm_safetensors * st = NULL;
    CHECK(vlm_safetensors_open(path, &st) == VLM_STATUS_OK, "open: %s", vlm_last_error());
    if (!st) return;

    struct vlm_ctx * x = new_ctx(backend);
    struct vlm_weights * w = NULL;
    CHECK(vlm_weights_load(x, st, NULL, &w) == VLM_STATUS_OK, "[%s] load: %s", bname, vlm_last_error());
    if (w) {
        CHECK(vlm_weights_param_count(w) == 6 + 4 + 4 + 3 + 5 + 1, "[%s] param count %lld", bname,
              (long long)vlm_weights_param_count(w));
        for (int32_t i = 0; i < n - 1; i++) CHECK(vlm_weights_has(w, ts[i].name), "[%s] has %s", bname, ts[i].name);
        CHECK(!vlm_weights_has(w, "enc.position_ids"), "[%s] the I64 tensor is skipped", bname);
        CHECK(!vlm_weights_has(w, "enc") && !vlm_weights_has(w, "nope"), "[%s] has() of absent names", bname);

        struct vlm_tensor a = vlm_weights_get(x, w, "enc.a", 2, (int64_t[]){ 2, 3 });
        struct vlm_tensor b = vlm_weights_get(x, w, "enc.b", 1, (int64_t[]){ -1 });
        struct vlm_tensor c = vlm_weights_getf(x, w, 3, (int64_t[]){ 1, -1, 2 }, "%s.%c", "dec", 'c');
        struct vlm_tensor i = vlm_weights_get(x, w, "dec.i", 1, NULL);
        struct vlm_tensor u = vlm_weights_get(x, w, "dec.u", 0, NULL);
        struct vlm_tensor s = vlm_weights_get(x, w, "scale", 1, (int64_t[]){ 1 });
        CHECK(vlm_ctx_ok(x), "[%s] gets: %s", bname, x->error);
        CHECK(a.dtype == VLM_DTYPE_F32 && b.dtype == VLM_DTYPE_F32 && c.dtype == VLM_DTYPE_F32 &&
              i.dtype == VLM_DTYPE_I32 && u.dtype == VLM_DTYPE_U8 && s.dtype == VLM_DTYPE_F32, "[%s] dtypes", bname);
        CHECK(a.offset % 256 == 0 && b.offset % 256 == 0 && c.offset % 256 == 0 && i.offset % 256 == 0 &&
              u.offset % 256 == 0 && s.offset % 256 == 0 && a.buf == b.buf && b.buf == s.buf, "[%s] one buffer, 256-aligned",
              bname);
        CHECK(c.n_dims == 3 && c.shape[0] == 1 && c.shape[1] == 2 && c.shape[2] == 2, "[%s] bf16 shape", bname);
        float * pa = download(x, a), * pb = download(x, b), * pc = download(x, c), * ps = download(x, s);
        int32_t pi[3] = { 0 };
        uint8_t pu[5] = { 0 };
        vlm_tensor_download(x, i, pi);
        vlm_tensor_download(x, u, pu);
        CHECK(!memcmp(pa, f32, 24), "[%s] f32 values", bname);
        int bad = 0;
        for (int k = 0; k < 4; k++) bad += pb[k] != half_ref(f16[k]) || pc[k] != bf16_ref(bf16[k]);
        CHECK(bad == 0, "[%s] f16/bf16 converted values: %d wrong", bname, bad);
        CHECK(!memcmp(pi, i32, 12) && !memcmp(pu, u8, 5) && ps[0] == 4.0f, "[%s] i32/u8/scalar values", bname);
        free(pa); free(pb); free(pc); free(ps);

        // errors are recorded on the context and name the tensor (fresh contexts: errors are sticky)
        struct vlm_ctx * e = new_ctx(VLM_BACKEND_CPU);
        CHECK(vlm_weights_get(e, w, "enc.zz", 1, NULL).n_dims == 0 && !vlm_ctx_ok(e) &&
              e->status == VLM_STATUS_BAD_MODEL && strstr(e->error, "missing tensor 'enc.zz'"), "[%s] missing: %s", bname,
              e->error);
        vlm_ctx_free(e);
        e = new_ctx(VLM_BACKEND_CPU);
        CHECK(vlm_weights_get(e, w, "enc.a", 2, (int64_t[]){ 3, -1 }).n_dims == 0 &&
              strstr(e->error, "tensor 'enc.a' has shape [2, 3], expected [3, *]"), "[%s] wrong shape: %s", bname,
              e->error);
        vlm_ctx_free(e);
        e = new_ctx(VLM_BACKEND_CPU);
        CHECK(vlm_weights_get(e, w, "enc.b", 2, NULL).n_dims == 0 && strstr(e->error, "tensor 'enc.b' has shape [4]"),
              "[%s] wrong dims: %s", bname, e->error);
        vlm_ctx_free(e);
        vlm_weights_free(x, w);   // with the context that loaded it
    }
    vlm_weights_free(x, NULL);
    vlm_ctx_free(x);

    // prefixes select a subset
    x = new_ctx(backend);
    w = NULL;
    const char * const enc[] = { "enc.", NULL };
    CHECK(vlm_weights_load(x, st, enc, &w) == VLM_STATUS_OK, "[%s] load enc.: %s", bname, vlm_last_error());
    if (w) {
        CHECK(vlm_weights_has(w, "enc.a") && vlm_weights_has(w, "enc.b") && !vlm_weights_has(w, "dec.c") &&
              !vlm_weights_has(w, "scale") && vlm_weights_param_count(w) == 10, "[%s] prefix selection", bname);
        vlm_weights_free(x, w);
    }
    vlm_ctx_free(x);
    vlm_safetensors_close(st);
}

static void test_non_finite(enum vlm_backend_type backend, const char * bname) {
    float nanv[3] = { 1, NAN, 2 };
    uint16_t inf16[2] = { 0x3c00, 0xfc00 };
    uint16_t nanbf[2] = { 0x7fc0, 0 };
    float ok[2] = { 1, 2 };
    struct { const char * file, * name; enum vlm_dtype dt; const void * data; int64_t n; size_t nb; } cases[] = {
        { "nan32.safetensors", "blk.nan_f32", VLM_DTYPE_F32, nanv, 3, 12 },
        { "inf16.safetensors", "blk.inf_f16", VLM_DTYPE_F16, inf16, 2, 4 },
        { "nanbf.safetensors", "blk.nan_bf16", VLM_DTYPE_BF16, nanbf, 2, 4 },
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        struct vlm_file_tensor ts[2] = {
            { .name = "good", .dtype = VLM_DTYPE_F32, .n_dims = 1, .shape = { 2 }, .data = ok, .nbytes = 8 },
            { .name = cases[k].name, .dtype = cases[k].dt, .n_dims = 1, .shape = { cases[k].n }, .data = cases[k].data,
              .nbytes = cases[k].nb },
        };
        const char * path = test_tmp_path(cases[k].file);
        struct vlm_safetensors * st = NULL;
        CHECK(vlm_safetensors_write(path, ts, 2) == VLM_STATUS_OK && vlm_safetensors_open(path, &st) == VLM_STATUS_OK,
              "write/open %s: %s", cases[k].file, vlm_last_error());
        if (!st) continue;
        struct vlm_ctx * x = new_ctx(backend);
        struct vlm_weights * w = (struct vlm_weights *)1;
        enum vlm_status s = vlm_weights_load(x, st, NULL, &w);
        CHECK(s == VLM_STATUS_NON_FINITE && w == NULL, "[%s] %s: status %d", bname, cases[k].file, s);
        CHECK(strstr(vlm_last_error(), cases[k].name) != NULL && strstr(vlm_last_error(), "non-finite"),
              "[%s] error names the tensor: %s", bname, vlm_last_error());
        // selecting only the good tensor loads
        const char * const good[] = { "good", NULL };
        w = NULL;
        CHECK(vlm_weights_load(x, st, good, &w) == VLM_STATUS_OK, "[%s] good subset: %s", bname, vlm_last_error());
        vlm_weights_free(x, w);
        vlm_ctx_free(x);
        vlm_safetensors_close(st);
    }
}

static void test_fixtures(enum vlm_backend_type backend, const char * bname) {
    char path[1024];
    snprintf(path, sizeof path, "%s/clip-tiny/model.safetensors", test_fixtures_dir());
    struct vlm_safetensors * st = NULL;
    CHECK(vlm_safetensors_open(path, &st) == VLM_STATUS_OK, "open %s: %s", path, vlm_last_error());
    if (st) {
        struct vlm_ctx * x = new_ctx(backend);
        struct vlm_weights * w = NULL;
        CHECK(vlm_weights_load(x, st, NULL, &w) == VLM_STATUS_OK, "[%s] load clip: %s", bname, vlm_last_error());
        if (w) {
            int64_t numel = 0;
            int bad = 0, checked = 0;
            for (int32_t i = 0; i < st->n_tensors; i++) {
                const struct vlm_file_tensor * ft = &st->tensors[i];
                int64_t n = 1;
                for (int32_t d = 0; d < ft->n_dims; d++) n *= ft->shape[d];
                numel += n;
                struct vlm_tensor t = vlm_weights_get(x, w, ft->name, ft->n_dims, ft->shape);
                if (ft->dtype != VLM_DTYPE_F16 || t.n_dims == 0) continue;
                float * v = download(x, t);
                for (int64_t j = 0; j < n; j++) {
                    uint16_t h;
                    memcpy(&h, (const uint8_t *)ft->data + 2 * j, 2);
                    bad += v[j] != half_ref(h);
                }
                checked++;
                free(v);
            }
            CHECK(vlm_ctx_ok(x), "[%s] clip gets: %s", bname, x->error);
            CHECK(checked > 0 && bad == 0, "[%s] clip F16 tensors: %d values differ from a manual conversion", bname, bad);
            CHECK(vlm_weights_param_count(w) == numel, "[%s] clip param count", bname);
            vlm_weights_free(x, w);
        }
        vlm_ctx_free(x);
        vlm_safetensors_close(st);
    }

    snprintf(path, sizeof path, "%s/sam-tiny/model.safetensors", test_fixtures_dir());
    st = NULL;
    CHECK(vlm_safetensors_open(path, &st) == VLM_STATUS_OK, "open %s: %s", path, vlm_last_error());
    if (st) {
        struct vlm_ctx * x = new_ctx(backend);
        struct vlm_weights * w = NULL;
        const char * const pre[] = { "image_encoder.", NULL };
        CHECK(vlm_weights_load(x, st, pre, &w) == VLM_STATUS_OK, "[%s] load sam encoder: %s", bname, vlm_last_error());
        if (w) {
            const struct vlm_file_tensor * ft = vlm_safetensors_find(st, "image_encoder.patch_embed.proj.weight");
            struct vlm_tensor t = vlm_weights_get(x, w, "image_encoder.patch_embed.proj.weight", 4,
                                                  (int64_t[]){ -1, 3, 16, 16 });
            CHECK(vlm_ctx_ok(x) && ft && t.shape[0] == ft->shape[0], "[%s] patch_embed: %s", bname, x->error);
            if (vlm_ctx_ok(x) && ft) {
                float * v = download(x, t);
                CHECK(!memcmp(v, ft->data, ft->nbytes), "[%s] F32 tensor uploaded unchanged", bname);
                free(v);
            }
            CHECK(!vlm_weights_has(w, "mask_decoder.iou_token.weight"), "[%s] prefix excludes the decoder", bname);
            vlm_weights_get(x, w, "image_encoder.neck.0.weight", 4, (int64_t[]){ 32, 48, 1, 1 });
            CHECK(vlm_ctx_ok(x), "[%s] neck.0: %s", bname, x->error);
            vlm_weights_get(x, w, "image_encoder.neck.0.weight", 4, (int64_t[]){ 256, 768, 1, 1 });
            CHECK(strstr(x->error, "tensor 'image_encoder.neck.0.weight' has shape [32, 48, 1, 1], expected "
                         "[256, 768, 1, 1]"), "[%s] shape error: %s", bname, x->error);
            vlm_weights_free(x, w);
        }
        vlm_ctx_free(x);
        vlm_safetensors_close(st);
    }
}

// A GGUF file with one tensor `q` of the given type, ne [64, 2], and its data.
static const char * write_gguf(const char * file, uint32_t type, const void * data, size_t nbytes) {
    const char * path = test_tmp_path(file);
    FILE * f = fopen(path, "wb");
    uint32_t u32;
    uint64_t u64;
    fwrite("GGUF", 1, 4, f);
    u32 = 3; fwrite(&u32, 4, 1, f);
    u64 = 1; fwrite(&u64, 8, 1, f);   // tensors
    u64 = 0; fwrite(&u64, 8, 1, f);   // kv
    u64 = 1; fwrite(&u64, 8, 1, f); fwrite("q", 1, 1, f);
    u32 = 2; fwrite(&u32, 4, 1, f);
    u64 = 64; fwrite(&u64, 8, 1, f);
    u64 = 2; fwrite(&u64, 8, 1, f);
    fwrite(&type, 4, 1, f);
    u64 = 0; fwrite(&u64, 8, 1, f);
    long pos = ftell(f);
    for (; pos % 32; pos++) fputc(0, f);
    fwrite(data, 1, nbytes, f);
    fclose(f);
    return path;
}

static void test_gguf(enum vlm_backend_type backend, const char * bname) {
    // Q8_0: 4 blocks of {f16 d, int8 q[32]}, dequantized on load to d * q
    uint8_t q8[4 * 34];
    float want[128];
    for (int b = 0; b < 4; b++) {
        float d = 0.125f * (float)(b + 1);
        uint16_t h = vlm_f32_to_f16(d);
        memcpy(q8 + 34 * b, &h, 2);
        for (int j = 0; j < 32; j++) {
            int8_t v = (int8_t)(j * 7 - 100 + b);
            q8[34 * b + 2 + j] = (uint8_t)v;
            want[b * 32 + j] = d * (float)v;
        }
    }
    struct vlm_gguf * g = NULL;
    CHECK(vlm_gguf_open(write_gguf("q8.gguf", 8, q8, sizeof q8), &g) == VLM_STATUS_OK, "open q8: %s",
          vlm_last_error());
    if (g) {
        struct vlm_ctx * x = new_ctx(backend);
        struct vlm_weights * w = NULL;
        CHECK(vlm_weights_load_gguf(x, g, NULL, &w) == VLM_STATUS_OK, "[%s] load q8: %s", bname, vlm_last_error());
        if (w) {
            struct vlm_tensor t = vlm_weights_get(x, w, "q", 2, (int64_t[]){ 2, 64 });
            CHECK(vlm_ctx_ok(x) && t.dtype == VLM_DTYPE_F32, "[%s] q8 tensor [2, 64] F32: %s", bname, x->error);
            if (vlm_ctx_ok(x)) {
                float * v = download(x, t);
                CHECK(!memcmp(v, want, sizeof want), "[%s] Q8_0 dequantized values", bname);
                free(v);
            }
            vlm_weights_free(x, w);
        }
        // kept as stored: Q8_0 blocks (on the CPU, the file's own bytes), dequantized by copy
        CHECK(vlm_weights_load_gguf_stored(x, g, NULL, &w) == VLM_STATUS_OK, "[%s] load q8 stored: %s", bname,
              vlm_last_error());
        if (w) {
            struct vlm_tensor t = vlm_weights_get(x, w, "q", 2, (int64_t[]){ 2, 64 });
            CHECK(vlm_ctx_ok(x) && t.dtype == VLM_DTYPE_Q8_0, "[%s] q8 stored tensor [2, 64] Q8_0: %s", bname, x->error);
            if (backend == VLM_BACKEND_CPU)
                CHECK(vlm_tensor_host(&t) == vlm_gguf_find(g, "q")->data, "[%s] q8 stored: points into the mapping",
                      bname);
            if (vlm_ctx_ok(x)) {
                float * v = download(x, vlm_op_copy(x, t, VLM_DTYPE_F32));
                CHECK(v && !memcmp(v, want, sizeof want), "[%s] Q8_0 stored, copied to F32", bname);
                free(v);
            }
            vlm_weights_free(x, w);
        }
        vlm_ctx_free(x);
        vlm_gguf_close(g);
    }
    // Q4_1 (20-byte blocks) is read but not loadable
    uint8_t q4[4 * 20] = { 0 };
    g = NULL;
    CHECK(vlm_gguf_open(write_gguf("q4.gguf", 3, q4, sizeof q4), &g) == VLM_STATUS_OK, "open q4_1: %s", vlm_last_error());
    if (g) {
        struct vlm_ctx * x = new_ctx(backend);
        struct vlm_weights * w = NULL;
        CHECK(vlm_weights_load_gguf(x, g, NULL, &w) == VLM_STATUS_UNSUPPORTED && !w &&
              strstr(vlm_last_error(), "tensor 'q' has GGUF type Q4_1"), "[%s] q4_1: %s", bname, vlm_last_error());
        vlm_ctx_free(x);
        vlm_gguf_close(g);
    }
}

// The F16 and F32 SmolVLM text files hold the same values: their weight stores are identical.
static void test_gguf_fixtures(enum vlm_backend_type backend, const char * bname) {
    char p32[1024], p16[1024];
    snprintf(p32, sizeof p32, "%s/smolvlm-tiny/smolvlm-tiny-f32.gguf", test_fixtures_dir());
    snprintf(p16, sizeof p16, "%s/smolvlm-tiny/smolvlm-tiny-f16.gguf", test_fixtures_dir());
    struct vlm_gguf * g32 = NULL, * g16 = NULL;
    CHECK(vlm_gguf_open(p32, &g32) == VLM_STATUS_OK && vlm_gguf_open(p16, &g16) == VLM_STATUS_OK, "open: %s",
          vlm_last_error());
    struct vlm_ctx * x = new_ctx(backend);
    struct vlm_weights * w32 = NULL, * w16 = NULL;
    if (g32 && g16) {
        CHECK(vlm_weights_load_gguf(x, g32, NULL, &w32) == VLM_STATUS_OK, "[%s] load f32: %s", bname, vlm_last_error());
        CHECK(vlm_weights_load_gguf(x, g16, NULL, &w16) == VLM_STATUS_OK, "[%s] load f16: %s", bname, vlm_last_error());
    }
    if (w32 && w16) {
        int differ = 0;
        for (int32_t i = 0; i < vlm_gguf_n_tensors(g32); i++) {
            const struct vlm_file_tensor * ft = vlm_gguf_tensor(g32, i);
            struct vlm_tensor a = vlm_weights_get(x, w32, ft->name, ft->n_dims, ft->shape);
            struct vlm_tensor b = vlm_weights_get(x, w16, ft->name, ft->n_dims, ft->shape);
            if (!vlm_ctx_ok(x)) break;
            float * va = download(x, a), * vb = download(x, b);
            differ += memcmp(va, vb, ft->nbytes) != 0;
            free(va);
            free(vb);
        }
        CHECK(vlm_ctx_ok(x) && differ == 0, "[%s] f16 vs f32 weight stores: %d tensors differ (%s)", bname, differ,
              x->error);
        vlm_weights_get(x, w32, "token_embd.weight", 2, (int64_t[]){ -1, 64 });
        CHECK(vlm_ctx_ok(x), "[%s] token_embd [vocab, 64]: %s", bname, x->error);
        CHECK(vlm_weights_param_count(w32) == vlm_weights_param_count(w16), "[%s] param counts", bname);
    }
    vlm_weights_free(x, w32);
    vlm_weights_free(x, w16);
    vlm_ctx_free(x);
    vlm_gguf_close(g32);
    vlm_gguf_close(g16);
}

int main(void) {
    g_dir = test_tmp_dir("w");

    struct vlm_ctx * cpu = new_ctx(VLM_BACKEND_CPU);
    CHECK(cpu != NULL, "cpu context");
    vlm_ctx_free(cpu);
    if (!cpu) TEST_END();
    enum vlm_backend_type backends[2] = { VLM_BACKEND_CPU, VLM_BACKEND_VULKAN };
    const char * names[2] = { "cpu", "vulkan" };
    char err[512] = "";
    struct vlm_ctx * vk = test_want_backend("vulkan") ? vlm_ctx_new(VLM_BACKEND_VULKAN, 1, 1 << 20, err, sizeof err) : NULL;
    int n_backends = vk ? 2 : 1;
    if (!vk && !test_want_backend("vulkan")) {
        fprintf(stderr, "note: Vulkan half skipped: not in VLM_TEST_BACKENDS\n");
    } else if (!vk) {
        fprintf(stderr, "note: Vulkan half skipped: %s\n", err);
        CHECK(!test_require_vulkan(), "VLM_TEST_REQUIRE_VULKAN=1 but no Vulkan device: %s", err);
    }
    vlm_ctx_free(vk);

    for (int b = 0; b < n_backends; b++) {
        test_synthetic(backends[b], names[b]);
        test_non_finite(backends[b], names[b]);
        test_gguf(backends[b], names[b]);
    }
    if (test_failed) TEST_END();
    for (int b = 0; b < n_backends; b++) {   // skips when the fixtures are absent
        test_fixtures(backends[b], names[b]);
        test_gguf_fixtures(backends[b], names[b]);
    }
    TEST_END();
}
