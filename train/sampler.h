/* Multi-task sampling. Unmixed (Uni-Perceiver v2): each step draws one task
 * k with probability s_k from Philox keyed by (seed, step), so every rank
 * draws the same task without communicating, and a resumed run continues
 * the same sequence. Mixed (the ablation): each example of the global batch
 * draws its own task. */
#ifndef UZ_SAMPLER_H
#define UZ_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

enum { UZ_MAX_TASKS = 16 };

typedef struct uz_task_sampler {
    int n_tasks;
    double ratio[UZ_MAX_TASKS];   /* normalised to sum 1 */
    uint64_t seed;
    bool mixed;
    int64_t steps[UZ_MAX_TASKS];  /* per-task step (unmixed) or example (mixed) counts */
} uz_task_sampler;

/* ratios need not sum to 1 (they are normalised) but must be positive. */
uz_status uz_sampler_init(uz_task_sampler *s, int n_tasks, const double *ratios, uint64_t seed,
                          bool mixed);
/* Unmixed: the task of this step (counted); -1 with the error set for a
 * negative step or a mixed sampler. */
int uz_sampler_step_task(uz_task_sampler *s, int64_t step);
/* Mixed: the task of each of the batch's examples (counted), keyed by
 * step * batch + i; all -1 with the error set for a negative step or an
 * unmixed sampler. */
void uz_sampler_step_mixed(uz_task_sampler *s, int64_t step, int64_t batch, int *tasks);

#endif
