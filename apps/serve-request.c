// serve-request.c — the request side of `vlm serve` without a server or a model: routing,
// static file names, request bodies (size limit) and the JSON bodies of the API endpoints
// parsed and validated into struct vlm_serve_request, with the 4xx messages the client gets.
// cmd-serve.c calls these; tests/fuzz/fuzz-serve-request.c fuzzes them.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "serve.h"
#include "smolvlm.h"

int vlm_serve_fail(char * err, size_t err_size, int status, const char * fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
    return status;
}

// ---- routing ----------------------------------------------------------------------------------

int vlm_serve_route(const char * url, const char * method, unsigned models, enum vlm_serve_endpoint * ep, char * err,
                    size_t err_size) {
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    if (strncmp(url, "/v1/", 4) != 0) {
        if (!get) return vlm_serve_fail(err, err_size, 405, "use GET for %.200s", url);
        *ep = VLM_SERVE_STATIC;
        return 0;
    }
    static const struct { const char * name; enum vlm_serve_endpoint ep; bool post; unsigned needs; } routes[] = {
        { "health", VLM_SERVE_HEALTH, false, 0 },
        { "images", VLM_SERVE_IMAGES, true, 0 },
        { "segment", VLM_SERVE_SEGMENT, true, VLM_SERVE_HAVE_SAM },
        { "everything", VLM_SERVE_EVERYTHING, true, VLM_SERVE_HAVE_SAM },
        { "embed", VLM_SERVE_EMBED, true, VLM_SERVE_HAVE_CLIP },
        { "classify", VLM_SERVE_CLASSIFY, true, VLM_SERVE_HAVE_CLIP },
        { "label", VLM_SERVE_LABEL, true, VLM_SERVE_HAVE_CLIP },
        { "chat/completions", VLM_SERVE_CHAT, true, VLM_SERVE_HAVE_VLM },
        { "models", VLM_SERVE_MODELS, false, VLM_SERVE_HAVE_VLM },
        { "search", VLM_SERVE_SEARCH, false, VLM_SERVE_HAVE_INDEX },
        { "index/", VLM_SERVE_INDEX_IMAGE, false, VLM_SERVE_HAVE_INDEX },   // index/ID: a prefix
    };
    const char * r = url + 4;
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        size_t len = strlen(routes[i].name);
        bool prefix = routes[i].name[len - 1] == '/';
        if (prefix ? strncmp(r, routes[i].name, len) != 0 : strcmp(r, routes[i].name) != 0) continue;
        if (routes[i].post ? !post : !get)
            return vlm_serve_fail(err, err_size, 405, "use %s for %.200s", routes[i].post ? "POST" : "GET", url);
        unsigned lacks = routes[i].needs & ~models;
        if (lacks)
            return vlm_serve_fail(err, err_size, 404, "%.200s needs %s: start the server with %s", url,
                        lacks == VLM_SERVE_HAVE_SAM     ? "a SAM model"
                        : lacks == VLM_SERVE_HAVE_CLIP  ? "a CLIP model"
                        : lacks == VLM_SERVE_HAVE_INDEX ? "a photo index"
                                                        : "a VLM",
                        lacks == VLM_SERVE_HAVE_SAM     ? "-m SAM_MODEL"
                        : lacks == VLM_SERVE_HAVE_CLIP  ? "--clip MODEL"
                        : lacks == VLM_SERVE_HAVE_INDEX ? "--index INDEX"
                                                        : "--vlm TEXT.gguf --mmproj MMPROJ.gguf");
        *ep = routes[i].ep;
        return 0;
    }
    return vlm_serve_fail(err, err_size, 404, "unknown endpoint %.200s", url);
}

const char * vlm_serve_static_name(const char * url, const char ** type) {
    const char * name = !strcmp(url, "/") ? "index.html" : url + 1;
    size_t len = url[0] == '/' ? strlen(name) : 0;
    bool ok = len > 0 && len < 64 && name[0] != '.';
    for (size_t i = 0; ok && i < len; i++)
        ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '-' || name[i] == '.' ||
             name[i] == '_';
    const char * dot = ok ? strrchr(name, '.') : NULL;
    *type = !dot                    ? NULL
            : !strcmp(dot, ".html") ? "text/html; charset=utf-8"
            : !strcmp(dot, ".js")   ? "text/javascript; charset=utf-8"
            : !strcmp(dot, ".css")  ? "text/css; charset=utf-8"
            : !strcmp(dot, ".png")  ? "image/png"
            : !strcmp(dot, ".svg")  ? "image/svg+xml"
                                    : NULL;
    return *type ? name : NULL;
}

