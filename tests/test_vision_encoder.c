/* The generalist's image encoder (models/backbone, detr_decoder,
 * region_proposal, box_encoding, attn_pool, image_encoder) against its
 * PyTorch twin tests/reference/uzgen/vision.py, from the file that
 * tests/reference/gen_vision_golden.py wrote: every output, the selected
 * memory tokens, and the gradients of every parameter and of the images for
 * a fixed random linear functional of all outputs. Then shapes, the initial
 * state, the selection order and config errors.
 *
 * Tolerance: |got - want| <= ATOL * max(1, max|want|) + RTOL * |want| per
 * tensor, ATOL = 2e-5 and RTOL = 1e-4. The reference is float64 on the same
 * float32 values, so the difference is float32 rounding through ~150 ops
 * (seven convolutions, two decoder layers of two attentions each, the heads,
 * the logit/sigmoid round trips of box refinement) whose sums cancel, hence
 * an atol scaled by the tensor's largest value (up to ~25 for gradients).
 * The generator picks a seed whose objectness gaps (>= 1e-3) and ReLU inputs
 * (>= 3e-5) float32 cannot cross, so the selection and every ReLU agree.
 * Measured worst errors are <= 6e-7 of the scale (35x inside); a wrong
 * formula, index, sine layout or parameter name errs by O(1).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check_main.h"
#include "golden.h"
#include "gradcheck.h"
#include "models/image_encoder.h"

#define ATOL 2e-5
#define RTOL 1e-4
#define FILE_NAME "vision_encoder.safetensors"

static uz_image_encoder_config tiny_config(void)
{
    return (uz_image_encoder_config){.backbone = {.channels = 1, .widths = {4, 8, 8, 16}},
                                     .width = 24, .heads = 2, .ffn_hidden = 32,
                                     .n_queries = 4, .n_layers = 2, .n_pools = 2,
                                     .anchor_size = 0.1f};
}

static uz_tensor *ref(uz_ctx *ctx, const uz_st_file *f, const char *name)
{
    uz_tensor *t = uz_golden_tensor(ctx, f, name);
    ck_assert_msg(t != NULL, "%s: %s", FILE_NAME, uz_error_message());
    return t;
}

static void expect(uz_ctx *ctx, const uz_st_file *f, const char *name, uz_tensor *got)
{
    ck_assert_msg(got != NULL, "%s: %s", name, uz_error_message());
    uz_tensor *want = ref(ctx, f, name);
    double scale = 1.0;
    for (int64_t i = 0; i < uz_tensor_numel(want); i++)
        scale = fmax(scale, fabs((double)want->data[i]));
    char msg[512];
    ck_assert_msg(uz_golden_close_enough(uz_contiguous(ctx, got), want, ATOL * scale, RTOL, msg,
                                         sizeof msg),
                  "%s: %s", name, msg);
}

static void load_params(const uz_st_file *f, uz_params *p, const char *prefix)
{
    for (int i = 0; i < uz_params_count(p); i++) {
        uz_tensor *t = uz_params_at(p, i);
        char name[256];
        snprintf(name, sizeof name, "%s%s", prefix, t->name);
        UZ_CK_OK(uz_st_read_f32(f, name, t->ndim, t->shape, t->data));
    }
}

static void expect_param_grads(uz_ctx *ctx, const uz_st_file *f, uz_params *p,
                               const char *prefix)
{
    for (int i = 0; i < uz_params_count(p); i++) {
        uz_tensor *t = uz_params_at(p, i);
        char name[256];
        snprintf(name, sizeof name, "%s%s.grad", prefix, t->name);
        ck_assert_msg(t->grad != NULL, "%s: no gradient", name);
        expect(ctx, f, name, t->grad);
    }
}

/* Adds sum(y * <prefix>w.<name>) to *loss after comparing y with
 * <prefix><name>. */
static void term(uz_ctx *ctx, const uz_st_file *f, const char *prefix, const char *name,
                 uz_tensor *y, uz_tensor **loss)
{
    char full[128], wname[128];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    expect(ctx, f, full, y);
    snprintf(wname, sizeof wname, "%sw.%s", prefix, name);
    uz_tensor *s = uz_sum(ctx, uz_mul(ctx, y, ref(ctx, f, wname)), NULL, 0, false);
    *loss = *loss ? uz_add(ctx, *loss, s) : s;
}

