/* Optimizer plumbing: names and config checks, global gradient clipping,
 * parameter groups and exclusion, frozen parameters, non-finite gradients,
 * and bit-identical results for any thread count. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"
#include "train/optim.h"

START_TEST(test_kind_names)
{
    for (int k = UZ_OPTIM_SGD; k <= UZ_OPTIM_ADAGRAD_NORM; k++) {
        uz_optim_kind got;
        UZ_CK_OK(uz_optim_kind_parse(uz_optim_kind_name((uz_optim_kind)k), &got));
        ck_assert_int_eq(got, k);
    }
    uz_optim_kind got;
    ck_assert_int_eq(uz_optim_kind_parse("adam", &got), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "'adam'"));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "adagrad-norm"));
    uz_optim_config c = uz_optim_defaults(UZ_OPTIM_LAMB);
    ck_assert_float_eq(c.eps, 1e-6f);
    ck_assert(c.bias_correction);
    c = uz_optim_defaults(UZ_OPTIM_ADAMW);
    ck_assert_float_eq(c.weight_decay, 0.01f);
    ck_assert_float_eq(c.beta2, 0.999f);
}
END_TEST

/* Params: "enc.weight" [2,3], "enc.bias" [3], "head.weight" [4]. */
static uz_params *three_params(void)
{
    uz_params *p = uz_params_new();
    uz_params_add(p, "enc.weight", 2, (int64_t[]){2, 3});
    uz_params_add(p, "enc.bias", 1, (int64_t[]){3});
    uz_params_add(p, "head.weight", 1, (int64_t[]){4});
    UZ_CK_OK(uz_params_finalize(p));
    float *w = uz_params_data(p), *g = uz_params_grad(p);
    for (int i = 0; i < 13; i++) {
        w[i] = 0.5f - 0.1f * (float)i;
        g[i] = (i % 2 ? -0.2f : 0.3f) * (float)(i + 1) / 13.0f;
    }
    return p;
}

static void expect_fail(const uz_optim_config *c, uz_params *p, const char *needle)
{
    uz_optim *o = (uz_optim *)1;
    ck_assert_int_eq(uz_optim_new(c, p, &o), UZ_ERR_ARG);
    ck_assert_ptr_null(o);
    ck_assert_msg(strstr(uz_error_message(), needle), "'%s' not in: %s", needle,
                  uz_error_message());
}

START_TEST(test_bad_configs)
{
    uz_params *p = three_params();
    uz_optim_config c = uz_optim_defaults(UZ_OPTIM_SGD);
    c.nesterov = true;
    expect_fail(&c, p, "nesterov needs momentum");
    c = uz_optim_defaults(UZ_OPTIM_ADAMW);
    c.beta2 = 1.0f;
    expect_fail(&c, p, "betas");
    c = uz_optim_defaults(UZ_OPTIM_SGD);
    c.fp8_states = true;
    expect_fail(&c, p, "fp8_states");
    c = uz_optim_defaults(UZ_OPTIM_ADAMW);
    c.n_groups = 1;
    c.groups[0] = (uz_optim_group){.match = "", .lr_scale = 1.0f};
    expect_fail(&c, p, "group 0 has no match");
    c = uz_optim_defaults(UZ_OPTIM_ADAGRAD_NORM);
    c.weight_decay = 0.1f;
    expect_fail(&c, p, "weight decay");
    c = uz_optim_defaults(UZ_OPTIM_ADAGRAD_NORM);
    c.initial_accumulator = 0.0f;
    expect_fail(&c, p, "b0^2");
    c = uz_optim_defaults(UZ_OPTIM_ADAMW);
    c.max_grad_norm = -1.0f;
    expect_fail(&c, p, "max_grad_norm");
    c = uz_optim_defaults(UZ_OPTIM_LARS);
    c.lars_eta = 0.0f;
    expect_fail(&c, p, "lars_eta");
    for (int i = 0; i < 3; i++)
        uz_params_at(p, i)->requires_grad = false;
    c = uz_optim_defaults(UZ_OPTIM_ADAMW);
    expect_fail(&c, p, "no trainable parameters");
    uz_params_free(p);

    uz_params *raw = uz_params_new();
    uz_params_add(raw, "w", 1, (int64_t[]){3});
    expect_fail(&c, raw, "not finalized");
    uz_params_free(raw);
}
END_TEST

