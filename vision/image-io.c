// image-io.c — image decoding to 8-bit RGB (PNG via libpng, JPEG via libjpeg-turbo, WebP via
// libwebp, BMP/GIF/TGA via stb_image) and atomic PNG writing. The output matches PIL's
// Image.open(...).convert('RGB'): alpha is dropped (not composited), gray is replicated,
// palettes are expanded.
//
// Choices where PIL has no single answer:
//   - 16-bit PNG samples keep their high byte (libpng png_set_strip_16). PIL does this for
//     16-bit RGB/RGBA/LA; for 16-bit grayscale (mode I;16) PIL's convert('RGB') clips values
//     above 255 instead, which turns most such images white: we keep the high byte there too.
//   - JPEG EXIF orientation (tag 0x0112, values 2..8) is applied as PIL's
//     ImageOps.exif_transpose does. Plain Image.open does not apply it. EXIF in PNG (eXIf)
//     and WebP is not read.
//   - A truncated file of any format is an error (PIL raises "image file is truncated" too);
//     libjpeg's other corrupt-data warnings are tolerated, as in PIL.
//   - GIF: the first frame (transparent pixels keep their palette color, as in PIL);
//     animated WebP is refused.
//   - Checked against Pillow 9.4 with the system libjpeg-turbo 2.1: baseline 4:4:4/4:2:2/
//     4:2:0, progressive, gray and CMYK JPEGs, all PNG color types, WebP, BMP, GIF, TGA decode
//     to identical pixels.
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <webp/decode.h>

#include "core.h"
#include "image.h"

// stb_image declarations only; the implementation (BMP, GIF, TGA) is in stb-impl.c.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#define STBI_NO_STDIO
#include <stb_image.h>
#pragma GCC diagnostic pop

// Largest file vlm_image_load reads (compressed bytes).
#define VLM_IMAGE_MAX_FILE_BYTES ((size_t)1 << 30)

static _Atomic int64_t g_max_pixels = VLM_IMAGE_DEFAULT_MAX_PIXELS;

void vlm_image_set_max_pixels(int64_t max_pixels) {
    atomic_store(&g_max_pixels, max_pixels > 0 ? max_pixels : VLM_IMAGE_DEFAULT_MAX_PIXELS);
}

void vlm_image_free(struct vlm_image * image) {
    if (!image) return;
    free(image->data);
    memset(image, 0, sizeof *image);
}

// Checks declared dimensions before anything is allocated (decompression bombs).
static enum vlm_status check_dims(const char * name, int64_t w, int64_t h) {
    const int64_t limit = atomic_load(&g_max_pixels);
    if (w <= 0 || h <= 0)
        return vlm_error(VLM_STATUS_BAD_IMAGE, "%s: image is %lldx%lld (empty)", name, (long long)w, (long long)h);
    if (w > INT32_MAX || h > INT32_MAX || w > limit / h)
        return vlm_error(VLM_STATUS_BAD_IMAGE, "%s: image is %lldx%lld, over the limit of %lld pixels", name,
                         (long long)w, (long long)h, (long long)limit);
    return VLM_STATUS_OK;
}

// Allocates out->data for w x h RGB after check_dims.
static enum vlm_status alloc_rgb(const char * name, int32_t w, int32_t h, struct vlm_image * out) {
    size_t n;
    if (!vlm_mul_size((size_t)w, (size_t)h, &n) || !vlm_mul_size(n, 3, &n))
        return vlm_error(VLM_STATUS_BAD_IMAGE, "%s: image %dx%d too large", name, (int)w, (int)h);
    out->data = malloc(n);
    if (!out->data) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory for a %dx%d image", name, (int)w, (int)h);
    out->width = w;
    out->height = h;
    out->channels = 3;
    return VLM_STATUS_OK;
}

// ---- EXIF orientation ------------------------------------------------------------------

