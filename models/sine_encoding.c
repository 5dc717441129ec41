/* Sine encodings, computed in double and rounded once to float. */
#include "sine_encoding.h"

#include <math.h>

static const double two_pi = 6.28318530717958647692;

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
    uz_tensor *t = uz_tensor_empty(ctx, 2, (int64_t[]){h * w, d});
    if (!t)
        return NULL;
    const double eps = 1e-6;
    for (int64_t i = 0; i < h; i++)
        for (int64_t j = 0; j < w; j++) {
            float *row = t->data + (i * w + j) * d;
            uz_sine_encode((double)(i + 1) / ((double)h + eps) * two_pi, d / 2, row);
            uz_sine_encode((double)(j + 1) / ((double)w + eps) * two_pi, d / 2, row + d / 2);
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
    uz_tensor *t = uz_tensor_empty(ctx, boxes->ndim, shape);
    if (!v || !t)
        return NULL;
    uz_tensor_copy_out(boxes, v);
    for (int64_t i = 0; i < 4 * n; i++)
        uz_sine_encode((double)v[i] * two_pi, feats, t->data + i * feats);
    return t;
}
