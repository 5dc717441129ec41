/* vision/det_metrics: COCO box mAP on hand-made cases whose values are
 * worked out below (and agree with pycocotools 2.0 to the last digits
 * quoted): perfect detections, a false positive ranked first, a missed
 * object, an IoU of exactly 0.6, duplicates, no detections / no ground
 * truth, crowd regions, the 100-detection cap, score ties across images,
 * detections of categories without ground truth, each category's AP;
 * input errors. Then the per-image cut of uz_det_keep_top.
 *
 * Precision is tp / (tp + fp + 2^-52) as in pycocotools, so a perfect
 * curve reads 1 - 2.2e-16: every comparison allows 1e-12. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"
#include "vision/det_metrics.h"

#define B10 {0, 0, 10, 10}
#define FAR {50, 50, 10, 10}

static uz_det_map eval(const uz_det_pred *d, int64_t nd, const uz_det_gt *g, int64_t ng)
{
    uz_det_map m;
    memset(&m, 0xff, sizeof m);
    UZ_CK_OK(uz_det_map_compute(d, nd, g, ng, &m));
    return m;
}

static void ck_map(uz_det_map m, double ap, double ap50, double ap75)
{
    ck_assert_msg(fabs(m.ap - ap) < 1e-12, "AP %.17g, want %.17g", m.ap, ap);
    ck_assert_msg(fabs(m.ap50 - ap50) < 1e-12, "AP50 %.17g, want %.17g", m.ap50, ap50);
    ck_assert_msg(fabs(m.ap75 - ap75) < 1e-12, "AP75 %.17g, want %.17g", m.ap75, ap75);
}

START_TEST(test_perfect)
{
    /* Every object found exactly, in two categories over two images. */
    const uz_det_gt g[3] = {{1, 1, B10, false}, {1, 2, {20, 20, 5, 5}, false},
                            {2, 1, {5, 5, 10, 20}, false}};
    const uz_det_pred d[3] = {{1, 1, 0.9, B10}, {1, 2, 0.8, {20, 20, 5, 5}},
                              {2, 1, 0.7, {5, 5, 10, 20}}};
    uz_det_map m = eval(d, 3, g, 3);
    ck_map(m, 1, 1, 1);
    ck_assert_int_eq(m.n_categories, 2);
}
END_TEST

START_TEST(test_false_positive_first)
{
    /* Ranking FP, TP: precision 0 then 1/2, made monotone -> 1/2 at every
     * recall point up to 1, at every threshold: AP = 0.5. */
    const uz_det_gt g[1] = {{1, 1, B10, false}};
    const uz_det_pred d[2] = {{1, 1, 0.9, FAR}, {1, 1, 0.8, B10}};
    ck_map(eval(d, 2, g, 1), 0.5, 0.5, 0.5);
}
END_TEST

START_TEST(test_missed_object)
{
    /* One of two objects found: recall reaches 0.5, so the 51 recall points
     * 0, .01, ..., .50 read precision 1 and the other 50 read 0: 51/101. */
    const uz_det_gt g[2] = {{1, 1, B10, false}, {1, 1, {30, 30, 10, 10}, false}};
    const uz_det_pred d[1] = {{1, 1, 0.9, B10}};
    ck_map(eval(d, 1, g, 2), 51.0 / 101, 51.0 / 101, 51.0 / 101);
}
END_TEST

START_TEST(test_iou_0_6)
{
    /* IoU 60 / 100 = 0.6 exactly: a hit at .50, .55 and .60 (>= counts),
     * a false positive from .65 on: AP = 3/10, AP50 = 1, AP75 = 0. */
    const uz_det_gt g[1] = {{1, 1, B10, false}};
    const uz_det_pred d[1] = {{1, 1, 1.0, {0, 0, 6, 10}}};
    uz_det_map m = eval(d, 1, g, 1);
    ck_map(m, 0.3, 1, 0);
    ck_assert_double_eq_tol(m.ap_at[2], 1.0, 1e-12);
    ck_assert_double_eq_tol(m.ap_at[3], 0.0, 1e-12);
}
END_TEST

START_TEST(test_duplicates)
{
    /* A duplicate ranked below the hit is a false positive after full
     * recall: precision 1 then 1/2, every recall point reads 1: AP 1. */
    const uz_det_gt g[1] = {{1, 1, B10, false}};
    const uz_det_pred d[2] = {{1, 1, 0.9, B10}, {1, 1, 0.8, B10}};
    ck_map(eval(d, 2, g, 1), 1, 1, 1);
    /* A looser box ranked above the exact one: at .50-.60 it is the hit and
     * the exact box the duplicate (AP 1); from .65 it misses and the exact
     * box hits second (AP 1/2): AP = (3 * 1 + 7 * 0.5) / 10 = 0.65. */
    const uz_det_pred d2[2] = {{1, 1, 0.9, {0, 0, 6, 10}}, {1, 1, 0.8, B10}};
    ck_map(eval(d2, 2, g, 1), 0.65, 1, 0.5);
}
END_TEST

