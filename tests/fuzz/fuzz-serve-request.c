// fuzz-serve-request.c — libFuzzer target: the request side of `vlm serve` without a server or
// a model (apps/serve-request.c): the JSON bodies of /v1/segment, /v1/everything, /v1/embed,
// /v1/classify and /v1/label parsed into validated requests (with the base64 mask of /v1/label),
// every body also as a /v1/chat/completions request (OpenAI's messages, options, vlm_region),
// the box check against an image size, routing, static file names and the body size limit.
// Input: byte 0 picks the endpoint, the method and the chunking; bytes 1-2 an image size and
// the body limit; the rest is the body (and, NUL-terminated, the URL).
#include <math.h>
#include <stdbool.h>

#include "fuzz-common.h"
#include "serve.h"

static void check_request(enum vlm_serve_endpoint ep, const struct vlm_serve_request * q) {
    if (!q->json) abort();
    if (!q->image && ep != VLM_SERVE_EMBED) abort();
    switch (ep) {
    case VLM_SERVE_SEGMENT:
        if (q->n_points < 0 || q->n_points > VLM_SERVE_MAX_POINTS) abort();
        for (int32_t i = 0; i < q->n_points; i++)
            if ((q->points[i].label != 0 && q->points[i].label != 1) || isnan(q->points[i].x) || isnan(q->points[i].y))
                abort();
        if (q->has_box) {
            for (int k = 0; k < 4; k++)
                if (!isfinite(q->box[k])) abort();
            if (q->box[0] > q->box[2] || q->box[1] > q->box[3]) abort();
        }
        if (q->mask_index < -1 || q->mask_index > 16 || (q->mask_index >= 0 && !q->mask_input)) abort();
        if (!q->n_points && !q->has_box && !q->mask_input) abort();
        break;
    case VLM_SERVE_EVERYTHING: {
        const struct vlm_sam_everything_params * p = &q->everything;
        if (p->points_per_side < 1 || p->points_per_side > 128 || p->points_per_batch < 1 || p->points_per_batch > 4096 ||
            p->crop_n_layers < 0 || p->crop_n_layers > 4 || p->crop_n_points_downscale_factor < 1 ||
            p->crop_n_points_downscale_factor > 16 || p->min_mask_region_area < 0 || !(p->crop_overlap_ratio < 1) ||
            !(p->box_nms_thresh >= 0 && p->box_nms_thresh <= 1))
            abort();
        break;
    }
    case VLM_SERVE_EMBED:
    case VLM_SERVE_CLASSIFY:
        if (q->n_texts < 0 || q->n_texts > VLM_SERVE_MAX_STRINGS || (q->n_texts > 0) != (q->texts != NULL)) abort();
        if (ep == VLM_SERVE_CLASSIFY && q->n_texts < 1) abort();
        if (ep == VLM_SERVE_EMBED && !q->image && !q->n_texts) abort();
        for (int32_t i = 0; i < q->n_texts; i++)
            if (!q->texts[i] || !q->texts[i][0]) abort();
        if (q->template_ && !strstr(q->template_, "{}")) abort();
        break;
    case VLM_SERVE_LABEL:
        if (q->top < 1 || q->top > 100 || !q->mask_png) abort();
        (void)vlm_fuzz_touch(q->mask_png, q->n_mask_png);
        break;
    default: abort();
    }
}

