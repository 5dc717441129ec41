/* The augmenter MLP (recsys/augmenter.c) and MCLRec's variants and training
 * step (recsys/mclrec.c) beyond the PyTorch golden of test_mclrec_loss.c:
 * augmenter names, widths, init range, values against a naive double loop
 * and gradient checks; which stores each variant updates and how often;
 * that a step allocates nothing once the first one sized the arena; that
 * steps are reproducible from the context's seed; errors, including a
 * non-finite loss. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "recsys/augment.h"
#include "recsys/mclrec.h"

/* ---- augmenter ------------------------------------------------------------ */

START_TEST(test_augmenter_declare_init)
{
    uz_params *p = uz_params_new();
    uz_augmenter a;
    UZ_CK_OK(uz_augmenter_declare(&a, p, "aug_1", 64));
    UZ_CK_OK(uz_params_finalize(p));
    static const char *const names[] = {"aug_1.dense_1.weight", "aug_1.dense_1.bias",
                                        "aug_1.dense_2.weight", "aug_1.dense_2.bias",
                                        "aug_1.dense_3.weight", "aug_1.dense_3.bias"};
    static const int64_t shapes[][2] = {{32, 64}, {32, 0}, {16, 32}, {16, 0}, {64, 16}, {64, 0}};
    ck_assert_int_eq(uz_params_count(p), 6);
    for (int i = 0; i < 6; i++) {
        uz_tensor *t = uz_params_find(p, names[i]);
        ck_assert_msg(t != NULL, "%s missing", names[i]);
        ck_assert_int_eq(t->shape[0], shapes[i][0]);
        if (shapes[i][1])
            ck_assert_int_eq(t->shape[1], shapes[i][1]);
    }
    uz_augmenter_init(&a, 3, 0);
    for (int l = 0; l < UZ_AUGMENTER_LAYERS; l++) {
        double bound = 1.0 / sqrt((double)a.width[l]), lo = 1, hi = -1;
        uz_tensor *ts[2] = {a.weight[l], a.bias[l]};
        for (int k = 0; k < 2; k++)
            for (int64_t i = 0; i < uz_tensor_numel(ts[k]); i++) {
                lo = fmin(lo, ts[k]->data[i]);
                hi = fmax(hi, ts[k]->data[i]);
            }
        ck_assert_msg(lo >= -bound && hi <= bound && hi - lo > bound,
                      "layer %d: [%g, %g] for bound %g", l, lo, hi, bound);
    }
    uz_augmenter bad;
    ck_assert_int_eq(uz_augmenter_declare(&bad, p, "aug_2", 6), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "hidden size 6 is not a positive multiple of 4"));
    uz_params_free(p);
}
END_TEST

static double gelu(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }

START_TEST(test_augmenter_forward_values)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_params *p = uz_params_new();
    uz_augmenter a;
    UZ_CK_OK(uz_augmenter_declare(&a, p, "aug_2", 8));
    UZ_CK_OK(uz_params_finalize(p));
    uz_augmenter_init(&a, 9, 0);
    uz_tensor *h = uz_test_rand(ctx, 2, (int64_t[]){3, 8}, 4, -2, 2);
    uz_tensor *z = uz_augmenter_forward(ctx, &a, h);
    UZ_CK_NOTNULL(z);
    ck_assert_int_eq(z->shape[0], 3);
    ck_assert_int_eq(z->shape[1], 8);
    for (int64_t r = 0; r < 3; r++) {
        double x[8], y[8];
        for (int i = 0; i < 8; i++)
            x[i] = h->data[r * 8 + i];
        int64_t in = 8;
        for (int l = 0; l < UZ_AUGMENTER_LAYERS; l++) {
            int64_t out = a.width[l + 1];
            for (int64_t o = 0; o < out; o++) {
                double acc = a.bias[l]->data[o];
                for (int64_t i = 0; i < in; i++)
                    acc += (double)a.weight[l]->data[o * in + i] * x[i];
                y[o] = l + 1 < UZ_AUGMENTER_LAYERS ? gelu(acc) : acc;
            }
            memcpy(x, y, sizeof(double) * (size_t)out);
            in = out;
        }
        double norm = 0;
        for (int i = 0; i < 8; i++)
            norm += x[i] * x[i];
        norm = sqrt(norm);
        double got_norm = 0;
        for (int i = 0; i < 8; i++) {
            ck_assert_double_eq_tol(z->data[r * 8 + i], x[i] / norm, 1e-5);
            got_norm += (double)z->data[r * 8 + i] * z->data[r * 8 + i];
        }
        ck_assert_double_eq_tol(got_norm, 1.0, 1e-5);
    }
    uz_params_free(p);
    uz_ctx_free(ctx);
}
END_TEST