// ---- request bodies ----------------------------------------------------------------------------

int vlm_serve_body_begin(struct vlm_serve_body * b, const char * content_length, size_t max_body, size_t drain,
                         char * err, size_t err_size) {
    memset(b, 0, sizeof *b);
    if (!content_length) return 0;
    unsigned long long n = strtoull(content_length, NULL, 10);
    size_t cut;
    if (!vlm_add_size(max_body, drain, &cut)) cut = SIZE_MAX;
    if (n > max_body) b->too_big = true;
    if (n > cut)   // not worth reading: answer now (the connection closes)
        return vlm_serve_fail(err, err_size, 413, "request body of %llu bytes is over the limit of %zu (--max-body)", n, max_body);
    return 0;
}

int vlm_serve_body_add(struct vlm_serve_body * b, const char * data, size_t k, size_t max_body, size_t drain,
                       char * err, size_t err_size) {
    if (!vlm_add_size(b->seen, k, &b->seen)) b->seen = SIZE_MAX;
    size_t need = 0;
    if (!b->too_big && (!vlm_add_size(b->n, k, &need) || need > max_body)) {
        b->too_big = true;
        vlm_serve_body_free(b);
    }
    if (b->too_big) {
        size_t cut;
        if (!vlm_add_size(max_body, drain, &cut)) cut = SIZE_MAX;
        if (b->seen > cut)
            return vlm_serve_fail(err, err_size, 413, "request body over the limit of %zu bytes (--max-body)", max_body);
        return 0;
    }
    if (need + 1 > b->cap) {   // need <= max_body: no wrap
        size_t cap;
        char * p = vlm_grow_size(b->cap, need + 1, 65536, &cap) ? realloc(b->data, cap) : NULL;
        if (!p) return vlm_serve_fail(err, err_size, 503, "out of memory");
        b->data = p;
        b->cap = cap;
    }
    if (k) memcpy(b->data + b->n, data, k);
    b->n = need;
    b->data[b->n] = 0;
    return 0;
}

void vlm_serve_body_free(struct vlm_serve_body * b) {
    free(b->data);
    b->data = NULL;
    b->n = b->cap = 0;
}

// ---- JSON bodies ---------------------------------------------------------------------------------

// A request body as a JSON object (*out, also set when it is JSON but not an object).
static int parse_json(const char * body, size_t n, cJSON ** out, char * err, size_t err_size) {
    const char * where = NULL;   // the parse error's position (set by cJSON on failure; thread-safe)
    cJSON * o = *out = body && n ? cJSON_ParseWithLengthOpts(body, n, &where, 0) : NULL;
    if (cJSON_IsObject(o)) return 0;
    if (!n) return vlm_serve_fail(err, err_size, 400, "empty request body: expected a JSON object");
    if (!o && where && where >= body && where < body + n)
        return vlm_serve_fail(err, err_size, 400, "bad JSON at byte %ld: expected a JSON object", (long)(where - body));
    return vlm_serve_fail(err, err_size, 400, "bad JSON: expected a JSON object");
}

static bool json_number(const cJSON * v, double * out) {
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return false;
    *out = v->valuedouble;
    return true;
}

static const cJSON * field(const cJSON * body, const char * name) {
    const cJSON * v = cJSON_GetObjectItemCaseSensitive(body, name);
    return v && !cJSON_IsNull(v) ? v : NULL;   // null is the same as absent
}

// body[name], an optional number within [lo, hi]; 0, or 400 with a message.
static int opt_number(const cJSON * body, const char * name, double lo, double hi, bool integer, double * out,
                      char * err, size_t err_size) {
    const cJSON * v = field(body, name);
    if (!v) return 0;
    double d;
    if (!json_number(v, &d) || d < lo || d > hi || (integer && d != floor(d)))
        return vlm_serve_fail(err, err_size, 400, "\"%s\" must be %s from %.15g to %.15g", name, integer ? "an integer" : "a number", lo, hi);
    *out = d;
    return 0;
}

