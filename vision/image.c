/* Image memory, decoding (TurboJPEG for JPEG; the system libstb for PNG,
 * BMP, GIF and PNM, after vision/image_verify.c has checked the file's
 * structure), encoding and atomic saving.
 *
 * stb's implementation: Debian's libstb.so already contains stb_image and
 * stb_image_write (compiled with stb's default STBI_MAX_DIMENSIONS, 2^24), so
 * unizoo defines no STB_IMAGE_IMPLEMENTATION of its own; a second copy would
 * clash with the library's symbols. Our tighter size limit is enforced on the
 * header (stbi_info_from_memory) before stb allocates the pixels.
 *
 * Thread safety: each call creates its own TurboJPEG handle and uses only
 * stb's reentrant entry points (*_from_memory, *_to_func); libstb keeps
 * stbi_failure_reason() in thread-local storage. stb's process-wide settings
 * (stbi_set_flip_vertically_on_load, stbi_set_unpremultiply_on_load,
 * stbi_convert_iphone_png_to_rgb, stbi_flip_vertically_on_write,
 * stbi_write_png_compression_level, stbi_write_force_png_filter,
 * stbi_write_tga_with_rle) are left at their defaults here and must not be
 * changed anywhere in unizoo: they would silently alter images that other
 * OpenMP threads are decoding or writing. */
#include "vision/image.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <stb_image.h>
#include <stb_image_write.h>
#include <turbojpeg.h>

#include "core/alloc.h"
#include "core/file_io.h"
#include "vision/image_internal.h"

/* Larger files are refused before reading: even a 16384^2 RGB BMP is 768 MiB. */
#define UZ_IMAGE_MAX_FILE_BYTES ((size_t)1 << 30)

static const char *const format_names[] = {"unknown", "JPEG", "PNG", "BMP", "GIF", "PNM"};

/* stb sets a reason on every failure; the fallback keeps printf safe. */
static const char *stb_reason(void)
{
    const char *r = stbi_failure_reason();
    return r ? r : "unknown error";
}

/* Allocates w x h x c pixels; zeroed only when asked, so that decoding a
 * forged header does not touch memory the decoder will never fill. */
static uz_status image_new(uz_image *img, int width, int height, int channels, int zero)
{
    size_t bytes = (size_t)width * (size_t)height * (size_t)channels;
    uint8_t *p = zero ? uz_calloc(bytes, "image pixels") : uz_malloc(bytes, "image pixels");
    if (!p)
        return uz_error_status();
    img->width = width;
    img->height = height;
    img->channels = channels;
    img->pixels = p;
    return UZ_OK;
}

uz_status uz_image_alloc(uz_image *img, int width, int height, int channels)
{
    if (!img)
        return UZ_FAIL(UZ_ERR_ARG, "image alloc: NULL image");
    memset(img, 0, sizeof *img);
    if (channels != 1 && channels != 3)
        return UZ_FAIL(UZ_ERR_ARG, "image alloc: channels must be 1 or 3, got %d", channels);
    if (!uz_image_size_ok(width, height))
        return UZ_FAIL(UZ_ERR_ARG,
                       "image alloc: size %dx%d is outside 1..%d per side and %lld pixels",
                       width, height, UZ_IMAGE_MAX_SIDE, (long long)UZ_IMAGE_MAX_PIXELS);
    return image_new(img, width, height, channels, 1);
}

void uz_image_free(uz_image *img)
{
    if (!img)
        return;
    uz_free(img->pixels);
    memset(img, 0, sizeof *img);
}

static uz_status too_large(const char *name, const char *fmt, int64_t w, int64_t h)
{
    return UZ_FAIL(UZ_ERR_FORMAT,
                   "%s: %s of %lldx%lld pixels is empty or too large (at most %d per side, "
                   "%lld pixels)",
                   name, fmt, (long long)w, (long long)h, UZ_IMAGE_MAX_SIDE,
                   (long long)UZ_IMAGE_MAX_PIXELS);
}

static uz_image_format sniff(const uint8_t *b, size_t n)
{
    /* Any SOI goes to TurboJPEG, so stb's own JPEG decoder never runs. */
    if (n >= 2 && b[0] == 0xFF && b[1] == 0xD8)
        return UZ_IMAGE_JPEG;
    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0)
        return UZ_IMAGE_PNG;
    if (n >= 2 && b[0] == 'B' && b[1] == 'M')
        return UZ_IMAGE_BMP;
    if (n >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0))
        return UZ_IMAGE_GIF;
    if (n >= 2 && b[0] == 'P' && (b[1] == '5' || b[1] == '6'))
        return UZ_IMAGE_PNM;
    return UZ_IMAGE_UNKNOWN;
}

