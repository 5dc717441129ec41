/* Elementwise ops. Binary ops and where read their inputs through
 * broadcast strides (0 on stretched dims), so neither broadcasting nor
 * transposed views costs a copy; a broadcast input's gradient is formed over
 * the output shape and summed back to the input's shape by the reduce
 * kernels. Unary ops work on contiguous inputs. */
#include "../autograd.h"
#include "../backend.h"
#include "../device.h"
#include "../kernels.h"
#include "../kernels_elementwise.h"
#include "../kernels_reduce.h"
#include "../ops.h"


/* The PyTorch broadcast of n shapes (right-aligned, size 1 stretches). */
static bool broadcast_shape(uz_tensor *const *t, int n, int *ndim, int64_t *shape)
{
    int nd = 0;
    for (int i = 0; i < n; i++)
        nd = t[i]->ndim > nd ? t[i]->ndim : nd;
    for (int d = 0; d < nd; d++) {
        int64_t size = 1;
        for (int i = 0; i < n; i++) {
            int j = d - (nd - t[i]->ndim);
            if (j < 0 || t[i]->shape[j] == 1)
                continue;
            if (size != 1 && size != t[i]->shape[j])
                return false;
            size = t[i]->shape[j];
        }
        shape[d] = size;
    }
    *ndim = nd;
    return true;
}

/* Checks that the inputs share a device and broadcast; fills the output shape. */
static bool check_inputs(const char *op, uz_tensor *const *t, int n, int *ndim, int64_t *shape)
{
    for (int i = 1; i < n; i++) {
        if (t[i]->device != t[0]->device) {
            UZ_FAIL(UZ_ERR_ARG, "%s: inputs on different devices (%s and %s)", op,
                    uz_device_name(t[0]->device), uz_device_name(t[i]->device));
            return false;
        }
    }
    if (broadcast_shape(t, n, ndim, shape))
        return true;
    char s0[UZ_SHAPE_STR_LEN], s1[UZ_SHAPE_STR_LEN], s2[UZ_SHAPE_STR_LEN];
    if (n == 2)
        UZ_FAIL(UZ_ERR_ARG, "%s: shapes %s and %s cannot broadcast", op,
                uz_shape_str(t[0], s0, sizeof s0), uz_shape_str(t[1], s1, sizeof s1));
    else
        UZ_FAIL(UZ_ERR_ARG, "%s: shapes %s (cond), %s and %s cannot broadcast", op,
                uz_shape_str(t[0], s0, sizeof s0), uz_shape_str(t[1], s1, sizeof s1),
                uz_shape_str(t[2], s2, sizeof s2));
    return false;
}

/* t's strides over the broadcast shape: 0 on new leading and stretched dims. */
static void broadcast_strides(const uz_tensor *t, int ndim, int64_t *stride)
{
    int lead = ndim - t->ndim;
    for (int d = 0; d < ndim; d++)
        stride[d] = d < lead || t->shape[d - lead] == 1 ? 0 : t->stride[d - lead];
}

/* The dims of out along which t was stretched; true when there are any. */
static bool broadcast_dims(const uz_tensor *t, const uz_tensor *out, bool *reduce)
{
    int lead = out->ndim - t->ndim;
    bool any = false;
    for (int d = 0; d < out->ndim; d++) {
        reduce[d] = out->shape[d] != 1 && (d < lead || t->shape[d - lead] == 1);
        any = any || reduce[d];
    }
    return any;
}

/* Fetches both families an elementwise op uses (the reduce one for its
 * backward) so that a missing kernel fails in the forward, naming the op. */
static const struct uz_kernels_elementwise *kernels_for(const uz_tensor *t, const char *op)
{
    const struct uz_kernels_elementwise *k = UZ_KERNELS(t, elementwise, op);
    if (!k || !UZ_KERNELS(t, reduce, op))
        return NULL;
    return k;
}

/* Adds a gradient laid out over out's shape into t's gradient, summing the
 * dims t was stretched along. */
