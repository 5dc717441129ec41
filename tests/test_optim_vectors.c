/* Every optimizer against the hand-computed vectors of
 * ../shared/reference/optimizers.md (optimizer_vectors.txt): one 3-element
 * tensor W0 = [0.5, -1, 2], gradient G1 then G2. The vectors are printed
 * with 6 significant digits, so values are compared with a relative
 * tolerance of 1e-5 (the float32 arithmetic itself is ~1e-7 away). */
#include <check.h>
#include <math.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"
#include "train/fp8.h"
#include "train/optim.h"

static const float W0[3] = {0.5f, -1.0f, 2.0f};
static const float G[2][3] = {{0.1f, -0.2f, 0.3f}, {-0.05f, 0.4f, 0.1f}};

typedef struct fixture {
    uz_params *p;
    uz_tensor *w;
    uz_optim *o;
} fixture;

static fixture make(const uz_optim_config *c, const char *name)
{
    fixture f = {.p = uz_params_new()};
    f.w = uz_params_add(f.p, name, 1, (int64_t[]){3});
    UZ_CK_OK(uz_params_finalize(f.p));
    memcpy(f.w->data, W0, sizeof W0);
    UZ_CK_OK(uz_optim_new(c, f.p, &f.o));
    return f;
}

static void step(fixture *f, int s, float lr, const uz_optim_task *task)
{
    memcpy(f->w->grad->data, G[s], sizeof G[s]);
    UZ_CK_OK(uz_optim_step(f->o, lr, task, NULL));
}

static void done(fixture *f)
{
    uz_optim_free(f->o);
    uz_params_free(f->p);
}

static void expect(const float *got, const double *want, int n, const char *what)
{
    for (int i = 0; i < n; i++)
        ck_assert_msg(fabs((double)got[i] - want[i]) <= 1e-5 * fabs(want[i]) + 1e-12,
                      "%s[%d] = %.8g, want %.6g", what, i, (double)got[i], want[i]);
}

/* The state buffer with this name (F32). */
static const float *state_f32(const uz_optim *o, const char *name)
{
    for (int i = 0; i < uz_optim_state_count(o); i++) {
        uz_optim_state s = uz_optim_state_at(o, i);
        if (strcmp(s.name, name) == 0)
            return s.data;
    }
    ck_abort_msg("no optimizer state '%s'", name);
    return NULL;
}

static uz_optim_config lamb_config(void)
{
    uz_optim_config c = uz_optim_defaults(UZ_OPTIM_LAMB);
    c.weight_decay = 0.01f;
    c.eps = 1e-6f;
    return c;
}

START_TEST(test_lamb_bias_correction)
{
    uz_optim_config c = lamb_config();
    fixture f = make(&c, "w");
    step(&f, 0, 0.01f, NULL);
    expect(state_f32(f.o, "optim.exp_avg"), (double[]){0.01, -0.02, 0.03}, 3, "m1");
    expect(state_f32(f.o, "optim.exp_avg_sq"), (double[]){1e-05, 4e-05, 9e-05}, 3, "v1");
    expect(f.w->data, (double[]){0.486859, -0.986793, 1.98666}, 3, "w1");
    step(&f, 1, 0.01f, NULL);
    expect(state_f32(f.o, "optim.exp_avg"), (double[]){0.004, 0.022, 0.037}, 3, "m2");
    expect(state_f32(f.o, "optim.exp_avg_sq"), (double[]){1.249e-05, 0.00019996, 9.991e-05}, 3,
           "v2");
    expect(f.w->data, (double[]){0.480682, -0.994907, 1.96637}, 3, "w2");
    ck_assert_int_eq(uz_optim_steps(f.o), 2);
    done(&f);
}
END_TEST

START_TEST(test_lamb_no_bias_correction)
{
    uz_optim_config c = lamb_config();
    c.bias_correction = false;
    fixture f = make(&c, "w");
    step(&f, 0, 0.01f, NULL);
    expect(f.w->data, (double[]){0.486801, -0.986778, 1.98674}, 3, "w1");
    step(&f, 1, 0.01f, NULL);
    expect(f.w->data, (double[]){0.480636, -0.995163, 1.96655}, 3, "w2");
    done(&f);
}
END_TEST

