// Shared by the CUDA backend's files (C++/CUDA only): the stream and library
// handles every kernel runs on, status checks that turn CUDA, cuBLAS and
// cuDNN failures into UZ_FAIL messages, staging for host index arrays, and
// the family tables.
//
// Failures: kernels return void, so a failed call records its message with
// UZ_FAIL and marks the backend failed; uz_cuda_sync and every copy to the
// host then return that first failure.
#ifndef UZ_CUDA_INTERNAL_H
#define UZ_CUDA_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <stdint.h>

extern "C" {
#include "../backend.h"
#include "../kernels.h"
#include "../kernels_attention.h"
#include "../kernels_conv.h"
#include "../kernels_elementwise.h"
#include "../kernels_index.h"
#include "../kernels_nn.h"
#include "../kernels_reduce.h"
}

#include "cuda_api.h"

// The stream every kernel, copy and library call is queued on.
cudaStream_t uz_cu_stream();
cublasHandle_t uz_cu_cublas();
bool uz_cu_tf32();

// False (after recording "what: CUDA's message") when e is an error.
bool uz_cu_ok(cudaError_t e, const char *what);
bool uz_cu_blas_ok(cublasStatus_t s, const char *what);
// Checks the launch just made (configuration errors; faults surface later).
bool uz_cu_launched(const char *what);
// Records a failure that is not a library status (a size out of range...).
void uz_cu_fail(const char *what, const char *detail);

// Device copies of host int32 arrays (the index arrays the kernels get in
// host memory), in per-slot buffers that only grow: one upload per slot is
// live at a time, which stream order makes safe to reuse on the next call.
enum { UZ_CU_SLOTS = 4 };
const int32_t *uz_cu_upload_i32(const int32_t *host, int64_t n, int slot);
// Device scratch of at least `bytes`, per slot, grow-only, stream-ordered.
void *uz_cu_scratch(size_t bytes, int slot);
// Host scratch for host-side preparation (grouping indices), grow-only.
void *uz_cu_host_scratch(size_t bytes, int slot);

// Grid for a grid-stride loop over n items with `threads` per block.
inline unsigned uz_cu_blocks(int64_t n, int threads)
{
    int64_t b = (n + threads - 1) / threads;
    const int64_t cap = (int64_t)1 << 20;
    return (unsigned)(b < 1 ? 1 : b > cap ? cap : b);
}

#define UZ_CU_LOOP(i, n)                                                                   \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);               \
         i += (int64_t)blockDim.x * gridDim.x)

// Sum or max of v over a block whose size is a multiple of 32 (sh: 32
// shared elements), returned to every thread; the order of the operations
// is fixed by the block shape, so it is deterministic.
template <typename T, typename Op>
__device__ inline T uz_cu_block_reduce(T v, Op op, T *sh)
{
    for (int o = 16; o > 0; o /= 2)
        v = op(v, __shfl_down_sync(0xffffffffu, v, o));
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    __syncthreads(); // sh may still be read by a previous reduction
    if (lane == 0)
        sh[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < warps ? sh[lane] : sh[0];
        for (int o = 16; o > 0; o /= 2) {
            T other = __shfl_down_sync(0xffffffffu, v, o);
            v = lane + o < warps ? op(v, other) : v;
        }
        if (lane == 0)
            sh[0] = v;
    }
    __syncthreads();
    return sh[0];
}

struct uz_cu_add {
    template <typename T>
    __device__ T operator()(T a, T b) const
    {
        return a + b;
    }
};

struct uz_cu_max {
    __device__ float operator()(float a, float b) const { return b > a ? b : a; }
};

// max as fmaxf: a NaN loses to a number (uz_cu_max returns a when either is NaN).
struct uz_cu_fmax {
    __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

// Shapes and strides handed to kernels by value.
struct uz_cu_dims {
    int64_t v[UZ_MAX_DIMS];
};

// Host index array targets[0..n) grouped by value, for deterministic
// scatter-adds without atomics: the positions i with targets[i] == tgt[u],
// in increasing order, are pos[start[u] .. start[u + 1]). Built on the host
// (stable sort) and uploaded through `slot`; positions whose target equals
// skip are left out (pass a value no index takes, e.g. -1, to keep all).
struct uz_cu_groups {
    const int32_t *tgt, *start, *pos; // device
    int64_t count;                    // distinct targets
};
bool uz_cu_group_by_target(const int32_t *targets, int64_t n, int32_t skip, int slot,
                           uz_cu_groups *g);

// Row-major GEMMs on cuBLAS (blas.cu), for the other families' use.
void uz_cu_gemm_batched(int64_t batch, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                        float alpha, const float *a, int64_t lda, int64_t stride_a,
                        const float *b, int64_t ldb, int64_t stride_b, float beta, float *c,
                        int64_t ldc, int64_t stride_c);

extern const struct uz_kernels_copy uz_cuda_kernels_copy;
extern const struct uz_kernels_blas uz_cuda_kernels_blas;
extern const struct uz_kernels_elementwise uz_cuda_kernels_elementwise;
extern const struct uz_kernels_reduce uz_cuda_kernels_reduce;
extern const struct uz_kernels_nn uz_cuda_kernels_nn;
extern const struct uz_kernels_index uz_cuda_kernels_index;
extern const struct uz_kernels_conv uz_cuda_kernels_conv;
extern const struct uz_kernels_attention uz_cuda_kernels_attention;

#endif
