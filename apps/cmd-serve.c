// cmd-serve.c — `vlm serve`: a local web app and JSON API for interactive segmentation
// (SAM) with optional CLIP labels, on libmicrohttpd (one thread per connection).
//
// API (every error is {"error": "message"} with a 4xx / 5xx status):
//   GET  /v1/health                      {"status": "ok", "model", "backend", "clip", "vlm"}
//   POST /v1/images      raw image bytes {"id", "width", "height", "cached"}; id = FNV-1a 64 hex
//                                        of the bytes, so re-posting an image reuses its embedding
//   POST /v1/segment     {"image", "points": [[x, y, label]...], "box": [x0, y0, x1, y1],
//                         "multimask": bool, "mask_input": result id, "mask_index": k}
//                        -> {"id", "masks": [{"score", "box" (XYXY inclusive), "area", "png"}]}
//   POST /v1/everything  {"image", points_per_side, pred_iou_thresh, ... (vlm segment --everything)}
//   POST /v1/embed       {"image"} and/or {"texts": [...]}        (with --clip)
//   POST /v1/classify    {"image", "labels": [...], "template"}   (with --clip)
//   POST /v1/label       {"image", "mask": base64 PNG, "top": k}  (with --clip) best concepts of
//                        the object's cut-out (assets/concepts.txt)
//   POST /v1/chat/completions, GET /v1/models   (with --vlm) OpenAI's format: apps/serve-chat.c
//   GET  /, /app.js, ... the web page (assets/web)
//
// Concurrency: a model is used by one thread at a time, so every SAM call (encoder or
// decoder) holds sam_mu and every CLIP call clip_mu; other requests queue on the mutex.
// Embeddings live in an LRU cache bounded by --cache-mb (entries in use are never freed);
// low-res logits of the last RESULTS_MAX results are kept for mask_input.
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "concepts.h"
#include "vlm.h"

#define CMD "serve"

#ifndef VLM_HAVE_MHD
int vlm_cmd_serve(int argc, char ** argv) {
    (void)argc;
    (void)argv;
    return cli_fail(CMD, "this vlm was built without libmicrohttpd: install libmicrohttpd-dev (Debian) and re-run "
                         "cmake to get `vlm serve`");
}
#else

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "clip.h"
#include "serve-chat.h"
#include "serve.h"

#define RESULTS_MAX 64
#define DRAIN_EXTRA (64u << 20)   // bytes read and dropped past --max-body before cutting a client off

// One uploaded image: its pixels and SAM session (holding the embedding).
struct serve_image {
    uint64_t                 hash;
    char                     id[17];
    struct vlm_image         img;
    struct vlm_sam_session * sam;
    size_t                   bytes;
    int                      refs;
    bool                     dead;   // evicted while in use: freed by the last release
    uint64_t                 last_used;
    struct serve_image *     next;
};

// Low-res logits of one segment result (for mask_input).
struct serve_result {
    char     id[24];
    uint64_t image_hash;
    int32_t  n_masks, best;
    float *  logits;   // [n_masks, L, L], L = vlm_sam_low_res_size(model)
};

struct serve {
    struct vlm_model * sam, * clip;
    struct vlm_serve_chat * chat;   // with --vlm
    const char *       sam_path, * clip_path;
    pthread_mutex_t    sam_mu, clip_mu, cache_mu, results_mu;
    size_t             max_body, cache_budget, cache_bytes;
    struct serve_image * images;
    uint64_t           tick;
    struct serve_result results[RESULTS_MAX];
    uint64_t           n_results;
    char               web_dir[PATH_MAX];
    // concepts (with --clip): names and text features [n, e], computed in the background
    pthread_mutex_t    concepts_mu;
    pthread_cond_t     concepts_cv;
    int                concepts_state;   // 0 computing, 1 ready, -1 failed
    char               concepts_error[PATH_MAX + 128];
    struct vlm_concepts concepts;
};

// ---- responses ------------------------------------------------------------------------------

static enum MHD_Result send_buf(struct MHD_Connection * c, unsigned status, const char * type, void * data, size_t n,
                                bool cache) {
    struct MHD_Response * r = MHD_create_response_from_buffer(n, data, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(data);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", cache ? "no-cache" : "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection * c, unsigned status, cJSON * o) {
    char * s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s) {
        static const char oom[] = "{\"error\": \"out of memory\"}";
        char * d = strdup(oom);
        return d ? send_buf(c, 500, "application/json", d, strlen(d), false) : MHD_NO;
    }
    return send_buf(c, status, "application/json", s, strlen(s), false);
}

