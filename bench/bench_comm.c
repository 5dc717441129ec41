/* Communication benchmark, meant for `mpirun -np 2` (bench/run_comm.sh):
 *  - uz_comm_allreduce_mean on 1M and 10M floats, with the default 4 MiB
 *    buckets and with the whole buffer as one bucket;
 *  - the cost of data parallelism on one training step of a 10.5M-parameter
 *    MLP (1024 -> 3072 -> 2048 -> 512, cross-entropy, batch 32 per rank):
 *    forward + backward + SGD update versus the gradient allreduce.
 *
 * Timing: WARMUP untimed runs, then `reps` runs, each started after a barrier
 * and timed on rank 0 with CLOCK_MONOTONIC (an allreduce ends at about the
 * same time on every rank); the median is printed, with the minimum. Bus
 * bandwidth is the usual ring-allreduce figure 2 (p - 1) / p * bytes / time.
 * With one rank the allreduce is a no-op and the figures show only that.
 *
 * usage: bench_comm [reps] */
#include "bench/support/bench_time.h"
#include "core/unizoo.h"
#include "train/comm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { WARMUP = 2 };
enum { MIN = 1024, MH1 = 3072, MH2 = 2048, MOUT = 512, MBATCH = 32 };

/* Sorts t[0..n) and returns the median. */
static int fail(const char *what)
{
    fprintf(stderr, "bench_comm: %s: %s\n", what, uz_error_message());
    return 1;
}

static int bench_allreduce(uz_comm *c, int64_t n, size_t bucket, const char *label, int reps)
{
    float *buf = malloc((size_t)n * sizeof *buf);
    double *t = malloc((size_t)reps * sizeof *t);
    if (!buf || !t) {
        free(buf);
        free(t);
        fprintf(stderr, "bench_comm: out of memory\n");
        return 1;
    }
    for (int64_t i = 0; i < n; i++)
        buf[i] = (float)(i % 1000) * 1e-3f;
    uz_comm_set_bucket_bytes(c, bucket);
    for (int r = -WARMUP; r < reps; r++) {
        if (uz_comm_barrier(c) != UZ_OK)
            return fail("barrier");
        double t0 = bench_now_ms();
        if (uz_comm_allreduce_mean(c, buf, n) != UZ_OK)
            return fail("allreduce");
        if (r >= 0)
            t[r] = bench_now_ms() - t0;
    }
    uz_comm_set_bucket_bytes(c, 0);
    if (uz_comm_rank(c) == 0) {
        double med = bench_median(t, reps), bytes = (double)n * sizeof(float);
        int p = uz_comm_size(c);
        printf("allreduce %5.1fM floats, %-12s %9.2f ms (min %.2f)  algbw %6.2f GB/s  "
               "busbw %6.2f GB/s\n",
               (double)n / 1e6, label, med, t[0], bytes / (med * 1e6),
               2.0 * (p - 1) / p * bytes / (med * 1e6));
    }
    free(buf);
    free(t);
    return 0;
}

static int bench_step(uz_comm *c, int reps)
{
    uz_params *p = uz_params_new();
    uz_params_add(p, "fc1.weight", 2, (int64_t[]){MH1, MIN});
    uz_params_add(p, "fc1.bias", 1, (int64_t[]){MH1});
    uz_params_add(p, "fc2.weight", 2, (int64_t[]){MH2, MH1});
    uz_params_add(p, "fc2.bias", 1, (int64_t[]){MH2});
    uz_params_add(p, "fc3.weight", 2, (int64_t[]){MOUT, MH2});
    uz_params_add(p, "fc3.bias", 1, (int64_t[]){MOUT});
    if (uz_params_finalize(p) != UZ_OK)
        return fail("params");
    for (int i = 0; i < uz_params_count(p); i++)
        uz_param_init_uniform(uz_params_at(p, i), 1, (uint64_t)i, -0.02f, 0.02f);
    int64_t n = uz_params_numel(p);
    float *x = malloc((size_t)MBATCH * MIN * sizeof *x);
    int32_t *y = malloc((size_t)MBATCH * sizeof *y);
    double *tc = malloc((size_t)reps * sizeof *tc), *ta = malloc((size_t)reps * sizeof *ta);
    uz_ctx *ctx = uz_ctx_new(0, 0);
    if (!x || !y || !tc || !ta || !ctx)
        return fail("out of memory");
    uz_rng_fill_uniform(x, MBATCH * MIN, 2, (uint64_t)uz_comm_rank(c), 0, -1.0f, 1.0f);
    for (int b = 0; b < MBATCH; b++)
        y[b] = (b * 37) % MOUT;
    float *w = uz_params_data(p), *g = uz_params_grad(p);
    for (int r = -WARMUP; r < reps; r++) {
        if (uz_comm_barrier(c) != UZ_OK)
            return fail("barrier");
        double t0 = bench_now_ms();
        uz_tensor *in = uz_tensor_wrap(ctx, 2, (int64_t[]){MBATCH, MIN}, x);
        uz_tensor *h = uz_relu(ctx, uz_linear(ctx, in, uz_params_find(p, "fc1.weight"),
                                              uz_params_find(p, "fc1.bias")));
        h = uz_relu(ctx, uz_linear(ctx, h, uz_params_find(p, "fc2.weight"),
                                   uz_params_find(p, "fc2.bias")));
        uz_tensor *logits = uz_linear(ctx, h, uz_params_find(p, "fc3.weight"),
                                      uz_params_find(p, "fc3.bias"));
        uz_tensor *loss = uz_cross_entropy(ctx, logits, y, -100, 0.0f);
        if (!loss || uz_backward(ctx, loss) != UZ_OK)
            return fail("step");
        uz_ctx_reset(ctx);
        double t1 = bench_now_ms();
        if (uz_comm_allreduce_mean(c, g, n) != UZ_OK)
            return fail("allreduce");
        double t2 = bench_now_ms();
        for (int64_t i = 0; i < n; i++)
            w[i] -= 1e-3f * g[i];
        uz_params_zero_grad(p);
        if (r >= 0) {
            tc[r] = (t1 - t0) + (bench_now_ms() - t2);
            ta[r] = t2 - t1;
        }
    }
    if (uz_comm_rank(c) == 0) {
        double mc = bench_median(tc, reps), ma = bench_median(ta, reps);
        printf("train step, %.2fM params, batch %d/rank: compute %.2f ms, allreduce %.2f ms "
               "(+%.0f%% per step, %.1f%% of the step)\n",
               (double)n / 1e6, MBATCH, mc, ma, 100.0 * ma / mc, 100.0 * ma / (mc + ma));
    }
    uz_ctx_free(ctx);
    free(x);
    free(y);
    free(tc);
    free(ta);
    uz_params_free(p);
    return 0;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 10;
    if (reps < 1)
        reps = 1;
    uz_comm *c = NULL;
    if (uz_comm_init(&c) != UZ_OK)
        return fail("comm_init");
    if (uz_comm_rank(c) == 0)
        printf("bench_comm: %d rank(s), %d reps, median (min)\n", uz_comm_size(c), reps);
    static const int64_t sizes[] = {1000000, 10000000};
    int rc = 0;
    for (int s = 0; s < 2 && !rc; s++) {
        rc = bench_allreduce(c, sizes[s], 0, "4MiB buckets", reps);
        if (!rc)
            rc = bench_allreduce(c, sizes[s], (size_t)sizes[s] * sizeof(float), "one bucket", reps);
    }
    if (!rc)
        rc = bench_step(c, reps);
    uz_comm_free(c);
    return rc;
}
