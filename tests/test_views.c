/* Views (reshape, transpose, permute, narrow, expand, contiguous) and
 * uz_tensor_copy_out: shapes, strides and storage sharing, values against
 * naive index loops, gradient checks through single views and chains, and
 * error messages. */
#include <check.h>
#include <omp.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"

static bool has(const char *needle)
{
    return strstr(uz_error_message(), needle) != NULL;
}

static void unravel(int64_t flat, int ndim, const int64_t *shape, int64_t *idx)
{
    for (int d = ndim - 1; d >= 0; d--) {
        idx[d] = flat % shape[d];
        flat /= shape[d];
    }
}

/* Logical (row-major) element p of t, read through its strides. */
static float at_flat(const uz_tensor *t, int64_t p)
{
    int64_t idx[UZ_MAX_DIMS];
    unravel(p, t->ndim, t->shape, idx);
    return uz_tensor_get(t, idx);
}

/* Same elements in the same logical order (what reshape must preserve). */
static void assert_same_flat(const uz_tensor *a, const uz_tensor *b)
{
    ck_assert_int_eq(uz_tensor_numel(a), uz_tensor_numel(b));
    for (int64_t p = 0; p < uz_tensor_numel(a); p++)
        ck_assert_float_eq(at_flat(a, p), at_flat(b, p));
}

static void assert_shape(const uz_tensor *t, int ndim, const int64_t *shape)
{
    ck_assert_int_eq(t->ndim, ndim);
    for (int d = 0; d < ndim; d++)
        ck_assert_int_eq(t->shape[d], shape[d]);
}

/* ---- reshape --------------------------------------------------------------- */

