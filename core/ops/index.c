/* concat, split (views), index_select and gather. Index arrays are checked
 * here, on the host, so kernels can trust them; a copy of each index array
 * is saved on the tape because the caller's may not live until backward. */
#include "../autograd.h"
#include "../backend.h"
#include "../kernels_index.h"
#include "../ops.h"

#include <string.h>

/* dim in [-ndim, ndim) to [0, ndim), or -1 when out of range. */
static int resolve_dim(int dim, int ndim)
{
    if (dim < 0)
        dim += ndim;
    return dim >= 0 && dim < ndim ? dim : -1;
}

/* Sizes of the dims before and after dim, so a contiguous tensor is [outer, shape[dim], inner]. */
static void around_dim(int ndim, const int64_t *shape, int dim, int64_t *outer, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int d = 0; d < dim; d++)
        *outer *= shape[d];
    for (int d = dim + 1; d < ndim; d++)
        *inner *= shape[d];
}

static const char *dims_str(int ndim, const int64_t *shape, char *buf, size_t n)
{
    uz_tensor tmp = {.ndim = ndim};
    memcpy(tmp.shape, shape, sizeof(int64_t) * (size_t)ndim);
    return uz_shape_str(&tmp, buf, n);
}

/* ---- concat ---------------------------------------------------------------- */

typedef struct concat_saved {
    int64_t outer, inner;
    int dim;
} concat_saved;

static uz_status concat_backward(uz_ctx *ctx, uz_node *node)
{
    const concat_saved *s = node->saved;
    const struct uz_kernels_index *k = uz_backend_for(node->out->device)->index;
    int64_t n_dst = node->out->shape[s->dim], off = 0;
    for (int i = 0; i < node->n_in; i++) {
        uz_tensor *t = node->in[i];
        int64_t n_src = t->shape[s->dim];
        if (t->requires_grad) {
            float *g = uz_grad_buf(ctx, t);
            if (!g)
                return uz_error_status();
            k->concat_piece_backward(g, node->out->grad->data, s->outer, n_dst, off, n_src,
                                     s->inner);
        }
        off += n_src;
    }
    return UZ_OK;
}

uz_tensor *uz_concat(uz_ctx *ctx, uz_tensor *const *ts, int n, int dim)
{
    if (!ts || n < 1) {
        UZ_FAIL(UZ_ERR_ARG, "concat: needs at least one tensor, got %d", ts ? n : 0);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (!ts[i])
            return NULL;
    const uz_tensor *t0 = ts[0];
    int d = resolve_dim(dim, t0->ndim);
    if (d < 0) {
        UZ_FAIL(UZ_ERR_ARG, "concat: dim %d out of range for %d-d tensors", dim, t0->ndim);
        return NULL;
    }
    char s1[UZ_SHAPE_STR_LEN], s2[UZ_SHAPE_STR_LEN];
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        const uz_tensor *t = ts[i];
        bool match = t->ndim == t0->ndim;
        for (int j = 0; match && j < t->ndim; j++)
            match = j == d || t->shape[j] == t0->shape[j];
        if (!match) {
            UZ_FAIL(UZ_ERR_ARG, "concat: input %d shape %s does not match input 0 shape %s outside dim %d",
                    i, uz_shape_str(t, s1, sizeof s1), uz_shape_str(t0, s2, sizeof s2), d);
            return NULL;
        }
        if (t->device != t0->device) {
            UZ_FAIL(UZ_ERR_ARG, "concat: input %d is on %s but input 0 is on %s", i,
                    uz_device_name(t->device), uz_device_name(t0->device));
            return NULL;
        }
        total += t->shape[d];
    }
    const struct uz_kernels_index *k = UZ_KERNELS(t0, index, "concat");
    if (!k)
        return NULL;
    uz_tensor **in = uz_ctx_alloc(ctx, sizeof *in * (size_t)n);
    if (!in)
        return NULL;
    for (int i = 0; i < n; i++) {
        in[i] = uz_contiguous(ctx, ts[i]);
        if (!in[i])
            return NULL;
    }
    int64_t shape[UZ_MAX_DIMS];
    memcpy(shape, t0->shape, sizeof shape);
    shape[d] = total;
    uz_tensor *out = uz_tensor_empty(ctx, t0->ndim, shape);
    if (!out)
        return NULL;
    int64_t outer, inner, off = 0;
    around_dim(out->ndim, out->shape, d, &outer, &inner);
    for (int i = 0; i < n; i++) {
        k->concat_piece(out->data, in[i]->data, outer, total, off, in[i]->shape[d], inner);
        off += in[i]->shape[d];
    }
    if (uz_needs_grad(ctx, n, in)) {
        uz_node *node = uz_record(ctx, "concat", concat_backward, out, n, in, sizeof(concat_saved));
        if (!node)
            return NULL;
        *(concat_saved *)node->saved = (concat_saved){outer, inner, d};
    }
    return out;
}