START_TEST(test_empty)
{
    /* Objects but no detections: AP 0 over one category. */
    const uz_det_gt g[1] = {{1, 1, B10, false}};
    uz_det_map m = eval(NULL, 0, g, 1);
    ck_map(m, 0, 0, 0);
    ck_assert_int_eq(m.n_categories, 1);
    /* No ground truth at all: nothing to average, -1 as pycocotools. */
    const uz_det_pred d[1] = {{1, 1, 0.9, B10}};
    m = eval(d, 1, NULL, 0);
    ck_map(m, -1, -1, -1);
    ck_assert_int_eq(m.n_categories, 0);
    m = eval(NULL, 0, NULL, 0);
    ck_map(m, -1, -1, -1);
}
END_TEST

START_TEST(test_crowd)
{
    /* The top detection lies inside a crowd region (IoU = intersection over
     * its own area = 1): ignored, not a false positive, so the exact hit
     * below it gives AP 1 (0.5 if it counted). Category 2 has only a crowd
     * region: no real object, so it is left out (n_categories 1). */
    const uz_det_gt g[3] = {{1, 1, B10, false}, {1, 1, {20, 20, 20, 20}, true},
                            {1, 2, {0, 0, 5, 5}, true}};
    const uz_det_pred d[3] = {{1, 1, 0.9, {22, 22, 5, 5}}, {1, 1, 0.8, B10},
                              {1, 2, 0.9, {0, 0, 5, 5}}};
    uz_det_map m = eval(d, 3, g, 3);
    ck_map(m, 1, 1, 1);
    ck_assert_int_eq(m.n_categories, 1);
    /* A crowd region absorbs any number of detections. */
    const uz_det_pred d2[3] = {{1, 1, 0.9, {22, 22, 5, 5}}, {1, 1, 0.85, {30, 30, 5, 5}},
                               {1, 1, 0.8, B10}};
    ck_map(eval(d2, 3, g, 2), 1, 1, 1);
}
END_TEST

START_TEST(test_max_dets)
{
    /* 100 higher-scored false positives push the hit to rank 101, past the
     * cap: AP 0. With 99 of them it is rank 100: precision 1/100 at full
     * recall, monotone back to recall 0: AP 0.01. */
    enum { N = 101 };
    uz_det_pred d[N];
    for (int i = 0; i < N - 1; i++)
        d[i] = (uz_det_pred){1, 1, 1.0 - i * 0.001, {100.0 + i, 100, 5, 5}};
    d[N - 1] = (uz_det_pred){1, 1, 0.5, B10};
    const uz_det_gt g[1] = {{1, 1, B10, false}};
    ck_map(eval(d, N, g, 1), 0, 0, 0);
    ck_map(eval(d + 1, N - 1, g, 1), 0.01, 0.01, 0.01);
    /* The cap is per image: all 101 split over two images count, the hit
     * ranks 101st of 101 and precision 1/101 holds from recall 0 to 1. */
    for (int i = 0; i < 50; i++)
        d[i].image_id = 2;
    ck_map(eval(d, N, g, 1), 1.0 / 101, 1.0 / 101, 1.0 / 101);
}
END_TEST

START_TEST(test_score_ties_across_images)
{
    /* Equal scores rank by image id (pycocotools' stable sort over images in
     * id order), whatever the input order: image 3's miss before image 7's
     * hit. Recall 1/2 at precision 1/2: 51 points of 0.5 -> 25.5/101. */
    const uz_det_gt g[2] = {{7, 1, B10, false}, {3, 1, B10, false}};
    const uz_det_pred d[2] = {{7, 1, 0.5, B10}, {3, 1, 0.5, FAR}};
    ck_map(eval(d, 2, g, 2), 25.5 / 101, 25.5 / 101, 25.5 / 101);
}
END_TEST

START_TEST(test_category_without_truth)
{
    /* Category 3 has no ground truth: its detections count nowhere. */
    const uz_det_gt g[1] = {{1, 1, B10, false}};
    const uz_det_pred d[3] = {{1, 3, 0.99, B10}, {1, 1, 0.5, B10}, {2, 3, 0.9, B10}};
    uz_det_map m = eval(d, 3, g, 1);
    ck_map(m, 1, 1, 1);
    ck_assert_int_eq(m.n_categories, 1);
}
END_TEST