START_TEST(test_reshape_view)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *t = uz_test_rand(ctx, 3, (int64_t[]){2, 3, 4}, 1, -1, 1);
    uz_tensor *r = uz_reshape(ctx, t, 2, (int64_t[]){6, 4});
    UZ_CK_NOTNULL(r);
    assert_shape(r, 2, (int64_t[]){6, 4});
    ck_assert_ptr_eq(r->data, t->data);
    ck_assert_int_eq(r->stride[0], 4);
    assert_same_flat(r, t);
    r = uz_reshape(ctx, t, 2, (int64_t[]){4, -1});
    assert_shape(r, 2, (int64_t[]){4, 6});
    ck_assert_ptr_eq(r->data, t->data);
    r = uz_reshape(ctx, t, 1, (int64_t[]){-1});
    assert_shape(r, 1, (int64_t[]){24});
    r = uz_reshape(ctx, t, 5, (int64_t[]){1, 2, 1, -1, 1});
    assert_shape(r, 5, (int64_t[]){1, 2, 1, 12, 1});
    assert_same_flat(r, t);

    /* Row slice of a matrix: rows stay dense, so flattening is still a view. */
    uz_tensor *m = uz_test_rand(ctx, 2, (int64_t[]){4, 6}, 2, -1, 1);
    uz_tensor *rows = uz_narrow(ctx, m, 0, 1, 2);
    r = uz_reshape(ctx, rows, 1, (int64_t[]){12});
    ck_assert_ptr_eq(r->data, m->data + 6);
    assert_same_flat(r, rows);
    /* Column slice: splitting the outer dim is a view, flattening is not. */
    uz_tensor *cols = uz_narrow(ctx, m, 1, 2, 3); /* [4,3], strides (6,1) */
    r = uz_reshape(ctx, cols, 3, (int64_t[]){2, 2, 3});
    ck_assert_ptr_eq(r->data, cols->data);
    ck_assert_int_eq(r->stride[0], 12);
    assert_same_flat(r, cols);
    r = uz_reshape(ctx, cols, 1, (int64_t[]){12});
    ck_assert_ptr_ne(r->data, cols->data);
    ck_assert(uz_tensor_is_contiguous(r));
    assert_same_flat(r, cols);

    /* An expanded dim that stays whole keeps its zero stride. */
    uz_tensor *row = uz_test_rand(ctx, 2, (int64_t[]){1, 4}, 3, -1, 1);
    uz_tensor *e = uz_expand(ctx, row, 2, (int64_t[]){3, 4});
    r = uz_reshape(ctx, e, 3, (int64_t[]){3, 2, 2});
    ck_assert_ptr_eq(r->data, row->data);
    ck_assert_int_eq(r->stride[0], 0);
    assert_same_flat(r, e);
    r = uz_reshape(ctx, e, 1, (int64_t[]){12}); /* needs a copy */
    ck_assert_ptr_ne(r->data, row->data);
    assert_same_flat(r, e);
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_reshape_copy)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *t = uz_test_rand(ctx, 2, (int64_t[]){3, 4}, 1, -1, 1);
    uz_tensor *tt = uz_transpose(ctx, t, 0, 1); /* [4,3], not dense in row-major order */
    uz_tensor *r = uz_reshape(ctx, tt, 1, (int64_t[]){-1});
    UZ_CK_NOTNULL(r);
    ck_assert_ptr_ne(r->data, t->data);
    assert_shape(r, 1, (int64_t[]){12});
    for (int64_t i = 0; i < 4; i++)
        for (int64_t j = 0; j < 3; j++)
            ck_assert_float_eq(r->data[i * 3 + j], t->data[j * 4 + i]);
    /* Reshaping to the same shape is always a view. */
    r = uz_reshape(ctx, tt, 2, (int64_t[]){4, 3});
    ck_assert_ptr_eq(r->data, tt->data);
    assert_same_flat(r, tt);
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_reshape_errors)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *t = uz_test_rand(ctx, 3, (int64_t[]){2, 3, 4}, 1, -1, 1);
    ck_assert_ptr_null(uz_reshape(ctx, t, 2, (int64_t[]){5, 5}));
    ck_assert_msg(has("reshape: [2,3,4] (24 elements) cannot become [5,5]"), "%s", uz_error_message());
    ck_assert_ptr_null(uz_reshape(ctx, t, 2, (int64_t[]){5, -1}));
    ck_assert_msg(has("cannot become [5,-1]"), "%s", uz_error_message());
    ck_assert_ptr_null(uz_reshape(ctx, t, 3, (int64_t[]){-1, 2, -1}));
    ck_assert_msg(has("more than one -1"), "%s", uz_error_message());
    /* Negative sizes whose product happens to match are still invalid. */
    ck_assert_ptr_null(uz_reshape(ctx, t, 2, (int64_t[]){-2, -12}));
    ck_assert_msg(has("reshape") && has("[-2,-12]"), "%s", uz_error_message());
    ck_assert_ptr_null(uz_reshape(ctx, t, 3, (int64_t[]){-1, -3, 4}));
    ck_assert_msg(has("reshape") && has("[-1,-3,4]"), "%s", uz_error_message());
    ck_assert_ptr_null(uz_reshape(ctx, t, 6, (int64_t[]){1, 1, 1, 2, 3, 4}));
    ck_assert_msg(has("at most 5"), "%s", uz_error_message());
    ck_assert_ptr_null(uz_reshape(ctx, NULL, 1, (int64_t[]){24}));
    uz_ctx_free(ctx);
}
END_TEST

/* ---- transpose, permute, narrow, expand, contiguous ----------------------------- */

