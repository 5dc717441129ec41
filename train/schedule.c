/* Learning-rate schedules, the learning-rate rescaling rules for batch-size
 * changes, and the AdAdaGrad norm test with its per-sample statistics
 * (reference: shared/reference/optimizers.md, sections 3c and 4).
 *
 * Learning rate at 0-based step s, with w = warmup_steps, T = total_steps,
 * t = s - w and D = T - w (all arithmetic in double, rounded to float once):
 *   warm-up (s < w):  base * s / w            (0 at step 0, base at step w)
 *   constant:         base
 *   cosine:           min + (base - min) * (1 + cos(pi * t / D)) / 2 for t < D,
 *                     min afterwards (torch's CosineAnnealingLR with T_max = D,
 *                     started when warm-up ends; midpoint (base + min) / 2)
 *   linear:           base + (min - base) * t / D for t < D, min afterwards
 *   step:             base * gamma^floor(t / step_size) (torch's StepLR counted
 *                     from the end of warm-up; min_lr plays no part)
 * A schedule uz_lr_schedule_check rejects still gets a defined value: D <= 0
 * gives min at once and step_size <= 0 never decays. */
#include "schedule.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"

static const double uz_pi = 3.14159265358979323846;

float uz_lr_at(const uz_lr_schedule *s, int64_t step)
{
    double base = s->base_lr, lo = s->min_lr;
    if (step < 0)
        step = 0;
    if (step < s->warmup_steps)
        return (float)(base * (double)step / (double)s->warmup_steps);
    int64_t t = step - (s->warmup_steps > 0 ? s->warmup_steps : 0);
    int64_t d = s->total_steps - (s->warmup_steps > 0 ? s->warmup_steps : 0);
    switch (s->decay) {
    case UZ_LR_COSINE:
        if (t >= d)
            return (float)lo;
        return (float)(lo + (base - lo) * 0.5 * (1.0 + cos(uz_pi * (double)t / (double)d)));
    case UZ_LR_LINEAR:
        if (t >= d)
            return (float)lo;
        return (float)(base + (lo - base) * (double)t / (double)d);
    case UZ_LR_STEP:
        if (s->step_size <= 0)
            return (float)base;
        return (float)(base * pow((double)s->gamma, (double)(t / s->step_size)));
    case UZ_LR_CONSTANT:
        break;
    }
    return (float)base;
}

uz_status uz_lr_schedule_check(const uz_lr_schedule *s)
{
    if (!(s->base_lr >= 0.0f) || !isfinite(s->base_lr))
        return UZ_FAIL(UZ_ERR_ARG, "lr schedule: base_lr must be finite and >= 0 (got %g)",
                       (double)s->base_lr);
    if (s->warmup_steps < 0)
        return UZ_FAIL(UZ_ERR_ARG, "lr schedule: warmup_steps must be >= 0 (got %lld)",
                       (long long)s->warmup_steps);
    switch (s->decay) {
    case UZ_LR_COSINE:
    case UZ_LR_LINEAR:
        if (s->total_steps <= s->warmup_steps)
            return UZ_FAIL(UZ_ERR_ARG,
                           "lr schedule: total_steps must exceed warmup_steps (got %lld vs %lld)",
                           (long long)s->total_steps, (long long)s->warmup_steps);
        if (!(s->min_lr >= 0.0f && s->min_lr <= s->base_lr))
            return UZ_FAIL(UZ_ERR_ARG, "lr schedule: min_lr must lie in [0, base_lr = %g] (got %g)",
                           (double)s->base_lr, (double)s->min_lr);
        break;
    case UZ_LR_STEP:
        if (s->step_size <= 0)
            return UZ_FAIL(UZ_ERR_ARG, "lr schedule: step_size must be > 0 (got %lld)",
                           (long long)s->step_size);
        if (!(s->gamma > 0.0f && s->gamma <= 1.0f))
            return UZ_FAIL(UZ_ERR_ARG, "lr schedule: gamma must lie in (0, 1] (got %g)",
                           (double)s->gamma);
        break;
    case UZ_LR_CONSTANT:
        break;
    default:
        return UZ_FAIL(UZ_ERR_ARG, "lr schedule: unknown decay %d", (int)s->decay);
    }
    return UZ_OK;
}

uz_status uz_lr_decay_parse(const char *name, uz_lr_decay *out)
{
    static const struct {
        const char *name;
        uz_lr_decay decay;
    } names[] = {{"constant", UZ_LR_CONSTANT},
                 {"cosine", UZ_LR_COSINE},
                 {"linear", UZ_LR_LINEAR},
                 {"step", UZ_LR_STEP}};
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].decay;
            return UZ_OK;
        }
    }
    return UZ_FAIL(UZ_ERR_ARG,
                   "lr schedule: unknown decay \"%s\" (allowed: constant, cosine, linear, step)",
                   name ? name : "(null)");
}

