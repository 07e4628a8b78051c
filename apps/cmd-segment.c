// cmd-segment.c — `vlm segment`: SAM masks from point / box / mask prompts, or everything.
//
// Outputs (each written atomically: temp file + rename; on any failure none is left):
//   -o FILE           the best mask (highest predicted IoU) as an 8-bit gray PNG, 0 / 255
//   --overlay FILE    the image with the mask(s) tinted and the prompts drawn (RGB PNG)
//   --json FILE       scores, areas, boxes (XYWH, inclusive max like SAM's amg) and masks as
//                     uncompressed COCO RLE: {"size": [H, W], "counts": [...]}, counts over the
//                     mask in column-major (Fortran) order starting with a run of 0s, exactly
//                     as pycocotools' uncompressed RLE (decode with pycocotools.mask.frPyObjects)
//   --save-tensors F  safetensors: resized (U8 [h, w, 3]), image_embeddings, low_res_logits,
//                     iou_predictions, masks (U8 [n, H, W])
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "image.h"
#include "masks.h"
#include "model-file.h"
#include "vlm.h"

#define CMD "segment"
#define MAX_POINTS 64
#define MAX_OUTPUTS 6

static void usage(FILE * f) {
    fprintf(f,
            "usage: vlm segment [-m MODEL] IMAGE [--point X,Y[,LABEL]]... [--box X0,Y0,X1,Y1] [--mask-input FILE]\n"
            "                   [--multimask | --single] [-o mask.png] [--overlay out.png] [--json out.json]\n"
            "                   [--save-tensors out.safetensors] [--save-embedding FILE] [--embedding FILE]\n"
            "       vlm segment [-m MODEL] IMAGE --everything [--points-per-side N] [--pred-iou-thresh T]\n"
            "                   [--stability-score-thresh T] [--box-nms-thresh T] [--crop-n-layers N]\n"
            "                   [--json out.json] [--overlay out.png]\n\n"
            "Segment Anything. Prompts are in image pixels: --point x,y with label 1 (foreground, the default)\n"
            "or 0 (background), --box x0,y0,x1,y1, --mask-input a safetensors file with a `mask_input`\n"
            "[1, L, L] tensor of low-res logits (e.g. low_res_logits of a previous --save-tensors; L is the\n"
            "model's low-res size: 256 for the released ViT-B/L/H, 4 x its embedding grid in general).\n"
            "By default 3 masks are predicted (multimask, like SamPredictor); --single gives one.\n\n"
            "  -o FILE                 best mask (highest predicted IoU) as PNG, 0 / 255\n"
            "  --overlay FILE          image with the best mask (everything: all masks) tinted, prompts drawn\n"
            "  --json FILE             scores, areas, XYWH boxes and COCO RLE masks (uncompressed counts,\n"
            "                          column-major as pycocotools)\n"
            "  --save-tensors FILE     resized, image_embeddings, low_res_logits, iou_predictions, masks\n"
            "  --save-embedding FILE   save the image embedding (reuse with --embedding)\n"
            "  --embedding FILE        skip the image encoder: load a saved embedding of IMAGE\n"
            "  --everything            automatic mask generation (SamAutomaticMaskGenerator defaults:\n"
            "                          32 points per side, IoU 0.88, stability 0.95, NMS 0.7, no crops)\n"
            CLI_BACKEND_USAGE CLI_MODEL_USAGE CLI_LIMITS_USAGE);
}

// ---- outputs (atomic, all-or-nothing) ------------------------------------------------------

struct outputs {
    const char * written[MAX_OUTPUTS];
    int          n;
};

static void outputs_rollback(struct outputs * o) {
    for (int i = 0; i < o->n; i++) remove(o->written[i]);
    o->n = 0;
}

// XYXY inclusive box of a mask as XYWH (w = x_max - x_min, like amg's box_xyxy_to_xywh).
static int64_t mask_stats(const uint8_t * m, int32_t w, int32_t h, int32_t bbox[4]) {
    int64_t area = vlm_mask_box(m, w, h, bbox);
    bbox[2] -= bbox[0];
    bbox[3] -= bbox[1];
    return area;
}

