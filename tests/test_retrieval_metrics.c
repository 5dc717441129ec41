/* vision/retrieval_metrics: recall at 1/5/10 both ways and top-1 accuracy
 * on hand-made score matrices whose ranks are worked out below, including
 * ties (which go against the hit), images with several texts, a large
 * (threaded) case, and input errors. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"
#include "vision/retrieval_metrics.h"

static void ck_recall(uz_retrieval_recall r, const double *want)
{
    const double got[6] = {r.i2t_r1, r.i2t_r5, r.i2t_r10, r.t2i_r1, r.t2i_r5, r.t2i_r10};
    for (int i = 0; i < 6; i++)
        ck_assert_msg(fabs(got[i] - want[i]) < 1e-12, "recall %d: %.17g, want %.17g", i, got[i],
                      want[i]);
}

START_TEST(test_small_by_hand)
{
    /* 3 images, 4 texts; texts 0 and 1 describe image 0, text 2 image 1,
     * text 3 image 2. */
    const float sim[12] = {0.9f, 0.1f, 0.5f, 0.2f,   /* image 0 */
                           0.8f, 0.3f, 0.4f, 0.7f,   /* image 1 */
                           0.6f, 0.6f, 0.6f, 0.6f};  /* image 2 */
    const int64_t text_image[4] = {0, 0, 1, 2};
    /* Image -> text, rank = other images' texts scoring >= its best text:
     *   image 0: best 0.9, none above: rank 0;
     *   image 1: 0.4, beaten by 0.8 and 0.7: rank 2;
     *   image 2: 0.6, tied by three texts of others (ties count against): rank 3.
     * Text -> image, rank = other images scoring >= its own in its column:
     *   text 0: 0.9 vs 0.8, 0.6: 0;  text 1: 0.1 vs 0.3, 0.6: 2;
     *   text 2: 0.4 vs 0.5, 0.6: 2;  text 3: 0.6 vs 0.2, 0.7: 1. */
    uz_retrieval_recall r;
    UZ_CK_OK(uz_retrieval_recall_compute(sim, 3, 4, text_image, &r));
    ck_recall(r, (const double[]){1.0 / 3, 1, 1, 0.25, 1, 1});
}
END_TEST

/* n images with one text each: sim[i][t] = 0.5 on the diagonal, 1 below it
 * (t < i), 0 above. Image i is beaten by texts 0..i-1 (rank i); text t by
 * images t+1..n-1 (rank n-1-t). So R@K = K/n both ways. */
static float *graded(int64_t n)
{
    float *s = malloc(sizeof(float) * (size_t)(n * n));
    for (int64_t i = 0; i < n; i++)
        for (int64_t t = 0; t < n; t++)
            s[i * n + t] = t == i ? 0.5f : (t < i ? 1.0f : 0.0f);
    return s;
}

START_TEST(test_graded_and_ties)
{
    enum { N = 12 };
    float *s = graded(N);
    int64_t ti[N];
    for (int i = 0; i < N; i++)
        ti[i] = i;
    uz_retrieval_recall r;
    UZ_CK_OK(uz_retrieval_recall_compute(s, N, N, ti, &r));
    ck_recall(r, (const double[]){1.0 / N, 5.0 / N, 10.0 / N, 1.0 / N, 5.0 / N, 10.0 / N});
    /* A constant scorer: every rank is 11 (all others tie), no hit even at 10. */
    for (int i = 0; i < N * N; i++)
        s[i] = 0.25f;
    UZ_CK_OK(uz_retrieval_recall_compute(s, N, N, ti, &r));
    ck_recall(r, (const double[]){0, 0, 0, 0, 0, 0});
    free(s);
}
END_TEST

START_TEST(test_large_threaded)
{
    enum { N = 300 }; /* 90000 scores: above the threading threshold */
    float *s = graded(N);
    int64_t *ti = malloc(sizeof(int64_t) * N);
    for (int i = 0; i < N; i++)
        ti[i] = i;
    uz_retrieval_recall r;
    UZ_CK_OK(uz_retrieval_recall_compute(s, N, N, ti, &r));
    ck_recall(r, (const double[]){1.0 / N, 5.0 / N, 10.0 / N, 1.0 / N, 5.0 / N, 10.0 / N});
    free(ti);
    free(s);
}
END_TEST

START_TEST(test_recall_errors)
{
    float sim[4] = {1, 0, 0, 1};
    int64_t ti[2] = {0, 2};
    uz_retrieval_recall r;
    ck_assert_int_eq(uz_retrieval_recall_compute(sim, 2, 2, ti, &r), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "text 1 names image 2"));
    ti[1] = 0;
    ck_assert_int_eq(uz_retrieval_recall_compute(sim, 2, 2, ti, &r), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "image 1 has no text"));
    ti[1] = 1;
    sim[2] = NAN;
    ck_assert_int_eq(uz_retrieval_recall_compute(sim, 2, 2, ti, &r), UZ_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "[1][0] is NaN"));
    ck_assert_int_eq(uz_retrieval_recall_compute(sim, 0, 2, ti, &r), UZ_ERR_ARG);
}
END_TEST

START_TEST(test_top1)
{
    /* Hit, tie for first (a miss), hit, miss: 2 of 4. */
    const float s[12] = {1, 2, 3, 3, 3, 1, 0, 5, 1, 2, 1, 0};
    const int32_t labels[4] = {2, 0, 1, 1};
    double acc = -1;
    UZ_CK_OK(uz_top1_accuracy(s, 4, 3, labels, &acc));
    ck_assert_double_eq(acc, 0.5);
    /* One class: always right. */
    UZ_CK_OK(uz_top1_accuracy(s, 4, 1, (const int32_t[]){0, 0, 0, 0}, &acc));
    ck_assert_double_eq(acc, 1.0);
    ck_assert_int_eq(uz_top1_accuracy(s, 4, 3, (const int32_t[]){0, 3, 0, 0}, &acc), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "label 3 of row 1"));
    const float bad[2] = {0, NAN};
    ck_assert_int_eq(uz_top1_accuracy(bad, 1, 2, labels + 1, &acc), UZ_ERR_NUMERIC);
    ck_assert_int_eq(uz_top1_accuracy(s, 0, 3, labels, &acc), UZ_ERR_ARG);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("retrieval_metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_small_by_hand);
    tcase_add_test(tc, test_graded_and_ties);
    tcase_add_test(tc, test_large_threaded);
    tcase_add_test(tc, test_recall_errors);
    tcase_add_test(tc, test_top1);
    suite_add_tcase(s, tc);
    return s;
}
