// vqa-batch.h — `vlm ask --batch` (apps/cmd-vqa.c): the options `vlm ask` parsed for it.
#ifndef VLM_VQA_BATCH_H
#define VLM_VQA_BATCH_H
#include "vqa.h"

struct vlm_ask_batch {
    const char *              input;        // a JSONL file or a folder of images
    const char *              output;       // the answers JSONL (appended, resumable); NULL: stdout
    const char *              question;     // the folder's question; a JSONL line's when it has none
    int32_t                   shard, n_shards;   // lines with index % n_shards == shard - 1
    const char *              text_path, * mmproj_path;
    struct vlm_model_params   mp;
    struct vlm_sampler_params sp;
    struct vlm_vqa_params     vp;
    int32_t                   max_tokens;
};
// Runs the batch; returns the exit code (0, or 1 when a line or the run failed).
int vlm_ask_batch_run(const struct vlm_ask_batch * b);
#endif