static enum MHD_Result send_error(struct MHD_Connection * c, unsigned status, const char * fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum MHD_Result send_error(struct MHD_Connection * c, unsigned status, const char * fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON * o = cJSON_CreateObject();
    if (o) cJSON_AddStringToObject(o, "error", msg);
    return send_json(c, status, o);
}

// HTTP status of a library failure.
static unsigned status_http(enum vlm_status st) {
    switch (st) {
    case VLM_STATUS_INVALID_ARG:
    case VLM_STATUS_BAD_IMAGE:
    case VLM_STATUS_UNSUPPORTED: return 400;
    case VLM_STATUS_OUT_OF_MEMORY:
    case VLM_STATUS_DEVICE_OOM: return 503;
    default: return 500;
    }
}

// ---- image cache ----------------------------------------------------------------------------

static void image_free(struct serve_image * e) {
    if (!e) return;
    vlm_sam_session_free(e->sam);
    vlm_image_free(&e->img);
    free(e);
}

// Evicts least recently used entries until the cache fits the budget (cache_mu held); keep is
// never evicted. Entries in use are unlinked and freed by their last release.
static void cache_evict(struct serve * sv, const struct serve_image * keep) {
    while (sv->cache_bytes > sv->cache_budget) {
        struct serve_image ** victim = NULL;
        for (struct serve_image ** p = &sv->images; *p; p = &(*p)->next)
            if (*p != keep && (!victim || (*p)->last_used < (*victim)->last_used)) victim = p;
        if (!victim) return;
        struct serve_image * e = *victim;
        *victim = e->next;
        sv->cache_bytes -= e->bytes;
        if (e->refs == 0) image_free(e);
        else e->dead = true;
    }
}

// Finds an image by id and takes a reference (NULL when unknown or evicted).
static struct serve_image * cache_get(struct serve * sv, const char * id) {
    pthread_mutex_lock(&sv->cache_mu);
    struct serve_image * e = sv->images;
    while (e && strcmp(e->id, id) != 0) e = e->next;
    if (e) {
        e->refs++;
        e->last_used = ++sv->tick;
    }
    pthread_mutex_unlock(&sv->cache_mu);
    return e;
}

static void cache_release(struct serve * sv, struct serve_image * e) {
    if (!e) return;
    pthread_mutex_lock(&sv->cache_mu);
    bool free_it = --e->refs == 0 && e->dead;
    pthread_mutex_unlock(&sv->cache_mu);
    if (free_it) image_free(e);
}

// The cache lent to chat requests (struct vlm_serve_chat_images).
static void * chat_image_get(void * user, const char * id, const struct vlm_image ** img, struct vlm_sam_session ** sam) {
    struct serve_image * e = cache_get(user, id);
    if (e) {
        *img = &e->img;
        *sam = e->sam;
    }
    return e;
}

static void chat_image_release(void * user, void * ref) { cache_release(user, ref); }

// ---- results store ----------------------------------------------------------------------------

static void results_put(struct serve * sv, uint64_t image_hash, const struct vlm_masks * m, char id_out[24]) {
    size_t n = (size_t)m->n_masks * (size_t)m->low_res_size * (size_t)m->low_res_size;
    float * copy = malloc(n * sizeof(float));
    if (copy) memcpy(copy, m->low_res_logits, n * sizeof(float));
    int32_t best = 0;
    for (int32_t i = 1; i < m->n_masks; i++)
        if (m->iou[i] > m->iou[best]) best = i;
    pthread_mutex_lock(&sv->results_mu);
    uint64_t k = ++sv->n_results;
    struct serve_result * r = &sv->results[k % RESULTS_MAX];
    free(r->logits);
    snprintf(r->id, sizeof r->id, "r%llu", (unsigned long long)k);
    r->image_hash = image_hash;
    r->n_masks = copy ? m->n_masks : 0;
    r->best = best;
    r->logits = copy;
    snprintf(id_out, 24, "%s", r->id);
    pthread_mutex_unlock(&sv->results_mu);
}

// Copies mask `index` (-1: the best) of result id into out [L * L]. 0 ok, 404 unknown, 400 bad index.
static int results_get(struct serve * sv, const char * id, int index, float * out) {
    const size_t L = (size_t)vlm_sam_low_res_size(sv->sam);
    int rc = 404;
    pthread_mutex_lock(&sv->results_mu);
    for (int i = 0; i < RESULTS_MAX; i++) {
        struct serve_result * r = &sv->results[i];
        if (!r->logits || strcmp(r->id, id) != 0) continue;
        if (index < 0) index = r->best;
        if (index >= r->n_masks) {
            rc = 400;
            break;
        }
        memcpy(out, r->logits + (size_t)index * L * L, sizeof(float) * L * L);
        rc = 0;
        break;
    }
    pthread_mutex_unlock(&sv->results_mu);
    return rc;
}

// ---- request helpers ----------------------------------------------------------------------------

// Parses the JSON body of endpoint ep into q (vlm_serve_parse_request) and takes a reference to
// its image (*e, NULL when the request names none); on failure sends the 4xx and returns false.
// q needs vlm_serve_request_free either way.
static bool begin_request(struct serve * sv, struct MHD_Connection * c, const struct vlm_serve_body * cn,
                          enum vlm_serve_endpoint ep, struct vlm_serve_request * q, struct serve_image ** e,
                          enum MHD_Result * ret) {
    char err[512];
    struct vlm_sam_everything_params defaults = vlm_sam_everything_default_params();
    *e = NULL;
    int rc = vlm_serve_parse_request(ep, cn->data, cn->n, &defaults, q, err, sizeof err);
    if (rc) {
        *ret = send_error(c, (unsigned)rc, "%s", err);
        return false;
    }
    if (q->image && !(*e = cache_get(sv, q->image))) {
        *ret = send_error(c, 404, "unknown image id '%.64s' (never uploaded, or evicted from the cache: POST it again "
                                  "to /v1/images)", q->image);
        return false;
    }
    return true;
}

// A mask object: score, box, area, png (+ extra fields by the caller).
static cJSON * mask_json(const uint8_t * m, int32_t w, int32_t h, double score) {
    int32_t box[4];
    int64_t area = vlm_mask_box(m, w, h, box);
    size_t n = 0;
    uint8_t * gray = malloc((size_t)w * h), * png = NULL;   // 0 / 1 -> 0 / 255
    for (size_t i = 0; gray && i < (size_t)w * h; i++) gray[i] = m[i] ? 255 : 0;
    if (gray) png = vlm_png_encode(gray, w, h, 1, &n);
    free(gray);
    char * b64 = png ? vlm_serve_base64_encode(png, n) : NULL;
    free(png);
    cJSON * o = b64 ? cJSON_CreateObject() : NULL;
    if (!o) {
        free(b64);
        return NULL;
    }
    cJSON_AddNumberToObject(o, "score", score);
    cJSON * b = cJSON_AddArrayToObject(o, "box");
    for (int k = 0; k < 4; k++) cJSON_AddItemToArray(b, cJSON_CreateNumber(box[k]));
    cJSON_AddNumberToObject(o, "area", (double)area);
    cJSON_AddStringToObject(o, "png", b64);
    free(b64);
    return o;
}

// ---- handlers ----------------------------------------------------------------------------------

static enum MHD_Result h_health(struct serve * sv, struct MHD_Connection * c) {
    cJSON * o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ok");
    if (sv->sam) cJSON_AddStringToObject(o, "model", sv->sam_path);
    else cJSON_AddNullToObject(o, "model");
    cJSON_AddStringToObject(o, "backend", sv->sam ? vlm_model_backend_name(sv->sam) : vlm_serve_chat_backend(sv->chat));
    if (sv->clip) cJSON_AddStringToObject(o, "clip", sv->clip_path);
    else cJSON_AddNullToObject(o, "clip");
    if (sv->chat) cJSON_AddStringToObject(o, "vlm", vlm_serve_chat_model_name(sv->chat));
    else cJSON_AddNullToObject(o, "vlm");
    cJSON_AddStringToObject(o, "version", vlm_version());
    return send_json(c, 200, o);
}

static enum MHD_Result h_images(struct serve * sv, struct MHD_Connection * c, struct vlm_serve_body * cn) {
    if (!cn->n) return send_error(c, 400, "empty body: POST the raw image file bytes (PNG, JPEG, WebP, ...)");
    uint64_t h = vlm_hash_bytes(cn->data, cn->n);
    char id[17];
    snprintf(id, sizeof id, "%016llx", (unsigned long long)h);
    bool cached = true;
    struct serve_image * e = cache_get(sv, id);
    if (!e) {
        cached = false;
        struct serve_image * n = calloc(1, sizeof *n);
        if (!n) return send_error(c, 503, "out of memory");
        n->hash = h;
        memcpy(n->id, id, sizeof id);
        enum vlm_status st = vlm_image_decode((const uint8_t *)cn->data, cn->n, &n->img);
        if (st != VLM_STATUS_OK) {
            image_free(n);
            const char * msg = vlm_last_error();
            return send_error(c, strstr(msg, "over the limit") ? 413 : status_http(st), "%s", msg);
        }
        vlm_serve_body_free(cn);   // the pixels are decoded: drop the file early
        st = sv->sam ? vlm_sam_session_new(sv->sam, &n->sam) : VLM_STATUS_OK;
        if (st != VLM_STATUS_OK) {
            image_free(n);
            return send_error(c, status_http(st), "%s", vlm_last_error());
        }
        // one encoder run at a time; the entry goes into the cache before sam_mu is released, so
        // a concurrent upload of the same image (waiting on sam_mu) finds it there
        char msg[1024] = "";
        pthread_mutex_lock(&sv->sam_mu);
        e = cache_get(sv, id);
        if (!e) {
            st = n->sam ? vlm_sam_set_image(n->sam, &n->img) : VLM_STATUS_OK;
            if (st != VLM_STATUS_OK) {
                snprintf(msg, sizeof msg, "%s", vlm_last_error());
            } else {
                size_t esz = 0;
                if (n->sam) vlm_sam_session_get_tensor(n->sam, "image_embeddings", NULL, 0, &esz);
                n->bytes = esz + (size_t)n->img.width * n->img.height * 4 + sizeof *n;
                pthread_mutex_lock(&sv->cache_mu);
                n->refs = 1;
                n->last_used = ++sv->tick;
                n->next = sv->images;
                sv->images = n;
                sv->cache_bytes += n->bytes;
                cache_evict(sv, n);
                pthread_mutex_unlock(&sv->cache_mu);
                e = n;
                n = NULL;
            }
        } else {
            cached = true;
        }
        pthread_mutex_unlock(&sv->sam_mu);
        image_free(n);   // not used: failed, or the image was cached meanwhile
        if (!e) return send_error(c, status_http(st), "image encoder: %s", msg);
    }
    cJSON * o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", e->id);
    cJSON_AddNumberToObject(o, "width", e->img.width);
    cJSON_AddNumberToObject(o, "height", e->img.height);
    cJSON_AddBoolToObject(o, "cached", cached);
    cache_release(sv, e);
    return send_json(c, 200, o);
}

static enum MHD_Result h_segment(struct serve * sv, struct MHD_Connection * c, struct vlm_serve_body * cn) {
    enum MHD_Result ret = MHD_NO;
    struct serve_image * e = NULL;
    struct vlm_serve_request q;
    struct vlm_masks masks = { 0 };
    float * mask_input = NULL;
    cJSON * out = NULL;
    char err[512];
    if (!begin_request(sv, c, cn, VLM_SERVE_SEGMENT, &q, &e, &ret)) goto done;
    int rc = vlm_serve_check_box(&q, e->img.width, e->img.height, err, sizeof err);
    if (rc) { ret = send_error(c, (unsigned)rc, "%s", err); goto done; }
    struct vlm_box box = { (float)q.box[0], (float)q.box[1], (float)q.box[2], (float)q.box[3] };
    if (q.mask_input) {
        const size_t L = (size_t)vlm_sam_low_res_size(sv->sam);
        if (!(mask_input = malloc(sizeof(float) * L * L))) {
            ret = send_error(c, 503, "out of memory");
            goto done;
        }
        int r = results_get(sv, q.mask_input, q.mask_index, mask_input);
        if (r == 404) { ret = send_error(c, 404, "unknown result id '%.64s' for mask_input (the server keeps the last %d)", q.mask_input, RESULTS_MAX); goto done; }
        if (r == 400) { ret = send_error(c, 400, "\"mask_index\" %d: result '%.64s' has fewer masks", q.mask_index, q.mask_input); goto done; }
    }
    struct vlm_sam_prompt prompt = { .points = q.n_points ? q.points : NULL, .n_points = q.n_points,
                                     .box = q.has_box ? &box : NULL, .mask_input = mask_input,
                                     .multimask_output = q.multimask };
    double t0 = vlm_now_ms(), t1 = 0;
    enum vlm_status st;
    LOCKED_CALL(&sv->sam_mu, st, (t1 = vlm_now_ms(), vlm_sam_predict(e->sam, &prompt, &masks)));
    double t2 = vlm_now_ms();
    if (st != VLM_STATUS_OK) { ret = send_error(c, status_http(st), "%s", vlm_last_error()); goto done; }

    char rid[24];
    results_put(sv, e->hash, &masks, rid);
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "id", rid);
    cJSON_AddStringToObject(out, "image", e->id);
    cJSON_AddNumberToObject(out, "width", masks.width);
    cJSON_AddNumberToObject(out, "height", masks.height);
    cJSON * arr = cJSON_AddArrayToObject(out, "masks");
    for (int32_t i = 0; i < masks.n_masks; i++) {
        cJSON * m = mask_json(masks.masks + (size_t)i * masks.width * masks.height, masks.width, masks.height, masks.iou[i]);
        if (!m) { ret = send_error(c, 503, "out of memory"); goto done; }
        cJSON_AddItemToArray(arr, m);
    }
    cJSON * tm = cJSON_AddObjectToObject(out, "timings_ms");
    cJSON_AddNumberToObject(tm, "queue", t1 - t0);
    cJSON_AddNumberToObject(tm, "decoder", t2 - t1);
    cJSON_AddNumberToObject(tm, "encode", vlm_now_ms() - t2);
    ret = send_json(c, 200, out);
    out = NULL;
done:
    cJSON_Delete(out);
    vlm_serve_request_free(&q);
    free(mask_input);
    vlm_masks_free(&masks);
    cache_release(sv, e);
    return ret;
}

