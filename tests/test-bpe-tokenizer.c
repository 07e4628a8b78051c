// test-bpe-tokenizer.c — the byte-level BPE tokenizer of GGUF text models against llama.cpp's
// outputs in smolvlm-tiny/cases.json (tokenizer cases in both special-token modes, the ids of
// every prompt, greedy pieces, the VLM prompt chunks, the EOG set), round trips, the UTF-8
// stream, invalid UTF-8, and small synthetic vocabularies (gpt-2 pre-tokenizer, BOS, malformed
// metadata: each must give a clear error).
#include <cjson/cJSON.h>
#include <time.h>
#include <unistd.h>

#include "gguf-meta.h"
#include "fixtures.h"
#include "tokenizer.h"
#include "unicode-props.h"

static bool ids_equal(const int32_t * got, int32_t n, const cJSON * exp) {
    if (!cJSON_IsArray(exp) || cJSON_GetArraySize(exp) != n) return false;
    for (int32_t i = 0; i < n; i++)
        if (got[i] != (int32_t)cJSON_GetArrayItem(exp, i)->valuedouble) return false;
    return true;
}

static void print_ids(const char * what, const int32_t * ids, int32_t n) {
    fprintf(stderr, "  %s:", what);
    for (int32_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "\n");
}

// Tokenizes text and compares with the JSON id list; returns true when equal.
static bool check_ids(const struct vlm_bpe_vocab * v, const char * text, size_t len, bool parse_special, const cJSON * exp,
                      const char * what) {
    int32_t * ids = NULL, n = 0;
    enum vlm_status st = vlm_bpe_tokenize(v, text, len, true, parse_special, &ids, &n);
    bool same = st == VLM_STATUS_OK && ids_equal(ids, n, exp);
    CHECK(same, "%s \"%.60s\" (parse_special %d): %d ids, expected %d", what, text, parse_special, n, cJSON_GetArraySize(exp));
    if (!same) print_ids("got", ids, n);
    free(ids);
    return same;
}

// The concatenated pieces of ids (render_special) into a malloc'd buffer.
static char * join_pieces(const struct vlm_bpe_vocab * v, const int32_t * ids, int32_t n, bool render_special, size_t * len) {
    size_t cap = 64, o = 0;
    char * s = malloc(cap);
    for (int32_t i = 0; i < n; i++) {
        size_t pl;
        const char * p = vlm_bpe_token_piece(v, ids[i], render_special, &pl);
        if (o + pl + 1 > cap) s = realloc(s, cap = (o + pl + 1) * 2);
        memcpy(s + o, p, pl);
        o += pl;
    }
    s[o] = 0;
    *len = o;
    return s;
}

static void check_round_trip(const struct vlm_bpe_vocab * v, const char * text, bool parse_special) {
    int32_t * ids = NULL, n = 0;
    size_t len = strlen(text), got_len = 0;
    vlm_bpe_tokenize(v, text, len, false, parse_special, &ids, &n);
    char * got = join_pieces(v, ids, n, true, &got_len);
    CHECK(got_len == len && memcmp(got, text, len) == 0, "round trip of \"%.60s\" (parse_special %d): \"%.60s\"", text,
          parse_special, got);
    free(got);
    free(ids);
}

static int hex_to_bytes(const char * hex, char * out) {
    int n = 0;
    for (; hex[0] && hex[1]; hex += 2) {
        unsigned b;
        sscanf(hex, "%2x", &b);
        out[n++] = (char)b;
    }
    return n;
}

static void test_cases(const struct vlm_bpe_vocab * v, const cJSON * tok) {
    int n_cases = 0, ok_special = 0, ok_plain = 0;
    const cJSON * c;
    cJSON_ArrayForEach(c, tok) {
        const char * text = cJSON_GetObjectItem(c, "text")->valuestring;
        n_cases++;
        ok_special += check_ids(v, text, strlen(text), true, cJSON_GetObjectItem(c, "ids"), "case");
        ok_plain += check_ids(v, text, strlen(text), false, cJSON_GetObjectItem(c, "ids_no_parse_special"), "case");
        check_round_trip(v, text, true);
        check_round_trip(v, text, false);
    }
    CHECK(n_cases == 31, "%d tokenizer cases, expected 31", n_cases);
    printf("tokenizer cases: %d/%d with parse_special, %d/%d without\n", ok_special, n_cases, ok_plain, n_cases);
}

