/* Golden tests: unizoo against PyTorch on the files that
 * tests/reference/gen_golden.py wrote to tests/golden/ (read here; no Python
 * at test time). Each test rebuilds the computation from the stored inputs
 * and weights and compares the outputs and every gradient.
 *
 * Tolerance: |got - want| <= ATOL * max(1, max|want|) + RTOL * |want| with
 * ATOL = 1e-5 and RTOL = 1e-4. The references are exact float64 results for
 * the same float32 inputs, so the difference is unizoo's float32 rounding
 * alone (unit roundoff u = 6e-8). The longest chain here (the transformer
 * block's gradients: ~20 ops deep, sums over at most 64 terms) bounds the
 * accumulated error at ~n u = 1e-5 of the magnitude of the summed terms.
 * That magnitude, not the element's own value, sets the absolute error of a
 * sum that cancels, hence an atol scaled by the tensor's largest value (up to
 * ~15 for the transformer's weight gradients). Measured worst errors are
 * <= 3e-7 of that scale, and 2e-6 for layer norm over inputs offset by 100
 * (where a one-pass E[x^2] - E[x]^2 variance would err by ~1e-3 and fail).
 * A wrong formula, index or broadcast errs by O(1) relative and fails by
 * orders of magnitude; even swapping tanh for erf GELU fails by 10x. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check_main.h"
#include "golden.h"
#include "gradcheck.h"
#include "models/transformer.h"

#define ATOL 1e-5
#define RTOL 1e-4

typedef struct golden {
    uz_ctx *ctx;
    uz_st_file *f;
    const char *file;
} golden;

static golden golden_start(const char *file)
{
    golden g = {uz_ctx_new(0, 0), uz_golden_open(file), file};
    ck_assert_ptr_nonnull(g.ctx);
    ck_assert_msg(g.f != NULL, "%s", uz_error_message());
    return g;
}

static void golden_end(golden *g)
{
    uz_st_close(g->f);
    uz_ctx_free(g->ctx);
}

static uz_tensor *ref(const golden *g, const char *name)
{
    uz_tensor *t = uz_golden_tensor(g->ctx, g->f, name);
    ck_assert_msg(t != NULL, "%s: %s", g->file, uz_error_message());
    return t;
}

/* A leaf input holding the stored tensor, with requires_grad set. */
static uz_tensor *leaf(const golden *g, const char *name)
{
    uz_tensor *t = ref(g, name);
    uz_tensor_set_requires_grad(t, true);
    return t;
}

/* Positions where both are -inf (log-probabilities of masked entries) are
 * compared for equality here and zeroed, since inf - inf is NaN. */
static void match_neg_inf(const golden *g, const char *name, uz_tensor *got, uz_tensor *want)
{
    int64_t n = uz_tensor_numel(want);
    for (int64_t i = 0; i < n; i++) {
        bool gi = isinf(got->data[i]) && got->data[i] < 0;
        bool wi = isinf(want->data[i]) && want->data[i] < 0;
        ck_assert_msg(gi == wi, "%s %s: element %lld is %g, expected %g", g->file, name,
                      (long long)i, (double)got->data[i], (double)want->data[i]);
        if (gi)
            got->data[i] = want->data[i] = 0.0f;
    }
}

static void expect(const golden *g, const char *name, uz_tensor *got)
{
    ck_assert_msg(got != NULL, "%s %s: %s", g->file, name, uz_error_message());
    uz_tensor *want = ref(g, name);
    if (uz_tensor_same_shape(got, want)) {
        got = uz_contiguous(g->ctx, got);
        got = uz_tensor_from(g->ctx, got->ndim, got->shape, got->data); /* a copy we may edit */
        match_neg_inf(g, name, got, want);
    }
    double scale = 1.0;
    int64_t n = uz_tensor_numel(want);
    for (int64_t i = 0; i < n; i++)
        scale = fmax(scale, fabs((double)want->data[i]));
    char msg[512];
    ck_assert_msg(uz_golden_close_enough(got, want, ATOL * scale, RTOL, msg, sizeof msg),
                  "%s %s: %s", g->file, name, msg);
}

/* The gradient of t (requires_grad) after backward, as a tensor. */
static void expect_grad(const golden *g, const char *name, const uz_tensor *t)
{
    ck_assert_msg(t->grad != NULL, "%s %s: no gradient", g->file, name);
    expect(g, name, t->grad);
}

