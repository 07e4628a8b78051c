// tensor.c — tensor headers: shapes, strides and views (no data movement).
#include <stdio.h>
#include <string.h>

#include "core.h"

static struct vlm_tensor tensor_empty(void) {
    struct vlm_tensor t;
    memset(&t, 0, sizeof t);
    return t;
}

int64_t vlm_tensor_numel(const struct vlm_tensor * t) {
    if (!t || t->n_dims <= 0 || t->n_dims > VLM_MAX_DIMS) return 0;
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++) n *= t->shape[i];
    return n;
}

bool vlm_tensor_valid(const struct vlm_tensor * t) {
    if (!t || t->n_dims <= 0 || t->n_dims > VLM_MAX_DIMS) return false;
    if ((unsigned)t->dtype >= VLM_DTYPE_COUNT) return false;
    for (int i = 0; i < t->n_dims; i++)
        if (t->shape[i] <= 0 || t->stride[i] < 0) return false;
    int64_t block = vlm_dtype_traits(t->dtype)->block;
    if (block > 1) {   // whole blocks along a contiguous innermost dim
        if (t->stride[t->n_dims - 1] != 1 || t->shape[t->n_dims - 1] % block != 0) return false;
        for (int i = 0; i < t->n_dims - 1; i++)
            if (t->stride[i] % block != 0) return false;
    }
    return true;
}

bool vlm_tensor_extent(const struct vlm_tensor * t, size_t * bytes) {
    if (!vlm_tensor_valid(t)) return false;
    size_t last = 0;
    for (int i = 0; i < t->n_dims; i++) {
        size_t span;
        if (!vlm_mul_size((size_t)(t->shape[i] - 1), (size_t)t->stride[i], &span) || !vlm_add_size(last, span, &last))
            return false;
    }
    // block dtypes: last + 1 is the end of a row, a whole number of blocks
    size_t n = vlm_dtype_nbytes(t->dtype, (int64_t)(last + 1));
    if (n == 0 || last + 1 > (size_t)INT64_MAX) return false;
    *bytes = n;
    return true;
}

bool vlm_tensor_is_contiguous(const struct vlm_tensor * t) {
    if (!vlm_tensor_valid(t)) return false;
    int64_t expect = 1;
    for (int i = t->n_dims - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != expect) return false;
        expect *= t->shape[i];
    }
    return true;
}

void vlm_tensor_set_shape(struct vlm_tensor * t, int32_t n_dims, const int64_t * shape) {
    if (n_dims < 0) n_dims = 0;
    if (n_dims > VLM_MAX_DIMS) n_dims = VLM_MAX_DIMS;
    t->n_dims = n_dims;
    int64_t s = 1;
    for (int i = VLM_MAX_DIMS - 1; i >= 0; i--) {
        if (i < n_dims) {
            t->shape[i]  = shape[i];
            t->stride[i] = s;
            s *= shape[i];
        } else {
            t->shape[i]  = 1;
            t->stride[i] = 0;
        }
    }
}

// One entry of shape may be -1 (inferred from the element count).
struct vlm_tensor vlm_tensor_reshape(struct vlm_tensor t, int32_t n_dims, const int64_t * shape) {
    if (!vlm_tensor_is_contiguous(&t) || n_dims <= 0 || n_dims > VLM_MAX_DIMS || !shape) return tensor_empty();
    int64_t sh[VLM_MAX_DIMS], known = 1;
    int     infer = -1;
    for (int i = 0; i < n_dims; i++) {
        sh[i] = shape[i];
        if (sh[i] == -1) {
            if (infer >= 0) return tensor_empty();
            infer = i;
        } else if (sh[i] <= 0) {
            return tensor_empty();
        } else {
            known *= sh[i];
        }
    }
    int64_t n = vlm_tensor_numel(&t);
    if (infer >= 0) {
        if (n % known != 0) return tensor_empty();
        sh[infer] = n / known;
    } else if (known != n) {
        return tensor_empty();
    }
    struct vlm_tensor r = t;
    vlm_tensor_set_shape(&r, n_dims, sh);
    return r;
}

struct vlm_tensor vlm_tensor_permute(struct vlm_tensor t, const int32_t * perm) {
    if (!vlm_tensor_valid(&t) || !perm) return tensor_empty();
    struct vlm_tensor r = t;
    bool used[VLM_MAX_DIMS] = { false };
    for (int i = 0; i < t.n_dims; i++) {
        int32_t p = perm[i];
        if (p < 0 || p >= t.n_dims || used[p]) return tensor_empty();
        used[p]     = true;
        r.shape[i]  = t.shape[p];
        r.stride[i] = t.stride[p];
    }
    return r;
}

struct vlm_tensor vlm_tensor_slice(struct vlm_tensor t, int32_t dim, int64_t start, int64_t len) {
    if (!vlm_tensor_valid(&t)) return tensor_empty();
    if (dim < 0) dim += t.n_dims;
    if (dim < 0 || dim >= t.n_dims || start < 0 || len <= 0 || start > t.shape[dim] - len) return tensor_empty();
    struct vlm_tensor r = t;
    size_t skip = vlm_dtype_nbytes(t.dtype, start * t.stride[dim]);   // 0 inside a block
    if (skip == 0 && start * t.stride[dim] != 0) return tensor_empty();
    r.offset += skip;
    r.shape[dim] = len;
    return vlm_tensor_valid(&r) ? r : tensor_empty();
}

struct vlm_tensor vlm_tensor_transpose(struct vlm_tensor t, int32_t d0, int32_t d1) {
    if (!vlm_tensor_valid(&t)) return tensor_empty();
    if (d0 < 0) d0 += t.n_dims;
    if (d1 < 0) d1 += t.n_dims;
    if (d0 < 0 || d1 < 0 || d0 >= t.n_dims || d1 >= t.n_dims) return tensor_empty();
    int32_t perm[VLM_MAX_DIMS];
    for (int i = 0; i < VLM_MAX_DIMS; i++) perm[i] = i;
    perm[d0] = d1;
    perm[d1] = d0;
    return vlm_tensor_permute(t, perm);
}

void vlm_tensor_shape_str(const struct vlm_tensor * t, char * out, size_t out_size) {
    if (!out || out_size == 0) return;
    if (!t || t->n_dims <= 0 || t->n_dims > VLM_MAX_DIMS) {
        snprintf(out, out_size, "[] (empty)");
        return;
    }
    size_t pos = 0;
    int    n   = snprintf(out, out_size, "[");
    for (int i = 0; i < t->n_dims && n >= 0; i++) {
        pos += (size_t)n;
        if (pos >= out_size) return;
        n = snprintf(out + pos, out_size - pos, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    }
    if (n < 0) return;
    pos += (size_t)n;
    if (pos >= out_size) return;
    snprintf(out + pos, out_size - pos, "] %s", vlm_dtype_name(t->dtype));
}
