/* Bump allocator for everything that lives for one step: activations, saved
 * tensors, gradients of non-parameters and the autograd tape. */
#ifndef UZ_ARENA_H
#define UZ_ARENA_H

#include <stddef.h>

#include "tensor.h"

typedef struct uz_arena uz_arena;

/* limit = 0: grow as needed; otherwise fail (saying how much was needed)
 * once more than `limit` bytes are live. */
uz_arena *uz_arena_new(size_t initial_bytes, size_t limit);
/* An arena of device memory (core/device.h); the bookkeeping stays on the host. */
uz_arena *uz_arena_new_on(uz_device dev, size_t initial_bytes, size_t limit);
void uz_arena_free(uz_arena *a);

/* 64-byte aligned, uninitialised; NULL with the error set on failure. */
void *uz_arena_alloc(uz_arena *a, size_t bytes);
void *uz_arena_zalloc(uz_arena *a, size_t bytes);

/* Drops everything. If the step needed several chunks they are replaced by
 * one chunk of the peak size, so the next identical step allocates nothing. */
void uz_arena_reset(uz_arena *a);

size_t uz_arena_used(const uz_arena *a);
size_t uz_arena_peak(const uz_arena *a);

#endif
