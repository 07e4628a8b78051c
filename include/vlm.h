// vlm.h — the public API of vlm: local vision-language and segmentation models
// (Segment Anything, CLIP) on Vulkan compute shaders, with a CPU backend as reference.
//
// Usage (segment an object with one click):
//
//     struct vlm_model * model = NULL;
//     struct vlm_model_params mp = vlm_model_default_params();
//     if (vlm_model_load("sam_vit_b.safetensors", &mp, &model) != VLM_STATUS_OK) { ... vlm_last_error() ... }
//     struct vlm_image img;
//     vlm_image_load("dog.jpg", &img);
//     struct vlm_sam_session * s = NULL;
//     vlm_sam_session_new(model, &s);
//     vlm_sam_set_image(s, &img);                       // runs the image encoder once
//     struct vlm_point pt = { 320.0f, 290.0f, 1 };
//     struct vlm_sam_prompt prompt = { .points = &pt, .n_points = 1, .multimask_output = true };
//     struct vlm_masks masks;
//     vlm_sam_predict(s, &prompt, &masks);              // cheap: reuses the embedding
//     ...
//     vlm_masks_free(&masks); vlm_sam_session_free(s); vlm_image_free(&img); vlm_model_free(model);
//
// Ownership: fixed-size outputs go into caller buffers; variable-size outputs are allocated
// by the library and released by the matching _free; every _free accepts NULL (or a zeroed
// struct). Strings returned by getters belong to the library.
// Errors: functions return enum vlm_status; vlm_last_error() gives a one-line message for the
// calling thread's last failure.
// Threads: a vlm_model is immutable after load; a session must be used by one thread at a time.
#ifndef VLM_H
#define VLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum vlm_status {
    VLM_STATUS_OK            = 0,
    VLM_STATUS_INVALID_ARG   = -1,   // a bad argument or prompt
    VLM_STATUS_IO            = -2,   // file missing, unreadable or unwritable
    VLM_STATUS_BAD_MODEL     = -3,   // malformed model file, missing tensor, wrong shape or kind
    VLM_STATUS_BAD_IMAGE     = -4,   // corrupt, truncated, unsupported or too large image
    VLM_STATUS_OUT_OF_MEMORY = -5,   // host memory
    VLM_STATUS_DEVICE_OOM    = -6,   // device memory
    VLM_STATUS_DEVICE_LOST   = -7,
    VLM_STATUS_UNSUPPORTED   = -8,   // e.g. a CLIP call on a SAM model, Vulkan asked for but absent
    VLM_STATUS_NON_FINITE    = -9,   // NaN or Inf in weights or outputs
};

enum vlm_backend_type { VLM_BACKEND_AUTO = 0, VLM_BACKEND_CPU, VLM_BACKEND_VULKAN };

const char * vlm_version(void);
const char * vlm_status_str(enum vlm_status status);
// The calling thread's last error message ("" when none).
const char * vlm_last_error(void);
// Parses "cpu", "vulkan" or "auto"; returns false on anything else.
bool         vlm_backend_parse(const char * name, enum vlm_backend_type * out);

// ---- images ----------------------------------------------------------------------------
// 8-bit interleaved RGB (channels == 3), top-left first, no row padding.
struct vlm_image {
    int32_t   width, height, channels;
    uint8_t * data;
};
// Largest image accepted by the decoders (width * height); change with vlm_image_set_max_pixels.
#define VLM_IMAGE_DEFAULT_MAX_PIXELS (64LL * 1024 * 1024)
void            vlm_image_set_max_pixels(int64_t max_pixels);
// Decodes PNG, JPEG (EXIF orientation applied), WebP, BMP, GIF, TGA to RGB as PIL's
// convert('RGB') does: alpha is dropped, gray is replicated.
enum vlm_status vlm_image_load(const char * path, struct vlm_image * out);
enum vlm_status vlm_image_decode(const uint8_t * bytes, size_t n, struct vlm_image * out);
// Writes an 8-bit PNG with 1 (gray), 3 (RGB) or 4 (RGBA) channels, atomically (temp + rename).
enum vlm_status vlm_png_write(const char * path, const uint8_t * pixels, int32_t width, int32_t height, int32_t channels);
// The same PNG in memory: malloc'd bytes, *n_out of them; NULL on failure (vlm_last_error).
uint8_t *       vlm_png_encode(const uint8_t * pixels, int32_t width, int32_t height, int32_t channels, size_t * n_out);
void            vlm_image_free(struct vlm_image * image);

