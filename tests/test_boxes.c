/* vision/boxes: format conversions, IoU / GIoU matrices on hand-made boxes,
 * the GIoU loss (values and both gradients against torchvision's formula run
 * in float64 by tests/reference/det_losses_ref.py, finite differences on
 * contiguous, transposed and batched inputs, degenerate boxes, errors), and
 * the L1 box loss through uz_abs (values, sign gradient, finite differences). */
#include <check.h>
#include <math.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"
#include "vision/boxes.h"

/* ---- conversions and matrices ---------------------------------------------------- */

START_TEST(test_box_convert)
{
    float cxcywh[8] = {0.5f, 0.5f, 0.4f, 0.2f, 0.25f, 0.75f, 0.5f, 0.25f};
    float xyxy[8], back[8];
    uz_box_cxcywh_to_xyxy(xyxy, cxcywh, 2);
    const float want[8] = {0.3f, 0.4f, 0.7f, 0.6f, 0.0f, 0.625f, 0.5f, 0.875f};
    for (int i = 0; i < 8; i++)
        ck_assert_float_eq_tol(xyxy[i], want[i], 1e-6f);
    uz_box_xyxy_to_cxcywh(back, xyxy, 2);
    for (int i = 0; i < 8; i++)
        ck_assert_float_eq_tol(back[i], cxcywh[i], 1e-6f);

    /* COCO xywh, converted in place both ways. */
    float b[4] = {10.0f, 20.0f, 30.0f, 40.0f};
    uz_box_xywh_to_xyxy(b, b, 1);
    ck_assert(b[0] == 10.0f && b[1] == 20.0f && b[2] == 40.0f && b[3] == 60.0f);
    uz_box_xyxy_to_xywh(b, b, 1);
    ck_assert(b[0] == 10.0f && b[1] == 20.0f && b[2] == 30.0f && b[3] == 40.0f);
    uz_box_cxcywh_to_xyxy(cxcywh, cxcywh, 2);
    for (int i = 0; i < 8; i++)
        ck_assert_float_eq_tol(cxcywh[i], want[i], 1e-6f);
}
END_TEST

START_TEST(test_box_iou_giou_matrix)
{
    /* a0 = [0,2]^2 (area 4), a1 = [1,3]^2; b0 = a0, b1 = [2,4]^2 touches a0 at
     * a corner, b2 = the point (0, 0). */
    const float a[8] = {0, 0, 2, 2, 1, 1, 3, 3};
    const float b[12] = {0, 0, 2, 2, 2, 2, 4, 4, 0, 0, 0, 0};
    float iou[6], giou[6];
    uz_box_iou_matrix(iou, a, 2, b, 3);
    uz_box_giou_matrix(giou, a, 2, b, 3);
    /* a1 vs b0 and b1: intersection 1, union 4 + 4 - 1 = 7. */
    const double want_iou[6] = {1.0, 0.0, 0.0, 1.0 / 7, 1.0 / 7, 0.0};
    /* Enclosing areas: a0-b1 16 (union 8), a0-b2 4 (union 4), a1-b0 and
     * a1-b1 9 (union 7), a1-b2 9 (union 4). */
    const double want_giou[6] = {1.0, -0.5, 0.0, 1.0 / 7 - 2.0 / 9, 1.0 / 7 - 2.0 / 9, -5.0 / 9};
    for (int i = 0; i < 6; i++) {
        ck_assert_double_eq_tol(iou[i], want_iou[i], 1e-6);
        ck_assert_double_eq_tol(giou[i], want_giou[i], 1e-6);
    }
    /* Two empty boxes, and an inverted one (counts as empty): 0, not NaN. */
    const float e[8] = {1, 1, 1, 1, 3, 3, 2, 2};
    float m[4];
    uz_box_iou_matrix(m, e, 2, e, 2);
    for (int i = 0; i < 4; i++)
        ck_assert(m[i] == 0.0f);
    uz_box_giou_matrix(m, e, 1, e, 1);
    ck_assert(m[0] == 0.0f);
}
END_TEST

/* ---- the GIoU loss ------------------------------------------------------------------ */

/* Printed by tests/reference/det_losses_ref.py. Pairs: overlapping, disjoint,
 * nested, identical (corner ties split the gradient), touching (empty
 * intersection), a zero-width prediction inside its target. */
static const float giou_pred[24] = {0.5f, 0.5f,  0.4f, 0.3f, 0.2f,  0.25f, 0.1f, 0.1f,
                                    0.5f, 0.5f,  0.5f, 0.5f, 0.3f,  0.6f,  0.2f, 0.4f,
                                    0.25f, 0.5f, 0.5f, 0.5f, 0.5f,  0.5f,  0.0f, 0.25f};
