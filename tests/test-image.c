// test-image.c — image decoding and PNG writing: the fixture images, PNG round trips, images
// of the stb formats and WebP made here, and bad input (truncated, corrupt, empty, huge,
// missing) that must fail with a clear error and never crash.
#include <dirent.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>
#include <webp/encode.h>
#include <zlib.h>

#include "harness.h"
#include "image.h"
#include "vlm.h"

static const char * g_tmpdir;   // the scratch folder

static uint8_t * read_all(const char * path, size_t * n) { return (uint8_t *)vlm_read_file(path, SIZE_MAX, n); }

static int write_all(const char * path, const void * b, size_t n) {
    FILE * f = fopen(path, "wb");
    if (!f) return 0;
    size_t w = fwrite(b, 1, n, f);
    return fclose(f) == 0 && w == n;
}

static int n_dir_entries(const char * dir) {
    DIR * d = opendir(dir);
    if (!d) return -1;
    int             n = 0;
    struct dirent * e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    }
    closedir(d);
    return n;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Expects decoding to fail with BAD_IMAGE (and a message); frees anything returned.
static void expect_bad(const uint8_t * b, size_t n, const char * what, const char * needle) {
    struct vlm_image img;
    memset(&img, 0x5a, sizeof img);
    enum vlm_status st = vlm_image_decode(b, n, &img);
    CHECK(st == VLM_STATUS_BAD_IMAGE, "%s: status %d (%s), expected BAD_IMAGE", what, st, vlm_last_error());
    CHECK(img.data == NULL && img.width == 0, "%s: output not cleared on failure", what);
    CHECK(strlen(vlm_last_error()) > 0, "%s: no error message", what);
    if (needle) CHECK(strstr(vlm_last_error(), needle) != NULL, "%s: message '%s' lacks '%s'", what, vlm_last_error(), needle);
    if (st == VLM_STATUS_OK) vlm_image_free(&img);
}

static void put_chunk(uint8_t ** p, const char * type, const uint8_t * data, uint32_t len) {
    uint8_t * q = *p;
    q[0] = len >> 24; q[1] = len >> 16; q[2] = len >> 8; q[3] = len;
    memcpy(q + 4, type, 4);
    if (len) memcpy(q + 8, data, len);
    uint32_t crc = (uint32_t)crc32(0, q + 4, 4 + len);
    q[8 + len] = crc >> 24; q[9 + len] = crc >> 16; q[10 + len] = crc >> 8; q[11 + len] = crc;
    *p = q + 12 + len;
}

// A PNG whose IHDR declares w x h (RGB 8-bit) followed by a tiny IDAT and IEND.
static size_t make_png_header(uint8_t * out, uint32_t w, uint32_t h) {
    uint8_t * p = out;
    memcpy(p, "\x89PNG\r\n\x1a\n", 8);
    p += 8;
    uint8_t ihdr[13] = { w >> 24, w >> 16, w >> 8, w, h >> 24, h >> 16, h >> 8, h, 8, 2, 0, 0, 0 };
    put_chunk(&p, "IHDR", ihdr, 13);
    uint8_t idat[16];
    uLongf  n = sizeof idat;
    uint8_t zero[4] = { 0 };
    compress(idat, &n, zero, sizeof zero);
    put_chunk(&p, "IDAT", idat, (uint32_t)n);
    put_chunk(&p, "IEND", NULL, 0);
    return (size_t)(p - out);
}

