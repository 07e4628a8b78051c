// test-tensor.c — tensor headers (views, reshape, permute, slice), the arena, sticky errors,
// upload / download round trips, backend selection and the error API.
#include <pthread.h>
#include <stdlib.h>

#include "harness.h"
#include "core.h"

static void test_headers(void) {
    struct vlm_tensor t;
    memset(&t, 0, sizeof t);
    CHECK(!vlm_tensor_valid(&t) && vlm_tensor_numel(&t) == 0, "empty tensor is invalid with no elements");
    int64_t s[3] = { 2, 3, 4 };
    vlm_tensor_set_shape(&t, 3, s);
    CHECK(t.n_dims == 3 && t.stride[0] == 12 && t.stride[1] == 4 && t.stride[2] == 1 && t.shape[3] == 1 && t.stride[3] == 0,
          "set_shape strides");
    CHECK(vlm_tensor_numel(&t) == 24 && vlm_tensor_is_contiguous(&t), "numel / contiguous");
    char str[64];
    vlm_tensor_shape_str(&t, str, sizeof str);
    CHECK(strcmp(str, "[2, 3, 4] f32") == 0, "shape_str: %s", str);
    vlm_tensor_shape_str(&t, str, 5);
    CHECK(strlen(str) == 4, "shape_str truncates safely");

    int32_t perm[3] = { 2, 0, 1 };
    struct vlm_tensor p = vlm_tensor_permute(t, perm);
    CHECK(p.shape[0] == 4 && p.shape[1] == 2 && p.shape[2] == 3 && p.stride[0] == 1 && p.stride[1] == 12 && p.stride[2] == 4,
          "permute shape and strides");
    CHECK(!vlm_tensor_is_contiguous(&p), "permuted tensor is not contiguous");
    int32_t bad_perm[3] = { 0, 0, 1 };
    CHECK(vlm_tensor_permute(t, bad_perm).n_dims == 0, "permute rejects a repeated dim");

    struct vlm_tensor tr = vlm_tensor_transpose(t, -1, 0);
    CHECK(tr.shape[0] == 4 && tr.shape[2] == 2 && tr.stride[0] == 1 && tr.stride[2] == 12, "transpose with negative dim");

    struct vlm_tensor sl = vlm_tensor_slice(t, 1, 1, 2);
    CHECK(sl.shape[1] == 2 && sl.offset == 4 * 4 && sl.stride[0] == 12, "slice offset in bytes and shape");
    CHECK(!vlm_tensor_is_contiguous(&sl), "slice of a middle dim is not contiguous");
    CHECK(vlm_tensor_slice(t, 1, 2, 2).n_dims == 0, "slice out of range is empty");
    CHECK(vlm_tensor_slice(t, 5, 0, 1).n_dims == 0, "slice of a bad dim is empty");
    struct vlm_tensor sl0 = vlm_tensor_slice(t, 0, 1, 1);
    CHECK(vlm_tensor_is_contiguous(&sl0) && sl0.offset == 12 * 4, "slice of the outer dim stays contiguous");

    int64_t r[2] = { 6, -1 };
    struct vlm_tensor rs = vlm_tensor_reshape(t, 2, r);
    CHECK(rs.n_dims == 2 && rs.shape[0] == 6 && rs.shape[1] == 4 && rs.stride[0] == 4, "reshape with -1");
    int64_t r_bad[2] = { 5, -1 };
    CHECK(vlm_tensor_reshape(t, 2, r_bad).n_dims == 0, "reshape to an incompatible size is empty");
    CHECK(vlm_tensor_reshape(p, 2, r).n_dims == 0, "reshape of a non-contiguous view is empty");
    int64_t r4[4] = { 1, 2, 12, 1 };
    CHECK(vlm_tensor_reshape(t, 4, r4).n_dims == 4, "reshape to 4 dims");

    CHECK(vlm_dtype_size(VLM_DTYPE_F16) == 2 && vlm_dtype_size(VLM_DTYPE_U8) == 1 && strcmp(vlm_dtype_name(VLM_DTYPE_BF16), "bf16") == 0,
          "dtype sizes and names");
}

