// cmd-describe.c — `vlm describe` (a description of an image) and `vlm ask` (answers to
// questions about it) with a SmolVLM pair: a text GGUF and its mmproj GGUF.
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "describe-objects.h"
#include "masks.h"
#include "model-file.h"
#include "region.h"
#include "vqa-batch.h"

#define DESCRIBE_PROMPT "Describe this image."


static bool is_help(const char * a) { return !strcmp(a, "--help") || !strcmp(a, "-h"); }

static bool blank(const char * s) {
    while (*s == ' ' || *s == '\t' || *s == '\n') s++;
    return !*s;
}

static void usage(FILE * f, bool ask) {
    if (ask)
        fprintf(f, "usage: vlm ask IMAGE QUESTION [QUESTION ...] [-m TEXT.gguf --mmproj MMPROJ.gguf | -m NAME] [options]\n"
                   "       vlm ask IMAGE QUESTION (--point X,Y[,L]... | --box X0,Y0,X1,Y1) --sam SAM -m ... --mmproj ...\n\n"
                   "Answers questions about an image with a SmolVLM model (llama.cpp GGUF files). The image is\n"
                   "encoded once; each question reuses the image part of the prompt.\n"
                   "With a point or a box, SAM cuts out the object first (the best of its 3 masks, as `vlm segment`)\n"
                   "and the questions are about that region: the mask's box grown by 15%% of its longer side (at\n"
                   "least 8 pixels), with the background outside the mask dimmed to half brightness.\n\n"
                   "region options:\n"
                   "  --point X,Y[,L]          a click in image pixels, L = 1 foreground (default) / 0 background\n"
                   "  --box X0,Y0,X1,Y1        a box around the object\n"
                   "  --sam SAM                the Segment Anything model (file, folder or name; default sam-vit-b)\n"
                   "  --mask-out MASK.png      the object's mask (0 / 255)\n"
                   "  --region-out CROP.png    the crop the language model sees\n\n"
                   "batch (VQA scripts):\n"
                   "  vlm ask --batch FILE.jsonl|FOLDER -m TEXT.gguf --mmproj MMPROJ.gguf [-o ANSWERS.jsonl] [--shard K/N]\n"
                   "          [--question Q]\n"
                   "  --batch FILE.jsonl       lines {\"image\": PATH, \"question\": TEXT, ...} (PATH relative to the file's\n"
                   "                           folder); or a FOLDER of images, each asked --question\n"
                   "  -o, --output FILE        append one line per input line: the input's keys plus \"line\", \"answer\",\n"
                   "                           \"tokens\", \"ms\" (or {\"line\", \"error\"}); a restarted run skips the\n"
                   "                           lines FILE holds (by \"id\" or image name, else line number);\n"
                   "                           default stdout\n"
                   "  --shard K/N              only the lines whose index %% N is K - 1 (K = 1..N; job arrays)\n"
                   "  --question Q             the question for a folder, or for lines without one\n\n");
    else
        fprintf(f, "usage: vlm describe IMAGE [-m TEXT.gguf --mmproj MMPROJ.gguf | -m NAME] [options]\n"
                   "       vlm describe IMAGE --objects --sam SAM --clip CLIP -m ... --mmproj ... [--max-objects N]\n"
                   "                    [--overlay OUT.png]\n\n"
                   "Describes an image with a SmolVLM model (llama.cpp GGUF files), streaming the text.\n"
                   "With --objects, SAM segments everything (as `vlm segment --everything`), the N largest masks\n"
                   "are kept, and each gets its box, its best CLIP concepts (`vlm concepts`' list) and a caption of\n"
                   "its region (cut out as `vlm ask --point` does) after the description: a numbered list, or an\n"
                   "\"objects\" array with --json (masks as COCO RLE).\n\n"
                   "object options:\n"
                   "  --objects                list the objects in the image\n"
                   "  --sam SAM                the Segment Anything model (file, folder or name; default sam-vit-b)\n"
                   "  --clip CLIP              the CLIP model (file, folder or name; default clip-vit-b-32)\n"
                   "  --max-objects N          keep the N largest masks (default 8)\n"
                   "  --overlay OUT.png        the image with the objects' masks tinted and numbered\n"
                   VLM_EVERYTHING_USAGE "\n");
    fprintf(f,
            "options:\n"
            "  -m, --model TEXT.gguf    the language model (e.g. SmolVLM-256M-Instruct-Q8_0.gguf), or a name of\n"
            "                           'vlm models' (smolvlm-256m, the default): its text GGUF and mmproj\n"
            "  --mmproj MMPROJ.gguf     its vision projector (e.g. mmproj-SmolVLM-256M-Instruct-Q8_0.gguf)\n"
            "%s"
            "  --max-tokens N           most tokens per answer (default 256)\n"
            "  --temp T                 temperature (default 0: greedy); --top-k, --top-p, --min-p, --seed S\n"
            "  --max-tiles N            at most N image tiles plus the overview (default %d: a first token within\n"
            "                           seconds on a laptop CPU); 0 = llama.cpp's tiling (13 tiles for a photo)\n"
            "  --no-upscale             never enlarge the image to the projector's longest edge\n"
            "  --cache DIR              keep image embeddings in DIR, keyed by content\n"
            "  --json                   one JSON object: answers, token counts, timings per stage\n"
            "  --save-tensors OUT.st    pixel_values, image_embd, prompt_ids (-1 at image rows), logits_last,\n"
            "                           generated_ids of the first answer\n"
            "  --backend cpu|vulkan|auto, --threads N, --max-pixels N, --max-header-bytes N\n",
            ask ? "" : "  -p, --prompt TEXT        the instruction (default \"" DESCRIBE_PROMPT "\")\n", VLM_VQA_DEFAULT_MAX_TILES);
}