static void test_fixture_images(void) {
    static const struct { const char * file; int w, h, gray; } fx[] = {
        { "images/dog.jpg", 800, 534, 0 },        { "images/truck.jpg", 1800, 1200, 0 },
        { "images/groceries.jpg", 800, 534, 0 },  { "images/shapes_rgba.png", 300, 700, 0 },
        { "images/gray_odd.jpg", 257, 129, 1 },
    };
    for (size_t i = 0; i < sizeof fx / sizeof fx[0]; i++) {
        struct vlm_image img;
        enum vlm_status  st = vlm_image_load(test_fixture(fx[i].file), &img);
        CHECK(st == VLM_STATUS_OK, "%s: load failed: %s", fx[i].file, vlm_last_error());
        if (st != VLM_STATUS_OK) continue;
        CHECK(img.width == fx[i].w && img.height == fx[i].h && img.channels == 3, "%s: %dx%dx%d, expected %dx%dx3",
              fx[i].file, img.width, img.height, img.channels, fx[i].w, fx[i].h);
        size_t n_gray = 0, n = (size_t)img.width * img.height;
        for (size_t k = 0; k < n; k++) {
            const uint8_t * p = img.data + k * 3;
            n_gray += p[0] == p[1] && p[1] == p[2];
        }
        if (fx[i].gray)
            CHECK(n_gray == n, "%s: gray image not replicated (%zu of %zu pixels gray)", fx[i].file, n_gray, n);
        else
            CHECK(n_gray < n / 2, "%s: color image decoded as mostly gray (%zu of %zu)", fx[i].file, n_gray, n);

        // The same bytes through vlm_image_decode give the same pixels.
        size_t    nb;
        uint8_t * bytes = read_all(test_fixture(fx[i].file), &nb);
        struct vlm_image img2;
        st = bytes ? vlm_image_decode(bytes, nb, &img2) : VLM_STATUS_IO;
        CHECK(st == VLM_STATUS_OK && img2.width == img.width && img2.height == img.height &&
                  memcmp(img2.data, img.data, n * 3) == 0,
              "%s: decode from memory differs from load", fx[i].file);
        if (st == VLM_STATUS_OK) vlm_image_free(&img2);

        if (strstr(fx[i].file, ".png")) {
            // Alpha is dropped, not composited: compare with libpng's own RGBA decode of the file.
            png_image pi;
            memset(&pi, 0, sizeof pi);
            pi.version = PNG_IMAGE_VERSION;
            uint8_t * rgba = NULL;
            int ok = png_image_begin_read_from_memory(&pi, bytes, nb);
            if (ok) {
                pi.format = PNG_FORMAT_RGBA;
                rgba = malloc(PNG_IMAGE_SIZE(pi));
                ok = rgba && png_image_finish_read(&pi, NULL, rgba, 0, NULL);
            }
            CHECK(ok, "%s: libpng simplified read failed", fx[i].file);
            if (ok) {
                size_t diff = 0, transparent = 0;
                for (size_t k = 0; k < n; k++) {
                    diff += memcmp(rgba + k * 4, img.data + k * 3, 3) != 0;
                    transparent += rgba[k * 4 + 3] < 255;
                }
                CHECK(transparent > 0, "%s: expected partly transparent pixels", fx[i].file);
                CHECK(diff == 0, "%s: %zu pixels differ from the RGB of the RGBA decode", fx[i].file, diff);
            }
            png_image_free(&pi);
            free(rgba);
        }
        free(bytes);
        vlm_image_free(&img);
    }
}

