/* conv2d: NCHW convolution with stride, zero padding and groups. */
#include "../autograd.h"
#include "../backend.h"
#include "../device.h"
#include "../kernels_conv.h"
#include "../ops.h"

static uz_status conv2d_backward(uz_ctx *ctx, uz_node *node)
{
    const uz_conv2d_geom *g = node->saved;
    uz_tensor *x = node->in[0], *w = node->in[1], *bias = node->n_in > 2 ? node->in[2] : NULL;
    const struct uz_kernels_conv *k = uz_backend_for(x->device)->conv;
    float *dx = NULL, *dw = NULL, *db = NULL;
    if (x->requires_grad && !(dx = uz_grad_buf(ctx, x)))
        return uz_error_status();
    if (w->requires_grad && !(dw = uz_grad_buf(ctx, w)))
        return uz_error_status();
    if (bias && bias->requires_grad && !(db = uz_grad_buf(ctx, bias)))
        return uz_error_status();
    if (uz_tensor_numel(node->out) == 0)
        return UZ_OK;
    int64_t ws = k->conv2d_workspace(g);
    float *work = NULL;
    if ((dx || dw) && ws > 0 &&
        !(work = uz_ctx_alloc_on(ctx, x->device, sizeof(float) * (size_t)ws)))
        return uz_error_status();
    k->conv2d_backward(g, x->data, w->data, node->out->grad->data, dx, dw, db, work);
    return UZ_OK;
}

/* Checks shapes and options and fills the geometry; false with the error set. */
static bool conv2d_geom(const uz_tensor *x, const uz_tensor *w, const uz_tensor *bias,
                        uz_conv2d_opts o, uz_conv2d_geom *g)
{
    char s1[UZ_SHAPE_STR_LEN], s2[UZ_SHAPE_STR_LEN];
    if (o.stride_h < 0 || o.stride_w < 0 || o.pad_h < 0 || o.pad_w < 0 || o.groups < 0) {
        UZ_FAIL(UZ_ERR_ARG, "conv2d: negative option (stride %d,%d, pad %d,%d, groups %d)",
                o.stride_h, o.stride_w, o.pad_h, o.pad_w, o.groups);
        return false;
    }
    if (x->ndim != 4 || w->ndim != 4) {
        UZ_FAIL(UZ_ERR_ARG, "conv2d: expected x [N,C,H,W] and w [O,C/groups,KH,KW], got %s and %s",
                uz_shape_str(x, s1, sizeof s1), uz_shape_str(w, s2, sizeof s2));
        return false;
    }
    int64_t groups = o.groups ? o.groups : 1;
    if (w->shape[1] < 1 || w->shape[2] < 1 || w->shape[3] < 1 || w->shape[0] % groups != 0) {
        UZ_FAIL(UZ_ERR_ARG, "conv2d: weight %s is empty or its %lld output channels are not "
                "divisible by groups=%lld",
                uz_shape_str(w, s1, sizeof s1), (long long)w->shape[0], (long long)groups);
        return false;
    }
    if (x->shape[1] != w->shape[1] * groups) {
        UZ_FAIL(UZ_ERR_ARG, "conv2d: input %s has %lld channels but weight %s with groups=%lld "
                "expects %lld",
                uz_shape_str(x, s1, sizeof s1), (long long)x->shape[1],
                uz_shape_str(w, s2, sizeof s2), (long long)groups,
                (long long)(w->shape[1] * groups));
        return false;
    }
    if (bias && (bias->ndim != 1 || bias->shape[0] != w->shape[0])) {
        UZ_FAIL(UZ_ERR_ARG, "conv2d: bias %s does not match weight %s (expected [%lld])",
                uz_shape_str(bias, s1, sizeof s1), uz_shape_str(w, s2, sizeof s2),
                (long long)w->shape[0]);
        return false;
    }
    int64_t ph = o.pad_h, pw = o.pad_w;
    if (x->shape[2] + 2 * ph < w->shape[2] || x->shape[3] + 2 * pw < w->shape[3]) {
        UZ_FAIL(UZ_ERR_ARG, "conv2d: kernel %lldx%lld of weight %s is larger than input %s "
                "padded by (%lld,%lld)",
                (long long)w->shape[2], (long long)w->shape[3], uz_shape_str(w, s2, sizeof s2),
                uz_shape_str(x, s1, sizeof s1), (long long)ph, (long long)pw);
        return false;
    }
    if (x->device != w->device || (bias && bias->device != x->device)) {
        UZ_FAIL(UZ_ERR_ARG, "conv2d: x on %s, w on %s, bias on %s: all must share a device",
                uz_device_name(x->device), uz_device_name(w->device),
                bias ? uz_device_name(bias->device) : "-");
        return false;
    }
    *g = (uz_conv2d_geom){
        .n = x->shape[0], .c = x->shape[1], .h = x->shape[2], .w = x->shape[3],
        .o = w->shape[0], .kh = w->shape[2], .kw = w->shape[3],
        .stride_h = o.stride_h ? o.stride_h : 1, .stride_w = o.stride_w ? o.stride_w : 1,
        .pad_h = ph, .pad_w = pw, .groups = groups,
    };
    g->oh = (g->h + 2 * ph - g->kh) / g->stride_h + 1;
    g->ow = (g->w + 2 * pw - g->kw) / g->stride_w + 1;
    return true;
}

uz_tensor *uz_conv2d(uz_ctx *ctx, uz_tensor *x, uz_tensor *w, uz_tensor *bias,
                     uz_conv2d_opts opts)
{
    if (!x || !w)
        return NULL;
    uz_conv2d_geom g;
    if (!conv2d_geom(x, w, bias, opts, &g))
        return NULL;
    const struct uz_kernels_conv *k = UZ_KERNELS(x, conv, "conv2d");
    if (!k)
        return NULL;
    bool has_bias = bias != NULL;
    x = uz_contiguous(ctx, x);
    w = uz_contiguous(ctx, w);
    bias = uz_contiguous(ctx, bias);
    if (!x || !w || (has_bias && !bias))
        return NULL;
    uz_tensor *y = uz_tensor_empty(ctx, 4, (int64_t[]){g.n, g.o, g.oh, g.ow});
    if (!y)
        return NULL;
    if (uz_tensor_numel(y) > 0) {
        int64_t ws = k->conv2d_workspace(&g);
        float *work = NULL;
        if (ws > 0 && !(work = uz_ctx_alloc_on(ctx, x->device, sizeof(float) * (size_t)ws)))
            return NULL;
        k->conv2d_forward(&g, x->data, w->data, bias ? bias->data : NULL, y->data, work);
    }
    uz_tensor *in[3] = {x, w, bias};
    int n_in = bias ? 3 : 2;
    if (uz_needs_grad(ctx, n_in, in)) {
        uz_node *node = uz_record(ctx, "conv2d", conv2d_backward, y, n_in, in, sizeof g);
        if (!node)
            return NULL;
        *(uz_conv2d_geom *)node->saved = g;
    }
    return y;
}
