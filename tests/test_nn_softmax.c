/* softmax and log_softmax: values against a naive double loop (with a
 * broadcast mask holding -inf entries and a fully masked row), gradient
 * checks (plain, non-contiguous, masked), the masked rows' zero gradient,
 * and shape errors. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"

/* Naive softmax of row r of a contiguous [n, c] buffer with an optional
 * [n, c] mask, in double. */
static void naive_row(const float *x, const float *m, int64_t c, bool log_space, double *out)
{
    double mx = -INFINITY;
    for (int64_t j = 0; j < c; j++) {
        double v = (double)x[j] + (m ? (double)m[j] : 0.0);
        mx = v > mx ? v : mx;
    }
    double sum = 0.0;
    for (int64_t j = 0; j < c; j++)
        sum += exp((double)x[j] + (m ? (double)m[j] : 0.0) - mx);
    for (int64_t j = 0; j < c; j++) {
        double v = (double)x[j] + (m ? (double)m[j] : 0.0);
        if (mx == -INFINITY)
            out[j] = log_space ? -INFINITY : 0.0;
        else
            out[j] = log_space ? v - mx - log(sum) : exp(v - mx) / sum;
    }
}

/* mask [3,4]: -inf scattered, row 1 fully masked. */
static const float MASK34[12] = {0.0f, -INFINITY, 0.5f, 0.0f,
                                 -INFINITY, -INFINITY, -INFINITY, -INFINITY,
                                 -1.0f, 0.0f, 0.0f, -INFINITY};

START_TEST(test_softmax_values)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *a = uz_test_rand(ctx, 3, (int64_t[]){2, 3, 4}, 1, -3, 3);
    uz_tensor *mask = uz_tensor_from(ctx, 2, (int64_t[]){3, 4}, MASK34);
    for (int lg = 0; lg < 2; lg++) {
        for (int use_mask = 0; use_mask < 2; use_mask++) {
            uz_tensor *m = use_mask ? mask : NULL;
            uz_tensor *y = lg ? uz_log_softmax(ctx, a, m) : uz_softmax(ctx, a, m);
            UZ_CK_NOTNULL(y);
            ck_assert_int_eq(y->ndim, 3);
            for (int64_t r = 0; r < 6; r++) {
                double ref[4];
                naive_row(a->data + r * 4, m ? MASK34 + (r % 3) * 4 : NULL, 4, lg, ref);
                for (int64_t j = 0; j < 4; j++) {
                    float got = y->data[r * 4 + j];
                    if (isinf(ref[j]))
                        ck_assert_msg(isinf(got) && got < 0, "row %lld col %lld: %g", (long long)r,
                                      (long long)j, (double)got);
                    else
                        ck_assert_double_eq_tol((double)got, ref[j], 1e-6);
                }
            }
        }
    }
    /* A mask broadcast along the last dim ([3,1]) adds a row constant: no effect. */
    uz_tensor *mcol = uz_tensor_from(ctx, 2, (int64_t[]){3, 1}, (float[]){1.0f, -2.0f, 5.0f});
    uz_tensor *y0 = uz_softmax(ctx, a, NULL), *y1 = uz_softmax(ctx, a, mcol);
    UZ_CK_NOTNULL(y1);
    ck_assert_double_le(uz_test_max_abs_diff(y0, y1), 1e-6);
    /* A non-contiguous mask is read through its strides. */
    uz_tensor *mt = uz_transpose(ctx, uz_test_rand(ctx, 2, (int64_t[]){4, 3}, 5, -2, 2), 0, 1);
    uz_tensor *mc = uz_tensor_empty(ctx, 2, mt->shape);
    uz_tensor_copy_out(mt, mc->data);
    uz_tensor *y2 = uz_log_softmax(ctx, a, mt), *y3 = uz_log_softmax(ctx, a, mc);
    UZ_CK_NOTNULL(y2);
    ck_assert_double_eq(uz_test_max_abs_diff(y2, y3), 0.0);
    uz_ctx_free(ctx);
}
END_TEST

static uz_tensor *f_softmax(uz_ctx *ctx, uz_tensor **in, void *user)
{
    return uz_softmax(ctx, in[0], user);
}

static uz_tensor *f_log_softmax(uz_ctx *ctx, uz_tensor **in, void *user)
{
    return uz_log_softmax(ctx, in[0], user);
}

static uz_tensor *f_softmax_t(uz_ctx *ctx, uz_tensor **in, void *user)
{
    return uz_softmax(ctx, uz_transpose(ctx, in[0], 0, 1), user);
}

static uz_tensor *f_log_softmax_t(uz_ctx *ctx, uz_tensor **in, void *user)
{
    return uz_log_softmax(ctx, uz_transpose(ctx, in[0], 0, 1), user);
}

/* Column 0 is masked out with -inf; the finite columns 1.. are checked. */
static uz_tensor *f_log_softmax_col0(uz_ctx *ctx, uz_tensor **in, void *user)
{
    uz_tensor *y = uz_log_softmax(ctx, in[0], user);
    return uz_narrow(ctx, y, -1, 1, y ? y->shape[y->ndim - 1] - 1 : 0);
}