// A parsed chat request: messages in the chat format's roles, the last the user's, the media
// marker exactly where an image is, options in range.
static void check_chat(const struct vlm_serve_chat_request * r) {
    if (!r->json || r->n_msgs < 1 || r->n_msgs > VLM_SERVE_CHAT_MAX_MESSAGES) abort();
    int markers = 0;
    for (int32_t i = 0; i < r->n_msgs; i++) {
        const char * role = r->msgs[i].role, * c = r->msgs[i].content;
        if (!c || c != r->contents[i] || (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant")))
            abort();
        for (const char * m = strstr(c, "<__media__>"); m; m = strstr(m + 1, "<__media__>")) markers++;
        (void)vlm_fuzz_touch(c, strlen(c));
    }
    if (strcmp(r->msgs[r->n_msgs - 1].role, "user") || markers != (r->image_url || r->region_image ? 1 : 0)) abort();
    if (r->max_tokens < 0 || r->max_tokens > (1 << 20) || !(r->temperature >= 0 && r->temperature <= 2) ||
        !(r->top_p >= 0 && r->top_p <= 1) || !(r->min_p >= 0 && r->min_p <= 1) || r->top_k < 0)
        abort();
    if (r->n_stop < 0 || r->n_stop > VLM_SERVE_CHAT_MAX_STOP) abort();
    for (int32_t i = 0; i < r->n_stop; i++)
        if (!r->stop[i] || !r->stop[i][0]) abort();
    if (r->region_image && (strlen(r->region_image) != 16 || (!r->region.n_points && !r->region.has_box) ||
                            r->region.mask_input))
        abort();
}

// A 4xx / 5xx status and a message; one line unless it quotes the URL (which HTTP keeps on one line).
static void check_error(int rc, const char * err, bool one_line) {
    if (rc < 400 || rc > 599 || !err[0] || (one_line && strchr(err, '\n'))) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    if (size < 3) return 0;
    const uint8_t sel = data[0];
    static const enum vlm_serve_endpoint eps[] = { VLM_SERVE_SEGMENT, VLM_SERVE_EVERYTHING, VLM_SERVE_EMBED,
                                                   VLM_SERVE_CLASSIFY, VLM_SERVE_LABEL };
    const enum vlm_serve_endpoint ep = eps[sel % 5];
    static const char * const methods[] = { "POST", "GET", "HEAD", "PUT" };
    const char * method = methods[(sel / 5) % 4];
    const size_t chunk = 1 + (size_t)(sel / 20) * 7;
    const int32_t w = 1 + data[1] * 4, h = 1 + data[1] % 16 * 64;
    const size_t max_body = (size_t)data[2] * 16, drain = 64;
    data += 3, size -= 3;
    char err[512];
    int rc;

    // the body exactly as received (no NUL after it): a read past the length is caught
    char * body = malloc(size ? size : 1);
    if (!body) abort();
    memcpy(body, data, size);
    struct vlm_serve_request q;
    struct vlm_sam_everything_params defaults = { 32, 64, 0.88f, 0.95f, 1.0f, 0.7f, 0, 0.7f, 512.0f / 1500, 1, 0 };
    err[0] = 0;
    rc = vlm_serve_parse_request(ep, body, size, &defaults, &q, err, sizeof err);
    if (rc) {
        check_error(rc, err, true);
    } else {
        check_request(ep, &q);
        err[0] = 0;
        if ((rc = vlm_serve_check_box(&q, w, h, err, sizeof err))) check_error(rc, err, true);
        else if (q.has_box && (q.box[0] < 0 || q.box[1] < 0 || q.box[2] > w || q.box[3] > h)) abort();
    }
    vlm_serve_request_free(&q);

    // the body as a chat request
    struct vlm_serve_chat_request * chat = malloc(sizeof *chat);
    if (!chat) abort();
    err[0] = 0;
    rc = vlm_serve_chat_parse(body, size, chat, err, sizeof err);
    if (rc) check_error(rc, err, true);
    else check_chat(chat);
    vlm_serve_chat_request_free(chat);
    free(chat);

    // the body arriving in chunks under a size limit
    struct vlm_serve_body b;
    char cl[32];
    snprintf(cl, sizeof cl, "%zu", size);
    rc = vlm_serve_body_begin(&b, chunk % 3 ? cl : NULL, max_body, drain, err, sizeof err);
    for (size_t at = 0; !rc && at < size; at += chunk)
        rc = vlm_serve_body_add(&b, body + at, size - at < chunk ? size - at : chunk, max_body, drain, err, sizeof err);
    if (rc) {
        if (rc != 413 || size <= max_body + drain) abort();
    } else if (size > max_body) {
        if (!b.too_big || b.data) abort();
    } else {
        if (b.too_big || b.n != size || (size && memcmp(b.data, body, size) != 0) || (b.data && b.data[b.n])) abort();
    }
    vlm_serve_body_free(&b);
    free(body);

    // the input as a URL: routing and static file names
    char * url = malloc(size + 1);
    if (!url) abort();
    memcpy(url, data, size);
    url[size] = 0;
    enum vlm_serve_endpoint routed = VLM_SERVE_STATIC;
    err[0] = 0;
    rc = vlm_serve_route(url, method, sel & 7, &routed, err, sizeof err);
    if (rc) check_error(rc, err, false);
    else if ((unsigned)routed > VLM_SERVE_MODELS) abort();
    const char * type = NULL, * name = vlm_serve_static_name(url, &type);
    if (name && (!type || name[0] == '.' || strchr(name, '/') || strlen(name) >= 64)) abort();
    free(url);
    return 0;
}
