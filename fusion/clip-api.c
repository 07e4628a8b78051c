// clip-api.c — the public CLIP API of include/vlm.h: preprocessing, tokenizing, encoding
// (batched), normalization and zero-shot classification on top of fusion/clip.c.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip.h"
#include "image.h"
#include "model.h"
#include "tokenizer.h"

struct vlm_clip_params vlm_clip_default_params(void) {
    struct vlm_clip_params p = { .normalize = true, .truncate = true };
    return p;
}

static enum vlm_status not_clip(const char * fn, const struct vlm_model * m) {
    if (!m) return vlm_error(VLM_STATUS_INVALID_ARG, "%s: model is NULL", fn);
    return vlm_error(VLM_STATUS_UNSUPPORTED, "%s: %s is not a CLIP model", fn, m->src.path);
}

int32_t vlm_clip_embed_dim(const struct vlm_model * m) { return vlm_clip_of(m) ? vlm_clip_of(m)->embed_dim : 0; }
int32_t vlm_clip_image_size(const struct vlm_model * m) { return vlm_clip_of(m) ? vlm_clip_of(m)->image_size : 0; }
int32_t vlm_clip_context_length(const struct vlm_model * m) { return vlm_clip_of(m) ? vlm_clip_of(m)->context : 0; }
float   vlm_clip_logit_scale(const struct vlm_model * m) { return vlm_clip_of(m) ? vlm_clip_of(m)->logit_scale : 0.0f; }


static enum vlm_status check_out(const char * fn, const struct vlm_clip_model * c, int64_t count, size_t n_out) {
    if (count < 0 || count > INT32_MAX / 2) return vlm_error(VLM_STATUS_INVALID_ARG, "%s: bad count %lld", fn, (long long)count);
    size_t need = (size_t)count * (size_t)c->embed_dim;
    if (n_out < need)
        return vlm_error(VLM_STATUS_INVALID_ARG, "%s: output holds %zu floats, %lld x %d needed", fn, n_out,
                         (long long)count, (int)c->embed_dim);
    return VLM_STATUS_OK;
}

// ---- images ------------------------------------------------------------------------------------
enum vlm_status vlm_clip_preprocess_image(const struct vlm_model * m, const struct vlm_image * image, float * out,
                                          size_t n_out) {
    const struct vlm_clip_model * c = vlm_clip_of(m);
    if (!c) return not_clip("vlm_clip_preprocess_image", m);
    if (!image || !out) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_clip_preprocess_image: NULL argument");
    size_t need = (size_t)3 * c->image_size * c->image_size;
    if (n_out < need)
        return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_clip_preprocess_image: output holds %zu floats, %zu needed", n_out, need);
    // ref: clip/clip.py _transform(n_px)
    return vlm_clip_preprocess(image, c->image_size, c->mean, c->std, out);
}

enum vlm_status vlm_clip_encode_pixels(struct vlm_model * m, const float * pixels, int32_t n,
                                       const struct vlm_clip_params * params, float * out, size_t n_out) {
    const struct vlm_clip_model * c = vlm_clip_of(m);
    if (!c) return not_clip("vlm_clip_encode_pixels", m);
    if (!pixels || !out || n < 0) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_clip_encode_pixels: bad arguments");
    enum vlm_status st = check_out("vlm_clip_encode_pixels", c, n, n_out);
    if (st != VLM_STATUS_OK) return st;
    struct vlm_clip_params p = params ? *params : vlm_clip_default_params();
    st = vlm_clip_forward_images(m, pixels, n, out);
    if (st != VLM_STATUS_OK && vlm_model_fall_back_to_cpu(m, st)) st = vlm_clip_forward_images(m, pixels, n, out);
    if (st != VLM_STATUS_OK) return st;
    c = vlm_clip_of(m);   // a CPU fallback re-creates the model state
    for (int32_t i = 0; i < n; i++) {
        float * v = out + (size_t)i * c->embed_dim;
        for (int32_t j = 0; j < c->embed_dim; j++)
            if (!isfinite(v[j])) return vlm_error(VLM_STATUS_NON_FINITE, "clip image encoder: non-finite feature (image %d)", (int)i);
        if (p.normalize) vlm_l2_normalize(v, c->embed_dim);
    }
    return VLM_STATUS_OK;
}

