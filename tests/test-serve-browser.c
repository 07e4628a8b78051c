// test-serve-browser.c — the `vlm serve` page in a real browser: starts the server on a free
// loopback port and runs tests/browser/serve.mjs BROWSER (node driving a headless browser
// through tests/browser/scenario.mjs): open dog.jpg, click points (right / shift: background),
// drag boxes, cycle masks, undo / redo with the keyboard, segment everything, the three
// exports, each checked against the JSON API; with the smolvlm-tiny fixtures (--vlm) a question
// about an object and one about the image, streamed; with an index of the fixture images
// (--index), a search shown as thumbnails, one opened. The screenshot goes to the test's build folder
// (serve-BROWSER.png). argv[1]: chromium (default; Debian's /usr/bin/chromium or $CHROMIUM,
// playwright-core) or firefox (test-serve-firefox; /usr/bin/firefox-esr or $FIREFOX,
// puppeteer-core). Skipped (77) without node, the browser or its npm driver (`npm ci` at the
// repository root).
#include "harness.h"
#include "serve-client.h"

int main(int argc, char ** argv) {
    const char * browser = argc > 1 ? argv[1] : "chromium";
    const bool firefox = !strcmp(browser, "firefox");
    if (!firefox && strcmp(browser, "chromium") != 0) {
        fprintf(stderr, "usage: %s [chromium|firefox]\n", argv[0]);
        return 2;
    }
    const char * cli = getenv("VLM_CLI");
    const char * src = getenv("VLM_SOURCE_DIR");
    if (!cli || !*cli || access(cli, X_OK) != 0) SKIP("VLM_CLI (the vlm executable) not set; run through ctest");
    if (!src || !*src) SKIP("VLM_SOURCE_DIR not set; run through ctest");
    if (system("node --version > /dev/null 2>&1") != 0) SKIP("node is not installed (apt-get install nodejs)");
    const char * env = firefox ? "FIREFOX" : "CHROMIUM";
    const char * exe = getenv(env);
    if (!exe || !*exe) exe = firefox ? "/usr/bin/firefox-esr" : "/usr/bin/chromium";
    if (access(exe, X_OK) != 0) SKIP("%s not found (apt-get install %s)", exe, firefox ? "firefox-esr" : "chromium");
    const char * driver = firefox ? "puppeteer-core" : "playwright-core";
    char path[4096];
    snprintf(path, sizeof path, "%s/node_modules/%s/package.json", src, driver);
    if (access(path, R_OK) != 0) SKIP("%s is not installed: run `npm ci` in %s", driver, src);
    static char sam[1024], clip[1024], image[1024], text[1024], mmproj[1024];
    snprintf(sam, sizeof sam, "%s", test_fixture("sam-tiny"));
    snprintf(clip, sizeof clip, "%s", test_fixture("clip-tiny"));
    snprintf(image, sizeof image, "%s", test_fixture("images/dog.jpg"));
    snprintf(text, sizeof text, "%s", test_fixture("smolvlm-tiny/smolvlm-tiny-f32.gguf"));
    snprintf(mmproj, sizeof mmproj, "%s", test_fixture("smolvlm-tiny/mmproj-smolvlm-tiny-f32.gguf"));
    if (access(sam, R_OK) != 0) SKIP("fixture sam-tiny missing");
    snprintf(path, sizeof path, "'%s' serve --help > /dev/null 2>&1", cli);
    if (system(path) != 0) SKIP("vlm was built without libmicrohttpd (no `vlm serve`)");

    char cwd[2048], cmd[8192];
    if (!getcwd(cwd, sizeof cwd)) snprintf(cwd, sizeof cwd, ".");
    char log_path[2300];
    snprintf(log_path, sizeof log_path, "%s/serve-%s-server.log", cwd, browser);
    const bool vlm = access(text, R_OK) == 0 && access(mmproj, R_OK) == 0;
    if (!vlm) printf("smolvlm-tiny fixtures missing: the page is tested without a VLM\n");
    // the photo index: the fixture images, the index file in the build folder
    static char index_path[2400], images[1024];
    snprintf(index_path, sizeof index_path, "%s/serve-%s.vlm-index.safetensors", cwd, browser);
    snprintf(images, sizeof images, "%s", test_fixture("images"));
    snprintf(cmd, sizeof cmd, "'%s' index '%s' -m '%s' --out '%s' --backend cpu > '%s' 2>&1", cli, images, clip, index_path, log_path);
    CHECK(system(cmd) == 0, "vlm index of the fixture images (log: %s)", log_path);
    const char * args[] = { "-m", sam, "--clip", clip, "--index", index_path, "--backend", "cpu",
                            vlm ? "--vlm" : NULL, text, "--mmproj", mmproj, NULL };
    struct serve_proc sp = { 0 };
    if (!serve_start(cli, args, log_path, &sp)) {
        CHECK(0, "vlm serve did not start (log: %s)", log_path);
        TEST_END();
    }
    printf("server: %s\n", sp.url);
    snprintf(cmd, sizeof cmd, "cd '%s' && %s='%s' node tests/browser/serve.mjs %s '%s' '%s' '%s'", src, env, exe, browser, sp.url,
             image, cwd);
    int rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "the %s checks failed (exit %d)", browser, WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
    CHECK(serve_stop(&sp) == 0, "server did not exit cleanly on SIGTERM");
    TEST_END();
}
