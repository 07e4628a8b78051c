// fixtures.h — the reference fixtures' files for the parity tests (header-only, over harness.h):
// a fixture folder's cases.json parsed and cases.safetensors opened, and reference tensors
// looked up by name, type and size. A file or tensor that is not there is either a failed CHECK
// naming it (the test goes on without it) or, where the test cannot run without it, a skip.
#ifndef VLM_TEST_FIXTURES_H
#define VLM_TEST_FIXTURES_H
#include <cjson/cJSON.h>

#include "harness.h"
#include "model-file.h"

// What an absent or unreadable fixture file does to the test.
enum test_need {
    TEST_NEED_CHECK,         // a failed CHECK naming the file; the caller goes on without it
    TEST_NEED_SKIP,          // the test is skipped (exit 77)
    TEST_NEED_SKIP_ABSENT,   // skipped when the file is absent, a failed CHECK when it is unreadable
};

static inline bool test_need_skip(enum test_need need, const char * path) {
    return need == TEST_NEED_SKIP || (need == TEST_NEED_SKIP_ABSENT && access(path, F_OK) != 0);
}

// dir/name parsed as JSON (free with cJSON_Delete), else NULL.
static inline cJSON * test_fixture_json(const char * dir, const char * name, enum test_need need) {
    char path[4096 + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char * text = test_read_text(path);
    cJSON * j = text ? cJSON_Parse(text) : NULL;
    if (!j && test_need_skip(need, path)) SKIP("%s %s", path, text ? "does not parse" : "not found");
    CHECK(j != NULL, "%s %s", path, text ? "does not parse" : "not found");
    free(text);
    return j;
}

// dir/name opened as safetensors (close with vlm_safetensors_close), else NULL.
static inline struct vlm_safetensors * test_fixture_tensors(const char * dir, const char * name, enum test_need need) {
    char path[4096 + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct vlm_safetensors * st = NULL;
    bool ok = vlm_safetensors_open(path, &st) == VLM_STATUS_OK;
    if (!ok && test_need_skip(need, path)) SKIP("%s", vlm_last_error());
    CHECK(ok, "open %s: %s", path, ok ? "" : vlm_last_error());
    return st;
}

// A fixture folder's reference: cases.json and cases.safetensors.
struct test_cases {
    cJSON *                  json;   // NULL when absent or not JSON
    struct vlm_safetensors * st;     // NULL when it does not open
};

// Reads both files of dir (the safetensors only when the JSON is there); true when both are.
static inline bool test_cases_open(const char * dir, enum test_need need, struct test_cases * c) {
    c->json = test_fixture_json(dir, "cases.json", need);
    c->st = c->json ? test_fixture_tensors(dir, "cases.safetensors", need) : NULL;
    return c->json && c->st;
}

static inline void test_cases_close(struct test_cases * c) {
    vlm_safetensors_close(c->st);
    cJSON_Delete(c->json);
    c->json = NULL, c->st = NULL;
}

// Tensor name of st (NULL: none) when it is a dtype tensor (VLM_DTYPE_COUNT: any) of nbytes bytes
// (0: any), else NULL. Its data is mmap'd: read floats through test_f32 or an aligned copy.
static inline const struct vlm_file_tensor * test_tensor(const struct vlm_safetensors * st, const char * name,
                                                         enum vlm_dtype dtype, size_t nbytes) {
    const struct vlm_file_tensor * t = st ? vlm_safetensors_find(st, name) : NULL;
    if (t && dtype != VLM_DTYPE_COUNT && t->dtype != dtype) return NULL;
    if (t && nbytes && t->nbytes != nbytes) return NULL;
    return t;
}

// A reference tensor as test_tensor finds it; its absence (or another dtype or size) is a failed
// CHECK (finding it counts as no check).
static inline const struct vlm_file_tensor * test_fixture_tensor(const struct vlm_safetensors * st, const char * name,
                                                                 enum vlm_dtype dtype, size_t nbytes) {
    const struct vlm_file_tensor * t = test_tensor(st, name, dtype, nbytes);
    if (!t) CHECK(0, "fixture tensor %s missing%s", name, dtype != VLM_DTYPE_COUNT || nbytes ? " or of another type or size" : "");
    return t;
}

// A reference tensor of any type and size; its absence is a failed CHECK.
static inline const struct vlm_file_tensor * test_fixture_find(const struct vlm_safetensors * st, const char * name) {
    return test_fixture_tensor(st, name, VLM_DTYPE_COUNT, 0);
}

// The data of test_fixture_tensor, NULL when it failed.
static inline const void * test_fixture_data(const struct vlm_safetensors * st, const char * name, enum vlm_dtype dtype,
                                             size_t nbytes) {
    const struct vlm_file_tensor * t = test_fixture_tensor(st, name, dtype, nbytes);
    return t ? t->data : NULL;
}

// Whether t is a dtype tensor of the n_dims sizes in shape (-1: any size).
static inline bool test_tensor_shape(const struct vlm_file_tensor * t, enum vlm_dtype dtype, int32_t n_dims, const int64_t * shape) {
    if (!t || t->dtype != dtype || t->n_dims != n_dims) return false;
    for (int32_t i = 0; i < n_dims; i++)
        if (shape[i] >= 0 && t->shape[i] != shape[i]) return false;
    return true;
}

// shared/fixtures/smolvlm-tiny for the language tests: cases.json parsed and cases.safetensors
// opened; the test is skipped when cases.json is absent and fails at once when either is
// unreadable.
static inline void test_smolvlm_fixture(cJSON ** cases, struct vlm_safetensors ** expected) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", test_fixture("smolvlm-tiny"));
    *cases = test_fixture_json(dir, "cases.json", TEST_NEED_SKIP_ABSENT);
    *expected = *cases ? test_fixture_tensors(dir, "cases.safetensors", TEST_NEED_CHECK) : NULL;
    if (!*cases || !*expected) {
        fprintf(stderr, "smolvlm-tiny fixtures unreadable\n");
        exit(1);
    }
}
#endif
