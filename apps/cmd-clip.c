// cmd-clip.c — the CLIP subcommands: `vlm embed`, `vlm classify` and `vlm concepts`.
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "clip.h"
#include "concepts.h"
#include "core.h"
#include "model-file.h"

// ---- small helpers -----------------------------------------------------------------------------
static bool is_help(const char * a) { return !strcmp(a, "--help") || !strcmp(a, "-h"); }


static double dot(const float * a, const float * b, int32_t n) {
    double s = 0;
    for (int32_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

// Loads the images of paths[0..n) (RGB). On failure prints the error and returns false.
static bool load_images(const char * cmd, const char * const * paths, int32_t n, struct vlm_image * out) {
    for (int32_t i = 0; i < n; i++) {
        if (vlm_image_load(paths[i], &out[i]) != VLM_STATUS_OK) {
            cli_fail(cmd, "%s", vlm_last_error());
            return false;
        }
    }
    return true;
}

// ---- vlm embed -----------------------------------------------------------------------------------
static void embed_usage(FILE * f) {
    fprintf(f,
            "usage: vlm embed [-m MODEL] [--image IMG]... [--text TEXT]... [options]\n\n"
            "Maps images and texts into CLIP's joint embedding space. Without --json or --save-tensors\n"
            "prints the image x text cosine similarities and CLIP logits (or the feature norms).\n\n"
            "options:\n"
            "  -m, --model MODEL        CLIP .safetensors file or folder (OpenAI or HF names)\n"
            "  --image IMG              an image (repeatable)\n"
            "  --text TEXT              a text, UTF-8 (repeatable); invalid UTF-8 is refused\n"
            "  --json OUT.json          L2-normalized embeddings and the similarity matrix\n"
            "  --save-tensors OUT.st    pixel_values, image_features, text_features (raw), text_tokens,\n"
            "                           logits_per_image, named as the reference fixtures\n"
            "  --no-truncate            refuse texts over the context (77 tokens) instead of truncating\n"
            CLI_BACKEND_USAGE CLI_MODEL_USAGE CLI_LIMITS_USAGE);
}

static bool save_tensors(const char * path, const struct vlm_model * m, int32_t ni, int32_t nt, const float * px,
                         const float * imf, const float * txf, const int32_t * tok, const float * logits) {
    int64_t s = vlm_clip_image_size(m), e = vlm_clip_embed_dim(m), ctx = vlm_clip_context_length(m);
    struct vlm_file_tensor t[5];
    int32_t n = 0;
    memset(t, 0, sizeof t);
    if (ni > 0) {
        t[n++] = (struct vlm_file_tensor){ .name = "pixel_values", .dtype = VLM_DTYPE_F32, .n_dims = 4,
                                           .shape = { ni, 3, s, s }, .data = px,
                                           .nbytes = sizeof(float) * (size_t)ni * 3 * s * s, .gguf_type = -1 };
        t[n++] = (struct vlm_file_tensor){ .name = "image_features", .dtype = VLM_DTYPE_F32, .n_dims = 2,
                                           .shape = { ni, e }, .data = imf,
                                           .nbytes = sizeof(float) * (size_t)ni * e, .gguf_type = -1 };
    }
    if (nt > 0) {
        t[n++] = (struct vlm_file_tensor){ .name = "text_features", .dtype = VLM_DTYPE_F32, .n_dims = 2,
                                           .shape = { nt, e }, .data = txf,
                                           .nbytes = sizeof(float) * (size_t)nt * e, .gguf_type = -1 };
        t[n++] = (struct vlm_file_tensor){ .name = "text_tokens", .dtype = VLM_DTYPE_I32, .n_dims = 2,
                                           .shape = { nt, ctx }, .data = tok,
                                           .nbytes = sizeof(int32_t) * (size_t)nt * ctx, .gguf_type = -1 };
    }
    if (ni > 0 && nt > 0)
        t[n++] = (struct vlm_file_tensor){ .name = "logits_per_image", .dtype = VLM_DTYPE_F32, .n_dims = 2,
                                           .shape = { ni, nt }, .data = logits,
                                           .nbytes = sizeof(float) * (size_t)ni * nt, .gguf_type = -1 };
    return vlm_safetensors_write(path, t, n) == VLM_STATUS_OK;
}

static bool save_json(const char * path, const struct vlm_model * m, int32_t ni, int32_t nt, char ** images,
                      char ** texts, const float * imn, const float * txn, const bool * trunc, const float * logits,
                      char * err, size_t err_size) {
    int32_t e = vlm_clip_embed_dim(m);
    cJSON * root = cJSON_CreateObject();
    cJSON * ia = cJSON_AddArrayToObject(root, "images");
    cJSON * ta = cJSON_AddArrayToObject(root, "texts");
    cJSON_AddNumberToObject(root, "embed_dim", e);
    cJSON_AddNumberToObject(root, "logit_scale", vlm_clip_logit_scale(m));
    for (int32_t i = 0; i < ni; i++) {
        cJSON * o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", images[i]);
        cJSON_AddItemToObject(o, "embedding", cJSON_CreateFloatArray(imn + (size_t)i * e, e));
        cJSON_AddItemToArray(ia, o);
    }
    for (int32_t i = 0; i < nt; i++) {
        cJSON * o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "text", texts[i]);
        cJSON_AddBoolToObject(o, "truncated", trunc[i]);
        cJSON_AddItemToObject(o, "embedding", cJSON_CreateFloatArray(txn + (size_t)i * e, e));
        cJSON_AddItemToArray(ta, o);
    }
    // similarity[i][j] = cosine(image i, text j); logits_per_image = logit_scale * similarity
    cJSON * sim = cJSON_AddArrayToObject(root, "similarity");
    cJSON * lg = cJSON_AddArrayToObject(root, "logits_per_image");
    for (int32_t i = 0; i < ni && nt > 0; i++) {
        cJSON * row = cJSON_CreateArray(), * lrow = cJSON_CreateArray();
        for (int32_t j = 0; j < nt; j++) {
            cJSON_AddItemToArray(row, cJSON_CreateNumber(dot(imn + (size_t)i * e, txn + (size_t)j * e, e)));
            cJSON_AddItemToArray(lrow, cJSON_CreateNumber(logits[(size_t)i * nt + j]));
        }
        cJSON_AddItemToArray(sim, row);
        cJSON_AddItemToArray(lg, lrow);
    }
    char * text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text) {
        snprintf(err, err_size, "%s: out of memory", path);
        return false;
    }
    size_t n = strlen(text);
    text[n] = '\n';   // replaces the NUL; written with its length
    bool ok = cli_write_atomic(path, text, n + 1, err, err_size);
    free(text);
    return ok;
}

