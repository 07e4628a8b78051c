// cmd-bench.c — `vlm bench`: times each model stage (median of N runs after a warm-up) and
// reports ms, GFLOP/s and the fraction of the machine's peak, measured in the same run as
// OpenBLAS sgemm throughput (the CPU's practical fp32 peak). FLOPs are counted by the ops
// themselves (struct vlm_ctx.flops), so the figure is what the model really computed.
// `--random VARIANT` writes full-size random weights at the official shapes to a temporary
// file first, so no download is needed.
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clip.h"
#include "core.h"
#include "model.h"
#include "sam.h"
#include "llama.h"
#include "vqa.h"

#define BENCH_MAX_STAGES 4

struct bench_stage {
    const char * name;
    double       median_ms;
    double       gflop;    // per run
    int32_t      tokens;   // per run, language-model stages (tokens/s is reported)
    int32_t      tiles;    // per run, the image encoder of a vision-language model
    int32_t      masks;    // per run, SAM's segment-everything (masks kept)
    bool         no_warmup;   // stages of many seconds after a stage that warmed the same code up
};

static int cmp_double(const void * a, const void * b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double * v, int n) {
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The machine's fp32 peak as OpenBLAS sgemm reaches it: n x n x n, best of a few runs.
static double sgemm_peak_gflops(int n_threads) {
    const int n = 2048;
    float * a = malloc(sizeof(float) * n * n), * b = malloc(sizeof(float) * n * n), * c = malloc(sizeof(float) * n * n);
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return 0;
    }
    for (int i = 0; i < n * n; i++) a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.1f;
    openblas_set_num_threads(n_threads > 0 ? n_threads : openblas_get_num_procs());
    double best = 1e30;
    for (int r = 0; r < 4; r++) {
        double t0 = vlm_now_ms();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double t = vlm_now_ms() - t0;
        if (r > 0 && t < best) best = t;   // r == 0 is the warm-up
    }
    free(a), free(b), free(c);
    openblas_set_num_threads(1);   // the CPU backend threads over OpenMP itself (see ctx.c)
    return 2.0 * n * n * n / (best * 1e6);
}

// The machine's memory read bandwidth in GB/s: the threads sum a 256 MiB buffer (far beyond
// the caches), best of a few runs. Token generation reads every weight once per token, so it
// is bound by this.
static double read_bandwidth_gbs(int n_threads) {
    const size_t n = (size_t)64 << 20;   // floats
    float *      a = malloc(n * sizeof(float));
    if (!a) return 0;
    memset(a, 0, n * sizeof(float));
    double best = 1e30, sink = 0;
    for (int r = 0; r < 4; r++) {
        double t0 = vlm_now_ms(), total = 0;
        #pragma omp parallel for num_threads(n_threads > 0 ? n_threads : 1) schedule(static) reduction(+ : total)
        for (size_t c = 0; c < n / 4096; c++) {
            float acc[16] = { 0 };   // 16 independent sums: the compiler vectorizes, no dependency chain
            for (size_t i = c * 4096; i < (c + 1) * 4096; i += 16)
                for (int j = 0; j < 16; j++) acc[j] += a[i + j];
            for (int j = 0; j < 16; j++) total += acc[j];
        }
        double t = vlm_now_ms() - t0;
        sink += total;
        if (r > 0 && t < best) best = t;   // r == 0 is the warm-up
    }
    free(a);
    return sink == 12345.0 ? 0 : (double)n * sizeof(float) / (best * 1e6);
}

// Bytes a generated token reads: every weight matrix once, the output projection included
// (with a tied output that is the token embedding), but only one row of an untied embedding.
static double tensor_bytes(const struct vlm_tensor * t) { return (double)vlm_dtype_nbytes(t->dtype, vlm_tensor_numel(t)); }

static double llama_bytes_per_token(const struct vlm_model * m) {
    const struct vlm_llama_model * lm = vlm_llama_of(m);
    double bytes = tensor_bytes(&lm->output) + tensor_bytes(&lm->output_norm);
    for (int32_t il = 0; il < lm->hp.n_layer; il++) {
        const struct vlm_llama_layer * L = &lm->layers[il];
        const struct vlm_tensor * t[] = { &L->attn_norm, &L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_norm, &L->w_gate, &L->w_up, &L->w_down };
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) bytes += tensor_bytes(t[i]);
    }
    return bytes;
}

