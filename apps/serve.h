// serve.h — helpers of `vlm serve`: encodings (apps/serve-util.c) and the request side,
// routing, bodies and the API's JSON, chat requests included (apps/serve-request.c). None
// needs a server or a model.
#ifndef VLM_SERVE_H
#define VLM_SERVE_H
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vlm.h"

// One model call holding the model's lock (a model runs one request at a time; the others
// wait). A failed call's message is this thread's vlm_last_error(), still there after the unlock.
#define LOCKED_CALL(mu, st, call)  \
    do {                           \
        pthread_mutex_lock(mu);    \
        (st) = (call);             \
        pthread_mutex_unlock(mu);  \
    } while (0)

// Standard base64 with padding; malloc'd, NUL-terminated. NULL when out of memory.
char *    vlm_serve_base64_encode(const uint8_t * data, size_t n);
// Decodes base64 (standard or URL alphabet, optional "data:...;base64," prefix); malloc'd;
// NULL on a bad character or out of memory.
uint8_t * vlm_serve_base64_decode(const char * s, size_t * n_out);
// A growing byte string, NUL-terminated; oom: an append failed (it and later ones are dropped).
struct vlm_serve_buf {
    char * p;
    size_t n, cap;
    bool   oom;
};
void      vlm_serve_buf_add(struct vlm_serve_buf * b, const char * s, size_t k);

// ---- requests (serve-request.c) ----
// Every function returning int gives 0 on success, else the HTTP status with a one-line
// message for the client in err.
// Formats a client's error message into err; returns status.
int vlm_serve_fail(char * err, size_t err_size, int status, const char * fmt, ...) __attribute__((format(printf, 4, 5)));

#define VLM_SERVE_MAX_POINTS  64
#define VLM_SERVE_MAX_STRINGS 4096

enum vlm_serve_endpoint {
    VLM_SERVE_STATIC = 0,   // GET of a file of the web page
    VLM_SERVE_HEALTH,       // GET /v1/health
    VLM_SERVE_IMAGES,       // POST /v1/images (raw image bytes)
    VLM_SERVE_SEGMENT,      // POST /v1/segment and the rest: JSON bodies
    VLM_SERVE_EVERYTHING,
    VLM_SERVE_EMBED,        // with --clip
    VLM_SERVE_CLASSIFY,     // with --clip
    VLM_SERVE_LABEL,        // with --clip
    VLM_SERVE_CHAT,         // POST /v1/chat/completions, with --vlm
    VLM_SERVE_MODELS,       // GET /v1/models, with --vlm
};
// The models a server has (vlm_serve_route's `models`).
#define VLM_SERVE_HAVE_SAM  1u
#define VLM_SERVE_HAVE_CLIP 2u
#define VLM_SERVE_HAVE_VLM  4u
// Maps a method and URL to an endpoint: 404 unknown (or needs a model the server lacks), 405
// wrong method.
int vlm_serve_route(const char * url, const char * method, unsigned models, enum vlm_serve_endpoint * ep, char * err,
                    size_t err_size);
// The file name of a static URL ("/" is index.html) and its content type; NULL (no such
// file: 404) unless the name is [a-z0-9._-], under 64 bytes, not starting with '.', with a
// known extension. The name never holds a '/'.
const char * vlm_serve_static_name(const char * url, const char ** type);

// A request body as it arrives. Past max_body bytes the data is dropped (too_big: answer 413
// at the end); past max_body + drain the client is cut off (413 at once).
struct vlm_serve_body {
    char * data;            // NUL-terminated, n bytes
    size_t n, cap, seen;
    bool   too_big;
};
// Starts a body with the request's Content-Length header (NULL when absent).
int  vlm_serve_body_begin(struct vlm_serve_body * b, const char * content_length, size_t max_body, size_t drain,
                          char * err, size_t err_size);
int  vlm_serve_body_add(struct vlm_serve_body * b, const char * data, size_t k, size_t max_body, size_t drain,
                        char * err, size_t err_size);
void vlm_serve_body_free(struct vlm_serve_body * b);

