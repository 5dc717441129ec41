/* Image I/O, transforms and drawing (vision/image*.c).
 *
 * Round trips: PNG and BMP are lossless and must come back exactly; JPEG
 * (quality 95, 4:2:0, smooth content) must keep PSNR >= 40 dB, a bound that
 * TurboJPEG clears with margin while a channel swap, an off-by-one row, or
 * a decode of the wrong pixel format falls to ~10-25 dB. Resizing is compared
 * with PyTorch's bilinear interpolation (tests/golden/image_resize.safetensors,
 * tests/reference/gen_image_golden.py, exact float64 blends rounded half up)
 * exactly, except where the exact blend lies within 1e-3 of a half-integer:
 * there float32 rounding (in the C code as in PyTorch's own float32 kernel)
 * may tip either way, so both neighbours are accepted. The C error is ~1e-4
 * at most, so no other pixel may differ. The fuzz tests truncate and mutate
 * small encoded images; every decode must succeed or fail with the file's
 * name in the message (the sanitizer build checks memory and leaks), and no
 * truncated file may decode. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>
#include <zlib.h>

#include "check_main.h"
#include "golden.h"
#include "gradcheck.h"
#include "vision/vision.h"

/* ---- scratch directory ------------------------------------------------------ */

static char tmp_dir[64];

static void tmp_setup(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/uz_image_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
}

static void tmp_teardown(void)
{
    DIR *d = opendir(tmp_dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", tmp_dir, e->d_name);
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(tmp_dir);
}

static const char *tmp_path(const char *name)
{
    static char p[256];
    snprintf(p, sizeof p, "%s/%s", tmp_dir, name);
    return p;
}

static void write_bytes(const char *path, const void *bytes, size_t n)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(bytes, 1, n, fp), n);
    ck_assert_int_eq(fclose(fp), 0);
}

/* ---- test images ------------------------------------------------------------ */

/* Smooth gradients with a soft disc: realistic for JPEG. */
static void make_smooth(uz_image *img, int w, int h, int c)
{
    UZ_CK_OK(uz_image_alloc(img, w, h, c));
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double dx = x - w / 2.0, dy = y - h / 2.0, r = sqrt(dx * dx + dy * dy);
            double disc = 60.0 / (1.0 + exp((r - h / 4.0) / 2.0));
            for (int k = 0; k < c; k++) {
                double v = 40.0 + 120.0 * (k == 0 ? x / (double)w : k == 1 ? y / (double)h : 0.5) +
                           disc;
                img->pixels[((size_t)y * (size_t)w + (size_t)x) * (size_t)c + (size_t)k] =
                    (uint8_t)lround(v);
            }
        }
}

/* Every byte different from its neighbours: catches any index mistake. */
static void make_noise(uz_image *img, int w, int h, int c, uint32_t seed)
{
    UZ_CK_OK(uz_image_alloc(img, w, h, c));
    for (size_t i = 0; i < (size_t)w * (size_t)h * (size_t)c; i++) {
        seed = seed * 1664525u + 1013904223u;
        img->pixels[i] = (uint8_t)(seed >> 24);
    }
}

static uint8_t px(const uz_image *img, int x, int y, int k)
{
    return img->pixels[((size_t)y * (size_t)img->width + (size_t)x) * (size_t)img->channels +
                       (size_t)k];
}

static void assert_same(const uz_image *a, const uz_image *b)
{
    ck_assert_int_eq(a->width, b->width);
    ck_assert_int_eq(a->height, b->height);
    ck_assert_int_eq(a->channels, b->channels);
    size_t n = (size_t)a->width * (size_t)a->height * (size_t)a->channels;
    ck_assert_int_eq(memcmp(a->pixels, b->pixels, n), 0);
}

static double psnr(const uz_image *a, const uz_image *b)
{
    ck_assert_int_eq(a->width, b->width);
    ck_assert_int_eq(a->height, b->height);
    ck_assert_int_eq(a->channels, b->channels);
    size_t n = (size_t)a->width * (size_t)a->height * (size_t)a->channels;
    double se = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a->pixels[i] - (double)b->pixels[i];
        se += d * d;
    }
    return se == 0.0 ? INFINITY : 10.0 * log10(255.0 * 255.0 / (se / (double)n));
}

static uint8_t luma(uint8_t r, uint8_t g, uint8_t b)
{
    return (uint8_t)lround(0.299 * r + 0.587 * g + 0.114 * b);
}

/* ---- a PNG writer independent of stb: raw scanlines, zlib, CRCs ------------- */

typedef struct pngbuf {
    uint8_t data[1 << 16];
    size_t n;
} pngbuf;

static void put32(pngbuf *b, uint32_t v)
{
    for (int i = 3; i >= 0; i--)
        b->data[b->n++] = (uint8_t)(v >> (8 * i));
}

static void put_chunk(pngbuf *b, const char *type, const uint8_t *data, size_t n)
{
    put32(b, (uint32_t)n);
    size_t start = b->n;
    memcpy(b->data + b->n, type, 4);
    if (n)
        memcpy(b->data + b->n + 4, data, n);
    b->n += 4 + n;
    put32(b, (uint32_t)crc32(0, b->data + start, (uInt)(4 + n)));
}

/* A PNG of raw samples (rows of w * samples_per_pixel * bytes_per_sample,
 * no filter byte); the header may claim a different size. */
static void png_build(pngbuf *b, uint32_t w, uint32_t h, int depth, int color_type,
                      const uint8_t *raw, size_t row_bytes, size_t rows)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    b->n = 0;
    memcpy(b->data, sig, 8);
    b->n = 8;
    uint8_t ihdr[13] = {0};
    for (int i = 0; i < 4; i++) {
        ihdr[i] = (uint8_t)(w >> (24 - 8 * i));
        ihdr[4 + i] = (uint8_t)(h >> (24 - 8 * i));
    }
    ihdr[8] = (uint8_t)depth;
    ihdr[9] = (uint8_t)color_type;
    put_chunk(b, "IHDR", ihdr, sizeof ihdr);
    uint8_t filtered[4096], z[8192];
    size_t fn = 0;
    for (size_t r = 0; r < rows; r++) {
        filtered[fn++] = 0;
        memcpy(filtered + fn, raw + r * row_bytes, row_bytes);
        fn += row_bytes;
    }
    uLongf zn = sizeof z;
    ck_assert_int_eq(compress2(z, &zn, filtered, (uLong)fn, 9), Z_OK);
    put_chunk(b, "IDAT", z, zn);
    put_chunk(b, "IEND", NULL, 0);
}

/* ---- basics ----------------------------------------------------------------- */

