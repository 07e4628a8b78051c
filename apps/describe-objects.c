// describe-objects.c — the objects of `vlm describe --objects` (see describe-objects.h).
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "describe-objects.h"
#include "masks.h"
#include "region.h"

#define CAPTION_PROMPT "What is this? Answer in a few words."
#define CAPTION_MAX_TOKENS 24

void vlm_objects_free(struct vlm_objects * o) {
    if (!o) return;
    for (int32_t i = 0; i < o->n; i++) {
        vlm_image_free(&o->objects[i].crop);
        free(o->objects[i].caption);
    }
    free(o->objects);
    vlm_concepts_free(&o->concepts);
    vlm_sam_everything_result_free(&o->everything);
    memset(o, 0, sizeof *o);
}

// The masks' order: largest first, SAM's order among equals.
static int by_area(const void * a, const void * b) {
    const struct vlm_object * x = a, * y = b;
    if (x->a.area != y->a.area) return x->a.area > y->a.area ? -1 : 1;
    return x->index - y->index;
}

// SAM: segment everything (as `vlm segment --everything`), keep the largest masks.
static bool segment(const char * cmd, const struct vlm_objects_params * p, const struct vlm_image * image,
                    struct vlm_objects * o) {
    struct vlm_model * sam = cli_load_model(cmd, p->sam_path, &p->model);
    struct vlm_sam_session * s = NULL;
    bool ok = false;
    if (!sam) return false;
    if (vlm_model_kind(sam) != VLM_MODEL_SAM) {
        cli_fail(cmd, "%s is not a Segment Anything model", p->sam_path);
        goto done;
    }
    if (vlm_sam_session_new(sam, &s) != VLM_STATUS_OK || vlm_sam_set_image(s, image) != VLM_STATUS_OK ||
        vlm_sam_everything(s, p->everything.crop_n_layers > 0 ? image : NULL, &p->everything, &o->everything) != VLM_STATUS_OK) {
        cli_fail(cmd, "%s", vlm_last_error());
        goto done;
    }
    const struct vlm_sam_everything_result * er = &o->everything;
    if (!(o->objects = calloc((size_t)er->n_masks + 1, sizeof *o->objects))) {
        cli_fail(cmd, "out of memory");
        goto done;
    }
    int32_t n = 0;
    for (int32_t i = 0; i < er->n_masks; i++)
        if (er->masks[i].area > 0) o->objects[n++] = (struct vlm_object){ .a = er->masks[i], .index = i };
    qsort(o->objects, (size_t)n, sizeof *o->objects, by_area);
    if (er->n_masks == 0) vlm_everything_explain(stderr, "vlm describe --objects: ", er, &p->everything);
    o->n = n < p->max_objects ? n : p->max_objects;
    ok = true;
done:
    vlm_sam_session_free(s);
    vlm_model_free(sam);
    return ok;
}

