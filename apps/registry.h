// registry.h — the models vlm knows by name (assets/models.json, or $VLM_REGISTRY), where they
// are cached ($VLM_MODELS, else $XDG_CACHE_HOME/vlm or ~/.cache/vlm: one folder per model) and
// how a name given where a path goes (-m sam-vit-b) becomes the cached file.
#ifndef VLM_REGISTRY_H
#define VLM_REGISTRY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vlm_reg_file {
    const char * role;      // "model", "config", "text", "mmproj"
    const char * name;      // file name in the model's cache folder
    const char * url;
    const char * sha256;    // 64 hex digits, or NULL when not known
    const char * source;    // where size and sha256 come from
    int64_t      size;      // bytes, -1 when not known
    double       approx_mb; // for display when size is not known (0: none)
};

struct vlm_reg_model {
    const char *          name, * task, * architecture, * description, * licence, * homepage;
    struct vlm_reg_file * files;
    int                   n_files;
};

struct vlm_registry {
    void *                 json;   // cJSON root, owns the strings
    struct vlm_reg_model * models;
    int                    n;
    char                   path[4096];
};

// Loads and checks the registry; false with the reason in err.
bool vlm_registry_load(struct vlm_registry * r, char * err, size_t err_size);
void vlm_registry_free(struct vlm_registry * r);
const struct vlm_reg_model * vlm_registry_find(const struct vlm_registry * r, const char * name);
// The default model name of a command (NULL: none).
const char * vlm_registry_default(const struct vlm_registry * r, const char * cmd);
// " (did you mean 'a' or 'b'?)" for the known names closest to name, or "".
void vlm_registry_suggest(const struct vlm_registry * r, const char * name, char * out, size_t n);
// The URL a file is fetched from: $VLM_REGISTRY_BASE/<file name> when set, else its own.
void vlm_registry_url(const struct vlm_reg_file * f, char * out, size_t n);

// The cache folder (not created); false when neither VLM_MODELS, XDG_CACHE_HOME nor HOME is set.
bool vlm_models_dir(char * out, size_t n);
// <cache>/<model>/<file>
bool vlm_models_file_path(const struct vlm_reg_model * m, const struct vlm_reg_file * f, char * out, size_t n);

enum vlm_cache_state { VLM_CACHE_MISSING, VLM_CACHE_PARTIAL, VLM_CACHE_OK, VLM_CACHE_CORRUPT };
// Checks a cached file: size against the registry, then its sha256 against the registry's (or,
// when the registry has none, the one recorded at download), hashing only when the record
// written at the last verification no longer matches the file's size and time (may_hash false:
// such a file counts as OK, and why says "unverified"). why receives the reason of CORRUPT;
// *bytes the size on disk (of the .part file for PARTIAL).
enum vlm_cache_state vlm_cache_check(const char * path, const struct vlm_reg_file * f, bool may_hash, int64_t * bytes,
                                     char * why, size_t why_size);

// Downloads the files of a model that are not in the cache yet (or are corrupt), resuming a
// .part file, verifying sha256 and size; progress on a terminal. token: a bearer token
// (--token, else $HF_TOKEN for huggingface.co). Prints the reason and returns false on failure.
bool vlm_pull_model(const char * cmd, const struct vlm_reg_model * m, const char * token);
// Records that path has the given sha256 (the record vlm_cache_check trusts).
bool vlm_cache_record(const char * path, const char * sha256_hex);
// sha256 of a whole file; false with errno set.
bool vlm_sha256_file(const char * path, char hex[65]);
// Adds a whole file to a running hash (s->n counts its bytes too); false with errno set.
struct vlm_sha256;
bool vlm_sha256_add_file(struct vlm_sha256 * s, const char * path);

// "1.2 GB", "357.7 MB", "912 kB"
void vlm_format_bytes(double bytes, char * out, size_t n);
#endif