static void test_generation(const struct vlm_bpe_vocab * v, const cJSON * root) {
    const cJSON * c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "text_logits")) {
        const char * p = cJSON_GetObjectItem(c, "prompt")->valuestring;
        check_ids(v, p, strlen(p), true, cJSON_GetObjectItem(c, "ids"), "text_logits prompt");
    }
    int n_runs = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "text_generation")) {
        const char * p = cJSON_GetObjectItem(c, "prompt")->valuestring;
        check_ids(v, p, strlen(p), true, cJSON_GetObjectItem(c, "ids"), "text_generation prompt");
        const cJSON * run;
        cJSON_ArrayForEach(run, cJSON_GetObjectItem(c, "greedy")) {
            const cJSON * ids = cJSON_GetObjectItem(run, "ids"), * hex = cJSON_GetObjectItem(run, "pieces_hex");
            int32_t n = cJSON_GetArraySize(ids);
            bool stopped = cJSON_IsTrue(cJSON_GetObjectItem(run, "stopped_at_eog"));
            const char * text = cJSON_GetObjectItem(run, "text")->valuestring;
            char * streamed = malloc(VLM_UTF8_STREAM_MAX_OUT(4096));
            size_t o = 0;
            struct vlm_utf8_stream stream = { 0 };
            n_runs++;
            CHECK(cJSON_GetArraySize(hex) == n, "%s: %d pieces for %d ids", p, cJSON_GetArraySize(hex), n);
            for (int32_t i = 0; i < n && i < cJSON_GetArraySize(hex); i++) {
                int32_t id = (int32_t)cJSON_GetArrayItem(ids, i)->valuedouble;
                char exp[1024];
                int en = hex_to_bytes(cJSON_GetArrayItem(hex, i)->valuestring, exp);
                size_t pl;
                const char * piece = vlm_bpe_token_piece(v, id, true, &pl);
                CHECK(pl == (size_t)en && memcmp(piece, exp, pl) == 0, "%s: piece %d of id %d differs", p, i, id);
                CHECK(vlm_bpe_is_eog(v, id) == (stopped && i == n - 1), "%s: id %d eog %d", p, id, vlm_bpe_is_eog(v, id));
                if (!vlm_bpe_is_eog(v, id)) o += vlm_utf8_stream_push(&stream, piece, pl, streamed + o);
            }
            o += vlm_utf8_stream_finish(&stream, streamed + o);
            CHECK(o == strlen(text) && memcmp(streamed, text, o) == 0, "%s: streamed text \"%.*s\", expected \"%s\"", p, (int)o,
                  streamed, text);
            CHECK(vlm_utf8_valid(streamed, o), "%s: streamed text is not valid UTF-8", p);
            free(streamed);
        }
    }
    CHECK(n_runs == 12, "%d greedy runs, expected 12", n_runs);
}