/* Backward of loss = sum(y * w) (y's gradient is w); returns the loss. */
static double backward_weighted(const golden *g, uz_tensor *y, const uz_tensor *w)
{
    ck_assert_msg(y != NULL, "%s: %s", g->file, uz_error_message());
    ck_assert(uz_tensor_same_shape(y, w));
    UZ_CK_OK(uz_backward_with(g->ctx, y, w->data));
    int64_t n = uz_tensor_numel(y);
    float *yv = uz_ctx_alloc(g->ctx, sizeof(float) * (size_t)n);
    uz_tensor_copy_out(y, yv);
    double loss = 0;
    for (int64_t i = 0; i < n; i++)
        loss += (double)yv[i] * (double)w->data[i];
    return loss;
}

static void expect_scalar(const golden *g, const char *name, double got)
{
    uz_tensor *t = uz_tensor_full(g->ctx, 1, (int64_t[]){1}, (float)got);
    expect(g, name, t);
}

/* Fills every parameter of p from the tensor of the same name. */
static void load_params(const golden *g, uz_params *p)
{
    for (int i = 0; i < uz_params_count(p); i++) {
        uz_tensor *t = uz_params_at(p, i);
        UZ_CK_OK(uz_st_read_f32(g->f, t->name, t->ndim, t->shape, t->data));
    }
}

/* Compares every parameter's gradient with "<name>.grad". */
static void expect_param_grads(const golden *g, uz_params *p)
{
    for (int i = 0; i < uz_params_count(p); i++) {
        uz_tensor *t = uz_params_at(p, i);
        char name[128];
        snprintf(name, sizeof name, "%s.grad", t->name);
        expect_grad(g, name, t);
    }
}

/* ---- transformer block -------------------------------------------------------- */

static void check_block(const char *var, bool pre_ln, uz_gelu_mode gelu, float eps)
{
    golden g = golden_start("transformer_block.safetensors");
    uz_params *p = uz_params_new();
    uz_transformer_block b;
    uz_transformer_config cfg = {.width = 16, .heads = 4, .mlp_hidden = 64, .pre_ln = pre_ln,
                                 .gelu = gelu, .ln_eps = eps};
    char prefix[16], name[64];
    snprintf(prefix, sizeof prefix, "%s.", var);
    UZ_CK_OK(uz_transformer_block_declare(&b, p, prefix, &cfg));
    ck_assert_int_eq(uz_params_count(p), 12);
    UZ_CK_OK(uz_params_finalize(p));
    load_params(&g, p);

    uz_tensor *x = leaf(&g, "x");
    uz_tensor *y = uz_transformer_block_forward(g.ctx, &b, x, ref(&g, "mask"), true, false);
    snprintf(name, sizeof name, "%s.y", var);
    expect(&g, name, y);
    double loss = backward_weighted(&g, y, ref(&g, "w"));
    snprintf(name, sizeof name, "%s.loss", var);
    expect_scalar(&g, name, loss);
    snprintf(name, sizeof name, "%s.x.grad", var);
    expect_grad(&g, name, x);
    expect_param_grads(&g, p);
    uz_params_free(p);
    golden_end(&g);
}

START_TEST(test_golden_block_pre_ln) { check_block("pre", true, UZ_GELU_TANH, 1e-5f); }
END_TEST

START_TEST(test_golden_block_post_ln) { check_block("post", false, UZ_GELU_ERF, 1e-3f); }
END_TEST

/* ---- the block's own behaviour: init, dropout, errors ------------------------ */

