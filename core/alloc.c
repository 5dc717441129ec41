/* Counted, aligned allocation. */
#include "alloc.h"

#include "error.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_uint_fast64_t uz_allocs;

void *uz_malloc(size_t bytes, const char *what)
{
    /* aligned_alloc needs a size that is a multiple of the alignment. */
    size_t rounded = (bytes + 63u) & ~(size_t)63u;
    if (rounded == 0)
        rounded = 64;
    void *p = aligned_alloc(64, rounded);
    if (!p) {
        UZ_FAIL(UZ_ERR_NOMEM, "out of memory allocating %zu bytes for %s", bytes, what);
        return NULL;
    }
    atomic_fetch_add(&uz_allocs, 1);
    return p;
}

void *uz_calloc(size_t bytes, const char *what)
{
    void *p = uz_malloc(bytes, what);
    if (p)
        memset(p, 0, bytes);
    return p;
}

void uz_free(void *p) { free(p); }

uint64_t uz_alloc_count(void) { return (uint64_t)atomic_load(&uz_allocs); }
