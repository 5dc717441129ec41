/* vision/hungarian: optimal cost against brute-force enumeration on 400
 * random matrices up to 7 x 7, square and rectangular both ways, half of
 * them small integers (many ties, exact sums); validity of every
 * assignment; deterministic tie-breaking; empty sizes; NaN / Inf costs and
 * overflowing reduced costs rejected. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"
#include "vision/hungarian.h"

enum { MAXN = 7 };

static _Alignas(8) unsigned char work[4096];

/* Minimum over all injections of the smaller side into the larger. */
static double brute(const double *c, int n, int m, int depth, unsigned used, double acc)
{
    bool rows_small = n <= m;
    int small = rows_small ? n : m, large = rows_small ? m : n;
    if (depth == small)
        return acc;
    double best = INFINITY;
    for (int k = 0; k < large; k++) {
        if (used & (1u << k))
            continue;
        double v = rows_small ? c[depth * m + k] : c[k * m + depth];
        double r = brute(c, n, m, depth + 1, used | (1u << k), acc + v);
        best = r < best ? r : best;
    }
    return best;
}

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

START_TEST(test_against_brute_force)
{
    uint32_t s = 12345;
    ck_assert_uint_ge(sizeof work, uz_hungarian_workspace(MAXN, MAXN));
    for (int trial = 0; trial < 400; trial++) {
        int n = 1 + (int)(lcg(&s) % MAXN), m = 1 + (int)(lcg(&s) % MAXN);
        bool ints = trial % 2 == 0;
        double c[MAXN * MAXN];
        for (int i = 0; i < n * m; i++)
            c[i] = ints ? (double)(lcg(&s) % 4) : (double)lcg(&s) / 16777216.0 * 10.0 - 3.0;
        int64_t a[MAXN];
        UZ_CK_OK(uz_hungarian(c, n, m, work, a));
        bool col_used[MAXN] = {false};
        int assigned = 0;
        double total = 0.0;
        for (int i = 0; i < n; i++) {
            if (a[i] < 0)
                continue;
            ck_assert_int_lt(a[i], m);
            ck_assert_msg(!col_used[a[i]], "trial %d: column %lld used twice", trial,
                          (long long)a[i]);
            col_used[a[i]] = true;
            assigned++;
            total += c[i * m + a[i]];
        }
        ck_assert_int_eq(assigned, n < m ? n : m);
        double want = brute(c, n, m, 0, 0u, 0.0);
        /* Integer costs sum exactly; real ones to rounding. */
        ck_assert_msg(ints ? total == want : fabs(total - want) <= 1e-9,
                      "trial %d (%dx%d): %.17g vs brute force %.17g", trial, n, m, total, want);
        int64_t again[MAXN];
        UZ_CK_OK(uz_hungarian(c, n, m, work, again));
        ck_assert(memcmp(a, again, sizeof(int64_t) * (size_t)n) == 0);
    }
}
END_TEST

START_TEST(test_known_and_ties)
{
    /* Optimum 1 + 2 + 2 = 5: rows 0, 1, 2 -> columns 1, 0, 2. */
    const double c[9] = {4, 1, 3, 2, 0, 5, 3, 2, 2};
    int64_t a[4];
    UZ_CK_OK(uz_hungarian(c, 3, 3, work, a));
    ck_assert(a[0] == 1 && a[1] == 0 && a[2] == 2);
    /* All costs equal: the lowest free column wins every tie: the identity. */
    const double z[16] = {0};
    UZ_CK_OK(uz_hungarian(z, 4, 4, work, a));
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(a[i], i);
    /* 4 predictions, 2 objects (tall): rows 2 and 0 take them, 1 and 3 get -1. */
    const double tall[8] = {5, 0.5, 9, 9, 0.25, 7, 9, 9};
    UZ_CK_OK(uz_hungarian(tall, 4, 2, work, a));
    ck_assert(a[0] == 1 && a[1] == -1 && a[2] == 0 && a[3] == -1);
    /* 2 rows, 3 columns (wide). */
    const double wide[6] = {3, 1, 2, 1, 5, 0};
    UZ_CK_OK(uz_hungarian(wide, 2, 3, work, a));
    ck_assert(a[0] == 1 && a[1] == 2);
}
END_TEST

START_TEST(test_empty)
{
    int64_t a[3] = {7, 7, 7};
    UZ_CK_OK(uz_hungarian(NULL, 3, 0, work, a));
    ck_assert(a[0] == -1 && a[1] == -1 && a[2] == -1);
    UZ_CK_OK(uz_hungarian(NULL, 0, 5, work, a));
    UZ_CK_OK(uz_hungarian(NULL, 0, 0, work, a));
}
END_TEST

START_TEST(test_errors)
{
    double c[6] = {1, 2, 3, 4, 5, NAN};
    int64_t a[3];
    ck_assert_int_eq(uz_hungarian(c, 2, 3, work, a), UZ_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "cost[1][2] is nan"));
    c[5] = 0.0;
    c[0] = INFINITY;
    ck_assert_int_eq(uz_hungarian(c, 3, 2, work, a), UZ_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "cost[0][0] is inf"));
    ck_assert_int_eq(uz_hungarian(c, -1, 2, work, a), UZ_ERR_ARG);
    /* Finite costs near DBL_MAX whose reduced costs overflow. */
    const double huge[9] = {-5.9044366175795145e+307, 6.5313770573266676e+307,
                            -6.5246896299182856e+307, 9.7125816041196615e+307,
                            -1.6303283524375073e+308, 3.7878328993859855e+307,
                            1.5811229576734466e+308,  -1.401008056942843e+308,
                            5.933437761819659e+307};
    ck_assert_int_eq(uz_hungarian(huge, 3, 3, work, a), UZ_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "overflow"));
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("hungarian");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_against_brute_force);
    tcase_add_test(tc, test_known_and_ties);
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}