// The `mask_input` tensor of a safetensors file: L * L F32 values, shaped [L, L] or [1, L, L].
static float * read_mask_input(const char * path, int32_t L) {
    struct vlm_safetensors * st = NULL;
    if (vlm_safetensors_open(path, &st) != VLM_STATUS_OK) {
        cli_fail(CMD, "--mask-input: %s", vlm_last_error());
        return NULL;
    }
    const struct vlm_file_tensor * t = vlm_safetensors_find(st, "mask_input");
    int64_t n = 1;
    if (t)
        for (int32_t i = 0; i < t->n_dims; i++) n *= t->shape[i];
    bool ok = t && t->dtype == VLM_DTYPE_F32 && t->n_dims >= 2 && n == (int64_t)L * L && t->shape[t->n_dims - 1] == L &&
              t->shape[t->n_dims - 2] == L;
    float * m = NULL;
    if (!ok) {
        cli_fail(CMD, "--mask-input %s: needs an F32 tensor `mask_input` of shape [1, %d, %d] (this model's low-res size)",
                 path, L, L);
    } else if ((m = malloc((size_t)n * sizeof(float)))) {
        memcpy(m, t->data, (size_t)n * sizeof(float));
    } else {
        cli_fail(CMD, "out of memory");
    }
    vlm_safetensors_close(st);
    return m;
}

// ---- parse: the command line, checked before anything heavy --------------------------------

struct segment_args {
    struct vlm_model_params            mp;
    const char *                       model_path, * image_path, * mask_path;
    const char *                       out_png, * overlay, * json, * save_tensors, * save_emb, * load_emb;
    struct vlm_point                   points[MAX_POINTS];
    int                                n_points;
    struct vlm_box                     box;
    bool                               has_box, multimask, everything;
    struct vlm_sam_everything_params   ep;
};