START_TEST(test_alloc_and_errors)
{
    uz_image img;
    UZ_CK_OK(uz_image_alloc(&img, 5, 3, 3));
    ck_assert_int_eq(img.width, 5);
    ck_assert_int_eq(img.height, 3);
    ck_assert_int_eq(img.channels, 3);
    for (int i = 0; i < 45; i++)
        ck_assert_int_eq(img.pixels[i], 0);
    uz_image_free(&img);
    ck_assert_ptr_null(img.pixels);
    uz_image_free(&img); /* twice is harmless */

    ck_assert_int_eq(uz_image_alloc(&img, 5, 3, 2), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "channels"));
    ck_assert_int_eq(uz_image_alloc(&img, 0, 3, 1), UZ_ERR_ARG);
    ck_assert_int_eq(uz_image_alloc(&img, UZ_IMAGE_MAX_SIDE + 1, 1, 1), UZ_ERR_ARG);
    ck_assert_int_eq(uz_image_alloc(&img, 1, UZ_IMAGE_MAX_SIDE + 1, 3), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "size"));
    ck_assert_ptr_null(img.pixels);
}
END_TEST

START_TEST(test_png_bmp_roundtrip_exact)
{
    const char *names[] = {"a.png", "b.PNG", "c.bmp"};
    for (int f = 0; f < 3; f++)
        for (int c = 1; c <= 3; c += 2) {
            uz_image src, got;
            make_noise(&src, 13, 7, c, (uint32_t)(f * 10 + c));
            const char *path = tmp_path(names[f]);
            UZ_CK_OK(uz_image_save(path, &src, 0));
            UZ_CK_OK(uz_image_load(path, 0, &got));
            if (f == 2 && c == 1) {
                /* stb writes gray BMPs as 24-bit: the gray comes back replicated. */
                ck_assert_int_eq(got.channels, 3);
                uz_image gray;
                UZ_CK_OK(uz_image_load(path, 1, &gray));
                assert_same(&gray, &src);
                uz_image_free(&gray);
            } else {
                assert_same(&got, &src);
            }
            uz_image_free(&got);
            uz_image_free(&src);
        }
}
END_TEST

START_TEST(test_jpeg_roundtrip)
{
    for (int c = 1; c <= 3; c += 2) {
        uz_image src, got, got_mem;
        make_smooth(&src, 48, 32, c);
        const char *path = tmp_path(c == 1 ? "g.jpg" : "c.JPEG");
        UZ_CK_OK(uz_image_save(path, &src, 95));
        UZ_CK_OK(uz_image_load(path, 0, &got));
        ck_assert_int_eq(got.channels, c);
        double p = psnr(&src, &got);
        ck_assert_msg(p >= 40.0, "channels %d: PSNR %.2f dB < 40", c, p);

        uint8_t *jpeg = NULL;
        size_t n = 0;
        UZ_CK_OK(uz_image_encode_jpeg(&src, 95, &jpeg, &n));
        ck_assert_uint_gt(n, 100);
        ck_assert_int_eq(jpeg[0], 0xFF);
        ck_assert_int_eq(jpeg[1], 0xD8);
        UZ_CK_OK(uz_image_decode(jpeg, n, "mem.jpg", 0, &got_mem));
        assert_same(&got_mem, &got); /* the same encoder settings as the file */
        uz_image_free(&got_mem);

        /* Lower quality stays decodable and is smaller. */
        uint8_t *small = NULL;
        size_t sn = 0;
        UZ_CK_OK(uz_image_encode_jpeg(&src, 10, &small, &sn));
        ck_assert_uint_lt(sn, n);
        uz_free(small);
        uz_free(jpeg);
        uz_image_free(&got);
        uz_image_free(&src);
    }
}
END_TEST

START_TEST(test_jpeg_channel_conversion)
{
    uz_image rgb, gray_src, a, b;
    make_smooth(&rgb, 32, 24, 3);
    make_smooth(&gray_src, 32, 24, 1);
    uint8_t *jpeg = NULL;
    size_t n = 0;

    /* A gray JPEG asked for RGB: replicated. */
    UZ_CK_OK(uz_image_encode_jpeg(&gray_src, 90, &jpeg, &n));
    UZ_CK_OK(uz_image_decode(jpeg, n, "g.jpg", 3, &a));
    UZ_CK_OK(uz_image_decode(jpeg, n, "g.jpg", 0, &b));
    ck_assert_int_eq(a.channels, 3);
    ck_assert_int_eq(b.channels, 1);
    for (int y = 0; y < 24; y++)
        for (int x = 0; x < 32; x++)
            for (int k = 0; k < 3; k++)
                ck_assert_int_eq(px(&a, x, y, k), px(&b, x, y, 0));
    uz_image_free(&a);
    uz_image_free(&b);
    uz_free(jpeg);

    /* A colour JPEG asked for gray: its luma (libjpeg's Y, +-1 from rounding
     * the colour conversion twice). */
    UZ_CK_OK(uz_image_encode_jpeg(&rgb, 90, &jpeg, &n));
    UZ_CK_OK(uz_image_decode(jpeg, n, "c.jpg", 1, &a));
    UZ_CK_OK(uz_image_decode(jpeg, n, "c.jpg", 0, &b));
    ck_assert_int_eq(a.channels, 1);
    ck_assert_int_eq(b.channels, 3);
    int worst = 0;
    for (int y = 0; y < 24; y++)
        for (int x = 0; x < 32; x++) {
            int d = abs((int)px(&a, x, y, 0) -
                        (int)luma(px(&b, x, y, 0), px(&b, x, y, 1), px(&b, x, y, 2)));
            worst = d > worst ? d : worst;
        }
    ck_assert_int_le(worst, 2);
    uz_image_free(&a);
    uz_image_free(&b);
    uz_free(jpeg);
    uz_image_free(&rgb);
    uz_image_free(&gray_src);
}
END_TEST

