// pytorch.c — PyTorch checkpoints (.pth, .pt) as named tensors, without running any pickle.
//
// Layout (ref: pytorch torch/serialization.py _save / _load, caffe2/serialize/inline_container.cc):
//   a zip whose entries share one top folder (torch.save: "archive"; TorchScript: the model's
//   name): <top>/data.pkl (the object, pickle protocol 2), <top>/data/<key> (one raw
//   little-endian storage per key), <top>/byteorder ("little"), <top>/version, ...
// data.pkl is read by a small pickle machine (ref: CPython Lib/pickle.py _Unpickler,
// Lib/pickletools.py for the opcodes) that knows only what a state dict needs: the opcodes
// for None/bool/int/float/str/tuple/list/dict, memo, MARK; persistent ids
// ('storage', torch.<T>Storage, key, location, numel); and the callables
// torch._utils._rebuild_tensor_v2 / _rebuild_parameter and collections.OrderedDict.
// TorchScript archives (OpenAI CLIP's ViT-B-32.pt) pickle the module as __torch__.* objects
// whose attribute dicts hold the tensors; they become dotted names as in state_dict().
// Any other global (os.system, builtins.eval, ...) or REDUCE target is refused: nothing is
// ever called, so a malicious pickle can only be rejected.
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "model-file.h"
#include "name-table.h"
#include "zip.h"

#define PK_MAX_NODES   (1 << 22)   // values one pickle may create
#define PK_MAX_MEMO    (1 << 22)
#define PK_MAX_DEPTH   64          // nesting of dicts/modules in a state dict
#define PK_MAX_NAME    1024

enum pk_kind { PK_NONE, PK_BOOL, PK_INT, PK_FLOAT, PK_STR, PK_TUPLE, PK_LIST, PK_DICT, PK_GLOBAL, PK_STORAGE,
               PK_TENSOR, PK_OBJECT };
static const char * const pk_kind_name[] = { "None", "bool", "int", "float", "str", "tuple", "list", "dict",
                                             "global", "storage", "tensor", "object" };

enum pk_global { G_REBUILD_TENSOR_V2, G_REBUILD_PARAMETER, G_ORDERED_DICT, G_STORAGE_TYPE, G_JIT_BUILD_LIST,
                 G_JIT_RESTORE_TYPE_TAG, G_SCRIPT_CLASS };

struct pk_node {
    uint8_t  kind;
    uint8_t  visit;            // flatten: 1 while inside
    int32_t  n, cap;           // tuple/list: items; dict: 2 * pairs (key, value, ...)
    int32_t *items;
    int64_t  i;                // int, bool; storage/tensor: index; global: enum pk_global; object: state node or -1
    double   f;
    const char * s;            // str (not NUL-terminated), global: the class name
    uint32_t len;
    enum vlm_dtype dtype;      // storage type globals
};

struct pk_storage {
    const struct vlm_zip_entry * entry;
    enum vlm_dtype dtype;
    uint64_t       numel;
    const uint8_t *data;       // resolved on first use
};

struct pk_tensor {
    int32_t storage;
    int32_t n_dims;
    int64_t offset, shape[VLM_FILE_MAX_DIMS], stride[VLM_FILE_MAX_DIMS];
};

struct pk {
    const char *     what;
    const uint8_t *  p0, * p, * end;
    struct pk_node * nodes;
    int32_t          n_nodes, cap_nodes;
    int32_t *        stack;
    size_t           sp, cap_stack;
    size_t *         marks;
    size_t           n_marks, cap_marks;
    int32_t *        memo;
    size_t           cap_memo, n_memo;
    struct pk_storage * storages;
    int32_t          n_storages, cap_storages;
    struct pk_tensor * tensors;
    int32_t          n_tensors, cap_tensors;
    const struct vlm_zip * zip;
    const char *     top;        // the archive's top folder
    // flatten output
    struct pk_out { int32_t node; size_t name; } * out;   // tensor node and name offset, per name
    int32_t          n_out, cap_out;
    char *           names;
    size_t           names_len, names_cap;
    int64_t          visits;
    void **          owned;
    int32_t          n_owned, cap_owned;
};

static enum vlm_status pk_fail(struct pk * k, const char * fmt, ...) __attribute__((format(printf, 2, 3)));
static enum vlm_status pk_fail(struct pk * k, const char * fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vlm_error(VLM_STATUS_BAD_MODEL, "%s: data.pkl byte %zu: %s", k->what, (size_t)(k->p - k->p0), msg);
}

static bool grow(void ** arr, size_t * cap, size_t need, size_t elem) { return vlm_grow_array(arr, cap, need, elem, 16); }

static bool grow32(void ** arr, int32_t * cap, size_t need, size_t elem) {
    size_t c = (size_t)*cap;
    if (need > INT32_MAX || !grow(arr, &c, need, elem)) return false;
    *cap = c > INT32_MAX ? INT32_MAX : (int32_t)c;
    return true;
}

static int32_t pk_new(struct pk * k, enum pk_kind kind) {
    if (k->n_nodes >= PK_MAX_NODES || !grow32((void **)&k->nodes, &k->cap_nodes, (size_t)k->n_nodes + 1, sizeof *k->nodes))
        return -1;
    struct pk_node * n = &k->nodes[k->n_nodes];
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)kind;
    return k->n_nodes++;
}

