/* The text encoder, the attribute-level MoE FFN and the unified decoder:
 * golden comparison with the PyTorch twin (tests/reference/uzgen/text.py,
 * written by tests/reference/gen_decoder_golden.py) of a whole
 * caption-scoring pass, dense and MoE; the caption mask's pattern; the
 * logit-scale cap; MoE gradient checks and routing properties; errors.
 *
 * Golden tolerance: |got - want| <= ATOL * max(1, max|want|) + RTOL * |want|
 * per tensor, ATOL 2e-5, RTOL 1e-4. The reference is float64 on the same
 * float32 inputs and weights, so the gap is unizoo's float32 rounding along
 * chains of ~60 ops (two text layers, two decoder layers twice, projection,
 * cosine, scale) with sums over <= 128 terms; the measured worst error is
 * 2.1e-6 of the scale (the loss, a float32 sum of ~1600 products), 1.1e-6
 * for any gradient, so ATOL leaves a 10x margin. A wrong index, route or
 * formula errs by O(1) relative. A gradient that the reference has exactly zero (an expert
 * no segment chose) must be exactly zero here. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check_main.h"
#include "golden.h"
#include "gradcheck.h"
#include "models/text_encoder.h"
#include "models/unified_decoder.h"

#define ATOL 2e-5
#define RTOL 1e-4

enum { D = 32, HEADS = 2, HIDDEN = 32, VOCAB = 50, LEN = 6, OUT_DIM = 16, N_IMG = 5 };

/* The generator's fill_param: exact float32 values from the name's hash. */
static void fill_param(uz_tensor *t)
{
    uint64_t h = 14695981039346656037ull;
    for (const char *s = t->name; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    size_t len = strlen(t->name);
    bool logit = len >= 11 && strcmp(t->name + len - 11, "logit_scale") == 0;
    bool weight = len >= 7 && strcmp(t->name + len - 7, ".weight") == 0;
    for (int64_t i = 0; i < uz_tensor_numel(t); i++) {
        uint64_t x = h + (uint64_t)i + 0x9E3779B97F4A7C15ull;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
        x ^= x >> 31;
        double v = (double)((int64_t)(x >> 40) - (1 << 23)) / (double)(1 << 23);
        if (t->ndim == 2)
            v *= sqrt(3.0 / (double)t->shape[1]);
        else if (logit)
            v = log(1.0 / 0.07) + 0.1 * v;
        else
            v = weight ? 1.0 + 0.1 * v : 0.1 * v;
        t->data[i] = (float)v;
    }
}

typedef struct golden {
    uz_ctx *ctx;
    uz_st_file *f;
} golden;

static uz_tensor *ref(const golden *g, const char *name)
{
    uz_tensor *t = uz_golden_tensor(g->ctx, g->f, name);
    ck_assert_msg(t != NULL, "%s", uz_error_message());
    return t;
}

static uz_tensor *leaf(const golden *g, const char *name)
{
    uz_tensor *t = ref(g, name);
    uz_tensor_set_requires_grad(t, true);
    return t;
}

static void expect(const golden *g, const char *name, const uz_tensor *got)
{
    ck_assert_msg(got != NULL, "%s: %s", name, uz_error_message());
    uz_tensor *want = ref(g, name);
    double scale = 0.0;
    for (int64_t i = 0; i < uz_tensor_numel(want); i++)
        scale = fmax(scale, fabs((double)want->data[i]));
    char msg[512];
    /* Exactly zero in the reference (no path to the loss) means exactly zero here. */
    double atol = scale == 0.0 ? 0.0 : ATOL * fmax(1.0, scale);
    ck_assert_msg(uz_golden_close_enough(got, want, atol, scale == 0.0 ? 0.0 : RTOL, msg,
                                         sizeof msg),
                  "%s: %s", name, msg);
}

static void expect_grad(const golden *g, const char *run, const char *name, const uz_tensor *t)
{
    char full[160];
    snprintf(full, sizeof full, "%s.%s.grad", run, name);
    ck_assert_msg(t->grad != NULL, "%s: no gradient", full);
    expect(g, full, t->grad);
}

static uz_tensor *weighted_sum(uz_ctx *ctx, uz_tensor *y, uz_tensor *w)
{
    return uz_sum(ctx, uz_mul(ctx, y, w), NULL, 0, false);
}

static void read_ids(const golden *g, const char *name, int64_t rows, int64_t cols, int32_t *ids)
{
    UZ_CK_OK(uz_st_read_i32(g->f, name, 2, (int64_t[]){rows, cols}, ids));
}

/* The generator's pass: see tests/reference/gen_decoder_golden.py. */
static void check_golden(bool moe)
{
    const char *run = moe ? "moe" : "dense";
    golden g = {uz_ctx_new(0, 0), uz_golden_open("unified_decoder.safetensors")};
    ck_assert_msg(g.f != NULL, "%s", uz_error_message());
    uz_ctx *ctx = g.ctx;
    uz_params *p = uz_params_new();
    uz_text_encoder te;
    uz_unified_decoder dec;
    uz_text_encoder_config tc = {.vocab = VOCAB, .max_len = LEN, .width = D, .heads = HEADS,
                                 .mlp_hidden = HIDDEN};
    uz_unified_decoder_config dc = {.width = D, .heads = HEADS, .mlp_hidden = HIDDEN, .moe = moe,
                                    .out_dim = OUT_DIM, .tasks = 2};
    if (!moe)
        UZ_CK_OK(uz_text_encoder_declare(&te, p, "text.", &tc));
    UZ_CK_OK(uz_unified_decoder_declare(&dec, p, "dec.", &dc));
    UZ_CK_OK(uz_params_finalize(p));
    for (int i = 0; i < uz_params_count(p); i++)
        fill_param(uz_params_at(p, i));

    int32_t cap_ids[2 * LEN], cand_ids[5];
    read_ids(&g, "caption_ids", 2, LEN, cap_ids);
    read_ids(&g, "candidate_ids", 5, 1, cand_ids);
    int64_t lengths[2] = {0, 0};
    for (int64_t i = 0; i < 2 * LEN; i++)
        lengths[i / LEN] += cap_ids[i] != UZ_TEXT_PAD_ID;
    uz_tensor *img_g = leaf(&g, "image_global"), *img_r = leaf(&g, "image_region");
    uz_tensor *queries = leaf(&g, "queries");
    uz_tensor *text, *cand, *loss = NULL;
    if (moe) {
        text = leaf(&g, "moe.text_in");
        cand = leaf(&g, "moe.cand_in");
    } else {
        text = uz_text_encoder_forward(ctx, &te, cap_ids, 2, LEN, true, false);
        cand = uz_text_encoder_forward(ctx, &te, cand_ids, 5, 1, false, false);
        expect(&g, "dense.text", text);
        loss = weighted_sum(ctx, text, ref(&g, "w_text"));
    }
    float a_img[UZ_MOE_ATTR_DIM], a_text[UZ_MOE_ATTR_DIM], a_query[UZ_MOE_ATTR_DIM],
        a_cand[UZ_MOE_ATTR_DIM];
    UZ_CK_OK(uz_moe_attribute(UZ_MOE_CAPTION, false, UZ_MOE_IMAGE, a_img));
    UZ_CK_OK(uz_moe_attribute(UZ_MOE_CAPTION, false, UZ_MOE_TEXT, a_text));
    UZ_CK_OK(uz_moe_attribute(UZ_MOE_CAPTION, false, UZ_MOE_CAPTION_QUERY, a_query));
    UZ_CK_OK(uz_moe_attribute(UZ_MOE_CAPTION, true, UZ_MOE_TEXT, a_cand));
    uz_decoder_part parts[4] = {{img_g, UZ_TOKEN_IMAGE_GLOBAL, a_img},
                                {img_r, UZ_TOKEN_IMAGE_REGION, a_img},
                                {text, UZ_TOKEN_TEXT, a_text},
                                {queries, UZ_TOKEN_CAPTION_QUERY, a_query}};
    uz_tensor *mask = uz_caption_mask(ctx, 2, N_IMG, LEN, lengths);
    uz_tensor *h = uz_unified_decoder_forward(ctx, &dec, parts, 4, mask, false);
    uz_tensor *q = uz_unified_decoder_output(ctx, &dec, uz_narrow(ctx, h, 1, 1 + N_IMG + LEN, LEN));
    q = uz_reshape(ctx, q, 2, (int64_t[]){2 * LEN, OUT_DIM});
    uz_decoder_part cand_part = {cand, UZ_TOKEN_TEXT, a_cand};
    uz_tensor *hc = uz_unified_decoder_forward(ctx, &dec, &cand_part, 1, NULL, false);
    uz_tensor *c = uz_unified_decoder_output(
        ctx, &dec, uz_reshape(ctx, uz_narrow(ctx, hc, 1, 0, 1), 2, (int64_t[]){5, D}));
    uz_tensor *scores = uz_unified_decoder_scores(ctx, &dec, 1, q, c);
    uz_tensor *l2 = uz_add(ctx, weighted_sum(ctx, h, ref(&g, "w_dec")),
                           weighted_sum(ctx, scores, ref(&g, "w_scores")));
    loss = loss ? uz_add(ctx, loss, l2) : l2;
    ck_assert_msg(loss != NULL, "%s", uz_error_message());

    char name[160];
    snprintf(name, sizeof name, "%s.decoder", run);
    expect(&g, name, h);
    snprintf(name, sizeof name, "%s.scores", run);
    expect(&g, name, scores);
    snprintf(name, sizeof name, "%s.loss", run);
    expect(&g, name, uz_reshape(ctx, loss, 1, (int64_t[]){1}));

    UZ_CK_OK(uz_backward(ctx, loss));
    expect_grad(&g, run, "image_global", img_g);
    expect_grad(&g, run, "image_region", img_r);
    expect_grad(&g, run, "queries", queries);
    if (moe) {
        expect_grad(&g, run, "text_in", text);
        expect_grad(&g, run, "cand_in", cand);
    } else {
        for (int64_t j = 0; j < D; j++) /* the padding id's row: used, but no gradient */
            ck_assert_float_eq(te.token_emb->grad->data[UZ_TEXT_PAD_ID * D + j], 0.0f);
    }
    for (int i = 0; i < uz_params_count(p); i++)
        expect_grad(&g, run, uz_params_at(p, i)->name, uz_params_at(p, i));
    uz_params_free(p);
    uz_st_close(g.f);
    uz_ctx_free(ctx);
}

START_TEST(test_golden_dense) { check_golden(false); }
END_TEST

START_TEST(test_golden_moe) { check_golden(true); }
END_TEST

/* ---- caption mask ------------------------------------------------------------------ */

START_TEST(test_caption_mask_pattern)
{
    /* [SPE, img, c0 c1 c2, q0 q1 q2]; 1 = may attend. Caption 1 has 2 tokens,
     * so c2 and q2 are hidden as keys (each row still sees SPE). */
    static const char *want[2][8] = {
        {"11000000", "11000000", "11100000", "11110000", "11111000", "11000100", "11100010",
         "11110001"},
        {"11000000", "11000000", "11100000", "11110000", "11110000", "11000100", "11100010",
         "11110000"},
    };
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *m = uz_caption_mask(ctx, 2, 1, 3, (int64_t[]){3, 2});
    UZ_CK_NOTNULL(m);
    ck_assert_int_eq(m->ndim, 4);
    ck_assert_int_eq(m->shape[0], 2);
    ck_assert_int_eq(m->shape[1], 1);
    ck_assert_int_eq(m->shape[2], 8);
    ck_assert_int_eq(m->shape[3], 8);
    for (int b = 0; b < 2; b++)
        for (int r = 0; r < 8; r++)
            for (int k = 0; k < 8; k++) {
                float v = m->data[(b * 8 + r) * 8 + k];
                bool open = want[b][r][k] == '1';
                ck_assert_msg(open ? v == 0.0f : isinf(v) && v < 0.0f,
                              "caption %d row %d key %d: %g", b, r, k, (double)v);
            }
    ck_assert_ptr_null(uz_caption_mask(ctx, 2, 1, 3, (int64_t[]){3, 4}));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "length 4 of caption 1"));
    uz_ctx_free(ctx);
}
END_TEST

