// test-clip-tokenizer.c — CLIP's SimpleTokenizer against the reference fixtures
// (clip-tiny/cases.json tokenizer cases, cases.safetensors text_tokens) plus cleaning rules,
// invalid UTF-8, a 1 MB prompt, context truncation and bad files.
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "fixtures.h"
#include "tokenizer.h"

#define CTX VLM_CLIP_CONTEXT_LENGTH

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}


// ids of text (all of them); returns the count, -1 on error. *ids is malloc'd.
static int32_t tok_all(struct vlm_clip_tokenizer * t, const char * text, int32_t ** ids) {
    int32_t n = 0;
    *ids = NULL;
    if (vlm_clip_tokenize(t, text, NULL, 0, &n) != VLM_STATUS_OK) return -1;
    *ids = malloc(sizeof(int32_t) * (size_t)(n + 1));
    int32_t n2 = 0;
    if (vlm_clip_tokenize(t, text, *ids, n, &n2) != VLM_STATUS_OK || n2 != n) return -1;
    return n;
}

// true when a and b tokenize to the same ids
static bool same_tokens(struct vlm_clip_tokenizer * t, const char * a, const char * b) {
    int32_t * ia, * ib;
    int32_t na = tok_all(t, a, &ia), nb = tok_all(t, b, &ib);
    bool same = na >= 0 && na == nb && memcmp(ia, ib, sizeof(int32_t) * (size_t)na) == 0;
    free(ia);
    free(ib);
    return same;
}

static void test_cases_json(struct vlm_clip_tokenizer * t, const cJSON * cases) {
    int n_cases = 0;
    const cJSON * c;
    cJSON_ArrayForEach(c, cases) {
        const cJSON * text = cJSON_GetObjectItem(c, "text");
        const cJSON * ids = cJSON_GetObjectItem(c, "ids");
        const cJSON * dec = cJSON_GetObjectItem(c, "decoded");
        if (!cJSON_IsString(text) || !cJSON_IsArray(ids) || !cJSON_IsString(dec)) { CHECK(0, "malformed case %d", n_cases); continue; }
        n_cases++;
        int32_t * got = NULL;
        int32_t n = tok_all(t, text->valuestring, &got);
        int32_t n_exp = cJSON_GetArraySize(ids);
        bool same = n == n_exp;
        for (int32_t i = 0; same && i < n; i++) same = got[i] == (int32_t)cJSON_GetArrayItem(ids, i)->valuedouble;
        CHECK(same, "case \"%.60s\": %d ids, expected %d%s", text->valuestring, n, n_exp, n == n_exp ? " (values differ)" : "");
        if (!same && n >= 0) {
            fprintf(stderr, "  got:");
            for (int32_t i = 0; i < n; i++) fprintf(stderr, " %d", got[i]);
            fprintf(stderr, "\n");
        }
        // decode of the expected ids
        n_exp = cJSON_GetArraySize(ids);
        int32_t * exp = malloc(sizeof(int32_t) * (size_t)(n_exp + 1));
        for (int32_t i = 0; i < n_exp; i++) exp[i] = (int32_t)cJSON_GetArrayItem(ids, i)->valuedouble;
        size_t cap = strlen(dec->valuestring) * 2 + 64;
        char * out = malloc(cap);
        enum vlm_status st = vlm_clip_decode(t, exp, n_exp, out, cap);
        CHECK(st == VLM_STATUS_OK && strcmp(out, dec->valuestring) == 0, "decode of \"%.60s\": \"%.80s\", expected \"%.80s\"",
              text->valuestring, out, dec->valuestring);
        free(out);
        free(exp);
        free(got);
    }
    CHECK(n_cases == 26, "%d tokenizer cases in cases.json, expected 26", n_cases);
}

static void utf8_put(uint32_t c, char * out) {   // c < 0x800
    if (c < 0x80) { out[0] = (char)c; out[1] = 0; }
    else { out[0] = (char)(0xC0 | (c >> 6)); out[1] = (char)(0x80 | (c & 0x3F)); out[2] = 0; }
}