int vlm_cmd_embed(int argc, char ** argv) {
    const char * cmd = "embed";
    struct vlm_model_params mp = vlm_model_default_params();
    const char * model_path = NULL, * json_path = NULL, * st_path = NULL;
    bool truncate = true;
    char ** images = calloc((size_t)argc, sizeof *images);
    char ** texts = calloc((size_t)argc, sizeof *texts);
    int32_t ni = 0, nt = 0;
    int rc = 1;
    struct vlm_model * m = NULL;
    struct vlm_image * imgs = NULL;
    float * px = NULL, * imf = NULL, * txf = NULL, * imn = NULL, * txn = NULL, * logits = NULL;
    int32_t * tok = NULL;
    bool * trunc = NULL;
    char model_buf[PATH_MAX];
    if (!images || !texts) { rc = cli_fail(cmd, "out of memory"); goto done; }
    for (int i = 1; i < argc; i++) {
        const char * a = argv[i];
        int c = cli_common_option(cmd, argc, argv, &i, &mp);
        if (c < 0) { rc = 2; goto done; }
        if (c > 0) continue;
        if (is_help(a)) { embed_usage(stdout); rc = 0; goto done; }
        bool has_value = i + 1 < argc;
        if (!strcmp(a, "--no-truncate")) { truncate = false; continue; }
        if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "--image") || !strcmp(a, "--text") ||
            !strcmp(a, "--json") || !strcmp(a, "--save-tensors")) {
            if (!has_value) { rc = cli_usage_error(cmd, "%s needs a value", a); goto done; }
            char * v = argv[++i];
            if (!strcmp(a, "-m") || !strcmp(a, "--model")) model_path = v;
            else if (!strcmp(a, "--image")) images[ni++] = v;
            else if (!strcmp(a, "--text")) texts[nt++] = v;
            else if (!strcmp(a, "--json")) json_path = v;
            else st_path = v;
            continue;
        }
        rc = cli_usage_error(cmd, "unexpected argument '%s'", a);
        goto done;
    }
    if (ni + nt == 0) { rc = cli_usage_error(cmd, "nothing to embed: give --image and/or --text"); goto done; }
    if (!cli_check_output(cmd, "--json", json_path) || !cli_check_output(cmd, "--save-tensors", st_path)) goto done;
    if (!cli_resolve_model(cmd, "-m", model_path, cmd, "model", model_buf, sizeof model_buf)) { rc = 1; goto done; }
    model_path = model_buf;

    imgs = calloc((size_t)(ni ? ni : 1), sizeof *imgs);
    if (!imgs) { rc = cli_fail(cmd, "out of memory"); goto done; }
    if (!load_images(cmd, (const char * const *)images, ni, imgs)) goto done;
    if (!(m = vlm_load_clip(cmd, model_path, &mp))) goto done;
    int32_t e = vlm_clip_embed_dim(m), s = vlm_clip_image_size(m), ctx = vlm_clip_context_length(m);
    size_t per = (size_t)3 * s * s;
    px = malloc(sizeof *px * per * (size_t)(ni ? ni : 1));
    imf = malloc(sizeof *imf * (size_t)e * (ni ? ni : 1));
    imn = malloc(sizeof *imn * (size_t)e * (ni ? ni : 1));
    txf = malloc(sizeof *txf * (size_t)e * (nt ? nt : 1));
    txn = malloc(sizeof *txn * (size_t)e * (nt ? nt : 1));
    tok = malloc(sizeof *tok * (size_t)ctx * (nt ? nt : 1));
    trunc = calloc((size_t)(nt ? nt : 1), sizeof *trunc);
    logits = malloc(sizeof *logits * (size_t)(ni ? ni : 1) * (nt ? nt : 1));
    if (!px || !imf || !imn || !txf || !txn || !tok || !trunc || !logits) { rc = cli_fail(cmd, "out of memory"); goto done; }

    // texts first: a bad text fails before any heavy work
    for (int32_t i = 0; i < nt; i++) {
        if (vlm_clip_tokenize_text(m, texts[i], truncate, tok + (size_t)i * ctx, (size_t)ctx, &trunc[i]) != VLM_STATUS_OK) {
            rc = cli_fail(cmd, "text %d: %s%s", (int)i + 1, vlm_last_error(),
                          truncate ? "" : " (--no-truncate given; drop it to truncate)");
            goto done;
        }
        if (trunc[i])
            fprintf(stderr, "vlm embed: warning: text %d is longer than %d tokens and was truncated "
                            "(--no-truncate refuses such texts)\n", (int)i + 1, (int)ctx);
    }
    for (int32_t i = 0; i < ni; i++) {
        if (vlm_clip_preprocess_image(m, &imgs[i], px + per * i, per) != VLM_STATUS_OK) {
            rc = cli_fail(cmd, "%s: %s", images[i], vlm_last_error());
            goto done;
        }
    }
    struct vlm_clip_params raw = vlm_clip_default_params();
    raw.normalize = false;
    if ((ni && vlm_clip_encode_pixels(m, px, ni, &raw, imf, (size_t)e * ni) != VLM_STATUS_OK) ||
        (nt && vlm_clip_encode_tokens(m, tok, nt, &raw, txf, (size_t)e * nt) != VLM_STATUS_OK)) {
        rc = cli_fail(cmd, "%s", vlm_last_error());
        goto done;
    }
    memcpy(imn, imf, sizeof *imf * (size_t)e * ni);
    memcpy(txn, txf, sizeof *txf * (size_t)e * nt);
    for (int32_t i = 0; i < ni; i++) vlm_l2_normalize(imn + (size_t)i * e, e);
    for (int32_t i = 0; i < nt; i++) vlm_l2_normalize(txn + (size_t)i * e, e);
    // ref: clip/model.py CLIP.forward: logits_per_image = exp(logit_scale) * img_n @ txt_n.T
    float scale = vlm_clip_logit_scale(m);
    for (int32_t i = 0; i < ni; i++)
        for (int32_t j = 0; j < nt; j++)
            logits[(size_t)i * nt + j] = (float)(scale * dot(imn + (size_t)i * e, txn + (size_t)j * e, e));

    char err[PATH_MAX + 128] = "";
    if (st_path && !save_tensors(st_path, m, ni, nt, px, imf, txf, tok, logits)) {
        rc = cli_fail(cmd, "%s", vlm_last_error());
        goto done;
    }
    if (json_path && !save_json(json_path, m, ni, nt, images, texts, imn, txn, trunc, logits, err, sizeof err)) {
        if (st_path) unlink(st_path);   // all or nothing
        rc = cli_fail(cmd, "%s", err);
        goto done;
    }
    if (!json_path && !st_path) {
        printf("model: %s (%s), embedding dim %d, logit scale %.2f\n", model_path, vlm_model_backend_name(m), (int)e,
               (double)scale);
        for (int32_t i = 0; i < ni; i++)
            printf("image %d: %s  |raw feature| %.4f\n", (int)i + 1, images[i], sqrt(dot(imf + (size_t)i * e, imf + (size_t)i * e, e)));
        for (int32_t j = 0; j < nt; j++)
            printf("text %d: \"%s\"%s  |raw feature| %.4f\n", (int)j + 1, texts[j], trunc[j] ? " (truncated)" : "",
                   sqrt(dot(txf + (size_t)j * e, txf + (size_t)j * e, e)));
        if (ni && nt) {
            printf("\ncosine similarity (logit = %.2f x cosine), rows: images, columns: texts\n", (double)scale);
            printf("%8s", "");
            for (int32_t j = 0; j < nt; j++) printf("  text %-3d", (int)j + 1);
            printf("\n");
            for (int32_t i = 0; i < ni; i++) {
                printf("image %-2d", (int)i + 1);
                for (int32_t j = 0; j < nt; j++) printf("  %8.4f", dot(imn + (size_t)i * e, txn + (size_t)j * e, e));
                printf("\n");
            }
        }
    }
    rc = 0;