static uint32_t rd16(const uint8_t * p, int le) { return le ? (uint32_t)(p[0] | p[1] << 8) : (uint32_t)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t * p, int le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

// The orientation tag (0x0112) of IFD0 of an APP1 "Exif\0\0" payload, or 1 when absent or malformed.
static int exif_orientation(const uint8_t * d, size_t n) {
    if (n < 6 + 8 || memcmp(d, "Exif\0\0", 6) != 0) return 1;
    const uint8_t * t = d + 6;   // TIFF header
    const size_t    tn = n - 6;
    int             le;
    if (t[0] == 'I' && t[1] == 'I') le = 1;
    else if (t[0] == 'M' && t[1] == 'M') le = 0;
    else return 1;
    if (rd16(t + 2, le) != 42) return 1;
    const uint32_t ifd = rd32(t + 4, le);
    if ((size_t)ifd + 2 > tn) return 1;
    const uint32_t count = rd16(t + ifd, le);
    for (uint32_t i = 0; i < count; i++) {
        const size_t e = (size_t)ifd + 2 + (size_t)i * 12;
        if (e + 12 > tn) return 1;
        if (rd16(t + e, le) != 0x0112) continue;
        const uint32_t type = rd16(t + e + 2, le);
        uint32_t       v;
        if (type == 3) v = rd16(t + e + 8, le);        // SHORT
        else if (type == 4) v = rd32(t + e + 8, le);   // LONG (non-standard)
        else return 1;
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

// ref: Pillow src/PIL/ImageOps.py exif_transpose (2 FLIP_LEFT_RIGHT, 3 ROTATE_180,
// 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE, 6 ROTATE_270, 7 TRANSVERSE, 8 ROTATE_90)
static enum vlm_status apply_orientation(const char * name, struct vlm_image * img, int orientation) {
    if (orientation <= 1 || orientation > 8) return VLM_STATUS_OK;
    const int32_t  W = img->width, H = img->height;
    const int      swap = orientation >= 5;
    struct vlm_image o = { 0 };
    enum vlm_status  st = alloc_rgb(name, swap ? H : W, swap ? W : H, &o);
    if (st != VLM_STATUS_OK) return st;
    for (int32_t y = 0; y < o.height; y++) {
        for (int32_t x = 0; x < o.width; x++) {
            int32_t sx, sy;
            switch (orientation) {
                case 2: sx = W - 1 - x; sy = y; break;
                case 3: sx = W - 1 - x; sy = H - 1 - y; break;
                case 4: sx = x; sy = H - 1 - y; break;
                case 5: sx = y; sy = x; break;
                case 6: sx = y; sy = H - 1 - x; break;
                case 7: sx = W - 1 - y; sy = H - 1 - x; break;
                default: sx = W - 1 - y; sy = x; break;   // 8
            }
            memcpy(o.data + ((size_t)y * o.width + x) * 3, img->data + ((size_t)sy * W + sx) * 3, 3);
        }
    }
    vlm_image_free(img);
    *img = o;
    return VLM_STATUS_OK;
}

// ---- JPEG ------------------------------------------------------------------------------

struct jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf               jb;
    char                  msg[JMSG_LENGTH_MAX];
};

static void jpeg_on_error(j_common_ptr cinfo) {
    struct jpeg_err * e = (struct jpeg_err *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jb, 1);
}

// Warnings are ignored except the end of data: a truncated file is an error (as in PIL).
static void jpeg_on_message(j_common_ptr cinfo, int level) {
    struct jpeg_err * e = (struct jpeg_err *)cinfo->err;
    if (level < 0) {
        if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
            snprintf(e->msg, sizeof e->msg, "truncated JPEG data");
            longjmp(e->jb, 1);
        }
        cinfo->err->num_warnings++;
    }
}

// Pathological progressive JPEGs can hold thousands of tiny scans that each cost a full
// pass; refuse more than this many (libjpeg-turbo's TurboJPEG API suggests 500).
#define VLM_JPEG_MAX_SCANS 500

static void jpeg_on_progress(j_common_ptr cinfo) {
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->is_decompressor && d->input_scan_number > VLM_JPEG_MAX_SCANS) {
        struct jpeg_err * e = (struct jpeg_err *)cinfo->err;
        snprintf(e->msg, sizeof e->msg, "more than %d progressive scans", VLM_JPEG_MAX_SCANS);
        longjmp(e->jb, 1);
    }
}

