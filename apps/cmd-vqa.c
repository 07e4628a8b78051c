// cmd-vqa.c — VQA scripts. `vlm ask --batch` answers the questions of a JSONL file (or one
// question about every image of a folder) into an append-only JSONL file that a restarted
// run resumes, optionally as one shard of a job array. `vlm vqa-score` scores such a file
// with the VQA accuracy metric.
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "vqa-batch.h"

#define CMD "ask"
#define MAX_INPUT_BYTES ((size_t)1 << 34)   // a JSONL file or an answers file
#define RECENT_IMAGES 8   // image embeddings kept for lines that come back to an earlier image

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static bool blank(const char * s) {
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
    return !*s;
}

// ---- input: the lines of a JSONL file, or the images of a folder ------------------------------
struct input {
    char *  buf;      // the file's bytes, split into lines in place
    char ** text;     // [n] a line, or a folder's image file name (NULL: a blank line)
    int32_t n;
    bool    folder;
    char    dir[PATH_MAX];   // where relative image paths start ("": the working folder)
};

static void input_free(struct input * in) {
    if (in->folder)
        for (int32_t i = 0; i < in->n; i++) free(in->text[i]);
    free(in->text);
    free(in->buf);
}

static bool is_image_name(const char * name) {
    static const char * const ext[] = { ".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tga" };
    const char * dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof ext / sizeof *ext; i++)
        if (!strcasecmp(dot, ext[i])) return true;
    return false;
}

static int name_cmp(const void * a, const void * b) { return strcmp(*(char * const *)a, *(char * const *)b); }

// The folder's image files, sorted by name.
static bool read_folder(const char * path, struct input * in) {
    DIR * d = opendir(path);
    if (!d) return !cli_fail(CMD, "%s: %s", path, strerror(errno));
    int32_t cap = 0;
    struct dirent * e;
    bool ok = true;
    while (ok && (e = readdir(d))) {
        char full[PATH_MAX];
        struct stat sb;
        if (e->d_name[0] == '.' || !is_image_name(e->d_name) ||
            snprintf(full, sizeof full, "%s/%s", path, e->d_name) >= (int)sizeof full || stat(full, &sb) != 0 ||
            !S_ISREG(sb.st_mode))
            continue;
        if (in->n == cap) {
            char ** t = realloc(in->text, sizeof *t * (size_t)(cap = cap ? 2 * cap : 64));
            if (!t) { ok = false; break; }
            in->text = t;
        }
        if (!(in->text[in->n] = strdup(e->d_name))) ok = false;
        else in->n++;
    }
    closedir(d);
    if (!ok) return !cli_fail(CMD, "out of memory");
    if (in->n == 0) return !cli_fail(CMD, "%s: no images (.jpg, .jpeg, .png, .webp, .bmp, .gif, .tga)", path);
    qsort(in->text, (size_t)in->n, sizeof *in->text, name_cmp);
    return true;
}

// The file's lines (a line break ends each; "\r\n" too), in place.
static char ** split_lines(char * buf, size_t size, int32_t * n_out) {
    int32_t n = 0, cap = 0;
    char ** v = NULL;
    for (char * p = buf; p < buf + size;) {
        char * end = memchr(p, '\n', (size_t)(buf + size - p));
        if (!end) end = buf + size;
        *end = 0;
        if (end > p && end[-1] == '\r') end[-1] = 0;
        if (n == cap) {
            char ** t = realloc(v, sizeof *t * (size_t)(cap = cap ? 2 * cap : 1024));
            if (!t) { free(v); return NULL; }
            v = t;
        }
        v[n++] = p;
        p = end + 1;
    }
    *n_out = n;
    return v ? v : calloc(1, sizeof *v);
}

