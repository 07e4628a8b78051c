// sha256.h — SHA-256 (FIPS 180-4), streaming, for verifying downloaded model files.
#ifndef VLM_SHA256_H
#define VLM_SHA256_H
#include <stddef.h>
#include <stdint.h>

struct vlm_sha256 {
    uint32_t h[8];
    uint64_t n;          // bytes hashed so far
    uint8_t  buf[64];
    size_t   used;       // bytes in buf
};

void vlm_sha256_init(struct vlm_sha256 * s);
void vlm_sha256_update(struct vlm_sha256 * s, const void * data, size_t n);
// Writes the digest as 64 lower-case hex digits and a NUL into hex[65].
void vlm_sha256_final_hex(struct vlm_sha256 * s, char hex[65]);
#endif