// body[name], an optional array of 1 to VLM_SERVE_MAX_STRINGS non-empty strings (*out malloc'd).
static int string_list(const cJSON * body, const char * name, const char *** out, int32_t * n, char * err,
                       size_t err_size) {
    const cJSON * v = field(body, name);
    *out = NULL;
    *n = 0;
    if (!v) return 0;
    int32_t k = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
    if (k < 1 || k > VLM_SERVE_MAX_STRINGS)
        return vlm_serve_fail(err, err_size, 400, "\"%s\" must be an array of 1 to %d strings", name, VLM_SERVE_MAX_STRINGS);
    const char ** s = calloc((size_t)k, sizeof *s);
    if (!s) return vlm_serve_fail(err, err_size, 503, "out of memory");
    int32_t i = 0;
    for (const cJSON * it = v->child; it && i < k; it = it->next, i++) {
        if (!cJSON_IsString(it) || !it->valuestring[0]) {
            free(s);
            return vlm_serve_fail(err, err_size, 400, "\"%s\"[%d] must be a non-empty string", name, i);
        }
        s[i] = it->valuestring;
    }
    *out = s;
    *n = k;
    return 0;
}

static int parse_segment(const cJSON * body, struct vlm_serve_request * q, char * err, size_t err_size) {
    const cJSON * v = field(body, "points");
    if (v) {
        if (!cJSON_IsArray(v)) return vlm_serve_fail(err, err_size, 400, "\"points\" must be an array of [x, y, label]");
        const cJSON * p;
        cJSON_ArrayForEach(p, v) {
            int32_t k = cJSON_GetArraySize(p);
            double x, y, l = 1;
            if (!cJSON_IsArray(p) || (k != 2 && k != 3) || !json_number(cJSON_GetArrayItem(p, 0), &x) ||
                !json_number(cJSON_GetArrayItem(p, 1), &y) || (k == 3 && !json_number(cJSON_GetArrayItem(p, 2), &l)))
                return vlm_serve_fail(err, err_size, 400, "point %d: expected [x, y, label] with numbers", q->n_points);
            if (l != 0 && l != 1)
                return vlm_serve_fail(err, err_size, 400, "point %d: label must be 1 (foreground) or 0 (background), not %g",
                            q->n_points, l);
            if (q->n_points == VLM_SERVE_MAX_POINTS) return vlm_serve_fail(err, err_size, 400, "at most %d points", VLM_SERVE_MAX_POINTS);
            q->points[q->n_points++] = (struct vlm_point){ (float)x, (float)y, (int32_t)l };
        }
    }
    v = field(body, "box");
    if (v) {
        bool ok = cJSON_IsArray(v) && cJSON_GetArraySize(v) == 4;
        for (int k = 0; ok && k < 4; k++) ok = json_number(cJSON_GetArrayItem(v, k), &q->box[k]);
        if (!ok) return vlm_serve_fail(err, err_size, 400, "\"box\" must be [x0, y0, x1, y1] (numbers)");
        if (q->box[0] > q->box[2] || q->box[1] > q->box[3])
            return vlm_serve_fail(err, err_size, 400, "\"box\": needs x0 <= x1 and y0 <= y1");
        q->has_box = true;
    }
    v = field(body, "multimask");
    if (v) {
        if (!cJSON_IsBool(v)) return vlm_serve_fail(err, err_size, 400, "\"multimask\" must be true or false");
        q->multimask = cJSON_IsTrue(v);
    }
    v = field(body, "mask_input");
    if (v) {
        if (!cJSON_IsString(v)) return vlm_serve_fail(err, err_size, 400, "\"mask_input\" must be the id of an earlier result");
        q->mask_input = v->valuestring;
        const cJSON * iv = field(body, "mask_index");
        double d;
        if (iv) {
            if (!json_number(iv, &d) || d < 0 || d > 16 || d != floor(d))
                return vlm_serve_fail(err, err_size, 400, "\"mask_index\" must be a mask number of that result");
            q->mask_index = (int32_t)d;
        }
    }
    if (!q->n_points && !q->has_box && !q->mask_input)
        return vlm_serve_fail(err, err_size, 400, "no prompt: give \"points\", \"box\" or \"mask_input\"");
    return 0;
}

