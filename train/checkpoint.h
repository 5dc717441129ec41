/* Training checkpoints: one safetensors file holding the parameters (by
 * name), the optimizer state, the trainer's position (step, per-task epoch
 * and cursor of the data order, sampler counts, batch size and learning-rate
 * multiplier of the adaptive schedule, the context's RNG seed, elapsed time)
 * and the resolved config as metadata. Written atomically; the previous one
 * is kept as ckpt.prev.safetensors. */
#ifndef UZ_CHECKPOINT_H
#define UZ_CHECKPOINT_H

#include <stddef.h>

#include "train/model.h"
#include "train/optim.h"
#include "train/sampler.h"

#define UZ_CKPT_FILE "ckpt.safetensors"
#define UZ_CKPT_PREV "ckpt.prev.safetensors"
/* The checkpoint of the best evaluation when early stopping is on. */
#define UZ_CKPT_BEST "best.safetensors"

typedef struct uz_train_state {
    int64_t step;          /* completed steps */
    int64_t batch;         /* global batch of the next step */
    double lr_mult;        /* product of the adaptive schedule's rescales */
    double elapsed;        /* training seconds so far */
    uint64_t rng_seed;     /* the context's seed (streams are keyed by step) */
    int n_tasks;
    int64_t epoch[UZ_MAX_TASKS], cursor[UZ_MAX_TASKS];
    int64_t sampled[UZ_MAX_TASKS];
    /* Early stopping: the best value of the watched metric (-inf before the
     * first evaluation), the step it came from, evaluations since. */
    double best;
    int64_t best_step, bad_evals;
} uz_train_state;

/* The checkpoint to resume from in dir: ckpt.safetensors, or ckpt.prev
 * when a crash came between moving the old one aside and writing the new. */
uz_status uz_checkpoint_find(const char *dir, char *path, size_t n);

/* Writes path atomically (a crash leaves the old file or the new one).
 * extra[0..n_extra): the model's own state (uz_model_ops.state_at). */
uz_status uz_checkpoint_save(const char *path, uz_params *p, const uz_optim *o,
                             const uz_model_state *extra, int n_extra, const uz_train_state *s,
                             const char *config_json);

/* Reads the config JSON stored in a checkpoint (malloc'd, free()). */
uz_status uz_checkpoint_config(const char *path, char **config_json);

/* Loads parameters, optimizer state (o may be NULL: parameters only), the
 * model's extra state (every entry must be in the file; optimizer state in
 * the file that neither o nor extra lists is skipped) and trainer state (s
 * may be NULL). A missing tensor, a shape, dtype or size mismatch, or a
 * tensor this model does not have is an error naming it. */
uz_status uz_checkpoint_load(const char *path, uz_params *p, uz_optim *o,
                             const uz_model_state *extra, int n_extra, uz_train_state *s);

#endif