// Runs fn runs+1 times (the first is a warm-up) and fills the stage.
typedef enum vlm_status (*bench_fn)(void * arg);
static enum vlm_status time_stage_ctx(struct bench_stage * s, struct vlm_ctx * x, bench_fn fn, void * arg, int runs) {
    double times[64];
    double flops0 = 0;
    for (int r = s->no_warmup ? 1 : 0; r <= runs; r++) {
        if (r == 1) flops0 = x->flops;
        double t0 = vlm_now_ms();
        enum vlm_status st = fn(arg);
        if (st != VLM_STATUS_OK) return st;
        if (r > 0) times[r - 1] = vlm_now_ms() - t0;
    }
    s->gflop = (x->flops - flops0) / runs / 1e9;
    vlm_ctx_profile_flush(x, s->name);   // VLM_PROFILE=1: this stage's ops, all runs
    s->median_ms = median(times, runs);
    return VLM_STATUS_OK;
}

static enum vlm_status time_stage(struct bench_stage * s, struct vlm_model * m, bench_fn fn, void * arg, int runs) {
    return time_stage_ctx(s, m->ctx, fn, arg, runs);
}

// ---- SAM: image encoder on a 1024x1024 image, one-point multimask prompt decode ----
struct sam_bench { struct vlm_sam_session * s; struct vlm_image * img; };
static enum vlm_status sam_encode(void * arg) {
    struct sam_bench * b = arg;
    return vlm_sam_set_image(b->s, b->img);
}
static enum vlm_status sam_decode(void * arg) {
    struct sam_bench * b = arg;
    struct vlm_point pt = { b->img->width * 0.5f, b->img->height * 0.375f, 1 };
    struct vlm_sam_prompt prompt = { .points = &pt, .n_points = 1, .multimask_output = true };
    struct vlm_masks masks;
    enum vlm_status st = vlm_sam_predict(b->s, &prompt, &masks);
    if (st == VLM_STATUS_OK) vlm_masks_free(&masks);
    return st;
}

// SamAutomaticMaskGenerator's defaults (32 x 32 points, batches of 64, no crops) on the
// embedding the encoder stage set: the masks decoded, filtered, deduplicated and returned.
struct sam_everything_bench { struct vlm_sam_session * s; int32_t masks; };
static enum vlm_status sam_everything(void * arg) {
    struct sam_everything_bench * b = arg;
    struct vlm_sam_everything_params p = vlm_sam_everything_default_params();
    struct vlm_sam_everything_result r;
    enum vlm_status st = vlm_sam_everything(b->s, NULL, &p, &r);
    b->masks = r.n_masks;
    vlm_sam_everything_result_free(&r);
    return st;
}

// ---- CLIP: one image, a batch of 8 prompts ----
struct clip_bench { struct vlm_model * m; struct vlm_image * img; float * out; };
static const char * const clip_texts[8] = {
    "a photo of a dog", "a photo of a cat", "a red truck parked on the street", "groceries on a kitchen table",
    "a diagram", "a person riding a bicycle", "a bowl of fruit", "the night sky full of stars",
};
static enum vlm_status clip_image(void * arg) {
    struct clip_bench * b = arg;
    return vlm_clip_encode_image(b->m, b->img, NULL, b->out, (size_t)vlm_clip_embed_dim(b->m));
}
static enum vlm_status clip_texts8(void * arg) {
    struct clip_bench * b = arg;
    return vlm_clip_encode_texts(b->m, clip_texts, 8, NULL, b->out, 8 * (size_t)vlm_clip_embed_dim(b->m), NULL);
}

// ---- language model: llama-bench's pp512 and tg128 (a 512-token batch at position 0; 128
// single tokens from position 0), random ids ----
struct llm_bench { struct vlm_model * m; int32_t * ids; int32_t n_prompt, n_gen; };
static enum vlm_status llm_prompt(void * arg) {
    struct llm_bench * b = arg;
    struct vlm_llm_session * s = NULL;
    enum vlm_status st = vlm_llm_session_new(b->m, NULL, &s);
    if (st == VLM_STATUS_OK) st = vlm_llm_decode(s, b->ids, b->n_prompt);
    vlm_llm_session_free(s);
    return st;
}
static enum vlm_status llm_generate(void * arg) {
    struct llm_bench * b = arg;
    struct vlm_llm_session * s = NULL;
    enum vlm_status st = vlm_llm_session_new(b->m, NULL, &s);
    for (int32_t i = 0; st == VLM_STATUS_OK && i < b->n_gen; i++) st = vlm_llm_decode(s, b->ids + i, 1);
    vlm_llm_session_free(s);
    return st;
}

