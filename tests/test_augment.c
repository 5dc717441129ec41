/* The sequence augmentations (recsys/augment.c): each operator's exact
 * output for given draws, the counts as the official code floors them,
 * properties of the batch function over many random rows (two different
 * operators per row, lengths, crop windows, masked counts, reorder keeping
 * the multiset and touching one window, rough uniformity of the operator
 * choice), determinism across thread counts and batch sizes, and errors. */
#include <check.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "recsys/augment.h"

enum { W = 8 };

static void expect_row(const int32_t *got, const int32_t *want, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "position %lld: got %d, want %d", (long long)i,
                      (int)got[i], (int)want[i]);
}

START_TEST(test_augment_operators_fixed_draws)
{
    const int32_t row[W] = {5, 6, 7, 8, 9, 0, 0, 0};
    int32_t out[W];
    UZ_CK_OK(uz_augment_crop(row, 5, W, 2, 1, out));
    expect_row(out, (int32_t[]){6, 7, 0, 0, 0, 0, 0, 0}, W);
    UZ_CK_OK(uz_augment_crop(row, 5, W, 2, 3, out));   /* the window may end at L */
    expect_row(out, (int32_t[]){8, 9, 0, 0, 0, 0, 0, 0}, W);
    UZ_CK_OK(uz_augment_mask(row, 5, W, (int32_t[]){4, 0}, 2, out));
    expect_row(out, (int32_t[]){0, 6, 7, 8, 0, 0, 0, 0}, W);
    UZ_CK_OK(uz_augment_reorder(row, 5, W, 1, (int32_t[]){2, 0, 1}, 3, out));
    expect_row(out, (int32_t[]){5, 8, 6, 7, 9, 0, 0, 0}, W);
    UZ_CK_OK(uz_augment_reorder(row, 5, W, 0, (int32_t[]){3, 2, 1, 0}, 4, out));
    expect_row(out, (int32_t[]){8, 7, 6, 5, 9, 0, 0, 0}, W);
}
END_TEST

START_TEST(test_augment_operator_errors)
{
    const int32_t row[W] = {5, 6, 7, 8, 9, 0, 0, 0};
    int32_t out[W];
    ck_assert_int_eq(uz_augment_crop(row, 5, W, 3, 3, out), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "window [3, 3 + 3) outside the row's 5 items"));
    ck_assert_int_eq(uz_augment_mask(row, 5, W, (int32_t[]){5}, 1, out), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "position 5 (entry 0) outside [0, 5)"));
    ck_assert_int_eq(uz_augment_reorder(row, 5, W, 1, (int32_t[]){0, 3, 1}, 3, out), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "perm[1] = 3 outside [0, 3)"));
    ck_assert_int_eq(uz_augment_crop(row, 9, W, 1, 0, out), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "length 9 outside [0, 8]"));
}
END_TEST

START_TEST(test_augment_counts)
{
    ck_assert_int_eq(uz_augment_count(0.5, 5), 2);
    ck_assert_int_eq(uz_augment_count(0.5, 1), 0);
    ck_assert_int_eq(uz_augment_count(0.8, 5), 4);
    ck_assert_int_eq(uz_augment_count(0.8, 2), 1);
    ck_assert_int_eq(uz_augment_count(0.8, 50), 40);
    /* float32 product as the official tensor op: 10 * 0.7 -> 7 */
    ck_assert_int_eq(uz_augment_count(1.0 - 0.3, 10), 7);
    ck_assert_int_eq(uz_augment_count(0.7, 10), 7);
}
END_TEST

/* A batch of distinct nonzero ids (so every change is visible) with random
 * lengths in [0, max_len]. */
typedef struct batch {
    int64_t n, w;
    int32_t *ids, *len, *out[2], *out_len[2];
    uint8_t *ops;
} batch;

static batch batch_new(int64_t n, int64_t w, uint64_t seed)
{
    batch b = {.n = n, .w = w};
    b.ids = calloc((size_t)(n * w), sizeof(int32_t));
    b.len = calloc((size_t)n, sizeof(int32_t));
    for (int v = 0; v < 2; v++) {
        b.out[v] = calloc((size_t)(n * w), sizeof(int32_t));
        b.out_len[v] = calloc((size_t)n, sizeof(int32_t));
    }
    b.ops = calloc((size_t)(2 * n), 1);
    for (int64_t r = 0; r < n; r++) {
        b.len[r] = (int32_t)(uz_rng_uniform(seed, 1, (uint64_t)r) * (float)(w + 1));
        for (int32_t i = 0; i < b.len[r]; i++)
            b.ids[r * w + i] = (int32_t)(r * w + i + 1);
    }
    return b;
}

