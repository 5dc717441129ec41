/* SGD (momentum, Nesterov, weight decay), AdamW and Adagrad against
 * PyTorch's own torch.optim classes over 10 steps on the same gradients
 * (tests/golden/optim_torch.safetensors, from
 * tests/reference/gen_optim_golden.py). Both sides run in float32 with the
 * same operation order, so the parameters agree to a few float32 ulps; the
 * tolerance 2e-6 (absolute, plus 2e-6 relative) leaves room for PyTorch's
 * vectorised kernels fusing a multiply-add where unizoo rounds twice. */
#include <check.h>
#include <math.h>
#include <stdio.h>

#include "check_main.h"
#include "golden.h"
#include "gradcheck.h"
#include "train/optim.h"

enum { STEPS = 10, NP = 3 };
static const char *const NAMES[NP] = {"a.weight", "b.bias", "c.weight"};
static const int NDIM[NP] = {2, 1, 3};
static const int64_t SHAPES[NP][3] = {{4, 5}, {7}, {2, 3, 3}};

static void run_case(const char *golden_case, const uz_optim_config *cfg, float lr)
{
    uz_st_file *f = uz_golden_open("optim_torch.safetensors");
    UZ_CK_NOTNULL(f);
    uz_params *p = uz_params_new();
    uz_tensor *t[NP];
    for (int i = 0; i < NP; i++)
        UZ_CK_NOTNULL(t[i] = uz_params_add(p, NAMES[i], NDIM[i], SHAPES[i]));
    UZ_CK_OK(uz_params_finalize(p));
    for (int i = 0; i < NP; i++)
        UZ_CK_OK(uz_st_read_f32(f, NAMES[i], NDIM[i], SHAPES[i], t[i]->data));
    uz_optim *o;
    UZ_CK_OK(uz_optim_new(cfg, p, &o));
    float want[64];
    char name[96];
    double worst = 0.0;
    for (int s = 0; s < STEPS; s++) {
        for (int i = 0; i < NP; i++) {
            snprintf(name, sizeof name, "grad.%d.%s", s, NAMES[i]);
            UZ_CK_OK(uz_st_read_f32(f, name, NDIM[i], SHAPES[i], t[i]->grad->data));
        }
        UZ_CK_OK(uz_optim_step(o, lr, NULL, NULL));
        for (int i = 0; i < NP; i++) {
            snprintf(name, sizeof name, "%s.%d.%s", golden_case, s, NAMES[i]);
            UZ_CK_OK(uz_st_read_f32(f, name, NDIM[i], SHAPES[i], want));
            for (int64_t j = 0; j < uz_tensor_numel(t[i]); j++) {
                double d = fabs((double)t[i]->data[j] - (double)want[j]);
                worst = fmax(worst, d);
                ck_assert_msg(d <= 2e-6 + 2e-6 * fabs((double)want[j]),
                              "%s step %d %s[%lld]: %.9g vs torch %.9g", golden_case, s,
                              NAMES[i], (long long)j, (double)t[i]->data[j], (double)want[j]);
            }
        }
    }
    fprintf(stderr, "%s: max |unizoo - torch| over %d steps = %.3g\n", golden_case, STEPS, worst);
    uz_optim_free(o);
    uz_params_free(p);
    uz_st_close(f);
}

START_TEST(test_torch_sgd_nesterov)
{
    uz_optim_config c = uz_optim_defaults(UZ_OPTIM_SGD);
    c.momentum = 0.9f;
    c.nesterov = true;
    c.weight_decay = 0.01f;
    run_case("sgd", &c, 0.05f);
}
END_TEST

START_TEST(test_torch_sgd_momentum)
{
    uz_optim_config c = uz_optim_defaults(UZ_OPTIM_SGD);
    c.momentum = 0.8f;
    c.weight_decay = 0.02f;
    run_case("sgd_momentum", &c, 0.05f);
}
END_TEST

START_TEST(test_torch_adamw)
{
    uz_optim_config c = uz_optim_defaults(UZ_OPTIM_ADAMW);
    c.weight_decay = 0.05f;
    run_case("adamw", &c, 0.01f);
}
END_TEST

START_TEST(test_torch_adagrad)
{
    uz_optim_config c = uz_optim_defaults(UZ_OPTIM_ADAGRAD);
    c.weight_decay = 0.01f;
    c.initial_accumulator = 0.1f;
    run_case("adagrad", &c, 0.1f);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("optim_torch");
    TCase *tc = tcase_create("golden");
    tcase_add_test(tc, test_torch_sgd_nesterov);
    tcase_add_test(tc, test_torch_sgd_momentum);
    tcase_add_test(tc, test_torch_adamw);
    tcase_add_test(tc, test_torch_adagrad);
    suite_add_tcase(s, tc);
    return s;
}