/* A bias under the default exclusion: no decay, no trust ratio (Adam). */
START_TEST(test_lamb_excluded)
{
    uz_optim_config c = lamb_config();
    fixture f = make(&c, "fc1.bias");
    step(&f, 0, 0.01f, NULL);
    expect(f.w->data, (double[]){0.49, -0.99, 1.99}, 3, "w1");
    step(&f, 1, 0.01f, NULL);
    expect(f.w->data, (double[]){0.487337, -0.993661, 1.98129}, 3, "w2");
    done(&f);
}
END_TEST

/* apex-style global clipping at 0.2: step 1's gradient has norm 0.374166. */
START_TEST(test_lamb_clipped)
{
    uz_optim_config c = lamb_config();
    c.max_grad_norm = 0.2f;
    fixture f = make(&c, "w");
    memcpy(f.w->grad->data, G[0], sizeof G[0]);
    float norm = 0.0f;
    UZ_CK_OK(uz_optim_step(f.o, 0.01f, NULL, &norm));
    ck_assert_float_eq_tol(norm, 0.374166f, 1e-6f);
    expect(state_f32(f.o, "optim.exp_avg"), (double[]){0.00534522, -0.0106904, 0.0160357}, 3,
           "m1");
    expect(state_f32(f.o, "optim.exp_avg_sq"), (double[]){2.85714e-06, 1.14286e-05, 2.57143e-05},
           3, "v1");
    expect(f.w->data, (double[]){0.486859, -0.986793, 1.98666}, 3, "w1");
    step(&f, 1, 0.01f, NULL);
    expect(state_f32(f.o, "optim.exp_avg"), (double[]){0.00240299, 0.00964033, 0.0192475}, 3,
           "m2");
    expect(f.w->data, (double[]){0.479683, -0.994103, 1.96639}, 3, "w2");
    done(&f);
}
END_TEST

static uz_optim_config lars_config(bool nesterov)
{
    uz_optim_config c = uz_optim_defaults(UZ_OPTIM_LARS);
    c.momentum = 0.9f;
    c.weight_decay = 1e-4f;
    c.lars_eta = 0.001f;
    c.eps = 0.0f;
    c.nesterov = nesterov;
    return c;
}

START_TEST(test_lars)
{
    uz_optim_config c = lars_config(false);
    fixture f = make(&c, "w");
    step(&f, 0, 10.0f, NULL);
    expect(state_f32(f.o, "optim.momentum_buffer"), (double[]){0.00612304, -0.0122461, 0.0183722},
           3, "u1");
    expect(f.w->data, (double[]){0.493877, -0.987754, 1.98163}, 3, "w1");
    step(&f, 1, 10.0f, NULL);
    expect(state_f32(f.o, "optim.momentum_buffer"), (double[]){0.00278388, 0.0108095, 0.0220049},
           3, "u2");
    expect(f.w->data, (double[]){0.491093, -0.998563, 1.95962}, 3, "w2");
    done(&f);
}
END_TEST

START_TEST(test_lars_nesterov)
{
    uz_optim_config c = lars_config(true);
    fixture f = make(&c, "w");
    step(&f, 0, 10.0f, NULL);
    expect(f.w->data, (double[]){0.488366, -0.976732, 1.96509}, 3, "w1");
    step(&f, 1, 10.0f, NULL);
    expect(state_f32(f.o, "optim.momentum_buffer"), (double[]){0.00280841, 0.010613, 0.0219555},
           3, "u2");
    expect(f.w->data, (double[]){0.488541, -1.00792, 1.93991}, 3, "w2");
    done(&f);
}
END_TEST

