/* Reduction kernels over a set of dims of a contiguous input. reduce[d]
 * marks the reduced dims; the output is contiguous over the kept dims in
 * order (so keepdim and dropped dims share one layout). Results depend on the
 * shape only, never on the number of threads. */
#ifndef UZ_KERNELS_REDUCE_H
#define UZ_KERNELS_REDUCE_H

#include <stdbool.h>
#include <stdint.h>

struct uz_kernels_reduce {
    /* out = scale * sum over the reduced dims, or out += that when
     * accumulate (how broadcast gradients are summed back). */
    void (*sum)(float *out, const float *in, int ndim, const int64_t *shape, const bool *reduce,
                float scale, bool accumulate);
    /* out = max over the reduced dims (a NaN wins, as in PyTorch); arg, when
     * not NULL, gets the flat index into in of the first maximal element.
     * Every reduced dim must be non-empty. */
    void (*max)(float *out, int64_t *arg, const float *in, int ndim, const int64_t *shape,
                const bool *reduce);
    /* grad (contiguous over shape) += scale * gout spread along the reduced
     * dims: sum's and mean's backward. */
    void (*sum_backward)(float *grad, const float *gout, int ndim, const int64_t *shape,
                         const bool *reduce, float scale);
    /* grad[arg[i]] += gout[i] for i < n: max's backward. */
    void (*max_backward)(float *grad, const float *gout, const int64_t *arg, int64_t n);
};

#endif
