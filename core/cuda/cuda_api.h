/* The C face of the CUDA runtime layer (core/cuda/runtime.cu) that
 * core/device.c calls: device memory, copies and the stream every kernel of
 * the CUDA backend runs on. Internal to the core; the public API is
 * core/device.h. */
#ifndef UZ_CUDA_API_H
#define UZ_CUDA_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum uz_cuda_copy_kind { UZ_CUDA_H2D, UZ_CUDA_D2H, UZ_CUDA_D2D } uz_cuda_copy_kind;

int uz_cuda_device_count(void);
bool uz_cuda_set_tf32(bool on);

/* cudaMalloc / cudaFree (counted); NULL with the error set on failure. */
void *uz_cuda_malloc(size_t bytes, const char *what);
void uz_cuda_free(void *p);
uint64_t uz_cuda_alloc_count(void);

/* Stream-ordered copy; a copy to the host returns once it has landed. */
uz_status uz_cuda_memcpy(void *dst, const void *src, size_t bytes, uz_cuda_copy_kind kind);
uz_status uz_cuda_zero(void *p, size_t bytes);
/* Waits for the stream; returns the first failure of any CUDA call so far. */
uz_status uz_cuda_sync(void);

#ifdef __cplusplus
}
#endif

#endif