static bool read_input(const char * path, struct input * in) {
    struct stat sb;
    if (stat(path, &sb) != 0) return !cli_fail(CMD, "%s: %s", path, strerror(errno));
    if ((in->folder = S_ISDIR(sb.st_mode))) {
        snprintf(in->dir, sizeof in->dir, "%s", path);
        return read_folder(path, in);
    }
    const char * slash = strrchr(path, '/');
    if (slash) snprintf(in->dir, sizeof in->dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    size_t size = 0;
    if (!(in->buf = vlm_read_file(path, MAX_INPUT_BYTES, &size))) return !cli_fail(CMD, "%s: %s", path, strerror(errno));
    if (!(in->text = split_lines(in->buf, size, &in->n))) return !cli_fail(CMD, "out of memory");
    for (int32_t i = 0; i < in->n; i++)
        if (blank(in->text[i])) in->text[i] = NULL;
    return true;
}

// ---- resume: what the answers file holds already ------------------------------------------------
// A line is known by its key: "id" in a JSONL file, "image" in a folder (else its number).
static const char * key_name(const struct input * in) { return in->folder ? "image" : "id"; }

struct done {
    bool *  line;       // [n] lines answered (or failed) by line number, for lines without a key
    char ** ids;        // sorted keys of answered lines (as JSON text)
    int32_t n_ids, n_lines, n_errors;
};

static void done_free(struct done * d) {
    for (int32_t i = 0; i < d->n_ids; i++) free(d->ids[i]);
    free(d->ids);
    free(d->line);
}

static bool done_has(const struct done * d, int32_t line, const char * id) {
    if (id) return d->n_ids && bsearch(&id, d->ids, (size_t)d->n_ids, sizeof *d->ids, name_cmp);
    return line >= 1 && line <= d->n_lines && d->line[line - 1];
}

// Reads the lines of an earlier run; drops a torn last line (a crash mid-write).
static bool read_done(const char * path, const char * key, int32_t n_lines, struct done * d) {
    if (!(d->line = calloc((size_t)n_lines + 1, 1))) return !cli_fail(CMD, "out of memory");
    d->n_lines = n_lines;
    size_t size = 0;
    char * buf = vlm_read_file(path, MAX_INPUT_BYTES, &size);
    if (!buf) return errno == ENOENT || !cli_fail(CMD, "%s: %s", path, strerror(errno));
    size_t whole = size;
    while (whole > 0 && buf[whole - 1] != '\n') whole--;
    if (whole < size) {
        if (truncate(path, (off_t)whole) != 0) {
            free(buf);
            return !cli_fail(CMD, "%s: cannot drop its partial last line: %s", path, strerror(errno));
        }
        fprintf(stderr, "vlm ask: %s: dropped a partial last line (an interrupted write)\n", path);
    }
    int32_t n = 0;
    char ** lines = split_lines(buf, whole, &n);
    bool ok = lines != NULL;
    for (int32_t i = 0; ok && i < n; i++) {
        cJSON * o = blank(lines[i]) ? NULL : cJSON_Parse(lines[i]);
        const cJSON * ln = cJSON_GetObjectItemCaseSensitive(o, "line"), * id = cJSON_GetObjectItemCaseSensitive(o, key);
        if (o && cJSON_GetObjectItemCaseSensitive(o, "error")) d->n_errors++;
        if (id) {
            char ** t = realloc(d->ids, sizeof *t * (size_t)(d->n_ids + 1));
            ok = t && (t[d->n_ids] = cJSON_PrintUnformatted(id));
            if (t) d->ids = t;
            if (ok) d->n_ids++;
        } else if (cJSON_IsNumber(ln) && ln->valuedouble >= 1 && ln->valuedouble <= n_lines) {
            d->line[(int32_t)ln->valuedouble - 1] = true;
        }
        cJSON_Delete(o);
    }
    free(lines);
    free(buf);
    if (!ok) return !cli_fail(CMD, "out of memory");
    qsort(d->ids, (size_t)d->n_ids, sizeof *d->ids, name_cmp);
    return true;
}

// ---- output: one write() per complete line ------------------------------------------------------
static bool write_line(int fd, const cJSON * o) {
    char * t = cJSON_PrintUnformatted(o);
    if (!t) return !cli_fail(CMD, "out of memory");
    size_t n = strlen(t);
    t[n++] = '\n';   // replaces the NUL: the line is written with its length
    struct stat sb;
    bool regular = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, t + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0 || (regular && (size_t)w < n)) {   // a file gets the whole line or nothing
            int err = w < 0 ? errno : ENOSPC;
            if (regular && w > 0 && ftruncate(fd, sb.st_size) != 0) err = errno;
            free(t);
            return !cli_fail(CMD, "writing the answers: %s", strerror(err));
        }
        off += (size_t)w;
    }
    free(t);
    return true;
}

