/* Training: optimizers (more arrive with the training-core issue). */
#ifndef UZ_TRAIN_H
#define UZ_TRAIN_H

#include "core/params.h"

/* SGD with PyTorch's semantics: d = g + wd*w; buf = d on the first step,
 * then buf = momentum*buf + d; d = nesterov ? d + momentum*buf : buf;
 * w -= lr*d. */
typedef struct uz_sgd {
    float lr, momentum, weight_decay;
    bool nesterov;
    float *buf;           /* momentum buffer over the flat parameter store */
    int64_t steps;
} uz_sgd;

uz_status uz_sgd_init(uz_sgd *opt, uz_params *p, float lr, float momentum, float weight_decay,
                      bool nesterov);
void uz_sgd_step(uz_sgd *opt, uz_params *p);
void uz_sgd_free(uz_sgd *opt);

#endif