// State that must survive a longjmp lives here, not in locals.
struct jpeg_state {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_err               err;
    struct jpeg_progress_mgr      progress;
    uint8_t *                     row;
    struct vlm_image              img;
};

// ref: Pillow src/libImaging/Convert.c cmyk2rgb (MULDIV255 rounding)
static inline uint8_t cmyk_channel(int v, int nk) {
    int tmp = v * nk + 128;
    int r = nk - (((tmp >> 8) + tmp) >> 8);
    return (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
}

static enum vlm_status decode_jpeg(const char * name, const uint8_t * bytes, size_t n, struct vlm_image * out) {
    struct jpeg_state * s = calloc(1, sizeof *s);
    if (!s) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", name);
    enum vlm_status st = VLM_STATUS_OK;
    s->cinfo.err = jpeg_std_error(&s->err.pub);
    s->err.pub.error_exit = jpeg_on_error;
    s->err.pub.emit_message = jpeg_on_message;
    if (setjmp(s->err.jb)) {
        st = vlm_error(VLM_STATUS_BAD_IMAGE, "%s: bad JPEG: %s", name, s->err.msg);
        goto fail;
    }
    jpeg_create_decompress(&s->cinfo);
    s->progress.progress_monitor = jpeg_on_progress;
    s->cinfo.progress = &s->progress;
    jpeg_mem_src(&s->cinfo, bytes, (unsigned long)n);
    jpeg_save_markers(&s->cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&s->cinfo, TRUE);
    st = check_dims(name, s->cinfo.image_width, s->cinfo.image_height);
    if (st != VLM_STATUS_OK) goto fail;

    // ref: Pillow src/PIL/JpegImagePlugin.py SOF (1 layer L, 3 RGB, 4 CMYK with rawmode CMYK;I)
    J_COLOR_SPACE cs = s->cinfo.jpeg_color_space;
    int           kind;   // 1 gray, 3 rgb, 4 cmyk
    if (s->cinfo.num_components == 1) {
        s->cinfo.out_color_space = JCS_GRAYSCALE;
        kind = 1;
    } else if (s->cinfo.num_components == 4 || cs == JCS_CMYK || cs == JCS_YCCK) {
        s->cinfo.out_color_space = JCS_CMYK;
        kind = 4;
    } else {
        s->cinfo.out_color_space = JCS_RGB;
        kind = 3;
    }
    // libjpeg defaults: JDCT_ISLOW, fancy upsampling (as PIL)
    s->cinfo.dct_method = JDCT_ISLOW;
    s->cinfo.do_fancy_upsampling = TRUE;
    jpeg_start_decompress(&s->cinfo);
    if ((int)s->cinfo.output_components != kind) {
        st = vlm_error(VLM_STATUS_BAD_IMAGE, "%s: unsupported JPEG color layout (%d components)", name,
                       (int)s->cinfo.output_components);
        goto fail;
    }
    const int32_t w = (int32_t)s->cinfo.output_width, h = (int32_t)s->cinfo.output_height;
    st = alloc_rgb(name, w, h, &s->img);
    if (st != VLM_STATUS_OK) goto fail;
    if (kind != 3) {
        s->row = malloc((size_t)w * kind);
        if (!s->row) {
            st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", name);
            goto fail;
        }
    }
    while (s->cinfo.output_scanline < s->cinfo.output_height) {
        uint8_t * dst = s->img.data + (size_t)s->cinfo.output_scanline * w * 3;
        JSAMPROW  rp = kind == 3 ? dst : s->row;
        if (jpeg_read_scanlines(&s->cinfo, &rp, 1) != 1) {
            st = vlm_error(VLM_STATUS_BAD_IMAGE, "%s: bad JPEG: truncated JPEG data", name);
            goto fail;
        }
        if (kind == 1) {
            for (int32_t x = 0; x < w; x++) dst[x * 3 + 0] = dst[x * 3 + 1] = dst[x * 3 + 2] = s->row[x];
        } else if (kind == 4) {
            // PIL reads CMYK JPEGs as inverted (Adobe convention), then converts to RGB
            for (int32_t x = 0; x < w; x++) {
                const uint8_t * p = s->row + (size_t)x * 4;
                const int       nk = p[3];   // 255 - K with K = 255 - raw (CMYK;I)
                for (int c = 0; c < 3; c++) dst[x * 3 + c] = cmyk_channel(255 - p[c], nk);
            }
        }
    }
    int orientation = 1;
    for (jpeg_saved_marker_ptr m = s->cinfo.marker_list; m; m = m->next) {
        if (m->marker == JPEG_APP0 + 1) {
            orientation = exif_orientation(m->data, m->data_length);
            if (orientation != 1) break;
        }
    }
    jpeg_finish_decompress(&s->cinfo);
    jpeg_destroy_decompress(&s->cinfo);
    st = apply_orientation(name, &s->img, orientation);
    if (st != VLM_STATUS_OK) goto fail_destroyed;
    *out = s->img;
    free(s->row);
    free(s);
    return VLM_STATUS_OK;
fail:
    jpeg_destroy_decompress(&s->cinfo);
fail_destroyed:
    vlm_image_free(&s->img);
    free(s->row);
    free(s);
    return st;
}

// ---- PNG -------------------------------------------------------------------------------

// PNG bytes collected in memory.
struct png_out {
    uint8_t * p;
    size_t    n, cap;
};

struct png_state {
    png_structp      png;
    png_infop        info;
    const uint8_t *  bytes;
    size_t           n, pos;
    char             msg[256];
    uint8_t *        raw;    // decoded rows before conversion to RGB
    png_bytep *      rows;
    struct vlm_image img;
    struct png_out * out_mem;   // writer: the encoded bytes
};

static void png_on_error(png_structp png, png_const_charp msg) {
    struct png_state * s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg ? msg : "error");
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static void png_read_mem(png_structp png, png_bytep dst, size_t len) {
    struct png_state * s = png_get_io_ptr(png);
    if (len > s->n - s->pos) png_error(png, "truncated PNG data");
    memcpy(dst, s->bytes + s->pos, len);
    s->pos += len;
}

static enum vlm_status decode_png(const char * name, const uint8_t * bytes, size_t n, struct vlm_image * out) {
    struct png_state * s = calloc(1, sizeof *s);
    if (!s) return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory", name);
    enum vlm_status st = VLM_STATUS_OK;
    s->bytes = bytes;
    s->n = n;
    s->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, s, png_on_error, png_on_warning);
    if (s->png) s->info = png_create_info_struct(s->png);
    if (!s->png || !s->info) {
        st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: cannot create a PNG reader", name);
        goto fail;
    }
    if (setjmp(png_jmpbuf(s->png))) {
        st = vlm_error(VLM_STATUS_BAD_IMAGE, "%s: bad PNG: %s", name, s->msg);
        goto fail;
    }
    png_set_read_fn(s->png, s, png_read_mem);
    png_read_info(s->png, s->info);
    const png_uint_32 w = png_get_image_width(s->png, s->info), h = png_get_image_height(s->png, s->info);
    st = check_dims(name, w, h);
    if (st != VLM_STATUS_OK) goto fail;

    // 16-bit -> high byte; palette -> RGB (tRNS may add alpha, dropped below); low-bit gray -> 8-bit.
    png_set_strip_16(s->png);
    png_set_palette_to_rgb(s->png);
    png_set_expand_gray_1_2_4_to_8(s->png);
    png_set_packing(s->png);
    png_set_interlace_handling(s->png);
    png_read_update_info(s->png, s->info);
    const int    ch = png_get_channels(s->png, s->info);
    const size_t rowbytes = png_get_rowbytes(s->png, s->info);
    if (ch < 1 || ch > 4 || png_get_bit_depth(s->png, s->info) != 8 || rowbytes != (size_t)w * ch) {
        st = vlm_error(VLM_STATUS_BAD_IMAGE, "%s: unsupported PNG layout (%d channels, %d bits)", name, ch,
                       (int)png_get_bit_depth(s->png, s->info));
        goto fail;
    }
    size_t raw_bytes;
    if (!vlm_mul_size(rowbytes, h, &raw_bytes)) {
        st = vlm_error(VLM_STATUS_BAD_IMAGE, "%s: image too large", name);
        goto fail;
    }
    s->raw = malloc(raw_bytes);
    s->rows = malloc((size_t)h * sizeof(png_bytep));
    if (!s->raw || !s->rows) {
        st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory for a %ux%u image", name, (unsigned)w, (unsigned)h);
        goto fail;
    }
    for (png_uint_32 y = 0; y < h; y++) s->rows[y] = s->raw + (size_t)y * rowbytes;
    png_read_image(s->png, s->rows);
    png_read_end(s->png, NULL);

    st = alloc_rgb(name, (int32_t)w, (int32_t)h, &s->img);
    if (st != VLM_STATUS_OK) goto fail;
    const size_t npix = (size_t)w * h;
    for (size_t i = 0; i < npix; i++) {
        const uint8_t * p = s->raw + i * ch;
        uint8_t *       q = s->img.data + i * 3;
        if (ch <= 2) q[0] = q[1] = q[2] = p[0];   // gray (+ alpha dropped)
        else { q[0] = p[0]; q[1] = p[1]; q[2] = p[2]; }   // RGB (+ alpha dropped)
    }
    *out = s->img;
    s->img.data = NULL;
    st = VLM_STATUS_OK;
fail:
    if (s->png) png_destroy_read_struct(&s->png, s->info ? &s->info : NULL, NULL);
    vlm_image_free(&s->img);
    free(s->raw);
    free(s->rows);
    free(s);
    return st;
}

