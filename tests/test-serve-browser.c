// test-serve-browser.c — the `vlm serve` page in a real browser: starts the server on a free
// loopback port and runs tests/browser/serve.mjs (node + playwright-core driving Debian's
// /usr/bin/chromium headless), which opens dog.jpg, clicks a point, drags a box, cycles masks,
// undoes / redoes and checks the overlay against the API's masks. The screenshot goes to the
// test's build folder (serve-browser.png). Skipped (77) without node, chromium or
// node_modules/playwright-core (npm ci at the repository root).
#include "harness.h"
#include "serve-client.h"

int main(void) {
    const char * cli = getenv("VLM_CLI");
    const char * src = getenv("VLM_SOURCE_DIR");
    if (!cli || !*cli || access(cli, X_OK) != 0) SKIP("VLM_CLI (the vlm executable) not set; run through ctest");
    if (!src || !*src) SKIP("VLM_SOURCE_DIR not set; run through ctest");
    if (system("node --version > /dev/null 2>&1") != 0) SKIP("node is not installed (apt-get install nodejs)");
    const char * chromium = getenv("CHROMIUM");
    if (!chromium || !*chromium) chromium = "/usr/bin/chromium";
    if (access(chromium, X_OK) != 0) SKIP("%s not found (apt-get install chromium)", chromium);
    char path[4096];
    snprintf(path, sizeof path, "%s/node_modules/playwright-core/package.json", src);
    if (access(path, R_OK) != 0) SKIP("playwright-core is not installed: run `npm ci` in %s", src);
    static char sam[1024], clip[1024], image[1024];
    snprintf(sam, sizeof sam, "%s", test_fixture("sam-tiny"));
    snprintf(clip, sizeof clip, "%s", test_fixture("clip-tiny"));
    snprintf(image, sizeof image, "%s", test_fixture("images/dog.jpg"));
    if (access(sam, R_OK) != 0) SKIP("fixture sam-tiny missing");
    snprintf(path, sizeof path, "'%s' serve --help > /dev/null 2>&1", cli);
    if (system(path) != 0) SKIP("vlm was built without libmicrohttpd (no `vlm serve`)");

    char cwd[2048];
    if (!getcwd(cwd, sizeof cwd)) snprintf(cwd, sizeof cwd, ".");
    char log_path[2300];
    snprintf(log_path, sizeof log_path, "%s/serve-browser-server.log", cwd);
    const char * args[] = { "-m", sam, "--clip", clip, "--backend", "cpu", NULL };
    struct serve_proc sp = { 0 };
    if (!serve_start(cli, args, log_path, &sp)) {
        CHECK(0, "vlm serve did not start (log: %s)", log_path);
        TEST_END();
    }
    printf("server: %s\n", sp.url);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd '%s' && CHROMIUM='%s' node tests/browser/serve.mjs '%s' '%s' '%s'", src, chromium, sp.url, image,
             cwd);
    int rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "the browser checks failed (exit %d)", WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
    CHECK(serve_stop(&sp) == 0, "server did not exit cleanly on SIGTERM");
    TEST_END();
}