// -1: go on; else the exit code (usage errors 2, --help 0, unreadable inputs 1).
static int parse_args(int argc, char ** argv, struct segment_args * a) {
    *a = (struct segment_args){ .mp = vlm_model_default_params(), .multimask = true,
                                .ep = vlm_sam_everything_default_params() };
    for (int i = 1; i < argc; i++) {
        const char * o = argv[i];
        int c = cli_common_option(CMD, argc, argv, &i, &a->mp);
        if (c == 0) c = vlm_everything_option(CMD, argc, argv, &i, &a->ep);
        if (c < 0) return 2;
        if (c > 0) continue;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(o, "--multimask")) { a->multimask = true; continue; }
        if (!strcmp(o, "--single")) { a->multimask = false; continue; }
        if (!strcmp(o, "--everything")) { a->everything = true; continue; }
        if (o[0] == '-' && o[1]) {
            if (i + 1 >= argc) return cli_usage_error(CMD, "%s needs a value", o);
            const char * v = argv[++i];
            if (!strcmp(o, "-m") || !strcmp(o, "--model")) a->model_path = v;
            else if (!strcmp(o, "-o") || !strcmp(o, "--output")) a->out_png = v;
            else if (!strcmp(o, "--overlay")) a->overlay = v;
            else if (!strcmp(o, "--json")) a->json = v;
            else if (!strcmp(o, "--save-tensors")) a->save_tensors = v;
            else if (!strcmp(o, "--save-embedding")) a->save_emb = v;
            else if (!strcmp(o, "--embedding")) a->load_emb = v;
            else if (!strcmp(o, "--mask-input")) a->mask_path = v;
            else if (!strcmp(o, "--point")) {
                float f[3];
                int n = 0;
                if (!cli_parse_floats(v, f, 2, 3, &n)) return cli_usage_error(CMD, "--point takes X,Y[,LABEL], not '%s'", v);
                if (n == 3 && f[2] != 0.0f && f[2] != 1.0f)
                    return cli_usage_error(CMD, "--point %s: label must be 1 (foreground) or 0 (background)", v);
                if (a->n_points == MAX_POINTS) return cli_usage_error(CMD, "at most %d points", MAX_POINTS);
                a->points[a->n_points++] = (struct vlm_point){ f[0], f[1], n == 3 ? (int32_t)f[2] : 1 };
            } else if (!strcmp(o, "--box")) {
                float f[4];
                int n = 0;
                if (!cli_parse_floats(v, f, 4, 4, &n)) return cli_usage_error(CMD, "--box takes X0,Y0,X1,Y1, not '%s'", v);
                if (f[0] > f[2] || f[1] > f[3])
                    return cli_usage_error(CMD, "--box %s: needs x0 <= x1 and y0 <= y1", v);
                a->box = (struct vlm_box){ f[0], f[1], f[2], f[3] };
                a->has_box = true;
            } else {
                return cli_usage_error(CMD, "unknown option '%s'", o);
            }
            continue;
        }
        if (a->image_path) return cli_usage_error(CMD, "more than one image ('%s' and '%s')", a->image_path, o);
        a->image_path = o;
    }
    if (!a->image_path) return cli_usage_error(CMD, "no image given");
    if (!a->everything && a->n_points == 0 && !a->has_box && !a->mask_path)
        return cli_usage_error(CMD, "no prompt: give --point, --box or --mask-input (or --everything)");
    if (a->everything && (a->n_points || a->has_box || a->mask_path || a->out_png || a->save_tensors))
        return cli_usage_error(CMD, "--everything takes no prompts, -o or --save-tensors (use --json / --overlay)");
    // everything that can be checked without the model, before it is loaded and the encoder runs
    if (!cli_check_output(CMD, "-o", a->out_png) || !cli_check_output(CMD, "--overlay", a->overlay) ||
        !cli_check_output(CMD, "--json", a->json) || !cli_check_output(CMD, "--save-tensors", a->save_tensors) ||
        !cli_check_output(CMD, "--save-embedding", a->save_emb))
        return 1;
    if (a->mask_path && access(a->mask_path, R_OK) != 0) return cli_fail(CMD, "--mask-input %s: %s", a->mask_path, strerror(errno));
    if (a->load_emb && access(a->load_emb, R_OK) != 0) return cli_fail(CMD, "--embedding %s: %s", a->load_emb, strerror(errno));
    return -1;
}

// ---- run: the image, the model, its embedding, then the masks ------------------------------

struct segment_run {
    struct vlm_image                  img;
    struct vlm_model *                model;
    struct vlm_sam_session *          s;
    float *                           mask_input;
    struct vlm_masks                  masks;     // prompts
    int32_t                           best;      // the mask with the highest predicted IoU
    struct vlm_sam_everything_result  er;        // --everything
    double                            t_load, t_enc, t_dec;
    cJSON *                           json;      // the --json document
    uint8_t *                         overlay;   // the --overlay pixels [H, W, 3]
};

static void segment_run_free(struct segment_run * r) {
    cJSON_Delete(r->json);
    free(r->overlay);
    free(r->mask_input);
    vlm_masks_free(&r->masks);
    vlm_sam_everything_result_free(&r->er);
    vlm_sam_session_free(r->s);
    vlm_model_free(r->model);
    vlm_image_free(&r->img);
}

