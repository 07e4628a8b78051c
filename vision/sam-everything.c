// sam-everything.c — automatic mask generation (SamAutomaticMaskGenerator): point grids,
// crops, batched decoding, IoU / stability filtering, boxes, NMS, small-region clean-up.
// Masks are kept as column-major RLE between stages (as upstream) and decoded at the end.
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "sam.h"

struct vlm_sam_everything_params vlm_sam_everything_default_params(void) {
    // ref: segment_anything/automatic_mask_generator.py SamAutomaticMaskGenerator.__init__
    struct vlm_sam_everything_params p = {
        .points_per_side = 32,
        .points_per_batch = 64,
        .pred_iou_thresh = 0.88f,
        .stability_score_thresh = 0.95f,
        .stability_score_offset = 1.0f,
        .box_nms_thresh = 0.7f,
        .crop_n_layers = 0,
        .crop_nms_thresh = 0.7f,
        .crop_overlap_ratio = 512.0f / 1500.0f,
        .crop_n_points_downscale_factor = 1,
        .min_mask_region_area = 0,
    };
    return p;
}

// ref: segment_anything/utils/amg.py build_point_grid (np.linspace(offset, 1 - offset, n))
void vlm_sam_point_grid(int32_t n, double * out) {
    const double offset = 1.0 / (2 * n), start = offset, stop = 1.0 - offset;
    const double step = n > 1 ? (stop - start) / (n - 1) : 0.0;
    for (int32_t i = 0; i < n; i++) {
        double vy = n > 1 && i == n - 1 ? stop : i * step + start;
        for (int32_t j = 0; j < n; j++) {
            double vx = n > 1 && j == n - 1 ? stop : j * step + start;
            out[2 * ((size_t)i * n + j)] = vx;
            out[2 * ((size_t)i * n + j) + 1] = vy;
        }
    }
}

// ref: amg.py mask_to_rle_pytorch (column-major, counts start with zeros). The mask is
// transposed to column-major 0/1 in 64 x 64 blocks (cache-friendly), then each run ends at the
// next byte of the other value (memchr).
enum vlm_status vlm_mask_to_rle(const uint8_t * mask, int32_t width, int32_t height, int64_t ** counts, int64_t * n_counts) {
    if (!mask || !counts || !n_counts || width <= 0 || height <= 0)
        return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_mask_to_rle: bad arguments");
    *counts = NULL;
    *n_counts = 0;
    const size_t N = (size_t)width * (size_t)height;
    uint8_t * t = malloc(N);
    int64_t * c = NULL;
    size_t cap = 0, n = 0;
    if (!t) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    for (int32_t y0 = 0; y0 < height; y0 += 64)
        for (int32_t x0 = 0; x0 < width; x0 += 64) {
            const int32_t y1 = y0 + 64 < height ? y0 + 64 : height, x1 = x0 + 64 < width ? x0 + 64 : width;
            for (int32_t x = x0; x < x1; x++)
                for (int32_t y = y0; y < y1; y++) t[(size_t)x * height + y] = mask[(size_t)y * width + x] != 0;
        }
    uint8_t v = 0;
    for (size_t pos = 0;; v ^= 1) {
        const uint8_t * q = pos < N ? memchr(t + pos, v ^ 1, N - pos) : NULL;
        const size_t end = q ? (size_t)(q - t) : N;
        if (!vlm_grow_array((void **)&c, &cap, n + 1, sizeof *c, 64)) {
            free(c);
            free(t);
            return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
        }
        c[n++] = (int64_t)(end - pos);
        pos = end;
        if (!q) break;
    }
    free(t);
    *counts = c;
    *n_counts = (int64_t)n;
    return VLM_STATUS_OK;
}

// One candidate mask (crop frame until uncropped).
struct cand {
    int64_t * rle;         // column-major counts over the full image
    int64_t   n_rle;
    int32_t   box[4];      // XYXY inclusive, full-image frame
    float     iou, stability;
    double    point[2];    // full-image frame
    int32_t   crop[4];     // XYXY
};

struct cand_list {
    struct cand * v;
    int32_t       n, cap;
};

static void cand_free(struct cand * c) {
    free(c->rle);
    c->rle = NULL;
}

