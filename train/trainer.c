/* The training loop. One step:
 *   1. the global batch: unmixed sampling draws one task for the step and
 *      takes the task's next B examples (B = the task's own batch size when
 *      it has one, as Uni-Perceiver v2 gives each task its own); mixed
 *      sampling draws a task per example and takes each from its task's
 *      order;
 *   2. rank r of R takes the contiguous shard [B r/R, B (r+1)/R) and splits
 *      it into micro_batches contiguous micro-batches; each micro-batch is
 *      one loss call per task present in it, back-propagated with the
 *      upstream gradient n_seg R / B * w_k, so that after the mean over
 *      ranks the accumulated gradient is exactly that of the task-weighted
 *      mean loss over the global batch, whatever the shard sizes;
 *   3. the per-task loss sums, counts and the stop flag are summed over
 *      ranks (so every rank agrees on a non-finite loss and on stopping),
 *      the gradients averaged (uz_comm_allreduce_mean), and every rank takes
 *      the same optimizer step.
 * Random ops draw from the ctx seed and a stream keyed by (step, micro,
 * task), so a resumed run repeats the uninterrupted run's dropout masks
 * without saving any RNG position beyond the seed. */
#include "train/trainer.h"

#include "core/clock.h"
#include "core/unizoo.h"
#include "train/checkpoint.h"
#include "train/order.h"
#include "train/progress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { PATH_LEN = 4096 };

typedef struct trainer {
    const uz_train_config *cfg;
    const uz_trainer_opts *opts;
    uz_model *model;
    uz_params *params;
    uz_comm *comm;
    int rank, world;
    uz_optim *optim;
    uz_ctx *ctx;
    uz_data_order order;
    uz_task_sampler sampler;
    uz_progress log;
    uz_train_state state;   /* step, batch, lr_mult, elapsed, seed */
    int64_t cap;            /* capacity of the per-example buffers */
    int64_t *gidx, *seg;
    int *gtask;
    double *stats;          /* per task: loss sum, count; then the stop flag */
    /* Adaptive batch size: per-micro-batch gradients for the norm test. */
    uz_grad_stats gstats;
    float *gprev;
    uz_model_state *extra;  /* the model's own checkpoint state */
    int n_extra;
    char ckpt[PATH_LEN], prev[PATH_LEN], best[PATH_LEN];
    bool have_ckpt, have_best, stopped_early;
    int64_t ckpt_step;
} trainer;

/* Fresh streams per (step, micro-batch, task); each leaves 2^16 random ops. */
static uint64_t step_stream(int64_t step, int micro, int task)
{
    return ((uint64_t)step << 32) | ((uint64_t)micro << 20) | ((uint64_t)task << 16);
}

static uz_status alloc_buffers(trainer *t)
{
    const uz_train_config *cfg = t->cfg;
    t->cap = cfg->adaptive ? cfg->b_max : cfg->batch;
    for (int k = 0; k < cfg->n_tasks; k++)
        t->cap = cfg->tasks[k].batch > t->cap ? cfg->tasks[k].batch : t->cap;
    t->gidx = malloc(sizeof(int64_t) * (size_t)t->cap);
    t->seg = malloc(sizeof(int64_t) * (size_t)t->cap);
    t->gtask = malloc(sizeof(int) * (size_t)t->cap);
    t->stats = calloc((size_t)(2 * cfg->n_tasks + 1), sizeof(double));
    if (!t->gidx || !t->seg || !t->gtask || !t->stats)
        return UZ_FAIL(UZ_ERR_NOMEM, "trainer: out of memory for a batch of %lld",
                       (long long)t->cap);
    if (cfg->adaptive) {
        int64_t n = uz_params_numel(t->params);
        t->gprev = malloc(sizeof(float) * (size_t)n);
        if (!t->gprev)
            return UZ_FAIL(UZ_ERR_NOMEM, "trainer: out of memory for the norm test");
        return uz_grad_stats_init(&t->gstats, n);
    }
    return UZ_OK;
}