static void add_to_grad(const uz_backend *be, float *grad, const uz_tensor *out,
                        const float *full, const bool *reduce, float scale)
{
    be->reduce->sum(grad, full, out->ndim, out->shape, reduce, scale, true);
}

/* ---- binary ------------------------------------------------------------------ */

static const char *const binary_names[] = {
    [UZ_BINARY_ADD] = "add", [UZ_BINARY_SUB] = "sub", [UZ_BINARY_MUL] = "mul",
    [UZ_BINARY_DIV] = "div", [UZ_BINARY_POW] = "pow",
};

typedef struct binary_saved {
    uz_binary_op op;
} binary_saved;

static uz_status binary_backward(uz_ctx *ctx, uz_node *node)
{
    uz_binary_op op = ((const binary_saved *)node->saved)->op;
    uz_tensor *a = node->in[0], *b = node->in[1], *out = node->out;
    const uz_backend *be = uz_backend_for(out->device);
    const float *gout = out->grad->data;
    int64_t sa[UZ_MAX_DIMS], sb[UZ_MAX_DIMS];
    broadcast_strides(a, out->ndim, sa);
    broadcast_strides(b, out->ndim, sb);
    for (int wrt = 0; wrt < 2; wrt++) {
        uz_tensor *t = node->in[wrt];
        if (!t->requires_grad)
            continue;
        bool fresh;
        float *grad = uz_grad_buf_fresh(ctx, t, &fresh);
        if (!grad)
            return uz_error_status();
        bool reduce[UZ_MAX_DIMS];
        bool stretched = broadcast_dims(t, out, reduce);
        if (stretched && fresh)
            be->copy->fill(grad, 0.0f, uz_tensor_numel(t));
        if (stretched && (op == UZ_BINARY_ADD || op == UZ_BINARY_SUB)) {
            /* d/dx is +-1: sum the incoming gradient directly, no scratch. */
            float sign = op == UZ_BINARY_SUB && wrt == 1 ? -1.0f : 1.0f;
            add_to_grad(be, grad, out, gout, reduce, sign);
            continue;
        }
        /* A fresh gradient (or the scratch of a broadcast one) is written,
         * not zero-filled and added to. */
        float *dst = grad;
        if (stretched) {
            dst = uz_ctx_alloc_on(ctx, out->device, sizeof(float) * (size_t)uz_tensor_numel(out));
            if (!dst)
                return uz_error_status();
        }
        be->elementwise->binary_backward(op, wrt, fresh || stretched, dst, gout, out->data,
                                         a->data, sa, b->data, sb, out->ndim, out->shape);
        if (stretched)
            add_to_grad(be, grad, out, dst, reduce, 1.0f);
    }
    return UZ_OK;
}

static uz_tensor *binary(uz_ctx *ctx, uz_binary_op op, uz_tensor *a, uz_tensor *b)
{
    if (!a || !b)
        return NULL;
    const char *name = binary_names[op];
    uz_tensor *in[2] = {a, b};
    int nd;
    int64_t shape[UZ_MAX_DIMS];
    if (!check_inputs(name, in, 2, &nd, shape))
        return NULL;
    const struct uz_kernels_elementwise *k = kernels_for(a, name);
    if (!k)
        return NULL;
    uz_tensor *out = uz_tensor_empty(ctx, nd, shape);
    if (!out)
        return NULL;
    int64_t sa[UZ_MAX_DIMS], sb[UZ_MAX_DIMS];
    broadcast_strides(a, nd, sa);
    broadcast_strides(b, nd, sb);
    k->binary(op, out->data, a->data, sa, b->data, sb, nd, shape);
    if (uz_needs_grad(ctx, 2, in)) {
        uz_node *node = uz_record(ctx, name, binary_backward, out, 2, in, sizeof(binary_saved));
        if (!node)
            return NULL;
        ((binary_saved *)node->saved)->op = op;
    }
    return out;
}

