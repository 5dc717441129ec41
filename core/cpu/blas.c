/* GEMM on OpenBLAS. */
#include "kernels_cpu.h"

#include <cblas.h>

static void cpu_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                     const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                     float *c, int64_t ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (blasint)m, (blasint)n, (blasint)k, alpha, a, (blasint)lda, b, (blasint)ldb,
                beta, c, (blasint)ldc);
}

static void cpu_gemm_batched(int64_t batch, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                             float alpha, const float *a, int64_t lda, int64_t stride_a,
                             const float *b, int64_t ldb, int64_t stride_b, float beta, float *c,
                             int64_t ldc, int64_t stride_c)
{
    /* OpenBLAS 0.3.21 has no strided-batched SGEMM; each call is threaded. */
    for (int64_t i = 0; i < batch; i++)
        cpu_gemm(ta, tb, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta,
                 c + i * stride_c, ldc);
}

const struct uz_kernels_blas uz_cpu_kernels_blas = {
    .gemm = cpu_gemm,
    .gemm_batched = cpu_gemm_batched,
};
