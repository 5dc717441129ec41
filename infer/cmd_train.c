/* `unizoo train fmnist-mlp`: the quickstart demo. Trains an MLP on
 * Fashion-MNIST with momentum SGD and reports test accuracy each epoch.
 * (The general config-driven trainer arrives with the training core.) */
#include "cli.h"

#include "core/unizoo.h"
#include "datasets/datasets.h"
#include "models/mlp.h"
#include "train/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct demo_opts {
    int epochs, batch, hidden;
    float lr;
    uint64_t seed;
    const char *data;
} demo_opts;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int parse_int(const char *flag, const char *v, int lo, int hi, int *out)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < lo || x > hi) {
        fprintf(stderr, "unizoo train: %s must be an integer in [%d, %d], got '%s'\n", flag, lo, hi, v);
        return -1;
    }
    *out = (int)x;
    return 0;
}

static int parse_opts(int argc, char **argv, demo_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) {
            printf("unizoo train fmnist-mlp [--epochs N] [--batch B] [--hidden H] [--lr LR] "
                   "[--seed S] [--data DIR]\n");
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "unizoo train: %s needs a value\n", a);
            return -1;
        }
        int rc = 0;
        if (strcmp(a, "--epochs") == 0)
            rc = parse_int(a, v, 1, 1000, &o->epochs);
        else if (strcmp(a, "--batch") == 0)
            rc = parse_int(a, v, 1, 60000, &o->batch);
        else if (strcmp(a, "--hidden") == 0)
            rc = parse_int(a, v, 1, 65536, &o->hidden);
        else if (strcmp(a, "--lr") == 0) {
            char *end;
            o->lr = strtof(v, &end);
            if (*end || !(o->lr > 0.0f)) {
                fprintf(stderr, "unizoo train: --lr must be a positive number, got '%s'\n", v);
                return -1;
            }
        } else if (strcmp(a, "--seed") == 0)
            o->seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--data") == 0)
            o->data = v;
        else {
            fprintf(stderr, "unizoo train: unknown option '%s'\n", a);
            return -1;
        }
        if (rc)
            return -1;
        i++;
    }
    return 0;
}

static double accuracy(uz_ctx *ctx, const uz_mlp *m, const uz_fmnist *d, int batch)
{
    bool was = uz_grad_enable(ctx, false);
    int64_t correct = 0;
    for (int64_t s = 0; s < d->n; s += batch) {
        int64_t b = d->n - s < batch ? d->n - s : batch;
        uz_tensor *x = uz_tensor_wrap(ctx, 2, (int64_t[]){b, 784}, d->images + s * 784);
        uz_tensor *logits = uz_mlp_forward(ctx, m, x);
        if (!logits)
            break;
        int64_t c = logits->shape[1];
        for (int64_t i = 0; i < b; i++) {
            const float *row = logits->data + i * c;
            int64_t best = 0;
            for (int64_t j = 1; j < c; j++)
                if (row[j] > row[best])
                    best = j;
            correct += best == d->labels[s + i];
        }
        uz_ctx_reset(ctx);
    }
    uz_grad_enable(ctx, was);
    return (double)correct / (double)d->n;
}

static int fail(const char *what)
{
    fprintf(stderr, "unizoo train: %s: %s\n", what, uz_error_message());
    return 1;
}

int uz_cmd_train(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "fmnist-mlp") != 0) {
        fprintf(stderr, "unizoo train: built-in models: fmnist-mlp (got '%s')\n", argc ? argv[0] : "");
        return 2;
    }
    demo_opts o = {.epochs = 3, .batch = 128, .hidden = 256, .lr = 0.05f, .seed = 1};
    if (parse_opts(argc, argv, &o))
        return 2;
    uz_fmnist train, test;
    if (uz_fmnist_load(o.data, 1, &train) != UZ_OK)
        return fail("loading Fashion-MNIST");
    if (uz_fmnist_load(o.data, 0, &test) != UZ_OK) {
        uz_fmnist_free(&train);
        return fail("loading Fashion-MNIST");
    }
    printf("Fashion-MNIST: %lld train, %lld test images\n", (long long)train.n, (long long)test.n);
    uz_params *p = uz_params_new();
    uz_mlp m;
    uz_sgd opt = {0};
    uz_ctx *ctx = uz_ctx_new(0, 0);
    int32_t *order = malloc(sizeof(int32_t) * (size_t)train.n);
    float *xb = malloc(sizeof(float) * (size_t)o.batch * 784);
    int32_t *yb = malloc(sizeof(int32_t) * (size_t)o.batch);
    int rc = 0;
    if (!p || !ctx || !order || !xb || !yb ||
        uz_mlp_declare(&m, p, 3, (int64_t[]){784, o.hidden, 10}) != UZ_OK ||
        uz_params_finalize(p) != UZ_OK || uz_sgd_init(&opt, p, o.lr, 0.9f, 0.0f, false) != UZ_OK) {
        rc = fail("setting up");
        goto done;
    }
    uz_mlp_init(&m, o.seed);
    printf("model: MLP 784-%d-10, %lld parameters; SGD lr %g momentum 0.9, batch %d\n", o.hidden,
           (long long)uz_params_numel(p), (double)o.lr, o.batch);
    for (int64_t i = 0; i < train.n; i++)
        order[i] = (int32_t)i;
    int64_t step = 0;
    for (int ep = 0; ep < o.epochs && !rc; ep++) {
        /* Fisher-Yates with Philox draws keyed by (seed, epoch): reproducible. */
        for (int64_t i = train.n - 1; i > 0; i--) {
            int64_t j = (int64_t)(uz_rng_uniform(o.seed, 1000 + (uint64_t)ep, (uint64_t)i) * (float)(i + 1));
            if (j > i)
                j = i;
            int32_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        double t0 = now_s(), loss_sum = 0.0;
        int64_t nb = 0;
        for (int64_t s = 0; s + o.batch <= train.n; s += o.batch, step++, nb++) {
            for (int b = 0; b < o.batch; b++) {
                memcpy(xb + (int64_t)b * 784, train.images + (int64_t)order[s + b] * 784, sizeof(float) * 784);
                yb[b] = train.labels[order[s + b]];
            }
            uz_tensor *x = uz_tensor_wrap(ctx, 2, (int64_t[]){o.batch, 784}, xb);
            uz_tensor *loss = uz_cross_entropy(ctx, uz_mlp_forward(ctx, &m, x), yb, -100, 0.0f);
            if (!loss || uz_backward(ctx, loss) != UZ_OK) {
                rc = fail("training step");
                break;
            }
            if (!isfinite(loss->data[0])) {
                fprintf(stderr, "unizoo train: loss is %g at step %lld; stopping\n", (double)loss->data[0], (long long)step);
                rc = 1;
                break;
            }
            loss_sum += loss->data[0];
            uz_sgd_step(&opt, p);
            uz_params_zero_grad(p);
            uz_ctx_reset(ctx);
        }
        if (rc)
            break;
        double dt = now_s() - t0;
        double acc = accuracy(ctx, &m, &test, 1000);
        printf("epoch %d: train loss %.4f, %.0f steps/s, test accuracy %.2f%%\n", ep + 1,
               loss_sum / (double)(nb ? nb : 1), (double)nb / dt, 100.0 * acc);
        fflush(stdout);
    }
done:
    free(order);
    free(xb);
    free(yb);
    uz_sgd_free(&opt);
    uz_ctx_free(ctx);
    uz_params_free(p);
    uz_fmnist_free(&train);
    uz_fmnist_free(&test);
    return rc;
}
