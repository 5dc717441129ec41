/* The first step of every reduction plan (CPU core/cpu/reduce.c, CUDA
 * core/cuda/reduce.cu): drop size-1 dims and merge neighbours that are both
 * kept or both reduced, so a contiguous run becomes one dim. */
#ifndef UZ_REDUCE_DIMS_H
#define UZ_REDUCE_DIMS_H

#include "tensor.h"

#include <stdbool.h>
#include <stdint.h>

/* shape[0..ndim) with reduce flags -> sh[0..m), red[0..m); returns m. */
static inline int uz_reduce_coalesce(int ndim, const int64_t *shape, const bool *reduce,
                                     int64_t sh[UZ_MAX_DIMS], bool red[UZ_MAX_DIMS])
{
    int m = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1)
            continue;
        if (m > 0 && red[m - 1] == reduce[d]) {
            sh[m - 1] *= shape[d];
        } else {
            sh[m] = shape[d];
            red[m++] = reduce[d];
        }
    }
    return m;
}

#endif
