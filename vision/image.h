/* 8-bit images: decode/encode (JPEG through TurboJPEG, the rest through
 * stb_image / stb_image_write), geometric transforms, conversion to
 * normalised CHW floats, and simple drawing for `unizoo infer --draw`.
 *
 * Every function that can fail returns a status and leaves the detail in
 * uz_error_message(); a corrupt or truncated file is an error naming it,
 * never a crash. All functions are reentrant: they keep no global state, so
 * OpenMP workers may decode and save different images at the same time. That
 * holds only while stb's process-wide settings (stbi_set_flip_vertically_on_load,
 * stbi_set_unpremultiply_on_load, stbi_write_png_compression_level, ...) keep
 * their defaults: no unizoo code may change them. */
#ifndef UZ_VISION_IMAGE_H
#define UZ_VISION_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Decoders refuse images larger than this per side or in total, before
 * allocating anything, so a forged header cannot demand gigabytes. */
#define UZ_IMAGE_MAX_SIDE 16384
#define UZ_IMAGE_MAX_PIXELS ((int64_t)1 << 28)

/* HWC rows (pixel (x, y) channel c at pixels[(y * width + x) * channels + c]),
 * malloc-owned, channels 1 (gray) or 3 (RGB). */
typedef struct uz_image {
    int width, height, channels;
    uint8_t *pixels;
} uz_image;

/* Allocates zeroed pixels. */
uz_status uz_image_alloc(uz_image *img, int width, int height, int channels);
/* Frees the pixels and zeroes the struct; safe on a zeroed or freed image. */
void uz_image_free(uz_image *img);

/* Decodes JPEG with TurboJPEG and PNG, BMP, GIF (first frame) and binary
 * PNM (P5/P6) with stb_image, chosen by magic bytes; other formats are
 * refused, which keeps stb's less-hardened decoders away from untrusted
 * files. A file missing bytes its structure declares (truncated data, a PNG
 * without IEND or with a bad CRC, a GIF without its trailer) is corrupt. want_channels 0 keeps 1
 * (gray) or 3 (colour; RGBA / gray-alpha dropped to 3 / 1), 1 converts to gray
 * (ITU-R 601 luma), 3 to RGB. name is used in errors
 * ("path: corrupt JPEG: <library message>"). */
uz_status uz_image_decode(const uint8_t *bytes, size_t n, const char *name, int want_channels,
                          uz_image *out);
uz_status uz_image_load(const char *path, int want_channels, uz_image *out);

/* Writes by extension: .jpg/.jpeg through TurboJPEG (quality 1..100),
 * .png/.bmp through stb_image_write; atomic (temp file in the same directory,
 * fsync, rename). */
uz_status uz_image_save(const char *path, const uz_image *img, int jpeg_quality);
/* JPEG bytes in *bytes (heap memory from uz_malloc; the caller frees it with
 * uz_free), length in *n. RGB is encoded with 4:2:0 chroma subsampling. */
uz_status uz_image_encode_jpeg(const uz_image *img, int quality, uint8_t **bytes, size_t *n);

/* Transforms; out is allocated by the call. */
/* Bilinear resize matching torch.nn.functional.interpolate(mode="bilinear",
 * align_corners=False, antialias=False) on uint8, rounding to nearest. */
uz_status uz_image_resize(const uz_image *in, int width, int height, uz_image *out);
/* The width x height window at (x, y); it must lie inside the image. */
uz_status uz_image_crop(const uz_image *in, int x, int y, int width, int height, uz_image *out);
/* Mirrors left-right in place. */
void uz_image_hflip(uz_image *img);
/* Places in on a width x height canvas filled with fill, its top-left corner
 * at (x, y); the canvas must contain it. */
uz_status uz_image_pad(const uz_image *in, int width, int height, int x, int y, uint8_t fill,
                       uz_image *out);

/* CHW floats ((p / 255 - mean[c]) / std[c]) into dst[channels * height * width];
 * a NULL mean means 0 and a NULL std means 1 for every channel. */
void uz_image_to_chw(const uz_image *img, const float *mean, const float *std, float *dst);

/* Drawing: a rectangle outline with corners (x0, y0) and (x1, y1) inclusive,
 * thickness pixels growing inwards, clipped to the image; ASCII text in a
 * built-in 5x7 bitmap font, each glyph cell 6 x 8 pixels times scale (>= 1),
 * top-left at (x, y), clipped; '\n' starts a new line. Colours are RGB; gray
 * images get the luma. */
void uz_image_draw_rect(uz_image *img, int x0, int y0, int x1, int y1, const uint8_t rgb[3],
                        int thickness);
void uz_image_draw_text(uz_image *img, int x, int y, const char *text, const uint8_t rgb[3],
                        int scale);

/* A 3-channel copy (gray replicated) in out, allocated by the call, for
 * coloured drawing. */
uz_status uz_image_to_rgb(const uz_image *in, uz_image *out);

#endif
