// GEMMs on cuBLAS. Row-major C = op(A) op(B) is column-major
// C^T = op(B)^T op(A)^T, so the operands are passed swapped. Math is f32
// unless TF32 is switched on (uz_cuda_set_tf32).
#include "cuda_internal.h"

#include <limits.h>

namespace {

constexpr int THREADS = 256;

__global__ void scale_kernel(float *c, int64_t ldc, int64_t m, int64_t n, float beta)
{
    UZ_CU_LOOP(i, m * n)
    {
        float *p = c + (i / n) * ldc + i % n;
        *p = beta == 0.0f ? 0.0f : beta * *p;
    }
}

bool fits_int(const char *what, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb,
              int64_t ldc)
{
    if (m <= INT_MAX && n <= INT_MAX && k <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX &&
        ldc <= INT_MAX)
        return true;
    uz_cu_fail(what, "a GEMM dimension exceeds cuBLAS's 32-bit sizes");
    return false;
}

// C = beta C when there is nothing to multiply (k == 0), as BLAS defines it.
void scale_c(float *c, int64_t ldc, int64_t m, int64_t n, float beta)
{
    scale_kernel<<<uz_cu_blocks(m * n, THREADS), THREADS, 0, uz_cu_stream()>>>(c, ldc, m, n,
                                                                                beta);
    uz_cu_launched("gemm (k = 0)");
}

void cu_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
             int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    if (m == 0 || n == 0)
        return;
    if (k == 0) {
        scale_c(c, ldc, m, n, beta);
        return;
    }
    if (!fits_int("gemm", m, n, k, lda, ldb, ldc))
        return;
    uz_cu_blas_ok(cublasSgemm(uz_cu_cublas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                              ta ? CUBLAS_OP_T : CUBLAS_OP_N, (int)n, (int)m, (int)k, &alpha, b,
                              (int)ldb, a, (int)lda, &beta, c, (int)ldc),
                  "sgemm");
}

} // namespace

void uz_cu_gemm_batched(int64_t batch, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                        float alpha, const float *a, int64_t lda, int64_t stride_a,
                        const float *b, int64_t ldb, int64_t stride_b, float beta, float *c,
                        int64_t ldc, int64_t stride_c)
{
    if (batch <= 0 || m == 0 || n == 0)
        return;
    if (batch == 1) {
        cu_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    if (stride_c == 0) {
        // Every product lands on one C (a shared operand's gradient): the
        // batched kernel would race on it, so add them one after another.
        for (int64_t i = 0; i < batch; i++)
            cu_gemm(ta, tb, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb,
                    i == 0 ? beta : 1.0f, c, ldc);
        return;
    }
    if (k == 0) {
        for (int64_t i = 0; i < batch; i++)
            scale_c(c + i * stride_c, ldc, m, n, beta);
        return;
    }
    if (!fits_int("gemm_batched", m, n, k, lda, ldb, ldc) || batch > INT_MAX)
        return;
    uz_cu_blas_ok(cublasSgemmStridedBatched(uz_cu_cublas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                            ta ? CUBLAS_OP_T : CUBLAS_OP_N, (int)n, (int)m,
                                            (int)k, &alpha, b, (int)ldb, stride_b, a, (int)lda,
                                            stride_a, &beta, c, (int)ldc, stride_c, (int)batch),
                  "sgemm_strided_batched");
}

extern const struct uz_kernels_blas uz_cuda_kernels_blas;
const struct uz_kernels_blas uz_cuda_kernels_blas = {
    .gemm = cu_gemm,
    .gemm_batched = uz_cu_gemm_batched,
};