START_TEST(test_categories)
{
    /* Category 2 finds both objects (AP 1), category 1 one of two (51/101,
     * as in test_missed_object); category 5 has no truth and no entry. The
     * entries come in ascending id and their mean is the mAP. */
    const uz_det_gt g[4] = {{1, 2, B10, false}, {2, 2, B10, false}, {1, 1, B10, false},
                            {2, 1, {30, 30, 10, 10}, false}};
    const uz_det_pred d[4] = {{1, 2, 0.9, B10}, {2, 2, 0.8, B10}, {1, 1, 0.7, B10},
                              {1, 5, 0.95, B10}};
    uz_det_map m;
    uz_det_category_ap c[2];
    int64_t n = -1;
    UZ_CK_OK(uz_det_map_compute_categories(d, 4, g, 4, &m, c, 2, &n));
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(c[0].category_id, 1);
    ck_assert_int_eq(c[1].category_id, 2);
    ck_assert_msg(fabs(c[0].ap - 51.0 / 101) < 1e-12 && fabs(c[0].ap50 - 51.0 / 101) < 1e-12,
                  "category 1: AP %.17g, AP50 %.17g", c[0].ap, c[0].ap50);
    ck_assert(fabs(c[1].ap - 1) < 1e-12 && fabs(c[1].ap50 - 1) < 1e-12);
    ck_map(m, (1 + 51.0 / 101) / 2, (1 + 51.0 / 101) / 2, (1 + 51.0 / 101) / 2);
    ck_assert_double_eq(m.ap50, eval(d, 4, g, 4).ap50);
    /* APs that differ across thresholds: category 1's detection at IoU 0.6
     * with its object (test_iou_0_6) counts at .50-.60 only. */
    const uz_det_pred d6[1] = {{1, 1, 0.9, {0, 0, 10, 6}}};
    UZ_CK_OK(uz_det_map_compute_categories(d6, 1, g + 2, 1, &m, c, 2, &n));
    ck_assert_int_eq(n, 1);
    ck_assert(fabs(c[0].ap50 - 1) < 1e-12 && fabs(c[0].ap - 0.3) < 1e-12);
    /* No room for the second category. */
    ck_assert_int_eq(uz_det_map_compute_categories(d, 4, g, 4, &m, c, 1, &n), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "room for the APs of 1 categories"));
    ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(test_errors)
{
    const uz_det_gt g[1] = {{1, 1, B10, false}};
    uz_det_pred d[1] = {{1, 1, NAN, B10}};
    uz_det_map m;
    ck_assert_int_eq(uz_det_map_compute(d, 1, g, 1, &m), UZ_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "detection 0 has score nan"));
    d[0].score = 0.5;
    d[0].box[2] = -1;
    ck_assert_int_eq(uz_det_map_compute(d, 1, g, 1, &m), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "negative size"));
    const uz_det_gt bad[2] = {{1, 1, B10, false}, {1, 1, {0, INFINITY, 1, 1}, false}};
    ck_assert_int_eq(uz_det_map_compute(NULL, 0, bad, 2, &m), UZ_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "ground truth 1"));
    ck_assert_int_eq(uz_det_map_compute(NULL, 2, g, 1, &m), UZ_ERR_ARG);
}
END_TEST

START_TEST(test_keep_top)
{
    /* Image 7 has four detections in three categories, image 3 two; the
     * two best of each survive whatever their category, in input order; a
     * tie keeps the earlier one. */
    uz_det_pred d[6] = {{7, 1, 0.2, B10}, {3, 1, 0.9, B10}, {7, 2, 0.8, B10},
                        {7, 1, 0.5, B10}, {7, 3, 0.5, B10}, {3, 2, 0.1, B10}};
    int64_t n = -1;
    UZ_CK_OK(uz_det_keep_top(d, 6, 2, &n));
    ck_assert_int_eq(n, 4);
    const int64_t img[4] = {3, 7, 7, 3}, cat[4] = {1, 2, 1, 2};
    const double score[4] = {0.9, 0.8, 0.5, 0.1};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(d[i].image_id, img[i]);
        ck_assert_int_eq(d[i].category_id, cat[i]);
        ck_assert(d[i].score == score[i]);
    }
    UZ_CK_OK(uz_det_keep_top(d, 4, 0, &n));
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(uz_det_keep_top(d, 4, -1, &n), UZ_ERR_ARG);
    ck_assert_int_eq(uz_det_keep_top(d, -1, 2, &n), UZ_ERR_ARG);
    d[1].score = NAN;
    ck_assert_int_eq(uz_det_keep_top(d, 4, 2, &n), UZ_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "detection 1 has score nan"));
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("det_metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_perfect);
    tcase_add_test(tc, test_false_positive_first);
    tcase_add_test(tc, test_missed_object);
    tcase_add_test(tc, test_iou_0_6);
    tcase_add_test(tc, test_duplicates);
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_crowd);
    tcase_add_test(tc, test_max_dets);
    tcase_add_test(tc, test_score_ties_across_images);
    tcase_add_test(tc, test_category_without_truth);
    tcase_add_test(tc, test_categories);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_keep_top);
    suite_add_tcase(s, tc);
    return s;
}