/* ---- score head ---------------------------------------------------------------------- */

START_TEST(test_logit_scale_cap)
{
    uz_params *p = uz_params_new();
    uz_unified_decoder dec;
    uz_unified_decoder_config cfg = {.width = 8, .heads = 2, .layers = 1, .tasks = 3};
    UZ_CK_OK(uz_unified_decoder_declare(&dec, p, "", &cfg));
    UZ_CK_OK(uz_params_finalize(p));
    uz_unified_decoder_init(&dec, 3);
    ck_assert_float_eq_tol(dec.logit_scale->data[2], logf(1.0f / 0.07f), 1e-6f);
    const float cap = logf(100.0f);
    dec.logit_scale->data[0] = 5.0f; /* past the cap */
    dec.logit_scale->data[1] = 2.0f;
    dec.logit_scale->data[2] = cap; /* at the cap: still a gradient, as torch.clamp */
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *a = uz_test_rand(ctx, 2, (int64_t[]){3, 8}, 1, -1, 1);
    uz_tensor *b = uz_test_rand(ctx, 2, (int64_t[]){4, 8}, 2, -1, 1);
    float cos[12];
    uz_tensor_copy_out(uz_cosine_similarity_matrix(ctx, a, b, 1e-8f), cos);
    double cos_sum = 0.0;
    for (int i = 0; i < 12; i++)
        cos_sum += (double)cos[i];
    const float scale[3] = {100.0f, expf(2.0f), 100.0f};
    for (int task = 0; task < 3; task++) {
        uz_params_zero_grad(p);
        uz_tensor *s = uz_unified_decoder_scores(ctx, &dec, task, a, b);
        UZ_CK_NOTNULL(s);
        for (int i = 0; i < 12; i++)
            ck_assert_float_eq_tol(s->data[i], cos[i] * scale[task], 1e-4f);
        UZ_CK_OK(uz_backward(ctx, uz_sum(ctx, s, NULL, 0, false)));
        double want = task == 0 ? 0.0 : cos_sum * (double)scale[task];
        for (int t = 0; t < 3; t++)
            ck_assert_double_eq_tol((double)dec.logit_scale->grad->data[t], t == task ? want : 0.0,
                                    1e-4 * fmax(1.0, fabs(want)));
    }
    ck_assert_ptr_null(uz_unified_decoder_scores(ctx, &dec, 3, a, b));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "task 3 outside [0, 3)"));
    uz_ctx_free(ctx);
    uz_params_free(p);
}
END_TEST