// The VLM prompt: text parts around the media marker, the image-layout tokens by name.
static void test_vlm_prompt(const struct vlm_bpe_vocab * v, const cJSON * vlm) {
    const cJSON * c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(vlm, "cases")) {
        const char * fp = cJSON_GetObjectItem(c, "formatted_prompt")->valuestring;
        const cJSON * chunks = cJSON_GetObjectItem(c, "chunks");
        const char * marker = strstr(fp, "<__media__>");
        CHECK(marker != NULL, "no media marker in %s", fp);
        if (!marker) continue;
        // the first 4 ids of the first chunk come from the text before the marker
        const cJSON * first = cJSON_GetObjectItem(cJSON_GetArrayItem(chunks, 0), "ids");
        cJSON * head = cJSON_CreateArray();
        for (int i = 0; i < 4; i++) cJSON_AddItemToArray(head, cJSON_CreateNumber(cJSON_GetArrayItem(first, i)->valuedouble));
        check_ids(v, fp, (size_t)(marker - fp), true, head, "prompt head");
        cJSON_Delete(head);
        // the last chunk: <fake_token_around_image> then the text after the marker
        const cJSON * last = cJSON_GetObjectItem(cJSON_GetArrayItem(chunks, cJSON_GetArraySize(chunks) - 1), "ids");
        cJSON * tail = cJSON_CreateArray();
        for (int i = 1; i < cJSON_GetArraySize(last); i++) cJSON_AddItemToArray(tail, cJSON_CreateNumber(cJSON_GetArrayItem(last, i)->valuedouble));
        const char * rest = marker + strlen("<__media__>");
        check_ids(v, rest, strlen(rest), true, tail, "prompt tail");
        cJSON_Delete(tail);
        // every text chunk's pieces
        const cJSON * ch;
        cJSON_ArrayForEach(ch, chunks) {
            const cJSON * ids = cJSON_GetObjectItem(ch, "ids"), * pieces = cJSON_GetObjectItem(ch, "pieces");
            for (int i = 0; ids && i < cJSON_GetArraySize(ids); i++) {
                size_t pl;
                const char * p = vlm_bpe_token_piece(v, (int32_t)cJSON_GetArrayItem(ids, i)->valuedouble, true, &pl);
                const char * exp = cJSON_GetArrayItem(pieces, i)->valuestring;
                CHECK(pl == strlen(exp) && memcmp(p, exp, pl) == 0, "chunk piece \"%s\"", exp);
            }
        }
    }
    CHECK(vlm_bpe_token_id(v, "<image>") == 49190, "<image> is %d", vlm_bpe_token_id(v, "<image>"));
    CHECK(vlm_bpe_token_id(v, "<global-img>") == 49152, "<global-img> is %d", vlm_bpe_token_id(v, "<global-img>"));
    CHECK(vlm_bpe_token_id(v, "<fake_token_around_image>") == 49189, "<fake_token_around_image>");
    for (int r = 1; r <= 6; r++) {
        for (int col = 1; col <= 6; col++) {
            char name[48];
            snprintf(name, sizeof name, "<row_%d_col_%d>", r, col);
            CHECK(vlm_bpe_token_id(v, name) == 49152 + (r - 1) * 6 + col, "%s", name);
        }
    }
    CHECK(vlm_bpe_token_id(v, "<__media__>") == -1, "<__media__> is not a token");
    CHECK(vlm_bpe_token_id(v, "") == -1, "the empty text is not a token");
}

static void test_fixture_vocab(void) {
    struct vlm_gguf * g = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s", test_fixture("smolvlm-tiny/smolvlm-tiny-f32.gguf"));
    if (access(path, R_OK) != 0) SKIP("%s not found", path);
    cJSON * root = test_fixture_json(test_fixture("smolvlm-tiny"), "cases.json", TEST_NEED_CHECK);
    CHECK(vlm_gguf_open(path, &g) == VLM_STATUS_OK, "open %s: %s", path, vlm_last_error());
    if (!root || !g) { cJSON_Delete(root); vlm_gguf_close(g); return; }
    struct vlm_bpe_vocab * v = NULL;
    enum vlm_status st = vlm_bpe_vocab_load(g, &v);
    CHECK(st == VLM_STATUS_OK, "vocab load: %s", vlm_last_error());
    if (st == VLM_STATUS_OK) {
        CHECK(vlm_bpe_n_vocab(v) == 49280, "n_vocab %d", vlm_bpe_n_vocab(v));
        CHECK(vlm_bpe_bos(v) == 1 && vlm_bpe_eos(v) == 49279, "bos %d eos %d", vlm_bpe_bos(v), vlm_bpe_eos(v));
        const int32_t * eog;
        int32_t n_eog = vlm_bpe_eog_ids(v, &eog);
        CHECK(ids_equal(eog, n_eog, cJSON_GetObjectItem(root, "eog_token_ids")), "EOG set differs");
        print_ids("eog", eog, n_eog);
        CHECK(!vlm_bpe_is_eog(v, 1) && !vlm_bpe_is_eog(v, -1) && !vlm_bpe_is_eog(v, 49280), "is_eog of non-EOG ids");
        test_cases(v, cJSON_GetObjectItem(root, "tokenizer"));
        test_generation(v, root);
        test_vlm_prompt(v, cJSON_GetObjectItem(root, "vlm"));

        // control pieces are empty unless rendered; ids out of range have none
        size_t pl = 99;
        vlm_bpe_token_piece(v, 49190, false, &pl);
        CHECK(pl == 0, "<image> rendered without render_special (%zu bytes)", pl);
        CHECK(vlm_bpe_token_piece(v, 49280, true, &pl) == NULL && pl == 0, "piece of an id out of range");

        // invalid UTF-8 is refused
        static const char * const bad[] = { "\xff", "abc\x80", "\xc3", "\xe2\x82", "\xed\xa0\x80", "\xc0\xaf", "a\xf5\x80\x80\x80" };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            int32_t * ids = (int32_t *)1, n = 7;
            st = vlm_bpe_tokenize(v, bad[i], strlen(bad[i]), true, true, &ids, &n);
            CHECK(st == VLM_STATUS_INVALID_ARG && ids == NULL && n == 0, "invalid UTF-8 %zu: status %d", i, st);
            CHECK(strstr(vlm_last_error(), "UTF-8") != NULL, "error: %s", vlm_last_error());
        }
        // embedded NUL bytes are text like any other
        int32_t * ids = NULL, n = 0;
        CHECK(vlm_bpe_tokenize(v, "a\0b", 3, false, true, &ids, &n) == VLM_STATUS_OK && n >= 2, "text with a NUL byte");
        free(ids);

        // a few KB of mixed text: milliseconds
        size_t big_n = 0;
        char * big = malloc(64 * 1024);
        const cJSON * c;
        while (big_n < 60000) {
            cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "tokenizer")) {
                const char * t = cJSON_GetObjectItem(c, "text")->valuestring;
                size_t l = strlen(t);
                if (big_n + l + 1 >= 64 * 1024) break;
                memcpy(big + big_n, t, l);
                big_n += l;
                big[big_n++] = ' ';
            }
        }
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        st = vlm_bpe_tokenize(v, big, big_n, false, true, &ids, &n);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        CHECK(st == VLM_STATUS_OK && n > 10000, "60 KB text: %d ids", n);
        printf("tokenized %zu bytes into %d ids in %.1f ms\n", big_n, n, (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) * 1e-6);
        free(ids);
        free(big);
    }
    vlm_bpe_vocab_free(v);
    vlm_gguf_close(g);
    cJSON_Delete(root);
}