// ---- models ----------------------------------------------------------------------------
enum vlm_model_kind { VLM_MODEL_UNKNOWN = 0, VLM_MODEL_SAM, VLM_MODEL_CLIP, VLM_MODEL_LLAMA };

// How the linear layers' weights of a safetensors / PyTorch model are kept in memory (GGUF
// files keep their stored types): AUTO (the default) as stored when that is F16 or BF16, else
// F32; F32 always; F16 (half the memory of F32) or Q8_0 (llama.cpp's 8-bit blocks, about a
// quarter; multiplied in 8-bit integers on CPUs with AVX512-VNNI). Converting F32 weights to F16
// or Q8_0 changes the results slightly.
enum vlm_weight_type { VLM_WEIGHTS_AUTO = 0, VLM_WEIGHTS_F32, VLM_WEIGHTS_F16, VLM_WEIGHTS_Q8_0 };

struct vlm_model_params {
    enum vlm_backend_type backend;   // AUTO: Vulkan if a device works, else CPU
    int32_t               device_index; // Vulkan device, -1 = best
    int32_t               n_threads;    // CPU threads, 0 = all cores
    enum vlm_weight_type  weights;      // linear weights of safetensors / PyTorch models
};
struct vlm_model_params vlm_model_default_params(void);

// A model is its weights and configuration, read-only after load: several threads may use one
// model at once (each call borrows a compute context: its activation arena and command
// recording, made on demand on the same device), each with its own sessions. A session (SAM's
// image, the language model's KV cache) is used by one thread at a time.
struct vlm_model;
// Loads a model file (.safetensors or .gguf) or a directory holding model.safetensors
// (+ config.json). The architecture is inferred from the tensor names and shapes (safetensors)
// or general.architecture (GGUF: "llama" text decoders).
enum vlm_status     vlm_model_load(const char * path, const struct vlm_model_params * params, struct vlm_model ** out);
void                vlm_model_free(struct vlm_model * model);
enum vlm_model_kind vlm_model_kind(const struct vlm_model * model);
const char *        vlm_model_backend_name(const struct vlm_model * model);   // "cpu", "vulkan (...)"

// ---- CLIP ----
// Images and texts mapped into CLIP's joint embedding space (OpenAI CLIP ViT models, with
// OpenAI or HF transformers tensor names). Features are vlm_clip_embed_dim() floats; the
// cosine of an image and a text feature times vlm_clip_logit_scale() is CLIP's logit.
//
//     float img[512], txt[2][512], probs[2];
//     vlm_clip_encode_image(model, &image, NULL, img, 512);            // L2-normalized
//     const char * texts[2] = { "a photo of a dog", "a photo of a cat" };
//     vlm_clip_encode_texts(model, texts, 2, NULL, &txt[0][0], 2 * 512, NULL);
//     const char * labels[2] = { "dog", "cat" };
//     vlm_clip_classify(model, &image, labels, 2, "a photo of a {}.", probs);
//
// Text must be valid UTF-8 (anything else is refused with VLM_STATUS_INVALID_ARG). It is
// cleaned and tokenized as clip.tokenize does (html-unescaped twice, whitespace collapsed,
// lower-cased; ftfy's mojibake repair is not done) into <start> tokens <end>, zero-padded to
// the context (77). Longer texts keep <start>, their first context-2 tokens and <end>
// (truncate = true, reported through `truncated`), or fail with VLM_STATUS_INVALID_ARG.
// All calls fail with VLM_STATUS_UNSUPPORTED on a model that is not CLIP. Several threads may
// call them on one model at once.
struct vlm_clip_params {
    bool normalize;   // L2-normalize features (default true); false: raw encode_image / encode_text
    bool truncate;    // over-long texts: true (default) truncate, false refuse
};
struct vlm_clip_params vlm_clip_default_params(void);

int32_t vlm_clip_embed_dim(const struct vlm_model * model);       // 0 when not CLIP
int32_t vlm_clip_image_size(const struct vlm_model * model);      // input resolution, e.g. 224
int32_t vlm_clip_context_length(const struct vlm_model * model);  // tokens per text, e.g. 77
// exp(logit_scale): the factor CLIP applies to cosine similarities (100 for the released
// models); 0 when not CLIP.
float   vlm_clip_logit_scale(const struct vlm_model * model);

