/* Views: new shape and strides over the same storage, no copy. Each view's
 * backward applies the same index map to the input's contiguous gradient. */
#include "autograd.h"
#include "backend.h"
#include "device.h"
#include "kernels.h"

#include <string.h>

typedef struct view_saved {
    int64_t offset;                   /* into the input's contiguous gradient */
    int64_t stride[UZ_MAX_DIMS];      /* of the view, over that gradient */
} view_saved;

/* When the view reaches every element of its input once (a transpose or
 * permute of the whole tensor), the strides through which the input's
 * gradient reads the view's contiguous gradient, into src_stride. */
static bool permutes_input(const uz_tensor *in, const uz_tensor *out, const view_saved *s,
                           int64_t *src_stride)
{
    if (s->offset != 0 || uz_tensor_numel(in) != uz_tensor_numel(out))
        return false;
    int64_t in_stride = 1, out_stride[UZ_MAX_DIMS], o = 1;
    for (int k = out->ndim - 1; k >= 0; k--) {
        out_stride[k] = o;
        o *= out->shape[k];
    }
    for (int d = in->ndim - 1; d >= 0; d--) {
        src_stride[d] = 0; /* a size-1 dim is never stepped along */
        if (in->shape[d] > 1) {
            int k = 0;
            while (k < out->ndim && !(out->shape[k] == in->shape[d] && s->stride[k] == in_stride))
                k++;
            if (k == out->ndim)
                return false;
            src_stride[d] = out_stride[k];
        }
        in_stride *= in->shape[d];
    }
    return true;
}

static uz_status view_backward(uz_ctx *ctx, uz_node *n)
{
    uz_tensor *in = n->in[0], *out = n->out;
    if (!in->requires_grad)
        return UZ_OK;
    bool fresh;
    float *gi = uz_grad_buf_fresh(ctx, in, &fresh);
    if (!gi)
        return uz_error_status();
    const view_saved *s = n->saved;
    const uz_backend *be = uz_backend_for(out->device);
    int64_t src_stride[UZ_MAX_DIMS];
    if (fresh && permutes_input(in, out, s, src_stride)) {
        /* The first gradient to arrive: read straight into place, no zero fill. */
        be->copy->gather(gi, out->grad->data, in->ndim, in->shape, src_stride);
        return UZ_OK;
    }
    if (fresh)
        be->copy->fill(gi, 0.0f, uz_tensor_numel(in));
    be->copy->scatter_add(gi + s->offset, s->stride, out->grad->data, out->ndim, out->shape);
    return UZ_OK;
}

/* Backward of views that keep the logical element order (reshape, contiguous). */
static uz_status flat_backward(uz_ctx *ctx, uz_node *n)
{
    uz_tensor *in = n->in[0], *out = n->out;
    if (!in->requires_grad)
        return UZ_OK;
    /* Same elements in the same order: the first gradient to reach the input
     * is the output's own buffer, which the sweep is done with after this. */
    bool fail;
    if (uz_grad_adopt(ctx, in, out->grad->data, &fail))
        return UZ_OK;
    if (fail)
        return uz_error_status();
    float *gi = uz_grad_buf(ctx, in);
    if (!gi)
        return uz_error_status();
    uz_backend_for(out->device)->copy->add(gi, out->grad->data, uz_tensor_numel(out));
    return UZ_OK;
}

static void contiguous_strides(int ndim, const int64_t *shape, int64_t *stride)
{
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        stride[i] = s;
        s *= shape[i];
    }
}

/* A view struct sharing in's storage; the caller fills shape/stride/data. */
static uz_tensor *view_of(uz_ctx *ctx, const uz_tensor *in)
{
    uz_tensor *v = uz_ctx_zalloc(ctx, sizeof *v);
    if (!v)
        return NULL;
    v->device = in->device;
    v->data = in->data;
    return v;
}

static uz_tensor *record_view(uz_ctx *ctx, uz_tensor *in, uz_tensor *v, const char *op,
                              int64_t goffset, const int64_t *gstride)
{
    if (!uz_needs_grad(ctx, 1, &in))
        return v;
    uz_node *n = uz_record(ctx, op, view_backward, v, 1, &in, sizeof(view_saved));
    if (!n)
        return NULL;
    view_saved *s = n->saved;
    s->offset = goffset;
    memcpy(s->stride, gstride, sizeof(int64_t) * (size_t)v->ndim);
    return v;
}

