// sam-api.c — the public Segment Anything API (include/vlm.h): sessions, image embeddings,
// prompt validation, batched prediction (SamPredictor.predict / predict_torch).
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image.h"
#include "model.h"
#include "sam.h"

// (Re)creates the session's device embedding on the model's current device (x: a compute
// context borrowed from the model).
static enum vlm_status session_alloc(struct vlm_sam_session * s, struct vlm_ctx * x) {
    const struct vlm_model * model = s->model;
    s->sm = vlm_sam_of(model);
    s->generation = model->generation;
    const int64_t C = s->sm->prompt_dim, G = s->sm->grid;
    s->ebuf = vlm_buffer_new(x, (size_t)(C * G * G) * sizeof(float));
    if (!s->ebuf || !vlm_ctx_ok(x))
        return vlm_error(x->status ? x->status : VLM_STATUS_DEVICE_OOM, "%s",
                         x->error[0] ? x->error : "cannot allocate the image embedding");
    s->emb = vlm_tensor_in(s->ebuf, 0, VLM_DTYPE_F32, 4, (int64_t[]){ 1, C, G, G });
    return VLM_STATUS_OK;
}

static bool retry_on_cpu(struct vlm_sam_session * s, enum vlm_status st, struct vlm_ctx ** x);

int32_t vlm_sam_input_size(const struct vlm_model * model) { return vlm_sam_of(model) ? vlm_sam_of(model)->img_size : 0; }
int32_t vlm_sam_embed_dim(const struct vlm_model * model) { return vlm_sam_of(model) ? vlm_sam_of(model)->prompt_dim : 0; }
int32_t vlm_sam_embedding_size(const struct vlm_model * model) { return vlm_sam_of(model) ? vlm_sam_of(model)->grid : 0; }
int32_t vlm_sam_low_res_size(const struct vlm_model * model) { return vlm_sam_of(model) ? vlm_sam_of(model)->mask_input_size : 0; }
bool    vlm_sam_stretches_input(const struct vlm_model * model) { return vlm_sam_of(model) && vlm_sam_of(model)->effsam; }
int32_t vlm_sam_max_points(const struct vlm_model * model) { return vlm_sam_of(model) ? vlm_sam_of(model)->max_points : 0; }

enum vlm_status vlm_sam_session_new(const struct vlm_model * model, struct vlm_sam_session ** out) {
    if (!out) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_sam_session_new: out is NULL");
    *out = NULL;
    if (!model) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_sam_session_new: model is NULL");
    if (!vlm_sam_of(model)) return vlm_error(VLM_STATUS_UNSUPPORTED, "%s: not a SAM model", model->src.path);
    struct vlm_sam_session * s = calloc(1, sizeof *s);
    if (!s) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    s->model = model;
    struct vlm_ctx * x = vlm_model_ctx_acquire(model);
    enum vlm_status st = x ? session_alloc(s, x) : vlm_last_status();
    if (st != VLM_STATUS_OK && x && retry_on_cpu(s, st, &x)) st = VLM_STATUS_OK;
    vlm_model_ctx_release(model, x);
    if (st != VLM_STATUS_OK) {
        vlm_sam_session_free(s);
        return st;
    }
    *out = s;
    return VLM_STATUS_OK;
}

// Frees the device embedding and the decoder cache on the device they were made on.
static void session_release(struct vlm_sam_session * s) {
    if (!s->ebuf && !s->dec_cache.buf) return;
    const bool current = s->generation == s->model->generation;
    struct vlm_ctx * x = current ? vlm_model_ctx_acquire(s->model) : s->model->lost_ctx;
    if (x) {
        vlm_buffer_free(x, s->ebuf);
        vlm_buffer_free(x, s->dec_cache.buf);
    }
    if (current) vlm_model_ctx_release(s->model, x);
    s->ebuf = NULL;
    s->dec_cache = (struct vlm_sam_dec_cache){ 0 };
}

void vlm_sam_session_free(struct vlm_sam_session * s) {
    if (!s) return;
    session_release(s);
    free(s->emb_host);
    vlm_image_free(&s->resized);
    free(s);
}