/* ---- split ----------------------------------------------------------------- */

uz_status uz_split(uz_ctx *ctx, uz_tensor *t, int dim, const int64_t *sizes, int n,
                   uz_tensor **out)
{
    if (out)
        for (int i = 0; i < n; i++)
            out[i] = NULL;
    if (!t)
        return uz_error_status() ? uz_error_status()
                                 : UZ_FAIL(UZ_ERR_ARG, "split: input tensor is NULL");
    if (!out || !sizes || n < 1)
        return UZ_FAIL(UZ_ERR_ARG, "split: needs n >= 1 sizes and outputs, got n = %d%s", n,
                       out && sizes ? "" : " (sizes or out is NULL)");
    char s1[UZ_SHAPE_STR_LEN];
    int d = resolve_dim(dim, t->ndim);
    if (d < 0)
        return UZ_FAIL(UZ_ERR_ARG, "split: dim %d out of range for %s", dim,
                       uz_shape_str(t, s1, sizeof s1));
    int64_t sum = 0;
    for (int i = 0; i < n; i++) {
        if (sizes[i] < 0)
            return UZ_FAIL(UZ_ERR_ARG, "split: size %lld at position %d is negative",
                           (long long)sizes[i], i);
        sum += sizes[i];
    }
    if (sum != t->shape[d])
        return UZ_FAIL(UZ_ERR_ARG, "split: sizes add up to %lld but dim %d of %s has size %lld",
                       (long long)sum, d, uz_shape_str(t, s1, sizeof s1), (long long)t->shape[d]);
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        out[i] = uz_narrow(ctx, t, d, off, sizes[i]);
        if (!out[i])
            return uz_error_status();
        off += sizes[i];
    }
    return UZ_OK;
}

/* ---- index_select ---------------------------------------------------------- */

typedef struct index_select_saved {
    int64_t outer, n_src, inner, n_idx;
    int32_t idx[]; /* n_idx entries */
} index_select_saved;

static uz_status index_select_backward(uz_ctx *ctx, uz_node *node)
{
    const index_select_saved *s = node->saved;
    uz_tensor *t = node->in[0];
    float *g = uz_grad_buf(ctx, t);
    if (!g)
        return uz_error_status();
    uz_backend_for(t->device)->index->index_select_backward(g, node->out->grad->data, s->idx,
                                                            s->n_idx, s->outer, s->n_src,
                                                            s->inner);
    return UZ_OK;
}

uz_tensor *uz_index_select(uz_ctx *ctx, uz_tensor *t, int dim, const int32_t *idx,
                           int64_t n_idx)
{
    if (!t)
        return NULL;
    char s1[UZ_SHAPE_STR_LEN];
    int d = resolve_dim(dim, t->ndim);
    if (d < 0) {
        UZ_FAIL(UZ_ERR_ARG, "index_select: dim %d out of range for %s", dim,
                uz_shape_str(t, s1, sizeof s1));
        return NULL;
    }
    if (n_idx < 0 || (n_idx > 0 && !idx)) {
        UZ_FAIL(UZ_ERR_ARG, "index_select: %lld indices%s", (long long)n_idx,
                n_idx < 0 ? " (negative count)" : " but the index array is NULL");
        return NULL;
    }
    int64_t size = t->shape[d];
    for (int64_t j = 0; j < n_idx; j++)
        if (idx[j] < 0 || idx[j] >= size) {
            UZ_FAIL(UZ_ERR_ARG, "index_select: index %d at position %lld is out of range [0, %lld) for dim %d of %s",
                    (int)idx[j], (long long)j, (long long)size, d, uz_shape_str(t, s1, sizeof s1));
            return NULL;
        }
    const struct uz_kernels_index *k = UZ_KERNELS(t, index, "index_select");
    if (!k)
        return NULL;
    t = uz_contiguous(ctx, t);
    if (!t)
        return NULL;
    int64_t shape[UZ_MAX_DIMS], outer, inner;
    memcpy(shape, t->shape, sizeof shape);
    shape[d] = n_idx;
    uz_tensor *out = uz_tensor_empty(ctx, t->ndim, shape);
    if (!out)
        return NULL;
    around_dim(t->ndim, t->shape, d, &outer, &inner);
    k->index_select(out->data, t->data, idx, n_idx, outer, size, inner);
    if (uz_needs_grad(ctx, 1, &t)) {
        size_t bytes = sizeof(index_select_saved) + sizeof(int32_t) * (size_t)n_idx;
        uz_node *node = uz_record(ctx, "index_select", index_select_backward, out, 1, &t, bytes);
        if (!node)
            return NULL;
        index_select_saved *s = node->saved;
        *s = (index_select_saved){outer, size, inner, n_idx};
        if (n_idx)
            memcpy(s->idx, idx, sizeof(int32_t) * (size_t)n_idx);
    }
    return out;
}

