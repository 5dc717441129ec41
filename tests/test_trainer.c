/* The trainer on a tiny synthetic model (a linear classifier over Philox
 * features, with input dropout and optional NaN injection): exact resume
 * (2N steps straight vs N + resume + N, memcmp of every parameter, every
 * optimizer state buffer and the trainer's position) for unmixed and mixed
 * sampling, micro-batches, dropout and the adaptive batch size; micro-batch
 * accumulation against one full batch; the non-finite stop naming the step
 * and tensor with the last checkpoint kept; the stop flag; checkpoint and
 * config mismatches; the data order. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_main.h"
#include "core/unizoo.h"
#include "gradcheck.h"
#include "subprocess.h"
#include "train/checkpoint.h"
#include "train/order.h"
#include "train/trainer.h"

enum { DIM = 6, CLASSES = 3 };

typedef struct toy {
    uz_model base;
    uz_tensor *w, *b;
    float dropout;
    int64_t nan_at, grad_nan_at, calls;
    int64_t n_min[4], n_max[4]; /* the examples of one loss call, per task */
} toy;

static void feature(int task, int64_t i, float *x)
{
    uz_rng_fill_uniform(x, DIM, 7, (uint64_t)task, (uint64_t)i * DIM, -1.0f, 1.0f);
    x[i % CLASSES] += 1.5f; /* learnable: the class shifts one feature */
}

static uz_tensor *toy_loss(uz_model *m, uz_ctx *ctx, int task, const int64_t *idx, int64_t n)
{
    toy *t = m->impl;
    t->calls++;
    t->n_min[task] = t->n_min[task] && t->n_min[task] < n ? t->n_min[task] : n;
    t->n_max[task] = t->n_max[task] > n ? t->n_max[task] : n;
    float *x = uz_ctx_alloc(ctx, sizeof(float) * (size_t)(n * DIM));
    int32_t *y = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        feature(task, idx[i], x + i * DIM);
        y[i] = (int32_t)((idx[i] + task) % CLASSES);
    }
    uz_tensor *in = uz_dropout(ctx, uz_tensor_wrap(ctx, 2, (int64_t[]){n, DIM}, x), t->dropout, true);
    uz_tensor *loss = uz_cross_entropy(ctx, uz_linear(ctx, in, t->w, t->b), y, -100, 0.0f);
    if (t->calls == t->nan_at)
        loss = uz_mul_scalar(ctx, loss, NAN);
    if (t->calls == t->grad_nan_at) {
        /* Finite value, NaN gradient for lin.bias only: 0 * sqrt(0 * b). */
        uz_tensor *z = uz_mul_scalar(ctx, uz_sqrt(ctx, uz_mul_scalar(ctx, t->b, 0.0f)), 0.0f);
        loss = uz_add(ctx, loss, uz_sum(ctx, z, NULL, 0, false));
    }
    return loss;
}

static uz_status toy_eval(uz_model *m, uz_ctx *ctx, uz_metrics *out)
{
    (void)ctx;
    toy *t = m->impl;
    out->n = 1;
    out->m[0] = (uz_metric){.task = -1, .name = "w0", .value = t->w->data[0]};
    return UZ_OK;
}

static void toy_free(uz_model *m)
{
    uz_params_free(m->params);
    free(m->impl);
}

/* A fresh run's one-off work: a shift the resume tests would see twice if
 * a resumed run repeated it. */
static uz_status toy_prepare(uz_model *m)
{
    toy *t = m->impl;
    t->b->data[0] += 0.5f;
    return UZ_OK;
}

static const uz_model_ops TOY_OPS = {.loss = toy_loss, .eval = toy_eval, .free = toy_free,
                                     .prepare = toy_prepare};