static void set_item(cJSON * o, const char * key, cJSON * v) {
    if (cJSON_GetObjectItemCaseSensitive(o, key)) cJSON_ReplaceItemInObjectCaseSensitive(o, key, v);
    else cJSON_AddItemToObject(o, key, v);
}

// ---- the batch ----------------------------------------------------------------------------------
struct batch {
    const struct vlm_ask_batch * b;
    const struct input *         in;
    struct vlm_vqa *             q;
    struct vlm_image             image;            // the last image loaded
    char                         image_path[PATH_MAX];
};

// Answers line i into *o (the input object with "line", "answer", "tokens", "ms" set). On
// failure err holds the reason; *fatal tells a failure of the run (device, memory) from one
// of the line (bad JSON, missing image, over-long question).
static bool answer_line(struct batch * s, int32_t i, cJSON ** o, char * err, size_t err_size, bool * fatal) {
    const struct vlm_ask_batch * b = s->b;
    const double t0 = now_ms();
    *fatal = false;
    if (s->in->folder) {
        *o = cJSON_CreateObject();
        cJSON_AddStringToObject(*o, "image", s->in->text[i]);
        cJSON_AddStringToObject(*o, "question", b->question);
    } else {
        *o = cJSON_Parse(s->in->text[i]);
    }
    if (!cJSON_IsObject(*o)) {
        snprintf(err, err_size, "not a JSON object");
        return false;
    }
    const cJSON * im = cJSON_GetObjectItemCaseSensitive(*o, "image"), * qu = cJSON_GetObjectItemCaseSensitive(*o, "question");
    const char * question = qu ? cJSON_GetStringValue(qu) : b->question;
    if (!cJSON_IsString(im) || !im->valuestring[0]) {
        snprintf(err, err_size, "no \"image\" (a path)");
        return false;
    }
    if (!question || blank(question)) {
        snprintf(err, err_size, qu ? "\"question\" is not a text or empty" : "no \"question\" (and no --question)");
        return false;
    }
    char path[PATH_MAX];
    const bool rel = im->valuestring[0] != '/' && s->in->dir[0];
    if (snprintf(path, sizeof path, "%s%s%s", rel ? s->in->dir : "", rel ? "/" : "", im->valuestring) >= (int)sizeof path) {
        snprintf(err, err_size, "the image path is too long");
        return false;
    }
    enum vlm_status st = VLM_STATUS_OK;
    if (strcmp(path, s->image_path) != 0) {   // the same file as the line before: already decoded
        vlm_image_free(&s->image);
        s->image_path[0] = 0;
        if ((st = vlm_image_load(path, &s->image)) == VLM_STATUS_OK) snprintf(s->image_path, sizeof s->image_path, "%s", path);
    }
    struct vlm_sampler_params sp = b->sp;
    sp.seed += (uint64_t)i;   // a line's answer depends on its line, not on the shard or resume
    struct vlm_sampler * smp = NULL;
    struct vlm_generation g = { 0 };
    struct vlm_generate_params gp = { .max_tokens = b->max_tokens };
    if (st == VLM_STATUS_OK) st = vlm_vqa_set_image(s->q, &s->image);
    if (st == VLM_STATUS_OK) st = vlm_sampler_new(&sp, &smp);
    if (st == VLM_STATUS_OK) st = vlm_vqa_ask(s->q, question, smp, &gp, &g);
    vlm_sampler_free(smp);
    if (st != VLM_STATUS_OK) {
        *fatal = st != VLM_STATUS_IO && st != VLM_STATUS_BAD_IMAGE && st != VLM_STATUS_INVALID_ARG;
        snprintf(err, err_size, "%s", vlm_last_error());
        vlm_generation_free(&g);
        return false;
    }
    const char * a = g.text ? g.text : "";
    size_t len = strlen(a);
    while (*a == ' ' || *a == '\n' || *a == '\t') a++, len--;
    while (len && (a[len - 1] == ' ' || a[len - 1] == '\n' || a[len - 1] == '\t')) len--;
    char * answer = strndup(a, len);
    set_item(*o, "line", cJSON_CreateNumber(i + 1));
    set_item(*o, "answer", cJSON_CreateString(answer ? answer : ""));
    set_item(*o, "tokens", cJSON_CreateNumber(g.n_ids));
    set_item(*o, "ms", cJSON_CreateNumber(round((now_ms() - t0) * 10) / 10));
    free(answer);
    vlm_generation_free(&g);
    if (!answer) {
        *fatal = true;
        snprintf(err, err_size, "out of memory");
    }
    return answer != NULL;
}