uz_tensor *uz_add(uz_ctx *ctx, uz_tensor *a, uz_tensor *b)
{
    return binary(ctx, UZ_BINARY_ADD, a, b);
}

uz_tensor *uz_sub(uz_ctx *ctx, uz_tensor *a, uz_tensor *b)
{
    return binary(ctx, UZ_BINARY_SUB, a, b);
}

uz_tensor *uz_mul(uz_ctx *ctx, uz_tensor *a, uz_tensor *b)
{
    return binary(ctx, UZ_BINARY_MUL, a, b);
}

uz_tensor *uz_div(uz_ctx *ctx, uz_tensor *a, uz_tensor *b)
{
    return binary(ctx, UZ_BINARY_DIV, a, b);
}

uz_tensor *uz_pow(uz_ctx *ctx, uz_tensor *a, uz_tensor *b)
{
    return binary(ctx, UZ_BINARY_POW, a, b);
}

/* ---- unary and scalar ---------------------------------------------------------- */

typedef struct unary_saved {
    uz_unary_op op;
    float s;
} unary_saved;

static uz_status unary_backward(uz_ctx *ctx, uz_node *node)
{
    const unary_saved *s = node->saved;
    uz_tensor *a = node->in[0], *out = node->out;
    bool fresh;
    float *grad = uz_grad_buf_fresh(ctx, a, &fresh);
    if (!grad)
        return uz_error_status();
    uz_backend_for(out->device)
        ->elementwise->unary_backward(s->op, s->s, fresh, grad, out->grad->data, out->data,
                                      a->data, uz_tensor_numel(out));
    return UZ_OK;
}

static uz_tensor *unary(uz_ctx *ctx, const char *name, uz_unary_op op, float s, uz_tensor *a)
{
    if (!a)
        return NULL;
    const struct uz_kernels_elementwise *k = UZ_KERNELS(a, elementwise, name);
    if (!k)
        return NULL;
    a = uz_contiguous(ctx, a);
    if (!a)
        return NULL;
    uz_tensor *out = uz_tensor_empty(ctx, a->ndim, a->shape);
    if (!out)
        return NULL;
    k->unary(op, s, out->data, a->data, uz_tensor_numel(a));
    if (uz_needs_grad(ctx, 1, &a)) {
        uz_node *node = uz_record(ctx, name, unary_backward, out, 1, &a, sizeof(unary_saved));
        if (!node)
            return NULL;
        *(unary_saved *)node->saved = (unary_saved){op, s};
    }
    return out;
}

uz_tensor *uz_add_scalar(uz_ctx *ctx, uz_tensor *a, float s)
{
    return unary(ctx, "add_scalar", UZ_UNARY_ADD_SCALAR, s, a);
}

uz_tensor *uz_mul_scalar(uz_ctx *ctx, uz_tensor *a, float s)
{
    return unary(ctx, "mul_scalar", UZ_UNARY_MUL_SCALAR, s, a);
}

uz_tensor *uz_pow_scalar(uz_ctx *ctx, uz_tensor *a, float p)
{
    return unary(ctx, "pow_scalar", UZ_UNARY_POW_SCALAR, p, a);
}

uz_tensor *uz_exp(uz_ctx *ctx, uz_tensor *a) { return unary(ctx, "exp", UZ_UNARY_EXP, 0.0f, a); }
uz_tensor *uz_log(uz_ctx *ctx, uz_tensor *a) { return unary(ctx, "log", UZ_UNARY_LOG, 0.0f, a); }
uz_tensor *uz_sqrt(uz_ctx *ctx, uz_tensor *a) { return unary(ctx, "sqrt", UZ_UNARY_SQRT, 0.0f, a); }
uz_tensor *uz_relu(uz_ctx *ctx, uz_tensor *a) { return unary(ctx, "relu", UZ_UNARY_RELU, 0.0f, a); }
uz_tensor *uz_abs(uz_ctx *ctx, uz_tensor *a) { return unary(ctx, "abs", UZ_UNARY_ABS, 0.0f, a); }
uz_tensor *uz_tanh(uz_ctx *ctx, uz_tensor *a) { return unary(ctx, "tanh", UZ_UNARY_TANH, 0.0f, a); }
uz_tensor *uz_silu(uz_ctx *ctx, uz_tensor *a) { return unary(ctx, "silu", UZ_UNARY_SILU, 0.0f, a); }

