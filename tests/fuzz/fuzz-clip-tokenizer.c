// fuzz-clip-tokenizer.c — libFuzzer target: CLIP BPE tokenizer on arbitrary bytes
// (cleaning, pre-tokenizer regex, byte-level BPE), the 77-token context with and without
// truncation, and decoding of the produced ids and of arbitrary ids.
// The merges file is loaded once: $VLM_CLIP_BPE, else assets/bpe_simple_vocab_16e6.txt.gz
// under $VLM_SOURCE_DIR (default: the current directory).
#include "fuzz-common.h"
#include "tokenizer.h"

static struct vlm_clip_tokenizer * g_tok;

int LLVMFuzzerInitialize(int * argc, char *** argv) {
    char path[4096];
    const char * p = getenv("VLM_CLIP_BPE");
    if (!p || !*p) {
        const char * src = getenv("VLM_SOURCE_DIR");
        snprintf(path, sizeof path, "%s/assets/bpe_simple_vocab_16e6.txt.gz", src && *src ? src : ".");
        p = path;
    }
    if (vlm_clip_tokenizer_load(p, &g_tok) != VLM_STATUS_OK) {
        fprintf(stderr, "fuzz-clip-tokenizer: %s\n", vlm_last_error());
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    char * text = malloc(size + 1);
    if (!text) abort();
    memcpy(text, data, size);
    text[size] = '\0';   // the API takes NUL-terminated text; embedded NULs end it early

    int32_t ids[128], n_ids = 0;
    if (vlm_clip_tokenize(g_tok, text, ids, 128, &n_ids) == VLM_STATUS_OK) {
        if (n_ids < 0) abort();
        int32_t n = n_ids < 128 ? n_ids : 128;
        for (int32_t i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= vlm_clip_tokenizer_n_vocab(g_tok)) abort();
        size_t cap = (size_t)n * 64 + 1;
        char * out = malloc(cap);
        if (!out) abort();
        (void)vlm_clip_decode(g_tok, ids, n, out, cap);
        (void)vlm_clip_decode(g_tok, ids, n, out, 1 + size % 8);   // too small: must fail cleanly
        free(out);
    }
    int32_t ctx[VLM_CLIP_CONTEXT_LENGTH];
    bool truncated = false;
    if (vlm_clip_tokenize_context(g_tok, text, ctx, true, &truncated) == VLM_STATUS_OK) {
        if (ctx[0] != vlm_clip_tokenizer_sot(g_tok)) abort();
    }
    (void)vlm_clip_tokenize_context(g_tok, text, ctx, false, NULL);

    // the input read as ids (some out of range) must decode or fail, never overrun
    int32_t raw[64];
    int32_t n_raw = (int32_t)(size / 4 < 64 ? size / 4 : 64);
    memcpy(raw, data, (size_t)n_raw * 4);
    char buf[512];
    (void)vlm_clip_decode(g_tok, raw, n_raw, buf, sizeof buf);
    free(text);
    return 0;
}
