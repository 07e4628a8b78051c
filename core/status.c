// status.c — version, status strings, the per-thread last error, backend names, the model
// header limit of the file readers, the monotonic clock.
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <string.h>
#include <strings.h>

#include "core.h"
#include "model-file.h"

#ifndef VLM_VERSION
#define VLM_VERSION "0.0.0"
#endif

static _Thread_local char g_last_error[1024];
static _Thread_local enum vlm_status g_last_status;

const char * vlm_version(void) { return VLM_VERSION; }

const char * vlm_status_str(enum vlm_status status) {
    switch (status) {
        case VLM_STATUS_OK:            return "ok";
        case VLM_STATUS_INVALID_ARG:   return "invalid argument";
        case VLM_STATUS_IO:            return "I/O error";
        case VLM_STATUS_BAD_MODEL:     return "bad model";
        case VLM_STATUS_BAD_IMAGE:     return "bad image";
        case VLM_STATUS_OUT_OF_MEMORY: return "out of memory";
        case VLM_STATUS_DEVICE_OOM:    return "out of device memory";
        case VLM_STATUS_DEVICE_LOST:   return "device lost";
        case VLM_STATUS_UNSUPPORTED:   return "unsupported";
        case VLM_STATUS_NON_FINITE:    return "non-finite value";
    }
    return "unknown status";
}

const char * vlm_last_error(void) { return g_last_error; }
enum vlm_status vlm_last_status(void) { return g_last_status; }

enum vlm_status vlm_error(enum vlm_status status, const char * fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_last_error, sizeof g_last_error, fmt, ap);
    va_end(ap);
    g_last_status = status;
    // one line: fold any newline into a space
    for (char * p = g_last_error; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    return status;
}

bool vlm_backend_parse(const char * name, enum vlm_backend_type * out) {
    if (!name || !out) return false;
    if (strcasecmp(name, "cpu") == 0) { *out = VLM_BACKEND_CPU; return true; }
    if (strcasecmp(name, "vulkan") == 0 || strcasecmp(name, "vk") == 0) { *out = VLM_BACKEND_VULKAN; return true; }
    if (strcasecmp(name, "auto") == 0) { *out = VLM_BACKEND_AUTO; return true; }
    return false;
}

static _Atomic uint64_t g_max_header = VLM_MODEL_DEFAULT_MAX_HEADER;

void vlm_model_file_set_max_header(uint64_t max_bytes) {
    atomic_store(&g_max_header, max_bytes > 0 ? max_bytes : VLM_MODEL_DEFAULT_MAX_HEADER);
}

uint64_t vlm_model_file_max_header(void) { return atomic_load(&g_max_header); }

double vlm_now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}