// The same vocabulary as a Hugging Face folder (vocab.json + merges.txt, as
// openai/clip-vit-base-patch32 ships it) must tokenize exactly like the .txt.gz.
static void test_hf_folder(struct vlm_clip_tokenizer * ref, const char * bpe, const cJSON * cases) {
    const char * dir = test_tmp_mkdir("hf");
    char vpath[600], mpath[600];
    snprintf(vpath, sizeof vpath, "%s/vocab.json", dir);
    snprintf(mpath, sizeof mpath, "%s/merges.txt", dir);
    gzFile gz = gzopen(bpe, "rb");
    FILE * mf = fopen(mpath, "wb");
    cJSON * vocab = cJSON_CreateObject();
    // bytes_to_unicode order: printable bytes, then the others as U+0100 + n
    uint32_t order[256];
    int n_order = 0, extra = 0;
    for (int b = 0; b < 256; b++) if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) order[n_order++] = (uint32_t)b;
    for (int b = 0; b < 256; b++) if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)) order[n_order++] = 256u + (uint32_t)extra++;
    int id = 0;
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 256; i++) {
            char s[16];
            utf8_put(order[i], s);
            if (k) strcat(s, "</w>");
            cJSON_AddNumberToObject(vocab, s, id++);
        }
    }
    char line[1024];
    int n_lines = 0;
    fputs("#version: 0.2\n", mf);
    while (gz && n_lines <= VLM_CLIP_N_MERGES && gzgets(gz, line, sizeof line)) {
        if (n_lines++ == 0) continue;
        fputs(line, mf);
        line[strcspn(line, "\n")] = 0;
        char joined[1024];
        size_t o = 0;
        for (char * p = line; *p; p++) if (*p != ' ') joined[o++] = *p;
        joined[o] = 0;
        cJSON_AddNumberToObject(vocab, joined, id++);
    }
    cJSON_AddNumberToObject(vocab, "<|startoftext|>", id++);
    cJSON_AddNumberToObject(vocab, "<|endoftext|>", id++);
    char * vtext = cJSON_PrintUnformatted(vocab);
    FILE * vf = fopen(vpath, "wb");
    fputs(vtext, vf);
    fclose(vf);
    fclose(mf);
    free(vtext);
    cJSON_Delete(vocab);
    if (gz) gzclose(gz);
    CHECK(id == 49408, "HF vocab built with %d entries", id);

    struct vlm_clip_tokenizer * t = NULL;
    enum vlm_status st = vlm_clip_tokenizer_load(dir, &t);
    CHECK(st == VLM_STATUS_OK, "load HF folder: %s", vlm_last_error());
    if (st == VLM_STATUS_OK) {
        CHECK(vlm_clip_tokenizer_sot(t) == 49406 && vlm_clip_tokenizer_eot(t) == 49407 && vlm_clip_tokenizer_n_vocab(t) == 49408,
              "HF special ids");
        const cJSON * c;
        int n_same = 0, n_all = 0;
        cJSON_ArrayForEach(c, cases) {
            const char * text = cJSON_GetObjectItem(c, "text")->valuestring;
            int32_t * a = NULL, * b = NULL;
            int32_t na = tok_all(ref, text, &a), nb = tok_all(t, text, &b);
            n_all++;
            n_same += na >= 0 && na == nb && memcmp(a, b, sizeof(int32_t) * (size_t)na) == 0;
            free(a);
            free(b);
        }
        CHECK(n_all > 0 && n_same == n_all, "HF folder tokenizes like the .txt.gz: %d of %d cases", n_same, n_all);
    }
    vlm_clip_tokenizer_free(t);
}

static void test_text_tokens(struct vlm_clip_tokenizer * t, const cJSON * texts, const struct vlm_safetensors * st) {
    const struct vlm_file_tensor * tt = vlm_safetensors_find(st, "text_tokens");
    int32_t n_texts = cJSON_GetArraySize(texts);
    bool shape_ok = test_tensor_shape(tt, VLM_DTYPE_I32, 2, (const int64_t[]){ n_texts, CTX });
    CHECK(shape_ok, "text_tokens: expected I32 [%d, %d]", n_texts, CTX);
    if (shape_ok) {
        for (int32_t i = 0; i < n_texts; i++) {
            const char * text = cJSON_GetArrayItem(texts, i)->valuestring;
            int32_t out[CTX];
            bool trunc = true;
            enum vlm_status s = vlm_clip_tokenize_context(t, text, out, false, &trunc);
            int32_t ref[CTX];
            memcpy(ref, (const int32_t *)tt->data + (size_t)i * CTX, sizeof ref);
            CHECK(s == VLM_STATUS_OK && !trunc && memcmp(out, ref, sizeof out) == 0, "text_tokens[%d] (\"%s\") differs", i, text);
        }
    }
}