static const float giou_target[24] = {0.55f, 0.45f, 0.3f, 0.35f,   0.75f, 0.7f,  0.2f, 0.125f,
                                      0.5f,  0.5f,  0.25f, 0.125f, 0.3f,  0.6f,  0.2f, 0.4f,
                                      0.75f, 0.5f,  0.5f, 0.5f,    0.5f,  0.5f,  0.25f, 0.25f};
static const float giou_up[6] = {1.0f, -0.5f, 2.0f, 0.75f, 1.5f, -1.25f};
static const double giou_ref_loss[6] = {0.47105300452420629, 1.9111108797178717,
                                        0.87500004999998005, 1.2499984375358153e-06, 1, 1};
static const double giou_ref_dpred[24] = {
    -3.5887548792773241, 3.8574296016358463, -0.20054275185433101, -0.43693481710573256,
    0.063492212647942262, 0.079012531295217028, 0.095237988410227015, 0.087477829086589631,
    0, 0, 0.49999960000024002, 0.49999960000024002,
    0, 0, -2.3437441407647697e-06, -1.1718720703823848e-06,
    -1.4999997000000602, 0, -0.74999985000003011, 0,
    0, 0, 4.9999920000127993, -2.4999960000063997};
static const double giou_ref_dtarget[24] = {
    3.5887548792773245, -3.8574296016358463, -0.33073672055709968, -0.17654687970019523,
    -0.063492212647942262, -0.079012531295217014, 0.12698401209377658, 0.21446192382078777,
    0, 0, -0.99999960000015997, -1.9999992000003199,
    0, 0, -2.3437441407647697e-06, -1.1718720703823848e-06,
    1.4999997000000602, 0, -0.74999985000003011, 0,
    0, 0, 0, 2.4999960000063997};

/* Tolerance: the reference runs in float64 on the decimals; the C inputs are
 * their float32 roundings (~3e-8 relative) and the kernel works in double,
 * so differences stay near 1e-7 even where the gradient is ~4. */
static void ck_close(double got, double want, double rtol, const char *what, int i)
{
    ck_assert_msg(fabs(got - want) <= rtol * (1.0 + fabs(want)), "%s[%d]: %.9g vs %.9g", what,
                  i, got, want);
}

START_TEST(test_giou_loss_values)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    int64_t shape[2] = {6, 4};
    uz_tensor *p = uz_tensor_from(ctx, 2, shape, giou_pred);
    uz_tensor *t = uz_tensor_from(ctx, 2, shape, giou_target);
    uz_tensor_set_requires_grad(p, true);
    uz_tensor_set_requires_grad(t, true);
    uz_tensor *loss = uz_box_giou_loss(ctx, p, t);
    UZ_CK_NOTNULL(loss);
    ck_assert_int_eq(loss->ndim, 1);
    ck_assert_int_eq(loss->shape[0], 6);
    for (int i = 0; i < 6; i++)
        ck_close(loss->data[i], giou_ref_loss[i], 1e-6, "loss", i);
    UZ_CK_OK(uz_backward_with(ctx, loss, giou_up));
    for (int i = 0; i < 24; i++) {
        ck_close(p->grad->data[i], giou_ref_dpred[i], 1e-5, "dpred", i);
        ck_close(t->grad->data[i], giou_ref_dtarget[i], 1e-5, "dtarget", i);
    }
    uz_ctx_free(ctx);
}
END_TEST

/* Deterministic box pairs away from every kink of the loss (corner ties,
 * zero overlap), so central differences do not straddle one. */
static void kink_free_boxes(float *pred, float *target, int n, uint32_t seed)
{
    uint32_t s = seed;
    for (int i = 0; i < n; i++) {
        for (;;) {
            float v[8];
            for (int k = 0; k < 8; k++) {
                s = s * 1664525u + 1013904223u;
                float u = (float)(s >> 8) / 16777216.0f;
                v[k] = (k % 4) < 2 ? 0.3f + 0.4f * u : 0.1f + 0.4f * u;
            }
            bool ok = true;
            for (int d = 0; d < 2; d++) {
                float a0 = v[d] - 0.5f * v[d + 2], a1 = v[d] + 0.5f * v[d + 2];
                float b0 = v[d + 4] - 0.5f * v[d + 6], b1 = v[d + 4] + 0.5f * v[d + 6];
                ok = ok && fabsf(a0 - b0) > 0.02f && fabsf(a1 - b1) > 0.02f &&
                     fabsf(fminf(a1, b1) - fmaxf(a0, b0)) > 0.02f;
            }
            if (ok) {
                memcpy(pred + 4 * i, v, sizeof(float) * 4);
                memcpy(target + 4 * i, v + 4, sizeof(float) * 4);
                break;
            }
        }
    }
}