static bool pk_push(struct pk * k, int32_t node) {
    if (node < 0 || !grow((void **)&k->stack, &k->cap_stack, k->sp + 1, sizeof *k->stack)) return false;
    k->stack[k->sp++] = node;
    return true;
}

// Pops the top value; false when the stack is empty down to the topmost MARK.
static bool pk_pop(struct pk * k, int32_t * v) {
    if (k->sp == 0 || (k->n_marks && k->marks[k->n_marks - 1] == k->sp)) return false;
    *v = k->stack[--k->sp];
    return true;
}

static bool pk_append(struct pk * k, int32_t container, int32_t item) {
    struct pk_node * c = &k->nodes[container];
    if (!grow32((void **)&c->items, &c->cap, (size_t)c->n + 1, sizeof *c->items)) return false;
    c->items[c->n++] = item;
    return true;
}

// The items above the topmost MARK, as a new tuple/list/dict node (the mark is popped).
static int32_t pk_pop_mark(struct pk * k, enum pk_kind kind) {
    if (!k->n_marks) return -2;
    size_t from = k->marks[--k->n_marks];
    int32_t t = pk_new(k, kind);
    if (t < 0) return -1;
    for (size_t i = from; i < k->sp; i++)
        if (!pk_append(k, t, k->stack[i])) return -1;
    k->sp = from;
    return t;
}

static bool rd_n(struct pk * k, size_t n, const uint8_t ** out) {
    if ((size_t)(k->end - k->p) < n) return false;
    *out = k->p;
    k->p += n;
    return true;
}

static uint64_t le(const uint8_t * b, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

// ---- globals: the allow-list ----

static const struct { const char * name; enum vlm_dtype dtype; } storage_types[] = {
    { "FloatStorage", VLM_DTYPE_F32 }, { "HalfStorage", VLM_DTYPE_F16 }, { "BFloat16Storage", VLM_DTYPE_BF16 },
    { "LongStorage", VLM_DTYPE_I64 },  { "IntStorage", VLM_DTYPE_I32 },  { "ByteStorage", VLM_DTYPE_U8 },
};

static bool str_is(const uint8_t * s, size_t n, const char * lit) { return strlen(lit) == n && !memcmp(s, lit, n); }

static enum vlm_status pk_global(struct pk * k, const uint8_t * mod, size_t mod_len, const uint8_t * name, size_t name_len) {
    char full[256];
    snprintf(full, sizeof full, "%.*s.%.*s", (int)(mod_len > 100 ? 100 : mod_len), (const char *)mod,
             (int)(name_len > 100 ? 100 : name_len), (const char *)name);
    for (char * c = full; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) *c = '?';
    int32_t g = pk_new(k, PK_GLOBAL);
    if (g < 0) return pk_fail(k, "too many objects");
    struct pk_node * n = &k->nodes[g];
    n->s = (const char *)name;
    n->len = (uint32_t)name_len;
    n->i = -1;
    if (str_is(mod, mod_len, "torch._utils") && str_is(name, name_len, "_rebuild_tensor_v2")) n->i = G_REBUILD_TENSOR_V2;
    else if (str_is(mod, mod_len, "torch._utils") && str_is(name, name_len, "_rebuild_parameter")) n->i = G_REBUILD_PARAMETER;
    else if (str_is(mod, mod_len, "collections") && str_is(name, name_len, "OrderedDict")) n->i = G_ORDERED_DICT;
    else if (str_is(mod, mod_len, "torch.jit._pickle") &&
             (str_is(name, name_len, "build_intlist") || str_is(name, name_len, "build_floatlist") ||
              str_is(name, name_len, "build_boollist") || str_is(name, name_len, "build_tensorlist")))
        n->i = G_JIT_BUILD_LIST;
    else if (str_is(mod, mod_len, "torch.jit._pickle") && str_is(name, name_len, "restore_type_tag")) n->i = G_JIT_RESTORE_TYPE_TAG;
    else if (mod_len >= 9 && !memcmp(mod, "__torch__", 9) && (mod_len == 9 || mod[9] == '.')) n->i = G_SCRIPT_CLASS;
    else if (str_is(mod, mod_len, "torch")) {
        for (size_t i = 0; i < sizeof storage_types / sizeof *storage_types; i++)
            if (str_is(name, name_len, storage_types[i].name)) {
                n->i = G_STORAGE_TYPE;
                n->dtype = storage_types[i].dtype;
            }
        if (n->i < 0 && name_len > 7 && !memcmp(name + name_len - 7, "Storage", 7))
            return vlm_error(VLM_STATUS_UNSUPPORTED, "%s: tensors of storage type %s are not supported (Float, Half, "
                             "BFloat16, Long, Int, Byte)", k->what, full);
    }
    if (n->i < 0)
        return pk_fail(k, "global '%s' refused: a state dict needs only torch tensors, storages and OrderedDict "
                       "(the pickle is not run)", full);
    return pk_push(k, g) ? VLM_STATUS_OK : pk_fail(k, "out of memory");
}

// ---- persistent ids and tensors ----

static bool node_int(const struct pk * k, int32_t n, int64_t * v) {
    if (k->nodes[n].kind != PK_INT) return false;
    *v = k->nodes[n].i;
    return true;
}

// ('storage', torch.<T>Storage, key, location, numel) -> a storage node.
static enum vlm_status pk_persistent(struct pk * k, int32_t pid) {
    const struct pk_node * t = &k->nodes[pid];
    int64_t numel = -1;
    if (t->kind != PK_TUPLE || t->n != 5 || k->nodes[t->items[0]].kind != PK_STR ||
        !str_is((const uint8_t *)k->nodes[t->items[0]].s, k->nodes[t->items[0]].len, "storage") ||
        k->nodes[t->items[1]].kind != PK_GLOBAL || k->nodes[t->items[1]].i != G_STORAGE_TYPE ||
        k->nodes[t->items[2]].kind != PK_STR || k->nodes[t->items[3]].kind != PK_STR || !node_int(k, t->items[4], &numel) ||
        numel < 0)
        return pk_fail(k, "persistent id is not ('storage', torch.<T>Storage, key, location, numel)");
    const struct pk_node * key = &k->nodes[t->items[2]];
    char ename[600], kbuf[256];
    if (key->len == 0 || key->len >= sizeof kbuf) return pk_fail(k, "storage key of bad length");
    memcpy(kbuf, key->s, key->len);
    kbuf[key->len] = 0;
    for (uint32_t i = 0; i < key->len; i++)   // keys are numbers (torch.save) or names; never paths
        if (!((kbuf[i] >= '0' && kbuf[i] <= '9') || (kbuf[i] >= 'a' && kbuf[i] <= 'z') || (kbuf[i] >= 'A' && kbuf[i] <= 'Z') ||
              kbuf[i] == '_'))
            return pk_fail(k, "storage key '%s' has characters other than letters, digits and '_'", kbuf);
    snprintf(ename, sizeof ename, "%s/data/%s", k->top, kbuf);
    const struct vlm_zip_entry * e = vlm_zip_find(k->zip, ename);
    if (!e) return vlm_error(VLM_STATUS_BAD_MODEL, "%s: storage '%s' has no zip entry '%s'", k->what, kbuf, ename);
    enum vlm_dtype dt = k->nodes[t->items[1]].dtype;
    size_t nbytes;
    if (!vlm_mul_size((size_t)numel, vlm_dtype_size(dt), &nbytes) || (uint64_t)nbytes != e->size)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: storage '%s' of %" PRId64 " %s elements does not match its %" PRIu64
                         "-byte entry", k->what, kbuf, numel, vlm_dtype_name(dt), e->size);
    int32_t si = -1;
    for (int32_t i = 0; i < k->n_storages; i++)   // one storage, many views (tied weights)
        if (k->storages[i].entry == e) {
            if (k->storages[i].dtype != dt)
                return vlm_error(VLM_STATUS_BAD_MODEL, "%s: storage '%s' is loaded with two types", k->what, kbuf);
            si = i;
        }
    if (si < 0) {
        if (!grow32((void **)&k->storages, &k->cap_storages, (size_t)k->n_storages + 1, sizeof *k->storages))
            return pk_fail(k, "out of memory");
        si = k->n_storages++;
        k->storages[si] = (struct pk_storage){ .entry = e, .dtype = dt, .numel = (uint64_t)numel };
    }
    int32_t n = pk_new(k, PK_STORAGE);
    if (n < 0) return pk_fail(k, "too many objects");
    k->nodes[n].i = si;
    return pk_push(k, n) ? VLM_STATUS_OK : pk_fail(k, "out of memory");
}