/* ---- MoE FFN ------------------------------------------------------------------------- */

typedef struct moe_case {
    uz_moe_ffn moe;
    uz_moe_segment segs[3];
    int n_segs;
} moe_case;

static float g_attr[3][UZ_MOE_ATTR_DIM];

/* A MoE over d 4 (hidden 6, 3 experts) with random weights that make the
 * routes distinct and well separated from ties. */
static uz_params *moe_setup(moe_case *mc, int top_k)
{
    uz_params *p = uz_params_new();
    uz_moe_config cfg = {.width = 4, .hidden = 6, .experts = 3, .top_k = top_k};
    UZ_CK_OK(uz_moe_ffn_declare(&mc->moe, p, "moe.", &cfg));
    UZ_CK_OK(uz_params_finalize(p));
    for (int i = 0; i < uz_params_count(p); i++)
        fill_param(uz_params_at(p, i));
    UZ_CK_OK(uz_moe_attribute(UZ_MOE_CLASSIFY, false, UZ_MOE_IMAGE, g_attr[0]));
    UZ_CK_OK(uz_moe_attribute(UZ_MOE_DETECT, true, UZ_MOE_TEXT, g_attr[1]));
    UZ_CK_OK(uz_moe_attribute(UZ_MOE_CAPTION, false, UZ_MOE_CAPTION_QUERY, g_attr[2]));
    mc->segs[0] = (uz_moe_segment){2, g_attr[0]};
    mc->segs[1] = (uz_moe_segment){1, g_attr[1]};
    mc->segs[2] = (uz_moe_segment){2, g_attr[2]};
    mc->n_segs = 3;
    return p;
}

