/* Pooling over NCHW images: max, average and adaptive average. */
#include "../autograd.h"
#include "../backend.h"
#include "../device.h"
#include "../kernels_conv.h"
#include "../ops.h"

/* Checks the input and options of max_pool2d / avg_pool2d and fills the
 * geometry; false with the error set. */
static bool pool_geom(const char *op, const uz_tensor *x, uz_pool2d_opts o, uz_pool2d_geom *g)
{
    char s[UZ_SHAPE_STR_LEN];
    if (x->ndim != 4) {
        UZ_FAIL(UZ_ERR_ARG, "%s: expected x [N,C,H,W], got %s", op, uz_shape_str(x, s, sizeof s));
        return false;
    }
    if (o.kernel_h < 1 || o.kernel_w < 1 || o.stride_h < 0 || o.stride_w < 0 || o.pad_h < 0 ||
        o.pad_w < 0 || 2 * o.pad_h > o.kernel_h || 2 * o.pad_w > o.kernel_w) {
        UZ_FAIL(UZ_ERR_ARG, "%s: bad options kernel %dx%d, stride %d,%d, pad %d,%d (kernel >= 1, "
                "stride >= 0, 0 <= pad <= kernel / 2)",
                op, o.kernel_h, o.kernel_w, o.stride_h, o.stride_w, o.pad_h, o.pad_w);
        return false;
    }
    /* An empty plane would leave a max window with nothing but padding. */
    if (x->shape[2] < 1 || x->shape[3] < 1 || x->shape[2] + 2 * (int64_t)o.pad_h < o.kernel_h ||
        x->shape[3] + 2 * (int64_t)o.pad_w < o.kernel_w) {
        UZ_FAIL(UZ_ERR_ARG, "%s: kernel %dx%d does not fit input %s padded by (%d,%d)", op,
                o.kernel_h, o.kernel_w, uz_shape_str(x, s, sizeof s), o.pad_h, o.pad_w);
        return false;
    }
    *g = (uz_pool2d_geom){
        .n = x->shape[0], .c = x->shape[1], .h = x->shape[2], .w = x->shape[3],
        .kh = o.kernel_h, .kw = o.kernel_w,
        .stride_h = o.stride_h ? o.stride_h : o.kernel_h,
        .stride_w = o.stride_w ? o.stride_w : o.kernel_w,
        .pad_h = o.pad_h, .pad_w = o.pad_w,
    };
    g->oh = (g->h + 2 * g->pad_h - g->kh) / g->stride_h + 1;
    g->ow = (g->w + 2 * g->pad_w - g->kw) / g->stride_w + 1;
    return true;
}

/* The part every pooling front-end shares: checks, kernels, a contiguous
 * input (*x is replaced) and the output tensor. */
static uz_tensor *pool_begin(uz_ctx *ctx, const char *op, uz_tensor **x, uz_pool2d_opts opts,
                             uz_pool2d_geom *g, const struct uz_kernels_conv **k)
{
    if (!*x || !pool_geom(op, *x, opts, g))
        return NULL;
    *k = uz_kernels_lookup(*x, offsetof(uz_backend, conv), "conv", op);
    if (!*k)
        return NULL;
    *x = uz_contiguous(ctx, *x);
    if (!*x)
        return NULL;
    return uz_tensor_empty(ctx, 4, (int64_t[]){g->n, g->c, g->oh, g->ow});
}

typedef struct max_pool_saved {
    uz_pool2d_geom g;
    int64_t *argmax; /* in-plane index of each output's first maximum */
} max_pool_saved;

static uz_status max_pool2d_backward(uz_ctx *ctx, uz_node *node)
{
    const max_pool_saved *s = node->saved;
    float *dx = uz_grad_buf(ctx, node->in[0]);
    if (!dx)
        return uz_error_status();
    uz_backend_for(node->in[0]->device)
        ->conv->max_pool2d_backward(&s->g, s->argmax, node->out->grad->data, dx);
    return UZ_OK;
}