static uz_status toy_build(const cJSON *cfg, uint64_t seed, bool load_data, uz_model **out)
{
    (void)load_data;
    int64_t n, tasks, dim, nan_at, grad_nan_at;
    double dropout;
    uz_status st;
    if ((st = uz_cfg_int(cfg, "model", "examples", 1, 100000, &n)) != UZ_OK ||
        (st = uz_cfg_int(cfg, "model", "tasks", 1, 4, &tasks)) != UZ_OK ||
        (st = uz_cfg_int(cfg, "model", "dim", 1, 64, &dim)) != UZ_OK ||
        (st = uz_cfg_int(cfg, "model", "nan_at", -1, 1000000, &nan_at)) != UZ_OK ||
        (st = uz_cfg_int(cfg, "model", "grad_nan_at", -1, 1000000, &grad_nan_at)) != UZ_OK ||
        (st = uz_cfg_num(cfg, "model", "dropout", 0, false, 1, true, &dropout)) != UZ_OK)
        return st;
    toy *t = calloc(1, sizeof *t);
    t->base = (uz_model){.ops = &TOY_OPS, .params = uz_params_new(), .n_tasks = (int)tasks,
                         .impl = t};
    t->w = uz_params_add(t->base.params, "lin.weight", 2, (int64_t[]){CLASSES, dim});
    t->b = uz_params_add(t->base.params, "lin.bias", 1, (int64_t[]){CLASSES});
    UZ_CK_OK(uz_params_finalize(t->base.params));
    uz_param_init_uniform(t->w, seed, 0, -0.3f, 0.3f);
    uz_param_init_uniform(t->b, seed, 1, -0.3f, 0.3f);
    for (int k = 0; k < tasks; k++)
        t->base.task_size[k] = n + 5 * k; /* unequal epochs */
    t->dropout = (float)dropout;
    t->nan_at = nan_at;
    t->grad_nan_at = grad_nan_at;
    *out = &t->base;
    return UZ_OK;
}

static const uz_model_family TOY_FAMILY = {
    "toy", "synthetic linear classifier",
    "{\"examples\":40,\"tasks\":1,\"dim\":6,\"dropout\":0,\"nan_at\":-1,\"grad_nan_at\":-1}",
    toy_build};
static const uz_model_family *const FAMS[] = {&TOY_FAMILY};

static void load(const char *json, const char *const *sets, int n_sets, uz_train_config *cfg)
{
    uz_status st = uz_config_load(json, "test", FAMS, 1, sets, n_sets, cfg);
    ck_assert_msg(st == UZ_OK, "%s", uz_error_message());
}

static uz_model *build(const uz_train_config *cfg)
{
    uz_model *m = NULL;
    UZ_CK_OK(cfg->model_family->build(cfg->model, cfg->seed, true, &m));
    return m;
}

static uz_status run(const char *json, const char *const *sets, int n_sets, const char *out,
                     const char *resume, volatile sig_atomic_t *stop, uz_train_result *res)
{
    uz_train_config cfg;
    load(json, sets, n_sets, &cfg);
    uz_model *m = build(&cfg);
    uz_trainer_opts o = {.out_dir = out, .resume_dir = resume, .stop = stop,
                         .progress = UZ_PROGRESS_OFF};
    uz_status st = uz_train(&cfg, m, &o, res);
    uz_model_free(m);
    uz_config_free(&cfg);
    return st;
}

/* Every tensor of the two checkpoints identical, byte for byte, except the
 * wall-clock time. */
static void same_checkpoints(const char *a_dir, const char *b_dir)
{
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/%s", a_dir, UZ_CKPT_FILE);
    snprintf(b, sizeof b, "%s/%s", b_dir, UZ_CKPT_FILE);
    uz_st_file *fa, *fb;
    UZ_CK_OK(uz_st_open(a, &fa));
    UZ_CK_OK(uz_st_open(b, &fb));
    ck_assert_int_eq(uz_st_count(fa), uz_st_count(fb));
    int compared = 0;
    for (int i = 0; i < uz_st_count(fa); i++) {
        const uz_st_tensor *ta = uz_st_at(fa, i);
        if (strcmp(ta->name, "trainer.elapsed") == 0)
            continue;
        const uz_st_tensor *tb = uz_st_find(fb, ta->name);
        ck_assert_msg(tb != NULL, "%s missing", ta->name);
        ck_assert_uint_eq(ta->nbytes, tb->nbytes);
        ck_assert_msg(memcmp(ta->data, tb->data, ta->nbytes) == 0, "%s differs", ta->name);
        compared++;
    }
    ck_assert_int_ge(compared, 10);
    uz_st_close(fa);
    uz_st_close(fb);
}

