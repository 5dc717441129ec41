/* Task sampling: frequencies follow the ratios, the sequence is a pure
 * function of (seed, step) so resuming replays it, seeds differ, mixed
 * batches count examples, and bad configurations are refused. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"
#include "train/sampler.h"

/* Each count is binomial(n, p); 5 standard deviations makes a false failure
 * (for a fixed seed, effectively never) about a 1-in-a-million event. */
static void check_counts(const int64_t *counts, const double *p, int k, int64_t n)
{
    int64_t total = 0;
    for (int i = 0; i < k; i++) {
        double sd = sqrt((double)n * p[i] * (1.0 - p[i]));
        ck_assert_msg(fabs((double)counts[i] - (double)n * p[i]) <= 5.0 * sd,
                      "task %d: %lld draws, expected %.1f +- %.1f", i, (long long)counts[i],
                      (double)n * p[i], sd);
        total += counts[i];
    }
    ck_assert_int_eq(total, n);
}

START_TEST(test_unmixed_frequencies)
{
    const double ratios[4] = {1.0, 2.0, 7.0, 0.5}, p[4] = {1 / 10.5, 2 / 10.5, 7 / 10.5, 0.5 / 10.5};
    uz_task_sampler s;
    UZ_CK_OK(uz_sampler_init(&s, 4, ratios, 42, false));
    for (int k = 0; k < 4; k++)
        ck_assert_double_eq_tol(s.ratio[k], p[k], 1e-15);
    int64_t mine[4] = {0};
    enum { N = 100000 };
    for (int64_t t = 0; t < N; t++) {
        int k = uz_sampler_step_task(&s, t);
        ck_assert(k >= 0 && k < 4);
        mine[k]++;
    }
    for (int k = 0; k < 4; k++)
        ck_assert_int_eq(s.steps[k], mine[k]);
    check_counts(s.steps, p, 4, N);
}
END_TEST

START_TEST(test_unmixed_single_task)
{
    uz_task_sampler s;
    UZ_CK_OK(uz_sampler_init(&s, 1, (double[]){3.0}, 1, false));
    for (int64_t t = 0; t < 1000; t++)
        ck_assert_int_eq(uz_sampler_step_task(&s, t), 0);
    ck_assert_int_eq(s.steps[0], 1000);
}
END_TEST

/* A run resumed at any step draws what the uninterrupted run drew, whatever
 * order the steps are asked in, and every rank (a separate sampler) agrees. */
START_TEST(test_unmixed_resume)
{
    const double ratios[3] = {0.2, 0.3, 0.5};
    enum { N = 2000 };
    int straight[N];
    uz_task_sampler a, b, c;
    UZ_CK_OK(uz_sampler_init(&a, 3, ratios, 1234, false));
    for (int64_t t = 0; t < N; t++)
        straight[t] = uz_sampler_step_task(&a, t);
    UZ_CK_OK(uz_sampler_init(&b, 3, ratios, 1234, false));
    for (int64_t t = 777; t < N; t++)
        ck_assert_int_eq(uz_sampler_step_task(&b, t), straight[t]);
    UZ_CK_OK(uz_sampler_init(&c, 3, ratios, 1234, false));
    for (int64_t t = N - 1; t >= 0; t--)
        ck_assert_int_eq(uz_sampler_step_task(&c, t), straight[t]);
    for (int k = 0; k < 3; k++)
        ck_assert_int_eq(c.steps[k], a.steps[k]);
}
END_TEST

START_TEST(test_seeds_differ)
{
    const double ratios[2] = {1.0, 1.0};
    uz_task_sampler a, b;
    UZ_CK_OK(uz_sampler_init(&a, 2, ratios, 1, false));
    UZ_CK_OK(uz_sampler_init(&b, 2, ratios, 2, false));
    int differ = 0;
    for (int64_t t = 0; t < 1000; t++)
        differ += uz_sampler_step_task(&a, t) != uz_sampler_step_task(&b, t);
    /* independent fair draws disagree half the time */
    ck_assert_msg(differ > 400 && differ < 600, "%d of 1000 differ", differ);
}
END_TEST

