/* Reductions over a set of dims (negative dims count from the end;
 * n_dims = 0 reduces over all dims). keepdim keeps reduced dims as size 1;
 * otherwise they are dropped (a full reduction gives a 0-d tensor). */
#ifndef UZ_OPS_REDUCE_H
#define UZ_OPS_REDUCE_H

#include "tensor.h"

uz_tensor *uz_sum(uz_ctx *ctx, uz_tensor *a, const int *dims, int n_dims, bool keepdim);
uz_tensor *uz_mean(uz_ctx *ctx, uz_tensor *a, const int *dims, int n_dims, bool keepdim);
/* The gradient goes to the first maximal element of each reduced group. */
uz_tensor *uz_max(uz_ctx *ctx, uz_tensor *a, const int *dims, int n_dims, bool keepdim);

#endif
