// smolvlm.h — SmolVLM as llama.cpp's libmtmd runs it: the image+text prompt of an idefics3
// projector (tiles in a grid, then the overview) and its decoding into a language-model
// session, image embedding rows in place of tokens.
#ifndef VLM_SMOLVLM_H
#define VLM_SMOLVLM_H
#include "vlm.h"

// The marker that stands for the image in a prompt text (libmtmd's default).
#define VLM_MEDIA_MARKER "<__media__>"

// A prompt's positions: ids, with -1 where the next image embedding row goes (rows are used
// in order: the grid_x * grid_y tiles row-major, then the overview, tokens_per_tile each).
struct vlm_image_prompt {
    int32_t * ids;
    int32_t   n;
    int32_t   n_image_rows;
};
void vlm_image_prompt_free(struct vlm_image_prompt * p);

// Builds the positions of `text`, which holds VLM_MEDIA_MARKER once, for an image cut into a
// grid_x x grid_y grid: each text part is tokenized on its own (special tokens parsed), the
// image becomes, per row r and column c, <fake_token_around_image> <row_r_col_c> + a tile's
// rows, "\n" after every row but the last, then "\n\n" <fake_token_around_image> <global-img>
// + the overview's rows + <fake_token_around_image>.
// ref: llama.cpp tools/mtmd/mtmd.cpp mtmd_tokenizer (PROJECTOR_TYPE_IDEFICS3, MTMD_SLICE_TMPL_IDEFICS3)
enum vlm_status vlm_idefics3_prompt(const struct vlm_model * text_model, const char * text, int32_t grid_x,
                                    int32_t grid_y, int32_t tokens_per_tile, struct vlm_image_prompt * out);

// Appends the prompt to a session: runs of ids decoded as tokens, runs of -1 as rows of
// image_embd [n_image_rows, n_embd] (row-major, in order).
enum vlm_status vlm_image_prompt_decode(struct vlm_llm_session * s, const struct vlm_image_prompt * p,
                                        const float * image_embd, int32_t n_embd);
#endif
