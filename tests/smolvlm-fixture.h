// smolvlm-fixture.h — ../shared/fixtures/smolvlm-tiny for the language tests: cases.json
// parsed and cases.safetensors opened; the test is skipped when they are absent.
#ifndef VLM_TEST_SMOLVLM_FIXTURE_H
#define VLM_TEST_SMOLVLM_FIXTURE_H
#include <cjson/cJSON.h>

#include "harness.h"
#include "model-file.h"

static inline void test_smolvlm_fixture(cJSON ** cases, struct vlm_safetensors ** expected) {
    char * json = test_read_text(test_fixture("smolvlm-tiny/cases.json"));
    if (!json) SKIP("smolvlm-tiny fixtures not found");
    *cases = cJSON_Parse(json);
    free(json);
    if (!*cases || vlm_safetensors_open(test_fixture("smolvlm-tiny/cases.safetensors"), expected) != VLM_STATUS_OK) {
        fprintf(stderr, "smolvlm-tiny fixtures unreadable: %s\n", vlm_last_error());
        exit(1);
    }
}
#endif
