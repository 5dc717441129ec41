/* The training loop, shared by every model: data order and sharding,
 * micro-batches (gradient accumulation), task sampling, the optimizer and
 * the learning-rate and batch-size schedules, data-parallel gradient
 * averaging, progress output, metrics, the loss plot, checkpoints and exact
 * resume, the non-finite stop and the stop-on-signal flag. */
#ifndef UZ_TRAINER_H
#define UZ_TRAINER_H

#include <signal.h>
#include <stdio.h>

#include "train/comm.h"
#include "train/config.h"
#include "train/model.h"

typedef enum uz_progress_mode {
    UZ_PROGRESS_AUTO,   /* a redrawn bar on a terminal, plain lines otherwise */
    UZ_PROGRESS_BAR,
    UZ_PROGRESS_LINES,  /* one line every train.log_every steps */
    UZ_PROGRESS_OFF
} uz_progress_mode;

typedef struct uz_trainer_opts {
    /* Where rank 0 writes config.json, metrics.jsonl, loss.svg and the
     * checkpoints; NULL writes nothing. */
    const char *out_dir;
    /* A directory holding a checkpoint to continue from, or NULL. */
    const char *resume_dir;
    uz_comm *comm;                 /* NULL: one process */
    /* Set (e.g. by a SIGINT/SIGTERM handler): the run finishes the current
     * step, writes a checkpoint and returns with interrupted = true. */
    volatile sig_atomic_t *stop;
    uz_progress_mode progress;
    FILE *log;                     /* NULL: stdout */
} uz_trainer_opts;

typedef struct uz_train_result {
    int64_t steps;                 /* completed steps, resumed ones included */
    bool interrupted;
    double loss;                   /* mean loss of the last step */
    double steps_per_s;            /* over this session */
    bool has_eval;
    uz_metrics eval;               /* the last evaluation */
    /* With train.early_stop and an output directory: the evaluation of
     * best.safetensors once training ended (its parameters are then the
     * model's), and the step it came from. */
    bool has_best;
    int64_t best_step;
    uz_metrics best;
} uz_train_result;

/* Trains `model` (built from cfg->model) as cfg says. A non-finite loss or
 * gradient fails with UZ_ERR_NUMERIC naming the step and the first
 * non-finite tensor, writing nothing more (the last checkpoint stays as it
 * was). res may be NULL. */
uz_status uz_train(const uz_train_config *cfg, uz_model *model, const uz_trainer_opts *opts,
                   uz_train_result *res);

#endif
