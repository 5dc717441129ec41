/* layer_norm: values against a naive double loop, gradient checks for x,
 * weight and bias (with and without the affine parts, non-contiguous x),
 * parameter gradients independent of the thread count, shape errors. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"

START_TEST(test_layer_norm_values)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *x = uz_test_rand(ctx, 2, (int64_t[]){3, 7}, 1, -2, 3);
    uz_tensor *w = uz_test_rand(ctx, 1, (int64_t[]){7}, 2, 0.5f, 1.5f);
    uz_tensor *b = uz_test_rand(ctx, 1, (int64_t[]){7}, 3, -1, 1);
    uz_tensor *y = uz_layer_norm(ctx, x, w, b, 1e-5f);
    UZ_CK_NOTNULL(y);
    for (int64_t r = 0; r < 3; r++) {
        const float *xr = x->data + r * 7;
        double mu = 0.0, var = 0.0;
        for (int j = 0; j < 7; j++)
            mu += (double)xr[j] / 7.0;
        for (int j = 0; j < 7; j++)
            var += ((double)xr[j] - mu) * ((double)xr[j] - mu) / 7.0;
        for (int j = 0; j < 7; j++) {
            double want = ((double)xr[j] - mu) / sqrt(var + 1e-5) * (double)w->data[j] + (double)b->data[j];
            ck_assert_double_eq_tol((double)y->data[r * 7 + j], want, 1e-5);
        }
    }
    uz_ctx_free(ctx);
}
END_TEST

typedef struct ln_case {
    bool weight, bias, transposed;
} ln_case;

static uz_tensor *f_ln(uz_ctx *ctx, uz_tensor **in, void *user)
{
    const ln_case *c = user;
    uz_tensor *x = c->transposed ? uz_transpose(ctx, in[0], 0, 1) : in[0];
    return uz_layer_norm(ctx, x, c->weight ? in[1] : NULL, c->bias ? in[2] : NULL, 1e-5f);
}

/* x also feeds a product recorded before (first) or after (second) the
 * layer norm, so its gradient is written fresh by one and added by the other. */
static uz_tensor *f_ln_shared(uz_ctx *ctx, uz_tensor **in, void *user)
{
    bool ln_first = *(const bool *)user;
    uz_tensor *y = ln_first ? uz_layer_norm(ctx, in[0], in[1], in[2], 1e-5f) : NULL;
    uz_tensor *m = uz_mul(ctx, in[0], in[0]);
    if (!ln_first)
        y = uz_layer_norm(ctx, in[0], in[1], in[2], 1e-5f);
    return uz_add(ctx, y, m);
}

START_TEST(test_layer_norm_grad)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    char msg[256];
    uz_tensor *in[3];
    in[0] = uz_test_rand(ctx, 3, (int64_t[]){2, 3, 5}, 1, -1, 1);
    in[1] = uz_test_rand(ctx, 1, (int64_t[]){5}, 2, 0.5f, 1.5f);
    in[2] = uz_test_rand(ctx, 1, (int64_t[]){5}, 3, -1, 1);
    ln_case all = {true, true, false};
    ck_assert_msg(uz_gradcheck(in, 3, f_ln, &all, UZ_GC_DEFAULT, msg, sizeof msg), "affine: %s", msg);
    ln_case none = {false, false, false};
    ck_assert_msg(uz_gradcheck(in, 1, f_ln, &none, UZ_GC_DEFAULT, msg, sizeof msg), "plain: %s", msg);
    ln_case w_only = {true, false, false};
    ck_assert_msg(uz_gradcheck(in, 2, f_ln, &w_only, UZ_GC_DEFAULT, msg, sizeof msg), "weight only: %s", msg);
    ln_case b_only = {false, true, false};
    ck_assert_msg(uz_gradcheck(in, 3, f_ln, &b_only, UZ_GC_DEFAULT, msg, sizeof msg), "bias only: %s", msg);
    in[0] = uz_test_rand(ctx, 2, (int64_t[]){5, 4}, 4, -1, 1); /* transposed: [4,5] */
    ln_case nc = {true, true, true};
    ck_assert_msg(uz_gradcheck(in, 3, f_ln, &nc, UZ_GC_DEFAULT, msg, sizeof msg), "non-contiguous: %s", msg);
    in[0] = uz_test_rand(ctx, 2, (int64_t[]){3, 5}, 5, -1, 1);
    for (int order = 0; order < 2; order++) {
        bool ln_first = order == 0;
        ck_assert_msg(uz_gradcheck(in, 3, f_ln_shared, &ln_first, UZ_GC_DEFAULT, msg, sizeof msg),
                      "shared input (layer norm first: %d): %s", order == 0, msg);
    }
    in[0] = uz_test_rand(ctx, 2, (int64_t[]){5, 4}, 4, -1, 1);
    /* Only the weight requires grad: the x gradient is skipped. */
    in[0]->requires_grad = false;
    ck_assert_msg(uz_gradcheck(in, 3, f_ln, &nc, UZ_GC_DEFAULT, msg, sizeof msg), "params only: %s", msg);
    uz_ctx_free(ctx);
}
END_TEST

