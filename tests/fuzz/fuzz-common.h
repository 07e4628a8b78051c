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
#endif