// A tuple of ints of at most VLM_FILE_MAX_DIMS entries.
static bool int_tuple(const struct pk * k, int32_t n, int64_t * v, int32_t * count) {
    const struct pk_node * t = &k->nodes[n];
    if (t->kind != PK_TUPLE || t->n > VLM_FILE_MAX_DIMS) return false;
    for (int32_t i = 0; i < t->n; i++)
        if (!node_int(k, t->items[i], &v[i])) return false;
    *count = t->n;
    return true;
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
// ref: torch/_utils.py _rebuild_tensor_v2
static int32_t pk_rebuild_tensor(struct pk * k, const struct pk_node * args, const char ** why) {
    struct pk_tensor t = { 0 };
    int32_t n_stride = 0;
    if (args->n < 6 || args->n > 7 || k->nodes[args->items[0]].kind != PK_STORAGE ||
        !node_int(k, args->items[1], &t.offset) || !int_tuple(k, args->items[2], t.shape, &t.n_dims) ||
        !int_tuple(k, args->items[3], t.stride, &n_stride) || n_stride != t.n_dims ||
        k->nodes[args->items[4]].kind != PK_BOOL || k->nodes[args->items[5]].kind != PK_DICT) {
        *why = "_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, requires_grad, hooks)";
        return -1;
    }
    t.storage = (int32_t)k->nodes[args->items[0]].i;
    const struct pk_storage * s = &k->storages[t.storage];
    // every element must lie inside the storage: offset + sum((size_i - 1) * stride_i) < numel
    uint64_t numel = 1, last = (uint64_t)t.offset;
    bool ok = t.offset >= 0;
    for (int32_t i = 0; i < t.n_dims && ok; i++) {
        ok = t.shape[i] >= 0 && t.stride[i] >= 0 && !__builtin_mul_overflow(numel, (uint64_t)t.shape[i], &numel);
        if (ok && t.shape[i] > 0) {
            uint64_t span;
            ok = !__builtin_mul_overflow((uint64_t)(t.shape[i] - 1), (uint64_t)t.stride[i], &span) &&
                 !__builtin_add_overflow(last, span, &last);
        }
    }
    if (!ok || (numel > 0 && last >= s->numel)) {
        *why = "tensor view (offset, size, stride) reaches outside its storage";
        return -1;
    }
    if (!grow32((void **)&k->tensors, &k->cap_tensors, (size_t)k->n_tensors + 1, sizeof *k->tensors)) return -1;
    int32_t n = pk_new(k, PK_TENSOR);
    if (n < 0) return -1;
    k->tensors[k->n_tensors] = t;
    k->nodes[n].i = k->n_tensors++;
    return n;
}

// REDUCE / NEWOBJ: callable(*args) for the allowed callables only.
static enum vlm_status pk_call(struct pk * k, int32_t fn, int32_t args, bool newobj) {
    const struct pk_node * f = &k->nodes[fn], * a = &k->nodes[args];
    if (f->kind != PK_GLOBAL) return pk_fail(k, "%s of a %s: only the allowed torch callables may be called",
                                             newobj ? "NEWOBJ" : "REDUCE", pk_kind_name[f->kind]);
    if (a->kind != PK_TUPLE) return pk_fail(k, "call arguments are a %s, not a tuple", pk_kind_name[a->kind]);
    const char * why = NULL;
    int32_t r = -1;
    switch (newobj ? (f->i == G_SCRIPT_CLASS ? G_SCRIPT_CLASS : -1) : f->i) {
    case G_REBUILD_TENSOR_V2: r = pk_rebuild_tensor(k, a, &why); break;
    case G_REBUILD_PARAMETER:   // (data, requires_grad, backward_hooks): the tensor itself
        if (a->n == 3 && k->nodes[a->items[0]].kind == PK_TENSOR) r = a->items[0];
        else why = "_rebuild_parameter arguments are not (tensor, requires_grad, hooks)";
        break;
    case G_ORDERED_DICT:
        if (a->n == 0) r = pk_new(k, PK_DICT);
        else why = "OrderedDict called with arguments";
        break;
    case G_JIT_BUILD_LIST:
        if (a->n == 1 && k->nodes[a->items[0]].kind == PK_LIST) r = a->items[0];
        else why = "torch.jit._pickle.build_*list of something other than a list";
        break;
    case G_JIT_RESTORE_TYPE_TAG:
        if (a->n == 2) r = a->items[0];
        else why = "restore_type_tag arguments are not (value, type)";
        break;
    case G_SCRIPT_CLASS:   // a TorchScript module: its attributes come by BUILD
        if (a->n == 0 && (r = pk_new(k, PK_OBJECT)) >= 0) k->nodes[r].i = -1;
        else if (a->n) why = "a TorchScript object created with arguments";
        break;
    default:
        return pk_fail(k, "%s of '%.*s' refused: not a callable a state dict needs", newobj ? "NEWOBJ" : "REDUCE",
                       (int)(f->len > 100 ? 100 : f->len), f->s);
    }
    if (why) return pk_fail(k, "%s", why);
    if (r < 0) return pk_fail(k, "out of memory or too many objects");
    return pk_push(k, r) ? VLM_STATUS_OK : pk_fail(k, "out of memory");
}

// ---- the machine ----

static enum vlm_status pk_run(struct pk * k, int32_t * result) {
    const uint8_t * b;
    char opname[8];
#define NEED(n) do {                                                                    \
        if (!rd_n(k, (n), &b)) return pk_fail(k, "truncated (opcode '%s' needs more bytes)", opname); \
    } while (0)
#define POP(var) do {                                                                   \
        if (!pk_pop(k, &(var))) return pk_fail(k, "opcode '%s' on an empty stack", opname);  \
    } while (0)