static void gray_to_rgb(const uint8_t *src, uint8_t *dst, size_t npix)
{
    for (size_t i = 0; i < npix; i++)
        dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = src[i];
}

static void rgb_to_gray(const uint8_t *src, uint8_t *dst, size_t npix)
{
    for (size_t i = 0; i < npix; i++)
        dst[i] = uz_image_luma(src[3 * i], src[3 * i + 1], src[3 * i + 2]);
}

/* CMYK as libjpeg returns it from Adobe files, which store the inks
 * inverted (255 = no ink): R = C' K' / 255, as Pillow and browsers do. */
static void cmyk_to(const uint8_t *src, uint8_t *dst, size_t npix, int channels)
{
    for (size_t i = 0; i < npix; i++) {
        const uint8_t *s = src + 4 * i;
        unsigned k = s[3];
        uint8_t r = (uint8_t)((s[0] * k + 127u) / 255u);
        uint8_t g = (uint8_t)((s[1] * k + 127u) / 255u);
        uint8_t b = (uint8_t)((s[2] * k + 127u) / 255u);
        if (channels == 1) {
            dst[i] = uz_image_luma(r, g, b);
        } else {
            dst[3 * i] = r;
            dst[3 * i + 1] = g;
            dst[3 * i + 2] = b;
        }
    }
}

static uz_status decode_jpeg(const uint8_t *bytes, size_t n, const char *name, int want,
                             uz_image *out)
{
    tjhandle tj = tjInitDecompress();
    if (!tj)
        return UZ_FAIL(UZ_ERR_NOMEM, "%s: cannot start the JPEG decoder: %s", name,
                       tjGetErrorStr2(NULL));
    uz_status st = UZ_OK;
    uint8_t *cmyk = NULL;
    int w = 0, h = 0, subsamp = 0, cs = 0;
    /* Warnings (premature end of data, corrupt entropy data) would leave
     * grey or garbage rows: they are errors here. LIMITSCANS bounds the work
     * a forged progressive file can demand. */
    const int flags = TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS;
    if (tjDecompressHeader3(tj, bytes, (unsigned long)n, &w, &h, &subsamp, &cs) != 0) {
        st = UZ_FAIL(UZ_ERR_FORMAT, "%s: corrupt JPEG: %s", name, tjGetErrorStr2(tj));
    } else if (w <= 0 || h <= 0) {
        /* A stream that ends before its frame header reads as tables-only. */
        st = UZ_FAIL(UZ_ERR_FORMAT, "%s: corrupt JPEG: no frame header (truncated file?)", name);
    } else if (!uz_image_size_ok(w, h)) {
        st = too_large(name, "JPEG", w, h);
    } else {
        int is_cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
        int channels = want ? want : (cs == TJCS_GRAY ? 1 : 3);
        st = image_new(out, w, h, channels, 0);
        if (st == UZ_OK && is_cmyk) {
            cmyk = uz_malloc((size_t)w * (size_t)h * 4u, "CMYK pixels");
            st = cmyk ? UZ_OK : uz_error_status();
        }
        if (st == UZ_OK) {
            int rc = is_cmyk ? tjDecompress2(tj, bytes, (unsigned long)n, cmyk, w, 0, h,
                                             TJPF_CMYK, flags)
                             : tjDecompress2(tj, bytes, (unsigned long)n, out->pixels, w, 0, h,
                                             channels == 1 ? TJPF_GRAY : TJPF_RGB, flags);
            if (rc != 0)
                st = UZ_FAIL(UZ_ERR_FORMAT, "%s: corrupt JPEG: %s", name, tjGetErrorStr2(tj));
            else if (is_cmyk)
                cmyk_to(cmyk, out->pixels, (size_t)w * (size_t)h, channels);
        } else {
            uz_error_context("%s", name);
        }
    }
    uz_free(cmyk);
    if (tjDestroy(tj) != 0 && st == UZ_OK)
        st = UZ_FAIL(UZ_ERR_FORMAT, "%s: closing the JPEG decoder failed", name);
    if (st != UZ_OK)
        uz_image_free(out);
    return st;
}