uz_tensor *uz_sigmoid(uz_ctx *ctx, uz_tensor *a)
{
    return unary(ctx, "sigmoid", UZ_UNARY_SIGMOID, 0.0f, a);
}

uz_tensor *uz_gelu(uz_ctx *ctx, uz_tensor *a, uz_gelu_mode mode)
{
    if (!a)
        return NULL;
    if (mode != UZ_GELU_ERF && mode != UZ_GELU_TANH) {
        UZ_FAIL(UZ_ERR_ARG, "gelu: unknown mode %d (expected UZ_GELU_ERF or UZ_GELU_TANH)",
                (int)mode);
        return NULL;
    }
    return unary(ctx, "gelu", mode == UZ_GELU_ERF ? UZ_UNARY_GELU_ERF : UZ_UNARY_GELU_TANH,
                 0.0f, a);
}

/* ---- where ------------------------------------------------------------------- */

typedef struct where_saved {
    uz_tensor *cond;
} where_saved;

static uz_status where_backward(uz_ctx *ctx, uz_node *node)
{
    const uz_tensor *cond = ((const where_saved *)node->saved)->cond;
    uz_tensor *out = node->out;
    const uz_backend *be = uz_backend_for(out->device);
    int64_t sc[UZ_MAX_DIMS];
    broadcast_strides(cond, out->ndim, sc);
    for (int i = 0; i < 2; i++) {
        uz_tensor *t = node->in[i];
        if (!t->requires_grad)
            continue;
        float *grad = uz_grad_buf(ctx, t);
        if (!grad)
            return uz_error_status();
        bool reduce[UZ_MAX_DIMS];
        bool stretched = broadcast_dims(t, out, reduce);
        float *dst = grad;
        if (stretched) {
            dst = uz_ctx_zalloc_on(ctx, out->device, sizeof(float) * (size_t)uz_tensor_numel(out));
            if (!dst)
                return uz_error_status();
        }
        be->elementwise->where_backward(i == 0, dst, out->grad->data, cond->data, sc, out->ndim,
                                        out->shape);
        if (stretched)
            add_to_grad(be, grad, out, dst, reduce, 1.0f);
    }
    return UZ_OK;
}

uz_tensor *uz_where(uz_ctx *ctx, uz_tensor *cond, uz_tensor *a, uz_tensor *b)
{
    if (!cond || !a || !b)
        return NULL;
    uz_tensor *all[3] = {cond, a, b};
    int nd;
    int64_t shape[UZ_MAX_DIMS];
    if (!check_inputs("where", all, 3, &nd, shape))
        return NULL;
    const struct uz_kernels_elementwise *k = kernels_for(a, "where");
    if (!k)
        return NULL;
    uz_tensor *out = uz_tensor_empty(ctx, nd, shape);
    if (!out)
        return NULL;
    int64_t sc[UZ_MAX_DIMS], sa[UZ_MAX_DIMS], sb[UZ_MAX_DIMS];
    broadcast_strides(cond, nd, sc);
    broadcast_strides(a, nd, sa);
    broadcast_strides(b, nd, sb);
    k->where(out->data, cond->data, sc, a->data, sa, b->data, sb, nd, shape);
    /* cond is a selector, not a differentiable input. */
    uz_tensor *in[2] = {a, b};
    if (uz_needs_grad(ctx, 2, in)) {
        uz_node *node = uz_record(ctx, "where", where_backward, out, 2, in, sizeof(where_saved));
        if (!node)
            return NULL;
        ((where_saved *)node->saved)->cond = cond;
    }
    return out;
}
