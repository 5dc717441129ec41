/* Learning-rate schedules at their key steps, the batch-size lr rescaling
 * rules and the AdAdaGrad norm test against shared/reference/optimizers.md
 * (sections 3c and 4; values computed there in double precision). */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"
#include "core/rng.h"
#include "train/schedule.h"

/* Schedules are computed in double and rounded to float once: 1 float ulp of
 * the values involved (<= 0.1) is ~7e-9. */
#define LR_TOL 1e-8f

static uz_lr_schedule sched(uz_lr_decay decay, int64_t warmup)
{
    return (uz_lr_schedule){.base_lr = 0.1f, .warmup_steps = warmup, .decay = decay,
                            .total_steps = 110, .min_lr = 0.001f, .step_size = 30,
                            .gamma = 0.5f};
}

START_TEST(test_warmup)
{
    uz_lr_schedule s = sched(UZ_LR_CONSTANT, 10);
    UZ_CK_OK(uz_lr_schedule_check(&s));
    ck_assert_float_eq(uz_lr_at(&s, 0), 0.0f);
    ck_assert_float_eq_tol(uz_lr_at(&s, 1), 0.01f, LR_TOL);
    ck_assert_float_eq_tol(uz_lr_at(&s, 5), 0.05f, LR_TOL);
    ck_assert_float_eq_tol(uz_lr_at(&s, 9), 0.09f, LR_TOL);
    ck_assert_float_eq(uz_lr_at(&s, 10), 0.1f);
    ck_assert_float_eq(uz_lr_at(&s, 100000), 0.1f);
    s.warmup_steps = 0;
    ck_assert_float_eq(uz_lr_at(&s, 0), 0.1f);
    ck_assert_float_eq(uz_lr_at(&s, -3), 0.1f);
}
END_TEST

START_TEST(test_cosine)
{
    uz_lr_schedule s = sched(UZ_LR_COSINE, 10);
    UZ_CK_OK(uz_lr_schedule_check(&s));
    double base = 0.1f, lo = 0.001f;
    ck_assert_float_eq(uz_lr_at(&s, 0), 0.0f);
    ck_assert_float_eq_tol(uz_lr_at(&s, 5), 0.05f, LR_TOL);
    ck_assert_float_eq(uz_lr_at(&s, 10), 0.1f);
    /* quarter, half and three quarters of the 100 decay steps */
    ck_assert_float_eq_tol(uz_lr_at(&s, 35), (float)(lo + (base - lo) * (1 + sqrt(0.5)) / 2),
                           LR_TOL);
    ck_assert_float_eq_tol(uz_lr_at(&s, 60), (float)((base + lo) / 2), LR_TOL);
    ck_assert_float_eq_tol(uz_lr_at(&s, 85), (float)(lo + (base - lo) * (1 - sqrt(0.5)) / 2),
                           LR_TOL);
    ck_assert_float_eq_tol(uz_lr_at(&s, 109),
                           (float)(lo + (base - lo) * (1 + cos(acos(-1.0) * 99 / 100)) / 2), LR_TOL);
    ck_assert_float_eq(uz_lr_at(&s, 110), 0.001f);
    ck_assert_float_eq(uz_lr_at(&s, 500), 0.001f);
    for (int64_t t = 11; t <= 110; t++)
        ck_assert(uz_lr_at(&s, t) <= uz_lr_at(&s, t - 1));
}
END_TEST

START_TEST(test_linear)
{
    uz_lr_schedule s = sched(UZ_LR_LINEAR, 10);
    UZ_CK_OK(uz_lr_schedule_check(&s));
    double base = 0.1f, lo = 0.001f;
    ck_assert_float_eq(uz_lr_at(&s, 10), 0.1f);
    ck_assert_float_eq_tol(uz_lr_at(&s, 35), (float)(base + (lo - base) * 0.25), LR_TOL);
    ck_assert_float_eq_tol(uz_lr_at(&s, 60), (float)((base + lo) / 2), LR_TOL);
    ck_assert_float_eq(uz_lr_at(&s, 110), 0.001f);
    ck_assert_float_eq(uz_lr_at(&s, 111), 0.001f);
}
END_TEST

