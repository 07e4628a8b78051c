// zip.c — strict read-only zip reader (central directory, zip64, stored and deflated entries).
//
// ref: PKWARE APPNOTE.TXT 6.3 (4.3.12 central directory header, 4.3.16 end of central
// directory, 4.3.14/4.3.15 zip64 end record and locator, 4.5.3 zip64 extra field); PyTorch
// writes its archives with miniz (caffe2/serialize/inline_container.cc), stored, 64-byte aligned.
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "zip.h"
#include "name-table.h"

static uint16_t rd16(const uint8_t * p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t * p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t * p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static const char * entry_name_of(const void * items, int32_t i) { return ((const struct vlm_zip_entry *)items)[i].name; }

const struct vlm_zip_entry * vlm_zip_find(const struct vlm_zip * z, const char * name) {
    if (!z || !name || z->n == 0) return NULL;
    int32_t i = vlm_name_table_find((const int32_t *)z->names, vlm_name_table_slots(z->n), name, entry_name_of, z->entries);
    return i >= 0 ? &z->entries[i] : NULL;
}

void vlm_zip_close(struct vlm_zip * z) {
    if (!z) return;
    free(z->entries);
    free(z->names);
    free(z);
}

// The zip64 extra field (id 1) of a central directory entry: replaces the 32-bit fields that
// hold 0xffffffff, in the order size, compressed size, local header offset.
static bool apply_zip64_extra(const uint8_t * x, size_t n, uint64_t * size, uint64_t * comp, uint64_t * off) {
    while (n >= 4) {
        uint16_t id = rd16(x), len = rd16(x + 2);
        if ((size_t)len > n - 4) return false;
        if (id == 1) {
            const uint8_t * p = x + 4;
            size_t left = len;
            uint64_t * fields[3] = { size, comp, off };
            for (int i = 0; i < 3; i++) {
                if (*fields[i] != 0xffffffffu) continue;
                if (left < 8) return false;
                *fields[i] = rd64(p);
                p += 8;
                left -= 8;
            }
            return true;
        }
        x += 4 + len;
        n -= 4 + (size_t)len;
    }
    return true;
}

enum vlm_status vlm_zip_open(const char * what, const void * data, size_t size, struct vlm_zip ** out) {
    *out = NULL;
    const uint8_t * d = data;
    if (size < 22) return vlm_error(VLM_STATUS_BAD_MODEL, "%s: too small for a zip file (%zu bytes)", what, size);
    // end of central directory: 22 bytes plus a comment of up to 65535 bytes, at the end
    size_t eocd = SIZE_MAX;
    for (size_t back = 22; back <= size && back <= 22 + 65535; back++)
        if (rd32(d + size - back) == 0x06054b50u) { eocd = size - back; break; }
    if (eocd == SIZE_MAX) return vlm_error(VLM_STATUS_BAD_MODEL, "%s: no zip end-of-central-directory record (truncated?)", what);
    uint64_t n_entries = rd16(d + eocd + 10), cd_size = rd32(d + eocd + 12), cd_off = rd32(d + eocd + 16);
    if (rd16(d + eocd + 4) != 0 || rd16(d + eocd + 6) != 0)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: multi-disk zip archives are not supported", what);
    if (n_entries == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu) {
        // zip64: the locator (20 bytes) just before the end record points at the zip64 end record
        if (eocd < 20 || rd32(d + eocd - 20) != 0x07064b50u)
            return vlm_error(VLM_STATUS_BAD_MODEL, "%s: zip64 sizes without a zip64 locator", what);
        uint64_t z64 = rd64(d + eocd - 20 + 8);
        if (z64 > eocd - 20 || eocd - 20 - z64 < 56 || rd32(d + z64) != 0x06064b50u)
            return vlm_error(VLM_STATUS_BAD_MODEL, "%s: bad zip64 end-of-central-directory record", what);
        n_entries = rd64(d + z64 + 32);
        cd_size = rd64(d + z64 + 40);
        cd_off = rd64(d + z64 + 48);
    }
    if (cd_off > size || cd_size > size - cd_off)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: zip central directory [%" PRIu64 ", +%" PRIu64 ") past the end of the "
                         "file (%zu bytes)", what, cd_off, cd_size, size);
    if (n_entries > cd_size / 46)   // each entry takes at least 46 bytes
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: zip directory claims %" PRIu64 " entries in %" PRIu64 " bytes", what,
                         n_entries, cd_size);

    enum vlm_status st = VLM_STATUS_BAD_MODEL;
    struct vlm_zip * z = calloc(1, sizeof *z);
    uint32_t n_slots = vlm_name_table_slots((int32_t)n_entries);
    size_t slot_bytes = (size_t)n_slots * sizeof(int32_t);
    if (!z || !n_slots || !(z->entries = calloc(n_entries ? n_entries : 1, sizeof *z->entries)) ||
        !(z->names = malloc(slot_bytes + cd_size + 1))) {   // names are shorter than the directory
        st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory for %" PRIu64 " zip entries", what, n_entries);
        goto fail;
    }
    z->data = d;
    z->size = size;
    memset(z->names, 0xff, slot_bytes);
    char * name_at = z->names + slot_bytes;
    const uint8_t * p = d + cd_off, * end = d + cd_off + cd_size;
    for (uint64_t i = 0; i < n_entries; i++) {
        const uint8_t * h = p;   // this entry's central header
        if (end - p < 46 || rd32(p) != 0x02014b50u) {
            st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: zip central directory entry %" PRIu64 " is malformed", what, i);
            goto fail;
        }
        uint16_t flags = rd16(p + 8), method = rd16(p + 10), n_name = rd16(p + 28), n_extra = rd16(p + 30),
                 n_comment = rd16(p + 32);
        uint64_t comp = rd32(p + 20), usize = rd32(p + 24), loc = rd32(p + 42);
        if ((size_t)(end - p) - 46 < (size_t)n_name + n_extra + n_comment) {
            st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: zip central directory entry %" PRIu64 " runs past the directory", what, i);
            goto fail;
        }
        struct vlm_zip_entry * e = &z->entries[i];
        memcpy(name_at, p + 46, n_name);
        name_at[n_name] = 0;
        e->name = name_at;
        name_at += n_name + 1;
        if (strlen(e->name) != n_name) {
            st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: zip entry %" PRIu64 " has a NUL byte in its name", what, i);
            goto fail;
        }
        if (!apply_zip64_extra(p + 46 + n_name, n_extra, &usize, &comp, &loc)) {
            st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: zip entry '%s' has a malformed zip64 extra field", what, e->name);
            goto fail;
        }
        p += 46 + (size_t)n_name + n_extra + n_comment;
        if (flags & 0x41) {   // bit 0 encrypted, bit 6 strong encryption
            st = vlm_error(VLM_STATUS_UNSUPPORTED, "%s: zip entry '%s' is encrypted", what, e->name);
            goto fail;
        }
        if (method != 0 && method != 8) {
            st = vlm_error(VLM_STATUS_UNSUPPORTED, "%s: zip entry '%s' uses compression method %u (only stored and deflate)",
                           what, e->name, method);
            goto fail;
        }
        if (method == 0 && comp != usize) {
            st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: stored zip entry '%s' has compressed size %" PRIu64 " != size %" PRIu64,
                           what, e->name, comp, usize);
            goto fail;
        }
        // the local header repeats the name; its own extra field may differ in length
        if (loc > size || size - loc < 30 || rd32(d + loc) != 0x04034b50u) {
            st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: zip entry '%s': no local header at offset %" PRIu64, what, e->name, loc);
            goto fail;
        }
        uint64_t data_off = loc + 30 + rd16(d + loc + 26) + rd16(d + loc + 28);
        if (data_off > size || comp > size - data_off) {
            st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: zip entry '%s' (%" PRIu64 " bytes at %" PRIu64 ") is past the end of "
                           "the file (%zu bytes)", what, e->name, comp, data_off, size);
            goto fail;
        }
        e->method = method;
        e->crc32 = rd32(h + 16);
        e->comp_size = comp;
        e->size = usize;
        e->data_offset = data_off;
        if (vlm_name_table_insert((int32_t *)z->names, n_slots, e->name, (int32_t)i, entry_name_of, z->entries) >= 0) {
            st = vlm_error(VLM_STATUS_BAD_MODEL, "%s: duplicate zip entry '%s'", what, e->name);
            goto fail;
        }
        z->n = (int32_t)(i + 1);
    }
    *out = z;
    return VLM_STATUS_OK;