static uz_status decode_stb(const uint8_t *bytes, size_t n, const char *name, uz_image_format fmt,
                            int want, uz_image *out)
{
    const char *fname = format_names[fmt];
    if (n > (size_t)INT_MAX)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: %s file of %zu bytes is too large", name, fname, n);
    uz_status st = uz_image_verify_container(fmt, bytes, n, name);
    if (st != UZ_OK)
        return st;
    int len = (int)n, w = 0, h = 0, comp = 0;
    if (!stbi_info_from_memory(bytes, len, &w, &h, &comp))
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: corrupt %s: %s", name, fname, stb_reason());
    if (!uz_image_size_ok(w, h))
        return too_large(name, fname, w, h);
    /* stb drops alpha when asked for 1 or 3 channels. */
    int native = comp <= 2 ? 1 : 3;
    int lw = 0, lh = 0, lcomp = 0;
    stbi_uc *px = stbi_load_from_memory(bytes, len, &lw, &lh, &lcomp, native);
    if (!px)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: corrupt %s: %s", name, fname, stb_reason());
    if (lw != w || lh != h) {
        st = UZ_FAIL(UZ_ERR_FORMAT, "%s: corrupt %s: header says %dx%d, decoded %dx%d", name,
                     fname, w, h, lw, lh);
    } else {
        int channels = want ? want : native;
        st = image_new(out, w, h, channels, 0);
        size_t npix = (size_t)w * (size_t)h;
        if (st != UZ_OK)
            uz_error_context("%s", name);
        else if (channels == native)
            memcpy(out->pixels, px, npix * (size_t)channels);
        else if (channels == 3)
            gray_to_rgb(px, out->pixels, npix);
        else
            rgb_to_gray(px, out->pixels, npix);
    }
    stbi_image_free(px);
    return st;
}

uz_status uz_image_decode(const uint8_t *bytes, size_t n, const char *name, int want_channels,
                          uz_image *out)
{
    if (!out)
        return UZ_FAIL(UZ_ERR_ARG, "image decode: NULL output");
    memset(out, 0, sizeof *out);
    if (!name)
        name = "<memory>";
    if (!bytes && n > 0)
        return UZ_FAIL(UZ_ERR_ARG, "%s: NULL bytes", name);
    if (want_channels != 0 && want_channels != 1 && want_channels != 3)
        return UZ_FAIL(UZ_ERR_ARG, "%s: want_channels must be 0, 1 or 3, got %d", name,
                       want_channels);
    if (n == 0)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: empty file", name);
    uz_image_format fmt = sniff(bytes, n);
    if (fmt == UZ_IMAGE_UNKNOWN)
        return UZ_FAIL(UZ_ERR_FORMAT,
                       "%s: unrecognised image format (not JPEG, PNG, BMP, GIF or binary PNM)",
                       name);
    if (fmt == UZ_IMAGE_JPEG)
        return decode_jpeg(bytes, n, name, want_channels, out);
    return decode_stb(bytes, n, name, fmt, want_channels, out);
}

uz_status uz_image_load(const char *path, int want_channels, uz_image *out)
{
    if (!out)
        return UZ_FAIL(UZ_ERR_ARG, "image load: NULL output");
    memset(out, 0, sizeof *out);
    if (!path)
        return UZ_FAIL(UZ_ERR_ARG, "image load: NULL path");
    char *bytes = NULL;
    size_t n = 0;
    uz_status st = uz_file_read_all(path, UZ_IMAGE_MAX_FILE_BYTES, &bytes, &n);
    if (st == UZ_OK)
        st = uz_image_decode((const uint8_t *)bytes, n, path, want_channels, out);
    uz_free(bytes);
    return st;
}

/* Errors name `what` (a path or an operation). */
static uz_status check_image(const uz_image *img, const char *what)
{
    if (!img || !img->pixels)
        return UZ_FAIL(UZ_ERR_ARG, "%s: NULL image", what);
    if (img->channels != 1 && img->channels != 3)
        return UZ_FAIL(UZ_ERR_ARG, "%s: image has %d channels, expected 1 or 3", what,
                       img->channels);
    if (!uz_image_size_ok(img->width, img->height))
        return UZ_FAIL(UZ_ERR_ARG, "%s: image size %dx%d is out of range", what, img->width,
                       img->height);
    return UZ_OK;
}

static uz_status encode_jpeg(const uz_image *img, int quality, const char *what, uint8_t **bytes,
                             size_t *n)
{
    if (quality < 1 || quality > 100)
        return UZ_FAIL(UZ_ERR_ARG, "%s: JPEG quality must be in 1..100, got %d", what, quality);
    tjhandle tj = tjInitCompress();
    if (!tj)
        return UZ_FAIL(UZ_ERR_NOMEM, "%s: cannot start the JPEG encoder: %s", what,
                       tjGetErrorStr2(NULL));
    unsigned char *jpeg = NULL;
    unsigned long size = 0;
    int gray = img->channels == 1;
    uz_status st = UZ_OK;
    if (tjCompress2(tj, img->pixels, img->width, 0, img->height, gray ? TJPF_GRAY : TJPF_RGB,
                    &jpeg, &size, gray ? TJSAMP_GRAY : TJSAMP_420, quality,
                    TJFLAG_ACCURATEDCT) != 0) {
        st = UZ_FAIL(UZ_ERR_FORMAT, "%s: JPEG encoding failed: %s", what, tjGetErrorStr2(tj));
    } else {
        *bytes = uz_malloc(size, "JPEG bytes");
        if (*bytes) {
            memcpy(*bytes, jpeg, size);
            *n = size;
        } else {
            uz_error_context("%s", what);
            st = uz_error_status();
        }
    }
    tjFree(jpeg);
    if (tjDestroy(tj) != 0 && st == UZ_OK) {
        uz_free(*bytes);
        *bytes = NULL;
        *n = 0;
        st = UZ_FAIL(UZ_ERR_FORMAT, "%s: closing the JPEG encoder failed", what);
    }
    return st;
}

