/* MCLRec's objective and training step (recsys/mclrec.c) against the
 * official code's computation in PyTorch (tests/reference/
 * gen_mclrec_golden.py -> tests/golden/mclrec_loss.safetensors): the
 * encoder objective L_rec + lmd L_cl1 + beta (L_cl2 + 0.1 R) with each term
 * and every parameter's gradient (encoder and both augmenters), the paper's
 * set-level R, the augmenter objective of step 2 with the augmenters'
 * gradients, and the parameters after one alternating step (three Adam
 * updates) — all on the same weights and the same augmented batch.
 *
 * Tolerance: values and gradients |got - want| <= ATOL * max(1, max|want|)
 * + RTOL * |want| with ATOL = 1e-5, RTOL = 1e-4, as tests/test_golden.c
 * argues: the reference is the exact float64 result for the same float32
 * inputs, so the difference is float32 rounding (u = 6e-8) along chains of
 * ~60 ops (three encoder passes, the augmenters, seven 10x10 score
 * matrices) summing at most 32 terms, i.e. a few 1e-6 of the summed
 * magnitudes, which the tensor's largest element bounds. Measured: <= 2.3e-6
 * of that scale. A wrong pair, weight, temperature or margin changes the
 * loss by >= 1e-2 and the gradients by O(1) relative.
 * Parameters after the step: |got - want| <= 1e-6 = 0.1 % of the learning
 * rate (measured: 1.2e-7, the rounding of the stored float32 values); an
 * update of the wrong sign, a missed or an extra update (each moves almost
 * every parameter by about lr = 1e-3 on Adam's first steps) errs by 1000x
 * that. The key biases are the exception explained below. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "gradcheck.h"
#include "recsys/mclrec.h"

#define ATOL 1e-5
#define RTOL 1e-4
#define STEP_ATOL 1e-6

enum { GB = 5, GL = 8 };

typedef struct fixture {
    uz_ctx *ctx;
    uz_st_file *f;
    uz_sasrec enc;
    uz_params *enc_params;
    uz_mclrec *m;
    int32_t ids[GB * GL], lengths[GB], targets[GB];
    int32_t view_ids[2][GB * GL], view_lengths[2][GB];
    uz_mclrec_batch batch;
} fixture;

/* The golden encoder (dropout 0, so the training step is deterministic) and
 * augmenters, with the batch and the loss weights the reference used. */
static void setup(fixture *x, uz_mclrec_variant variant, uz_margin_mode reg_mode)
{
    memset(x, 0, sizeof *x);
    x->ctx = uz_ctx_new(0, 0);
    UZ_CK_NOTNULL(x->ctx);
    x->f = uz_golden_open("mclrec_loss.safetensors");
    UZ_CK_NOTNULL(x->f);
    uz_sasrec_config ec = {.n_items = 20, .hidden = 16, .layers = 2, .heads = 2, .inner = 32,
                           .max_len = GL, .ln_eps = 1e-12f};
    x->enc_params = uz_params_new();
    UZ_CK_OK(uz_sasrec_declare(&x->enc, x->enc_params, "", &ec));
    UZ_CK_OK(uz_params_finalize(x->enc_params));
    char path[4096];
    UZ_CK_OK(uz_sasrec_load(&x->enc, uz_golden_path("mclrec_loss.safetensors", path, sizeof path)));

    float w[5];
    UZ_CK_OK(uz_st_read_f32(x->f, "config", 1, (int64_t[]){5}, w));
    uz_mclrec_config c = uz_mclrec_config_default();
    c.variant = variant;
    c.lambda = w[0];
    c.beta = w[1];
    c.tau = w[2];
    c.reg_weight = w[3];
    c.lr = c.aug_lr = w[4];
    c.reg_mode = reg_mode;
    UZ_CK_OK(uz_mclrec_new(&c, &x->enc, x->enc_params, 1, &x->m));
    for (int i = 0; i < uz_params_count(x->m->aug_params); i++) {
        uz_tensor *p = uz_params_at(x->m->aug_params, i);
        UZ_CK_OK(uz_st_read_f32(x->f, p->name, p->ndim, p->shape, p->data));
    }

    UZ_CK_OK(uz_st_read_i32(x->f, "ids", 2, (int64_t[]){GB, GL}, x->ids));
    UZ_CK_OK(uz_st_read_i32(x->f, "lengths", 1, (int64_t[]){GB}, x->lengths));
    UZ_CK_OK(uz_st_read_i32(x->f, "targets", 1, (int64_t[]){GB}, x->targets));
    for (int v = 0; v < 2; v++) {
        char name[32];
        snprintf(name, sizeof name, "view%d_ids", v + 1);
        UZ_CK_OK(uz_st_read_i32(x->f, name, 2, (int64_t[]){GB, GL}, x->view_ids[v]));
        snprintf(name, sizeof name, "view%d_lengths", v + 1);
        UZ_CK_OK(uz_st_read_i32(x->f, name, 1, (int64_t[]){GB}, x->view_lengths[v]));
    }
    x->batch = (uz_mclrec_batch){
        .size = GB, .max_len = GL, .ids = x->ids, .lengths = x->lengths, .targets = x->targets,
        .view_ids = {x->view_ids[0], x->view_ids[1]},
        .view_lengths = {x->view_lengths[0], x->view_lengths[1]},
    };
}