static void batch_free(batch *b)
{
    free(b->ids);
    free(b->len);
    for (int v = 0; v < 2; v++) {
        free(b->out[v]);
        free(b->out_len[v]);
    }
    free(b->ops);
}

static uz_status run(batch *b, uint64_t seed, uint64_t stream)
{
    uz_augment_config cfg = uz_augment_defaults();
    return uz_augment_batch(&cfg, b->ids, b->len, b->n, b->w, seed, stream, b->out, b->out_len,
                            b->ops);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* One view of row r against its operator's definition. */
static void check_view(const batch *b, int64_t r, int v, int64_t *crop_starts)
{
    const int32_t *in = b->ids + r * b->w, *out = b->out[v] + r * b->w;
    int32_t L = b->len[r], n = b->out_len[v][r];
    switch ((uz_aug_op)b->ops[r * 2 + v]) {
    case UZ_AUG_CROP: {
        int32_t keep = uz_augment_count(0.5, L);
        ck_assert_int_eq(n, keep);
        /* ids are consecutive, so the window's start is out[0] - in[0]. */
        int32_t start = out[0] - in[0];
        ck_assert(start >= 0 && start + keep <= L);
        crop_starts[start]++;
        for (int32_t i = 0; i < b->w; i++)
            ck_assert_int_eq(out[i], i < keep ? in[start + i] : 0);
        break;
    }
    case UZ_AUG_MASK: {
        ck_assert_int_eq(n, L);
        int32_t zeros = 0;
        for (int32_t i = 0; i < b->w; i++) {
            if (i < L && out[i] == 0)
                zeros++;
            else
                ck_assert_int_eq(out[i], in[i]);
        }
        ck_assert_int_eq(zeros, uz_augment_count(0.5, L));
        break;
    }
    case UZ_AUG_REORDER: {
        ck_assert_int_eq(n, L);
        int32_t k = uz_augment_count(0.8, L), first = -1, last = -1;
        for (int32_t i = 0; i < b->w; i++)
            if (out[i] != in[i]) {
                if (first < 0)
                    first = i;
                last = i;
            }
        if (first >= 0)
            ck_assert_int_le(last - first + 1, k);
        int32_t a[UZ_AUGMENT_MAX_LEN], c[UZ_AUGMENT_MAX_LEN];
        memcpy(a, in, sizeof(int32_t) * (size_t)L);
        memcpy(c, out, sizeof(int32_t) * (size_t)L);
        qsort(a, (size_t)L, sizeof *a, cmp_i32);
        qsort(c, (size_t)L, sizeof *c, cmp_i32);
        ck_assert_int_eq(memcmp(a, c, sizeof(int32_t) * (size_t)L), 0);
        for (int32_t i = L; i < b->w; i++)
            ck_assert_int_eq(out[i], 0);
        break;
    }
    case UZ_AUG_NONE:
        ck_assert_int_le(L, 1);
        ck_assert_int_eq(n, L);
        for (int32_t i = 0; i < b->w; i++)
            ck_assert_int_eq(out[i], in[i]);
        break;
    }
}

START_TEST(test_augment_batch_properties)
{
    enum { N = 6000, MAXW = 20 };
    batch b = batch_new(N, MAXW, 3);
    UZ_CK_OK(run(&b, 11, 0));
    int64_t first_op[3] = {0}, pairs = 0, crop_starts[MAXW + 1] = {0};
    for (int64_t r = 0; r < N; r++) {
        uint8_t o0 = b.ops[r * 2], o1 = b.ops[r * 2 + 1];
        if (b.len[r] > 1) {
            ck_assert_int_lt(o0, 3);
            ck_assert_int_lt(o1, 3);
            ck_assert_int_ne(o0, o1);
            first_op[o0]++;
            pairs++;
        } else {
            ck_assert_int_eq(o0, UZ_AUG_NONE);
            ck_assert_int_eq(o1, UZ_AUG_NONE);
        }
        for (int v = 0; v < 2; v++)
            check_view(&b, r, v, crop_starts);
    }
    /* Each operator is view 1's with probability 1/3: 5 sigma ~ 0.03. */
    for (int o = 0; o < 3; o++)
        ck_assert_msg(llabs(first_op[o] * 3 - pairs) < pairs / 10, "operator %d first %lld of %lld",
                      o, (long long)first_op[o], (long long)pairs);
    /* Starts cover 0 (the only one for L = 2, 3) and the far end L - keep. */
    ck_assert_int_gt(crop_starts[0], 0);
    ck_assert_int_gt(crop_starts[MAXW - MAXW / 2], 0);
    batch_free(&b);
}
END_TEST

START_TEST(test_augment_mask_positions_uniform)
{
    /* Rows of length 10 mask 5 positions: each position with probability 1/2. */
    enum { N = 4000 };
    batch b = batch_new(N, 10, 5);
    for (int64_t r = 0; r < N; r++)
        b.len[r] = 10;
    for (int64_t r = 0; r < N; r++)
        for (int32_t i = 0; i < 10; i++)
            b.ids[r * 10 + i] = i + 1;
    UZ_CK_OK(run(&b, 2, 9));
    int64_t masked[10] = {0}, rows = 0;
    for (int64_t r = 0; r < N; r++)
        for (int v = 0; v < 2; v++)
            if (b.ops[r * 2 + v] == UZ_AUG_MASK) {
                rows++;
                for (int32_t i = 0; i < 10; i++)
                    masked[i] += b.out[v][r * 10 + i] == 0;
            }
    for (int i = 0; i < 10; i++)
        ck_assert_msg(llabs(masked[i] * 2 - rows) < rows / 10, "position %d masked %lld of %lld", i,
                      (long long)masked[i], (long long)rows);
    batch_free(&b);
}
END_TEST

static bool same_views(const batch *a, const batch *b, int64_t rows)
{
    for (int v = 0; v < 2; v++)
        if (memcmp(a->out[v], b->out[v], sizeof(int32_t) * (size_t)(rows * a->w)) ||
            memcmp(a->out_len[v], b->out_len[v], sizeof(int32_t) * (size_t)rows))
            return false;
    return true;
}

START_TEST(test_augment_determinism)
{
    enum { N = 3000, MAXW = 50 };
    batch a = batch_new(N, MAXW, 7), b = batch_new(N, MAXW, 7);
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    UZ_CK_OK(run(&a, 5, 3));
    omp_set_num_threads(4);
    UZ_CK_OK(run(&b, 5, 3));
    omp_set_num_threads(threads);
    ck_assert(same_views(&a, &b, N));
    /* A row depends on (seed, stream, row) only: a shorter batch gives the
     * same first rows (a resumed run re-draws the same views). */
    batch c = batch_new(N, MAXW, 7);
    c.n = 100;
    UZ_CK_OK(run(&c, 5, 3));
    ck_assert(same_views(&a, &c, 100));
    /* Another stream (the next step) draws different views. */
    UZ_CK_OK(run(&b, 5, 4));
    ck_assert(!same_views(&a, &b, N));
    batch_free(&a);
    batch_free(&b);
    batch_free(&c);
}
END_TEST

START_TEST(test_augment_batch_errors)
{
    batch b = batch_new(4, W, 1);
    uz_augment_config cfg = uz_augment_defaults();
    b.len[2] = W + 1;
    ck_assert_int_eq(uz_augment_batch(&cfg, b.ids, b.len, b.n, b.w, 1, 0, b.out, b.out_len, NULL),
                     UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "lengths[2] = 9 outside [0, 8]"));
    b.len[2] = 1;
    cfg.mask_ratio = 1.5;
    ck_assert_int_eq(uz_augment_batch(&cfg, b.ids, b.len, b.n, b.w, 1, 0, b.out, b.out_len, NULL),
                     UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "mask_ratio 1.5 outside [0, 1]"));
    cfg = uz_augment_defaults();
    ck_assert_int_eq(uz_augment_batch(&cfg, b.ids, b.len, b.n, UZ_AUGMENT_MAX_LEN + 1, 1, 0,
                                      b.out, b.out_len, NULL),
                     UZ_ERR_ARG);
    batch_free(&b);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("augment");
    TCase *tc = tcase_create("augment");
    tcase_add_test(tc, test_augment_operators_fixed_draws);
    tcase_add_test(tc, test_augment_operator_errors);
    tcase_add_test(tc, test_augment_counts);
    tcase_add_test(tc, test_augment_batch_properties);
    tcase_add_test(tc, test_augment_mask_positions_uniform);
    tcase_add_test(tc, test_augment_determinism);
    tcase_add_test(tc, test_augment_batch_errors);
    suite_add_tcase(s, tc);
    return s;
}

#include "check_main.h"