static uz_status check_setup(const trainer *t)
{
    const uz_train_config *cfg = t->cfg;
    const uz_model *m = t->model;
    if (m->n_tasks != cfg->n_tasks)
        return UZ_FAIL(UZ_ERR_ARG, "config tasks: %d entries, but the %s model has %d task%s",
                       cfg->n_tasks, cfg->family, m->n_tasks, m->n_tasks == 1 ? "" : "s");
    if (m->ops->train_step) {
        if (!m->ops->set_optim)
            return UZ_FAIL(UZ_ERR_ARG, "model %s: a train_step needs set_optim", cfg->family);
        if (t->world > 1 || cfg->micro_batches > 1 || cfg->adaptive)
            return UZ_FAIL(UZ_ERR_ARG,
                           "config: the %s model trains with its own update rule, in one "
                           "process, with train.micro_batches 1 and a fixed batch size",
                           cfg->family);
    } else if (!m->ops->loss) {
        return UZ_FAIL(UZ_ERR_ARG, "model %s: has neither a loss nor a train_step", cfg->family);
    }
    int64_t per_step = (int64_t)cfg->micro_batches * t->world;
    if (cfg->batch < per_step)
        return UZ_FAIL(UZ_ERR_ARG,
                       "config train.batch: %lld is less than micro_batches x ranks (%d x %d)",
                       (long long)cfg->batch, cfg->micro_batches, t->world);
    for (int k = 0; k < cfg->n_tasks; k++)
        if (cfg->tasks[k].batch > 0 && cfg->tasks[k].batch < per_step)
            return UZ_FAIL(UZ_ERR_ARG,
                           "config tasks.%d.batch: %lld is less than micro_batches x ranks "
                           "(%d x %d)",
                           k, (long long)cfg->tasks[k].batch, cfg->micro_batches, t->world);
    if (cfg->adaptive && per_step < 2)
        return UZ_FAIL(UZ_ERR_ARG,
                       "config batch_schedule.kind: the adaptive norm test needs at least two "
                       "gradient samples per step (train.micro_batches x ranks >= 2)");
    return UZ_OK;
}

static void ckpt_paths(trainer *t, const char *dir)
{
    snprintf(t->ckpt, sizeof t->ckpt, "%s/%s", dir, UZ_CKPT_FILE);
    snprintf(t->prev, sizeof t->prev, "%s/%s", dir, UZ_CKPT_PREV);
    snprintf(t->best, sizeof t->best, "%s/%s", dir, UZ_CKPT_BEST);
}

static uz_status collect_extra(trainer *t)
{
    const uz_model_ops *ops = t->model->ops;
    int n = ops->state_count ? ops->state_count(t->model) : 0;
    if (n == 0)
        return UZ_OK;
    t->extra = malloc(sizeof *t->extra * (size_t)n);
    if (!t->extra)
        return UZ_FAIL(UZ_ERR_NOMEM, "trainer: out of memory for the model's state");
    for (int i = 0; i < n; i++)
        t->extra[i] = ops->state_at(t->model, i);
    t->n_extra = n;
    return UZ_OK;
}

static void capture_state(trainer *t)
{
    uz_train_state *s = &t->state;
    s->n_tasks = t->cfg->n_tasks;
    for (int k = 0; k < s->n_tasks; k++) {
        s->epoch[k] = t->order.epoch[k];
        s->cursor[k] = t->order.cursor[k];
        s->sampled[k] = t->sampler.steps[k];
    }
}

/* Rank 0 only. The previous checkpoint becomes ckpt.prev before the atomic
 * write of the new one. */
