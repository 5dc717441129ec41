/* l2_normalize and cosine_similarity_matrix: values against naive loops
 * (including a zero row and rows below eps), gradient checks on both sides
 * of the eps clamp and with non-contiguous inputs, shape errors. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"

static double row_norm(const float *x, int64_t c)
{
    double s = 0.0;
    for (int64_t j = 0; j < c; j++)
        s += (double)x[j] * (double)x[j];
    return sqrt(s);
}

START_TEST(test_l2_normalize_values)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *x = uz_test_rand(ctx, 2, (int64_t[]){4, 5}, 1, -1, 1);
    for (int j = 0; j < 5; j++) {
        x->data[5 + j] = 0.0f;              /* row 1: zero */
        x->data[10 + j] *= 0.01f;           /* row 2: below eps */
    }
    const double eps = 0.1;
    uz_tensor *y = uz_l2_normalize(ctx, x, (float)eps);
    UZ_CK_NOTNULL(y);
    for (int64_t r = 0; r < 4; r++) {
        double den = fmax(row_norm(x->data + r * 5, 5), eps);
        for (int64_t j = 0; j < 5; j++)
            ck_assert_double_eq_tol((double)y->data[r * 5 + j], (double)x->data[r * 5 + j] / den, 1e-6);
    }
    ck_assert_double_eq_tol(row_norm(y->data, 5), 1.0, 1e-6);
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_cosine_values)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *a = uz_test_rand(ctx, 2, (int64_t[]){3, 4}, 1, -1, 1);
    uz_tensor *bt = uz_test_rand(ctx, 2, (int64_t[]){4, 5}, 2, -1, 1);
    uz_tensor *b = uz_transpose(ctx, bt, 0, 1); /* [5,4], non-contiguous */
    uz_tensor *s = uz_cosine_similarity_matrix(ctx, a, b, 1e-8f);
    UZ_CK_NOTNULL(s);
    ck_assert_int_eq(s->shape[0], 3);
    ck_assert_int_eq(s->shape[1], 5);
    for (int64_t i = 0; i < 3; i++)
        for (int64_t k = 0; k < 5; k++) {
            double dot = 0.0, na = 0.0, nb = 0.0;
            for (int64_t j = 0; j < 4; j++) {
                double u = (double)uz_tensor_get(a, (int64_t[]){i, j});
                double v = (double)uz_tensor_get(b, (int64_t[]){k, j});
                dot += u * v;
                na += u * u;
                nb += v * v;
            }
            ck_assert_double_eq_tol((double)uz_tensor_get(s, (int64_t[]){i, k}), dot / sqrt(na * nb), 1e-6);
        }
    uz_ctx_free(ctx);
}
END_TEST

static uz_tensor *f_l2(uz_ctx *ctx, uz_tensor **in, void *user)
{
    uz_tensor *x = user ? uz_transpose(ctx, in[0], 0, 1) : in[0];
    return uz_l2_normalize(ctx, x, 0.2f);
}

static uz_tensor *f_cos(uz_ctx *ctx, uz_tensor **in, void *user)
{
    uz_tensor *b = user ? uz_transpose(ctx, in[1], 0, 1) : in[1];
    return uz_cosine_similarity_matrix(ctx, in[0], b, 1e-8f);
}

START_TEST(test_normalize_grad)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    char msg[256];
    uz_tensor *in[2];
    in[0] = uz_test_rand(ctx, 3, (int64_t[]){2, 3, 4}, 1, -1, 1);
    /* One row well below eps = 0.2 (the linear branch), the rest well above. */
    for (int j = 0; j < 4; j++)
        in[0]->data[4 + j] *= 0.05f;
    ck_assert_msg(uz_gradcheck(in, 1, f_l2, NULL, UZ_GC_DEFAULT, msg, sizeof msg), "l2: %s", msg);
    in[0] = uz_test_rand(ctx, 2, (int64_t[]){4, 3}, 2, -1, 1); /* transposed: [3,4] */
    int nc = 1;
    ck_assert_msg(uz_gradcheck(in, 1, f_l2, &nc, UZ_GC_DEFAULT, msg, sizeof msg), "l2 nc: %s", msg);
    in[0] = uz_test_rand(ctx, 2, (int64_t[]){3, 4}, 3, -1, 1);
    in[1] = uz_test_rand(ctx, 2, (int64_t[]){5, 4}, 4, -1, 1);
    ck_assert_msg(uz_gradcheck(in, 2, f_cos, NULL, UZ_GC_DEFAULT, msg, sizeof msg), "cosine: %s", msg);
    in[1] = uz_test_rand(ctx, 2, (int64_t[]){4, 5}, 5, -1, 1); /* transposed: [5,4] */
    ck_assert_msg(uz_gradcheck(in, 2, f_cos, &nc, UZ_GC_DEFAULT, msg, sizeof msg), "cosine nc: %s", msg);
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_normalize_errors)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *a = uz_test_rand(ctx, 2, (int64_t[]){3, 4}, 1, -1, 1);
    uz_tensor *b = uz_test_rand(ctx, 2, (int64_t[]){5, 3}, 2, -1, 1);
    ck_assert_ptr_null(uz_cosine_similarity_matrix(ctx, a, b, 1e-8f));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "cosine_similarity_matrix: expected a [N, D] and b [M, D], got [3,4] and [5,3]"));
    uz_tensor *c = uz_test_rand(ctx, 1, (int64_t[]){4}, 3, -1, 1);
    ck_assert_ptr_null(uz_cosine_similarity_matrix(ctx, a, c, 1e-8f));
    ck_assert_ptr_null(uz_l2_normalize(ctx, a, -1.0f));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "l2_normalize: eps"));
    ck_assert_ptr_null(uz_l2_normalize(ctx, NULL, 1e-12f));
    ck_assert_ptr_null(uz_cosine_similarity_matrix(ctx, a, NULL, 1e-8f));
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("nn_normalize");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_l2_normalize_values);
    tcase_add_test(tc, test_cosine_values);
    tcase_add_test(tc, test_normalize_grad);
    tcase_add_test(tc, test_normalize_errors);
    suite_add_tcase(s, tc);
    return s;
}
