/* Container checks that run before stb_image decodes a PNG, BMP, GIF or PNM.
 *
 * stb reads zeros past the end of its input instead of failing, so on its
 * own a truncated BMP, GIF or PNM decodes "successfully" with black rows, and
 * it ignores PNG CRCs and trusts chunk lengths (a 100-byte file can make it
 * allocate 1 GiB for IDAT data that is not there). Each check here walks the
 * file's structure and requires every declared byte to be present, as
 * libpng and giflib do; the pixel data itself is stb's to judge. */
#include <zlib.h>

#include "vision/image_internal.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[1] << 8 | p[0]; }

static int is_letter(uint8_t c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

/* Deflate's best case is a 258-byte match in 2 bits: at most 1032 output
 * bytes per input byte, plus slack for the stream's header and last block. */
#define UZ_DEFLATE_MAX_RATIO 1032
#define UZ_DEFLATE_SLACK 4096

/* Samples per pixel of a PNG colour type; 0 for an invalid type. */
static int64_t png_samples(uint8_t color_type)
{
    switch (color_type) {
    case 0: return 1;
    case 2: return 3;
    case 3: return 1;
    case 4: return 2;
    case 6: return 4;
    default: return 0;
    }
}

/* Chunks must lie inside the file with matching CRCs (critical chunks; an
 * ancillary chunk with a bad CRC is ignored, as libpng does), up to IEND; and
 * the IDAT data must be large enough to inflate to the declared pixels. */
static uz_status verify_png(const uint8_t *b, size_t n, const char *name)
{
    size_t pos = 8;
    int64_t idat = 0, min_raw = -1;
    for (;;) {
        if (n - pos < 12)
            return UZ_FAIL(UZ_ERR_FORMAT, "%s: corrupt PNG: truncated after %zu bytes (no IEND)",
                           name, pos);
        const uint8_t *c = b + pos;
        uint32_t len = be32(c);
        if (!is_letter(c[4]) || !is_letter(c[5]) || !is_letter(c[6]) || !is_letter(c[7]))
            return UZ_FAIL(UZ_ERR_FORMAT, "%s: corrupt PNG: invalid chunk type at byte %zu", name,
                           pos + 4);
        if (len > n - pos - 12)
            return UZ_FAIL(UZ_ERR_FORMAT,
                           "%s: corrupt PNG: chunk %.4s of %u bytes at byte %zu runs past the "
                           "end of the file (%zu bytes)",
                           name, (const char *)c + 4, len, pos, n);
        int critical = !(c[4] & 0x20);
        uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), c + 4, (uInt)len + 4u);
        if (critical && crc != be32(c + 8 + len))
            return UZ_FAIL(UZ_ERR_FORMAT, "%s: corrupt PNG: CRC mismatch in chunk %.4s at byte %zu",
                           name, (const char *)c + 4, pos);
        if (pos == 8 && len == 13 && be32(c + 4) == 0x49484452u) { /* IHDR */
            int64_t w = be32(c + 8), h = be32(c + 12), samples = png_samples(c[17]);
            if (uz_image_size_ok(w, h) && samples)
                min_raw = w * h * samples * c[16] / 8;
        }
        if (be32(c + 4) == 0x49444154u) /* IDAT */
            idat += len;
        pos += 12 + (size_t)len;
        if (be32(c + 4) == 0x49454E44u) /* IEND */
            break;
    }
    if (min_raw > idat * UZ_DEFLATE_MAX_RATIO + UZ_DEFLATE_SLACK)
        return UZ_FAIL(UZ_ERR_FORMAT,
                       "%s: corrupt PNG: %lld bytes of image data cannot hold the %lld bytes of "
                       "pixels the header declares",
                       name, (long long)idat, (long long)min_raw);
    return UZ_OK;
}

/* The pixel array of an uncompressed BMP must lie inside the file. */
static uz_status verify_bmp(const uint8_t *b, size_t n, const char *name)
{
    if (n < 26)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: corrupt BMP: truncated header (%zu bytes)", name, n);
    int64_t offset = le32(b + 10), hsz = le32(b + 14), w, h, bpp, compression = 0;
    if (hsz == 12) {
        w = le16(b + 18);
        h = le16(b + 20);
        bpp = le16(b + 24);
    } else {
        if (n < 34)
            return UZ_FAIL(UZ_ERR_FORMAT, "%s: corrupt BMP: truncated header (%zu bytes)", name,
                           n);
        w = (int32_t)le32(b + 18);
        h = (int32_t)le32(b + 22);
        bpp = le16(b + 28);
        compression = le32(b + 30);
    }
    if (h < 0) /* top-down rows */
        h = -h;
    /* Unsupported or oversized variants are left for stb and the size check
     * to reject with their own messages. */
    int known_bpp = bpp == 1 || bpp == 4 || bpp == 8 || bpp == 16 || bpp == 24 || bpp == 32;
    if (!known_bpp || (compression != 0 && compression != 3) || !uz_image_size_ok(w, h))
        return UZ_OK;
    int64_t row = (w * bpp + 31) / 32 * 4, need = offset + row * h;
    if (need > (int64_t)n)
        return UZ_FAIL(UZ_ERR_FORMAT,
                       "%s: corrupt BMP: the pixel data ends at byte %lld, the file has %zu bytes",
                       name, (long long)need, n);
    return UZ_OK;
}