// ---- WebP ------------------------------------------------------------------------------

static enum vlm_status decode_webp(const char * name, const uint8_t * bytes, size_t n, struct vlm_image * out) {
    WebPBitstreamFeatures f;
    VP8StatusCode         vs = WebPGetFeatures(bytes, n, &f);
    if (vs == VP8_STATUS_NOT_ENOUGH_DATA) return vlm_error(VLM_STATUS_BAD_IMAGE, "%s: bad WebP: truncated data", name);
    if (vs != VP8_STATUS_OK) return vlm_error(VLM_STATUS_BAD_IMAGE, "%s: bad WebP (status %d)", name, (int)vs);
    if (f.has_animation) return vlm_error(VLM_STATUS_BAD_IMAGE, "%s: animated WebP is not supported", name);
    enum vlm_status st = check_dims(name, f.width, f.height);
    if (st != VLM_STATUS_OK) return st;
    struct vlm_image img = { 0 };
    st = alloc_rgb(name, f.width, f.height, &img);
    if (st != VLM_STATUS_OK) return st;
    const size_t size = (size_t)img.width * img.height * 3;
    if (!WebPDecodeRGBInto(bytes, n, img.data, size, img.width * 3)) {
        vlm_image_free(&img);
        return vlm_error(VLM_STATUS_BAD_IMAGE, "%s: bad WebP: cannot decode (corrupt or truncated)", name);
    }
    *out = img;
    return VLM_STATUS_OK;
}

