// test-serve-chat.c — POST /v1/chat/completions of `vlm serve --vlm` over real HTTP on
// loopback with the smolvlm-tiny pair (and sam-tiny for region questions): the request shapes
// OpenAI's Python and JS clients send (string content, content parts, data URIs, uploaded
// ids, stream true / false), and OpenAI's JS client itself when `npm ci` has installed it;
// greedy answers equal to `vlm ask`'s (whole image and a SAM region, whose mask equals the
// CLI's), stop strings, 8 concurrent streaming clients, a client that disconnects mid-stream
// (its generation stops), bad bodies (4xx with OpenAI's error object, the server still
// serving), and a server with the VLM only (503 when the model stays busy past --timeout).
#define _GNU_SOURCE   // strcasestr
#include <pthread.h>

#include <cjson/cJSON.h>

#include "harness.h"
#include "serve-client.h"

#define MAX_TOKENS 24
#define STR(x)     #x
#define XSTR(x)    STR(x)
#define GREEDY     ", \"max_tokens\": " XSTR(MAX_TOKENS) ", \"temperature\": 0"
#define QUESTION   "What is this?"
#define N_CLIENTS  8

static const char * tmpdir;   // the scratch folder
static char log_path[512];
static const char * cli;
static char text_path[1024], mmproj_path[1024], sam_path[1024];
static int port;
static char * dog_uri;   // data:image/jpeg;base64,... of images/dog.jpg
static char ref_answer[4096];
static int ref_prompt_tokens;

static char * read_bytes(const char * path, size_t * n) { return vlm_read_file(path, SIZE_MAX, n); }

// Uploads images/dog.jpg to a server; its id into id[32] (empty on failure).
static void upload_dog(int at_port, char id[32]) {
    size_t n = 0;
    char * img = read_bytes(test_fixture("images/dog.jpg"), &n), * body = NULL;
    int st = img ? serve_http(at_port, "POST", "/v1/images", img, n, "image/jpeg", &body, NULL) : -1;
    cJSON * o = body ? cJSON_Parse(body) : NULL;
    const cJSON * v = cJSON_GetObjectItemCaseSensitive(o, "id");
    CHECK(st == 200 && cJSON_IsString(v), "upload: %d %s", st, body ? body : "");
    snprintf(id, 32, "%s", cJSON_IsString(v) ? v->valuestring : "");
    cJSON_Delete(o);
    free(body);
    free(img);
}

static char * b64_data_uri(const char * path) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t sz = 0;
    uint8_t * b = (uint8_t *)read_bytes(path, &sz);
    const long n = (long)sz;
    char * out = b ? malloc(sz / 3 * 4 + 64) : NULL;
    if (!out) {
        free(b);
        return NULL;
    }
    size_t o = (size_t)sprintf(out, "data:image/jpeg;base64,");
    for (long i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16 | (i + 1 < n ? (uint32_t)b[i + 1] << 8 : 0) | (i + 2 < n ? b[i + 2] : 0);
        out[o++] = tbl[v >> 18 & 63];
        out[o++] = tbl[v >> 12 & 63];
        out[o++] = i + 1 < n ? tbl[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    out[o] = 0;
    free(b);
    return out;
}

// {"messages": [{"role": "user", "content": [image part, text part]}], ...extra}; malloc'd.
static char * image_question(const char * url, const char * question, const char * extra) {
    size_t n = strlen(url) + strlen(question) + strlen(extra) + 256;
    char * s = malloc(n);
    snprintf(s, n,
             "{\"model\": \"smolvlm\", \"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", "
             "\"image_url\": {\"url\": \"%s\"}}, {\"type\": \"text\", \"text\": \"%s\"}]}]%s}",
             url, question, extra);
    return s;
}

static int post_json(const char * path, const char * json, cJSON ** out) {
    char * body = NULL;
    int st = serve_http(port, "POST", path, json, strlen(json), "application/json", &body, NULL);
    *out = body ? cJSON_Parse(body) : NULL;
    free(body);
    return st;
}

static const char * message_content(const cJSON * o) {
    const cJSON * c = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "choices"), 0), "message"),
        "content");
    return cJSON_IsString(c) ? c->valuestring : NULL;
}

static const char * finish_of(const cJSON * o) {
    const cJSON * f = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "choices"), 0),
                                                       "finish_reason");
    return cJSON_IsString(f) ? f->valuestring : NULL;
}

static int usage_of(const cJSON * o, const char * name) {
    const cJSON * v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "usage"), name);
    return cJSON_IsNumber(v) ? v->valueint : -1;
}

