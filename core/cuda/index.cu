// Concat, index_select and gather on CUDA. Index arrays arrive in host
// memory and are uploaded. The backward scatter-adds give each target
// element to one thread, which adds its sources in index order: the CPU's
// sums, without atomics.
#include "cuda_internal.h"

namespace {

constexpr int THREADS = 256;
// Upload slots (runtime.cu) apart from the nn family's 0 and 1.
constexpr int IDX_SLOT = 2;

__global__ void concat_kernel(float *dst, const float *src, int64_t outer, int64_t n_dst,
                              int64_t off, int64_t n_src, int64_t inner)
{
    int64_t row = n_src * inner;
    UZ_CU_LOOP(e, outer * row)
    {
        int64_t o = e / row, k = e % row;
        dst[(o * n_dst + off) * inner + k] = src[e];
    }
}

__global__ void concat_backward_kernel(float *dsrc, const float *ddst, int64_t outer,
                                       int64_t n_dst, int64_t off, int64_t n_src, int64_t inner)
{
    int64_t row = n_src * inner;
    UZ_CU_LOOP(e, outer * row)
    {
        int64_t o = e / row, k = e % row;
        dsrc[e] += ddst[(o * n_dst + off) * inner + k];
    }
}

__global__ void index_select_kernel(float *dst, const float *src, const int32_t *idx,
                                    int64_t n_idx, int64_t outer, int64_t n_src, int64_t inner)
{
    UZ_CU_LOOP(e, outer * n_idx * inner)
    {
        int64_t i = e % inner, q = e / inner;
        int64_t j = q % n_idx, o = q / n_idx;
        dst[e] = src[(o * n_src + idx[j]) * inner + i];
    }
}

// Thread per (outer row, distinct index, column): that index's rows of
// ddst in order of j.
__global__ void index_select_backward_kernel(float *dsrc, const float *ddst, uz_cu_groups g,
                                             int64_t n_idx, int64_t outer, int64_t n_src,
                                             int64_t inner)
{
    UZ_CU_LOOP(e, outer * g.count * inner)
    {
        int64_t i = e % inner, q = e / inner;
        int64_t u = q % g.count, o = q / g.count;
        float *d = dsrc + (o * n_src + g.tgt[u]) * inner + i;
        float acc = *d;
        for (int32_t k = g.start[u]; k < g.start[u + 1]; k++)
            acc += ddst[(o * n_idx + g.pos[k]) * inner + i];
        *d = acc;
    }
}

// gather's index space [outer, n, inner] around dim and the source strides
// (the source may be larger than the index outside dim), as on the CPU.
struct ggeom {
    int64_t outer, n, inner;
    uz_cu_dims ishape, sstride;
    int ndim, dim;
};

ggeom geometry(int ndim, const int64_t *index_shape, const int64_t *src_shape, int dim)
{
    ggeom g = {};
    g.outer = g.inner = 1;
    g.ndim = ndim;
    g.dim = dim;
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        g.sstride.v[d] = s;
        s *= src_shape[d];
        g.ishape.v[d] = index_shape[d];
    }
    for (int d = 0; d < dim; d++)
        g.outer *= index_shape[d];
    for (int d = dim + 1; d < ndim; d++)
        g.inner *= index_shape[d];
    g.n = index_shape[dim];
    return g;
}

// Source offset of index coordinates in dims [lo, hi) at flat position flat.
__device__ int64_t src_offset(const ggeom &g, int64_t flat, int lo, int hi)
{
    int64_t off = 0;
    for (int d = hi - 1; d >= lo; d--) {
        off += (flat % g.ishape.v[d]) * g.sstride.v[d];
        flat /= g.ishape.v[d];
    }
    return off;
}

__global__ void gather_kernel(float *dst, const float *src, const int32_t *index, ggeom g)
{
    int64_t sd = g.sstride.v[g.dim];
    UZ_CU_LOOP(e, g.outer * g.n * g.inner)
    {
        int64_t i = e % g.inner, o = e / g.inner / g.n;
        dst[e] = src[src_offset(g, o, 0, g.dim) + src_offset(g, i, g.dim + 1, g.ndim) +
                     (int64_t)index[e] * sd];
    }
}

