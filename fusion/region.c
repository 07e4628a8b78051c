// region.c — the crop around a mask that a region question shows the language model.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "region.h"

enum vlm_status vlm_region_crop(const struct vlm_image * img, const uint8_t * mask, float margin, float dim,
                                struct vlm_image * out, int32_t box[4]) {
    if (out) memset(out, 0, sizeof *out);
    if (!img || !img->data || img->channels != 3 || !mask || !out || !box)
        return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_region_crop: NULL argument or not an RGB image");
    if (!(margin >= 0.0f && margin <= 10.0f) || !(dim >= 0.0f && dim <= 1.0f))
        return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_region_crop: margin must be in [0, 10] and dim in [0, 1]");
    int32_t tight[4];
    if (vlm_mask_box(mask, img->width, img->height, tight) == 0)
        return vlm_error(VLM_STATUS_INVALID_ARG, "the mask is empty: no object at that prompt");
    int32_t bw = tight[2] - tight[0] + 1, bh = tight[3] - tight[1] + 1;
    int32_t m = (int32_t)ceilf(margin * (float)(bw > bh ? bw : bh));
    if (m < VLM_REGION_MIN_MARGIN) m = VLM_REGION_MIN_MARGIN;
    box[0] = tight[0] - m < 0 ? 0 : tight[0] - m;
    box[1] = tight[1] - m < 0 ? 0 : tight[1] - m;
    box[2] = tight[2] + m >= img->width ? img->width - 1 : tight[2] + m;
    box[3] = tight[3] + m >= img->height ? img->height - 1 : tight[3] + m;
    int32_t w = box[2] - box[0] + 1, h = box[3] - box[1] + 1;
    uint8_t * px = malloc((size_t)w * (size_t)h * 3);
    if (!px) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    const float keep = 1.0f - dim;
    for (int32_t y = 0; y < h; y++) {
        const uint8_t * src = img->data + ((size_t)(box[1] + y) * img->width + box[0]) * 3;
        const uint8_t * mk = mask + (size_t)(box[1] + y) * img->width + box[0];
        uint8_t * dst = px + (size_t)y * w * 3;
        for (int32_t x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                dst[x * 3 + c] = mk[x] ? src[x * 3 + c] : (uint8_t)lroundf((float)src[x * 3 + c] * keep);
    }
    out->width = w;
    out->height = h;
    out->channels = 3;
    out->data = px;
    return VLM_STATUS_OK;
}
