/* uz_bce_with_logits and uz_sigmoid_focal_loss: values and gradients
 * against PyTorch (F.binary_cross_entropy_with_logits, torchvision's focal
 * loss) run in float64 by tests/reference/det_losses_ref.py, over logits up
 * to +-100 (stability) and hard and soft targets; finite differences on
 * plain, transposed and broadcast-weighted inputs; the large (threaded)
 * path against a serial formula; constants getting no gradient; errors. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"

enum { NREF = 12 };

static const float ref_x[NREF] = {-100, -30, -3.5f, -1, -0.25f, 0, 0.5f, 2, 7, 30, 100, 1.25f};
static const float ref_y[NREF] = {0, 1, 0, 1, 0.3f, 1, 0, 1, 0, 1, 0, 0.7f};
static const float ref_w[NREF] = {1, 0.5f, 2, 1, 0.25f, 1, 1.5f, 1, 0.75f, 1, 2, 0.5f};
static const float ref_up[NREF] = {1, -0.5f, 0.25f, 2, 1, -1, 0.5f, 1.5f, -0.75f, 1, 0.5f, 1.25f};

/* Printed by tests/reference/det_losses_ref.py. */
static const double bce_ref_loss[NREF] = {0, 30.000000000000092, 0.029750418272620652, 1.3132616875182228, 0.65093941987884363, 0.69314718055994529, 0.97407698418010669, 0.1269280110429726, 7.0009114664537746, 9.3480778673433814e-14, 100, 0.62692908134537295};
static const double bce_ref_dx[NREF] = {3.7200759760208356e-44, 0.4999999999999532, 0.0073280576878390798, -1.4621171572600098, 0.13782349911420194, 0.5, 0.3112296656009273, -0.17880438303317653, -0.74931671160419955, -9.3480778673438181e-14, 0.5, 0.0966248264683639};
static const double bcew_ref_loss[NREF] = {0, 15.000000000000046, 0.059500836545241305, 1.3132616875182228, 0.16273485496971091, 0.69314718055994529, 1.4611154762701601, 0.1269280110429726, 5.2506835998403307, 9.3480778673433814e-14, 200, 0.31346454067268648};
static const double bcew_ref_dx[NREF] = {3.7200759760208356e-44, 0.2499999999999766, 0.01465611537567816, -1.4621171572600098, 0.034455874778550485, 0.5, 0.46684449840139097, -0.17880438303317653, -0.56198753370314969, -9.3480778673438181e-14, 1, 0.04831241323418195};
static const double focal_ref_loss[NREF] = {0, 7.4999999999986189, 1.9171322860070649e-05, 0.17546707585284624, 0.088168942364067443, 0.04332169878499658, 0.28305870064455735, 0.00045089070881009521, 5.241120674852584, 2.0422409142495384e-40, 75, 0.037962634674827196};
static const double focal_ref_dx[NREF] = {0, 0.12500000000066672, 1.4026922451062254e-05, -0.38411736159965881, 0.055207764554389208, 0.074571698784996587, 0.19730693320296866, -0.001826602573272293, -0.56812639520942332, -6.126722742748329e-40, 0.375, -0.011038922099924705};
static const double focal_g15_ref_loss[NREF] = {0, 29.999999999995882, 0.00014930226019586786, 0.82087974770538852, 0.21318587617131779, 0.24506453586713678, 0.47836539418406254, 0.0052238154655790923, 6.9913463627258343, 2.6718114290308772e-33, 100, 0.15215172122208365};
static const double focal_g15_ref_dx[NREF] = {0, 0.50000000000198852, 9.1123009027732177e-05, -1.5762304511960403, 0.11140063833408737, 0.36057509719698949, 0.28829546369437997, -0.017711348779972828, -0.75545860480183569, -6.6795285725769437e-33, 0.5, -0.027319892065668958};

typedef enum which { BCE, BCE_W, FOCAL, FOCAL_G15 } which;

static uz_tensor *loss_of(uz_ctx *ctx, which k, uz_tensor *x, uz_tensor *y, uz_tensor *w)
{
    switch (k) {
    case BCE: return uz_bce_with_logits(ctx, x, y, NULL);
    case BCE_W: return uz_bce_with_logits(ctx, x, y, w);
    case FOCAL: return uz_sigmoid_focal_loss(ctx, x, y, 0.25f, 2.0f);
    case FOCAL_G15: return uz_sigmoid_focal_loss(ctx, x, y, -1.0f, 1.5f);
    }
    return NULL;
}