static void teardown(fixture *x)
{
    uz_mclrec_free(x->m);
    uz_params_free(x->enc_params);
    uz_st_close(x->f);
    uz_ctx_free(x->ctx);
}

static void expect_tol(fixture *x, const char *name, const uz_tensor *got, double atol_scale,
                       bool scaled)
{
    ck_assert_msg(got != NULL, "%s: %s", name, uz_error_message());
    uz_tensor *want = uz_golden_tensor(x->ctx, x->f, name);
    UZ_CK_NOTNULL(want);
    double scale = 1.0;
    for (int64_t i = 0; scaled && i < uz_tensor_numel(want); i++)
        scale = fmax(scale, fabs((double)want->data[i]));
    char msg[512];
    ck_assert_msg(uz_golden_close_enough(got, want, atol_scale * scale, scaled ? RTOL : 0.0, msg,
                                         sizeof msg),
                  "mclrec_loss.safetensors %s: %s", name, msg);
}

static void expect(fixture *x, const char *name, const uz_tensor *got)
{
    expect_tol(x, name, got, ATOL, true);
}

/* A 0-d loss as [1], the stored shape. */
static uz_tensor *as_1d(fixture *x, uz_tensor *t)
{
    ck_assert_msg(t != NULL, "%s", uz_error_message());
    return uz_reshape(x->ctx, t, 1, (int64_t[]){1});
}

static void expect_grads(fixture *x, uz_params *p, const char *suffix)
{
    for (int i = 0; i < uz_params_count(p); i++) {
        uz_tensor *t = uz_params_at(p, i);
        char name[256];
        snprintf(name, sizeof name, "%s%s", t->name, suffix);
        expect(x, name, t->grad);
    }
}

START_TEST(test_mclrec_encoder_objective)
{
    fixture x;
    setup(&x, UZ_MCLREC_JOINT, UZ_MARGIN_CODE);
    uz_mclrec_terms t;
    uz_tensor *loss =
        uz_mclrec_loss(x.m, x.ctx, &x.batch, UZ_MCLREC_ENCODER_OBJECTIVE, false, &t);
    expect(&x, "loss", as_1d(&x, loss));
    expect(&x, "rec", as_1d(&x, t.rec));
    expect(&x, "cl1", as_1d(&x, t.cl1));
    expect(&x, "cl2", as_1d(&x, t.cl2));
    expect(&x, "reg", as_1d(&x, t.reg));
    UZ_CK_OK(uz_backward(x.ctx, loss));
    expect_grads(&x, x.enc_params, ".grad");
    expect_grads(&x, x.m->aug_params, ".grad");
    teardown(&x);
}
END_TEST