// Follows the model to its current device after a CPU fallback (of this or another session).
static enum vlm_status session_sync(struct vlm_sam_session * s, struct vlm_ctx * x) {
    if (s->generation == s->model->generation) return VLM_STATUS_OK;
    session_release(s);
    enum vlm_status st = session_alloc(s, x);
    if (st == VLM_STATUS_OK && s->has_image) vlm_tensor_upload(x, s->emb, s->emb_host);
    return st == VLM_STATUS_OK && !vlm_ctx_ok(x) ? x->status : st;
}

bool vlm_sam_session_fall_back(struct vlm_sam_session * s, enum vlm_status st) {
    return vlm_model_fall_back_to_cpu((struct vlm_model *)s->model, st);
}

// After a call failed on x: when the model moved to the CPU, swaps x for a CPU context and
// moves the session's buffers along; true when the call should be retried.
static bool retry_on_cpu(struct vlm_sam_session * s, enum vlm_status st, struct vlm_ctx ** x) {
    if (!vlm_sam_session_fall_back(s, st)) return false;
    vlm_model_ctx_release(s->model, *x);   // the lost device's context: dropped
    *x = vlm_model_ctx_acquire(s->model);
    return *x && session_sync(s, *x) == VLM_STATUS_OK;
}

// Keeps the host copy of the embedding that was just computed or loaded.
static enum vlm_status keep_host_copy(struct vlm_sam_session * s, struct vlm_ctx * x, const float * from_host) {
    size_t n = (size_t)vlm_tensor_numel(&s->emb);
    if (!s->emb_host && !(s->emb_host = malloc(n * sizeof(float))))
        return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    if (from_host) memcpy(s->emb_host, from_host, n * sizeof(float));
    else vlm_tensor_download(x, s->emb, s->emb_host);
    return vlm_ctx_ok(x) ? VLM_STATUS_OK : x->status;
}

// The context's sticky error as a thread error (and a status).
static enum vlm_status ctx_error(struct vlm_ctx * x, const char * what) {
    return vlm_error(x->status ? x->status : VLM_STATUS_INVALID_ARG, "%s: %s", what, x->error[0] ? x->error : "failed");
}

enum vlm_status vlm_sam_set_image(struct vlm_sam_session * s, const struct vlm_image * image) {
    if (!s || !image || !image->data) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_sam_set_image: NULL argument");
    if (image->channels != 3 || image->width <= 0 || image->height <= 0)
        return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_sam_set_image: need an RGB image (got %dx%d with %d channels)",
                         image->width, image->height, image->channels);
    struct vlm_ctx * x = vlm_model_ctx_acquire(s->model);
    if (!x) return vlm_last_status();
    enum vlm_status st = session_sync(s, x);
    if (st != VLM_STATUS_OK) {
        vlm_model_ctx_release(s->model, x);
        return st;
    }
    struct vlm_sam_model * sm = s->sm;
    const size_t S = (size_t)sm->img_size;
    float * pixels = malloc(3 * S * S * sizeof(float));
    struct vlm_image resized = { 0 };
    double t0 = vlm_now_ms();
    if (!pixels) st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    // EfficientSAM: the whole image stretched to the input square, no uint8 resize to keep
    else if (sm->effsam) st = vlm_effsam_preprocess(sm, image, pixels);
    else st = vlm_sam_preprocess(image, sm->img_size, sm->pixel_mean, sm->pixel_std, pixels, &resized);
    s->has_image = false;
    if (st == VLM_STATUS_OK) {
        st = vlm_sam_encode(x, sm, pixels, s->emb);
        if (st != VLM_STATUS_OK && retry_on_cpu(s, st, &x)) {
            sm = s->sm;
            st = vlm_sam_encode(x, sm, pixels, s->emb);
        }
        if (st == VLM_STATUS_OK) st = keep_host_copy(s, x, NULL);
        if (st != VLM_STATUS_OK) st = x ? ctx_error(x, "SAM image encoder") : vlm_last_status();
    }
    free(pixels);
    vlm_model_ctx_release(s->model, x);
    if (st != VLM_STATUS_OK) {
        vlm_image_free(&resized);
        return st;
    }
    vlm_image_free(&s->resized);
    s->resized = resized;
    s->orig_h = image->height;
    s->orig_w = image->width;
    vlm_sam_input_shape(sm, image->height, image->width, &s->in_h, &s->in_w);
    s->has_image = true;
    s->emb_serial = vlm_sam_next_serial();
    s->encode_ms = vlm_now_ms() - t0;
    return VLM_STATUS_OK;
}

