/* Every heap allocation unizoo makes goes through here, so that tests can
 * prove a training loop allocates nothing after its first step. */
#ifndef UZ_ALLOC_H
#define UZ_ALLOC_H

#include <stddef.h>
#include <stdint.h>

/* 64-byte aligned; NULL (with the error set) on failure. */
void *uz_malloc(size_t bytes, const char *what);
void *uz_calloc(size_t bytes, const char *what);
void uz_free(void *p);

/* Number of successful uz_malloc/uz_calloc calls since start (all threads). */
uint64_t uz_alloc_count(void);

#endif