uz_status uz_image_encode_jpeg(const uz_image *img, int quality, uint8_t **bytes, size_t *n)
{
    if (!bytes || !n)
        return UZ_FAIL(UZ_ERR_ARG, "encode JPEG: NULL output");
    *bytes = NULL;
    *n = 0;
    uz_status st = check_image(img, "encode JPEG");
    return st != UZ_OK ? st : encode_jpeg(img, quality, "encode JPEG", bytes, n);
}

/* A growing buffer for stb_image_write's callback, which cannot fail: the
 * first allocation failure is remembered and reported afterwards. */
typedef struct membuf {
    uint8_t *data;
    size_t len, cap;
    int failed;
} membuf;

static void membuf_write(void *ctx, void *data, int size)
{
    membuf *m = ctx;
    if (m->failed || size <= 0)
        return;
    size_t need = m->len + (size_t)size;
    if (need > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap < need)
            cap *= 2;
        uint8_t *p = uz_malloc(cap, "encoded image");
        if (!p) {
            m->failed = 1;
            return;
        }
        if (m->len)
            memcpy(p, m->data, m->len);
        uz_free(m->data);
        m->data = p;
        m->cap = cap;
    }
    memcpy(m->data + m->len, data, (size_t)size);
    m->len = need;
}

/* Case-insensitive match of the path's extension (after the last '.' of
 * the last path component) against ext. */
static int has_ext(const char *path, const char *ext)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && slash > dot))
        return 0;
    const char *e = dot + 1;
    size_t i = 0;
    for (; e[i] && ext[i]; i++) {
        char c = e[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != ext[i])
            return 0;
    }
    return e[i] == '\0' && ext[i] == '\0';
}

uz_status uz_image_save(const char *path, const uz_image *img, int jpeg_quality)
{
    if (!path)
        return UZ_FAIL(UZ_ERR_ARG, "image save: NULL path");
    uz_status st = check_image(img, path);
    if (st != UZ_OK)
        return st;
    int is_jpeg = has_ext(path, "jpg") || has_ext(path, "jpeg");
    int is_png = has_ext(path, "png"), is_bmp = has_ext(path, "bmp");
    if (!is_jpeg && !is_png && !is_bmp)
        return UZ_FAIL(UZ_ERR_ARG,
                       "%s: unsupported image extension (use .jpg, .jpeg, .png or .bmp)", path);
    if (is_jpeg) {
        uint8_t *bytes = NULL;
        size_t n = 0;
        st = encode_jpeg(img, jpeg_quality, path, &bytes, &n);
        if (st == UZ_OK)
            st = uz_file_write_atomic(path, bytes, n);
        uz_free(bytes);
        return st;
    }
    membuf m = {0};
    int w = img->width, h = img->height, c = img->channels;
    int ok = is_png ? stbi_write_png_to_func(membuf_write, &m, w, h, c, img->pixels, w * c)
                    : stbi_write_bmp_to_func(membuf_write, &m, w, h, c, img->pixels);
    if (m.failed)
        st = UZ_FAIL(UZ_ERR_NOMEM, "%s: out of memory encoding %s", path, is_png ? "PNG" : "BMP");
    else if (!ok)
        st = UZ_FAIL(UZ_ERR_FORMAT, "%s: %s encoding failed", path, is_png ? "PNG" : "BMP");
    else
        st = uz_file_write_atomic(path, m.data, m.len);
    uz_free(m.data);
    return st;
}

uz_status uz_image_to_rgb(const uz_image *in, uz_image *out)
{
    if (!out)
        return UZ_FAIL(UZ_ERR_ARG, "image to RGB: NULL output");
    if (in == out)
        return UZ_FAIL(UZ_ERR_ARG, "image to RGB: output must differ from the input");
    memset(out, 0, sizeof *out);
    uz_status st = check_image(in, "image to RGB");
    if (st == UZ_OK)
        st = image_new(out, in->width, in->height, 3, 0);
    if (st != UZ_OK)
        return st;
    size_t npix = (size_t)in->width * (size_t)in->height;
    if (in->channels == 3)
        memcpy(out->pixels, in->pixels, npix * 3u);
    else
        gray_to_rgb(in->pixels, out->pixels, npix);
    return UZ_OK;
}
