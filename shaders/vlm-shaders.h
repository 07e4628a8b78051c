// vlm-shaders.h — the SPIR-V of every shaders/*.comp, embedded at build time.
#ifndef VLM_SHADERS_H
#define VLM_SHADERS_H
#include <stddef.h>
#include <stdint.h>

struct vlm_shader_blob {
    const char *     name;   // file name without .comp, e.g. "matmul"
    const uint32_t * code;
    size_t           size;   // bytes
};
extern const struct vlm_shader_blob vlm_shader_blobs[];
extern const size_t                 vlm_shader_blob_count;
// The blob of a shader by name, NULL if absent.
const struct vlm_shader_blob * vlm_shader_find(const char * name);
#endif
