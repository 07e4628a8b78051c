// cmd-index.c — `vlm index DIR` (a folder's images embedded with CLIP into an index file,
// incrementally, decoding on a reader thread while the model encodes) and `vlm search INDEX`
// (the best images for a text or an image). The file format: index.h.
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "clip.h"
#include "image.h"
#include "index.h"
#include "model.h"
#include "sha256.h"

#define DEFAULT_INDEX_NAME ".vlm-index.safetensors"
#define MAX_IMAGE_FILE     ((size_t)512 << 20)   // larger files are reported and skipped
#define LOG_EVERY_MS       10000.0               // progress lines when stderr is not a terminal

static bool is_help(const char * a) { return !strcmp(a, "--help") || !strcmp(a, "-h"); }

// ---- the folder ------------------------------------------------------------------------------------
// The extensions of the formats vlm_image_decode reads; other files are not looked at.
static bool image_ext(const char * name) {
    static const char * const ext[] = { "jpg", "jpeg", "png", "webp", "bmp", "gif", "tga" };
    const char * dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof ext / sizeof *ext; i++)
        if (!strcasecmp(dot + 1, ext[i])) return true;
    return false;
}

enum cand_state { C_PENDING, C_KEEP, C_NEW, C_FAILED };

// An image file found under the root, and what became of it.
struct cand {
    char *                rel;     // path relative to the root
    struct vlm_index_file id;      // size and mtime from the walk, sha256 once known
    int32_t               old;     // its entry in the earlier index, -1 when none
    enum cand_state       state;
    int32_t               row;     // C_KEEP: row of the earlier index; C_NEW: row of the new embeddings
};

struct walk {
    struct cand * c;
    size_t        n, cap;
    int32_t       n_other;         // files skipped by their extension
    const char *  cmd;
};

// Appends the image files under root/rel (rel "" for the root), hidden names skipped, symbolic
// links followed to files only (no cycles). False after printing why.
static bool walk_dir(struct walk * w, const char * root, const char * rel) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR * d = opendir(dir);
    if (!d) {
        if (*rel) {   // a subfolder that cannot be read is reported, the rest indexed
            fprintf(stderr, "vlm %s: warning: %s: %s (skipped)\n", w->cmd, dir, strerror(errno));
            return true;
        }
        return !cli_fail(w->cmd, "%s: %s", dir, strerror(errno));
    }
    bool ok = true;
    struct dirent * e;
    while (ok && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char sub[PATH_MAX], path[PATH_MAX];
        if ((size_t)snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name) >= sizeof sub ||
            (size_t)snprintf(path, sizeof path, "%s/%s", root, sub) >= sizeof path) {
            fprintf(stderr, "vlm %s: warning: %s/%s: path too long (skipped)\n", w->cmd, dir, e->d_name);
            continue;
        }
        struct stat ls, s;
        if (lstat(path, &ls) != 0 || stat(path, &s) != 0) {
            fprintf(stderr, "vlm %s: warning: %s: %s (skipped)\n", w->cmd, path, strerror(errno));
            continue;
        }
        if (S_ISDIR(s.st_mode)) {
            if (!S_ISLNK(ls.st_mode)) ok = walk_dir(w, root, sub);
            continue;
        }
        if (!S_ISREG(s.st_mode)) continue;
        if (!image_ext(e->d_name)) { w->n_other++; continue; }
        char * copy = strdup(sub);
        if (!copy || !vlm_grow_array((void **)&w->c, &w->cap, w->n + 1, sizeof *w->c, 256)) {
            free(copy);
            ok = !cli_fail(w->cmd, "out of memory");
            break;
        }
        struct vlm_index_file id = { .size = s.st_size, .mtime = s.st_mtim.tv_sec, .mtime_ns = s.st_mtim.tv_nsec };
        w->c[w->n++] = (struct cand){ .rel = copy, .old = -1, .row = -1, .id = id };
    }
    closedir(d);
    return ok;
}

static int cand_cmp(const void * a, const void * b) {
    return strcmp(((const struct cand *)a)->rel, ((const struct cand *)b)->rel);
}

