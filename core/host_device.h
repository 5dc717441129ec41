/* UZ_HOST_DEVICE marks a static inline function that both the C kernels and
 * the CUDA kernels compile (nvcc sees __host__ __device__, a C compiler
 * nothing), so the two backends share one formula instead of two copies. */
#ifndef UZ_HOST_DEVICE_H
#define UZ_HOST_DEVICE_H

#ifdef __CUDACC__
#define UZ_HOST_DEVICE __host__ __device__ static inline
#else
#define UZ_HOST_DEVICE static inline
#endif

#endif
