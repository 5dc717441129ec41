/* InfoNCE and the contrastive regulariser (recsys/contrastive.c): values
 * against naive double-precision loops written from the official code's
 * formulas (CE with label 0 over [positive | negatives]; per-row and
 * set-level margins), gradient checks through both (a transposed, i.e.
 * non-contiguous, view included), and errors. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "gradcheck.h"
#include "recsys/contrastive.h"

enum { MAXN = 16 };

/* S = [u; v][u; v]^T / tau in double. */
static void naive_scores(const uz_tensor *u, const uz_tensor *v, double tau, double s[MAXN][MAXN])
{
    int64_t b = u->shape[0], d = u->shape[1], n = 2 * b;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = 0;
            for (int64_t k = 0; k < d; k++) {
                const uz_tensor *zi = i < b ? u : v, *zj = j < b ? u : v;
                acc += (double)uz_tensor_get(zi, (int64_t[]){i % b, k}) *
                       (double)uz_tensor_get(zj, (int64_t[]){j % b, k});
            }
            s[i][j] = acc / tau;
        }
}

static int64_t partner(int64_t a, int64_t b) { return a < b ? a + b : a - b; }

static double naive_nce(int64_t b, double s[MAXN][MAXN])
{
    int64_t n = 2 * b;
    double total = 0;
    for (int64_t a = 0; a < n; a++) {
        double pos = s[a][partner(a, b)], lse = 0, mx = pos;
        for (int64_t k = 0; k < n; k++)
            if (k != a)
                mx = fmax(mx, s[a][k]);
        for (int64_t k = 0; k < n; k++)
            if (k != a)
                lse += exp(s[a][k] - mx);
        total += -(pos - mx - log(lse));
    }
    return total / (double)n;
}

static double relu(double x) { return x > 0 ? x : 0; }

static double naive_margin(int64_t b, double s[MAXN][MAXN], uz_margin_mode mode)
{
    int64_t n = 2 * b;
    double first = 0, second = 0;
    if (mode == UZ_MARGIN_CODE) {
        for (int64_t a = 0; a < n; a++) {
            double pos = s[a][partner(a, b)], neg = -INFINITY;
            for (int64_t k = 0; k < n; k++)
                if (k != a && k != partner(a, b))
                    neg = fmax(neg, s[a][k]);
            first += relu(pos - fmin(pos, neg));
            for (int64_t k = 0; k < n; k++)
                if (k != a && k != partner(a, b))
                    second += relu(fmax(pos, neg) - s[a][k]);
        }
    } else {
        double min_pos = INFINITY, max_neg = -INFINITY;
        for (int64_t a = 0; a < n; a++) {
            min_pos = fmin(min_pos, s[a][partner(a, b)]);
            for (int64_t k = 0; k < n; k++)
                if (k != a && k != partner(a, b))
                    max_neg = fmax(max_neg, s[a][k]);
        }
        double lo = fmin(min_pos, max_neg), hi = fmax(min_pos, max_neg);
        for (int64_t a = 0; a < n; a++) {
            first += relu(s[a][partner(a, b)] - lo);
            for (int64_t k = 0; k < n; k++)
                if (k != a && k != partner(a, b))
                    second += relu(hi - s[a][k]);
        }
    }
    return first / (double)n + second / (double)(n * (n - 2));
}

static double scalar(const uz_tensor *t)
{
    ck_assert_msg(t != NULL, "%s", uz_error_message());
    ck_assert_int_eq(uz_tensor_numel(t), 1);
    float v;
    uz_tensor_copy_out(t, &v);
    return v;
}

