/* Learning-rate schedules and the adaptive batch-size schedule. */
#ifndef UZ_SCHEDULE_H
#define UZ_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

typedef enum uz_lr_decay { UZ_LR_CONSTANT, UZ_LR_COSINE, UZ_LR_LINEAR, UZ_LR_STEP } uz_lr_decay;

typedef struct uz_lr_schedule {
    float base_lr;
    int64_t warmup_steps;   /* linear warm-up from 0 over these steps */
    uz_lr_decay decay;
    int64_t total_steps;    /* cosine/linear reach min_lr here */
    float min_lr;
    int64_t step_size;      /* step decay: multiply by gamma every step_size steps */
    float gamma;
} uz_lr_schedule;

/* Learning rate for step (0-based); formulas in train/schedule.c. */
float uz_lr_at(const uz_lr_schedule *s, int64_t step);
/* UZ_ERR_ARG naming the field when a setting is out of range. */
uz_status uz_lr_schedule_check(const uz_lr_schedule *s);
uz_status uz_lr_decay_parse(const char *name, uz_lr_decay *out);

/* How the learning rate follows a batch-size change: linear (SGD family),
 * square root (Adam family), or not at all. */
typedef enum uz_lr_rule { UZ_LR_RULE_NONE, UZ_LR_RULE_LINEAR, UZ_LR_RULE_SQRT } uz_lr_rule;
float uz_lr_rescale(float lr, int64_t old_batch, int64_t new_batch, uz_lr_rule rule);

/* AdAdaGrad-style norm test: with per-sample gradients g_i (i < b), their
 * mean gbar, sum_var = sum over coordinates of the unbiased sample variance
 * and gbar_sq = ||gbar||^2, the batch passes when sum_var / b <= eta^2
 * gbar_sq; otherwise the next batch is ceil(sum_var / (eta^2 gbar_sq)),
 * never smaller than b and capped at b_max. */
int64_t uz_norm_test_next_batch(double sum_var, double gbar_sq, int64_t b, double eta,
                                int64_t b_max);

/* Accumulates the per-sample statistics the norm test needs, one sample
 * gradient (e.g. a micro-batch gradient) at a time, in double. */
typedef struct uz_grad_stats {
    int64_t n, count;
    double *sum, *sum_sq;
} uz_grad_stats;

uz_status uz_grad_stats_init(uz_grad_stats *s, int64_t n);
void uz_grad_stats_add(uz_grad_stats *s, const float *g);
/* sum_var and gbar_sq over the samples added since the last reset; sum_var
 * is 0 with fewer than two samples (no variance to measure). */
void uz_grad_stats_result(const uz_grad_stats *s, double *sum_var, double *gbar_sq);
void uz_grad_stats_reset(uz_grad_stats *s);
void uz_grad_stats_free(uz_grad_stats *s);

#endif
