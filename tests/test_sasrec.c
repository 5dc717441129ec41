/* The SASRec encoder (recsys/sasrec.c) against RecBole's modules in PyTorch
 * (tests/reference/gen_sasrec_golden.py -> tests/golden/sasrec.safetensors):
 * the representation, the full-softmax CE loss and every parameter's
 * gradient, plus the training path (dropout on the attention probabilities),
 * init, loading by name and the errors.
 *
 * Tolerance: |got - want| <= ATOL * max(1, max|want|) + RTOL * |want| with
 * ATOL = 1e-5 and RTOL = 1e-4, as tests/test_golden.c argues: the reference
 * is the exact float64 result for the same float32 inputs, so the difference
 * is float32 rounding alone, ~n u over chains of ~40 ops summing at most 32
 * terms (u = 6e-8), i.e. a few 1e-6 of the summed magnitude. A wrong mask
 * value, eps, position or layer-norm placement errs by O(1e-2) or more. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "gradcheck.h"
#include "recsys/sasrec.h"

#define ATOL 1e-5
#define RTOL 1e-4

enum { GB = 5, GL = 8 }; /* the golden batch: 5 sequences padded to 8 */

static uz_sasrec_config golden_config(void)
{
    return (uz_sasrec_config){.n_items = 20, .hidden = 16, .layers = 2, .heads = 2,
                              .inner = 32, .max_len = 8, .ln_eps = 1e-12f};
}

typedef struct golden_batch {
    int32_t ids[GB * GL], lengths[GB], targets[GB];
} golden_batch;

static void read_batch(const uz_st_file *f, golden_batch *b)
{
    UZ_CK_OK(uz_st_read_i32(f, "ids", 2, (int64_t[]){GB, GL}, b->ids));
    UZ_CK_OK(uz_st_read_i32(f, "lengths", 1, (int64_t[]){GB}, b->lengths));
    UZ_CK_OK(uz_st_read_i32(f, "targets", 1, (int64_t[]){GB}, b->targets));
}

static void expect(uz_ctx *ctx, const uz_st_file *f, const char *name, const uz_tensor *got)
{
    ck_assert_msg(got != NULL, "%s: %s", name, uz_error_message());
    uz_tensor *want = uz_golden_tensor(ctx, f, name);
    UZ_CK_NOTNULL(want);
    double scale = 1.0;
    for (int64_t i = 0; i < uz_tensor_numel(want); i++)
        scale = fmax(scale, fabs((double)want->data[i]));
    char msg[512];
    ck_assert_msg(uz_golden_close_enough(got, want, ATOL * scale, RTOL, msg, sizeof msg),
                  "sasrec.safetensors %s: %s", name, msg);
}

/* An encoder with the golden weights, loaded by name from a file that also
 * holds other tensors (inputs, outputs, gradients), which the load skips. */
static uz_params *golden_encoder(uz_sasrec *enc, uz_sasrec_config cfg)
{
    uz_params *p = uz_params_new();
    UZ_CK_OK(uz_sasrec_declare(enc, p, "", &cfg));
    UZ_CK_OK(uz_params_finalize(p));
    char path[4096];
    UZ_CK_OK(uz_sasrec_load(enc, uz_golden_path("sasrec.safetensors", path, sizeof path)));
    return p;
}

START_TEST(test_sasrec_golden_forward_backward)
{
    uz_sasrec enc;
    uz_params *p = golden_encoder(&enc, golden_config());
    ck_assert_int_eq(uz_params_count(p), 4 + 2 * 16);
    uz_st_file *f = uz_golden_open("sasrec.safetensors");
    UZ_CK_NOTNULL(f);
    golden_batch b;
    read_batch(f, &b);
    uz_ctx *ctx = uz_ctx_new(0, 0);
    /* Padded to 8; the longest length is 6, so the encoder computes 6
     * positions where PyTorch computed 8. */
    uz_tensor *h = uz_sasrec_forward(ctx, &enc, b.ids, b.lengths, GB, GL, false);
    expect(ctx, f, "h", h);
    uz_tensor *loss = uz_sasrec_ce_loss(ctx, &enc, h, b.targets);
    expect(ctx, f, "loss", uz_reshape(ctx, loss, 1, (int64_t[]){1}));
    UZ_CK_OK(uz_backward(ctx, loss));
    for (int i = 0; i < uz_params_count(p); i++) {
        uz_tensor *t = uz_params_at(p, i);
        char name[160];
        snprintf(name, sizeof name, "%s.grad", t->name);
        /* item_embedding's row 0 included: padding_idx stops the lookup's
         * gradient, but RecBole's softmax keeps the padding column. */
        expect(ctx, f, name, t->grad);
    }
    uz_ctx_free(ctx);
    uz_st_close(f);
    uz_params_free(p);
}
END_TEST

