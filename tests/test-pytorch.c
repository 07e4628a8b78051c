// test-pytorch.c — PyTorch checkpoints without conversion (core/pytorch.c, core/zip.c).
// Writes the fixture SAM and CLIP weights as torch.save would (a zip of archive/data.pkl,
// archive/data/N, 64-byte aligned, pickle protocol 2: an OrderedDict of _rebuild_tensor_v2
// with its _metadata BUILD) and as a TorchScript archive (__torch__ module objects), with a
// strided view, a deflated storage and a storage shared by two tensors; checks every tensor
// equals the safetensors one, that `vlm segment` / `vlm embed` give bit-identical outputs, and
// that malicious or malformed pickles are refused with a clear error. Where python3 has torch
// (Debian: python3-torch), the same with files written by torch.save and torch.jit.save
// themselves (tests/torch-save-fixture.py).
#define _GNU_SOURCE
#include <zlib.h>

#include "harness.h"
#include "model-file.h"

static const char * dir;   // the scratch folder

// ---- a byte buffer ----
struct buf { uint8_t * p; size_t n, cap; };
static void put(struct buf * b, const void * d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put8(struct buf * b, uint8_t v) { put(b, &v, 1); }
static void put16(struct buf * b, uint16_t v) { uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) }; put(b, x, 2); }
static void put32(struct buf * b, uint32_t v) { put16(b, (uint16_t)v); put16(b, (uint16_t)(v >> 16)); }
static void puts_(struct buf * b, const char * s) { put(b, s, strlen(s)); }

// ---- pickle protocol 2, as CPython's pickle writes it (ref: Lib/pickle.py _Pickler) ----
static void pk_str(struct buf * b, const char * s) { put8(b, 'X'); put32(b, (uint32_t)strlen(s)); puts_(b, s); }
static void pk_int(struct buf * b, int64_t v) {
    if (v >= 0 && v < 256) { put8(b, 'K'); put8(b, (uint8_t)v); }
    else if (v >= 0 && v < 65536) { put8(b, 'M'); put16(b, (uint16_t)v); }
    else if (v >= INT32_MIN && v <= INT32_MAX) { put8(b, 'J'); put32(b, (uint32_t)v); }
    else { put8(b, 0x8a); put8(b, 8); put32(b, (uint32_t)v); put32(b, (uint32_t)((uint64_t)v >> 32)); }
}
static void pk_tuple(struct buf * b, const int64_t * v, int n) {
    if (n == 0) { put8(b, ')'); return; }
    if (n > 3) put8(b, '(');
    for (int i = 0; i < n; i++) pk_int(b, v[i]);
    put8(b, n > 3 ? 't' : (uint8_t)(0x84 + n));
}
// A global, memoized on first use and fetched with BINGET after (slots 0..).
static int g_memo;
static void pk_global(struct buf * b, const char * mod, const char * name, int * slot) {
    if (*slot >= 0) { put8(b, 'h'); put8(b, (uint8_t)*slot); return; }
    put8(b, 'c'); puts_(b, mod); put8(b, '\n'); puts_(b, name); put8(b, '\n');
    *slot = g_memo++;
    put8(b, 'q'); put8(b, (uint8_t)*slot);
}
struct pk_globals { int od, rebuild, storage[3]; };
static void pk_globals_init(struct pk_globals * g) { g->od = g->rebuild = g->storage[0] = g->storage[1] = g->storage[2] = -1; g_memo = 0; }

// torch._utils._rebuild_tensor_v2(('storage', torch.FloatStorage, key, 'cpu', numel), offset, size, stride, False, OrderedDict())
static void pk_tensor(struct buf * b, struct pk_globals * g, const char * key, int64_t numel, enum vlm_dtype dt, int64_t offset,
                      const int64_t * shape, const int64_t * stride, int n_dims) {
    static const char * const st_names[] = { "FloatStorage", "HalfStorage", "BFloat16Storage" };
    int si = dt == VLM_DTYPE_F16 ? 1 : dt == VLM_DTYPE_BF16 ? 2 : 0;
    pk_global(b, "torch._utils", "_rebuild_tensor_v2", &g->rebuild);
    put8(b, '(');
    put8(b, '(');
    pk_str(b, "storage");
    pk_global(b, "torch", st_names[si], &g->storage[si]);
    pk_str(b, key);
    pk_str(b, "cpu");
    pk_int(b, numel);
    put8(b, 't');
    put8(b, 'Q');
    pk_int(b, offset);
    pk_tuple(b, shape, n_dims);
    pk_tuple(b, stride, n_dims);
    put8(b, 0x89);
    pk_global(b, "collections", "OrderedDict", &g->od);
    put8(b, ')');
    put8(b, 'R');
    put8(b, 't');
    put8(b, 'R');
}