// ---- a streaming client -----------------------------------------------------------------------

struct sse {
    int     status;
    char    text[8192];   // the deltas' contents
    char    finish[16];
    int     n_chunks, usage_total;
    bool    done, role, error, ids_same;
    cJSON * region;       // vlm_region of the first chunk
};

// Reads the whole response (the connection closes at its end); *n bytes.
static char * read_all(int s, size_t * n) {
    size_t cap = 65536, got = 0;
    char * buf = malloc(cap);
    while (buf) {
        if (got + 1 >= cap) {
            char * b = realloc(buf, cap *= 2);
            if (!b) break;
            buf = b;
        }
        ssize_t k = recv(s, buf + got, cap - 1 - got, 0);
        if (k <= 0) break;
        got += (size_t)k;
    }
    if (buf) buf[got] = 0;
    *n = got;
    return buf;
}

// Undoes chunked transfer coding in place; false when malformed or unfinished.
static bool dechunk(char * p, size_t n, size_t * out_n) {
    size_t r = 0, w = 0;
    for (;;) {
        char * end = NULL;
        unsigned long k = strtoul(p + r, &end, 16);
        char * crlf = strstr(p + r, "\r\n");
        if (!crlf || end == p + r || (size_t)(crlf - p) + 2 + k + 2 > n) return false;
        r = (size_t)(crlf - p) + 2;
        if (k == 0) break;
        memmove(p + w, p + r, k);
        w += k;
        r += k + 2;
    }
    p[w] = 0;
    *out_n = w;
    return true;
}

static void sse_parse(char * body, struct sse * out) {
    char id[64] = "";
    out->ids_same = true;
    for (char * ev = body; ev && *ev;) {
        char * next = strstr(ev, "\n\n");
        if (next) *next = 0;
        if (!strncmp(ev, "data: ", 6)) {
            const char * d = ev + 6;
            if (!strcmp(d, "[DONE]")) {
                out->done = true;
            } else {
                cJSON * o = cJSON_Parse(d);
                const cJSON * ch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "choices"), 0);
                const cJSON * delta = cJSON_GetObjectItemCaseSensitive(ch, "delta");
                const cJSON * content = cJSON_GetObjectItemCaseSensitive(delta, "content");
                const cJSON * role = cJSON_GetObjectItemCaseSensitive(delta, "role");
                const cJSON * fin = cJSON_GetObjectItemCaseSensitive(ch, "finish_reason");
                const cJSON * cid = cJSON_GetObjectItemCaseSensitive(o, "id");
                const cJSON * obj = cJSON_GetObjectItemCaseSensitive(o, "object");
                if (cJSON_GetObjectItemCaseSensitive(o, "error")) out->error = true;
                if (cJSON_IsString(cid)) {
                    if (!id[0]) snprintf(id, sizeof id, "%s", cid->valuestring);
                    out->ids_same &= !strcmp(id, cid->valuestring);
                }
                if (cJSON_IsString(obj) && strcmp(obj->valuestring, "chat.completion.chunk")) out->ids_same = false;
                if (out->n_chunks == 0 && cJSON_IsString(role) && !strcmp(role->valuestring, "assistant")) out->role = true;
                if (cJSON_IsString(content)) strncat(out->text, content->valuestring, sizeof out->text - strlen(out->text) - 1);
                if (cJSON_IsString(fin)) snprintf(out->finish, sizeof out->finish, "%s", fin->valuestring);
                int total = usage_of(o, "total_tokens");
                if (total >= 0) out->usage_total = total;
                cJSON * region = cJSON_DetachItemFromObjectCaseSensitive(o, "vlm_region");
                if (region && !out->region) out->region = region;
                else cJSON_Delete(region);
                out->n_chunks++;
                cJSON_Delete(o);
            }
        }
        ev = next ? next + 2 : NULL;
    }
}