// The key of line i as JSON text (malloc'd), NULL when it has none.
static char * line_id(const struct input * in, int32_t i) {
    cJSON * o = in->folder ? cJSON_CreateString(in->text[i]) : cJSON_Parse(in->text[i]);
    const cJSON * id = in->folder ? o : cJSON_GetObjectItemCaseSensitive(o, "id");
    char * s = id ? cJSON_PrintUnformatted(id) : NULL;
    cJSON_Delete(o);
    return s;
}

static void show_progress(const struct vlm_ask_batch * b, int32_t done, int32_t total, double t0) {
    double s = (now_ms() - t0) / 1e3, eta = done ? s / done * (total - done) : 0;
    char shard[48] = "";
    if (b->n_shards > 1) snprintf(shard, sizeof shard, " (shard %d/%d)", (int)b->shard, (int)b->n_shards);
    fprintf(stderr, "\r\033[Kvlm ask%s: %d/%d lines, %.2f s/line, ETA %d:%02d:%02d", shard, (int)done, (int)total,
            done ? s / done : 0.0, (int)(eta / 3600), (int)fmod(eta / 60, 60), (int)fmod(eta, 60));
}

int vlm_ask_batch_run(const struct vlm_ask_batch * b) {
    struct input in = { 0 };
    struct done dn = { 0 };
    struct batch s = { .b = b, .in = &in };
    struct vlm_model * text = NULL;
    struct vlm_smolvlm_vision * vision = NULL;
    int fd = -1, rc = 1;
    int32_t failed = 0;
    bool * todo = NULL;
    if (!read_input(b->input, &in)) goto done;
    if (in.folder && !b->question) {
        rc = cli_usage_error(CMD, "%s is a folder: give the question with --question", b->input);
        goto done;
    }
    if (!(todo = calloc((size_t)in.n + 1, 1))) { cli_fail(CMD, "out of memory"); goto done; }
    if (b->output && !read_done(b->output, key_name(&in), in.n, &dn)) goto done;
    int32_t total = 0;
    for (int32_t i = 0; i < in.n; i++) {
        if (!in.text[i] || i % b->n_shards != b->shard - 1) continue;
        char * id = dn.n_ids ? line_id(&in, i) : NULL;
        todo[i] = !done_has(&dn, i + 1, id);
        free(id);
        total += todo[i];
    }
    if (total > 0) {
        struct vlm_vqa_params vp = b->vp;
        vp.n_recent = RECENT_IMAGES;
        if (!(text = cli_load_model(CMD, b->text_path, &b->mp))) goto done;
        if (vlm_model_kind(text) != VLM_MODEL_LLAMA) {
            cli_fail(CMD, "%s is not a language model (a GGUF with general.architecture = llama)", b->text_path);
            goto done;
        }
        if (vlm_smolvlm_vision_load(b->mmproj_path, &b->mp, &vision) != VLM_STATUS_OK ||
            vlm_vqa_new(text, vision, &vp, &s.q) != VLM_STATUS_OK) {
            cli_fail(CMD, "%s", vlm_last_error());
            goto done;
        }
    }
    fd = b->output ? open(b->output, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : STDOUT_FILENO;
    if (fd < 0) { cli_fail(CMD, "%s: %s", b->output, strerror(errno)); goto done; }
    const bool tty = isatty(STDERR_FILENO);
    const double t0 = now_ms();
    int32_t n_done = 0;
    for (int32_t i = 0; i < in.n; i++) {
        if (!todo[i]) continue;
        cJSON * o = NULL;
        char err[PATH_MAX + 256];
        bool fatal = false, ok = answer_line(&s, i, &o, err, sizeof err, &fatal);
        if (!ok) {
            if (tty) fprintf(stderr, "\r\033[K");
            if (fatal) {   // the run cannot go on: the line stays unanswered for the next run
                cJSON_Delete(o);
                cli_fail(CMD, "%s:%d: %s", b->input, (int)i + 1, err);
                goto done;
            }
            if (in.folder) fprintf(stderr, "vlm ask: %s, image %d: %s\n", b->input, (int)i + 1, err);
            else fprintf(stderr, "vlm ask: %s:%d: %s\n", b->input, (int)i + 1, err);
            cJSON * e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "line", i + 1);
            const cJSON * id = cJSON_GetObjectItemCaseSensitive(o, key_name(&in));
            if (id) cJSON_AddItemToObject(e, key_name(&in), cJSON_Duplicate(id, true));
            cJSON_AddStringToObject(e, "error", err);
            cJSON_Delete(o);
            o = e;
            failed++;
        }
        ok = write_line(fd, o);
        cJSON_Delete(o);
        if (!ok) goto done;
        n_done++;
        if (tty) show_progress(b, n_done, total, t0);
    }
    if (tty && n_done) fprintf(stderr, "\n");
    if (failed + dn.n_errors > 0)
        fprintf(stderr, "vlm ask: %d line%s failed%s\n", (int)(failed + dn.n_errors), failed + dn.n_errors == 1 ? "" : "s",
                dn.n_errors ? " (counting the earlier runs')" : "");
    rc = failed + dn.n_errors > 0 ? 1 : 0;
done:
    if (fd > STDERR_FILENO) close(fd);
    free(todo);
    vlm_image_free(&s.image);
    vlm_vqa_free(s.q);
    vlm_smolvlm_vision_free(vision);
    vlm_model_free(text);
    done_free(&dn);
    input_free(&in);
    return rc;
}