done:
    for (int32_t i = 0; imgs && i < ni; i++) vlm_image_free(&imgs[i]);
    free(imgs);
    vlm_model_free(m);
    free(images), free(texts), free(px), free(imf), free(txf), free(imn), free(txn), free(tok), free(trunc), free(logits);
    return rc;
}

// ---- vlm classify ----------------------------------------------------------------------------------
// The best k texts, under a header naming the columns (as the server's JSON: prob, cosine).
static void print_ranking(const struct vlm_ranked * r, int32_t k, const char * const * names, const char * what) {
    printf("%-6s  %-6s  %s\n", "prob", "cosine", what);
    for (int32_t i = 0; i < k; i++) printf("%.4f  %.4f  %s\n", (double)r[i].prob, (double)r[i].cosine, names[r[i].index]);
}

static void classify_usage(FILE * f) {
    fprintf(f,
            "usage: vlm classify [-m MODEL] IMAGE (--labels \"dog,cat,truck\" | --labels-file FILE) [options]\n\n"
            "Zero-shot classification: the softmax over labels of CLIP's logits between the image and\n"
            "each label put into the template. Prints probability, cosine and label, best first.\n\n"
            "options:\n"
            "  -m, --model MODEL        CLIP .safetensors file or folder\n"
            "  --labels L1,L2,...       comma-separated labels\n"
            "  --labels-file FILE       one label per line (blank lines and #comments skipped)\n"
            "  --template T             prompt with {} for the label (default \"a photo of a {}.\")\n"
            "  --top K                  print only the K best (default: all)\n"
            CLI_BACKEND_USAGE CLI_MODEL_USAGE CLI_LIMITS_USAGE);
}