#define PUSH(node) do { if (!pk_push(k, (node))) return pk_fail(k, "out of memory or too many objects (at '%s')", opname); } while (0)
#define NEW(var, kind) do { if (((var) = pk_new(k, (kind))) < 0) return pk_fail(k, "too many objects (at '%s')", opname); } while (0)
    while (k->p < k->end) {
        uint8_t op = *k->p++;
        snprintf(opname, sizeof opname, op >= 0x21 && op < 0x7f ? "%c" : "\\x%02x", op);
        int32_t n, a, c;
        switch (op) {
        case 0x80: NEED(1); if (b[0] > 5) return pk_fail(k, "pickle protocol %d is not supported", b[0]); break;  // PROTO
        case 0x95: NEED(8); break;                                   // FRAME: a length hint
        case '.':                                                    // STOP
            POP(*result);
            return VLM_STATUS_OK;
        case '(':                                                    // MARK
            if (!grow((void **)&k->marks, &k->cap_marks, k->n_marks + 1, sizeof *k->marks))
                return pk_fail(k, "out of memory");
            k->marks[k->n_marks++] = k->sp;
            break;
        case 'N': NEW(n, PK_NONE); PUSH(n); break;
        case 0x88: case 0x89: NEW(n, PK_BOOL); k->nodes[n].i = op == 0x88; PUSH(n); break;   // NEWTRUE, NEWFALSE
        case 'J': NEED(4); NEW(n, PK_INT); k->nodes[n].i = (int32_t)(uint32_t)le(b, 4); PUSH(n); break;   // BININT
        case 'K': NEED(1); NEW(n, PK_INT); k->nodes[n].i = b[0]; PUSH(n); break;                          // BININT1
        case 'M': NEED(2); NEW(n, PK_INT); k->nodes[n].i = (int64_t)le(b, 2); PUSH(n); break;              // BININT2
        case 0x8a: {                                                 // LONG1: n-byte two's complement
            NEED(1);
            uint8_t len = b[0];
            if (len > 8) return pk_fail(k, "integer wider than 64 bits");
            NEED(len);
            uint64_t v = le(b, len);
            if (len && len < 8 && (b[len - 1] & 0x80)) v |= ~(uint64_t)0 << (8 * len);
            NEW(n, PK_INT);
            k->nodes[n].i = (int64_t)v;
            PUSH(n);
            break;
        }
        case 'G': {                                                  // BINFLOAT: big-endian double
            NEED(8);
            uint64_t v = 0;
            for (int i = 0; i < 8; i++) v = v << 8 | b[i];
            NEW(n, PK_FLOAT);
            memcpy(&k->nodes[n].f, &v, 8);
            PUSH(n);
            break;
        }
        case 'X': case 0x8c: case 0x8d: {                            // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
            int w = op == 'X' ? 4 : op == 0x8c ? 1 : 8;
            NEED((size_t)w);
            uint64_t len = le(b, w);
            if (len > (uint64_t)(k->end - k->p) || len > UINT32_MAX) return pk_fail(k, "string length past the end");
            NEED((size_t)len);
            NEW(n, PK_STR);
            k->nodes[n].s = (const char *)b;
            k->nodes[n].len = (uint32_t)len;
            PUSH(n);
            break;
        }
        case ')': NEW(n, PK_TUPLE); PUSH(n); break;                  // EMPTY_TUPLE
        case ']': NEW(n, PK_LIST); PUSH(n); break;                   // EMPTY_LIST
        case '}': NEW(n, PK_DICT); PUSH(n); break;                   // EMPTY_DICT
        case 't': case 'l': case 'd':                                // TUPLE, LIST, DICT from the mark
            n = pk_pop_mark(k, op == 't' ? PK_TUPLE : op == 'l' ? PK_LIST : PK_DICT);
            if (n == -2) return pk_fail(k, "opcode '%s' without a MARK", opname);
            if (n < 0) return pk_fail(k, "out of memory or too many objects");
            if (op == 'd' && k->nodes[n].n % 2) return pk_fail(k, "DICT with an odd number of items");
            PUSH(n);
            break;
        case 0x85: case 0x86: case 0x87: {                           // TUPLE1..3
            int m = op - 0x84;
            int32_t it[3];
            for (int i = m - 1; i >= 0; i--) POP(it[i]);
            NEW(n, PK_TUPLE);
            for (int i = 0; i < m; i++)
                if (!pk_append(k, n, it[i])) return pk_fail(k, "out of memory");
            PUSH(n);
            break;
        }
        case 'a': case 'e': case 's': case 'u': {                    // APPEND, APPENDS, SETITEM, SETITEMS
            int32_t items[2];
            int32_t t = -1;
            bool dict = op == 's' || op == 'u';
            if (op == 'a' || op == 's') {
                for (int i = dict ? 1 : 0; i >= 0; i--) POP(items[i]);
                POP(t);
                k->sp++;   // the container stays
            } else {
                if (!k->n_marks) return pk_fail(k, "opcode '%s' without a MARK", opname);
                size_t from = k->marks[k->n_marks - 1];
                if (from == 0) return pk_fail(k, "opcode '%s' with no container below the MARK", opname);
                t = k->stack[from - 1];
                if (dict && (k->sp - from) % 2) return pk_fail(k, "SETITEMS with an odd number of items");
            }
            enum pk_kind want = dict ? PK_DICT : PK_LIST;
            if (k->nodes[t].kind != want)
                return pk_fail(k, "opcode '%s' on a %s", opname, pk_kind_name[k->nodes[t].kind]);
            if (op == 'a' || op == 's') {
                for (int i = 0; i <= (dict ? 1 : 0); i++)
                    if (!pk_append(k, t, items[i])) return pk_fail(k, "out of memory");
            } else {
                size_t from = k->marks[--k->n_marks];
                for (size_t i = from; i < k->sp; i++)
                    if (!pk_append(k, t, k->stack[i])) return pk_fail(k, "out of memory");
                k->sp = from;
            }
            break;
        }
        case 'c': {                                                  // GLOBAL "module\nname\n"
            const uint8_t * mod = k->p, * nl = memchr(k->p, '\n', (size_t)(k->end - k->p));
            if (!nl) return pk_fail(k, "truncated GLOBAL");
            const uint8_t * name = nl + 1, * nl2 = memchr(name, '\n', (size_t)(k->end - name));
            if (!nl2) return pk_fail(k, "truncated GLOBAL");
            k->p = nl2 + 1;
            enum vlm_status st = pk_global(k, mod, (size_t)(nl - mod), name, (size_t)(nl2 - name));
            if (st != VLM_STATUS_OK) return st;
            break;
        }
        case 0x93: {                                                 // STACK_GLOBAL: module, name strings
            POP(c);
            POP(a);
            if (k->nodes[a].kind != PK_STR || k->nodes[c].kind != PK_STR)
                return pk_fail(k, "STACK_GLOBAL of non-strings");
            enum vlm_status st = pk_global(k, (const uint8_t *)k->nodes[a].s, k->nodes[a].len,
                                           (const uint8_t *)k->nodes[c].s, k->nodes[c].len);
            if (st != VLM_STATUS_OK) return st;
            break;
        }
        case 'R': case 0x81: {                                       // REDUCE, NEWOBJ: callable, args
            POP(a);
            POP(c);
            enum vlm_status st = pk_call(k, c, a, op == 0x81);
            if (st != VLM_STATUS_OK) return st;
            break;
        }
        case 'b': {                                                  // BUILD: obj.__setstate__(state)
            POP(a);
            POP(c);
            struct pk_node * o = &k->nodes[c];
            if (o->kind == PK_OBJECT && o->i < 0 && k->nodes[a].kind == PK_DICT) o->i = a;
            else if (o->kind != PK_DICT)   // an OrderedDict's state is its _metadata attribute: ignored
                return pk_fail(k, "BUILD on a %s refused", pk_kind_name[o->kind]);
            PUSH(c);
            break;
        }
        case 'Q': {                                                  // BINPERSID
            POP(a);
            enum vlm_status st = pk_persistent(k, a);
            if (st != VLM_STATUS_OK) return st;
            break;
        }
        case 'q': case 'r': case 0x94: {                             // BINPUT, LONG_BINPUT, MEMOIZE
            uint64_t key = k->n_memo;
            if (op != 0x94) { NEED(op == 'q' ? 1 : 4); key = le(b, op == 'q' ? 1 : 4); }
            if (k->sp == 0) return pk_fail(k, "memo store from an empty stack");
            if (key >= PK_MAX_MEMO) return pk_fail(k, "memo key beyond the limit");
            size_t old = k->cap_memo;
            if (!grow((void **)&k->memo, &k->cap_memo, (size_t)key + 1, sizeof *k->memo))
                return pk_fail(k, "out of memory");
            for (size_t i = old; i < k->cap_memo; i++) k->memo[i] = -1;
            if (k->memo[key] < 0) k->n_memo++;
            k->memo[key] = k->stack[k->sp - 1];
            break;
        }
        case 'h': case 'j': {                                        // BINGET, LONG_BINGET
            NEED(op == 'h' ? 1 : 4);
            uint64_t key = le(b, op == 'h' ? 1 : 4);
            if (key >= k->cap_memo || k->memo[key] < 0) return pk_fail(k, "memo key not stored");
            PUSH(k->memo[key]);
            break;
        }
        case '0': POP(n); break;                                     // POP
        case '1':                                                    // POP_MARK
            if (!k->n_marks) return pk_fail(k, "POP_MARK without a MARK");
            k->sp = k->marks[--k->n_marks];
            break;
        case '2': if (!k->sp) return pk_fail(k, "DUP on an empty stack"); PUSH(k->stack[k->sp - 1]); break;
        default:
            k->p--;
            return pk_fail(k, "opcode '%s' is not allowed in a state dict", opname);
        }
    }
    return pk_fail(k, "ends without STOP");