/* in[0] is [D, T, B]: its transpose is a non-contiguous [B, T, D] input. */
static uz_tensor *moe_fn(uz_ctx *ctx, uz_tensor **in, void *user)
{
    moe_case *mc = user;
    return uz_moe_ffn_forward(ctx, &mc->moe, uz_transpose(ctx, in[0], 0, 2), mc->segs, mc->n_segs);
}

START_TEST(test_moe_gradcheck)
{
    for (int k = 1; k <= 2; k++) {
        moe_case mc;
        uz_params *p = moe_setup(&mc, k);
        uz_ctx *ctx = uz_ctx_new(0, 0);
        uz_tensor *x = uz_test_rand(ctx, 3, (int64_t[]){4, 5, 2}, 7, -1, 1);
        char msg[256];
        ck_assert_msg(uz_gradcheck(&x, 1, moe_fn, &mc, UZ_GC_DEFAULT, msg, sizeof msg),
                      "top-%d: %s", k, msg);
        uz_ctx_free(ctx);
        uz_params_free(p);
    }
}
END_TEST

START_TEST(test_moe_routing)
{
    moe_case mc;
    uz_params *p = moe_setup(&mc, 2);
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *x = uz_test_rand(ctx, 3, (int64_t[]){2, 5, 4}, 3, -1, 1);
    uz_tensor *y = uz_moe_ffn_forward(ctx, &mc.moe, x, mc.segs, 3);
    UZ_CK_NOTNULL(y);
    /* A segment's output does not depend on how the others are cut: split
     * segment 0 in two (same attribute, same route) and merge nothing else. */
    uz_moe_segment split[4] = {{1, g_attr[0]}, {1, g_attr[0]}, mc.segs[1], mc.segs[2]};
    uz_tensor *y2 = uz_moe_ffn_forward(ctx, &mc.moe, x, split, 4);
    UZ_CK_NOTNULL(y2);
    ck_assert_double_le(uz_test_max_abs_diff(y, y2), 1e-6);
    /* Tokens route by segment, not by content: the same row in segments of
     * different attributes gives different outputs. */
    uz_moe_segment all0[1] = {{5, g_attr[0]}}, all2[1] = {{5, g_attr[2]}};
    uz_tensor *z0 = uz_moe_ffn_forward(ctx, &mc.moe, x, all0, 1);
    uz_tensor *z2 = uz_moe_ffn_forward(ctx, &mc.moe, x, all2, 1);
    UZ_CK_NOTNULL(z0);
    UZ_CK_NOTNULL(z2);
    ck_assert_double_le(
        uz_test_max_abs_diff(uz_narrow(ctx, z0, 1, 0, 2), uz_narrow(ctx, y, 1, 0, 2)), 1e-6);
    ck_assert_double_gt(uz_test_max_abs_diff(z0, z2), 1e-3);
    /* The gate learns: its weights get a gradient through the renormalised weights. */
    UZ_CK_OK(uz_backward(ctx, uz_sum(ctx, uz_mul(ctx, y, y), NULL, 0, false)));
    double gnorm = 0.0;
    for (int64_t i = 0; i < uz_tensor_numel(mc.moe.gate_w); i++)
        gnorm += fabs((double)mc.moe.gate_w->grad->data[i]);
    ck_assert_double_gt(gnorm, 1e-6);
    uz_ctx_free(ctx);
    uz_params_free(p);
}
END_TEST

