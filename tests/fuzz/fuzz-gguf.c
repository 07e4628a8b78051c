// fuzz-gguf.c — libFuzzer target: GGUF header, metadata key/values and tensor table
// (vlm_gguf_open on a file holding the input, metadata lookups and printing, tensor reads),
// and the BPE vocab built from the tokenizer.ggml.* metadata when the file opens.
#include "fuzz-common.h"
#include "model-file.h"
#include "tokenizer.h"

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
    struct vlm_bpe_vocab * v = (struct vlm_bpe_vocab *)1;
    if (vlm_bpe_vocab_load(g, &v) == VLM_STATUS_OK) {
        static const char text[] = "<|im_start|>User: 12 apples, don't\n\n caf\xc3\xa9 \xf0\x9f\x90\xb6<image>";
        int32_t * ids = NULL, n_ids = 0;
        for (int special = 0; special < 2; special++) {
            if (vlm_bpe_tokenize(v, text, sizeof text - 1, true, special, &ids, &n_ids) != VLM_STATUS_OK) abort();
            for (int32_t i = 0; i < n_ids; i++) {
                size_t len;
                if (ids[i] < 0 || ids[i] >= vlm_bpe_n_vocab(v)) abort();
                sink += vlm_fuzz_touch(vlm_bpe_token_piece(v, ids[i], special, &len), len);
            }
            free(ids);
        }
        vlm_bpe_vocab_free(v);
    } else if (v || !vlm_last_error()[0]) {
        abort();
    }
    (void)sink;
    vlm_gguf_close(g);
    return 0;
}