#undef NEED
#undef POP
#undef PUSH
#undef NEW
}

// ---- names: dicts and TorchScript objects flattened to dotted names ----

static enum vlm_status flatten(struct pk * k, int32_t node, size_t name_len, char * name, int depth) {
    struct pk_node * d = &k->nodes[node];
    if (d->kind == PK_OBJECT) {
        if (d->i < 0) return VLM_STATUS_OK;   // an object without attributes
        d = &k->nodes[node = (int32_t)d->i];
    }
    if (d->visit == 1)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: data.pkl: a cycle: the dict at '%.*s' contains itself", k->what,
                         (int)name_len, name);
    if (depth > PK_MAX_DEPTH || ++k->visits > 4 * (int64_t)k->n_nodes + 64)
        return vlm_error(VLM_STATUS_BAD_MODEL, "%s: data.pkl: dicts nested or shared too deeply (at '%.*s')", k->what,
                         (int)name_len, name);
    d->visit = 1;
    for (int32_t i = 0; i + 1 < d->n; i += 2) {
        const struct pk_node * key = &k->nodes[d->items[i]];
        int32_t v = d->items[i + 1];
        uint8_t vk = k->nodes[v].kind;
        if (vk != PK_TENSOR && vk != PK_DICT && vk != PK_OBJECT) continue;   // ints, flags, lists: not weights
        if (key->kind != PK_STR)
            return vlm_error(VLM_STATUS_BAD_MODEL, "%s: data.pkl: a %s key in the dict at '%.*s'", k->what,
                             pk_kind_name[key->kind], (int)name_len, name);
        size_t len = name_len + (name_len ? 1 : 0) + key->len;
        if (len >= PK_MAX_NAME || memchr(key->s, 0, key->len))
            return vlm_error(VLM_STATUS_BAD_MODEL, "%s: data.pkl: a tensor name over %d bytes or with a NUL byte", k->what,
                             PK_MAX_NAME);
        if (name_len) name[name_len] = '.';
        memcpy(name + len - key->len, key->s, key->len);
        name[len] = 0;
        if (vk != PK_TENSOR) {
            enum vlm_status st = flatten(k, v, len, name, depth + 1);
            if (st != VLM_STATUS_OK) return st;
            continue;
        }
        if (!grow32((void **)&k->out, &k->cap_out, (size_t)k->n_out + 1, sizeof *k->out))
            return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", k->what);
        if (!grow((void **)&k->names, &k->names_cap, k->names_len + len + 1, 1))
            return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", k->what);
        memcpy(k->names + k->names_len, name, len + 1);
        k->out[k->n_out++] = (struct pk_out){ v, k->names_len };
        k->names_len += len + 1;
    }
    d->visit = 0;   // a shared (not cyclic) dict may be reached again under another name
    return VLM_STATUS_OK;
}

