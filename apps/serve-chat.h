// serve-chat.h — `vlm serve --vlm TEXT.gguf --mmproj MMPROJ.gguf`: POST /v1/chat/completions
// in OpenAI's format on a SmolVLM pair, streamed (server-sent events) or not, with region
// questions through the server's SAM (apps/serve-chat.c); GET /v1/models.
#ifndef VLM_SERVE_CHAT_H
#define VLM_SERVE_CHAT_H
#include <pthread.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "vlm.h"

// The server's uploaded images (POST /v1/images), lent to chat requests.
struct vlm_serve_chat_images {
    void * user;
    // Takes a reference to image `id` (NULL: unknown); *sam: its SAM session, NULL without SAM.
    void * (*get)(void * user, const char * id, const struct vlm_image ** img, struct vlm_sam_session ** sam);
    void   (*release)(void * user, void * ref);
    pthread_mutex_t * sam_mu;   // held around every SAM call
};

struct vlm_serve_chat;
// Loads the text model and its projector; prints a one-line error and returns NULL on failure.
// A request waits up to timeout_s for the model (one generation at a time), then gets 503.
struct vlm_serve_chat * vlm_serve_chat_load(const char * cmd, const char * text_path, const char * mmproj_path,
                                            const struct vlm_model_params * mp, double timeout_s,
                                            const struct vlm_serve_chat_images * images);
// Waits for a running generation to end, then frees everything.
void vlm_serve_chat_free(struct vlm_serve_chat * sc);
// The model's name in responses (the text GGUF's file name).
const char * vlm_serve_chat_model_name(const struct vlm_serve_chat * sc);
const char * vlm_serve_chat_backend(const struct vlm_serve_chat * sc);

enum MHD_Result vlm_serve_chat_completions(struct vlm_serve_chat * sc, struct MHD_Connection * c, const char * body,
                                           size_t n);
enum MHD_Result vlm_serve_chat_models(struct vlm_serve_chat * sc, struct MHD_Connection * c);
#endif
