/* SGD against torch.optim.SGD (values printed by PyTorch 1.13 for
 * w0 = [0.5, -1, 2], lr 0.1, momentum 0.9, weight decay 0.01, two steps
 * with g1 = [0.1, -0.2, 0.3], g2 = [-0.05, 0.4, 0.1]). */
#include <check.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"
#include "train/train.h"

static void run(bool nesterov, const float want[2][3])
{
    uz_params *p = uz_params_new();
    uz_tensor *w = uz_params_add(p, "w", 1, (int64_t[]){3});
    UZ_CK_OK(uz_params_finalize(p));
    const float w0[3] = {0.5f, -1.0f, 2.0f}, g[2][3] = {{0.1f, -0.2f, 0.3f}, {-0.05f, 0.4f, 0.1f}};
    for (int i = 0; i < 3; i++)
        w->data[i] = w0[i];
    uz_sgd opt;
    UZ_CK_OK(uz_sgd_init(&opt, p, 0.1f, 0.9f, 0.01f, nesterov));
    for (int s = 0; s < 2; s++) {
        for (int i = 0; i < 3; i++)
            w->grad->data[i] = g[s][i];
        uz_sgd_step(&opt, p);
        for (int i = 0; i < 3; i++)
            ck_assert_float_eq_tol(w->data[i], want[s][i], 1e-6f);
    }
    uz_sgd_free(&opt);
    uz_params_free(p);
}

START_TEST(test_sgd_momentum)
{
    const float want[2][3] = {{0.489499986f, -0.978999972f, 1.96800005f},
                              {0.48456049f, -0.999120951f, 1.92723203f}};
    run(false, want);
}
END_TEST

START_TEST(test_sgd_nesterov)
{
    const float want[2][3] = {{0.480049998f, -0.960099995f, 1.93920004f},
                              {0.480132908f, -1.0172658f, 1.89059556f}};
    run(true, want);
}
END_TEST

START_TEST(test_sgd_bad_config)
{
    uz_params *p = uz_params_new();
    uz_params_add(p, "w", 1, (int64_t[]){3});
    UZ_CK_OK(uz_params_finalize(p));
    uz_sgd opt;
    ck_assert_int_eq(uz_sgd_init(&opt, p, 0.1f, 0.0f, 0.0f, true), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "nesterov"));
    uz_params_free(p);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("sgd");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_sgd_momentum);
    tcase_add_test(tc, test_sgd_nesterov);
    tcase_add_test(tc, test_sgd_bad_config);
    suite_add_tcase(s, tc);
    return s;
}