START_TEST(test_bad_step)
{
    uz_params *p = three_params();
    uz_optim_config c = uz_optim_defaults(UZ_OPTIM_ADAMW);
    uz_optim *o;
    UZ_CK_OK(uz_optim_new(&c, p, &o));
    ck_assert_int_eq(uz_optim_step(o, -1.0f, NULL, NULL), UZ_ERR_ARG);
    ck_assert_int_eq(uz_optim_step(o, NAN, NULL, NULL), UZ_ERR_ARG);
    ck_assert_int_eq(uz_optim_steps(o), 0);
    uz_optim_free(o);
    c = uz_optim_defaults(UZ_OPTIM_MT_ADAMW);
    UZ_CK_OK(uz_optim_new(&c, p, &o));
    ck_assert_int_eq(uz_optim_step(o, 0.1f, &(uz_optim_task){1.0f, 0.0f}, NULL), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "ratio"));
    uz_optim_free(o);
    uz_params_free(p);
}
END_TEST

/* Clipping scales every gradient by max/||g|| (global over all tensors)
 * only when ||g|| exceeds max; the reported norm is the unclipped one. */
START_TEST(test_clipping)
{
    uz_params *p = three_params();
    float *w = uz_params_data(p), *g = uz_params_grad(p);
    float w0[13], g0[13];
    memcpy(w0, w, sizeof w0);
    memcpy(g0, g, sizeof g0);
    double norm2 = 0.0;
    for (int i = 0; i < 13; i++)
        norm2 += (double)g0[i] * g0[i];
    double norm = sqrt(norm2);
    uz_optim_config c = uz_optim_defaults(UZ_OPTIM_SGD);
    c.max_grad_norm = 0.25f;
    uz_optim *o;
    UZ_CK_OK(uz_optim_new(&c, p, &o));
    float got_norm = 0.0f;
    UZ_CK_OK(uz_optim_step(o, 0.5f, NULL, &got_norm));
    ck_assert_double_eq_tol(got_norm, norm, 1e-6);
    ck_assert(norm > 0.25);
    for (int i = 0; i < 13; i++)
        ck_assert_double_eq_tol(w[i], w0[i] - 0.5 * g0[i] * 0.25 / norm, 1e-6);
    uz_optim_free(o);

    /* Below the threshold: untouched gradients. */
    memcpy(w, w0, sizeof w0);
    c.max_grad_norm = 10.0f;
    UZ_CK_OK(uz_optim_new(&c, p, &o));
    UZ_CK_OK(uz_optim_step(o, 0.5f, NULL, NULL));
    for (int i = 0; i < 13; i++)
        ck_assert_float_eq(w[i], w0[i] - 0.5f * g0[i]);
    ck_assert_mem_eq(g, g0, sizeof g0);
    uz_optim_free(o);
    uz_params_free(p);
}
END_TEST

/* One AdamW step moves w by lr_eff*wd*w plus lr_eff*g/(|g| + eps) (the
 * bias-corrected moments are g and g^2), which shows each tensor's lr and
 * decay: "head" is a group with lr x0.1 and decay 0.5, biases are excluded
 * (no decay even though the default group has 0.2), "enc.weight" takes the
 * defaults. */