static enum MHD_Result h_everything(struct serve * sv, struct MHD_Connection * c, struct vlm_serve_body * cn) {
    enum MHD_Result ret = MHD_NO;
    struct serve_image * e = NULL;
    struct vlm_serve_request q;
    struct vlm_sam_everything_result er = { 0 };
    cJSON * out = NULL;
    if (!begin_request(sv, c, cn, VLM_SERVE_EVERYTHING, &q, &e, &ret)) goto done;
    const struct vlm_sam_everything_params p = q.everything;
    enum vlm_status st;
    LOCKED_CALL(&sv->sam_mu, st, vlm_sam_everything(e->sam, p.crop_n_layers > 0 ? &e->img : NULL, &p, &er));
    if (st != VLM_STATUS_OK) { ret = send_error(c, status_http(st), "%s", vlm_last_error()); goto done; }
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "image", e->id);
    cJSON_AddNumberToObject(out, "width", er.width);
    cJSON_AddNumberToObject(out, "height", er.height);
    cJSON * arr = cJSON_AddArrayToObject(out, "masks");
    for (int32_t i = 0; i < er.n_masks; i++) {
        const struct vlm_sam_annotation * a = &er.masks[i];
        cJSON * m = mask_json(a->segmentation, er.width, er.height, a->predicted_iou);
        if (!m) { ret = send_error(c, 503, "out of memory"); goto done; }
        cJSON_AddNumberToObject(m, "stability_score", a->stability_score);
        cJSON * pc = cJSON_AddArrayToObject(m, "point");
        cJSON_AddItemToArray(pc, cJSON_CreateNumber(a->point_coords[0]));
        cJSON_AddItemToArray(pc, cJSON_CreateNumber(a->point_coords[1]));
        cJSON_AddItemToArray(arr, m);
    }
    ret = send_json(c, 200, out);
    out = NULL;