/* ---- gather ---------------------------------------------------------------- */

typedef struct gather_saved {
    int64_t index_shape[UZ_MAX_DIMS];
    int ndim, dim;
    int32_t index[]; /* numel(index_shape) entries */
} gather_saved;

static uz_status gather_backward(uz_ctx *ctx, uz_node *node)
{
    const gather_saved *s = node->saved;
    uz_tensor *t = node->in[0];
    float *g = uz_grad_buf(ctx, t);
    if (!g)
        return uz_error_status();
    uz_backend_for(t->device)->index->gather_backward(g, node->out->grad->data, s->index,
                                                      s->ndim, s->index_shape, t->shape, s->dim);
    return UZ_OK;
}

uz_tensor *uz_gather(uz_ctx *ctx, uz_tensor *t, int dim, const int32_t *index, int ndim,
                     const int64_t *index_shape)
{
    if (!t)
        return NULL;
    char s1[UZ_SHAPE_STR_LEN], s2[UZ_SHAPE_STR_LEN];
    if (!index_shape) {
        UZ_FAIL(UZ_ERR_ARG, "gather: index_shape is NULL");
        return NULL;
    }
    if (ndim != t->ndim) {
        UZ_FAIL(UZ_ERR_ARG, "gather: index has %d dims but input %s has %d", ndim,
                uz_shape_str(t, s1, sizeof s1), t->ndim);
        return NULL;
    }
    int d = resolve_dim(dim, t->ndim);
    if (d < 0) {
        UZ_FAIL(UZ_ERR_ARG, "gather: dim %d out of range for %s", dim,
                uz_shape_str(t, s1, sizeof s1));
        return NULL;
    }
    int64_t numel = 1;
    for (int j = 0; j < ndim; j++) {
        if (index_shape[j] < 0 || (j != d && index_shape[j] > t->shape[j])) {
            UZ_FAIL(UZ_ERR_ARG, "gather: index shape %s does not fit input %s in dim %d",
                    dims_str(ndim, index_shape, s1, sizeof s1), uz_shape_str(t, s2, sizeof s2), j);
            return NULL;
        }
        numel *= index_shape[j];
    }
    if (numel > 0 && !index) {
        UZ_FAIL(UZ_ERR_ARG, "gather: index array is NULL for index shape %s",
                dims_str(ndim, index_shape, s1, sizeof s1));
        return NULL;
    }
    int64_t size = t->shape[d];
    for (int64_t p = 0; p < numel; p++)
        if (index[p] < 0 || index[p] >= size) {
            UZ_FAIL(UZ_ERR_ARG, "gather: index %d at position %lld is out of range [0, %lld) for dim %d of %s",
                    (int)index[p], (long long)p, (long long)size, d, uz_shape_str(t, s1, sizeof s1));
            return NULL;
        }
    const struct uz_kernels_index *k = UZ_KERNELS(t, index, "gather");
    if (!k)
        return NULL;
    t = uz_contiguous(ctx, t);
    if (!t)
        return NULL;
    uz_tensor *out = uz_tensor_empty(ctx, ndim, index_shape);
    if (!out)
        return NULL;
    k->gather(out->data, t->data, index, ndim, index_shape, t->shape, d);
    if (uz_needs_grad(ctx, 1, &t)) {
        size_t bytes = sizeof(gather_saved) + sizeof(int32_t) * (size_t)numel;
        uz_node *node = uz_record(ctx, "gather", gather_backward, out, 1, &t, bytes);
        if (!node)
            return NULL;
        gather_saved *s = node->saved;
        memcpy(s->index_shape, index_shape, sizeof(int64_t) * (size_t)ndim);
        s->ndim = ndim;
        s->dim = d;
        if (numel)
            memcpy(s->index, index, sizeof(int32_t) * (size_t)numel);
    }
    return out;
}
