/* matmul and linear: values against a naive loop, gradient checks (2-D,
 * batched, shared weights, transposed views), shape errors. */
#include <check.h>
#include <omp.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"

static float naive(const uz_tensor *a, const uz_tensor *b, int64_t bi, int64_t i, int64_t j)
{
    int nd = a->ndim;
    int64_t k = a->shape[nd - 1];
    double acc = 0;
    for (int64_t p = 0; p < k; p++) {
        int64_t ia[3] = {bi, i, p}, ib[3] = {bi, p, j};
        acc += (double)uz_tensor_get(a, nd == 3 ? ia : ia + 1) *
               (double)uz_tensor_get(b, b->ndim == 3 ? ib : ib + 1);
    }
    return (float)acc;
}

START_TEST(test_matmul_values)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *a = uz_test_rand(ctx, 3, (int64_t[]){2, 5, 3}, 1, -1, 1);
    uz_tensor *bt = uz_test_rand(ctx, 3, (int64_t[]){2, 4, 3}, 2, -1, 1);
    uz_tensor *b = uz_transpose(ctx, bt, 1, 2); /* [2,3,4], non-contiguous */
    uz_tensor *c = uz_matmul(ctx, a, b);
    UZ_CK_NOTNULL(c);
    ck_assert_int_eq(c->shape[2], 4);
    for (int64_t bi = 0; bi < 2; bi++)
        for (int64_t i = 0; i < 5; i++)
            for (int64_t j = 0; j < 4; j++)
                ck_assert_float_eq_tol(uz_tensor_get(c, (int64_t[]){bi, i, j}), naive(a, b, bi, i, j), 1e-5f);
    uz_ctx_free(ctx);
}
END_TEST

static uz_tensor *f_matmul(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    return uz_matmul(ctx, in[0], in[1]);
}

static uz_tensor *f_matmul_tt(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    return uz_matmul(ctx, uz_transpose(ctx, in[0], -1, -2), uz_transpose(ctx, in[1], -1, -2));
}

/* A transposed batch times a shared B: dB sums the batches in one call per
 * batch (the path that cannot fold the batch into GEMM's M). */
static uz_tensor *f_matmul_t_shared(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    return uz_matmul(ctx, uz_transpose(ctx, in[0], -1, -2), in[1]);
}

static uz_tensor *f_linear(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    return uz_linear(ctx, in[0], in[1], in[2]);
}

static uz_tensor *f_linear_nc(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user; /* input is a non-contiguous view */
    return uz_linear(ctx, uz_transpose(ctx, in[0], 0, 1), in[1], NULL);
}

START_TEST(test_matmul_grad)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    char msg[256];
    uz_tensor *in[3];
    in[0] = uz_test_rand(ctx, 2, (int64_t[]){3, 4}, 1, -1, 1);
    in[1] = uz_test_rand(ctx, 2, (int64_t[]){4, 5}, 2, -1, 1);
    ck_assert_msg(uz_gradcheck(in, 2, f_matmul, NULL, UZ_GC_DEFAULT, msg, sizeof msg), "2-D: %s", msg);
    in[0] = uz_test_rand(ctx, 3, (int64_t[]){2, 3, 4}, 3, -1, 1);
    in[1] = uz_test_rand(ctx, 3, (int64_t[]){2, 4, 2}, 4, -1, 1);
    ck_assert_msg(uz_gradcheck(in, 2, f_matmul, NULL, UZ_GC_DEFAULT, msg, sizeof msg), "batched: %s", msg);
    in[1] = uz_test_rand(ctx, 2, (int64_t[]){4, 3}, 5, -1, 1);
    ck_assert_msg(uz_gradcheck(in, 2, f_matmul, NULL, UZ_GC_DEFAULT, msg, sizeof msg), "shared: %s", msg);
    in[0] = uz_test_rand(ctx, 3, (int64_t[]){2, 4, 3}, 6, -1, 1);
    in[1] = uz_test_rand(ctx, 3, (int64_t[]){2, 5, 4}, 7, -1, 1);
    ck_assert_msg(uz_gradcheck(in, 2, f_matmul_tt, NULL, UZ_GC_DEFAULT, msg, sizeof msg), "transposed: %s", msg);
    in[1] = uz_test_rand(ctx, 2, (int64_t[]){4, 2}, 12, -1, 1);
    ck_assert_msg(uz_gradcheck(in, 2, f_matmul_t_shared, NULL, UZ_GC_DEFAULT, msg, sizeof msg),
                  "transposed, shared: %s", msg);
    in[0] = uz_test_rand(ctx, 3, (int64_t[]){2, 3, 4}, 8, -1, 1);
    in[1] = uz_test_rand(ctx, 2, (int64_t[]){5, 4}, 9, -1, 1);
    in[2] = uz_test_rand(ctx, 1, (int64_t[]){5}, 10, -1, 1);
    ck_assert_msg(uz_gradcheck(in, 3, f_linear, NULL, UZ_GC_DEFAULT, msg, sizeof msg), "linear: %s", msg);
    in[0] = uz_test_rand(ctx, 2, (int64_t[]){4, 3}, 11, -1, 1);
    ck_assert_msg(uz_gradcheck(in, 2, f_linear_nc, NULL, UZ_GC_DEFAULT, msg, sizeof msg), "linear nc: %s", msg);
    uz_ctx_free(ctx);
}
END_TEST

