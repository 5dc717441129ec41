/* The interface every trainable model implements (the MLP toys, MCLRec, the
 * generalist): named parameters in one uz_params store, a number of tasks
 * with their example counts, a mean loss over a batch of example indices of
 * one task, and optionally an evaluation returning named metrics. The
 * trainer owns everything else (data order, sharding, micro-batches,
 * optimizer, checkpoints), so no model-specific code sits in the loop. */
#ifndef UZ_MODEL_H
#define UZ_MODEL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/params.h"
#include "core/tensor.h"
#include "train/optim.h"
#include "train/sampler.h"

enum { UZ_MAX_METRICS = 32, UZ_METRIC_NAME = 48 };

typedef struct uz_metric {
    int task;                     /* the task it measures, or -1 */
    char name[UZ_METRIC_NAME];    /* e.g. "accuracy" */
    double value;
} uz_metric;

typedef struct uz_metrics {
    int n;
    uz_metric m[UZ_MAX_METRICS];
} uz_metrics;

typedef struct uz_model uz_model;

/* A buffer a checkpoint holds besides the parameters in uz_model.params
 * (e.g. a second parameter store, a model-owned optimizer's state). Names
 * are unique across the checkpoint; names starting with "optim." are
 * optimizer state. */
typedef struct uz_model_state {
    const char *name;
    uz_dtype dtype;
    int ndim;
    const int64_t *shape;
    void *data;
} uz_model_state;

typedef struct uz_model_ops {
    /* Mean loss (a 0-d tensor in ctx, recorded for backward) over examples
     * idx[0..n) of `task`, each in [0, task_size[task]). Training mode:
     * dropout and other random ops draw from the ctx's seed and stream,
     * which the trainer sets before every call. NULL on error. May be NULL
     * for a model with its own train_step. */
    uz_tensor *(*loss)(uz_model *m, uz_ctx *ctx, int task, const int64_t *idx, int64_t n);
    /* Optional (NULL when the model has none): held-out metrics, computed
     * with gradients off. */
    uz_status (*eval)(uz_model *m, uz_ctx *ctx, uz_metrics *out);
    void (*free)(uz_model *m);

    /* Optional: a model with its own update rule (several optimizers or
     * several updates per batch, e.g. MCLRec's alternating steps). When
     * set, the trainer calls set_optim once with the config's optimizer
     * (the model builds its optimizers from it instead of the trainer
     * building one over params), then train_step for each step in place
     * of loss + backward + optimizer step: one full step over examples
     * idx[0..n) of `task` at the schedule's learning rate lr, writing the
     * step's training loss and the gradient norm that goes with it. The
     * ctx's seed and stream are set as for loss; the ctx is the model's to
     * reset. Such models train in one process
     * without micro-batches or an adaptive batch size. */
    uz_status (*set_optim)(uz_model *m, const uz_optim_config *optim);
    uz_status (*train_step)(uz_model *m, uz_ctx *ctx, int task, const int64_t *idx, int64_t n,
                            float lr, double *loss, float *grad_norm);
    /* Optional: the extra state checkpoints save and resume restores
     * exactly (every optimizer state of a model with train_step belongs
     * here). Enumerated after set_optim. */
    int (*state_count)(const uz_model *m);
    uz_model_state (*state_at)(const uz_model *m, int i);
    /* Optional: work a fresh run does once before its first step (the
     * generalist pre-trains its backbone). A resumed run skips it, since
     * its checkpoint holds the outcome. Deterministic, so every rank
     * reaches the same weights without communicating. */
    uz_status (*prepare)(uz_model *m);
} uz_model_ops;

struct uz_model {
    const uz_model_ops *ops;
    uz_params *params;            /* owned by the model */
    int n_tasks;
    int64_t task_size[UZ_MAX_TASKS];
    void *impl;
};

static inline void uz_model_free(uz_model *m)
{
    if (m)
        m->ops->free(m);
}

/* A model family: the defaults of its config section and its builder. */
typedef struct uz_model_family {
    const char *name;
    const char *description;
    /* A JSON object holding every field of the "model" section with its
     * default value (and so its type: config validation rejects other
     * fields and other types before build is called). */
    const char *defaults;
    /* Builds from the resolved model section, checking value ranges with
     * uz_cfg_* (train/config.h) so errors name the field. Parameters are
     * initialised from seed. load_data = false declares the parameters only
     * (for listings: no data files are read, loss must not be called). */
    uz_status (*build)(const cJSON *model, uint64_t seed, bool load_data, uz_model **out);
} uz_model_family;

#endif
