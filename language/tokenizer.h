// tokenizer.h — the text tokenizers: OpenAI CLIP's (clip/simple_tokenizer.py SimpleTokenizer and
// clip.tokenize), ported exactly except for ftfy (see "Cleaning" below), and the byte-level BPE
// of GGUF text models (llama.cpp's gpt2 tokenizer, at the end of this file).
//
// Vocabulary: loaded from the original `bpe_simple_vocab_16e6.txt.gz` (merges lines
// 1..48894 after the header, as upstream's merges[1:49152-256-2+1]; a plain uncompressed copy
// works too) or from a Hugging Face folder with vocab.json + merges.txt. The vocab is built as
// upstream: the 256 byte characters of bytes_to_unicode(), the same + "</w>", the merges
// joined, "<|startoftext|>" (49406) and "<|endoftext|>" (49407) — 49408 entries.
//
// Encoding, as SimpleTokenizer.encode:
//   1. UTF-8 input. Invalid UTF-8: each byte that is not part of a well-formed sequence
//      (stray continuation, truncated sequence, overlong form, surrogate, > U+10FFFF)
//      becomes one U+FFFD, which then tokenizes like any other symbol.
//   2. Cleaning: html.unescape applied twice (all HTML5 named references, numeric ones with
//      Python's rules), strip, collapse runs of \s to one space, strip, then str.lower()
//      (full Unicode table, including U+0130 and the final-sigma rule).
//      NOT done: ftfy.fix_text (mojibake repair, NFC, quote uncurling, ligatures, width...),
//      which upstream runs first; text that ftfy would change may tokenize differently.
//   3. Pre-tokens by the upstream pattern (IGNORECASE)
//        <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//      with \p{L}, \p{N}, \s exactly as Python's `regex` module classifies every code point.
//   4. Byte-level BPE of each pre-token with "</w>" on the last symbol, merging the
//      lowest-ranked adjacent pair (all its occurrences, left to right) until none is left.
//      Results of short pre-tokens are cached (thread-safe).
// Unicode tables: see unicode-props.h.
#ifndef VLM_TOKENIZER_H
#define VLM_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vlm.h"

#define VLM_CLIP_CONTEXT_LENGTH 77
#define VLM_CLIP_N_MERGES       48894   // 49152 - 256 - 2

struct vlm_clip_tokenizer;

// Every tokenize call below refuses (VLM_STATUS_INVALID_ARG) a text of more than max_tokens
// tokens, counted without <start> / <end> and before any truncation to the context.
// Process-wide; 0 (the default): no limit but the text size (1 GiB).
void vlm_clip_set_max_tokens(int64_t max_tokens);

// path: the .txt.gz merges file, or a folder holding bpe_simple_vocab_16e6.txt.gz or
// vocab.json + merges.txt. On failure *out is NULL and vlm_last_error() names the problem.
enum vlm_status vlm_clip_tokenizer_load(const char * path, struct vlm_clip_tokenizer ** out);
void            vlm_clip_tokenizer_free(struct vlm_clip_tokenizer * tok);

int32_t vlm_clip_tokenizer_n_vocab(const struct vlm_clip_tokenizer * tok);   // 49408
int32_t vlm_clip_tokenizer_sot(const struct vlm_clip_tokenizer * tok);       // 49406
int32_t vlm_clip_tokenizer_eot(const struct vlm_clip_tokenizer * tok);       // 49407

// SimpleTokenizer.encode: the ids of text (UTF-8, NUL-terminated) without start / end
// tokens. Works like snprintf: writes the first min(total, max_ids) ids into ids (which may be
// NULL when max_ids is 0) and sets *n_ids to the total count.
enum vlm_status vlm_clip_tokenize(struct vlm_clip_tokenizer * tok, const char * text, int32_t * ids,
                                  int32_t max_ids, int32_t * n_ids);

// clip.tokenize(text, context_length=77, truncate): out = [SOT, ids..., EOT, 0, ...].
// When the text needs more than 75 ids: with truncate, out keeps the first 76 tokens and its
// last entry becomes EOT (*truncated = true); without, returns VLM_STATUS_INVALID_ARG (as
// upstream raises) and out is all zeros. truncated may be NULL.
enum vlm_status vlm_clip_tokenize_context(struct vlm_clip_tokenizer * tok, const char * text,
                                          int32_t out[VLM_CLIP_CONTEXT_LENGTH], bool truncate, bool * truncated);

// SimpleTokenizer.decode: concatenates the tokens' bytes, decodes UTF-8 with errors="replace"
// (one U+FFFD per maximal ill-formed subpart) and replaces "</w>" by " ". Writes a
// NUL-terminated UTF-8 string; fails with VLM_STATUS_INVALID_ARG (out = "") on an id out of
// range or when out_size is too small.
enum vlm_status vlm_clip_decode(const struct vlm_clip_tokenizer * tok, const int32_t * ids, int32_t n,
                                char * out, size_t out_size);

