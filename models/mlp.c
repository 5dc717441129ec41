/* MLP on uz_linear + uz_relu. */
#include "mlp.h"

#include <math.h>
#include <stdio.h>

uz_status uz_mlp_declare(uz_mlp *m, uz_params *p, int n_sizes, const int64_t *sizes)
{
    return uz_mlp_declare_named(m, p, "", n_sizes, sizes);
}

uz_status uz_mlp_declare_named(uz_mlp *m, uz_params *p, const char *prefix, int n_sizes,
                               const int64_t *sizes)
{
    if (n_sizes < 2 || n_sizes - 1 > UZ_MLP_MAX_LAYERS)
        return UZ_FAIL(UZ_ERR_ARG, "mlp: %d sizes given, need 2..%d", n_sizes, UZ_MLP_MAX_LAYERS + 1);
    m->n_layers = n_sizes - 1;
    for (int i = 0; i < m->n_layers; i++) {
        char name[128];
        snprintf(name, sizeof name, "%sfc%d.weight", prefix, i);
        m->weight[i] = uz_params_add(p, name, 2, (int64_t[]){sizes[i + 1], sizes[i]});
        snprintf(name, sizeof name, "%sfc%d.bias", prefix, i);
        m->bias[i] = uz_params_add(p, name, 1, (int64_t[]){sizes[i + 1]});
        if (!m->weight[i] || !m->bias[i])
            return uz_error_status();
    }
    return UZ_OK;
}

void uz_mlp_init(uz_mlp *m, uint64_t seed)
{
    uz_mlp_init_streams(m, seed, 0);
}

void uz_mlp_init_streams(uz_mlp *m, uint64_t seed, uint64_t first_stream)
{
    for (int i = 0; i < m->n_layers; i++) {
        float bound = 1.0f / sqrtf((float)m->weight[i]->shape[1]);
        uz_param_init_uniform(m->weight[i], seed, first_stream + (uint64_t)(2 * i), -bound, bound);
        uz_param_init_uniform(m->bias[i], seed, first_stream + (uint64_t)(2 * i + 1), -bound,
                              bound);
    }
}

uz_tensor *uz_mlp_forward(uz_ctx *ctx, const uz_mlp *m, uz_tensor *x)
{
    for (int i = 0; i < m->n_layers; i++) {
        x = uz_linear(ctx, x, m->weight[i], m->bias[i]);
        if (i + 1 < m->n_layers)
            x = uz_relu(ctx, x);
    }
    return x;
}

uz_tensor *uz_mlp_forward_features(uz_ctx *ctx, const uz_mlp *m, uz_tensor *x, float dropout,
                                   bool training)
{
    for (int i = 0; i < m->n_layers; i++)
        x = uz_dropout(ctx, uz_relu(ctx, uz_linear(ctx, x, m->weight[i], m->bias[i])), dropout,
                       training);
    return x;
}