bool vlm_sam_image_size(const struct vlm_sam_session * s, int32_t * width, int32_t * height) {
    if (!s || !s->has_image) return false;
    if (width) *width = s->orig_w;
    if (height) *height = s->orig_h;
    return true;
}

enum vlm_status vlm_sam_save_embedding(const struct vlm_sam_session * s, const char * path) {
    if (!s || !path) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_sam_save_embedding: NULL argument");
    if (!s->has_image) return vlm_error(VLM_STATUS_INVALID_ARG, "%s: no image set on the session", path);
    size_t n = (size_t)vlm_tensor_numel(&s->emb);
    const float * e = s->emb_host;
    int32_t orig[2] = { s->orig_h, s->orig_w }, inp[2] = { s->in_h, s->in_w };
    struct vlm_file_tensor t[3];
    memset(t, 0, sizeof t);
    t[0].name = "image_embeddings";
    t[0].dtype = VLM_DTYPE_F32;
    t[0].n_dims = 4;
    for (int i = 0; i < 4; i++) t[0].shape[i] = s->emb.shape[i];
    t[0].data = e;
    t[0].nbytes = n * sizeof(float);
    t[1].name = "input_size";
    t[1].dtype = VLM_DTYPE_I32;
    t[1].n_dims = 1;
    t[1].shape[0] = 2;
    t[1].data = inp;
    t[1].nbytes = sizeof inp;
    t[2] = t[1];
    t[2].name = "original_size";
    t[2].data = orig;
    return vlm_safetensors_write(path, t, 3);
}

static bool read_size_pair(const struct vlm_safetensors * st, const char * name, int32_t out[2]) {
    const struct vlm_file_tensor * t = vlm_safetensors_find(st, name);
    if (!t || t->n_dims != 1 || t->shape[0] != 2) return false;
    if (t->dtype == VLM_DTYPE_I32) {
        memcpy(out, t->data, 2 * sizeof(int32_t));
    } else if (t->dtype == VLM_DTYPE_F32) {
        float f[2];
        memcpy(f, t->data, sizeof f);
        if (!(f[0] >= 1 && f[0] < 1e6 && f[1] >= 1 && f[1] < 1e6)) return false;
        out[0] = (int32_t)f[0];
        out[1] = (int32_t)f[1];
    } else {
        return false;
    }
    return out[0] > 0 && out[1] > 0;
}

