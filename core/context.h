/* Internal layout of uz_ctx, for the core's own files only. */
#ifndef UZ_CONTEXT_H
#define UZ_CONTEXT_H

#include "arena.h"
#include "tensor.h"

struct uz_ctx {
    uz_arena *arena;
    uz_node *tape;        /* last recorded node */
    bool grad_enabled;
    uint64_t seed;
    uint64_t stream;      /* next random stream */
    uz_device device;     /* where uz_tensor_empty creates tensors */
    uz_arena *dev_arena;  /* device memory, made on first use (core/device.c) */
    size_t arena_bytes, arena_limit; /* uz_ctx_new's, for the device arena */
};

#endif