START_TEST(test_moe_errors)
{
    moe_case mc;
    uz_params *p = moe_setup(&mc, 2);
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *x = uz_test_rand(ctx, 3, (int64_t[]){2, 5, 4}, 3, -1, 1);
    uz_moe_segment short_segs[1] = {{4, g_attr[0]}}, empty[2] = {{0, g_attr[0]}, {5, g_attr[0]}};
    ck_assert_ptr_null(uz_moe_ffn_forward(ctx, &mc.moe, x, short_segs, 1));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "cover 4 positions but input [2,5,4] has 5"));
    ck_assert_ptr_null(uz_moe_ffn_forward(ctx, &mc.moe, x, empty, 2));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "segment 0 has length 0"));
    uz_tensor *bad = uz_test_rand(ctx, 3, (int64_t[]){2, 5, 3}, 3, -1, 1);
    ck_assert_ptr_null(uz_moe_ffn_forward(ctx, &mc.moe, bad, mc.segs, 3));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "[2,5,3] is not [B, T, 4]"));
    ck_assert_ptr_null(uz_moe_ffn_forward(ctx, &mc.moe, NULL, mc.segs, 3));
    uz_moe_ffn m2;
    uz_moe_config cfg = {.width = 4, .experts = 2, .top_k = 3};
    ck_assert_int_eq(uz_moe_ffn_declare(&m2, p, "x.", &cfg), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "2 experts"));
    float attr[UZ_MOE_ATTR_DIM];
    ck_assert_int_eq(uz_moe_attribute((uz_moe_task)4, false, UZ_MOE_TEXT, attr), UZ_ERR_ARG);
    UZ_CK_OK(uz_moe_attribute(UZ_MOE_RETRIEVE, true, UZ_MOE_CAPTION_QUERY, attr));
    const float want[UZ_MOE_ATTR_DIM] = {0, 0, 0, 1, 1, 0, 0, 1};
    ck_assert_mem_eq(attr, want, sizeof want);
    uz_ctx_free(ctx);
    uz_params_free(p);
}
END_TEST

/* ---- the last layer on the read rows only ---------------------------------------------- */

enum { ROWS_PARAMS_MAX = 64 };

/* One pass over [<SPE>, 2 global, 3 regional, LEN text, LEN queries] under
 * the captioning mask; the loss reads rows [start, start + len) of the
 * output, taken from the full pass (rows_only false) or from
 * forward_rows. Inputs are remade from seed each time. */
