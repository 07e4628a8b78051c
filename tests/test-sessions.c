// test-sessions.c — one model, several threads: SAM sessions, CLIP calls and LLM sessions on
// one loaded model run at once from two threads (each call borrows its own compute context from
// the model: vlm_model_ctx_acquire), and every result equals the one a single thread computes.
// CPU and Vulkan (VLM_TEST_BACKENDS), on the fixtures' tiny models.
#include <pthread.h>
#include <string.h>

#include "harness.h"
#include "model.h"
#include "vlm.h"

#define N_THREADS 2
#define ROUNDS    3

static struct vlm_image images[N_THREADS];

// ---- SAM: each thread sets its own image on its own session and clicks ------------------
struct sam_result { float iou[4]; float low_res[4 * 256 * 256]; int32_t n_masks; bool ok; };

static void sam_run(const struct vlm_model * m, int32_t which, struct sam_result * r) {
    memset(r, 0, sizeof *r);
    struct vlm_sam_session * s = NULL;
    struct vlm_point pt = { .x = (float)images[which].width / 2, .y = (float)images[which].height / 3, .label = 1 };
    struct vlm_sam_prompt p = { .points = &pt, .n_points = 1, .multimask_output = true };
    struct vlm_masks out = { 0 };
    if (vlm_sam_session_new(m, &s) != VLM_STATUS_OK || vlm_sam_set_image(s, &images[which]) != VLM_STATUS_OK ||
        vlm_sam_predict(s, &p, &out) != VLM_STATUS_OK) {
        vlm_sam_session_free(s);
        return;
    }
    const size_t per = (size_t)out.low_res_size * out.low_res_size;
    r->n_masks = out.n_masks;
    r->ok = out.n_masks <= 4 && per * (size_t)out.n_masks <= sizeof r->low_res / sizeof *r->low_res;
    if (r->ok) {
        memcpy(r->iou, out.iou, (size_t)out.n_masks * sizeof(float));
        memcpy(r->low_res, out.low_res_logits, per * (size_t)out.n_masks * sizeof(float));
    }
    vlm_masks_free(&out);
    vlm_sam_session_free(s);
}

// ---- CLIP: image embeddings ----------------------------------------------------------------
struct clip_result { float emb[1024]; bool ok; };

static void clip_run(const struct vlm_model * m, int32_t which, struct clip_result * r) {
    memset(r, 0, sizeof *r);
    r->ok = vlm_clip_embed_dim(m) <= 1024 &&
            vlm_clip_encode_image((struct vlm_model *)m, &images[which], NULL, r->emb, 1024) == VLM_STATUS_OK;
}

// ---- LLM: each thread decodes its own token sequence in its own session ---------------------
#define LLM_MAX_VOCAB 65536
struct llm_result { float logits[LLM_MAX_VOCAB]; bool ok; };

static void llm_run(const struct vlm_model * m, int32_t which, struct llm_result * r) {
    memset(r, 0, sizeof *r);
    const int32_t V = vlm_llm_n_vocab(m);
    int32_t ids[24];
    for (int32_t i = 0; i < 24; i++) ids[i] = (int32_t)((7 + 131 * i * (which + 1)) % (V > 0 ? V : 1));
    struct vlm_llm_session * s = NULL;
    // two calls: the KV cache carries over between them
    if (V <= 0 || V > LLM_MAX_VOCAB || vlm_llm_session_new(m, NULL, &s) != VLM_STATUS_OK ||
        vlm_llm_decode(s, ids, 16) != VLM_STATUS_OK || vlm_llm_decode(s, ids + 16, 8) != VLM_STATUS_OK) {
        vlm_llm_session_free(s);
        return;
    }
    memcpy(r->logits, vlm_llm_logits(s), (size_t)V * sizeof(float));
    r->ok = true;
    vlm_llm_session_free(s);
}

// ---- the harness: reference on one thread, then ROUNDS x both threads at once ---------------
enum family { SAM, CLIP, LLM };
struct job {
    enum family              fam;
    const struct vlm_model * m;
    int32_t                  which;
    void *                   got;      // ROUNDS results
};

static size_t result_size(enum family f) {
    return f == SAM ? sizeof(struct sam_result) : f == CLIP ? sizeof(struct clip_result) : sizeof(struct llm_result);
}

static bool result_ok(enum family f, const void * r) {
    return f == SAM ? ((const struct sam_result *)r)->ok : f == CLIP ? ((const struct clip_result *)r)->ok
                                                                     : ((const struct llm_result *)r)->ok;
}

static void run_one(enum family f, const struct vlm_model * m, int32_t which, void * r) {
    if (f == SAM) sam_run(m, which, r);
    else if (f == CLIP) clip_run(m, which, r);
    else llm_run(m, which, r);
}