// ---- UTF-8 stream --------------------------------------------------------------------------

static void test_stream(void) {
    static const struct { const char * in[4]; const char * out; } cases[] = {
        { { "a\xe2\x82", "\xac" "b", NULL }, "a\xe2\x82\xac" "b" },                    // split euro sign
        { { "\xf0", "\x9f", "\x90", "\xb6" }, "\xf0\x9f\x90\xb6" },                    // one byte at a time
        { { " \xea\xb3", "ginx", NULL }, " \xef\xbf\xbdginx" },                       // never completed
        { { "\xff" "a", "\x80", NULL }, "\xef\xbf\xbd" "a\xef\xbf\xbd" },             // ill-formed bytes
        { { "\xe2\x82", NULL }, "\xef\xbf\xbd" },                                       // held at the end
        { { "\xe2", "\x28\xa1", NULL }, "\xef\xbf\xbd(\xef\xbf\xbd" },                 // bad continuation
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        struct vlm_utf8_stream s = { 0 };
        char out[256];
        size_t o = 0;
        for (int i = 0; i < 4 && cases[k].in[i]; i++) o += vlm_utf8_stream_push(&s, cases[k].in[i], strlen(cases[k].in[i]), out + o);
        o += vlm_utf8_stream_finish(&s, out + o);
        CHECK(o == strlen(cases[k].out) && memcmp(out, cases[k].out, o) == 0, "stream case %zu", k);
    }
}

// ---- synthetic vocabularies -----------------------------------------------------------------

enum { KV_STR, KV_STRS, KV_I32S, KV_U32, KV_BOOL };
struct kv {
    const char * key;
    int kind;
    const char * s;              // KV_STR
    const char * const * list;   // KV_STRS (NULL-terminated)
    const int32_t * i32;         // KV_I32S
    int n;                       // KV_I32S count; KV_U32 / KV_BOOL value
};

static void put(FILE * f, const void * p, size_t n) { fwrite(p, 1, n, f); }
static void put_u32(FILE * f, uint32_t x) { put(f, &x, 4); }
static void put_u64(FILE * f, uint64_t x) { put(f, &x, 8); }
static void put_str(FILE * f, const char * s) { put_u64(f, strlen(s)); put(f, s, strlen(s)); }

