/* Task sampling for multi-task training. Every draw is a pure function of
 * (seed, stream, index) through Philox, so ranks agree without talking and a
 * resumed run draws what the uninterrupted run would have drawn; only the
 * per-task counts are state (the trainer checkpoints them). */
#include "sampler.h"

#include <math.h>

#include "core/rng.h"

/* Stream ids far from the small ones parameter initialisation and the
 * per-step context use ("utask" / "umix" in ASCII), and distinct for the two
 * modes so the ablation does not replay the unmixed draws. */
static const uint64_t UNMIXED_STREAM = 0x757461736bULL;
static const uint64_t MIXED_STREAM = 0x756d6978ULL;

uz_status uz_sampler_init(uz_task_sampler *s, int n_tasks, const double *ratios, uint64_t seed,
                          bool mixed)
{
    *s = (uz_task_sampler){0};
    if (n_tasks < 1 || n_tasks > UZ_MAX_TASKS)
        return UZ_FAIL(UZ_ERR_ARG, "sampler: n_tasks must lie in [1, %d] (got %d)", UZ_MAX_TASKS,
                       n_tasks);
    if (!ratios)
        return UZ_FAIL(UZ_ERR_ARG, "sampler: ratios is NULL");
    double total = 0.0;
    for (int k = 0; k < n_tasks; k++) {
        if (!(ratios[k] > 0.0) || !isfinite(ratios[k]))
            return UZ_FAIL(UZ_ERR_ARG, "sampler: ratio of task %d must be finite and > 0 (got %g)",
                           k, ratios[k]);
        total += ratios[k];
    }
    if (!isfinite(total))
        return UZ_FAIL(UZ_ERR_ARG, "sampler: ratios sum to %g", total);
    for (int k = 0; k < n_tasks; k++)
        s->ratio[k] = ratios[k] / total;
    s->n_tasks = n_tasks;
    s->seed = seed;
    s->mixed = mixed;
    return UZ_OK;
}

/* A 53-bit uniform in [0, 1) from one Philox block, then the first task whose
 * cumulative ratio exceeds it; the last task takes whatever rounding leaves
 * of the cumulative sum's top end. */
static int draw(const uz_task_sampler *s, uint64_t stream, uint64_t index)
{
    uint32_t w[4];
    uz_philox(s->seed, stream, index, w);
    uint64_t bits = ((uint64_t)w[0] << 21) ^ ((uint64_t)w[1] >> 11);
    double u = (double)(bits & ((1ULL << 53) - 1)) * 0x1.0p-53;
    double acc = 0.0;
    for (int k = 0; k < s->n_tasks - 1; k++) {
        acc += s->ratio[k];
        if (u < acc)
            return k;
    }
    return s->n_tasks - 1;
}

int uz_sampler_step_task(uz_task_sampler *s, int64_t step)
{
    if (s->n_tasks < 1 || s->mixed || step < 0) {
        UZ_FAIL(UZ_ERR_ARG, "sampler: step_task needs an initialised unmixed sampler and step >= 0 "
                            "(n_tasks %d, mixed %d, step %lld)",
                s->n_tasks, (int)s->mixed, (long long)step);
        return -1;
    }
    int k = draw(s, UNMIXED_STREAM, (uint64_t)step);
    s->steps[k]++;
    return k;
}

void uz_sampler_step_mixed(uz_task_sampler *s, int64_t step, int64_t batch, int *tasks)
{
    if (s->n_tasks < 1 || !s->mixed || step < 0) {
        UZ_FAIL(UZ_ERR_ARG, "sampler: step_mixed needs an initialised mixed sampler and step >= 0 "
                            "(n_tasks %d, mixed %d, step %lld)",
                s->n_tasks, (int)s->mixed, (long long)step);
        for (int64_t i = 0; i < batch; i++)
            tasks[i] = -1;
        return;
    }
    for (int64_t i = 0; i < batch; i++) {
        int k = draw(s, MIXED_STREAM, (uint64_t)step * (uint64_t)batch + (uint64_t)i);
        tasks[i] = k;
        s->steps[k]++;
    }
}