// ---- the reader thread: read, hash, decode, preprocess -----------------------------------------------
enum item_kind { ITEM_PIXELS, ITEM_SAME, ITEM_ERROR };

struct item {
    int32_t        cand;
    enum item_kind kind;
    int32_t        old_row;      // ITEM_SAME: an earlier row with the same content
    char           sha256[65];
    float *        px;           // ITEM_PIXELS: [3, S, S]
    char *         err;          // ITEM_ERROR
};

struct reader {
    // input, read-only while the thread runs
    const char *             root;
    struct cand *            c;
    const int32_t *          todo;        // candidates to read, in order
    int32_t                  n_todo;
    const struct vlm_index * old;
    const int32_t *          by_sha;      // rows of old sorted by sha256
    int32_t                  size;        // CLIP input side
    float                    mean[3], std[3];
    // the bounded queue
    pthread_mutex_t          mu;
    pthread_cond_t           not_empty, not_full;
    struct item *            q;
    int32_t                  cap, head, count;
    bool                     done, stop;
    pthread_t                thread;
};

// The rows of an index sorted by path or by sha256, for binary searches. qsort has no context
// argument: sort_ix is set only around the sort.
static const struct vlm_index * sort_ix;
static int path_cmp(const void * a, const void * b) {
    return strcmp(sort_ix->entries[*(const int32_t *)a].path, sort_ix->entries[*(const int32_t *)b].path);
}
static int sha_cmp(const void * a, const void * b) {
    return strcmp(sort_ix->entries[*(const int32_t *)a].id.sha256, sort_ix->entries[*(const int32_t *)b].id.sha256);
}
static void sort_rows(const struct vlm_index * ix, int32_t * rows, int (*cmp)(const void *, const void *)) {
    for (int32_t i = 0; i < ix->n; i++) rows[i] = i;
    sort_ix = ix;
    qsort(rows, (size_t)ix->n, sizeof *rows, cmp);
    sort_ix = NULL;
}
// The row among rows (sorted by path or sha256) whose path or sha256 is key, -1 when none.
static int32_t find_row(const struct vlm_index * ix, const int32_t * rows, bool by_sha, const char * key) {
    int32_t lo = 0, hi = ix ? ix->n : 0;
    while (lo < hi) {
        int32_t mid = (lo + hi) / 2;
        const struct vlm_index_entry * e = &ix->entries[rows[mid]];
        int c = strcmp(by_sha ? e->id.sha256 : e->path, key);
        if (c == 0) return rows[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

static void read_one(const struct reader * r, int32_t ci, struct item * it) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", r->root, r->c[ci].rel);
    *it = (struct item){ .cand = ci, .kind = ITEM_ERROR, .old_row = -1 };
    char msg[PATH_MAX + 256];
    size_t n = 0;
    uint8_t * bytes = (uint8_t *)vlm_read_file(path, MAX_IMAGE_FILE, &n);
    if (!bytes) {
        snprintf(msg, sizeof msg, "%s: %s", path, errno == EFBIG ? "larger than 512 MiB" : strerror(errno));
        it->err = strdup(msg);
        return;
    }
    struct vlm_sha256 h;
    vlm_sha256_init(&h);
    vlm_sha256_update(&h, bytes, n);
    vlm_sha256_final_hex(&h, it->sha256);
    // content already embedded (unchanged, renamed or copied): not decoded
    if ((it->old_row = find_row(r->old, r->by_sha, true, it->sha256)) >= 0) {
        it->kind = ITEM_SAME;
        free(bytes);
        return;
    }
    struct vlm_image img = { 0 };
    size_t per = (size_t)3 * r->size * r->size;
    if (vlm_image_decode(bytes, n, &img) != VLM_STATUS_OK) {
        snprintf(msg, sizeof msg, "%s: %s", path, vlm_last_error());
    } else if (!(it->px = malloc(sizeof *it->px * per))) {
        snprintf(msg, sizeof msg, "%s: out of memory", path);
    } else if (vlm_clip_preprocess(&img, r->size, r->mean, r->std, it->px) != VLM_STATUS_OK) {   // clip.py _transform
        snprintf(msg, sizeof msg, "%s: %s", path, vlm_last_error());
        free(it->px), it->px = NULL;
    } else {
        it->kind = ITEM_PIXELS;
    }
    if (it->kind == ITEM_ERROR) it->err = strdup(msg);
    vlm_image_free(&img);
    free(bytes);
}

static void * reader_main(void * arg) {
    struct reader * r = arg;
    for (int32_t i = 0; i < r->n_todo; i++) {
        struct item it;
        read_one(r, r->todo[i], &it);
        pthread_mutex_lock(&r->mu);
        while (r->count == r->cap && !r->stop) pthread_cond_wait(&r->not_full, &r->mu);
        bool stop = r->stop;
        if (!stop) r->q[(r->head + r->count++) % r->cap] = it;
        pthread_cond_signal(&r->not_empty);
        pthread_mutex_unlock(&r->mu);
        if (stop) {
            free(it.px), free(it.err);
            break;
        }
    }
    pthread_mutex_lock(&r->mu);
    r->done = true;
    pthread_cond_signal(&r->not_empty);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

// The next item; false when the reader has finished and the queue is empty.
static bool reader_pop(struct reader * r, struct item * it) {
    pthread_mutex_lock(&r->mu);
    while (r->count == 0 && !r->done) pthread_cond_wait(&r->not_empty, &r->mu);
    bool got = r->count > 0;
    if (got) {
        *it = r->q[r->head];
        r->head = (r->head + 1) % r->cap;
        r->count--;
        pthread_cond_signal(&r->not_full);
    }
    pthread_mutex_unlock(&r->mu);
    return got;
}

// Stops the thread early (after a fatal error) and frees what is left in the queue.
static void reader_stop(struct reader * r) {
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_broadcast(&r->not_full);
    pthread_mutex_unlock(&r->mu);
}

// ---- the run ---------------------------------------------------------------------------------------------
struct run {
    const char *             cmd, * out_path;
    char                     root[PATH_MAX];
    struct cand *            c;
    int32_t                  n;
    const struct vlm_index * old;          // NULL when indexing from scratch
    struct vlm_index_model * model;
    float *                  emb;          // new embeddings [n_new, D]
    size_t                   cap;
    int32_t                  n_new, dim;
};

// The index as it stands: every embedded or unchanged image, and the earlier entries of the
// images not read yet (so a checkpoint drops nothing that a later run would not check again).
// *same: the result equals the earlier index. Writes it unless same; false after printing why.
static bool write_index(const struct run * r, bool * same) {
    const struct vlm_index * o = r->old;
    int32_t d = r->dim, n = 0;
    struct vlm_index_entry * es = malloc(sizeof *es * (size_t)(r->n ? r->n : 1));
    float * emb = malloc(sizeof *emb * (size_t)d * (r->n ? r->n : 1));
    if (!es || !emb) {
        free(es), free(emb);
        return !cli_fail(r->cmd, "out of memory");
    }
    bool eq = o && !strcmp(o->root, r->root) && !strcmp(o->model.name, r->model->name) &&
              !strcmp(o->model.file, r->model->file) && !memcmp(&o->model.id, &r->model->id, sizeof o->model.id);
    for (int32_t i = 0; i < r->n; i++) {
        const struct cand * c = &r->c[i];
        const float * row = NULL;
        struct vlm_index_file id = c->id;
        if (c->state == C_NEW) row = r->emb + (size_t)c->row * d;
        else if (c->state == C_KEEP) row = o->emb + (size_t)c->row * d;
        else if (c->state == C_PENDING && c->old >= 0) row = o->emb + (size_t)c->old * d, id = o->entries[c->old].id;
        if (!row) continue;
        es[n] = (struct vlm_index_entry){ .path = c->rel, .id = id };
        memcpy(emb + (size_t)n * d, row, sizeof *emb * (size_t)d);
        eq = eq && n < o->n && !strcmp(o->entries[n].path, c->rel) && !memcmp(&o->entries[n].id, &id, sizeof id) &&
             !memcmp(o->emb + (size_t)n * d, row, sizeof *emb * (size_t)d);
        n++;
    }
    eq = eq && n == o->n;
    *same = eq;
    struct vlm_index ix = { .root = (char *)r->root, .model = *r->model, .n = n, .entries = es, .emb = emb };
    bool ok = eq || vlm_index_write(r->out_path, &ix) == VLM_STATUS_OK;
    if (!ok) cli_fail(r->cmd, "%s", vlm_last_error());
    free(es), free(emb);
    return ok;
}

// Encodes the batch [nb, 3, S, S] of candidates bc[] and appends the embeddings.
static bool encode_batch(struct run * r, struct vlm_model * m, const float * px, const int32_t * bc, int32_t nb) {
    if (!vlm_grow_array((void **)&r->emb, &r->cap, ((size_t)r->n_new + nb) * r->dim, sizeof *r->emb, (size_t)64 * r->dim))
        return !cli_fail(r->cmd, "out of memory");
    struct vlm_clip_params p = vlm_clip_default_params();   // L2-normalized
    float * out = r->emb + (size_t)r->n_new * r->dim;
    if (vlm_clip_encode_pixels(m, px, nb, &p, out, (size_t)nb * r->dim) != VLM_STATUS_OK)
        return !cli_fail(r->cmd, "%s", vlm_last_error());
    for (int32_t i = 0; i < nb; i++) r->c[bc[i]].state = C_NEW, r->c[bc[i]].row = r->n_new + i;
    r->n_new += nb;
    return true;
}

static void progress(const char * cmd, bool tty, int32_t done, int32_t total, double t0) {
    double s = (vlm_now_ms() - t0) / 1e3, rate = s > 0 ? done / s : 0, eta = rate > 0 ? (total - done) / rate : 0;
    fprintf(stderr, "%svlm %s: %d/%d images, %.1f images/s, ETA %d:%02d:%02d%s", tty ? "\r\033[K" : "", cmd, (int)done,
            (int)total, rate, (int)(eta / 3600), (int)fmod(eta / 60, 60), (int)fmod(eta, 60), tty ? "" : "\n");
}

static void index_usage(FILE * f) {
    fprintf(f,
            "usage: vlm index DIR [-m MODEL] [--out INDEX] [--batch N] [options]\n\n"
            "Embeds every image under DIR (recursive; .jpg .jpeg .png .webp .bmp .gif .tga; hidden files and\n"
            "folders skipped) with CLIP into an index file for 'vlm search'. Runs are incremental: files with\n"
            "an unchanged size and time are not read, changed ones are hashed and embedded again only when\n"
            "their content changed, deleted ones are dropped. Files that cannot be decoded are reported and\n"
            "skipped. The index is written atomically, also as a checkpoint while the run goes on, so an\n"
            "interrupted run resumes where its last checkpoint stands.\n\n"
            "options:\n"
            "  -m, --model MODEL        CLIP model (default: the index's model, else clip-vit-b-32)\n"
            "  --out INDEX              the index file (default DIR/" DEFAULT_INDEX_NAME ")\n"
            "  --batch N                images per forward pass (default 32)\n"
            "  --checkpoint SECONDS     write the index every SECONDS while running (default 60; 0: each batch)\n"
            CLI_BACKEND_USAGE CLI_MODEL_USAGE CLI_LIMITS_USAGE);
}

int vlm_cmd_index(int argc, char ** argv) {
    const char * cmd = "index";
    struct vlm_model_params mp = vlm_model_default_params();
    const char * dir = NULL, * model_arg = NULL, * out_arg = NULL;
    int batch = 32, checkpoint_s = 60, rc = 1;
    for (int i = 1; i < argc; i++) {
        const char * a = argv[i];
        int c = cli_common_option(cmd, argc, argv, &i, &mp);
        if (c < 0) return 2;
        if (c > 0) continue;
        if (is_help(a)) { index_usage(stdout); return 0; }
        if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "--out") || !strcmp(a, "--batch") ||
            !strcmp(a, "--checkpoint")) {
            if (i + 1 >= argc) return cli_usage_error(cmd, "%s needs a value", a);
            const char * v = argv[++i];
            if (!strcmp(a, "--out")) out_arg = v;
            else if (!strcmp(a, "--batch")) {
                if (!cli_parse_int(v, 1, 4096, &batch))
                    return cli_usage_error(cmd, "--batch takes 1 to 4096, not '%s'", v);
            } else if (!strcmp(a, "--checkpoint")) {
                if (!cli_parse_int(v, 0, 1 << 30, &checkpoint_s))
                    return cli_usage_error(cmd, "--checkpoint takes seconds (0 or more), not '%s'", v);
            } else model_arg = v;
            continue;
        }
        if (a[0] == '-' && a[1]) return cli_usage_error(cmd, "unknown option '%s'", a);
        if (dir) return cli_usage_error(cmd, "one folder only (got '%s' and '%s')", dir, a);
        dir = a;
    }
    if (!dir) return cli_usage_error(cmd, "no folder given");
    struct run r = { .cmd = cmd };
    struct vlm_index old = { 0 };
    struct vlm_index_model mid = { 0 };
    struct walk w = { .cmd = cmd };
    struct vlm_model * m = NULL;
    int32_t * todo = NULL, * by_sha = NULL, * bc = NULL;
    float * px = NULL;
    struct reader rd = { 0 };
    bool have_old = false, started = false;
    int32_t n_failed = 0, n_same = 0;   // undecodable; read again with a known content
    double secs = 0;
    char out_buf[PATH_MAX];
    struct stat sb;
    if (stat(dir, &sb) != 0) return cli_fail(cmd, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return cli_fail(cmd, "%s is not a folder", dir);
    if (!realpath(dir, r.root)) return cli_fail(cmd, "%s: %s", dir, strerror(errno));
    if (!out_arg) {
        snprintf(out_buf, sizeof out_buf, "%s/%s", dir, DEFAULT_INDEX_NAME);
        out_arg = out_buf;
    }
    r.out_path = out_arg;
    if (!cli_check_output(cmd, "--out", out_arg)) return 1;
    if (stat(out_arg, &sb) == 0) {
        if (vlm_index_read(out_arg, &old) != VLM_STATUS_OK)
            return cli_fail(cmd, "%s (remove it to index from scratch)", vlm_last_error());
        have_old = true;
        r.old = &old;
        if (strcmp(old.root, r.root))   // a moved folder, or another one: entries are matched by relative path
            fprintf(stderr, "vlm %s: note: %s was the index of %s; it becomes the index of %s\n", cmd, out_arg, old.root,
                    r.root);
    }

    // the folder, sorted; the earlier entries matched by path
    if (!walk_dir(&w, r.root, "")) goto done;
    r.c = w.c, r.n = (int32_t)w.n;
    if (r.n == 0) {
        rc = cli_fail(cmd, "%s: no images found (%d other files; .jpg .jpeg .png .webp .bmp .gif .tga are read)%s", dir,
                      (int)w.n_other, have_old ? "; the index is left as it was" : "");
        goto done;
    }
    qsort(r.c, w.n, sizeof *r.c, cand_cmp);
    int32_t n_todo = 0, n_removed = have_old ? old.n : 0;
    if (!(todo = malloc(sizeof *todo * (size_t)r.n)) || !(by_sha = malloc(sizeof *by_sha * (size_t)(old.n + 1)))) {
        rc = cli_fail(cmd, "out of memory");
        goto done;
    }
    if (have_old) {   // the earlier entries by path (the same file) and by sha256 (the same content)
        sort_rows(&old, by_sha, path_cmp);
        for (int32_t i = 0; i < r.n; i++) r.c[i].old = find_row(&old, by_sha, false, r.c[i].rel);
        sort_rows(&old, by_sha, sha_cmp);
    }
    for (int32_t i = 0; i < r.n; i++) {
        struct cand * c = &r.c[i];
        if (c->old >= 0) n_removed--;
        const struct vlm_index_file * o = c->old >= 0 ? &old.entries[c->old].id : NULL;
        if (o && o->size == c->id.size && o->mtime == c->id.mtime && o->mtime_ns == c->id.mtime_ns) {
            c->state = C_KEEP, c->row = c->old, c->id = *o;   // not read again
        } else {
            todo[n_todo++] = i;
        }
    }

    // nothing to read: the index's model stays as it is recorded, not even loaded
    if (n_todo == 0 && have_old && !model_arg) {
        mid = old.model;
        mid.name = strdup(old.model.name), mid.file = strdup(old.model.file);
        if (!mid.name || !mid.file) { rc = cli_fail(cmd, "out of memory"); goto done; }
        r.model = &mid, r.dim = mid.embed_dim;
        goto write;
    }
    // the model: the index's unless -m names another (an error when it differs)
    if (!(m = vlm_index_load_model(cmd, have_old ? &old : NULL, out_arg, model_arg, &mp, &mid))) goto done;
    r.model = &mid, r.dim = mid.embed_dim;
    const struct vlm_clip_model * cm = vlm_clip_of(m);
    int32_t s = cm->image_size;
    size_t per = (size_t)3 * s * s;
    rd = (struct reader){ .root = r.root, .c = r.c, .todo = todo, .n_todo = n_todo, .old = have_old ? &old : NULL,
                          .by_sha = by_sha, .size = s, .cap = 2 * batch };
    memcpy(rd.mean, cm->mean, sizeof rd.mean), memcpy(rd.std, cm->std, sizeof rd.std);
    if (!(rd.q = calloc((size_t)rd.cap, sizeof *rd.q)) || !(px = malloc(sizeof *px * per * (size_t)batch)) ||
        !(bc = malloc(sizeof *bc * (size_t)batch))) {
        rc = cli_fail(cmd, "out of memory");
        goto done;
    }
    pthread_mutex_init(&rd.mu, NULL);
    pthread_cond_init(&rd.not_empty, NULL), pthread_cond_init(&rd.not_full, NULL);
    if (pthread_create(&rd.thread, NULL, reader_main, &rd) != 0) {
        rc = cli_fail(cmd, "cannot start a thread");
        goto done;
    }
    started = true;

    // encode while the reader decodes the next images
    const bool tty = isatty(STDERR_FILENO);
    const char * crash = getenv("VLM_INDEX_CRASH_AFTER");   // tests: die like a killed run after N images
    const long crash_after = crash ? atol(crash) : 0;
    const double t0 = vlm_now_ms();
    double last_write = t0, last_log = t0;
    int32_t n_done = 0, nb = 0;
    struct item it;
    bool ok = true;
    while (ok && reader_pop(&rd, &it)) {
        struct cand * c = &r.c[it.cand];
        memcpy(c->id.sha256, it.sha256, sizeof c->id.sha256);
        if (it.kind == ITEM_ERROR) {
            if (tty) fprintf(stderr, "\r\033[K");
            fprintf(stderr, "vlm %s: warning: %s (skipped)\n", cmd, it.err ? it.err : "out of memory");
            c->state = C_FAILED, n_failed++;
        } else if (it.kind == ITEM_SAME) {
            c->state = C_KEEP, c->row = it.old_row, n_same++;
        } else {
            memcpy(px + per * nb, it.px, sizeof *px * per);
            bc[nb++] = it.cand;
        }
        free(it.px), free(it.err);
        n_done++;
        bool last = n_done == n_todo;
        if (nb == batch || (last && nb > 0)) {
            ok = encode_batch(&r, m, px, bc, nb);
            nb = 0;
            if (ok && crash_after > 0 && r.n_new >= crash_after) raise(SIGKILL);
            bool same;
            if (ok && !last && vlm_now_ms() - last_write >= checkpoint_s * 1e3) {
                ok = write_index(&r, &same);
                last_write = vlm_now_ms();
            }
        }
        if (tty) progress(cmd, true, n_done, n_todo, t0);
        else if (vlm_now_ms() - last_log >= LOG_EVERY_MS && !last) {
            progress(cmd, false, n_done, n_todo, t0);
            last_log = vlm_now_ms();
        }
    }
    if (tty && n_todo > 0) fprintf(stderr, "\r\033[K");
    if (!ok) goto done;
    secs = (vlm_now_ms() - t0) / 1e3;
    if (r.n_new == 0 && n_same == 0 && n_failed == r.n) {
        rc = cli_fail(cmd, "%s: none of the %d images could be read%s", dir, (int)r.n,
                      have_old ? "; the index is left as it was" : "");
        goto done;
    }
write:;
    bool same = false;
    if (!write_index(&r, &same)) goto done;
    int32_t n_kept = r.n - n_todo;
    printf("vlm index: %s: %d images: %d embedded, %d unchanged, %d re-read with the same content, %d removed, "
           "%d skipped (not decodable)",
           r.root, (int)r.n, (int)r.n_new, (int)n_kept, (int)n_same, (int)n_removed, (int)n_failed);
    if (r.n_new > 0) printf("; %.2f s, %.1f images/s", secs, r.n_new / (secs > 0 ? secs : 1e-9));
    printf("\n%s: %s\n", out_arg, same ? "up to date, nothing embedded" : "written");
    rc = 0;
done:
    if (started) {
        reader_stop(&rd);
        pthread_join(rd.thread, NULL);
        while (rd.count > 0) {   // what the reader had queued when a failure stopped the run
            free(rd.q[rd.head].px), free(rd.q[rd.head].err);
            rd.head = (rd.head + 1) % rd.cap, rd.count--;
        }
        pthread_mutex_destroy(&rd.mu);
        pthread_cond_destroy(&rd.not_empty), pthread_cond_destroy(&rd.not_full);
    }
    free(rd.q), free(px), free(bc), free(todo), free(by_sha), free(r.emb);
    for (size_t i = 0; i < w.n; i++) free(w.c[i].rel);
    free(w.c);
    vlm_index_model_free(&mid);
    vlm_index_free(&old);
    vlm_model_free(m);
    return rc;
}

// ---- vlm search --------------------------------------------------------------------------------------
static void search_usage(FILE * f) {
    fprintf(f,
            "usage: vlm search INDEX (\"TEXT\" | --image QUERY.jpg) [--top K] [--json] [options]\n\n"
            "The images of an index made by 'vlm index' closest to a text or to an image, by the cosine of\n"
            "their CLIP embeddings, best first: score and path per line (the timing on stderr).\n\n"
            "options:\n"
            "  --image IMG              search by an image instead of a text\n"
            "  --top K                  how many results (default 10)\n"
            "  --json                   machine-readable output on stdout\n"
            "  -m, --model MODEL        the CLIP model (default: the one the index records; another one is an error)\n"
            CLI_BACKEND_USAGE CLI_LIMITS_USAGE);
}

int vlm_cmd_search(int argc, char ** argv) {
    const char * cmd = "search";
    struct vlm_model_params mp = vlm_model_default_params();
    const char * index_path = NULL, * text = NULL, * image_path = NULL, * model_arg = NULL;
    bool json = false;
    int top = 10, rc = 1;
    for (int i = 1; i < argc; i++) {
        const char * a = argv[i];
        int c = cli_common_option(cmd, argc, argv, &i, &mp);
        if (c < 0) return 2;
        if (c > 0) continue;
        if (is_help(a)) { search_usage(stdout); return 0; }
        if (!strcmp(a, "--json")) { json = true; continue; }
        if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "--image") || !strcmp(a, "--top")) {
            if (i + 1 >= argc) return cli_usage_error(cmd, "%s needs a value", a);
            const char * v = argv[++i];
            if (!strcmp(a, "--image")) image_path = v;
            else if (!strcmp(a, "--top")) {
                if (!cli_parse_int(v, 1, 1000000, &top))
                    return cli_usage_error(cmd, "--top takes a positive number, not '%s'", v);
            } else model_arg = v;
            continue;
        }
        if (a[0] == '-' && a[1]) return cli_usage_error(cmd, "unknown option '%s'", a);
        if (!index_path) index_path = a;
        else if (!text) text = a;
        else return cli_usage_error(cmd, "one query only (got \"%s\" and \"%s\")", text, a);
    }
    if (!index_path) return cli_usage_error(cmd, "no index given");
    if (!text == !image_path) return cli_usage_error(cmd, "give a query: a text or --image IMG (one of them)");
    struct vlm_index ix = { 0 };
    struct vlm_index_model mid = { 0 };
    struct vlm_image img = { 0 };
    struct vlm_model * m = NULL;
    float * q = NULL, * score = NULL;
    int32_t * idx = NULL;
    if (image_path && vlm_image_load(image_path, &img) != VLM_STATUS_OK) return cli_fail(cmd, "%s", vlm_last_error());
    if (vlm_index_read(index_path, &ix) != VLM_STATUS_OK) { rc = cli_fail(cmd, "%s", vlm_last_error()); goto done; }
    if (!(m = vlm_index_load_model(cmd, &ix, index_path, model_arg, &mp, &mid))) goto done;
    int32_t d = mid.embed_dim;
    q = malloc(sizeof *q * (size_t)d);
    score = malloc(sizeof *score * (size_t)top);
    idx = malloc(sizeof *idx * (size_t)top);
    if (!q || !score || !idx) { rc = cli_fail(cmd, "out of memory"); goto done; }
    double t0 = vlm_now_ms();
    struct vlm_clip_params p = vlm_clip_default_params();   // L2-normalized, as the index
    bool cut = false;
    enum vlm_status st = image_path ? vlm_clip_encode_image(m, &img, &p, q, (size_t)d)
                                    : vlm_clip_encode_text(m, text, &p, q, (size_t)d, &cut);
    if (st != VLM_STATUS_OK) { rc = cli_fail(cmd, "%s", vlm_last_error()); goto done; }
    if (cut) fprintf(stderr, "vlm search: warning: the text is longer than the model's context and was truncated\n");
    double t1 = vlm_now_ms();
    int32_t k = vlm_index_top(&ix, q, top, idx, score);
    double t2 = vlm_now_ms();
    if (json) {
        cJSON * o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "index", index_path);
        cJSON_AddStringToObject(o, image_path ? "image" : "text", image_path ? image_path : text);
        cJSON_AddStringToObject(o, "root", ix.root);
        cJSON_AddStringToObject(o, "model", ix.model.name);
        cJSON_AddNumberToObject(o, "images", ix.n);
        cJSON_AddNumberToObject(o, "encode_ms", round((t1 - t0) * 1000) / 1000);
        cJSON_AddNumberToObject(o, "search_ms", round((t2 - t1) * 1000) / 1000);
        cJSON * res = cJSON_AddArrayToObject(o, "results");
        for (int32_t i = 0; i < k; i++) {
            cJSON * e = cJSON_CreateObject();
            char file[PATH_MAX];
            snprintf(file, sizeof file, "%s/%s", ix.root, ix.entries[idx[i]].path);
            cJSON_AddNumberToObject(e, "id", idx[i]);
            cJSON_AddStringToObject(e, "path", ix.entries[idx[i]].path);
            cJSON_AddStringToObject(e, "file", file);
            cJSON_AddNumberToObject(e, "score", score[i]);
            cJSON_AddItemToArray(res, e);
        }
        char * s = cJSON_Print(o);
        cJSON_Delete(o);
        if (!s) { rc = cli_fail(cmd, "out of memory"); goto done; }
        printf("%s\n", s);
        free(s);
    } else {
        for (int32_t i = 0; i < k; i++) printf("%.4f  %s/%s\n", (double)score[i], ix.root, ix.entries[idx[i]].path);
        fprintf(stderr, "vlm search: best %d of %d images in %.3f ms (the query encoded in %.1f ms)\n", (int)k, (int)ix.n,
                t2 - t1, t1 - t0);
    }
    rc = 0;
done:
    free(q), free(score), free(idx);
    vlm_image_free(&img);
    vlm_index_model_free(&mid);
    vlm_index_free(&ix);
    vlm_model_free(m);
    return rc;
}
