/* The "mlp" family on Fashion-MNIST: config section, builder, loss and eval. */
#include "models/fmnist_mlp.h"

#include "core/unizoo.h"
#include "datasets/datasets.h"
#include "models/mlp.h"
#include "train/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N_PIXELS = 784, EVAL_BATCH = 1000 };

/* T-shirt, pullover, coat, shirt -> tops; trouser; dress; sandal, sneaker,
 * ankle boot -> footwear; bag. */
const int32_t uz_fmnist_coarse[10] = {0, 1, 0, 2, 0, 3, 0, 3, 4, 3};

static const char *const LABELLINGS[] = {"classes", "coarse"};
static const int64_t N_CLASSES[] = {10, 5};

typedef struct fmnist_model {
    uz_model base;
    uz_mlp trunk;
    uz_mlp head[UZ_MAX_TASKS];
    int labelling[UZ_MAX_TASKS];
    float dropout;
    uz_fmnist train, test;
    int64_t n_train, n_test;
    bool loaded;
} fmnist_model;

static int32_t label_of(const fmnist_model *fm, int task, int32_t cls)
{
    return fm->labelling[task] == 1 ? uz_fmnist_coarse[cls] : cls;
}

static uz_tensor *mlp_loss(uz_model *m, uz_ctx *ctx, int task, const int64_t *idx, int64_t n)
{
    fmnist_model *fm = m->impl;
    float *x = uz_ctx_alloc(ctx, sizeof(float) * (size_t)(n * N_PIXELS));
    int32_t *y = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)n);
    if (!x || !y)
        return NULL;
    for (int64_t i = 0; i < n; i++) {
        memcpy(x + i * N_PIXELS, fm->train.images + idx[i] * N_PIXELS, sizeof(float) * N_PIXELS);
        y[i] = label_of(fm, task, fm->train.labels[idx[i]]);
    }
    uz_tensor *in = uz_tensor_wrap(ctx, 2, (int64_t[]){n, N_PIXELS}, x);
    uz_tensor *h = uz_mlp_forward_features(ctx, &fm->trunk, in, fm->dropout, true);
    return uz_cross_entropy(ctx, uz_mlp_forward(ctx, &fm->head[task], h), y, -100, 0.0f);
}

static int64_t argmax_row(const float *row, int64_t c)
{
    int64_t best = 0;
    for (int64_t j = 1; j < c; j++)
        if (row[j] > row[best])
            best = j;
    return best;
}

static uz_status mlp_eval(uz_model *m, uz_ctx *ctx, uz_metrics *out)
{
    fmnist_model *fm = m->impl;
    int64_t correct[UZ_MAX_TASKS] = {0};
    for (int64_t s = 0; s < fm->n_test; s += EVAL_BATCH) {
        int64_t b = fm->n_test - s < EVAL_BATCH ? fm->n_test - s : EVAL_BATCH;
        uz_tensor *x = uz_tensor_wrap(ctx, 2, (int64_t[]){b, N_PIXELS},
                                      fm->test.images + s * N_PIXELS);
        uz_tensor *h = uz_mlp_forward_features(ctx, &fm->trunk, x, fm->dropout, false);
        for (int k = 0; k < m->n_tasks; k++) {
            uz_tensor *logits = uz_mlp_forward(ctx, &fm->head[k], h);
            if (!logits)
                return uz_error_status();
            int64_t c = logits->shape[1];
            for (int64_t i = 0; i < b; i++)
                correct[k] += argmax_row(logits->data + i * c, c) ==
                              label_of(fm, k, fm->test.labels[s + i]);
        }
        uz_ctx_reset(ctx);
    }
    out->n = m->n_tasks;
    for (int k = 0; k < m->n_tasks; k++)
        out->m[k] = (uz_metric){.task = k, .name = "accuracy",
                                .value = (double)correct[k] / (double)fm->n_test};
    return UZ_OK;
}

static void mlp_free(uz_model *m)
{
    fmnist_model *fm = m->impl;
    uz_params_free(m->params);
    if (fm->loaded) {
        uz_fmnist_free(&fm->train);
        uz_fmnist_free(&fm->test);
    }
    free(fm);
}

static const uz_model_ops MLP_OPS = {.loss = mlp_loss, .eval = mlp_eval, .free = mlp_free};