START_TEST(test_block_init_and_dropout)
{
    uz_params *p = uz_params_new();
    uz_transformer_block b0, b1;
    uz_transformer_config cfg = {.width = 8, .heads = 2, .dropout = 0.5f};
    UZ_CK_OK(uz_transformer_block_declare(&b0, p, "h.0.", &cfg));
    UZ_CK_OK(uz_transformer_block_declare(&b1, p, "h.1.", &cfg));
    ck_assert_int_eq(b0.fc_w->shape[0], 32); /* hidden defaults to 4 C */
    ck_assert_ptr_nonnull(uz_params_find(p, "h.1.mlp.proj.bias"));
    UZ_CK_OK(uz_params_finalize(p));
    uz_transformer_block_init(&b0, 7);
    uz_transformer_block_init(&b1, 7);
    ck_assert_float_eq(b0.ln1_w->data[3], 1.0f);
    ck_assert_float_eq(b0.qkv_b->data[5], 0.0f);
    double ss = 0;
    int64_t n = uz_tensor_numel(b0.fc_w);
    for (int64_t i = 0; i < n; i++)
        ss += (double)b0.fc_w->data[i] * b0.fc_w->data[i];
    ck_assert_double_eq_tol(sqrt(ss / (double)n), 0.02, 0.004); /* 256 draws of N(0, 0.02) */
    ck_assert_float_ne(b0.fc_w->data[0], b1.fc_w->data[0]); /* same seed, different names */

    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *x = uz_test_rand(ctx, 3, (int64_t[]){2, 3, 8}, 1, -1, 1);
    uz_tensor *eval = uz_transformer_block_forward(ctx, &b0, x, NULL, false, false);
    uz_ctx_set_seed(ctx, 5);
    uz_tensor *t1 = uz_transformer_block_forward(ctx, &b0, x, NULL, false, true);
    uz_ctx_set_seed(ctx, 5);
    uz_tensor *t2 = uz_transformer_block_forward(ctx, &b0, x, NULL, false, true);
    UZ_CK_NOTNULL(eval);
    UZ_CK_NOTNULL(t1);
    UZ_CK_NOTNULL(t2);
    ck_assert_double_eq(uz_test_max_abs_diff(t1, t2), 0.0); /* reproducible from the seed */
    ck_assert_double_gt(uz_test_max_abs_diff(t1, eval), 1e-4);
    uz_ctx_free(ctx);
    uz_params_free(p);
}
END_TEST

START_TEST(test_block_errors)
{
    uz_params *p = uz_params_new();
    uz_transformer_block b;
    uz_transformer_config bad = {.width = 10, .heads = 4};
    ck_assert_int_eq(uz_transformer_block_declare(&b, p, "", &bad), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "width 10"));
    uz_transformer_config cfg = {.width = 8, .heads = 2};
    UZ_CK_OK(uz_transformer_block_declare(&b, p, "", &cfg));
    UZ_CK_OK(uz_params_finalize(p));
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *x = uz_test_rand(ctx, 3, (int64_t[]){2, 3, 6}, 1, -1, 1);
    ck_assert_ptr_null(uz_transformer_block_forward(ctx, &b, x, NULL, true, false));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "[2,3,6]"));
    ck_assert_ptr_null(uz_transformer_block_forward(ctx, &b, NULL, NULL, true, false));
    uz_ctx_free(ctx);
    uz_params_free(p);
}
END_TEST

/* ---- conv stack ------------------------------------------------------------------ */

START_TEST(test_golden_conv_stack)
{
    golden g = golden_start("conv_stack.safetensors");
    uz_params *p = uz_params_new();
    uz_tensor *c1w = uz_params_add(p, "conv1.weight", 4, (int64_t[]){8, 3, 3, 3});
    uz_tensor *c1b = uz_params_add(p, "conv1.bias", 1, (int64_t[]){8});
    uz_tensor *c2w = uz_params_add(p, "conv2.weight", 4, (int64_t[]){8, 4, 3, 3});
    uz_tensor *c2b = uz_params_add(p, "conv2.bias", 1, (int64_t[]){8});
    uz_tensor *fcw = uz_params_add(p, "fc.weight", 2, (int64_t[]){5, 8});
    uz_tensor *fcb = uz_params_add(p, "fc.bias", 1, (int64_t[]){5});
    UZ_CK_OK(uz_params_finalize(p));
    load_params(&g, p);

    uz_ctx *ctx = g.ctx;
    uz_tensor *x = leaf(&g, "x");
    uz_conv2d_opts same = {.pad_h = 1, .pad_w = 1};
    uz_conv2d_opts down = {.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .groups = 2};
    uz_tensor *a = uz_relu(ctx, uz_conv2d(ctx, x, c1w, c1b, same));
    a = uz_max_pool2d(ctx, a, (uz_pool2d_opts){.kernel_h = 2, .kernel_w = 2});
    a = uz_conv2d(ctx, a, c2w, c2b, down);
    a = uz_avg_pool2d(ctx, a, (uz_pool2d_opts){.kernel_h = 3, .kernel_w = 3, .stride_h = 2,
                                                .stride_w = 2, .pad_h = 1, .pad_w = 1});
    a = uz_reshape(ctx, uz_adaptive_avg_pool2d(ctx, a, 1, 1), 2, (int64_t[]){2, 8});
    uz_tensor *y = uz_linear(ctx, a, fcw, fcb);
    expect(&g, "y", y);
    expect_scalar(&g, "loss", backward_weighted(&g, y, ref(&g, "w")));
    expect_grad(&g, "x.grad", x);
    expect_param_grads(&g, p);

    uz_tensor *ax = leaf(&g, "adaptive.x");
    uz_tensor *ay = uz_adaptive_avg_pool2d(ctx, ax, 3, 2);
    expect(&g, "adaptive.y", ay);
    backward_weighted(&g, ay, ref(&g, "adaptive.w"));
    expect_grad(&g, "adaptive.x.grad", ax);
    uz_params_free(p);
    golden_end(&g);
}
END_TEST

