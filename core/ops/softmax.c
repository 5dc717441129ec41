/* Softmax and log-softmax over the last dim with an optional additive mask
 * that broadcasts to the input (read through strides, never expanded). */
#include "../autograd.h"
#include "../backend.h"
#include "../kernels_nn.h"
#include "../ops.h"

/* Describes mask broadcast over a's [rows, last] view, or fails naming op. */
static bool mask_view(const uz_tensor *a, const uz_tensor *mask, uz_nn_mask *m, const char *op)
{
    char s1[UZ_SHAPE_STR_LEN], s2[UZ_SHAPE_STR_LEN];
    int lead = a->ndim - mask->ndim;
    bool ok = lead >= 0 && mask->device == a->device;
    for (int d = 0; ok && d < mask->ndim; d++)
        ok = mask->shape[d] == 1 || mask->shape[d] == a->shape[lead + d];
    if (!ok) {
        UZ_FAIL(UZ_ERR_ARG, "%s: mask %s (%s) does not broadcast to input %s (%s)", op,
                uz_shape_str(mask, s1, sizeof s1), uz_device_name(mask->device),
                uz_shape_str(a, s2, sizeof s2), uz_device_name(a->device));
        return false;
    }
    int last = a->ndim - 1;
    m->data = mask->data;
    m->ndim = last;
    for (int d = 0; d < last; d++) {
        int md = d - lead;
        m->shape[d] = a->shape[d];
        m->stride[d] = md < 0 || mask->shape[md] == 1 ? 0 : mask->stride[md];
    }
    m->col_stride = mask->ndim == 0 || mask->shape[mask->ndim - 1] == 1
                        ? 0
                        : mask->stride[mask->ndim - 1];
    return true;
}

typedef struct softmax_saved {
    bool log_space;
} softmax_saved;

static uz_status softmax_backward(uz_ctx *ctx, uz_node *node)
{
    uz_tensor *a = node->in[0], *y = node->out;
    const softmax_saved *s = node->saved;
    float *da = uz_grad_buf(ctx, a);
    if (!da)
        return uz_error_status();
    int64_t c = a->shape[a->ndim - 1], n = c ? uz_tensor_numel(a) / c : 0;
    uz_backend_for(a->device)->nn->softmax_backward(da, y->grad->data, y->data, n, c,
                                                    s->log_space);
    return UZ_OK;
}

static uz_tensor *softmax_op(uz_ctx *ctx, uz_tensor *a, uz_tensor *mask, bool log_space)
{
    const char *op = log_space ? "log_softmax" : "softmax";
    if (!a)
        return NULL;
    if (a->ndim < 1) {
        UZ_FAIL(UZ_ERR_ARG, "%s: input must have at least 1 dim, got a 0-d tensor", op);
        return NULL;
    }
    uz_nn_mask m;
    if (mask && !mask_view(a, mask, &m, op))
        return NULL;
    const struct uz_kernels_nn *k = UZ_KERNELS(a, nn, op);
    if (!k)
        return NULL;
    a = uz_contiguous(ctx, a);
    if (!a)
        return NULL;
    uz_tensor *y = uz_tensor_empty(ctx, a->ndim, a->shape);
    if (!y)
        return NULL;
    int64_t c = a->shape[a->ndim - 1], n = c ? uz_tensor_numel(a) / c : 0;
    k->softmax_forward(y->data, a->data, mask ? &m : NULL, n, c, log_space);
    if (uz_needs_grad(ctx, 1, &a)) {
        uz_node *node = uz_record(ctx, op, softmax_backward, y, 1, &a, sizeof(softmax_saved));
        if (!node)
            return NULL;
        ((softmax_saved *)node->saved)->log_space = log_space;
    }
    return y;
}

uz_tensor *uz_softmax(uz_ctx *ctx, uz_tensor *a, uz_tensor *mask)
{
    return softmax_op(ctx, a, mask, false);
}

uz_tensor *uz_log_softmax(uz_ctx *ctx, uz_tensor *a, uz_tensor *mask)
{
    return softmax_op(ctx, a, mask, true);
}
