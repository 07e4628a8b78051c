// smolvlm.c — the idefics3 image+text prompt and its decoding (see smolvlm.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "llama.h"
#include "smolvlm.h"

void vlm_image_prompt_free(struct vlm_image_prompt * p) {
    if (!p) return;
    free(p->ids);
    memset(p, 0, sizeof *p);
}

struct id_list {
    int32_t * ids;
    int32_t   n, cap;
};

static bool push(struct id_list * l, const int32_t * ids, int32_t n) {
    if (l->n + n > l->cap) {
        int32_t cap = l->cap ? l->cap : 256;
        while (cap < l->n + n) cap *= 2;
        int32_t * p = realloc(l->ids, (size_t)cap * sizeof *p);
        if (!p) return false;
        l->ids = p;
        l->cap = cap;
    }
    memcpy(l->ids + l->n, ids, (size_t)n * sizeof *ids);
    l->n += n;
    return true;
}

// Tokenizes text[0..len) (special tokens parsed) onto the list.
static enum vlm_status push_text(const struct vlm_model * m, struct id_list * l, const char * text, size_t len) {
    if (len == 0) return VLM_STATUS_OK;
    char * s = malloc(len + 1);
    if (!s) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    memcpy(s, text, len);
    s[len] = 0;
    int32_t * ids = NULL, n = 0;
    enum vlm_status st = vlm_llm_tokenize(m, s, true, &ids, &n);
    free(s);
    if (st == VLM_STATUS_OK && !push(l, ids, n)) st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    free(ids);
    return st;
}

// The single token a text stands for in the vocabulary (e.g. "<global-img>", "\n\n").
static enum vlm_status token_of(const struct vlm_model * m, const char * text, int32_t * out) {
    *out = vlm_llm_token_id(m, text);
    if (*out < 0) {
        int32_t * ids = NULL, n = 0;   // "\n\n" may be a merge rather than a named token
        if (vlm_llm_tokenize(m, text, true, &ids, &n) == VLM_STATUS_OK && n == 1) *out = ids[0];
        free(ids);
    }
    if (*out < 0) return vlm_error(VLM_STATUS_BAD_MODEL, "the text model has no token '%s' (is it SmolVLM's?)",
                                   !strcmp(text, "\n") ? "\\n" : !strcmp(text, "\n\n") ? "\\n\\n" : text);
    return VLM_STATUS_OK;
}

enum vlm_status vlm_idefics3_prompt(const struct vlm_model * m, const char * text, int32_t gx, int32_t gy, int32_t per_tile,
                                    struct vlm_image_prompt * out) {
    if (!out) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_idefics3_prompt: out is NULL");
    memset(out, 0, sizeof *out);
    if (!m || !text || gx < 1 || gy < 1 || per_tile < 1 || gx > 64 || gy > 64)
        return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_idefics3_prompt: bad arguments (grid %dx%d)", gx, gy);
    const char * marker = strstr(text, VLM_MEDIA_MARKER);
    if (!marker) return vlm_error(VLM_STATUS_INVALID_ARG, "the prompt has no image marker %s", VLM_MEDIA_MARKER);
    if (strstr(marker + 1, VLM_MEDIA_MARKER))
        return vlm_error(VLM_STATUS_INVALID_ARG, "the prompt has more than one image marker");
    int32_t fake, global, nl, nlnl;
    enum vlm_status st;
    if ((st = token_of(m, "<fake_token_around_image>", &fake)) || (st = token_of(m, "<global-img>", &global)) ||
        (st = token_of(m, "\n", &nl)) || (st = token_of(m, "\n\n", &nlnl)))
        return st;
    struct id_list l = { 0 };
    int32_t * slots = malloc((size_t)per_tile * sizeof *slots);
    if (!slots) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    for (int32_t i = 0; i < per_tile; i++) slots[i] = -1;
    bool ok = true;
    if ((st = push_text(m, &l, text, (size_t)(marker - text)))) goto fail;
    for (int32_t r = 1; ok && r <= gy; r++) {
        for (int32_t c = 1; ok && c <= gx; c++) {
            char name[32];
            snprintf(name, sizeof name, "<row_%d_col_%d>", r, c);
            int32_t rc;
            if ((st = token_of(m, name, &rc))) goto fail;
            int32_t head[2] = { fake, rc };
            ok = push(&l, head, 2) && push(&l, slots, per_tile);
        }
        if (r < gy) ok = ok && push(&l, &nl, 1);
    }
    int32_t ov_start[3] = { nlnl, fake, global };
    ok = ok && push(&l, ov_start, 3) && push(&l, slots, per_tile) && push(&l, &fake, 1);
    if (!ok) {
        st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
        goto fail;
    }
    const char * rest = marker + strlen(VLM_MEDIA_MARKER);
    if ((st = push_text(m, &l, rest, strlen(rest)))) goto fail;
    free(slots);
    out->ids = l.ids;
    out->n = l.n;
    out->n_image_rows = (gx * gy + 1) * per_tile;
    return VLM_STATUS_OK;
fail:
    free(slots);
    free(l.ids);
    return st;
}

enum vlm_status vlm_image_prompt_decode(struct vlm_llm_session * s, const struct vlm_image_prompt * p,
                                        const float * image_embd, int32_t n_embd) {
    if (!s || !p || !p->ids || (p->n_image_rows > 0 && !image_embd))
        return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_image_prompt_decode: NULL argument");
    const int32_t want = vlm_llm_n_embd(vlm_llm_session_model(s));
    if (n_embd != want)
        return vlm_error(VLM_STATUS_INVALID_ARG, "image embeddings of width %d do not fit a text model of width %d (does "
                         "the mmproj belong to this model?)", n_embd, want);
    int32_t row = 0;
    for (int32_t i = 0; i < p->n;) {
        int32_t j = i;
        bool image = p->ids[i] < 0;
        while (j < p->n && (p->ids[j] < 0) == image) j++;
        enum vlm_status st;
        if (image) {
            if (row + (j - i) > p->n_image_rows)
                return vlm_error(VLM_STATUS_INVALID_ARG, "the prompt has more image rows than the embeddings");
            st = vlm_llm_decode_embd(s, image_embd + (size_t)row * (size_t)n_embd, j - i);
            row += j - i;
        } else {
            st = vlm_llm_decode(s, p->ids + i, j - i);
        }
        if (st != VLM_STATUS_OK) return st;
        i = j;
    }
    return VLM_STATUS_OK;
}