// Writes a GGUF v3 file with these metadata keys (kv[i].key NULL: skipped) and no tensors.
static const char * write_gguf(const char * name, const struct kv * kv, int n) {
    static char path[512];
    snprintf(path, sizeof path, "%s/vlm-test-bpe-%d-%s.gguf", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid(), name);
    FILE * f = fopen(path, "wb");
    if (!f) { perror(path); exit(1); }
    int n_kv = 0;
    for (int i = 0; i < n; i++) n_kv += kv[i].key != NULL;
    put(f, "GGUF", 4);
    put_u32(f, 3);
    put_u64(f, 0);
    put_u64(f, (uint64_t)n_kv);
    for (int i = 0; i < n; i++) {
        if (!kv[i].key) continue;
        put_str(f, kv[i].key);
        if (kv[i].kind == KV_STR) { put_u32(f, VLM_GGUF_TYPE_STRING); put_str(f, kv[i].s); }
        else if (kv[i].kind == KV_U32) { put_u32(f, VLM_GGUF_TYPE_UINT32); put_u32(f, (uint32_t)kv[i].n); }
        else if (kv[i].kind == KV_BOOL) { put_u32(f, VLM_GGUF_TYPE_BOOL); uint8_t b = (uint8_t)kv[i].n; put(f, &b, 1); }
        else if (kv[i].kind == KV_I32S) {
            put_u32(f, VLM_GGUF_TYPE_ARRAY); put_u32(f, VLM_GGUF_TYPE_INT32); put_u64(f, (uint64_t)kv[i].n);
            put(f, kv[i].i32, sizeof(int32_t) * (size_t)kv[i].n);
        } else {
            uint64_t m = 0;
            while (kv[i].list[m]) m++;
            put_u32(f, VLM_GGUF_TYPE_ARRAY); put_u32(f, VLM_GGUF_TYPE_STRING); put_u64(f, m);
            for (uint64_t j = 0; j < m; j++) put_str(f, kv[i].list[j]);
        }
    }
    fclose(f);
    return path;
}

// "Ġ" is the byte character of ' '.
static const char * const TOKENS[] = { "a", "b", "c", "\xc4\xa0", "1", "2", "3", "ab", "abc", "\xc4\xa0" "a", "12",
                                       "<s>", "</s>", "<|endoftext|>", "<user>", "bc", NULL };
static const int32_t TYPES[] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 4, 1 };
static const char * const MERGES[] = { "a b", "ab c", "\xc4\xa0 a", "1 2", NULL };

enum { K_MODEL, K_PRE, K_TOKENS, K_TYPES, K_MERGES, K_BOS, K_EOS, K_ADD_BOS, K_N };

static void base_kv(struct kv kv[K_N]) {
    kv[K_MODEL] = (struct kv){ "tokenizer.ggml.model", KV_STR, "gpt2", NULL, NULL, 0 };
    kv[K_PRE] = (struct kv){ "tokenizer.ggml.pre", KV_STR, "gpt-2", NULL, NULL, 0 };
    kv[K_TOKENS] = (struct kv){ "tokenizer.ggml.tokens", KV_STRS, NULL, TOKENS, NULL, 0 };
    kv[K_TYPES] = (struct kv){ "tokenizer.ggml.token_type", KV_I32S, NULL, NULL, TYPES, 16 };
    kv[K_MERGES] = (struct kv){ "tokenizer.ggml.merges", KV_STRS, NULL, MERGES, NULL, 0 };
    kv[K_BOS] = (struct kv){ "tokenizer.ggml.bos_token_id", KV_U32, NULL, NULL, NULL, 11 };
    kv[K_EOS] = (struct kv){ "tokenizer.ggml.eos_token_id", KV_U32, NULL, NULL, NULL, 12 };
    kv[K_ADD_BOS] = (struct kv){ "tokenizer.ggml.add_bos_token", KV_BOOL, NULL, NULL, NULL, 1 };
}

static struct vlm_bpe_vocab * load_kv(const struct kv * kv, const char * name, enum vlm_status * st) {
    const char * path = write_gguf(name, kv, K_N);
    struct vlm_gguf * g = NULL;
    struct vlm_bpe_vocab * v = (struct vlm_bpe_vocab *)1;
    *st = vlm_gguf_open(path, &g);
    CHECK(*st == VLM_STATUS_OK, "%s: %s", name, vlm_last_error());
    if (*st == VLM_STATUS_OK) *st = vlm_bpe_vocab_load(g, &v);
    else v = NULL;
    if (*st != VLM_STATUS_OK) CHECK(v == NULL, "%s: out not NULL on failure", name);
    vlm_gguf_close(g);
    unlink(path);
    return v;
}

