/* The backbone trained alone as a classifier, then handed back. */
#include "models/backbone_pretrain.h"

#include "core/clock.h"
#include "core/rng.h"
#include "models/generalist.h"
#include "train/optim.h"
#include "train/schedule.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { PRETRAIN_STREAM = 0x50524554 /* the index draws' Philox stream */ };

static void copy_conv(const uz_nn_conv2d *dst, const uz_nn_conv2d *src)
{
    memcpy(dst->weight->data, src->weight->data,
           sizeof(float) * (size_t)uz_tensor_numel(src->weight));
    memcpy(dst->bias->data, src->bias->data, sizeof(float) * (size_t)uz_tensor_numel(src->bias));
}

static void copy_backbone(uz_backbone *dst, const uz_backbone *src)
{
    copy_conv(&dst->stem, &src->stem);
    for (int s = 0; s < 3; s++) {
        copy_conv(&dst->conv1[s], &src->conv1[s]);
        copy_conv(&dst->conv2[s], &src->conv2[s]);
    }
}

static uz_status check(const uz_backbone *b, const uz_gen_digits *d, int n_classes,
                       const uz_backbone_pretrain_config *c)
{
    if (c->steps < 1 || c->batch < 1 || !(c->lr > 0.0f) || !(c->weight_decay >= 0.0f))
        return UZ_FAIL(UZ_ERR_ARG, "backbone pre-training: steps %lld, batch %lld, lr %g, "
                       "weight decay %g (steps, batch and lr must be positive)",
                       (long long)c->steps, (long long)c->batch, (double)c->lr,
                       (double)c->weight_decay);
    if (n_classes < 2 || d->images.n < 1)
        return UZ_FAIL(UZ_ERR_ARG, "backbone pre-training: %lld images in %d classes",
                       (long long)d->images.n, n_classes);
    if (d->images.channels != b->cfg.channels)
        return UZ_FAIL(UZ_ERR_ARG, "backbone pre-training: %d-channel images for a %d-channel "
                       "backbone", d->images.channels, b->cfg.channels);
    if (b->stem.weight->device != UZ_DEVICE_CPU)
        return UZ_FAIL(UZ_ERR_ARG, "backbone pre-training: the backbone is not on the CPU");
    return UZ_OK;
}

/* One step: loss and correct predictions of a batch, backward, update. */
static uz_status step(uz_ctx *ctx, uz_backbone *net, const uz_nn_linear *head, uz_optim *opt,
                      const uz_gen_digits *d, const int64_t *idx, int32_t *y, int64_t n,
                      float lr, double *loss, int64_t *correct)
{
    uz_tensor *x = uz_gen_image_batch(ctx, &d->images, idx, n);
    uz_tensor *f[3];
    if (uz_backbone_forward(ctx, net, x, f) != UZ_OK)
        return uz_error_status();
    uz_tensor *logits = uz_nn_linear_forward(ctx, head, uz_mean(ctx, f[2], (int[]){2, 3}, 2,
                                                                false));
    uz_tensor *l = logits ? uz_cross_entropy(ctx, logits, y, -100, 0.0f) : NULL;
    if (!l)
        return uz_error_status();
    *loss = l->data[0];
    if (!isfinite(*loss))
        return UZ_FAIL(UZ_ERR_NUMERIC, "backbone pre-training: the loss is %g", *loss);
    int64_t C = logits->shape[1];
    *correct = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *r = logits->data + i * C;
        int64_t best = 0;
        for (int64_t k = 1; k < C; k++)
            best = r[k] > r[best] ? k : best;
        *correct += best == y[i];
    }
    uz_status st = uz_backward(ctx, l);
    return st == UZ_OK ? uz_optim_step(opt, lr, NULL, NULL) : st;
}

