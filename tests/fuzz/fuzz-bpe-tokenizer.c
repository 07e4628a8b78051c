// fuzz-bpe-tokenizer.c — libFuzzer target: the byte-level BPE tokenizer of GGUF text models on
// arbitrary bytes (special-token split, pre-tokenizer, BPE) in both special-token modes, the
// pieces of the produced ids and of arbitrary ids, streamed through vlm_utf8_stream.
// The vocab is that of smolvlm-tiny-f32.gguf under $VLM_FIXTURES (default:
// $VLM_SOURCE_DIR/../shared/fixtures), loaded once. The malformed-metadata side is fuzzed by
// fuzz-gguf, which loads a vocab from every file it opens.
#define _GNU_SOURCE   // memmem
#include "fuzz-common.h"
#include "model-file.h"
#include "tokenizer.h"
#include "unicode-props.h"

static struct vlm_gguf * g_file;
static struct vlm_bpe_vocab * g_vocab;

int LLVMFuzzerInitialize(int * argc, char *** argv) {
    char path[4096];
    const char * fx = getenv("VLM_FIXTURES"), * src = getenv("VLM_SOURCE_DIR");
    if (fx && *fx) snprintf(path, sizeof path, "%s/smolvlm-tiny/smolvlm-tiny-f32.gguf", fx);
    else snprintf(path, sizeof path, "%s/../shared/fixtures/smolvlm-tiny/smolvlm-tiny-f32.gguf", src && *src ? src : ".");
    if (vlm_gguf_open(path, &g_file) != VLM_STATUS_OK || vlm_bpe_vocab_load(g_file, &g_vocab) != VLM_STATUS_OK) {
        fprintf(stderr, "fuzz-bpe-tokenizer: %s\n", vlm_last_error());
        exit(1);
    }
    return 0;
}

// Streams the pieces of ids; the output must be valid UTF-8.
static void stream_pieces(const int32_t * ids, int32_t n) {
    struct vlm_utf8_stream s = { 0 };
    for (int32_t i = 0; i <= n; i++) {
        size_t len = 0, o;
        const char * p = i < n ? vlm_bpe_token_piece(g_vocab, ids[i], i & 1, &len) : NULL;
        if (i < n && (p == NULL) != (ids[i] < 0 || ids[i] >= vlm_bpe_n_vocab(g_vocab))) abort();
        char * out = malloc(VLM_UTF8_STREAM_MAX_OUT(len));
        if (!out) abort();
        o = i < n ? vlm_utf8_stream_push(&s, p, len, out) : vlm_utf8_stream_finish(&s, out);
        if (o > VLM_UTF8_STREAM_MAX_OUT(len) || !vlm_utf8_valid(out, o)) abort();
        free(out);
        if (i < n) (void)vlm_bpe_is_eog(g_vocab, ids[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    for (int parse_special = 0; parse_special < 2; parse_special++) {
        int32_t * ids = NULL, n = 0;
        enum vlm_status st = vlm_bpe_tokenize(g_vocab, (const char *)data, size, true, parse_special, &ids, &n);
        if (st != VLM_STATUS_OK) {
            if (st != VLM_STATUS_INVALID_ARG || ids || n || vlm_utf8_valid((const char *)data, size)) abort();
            continue;
        }
        for (int32_t i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= vlm_bpe_n_vocab(g_vocab)) abort();
        // without special tokens the pieces are the text, in order, less the bytes whose byte
        // character is not a token (this vocab lacks some, e.g. 0xF1, as llama.cpp drops them)
        if (!parse_special) {
            size_t o = 0;
            for (int32_t i = 0; i < n; i++) {
                size_t len;
                const char * p = vlm_bpe_token_piece(g_vocab, ids[i], true, &len);
                if (len == 0) continue;
                const uint8_t * at = memmem(data + o, size - o, p, len);
                if (!at) abort();
                o = (size_t)(at - data) + len;
            }
        }
        stream_pieces(ids, n < 256 ? n : 256);
        free(ids);
    }
    // the input read as ids, some out of range
    int32_t raw[64];
    int32_t n_raw = (int32_t)(size / 4 < 64 ? size / 4 : 64);
    memcpy(raw, data, (size_t)n_raw * 4);
    stream_pieces(raw, n_raw);
    return 0;
}