START_TEST(test_step_decay)
{
    uz_lr_schedule s = sched(UZ_LR_STEP, 0);
    UZ_CK_OK(uz_lr_schedule_check(&s));
    ck_assert_float_eq(uz_lr_at(&s, 0), 0.1f);
    ck_assert_float_eq(uz_lr_at(&s, 29), 0.1f);
    ck_assert_float_eq_tol(uz_lr_at(&s, 30), 0.05f, LR_TOL);
    ck_assert_float_eq_tol(uz_lr_at(&s, 59), 0.05f, LR_TOL);
    ck_assert_float_eq_tol(uz_lr_at(&s, 60), 0.025f, LR_TOL);
    ck_assert_float_eq_tol(uz_lr_at(&s, 300), 0.1f / 1024.0f, LR_TOL);
    /* counted from the end of warm-up */
    s.warmup_steps = 5;
    ck_assert_float_eq(uz_lr_at(&s, 34), 0.1f);
    ck_assert_float_eq_tol(uz_lr_at(&s, 35), 0.05f, LR_TOL);
}
END_TEST

START_TEST(test_decay_parse)
{
    const char *names[] = {"constant", "cosine", "linear", "step"};
    const uz_lr_decay want[] = {UZ_LR_CONSTANT, UZ_LR_COSINE, UZ_LR_LINEAR, UZ_LR_STEP};
    for (int i = 0; i < 4; i++) {
        uz_lr_decay d = UZ_LR_CONSTANT;
        UZ_CK_OK(uz_lr_decay_parse(names[i], &d));
        ck_assert_int_eq(d, want[i]);
    }
    uz_lr_decay d = UZ_LR_STEP;
    ck_assert_int_eq(uz_lr_decay_parse("Cosine", &d), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "\"Cosine\""));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "constant, cosine, linear, step"));
    ck_assert_int_eq(d, UZ_LR_STEP);
    ck_assert_int_eq(uz_lr_decay_parse("", &d), UZ_ERR_ARG);
    ck_assert_int_eq(uz_lr_decay_parse(NULL, &d), UZ_ERR_ARG);
}
END_TEST

static void check_bad(uz_lr_schedule s, const char *field)
{
    ck_assert_int_eq(uz_lr_schedule_check(&s), UZ_ERR_ARG);
    ck_assert_msg(strstr(uz_error_message(), field), "%s lacks %s", uz_error_message(), field);
}

START_TEST(test_schedule_check)
{
    uz_lr_schedule s = sched(UZ_LR_COSINE, 10);
    s.base_lr = -0.1f;
    check_bad(s, "base_lr");
    s = sched(UZ_LR_COSINE, 10);
    s.base_lr = NAN;
    check_bad(s, "base_lr");
    check_bad(sched(UZ_LR_CONSTANT, -1), "warmup_steps");
    s = sched(UZ_LR_COSINE, 110);
    check_bad(s, "total_steps");
    s = sched(UZ_LR_LINEAR, 10);
    s.min_lr = 0.2f;
    check_bad(s, "min_lr");
    s = sched(UZ_LR_STEP, 0);
    s.step_size = 0;
    check_bad(s, "step_size");
    s = sched(UZ_LR_STEP, 0);
    s.gamma = 0.0f;
    check_bad(s, "gamma");
    s.gamma = 1.5f;
    check_bad(s, "gamma");
    /* settings a decay does not use are not checked */
    s = sched(UZ_LR_CONSTANT, 0);
    s.total_steps = 0;
    s.step_size = 0;
    UZ_CK_OK(uz_lr_schedule_check(&s));
}
END_TEST

