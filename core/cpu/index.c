/* CPU kernels for concat, index_select and gather. Backward kernels that
 * can hit one target from several sources give each thread a disjoint set
 * of targets (whole outer rows, blocks of inner columns) and walk the
 * indices in order, so sums do not depend on the thread count. */
#include "kernels_cpu.h"

#include <string.h>

enum {
    PAR_WORK = 32768, /* elements below which threads cost more than they save */
    COL_BLOCK = 64    /* inner columns per task in the accumulating backward kernels */
};

static void cpu_concat_piece(float *dst, const float *src, int64_t outer, int64_t n_dst,
                             int64_t off, int64_t n_src, int64_t inner)
{
    int64_t row = n_src * inner;
#pragma omp parallel for if (outer * row > PAR_WORK && outer > 1) schedule(static)
    for (int64_t o = 0; o < outer; o++)
        memcpy(dst + (o * n_dst + off) * inner, src + o * row, sizeof(float) * (size_t)row);
}

static void cpu_concat_piece_backward(float *dsrc, const float *ddst, int64_t outer,
                                      int64_t n_dst, int64_t off, int64_t n_src, int64_t inner)
{
    int64_t row = n_src * inner;
#pragma omp parallel for collapse(2) if (outer * row > PAR_WORK) schedule(static)
    for (int64_t o = 0; o < outer; o++)
        for (int64_t e = 0; e < row; e++)
            dsrc[o * row + e] += ddst[(o * n_dst + off) * inner + e];
}

static void cpu_index_select(float *dst, const float *src, const int32_t *idx, int64_t n_idx,
                             int64_t outer, int64_t n_src, int64_t inner)
{
#pragma omp parallel for collapse(2) if (outer * n_idx * inner > PAR_WORK) schedule(static)
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < n_idx; j++)
            memcpy(dst + (o * n_idx + j) * inner, src + (o * n_src + idx[j]) * inner,
                   sizeof(float) * (size_t)inner);
}

static void cpu_index_select_backward(float *dsrc, const float *ddst, const int32_t *idx,
                                      int64_t n_idx, int64_t outer, int64_t n_src, int64_t inner)
{
    int64_t blocks = (inner + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for collapse(2) if (outer * n_idx * inner > PAR_WORK) schedule(static)
    for (int64_t o = 0; o < outer; o++)
        for (int64_t b = 0; b < blocks; b++) {
            int64_t i0 = b * COL_BLOCK, i1 = i0 + COL_BLOCK < inner ? i0 + COL_BLOCK : inner;
            for (int64_t j = 0; j < n_idx; j++) {
                float *d = dsrc + (o * n_src + idx[j]) * inner;
                const float *s = ddst + (o * n_idx + j) * inner;
                for (int64_t i = i0; i < i1; i++)
                    d[i] += s[i];
            }
        }
}

/* The index space of gather, seen as [outer, n, inner] around dim, and the
 * source strides; the source may be larger than the index outside dim. */
typedef struct gather_geom {
    int64_t outer, n, inner;
    int64_t sstride[UZ_MAX_DIMS];
    const int64_t *ishape;
    int ndim, dim;
    bool inner_dense; /* index and source agree after dim: inner offset = i */
} gather_geom;

static gather_geom gather_geometry(int ndim, const int64_t *index_shape,
                                   const int64_t *src_shape, int dim)
{
    gather_geom g = {.outer = 1, .inner = 1, .ishape = index_shape, .ndim = ndim, .dim = dim,
                     .inner_dense = true};
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        g.sstride[d] = s;
        s *= src_shape[d];
    }
    for (int d = 0; d < dim; d++)
        g.outer *= index_shape[d];
    for (int d = dim + 1; d < ndim; d++) {
        g.inner *= index_shape[d];
        g.inner_dense = g.inner_dense && index_shape[d] == src_shape[d];
    }
    g.n = index_shape[dim];
    return g;
}

/* Source offset of the index coordinates in dims [lo, hi) given their flat
 * (row-major) position within those dims. */
static int64_t src_offset(const gather_geom *g, int64_t flat, int lo, int hi)
{
    int64_t off = 0;
    for (int d = hi - 1; d >= lo; d--) {
        off += (flat % g->ishape[d]) * g->sstride[d];
        flat /= g->ishape[d];
    }
    return off;
}

static int64_t inner_offset(const gather_geom *g, int64_t i)
{
    return g->inner_dense ? i : src_offset(g, i, g->dim + 1, g->ndim);
}

static void cpu_gather(float *dst, const float *src, const int32_t *index, int ndim,
                       const int64_t *index_shape, const int64_t *src_shape, int dim)
{
    gather_geom g = gather_geometry(ndim, index_shape, src_shape, dim);
    int64_t sd = g.sstride[dim];
#pragma omp parallel for collapse(2) if (g.outer * g.n * g.inner > PAR_WORK) schedule(static)
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t j = 0; j < g.n; j++) {
            const float *s = src + src_offset(&g, o, 0, dim);
            int64_t row = (o * g.n + j) * g.inner;
            for (int64_t i = 0; i < g.inner; i++)
                dst[row + i] = s[inner_offset(&g, i) + (int64_t)index[row + i] * sd];
        }
}

static void cpu_gather_backward(float *dsrc, const float *ddst, const int32_t *index, int ndim,
                                const int64_t *index_shape, const int64_t *src_shape, int dim)
{
    gather_geom g = gather_geometry(ndim, index_shape, src_shape, dim);
    int64_t sd = g.sstride[dim];
    int64_t blocks = (g.inner + COL_BLOCK - 1) / COL_BLOCK;
    /* Distinct (o, i) reach distinct source elements, so tasks never share a target. */
#pragma omp parallel for collapse(2) if (g.outer * g.n * g.inner > PAR_WORK) schedule(static)
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t b = 0; b < blocks; b++) {
            float *d = dsrc + src_offset(&g, o, 0, dim);
            int64_t i0 = b * COL_BLOCK, i1 = i0 + COL_BLOCK < g.inner ? i0 + COL_BLOCK : g.inner;
            for (int64_t j = 0; j < g.n; j++) {
                int64_t row = (o * g.n + j) * g.inner;
                for (int64_t i = i0; i < i1; i++)
                    d[inner_offset(&g, i) + (int64_t)index[row + i] * sd] += ddst[row + i];
            }
        }
}

const struct uz_kernels_index uz_cpu_kernels_index = {
    .concat_piece = cpu_concat_piece,
    .concat_piece_backward = cpu_concat_piece_backward,
    .index_select = cpu_index_select,
    .index_select_backward = cpu_index_select_backward,
    .gather = cpu_gather,
    .gather_backward = cpu_gather_backward,
};