typedef struct gc_augmenter {
    uz_augmenter a;
    bool transposed;     /* in[0] is h^T [d, B] */
} gc_augmenter;

/* The augmenter over leaf tensors in[1..6] (weights and biases), so the
 * check covers the parameters' gradients too. */
static uz_tensor *f_augmenter(uz_ctx *ctx, uz_tensor **in, void *user)
{
    const gc_augmenter *g = user;
    uz_augmenter a = g->a;
    for (int l = 0; l < UZ_AUGMENTER_LAYERS; l++) {
        a.weight[l] = in[1 + 2 * l];
        a.bias[l] = in[2 + 2 * l];
    }
    return uz_augmenter_forward(ctx, &a, g->transposed ? uz_transpose(ctx, in[0], 0, 1) : in[0]);
}

START_TEST(test_augmenter_grad)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    gc_augmenter g = {.a = {.width = {8, 4, 2, 8}}};
    const uz_augmenter a = g.a;
    uz_tensor *in[7];
    in[0] = uz_test_rand(ctx, 2, (int64_t[]){3, 8}, 1, -1, 1);
    for (int l = 0; l < UZ_AUGMENTER_LAYERS; l++) {
        in[1 + 2 * l] = uz_test_rand(ctx, 2, (int64_t[]){a.width[l + 1], a.width[l]},
                                     (uint64_t)(10 + l), -1, 1);
        in[2 + 2 * l] = uz_test_rand(ctx, 1, (int64_t[]){a.width[l + 1]}, (uint64_t)(20 + l),
                                     -0.5f, 0.5f);
    }
    char msg[256];
    ck_assert_msg(uz_gradcheck(in, 7, f_augmenter, &g, UZ_GC_DEFAULT, msg, sizeof msg), "%s", msg);
    /* A non-contiguous input: h given as [8, 3] and transposed. */
    g.transposed = true;
    in[0] = uz_test_rand(ctx, 2, (int64_t[]){8, 3}, 2, -1, 1);
    ck_assert_msg(uz_gradcheck(in, 7, f_augmenter, &g, UZ_GC_DEFAULT, msg, sizeof msg),
                  "transposed: %s", msg);
    uz_ctx_free(ctx);
}
END_TEST

/* ---- MCLRec variants and the step ------------------------------------------ */

enum { B = 6, L = 8, N_ITEMS = 30 };

typedef struct model {
    uz_sasrec enc;
    uz_params *enc_params;
    uz_mclrec *m;
    int32_t ids[B * L], lengths[B], targets[B];
    int32_t view_ids[2][B * L], view_lengths[2][B];
    uz_mclrec_batch batch;
} model;

static void model_init(model *x, uz_mclrec_variant variant, float dropout)
{
    memset(x, 0, sizeof *x);
    uz_sasrec_config ec = {.n_items = N_ITEMS, .hidden = 16, .layers = 1, .heads = 2,
                           .inner = 32, .max_len = L, .hidden_dropout = dropout,
                           .attn_dropout = dropout, .ln_eps = 1e-12f};
    x->enc_params = uz_params_new();
    UZ_CK_OK(uz_sasrec_declare(&x->enc, x->enc_params, "", &ec));
    UZ_CK_OK(uz_params_finalize(x->enc_params));
    uz_sasrec_init(&x->enc, 5);
    uz_mclrec_config c = uz_mclrec_config_default();
    c.variant = variant;
    c.lambda = 0.1f;
    c.beta = 0.2f;
    UZ_CK_OK(uz_mclrec_new(&c, &x->enc, x->enc_params, 6, &x->m));
    for (int64_t r = 0; r < B; r++) {
        x->lengths[r] = r == 0 ? L : (int32_t)(1 + (r * 3) % L);
        for (int32_t i = 0; i < x->lengths[r]; i++)
            x->ids[r * L + i] = (int32_t)(1 + (r * 7 + i * 5) % N_ITEMS);
        x->targets[r] = (int32_t)(1 + (r * 11) % N_ITEMS);
    }
    uz_augment_config ac = uz_augment_defaults();
    UZ_CK_OK(uz_augment_batch(&ac, x->ids, x->lengths, B, L, 1, 0,
                              (int32_t *const[2]){x->view_ids[0], x->view_ids[1]},
                              (int32_t *const[2]){x->view_lengths[0], x->view_lengths[1]}, NULL));
    x->batch = (uz_mclrec_batch){
        .size = B, .max_len = L, .ids = x->ids, .lengths = x->lengths, .targets = x->targets,
        .view_ids = {x->view_ids[0], x->view_ids[1]},
        .view_lengths = {x->view_lengths[0], x->view_lengths[1]},
    };
}