static uz_tensor *rows_pass(uz_ctx *ctx, const uz_unified_decoder *dec, bool rows_only,
                            int64_t start, int64_t len, uz_tensor **inputs)
{
    /* Four attributes, one per part (the regions routed as detection's),
     * so that a segment cut at the wrong place changes a route. */
    static float a[4][UZ_MOE_ATTR_DIM];
    UZ_CK_OK(uz_moe_attribute(UZ_MOE_CAPTION, false, UZ_MOE_IMAGE, a[0]));
    UZ_CK_OK(uz_moe_attribute(UZ_MOE_DETECT, false, UZ_MOE_IMAGE, a[1]));
    UZ_CK_OK(uz_moe_attribute(UZ_MOE_CAPTION, false, UZ_MOE_TEXT, a[2]));
    UZ_CK_OK(uz_moe_attribute(UZ_MOE_CAPTION, false, UZ_MOE_CAPTION_QUERY, a[3]));
    const int64_t n[4] = {2, N_IMG - 2, LEN, LEN};
    const float *attr[4] = {a[0], a[1], a[2], a[3]};
    const uz_token_type type[4] = {UZ_TOKEN_IMAGE_GLOBAL, UZ_TOKEN_IMAGE_REGION, UZ_TOKEN_TEXT,
                                   UZ_TOKEN_CAPTION_QUERY};
    uz_decoder_part parts[4];
    for (int i = 0; i < 4; i++) {
        inputs[i] = uz_test_rand(ctx, 3, (int64_t[]){2, n[i], D}, 11 + (uint64_t)i, -1, 1);
        parts[i] = (uz_decoder_part){inputs[i], type[i], attr[i]};
    }
    uz_tensor *mask = uz_caption_mask(ctx, 2, N_IMG, LEN, (int64_t[]){LEN, 3});
    uz_tensor *h;
    if (rows_only)
        h = uz_unified_decoder_forward_rows(ctx, dec, parts, 4, mask, false, start, len);
    else
        h = uz_contiguous(ctx, uz_narrow(ctx, uz_unified_decoder_forward(ctx, dec, parts, 4, mask,
                                                                         false),
                                         1, start, len));
    UZ_CK_NOTNULL(h);
    ck_assert(h->ndim == 3 && h->shape[0] == 2 && h->shape[1] == len && h->shape[2] == D);
    uz_tensor *w = uz_test_rand(ctx, 3, (int64_t[]){2, len, D}, 99, -1, 1);
    UZ_CK_OK(uz_backward(ctx, weighted_sum(ctx, h, w)));
    return h;
}

/* |a - b| within float32 rounding of sums over the rows: 1e-5 of the larger
 * of 1 and max |a|. */
static bool rows_close(const uz_tensor *a, const uz_tensor *b)
{
    double scale = 1.0;
    for (int64_t i = 0; i < uz_tensor_numel(a); i++)
        scale = fmax(scale, fabs((double)a->data[i]));
    return uz_test_max_abs_diff(a, b) <= 1e-5 * scale;
}

/* forward_rows gives the full pass's rows, values and every gradient (the
 * inputs' and the parameters'), dense and MoE, for <SPE> alone, the caption
 * queries and a span across three parts (three MoE segments). */
static void check_rows(bool moe, int64_t start, int64_t len)
{
    uz_params *p = uz_params_new();
    uz_unified_decoder dec;
    uz_unified_decoder_config dc = {.width = D, .heads = HEADS, .mlp_hidden = HIDDEN, .moe = moe,
                                    .out_dim = OUT_DIM, .tasks = 1};
    UZ_CK_OK(uz_unified_decoder_declare(&dec, p, "dec.", &dc));
    UZ_CK_OK(uz_params_finalize(p));
    int np = uz_params_count(p);
    ck_assert_int_le(np, ROWS_PARAMS_MAX);
    for (int i = 0; i < np; i++)
        fill_param(uz_params_at(p, i));
    uz_ctx *full_ctx = uz_ctx_new(0, 0), *rows_ctx = uz_ctx_new(0, 0);
    uz_tensor *full_in[4], *rows_in[4];
    uz_tensor *full = rows_pass(full_ctx, &dec, false, start, len, full_in);
    uz_tensor *pg[ROWS_PARAMS_MAX];
    for (int i = 0; i < np; i++) {
        const uz_tensor *g = uz_params_at(p, i)->grad;
        pg[i] = uz_tensor_from(full_ctx, g->ndim, g->shape, g->data); /* a copy */
    }
    uz_params_zero_grad(p);
    uz_tensor *rows = rows_pass(rows_ctx, &dec, true, start, len, rows_in);
    ck_assert(rows_close(full, rows));
    for (int i = 0; i < 4; i++)
        ck_assert_msg(rows_close(full_in[i]->grad, rows_in[i]->grad), "input %d's gradient", i);
    for (int i = 0; i < np; i++)
        ck_assert_msg(rows_close(pg[i], uz_params_at(p, i)->grad), "%s's gradient",
                      uz_params_at(p, i)->name);
    uz_ctx_free(rows_ctx);
    uz_ctx_free(full_ctx);
    uz_params_free(p);
}