static int parse_everything(const cJSON * body, struct vlm_serve_request * q, char * err, size_t err_size) {
    struct vlm_sam_everything_params * p = &q->everything;
    double d[11] = { p->points_per_side, p->points_per_batch, p->pred_iou_thresh, p->stability_score_thresh,
                     p->stability_score_offset, p->box_nms_thresh, p->crop_n_layers, p->crop_nms_thresh,
                     p->crop_overlap_ratio, p->crop_n_points_downscale_factor, p->min_mask_region_area };
    static const struct { const char * name; double lo, hi; bool integer; } f[11] = {
        { "points_per_side", 1, 128, true },          { "points_per_batch", 1, 4096, true },
        { "pred_iou_thresh", -1, 1, false },          { "stability_score_thresh", -1, 1, false },
        { "stability_score_offset", 0, 100, false },  { "box_nms_thresh", 0, 1, false },
        { "crop_n_layers", 0, 4, true },              { "crop_nms_thresh", 0, 1, false },
        { "crop_overlap_ratio", 0, 0.99, false },     { "crop_n_points_downscale_factor", 1, 16, true },
        { "min_mask_region_area", 0, 1 << 30, true },
    };
    for (int i = 0; i < 11; i++) {
        int rc = opt_number(body, f[i].name, f[i].lo, f[i].hi, f[i].integer, &d[i], err, err_size);
        if (rc) return rc;
    }
    p->points_per_side = (int32_t)d[0];
    p->points_per_batch = (int32_t)d[1];
    p->pred_iou_thresh = (float)d[2];
    p->stability_score_thresh = (float)d[3];
    p->stability_score_offset = (float)d[4];
    p->box_nms_thresh = (float)d[5];
    p->crop_n_layers = (int32_t)d[6];
    p->crop_nms_thresh = (float)d[7];
    p->crop_overlap_ratio = (float)d[8];
    p->crop_n_points_downscale_factor = (int32_t)d[9];
    p->min_mask_region_area = (int32_t)d[10];
    return 0;
}

static int parse_classify(const cJSON * body, struct vlm_serve_request * q, char * err, size_t err_size) {
    int rc = string_list(body, "labels", &q->texts, &q->n_texts, err, err_size);
    if (rc) return rc;
    if (!q->n_texts) return vlm_serve_fail(err, err_size, 400, "\"labels\" must be an array of 1 to %d strings", VLM_SERVE_MAX_STRINGS);
    const cJSON * t = field(body, "template");
    if (t && (!cJSON_IsString(t) || !strstr(t->valuestring, "{}")))
        return vlm_serve_fail(err, err_size, 400, "\"template\" must be a string containing {}");
    q->template_ = t ? t->valuestring : NULL;
    return 0;
}

static int parse_label(const cJSON * body, struct vlm_serve_request * q, char * err, size_t err_size) {
    double top = q->top;
    int rc = opt_number(body, "top", 1, 100, true, &top, err, err_size);
    if (rc) return rc;
    q->top = (int32_t)top;
    const cJSON * mv = cJSON_GetObjectItemCaseSensitive(body, "mask");
    if (!cJSON_IsString(mv) || !(q->mask_png = vlm_serve_base64_decode(mv->valuestring, &q->n_mask_png)))
        return vlm_serve_fail(err, err_size, 400, "\"mask\" must be a base64 PNG of the object's mask");
    return 0;
}

int vlm_serve_parse_request(enum vlm_serve_endpoint ep, const char * body, size_t n,
                            const struct vlm_sam_everything_params * everything_defaults, struct vlm_serve_request * q,
                            char * err, size_t err_size) {
    memset(q, 0, sizeof *q);
    q->multimask = true;
    q->mask_index = -1;
    q->top = 5;
    if (everything_defaults) q->everything = *everything_defaults;
    int rc = parse_json(body, n, &q->json, err, err_size);
    if (rc) return rc;
    const cJSON * o = q->json;
    const cJSON * image = cJSON_GetObjectItemCaseSensitive(o, "image");
    // the image is optional for /v1/embed only (which then needs texts)
    if (!(ep == VLM_SERVE_EMBED && !image)) {
        if (!cJSON_IsString(image))
            return vlm_serve_fail(err, err_size, 400, "\"image\" must be the id string returned by POST /v1/images");
        q->image = image->valuestring;
    }
    switch (ep) {
    case VLM_SERVE_SEGMENT: return parse_segment(o, q, err, err_size);
    case VLM_SERVE_EVERYTHING: return parse_everything(o, q, err, err_size);
    case VLM_SERVE_EMBED: {
        int rc = string_list(o, "texts", &q->texts, &q->n_texts, err, err_size);
        if (rc) return rc;
        if (!q->image && !q->n_texts) return vlm_serve_fail(err, err_size, 400, "give \"image\" (an id) and/or \"texts\" (strings)");
        return 0;
    }
    case VLM_SERVE_CLASSIFY: return parse_classify(o, q, err, err_size);
    case VLM_SERVE_LABEL: return parse_label(o, q, err, err_size);
    default: return vlm_serve_fail(err, err_size, 500, "endpoint %d takes no JSON body", (int)ep);
    }
}

