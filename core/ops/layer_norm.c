/* Layer norm over the last dim with optional affine weight and bias. */
#include "../autograd.h"
#include "../backend.h"
#include "../device.h"
#include "../kernels_nn.h"
#include "../ops.h"

typedef struct ln_saved {
    const float *mean, *rstd;
    int w_at, b_at; /* positions of weight and bias in node->in, -1 if absent */
} ln_saved;

/* Gradient buffer of in[at] when it wants one; *fail on allocation failure. */
static float *grad_of(uz_ctx *ctx, uz_node *node, int at, bool *fail)
{
    if (at < 0 || !node->in[at]->requires_grad)
        return NULL;
    float *g = uz_grad_buf(ctx, node->in[at]);
    *fail = *fail || !g;
    return g;
}

static uz_status ln_backward(uz_ctx *ctx, uz_node *node)
{
    const ln_saved *s = node->saved;
    uz_tensor *x = node->in[0];
    bool fail = false, dx_fresh = false;
    float *dx = x->requires_grad ? uz_grad_buf_fresh(ctx, x, &dx_fresh) : NULL;
    fail = x->requires_grad && !dx;
    float *dw = grad_of(ctx, node, s->w_at, &fail);
    float *db = grad_of(ctx, node, s->b_at, &fail);
    int64_t c = x->shape[x->ndim - 1], n = c ? uz_tensor_numel(x) / c : 0;
    float *scratch = NULL;
    if (!fail && (dw || db)) {
        scratch = uz_ctx_alloc_on(ctx, x->device,
                                  sizeof(float) * (size_t)uz_layer_norm_scratch(n, c));
        fail = !scratch;
    }
    if (fail)
        return uz_error_status();
    const float *w = s->w_at >= 0 ? node->in[s->w_at]->data : NULL;
    uz_backend_for(x->device)->nn->layer_norm_backward(dx, dx_fresh, dw, db,
                                                       node->out->grad->data, x->data, w,
                                                       s->mean, s->rstd, n, c, scratch);
    return UZ_OK;
}

static bool check_affine(const uz_tensor *p, const uz_tensor *x, const char *what)
{
    if (!p)
        return true;
    if (p->ndim == 1 && p->shape[0] == x->shape[x->ndim - 1] && p->device == x->device)
        return true;
    char s1[UZ_SHAPE_STR_LEN], s2[UZ_SHAPE_STR_LEN];
    UZ_FAIL(UZ_ERR_ARG, "layer_norm: %s %s (%s) does not match input %s (%s): expected [%lld]",
            what, uz_shape_str(p, s1, sizeof s1), uz_device_name(p->device),
            uz_shape_str(x, s2, sizeof s2), uz_device_name(x->device),
            (long long)x->shape[x->ndim - 1]);
    return false;
}

uz_tensor *uz_layer_norm(uz_ctx *ctx, uz_tensor *x, uz_tensor *weight, uz_tensor *bias,
                         float eps)
{
    if (!x)
        return NULL;
    if (x->ndim < 1) {
        UZ_FAIL(UZ_ERR_ARG, "layer_norm: input must have at least 1 dim, got a 0-d tensor");
        return NULL;
    }
    if (!check_affine(weight, x, "weight") || !check_affine(bias, x, "bias"))
        return NULL;
    if (!(eps >= 0.0f)) {
        UZ_FAIL(UZ_ERR_ARG, "layer_norm: eps %g must be >= 0", (double)eps);
        return NULL;
    }
    const struct uz_kernels_nn *k = UZ_KERNELS(x, nn, "layer_norm");
    if (!k)
        return NULL;
    x = uz_contiguous(ctx, x);
    if (!x || (weight && !(weight = uz_contiguous(ctx, weight))) ||
        (bias && !(bias = uz_contiguous(ctx, bias))))
        return NULL;
    int64_t c = x->shape[x->ndim - 1], n = c ? uz_tensor_numel(x) / c : 0;
    size_t rows = (size_t)(n ? n : 1);
    float *mean = uz_ctx_alloc_on(ctx, x->device, sizeof(float) * rows);
    float *rstd = uz_ctx_alloc_on(ctx, x->device, sizeof(float) * rows);
    uz_tensor *y = uz_tensor_empty(ctx, x->ndim, x->shape);
    if (!mean || !rstd || !y)
        return NULL;
    k->layer_norm_forward(y->data, mean, rstd, x->data, weight ? weight->data : NULL,
                          bias ? bias->data : NULL, n, c, eps);
    /* Only the inputs present are recorded, so node->in holds no NULLs. */
    uz_tensor *in[3] = {x, NULL, NULL};
    int n_in = 1, w_at = -1, b_at = -1;
    if (weight) {
        w_at = n_in;
        in[n_in++] = weight;
    }
    if (bias) {
        b_at = n_in;
        in[n_in++] = bias;
    }
    if (uz_needs_grad(ctx, n_in, in)) {
        uz_node *node = uz_record(ctx, "layer_norm", ln_backward, y, n_in, in, sizeof(ln_saved));
        if (!node)
            return NULL;
        *(ln_saved *)node->saved = (ln_saved){mean, rstd, w_at, b_at};
    }
    return y;
}
