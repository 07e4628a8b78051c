// concepts.h — CLIP labels for the commands: ranking texts against an image, label lists, and
// the built-in concept list of `vlm concepts` and `vlm describe --objects` with its text
// embeddings cached per model (apps/concepts.c).
#ifndef VLM_CONCEPTS_H
#define VLM_CONCEPTS_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "vlm.h"

struct vlm_ranked {
    float   prob, cosine;
    int32_t index;
};
// probs = softmax(logit_scale * image . texts) over n normalized text embeddings [n, e], best
// first (ties by index). False when out of memory.
bool    vlm_rank_texts(const float * image, const float * texts, int32_t n, int32_t e, float scale, struct vlm_ranked * out);
// Splits a list into trimmed entries (comma-separated, or one per line for files, where
// blank lines and lines starting with '#' are skipped). Returns the count, -1 on an empty
// entry (its 1-based position in *bad) or out of memory (*bad = 0).
int32_t vlm_split_list(char * s, bool lines, char *** out, int32_t * bad);
// Loads a model and checks that it is CLIP (a one-line error and NULL otherwise).
struct vlm_model * vlm_load_clip(const char * cmd, const char * path, const struct vlm_model_params * params);

// A concept list and the normalized text embeddings of "a photo of a {concept}." [n, dim].
struct vlm_concepts {
    char *  buf;
    char ** names;
    int32_t n, dim;
    float * feats;
};
// list_path NULL: assets/concepts.txt (or $VLM_ASSETS/concepts.txt). The embeddings come from
// $XDG_CACHE_HOME/vlm (~/.cache/vlm), keyed by list and model file, unless !use_cache; else
// they are computed (a note "vlm CMD: ..." on stderr) and cached. lock, when not NULL, is held
// around each chunk of the texts' encoding, so that a server's other CLIP requests get turns.
// False with the reason in err.
bool vlm_concepts_load(const char * cmd, struct vlm_model * clip, const char * model_path, const char * list_path,
                       bool use_cache, pthread_mutex_t * lock, struct vlm_concepts * out, char * err, size_t err_size);
void vlm_concepts_free(struct vlm_concepts * c);
#endif