int vlm_serve_check_box(const struct vlm_serve_request * q, int32_t width, int32_t height, char * err, size_t err_size) {
    const double * b = q->box;
    if (q->has_box && (b[0] < 0 || b[1] < 0 || b[2] > width || b[3] > height))
        return vlm_serve_fail(err, err_size, 400, "\"box\" [%g, %g, %g, %g] is outside the %dx%d image", b[0], b[1], b[2], b[3],
                    (int)width, (int)height);
    return 0;
}

int vlm_serve_parse_prompt(const cJSON * o, struct vlm_serve_request * q, char * err, size_t err_size) {
    q->multimask = true;
    q->mask_index = -1;
    return parse_segment(o, q, err, err_size);
}

void vlm_serve_request_free(struct vlm_serve_request * q) {
    if (!q) return;
    cJSON_Delete(q->json);
    free(q->texts);
    free(q->mask_png);
    memset(q, 0, sizeof *q);
}

// ---- POST /v1/chat/completions ---------------------------------------------------------------------

// A client's string for an error message: at most out_size - 1 bytes, control bytes as '?'.
static const char * printable(const char * s, char * out, size_t out_size) {
    size_t i = 0;
    for (; s[i] && i + 1 < out_size; i++) out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    out[i] = 0;
    return out;
}

static bool blank_text(const char * s) {
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    return !*s;
}

// ---- responses ------------------------------------------------------------------------------

// Message i's content into r->contents[i]: a string, or parts joined (texts by "\n", the image
// as the marker).
static int parse_content(struct vlm_serve_chat_request * r, int32_t i, const cJSON * content, char * err, size_t es) {
    struct vlm_serve_buf b = { 0 };
    int rc = 0, images = 0;
    bool prev_text = false;
    if (cJSON_IsString(content)) {
        if (blank_text(content->valuestring)) return vlm_serve_fail(err, es, 400, "messages[%d]: empty text", i);
        vlm_serve_buf_add(&b, content->valuestring, strlen(content->valuestring));
    } else if (cJSON_IsArray(content) && cJSON_GetArraySize(content) >= 1 && cJSON_GetArraySize(content) <= VLM_SERVE_CHAT_MAX_PARTS) {
        int32_t k = 0;
        for (const cJSON * p = content->child; p && !rc; p = p->next, k++) {
            const cJSON * type = field(p, "type");
            if (!cJSON_IsString(type)) {
                rc = vlm_serve_fail(err, es, 400, "messages[%d].content[%d]: needs a \"type\" (text or image_url)", i, k);
            } else if (!strcmp(type->valuestring, "text")) {
                const cJSON * t = field(p, "text");
                if (!cJSON_IsString(t) || blank_text(t->valuestring)) {
                    rc = vlm_serve_fail(err, es, 400, "messages[%d].content[%d]: empty text", i, k);
                } else {
                    if (prev_text) vlm_serve_buf_add(&b, "\n", 1);
                    vlm_serve_buf_add(&b, t->valuestring, strlen(t->valuestring));
                    prev_text = true;
                }
            } else if (!strcmp(type->valuestring, "image_url")) {
                const cJSON * u = field(p, "image_url");
                if (cJSON_IsObject(u)) u = field(u, "url");
                if (!cJSON_IsString(u) || !u->valuestring[0]) {
                    rc = vlm_serve_fail(err, es, 400, "messages[%d].content[%d]: \"image_url\" needs a \"url\"", i, k);
                } else if (r->image_url) {
                    rc = vlm_serve_fail(err, es, 400, "messages[%d].content[%d]: one image per request", i, k);
                } else {
                    r->image_url = u->valuestring;
                    images++;
                    vlm_serve_buf_add(&b, VLM_MEDIA_MARKER, strlen(VLM_MEDIA_MARKER));
                    prev_text = false;
                }
            } else {
                char t[48];
                rc = vlm_serve_fail(err, es, 400, "messages[%d].content[%d]: type '%s' is not supported (text, image_url)", i,
                                    k, printable(type->valuestring, t, sizeof t));
            }
        }
    } else {
        return vlm_serve_fail(err, es, 400, "messages[%d].content must be a string or an array of 1 to %d parts", i, VLM_SERVE_CHAT_MAX_PARTS);
    }
    if (!rc && b.oom) rc = vlm_serve_fail(err, es, 503, "out of memory");
    if (rc) {
        free(b.p);
        return rc;
    }
    // the marker only where an image part is
    int32_t markers = 0;
    for (const char * m = strstr(b.p, VLM_MEDIA_MARKER); m; m = strstr(m + 1, VLM_MEDIA_MARKER)) markers++;
    if (markers > images) {
        free(b.p);
        return vlm_serve_fail(err, es, 400, "messages[%d]: the text may not contain %s", i, VLM_MEDIA_MARKER);
    }
    r->contents[i] = b.p;
    return 0;
}