// ---- BMP, GIF, TGA (stb_image) -----------------------------------------------------------

// stb_image reads past the end of its input as zeros without an error; reading through
// callbacks tells a truncated file (a read or skip past the end) from a complete one.
struct stb_src {
    const uint8_t * b;
    size_t          n, pos;
    int             overrun;
};

static int stb_src_read(void * user, char * data, int size) {
    struct stb_src * s = user;
    if (size <= 0) return 0;
    if (s->pos >= s->n) {
        s->overrun = 1;
        return 0;
    }
    size_t k = s->n - s->pos < (size_t)size ? s->n - s->pos : (size_t)size;
    memcpy(data, s->b + s->pos, k);
    s->pos += k;
    return (int)k;
}

static void stb_src_skip(void * user, int n) {
    struct stb_src * s = user;
    if (n <= 0) return;
    if ((size_t)n > s->n - s->pos) {
        s->overrun = 1;
        s->pos = s->n;
    } else {
        s->pos += (size_t)n;
    }
}

static int stb_src_eof(void * user) {
    struct stb_src * s = user;
    return s->pos >= s->n;
}

static enum vlm_status decode_stb(const char * name, const char * format, const uint8_t * bytes, size_t n,
                                  struct vlm_image * out) {
    if (n > (size_t)INT32_MAX) return vlm_error(VLM_STATUS_BAD_IMAGE, "%s: %s file too large", name, format);
    const stbi_io_callbacks io = { stb_src_read, stb_src_skip, stb_src_eof };
    struct stb_src          src = { bytes, n, 0, 0 };
    int                     w = 0, h = 0, comp = 0;
    if (!stbi_info_from_callbacks(&io, &src, &w, &h, &comp)) {
        const char * why = stbi_failure_reason();
        return vlm_error(VLM_STATUS_BAD_IMAGE, "%s: bad %s: %s", name, format,
                         src.overrun ? "truncated header" : why ? why : "unreadable header");
    }
    enum vlm_status st = check_dims(name, w, h);
    if (st != VLM_STATUS_OK) return st;
    src.pos = 0;
    src.overrun = 0;
    uint8_t * px = stbi_load_from_callbacks(&io, &src, &w, &h, &comp, 3);
    if (!px) {
        const char * why = stbi_failure_reason();
        return vlm_error(VLM_STATUS_BAD_IMAGE, "%s: bad %s: %s", name, format,
                         src.overrun ? "truncated data" : why ? why : "cannot decode");
    }
    if (src.overrun) {
        stbi_image_free(px);
        return vlm_error(VLM_STATUS_BAD_IMAGE, "%s: bad %s: truncated data", name, format);
    }
    struct vlm_image img = { 0 };
    st = check_dims(name, w, h);
    if (st == VLM_STATUS_OK) st = alloc_rgb(name, w, h, &img);
    if (st != VLM_STATUS_OK) {
        stbi_image_free(px);
        return st;
    }
    memcpy(img.data, px, (size_t)w * h * 3);
    stbi_image_free(px);
    *out = img;
    return VLM_STATUS_OK;
}