static void test_cleaning(struct vlm_clip_tokenizer * t) {
    // html.unescape twice, numeric references, the longest-prefix rule, invalid references
    CHECK(same_tokens(t, "&amp;lt;b&amp;gt;", "<b>"), "double html unescape");
    CHECK(same_tokens(t, "&#x41;&#66;&#X43;", "abc"), "numeric references");
    CHECK(same_tokens(t, "&notit; &ampx", "\xc2\xacit; &x"), "legacy entity prefixes");
    CHECK(same_tokens(t, "&hellip; &rsquo; &nbsp;x &NotEqualTilde;", "\xe2\x80\xa6 \xe2\x80\x99 x \xe2\x89\x82\xcc\xb8"), "named entities");
    CHECK(same_tokens(t, "&#128; &#0; &#99999999999;", "\xe2\x82\xac \xef\xbf\xbd \xef\xbf\xbd"), "invalid numeric references");
    CHECK(same_tokens(t, "&#1;a &nosuch; & &#;", "a &nosuch; & &#;"), "non-references kept");
    // whitespace: \s collapsed, Unicode spaces, strip
    CHECK(same_tokens(t, "\xe3\x80\x80 a\xc2\xa0\xc2\x85 b\t\n", "a b"), "unicode whitespace");
    // lower-casing: Latin, Greek final sigma, Cyrillic, U+0130
    CHECK(same_tokens(t, "\xc3\x89T\xc3\x89 \xc5\x81\xc3\x93" "D\xc5\xb9", "\xc3\xa9t\xc3\xa9 \xc5\x82\xc3\xb3" "d\xc5\xba"), "latin lower");
    CHECK(same_tokens(t, "\xce\x9f\xce\x94\xce\x9f\xce\xa3", "\xce\xbf\xce\xb4\xce\xbf\xcf\x82"), "greek final sigma");
    CHECK(same_tokens(t, "\xce\xa3\xce\x91", "\xcf\x83\xce\xb1"), "greek non-final sigma");
    CHECK(same_tokens(t, "\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2", "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"), "cyrillic lower");
    CHECK(same_tokens(t, "\xc4\xb0", "i\xcc\x87"), "U+0130 lower");
    // pre-tokens: contractions, long s under IGNORECASE, special tokens
    CHECK(!same_tokens(t, "it's", "it s"), "contraction kept together");
    CHECK(same_tokens(t, "IT'S", "it's"), "contraction after lower");
    int32_t * ids = NULL;
    int32_t n = tok_all(t, "<|endoftext|>", &ids);
    CHECK(n == 1 && ids[0] == vlm_clip_tokenizer_eot(t), "special token text");
    free(ids);
}

static void test_invalid_utf8(struct vlm_clip_tokenizer * t) {
    // each bad byte is one U+FFFD
    CHECK(same_tokens(t, "a\xff\xfe" "b", "a\xef\xbf\xbd\xef\xbf\xbd" "b"), "invalid bytes");
    CHECK(same_tokens(t, "x \xe6\x97", "x \xef\xbf\xbd\xef\xbf\xbd"), "truncated sequence");
    CHECK(same_tokens(t, "\xc0\x80 \xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"), "overlong and surrogate");
    int32_t * ids = NULL;
    int32_t n = tok_all(t, "\x80", &ids);
    char out[64];
    CHECK(n > 0 && vlm_clip_decode(t, ids, n, out, sizeof out) == VLM_STATUS_OK && strcmp(out, "\xef\xbf\xbd ") == 0,
          "decode of a lone continuation byte: \"%s\"", n > 0 ? out : "");
    free(ids);
    // decode of bytes that are not UTF-8 on their own: errors="replace"
    n = tok_all(t, "\xe6\x97\xa5", &ids);   // one CJK character, several byte tokens
    if (n > 1) {
        CHECK(vlm_clip_decode(t, ids, 1, out, sizeof out) == VLM_STATUS_OK && strstr(out, "\xef\xbf\xbd") != NULL,
              "partial character decodes to U+FFFD");
    }
    free(ids);
}