uz_tensor *uz_transpose(uz_ctx *ctx, uz_tensor *t, int d0, int d1)
{
    if (!t)
        return NULL;
    if (d0 < 0)
        d0 += t->ndim;
    if (d1 < 0)
        d1 += t->ndim;
    if (d0 < 0 || d1 < 0 || d0 >= t->ndim || d1 >= t->ndim) {
        UZ_FAIL(UZ_ERR_ARG, "transpose: dims (%d,%d) out of range for %d-d tensor", d0, d1, t->ndim);
        return NULL;
    }
    int perm[UZ_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++)
        perm[i] = i;
    perm[d0] = d1;
    perm[d1] = d0;
    return uz_permute(ctx, t, perm);
}

uz_tensor *uz_permute(uz_ctx *ctx, uz_tensor *t, const int *perm)
{
    if (!t)
        return NULL;
    bool seen[UZ_MAX_DIMS] = {false};
    for (int i = 0; i < t->ndim; i++) {
        if (perm[i] < 0 || perm[i] >= t->ndim || seen[perm[i]]) {
            UZ_FAIL(UZ_ERR_ARG, "permute: entry %d (=%d) is not a permutation of 0..%d", i,
                    perm[i], t->ndim - 1);
            return NULL;
        }
        seen[perm[i]] = true;
    }
    uz_tensor *v = view_of(ctx, t);
    if (!v)
        return NULL;
    int64_t cs[UZ_MAX_DIMS], gs[UZ_MAX_DIMS];
    contiguous_strides(t->ndim, t->shape, cs);
    v->ndim = t->ndim;
    for (int i = 0; i < t->ndim; i++) {
        v->shape[i] = t->shape[perm[i]];
        v->stride[i] = t->stride[perm[i]];
        gs[i] = cs[perm[i]];
    }
    return record_view(ctx, t, v, "permute", 0, gs);
}

uz_tensor *uz_narrow(uz_ctx *ctx, uz_tensor *t, int dim, int64_t start, int64_t len)
{
    if (!t)
        return NULL;
    if (dim < 0)
        dim += t->ndim;
    if (dim < 0 || dim >= t->ndim) {
        UZ_FAIL(UZ_ERR_ARG, "narrow: dim %d out of range for %d-d tensor", dim, t->ndim);
        return NULL;
    }
    if (start < 0 || len < 0 || start + len > t->shape[dim]) {
        UZ_FAIL(UZ_ERR_ARG, "narrow: [%lld, %lld) outside dim %d of size %lld", (long long)start,
                (long long)(start + len), dim, (long long)t->shape[dim]);
        return NULL;
    }
    uz_tensor *v = view_of(ctx, t);
    if (!v)
        return NULL;
    int64_t cs[UZ_MAX_DIMS];
    contiguous_strides(t->ndim, t->shape, cs);
    v->ndim = t->ndim;
    memcpy(v->shape, t->shape, sizeof v->shape);
    memcpy(v->stride, t->stride, sizeof v->stride);
    v->shape[dim] = len;
    v->data = t->data + start * t->stride[dim];
    return record_view(ctx, t, v, "narrow", start * cs[dim], cs);
}

uz_tensor *uz_expand(uz_ctx *ctx, uz_tensor *t, int ndim, const int64_t *shape)
{
    if (!t)
        return NULL;
    char s1[UZ_SHAPE_STR_LEN];
    if (ndim < t->ndim || ndim > UZ_MAX_DIMS) {
        UZ_FAIL(UZ_ERR_ARG, "expand: cannot expand %s to %d dims", uz_shape_str(t, s1, sizeof s1), ndim);
        return NULL;
    }
    uz_tensor *v = view_of(ctx, t);
    if (!v)
        return NULL;
    int64_t cs[UZ_MAX_DIMS], gs[UZ_MAX_DIMS];
    contiguous_strides(t->ndim, t->shape, cs);
    int lead = ndim - t->ndim;
    v->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        int j = i - lead;
        int64_t want = shape[i];
        if (j < 0) {
            if (want < 0) {
                UZ_FAIL(UZ_ERR_ARG, "expand: -1 not allowed in new leading dim %d", i);
                return NULL;
            }
            v->shape[i] = want;
            v->stride[i] = gs[i] = 0;
        } else if (want == -1 || want == t->shape[j]) {
            v->shape[i] = t->shape[j];
            v->stride[i] = t->stride[j];
            gs[i] = cs[j];
        } else if (t->shape[j] == 1 && want >= 0) {
            v->shape[i] = want;
            v->stride[i] = gs[i] = 0;
        } else {
            UZ_FAIL(UZ_ERR_ARG, "expand: %s cannot expand to size %lld in dim %d",
                    uz_shape_str(t, s1, sizeof s1), (long long)want, i);
            return NULL;
        }
    }
    return record_view(ctx, t, v, "expand", 0, gs);
}