/* Granziol et al.: the largest stable lr grows like B for SGD and like
 * sqrt(B) for adaptive methods. A non-positive batch has no ratio, so the lr
 * is left as it is. */
float uz_lr_rescale(float lr, int64_t old_batch, int64_t new_batch, uz_lr_rule rule)
{
    if (old_batch <= 0 || new_batch <= 0)
        return lr;
    double ratio = (double)new_batch / (double)old_batch;
    switch (rule) {
    case UZ_LR_RULE_LINEAR:
        return (float)((double)lr * ratio);
    case UZ_LR_RULE_SQRT:
        return (float)((double)lr * sqrt(ratio));
    case UZ_LR_RULE_NONE:
        break;
    }
    return lr;
}

/* AdAdaGrad's main.py: b_next = min(b_max, max(b, ceil(b_new_raw))) with
 * b_new_raw = sum_var / (eta^2 gbar_sq); the test only runs while b < b_max.
 * Comparing b_new_raw with b_max before the ceil keeps an infinite or huge
 * b_new_raw (gbar_sq = 0, tiny eta) from overflowing the conversion. Zero
 * (or NaN) variance gives no evidence for a larger batch, so b stays. */
int64_t uz_norm_test_next_batch(double sum_var, double gbar_sq, int64_t b, double eta,
                                int64_t b_max)
{
    if (b >= b_max || !(sum_var > 0.0))
        return b;
    double raw = sum_var / (eta * eta * gbar_sq);
    if (!(raw < (double)b_max))
        return b_max;
    int64_t next = (int64_t)ceil(raw);
    return next > b ? next : b;
}

/* Per coordinate we keep the sum and the sum of squares rather than a running
 * mean and M2: sums add across micro-batches and ranks with a plain
 * allreduce, and in double the cancellation in sum_sq - sum^2/n only matters
 * once |mean|/std exceeds ~1e6, far beyond what makes the test fail. */
enum { STATS_PAR_MIN = 1 << 16, STATS_CHUNKS = 64 };

uz_status uz_grad_stats_init(uz_grad_stats *s, int64_t n)
{
    *s = (uz_grad_stats){0};
    if (n <= 0)
        return UZ_FAIL(UZ_ERR_ARG, "grad stats: n must be > 0 (got %lld)", (long long)n);
    s->sum = uz_calloc(sizeof(double) * (size_t)n, "grad stats sum");
    s->sum_sq = uz_calloc(sizeof(double) * (size_t)n, "grad stats sum_sq");
    if (!s->sum || !s->sum_sq) {
        uz_grad_stats_free(s);
        return UZ_ERR_NOMEM;
    }
    s->n = n;
    return UZ_OK;
}

void uz_grad_stats_add(uz_grad_stats *s, const float *g)
{
    double *sum = s->sum, *sum_sq = s->sum_sq;
    int64_t n = s->n;
#pragma omp parallel for simd if (n > STATS_PAR_MIN) schedule(static)
    for (int64_t j = 0; j < n; j++) {
        double x = (double)g[j];
        sum[j] += x;
        sum_sq[j] += x * x;
    }
    s->count++;
}

/* The coordinate sums run over STATS_CHUNKS fixed slices combined in slice
 * order, so the result is bit-identical for every thread count. */
void uz_grad_stats_result(const uz_grad_stats *s, double *sum_var, double *gbar_sq)
{
    double part_var[STATS_CHUNKS], part_sq[STATS_CHUNKS];
    int64_t n = s->n, count = s->count;
    double c = (double)count;
    int64_t chunk = (n + STATS_CHUNKS - 1) / STATS_CHUNKS;
#pragma omp parallel for if (n > STATS_PAR_MIN) schedule(static)
    for (int p = 0; p < STATS_CHUNKS; p++) {
        int64_t lo = (int64_t)p * chunk, hi = lo + chunk < n ? lo + chunk : n;
        double v = 0.0, q = 0.0;
        for (int64_t j = lo; j < hi; j++) {
            double sj = s->sum[j];
            if (count > 1) {
                double var = (s->sum_sq[j] - sj * sj / c) / (c - 1.0);
                v += var > 0.0 ? var : 0.0;
            }
            if (count > 0)
                q += (sj / c) * (sj / c);
        }
        part_var[p] = v;
        part_sq[p] = q;
    }
    double v = 0.0, q = 0.0;
    for (int p = 0; p < STATS_CHUNKS; p++) {
        v += part_var[p];
        q += part_sq[p];
    }
    *sum_var = v;
    *gbar_sq = q;
}

void uz_grad_stats_reset(uz_grad_stats *s)
{
    if (s->n > 0) {
        memset(s->sum, 0, sizeof(double) * (size_t)s->n);
        memset(s->sum_sq, 0, sizeof(double) * (size_t)s->n);
    }
    s->count = 0;
}

void uz_grad_stats_free(uz_grad_stats *s)
{
    uz_free(s->sum);
    uz_free(s->sum_sq);
    *s = (uz_grad_stats){0};
}
