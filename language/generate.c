// generate.c — the token loop: sample, detokenize into valid UTF-8, stream, stop.
// ref: llama.cpp examples/simple/simple.cpp (the decode / sample / token_to_piece loop),
//      tools/server (stop strings: text held back while it may still become one)
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "llama.h"
#include "unicode-props.h"

struct text_buf {
    char * p;
    size_t len, cap;
};

static bool buf_append(struct text_buf * b, const char * s, size_t n) {
    size_t need;
    if (!vlm_add_size(b->len, n + 1, &need)) return false;
    if (need > b->cap) {
        size_t cap;
        if (!vlm_grow_size(b->cap, need, 256, &cap)) return false;
        char * p = realloc(b->p, cap);
        if (!p) return false;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return true;
}

// Length of the longest tail of text[0..n) that is a proper prefix of a stop string: that
// much must be held back, since the next token may complete it.
static size_t stop_prefix_tail(const char * text, size_t n, const char * const * stop, int32_t n_stop) {
    size_t hold = 0;
    for (int32_t i = 0; i < n_stop; i++) {
        size_t sl = strlen(stop[i]);
        for (size_t k = sl > n ? n : sl - 1; k > hold; k--)
            if (!memcmp(text + n - k, stop[i], k)) {
                hold = k;
                break;
            }
    }
    return hold;
}

// First occurrence of any stop string in text[0..n); n when none.
static size_t find_stop(const char * text, size_t n, const char * const * stop, int32_t n_stop) {
    size_t at = n;
    for (int32_t i = 0; i < n_stop; i++) {
        size_t sl = strlen(stop[i]);
        if (!sl || sl > n) continue;
        for (size_t j = 0; j + sl <= n && j < at; j++)
            if (!memcmp(text + j, stop[i], sl)) {
                at = j;
                break;
            }
    }
    return at;
}

enum vlm_status vlm_llm_generate(struct vlm_llm_session * s, struct vlm_sampler * sampler,
                                 const struct vlm_generate_params * p, struct vlm_generation * out) {
    if (!out) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_llm_generate: out is NULL");
    memset(out, 0, sizeof *out);
    if (!s || !sampler || !p) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_llm_generate: NULL argument");
    if (p->max_tokens <= 0) return vlm_error(VLM_STATUS_INVALID_ARG, "max tokens must be > 0, not %d", p->max_tokens);
    if (p->n_stop < 0 || (p->n_stop > 0 && !p->stop)) return vlm_error(VLM_STATUS_INVALID_ARG, "bad stop strings");
    for (int32_t i = 0; i < p->n_stop; i++)
        if (!p->stop[i] || !p->stop[i][0]) return vlm_error(VLM_STATUS_INVALID_ARG, "empty stop string");
    if (!vlm_llm_logits(s)) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_llm_generate: decode a prompt first");
    const struct vlm_model * m = vlm_llm_session_model(s);
    const int32_t V = vlm_llm_n_vocab(m);

    enum vlm_status st = VLM_STATUS_OK;
    struct text_buf text = { 0 };
    struct vlm_utf8_stream utf8 = { 0 };
    size_t emitted = 0;   // bytes of text already handed to on_text
    int32_t * ids = malloc((size_t)p->max_tokens * sizeof *ids);
    char piece[512], valid[VLM_UTF8_STREAM_MAX_OUT(sizeof piece)];
    if (!ids || !buf_append(&text, "", 0)) {
        st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    out->stop_reason = VLM_STOP_MAX_TOKENS;
    for (int32_t n = 0; n < p->max_tokens; n++) {
        int32_t id = vlm_sampler_sample(sampler, vlm_llm_logits(s), V);
        if (id < 0) {
            st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "sampler: out of memory");
            break;
        }
        ids[out->n_ids++] = id;
        if (vlm_llm_is_eog(m, id)) {
            out->stop_reason = VLM_STOP_EOG;
            break;
        }
        size_t len = vlm_llm_token_piece(m, id, piece, sizeof piece);
        if (len > sizeof piece) len = sizeof piece;   // no token is that long; keep what fits
        size_t vlen = vlm_utf8_stream_push(&utf8, piece, len, valid);
        if (!buf_append(&text, valid, vlen)) {
            st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
            break;
        }
        size_t stop_at = find_stop(text.p, text.len, p->stop, p->n_stop);
        size_t ready = stop_at < text.len ? stop_at : text.len - stop_prefix_tail(text.p, text.len, p->stop, p->n_stop);
        if (p->on_text && ready > emitted && !p->on_text(text.p + emitted, ready - emitted, p->user)) {
            emitted = ready;
            out->stop_reason = VLM_STOP_CALLBACK;
            break;
        }
        if (ready > emitted) emitted = ready;
        if (stop_at < text.len) {
            text.len = stop_at;
            text.p[stop_at] = 0;
            out->stop_reason = VLM_STOP_STRING;
            break;
        }
        if (n + 1 < p->max_tokens && (st = vlm_llm_decode(s, &id, 1)) != VLM_STATUS_OK) break;
    }
    if (st == VLM_STATUS_OK && out->stop_reason != VLM_STOP_STRING && out->stop_reason != VLM_STOP_CALLBACK) {
        size_t vlen = vlm_utf8_stream_finish(&utf8, valid);   // an unfinished character: U+FFFD
        if (!buf_append(&text, valid, vlen)) st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
        else if (p->on_text && text.len > emitted) p->on_text(text.p + emitted, text.len - emitted, p->user);
    }
done:
    if (st != VLM_STATUS_OK) {
        free(ids);
        free(text.p);
        memset(out, 0, sizeof *out);
        return st;
    }
    out->ids = ids;
    out->text = text.p;
    out->text_len = text.len;
    return VLM_STATUS_OK;
}

void vlm_generation_free(struct vlm_generation * g) {
    if (!g) return;
    free(g->ids);
    free(g->text);
    memset(g, 0, sizeof *g);
}