// ---- SmolVLM: all tiles of an image through the vision tower, the image prompt, and the time
// from the question to the first token (encoder + prompt, no cache) ----
struct vlm_bench { struct vlm_model * m; struct vlm_smolvlm_vision * v; struct vlm_image * img;
                   struct vlm_smolvlm_tiling tiling; struct vlm_smolvlm_tiles tiles; float * embd;
                   struct vlm_image_prompt prompt; };
static enum vlm_status vlm_encode(void * arg) {
    struct vlm_bench * b = arg;
    vlm_smolvlm_tiles_free(&b->tiles);
    enum vlm_status st = vlm_smolvlm_preprocess(b->v, b->img, &b->tiling, &b->tiles);
    return st == VLM_STATUS_OK ? vlm_smolvlm_encode(b->v, &b->tiles, b->embd) : st;
}
static enum vlm_status vlm_prompt(void * arg) {
    struct vlm_bench * b = arg;
    struct vlm_llm_session * s = NULL;
    enum vlm_status st = vlm_llm_session_new(b->m, NULL, &s);
    if (st == VLM_STATUS_OK) st = vlm_image_prompt_decode(s, &b->prompt, b->embd, vlm_smolvlm_embd_dim(b->v));
    vlm_llm_session_free(s);
    return st;
}
static enum vlm_status vlm_first_token(void * arg) {
    struct vlm_bench * b = arg;
    struct vlm_vqa_params vp = { .tiling = b->tiling };
    struct vlm_vqa * q = NULL;
    struct vlm_sampler * smp = NULL;
    struct vlm_generation g = { 0 };
    struct vlm_generate_params gp = { .max_tokens = 1 };
    enum vlm_status st = vlm_vqa_new(b->m, b->v, &vp, &q);
    if (st == VLM_STATUS_OK) st = vlm_sampler_new(NULL, &smp);
    if (st == VLM_STATUS_OK) st = vlm_vqa_set_image(q, b->img);
    if (st == VLM_STATUS_OK) st = vlm_vqa_ask(q, "Describe this image.", smp, &gp, &g);
    vlm_generation_free(&g);
    vlm_sampler_free(smp);
    vlm_vqa_free(q);
    return st;
}

static void random_image(struct vlm_image * img, int w, int h) {
    img->width = w, img->height = h, img->channels = 3;
    img->data = malloc((size_t)w * h * 3);
    struct vlm_rng r = { 42 };
    for (size_t i = 0; img->data && i < (size_t)w * h * 3; i++) img->data[i] = (uint8_t)(vlm_rng_next(&r) >> 56);
}

// ---- --linear: vlm_op_linear per weight dtype on the CPU backend ----
// Weight rows of the SmolVLM-256M/-500M-class decoders (K 576 / 960: 1536-wide projections and
// the 49280-token output), of a 1.5B one (K 1536) and an 8B FFN matrix (14336 x 4096, larger than
// the caches, so one token streams it from memory); Q4_K needs rows of 256, so it skips K 576
// and 960. Reported: median ms, GB/s of weight bytes read (each weight byte is read once per
// call) and GFLOP/s, for one token (M 1) and a prompt chunk (M 128).
static double bench_linear_once(struct vlm_ctx * x, struct vlm_tensor in, struct vlm_tensor w, int runs) {
    double times[64];
    for (int r = 0; r <= runs; r++) {
        size_t mark = vlm_arena_mark(x);
        double t0 = vlm_now_ms();
        vlm_op_linear(x, in, w, NULL);
        if (r > 0) times[r - 1] = vlm_now_ms() - t0;
        vlm_arena_reset(x, mark);
    }
    return median(times, runs);
}