// Sends a chat request as OpenAI's clients do (their headers) and reads the event stream.
static int chat_stream(int at_port, const char * json, struct sse * out) {
    memset(out, 0, sizeof *out);
    out->status = -1;
    int s = serve_connect(at_port);
    if (s < 0) return -1;
    char hdr[1024];
    int hl = snprintf(hdr, sizeof hdr,
                      "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                      "Content-Type: application/json\r\nAccept: application/json\r\nAuthorization: Bearer sk-no-key\r\n"
                      "User-Agent: OpenAI/Python 1.0\r\nX-Stainless-Lang: python\r\nContent-Length: %zu\r\n\r\n",
                      at_port, strlen(json));
    bool ok = send(s, hdr, (size_t)hl, MSG_NOSIGNAL) == hl && send(s, json, strlen(json), MSG_NOSIGNAL) == (ssize_t)strlen(json);
    size_t n = 0;
    char * buf = ok ? read_all(s, &n) : NULL;
    close(s);
    char * sep = buf ? strstr(buf, "\r\n\r\n") : NULL;
    if (!sep || sscanf(buf, "HTTP/1.%*d %d", &out->status) != 1) {
        free(buf);
        return out->status = -1;
    }
    *sep = 0;
    bool chunked = strcasestr(buf, "transfer-encoding: chunked") != NULL;
    bool sse_type = strcasestr(buf, "content-type: text/event-stream") != NULL;
    char * body = sep + 4;
    size_t bn = n - (size_t)(body - buf);
    if (out->status == 200 && (!chunked || !sse_type || !dechunk(body, bn, &bn))) out->status = -2;
    if (out->status == 200) sse_parse(body, out);
    free(buf);
    return out->status;
}

// ---- tests -----------------------------------------------------------------------------------

// `vlm ask --json` on dog.jpg; the first answer and its prompt length, and the JSON (for the region).
static cJSON * cli_ask(const char * extra, char * answer, size_t n, int * prompt_tokens) {
    char cmd[8192], out[512];
    snprintf(out, sizeof out, "%s/ask.json", tmpdir);
    snprintf(cmd, sizeof cmd, "'%s' ask -m '%s' --mmproj '%s' '%s' '" QUESTION "' --max-tokens %d --backend cpu --json %s > '%s' 2>'%s/ask.err'",
             cli, text_path, mmproj_path, test_fixture("images/dog.jpg"), MAX_TOKENS, extra, out, tmpdir);
    CHECK(system(cmd) == 0, "vlm ask failed (see %s/ask.err)", tmpdir);
    char * text = test_read_text(out);
    cJSON * o = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON * a = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "answers"), 0);
    const cJSON * ans = cJSON_GetObjectItemCaseSensitive(a, "answer");
    const cJSON * pt = cJSON_GetObjectItemCaseSensitive(a, "prompt_tokens"), * rt = cJSON_GetObjectItemCaseSensitive(a, "reused_tokens");
    CHECK(cJSON_IsString(ans) && cJSON_IsNumber(pt), "vlm ask --json: no answer");
    snprintf(answer, n, "%s", cJSON_IsString(ans) ? ans->valuestring : "");
    if (prompt_tokens) *prompt_tokens = cJSON_IsNumber(pt) ? pt->valueint + (cJSON_IsNumber(rt) ? rt->valueint : 0) : -1;
    return o;
}

static void test_discovery(void) {
    char * body = NULL;
    int st = serve_http(port, "GET", "/v1/health", NULL, 0, NULL, &body, NULL);
    cJSON * o = body ? cJSON_Parse(body) : NULL;
    const cJSON * v = cJSON_GetObjectItemCaseSensitive(o, "vlm");
    CHECK(st == 200 && cJSON_IsString(v) && strstr(v->valuestring, "smolvlm"), "health: %d %s", st, body ? body : "");
    cJSON_Delete(o);
    free(body);
    st = serve_http(port, "GET", "/v1/models", NULL, 0, NULL, &body, NULL);
    o = body ? cJSON_Parse(body) : NULL;
    const cJSON * id = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "data"), 0), "id");
    CHECK(st == 200 && cJSON_IsString(id), "models: %d %s", st, body ? body : "");
    cJSON_Delete(o);
    free(body);
}

