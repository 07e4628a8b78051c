// fuzz-pytorch.c — libFuzzer target: PyTorch zip archives and their pickles (vlm_pytorch_open
// on a file holding the input: zip directory, inflate, the pickle machine, tensor views; then
// every tensor looked up and read).
#include "model-file.h"
#include "fuzz-common.h"

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    const char * path = vlm_fuzz_write_tmp(data, size, ".pth");
    struct vlm_safetensors * st = NULL;
    enum vlm_status status = vlm_pytorch_open(path, &st);
    return vlm_fuzz_check_tensor_file(status, st);
}