done:
    cJSON_Delete(out);
    vlm_serve_request_free(&q);
    vlm_sam_everything_result_free(&er);
    cache_release(sv, e);
    return ret;
}

static cJSON * float_array(const float * v, int32_t n) {
    cJSON * a = cJSON_CreateArray();
    for (int32_t i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static enum MHD_Result h_embed(struct serve * sv, struct MHD_Connection * c, struct vlm_serve_body * cn) {
    enum MHD_Result ret = MHD_NO;
    struct serve_image * e = NULL;
    struct vlm_serve_request q;
    float * f = NULL;
    cJSON * out = NULL;
    if (!begin_request(sv, c, cn, VLM_SERVE_EMBED, &q, &e, &ret)) goto done;
    const char * const * texts = q.texts;
    const int32_t n_texts = q.n_texts;
    int32_t dim = vlm_clip_embed_dim(sv->clip);
    if (!(f = malloc(sizeof(float) * (size_t)dim * (n_texts + 1)))) { ret = send_error(c, 503, "out of memory"); goto done; }
    struct vlm_clip_params cp = vlm_clip_default_params();
    enum vlm_status st = VLM_STATUS_OK;
    if (e) LOCKED_CALL(&sv->clip_mu, st, vlm_clip_encode_image(sv->clip, &e->img, &cp, f, (size_t)dim));
    if (st == VLM_STATUS_OK && n_texts)
        LOCKED_CALL(&sv->clip_mu, st, vlm_clip_encode_texts(sv->clip, texts, n_texts, &cp, f + dim, (size_t)dim * n_texts, NULL));
    if (st != VLM_STATUS_OK) { ret = send_error(c, status_http(st), "%s", vlm_last_error()); goto done; }
    out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "dim", dim);
    if (e) cJSON_AddItemToObject(out, "image_embedding", float_array(f, dim));
    if (n_texts) {
        cJSON * a = cJSON_AddArrayToObject(out, "text_embeddings");
        for (int32_t i = 0; i < n_texts; i++) cJSON_AddItemToArray(a, float_array(f + (size_t)dim * (i + 1), dim));
    }
    ret = send_json(c, 200, out);
    out = NULL;
done:
    cJSON_Delete(out);
    vlm_serve_request_free(&q);
    free(f);
    cache_release(sv, e);
    return ret;
}

static enum MHD_Result h_classify(struct serve * sv, struct MHD_Connection * c, struct vlm_serve_body * cn) {
    enum MHD_Result ret = MHD_NO;
    struct serve_image * e = NULL;
    struct vlm_serve_request q;
    float * probs = NULL;
    cJSON * out = NULL;
    if (!begin_request(sv, c, cn, VLM_SERVE_CLASSIFY, &q, &e, &ret)) goto done;
    const char * const * labels = q.texts;
    const int32_t n = q.n_texts;
    if (!(probs = malloc(sizeof(float) * (size_t)n))) { ret = send_error(c, 503, "out of memory"); goto done; }
    enum vlm_status st;
    LOCKED_CALL(&sv->clip_mu, st, vlm_clip_classify(sv->clip, &e->img, labels, n, q.template_, probs));
    if (st != VLM_STATUS_OK) { ret = send_error(c, status_http(st), "%s", vlm_last_error()); goto done; }
    out = cJSON_CreateObject();
    cJSON * a = cJSON_AddArrayToObject(out, "results");
    for (int32_t i = 0; i < n; i++) {
        cJSON * o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "label", labels[i]);
        cJSON_AddNumberToObject(o, "prob", probs[i]);
        cJSON_AddItemToArray(a, o);
    }
    cJSON_AddItemToObject(out, "probs", float_array(probs, n));
    ret = send_json(c, 200, out);
    out = NULL;
done:
    cJSON_Delete(out);
    vlm_serve_request_free(&q);
    free(probs);
    cache_release(sv, e);
    return ret;
}