/* An Adobe (inverted) CMYK JPEG from TurboJPEG itself: R = C' K' / 255. */
START_TEST(test_jpeg_cmyk)
{
    enum { W = 16, H = 16 };
    static uint8_t cmyk[W * H * 4];
    for (int i = 0; i < W * H; i++) {
        cmyk[4 * i] = 200;
        cmyk[4 * i + 1] = 100;
        cmyk[4 * i + 2] = 255;
        cmyk[4 * i + 3] = 128;
    }
    tjhandle tj = tjInitCompress();
    ck_assert_ptr_nonnull(tj);
    unsigned char *jpeg = NULL;
    unsigned long n = 0;
    ck_assert_int_eq(tjCompress2(tj, cmyk, W, 0, H, TJPF_CMYK, &jpeg, &n, TJSAMP_444, 100, 0), 0);
    ck_assert_int_eq(tjDestroy(tj), 0);
    uz_image rgb, gray;
    UZ_CK_OK(uz_image_decode(jpeg, n, "cmyk.jpg", 0, &rgb));
    UZ_CK_OK(uz_image_decode(jpeg, n, "cmyk.jpg", 1, &gray));
    tjFree(jpeg);
    ck_assert_int_eq(rgb.channels, 3);
    const int want[3] = {200 * 128 / 255, 100 * 128 / 255, 128};
    for (int k = 0; k < 3; k++)
        ck_assert_int_le(abs((int)px(&rgb, 5, 7, k) - want[k]), 2);
    ck_assert_int_le(abs((int)px(&gray, 5, 7, 0) - (int)luma(100, 50, 128)), 2);
    uz_image_free(&rgb);
    uz_image_free(&gray);
}
END_TEST

START_TEST(test_handmade_png)
{
    /* 3 x 2 RGB with known pixels. */
    const uint8_t rgb[18] = {255, 0,  0,  0,  255, 0,  0,   0,   255,
                             10,  20, 30, 40, 50,  60, 255, 255, 255};
    pngbuf *b = malloc(sizeof *b);
    ck_assert_ptr_nonnull(b);
    png_build(b, 3, 2, 8, 2, rgb, 9, 2);
    uz_image img;
    UZ_CK_OK(uz_image_decode(b->data, b->n, "hand.png", 0, &img));
    ck_assert_int_eq(img.width, 3);
    ck_assert_int_eq(img.height, 2);
    ck_assert_int_eq(img.channels, 3);
    ck_assert_int_eq(memcmp(img.pixels, rgb, 18), 0);
    uz_image_free(&img);
    UZ_CK_OK(uz_image_decode(b->data, b->n, "hand.png", 1, &img));
    ck_assert_int_eq(img.channels, 1);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(img.pixels[i], luma(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]));
    uz_image_free(&img);

    /* RGBA: the alpha is dropped, colour kept (no premultiplication). */
    const uint8_t rgba[8] = {1, 2, 3, 0, 250, 251, 252, 128};
    png_build(b, 2, 1, 8, 6, rgba, 8, 1);
    UZ_CK_OK(uz_image_decode(b->data, b->n, "rgba.png", 0, &img));
    ck_assert_int_eq(img.channels, 3);
    const uint8_t want_rgb[6] = {1, 2, 3, 250, 251, 252};
    ck_assert_int_eq(memcmp(img.pixels, want_rgb, 6), 0);
    uz_image_free(&img);

    /* Gray + alpha keeps one channel; asked for RGB it is replicated. */
    const uint8_t ga[4] = {77, 0, 200, 255};
    png_build(b, 2, 1, 8, 4, ga, 4, 1);
    UZ_CK_OK(uz_image_decode(b->data, b->n, "ga.png", 0, &img));
    ck_assert_int_eq(img.channels, 1);
    ck_assert_int_eq(img.pixels[0], 77);
    ck_assert_int_eq(img.pixels[1], 200);
    uz_image_free(&img);
    UZ_CK_OK(uz_image_decode(b->data, b->n, "ga.png", 3, &img));
    const uint8_t want_ga[6] = {77, 77, 77, 200, 200, 200};
    ck_assert_int_eq(memcmp(img.pixels, want_ga, 6), 0);
    uz_image_free(&img);

    /* 16-bit gray is reduced to 8 bits (the high byte). */
    const uint8_t g16[4] = {0x12, 0x34, 0xAB, 0xCD};
    png_build(b, 2, 1, 16, 0, g16, 4, 1);
    UZ_CK_OK(uz_image_decode(b->data, b->n, "g16.png", 0, &img));
    ck_assert_int_eq(img.pixels[0], 0x12);
    ck_assert_int_eq(img.pixels[1], 0xAB);
    uz_image_free(&img);

    /* A binary PGM. */
    const uint8_t pgm[] = "P5\n2 2\n255\n\x01\x02\x03\x04";
    UZ_CK_OK(uz_image_decode(pgm, sizeof pgm - 1, "a.pgm", 0, &img));
    ck_assert_int_eq(img.width, 2);
    ck_assert_int_eq(img.channels, 1);
    ck_assert_int_eq(img.pixels[3], 4);
    uz_image_free(&img);
    free(b);
}
END_TEST

/* 2 x 2, four global colours (red, green, blue, white), pixels 0 1 / 2 3:
 * LZW with minimum code size 2 coding CLEAR 0 1 2 3 EOI (the last two codes
 * in 4 bits, after the table reaches 8 entries). */
static const uint8_t gif_2x2[] = {
    'G', 'I', 'F', '8', '9', 'a', 2, 0, 2, 0, 0x81, 0, 0,   /* header, screen */
    255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255,         /* colour table */
    0x2C, 0, 0, 0, 0, 2, 0, 2, 0, 0,                        /* image descriptor */
    2, 3, 0x44, 0x34, 0x05, 0,                              /* LZW data */
    0x3B};                                                  /* trailer */