// ---- vlm vqa-score ------------------------------------------------------------------------------
// ref: VQA/PythonEvaluationTools/vqaEvaluation/vqaEval.py (VQAEval.processPunctuation,
// processDigitArticle, evaluate): the same normalization, applied to the answer and to every
// reference (upstream skips the references when all are equal; they are normalized already).
static const char * const number_words[][2] = {
    { "none", "0" }, { "zero", "0" }, { "one", "1" }, { "two", "2" }, { "three", "3" }, { "four", "4" },
    { "five", "5" }, { "six", "6" }, { "seven", "7" }, { "eight", "8" }, { "nine", "9" }, { "ten", "10" },
};
// upstream's table as it is (its capitalized keys never match lower-cased words and are left out)
static const char * const contractions[][2] = {
    { "aint", "ain't" }, { "arent", "aren't" }, { "cant", "can't" }, { "couldve", "could've" }, { "couldnt", "couldn't" },
    { "couldn'tve", "couldn't've" }, { "couldnt've", "couldn't've" }, { "didnt", "didn't" }, { "doesnt", "doesn't" },
    { "dont", "don't" }, { "hadnt", "hadn't" }, { "hadnt've", "hadn't've" }, { "hadn'tve", "hadn't've" },
    { "hasnt", "hasn't" }, { "havent", "haven't" }, { "hed", "he'd" }, { "hed've", "he'd've" }, { "he'dve", "he'd've" },
    { "hes", "he's" }, { "howd", "how'd" }, { "howll", "how'll" }, { "hows", "how's" }, { "isnt", "isn't" },
    { "itd", "it'd" }, { "itd've", "it'd've" }, { "it'dve", "it'd've" }, { "itll", "it'll" }, { "maam", "ma'am" },
    { "mightnt", "mightn't" }, { "mightnt've", "mightn't've" }, { "mightn'tve", "mightn't've" }, { "mightve", "might've" },
    { "mustnt", "mustn't" }, { "mustve", "must've" }, { "neednt", "needn't" }, { "notve", "not've" },
    { "oclock", "o'clock" }, { "oughtnt", "oughtn't" }, { "ow's'at", "'ow's'at" }, { "'ows'at", "'ow's'at" },
    { "'ow'sat", "'ow's'at" }, { "shant", "shan't" }, { "shed've", "she'd've" }, { "she'dve", "she'd've" },
    { "shouldve", "should've" }, { "shouldnt", "shouldn't" }, { "shouldnt've", "shouldn't've" },
    { "shouldn'tve", "shouldn't've" }, { "somebody'd", "somebodyd" }, { "somebodyd've", "somebody'd've" },
    { "somebody'dve", "somebody'd've" }, { "somebodyll", "somebody'll" }, { "somebodys", "somebody's" },
    { "someoned", "someone'd" }, { "someoned've", "someone'd've" }, { "someone'dve", "someone'd've" },
    { "someonell", "someone'll" }, { "someones", "someone's" }, { "somethingd", "something'd" },
    { "somethingd've", "something'd've" }, { "something'dve", "something'd've" }, { "somethingll", "something'll" },
    { "thats", "that's" }, { "thered", "there'd" }, { "thered've", "there'd've" }, { "there'dve", "there'd've" },
    { "therere", "there're" }, { "theres", "there's" }, { "theyd", "they'd" }, { "theyd've", "they'd've" },
    { "they'dve", "they'd've" }, { "theyll", "they'll" }, { "theyre", "they're" }, { "theyve", "they've" },
    { "twas", "'twas" }, { "wasnt", "wasn't" }, { "wed've", "we'd've" }, { "we'dve", "we'd've" }, { "weve", "we've" },
    { "werent", "weren't" }, { "whatll", "what'll" }, { "whatre", "what're" }, { "whats", "what's" },
    { "whatve", "what've" }, { "whens", "when's" }, { "whered", "where'd" }, { "wheres", "where's" },
    { "whereve", "where've" }, { "whod", "who'd" }, { "whod've", "who'd've" }, { "who'dve", "who'd've" },
    { "wholl", "who'll" }, { "whos", "who's" }, { "whove", "who've" }, { "whyll", "why'll" }, { "whyre", "why're" },
    { "whys", "why's" }, { "wont", "won't" }, { "wouldve", "would've" }, { "wouldnt", "wouldn't" },
    { "wouldnt've", "wouldn't've" }, { "wouldn'tve", "wouldn't've" }, { "yall", "y'all" }, { "yall'll", "y'all'll" },
    { "y'allll", "y'all'll" }, { "yall'd've", "y'all'd've" }, { "y'alld've", "y'all'd've" }, { "y'all'dve", "y'all'd've" },
    { "youd", "you'd" }, { "youd've", "you'd've" }, { "you'dve", "you'd've" }, { "youll", "you'll" },
    { "youre", "you're" }, { "youve", "you've" },
};
static const char punct[] = ";/[]\"{}()=+\\_-><@`,?!";

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static const char * lookup(const char * const (*table)[2], size_t n, const char * w) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(table[i][0], w)) return table[i][1];
    return NULL;
}