// Thread per (o, i): distinct (o, i) reach distinct source elements, and
// each walks j in order.
__global__ void gather_backward_kernel(float *dsrc, const float *ddst, const int32_t *index,
                                       ggeom g)
{
    int64_t sd = g.sstride.v[g.dim];
    UZ_CU_LOOP(t, g.outer * g.inner)
    {
        int64_t i = t % g.inner, o = t / g.inner;
        float *d = dsrc + src_offset(g, o, 0, g.dim) + src_offset(g, i, g.dim + 1, g.ndim);
        for (int64_t j = 0; j < g.n; j++) {
            int64_t e = (o * g.n + j) * g.inner + i;
            d[(int64_t)index[e] * sd] += ddst[e];
        }
    }
}

void cu_concat_piece(float *dst, const float *src, int64_t outer, int64_t n_dst, int64_t off,
                     int64_t n_src, int64_t inner)
{
    int64_t n = outer * n_src * inner;
    if (n == 0)
        return;
    concat_kernel<<<uz_cu_blocks(n, THREADS), THREADS, 0, uz_cu_stream()>>>(dst, src, outer,
                                                                             n_dst, off, n_src,
                                                                             inner);
    uz_cu_launched("concat");
}

void cu_concat_piece_backward(float *dsrc, const float *ddst, int64_t outer, int64_t n_dst,
                              int64_t off, int64_t n_src, int64_t inner)
{
    int64_t n = outer * n_src * inner;
    if (n == 0)
        return;
    concat_backward_kernel<<<uz_cu_blocks(n, THREADS), THREADS, 0, uz_cu_stream()>>>(
        dsrc, ddst, outer, n_dst, off, n_src, inner);
    uz_cu_launched("concat_backward");
}

void cu_index_select(float *dst, const float *src, const int32_t *idx, int64_t n_idx,
                     int64_t outer, int64_t n_src, int64_t inner)
{
    int64_t n = outer * n_idx * inner;
    if (n == 0)
        return;
    const int32_t *d_idx = uz_cu_upload_i32(idx, n_idx, IDX_SLOT);
    if (!d_idx)
        return;
    index_select_kernel<<<uz_cu_blocks(n, THREADS), THREADS, 0, uz_cu_stream()>>>(
        dst, src, d_idx, n_idx, outer, n_src, inner);
    uz_cu_launched("index_select");
}

void cu_index_select_backward(float *dsrc, const float *ddst, const int32_t *idx, int64_t n_idx,
                              int64_t outer, int64_t n_src, int64_t inner)
{
    if (outer * n_idx * inner == 0)
        return;
    uz_cu_groups g;
    if (!uz_cu_group_by_target(idx, n_idx, -1, IDX_SLOT, &g))
        return;
    int64_t n = outer * g.count * inner;
    index_select_backward_kernel<<<uz_cu_blocks(n, THREADS), THREADS, 0, uz_cu_stream()>>>(
        dsrc, ddst, g, n_idx, outer, n_src, inner);
    uz_cu_launched("index_select_backward");
}

void cu_gather(float *dst, const float *src, const int32_t *index, int ndim,
               const int64_t *index_shape, const int64_t *src_shape, int dim)
{
    ggeom g = geometry(ndim, index_shape, src_shape, dim);
    int64_t n = g.outer * g.n * g.inner;
    if (n == 0)
        return;
    const int32_t *d_index = uz_cu_upload_i32(index, n, IDX_SLOT);
    if (!d_index)
        return;
    gather_kernel<<<uz_cu_blocks(n, THREADS), THREADS, 0, uz_cu_stream()>>>(dst, src, d_index,
                                                                             g);
    uz_cu_launched("gather");
}

void cu_gather_backward(float *dsrc, const float *ddst, const int32_t *index, int ndim,
                        const int64_t *index_shape, const int64_t *src_shape, int dim)
{
    ggeom g = geometry(ndim, index_shape, src_shape, dim);
    int64_t n = g.outer * g.n * g.inner;
    if (n == 0)
        return;
    const int32_t *d_index = uz_cu_upload_i32(index, n, IDX_SLOT);
    if (!d_index)
        return;
    gather_backward_kernel<<<uz_cu_blocks(g.outer * g.inner, THREADS), THREADS, 0,
                             uz_cu_stream()>>>(dsrc, ddst, d_index, g);
    uz_cu_launched("gather_backward");
}

} // namespace

extern const struct uz_kernels_index uz_cuda_kernels_index;
const struct uz_kernels_index uz_cuda_kernels_index = {
    .concat_piece = cu_concat_piece,
    .concat_piece_backward = cu_concat_piece_backward,
    .index_select = cu_index_select,
    .index_select_backward = cu_index_select_backward,
    .gather = cu_gather,
    .gather_backward = cu_gather_backward,
};
