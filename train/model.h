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

typedef struct uz_model_ops {
    /* Mean loss (a 0-d tensor in ctx, recorded for backward) over examples
     * idx[0..n) of `task`, each in [0, task_size[task]). Training mode:
     * dropout and other random ops draw from the ctx's seed and stream,
     * which the trainer sets before every call. NULL on error. */
    uz_tensor *(*loss)(uz_model *m, uz_ctx *ctx, int task, const int64_t *idx, int64_t n);
    /* Optional (NULL when the model has none): held-out metrics, computed
     * with gradients off. */
    uz_status (*eval)(uz_model *m, uz_ctx *ctx, uz_metrics *out);
    void (*free)(uz_model *m);
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