static void test_png_roundtrip(void) {
    const int w = 37, h = 23;
    uint64_t  rs = 7;
    uint8_t   px[37 * 23 * 4];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(test_rand(&rs) * 127.5f + 128.0f);
    for (int ch = 1; ch <= 4; ch++) {
        if (ch == 2) continue;
        char name[32];
        snprintf(name, sizeof name, "rt%d.png", ch);
        const char * path = test_tmp_path(name);
        enum vlm_status st = vlm_png_write(path, px, w, h, ch);
        CHECK(st == VLM_STATUS_OK, "png write %d channels: %s", ch, vlm_last_error());
        struct vlm_image img;
        st = vlm_image_load(path, &img);
        CHECK(st == VLM_STATUS_OK && img.width == w && img.height == h && img.channels == 3,
              "png read back %d channels: %s", ch, vlm_last_error());
        if (st != VLM_STATUS_OK) continue;
        size_t diff = 0;
        for (int i = 0; i < w * h; i++) {
            for (int c = 0; c < 3; c++) diff += img.data[i * 3 + c] != px[i * ch + (ch == 1 ? 0 : c)];
        }
        CHECK(diff == 0, "png round trip %d channels: %zu values differ", ch, diff);
        vlm_image_free(&img);
    }
    // Overwrite in place: the new content replaces the old, no temp files remain.
    uint8_t one[3] = { 1, 2, 3 };
    CHECK(vlm_png_write(test_tmp_path("rt3.png"), one, 1, 1, 3) == VLM_STATUS_OK, "png overwrite: %s", vlm_last_error());
    struct vlm_image img;
    CHECK(vlm_image_load(test_tmp_path("rt3.png"), &img) == VLM_STATUS_OK && img.width == 1 && img.data[2] == 3,
          "png overwrite not visible");
    vlm_image_free(&img);
    CHECK(n_dir_entries(g_tmpdir) == 3, "temporary files left behind (%d entries)", n_dir_entries(g_tmpdir));

    // Bad arguments.
    CHECK(vlm_png_write(test_tmp_path("bad.png"), px, w, h, 2) == VLM_STATUS_INVALID_ARG, "png 2 channels accepted");
    CHECK(vlm_png_write(test_tmp_path("bad.png"), px, 0, h, 3) == VLM_STATUS_INVALID_ARG, "png width 0 accepted");
    CHECK(vlm_png_write(test_tmp_path("bad.png"), NULL, w, h, 3) == VLM_STATUS_INVALID_ARG, "png NULL pixels accepted");
    CHECK(vlm_png_write(test_tmp_path("no/such/dir/x.png"), px, w, h, 3) == VLM_STATUS_IO, "png into missing dir");
    // The final rename fails (the target is a directory): error, and the temp file is removed.
    char sub[512];
    snprintf(sub, sizeof sub, "%s/sub", g_tmpdir);
    mkdir(sub, 0755);
    char target[600];
    snprintf(target, sizeof target, "%s/dir.png", sub);
    mkdir(target, 0755);
    enum vlm_status st = vlm_png_write(target, px, w, h, 3);
    CHECK(st == VLM_STATUS_IO, "png write onto a directory: status %d", st);
    CHECK(n_dir_entries(sub) == 1, "temp file left after a failed write (%d entries)", n_dir_entries(sub));
    rmdir(target);
    rmdir(sub);
    CHECK(vlm_png_write(test_tmp_path("bad.png"), px, w, h, 2) != VLM_STATUS_OK && access(test_tmp_path("bad.png"), F_OK) != 0,
          "failed write left a file");
}

// Deterministic mutations (1..8 random bytes replaced) of a valid image: every result must be
// OK or BAD_IMAGE, never a crash (run under -DVLM_SANITIZE=ON to catch memory errors).
static void fuzz(const uint8_t * b, size_t n, const char * what, uint64_t seed) {
    uint8_t * m = malloc(n);
    int       n_ok = 0, n_bad = 0, n_other = 0;
    vlm_image_set_max_pixels(1 << 20);
    for (int it = 0; it < 150; it++) {
        memcpy(m, b, n);
        int k = 1 + (int)((test_rand(&seed) + 1.0f) * 4.0f);
        for (int j = 0; j < k; j++) {
            size_t pos = (size_t)((test_rand(&seed) + 1.0f) * 0.5f * (float)n);
            if (pos >= n) pos = n - 1;
            m[pos] = (uint8_t)((test_rand(&seed) + 1.0f) * 128.0f);
        }
        struct vlm_image img;
        enum vlm_status  st = vlm_image_decode(m, n, &img);
        if (st == VLM_STATUS_OK) {
            n_ok++;
            vlm_image_free(&img);
        } else if (st == VLM_STATUS_BAD_IMAGE) {
            n_bad++;
        } else {
            n_other++;
        }
    }
    vlm_image_set_max_pixels(0);
    printf("fuzz %-5s 150 mutations: %d decoded, %d rejected\n", what, n_ok, n_bad);
    CHECK(n_other == 0, "fuzz %s: %d results neither OK nor BAD_IMAGE", what, n_other);
    free(m);
}

