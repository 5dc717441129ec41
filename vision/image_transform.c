/* Geometric transforms (bilinear resize, crop, flip, pad) and conversion to
 * normalised CHW floats. */
#include <string.h>

#include "core/alloc.h"
#include "vision/image.h"
#include "vision/image_internal.h"

/* Parallelise a resize once the output has this many bytes. */
#define UZ_RESIZE_PAR_BYTES ((int64_t)1 << 16)

/* Errors name `what`. */
static uz_status check_input(const uz_image *in, uz_image *out, const char *what)
{
    if (!out)
        return UZ_FAIL(UZ_ERR_ARG, "%s: NULL output", what);
    if (in == out)
        return UZ_FAIL(UZ_ERR_ARG, "%s: output must differ from the input", what);
    memset(out, 0, sizeof *out);
    if (!in || !in->pixels)
        return UZ_FAIL(UZ_ERR_ARG, "%s: NULL image", what);
    if ((in->channels != 1 && in->channels != 3) || !uz_image_size_ok(in->width, in->height))
        return UZ_FAIL(UZ_ERR_ARG, "%s: invalid image %dx%dx%d", what, in->width, in->height,
                       in->channels);
    return UZ_OK;
}

/* One output coordinate's two source neighbours and their weights. */
typedef struct lerp_tap {
    int64_t i0, i1;
    float w0, w1;
} lerp_tap;

/* PyTorch's compute_source_index_and_lambda for align_corners=False, in the
 * same float operations: src = scale (o + 0.5) - 0.5 clamped at 0, with
 * scale = in / out. */
static void linear_taps(int in, int out, lerp_tap *taps)
{
    const float scale = (float)in / (float)out;
    for (int o = 0; o < out; o++) {
        float src = scale * ((float)o + 0.5f) - 0.5f;
        if (src < 0.0f)
            src = 0.0f;
        int64_t i0 = (int64_t)src;
        float l1 = src - (float)i0;
        taps[o].i0 = i0;
        taps[o].i1 = i0 + (i0 < in - 1 ? 1 : 0);
        taps[o].w0 = 1.0f - l1;
        taps[o].w1 = l1;
    }
}

uz_status uz_image_resize(const uz_image *in, int width, int height, uz_image *out)
{
    uz_status st = check_input(in, out, "image resize");
    if (st != UZ_OK)
        return st;
    if (!uz_image_size_ok(width, height))
        return UZ_FAIL(UZ_ERR_ARG, "image resize: output size %dx%d is out of range", width,
                       height);
    lerp_tap *xt = uz_malloc(sizeof *xt * (size_t)width, "resize taps");
    lerp_tap *yt = xt ? uz_malloc(sizeof *yt * (size_t)height, "resize taps") : NULL;
    if (yt)
        st = uz_image_alloc(out, width, height, in->channels);
    if (!yt || st != UZ_OK) {
        uz_free(xt);
        uz_free(yt);
        return uz_error_status();
    }
    linear_taps(in->width, width, xt);
    linear_taps(in->height, height, yt);
    const int64_t c = in->channels, in_row = (int64_t)in->width * c, out_row = (int64_t)width * c;
    const uint8_t *src = in->pixels;
    uint8_t *dst = out->pixels;
    /* Rounded half up, as PyTorch's own uint8 kernels (fixed-point weights
     * plus half an output step) do. The float sum is PyTorch's order: the
     * row blend first, then the column blend. */
#pragma omp parallel for if (out_row * height > UZ_RESIZE_PAR_BYTES)
    for (int y = 0; y < height; y++) {
        const lerp_tap ty = yt[y];
        const uint8_t *r0 = src + ty.i0 * in_row, *r1 = src + ty.i1 * in_row;
        uint8_t *o = dst + (int64_t)y * out_row;
        for (int x = 0; x < width; x++) {
            const lerp_tap tx = xt[x];
            for (int64_t k = 0; k < c; k++) {
                float top = tx.w0 * (float)r0[tx.i0 * c + k] + tx.w1 * (float)r0[tx.i1 * c + k];
                float bot = tx.w0 * (float)r1[tx.i0 * c + k] + tx.w1 * (float)r1[tx.i1 * c + k];
                float v = ty.w0 * top + ty.w1 * bot;
                o[(int64_t)x * c + k] = (uint8_t)(v + 0.5f);
            }
        }
    }
    uz_free(xt);
    uz_free(yt);
    return UZ_OK;
}

