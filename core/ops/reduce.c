/* sum, mean and max over a set of dims. The dims become a mask over the
 * input's dims; the output (keepdim or not) is laid out over the kept dims in
 * order, which is what the kernels produce and what their backwards read. */
#include "../autograd.h"
#include "../backend.h"
#include "../device.h"
#include "../kernels_reduce.h"
#include "../ops.h"

#include <math.h>
#include <string.h>

typedef enum reduce_kind { REDUCE_SUM, REDUCE_MEAN, REDUCE_MAX } reduce_kind;

static const char *const reduce_names[] = {
    [REDUCE_SUM] = "sum", [REDUCE_MEAN] = "mean", [REDUCE_MAX] = "max"};

typedef struct reduce_saved {
    bool reduce[UZ_MAX_DIMS];
    float scale;   /* sum and mean */
    int64_t *arg;  /* max: flat input index of each output's maximum */
} reduce_saved;

/* Turns dims into a mask and the output shape. n_reduced gets the number of
 * input elements behind each output. */
static bool resolve_dims(const char *op, const uz_tensor *a, const int *dims, int n_dims,
                         bool keepdim, bool *reduce, int *out_ndim, int64_t *out_shape,
                         int64_t *n_reduced)
{
    char s[UZ_SHAPE_STR_LEN];
    memset(reduce, 0, sizeof(bool) * UZ_MAX_DIMS);
    if (n_dims < 0 || (n_dims > 0 && !dims)) {
        UZ_FAIL(UZ_ERR_ARG, "%s: bad dim list (n_dims = %d%s)", op, n_dims,
                n_dims > 0 && !dims ? ", dims NULL" : "");
        return false;
    }
    for (int i = 0; i < n_dims; i++) {
        /* A 0-d tensor takes dim 0 or -1, as in PyTorch; it has nothing to reduce. */
        int range = a->ndim > 0 ? a->ndim : 1;
        int d = dims[i] < 0 ? dims[i] + range : dims[i];
        if (d < 0 || d >= range) {
            UZ_FAIL(UZ_ERR_ARG, "%s: dim %d out of range for %s", op, dims[i],
                    uz_shape_str(a, s, sizeof s));
            return false;
        }
        if (a->ndim == 0)
            continue;
        if (reduce[d]) {
            UZ_FAIL(UZ_ERR_ARG, "%s: dim %d appears twice in the dims for %s", op, dims[i],
                    uz_shape_str(a, s, sizeof s));
            return false;
        }
        reduce[d] = true;
    }
    if (n_dims == 0)
        for (int d = 0; d < a->ndim; d++)
            reduce[d] = true;
    int m = 0;
    int64_t n = 1;
    for (int d = 0; d < a->ndim; d++) {
        if (reduce[d]) {
            n *= a->shape[d];
            if (keepdim)
                out_shape[m++] = 1;
        } else {
            out_shape[m++] = a->shape[d];
        }
    }
    *out_ndim = m;
    *n_reduced = n;
    return true;
}

static uz_status sum_backward(uz_ctx *ctx, uz_node *node)
{
    const reduce_saved *s = node->saved;
    uz_tensor *a = node->in[0];
    float *grad = uz_grad_buf(ctx, a);
    if (!grad)
        return uz_error_status();
    uz_backend_for(a->device)->reduce->sum_backward(grad, node->out->grad->data, a->ndim,
                                                    a->shape, s->reduce, s->scale);
    return UZ_OK;
}

static uz_status max_backward(uz_ctx *ctx, uz_node *node)
{
    const reduce_saved *s = node->saved;
    uz_tensor *a = node->in[0];
    float *grad = uz_grad_buf(ctx, a);
    if (!grad)
        return uz_error_status();
    uz_backend_for(a->device)->reduce->max_backward(grad, node->out->grad->data, s->arg,
                                                    uz_tensor_numel(node->out));
    return UZ_OK;
}

static uz_tensor *reduce_op(uz_ctx *ctx, reduce_kind kind, uz_tensor *a, const int *dims,
                            int n_dims, bool keepdim)
{
    if (!a)
        return NULL;
    const char *name = reduce_names[kind];
    bool reduce[UZ_MAX_DIMS];
    int nd;
    int64_t shape[UZ_MAX_DIMS], n_reduced;
    if (!resolve_dims(name, a, dims, n_dims, keepdim, reduce, &nd, shape, &n_reduced))
        return NULL;
    if (kind == REDUCE_MAX && n_reduced == 0) {
        char s[UZ_SHAPE_STR_LEN];
        UZ_FAIL(UZ_ERR_ARG, "max: cannot reduce over an empty dim of %s (no identity)",
                uz_shape_str(a, s, sizeof s));
        return NULL;
    }
    const struct uz_kernels_reduce *k = UZ_KERNELS(a, reduce, name);
    if (!k)
        return NULL;
    a = uz_contiguous(ctx, a);
    if (!a)
        return NULL;
    uz_tensor *out = uz_tensor_empty(ctx, nd, shape);
    if (!out)
        return NULL;
    bool grad = uz_needs_grad(ctx, 1, &a);
    int64_t *arg = NULL;
    /* mean of nothing is NaN, as in PyTorch. */
    float scale = kind != REDUCE_MEAN ? 1.0f : n_reduced ? 1.0f / (float)n_reduced : NAN;
    if (kind == REDUCE_MAX) {
        if (grad) {
            arg = uz_ctx_alloc_on(ctx, a->device,
                                  sizeof(int64_t) * (size_t)uz_tensor_numel(out));
            if (!arg)
                return NULL;
        }
        k->max(out->data, arg, a->data, a->ndim, a->shape, reduce);
    } else {
        k->sum(out->data, a->data, a->ndim, a->shape, reduce, scale, false);
    }
    if (grad) {
        uz_node *node = uz_record(ctx, name, kind == REDUCE_MAX ? max_backward : sum_backward,
                                  out, 1, &a, sizeof(reduce_saved));
        if (!node)
            return NULL;
        reduce_saved *s = node->saved;
        memcpy(s->reduce, reduce, sizeof s->reduce);
        s->scale = scale;
        s->arg = arg;
    }
    return out;
}

uz_tensor *uz_sum(uz_ctx *ctx, uz_tensor *a, const int *dims, int n_dims, bool keepdim)
{
    return reduce_op(ctx, REDUCE_SUM, a, dims, n_dims, keepdim);
}

uz_tensor *uz_mean(uz_ctx *ctx, uz_tensor *a, const int *dims, int n_dims, bool keepdim)
{
    return reduce_op(ctx, REDUCE_MEAN, a, dims, n_dims, keepdim);
}

uz_tensor *uz_max(uz_ctx *ctx, uz_tensor *a, const int *dims, int n_dims, bool keepdim)
{
    return reduce_op(ctx, REDUCE_MAX, a, dims, n_dims, keepdim);
}