/* float32 against float64: relative 2e-6 (a few float ulps through exp and
 * log1p) with an absolute floor of 1e-7 for the values that underflow. */
static void ck_close(double got, double want, const char *what, int i)
{
    ck_assert_msg(fabs(got - want) <= 1e-7 + 2e-6 * fabs(want), "%s[%d]: %.9g vs %.9g", what, i,
                  got, want);
}

START_TEST(test_values_vs_torch)
{
    const double *loss_ref[4] = {bce_ref_loss, bcew_ref_loss, focal_ref_loss, focal_g15_ref_loss};
    const double *dx_ref[4] = {bce_ref_dx, bcew_ref_dx, focal_ref_dx, focal_g15_ref_dx};
    const char *names[4] = {"bce", "bce weighted", "focal", "focal gamma 1.5"};
    for (int k = 0; k < 4; k++) {
        uz_ctx *ctx = uz_ctx_new(0, 0);
        int64_t n = NREF;
        uz_tensor *x = uz_tensor_from(ctx, 1, &n, ref_x);
        uz_tensor *y = uz_tensor_from(ctx, 1, &n, ref_y);
        uz_tensor *w = uz_tensor_from(ctx, 1, &n, ref_w);
        uz_tensor_set_requires_grad(x, true);
        uz_tensor *l = loss_of(ctx, (which)k, x, y, w);
        UZ_CK_NOTNULL(l);
        UZ_CK_OK(uz_backward_with(ctx, l, ref_up));
        for (int i = 0; i < NREF; i++) {
            ck_close(l->data[i], loss_ref[k][i], names[k], i);
            ck_close(x->grad->data[i], dx_ref[k][i], names[k], i);
        }
        uz_ctx_free(ctx);
    }
}
END_TEST

START_TEST(test_focal_reduces_to_bce)
{
    /* gamma 0, no alpha: (1 - p_t)^0 = 1, exactly the BCE. */
    uz_ctx *ctx = uz_ctx_new(0, 0);
    int64_t n = NREF;
    uz_tensor *x = uz_tensor_from(ctx, 1, &n, ref_x);
    uz_tensor *y = uz_tensor_from(ctx, 1, &n, ref_y);
    uz_tensor *a = uz_sigmoid_focal_loss(ctx, x, y, -1.0f, 0.0f);
    uz_tensor *b = uz_bce_with_logits(ctx, x, y, NULL);
    UZ_CK_NOTNULL(a);
    UZ_CK_NOTNULL(b);
    for (int i = 0; i < NREF; i++)
        ck_assert_float_eq(a->data[i], b->data[i]);
    uz_ctx_free(ctx);
}
END_TEST

typedef struct gc_case {
    which kind;
    uz_tensor *y, *w;
    float alpha, gamma;
    bool transpose;
} gc_case;

static uz_tensor *f_loss(uz_ctx *ctx, uz_tensor **in, void *user)
{
    const gc_case *c = user;
    uz_tensor *x = c->transpose ? uz_transpose(ctx, in[0], 0, 1) : in[0];
    if (c->kind == FOCAL)
        return uz_sigmoid_focal_loss(ctx, x, c->y, c->alpha, c->gamma);
    return uz_bce_with_logits(ctx, x, c->y, c->w);
}