// params: NULL = vlm_clip_default_params(). n_out: floats available at out; must be at least
// embed_dim (times the count for the batched forms). Batches run as one forward per chunk.
enum vlm_status vlm_clip_encode_image(struct vlm_model * model, const struct vlm_image * image,
                                      const struct vlm_clip_params * params, float * out, size_t n_out);
enum vlm_status vlm_clip_encode_images(struct vlm_model * model, const struct vlm_image * images, int32_t n_images,
                                       const struct vlm_clip_params * params, float * out, size_t n_out);
// truncated: NULL, or receives whether the text was cut (one flag per text for the batch form).
enum vlm_status vlm_clip_encode_text(struct vlm_model * model, const char * text, const struct vlm_clip_params * params,
                                     float * out, size_t n_out, bool * truncated);
enum vlm_status vlm_clip_encode_texts(struct vlm_model * model, const char * const * texts, int32_t n_texts,
                                      const struct vlm_clip_params * params, float * out, size_t n_out,
                                      bool * truncated);

// The stages on their own. preprocess: Resize(S, bicubic) on the shorter side, CenterCrop(S),
// normalize: out [3, S, S] (S = vlm_clip_image_size). tokenize: out [context] int32 ids.
enum vlm_status vlm_clip_preprocess_image(const struct vlm_model * model, const struct vlm_image * image,
                                          float * out, size_t n_out);
enum vlm_status vlm_clip_tokenize_text(const struct vlm_model * model, const char * text, bool truncate, int32_t * out,
                                       size_t n_out, bool * truncated);
// pixels [n, 3, S, S] -> out [n, embed_dim]; tokens [n, context] -> out [n, embed_dim].
enum vlm_status vlm_clip_encode_pixels(struct vlm_model * model, const float * pixels, int32_t n,
                                       const struct vlm_clip_params * params, float * out, size_t n_out);
enum vlm_status vlm_clip_encode_tokens(struct vlm_model * model, const int32_t * tokens, int32_t n,
                                       const struct vlm_clip_params * params, float * out, size_t n_out);

// Zero-shot classification: probs[i] = softmax_i(logit_scale * cos(image, text_i)), where
// text_i is template_ with "{}" replaced by labels[i] (template_ NULL: "a photo of a {}.";
// a template without "{}" is an error). Over-long label texts are truncated.
enum vlm_status vlm_clip_classify(struct vlm_model * model, const struct vlm_image * image, const char * const * labels,
                                  int32_t n_labels, const char * template_, float * probs);
// ---- end CLIP ----

// ---- language models ----
// Llama-family text decoders (SmolLM2, SmolVLM's text model) from llama.cpp GGUF files, with
// their byte-level BPE tokenizer. A session holds one conversation's KV cache: each decode
// call appends tokens (or embedding rows, e.g. an image's) at the next positions and leaves
// the logits of the last one; rewinding keeps a shared prefix for the next turn.
//
//     int32_t * ids = NULL, n = 0;
//     vlm_llm_tokenize(model, "The capital of France is", true, &ids, &n);
//     struct vlm_llm_session * s = NULL;
//     vlm_llm_session_new(model, NULL, &s);
//     vlm_llm_decode(s, ids, n);
//     struct vlm_sampler * smp = NULL;
//     vlm_sampler_new(NULL, &smp);                        // greedy
//     for (int i = 0; i < 32; i++) {
//         int32_t id = vlm_sampler_sample(smp, vlm_llm_logits(s), vlm_llm_n_vocab(model));
//         if (vlm_llm_is_eog(model, id)) break;
//         char piece[256];
//         fwrite(piece, 1, vlm_llm_token_piece(model, id, piece, sizeof piece), stdout);
//         vlm_llm_decode(s, &id, 1);
//     }
//     vlm_sampler_free(smp); vlm_llm_session_free(s); free(ids);
int32_t vlm_llm_n_vocab(const struct vlm_model * model);      // 0 when not a language model
int32_t vlm_llm_n_embd(const struct vlm_model * model);
int32_t vlm_llm_n_ctx_train(const struct vlm_model * model);  // the context the model was trained for
// Text (valid UTF-8) to ids; parse_special: special-token texts ("<|im_start|>") map to their
// ids, else they are tokenized as plain text. *ids is malloc'd (free()). No BOS is added
// unless the file says so (tokenizer.ggml.add_bos_token).
enum vlm_status vlm_llm_tokenize(const struct vlm_model * model, const char * text, bool parse_special, int32_t ** ids,
                                 int32_t * n_ids);