static uz_status save_checkpoint(trainer *t, double elapsed)
{
    if (t->rank != 0 || !t->opts->out_dir)
        return UZ_OK;
    capture_state(t);
    t->state.elapsed = elapsed;
    uz_progress_flush(&t->log);
    char *json = uz_config_json(t->cfg);
    if (!json)
        return UZ_FAIL(UZ_ERR_NOMEM, "checkpoint: out of memory");
    if (rename(t->ckpt, t->prev) != 0 && t->have_ckpt) {
        free(json);
        return UZ_FAIL(UZ_ERR_IO, "checkpoint: cannot move %s aside", t->ckpt);
    }
    uz_status st = uz_checkpoint_save(t->ckpt, t->params, t->optim, t->extra, t->n_extra,
                                      &t->state, json);
    free(json);
    if (st == UZ_OK) {
        t->have_ckpt = true;
        t->ckpt_step = t->state.step;
    }
    return st;
}

static uz_status resume(trainer *t, const char *dir)
{
    char path[PATH_LEN];
    char *saved = NULL;
    uz_status st = uz_checkpoint_find(dir, path, sizeof path);
    if (st == UZ_OK)
        st = uz_checkpoint_config(path, &saved);
    if (st != UZ_OK)
        return st;
    /* Resolved as this run's config was, so that fields added since the
     * checkpoint was written compare at their defaults. */
    uz_train_config old;
    st = uz_config_load(saved, path, &t->cfg->model_family, 1, NULL, 0, &old);
    free(saved);
    if (st != UZ_OK)
        return st;
    char diff[1024];
    bool differs = uz_config_diff(t->cfg->root, old.root, uz_config_resume_free,
                                  uz_config_resume_free_count, diff, sizeof diff);
    uz_config_free(&old);
    if (differs)
        return UZ_FAIL(UZ_ERR_ARG,
                       "resume from %s: the config differs from the checkpoint's at %s; only "
                       "train.steps, log_every, eval_every and ckpt_every may change",
                       path, diff);
    uz_train_state *s = &t->state;
    s->n_tasks = t->cfg->n_tasks;
    st = uz_checkpoint_load(path, t->params, t->optim, t->extra, t->n_extra, s);
    if (st != UZ_OK)
        return st;
    if (s->step < 0 || s->batch < 1 || s->batch > t->cap || !isfinite(s->lr_mult))
        return UZ_FAIL(UZ_ERR_FORMAT,
                       "checkpoint %s: trainer state out of range (step %lld, batch %lld)", path,
                       (long long)s->step, (long long)s->batch);
    for (int k = 0; k < s->n_tasks; k++) {
        st = uz_order_seek(&t->order, k, s->epoch[k], s->cursor[k]);
        if (st != UZ_OK) {
            uz_error_context("checkpoint %s", path);
            return st;
        }
        t->sampler.steps[k] = s->sampled[k];
    }
    return UZ_OK;
}

/* The first parameter whose gradient holds a NaN or Inf. */
static const char *first_bad_grad(uz_params *p)
{
    for (int i = 0; i < uz_params_count(p); i++) {
        const uz_tensor *w = uz_params_at(p, i);
        if (!w->grad)
            continue;
        int64_t n = uz_tensor_numel(w);
        for (int64_t j = 0; j < n; j++)
            if (!isfinite(w->grad->data[j]))
                return w->name;
    }
    return NULL;
}

/* The step's examples; returns the batch size: the schedule's, or under
 * unmixed sampling the drawn task's own when it has one. */
static int64_t fill_batch(trainer *t, int64_t step, int *task_out)
{
    int64_t b = t->state.batch;
    if (t->cfg->mixed) {
        uz_sampler_step_mixed(&t->sampler, step, b, t->gtask);
        *task_out = -1;
    } else {
        int k = uz_sampler_step_task(&t->sampler, step);
        b = t->cfg->tasks[k].batch > 0 ? t->cfg->tasks[k].batch : b;
        for (int64_t i = 0; i < b; i++)
            t->gtask[i] = k;
        *task_out = k;
    }
    for (int64_t i = 0; i < b; i++)
        t->gidx[i] = uz_order_next(&t->order, t->gtask[i]);
    return b;
}

/* Forward and backward over this rank's micro-batch [lo, hi). Returns the
 * sum of the loss scales it used (its share of the global mean). */