// The image checked against the prompt, the model loaded and the image encoded (or its
// embedding loaded).
static bool run_encoder(const struct segment_args * a, struct segment_run * r) {
    if (vlm_image_load(a->image_path, &r->img) != VLM_STATUS_OK) return !cli_fail(CMD, "%s", vlm_last_error());
    struct vlm_sam_prompt p = { .points = a->n_points ? a->points : NULL, .n_points = a->n_points,
                                .box = a->has_box ? &a->box : NULL };
    if (vlm_sam_check_prompt(&p, r->img.width, r->img.height) != VLM_STATUS_OK)
        return !cli_fail(CMD, "%s: %s", a->image_path, vlm_last_error());
    // the model last: resolving a name may download it (--pull)
    char model_path[PATH_MAX];
    if (!cli_resolve_model(CMD, "-m", a->model_path, CMD, "model", model_path, sizeof model_path)) return false;
    double t0 = vlm_now_ms();
    if (!(r->model = cli_load_model(CMD, model_path, &a->mp))) return false;
    r->t_load = vlm_now_ms() - t0;
    if (vlm_model_kind(r->model) != VLM_MODEL_SAM)
        return !cli_fail(CMD, "%s: not a SAM model (segment needs Segment Anything weights)", model_path);
    if (a->mask_path && !(r->mask_input = read_mask_input(a->mask_path, vlm_sam_low_res_size(r->model)))) return false;
    if (vlm_sam_session_new(r->model, &r->s) != VLM_STATUS_OK) return !cli_fail(CMD, "%s", vlm_last_error());
    t0 = vlm_now_ms();
    if (a->load_emb) {
        if (vlm_sam_load_embedding(r->s, a->load_emb) != VLM_STATUS_OK) return !cli_fail(CMD, "%s", vlm_last_error());
        int32_t ew = 0, eh = 0;
        vlm_sam_image_size(r->s, &ew, &eh);
        if (ew != r->img.width || eh != r->img.height)
            return !cli_fail(CMD, "%s: embedding is of a %dx%d image, %s is %dx%d", a->load_emb, ew, eh, a->image_path,
                             r->img.width, r->img.height);
    } else if (vlm_sam_set_image(r->s, &r->img) != VLM_STATUS_OK) {
        return !cli_fail(CMD, "%s: %s", a->image_path, vlm_last_error());
    }
    r->t_enc = vlm_now_ms() - t0;
    return true;
}

static cJSON * json_root(const char * image_path, int32_t W, int32_t H) {
    cJSON * root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "image", image_path);
    cJSON_AddNumberToObject(root, "width", W);
    cJSON_AddNumberToObject(root, "height", H);
    return root;
}

static uint8_t * overlay_base(const struct vlm_image * img) {
    uint8_t * ov = malloc((size_t)img->width * img->height * 3);
    if (ov) memcpy(ov, img->data, (size_t)img->width * img->height * 3);
    else cli_fail(CMD, "out of memory");
    return ov;
}

// --everything: the masks, a summary on stdout, and the JSON / overlay asked for.
static bool run_everything(const struct segment_args * a, struct segment_run * r) {
    const int32_t W = r->img.width, H = r->img.height;
    double t0 = vlm_now_ms();
    struct vlm_sam_everything_params ep = a->ep;
    struct vlm_everything_bar bar;
    vlm_everything_progress_bar(&ep, &bar, CMD);
    if (vlm_sam_everything(r->s, ep.crop_n_layers > 0 ? &r->img : NULL, &ep, &r->er) != VLM_STATUS_OK) {
        if (ep.progress) fputc('\n', stderr);   // below the unfinished bar
        return !cli_fail(CMD, "%s", vlm_last_error());
    }
    const struct vlm_sam_everything_result * er = &r->er;
    printf("%d masks (points per side %d) — load %.0f ms, encoder %.0f ms, masks %.0f ms [%s]\n", er->n_masks,
           a->ep.points_per_side, r->t_load, r->t_enc, vlm_now_ms() - t0, vlm_model_backend_name(r->model));
    for (int32_t i = 0; i < er->n_masks && i < 10; i++)
        printf("  mask %d: iou %.3f stability %.3f area %lld bbox [%d, %d, %d, %d]\n", i, er->masks[i].predicted_iou,
               er->masks[i].stability_score, (long long)er->masks[i].area, er->masks[i].bbox[0], er->masks[i].bbox[1],
               er->masks[i].bbox[2], er->masks[i].bbox[3]);
    if (er->n_masks > 10) printf("  ...\n");
    vlm_everything_explain(stdout, "  ", er, &a->ep);
    if (a->json) {
        r->json = json_root(a->image_path, W, H);
        cJSON * arr = cJSON_AddArrayToObject(r->json, "masks");
        for (int32_t i = 0; i < er->n_masks; i++) {
            const struct vlm_sam_annotation * m = &er->masks[i];
            cJSON * o = cJSON_CreateObject();
            cJSON * seg = vlm_mask_rle_json_compressed(m->segmentation, W, H);
            if (!seg) {
                cJSON_Delete(o);
                return !cli_fail(CMD, "out of memory");
            }
            cJSON_AddItemToObject(o, "segmentation", seg);
            cJSON_AddNumberToObject(o, "area", (double)m->area);
            cJSON * bb = cJSON_AddArrayToObject(o, "bbox");
            for (int k = 0; k < 4; k++) cJSON_AddItemToArray(bb, cJSON_CreateNumber(m->bbox[k]));
            cJSON_AddNumberToObject(o, "predicted_iou", m->predicted_iou);
            cJSON * pc = cJSON_AddArrayToObject(o, "point_coords");
            cJSON * pt = cJSON_CreateArray();
            cJSON_AddItemToArray(pt, cJSON_CreateNumber(m->point_coords[0]));
            cJSON_AddItemToArray(pt, cJSON_CreateNumber(m->point_coords[1]));
            cJSON_AddItemToArray(pc, pt);
            cJSON_AddNumberToObject(o, "stability_score", m->stability_score);
            cJSON * cb = cJSON_AddArrayToObject(o, "crop_box");
            for (int k = 0; k < 4; k++) cJSON_AddItemToArray(cb, cJSON_CreateNumber(m->crop_box[k]));
            cJSON_AddItemToArray(arr, o);
        }
    }
    if (a->overlay) {
        if (!(r->overlay = overlay_base(&r->img))) return false;
        if (!vlm_overlay_annotations(r->overlay, W, H, er->masks, er->n_masks)) return !cli_fail(CMD, "out of memory");
    }
    return true;
}