// ---- zip, as PyTorch's miniz writer lays it out: stored, data 64-byte aligned via an extra field ----
struct zentry { char name[256]; uint32_t crc, comp, size, off; uint16_t method; };
struct zip { struct buf b; struct zentry e[4096]; int n; };
static void zip_add(struct zip * z, const char * name, const void * data, size_t n, bool deflated) {
    struct zentry * e = &z->e[z->n++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->crc = (uint32_t)crc32(0, data, (uInt)n);
    e->size = (uint32_t)n;
    e->off = (uint32_t)z->b.n;
    uint8_t * packed = NULL;
    size_t pn = n;
    if (deflated) {   // raw deflate
        z_stream s = { 0 };
        deflateInit2(&s, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
        pn = deflateBound(&s, (uLong)n);
        packed = malloc(pn);
        s.next_in = (Bytef *)data;
        s.avail_in = (uInt)n;
        s.next_out = packed;
        s.avail_out = (uInt)pn;
        deflate(&s, Z_FINISH);
        pn = s.total_out;
        deflateEnd(&s);
    }
    e->method = deflated ? 8 : 0;
    e->comp = (uint32_t)pn;
    size_t nl = strlen(name), hdr = 30 + nl + 4, pad = (64 - (z->b.n + hdr) % 64) % 64;
    put32(&z->b, 0x04034b50); put16(&z->b, 20); put16(&z->b, 0); put16(&z->b, e->method); put32(&z->b, 0);
    put32(&z->b, e->crc); put32(&z->b, e->comp); put32(&z->b, e->size); put16(&z->b, (uint16_t)nl);
    put16(&z->b, (uint16_t)(4 + pad)); puts_(&z->b, name);
    put16(&z->b, 0x4246); put16(&z->b, (uint16_t)pad);   // "FB" padding field
    for (size_t i = 0; i < pad; i++) put8(&z->b, 'Z');
    put(&z->b, deflated ? packed : data, pn);
    free(packed);
}
static bool zip_write(struct zip * z, const char * path) {
    size_t cd = z->b.n;
    for (int i = 0; i < z->n; i++) {
        struct zentry * e = &z->e[i];
        put32(&z->b, 0x02014b50); put16(&z->b, 20); put16(&z->b, 20); put16(&z->b, 0); put16(&z->b, e->method);
        put32(&z->b, 0); put32(&z->b, e->crc); put32(&z->b, e->comp); put32(&z->b, e->size);
        put16(&z->b, (uint16_t)strlen(e->name)); put16(&z->b, 0); put16(&z->b, 0); put16(&z->b, 0); put16(&z->b, 0);
        put32(&z->b, 0); put32(&z->b, e->off); puts_(&z->b, e->name);
    }
    size_t cd_size = z->b.n - cd;
    put32(&z->b, 0x06054b50); put16(&z->b, 0); put16(&z->b, 0); put16(&z->b, (uint16_t)z->n); put16(&z->b, (uint16_t)z->n);
    put32(&z->b, (uint32_t)cd_size); put32(&z->b, (uint32_t)cd); put16(&z->b, 0);
    FILE * f = fopen(path, "wb");
    bool ok = f && fwrite(z->b.p, 1, z->b.n, f) == z->b.n;
    if (f) ok = fclose(f) == 0 && ok;
    free(z->b.p);
    memset(&z->b, 0, sizeof z->b);
    z->n = 0;
    return ok;
}

static int64_t numel_of(const struct vlm_file_tensor * t) {
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++) n *= t->shape[i];
    return n;
}

// Which tensors of the file get the special layouts: the first 2-D one is stored transposed
// (a strided view), the second storage deflated, tensors 3 and 4 share one storage.
enum { SPECIAL_T = 0, SPECIAL_DEFLATE = 1, SPECIAL_SHARED_A = 2 };

// Writes the tensors of src as a torch.save archive (top "archive") or, when script, as a
// TorchScript archive whose data.pkl is a tree of __torch__ objects (top "model").
static bool write_pth(const struct vlm_safetensors * src, const char * path, bool script) {
    static struct zip z;
    struct buf pk = { 0 };
    struct pk_globals g;
    pk_globals_init(&g);
    const char * top = script ? "model" : "archive";
    char ename[512], key[32];
    put8(&pk, 0x80); put8(&pk, 2);
    int od_slot = -1;
    if (script) {   // the root module
        pk_global(&pk, "__torch__.model", "CLIP", &od_slot);
        put8(&pk, ')'); put8(&pk, 0x81); put8(&pk, '}'); put8(&pk, '('); pk_str(&pk, "training"); put8(&pk, 0x88);
    } else {
        pk_global(&pk, "collections", "OrderedDict", &g.od);
        put8(&pk, ')'); put8(&pk, 'R'); put8(&pk, '(');
    }
    int n_keys = 0, special_seen = 0;
    const struct vlm_file_tensor * shared_a = NULL;
    // TorchScript: names are nested objects; emitted in file order with an open-object stack
    char open_path[16][128];
    int depth = 0, n_script_class = 0;
    for (int32_t i = 0; i < src->n_tensors; i++) {
        const struct vlm_file_tensor * t = &src->tensors[i];
        const char * name = t->name;
        if (script) {   // close objects not on this name's path, open the missing ones
            char parts[16][128];
            int np = 0;
            const char * s = name;
            for (const char * dot; (dot = strchr(s, '.')) && np < 15; s = dot + 1)
                snprintf(parts[np++], sizeof parts[0], "%.*s", (int)(dot - s), s);
            int common = 0;
            while (common < depth && common < np && !strcmp(open_path[common], parts[common])) common++;
            for (; depth > common; depth--) { put8(&pk, 'u'); put8(&pk, 'b'); }
            for (; depth < np; depth++) {
                snprintf(open_path[depth], sizeof open_path[0], "%s", parts[depth]);
                pk_str(&pk, parts[depth]);
                int slot = -1;
                char cls[32];
                snprintf(cls, sizeof cls, "M%d", n_script_class++);
                pk_global(&pk, "__torch__.model", cls, &slot);
                put8(&pk, ')'); put8(&pk, 0x81); put8(&pk, '}'); put8(&pk, '('); pk_str(&pk, "training"); put8(&pk, 0x89);
            }
            name = s;
        }
        pk_str(&pk, name);
        int64_t stride[VLM_FILE_MAX_DIMS], n = numel_of(t), acc = 1;
        for (int d = t->n_dims - 1; d >= 0; d--) { stride[d] = acc; acc *= t->shape[d]; }
        size_t es = vlm_dtype_size(t->dtype);
        snprintf(key, sizeof key, "%d", n_keys);
        snprintf(ename, sizeof ename, "%s/data/%s", top, key);
        if (t->n_dims == 2 && t->shape[0] > 1 && t->shape[1] > 1 && special_seen == SPECIAL_T) {
            // stored as the transpose: storage[j * rows + i] = t[i][j]; the view has stride (1, rows)
            uint8_t * tr = malloc((size_t)n * es);
            int64_t r = t->shape[0], c = t->shape[1];
            for (int64_t a = 0; a < r; a++)
                for (int64_t b2 = 0; b2 < c; b2++)
                    memcpy(tr + (size_t)(b2 * r + a) * es, (const uint8_t *)t->data + (size_t)(a * c + b2) * es, es);
            zip_add(&z, ename, tr, (size_t)n * es, false);
            free(tr);
            int64_t st2[2] = { 1, r };
            pk_tensor(&pk, &g, key, n, t->dtype, 0, t->shape, st2, 2);
            special_seen++;
            n_keys++;
        } else if (special_seen == SPECIAL_DEFLATE && n > 16) {
            zip_add(&z, ename, t->data, t->nbytes, true);
            pk_tensor(&pk, &g, key, n, t->dtype, 0, t->shape, stride, t->n_dims);
            special_seen++;
            n_keys++;
        } else if (special_seen == SPECIAL_SHARED_A && n > 0 && i + 1 < src->n_tensors && src->tensors[i + 1].dtype == t->dtype &&
                   !script) {
            // this tensor and the next in one storage: the next at an offset
            const struct vlm_file_tensor * u = &src->tensors[i + 1];
            uint8_t * both = malloc(t->nbytes + u->nbytes + 1);
            memcpy(both, t->data, t->nbytes);
            memcpy(both + t->nbytes, u->data, u->nbytes);
            zip_add(&z, ename, both, t->nbytes + u->nbytes, false);
            free(both);
            pk_tensor(&pk, &g, key, numel_of(t) + numel_of(u), t->dtype, 0, t->shape, stride, t->n_dims);
            shared_a = t;
            special_seen++;
            n_keys++;
        } else if (shared_a && t == shared_a + 1) {
            snprintf(key, sizeof key, "%d", n_keys - 1);
            pk_tensor(&pk, &g, key, numel_of(shared_a) + n, t->dtype, numel_of(shared_a), t->shape, stride, t->n_dims);
            shared_a = NULL;
        } else {
            zip_add(&z, ename, t->data, t->nbytes, false);
            pk_tensor(&pk, &g, key, n, t->dtype, 0, t->shape, stride, t->n_dims);
            n_keys++;
        }
        put8(&pk, 'q'); put8(&pk, (uint8_t)(g_memo++ & 0xff));
        if (!script && (i + 1) % 1000 == 0) { put8(&pk, 'u'); put8(&pk, '('); }   // pickle batches SETITEMS by 1000
    }
    if (script) {
        for (; depth > 0; depth--) { put8(&pk, 'u'); put8(&pk, 'b'); }
        put8(&pk, 'u'); put8(&pk, 'b');
    } else {   // SETITEMS, then BUILD with {'_metadata': OrderedDict({'': {'version': 1}})}
        put8(&pk, 'u');
        put8(&pk, '}'); put8(&pk, '('); pk_str(&pk, "_metadata");
        pk_global(&pk, "collections", "OrderedDict", &g.od); put8(&pk, ')'); put8(&pk, 'R');
        put8(&pk, '('); pk_str(&pk, ""); put8(&pk, '}'); put8(&pk, '('); pk_str(&pk, "version"); pk_int(&pk, 1);
        put8(&pk, 'u'); put8(&pk, 'u'); put8(&pk, 'u'); put8(&pk, 'b');
    }
    put8(&pk, '.');
    // entries in torch.save's order: data.pkl first (its folder names the archive)
    static struct zip z2;
    snprintf(ename, sizeof ename, "%s/data.pkl", top);
    zip_add(&z2, ename, pk.p, pk.n, false);
    snprintf(ename, sizeof ename, "%s/byteorder", top);
    zip_add(&z2, ename, "little", 6, false);
    for (int i = 0; i < z.n; i++) {   // re-add the storages after the pickle
        const struct zentry * e = &z.e[i];
        const uint8_t * d = z.b.p + e->off + 30 + strlen(e->name);
        d += 4 + (d[2] | d[3] << 8);
        if (e->method == 0) zip_add(&z2, e->name, d, e->size, false);
        else {
            uint8_t * raw = malloc(e->size + 1);
            z_stream s = { 0 };
            inflateInit2(&s, -MAX_WBITS);
            s.next_in = (Bytef *)d; s.avail_in = e->comp; s.next_out = raw; s.avail_out = e->size;
            inflate(&s, Z_FINISH);
            inflateEnd(&s);
            zip_add(&z2, e->name, raw, e->size, true);
            free(raw);
        }
    }
    snprintf(ename, sizeof ename, "%s/version", top);
    zip_add(&z2, ename, "3\n", 2, false);
    free(z.b.p);
    memset(&z, 0, sizeof z);
    free(pk.p);
    return zip_write(&z2, path);
}

static bool same_tensors(const struct vlm_safetensors * a, const struct vlm_safetensors * b, char * why, size_t n) {
    if (a->n_tensors != b->n_tensors) { snprintf(why, n, "%d vs %d tensors", a->n_tensors, b->n_tensors); return false; }
    for (int32_t i = 0; i < a->n_tensors; i++) {
        const struct vlm_file_tensor * x = &a->tensors[i], * y = vlm_safetensors_find(b, x->name);
        if (!y || y->dtype != x->dtype || y->n_dims != x->n_dims || memcmp(x->shape, y->shape, sizeof x->shape) ||
            y->nbytes != x->nbytes || memcmp(x->data, y->data, x->nbytes)) {
            snprintf(why, n, "tensor '%s' differs or is missing", x->name);
            return false;
        }
    }
    return true;
}

static void copy_file(const char * from, const char * to) {
    char * t = test_read_text(from);
    FILE * f = t ? fopen(to, "wb") : NULL;
    if (f) { fputs(t, f); fclose(f); }
    free(t);
}

// ---- malformed and malicious archives: each a small data.pkl (plus storages) in a valid zip ----
struct bad_case { const char * what, * pkl; size_t pkl_len; const char * expect; int storage_bytes; };

static void check_bad(const char * what, const void * pkl, size_t n, const char * expect, int storage_bytes) {
    static struct zip z;
    char path[512];
    snprintf(path, sizeof path, "%s/bad.pth", dir);
    zip_add(&z, "archive/data.pkl", pkl, n, false);
    if (storage_bytes >= 0) {
        uint8_t zero[64] = { 0 };
        zip_add(&z, "archive/data/0", zero, (size_t)storage_bytes, false);
    }
    CHECK(zip_write(&z, path), "%s: write", what);
    struct vlm_safetensors * st = (void *)1;
    enum vlm_status s = vlm_model_file_open(path, &st);
    CHECK(s != VLM_STATUS_OK && st == NULL && strstr(vlm_last_error(), expect), "%s: want an error with '%s', got %d '%s'",
          what, expect, s, vlm_last_error());
    if (s == VLM_STATUS_OK) vlm_safetensors_close(st);
}

#define PKL(s) s, sizeof s - 1

static void test_malicious(void) {
    // GLOBAL os.system + REDUCE: refused at the GLOBAL, nothing runs
    check_bad("os.system", PKL("\x80\x02" "cposix\nsystem\nq\x00X\x0b\x00\x00\x00touch pwnedq\x01\x85R."), "global 'posix.system' refused", -1);
    check_bad("builtins.eval", PKL("\x80\x02" "cbuiltins\neval\n)R."), "global 'builtins.eval' refused", -1);
    check_bad("STACK_GLOBAL os.system", PKL("\x80\x04\x8c\x02os\x8c\x06system\x93."), "global 'os.system' refused", -1);
    // REDUCE of something that is not an allowed callable: a string, a storage type
    check_bad("REDUCE of a str", PKL("\x80\x02X\x01\x00\x00\x00x)R."), "REDUCE of a str", -1);
    check_bad("REDUCE of a storage type", PKL("\x80\x02" "ctorch\nFloatStorage\n)R."), "REDUCE of 'FloatStorage' refused", -1);
    check_bad("unsupported storage", PKL("\x80\x02" "ctorch\nDoubleStorage\n."), "torch.DoubleStorage are not supported", -1);
    check_bad("BUILD on a list", PKL("\x80\x02]}b."), "BUILD on a list refused", -1);
    check_bad("INST opcode", PKL("\x80\x02(ios\nsystem\n."), "opcode 'i' is not allowed", -1);
    check_bad("truncated", PKL("\x80\x02}X\xff\x00\x00\x00ab"), "string length past the end", -1);
    check_bad("no STOP", PKL("\x80\x02}"), "ends without STOP", -1);
    check_bad("empty stack", PKL("\x80\x02."), "on an empty stack", -1);
    check_bad("memo miss", PKL("\x80\x02h\x05."), "memo key not stored", -1);
    check_bad("huge memo key", PKL("\x80\x02}r\xff\xff\xff\x7f."), "memo key beyond the limit", -1);
    check_bad("int over 64 bits", PKL("\x80\x02\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09."), "wider than 64 bits", -1);
    check_bad("not a dict", PKL("\x80\x02K\x05."), "holds a int, not a state dict", -1);
    // a dict that contains itself: {'a': <the dict>}
    check_bad("cycle", PKL("\x80\x02}q\x00X\x01\x00\x00\x00" "ah\x00s."), "a cycle", -1);
    // two lists holding each other through the memo, reached from the dict
    check_bad("cycle via object", PKL("\x80\x02" "c__torch__.m\nM\n)\x81q\x00}q\x01X\x01\x00\x00\x00" "ah\x00sb."), "a cycle", -1);
    // tensors: a numel that does not match the entry, a view past its storage, a huge shape
#define TENSOR(numel, off, size) "\x80\x02}X\x01\x00\x00\x00w" "ctorch._utils\n_rebuild_tensor_v2\n" \
    "((X\x07\x00\x00\x00storage" "ctorch\nFloatStorage\n" "X\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpu" numel "tQ" \
    off size "\x89}tRs."
    check_bad("numel vs entry", PKL(TENSOR("K\x05", "K\x00", "K\x04\x85K\x01\x85")), "does not match its 16-byte entry", 16);
    check_bad("view past storage", PKL(TENSOR("K\x04", "K\x01", "K\x04\x85K\x01\x85")), "reaches outside its storage", 16);
    check_bad("huge shape", PKL(TENSOR("K\x04", "K\x00", "\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40\x86K\x01K\x01\x86")),
              "reaches outside its storage", 16);
    check_bad("negative size", PKL(TENSOR("K\x04", "K\x00", "J\xff\xff\xff\xff\x85K\x01\x85")), "reaches outside its storage", 16);
    check_bad("huge numel", PKL(TENSOR("\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40", "K\x00", "K\x04\x85K\x01\x85")),
              "does not match its 16-byte entry", 16);
    check_bad("missing storage", PKL(TENSOR("K\x04", "K\x00", "K\x04\x85K\x01\x85")), "has no zip entry 'archive/data/0'", -1);
    // not a zip / not an archive
    char path[512];
    snprintf(path, sizeof path, "%s/bad.pth", dir);
    FILE * f = fopen(path, "wb");
    fputs("PK\x03\x04 and then nothing that looks like a zip directory", f);
    fclose(f);
    struct vlm_safetensors * st = NULL;
    CHECK(vlm_model_file_open(path, &st) != VLM_STATUS_OK && !st && strstr(vlm_last_error(), "end-of-central-directory"),
          "truncated zip: %s", vlm_last_error());
}

// `vlm segment` (kind 0) or `vlm embed` (kind 1) on the safetensors file and on the PyTorch
// one: their outputs must be the same bytes. tag names the output files.
static void same_outputs(int kind, const char * st_path, const char * pt_path, const char * tag) {
    char out[8192], a[600], b[600];
    const char * img = test_fixture("images/dog.jpg");
    for (int k = 0; k < 2; k++) {
        const char * m = k ? pt_path : st_path;
        int rc = kind == 0 ? test_run_cli(out, sizeof out, dir, NULL, "segment -m '%s' '%s' --point 300,200 --backend cpu "
                                          "-o '%s/%s-m%d.png' --save-tensors '%s/%s-t%d.safetensors'", m, img, dir, tag, k,
                                          dir, tag, k)
                           : test_run_cli(out, sizeof out, dir, NULL, "embed -m '%s' --backend cpu --image '%s' --text 'a dog' "
                                          "--save-tensors '%s/%s-t%d.safetensors'", m, img, dir, tag, k);
        CHECK(rc == 0, "%s with %s: rc %d: %s", kind == 0 ? "segment" : "embed", m, rc, out);
    }
    if (kind == 0) {
        snprintf(a, sizeof a, "%s/%s-m0.png", dir, tag);
        snprintf(b, sizeof b, "%s/%s-m1.png", dir, tag);
        CHECK(test_same_file(a, b), "%s: segment masks from the PyTorch file and the safetensors differ", tag);
    }
    snprintf(a, sizeof a, "%s/%s-t0.safetensors", dir, tag);
    snprintf(b, sizeof b, "%s/%s-t1.safetensors", dir, tag);
    CHECK(test_same_file(a, b), "%s: %s from the PyTorch file and the safetensors differ", tag,
          kind == 0 ? "segment stages (embeddings, logits, masks)" : "CLIP features");
}

// Opens both files and compares every tensor.
static void same_file_tensors(const char * st_path, const char * pt_path, const char * tag) {
    struct vlm_safetensors * ref = NULL, * got = NULL;
    char why[512] = "";
    CHECK(vlm_safetensors_open(st_path, &ref) == VLM_STATUS_OK, "open %s: %s", st_path, vlm_last_error());
    CHECK(vlm_model_file_open(pt_path, &got) == VLM_STATUS_OK, "%s: open %s: %s", tag, pt_path, vlm_last_error());
    CHECK(ref && got && same_tensors(ref, got, why, sizeof why), "%s: %s", tag, why);
    vlm_safetensors_close(ref);
    vlm_safetensors_close(got);
}

// A python3 that imports torch (Debian's python3-torch), or NULL.
static const char * torch_python(void) {
    static const char * const cands[] = { "python3", "/usr/bin/python3" };
    for (size_t i = 0; i < sizeof cands / sizeof *cands; i++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "%s -c 'import torch' >/dev/null 2>&1", cands[i]);
        if (system(cmd) == 0) return cands[i];
    }
    return NULL;
}