fail:
    vlm_zip_close(z);
    return st;
}

enum vlm_status vlm_zip_read(const char * what, const struct vlm_zip * z, const struct vlm_zip_entry * e, size_t max_size,
                             bool check_crc, const uint8_t ** data, void ** owned) {
    *data = NULL;
    *owned = NULL;
    if (e->size > max_size)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: zip entry '%s' holds %" PRIu64 " bytes, over the limit of %zu", what,
                         e->name, e->size, max_size);
    const uint8_t * src = z->data + e->data_offset;
    if (e->method == 0) {
        if (check_crc && crc32_z(0, src, (size_t)e->size) != e->crc32)
            return vlm_error(VLM_STATUS_BAD_MODEL, "%s: zip entry '%s' fails its CRC-32 check", what, e->name);
        *data = src;
        return VLM_STATUS_OK;
    }
    // deflate (raw, no zlib header), inflated in chunks of at most UINT_MAX
    uint8_t * buf = malloc(e->size ? (size_t)e->size : 1);
    if (!buf) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory inflating '%s' (%" PRIu64 " bytes)", what, e->name, e->size);
    z_stream s = { 0 };
    if (inflateInit2(&s, -MAX_WBITS) != Z_OK) {
        free(buf);
        return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: cannot start inflating '%s'", what, e->name);
    }
    uint64_t in_left = e->comp_size, out_left = e->size;
    s.next_in = (Bytef *)src;
    s.next_out = buf;
    int rc = Z_OK;
    while (rc == Z_OK) {
        if (s.avail_in == 0 && in_left) { s.avail_in = in_left > UINT32_MAX ? UINT32_MAX : (uInt)in_left; in_left -= s.avail_in; }
        if (s.avail_out == 0 && out_left) { s.avail_out = out_left > UINT32_MAX ? UINT32_MAX : (uInt)out_left; out_left -= s.avail_out; }
        uInt in_before = s.avail_in, out_before = s.avail_out;
        rc = inflate(&s, Z_NO_FLUSH);
        if (rc == Z_BUF_ERROR || (rc == Z_OK && in_before == s.avail_in && out_before == s.avail_out)) break;   // no progress
    }
    bool ok = rc == Z_STREAM_END && s.total_out == e->size && out_left == 0 && s.avail_out == 0;
    inflateEnd(&s);
    if (!ok) {
        free(buf);
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: zip entry '%s' does not inflate to its %" PRIu64 " bytes", what, e->name, e->size);
    }
    if (crc32_z(0, buf, (size_t)e->size) != e->crc32) {
        free(buf);
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: zip entry '%s' fails its CRC-32 check", what, e->name);
    }
    *data = buf;
    *owned = buf;
    return VLM_STATUS_OK;
}
