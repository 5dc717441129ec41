/* GPU benchmarks of the CUDA backend: a 4096^3 SGEMM through the blas
 * kernels (f32, then TF32), and a transformer block training step (forward
 * + backward + zero-grad; batch 32, seq 256, width 768, 12 heads, MLP 3072,
 * pre-LN, causal) in f32 and TF32. One JSON line per measurement on stdout,
 * the format of bench_ops (bench/torch_cuda.py prints the same cases for
 * PyTorch on the same GPU). Without a GPU, or in a build without CUDA, it
 * says so and exits 0.
 *
 * Timing: WARMUP untimed iterations, then `reps` iterations each followed by
 * a device synchronisation and timed with CLOCK_MONOTONIC; the median is
 * reported, and the minimum. FLOPs: 2 m n k per GEMM; each linear's forward
 * + backward is 3x its forward GEMM; attention 4 B H T T D forward and twice
 * that backward, counted dense although causal (as bench_ops). The block's
 * rate is also given as a fraction of the SGEMM rate of the same precision,
 * measured just before.
 *
 * usage: bench_cuda [reps] */
#include "bench/support/bench_time.h"
#include "core/unizoo.h"
#include "core/device.h"
#include "models/transformer.h"

#include <stdio.h>
#include <stdlib.h>

#ifdef UZ_HAVE_CUDA
#include "core/backend.h"
#include "core/kernels.h"

enum { WARMUP = 3, GEMM_N = 4096 };
enum { BB = 32, BT = 256, BC = 768, BH = 12, BMLP = 4 * BC, ROWS = BB * BT };

typedef bool (*step_fn)(void *state);

/* Median ms per step, or a negative value when a step failed. */
static double measure(const char *impl, const char *name, double gflop, step_fn step,
                      void *state, int reps, double *gflops)
{
    for (int i = 0; i < WARMUP; i++)
        if (!step(state) || uz_device_sync(UZ_DEVICE_CUDA) != UZ_OK) {
            fprintf(stderr, "bench %s: %s\n", name, uz_error_message());
            return -1.0;
        }
    double *t = malloc(sizeof(double) * (size_t)reps);
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now_ms();
        if (!step(state) || uz_device_sync(UZ_DEVICE_CUDA) != UZ_OK) {
            fprintf(stderr, "bench %s: %s\n", name, uz_error_message());
            free(t);
            return -1.0;
        }
        t[i] = bench_now_ms() - t0;
    }
    bench_sort(t, reps);
    double med = t[reps / 2], min = t[0];
    *gflops = gflop / (med * 1e-3);
    printf("{\"impl\": \"%s\", \"case\": \"%s\", \"ms\": %.4f, \"ms_min\": %.4f, "
           "\"gflops\": %.1f}\n",
           impl, name, med, min, *gflops);
    fflush(stdout);
    free(t);
    return med;
}

/* ---- SGEMM ------------------------------------------------------------------------------ */

typedef struct gemm_state {
    float *a, *b, *c;
} gemm_state;

static bool gemm_step(void *state)
{
    gemm_state *s = state;
    uz_backend_for(UZ_DEVICE_CUDA)->blas->gemm(false, false, GEMM_N, GEMM_N, GEMM_N, 1.0f, s->a,
                                               GEMM_N, s->b, GEMM_N, 0.0f, s->c, GEMM_N);
    return true;
}

static double bench_gemm(const char *name, int reps)
{
    size_t bytes = sizeof(float) * (size_t)GEMM_N * GEMM_N;
    gemm_state s = {uz_device_malloc(UZ_DEVICE_CUDA, bytes, "A"),
                    uz_device_malloc(UZ_DEVICE_CUDA, bytes, "B"),
                    uz_device_malloc(UZ_DEVICE_CUDA, bytes, "C")};
    double rate = -1.0;
    float *host = malloc(bytes);
    if (s.a && s.b && s.c && host) {
        uz_rng_fill_uniform(host, (int64_t)GEMM_N * GEMM_N, 1, 0, 0, -1.0f, 1.0f);
        if (uz_memcpy(s.a, UZ_DEVICE_CUDA, host, UZ_DEVICE_CPU, bytes) == UZ_OK &&
            uz_memcpy(s.b, UZ_DEVICE_CUDA, host, UZ_DEVICE_CPU, bytes) == UZ_OK)
            measure("unizoo", name, 2.0 * GEMM_N * GEMM_N * GEMM_N * 1e-9, gemm_step, &s, reps,
                    &rate);
    }
    free(host);
    uz_device_free(UZ_DEVICE_CUDA, s.a);
    uz_device_free(UZ_DEVICE_CUDA, s.b);
    uz_device_free(UZ_DEVICE_CUDA, s.c);
    return rate;
}

/* ---- transformer block step ------------------------------------------------------------------ */

