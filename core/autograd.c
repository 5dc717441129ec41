/* Tape recording and the reverse sweep. */
#include "autograd.h"

#include "backend.h"
#include "context.h"
#include "device.h"
#include "kernels.h"

#include <string.h>

bool uz_needs_grad(const uz_ctx *ctx, int n_in, uz_tensor *const *in)
{
    if (!ctx->grad_enabled)
        return false;
    for (int i = 0; i < n_in; i++)
        if (in[i] && in[i]->requires_grad)
            return true;
    return false;
}

uz_node *uz_record(uz_ctx *ctx, const char *op, uz_backward_fn backward, uz_tensor *out,
                   int n_in, uz_tensor *const *in, size_t saved_bytes)
{
    uz_node *n = uz_ctx_zalloc(ctx, sizeof *n);
    if (!n)
        return NULL;
    n->in = uz_ctx_alloc(ctx, sizeof(uz_tensor *) * (size_t)(n_in > 0 ? n_in : 1));
    if (!n->in)
        return NULL;
    if (saved_bytes) {
        n->saved = uz_ctx_zalloc(ctx, saved_bytes);
        if (!n->saved)
            return NULL;
    }
    memcpy(n->in, in, sizeof(uz_tensor *) * (size_t)n_in);
    n->n_in = n_in;
    n->op = op;
    n->backward = backward;
    n->out = out;
    n->prev = ctx->tape;
    ctx->tape = n;
    out->node = n;
    out->requires_grad = true;
    return n;
}

float *uz_grad_buf_fresh(uz_ctx *ctx, uz_tensor *t, bool *fresh)
{
    *fresh = false;
    if (!t->requires_grad)
        return NULL;
    if (!t->grad) {
        /* Parameters own a persistent gradient; everything else gets one for the step. */
        uz_tensor *g = uz_tensor_empty_on(ctx, t->device, t->ndim, t->shape);
        if (!g)
            return NULL;
        t->grad = g;
        *fresh = true;
    }
    return t->grad->data;
}

float *uz_grad_buf(uz_ctx *ctx, uz_tensor *t)
{
    bool fresh;
    float *g = uz_grad_buf_fresh(ctx, t, &fresh);
    if (g && fresh)
        uz_backend_for(t->grad->device)->copy->fill(g, 0.0f, uz_tensor_numel(t));
    return g;
}

bool uz_grad_adopt(uz_ctx *ctx, uz_tensor *t, float *grad, bool *fail)
{
    *fail = false;
    if (!t->requires_grad || t->grad)
        return false;
    uz_tensor *g = uz_tensor_wrap(ctx, t->ndim, t->shape, grad);
    if (!g) {
        *fail = true;
        return false;
    }
    g->device = t->device;
    t->grad = g;
    return true;
}

static uz_status sweep(uz_ctx *ctx, uz_tensor *t)
{
    for (uz_node *n = t->node; n; n = n->prev) {
        uz_tensor *out = n->out;
        if (!out->grad)
            continue; /* not on the path to t */
        uz_status st = n->backward(ctx, n);
        if (st != UZ_OK) {
            uz_error_context("backward of %s", n->op);
            return st;
        }
        /* Intermediate gradients are consumed; dropping them lets a second
         * backward over the same tape start clean (leaves keep theirs). */
        out->grad = NULL;
    }
    return UZ_OK;
}

static uz_status check_root(const uz_tensor *t)
{
    if (!t)
        return uz_error_status() ? uz_error_status() : UZ_FAIL(UZ_ERR_ARG, "backward: tensor is NULL");
    if (!t->requires_grad)
        return UZ_FAIL(UZ_ERR_ARG, "backward: tensor does not require grad (no parameter reached it, or grad was disabled)");
    return UZ_OK;
}

uz_status uz_backward(uz_ctx *ctx, uz_tensor *loss)
{
    uz_status st = check_root(loss);
    if (st != UZ_OK)
        return st;
    if (uz_tensor_numel(loss) != 1) {
        char s[UZ_SHAPE_STR_LEN];
        return UZ_FAIL(UZ_ERR_ARG, "backward: loss must have one element, got shape %s",
                       uz_shape_str(loss, s, sizeof s));
    }
    float one = 1.0f;
    return uz_backward_with(ctx, loss, &one);
}

uz_status uz_backward_with(uz_ctx *ctx, uz_tensor *t, const float *grad)
{
    uz_status st = check_root(t);
    if (st != UZ_OK)
        return st;
    bool fresh;
    float *g = uz_grad_buf_fresh(ctx, t, &fresh);
    if (!g)
        return uz_error_status();
    int64_t n = uz_tensor_numel(t);
    if (t->device != UZ_DEVICE_CPU) {
        /* grad is host memory: it lands in t's fresh gradient, or in
         * scratch on t's device that is then added. */
        size_t bytes = sizeof(float) * (size_t)n;
        float *up = fresh ? g : uz_ctx_alloc_on(ctx, t->device, bytes);
        if (!up || uz_memcpy(up, t->device, grad, UZ_DEVICE_CPU, bytes) != UZ_OK)
            return uz_error_status();
        if (!fresh)
            uz_backend_for(t->device)->copy->add(g, up, n);
    } else if (fresh) {
        memcpy(g, grad, sizeof(float) * (size_t)n);
    } else {
        for (int64_t i = 0; i < n; i++)
            g[i] += grad[i];
    }
    return sweep(ctx, t);
}