static uz_status run_micro(trainer *t, int64_t step, int micro, int64_t lo, int64_t hi, int64_t b,
                           double *scale_sum)
{
    const uz_train_config *cfg = t->cfg;
    *scale_sum = 0.0;
    for (int k = 0; k < cfg->n_tasks; k++) {
        int64_t n = 0;
        for (int64_t i = lo; i < hi; i++)
            if (t->gtask[i] == k)
                t->seg[n++] = t->gidx[i];
        if (n == 0)
            continue;
        uz_ctx_set_stream(t->ctx, step_stream(step, micro, k));
        uz_tensor *loss = t->model->ops->loss(t->model, t->ctx, k, t->seg, n);
        if (!loss || uz_tensor_numel(loss) != 1) {
            if (loss)
                UZ_FAIL(UZ_ERR_ARG, "model %s: the loss of task %d has %lld elements, not 1",
                        cfg->family, k, (long long)uz_tensor_numel(loss));
            uz_error_context("step %lld", (long long)step + 1);
            uz_ctx_reset(t->ctx);
            return uz_error_status();
        }
        double lv = loss->data[0];
        double share = (double)n * (double)t->world / (double)b;
        t->stats[2 * k] += lv * (double)n;
        t->stats[2 * k + 1] += (double)n;
        *scale_sum += share;
        uz_status st = UZ_OK;
        /* A non-finite loss stops the run once the ranks have compared notes. */
        if (isfinite(lv)) {
            float up = (float)(share * (double)cfg->tasks[k].weight);
            st = uz_backward_with(t->ctx, loss, &up);
        }
        uz_ctx_reset(t->ctx);
        if (st != UZ_OK) {
            uz_error_context("step %lld", (long long)step + 1);
            return st;
        }
    }
    return UZ_OK;
}

/* The norm test over the micro-batch gradients of all ranks: each is the
 * mean gradient over about m = B / (R * micro) examples, so its variance is
 * the per-example variance over m; scaling sum_var by m recovers the
 * per-example statistic uz_norm_test_next_batch expects. */
static uz_status next_batch(trainer *t, int64_t b, int64_t *out)
{
    uz_grad_stats *g = &t->gstats;
    if (t->world > 1) {
        double cnt = (double)g->count;
        uz_status st = uz_comm_allreduce_sum_f64(t->comm, g->sum, g->n);
        if (st == UZ_OK)
            st = uz_comm_allreduce_sum_f64(t->comm, g->sum_sq, g->n);
        if (st == UZ_OK)
            st = uz_comm_allreduce_sum_f64(t->comm, &cnt, 1);
        if (st != UZ_OK)
            return st;
        g->count = (int64_t)cnt;
    }
    double sum_var, gbar_sq;
    uz_grad_stats_result(g, &sum_var, &gbar_sq);
    uz_grad_stats_reset(g);
    double m = (double)b / (double)(t->world * t->cfg->micro_batches);
    *out = gbar_sq > 0 ? uz_norm_test_next_batch(sum_var * m, gbar_sq, b, t->cfg->eta,
                                                 t->cfg->b_max)
                       : b;
    return UZ_OK;
}

/* A model with its own update rule: one call does the whole step. */
static uz_status model_step(trainer *t, int64_t step, int64_t b, int task, uz_step_record *rec,
                            bool *stop)
{
    const uz_train_config *cfg = t->cfg;
    float lr = (float)((double)uz_lr_at(&cfg->lr, step) * t->state.lr_mult);
    double loss = 0.0;
    float gnorm = 0.0f;
    uz_ctx_set_stream(t->ctx, step_stream(step, 0, task));
    uz_status st =
        t->model->ops->train_step(t->model, t->ctx, task, t->gidx, b, lr, &loss, &gnorm);
    uz_ctx_reset(t->ctx);
    if (st == UZ_OK && !isfinite(loss))
        st = UZ_FAIL(UZ_ERR_NUMERIC, "non-finite loss (%g)", loss);
    if (st != UZ_OK) {
        uz_error_context("step %lld", (long long)step + 1);
        return st;
    }
    *stop = t->opts->stop && *t->opts->stop;
    rec->step = step + 1;
    rec->task = task;
    rec->loss = loss;
    for (int k = 0; k < cfg->n_tasks; k++)
        rec->task_loss[k] = k == task ? loss : NAN;
    rec->lr = lr;
    rec->grad_norm = gnorm;
    rec->batch = b;
    return UZ_OK;
}