static void resume_case(const char *json)
{
    char *straight = uz_test_tmpdir("trainer"), *split = uz_test_tmpdir("trainer");
    const char *full[] = {"train.steps=10"}, *half[] = {"train.steps=5"};
    uz_train_result r;
    UZ_CK_OK(run(json, full, 1, straight, NULL, NULL, &r));
    ck_assert_int_eq(r.steps, 10);
    UZ_CK_OK(run(json, half, 1, split, NULL, NULL, &r));
    ck_assert_int_eq(r.steps, 5);
    UZ_CK_OK(run(json, full, 1, split, split, NULL, &r));
    ck_assert_int_eq(r.steps, 10);
    same_checkpoints(straight, split);
    /* The resumed run's metrics file holds each step once. */
    char p[512];
    snprintf(p, sizeof p, "%s/metrics.jsonl", split);
    FILE *f = fopen(p, "r");
    ck_assert_ptr_nonnull(f);
    int lines = 0, c;
    while ((c = fgetc(f)) != EOF)
        lines += c == '\n';
    fclose(f);
    ck_assert_int_eq(lines, 10 + 2); /* 10 steps, eval at 5 (the end of run 1) and 10 */
    uz_test_rmtree(straight);
    uz_test_rmtree(split);
    free(straight);
    free(split);
}

/* lr.total_steps is fixed so the 5-step run follows the 10-step schedule.
 * Task b has its own batch size. */
static const char RESUME_UNMIXED[] =
    "{\"family\":\"toy\",\"model\":{\"tasks\":2,\"dropout\":0.25},"
    "\"train\":{\"batch\":12,\"micro_batches\":3,\"seed\":5,\"ckpt_every\":3},"
    "\"optim\":{\"kind\":\"mt-adamw\"},"
    "\"lr\":{\"base\":0.05,\"warmup_steps\":2,\"decay\":\"cosine\",\"total_steps\":10},"
    "\"tasks\":[{\"name\":\"a\",\"ratio\":0.7},{\"name\":\"b\",\"ratio\":0.3,\"weight\":2,"
    "\"batch\":21}]}";

START_TEST(resume_unmixed_dropout_micro)
{
    resume_case(RESUME_UNMIXED);
}
END_TEST

/* Each task's steps take its own batch size (split into the micro-batches). */
START_TEST(task_batch_sizes)
{
    uz_train_config cfg;
    load(RESUME_UNMIXED, NULL, 0, &cfg);
    uz_model *m = build(&cfg);
    char *out = uz_test_tmpdir("trainer");
    uz_trainer_opts o = {.out_dir = out, .progress = UZ_PROGRESS_OFF};
    uz_train_result r;
    UZ_CK_OK(uz_train(&cfg, m, &o, &r));
    const toy *t = m->impl;
    ck_assert_int_eq(t->n_min[0], 4);
    ck_assert_int_eq(t->n_max[0], 4);
    ck_assert_int_eq(t->n_min[1], 7);
    ck_assert_int_eq(t->n_max[1], 7);
    uz_model_free(m);
    uz_config_free(&cfg);
    uz_test_rmtree(out);
    free(out);
}
END_TEST

START_TEST(resume_mixed_clipped)
{
    resume_case("{\"family\":\"toy\",\"model\":{\"tasks\":3,\"dropout\":0.1},"
                "\"train\":{\"batch\":10,\"micro_batches\":2,\"seed\":9},"
                "\"optim\":{\"kind\":\"adamw\",\"max_grad_norm\":0.5},"
                "\"lr\":{\"base\":0.02,\"decay\":\"linear\",\"total_steps\":10},"
                "\"tasks\":[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":\"c\",\"ratio\":2}],"
                "\"sampling\":\"mixed\"}");
}
END_TEST

