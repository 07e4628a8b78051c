// region.h — what the language model sees of one object: the crop of an image around a
// segmentation mask, the background dimmed, for questions about a clicked region.
#ifndef VLM_REGION_H
#define VLM_REGION_H
#include "vlm.h"

// The crop's defaults: the mask's tight box grown on every side by a fraction of its longer
// side (at least VLM_REGION_MIN_MARGIN pixels), clamped to the image; pixels outside the mask
// scaled by (1 - dim), so the object stands out and its surroundings stay recognisable.
#define VLM_REGION_MARGIN     0.15f
#define VLM_REGION_MIN_MARGIN 8
#define VLM_REGION_DIM        0.5f

// mask: [height, width] 0/1 of the image's size. box receives the crop as XYXY (inclusive
// max). An empty mask is VLM_STATUS_INVALID_ARG ("the mask is empty"). out: a new RGB image
// (vlm_image_free).
enum vlm_status vlm_region_crop(const struct vlm_image * image, const uint8_t * mask, float margin, float dim,
                                struct vlm_image * out, int32_t box[4]);
#endif