int main(void) {
    dir = test_tmp_dir("pytorch");
    test_malicious();

    const char * fixtures = test_fixtures_dir();
    char sam_st[1024], sam_pth[1024], clip_st[1024], clip_pt[1024], out[8192], sub[600];
    snprintf(sam_st, sizeof sam_st, "%s", test_data("sam-small/model.safetensors"));
    snprintf(clip_st, sizeof clip_st, "%s/clip-tiny/model.safetensors", fixtures);
    // the .pth files sit in a folder with the model's config.json, as released checkpoints would
    snprintf(sub, sizeof sub, "%s/sam", dir);
    mkdir(sub, 0755);
    char cfg[1100];
    snprintf(cfg, sizeof cfg, "%s/config.json", sub);
    copy_file(test_data("sam-small/config.json"), cfg);

    // 1. SAM as torch.save writes it (written here): same tensors, same `vlm segment` outputs
    struct vlm_safetensors * ref = NULL, * got = NULL;
    CHECK(vlm_safetensors_open(sam_st, &ref) == VLM_STATUS_OK, "open %s: %s", sam_st, vlm_last_error());
    if (ref) {
        snprintf(sam_pth, sizeof sam_pth, "%s/sam_small.pth", sub);
        CHECK(write_pth(ref, sam_pth, false), "write %s", sam_pth);
        same_file_tensors(sam_st, sam_pth, "torch.save layout");
        CHECK(vlm_model_file_open(sam_pth, &got) == VLM_STATUS_OK && got->n_owned >= 2,
              "the strided view and the deflated storage are copies (%d)", got ? got->n_owned : -1);
        vlm_safetensors_close(got);
        same_outputs(0, sam_st, sam_pth, "sam-layout");
        int rc = test_run_cli(out, sizeof out, dir, NULL, "info '%s'", sam_pth);
        CHECK(rc == 0 && strstr(out, "PyTorch checkpoint") && strstr(out, "architecture:  sam"), "info on .pth: %d %s", rc, out);
        vlm_safetensors_close(ref);
    }

    // 2. CLIP as a TorchScript archive (OpenAI's ViT-B-32.pt layout, written here): same features
    ref = NULL;
    CHECK(vlm_safetensors_open(clip_st, &ref) == VLM_STATUS_OK, "open %s: %s", clip_st, vlm_last_error());
    if (ref) {
        snprintf(clip_pt, sizeof clip_pt, "%s/ViT-tiny.pt", dir);
        CHECK(write_pth(ref, clip_pt, true), "write %s", clip_pt);
        same_file_tensors(clip_st, clip_pt, "TorchScript layout");
        same_outputs(1, clip_st, clip_pt, "clip-layout");
        vlm_safetensors_close(ref);
    }

    // 3. files written by PyTorch itself (torch.save, torch.jit.save), where torch is installed
    const char * py = torch_python();
    if (!py) {
        printf("note: no python3 with torch (Debian: python3-torch): files written by torch itself not tried\n");
    } else {
        const char * script = test_data("../torch-save-fixture.py");
        char sc[1100];
        snprintf(sc, sizeof sc, "%s", script);
        snprintf(sam_pth, sizeof sam_pth, "%s/sam_torch.pth", sub);
        snprintf(clip_pt, sizeof clip_pt, "%s/clip_torch.pt", dir);
        char cmd[8192], log[700];
        snprintf(log, sizeof log, "%s/torch-save.log", dir);
        snprintf(cmd, sizeof cmd, "%s '%s' '%s' '%s' >'%s' 2>&1 && %s '%s' '%s' '%s' --script >>'%s' 2>&1", py, sc, sam_st,
                 sam_pth, log, py, sc, clip_st, clip_pt, log);
        int rc = system(cmd);
        char * text = test_read_text(log);
        snprintf(out, sizeof out, "%s", text ? text : "");
        free(text);
        CHECK(rc == 0, "torch-save-fixture.py: %s", out);
        if (rc == 0) {
            same_file_tensors(sam_st, sam_pth, "torch.save");
            same_outputs(0, sam_st, sam_pth, "sam-torch");
            same_file_tensors(clip_st, clip_pt, "torch.jit.save");
            same_outputs(1, clip_st, clip_pt, "clip-torch");
            printf("files written by torch.save and torch.jit.save (%s) load and give the same outputs\n", py);
        }
    }

    TEST_END();
}