static uz_tensor *f_giou(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    return uz_box_giou_loss(ctx, in[0], in[1]);
}

/* pred stored transposed ([4, N] leaf read as [N, 4]): a non-contiguous input. */
static uz_tensor *f_giou_transposed(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    return uz_box_giou_loss(ctx, uz_transpose(ctx, in[0], 0, 1), in[1]);
}

START_TEST(test_giou_loss_grad)
{
    enum { N = 6 };
    uz_ctx *ctx = uz_ctx_new(0, 0);
    char msg[256];
    float p[4 * N], t[4 * N], pt[4 * N];
    kink_free_boxes(p, t, N, 11);
    uz_tensor *in[2];
    in[0] = uz_tensor_from(ctx, 2, (int64_t[]){N, 4}, p);
    in[1] = uz_tensor_from(ctx, 2, (int64_t[]){N, 4}, t);
    uz_tensor_set_requires_grad(in[0], true);
    uz_tensor_set_requires_grad(in[1], true);
    ck_assert_msg(uz_gradcheck(in, 2, f_giou, NULL, UZ_GC_DEFAULT, msg, sizeof msg), "[N,4]: %s",
                  msg);

    for (int i = 0; i < N; i++)
        for (int k = 0; k < 4; k++)
            pt[k * N + i] = p[i * 4 + k];
    in[0] = uz_tensor_from(ctx, 2, (int64_t[]){4, N}, pt);
    uz_tensor_set_requires_grad(in[0], true);
    ck_assert_msg(uz_gradcheck(in, 2, f_giou_transposed, NULL, UZ_GC_DEFAULT, msg, sizeof msg),
                  "transposed: %s", msg);

    /* [layers, queries, 4] -> [layers, queries]; the target is constant. */
    kink_free_boxes(p, t, N, 12);
    in[0] = uz_tensor_from(ctx, 3, (int64_t[]){2, 3, 4}, p);
    in[1] = uz_tensor_from(ctx, 3, (int64_t[]){2, 3, 4}, t);
    uz_tensor_set_requires_grad(in[0], true);
    ck_assert_msg(uz_gradcheck(in, 2, f_giou, NULL, UZ_GC_DEFAULT, msg, sizeof msg),
                  "batched: %s", msg);
    ck_assert_ptr_null(in[1]->grad);
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_giou_loss_degenerate)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    /* Coincident points, a point against a box, two zero-height lines on
     * top of each other, a negative width (treated as 0), and far apart. */
    const float p[20] = {0.5f, 0.5f, 0.0f, 0.0f,  0.2f, 0.2f, 0.0f, 0.0f,  0.5f, 0.5f, 0.4f, 0.0f,
                         0.5f, 0.5f, -0.2f, 0.3f, 0.1f, 0.1f, 0.1f, 0.1f};
    const float t[20] = {0.5f, 0.5f, 0.0f, 0.0f,  0.5f, 0.5f, 0.2f, 0.2f,  0.5f, 0.5f, 0.4f, 0.0f,
                         0.5f, 0.5f, 0.2f, 0.3f,  0.9f, 0.9f, 0.1f, 0.1f};
    uz_tensor *pt = uz_tensor_from(ctx, 2, (int64_t[]){5, 4}, p);
    uz_tensor *tt = uz_tensor_from(ctx, 2, (int64_t[]){5, 4}, t);
    uz_tensor_set_requires_grad(pt, true);
    uz_tensor_set_requires_grad(tt, true);
    uz_tensor *loss = uz_box_giou_loss(ctx, pt, tt);
    UZ_CK_NOTNULL(loss);
    for (int i = 0; i < 5; i++)
        ck_assert_msg(isfinite(loss->data[i]) && loss->data[i] >= 0.0f && loss->data[i] <= 2.0f,
                      "loss[%d] = %g", i, (double)loss->data[i]);
    /* Empty boxes have IoU 0: coincident points give 1 - (0 - 0) = 1. */
    ck_assert_float_eq_tol(loss->data[0], 1.0f, 1e-6f);
    /* The clamped box is the vertical line x = 0.5 on the target's axis:
     * IoU 0 and the enclosing box is the target, so the loss is 1. */
    ck_assert_float_eq_tol(loss->data[3], 1.0f, 1e-6f);
    /* Disjoint 0.1-boxes 0.8 apart: enclosing 0.9^2, union 0.02. */
    ck_assert_float_eq_tol(loss->data[4], 1.0f + (0.81f - 0.02f) / 0.81f, 1e-5f);
    UZ_CK_OK(uz_backward_with(ctx, loss, (float[]){1, 1, 1, 1, 1}));
    for (int i = 0; i < 20; i++) {
        ck_assert(isfinite(pt->grad->data[i]));
        ck_assert(isfinite(tt->grad->data[i]));
    }
    ck_assert(pt->grad->data[14] == 0.0f); /* the clamped width */
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_giou_loss_errors)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *a = uz_test_rand(ctx, 2, (int64_t[]){3, 4}, 1, 0, 1);
    uz_tensor *b = uz_test_rand(ctx, 2, (int64_t[]){2, 4}, 2, 0, 1);
    uz_tensor *c = uz_test_rand(ctx, 2, (int64_t[]){3, 5}, 3, 0, 1);
    ck_assert_ptr_null(uz_box_giou_loss(ctx, a, b));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "box_giou_loss"));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "[3,4] and [2,4]"));
    ck_assert_ptr_null(uz_box_giou_loss(ctx, c, c));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "[3,5]"));
    ck_assert_ptr_null(uz_box_giou_loss(ctx, NULL, a));
    uz_ctx_free(ctx);
}
END_TEST