// The answer as the VQA evaluation compares it (malloc'd; NULL when out of memory).
static char * vqa_normalize(const char * in) {
    size_t n = strlen(in);
    char * t = malloc(n + 1), * out = malloc(2 * n + 2);
    if (!t || !out) {
        free(t), free(out);
        return NULL;
    }
    while (is_space(*in)) in++, n--;   // strip(), with newlines and tabs as spaces
    while (n && is_space(in[n - 1])) n--;
    for (size_t i = 0; i < n; i++) t[i] = in[i] == '\n' || in[i] == '\t' ? ' ' : in[i];
    // processPunctuation: a mark is removed when the text has it next to a space or has a
    // digit,digit comma anywhere; otherwise it becomes a space
    bool digit_comma = false;
    for (size_t i = 1; i + 1 < n; i++) digit_comma |= t[i] == ',' && is_digit(t[i - 1]) && is_digit(t[i + 1]);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!t[i] || !strchr(punct, t[i])) {
            out[k++] = t[i];
            continue;
        }
        bool drop = digit_comma;
        for (size_t j = 0; j < n && !drop; j++)
            drop = t[j] == t[i] && ((j + 1 < n && t[j + 1] == ' ') || (j > 0 && t[j - 1] == ' '));
        if (!drop) out[k++] = ' ';
    }
    // periodStrip: periods not followed by a digit go (at most 32: upstream passes re.UNICODE
    // as sub's count)
    size_t m = 0;
    int removed = 0;
    for (size_t i = 0; i < k; i++) {
        if (out[i] == '.' && removed < 32 && !(i + 1 < k && is_digit(out[i + 1]))) {
            removed++;
            continue;
        }
        t[m++] = (char)(out[i] >= 'A' && out[i] <= 'Z' ? out[i] - 'A' + 'a' : out[i]);   // lower()
    }
    t[m] = 0;
    // processDigitArticle: number words to digits, articles dropped, contractions restored
    k = 0;
    char * save = NULL;
    for (char * w = strtok_r(t, " \t\n\r\f\v", &save); w; w = strtok_r(NULL, " \t\n\r\f\v", &save)) {
        const char * d = lookup(number_words, sizeof number_words / sizeof *number_words, w);
        if (d) w = (char *)d;
        if (!strcmp(w, "a") || !strcmp(w, "an") || !strcmp(w, "the")) continue;
        const char * c = lookup(contractions, sizeof contractions / sizeof *contractions, w);
        k += (size_t)sprintf(out + k, "%s%s", k ? " " : "", c ? c : w);
    }
    out[k] = 0;
    free(t);
    return out;
}

