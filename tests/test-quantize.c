// test-quantize.c — the GGUF writer and `vlm quantize` on the SmolVLM-tiny F32 text model:
// q8_0 and q4_0 through vlm_gguf_quantize, q4_k through the command (its rows of 64 and 128
// values fall back to Q8_0). Each output is re-opened: the same metadata but general.file_type,
// the same tensor names and shapes, weight matrices in the new type, norms untouched, every
// dequantized value within its block's quantization error of the original:
//   Q8_0: |x - y| <= 0.57 d, d = amax / 127 (half a step, plus up to 127 times the f16 rounding
//         of d: 127 * 2^-11 d)
//   Q4_0: |x - y| <= 1.01 amax / 8 (values opposite to the block's extreme clamp at 7 steps)
// Then the q4_0 file is loaded as stored on the CPU and one projection checked end to end.
#include <dirent.h>
#include <math.h>

#include "harness.h"
#include "core.h"
#include "gguf-meta.h"

static const char * g_dir;   // the scratch folder

static bool is_matrix(const struct vlm_file_tensor * t) {
    size_t n = strlen(t->name);
    return t->n_dims == 2 && n > 7 && !strcmp(t->name + n - 7, ".weight") && !strstr(t->name, "_norm.");
}

// Checks the file at path against the original a; want = the type of the weight matrices.
static void check_file(const struct vlm_gguf * a, const char * path, enum vlm_dtype want, int64_t ftype) {
    struct vlm_gguf * b = NULL;
    CHECK(vlm_gguf_open(path, &b) == VLM_STATUS_OK, "%s: reopen: %s", path, vlm_last_error());
    if (!b) return;
    int64_t ft = -1;
    CHECK(vlm_gguf_get_int(b, "general.file_type", &ft) && ft == ftype, "%s: general.file_type %lld", path, (long long)ft);
    CHECK(vlm_gguf_version(b) == 3 && vlm_gguf_alignment(b) == 32 && vlm_gguf_n_kv(b) == vlm_gguf_n_kv(a),
          "%s: v3, alignment 32, %lld keys", path, (long long)vlm_gguf_n_kv(b));
    int64_t bad_kv = 0;
    for (int64_t i = 0; i < vlm_gguf_n_kv(a); i++) {
        const char * ka, * kb;
        const void * ra, * rb;
        size_t na, nb;
        vlm_gguf_kv_record(a, i, &ka, &ra, &na);
        vlm_gguf_kv_record(b, i, &kb, &rb, &nb);
        if (strcmp(ka, kb) || (strcmp(ka, "general.file_type") && (na != nb || memcmp(ra, rb, na)))) bad_kv++;
    }
    CHECK(bad_kv == 0, "%s: %lld metadata records differ", path, (long long)bad_kv);
    CHECK(vlm_gguf_n_tensors(a) == vlm_gguf_n_tensors(b), "%s: tensor count", path);
    int n_quant = 0, bad_meta = 0, bad_values = 0;
    for (int32_t i = 0; i < vlm_gguf_n_tensors(a) && i < vlm_gguf_n_tensors(b); i++) {
        const struct vlm_file_tensor * ta = vlm_gguf_tensor(a, i), * tb = vlm_gguf_tensor(b, i);
        enum vlm_dtype expect = is_matrix(ta) ? want : ta->dtype;
        if (strcmp(ta->name, tb->name) || ta->n_dims != tb->n_dims || memcmp(ta->shape, tb->shape, sizeof ta->shape) ||
            tb->dtype != expect) {
            bad_meta++;
            continue;
        }
        if (expect == ta->dtype) {
            bad_values += ta->nbytes != tb->nbytes || memcmp(ta->data, tb->data, ta->nbytes);
            continue;
        }
        n_quant++;
        int64_t n = (int64_t)(ta->nbytes / 4);
        float * y = malloc((size_t)n * sizeof(float));
        const float * x = ta->data;
        vlm_dtype_traits(tb->dtype)->to_f32(tb->data, y, n);
        for (int64_t b0 = 0; b0 < n; b0 += 32) {
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[b0 + j]));
            float lim = want == VLM_DTYPE_Q8_0 ? 0.57f * amax / 127 : 1.01f * amax / 8;
            for (int j = 0; j < 32; j++) bad_values += fabsf(x[b0 + j] - y[b0 + j]) > lim + 1e-7f;
        }
        free(y);
    }
    CHECK(bad_meta == 0 && n_quant == 15, "%s: %d tensors with wrong names, shapes or types; %d quantized", path, bad_meta,
          n_quant);
    CHECK(bad_values == 0, "%s: %d values outside the block error", path, bad_values);
    vlm_gguf_close(b);
}

