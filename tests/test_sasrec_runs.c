/* uz_sasrec_forward on batches of mixed lengths, which it encodes as runs of
 * similar length, each cut to its own longest row, and puts back in the
 * caller's order: the representations and the parameter gradients must be
 * those of encoding every row alone (a single row is always one run, at
 * its own length), and the training path (dropout) must have the right
 * gradient through the runs' concatenation and reordering.
 *
 * The batches below are split into runs by construction: with d 16 and
 * inner 32 a token costs 8 d^2 + 4 d inner = 4096, the split of many
 * one-item rows from a few long ones saves hundreds of token-costs against
 * the 64 per extra run. Tolerance 1e-5 of the values' scale: the same
 * float32 arithmetic in GEMMs of other row counts (OpenBLAS may block them
 * differently), ~ n u over chains of ~40 ops. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "recsys/sasrec.h"

enum { B = 24, L = 40 };

static uz_params *make_encoder(uz_sasrec *enc, const uz_sasrec_config *cfg)
{
    uz_params *p = uz_params_new();
    UZ_CK_OK(uz_sasrec_declare(enc, p, "", cfg));
    UZ_CK_OK(uz_params_finalize(p));
    uz_sasrec_init(enc, 7);
    /* RecBole's 0.02 init would leave the layers nearly linear. */
    for (int i = 0; i < uz_params_count(p); i++) {
        uz_tensor *t = uz_params_at(p, i);
        if (t->ndim == 2)
            uz_param_init_uniform(t, 9, (uint64_t)i, -0.5f, 0.5f);
    }
    return p;
}

/* Rows in scrambled length order: mostly 1-4 items, one of 40, one of 21,
 * one of 9; some with a padding id inside (as the mask augmentation). */
static void make_batch(int32_t *ids, int32_t *lengths)
{
    memset(ids, 0, sizeof(int32_t) * B * L);
    for (int r = 0; r < B; r++) {
        lengths[r] = r == 5 ? 40 : r == 17 ? 21 : r == 11 ? 9 : 1 + (r * 7) % 4;
        for (int i = 0; i < lengths[r]; i++)
            ids[r * L + i] = (r + i) % 5 == 0 ? 0 : 1 + (r * 13 + i * 5) % 30;
    }
}

/* sum(h * w) for a fixed w. */
static uz_tensor *weighted_sum(uz_ctx *ctx, uz_tensor *h, const float *w)
{
    uz_tensor *wt = uz_tensor_from(ctx, 2, h->shape, w);
    return uz_sum(ctx, uz_mul(ctx, h, wt), NULL, 0, false);
}

START_TEST(test_sasrec_runs_match_rows_alone)
{
    uz_sasrec_config cfg = {.n_items = 30, .hidden = 16, .layers = 2, .heads = 2, .inner = 32,
                            .max_len = L, .ln_eps = 1e-12f};
    uz_sasrec enc;
    uz_params *p = make_encoder(&enc, &cfg);
    int32_t ids[B * L], lengths[B];
    make_batch(ids, lengths);
    float w[B * 16];
    uz_rng_fill_uniform(w, B * 16, 3, 0, 0, -1.0f, 1.0f);
    int64_t np = uz_params_numel(p);

    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *h = uz_sasrec_forward(ctx, &enc, ids, lengths, B, L, false);
    UZ_CK_NOTNULL(h);
    ck_assert_int_eq(h->shape[0], B);
    UZ_CK_OK(uz_backward(ctx, weighted_sum(ctx, h, w)));
    float *grad_batch = malloc(sizeof(float) * (size_t)np);
    memcpy(grad_batch, uz_params_grad(p), sizeof(float) * (size_t)np);
    uz_params_zero_grad(p);

    double scale = 1.0, worst = 0.0;
    for (int r = 0; r < B; r++) {
        uz_tensor *hr = uz_sasrec_forward(ctx, &enc, ids + r * L, lengths + r, 1, L, false);
        UZ_CK_NOTNULL(hr);
        for (int j = 0; j < 16; j++) {
            scale = fmax(scale, fabs((double)hr->data[j]));
            worst = fmax(worst, fabs((double)hr->data[j] - (double)h->data[r * 16 + j]));
        }
        UZ_CK_OK(uz_backward(ctx, weighted_sum(ctx, hr, w + r * 16)));
    }
    ck_assert_msg(worst <= 1e-5 * scale, "representations differ by %g (scale %g)", worst, scale);

    const float *grad_rows = uz_params_grad(p);
    double gscale = 1.0, gworst = 0.0;
    for (int64_t i = 0; i < np; i++) {
        gscale = fmax(gscale, fabs((double)grad_rows[i]));
        gworst = fmax(gworst, fabs((double)grad_rows[i] - (double)grad_batch[i]));
    }
    ck_assert_msg(gworst <= 1e-5 * gscale, "gradients differ by %g (scale %g)", gworst, gscale);
    free(grad_batch);
    uz_ctx_free(ctx);
    uz_params_free(p);
}
END_TEST

typedef struct train_case {
    const uz_sasrec *enc;
    int32_t ids[6 * 12], lengths[6];
} train_case;

/* The training forward with the same dropout masks on every call. */
static uz_tensor *train_forward(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)in; /* the parameters under test are the encoder's own tensors */
    const train_case *tc = user;
    uz_ctx_set_seed(ctx, 5);
    uz_ctx_set_stream(ctx, 0);
    return uz_sasrec_forward(ctx, tc->enc, tc->ids, tc->lengths, 6, 12, true);
}

/* Five one-item rows around one of 12 (two runs: 5 x 1 and 1 x 12). */
START_TEST(test_sasrec_runs_training_gradcheck)
{
    uz_sasrec_config cfg = {.n_items = 9, .hidden = 8, .layers = 1, .heads = 2, .inner = 8,
                            .max_len = 12, .hidden_dropout = 0.3f, .attn_dropout = 0.3f,
                            .ln_eps = 1e-12f};
    uz_sasrec enc;
    uz_params *p = make_encoder(&enc, &cfg);
    train_case tc = {.enc = &enc, .lengths = {1, 1, 12, 1, 1, 1}};
    for (int r = 0; r < 6; r++)
        for (int i = 0; i < tc.lengths[r]; i++)
            tc.ids[r * 12 + i] = i == 4 ? 0 : 1 + (r * 5 + i * 2) % 9;
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *train = train_forward(ctx, NULL, &tc);
    uz_tensor *eval = uz_sasrec_forward(ctx, &enc, tc.ids, tc.lengths, 6, 12, false);
    UZ_CK_NOTNULL(train);
    UZ_CK_NOTNULL(eval);
    ck_assert(uz_test_max_abs_diff(train, eval) > 1e-2); /* dropout acted */
    uz_ctx_free(ctx);

    uz_tensor *in[] = {enc.layer[0].q_w, enc.layer[0].ff1_w, enc.item_emb, enc.pos_emb};
    char msg[256];
    ck_assert_msg(uz_gradcheck(in, 4, train_forward, &tc, UZ_GC_DEFAULT, msg, sizeof msg), "%s",
                  msg);
    uz_params_free(p);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("sasrec_runs");
    TCase *tc = tcase_create("sasrec_runs");
    tcase_add_test(tc, test_sasrec_runs_match_rows_alone);
    tcase_add_test(tc, test_sasrec_runs_training_gradcheck);
    suite_add_tcase(s, tc);
    return s;
}

#include "check_main.h"