/* Skips a chain of GIF data sub-blocks starting at *pos; 0 when the file
 * ends first. */
static int gif_skip_blocks(const uint8_t *b, size_t n, size_t *pos)
{
    for (;;) {
        if (*pos >= n)
            return 0;
        size_t len = b[(*pos)++];
        if (len == 0)
            return 1;
        *pos += len;
    }
}

/* Every block up to the trailer must be present. */
static uz_status verify_gif(const uint8_t *b, size_t n, const char *name)
{
    if (n < 13)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: corrupt GIF: truncated header (%zu bytes)", name, n);
    size_t pos = 13;
    if (b[10] & 0x80)
        pos += (size_t)3 << ((b[10] & 7) + 1);
    for (;;) {
        if (pos >= n)
            return UZ_FAIL(UZ_ERR_FORMAT, "%s: corrupt GIF: truncated (no trailer)", name);
        uint8_t tag = b[pos];
        if (tag == 0x3B)
            return UZ_OK;
        if (tag == 0x21) { /* extension: label, then sub-blocks */
            pos += 2;
        } else if (tag == 0x2C) { /* image: descriptor, local table, LZW size, data */
            if (n - pos < 11)
                return UZ_FAIL(UZ_ERR_FORMAT, "%s: corrupt GIF: truncated image descriptor",
                               name);
            uint8_t flags = b[pos + 9];
            pos += 10;
            if (flags & 0x80)
                pos += (size_t)3 << ((flags & 7) + 1);
            pos += 1;
        } else {
            return UZ_FAIL(UZ_ERR_FORMAT, "%s: corrupt GIF: unknown block 0x%02x at byte %zu",
                           name, tag, pos);
        }
        if (!gif_skip_blocks(b, n, &pos))
            return UZ_FAIL(UZ_ERR_FORMAT, "%s: corrupt GIF: truncated (no trailer)", name);
    }
}

/* P5/P6: the header as stb parses it (whitespace and # comments between the
 * numbers, one whitespace byte after maxval), then width x height samples of
 * one or two bytes. */
static uz_status verify_pnm(const uint8_t *b, size_t n, const char *name)
{
    size_t pos = 2;
    int64_t v[3];
    for (int i = 0; i < 3; i++) {
        while (pos < n && (b[pos] == ' ' || (b[pos] >= '\t' && b[pos] <= '\r') || b[pos] == '#')) {
            if (b[pos] == '#')
                while (pos < n && b[pos] != '\n' && b[pos] != '\r')
                    pos++;
            else
                pos++;
        }
        if (pos >= n || b[pos] < '0' || b[pos] > '9')
            return UZ_FAIL(UZ_ERR_FORMAT, "%s: corrupt PNM: bad header", name);
        v[i] = 0;
        while (pos < n && b[pos] >= '0' && b[pos] <= '9' && v[i] <= 65535 * 4)
            v[i] = v[i] * 10 + (b[pos++] - '0');
        if (v[i] > 65535 * 4 || pos >= n)
            return UZ_FAIL(UZ_ERR_FORMAT, "%s: corrupt PNM: bad header", name);
    }
    pos++; /* the single whitespace byte after maxval */
    if (v[2] < 1 || v[2] > 65535)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: corrupt PNM: maxval %lld is outside 1..65535", name,
                       (long long)v[2]);
    if (!uz_image_size_ok(v[0], v[1]))
        return UZ_OK; /* the size check reports it */
    int64_t need = (int64_t)pos + v[0] * v[1] * (b[1] == '6' ? 3 : 1) * (v[2] > 255 ? 2 : 1);
    if (need > (int64_t)n)
        return UZ_FAIL(UZ_ERR_FORMAT,
                       "%s: corrupt PNM: the pixel data ends at byte %lld, the file has %zu bytes",
                       name, (long long)need, n);
    return UZ_OK;
}

uz_status uz_image_verify_container(uz_image_format fmt, const uint8_t *b, size_t n,
                                    const char *name)
{
    switch (fmt) {
    case UZ_IMAGE_PNG: return verify_png(b, n, name);
    case UZ_IMAGE_BMP: return verify_bmp(b, n, name);
    case UZ_IMAGE_GIF: return verify_gif(b, n, name);
    case UZ_IMAGE_PNM: return verify_pnm(b, n, name);
    default: return UZ_OK;
    }
}
