// masks.c — SAM outputs shared by segment, ask and describe (see masks.h).
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "masks.h"

cJSON * vlm_mask_rle_json(const uint8_t * mask, int32_t w, int32_t h) {
    int64_t * counts = NULL, n = 0;
    if (vlm_mask_to_rle(mask, w, h, &counts, &n) != VLM_STATUS_OK) return NULL;
    cJSON * o = cJSON_CreateObject();
    cJSON * size = cJSON_AddArrayToObject(o, "size");
    cJSON_AddItemToArray(size, cJSON_CreateNumber(h));
    cJSON_AddItemToArray(size, cJSON_CreateNumber(w));
    cJSON * c = cJSON_AddArrayToObject(o, "counts");
    for (int64_t i = 0; i < n; i++) cJSON_AddItemToArray(c, cJSON_CreateNumber((double)counts[i]));
    free(counts);
    return o;
}

// ref: pycocotools/common/maskApi.c rleToString: each count minus the count two before it
// (from the fourth on: i > 2, as upstream), 5 bits a character from '0', bit 0x20 = more follow.
cJSON * vlm_mask_rle_json_compressed(const uint8_t * mask, int32_t w, int32_t h) {
    int64_t * counts = NULL, n = 0;
    if (vlm_mask_to_rle(mask, w, h, &counts, &n) != VLM_STATUS_OK) return NULL;
    char * s = malloc((size_t)n * 13 + 1);   // 64-bit values: at most 13 characters each
    cJSON * o = s ? cJSON_CreateObject() : NULL;
    if (o) {
        size_t p = 0;
        for (int64_t i = 0; i < n; i++) {
            int64_t x = counts[i] - (i > 2 ? counts[i - 2] : 0);
            for (bool more = true; more;) {
                char c = (char)(x & 0x1f);
                x >>= 5;   // arithmetic: negative deltas end at -1
                more = (c & 0x10) ? x != -1 : x != 0;
                if (more) c |= 0x20;
                s[p++] = (char)(c + 48);
            }
        }
        s[p] = 0;
        cJSON * size = cJSON_AddArrayToObject(o, "size");
        cJSON_AddItemToArray(size, cJSON_CreateNumber(h));
        cJSON_AddItemToArray(size, cJSON_CreateNumber(w));
        if (!cJSON_AddStringToObject(o, "counts", s)) {
            cJSON_Delete(o);
            o = NULL;
        }
    }
    free(s);
    free(counts);
    return o;
}

// ---- overlays --------------------------------------------------------------------------------------
const uint8_t vlm_overlay_palette[8][3] = { { 30, 144, 255 }, { 255, 99, 71 }, { 50, 205, 50 }, { 255, 215, 0 },
                                            { 186, 85, 211 }, { 0, 206, 209 }, { 255, 140, 0 }, { 220, 20, 60 } };

void vlm_overlay_tint(uint8_t * rgb, int32_t w, int32_t h, const uint8_t * mask, const uint8_t col[3]) {
    for (size_t i = 0; i < (size_t)w * h; i++)
        if (mask[i])
            for (int c = 0; c < 3; c++) rgb[3 * i + c] = (uint8_t)((rgb[3 * i + c] + col[c] + 1) / 2);
}

