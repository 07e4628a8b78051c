// fuzz-sam-load.c — libFuzzer target: SAM-family model loading (vlm_model_load on the CPU)
// from a small checkpoint whose tensors and config.json the input rewrites. The input is text:
//   line 1: the base model, one of the tiny checkpoints below (SAM, HF-named SlimSAM,
//           MobileSAM, EfficientSAM)
//   then edits, one a line:
//     drop PREFIX          every tensor whose name starts with PREFIX goes
//     copy PREFIX NEW      every such tensor is added again with PREFIX replaced by NEW
//                          (an extra block: copy image_encoder.blocks.1. image_encoder.blocks.2.)
//     shape NAME D0 D1 ..  the tensor gets this shape (its data repeated to fill it, or cut)
//     fill PREFIX VALUE    every element of those tensors is VALUE (nan, inf, 1e30, ...)
//     dtype PREFIX TYPE    those tensors converted to f32, f16 or bf16
//   then, optionally, a line "%%" and the config.json text after it (no "%%": no config.json).
// A model that loads runs one click on a small image when its input is at most 256 pixels.
// Contract: a load or a forward either succeeds or fails with a one-line error message.
#include "core.h"
#include "fuzz-common.h"
#include "model-file.h"
#include "vlm.h"

#define MAX_TENSORS   4096
#define MAX_ELEMS     (1 << 20)   // per reshaped tensor
#define MAX_EDITS     32
#define MAX_FORWARD_S 256         // larger inputs load but do not run (speed)

struct base {
    const char * name, * dir, * file;   // dir under VLM_SOURCE_DIR (tests/data/...) or VLM_FIXTURES (fixture)
    bool         fixture;
    struct vlm_safetensors * st;
};
static struct base g_bases[] = {
    { "sam-tiny", "sam-tiny", "model.safetensors", true, NULL },
    { "sam-mini", "tests/data/sam-mini", "model.safetensors", false, NULL },
    { "slimsam-tiny", "tests/data/slimsam-tiny", "model.safetensors", false, NULL },
    { "mobilesam-tiny", "tests/data/mobilesam-tiny", "mobile_sam.pt", false, NULL },
    { "effsam-tiny", "tests/data/effsam-tiny", "efficient_sam_tiny.pt", false, NULL },
};
#define N_BASES (sizeof g_bases / sizeof *g_bases)

static char g_dir[256], g_model[320], g_config[320];
static bool g_verbose;   // FUZZ_VERBOSE=1: each input's outcome on stderr (to read a crash's or a seed's)

static void cleanup(void) {
    unlink(g_model);
    unlink(g_config);
    rmdir(g_dir);
    for (size_t i = 0; i < N_BASES; i++) vlm_safetensors_close(g_bases[i].st);
}

int LLVMFuzzerInitialize(int * argc, char *** argv) {
    const char * tmp = getenv("TMPDIR"), * src = getenv("VLM_SOURCE_DIR"), * fix = getenv("VLM_FIXTURES");
    snprintf(g_dir, sizeof g_dir, "%s/vlm-fuzz-sam-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) abort();
    snprintf(g_model, sizeof g_model, "%s/model.safetensors", g_dir);
    snprintf(g_config, sizeof g_config, "%s/config.json", g_dir);
    atexit(cleanup);
    g_verbose = getenv("FUZZ_VERBOSE") && atoi(getenv("FUZZ_VERBOSE")) > 0;
    int n = 0;
    for (size_t i = 0; i < N_BASES; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s/%s", g_bases[i].fixture ? (fix ? fix : "") : (src ? src : "."), g_bases[i].dir,
                 g_bases[i].file);
        if (vlm_model_file_open(path, &g_bases[i].st) == VLM_STATUS_OK) n++;
        else fprintf(stderr, "fuzz-sam-load: base %s unavailable: %s\n", g_bases[i].name, vlm_last_error());
    }
    if (!n) {
        fprintf(stderr, "fuzz-sam-load: no base model (set VLM_SOURCE_DIR and VLM_FIXTURES)\n");
        abort();
    }
    return 0;
}

// The edited table: tensors[i] point into the base's map or into owned[i].
struct table {
    int32_t                n;
    struct vlm_file_tensor t[MAX_TENSORS];
    void *                 owned[MAX_TENSORS];
    char *                 names[MAX_TENSORS];   // owned names (copies)
};

static void table_free(struct table * tb) {
    for (int32_t i = 0; i < tb->n; i++) {
        free(tb->owned[i]);
        free(tb->names[i]);
    }
    tb->n = 0;
}

static bool starts(const char * s, const char * prefix) { return !strncmp(s, prefix, strlen(prefix)); }