enum vlm_status vlm_sam_load_embedding(struct vlm_sam_session * s, const char * path) {
    if (!s || !path) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_sam_load_embedding: NULL argument");
    struct vlm_safetensors * st = NULL;
    struct vlm_ctx * x = NULL;
    enum vlm_status rc = vlm_safetensors_open(path, &st);
    if (rc != VLM_STATUS_OK) return rc;
    const struct vlm_file_tensor * e = vlm_safetensors_find(st, "image_embeddings");
    int32_t orig[2], inp[2];
    if (!e || e->dtype != VLM_DTYPE_F32 || e->n_dims != 4 || e->shape[0] != 1 || e->shape[1] != s->emb.shape[1] ||
        e->shape[2] != s->emb.shape[2] || e->shape[3] != s->emb.shape[3]) {
        rc = vlm_error(VLM_STATUS_INVALID_ARG, "%s: no F32 image_embeddings [1, %lld, %lld, %lld] for this model", path,
                       (long long)s->emb.shape[1], (long long)s->emb.shape[2], (long long)s->emb.shape[3]);
        goto done;
    }
    if (!read_size_pair(st, "original_size", orig) || !read_size_pair(st, "input_size", inp)) {
        rc = vlm_error(VLM_STATUS_INVALID_ARG, "%s: missing or bad original_size / input_size [2] (H, W)", path);
        goto done;
    }
    // input_size must be what ResizeLongestSide gives for original_size
    int32_t nh = 0, nw = 0;
    vlm_sam_input_shape(s->sm, orig[0], orig[1], &nh, &nw);
    if (nh != inp[0] || nw != inp[1]) {
        rc = vlm_error(VLM_STATUS_INVALID_ARG, "%s: input_size %dx%d does not match original_size %dx%d", path, inp[0], inp[1],
                       orig[0], orig[1]);
        goto done;
    }
    if (!(x = vlm_model_ctx_acquire(s->model))) {
        rc = vlm_last_status();
        goto done;
    }
    if ((rc = session_sync(s, x)) != VLM_STATUS_OK) goto done;
    vlm_tensor_upload(x, s->emb, e->data);
    if (!vlm_ctx_ok(x) || keep_host_copy(s, x, e->data) != VLM_STATUS_OK) {
        rc = ctx_error(x, path);
        goto done;
    }
    vlm_image_free(&s->resized);
    s->orig_h = orig[0];
    s->orig_w = orig[1];
    s->in_h = inp[0];
    s->in_w = inp[1];
    s->has_image = true;
    s->emb_serial = vlm_sam_next_serial();
    s->encode_ms = 0;
done:
    vlm_model_ctx_release(s->model, x);
    vlm_safetensors_close(st);
    return rc;
}

enum vlm_status vlm_sam_session_get_tensor(const struct vlm_sam_session * s, const char * name, void * out,
                                           size_t capacity, size_t * size) {
    if (!s || !name) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_sam_session_get_tensor: NULL argument");
    if (!s->has_image) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_sam_session_get_tensor: no image set");
    if (!strcmp(name, "image_embeddings")) {
        size_t n = (size_t)vlm_tensor_numel(&s->emb) * sizeof(float);
        if (size) *size = n;
        if (!out) return VLM_STATUS_OK;
        if (capacity < n) return vlm_error(VLM_STATUS_INVALID_ARG, "image_embeddings: buffer too small (%zu < %zu)", capacity, n);
        memcpy(out, s->emb_host, n);
        return VLM_STATUS_OK;
    }
    if (!strcmp(name, "resized")) {
        if (!s->resized.data) return vlm_error(VLM_STATUS_INVALID_ARG, "resized: not available (the embedding was loaded, or EfficientSAM, whose input is a float resize)");
        size_t n = (size_t)s->resized.width * (size_t)s->resized.height * 3;
        if (size) *size = n;
        if (!out) return VLM_STATUS_OK;
        if (capacity < n) return vlm_error(VLM_STATUS_INVALID_ARG, "resized: buffer too small");
        memcpy(out, s->resized.data, n);
        return VLM_STATUS_OK;
    }
    return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_sam_session_get_tensor: unknown tensor '%s'", name);
}

void vlm_masks_free(struct vlm_masks * m) {
    if (!m) return;
    free(m->masks);
    free(m->iou);
    free(m->low_res_logits);
    memset(m, 0, sizeof *m);
}

void vlm_sam_input_shape(const struct vlm_sam_model * sm, int32_t h, int32_t w, int32_t * in_h, int32_t * in_w) {
    if (sm->effsam) *in_h = *in_w = sm->img_size;
    else vlm_sam_preprocess_shape(h, w, sm->img_size, in_h, in_w);
}

// ref: segment_anything/utils/transforms.py ResizeLongestSide.apply_coords (double, per axis);
// EfficientSAM efficient_sam.py get_rescaled_pts: x * img_size / input_w in float
void vlm_sam_apply_coords(const struct vlm_sam_session * s, double x, double y, float * ox, float * oy) {
    if (s->sm->effsam) {
        const float S = (float)s->sm->img_size;
        *ox = (float)x * S / (float)s->orig_w;
        *oy = (float)y * S / (float)s->orig_h;
        return;
    }
    *ox = (float)(x * ((double)s->in_w / (double)s->orig_w));
    *oy = (float)(y * ((double)s->in_h / (double)s->orig_h));
}