// The bytes of one token (special tokens render as their text); returns the length, which
// may exceed cap (then nothing past cap is written). A piece can end inside a UTF-8 sequence.
size_t  vlm_llm_token_piece(const struct vlm_model * model, int32_t id, char * out, size_t cap);
// The id of a token by its exact text, -1 if none.
int32_t vlm_llm_token_id(const struct vlm_model * model, const char * text);
bool    vlm_llm_is_eog(const struct vlm_model * model, int32_t id);   // end-of-generation tokens

struct vlm_llm_session_params {
    int32_t n_ctx;        // most positions the session may hold (0: the model's training context);
                          // the KV cache grows as positions are used
    bool    logits_all;   // keep the logits of every position of the last decode call
};
struct vlm_llm_session_params vlm_llm_session_default_params(void);
struct vlm_llm_session;
enum vlm_status vlm_llm_session_new(const struct vlm_model * model, const struct vlm_llm_session_params * params,
                                    struct vlm_llm_session ** out);
void            vlm_llm_session_free(struct vlm_llm_session * s);
// Appends n tokens (ids checked against the vocabulary) or n embedding rows ([n, n_embd]
// floats) at positions n_past .. n_past + n - 1. Fails with VLM_STATUS_INVALID_ARG when the
// context would overflow n_ctx.
enum vlm_status vlm_llm_decode(struct vlm_llm_session * s, const int32_t * ids, int32_t n);
enum vlm_status vlm_llm_decode_embd(struct vlm_llm_session * s, const float * embd, int32_t n);
// Logits [n_vocab] of the last decoded position (NULL before the first decode); with
// logits_all, row i of the last call is at vlm_llm_logits(s) - (n - 1 - i) * n_vocab.
const float *   vlm_llm_logits(const struct vlm_llm_session * s);
int32_t         vlm_llm_n_past(const struct vlm_llm_session * s);
// Forgets every position from n_past on (0 <= n_past <= current), keeping the cache before it.
enum vlm_status vlm_llm_rewind(struct vlm_llm_session * s, int32_t n_past);

// Sampling, in llama.cpp's order: repetition penalty over the last repeat_last_n accepted
// tokens, top-k, top-p, min-p, temperature, then a draw from the seeded generator.
// temperature <= 0 is greedy (argmax, first index on ties).
struct vlm_sampler_params {
    float    temperature;     // 0.8 in llama.cpp's CLI; the default here is 0 (greedy)
    int32_t  top_k;           // 40; <= 0 disables
    float    top_p;           // 0.95; >= 1 disables
    float    min_p;           // 0.05; <= 0 disables
    float    repeat_penalty;  // 1.0 (off)
    int32_t  repeat_last_n;   // 64
    uint64_t seed;
};
struct vlm_sampler_params vlm_sampler_default_params(void);
struct vlm_sampler;
enum vlm_status vlm_sampler_new(const struct vlm_sampler_params * params, struct vlm_sampler ** out);
void            vlm_sampler_free(struct vlm_sampler * s);
// Picks a token from logits [n_vocab] and records it for the repetition penalty.
int32_t         vlm_sampler_sample(struct vlm_sampler * s, const float * logits, int32_t n_vocab);
// Records tokens that were not sampled (the prompt) for the repetition penalty.
void            vlm_sampler_accept(struct vlm_sampler * s, const int32_t * ids, int32_t n);
// Generation: samples up to max_tokens tokens after what the session holds, feeding each back,
// and stops after an end-of-generation token (recorded in ids, not in the text), at
// max_tokens, or when the text contains a stop string (the text ends before it). on_text, when
// set, receives the text as it is produced, in valid UTF-8 pieces (held back while a piece
// could still become a stop string or completes a character); returning false stops early.
struct vlm_generate_params {
    int32_t               max_tokens;   // > 0
    const char * const *  stop;         // NULL or n_stop strings
    int32_t               n_stop;
    bool                (*on_text)(const char * text, size_t len, void * user);
    void *                user;
};
enum vlm_stop_reason { VLM_STOP_EOG = 0, VLM_STOP_MAX_TOKENS, VLM_STOP_STRING, VLM_STOP_CALLBACK };
struct vlm_generation {
    int32_t *            ids;       // generated ids, the final end-of-generation id included
    int32_t              n_ids;
    char *               text;      // NUL-terminated UTF-8 (invalid bytes as U+FFFD)
    size_t               text_len;
    enum vlm_stop_reason stop_reason;
};
enum vlm_status vlm_llm_generate(struct vlm_llm_session * s, struct vlm_sampler * sampler,
                                 const struct vlm_generate_params * params, struct vlm_generation * out);