static uz_tensor *f_square(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user; /* one leaf in both operands: the second gradient adds to the first */
    return uz_matmul(ctx, in[0], in[0]);
}

START_TEST(test_matmul_shared_operand)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    char msg[256];
    uz_tensor *in[1] = {uz_test_rand(ctx, 2, (int64_t[]){4, 4}, 12, -1, 1)};
    ck_assert_msg(uz_gradcheck(in, 1, f_square, NULL, UZ_GC_DEFAULT, msg, sizeof msg), "a a: %s", msg);
    uz_ctx_free(ctx);
}
END_TEST

/* The bias gradient of a large linear (column blocks across threads) is the
 * serial row-order sum exactly, for any thread count. */
START_TEST(test_linear_bias_grad_threads)
{
    enum { R = 700, IN = 3, OUT = 150 };
    static float up[R * OUT];
    for (int i = 0; i < R * OUT; i++)
        up[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
    float want[OUT] = {0};
    for (int r = 0; r < R; r++)
        for (int j = 0; j < OUT; j++)
            want[j] += up[r * OUT + j];
    int saved = omp_get_max_threads();
    for (int threads = 1; threads <= 3; threads += 2) {
        omp_set_num_threads(threads);
        uz_ctx *ctx = uz_ctx_new(0, 0);
        uz_tensor *x = uz_test_rand(ctx, 2, (int64_t[]){R, IN}, 13, -1, 1);
        uz_tensor *w = uz_test_rand(ctx, 2, (int64_t[]){OUT, IN}, 14, -1, 1);
        uz_tensor *b = uz_test_rand(ctx, 1, (int64_t[]){OUT}, 15, -1, 1);
        UZ_CK_OK(uz_backward_with(ctx, uz_linear(ctx, x, w, b), up));
        for (int j = 0; j < OUT; j++)
            ck_assert_float_eq(b->grad->data[j], want[j]);
        uz_ctx_free(ctx);
    }
    omp_set_num_threads(saved);
}
END_TEST

START_TEST(test_matmul_errors)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *a = uz_test_rand(ctx, 2, (int64_t[]){3, 4}, 1, -1, 1);
    uz_tensor *b = uz_test_rand(ctx, 2, (int64_t[]){5, 2}, 2, -1, 1);
    ck_assert_ptr_null(uz_matmul(ctx, a, b));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "[3,4] and [5,2]"));
    ck_assert_ptr_null(uz_linear(ctx, a, b, NULL));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "linear"));
    ck_assert_ptr_null(uz_matmul(ctx, NULL, b)); /* NULL propagates */
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("matmul");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_matmul_values);
    tcase_add_test(tc, test_matmul_grad);
    tcase_add_test(tc, test_matmul_errors);
    tcase_add_test(tc, test_matmul_shared_operand);
    tcase_add_test(tc, test_linear_bias_grad_threads);
    suite_add_tcase(s, tc);
    return s;
}