START_TEST(test_softmax_grad)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    char msg[256];
    uz_tensor *in[1];
    uz_tensor *mask = uz_tensor_from(ctx, 2, (int64_t[]){3, 4}, MASK34);
    uz_tensor *mrow = uz_tensor_from(ctx, 2, (int64_t[]){1, 4}, (float[]){0.3f, -0.7f, 0.0f, 1.1f});
    uz_tensor *mcol0 = uz_tensor_from(ctx, 1, (int64_t[]){5}, (float[]){-INFINITY, 0.2f, 0.0f, -0.4f, 0.0f});
    in[0] = uz_test_rand(ctx, 2, (int64_t[]){3, 5}, 1, -2, 2);
    ck_assert_msg(uz_gradcheck(in, 1, f_softmax, NULL, UZ_GC_DEFAULT, msg, sizeof msg), "softmax: %s", msg);
    ck_assert_msg(uz_gradcheck(in, 1, f_log_softmax, NULL, UZ_GC_DEFAULT, msg, sizeof msg), "log_softmax: %s", msg);
    ck_assert_msg(uz_gradcheck(in, 1, f_log_softmax_col0, mcol0, UZ_GC_DEFAULT, msg, sizeof msg), "log_softmax -inf col: %s", msg);
    in[0] = uz_test_rand(ctx, 2, (int64_t[]){5, 3}, 2, -2, 2); /* transposed view: [3,5] */
    ck_assert_msg(uz_gradcheck(in, 1, f_softmax_t, NULL, UZ_GC_DEFAULT, msg, sizeof msg), "softmax nc: %s", msg);
    ck_assert_msg(uz_gradcheck(in, 1, f_log_softmax_t, NULL, UZ_GC_DEFAULT, msg, sizeof msg), "log_softmax nc: %s", msg);
    in[0] = uz_test_rand(ctx, 3, (int64_t[]){2, 3, 4}, 3, -2, 2);
    ck_assert_msg(uz_gradcheck(in, 1, f_softmax, mask, UZ_GC_DEFAULT, msg, sizeof msg), "softmax -inf mask: %s", msg);
    ck_assert_msg(uz_gradcheck(in, 1, f_softmax, mrow, UZ_GC_DEFAULT, msg, sizeof msg), "softmax row mask: %s", msg);
    ck_assert_msg(uz_gradcheck(in, 1, f_log_softmax, mrow, UZ_GC_DEFAULT, msg, sizeof msg), "log_softmax row mask: %s", msg);
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_softmax_masked_rows_zero_grad)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *mask = uz_tensor_from(ctx, 2, (int64_t[]){3, 4}, MASK34);
    /* Upstream gradients on excluded entries (constants) must change nothing. */
    float up[24], up_kept[24];
    for (int i = 0; i < 24; i++) {
        up[i] = 1.0f + 0.1f * (float)i;
        up_kept[i] = isinf(MASK34[i % 12]) ? 0.0f : up[i];
    }
    for (int lg = 0; lg < 2; lg++) {
        uz_tensor *a = uz_test_rand(ctx, 3, (int64_t[]){2, 3, 4}, 4, -2, 2);
        uz_tensor *y = lg ? uz_log_softmax(ctx, a, mask) : uz_softmax(ctx, a, mask);
        UZ_CK_OK(uz_backward_with(ctx, y, up));
        float g_all[24];
        memcpy(g_all, a->grad->data, sizeof g_all);
        a->grad = NULL;
        UZ_CK_OK(uz_backward_with(ctx, y, up_kept));
        for (int64_t i = 0; i < 24; i++) {
            bool masked = isinf(MASK34[i % 12]);
            float g = g_all[i];
            ck_assert_msg(isfinite(g), "element %lld: gradient %g", (long long)i, (double)g);
            if (masked)
                ck_assert_msg(g == 0.0f, "masked element %lld: gradient %g", (long long)i, (double)g);
            ck_assert_float_eq_tol(g, a->grad->data[i], 1e-6f);
        }
    }
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_softmax_errors)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *a = uz_test_rand(ctx, 2, (int64_t[]){2, 4}, 1, -1, 1);
    uz_tensor *m = uz_test_rand(ctx, 1, (int64_t[]){3}, 2, -1, 1);
    ck_assert_ptr_null(uz_softmax(ctx, a, m));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "softmax: mask [3]"));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "input [2,4]"));
    uz_tensor *m3 = uz_test_rand(ctx, 3, (int64_t[]){1, 2, 4}, 3, -1, 1);
    ck_assert_ptr_null(uz_log_softmax(ctx, a, m3));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "log_softmax: mask [1,2,4]"));
    uz_tensor *s = uz_tensor_zeros(ctx, 0, (int64_t[]){1});
    ck_assert_ptr_null(uz_softmax(ctx, s, NULL));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "0-d"));
    ck_assert_ptr_null(uz_softmax(ctx, NULL, NULL));
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("nn_softmax");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_softmax_values);
    tcase_add_test(tc, test_softmax_grad);
    tcase_add_test(tc, test_softmax_masked_rows_zero_grad);
    tcase_add_test(tc, test_softmax_errors);
    suite_add_tcase(s, tc);
    return s;
}