START_TEST(test_gif_and_structure_checks)
{
    uz_image img;
    UZ_CK_OK(uz_image_decode(gif_2x2, sizeof gif_2x2, "hand.gif", 0, &img));
    ck_assert_int_eq(img.width, 2);
    ck_assert_int_eq(img.height, 2);
    ck_assert_int_eq(img.channels, 3);
    const uint8_t want[12] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
    ck_assert_int_eq(memcmp(img.pixels, want, 12), 0);
    uz_image_free(&img);
    ck_assert_int_eq(uz_image_decode(gif_2x2, sizeof gif_2x2 - 1, "t.gif", 0, &img),
                     UZ_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "t.gif: corrupt GIF: truncated"));

    pngbuf *b = malloc(sizeof *b);
    ck_assert_ptr_nonnull(b);
    const uint8_t gray[4] = {9, 8, 7, 6};
    png_build(b, 2, 2, 8, 0, gray, 2, 2);
    size_t idat_data = 8 + 25 + 8; /* signature, IHDR chunk, IDAT length + type */
    b->data[idat_data + 2] ^= 0x40;
    ck_assert_int_eq(uz_image_decode(b->data, b->n, "crc.png", 0, &img), UZ_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "crc.png: corrupt PNG: CRC mismatch"));

    /* An ancillary chunk with a bad CRC is ignored, as libpng does. */
    png_build(b, 2, 2, 8, 0, gray, 2, 2);
    size_t end = b->n - 12; /* before IEND */
    pngbuf *t = malloc(sizeof *t);
    ck_assert_ptr_nonnull(t);
    memcpy(t->data, b->data, end);
    t->n = end;
    put_chunk(t, "tEXt", (const uint8_t *)"k\0v", 3);
    t->data[t->n - 1] ^= 1;
    put_chunk(t, "IEND", NULL, 0);
    UZ_CK_OK(uz_image_decode(t->data, t->n, "anc.png", 0, &img));
    ck_assert_int_eq(img.pixels[3], 6);
    uz_image_free(&img);

    /* A chunk length running past the end. */
    b->data[8 + 25 + 1] = 0x10;
    ck_assert_int_eq(uz_image_decode(b->data, b->n, "len.png", 0, &img), UZ_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "runs past the end"));
    free(t);
    free(b);

    /* PNM: a header comment is fine, a missing byte is not. */
    const uint8_t ppm[] = "P6 # c\n1 2\n255\n\x01\x02\x03\x04\x05\x06";
    UZ_CK_OK(uz_image_decode(ppm, sizeof ppm - 1, "a.ppm", 0, &img));
    ck_assert_int_eq(img.height, 2);
    ck_assert_int_eq(img.pixels[5], 6);
    uz_image_free(&img);
    ck_assert_int_eq(uz_image_decode(ppm, sizeof ppm - 2, "a.ppm", 0, &img), UZ_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "a.ppm: corrupt PNM"));
    const uint8_t pgm_bad[] = "P5\n2 2\n0\n\x01\x02\x03\x04";
    ck_assert_int_eq(uz_image_decode(pgm_bad, sizeof pgm_bad - 1, "m.pgm", 0, &img),
                     UZ_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "maxval"));
}
END_TEST

/* Sizes past the limits fail from the header, before any pixel allocation. */
START_TEST(test_absurd_dimensions)
{
    pngbuf *b = malloc(sizeof *b);
    ck_assert_ptr_nonnull(b);
    const uint8_t row[3] = {1, 2, 3};
    const uint32_t sizes[][2] = {{20000, 1}, {1, 16385}, {16384, 16385}, {0x7FFFFFFF, 0x7FFFFFFF},
                                 {0, 1}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        png_build(b, sizes[i][0], sizes[i][1], 8, 0, row, 3, 1);
        uz_image img;
        ck_assert_int_eq(uz_image_decode(b->data, b->n, "huge.png", 0, &img), UZ_ERR_FORMAT);
        ck_assert_ptr_nonnull(strstr(uz_error_message(), "huge.png"));
        ck_assert_ptr_null(img.pixels);
    }
    /* 16384 x 16384 is within the limits; a file this small cannot hold it
     * (deflate expands at most 1032-fold), so it fails before stb allocates. */
    png_build(b, 16384, 16384, 8, 0, row, 3, 1);
    uz_image img;
    ck_assert_int_eq(uz_image_decode(b->data, b->n, "big.png", 0, &img), UZ_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "big.png: corrupt PNG"));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "cannot hold"));
    free(b);

    /* A JPEG whose frame header claims 60000 x 24. */
    uz_image src;
    make_smooth(&src, 32, 24, 3);
    uint8_t *jpeg = NULL;
    size_t n = 0;
    UZ_CK_OK(uz_image_encode_jpeg(&src, 80, &jpeg, &n));
    size_t sof = 0;
    for (size_t i = 2; i + 9 < n && !sof; i++)
        if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0)
            sof = i;
    ck_assert_uint_gt(sof, 0);
    jpeg[sof + 7] = 0xEA; /* width 0xEA60 = 60000 */
    jpeg[sof + 8] = 0x60;
    ck_assert_int_eq(uz_image_decode(jpeg, n, "wide.jpg", 0, &img), UZ_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "wide.jpg"));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "too large"));
    uz_free(jpeg);
    uz_image_free(&src);
}
END_TEST

START_TEST(test_file_errors)
{
    uz_image img;
    const char *missing = tmp_path("missing.png");
    ck_assert_int_eq(uz_image_load(missing, 0, &img), UZ_ERR_IO);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), missing));
    ck_assert_ptr_null(img.pixels);

    const char *empty = tmp_path("empty.jpg");
    write_bytes(empty, "", 0);
    ck_assert_int_eq(uz_image_load(empty, 0, &img), UZ_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), empty));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "empty"));

    const char *garbage = tmp_path("garbage.png");
    write_bytes(garbage, "this is not an image at all", 27);
    ck_assert_int_eq(uz_image_load(garbage, 0, &img), UZ_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), garbage));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "unrecognised"));

    /* A PNG signature followed by garbage, and a JPEG SOI followed by garbage. */
    const uint8_t bad_png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 1, 2, 3, 4, 5, 6};
    ck_assert_int_eq(uz_image_decode(bad_png, sizeof bad_png, "x.png", 0, &img), UZ_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "x.png: corrupt PNG"));
    const uint8_t bad_jpg[] = {0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0};
    ck_assert_int_eq(uz_image_decode(bad_jpg, sizeof bad_jpg, "x.jpg", 0, &img), UZ_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "x.jpg: corrupt JPEG: "));

    /* A directory is not an image. */
    ck_assert_int_eq(uz_image_load(tmp_dir, 0, &img), UZ_ERR_IO);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "regular file"));

    ck_assert_int_eq(uz_image_decode(bad_png, sizeof bad_png, "x.png", 2, &img), UZ_ERR_ARG);
    ck_assert_int_eq(uz_image_decode(NULL, 5, "x.png", 0, &img), UZ_ERR_ARG);
    ck_assert_int_eq(uz_image_load(NULL, 0, &img), UZ_ERR_ARG);
}
END_TEST

