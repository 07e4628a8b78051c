// name-table.h — a tiny open-addressing hash index from names to array positions, shared
// by the model file readers and the weight store (header-only, internal).
//
// The table is an array of n_slots int32 entries (n_slots a power of two >= 2 * n), each
// -1 (empty) or the index of an item; the caller supplies a function giving item i's name.
#ifndef VLM_NAME_TABLE_H
#define VLM_NAME_TABLE_H
#include <stdint.h>
#include <string.h>

static inline uint32_t vlm_name_hash(const char * s) {
    uint32_t h = 2166136261u;   // FNV-1a
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

// Number of slots for n items (power of two, at least 16 and >= 2n); 0 when n is too large.
static inline uint32_t vlm_name_table_slots(int32_t n) {
    uint32_t s = 16;
    while (s < (uint32_t)n * 2u) {
        if (s >= (1u << 30)) return 0;
        s <<= 1;
    }
    return s;
}

// Inserts item i named `name`; returns the index of an existing item of that name (the
// name is then not inserted) or -1 when it was new.
static inline int32_t vlm_name_table_insert(int32_t * slots, uint32_t n_slots, const char * name, int32_t i,
                                            const char * (*name_of)(const void * items, int32_t i),
                                            const void * items) {
    uint32_t mask = n_slots - 1, h = vlm_name_hash(name) & mask;
    while (slots[h] >= 0) {
        if (strcmp(name_of(items, slots[h]), name) == 0) return slots[h];
        h = (h + 1) & mask;
    }
    slots[h] = i;
    return -1;
}

// Index of the item called name, or -1.
static inline int32_t vlm_name_table_find(const int32_t * slots, uint32_t n_slots, const char * name,
                                          const char * (*name_of)(const void * items, int32_t i),
                                          const void * items) {
    if (!slots || n_slots == 0) return -1;
    uint32_t mask = n_slots - 1, h = vlm_name_hash(name) & mask;
    while (slots[h] >= 0) {
        if (strcmp(name_of(items, slots[h]), name) == 0) return slots[h];
        h = (h + 1) & mask;
    }
    return -1;
}
#endif