bool vlm_overlay_annotations(uint8_t * rgb, int32_t w, int32_t h, const struct vlm_sam_annotation * a, int32_t n) {
    int32_t * order = malloc(sizeof(int32_t) * (size_t)(n + 1));
    if (!order) return false;
    for (int32_t i = 0; i < n; i++) order[i] = i;
    for (int32_t i = 1; i < n; i++)   // largest first, stable
        for (int32_t j = i; j > 0 && a[order[j]].area > a[order[j - 1]].area; j--) {
            int32_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (int32_t i = 0; i < n; i++) vlm_overlay_tint(rgb, w, h, a[order[i]].segmentation, vlm_overlay_palette[order[i] % 8]);
    free(order);
    return true;
}

static void put(uint8_t * rgb, int32_t w, int32_t h, int32_t x, int32_t y, const uint8_t col[3]) {
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    memcpy(rgb + 3 * ((size_t)y * w + x), col, 3);
}

void vlm_overlay_point(uint8_t * rgb, int32_t w, int32_t h, float px, float py, int32_t label) {
    static const uint8_t green[3] = { 0, 230, 0 }, red[3] = { 230, 0, 0 }, white[3] = { 255, 255, 255 };
    int32_t r = (w > h ? w : h) / 100 + 4, cx = (int32_t)lroundf(px), cy = (int32_t)lroundf(py);
    for (int32_t dy = -r - 2; dy <= r + 2; dy++)
        for (int32_t dx = -r - 2; dx <= r + 2; dx++) {
            int32_t d2 = dx * dx + dy * dy;
            if (d2 <= r * r) put(rgb, w, h, cx + dx, cy + dy, label ? green : red);
            else if (d2 <= (r + 2) * (r + 2)) put(rgb, w, h, cx + dx, cy + dy, white);
        }
}

void vlm_overlay_box(uint8_t * rgb, int32_t w, int32_t h, const struct vlm_box * b) {
    static const uint8_t col[3] = { 0, 230, 0 };
    int32_t x0 = (int32_t)b->x0, y0 = (int32_t)b->y0, x1 = (int32_t)b->x1, y1 = (int32_t)b->y1, t = (w > h ? w : h) / 400 + 1;
    for (int32_t k = 0; k <= t; k++) {
        for (int32_t x = x0; x <= x1; x++) {
            put(rgb, w, h, x, y0 + k, col);
            put(rgb, w, h, x, y1 - k, col);
        }
        for (int32_t y = y0; y <= y1; y++) {
            put(rgb, w, h, x0 + k, y, col);
            put(rgb, w, h, x1 - k, y, col);
        }
    }
}

// 3x5 digits, row by row from the top, bit 14 the top-left cell
static const uint16_t digits[10] = { 0x7B6F, 0x2C97, 0x73E7, 0x73CF, 0x5BC9, 0x79CF, 0x79EF, 0x7249, 0x7BEF, 0x7BCF };

void vlm_overlay_number(uint8_t * rgb, int32_t w, int32_t h, const uint8_t * mask, int32_t number) {
    static const uint8_t black[3] = { 0, 0, 0 }, white[3] = { 255, 255, 255 };
    // the mask's pixel nearest its centroid
    double sx = 0, sy = 0, n = 0;
    for (int32_t y = 0; y < h; y++)
        for (int32_t x = 0; x < w; x++)
            if (mask[(size_t)y * w + x]) sx += x, sy += y, n++;
    if (n == 0) return;
    int32_t cx = (int32_t)(sx / n), cy = (int32_t)(sy / n);
    double best = INFINITY;
    for (int32_t y = 0; y < h && !mask[(size_t)cy * w + cx]; y++)
        for (int32_t x = 0; x < w; x++) {
            double d = (double)(x - cx) * (x - cx) + (double)(y - cy) * (y - cy);
            if (mask[(size_t)y * w + x] && d < best) best = d, cx = x, cy = y;
        }
    char text[16];
    int32_t len = snprintf(text, sizeof text, "%d", (int)number), s = (w > h ? w : h) / 200 + 2;
    int32_t bw = (4 * len + 1) * s, bh = 7 * s, x0 = cx - bw / 2, y0 = cy - bh / 2;
    if (x0 + bw > w) x0 = w - bw;
    if (y0 + bh > h) y0 = h - bh;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    for (int32_t y = 0; y < bh; y++)
        for (int32_t x = 0; x < bw; x++) put(rgb, w, h, x0 + x, y0 + y, black);
    for (int32_t k = 0; k < len; k++)
        for (int32_t r = 0; r < 5; r++)
            for (int32_t c = 0; c < 3; c++) {
                if (!(digits[text[k] - '0'] >> (14 - 3 * r - c) & 1)) continue;
                for (int32_t y = 0; y < s; y++)
                    for (int32_t x = 0; x < s; x++) put(rgb, w, h, x0 + (1 + 4 * k + c) * s + x, y0 + (1 + r) * s + y, white);
            }
}

// ---- segment-everything options --------------------------------------------------------------------
int vlm_everything_option(const char * cmd, int argc, char ** argv, int * i, struct vlm_sam_everything_params * p) {
    static const struct { const char * name; long lo, hi; } ints[] = {
        { "--points-per-side", 1, 1024 }, { "--points-per-batch", 1, 4096 }, { "--crop-n-layers", 0, 4 },
        { "--min-mask-region-area", 0, 1L << 30 },
    };
    static const char * const floats[] = { "--pred-iou-thresh", "--stability-score-thresh", "--box-nms-thresh" };
    int32_t * int_fields[] = { &p->points_per_side, &p->points_per_batch, &p->crop_n_layers, &p->min_mask_region_area };
    float * float_fields[] = { &p->pred_iou_thresh, &p->stability_score_thresh, &p->box_nms_thresh };
    const char * a = argv[*i];
    for (size_t k = 0; k < sizeof ints / sizeof *ints + sizeof floats / sizeof *floats; k++) {
        bool is_int = k < sizeof ints / sizeof *ints;
        const char * name = is_int ? ints[k].name : floats[k - sizeof ints / sizeof *ints];
        if (strcmp(a, name)) continue;
        if (*i + 1 >= argc) {
            cli_usage_error(cmd, "%s needs a value", a);
            return -1;
        }
        const char * v = argv[++*i];
        int n = 0, iv = 0;
        if (is_int ? !cli_parse_int(v, ints[k].lo, ints[k].hi, &iv)
                   : !cli_parse_floats(v, float_fields[k - sizeof ints / sizeof *ints], 1, 1, &n)) {
            if (is_int) cli_usage_error(cmd, "%s takes a whole number from %ld to %ld, not '%s'", a, ints[k].lo, ints[k].hi, v);
            else cli_usage_error(cmd, "%s takes a number, not '%s'", a, v);
            return -1;
        }
        if (is_int) *int_fields[k] = iv;
        return 1;
    }
    return 0;
}

void vlm_everything_explain(FILE * f, const char * prefix, const struct vlm_sam_everything_result * r,
                            const struct vlm_sam_everything_params * p) {
    if (r->n_masks > 0) return;
    fprintf(f, "%sno masks left: of %d candidates (grid points x multimask outputs)", prefix, r->n_candidates);
    if (r->n_low_iou) fprintf(f, ", %d had predicted IoU <= %g (--pred-iou-thresh)", r->n_low_iou, p->pred_iou_thresh);
    if (r->n_unstable) fprintf(f, ", %d had stability < %g (--stability-score-thresh)", r->n_unstable, p->stability_score_thresh);
    if (r->n_crop_edge) fprintf(f, ", %d touched a crop edge", r->n_crop_edge);
    if (r->n_duplicates) fprintf(f, ", %d were duplicates (--box-nms-thresh)", r->n_duplicates);
    // the filter that removed the most is the one to relax first
    const char * opt = NULL;
    if (r->n_low_iou >= r->n_unstable && r->n_low_iou > 0) opt = "--pred-iou-thresh";
    else if (r->n_unstable > 0) opt = "--stability-score-thresh";
    if (opt)
        fprintf(f, "; try a lower %s (0 turns it off; e.g. --pred-iou-thresh 0.5 --stability-score-thresh 0.8), "
                   "or a denser grid (--points-per-side)\n", opt);
    else
        fprintf(f, "; try a denser grid (--points-per-side)\n");
}

static void draw_everything_bar(void * user, int32_t done, int32_t total) {
    const struct vlm_everything_bar * b = user;
    char bar[31];
    const int fill = total > 0 ? (int)((int64_t)30 * done / total) : 30;
    for (int k = 0; k < 30; k++) bar[k] = k < fill ? '#' : '.';
    bar[30] = 0;
    const double s = (vlm_now_ms() - b->t0) / 1e3, eta = done > 0 ? s / done * (total - done) : 0;
    fprintf(stderr, "\r\033[Kvlm %s: [%s] %d/%d points, ETA %d:%02d", b->cmd, bar, (int)done, (int)total, (int)(eta / 60),
            (int)fmod(eta, 60));
    if (done >= total) fputc('\n', stderr);
    fflush(stderr);
}

void vlm_everything_progress_bar(struct vlm_sam_everything_params * p, struct vlm_everything_bar * bar, const char * cmd) {
    if (!isatty(STDERR_FILENO)) return;
    bar->cmd = cmd;
    bar->t0 = vlm_now_ms();
    p->progress = draw_everything_bar;
    p->progress_user = bar;
}