START_TEST(resume_adaptive_batch)
{
    resume_case("{\"family\":\"toy\",\"model\":{\"dropout\":0.2},"
                "\"train\":{\"batch\":4,\"micro_batches\":2,\"seed\":3},"
                "\"optim\":{\"kind\":\"sgd\",\"momentum\":0.9},\"lr\":{\"base\":0.1},"
                "\"batch_schedule\":{\"kind\":\"adaptive\",\"eta\":0.05,\"b_max\":30}}");
    /* The schedule did grow the batch (so the resumed batch mattered). */
    char *d = uz_test_tmpdir("trainer");
    const char *sets[] = {"train.steps=4"};
    UZ_CK_OK(run("{\"family\":\"toy\",\"model\":{\"dropout\":0.2},"
                 "\"train\":{\"batch\":4,\"micro_batches\":2,\"seed\":3},"
                 "\"optim\":{\"kind\":\"sgd\",\"momentum\":0.9},\"lr\":{\"base\":0.1},"
                 "\"batch_schedule\":{\"kind\":\"adaptive\",\"eta\":0.05,\"b_max\":30}}",
                 sets, 1, d, NULL, NULL, NULL));
    char p[512];
    snprintf(p, sizeof p, "%s/%s", d, UZ_CKPT_FILE);
    uz_st_file *f;
    UZ_CK_OK(uz_st_open(p, &f));
    int64_t batch;
    memcpy(&batch, uz_st_find(f, "trainer.batch")->data, sizeof batch);
    double mult;
    memcpy(&mult, uz_st_find(f, "trainer.lr_mult")->data, sizeof mult);
    ck_assert_int_gt(batch, 4);
    ck_assert_double_eq_tol(mult, (double)batch / 4.0, 1e-5); /* linear rule for SGD */
    uz_st_close(f);
    uz_test_rmtree(d);
    free(d);
}
END_TEST

/* One batch of 24 in one piece or in 4 micro-batches: the same gradient up
 * to float summation order (tolerance 1e-6 on parameters of size ~0.3). */
START_TEST(micro_batches_match_full_batch)
{
    const char *json = "{\"family\":\"toy\",\"model\":{\"tasks\":2},"
                       "\"train\":{\"steps\":6,\"batch\":24,\"seed\":2},"
                       "\"optim\":{\"kind\":\"sgd\",\"momentum\":0.5},\"lr\":{\"base\":0.3},"
                       "\"tasks\":[{\"name\":\"a\"},{\"name\":\"b\",\"weight\":0.5}],"
                       "\"sampling\":\"mixed\"}";
    float w[2][CLASSES * DIM + CLASSES];
    for (int v = 0; v < 2; v++) {
        const char *sets[] = {v ? "train.micro_batches=4" : "train.micro_batches=1"};
        uz_train_config cfg;
        load(json, sets, 1, &cfg);
        uz_model *m = build(&cfg);
        uz_trainer_opts o = {.progress = UZ_PROGRESS_OFF};
        UZ_CK_OK(uz_train(&cfg, m, &o, NULL));
        memcpy(w[v], uz_params_data(m->params), sizeof w[v]);
        uz_model_free(m);
        uz_config_free(&cfg);
    }
    for (size_t i = 0; i < sizeof w[0] / sizeof w[0][0]; i++)
        ck_assert_float_eq_tol(w[0][i], w[1][i], 1e-6f);
}
END_TEST

START_TEST(nan_loss_stops_and_keeps_checkpoint)
{
    char *d = uz_test_tmpdir("trainer");
    const char *json = "{\"family\":\"toy\",\"model\":{\"nan_at\":5},"
                       "\"train\":{\"steps\":20,\"batch\":8,\"ckpt_every\":2},"
                       "\"optim\":{\"kind\":\"sgd\"}}";
    uz_train_result r;
    uz_status st = run(json, NULL, 0, d, NULL, NULL, &r);
    ck_assert_int_eq(st, UZ_ERR_NUMERIC);
    ck_assert_msg(strstr(uz_error_message(), "step 5: non-finite loss") != NULL, "%s",
                  uz_error_message());
    ck_assert_msg(strstr(uz_error_message(), "last checkpoint is kept") != NULL, "%s",
                  uz_error_message());
    ck_assert_int_eq(r.steps, 4);
    ck_assert_int_eq(uz_test_ckpt_step(d, UZ_CKPT_FILE), 4);
    ck_assert_int_eq(uz_test_ckpt_step(d, UZ_CKPT_PREV), 2);
    uz_test_rmtree(d);
    free(d);
}
END_TEST

