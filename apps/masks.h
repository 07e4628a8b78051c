// masks.h — SAM outputs shared by the commands (apps/masks.c): masks as COCO RLE JSON,
// overlays (masks tinted, prompts and numbers drawn) and the segment-everything options.
#ifndef VLM_MASKS_H
#define VLM_MASKS_H
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include "vlm.h"

// {"size": [H, W], "counts": [...]}: uncompressed COCO RLE (vlm_mask_to_rle); NULL when out of memory.
cJSON * vlm_mask_rle_json(const uint8_t * mask, int32_t width, int32_t height);
// {"size": [H, W], "counts": "..."}: compressed COCO RLE, the string pycocotools' mask.encode
// gives (and SamAutomaticMaskGenerator's output_mode="coco_rle"); several times smaller.
cJSON * vlm_mask_rle_json_compressed(const uint8_t * mask, int32_t width, int32_t height);

// Overlays draw on an RGB image [height, width, 3] in place.
extern const uint8_t vlm_overlay_palette[8][3];
// The mask's pixels blended half and half with col.
void vlm_overlay_tint(uint8_t * rgb, int32_t width, int32_t height, const uint8_t * mask, const uint8_t col[3]);
// Every mask tinted, the largest first so that small ones stay visible; mask i in palette
// colour i % 8. False when out of memory.
bool vlm_overlay_annotations(uint8_t * rgb, int32_t width, int32_t height, const struct vlm_sam_annotation * a, int32_t n);
// A click (green foreground, red background, white ring) and a box outline.
void vlm_overlay_point(uint8_t * rgb, int32_t width, int32_t height, float x, float y, int32_t label);
void vlm_overlay_box(uint8_t * rgb, int32_t width, int32_t height, const struct vlm_box * box);
// A number in white on black, centred on the mask's pixel nearest its centroid.
void vlm_overlay_number(uint8_t * rgb, int32_t width, int32_t height, const uint8_t * mask, int32_t number);

// The segment-everything options, as cli_common_option (1: taken, 0: not one, -1: bad value,
// message printed): --points-per-side N, --points-per-batch N, --crop-n-layers N,
// --min-mask-region-area N, --pred-iou-thresh T, --stability-score-thresh T, --box-nms-thresh T.
int vlm_everything_option(const char * cmd, int argc, char ** argv, int * i, struct vlm_sam_everything_params * p);
// When segment-everything kept no mask: one line naming each filter that removed candidates,
// how many, and the option to relax, written to f as "<prefix>no masks left: ...".
void vlm_everything_explain(FILE * f, const char * prefix, const struct vlm_sam_everything_result * r,
                            const struct vlm_sam_everything_params * p);
// A progress bar for segment-everything on stderr, only when stderr is a terminal: sets
// p->progress to redraw "vlm CMD: [####....] 320/1024 points, ETA 0:12" in place (a newline
// after the last batch). bar must outlive the vlm_sam_everything call.
struct vlm_everything_bar { const char * cmd; double t0; };
void vlm_everything_progress_bar(struct vlm_sam_everything_params * p, struct vlm_everything_bar * bar, const char * cmd);
#define VLM_EVERYTHING_USAGE                                                                                   \
    "  --points-per-side N      segment-everything grid (default 32), --points-per-batch N, --crop-n-layers N,\n" \
    "  --pred-iou-thresh T      --stability-score-thresh T, --box-nms-thresh T, --min-mask-region-area N\n"      \
    "                           (SamAutomaticMaskGenerator's options and defaults)\n"
#endif