/* ---- L1 through uz_abs ----------------------------------------------------------- */

START_TEST(test_abs_values)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    const float v[6] = {-2.5f, -0.0f, 0.0f, 0.75f, -1e-30f, 3.0f};
    uz_tensor *x = uz_tensor_from(ctx, 1, (int64_t[]){6}, v);
    uz_tensor_set_requires_grad(x, true);
    uz_tensor *y = uz_abs(ctx, x);
    UZ_CK_NOTNULL(y);
    for (int i = 0; i < 6; i++)
        ck_assert(y->data[i] == fabsf(v[i]));
    /* Gradient sign(x) * upstream, 0 at +-0 (PyTorch). */
    UZ_CK_OK(uz_backward_with(ctx, y, (float[]){2, 2, 2, 2, 2, 2}));
    const float want[6] = {-2, 0, 0, 2, -2, 2};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(x->grad->data[i], want[i]);
    ck_assert_ptr_null(uz_abs(ctx, NULL));
    uz_ctx_free(ctx);
}
END_TEST

/* DETR's L1 box loss: |pred - target| per coordinate. */
static uz_tensor *f_l1(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    return uz_abs(ctx, uz_sub(ctx, in[0], in[1]));
}

static uz_tensor *f_abs_transposed(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    return uz_abs(ctx, uz_transpose(ctx, in[0], 0, 1));
}

START_TEST(test_abs_grad)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    char msg[256];
    /* Differences kept >= 0.05 from 0, the kink. */
    float p[12], t[12];
    for (int i = 0; i < 12; i++) {
        p[i] = 0.1f * (float)i;
        t[i] = p[i] + (i % 3 == 0 ? -1.0f : 1.0f) * (0.05f + 0.03f * (float)(i % 5));
    }
    uz_tensor *in[2] = {uz_tensor_from(ctx, 2, (int64_t[]){3, 4}, p),
                        uz_tensor_from(ctx, 2, (int64_t[]){3, 4}, t)};
    uz_tensor_set_requires_grad(in[0], true);
    uz_tensor_set_requires_grad(in[1], true);
    ck_assert_msg(uz_gradcheck(in, 2, f_l1, NULL, UZ_GC_DEFAULT, msg, sizeof msg), "l1: %s", msg);
    for (int i = 0; i < 12; i++)
        p[i] = (i % 2 ? 1.0f : -1.0f) * (0.1f + 0.07f * (float)i); /* both signs */
    in[0] = uz_tensor_from(ctx, 2, (int64_t[]){4, 3}, p);
    uz_tensor_set_requires_grad(in[0], true);
    ck_assert_msg(uz_gradcheck(in, 1, f_abs_transposed, NULL, UZ_GC_DEFAULT, msg, sizeof msg),
                  "transposed: %s", msg);
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("boxes");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_box_convert);
    tcase_add_test(tc, test_box_iou_giou_matrix);
    tcase_add_test(tc, test_giou_loss_values);
    tcase_add_test(tc, test_giou_loss_grad);
    tcase_add_test(tc, test_giou_loss_degenerate);
    tcase_add_test(tc, test_giou_loss_errors);
    tcase_add_test(tc, test_abs_values);
    tcase_add_test(tc, test_abs_grad);
    suite_add_tcase(s, tc);
    return s;
}