START_TEST(nan_gradient_names_tensor)
{
    const char *json = "{\"family\":\"toy\",\"model\":{\"grad_nan_at\":3},"
                       "\"train\":{\"steps\":20,\"batch\":8},\"optim\":{\"kind\":\"adamw\"}}";
    uz_status st = run(json, NULL, 0, NULL, NULL, NULL, NULL);
    ck_assert_int_eq(st, UZ_ERR_NUMERIC);
    ck_assert_msg(strstr(uz_error_message(), "step 3: non-finite gradient") != NULL &&
                      strstr(uz_error_message(), "'lin.bias'") != NULL,
                  "%s", uz_error_message());
}
END_TEST

START_TEST(stop_flag_checkpoints_and_returns)
{
    char *d = uz_test_tmpdir("trainer");
    volatile sig_atomic_t stop = 1;
    uz_train_result r;
    UZ_CK_OK(run("{\"family\":\"toy\",\"train\":{\"steps\":50,\"batch\":4}}", NULL, 0, d, NULL,
                 &stop, &r));
    ck_assert(r.interrupted);
    ck_assert_int_eq(r.steps, 1);
    ck_assert_int_eq(uz_test_ckpt_step(d, UZ_CKPT_FILE), 1);
    /* ...and the run continues from it. */
    stop = 0;
    UZ_CK_OK(run("{\"family\":\"toy\",\"train\":{\"steps\":50,\"batch\":4}}", NULL, 0, d, d,
                 &stop, &r));
    ck_assert(!r.interrupted);
    ck_assert_int_eq(r.steps, 50);
    uz_test_rmtree(d);
    free(d);
}
END_TEST

START_TEST(mismatches_are_named)
{
    char *d = uz_test_tmpdir("trainer");
    const char *json = "{\"family\":\"toy\",\"train\":{\"steps\":2,\"batch\":4}}";
    UZ_CK_OK(run(json, NULL, 0, d, NULL, NULL, NULL));
    /* A different config on resume names the field. */
    const char *lr[] = {"lr.base=0.5"};
    ck_assert_int_eq(run(json, lr, 1, d, d, NULL, NULL), UZ_ERR_ARG);
    ck_assert_msg(strstr(uz_error_message(), "at lr.base (0.01 vs 0.5)") ||
                      strstr(uz_error_message(), "at lr.base (0.5 vs 0.01)"),
                  "%s", uz_error_message());
    /* A checkpoint loaded into a model of another shape names the tensor. */
    uz_train_config cfg;
    const char *dim[] = {"model.dim=7"};
    load(json, dim, 1, &cfg);
    uz_model *m = build(&cfg);
    char p[512];
    snprintf(p, sizeof p, "%s/%s", d, UZ_CKPT_FILE);
    ck_assert_int_ne(uz_checkpoint_load(p, m->params, NULL, NULL, 0, NULL), UZ_OK);
    ck_assert_msg(strstr(uz_error_message(), "lin.weight") != NULL, "%s", uz_error_message());
    uz_model_free(m);
    uz_config_free(&cfg);
    uz_test_rmtree(d);
    free(d);
}
END_TEST

/* A checkpoint written before a config field existed (its stored config
 * lacks tasks[].batch) resumes: the stored config is resolved with the
 * defaults before the comparison. */
