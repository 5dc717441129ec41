/* Finite-difference gradient check. */
#include "gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static double weighted_sum(const uz_tensor *out, const float *w)
{
    int64_t n = uz_tensor_numel(out);
    float *vals = malloc(sizeof(float) * (size_t)(n ? n : 1));
    uz_tensor_copy_out(out, vals);
    double f = 0.0;
    for (int64_t i = 0; i < n; i++)
        f += (double)vals[i] * (double)w[i];
    free(vals);
    return f;
}

static bool eval(uz_ctx *ctx, uz_tensor **in, uz_gc_fn fn, void *user, const float *w,
                 double *f, char *msg, size_t msglen)
{
    bool was = uz_grad_enable(ctx, false);
    uz_tensor *out = fn(ctx, in, user);
    uz_grad_enable(ctx, was);
    if (!out) {
        snprintf(msg, msglen, "forward failed: %s", uz_error_message());
        return false;
    }
    *f = weighted_sum(out, w);
    uz_ctx_reset(ctx);
    return true;
}

bool uz_gradcheck(uz_tensor **in, int n_in, uz_gc_fn fn, void *user, uz_gc_tol tol, char *msg,
                  size_t msglen)
{
    if (n_in <= 0 || n_in > 64) {
        snprintf(msg, msglen, "gradcheck: %d inputs, expected 1..64", n_in);
        return false;
    }
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *out = fn(ctx, in, user);
    if (!out) {
        snprintf(msg, msglen, "forward failed: %s", uz_error_message());
        uz_ctx_free(ctx);
        return false;
    }
    int64_t n_out = uz_tensor_numel(out);
    float *w = malloc(sizeof(float) * (size_t)(n_out ? n_out : 1));
    uz_rng_fill_uniform(w, n_out, 12345, 99, 0, -1.0f, 1.0f);
    for (int i = 0; i < n_in; i++)
        if (in[i] && in[i]->requires_grad)
            in[i]->grad = NULL;
    bool ok = true;
    if (uz_backward_with(ctx, out, w) != UZ_OK) {
        snprintf(msg, msglen, "backward failed: %s", uz_error_message());
        ok = false;
    }
    /* Analytic gradients live in ctx's arena: copy them out before resets. */
    float **ana = calloc((size_t)n_in, sizeof(float *));
    for (int i = 0; ok && i < n_in; i++) {
        if (!in[i] || !in[i]->requires_grad)
            continue;
        int64_t n = uz_tensor_numel(in[i]);
        ana[i] = calloc((size_t)(n ? n : 1), sizeof(float));
        if (in[i]->grad)
            uz_tensor_copy_out(in[i]->grad, ana[i]);
        in[i]->grad = NULL;
    }
    uz_ctx_reset(ctx);
    for (int i = 0; ok && i < n_in; i++) {
        if (!ana[i])
            continue;
        uz_tensor *x = in[i];
        int64_t n = uz_tensor_numel(x);
        for (int64_t j = 0; ok && j < n; j++) {
            /* Inputs are contiguous leaves made by the test. */
            float keep = x->data[j];
            double fp, fm;
            x->data[j] = (float)(keep + tol.eps);
            ok = eval(ctx, in, fn, user, w, &fp, msg, msglen);
            x->data[j] = (float)(keep - tol.eps);
            ok = ok && eval(ctx, in, fn, user, w, &fm, msg, msglen);
            x->data[j] = keep;
            if (!ok)
                break;
            double num = (fp - fm) / (2.0 * tol.eps);
            double a = ana[i][j];
            if (!(fabs(num - a) <= tol.atol + tol.rtol * fabs(num))) {
                snprintf(msg, msglen, "input %d element %lld: numeric %.6g vs analytic %.6g", i,
                         (long long)j, num, a);
                ok = false;
            }
        }
    }
    for (int i = 0; i < n_in; i++)
        free(ana[i]);
    free(ana);
    free(w);
    uz_ctx_free(ctx);
    return ok;
}

uz_tensor *uz_test_rand(uz_ctx *ctx, int ndim, const int64_t *shape, uint64_t seed, float lo,
                        float hi)
{
    uz_tensor *t = uz_tensor_empty(ctx, ndim, shape);
    if (!t)
        return NULL;
    uz_rng_fill_uniform(t->data, uz_tensor_numel(t), seed, 7, 0, lo, hi);
    t->requires_grad = true;
    return t;
}

double uz_test_max_abs_diff(const uz_tensor *a, const uz_tensor *b)
{
    int64_t n = uz_tensor_numel(a);
    float *x = malloc(sizeof(float) * (size_t)(n ? n : 1));
    float *y = malloc(sizeof(float) * (size_t)(n ? n : 1));
    uz_tensor_copy_out(a, x);
    uz_tensor_copy_out(b, y);
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)x[i] - (double)y[i]);
        if (d > m || d != d)
            m = d != d ? INFINITY : d;
    }
    free(x);
    free(y);
    return m;
}
