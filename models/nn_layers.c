/* Linear, conv2d, layer norm and multi-head attention layers on core ops. */
#include "nn_layers.h"

#include <math.h>
#include <stdio.h>

uz_status uz_nn_name(char *buf, size_t n, const char *prefix, const char *name)
{
    if (snprintf(buf, n, "%s%s", prefix, name) >= (int)n)
        return UZ_FAIL(UZ_ERR_ARG, "nn: parameter name '%s%s' too long", prefix, name);
    return UZ_OK;
}

uz_tensor *uz_nn_param(uz_params *p, const char *prefix, const char *name, int ndim,
                       const int64_t *shape)
{
    char full[256];
    if (uz_nn_name(full, sizeof full, prefix, name) != UZ_OK)
        return NULL;
    return uz_params_add(p, full, ndim, shape);
}

uint64_t uz_nn_stream(const uz_tensor *t)
{
    uint64_t h = 14695981039346656037ull;
    for (const char *s = t->name; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* Declares "<prefix><name>.weight" and "<prefix><name>.bias". */
static uz_status declare_pair(uz_params *p, const char *prefix, const char *name, int ndim,
                              const int64_t *wshape, int64_t out, uz_tensor **w, uz_tensor **b)
{
    char full[256];
    if (snprintf(full, sizeof full, "%s.weight", name) >= (int)sizeof full)
        return UZ_FAIL(UZ_ERR_ARG, "nn: parameter name '%s%s' too long", prefix, name);
    *w = uz_nn_param(p, prefix, full, ndim, wshape);
    snprintf(full, sizeof full, "%s.bias", name);
    *b = uz_nn_param(p, prefix, full, 1, (int64_t[]){out});
    return *w && *b ? UZ_OK : uz_error_status();
}

static void init_fan_in(uz_tensor *w, uz_tensor *b, int64_t fan_in, uint64_t seed)
{
    float bound = 1.0f / sqrtf((float)fan_in);
    uz_param_init_uniform(w, seed, uz_nn_stream(w), -bound, bound);
    uz_param_init_uniform(b, seed, uz_nn_stream(b), -bound, bound);
}

/* ---- linear ------------------------------------------------------------------------ */

uz_status uz_nn_linear_declare(uz_nn_linear *l, uz_params *p, const char *prefix,
                               const char *name, int64_t in, int64_t out)
{
    return declare_pair(p, prefix, name, 2, (int64_t[]){out, in}, out, &l->weight, &l->bias);
}

void uz_nn_linear_init(const uz_nn_linear *l, uint64_t seed)
{
    init_fan_in(l->weight, l->bias, l->weight->shape[1], seed);
}

uz_tensor *uz_nn_linear_forward(uz_ctx *ctx, const uz_nn_linear *l, uz_tensor *x)
{
    return uz_linear(ctx, x, l->weight, l->bias);
}

/* ---- conv2d -------------------------------------------------------------------------- */

uz_status uz_nn_conv2d_declare(uz_nn_conv2d *c, uz_params *p, const char *prefix,
                               const char *name, int64_t in, int64_t out, int k, int stride,
                               int pad)
{
    c->opts = (uz_conv2d_opts){.stride_h = stride, .stride_w = stride, .pad_h = pad, .pad_w = pad};
    return declare_pair(p, prefix, name, 4, (int64_t[]){out, in, k, k}, out, &c->weight,
                        &c->bias);
}

void uz_nn_conv2d_init(const uz_nn_conv2d *c, uint64_t seed)
{
    const int64_t *s = c->weight->shape;
    init_fan_in(c->weight, c->bias, s[1] * s[2] * s[3], seed);
}

uz_tensor *uz_nn_conv2d_forward(uz_ctx *ctx, const uz_nn_conv2d *c, uz_tensor *x)
{
    return uz_conv2d(ctx, x, c->weight, c->bias, c->opts);
}

/* ---- layer norm -------------------------------------------------------------------- */

uz_status uz_nn_layer_norm_declare(uz_nn_layer_norm *n, uz_params *p, const char *prefix,
                                   const char *name, int64_t width, float eps)
{
    n->eps = eps;
    return declare_pair(p, prefix, name, 1, (int64_t[]){width}, width, &n->weight, &n->bias);
}

void uz_nn_layer_norm_init(const uz_nn_layer_norm *n)
{
    uz_param_init_const(n->weight, 1.0f);
    uz_param_init_const(n->bias, 0.0f);
}

uz_tensor *uz_nn_layer_norm_forward(uz_ctx *ctx, const uz_nn_layer_norm *n, uz_tensor *x)
{
    return uz_layer_norm(ctx, x, n->weight, n->bias, n->eps);
}

/* ---- attention ---------------------------------------------------------------------- */

/* x [B, T, in] projected and split into heads: [B, heads, T, E / heads] (a view). */
static uz_tensor *project_heads(uz_ctx *ctx, uz_tensor *x, uz_tensor *w, uz_tensor *b, int heads)
{
    uz_tensor *y = uz_linear(ctx, x, w, b);
    if (!y)
        return NULL;
    int64_t B = y->shape[0], T = y->shape[1], E = y->shape[2];
    y = uz_reshape(ctx, y, 4, (int64_t[]){B, T, heads, E / heads});
    return uz_permute(ctx, y, (const int[]){0, 2, 1, 3});
}

uz_tensor *uz_nn_attention(uz_ctx *ctx, const uz_nn_attention_proj *w, int heads, uz_tensor *xq,
                           uz_tensor *xk, uz_tensor *xv, uz_tensor *mask)
{
    if (!xq || !xk || !xv)
        return NULL;
    char s1[UZ_SHAPE_STR_LEN], s2[UZ_SHAPE_STR_LEN], s3[UZ_SHAPE_STR_LEN];
    if (xq->ndim != 3 || xk->ndim != 3 || xv->ndim != 3 || xk->shape[0] != xq->shape[0] ||
        xv->shape[0] != xq->shape[0] || xk->shape[1] != xv->shape[1]) {
        UZ_FAIL(UZ_ERR_ARG, "attention: query %s, key %s, value %s are not [B, Tq, .], [B, Tk, .], [B, Tk, .]",
                uz_shape_str(xq, s1, sizeof s1), uz_shape_str(xk, s2, sizeof s2),
                uz_shape_str(xv, s3, sizeof s3));
        return NULL;
    }
    int64_t B = xq->shape[0], Tq = xq->shape[1], E = w->q_w->shape[0];
    if (heads <= 0 || E % heads != 0) {
        UZ_FAIL(UZ_ERR_ARG, "attention: width %lld is not a multiple of %d heads", (long long)E,
                heads);
        return NULL;
    }
    uz_tensor *q = project_heads(ctx, xq, w->q_w, w->q_b, heads);
    uz_tensor *k = project_heads(ctx, xk, w->k_w, w->k_b, heads);
    uz_tensor *v = project_heads(ctx, xv, w->v_w, w->v_b, heads);
    uz_tensor *o = uz_attention(ctx, q, k, v, mask, false, 0.0f);
    o = uz_permute(ctx, o, (const int[]){0, 2, 1, 3});
    o = uz_reshape(ctx, o, 3, (int64_t[]){B, Tq, E});
    return uz_linear(ctx, o, w->out_w, w->out_b);
}

uz_status uz_nn_mha_declare(uz_nn_mha *m, uz_params *p, const char *prefix, const char *name,
                            int64_t width, int heads)
{
    char full[256], sub[256];
    if (uz_nn_name(full, sizeof full, prefix, name) != UZ_OK)
        return uz_error_status();
    m->heads = heads;
    m->in_proj_weight = uz_nn_param(p, full, ".in_proj_weight", 2, (int64_t[]){3 * width, width});
    m->in_proj_bias = uz_nn_param(p, full, ".in_proj_bias", 1, (int64_t[]){3 * width});
    if (!m->in_proj_weight || !m->in_proj_bias || uz_nn_name(sub, sizeof sub, full, ".") != UZ_OK)
        return uz_error_status();
    return uz_nn_linear_declare(&m->out_proj, p, sub, "out_proj", width, width);
}

void uz_nn_mha_init(const uz_nn_mha *m, uint64_t seed)
{
    const int64_t *s = m->in_proj_weight->shape;
    float bound = sqrtf(6.0f / (float)(s[0] + s[1]));
    uz_param_init_uniform(m->in_proj_weight, seed, uz_nn_stream(m->in_proj_weight), -bound, bound);
    uz_param_init_const(m->in_proj_bias, 0.0f);
    uz_nn_linear_init(&m->out_proj, seed);
    uz_param_init_const(m->out_proj.bias, 0.0f);
}

uz_tensor *uz_nn_mha_forward(uz_ctx *ctx, const uz_nn_mha *m, uz_tensor *xq, uz_tensor *xk,
                             uz_tensor *xv, uz_tensor *mask)
{
    /* Row blocks of the packed projection, as views, so their gradients land in it. */
    int64_t E = m->in_proj_weight->shape[1];
    uz_tensor *w[3], *b[3];
    for (int i = 0; i < 3; i++) {
        w[i] = uz_narrow(ctx, m->in_proj_weight, 0, i * E, E);
        b[i] = uz_narrow(ctx, m->in_proj_bias, 0, i * E, E);
        if (!w[i] || !b[i])
            return NULL;
    }
    uz_nn_attention_proj proj = {w[0], b[0], w[1], b[1], w[2], b[2], m->out_proj.weight,
                                 m->out_proj.bias};
    return uz_nn_attention(ctx, &proj, m->heads, xq, xk, xv, mask);
}