// ---- concepts (CLIP labels of objects) ----------------------------------------------------------

static void * concepts_thread(void * arg) {
    struct serve * sv = arg;
    char err[PATH_MAX + 256] = "";
    struct vlm_concepts cs;
    bool ok = vlm_concepts_load("serve", sv->clip, sv->clip_path, NULL, true, &sv->clip_mu, &cs, err, sizeof err);
    pthread_mutex_lock(&sv->concepts_mu);
    if (!ok) {
        snprintf(sv->concepts_error, sizeof sv->concepts_error, "%s", err);
        sv->concepts_state = -1;
        fprintf(stderr, "vlm serve: concept labels unavailable: %s\n", err);
    } else {
        sv->concepts = cs;
        sv->concepts_state = 1;
        fprintf(stderr, "vlm serve: %d concept labels ready\n", cs.n);
    }
    pthread_cond_broadcast(&sv->concepts_cv);
    pthread_mutex_unlock(&sv->concepts_mu);
    return NULL;
}

static enum MHD_Result h_label(struct serve * sv, struct MHD_Connection * c, struct vlm_serve_body * cn) {
    enum MHD_Result ret = MHD_NO;
    struct serve_image * e = NULL;
    struct vlm_serve_request q;
    struct vlm_image mask = { 0 }, crop = { 0 };
    float * feat = NULL;
    struct vlm_ranked * ranked = NULL;
    cJSON * out = NULL;
    if (!begin_request(sv, c, cn, VLM_SERVE_LABEL, &q, &e, &ret)) goto done;
    const double top = q.top;
    if (vlm_image_decode(q.mask_png, q.n_mask_png, &mask) != VLM_STATUS_OK) { ret = send_error(c, 400, "\"mask\": %s", vlm_last_error()); goto done; }
    const int32_t W = e->img.width, H = e->img.height;
    if (mask.width != W || mask.height != H) {
        ret = send_error(c, 400, "\"mask\" is %dx%d, the image %dx%d", mask.width, mask.height, W, H);
        goto done;
    }
    int32_t x0 = W, y0 = H, x1 = -1, y1 = -1;
    for (int32_t y = 0; y < H; y++)
        for (int32_t x = 0; x < W; x++)
            if (mask.data[3 * ((size_t)y * W + x)] > 127) {
                if (x < x0) x0 = x;
                if (x > x1) x1 = x;
                if (y < y0) y0 = y;
                if (y > y1) y1 = y;
            }
    if (x1 < 0) { ret = send_error(c, 400, "\"mask\" is empty"); goto done; }
    // the cut-out: the object's box with everything outside the mask white
    crop.width = x1 - x0 + 1;
    crop.height = y1 - y0 + 1;
    crop.channels = 3;
    if (!(crop.data = malloc((size_t)crop.width * crop.height * 3))) { ret = send_error(c, 503, "out of memory"); goto done; }
    for (int32_t y = 0; y < crop.height; y++)
        for (int32_t x = 0; x < crop.width; x++) {
            size_t si = (size_t)(y + y0) * W + (x + x0), di = (size_t)y * crop.width + x;
            bool in = mask.data[3 * si] > 127;
            for (int k = 0; k < 3; k++) crop.data[3 * di + k] = in ? e->img.data[3 * si + k] : 255;
        }
    pthread_mutex_lock(&sv->concepts_mu);
    while (sv->concepts_state == 0) pthread_cond_wait(&sv->concepts_cv, &sv->concepts_mu);
    int state = sv->concepts_state;
    pthread_mutex_unlock(&sv->concepts_mu);
    if (state < 0) { ret = send_error(c, 503, "concept labels unavailable: %s", sv->concepts_error); goto done; }
    int32_t dim = vlm_clip_embed_dim(sv->clip);
    if (!(feat = malloc(sizeof(float) * (size_t)dim))) { ret = send_error(c, 503, "out of memory"); goto done; }
    struct vlm_clip_params cp = vlm_clip_default_params();
    enum vlm_status st;
    LOCKED_CALL(&sv->clip_mu, st, vlm_clip_encode_image(sv->clip, &crop, &cp, feat, (size_t)dim));
    if (st != VLM_STATUS_OK) { ret = send_error(c, status_http(st), "%s", vlm_last_error()); goto done; }
    // softmax over all concepts of logit_scale * cosine; the top k, best first
    const int32_t nc = sv->concepts.n, k = (int32_t)top < nc ? (int32_t)top : nc;
    if (!(ranked = malloc(sizeof *ranked * (size_t)nc)) ||
        !vlm_rank_texts(feat, sv->concepts.feats, nc, dim, vlm_clip_logit_scale(sv->clip), ranked)) {
        ret = send_error(c, 503, "out of memory");
        goto done;
    }
    out = cJSON_CreateObject();
    cJSON * a = cJSON_AddArrayToObject(out, "concepts");
    for (int32_t i = 0; i < k; i++) {
        cJSON * o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "label", sv->concepts.names[ranked[i].index]);
        cJSON_AddNumberToObject(o, "prob", ranked[i].prob);
        cJSON_AddNumberToObject(o, "cosine", ranked[i].cosine);
        cJSON_AddItemToArray(a, o);
    }
    ret = send_json(c, 200, out);
    out = NULL;