/* ---- attention --------------------------------------------------------------------- */

static const struct attn_case {
    const char *name;
    bool causal, has_mask;
    float scale;
} attn_cases[] = {
    {"plain", false, false, 0.0f},  {"causal", true, false, 0.0f},
    {"mask", false, true, 0.5f},    {"padding", true, true, 0.0f},
    {"fully_masked", true, true, 0.0f},
};

/* A leaf holding t's values laid out as [B, T, H, D], and its permuted
 * [B, H, T, D] view, so the op sees strided q/k/v as in a real model. */
static uz_tensor *strided_leaf(uz_ctx *ctx, uz_tensor *t, uz_tensor **leaf_out)
{
    const int swap[4] = {0, 2, 1, 3};
    uz_tensor *c = uz_contiguous(ctx, uz_permute(ctx, t, swap));
    uz_tensor *l = uz_tensor_from(ctx, 4, c->shape, c->data);
    uz_tensor_set_requires_grad(l, true);
    *leaf_out = l;
    return uz_permute(ctx, l, swap);
}

START_TEST(test_golden_attention)
{
    const int swap[4] = {0, 2, 1, 3};
    for (size_t ci = 0; ci < sizeof attn_cases / sizeof *attn_cases; ci++) {
        const struct attn_case *c = &attn_cases[ci];
        golden g = golden_start("attention.safetensors");
        char name[64];
        uz_tensor *in[3], *leaves[3];
        const char *qkv[3] = {"q", "k", "v"};
        for (int i = 0; i < 3; i++) {
            /* Odd cases feed [B, T, H, D]-strided inputs. */
            if (ci % 2)
                in[i] = strided_leaf(g.ctx, ref(&g, qkv[i]), &leaves[i]);
            else
                in[i] = leaves[i] = leaf(&g, qkv[i]);
        }
        uz_tensor *mask = NULL;
        if (c->has_mask) {
            snprintf(name, sizeof name, "%s.mask", c->name);
            mask = ref(&g, name);
        }
        uz_tensor *y = uz_attention(g.ctx, in[0], in[1], in[2], mask, c->causal, c->scale);
        snprintf(name, sizeof name, "%s.y", c->name);
        expect(&g, name, y);
        backward_weighted(&g, y, ref(&g, "w"));
        for (int i = 0; i < 3; i++) {
            snprintf(name, sizeof name, "%s.%s.grad", c->name, qkv[i]);
            ck_assert_ptr_nonnull(leaves[i]->grad);
            expect(&g, name, ci % 2 ? uz_permute(g.ctx, leaves[i]->grad, swap) : leaves[i]->grad);
        }
        golden_end(&g);
    }
}
END_TEST

/* ---- cross entropy ------------------------------------------------------------------- */