void            vlm_generation_free(struct vlm_generation * g);
// Chat prompts in the model's format, chosen from its tokenizer.chat_template as llama.cpp's
// built-in formats do without Jinja (llm_chat_detect_template): "smolvlm" for SmolVLM's
// template, "chatml" for <|im_start|> templates and files without one. roles: "system",
// "user", "assistant". add_assistant opens the assistant's turn. *out is malloc'd (free()).
struct vlm_chat_message {
    const char * role;
    const char * content;
};
enum vlm_status vlm_llm_chat_format(const struct vlm_model * model, const struct vlm_chat_message * messages,
                                    int32_t n_messages, bool add_assistant, char ** out);
// ---- end language models ----

// ---- Segment Anything ----
// Prompts are in original image pixel coordinates (as SamPredictor.predict takes them).
struct vlm_point {
    float   x, y;
    int32_t label;                 // 1 = foreground (positive), 0 = background (negative)
};
struct vlm_box {
    float x0, y0, x1, y1;          // XYXY, x0 <= x1, y0 <= y1, inside the image
};
// A model's sizes come from its tensor shapes (and config.json): the released ViT-B/L/H take
// 1024x1024 inputs and make a [256, 64, 64] embedding and 256x256 low-res logits; other
// checkpoints differ. Each getter returns 0 when the model is not SAM.
int32_t vlm_sam_input_size(const struct vlm_model * model);      // S: encoder input side (ResizeLongestSide target)
int32_t vlm_sam_embed_dim(const struct vlm_model * model);       // C: image embedding channels
int32_t vlm_sam_embedding_size(const struct vlm_model * model);  // G: image embedding side (S / patch)
int32_t vlm_sam_low_res_size(const struct vlm_model * model);    // L: low-res logits / mask_input side (4 G)
// EfficientSAM: the image is stretched to the S x S input (no longest-side resize, no padding,
// so no uint8 "resized" image), a prompt has at most vlm_sam_max_points points (a box counts as
// two) and no mask input. SAM, MobileSAM, SlimSAM: false and 0 (no limit).
bool    vlm_sam_stretches_input(const struct vlm_model * model);
int32_t vlm_sam_max_points(const struct vlm_model * model);
// L of the released checkpoints only; kept for old callers: use vlm_sam_low_res_size(model).
#define VLM_SAM_LOW_RES 256
struct vlm_sam_prompt {
    const struct vlm_point * points;   // NULL when n_points == 0
    int32_t                  n_points;
    const struct vlm_box *   box;      // NULL = no box
    const float *            mask_input; // [L * L] low-res logits of a previous prediction, NULL = none
    bool                     multimask_output; // true: the 3 multimask outputs; false: the single mask
};
// Masks of one prompt. Release with vlm_masks_free.
struct vlm_masks {
    int32_t   n_masks, width, height;   // width x height = the original image size
    uint8_t * masks;                    // [n_masks, height, width], 1 inside (logit > 0), else 0
    float *   iou;                      // [n_masks] predicted IoU
    float *   low_res_logits;           // [n_masks, L, L], usable as the next mask_input
    int32_t   low_res_size;             // L (vlm_sam_low_res_size of the model)
};
void vlm_masks_free(struct vlm_masks * masks);

// A session holds one image's embedding; prompts on it are cheap.
struct vlm_sam_session;
enum vlm_status vlm_sam_session_new(const struct vlm_model * model, struct vlm_sam_session ** out);
void            vlm_sam_session_free(struct vlm_sam_session * s);
// Runs the image encoder (ResizeLongestSide(S) with PIL bilinear, normalize, pad, ViT, neck).
enum vlm_status vlm_sam_set_image(struct vlm_sam_session * s, const struct vlm_image * image);
// Saves / loads the embedding as safetensors: image_embeddings [1, C, G, G] F32,
// original_size and input_size I32 [2] (H, W). Loading checks the model's width.
enum vlm_status vlm_sam_save_embedding(const struct vlm_sam_session * s, const char * path);
enum vlm_status vlm_sam_load_embedding(struct vlm_sam_session * s, const char * path);
// Original (width, height) of the current image; false when none is set.
bool            vlm_sam_image_size(const struct vlm_sam_session * s, int32_t * width, int32_t * height);
// Predicts masks for one prompt (SamPredictor.predict). Invalid prompts give
// VLM_STATUS_INVALID_ARG: labels other than 0/1, a box with x0 > x1 or y0 > y1 or outside
// the image, points outside the image, or no prompt at all (a mask_input alone is allowed).
enum vlm_status vlm_sam_predict(struct vlm_sam_session * s, const struct vlm_sam_prompt * prompt, struct vlm_masks * out);
// The checks vlm_sam_predict makes of a prompt's points and box against a width x height image
// (labels 0/1, inside the image), without a model: to refuse a bad prompt before encoding.
enum vlm_status vlm_sam_check_prompt(const struct vlm_sam_prompt * prompt, int32_t width, int32_t height);
// Several prompts in batched decoder calls; out[n] (each freed with vlm_masks_free).
enum vlm_status vlm_sam_predict_batch(struct vlm_sam_session * s, const struct vlm_sam_prompt * prompts, int32_t n,
                                      struct vlm_masks * out);