static uz_status step_once(trainer *t, int64_t step, uz_step_record *rec, bool *stop)
{
    const uz_train_config *cfg = t->cfg;
    int task;
    int64_t b = fill_batch(t, step, &task);
    if (t->model->ops->train_step)
        return model_step(t, step, b, task, rec, stop);
    int K = cfg->n_tasks;
    memset(t->stats, 0, sizeof(double) * (size_t)(2 * K + 1));
    int64_t lo = b * t->rank / t->world, hi = b * (t->rank + 1) / t->world;
    int M = cfg->micro_batches;
    float *grad = uz_params_grad(t->params);
    int64_t n = uz_params_numel(t->params);
    for (int m = 0; m < M; m++) {
        int64_t mlo = lo + (hi - lo) * m / M, mhi = lo + (hi - lo) * (m + 1) / M;
        if (cfg->adaptive)
            memcpy(t->gprev, grad, sizeof(float) * (size_t)n);
        double share;
        uz_status st = run_micro(t, step, m, mlo, mhi, b, &share);
        if (st != UZ_OK)
            return st;
        if (cfg->adaptive && share > 0) {
            float inv = (float)(1.0 / share);
            for (int64_t i = 0; i < n; i++)
                t->gprev[i] = (grad[i] - t->gprev[i]) * inv;
            uz_grad_stats_add(&t->gstats, t->gprev);
        }
    }
    t->stats[2 * K] = t->opts->stop && *t->opts->stop ? 1.0 : 0.0;
    uz_status st = UZ_OK;
    if (t->world > 1 && (st = uz_comm_allreduce_sum_f64(t->comm, t->stats, 2 * K + 1)) != UZ_OK)
        return st;
    *stop = t->stats[2 * K] > 0;
    double total = 0, count = 0;
    for (int k = 0; k < K; k++) {
        double c = t->stats[2 * k + 1];
        rec->task_loss[k] = c > 0 ? t->stats[2 * k] / c : NAN;
        if (c > 0 && !isfinite(rec->task_loss[k]))
            return UZ_FAIL(UZ_ERR_NUMERIC,
                           "step %lld: non-finite loss (%g) of task '%s' (first non-finite "
                           "tensor: the loss)",
                           (long long)step + 1, rec->task_loss[k], cfg->tasks[k].name);
        total += t->stats[2 * k];
        count += c;
    }
    if (t->world > 1 && (st = uz_comm_allreduce_mean(t->comm, grad, n)) != UZ_OK)
        return st;
    int64_t nb = b;
    if (cfg->adaptive && b < cfg->b_max && (st = next_batch(t, b, &nb)) != UZ_OK)
        return st;
    else if (cfg->adaptive)
        uz_grad_stats_reset(&t->gstats);

    float lr = (float)((double)uz_lr_at(&cfg->lr, step) * t->state.lr_mult);
    uz_optim_task ot = {1.0f, 1.0f};
    if (task >= 0)
        ot = (uz_optim_task){cfg->tasks[task].weight, (float)t->sampler.ratio[task]};
    float gnorm = 0.0f;
    st = uz_optim_step(t->optim, lr, task >= 0 ? &ot : NULL, &gnorm);
    if (st == UZ_ERR_NUMERIC) {
        const char *bad = first_bad_grad(t->params);
        if (bad)
            return UZ_FAIL(UZ_ERR_NUMERIC,
                           "step %lld: non-finite gradient (first non-finite tensor: '%s')",
                           (long long)step + 1, bad);
        uz_error_context("step %lld", (long long)step + 1);
        return st;
    }
    if (st != UZ_OK)
        return st;
    uz_params_zero_grad(t->params);

    rec->step = step + 1;
    rec->task = task;
    rec->loss = total / count;
    rec->lr = lr;
    rec->grad_norm = gnorm;
    rec->batch = b;
    if (nb != b) {
        t->state.lr_mult = uz_lr_rescale((float)t->state.lr_mult, b, nb, cfg->lr_rule);
        t->state.batch = nb;
    }
    return UZ_OK;
}

