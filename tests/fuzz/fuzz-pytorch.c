// fuzz-pytorch.c — libFuzzer target: PyTorch zip archives and their pickles (vlm_pytorch_open
// on a file holding the input: zip directory, inflate, the pickle machine, tensor views; then
// every tensor looked up and read). An input that is not a zip is taken as the pickle itself
// and wrapped in a valid archive (with its CRC, and storages "0" and "1" of 64 bytes), so that
// mutations reach the pickle machine rather than stopping at the zip's CRC check.
#include <zlib.h>

#include "model-file.h"
#include "fuzz-common.h"

struct zbuf { uint8_t * p; size_t n; };
static void put(struct zbuf * b, const void * d, size_t n) { memcpy(b->p + b->n, d, n); b->n += n; }
static void put16(struct zbuf * b, uint16_t v) { uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) }; put(b, x, 2); }
static void put32(struct zbuf * b, uint32_t v) { put16(b, (uint16_t)v); put16(b, (uint16_t)(v >> 16)); }

// A stored zip of the entries (ref: APPNOTE 4.3.7 local header, 4.3.12 central header, 4.3.16 end record).
static size_t wrap(uint8_t * out, const char * const * names, const uint8_t * const * data, const size_t * sizes, int n) {
    struct zbuf b = { out, 0 };
    uint32_t off[4];
    for (int i = 0; i < n; i++) {
        off[i] = (uint32_t)b.n;
        put32(&b, 0x04034b50); put16(&b, 20); put16(&b, 0); put16(&b, 0); put32(&b, 0);
        put32(&b, (uint32_t)crc32(0, data[i], (uInt)sizes[i])); put32(&b, (uint32_t)sizes[i]); put32(&b, (uint32_t)sizes[i]);
        put16(&b, (uint16_t)strlen(names[i])); put16(&b, 0); put(&b, names[i], strlen(names[i])); put(&b, data[i], sizes[i]);
    }
    size_t cd = b.n;
    for (int i = 0; i < n; i++) {
        put32(&b, 0x02014b50); put16(&b, 20); put16(&b, 20); put16(&b, 0); put16(&b, 0); put32(&b, 0);
        put32(&b, (uint32_t)crc32(0, data[i], (uInt)sizes[i])); put32(&b, (uint32_t)sizes[i]); put32(&b, (uint32_t)sizes[i]);
        put16(&b, (uint16_t)strlen(names[i])); put16(&b, 0); put16(&b, 0); put16(&b, 0); put16(&b, 0); put32(&b, 0);
        put32(&b, off[i]); put(&b, names[i], strlen(names[i]));
    }
    size_t cd_size = b.n - cd;
    put32(&b, 0x06054b50); put16(&b, 0); put16(&b, 0); put16(&b, (uint16_t)n); put16(&b, (uint16_t)n);
    put32(&b, (uint32_t)cd_size); put32(&b, (uint32_t)cd); put16(&b, 0);
    return b.n;
}

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    const char * path;
    if (size >= 4 && !memcmp(data, "PK\x03\x04", 4)) {
        path = vlm_fuzz_write_tmp(data, size, ".pth");
    } else {
        static const uint8_t storage[64] = { 0 };
        const char * names[3] = { "archive/data.pkl", "archive/data/0", "archive/data/1" };
        const uint8_t * parts[3] = { data, storage, storage };
        const size_t sizes[3] = { size, sizeof storage, sizeof storage };
        uint8_t * z = malloc(size + 1024);
        if (!z) return 0;
        size_t n = wrap(z, names, parts, sizes, 3);
        path = vlm_fuzz_write_tmp(z, n, ".pth");
        free(z);
    }
    struct vlm_safetensors * st = NULL;
    enum vlm_status status = vlm_pytorch_open(path, &st);
    return vlm_fuzz_check_tensor_file(status, st);
}