// Prompts: the masks, a summary on stdout, and the JSON / overlay asked for.
static bool run_prompt(const struct segment_args * a, struct segment_run * r) {
    const int32_t W = r->img.width, H = r->img.height;
    struct vlm_sam_prompt p = { .points = a->n_points ? a->points : NULL, .n_points = a->n_points,
                                .box = a->has_box ? &a->box : NULL, .mask_input = r->mask_input,
                                .multimask_output = a->multimask };
    double t0 = vlm_now_ms();
    enum vlm_status st = vlm_sam_predict(r->s, &p, &r->masks);
    r->t_dec = vlm_now_ms() - t0;
    if (st != VLM_STATUS_OK) return !cli_fail(CMD, "%s", vlm_last_error());
    const struct vlm_masks * ms = &r->masks;
    for (int32_t i = 1; i < ms->n_masks; i++)
        if (ms->iou[i] > ms->iou[r->best]) r->best = i;
    printf("%d mask%s — load %.0f ms, encoder %.0f ms%s, decoder %.1f ms [%s]\n", ms->n_masks, ms->n_masks == 1 ? "" : "s",
           r->t_load, r->t_enc, a->load_emb ? " (embedding loaded)" : "", r->t_dec, vlm_model_backend_name(r->model));
    for (int32_t i = 0; i < ms->n_masks; i++) {
        int32_t bb[4];
        int64_t area = mask_stats(ms->masks + (size_t)i * W * H, W, H, bb);
        printf("  mask %d: iou %.4f area %lld bbox [%d, %d, %d, %d]%s\n", i, ms->iou[i], (long long)area, bb[0], bb[1],
               bb[2], bb[3], i == r->best ? "  (best)" : "");
    }
    if (a->json) {
        r->json = json_root(a->image_path, W, H);
        cJSON_AddNumberToObject(r->json, "best", r->best);
        cJSON * arr = cJSON_AddArrayToObject(r->json, "masks");
        for (int32_t i = 0; i < ms->n_masks; i++) {
            const uint8_t * m = ms->masks + (size_t)i * W * H;
            int32_t bb[4];
            int64_t area = mask_stats(m, W, H, bb);
            cJSON * o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "score", ms->iou[i]);
            cJSON_AddNumberToObject(o, "area", (double)area);
            cJSON * b = cJSON_AddArrayToObject(o, "bbox");
            for (int k = 0; k < 4; k++) cJSON_AddItemToArray(b, cJSON_CreateNumber(bb[k]));
            cJSON * seg = vlm_mask_rle_json(m, W, H);
            if (!seg) {
                cJSON_Delete(o);
                return !cli_fail(CMD, "out of memory");
            }
            cJSON_AddItemToObject(o, "segmentation", seg);
            cJSON_AddItemToArray(arr, o);
        }
        cJSON * tm = cJSON_AddObjectToObject(r->json, "timings_ms");
        cJSON_AddNumberToObject(tm, "encoder", r->t_enc);
        cJSON_AddNumberToObject(tm, "decoder", r->t_dec);
    }
    if (a->overlay) {
        if (!(r->overlay = overlay_base(&r->img))) return false;
        vlm_overlay_tint(r->overlay, W, H, ms->masks + (size_t)r->best * W * H, vlm_overlay_palette[0]);
        if (a->has_box) vlm_overlay_box(r->overlay, W, H, &a->box);
        for (int i = 0; i < a->n_points; i++)
            vlm_overlay_point(r->overlay, W, H, a->points[i].x, a->points[i].y, a->points[i].label);
    }
    return true;
}

