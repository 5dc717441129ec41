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
};

#endif
