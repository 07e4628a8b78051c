// unicode-props.h — the Unicode text helpers the tokenizers need, without ICU: UTF-8 decoding,
// encoding and streaming repair, the \p{L} / \p{N} / \s classes of Python's `regex` module and
// of llama.cpp, Python's str.isspace() and str.lower(), and Python's html.unescape().
//
// Coverage: the tables in unicode-props-data.inc are generated from Python itself
// (language/gen-unicode-props.py) for ALL code points, not only common scripts:
//   - \p{L}, \p{N}, \s: as the `regex` module classifies them (684, 146 and 10 ranges);
//   - \p{L}, \p{N} of llama.cpp: general categories L* and N* of Unicode 15.1 (660 and 137
//     ranges); its \s is the same set as regex's;
//   - str.isspace(): \s plus U+001C..U+001F;
//   - str.lower(): every single-code-point mapping of CPython's database (181 runs), the one
//     multi-code-point mapping (U+0130 -> "i" U+0307) and the Final_Sigma rule for U+03A3
//     (lower-case final sigma U+03C2 at the end of a word), as CPython applies it;
//   - html.unescape(): all 2231 HTML5 named references (with and without ';', including the
//     longest-prefix rule for the legacy names without ';'), decimal and hexadecimal
//     references with Python's replacement table for invalid ones.
// Not covered: Unicode normalization (NFC/NFKC) and ftfy's other repairs.
#ifndef VLM_UNICODE_PROPS_H
#define VLM_UNICODE_PROPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VLM_UNICODE_REPLACEMENT 0xFFFDu

bool vlm_unicode_is_letter(uint32_t c);    // regex \p{L}
bool vlm_unicode_is_number(uint32_t c);    // regex \p{N}
bool vlm_unicode_is_space(uint32_t c);     // regex \s (the White_Space property)
bool vlm_unicode_is_pyspace(uint32_t c);   // Python str.isspace() (\s plus U+001C..U+001F)
// \p{L} and \p{N} of llama.cpp's BPE pre-tokenizers: general categories L* and N* of
// Unicode 15.1, the version of llama.cpp's src/unicode-data.cpp (its \s is vlm_unicode_is_space).
bool vlm_unicode_llama_is_letter(uint32_t c);
bool vlm_unicode_llama_is_number(uint32_t c);

// Decodes UTF-8 into code points. Every byte that is not part of a well-formed sequence
// (stray continuation bytes, truncated sequences, overlong forms, surrogates, > U+10FFFF)
// becomes one U+FFFD, so out needs room for n code points. Returns the count written.
size_t vlm_utf8_decode_lenient(const char * s, size_t n, uint32_t * out);
// Decodes UTF-8 as Python's bytes.decode('utf-8', errors='replace') does: each maximal
// subpart of an ill-formed sequence becomes one U+FFFD. out needs room for n code points.
size_t vlm_utf8_decode_replace(const uint8_t * s, size_t n, uint32_t * out);
// Writes the UTF-8 form of c (<= U+10FFFF, surrogates written as U+FFFD) into out; returns 1..4.
int    vlm_utf8_encode(uint32_t c, char out[4]);
// Strict check: true when s[0..n) is well-formed UTF-8.
bool   vlm_utf8_valid(const char * s, size_t n);

// Streaming UTF-8 repair, for printing token pieces as they arrive: each push writes the
// bytes that form complete characters, holds back a trailing sequence that the next piece may
// complete (at most 3 bytes), and replaces each ill-formed part by U+FFFD as Python's
// errors="replace" does. Start from a zeroed struct; finish emits U+FFFD for a held-back
// sequence that never completed. out needs room for VLM_UTF8_STREAM_MAX_OUT(n) bytes.
struct vlm_utf8_stream {
    uint8_t held[4];
    uint8_t n_held;
};
#define VLM_UTF8_STREAM_MAX_OUT(n) (3 * ((size_t)(n) + 4))
size_t vlm_utf8_stream_push(struct vlm_utf8_stream * s, const char * bytes, size_t n, char * out);
size_t vlm_utf8_stream_finish(struct vlm_utf8_stream * s, char * out);

// Python str.lower() of in[0..n) into out, which needs room for 2 * n code points (only
// U+0130 grows). Returns the count written. in and out must not overlap.
size_t vlm_unicode_lower(const uint32_t * in, size_t n, uint32_t * out);

// Python html.unescape() of in[0..n) into out (never longer than the input, so out needs
// room for n code points; in == out is allowed). Returns the count written.
size_t vlm_html_unescape(const uint32_t * in, size_t n, uint32_t * out);

#endif // VLM_UNICODE_PROPS_H
