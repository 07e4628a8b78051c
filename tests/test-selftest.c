// test-selftest.c — the Vulkan device self-test and its gate (core/selftest.c), through the CLI
// on clip-tiny: `vlm devices --selftest` (table, exit status, cache file), a wrong result injected
// into one kernel with VLM_SELFTEST_INJECT (a variant: turned off, the output stays the plain
// kernels'; a plain kernel: auto moves to the CPU, --backend vulkan refuses naming it), the
// injection really changing the output when the gate is skipped, and a corrupt or stale cache
// ignored and rebuilt. The cache goes to a temporary VLM_SELFTEST_CACHE folder. Skips (77)
// without a Vulkan device unless VLM_TEST_REQUIRE_VULKAN=1.
#include "harness.h"

static const char * tmpdir;   // the scratch folder
static char cache_dir[300], cache_file[600];
static char log_text[1 << 16];

// Runs the CLI with VLM_SELFTEST_INJECT=inject (NULL: none) and extra environment.
static int run(const char * inject, const char * extra, const char * fmt, const char * a, const char * b, const char * c) {
    char env[1024], args[2048];
    snprintf(env, sizeof env, "VLM_SELFTEST_CACHE=%s %s%s %s", cache_dir, inject ? "VLM_SELFTEST_INJECT=" : "",
             inject ? inject : "", extra ? extra : "");
    snprintf(args, sizeof args, fmt, a, b, c);
    return test_run_cli(log_text, sizeof log_text, tmpdir, env, "%s", args);
}

// The one selftest-*.txt in the cache folder (its name hashes the device name).
static bool find_cache_file(void) {
    char cmd[700], line[600] = "";
    snprintf(cmd, sizeof cmd, "ls '%s'/selftest-*.txt 2>/dev/null", cache_dir);
    FILE * p = popen(cmd, "r");
    if (!p) return false;
    bool ok = fgets(line, sizeof line, p) != NULL;
    pclose(p);
    line[strcspn(line, "\n")] = 0;
    snprintf(cache_file, sizeof cache_file, "%s", line);
    return ok && line[0];
}

static bool one_line(const char * s) { return strchr(s, '\n') == strrchr(s, '\n'); }