static uz_status declare(fmnist_model *fm, const cJSON *cfg, uint64_t seed, int n_heads)
{
    int64_t sizes[UZ_MLP_MAX_LAYERS + 1];
    int n_hidden;
    uz_status st = uz_cfg_int_array(cfg, "model", "hidden", 1, UZ_MLP_MAX_LAYERS, 1, 65536,
                                    sizes + 1, &n_hidden);
    if (st != UZ_OK)
        return st;
    sizes[0] = N_PIXELS;
    uz_params *p = fm->base.params;
    if ((st = uz_mlp_declare_named(&fm->trunk, p, "trunk.", n_hidden + 1, sizes)) != UZ_OK)
        return st;
    for (int k = 0; k < n_heads; k++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "head%d.", k);
        int64_t hs[2] = {sizes[n_hidden], N_CLASSES[fm->labelling[k]]};
        if ((st = uz_mlp_declare_named(&fm->head[k], p, prefix, 2, hs)) != UZ_OK)
            return st;
    }
    if ((st = uz_params_finalize(p)) != UZ_OK)
        return st;
    uz_mlp_init_streams(&fm->trunk, seed, 0);
    for (int k = 0; k < n_heads; k++)
        uz_mlp_init_streams(&fm->head[k], seed, 1000 + 16 * (uint64_t)k);
    return UZ_OK;
}

static uz_status load(fmnist_model *fm, const cJSON *cfg)
{
    const char *dir;
    int64_t train_limit, test_limit;
    uz_status st = uz_cfg_str(cfg, "model", "data", &dir);
    if (st == UZ_OK)
        st = uz_cfg_int(cfg, "model", "train_limit", 0, 60000, &train_limit);
    if (st == UZ_OK)
        st = uz_cfg_int(cfg, "model", "test_limit", 0, 10000, &test_limit);
    if (st != UZ_OK)
        return st;
    if ((st = uz_fmnist_load(dir[0] ? dir : NULL, 1, &fm->train)) != UZ_OK)
        return st;
    if ((st = uz_fmnist_load(dir[0] ? dir : NULL, 0, &fm->test)) != UZ_OK) {
        uz_fmnist_free(&fm->train);
        return st;
    }
    fm->loaded = true;
    fm->n_train = train_limit && train_limit < fm->train.n ? train_limit : fm->train.n;
    fm->n_test = test_limit && test_limit < fm->test.n ? test_limit : fm->test.n;
    return UZ_OK;
}

static uz_status mlp_build(const cJSON *cfg, uint64_t seed, bool load_data, uz_model **out)
{
    *out = NULL;
    fmnist_model *fm = calloc(1, sizeof *fm);
    if (!fm)
        return UZ_FAIL(UZ_ERR_NOMEM, "mlp: out of memory");
    fm->base = (uz_model){.ops = &MLP_OPS, .params = uz_params_new(), .impl = fm};
    if (!fm->base.params) {
        free(fm);
        return UZ_FAIL(UZ_ERR_NOMEM, "mlp: out of memory");
    }
    double dropout;
    uz_status st = uz_cfg_num(cfg, "model", "dropout", 0, false, 1, true, &dropout);
    fm->dropout = (float)dropout;
    const cJSON *heads = cJSON_GetObjectItemCaseSensitive(cfg, "heads");
    int n_heads = cJSON_GetArraySize(heads);
    if (st == UZ_OK && (n_heads < 1 || n_heads > UZ_MAX_TASKS))
        st = UZ_FAIL(UZ_ERR_ARG, "config model.heads: %d heads, allowed 1 to %d", n_heads,
                     UZ_MAX_TASKS);
    for (int k = 0; k < n_heads && st == UZ_OK; k++) {
        /* Each entry is checked like a field named by its index. */
        cJSON *wrap = cJSON_CreateObject();
        char key[16];
        snprintf(key, sizeof key, "%d", k);
        if (!wrap || !cJSON_AddItemReferenceToObject(wrap, key, cJSON_GetArrayItem(heads, k)))
            st = UZ_FAIL(UZ_ERR_NOMEM, "mlp: out of memory");
        else
            st = uz_cfg_enum(wrap, "model.heads", key, LABELLINGS, 2, &fm->labelling[k]);
        cJSON_Delete(wrap);
    }
    if (st == UZ_OK)
        st = declare(fm, cfg, seed, n_heads);
    if (st == UZ_OK && load_data)
        st = load(fm, cfg);
    if (st != UZ_OK) {
        mlp_free(&fm->base);
        return st;
    }
    fm->base.n_tasks = n_heads;
    for (int k = 0; k < n_heads; k++)
        fm->base.task_size[k] = load_data ? fm->n_train : 0;
    *out = &fm->base;
    return UZ_OK;
}

const uz_model_family uz_family_mlp = {
    .name = "mlp",
    .description = "Fashion-MNIST MLP: a shared trunk and one head per task",
    .defaults = "{\"data\":\"\",\"hidden\":[256],\"dropout\":0,\"heads\":[\"classes\"],"
                "\"train_limit\":0,\"test_limit\":0}",
    .build = mlp_build,
};
