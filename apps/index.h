// index.h — the photo index of `vlm index`, `vlm search` and `vlm serve --index`: the file
// format (read strictly, written atomically), the model it was built with, and the search.
//
// The file is safetensors: one tensor "embeddings" [N, D] F32, the images' L2-normalized CLIP
// embeddings, and in "__metadata__" (string values, as safetensors wants) "format": "vlm-index"
// and "vlm.index" holding a JSON text:
//   {"version": 1, "root": "/abs/folder",
//    "model": {"name", "file", "size", "mtime", "mtime_ns", "sha256", "embed_dim", "image_size"},
//    "entries": [{"path": "relative/path.jpg", "size", "mtime", "mtime_ns", "sha256"}, ...]}
// entry i is row i of the embeddings; paths are relative to root ('/'-separated, no "..").
#ifndef VLM_INDEX_H
#define VLM_INDEX_H
#include <stdbool.h>
#include <stdint.h>

#include "vlm.h"

#define VLM_INDEX_FORMAT   "vlm-index"
#define VLM_INDEX_META_KEY "vlm.index"
#define VLM_INDEX_VERSION  1

// A file as the index records it: size and modification time (seconds + nanoseconds), sha256.
struct vlm_index_file {
    int64_t size, mtime, mtime_ns;
    char    sha256[65];
};

struct vlm_index_model {
    char *                name;   // as the user named it (a registry name, a file or a folder)
    char *                file;   // the weights file, absolute
    struct vlm_index_file id;
    int32_t               embed_dim, image_size;
};

struct vlm_index_entry {
    char *                path;   // relative to the index's root
    struct vlm_index_file id;
};

struct vlm_index {
    char *                   root;      // absolute folder of the images
    struct vlm_index_model   model;
    int32_t                  n;         // entries
    struct vlm_index_entry * entries;   // [n]
    float *                  emb;       // [n, model.embed_dim], L2-normalized
};

// Reads and checks an index: the safetensors structure, the metadata's every field and type,
// the embeddings' shape against the entries and the model's dim, finite values, safe relative
// paths without duplicates. On failure vlm_last_error() says "<path>: <problem>".
enum vlm_status vlm_index_read(const char * path, struct vlm_index * out);
// Writes ix to path atomically (temporary file + rename).
enum vlm_status vlm_index_write(const char * path, const struct vlm_index * ix);
void            vlm_index_free(struct vlm_index * ix);

// The size, mtime and sha256 of a file; the hash is taken from `known` instead of reading the
// file when known (may be NULL) has the same size and mtime. false with errno set.
bool vlm_index_file_id(const char * path, const struct vlm_index_file * known, struct vlm_index_file * out);

// The CLIP model of an index: model_arg (a -m value; NULL: the index's model file, or with no
// index the default CLIP model) loaded and identified; with an index, a model of another
// sha256 or dim is an error naming both. Prints the error ("vlm <cmd>: ...") and returns NULL.
// *id receives the model's identity (name, file and id malloc'd; vlm_index_model_free).
struct vlm_model * vlm_index_load_model(const char * cmd, const struct vlm_index * ix, const char * index_path,
                                        const char * model_arg, const struct vlm_model_params * params,
                                        struct vlm_index_model * id);
void vlm_index_model_free(struct vlm_index_model * m);

// The best k entries for the L2-normalized query q [embed_dim] by cosine, best first (ties: the
// lower index first): idx[k], score[k]. Returns min(k, n).
int32_t vlm_index_top(const struct vlm_index * ix, const float * q, int32_t k, int32_t * idx, float * score);
#endif