static void list_free(struct cand_list * l) {
    for (int32_t i = 0; i < l->n; i++) cand_free(&l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static bool list_push(struct cand_list * l, const struct cand * c) {
    if (l->n == l->cap) {
        int32_t cap = l->cap ? 2 * l->cap : 64;
        struct cand * t = realloc(l->v, (size_t)cap * sizeof *t);
        if (!t) return false;
        l->v = t;
        l->cap = cap;
    }
    l->v[l->n++] = *c;
    return true;
}

// ref: amg.py batched_mask_to_box: XYXY with inclusive max; empty -> [0, 0, 0, 0]. Rows are
// counted whole (vectorized) and searched from both ends only when they have a pixel set.
int64_t vlm_mask_box(const uint8_t * m, int32_t w, int32_t h, int32_t box[4]) {
    int32_t x0 = w, y0 = h, x1 = -1, y1 = -1;
    int64_t area = 0;
    for (int32_t y = 0; y < h; y++) {
        const uint8_t * r = m + (size_t)y * w;
        int32_t n = 0;
        for (int32_t x = 0; x < w; x++) n += r[x] != 0;
        if (!n) continue;
        area += n;
        int32_t a = 0, b = w - 1;
        while (!r[a]) a++;
        while (!r[b]) b--;
        if (a < x0) x0 = a;
        if (b > x1) x1 = b;
        if (y0 == h) y0 = y;
        y1 = y;
    }
    if (x1 < 0) x0 = y0 = x1 = y1 = 0;
    box[0] = x0;
    box[1] = y0;
    box[2] = x1;
    box[3] = y1;
    return area;
}

// ref: amg.py is_box_near_crop_edge (atol 20, boxes uncropped first)
static bool near_crop_edge(const int32_t box[4], const int32_t crop[4], int32_t W, int32_t H) {
    const float orig[4] = { 0, 0, (float)W, (float)H };
    const float b[4] = { (float)(box[0] + crop[0]), (float)(box[1] + crop[1]), (float)(box[2] + crop[0]), (float)(box[3] + crop[1]) };
    for (int k = 0; k < 4; k++) {
        bool near_crop = fabsf(b[k] - (float)crop[k]) <= 20.0f;
        bool near_img = fabsf(b[k] - orig[k]) <= 20.0f;
        if (near_crop && !near_img) return true;
    }
    return false;
}

// ref: torchvision nms (greedy, IoU > thresh suppresses, areas (x2-x1)*(y2-y1)); returns the
// kept indices in decreasing score order (ties: lower index first).
static const float * g_scores;
static int cmp_score(const void * a, const void * b) {
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    if (g_scores[i] > g_scores[j]) return -1;
    if (g_scores[i] < g_scores[j]) return 1;
    return i < j ? -1 : i > j;
}

static int32_t nms(const int32_t (*boxes)[4], const float * scores, int32_t n, float thresh, int32_t * keep) {
    int32_t * order = malloc((size_t)(n > 0 ? n : 1) * sizeof(int32_t));
    bool * sup = calloc((size_t)(n > 0 ? n : 1), 1);
    if (!order || !sup) {
        free(order);
        free(sup);
        return -1;
    }
    for (int32_t i = 0; i < n; i++) order[i] = i;
    g_scores = scores;
    qsort(order, (size_t)n, sizeof *order, cmp_score);
    int32_t nk = 0;
    for (int32_t a = 0; a < n; a++) {
        int32_t i = order[a];
        if (sup[i]) continue;
        keep[nk++] = i;
        const float ix1 = (float)boxes[i][0], iy1 = (float)boxes[i][1], ix2 = (float)boxes[i][2], iy2 = (float)boxes[i][3];
        const float iarea = (ix2 - ix1) * (iy2 - iy1);
        for (int32_t b = a + 1; b < n; b++) {
            int32_t j = order[b];
            if (sup[j]) continue;
            float xx1 = fmaxf(ix1, (float)boxes[j][0]), yy1 = fmaxf(iy1, (float)boxes[j][1]);
            float xx2 = fminf(ix2, (float)boxes[j][2]), yy2 = fminf(iy2, (float)boxes[j][3]);
            float w = fmaxf(0.0f, xx2 - xx1), h = fmaxf(0.0f, yy2 - yy1), inter = w * h;
            float jarea = ((float)boxes[j][2] - (float)boxes[j][0]) * ((float)boxes[j][3] - (float)boxes[j][1]);
            float ovr = inter / (iarea + jarea - inter);
            if (ovr > thresh) sup[j] = true;
        }
    }
    free(order);
    free(sup);
    return nk;
}

// Keeps l->v[keep[0..nk)] in that order (frees the rest).
static void list_filter(struct cand_list * l, const int32_t * keep, int32_t nk) {
    struct cand * v = malloc((size_t)(l->cap > 0 ? l->cap : 1) * sizeof *v);
    bool * used = calloc((size_t)(l->n > 0 ? l->n : 1), 1);
    if (!v || !used) {   // cannot happen in practice; keep the list as is
        free(v);
        free(used);
        return;
    }
    for (int32_t i = 0; i < nk; i++) {
        v[i] = l->v[keep[i]];
        used[keep[i]] = true;
    }
    for (int32_t i = 0; i < l->n; i++)
        if (!used[i]) cand_free(&l->v[i]);
    free(l->v);
    free(used);
    l->v = v;
    l->n = nk;
}

static enum vlm_status run_nms(struct cand_list * l, const float * scores, float thresh) {
    int32_t (*boxes)[4] = malloc((size_t)(l->n > 0 ? l->n : 1) * sizeof *boxes);
    int32_t * keep = malloc((size_t)(l->n > 0 ? l->n : 1) * sizeof(int32_t));
    if (!boxes || !keep) {
        free(boxes);
        free(keep);
        return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    for (int32_t i = 0; i < l->n; i++) memcpy(boxes[i], l->v[i].box, sizeof boxes[i]);
    int32_t nk = nms((const int32_t (*)[4])boxes, scores, l->n, thresh, keep);
    if (nk >= 0) list_filter(l, keep, nk);
    free(boxes);
    free(keep);
    return nk < 0 ? vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory") : VLM_STATUS_OK;
}

static void rle_decode(const int64_t * rle, int64_t n, int32_t W, int32_t H, uint8_t * out) {
    const int64_t N = (int64_t)W * H;
    int64_t pos = 0;
    uint8_t v = 0;
    for (int64_t i = 0; i < n && pos < N; i++, v ^= 1) {
        const int64_t end = pos + rle[i] < N ? pos + rle[i] : N;
        int64_t x = pos / H, y = pos % H;   // column-major position
        for (; pos < end; pos++) {
            out[(size_t)y * W + (size_t)x] = v;
            if (++y == H) y = 0, x++;
        }
    }
}

// ref: amg.py remove_small_regions (OpenCV 8-connected components). Returns true if changed.
static bool remove_small_regions(uint8_t * mask, int32_t W, int32_t H, int32_t area_thresh, bool holes, int32_t * lab,
                                 int32_t * stack) {
    const size_t N = (size_t)W * H;
    // working mask: holes -> background components, islands -> foreground components
    for (size_t i = 0; i < N; i++) lab[i] = ((mask[i] != 0) != holes) ? -1 : 0;
    int32_t n_labels = 1;
    int64_t * sizes = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < N; i++) {
        if (lab[i] != -1) continue;
        if ((size_t)n_labels >= cap) {
            size_t nc = cap ? 2 * cap : 256;
            int64_t * t = realloc(sizes, nc * sizeof *t);
            if (!t) {
                free(sizes);
                return false;
            }
            sizes = t;
            cap = nc;
        }
        int64_t cnt = 0;
        size_t sp = 0;
        stack[sp++] = (int32_t)i;
        lab[i] = n_labels;
        while (sp) {
            int32_t p = stack[--sp];
            cnt++;
            int32_t py = p / W, px = p % W;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int32_t qy = py + dy, qx = px + dx;
                    if ((dy || dx) && qy >= 0 && qy < H && qx >= 0 && qx < W && lab[(size_t)qy * W + qx] == -1) {
                        lab[(size_t)qy * W + qx] = n_labels;
                        stack[sp++] = qy * W + qx;
                    }
                }
        }
        sizes[n_labels++] = cnt;
    }
    bool any_small = false;
    for (int32_t l = 1; l < n_labels; l++)
        if (sizes[l] < area_thresh) any_small = true;
    if (!any_small) {
        free(sizes);
        return false;
    }
    // fill = label 0 + small regions (holes); keep = regions not in that set (islands)
    bool * fill = calloc((size_t)n_labels, 1);
    if (!fill) {
        free(sizes);
        return false;
    }
    fill[0] = true;
    for (int32_t l = 1; l < n_labels; l++) fill[l] = sizes[l] < area_thresh;
    if (!holes) {
        bool any = false;
        for (int32_t l = 0; l < n_labels; l++) {
            fill[l] = !fill[l];
            any |= fill[l];
        }
        if (!any) {   // every region is small: keep the largest
            int32_t best = 1;
            for (int32_t l = 2; l < n_labels; l++)
                if (sizes[l] > sizes[best]) best = l;
            fill[best] = true;
        }
    }
    for (size_t i = 0; i < N; i++) mask[i] = fill[lab[i]] ? 1 : 0;
    free(fill);
    free(sizes);
    return true;
}

// What became of one candidate of a batch (the filters in upstream's order).
enum cand_fate { FATE_LOW_IOU, FATE_UNSTABLE, FATE_CROP_EDGE, FATE_KEPT, FATE_NO_MEMORY };

// ref: amg.py calculate_stability_score, and the mask (logits > 0) in the same pass: counts
// of logits above +offset and above -offset, row by row (vectorized).
static float stability_and_mask(const float * logits, size_t n, float offset, uint8_t * bin) {
    const float hi = 0.0f + offset, lo = 0.0f - offset;
    int64_t inter = 0, uni = 0;
    for (size_t r = 0; r < n; r += 4096) {
        const size_t e = r + 4096 < n ? r + 4096 : n;
        int32_t ci = 0, cu = 0;
        for (size_t t = r; t < e; t++) {
            ci += logits[t] > hi;
            cu += logits[t] > lo;
            bin[t] = logits[t] > 0.0f;
        }
        inter += ci;
        uni += cu;
    }
    return (float)inter / (float)uni;
}

// Per-thread buffers of the candidate filters.
struct cand_work { float * logits, * scratch; uint8_t * bin, * full; };

// ref: automatic_mask_generator.py _process_batch for one candidate: post-processing to the
// crop, stability filter, box, crop-edge filter, uncrop and RLE. Fills c (rle, box, stability).
static enum cand_fate filter_candidate(const struct vlm_sam_session * cs, const struct vlm_sam_everything_params * p,
                                       const int32_t crop[4], int32_t W, int32_t H, const float * low, struct cand_work * w,
                                       struct cand * c) {
    const int32_t cw = crop[2] - crop[0], ch = crop[3] - crop[1];
    if (!vlm_sam_postprocess_host(cs->sm, low, cs->in_h, cs->in_w, ch, cw, w->logits, w->scratch, 1)) return FATE_NO_MEMORY;
    c->stability = stability_and_mask(w->logits, (size_t)cw * (size_t)ch, p->stability_score_offset, w->bin);
    if (p->stability_score_thresh > 0.0f && !(c->stability >= p->stability_score_thresh)) return FATE_UNSTABLE;
    vlm_mask_box(w->bin, cw, ch, c->box);
    if (near_crop_edge(c->box, crop, W, H)) return FATE_CROP_EDGE;
    // uncrop the mask into the full image, then RLE
    const uint8_t * m = w->bin;
    if (w->full) {
        for (int32_t y = 0; y < ch; y++) memcpy(w->full + (size_t)(y + crop[1]) * W + crop[0], w->bin + (size_t)y * cw, (size_t)cw);
        m = w->full;
    }
    if (vlm_mask_to_rle(m, W, H, &c->rle, &c->n_rle) != VLM_STATUS_OK) return FATE_NO_MEMORY;
    memcpy(c->crop, crop, sizeof c->crop);
    return FATE_KEPT;
}

// Points decoded so far over all crops, for params->progress.
struct progress { int32_t done, total; };

// ref: automatic_mask_generator.py _process_crop / _process_batch for one crop whose
// embedding is set on cs. The candidates of a batch are filtered in parallel (one thread per
// candidate, in the context's thread count) and kept in upstream's order.
static enum vlm_status process_crop(struct vlm_sam_session * cs, const struct vlm_sam_everything_params * p,
                                    const int32_t crop[4], int32_t n_side, int32_t W, int32_t H, struct cand_list * out,
                                    struct vlm_sam_everything_result * stats, struct progress * prog) {
    struct vlm_sam_model * sm = cs->sm;
    const int32_t cw = crop[2] - crop[0], ch = crop[3] - crop[1];
    const size_t C = (size_t)sm->prompt_dim, M2 = (size_t)sm->mask_input_size * (size_t)sm->mask_input_size;
    const int32_t NM = sm->n_mask_tokens, Nt = 1 + NM + vlm_sam_sparse_count(sm, 1, false);
    const int32_t n_pts = n_side * n_side, bsz = p->points_per_batch, n_threads = sm->ctx->n_threads > 1 ? sm->ctx->n_threads : 1;
    const size_t HWc = (size_t)cw * (size_t)ch, n_scratch = vlm_sam_post_scratch(cs->in_h, cs->in_w, ch, cw);
    const bool cropped = cw != W || ch != H;
    enum vlm_status st = VLM_STATUS_OK;
    struct cand_list crop_list = { 0 };
    double * grid = malloc((size_t)n_pts * 2 * sizeof(double));
    float * tokens = malloc((size_t)bsz * Nt * C * sizeof(float));
    float * low = malloc((size_t)bsz * NM * M2 * sizeof(float));
    float * iou = malloc((size_t)bsz * NM * sizeof(float));
    struct cand * batch = calloc((size_t)bsz * (size_t)(NM - 1), sizeof *batch);
    uint8_t * fate = malloc((size_t)bsz * (size_t)(NM - 1));
    struct cand_work * work = calloc((size_t)n_threads, sizeof *work);
    struct vlm_ctx * x = vlm_model_ctx_acquire(cs->model);
    bool ok = x && grid && tokens && low && iou && batch && fate && work;
    for (int32_t t = 0; ok && t < n_threads; t++) {
        work[t].logits = malloc(HWc * sizeof(float));
        work[t].scratch = malloc(n_scratch * sizeof(float));
        work[t].bin = malloc(HWc);
        work[t].full = cropped ? calloc((size_t)W * H, 1) : NULL;
        ok = work[t].logits && work[t].scratch && work[t].bin && (!cropped || work[t].full);
    }
    if (!ok) {
        st = x ? vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory") : vlm_last_status();
        goto done;
    }
    vlm_sam_point_grid(n_side, grid);
    for (int32_t b0 = 0; b0 < n_pts && st == VLM_STATUS_OK; b0 += bsz) {
        const int32_t nb = n_pts - b0 < bsz ? n_pts - b0 : bsz, n_cand = nb * (NM - 1);
        for (int32_t i = 0; i < nb; i++) {
            // points_for_image = grid * [crop_w, crop_h]; apply_coords to the crop's input frame
            double px = grid[2 * (b0 + i)] * cw, py = grid[2 * (b0 + i) + 1] * ch;
            float c[2];
            int32_t label = 1;
            vlm_sam_apply_coords(cs, px, py, &c[0], &c[1]);
            float * t = tokens + (size_t)i * Nt * C;
            memcpy(t, sm->out_tokens, (size_t)(1 + NM) * C * sizeof(float));
            vlm_sam_embed_sparse(sm, c, &label, 1, NULL, t + (size_t)(1 + NM) * C);
        }
        if (vlm_sam_decode(x, sm, &cs->dec_cache, cs->emb, cs->emb_serial, nb, Nt, tokens, NULL, low, iou) != VLM_STATUS_OK) {
            st = vlm_error(x->status, "SAM mask decoder: %s", x->error);
            break;
        }
        // flatten(0, 1): point-major, multimask tokens 1..NM-1
        #pragma omp parallel for num_threads(n_threads) schedule(dynamic)
        for (int32_t j = 0; j < n_cand; j++) {
            const int32_t i = j / (NM - 1), k = 1 + j % (NM - 1);
            struct cand * c = &batch[j];
            memset(c, 0, sizeof *c);
            c->iou = iou[(size_t)i * NM + k];
            c->point[0] = grid[2 * (b0 + i)] * cw;
            c->point[1] = grid[2 * (b0 + i) + 1] * ch;
            fate[j] = p->pred_iou_thresh > 0.0f && !(c->iou > p->pred_iou_thresh)
                          ? FATE_LOW_IOU
                          : filter_candidate(cs, p, crop, W, H, low + ((size_t)i * NM + k) * M2, &work[omp_get_thread_num()], c);
        }
        for (int32_t j = 0; j < n_cand; j++) {
            stats->n_candidates++;
            if (fate[j] == FATE_LOW_IOU) stats->n_low_iou++;
            if (fate[j] == FATE_UNSTABLE) stats->n_unstable++;
            if (fate[j] == FATE_CROP_EDGE) stats->n_crop_edge++;
            if (fate[j] == FATE_NO_MEMORY && st == VLM_STATUS_OK) st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
            if (fate[j] == FATE_KEPT && (st != VLM_STATUS_OK || !list_push(&crop_list, &batch[j]))) {
                cand_free(&batch[j]);
                if (st == VLM_STATUS_OK) st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
            }
        }
        prog->done += nb;
        if (p->progress) p->progress(p->progress_user, prog->done, prog->total);
    }
    if (st != VLM_STATUS_OK) goto done;
    // remove duplicates within this crop (score = predicted IoU)
    {
        float * scores = malloc((size_t)(crop_list.n > 0 ? crop_list.n : 1) * sizeof(float));
        if (!scores) {
            st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
            goto done;
        }
        for (int32_t i = 0; i < crop_list.n; i++) scores[i] = crop_list.v[i].iou;
        const int32_t before = crop_list.n;
        st = run_nms(&crop_list, scores, p->box_nms_thresh);
        stats->n_duplicates += before - crop_list.n;
        free(scores);
    }
    // back to the original image frame
    for (int32_t i = 0; i < crop_list.n && st == VLM_STATUS_OK; i++) {
        struct cand * c = &crop_list.v[i];
        c->box[0] += crop[0];
        c->box[1] += crop[1];
        c->box[2] += crop[0];
        c->box[3] += crop[1];
        c->point[0] += crop[0];
        c->point[1] += crop[1];
        if (!list_push(out, c)) {
            st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
            break;
        }
        c->rle = NULL;   // moved
    }
done:
    vlm_model_ctx_release(cs->model, x);
    list_free(&crop_list);
    for (int32_t t = 0; work && t < n_threads; t++) {
        free(work[t].logits);
        free(work[t].scratch);
        free(work[t].bin);
        free(work[t].full);
    }
    free(work);
    free(batch);
    free(fate);
    free(grid);
    free(tokens);
    free(low);
    free(iou);
    return st;
}

static enum vlm_status check_params(const struct vlm_sam_everything_params * p) {
    if (p->points_per_side < 1 || p->points_per_side > 1024)
        return vlm_error(VLM_STATUS_INVALID_ARG, "segment everything: points_per_side must be 1..1024 (got %d)", p->points_per_side);
    if (p->points_per_batch < 1 || p->points_per_batch > 4096)
        return vlm_error(VLM_STATUS_INVALID_ARG, "segment everything: points_per_batch must be 1..4096 (got %d)", p->points_per_batch);
    if (p->crop_n_layers < 0 || p->crop_n_layers > 4)
        return vlm_error(VLM_STATUS_INVALID_ARG, "segment everything: crop_n_layers must be 0..4 (got %d)", p->crop_n_layers);
    if (p->crop_n_points_downscale_factor < 1)
        return vlm_error(VLM_STATUS_INVALID_ARG, "segment everything: crop_n_points_downscale_factor must be >= 1");
    if (!isfinite(p->pred_iou_thresh) || !isfinite(p->stability_score_thresh) || !isfinite(p->stability_score_offset) ||
        !isfinite(p->box_nms_thresh) || !isfinite(p->crop_nms_thresh) || !(p->crop_overlap_ratio >= 0 && p->crop_overlap_ratio < 1))
        return vlm_error(VLM_STATUS_INVALID_ARG, "segment everything: thresholds must be finite, crop_overlap_ratio in [0, 1)");
    if (p->min_mask_region_area < 0) return vlm_error(VLM_STATUS_INVALID_ARG, "segment everything: min_mask_region_area < 0");
    return VLM_STATUS_OK;
}

void vlm_sam_everything_result_free(struct vlm_sam_everything_result * r) {
    if (!r) return;
    for (int32_t i = 0; i < r->n_masks; i++) free(r->masks[i].segmentation);
    free(r->masks);
    memset(r, 0, sizeof *r);
}

// ref: automatic_mask_generator.py SamAutomaticMaskGenerator.generate / _generate_masks
static enum vlm_status everything_once(struct vlm_sam_session * s, const struct vlm_image * image,
                                       const struct vlm_sam_everything_params * params,
                                       struct vlm_sam_everything_result * out) {
    memset(out, 0, sizeof *out);
    struct vlm_sam_everything_params p = params ? *params : vlm_sam_everything_default_params();
    enum vlm_status st = check_params(&p);
    if (st != VLM_STATUS_OK) return st;
    if (!image && (p.crop_n_layers > 0 || !s->has_image))
        return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_sam_everything: an image is needed (none set, or crops requested)");
    if (image && (st = vlm_sam_set_image(s, image)) != VLM_STATUS_OK) return st;
    const int32_t W = s->orig_w, H = s->orig_h;

    // ref: amg.py generate_crop_boxes
    int32_t n_crops = 1;
    for (int32_t l = 1; l <= p.crop_n_layers; l++) n_crops += (1 << l) * (1 << l);
    int32_t (*crops)[4] = malloc((size_t)n_crops * sizeof *crops);
    int32_t * side = malloc((size_t)n_crops * sizeof(int32_t));   // points per side of each crop
    struct cand_list all = { 0 };
    uint8_t * tmp = NULL;
    struct vlm_sam_session * cs = NULL;
    if (!crops || !side) {
        st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
        goto fail;
    }
    crops[0][0] = 0;
    crops[0][1] = 0;
    crops[0][2] = W;
    crops[0][3] = H;
    side[0] = p.points_per_side;
    {
        int32_t k = 1;
        const int32_t short_side = W < H ? W : H;
        for (int32_t l = 0; l < p.crop_n_layers; l++) {
            const int32_t n = 1 << (l + 1);
            const int32_t overlap = (int32_t)(p.crop_overlap_ratio * short_side * (2.0 / n));
            const int32_t crop_w = (int32_t)ceil((double)(overlap * (n - 1) + W) / n);
            const int32_t crop_h = (int32_t)ceil((double)(overlap * (n - 1) + H) / n);
            for (int32_t i = 0; i < n; i++)       // product(x0s, y0s): x outer
                for (int32_t j = 0; j < n; j++) {
                    int32_t x0 = (crop_w - overlap) * i, y0 = (crop_h - overlap) * j;
                    crops[k][0] = x0;
                    crops[k][1] = y0;
                    crops[k][2] = x0 + crop_w < W ? x0 + crop_w : W;
                    crops[k][3] = y0 + crop_h < H ? y0 + crop_h : H;
                    // ref: amg.py build_all_layer_point_grids: int(n_per_side / factor^layer)
                    side[k++] = (int32_t)(p.points_per_side / pow(p.crop_n_points_downscale_factor, l + 1));
                }
        }
    }
    struct progress prog = { 0, 0 };
    for (int32_t ci = 0; ci < n_crops; ci++)
        if (side[ci] >= 1 && crops[ci][2] > crops[ci][0] && crops[ci][3] > crops[ci][1]) prog.total += side[ci] * side[ci];
    for (int32_t ci = 0; ci < n_crops; ci++) {
        const int32_t n_side = side[ci];
        if (n_side < 1) continue;
        struct vlm_sam_session * use = s;
        if (ci > 0) {
            const int32_t * c = crops[ci];
            const int32_t cw = c[2] - c[0], ch = c[3] - c[1];
            if (cw <= 0 || ch <= 0) continue;
            if (!cs && (st = vlm_sam_session_new(s->model, &cs)) != VLM_STATUS_OK) goto fail;
            struct vlm_image sub = { cw, ch, 3, malloc((size_t)cw * ch * 3) };
            if (!sub.data) {
                st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
                goto fail;
            }
            for (int32_t y = 0; y < ch; y++)
                memcpy(sub.data + (size_t)y * cw * 3, image->data + ((size_t)(y + c[1]) * W + c[0]) * 3, (size_t)cw * 3);
            st = vlm_sam_set_image(cs, &sub);
            free(sub.data);
            if (st != VLM_STATUS_OK) goto fail;
            use = cs;
        }
        if ((st = process_crop(use, &p, crops[ci], n_side, W, H, &all, out, &prog)) != VLM_STATUS_OK) goto fail;
    }
    // remove duplicates between crops, preferring smaller crops
    if (n_crops > 1) {
        float * scores = malloc((size_t)(all.n > 0 ? all.n : 1) * sizeof(float));
        if (!scores) {
            st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
            goto fail;
        }
        for (int32_t i = 0; i < all.n; i++) {
            const int32_t * c = all.v[i].crop;
            scores[i] = 1.0f / (float)((c[2] - c[0]) * (c[3] - c[1]));
        }
        const int32_t before = all.n;
        st = run_nms(&all, scores, p.crop_nms_thresh);
        out->n_duplicates += before - all.n;
        free(scores);
        if (st != VLM_STATUS_OK) goto fail;
    }
    // ref: automatic_mask_generator.py postprocess_small_regions
    if (p.min_mask_region_area > 0 && all.n > 0) {
        const size_t N = (size_t)W * H;
        tmp = malloc(N * ((size_t)all.n + 2 * sizeof(int32_t)));
        float * scores = malloc((size_t)all.n * sizeof(float));
        if (!tmp || !scores) {
            free(scores);
            st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
            goto fail;
        }
        int32_t * lab = (int32_t *)tmp, * stack = lab + N;
        uint8_t * masks = tmp + 2 * N * sizeof(int32_t);
        for (int32_t i = 0; i < all.n; i++) {
            uint8_t * m = masks + (size_t)i * N;
            rle_decode(all.v[i].rle, all.v[i].n_rle, W, H, m);
            bool changed = remove_small_regions(m, W, H, p.min_mask_region_area, true, lab, stack);
            changed |= remove_small_regions(m, W, H, p.min_mask_region_area, false, lab, stack);
            scores[i] = changed ? 0.0f : 1.0f;
            if (changed) {   // boxes of changed masks are recomputed for NMS
                vlm_mask_box(m, W, H, all.v[i].box);
                int64_t * rle = NULL, nr = 0;
                if ((st = vlm_mask_to_rle(m, W, H, &rle, &nr)) != VLM_STATUS_OK) {
                    free(scores);
                    goto fail;
                }
                free(all.v[i].rle);
                all.v[i].rle = rle;
                all.v[i].n_rle = nr;
            }
        }
        float thr = p.box_nms_thresh > p.crop_nms_thresh ? p.box_nms_thresh : p.crop_nms_thresh;
        const int32_t before = all.n;
        st = run_nms(&all, scores, thr);
        out->n_duplicates += before - all.n;
        free(scores);
        if (st != VLM_STATUS_OK) goto fail;
    }
    // write the records
    out->width = W;
    out->height = H;
    out->masks = calloc((size_t)(all.n > 0 ? all.n : 1), sizeof *out->masks);
    if (!out->masks) {
        st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
        goto fail;
    }
    for (int32_t i = 0; i < all.n; i++) {
        const struct cand * c = &all.v[i];
        struct vlm_sam_annotation * a = &out->masks[i];
        a->segmentation = calloc((size_t)W * H, 1);
        if (!a->segmentation) {
            st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
            goto fail;
        }
        out->n_masks = i + 1;
        a->area = 0;
        for (int64_t k = 1; k < c->n_rle; k += 2) a->area += c->rle[k];
        a->bbox[0] = c->box[0];
        a->bbox[1] = c->box[1];
        a->bbox[2] = c->box[2] - c->box[0];
        a->bbox[3] = c->box[3] - c->box[1];
        a->predicted_iou = c->iou;
        a->stability_score = c->stability;
        a->point_coords[0] = (float)c->point[0];
        a->point_coords[1] = (float)c->point[1];
        a->crop_box[0] = c->crop[0];
        a->crop_box[1] = c->crop[1];
        a->crop_box[2] = c->crop[2] - c->crop[0];
        a->crop_box[3] = c->crop[3] - c->crop[1];
    }
    #pragma omp parallel for num_threads(s->sm->ctx->n_threads > 1 ? s->sm->ctx->n_threads : 1) schedule(dynamic)
    for (int32_t i = 0; i < all.n; i++) rle_decode(all.v[i].rle, all.v[i].n_rle, W, H, out->masks[i].segmentation);
    list_free(&all);
    free(crops);
    free(side);
    free(tmp);
    vlm_sam_session_free(cs);
    return VLM_STATUS_OK;
fail:
    vlm_sam_everything_result_free(out);
    list_free(&all);
    free(crops);
    free(side);
    free(tmp);
    vlm_sam_session_free(cs);
    return st;
}

enum vlm_status vlm_sam_everything(struct vlm_sam_session * s, const struct vlm_image * image,
                                   const struct vlm_sam_everything_params * params, struct vlm_sam_everything_result * out) {
    if (!s || !out) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_sam_everything: NULL argument");
    enum vlm_status st = everything_once(s, image, params, out);
    if (st != VLM_STATUS_OK && vlm_sam_session_fall_back(s, st)) st = everything_once(s, image, params, out);
    return st;
}