static int bench_linear(int n_threads, int runs) {
    static const int64_t shapes[][2] = { { 1536, 576 }, { 49280, 576 }, { 2560, 960 }, { 1536, 1536 }, { 8960, 1536 },
                                         { 14336, 4096 } };
    static const int64_t Ms[2] = { 1, 128 };
    static const enum vlm_dtype types[] = { VLM_DTYPE_F32, VLM_DTYPE_F16, VLM_DTYPE_BF16, VLM_DTYPE_Q8_0, VLM_DTYPE_Q4_0,
                                            VLM_DTYPE_Q4_K };
    char err[512] = "";
    struct vlm_ctx * x = vlm_ctx_new(VLM_BACKEND_CPU, n_threads, 64u << 20, err, sizeof err);
    if (!x) return cli_fail("bench", "%s", err);
    printf("backend: %s (%d threads)\nlinear y[M, N] = x[M, K] @ w[N, K]^T; GB/s = weight bytes / time\n\n",
           vlm_ctx_backend_name(x), x->n_threads);
    printf("%-6s %6s %6s %4s %10s %10s %10s %10s\n", "weight", "N", "K", "M", "MiB", "median ms", "GB/s", "GFLOP/s");
    int rc = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes && rc == 0; s++) {
        int64_t N = shapes[s][0], K = shapes[s][1];
        float * wf = malloc((size_t)(N * K) * sizeof(float)), * a = malloc((size_t)(128 * K) * sizeof(float));
        if (!wf || !a) rc = cli_fail("bench", "out of memory");
        for (int64_t i = 0; !rc && i < N * K; i++) wf[i] = (float)((i * 7919) % 2001 - 1000) * 1e-4f;
        for (int64_t i = 0; !rc && i < 128 * K; i++) a[i] = (float)((i * 104729) % 2001 - 1000) * 1e-3f;
        for (size_t t = 0; !rc && t < sizeof types / sizeof *types; t++) {
            const struct vlm_dtype_traits * tr = vlm_dtype_traits(types[t]);
            if (K % tr->block != 0) continue;
            size_t bytes = vlm_dtype_nbytes(types[t], N * K);
            void * wq = malloc(bytes);
            struct vlm_buffer * buf = wq ? vlm_buffer_new(x, bytes) : NULL;
            if (!buf) {
                free(wq);
                rc = cli_fail("bench", "out of memory for %s weights", tr->name);
                break;
            }
            size_t row_bytes = vlm_dtype_nbytes(types[t], K);
            #pragma omp parallel for schedule(static)
            for (int64_t n = 0; n < N; n++) tr->from_f32(wf + n * K, (char *)wq + (size_t)n * row_bytes, K);
            struct vlm_tensor w = vlm_tensor_in(buf, 0, types[t], 2, (int64_t[]){ N, K });
            vlm_tensor_upload(x, w, wq);
            for (int mi = 0; mi < 2 && vlm_ctx_ok(x); mi++) {
                int64_t M = Ms[mi];
                size_t mark = vlm_arena_mark(x);
                struct vlm_tensor in = vlm_tensor_from_host(x, VLM_DTYPE_F32, 2, (int64_t[]){ M, K }, a);
                double ms = bench_linear_once(x, in, w, M == 1 ? runs * 8 < 64 ? runs * 8 : 64 : runs);
                printf("%-6s %6lld %6lld %4lld %10.1f %10.3f %10.1f %10.1f\n", tr->name, (long long)N, (long long)K,
                       (long long)M, bytes / 1048576.0, ms, bytes / (ms * 1e6), 2.0 * M * N * K / (ms * 1e6));
                vlm_arena_reset(x, mark);
            }
            if (!vlm_ctx_ok(x)) rc = cli_fail("bench", "%s", x->error);
            vlm_buffer_free(x, buf);
            free(wq);
        }
        free(wf);
        free(a);
    }
    vlm_ctx_free(x);
    return rc;
}

