// Copy family on CUDA: strided gather and scatter-add over up to 5 dims,
// add and fill. scatter_add gives each target element to one thread, which
// adds the sources that land on it (stride-0 dims) in the CPU's order, so
// the result is the CPU's bit for bit.
#include "cuda_internal.h"

namespace {

constexpr int THREADS = 256;

__global__ void gather_kernel(float *dst, const float *src, int ndim, uz_cu_dims shape,
                              uz_cu_dims stride, int64_t n)
{
    UZ_CU_LOOP(i, n)
    {
        int64_t r = i, off = 0;
        for (int d = ndim - 1; d >= 0; d--) {
            off += (r % shape.v[d]) * stride.v[d];
            r /= shape.v[d];
        }
        dst[i] = src[off];
    }
}

// Threads own the targets named by the `kept` dims (distinct offsets); the
// `dup` dims (stride 0) are walked in row-major order inside the thread.
// Source offsets are contiguous over the full shape.
__global__ void scatter_add_kernel(float *dst, const float *src, int nk, uz_cu_dims ks,
                                   uz_cu_dims kst, uz_cu_dims ksrc, int nd, uz_cu_dims ds,
                                   uz_cu_dims dsrc, int64_t n_kept, int64_t n_dup)
{
    UZ_CU_LOOP(i, n_kept)
    {
        int64_t r = i, off = 0, soff = 0;
        for (int d = nk - 1; d >= 0; d--) {
            int64_t c = r % ks.v[d];
            r /= ks.v[d];
            off += c * kst.v[d];
            soff += c * ksrc.v[d];
        }
        float acc = dst[off];
        for (int64_t j = 0; j < n_dup; j++) {
            int64_t q = j, s = soff;
            for (int d = nd - 1; d >= 0; d--) {
                s += (q % ds.v[d]) * dsrc.v[d];
                q /= ds.v[d];
            }
            acc += src[s];
        }
        dst[off] = acc;
    }
}

__global__ void add_kernel(float *dst, const float *src, int64_t n)
{
    UZ_CU_LOOP(i, n) dst[i] += src[i];
}

__global__ void fill_kernel(float *dst, float value, int64_t n)
{
    UZ_CU_LOOP(i, n) dst[i] = value;
}

int64_t numel_of(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= shape[d];
    return n;
}

void cu_gather(float *dst, const float *src, int ndim, const int64_t *shape,
               const int64_t *src_stride)
{
    int64_t n = numel_of(ndim, shape);
    if (n == 0)
        return;
    bool contiguous = true;
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        contiguous = contiguous && (shape[d] == 1 || src_stride[d] == s);
        s *= shape[d];
    }
    if (contiguous) {
        uz_cu_ok(cudaMemcpyAsync(dst, src, sizeof(float) * (size_t)n, cudaMemcpyDeviceToDevice,
                                 uz_cu_stream()),
                 "gather");
        return;
    }
    uz_cu_dims sh = {}, st = {};
    for (int d = 0; d < ndim; d++) {
        sh.v[d] = shape[d];
        st.v[d] = src_stride[d];
    }
    gather_kernel<<<uz_cu_blocks(n, THREADS), THREADS, 0, uz_cu_stream()>>>(dst, src, ndim, sh,
                                                                             st, n);
    uz_cu_launched("gather");
}

void cu_scatter_add(float *dst, const int64_t *dst_stride, const float *src, int ndim,
                    const int64_t *shape)
{
    int64_t n = numel_of(ndim, shape);
    if (n == 0)
        return;
    uz_cu_dims ks = {}, kst = {}, ksrc = {}, ds = {}, dsrc = {};
    int nk = 0, nd = 0;
    int64_t n_kept = 1, n_dup = 1, cs = 1;
    int64_t contig[UZ_MAX_DIMS];
    for (int d = ndim - 1; d >= 0; d--) {
        contig[d] = cs;
        cs *= shape[d];
    }
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1)
            continue;
        if (dst_stride[d] == 0) {
            ds.v[nd] = shape[d];
            dsrc.v[nd++] = contig[d];
            n_dup *= shape[d];
        } else {
            ks.v[nk] = shape[d];
            kst.v[nk] = dst_stride[d];
            ksrc.v[nk++] = contig[d];
            n_kept *= shape[d];
        }
    }
    scatter_add_kernel<<<uz_cu_blocks(n_kept, THREADS), THREADS, 0, uz_cu_stream()>>>(
        dst, src, nk, ks, kst, ksrc, nd, ds, dsrc, n_kept, n_dup);
    uz_cu_launched("scatter_add");
}

void cu_add(float *dst, const float *src, int64_t n)
{
    if (n <= 0)
        return;
    add_kernel<<<uz_cu_blocks(n, THREADS), THREADS, 0, uz_cu_stream()>>>(dst, src, n);
    uz_cu_launched("add");
}

void cu_fill(float *dst, float value, int64_t n)
{
    if (n <= 0)
        return;
    fill_kernel<<<uz_cu_blocks(n, THREADS), THREADS, 0, uz_cu_stream()>>>(dst, value, n);
    uz_cu_launched("fill");
}

} // namespace

extern const struct uz_kernels_copy uz_cuda_kernels_copy;
const struct uz_kernels_copy uz_cuda_kernels_copy = {
    .gather = cu_gather,
    .scatter_add = cu_scatter_add,
    .add = cu_add,
    .fill = cu_fill,
};