START_TEST(resume_from_config_without_newer_field)
{
    char *d = uz_test_tmpdir("trainer");
    const char *json = "{\"family\":\"toy\",\"train\":{\"steps\":4,\"batch\":4}}";
    const char *two[] = {"train.steps=2"};
    UZ_CK_OK(run(json, two, 1, d, NULL, NULL, NULL));
    char p[512], *text;
    snprintf(p, sizeof p, "%s/%s", d, UZ_CKPT_FILE);
    UZ_CK_OK(uz_checkpoint_config(p, &text));
    cJSON *old = cJSON_Parse(text);
    free(text);
    cJSON *task0 = cJSON_GetArrayItem(cJSON_GetObjectItem(old, "tasks"), 0);
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(task0, "batch"));
    cJSON_DeleteItemFromObject(task0, "batch");
    text = cJSON_PrintUnformatted(old);
    cJSON_Delete(old);
    /* The same checkpoint again, with the older config. */
    uz_train_config cfg;
    load(json, two, 1, &cfg);
    uz_model *m = build(&cfg);
    uz_optim *o;
    uz_train_state st = {.n_tasks = cfg.n_tasks};
    UZ_CK_OK(uz_optim_new(&cfg.optim, m->params, &o));
    UZ_CK_OK(uz_checkpoint_load(p, m->params, o, NULL, 0, &st));
    UZ_CK_OK(uz_checkpoint_save(p, m->params, o, NULL, 0, &st, text));
    free(text);
    uz_optim_free(o);
    uz_model_free(m);
    uz_config_free(&cfg);
    uz_train_result r;
    ck_assert_msg(run(json, NULL, 0, d, d, NULL, &r) == UZ_OK, "%s", uz_error_message());
    ck_assert_int_eq(r.steps, 4);
    uz_test_rmtree(d);
    free(d);
}
END_TEST

START_TEST(data_order_permutes_and_seeks)
{
    uz_data_order a, b;
    int64_t sizes[2] = {17, 5};
    UZ_CK_OK(uz_order_init(&a, 2, sizes, 11));
    UZ_CK_OK(uz_order_init(&b, 2, sizes, 11));
    int seen[3][17] = {{0}};
    int64_t first[17], x;
    for (int e = 0; e < 3; e++)
        for (int i = 0; i < 17; i++) {
            x = uz_order_next(&a, 0);
            ck_assert(x >= 0 && x < 17);
            seen[e][x]++;
            if (e == 0)
                first[i] = x;
        }
    for (int e = 0; e < 3; e++)
        for (int i = 0; i < 17; i++)
            ck_assert_int_eq(seen[e][i], 1);
    /* Epoch 3 (index) from a seek equals the continued sequence. */
    UZ_CK_OK(uz_order_seek(&b, 0, a.epoch[0], a.cursor[0]));
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(uz_order_next(&a, 0), uz_order_next(&b, 0));
    /* Epoch 0 is not the identity and differs from later epochs. */
    int same = 0, ident = 0;
    UZ_CK_OK(uz_order_seek(&b, 0, 1, 0));
    for (int i = 0; i < 17; i++) {
        same += uz_order_next(&b, 0) == first[i];
        ident += first[i] == i;
    }
    ck_assert_int_lt(same, 17);
    ck_assert_int_lt(ident, 17);
    ck_assert_int_ne(uz_order_seek(&b, 1, 0, 5), UZ_OK);
    uz_order_free(&a);
    uz_order_free(&b);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("trainer");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, resume_unmixed_dropout_micro);
    tcase_add_test(tc, task_batch_sizes);
    tcase_add_test(tc, resume_mixed_clipped);
    tcase_add_test(tc, resume_adaptive_batch);
    tcase_add_test(tc, micro_batches_match_full_batch);
    tcase_add_test(tc, nan_loss_stops_and_keeps_checkpoint);
    tcase_add_test(tc, nan_gradient_names_tensor);
    tcase_add_test(tc, stop_flag_checkpoints_and_returns);
    tcase_add_test(tc, mismatches_are_named);
    tcase_add_test(tc, resume_from_config_without_newer_field);
    tcase_add_test(tc, data_order_permutes_and_seeks);
    suite_add_tcase(s, tc);
    return s;
}