static void usage(FILE * f) {
    fprintf(f,
            "usage: vlm bench (-m MODEL | --random VARIANT) [--runs N] [--json] [--backend cpu|vulkan|auto] [--threads N]\n"
            "                 [--weights auto|f32|f16|q8_0]\n\n"
            "Times each stage of a model (median of N runs after one warm-up, default 3) and prints ms,\n"
            "GFLOP/s and the fraction of this machine's fp32 peak (OpenBLAS sgemm, measured in the same run).\n"
            "  SAM:  image_encoder (1024x1024 image), prompt_decoder (one point, multimask), everything\n"
            "        (segment everything from the embedding: 32x32 points, batches of 64, no crops; one run;\n"
            "        CPU backend only)\n"
            "  CLIP: image_encoder (one image), text_encoder (a batch of 8 prompts)\n"
            "  GGUF language model: prompt_eval (512 tokens in one batch) and generate (128 tokens one at a\n"
            "        time), both from an empty context as llama-bench's pp512 / tg128, in tokens/s\n"
            "--random writes full-size random weights first: sam-vit-b, sam-vit-l, sam-vit-h, sam-vit-t (MobileSAM),\n"
            "        efficientsam-vit-t, efficientsam-vit-s, slimsam-50, slimsam-77 (HF SlimSAM's shapes, official names),\n"
            "        clip-vit-b-32, smollm2-135m, smolvlm-256m (GGUF; --type f32|f16|bf16|q8_0|q4_0|q4_k, default q8_0;\n"
            "        --save-random FILE keeps the file, e.g. to run llama-bench or the PyTorch reference on the\n"
            "        same weights; for smolvlm-256m the mmproj too, as FILE.mmproj.gguf).\n"
            "  SmolVLM (-m TEXT.gguf --mmproj MMPROJ.gguf, or --random smolvlm-256m): image_encoder (all\n"
            "        tiles of --image, default an 800x534 image; --max-tiles N as describe's, default %d,\n"
            "        0 for llama.cpp's tiling), prompt_eval (the image prompt), time_to_first_token\n"
            "        (encoder + prompt), generate (128 tokens)\n"
            "vlm bench --linear [--runs N] [--threads N] times the CPU linear per weight dtype instead (f32,\n"
            "f16, bf16, q8_0, q4_0, q4_k) at decoder shapes, for one row and for 128 rows.\n"
            CLI_LIMITS_USAGE, VLM_VQA_DEFAULT_MAX_TILES);
}