START_TEST(test_save_errors_and_atomicity)
{
    uz_image src;
    make_noise(&src, 8, 6, 3, 7);
    const char *gif = tmp_path("out.gif");
    ck_assert_int_eq(uz_image_save(gif, &src, 90), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), gif));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "extension"));
    ck_assert_int_eq(uz_image_save(tmp_path("noext"), &src, 90), UZ_ERR_ARG);
    ck_assert_int_eq(uz_image_save(tmp_path("dir.png/x"), &src, 90), UZ_ERR_ARG);
    ck_assert_int_eq(uz_image_save(tmp_path("q.jpg"), &src, 0), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "quality"));
    ck_assert_int_eq(uz_image_save(tmp_path("q.jpg"), &src, 101), UZ_ERR_ARG);
    uint8_t *jpeg = NULL;
    size_t n = 0;
    ck_assert_int_eq(uz_image_encode_jpeg(&src, 0, &jpeg, &n), UZ_ERR_ARG);
    ck_assert_ptr_null(jpeg);
    uz_image bad = src;
    bad.channels = 4;
    ck_assert_int_eq(uz_image_save(tmp_path("c4.png"), &bad, 90), UZ_ERR_ARG);
    ck_assert_int_eq(uz_image_save(tmp_path("null.png"), NULL, 90), UZ_ERR_ARG);

    char nodir[300];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/x.png", tmp_dir);
    ck_assert_int_eq(uz_image_save(nodir, &src, 90), UZ_ERR_IO);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), nodir));

    /* Overwriting replaces the file whole and leaves no temporary behind. */
    const char *path = tmp_path("over.png");
    uz_image other, got;
    make_noise(&other, 3, 2, 1, 99);
    UZ_CK_OK(uz_image_save(path, &other, 90));
    UZ_CK_OK(uz_image_save(path, &src, 90));
    UZ_CK_OK(uz_image_load(path, 0, &got));
    assert_same(&got, &src);
    uz_image_free(&got);
    DIR *d = opendir(tmp_dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d)))
        ck_assert_msg(strstr(e->d_name, ".tmp") == NULL, "left behind: %s", e->d_name);
    closedir(d);
    uz_image_free(&other);
    uz_image_free(&src);
}
END_TEST

/* ---- transforms ------------------------------------------------------------- */

static void golden_image(const uz_st_file *f, const char *name, uz_image *img)
{
    const uz_st_tensor *t = uz_st_find(f, name);
    ck_assert_msg(t != NULL, "%s missing from image_resize.safetensors", name);
    ck_assert_int_eq(t->ndim, 3);
    UZ_CK_OK(uz_image_alloc(img, (int)t->shape[1], (int)t->shape[0], (int)t->shape[2]));
    size_t n = (size_t)t->shape[0] * (size_t)t->shape[1] * (size_t)t->shape[2];
    float *v = malloc(n * sizeof *v);
    ck_assert_ptr_nonnull(v);
    UZ_CK_OK(uz_st_read_f32(f, name, 3, t->shape, v));
    for (size_t i = 0; i < n; i++) {
        ck_assert(v[i] >= 0.0f && v[i] <= 255.0f && v[i] == floorf(v[i]));
        img->pixels[i] = (uint8_t)v[i];
    }
    free(v);
}

START_TEST(test_resize_matches_torch)
{
    uz_st_file *f = uz_golden_open("image_resize.safetensors");
    ck_assert_msg(f != NULL, "%s", uz_error_message());
    const char *inputs[] = {"rgb", "gray"};
    int compared = 0, ties = 0;
    for (int i = 0; i < uz_st_count(f); i++) {
        const char *name = uz_st_at(f, i)->name;
        for (int j = 0; j < 2; j++) {
            size_t len = strlen(inputs[j]);
            if (strncmp(name, inputs[j], len) != 0 || name[len] != '.' ||
                strcmp(name + len, ".in") == 0 || strstr(name, ".exact"))
                continue;
            char in_name[32], exact_name[64];
            snprintf(in_name, sizeof in_name, "%s.in", inputs[j]);
            snprintf(exact_name, sizeof exact_name, "%s.exact", name);
            uz_image in, want, got;
            golden_image(f, in_name, &in);
            golden_image(f, name, &want);
            const uz_st_tensor *t = uz_st_find(f, exact_name);
            ck_assert_ptr_nonnull(t);
            size_t n = (size_t)want.width * (size_t)want.height * (size_t)want.channels;
            float *exact = malloc(n * sizeof *exact);
            ck_assert_ptr_nonnull(exact);
            UZ_CK_OK(uz_st_read_f32(f, exact_name, 3, t->shape, exact));
            UZ_CK_OK(uz_image_resize(&in, want.width, want.height, &got));
            for (size_t k = 0; k < n; k++) {
                /* Within float rounding of x.5 either neighbour is right. */
                float frac = exact[k] - floorf(exact[k]);
                int tie = fabsf(frac - 0.5f) < 1e-3f;
                ties += tie;
                int below = (int)floorf(exact[k]);
                int ok = got.pixels[k] == want.pixels[k] ||
                         (tie && (got.pixels[k] == below || got.pixels[k] == below + 1));
                ck_assert_msg(ok, "%s[%zu]: %d, torch %.4f", name, k, got.pixels[k],
                              (double)exact[k]);
            }
            compared++;
            free(exact);
            uz_image_free(&in);
            uz_image_free(&want);
            uz_image_free(&got);
        }
    }
    ck_assert_int_gt(ties, 0); /* the tie rule is exercised */
    ck_assert_int_eq(compared, 11);
    uz_st_close(f);

    /* Same size is a copy; a constant image stays constant at any size. */
    uz_image src, got;
    make_noise(&src, 9, 4, 3, 5);
    UZ_CK_OK(uz_image_resize(&src, 9, 4, &got));
    assert_same(&got, &src);
    uz_image_free(&got);
    memset(src.pixels, 77, 9 * 4 * 3);
    UZ_CK_OK(uz_image_resize(&src, 300, 301, &got));
    for (size_t k = 0; k < 300 * 301 * 3; k++)
        ck_assert_int_eq(got.pixels[k], 77);
    uz_image_free(&got);
    ck_assert_int_eq(uz_image_resize(&src, 0, 5, &got), UZ_ERR_ARG);
    ck_assert_int_eq(uz_image_resize(&src, 5, 5, &src), UZ_ERR_ARG);
    uz_image_free(&src);
}
END_TEST

