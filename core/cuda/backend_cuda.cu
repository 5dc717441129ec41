// The CUDA kernel table: one family per file in core/cuda/, every kernel
// queued on the runtime's stream (runtime.cu). Members a family does not
// fill stay NULL.
#include "cuda_internal.h"

extern "C" {
// `extern` gives the const table external linkage in C++.
extern const uz_backend uz_backend_cuda;
const uz_backend uz_backend_cuda = {
    .name = "cuda",
    .copy = &uz_cuda_kernels_copy,
    .blas = &uz_cuda_kernels_blas,
    .elementwise = &uz_cuda_kernels_elementwise,
    .reduce = &uz_cuda_kernels_reduce,
    .nn = &uz_cuda_kernels_nn,
    .index = &uz_cuda_kernels_index,
    .conv = &uz_cuda_kernels_conv,
    .attention = &uz_cuda_kernels_attention,
};
}
