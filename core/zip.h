// zip.h — a strict, read-only zip reader over a memory-mapped file (internal): the central
// directory (zip64 included), stored and deflated entries. Enough for PyTorch's archives.
#ifndef VLM_ZIP_H
#define VLM_ZIP_H
#include "core.h"

struct vlm_zip_entry {
    const char * name;          // NUL-terminated copy
    uint16_t     method;        // 0 stored, 8 deflated
    uint32_t     crc32;
    uint64_t     comp_size, size;
    uint64_t     data_offset;   // of the entry's (compressed) bytes in the file
};

struct vlm_zip {
    const uint8_t *        data;   // the whole file (not owned)
    size_t                 size;
    int32_t                n;
    struct vlm_zip_entry * entries;
    char *                 names;  // private: name index slots, then the name bytes
};

// Reads the central directory of the zip file held in data[0, size). Every entry is checked:
// no encryption, method stored or deflated, local header and data inside the file, no
// duplicate names. Errors name `what` (the path): "<what>: <problem>".
enum vlm_status vlm_zip_open(const char * what, const void * data, size_t size, struct vlm_zip ** out);
void            vlm_zip_close(struct vlm_zip * z);
const struct vlm_zip_entry * vlm_zip_find(const struct vlm_zip * z, const char * name);
// An entry's bytes: stored ones point into the file (*owned = NULL; CRC not checked unless
// check_crc); deflated ones are inflated into *owned (freed by the caller) and always
// CRC-checked. Refuses entries larger than max_size.
enum vlm_status vlm_zip_read(const char * what, const struct vlm_zip * z, const struct vlm_zip_entry * e, size_t max_size,
                             bool check_crc, const uint8_t ** data, void ** owned);
#endif