START_TEST(test_crop_pad_flip)
{
    uz_image src, out;
    make_noise(&src, 6, 5, 3, 11);
    UZ_CK_OK(uz_image_crop(&src, 2, 1, 3, 4, &out));
    ck_assert_int_eq(out.width, 3);
    ck_assert_int_eq(out.height, 4);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 3; x++)
            for (int k = 0; k < 3; k++)
                ck_assert_int_eq(px(&out, x, y, k), px(&src, x + 2, y + 1, k));
    uz_image_free(&out);
    UZ_CK_OK(uz_image_crop(&src, 0, 0, 6, 5, &out));
    assert_same(&out, &src);
    uz_image_free(&out);
    ck_assert_int_eq(uz_image_crop(&src, 4, 0, 3, 1, &out), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "inside"));
    ck_assert_int_eq(uz_image_crop(&src, -1, 0, 2, 2, &out), UZ_ERR_ARG);
    ck_assert_int_eq(uz_image_crop(&src, 0, 0, 0, 2, &out), UZ_ERR_ARG);
    ck_assert_int_eq(uz_image_crop(&src, 0x7FFFFFFF, 0, 0x7FFFFFFF, 1, &out), UZ_ERR_ARG);
    ck_assert_ptr_null(out.pixels);

    UZ_CK_OK(uz_image_pad(&src, 9, 8, 2, 3, 200, &out));
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 9; x++)
            for (int k = 0; k < 3; k++) {
                int inside = x >= 2 && x < 8 && y >= 3 && y < 8;
                ck_assert_int_eq(px(&out, x, y, k), inside ? px(&src, x - 2, y - 3, k) : 200);
            }
    uz_image_free(&out);
    ck_assert_int_eq(uz_image_pad(&src, 9, 8, 4, 0, 0, &out), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "fit"));
    ck_assert_int_eq(uz_image_pad(&src, 5, 5, 0, 0, 0, &out), UZ_ERR_ARG);

    uz_image copy;
    UZ_CK_OK(uz_image_crop(&src, 0, 0, 6, 5, &copy));
    uz_image_hflip(&copy);
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 6; x++)
            for (int k = 0; k < 3; k++)
                ck_assert_int_eq(px(&copy, x, y, k), px(&src, 5 - x, y, k));
    uz_image_hflip(&copy);
    assert_same(&copy, &src);
    uz_image_free(&copy);

    uz_image odd;
    make_noise(&odd, 5, 2, 1, 3);
    UZ_CK_OK(uz_image_crop(&odd, 0, 0, 5, 2, &copy));
    uz_image_hflip(&copy);
    for (int x = 0; x < 5; x++)
        ck_assert_int_eq(px(&copy, x, 1, 0), px(&odd, 4 - x, 1, 0));
    uz_image_free(&copy);
    uz_image_free(&odd);
    uz_image_hflip(NULL);
    uz_image_free(&src);
}
END_TEST

START_TEST(test_to_chw_and_rgb)
{
    uz_image src;
    make_noise(&src, 4, 3, 3, 21);
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    float dst[36], plain[36];
    uz_image_to_chw(&src, mean, std, dst);
    uz_image_to_chw(&src, NULL, NULL, plain);
    for (int k = 0; k < 3; k++)
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 4; x++) {
                float p = (float)px(&src, x, y, k);
                ck_assert_float_eq(dst[(k * 3 + y) * 4 + x], (p / 255.0f - mean[k]) / std[k]);
                ck_assert_float_eq(plain[(k * 3 + y) * 4 + x], p / 255.0f);
            }
    uz_image rgb;
    UZ_CK_OK(uz_image_to_rgb(&src, &rgb));
    assert_same(&rgb, &src);
    uz_image_free(&rgb);
    uz_image gray;
    make_noise(&gray, 4, 3, 1, 22);
    const float half = 0.5f;
    uz_image_to_chw(&gray, &half, &half, dst);
    ck_assert_float_eq(dst[5], ((float)gray.pixels[5] / 255.0f - 0.5f) / 0.5f);
    UZ_CK_OK(uz_image_to_rgb(&gray, &rgb));
    ck_assert_int_eq(rgb.channels, 3);
    for (int i = 0; i < 12; i++)
        for (int k = 0; k < 3; k++)
            ck_assert_int_eq(rgb.pixels[3 * i + k], gray.pixels[i]);
    ck_assert_int_eq(uz_image_to_rgb(&gray, &gray), UZ_ERR_ARG);
    uz_image_free(&rgb);
    uz_image_free(&gray);
    uz_image_free(&src);
}
END_TEST

/* ---- drawing ---------------------------------------------------------------- */

enum { GUARD = 64 };

/* An image whose pixels sit between two guard zones, to catch stray writes. */
static uint8_t *guarded(uz_image *img, int w, int h, int c)
{
    size_t n = (size_t)w * (size_t)h * (size_t)c;
    uint8_t *buf = malloc(n + 2 * GUARD);
    ck_assert_ptr_nonnull(buf);
    memset(buf, 0xA5, n + 2 * GUARD);
    memset(buf + GUARD, 0, n);
    img->width = w;
    img->height = h;
    img->channels = c;
    img->pixels = buf + GUARD;
    return buf;
}

static void check_guards(const uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < GUARD; i++) {
        ck_assert_int_eq(buf[i], 0xA5);
        ck_assert_int_eq(buf[GUARD + n + i], 0xA5);
    }
}

START_TEST(test_draw_rect)
{
    uz_image img;
    uint8_t *buf = guarded(&img, 10, 8, 3);
    const uint8_t red[3] = {255, 0, 0};
    uz_image_draw_rect(&img, 2, 1, 6, 5, red, 1);
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 10; x++) {
            int on = x >= 2 && x <= 6 && y >= 1 && y <= 5 &&
                     (x == 2 || x == 6 || y == 1 || y == 5);
            ck_assert_int_eq(px(&img, x, y, 0), on ? 255 : 0);
            ck_assert_int_eq(px(&img, x, y, 1), 0);
        }
    /* Swapped corners and thickness 2 grow inwards. */
    memset(img.pixels, 0, 240);
    uz_image_draw_rect(&img, 7, 6, 1, 0, red, 2);
    ck_assert_int_eq(px(&img, 2, 2, 0), 255);
    ck_assert_int_eq(px(&img, 3, 3, 0), 0);
    ck_assert_int_eq(px(&img, 6, 5, 0), 255);
    ck_assert_int_eq(px(&img, 8, 3, 0), 0);

    /* Boxes partly or wholly outside, and extreme coordinates. */
    const int boxes[][5] = {{-5, -5, 3, 3, 1},           {8, 6, 20, 30, 3},
                            {-100, 2, 100, 4, 1},        {-2147483647 - 1, -5, 2147483647, 2, 4},
                            {50, 50, 60, 60, 1},         {-9, -9, -1, -1, 2},
                            {0, 0, 9, 7, 2147483647},    {3, 3, 3, 3, 1}};
    for (size_t i = 0; i < sizeof boxes / sizeof boxes[0]; i++)
        uz_image_draw_rect(&img, boxes[i][0], boxes[i][1], boxes[i][2], boxes[i][3], red,
                           boxes[i][4]);
    check_guards(buf, 240);
    ck_assert_int_eq(px(&img, 9, 7, 0), 255);
    ck_assert_int_eq(px(&img, 0, 0, 0), 255);
    free(buf);

    /* Gray images get the colour's luma. */
    buf = guarded(&img, 4, 4, 1);
    const uint8_t c[3] = {10, 200, 30};
    uz_image_draw_rect(&img, 0, 0, 3, 3, c, 1);
    ck_assert_int_eq(px(&img, 0, 3, 0), luma(10, 200, 30));
    ck_assert_int_eq(px(&img, 1, 1, 0), 0);
    check_guards(buf, 16);
    uz_image_draw_rect(NULL, 0, 0, 1, 1, c, 1);
    free(buf);
}
END_TEST