static void test_context(struct vlm_clip_tokenizer * t) {
    int32_t out[CTX];
    bool trunc = true;
    int32_t sot = vlm_clip_tokenizer_sot(t), eot = vlm_clip_tokenizer_eot(t);
    CHECK(sot == 49406 && eot == 49407 && vlm_clip_tokenizer_n_vocab(t) == 49408, "special ids %d %d", sot, eot);
    CHECK(vlm_clip_tokenize_context(t, "", out, false, &trunc) == VLM_STATUS_OK && !trunc && out[0] == sot && out[1] == eot && out[2] == 0 &&
          out[CTX - 1] == 0, "empty string -> [SOT, EOT, 0...]");
    CHECK(vlm_clip_tokenize_context(t, " \t\n ", out, false, NULL) == VLM_STATUS_OK && out[0] == sot && out[1] == eot, "blank text");
    // digits are one token each: 75 fit exactly, 76 do not
    char digits[80];
    memset(digits, '7', 76);
    digits[75] = 0;
    enum vlm_status s = vlm_clip_tokenize_context(t, digits, out, false, &trunc);
    CHECK(s == VLM_STATUS_OK && !trunc && out[0] == sot && out[75] != eot && out[CTX - 1] == eot, "75 ids fit");
    int32_t seven = out[1];
    digits[75] = '7';
    digits[76] = 0;
    s = vlm_clip_tokenize_context(t, digits, out, false, &trunc);
    CHECK(s == VLM_STATUS_INVALID_ARG && out[0] == 0 && !trunc, "76 ids do not fit without truncate");
    s = vlm_clip_tokenize_context(t, digits, out, true, &trunc);
    CHECK(s == VLM_STATUS_OK && trunc && out[0] == sot && out[75] == seven && out[CTX - 1] == eot, "76 ids truncate");
    // snprintf-like vlm_clip_tokenize
    int32_t few[3], n = 0;
    s = vlm_clip_tokenize(t, digits, few, 3, &n);
    CHECK(s == VLM_STATUS_OK && n == 76 && few[2] == seven, "count beyond max_ids");
    char small[4];
    CHECK(vlm_clip_decode(t, few, 3, small, sizeof small) == VLM_STATUS_INVALID_ARG && small[0] == 0, "decode into a small buffer");
    int32_t bad = 49408;
    char buf[16];
    CHECK(vlm_clip_decode(t, &bad, 1, buf, sizeof buf) == VLM_STATUS_INVALID_ARG, "decode of an id out of range");
}