/* Training with dropout only on the attention probabilities, at a rate that
 * drops only where a uniform is exactly 0 (they are multiples of 2^-24;
 * none of this seed's few hundred are) and scales by 1/(1 - 1e-12) = 1, runs
 * the explicit softmax path with RecBole's full -10000 mask; it must give
 * the fused path's answer, including for the sequence whose first item is
 * padding (a query that sees no real key). */
START_TEST(test_sasrec_attention_dropout_path_matches)
{
    uz_sasrec_config cfg = golden_config();
    cfg.attn_dropout = 1e-12f;
    uz_sasrec enc;
    uz_params *p = golden_encoder(&enc, cfg);
    uz_st_file *f = uz_golden_open("sasrec.safetensors");
    UZ_CK_NOTNULL(f);
    golden_batch b;
    read_batch(f, &b);
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *h = uz_sasrec_forward(ctx, &enc, b.ids, b.lengths, GB, GL, true);
    expect(ctx, f, "h", h);
    uz_ctx_free(ctx);
    uz_st_close(f);
    uz_params_free(p);
}
END_TEST

typedef struct train_case {
    const uz_sasrec *enc;
    int32_t ids[3 * 4], lengths[3];
} train_case;

/* The training forward with the same dropout masks on every call. */
static uz_tensor *train_forward(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)in; /* the parameters under test are the encoder's own tensors */
    const train_case *tc = user;
    uz_ctx_set_seed(ctx, 11);
    uz_ctx_set_stream(ctx, 0);
    return uz_sasrec_forward(ctx, tc->enc, tc->ids, tc->lengths, 3, 4, true);
}

START_TEST(test_sasrec_training_dropout_gradcheck)
{
    uz_sasrec_config cfg = {.n_items = 6, .hidden = 8, .layers = 1, .heads = 2, .inner = 8,
                            .max_len = 4, .hidden_dropout = 0.3f, .attn_dropout = 0.4f,
                            .ln_eps = 1e-12f};
    uz_params *p = uz_params_new();
    uz_sasrec enc;
    UZ_CK_OK(uz_sasrec_declare(&enc, p, "enc.", &cfg));
    UZ_CK_OK(uz_params_finalize(p));
    uz_sasrec_init(&enc, 3);
    /* RecBole's 0.02 init would leave the function nearly linear. */
    for (int i = 0; i < uz_params_count(p); i++) {
        uz_tensor *t = uz_params_at(p, i);
        if (t->ndim == 2)
            uz_param_init_uniform(t, 5, (uint64_t)i, -0.6f, 0.6f);
    }
    train_case tc = {.enc = &enc,
                     .ids = {1, 2, 3, 4, 5, 0, 6, 0, 0, 3, 0, 0},
                     .lengths = {4, 3, 2}};
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *train = train_forward(ctx, NULL, &tc);
    uz_tensor *again = train_forward(ctx, NULL, &tc);
    uz_tensor *eval = uz_sasrec_forward(ctx, &enc, tc.ids, tc.lengths, 3, 4, false);
    UZ_CK_NOTNULL(train);
    UZ_CK_NOTNULL(again);
    UZ_CK_NOTNULL(eval);
    ck_assert(uz_test_max_abs_diff(train, again) == 0.0); /* same seed and stream */
    ck_assert(uz_test_max_abs_diff(train, eval) > 1e-2);  /* dropout acted */
    uz_ctx_free(ctx);

    uz_tensor *in[] = {enc.layer[0].q_w, enc.layer[0].v_w, enc.layer[0].ff1_w, enc.item_emb,
                       enc.pos_emb};
    char msg[256];
    ck_assert_msg(uz_gradcheck(in, 5, train_forward, &tc, UZ_GC_DEFAULT, msg, sizeof msg), "%s",
                  msg);
    uz_params_free(p);
}
END_TEST