// Labels 0/1, points and box inside a w x h image (the mask input is the model's to check).
static enum vlm_status check_geometry(const struct vlm_sam_prompt * p, int32_t w, int32_t h, const char * who) {
    if (p->n_points < 0 || (p->n_points > 0 && !p->points))
        return vlm_error(VLM_STATUS_INVALID_ARG, "%s: %d points but no point array", who, p->n_points);
    if (p->n_points > 1024) return vlm_error(VLM_STATUS_INVALID_ARG, "%s: too many points (%d, at most 1024)", who, p->n_points);
    const float W = (float)w, H = (float)h;
    for (int32_t i = 0; i < p->n_points; i++) {
        const struct vlm_point * q = &p->points[i];
        if (q->label != 0 && q->label != 1)
            return vlm_error(VLM_STATUS_INVALID_ARG, "%s: point %d has label %d (use 1 = foreground, 0 = background)", who, i,
                             q->label);
        if (!isfinite(q->x) || !isfinite(q->y) || q->x < 0 || q->y < 0 || q->x > W || q->y > H)
            return vlm_error(VLM_STATUS_INVALID_ARG, "%s: point %d (%g, %g) is outside the %dx%d image", who, i, q->x, q->y,
                             w, h);
    }
    if (p->box) {
        const struct vlm_box * b = p->box;
        if (!isfinite(b->x0) || !isfinite(b->y0) || !isfinite(b->x1) || !isfinite(b->y1))
            return vlm_error(VLM_STATUS_INVALID_ARG, "%s: box has a non-finite coordinate", who);
        if (b->x0 > b->x1 || b->y0 > b->y1)
            return vlm_error(VLM_STATUS_INVALID_ARG, "%s: box (%g, %g, %g, %g) needs x0 <= x1 and y0 <= y1", who, b->x0, b->y0,
                             b->x1, b->y1);
        if (b->x0 < 0 || b->y0 < 0 || b->x1 > W || b->y1 > H)
            return vlm_error(VLM_STATUS_INVALID_ARG, "%s: box (%g, %g, %g, %g) is outside the %dx%d image", who, b->x0, b->y0,
                             b->x1, b->y1, w, h);
    }
    return VLM_STATUS_OK;
}

enum vlm_status vlm_sam_check_prompt(const struct vlm_sam_prompt * p, int32_t width, int32_t height) {
    if (!p) return vlm_error(VLM_STATUS_INVALID_ARG, "prompt: NULL");
    return check_geometry(p, width, height, "prompt");
}

static enum vlm_status validate(const struct vlm_sam_session * s, const struct vlm_sam_prompt * p, int32_t idx) {
    char who[48] = "prompt";
    if (idx >= 0) snprintf(who, sizeof who, "prompt %d", idx);
    if (!p) return vlm_error(VLM_STATUS_INVALID_ARG, "%s: NULL", who);
    if (p->n_points == 0 && !p->box && !p->mask_input)
        return vlm_error(VLM_STATUS_INVALID_ARG, "%s: no prompt (give at least one point, a box or a mask input)", who);
    enum vlm_status st = check_geometry(p, s->orig_w, s->orig_h, who);
    if (st != VLM_STATUS_OK) return st;
    const struct vlm_sam_model * sm = s->sm;
    if (sm->effsam && p->mask_input)
        return vlm_error(VLM_STATUS_INVALID_ARG, "%s: EfficientSAM takes no mask input (give points or a box)", who);
    if (sm->effsam && p->n_points + (p->box ? 2 : 0) > sm->max_points)
        return vlm_error(VLM_STATUS_INVALID_ARG, "%s: EfficientSAM takes at most %d points (a box counts as 2), got %d%s", who,
                         sm->max_points, p->n_points + (p->box ? 2 : 0), p->box ? " with the box" : "");
    if (p->mask_input) {
        const size_t n = (size_t)s->sm->mask_input_size * (size_t)s->sm->mask_input_size;
        for (size_t i = 0; i < n; i++)
            if (!isfinite(p->mask_input[i]))
                return vlm_error(VLM_STATUS_INVALID_ARG, "%s: mask_input has a non-finite value at %zu", who, i);
    }
    return VLM_STATUS_OK;
}

