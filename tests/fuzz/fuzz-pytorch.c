// fuzz-pytorch.c — libFuzzer target: PyTorch zip archives and their pickles (vlm_pytorch_open
// on a file holding the input: zip directory, inflate, the pickle machine, tensor views; then
// every tensor looked up and read).
#include "fuzz-common.h"
#include "model-file.h"

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    const char * path = vlm_fuzz_write_tmp(data, size, ".pth");
    struct vlm_safetensors * st = NULL;
    if (vlm_pytorch_open(path, &st) != VLM_STATUS_OK) {
        if (st) abort();                        // contract: *out is NULL on failure
        if (!vlm_last_error()[0]) abort();      // contract: an error message is set
        return 0;
    }
    volatile uint64_t sink = 0;
    for (int32_t i = 0; i < st->n_tensors; i++) {
        const struct vlm_file_tensor * t = &st->tensors[i];
        if (vlm_safetensors_find(st, t->name) != t) abort();   // names are unique
        size_t numel = 1;
        for (int32_t d = 0; d < t->n_dims; d++) numel *= (size_t)t->shape[d];
        if (numel * vlm_dtype_size(t->dtype) != t->nbytes) abort();   // dtype x shape == size
        sink += vlm_fuzz_touch(t->data, t->nbytes);
    }
    (void)sink;
    vlm_safetensors_close(st);
    return 0;
}
