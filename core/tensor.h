/* The tensor, the per-step context that owns activations and the autograd
 * tape, and tensor creation and views. */
#ifndef UZ_TENSOR_H
#define UZ_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum { UZ_MAX_DIMS = 5 };

typedef enum uz_device { UZ_DEVICE_CPU = 0, UZ_DEVICE_CUDA = 1 } uz_device;

typedef struct uz_node uz_node;
typedef struct uz_ctx uz_ctx;

typedef struct uz_tensor {
    float *data;                    /* first element, view offset applied */
    int64_t shape[UZ_MAX_DIMS];
    int64_t stride[UZ_MAX_DIMS];    /* in elements; 0 on an expanded dim */
    int ndim;
    uz_device device;
    bool requires_grad;
    bool is_param;                  /* long-lived: data and grad outlive steps */
    struct uz_tensor *grad;         /* contiguous, same shape; NULL until needed */
    uz_node *node;                  /* op that produced it; NULL for leaves */
    const char *name;               /* parameters only */
} uz_tensor;

/* ---- the per-step context ------------------------------------------------ */

/* arena_bytes: initial arena size (0 = 1 MiB, grows); arena_limit: 0 = none. */
uz_ctx *uz_ctx_new(size_t arena_bytes, size_t arena_limit);
void uz_ctx_free(uz_ctx *ctx);
/* Drops all activations, non-parameter gradients and the tape. */
void uz_ctx_reset(uz_ctx *ctx);
size_t uz_ctx_arena_peak(const uz_ctx *ctx);
/* Raw step-lifetime scratch memory (64-byte aligned). */
void *uz_ctx_alloc(uz_ctx *ctx, size_t bytes);
void *uz_ctx_zalloc(uz_ctx *ctx, size_t bytes);

/* Gradient recording; returns the previous setting (a no-grad scope is
 * `bool was = uz_grad_enable(ctx, false); ...; uz_grad_enable(ctx, was);`). */
bool uz_grad_enable(uz_ctx *ctx, bool on);
bool uz_grad_enabled(const uz_ctx *ctx);

/* Dropout and other random ops draw from (seed, stream) with stream taken
 * from a counter that advances once per random op. */
void uz_ctx_set_seed(uz_ctx *ctx, uint64_t seed);
uint64_t uz_ctx_seed(const uz_ctx *ctx);
uint64_t uz_ctx_next_stream(uz_ctx *ctx);
uint64_t uz_ctx_stream(const uz_ctx *ctx);
void uz_ctx_set_stream(uz_ctx *ctx, uint64_t stream);

/* ---- creation (step lifetime, from the context's arena) ------------------- */
/* Tensors are created on the context's device (core/device.h; CPU unless set);
 * `values` are host memory, wrapped memory must be on the context's device. */

uz_tensor *uz_tensor_empty(uz_ctx *ctx, int ndim, const int64_t *shape);
uz_tensor *uz_tensor_zeros(uz_ctx *ctx, int ndim, const int64_t *shape);
uz_tensor *uz_tensor_full(uz_ctx *ctx, int ndim, const int64_t *shape, float value);
/* Copies n = numel floats from `values`. */
uz_tensor *uz_tensor_from(uz_ctx *ctx, int ndim, const int64_t *shape, const float *values);
/* Wraps caller-owned contiguous memory without copying. */
uz_tensor *uz_tensor_wrap(uz_ctx *ctx, int ndim, const int64_t *shape, float *data);
uz_tensor *uz_tensor_like(uz_ctx *ctx, const uz_tensor *t);
void uz_tensor_set_requires_grad(uz_tensor *t, bool on);

/* ---- queries ---------------------------------------------------------------- */

int64_t uz_tensor_numel(const uz_tensor *t);
bool uz_tensor_is_contiguous(const uz_tensor *t);
bool uz_tensor_same_shape(const uz_tensor *a, const uz_tensor *b);
/* "[2,3,4]" into buf (returns buf), for messages. */
const char *uz_shape_str(const uz_tensor *t, char *buf, size_t n);
#define UZ_SHAPE_STR_LEN 96
/* Element at a multi-index (strided read), for tests and small tools. */
float uz_tensor_get(const uz_tensor *t, const int64_t *idx);
/* Copies the elements in logical (row-major) order into out. */
void uz_tensor_copy_out(const uz_tensor *t, float *out);

/* ---- views (no copy; differentiable) ----------------------------------------- */

/* -1 in one position is inferred. Copies only when the strides cannot express it. */
uz_tensor *uz_reshape(uz_ctx *ctx, uz_tensor *t, int ndim, const int64_t *shape);
uz_tensor *uz_transpose(uz_ctx *ctx, uz_tensor *t, int d0, int d1);
uz_tensor *uz_permute(uz_ctx *ctx, uz_tensor *t, const int *perm);
/* Elements [start, start+len) along dim. */
uz_tensor *uz_narrow(uz_ctx *ctx, uz_tensor *t, int dim, int64_t start, int64_t len);
/* Broadcasts size-1 dims (and new leading dims) to shape; no copy. */
uz_tensor *uz_expand(uz_ctx *ctx, uz_tensor *t, int ndim, const int64_t *shape);
/* t itself when already contiguous, else a differentiable copy. */
uz_tensor *uz_contiguous(uz_ctx *ctx, uz_tensor *t);

#endif