START_TEST(test_sasrec_declare_and_init)
{
    uz_sasrec_config cfg = uz_sasrec_config_default(12101);
    ck_assert_int_eq(cfg.hidden, 64);
    ck_assert_float_eq(cfg.ln_eps, 1e-12f);
    uz_params *p = uz_params_new();
    uz_sasrec enc;
    UZ_CK_OK(uz_sasrec_declare(&enc, p, "", &cfg));
    /* The official Beauty checkpoint's names and shapes. */
    ck_assert_int_eq(enc.item_emb->shape[0], 12103);
    ck_assert_str_eq(enc.item_emb->name, "item_embedding.weight");
    uz_tensor *t = uz_params_find(p, "trm_encoder.layer.1.multi_head_attention.LayerNorm.bias");
    UZ_CK_NOTNULL(t);
    t = uz_params_find(p, "trm_encoder.layer.0.feed_forward.dense_1.weight");
    UZ_CK_NOTNULL(t);
    ck_assert_int_eq(t->shape[0], 256);
    ck_assert_int_eq(t->shape[1], 64);
    UZ_CK_NOTNULL(uz_params_find(p, "LayerNorm.weight"));
    ck_assert_int_eq(uz_params_count(p), 36);
    UZ_CK_OK(uz_params_finalize(p));
    uz_sasrec_init(&enc, 1);
    ck_assert_float_eq(enc.ln_w->data[5], 1.0f);
    ck_assert_float_eq(enc.layer[1].ff_ln_w->data[0], 1.0f);
    ck_assert_float_eq(enc.layer[0].q_b->data[3], 0.0f);
    double ss = 0.0;
    int64_t n = uz_tensor_numel(enc.item_emb);
    for (int64_t i = 0; i < n; i++)
        ss += (double)enc.item_emb->data[i] * enc.item_emb->data[i];
    ck_assert_double_lt(fabs(sqrt(ss / (double)n) - 0.02), 1e-3);
    ck_assert(enc.item_emb->data[0] != 0.0f); /* RecBole re-initialises the padding row too */
    ck_assert(enc.layer[0].q_w->data[0] != enc.layer[0].k_w->data[0]);
    uz_params_free(p);
}
END_TEST

START_TEST(test_sasrec_errors)
{
    uz_sasrec_config cfg = golden_config();
    uz_params *p = uz_params_new();
    uz_sasrec enc;
    cfg.heads = 3;
    ck_assert_int_eq(uz_sasrec_declare(&enc, p, "", &cfg), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "multiple of 3 heads"));
    cfg = golden_config();
    cfg.attn_dropout = 1.0f;
    ck_assert_int_eq(uz_sasrec_declare(&enc, p, "", &cfg), UZ_ERR_ARG);
    cfg = golden_config();
    cfg.layers = 3; /* the golden file has two */
    UZ_CK_OK(uz_sasrec_declare(&enc, p, "", &cfg));
    UZ_CK_OK(uz_params_finalize(p));
    char path[4096];
    ck_assert_int_ne(uz_sasrec_load(&enc, uz_golden_path("sasrec.safetensors", path, sizeof path)),
                     UZ_OK);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "trm_encoder.layer.2."));

    uz_ctx *ctx = uz_ctx_new(0, 0);
    int32_t ids[2 * 3] = {1, 2, 0, 4, 22, 0}, lengths[2] = {2, 2};
    ck_assert_ptr_null(uz_sasrec_forward(ctx, &enc, ids, lengths, 2, 3, false));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "22")); /* id beyond the table */
    ids[4] = 21;                                              /* the unused last row: valid */
    UZ_CK_NOTNULL(uz_sasrec_forward(ctx, &enc, ids, lengths, 2, 3, false));
    lengths[1] = 0;
    ck_assert_ptr_null(uz_sasrec_forward(ctx, &enc, ids, lengths, 2, 3, false));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "sequence 1 has length 0"));
    lengths[1] = 4;
    ck_assert_ptr_null(uz_sasrec_forward(ctx, &enc, ids, lengths, 2, 3, false));
    int32_t longer[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, len9 = 9;
    ck_assert_ptr_null(uz_sasrec_forward(ctx, &enc, longer, &len9, 1, 9, false));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "max_len 8"));
    uz_ctx_free(ctx);
    uz_params_free(p);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("sasrec");
    TCase *tc = tcase_create("sasrec");
    tcase_add_test(tc, test_sasrec_golden_forward_backward);
    tcase_add_test(tc, test_sasrec_attention_dropout_path_matches);
    tcase_add_test(tc, test_sasrec_training_dropout_gradcheck);
    tcase_add_test(tc, test_sasrec_declare_and_init);
    tcase_add_test(tc, test_sasrec_errors);
    suite_add_tcase(s, tc);
    return s;
}

#include "check_main.h"