int vlm_cmd_classify(int argc, char ** argv) {
    const char * cmd = "classify";
    struct vlm_model_params mp = vlm_model_default_params();
    const char * model_path = NULL, * image_path = NULL, * labels_arg = NULL, * labels_file = NULL;
    const char * template_ = "a photo of a {}.";
    int top = 0, rc = 1;
    char * buf = NULL;
    char ** labels = NULL;
    char ** texts = NULL;
    int32_t n = 0;
    struct vlm_image img = { 0 };
    struct vlm_model * m = NULL;
    float * tf = NULL, * imf = NULL;
    struct vlm_ranked * r = NULL;
    for (int i = 1; i < argc; i++) {
        const char * a = argv[i];
        int c = cli_common_option(cmd, argc, argv, &i, &mp);
        if (c < 0) return 2;
        if (c > 0) continue;
        if (is_help(a)) { classify_usage(stdout); return 0; }
        if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "--labels") || !strcmp(a, "--labels-file") ||
            !strcmp(a, "--template") || !strcmp(a, "--top")) {
            if (i + 1 >= argc) return cli_usage_error(cmd, "%s needs a value", a);
            const char * v = argv[++i];
            if (!strcmp(a, "-m") || !strcmp(a, "--model")) model_path = v;
            else if (!strcmp(a, "--labels")) labels_arg = v;
            else if (!strcmp(a, "--labels-file")) labels_file = v;
            else if (!strcmp(a, "--template")) template_ = v;
            else if (!cli_parse_int(v, 1, 1000000, &top)) return cli_usage_error(cmd, "--top takes a positive number, not '%s'", v);
            continue;
        }
        if (a[0] == '-' && a[1]) return cli_usage_error(cmd, "unknown option '%s'", a);
        if (image_path) return cli_usage_error(cmd, "one image only (got '%s' and '%s')", image_path, a);
        image_path = a;
    }
    if (!image_path) return cli_usage_error(cmd, "no image given");
    if (!labels_arg == !labels_file) return cli_usage_error(cmd, "give exactly one of --labels and --labels-file");
    if (!strstr(template_, "{}")) return cli_usage_error(cmd, "the template \"%s\" has no {} for the label", template_);
    char model_buf[PATH_MAX];
    if (!cli_resolve_model(cmd, "-m", model_path, cmd, "model", model_buf, sizeof model_buf)) return 1;
    model_path = model_buf;
    if (labels_arg) {
        if (!labels_arg[strspn(labels_arg, " \t\r\n,")]) return cli_usage_error(cmd, "the label list is empty");
        buf = strdup(labels_arg);
    } else if (!(buf = vlm_read_file(labels_file, 16u << 20, NULL))) {
        return cli_fail(cmd, "%s: cannot read: %s", labels_file, strerror(errno));
    }
    if (!buf) return cli_fail(cmd, "out of memory");
    int32_t bad = 0;
    n = vlm_split_list(buf, labels_file != NULL, &labels, &bad);
    if (n < 0) {
        rc = bad ? cli_usage_error(cmd, "label %d is empty (labels are separated by commas)", (int)bad) : cli_fail(cmd, "out of memory");
        goto done;
    }
    if (n == 0) { rc = cli_fail(cmd, "no labels in %s", labels_file ? labels_file : "--labels"); goto done; }
    for (int32_t i = 0; i < n; i++)
        for (int32_t j = 0; j < i; j++)
            if (!strcmp(labels[i], labels[j])) { rc = cli_fail(cmd, "label '%s' is given twice", labels[i]); goto done; }
    if (vlm_image_load(image_path, &img) != VLM_STATUS_OK) { rc = cli_fail(cmd, "%s", vlm_last_error()); goto done; }
    if (!(m = vlm_load_clip(cmd, model_path, &mp))) goto done;
    int32_t e = vlm_clip_embed_dim(m);
    texts = calloc((size_t)n, sizeof *texts);
    tf = malloc(sizeof *tf * (size_t)e * n);
    imf = malloc(sizeof *imf * (size_t)e);
    r = malloc(sizeof *r * (size_t)n);
    if (!texts || !tf || !imf || !r) { rc = cli_fail(cmd, "out of memory"); goto done; }
    const char * at = strstr(template_, "{}");
    for (int32_t i = 0; i < n; i++) {
        size_t a = (size_t)(at - template_), l = strlen(labels[i]), b = strlen(at + 2);
        if (!(texts[i] = malloc(a + l + b + 1))) { rc = cli_fail(cmd, "out of memory"); goto done; }
        memcpy(texts[i], template_, a);
        memcpy(texts[i] + a, labels[i], l);
        memcpy(texts[i] + a + l, at + 2, b + 1);
    }
    bool * trunc = calloc((size_t)n, sizeof *trunc);
    if (!trunc) { rc = cli_fail(cmd, "out of memory"); goto done; }
    struct vlm_clip_params p = vlm_clip_default_params();
    enum vlm_status st = vlm_clip_encode_texts(m, (const char * const *)texts, n, &p, tf, (size_t)e * n, trunc);
    for (int32_t i = 0; st == VLM_STATUS_OK && i < n; i++)
        if (trunc[i]) fprintf(stderr, "vlm classify: warning: label %d (\"%.40s\") was truncated to the context\n", (int)i + 1, labels[i]);
    free(trunc);
    if (st == VLM_STATUS_OK) st = vlm_clip_encode_image(m, &img, &p, imf, (size_t)e);
    if (st != VLM_STATUS_OK) { rc = cli_fail(cmd, "%s", vlm_last_error()); goto done; }
    if (!vlm_rank_texts(imf, tf, n, e, vlm_clip_logit_scale(m), r)) { rc = cli_fail(cmd, "out of memory"); goto done; }
    int32_t k = top > 0 && top < n ? top : n;
    print_ranking(r, k, (const char * const *)labels, "label");
    rc = 0;