START_TEST(test_transpose_permute)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *t = uz_test_rand(ctx, 3, (int64_t[]){2, 3, 4}, 1, -1, 1);
    uz_tensor *tt = uz_transpose(ctx, t, 0, -1);
    UZ_CK_NOTNULL(tt);
    assert_shape(tt, 3, (int64_t[]){4, 3, 2});
    ck_assert_ptr_eq(tt->data, t->data);
    ck_assert(!uz_tensor_is_contiguous(tt));
    for (int64_t i = 0; i < 4; i++)
        for (int64_t j = 0; j < 3; j++)
            for (int64_t k = 0; k < 2; k++)
                ck_assert_float_eq(uz_tensor_get(tt, (int64_t[]){i, j, k}),
                                   uz_tensor_get(t, (int64_t[]){k, j, i}));
    uz_tensor *p = uz_permute(ctx, t, (int[]){1, 2, 0});
    UZ_CK_NOTNULL(p);
    assert_shape(p, 3, (int64_t[]){3, 4, 2});
    for (int64_t i = 0; i < 3; i++)
        for (int64_t j = 0; j < 4; j++)
            for (int64_t k = 0; k < 2; k++)
                ck_assert_float_eq(uz_tensor_get(p, (int64_t[]){i, j, k}),
                                   uz_tensor_get(t, (int64_t[]){k, i, j}));
    /* Inverse permutation restores the original layout. */
    uz_tensor *back = uz_permute(ctx, p, (int[]){2, 0, 1});
    ck_assert(uz_tensor_is_contiguous(back));
    assert_same_flat(back, t);

    ck_assert_ptr_null(uz_transpose(ctx, t, 0, 3));
    ck_assert_msg(has("transpose") && has("out of range for 3-d"), "%s", uz_error_message());
    ck_assert_ptr_null(uz_permute(ctx, t, (int[]){0, 0, 1}));
    ck_assert_msg(has("permute: entry 1 (=0) is not a permutation of 0..2"), "%s", uz_error_message());
    ck_assert_ptr_null(uz_permute(ctx, t, (int[]){0, 1, 3}));
    ck_assert_msg(has("permute: entry 2 (=3)"), "%s", uz_error_message());
    ck_assert_ptr_null(uz_transpose(ctx, NULL, 0, 1));
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_narrow)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *t = uz_test_rand(ctx, 3, (int64_t[]){2, 5, 3}, 1, -1, 1);
    uz_tensor *n = uz_narrow(ctx, t, -2, 1, 3);
    UZ_CK_NOTNULL(n);
    assert_shape(n, 3, (int64_t[]){2, 3, 3});
    ck_assert_ptr_eq(n->data, t->data + 3);
    for (int64_t a = 0; a < 2; a++)
        for (int64_t i = 0; i < 3; i++)
            for (int64_t k = 0; k < 3; k++)
                ck_assert_float_eq(uz_tensor_get(n, (int64_t[]){a, i, k}),
                                   uz_tensor_get(t, (int64_t[]){a, i + 1, k}));
    uz_tensor *e = uz_narrow(ctx, t, 1, 5, 0); /* empty at the end is fine */
    UZ_CK_NOTNULL(e);
    ck_assert_int_eq(uz_tensor_numel(e), 0);
    ck_assert_ptr_null(uz_narrow(ctx, t, 1, 3, 3));
    ck_assert_msg(has("narrow: [3, 6) outside dim 1 of size 5"), "%s", uz_error_message());
    ck_assert_ptr_null(uz_narrow(ctx, t, 1, -1, 2));
    ck_assert_msg(has("narrow") && has("outside dim 1"), "%s", uz_error_message());
    ck_assert_ptr_null(uz_narrow(ctx, t, 3, 0, 1));
    ck_assert_msg(has("narrow: dim 3 out of range for 3-d"), "%s", uz_error_message());
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_expand)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *t = uz_test_rand(ctx, 2, (int64_t[]){3, 1}, 1, -1, 1);
    uz_tensor *e = uz_expand(ctx, t, 3, (int64_t[]){2, -1, 4});
    UZ_CK_NOTNULL(e);
    assert_shape(e, 3, (int64_t[]){2, 3, 4});
    ck_assert_ptr_eq(e->data, t->data);
    ck_assert_int_eq(e->stride[0], 0);
    ck_assert_int_eq(e->stride[2], 0);
    for (int64_t a = 0; a < 2; a++)
        for (int64_t i = 0; i < 3; i++)
            for (int64_t k = 0; k < 4; k++)
                ck_assert_float_eq(uz_tensor_get(e, (int64_t[]){a, i, k}), t->data[i]);
    ck_assert_ptr_null(uz_expand(ctx, t, 2, (int64_t[]){4, 4}));
    ck_assert_msg(has("expand: [3,1] cannot expand to size 4 in dim 0"), "%s", uz_error_message());
    ck_assert_ptr_null(uz_expand(ctx, t, 1, (int64_t[]){3}));
    ck_assert_msg(has("expand: cannot expand [3,1] to 1 dims"), "%s", uz_error_message());
    ck_assert_ptr_null(uz_expand(ctx, t, 3, (int64_t[]){-1, 3, 1}));
    ck_assert_msg(has("-1 not allowed"), "%s", uz_error_message());
    ck_assert_ptr_null(uz_expand(ctx, t, 2, (int64_t[]){3, -2}));
    ck_assert_msg(has("expand") && has("-2"), "%s", uz_error_message());
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_contiguous_and_copy_out)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *t = uz_test_rand(ctx, 2, (int64_t[]){3, 4}, 1, -1, 1);
    ck_assert_ptr_eq(uz_contiguous(ctx, t), t);
    uz_tensor *c = uz_contiguous(ctx, uz_transpose(ctx, t, 0, 1));
    ck_assert_ptr_ne(c->data, t->data);
    ck_assert(uz_tensor_is_contiguous(c));
    for (int64_t i = 0; i < 4; i++)
        for (int64_t j = 0; j < 3; j++)
            ck_assert_float_eq(c->data[i * 3 + j], t->data[j * 4 + i]);
    /* Size-1 dims with odd strides still count as contiguous. */
    uz_tensor *col = uz_narrow(ctx, t, 1, 2, 1);
    uz_tensor *one = uz_narrow(ctx, col, 0, 1, 1); /* [1,1] */
    ck_assert(uz_tensor_is_contiguous(one));
    ck_assert_ptr_eq(uz_contiguous(ctx, one), one);

    /* copy_out of a 5-d permuted, narrowed, expanded view against uz_tensor_get. */
    uz_tensor *b = uz_test_rand(ctx, 5, (int64_t[]){2, 3, 1, 4, 2}, 2, -1, 1);
    uz_tensor *v = uz_permute(ctx, b, (int[]){3, 0, 4, 2, 1});        /* [4,2,2,1,3] */
    v = uz_narrow(ctx, v, 0, 1, 2);                                    /* [2,2,2,1,3] */
    v = uz_expand(ctx, v, 5, (int64_t[]){2, 2, 2, 3, 3});
    UZ_CK_NOTNULL(v);
    float out[72];
    uz_tensor_copy_out(v, out);
    for (int64_t p = 0; p < 72; p++)
        ck_assert_float_eq(out[p], at_flat(v, p));
    /* 0-d and 1-d edge cases. */
    uz_tensor *s = uz_tensor_from(ctx, 0, (int64_t[]){1}, (float[]){7.5f}); /* shape unused at 0-d */
    float x = 0.0f;
    uz_tensor_copy_out(s, &x);
    ck_assert_float_eq(x, 7.5f);
    uz_tensor *strided = uz_narrow(ctx, uz_transpose(ctx, t, 0, 1), 0, 1, 1); /* [1,3] column */
    float col3[3];
    uz_tensor_copy_out(strided, col3);
    for (int j = 0; j < 3; j++)
        ck_assert_float_eq(col3[j], t->data[j * 4 + 1]);
    uz_ctx_free(ctx);
}
END_TEST