START_TEST(test_contrastive_values)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    static const int64_t sizes[][2] = {{1, 3}, {2, 4}, {5, 6}, {8, 3}};
    static const float taus[] = {1.0f, 0.5f, 2.0f};
    for (int si = 0; si < 4; si++)
        for (int ti = 0; ti < 3; ti++) {
            int64_t b = sizes[si][0], d = sizes[si][1];
            uint64_t seed = (uint64_t)(10 * si + ti);
            uz_tensor *u = uz_test_rand(ctx, 2, (int64_t[]){b, d}, seed, -1.5f, 1.5f);
            uz_tensor *v = uz_test_rand(ctx, 2, (int64_t[]){b, d}, seed + 100, -1.5f, 1.5f);
            double s[MAXN][MAXN];
            naive_scores(u, v, taus[ti], s);
            uz_tensor *sc = uz_contrastive_scores(ctx, u, v, taus[ti]);
            UZ_CK_NOTNULL(sc);
            for (int64_t i = 0; i < 2 * b; i++)
                for (int64_t j = 0; j < 2 * b; j++)
                    ck_assert_double_eq_tol(uz_tensor_get(sc, (int64_t[]){i, j}), s[i][j], 1e-5);
            ck_assert_double_eq_tol(scalar(uz_info_nce(ctx, u, v, taus[ti])), naive_nce(b, s),
                                    1e-5 * (1 + fabs(naive_nce(b, s))));
            if (b < 2)
                continue;
            for (int m = 0; m < 2; m++) {
                double want = naive_margin(b, s, (uz_margin_mode)m);
                ck_assert_msg(fabs(scalar(uz_contrastive_margin(ctx, sc, (uz_margin_mode)m)) - want) <=
                                  1e-5 * (1 + fabs(want)),
                              "B %lld tau %g mode %d: want %g", (long long)b, (double)taus[ti], m,
                              want);
            }
        }
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_contrastive_known_values)
{
    /* B = 2, d = 1, u = (1, 0), v = (1, 0): Z = (1, 0, 1, 0), S = z z^T.
     * Anchor 0: columns 1..3 hold (0, 1, 0) with partner 2, so
     * -log(e / (e + 2)); anchor 1: all three columns are 0, -log(1/3). */
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *u = uz_tensor_from(ctx, 2, (int64_t[]){2, 1}, (float[]){1, 0});
    uz_tensor *v = uz_tensor_from(ctx, 2, (int64_t[]){2, 1}, (float[]){1, 0});
    double want = (2 * -log(exp(1.0) / (exp(1.0) + 2)) + 2 * log(3.0)) / 4;
    ck_assert_double_eq_tol(scalar(uz_info_nce(ctx, u, v, 1.0f)), want, 1e-6);
    /* Code margins: anchor 0 pos 1, negatives (0, 0): first [1 - 0]_+ = 1,
     * second [1 - 0]_+ twice; anchor 1 pos 0, negatives (0, 0): all 0.
     * R = (1 + 0 + 1 + 0) / 4 + (2 + 0 + 2 + 0) / 8 = 1. */
    uz_tensor *s = uz_contrastive_scores(ctx, u, v, 1.0f);
    ck_assert_double_eq_tol(scalar(uz_contrastive_margin(ctx, s, UZ_MARGIN_CODE)), 1.0, 1e-6);
    /* Paper: min pos 0, max neg 0, margins 0: R = (1+0+1+0)/4 + 0 = 0.5. */
    ck_assert_double_eq_tol(scalar(uz_contrastive_margin(ctx, s, UZ_MARGIN_PAPER)), 0.5, 1e-6);
    uz_ctx_free(ctx);
}
END_TEST

typedef struct gc_opts {
    float tau;
    int which;           /* 0 InfoNCE, 1 code margins, 2 paper margins */
    bool transpose_v;    /* v given as [d, B], used transposed */
} gc_opts;

static uz_tensor *f_contrastive(uz_ctx *ctx, uz_tensor **in, void *user)
{
    const gc_opts *o = user;
    uz_tensor *v = o->transpose_v ? uz_transpose(ctx, in[1], 0, 1) : in[1];
    if (o->which == 0)
        return uz_info_nce(ctx, in[0], v, o->tau);
    return uz_contrastive_margin(ctx, uz_contrastive_scores(ctx, in[0], v, o->tau),
                                 o->which == 1 ? UZ_MARGIN_CODE : UZ_MARGIN_PAPER);
}

START_TEST(test_contrastive_grad)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    char msg[256];
    for (int which = 0; which < 3; which++)
        for (int t = 0; t < 2; t++) {
            gc_opts o = {.tau = t ? 0.5f : 1.0f, .which = which, .transpose_v = t == 1};
            uz_tensor *in[2];
            /* Spread-out values keep the margins' max / relu away from their
             * kinks by much more than the finite-difference step. */
            in[0] = uz_test_rand(ctx, 2, (int64_t[]){3, 4}, (uint64_t)(7 + which), -1, 1);
            in[1] = t ? uz_test_rand(ctx, 2, (int64_t[]){4, 3}, (uint64_t)(17 + which), -1, 1)
                      : uz_test_rand(ctx, 2, (int64_t[]){3, 4}, (uint64_t)(27 + which), -1, 1);
            ck_assert_msg(uz_gradcheck(in, 2, f_contrastive, &o, UZ_GC_DEFAULT, msg, sizeof msg),
                          "term %d tau %g transposed %d: %s", which, (double)o.tau, t, msg);
        }
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_contrastive_errors)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *u = uz_test_rand(ctx, 2, (int64_t[]){3, 4}, 1, -1, 1);
    uz_tensor *w = uz_test_rand(ctx, 2, (int64_t[]){3, 5}, 2, -1, 1);
    ck_assert_ptr_null(uz_info_nce(ctx, u, w, 1.0f));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "two equal [B, d] tensors, got [3,4] and [3,5]"));
    ck_assert_ptr_null(uz_info_nce(ctx, u, u, 0.0f));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "temperature 0 must be positive"));
    uz_tensor *one = uz_test_rand(ctx, 2, (int64_t[]){1, 4}, 3, -1, 1);
    ck_assert_ptr_null(uz_contrastive_margin(ctx, uz_contrastive_scores(ctx, one, one, 1.0f),
                                             UZ_MARGIN_CODE));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "scores must be [2B, 2B] with B >= 2, got [2,2]"));
    ck_assert_ptr_null(uz_info_nce_scores(ctx, w));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "got [3,5]"));
    ck_assert_ptr_null(uz_info_nce(ctx, NULL, u, 1.0f));
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("contrastive");
    TCase *tc = tcase_create("contrastive");
    tcase_add_test(tc, test_contrastive_values);
    tcase_add_test(tc, test_contrastive_known_values);
    tcase_add_test(tc, test_contrastive_grad);
    tcase_add_test(tc, test_contrastive_errors);
    suite_add_tcase(s, tc);
    return s;
}

#include "check_main.h"
