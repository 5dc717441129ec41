/* Internal to the trainer: what a run reports. The terminal progress bar or
 * plain log lines, DIR/metrics.jsonl (one JSON object per step and per
 * evaluation) and the loss history behind DIR/loss.svg. Only rank 0 opens
 * one with files; other ranks report nothing. */
#ifndef UZ_PROGRESS_H
#define UZ_PROGRESS_H

#include <stdio.h>

#include "train/config.h"
#include "train/trainer.h"

typedef struct uz_step_record {
    int64_t step;                      /* completed steps after this one */
    int task;                          /* the step's task, or -1 (mixed) */
    double loss;                       /* mean over the global batch */
    double task_loss[UZ_MAX_TASKS];    /* mixed: per task (NaN where absent) */
    double lr, grad_norm;
    int64_t batch;
    double time;                       /* training seconds since the run began */
} uz_step_record;

typedef struct uz_progress {
    const uz_train_config *cfg;
    FILE *out;                 /* NULL: silent (ranks other than 0) */
    bool bar;
    FILE *metrics;
    char *dir;
    double *hx, *hy;           /* loss history for the plot */
    int *ht;
    int64_t hn, hcap;
    double sum;                /* loss since the last log line */
    int64_t count;
    int64_t first_step;        /* this session's start */
    double t0, last_draw;
} uz_progress;

/* Opens DIR/metrics.jsonl for appending; when resuming from a checkpoint at
 * step `from`, keeps only the lines of steps <= from (a run killed after its
 * last checkpoint logged steps the resumed run repeats) and reloads the loss
 * history from them. dir NULL: no files. */
uz_status uz_progress_open(uz_progress *p, const uz_train_config *cfg, const char *dir,
                           const char *resume_dir, int64_t from, uz_progress_mode mode,
                           FILE *out, bool rank0);
uz_status uz_progress_step(uz_progress *p, const uz_step_record *r);
uz_status uz_progress_eval(uz_progress *p, int64_t step, const uz_metrics *m);
/* Prints a line (clearing the bar first). */
void uz_progress_note(uz_progress *p, const char *fmt, ...) UZ_PRINTF(2, 3);
/* Flushes metrics (before a checkpoint, so the file covers it). */
void uz_progress_flush(uz_progress *p);
/* Writes DIR/loss.svg from the history. */
uz_status uz_progress_plot(uz_progress *p);
void uz_progress_close(uz_progress *p);

#endif
