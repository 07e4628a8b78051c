// chat.c — chat prompts in llama.cpp's built-in formats (no Jinja), picked from the
// template text of tokenizer.chat_template.
// ref: llama.cpp src/llama-chat.cpp (llm_chat_detect_template, llm_chat_apply_template)
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "gguf-meta.h"
#include "llama.h"
#include "model.h"

enum chat_format { CHAT_CHATML, CHAT_SMOLVLM };

static bool append(char ** p, size_t * len, size_t * cap, const char * s) {
    size_t n = strlen(s), need;
    if (!vlm_add_size(*len, n + 1, &need)) return false;
    if (need > *cap) {
        size_t c;
        if (!vlm_grow_size(*cap, need, 256, &c)) return false;
        char * q = realloc(*p, c);
        if (!q) return false;
        *p = q;
        *cap = c;
    }
    memcpy(*p + *len, s, n + 1);
    *len += n;
    return true;
}

// ref: llama-chat.cpp llm_chat_detect_template (the <|im_start|> branch)
static enum vlm_status detect(const char * tmpl, enum chat_format * out) {
    if (!tmpl || strstr(tmpl, "<|im_start|>")) {
        if (tmpl && strstr(tmpl, "<|im_sep|>"))
            return vlm_error(VLM_STATUS_UNSUPPORTED, "chat template 'phi4' is not supported");
        *out = tmpl && strstr(tmpl, "<end_of_utterance>") ? CHAT_SMOLVLM : CHAT_CHATML;
        return VLM_STATUS_OK;
    }
    return vlm_error(VLM_STATUS_UNSUPPORTED, "the model's chat template is not one vlm knows (supported: chatml, smolvlm)");
}

enum vlm_status vlm_llm_chat_format(const struct vlm_model * m, const struct vlm_chat_message * msgs, int32_t n,
                                    bool add_assistant, char ** out) {
    if (!out) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_llm_chat_format: out is NULL");
    *out = NULL;
    if (!vlm_llama_of(m)) return vlm_error(VLM_STATUS_UNSUPPORTED, "not a language model");
    if (n < 0 || (n > 0 && !msgs)) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_llm_chat_format: bad messages");
    const char * tmpl = NULL;
    vlm_gguf_get_str(m->src.gguf, "tokenizer.chat_template", &tmpl);
    enum chat_format fmt = CHAT_CHATML;
    enum vlm_status st = detect(tmpl, &fmt);
    if (st != VLM_STATUS_OK) return st;
    char * p = NULL;
    size_t len = 0, cap = 0;
    bool ok = append(&p, &len, &cap, fmt == CHAT_SMOLVLM ? "<|im_start|>" : "");
    for (int32_t i = 0; ok && i < n; i++) {
        const char * role = msgs[i].role, * content = msgs[i].content;
        if (!role || !content || (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant"))) {
            free(p);
            return vlm_error(VLM_STATUS_INVALID_ARG, "chat message %d: role must be system, user or assistant", i);
        }
        if (fmt == CHAT_CHATML) {   // <|im_start|>role\ncontent<|im_end|>\n
            ok = append(&p, &len, &cap, "<|im_start|>") && append(&p, &len, &cap, role) &&
                 append(&p, &len, &cap, "\n") && append(&p, &len, &cap, content) && append(&p, &len, &cap, "<|im_end|>\n");
        } else if (!strcmp(role, "system")) {   // smolvlm
            ok = append(&p, &len, &cap, content) && append(&p, &len, &cap, "\n\n");
        } else {
            ok = append(&p, &len, &cap, !strcmp(role, "user") ? "User: " : "Assistant: ") &&
                 append(&p, &len, &cap, content) && append(&p, &len, &cap, "<end_of_utterance>\n");
        }
    }
    if (ok && add_assistant) ok = append(&p, &len, &cap, fmt == CHAT_SMOLVLM ? "Assistant:" : "<|im_start|>assistant\n");
    if (!ok) {
        free(p);
        return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    *out = p;
    return VLM_STATUS_OK;
}