static void expect_ids(const struct vlm_bpe_vocab * v, const char * text, bool add_special, const int32_t * exp, int32_t n_exp) {
    int32_t * ids = NULL, n = 0;
    enum vlm_status st = vlm_bpe_tokenize(v, text, strlen(text), add_special, true, &ids, &n);
    bool same = st == VLM_STATUS_OK && n == n_exp && (n == 0 || memcmp(ids, exp, sizeof *ids * (size_t)n) == 0);
    CHECK(same, "synthetic \"%s\" (add_special %d)", text, add_special);
    if (!same) print_ids("got", ids, n);
    free(ids);
}

static void test_synthetic(void) {
    struct kv kv[K_N];
    enum vlm_status st;
    base_kv(kv);
    struct vlm_bpe_vocab * v = load_kv(kv, "valid", &st);
    CHECK(st == VLM_STATUS_OK, "synthetic vocab: %s", vlm_last_error());
    if (v) {
        expect_ids(v, "abc", false, (int32_t[]){ 8 }, 1);
        expect_ids(v, "abc", true, (int32_t[]){ 11, 8 }, 2);               // add_bos_token
        expect_ids(v, "ab a", false, (int32_t[]){ 7, 9 }, 2);
        expect_ids(v, "123", false, (int32_t[]){ 10, 6 }, 2);               // gpt-2: " ?\p{N}+" keeps "123" whole
        expect_ids(v, "<s>abc</s>", false, (int32_t[]){ 11, 8, 12 }, 3);
        expect_ids(v, "a<user>b", false, (int32_t[]){ 0, 14, 1 }, 3);
        expect_ids(v, "ad", false, (int32_t[]){ 0 }, 1);                    // 'd' is no token: dropped
        int32_t * ids = NULL, n = 0;
        vlm_bpe_tokenize(v, "<s>", 3, false, false, &ids, &n);
        CHECK(n == 0, "<s> without parse_special: %d ids", n);   // '<' 's' '>' are no tokens here
        free(ids);
        vlm_bpe_tokenize(v, "<user>", 6, false, false, &ids, &n);
        CHECK(n == 1 && ids[0] == 14, "USER_DEFINED tokens split without parse_special too");
        free(ids);
        const int32_t * eog;
        int32_t n_eog = vlm_bpe_eog_ids(v, &eog);
        CHECK(n_eog == 2 && eog[0] == 12 && eog[1] == 13, "synthetic EOG set: %d ids", n_eog);
        size_t pl;
        const char * p = vlm_bpe_token_piece(v, 9, false, &pl);
        CHECK(pl == 2 && memcmp(p, " a", 2) == 0, "piece of \"Ġa\"");
        vlm_bpe_token_piece(v, 14, false, &pl);
        CHECK(pl == 6, "USER_DEFINED pieces are always rendered");
    }
    vlm_bpe_vocab_free(v);

    base_kv(kv);
    kv[K_BOS].n = 99;   // out of range: ignored, the gpt2 default (11) stays
    v = load_kv(kv, "bos-range", &st);
    if (v) expect_ids(v, "abc", true, (int32_t[]){ 11, 8 }, 2);
    vlm_bpe_vocab_free(v);

    base_kv(kv);
    kv[K_PRE].s = "smollm";
    v = load_kv(kv, "smollm", &st);
    if (v) expect_ids(v, "123", false, (int32_t[]){ 4, 5, 6 }, 3);   // digits split first
    if (v) expect_ids(v, "bc", false, (int32_t[]){ 1, 2 }, 2);       // no merge "b c"
    vlm_bpe_vocab_free(v);

    // llama3: \p{N}{1,3}, a pre-token that is a token is taken whole, BOS by default;
    // qwen2: \p{N} one by one, merges as usual, no BOS by default
    static const struct { const char * pre, * text; bool add_special; int32_t ids[3], n; } fam[] = {
        { "llama-bpe", "123", false, { 10, 6 }, 2 },
        { "llama-bpe", "bc", true, { 11, 15 }, 2 },
        { "llama-bpe", "ab\r\n\r\n a", false, { 7, 9 }, 2 },   // "\r\n\r\n" has no token: dropped
        { "qwen2", "123", true, { 4, 5, 6 }, 3 },
        { "qwen2", "bc", false, { 1, 2 }, 2 },
    };
    for (size_t i = 0; i < sizeof fam / sizeof fam[0]; i++) {
        base_kv(kv);
        kv[K_PRE].s = fam[i].pre;
        kv[K_ADD_BOS].key = NULL;
        v = load_kv(kv, fam[i].pre, &st);
        CHECK(st == VLM_STATUS_OK, "%s vocab: %s", fam[i].pre, vlm_last_error());
        if (v) expect_ids(v, fam[i].text, fam[i].add_special, fam[i].ids, fam[i].n);
        vlm_bpe_vocab_free(v);
    }

    static const char * const merges_unknown[] = { "a b", "ab zz", NULL };
    static const char * const merges_nospace[] = { "a b", "abc", NULL };
    static const char * const tokens_dup[] = { "a", "b", "a", NULL };
    static const char * const tokens_one[] = { "a", NULL };
    static const struct { int key; bool drop; const char * s; const char * const * list; int n; const char * name; enum vlm_status st; const char * msg; } bad[] = {
        { K_PRE, false, "x", NULL, 0, "pre-x", VLM_STATUS_UNSUPPORTED, "unsupported pre-tokenizer 'x'" },
        { K_PRE, true, NULL, NULL, 0, "no-pre", VLM_STATUS_UNSUPPORTED, "unsupported pre-tokenizer 'default'" },
        { K_MODEL, false, "llama", NULL, 0, "model-llama", VLM_STATUS_UNSUPPORTED, "unsupported tokenizer model 'llama'" },
        { K_MODEL, true, NULL, NULL, 0, "no-model", VLM_STATUS_BAD_MODEL, "tokenizer.ggml.model is missing" },
        { K_TOKENS, true, NULL, NULL, 0, "no-tokens", VLM_STATUS_BAD_MODEL, "tokenizer.ggml.tokens is missing" },
        { K_MERGES, true, NULL, NULL, 0, "no-merges", VLM_STATUS_BAD_MODEL, "tokenizer.ggml.merges is missing" },
        { K_MERGES, false, NULL, merges_unknown, 0, "merge-unknown", VLM_STATUS_BAD_MODEL, "merge 1 ('ab zz') refers to an unknown token" },
        { K_MERGES, false, NULL, merges_nospace, 0, "merge-nospace", VLM_STATUS_BAD_MODEL, "merge 1 ('abc') has no space" },
        { K_TOKENS, false, NULL, tokens_dup, 0, "tokens-dup", VLM_STATUS_BAD_MODEL, "token 2: duplicate text 'a'" },
        { K_TOKENS, false, NULL, tokens_one, 0, "tokens-one", VLM_STATUS_BAD_MODEL, "refers to an unknown token" },
        { K_TYPES, false, NULL, NULL, 3, "types-few", VLM_STATUS_BAD_MODEL, "tokenizer.ggml.token_type: 3 types for 16 tokens" },
        { K_TYPES, false, NULL, TOKENS, 0, "types-str", VLM_STATUS_BAD_MODEL, "tokenizer.ggml.token_type is not an int32 array" },
        { K_TOKENS, false, "abc", NULL, 0, "tokens-str", VLM_STATUS_BAD_MODEL, "tokenizer.ggml.tokens is missing or not a string array" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        base_kv(kv);
        int k = bad[i].key;
        if (bad[i].drop) kv[k].key = NULL;
        if (bad[i].s) { kv[k].kind = KV_STR; kv[k].s = bad[i].s; }
        if (bad[i].list) { kv[k].kind = KV_STRS; kv[k].list = bad[i].list; }
        if (bad[i].n) kv[k].n = bad[i].n;
        v = load_kv(kv, bad[i].name, &st);
        CHECK(st == bad[i].st && v == NULL, "%s: status %d, expected %d", bad[i].name, st, bad[i].st);
        CHECK(strstr(vlm_last_error(), bad[i].msg) != NULL, "%s: error '%s', expected '%s'", bad[i].name, vlm_last_error(), bad[i].msg);
        CHECK(strchr(vlm_last_error(), '\n') == NULL, "%s: one-line error", bad[i].name);
        vlm_bpe_vocab_free(v);
    }
    CHECK(vlm_bpe_vocab_load(NULL, &v) == VLM_STATUS_INVALID_ARG && v == NULL, "load from NULL");
    vlm_bpe_vocab_free(NULL);
}

int main(void) {
    test_stream();
    test_synthetic();
    test_fixture_vocab();
    TEST_END();
}
