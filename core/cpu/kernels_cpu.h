/* The CPU backend's kernel family tables. */
#ifndef UZ_KERNELS_CPU_H
#define UZ_KERNELS_CPU_H

#include "../kernels.h"

extern const struct uz_kernels_copy uz_cpu_kernels_copy;
extern const struct uz_kernels_blas uz_cpu_kernels_blas;

#endif