static void test_truncated(void) {
    // JPEG: the fixture cut at several points.
    size_t    n;
    uint8_t * jpg = read_all(test_fixture("images/dog.jpg"), &n);
    CHECK(jpg != NULL, "read dog.jpg");
    if (jpg) {
        const size_t cuts[] = { 3, 4, 20, 200, 1000, n / 4, n / 2, n - 100, n - 2 };
        for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
            char what[64];
            snprintf(what, sizeof what, "jpeg cut at %zu of %zu", cuts[i], n);
            expect_bad(jpg, cuts[i], what, NULL);
        }
        // Corrupt: garbage after the SOI marker.
        uint8_t * bad = malloc(n);
        memcpy(bad, jpg, n);
        uint64_t rs = 3;
        for (size_t i = 3; i < 600; i++) bad[i] = (uint8_t)(test_rand(&rs) * 127.5f + 128.0f);
        expect_bad(bad, n, "jpeg with a garbage header", "JPEG");
        fuzz(jpg, n, "jpeg", 1);
        // A huge declared size in the SOF marker: refused before decoding.
        memcpy(bad, jpg, n);
        for (size_t i = 2; i + 9 < n; i++) {
            if (bad[i] == 0xFF && (bad[i + 1] == 0xC0 || bad[i + 1] == 0xC2)) {
                bad[i + 5] = 0xEA; bad[i + 6] = 0x60;   // height 60000
                bad[i + 7] = 0xEA; bad[i + 8] = 0x60;   // width 60000
                break;
            }
        }
        double t0 = now_s();
        expect_bad(bad, n, "jpeg declaring 60000x60000", "over the limit");
        CHECK(now_s() - t0 < 1.0, "huge jpeg header took %.2f s", now_s() - t0);
        free(bad);
    }
    free(jpg);

    // PNG: one written here, cut at several points (signature, inside IHDR, inside IDAT, before IEND).
    uint8_t px[64 * 48 * 3];
    uint64_t rs = 11;
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(test_rand(&rs) * 127.5f + 128.0f);
    CHECK(vlm_png_write(test_tmp_path("cut.png"), px, 64, 48, 3) == VLM_STATUS_OK, "write cut.png");
    uint8_t * png = read_all(test_tmp_path("cut.png"), &n);
    if (png) {
        const size_t cuts[] = { 7, 8, 16, 30, 33, 45, n / 2, n - 13, n - 1 };
        for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
            char what[64];
            snprintf(what, sizeof what, "png cut at %zu of %zu", cuts[i], n);
            expect_bad(png, cuts[i], what, NULL);
        }
        fuzz(png, n, "png", 2);
        // A flipped byte inside IDAT: CRC error.
        png[n / 2] ^= 0x55;
        expect_bad(png, n, "png with a corrupt IDAT", "PNG");
    }
    free(png);
    unlink(test_tmp_path("cut.png"));
}

