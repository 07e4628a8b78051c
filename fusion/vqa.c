// vqa.c — visual question answering with a SmolVLM pair (see vqa.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "llama.h"
#include "model-file.h"
#include "vqa.h"

// An earlier image's embeddings (params.n_recent of them, least recently used first).
struct recent {
    uint64_t key;
    float *  embd;
    int32_t  n_rows, grid_x, grid_y;
};

struct vlm_vqa {
    struct vlm_model *          text;
    struct vlm_smolvlm_vision * vision;
    struct vlm_vqa_params       params;
    struct vlm_llm_session *    session;
    // the current image
    struct vlm_image            image;       // a copy of its pixels
    uint64_t                    image_key;   // content hash of pixels, size, tiling and projector
    bool                        encoded;
    struct vlm_smolvlm_tiles    tiles;
    float *                     embd;        // [n_rows, n_embd]
    int32_t                     n_rows, grid_x, grid_y;
    // what the session holds: the last prompt (image rows of the current image)
    struct vlm_image_prompt     prompt;
    float *                     logits_last; // keep_tensors
    double                      t0;          // when the last prompt began
    struct vlm_vqa_timings      timings;
    struct recent *             recent;      // [n_recent]
    int32_t                     n_recent;
};

enum vlm_status vlm_vqa_new(struct vlm_model * text, struct vlm_smolvlm_vision * vision,
                            const struct vlm_vqa_params * params, struct vlm_vqa ** out) {
    if (!out) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_vqa_new: out is NULL");
    *out = NULL;
    if (!text || !vision) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_vqa_new: no model");
    if (vlm_model_kind(text) != VLM_MODEL_LLAMA) return vlm_error(VLM_STATUS_INVALID_ARG, "not a language model");
    if (vlm_smolvlm_embd_dim(vision) != vlm_llm_n_embd(text))
        return vlm_error(VLM_STATUS_INVALID_ARG, "the mmproj projects to width %d but the text model's width is %d: "
                         "they do not belong together", vlm_smolvlm_embd_dim(vision), vlm_llm_n_embd(text));
    struct vlm_vqa * q = calloc(1, sizeof *q);
    if (!q) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    q->text = text;
    q->vision = vision;
    if (params) q->params = *params;
    if (q->params.n_recent < 0) q->params.n_recent = 0;
    if (q->params.n_recent && !(q->recent = calloc((size_t)q->params.n_recent, sizeof *q->recent))) {
        free(q);
        return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    struct vlm_llm_session_params sp = vlm_llm_session_default_params();
    sp.n_ctx = q->params.n_ctx;
    enum vlm_status st = vlm_llm_session_new(text, &sp, &q->session);
    if (st != VLM_STATUS_OK) {
        free(q);
        return st;
    }
    *out = q;
    return VLM_STATUS_OK;
}

static void drop_image(struct vlm_vqa * q) {
    vlm_image_free(&q->image);
    vlm_smolvlm_tiles_free(&q->tiles);
    free(q->embd);
    q->embd = NULL;
    q->encoded = false;
    vlm_image_prompt_free(&q->prompt);   // its image rows belonged to the old image
    vlm_llm_rewind(q->session, 0);
}

void vlm_vqa_free(struct vlm_vqa * q) {
    if (!q) return;
    drop_image(q);
    free(q->logits_last);
    for (int32_t i = 0; i < q->n_recent; i++) free(q->recent[i].embd);
    free(q->recent);
    vlm_llm_session_free(q->session);
    free(q);
}

enum vlm_status vlm_vqa_set_image(struct vlm_vqa * q, const struct vlm_image * img) {
    if (!q || !img || !img->data || img->channels != 3 || img->width < 1 || img->height < 1)
        return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_vqa_set_image: not an RGB image");
    size_t n = (size_t)img->width * (size_t)img->height * 3;
    uint64_t key = vlm_hash_bytes(img->data, n);
    // the key also names the projector file (path, size, modification time) and the tiling
    struct stat fs;
    memset(&fs, 0, sizeof fs);
    stat(q->vision->path, &fs);
    uint64_t meta[7] = { (uint64_t)img->width, (uint64_t)img->height, (uint64_t)q->params.tiling.max_tiles,
                         (uint64_t)q->params.tiling.no_upscale, (uint64_t)fs.st_size, (uint64_t)fs.st_mtime,
                         vlm_hash_bytes(q->vision->path, strlen(q->vision->path)) };
    key = vlm_hash_u64(key ^ vlm_hash_bytes(meta, sizeof meta));
    if (q->image.data && key == q->image_key) return VLM_STATUS_OK;   // the same image again
    drop_image(q);
    q->image = *img;
    if (!(q->image.data = malloc(n))) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    memcpy(q->image.data, img->data, n);
    q->image_key = key;
    return VLM_STATUS_OK;
}

static void cache_path(const struct vlm_vqa * q, char * out, size_t size) {
    snprintf(out, size, "%s/%016llx.safetensors", q->params.cache_dir, (unsigned long long)q->image_key);
}

// Image embeddings from the disk cache; false when absent or not of this shape.
static bool cache_load(struct vlm_vqa * q) {
    if (!q->params.cache_dir) return false;
    char path[1200];
    cache_path(q, path, sizeof path);
    struct vlm_safetensors * st = NULL;
    FILE * f = fopen(path, "rb");
    if (!f) return false;
    fclose(f);
    if (vlm_safetensors_open(path, &st) != VLM_STATUS_OK) return false;
    const struct vlm_file_tensor * e = vlm_safetensors_find(st, "image_embd"), * g = vlm_safetensors_find(st, "grid");
    const int32_t E = vlm_smolvlm_embd_dim(q->vision), per = vlm_smolvlm_tokens_per_tile(q->vision);
    bool ok = e && g && e->dtype == VLM_DTYPE_F32 && e->n_dims == 2 && e->shape[1] == E && g->dtype == VLM_DTYPE_I32 &&
              g->nbytes == 8;
    if (ok) {
        int32_t grid[2];
        memcpy(grid, g->data, sizeof grid);
        ok = grid[0] >= 1 && grid[1] >= 1 && grid[0] <= 64 && grid[1] <= 64 &&
             e->shape[0] == (int64_t)(grid[0] * grid[1] + 1) * per && (q->embd = malloc(e->nbytes));
        if (ok) {
            memcpy(q->embd, e->data, e->nbytes);
            q->grid_x = grid[0];
            q->grid_y = grid[1];
            q->n_rows = (int32_t)e->shape[0];
        }
    }
    vlm_safetensors_close(st);
    return ok;
}

static void cache_store(const struct vlm_vqa * q) {
    if (!q->params.cache_dir) return;
    char path[1200];
    cache_path(q, path, sizeof path);
    int32_t grid[2] = { q->grid_x, q->grid_y };
    struct vlm_file_tensor t[2];
    memset(t, 0, sizeof t);
    t[0] = (struct vlm_file_tensor){ .name = "image_embd", .dtype = VLM_DTYPE_F32, .n_dims = 2,
                                     .shape = { q->n_rows, vlm_smolvlm_embd_dim(q->vision) }, .data = q->embd,
                                     .nbytes = (size_t)q->n_rows * vlm_smolvlm_embd_dim(q->vision) * sizeof(float) };
    t[1] = (struct vlm_file_tensor){ .name = "grid", .dtype = VLM_DTYPE_I32, .n_dims = 1, .shape = { 2 }, .data = grid,
                                     .nbytes = sizeof grid };
    if (vlm_safetensors_write(path, t, 2) != VLM_STATUS_OK)   // a cache that cannot be written is not an error
        fprintf(stderr, "vlm: warning: image cache: %s\n", vlm_last_error());
}

// The current image's embeddings from the recent ones (moved to the most recent place).
static bool recent_load(struct vlm_vqa * q) {
    for (int32_t i = 0; i < q->n_recent; i++) {
        struct recent r = q->recent[i];
        if (r.key != q->image_key) continue;
        size_t n = (size_t)r.n_rows * (size_t)vlm_smolvlm_embd_dim(q->vision);
        if (!(q->embd = malloc(n * sizeof(float)))) return false;
        memcpy(q->embd, r.embd, n * sizeof(float));
        q->n_rows = r.n_rows, q->grid_x = r.grid_x, q->grid_y = r.grid_y;
        memmove(q->recent + i, q->recent + i + 1, sizeof r * (size_t)(q->n_recent - 1 - i));
        q->recent[q->n_recent - 1] = r;
        return true;
    }
    return false;
}

// Keeps a copy of the current image's embeddings, dropping the least recently used.
static void recent_store(struct vlm_vqa * q) {
    for (int32_t i = 0; i < q->n_recent; i++)
        if (q->recent[i].key == q->image_key) return;
    size_t n = (size_t)q->n_rows * (size_t)vlm_smolvlm_embd_dim(q->vision);
    float * e = q->params.n_recent ? malloc(n * sizeof(float)) : NULL;
    if (!e) return;   // memory is a cache: none is not an error
    memcpy(e, q->embd, n * sizeof(float));
    if (q->n_recent == q->params.n_recent) {
        free(q->recent[0].embd);
        memmove(q->recent, q->recent + 1, sizeof *q->recent * (size_t)--q->n_recent);
    }
    q->recent[q->n_recent++] = (struct recent){ q->image_key, e, q->n_rows, q->grid_x, q->grid_y };
}

static enum vlm_status encode(struct vlm_vqa * q) {
    if (q->encoded) return VLM_STATUS_OK;
    double t0 = vlm_now_ms();
    q->timings.image_cached = recent_load(q) || cache_load(q);
    enum vlm_status st = VLM_STATUS_OK;
    if (!q->timings.image_cached || q->params.keep_tensors)
        st = vlm_smolvlm_preprocess(q->vision, &q->image, &q->params.tiling, &q->tiles);
    if (st == VLM_STATUS_OK && !q->timings.image_cached) {
        q->grid_x = q->tiles.grid_x;
        q->grid_y = q->tiles.grid_y;
        q->n_rows = q->tiles.n_tiles * vlm_smolvlm_tokens_per_tile(q->vision);
        size_t n = (size_t)q->n_rows * (size_t)vlm_smolvlm_embd_dim(q->vision);
        if (!(q->embd = malloc(n * sizeof(float)))) st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
        else if ((st = vlm_smolvlm_encode(q->vision, &q->tiles, q->embd)) == VLM_STATUS_OK) cache_store(q);
    }
    if (st != VLM_STATUS_OK) return st;
    recent_store(q);
    q->encoded = true;
    q->timings.image_ms = q->timings.image_cached ? 0.0 : vlm_now_ms() - t0;
    return VLM_STATUS_OK;
}

// Decodes positions [start, p->n) of a prompt whose image rows begin at row 0.
static enum vlm_status decode_from(struct vlm_vqa * q, const struct vlm_image_prompt * p, int32_t start) {
    int32_t row = 0;
    for (int32_t i = 0; i < start; i++) row += p->ids[i] < 0;
    struct vlm_image_prompt tail = { p->ids + start, p->n - start, p->n_image_rows - row };
    const float * embd = q->embd ? q->embd + (size_t)row * vlm_smolvlm_embd_dim(q->vision) : NULL;
    return vlm_image_prompt_decode(q->session, &tail, embd, vlm_smolvlm_embd_dim(q->vision));
}

// Positions of a formatted prompt: with the image when it holds the marker, else text only.
static enum vlm_status build_prompt(struct vlm_vqa * q, const char * formatted, struct vlm_image_prompt * p) {
    if (!strstr(formatted, VLM_MEDIA_MARKER)) {
        memset(p, 0, sizeof *p);
        return vlm_llm_tokenize(q->text, formatted, true, &p->ids, &p->n);
    }
    if (!q->image.data) return vlm_error(VLM_STATUS_INVALID_ARG, "the prompt has an image marker but no image is set");
    enum vlm_status st = encode(q);
    if (st == VLM_STATUS_OK)
        st = vlm_idefics3_prompt(q->text, formatted, q->grid_x, q->grid_y, vlm_smolvlm_tokens_per_tile(q->vision), p);
    if (st == VLM_STATUS_OK && p->n_image_rows != q->n_rows)
        st = vlm_error(VLM_STATUS_BAD_MODEL, "the prompt has %d image rows but the image %d", p->n_image_rows, q->n_rows);
    return st;
}

static int32_t n_ctx_of(const struct vlm_vqa * q) {
    return q->params.n_ctx > 0 ? q->params.n_ctx : vlm_llm_n_ctx_train(q->text);
}

enum vlm_status vlm_vqa_prompt(struct vlm_vqa * q, const struct vlm_chat_message * messages, int32_t n_messages) {
    if (!q || !messages || n_messages < 1) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_vqa_prompt: no messages");
    q->t0 = vlm_now_ms();
    q->timings.image_ms = 0.0;   // unless this prompt encodes the image
    char * formatted = NULL;
    struct vlm_image_prompt p = { 0 };
    enum vlm_status st = vlm_llm_chat_format(q->text, messages, n_messages, true, &formatted);
    if (st == VLM_STATUS_OK) st = build_prompt(q, formatted, &p);
    free(formatted);
    const int32_t n_ctx = n_ctx_of(q);
    if (st == VLM_STATUS_OK && p.n >= n_ctx)
        st = vlm_error(VLM_STATUS_INVALID_ARG, "the prompt has %d positions, more than the context of %d%s", p.n, n_ctx,
                       p.n_image_rows ? ": use fewer tiles (--max-tiles) or a shorter text" : "");
    if (st != VLM_STATUS_OK) {
        vlm_image_prompt_free(&p);
        return st;
    }
    // keep the KV state of the prefix this prompt shares with the previous one
    int32_t keep = 0;
    while (keep < p.n && keep < q->prompt.n && p.ids[keep] == q->prompt.ids[keep]) keep++;
    if (keep == p.n) keep--;   // the last position is evaluated again for its logits
    if (keep > vlm_llm_n_past(q->session)) keep = vlm_llm_n_past(q->session);
    vlm_llm_rewind(q->session, keep);
    vlm_image_prompt_free(&q->prompt);
    q->prompt = p;
    double t1 = vlm_now_ms();
    st = decode_from(q, &q->prompt, keep);
    if (st != VLM_STATUS_OK) {
        vlm_image_prompt_free(&q->prompt);
        vlm_llm_rewind(q->session, 0);
        return st;
    }
    q->timings.prompt_ms = vlm_now_ms() - t1;
    q->timings.prompt_tokens = q->prompt.n - keep;
    q->timings.reused_tokens = keep;
    if (q->params.keep_tensors) {
        size_t V = (size_t)vlm_llm_n_vocab(q->text);
        float * l = realloc(q->logits_last, V * sizeof(float));
        if (!l) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
        q->logits_last = l;
        memcpy(l, vlm_llm_logits(q->session), V * sizeof(float));
    }
    return VLM_STATUS_OK;
}

enum vlm_status vlm_vqa_generate(struct vlm_vqa * q, struct vlm_sampler * sampler, const struct vlm_generate_params * gen,
                                 struct vlm_generation * out) {
    if (out) memset(out, 0, sizeof *out);
    if (!q || !sampler || !gen || !out) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_vqa_generate: NULL argument");
    if (!q->prompt.ids || vlm_llm_n_past(q->session) != q->prompt.n)
        return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_vqa_generate: no prompt (call vlm_vqa_prompt first)");
    // no further than the context: the answer then ends as at max_tokens
    struct vlm_generate_params g = *gen;
    const int32_t room = n_ctx_of(q) - q->prompt.n + 1;
    if (g.max_tokens > room) g.max_tokens = room;
    // the first token is sampled from the prompt's logits: its time is the question's time so far
    double t2 = vlm_now_ms();
    q->timings.first_token_ms = t2 - q->t0;
    enum vlm_status st = vlm_llm_generate(q->session, sampler, &g, out);
    q->timings.generate_ms = vlm_now_ms() - t2;
    return st;
}

enum vlm_status vlm_vqa_ask(struct vlm_vqa * q, const char * question, struct vlm_sampler * sampler,
                            const struct vlm_generate_params * gen, struct vlm_generation * out) {
    if (out) memset(out, 0, sizeof *out);
    if (!q || !question || !sampler || !gen || !out) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_vqa_ask: NULL argument");
    if (!q->image.data) return vlm_error(VLM_STATUS_INVALID_ARG, "no image set");
    const char * c = question;
    while (*c == ' ' || *c == '\t' || *c == '\n' || *c == '\r') c++;
    if (!*c) return vlm_error(VLM_STATUS_INVALID_ARG, "the question is empty");
    // the user turn: the image marker, then the question
    size_t len = strlen(question) + sizeof VLM_MEDIA_MARKER;
    char * content = malloc(len);
    if (!content) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    snprintf(content, len, "%s%s", VLM_MEDIA_MARKER, question);
    struct vlm_chat_message msg = { "user", content };
    enum vlm_status st = vlm_vqa_prompt(q, &msg, 1);
    free(content);
    return st == VLM_STATUS_OK ? vlm_vqa_generate(q, sampler, gen, out) : st;
}

const struct vlm_vqa_timings * vlm_vqa_timings(const struct vlm_vqa * q) { return q ? &q->timings : NULL; }

bool vlm_vqa_tensors(const struct vlm_vqa * q, struct vlm_vqa_tensors * out) {
    if (!q || !out || !q->params.keep_tensors || !q->logits_last || !q->prompt.ids) return false;
    out->tiles = &q->tiles;
    out->image_embd = q->embd;
    out->n_image_rows = q->n_rows;
    out->n_embd = vlm_smolvlm_embd_dim(q->vision);
    out->prompt = &q->prompt;
    out->logits_last = q->logits_last;
    out->n_vocab = vlm_llm_n_vocab(q->text);
    return true;
}
