/* Full-ranking metrics against a brute-force sort on random scores with
 * many ties, known values, history masking and the error cases. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "gradcheck.h"
#include "recsys/recsys.h"

typedef struct entry {
    float s;
    int32_t item;
    int is_target;
} entry;

/* Descending score; among equal scores the target first (the documented
 * rule: only strictly higher scores count). */
static int cmp_entry(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->s != y->s)
        return x->s > y->s ? -1 : 1;
    if (x->is_target != y->is_target)
        return y->is_target - x->is_target;
    return x->item - y->item;
}

static int64_t brute_rank(const float *row, int64_t n, int32_t target)
{
    entry *e = malloc((size_t)n * sizeof *e);
    for (int64_t i = 1; i <= n; i++)
        e[i - 1] = (entry){row[i], (int32_t)i, i == target};
    qsort(e, (size_t)n, sizeof *e, cmp_entry);
    int64_t r = -1;
    for (int64_t i = 0; i < n && r < 0; i++)
        if (e[i].is_target)
            r = i;
    free(e);
    return r;
}

static void check_random(int levels, unsigned seed)
{
    const int64_t b = 64, n = 300;
    srand(seed);
    float *scores = malloc((size_t)(b * (n + 1)) * sizeof *scores);
    int32_t *targets = malloc((size_t)b * sizeof *targets);
    int64_t *ranks = malloc((size_t)b * sizeof *ranks);
    for (int64_t i = 0; i < b * (n + 1); i++)
        scores[i] = levels ? (float)(rand() % levels) : (float)rand() / (float)RAND_MAX;
    for (int64_t r = 0; r < b; r++) {
        scores[r * (n + 1)] = 1e30f; /* the pad column must never count */
        targets[r] = (int32_t)(1 + rand() % n);
    }
    /* Put a few targets near the top so every K sees hits. */
    for (int64_t r = 0; r < b; r += 3)
        scores[r * (n + 1) + targets[r]] = levels ? (float)(levels - 1 - (r % 2)) : 0.999f;
    UZ_CK_OK(uz_rank_targets(scores, b, n, targets, ranks));
    uz_rank_metrics m = {0};
    uz_rank_metrics_add(&m, ranks, b);
    double hr[UZ_RANK_NK] = {0}, nd[UZ_RANK_NK] = {0}, mrr = 0;
    for (int64_t r = 0; r < b; r++) {
        int64_t want = brute_rank(scores + r * (n + 1), n, targets[r]);
        ck_assert_int_eq(ranks[r], want);
        for (int j = 0; j < UZ_RANK_NK; j++)
            if (want + 1 <= uz_rank_ks[j]) {
                hr[j] += 1;
                nd[j] += log(2.0) / log((double)want + 2.0);
            }
        mrr += want < 10 ? 1.0 / (double)(want + 1) : 0.0;
    }
    ck_assert_int_eq(m.count, b);
    const char *hn[] = {"hit@5", "HR@10", "recall@20", "Hit@50"};
    const char *nn[] = {"ndcg@5", "NDCG@10", "ndcg@20", "ndcg@50"};
    for (int j = 0; j < UZ_RANK_NK; j++) {
        double v;
        UZ_CK_OK(uz_rank_metric(&m, hn[j], &v));
        ck_assert_double_eq_tol(v, hr[j] / (double)b, 1e-12);
        UZ_CK_OK(uz_rank_metric(&m, nn[j], &v));
        ck_assert_double_eq_tol(v, nd[j] / (double)b, 1e-12);
    }
    double v;
    UZ_CK_OK(uz_rank_metric(&m, "MRR@10", &v));
    ck_assert_double_eq_tol(v, mrr / (double)b, 1e-12);
    free(scores);
    free(targets);
    free(ranks);
}

START_TEST(test_against_brute_force)
{
    check_random(7, 1);   /* heavy ties */
    check_random(50, 2);  /* some ties */
    check_random(0, 3);   /* continuous */
}
END_TEST