// The greedy answer, not streamed and streamed, from a data URI and from uploaded ids, equals `vlm ask`'s.
static void test_greedy(void) {
    char * j = image_question(dog_uri, QUESTION, GREEDY);
    cJSON * o = NULL;
    int st = post_json("/v1/chat/completions", j, &o);
    const char * content = message_content(o), * fin = finish_of(o);
    const cJSON * obj = cJSON_GetObjectItemCaseSensitive(o, "object"), * id = cJSON_GetObjectItemCaseSensitive(o, "id");
    CHECK(st == 200 && content && !strcmp(content, ref_answer), "data URI: %d '%s', vlm ask '%s'", st, content ? content : "",
          ref_answer);
    CHECK(cJSON_IsString(obj) && !strcmp(obj->valuestring, "chat.completion") && cJSON_IsString(id) &&
              !strncmp(id->valuestring, "chatcmpl-", 9) && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, "created")),
          "response object fields");
    CHECK(fin && (!strcmp(fin, "length") || !strcmp(fin, "stop")), "finish_reason %s", fin ? fin : "(none)");
    int pt = usage_of(o, "prompt_tokens"), ct = usage_of(o, "completion_tokens"), tt = usage_of(o, "total_tokens");
    CHECK(pt == ref_prompt_tokens && ct >= 1 && ct <= MAX_TOKENS && tt == pt + ct, "usage %d + %d = %d (prompt %d)", pt, ct, tt,
          ref_prompt_tokens);
    CHECK(!fin || strcmp(fin, "length") || ct == MAX_TOKENS, "finish 'length' after %d tokens", ct);
    cJSON_Delete(o);
    free(j);

    struct sse s;
    j = image_question(dog_uri, QUESTION, GREEDY ", \"stream\": true, \"stream_options\": {\"include_usage\": true}");
    chat_stream(port, j, &s);
    CHECK(s.status == 200 && s.done && s.role && s.ids_same && !s.error && !strcmp(s.text, ref_answer),
          "stream: status %d done %d role %d '%s'", s.status, s.done, s.role, s.text);
    CHECK(s.finish[0] && s.usage_total == tt && s.n_chunks >= 3, "stream: finish '%s', usage %d (want %d), %d chunks", s.finish,
          s.usage_total, tt, s.n_chunks);
    printf("  %-40s '%s' (%d chunks)\n", "greedy answer = vlm ask's", s.text, s.n_chunks);
    free(j);

    // an uploaded image, as vlm://image/ID and as the bare id
    char iid[32];
    upload_dog(port, iid);
    if (iid[0]) {
        char url[64];
        for (int k = 0; k < 2; k++) {
            snprintf(url, sizeof url, "%s%s", k ? "" : "vlm://image/", iid);
            j = image_question(url, QUESTION, GREEDY);
            cJSON * r = NULL;
            st = post_json("/v1/chat/completions", j, &r);
            content = message_content(r);
            CHECK(st == 200 && content && !strcmp(content, ref_answer), "image %s: %d '%s'", url, st, content ? content : "");
            cJSON_Delete(r);
            free(j);
        }
    }
}

// What OpenAI's clients send: text before the image, "detail", nulls for unset options, the
// newer max_completion_tokens; string contents, system and earlier assistant turns.
static void test_shapes(void) {
    size_t n = strlen(dog_uri) + 1024;
    char * j = malloc(n);
    snprintf(j, n,
             "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"Describe it.\"}, "
             "{\"type\": \"image_url\", \"image_url\": {\"url\": \"%s\", \"detail\": \"auto\"}}]}], \"model\": \"gpt-4o\", "
             "\"max_completion_tokens\": 8, \"frequency_penalty\": null, \"n\": 1, \"seed\": 7, \"stop\": null, "
             "\"temperature\": 0.7, \"top_p\": 0.9, \"user\": \"u1\", \"stream\": false}",
             dog_uri);
    cJSON * o = NULL;
    int st = post_json("/v1/chat/completions", j, &o);
    const char * c = message_content(o);
    CHECK(st == 200 && c && usage_of(o, "completion_tokens") <= 8, "python client shape: %d", st);
    char first[4096];
    snprintf(first, sizeof first, "%s", c ? c : "");
    cJSON_Delete(o);
    st = post_json("/v1/chat/completions", j, &o);   // the same seed: the same answer
    c = message_content(o);
    CHECK(st == 200 && c && !strcmp(c, first), "seeded sampling repeats: '%s' vs '%s'", c ? c : "", first);
    cJSON_Delete(o);
    free(j);

    st = post_json("/v1/chat/completions",
                   "{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}], \"max_tokens\": 6}", &o);
    int single = usage_of(o, "prompt_tokens");
    CHECK(st == 200 && message_content(o), "string content: %d", st);
    cJSON_Delete(o);
    st = post_json("/v1/chat/completions",
                   "{\"model\": \"m\", \"messages\": [{\"role\": \"system\", \"content\": \"You are brief.\"}, "
                   "{\"role\": \"user\", \"content\": \"Hello\"}, {\"role\": \"assistant\", \"content\": \"Hi.\"}, "
                   "{\"role\": \"developer\", \"content\": [{\"type\": \"text\", \"text\": \"Be kind.\"}]}, "
                   "{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"And now?\"}]}], \"max_tokens\": 6}",
                   &o);
    CHECK(st == 200 && message_content(o) && usage_of(o, "prompt_tokens") > single, "multi-turn: %d, prompt %d vs %d", st,
          usage_of(o, "prompt_tokens"), single);
    cJSON_Delete(o);

    // stop strings: the answer ends before the first one
    if (strlen(ref_answer) > 8) {
        char stop[8], want[4096], extra[128];
        memcpy(stop, ref_answer + 5, 3);
        stop[3] = 0;
        snprintf(want, sizeof want, "%.*s", (int)(strstr(ref_answer, stop) - ref_answer), ref_answer);
        snprintf(extra, sizeof extra, GREEDY ", \"stop\": [\"%s\"]", stop);
        if (!strchr(stop, '"') && !strchr(stop, '\\')) {
            j = image_question(dog_uri, QUESTION, extra);
            st = post_json("/v1/chat/completions", j, &o);
            c = message_content(o);
            CHECK(st == 200 && c && !strcmp(c, want) && finish_of(o) && !strcmp(finish_of(o), "stop"),
                  "stop '%s': %d '%s', want '%s'", stop, st, c ? c : "", want);
            cJSON_Delete(o);
            free(j);
        }
    }
}