uz_status uz_image_crop(const uz_image *in, int x, int y, int width, int height, uz_image *out)
{
    uz_status st = check_input(in, out, "image crop");
    if (st != UZ_OK)
        return st;
    if (width < 1 || height < 1 || x < 0 || y < 0 || (int64_t)x + width > in->width ||
        (int64_t)y + height > in->height)
        return UZ_FAIL(UZ_ERR_ARG,
                       "image crop: window %dx%d at (%d, %d) does not lie inside the %dx%d image",
                       width, height, x, y, in->width, in->height);
    st = uz_image_alloc(out, width, height, in->channels);
    if (st != UZ_OK)
        return st;
    const size_t c = (size_t)in->channels, row = (size_t)width * c;
    for (int r = 0; r < height; r++)
        memcpy(out->pixels + (size_t)r * row,
               in->pixels + ((size_t)(y + r) * (size_t)in->width + (size_t)x) * c, row);
    return UZ_OK;
}

void uz_image_hflip(uz_image *img)
{
    if (!img || !img->pixels)
        return;
    const int64_t c = img->channels, w = img->width;
    for (int64_t y = 0; y < img->height; y++) {
        uint8_t *row = img->pixels + y * w * c;
        for (int64_t a = 0, b = w - 1; a < b; a++, b--)
            for (int64_t k = 0; k < c; k++) {
                uint8_t t = row[a * c + k];
                row[a * c + k] = row[b * c + k];
                row[b * c + k] = t;
            }
    }
}

uz_status uz_image_pad(const uz_image *in, int width, int height, int x, int y, uint8_t fill,
                       uz_image *out)
{
    uz_status st = check_input(in, out, "image pad");
    if (st != UZ_OK)
        return st;
    if (x < 0 || y < 0 || (int64_t)x + in->width > width || (int64_t)y + in->height > height)
        return UZ_FAIL(UZ_ERR_ARG,
                       "image pad: the %dx%d image at (%d, %d) does not fit a %dx%d canvas",
                       in->width, in->height, x, y, width, height);
    st = uz_image_alloc(out, width, height, in->channels);
    if (st != UZ_OK)
        return st;
    const size_t c = (size_t)in->channels, row = (size_t)in->width * c;
    memset(out->pixels, fill, (size_t)width * (size_t)height * c);
    for (int r = 0; r < in->height; r++)
        memcpy(out->pixels + ((size_t)(y + r) * (size_t)width + (size_t)x) * c,
               in->pixels + (size_t)r * row, row);
    return UZ_OK;
}

void uz_image_to_chw(const uz_image *img, const float *mean, const float *std, float *dst)
{
    if (!img || !img->pixels || !dst)
        return;
    const int64_t c = img->channels, hw = (int64_t)img->width * img->height;
    for (int64_t k = 0; k < c; k++) {
        /* A table per channel: 256 evaluations of the exact formula instead
         * of one per pixel. */
        float lut[256];
        float m = mean ? mean[k] : 0.0f, s = std ? std[k] : 1.0f;
        for (int v = 0; v < 256; v++)
            lut[v] = ((float)v / 255.0f - m) / s;
        float *d = dst + k * hw;
        const uint8_t *p = img->pixels + k;
        for (int64_t i = 0; i < hw; i++)
            d[i] = lut[p[i * c]];
    }
}