START_TEST(test_draw_text)
{
    uz_image img;
    uint8_t *buf = guarded(&img, 20, 12, 3);
    const uint8_t white[3] = {255, 255, 255};
    uz_image_draw_text(&img, 1, 2, "T", white, 1);
    /* 'T': a full top bar, then the centre column. */
    for (int x = 0; x < 20; x++)
        ck_assert_int_eq(px(&img, x, 2, 0), x >= 1 && x <= 5 ? 255 : 0);
    for (int y = 3; y < 9; y++)
        for (int x = 0; x < 20; x++)
            ck_assert_int_eq(px(&img, x, y, 2), x == 3 ? 255 : 0);
    ck_assert_int_eq(px(&img, 3, 9, 0), 0);

    /* Scale 2: each font pixel is 2 x 2; the space advances 12 pixels. */
    memset(img.pixels, 0, 720);
    uz_image_draw_text(&img, 0, 0, " |", white, 2);
    for (int y = 0; y < 12; y++)
        for (int x = 0; x < 20; x++)
            ck_assert_int_eq(px(&img, x, y, 0), (x == 16 || x == 17) && y < 14 ? 255 : 0);

    /* Clipping at every edge, newlines, non-ASCII bytes, huge scales. */
    const int at[][3] = {{-3, -4, 1}, {17, 9, 1}, {-2147483647 - 1, 5, 3}, {5, 2147483647, 1},
                         {2147483600, 0, 1}, {0, 0, 2147483647}, {-50, -50, 1000}};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++)
        uz_image_draw_text(&img, at[i][0], at[i][1], "Hi there,\nWORLD 0.93 \xc3\xa9~", white,
                           at[i][2]);
    check_guards(buf, 720);
    uz_image_draw_text(&img, 0, 0, NULL, white, 1);
    free(buf);

    /* A newline returns to x and moves down 8 * scale. */
    buf = guarded(&img, 8, 20, 1);
    uz_image_draw_text(&img, 1, 0, "|\n|", white, 1);
    ck_assert_int_eq(px(&img, 3, 0, 0), 255);
    ck_assert_int_eq(px(&img, 3, 7, 0), 0);
    ck_assert_int_eq(px(&img, 3, 8, 0), 255);
    ck_assert_int_eq(px(&img, 3, 14, 0), 255);
    check_guards(buf, 160);
    free(buf);
}
END_TEST

/* ---- fuzzing ---------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Decodes exactly n bytes (an exact-size copy, so the sanitizer sees any
 * read past the end): success with a sane image, or an error naming the
 * file. Returns 1 on success. */
static int fuzz_decode(const uint8_t *bytes, size_t n, const char *name, int want)
{
    uint8_t *copy = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, bytes, n);
    uz_image img;
    uz_error_clear();
    uz_status st = uz_image_decode(copy, n, name, want, &img);
    free(copy);
    if (st != UZ_OK) {
        ck_assert_msg(strstr(uz_error_message(), name) != NULL, "%s: message without name: %s",
                      name, uz_error_message());
        ck_assert_ptr_null(img.pixels);
        return 0;
    }
    ck_assert_ptr_nonnull(img.pixels);
    ck_assert(img.width >= 1 && img.width <= UZ_IMAGE_MAX_SIDE);
    ck_assert(img.height >= 1 && img.height <= UZ_IMAGE_MAX_SIDE);
    ck_assert(img.channels == (want ? want : img.channels) &&
              (img.channels == 1 || img.channels == 3));
    uz_image_free(&img);
    return 1;
}

/* Rewrites the CRC of every PNG chunk that still lies inside the file, so
 * that a mutation reaches stb's decoder instead of failing the CRC check. */
static void png_fix_crcs(uint8_t *b, size_t n)
{
    size_t pos = 8;
    while (n - pos >= 12) {
        size_t len = (size_t)b[pos] << 24 | (size_t)b[pos + 1] << 16 | (size_t)b[pos + 2] << 8 |
                     b[pos + 3];
        if (len > n - pos - 12)
            return;
        uint32_t crc = (uint32_t)crc32(0, b + pos + 4, (uInt)(len + 4));
        for (int i = 0; i < 4; i++)
            b[pos + 8 + len + (size_t)i] = (uint8_t)(crc >> (24 - 8 * i));
        pos += 12 + len;
    }
}

/* Every truncation, then `mutations` copies with 1..4 random bytes changed
 * (half of them within the first 64 bytes, where the headers are; with
 * `fix`, half get their checksums repaired). Returns how many truncations
 * decoded. */
static int fuzz_format(const uint8_t *good, size_t n, const char *name, int mutations,
                       uint64_t seed, void (*fix)(uint8_t *, size_t))
{
    ck_assert_int_eq(fuzz_decode(good, n, name, 0), 1);
    int truncated_ok = 0;
    for (size_t len = 0; len < n; len++)
        truncated_ok += fuzz_decode(good, len, name, (int)(len % 3) == 2 ? 3 : (int)(len % 3));
    rng_state = seed;
    uint8_t *m = malloc(n);
    ck_assert_ptr_nonnull(m);
    for (int i = 0; i < mutations; i++) {
        memcpy(m, good, n);
        int count = 1 + (int)(rng_next() % 4);
        size_t span = (i & 1) && n > 64 ? 64 : n;
        for (int j = 0; j < count; j++) {
            uint64_t r = rng_next();
            size_t at = r % span;
            /* Half set a random byte, half flip one bit. */
            if ((r >> 40) & 1)
                m[at] = (uint8_t)(r >> 48);
            else
                m[at] = (uint8_t)(m[at] ^ (1u << ((r >> 44) & 7)));
        }
        if (fix && (i & 2))
            fix(m, n);
        fuzz_decode(m, n, name, i % 3 == 2 ? 3 : i % 3);
    }
    free(m);
    return truncated_ok;
}

