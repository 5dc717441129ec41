/* A model's parameters: named tensors in one contiguous buffer, with their
 * gradients in a second one (so zero-grad is one memset and a checkpoint is
 * a walk over one list). Declare all, then finalize, then initialise. */
#ifndef UZ_PARAMS_H
#define UZ_PARAMS_H

#include "tensor.h"

typedef struct uz_params uz_params;

uz_params *uz_params_new(void);
void uz_params_free(uz_params *p);

/* Declares a parameter; its data is valid after uz_params_finalize. Names
 * must be unique (PyTorch-style "layer.0.weight"). */
uz_tensor *uz_params_add(uz_params *p, const char *name, int ndim, const int64_t *shape);
/* Allocates data and gradient buffers (zeroed). */
uz_status uz_params_finalize(uz_params *p);

void uz_params_zero_grad(uz_params *p);
/* Moves data and gradients to dev (core/device.h); the tensors keep their
 * identity, so a model built over them runs on dev from then on. */
uz_status uz_params_to(uz_params *p, uz_device dev);
uz_device uz_params_device(const uz_params *p);
int uz_params_count(const uz_params *p);
int64_t uz_params_numel(const uz_params *p);
uz_tensor *uz_params_at(const uz_params *p, int i);
uz_tensor *uz_params_find(const uz_params *p, const char *name);
/* The buffers live on uz_params_device(p). */
float *uz_params_data(uz_params *p);
float *uz_params_grad(uz_params *p);

/* Initialisers (deterministic from seed; stream = parameter index). */
void uz_param_init_uniform(uz_tensor *t, uint64_t seed, uint64_t stream, float lo, float hi);
void uz_param_init_normal(uz_tensor *t, uint64_t seed, uint64_t stream, float mean, float std);
void uz_param_init_const(uz_tensor *t, float value);

#endif