static void score_usage(FILE * f) {
    fprintf(f,
            "usage: vlm vqa-score ANSWERS.jsonl [ANSWERS.jsonl ...] [--json]\n\n"
            "Scores the answers of `vlm ask --batch` (the shards' files together) against each line's\n"
            "\"answers\": a list of references (strings, or objects with \"answer\" as in VQAv2) or one string.\n"
            "Answer and references are normalized as the official VQA evaluation does (lower case,\n"
            "punctuation, articles a/an/the, number words to digits, contractions). Prints:\n"
            "  VQA accuracy   min(#references equal to the answer / 3, 1), averaged over the leave-one-out\n"
            "                 subsets of the references as the official evaluation does (a single\n"
            "                 reference: 1 when equal), then over the lines\n"
            "  exact match    the share of lines whose answer equals one of the references\n"
            "Lines with an \"error\" or without \"answers\" are counted apart, not scored.\n\n"
            "  --json         one JSON object: count, vqa_accuracy, exact_match, failed, no_references\n");
}

// Adds one line's scores; false when it has no references.
static bool score_line(const cJSON * o, double * acc, double * em, bool * oom) {
    const cJSON * refs = cJSON_GetObjectItemCaseSensitive(o, "answers");
    int32_t n = cJSON_IsArray(refs) ? cJSON_GetArraySize(refs) : cJSON_IsString(refs) ? 1 : 0;
    if (n == 0) return false;
    const char * given = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "answer"));
    char * answer = vqa_normalize(given ? given : "");
    bool * match = calloc((size_t)n, sizeof *match);
    int32_t m = 0;
    for (int32_t i = 0; answer && match && i < n; i++) {
        const cJSON * r = cJSON_IsArray(refs) ? cJSON_GetArrayItem(refs, i) : refs;
        if (cJSON_IsObject(r)) r = cJSON_GetObjectItemCaseSensitive(r, "answer");
        char * ref = cJSON_IsString(r) ? vqa_normalize(r->valuestring) : NULL;
        *oom |= cJSON_IsString(r) && !ref;
        m += match[i] = ref && !strcmp(ref, answer);
        free(ref);
    }
    *oom |= !answer || !match;
    double a = n == 1 ? m : 0;
    for (int32_t i = 0; n > 1 && i < n; i++) a += fmin(1.0, (m - match[i]) / 3.0) / n;
    *acc += a;
    *em += m > 0;
    free(answer);
    free(match);
    return true;
}