typedef struct block_state {
    uz_ctx *ctx;
    uz_params *params;
    uz_transformer_block block;
    float *x, *g; /* device: input and the weights of the loss mean(y * g) */
} block_state;

static bool block_step(void *state)
{
    block_state *s = state;
    uz_ctx *ctx = s->ctx;
    uz_ctx_reset(ctx);
    const int64_t shape[3] = {BB, BT, BC};
    uz_tensor *x = uz_tensor_wrap(ctx, 3, shape, s->x);
    uz_tensor *g = uz_tensor_wrap(ctx, 3, shape, s->g);
    uz_tensor *y = uz_transformer_block_forward(ctx, &s->block, x, NULL, true, true);
    uz_tensor *loss = uz_mean(ctx, uz_mul(ctx, y, g), NULL, 0, false);
    if (!loss || uz_backward(ctx, loss) != UZ_OK)
        return false;
    uz_params_zero_grad(s->params);
    return true;
}

static double block_gflop(void)
{
    const double lin[4][2] = {{BC, 3 * BC}, {BC, BC}, {BC, BMLP}, {BMLP, BC}};
    double f = 0.0;
    for (int i = 0; i < 4; i++)
        f += 3.0 * 2.0 * ROWS * lin[i][0] * lin[i][1];
    f += 12.0 * BB * BH * (double)BT * BT * (BC / BH);
    return f * 1e-9;
}

static void bench_block(const char *name, int reps, double gemm_rate)
{
    size_t bytes = sizeof(float) * (size_t)ROWS * BC;
    block_state s = {.ctx = uz_ctx_new(0, 0), .params = uz_params_new(),
                     .x = uz_device_malloc(UZ_DEVICE_CUDA, bytes, "x"),
                     .g = uz_device_malloc(UZ_DEVICE_CUDA, bytes, "g")};
    float *host = malloc(bytes);
    uz_transformer_config cfg = {.width = BC, .heads = BH, .mlp_hidden = BMLP, .pre_ln = true,
                                 .gelu = UZ_GELU_TANH};
    bool ok = s.ctx && s.params && s.x && s.g && host &&
              uz_ctx_set_device(s.ctx, UZ_DEVICE_CUDA) == UZ_OK &&
              uz_transformer_block_declare(&s.block, s.params, "", &cfg) == UZ_OK &&
              uz_params_finalize(s.params) == UZ_OK;
    if (ok) {
        uz_transformer_block_init(&s.block, 1);
        uz_rng_fill_normal(host, (int64_t)ROWS * BC, 50, 0, 0, 0.0f, 1.0f);
        ok = uz_params_to(s.params, UZ_DEVICE_CUDA) == UZ_OK &&
             uz_memcpy(s.x, UZ_DEVICE_CUDA, host, UZ_DEVICE_CPU, bytes) == UZ_OK;
        uz_rng_fill_normal(host, (int64_t)ROWS * BC, 51, 0, 0, 0.0f, 1.0f);
        ok = ok && uz_memcpy(s.g, UZ_DEVICE_CUDA, host, UZ_DEVICE_CPU, bytes) == UZ_OK;
    }
    double rate = -1.0;
    if (ok && measure("unizoo", name, block_gflop(), block_step, &s, reps, &rate) > 0.0) {
        fprintf(stderr, "%s: %.1f GFLOP/s = %.1f%% of this precision's SGEMM rate; device arena "
                "peak %.1f MiB\n",
                name, rate, gemm_rate > 0.0 ? 100.0 * rate / gemm_rate : 0.0,
                (double)uz_ctx_device_peak(s.ctx) / (1024.0 * 1024.0));
    } else if (!ok) {
        fprintf(stderr, "bench %s: %s\n", name, uz_error_message());
    }
    free(host);
    uz_device_free(UZ_DEVICE_CUDA, s.x);
    uz_device_free(UZ_DEVICE_CUDA, s.g);
    uz_ctx_free(s.ctx);
    uz_params_free(s.params);
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 20;
    if (reps < 1)
        reps = 1;
    if (uz_cuda_device_count() == 0) {
        printf("bench_cuda: no CUDA device present, nothing measured\n");
        return 0;
    }
    uz_cuda_set_tf32(false);
    double f32 = bench_gemm("sgemm_4096_f32", reps);
    bench_block("block_b32_t256_c768_f32", reps, f32);
    uz_cuda_set_tf32(true);
    double tf32 = bench_gemm("sgemm_4096_tf32", reps);
    bench_block("block_b32_t256_c768_tf32", reps, tf32);
    uz_cuda_set_tf32(false);
    return uz_device_sync(UZ_DEVICE_CUDA) == UZ_OK ? 0 : 1;
}

#else

int main(void)
{
    printf("bench_cuda: built without CUDA (UZ_CUDA=OFF or no nvcc), nothing measured\n");
    return 0;
}

#endif
