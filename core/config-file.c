// config-file.c — the config file next to a model's weights (config.json, ...), read with one
// policy for every family: absent is fine, present means readable and a JSON object; what the
// keys mean is the family's parser's business (fusion/model-config.c).
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model-family.h"

enum vlm_status vlm_model_config_load(const char * model_path, const char * const * names, char * path_out,
                                      size_t path_size, char ** text, size_t * n) {
    *text = NULL;
    *n = 0;
    path_out[0] = 0;
    const char * slash = strrchr(model_path, '/');
    const int dir_len = slash ? (int)(slash - model_path) : 1;
    const char * dir = slash ? model_path : ".";
    for (int i = 0; names && names[i]; i++) {
        struct stat sb;
        if ((size_t)snprintf(path_out, path_size, "%.*s/%s", dir_len, dir, names[i]) >= path_size) continue;
        if (stat(path_out, &sb) != 0) continue;
        char * buf = vlm_read_file(path_out, VLM_MODEL_CONFIG_MAX_BYTES, n);
        if (!buf)
            return vlm_error(VLM_STATUS_BAD_MODEL, "%s: cannot read: %s", path_out,
                             errno == EFBIG ? "larger than 4 MiB" : strerror(errno));
        cJSON * root = cJSON_ParseWithLength(buf, *n);
        const bool object = cJSON_IsObject(root);
        cJSON_Delete(root);
        if (!object) {
            free(buf);
            return vlm_error(VLM_STATUS_BAD_MODEL, "%s: %s", path_out, root ? "not a JSON object" : "not valid JSON");
        }
        *text = buf;
        return VLM_STATUS_OK;
    }
    path_out[0] = 0;
    return VLM_STATUS_OK;
}
