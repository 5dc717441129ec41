/* Kernel family tables shared by every backend. Kernels work on raw buffers
 * whose sizes are spelled out; unless a kernel says otherwise its buffers are
 * contiguous and gradient outputs are accumulated (+=), never overwritten. */
#ifndef UZ_KERNELS_H
#define UZ_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor.h"

struct uz_kernels_copy {
    /* dst (contiguous, logical order) = src read through strides. */
    void (*gather)(float *dst, const float *src, int ndim, const int64_t *shape,
                   const int64_t *src_stride);
    /* dst read through strides += src (contiguous). Duplicated positions
     * (stride 0) receive the sum, so this is also expand's backward. */
    void (*scatter_add)(float *dst, const int64_t *dst_stride, const float *src, int ndim,
                        const int64_t *shape);
    void (*add)(float *dst, const float *src, int64_t n); /* dst += src */
    void (*fill)(float *dst, float value, int64_t n);
};

struct uz_kernels_blas {
    /* C[m,n] = alpha * op(A) op(B) + beta * C, row-major, as cblas_sgemm. */
    void (*gemm)(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                 int64_t ldc);
    /* `batch` independent gemms at the given element strides between matrices. */
    void (*gemm_batched)(int64_t batch, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                         float alpha, const float *a, int64_t lda, int64_t stride_a,
                         const float *b, int64_t ldb, int64_t stride_b, float beta, float *c,
                         int64_t ldc, int64_t stride_c);
};

#endif