START_TEST(test_mixed)
{
    const double ratios[3] = {5.0, 3.0, 2.0}, p[3] = {0.5, 0.3, 0.2};
    enum { STEPS = 2000, BATCH = 64 };
    uz_task_sampler s, r;
    UZ_CK_OK(uz_sampler_init(&s, 3, ratios, 99, true));
    int tasks[BATCH], again[BATCH];
    int64_t mine[3] = {0};
    int mixed_batches = 0;
    for (int64_t t = 0; t < STEPS; t++) {
        uz_sampler_step_mixed(&s, t, BATCH, tasks);
        bool seen[3] = {false, false, false};
        for (int i = 0; i < BATCH; i++) {
            ck_assert(tasks[i] >= 0 && tasks[i] < 3);
            mine[tasks[i]]++;
            seen[tasks[i]] = true;
        }
        mixed_batches += seen[0] + seen[1] + seen[2] > 1;
    }
    ck_assert_int_eq(mixed_batches, STEPS);
    for (int k = 0; k < 3; k++)
        ck_assert_int_eq(s.steps[k], mine[k]);
    check_counts(s.steps, p, 3, (int64_t)STEPS * BATCH);
    /* resume: a fresh sampler asked for step 1500 alone gives the same batch */
    UZ_CK_OK(uz_sampler_init(&r, 3, ratios, 99, true));
    uz_sampler_step_mixed(&s, 1500, BATCH, tasks);
    uz_sampler_step_mixed(&r, 1500, BATCH, again);
    ck_assert(memcmp(tasks, again, sizeof tasks) == 0);
    int64_t counted = r.steps[0] + r.steps[1] + r.steps[2];
    ck_assert_int_eq(counted, BATCH);
}
END_TEST

static void check_init_fails(int n, const double *ratios, const char *want)
{
    uz_task_sampler s;
    ck_assert_int_eq(uz_sampler_init(&s, n, ratios, 0, false), UZ_ERR_ARG);
    ck_assert_msg(strstr(uz_error_message(), want), "%s lacks %s", uz_error_message(), want);
}

START_TEST(test_bad_config)
{
    double ok[UZ_MAX_TASKS + 1];
    for (int k = 0; k <= UZ_MAX_TASKS; k++)
        ok[k] = 1.0;
    check_init_fails(0, ok, "n_tasks");
    check_init_fails(UZ_MAX_TASKS + 1, ok, "n_tasks");
    check_init_fails(2, NULL, "ratios");
    check_init_fails(3, (double[]){1.0, 0.0, 1.0}, "task 1");
    check_init_fails(2, (double[]){-0.5, 1.0}, "task 0");
    check_init_fails(2, (double[]){1.0, NAN}, "task 1");
    check_init_fails(2, (double[]){1.0, INFINITY}, "task 1");
    check_init_fails(2, (double[]){1e308, 1e308}, "sum");
    uz_task_sampler s;
    UZ_CK_OK(uz_sampler_init(&s, UZ_MAX_TASKS, ok, 0, false));
}
END_TEST

START_TEST(test_bad_calls)
{
    const double ratios[2] = {1.0, 1.0};
    uz_task_sampler un, mx;
    UZ_CK_OK(uz_sampler_init(&un, 2, ratios, 5, false));
    UZ_CK_OK(uz_sampler_init(&mx, 2, ratios, 5, true));
    ck_assert_int_eq(uz_sampler_step_task(&un, -1), -1);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "step -1"));
    ck_assert_int_eq(uz_sampler_step_task(&mx, 0), -1);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "unmixed"));
    int tasks[4] = {7, 7, 7, 7};
    uz_sampler_step_mixed(&un, 0, 4, tasks);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(tasks[i], -1);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "mixed"));
    ck_assert_int_eq(un.steps[0] + un.steps[1] + mx.steps[0] + mx.steps[1], 0);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("sampler");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_unmixed_frequencies);
    tcase_add_test(tc, test_unmixed_single_task);
    tcase_add_test(tc, test_unmixed_resume);
    tcase_add_test(tc, test_seeds_differ);
    tcase_add_test(tc, test_mixed);
    tcase_add_test(tc, test_bad_config);
    tcase_add_test(tc, test_bad_calls);
    suite_add_tcase(s, tc);
    return s;
}
