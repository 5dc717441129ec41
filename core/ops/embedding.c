/* Embedding lookup; the backward scatter-adds rows without atomics. */
#include "../autograd.h"
#include "../backend.h"
#include "../kernels_nn.h"
#include "../ops.h"

#include <stdio.h>
#include <string.h>

typedef struct emb_saved {
    const int32_t *ids; /* a copy: the caller may reuse its buffer before backward */
    int64_t n;
    int32_t padding_idx;
} emb_saved;

static uz_status emb_backward(uz_ctx *ctx, uz_node *node)
{
    uz_tensor *table = node->in[0];
    const emb_saved *s = node->saved;
    float *dt = uz_grad_buf(ctx, table);
    if (!dt)
        return uz_error_status();
    uz_backend_for(table->device)->nn->embedding_backward(dt, node->out->grad->data, s->ids, s->n,
                                                          table->shape[1], s->padding_idx);
    return UZ_OK;
}

/* "[i,j,...]": the multi-index of flat position `flat` in shape. */
static const char *position_str(int64_t flat, int ndim, const int64_t *shape, char *buf, size_t n)
{
    int64_t idx[UZ_MAX_DIMS];
    for (int d = ndim - 1; d >= 0; d--) {
        idx[d] = flat % shape[d];
        flat /= shape[d];
    }
    uz_tensor pos = {.ndim = ndim};
    memcpy(pos.shape, idx, sizeof(int64_t) * (size_t)ndim);
    return uz_shape_str(&pos, buf, n);
}

uz_tensor *uz_embedding(uz_ctx *ctx, uz_tensor *table, const int32_t *ids, int ndim,
                        const int64_t *shape, int32_t padding_idx)
{
    if (!table)
        return NULL;
    char s1[UZ_SHAPE_STR_LEN], s2[UZ_SHAPE_STR_LEN];
    if (table->ndim != 2) {
        UZ_FAIL(UZ_ERR_ARG, "embedding: table must be [V, D], got %s",
                uz_shape_str(table, s1, sizeof s1));
        return NULL;
    }
    if (ndim < 0 || ndim > UZ_MAX_DIMS - 1 || (ndim > 0 && !shape)) {
        UZ_FAIL(UZ_ERR_ARG, "embedding: ids need 0..%d dims and a shape, got %d dims",
                UZ_MAX_DIMS - 1, ndim);
        return NULL;
    }
    int64_t out_shape[UZ_MAX_DIMS], n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) {
            UZ_FAIL(UZ_ERR_ARG, "embedding: negative ids size %lld in dim %d",
                    (long long)shape[d], d);
            return NULL;
        }
        out_shape[d] = shape[d];
        n *= shape[d];
    }
    int64_t v = table->shape[0], dim = table->shape[1];
    out_shape[ndim] = dim;
    if (padding_idx < -1 || padding_idx >= v) {
        UZ_FAIL(UZ_ERR_ARG, "embedding: padding_idx %d outside [0, %lld) (or -1 for none), table %s",
                (int)padding_idx, (long long)v, uz_shape_str(table, s1, sizeof s1));
        return NULL;
    }
    if (n > 0 && !ids) {
        UZ_FAIL(UZ_ERR_ARG, "embedding: ids is NULL");
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= v) {
            UZ_FAIL(UZ_ERR_ARG, "embedding: id %d at position %s (flat %lld) outside [0, %lld), table %s",
                    (int)ids[i], position_str(i, ndim, shape, s2, sizeof s2), (long long)i,
                    (long long)v, uz_shape_str(table, s1, sizeof s1));
            return NULL;
        }
    }
    const struct uz_kernels_nn *k = UZ_KERNELS(table, nn, "embedding");
    if (!k)
        return NULL;
    table = uz_contiguous(ctx, table);
    if (!table)
        return NULL;
    uz_tensor *y = uz_tensor_empty(ctx, ndim + 1, out_shape);
    if (!y)
        return NULL;
    k->embedding_forward(y->data, table->data, ids, n, dim);
    if (uz_needs_grad(ctx, 1, &table)) {
        int32_t *icopy = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)(n ? n : 1));
        uz_node *node = icopy ? uz_record(ctx, "embedding", emb_backward, y, 1, &table,
                                          sizeof(emb_saved))
                              : NULL;
        if (!node)
            return NULL;
        if (n)
            memcpy(icopy, ids, sizeof(int32_t) * (size_t)n);
        *(emb_saved *)node->saved = (emb_saved){icopy, n, padding_idx};
    }
    return y;
}