static void test_bad_inputs(void) {
    uint8_t buf[4096];
    uint64_t rs = 12345;
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(test_rand(&rs) * 127.5f + 128.0f);
    buf[2] = 0x55;   // not a TGA image type, so no format can claim these bytes
    expect_bad(buf, sizeof buf, "random bytes", "unsupported image format");
    expect_bad(buf, 0, "empty input", "empty");
    expect_bad((const uint8_t *)"hello", 5, "text", "unsupported image format");

    // Empty file and missing file through vlm_image_load.
    CHECK(write_all(test_tmp_path("empty.png"), "", 0), "write empty file");
    struct vlm_image img;
    CHECK(vlm_image_load(test_tmp_path("empty.png"), &img) == VLM_STATUS_BAD_IMAGE, "empty file: %s", vlm_last_error());
    unlink(test_tmp_path("empty.png"));
    CHECK(vlm_image_load(test_tmp_path("missing.jpg"), &img) == VLM_STATUS_IO, "missing file: %s", vlm_last_error());
    CHECK(strstr(vlm_last_error(), "missing.jpg") != NULL, "missing file: message '%s' lacks the name", vlm_last_error());
    CHECK(vlm_image_load(g_tmpdir, &img) == VLM_STATUS_IO, "directory as image: %s", vlm_last_error());
    CHECK(vlm_image_load(NULL, &img) == VLM_STATUS_INVALID_ARG, "NULL path");

    // Huge declared size: fails fast with the pixel-limit message, no huge allocation.
    uint8_t hdr[256];
    size_t  hn = make_png_header(hdr, 100000, 100000);
    double  t0 = now_s();
    expect_bad(hdr, hn, "png declaring 100000x100000", "image is 100000x100000, over the limit of");
    CHECK(now_s() - t0 < 1.0, "huge png header took %.2f s", now_s() - t0);
    CHECK(write_all(test_tmp_path("huge.png"), hdr, hn), "write huge.png");
    CHECK(vlm_image_load(test_tmp_path("huge.png"), &img) == VLM_STATUS_BAD_IMAGE &&
              strstr(vlm_last_error(), "huge.png: image is 100000x100000") != NULL,
          "huge png file: '%s'", vlm_last_error());
    unlink(test_tmp_path("huge.png"));
    hn = make_png_header(hdr, 0, 0);
    expect_bad(hdr, hn, "png declaring 0x0", NULL);
    hn = make_png_header(hdr, 0x7fffffff, 1);
    expect_bad(hdr, hn, "png declaring 2^31-1 x 1", NULL);

    // The limit is adjustable.
    vlm_image_set_max_pixels(1000);
    enum vlm_status st = vlm_image_load(test_fixture("images/gray_odd.jpg"), &img);
    CHECK(st == VLM_STATUS_BAD_IMAGE && strstr(vlm_last_error(), "257x129, over the limit of 1000 pixels"),
          "pixel limit 1000: status %d '%s'", st, vlm_last_error());
    if (st == VLM_STATUS_OK) vlm_image_free(&img);
    vlm_image_set_max_pixels(0);   // back to the default
    st = vlm_image_load(test_fixture("images/gray_odd.jpg"), &img);
    CHECK(st == VLM_STATUS_OK, "default limit restored: %s", vlm_last_error());
    vlm_image_free(&img);
    vlm_image_free(NULL);
    vlm_image_free(&img);   // zeroed struct
}

// Small test images in the stb formats and WebP, built byte by byte here.
static void make_pixels(uint8_t * px, int w, int h) {
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            uint8_t * p = px + (y * w + x) * 3;
            p[0] = (uint8_t)(x * 40 + 3);
            p[1] = (uint8_t)(y * 50 + 7);
            p[2] = (uint8_t)((x ^ y) * 30 + 11);
        }
    }
}

static void check_pixels(const uint8_t * bytes, size_t n, const uint8_t * px, int w, int h, const char * what) {
    struct vlm_image img;
    enum vlm_status  st = vlm_image_decode(bytes, n, &img);
    CHECK(st == VLM_STATUS_OK, "%s: %s", what, vlm_last_error());
    if (st != VLM_STATUS_OK) return;
    CHECK(img.width == w && img.height == h && img.channels == 3, "%s: %dx%d", what, img.width, img.height);
    if (img.width == w && img.height == h) {
        size_t diff = 0;
        for (int i = 0; i < w * h * 3; i++) diff += img.data[i] != px[i];
        CHECK(diff == 0, "%s: %zu values differ", what, diff);
    }
    vlm_image_free(&img);
}

static void put16le(uint8_t * p, uint32_t v) { p[0] = v; p[1] = v >> 8; }
static void put32le(uint8_t * p, uint32_t v) { p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }

static void test_other_formats(void) {
    enum { W = 5, H = 3 };
    uint8_t px[W * H * 3];
    make_pixels(px, W, H);

    // BMP: 24-bit BI_RGB, bottom-up rows padded to 4 bytes.
    const int stride = (W * 3 + 3) & ~3;
    uint8_t   bmp[54 + 16 * H];
    memset(bmp, 0, sizeof bmp);
    const size_t bmp_n = 54 + (size_t)stride * H;
    bmp[0] = 'B'; bmp[1] = 'M';
    put32le(bmp + 2, (uint32_t)bmp_n);
    put32le(bmp + 10, 54);
    put32le(bmp + 14, 40);
    put32le(bmp + 18, W);
    put32le(bmp + 22, H);
    put16le(bmp + 26, 1);
    put16le(bmp + 28, 24);
    put32le(bmp + 34, (uint32_t)(stride * H));
    for (int y = 0; y < H; y++) {
        for (int x = 0; x < W; x++) {
            const uint8_t * p = px + ((H - 1 - y) * W + x) * 3;
            uint8_t *       q = bmp + 54 + y * stride + x * 3;
            q[0] = p[2]; q[1] = p[1]; q[2] = p[0];
        }
    }
    check_pixels(bmp, bmp_n, px, W, H, "bmp 24-bit");
    expect_bad(bmp, bmp_n - 5, "bmp cut inside the pixels", "truncated");
    fuzz(bmp, bmp_n, "bmp", 3);
    put32le(bmp + 18, 200000);
    put32le(bmp + 22, 200000);
    expect_bad(bmp, bmp_n, "bmp declaring 200000x200000", "over the limit");
    expect_bad(bmp, 20, "bmp cut inside the header", "BMP");

    // TGA: uncompressed true color, 24-bit BGR, top-left origin.
    uint8_t tga[18 + W * H * 3];
    memset(tga, 0, 18);
    tga[2] = 2;
    put16le(tga + 12, W);
    put16le(tga + 14, H);
    tga[16] = 24;
    tga[17] = 0x20;
    for (int i = 0; i < W * H; i++) {
        tga[18 + i * 3 + 0] = px[i * 3 + 2];
        tga[18 + i * 3 + 1] = px[i * 3 + 1];
        tga[18 + i * 3 + 2] = px[i * 3 + 0];
    }
    check_pixels(tga, sizeof tga, px, W, H, "tga 24-bit");
    expect_bad(tga, sizeof tga - 4, "tga cut inside the pixels", "truncated");
    fuzz(tga, sizeof tga, "tga", 4);

    // GIF: a 4-color global palette, 2-bit LZW with a clear code before every pixel (no dictionary).
    static const uint8_t pal[4][3] = { { 255, 0, 0 }, { 0, 255, 0 }, { 0, 0, 255 }, { 250, 250, 250 } };
    uint8_t gpx[W * H * 3], idx[W * H];
    for (int i = 0; i < W * H; i++) {
        idx[i] = (uint8_t)((i * 7 + i / W) % 4);
        memcpy(gpx + i * 3, pal[idx[i]], 3);
    }
    uint8_t gif[256];
    size_t  g = 0;
    memcpy(gif, "GIF89a", 6);
    g = 6;
    put16le(gif + g, W); put16le(gif + g + 2, H);
    gif[g + 4] = 0x80 | 0x01;   // global color table of 2^(1+1) = 4 entries
    gif[g + 5] = 0; gif[g + 6] = 0;
    g += 7;
    memcpy(gif + g, pal, 12);
    g += 12;
    gif[g++] = 0x2C;   // image descriptor
    put16le(gif + g, 0); put16le(gif + g + 2, 0); put16le(gif + g + 4, W); put16le(gif + g + 6, H);
    gif[g + 8] = 0;
    g += 9;
    gif[g++] = 2;   // LZW minimum code size
    uint8_t  data[64];
    size_t   dn = 0;
    uint32_t acc = 0, nbits = 0;
    memset(data, 0, sizeof data);
    for (int i = 0; i <= W * H; i++) {
        uint32_t codes[2] = { 4, i < W * H ? idx[i] : 5u };   // clear, pixel (or end of information)
        for (int k = (i < W * H ? 0 : 1); k < 2; k++) {
            acc |= codes[k] << nbits;
            nbits += 3;
            while (nbits >= 8) { data[dn++] = (uint8_t)acc; acc >>= 8; nbits -= 8; }
        }
    }
    if (nbits) data[dn++] = (uint8_t)acc;
    gif[g++] = (uint8_t)dn;
    memcpy(gif + g, data, dn);
    g += dn;
    gif[g++] = 0;      // block terminator
    gif[g++] = 0x3B;   // trailer
    check_pixels(gif, g, gpx, W, H, "gif 4 colors");
    expect_bad(gif, 12, "gif cut inside the header", "GIF");
    expect_bad(gif, g - 5, "gif cut inside the image data", "GIF");
    fuzz(gif, g, "gif", 5);

    // WebP, lossless: exact.
    uint8_t * webp = NULL;
    size_t    wn = WebPEncodeLosslessRGB(px, W, H, W * 3, &webp);
    CHECK(wn > 0, "WebP encode");
    if (wn > 0) {
        check_pixels(webp, wn, px, W, H, "webp lossless");
        expect_bad(webp, wn / 2, "webp cut in half", "WebP");
        expect_bad(webp, 14, "webp cut inside the header", "WebP");
        fuzz(webp, wn, "webp", 6);
    }
    WebPFree(webp);
}