// A region question: the answer and mask equal `vlm ask --sam --point`'s.
static void test_region(void) {
    char answer[4096];
    char extra[1200];
    snprintf(extra, sizeof extra, "--sam '%s' --point 400,300", sam_path);
    cJSON * ref = cli_ask(extra, answer, sizeof answer, NULL);
    const cJSON * ref_counts = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ref, "region"), "segmentation"), "counts");
    char iid[32];
    int st;
    upload_dog(port, iid);
    for (int stream = 0; iid[0] && stream < 2; stream++) {
        char j[1024];
        snprintf(j, sizeof j,
                 "{\"messages\": [{\"role\": \"user\", \"content\": \"" QUESTION "\"}], \"max_tokens\": %d, \"temperature\": 0, "
                 "\"stream\": %s, \"vlm_region\": {\"image\": \"%s\", \"points\": [[400, 300, 1]]}}",
                 MAX_TOKENS, stream ? "true" : "false", iid);
        cJSON * o = NULL, * region = NULL;
        const char * c = NULL;
        struct sse s;
        if (stream) {
            st = chat_stream(port, j, &s);
            c = s.text;
            region = s.region;
        } else {
            st = post_json("/v1/chat/completions", j, &o);
            c = message_content(o);
            region = cJSON_GetObjectItemCaseSensitive(o, "vlm_region");
        }
        CHECK(st == 200 && c && !strcmp(c, answer), "region%s: %d '%s', vlm ask '%s'", stream ? " (stream)" : "", st,
              c ? c : "", answer);
        const cJSON * mask = cJSON_GetObjectItemCaseSensitive(region, "mask");
        const cJSON * size = cJSON_GetObjectItemCaseSensitive(mask, "size");
        const cJSON * counts = cJSON_GetObjectItemCaseSensitive(mask, "counts");
        CHECK(cJSON_GetArraySize(size) == 2 && cJSON_GetArrayItem(size, 0)->valueint == 534 &&
                  cJSON_GetArrayItem(size, 1)->valueint == 800,
              "region mask size");
        CHECK(counts && ref_counts && cJSON_Compare(counts, ref_counts, true), "region mask RLE differs from vlm ask's");
        if (stream) cJSON_Delete(s.region);
        cJSON_Delete(o);
    }
    printf("  %-40s '%s'\n", "region answer = vlm ask --sam's", answer);
    cJSON_Delete(ref);
}

struct client {
    struct sse s;
    char *     json;
};

static void * client_run(void * arg) {
    struct client * c = arg;
    chat_stream(port, c->json, &c->s);
    return NULL;
}

static void test_concurrent(void) {
    static struct client c[N_CLIENTS];
    pthread_t t[N_CLIENTS];
    char * j = image_question(dog_uri, QUESTION, GREEDY ", \"stream\": true");
    double t0 = serve_now_ms();
    for (int i = 0; i < N_CLIENTS; i++) {
        c[i].json = j;
        pthread_create(&t[i], NULL, client_run, &c[i]);
    }
    int ok = 0;
    for (int i = 0; i < N_CLIENTS; i++) {
        pthread_join(t[i], NULL);
        bool good = c[i].s.status == 200 && c[i].s.done && c[i].s.finish[0] && !strcmp(c[i].s.text, ref_answer);
        CHECK(good, "client %d: status %d done %d finish '%s' '%s'", i, c[i].s.status, c[i].s.done, c[i].s.finish, c[i].s.text);
        ok += good;
    }
    printf("  %-40s %d/%d complete in %.0f ms\n", "concurrent streaming clients", ok, N_CLIENTS, serve_now_ms() - t0);
    free(j);
}