int vlm_cmd_vqa_score(int argc, char ** argv) {
    const char * cmd = "vqa-score";
    bool json = false;
    int n_files = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            score_usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--json")) json = true;
        else if (argv[i][0] == '-' && argv[i][1]) return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        else n_files++;
    }
    if (!n_files) return cli_usage_error(cmd, "no answers file");
    double acc = 0, em = 0;
    int64_t count = 0, failed = 0, no_refs = 0;
    for (int f = 1; f < argc; f++) {
        if (argv[f][0] == '-' && argv[f][1]) continue;
        size_t size = 0;
        int32_t n = 0;
        char * buf = vlm_read_file(argv[f], MAX_INPUT_BYTES, &size);
        if (!buf) return cli_fail(cmd, "%s: %s", argv[f], strerror(errno));
        char ** lines = split_lines(buf, size, &n);
        bool ok = lines != NULL, oom = !ok;
        for (int32_t i = 0; ok && i < n; i++) {
            if (blank(lines[i])) continue;
            cJSON * o = cJSON_Parse(lines[i]);
            if (!cJSON_IsObject(o)) {
                ok = !cli_fail(cmd, "%s:%d: not a JSON object", argv[f], (int)i + 1);
            } else if (cJSON_GetObjectItemCaseSensitive(o, "error")) {
                failed++;
            } else if (score_line(o, &acc, &em, &oom)) {
                count++;
            } else {
                no_refs++;
            }
            cJSON_Delete(o);
            ok &= !oom;
        }
        free(lines);
        free(buf);
        if (oom) return cli_fail(cmd, "out of memory");
        if (!ok) return 1;
    }
    if (count == 0) return cli_fail(cmd, "no line has an answer and references (\"answers\")");
    if (json)
        printf("{\"count\": %lld, \"vqa_accuracy\": %.6f, \"exact_match\": %.6f, \"failed\": %lld, \"no_references\": %lld}\n",
               (long long)count, acc / count, em / count, (long long)failed, (long long)no_refs);
    else
        printf("VQA accuracy  %.2f%%\nexact match   %.2f%%\nlines scored  %lld (not scored: %lld failed, %lld without "
               "\"answers\")\n", 100 * acc / count, 100 * em / count, (long long)count, (long long)failed,
               (long long)no_refs);
    return 0;
}
