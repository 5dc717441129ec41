/* Config loading: defaults, one-line messages naming the field path and the
 * allowed values (bad enum, out-of-range number, wrong type, unknown field,
 * --set on a missing path or with a value of the wrong type), --set typing
 * and kind-dependent defaults, config diffs, and every built-in config. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"
#include "models/zoo.h"
#include "train/config.h"

static uz_status toy_build(const cJSON *cfg, uint64_t seed, bool load_data, uz_model **out)
{
    (void)cfg, (void)seed, (void)load_data, (void)out;
    return UZ_OK;
}

static const uz_model_family TOY = {"toy", "test family", "{\"width\":4,\"sizes\":[1,2]}",
                                    toy_build};
static const uz_model_family *const FAMS[] = {&TOY};

static const char BASE[] = "{\"family\":\"toy\",\"train\":{\"steps\":10,\"batch\":8}}";

static uz_status load(const char *json, const char *set, uz_train_config *c)
{
    const char *sets[] = {set};
    return uz_config_load(json, "test", FAMS, 1, sets, set ? 1 : 0, c);
}

/* The load fails with a message containing `want`. */
static void fails(const char *json, const char *set, const char *want)
{
    uz_train_config c;
    ck_assert_int_ne(load(json, set, &c), UZ_OK);
    ck_assert_msg(strstr(uz_error_message(), want) != NULL, "got '%s', want '%s'",
                  uz_error_message(), want);
    ck_assert_msg(strchr(uz_error_message(), '\n') == NULL, "not one line");
}

START_TEST(defaults_fill_every_section)
{
    uz_train_config c;
    UZ_CK_OK(load(BASE, NULL, &c));
    ck_assert_int_eq(c.steps, 10);
    ck_assert_int_eq(c.batch, 8);
    ck_assert_int_eq(c.micro_batches, 1);
    ck_assert_int_eq(c.optim.kind, UZ_OPTIM_SGD);
    ck_assert_int_eq(c.lr.total_steps, 10); /* 0 follows train.steps */
    ck_assert_int_eq(c.n_tasks, 1);
    ck_assert_str_eq(c.tasks[0].name, "main");
    ck_assert(!c.mixed && !c.adaptive);
    ck_assert_ptr_eq(c.model_family, &TOY);
    ck_assert_int_eq(cJSON_GetObjectItem(c.model, "width")->valueint, 4);
    char *json = uz_config_json(&c);
    ck_assert_ptr_nonnull(strstr(json, "\"momentum\":0"));
    free(json);
    uz_config_free(&c);
}
END_TEST