static void test_long_prompt(struct vlm_clip_tokenizer * t) {
    const size_t size = 1u << 20;
    static const char * words[] = { "a photo of a dog", "groceries", "ON", "the", "kitchen's", "table,", "3.14",
                                    "caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "&amp;", "x!!", "supercalifragilistic" };
    char * text = malloc(size + 64);
    size_t n = 0;
    struct vlm_rng r = { 1 };
    while (n < size) {
        uint64_t rng = vlm_rng_next(&r);
        const char * w = words[(rng >> 33) % (sizeof words / sizeof words[0])];
        size_t l = strlen(w);
        memcpy(text + n, w, l);
        n += l;
        text[n++] = (rng >> 20) & 1 ? ' ' : '\n';
    }
    text[n] = 0;

    double t0 = now_s();
    int32_t * ids = NULL;
    int32_t n_ids = tok_all(t, text, &ids);   // tokenizes twice (count, then ids)
    double t1 = now_s();
    int32_t out[CTX];
    bool trunc = false;
    enum vlm_status s = vlm_clip_tokenize_context(t, text, out, true, &trunc);
    double t2 = now_s();
    CHECK(n_ids > 100000, "1 MB prompt: %d ids", n_ids);
    CHECK(s == VLM_STATUS_OK && trunc && out[0] == vlm_clip_tokenizer_sot(t) && out[CTX - 1] == vlm_clip_tokenizer_eot(t),
          "1 MB prompt truncates with EOT last");
    CHECK(n_ids > 75 && memcmp(out + 1, ids, 75 * sizeof(int32_t)) == 0, "truncated context = first 75 ids");
    CHECK(vlm_clip_tokenize_context(t, text, out, false, NULL) == VLM_STATUS_INVALID_ARG, "1 MB prompt without truncate fails");
    printf("1 MB prompt: %d ids; full tokenize x2 %.3f s, context %.3f s\n", n_ids, t1 - t0, t2 - t1);
    free(ids);

    // one 1 MB word (a single pre-token: BPE on a million symbols)
    memset(text, 'a', size);
    text[size] = 0;
    t0 = now_s();
    int32_t cnt = 0;
    s = vlm_clip_tokenize(t, text, NULL, 0, &cnt);
    t1 = now_s();
    // the 200-'a' fixture case is 24 x "aaaaaaaa" + a tail: the same 8-letter token repeats here
    CHECK(s == VLM_STATUS_OK && (size_t)cnt > size / 16 && (size_t)cnt < size, "1 MB word: %d ids", cnt);
    printf("1 MB single word: %d ids in %.3f s\n", cnt, t1 - t0);
    free(text);
}

// Several threads share one tokenizer (its BPE cache is shared): results must not change.
struct thread_job {
    struct vlm_clip_tokenizer * tok;
    const char *                text;
    const int32_t *             expect;
    int32_t                     n_expect;
    int                         mismatches;
};

static void * thread_main(void * arg) {
    struct thread_job * j = arg;
    for (int it = 0; it < 200; it++) {
        int32_t ids[512], n = 0;
        if (vlm_clip_tokenize(j->tok, j->text, ids, 512, &n) != VLM_STATUS_OK || n != j->n_expect ||
            memcmp(ids, j->expect, sizeof(int32_t) * (size_t)(n < 512 ? n : 512)) != 0)
            j->mismatches++;
    }
    return NULL;
}

static void test_threads(const char * bpe) {
    struct vlm_clip_tokenizer * t = NULL;   // a fresh tokenizer: an empty cache
    if (vlm_clip_tokenizer_load(bpe, &t) != VLM_STATUS_OK) { CHECK(0, "load: %s", vlm_last_error()); return; }
    static const char * texts[] = { "a photo of a dog and a cat on the kitchen table", "Ünïcödé lëttërs, 日本語 and emoji 🐶",
                                    "supercalifragilisticexpialidocious it's they're", "numbers 12345 &amp; more words here" };
    struct thread_job jobs[8];
    int32_t expect[4][512];
    pthread_t th[8];
    for (int i = 0; i < 4; i++) {
        int32_t n = 0;
        vlm_clip_tokenize(t, texts[i], expect[i], 512, &n);
        for (int k = 0; k < 2; k++) jobs[i * 2 + k] = (struct thread_job){ t, texts[i], expect[i], n, 0 };
    }
    vlm_clip_tokenizer_free(t);
    CHECK(vlm_clip_tokenizer_load(bpe, &t) == VLM_STATUS_OK, "reload");
    for (int i = 0; i < 8; i++) jobs[i].tok = t;
    for (int i = 0; i < 8; i++) pthread_create(&th[i], NULL, thread_main, &jobs[i]);
    int bad = 0;
    for (int i = 0; i < 8; i++) { pthread_join(th[i], NULL); bad += jobs[i].mismatches; }
    CHECK(bad == 0, "%d mismatching results from 8 threads", bad);
    vlm_clip_tokenizer_free(t);
}

static void test_bad_files(void) {
    struct vlm_clip_tokenizer * t = (struct vlm_clip_tokenizer *)1;
    CHECK(vlm_clip_tokenizer_load("/nonexistent/bpe.txt.gz", &t) == VLM_STATUS_IO && t == NULL, "missing file");
    const char * path = test_tmp_path("bpe.txt.gz");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        const char junk[] = "\x1f\x8b\x08\x00garbage that is not deflate data at all";
        CHECK(write(fd, junk, sizeof junk) == (ssize_t)sizeof junk, "write temp file");
        close(fd);
        t = (struct vlm_clip_tokenizer *)1;
        enum vlm_status s = vlm_clip_tokenizer_load(path, &t);
        CHECK(s == VLM_STATUS_BAD_MODEL && t == NULL, "corrupt gzip rejected (%s)", vlm_last_error());
        FILE * f = fopen(path, "wb");
        fputs("#version: 0.2\ni n\nt h\n", f);
        fclose(f);
        s = vlm_clip_tokenizer_load(path, &t);
        CHECK(s == VLM_STATUS_BAD_MODEL && t == NULL, "short merges file rejected (%s)", vlm_last_error());
    }
    {
        const char * dir = test_tmp_mkdir("bad");
        char vpath[600], mpath[600];
        t = (struct vlm_clip_tokenizer *)1;
        CHECK(vlm_clip_tokenizer_load(dir, &t) == VLM_STATUS_IO && t == NULL, "empty folder rejected");
        snprintf(vpath, sizeof vpath, "%s/vocab.json", dir);
        snprintf(mpath, sizeof mpath, "%s/merges.txt", dir);
        FILE * f = fopen(mpath, "wb");
        fputs("#version: 0.2\ni n\n", f);
        fclose(f);
        static const char * bad_json[] = { "[1, 2]", "{\"a\": -1}", "{\"a\": 1.5}", "{\"a\": \"x\"}", "{\"a\": 0", "{\"a\": 0}" };
        for (size_t i = 0; i < sizeof bad_json / sizeof bad_json[0]; i++) {
            f = fopen(vpath, "wb");
            fputs(bad_json[i], f);
            fclose(f);
            t = (struct vlm_clip_tokenizer *)1;
            enum vlm_status s = vlm_clip_tokenizer_load(dir, &t);
            CHECK(s == VLM_STATUS_BAD_MODEL && t == NULL, "bad vocab.json '%s' rejected (%d: %s)", bad_json[i], (int)s, vlm_last_error());
        }
    }
    vlm_clip_tokenizer_free(NULL);
}