// Builds the decoder tokens [1 + NM + Ns, C] of one prompt (output tokens + sparse prompt).
static void build_tokens(const struct vlm_sam_session * s, const struct vlm_sam_prompt * p, float * tok) {
    const struct vlm_sam_model * sm = s->sm;
    const size_t C = (size_t)sm->prompt_dim, NO = 1 + (size_t)sm->n_mask_tokens;
    memcpy(tok, sm->out_tokens, NO * C * sizeof(float));
    float coords[2 * 1024];
    int32_t labels[1024];
    for (int32_t i = 0; i < p->n_points; i++) {
        vlm_sam_apply_coords(s, p->points[i].x, p->points[i].y, &coords[2 * i], &coords[2 * i + 1]);
        labels[i] = p->points[i].label;
    }
    float box[4];
    if (p->box) {
        // ref: transforms.py apply_boxes: two corners through apply_coords
        vlm_sam_apply_coords(s, p->box->x0, p->box->y0, &box[0], &box[1]);
        vlm_sam_apply_coords(s, p->box->x1, p->box->y1, &box[2], &box[3]);
    }
    vlm_sam_embed_sparse(sm, coords, labels, p->n_points, p->box ? box : NULL, tok + NO * C);
}

// Decodes prompts idx[0..n) (same token count and mask presence) and fills out[idx[i]].
static enum vlm_status predict_group(struct vlm_ctx * x, struct vlm_sam_session * s, const struct vlm_sam_prompt * prompts,
                                     const int32_t * idx, int32_t n, struct vlm_masks * out) {
    struct vlm_sam_model * sm = s->sm;
    const struct vlm_sam_prompt * p0 = &prompts[idx[0]];
    const int32_t Nt = 1 + sm->n_mask_tokens + vlm_sam_sparse_count(sm, p0->n_points, p0->box != NULL);
    const size_t C = (size_t)sm->prompt_dim, M2 = (size_t)sm->mask_input_size * (size_t)sm->mask_input_size;
    const size_t NM = (size_t)sm->n_mask_tokens, HW = (size_t)s->orig_h * (size_t)s->orig_w;
    enum vlm_status st = VLM_STATUS_OK;
    float * tokens = malloc((size_t)n * (size_t)Nt * C * sizeof(float));
    float * mi = p0->mask_input ? malloc((size_t)n * M2 * sizeof(float)) : NULL;
    float * masks = malloc((size_t)n * NM * M2 * sizeof(float));
    float * iou = malloc((size_t)n * NM * sizeof(float));
    if (!tokens || !masks || !iou || (p0->mask_input && !mi)) {
        st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    for (int32_t i = 0; i < n; i++) {
        build_tokens(s, &prompts[idx[i]], tokens + (size_t)i * Nt * C);
        if (mi) memcpy(mi + (size_t)i * M2, prompts[idx[i]].mask_input, M2 * sizeof(float));
    }
    if (vlm_sam_decode(x, sm, &s->dec_cache, s->emb, s->emb_serial, n, Nt, tokens, mi, masks, iou) != VLM_STATUS_OK) {
        st = ctx_error(x, "SAM mask decoder");
        goto done;
    }
    for (int32_t i = 0; i < n; i++) {
        const struct vlm_sam_prompt * p = &prompts[idx[i]];
        struct vlm_masks * o = &out[idx[i]];
        // ref: mask_decoder.py MaskDecoder.forward: multimask -> tokens 1.., else token 0
        const int32_t first = p->multimask_output && NM > 1 ? 1 : 0, k = p->multimask_output && NM > 1 ? (int32_t)NM - 1 : 1;
        o->n_masks = k;
        o->low_res_size = sm->mask_input_size;
        o->width = s->orig_w;
        o->height = s->orig_h;
        o->masks = malloc((size_t)k * HW);
        o->iou = malloc((size_t)k * sizeof(float));
        o->low_res_logits = malloc((size_t)k * M2 * sizeof(float));
        if (!o->masks || !o->iou || !o->low_res_logits) {
            st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
            goto done;
        }
        for (int32_t j = 0; j < k; j++) {
            const float * lr = masks + ((size_t)i * NM + (size_t)(first + j)) * M2;
            o->iou[j] = iou[(size_t)i * NM + (size_t)(first + j)];
            memcpy(o->low_res_logits + (size_t)j * M2, lr, M2 * sizeof(float));
            if (vlm_sam_postprocess(x, sm, lr, s->in_h, s->in_w, s->orig_h, s->orig_w, o->masks + (size_t)j * HW) != VLM_STATUS_OK) {
                st = ctx_error(x, "SAM post-processing");
                goto done;
            }
        }
    }
done:
    free(tokens);
    free(mi);
    free(masks);
    free(iou);
    return st;
}

static enum vlm_status predict_batch_once(struct vlm_ctx * x, struct vlm_sam_session * s, const struct vlm_sam_prompt * prompts,
                                          int32_t n, struct vlm_masks * out) {
    if (n <= 0) return VLM_STATUS_INVALID_ARG;
    for (int32_t i = 0; i < n; i++) {
        enum vlm_status st = validate(s, &prompts[i], n > 1 ? i : -1);
        if (st != VLM_STATUS_OK) return st;
    }
    int32_t * idx = malloc((size_t)n * sizeof(int32_t));
    bool * done = calloc((size_t)n, sizeof(bool));
    enum vlm_status st = VLM_STATUS_OK;
    if (!idx || !done) {
        st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
        goto end;
    }
    // group prompts that share a token count and mask presence into one batched decode
    for (int32_t i = 0; i < n && st == VLM_STATUS_OK; i++) {
        if (done[i]) continue;
        int32_t m = 0;
        const int32_t ns = vlm_sam_sparse_count(s->sm, prompts[i].n_points, prompts[i].box != NULL);
        for (int32_t j = i; j < n; j++) {
            if (done[j] || vlm_sam_sparse_count(s->sm, prompts[j].n_points, prompts[j].box != NULL) != ns ||
                (prompts[j].mask_input != NULL) != (prompts[i].mask_input != NULL))
                continue;
            done[j] = true;
            idx[m++] = j;
        }
        st = predict_group(x, s, prompts, idx, m, out);
    }
end:
    if (st != VLM_STATUS_OK)
        for (int32_t i = 0; i < n; i++) vlm_masks_free(&out[i]);
    free(idx);
    free(done);
    return st;
}

enum vlm_status vlm_sam_predict_batch(struct vlm_sam_session * s, const struct vlm_sam_prompt * prompts, int32_t n,
                                      struct vlm_masks * out) {
    if (!s || !prompts || !out || n <= 0) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_sam_predict_batch: bad arguments");
    for (int32_t i = 0; i < n; i++) memset(&out[i], 0, sizeof out[i]);
    if (!s->has_image) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_sam_predict: no image set (call vlm_sam_set_image first)");
    struct vlm_ctx * x = vlm_model_ctx_acquire(s->model);
    if (!x) return vlm_last_status();
    enum vlm_status st = session_sync(s, x);
    if (st == VLM_STATUS_OK) st = predict_batch_once(x, s, prompts, n, out);
    if (st != VLM_STATUS_OK && retry_on_cpu(s, st, &x)) st = predict_batch_once(x, s, prompts, n, out);
    vlm_model_ctx_release(s->model, x);
    return st;
}

enum vlm_status vlm_sam_predict(struct vlm_sam_session * s, const struct vlm_sam_prompt * prompt, struct vlm_masks * out) {
    if (!prompt) {
        if (out) memset(out, 0, sizeof *out);
        return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_sam_predict: prompt is NULL");
    }
    return vlm_sam_predict_batch(s, prompt, 1, out);
}