static const char *named(char *buf, size_t size, const char *prefix, const char *name)
{
    snprintf(buf, size, "%s%s", prefix, name);
    return buf;
}

/* The encoder with its proposal queries' contents `qc`, against the golden
 * tensors whose names start with `prefix`. */
static void golden_image_encoder(uz_rpn_query_content qc, const char *prefix)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_st_file *f = uz_golden_open(FILE_NAME);
    ck_assert_msg(f != NULL, "%s", uz_error_message());
    uz_params *p = uz_params_new();
    uz_image_encoder e;
    uz_image_encoder_config cfg = tiny_config();
    cfg.query_content = qc;
    UZ_CK_OK(uz_image_encoder_declare(&e, p, "", &cfg));
    UZ_CK_OK(uz_params_finalize(p));
    load_params(f, p, prefix);
    char name[128];

    uz_tensor *images = ref(ctx, f, named(name, sizeof name, prefix, "images"));
    uz_tensor_set_requires_grad(images, true);
    uz_image_encoding out;
    UZ_CK_OK(uz_image_encoder_forward(ctx, &e, images, false, &out));
    ck_assert_int_eq(out.n_global, 2 + 16);
    ck_assert_int_eq(out.n_regional, 4);

    int32_t selected[8];
    UZ_CK_OK(uz_st_read_i32(f, named(name, sizeof name, prefix, "selected"), 2, (int64_t[]){2, 4}, selected));
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(out.det.selected[i], selected[i]);

    uz_tensor *loss = NULL;
    term(ctx, f, prefix, "tokens", out.tokens, &loss);
    term(ctx, f, prefix, "enc_logits", out.det.enc_logits, &loss);
    term(ctx, f, prefix, "enc_boxes", out.det.enc_boxes, &loss);
    for (int l = 0; l < 2; l++) {
        char layer[64];
        snprintf(layer, sizeof layer, "layer%d.boxes", l);
        term(ctx, f, prefix, layer, out.det.layer_boxes[l], &loss);
        snprintf(layer, sizeof layer, "layer%d.logits", l);
        term(ctx, f, prefix, layer, out.det.layer_logits[l], &loss);
    }
    ck_assert_ptr_eq(out.det.boxes, out.det.layer_boxes[1]);
    UZ_CK_OK(uz_backward(ctx, loss));
    expect(ctx, f, named(name, sizeof name, prefix, "loss"), uz_reshape(ctx, loss, 1, (int64_t[]){1}));
    expect(ctx, f, named(name, sizeof name, prefix, "images.grad"), images->grad);
    expect_param_grads(ctx, f, p, prefix);

    uz_params_free(p);
    uz_st_close(f);
    uz_ctx_free(ctx);
}

START_TEST(test_golden_image_encoder) { golden_image_encoder(UZ_RPN_QUERY_LEARNED, ""); }
END_TEST

/* MaskDINO's query contents: no tgt_embed, and the selected encoder outputs
 * enter as values (the reference detaches them). */
START_TEST(test_golden_image_encoder_selected_queries)
{
    golden_image_encoder(UZ_RPN_QUERY_SELECTED, "sel.");
}
END_TEST

START_TEST(test_golden_detr_decoder_key_padding)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_st_file *f = uz_golden_open(FILE_NAME);
    ck_assert_msg(f != NULL, "%s", uz_error_message());
    uz_params *p = uz_params_new();
    uz_detr_decoder_layer l;
    uz_detr_decoder_config cfg = {.width = 8, .heads = 2, .ffn_hidden = 16};
    UZ_CK_OK(uz_detr_decoder_declare(&l, p, "", &cfg));
    ck_assert_int_eq(uz_params_count(p), 18);
    UZ_CK_OK(uz_params_finalize(p));
    load_params(f, p, "detr.");

    const char *names[4] = {"detr.tgt", "detr.query_pos", "detr.memory", "detr.memory_pos"};
    uz_tensor *in[4];
    for (int i = 0; i < 4; i++) {
        in[i] = ref(ctx, f, names[i]);
        uz_tensor_set_requires_grad(in[i], true);
    }
    int32_t pad[10];
    UZ_CK_OK(uz_st_read_i32(f, "detr.key_padding_mask", 2, (int64_t[]){2, 5}, pad));
    uz_tensor *mask = uz_tensor_zeros(ctx, 4, (int64_t[]){2, 1, 1, 5});
    for (int i = 0; i < 10; i++)
        mask->data[i] = pad[i] ? -INFINITY : 0.0f;

    uz_tensor *y = uz_detr_decoder_forward(ctx, &l, in[0], in[1], in[2], in[3], mask, false);
    uz_tensor *loss = NULL;
    term(ctx, f, "", "detr.y", y, &loss);
    UZ_CK_OK(uz_backward(ctx, loss));
    for (int i = 0; i < 4; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s.grad", names[i]);
        expect(ctx, f, name, in[i]->grad);
    }
    expect_param_grads(ctx, f, p, "detr.");
    uz_params_free(p);
    uz_st_close(f);
    uz_ctx_free(ctx);
}
END_TEST