int main(void) {
    test_tmp_dir("clip-tokenizer");
    test_bad_files();
    char bpe[4096];   // test_fixture() returns a static buffer
    snprintf(bpe, sizeof bpe, "%s", test_fixture("clip-tiny/bpe_simple_vocab_16e6.txt.gz"));
    struct stat sb;
    if (stat(bpe, &sb) != 0) SKIP("%s not found", bpe);
    struct vlm_clip_tokenizer * t = NULL;
    double t0 = now_s();
    if (vlm_clip_tokenizer_load(bpe, &t) != VLM_STATUS_OK) {
        CHECK(0, "load %s: %s", bpe, vlm_last_error());
        TEST_END();
    }
    printf("loaded the BPE in %.3f s\n", now_s() - t0);

    char dir[4096];
    snprintf(dir, sizeof dir, "%s", test_fixture("clip-tiny"));
    cJSON * root = test_fixture_json(dir, "cases.json", TEST_NEED_SKIP);
    const cJSON * cases = cJSON_GetObjectItem(root, "tokenizer");
    const cJSON * texts = cJSON_GetObjectItem(root, "texts");
    CHECK(cJSON_IsArray(cases) && cJSON_IsArray(texts), "cases.json has tokenizer and texts");
    if (cJSON_IsArray(cases)) test_cases_json(t, cases);
    if (cJSON_IsArray(cases)) test_hf_folder(t, bpe, cases);
    if (cJSON_IsArray(texts)) {
        struct vlm_safetensors * st = test_fixture_tensors(dir, "cases.safetensors", TEST_NEED_CHECK);
        if (st) test_text_tokens(t, texts, st);
        vlm_safetensors_close(st);
    }
    cJSON_Delete(root);

    test_cleaning(t);
    test_invalid_utf8(t);
    test_context(t);
    test_long_prompt(t);
    test_threads(bpe);
    vlm_clip_tokenizer_free(t);
    TEST_END();
}