static void drop(struct table * tb, const char * prefix) {
    int32_t k = 0;
    for (int32_t i = 0; i < tb->n; i++) {
        if (starts(tb->t[i].name, prefix)) {
            free(tb->owned[i]);
            free(tb->names[i]);
            continue;
        }
        tb->t[k] = tb->t[i];
        tb->owned[k] = tb->owned[i];
        tb->names[k++] = tb->names[i];
    }
    tb->n = k;
}

static void copy(struct table * tb, const char * prefix, const char * to) {
    const int32_t n = tb->n;
    for (int32_t i = 0; i < n && tb->n < MAX_TENSORS; i++) {
        if (!starts(tb->t[i].name, prefix)) continue;
        size_t len = strlen(to) + strlen(tb->t[i].name) - strlen(prefix) + 1;
        char * name = malloc(len);
        void * data = malloc(tb->t[i].nbytes ? tb->t[i].nbytes : 1);
        if (!name || !data) abort();
        snprintf(name, len, "%s%s", to, tb->t[i].name + strlen(prefix));
        memcpy(data, tb->t[i].data, tb->t[i].nbytes);
        int32_t at = tb->n;   // a tensor of that name is replaced (names stay unique)
        for (int32_t j = 0; j < tb->n; j++)
            if (!strcmp(tb->t[j].name, name)) at = j;
        if (at < tb->n) {
            free(tb->owned[at]);
            free(tb->names[at]);
        }
        tb->t[at] = tb->t[i];
        tb->t[at].name = tb->names[at] = name;
        tb->t[at].data = tb->owned[at] = data;
        if (at == tb->n) tb->n++;
    }
}

static void reshape(struct table * tb, const char * name, const int64_t * shape, int32_t n_dims) {
    size_t numel = 1;
    for (int32_t d = 0; d < n_dims; d++) {
        if (shape[d] < 0 || shape[d] > MAX_ELEMS) return;
        numel *= (size_t)shape[d];
        if (numel > MAX_ELEMS) return;
    }
    for (int32_t i = 0; i < tb->n; i++) {
        struct vlm_file_tensor * t = &tb->t[i];
        if (strcmp(t->name, name) != 0 || !vlm_dtype_traits(t->dtype)->is_float) continue;
        size_t es = vlm_dtype_size(t->dtype), bytes = numel * es;
        uint8_t * data = malloc(bytes ? bytes : 1);
        if (!data) abort();
        for (size_t b = 0; b < bytes; b += es)   // the old elements, repeated
            if (t->nbytes) memcpy(data + b, (const uint8_t *)t->data + b % t->nbytes, es);
            else memset(data + b, 0, es);
        free(tb->owned[i]);
        tb->owned[i] = data;
        t->data = data;
        t->nbytes = bytes;
        t->n_dims = n_dims;
        memcpy(t->shape, shape, sizeof(int64_t) * (size_t)n_dims);
    }
}

// The tensors starting with prefix: every element v (NULL: their own values), stored as `to`
// (VLM_DTYPE_COUNT: their own type).
static void rewrite(struct table * tb, const char * prefix, const float * v, enum vlm_dtype to) {
    for (int32_t i = 0; i < tb->n; i++) {
        struct vlm_file_tensor * t = &tb->t[i];
        if (!starts(t->name, prefix) || !vlm_dtype_traits(t->dtype)->is_float) continue;
        const enum vlm_dtype dt = to == VLM_DTYPE_COUNT ? t->dtype : to;
        const size_t n = t->nbytes / vlm_dtype_size(t->dtype);
        float * f = malloc(n * sizeof(float) + 1);
        uint8_t * data = malloc(n * vlm_dtype_size(dt) + 1);
        if (!f || !data) abort();
        if (v) for (size_t k = 0; k < n; k++) f[k] = *v;
        else vlm_dtype_traits(t->dtype)->to_f32(t->data, f, (int64_t)n);
        vlm_dtype_traits(dt)->from_f32(f, data, (int64_t)n);
        free(f);
        free(tb->owned[i]);
        tb->owned[i] = data;
        t->data = data;
        t->nbytes = n * vlm_dtype_size(dt);
        t->dtype = dt;
    }
}