START_TEST(test_grad)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    char msg[256];
    uz_tensor *x = uz_test_rand(ctx, 2, (int64_t[]){3, 4}, 1, -4, 4);
    uz_tensor *xt = uz_test_rand(ctx, 2, (int64_t[]){4, 3}, 2, -4, 4);
    uz_tensor *soft = uz_test_rand(ctx, 2, (int64_t[]){3, 4}, 3, 0, 1);
    uz_tensor_set_requires_grad(soft, false);
    float hv[12];
    for (int i = 0; i < 12; i++)
        hv[i] = (float)((i * 7) % 3 == 0);
    uz_tensor *hard = uz_tensor_from(ctx, 2, (int64_t[]){3, 4}, hv);
    /* Targets read through a transposed view: non-contiguous constants. */
    uz_tensor *soft_t = uz_transpose(ctx, uz_test_rand(ctx, 2, (int64_t[]){4, 3}, 4, 0, 1), 0, 1);
    uz_tensor *w_col = uz_test_rand(ctx, 1, (int64_t[]){4}, 5, 0.5f, 2);
    uz_tensor *w_row = uz_test_rand(ctx, 2, (int64_t[]){3, 1}, 6, 0.5f, 2);
    const gc_case cases[] = {
        {BCE, soft, NULL, 0, 0, false},       {BCE, hard, NULL, 0, 0, false},
        {BCE, soft_t, w_col, 0, 0, false},    {BCE, hard, w_row, 0, 0, true},
        {FOCAL, hard, NULL, 0.25f, 2.0f, false}, {FOCAL, soft, NULL, 0.25f, 2.0f, true},
        {FOCAL, soft_t, NULL, -1.0f, 1.5f, false}, {FOCAL, hard, NULL, 0.5f, 0.0f, false},
        {FOCAL, soft, NULL, 0.75f, 0.5f, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uz_tensor *in[1] = {cases[i].transpose ? xt : x};
        ck_assert_msg(uz_gradcheck(in, 1, f_loss, (void *)&cases[i], UZ_GC_DEFAULT, msg, sizeof msg),
                      "case %zu: %s", i, msg);
    }
    /* Constants stay constants even when they require grad. */
    ck_assert_ptr_null(w_col->grad);
    ck_assert_ptr_null(w_row->grad);
    uz_ctx_free(ctx);
}
END_TEST

/* Above UZ_NN_PAR_MIN elements the kernels run threaded: same per-element
 * formula as a serial double loop. */
START_TEST(test_large)
{
    enum { N = 50000 };
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *x = uz_test_rand(ctx, 1, (int64_t[]){N}, 7, -8, 8);
    uz_tensor *y = uz_test_rand(ctx, 1, (int64_t[]){N}, 8, 0, 1);
    uz_tensor *l = uz_bce_with_logits(ctx, x, y, NULL);
    uz_tensor *f = uz_sigmoid_focal_loss(ctx, x, y, 0.25f, 2.0f);
    UZ_CK_NOTNULL(l);
    UZ_CK_NOTNULL(f);
    for (int64_t i = 0; i < N; i++) {
        double xi = x->data[i], yi = y->data[i];
        double ce = fmax(xi, 0.0) - xi * yi + log1p(exp(-fabs(xi)));
        double p = 1.0 / (1.0 + exp(-xi));
        double m = 1.0 - (p * yi + (1.0 - p) * (1.0 - yi));
        double fo = (0.25 * yi + 0.75 * (1.0 - yi)) * ce * m * m;
        ck_assert_msg(fabs(l->data[i] - ce) <= 1e-6 * (1.0 + ce), "bce[%lld]", (long long)i);
        ck_assert_msg(fabs(f->data[i] - fo) <= 1e-6 * (1.0 + fo), "focal[%lld]", (long long)i);
    }
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_errors)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *x = uz_test_rand(ctx, 2, (int64_t[]){3, 4}, 1, -1, 1);
    uz_tensor *y = uz_test_rand(ctx, 2, (int64_t[]){4, 3}, 2, 0, 1);
    uz_tensor *w = uz_test_rand(ctx, 1, (int64_t[]){3}, 3, 0, 1);
    ck_assert_ptr_null(uz_bce_with_logits(ctx, x, y, NULL));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "bce_with_logits: targets [4,3]"));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "[3,4]"));
    ck_assert_ptr_null(uz_bce_with_logits(ctx, x, x, w));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "weight [3] does not broadcast"));
    ck_assert_ptr_null(uz_sigmoid_focal_loss(ctx, x, y, 0.25f, 2.0f));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "sigmoid_focal_loss"));
    ck_assert_ptr_null(uz_sigmoid_focal_loss(ctx, x, x, 0.25f, -1.0f));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "gamma"));
    ck_assert_ptr_null(uz_sigmoid_focal_loss(ctx, x, x, 1.5f, 2.0f));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "alpha"));
    ck_assert_ptr_null(uz_sigmoid_focal_loss(ctx, x, x, NAN, 2.0f));
    ck_assert_ptr_null(uz_bce_with_logits(ctx, NULL, x, NULL));
    ck_assert_ptr_null(uz_sigmoid_focal_loss(ctx, x, NULL, 0.25f, 2.0f));
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("nn_bce");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_values_vs_torch);
    tcase_add_test(tc, test_focal_reduces_to_bce);
    tcase_add_test(tc, test_grad);
    tcase_add_test(tc, test_large);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}
