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
            "  --backend cpu|vulkan|auto, --threads N, --weights f32|f16|q8_0 (how linear weights are kept)\n" CLI_MODEL_USAGE CLI_LIMITS_USAGE);
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

int vlm_cmd_segment(int argc, char ** argv) {
    struct vlm_model_params mp = vlm_model_default_params();
    const char *model_path = NULL, *image_path = NULL, *mask_path = NULL, *out_png = NULL, *overlay = NULL, *json = NULL;
    const char *save_tensors = NULL, *save_emb = NULL, *load_emb = NULL;
    struct vlm_point points[MAX_POINTS];
    int n_points = 0;
    struct vlm_box box;
    bool has_box = false, multimask = true, everything = false;
    struct vlm_sam_everything_params ep = vlm_sam_everything_default_params();

    for (int i = 1; i < argc; i++) {
        const char * a = argv[i];
        int c = cli_common_option(CMD, argc, argv, &i, &mp);
        if (c == 0) c = vlm_everything_option(CMD, argc, argv, &i, &ep);
        if (c < 0) return 2;
        if (c > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--multimask")) { multimask = true; continue; }
        if (!strcmp(a, "--single")) { multimask = false; continue; }
        if (!strcmp(a, "--everything")) { everything = true; continue; }
        if (a[0] == '-' && a[1]) {
            if (i + 1 >= argc) return cli_usage_error(CMD, "%s needs a value", a);
            const char * v = argv[++i];
            if (!strcmp(a, "-m") || !strcmp(a, "--model")) model_path = v;
            else if (!strcmp(a, "-o") || !strcmp(a, "--output")) out_png = v;
            else if (!strcmp(a, "--overlay")) overlay = v;
            else if (!strcmp(a, "--json")) json = v;
            else if (!strcmp(a, "--save-tensors")) save_tensors = v;
            else if (!strcmp(a, "--save-embedding")) save_emb = v;
            else if (!strcmp(a, "--embedding")) load_emb = v;
            else if (!strcmp(a, "--mask-input")) mask_path = v;
            else if (!strcmp(a, "--point")) {
                float f[3];
                int n = 0;
                if (!cli_parse_floats(v, f, 2, 3, &n)) return cli_usage_error(CMD, "--point takes X,Y[,LABEL], not '%s'", v);
                if (n == 3 && f[2] != 0.0f && f[2] != 1.0f)
                    return cli_usage_error(CMD, "--point %s: label must be 1 (foreground) or 0 (background)", v);
                if (n_points == MAX_POINTS) return cli_usage_error(CMD, "at most %d points", MAX_POINTS);
                points[n_points].x = f[0];
                points[n_points].y = f[1];
                points[n_points].label = n == 3 ? (int32_t)f[2] : 1;
                n_points++;
            } else if (!strcmp(a, "--box")) {
                float f[4];
                int n = 0;
                if (!cli_parse_floats(v, f, 4, 4, &n)) return cli_usage_error(CMD, "--box takes X0,Y0,X1,Y1, not '%s'", v);
                if (f[0] > f[2] || f[1] > f[3])
                    return cli_usage_error(CMD, "--box %s: needs x0 <= x1 and y0 <= y1", v);
                box = (struct vlm_box){ f[0], f[1], f[2], f[3] };
                has_box = true;
            } else {
                return cli_usage_error(CMD, "unknown option '%s'", a);
            }
            continue;
        }
        if (image_path) return cli_usage_error(CMD, "more than one image ('%s' and '%s')", image_path, a);
        image_path = a;
    }
    if (!image_path) return cli_usage_error(CMD, "no image given");
    if (!everything && n_points == 0 && !has_box && !mask_path)
        return cli_usage_error(CMD, "no prompt: give --point, --box or --mask-input (or --everything)");
    if (everything && (n_points || has_box || mask_path || out_png || save_tensors))
        return cli_usage_error(CMD, "--everything takes no prompts, -o or --save-tensors (use --json / --overlay)");
    // everything that can be checked without the model, before it is loaded and the encoder runs
    if (!cli_check_output(CMD, "-o", out_png) || !cli_check_output(CMD, "--overlay", overlay) ||
        !cli_check_output(CMD, "--json", json) || !cli_check_output(CMD, "--save-tensors", save_tensors) ||
        !cli_check_output(CMD, "--save-embedding", save_emb))
        return 1;
    if (mask_path && access(mask_path, R_OK) != 0) return cli_fail(CMD, "--mask-input %s: %s", mask_path, strerror(errno));
    if (load_emb && access(load_emb, R_OK) != 0) return cli_fail(CMD, "--embedding %s: %s", load_emb, strerror(errno));
    char model_buf[PATH_MAX];

    int rc = 1;
    struct vlm_image img = { 0 }, resized = { 0 };
    struct vlm_model * model = NULL;
    struct vlm_sam_session * s = NULL;
    struct vlm_masks masks = { 0 };
    struct vlm_sam_everything_result er = { 0 };
    struct outputs outs = { .n = 0 };
    float * mask_input = NULL;
    uint8_t * ov = NULL;
    char * text = NULL;
    cJSON * root = NULL;
    float * emb = NULL;

    if (vlm_image_load(image_path, &img) != VLM_STATUS_OK) {
        cli_fail(CMD, "%s", vlm_last_error());
        goto done;
    }
    {
        struct vlm_sam_prompt p = { .points = n_points ? points : NULL, .n_points = n_points, .box = has_box ? &box : NULL };
        if (vlm_sam_check_prompt(&p, img.width, img.height) != VLM_STATUS_OK) {
            cli_fail(CMD, "%s: %s", image_path, vlm_last_error());
            goto done;
        }
    }
    // the model last: resolving a name may download it (--pull)
    if (!cli_resolve_model(CMD, "-m", model_path, CMD, "model", model_buf, sizeof model_buf)) goto done;
    model_path = model_buf;
    double t0 = vlm_now_ms();
    if (!(model = cli_load_model(CMD, model_path, &mp))) goto done;
    double t_load = vlm_now_ms() - t0;
    if (vlm_model_kind(model) != VLM_MODEL_SAM) {
        cli_fail(CMD, "%s: not a SAM model (segment needs Segment Anything weights)", model_path);
        goto done;
    }
    if (mask_path && !(mask_input = read_mask_input(mask_path, vlm_sam_low_res_size(model)))) goto done;
    if (vlm_sam_session_new(model, &s) != VLM_STATUS_OK) {
        cli_fail(CMD, "%s", vlm_last_error());
        goto done;
    }
    t0 = vlm_now_ms();
    if (load_emb) {
        if (vlm_sam_load_embedding(s, load_emb) != VLM_STATUS_OK) {
            cli_fail(CMD, "%s", vlm_last_error());
            goto done;
        }
        int32_t ew = 0, eh = 0;
        vlm_sam_image_size(s, &ew, &eh);
        if (ew != img.width || eh != img.height) {
            cli_fail(CMD, "%s: embedding is of a %dx%d image, %s is %dx%d", load_emb, ew, eh, image_path, img.width, img.height);
            goto done;
        }
    } else if (vlm_sam_set_image(s, &img) != VLM_STATUS_OK) {
        cli_fail(CMD, "%s: %s", image_path, vlm_last_error());
        goto done;
    }
    double t_enc = vlm_now_ms() - t0;

    const int32_t W = img.width, H = img.height;
    if (everything) {
        t0 = vlm_now_ms();
        struct vlm_everything_bar bar;
        vlm_everything_progress_bar(&ep, &bar, CMD);
        if (vlm_sam_everything(s, ep.crop_n_layers > 0 ? &img : NULL, &ep, &er) != VLM_STATUS_OK) {
            if (ep.progress) fputc('\n', stderr);   // below the unfinished bar
            cli_fail(CMD, "%s", vlm_last_error());
            goto done;
        }
        double t_amg = vlm_now_ms() - t0;
        printf("%d masks (points per side %d) — load %.0f ms, encoder %.0f ms, masks %.0f ms [%s]\n", er.n_masks,
               ep.points_per_side, t_load, t_enc, t_amg, vlm_model_backend_name(model));
        for (int32_t i = 0; i < er.n_masks && i < 10; i++)
            printf("  mask %d: iou %.3f stability %.3f area %lld bbox [%d, %d, %d, %d]\n", i, er.masks[i].predicted_iou,
                   er.masks[i].stability_score, (long long)er.masks[i].area, er.masks[i].bbox[0], er.masks[i].bbox[1],
                   er.masks[i].bbox[2], er.masks[i].bbox[3]);
        if (er.n_masks > 10) printf("  ...\n");
        vlm_everything_explain(stdout, "  ", &er, &ep);
        if (json) {
            root = cJSON_CreateObject();
            cJSON_AddStringToObject(root, "image", image_path);
            cJSON_AddNumberToObject(root, "width", W);
            cJSON_AddNumberToObject(root, "height", H);
            cJSON * arr = cJSON_AddArrayToObject(root, "masks");
            for (int32_t i = 0; i < er.n_masks; i++) {
                const struct vlm_sam_annotation * a = &er.masks[i];
                cJSON * o = cJSON_CreateObject();
                cJSON * seg = vlm_mask_rle_json_compressed(a->segmentation, W, H);
                if (!seg) {
                    cli_fail(CMD, "out of memory");
                    cJSON_Delete(o);
                    goto done;
                }
                cJSON_AddItemToObject(o, "segmentation", seg);
                cJSON_AddNumberToObject(o, "area", (double)a->area);
                cJSON * bb = cJSON_AddArrayToObject(o, "bbox");
                for (int k = 0; k < 4; k++) cJSON_AddItemToArray(bb, cJSON_CreateNumber(a->bbox[k]));
                cJSON_AddNumberToObject(o, "predicted_iou", a->predicted_iou);
                cJSON * pc = cJSON_AddArrayToObject(o, "point_coords");
                cJSON * pt = cJSON_CreateArray();
                cJSON_AddItemToArray(pt, cJSON_CreateNumber(a->point_coords[0]));
                cJSON_AddItemToArray(pt, cJSON_CreateNumber(a->point_coords[1]));
                cJSON_AddItemToArray(pc, pt);
                cJSON_AddNumberToObject(o, "stability_score", a->stability_score);
                cJSON * cb = cJSON_AddArrayToObject(o, "crop_box");
                for (int k = 0; k < 4; k++) cJSON_AddItemToArray(cb, cJSON_CreateNumber(a->crop_box[k]));
                cJSON_AddItemToArray(arr, o);
            }
        }
        if (overlay) {
            if (!(ov = malloc((size_t)W * H * 3))) {
                cli_fail(CMD, "out of memory");
                goto done;
            }
            memcpy(ov, img.data, (size_t)W * H * 3);
            if (!vlm_overlay_annotations(ov, W, H, er.masks, er.n_masks)) {
                cli_fail(CMD, "out of memory");
                goto done;
            }
        }
    } else {
        struct vlm_sam_prompt p = { .points = n_points ? points : NULL, .n_points = n_points, .box = has_box ? &box : NULL,
                                    .mask_input = mask_input, .multimask_output = multimask };
        t0 = vlm_now_ms();
        enum vlm_status st = vlm_sam_predict(s, &p, &masks);
        double t_dec = vlm_now_ms() - t0;
        if (st != VLM_STATUS_OK) {
            cli_fail(CMD, "%s", vlm_last_error());
            goto done;
        }
        int32_t best = 0;
        for (int32_t i = 1; i < masks.n_masks; i++)
            if (masks.iou[i] > masks.iou[best]) best = i;
        printf("%d mask%s — load %.0f ms, encoder %.0f ms%s, decoder %.1f ms [%s]\n", masks.n_masks, masks.n_masks == 1 ? "" : "s",
               t_load, t_enc, load_emb ? " (embedding loaded)" : "", t_dec, vlm_model_backend_name(model));
        for (int32_t i = 0; i < masks.n_masks; i++) {
            int32_t bb[4];
            int64_t area = mask_stats(masks.masks + (size_t)i * W * H, W, H, bb);
            printf("  mask %d: iou %.4f area %lld bbox [%d, %d, %d, %d]%s\n", i, masks.iou[i], (long long)area, bb[0], bb[1],
                   bb[2], bb[3], i == best ? "  (best)" : "");
        }
        if (json) {
            root = cJSON_CreateObject();
            cJSON_AddStringToObject(root, "image", image_path);
            cJSON_AddNumberToObject(root, "width", W);
            cJSON_AddNumberToObject(root, "height", H);
            cJSON_AddNumberToObject(root, "best", best);
            cJSON * arr = cJSON_AddArrayToObject(root, "masks");
            for (int32_t i = 0; i < masks.n_masks; i++) {
                const uint8_t * m = masks.masks + (size_t)i * W * H;
                int32_t bb[4];
                int64_t area = mask_stats(m, W, H, bb);
                cJSON * o = cJSON_CreateObject();
                cJSON_AddNumberToObject(o, "score", masks.iou[i]);
                cJSON_AddNumberToObject(o, "area", (double)area);
                cJSON * b = cJSON_AddArrayToObject(o, "bbox");
                for (int k = 0; k < 4; k++) cJSON_AddItemToArray(b, cJSON_CreateNumber(bb[k]));
                cJSON * seg = vlm_mask_rle_json(m, W, H);
                if (!seg) {
                    cli_fail(CMD, "out of memory");
                    cJSON_Delete(o);
                    goto done;
                }
                cJSON_AddItemToObject(o, "segmentation", seg);
                cJSON_AddItemToArray(arr, o);
            }
            cJSON * tm = cJSON_AddObjectToObject(root, "timings_ms");
            cJSON_AddNumberToObject(tm, "encoder", t_enc);
            cJSON_AddNumberToObject(tm, "decoder", t_dec);
        }
        if (overlay) {
            if (!(ov = malloc((size_t)W * H * 3))) {
                cli_fail(CMD, "out of memory");
                goto done;
            }
            memcpy(ov, img.data, (size_t)W * H * 3);
            vlm_overlay_tint(ov, W, H, masks.masks + (size_t)best * W * H, vlm_overlay_palette[0]);
            if (has_box) vlm_overlay_box(ov, W, H, &box);
            for (int i = 0; i < n_points; i++) vlm_overlay_point(ov, W, H, points[i].x, points[i].y, points[i].label);
        }
    }

    // ---- write every output; on failure remove the ones already written ----
    if (json) {
        text = cJSON_PrintUnformatted(root);
        char err[512] = "out of memory";
        if (!text || !cli_write_atomic(json, text, strlen(text), err, sizeof err)) {
            cli_fail(CMD, "%s", err);
            goto fail_outputs;
        }
        outs.written[outs.n++] = json;
    }
    if (overlay) {
        if (vlm_png_write(overlay, ov, W, H, 3) != VLM_STATUS_OK) {
            cli_fail(CMD, "%s", vlm_last_error());
            goto fail_outputs;
        }
        outs.written[outs.n++] = overlay;
    }
    if (out_png) {
        uint8_t * g = malloc((size_t)W * H);
        if (!g) {
            cli_fail(CMD, "out of memory");
            goto fail_outputs;
        }
        int32_t best = 0;
        for (int32_t i = 1; i < masks.n_masks; i++)
            if (masks.iou[i] > masks.iou[best]) best = i;
        const uint8_t * m = masks.masks + (size_t)best * W * H;
        for (size_t i = 0; i < (size_t)W * H; i++) g[i] = m[i] ? 255 : 0;
        enum vlm_status st = vlm_png_write(out_png, g, W, H, 1);
        free(g);
        if (st != VLM_STATUS_OK) {
            cli_fail(CMD, "%s", vlm_last_error());
            goto fail_outputs;
        }
        outs.written[outs.n++] = out_png;
    }
    if (save_emb) {
        if (vlm_sam_save_embedding(s, save_emb) != VLM_STATUS_OK) {
            cli_fail(CMD, "%s", vlm_last_error());
            goto fail_outputs;
        }
        outs.written[outs.n++] = save_emb;
    }
    if (save_tensors) {
        size_t esz = 0, rsz = 0;
        vlm_sam_session_get_tensor(s, "image_embeddings", NULL, 0, &esz);
        if (!(emb = malloc(esz)) || vlm_sam_session_get_tensor(s, "image_embeddings", emb, esz, NULL) != VLM_STATUS_OK) {
            cli_fail(CMD, "image embeddings: %s", vlm_last_error());
            goto fail_outputs;
        }
        // resized input: from the session, or recomputed (embedding loaded from a file)
        int32_t rh = 0, rw = 0;
        vlm_sam_preprocess_shape(H, W, vlm_sam_input_size(model), &rh, &rw);
        if (vlm_sam_session_get_tensor(s, "resized", NULL, 0, &rsz) == VLM_STATUS_OK) {
            if (rsz != (size_t)rw * (size_t)rh * 3) {
                cli_fail(CMD, "resized image: %zu bytes, expected %dx%dx3", rsz, rh, rw);
                goto fail_outputs;
            }
            resized.width = rw;
            resized.height = rh;
            resized.channels = 3;
            resized.data = malloc(rsz);
            if (!resized.data || vlm_sam_session_get_tensor(s, "resized", resized.data, rsz, NULL) != VLM_STATUS_OK) {
                cli_fail(CMD, "resized image: %s", vlm_last_error());
                goto fail_outputs;
            }
        } else if (vlm_image_resize(&img, rw, rh, VLM_RESAMPLE_BILINEAR, &resized) != VLM_STATUS_OK) {
            cli_fail(CMD, "resized image: %s", vlm_last_error());
            goto fail_outputs;
        }
        const int64_t C = vlm_sam_embed_dim(model), G = vlm_sam_embedding_size(model), L = masks.low_res_size;
        if (esz != (size_t)(C * G * G) * sizeof(float)) {
            cli_fail(CMD, "image embeddings: %zu bytes, expected [1, %lld, %lld, %lld] floats", esz, (long long)C,
                     (long long)G, (long long)G);
            goto fail_outputs;
        }
        struct vlm_file_tensor t[5];
        memset(t, 0, sizeof t);
        t[0] = (struct vlm_file_tensor){ .name = "resized", .dtype = VLM_DTYPE_U8, .n_dims = 3,
                                         .shape = { resized.height, resized.width, 3 }, .data = resized.data,
                                         .nbytes = (size_t)resized.width * resized.height * 3, .gguf_type = -1 };
        t[1] = (struct vlm_file_tensor){ .name = "image_embeddings", .dtype = VLM_DTYPE_F32, .n_dims = 4,
                                         .shape = { 1, C, G, G }, .data = emb, .nbytes = esz, .gguf_type = -1 };
        t[2] = (struct vlm_file_tensor){ .name = "low_res_logits", .dtype = VLM_DTYPE_F32, .n_dims = 3,
                                         .shape = { masks.n_masks, L, L }, .data = masks.low_res_logits,
                                         .nbytes = (size_t)(masks.n_masks * L * L) * sizeof(float),
                                         .gguf_type = -1 };
        t[3] = (struct vlm_file_tensor){ .name = "iou_predictions", .dtype = VLM_DTYPE_F32, .n_dims = 1,
                                         .shape = { masks.n_masks }, .data = masks.iou,
                                         .nbytes = (size_t)masks.n_masks * sizeof(float), .gguf_type = -1 };
        t[4] = (struct vlm_file_tensor){ .name = "masks", .dtype = VLM_DTYPE_U8, .n_dims = 3, .shape = { masks.n_masks, H, W },
                                         .data = masks.masks, .nbytes = (size_t)masks.n_masks * W * H, .gguf_type = -1 };
        if (vlm_safetensors_write(save_tensors, t, 5) != VLM_STATUS_OK) {
            cli_fail(CMD, "%s", vlm_last_error());
            goto fail_outputs;
        }
        outs.written[outs.n++] = save_tensors;
    }
    rc = 0;
    goto done;
fail_outputs:
    outputs_rollback(&outs);
done:
    free(text);
    cJSON_Delete(root);
    free(ov);
    free(emb);
    free(mask_input);
    vlm_image_free(&resized);
    vlm_masks_free(&masks);
    vlm_sam_everything_result_free(&er);
    vlm_sam_session_free(s);
    vlm_model_free(model);
    vlm_image_free(&img);
    return rc;
}