START_TEST(test_mclrec_paper_regulariser)
{
    fixture x;
    setup(&x, UZ_MCLREC_JOINT, UZ_MARGIN_PAPER);
    uz_mclrec_terms t;
    uz_tensor *loss =
        uz_mclrec_loss(x.m, x.ctx, &x.batch, UZ_MCLREC_ENCODER_OBJECTIVE, false, &t);
    UZ_CK_NOTNULL(loss);
    expect(&x, "reg_paper", as_1d(&x, t.reg));
    expect(&x, "cl2", as_1d(&x, t.cl2));
    teardown(&x);
}
END_TEST

START_TEST(test_mclrec_augmenter_objective)
{
    fixture x;
    setup(&x, UZ_MCLREC_ALTERNATING, UZ_MARGIN_CODE);
    uz_mclrec_terms t;
    uz_tensor *loss =
        uz_mclrec_loss(x.m, x.ctx, &x.batch, UZ_MCLREC_AUGMENTER_OBJECTIVE, false, &t);
    expect(&x, "loss_aug", as_1d(&x, loss));
    ck_assert_ptr_null(t.rec);
    UZ_CK_OK(uz_backward(x.ctx, loss));
    expect_grads(&x, x.m->aug_params, ".grad_aug");
    /* The encoder is not recorded in step 2: its gradient stays zero. */
    const float *g = uz_params_grad(x.enc_params);
    for (int64_t i = 0; i < uz_params_numel(x.enc_params); i++)
        ck_assert_float_eq(g[i], 0.0f);
    teardown(&x);
}
END_TEST

static void expect_params_after(fixture *x, uz_params *p)
{
    for (int i = 0; i < uz_params_count(p); i++) {
        uz_tensor *t = uz_params_at(p, i);
        char name[256];
        snprintf(name, sizeof name, "%s.after_step", t->name);
        /* The key biases' exact gradient is 0 (softmax is invariant to
         * the per-query constant q.b_k they add), so the float64 reference
         * barely moves them while float32 rounding noise (~1e-9) becomes,
         * through Adam's g / sqrt(v), steps of up to lr: for them only the
         * bound of two Adam updates is checked. */
        bool key_bias = strstr(t->name, ".key.bias") != NULL;
        expect_tol(x, name, t, key_bias ? 2.0 * 1.001e-3 : STEP_ATOL, false);
    }
}

START_TEST(test_mclrec_alternating_step)
{
    fixture x;
    setup(&x, UZ_MCLREC_ALTERNATING, UZ_MARGIN_CODE);
    uz_mclrec_step_stats s;
    UZ_CK_OK(uz_mclrec_train_step(x.m, x.ctx, &x.batch, &s));
    ck_assert_int_eq(s.n_updates, 3);
    float want[3];
    UZ_CK_OK(uz_st_read_f32(x.f, "step_losses", 1, (int64_t[]){3}, want));
    for (int i = 0; i < 3; i++)
        ck_assert_msg(fabs((double)s.loss[i] - want[i]) <= ATOL * fabs(want[i]) + 1e-6,
                      "update %d: loss %.7g, want %.7g", i + 1, (double)s.loss[i],
                      (double)want[i]);
    ck_assert_float_eq_tol(s.total, want[0] + want[1] + want[2], 1e-3f);
    expect_params_after(&x, x.enc_params);
    expect_params_after(&x, x.m->aug_params);
    teardown(&x);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("mclrec_loss");
    TCase *tc = tcase_create("golden");
    tcase_add_test(tc, test_mclrec_encoder_objective);
    tcase_add_test(tc, test_mclrec_paper_regulariser);
    tcase_add_test(tc, test_mclrec_augmenter_objective);
    tcase_add_test(tc, test_mclrec_alternating_step);
    suite_add_tcase(s, tc);
    return s;
}

#include "check_main.h"