static void * thread_main(void * arg) {
    struct job * j = arg;
    for (int32_t k = 0; k < ROUNDS; k++) run_one(j->fam, j->m, j->which, (char *)j->got + (size_t)k * result_size(j->fam));
    return NULL;
}

static void check_family(enum family f, const char * name, const char * path, enum vlm_backend_type backend,
                         const char * bname) {
    struct vlm_model_params mp = vlm_model_default_params();
    mp.backend = backend;
    mp.n_threads = 1;   // two threads of one core each
    struct vlm_model * m = NULL;
    if (vlm_model_load(path, &mp, &m) != VLM_STATUS_OK) {
        CHECK(0, "%s %s: load %s: %s", bname, name, path, vlm_last_error());
        return;
    }
    const size_t rs = result_size(f);
    char * ref = calloc(N_THREADS, rs), * got = calloc((size_t)N_THREADS * ROUNDS, rs);
    if (!ref || !got) {
        CHECK(0, "out of memory");
        goto done;
    }
    for (int32_t t = 0; t < N_THREADS; t++) run_one(f, m, t, ref + (size_t)t * rs);
    pthread_t th[N_THREADS];
    struct job jobs[N_THREADS];
    for (int32_t t = 0; t < N_THREADS; t++) {
        jobs[t] = (struct job){ f, m, t, got + (size_t)t * ROUNDS * rs };
        CHECK(pthread_create(&th[t], NULL, thread_main, &jobs[t]) == 0, "pthread_create");
    }
    for (int32_t t = 0; t < N_THREADS; t++) pthread_join(th[t], NULL);
    int32_t n_same = 0, n_ok = 0;
    for (int32_t t = 0; t < N_THREADS; t++) {
        const char * b = ref + (size_t)t * rs;
        CHECK(result_ok(f, b), "%s %s: single-thread call %d failed", bname, name, t);
        for (int32_t k = 0; k < ROUNDS; k++) {
            const char * a = got + ((size_t)t * ROUNDS + (size_t)k) * rs;
            n_ok += result_ok(f, a);
            const bool same = result_ok(f, a) && memcmp(a, b, rs) == 0;
            n_same += same;
            if (!same && result_ok(f, a))
                printf("  %s %s: thread %d round %d: max abs difference %.3g\n", bname, name, t, k,
                       test_max_abs((const float *)a, (const float *)b, (rs - sizeof(float)) / sizeof(float)));
        }
    }
    const int32_t made = m->n_made;
    printf("  %-6s %-4s: %d of %d threaded calls succeeded, %d equal to the single-thread result bit for bit; "
           "%d compute context(s) made beside the model's\n", bname, name, n_ok, N_THREADS * ROUNDS, n_same, made);
    CHECK(n_ok == N_THREADS * ROUNDS, "%s %s: threaded calls failed: %s", bname, name, vlm_last_error());
    CHECK(n_same == N_THREADS * ROUNDS, "%s %s: threaded results differ from the single-thread ones", bname, name);
done:
    free(ref);
    free(got);
    vlm_model_free(m);
}

static void check_backend(enum vlm_backend_type backend, const char * bname) {
    char sam[512], clip[512], llm[512];
    snprintf(sam, sizeof sam, "%s", test_fixture("sam-tiny"));
    snprintf(clip, sizeof clip, "%s", test_fixture("clip-tiny"));
    snprintf(llm, sizeof llm, "%s", test_fixture("smolvlm-tiny/smolvlm-tiny-f32.gguf"));
    check_family(SAM, "SAM", sam, backend, bname);
    check_family(CLIP, "CLIP", clip, backend, bname);
    check_family(LLM, "LLM", llm, backend, bname);
}

int main(void) {
    const char * names[N_THREADS] = { "images/dog.jpg", "images/truck.jpg" };
    for (int32_t i = 0; i < N_THREADS; i++)
        if (vlm_image_load(test_fixture(names[i]), &images[i]) != VLM_STATUS_OK) SKIP("fixtures: %s", vlm_last_error());
    if (test_want_backend("cpu")) check_backend(VLM_BACKEND_CPU, "cpu");
    if (test_want_backend("vulkan")) {
        struct vlm_model_params mp = vlm_model_default_params();
        mp.backend = VLM_BACKEND_VULKAN;
        struct vlm_model * probe = NULL;
        if (vlm_model_load(test_fixture("clip-tiny"), &mp, &probe) == VLM_STATUS_OK) {
            vlm_model_free(probe);
            check_backend(VLM_BACKEND_VULKAN, "vulkan");
        } else if (test_require_vulkan()) {
            CHECK(0, "no Vulkan device but VLM_TEST_REQUIRE_VULKAN=1: %s", vlm_last_error());
        } else {
            printf("  Vulkan not tested: %s\n", vlm_last_error());
        }
    }
    for (int32_t i = 0; i < N_THREADS; i++) vlm_image_free(&images[i]);
    TEST_END();
}