/* ---- gradients through views ----------------------------------------------------- */

static uz_tensor *f_transpose(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    return uz_transpose(ctx, in[0], 0, 2);
}

static uz_tensor *f_permute(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    return uz_permute(ctx, in[0], (int[]){2, 0, 1});
}

static uz_tensor *f_narrow(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    return uz_narrow(ctx, uz_narrow(ctx, in[0], 1, 1, 2), 2, 2, 2);
}

static uz_tensor *f_expand(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    return uz_expand(ctx, in[0], 3, (int64_t[]){2, 3, 4});
}

static uz_tensor *f_reshape_view(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    return uz_reshape(ctx, in[0], 3, (int64_t[]){2, -1, 2});
}

/* transpose -> reshape needs a copy; narrow then reads part of it. */
static uz_tensor *f_chain(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    uz_tensor *r = uz_reshape(ctx, uz_transpose(ctx, in[0], 0, 1), 2, (int64_t[]){2, -1});
    return uz_narrow(ctx, r, 1, 1, 4);
}

/* The same leaf expanded twice (and once more through a transpose): every
 * use's broadcast gradient must be summed into it. */
static uz_tensor *f_expand_twice(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    uz_tensor *e1 = uz_expand(ctx, in[0], 2, (int64_t[]){2, 3});
    uz_tensor *e2 = uz_expand(ctx, in[0], 3, (int64_t[]){2, 4, 3});
    uz_tensor *e3 = uz_transpose(ctx, uz_expand(ctx, in[1], 2, (int64_t[]){3, 3}), 0, 1);
    uz_tensor *flat = uz_reshape(ctx, e2, 2, (int64_t[]){8, 3});
    uz_tensor *ts[3] = {e1, flat, e3};
    return uz_concat(ctx, ts, 3, 0);
}