bool vlm_objects_find(const char * cmd, const struct vlm_objects_params * p, const struct vlm_image * image,
                      struct vlm_objects * o) {
    memset(o, 0, sizeof *o);
    struct vlm_model * clip = NULL;
    struct vlm_image * crops = NULL;
    float * feats = NULL;
    bool ok = false;
    if (!segment(cmd, p, image, o)) goto done;
    for (int32_t i = 0; i < o->n; i++) {
        struct vlm_object * ob = &o->objects[i];
        if (vlm_region_crop(image, ob->a.segmentation, VLM_REGION_MARGIN, VLM_REGION_DIM, &ob->crop, ob->crop_box) !=
            VLM_STATUS_OK) {
            cli_fail(cmd, "%s", vlm_last_error());
            goto done;
        }
    }
    // CLIP: the concept list ranked against every crop
    char err[PATH_MAX + 256];
    if (!(clip = vlm_load_clip(cmd, p->clip_path, &p->model))) goto done;
    if (!vlm_concepts_load(cmd, clip, p->clip_path, NULL, true, NULL, &o->concepts, err, sizeof err)) {
        cli_fail(cmd, "%s", err);
        goto done;
    }
    const int32_t e = o->concepts.dim, nc = o->concepts.n;
    struct vlm_ranked * r = malloc(sizeof *r * (size_t)nc);
    crops = malloc(sizeof *crops * (size_t)(o->n + 1));
    feats = malloc(sizeof *feats * (size_t)e * (o->n + 1));
    if (!r || !crops || !feats) {
        free(r);
        cli_fail(cmd, "out of memory");
        goto done;
    }
    for (int32_t i = 0; i < o->n; i++) crops[i] = o->objects[i].crop;
    struct vlm_clip_params cp = vlm_clip_default_params();
    ok = o->n == 0 || vlm_clip_encode_images(clip, crops, o->n, &cp, feats, (size_t)e * o->n) == VLM_STATUS_OK;
    if (!ok) cli_fail(cmd, "%s", vlm_last_error());
    for (int32_t i = 0; ok && i < o->n; i++) {
        struct vlm_object * ob = &o->objects[i];
        if (!(ok = vlm_rank_texts(feats + (size_t)i * e, o->concepts.feats, nc, e, vlm_clip_logit_scale(clip), r))) {
            cli_fail(cmd, "out of memory");
            break;
        }
        ob->n_concepts = nc < VLM_OBJECT_CONCEPTS ? nc : VLM_OBJECT_CONCEPTS;
        memcpy(ob->concepts, r, sizeof *r * (size_t)ob->n_concepts);
    }
    free(r);
done:
    free(crops);
    free(feats);
    vlm_model_free(clip);
    if (!ok) vlm_objects_free(o);
    return ok;
}

static void print_object(FILE * f, const struct vlm_objects * o, int32_t i) {
    const struct vlm_object * ob = &o->objects[i];
    fprintf(f, "%2d. %s  (", (int)i + 1, ob->caption ? ob->caption : "");
    for (int32_t k = 0; k < ob->n_concepts; k++)
        fprintf(f, "%s%s %.2f", k ? ", " : "", o->concepts.names[ob->concepts[k].index], (double)ob->concepts[k].prob);
    fprintf(f, "; box %d,%d %dx%d, area %lld)\n", ob->a.bbox[0], ob->a.bbox[1], ob->a.bbox[2], ob->a.bbox[3],
            (long long)ob->a.area);
}

bool vlm_objects_caption(const char * cmd, struct vlm_objects * o, struct vlm_model * text,
                         struct vlm_smolvlm_vision * vision, const struct vlm_vqa_params * vp,
                         const struct vlm_sampler_params * sp, int32_t max_tokens, FILE * print) {
    struct vlm_vqa_params cvp = *vp;
    cvp.tiling.no_upscale = true;   // a crop at its own size: few tiles
    cvp.keep_tensors = false;
    struct vlm_vqa * q = NULL;
    struct vlm_sampler * smp = NULL;
    bool ok = vlm_vqa_new(text, vision, &cvp, &q) == VLM_STATUS_OK && vlm_sampler_new(sp, &smp) == VLM_STATUS_OK;
    if (print && o->n) fprintf(print, "\nobjects:\n");
    for (int32_t i = 0; ok && i < o->n; i++) {
        struct vlm_generate_params gp = { .max_tokens = max_tokens < CAPTION_MAX_TOKENS ? max_tokens : CAPTION_MAX_TOKENS };
        struct vlm_generation g;
        ok = vlm_vqa_set_image(q, &o->objects[i].crop) == VLM_STATUS_OK &&
             vlm_vqa_ask(q, CAPTION_PROMPT, smp, &gp, &g) == VLM_STATUS_OK;
        if (!ok) break;
        const char * t = g.text ? g.text : "";
        size_t n = strlen(t);
        while (*t == ' ' || *t == '\n') t++, n--;
        while (n && (t[n - 1] == ' ' || t[n - 1] == '\n')) n--;
        o->objects[i].caption = strndup(t, n);
        for (char * c = o->objects[i].caption; c && *c; c++)
            if (*c == '\n' || *c == '\r') *c = ' ';   // one line
        vlm_generation_free(&g);
        if (!o->objects[i].caption) {
            vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
            ok = false;
        } else if (print) {
            print_object(print, o, i);
            fflush(print);
        }
    }
    if (!ok) cli_fail(cmd, "object captions: %s", vlm_last_error());
    vlm_sampler_free(smp);
    vlm_vqa_free(q);
    return ok;
}