// One edit line (NUL-terminated, no newline); unknown lines are ignored.
static void edit(struct table * tb, char * line) {
    char * save = NULL, * op = strtok_r(line, " ", &save), * a = op ? strtok_r(NULL, " ", &save) : NULL;
    if (!a) return;
    if (!strcmp(op, "drop")) {
        drop(tb, a);
    } else if (!strcmp(op, "copy")) {
        char * b = strtok_r(NULL, " ", &save);
        if (b) copy(tb, a, b);
    } else if (!strcmp(op, "shape")) {
        int64_t shape[VLM_FILE_MAX_DIMS];
        int32_t n = 0;
        for (char * v; n < VLM_FILE_MAX_DIMS && (v = strtok_r(NULL, " ", &save));) shape[n++] = strtoll(v, NULL, 10);
        reshape(tb, a, shape, n);
    } else if (!strcmp(op, "fill")) {
        char * v = strtok_r(NULL, " ", &save);
        float f = v ? strtof(v, NULL) : 0;
        if (v) rewrite(tb, a, &f, VLM_DTYPE_COUNT);
    } else if (!strcmp(op, "dtype")) {
        char * v = strtok_r(NULL, " ", &save);
        if (v && (!strcmp(v, "f32") || !strcmp(v, "f16") || !strcmp(v, "bf16")))
            rewrite(tb, a, NULL, !strcmp(v, "f32") ? VLM_DTYPE_F32 : !strcmp(v, "f16") ? VLM_DTYPE_F16 : VLM_DTYPE_BF16);
    }
}

static void check_error(const char * what) {
    const char * e = vlm_last_error();
    if (g_verbose) fprintf(stderr, "fuzz-sam-load: %s refused: %s\n", what, e ? e : "(null)");
    if (!e || !*e || strchr(e, '\n')) {
        fprintf(stderr, "fuzz-sam-load: %s: the error is not one non-empty line: '%s'\n", what, e ? e : "(null)");
        abort();
    }
}

// One click on a small image.
static void run_click(const struct vlm_model * m) {
    uint8_t px[40 * 30 * 3];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 37 % 251);
    struct vlm_image img = { 40, 30, 3, px };
    struct vlm_point pt = { 20, 15, 1 };
    struct vlm_sam_prompt p = { .points = &pt, .n_points = 1, .multimask_output = true };
    struct vlm_sam_session * s = NULL;
    struct vlm_masks masks = { 0 };
    enum vlm_status st = vlm_sam_session_new(m, &s);
    if (st == VLM_STATUS_OK) st = vlm_sam_set_image(s, &img);
    if (st == VLM_STATUS_OK) st = vlm_sam_predict(s, &p, &masks);
    if (st != VLM_STATUS_OK) check_error("forward");
    else if (masks.n_masks < 1 || masks.width != 40 || masks.height != 30 || !masks.masks || !masks.iou) abort();
    else (void)vlm_fuzz_touch(masks.masks, (size_t)masks.n_masks * 40 * 30);
    if (g_verbose && st == VLM_STATUS_OK) fprintf(stderr, "fuzz-sam-load: loaded and ran: %d masks\n", masks.n_masks);
    vlm_masks_free(&masks);
    vlm_sam_session_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    char * text = malloc(size + 1);
    if (!text) abort();
    memcpy(text, data, size);
    text[size] = 0;
    char * config = strstr(text, "\n%%\n");
    if (config) {
        *config = 0;
        config += 4;
    }
    char * save = NULL, * line = strtok_r(text, "\n", &save);
    struct base * b = NULL;
    for (size_t i = 0; line && i < N_BASES; i++)
        if (!strcmp(line, g_bases[i].name) && g_bases[i].st) b = &g_bases[i];
    if (!b) {
        free(text);
        return 0;
    }
    static struct table tb;
    tb.n = b->st->n_tensors < MAX_TENSORS ? b->st->n_tensors : MAX_TENSORS;
    memcpy(tb.t, b->st->tensors, sizeof *tb.t * (size_t)tb.n);
    memset(tb.owned, 0, sizeof tb.owned);
    memset(tb.names, 0, sizeof tb.names);
    for (int32_t k = 0; k < MAX_EDITS && (line = strtok_r(NULL, "\n", &save)); k++) edit(&tb, line);

    if (vlm_safetensors_write(g_model, tb.t, tb.n) != VLM_STATUS_OK) abort();   // the harness's own files
    unlink(g_config);
    if (config) {
        FILE * f = fopen(g_config, "wb");
        if (!f || fwrite(config, 1, strlen(config), f) != strlen(config)) abort();
        fclose(f);
    }
    table_free(&tb);
    free(text);

    struct vlm_model_params mp = vlm_model_default_params();
    mp.backend = VLM_BACKEND_CPU;
    mp.n_threads = 1;
    struct vlm_model * m = NULL;
    if (vlm_model_load(g_dir, &mp, &m) != VLM_STATUS_OK) {
        if (m) abort();   // contract: *out is NULL on failure
        check_error("load");
        return 0;
    }
    if (vlm_model_kind(m) == VLM_MODEL_SAM && vlm_sam_input_size(m) <= MAX_FORWARD_S) run_click(m);
    else if (g_verbose) fprintf(stderr, "fuzz-sam-load: loaded (input %d, not run)\n", vlm_sam_input_size(m));
    vlm_model_free(m);
    return 0;
}
