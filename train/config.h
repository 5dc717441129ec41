/* Training configs in JSON. Sections: name, family, description, model (the
 * family's own fields), train, optim, lr, batch_schedule, tasks, sampling.
 * Loading resolves the config against its defaults (every field present,
 * unknown fields and wrong types rejected with their path), applies
 * `--set path=value` overrides typed by the field they replace, and
 * validates every value; each failure is one line naming the field path and
 * what is allowed. */
#ifndef UZ_CONFIG_H
#define UZ_CONFIG_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "train/model.h"
#include "train/optim.h"
#include "train/sampler.h"
#include "train/schedule.h"

typedef struct uz_task_config {
    const char *name;
    double ratio;          /* sampling ratio s_k (normalised by the sampler) */
    float weight;          /* loss weight; MT-AdamW's balance factor omega_k */
    int64_t batch;         /* this task's batch size (unmixed sampling); 0: train.batch */
} uz_task_config;

typedef struct uz_train_config {
    cJSON *root;           /* the resolved config (owned): every field present */
    const char *name, *family, *description;
    const cJSON *model;    /* the model section, for the family's builder */
    const uz_model_family *model_family;

    int64_t steps, batch;
    int micro_batches;
    uint64_t seed;
    int64_t log_every, eval_every, ckpt_every; /* 0: at the end only (eval, ckpt) */
    /* Early stopping: the evaluation metric to watch (higher is better; ""
     * = off), whose best evaluation is kept as best.safetensors, and how
     * many evaluations without a gain end the run (0 = run all steps). */
    const char *early_stop;
    int64_t patience;

    uz_optim_config optim;  /* strings point into root */
    uz_lr_schedule lr;      /* total_steps resolved (0 in the file means train.steps) */

    bool adaptive;          /* batch_schedule.kind == adaptive */
    double eta;
    int64_t b_max;
    uz_lr_rule lr_rule;     /* resolved ("auto" picks it from the optimizer) */

    int n_tasks;
    uz_task_config tasks[UZ_MAX_TASKS];
    bool mixed;             /* sampling == mixed */
} uz_train_config;

/* Parses text (source names it in messages), resolves it against the
 * defaults, applies sets ("a.b.c=value"; array elements by index, e.g.
 * "tasks.1.ratio=0.5"; arrays and objects take JSON) and validates. The
 * family must be one of families[0..n_families). */
uz_status uz_config_load(const char *text, const char *source,
                         const uz_model_family *const *families, int n_families,
                         const char *const *sets, int n_sets,
                         uz_train_config *out);
void uz_config_free(uz_train_config *c);

/* The resolved config as compact JSON (malloc'd; free with free()). */
char *uz_config_json(const uz_train_config *c);

/* Fields a resumed run may change: how long it runs and how often it logs,
 * evaluates and checkpoints. */
extern const char *const uz_config_resume_free[];
extern const int uz_config_resume_free_count;

/* The first path (e.g. "optim.lr") where a and b differ, skipping the
 * `ignore` paths, written to buf with both values; false when equal. */
bool uz_config_diff(const cJSON *a, const cJSON *b, const char *const *ignore, int n_ignore,
                    char *buf, size_t n);

/* Value checks for a family's builder over its resolved section `obj`
 * (named `section` in messages, e.g. "model"); the field is present and has
 * its default's JSON type. Ranges are inclusive. */
uz_status uz_cfg_int(const cJSON *obj, const char *section, const char *key, int64_t lo,
                     int64_t hi, int64_t *out);
/* lo_open/hi_open make the bound exclusive. */
uz_status uz_cfg_num(const cJSON *obj, const char *section, const char *key, double lo,
                     bool lo_open, double hi, bool hi_open, double *out);
uz_status uz_cfg_bool(const cJSON *obj, const char *section, const char *key, bool *out);
/* A string field that must be one of names[0..n). */
uz_status uz_cfg_enum(const cJSON *obj, const char *section, const char *key,
                      const char *const *names, int n, int *out);
uz_status uz_cfg_str(const cJSON *obj, const char *section, const char *key, const char **out);
/* An array of integers, each in [lo, hi], with n_min..n_max entries. */
uz_status uz_cfg_int_array(const cJSON *obj, const char *section, const char *key, int n_min,
                           int n_max, int64_t lo, int64_t hi, int64_t *out, int *n);

#endif