static int parse_messages(struct vlm_serve_chat_request * r, const cJSON * msgs, char * err, size_t es) {
    int32_t n = cJSON_IsArray(msgs) ? cJSON_GetArraySize(msgs) : -1;
    if (n < 1 || n > VLM_SERVE_CHAT_MAX_MESSAGES)
        return vlm_serve_fail(err, es, 400, "\"messages\" must be an array of 1 to %d messages", VLM_SERVE_CHAT_MAX_MESSAGES);
    const cJSON * m = msgs->child;
    for (int32_t i = 0; i < n; i++, m = m->next) {
        const cJSON * role = field(m, "role");
        const char * rs = cJSON_IsString(role) ? role->valuestring : "";
        if (!strcmp(rs, "developer")) rs = "system";   // newer OpenAI clients' name for it
        char shown[48];
        if (strcmp(rs, "system") && strcmp(rs, "user") && strcmp(rs, "assistant"))
            return vlm_serve_fail(err, es, 400, "messages[%d].role must be system, user or assistant%s%s%s", i,
                                  *rs ? " (not '" : "", printable(rs, shown, sizeof shown), *rs ? "')" : "");
        bool had_image = r->image_url != NULL;
        int rc = parse_content(r, i, field(m, "content"), err, es);
        r->n_msgs = i + 1;   // contents[0..i] are freed with r
        if (rc) return rc;
        if (!had_image && r->image_url && strcmp(rs, "user"))
            return vlm_serve_fail(err, es, 400, "messages[%d]: the image goes in a user message", i);
        r->msgs[i] = (struct vlm_chat_message){ rs, r->contents[i] };
    }
    if (strcmp(r->msgs[n - 1].role, "user") != 0)
        return vlm_serve_fail(err, es, 400, "the last message must be the user's (the answer is the assistant's next turn)");
    return 0;
}

