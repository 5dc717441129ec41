/* Backbone pre-training (models/backbone_pretrain.h): it learns a task a
 * linear probe on the untrained backbone cannot solve by chance, writes the
 * weights back, is deterministic from its seed, and rejects bad input with
 * one message. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"
#include "core/params.h"
#include "models/backbone_pretrain.h"

enum { N = 256, SIDE = 16 };

/* Class 0: a bright 4x4 square somewhere in the left half; class 1: in the
 * right half. Positions from a fixed LCG. */
static void make_digits(uz_gen_digits *d)
{
    d->images = (uz_gen_images){.n = N, .channels = 1, .size = SIDE};
    d->images.pixels = calloc(N * SIDE * SIDE, 1);
    d->labels = calloc(N, sizeof *d->labels);
    ck_assert(d->images.pixels && d->labels);
    uint32_t r = 12345;
    for (int i = 0; i < N; i++) {
        r = r * 1664525u + 1013904223u;
        int cls = i % 2, x = (int)(r >> 8) % 5 + 8 * cls, y = (int)(r >> 16) % 13;
        d->labels[i] = cls;
        for (int dy = 0; dy < 4; dy++)
            memset(d->images.pixels + (size_t)i * SIDE * SIDE + (y + dy) * SIDE + x, 255, 4);
    }
}

static uz_params *make_backbone(uz_backbone *b)
{
    uz_params *p = uz_params_new();
    uz_backbone_config c = {.channels = 1, .widths = {4, 8, 8, 8}};
    UZ_CK_OK(uz_backbone_declare(b, p, "backbone.", &c));
    UZ_CK_OK(uz_params_finalize(p));
    uz_backbone_init(b, 7);
    return p;
}

static const uz_backbone_pretrain_config CFG = {.steps = 60, .batch = 32, .lr = 0.01f,
                                                .weight_decay = 0.05f, .seed = 3};

START_TEST(test_learns_and_writes_back)
{
    uz_gen_digits d;
    make_digits(&d);
    uz_backbone b;
    uz_params *p = make_backbone(&b);
    int64_t n = uz_params_numel(p);
    float *before = malloc(sizeof(float) * (size_t)n);
    memcpy(before, uz_params_data(p), sizeof(float) * (size_t)n);
    uz_backbone_pretrain_result r;
    UZ_CK_OK(uz_backbone_pretrain(&b, &d, 2, &CFG, &r));
    ck_assert_msg(r.first_loss > 0.6 && r.last_loss < 0.2, "loss %g -> %g", r.first_loss,
                  r.last_loss);
    ck_assert_msg(r.last_accuracy > 0.95, "accuracy %g -> %g", r.first_accuracy,
                  r.last_accuracy);
    ck_assert(r.seconds > 0.0);
    /* every conv of the model's backbone moved, none of its gradients did */
    for (int i = 0; i < uz_params_count(p); i++) {
        uz_tensor *t = uz_params_at(p, i);
        int64_t off = t->data - uz_params_data(p);
        ck_assert_msg(memcmp(t->data, before + off, sizeof(float) * (size_t)uz_tensor_numel(t)),
                      "parameter %d unchanged", i);
    }
    for (int64_t i = 0; i < n; i++)
        ck_assert_float_eq(uz_params_grad(p)[i], 0.0f);
    free(before);
    uz_params_free(p);
    free(d.images.pixels);
    free(d.labels);
}
END_TEST

START_TEST(test_deterministic)
{
    uz_gen_digits d;
    make_digits(&d);
    uz_backbone b[3];
    uz_params *p[3];
    uz_backbone_pretrain_config c = CFG;
    c.steps = 5;
    for (int k = 0; k < 3; k++) {
        p[k] = make_backbone(&b[k]);
        c.seed = k < 2 ? 3 : 4;
        uz_backbone_pretrain_result r;
        UZ_CK_OK(uz_backbone_pretrain(&b[k], &d, 2, &c, &r));
    }
    size_t bytes = sizeof(float) * (size_t)uz_params_numel(p[0]);
    ck_assert(memcmp(uz_params_data(p[0]), uz_params_data(p[1]), bytes) == 0);
    ck_assert(memcmp(uz_params_data(p[0]), uz_params_data(p[2]), bytes) != 0);
    for (int k = 0; k < 3; k++)
        uz_params_free(p[k]);
    free(d.images.pixels);
    free(d.labels);
}
END_TEST

static void expect_error(uz_backbone *b, const uz_gen_digits *d, int classes,
                         const uz_backbone_pretrain_config *c, const char *what)
{
    uz_backbone_pretrain_result r;
    ck_assert(uz_backbone_pretrain(b, d, classes, c, &r) != UZ_OK);
    ck_assert_msg(strstr(uz_error_message(), what), "'%s' lacks '%s'", uz_error_message(), what);
}

START_TEST(test_bad_input)
{
    uz_gen_digits d;
    make_digits(&d);
    uz_backbone b;
    uz_params *p = make_backbone(&b);
    uz_backbone_pretrain_config c = CFG;
    c.steps = 0;
    expect_error(&b, &d, 2, &c, "steps 0");
    c = CFG;
    c.lr = 0.0f;
    expect_error(&b, &d, 2, &c, "must be positive");
    expect_error(&b, &d, 1, &CFG, "in 1 classes");
    d.images.channels = 3;
    expect_error(&b, &d, 2, &CFG, "3-channel images for a 1-channel backbone");
    d.images.channels = 1;
    d.labels[17] = 2;
    c = CFG;
    c.steps = 40;
    expect_error(&b, &d, 2, &c, "digit 17 has label 2, outside 0..1");
    ck_assert_msg(strstr(uz_error_message(), "backbone pre-training step"), "%s",
                  uz_error_message());
    uz_params_free(p);
    free(d.images.pixels);
    free(d.labels);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("backbone_pretrain");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_learns_and_writes_back);
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_bad_input);
    suite_add_tcase(s, tc);
    return s;
}