START_TEST(messages_name_field_and_allowed_values)
{
    fails("{\"family\":\"toy\",\"optim\":{\"kind\":\"adamx\"}}", NULL,
          "config optim.kind: 'adamx' is not one of sgd, adamw, mt-adamw, lamb, lars, adagrad, "
          "adagrad-norm");
    fails(BASE, "train.steps=0", "config train.steps: 0 is not allowed (integers in [1, ");
    fails(BASE, "train.batch=2.5", "config train.batch: 2.5 is not allowed (integers");
    fails(BASE, "optim.momentum=1", "config optim.momentum: 1 is not allowed (numbers in [0, 1))");
    fails(BASE, "lr.base=-1", "config lr.base: -1 is not allowed (numbers in (0, inf))");
    fails(BASE, "lr.decay=exp", "config lr.decay: 'exp' is not one of constant, cosine, linear, step");
    fails(BASE, "sampling=both", "config sampling: 'both' is not one of unmixed, mixed");
    fails("{\"family\":\"toy\",\"train\":{\"stepz\":1}}", NULL,
          "config train.stepz: unknown field (allowed: steps, batch, micro_batches, seed");
    fails("{\"family\":\"toy\",\"model\":{\"depth\":1}}", NULL,
          "config model.depth: unknown field (allowed: width, sizes)");
    fails("{\"family\":\"toy\",\"bogus\":1}", NULL, "config bogus: unknown field (allowed: name,");
    fails("{\"family\":\"toy\",\"train\":{\"steps\":\"10\"}}", NULL,
          "config train.steps: expected a number, got a string");
    fails("{\"family\":\"toy\",\"model\":{\"sizes\":[1,\"x\"]}}", NULL,
          "config model.sizes.1: expected a number, got a string");
    fails("{\"family\":\"toy\",\"tasks\":[{\"name\":\"a\",\"ratoi\":1}]}", NULL,
          "config tasks.0.ratoi: unknown field (allowed: name, ratio, weight, batch)");
    fails("{\"family\":\"toy\",\"tasks\":[{\"name\":\"a\",\"batch\":4}],\"sampling\":\"mixed\"}",
          NULL, "config tasks.0.batch: a task's own batch size needs unmixed sampling");
    fails("{\"family\":\"toy\",\"tasks\":[{\"name\":\"a\",\"batch\":4}],"
          "\"batch_schedule\":{\"kind\":\"adaptive\"}}",
          NULL, "config tasks.0.batch: a task's own batch size needs unmixed sampling and a fixed");
    fails("{\"family\":\"toy\",\"tasks\":[{\"name\":\"a\"},{\"name\":\"a\"}]}", NULL,
          "config tasks.1.name: 'a' is already task 0");
    fails("{\"family\":\"toy\",\"tasks\":[]}", NULL, "config tasks: 0 entries, allowed 1 to 16");
    fails("{\"family\":\"nope\"}", NULL, "config family: 'nope' is not one of toy");
    fails("{\"train\":{}}", NULL, "config family: missing (one of toy)");
    fails("{\"family\":\"toy\",", NULL, "config test: invalid JSON near line 1");
    fails("{\"family\":\"toy\",\"optim\":{\"kind\":\"mt-adamw\"},\"sampling\":\"mixed\"}", NULL,
          "config sampling: 'mixed' cannot be used with optim.kind mt-adamw");
    fails(BASE, "train.micro_batches=9", "config train.micro_batches: 9 is more than train.batch (8)");
    fails("{\"family\":\"toy\",\"train\":{\"batch\":64},\"batch_schedule\":{\"kind\":\"adaptive\","
          "\"b_max\":32}}",
          NULL, "config batch_schedule.b_max: 32 is below train.batch (64)");
}
END_TEST

START_TEST(set_overrides)
{
    fails(BASE, "train.nope=1", "config --set train.nope: no such field (train has steps, batch");
    fails(BASE, "trian.steps=1", "config --set trian.steps: no such field");
    fails(BASE, "tasks.1.ratio=0.5", "config --set tasks.1.ratio: no such field (tasks has indices 0..0)");
    fails(BASE, "train.steps=abc", "config --set train.steps: 'abc' is not a number");
    fails(BASE, "optim.nesterov=maybe", "config --set optim.nesterov: 'maybe' is not true or false");
    fails(BASE, "model.sizes=3", "config --set model.sizes: '3' is not an array in JSON");
    fails(BASE, "train.steps", "config --set 'train.steps': expected path=value");

    uz_train_config c;
    UZ_CK_OK(load(BASE, "train.steps=25", &c));
    ck_assert_int_eq(c.steps, 25);
    uz_config_free(&c);
    UZ_CK_OK(load(BASE, "model.sizes=[3,4,5]", &c));
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(c.model, "sizes")), 3);
    uz_config_free(&c);
    UZ_CK_OK(load(BASE, "tasks.0.name=cls", &c));
    ck_assert_str_eq(c.tasks[0].name, "cls");
    uz_config_free(&c);
    /* Changing the kind brings that kind's defaults (AdamW: decay 0.01, eps 1e-8). */
    UZ_CK_OK(load(BASE, "optim.kind=adamw", &c));
    ck_assert_int_eq(c.optim.kind, UZ_OPTIM_ADAMW);
    ck_assert_float_eq_tol(c.optim.weight_decay, 0.01f, 1e-9f);
    ck_assert_float_eq_tol(c.optim.eps, 1e-8f, 1e-15f);
    ck_assert_int_eq(c.lr_rule, UZ_LR_RULE_SQRT); /* auto rule for Adam-type */
    uz_config_free(&c);
    UZ_CK_OK(load(BASE, "optim.groups=[{\"match\":\"bias\",\"weight_decay\":0}]", &c));
    ck_assert_int_eq(c.optim.n_groups, 1);
    ck_assert_str_eq(c.optim.groups[0].match, "bias");
    ck_assert_float_eq(c.optim.groups[0].lr_scale, 1.0f);
    uz_config_free(&c);
    fails(BASE, "optim.groups=[{\"match\":\"\"}]", "config optim.groups.0.match: must name");
    fails(BASE, "optim.groups=[{\"match\":\"x\",\"lr\":1}]",
          "config optim.groups.0.lr: unknown field (allowed: match, lr_scale, weight_decay, no_adapt)");
}
END_TEST

