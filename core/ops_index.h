/* Joining, splitting and indexing. Index arrays are int32 and checked:
 * an index out of range is an error naming its position and the bound. */
#ifndef UZ_OPS_INDEX_H
#define UZ_OPS_INDEX_H

#include "tensor.h"

/* Joins n tensors along dim; all other dims must match. */
uz_tensor *uz_concat(uz_ctx *ctx, uz_tensor *const *ts, int n, int dim);

/* Splits dim into n pieces of the given sizes (which must add up to the
 * dim's size) as views, written to out[0..n). */
uz_status uz_split(uz_ctx *ctx, uz_tensor *t, int dim, const int64_t *sizes, int n,
                   uz_tensor **out);

/* The n_idx slices idx[i] of t along dim (torch.index_select); repeated
 * indices accumulate their gradients. */
uz_tensor *uz_index_select(uz_ctx *ctx, uz_tensor *t, int dim, const int32_t *idx,
                           int64_t n_idx);

/* torch.gather: out has the index's shape (same ndim as t, every dim but
 * `dim` no larger than t's) and out[i..][j][k..] = t[i..][index[i..][j][k..]][k..]. */
uz_tensor *uz_gather(uz_ctx *ctx, uz_tensor *t, int dim, const int32_t *index, int ndim,
                     const int64_t *index_shape);

#endif
