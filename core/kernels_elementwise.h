/* Elementwise kernels. Outputs and gradients are contiguous over the
 * (broadcast) output shape; the strided operands are read through their
 * strides, with stride 0 on broadcast dims, so broadcasting and transposed
 * views need no copy. Gradients are accumulated (+=) over the output shape;
 * summing them back to a broadcast input's shape is the reduce family's job. */
#ifndef UZ_KERNELS_ELEMENTWISE_H
#define UZ_KERNELS_ELEMENTWISE_H

#include <stdbool.h>
#include <stdint.h>

typedef enum uz_binary_op {
    UZ_BINARY_ADD,
    UZ_BINARY_SUB,
    UZ_BINARY_MUL,
    UZ_BINARY_DIV,
    UZ_BINARY_POW
} uz_binary_op;

/* The scalar ops take their scalar as the kernels' `s` argument. */
typedef enum uz_unary_op {
    UZ_UNARY_ADD_SCALAR,
    UZ_UNARY_MUL_SCALAR,
    UZ_UNARY_POW_SCALAR,
    UZ_UNARY_EXP,
    UZ_UNARY_LOG,
    UZ_UNARY_SQRT,
    UZ_UNARY_RELU,
    UZ_UNARY_SIGMOID,
    UZ_UNARY_TANH,
    UZ_UNARY_SILU,
    UZ_UNARY_GELU_ERF,
    UZ_UNARY_GELU_TANH,
    UZ_UNARY_ABS
} uz_unary_op;

struct uz_kernels_elementwise {
    /* out = a op b over `shape`. */
    void (*binary)(uz_binary_op op, float *out, const float *a, const int64_t *a_stride,
                   const float *b, const int64_t *b_stride, int ndim, const int64_t *shape);
    /* grad += gout * d(a op b)/d(a) (wrt 0) or d/d(b) (wrt 1); out is the
     * forward result. grad, gout and out are contiguous over shape. assign:
     * grad is written as if it held zeros. */
    void (*binary_backward)(uz_binary_op op, int wrt, bool assign, float *grad, const float *gout,
                            const float *out, const float *a, const int64_t *a_stride,
                            const float *b, const int64_t *b_stride, int ndim,
                            const int64_t *shape);
    /* out = f(a) over n contiguous elements. */
    void (*unary)(uz_unary_op op, float s, float *out, const float *a, int64_t n);
    /* grad += gout * f'(a); out = f(a) from the forward. assign: grad is
     * written as if it held zeros. */
    void (*unary_backward)(uz_unary_op op, float s, bool assign, float *grad, const float *gout,
                           const float *out, const float *a, int64_t n);
    /* out = cond != 0 ? a : b over `shape`. */
    void (*where)(float *out, const float *cond, const int64_t *cond_stride, const float *a,
                  const int64_t *a_stride, const float *b, const int64_t *b_stride, int ndim,
                  const int64_t *shape);
    /* grad += (cond != 0) == to_a ? gout : 0, grad and gout contiguous over shape. */
    void (*where_backward)(bool to_a, float *grad, const float *gout, const float *cond,
                           const int64_t *cond_stride, int ndim, const int64_t *shape);
};

#endif