// Stage-by-stage access for tests and tools: name "image_embeddings" ([1, C, G, G] F32) or
// "resized" ([H, W, 3] U8 as bytes). Copies up to capacity bytes; *size receives the byte size.
enum vlm_status vlm_sam_session_get_tensor(const struct vlm_sam_session * s, const char * name, void * out,
                                           size_t capacity, size_t * size);

// Automatic mask generation (SamAutomaticMaskGenerator); defaults mirror upstream's.
struct vlm_sam_everything_params {
    int32_t points_per_side;            // 32
    int32_t points_per_batch;           // 64
    float   pred_iou_thresh;            // 0.88 (kept when iou > thresh; <= 0 disables)
    float   stability_score_thresh;     // 0.95 (kept when score >= thresh; <= 0 disables)
    float   stability_score_offset;     // 1.0
    float   box_nms_thresh;             // 0.7
    int32_t crop_n_layers;              // 0
    float   crop_nms_thresh;            // 0.7
    float   crop_overlap_ratio;         // 512 / 1500
    int32_t crop_n_points_downscale_factor; // 1
    int32_t min_mask_region_area;       // 0 (> 0: remove small holes and islands)
    // NULL, or called after each batch of points with the points decoded so far and the
    // total over all crops (from the calling thread)
    void  (*progress)(void * user, int32_t done, int32_t total);
    void *  progress_user;
};
struct vlm_sam_everything_params vlm_sam_everything_default_params(void);
struct vlm_sam_annotation {
    uint8_t * segmentation;             // [height, width] 0/1
    int64_t   area;                     // pixels in the mask
    int32_t   bbox[4];                  // XYWH of the inclusive XYXY box (w = x_max - x_min)
    float     predicted_iou;
    float     stability_score;
    float     point_coords[2];          // the grid point (x, y) in image pixels
    int32_t   crop_box[4];              // XYWH
};
struct vlm_sam_everything_result {
    int32_t                     n_masks, width, height;
    struct vlm_sam_annotation * masks;  // in upstream's output order
    // What the filters removed, in the order they run (to explain an empty result): of
    // n_candidates (grid points x multimask outputs, over all crops), predicted IoU not above
    // pred_iou_thresh, stability score below stability_score_thresh, touching a crop edge,
    // then duplicates removed by box NMS (within and between crops, after small regions).
    int32_t                     n_candidates, n_low_iou, n_unstable, n_crop_edge, n_duplicates;
};
// Segments everything on an image (runs the encoder on each crop; the session's image is
// left set to the full image).
enum vlm_status vlm_sam_everything(struct vlm_sam_session * s, const struct vlm_image * image,
                                   const struct vlm_sam_everything_params * params,
                                   struct vlm_sam_everything_result * out);
void            vlm_sam_everything_result_free(struct vlm_sam_everything_result * r);
// The tight box of a binary mask as XYXY with inclusive max ([0, 0, 0, 0] when empty, as
// amg.py batched_mask_to_box) into box; returns the area (number of set pixels).
int64_t         vlm_mask_box(const uint8_t * mask, int32_t width, int32_t height, int32_t box[4]);
// Uncompressed COCO RLE of a [height, width] 0/1 mask in column-major (Fortran) order as
// pycocotools writes it: counts alternate runs of 0 and 1, starting with 0s. *counts is
// malloc'd (free()), *n_counts its length.
enum vlm_status vlm_mask_to_rle(const uint8_t * mask, int32_t width, int32_t height, int64_t ** counts,
                                int64_t * n_counts);
// ---- end Segment Anything ----

#ifdef __cplusplus
}
#endif
#endif // VLM_H