// ---- dispatch --------------------------------------------------------------------------

static enum vlm_status decode_named(const char * name, const uint8_t * b, size_t n, struct vlm_image * out) {
    if (n == 0) return vlm_error(VLM_STATUS_BAD_IMAGE, "%s: empty file", name);
    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return decode_png(name, b, n, out);
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return decode_jpeg(name, b, n, out);
    if (n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0) return decode_webp(name, b, n, out);
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return decode_stb(name, "BMP", b, n, out);
    if (n >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0)) return decode_stb(name, "GIF", b, n, out);
    // TGA has no magic bytes: accept what stb_image's TGA header test accepts.
    int w, h, comp;
    if (n >= 18 && n <= (size_t)INT32_MAX && stbi_info_from_memory(b, (int)n, &w, &h, &comp))
        return decode_stb(name, "TGA", b, n, out);
    return vlm_error(VLM_STATUS_BAD_IMAGE,
                     "%s: unsupported image format (expected PNG, JPEG, WebP, BMP, GIF or TGA)", name);
}

enum vlm_status vlm_image_decode(const uint8_t * bytes, size_t n, struct vlm_image * out) {
    if (!out) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_image_decode: out is NULL");
    memset(out, 0, sizeof *out);
    if (!bytes && n) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_image_decode: bytes is NULL");
    return decode_named("image", bytes, n, out);
}

enum vlm_status vlm_image_load(const char * path, struct vlm_image * out) {
    if (!out) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_image_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_image_load: path is NULL");
    FILE * f = fopen(path, "rb");
    if (!f) return vlm_error(VLM_STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return vlm_error(VLM_STATUS_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size > VLM_IMAGE_MAX_FILE_BYTES) {
        fclose(f);
        return vlm_error(VLM_STATUS_BAD_IMAGE, "%s: file of %lld bytes is too large for an image", path,
                         (long long)sb.st_size);
    }
    const size_t n = (size_t)sb.st_size;
    uint8_t *    buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "%s: out of memory reading %zu bytes", path, n);
    }
    if (n && fread(buf, 1, n, f) != n) {
        int e = ferror(f) ? errno : 0;
        free(buf);
        fclose(f);
        return vlm_error(VLM_STATUS_IO, "%s: read error: %s", path, e ? strerror(e) : "short read");
    }
    fclose(f);
    enum vlm_status st = decode_named(path, buf, n, out);
    free(buf);
    return st;
}

