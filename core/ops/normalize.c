/* L2 normalisation over the last dim and the cosine-similarity matrix
 * built on it (normalise both sides, then one GEMM). */
#include "../autograd.h"
#include "../backend.h"
#include "../device.h"
#include "../kernels_nn.h"
#include "../ops.h"

typedef struct l2_saved {
    const float *norm;
    float eps;
} l2_saved;

static uz_status l2_backward(uz_ctx *ctx, uz_node *node)
{
    uz_tensor *x = node->in[0], *y = node->out;
    const l2_saved *s = node->saved;
    float *dx = uz_grad_buf(ctx, x);
    if (!dx)
        return uz_error_status();
    int64_t c = x->shape[x->ndim - 1], n = c ? uz_tensor_numel(x) / c : 0;
    uz_backend_for(x->device)->nn->l2_normalize_backward(dx, y->grad->data, y->data, s->norm, n,
                                                         c, s->eps);
    return UZ_OK;
}

uz_tensor *uz_l2_normalize(uz_ctx *ctx, uz_tensor *x, float eps)
{
    if (!x)
        return NULL;
    if (x->ndim < 1) {
        UZ_FAIL(UZ_ERR_ARG, "l2_normalize: input must have at least 1 dim, got a 0-d tensor");
        return NULL;
    }
    if (!(eps >= 0.0f)) {
        UZ_FAIL(UZ_ERR_ARG, "l2_normalize: eps %g must be >= 0", (double)eps);
        return NULL;
    }
    const struct uz_kernels_nn *k = UZ_KERNELS(x, nn, "l2_normalize");
    if (!k)
        return NULL;
    x = uz_contiguous(ctx, x);
    if (!x)
        return NULL;
    int64_t c = x->shape[x->ndim - 1], n = c ? uz_tensor_numel(x) / c : 0;
    float *norm = uz_ctx_alloc_on(ctx, x->device, sizeof(float) * (size_t)(n ? n : 1));
    uz_tensor *y = uz_tensor_empty(ctx, x->ndim, x->shape);
    if (!norm || !y)
        return NULL;
    k->l2_normalize_forward(y->data, norm, x->data, n, c, eps);
    if (uz_needs_grad(ctx, 1, &x)) {
        uz_node *node = uz_record(ctx, "l2_normalize", l2_backward, y, 1, &x, sizeof(l2_saved));
        if (!node)
            return NULL;
        *(l2_saved *)node->saved = (l2_saved){norm, eps};
    }
    return y;
}

uz_tensor *uz_cosine_similarity_matrix(uz_ctx *ctx, uz_tensor *a, uz_tensor *b, float eps)
{
    if (!a || !b)
        return NULL;
    if (a->ndim != 2 || b->ndim != 2 || a->shape[1] != b->shape[1]) {
        char s1[UZ_SHAPE_STR_LEN], s2[UZ_SHAPE_STR_LEN];
        UZ_FAIL(UZ_ERR_ARG, "cosine_similarity_matrix: expected a [N, D] and b [M, D], got %s and %s",
                uz_shape_str(a, s1, sizeof s1), uz_shape_str(b, s2, sizeof s2));
        return NULL;
    }
    /* PyTorch's cosine_similarity: x.y / (max(||x||, eps) max(||y||, eps)). */
    uz_tensor *an = uz_l2_normalize(ctx, a, eps);
    uz_tensor *bn = uz_l2_normalize(ctx, b, eps);
    return uz_matmul(ctx, an, uz_transpose(ctx, bn, 0, 1));
}
