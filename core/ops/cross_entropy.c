/* Mean softmax cross-entropy with ignore_index and label smoothing
 * (PyTorch's F.cross_entropy semantics). Beyond the logits, memory is one
 * log-sum-exp per row; the only [N, C] buffer is the logits' gradient. */
#include "../autograd.h"
#include "../backend.h"
#include "../device.h"
#include "../kernels_nn.h"
#include "../ops.h"

#include <string.h>

typedef struct ce_saved {
    const float *lse;
    const int32_t *targets; /* a copy: the caller may reuse its buffer before backward */
    int64_t n, c, count;
    int32_t ignore_index;
    float smoothing;
} ce_saved;

static uz_status ce_backward(uz_ctx *ctx, uz_node *node)
{
    uz_tensor *x = node->in[0];
    const ce_saved *s = node->saved;
    bool fresh;
    float *dx = uz_grad_buf_fresh(ctx, x, &fresh);
    if (!dx)
        return uz_error_status();
    uz_backend_for(x->device)->nn->cross_entropy_backward(dx, fresh, node->out->grad->data, x->data,
                                                          s->lse, s->targets, s->n, s->c,
                                                          s->ignore_index, s->smoothing, s->count);
    return UZ_OK;
}

uz_tensor *uz_cross_entropy(uz_ctx *ctx, uz_tensor *logits, const int32_t *targets,
                            int32_t ignore_index, float label_smoothing)
{
    if (!logits)
        return NULL;
    char s1[UZ_SHAPE_STR_LEN];
    if (logits->ndim < 1) {
        UZ_FAIL(UZ_ERR_ARG, "cross_entropy: logits must be [..., C], got a 0-d tensor");
        return NULL;
    }
    if (!(label_smoothing >= 0.0f && label_smoothing < 1.0f)) {
        UZ_FAIL(UZ_ERR_ARG, "cross_entropy: label_smoothing %g outside [0, 1)",
                (double)label_smoothing);
        return NULL;
    }
    int64_t c = logits->shape[logits->ndim - 1], n = 1;
    for (int d = 0; d < logits->ndim - 1; d++)
        n *= logits->shape[d];
    if (n > 0 && !targets) {
        UZ_FAIL(UZ_ERR_ARG, "cross_entropy: targets is NULL for logits %s",
                uz_shape_str(logits, s1, sizeof s1));
        return NULL;
    }
    int64_t count = 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t t = targets[i];
        if (t == ignore_index)
            continue;
        if (t < 0 || t >= c) {
            UZ_FAIL(UZ_ERR_ARG,
                    "cross_entropy: target %d of row %lld outside [0, %lld) (logits %s, ignore_index %d)",
                    (int)t, (long long)i, (long long)c, uz_shape_str(logits, s1, sizeof s1),
                    (int)ignore_index);
            return NULL;
        }
        count++;
    }
    const struct uz_kernels_nn *k = UZ_KERNELS(logits, nn, "cross_entropy");
    if (!k)
        return NULL;
    uz_tensor *x = uz_contiguous(ctx, logits);
    if (!x)
        return NULL;
    size_t rows = (size_t)(n ? n : 1);
    float *lse = uz_ctx_alloc_on(ctx, x->device, sizeof(float) * rows);
    float *row_loss = uz_ctx_alloc_on(ctx, x->device, sizeof(float) * rows);
    int64_t scalar_shape[1] = {1};
    uz_tensor *loss = uz_tensor_empty(ctx, 0, scalar_shape);
    if (!lse || !row_loss || !loss)
        return NULL;
    k->cross_entropy_forward(loss->data, lse, row_loss, x->data, targets, n, c, ignore_index,
                             label_smoothing, count);
    if (uz_needs_grad(ctx, 1, &x)) {
        int32_t *tcopy = uz_ctx_alloc(ctx, sizeof(int32_t) * rows);
        uz_node *node = tcopy ? uz_record(ctx, "cross_entropy", ce_backward, loss, 1, &x,
                                          sizeof(ce_saved))
                              : NULL;
        if (!node)
            return NULL;
        if (n)
            memcpy(tcopy, targets, sizeof(int32_t) * (size_t)n);
        ce_saved *s = node->saved;
        *s = (ce_saved){lse, tcopy, n, c, count, ignore_index, label_smoothing};
    }
    return loss;
}
