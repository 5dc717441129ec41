/* The CPU backend's kernel family tables. */
#ifndef UZ_KERNELS_CPU_H
#define UZ_KERNELS_CPU_H

#include "../kernels.h"
#include "../kernels_elementwise.h"
#include "../kernels_reduce.h"
#include "../kernels_conv.h"
#include "../kernels_nn.h"
#include "../kernels_index.h"
#include "../kernels_attention.h"

extern const struct uz_kernels_copy uz_cpu_kernels_copy;
extern const struct uz_kernels_blas uz_cpu_kernels_blas;
extern const struct uz_kernels_elementwise uz_cpu_kernels_elementwise;
extern const struct uz_kernels_reduce uz_cpu_kernels_reduce;
extern const struct uz_kernels_conv uz_cpu_kernels_conv;
extern const struct uz_kernels_nn uz_cpu_kernels_nn;
extern const struct uz_kernels_index uz_cpu_kernels_index;
extern const struct uz_kernels_attention uz_cpu_kernels_attention;

#endif