START_TEST(test_golden_cross_entropy)
{
    static const struct {
        const char *name;
        int32_t ignore_index;
    } cases[] = {{"small", -100}, {"big", -100}, {"3d", 3}};
    static const struct {
        const char *tag;
        float smoothing;
    } smooth[] = {{"ls0", 0.0f}, {"ls01", 0.1f}};
    golden g = golden_start("cross_entropy.safetensors");
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        for (size_t si = 0; si < sizeof smooth / sizeof *smooth; si++) {
            char name[64];
            snprintf(name, sizeof name, "%s.logits", cases[ci].name);
            uz_tensor *logits = leaf(&g, name);
            int64_t rows = uz_tensor_numel(logits) / logits->shape[logits->ndim - 1];
            int32_t *targets = uz_ctx_alloc(g.ctx, sizeof(int32_t) * (size_t)rows);
            snprintf(name, sizeof name, "%s.targets", cases[ci].name);
            UZ_CK_OK(uz_st_read_i32(g.f, name, 1, (int64_t[]){rows}, targets));
            uz_tensor *loss = uz_cross_entropy(g.ctx, logits, targets, cases[ci].ignore_index,
                                               smooth[si].smoothing);
            UZ_CK_NOTNULL(loss);
            UZ_CK_OK(uz_backward(g.ctx, loss));
            snprintf(name, sizeof name, "%s.%s.loss", cases[ci].name, smooth[si].tag);
            expect_scalar(&g, name, (double)loss->data[0]);
            snprintf(name, sizeof name, "%s.%s.grad", cases[ci].name, smooth[si].tag);
            expect_grad(&g, name, logits);
        }
    }
    golden_end(&g);
}
END_TEST

/* ---- softmax, log-softmax, layer norm ------------------------------------------------ */

START_TEST(test_golden_softmax)
{
    golden g = golden_start("softmax_layernorm.safetensors");
    uz_tensor *mask = ref(&g, "softmax.mask");
    static const char *names[] = {"softmax", "softmax_nomask", "log_softmax"};
    for (int i = 0; i < 3; i++) {
        char name[64];
        uz_tensor *x = leaf(&g, "softmax.x");
        uz_tensor *y = i == 2 ? uz_log_softmax(g.ctx, x, mask)
                              : uz_softmax(g.ctx, x, i ? NULL : mask);
        snprintf(name, sizeof name, "%s.y", names[i]);
        expect(&g, name, y);
        backward_weighted(&g, y, ref(&g, i == 2 ? "log_softmax.w" : "softmax.w"));
        snprintf(name, sizeof name, "%s.x.grad", names[i]);
        expect_grad(&g, name, x);
    }
    golden_end(&g);
}
END_TEST

START_TEST(test_golden_layer_norm)
{
    golden g = golden_start("softmax_layernorm.safetensors");
    static const char *names[] = {"ln", "ln_noaffine", "ln_offset"};
    for (int i = 0; i < 3; i++) {
        char name[64];
        bool affine = i != 1;
        uz_tensor *x = leaf(&g, i == 2 ? "ln_offset.x" : "ln.x");
        uz_tensor *w = affine ? leaf(&g, "ln.weight") : NULL;
        uz_tensor *b = affine ? leaf(&g, "ln.bias") : NULL;
        uz_tensor *y = uz_layer_norm(g.ctx, x, w, b, 1e-5f);
        snprintf(name, sizeof name, "%s.y", names[i]);
        expect(&g, name, y);
        backward_weighted(&g, y, ref(&g, "ln.w"));
        snprintf(name, sizeof name, "%s.x.grad", names[i]);
        expect_grad(&g, name, x);
        if (affine) {
            snprintf(name, sizeof name, "%s.weight.grad", names[i]);
            expect_grad(&g, name, w);
            snprintf(name, sizeof name, "%s.bias.grad", names[i]);
            expect_grad(&g, name, b);
        }
    }
    golden_end(&g);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("golden");
    TCase *tc = tcase_create("pytorch");
    tcase_add_test(tc, test_golden_block_pre_ln);
    tcase_add_test(tc, test_golden_block_post_ln);
    tcase_add_test(tc, test_block_init_and_dropout);
    tcase_add_test(tc, test_block_errors);
    tcase_add_test(tc, test_golden_conv_stack);
    tcase_add_test(tc, test_golden_attention);
    tcase_add_test(tc, test_golden_cross_entropy);
    tcase_add_test(tc, test_golden_softmax);
    tcase_add_test(tc, test_golden_layer_norm);
    suite_add_tcase(s, tc);
    return s;
}
