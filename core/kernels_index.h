/* Kernels for joining and indexing (concat, index_select, gather). Every
 * tensor buffer is contiguous; a tensor split around one dim is seen as
 * [outer, n, inner]. Index arrays are int32 in host memory and already
 * checked by the front-end. Backward kernels accumulate (+=). */
#ifndef UZ_KERNELS_INDEX_H
#define UZ_KERNELS_INDEX_H

#include <stdint.h>

struct uz_kernels_index {
    /* dst[o, off + j, i] = src[o, j, i] for src [outer, n_src, inner] placed
     * in dst [outer, n_dst, inner]. */
    void (*concat_piece)(float *dst, const float *src, int64_t outer, int64_t n_dst,
                         int64_t off, int64_t n_src, int64_t inner);
    /* dsrc[o, j, i] += ddst[o, off + j, i]. */
    void (*concat_piece_backward)(float *dsrc, const float *ddst, int64_t outer,
                                  int64_t n_dst, int64_t off, int64_t n_src, int64_t inner);
    /* dst[o, j, i] = src[o, idx[j], i]: src [outer, n_src, inner], dst [outer, n_idx, inner]. */
    void (*index_select)(float *dst, const float *src, const int32_t *idx, int64_t n_idx,
                         int64_t outer, int64_t n_src, int64_t inner);
    /* dsrc[o, idx[j], i] += ddst[o, j, i], repeated indices summed in order of j. */
    void (*index_select_backward)(float *dsrc, const float *ddst, const int32_t *idx,
                                  int64_t n_idx, int64_t outer, int64_t n_src, int64_t inner);
    /* dst (index's shape) = src[..., index[...], ...] along `dim` (torch.gather);
     * src has src_shape, index has index_shape, both ndim dims. */
    void (*gather)(float *dst, const float *src, const int32_t *index, int ndim,
                   const int64_t *index_shape, const int64_t *src_shape, int dim);
    /* dsrc[..., index[...], ...] += ddst[...], repeated targets summed in index order. */
    void (*gather_backward)(float *dsrc, const float *ddst, const int32_t *index, int ndim,
                            const int64_t *index_shape, const int64_t *src_shape, int dim);
};

#endif
