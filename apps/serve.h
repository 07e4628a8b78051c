// serve.h — helpers of `vlm serve` (apps/serve-util.c).
#ifndef VLM_SERVE_H
#define VLM_SERVE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// FNV-1a 64 of a byte string (the image ids are its 16 hex digits).
uint64_t  vlm_serve_fnv1a64(const void * data, size_t n);
// Standard base64 with padding; malloc'd, NUL-terminated. NULL when out of memory.
char *    vlm_serve_base64_encode(const uint8_t * data, size_t n);
// Decodes base64 (standard or URL alphabet, optional "data:...;base64," prefix); malloc'd;
// NULL on a bad character or out of memory.
uint8_t * vlm_serve_base64_decode(const char * s, size_t * n_out);
// Encodes 8-bit pixels [h, w, channels] (1 gray, 3 RGB, 4 RGBA) as PNG in memory; mask01:
// nonzero bytes become 255. malloc'd; NULL on failure.
uint8_t * vlm_serve_png_encode(const uint8_t * pixels, int32_t w, int32_t h, int32_t channels, bool mask01,
                               size_t * n_out);
#endif