START_TEST(test_forward_rows)
{
    for (int moe = 0; moe <= 1; moe++) {
        check_rows(moe, 0, 1);                      /* <SPE> */
        check_rows(moe, 1 + N_IMG + LEN, LEN);      /* the caption queries */
        check_rows(moe, 2, N_IMG + 1);              /* global, regional and text rows */
    }
    uz_params *p = uz_params_new();
    uz_unified_decoder dec;
    /* One layer: the last, so a bad mask meets the rows path first. */
    uz_unified_decoder_config dc = {.width = D, .heads = HEADS, .layers = 1, .tasks = 1};
    UZ_CK_OK(uz_unified_decoder_declare(&dec, p, "dec.", &dc));
    UZ_CK_OK(uz_params_finalize(p));
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *x = uz_test_rand(ctx, 3, (int64_t[]){2, 3, D}, 5, -1, 1);
    float a[UZ_MOE_ATTR_DIM] = {0};
    uz_decoder_part part = {x, UZ_TOKEN_TEXT, a};
    ck_assert_ptr_null(uz_unified_decoder_forward_rows(ctx, &dec, &part, 1, NULL, false, 2, 3));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "rows [2, 5) of 4 positions"));
    ck_assert_ptr_null(uz_unified_decoder_forward_rows(ctx, &dec, &part, 1, NULL, false, 0, 0));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "rows [0, 0) of 4 positions"));
    /* A mask whose query rows are neither 1 nor T. */
    uz_tensor *bad = uz_tensor_zeros(ctx, 4, (int64_t[]){1, 1, 3, 4});
    ck_assert_ptr_null(uz_unified_decoder_forward_rows(ctx, &dec, &part, 1, bad, false, 0, 1));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "neither 1 nor 4 query rows"));
    /* A padding mask [B, 1, 1, T] broadcasts over the kept rows as over all. */
    uz_tensor *pad = uz_tensor_zeros(ctx, 4, (int64_t[]){2, 1, 1, 4});
    pad->data[3] = -INFINITY;
    uz_tensor *all = uz_unified_decoder_forward(ctx, &dec, &part, 1, pad, false);
    uz_tensor *kept = uz_unified_decoder_forward_rows(ctx, &dec, &part, 1, pad, false, 1, 2);
    UZ_CK_NOTNULL(kept);
    uz_tensor *want = uz_contiguous(ctx, uz_narrow(ctx, all, 1, 1, 2));
    ck_assert_double_le(uz_test_max_abs_diff(want, kept), 1e-5);
    uz_ctx_free(ctx);
    uz_params_free(p);
}
END_TEST

/* ---- declarations, init, errors -------------------------------------------------------- */

