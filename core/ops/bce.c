/* Binary cross-entropy on logits and the sigmoid focal loss, per element
 * (reduction "none"): the caller weights, masks and reduces, which is what
 * detection losses need (normalised by the number of boxes, not elements).
 * Targets and weights are constants of the loss: they are read, never
 * differentiated. */
#include <math.h>

#include "../autograd.h"
#include "../backend.h"
#include "../kernels_nn.h"
#include "../ops.h"

typedef struct bce_saved {
    const float *y, *w;
    float alpha, gamma;
    bool focal;
} bce_saved;

static uz_status bce_backward(uz_ctx *ctx, uz_node *node)
{
    uz_tensor *x = node->in[0], *out = node->out;
    const bce_saved *s = node->saved;
    float *dx = uz_grad_buf(ctx, x);
    if (!dx)
        return uz_error_status();
    const struct uz_kernels_nn *k = uz_backend_for(x->device)->nn;
    int64_t n = uz_tensor_numel(x);
    if (s->focal)
        k->focal_logits_backward(dx, out->grad->data, x->data, s->y, n, s->alpha, s->gamma);
    else
        k->bce_logits_backward(dx, out->grad->data, x->data, s->y, s->w, n);
    return UZ_OK;
}

/* A constant operand as a contiguous buffer of x's shape, stretched when it
 * broadcasts (weights); no tape entry, since it gets no gradient. */
static uz_tensor *constant_like(uz_ctx *ctx, uz_tensor *t, const uz_tensor *x)
{
    bool was = uz_grad_enable(ctx, false);
    if (!uz_tensor_same_shape(t, x))
        t = uz_expand(ctx, t, x->ndim, x->shape);
    t = uz_contiguous(ctx, t);
    uz_grad_enable(ctx, was);
    return t;
}

/* True when t broadcasts to x's shape (right-aligned, size-1 dims stretch). */
static bool broadcasts_to(const uz_tensor *t, const uz_tensor *x)
{
    if (t->ndim > x->ndim)
        return false;
    for (int d = 0; d < t->ndim; d++) {
        int64_t s = t->shape[t->ndim - 1 - d];
        if (s != 1 && s != x->shape[x->ndim - 1 - d])
            return false;
    }
    return true;
}

static uz_tensor *logit_loss(uz_ctx *ctx, const char *op, uz_tensor *x, uz_tensor *y,
                             uz_tensor *w, const bce_saved *params)
{
    char s1[UZ_SHAPE_STR_LEN], s2[UZ_SHAPE_STR_LEN];
    if (!uz_tensor_same_shape(x, y)) {
        UZ_FAIL(UZ_ERR_ARG, "%s: targets %s must have the logits' shape %s", op,
                uz_shape_str(y, s1, sizeof s1), uz_shape_str(x, s2, sizeof s2));
        return NULL;
    }
    if (w && !broadcasts_to(w, x)) {
        UZ_FAIL(UZ_ERR_ARG, "%s: weight %s does not broadcast to the logits' shape %s", op,
                uz_shape_str(w, s1, sizeof s1), uz_shape_str(x, s2, sizeof s2));
        return NULL;
    }
    if (y->device != x->device || (w && w->device != x->device)) {
        UZ_FAIL(UZ_ERR_ARG, "%s: logits, targets and weight must be on one device", op);
        return NULL;
    }
    const struct uz_kernels_nn *k = UZ_KERNELS(x, nn, op);
    if (!k)
        return NULL;
    if (params->focal ? !k->focal_logits_forward : !k->bce_logits_forward) {
        UZ_FAIL(UZ_ERR_DEVICE, "%s: no kernel on device %s", op, uz_device_name(x->device));
        return NULL;
    }
    x = uz_contiguous(ctx, x);
    if (!x || !(y = constant_like(ctx, y, x)))
        return NULL;
    if (w && !(w = constant_like(ctx, w, x)))
        return NULL;
    uz_tensor *out = uz_tensor_empty(ctx, x->ndim, x->shape);
    if (!out)
        return NULL;
    int64_t n = uz_tensor_numel(x);
    const float *wd = w ? w->data : NULL;
    if (params->focal)
        k->focal_logits_forward(out->data, x->data, y->data, n, params->alpha, params->gamma);
    else
        k->bce_logits_forward(out->data, x->data, y->data, wd, n);
    if (uz_needs_grad(ctx, 1, &x)) {
        uz_node *node = uz_record(ctx, op, bce_backward, out, 1, &x, sizeof(bce_saved));
        if (!node)
            return NULL;
        bce_saved *s = node->saved;
        *s = *params;
        s->y = y->data;
        s->w = wd;
    }
    return out;
}

uz_tensor *uz_bce_with_logits(uz_ctx *ctx, uz_tensor *logits, uz_tensor *targets,
                              uz_tensor *weight)
{
    if (!logits || !targets)
        return NULL;
    return logit_loss(ctx, "bce_with_logits", logits, targets, weight,
                      &(bce_saved){.focal = false});
}

uz_tensor *uz_sigmoid_focal_loss(uz_ctx *ctx, uz_tensor *logits, uz_tensor *targets,
                                 float alpha, float gamma)
{
    if (!logits || !targets)
        return NULL;
    if (!(alpha <= 1.0f)) {
        UZ_FAIL(UZ_ERR_ARG, "sigmoid_focal_loss: alpha %g must be in [0, 1] (negative: none)",
                (double)alpha);
        return NULL;
    }
    if (!(gamma >= 0.0f) || isinf(gamma)) {
        UZ_FAIL(UZ_ERR_ARG, "sigmoid_focal_loss: gamma %g must be finite and >= 0", (double)gamma);
        return NULL;
    }
    return logit_loss(ctx, "sigmoid_focal_loss", logits, targets, NULL,
                      &(bce_saved){.alpha = alpha, .gamma = gamma, .focal = true});
}
