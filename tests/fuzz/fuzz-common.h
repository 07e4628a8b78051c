// fuzz-common.h — helpers shared by the libFuzzer targets in tests/fuzz/ (header-only).
#ifndef VLM_FUZZ_COMMON_H
#define VLM_FUZZ_COMMON_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// Writes bytes to one per-process temporary file (rewritten on every input) and returns its path.
// The readers under test take a path and mmap it, so the input must live in a real file.
static inline const char * vlm_fuzz_write_tmp(const uint8_t * data, size_t size, const char * suffix) {
    static char path[256];
    if (!path[0]) {
        const char * dir = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/vlm-fuzz-%ld%s", dir && *dir ? dir : "/tmp", (long)getpid(), suffix);
    }
    FILE * f = fopen(path, "wb");
    if (!f) abort();   // the harness itself is broken, not the input
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    return path;
}

// Reads every byte of [p, p + n) so that ASan reports an out-of-range span right here.
static inline uint64_t vlm_fuzz_touch(const void * p, size_t n) {
    const volatile uint8_t * b = p;
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) sum += b[i];
    return sum;
}

#ifdef VLM_MODEL_FILE_H
// The checks of a named-tensor table (safetensors or PyTorch) that an open returned: on failure
// no table and an error message; on success unique names, dtype x shape == size, every byte readable.
static inline int vlm_fuzz_check_tensor_file(enum vlm_status status, struct vlm_safetensors * st) {
    if (status != VLM_STATUS_OK) {
        if (st) abort();                        // contract: *out is NULL on failure
        if (!vlm_last_error()[0]) abort();      // contract: an error message is set
        return 0;
    }
    volatile uint64_t sink = 0;
    for (int32_t i = 0; i < st->n_tensors; i++) {
        const struct vlm_file_tensor * t = &st->tensors[i];
        if (vlm_safetensors_find(st, t->name) != t) abort();   // names are unique
        size_t numel = 1;
        for (int32_t d = 0; d < t->n_dims; d++) numel *= (size_t)t->shape[d];
        if (numel * vlm_dtype_size(t->dtype) != t->nbytes) abort();   // dtype x shape == size
        sink += vlm_fuzz_touch(t->data, t->nbytes);
    }
    if (st->metadata_json) sink += strlen(st->metadata_json);
    (void)vlm_safetensors_find(st, "no-such-tensor");
    (void)sink;
    vlm_safetensors_close(st);
    return 0;
}
#endif
#endif