// ---- the tensors ----

static bool keep_owned(struct pk * k, void * p) {
    if (!grow32((void **)&k->owned, &k->cap_owned, (size_t)k->n_owned + 1, sizeof *k->owned)) { free(p); return false; }
    k->owned[k->n_owned++] = p;
    return true;
}

// A tensor's bytes: a pointer into the storage when C-contiguous, else a gathered copy.
static enum vlm_status tensor_data(struct pk * k, const struct pk_tensor * t, const char * name, struct vlm_file_tensor * out) {
    struct pk_storage * s = &k->storages[t->storage];
    if (!s->data) {
        void * owned = NULL;
        enum vlm_status st = vlm_zip_read(k->what, k->zip, s->entry, SIZE_MAX, false, &s->data, &owned);
        if (st != VLM_STATUS_OK) return st;
        if (owned && !keep_owned(k, owned)) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", k->what);
    }
    size_t es = vlm_dtype_size(s->dtype), numel = 1;
    bool contiguous = true;
    int64_t expect = 1;
    for (int32_t i = t->n_dims - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != expect) contiguous = false;
        expect *= t->shape[i];
        numel *= (size_t)t->shape[i];   // bounded by the storage size (checked when rebuilt)
    }
    out->nbytes = numel * es;
    if (contiguous || numel == 0) {
        out->data = s->data + (size_t)t->offset * es;
        return VLM_STATUS_OK;
    }
    uint8_t * dst = malloc(out->nbytes);
    if (!dst || !keep_owned(k, dst)) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory for '%s'", k->what, name);
    int64_t idx[VLM_FILE_MAX_DIMS] = { 0 };
    for (size_t e = 0; e < numel; e++) {   // row-major walk of the view
        size_t src = (size_t)t->offset;
        for (int32_t i = 0; i < t->n_dims; i++) src += (size_t)(idx[i] * t->stride[i]);
        memcpy(dst + e * es, s->data + src * es, es);
        for (int32_t i = t->n_dims - 1; i >= 0 && ++idx[i] == t->shape[i]; i--) idx[i] = 0;
    }
    out->data = dst;
    return VLM_STATUS_OK;
}