static bool print_text(const char * text, size_t len, void * user) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return true;
}

static bool save_tensors(const char * path, const struct vlm_vqa_tensors * t, const struct vlm_generation * g) {
    const struct vlm_smolvlm_tiles * tl = t->tiles;
    struct vlm_file_tensor f[5];
    memset(f, 0, sizeof f);
    f[0] = (struct vlm_file_tensor){ .name = "pixel_values", .dtype = VLM_DTYPE_F32, .n_dims = 4,
                                     .shape = { tl->n_tiles, tl->size, tl->size, 3 }, .data = tl->pixels,
                                     .nbytes = (size_t)tl->n_tiles * tl->size * tl->size * 3 * sizeof(float) };
    f[1] = (struct vlm_file_tensor){ .name = "image_embd", .dtype = VLM_DTYPE_F32, .n_dims = 2,
                                     .shape = { t->n_image_rows, t->n_embd }, .data = t->image_embd,
                                     .nbytes = (size_t)t->n_image_rows * t->n_embd * sizeof(float) };
    f[2] = (struct vlm_file_tensor){ .name = "prompt_ids", .dtype = VLM_DTYPE_I32, .n_dims = 1,
                                     .shape = { t->prompt->n }, .data = t->prompt->ids,
                                     .nbytes = (size_t)t->prompt->n * sizeof(int32_t) };
    f[3] = (struct vlm_file_tensor){ .name = "logits_last", .dtype = VLM_DTYPE_F32, .n_dims = 1, .shape = { t->n_vocab },
                                     .data = t->logits_last, .nbytes = (size_t)t->n_vocab * sizeof(float) };
    f[4] = (struct vlm_file_tensor){ .name = "generated_ids", .dtype = VLM_DTYPE_I32, .n_dims = 1, .shape = { g->n_ids },
                                     .data = g->ids, .nbytes = (size_t)g->n_ids * sizeof(int32_t) };
    return vlm_safetensors_write(path, f, 5) == VLM_STATUS_OK;
}