done:
    for (int32_t i = 0; texts && i < n; i++) free(texts[i]);
    free(texts);
    free(labels);
    free(buf);
    free(tf), free(imf), free(r);
    vlm_image_free(&img);
    vlm_model_free(m);
    return rc;
}

// ---- vlm concepts ------------------------------------------------------------------------------------
static void concepts_usage(FILE * f) {
    fprintf(f,
            "usage: vlm concepts [-m MODEL] IMAGE [--top K] [--concepts FILE] [--no-cache]\n\n"
            "Tags an image with the best entries of a built-in list of %s everyday objects, animals,\n"
            "scenes and activities (assets/concepts.txt, or $VLM_ASSETS/concepts.txt). Their text\n"
            "embeddings are computed once per model and cached in $XDG_CACHE_HOME/vlm (~/.cache/vlm).\n"
            "Prints probability (softmax over all concepts), cosine and concept, best first.\n\n"
            "options:\n"
            "  -m, --model MODEL   CLIP .safetensors file or folder\n"
            "  --top K             how many to print (default 10)\n"
            "  --concepts FILE     another concept list (one per line)\n"
            "  --no-cache          neither read nor write the embedding cache\n"
            CLI_BACKEND_USAGE CLI_MODEL_USAGE CLI_LIMITS_USAGE,
            "1,600+");
}