// ---- write: every output, all or nothing ---------------------------------------------------

// --save-tensors: resized (U8 [h, w, 3]), image_embeddings, low_res_logits, iou_predictions,
// masks (U8 [n, H, W]).
static bool write_tensors(const char * path, const struct segment_run * r) {
    const int32_t W = r->img.width, H = r->img.height;
    const struct vlm_masks * ms = &r->masks;
    struct vlm_image resized = { 0 };
    float * emb = NULL;
    bool ok = false;
    size_t esz = 0, rsz = 0;
    vlm_sam_session_get_tensor(r->s, "image_embeddings", NULL, 0, &esz);
    if (!(emb = malloc(esz)) || vlm_sam_session_get_tensor(r->s, "image_embeddings", emb, esz, NULL) != VLM_STATUS_OK) {
        cli_fail(CMD, "image embeddings: %s", vlm_last_error());
        goto done;
    }
    // resized input: from the session, or recomputed (embedding loaded from a file)
    int32_t rh = 0, rw = 0;
    vlm_sam_preprocess_shape(H, W, vlm_sam_input_size(r->model), &rh, &rw);
    if (vlm_sam_session_get_tensor(r->s, "resized", NULL, 0, &rsz) == VLM_STATUS_OK) {
        if (rsz != (size_t)rw * (size_t)rh * 3) {
            cli_fail(CMD, "resized image: %zu bytes, expected %dx%dx3", rsz, rh, rw);
            goto done;
        }
        resized = (struct vlm_image){ rw, rh, 3, malloc(rsz) };
        if (!resized.data || vlm_sam_session_get_tensor(r->s, "resized", resized.data, rsz, NULL) != VLM_STATUS_OK) {
            cli_fail(CMD, "resized image: %s", vlm_last_error());
            goto done;
        }
    } else if (!vlm_sam_stretches_input(r->model) && vlm_image_resize(&r->img, rw, rh, VLM_RESAMPLE_BILINEAR, &resized) != VLM_STATUS_OK) {
        cli_fail(CMD, "resized image: %s", vlm_last_error());
        goto done;
    }
    const int64_t C = vlm_sam_embed_dim(r->model), G = vlm_sam_embedding_size(r->model), L = ms->low_res_size;
    if (esz != (size_t)(C * G * G) * sizeof(float)) {
        cli_fail(CMD, "image embeddings: %zu bytes, expected [1, %lld, %lld, %lld] floats", esz, (long long)C,
                 (long long)G, (long long)G);
        goto done;
    }
    struct vlm_file_tensor t[5];
    memset(t, 0, sizeof t);
    t[0] = (struct vlm_file_tensor){ .name = "resized", .dtype = VLM_DTYPE_U8, .n_dims = 3,
                                     .shape = { resized.height, resized.width, 3 }, .data = resized.data,
                                     .nbytes = (size_t)resized.width * resized.height * 3, .gguf_type = -1 };
    t[1] = (struct vlm_file_tensor){ .name = "image_embeddings", .dtype = VLM_DTYPE_F32, .n_dims = 4,
                                     .shape = { 1, C, G, G }, .data = emb, .nbytes = esz, .gguf_type = -1 };
    t[2] = (struct vlm_file_tensor){ .name = "low_res_logits", .dtype = VLM_DTYPE_F32, .n_dims = 3,
                                     .shape = { ms->n_masks, L, L }, .data = ms->low_res_logits,
                                     .nbytes = (size_t)(ms->n_masks * L * L) * sizeof(float), .gguf_type = -1 };
    t[3] = (struct vlm_file_tensor){ .name = "iou_predictions", .dtype = VLM_DTYPE_F32, .n_dims = 1,
                                     .shape = { ms->n_masks }, .data = ms->iou,
                                     .nbytes = (size_t)ms->n_masks * sizeof(float), .gguf_type = -1 };
    t[4] = (struct vlm_file_tensor){ .name = "masks", .dtype = VLM_DTYPE_U8, .n_dims = 3, .shape = { ms->n_masks, H, W },
                                     .data = ms->masks, .nbytes = (size_t)ms->n_masks * W * H, .gguf_type = -1 };
    // EfficientSAM: no uint8 resized image (its input is a float resize of the whole image)
    const int32_t skip = resized.data ? 0 : 1;
    if (vlm_safetensors_write(path, t + skip, 5 - skip) != VLM_STATUS_OK) {
        cli_fail(CMD, "%s", vlm_last_error());
        goto done;
    }
    ok = true;
done:
    free(emb);
    vlm_image_free(&resized);
    return ok;
}

