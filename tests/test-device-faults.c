// test-device-faults.c — Vulkan faults injected with VLM_VK_FAULT (core/vk-backend.c) while
// the CLI runs on sam-tiny and clip-tiny: an out-of-memory allocation, a lost device and a
// hung submit (fence wait timeout). With --backend vulkan each gives a one-line error, exit 1
// and no output file; with --backend auto the model moves to the CPU with a warning and the
// output equals the CPU's. Skips (77) without a Vulkan device unless VLM_TEST_REQUIRE_VULKAN=1.
#include <time.h>

#include "harness.h"

static const char * tmpdir;   // the scratch folder
static char log_text[1 << 16];

// Runs the CLI with VLM_VK_FAULT=fault (NULL: none), a 3 s fence timeout and no self-test gate
// (the faults would hit the self-test's own contexts: test-selftest.c covers the gate); output in log_text.
#define run(fault, ...)                                                                                  \
    test_run_cli(log_text, sizeof log_text, tmpdir, fault_env(fault), __VA_ARGS__)
static const char * fault_env(const char * fault) {
    static char env[128];
    snprintf(env, sizeof env, "VLM_VK_FAULT=%s VLM_VK_TIMEOUT_S=3 VLM_VK_SKIP_SELFTEST=1", fault ? fault : "");
    return env;
}

static bool exists(const char * path) { return access(path, F_OK) == 0; }

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(void) {
    if (!getenv("VLM_CLI") || !*getenv("VLM_CLI")) SKIP("VLM_CLI (the vlm executable) not set; run through ctest");
    if (!test_want_backend("vulkan")) SKIP("vulkan is not in VLM_TEST_BACKENDS");
    char sam[1024], clip[1024], image[1024];
    snprintf(sam, sizeof sam, "%s", test_fixture("sam-tiny"));
    snprintf(clip, sizeof clip, "%s", test_fixture("clip-tiny"));
    snprintf(image, sizeof image, "%s", test_fixture("images/dog.jpg"));
    tmpdir = test_tmp_dir("faults");
    TEST_CLI_NEED_VULKAN(log_text, sizeof log_text, tmpdir, fault_env(NULL));

    // references on the CPU
    char ref_png[512], ref_json[512], out[512];
    snprintf(ref_png, sizeof ref_png, "%s/ref.png", tmpdir);
    snprintf(ref_json, sizeof ref_json, "%s/ref.json", tmpdir);
    snprintf(out, sizeof out, "%s/out", tmpdir);
    CHECK(run(NULL, "segment -m %s %s --point 300,200 -o %s --backend cpu", sam, image, ref_png) == 0, "cpu segment: %s", log_text);
    CHECK(run(NULL, "embed -m %s --image %s --text 'a dog' --json %s --backend cpu", clip, image, ref_json) == 0,
          "cpu embed: %s", log_text);

    // Faults at several points: arena allocation, a weight buffer, the session's embedding,
    // the first submit (weight upload), a submit inside the image encoder.
    static const struct { const char * fault, * message; } sam_faults[] = {
        { "oom:1", "VK_ERROR_OUT_OF_DEVICE_MEMORY (injected" },
        { "oom:2", "VK_ERROR_OUT_OF_DEVICE_MEMORY (injected" },
        { "oom:4", "VK_ERROR_OUT_OF_DEVICE_MEMORY (injected" },
        { "lost:1", "VK_ERROR_DEVICE_LOST (injected" },
        { "lost:5", "VK_ERROR_DEVICE_LOST (injected" },
        { "hang:1", "did not finish within 3 s" },
    };
    for (size_t i = 0; i < sizeof sam_faults / sizeof *sam_faults; i++) {
        const char * f = sam_faults[i].fault;
        unlink(out);
        double t0 = now_s();
        int rc = run(f, "segment -m %s %s --point 300,200 -o %s --backend vulkan", sam, image, out);
        double dt = now_s() - t0;
        CHECK(rc == 1, "%s, vulkan: exit %d (want 1): %s", f, rc, log_text);
        CHECK(strstr(log_text, sam_faults[i].message) && strchr(log_text, '\n') == strrchr(log_text, '\n'),
              "%s, vulkan: want one line with '%s', got: %s", f, sam_faults[i].message, log_text);
        CHECK(!exists(out), "%s, vulkan: output file left behind", f);
        if (!strncmp(f, "hang", 4)) CHECK(dt < 60, "%s: took %.1f s (the fence wait must time out)", f, dt);

        unlink(out);
        rc = run(f, "segment -m %s %s --point 300,200 -o %s --backend auto", sam, image, out);
        CHECK(rc == 0, "%s, auto: exit %d: %s", f, rc, log_text);
        CHECK(strstr(log_text, "continuing on the CPU") && strstr(log_text, "[cpu]"), "%s, auto: no CPU fallback: %s", f, log_text);
        CHECK(test_same_file(out, ref_png), "%s, auto: mask differs from the CPU run", f);
    }

    // CLIP: a lost device in the text tower (vulkan: error) and in the image tower (auto: all on the CPU)
    unlink(out);
    CHECK(run("lost:2", "embed -m %s --image %s --text 'a dog' --json %s --backend vulkan", clip, image, out) == 1 &&
              strstr(log_text, "DEVICE_LOST (injected") && !exists(out),
          "clip lost:2, vulkan: %s", log_text);
    CHECK(run("lost:1", "embed -m %s --image %s --text 'a dog' --json %s --backend auto", clip, image, out) == 0 &&
              strstr(log_text, "continuing on the CPU") && test_same_file(out, ref_json),
          "clip lost:1, auto: no fallback or different output: %s", log_text);

    // a bad fault spec is refused
    CHECK(run("bogus", "segment -m %s %s --point 1,1 --backend vulkan", sam, image) == 1 && strstr(log_text, "VLM_VK_FAULT=bogus"),
          "bad VLM_VK_FAULT: %s", log_text);

    TEST_END();
}