/* optimizers.md section 4: lr0 = 0.1 at B0 = 256. */
START_TEST(test_rescale)
{
    const int64_t b[] = {512, 1024, 4096};
    const float lin[] = {0.2f, 0.4f, 1.6f}, sq[] = {0.141421356f, 0.2f, 0.4f};
    for (int i = 0; i < 3; i++) {
        ck_assert_float_eq_tol(uz_lr_rescale(0.1f, 256, b[i], UZ_LR_RULE_LINEAR), lin[i], 1e-7f);
        ck_assert_float_eq_tol(uz_lr_rescale(0.1f, 256, b[i], UZ_LR_RULE_SQRT), sq[i], 1e-7f);
        ck_assert_float_eq(uz_lr_rescale(0.1f, 256, b[i], UZ_LR_RULE_NONE), 0.1f);
    }
    ck_assert_float_eq(uz_lr_rescale(0.1f, 256, 256, UZ_LR_RULE_SQRT), 0.1f);
    ck_assert_float_eq(uz_lr_rescale(0.1f, 0, 256, UZ_LR_RULE_LINEAR), 0.1f);
    ck_assert_float_eq(uz_lr_rescale(0.1f, 256, -1, UZ_LR_RULE_SQRT), 0.1f);
}
END_TEST

/* optimizers.md 3c: NormVar = 0.085, ||gbar||^2 = 0.13125, b = 4. */
START_TEST(test_norm_test_vectors)
{
    /* eta 0.1 fails: b_new_raw = 64.7619 -> 65 */
    ck_assert_int_eq(uz_norm_test_next_batch(0.085, 0.13125, 4, 0.1, 50000), 65);
    /* eta 0.5 passes: b_new_raw = 2.59048, never below b */
    ck_assert_int_eq(uz_norm_test_next_batch(0.085, 0.13125, 4, 0.5, 50000), 4);
    /* capped at b_max */
    ck_assert_int_eq(uz_norm_test_next_batch(0.085, 0.13125, 4, 0.1, 50), 50);
    /* the test only runs below b_max */
    ck_assert_int_eq(uz_norm_test_next_batch(0.085, 0.13125, 64, 0.1, 64), 64);
    ck_assert_int_eq(uz_norm_test_next_batch(0.085, 0.13125, 80, 0.1, 64), 80);
    /* zero mean gradient: any variance is too much */
    ck_assert_int_eq(uz_norm_test_next_batch(0.085, 0.0, 4, 0.1, 1000), 1000);
    /* no variance: nothing to grow for */
    ck_assert_int_eq(uz_norm_test_next_batch(0.0, 0.0, 4, 0.1, 1000), 4);
    ck_assert_int_eq(uz_norm_test_next_batch(0.0, 0.13125, 4, 0.1, 1000), 4);
    /* huge ratio does not overflow */
    ck_assert_int_eq(uz_norm_test_next_batch(1e300, 1e-300, 4, 1e-10, INT64_MAX), INT64_MAX);
}
END_TEST

static const float G[4][3] = {
    {0.1f, -0.2f, 0.3f}, {0.3f, 0.0f, 0.1f}, {-0.1f, -0.4f, 0.5f}, {0.2f, -0.2f, 0.2f}};

START_TEST(test_grad_stats_vectors)
{
    uz_grad_stats st;
    UZ_CK_OK(uz_grad_stats_init(&st, 3));
    for (int round = 0; round < 2; round++) {
        double var = -1.0, sq = -1.0;
        for (int i = 0; i < 4; i++)
            uz_grad_stats_add(&st, G[i]);
        ck_assert_int_eq(st.count, 4);
        uz_grad_stats_result(&st, &var, &sq);
        /* the inputs are floats (0.1f != 0.1): relative error ~1e-8 */
        ck_assert_double_eq_tol(var, 0.085, 1e-8);
        ck_assert_double_eq_tol(sq, 0.13125, 1e-8);
        ck_assert_int_eq(uz_norm_test_next_batch(var, sq, 4, 0.1, 50000), 65);
        ck_assert_int_eq(uz_norm_test_next_batch(var, sq, 4, 0.5, 50000), 4);
        uz_grad_stats_reset(&st);
        ck_assert_int_eq(st.count, 0);
    }
    /* per-coordinate unbiased variances [0.0291667, 0.0266667, 0.0291667] */
    const double want_var[3] = {0.35 / 12, 0.08 / 3, 0.35 / 12};
    for (int j = 0; j < 3; j++) {
        float one[3] = {0};
        uz_grad_stats_reset(&st);
        for (int i = 0; i < 4; i++) {
            one[j] = G[i][j];
            uz_grad_stats_add(&st, one);
        }
        double var, sq;
        uz_grad_stats_result(&st, &var, &sq);
        ck_assert_double_eq_tol(var, want_var[j], 1e-8);
    }
    uz_grad_stats_free(&st);
    ck_assert_ptr_null(st.sum);
}
END_TEST