uz_tensor *uz_max_pool2d(uz_ctx *ctx, uz_tensor *x, uz_pool2d_opts opts)
{
    uz_pool2d_geom g;
    const struct uz_kernels_conv *k;
    uz_tensor *y = pool_begin(ctx, "max_pool2d", &x, opts, &g, &k);
    if (!y)
        return NULL;
    int64_t n_out = uz_tensor_numel(y);
    if (!uz_needs_grad(ctx, 1, &x)) {
        k->max_pool2d_forward(&g, x->data, y->data, NULL);
        return y;
    }
    int64_t *argmax = uz_ctx_alloc_on(ctx, x->device, sizeof(int64_t) * (size_t)n_out);
    if (!argmax)
        return NULL;
    k->max_pool2d_forward(&g, x->data, y->data, argmax);
    uz_node *node = uz_record(ctx, "max_pool2d", max_pool2d_backward, y, 1, &x,
                              sizeof(max_pool_saved));
    if (!node)
        return NULL;
    *(max_pool_saved *)node->saved = (max_pool_saved){g, argmax};
    return y;
}

static uz_status avg_pool2d_backward(uz_ctx *ctx, uz_node *node)
{
    float *dx = uz_grad_buf(ctx, node->in[0]);
    if (!dx)
        return uz_error_status();
    uz_backend_for(node->in[0]->device)
        ->conv->avg_pool2d_backward(node->saved, node->out->grad->data, dx);
    return UZ_OK;
}

uz_tensor *uz_avg_pool2d(uz_ctx *ctx, uz_tensor *x, uz_pool2d_opts opts)
{
    uz_pool2d_geom g;
    const struct uz_kernels_conv *k;
    uz_tensor *y = pool_begin(ctx, "avg_pool2d", &x, opts, &g, &k);
    if (!y)
        return NULL;
    k->avg_pool2d_forward(&g, x->data, y->data);
    if (uz_needs_grad(ctx, 1, &x)) {
        uz_node *node = uz_record(ctx, "avg_pool2d", avg_pool2d_backward, y, 1, &x, sizeof g);
        if (!node)
            return NULL;
        *(uz_pool2d_geom *)node->saved = g;
    }
    return y;
}

static uz_status adaptive_avg_pool2d_backward(uz_ctx *ctx, uz_node *node)
{
    uz_tensor *x = node->in[0], *y = node->out;
    float *dx = uz_grad_buf(ctx, x);
    if (!dx)
        return uz_error_status();
    uz_backend_for(x->device)
        ->conv->adaptive_avg_pool2d_backward(x->shape[0] * x->shape[1], x->shape[2], x->shape[3],
                                             y->shape[2], y->shape[3], y->grad->data, dx);
    return UZ_OK;
}

uz_tensor *uz_adaptive_avg_pool2d(uz_ctx *ctx, uz_tensor *x, int out_h, int out_w)
{
    if (!x)
        return NULL;
    char s[UZ_SHAPE_STR_LEN];
    if (x->ndim != 4 || out_h < 1 || out_w < 1 || x->shape[2] < 1 || x->shape[3] < 1) {
        UZ_FAIL(UZ_ERR_ARG, "adaptive_avg_pool2d: cannot pool x %s to %dx%d (expected "
                "[N,C,H,W] with H, W >= 1 and an output of at least 1x1)",
                uz_shape_str(x, s, sizeof s), out_h, out_w);
        return NULL;
    }
    const struct uz_kernels_conv *k = UZ_KERNELS(x, conv, "adaptive_avg_pool2d");
    if (!k)
        return NULL;
    x = uz_contiguous(ctx, x);
    if (!x)
        return NULL;
    uz_tensor *y = uz_tensor_empty(ctx, 4, (int64_t[]){x->shape[0], x->shape[1], out_h, out_w});
    if (!y)
        return NULL;
    k->adaptive_avg_pool2d_forward(x->shape[0] * x->shape[1], x->shape[2], x->shape[3], out_h,
                                   out_w, x->data, y->data);
    if (uz_needs_grad(ctx, 1, &x) &&
        !uz_record(ctx, "adaptive_avg_pool2d", adaptive_avg_pool2d_backward, y, 1, &x, 0))
        return NULL;
    return y;
}