static uz_tensor *f_contiguous(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    return uz_contiguous(ctx, uz_permute(ctx, in[0], (int[]){1, 2, 0}));
}

/* Views feeding a real op: the reshaped copy goes through matmul. */
static uz_tensor *f_views_matmul(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    uz_tensor *a = uz_reshape(ctx, uz_permute(ctx, in[0], (int[]){1, 0, 2}), 2, (int64_t[]){3, -1});
    uz_tensor *b = uz_expand(ctx, in[1], 2, (int64_t[]){4, 2});
    return uz_matmul(ctx, a, b);
}

START_TEST(test_view_grads)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    char msg[256];
    uz_tensor *in[2];
    struct {
        const char *name;
        uz_gc_fn fn;
        int ndim;
        int64_t shape[3];
    } cases[] = {
        {"transpose", f_transpose, 3, {2, 3, 4}}, {"permute", f_permute, 3, {2, 3, 4}},
        {"narrow", f_narrow, 3, {2, 4, 5}},       {"expand", f_expand, 2, {3, 1}},
        {"reshape", f_reshape_view, 3, {2, 3, 4}}, {"chain", f_chain, 3, {2, 3, 2}},
        {"contiguous", f_contiguous, 3, {2, 3, 4}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        in[0] = uz_test_rand(ctx, cases[c].ndim, cases[c].shape, 10 + c, -1, 1);
        ck_assert_msg(uz_gradcheck(in, 1, cases[c].fn, NULL, UZ_GC_DEFAULT, msg, sizeof msg),
                      "%s: %s", cases[c].name, msg);
    }
    in[0] = uz_test_rand(ctx, 1, (int64_t[]){3}, 20, -1, 1);
    in[1] = uz_test_rand(ctx, 2, (int64_t[]){3, 1}, 21, -1, 1);
    ck_assert_msg(uz_gradcheck(in, 2, f_expand_twice, NULL, UZ_GC_DEFAULT, msg, sizeof msg),
                  "expand twice: %s", msg);
    in[0] = uz_test_rand(ctx, 3, (int64_t[]){2, 3, 2}, 22, -1, 1);
    in[1] = uz_test_rand(ctx, 2, (int64_t[]){4, 1}, 23, -1, 1);
    ck_assert_msg(uz_gradcheck(in, 2, f_views_matmul, NULL, UZ_GC_DEFAULT, msg, sizeof msg),
                  "views into matmul: %s", msg);
    uz_ctx_free(ctx);
}
END_TEST

/* Exact gradient of an expand: each source element receives the sum over its copies. */
START_TEST(test_expand_grad_exact)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *t = uz_test_rand(ctx, 2, (int64_t[]){1, 3}, 1, -1, 1);
    uz_tensor *e = uz_expand(ctx, t, 3, (int64_t[]){2, 4, 3});
    float up[24];
    for (int i = 0; i < 24; i++)
        up[i] = (float)i;
    UZ_CK_OK(uz_backward_with(ctx, e, up));
    for (int64_t j = 0; j < 3; j++) {
        float want = 0.0f;
        for (int r = 0; r < 8; r++)
            want += up[r * 3 + j];
        ck_assert_float_eq(t->grad->data[j], want);
    }
    uz_ctx_free(ctx);
}
END_TEST