static int parse_options(struct vlm_serve_chat_request * r, const cJSON * o, char * err, size_t es) {
    double d[7] = { 0, 1.0, 1.0, 0, 0, 0, 1 };   // max_tokens, temperature, top_p, top_k, min_p, seed, n
    static const struct { const char * name; double lo, hi; bool integer; } f[7] = {
        { "max_tokens", 1, 1 << 20, true }, { "temperature", 0, 2, false }, { "top_p", 0, 1, false },
        { "top_k", 0, 1 << 20, true },      { "min_p", 0, 1, false },       { "seed", -9.007199254740992e15, 9.007199254740992e15, true },
        { "n", 1, 1, true },
    };
    int rc = opt_number(o, "max_completion_tokens", 1, 1 << 20, true, &d[0], err, es);   // the newer name
    for (int k = 0; !rc && k < 7; k++) rc = opt_number(o, f[k].name, f[k].lo, f[k].hi, f[k].integer, &d[k], err, es);
    if (rc) return rc;
    r->max_tokens = (int32_t)d[0];
    r->temperature = (float)d[1];
    r->top_p = (float)d[2];
    r->top_k = (int32_t)d[3];
    r->min_p = (float)d[4];
    r->has_seed = field(o, "seed") != NULL;
    r->seed = (int64_t)d[5];
    const cJSON * v = field(o, "stream");
    if (v && !cJSON_IsBool(v)) return vlm_serve_fail(err, es, 400, "\"stream\" must be true or false");
    r->stream = cJSON_IsTrue(v);
    const cJSON * so = field(o, "stream_options"), * iu = so ? field(so, "include_usage") : NULL;
    if ((so && !cJSON_IsObject(so)) || (iu && !cJSON_IsBool(iu)))
        return vlm_serve_fail(err, es, 400, "\"stream_options\" must be {\"include_usage\": true or false}");
    r->include_usage = cJSON_IsTrue(iu);
    v = field(o, "stop");
    if (cJSON_IsString(v)) {
        r->stop[r->n_stop++] = v->valuestring;
    } else if (cJSON_IsArray(v) && cJSON_GetArraySize(v) <= VLM_SERVE_CHAT_MAX_STOP) {
        for (const cJSON * s = v->child; s; s = s->next) {
            if (!cJSON_IsString(s)) return vlm_serve_fail(err, es, 400, "\"stop\" must be a string or up to %d strings", VLM_SERVE_CHAT_MAX_STOP);
            r->stop[r->n_stop++] = s->valuestring;
        }
    } else if (v) {
        return vlm_serve_fail(err, es, 400, "\"stop\" must be a string or up to %d strings", VLM_SERVE_CHAT_MAX_STOP);
    }
    for (int32_t k = 0; k < r->n_stop; k++)
        if (!r->stop[k][0]) return vlm_serve_fail(err, es, 400, "\"stop\" strings must not be empty");
    return 0;
}

const char * vlm_serve_image_id(const char * url) {
    if (!strncmp(url, VLM_SERVE_IMAGE_SCHEME, strlen(VLM_SERVE_IMAGE_SCHEME))) url += strlen(VLM_SERVE_IMAGE_SCHEME);
    size_t n = strspn(url, "0123456789abcdef");
    return n == 16 && !url[n] ? url : NULL;
}

static int parse_region(struct vlm_serve_chat_request * r, const cJSON * o, char * err, size_t es) {
    const cJSON * reg = field(o, "vlm_region");
    if (!reg) return 0;
    const cJSON * im = field(reg, "image");
    if (!cJSON_IsObject(reg) || !cJSON_IsString(im) || !vlm_serve_image_id(im->valuestring))
        return vlm_serve_fail(err, es, 400, "\"vlm_region\" needs \"image\": the id of an image uploaded to /v1/images");
    r->region_image = vlm_serve_image_id(im->valuestring);
    if (!field(reg, "points") && !field(reg, "box")) return vlm_serve_fail(err, es, 400, "\"vlm_region\" needs \"points\" and/or \"box\"");
    int rc = vlm_serve_parse_prompt(reg, &r->region, err, es);
    if (rc) return rc;
    if (r->region.mask_input) return vlm_serve_fail(err, es, 400, "\"vlm_region\" takes \"points\" and \"box\", not \"mask_input\"");
    if (!r->image_url) {   // the crop goes before the question
        char ** last = &r->contents[r->n_msgs - 1];
        size_t n = strlen(*last) + sizeof VLM_MEDIA_MARKER;
        char * s = malloc(n);
        if (!s) return vlm_serve_fail(err, es, 503, "out of memory");
        snprintf(s, n, "%s%s", VLM_MEDIA_MARKER, *last);
        free(*last);
        *last = s;
        r->msgs[r->n_msgs - 1].content = s;
    }
    return 0;
}

void vlm_serve_chat_request_free(struct vlm_serve_chat_request * r) {
    if (!r) return;
    for (int32_t i = 0; i < r->n_msgs; i++) free(r->contents[i]);
    vlm_serve_request_free(&r->region);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof *r);
}

int vlm_serve_chat_parse(const char * body, size_t n, struct vlm_serve_chat_request * r, char * err, size_t es) {
    memset(r, 0, sizeof *r);
    int rc = parse_json(body, n, &r->json, err, es);
    if (rc) return rc;
    const cJSON * msgs = field(r->json, "messages");
    if (!msgs) return vlm_serve_fail(err, es, 400, "no \"messages\"");
    rc = parse_messages(r, msgs, err, es);
    if (!rc) rc = parse_options(r, r->json, err, es);
    if (!rc) rc = parse_region(r, r->json, err, es);
    return rc;
}