static void test_arena_and_errors(void) {
    char err[256];
    struct vlm_ctx * x = vlm_ctx_new(VLM_BACKEND_CPU, 1, 1 << 20, err, sizeof err);
    CHECK(x != NULL, "cpu context: %s", err);
    if (!x) return;
    CHECK(strcmp(vlm_ctx_backend_name(x), "cpu") == 0, "backend name cpu");

    size_t mark = vlm_arena_mark(x);
    int64_t s1 = 3, s2[2] = { 10, 10 };
    struct vlm_tensor a = vlm_tensor_new(x, VLM_DTYPE_F32, 1, &s1);
    struct vlm_tensor b = vlm_tensor_new(x, VLM_DTYPE_F32, 2, s2);
    CHECK(a.offset % 256 == 0 && b.offset % 256 == 0 && b.offset >= a.offset + 12, "arena allocations are 256-aligned");
    CHECK(((uintptr_t)vlm_tensor_host(&b)) % 256 == 0, "host pointers are 256-aligned");
    size_t peak = x->arena_peak;
    vlm_arena_reset(x, mark);
    struct vlm_tensor c = vlm_tensor_new(x, VLM_DTYPE_F32, 1, &s1);
    CHECK(c.offset == a.offset && x->arena_peak == peak, "reset reuses memory, peak is kept");

    // exhaustion: a clear error, sticky
    int64_t big = 1 << 20;
    struct vlm_tensor d = vlm_tensor_new(x, VLM_DTYPE_F32, 1, &big);
    CHECK(d.n_dims == 0 && x->status == VLM_STATUS_OUT_OF_MEMORY && strstr(x->error, "activation arena exhausted") &&
          strstr(x->error, "MiB"), "arena exhaustion error: %s", x->error);
    CHECK(strstr(vlm_last_error(), "activation arena exhausted") != NULL, "last_error mirrors the context error");
    vlm_ctx_free(x);

    // sticky errors from a shape mismatch
    x = vlm_ctx_new(VLM_BACKEND_CPU, 1, 1 << 20, err, sizeof err);
    if (!x) return;
    int64_t sa[2] = { 4, 5 }, sb[2] = { 4, 6 };
    float   ones[30];
    for (int i = 0; i < 30; i++) ones[i] = 1.0f;
    struct vlm_tensor ta = vlm_tensor_from_host(x, VLM_DTYPE_F32, 2, sa, ones);
    struct vlm_tensor tb = vlm_tensor_from_host(x, VLM_DTYPE_F32, 2, sb, ones);
    struct vlm_tensor ok = vlm_op_add(x, ta, ta);
    CHECK(vlm_ctx_ok(x) && ok.n_dims == 2, "add of equal shapes works");
    struct vlm_tensor bad = vlm_op_add(x, ta, tb);
    CHECK(bad.n_dims == 0 && x->status == VLM_STATUS_INVALID_ARG, "add of mismatched shapes fails");
    CHECK(strstr(x->error, "binary") && strstr(x->error, "[4, 5]") && strstr(x->error, "[4, 6]"),
          "error names the op and the shapes: %s", x->error);
    char first[512];
    snprintf(first, sizeof first, "%s", x->error);
    struct vlm_tensor later = vlm_op_scale(x, ta, 2.0f, 0.0f);
    CHECK(later.n_dims == 0 && strcmp(first, x->error) == 0 && x->status == VLM_STATUS_INVALID_ARG,
          "later ops are no-ops and the first error wins");
    vlm_ctx_fail(x, VLM_STATUS_IO, "another error");
    CHECK(x->status == VLM_STATUS_INVALID_ARG && strcmp(first, x->error) == 0, "ctx_fail keeps the first error");
    CHECK(vlm_ctx_sync(x) == VLM_STATUS_INVALID_ARG, "sync returns the sticky status");
    vlm_ctx_free(x);

    // more front-end checks, each on a fresh context
    struct { const char * name; int which; } cases[] = { { "linear", 0 }, { "matmul", 1 }, { "attention", 2 },
                                                         { "conv2d", 3 }, { "concat", 4 }, { "gather", 5 } };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        x = vlm_ctx_new(VLM_BACKEND_CPU, 1, 1 << 20, err, sizeof err);
        if (!x) return;
        struct vlm_tensor p = vlm_tensor_from_host(x, VLM_DTYPE_F32, 2, sa, ones);
        struct vlm_tensor q = vlm_tensor_from_host(x, VLM_DTYPE_F32, 2, sb, ones);
        struct vlm_tensor out;
        switch (cases[i].which) {
            case 0: out = vlm_op_linear(x, p, p, NULL); break;                     // K 5 vs w [4, 5]: ok shape
            case 1: out = vlm_op_matmul(x, p, q); break;                           // K 5 vs 4
            case 2: { struct vlm_attention_params ap = { .scale = 1 }; out = vlm_op_attention(x, p, p, p, &ap); break; }
            case 3: out = vlm_op_conv2d(x, p, p, NULL, 1, 0); break;
            case 4: out = vlm_op_concat(x, p, vlm_tensor_transpose(q, 0, 1), 0); break;
            default: out = vlm_op_gather(x, p, p); break;
        }
        if (cases[i].which == 0) {
            CHECK(vlm_ctx_ok(x) && out.shape[1] == 4, "linear [4,5] x [4,5]^T is fine");
        } else {
            CHECK(out.n_dims == 0 && x->status == VLM_STATUS_INVALID_ARG && strstr(x->error, cases[i].name),
                  "%s rejects bad shapes: %s", cases[i].name, x->error);
        }
        vlm_ctx_free(x);
    }
}