static void model_free(model *x)
{
    uz_mclrec_free(x->m);
    uz_params_free(x->enc_params);
}

static bool store_equal(uz_params *a, uz_params *b)
{
    return memcmp(uz_params_data(a), uz_params_data(b),
                  sizeof(float) * (size_t)uz_params_numel(a)) == 0;
}

static float *snapshot(uz_params *p)
{
    size_t n = (size_t)uz_params_numel(p);
    float *s = malloc(sizeof(float) * n);
    memcpy(s, uz_params_data(p), sizeof(float) * n);
    return s;
}

static bool changed(uz_params *p, const float *before)
{
    return memcmp(uz_params_data(p), before, sizeof(float) * (size_t)uz_params_numel(p)) != 0;
}

START_TEST(test_mclrec_variants_update)
{
    static const uz_mclrec_variant variants[] = {UZ_MCLREC_ALTERNATING, UZ_MCLREC_JOINT,
                                                 UZ_MCLREC_CL4SREC, UZ_MCLREC_SASREC};
    static const int updates[] = {3, 1, 1, 1};
    for (int v = 0; v < 4; v++) {
        uz_ctx *ctx = uz_ctx_new(0, 0);
        uz_ctx_set_seed(ctx, 3);
        model x;
        model_init(&x, variants[v], 0.1f);
        bool augmenters = v < 2;
        ck_assert_int_eq(x.m->aug_params != NULL, augmenters);
        ck_assert_int_eq(x.m->aug_optim != NULL, augmenters);
        if (variants[v] == UZ_MCLREC_SASREC)
            x.batch.view_ids[0] = x.batch.view_ids[1] = NULL;  /* not needed */
        float *enc0 = snapshot(x.enc_params);
        float *aug0 = augmenters ? snapshot(x.m->aug_params) : NULL;
        uz_mclrec_step_stats s;
        UZ_CK_OK(uz_mclrec_train_step(x.m, ctx, &x.batch, &s));
        ck_assert_int_eq(s.n_updates, updates[v]);
        float sum = 0;
        for (int i = 0; i < s.n_updates; i++) {
            ck_assert(isfinite(s.loss[i]) && s.loss[i] > 0);
            sum += s.loss[i];
        }
        ck_assert_float_eq(s.total, sum);
        ck_assert(s.rec > 0);
        ck_assert(isfinite(s.grad_norm) && s.grad_norm > 0);
        ck_assert_int_eq(s.cl1 > 0, variants[v] != UZ_MCLREC_SASREC);
        ck_assert_int_eq(s.cl2 > 0, augmenters);
        ck_assert_int_eq(s.reg > 0, augmenters);
        /* The first update's objective from its terms. */
        float want = s.rec + 0.1f * s.cl1 + (augmenters ? 0.2f * (s.cl2 + 0.1f * s.reg) : 0.0f);
        ck_assert_float_eq_tol(s.loss[0], want, 1e-4f * want);
        ck_assert(changed(x.enc_params, enc0));
        if (augmenters) {
            ck_assert(changed(x.m->aug_params, aug0));
            ck_assert_int_eq(uz_optim_steps(x.m->aug_optim), 1);
            /* trainable again after the step */
            ck_assert(x.m->aug[0].weight[0]->requires_grad);
        }
        /* Alternating: the encoder twice, the augmenters once. */
        ck_assert_int_eq(uz_optim_steps(x.m->enc_optim), variants[v] == UZ_MCLREC_ALTERNATING ? 2 : 1);
        /* Gradients are left zeroed. */
        for (int64_t i = 0; i < uz_params_numel(x.enc_params); i++)
            ck_assert_float_eq(uz_params_grad(x.enc_params)[i], 0.0f);
        free(enc0);
        free(aug0);
        model_free(&x);
        uz_ctx_free(ctx);
    }
}
END_TEST

