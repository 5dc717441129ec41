/* The augmenter MLP on uz_linear, uz_gelu and uz_l2_normalize. */
#include "augmenter.h"

#include <math.h>
#include <stdio.h>

uz_status uz_augmenter_declare(uz_augmenter *a, uz_params *p, const char *prefix, int64_t hidden)
{
    if (hidden < 4 || hidden % 4 != 0)
        return UZ_FAIL(UZ_ERR_ARG, "augmenter %s: hidden size %lld is not a positive multiple of 4",
                       prefix, (long long)hidden);
    a->width[0] = hidden;
    a->width[1] = hidden / 2;
    a->width[2] = hidden / 4;
    a->width[3] = hidden;
    for (int i = 0; i < UZ_AUGMENTER_LAYERS; i++) {
        char name[160];
        snprintf(name, sizeof name, "%s.dense_%d.weight", prefix, i + 1);
        a->weight[i] = uz_params_add(p, name, 2, (int64_t[]){a->width[i + 1], a->width[i]});
        snprintf(name, sizeof name, "%s.dense_%d.bias", prefix, i + 1);
        a->bias[i] = uz_params_add(p, name, 1, (int64_t[]){a->width[i + 1]});
        if (!a->weight[i] || !a->bias[i])
            return uz_error_status();
    }
    return UZ_OK;
}

void uz_augmenter_init(const uz_augmenter *a, uint64_t seed, uint64_t first_stream)
{
    for (int i = 0; i < UZ_AUGMENTER_LAYERS; i++) {
        float bound = 1.0f / sqrtf((float)a->width[i]);
        uz_param_init_uniform(a->weight[i], seed, first_stream + (uint64_t)(2 * i), -bound, bound);
        uz_param_init_uniform(a->bias[i], seed, first_stream + (uint64_t)(2 * i + 1), -bound,
                              bound);
    }
}

uz_tensor *uz_augmenter_forward(uz_ctx *ctx, const uz_augmenter *a, uz_tensor *h)
{
    uz_tensor *x = h;
    for (int i = 0; i < UZ_AUGMENTER_LAYERS; i++) {
        x = uz_linear(ctx, x, a->weight[i], a->bias[i]);
        if (i + 1 < UZ_AUGMENTER_LAYERS)
            x = uz_gelu(ctx, x, UZ_GELU_ERF);
    }
    /* The official Normalize divides by the norm with no floor; 1e-12 (as
     * F.normalize) only matters for an all-zero row, which it keeps finite. */
    return uz_l2_normalize(ctx, x, 1e-12f);
}

void uz_augmenter_set_trainable(const uz_augmenter *a, bool on)
{
    for (int i = 0; i < UZ_AUGMENTER_LAYERS; i++) {
        uz_tensor_set_requires_grad(a->weight[i], on);
        uz_tensor_set_requires_grad(a->bias[i], on);
    }
}