static void test_roundtrip(void) {
    char err[256];
    struct vlm_ctx * x = vlm_ctx_new(VLM_BACKEND_CPU, 2, 4 << 20, err, sizeof err);
    if (!x) return;
    int64_t s[4] = { 2, 3, 5, 7 }, n = 210;
    float   src[210], dst[210];
    for (int i = 0; i < n; i++) src[i] = (float)i * 0.5f - 3.0f;
    struct vlm_tensor t = vlm_tensor_from_host(x, VLM_DTYPE_F32, 4, s, src);
    vlm_tensor_download(x, t, dst);
    CHECK(vlm_ctx_ok(x) && memcmp(src, dst, sizeof src) == 0, "contiguous upload/download round trip");
    CHECK(memcmp(vlm_tensor_host(&t), src, sizeof src) == 0, "host memory holds the data");

    // download of a permuted view equals a gather from host memory
    int32_t perm[4] = { 3, 1, 0, 2 };
    struct vlm_tensor p = vlm_tensor_permute(t, perm);
    vlm_tensor_download(x, p, dst);
    const float * h = vlm_tensor_host(&t);
    int bad = 0, k = 0;
    for (int64_t a = 0; a < p.shape[0]; a++) for (int64_t b = 0; b < p.shape[1]; b++)
    for (int64_t c = 0; c < p.shape[2]; c++) for (int64_t d = 0; d < p.shape[3]; d++)
        if (dst[k++] != h[a * p.stride[0] + b * p.stride[1] + c * p.stride[2] + d * p.stride[3]]) bad++;
    CHECK(vlm_ctx_ok(x) && bad == 0, "strided download (%d mismatches)", bad);

    // upload into a sliced view writes only the view
    struct vlm_tensor sl = vlm_tensor_slice(t, 2, 1, 3);   // [2, 3, 3, 7]
    float vals[126];
    for (int i = 0; i < 126; i++) vals[i] = 100.0f + i;
    vlm_tensor_upload(x, sl, vals);
    bad = 0; k = 0;
    for (int64_t a = 0; a < 2; a++) for (int64_t b = 0; b < 3; b++) for (int64_t c = 0; c < 5; c++) for (int64_t d = 0; d < 7; d++) {
        float want = (c >= 1 && c < 4) ? vals[((a * 3 + b) * 3 + (c - 1)) * 7 + d] : src[((a * 3 + b) * 5 + c) * 7 + d];
        if (h[((a * 3 + b) * 5 + c) * 7 + d] != want) bad++;
    }
    CHECK(vlm_ctx_ok(x) && bad == 0, "strided upload touches only the view (%d mismatches)", bad);

    // f16 tensors round-trip bit-exactly, copy converts
    uint16_t hs[210], hd[210];
    for (int i = 0; i < n; i++) hs[i] = vlm_f32_to_f16(src[i]);
    struct vlm_tensor th = vlm_tensor_from_host(x, VLM_DTYPE_F16, 4, s, hs);
    vlm_tensor_download(x, th, hd);
    CHECK(vlm_ctx_ok(x) && memcmp(hs, hd, sizeof hs) == 0, "f16 round trip");
    struct vlm_tensor tf = vlm_op_copy(x, th, VLM_DTYPE_F32);
    vlm_tensor_download(x, tf, dst);
    CHECK(vlm_ctx_ok(x) && memcmp(src, dst, sizeof src) == 0, "f16 -> f32 copy (values exact in f16)");

    // buffers outside the arena
    struct vlm_buffer * buf = vlm_buffer_new(x, 1000);
    CHECK(buf && vlm_buffer_host(buf) != NULL && buf->size == 1000, "buffer_new");
    int64_t ws[2] = { 10, 25 };
    struct vlm_tensor w = vlm_tensor_in(buf, 0, VLM_DTYPE_F32, 2, ws);
    CHECK(w.n_dims == 2 && w.buf == buf, "tensor_in fits");
    int64_t too_big[2] = { 10, 26 };
    CHECK(vlm_tensor_in(buf, 0, VLM_DTYPE_F32, 2, too_big).n_dims == 0, "tensor_in rejects a tensor past the end");
    CHECK(vlm_tensor_in(buf, 8, VLM_DTYPE_F32, 2, ws).n_dims == 0, "tensor_in rejects an offset past the end");
    vlm_buffer_free(x, buf);
    vlm_buffer_free(x, NULL);
    vlm_ctx_free(x);
    vlm_ctx_free(NULL);
}