int vlm_cmd_bench(int argc, char ** argv) {
    const char * model_path = NULL, * variant = NULL, * save_random = NULL, * mmproj_path = NULL, * image_path = NULL;
    int max_tiles = VLM_VQA_DEFAULT_MAX_TILES;
    enum vlm_dtype llm_type = VLM_DTYPE_Q8_0;
    int runs = 3;
    bool json = false, linear = false;
    struct vlm_model_params params = vlm_model_default_params();
    for (int i = 1; i < argc; i++) {
        const char * a = argv[i];
        int c = cli_common_option("bench", argc, argv, &i, &params);
        if (c < 0) return 2;
        if (c > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--linear")) {
            linear = true;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "--random") || !strcmp(a, "--runs") ||
                    !strcmp(a, "--type") || !strcmp(a, "--save-random") || !strcmp(a, "--mmproj") ||
                    !strcmp(a, "--image") || !strcmp(a, "--max-tiles")) && i + 1 < argc) {
            const char * v = argv[++i];
            if (!strcmp(a, "--random")) variant = v;
            else if (!strcmp(a, "--mmproj")) mmproj_path = v;
            else if (!strcmp(a, "--image")) image_path = v;
            else if (!strcmp(a, "--max-tiles")) {
                if (!cli_parse_int(v, 0, 4096, &max_tiles)) return cli_usage_error("bench", "bad --max-tiles '%s'", v);
            }
            else if (!strcmp(a, "--save-random")) save_random = v;
            else if (!strcmp(a, "--type")) {
                if (!cli_parse_weight_type(v, &llm_type)) return cli_usage_error("bench", "unknown --type '%s'", v);
            }
            else if (!strcmp(a, "--runs")) {
                runs = atoi(v);
                if (runs < 1 || runs > 64) return cli_usage_error("bench", "--runs takes 1 to 64, not '%s'", v);
            } else model_path = v;
        } else {
            return cli_usage_error("bench", "unexpected argument '%s'", a);
        }
    }
    if (linear) {
        if (model_path || variant || json) return cli_usage_error("bench", "--linear takes no model and no --json");
        return bench_linear(params.n_threads, runs);
    }
    if (!model_path == !variant) return cli_usage_error("bench", "give either -m MODEL or --random VARIANT");

    char tmp_path[512] = "", mmproj_tmp[600] = "";
    if (variant) {
        const char * tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(tmp_path, sizeof tmp_path, "%s/vlm-bench-%d.safetensors", tmpdir, (int)getpid());
        if (save_random) snprintf(tmp_path, sizeof tmp_path, "%s", save_random);
        enum vlm_status st;
        // the fast SAM family's names -> vlm_sam_write_random_checkpoint's variants
        static const char * const family[][2] = { { "efficientsam-vit-t", "effsam_t" }, { "efficientsam-vit-s", "effsam_s" },
                                                  { "slimsam-50", "slimsam_50" }, { "slimsam-77", "slimsam_77" } };
        const char * sam_random = NULL;
        for (size_t i = 0; i < sizeof family / sizeof *family; i++)
            if (!strcmp(variant, family[i][0])) sam_random = family[i][1];
        if (sam_random) {
            st = vlm_sam_write_random_checkpoint(tmp_path, sam_random, 1);
        } else if (!strncmp(variant, "sam-", 4)) {
            char v[16];
            snprintf(v, sizeof v, "%s", variant + 4);
            for (char * p = v; *p; p++) if (*p == '-') *p = '_';   // sam-vit-b -> vit_b
            st = vlm_sam_write_random_checkpoint(tmp_path, v, 1);
        } else if (!strcmp(variant, "clip-vit-b-32")) {
            st = vlm_clip_write_random_checkpoint(tmp_path, "ViT-B/32", 1);
        } else if (!strncmp(variant, "smol", 4)) {
            st = vlm_llama_write_random(tmp_path, variant, llm_type, 1);
            if (st == VLM_STATUS_OK && !strncmp(variant, "smolvlm", 7)) {   // and its vision projector
                snprintf(mmproj_tmp, sizeof mmproj_tmp, "%s.mmproj.gguf", tmp_path);
                st = vlm_smolvlm_write_random_mmproj(mmproj_tmp, variant, llm_type, 2);
                mmproj_path = mmproj_tmp;
            }
        } else {
            return cli_usage_error("bench", "unknown --random variant '%s'", variant);
        }
        if (st != VLM_STATUS_OK) return cli_fail("bench", "%s", vlm_last_error());
        model_path = tmp_path;
    }

    int rc = 1;
    struct vlm_model * m = cli_load_model("bench", model_path, &params);
    if (tmp_path[0] && !save_random) unlink(tmp_path);   // mmap keeps the data alive
    struct vlm_smolvlm_vision * vision = NULL;
    if (m && mmproj_path && vlm_smolvlm_vision_load(mmproj_path, &params, &vision) != VLM_STATUS_OK) {
        cli_fail("bench", "%s", vlm_last_error());
        vlm_model_free(m);
        m = NULL;
    }
    if (mmproj_tmp[0] && !save_random) unlink(mmproj_tmp);
    if (!m) return 1;
    double       peak = sgemm_peak_gflops(m->ctx->n_threads);
    const char * fma_isa;
    double       fma_peak = vlm_cpu_fma_peak_gflops(m->ctx->n_threads, &fma_isa);
    // language models on the CPU: generation against the memory bandwidth
    double bandwidth = vlm_model_kind(m) == VLM_MODEL_LLAMA && !strcmp(vlm_model_backend_name(m), "cpu")
                           ? read_bandwidth_gbs(m->ctx->n_threads) : 0;
    double token_bytes = vlm_model_kind(m) == VLM_MODEL_LLAMA ? llama_bytes_per_token(m) : 0;

    struct bench_stage stages[BENCH_MAX_STAGES];
    int n_stages = 0;
    enum vlm_status st = VLM_STATUS_OK;
    struct vlm_image img = { 0 };
    if (vlm_model_kind(m) == VLM_MODEL_SAM) {
        struct sam_bench b = { .img = &img };
        const int32_t S = vlm_sam_input_size(m);   // an image the encoder takes without resizing
        random_image(&img, S, S);
        if ((st = vlm_sam_session_new(m, &b.s)) == VLM_STATUS_OK) {
            stages[n_stages] = (struct bench_stage){ .name = "image_encoder" };
            st = time_stage(&stages[n_stages++], m, sam_encode, &b, runs);
            stages[n_stages] = (struct bench_stage){ .name = "prompt_decoder" };
            if (st == VLM_STATUS_OK) st = time_stage(&stages[n_stages++], m, sam_decode, &b, runs < 10 ? 10 : runs);
            // CPU backend only: lavapipe would take most of an hour for the 1024 prompts
            struct sam_everything_bench e = { .s = b.s };
            if (st == VLM_STATUS_OK && !strcmp(vlm_model_backend_name(m), "cpu")) {
                stages[n_stages] = (struct bench_stage){ .name = "everything", .no_warmup = true };
                st = time_stage(&stages[n_stages++], m, sam_everything, &e, 1);   // tens of seconds: one run
                stages[n_stages - 1].masks = e.masks;
            }
        }
        vlm_sam_session_free(b.s);
    } else if (vlm_model_kind(m) == VLM_MODEL_LLAMA && vision) {
        // an 800x534 photo unless --image: llama.cpp's tiling makes 4x3 tiles + the overview of it
        struct vlm_bench b = { .m = m, .v = vision, .img = &img, .tiling = { .max_tiles = max_tiles } };
        if (image_path) st = vlm_image_load(image_path, &img);
        else random_image(&img, 800, 534);
        if (st == VLM_STATUS_OK) st = vlm_smolvlm_preprocess(vision, &img, &b.tiling, &b.tiles);
        size_t rows = st == VLM_STATUS_OK ? (size_t)b.tiles.n_tiles * vlm_smolvlm_tokens_per_tile(vision) : 0;
        if (st == VLM_STATUS_OK && !(b.embd = malloc(rows * vlm_smolvlm_embd_dim(vision) * sizeof(float))))
            st = VLM_STATUS_OUT_OF_MEMORY;
        char * text = NULL;
        struct vlm_chat_message msg = { "user", VLM_MEDIA_MARKER "Describe this image." };
        if (st == VLM_STATUS_OK) st = vlm_llm_chat_format(m, &msg, 1, true, &text);
        if (st == VLM_STATUS_OK)
            st = vlm_idefics3_prompt(m, text, b.tiles.grid_x, b.tiles.grid_y, vlm_smolvlm_tokens_per_tile(vision), &b.prompt);
        free(text);
        int vruns = runs < 2 ? runs : 2;   // a whole image takes seconds on a CPU
        stages[n_stages] = (struct bench_stage){ .name = "image_encoder", .tiles = b.tiles.n_tiles };
        if (st == VLM_STATUS_OK) st = time_stage_ctx(&stages[n_stages++], vision->ctx, vlm_encode, &b, vruns);
        stages[n_stages] = (struct bench_stage){ .name = "prompt_eval", .tokens = b.prompt.n };
        if (st == VLM_STATUS_OK) st = time_stage(&stages[n_stages++], m, vlm_prompt, &b, vruns);
        stages[n_stages] = (struct bench_stage){ .name = "time_to_first_token" };
        if (st == VLM_STATUS_OK) st = time_stage_ctx(&stages[n_stages++], vision->ctx, vlm_first_token, &b, vruns);
        struct llm_bench g = { .m = m, .n_gen = 128 };
        if (st == VLM_STATUS_OK && !(g.ids = calloc(128, sizeof(int32_t)))) st = VLM_STATUS_OUT_OF_MEMORY;
        for (int32_t i = 0; g.ids && i < 128; i++) g.ids[i] = 3 + (i * 7919) % (vlm_llm_n_vocab(m) - 3);
        stages[n_stages] = (struct bench_stage){ .name = "generate", .tokens = 128 };
        if (st == VLM_STATUS_OK) st = time_stage(&stages[n_stages++], m, llm_generate, &g, runs);
        free(g.ids);
        free(b.embd);
        vlm_smolvlm_tiles_free(&b.tiles);
        vlm_image_prompt_free(&b.prompt);
    } else if (vlm_model_kind(m) == VLM_MODEL_LLAMA) {
        struct llm_bench b = { .m = m, .n_prompt = 512, .n_gen = 128 };
        if (!(b.ids = malloc(sizeof(int32_t) * 512))) st = VLM_STATUS_OUT_OF_MEMORY;
        struct vlm_rng r = { 7 };
        for (int32_t i = 0; b.ids && i < 512; i++) b.ids[i] = (int32_t)(vlm_rng_next(&r) % (uint64_t)vlm_llm_n_vocab(m));
        stages[n_stages] = (struct bench_stage){ .name = "prompt_eval", .tokens = b.n_prompt };
        if (st == VLM_STATUS_OK) st = time_stage(&stages[n_stages++], m, llm_prompt, &b, runs);
        stages[n_stages] = (struct bench_stage){ .name = "generate", .tokens = b.n_gen };
        if (st == VLM_STATUS_OK) st = time_stage(&stages[n_stages++], m, llm_generate, &b, runs);
        free(b.ids);
    } else {
        float * out = malloc(sizeof(float) * 8 * (size_t)vlm_clip_embed_dim(m));
        struct clip_bench b = { .m = m, .img = &img, .out = out };
        random_image(&img, 640, 480);
        stages[n_stages] = (struct bench_stage){ .name = "image_encoder" };
        st = out ? time_stage(&stages[n_stages++], m, clip_image, &b, runs) : VLM_STATUS_OUT_OF_MEMORY;
        stages[n_stages] = (struct bench_stage){ .name = "text_encoder" };
        if (st == VLM_STATUS_OK) st = time_stage(&stages[n_stages++], m, clip_texts8, &b, runs);
        free(out);
    }
    if (st != VLM_STATUS_OK) {
        cli_fail("bench", "%s", vlm_last_error());
        goto done;
    }

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mb = ru.ru_maxrss / 1024.0;
    const char * model_name = variant ? variant : model_path;
    if (json) {
        printf("{\"model\": \"%s\", \"backend\": \"%s\", \"threads\": %d, \"sgemm_peak_gflops\": %.1f, "
               "\"fma_peak_gflops\": %.1f, \"peak_rss_mb\": %.0f, \"stages\": {",
               model_name, vlm_model_backend_name(m), m->ctx->n_threads, peak, fma_peak, rss_mb);
        for (int i = 0; i < n_stages; i++) {
            double gfs = stages[i].gflop / (stages[i].median_ms / 1e3);
            printf("%s\"%s\": {\"median_ms\": %.3f, \"gflop\": %.3f, \"gflops\": %.1f, \"peak_fraction\": %.3f",
                   i ? ", " : "", stages[i].name, stages[i].median_ms, stages[i].gflop, gfs, peak > 0 ? gfs / peak : 0);
            if (stages[i].tokens) printf(", \"tokens_per_s\": %.2f", stages[i].tokens / (stages[i].median_ms / 1e3));
            if (stages[i].tiles) printf(", \"tiles\": %d", stages[i].tiles);
            if (!strcmp(stages[i].name, "everything")) printf(", \"masks\": %d", stages[i].masks);
            if (bandwidth > 0 && !strcmp(stages[i].name, "generate"))
                printf(", \"bandwidth_fraction\": %.3f", stages[i].tokens * token_bytes / (stages[i].median_ms * 1e6) / bandwidth);
            printf("}");
        }
        printf("}");
        if (bandwidth > 0) printf(", \"read_bandwidth_gbs\": %.1f, \"bytes_per_token\": %.0f", bandwidth, token_bytes);
        printf("}\n");
    } else {
        printf("model:   %s\nbackend: %s (%d threads)\npeak:    %.1f GFLOP/s (OpenBLAS sgemm 2048^3, this run)\n"
               "memory:  %.0f MiB peak RSS\n", model_name, vlm_model_backend_name(m), m->ctx->n_threads, peak, rss_mb);
        if (fma_peak > 0)
            printf("fma:     %.1f GFLOP/s (%s FMA loop, this run: the CPU's arithmetic limit; sgemm reaches %.0f%% of it)\n",
                   fma_peak, fma_isa, 100 * peak / fma_peak);
        if (bandwidth > 0)
            printf("bandwidth: %.1f GB/s memory read, this run; a generated token reads %.1f MB of weights\n", bandwidth,
                   token_bytes / 1e6);
        printf("\n%-16s %10s %10s %10s %8s %10s\n", "stage", "median ms", "GFLOP", "GFLOP/s", "of peak", "tokens/s");
        for (int i = 0; i < n_stages; i++) {
            double gfs = stages[i].gflop / (stages[i].median_ms / 1e3);
            printf("%-16s %10.2f %10.2f %10.1f %7.1f%%", stages[i].name, stages[i].median_ms, stages[i].gflop, gfs,
                   peak > 0 ? 100 * gfs / peak : 0);
            if (stages[i].tokens) printf(" %10.1f", stages[i].tokens / (stages[i].median_ms / 1e3));
            if (stages[i].tiles) printf("   (%d tiles)", stages[i].tiles);
            if (!strcmp(stages[i].name, "everything")) printf("   (%d masks)", stages[i].masks);
            if (bandwidth > 0 && !strcmp(stages[i].name, "generate"))
                printf("   %.0f%% of bandwidth", 100 * stages[i].tokens * token_bytes / (stages[i].median_ms * 1e6) / bandwidth);
            printf("\n");
        }
    }
    rc = 0;
done:
    vlm_image_free(&img);
    vlm_smolvlm_vision_free(vision);
    vlm_model_free(m);
    return rc;
}