/* LARS on an excluded tensor: plain momentum SGD with the base lr. */
START_TEST(test_lars_excluded)
{
    uz_optim_config c = lars_config(false);
    fixture f = make(&c, "bn1.bias");
    step(&f, 0, 0.5f, NULL);
    expect(f.w->data, (double[]){0.45, -0.9, 1.85}, 3, "w1");
    step(&f, 1, 0.5f, NULL);
    /* u2 = 0.9*0.5*G1 + 0.5*G2 */
    expect(f.w->data, (double[]){0.45 - 0.045 + 0.025, -0.9 + 0.09 - 0.2, 1.85 - 0.135 - 0.05}, 3,
           "w2");
    done(&f);
}
END_TEST

START_TEST(test_adagrad)
{
    uz_optim_config c = uz_optim_defaults(UZ_OPTIM_ADAGRAD);
    fixture f = make(&c, "w");
    step(&f, 0, 0.1f, NULL);
    expect(state_f32(f.o, "optim.sum"), (double[]){0.01, 0.04, 0.09}, 3, "sum1");
    expect(f.w->data, (double[]){0.4, -0.9, 1.9}, 3, "w1");
    step(&f, 1, 0.1f, NULL);
    expect(state_f32(f.o, "optim.sum"), (double[]){0.0125, 0.2, 0.1}, 3, "sum2");
    expect(f.w->data, (double[]){0.444721, -0.989443, 1.86838}, 3, "w2");
    done(&f);
}
END_TEST

START_TEST(test_adagrad_norm)
{
    uz_optim_config c = uz_optim_defaults(UZ_OPTIM_ADAGRAD_NORM);
    c.initial_accumulator = 0.01f;
    fixture f = make(&c, "w");
    ck_assert_int_eq(uz_optim_state_count(f.o), 2);
    uz_optim_state b2 = uz_optim_state_at(f.o, 0);
    ck_assert_str_eq(b2.name, "optim.b2");
    ck_assert_int_eq(b2.dtype, UZ_F64);
    step(&f, 0, 0.1f, NULL);
    ck_assert_double_eq_tol(*(const double *)b2.data, 0.15, 1e-7);
    expect(f.w->data, (double[]){0.47418, -0.94836, 1.92254}, 3, "w1");
    step(&f, 1, 0.1f, NULL);
    ck_assert_double_eq_tol(*(const double *)b2.data, 0.3225, 1e-7);
    expect(f.w->data, (double[]){0.482985, -1.0188, 1.90493}, 3, "w2");
    done(&f);
}
END_TEST

START_TEST(test_mt_adamw)
{
    uz_optim_config c = uz_optim_defaults(UZ_OPTIM_MT_ADAMW);
    c.weight_decay = 0.01f;
    fixture f = make(&c, "w");
    float norm = 0.0f;
    memcpy(f.w->grad->data, G[0], sizeof G[0]);
    UZ_CK_OK(uz_optim_step(f.o, 0.01f, &(uz_optim_task){.weight = 1.0f, .ratio = 0.25f}, &norm));
    ck_assert_float_eq_tol(norm, 0.374166f, 1e-6f);
    expect(state_f32(f.o, "optim.exp_avg"), (double[]){0.106904, -0.213809, 0.320713}, 3, "m1");
    expect(state_f32(f.o, "optim.exp_avg_sq"), (double[]){0.000285714, 0.00114286, 0.00257143}, 3,
           "n1");
    expect(f.w->data, (double[]){0.47995, -0.9799, 1.9798}, 3, "w1");
    step(&f, 1, 0.01f, &(uz_optim_task){.weight = 1.0f, .ratio = 0.75f});
    expect(state_f32(f.o, "optim.exp_avg"), (double[]){0.0801626, -0.0640165, 0.320745}, 3, "m2");
    expect(state_f32(f.o, "optim.exp_avg_sq"), (double[]){0.000304752, 0.00237843, 0.00264615}, 3,
           "n2");
    expect(f.w->data, (double[]){0.469096, -0.976713, 1.96493}, 3, "w2");
    done(&f);
}
END_TEST