START_TEST(test_fuzz_jpeg)
{
    uz_image src;
    make_smooth(&src, 24, 16, 3);
    /* Some texture so that the entropy-coded data is not trivial. */
    for (size_t i = 0; i < 24 * 16 * 3; i += 7)
        src.pixels[i] = (uint8_t)(src.pixels[i] ^ 0x35);
    uint8_t *jpeg = NULL;
    size_t n = 0;
    UZ_CK_OK(uz_image_encode_jpeg(&src, 75, &jpeg, &n));
    /* A truncated JPEG is never silently accepted: premature end of data is a
     * TurboJPEG warning, which the decoder turns into an error. */
    ck_assert_int_eq(fuzz_format(jpeg, n, "fuzz.jpg", 2000, 0x9E3779B97F4A7C15ull, NULL), 0);
    uz_free(jpeg);

    /* Progressive and gray variants go through other decoder paths. */
    tjhandle tj = tjInitCompress();
    ck_assert_ptr_nonnull(tj);
    unsigned char *prog = NULL;
    unsigned long pn = 0;
    ck_assert_int_eq(tjCompress2(tj, src.pixels, 24, 0, 16, TJPF_RGB, &prog, &pn, TJSAMP_422, 80,
                                 TJFLAG_PROGRESSIVE),
                     0);
    ck_assert_int_eq(tjDestroy(tj), 0);
    ck_assert_int_eq(fuzz_format(prog, pn, "fuzz_prog.jpg", 1000, 12345, NULL), 0);
    tjFree(prog);
    uz_image gray;
    make_smooth(&gray, 16, 16, 1);
    UZ_CK_OK(uz_image_encode_jpeg(&gray, 60, &jpeg, &n));
    ck_assert_int_eq(fuzz_format(jpeg, n, "fuzz_gray.jpg", 1000, 777, NULL), 0);
    uz_free(jpeg);
    uz_image_free(&gray);
    uz_image_free(&src);
}
END_TEST

static size_t read_back(const char *path, uint8_t *buf, size_t cap)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    size_t n = fread(buf, 1, cap, fp);
    fclose(fp);
    ck_assert_uint_lt(n, cap);
    return n;
}

/* PNG, BMP, GIF, PNM: stb alone would accept most truncations (it reads
 * zeros past the end); the container checks must reject every one. */
START_TEST(test_fuzz_stb_formats)
{
    static uint8_t buf[8192];
    uz_image src;
    make_noise(&src, 12, 9, 3, 4242);
    /* Some flat areas so that the PNG filters and deflate matches vary. */
    memset(src.pixels, 128, 12 * 3 * 3);
    const char *path = tmp_path("fuzz.png");
    UZ_CK_OK(uz_image_save(path, &src, 0));
    size_t n = read_back(path, buf, sizeof buf);
    ck_assert_int_eq(fuzz_format(buf, n, "fuzz.png", 3000, 0xDEADBEEFull, png_fix_crcs), 0);

    path = tmp_path("fuzz.bmp");
    uz_image small;
    make_noise(&small, 5, 3, 3, 17);
    UZ_CK_OK(uz_image_save(path, &small, 0));
    n = read_back(path, buf, sizeof buf);
    ck_assert_int_eq(fuzz_format(buf, n, "fuzz.bmp", 1000, 31337, NULL), 0);

    ck_assert_int_eq(fuzz_format(gif_2x2, sizeof gif_2x2, "fuzz.gif", 1000, 4711, NULL), 0);

    const char head[] = "P6\n# comment\n5 3\n255\n";
    memcpy(buf, head, sizeof head - 1);
    memcpy(buf + sizeof head - 1, small.pixels, 45);
    ck_assert_int_eq(fuzz_format(buf, sizeof head - 1 + 45, "fuzz.ppm", 1000, 99, NULL), 0);
    uz_image_free(&small);
    uz_image_free(&src);
}
END_TEST

/* ---- concurrency ------------------------------------------------------------ */

/* Decoders share no state: OpenMP threads decoding good and corrupt files
 * at once get the serial results and their own error messages. */
START_TEST(test_parallel_decode)
{
    uz_image src, want_jpg, want_png;
    make_smooth(&src, 40, 30, 3);
    uint8_t *jpeg = NULL;
    size_t jn = 0;
    UZ_CK_OK(uz_image_encode_jpeg(&src, 85, &jpeg, &jn));
    const char *path = tmp_path("par.png");
    UZ_CK_OK(uz_image_save(path, &src, 0));
    UZ_CK_OK(uz_image_decode(jpeg, jn, "par.jpg", 0, &want_jpg));
    UZ_CK_OK(uz_image_load(path, 0, &want_png));
    enum { N = 64 };
    int ok[N];
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < N; i++) {
        uz_image got;
        char name[32];
        snprintf(name, sizeof name, "bad%d.jpg", i);
        switch (i % 3) {
        case 0:
            ok[i] = uz_image_decode(jpeg, jn, "par.jpg", 0, &got) == UZ_OK &&
                    memcmp(got.pixels, want_jpg.pixels, 40 * 30 * 3) == 0;
            break;
        case 1:
            ok[i] = uz_image_load(path, 0, &got) == UZ_OK &&
                    memcmp(got.pixels, want_png.pixels, 40 * 30 * 3) == 0;
            break;
        default:
            ok[i] = uz_image_decode(jpeg, jn / 2, name, 0, &got) != UZ_OK &&
                    strstr(uz_error_message(), name) != NULL;
        }
        uz_image_free(&got);
    }
    for (int i = 0; i < N; i++)
        ck_assert_msg(ok[i], "parallel decode %d", i);
    uz_free(jpeg);
    uz_image_free(&want_jpg);
    uz_image_free(&want_png);
    uz_image_free(&src);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("image");
    TCase *tc = tcase_create("image");
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_test(tc, test_alloc_and_errors);
    tcase_add_test(tc, test_png_bmp_roundtrip_exact);
    tcase_add_test(tc, test_jpeg_roundtrip);
    tcase_add_test(tc, test_jpeg_channel_conversion);
    tcase_add_test(tc, test_jpeg_cmyk);
    tcase_add_test(tc, test_handmade_png);
    tcase_add_test(tc, test_gif_and_structure_checks);
    tcase_add_test(tc, test_absurd_dimensions);
    tcase_add_test(tc, test_file_errors);
    tcase_add_test(tc, test_save_errors_and_atomicity);
    tcase_add_test(tc, test_resize_matches_torch);
    tcase_add_test(tc, test_crop_pad_flip);
    tcase_add_test(tc, test_to_chw_and_rgb);
    tcase_add_test(tc, test_draw_rect);
    tcase_add_test(tc, test_draw_text);
    tcase_add_test(tc, test_fuzz_jpeg);
    tcase_add_test(tc, test_fuzz_stb_formats);
    tcase_add_test(tc, test_parallel_decode);
    suite_add_tcase(s, tc);
    return s;
}
