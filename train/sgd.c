/* SGD over the flat parameter buffer. */
#include "train.h"

#include "core/alloc.h"

uz_status uz_sgd_init(uz_sgd *opt, uz_params *p, float lr, float momentum, float weight_decay,
                      bool nesterov)
{
    *opt = (uz_sgd){.lr = lr, .momentum = momentum, .weight_decay = weight_decay, .nesterov = nesterov};
    if (nesterov && momentum <= 0.0f)
        return UZ_FAIL(UZ_ERR_ARG, "sgd: nesterov needs momentum > 0 (got %g)", (double)momentum);
    if (momentum > 0.0f) {
        opt->buf = uz_calloc(sizeof(float) * (size_t)uz_params_numel(p), "sgd momentum");
        if (!opt->buf)
            return UZ_ERR_NOMEM;
    }
    return UZ_OK;
}

void uz_sgd_step(uz_sgd *opt, uz_params *p)
{
    float *w = uz_params_data(p), *g = uz_params_grad(p), *buf = opt->buf;
    int64_t n = uz_params_numel(p);
    float lr = opt->lr, mu = opt->momentum, wd = opt->weight_decay;
    bool first = opt->steps == 0;
#pragma omp parallel for simd if (n > 65536) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] + wd * w[i];
        if (buf) {
            buf[i] = first ? d : mu * buf[i] + d;
            d = opt->nesterov ? d + mu * buf[i] : buf[i];
        }
        w[i] -= lr * d;
    }
    opt->steps++;
}

void uz_sgd_free(uz_sgd *opt)
{
    uz_free(opt->buf);
    opt->buf = NULL;
}