/* A zero gradient skips the normalisation instead of dividing 0 by 0. */
START_TEST(test_mt_adamw_zero_gradient)
{
    uz_optim_config c = uz_optim_defaults(UZ_OPTIM_MT_ADAMW);
    c.weight_decay = 0.0f;
    fixture f = make(&c, "w");
    memset(f.w->grad->data, 0, 3 * sizeof(float));
    float norm = 1.0f;
    UZ_CK_OK(uz_optim_step(f.o, 0.01f, &(uz_optim_task){.weight = 2.0f, .ratio = 0.5f}, &norm));
    ck_assert_float_eq(norm, 0.0f);
    expect(f.w->data, (double[]){0.5, -1.0, 2.0}, 3, "w");
    ck_assert_int_eq(uz_optim_step(f.o, 0.01f, NULL, NULL), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "task"));
    done(&f);
}
END_TEST

/* COAT: AdamW with E4M3 moments and dynamic range expansion, one group.
 * The codes are exact (no rounding ties); the dequantized values and the
 * weights follow from them. */
START_TEST(test_coat_fp8_adamw)
{
    uz_optim_config c = uz_optim_defaults(UZ_OPTIM_ADAMW);
    c.weight_decay = 0.01f;
    c.fp8_states = true;
    fixture f = make(&c, "w");
    step(&f, 0, 0.01f, NULL);
    expect(f.w->data, (double[]){0.48995, -0.9899, 1.9898}, 3, "w1");
    const uint8_t *qm = (const uint8_t *)state_f32(f.o, "optim.exp_avg.fp8");
    const uint8_t *qv = (const uint8_t *)state_f32(f.o, "optim.exp_avg_sq.fp8");
    const float *sm = state_f32(f.o, "optim.exp_avg.scale"), *km = state_f32(f.o, "optim.exp_avg.k");
    const float *sv = state_f32(f.o, "optim.exp_avg_sq.scale");
    const float *kv = state_f32(f.o, "optim.exp_avg_sq.k");
    float code_m[3], code_v[3], m[3], v[3];
    for (int i = 0; i < 3; i++) {
        code_m[i] = uz_e4m3_decode(qm[i]);
        code_v[i] = uz_e4m3_decode(qv[i]);
    }
    expect(code_m, (double[]){0.00390625, -6.5, 448}, 3, "m codes");
    expect(code_v, (double[]){0.00585938, 6.5, 448}, 3, "v codes");
    ck_assert_float_eq(km[0], 10.4375f);
    ck_assert_float_eq(kv[0], 5.1875f);
    uz_fp8_dequantize(qm, sm, km, 3, m);
    uz_fp8_dequantize(qv, sv, kv, 3, v);
    expect(m, (double[]){0.00982601, -0.0199982, 0.03}, 3, "dequantized m");
    expect(v, (double[]){1.03005e-05, 3.97978e-05, 9e-05}, 3, "dequantized v");
    step(&f, 1, 0.01f, NULL);
    ck_assert_float_eq(km[0], 5.0625f);
    ck_assert_float_eq(kv[0], 4.1875f);
    for (int i = 0; i < 3; i++) {
        code_m[i] = uz_e4m3_decode(qm[i]);
        code_v[i] = uz_e4m3_decode(qv[i]);
    }
    expect(code_m, (double[]){0.00390625, 32, 448}, 3, "m codes 2");
    expect(code_v, (double[]){0.00390625, 448, 24}, 3, "v codes 2");
    expect(f.w->data, (double[]){0.487372, -0.993464, 1.98089}, 3, "w2");
    done(&f);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("optim_vectors");
    TCase *tc = tcase_create("vectors");
    tcase_add_test(tc, test_lamb_bias_correction);
    tcase_add_test(tc, test_lamb_no_bias_correction);
    tcase_add_test(tc, test_lamb_excluded);
    tcase_add_test(tc, test_lamb_clipped);
    tcase_add_test(tc, test_lars);
    tcase_add_test(tc, test_lars_nesterov);
    tcase_add_test(tc, test_lars_excluded);
    tcase_add_test(tc, test_adagrad);
    tcase_add_test(tc, test_adagrad_norm);
    tcase_add_test(tc, test_mt_adamw);
    tcase_add_test(tc, test_mt_adamw_zero_gradient);
    tcase_add_test(tc, test_coat_fp8_adamw);
    suite_add_tcase(s, tc);
    return s;
}