static const char * file_tensor_name_of(const void * items, int32_t i) { return ((const struct vlm_file_tensor *)items)[i].name; }

static void pk_free(struct pk * k) {
    for (int32_t i = 0; i < k->n_nodes; i++) free(k->nodes[i].items);
    free(k->nodes);
    free(k->stack);
    free(k->marks);
    free(k->memo);
    free(k->storages);
    free(k->tensors);
    free(k->out);
    free(k->names);
}

enum vlm_status vlm_pytorch_open(const char * path, struct vlm_safetensors ** out) {
    if (!out) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_pytorch_open: out is NULL");
    *out = NULL;
    if (!path) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_pytorch_open: path is NULL");
    struct pk k = { .what = path };
    struct vlm_zip * zip = NULL;
    struct vlm_safetensors * st = calloc(1, sizeof *st);
    void * pkl_owned = NULL;
    if (!st) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
    enum vlm_status rc = vlm_model_file_map(path, &st->map, &st->map_size);
    if (rc != VLM_STATUS_OK) goto fail;
    if ((rc = vlm_zip_open(path, st->map, st->map_size, &zip)) != VLM_STATUS_OK) goto fail;
    k.zip = zip;

    // the top folder: that of the first entry, as PyTorchStreamReader takes it
    char top[256], ename[300];
    const char * slash = zip->n ? strchr(zip->entries[0].name, '/') : NULL;
    if (!slash || slash == zip->entries[0].name || (size_t)(slash - zip->entries[0].name) >= sizeof top) {
        rc = vlm_error(VLM_STATUS_BAD_MODEL, "%s: a zip file, but not a PyTorch archive (no <folder>/data.pkl)", path);
        goto fail;
    }
    memcpy(top, zip->entries[0].name, (size_t)(slash - zip->entries[0].name));
    top[slash - zip->entries[0].name] = 0;
    k.top = top;
    snprintf(ename, sizeof ename, "%s/byteorder", top);
    const struct vlm_zip_entry * e = vlm_zip_find(zip, ename);
    const uint8_t * bytes = NULL;
    if (e) {   // absent in files before torch 1.12: little-endian
        if ((rc = vlm_zip_read(path, zip, e, 16, true, &bytes, &pkl_owned)) != VLM_STATUS_OK) goto fail;
        bool little = e->size == 6 && !memcmp(bytes, "little", 6);
        free(pkl_owned);
        pkl_owned = NULL;
        if (!little) {
            rc = vlm_error(VLM_STATUS_UNSUPPORTED, "%s: a big-endian PyTorch archive (only little-endian is read)", path);
            goto fail;
        }
    }
    snprintf(ename, sizeof ename, "%s/data.pkl", top);
    if (!(e = vlm_zip_find(zip, ename))) {
        rc = vlm_error(VLM_STATUS_BAD_MODEL, "%s: a zip file, but not a PyTorch archive (no %s)", path, ename);
        goto fail;
    }
    uint64_t max = vlm_model_file_max_header();
    if ((rc = vlm_zip_read(path, zip, e, max > SIZE_MAX ? SIZE_MAX : (size_t)max, true, &bytes, &pkl_owned)) != VLM_STATUS_OK)
        goto fail;
    k.p0 = k.p = bytes;
    k.end = bytes + e->size;
    int32_t root = -1;
    if ((rc = pk_run(&k, &root)) != VLM_STATUS_OK) goto fail;
    uint8_t rk = k.nodes[root].kind;
    if (rk != PK_DICT && rk != PK_OBJECT) {
        rc = vlm_error(VLM_STATUS_BAD_MODEL, "%s: data.pkl holds a %s, not a state dict or a TorchScript module", path,
                       pk_kind_name[rk]);
        goto fail;
    }
    // a training checkpoint's {"model": state_dict} (EfficientSAM's efficient_sam_vit*.pt, loaded
    // upstream as torch.load(f)["model"]): the state dict's own names
    if (rk == PK_DICT && k.nodes[root].n == 2) {
        const struct pk_node * key = &k.nodes[k.nodes[root].items[0]];
        int32_t v = k.nodes[root].items[1];
        if (key->kind == PK_STR && key->len == 5 && !memcmp(key->s, "model", 5) && k.nodes[v].kind == PK_DICT) root = v;
    }
    char name[PK_MAX_NAME + 1] = "";
    if ((rc = flatten(&k, root, 0, name, 0)) != VLM_STATUS_OK) goto fail;

