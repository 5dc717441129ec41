/* dropout: the mask is Philox element i of (seed, stream) and the same for
 * 1 and 2 OpenMP threads, the scale keeps the mean, each call takes a fresh
 * stream, identity in eval / p == 0, gradient checks, argument errors. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"

enum { BIG = 200003 }; /* above the parallel threshold, not a multiple of 4 */

/* Dropout of ones with `threads` threads at (seed 1234, stream 5). */
static void run_dropout(int threads, float p, float *out)
{
    omp_set_num_threads(threads);
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_ctx_set_seed(ctx, 1234);
    uz_ctx_set_stream(ctx, 5);
    uz_tensor *x = uz_tensor_full(ctx, 1, (int64_t[]){BIG}, 1.0f);
    uz_tensor *y = uz_dropout(ctx, x, p, true);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq((int)uz_ctx_stream(ctx), 6);
    memcpy(out, y->data, sizeof(float) * BIG);
    uz_ctx_free(ctx);
}

START_TEST(test_dropout_deterministic)
{
    float *y1 = malloc(sizeof(float) * BIG), *y2 = malloc(sizeof(float) * BIG);
    int was = omp_get_max_threads();
    run_dropout(1, 0.3f, y1);
    run_dropout(2, 0.3f, y2);
    omp_set_num_threads(was);
    ck_assert(memcmp(y1, y2, sizeof(float) * BIG) == 0);
    /* Element i is dropped exactly when Philox's uniform i is below p. */
    for (int64_t i = 0; i < BIG; i++) {
        bool drop = uz_rng_uniform(1234, 5, (uint64_t)i) < 0.3f;
        ck_assert_msg(y1[i] == (drop ? 0.0f : 1.0f / (1.0f - 0.3f)), "element %lld: %g", (long long)i, (double)y1[i]);
    }
    free(y1);
    free(y2);
}
END_TEST

START_TEST(test_dropout_mean)
{
    float *y = malloc(sizeof(float) * BIG);
    const float ps[3] = {0.1f, 0.3f, 0.7f};
    for (int k = 0; k < 3; k++) {
        run_dropout(2, ps[k], y);
        double sum = 0.0;
        int64_t zeros = 0;
        for (int64_t i = 0; i < BIG; i++) {
            sum += (double)y[i];
            zeros += y[i] == 0.0f;
        }
        /* Per element, std(y) = sqrt(p / (1 - p)) <= 1.53: the mean's std is
         * <= 0.0035 and the zero fraction's <= 0.0011, so these are > 5 sigma. */
        ck_assert_double_eq_tol(sum / BIG, 1.0, 0.02);
        ck_assert_double_eq_tol((double)zeros / BIG, (double)ps[k], 0.006);
    }
    free(y);
}
END_TEST

START_TEST(test_dropout_streams_and_identity)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_ctx_set_seed(ctx, 9);
    uz_tensor *x = uz_test_rand(ctx, 2, (int64_t[]){8, 16}, 1, 1, 2);
    uz_tensor *a = uz_dropout(ctx, x, 0.5f, true), *b = uz_dropout(ctx, x, 0.5f, true);
    UZ_CK_NOTNULL(b);
    ck_assert_int_eq((int)uz_ctx_stream(ctx), 2);
    ck_assert_msg(memcmp(a->data, b->data, sizeof(float) * 128) != 0, "two calls drew the same mask");
    /* A fresh context with the same seed repeats the sequence. */
    uz_ctx *ctx2 = uz_ctx_new(0, 0);
    uz_ctx_set_seed(ctx2, 9);
    uz_tensor *a2 = uz_dropout(ctx2, x, 0.5f, true);
    ck_assert(memcmp(a->data, a2->data, sizeof(float) * 128) == 0);
    uz_ctx_free(ctx2);
    ck_assert_ptr_eq(uz_dropout(ctx, x, 0.5f, false), x);
    ck_assert_ptr_eq(uz_dropout(ctx, x, 0.0f, true), x);
    ck_assert_int_eq((int)uz_ctx_stream(ctx), 2); /* no draw, no stream */
    uz_tensor *z = uz_dropout(ctx, x, 1.0f, true);
    UZ_CK_NOTNULL(z);
    for (int i = 0; i < 128; i++)
        ck_assert(z->data[i] == 0.0f);
    uz_ctx_free(ctx);
}
END_TEST

static uz_tensor *f_dropout(uz_ctx *ctx, uz_tensor **in, void *user)
{
    /* A fixed (seed, stream) so every evaluation draws the same mask. */
    uz_ctx_set_seed(ctx, 31);
    uz_ctx_set_stream(ctx, 4);
    uz_tensor *x = user ? uz_transpose(ctx, in[0], 0, 1) : in[0];
    return uz_dropout(ctx, x, 0.4f, true);
}

/* Two masks of the same input: the first backward writes its gradient (a
 * fresh buffer), the second adds to it. */
static uz_tensor *f_dropout_twice(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    uz_ctx_set_seed(ctx, 31);
    uz_ctx_set_stream(ctx, 4);
    uz_tensor *a = uz_dropout(ctx, in[0], 0.4f, true);
    return uz_add(ctx, a, uz_dropout(ctx, in[0], 0.3f, true));
}

START_TEST(test_dropout_grad)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    char msg[256];
    uz_tensor *in[1];
    in[0] = uz_test_rand(ctx, 2, (int64_t[]){4, 6}, 1, -1, 1);
    ck_assert_msg(uz_gradcheck(in, 1, f_dropout, NULL, UZ_GC_DEFAULT, msg, sizeof msg), "plain: %s", msg);
    ck_assert_msg(uz_gradcheck(in, 1, f_dropout_twice, NULL, UZ_GC_DEFAULT, msg, sizeof msg),
                  "two masks: %s", msg);
    int nc = 1;
    ck_assert_msg(uz_gradcheck(in, 1, f_dropout, &nc, UZ_GC_DEFAULT, msg, sizeof msg), "non-contiguous: %s", msg);
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_dropout_errors)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *x = uz_test_rand(ctx, 1, (int64_t[]){4}, 1, -1, 1);
    ck_assert_ptr_null(uz_dropout(ctx, x, 1.5f, true));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "dropout: probability 1.5 outside [0, 1]"));
    ck_assert_ptr_null(uz_dropout(ctx, x, NAN, false));
    ck_assert_ptr_null(uz_dropout(ctx, NULL, 0.5f, true));
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("nn_dropout");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_dropout_deterministic);
    tcase_add_test(tc, test_dropout_mean);
    tcase_add_test(tc, test_dropout_streams_and_identity);
    tcase_add_test(tc, test_dropout_grad);
    tcase_add_test(tc, test_dropout_errors);
    suite_add_tcase(s, tc);
    return s;
}
