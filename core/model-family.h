// model-family.h — how a model family plugs into the generic loader (core/model.c) and into
// `vlm info` (core/model-info.c). core/ knows no family by name: each one (SAM, CLIP, the
// llama decoder, SmolVLM's projector) defines a struct vlm_model_family next to its code,
// and the table vlm_model_families (fusion/families.c) lists the ones this build has.
#ifndef VLM_MODEL_FAMILY_H
#define VLM_MODEL_FAMILY_H
#include <stdio.h>

#include "core.h"
#include "model-file.h"

struct vlm_model;                 // core/model.h
struct vlm_model_family;

// A model file as the loader and `vlm info` see it, opened once: the weights file (a
// directory's model.safetensors), its tensors, the family that claimed it and that family's
// config file next to it.
struct vlm_model_source {
    char                            path[1024];     // the weights file
    struct vlm_safetensors *        file;           // safetensors or PyTorch checkpoint, else NULL
    struct vlm_gguf *               gguf;           // GGUF, else NULL
    bool                            pytorch;        // file is a PyTorch zip checkpoint
    const struct vlm_model_family * family;         // NULL: no family recognized it
    char                            config_path[1100];   // "" when the family read none
    char *                          config;         // its text (NUL-terminated, a JSON object), or NULL
    size_t                          config_len;
};

struct vlm_model_family {
    const char *         name;          // "sam", "clip", ...: in messages
    enum vlm_model_kind  kind;
    // Config files the family reads next to the weights, first found wins (NULL-terminated;
    // NULL: none). The loader reads it with one policy for every family: a file that is there
    // must be readable and a JSON object, else an error naming the file; the family's parser
    // names the key of a bad value.
    const char * const * config_names;
    // Whether src's tensors (or GGUF architecture) are this family's. Families are asked in
    // table order; config is not read yet.
    bool            (*detect)(const struct vlm_model_source * src);
    // `vlm info`: prints the "architecture:" line and any detail lines for src.
    void            (*describe)(const struct vlm_model_source * src, FILE * f);
    // Why vlm_model_load refuses such a file and what to do instead (SmolVLM's projector is
    // loaded through the describe command's --mmproj); NULL for a loadable family.
    const char *    load_refusal;
    // Loading: the activation arena of one compute context (a family may leave errors to
    // init), the name suffixes of the linear weights (stored as vlm_model_params.weights asks;
    // NULL-terminated, NULL: none), and init, which builds m->arch from m->src, m->ctx and
    // m->weights.
    enum vlm_status (*arena_bytes)(const struct vlm_model_source * src, size_t * bytes);
    const char * const * linear_weights;
    enum vlm_status (*init)(struct vlm_model * m);
    void            (*free)(void * arch);
};

// The families of this build, NULL-terminated (fusion/families.c), and their names as a list
// for messages ("sam, clip, ...").
extern const struct vlm_model_family * const vlm_model_families[];
void vlm_model_family_names(char * out, size_t size);

// Opens path (a file, or a directory holding model.safetensors) as safetensors, a PyTorch
// checkpoint or GGUF, asks the families which it is and reads that family's config file.
// No family is an error only when need_family. On failure src holds nothing to close.
enum vlm_status vlm_model_source_open(const char * path, bool need_family, struct vlm_model_source * src);
void            vlm_model_source_close(struct vlm_model_source * src);

// Reads the first of names (NULL-terminated) that exists in the folder of model_path: its
// text in *text (malloc'd, NUL-terminated, *n its length) and its path in path_out; *text NULL
// when none is there. Fails naming the file when it cannot be read, is over
// VLM_MODEL_CONFIG_MAX_BYTES or is not a JSON object.
#define VLM_MODEL_CONFIG_MAX_BYTES ((size_t)4 << 20)
enum vlm_status vlm_model_config_load(const char * model_path, const char * const * names, char * path_out,
                                      size_t path_size, char ** text, size_t * n);

// Shape queries for detectors and describers: the size of dim d of tensor name when it has
// n_dims dims (else -1); 1 + the largest N of tensors named "<prefix>N.<anything>" (0: none);
// whether any tensor name starts with prefix.
int64_t vlm_file_dim(const struct vlm_safetensors * st, const char * name, int32_t n_dims, int32_t d);
int32_t vlm_file_count_indexed(const struct vlm_safetensors * st, const char * prefix);
bool    vlm_file_has_prefix(const struct vlm_safetensors * st, const char * prefix);
// A GGUF integer "<prefix>.<key>", -1 when absent.
int64_t vlm_gguf_int_at(const struct vlm_gguf * g, const char * prefix, const char * key);
#endif
