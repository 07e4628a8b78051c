// smolvlm-family.c — SmolVLM's vision projector file (GGUF mmproj, general.architecture "clip")
// as a family: `vlm info` describes it; vlm_model_load refuses it with what to do instead (it is
// loaded beside a text model by vlm_smolvlm_vision_load).
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "gguf-meta.h"
#include "model.h"
#include "smolvlm-vision.h"

static bool mmproj_detect(const struct vlm_model_source * src) {
    const char * arch = NULL, * type = NULL;
    return src->gguf && ((vlm_gguf_get_str(src->gguf, "general.architecture", &arch) && !strcmp(arch, "clip")) ||
                         (vlm_gguf_get_str(src->gguf, "general.type", &type) && !strcmp(type, "mmproj")));
}

// The rest of an mmproj's vision sizes: llama.cpp tiles images into image_size squares
// (idefics3: longest edge preproc_image_size) and merges scale_factor x scale_factor patches.
static void print_mmproj(const struct vlm_gguf * g, FILE * f) {
    int64_t img = vlm_gguf_int_at(g, "clip.vision", "image_size"), patch = vlm_gguf_int_at(g, "clip.vision", "patch_size");
    int64_t sf = vlm_gguf_int_at(g, "clip.vision.projector", "scale_factor"), le = vlm_gguf_int_at(g, "clip.vision", "preproc_image_size");
    double eps = 0;
    bool gelu = false, silu = false;
    vlm_gguf_get_float(g, "clip.vision.attention.layer_norm_epsilon", &eps);
    vlm_gguf_get_bool(g, "clip.use_gelu", &gelu);
    vlm_gguf_get_bool(g, "clip.use_silu", &silu);
    fprintf(f, "vision:        ffn %" PRId64 ", eps %g, %s", vlm_gguf_int_at(g, "clip.vision", "feed_forward_length"), eps,
            gelu ? "gelu (tanh)" : silu ? "silu" : "quick gelu");
    if (img > 0 && patch > 0 && img % patch == 0) {
        int64_t n = img / patch;
        fprintf(f, ", %" PRId64 "x%" PRId64 " patches per tile", n, n);
        if (sf > 1 && n % sf == 0)
            fprintf(f, ", pixel shuffle %" PRId64 " -> %" PRId64 " tokens per tile", sf, (n / sf) * (n / sf));
    }
    if (le > 0) fprintf(f, ", longest edge %" PRId64, le);
    fputc('\n', f);
}

static void mmproj_describe(const struct vlm_model_source * src, FILE * f) {
    const struct vlm_gguf * g = src->gguf;
    const char * proj = NULL;
    vlm_gguf_get_str(g, "clip.projector_type", &proj);
    const bool idefics3 = proj && !strcmp(proj, "idefics3");
    fprintf(f, "architecture:  clip mmproj (%s%s: vision %" PRId64 " layers, embed %" PRId64 ", heads %" PRId64
            ", image %" PRId64 ", patch %" PRId64 ", projection %" PRId64 ")\n",
            idefics3 ? "SmolVLM / idefics3 connector" : "projector ", idefics3 ? "" : (proj ? proj : "?"),
            vlm_gguf_int_at(g, "clip.vision", "block_count"), vlm_gguf_int_at(g, "clip.vision", "embedding_length"),
            vlm_gguf_int_at(g, "clip.vision", "attention.head_count"), vlm_gguf_int_at(g, "clip.vision", "image_size"),
            vlm_gguf_int_at(g, "clip.vision", "patch_size"), vlm_gguf_int_at(g, "clip.vision", "projection_dim"));
    print_mmproj(g, f);
}

const struct vlm_model_family vlm_mmproj_family = {
    .name = "mmproj",
    .kind = VLM_MODEL_UNKNOWN,
    .detect = mmproj_detect,
    .describe = mmproj_describe,
    .load_refusal = "a vision projector (mmproj), not a text model: pass it with --mmproj",
};