START_TEST(test_grad_stats_few_samples)
{
    uz_grad_stats st;
    UZ_CK_OK(uz_grad_stats_init(&st, 3));
    double var = -1.0, sq = -1.0;
    uz_grad_stats_result(&st, &var, &sq);
    ck_assert(var == 0.0 && sq == 0.0);
    uz_grad_stats_add(&st, G[0]);
    uz_grad_stats_result(&st, &var, &sq);
    ck_assert(var == 0.0);
    ck_assert_double_eq_tol(sq, 0.14, 1e-8);
    uz_grad_stats_free(&st);
    ck_assert_int_eq(uz_grad_stats_init(&st, 0), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "grad stats"));
}
END_TEST

/* A large vector: the parallel path agrees with a naive double loop and is
 * bit-identical across thread counts. */
START_TEST(test_grad_stats_large)
{
    enum { N = 200003, B = 5 };
    float *g = malloc(sizeof(float) * N * B);
    for (int i = 0; i < B; i++)
        uz_rng_fill_normal(g + (size_t)i * N, N, 7, 3, (uint64_t)i * N, 0.3f, 1.0f);
    double var_naive = 0.0, sq_naive = 0.0;
    for (int64_t j = 0; j < N; j++) {
        double m = 0.0, v = 0.0;
        for (int i = 0; i < B; i++)
            m += g[(size_t)i * N + j];
        m /= B;
        for (int i = 0; i < B; i++)
            v += (g[(size_t)i * N + j] - m) * (g[(size_t)i * N + j] - m);
        var_naive += v / (B - 1);
        sq_naive += m * m;
    }
    double var[2], sq[2];
    for (int r = 0; r < 2; r++) {
        omp_set_num_threads(r == 0 ? 1 : 3);
        uz_grad_stats st;
        UZ_CK_OK(uz_grad_stats_init(&st, N));
        for (int i = 0; i < B; i++)
            uz_grad_stats_add(&st, g + (size_t)i * N);
        uz_grad_stats_result(&st, &var[r], &sq[r]);
        uz_grad_stats_free(&st);
    }
    ck_assert_double_eq_tol(var[0], var_naive, 1e-9 * var_naive);
    ck_assert_double_eq_tol(sq[0], sq_naive, 1e-9 * sq_naive);
    ck_assert(memcmp(&var[0], &var[1], sizeof(double)) == 0);
    ck_assert(memcmp(&sq[0], &sq[1], sizeof(double)) == 0);
    free(g);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("schedule");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_warmup);
    tcase_add_test(tc, test_cosine);
    tcase_add_test(tc, test_linear);
    tcase_add_test(tc, test_step_decay);
    tcase_add_test(tc, test_decay_parse);
    tcase_add_test(tc, test_schedule_check);
    tcase_add_test(tc, test_rescale);
    tcase_add_test(tc, test_norm_test_vectors);
    tcase_add_test(tc, test_grad_stats_vectors);
    tcase_add_test(tc, test_grad_stats_few_samples);
    tcase_add_test(tc, test_grad_stats_large);
    suite_add_tcase(s, tc);
    return s;
}