    // the table, as vlm_safetensors_open builds it
    int32_t n = k.n_out;
    uint32_t n_slots = vlm_name_table_slots(n);
    size_t slot_bytes = (size_t)n_slots * sizeof(int32_t);
    st->tensors = calloc(n ? (size_t)n : 1, sizeof *st->tensors);
    st->names = malloc(slot_bytes + k.names_len + 1);
    if (!n_slots || !st->tensors || !st->names) {
        rc = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory for %d tensors", path, n);
        goto fail;
    }
    memset(st->names, 0xff, slot_bytes);
    if (k.names_len) memcpy(st->names + slot_bytes, k.names, k.names_len);
    for (int32_t i = 0; i < n; i++) {
        struct vlm_file_tensor * t = &st->tensors[i];
        const struct pk_tensor * pt = &k.tensors[k.nodes[k.out[i].node].i];
        t->name = st->names + slot_bytes + k.out[i].name;
        t->dtype = k.storages[pt->storage].dtype;
        t->n_dims = pt->n_dims;
        memcpy(t->shape, pt->shape, sizeof t->shape);
        t->gguf_type = -1;
        if (vlm_name_table_insert((int32_t *)st->names, n_slots, t->name, i, file_tensor_name_of, st->tensors) >= 0) {
            rc = vlm_error(VLM_STATUS_BAD_MODEL, "%s: duplicate tensor name '%s'", path, t->name);
            goto fail;
        }
        if ((rc = tensor_data(&k, pt, t->name, t)) != VLM_STATUS_OK) goto fail;
        st->n_tensors = i + 1;
    }
    st->owned = k.owned;
    st->n_owned = k.n_owned;
    k.owned = NULL;
    free(pkl_owned);
    pk_free(&k);
    vlm_zip_close(zip);
    *out = st;
    return VLM_STATUS_OK;
fail:
    for (int32_t i = 0; i < k.n_owned; i++) free(k.owned[i]);
    free(k.owned);
    free(pkl_owned);
    pk_free(&k);
    vlm_zip_close(zip);
    vlm_safetensors_close(st);
    return rc;
}

// Pre-1.6 torch.save files start with a pickled magic number (0x1950a86a20f9469cfc6c) after PROTO 2.
static const uint8_t legacy_magic[] = { 0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19 };

enum vlm_status vlm_model_file_open(const char * path, struct vlm_safetensors ** out) {
    uint8_t head[sizeof legacy_magic] = { 0 };
    FILE * f = path ? fopen(path, "rb") : NULL;
    size_t got = f ? fread(head, 1, sizeof head, f) : 0;
    if (f) fclose(f);
    if (got >= 4 && !memcmp(head, "PK\x03\x04", 4)) return vlm_pytorch_open(path, out);
    if (got == sizeof head && !memcmp(head, legacy_magic, sizeof head)) {
        if (out) *out = NULL;
        return vlm_error(VLM_STATUS_UNSUPPORTED, "%s: a legacy (before PyTorch 1.6) checkpoint: re-save it with torch.save "
                         "or convert it with scripts/convert-to-safetensors.py", path);
    }
    return vlm_safetensors_open(path, out);
}