/* Gradient of a large permuted, narrowed view (the parallel scatter path):
 * every target is hit once, so it is exact and the same for any thread count. */
static void big_view_grad(int threads, uz_tensor **grad_out, uz_ctx *ctx)
{
    int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    const int64_t shape[4] = {6, 40, 5, 64};
    uz_tensor *t = uz_test_rand(ctx, 4, shape, 3, -1, 1);
    uz_tensor *v = uz_narrow(ctx, uz_permute(ctx, t, (int[]){1, 0, 2, 3}), 0, 3, 30);
    UZ_CK_NOTNULL(v);
    int64_t n = uz_tensor_numel(v);
    float *up = uz_ctx_alloc(ctx, sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        up[i] = (float)i * 0.5f + 1.0f;
    UZ_CK_OK(uz_backward_with(ctx, v, up));
    int64_t idx[4];
    for (int64_t p = 0; p < uz_tensor_numel(t); p++) {
        unravel(p, 4, shape, idx);
        float want = 0.0f;
        if (idx[1] >= 3 && idx[1] < 33)
            want = up[(((idx[1] - 3) * 6 + idx[0]) * 5 + idx[2]) * 64 + idx[3]];
        ck_assert_float_eq(t->grad->data[p], want);
    }
    *grad_out = t->grad;
    omp_set_num_threads(saved);
}

START_TEST(test_big_view_grad_threads)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *g1, *g4;
    big_view_grad(1, &g1, ctx);
    big_view_grad(4, &g4, ctx);
    ck_assert_int_eq(memcmp(g1->data, g4->data, sizeof(float) * (size_t)uz_tensor_numel(g1)), 0);
    uz_ctx_free(ctx);
}
END_TEST

/* A reshape hands its gradient buffer to an input that has none yet; a
 * second consumer of the input must still add on top, in either order. */
START_TEST(test_reshape_grad_handover)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *x = uz_test_rand(ctx, 2, (int64_t[]){3, 4}, 5, -1, 1);
    uz_tensor *g = uz_test_rand(ctx, 2, (int64_t[]){4, 3}, 6, -1, 1);
    g->requires_grad = false;
    /* loss = sum(reshape(x) * g) + sum(x * x): reshape's backward runs last. */
    uz_tensor *l1 = uz_sum(ctx, uz_mul(ctx, uz_reshape(ctx, x, 2, (int64_t[]){4, 3}), g), NULL, 0,
                           false);
    uz_tensor *l2 = uz_sum(ctx, uz_mul(ctx, x, x), NULL, 0, false);
    UZ_CK_OK(uz_backward(ctx, uz_add(ctx, l2, l1)));
    for (int i = 0; i < 12; i++)
        ck_assert_float_eq_tol(x->grad->data[i], g->data[i] + 2.0f * x->data[i], 1e-6f);
    /* Backward from a reshape directly: the seed is copied, then handed over. */
    uz_tensor *y = uz_test_rand(ctx, 1, (int64_t[]){6}, 7, -1, 1);
    float up[6] = {1, 2, 3, 4, 5, 6};
    UZ_CK_OK(uz_backward_with(ctx, uz_reshape(ctx, y, 2, (int64_t[]){2, 3}), up));
    UZ_CK_OK(uz_backward_with(ctx, uz_reshape(ctx, y, 2, (int64_t[]){3, 2}), up));
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(y->grad->data[i], 2.0f * up[i]);
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("views");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_reshape_view);
    tcase_add_test(tc, test_reshape_copy);
    tcase_add_test(tc, test_reshape_errors);
    tcase_add_test(tc, test_transpose_permute);
    tcase_add_test(tc, test_narrow);
    tcase_add_test(tc, test_expand);
    tcase_add_test(tc, test_contiguous_and_copy_out);
    tcase_add_test(tc, test_view_grads);
    tcase_add_test(tc, test_expand_grad_exact);
    tcase_add_test(tc, test_big_view_grad_threads);
    tcase_add_test(tc, test_reshape_grad_handover);
    suite_add_tcase(s, tc);
    return s;
}