int vlm_cmd_concepts(int argc, char ** argv) {
    const char * cmd = "concepts";
    struct vlm_model_params mp = vlm_model_default_params();
    const char * model_path = NULL, * image_path = NULL, * list_path = NULL;
    bool use_cache = true;
    int top = 10, rc = 1;
    struct vlm_concepts cs = { 0 };
    struct vlm_image img = { 0 };
    struct vlm_model * m = NULL;
    float * imf = NULL;
    struct vlm_ranked * r = NULL;
    for (int i = 1; i < argc; i++) {
        const char * a = argv[i];
        int c = cli_common_option(cmd, argc, argv, &i, &mp);
        if (c < 0) return 2;
        if (c > 0) continue;
        if (is_help(a)) { concepts_usage(stdout); return 0; }
        if (!strcmp(a, "--no-cache")) { use_cache = false; continue; }
        if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "--top") || !strcmp(a, "--concepts")) {
            if (i + 1 >= argc) return cli_usage_error(cmd, "%s needs a value", a);
            const char * v = argv[++i];
            if (!strcmp(a, "-m") || !strcmp(a, "--model")) model_path = v;
            else if (!strcmp(a, "--concepts")) list_path = v;
            else if (!cli_parse_int(v, 1, 1000000, &top)) return cli_usage_error(cmd, "--top takes a positive number, not '%s'", v);
            continue;
        }
        if (a[0] == '-' && a[1]) return cli_usage_error(cmd, "unknown option '%s'", a);
        if (image_path) return cli_usage_error(cmd, "one image only (got '%s' and '%s')", image_path, a);
        image_path = a;
    }
    if (!image_path) return cli_usage_error(cmd, "no image given");
    if (list_path && access(list_path, R_OK) != 0) return cli_fail(cmd, "--concepts %s: %s", list_path, strerror(errno));
    char model_buf[PATH_MAX];
    if (!cli_resolve_model(cmd, "-m", model_path, cmd, "model", model_buf, sizeof model_buf)) return 1;
    model_path = model_buf;
    if (vlm_image_load(image_path, &img) != VLM_STATUS_OK) { rc = cli_fail(cmd, "%s", vlm_last_error()); goto done; }
    if (!(m = vlm_load_clip(cmd, model_path, &mp))) goto done;
    char err[PATH_MAX + 256];
    if (!vlm_concepts_load(cmd, m, model_path, list_path, use_cache, NULL, &cs, err, sizeof err)) {
        cli_fail(cmd, "%s", err);
        goto done;
    }
    int32_t e = cs.dim;
    imf = malloc(sizeof *imf * (size_t)e);
    r = malloc(sizeof *r * (size_t)cs.n);
    if (!imf || !r) { rc = cli_fail(cmd, "out of memory"); goto done; }
    struct vlm_clip_params p = vlm_clip_default_params();
    if (vlm_clip_encode_image(m, &img, &p, imf, (size_t)e) != VLM_STATUS_OK) { rc = cli_fail(cmd, "%s", vlm_last_error()); goto done; }
    if (!vlm_rank_texts(imf, cs.feats, cs.n, e, vlm_clip_logit_scale(m), r)) { rc = cli_fail(cmd, "out of memory"); goto done; }
    int32_t k = top < cs.n ? top : cs.n;
    print_ranking(r, k, (const char * const *)cs.names, "concept");
    rc = 0;
done:
    vlm_concepts_free(&cs);
    free(imf), free(r);
    vlm_image_free(&img);
    vlm_model_free(m);
    return rc;
}