/* ---- shapes and the initial state ------------------------------------------------- */

typedef struct encoder {
    uz_params *p;
    uz_image_encoder e;
    uz_ctx *ctx;
} encoder;

static encoder encoder_new(uz_image_encoder_config cfg)
{
    encoder x = {.p = uz_params_new(), .ctx = uz_ctx_new(0, 0)};
    UZ_CK_OK(uz_image_encoder_declare(&x.e, x.p, "image.", &cfg));
    UZ_CK_OK(uz_params_finalize(x.p));
    uz_image_encoder_init(&x.e, 11);
    return x;
}

static void encoder_free(encoder *x)
{
    uz_params_free(x->p);
    uz_ctx_free(x->ctx);
}

/* The anchor box of memory token m: F2's s2 x s2 tokens first, then F3's. */
static void anchor(int64_t m, int64_t s2, int64_t s3, float size, float out[4])
{
    int64_t s = s2;
    if (m >= s2 * s2) {
        m -= s2 * s2;
        s = s3;
        size *= 2.0f;
    }
    out[0] = ((float)(m % s) + 0.5f) / (float)s;
    out[1] = ((float)(m / s) + 0.5f) / (float)s;
    out[2] = out[3] = size;
}

static void check_run(int channels, int64_t size, int64_t batch)
{
    uz_image_encoder_config cfg = uz_image_encoder_default_config();
    cfg.backbone.channels = channels;
    encoder x = encoder_new(cfg);
    uz_tensor *images = uz_test_rand(x.ctx, 4, (int64_t[]){batch, channels, size, size}, 5,
                                     -1.0f, 1.0f);
    uz_image_encoding out;
    UZ_CK_OK(uz_image_encoder_forward(x.ctx, &x.e, images, true, &out));
    int64_t s2 = (size + 3) / 4, s3 = (size + 7) / 8, N = s2 * s2 + s3 * s3, Q = cfg.n_queries;
    ck_assert_int_eq(out.features[0]->shape[2], (size + 1) / 2);
    ck_assert_int_eq(out.features[2]->shape[1], 128);
    ck_assert_int_eq(out.n_global, 2 + s3 * s3);
    ck_assert_int_eq(out.n_regional, Q);
    ck_assert_int_eq(out.tokens->shape[0], batch);
    ck_assert_int_eq(out.tokens->shape[1], 2 + s3 * s3 + Q);
    ck_assert_int_eq(out.tokens->shape[2], 128);
    ck_assert_int_eq(out.det.n_tokens, N);
    ck_assert_int_eq(out.det.enc_logits->shape[1], N);
    ck_assert_int_eq(out.det.enc_boxes->shape[1], Q);
    ck_assert_int_eq(out.det.logits->shape[1], Q);
    ck_assert_int_eq(out.det.q_sem->shape[2], 128);

    /* At init the box heads output zero deltas: every encoder box is its
     * anchor, and each layer's boxes are the anchors of the selected tokens. */
    for (int64_t b = 0; b < batch; b++) {
        for (int64_t q = 0; q < Q; q++) {
            int64_t m = out.det.selected[b * Q + q];
            float a[4];
            anchor(m, s2, s3, 0.1f, a);
            for (int k = 0; k < 4; k++) {
                float got = uz_tensor_get(out.det.enc_boxes, (int64_t[]){b, q, k});
                ck_assert_msg(fabsf(got - a[k]) < 1e-5f, "encoder box %lld,%lld[%d] %g vs %g",
                              (long long)b, (long long)q, k, (double)got, (double)a[k]);
            }
            for (int l = 0; l < 2; l++)
                for (int k = 0; k < 4; k++) {
                    float got = uz_tensor_get(out.det.layer_boxes[l], (int64_t[]){b, q, k});
                    ck_assert_msg(fabsf(got - a[k]) < 1e-5f, "layer %d box %lld,%lld[%d] %g vs %g",
                                  l, (long long)b, (long long)q, k, (double)got, (double)a[k]);
                }
            /* The selection is in descending objectness. */
            if (q > 0) {
                int64_t prev = out.det.selected[b * Q + q - 1];
                ck_assert(uz_tensor_get(out.det.enc_logits, (int64_t[]){b, prev}) >=
                          uz_tensor_get(out.det.enc_logits, (int64_t[]){b, m}));
            }
        }
    }
    /* Scores start near the prior logit(0.01). */
    float l0 = uz_tensor_get(out.det.logits, (int64_t[]){0, 0});
    ck_assert_msg(l0 > -8.0f && l0 < -1.0f, "initial objectness %g", (double)l0);

    uz_tensor *loss = uz_sum(x.ctx, out.tokens, NULL, 0, false);
    UZ_CK_OK(uz_backward(x.ctx, loss));
    ck_assert_ptr_nonnull(uz_params_find(x.p, "image.backbone.stem.weight")->grad);
    encoder_free(&x);
}

