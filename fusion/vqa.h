// vqa.h — visual question answering with a SmolVLM pair (text GGUF + mmproj GGUF): the image
// encoded once (its embeddings cached by content), each question put into the idefics3 prompt
// and answered, reusing the KV state of the prompt prefix the questions share (the image).
//
//     struct vlm_vqa * q = NULL;
//     vlm_vqa_new(text_model, vision, NULL, &q);
//     vlm_vqa_set_image(q, &image);
//     vlm_vqa_ask(q, "What do you see?", sampler, &gen_params, &answer);   // encodes, prompts, generates
//     vlm_vqa_ask(q, "What colour is it?", sampler, &gen_params, &answer2);  // only the new text runs
#ifndef VLM_VQA_H
#define VLM_VQA_H
#include "smolvlm-vision.h"
#include "smolvlm.h"

// Tiles by default in the commands and the server: with SmolVLM-256M a 512-pixel tile costs
// about 214 GFLOP in the vision tower (1.5-3 s on a 2-core CPU), so one tile plus the overview
// keeps a photo's first token within a few seconds; llama.cpp's tiling (max_tiles 0) makes 13
// tiles of an 800x534 photo.
#define VLM_VQA_DEFAULT_MAX_TILES 1

struct vlm_vqa_params {
    struct vlm_smolvlm_tiling tiling;     // zeroed: llama.cpp's tiling
    int32_t                   n_ctx;      // 0: the text model's context
    const char *              cache_dir;  // NULL, or a folder for image embeddings on disk
    bool                      keep_tensors;   // keep tiles, prompt ids and the prompt's logits
    int32_t                   n_recent;   // embeddings of this many earlier images kept in memory
};

struct vlm_vqa_timings {
    double image_ms;          // preprocess + encode (0 when the embeddings came from a cache)
    double prompt_ms;         // prompt evaluation of the last question
    double first_token_ms;    // from the question to its first token's logits: image + prompt
    double generate_ms;
    int32_t prompt_tokens;    // positions evaluated for the last question (after the reused prefix)
    int32_t reused_tokens;    // positions taken from the previous prompt's KV state
    bool    image_cached;
};

struct vlm_vqa;
enum vlm_status vlm_vqa_new(struct vlm_model * text_model, struct vlm_smolvlm_vision * vision,
                            const struct vlm_vqa_params * params, struct vlm_vqa ** out);
void            vlm_vqa_free(struct vlm_vqa * q);
// Sets the image; encoding happens at the first question (or comes from the cache).
enum vlm_status vlm_vqa_set_image(struct vlm_vqa * q, const struct vlm_image * image);
// Answers a question (UTF-8, not empty) about the current image: vlm_vqa_prompt with one user
// message (the image marker, then the question) and vlm_vqa_generate.
enum vlm_status vlm_vqa_ask(struct vlm_vqa * q, const char * question, struct vlm_sampler * sampler,
                            const struct vlm_generate_params * gen, struct vlm_generation * out);
// A conversation in the model's chat format (vlm_llm_chat_format, the assistant's turn opened):
// VLM_MEDIA_MARKER, at most once in all contents, stands for the current image; without it the
// prompt is text only. Decodes the prompt (reusing the KV state of the previous one's shared
// prefix); a prompt that does not fit the context is VLM_STATUS_INVALID_ARG.
enum vlm_status vlm_vqa_prompt(struct vlm_vqa * q, const struct vlm_chat_message * messages, int32_t n_messages);
// Generates the answer to the last prompt; max_tokens is cut to what the context holds.
enum vlm_status vlm_vqa_generate(struct vlm_vqa * q, struct vlm_sampler * sampler, const struct vlm_generate_params * gen,
                                 struct vlm_generation * out);
const struct vlm_vqa_timings * vlm_vqa_timings(const struct vlm_vqa * q);

// With keep_tensors, after a question: the tiles, the image embeddings, the prompt and the
// logits at its last position (for --save-tensors; the fixtures' names).
struct vlm_vqa_tensors {
    const struct vlm_smolvlm_tiles * tiles;
    const float *                    image_embd;   // [n_image_rows, n_embd]
    int32_t                          n_image_rows, n_embd;
    const struct vlm_image_prompt *  prompt;
    const float *                    logits_last;  // [n_vocab]
    int32_t                          n_vocab;
};
bool vlm_vqa_tensors(const struct vlm_vqa * q, struct vlm_vqa_tensors * out);
#endif