done:
    cJSON_Delete(out);
    vlm_serve_request_free(&q);
    free(feat);
    free(ranked);
    vlm_image_free(&mask);
    vlm_image_free(&crop);
    cache_release(sv, e);
    return ret;
}

// ---- static files (assets/web) ----------------------------------------------------------------

static enum MHD_Result h_static(struct serve * sv, struct MHD_Connection * c, const char * url) {
    const char * type = NULL, * name = vlm_serve_static_name(url, &type);
    if (!name) return send_error(c, 404, "not found: %.200s", url);
    if (!sv->web_dir[0]) return send_error(c, 404, "the web page (assets/web) was not found: set VLM_ASSETS to the assets folder");
    char path[PATH_MAX + 80];
    snprintf(path, sizeof path, "%s/%s", sv->web_dir, name);
    size_t size = 0;
    char * buf = vlm_read_file(path, 64u << 20, &size);
    if (!buf) return errno == ENOENT ? send_error(c, 404, "not found: %.200s", url) : send_error(c, 500, "%s: cannot read", path);
    return send_buf(c, 200, type, buf, size, true);
}

// ---- dispatch ------------------------------------------------------------------------------------

static enum MHD_Result on_request(void * cls, struct MHD_Connection * c, const char * url, const char * method,
                                  const char * version, const char * upload_data, size_t * upload_data_size,
                                  void ** con_cls) {
    (void)version;
    struct serve * sv = cls;
    struct vlm_serve_body * cn = *con_cls;
    char err[512];
    int rc;
    if (!cn) {
        if (!(cn = calloc(1, sizeof *cn))) return MHD_NO;
        *con_cls = cn;
        const char * cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if ((rc = vlm_serve_body_begin(cn, cl, sv->max_body, DRAIN_EXTRA, err, sizeof err)))
            return send_error(c, (unsigned)rc, "%s", err);
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t k = *upload_data_size;
        *upload_data_size = 0;
        if ((rc = vlm_serve_body_add(cn, upload_data, k, sv->max_body, DRAIN_EXTRA, err, sizeof err)))
            return send_error(c, (unsigned)rc, "%s", err);
        return MHD_YES;
    }
    if (cn->too_big) return send_error(c, 413, "request body over the limit of %zu bytes (--max-body)", sv->max_body);

    enum vlm_serve_endpoint ep;
    unsigned models = (sv->sam ? VLM_SERVE_HAVE_SAM : 0) | (sv->clip ? VLM_SERVE_HAVE_CLIP : 0) |
                      (sv->chat ? VLM_SERVE_HAVE_VLM : 0);
    if ((rc = vlm_serve_route(url, method, models, &ep, err, sizeof err)))
        return send_error(c, (unsigned)rc, "%s", err);
    switch (ep) {
    case VLM_SERVE_HEALTH: return h_health(sv, c);
    case VLM_SERVE_IMAGES: return h_images(sv, c, cn);
    case VLM_SERVE_SEGMENT: return h_segment(sv, c, cn);
    case VLM_SERVE_EVERYTHING: return h_everything(sv, c, cn);
    case VLM_SERVE_EMBED: return h_embed(sv, c, cn);
    case VLM_SERVE_CLASSIFY: return h_classify(sv, c, cn);
    case VLM_SERVE_LABEL: return h_label(sv, c, cn);
    case VLM_SERVE_CHAT: return vlm_serve_chat_completions(sv->chat, c, cn->data, cn->n);
    case VLM_SERVE_MODELS: return vlm_serve_chat_models(sv->chat, c);
    default: return h_static(sv, c, url);
    }
}

static void on_completed(void * cls, struct MHD_Connection * c, void ** con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    struct vlm_serve_body * cn = *con_cls;
    if (cn) {
        vlm_serve_body_free(cn);
        free(cn);
    }
    *con_cls = NULL;
}

