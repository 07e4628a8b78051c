// describe-objects.h — `vlm describe --objects` (apps/describe-objects.c): the objects SAM's
// segment-everything finds in an image, each with its CLIP concepts and a caption from the
// language model about its region.
#ifndef VLM_DESCRIBE_OBJECTS_H
#define VLM_DESCRIBE_OBJECTS_H
#include <cjson/cJSON.h>
#include <stdio.h>

#include "concepts.h"
#include "vqa.h"

#define VLM_OBJECT_CONCEPTS 3   // concepts listed per object

struct vlm_object {
    struct vlm_sam_annotation a;             // mask (owned by the everything result), area, box, scores
    int32_t                   index;         // in the everything result (`vlm segment --everything`'s order)
    struct vlm_image          crop;          // the region CLIP and the language model see
    int32_t                   crop_box[4];   // XYXY, inclusive
    struct vlm_ranked         concepts[VLM_OBJECT_CONCEPTS];
    int32_t                   n_concepts;
    char *                    caption;
};

struct vlm_objects {
    struct vlm_sam_everything_result everything;
    struct vlm_concepts              concepts;
    struct vlm_object *              objects;   // largest first (ties: SAM's order)
    int32_t                          n;
};

struct vlm_objects_params {
    const char *                     sam_path, * clip_path;
    int32_t                          max_objects;
    struct vlm_sam_everything_params everything;
    struct vlm_model_params          model;
};

// Segments everything, keeps the max_objects largest masks, crops each as a region question
// does (fusion/region.h) and ranks the concept list (`vlm concepts`) against the crops. The
// SAM and CLIP models are loaded and freed here. Errors are printed ("vlm CMD: ...").
bool vlm_objects_find(const char * cmd, const struct vlm_objects_params * p, const struct vlm_image * image,
                      struct vlm_objects * out);
// Captions every object's crop ("What is this? Answer in a few words."), each crop seen at its
// own size (no upscaling); with print, each object's line as it is captioned.
bool vlm_objects_caption(const char * cmd, struct vlm_objects * o, struct vlm_model * text,
                         struct vlm_smolvlm_vision * vision, const struct vlm_vqa_params * vp,
                         const struct vlm_sampler_params * sp, int32_t max_tokens, FILE * print);
// The "objects" array: index (from 1), mask_index (in segment-everything's output), caption,
// concepts, bbox (XYWH), area, scores, crop_box (XYXY), segmentation (RLE).
cJSON * vlm_objects_json(const struct vlm_objects * o);
// The image with the masks tinted and numbered, written atomically.
bool vlm_objects_overlay(const char * cmd, const char * path, const struct vlm_image * image, const struct vlm_objects * o);
void vlm_objects_free(struct vlm_objects * o);
#endif
