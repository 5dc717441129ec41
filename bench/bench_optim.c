/* Optimizer step benchmark: uz_optim_step on 10,010,000 parameters (ten
 * 1000x1000 weights and ten 1000-element biases, one flat store) for SGD
 * with momentum, AdamW, MT-AdamW, LAMB, LARS and AdamW with FP8 moments.
 * One JSON line per case on stdout (median and minimum ms over `reps`
 * timed steps after WARMUP untimed ones, parameters per second from the
 * median, optimizer state bytes); bench/torch_optim.py prints the same
 * lines for PyTorch on the same shapes. The step includes the global
 * gradient-norm pass that every unizoo step makes (non-finite detection).
 *
 * usage: bench_optim [reps] [case-substring]     (threads: OMP_NUM_THREADS) */
#include "bench/support/bench_time.h"
#include "core/unizoo.h"
#include "train/optim.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { WARMUP = 2, LAYERS = 10, DIM = 1000 };

typedef struct bench_case {
    const char *name;
    uz_optim_kind kind;
    bool fp8;
} bench_case;

static const bench_case CASES[] = {
    {"sgd_momentum", UZ_OPTIM_SGD, false}, {"adamw", UZ_OPTIM_ADAMW, false},
    {"mt_adamw", UZ_OPTIM_MT_ADAMW, false}, {"lamb", UZ_OPTIM_LAMB, false},
    {"lars", UZ_OPTIM_LARS, false},         {"adamw_fp8", UZ_OPTIM_ADAMW, true},
};

static uz_params *make_params(void)
{
    uz_params *p = uz_params_new();
    char name[32];
    for (int l = 0; l < LAYERS; l++) {
        snprintf(name, sizeof name, "layer%d.weight", l);
        uz_params_add(p, name, 2, (int64_t[]){DIM, DIM});
        snprintf(name, sizeof name, "layer%d.bias", l);
        uz_params_add(p, name, 1, (int64_t[]){DIM});
    }
    if (uz_params_finalize(p) != UZ_OK) {
        uz_params_free(p);
        return NULL;
    }
    int64_t n = uz_params_numel(p);
    uz_rng_fill_normal(uz_params_data(p), n, 1, 0, 0, 0.0f, 0.02f);
    uz_rng_fill_normal(uz_params_grad(p), n, 1, 1, 0, 0.0f, 1e-3f);
    return p;
}

static bool run_case(const bench_case *bc, uz_params *p, int reps, double *times)
{
    uz_optim_config c = uz_optim_defaults(bc->kind);
    c.fp8_states = bc->fp8;
    if (bc->kind == UZ_OPTIM_SGD)
        c.momentum = 0.9f;
    uz_optim *o;
    if (uz_optim_new(&c, p, &o) != UZ_OK)
        return false;
    uz_optim_task task = {1.0f, 0.5f};
    for (int i = 0; i < WARMUP + reps; i++) {
        double t0 = bench_now_ms();
        if (uz_optim_step(o, 1e-3f, &task, NULL) != UZ_OK) {
            uz_optim_free(o);
            return false;
        }
        if (i >= WARMUP)
            times[i - WARMUP] = bench_now_ms() - t0;
    }
    int64_t n = uz_params_numel(p);
    bench_sort(times, reps);
    double med = reps % 2 ? times[reps / 2] : 0.5 * (times[reps / 2 - 1] + times[reps / 2]);
    printf("{\"impl\":\"unizoo\",\"case\":\"%s\",\"params\":%lld,\"ms\":%.3f,\"ms_min\":%.3f,"
           "\"mparams_per_s\":%.1f,\"state_bytes\":%zu,\"reps\":%d,\"threads\":%d}\n",
           bc->name, (long long)n, med, times[0], (double)n / (med * 1e-3) * 1e-6,
           uz_optim_state_bytes(o), reps, omp_get_max_threads());
    fflush(stdout);
    uz_optim_free(o);
    return true;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 10;
    const char *only = argc > 2 ? argv[2] : NULL;
    if (reps < 1) {
        fprintf(stderr, "usage: bench_optim [reps >= 1] [case-substring]\n");
        return 2;
    }
    double *times = malloc(sizeof(double) * (size_t)reps);
    uz_params *p = make_params();
    if (!times || !p) {
        fprintf(stderr, "bench_optim: %s\n", uz_error_message());
        return 1;
    }
    int failed = 0;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        if (only && !strstr(CASES[i].name, only))
            continue;
        if (!run_case(&CASES[i], p, reps, times)) {
            fprintf(stderr, "bench_optim %s: %s\n", CASES[i].name, uz_error_message());
            failed = 1;
        }
    }
    uz_params_free(p);
    free(times);
    return failed;
}
