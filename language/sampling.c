// sampling.c — picking the next token from logits, in the order of llama.cpp's default
// sampler chain: repetition penalty, top-k, top-p, min-p, temperature, then a seeded draw.
// ref: llama.cpp src/llama-sampling.cpp (llama_sampler_penalties_apply, llama_sampler_top_k_impl,
//      llama_sampler_top_p_apply, llama_sampler_min_p_apply, llama_sampler_temp_impl),
//      common/sampling.cpp (the chain order)
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

struct vlm_sampler {
    struct vlm_sampler_params p;
    struct vlm_rng rng;
    int32_t * recent;        // ring of the last repeat_last_n accepted tokens
    int32_t   n_recent, head;
    struct cand { int32_t id; float logit; } * cand;
    int32_t   cap;
};

struct vlm_sampler_params vlm_sampler_default_params(void) {
    struct vlm_sampler_params p = { .temperature = 0.0f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
                                    .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 0 };
    return p;
}

enum vlm_status vlm_sampler_new(const struct vlm_sampler_params * params, struct vlm_sampler ** out) {
    if (!out) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_sampler_new: out is NULL");
    *out = NULL;
    struct vlm_sampler_params d = vlm_sampler_default_params();
    if (!params) params = &d;
    if (!isfinite(params->temperature) || !isfinite(params->top_p) || !isfinite(params->min_p) ||
        !(params->repeat_penalty > 0.0f) || !isfinite(params->repeat_penalty) || params->repeat_last_n < 0 ||
        params->top_p < 0.0f || params->min_p < 0.0f || params->min_p > 1.0f)
        return vlm_error(VLM_STATUS_INVALID_ARG, "sampler: temperature, top-p and min-p must be finite, min-p in [0, 1], "
                         "top-p >= 0, the repetition penalty > 0 and the window >= 0");
    struct vlm_sampler * s = calloc(1, sizeof *s);
    if (!s) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    s->p = *params;
    s->rng.state = params->seed;
    if (params->repeat_last_n > 0 && !(s->recent = calloc((size_t)params->repeat_last_n, sizeof *s->recent))) {
        free(s);
        return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    *out = s;
    return VLM_STATUS_OK;
}

void vlm_sampler_free(struct vlm_sampler * s) {
    if (!s) return;
    free(s->recent);
    free(s->cand);
    free(s);
}

void vlm_sampler_accept(struct vlm_sampler * s, const int32_t * ids, int32_t n) {
    if (!s || !s->recent) return;
    for (int32_t i = 0; i < n; i++) {
        s->recent[s->head] = ids[i];
        s->head = (s->head + 1) % s->p.repeat_last_n;
        if (s->n_recent < s->p.repeat_last_n) s->n_recent++;
    }
}

static int cand_desc(const void * a, const void * b) {
    const struct cand * x = a, * y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

// Sifts the smallest of a min-heap of k candidates down from i.
static void heap_down(struct cand * h, int32_t k, int32_t i) {
    for (;;) {
        int32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < k && cand_desc(&h[l], &h[m]) > 0) m = l;
        if (r < k && cand_desc(&h[r], &h[m]) > 0) m = r;
        if (m == i) return;
        struct cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

int32_t vlm_sampler_sample(struct vlm_sampler * s, const float * logits, int32_t n_vocab) {
    if (!s || !logits || n_vocab <= 0) return -1;
    if (s->cap < n_vocab) {
        struct cand * c = realloc(s->cand, (size_t)n_vocab * sizeof *c);
        if (!c) return -1;
        s->cand = c;
        s->cap = n_vocab;
    }
    struct cand * c = s->cand;
    for (int32_t i = 0; i < n_vocab; i++) c[i] = (struct cand){ i, logits[i] };
    // repetition penalty: each distinct recent token once
    // ref: llama-sampling.cpp llama_sampler_penalties_apply
    if (s->p.repeat_penalty != 1.0f)
        for (int32_t i = 0; i < s->n_recent; i++) {
            int32_t id = s->recent[i];
            bool seen = false;
            for (int32_t j = 0; j < i && !seen; j++) seen = s->recent[j] == id;
            if (seen || id < 0 || id >= n_vocab) continue;
            c[id].logit = c[id].logit <= 0 ? c[id].logit * s->p.repeat_penalty : c[id].logit / s->p.repeat_penalty;
        }
    int32_t n = n_vocab;
    if (s->p.temperature <= 0.0f) {   // greedy: the first index of the largest logit
        int32_t best = 0;
        for (int32_t i = 1; i < n; i++)
            if (c[i].logit > c[best].logit) best = i;
        int32_t id = c[best].id;
        vlm_sampler_accept(s, &id, 1);
        return id;
    }
    // top-k: keep the k largest (a min-heap of k), then sort them
    int32_t k = s->p.top_k > 0 && s->p.top_k < n ? s->p.top_k : n;
    if (k < n) {
        for (int32_t i = k / 2 - 1; i >= 0; i--) heap_down(c, k, i);
        for (int32_t i = k; i < n; i++)
            if (cand_desc(&c[i], &c[0]) < 0) {
                c[0] = c[i];
                heap_down(c, k, 0);
            }
        n = k;
    }
    qsort(c, (size_t)n, sizeof *c, cand_desc);
    // top-p on the softmax of the (penalized) logits: the smallest prefix reaching p
    if (s->p.top_p < 1.0f) {
        double sum = 0, cum = 0;
        for (int32_t i = 0; i < n; i++) sum += exp((double)c[i].logit - c[0].logit);
        for (int32_t i = 0; i < n; i++) {
            cum += exp((double)c[i].logit - c[0].logit) / sum;
            if (cum >= s->p.top_p) {
                n = i + 1;
                break;
            }
        }
    }
    // min-p: keep p_i >= min_p * p_max, i.e. logit >= max + log(min_p)
    if (s->p.min_p > 0.0f) {
        float lim = c[0].logit + logf(s->p.min_p);
        int32_t keep = 1;
        while (keep < n && c[keep].logit >= lim) keep++;
        n = keep;
    }
    // temperature, softmax, draw
    double sum = 0;
    for (int32_t i = 0; i < n; i++) sum += exp(((double)c[i].logit - c[0].logit) / s->p.temperature);
    double r = vlm_rng_uniform(&s->rng) * sum, acc = 0;
    int32_t pick = n - 1;
    for (int32_t i = 0; i < n; i++) {
        acc += exp(((double)c[i].logit - c[0].logit) / s->p.temperature);
        if (r < acc) {
            pick = i;
            break;
        }
    }
    int32_t id = c[pick].id;
    vlm_sampler_accept(s, &id, 1);
    return id;
}