START_TEST(test_known_values)
{
    uz_rank_metrics m = {0};
    const int64_t ranks[] = {0, 3, 7, 30, 60};
    uz_rank_metrics_add(&m, ranks, 5);
    double v;
    UZ_CK_OK(uz_rank_metric(&m, "hit@5", &v));
    ck_assert_double_eq_tol(v, 2.0 / 5, 1e-12);
    UZ_CK_OK(uz_rank_metric(&m, "hit@10", &v));
    ck_assert_double_eq_tol(v, 3.0 / 5, 1e-12);
    UZ_CK_OK(uz_rank_metric(&m, "hit@20", &v));
    ck_assert_double_eq_tol(v, 3.0 / 5, 1e-12);
    UZ_CK_OK(uz_rank_metric(&m, "hit@50", &v));
    ck_assert_double_eq_tol(v, 4.0 / 5, 1e-12);
    UZ_CK_OK(uz_rank_metric(&m, "ndcg@5", &v));
    ck_assert_double_eq_tol(v, (1.0 + 1.0 / log2(5.0)) / 5, 1e-12);
    UZ_CK_OK(uz_rank_metric(&m, "ndcg@50", &v));
    ck_assert_double_eq_tol(v, (1.0 + 1.0 / log2(5.0) + 1.0 / log2(9.0) + 1.0 / log2(32.0)) / 5,
                            1e-12);
    UZ_CK_OK(uz_rank_metric(&m, "mrr@10", &v));
    ck_assert_double_eq_tol(v, (1.0 + 0.25 + 0.125) / 5, 1e-12);
    char buf[256];
    uz_rank_metrics_format(&m, buf, sizeof buf);
    ck_assert_str_eq(buf, "HR@5 0.4000 HR@10 0.6000 HR@20 0.6000 HR@50 0.8000 NDCG@5 0.2861 "
                          "NDCG@10 0.3492 NDCG@20 0.3492 NDCG@50 0.3892 MRR@10 0.2750");
    ck_assert_int_eq(uz_rank_metric(&m, "ndcg@7", &v), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "unknown metric 'ndcg@7'"));
    ck_assert_int_eq(uz_rank_metric(&m, "mrr@5", &v), UZ_ERR_ARG);
    ck_assert_int_eq(uz_rank_metric(&m, "precision@5", &v), UZ_ERR_ARG);
}
END_TEST

START_TEST(test_errors)
{
    float s[2 * 5] = {0, 1, 2, 3, 4, 0, 4, 3, 2, 1};
    int32_t t[2] = {2, 4};
    int64_t r[2];
    UZ_CK_OK(uz_rank_targets(s, 2, 4, t, r));
    ck_assert_int_eq(r[0], 2);
    ck_assert_int_eq(r[1], 3);
    t[1] = 0;
    ck_assert_int_eq(uz_rank_targets(s, 2, 4, t, r), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "row 1 has target 0 outside 1..4"));
    t[1] = 5;
    ck_assert_int_eq(uz_rank_targets(s, 2, 4, t, r), UZ_ERR_ARG);
    t[1] = 1;
    s[8] = NAN;
    ck_assert_int_eq(uz_rank_targets(s, 2, 4, t, r), UZ_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "row 1 has a NaN score"));
}
END_TEST

START_TEST(test_history_mask)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/uz_rank_%d.txt", (int)getpid());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("1 5 4 6 2 1\n2 3 1 3 2\n", f);
    fclose(f);
    uz_seqrec d;
    UZ_CK_OK(uz_seqrec_load_text(path, &d));
    unlink(path);
    uz_seqrec_split sp;
    UZ_CK_OK(uz_seqrec_split_loo(&d, &sp));
    uz_seqrec_batch bt;
    UZ_CK_OK(uz_seqrec_batch_init(&bt, 2, 2)); /* window 2 < history: masking uses all of it */
    const int64_t idx[] = {0, 1};
    UZ_CK_OK(uz_seqrec_batch_fill(&bt, &d, &sp.test, idx, 2, true));
    ck_assert_int_eq(bt.targets[0], 1);
    ck_assert_int_eq(bt.targets[1], 2); /* 2 is not in user 2's history (3 1 3) */
    const int64_t n = 6;
    /* Item i scores i, so unmasked the target's rank is n - target. */
    float s[2 * 7];
    for (int r = 0; r < 2; r++)
        for (int i = 0; i <= n; i++)
            s[r * 7 + i] = (float)i;
    int64_t ranks[2];
    UZ_CK_OK(uz_rank_targets(s, 2, n, bt.targets, ranks));
    ck_assert_int_eq(ranks[0], 5);
    ck_assert_int_eq(ranks[1], 4);
    uz_rank_mask_history(s, n, &d, &bt);
    ck_assert(isinf(s[5]) && s[5] < 0);
    ck_assert_float_eq(s[3], 3.0f);  /* 3 is not in user 1's history */
    ck_assert_float_eq(s[1], 1.0f);  /* the test target itself is not history */
    UZ_CK_OK(uz_rank_targets(s, 2, n, bt.targets, ranks));
    ck_assert_int_eq(ranks[0], 1);   /* only item 3 is left above it */
    ck_assert_int_eq(ranks[1], 3);   /* 4, 5, 6 stay; 3 was masked */
    uz_seqrec_batch_free(&bt);
    uz_seqrec_split_free(&sp);
    uz_seqrec_free(&d);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("rank_metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, test_against_brute_force);
    tcase_add_test(tc, test_known_values);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_history_mask);
    suite_add_tcase(s, tc);
    return s;
}