/* Runs forward + backward on [rows, c] with `threads` threads; grads to out. */
static void ln_grads(int threads, float *out_dx, float *out_dw, float *out_db)
{
    enum { R = 512, C = 200 };
    omp_set_num_threads(threads);
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *x = uz_test_rand(ctx, 2, (int64_t[]){R, C}, 5, -1, 1);
    uz_tensor *w = uz_test_rand(ctx, 1, (int64_t[]){C}, 6, 0.5f, 1.5f);
    uz_tensor *b = uz_test_rand(ctx, 1, (int64_t[]){C}, 7, -1, 1);
    uz_tensor *y = uz_layer_norm(ctx, x, w, b, 1e-5f);
    ck_assert_ptr_nonnull(y);
    static float g[R * C];
    uz_rng_fill_uniform(g, R * C, 8, 0, 0, -1.0f, 1.0f);
    UZ_CK_OK(uz_backward_with(ctx, y, g));
    memcpy(out_dx, x->grad->data, sizeof(float) * R * C);
    memcpy(out_dw, w->grad->data, sizeof(float) * C);
    memcpy(out_db, b->grad->data, sizeof(float) * C);
    uz_ctx_free(ctx);
}

START_TEST(test_layer_norm_deterministic)
{
    static float dx1[512 * 200], dx2[512 * 200];
    float dw1[200], dw2[200], db1[200], db2[200];
    int was = omp_get_max_threads();
    ln_grads(1, dx1, dw1, db1);
    ln_grads(2, dx2, dw2, db2);
    omp_set_num_threads(was);
    ck_assert(memcmp(dx1, dx2, sizeof dx1) == 0);
    ck_assert(memcmp(dw1, dw2, sizeof dw1) == 0);
    ck_assert(memcmp(db1, db2, sizeof db1) == 0);
}
END_TEST

START_TEST(test_layer_norm_errors)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *x = uz_test_rand(ctx, 2, (int64_t[]){2, 5}, 1, -1, 1);
    uz_tensor *w = uz_test_rand(ctx, 1, (int64_t[]){4}, 2, -1, 1);
    uz_tensor *b = uz_test_rand(ctx, 2, (int64_t[]){1, 5}, 3, -1, 1);
    ck_assert_ptr_null(uz_layer_norm(ctx, x, w, NULL, 1e-5f));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "layer_norm: weight [4] (cpu) does not match input [2,5]"));
    ck_assert_ptr_null(uz_layer_norm(ctx, x, NULL, b, 1e-5f));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "bias [1,5]"));
    ck_assert_ptr_null(uz_layer_norm(ctx, x, NULL, NULL, -1.0f));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "eps"));
    ck_assert_ptr_null(uz_layer_norm(ctx, NULL, NULL, NULL, 1e-5f));
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("nn_layer_norm");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_layer_norm_values);
    tcase_add_test(tc, test_layer_norm_grad);
    tcase_add_test(tc, test_layer_norm_deterministic);
    tcase_add_test(tc, test_layer_norm_errors);
    suite_add_tcase(s, tc);
    return s;
}