uz_tensor *uz_contiguous(uz_ctx *ctx, uz_tensor *t)
{
    if (!t)
        return NULL;
    if (uz_tensor_is_contiguous(t))
        return t;
    uz_tensor *c = uz_tensor_empty_on(ctx, t->device, t->ndim, t->shape);
    if (!c)
        return NULL;
    uz_backend_for(t->device)->copy->gather(c->data, t->data, t->ndim, t->shape, t->stride);
    if (uz_needs_grad(ctx, 1, &t) && !uz_record(ctx, "contiguous", flat_backward, c, 1, &t, 0))
        return NULL;
    return c;
}

/* Strides for viewing (shape, stride) as new_shape without a copy, as
 * PyTorch's computeStride: false when the memory layout does not allow it. */
static bool view_strides(int ndim, const int64_t *shape, const int64_t *stride, int new_ndim,
                         const int64_t *new_shape, int64_t *new_stride)
{
    if (ndim == 0) {
        contiguous_strides(new_ndim, new_shape, new_stride);
        return true;
    }
    int view_d = new_ndim - 1;
    int64_t chunk_base = stride[ndim - 1], tensor_numel = 1, view_numel = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        tensor_numel *= shape[d];
        if (d == 0 || (shape[d - 1] != 1 && stride[d - 1] != tensor_numel * chunk_base)) {
            while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
                new_stride[view_d] = view_numel * chunk_base;
                view_numel *= new_shape[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel)
                return false;
            if (d > 0) {
                chunk_base = stride[d - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    return view_d == -1;
}

uz_tensor *uz_reshape(uz_ctx *ctx, uz_tensor *t, int ndim, const int64_t *shape)
{
    if (!t)
        return NULL;
    char s1[UZ_SHAPE_STR_LEN];
    if (ndim < 0 || ndim > UZ_MAX_DIMS) {
        UZ_FAIL(UZ_ERR_ARG, "reshape: %d dims, at most %d supported", ndim, UZ_MAX_DIMS);
        return NULL;
    }
    int64_t want[UZ_MAX_DIMS], known = 1, numel = uz_tensor_numel(t);
    int infer = -1;
    bool negative = false; /* sizes below -1 can still multiply out to numel */
    for (int i = 0; i < ndim; i++) {
        want[i] = shape[i];
        if (shape[i] == -1) {
            if (infer >= 0) {
                UZ_FAIL(UZ_ERR_ARG, "reshape: more than one -1 in the new shape");
                return NULL;
            }
            infer = i;
        } else {
            known *= shape[i];
            negative = negative || shape[i] < 0;
        }
    }
    if (infer >= 0)
        want[infer] = known ? numel / known : 0;
    int64_t total = 1;
    for (int i = 0; i < ndim; i++)
        total *= want[i];
    if (negative || total != numel || (infer >= 0 && known * want[infer] != numel)) {
        uz_tensor tmp = {.ndim = ndim};
        memcpy(tmp.shape, shape, sizeof(int64_t) * (size_t)ndim);
        char s2[UZ_SHAPE_STR_LEN];
        UZ_FAIL(UZ_ERR_ARG, "reshape: %s (%lld elements) cannot become %s",
                uz_shape_str(t, s1, sizeof s1), (long long)numel, uz_shape_str(&tmp, s2, sizeof s2));
        return NULL;
    }
    int64_t st[UZ_MAX_DIMS];
    if (!view_strides(t->ndim, t->shape, t->stride, ndim, want, st)) {
        t = uz_contiguous(ctx, t);
        if (!t)
            return NULL;
        contiguous_strides(ndim, want, st);
    }
    uz_tensor *v = view_of(ctx, t);
    if (!v)
        return NULL;
    v->ndim = ndim;
    memcpy(v->shape, want, sizeof(int64_t) * (size_t)ndim);
    memcpy(v->stride, st, sizeof(int64_t) * (size_t)ndim);
    if (uz_needs_grad(ctx, 1, &t) && !uz_record(ctx, "reshape", flat_backward, v, 1, &t, 0))
        return NULL;
    return v;
}
