/* Sine encodings, computed in double and rounded once to float (the
 * divisors once per call, every output as uz_sine_encode gives it). */
#include "sine_encoding.h"

#include <math.h>
#include <string.h>

static const double two_pi = 6.28318530717958647692;

/* The divisors 10000^(k / feats) of the even k < feats, into div[feats / 2]. */
static void divisors(int64_t feats, double *div)
{
    for (int64_t k = 0; k < feats; k += 2)
        div[k / 2] = pow(10000.0, (double)k / (double)feats);
}

static void encode_with(double v, const double *div, int64_t feats, float *out)
{
    for (int64_t k = 0; k < feats; k += 2) {
        double x = v / div[k / 2];
        out[k] = (float)sin(x);
        out[k + 1] = (float)cos(x);
    }
}

void uz_sine_encode(double v, int64_t feats, float *out)
{
    for (int64_t k = 0; k < feats; k += 2) {
        double x = v / pow(10000.0, (double)k / (double)feats);
        out[k] = (float)sin(x);
        out[k + 1] = (float)cos(x);
    }
}

uz_tensor *uz_sine_position_2d(uz_ctx *ctx, int64_t h, int64_t w, int64_t d)
{
    if (h <= 0 || w <= 0 || d <= 0 || d % 4 != 0) {
        UZ_FAIL(UZ_ERR_ARG, "sine position: map %lldx%lld, width %lld (must be a multiple of 4)",
                (long long)h, (long long)w, (long long)d);
        return NULL;
    }
    int64_t half = d / 2;
    uz_tensor *t = uz_tensor_empty(ctx, 2, (int64_t[]){h * w, d});
    double *div = uz_ctx_alloc(ctx, sizeof(double) * (size_t)(half / 2));
    float *ys = uz_ctx_alloc(ctx, sizeof(float) * (size_t)((h + w) * half)), *xs = ys + h * half;
    if (!t || !div || !ys)
        return NULL;
    /* Each row and column encoded once, then copied into its tokens. */
    const double eps = 1e-6;
    divisors(half, div);
    for (int64_t i = 0; i < h; i++)
        encode_with((double)(i + 1) / ((double)h + eps) * two_pi, div, half, ys + i * half);
    for (int64_t j = 0; j < w; j++)
        encode_with((double)(j + 1) / ((double)w + eps) * two_pi, div, half, xs + j * half);
    for (int64_t i = 0; i < h; i++)
        for (int64_t j = 0; j < w; j++) {
            float *row = t->data + (i * w + j) * d;
            memcpy(row, ys + i * half, sizeof(float) * (size_t)half);
            memcpy(row + half, xs + j * half, sizeof(float) * (size_t)half);
        }
    return t;
}

uz_tensor *uz_sine_encode_boxes(uz_ctx *ctx, uz_tensor *boxes, int64_t feats)
{
    if (!boxes)
        return NULL;
    char s[UZ_SHAPE_STR_LEN];
    if (boxes->ndim < 1 || boxes->ndim > UZ_MAX_DIMS || boxes->shape[boxes->ndim - 1] != 4 ||
        feats <= 0 || feats % 2 != 0) {
        UZ_FAIL(UZ_ERR_ARG, "sine box encoding: boxes %s are not [..., 4] or %lld features are not even",
                uz_shape_str(boxes, s, sizeof s), (long long)feats);
        return NULL;
    }
    int64_t n = uz_tensor_numel(boxes) / 4, shape[UZ_MAX_DIMS];
    for (int i = 0; i < boxes->ndim; i++)
        shape[i] = boxes->shape[i];
    shape[boxes->ndim - 1] = 4 * feats;
    float *v = uz_ctx_alloc(ctx, sizeof(float) * (size_t)(4 * n));
    double *div = uz_ctx_alloc(ctx, sizeof(double) * (size_t)(feats / 2));
    uz_tensor *t = uz_tensor_empty(ctx, boxes->ndim, shape);
    if (!v || !div || !t)
        return NULL;
    uz_tensor_copy_out(boxes, v);
    divisors(feats, div);
    float *out = t->data;
#pragma omp parallel for schedule(static) if (4 * n * feats >= 16384)
    for (int64_t i = 0; i < 4 * n; i++)
        encode_with((double)v[i] * two_pi, div, feats, out + i * feats);
    return t;
}