// Encodes w x h RGB (or gray when gray != 0) with libjpeg into a malloc'd buffer; an EXIF APP1
// with the orientation tag when orientation > 0.
static uint8_t * jpeg_encode(const uint8_t * px, int w, int h, int gray, int progressive, int orientation, size_t * n) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr       jerr;
    unsigned char *             out = NULL;
    unsigned long               on = 0;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out, &on);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = gray ? 1 : 3;
    c.in_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 95, TRUE);
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    if (orientation > 0) {
        // "Exif\0\0" + little-endian TIFF header + IFD0 with one SHORT entry 0x0112
        uint8_t exif[6 + 8 + 2 + 12 + 4] = { 'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0,
                                             0x12, 0x01, 3, 0, 1, 0, 0, 0, (uint8_t)orientation, 0, 0, 0, 0, 0, 0, 0 };
        jpeg_write_marker(&c, JPEG_APP0 + 1, exif, sizeof exif);
    }
    uint8_t * row = malloc((size_t)w * 3);
    while (c.next_scanline < c.image_height) {
        const uint8_t * src = px + (size_t)c.next_scanline * w * 3;
        if (gray) {
            for (int x = 0; x < w; x++) row[x] = src[x * 3];
        } else {
            memcpy(row, src, (size_t)w * 3);
        }
        JSAMPROW rp = row;
        jpeg_write_scanlines(&c, &rp, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    *n = on;
    return out;
}

static void test_jpeg_made_here(void) {
    enum { W = 40, H = 24 };
    uint8_t px[W * H * 3];
    for (int y = 0; y < H; y++) {
        for (int x = 0; x < W; x++) {
            uint8_t * p = px + (y * W + x) * 3;
            p[0] = (uint8_t)(x * 6);
            p[1] = (uint8_t)(y * 10);
            p[2] = (uint8_t)(128 + x * 2 - y * 3);
        }
    }
    // Baseline, progressive and grayscale decode close to the source (lossy, smooth image).
    for (int mode = 0; mode < 3; mode++) {
        size_t           n;
        uint8_t *        j = jpeg_encode(px, W, H, mode == 2, mode == 1, 0, &n);
        struct vlm_image img;
        enum vlm_status  st = vlm_image_decode(j, n, &img);
        CHECK(st == VLM_STATUS_OK && img.width == W && img.height == H, "jpeg mode %d: %s", mode, vlm_last_error());
        if (st == VLM_STATUS_OK) {
            int max_d = 0, gray_ok = 1;
            for (int i = 0; i < W * H; i++) {
                for (int c = 0; c < 3; c++) {
                    int d = abs((int)img.data[i * 3 + c] - (int)px[i * 3 + (mode == 2 ? 0 : c)]);
                    if (d > max_d) max_d = d;
                }
                gray_ok &= img.data[i * 3] == img.data[i * 3 + 1] && img.data[i * 3 + 1] == img.data[i * 3 + 2];
            }
            CHECK(max_d <= 12, "jpeg mode %d: max difference %d from the source", mode, max_d);
            if (mode == 2) CHECK(gray_ok, "gray jpeg not replicated");
            vlm_image_free(&img);
        }
        if (mode == 1) {
            // A progressive file whose last scan repeats 600 times: refused (scan limit), 3 times: fine.
            size_t last = 0;
            for (size_t i = 0; i + 1 < n; i++) if (j[i] == 0xFF && j[i + 1] == 0xDA) last = i;
            const size_t seg = n - 2 - last;
            uint8_t *    many = malloc(last + seg * 600 + 2);
            memcpy(many, j, last);
            for (int r = 0; r < 600; r++) memcpy(many + last + (size_t)r * seg, j + last, seg);
            memcpy(many + last + seg * 600, "\xFF\xD9", 2);
            expect_bad(many, last + seg * 600 + 2, "jpeg with 600+ scans", "progressive scans");
            memcpy(many + last + seg * 3, "\xFF\xD9", 2);
            st = vlm_image_decode(many, last + seg * 3 + 2, &img);
            CHECK(st == VLM_STATUS_OK, "jpeg with a few repeated scans: %s", vlm_last_error());
            vlm_image_free(&img);
            free(many);
        }
        free(j);
    }
    // EXIF orientation: each value 1..8 maps the upright decode as PIL's exif_transpose does.
    size_t           n0;
    uint8_t *        j0 = jpeg_encode(px, W, H, 0, 0, 0, &n0);
    struct vlm_image up;
    CHECK(vlm_image_decode(j0, n0, &up) == VLM_STATUS_OK, "jpeg upright: %s", vlm_last_error());
    free(j0);
    for (int o = 1; o <= 8; o++) {
        size_t           n;
        uint8_t *        j = jpeg_encode(px, W, H, 0, 0, o, &n);
        struct vlm_image img;
        enum vlm_status  st = vlm_image_decode(j, n, &img);
        free(j);
        CHECK(st == VLM_STATUS_OK, "jpeg orientation %d: %s", o, vlm_last_error());
        if (st != VLM_STATUS_OK || !up.data) continue;
        const int swap = o >= 5;
        CHECK(img.width == (swap ? H : W) && img.height == (swap ? W : H), "orientation %d: %dx%d", o, img.width, img.height);
        size_t diff = 0;
        for (int y = 0; y < img.height && img.width == (swap ? H : W); y++) {
            for (int x = 0; x < img.width; x++) {
                int sx, sy;   // the upright pixel shown at (x, y)
                switch (o) {
                    case 1: sx = x; sy = y; break;
                    case 2: sx = W - 1 - x; sy = y; break;                 // mirror
                    case 3: sx = W - 1 - x; sy = H - 1 - y; break;         // rotate 180
                    case 4: sx = x; sy = H - 1 - y; break;                 // flip
                    case 5: sx = y; sy = x; break;                         // transpose
                    case 6: sx = y; sy = H - 1 - x; break;                 // rotate 90 clockwise
                    case 7: sx = W - 1 - y; sy = H - 1 - x; break;         // transverse
                    default: sx = W - 1 - y; sy = x; break;                // rotate 90 counter-clockwise
                }
                diff += memcmp(img.data + ((size_t)y * img.width + x) * 3, up.data + ((size_t)sy * W + sx) * 3, 3) != 0;
            }
        }
        CHECK(diff == 0, "orientation %d: %zu pixels misplaced", o, diff);
        vlm_image_free(&img);
    }
    vlm_image_free(&up);
}

int main(void) {
    test_fixtures_dir();
    g_tmpdir = test_tmp_dir("image");

    test_fixture_images();
    test_png_roundtrip();
    test_truncated();
    test_bad_inputs();
    test_other_formats();
    test_jpeg_made_here();

    unlink(test_tmp_path("rt1.png"));
    unlink(test_tmp_path("rt3.png"));
    unlink(test_tmp_path("rt4.png"));
    int left = n_dir_entries(g_tmpdir);
    CHECK(left == 0, "%d files left in %s", left, g_tmpdir);
    TEST_END();
}