START_TEST(test_groups_and_exclusion)
{
    uz_params *p = three_params();
    float *w = uz_params_data(p), *g = uz_params_grad(p);
    float w0[13];
    memcpy(w0, w, sizeof w0);
    uz_optim_config c = uz_optim_defaults(UZ_OPTIM_ADAMW);
    c.weight_decay = 0.2f;
    c.exclude = "bias";
    c.n_groups = 2;
    c.groups[0] = (uz_optim_group){.match = "nothing, head", .lr_scale = 0.1f, .weight_decay = 0.5f};
    c.groups[1] = (uz_optim_group){.match = "head,enc", .lr_scale = 3.0f, .weight_decay = 0.0f};
    uz_optim *o;
    UZ_CK_OK(uz_optim_new(&c, p, &o));
    UZ_CK_OK(uz_optim_step(o, 0.01f, NULL, NULL));
    for (int i = 0; i < 13; i++) {
        /* enc.weight: group 1 (lr x3, wd 0); enc.bias: group 1, excluded;
         * head.weight: group 0 (first match wins). */
        double lr = i < 9 ? 0.03 : 0.001, wd = i < 6 ? 0.0 : i < 9 ? 0.0 : 0.5;
        double want = w0[i] * (1.0 - lr * wd) - lr * g[i] / (fabs(g[i]) + 1e-8);
        ck_assert_msg(fabs(w[i] - want) < 1e-6, "w[%d] = %g, want %g", i, (double)w[i], want);
    }
    uz_optim_free(o);
    uz_params_free(p);
}
END_TEST

/* The trust ratio only where adaptation is on: LAMB with one no_adapt
 * group and one adapted tensor (vector (a) of optimizers.md section 1). */
START_TEST(test_lamb_no_adapt_group)
{
    uz_params *p = uz_params_new();
    uz_tensor *a = uz_params_add(p, "a", 1, (int64_t[]){3});
    uz_tensor *b = uz_params_add(p, "head.w", 1, (int64_t[]){3});
    UZ_CK_OK(uz_params_finalize(p));
    const float w0[3] = {0.5f, -1.0f, 2.0f}, g1[3] = {0.1f, -0.2f, 0.3f};
    memcpy(a->data, w0, sizeof w0);
    memcpy(b->data, w0, sizeof w0);
    memcpy(a->grad->data, g1, sizeof g1);
    memcpy(b->grad->data, g1, sizeof g1);
    uz_optim_config c = uz_optim_defaults(UZ_OPTIM_LAMB);
    c.n_groups = 1;
    c.groups[0] = (uz_optim_group){.match = "head", .lr_scale = 1.0f, .weight_decay = 0.01f,
                                   .no_adapt = true};
    uz_optim *o;
    UZ_CK_OK(uz_optim_new(&c, p, &o));
    UZ_CK_OK(uz_optim_step(o, 0.01f, NULL, NULL));
    const double adapted[3] = {0.486859, -0.986793, 1.98666};
    const double r[3] = {1.00499, -1.01, 1.02}; /* ratio 1: w - lr*r */
    for (int i = 0; i < 3; i++) {
        ck_assert_double_eq_tol(a->data[i], adapted[i], 1e-5);
        ck_assert_double_eq_tol(b->data[i], w0[i] - 0.01 * r[i], 1e-5);
    }
    uz_optim_free(o);
    uz_params_free(p);
}
END_TEST

/* A frozen parameter (requires_grad off) is neither updated nor counted in
 * the global norm, even with a garbage gradient. */
START_TEST(test_frozen_parameter)
{
    uz_params *p = three_params();
    uz_tensor *frozen = uz_params_find(p, "enc.bias");
    frozen->requires_grad = false;
    float before[3];
    memcpy(before, frozen->data, sizeof before);
    frozen->grad->data[0] = NAN;
    uz_optim_config c = uz_optim_defaults(UZ_OPTIM_LAMB);
    uz_optim *o;
    UZ_CK_OK(uz_optim_new(&c, p, &o));
    float norm;
    UZ_CK_OK(uz_optim_step(o, 0.1f, NULL, &norm));
    ck_assert(isfinite(norm));
    ck_assert_mem_eq(frozen->data, before, sizeof before);
    uz_optim_free(o);
    uz_params_free(p);
}
END_TEST

/* A NaN or Inf gradient names the first such parameter and element and
 * changes nothing: parameters, state and step counter. */