START_TEST(test_shapes_gray_64) { check_run(1, 64, 2); }
END_TEST

START_TEST(test_shapes_rgb_28) { check_run(3, 28, 1); }
END_TEST

START_TEST(test_param_names)
{
    encoder x = encoder_new(tiny_config());
    const char *names[] = {
        "image.backbone.stem.weight", "image.backbone.stages.2.conv2.bias",
        "image.rpn.input_proj.1.weight", "image.rpn.level_embed", "image.rpn.enc_output_norm.bias",
        "image.rpn.enc_bbox_head.fc2.weight", "image.rpn.tgt_embed.weight",
        "image.rpn.ref_point_head.fc1.bias", "image.rpn.layers.1.self_attn.in_proj_weight",
        "image.rpn.layers.0.cross_attn.out_proj.bias", "image.rpn.layers.1.norm3.weight",
        "image.rpn.score_head.bias", "image.global_tokens.attn_pools.1.query_pos",
        "image.global_tokens.attn_pools.0.c_proj.weight", "image.global_tokens.global_proj.bias",
        "image.box_encoding.proj.weight"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        ck_assert_msg(uz_params_find(x.p, names[i]) != NULL, "%s missing", names[i]);
    ck_assert_int_eq(uz_params_find(x.p, "image.rpn.layers.0.cross_attn.in_proj_weight")->shape[0],
                     72);
    ck_assert_int_eq(uz_params_find(x.p, "image.global_tokens.attn_pools.0.c_proj.weight")->shape[1],
                     16);
    /* Initial values: zero box deltas, prior score bias, unit layer norms. */
    ck_assert_float_eq(uz_params_find(x.p, "image.rpn.bbox_head.fc2.weight")->data[5], 0.0f);
    ck_assert_float_eq_tol(uz_params_find(x.p, "image.rpn.enc_score_head.bias")->data[0],
                           -4.59512f, 1e-4f);
    ck_assert_float_eq(uz_params_find(x.p, "image.rpn.layers.0.norm2.weight")->data[3], 1.0f);
    float a = uz_params_find(x.p, "image.rpn.layers.0.linear1.weight")->data[0];
    float b = uz_params_find(x.p, "image.rpn.layers.1.linear1.weight")->data[0];
    ck_assert(a != b && fabsf(a) <= 1.0f / sqrtf(24.0f));
    encoder_free(&x);

    uz_image_encoder_config sel = tiny_config();
    sel.query_content = UZ_RPN_QUERY_SELECTED;
    x = encoder_new(sel);
    ck_assert_ptr_null(uz_params_find(x.p, "image.rpn.tgt_embed.weight"));
    encoder_free(&x);
}
END_TEST

/* With a constant objectness every token ties: the first Q tokens win. */
START_TEST(test_selection_ties)
{
    encoder x = encoder_new(tiny_config());
    uz_tensor *w = uz_params_find(x.p, "image.rpn.enc_score_head.weight");
    memset(w->data, 0, sizeof(float) * (size_t)uz_tensor_numel(w));
    uz_tensor *images = uz_test_rand(x.ctx, 4, (int64_t[]){2, 1, 32, 32}, 3, -1.0f, 1.0f);
    uz_image_encoding out;
    UZ_CK_OK(uz_image_encoder_forward(x.ctx, &x.e, images, false, &out));
    for (int b = 0; b < 2; b++)
        for (int q = 0; q < 4; q++)
            ck_assert_int_eq(out.det.selected[b * 4 + q], q);
    encoder_free(&x);
}
END_TEST

/* ---- errors ----------------------------------------------------------------------------- */

static void expect_config_error(uz_image_encoder_config cfg, const char *field)
{
    uz_params *p = uz_params_new();
    uz_image_encoder e;
    uz_error_clear();
    ck_assert_int_eq(uz_image_encoder_declare(&e, p, "", &cfg), UZ_ERR_ARG);
    ck_assert_msg(strstr(uz_error_message(), field) != NULL, "'%s' not named in: %s", field,
                  uz_error_message());
    uz_params_free(p);
}

START_TEST(test_config_errors)
{
    uz_image_encoder_config c;
    c = tiny_config(), c.backbone.channels = 0, expect_config_error(c, "channels");
    c = tiny_config(), c.backbone.widths[1] = -2, expect_config_error(c, "widths[1]");
    c = tiny_config(), c.backbone.widths[3] = 18, expect_config_error(c, "widths[3]");
    c = tiny_config(), c.width = 20, expect_config_error(c, "width");
    c = tiny_config(), c.heads = 5, expect_config_error(c, "heads");
    c = tiny_config(), c.heads = 0, expect_config_error(c, "heads");
    c = tiny_config(), c.ffn_hidden = -1, expect_config_error(c, "ffn_hidden");
    c = tiny_config(), c.n_queries = 0, expect_config_error(c, "n_queries");
    c = tiny_config(), c.n_layers = 9, expect_config_error(c, "n_layers");
    c = tiny_config(), c.n_pools = 9, expect_config_error(c, "n_pools");
    c = tiny_config(), c.anchor_size = 0.5f, expect_config_error(c, "anchor_size");
    c = tiny_config(), c.query_content = (uz_rpn_query_content)2,
    expect_config_error(c, "query_content");
    c = tiny_config(), c.dropout = 1.0f, expect_config_error(c, "dropout");
    c = tiny_config(), c.ln_eps = -1.0f, expect_config_error(c, "ln_eps");
}
END_TEST

START_TEST(test_input_errors)
{
    encoder x = encoder_new(tiny_config());
    uz_image_encoding out;
    uz_tensor *rgb = uz_test_rand(x.ctx, 4, (int64_t[]){1, 3, 32, 32}, 1, 0.0f, 1.0f);
    ck_assert_int_eq(uz_image_encoder_forward(x.ctx, &x.e, rgb, false, &out), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "backbone: images [1,3,32,32]"));
    ck_assert_ptr_null(out.tokens);

    /* 4x4 images: F2 is 1x1 and F3 1x1, two memory tokens for four queries. */
    uz_tensor *tiny = uz_test_rand(x.ctx, 4, (int64_t[]){1, 1, 4, 4}, 1, 0.0f, 1.0f);
    ck_assert_int_eq(uz_image_encoder_forward(x.ctx, &x.e, tiny, false, &out), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "n_queries 4 exceeds the 2 memory tokens"));

    uz_error_clear();
    ck_assert_int_eq(uz_image_encoder_forward(x.ctx, &x.e, NULL, false, &out), UZ_ERR_ARG);

    uz_tensor *tgt = uz_tensor_zeros(x.ctx, 3, (int64_t[]){2, 4, 16});
    uz_tensor *mem = uz_tensor_zeros(x.ctx, 3, (int64_t[]){2, 5, 24});
    ck_assert_ptr_null(uz_detr_decoder_forward(x.ctx, &x.e.rpn.layers[0], tgt, tgt, mem, mem,
                                               NULL, false));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "detr_decoder: tgt [2,4,16]"));
    encoder_free(&x);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("vision_encoder");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_golden_image_encoder);
    tcase_add_test(tc, test_golden_image_encoder_selected_queries);
    tcase_add_test(tc, test_golden_detr_decoder_key_padding);
    tcase_add_test(tc, test_shapes_gray_64);
    tcase_add_test(tc, test_shapes_rgb_28);
    tcase_add_test(tc, test_param_names);
    tcase_add_test(tc, test_selection_ties);
    tcase_add_test(tc, test_config_errors);
    tcase_add_test(tc, test_input_errors);
    suite_add_tcase(s, tc);
    return s;
}