START_TEST(test_declare_init_errors)
{
    uz_params *p = uz_params_new();
    uz_text_encoder te;
    uz_unified_decoder dense, moe;
    uz_text_encoder_config tc = {.vocab = 20, .max_len = 4, .width = 8, .heads = 2};
    uz_unified_decoder_config dc = {.width = 8, .heads = 2, .tasks = 1};
    UZ_CK_OK(uz_text_encoder_declare(&te, p, "text.", &tc));
    ck_assert_int_eq(uz_params_count(p), 2 + 2 * 12);
    UZ_CK_OK(uz_unified_decoder_declare(&dense, p, "g.", &dc));
    ck_assert_int_eq(uz_params_count(p), 26 + 2 + 2 * 12 + 2 + 1);
    dc.moe = true;
    dc.out_dim = 6;
    UZ_CK_OK(uz_unified_decoder_declare(&moe, p, "m.", &dc));
    ck_assert_int_eq(moe.cfg.experts, 4);
    ck_assert_int_eq(moe.cfg.top_k, 2);
    ck_assert_ptr_null(uz_params_find(p, "m.layers.1.mlp.fc.weight"));
    ck_assert_ptr_nonnull(uz_params_find(p, "m.layers.1.moe.experts.3.proj.bias"));
    ck_assert_ptr_nonnull(uz_params_find(p, "m.out_proj.linear.weight"));
    ck_assert_int_eq(uz_params_find(p, "m.layers.0.moe.experts.0.fc.weight")->shape[0], 32);
    UZ_CK_OK(uz_params_finalize(p));
    uz_text_encoder_init(&te, 1);
    uz_unified_decoder_init(&dense, 1);
    uz_unified_decoder_init(&moe, 1);
    for (int j = 0; j < 8; j++)
        ck_assert_float_eq(te.token_emb->data[j], 0.0f); /* padding row */
    ck_assert_float_ne(te.token_emb->data[8], 0.0f);
    ck_assert_float_eq(dense.ln_f.weight->data[0], 1.0f);

    uz_ctx *ctx = uz_ctx_new(0, 0);
    int32_t ids[2 * 5] = {3, 4, 0, 0, 0, 5, 6, 7, 0, 0};
    ck_assert_ptr_null(uz_text_encoder_forward(ctx, &te, ids, 2, 5, false, false));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "length 5 outside [1, 4]"));
    ids[1] = 20;
    ck_assert_ptr_null(uz_text_encoder_forward(ctx, &te, ids, 2, 4, false, false));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "20"));
    ids[1] = 4;
    uz_tensor *y = uz_text_encoder_forward(ctx, &te, ids, 2, 4, false, false);
    UZ_CK_NOTNULL(y);
    ck_assert_int_eq(y->shape[2], 8);
    uz_tensor *pm = uz_text_padding_mask(ctx, ids, 2, 4, 1);
    UZ_CK_NOTNULL(pm);
    ck_assert_int_eq(pm->shape[3], 5);
    ck_assert(pm->data[0] == 0.0f && pm->data[2] == 0.0f && isinf(pm->data[3]));

    uz_decoder_part parts[2] = {{y, UZ_TOKEN_TEXT, NULL}, {y, UZ_TOKEN_IMAGE_GLOBAL, NULL}};
    uz_tensor *h = uz_unified_decoder_forward(ctx, &dense, parts, 2, NULL, false);
    UZ_CK_NOTNULL(h);
    ck_assert_int_eq(h->shape[1], 9);
    uz_tensor *o = uz_unified_decoder_output(ctx, &dense, h);
    UZ_CK_NOTNULL(o);
    double norm = 0.0;
    for (int j = 0; j < 8; j++)
        norm += (double)o->data[j] * (double)o->data[j];
    ck_assert_double_eq_tol(norm, 1.0, 1e-5);
    ck_assert_ptr_null(uz_unified_decoder_forward(ctx, &moe, parts, 2, NULL, false));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "no MoE attribute"));
    uz_tensor *wide = uz_test_rand(ctx, 3, (int64_t[]){3, 2, 8}, 1, -1, 1);
    parts[1].tokens = wide;
    ck_assert_ptr_null(uz_unified_decoder_forward(ctx, &dense, parts, 2, NULL, false));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "part 1 [3,2,8]"));

    /* The transformer block without its MLP: eight parameters, forward_ffn only. */
    uz_transformer_block blk;
    uz_params *p2 = uz_params_new();
    uz_transformer_config bc = {.width = 8, .heads = 2, .no_mlp = true};
    UZ_CK_OK(uz_transformer_block_declare(&blk, p2, "", &bc));
    ck_assert_int_eq(uz_params_count(p2), 8);
    UZ_CK_OK(uz_params_finalize(p2));
    uz_transformer_block_init(&blk, 1);
    ck_assert_ptr_null(uz_transformer_block_forward(ctx, &blk, y, NULL, false, false));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "without an MLP"));
    uz_params_free(p2);
    uz_ctx_free(ctx);
    uz_params_free(p);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("unified_decoder");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_golden_dense);
    tcase_add_test(tc, test_golden_moe);
    tcase_add_test(tc, test_caption_mask_pattern);
    tcase_add_test(tc, test_logit_scale_cap);
    tcase_add_test(tc, test_moe_gradcheck);
    tcase_add_test(tc, test_moe_routing);
    tcase_add_test(tc, test_moe_errors);
    tcase_add_test(tc, test_forward_rows);
    tcase_add_test(tc, test_declare_init_errors);
    suite_add_tcase(s, tc);
    return s;
}

#include "check_main.h"