/* A metric's name as the progress output writes it ("task/name" or "name"). */
static void metric_label(const trainer *t, const uz_metric *m, char *buf, size_t n)
{
    if (m->task >= 0 && m->task < t->cfg->n_tasks)
        snprintf(buf, n, "%s/%s", t->cfg->tasks[m->task].name, m->name);
    else
        snprintf(buf, n, "%s", m->name);
}

/* Early stopping after an evaluation at `step`: a gain in the watched
 * metric saves best.safetensors (parameters, model state, trainer state:
 * a complete checkpoint of that step); `patience` evaluations without one
 * end the run. */
static uz_status track_best(trainer *t, int64_t step, const uz_metrics *m, bool *stop)
{
    const uz_train_config *cfg = t->cfg;
    char label[UZ_METRIC_NAME + 64], names[1024] = "";
    const uz_metric *hit = NULL;
    size_t used = 0;
    for (int i = 0; i < m->n && !hit; i++) {
        metric_label(t, &m->m[i], label, sizeof label);
        if (strcmp(label, cfg->early_stop) == 0)
            hit = &m->m[i];
        else if (used < sizeof names)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                                     label);
    }
    if (!hit)
        return UZ_FAIL(UZ_ERR_ARG, "config train.early_stop: the evaluation has no metric '%s' "
                                   "(it has %s)",
                       cfg->early_stop, names[0] ? names : "none");
    uz_train_state *s = &t->state;
    if (!(hit->value > s->best)) {
        s->bad_evals++;
        if (cfg->patience > 0 && s->bad_evals >= cfg->patience) {
            uz_progress_note(&t->log, "early stop: %s has not improved on %.4f (step %lld) in "
                                      "%lld evaluations",
                             cfg->early_stop, s->best, (long long)s->best_step,
                             (long long)s->bad_evals);
            *stop = true;
        }
        return UZ_OK;
    }
    s->best = hit->value;
    s->best_step = step;
    s->bad_evals = 0;
    if (!t->opts->out_dir)
        return UZ_OK;
    capture_state(t);
    char *json = uz_config_json(t->cfg);
    if (!json)
        return UZ_FAIL(UZ_ERR_NOMEM, "checkpoint: out of memory");
    uz_status st = uz_checkpoint_save(t->best, t->params, t->optim, t->extra, t->n_extra, s, json);
    free(json);
    t->have_best = st == UZ_OK;
    return st;
}

/* The metrics of the best checkpoint, once training is over: its
 * parameters and model state are loaded into the model (the final
 * checkpoint is already written) and evaluated. */
static uz_status evaluate_best(trainer *t, uz_train_result *res)
{
    if (t->rank != 0 || !t->cfg->early_stop[0] || !t->model->ops->eval || !t->opts->out_dir)
        return UZ_OK;
    if (!t->have_best) {
        FILE *f = fopen(t->best, "rb");
        if (!f)
            return UZ_OK;
        fclose(f);
    }
    uz_status st = uz_checkpoint_load(t->best, t->params, NULL, t->extra, t->n_extra, NULL);
    if (st != UZ_OK)
        return st;
    bool was = uz_grad_enable(t->ctx, false);
    uz_metrics m = {0};
    st = t->model->ops->eval(t->model, t->ctx, &m);
    uz_ctx_reset(t->ctx);
    uz_grad_enable(t->ctx, was);
    if (st != UZ_OK) {
        uz_error_context("evaluation of %s", t->best);
        return st;
    }
    char line[2048], label[UZ_METRIC_NAME + 64];
    size_t used = 0;
    line[0] = '\0';
    for (int i = 0; i < m.n && used < sizeof line; i++) {
        metric_label(t, &m.m[i], label, sizeof label);
        used += (size_t)snprintf(line + used, sizeof line - used, "%s%s %.4f", i ? ", " : "",
                                 label, m.m[i].value);
    }
    uz_progress_note(&t->log, "best %s %.4f at step %lld (%s): %s", t->cfg->early_stop,
                     t->state.best, (long long)t->state.best_step, t->best, line);
    if (res) {
        res->has_best = true;
        res->best_step = t->state.best_step;
        res->best = m;
    }
    return UZ_OK;
}