// Region questions: SAM's best mask for the prompt (as `vlm segment -o`), the crop the
// language model sees, the optional mask / crop PNGs and the mask in the JSON output.
static bool segment_region(const char * cmd, const char * sam_path, const struct vlm_model_params * mp,
                           const struct vlm_image * image, const struct vlm_point * points, int n_points,
                           const struct vlm_box * box, const char * mask_out, const char * region_out,
                           struct vlm_image * crop, cJSON * json) {
    struct vlm_model * sam = cli_load_model(cmd, sam_path, mp);
    struct vlm_sam_session * s = NULL;
    struct vlm_masks masks = { 0 };
    uint8_t * png = NULL;
    bool ok = false;
    if (!sam) return false;
    if (vlm_model_kind(sam) != VLM_MODEL_SAM) {
        cli_fail(cmd, "%s is not a Segment Anything model", sam_path);
        goto done;
    }
    struct vlm_sam_prompt prompt = { .points = n_points ? points : NULL, .n_points = n_points, .box = box,
                                     .multimask_output = true };
    if (vlm_sam_session_new(sam, &s) != VLM_STATUS_OK || vlm_sam_set_image(s, image) != VLM_STATUS_OK ||
        vlm_sam_predict(s, &prompt, &masks) != VLM_STATUS_OK) {
        cli_fail(cmd, "%s", vlm_last_error());
        goto done;
    }
    int32_t best = 0, W = image->width, H = image->height, cbox[4];
    for (int32_t i = 1; i < masks.n_masks; i++)
        if (masks.iou[i] > masks.iou[best]) best = i;
    const uint8_t * mask = masks.masks + (size_t)best * W * H;
    if (vlm_region_crop(image, mask, VLM_REGION_MARGIN, VLM_REGION_DIM, crop, cbox) != VLM_STATUS_OK) {
        cli_fail(cmd, "%s", vlm_last_error());
        goto done;
    }
    if (mask_out) {
        if (!(png = malloc((size_t)W * H))) {
            cli_fail(cmd, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < (size_t)W * H; i++) png[i] = mask[i] ? 255 : 0;
        if (vlm_png_write(mask_out, png, W, H, 1) != VLM_STATUS_OK) {
            cli_fail(cmd, "%s", vlm_last_error());
            goto done;
        }
    }
    if (region_out && vlm_png_write(region_out, crop->data, crop->width, crop->height, 3) != VLM_STATUS_OK) {
        cli_fail(cmd, "%s", vlm_last_error());
        goto done;
    }
    if (json) {   // the object: its mask as COCO RLE, box, area, SAM's IoU and the crop shown
        int32_t mb[4];
        int64_t area = vlm_mask_box(mask, W, H, mb);
        cJSON * rle = vlm_mask_rle_json(mask, W, H);
        if (!rle) {
            cli_fail(cmd, "out of memory");
            goto done;
        }
        cJSON * r = cJSON_AddObjectToObject(json, "region");
        cJSON_AddItemToObject(r, "segmentation", rle);
        cJSON_AddNumberToObject(r, "area", (double)area);
        cJSON_AddItemToObject(r, "bbox", cJSON_CreateIntArray((const int[]){ mb[0], mb[1], mb[2] - mb[0], mb[3] - mb[1] }, 4));
        cJSON_AddNumberToObject(r, "predicted_iou", masks.iou[best]);
        cJSON_AddItemToObject(r, "crop_box", cJSON_CreateIntArray((const int[]){ cbox[0], cbox[1], cbox[2], cbox[3] }, 4));
    }
    ok = true;
done:
    free(png);
    vlm_masks_free(&masks);
    vlm_sam_session_free(s);
    vlm_model_free(sam);
    return ok;
}

static int run(int argc, char ** argv, bool ask) {
    const char * cmd = ask ? "ask" : "describe";
    const char * image_path = NULL, * text_path = NULL, * mmproj_path = NULL, * st_path = NULL, * prompt = DESCRIBE_PROMPT;
    const char * sam_path = NULL, * mask_out = NULL, * region_out = NULL, * shard = NULL, * clip_path = NULL;
    const char * overlay = NULL;
    struct vlm_image image = { 0 }, crop = { 0 };   // freed at usage_done, so declared before any goto
    bool objects = false, object_options = false;
    struct vlm_objects_params op = { .max_objects = 8, .everything = vlm_sam_everything_default_params() };
    struct vlm_ask_batch batch = { .n_shards = 1, .shard = 1 };
    enum { MAX_POINTS = 64 };
    struct vlm_point points[MAX_POINTS];
    struct vlm_box box = { 0 };
    int n_points = 0;
    bool has_box = false;
    const char ** questions = calloc((size_t)argc, sizeof *questions);
    int n_questions = 0, max_tokens = 256, seed = 0;
    bool json = false;
    struct vlm_model_params mp = vlm_model_default_params();
    struct vlm_sampler_params sp = vlm_sampler_default_params();
    struct vlm_vqa_params vp = { .tiling = { .max_tiles = VLM_VQA_DEFAULT_MAX_TILES } };
    if (!questions) return cli_fail(cmd, "out of memory");
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        const char * a = argv[i];
        if (is_help(a)) {
            usage(stdout, ask);
            rc = 0;
            goto usage_done;
        }
        if (!strcmp(a, "--json")) { json = true; continue; }
        if (!strcmp(a, "--no-upscale")) { vp.tiling.no_upscale = true; continue; }
        if (!ask && !strcmp(a, "--objects")) { objects = true; continue; }
        if (a[0] == '-' && a[1]) {
            bool takes = !strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "--mmproj") || !strcmp(a, "-p") ||
                         !strcmp(a, "--prompt") || !strcmp(a, "--max-tokens") || !strcmp(a, "--temp") ||
                         !strcmp(a, "--top-k") || !strcmp(a, "--top-p") || !strcmp(a, "--min-p") || !strcmp(a, "--seed") ||
                         !strcmp(a, "--max-tiles") || !strcmp(a, "--cache") || !strcmp(a, "--save-tensors") ||
                         (ask && (!strcmp(a, "--point") || !strcmp(a, "--box") || !strcmp(a, "--sam") ||
                                  !strcmp(a, "--mask-out") || !strcmp(a, "--region-out") || !strcmp(a, "--batch") ||
                                  !strcmp(a, "-o") || !strcmp(a, "--output") || !strcmp(a, "--shard") ||
                                  !strcmp(a, "--question"))) ||
                         (!ask && (!strcmp(a, "--sam") || !strcmp(a, "--clip") || !strcmp(a, "--max-objects") ||
                                   !strcmp(a, "--overlay")));
            if (takes && (ask && (!strcmp(a, "-p") || !strcmp(a, "--prompt")))) takes = false;
            if (takes) {
                if (i + 1 >= argc) {
                    cli_usage_error(cmd, "%s needs a value", a);
                    goto usage_done;
                }
                const char * v = argv[++i];
                bool ok = true;
                if (!strcmp(a, "-m") || !strcmp(a, "--model")) text_path = v;
                else if (!strcmp(a, "--mmproj")) mmproj_path = v;
                else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) prompt = v;
                else if (!strcmp(a, "--cache")) vp.cache_dir = v;
                else if (!strcmp(a, "--save-tensors")) st_path = v;
                else if (!strcmp(a, "--sam")) sam_path = v;
                else if (!strcmp(a, "--clip")) clip_path = v;
                else if (!strcmp(a, "--overlay")) overlay = v;
                else if (!strcmp(a, "--max-objects")) ok = object_options = cli_parse_int(v, 1, 255, &op.max_objects);
                else if (!strcmp(a, "--mask-out")) mask_out = v;
                else if (!strcmp(a, "--region-out")) region_out = v;
                else if (!strcmp(a, "--batch")) batch.input = v;
                else if (!strcmp(a, "-o") || !strcmp(a, "--output")) batch.output = v;
                else if (!strcmp(a, "--question")) batch.question = v;
                else if (!strcmp(a, "--shard")) {
                    char * end = NULL;
                    long k = strtol(v, &end, 10), n = *end == '/' ? strtol(end + 1, &end, 10) : 0;
                    ok = !*end && n >= 1 && n <= 1000000 && k >= 1 && k <= n;
                    batch.shard = (int32_t)k, batch.n_shards = (int32_t)n, shard = v;
                }
                else if (!strcmp(a, "--point")) {
                    float xyl[3] = { 0, 0, 1 };
                    int got = 0;
                    ok = n_points < MAX_POINTS && cli_parse_floats(v, xyl, 2, 3, &got) && (xyl[2] == 0 || xyl[2] == 1);
                    if (ok) points[n_points++] = (struct vlm_point){ xyl[0], xyl[1], (int32_t)xyl[2] };
                } else if (!strcmp(a, "--box")) {
                    float b4[4];
                    int got = 0;
                    ok = !has_box && cli_parse_floats(v, b4, 4, 4, &got);
                    box = (struct vlm_box){ b4[0], b4[1], b4[2], b4[3] };
                    has_box = ok;
                }
                else if (!strcmp(a, "--max-tokens")) ok = cli_parse_int(v, 1, 1 << 20, &max_tokens);
                else if (!strcmp(a, "--max-tiles")) ok = cli_parse_int(v, 0, 4096, &vp.tiling.max_tiles);
                else if (!strcmp(a, "--seed")) ok = cli_parse_int(v, 0, 2147483647L, &seed);
                else if (!strcmp(a, "--top-k")) ok = cli_parse_int(v, 0, 1 << 24, &sp.top_k);
                else if (!strcmp(a, "--temp")) ok = cli_parse_float(v, 0.0f, 100.0f, &sp.temperature);
                else if (!strcmp(a, "--top-p")) ok = cli_parse_float(v, 0.0f, 1.0f, &sp.top_p);
                else if (!strcmp(a, "--min-p")) ok = cli_parse_float(v, 0.0f, 1.0f, &sp.min_p);
                if (!ok) {
                    cli_usage_error(cmd, "bad value '%s' for %s", v, a);
                    goto usage_done;
                }
                continue;
            }
            int c = cli_common_option(cmd, argc, argv, &i, &mp);
            if (c == 0 && !ask && (c = vlm_everything_option(cmd, argc, argv, &i, &op.everything)) > 0) object_options = true;
            if (c < 0) goto usage_done;
            if (c == 0) {
                cli_usage_error(cmd, "unknown option '%s'", a);
                goto usage_done;
            }
            continue;
        }
        if (!image_path) image_path = a;
        else if (ask) questions[n_questions++] = a;
        else {
            cli_usage_error(cmd, "one image at a time ('%s' is extra)", a);
            goto usage_done;
        }
    }
    if (batch.input && (image_path || n_points || has_box || sam_path || mask_out || region_out || json || st_path)) {
        cli_usage_error(cmd, "--batch takes its images and questions from %s (no IMAGE, QUESTION, region, --json or "
                        "--save-tensors)", batch.input);
        goto usage_done;
    }
    if (!batch.input && (batch.output || shard || batch.question)) {
        cli_usage_error(cmd, "-o, --shard and --question go with --batch");
        goto usage_done;
    }
    if (!image_path && !batch.input) { cli_usage_error(cmd, "no image"); goto usage_done; }
    if (ask && n_questions == 0 && !batch.input) { cli_usage_error(cmd, "no question"); goto usage_done; }
    if (batch.question && blank(batch.question)) { cli_usage_error(cmd, "--question is empty"); goto usage_done; }
    if (!ask && !objects && (sam_path || clip_path || overlay || object_options)) {
        cli_usage_error(cmd, "--sam, --clip, --overlay, --max-objects and the segment-everything options go with --objects");
        goto usage_done;
    }
    const bool region = n_points > 0 || has_box;
    if (!region && ((sam_path && !objects) || mask_out || region_out)) {
        cli_usage_error(cmd, "--sam, --mask-out and --region-out go with --point or --box");
        goto usage_done;
    }
    if (!ask) questions[n_questions++] = prompt;
    for (int i = 0; i < n_questions; i++)
        if (blank(questions[i])) { cli_usage_error(cmd, "question %d is empty", i + 1); goto usage_done; }
    if (!cli_check_output(cmd, "--save-tensors", st_path) || !cli_check_output(cmd, "--overlay", overlay) ||
        !cli_check_output(cmd, "--mask-out", mask_out) || !cli_check_output(cmd, "--region-out", region_out) ||
        !cli_check_output(cmd, "-o", batch.output)) {
        rc = 1;
        goto usage_done;
    }
    if (!batch.input) {   // the image and a click on it are checked before any model is resolved or loaded
        if (vlm_image_load(image_path, &image) != VLM_STATUS_OK) { rc = cli_fail(cmd, "%s", vlm_last_error()); goto usage_done; }
        struct vlm_sam_prompt pr = { .points = n_points ? points : NULL, .n_points = n_points, .box = has_box ? &box : NULL };
        if (region && vlm_sam_check_prompt(&pr, image.width, image.height) != VLM_STATUS_OK) {
            rc = cli_fail(cmd, "%s: %s", image_path, vlm_last_error());
            goto usage_done;
        }
    }
    // models: paths or registry names, the defaults where none is given (a name's mmproj goes with it)
    char text_buf[PATH_MAX], mmproj_buf[PATH_MAX], sam_buf[PATH_MAX], clip_buf[PATH_MAX];
    int text_kind = cli_resolve_model(cmd, "-m", text_path, cmd, "text", text_buf, sizeof text_buf);
    if (!text_kind) { rc = 1; goto usage_done; }
    if (!mmproj_path && text_kind == 1) { cli_usage_error(cmd, "no vision projector (--mmproj MMPROJ.gguf)"); goto usage_done; }
    const char * mmproj_opt = mmproj_path ? "--mmproj" : "-m", * mmproj_arg = mmproj_path ? mmproj_path : text_path;
    if (!cli_resolve_model(cmd, mmproj_opt, mmproj_arg, cmd, "mmproj", mmproj_buf, sizeof mmproj_buf) ||
        ((objects || region) && !cli_resolve_model(cmd, "--sam", sam_path, "segment", "model", sam_buf, sizeof sam_buf)) ||
        (objects && !cli_resolve_model(cmd, "--clip", clip_path, "embed", "model", clip_buf, sizeof clip_buf))) {
        rc = 1;
        goto usage_done;
    }
    text_path = text_buf, mmproj_path = mmproj_buf;
    if (objects || region) sam_path = sam_buf;
    if (objects) clip_path = clip_buf;
    sp.seed = (uint64_t)seed;
    if (vp.cache_dir && mkdir(vp.cache_dir, 0755) != 0 && errno != EEXIST) {
        rc = cli_fail(cmd, "--cache %s: %s", vp.cache_dir, strerror(errno));
        goto usage_done;
    }
    if (batch.input) {   // VQA scripts (apps/cmd-vqa.c)
        batch.text_path = text_path, batch.mmproj_path = mmproj_path, batch.mp = mp, batch.sp = sp, batch.vp = vp;
        batch.max_tokens = max_tokens;
        rc = vlm_ask_batch_run(&batch);
        goto usage_done;
    }
    vp.keep_tensors = st_path != NULL;

    rc = 1;
    struct vlm_model * text = NULL;
    struct vlm_smolvlm_vision * vision = NULL;
    struct vlm_vqa * q = NULL;
    struct vlm_sampler * smp = NULL;
    struct vlm_objects objs = { 0 };
    cJSON * out = json ? cJSON_CreateObject() : NULL, * answers = json ? cJSON_AddArrayToObject(out, "answers") : NULL;
    op.sam_path = sam_path, op.clip_path = clip_path, op.model = mp;
    if (objects && !vlm_objects_find(cmd, &op, &image, &objs)) goto done;
    if (region && !segment_region(cmd, sam_path, &mp, &image, points, n_points, has_box ? &box : NULL, mask_out,
                                  region_out, &crop, answers ? out : NULL))
        goto done;
    if (!(text = cli_load_model(cmd, text_path, &mp))) goto done;
    if (vlm_model_kind(text) != VLM_MODEL_LLAMA) {
        cli_fail(cmd, "%s is not a language model (a GGUF with general.architecture = llama)", text_path);
        goto done;
    }
    if (vlm_smolvlm_vision_load(mmproj_path, &mp, &vision) != VLM_STATUS_OK ||
        vlm_vqa_new(text, vision, &vp, &q) != VLM_STATUS_OK || vlm_vqa_set_image(q, region ? &crop : &image) != VLM_STATUS_OK ||
        vlm_sampler_new(&sp, &smp) != VLM_STATUS_OK) {
        cli_fail(cmd, "%s", vlm_last_error());
        goto done;
    }
    for (int i = 0; i < n_questions; i++) {
        struct vlm_generate_params gp = { .max_tokens = max_tokens, .on_text = json ? NULL : print_text };
        struct vlm_generation g;
        if (!json && ask && n_questions > 1) printf("Q: %s\nA:", questions[i]);
        if (vlm_vqa_ask(q, questions[i], smp, &gp, &g) != VLM_STATUS_OK) {
            if (!json) printf("\n");
            cli_fail(cmd, "%s", vlm_last_error());
            goto done;
        }
        const struct vlm_vqa_timings * t = vlm_vqa_timings(q);
        if (!json) {
            printf("\n");
            fflush(stdout);   // the text before the statistics on stderr
            fprintf(stderr, "vlm %s: image %.0f ms%s, prompt %d tokens in %.0f ms (%d reused), first token at %.0f ms, "
                            "%d tokens in %.0f ms\n",
                    cmd, t->image_ms, t->image_cached ? " (cached)" : "", t->prompt_tokens, t->prompt_ms,
                    t->reused_tokens, t->first_token_ms, g.n_ids, t->generate_ms);
        } else {
            cJSON * a = cJSON_CreateObject();
            cJSON_AddStringToObject(a, "question", questions[i]);
            cJSON_AddStringToObject(a, "answer", g.text ? g.text : "");
            cJSON_AddNumberToObject(a, "prompt_tokens", t->prompt_tokens);
            cJSON_AddNumberToObject(a, "reused_tokens", t->reused_tokens);
            cJSON_AddNumberToObject(a, "generated_tokens", g.n_ids);
            cJSON * tm = cJSON_AddObjectToObject(a, "timings_ms");
            cJSON_AddNumberToObject(tm, "image_encoder", t->image_ms);
            cJSON_AddNumberToObject(tm, "prompt_eval", t->prompt_ms);
            cJSON_AddNumberToObject(tm, "time_to_first_token", t->first_token_ms);
            cJSON_AddNumberToObject(tm, "generate", t->generate_ms);
            cJSON_AddItemToArray(answers, a);
        }
        struct vlm_vqa_tensors vt;
        if (i == 0 && st_path && vlm_vqa_tensors(q, &vt) && !save_tensors(st_path, &vt, &g)) {
            vlm_generation_free(&g);
            cli_fail(cmd, "%s", vlm_last_error());
            goto done;
        }
        vlm_generation_free(&g);
    }
    if (objects) {
        cJSON * arr = NULL;
        if (!vlm_objects_caption(cmd, &objs, text, vision, &vp, &sp, max_tokens, json ? NULL : stdout)) goto done;
        if (!json && objs.n == 0) printf("\nno objects found\n");
        if (json && (!(arr = vlm_objects_json(&objs)) || !cJSON_AddItemToObject(out, "objects", arr))) {
            cJSON_Delete(arr);
            cli_fail(cmd, "out of memory");
            goto done;
        }
        if (overlay && !vlm_objects_overlay(cmd, overlay, &image, &objs)) goto done;
    }
    if (json) {
        char * s = cJSON_Print(out);
        if (s) printf("%s\n", s);
        free(s);
    }
    rc = 0;
done:
    if (rc != 0 && mask_out) unlink(mask_out);     // no output of a failed command stays behind
    if (rc != 0 && region_out) unlink(region_out);
    if (rc != 0 && overlay) unlink(overlay);
    vlm_objects_free(&objs);
    cJSON_Delete(out);
    vlm_sampler_free(smp);
    vlm_vqa_free(q);
    vlm_smolvlm_vision_free(vision);
    vlm_model_free(text);
usage_done:
    vlm_image_free(&image);
    vlm_image_free(&crop);
    free(questions);
    return rc;
}

int vlm_cmd_describe(int argc, char ** argv) { return run(argc, argv, false); }
int vlm_cmd_ask(int argc, char ** argv) { return run(argc, argv, true); }
