// selftest.h — the per-op comparison of a device against the CPU backend (selftest.c): every
// op and kernel variant the models use, on aligned and odd shapes, strided and permuted views,
// with per-op tolerances. tests/test-ops-vulkan.c runs it in full; `vlm devices --selftest` and
// the first AUTO use of a device run it without the big grid-folding cases, and the verdict is
// cached per (device, driver version, vlm version, case list).
#ifndef VLM_SELFTEST_H
#define VLM_SELFTEST_H

#include "core.h"

// One compared case.
struct vlm_selftest_row {
    const char * op;          // "linear" (vlm_op_name)
    const char * name;        // the case: "linear(w f16)"
    char         kernel[32];  // the kernel it ran on the device: the op's plain kernel ("linear") or a variant
    char         shape[64];   // the output's shape
    double       nmse, max_abs, tol;   // pass: nmse <= tol (and matching infinities, guards intact)
    double       ms;          // device wall time (upload, run, download)
    bool         pass;
    char         error[256];  // why it failed when not by its error: a run failure, a guard overwritten
};
typedef void (*vlm_selftest_fn)(const struct vlm_selftest_row * row, void * user);

// Runs the cases of the groups named in groups (a comma list of linear, matmul, elementwise,
// norm, softmax, attention, conv, resample, data, quant; NULL: all) on dev and cpu; big adds
// the cases of tens of millions of elements. A case whose device run took kernel variants is run
// again with them off (the plain kernel). fn (may be NULL) gets every row. Returns the number of
// failed rows.
int vlm_selftest_run(struct vlm_ctx * cpu, struct vlm_ctx * dev, const char * groups, bool big, vlm_selftest_fn fn,
                     void * user);

// The verdict on a device: the kernels whose cases failed. Variants among them are turned off
// (the plain kernel runs instead); a plain kernel among them makes the device unusable.
struct vlm_selftest_verdict {
    bool     cached;                 // read from the cache (not run now)
    int      n_cases, n_failed;
    uint32_t bad_variants;           // bit v: enum vlm_vk_variant v failed
    bool     device_ok;              // no plain kernel failed
    char     failure[320];           // the first failure: "softmax: softmax(perm) [1, 31, 7, 5] nmse 1e-02 > 1e-07"
    char     cache_path[4096 + 64];  // "" when there is no cache folder
};

// Runs the self-test on the Vulkan device a Vulkan context takes (VLM_VK_DEVICE, else the one
// AUTO picks) and writes the cache; fn as vlm_selftest_run. False (vlm_last_error) when the
// device or the CPU context cannot be created.
bool vlm_selftest_device(vlm_selftest_fn fn, void * user, struct vlm_selftest_verdict * v);

// The gate of vlm_ctx_new for a Vulkan context on vk: reads the cached verdict for vk's device
// ($VLM_SELFTEST_CACHE, else the user's cache folder; a stale or corrupt file is ignored), or
// (when may_run) runs the self-test first, saying so on stderr in one line; turns the failed
// variants off on vk and reports them on stderr. False when a plain kernel failed (msg says
// which). Passes everything when VLM_VK_SKIP_SELFTEST=1, or when nothing is cached and !may_run.
bool vlm_selftest_gate(struct vlm_vk * vk, bool may_run, char * msg, size_t msg_size);

// The user's cache folder: $XDG_CACHE_HOME/vlm, else ~/.cache/vlm. False when neither is set.
bool vlm_user_cache_dir(char * out, size_t n);
// mkdir -p; false (errno set) when a component cannot be created or path is not a folder.
bool vlm_mkdirs(const char * path);

#endif // VLM_SELFTEST_H