// Writes each output asked for; on a failure removes those already written.
static bool write_outputs(const struct segment_args * a, const struct segment_run * r) {
    const int32_t W = r->img.width, H = r->img.height;
    struct outputs outs = { .n = 0 };
    if (a->json) {
        char * text = cJSON_PrintUnformatted(r->json);
        char err[512] = "out of memory";
        bool ok = text && cli_write_atomic(a->json, text, strlen(text), err, sizeof err);
        free(text);
        if (!ok) {
            cli_fail(CMD, "%s", err);
            goto fail;
        }
        outs.written[outs.n++] = a->json;
    }
    if (a->overlay) {
        if (vlm_png_write(a->overlay, r->overlay, W, H, 3) != VLM_STATUS_OK) {
            cli_fail(CMD, "%s", vlm_last_error());
            goto fail;
        }
        outs.written[outs.n++] = a->overlay;
    }
    if (a->out_png) {
        uint8_t * g = malloc((size_t)W * H);
        if (!g) {
            cli_fail(CMD, "out of memory");
            goto fail;
        }
        const uint8_t * m = r->masks.masks + (size_t)r->best * W * H;
        for (size_t i = 0; i < (size_t)W * H; i++) g[i] = m[i] ? 255 : 0;
        enum vlm_status st = vlm_png_write(a->out_png, g, W, H, 1);
        free(g);
        if (st != VLM_STATUS_OK) {
            cli_fail(CMD, "%s", vlm_last_error());
            goto fail;
        }
        outs.written[outs.n++] = a->out_png;
    }
    if (a->save_emb) {
        if (vlm_sam_save_embedding(r->s, a->save_emb) != VLM_STATUS_OK) {
            cli_fail(CMD, "%s", vlm_last_error());
            goto fail;
        }
        outs.written[outs.n++] = a->save_emb;
    }
    if (a->save_tensors) {
        if (!write_tensors(a->save_tensors, r)) goto fail;
        outs.written[outs.n++] = a->save_tensors;
    }
    return true;
fail:
    outputs_rollback(&outs);
    return false;
}

int vlm_cmd_segment(int argc, char ** argv) {
    struct segment_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    struct segment_run r = { 0 };
    bool ok = run_encoder(&a, &r) && (a.everything ? run_everything(&a, &r) : run_prompt(&a, &r)) && write_outputs(&a, &r);
    segment_run_free(&r);
    return ok ? 0 : 1;
}