enum vlm_status vlm_clip_encode_images(struct vlm_model * m, const struct vlm_image * images, int32_t n,
                                       const struct vlm_clip_params * params, float * out, size_t n_out) {
    const struct vlm_clip_model * c = vlm_clip_of(m);
    if (!c) return not_clip("vlm_clip_encode_images", m);
    if ((!images && n > 0) || !out || n < 0) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_clip_encode_images: bad arguments");
    enum vlm_status st = check_out("vlm_clip_encode_images", c, n, n_out);
    if (st != VLM_STATUS_OK) return st;
    // Preprocess one forward chunk at a time, so a long list needs little memory.
    size_t per = (size_t)3 * c->image_size * c->image_size;
    int32_t chunk = c->vision_chunk;
    float * px = malloc(sizeof *px * per * (size_t)(n < chunk ? (n > 0 ? n : 1) : chunk));
    if (!px) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "vlm_clip_encode_images: out of memory");
    for (int32_t i = 0; i < n && st == VLM_STATUS_OK; i += chunk) {
        int32_t k = n - i < chunk ? n - i : chunk;
        for (int32_t j = 0; j < k && st == VLM_STATUS_OK; j++)
            st = vlm_clip_preprocess_image(m, &images[i + j], px + per * j, per);
        if (st == VLM_STATUS_OK)
            st = vlm_clip_encode_pixels(m, px, k, params, out + (size_t)i * c->embed_dim, (size_t)k * c->embed_dim);
    }
    free(px);
    return st;
}

enum vlm_status vlm_clip_encode_image(struct vlm_model * m, const struct vlm_image * image,
                                      const struct vlm_clip_params * params, float * out, size_t n_out) {
    if (!image) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_clip_encode_image: image is NULL");
    return vlm_clip_encode_images(m, image, 1, params, out, n_out);
}

// ---- texts -------------------------------------------------------------------------------------
// Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF). Returns the byte
// offset of the first bad sequence, or -1.
static long utf8_invalid_at(const char * s) {
    const unsigned char * p = (const unsigned char *)s;
    const unsigned char * b = p;
    while (*p) {
        unsigned c = *p;
        int n;
        unsigned cp;
        if (c < 0x80) { p++; continue; }
        else if (c >= 0xC2 && c <= 0xDF) { n = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { n = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { n = 3; cp = c & 0x07; }
        else return (long)(p - b);
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80) return (long)(p - b);
            cp = cp << 6 | (p[i] & 0x3F);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return (long)(p - b);
        p += n + 1;
    }
    return -1;
}

enum vlm_status vlm_clip_tokenize_text(const struct vlm_model * m, const char * text, bool truncate, int32_t * out,
                                       size_t n_out, bool * truncated) {
    const struct vlm_clip_model * c = vlm_clip_of(m);
    if (truncated) *truncated = false;
    if (!c) return not_clip("vlm_clip_tokenize_text", m);
    if (!text || !out) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_clip_tokenize_text: NULL argument");
    if (n_out < (size_t)c->context)
        return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_clip_tokenize_text: output holds %zu ids, %d needed", n_out, (int)c->context);
    if (!c->tokenizer) return vlm_error(VLM_STATUS_IO, "%s", c->tokenizer_error);
    long bad = utf8_invalid_at(text);
    if (bad >= 0) return vlm_error(VLM_STATUS_INVALID_ARG, "text is not valid UTF-8 (bad byte 0x%02x at offset %ld)",
                                   (unsigned)(unsigned char)text[bad], bad);
    // ref: clip/clip.py tokenize: [sot] + encode(text) + [eot], zero padded to context_length;
    // too long: error, or with truncate=True keep context_length tokens and make the last <eot>
    int32_t n = 0;
    int64_t ctx = c->context;
    int32_t * ids = malloc(sizeof *ids * (size_t)ctx);
    if (!ids) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "vlm_clip_tokenize_text: out of memory");
    enum vlm_status st = vlm_clip_tokenize(c->tokenizer, text, ids, (int32_t)ctx, &n);   // first ctx ids, total n
    if (st != VLM_STATUS_OK) {
        free(ids);
        return st;
    }
    int64_t total = (int64_t)n + 2;
    if (total > ctx && !truncate) {
        free(ids);
        return vlm_error(VLM_STATUS_INVALID_ARG, "text is %lld tokens long, the model's context is %lld: \"%.40s%s\"",
                         (long long)total, (long long)ctx, text, strlen(text) > 40 ? "..." : "");
    }
    memset(out, 0, sizeof *out * (size_t)ctx);
    out[0] = vlm_clip_tokenizer_sot(c->tokenizer);
    int64_t keep = n < ctx - 1 ? n : ctx - 1;   // the last one is replaced by <eot> when truncating
    for (int64_t i = 0; i < keep; i++) out[1 + i] = ids[i];
    if (total > ctx) {
        out[ctx - 1] = vlm_clip_tokenizer_eot(c->tokenizer);
        if (truncated) *truncated = true;
    } else {
        out[1 + n] = vlm_clip_tokenizer_eot(c->tokenizer);
    }
    free(ids);
    for (int64_t i = 0; i < ctx; i++)
        if (out[i] < 0 || out[i] >= c->vocab)
            return vlm_error(VLM_STATUS_BAD_MODEL, "%s: token id %d is outside the model's vocabulary (%d)", m->src.path,
                             (int)out[i], (int)c->vocab);
    return VLM_STATUS_OK;
}

