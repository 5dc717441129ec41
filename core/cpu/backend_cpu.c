/* The CPU kernel table: the reference every other backend is tested against. */
#include "../backend.h"
#include "kernels_cpu.h"

const uz_backend uz_backend_cpu = {
    .name = "cpu",
    .copy = &uz_cpu_kernels_copy,
    .blas = &uz_cpu_kernels_blas,
    .elementwise = &uz_cpu_kernels_elementwise,
    .reduce = &uz_cpu_kernels_reduce,
    .conv = &uz_cpu_kernels_conv,
    .nn = &uz_cpu_kernels_nn,
    .index = &uz_cpu_kernels_index,
    .attention = &uz_cpu_kernels_attention,
};