// A JSON request, validated as far as it can be without the server's state (the image and
// result ids are looked up, and the box checked against the image, by the handler).
struct vlm_serve_request {
    struct cJSON *   json;           // the parsed body: owns the strings below
    const char *     image;          // "image" id; NULL only for /v1/embed without one
    // /v1/segment
    struct vlm_point points[VLM_SERVE_MAX_POINTS];
    int32_t          n_points;
    bool             has_box, multimask;   // multimask defaults to true
    double           box[4];         // x0 <= x1, y0 <= y1 (see vlm_serve_check_box)
    const char *     mask_input;     // id of an earlier result, NULL: none
    int32_t          mask_index;     // 0..16, -1: the result's best mask
    // /v1/everything: the defaults given to vlm_serve_parse_request, overridden by the body
    struct vlm_sam_everything_params everything;
    // /v1/embed "texts" (may be none) or /v1/classify "labels" (at least one)
    const char **    texts;          // malloc'd, n_texts pointers into json
    int32_t          n_texts;
    const char *     template_;      // /v1/classify "template" (holds "{}"), NULL: the default
    // /v1/label
    int32_t          top;            // 1..100, default 5
    uint8_t *        mask_png;       // "mask" base64-decoded (malloc'd), n_mask_png bytes
    size_t           n_mask_png;
};
// Parses the body of a JSON endpoint into q (free it with vlm_serve_request_free, also after a
// failure). everything_defaults: vlm_sam_everything_default_params() for /v1/everything.
int  vlm_serve_parse_request(enum vlm_serve_endpoint ep, const char * body, size_t n,
                             const struct vlm_sam_everything_params * everything_defaults,
                             struct vlm_serve_request * q, char * err, size_t err_size);
// The box of a /v1/segment request against the image: 400 when outside it.
int  vlm_serve_check_box(const struct vlm_serve_request * q, int32_t width, int32_t height, char * err, size_t err_size);
void vlm_serve_request_free(struct vlm_serve_request * q);
// The SAM prompt of a JSON object ("points", "box", "mask_input" as /v1/segment takes them)
// into q's prompt fields (q zeroed by the caller; at least one prompt).
int  vlm_serve_parse_prompt(const struct cJSON * o, struct vlm_serve_request * q, char * err, size_t err_size);

// ---- POST /v1/chat/completions: OpenAI's chat request (serve-request.c) ----
#define VLM_SERVE_CHAT_MAX_MESSAGES 256
#define VLM_SERVE_CHAT_MAX_PARTS    64
#define VLM_SERVE_CHAT_MAX_STOP     4
#define VLM_SERVE_IMAGE_SCHEME      "vlm://image/"   // image_url of an uploaded image: vlm://image/ID

struct vlm_serve_chat_request {
    struct cJSON *           json;   // the parsed body: owns the strings below
    // the messages for vlm_llm_chat_format: text parts joined by "\n", the image part as the
    // media marker (with vlm_region and no image part: the marker opens the last message)
    struct vlm_chat_message  msgs[VLM_SERVE_CHAT_MAX_MESSAGES];
    char *                   contents[VLM_SERVE_CHAT_MAX_MESSAGES];   // malloc'd: msgs[i].content
    int32_t                  n_msgs;          // >= 1, the last one the user's
    const char *             image_url;       // the one image part's URL; NULL: none
    int32_t                  max_tokens;      // 0: what the context holds
    float                    temperature, top_p, min_p;   // defaults 1, 1, 0
    int32_t                  top_k;           // 0: off
    bool                     has_seed;
    int64_t                  seed;
    const char *             stop[VLM_SERVE_CHAT_MAX_STOP];
    int32_t                  n_stop;
    bool                     stream, include_usage;
    const char *             region_image;    // "vlm_region": the uploaded image's id; NULL: none
    struct vlm_serve_request region;          // its points and box
};
// Parses a chat request (free r with vlm_serve_chat_request_free, also after a failure).
int  vlm_serve_chat_parse(const char * body, size_t n, struct vlm_serve_chat_request * r, char * err, size_t err_size);
void vlm_serve_chat_request_free(struct vlm_serve_chat_request * r);
// The id in an image URL of an uploaded image (VLM_SERVE_IMAGE_SCHEME + ID, or the bare 16 hex
// digits); NULL for anything else.
const char * vlm_serve_image_id(const char * url);
#endif