static void * other_thread(void * arg) {
    vlm_error(VLM_STATUS_IO, "error of another thread");
    *(int *)arg = strcmp(vlm_last_error(), "error of another thread") == 0;
    return NULL;
}

static void test_api(void) {
    enum vlm_backend_type b;
    CHECK(vlm_backend_parse("cpu", &b) && b == VLM_BACKEND_CPU, "parse cpu");
    CHECK(vlm_backend_parse("vulkan", &b) && b == VLM_BACKEND_VULKAN, "parse vulkan");
    CHECK(vlm_backend_parse("auto", &b) && b == VLM_BACKEND_AUTO, "parse auto");
    CHECK(!vlm_backend_parse("gpu", &b) && !vlm_backend_parse(NULL, &b), "parse rejects others");
    CHECK(strcmp(vlm_status_str(VLM_STATUS_OK), "ok") == 0 && strlen(vlm_status_str(VLM_STATUS_NON_FINITE)) > 0, "status strings");
    CHECK(vlm_version() && strlen(vlm_version()) > 0, "version");
    CHECK(vlm_error(VLM_STATUS_BAD_IMAGE, "x.png: %s", "truncated\nfile") == VLM_STATUS_BAD_IMAGE &&
          strcmp(vlm_last_error(), "x.png: truncated file") == 0, "vlm_error returns the status, one line");
    int ok = 0;
    pthread_t th;
    pthread_create(&th, NULL, other_thread, &ok);
    pthread_join(th, NULL);
    CHECK(ok && strcmp(vlm_last_error(), "x.png: truncated file") == 0, "last error is per thread");

    // backend selection: VLM_BACKEND=cpu overrides AUTO; a bad value is a clear error
    char err[256] = "";
    setenv("VLM_BACKEND", "cpu", 1);
    struct vlm_ctx * x = vlm_ctx_new(VLM_BACKEND_AUTO, 0, 1 << 20, err, sizeof err);
    CHECK(x && x->backend == VLM_BACKEND_KIND_CPU && x->n_threads >= 1, "VLM_BACKEND=cpu gives a cpu context");
    vlm_ctx_free(x);
    setenv("VLM_BACKEND", "tpu", 1);
    x = vlm_ctx_new(VLM_BACKEND_AUTO, 0, 1 << 20, err, sizeof err);
    CHECK(!x && strstr(err, "VLM_BACKEND"), "bad VLM_BACKEND is reported: %s", err);
    vlm_ctx_free(x);
    unsetenv("VLM_BACKEND");
    // AUTO always yields a context (CPU when no GPU works)
    x = vlm_ctx_new(VLM_BACKEND_AUTO, 0, 1 << 20, err, sizeof err);
    CHECK(x != NULL, "auto context: %s", err);
    if (x) printf("auto backend: %s\n", vlm_ctx_backend_name(x));
    vlm_ctx_free(x);
    // explicit Vulkan: either works or fails with a message that says so
    x = test_want_backend("vulkan") ? vlm_ctx_new(VLM_BACKEND_VULKAN, 0, 1 << 20, err, sizeof err) : NULL;
    if (!test_want_backend("vulkan")) snprintf(err, sizeof err, "Vulkan skipped (VLM_TEST_BACKENDS)");
    CHECK(x ? x->backend == VLM_BACKEND_KIND_VULKAN : strstr(err, "Vulkan") != NULL, "explicit vulkan: %s",
          x ? vlm_ctx_backend_name(x) : err);
    printf("explicit vulkan: %s\n", x ? vlm_ctx_backend_name(x) : err);
    if (x) {
        // a round trip through the device
        int64_t s[2] = { 3, 5 };
        float   v[15], r[15];
        for (int i = 0; i < 15; i++) v[i] = (float)i;
        struct vlm_tensor t = vlm_tensor_from_host(x, VLM_DTYPE_F32, 2, s, v);
        vlm_tensor_download(x, t, r);
        CHECK(vlm_ctx_ok(x) && memcmp(v, r, sizeof v) == 0, "vulkan upload/download round trip: %s", x->error);
        // download of a transposed view goes through a COPY op on the device
        struct vlm_tensor tt = vlm_tensor_transpose(t, 0, 1);
        vlm_tensor_download(x, tt, r);
        int bad = 0;
        for (int i = 0; i < 5; i++) for (int j = 0; j < 3; j++) if (r[i * 3 + j] != v[j * 5 + i]) bad++;
        CHECK(vlm_ctx_ok(x) && bad == 0, "vulkan strided download (%d mismatches): %s", bad, x->error);
        // upload into a transposed view, read back contiguous
        float u[15];
        for (int i = 0; i < 15; i++) u[i] = 50.0f + i;
        vlm_tensor_upload(x, tt, u);
        vlm_tensor_download(x, t, r);
        bad = 0;
        for (int i = 0; i < 5; i++) for (int j = 0; j < 3; j++) if (r[j * 5 + i] != u[i * 3 + j]) bad++;
        CHECK(vlm_ctx_ok(x) && bad == 0, "vulkan strided upload (%d mismatches): %s", bad, x->error);
    }
    bool have_vk = x != NULL;
    vlm_ctx_free(x);
    // VLM_BACKEND=vulkan turns AUTO into Vulkan even on a CPU Vulkan device (lavapipe);
    // plain AUTO prefers the CPU backend when the only device runs on the CPU
    if (!test_want_backend("vulkan")) return;
    setenv("VLM_BACKEND", "vulkan", 1);
    x = vlm_ctx_new(VLM_BACKEND_AUTO, 0, 1 << 20, err, sizeof err);
    CHECK(have_vk ? (x && x->backend == VLM_BACKEND_KIND_VULKAN) : (x == NULL && strstr(err, "Vulkan")),
          "VLM_BACKEND=vulkan with AUTO: %s", x ? vlm_ctx_backend_name(x) : err);
    vlm_ctx_free(x);
    unsetenv("VLM_BACKEND");
}

int main(void) {
    test_headers();
    test_arena_and_errors();
    test_roundtrip();
    test_api();
    TEST_END();
}
