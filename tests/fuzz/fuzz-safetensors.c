// fuzz-safetensors.c — libFuzzer target: safetensors header, tensor table and data spans
// (vlm_safetensors_open on a file holding the input, then every tensor looked up and read).
#include "model-file.h"
#include "fuzz-common.h"

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    const char * path = vlm_fuzz_write_tmp(data, size, ".safetensors");
    struct vlm_safetensors * st = NULL;
    enum vlm_status status = vlm_safetensors_open(path, &st);
    return vlm_fuzz_check_tensor_file(status, st);
}