// A client that goes away mid-stream: its generation stops (the server says so in its log).
static void test_disconnect(void) {
    char * j = image_question(dog_uri, QUESTION, ", \"max_tokens\": 2000, \"temperature\": 0, \"stream\": true");
    int s = serve_connect(port);
    char hdr[256];
    int hl = snprintf(hdr, sizeof hdr, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", strlen(j));
    bool sent = s >= 0 && send(s, hdr, (size_t)hl, MSG_NOSIGNAL) == hl && send(s, j, strlen(j), MSG_NOSIGNAL) == (ssize_t)strlen(j);
    char buf[4096];
    size_t got = 0;
    while (sent && got < 1500) {   // a few chunks
        ssize_t k = recv(s, buf, sizeof buf, 0);
        if (k <= 0) break;
        got += (size_t)k;
    }
    CHECK(got >= 1500, "disconnect: only %zu bytes of the stream", got);
    if (s >= 0) close(s);
    free(j);
    int tokens = -1;
    for (int i = 0; i < 600 && tokens < 0; i++) {   // up to 60 s
        char * text = test_read_text(log_path);
        const char * m = text ? strstr(text, "the client went away; generation stopped after ") : NULL;
        if (m) tokens = atoi(m + strlen("the client went away; generation stopped after "));
        free(text);
        if (tokens < 0) usleep(100000);
    }
    CHECK(tokens >= 0 && tokens < 2000, "disconnect: generation not stopped (%d tokens)", tokens);
    cJSON * o = NULL;
    int st = post_json("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"max_tokens\": 4}", &o);
    CHECK(st == 200 && message_content(o), "after a disconnect: %d", st);
    cJSON_Delete(o);
    printf("  %-40s stopped after %d of 2000 tokens\n", "client gone mid-stream", tokens);
}

static void expect_error(const char * what, const char * body, int want) {
    cJSON * o = NULL;
    int st = post_json("/v1/chat/completions", body, &o);
    const cJSON * e = cJSON_GetObjectItemCaseSensitive(o, "error");
    const cJSON * msg = cJSON_GetObjectItemCaseSensitive(e, "message"), * type = cJSON_GetObjectItemCaseSensitive(e, "type");
    CHECK(st == want && cJSON_IsString(msg) && msg->valuestring[0] && cJSON_IsString(type), "%s: status %d (want %d)", what, st,
          want);
    if (cJSON_IsString(msg)) printf("  %-34s %d %s\n", what, st, msg->valuestring);
    cJSON_Delete(o);
}

static void test_bad_bodies(void) {
    expect_error("not JSON", "{\"messages\": [", 400);
    expect_error("empty body", "", 400);
    expect_error("no messages", "{\"model\": \"m\"}", 400);
    expect_error("empty messages", "{\"messages\": []}", 400);
    expect_error("unknown role", "{\"messages\": [{\"role\": \"tool\", \"content\": \"x\"}]}", 400);
    expect_error("no role", "{\"messages\": [{\"content\": \"x\"}]}", 400);
    expect_error("empty text", "{\"messages\": [{\"role\": \"user\", \"content\": \"  \"}]}", 400);
    expect_error("empty text part", "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"\"}]}]}", 400);
    expect_error("content not text", "{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", 400);
    expect_error("unknown part", "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"input_audio\"}]}]}", 400);
    expect_error("last turn not the user's",
                 "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}]}", 400);
    expect_error("max_tokens 0", "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"max_tokens\": 0}", 400);
    expect_error("max_tokens -5", "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"max_tokens\": -5}", 400);
    expect_error("max_tokens text", "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"max_tokens\": \"9\"}", 400);
    expect_error("temperature 5", "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"temperature\": 5}", 400);
    expect_error("n 2", "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"n\": 2}", 400);
    expect_error("stream not bool", "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"stream\": 1}", 400);
    expect_error("empty stop", "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"stop\": [\"\"]}", 400);
    expect_error("5 stops", "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"stop\": [\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400);
    expect_error("marker in text", "{\"messages\": [{\"role\": \"user\", \"content\": \"a <__media__> b\"}]}", 400);
    const char * img = "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"%s\"}}, "
                       "{\"type\": \"text\", \"text\": \"q\"}]}]}";
    const char * urls[][2] = { { "image not decodable", "data:image/png;base64,iVBORw0KGgoAAAAA" },
                               { "bad base64", "data:image/png;base64,!!!!" },
                               { "http URL", "http://example.com/a.png" },
                               { "unknown image id", "vlm://image/0123456789abcdef" } };
    for (int i = 0; i < 4; i++) {
        char b[512];
        snprintf(b, sizeof b, img, urls[i][1]);
        expect_error(urls[i][0], b, 400);
    }
    char two[1024];
    snprintf(two, sizeof two,
             "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"a\"}}, "
             "{\"type\": \"image_url\", \"image_url\": {\"url\": \"b\"}}, {\"type\": \"text\", \"text\": \"q\"}]}]}");
    expect_error("two images", two, 400);
    // over the context (2048 positions)
    size_t n = 40000;
    char * big = malloc(n);
    size_t o = (size_t)snprintf(big, n, "{\"messages\": [{\"role\": \"user\", \"content\": \"");
    while (o < n - 64) o += (size_t)snprintf(big + o, n - o, "hello ");
    snprintf(big + o, n - o, "\"}]}");
    expect_error("context overflow", big, 400);
    free(big);
    expect_error("region of an unknown image",
                 "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"vlm_region\": {\"image\": \"0123456789abcdef\", "
                 "\"points\": [[1, 1]]}}",
                 400);
    expect_error("region without a prompt",
                 "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"vlm_region\": {\"image\": \"0123456789abcdef\"}}", 400);
    char * body = NULL;
    int st = serve_http(port, "GET", "/v1/chat/completions", NULL, 0, NULL, &body, NULL);
    CHECK(st == 405, "GET /v1/chat/completions: %d", st);
    free(body);
    st = serve_http(port, "GET", "/v1/health", NULL, 0, NULL, &body, NULL);
    CHECK(st == 200, "the server keeps serving after bad bodies: %d", st);
    free(body);
}

struct long_request {
    int    port, status;
    double ms;
};

static void * long_run(void * arg) {
    struct long_request * l = arg;
    char * j = image_question(dog_uri, QUESTION, ", \"max_tokens\": 2000, \"temperature\": 0");
    char * body = NULL;
    double t0 = serve_now_ms();
    l->status = serve_http(l->port, "POST", "/v1/chat/completions", j, strlen(j), NULL, &body, NULL);
    l->ms = serve_now_ms() - t0;
    free(body);
    free(j);
    return NULL;
}

// While a long answer holds the model, a request waits --timeout (1 s) and gets 503.
static void test_busy(int at_port) {
    struct long_request l = { .port = at_port };
    pthread_t t;
    pthread_create(&t, NULL, long_run, &l);
    usleep(300000);
    const char * q = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"max_tokens\": 2}";
    char * body = NULL;
    double t0 = serve_now_ms();
    int st = serve_http(at_port, "POST", "/v1/chat/completions", q, strlen(q), NULL, &body, NULL);
    double waited = serve_now_ms() - t0;
    pthread_join(t, NULL);
    CHECK(l.status == 200 && (st == 200 || (st == 503 && body && strstr(body, "busy"))), "busy: %d then %d %s", l.status, st,
          body ? body : "");
    // decidable when the long answer outlasted the wait by far
    if (l.ms > 300 + waited + 1000) CHECK(st == 503 && waited >= 900, "busy: %d after %.0f ms, want 503 after 1 s", st, waited);
    printf("  %-40s %d after %.0f ms (the long answer took %.0f ms)\n", "a request while the model is busy", st, waited, l.ms);
    free(body);
    st = serve_http(at_port, "POST", "/v1/chat/completions", q, strlen(q), NULL, &body, NULL);
    CHECK(st == 200, "after busy: %d", st);
    free(body);
}

// A server with the VLM only (and --timeout 1): no SAM endpoints, uploads still work, regions
// need SAM, a request finding the model busy for 1 s gets 503.
static void test_vlm_only(void) {
    const char * args[] = { "--vlm", text_path, "--mmproj", mmproj_path, "--backend", "cpu", "--timeout", "1", NULL };
    char log2[600];
    snprintf(log2, sizeof log2, "%s/serve-vlm-only.log", tmpdir);
    struct serve_proc sp;
    if (!serve_start(cli, args, log2, &sp)) {
        CHECK(0, "vlm-only server did not start (see %s)", log2);
        return;
    }
    char * body = NULL;
    int st = serve_http(sp.port, "POST", "/v1/segment", "{}", 2, NULL, &body, NULL);
    CHECK(st == 404 && body && strstr(body, "SAM"), "vlm only: /v1/segment %d %s", st, body ? body : "");
    free(body);
    char iid[32], url[64];
    upload_dog(sp.port, iid);
    snprintf(url, sizeof url, "vlm://image/%s", iid);
    char * j = image_question(url, QUESTION, GREEDY ", \"stream\": true");
    struct sse s;
    chat_stream(sp.port, j, &s);
    CHECK(s.status == 200 && !strcmp(s.text, ref_answer), "vlm only, uploaded image: %d '%s'", s.status, s.text);
    free(j);
    char r[256];
    snprintf(r, sizeof r, "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"vlm_region\": {\"image\": \"%s\", "
                          "\"points\": [[1, 1]]}}", iid);
    st = serve_http(sp.port, "POST", "/v1/chat/completions", r, strlen(r), NULL, &body, NULL);
    CHECK(st == 400 && body && strstr(body, "SAM"), "vlm only: a region %d %s", st, body ? body : "");
    free(body);
    test_busy(sp.port);
    CHECK(serve_stop(&sp) == 0, "the vlm-only server did not stop cleanly (see %s)", log2);
}

// OpenAI's own JS client (npm `openai`, from `npm ci`) against the server (tests/clients/openai.mjs).
static void test_openai_js(void) {
    const char * src = getenv("VLM_SOURCE_DIR");
    char path[4096], want[600], cmd[8192];
    snprintf(path, sizeof path, "%s/node_modules/openai/package.json", src ? src : ".");
    if (!src || system("node --version > /dev/null 2>&1") != 0 || access(path, R_OK) != 0) {
        printf("  %-40s skipped: needs node and `npm ci` at the repository root\n", "OpenAI's JS client");
        return;
    }
    snprintf(want, sizeof want, "%s/want.txt", tmpdir);
    FILE * f = fopen(want, "wb");
    if (f) {
        fputs(ref_answer, f);
        fclose(f);
    }
    snprintf(cmd, sizeof cmd, "cd '%s' && node tests/clients/openai.mjs http://127.0.0.1:%d/v1 '%s' '" QUESTION "' %d '%s'", src,
             port, test_fixture("images/dog.jpg"), MAX_TOKENS, want);
    int rc = system(cmd);
    CHECK(f && WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "OpenAI's JS client: the checks failed (exit %d)",
          WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
}

int main(void) {
    cli = getenv("VLM_CLI");
    if (!cli || access(cli, X_OK) != 0) SKIP("VLM_CLI is not set (run through ctest)");
    snprintf(text_path, sizeof text_path, "%s", test_fixture("smolvlm-tiny/smolvlm-tiny-f32.gguf"));
    snprintf(mmproj_path, sizeof mmproj_path, "%s", test_fixture("smolvlm-tiny/mmproj-smolvlm-tiny-f32.gguf"));
    snprintf(sam_path, sizeof sam_path, "%s", test_fixture("sam-tiny"));
    if (access(text_path, R_OK) || access(mmproj_path, R_OK)) SKIP("smolvlm-tiny fixtures not found");
    char * probe = NULL;
    if (serve_http(1, "GET", "/", NULL, 0, NULL, &probe, NULL) == -1 && access(sam_path, R_OK)) SKIP("sam-tiny not found");
    tmpdir = test_tmp_dir("serve-chat");
    snprintf(log_path, sizeof log_path, "%s/serve.log", tmpdir);
    if (!(dog_uri = b64_data_uri(test_fixture("images/dog.jpg")))) SKIP("images/dog.jpg not found");
    cJSON_Delete(cli_ask("", ref_answer, sizeof ref_answer, &ref_prompt_tokens));

    const char * args[] = { "--vlm", text_path, "--mmproj", mmproj_path, "-m", sam_path, "--backend", "cpu", NULL };
    struct serve_proc sp;
    if (!serve_start(cli, args, log_path, &sp)) {
        CHECK(0, "server did not start (see %s)", log_path);
        TEST_END();
    }
    port = sp.port;
    test_discovery();
    test_greedy();
    test_openai_js();
    test_shapes();
    test_region();
    test_concurrent();
    test_disconnect();
    test_bad_bodies();
    CHECK(kill(sp.pid, 0) == 0, "the server died");
    CHECK(serve_stop(&sp) == 0, "the server did not stop cleanly (see %s)", log_path);
    test_vlm_only();
    free(dog_uri);
    TEST_END();
}