static uz_status evaluate(trainer *t, int64_t step, uz_train_result *res, bool *stop)
{
    if (t->rank != 0 || !t->model->ops->eval)
        return UZ_OK;
    bool was = uz_grad_enable(t->ctx, false);
    uz_metrics m = {0};
    uz_status st = t->model->ops->eval(t->model, t->ctx, &m);
    uz_ctx_reset(t->ctx);
    uz_grad_enable(t->ctx, was);
    if (st != UZ_OK) {
        uz_error_context("evaluation at step %lld", (long long)step);
        return st;
    }
    if (res) {
        res->has_eval = true;
        res->eval = m;
    }
    st = uz_progress_eval(&t->log, step, &m);
    /* Only the scheduled evaluations count for early stopping: the extra
     * one at the end of an interrupted or shortened session must not, or a
     * resumed run would stop differently from an uninterrupted one. */
    const uz_train_config *cfg = t->cfg;
    bool scheduled = cfg->eval_every ? step % cfg->eval_every == 0 : step == cfg->steps;
    if (st == UZ_OK && cfg->early_stop[0] && scheduled)
        st = track_best(t, step, &m, stop);
    return st;
}

static uz_status setup(trainer *t)
{
    const uz_train_config *cfg = t->cfg;
    uz_status st = check_setup(t);
    if (st != UZ_OK)
        return st;
    if ((st = alloc_buffers(t)) != UZ_OK)
        return st;
    if (t->model->ops->train_step)
        st = t->model->ops->set_optim(t->model, &cfg->optim);
    else
        st = uz_optim_new(&cfg->optim, t->params, &t->optim);
    if (st != UZ_OK || (st = collect_extra(t)) != UZ_OK)
        return st;
    t->ctx = uz_ctx_new(0, 0);
    if (!t->ctx)
        return uz_error_status() != UZ_OK ? uz_error_status()
                                          : UZ_FAIL(UZ_ERR_NOMEM, "trainer: no context");
    double ratios[UZ_MAX_TASKS];
    for (int k = 0; k < cfg->n_tasks; k++)
        ratios[k] = cfg->tasks[k].ratio;
    if ((st = uz_sampler_init(&t->sampler, cfg->n_tasks, ratios, cfg->seed, cfg->mixed)) != UZ_OK)
        return st;
    if ((st = uz_order_init(&t->order, cfg->n_tasks, t->model->task_size, cfg->seed)) != UZ_OK)
        return st;
    /* Ranks draw different dropout masks for their different examples. */
    t->state = (uz_train_state){.batch = cfg->batch, .lr_mult = 1.0, .best = -INFINITY};
    if (t->opts->out_dir)
        ckpt_paths(t, t->opts->out_dir);
    if (t->opts->resume_dir) {
        if ((st = resume(t, t->opts->resume_dir)) != UZ_OK)
            return st;
    } else if (t->model->ops->prepare && (st = t->model->ops->prepare(t->model)) != UZ_OK) {
        return st;
    }
    /* Every rank derives its own seed (the checkpoint records rank 0's). */
    t->state.rng_seed = cfg->seed + 0x9E3779B97F4A7C15ULL * (uint64_t)(t->rank + 1);
    uz_ctx_set_seed(t->ctx, t->state.rng_seed);
    return uz_progress_open(&t->log, cfg, t->rank == 0 ? t->opts->out_dir : NULL,
                            t->opts->resume_dir, t->state.step, t->opts->progress, t->opts->log,
                            t->rank == 0);
}