// ---- the command -------------------------------------------------------------------------------

static void usage(FILE * f) {
    fprintf(f,
            "usage: vlm serve [-m SAM_MODEL] [--clip CLIP_MODEL] [--vlm TEXT.gguf --mmproj MMPROJ.gguf]\n"
            "                 [--host 127.0.0.1] [--port 8080]\n"
            "                 [--max-body MB] [--cache-mb N] [--max-pixels N] [--timeout S] [--max-connections N]\n\n"
            "A local web page (open the printed URL) and JSON API for interactive segmentation:\n"
            "click points, drag boxes, segment everything, export masks, cut-outs and COCO JSON.\n"
            "With --clip each object is labelled with its best concepts (assets/concepts.txt).\n"
            "With --vlm the page answers questions about the image or a clicked object, and\n"
            "POST /v1/chat/completions speaks OpenAI's chat API (base URL http://HOST:PORT/v1).\n\n"
            "  -m, --model FILE      SAM model (.safetensors file or folder)\n"
            "  --clip FILE           CLIP model: enables /v1/embed, /v1/classify and object labels\n"
            "  --vlm FILE            SmolVLM text model (GGUF): enables /v1/chat/completions\n"
            "  --mmproj FILE         its vision projector (GGUF), needed with --vlm\n"
            "  --host ADDR           address to listen on (default 127.0.0.1: this machine only)\n"
            "  --port N              TCP port (default 8080; 0 picks a free one)\n"
            "  --max-body MB         largest request body (default 32; larger ones get 413)\n"
            "  --cache-mb N          memory for cached image embeddings, LRU (default 1024)\n"
            "  --timeout S           idle connection timeout, and the longest wait for the VLM, in\n"
            "                        seconds (default 60)\n"
            "  --max-connections N   concurrent connections (default 256)\n"
            CLI_BACKEND_USAGE CLI_MODEL_USAGE CLI_LIMITS_USAGE "\n"
            "API: GET /v1/health; POST /v1/images (raw bytes), /v1/segment, /v1/everything (JSON);\n"
            "with --clip: POST /v1/embed, /v1/classify, /v1/label. Errors: {\"error\": \"...\"}.\n"
            "with --vlm: POST /v1/chat/completions, GET /v1/models (errors as OpenAI's: {\"error\": {\"message\"}}).\n");
}