START_TEST(diff_skips_resume_free_fields)
{
    uz_train_config a, b;
    UZ_CK_OK(load(BASE, "train.steps=99", &a));
    UZ_CK_OK(load(BASE, NULL, &b));
    char buf[256];
    ck_assert(!uz_config_diff(a.root, b.root, uz_config_resume_free, uz_config_resume_free_count,
                              buf, sizeof buf));
    ck_assert(uz_config_diff(a.root, b.root, NULL, 0, buf, sizeof buf));
    ck_assert_str_eq(buf, "train.steps (99 vs 10)");
    uz_config_free(&a);
    UZ_CK_OK(load(BASE, "optim.momentum=0.5", &a));
    ck_assert(uz_config_diff(a.root, b.root, uz_config_resume_free, uz_config_resume_free_count,
                             buf, sizeof buf));
    ck_assert_str_eq(buf, "optim.momentum (0.5 vs 0)");
    uz_config_free(&a);
    uz_config_free(&b);
}
END_TEST

/* Every built-in resolves, validates and builds its parameters. */
START_TEST(zoo_configs_are_valid)
{
    int n_fams;
    const uz_model_family *const *fams = uz_zoo_families(&n_fams);
    ck_assert_int_ge(uz_zoo_count(), 2);
    ck_assert_ptr_nonnull(uz_zoo_find("fmnist-mlp"));
    ck_assert_ptr_null(uz_zoo_find("nope"));
    for (int i = 0; i < uz_zoo_count(); i++) {
        const uz_zoo_entry *e = uz_zoo_at(i);
        uz_train_config c;
        ck_assert_msg(uz_config_load(e->json, e->name, fams, n_fams, NULL, 0, &c) == UZ_OK,
                      "%s: %s", e->name, uz_error_message());
        ck_assert_str_eq(c.name, e->name);
        ck_assert(c.description[0]);
        uz_model *m = NULL;
        ck_assert_msg(c.model_family->build(c.model, c.seed, false, &m) == UZ_OK, "%s: %s",
                      e->name, uz_error_message());
        ck_assert_int_eq(m->n_tasks, c.n_tasks);
        ck_assert_int_gt(uz_params_numel(m->params), 1000);
        uz_model_free(m);
        uz_config_free(&c);
    }
    /* The demo's shape: 784-256-10 = 203,530 parameters. */
    uz_train_config c;
    UZ_CK_OK(uz_config_load(uz_zoo_find("fmnist-mlp")->json, "z", fams, n_fams, NULL, 0, &c));
    uz_model *m = NULL;
    UZ_CK_OK(c.model_family->build(c.model, c.seed, false, &m));
    ck_assert_int_eq(uz_params_numel(m->params), 784 * 256 + 256 + 256 * 10 + 10);
    uz_model_free(m);
    uz_config_free(&c);
    /* The family's own checks name the field. */
    const char *sets[] = {"model.heads=[\"classes\",\"fine\"]"};
    UZ_CK_OK(uz_config_load(uz_zoo_find("fmnist-mlp")->json, "z", fams, n_fams, sets, 1, &c));
    ck_assert_int_ne(c.model_family->build(c.model, c.seed, false, &m), UZ_OK);
    ck_assert_msg(strstr(uz_error_message(), "config model.heads.1: 'fine' is not one of classes, coarse"),
                  "%s", uz_error_message());
    uz_config_free(&c);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, defaults_fill_every_section);
    tcase_add_test(tc, messages_name_field_and_allowed_values);
    tcase_add_test(tc, set_overrides);
    tcase_add_test(tc, diff_skips_resume_free_fields);
    tcase_add_test(tc, zoo_configs_are_valid);
    suite_add_tcase(s, tc);
    return s;
}
