// fuzz-gguf.c — libFuzzer target: GGUF header, metadata key/values and tensor table
// (vlm_gguf_open on a file holding the input, metadata lookups and printing, tensor reads).
#include "fuzz-common.h"
#include "model-file.h"

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    static FILE * devnull;
    if (!devnull && !(devnull = fopen("/dev/null", "w"))) abort();
    const char * path = vlm_fuzz_write_tmp(data, size, ".gguf");
    struct vlm_gguf * g = NULL;
    if (vlm_gguf_open(path, &g) != VLM_STATUS_OK) {
        if (g) abort();
        if (!vlm_last_error()[0]) abort();
        return 0;
    }
    volatile uint64_t sink = 0;
    const char * s = NULL;
    int64_t iv = 0;
    double fv = 0;
    static const char * const keys[] = { "general.architecture", "general.name", "general.alignment",
                                         "clip.vision.image_size", "clip.vision.embedding_length" };
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        if (vlm_gguf_get_str(g, keys[i], &s)) sink += strlen(s);
        if (vlm_gguf_get_int(g, keys[i], &iv)) sink += (uint64_t)iv;
        if (vlm_gguf_get_float(g, keys[i], &fv)) sink += (uint64_t)(fv != 0);
    }
    vlm_gguf_print_metadata(g, devnull);
    int32_t n = vlm_gguf_n_tensors(g);
    for (int32_t i = 0; i < n; i++) {
        const struct vlm_file_tensor * t = vlm_gguf_tensor(g, i);
        if (!t || vlm_gguf_find(g, t->name) != t) abort();
        sink += vlm_fuzz_touch(t->data, t->nbytes);
    }
    (void)sink;
    vlm_gguf_close(g);
    return 0;
}