int main(void) {
    if (!getenv("VLM_CLI") || !*getenv("VLM_CLI")) SKIP("VLM_CLI (the vlm executable) not set; run through ctest");
    if (!test_want_backend("vulkan")) SKIP("vulkan is not in VLM_TEST_BACKENDS");
    char clip[1024], image[1024];
    snprintf(clip, sizeof clip, "%s", test_fixture("clip-tiny"));
    snprintf(image, sizeof image, "%s", test_fixture("images/dog.jpg"));
    tmpdir = test_tmp_dir("selftest");
    snprintf(cache_dir, sizeof cache_dir, "%s/cache", tmpdir);   // created by the first self-test
    TEST_CLI_NEED_VULKAN(log_text, sizeof log_text, tmpdir, NULL);
    char ref_cpu[512], ref_vk[512], out[512];
    snprintf(ref_cpu, sizeof ref_cpu, "%s/cpu.json", tmpdir);
    snprintf(ref_vk, sizeof ref_vk, "%s/vk.json", tmpdir);
    snprintf(out, sizeof out, "%s/out.json", tmpdir);
    const char * embed = "embed -m %s --image %s --text 'a dog' --json %s";
    char embed_auto[256], embed_vk[256];
    snprintf(embed_auto, sizeof embed_auto, "%s --backend auto", embed);
    snprintf(embed_vk, sizeof embed_vk, "%s --backend vulkan", embed);

    // the table, on a device that computes right
    int rc = run(NULL, NULL, "devices --selftest", "", "", "");
    CHECK(rc == 0 && strstr(log_text, "softmax") && strstr(log_text, "unary.vec4") && strstr(log_text, "all kernels pass") &&
              !strstr(log_text, "FAIL"),
          "devices --selftest: exit %d: %s", rc, log_text);
    CHECK(find_cache_file(), "no cache file written in %s", cache_dir);
    rc = run(NULL, NULL, "devices --selftest %s", "extra", "", "");
    CHECK(rc == 2 && strstr(log_text, "unexpected argument 'extra'"), "devices --selftest extra: exit %d: %s", rc, log_text);

    // references: the CPU; Vulkan with the gate (cache: passed, nothing to say on stderr)
    CHECK(run(NULL, NULL, "embed -m %s --image %s --text 'a dog' --json %s --backend cpu", clip, image, ref_cpu) == 0,
          "cpu embed: %s", log_text);
    CHECK(run(NULL, NULL, embed_vk, clip, image, ref_vk) == 0 && !strstr(log_text, "self-test"), "vulkan embed: %s", log_text);

    // a variant computing wrong: auto runs the self-test first (a new cache key), turns the
    // variant off and says so; the output is the plain kernels' (the same as without injection)
    rc = run("unary.vec4", NULL, embed_auto, clip, image, out);
    CHECK(rc == 0 && strstr(log_text, "running its self-test") && strstr(log_text, "unary.vec4") &&
              strstr(log_text, "disabled") && test_same_file(out, ref_vk),
          "inject unary.vec4, auto: exit %d, or no self-test / disabled variant, or output differs: %s", rc, log_text);
    rc = run("unary.vec4", NULL, embed_auto, clip, image, out);
    CHECK(rc == 0 && !strstr(log_text, "running its self-test") && strstr(log_text, "disabled") && test_same_file(out, ref_vk),
          "inject unary.vec4, auto, cached: %s", log_text);
    rc = run("unary.vec4", NULL, embed_vk, clip, image, out);
    CHECK(rc == 0 && strstr(log_text, "disabled") && test_same_file(out, ref_vk), "inject unary.vec4, vulkan: %s", log_text);
    // without the gate the injected kernel runs, and the output is wrong: the check above means something
    rc = run("unary.vec4", "VLM_VK_SKIP_SELFTEST=1", embed_vk, clip, image, out);
    CHECK(rc == 0 && !test_same_file(out, ref_vk), "inject unary.vec4 without the gate: exit %d, output unchanged: %s", rc, log_text);

    // a plain kernel computing wrong: auto moves to the CPU; vulkan refuses, naming it
    unlink(out);
    rc = run("linear", NULL, embed_auto, clip, image, out);
    CHECK(rc == 0 && strstr(log_text, "failed its self-test (linear") && strstr(log_text, "using the CPU backend") &&
              test_same_file(out, ref_cpu),
          "inject linear, auto: exit %d or output not the CPU's: %s", rc, log_text);
    unlink(out);
    rc = run("linear", NULL, embed_vk, clip, image, out);
    CHECK(rc == 1 && strstr(log_text, "failed its self-test (linear") && one_line(log_text) && access(out, F_OK) != 0,
          "inject linear, vulkan: exit %d (want 1, one line, no output): %s", rc, log_text);
    rc = run("linear", NULL, "devices --selftest", "", "", "");
    CHECK(rc == 1 && strstr(log_text, "FAIL") && strstr(log_text, "NOT USED"), "inject linear, devices --selftest: %s", log_text);

    // a corrupt cache is ignored and rebuilt; so is a stale one (another key: no injection)
    FILE * f = fopen(cache_file, "w");
    if (f) {
        fputs("vlm-selftest 1\nkey garbage\n", f);
        fclose(f);
    }
    rc = run("linear", NULL, embed_auto, clip, image, out);
    CHECK(rc == 0 && strstr(log_text, "running its self-test") && test_same_file(out, ref_cpu), "corrupt cache: %s", log_text);
    char * text = test_read_text(cache_file);
    CHECK(text && !strncmp(text, "vlm-selftest 1\nkey ", 19) && strstr(text, "inject linear") && strstr(text, "\nend\n"),
          "cache not rebuilt: %s", text ? text : "(none)");
    free(text);
    rc = run("unary.vec4", NULL, embed_auto, clip, image, out);
    CHECK(rc == 0 && strstr(log_text, "running its self-test") && test_same_file(out, ref_vk), "stale cache: %s", log_text);

    TEST_END();
}