cJSON * vlm_objects_json(const struct vlm_objects * o) {
    cJSON * arr = cJSON_CreateArray();
    for (int32_t i = 0; arr && i < o->n; i++) {
        const struct vlm_object * ob = &o->objects[i];
        cJSON * j = cJSON_CreateObject(), * cs = cJSON_CreateArray();
        cJSON * rle = vlm_mask_rle_json_compressed(ob->a.segmentation, o->everything.width, o->everything.height);
        if (!j || !cs || !rle) {
            cJSON_Delete(j), cJSON_Delete(cs), cJSON_Delete(rle), cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddNumberToObject(j, "index", i + 1);
        cJSON_AddNumberToObject(j, "mask_index", ob->index);
        cJSON_AddStringToObject(j, "caption", ob->caption ? ob->caption : "");
        for (int32_t k = 0; k < ob->n_concepts; k++) {
            cJSON * c = cJSON_CreateObject();
            cJSON_AddStringToObject(c, "concept", o->concepts.names[ob->concepts[k].index]);
            cJSON_AddNumberToObject(c, "prob", ob->concepts[k].prob);
            cJSON_AddNumberToObject(c, "cosine", ob->concepts[k].cosine);
            cJSON_AddItemToArray(cs, c);
        }
        cJSON_AddItemToObject(j, "concepts", cs);
        cJSON_AddItemToObject(j, "bbox", cJSON_CreateIntArray((const int[]){ ob->a.bbox[0], ob->a.bbox[1], ob->a.bbox[2],
                                                                            ob->a.bbox[3] }, 4));
        cJSON_AddNumberToObject(j, "area", (double)ob->a.area);
        cJSON_AddNumberToObject(j, "predicted_iou", ob->a.predicted_iou);
        cJSON_AddNumberToObject(j, "stability_score", ob->a.stability_score);
        cJSON_AddItemToObject(j, "crop_box", cJSON_CreateIntArray((const int[]){ ob->crop_box[0], ob->crop_box[1],
                                                                                ob->crop_box[2], ob->crop_box[3] }, 4));
        cJSON_AddItemToObject(j, "segmentation", rle);
        cJSON_AddItemToArray(arr, j);
    }
    return arr;
}

bool vlm_objects_overlay(const char * cmd, const char * path, const struct vlm_image * image, const struct vlm_objects * o) {
    const int32_t W = image->width, H = image->height;
    uint8_t * rgb = malloc((size_t)W * H * 3);
    struct vlm_sam_annotation * a = malloc(sizeof *a * (size_t)(o->n + 1));
    bool ok = rgb && a;
    if (ok) {
        memcpy(rgb, image->data, (size_t)W * H * 3);
        for (int32_t i = 0; i < o->n; i++) a[i] = o->objects[i].a;
        ok = vlm_overlay_annotations(rgb, W, H, a, o->n);
        for (int32_t i = 0; ok && i < o->n; i++) vlm_overlay_number(rgb, W, H, a[i].segmentation, i + 1);
    }
    if (!ok) cli_fail(cmd, "out of memory");
    else if (vlm_png_write(path, rgb, W, H, 3) != VLM_STATUS_OK) ok = !cli_fail(cmd, "%s", vlm_last_error());
    free(rgb);
    free(a);
    return ok;
}