START_TEST(test_mclrec_step_allocates_nothing)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_ctx_set_seed(ctx, 8);
    model x;
    model_init(&x, UZ_MCLREC_ALTERNATING, 0.2f);
    UZ_CK_OK(uz_mclrec_train_step(x.m, ctx, &x.batch, NULL));
    uint64_t allocs = uz_alloc_count();
    size_t peak = uz_ctx_arena_peak(ctx);
    for (int i = 0; i < 4; i++)
        UZ_CK_OK(uz_mclrec_train_step(x.m, ctx, &x.batch, NULL));
    ck_assert_uint_eq(uz_alloc_count(), allocs);
    ck_assert_uint_eq(uz_ctx_arena_peak(ctx), peak);
    model_free(&x);
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_mclrec_step_reproducible)
{
    model a, b, c;
    uz_ctx *ctx = uz_ctx_new(0, 0);
    for (int run = 0; run < 3; run++) {
        model *x = run == 0 ? &a : run == 1 ? &b : &c;
        model_init(x, UZ_MCLREC_ALTERNATING, 0.3f);
        uz_ctx_set_seed(ctx, run < 2 ? 21 : 22);
        for (int i = 0; i < 2; i++)
            UZ_CK_OK(uz_mclrec_train_step(x->m, ctx, &x->batch, NULL));
    }
    ck_assert(store_equal(a.enc_params, b.enc_params));
    ck_assert(store_equal(a.m->aug_params, b.m->aug_params));
    /* Another dropout seed trains differently. */
    ck_assert(!store_equal(a.enc_params, c.enc_params));
    model_free(&a);
    model_free(&b);
    model_free(&c);
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_mclrec_errors)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    model x;
    model_init(&x, UZ_MCLREC_CL4SREC, 0.0f);
    uz_mclrec_batch one = x.batch;
    one.size = 1;
    ck_assert_int_eq(uz_mclrec_train_step(x.m, ctx, &one, NULL), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "need a batch of >= 2, got 1"));
    uz_mclrec_batch no_view = x.batch;
    no_view.view_ids[1] = NULL;
    ck_assert_int_eq(uz_mclrec_train_step(x.m, ctx, &no_view, NULL), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "cl4srec variant needs both augmented views (view 2 missing)"));
    ck_assert_ptr_null(uz_mclrec_loss(x.m, ctx, &x.batch, UZ_MCLREC_AUGMENTER_OBJECTIVE, true, NULL));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "needs a variant with augmenters"));

    /* A non-finite loss stops before the update. */
    x.enc.item_emb->data[x.ids[0] * 16] = NAN;
    ck_assert_int_eq(uz_mclrec_train_step(x.m, ctx, &x.batch, NULL), UZ_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "encoder objective is nan"));
    ck_assert_int_eq(uz_optim_steps(x.m->enc_optim), 0);
    model_free(&x);

    uz_mclrec_config c = uz_mclrec_config_default();
    c.tau = 0.0f;
    uz_mclrec *m = NULL;
    ck_assert_int_eq(uz_mclrec_new(&c, &x.enc, x.enc_params, 1, &m), UZ_ERR_ARG);
    ck_assert_ptr_null(m);
    uz_mclrec_variant v;
    UZ_CK_OK(uz_mclrec_variant_parse("mclrec-j", &v));
    ck_assert_int_eq(v, UZ_MCLREC_JOINT);
    ck_assert_int_eq(uz_mclrec_variant_parse("duorec", &v), UZ_ERR_ARG);
    uz_margin_mode mm;
    UZ_CK_OK(uz_margin_mode_parse("paper", &mm));
    ck_assert_int_eq(mm, UZ_MARGIN_PAPER);
    ck_assert_int_eq(uz_margin_mode_parse("set", &mm), UZ_ERR_ARG);
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("mclrec");
    TCase *tc = tcase_create("mclrec");
    tcase_add_test(tc, test_augmenter_declare_init);
    tcase_add_test(tc, test_augmenter_forward_values);
    tcase_add_test(tc, test_augmenter_grad);
    tcase_add_test(tc, test_mclrec_variants_update);
    tcase_add_test(tc, test_mclrec_step_allocates_nothing);
    tcase_add_test(tc, test_mclrec_step_reproducible);
    tcase_add_test(tc, test_mclrec_errors);
    suite_add_tcase(s, tc);
    return s;
}

#include "check_main.h"