static uz_status train(uz_backbone *net, const uz_nn_linear *head, uz_params *p,
                       const uz_gen_digits *d, int n_classes,
                       const uz_backbone_pretrain_config *c, uz_backbone_pretrain_result *res)
{
    uz_optim_config oc = uz_optim_defaults(UZ_OPTIM_ADAMW);
    oc.weight_decay = c->weight_decay;
    oc.exclude = "bias";
    uz_optim *opt = NULL;
    uz_status st = uz_optim_new(&oc, p, &opt);
    if (st != UZ_OK)
        return st;
    uz_lr_schedule sched = {.base_lr = c->lr, .warmup_steps = c->steps / 10,
                            .decay = UZ_LR_COSINE, .total_steps = c->steps,
                            .min_lr = c->lr / 100};
    int64_t tenth = c->steps / 10 > 0 ? c->steps / 10 : 1;
    double sums[2][2] = {{0}};  /* [first, last][loss, correct] */
    uz_ctx *ctx = uz_ctx_new(0, 0);
    int64_t *idx = calloc((size_t)c->batch, sizeof *idx);
    int32_t *y = calloc((size_t)c->batch, sizeof *y);
    if (!ctx || !idx || !y)
        st = UZ_FAIL(UZ_ERR_NOMEM, "backbone pre-training: out of memory");
    for (int64_t s = 0; s < c->steps && st == UZ_OK; s++) {
        for (int64_t i = 0; i < c->batch; i += 4) {
            uint32_t r[4];
            uz_philox(c->seed, PRETRAIN_STREAM, (uint64_t)(s * c->batch + i) / 4, r);
            for (int64_t j = i; j < i + 4 && j < c->batch; j++) {
                idx[j] = (int64_t)(r[j - i] % (uint64_t)d->images.n);
                y[j] = d->labels[idx[j]];
                if (y[j] < 0 || y[j] >= n_classes)
                    st = UZ_FAIL(UZ_ERR_FORMAT, "backbone pre-training: digit %lld has label "
                                 "%d, outside 0..%d", (long long)idx[j], y[j], n_classes - 1);
            }
        }
        double loss = 0.0;
        int64_t correct = 0;
        if (st == UZ_OK)
            st = step(ctx, net, head, opt, d, idx, y, c->batch, uz_lr_at(&sched, s), &loss,
                      &correct);
        uz_params_zero_grad(p);
        uz_ctx_reset(ctx);
        for (int w = 0; w < 2 && st == UZ_OK; w++)
            if (w == 0 ? s < tenth : s >= c->steps - tenth) {
                sums[w][0] += loss;
                sums[w][1] += (double)correct / (double)c->batch;
            }
        if (st != UZ_OK)
            uz_error_context("backbone pre-training step %lld", (long long)s + 1);
    }
    res->first_loss = sums[0][0] / (double)tenth;
    res->first_accuracy = sums[0][1] / (double)tenth;
    res->last_loss = sums[1][0] / (double)tenth;
    res->last_accuracy = sums[1][1] / (double)tenth;
    free(y);
    free(idx);
    uz_ctx_free(ctx);
    uz_optim_free(opt);
    return st;
}

uz_status uz_backbone_pretrain(uz_backbone *b, const uz_gen_digits *d, int n_classes,
                               const uz_backbone_pretrain_config *cfg,
                               uz_backbone_pretrain_result *res)
{
    memset(res, 0, sizeof *res);
    uz_status st = check(b, d, n_classes, cfg);
    if (st != UZ_OK)
        return st;
    double t0 = uz_clock_s();
    uz_params *p = uz_params_new();
    uz_backbone net;
    uz_nn_linear head;
    if (!p)
        return UZ_FAIL(UZ_ERR_NOMEM, "backbone pre-training: out of memory");
    st = uz_backbone_declare(&net, p, "", &b->cfg);
    if (st == UZ_OK)
        st = uz_nn_linear_declare(&head, p, "", "head", b->cfg.widths[3], n_classes);
    if (st == UZ_OK)
        st = uz_params_finalize(p);
    if (st == UZ_OK) {
        copy_backbone(&net, b);
        uz_nn_linear_init(&head, cfg->seed);
        st = train(&net, &head, p, d, n_classes, cfg, res);
    }
    if (st == UZ_OK)
        copy_backbone(b, &net);
    uz_params_free(p);
    res->seconds = uz_clock_s() - t0;
    return st;
}
