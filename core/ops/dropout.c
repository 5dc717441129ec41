/* Inverted dropout whose mask is a function of (ctx seed, stream, index):
 * reproducible for any thread count, and redrawn rather than stored. */
#include "../autograd.h"
#include "../backend.h"
#include "../kernels_nn.h"
#include "../ops.h"

typedef struct dropout_saved {
    uint64_t seed, stream;
    float p;
} dropout_saved;

static uz_status dropout_backward(uz_ctx *ctx, uz_node *node)
{
    uz_tensor *x = node->in[0];
    const dropout_saved *s = node->saved;
    bool fresh;
    float *dx = uz_grad_buf_fresh(ctx, x, &fresh);
    if (!dx)
        return uz_error_status();
    uz_backend_for(x->device)->nn->dropout_backward(dx, fresh, node->out->grad->data,
                                                    uz_tensor_numel(x), s->p, s->seed,
                                                    s->stream);
    return UZ_OK;
}

uz_tensor *uz_dropout(uz_ctx *ctx, uz_tensor *x, float p, bool training)
{
    if (!x)
        return NULL;
    if (!(p >= 0.0f && p <= 1.0f)) {
        UZ_FAIL(UZ_ERR_ARG, "dropout: probability %g outside [0, 1]", (double)p);
        return NULL;
    }
    if (!training || p == 0.0f)
        return x;
    const struct uz_kernels_nn *k = UZ_KERNELS(x, nn, "dropout");
    if (!k)
        return NULL;
    x = uz_contiguous(ctx, x);
    if (!x)
        return NULL;
    uz_tensor *y = uz_tensor_empty(ctx, x->ndim, x->shape);
    if (!y)
        return NULL;
    uint64_t seed = uz_ctx_seed(ctx), stream = uz_ctx_next_stream(ctx);
    k->dropout_forward(y->data, x->data, uz_tensor_numel(x), p, seed, stream);
    if (uz_needs_grad(ctx, 1, &x)) {
        uz_node *node = uz_record(ctx, "dropout", dropout_backward, y, 1, &x,
                                  sizeof(dropout_saved));
        if (!node)
            return NULL;
        *(dropout_saved *)node->saved = (dropout_saved){seed, stream, p};
    }
    return y;
}