// The q4_0 file as stored weights: blk.0.attn_q as a linear, and token_embd rows by gather,
// against the same with the original F32 weights.
static void check_stored(const char * f32_path, const char * q_path) {
    struct vlm_gguf * a = NULL, * b = NULL;
    vlm_gguf_open(f32_path, &a);
    vlm_gguf_open(q_path, &b);
    struct vlm_ctx * x = vlm_ctx_new(VLM_BACKEND_CPU, 0, 64u << 20, NULL, 0);
    struct vlm_weights * wa = NULL, * wb = NULL;
    CHECK(a && b && x && vlm_weights_load_gguf(x, a, NULL, &wa) == VLM_STATUS_OK &&
          vlm_weights_load_gguf_stored(x, b, NULL, &wb) == VLM_STATUS_OK, "load: %s", vlm_last_error());
    if (wa && wb) {
        struct vlm_tensor qa = vlm_weights_get(x, wa, "blk.0.attn_q.weight", 2, NULL);
        struct vlm_tensor qb = vlm_weights_get(x, wb, "blk.0.attn_q.weight", 2, NULL);
        struct vlm_tensor ea = vlm_weights_get(x, wa, "token_embd.weight", 2, NULL);
        struct vlm_tensor eb = vlm_weights_get(x, wb, "token_embd.weight", 2, NULL);
        int32_t ids[5] = { 0, 7, 49279, 1234, 7 };
        struct vlm_tensor it = vlm_tensor_from_host(x, VLM_DTYPE_I32, 1, (int64_t[]){ 5 }, ids);
        struct vlm_tensor ga = vlm_op_gather(x, ea, it), gb = vlm_op_gather(x, eb, it);
        struct vlm_tensor ya = vlm_op_linear(x, ga, qa, NULL), yb = vlm_op_linear(x, gb, qb, NULL);
        CHECK(vlm_ctx_ok(x) && qb.dtype == VLM_DTYPE_Q4_0 && eb.dtype == VLM_DTYPE_Q4_0, "stored q4_0 ops: %s", x->error);
        if (vlm_ctx_ok(x)) {
            float pa[5 * 64], pb[5 * 64];
            vlm_tensor_download(x, ya, pa);
            vlm_tensor_download(x, yb, pb);
            double e = test_nmse(pb, pa, 5 * 64);
            CHECK(e < 3e-2, "q4_0 gather + linear vs f32: nmse %.3g", e);
        }
    }
    vlm_weights_free(x, wa);
    vlm_weights_free(x, wb);
    vlm_ctx_free(x);
    vlm_gguf_close(a);
    vlm_gguf_close(b);
}

int main(void) {
    const char * in = test_fixture("smolvlm-tiny/smolvlm-tiny-f32.gguf");
    if (access(in, R_OK) != 0) SKIP("%s not found", in);
    g_dir = test_tmp_dir("q");
    struct vlm_gguf * a = NULL;
    CHECK(vlm_gguf_open(in, &a) == VLM_STATUS_OK, "open %s: %s", in, vlm_last_error());
    if (!a) TEST_END();

    char q8[512], q4[512], qk[512];
    snprintf(q8, sizeof q8, "%s", test_tmp_path("q8_0.gguf"));
    snprintf(q4, sizeof q4, "%s", test_tmp_path("q4_0.gguf"));
    snprintf(qk, sizeof qk, "%s", test_tmp_path("q4_k.gguf"));
    CHECK(vlm_gguf_quantize(in, q8, VLM_DTYPE_Q8_0, NULL) == VLM_STATUS_OK, "quantize q8_0: %s", vlm_last_error());
    check_file(a, q8, VLM_DTYPE_Q8_0, 7);
    CHECK(vlm_gguf_quantize(in, q4, VLM_DTYPE_Q4_0, NULL) == VLM_STATUS_OK, "quantize q4_0: %s", vlm_last_error());
    check_file(a, q4, VLM_DTYPE_Q4_0, 2);
    check_stored(in, q4);

    // the command: q4_k (rows of 64 / 128 values: Q8_0 fallback), and its errors
    char out[8192];
    if (getenv("VLM_CLI")) {
        int rc = test_run_cli(out, sizeof out, g_dir, NULL, "quantize %s %s q4_k", in, qk);
        CHECK(rc == 0 && strstr(out, "token_embd.weight") && strstr(out, "-> q8_0"), "vlm quantize q4_k: %d %s", rc, out);
        check_file(a, qk, VLM_DTYPE_Q8_0, 14);
        rc = test_run_cli(out, sizeof out, g_dir, NULL, "quantize %s %s q5_1", in, qk);
        CHECK(rc == 2 && strstr(out, "unknown type 'q5_1'"), "vlm quantize q5_1: %d %s", rc, out);
        rc = test_run_cli(out, sizeof out, g_dir, NULL, "quantize %s/missing.gguf %s q8_0", g_dir, test_tmp_path("never.gguf"));
        CHECK(rc == 1 && access(test_tmp_path("never.gguf"), F_OK) != 0, "vlm quantize of a missing file: %d %s", rc, out);
    }
    // a request the file cannot meet writes nothing: Q8_0 for 1-D norms of 64 is fine, a
    // Q4_K matrix of rows of 64 is not
    enum vlm_dtype * types = malloc((size_t)vlm_gguf_n_tensors(a) * sizeof *types);
    for (int32_t i = 0; i < vlm_gguf_n_tensors(a); i++) types[i] = VLM_DTYPE_Q4_K;
    CHECK(vlm_gguf_write_retyped(test_tmp_path("bad.gguf"), a, types, 14, NULL) == VLM_STATUS_INVALID_ARG &&
          strstr(vlm_last_error(), "cannot be stored as q4_k") && access(test_tmp_path("bad.gguf"), F_OK) != 0,
          "q4_k rows of 64 refused: %s", vlm_last_error());
    free(types);
    vlm_gguf_close(a);
    TEST_END();
}