enum vlm_status vlm_clip_encode_tokens(struct vlm_model * m, const int32_t * tokens, int32_t n,
                                       const struct vlm_clip_params * params, float * out, size_t n_out) {
    const struct vlm_clip_model * c = vlm_clip_of(m);
    if (!c) return not_clip("vlm_clip_encode_tokens", m);
    if ((!tokens && n > 0) || !out || n < 0) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_clip_encode_tokens: bad arguments");
    enum vlm_status st = check_out("vlm_clip_encode_tokens", c, n, n_out);
    if (st != VLM_STATUS_OK) return st;
    struct vlm_clip_params p = params ? *params : vlm_clip_default_params();
    st = vlm_clip_forward_texts(m, tokens, n, out);
    if (st != VLM_STATUS_OK && vlm_model_fall_back_to_cpu(m, st)) st = vlm_clip_forward_texts(m, tokens, n, out);
    if (st != VLM_STATUS_OK) return st;
    c = vlm_clip_of(m);   // a CPU fallback re-creates the model state
    for (int32_t i = 0; i < n; i++) {
        float * v = out + (size_t)i * c->embed_dim;
        for (int32_t j = 0; j < c->embed_dim; j++)
            if (!isfinite(v[j])) return vlm_error(VLM_STATUS_NON_FINITE, "clip text encoder: non-finite feature (text %d)", (int)i);
        if (p.normalize) vlm_l2_normalize(v, c->embed_dim);
    }
    return VLM_STATUS_OK;
}

enum vlm_status vlm_clip_encode_texts(struct vlm_model * m, const char * const * texts, int32_t n,
                                      const struct vlm_clip_params * params, float * out, size_t n_out,
                                      bool * truncated) {
    const struct vlm_clip_model * c = vlm_clip_of(m);
    if (!c) return not_clip("vlm_clip_encode_texts", m);
    if ((!texts && n > 0) || !out || n < 0) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_clip_encode_texts: bad arguments");
    enum vlm_status st = check_out("vlm_clip_encode_texts", c, n, n_out);
    if (st != VLM_STATUS_OK) return st;
    struct vlm_clip_params p = params ? *params : vlm_clip_default_params();
    int32_t * tok = malloc(sizeof *tok * (size_t)c->context * (size_t)(n > 0 ? n : 1));
    if (!tok) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "vlm_clip_encode_texts: out of memory");
    for (int32_t i = 0; i < n && st == VLM_STATUS_OK; i++) {
        if (!texts[i]) {
            st = vlm_error(VLM_STATUS_INVALID_ARG, "vlm_clip_encode_texts: text %d is NULL", (int)i);
            break;
        }
        st = vlm_clip_tokenize_text(m, texts[i], p.truncate, tok + (size_t)i * c->context, (size_t)c->context,
                               truncated ? &truncated[i] : NULL);
    }
    // one batched forward (chunked only beyond text_chunk texts)
    if (st == VLM_STATUS_OK) st = vlm_clip_encode_tokens(m, tok, n, &p, out, n_out);
    free(tok);
    return st;
}