static bool parse_num(const char * s, double lo, double hi, double * out) {
    char * end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

static bool find_web_dir(char * out, size_t n) {
    char p[PATH_MAX];
    if (!vlm_clip_find_asset("web/index.html", p, sizeof p)) return false;
    char * slash = strrchr(p, '/');
    if (slash) *slash = 0;
    snprintf(out, n, "%s", p);
    return true;
}

int vlm_cmd_serve(int argc, char ** argv) {
    struct vlm_model_params mp = vlm_model_default_params();
    const char * model_path = NULL, * clip_path = NULL, * vlm_path = NULL, * mmproj_path = NULL, * host = "127.0.0.1";
    double port = 8080, max_body_mb = 32, cache_mb = 1024, timeout = 60, max_conn = 256;
    for (int i = 1; i < argc; i++) {
        const char * a = argv[i];
        int c = cli_common_option(CMD, argc, argv, &i, &mp);
        if (c < 0) return 2;
        if (c > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (a[0] != '-') return cli_usage_error(CMD, "unexpected argument '%s'", a);
        if (i + 1 >= argc) return cli_usage_error(CMD, "%s needs a value", a);
        const char * v = argv[++i];
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model_path = v;
        else if (!strcmp(a, "--clip")) clip_path = v;
        else if (!strcmp(a, "--vlm")) vlm_path = v;
        else if (!strcmp(a, "--mmproj")) mmproj_path = v;
        else if (!strcmp(a, "--host")) host = v;
        else if (!strcmp(a, "--port")) {
            if (!parse_num(v, 0, 65535, &port) || port != floor(port)) return cli_usage_error(CMD, "--port takes 0..65535, not '%s'", v);
        } else if (!strcmp(a, "--max-body")) {
            if (!parse_num(v, 0.001, 4096, &max_body_mb)) return cli_usage_error(CMD, "--max-body takes megabytes (0.001..4096), not '%s'", v);
        } else if (!strcmp(a, "--cache-mb")) {
            if (!parse_num(v, 1, 1 << 20, &cache_mb)) return cli_usage_error(CMD, "--cache-mb takes megabytes (>= 1), not '%s'", v);
        } else if (!strcmp(a, "--timeout")) {
            if (!parse_num(v, 1, 86400, &timeout)) return cli_usage_error(CMD, "--timeout takes seconds (1..86400), not '%s'", v);
        } else if (!strcmp(a, "--max-connections")) {
            if (!parse_num(v, 1, 65536, &max_conn)) return cli_usage_error(CMD, "--max-connections takes 1..65536, not '%s'", v);
        } else {
            return cli_usage_error(CMD, "unknown option '%s'", a);
        }
    }
    if (mmproj_path && !vlm_path) return cli_usage_error(CMD, "--mmproj goes with --vlm");
    // models: paths or registry names; without -m and --vlm the default SAM
    char sam_buf[PATH_MAX], clip_buf[PATH_MAX], vlm_buf[PATH_MAX], mmproj_buf[PATH_MAX];
    int vlm_kind = vlm_path ? cli_resolve_model(CMD, "--vlm", vlm_path, CMD, "text", vlm_buf, sizeof vlm_buf) : 1;
    if (!vlm_kind) return 1;
    if (vlm_path && !mmproj_path && vlm_kind == 1) return cli_usage_error(CMD, "--vlm TEXT.gguf needs --mmproj MMPROJ.gguf");
    const char * mmproj_opt = mmproj_path ? "--mmproj" : "--vlm", * mmproj_arg = mmproj_path ? mmproj_path : vlm_path;
    if ((vlm_path && !cli_resolve_model(CMD, mmproj_opt, mmproj_arg, CMD, "mmproj", mmproj_buf, sizeof mmproj_buf)) ||
        ((model_path || !vlm_path) && !cli_resolve_model(CMD, "-m", model_path, CMD, "model", sam_buf, sizeof sam_buf)) ||
        (clip_path && !cli_resolve_model(CMD, "--clip", clip_path, "embed", "model", clip_buf, sizeof clip_buf)))
        return 1;
    if (vlm_path) vlm_path = vlm_buf, mmproj_path = mmproj_buf;
    if (model_path || !vlm_path) model_path = sam_buf;
    if (clip_path) clip_path = clip_buf;

    // resolve the address before loading models (a typo should fail fast)
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
    struct addrinfo * ai = NULL;
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", (int)port);
    int gai = getaddrinfo(host, port_s, &hints, &ai);
    if (gai != 0 || !ai) return cli_usage_error(CMD, "--host %s: %s", host, gai_strerror(gai));

    int rc = 1;
    struct MHD_Daemon * d = NULL;
    pthread_t concepts_tid;
    bool concepts_started = false;
    struct serve * sv = calloc(1, sizeof *sv);
    if (!sv) {
        freeaddrinfo(ai);
        return cli_fail(CMD, "out of memory");
    }
    pthread_mutex_init(&sv->sam_mu, NULL);
    pthread_mutex_init(&sv->clip_mu, NULL);
    pthread_mutex_init(&sv->cache_mu, NULL);
    pthread_mutex_init(&sv->results_mu, NULL);
    pthread_mutex_init(&sv->concepts_mu, NULL);
    pthread_cond_init(&sv->concepts_cv, NULL);
    sv->sam_path = model_path;
    sv->clip_path = clip_path;
    sv->max_body = (size_t)(max_body_mb * 1024 * 1024);
    sv->cache_budget = (size_t)(cache_mb * 1024 * 1024);
    if (!find_web_dir(sv->web_dir, sizeof sv->web_dir))
        fprintf(stderr, "vlm serve: warning: the web page (assets/web/index.html) was not found; set VLM_ASSETS to the "
                        "assets folder. Serving the API only.\n");

    if (model_path && !(sv->sam = cli_load_model(CMD, model_path, &mp))) goto done;
    if (sv->sam && vlm_model_kind(sv->sam) != VLM_MODEL_SAM) {
        cli_fail(CMD, "%s: not a SAM model (-m needs Segment Anything weights)", model_path);
        goto done;
    }
    if (clip_path) {
        if (!(sv->clip = cli_load_model(CMD, clip_path, &mp))) goto done;
        if (vlm_model_kind(sv->clip) != VLM_MODEL_CLIP) {
            cli_fail(CMD, "%s: not a CLIP model (--clip needs CLIP weights)", clip_path);
            goto done;
        }
    }

    struct vlm_serve_chat_images lend = { sv, chat_image_get, chat_image_release, &sv->sam_mu };
    if (vlm_path && !(sv->chat = vlm_serve_chat_load(CMD, vlm_path, mmproj_path, &mp, timeout, &lend))) goto done;

    // signals: handled by sigwait in this thread; the server's threads inherit the mask
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (sv->clip) {
        if (pthread_create(&concepts_tid, NULL, concepts_thread, sv) != 0) {
            cli_fail(CMD, "cannot start a thread");
            goto done;
        }
        concepts_started = true;
    }

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
    if (MHD_is_feature_supported(MHD_FEATURE_POLL)) flags |= MHD_USE_POLL;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, sv, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)timeout, MHD_OPTION_CONNECTION_LIMIT, (unsigned)max_conn,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, sv, MHD_OPTION_END);
    if (!d) {
        cli_fail(CMD, "cannot listen on %s port %d (in use? a bad address?)", host, (int)port);
        goto done;
    }
    const union MHD_DaemonInfo * info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    int bound = info ? info->port : (int)port;
    bool v6 = ai->ai_family == AF_INET6;
    printf("vlm serve: http://%s%s%s:%d/  (SAM %s, backend %s%s%s%s%s)\n", v6 ? "[" : "", host, v6 ? "]" : "", bound,
           model_path ? model_path : "none", sv->sam ? vlm_model_backend_name(sv->sam) : vlm_serve_chat_backend(sv->chat),
           clip_path ? ", CLIP " : "", clip_path ? clip_path : "", vlm_path ? ", VLM " : "", vlm_path ? vlm_path : "");
    if (strcmp(host, "127.0.0.1") && strcmp(host, "localhost") && strcmp(host, "::1"))
        printf("vlm serve: warning: listening on %s — anyone who can reach this address can use the server\n", host);
    printf("vlm serve: press Ctrl-C to stop\n");
    fflush(stdout);
    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "vlm serve: stopping\n");
    rc = 0;
done:
    if (d) MHD_stop_daemon(d);
    if (concepts_started) pthread_join(concepts_tid, NULL);
    freeaddrinfo(ai);
    while (sv->images) {
        struct serve_image * e = sv->images;
        sv->images = e->next;
        image_free(e);
    }
    for (int i = 0; i < RESULTS_MAX; i++) free(sv->results[i].logits);
    vlm_serve_chat_free(sv->chat);
    vlm_concepts_free(&sv->concepts);
    vlm_model_free(sv->clip);
    vlm_model_free(sv->sam);
    free(sv);
    return rc;
}
#endif
