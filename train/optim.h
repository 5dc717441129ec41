/* Optimizers over a uz_params store: SGD, AdamW, MT-AdamW, LAMB, LARS,
 * AdaGrad and AdaGrad-Norm, with parameter groups, global gradient-norm
 * clipping and optional FP8 (E4M3) moments for the Adam family.
 * Formulas and reference vectors: ../shared/reference/optimizers.md. */
#ifndef UZ_OPTIM_H
#define UZ_OPTIM_H

#include "core/params.h"
#include "core/safetensors.h"

typedef enum uz_optim_kind {
    UZ_OPTIM_SGD,
    UZ_OPTIM_ADAMW,
    UZ_OPTIM_MT_ADAMW,
    UZ_OPTIM_LAMB,
    UZ_OPTIM_LARS,
    UZ_OPTIM_ADAGRAD,
    UZ_OPTIM_ADAGRAD_NORM
} uz_optim_kind;

enum { UZ_OPTIM_MAX_GROUPS = 8 };

/* A parameter group takes every parameter whose name contains one of the
 * comma-separated substrings of `match` (the first matching group wins; the
 * rest form the default group, which uses the config's own settings). */
typedef struct uz_optim_group {
    const char *match;
    float lr_scale;       /* multiplies the step's learning rate */
    float weight_decay;
    bool no_adapt;        /* LAMB/LARS: no trust ratio for this group */
} uz_optim_group;

typedef struct uz_optim_config {
    uz_optim_kind kind;
    float weight_decay;
    float momentum;         /* SGD, LARS */
    bool nesterov;          /* SGD, LARS */
    float beta1, beta2, eps;/* AdamW, MT-AdamW, LAMB; eps also AdaGrad(-Norm), LARS */
    bool bias_correction;   /* LAMB (AdamW and MT-AdamW always correct) */
    float lars_eta;         /* LARS trust coefficient */
    float initial_accumulator; /* AdaGrad: initial sum; AdaGrad-Norm: b0^2 */
    /* Comma-separated name substrings that get no weight decay and no
     * trust ratio (LAMB/LARS), e.g. "bias,norm"; NULL or "" for none. */
    const char *exclude;
    int n_groups;
    uz_optim_group groups[UZ_OPTIM_MAX_GROUPS];
    float max_grad_norm;    /* global L2 clipping over all parameters; 0 = off */
    bool fp8_states;        /* AdamW family: E4M3 moments with COAT range expansion */
} uz_optim_config;

/* PyTorch's defaults for the kind (AdamW: betas 0.9/0.999, eps 1e-8,
 * wd 0.01; SGD: momentum 0; LAMB: eps 1e-6, bias correction on; ...). */
uz_optim_config uz_optim_defaults(uz_optim_kind kind);
const char *uz_optim_kind_name(uz_optim_kind kind);
/* "sgd", "adamw", "mt-adamw", "lamb", "lars", "adagrad", "adagrad-norm". */
uz_status uz_optim_kind_parse(const char *name, uz_optim_kind *out);

typedef struct uz_optim uz_optim;

uz_status uz_optim_new(const uz_optim_config *cfg, uz_params *p, uz_optim **out);
void uz_optim_free(uz_optim *o);

/* MT-AdamW's per-step task constants: balance weight omega_k and sampling
 * ratio s_k of the task this step's gradient came from. */
typedef struct uz_optim_task {
    float weight;
    float ratio;
} uz_optim_task;

/* One update from the gradients in the parameter store (the caller zeroes
 * them afterwards). lr is the schedule's value for this step; task is
 * required for MT-AdamW and ignored otherwise. *grad_norm (if non-NULL)
 * receives the global gradient L2 norm before clipping. A non-finite
 * gradient fails with UZ_ERR_NUMERIC naming the first such parameter and
 * leaves parameters and state untouched. */
uz_status uz_optim_step(uz_optim *o, float lr, const uz_optim_task *task, float *grad_norm);

int64_t uz_optim_steps(const uz_optim *o);

/* The optimizer's state as named buffers, for checkpoints: moments (F32, or
 * U8 codes plus F32 group scales in FP8 mode), accumulators and the step
 * counter (I64). Loading a checkpoint writes into the same buffers. */
typedef struct uz_optim_state {
    const char *name;     /* e.g. "optim.exp_avg", "optim.step" */
    uz_dtype dtype;
    int64_t numel;
    void *data;
} uz_optim_state;

int uz_optim_state_count(const uz_optim *o);
uz_optim_state uz_optim_state_at(const uz_optim *o, int i);
/* Bytes of optimizer state (to report what FP8 moments save). */
size_t uz_optim_state_bytes(const uz_optim *o);

#endif
