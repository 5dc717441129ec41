/* Helpers shared by the image files (not part of the public API). */
#ifndef UZ_VISION_IMAGE_INTERNAL_H
#define UZ_VISION_IMAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "vision/image.h"

/* ITU-R BT.601 luma 0.299 R + 0.587 G + 0.114 B in 16-bit fixed point,
 * rounded (the weights sum to exactly 65536, so white stays 255). */
static inline uint8_t uz_image_luma(uint8_t r, uint8_t g, uint8_t b)
{
    return (uint8_t)((19595u * r + 38470u * g + 7471u * b + 32768u) >> 16);
}

/* True when a width x height image is within UZ_IMAGE_MAX_SIDE and
 * UZ_IMAGE_MAX_PIXELS (and non-empty). */
static inline int uz_image_size_ok(int64_t width, int64_t height)
{
    return width > 0 && height > 0 && width <= UZ_IMAGE_MAX_SIDE && height <= UZ_IMAGE_MAX_SIDE &&
           width * height <= UZ_IMAGE_MAX_PIXELS;
}

/* Formats recognised by their leading bytes. */
typedef enum uz_image_format {
    UZ_IMAGE_UNKNOWN,
    UZ_IMAGE_JPEG,
    UZ_IMAGE_PNG,
    UZ_IMAGE_BMP,
    UZ_IMAGE_GIF,
    UZ_IMAGE_PNM
} uz_image_format;

/* Checks that a PNG, BMP, GIF or binary PNM file holds every byte its
 * structure declares, before stb decodes it (vision/image_verify.c); errors
 * are "name: corrupt <format>: ...". */
uz_status uz_image_verify_container(uz_image_format fmt, const uint8_t *b, size_t n,
                                    const char *name);

#endif