// ---- PNG writing ---------------------------------------------------------------------------

static void png_write_mem(png_structp png, png_bytep data, size_t len) {
    struct png_out * o = ((struct png_state *)png_get_io_ptr(png))->out_mem;
    size_t need, cap;
    if (!vlm_add_size(o->n, len, &need)) png_error(png, "too large");
    if (need > o->cap) {
        uint8_t * p = vlm_grow_size(o->cap, need, 4096, &cap) ? realloc(o->p, cap) : NULL;
        if (!p) png_error(png, "out of memory");
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->n, data, len);
    o->n += len;
}

static void png_flush_mem(png_structp png) { (void)png; }

uint8_t * vlm_png_encode(const uint8_t * pixels, int32_t width, int32_t height, int32_t channels, size_t * n_out) {
    if (!pixels || !n_out || width <= 0 || height <= 0 || (channels != 1 && channels != 3 && channels != 4)) {
        vlm_error(VLM_STATUS_INVALID_ARG, "cannot encode PNG: bad image (%dx%d, %d channels)", (int)width, (int)height,
                  (int)channels);
        return NULL;
    }
    struct png_out     out = { 0 };
    struct png_state * s = calloc(1, sizeof *s);
    if (!s) {
        vlm_error(VLM_STATUS_OUT_OF_MEMORY, "PNG: out of memory");
        return NULL;
    }
    s->out_mem = &out;
    s->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, s, png_on_error, png_on_warning);
    if (s->png) s->info = png_create_info_struct(s->png);
    if (!s->png || !s->info) {
        vlm_error(VLM_STATUS_OUT_OF_MEMORY, "cannot create a PNG writer");
        goto fail;
    }
    if (setjmp(png_jmpbuf(s->png))) {
        vlm_error(VLM_STATUS_OUT_OF_MEMORY, "cannot encode PNG: %s", s->msg);
        goto fail;
    }
    png_set_write_fn(s->png, s, png_write_mem, png_flush_mem);
    png_set_compression_level(s->png, 1);   // masks and photos: the fastest level costs little size
    if (channels == 1) png_set_filter(s->png, PNG_FILTER_TYPE_BASE, PNG_FILTER_NONE);   // masks: long runs
    const int color = channels == 1 ? PNG_COLOR_TYPE_GRAY : channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_RGBA;
    png_set_IHDR(s->png, s->info, (png_uint_32)width, (png_uint_32)height, 8, color, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(s->png, s->info);
    const size_t stride = (size_t)width * channels;
    for (int32_t y = 0; y < height; y++) png_write_row(s->png, (png_const_bytep)(pixels + (size_t)y * stride));
    png_write_end(s->png, NULL);
    png_destroy_write_struct(&s->png, &s->info);
    free(s);
    *n_out = out.n;
    return out.p;
fail:
    if (s->png) png_destroy_write_struct(&s->png, s->info ? &s->info : NULL);
    free(s);
    free(out.p);
    return NULL;
}

enum vlm_status vlm_png_write(const char * path, const uint8_t * pixels, int32_t width, int32_t height,
                              int32_t channels) {
    if (!path) return vlm_error(VLM_STATUS_INVALID_ARG, "cannot write PNG: no path");
    size_t    n = 0;
    uint8_t * png = vlm_png_encode(pixels, width, height, channels, &n);
    if (!png) {
        char why[256];
        snprintf(why, sizeof why, "%s", vlm_last_error());
        return vlm_error(vlm_last_status(), "%s: %s", path, why);
    }
    struct vlm_atomic_file out;
    enum vlm_status st = vlm_atomic_open(&out, path);
    if (st == VLM_STATUS_OK) st = vlm_atomic_commit(&out, fwrite(png, 1, n, out.f) == n);
    free(png);
    return st;
}