START_TEST(test_non_finite_gradient)
{
    for (int kind = UZ_OPTIM_SGD; kind <= UZ_OPTIM_ADAGRAD_NORM; kind++) {
        uz_params *p = three_params();
        uz_optim_config c = uz_optim_defaults((uz_optim_kind)kind);
        if (kind == UZ_OPTIM_SGD)
            c.momentum = 0.9f;
        uz_optim *o;
        UZ_CK_OK(uz_optim_new(&c, p, &o));
        uz_optim_task task = {1.0f, 0.5f};
        UZ_CK_OK(uz_optim_step(o, 0.01f, &task, NULL));
        float w[13], state0[13];
        memcpy(w, uz_params_data(p), sizeof w);
        uz_optim_state st = uz_optim_state_at(o, 0);
        if (st.dtype == UZ_F32)
            memcpy(state0, st.data, sizeof state0);
        uz_params_grad(p)[11] = kind % 2 ? INFINITY : NAN;
        uz_params_grad(p)[12] = NAN;
        ck_assert_int_eq(uz_optim_step(o, 0.01f, &task, NULL), UZ_ERR_NUMERIC);
        const char *msg = uz_error_message();
        ck_assert_msg(strstr(msg, "'head.weight'") && strstr(msg, "element 2"), "%s", msg);
        ck_assert_ptr_nonnull(strstr(msg, "step 2"));
        ck_assert_mem_eq(uz_params_data(p), w, sizeof w);
        if (st.dtype == UZ_F32)
            ck_assert_mem_eq(st.data, state0, sizeof state0);
        ck_assert_int_eq(uz_optim_steps(o), 1);
        uz_optim_free(o);
        uz_params_free(p);
    }
}
END_TEST

/* Chunked loops and reductions: the same bits on 1 and 2 threads, for a
 * store spanning many chunks and tensors of uneven sizes. */
static void run_threads(uz_optim_kind kind, int threads, float *out, float *norm)
{
    omp_set_num_threads(threads);
    uz_params *p = uz_params_new();
    uz_params_add(p, "big.weight", 2, (int64_t[]){300, 250});
    uz_params_add(p, "big.bias", 1, (int64_t[]){250});
    uz_params_add(p, "mid.weight", 1, (int64_t[]){40001});
    UZ_CK_OK(uz_params_finalize(p));
    int64_t n = uz_params_numel(p);
    float *w = uz_params_data(p), *g = uz_params_grad(p);
    for (int64_t i = 0; i < n; i++)
        w[i] = sinf(0.001f * (float)i);
    uz_optim_config c = uz_optim_defaults(kind);
    c.fp8_states = kind == UZ_OPTIM_ADAMW;
    uz_optim *o;
    UZ_CK_OK(uz_optim_new(&c, p, &o));
    for (int s = 0; s < 3; s++) {
        for (int64_t i = 0; i < n; i++)
            g[i] = cosf(0.37f * (float)i + (float)s) * 1e-2f;
        UZ_CK_OK(uz_optim_step(o, 0.01f, &(uz_optim_task){1.0f, 0.5f}, norm));
    }
    memcpy(out, w, sizeof(float) * (size_t)n);
    uz_optim_free(o);
    uz_params_free(p);
}

START_TEST(test_thread_count_invariance)
{
    enum { N = 300 * 250 + 250 + 40001 };
    static float one[N], two[N];
    const uz_optim_kind kinds[] = {UZ_OPTIM_LAMB, UZ_OPTIM_LARS, UZ_OPTIM_ADAMW, UZ_OPTIM_MT_ADAMW,
                                   UZ_OPTIM_ADAGRAD_NORM};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        float n1, n2;
        run_threads(kinds[k], 1, one, &n1);
        run_threads(kinds[k], 2, two, &n2);
        ck_assert_msg(memcmp(one, two, sizeof one) == 0, "%s differs across thread counts",
                      uz_optim_kind_name(kinds[k]));
        ck_assert_int_eq(memcmp(&n1, &n2, sizeof n1), 0);
    }
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_kind_names);
    tcase_add_test(tc, test_bad_configs);
    tcase_add_test(tc, test_bad_step);
    tcase_add_test(tc, test_clipping);
    tcase_add_test(tc, test_groups_and_exclusion);
    tcase_add_test(tc, test_lamb_no_adapt_group);
    tcase_add_test(tc, test_frozen_parameter);
    tcase_add_test(tc, test_non_finite_gradient);
    tcase_add_test(tc, test_thread_count_invariance);
    suite_add_tcase(s, tc);
    return s;
}