enum vlm_status vlm_clip_encode_text(struct vlm_model * m, const char * text, const struct vlm_clip_params * params,
                                     float * out, size_t n_out, bool * truncated) {
    if (!text) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_clip_encode_text: text is NULL");
    return vlm_clip_encode_texts(m, &text, 1, params, out, n_out, truncated);
}

// ---- zero-shot classification -------------------------------------------------------------------
// template_ with its first "{}" replaced by label (malloc'd).
static char * fill_template(const char * template_, const char * label) {
    const char * at = strstr(template_, "{}");
    size_t a = (size_t)(at - template_), l = strlen(label), b = strlen(at + 2);
    char * s = malloc(a + l + b + 1);
    if (!s) return NULL;
    memcpy(s, template_, a);
    memcpy(s + a, label, l);
    memcpy(s + a + l, at + 2, b + 1);
    return s;
}

enum vlm_status vlm_clip_classify(struct vlm_model * m, const struct vlm_image * image, const char * const * labels,
                                  int32_t n_labels, const char * template_, float * probs) {
    const struct vlm_clip_model * c = vlm_clip_of(m);
    if (!c) return not_clip("vlm_clip_classify", m);
    if (!image || !labels || !probs) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_clip_classify: NULL argument");
    if (n_labels < 1) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_clip_classify: no labels");
    if (!template_) template_ = "a photo of a {}.";
    if (!strstr(template_, "{}"))
        return vlm_error(VLM_STATUS_INVALID_ARG, "classify: template \"%s\" has no {} for the label", template_);
    enum vlm_status st = VLM_STATUS_OK;
    int32_t e = c->embed_dim;
    char ** texts = calloc((size_t)n_labels, sizeof *texts);
    float * tf = malloc(sizeof *tf * (size_t)e * (size_t)n_labels);
    float * imf = malloc(sizeof *imf * (size_t)e);
    double * logit = malloc(sizeof *logit * (size_t)n_labels);
    if (!texts || !tf || !imf || !logit) {
        st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "vlm_clip_classify: out of memory");
        goto done;
    }
    for (int32_t i = 0; i < n_labels; i++) {
        if (!labels[i] || !(texts[i] = fill_template(template_, labels[i]))) {
            st = vlm_error(labels[i] ? VLM_STATUS_OUT_OF_MEMORY : VLM_STATUS_INVALID_ARG, "vlm_clip_classify: label %d %s",
                           (int)i, labels[i] ? "out of memory" : "is NULL");
            goto done;
        }
    }
    struct vlm_clip_params p = vlm_clip_default_params();   // normalized, truncating
    if ((st = vlm_clip_encode_image(m, image, &p, imf, (size_t)e)) != VLM_STATUS_OK) goto done;
    if ((st = vlm_clip_encode_texts(m, (const char * const *)texts, n_labels, &p, tf, (size_t)e * n_labels, NULL)) !=
        VLM_STATUS_OK)
        goto done;
    // ref: CLIP.forward: logits_per_image = exp(logit_scale) * img @ txt.T; softmax(dim=-1)
    double mx = -INFINITY, sum = 0;
    for (int32_t i = 0; i < n_labels; i++) {
        double d = 0;
        for (int32_t j = 0; j < e; j++) d += (double)imf[j] * tf[(size_t)i * e + j];
        logit[i] = (double)c->logit_scale * d;
        if (logit[i] > mx) mx = logit[i];
    }
    for (int32_t i = 0; i < n_labels; i++) sum += (logit[i] = exp(logit[i] - mx));
    for (int32_t i = 0; i < n_labels; i++) probs[i] = (float)(logit[i] / sum);
done:
    if (texts)
        for (int32_t i = 0; i < n_labels; i++) free(texts[i]);
    free(texts);
    free(tf);
    free(imf);
    free(logit);
    return st;
}