// ---- byte-level BPE of GGUF text models ----------------------------------------------------
//
// The `gpt2` tokenizer of llama.cpp (src/llama-vocab.cpp, tag b10573), built from a GGUF's
// metadata: tokenizer.ggml.{model, pre, tokens, token_type, merges}, the special token ids
// (bos, eos, eot, eom, unknown, seperator, padding, mask, fim_*), add_bos_token, add_eos_token.
// Encoding, as llama_tokenize:
//   1. With parse_special, the text is first split at the texts of the CONTROL, USER_DEFINED
//      and UNKNOWN tokens, longest first; without it only USER_DEFINED ones split it.
//   2. Each other fragment is pre-tokenized by the regexes that llama.cpp lists for
//      tokenizer.ggml.pre, implemented as code-point matchers with llama.cpp's Unicode 15.1
//      classes:
//        "smollm", "starcoder" and the names llama.cpp treats alike: \p{N} first, then GPT-2's
//          's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
//        "gpt-2" and its aliases: GPT-2's pattern alone;
//        "llama-bpe" (llama3, ...), "dbrx", "smaug-bpe", "glm4": llama 3's pattern
//          (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//          (the llama3 family also takes a pre-token that is a token whole and adds BOS by default);
//        "qwen2", "stablelm2", "hunyuan", ...: the same with \p{N} instead of \p{N}{1,3}.
//      Any other name, and a missing one (llama.cpp's "default"), is refused.
//   3. Each pre-token's bytes become GPT-2's byte characters, merged by the rank of
//      tokenizer.ggml.merges; a final symbol that is not a token falls back to its bytes.
// Where llama.cpp's result depends on hash-map or std::sort order, this takes the lower id:
// equal-length special texts that overlap in a text, and a vocab with several texts of one
// auto-detected kind (e.g. both "<|fim_pad|>" and "<fim_pad>"). Stricter than llama.cpp, which
// accepts them: a merge without a space or naming a text that is not a token, duplicate token
// texts (llama.cpp asserts), add_bos_token / add_eos_token without such a token.
// The EOG set is llama.cpp's: eos, eot, eom, fim_pad/rep/sep and the tokens whose text is one
// of its end-of-generation texts (<|endoftext|>, <|im_end|>, <end_of_utterance>, ...).

struct vlm_gguf;
struct vlm_bpe_vocab;

// Reads the tokenizer of an open GGUF. Errors (VLM_STATUS_BAD_MODEL, or
// VLM_STATUS_UNSUPPORTED for another tokenizer model or pre-tokenizer): *out NULL and
// vlm_last_error() names the problem. The vocab is immutable and may be shared by threads.
enum vlm_status vlm_bpe_vocab_load(const struct vlm_gguf * g, struct vlm_bpe_vocab ** out);
void            vlm_bpe_vocab_free(struct vlm_bpe_vocab * v);

int32_t vlm_bpe_n_vocab(const struct vlm_bpe_vocab * v);
int32_t vlm_bpe_bos(const struct vlm_bpe_vocab * v);   // -1 when the vocab has none
int32_t vlm_bpe_eos(const struct vlm_bpe_vocab * v);   // -1 when the vocab has none
// The id of the token whose text is exactly text (NUL-terminated, e.g. "<image>"); -1 if none.
int32_t vlm_bpe_token_id(const struct vlm_bpe_vocab * v, const char * text);
// End of generation (llama_vocab_is_eog); false for ids out of range.
bool    vlm_bpe_is_eog(const struct vlm_bpe_vocab * v, int32_t id);
// The EOG ids in increasing order; returns their count.
int32_t vlm_bpe_eog_ids(const struct vlm_bpe_vocab * v, const int32_t ** ids);

// llama_tokenize(text, add_special, parse_special): the ids of text[0..len), valid UTF-8
// (else VLM_STATUS_INVALID_ARG). add_special adds BOS / EOS where the vocab asks for them
// (add_bos_token, add_eos_token). *ids is malloc'd (the caller frees it; NULL when empty).
enum vlm_status vlm_bpe_tokenize(const struct vlm_bpe_vocab * v, const char * text, size_t len, bool add_special,
                                 bool parse_special, int32_t ** ids, int32_t * n_ids);

// llama_token_to_piece(id, lstrip 0, special): the bytes a token stands for (byte characters
// decoded; CONTROL and UNKNOWN tokens as their text when render_special, else empty;
// USER_DEFINED ones always as their text). Points into the vocab; *len bytes, not
// NUL-terminated. NULL with *len = 0 for an id out of range. A piece may end inside a UTF-8
// character: see vlm_utf8_stream in unicode-props.h.
const char * vlm_bpe_token_piece(const struct vlm_bpe_vocab * v, int32_t id, bool render_special, size_t * len);

#endif // VLM_TOKENIZER_H