static void teardown(trainer *t)
{
    uz_progress_close(&t->log);
    uz_order_free(&t->order);
    uz_optim_free(t->optim);
    uz_ctx_free(t->ctx);
    uz_grad_stats_free(&t->gstats);
    free(t->extra);
    free(t->gprev);
    free(t->gidx);
    free(t->seg);
    free(t->gtask);
    free(t->stats);
}

static uz_status loop(trainer *t, uz_train_result *res)
{
    const uz_train_config *cfg = t->cfg;
    double t0 = uz_clock_s(), before = t->state.elapsed;
    int64_t first = t->state.step;
    uz_status st = UZ_OK;
    bool stop = false;
    if (t->rank == 0 && first > 0)
        uz_progress_note(&t->log, "resuming at step %lld of %lld", (long long)first,
                         (long long)cfg->steps);
    while (t->state.step < cfg->steps && !stop) {
        uz_step_record rec = {0};
        st = step_once(t, t->state.step, &rec, &stop);
        if (st != UZ_OK) {
            if (t->rank == 0 && st == UZ_ERR_NUMERIC && t->opts->out_dir)
                uz_error_context("training stopped; %s",
                                 t->have_ckpt ? "the last checkpoint is kept" : "no checkpoint written");
            return st;
        }
        t->state.step++;
        rec.time = before + (uz_clock_s() - t0);
        if ((st = uz_progress_step(&t->log, &rec)) != UZ_OK)
            return st;
        if (res) {
            res->loss = rec.loss;
            res->steps = t->state.step;
        }
        int64_t s = t->state.step;
        bool last = s == cfg->steps;
        bool early = false;
        if ((cfg->eval_every && s % cfg->eval_every == 0) || last)
            if ((st = evaluate(t, s, res, &early)) != UZ_OK)
                return st;
        if (early) {
            stop = true;
            t->stopped_early = true;
        }
        if ((cfg->ckpt_every && s % cfg->ckpt_every == 0) || last || stop)
            if ((st = save_checkpoint(t, before + (uz_clock_s() - t0))) != UZ_OK)
                return st;
    }
    double dt = uz_clock_s() - t0;
    bool interrupted = stop && !t->stopped_early;
    if (!interrupted && (st = evaluate_best(t, res)) != UZ_OK)
        return st;
    if (res) {
        res->steps = t->state.step;
        res->interrupted = interrupted;
        res->steps_per_s = dt > 0 ? (double)(t->state.step - first) / dt : 0.0;
    }
    if ((st = uz_progress_plot(&t->log)) != UZ_OK)
        return st;
    if (t->rank == 0) {
        uz_progress_note(&t->log, "%s at step %lld: %.1f s, %.1f steps/s%s%s",
                         interrupted ? "stopped by a signal"
                         : t->stopped_early ? "stopped early"
                                            : "done",
                         (long long)t->state.step, dt,
                         dt > 0 ? (double)(t->state.step - first) / dt : 0.0,
                         t->opts->out_dir ? "; checkpoint " : "",
                         t->opts->out_dir ? t->ckpt : "");
    }
    return UZ_OK;
}

uz_status uz_train(const uz_train_config *cfg, uz_model *model, const uz_trainer_opts *opts,
                   uz_train_result *res)
{
    if (!cfg || !model || !opts)
        return UZ_FAIL(UZ_ERR_ARG, "train: cfg, model and opts are required");
    if (res)
        memset(res, 0, sizeof *res);
    trainer t = {.cfg = cfg, .opts = opts, .model = model, .params = model->params,
                 .comm = opts->comm, .rank = uz_comm_rank(opts->comm),
                 .world = uz_comm_size(opts->comm)};
    uz_status st = setup(&t);
    if (st == UZ_OK)
        st = loop(&t, res);
    teardown(&t);
    return st;
}
