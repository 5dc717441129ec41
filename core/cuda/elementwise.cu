// Elementwise family on CUDA, one thread per output element. Operands are
// read through their strides after the dims are coalesced on the host (size
// 1 dropped, chaining dims merged), as on the CPU. The formulas are the
// CPU's (core/cpu/elementwise.c) with CUDA's libm, which differs from
// glibc's by an ulp or two.
#include "cuda_internal.h"
#include "core/activation_terms.h"

#include <math.h>

namespace {

constexpr int THREADS = 256;
constexpr int MAX_OPS = 3; // where: cond, a, b

struct plan {
    int ndim;
    uz_cu_dims shape;
    uz_cu_dims st[MAX_OPS];
    int64_t n;
};

plan plan_make(int ndim, const int64_t *shape, int nops, const int64_t *s0,
               const int64_t *s1 = nullptr, const int64_t *s2 = nullptr)
{
    const int64_t *st[MAX_OPS] = {s0, s1, s2};
    plan p = {};
    int m = 0;
    p.n = 1;
    for (int d = 0; d < ndim; d++) {
        p.n *= shape[d];
        if (shape[d] == 1)
            continue;
        bool merge = m > 0;
        for (int k = 0; merge && k < nops; k++)
            merge = p.st[k].v[m - 1] == st[k][d] * shape[d];
        if (merge) {
            p.shape.v[m - 1] *= shape[d];
            for (int k = 0; k < nops; k++)
                p.st[k].v[m - 1] = st[k][d];
            continue;
        }
        p.shape.v[m] = shape[d];
        for (int k = 0; k < nops; k++)
            p.st[k].v[m] = st[k][d];
        m++;
    }
    p.ndim = m;
    return p;
}

// Offsets of element i (row-major over the plan's shape) in each operand.
template <int NOPS>
__device__ void offsets(const plan &p, int64_t i, int64_t *off)
{
    for (int k = 0; k < NOPS; k++)
        off[k] = 0;
    for (int d = p.ndim - 1; d >= 0; d--) {
        int64_t c = i % p.shape.v[d];
        i /= p.shape.v[d];
        for (int k = 0; k < NOPS; k++)
            off[k] += c * p.st[k].v[d];
    }
}

__device__ float binary_f(uz_binary_op op, float x, float y)
{
    switch (op) {
    case UZ_BINARY_ADD: return x + y;
    case UZ_BINARY_SUB: return x - y;
    case UZ_BINARY_MUL: return x * y;
    case UZ_BINARY_DIV: return x / y;
    case UZ_BINARY_POW: return powf(x, y);
    }
    return NAN;
}

// g * d(x op y)/dx (wrt 0) or /dy (wrt 1); z = x op y.
__device__ float binary_grad(uz_binary_op op, int wrt, float g, float z, float x, float y)
{
    switch (op) {
    case UZ_BINARY_ADD: return g;
    case UZ_BINARY_SUB: return wrt == 0 ? g : -g;
    case UZ_BINARY_MUL: return wrt == 0 ? g * y : g * x;
    case UZ_BINARY_DIV: return wrt == 0 ? g / y : -g * z / y;
    case UZ_BINARY_POW:
        if (wrt == 0)
            return y == 0.0f ? 0.0f : g * y * powf(x, y - 1.0f);
        return (x == 0.0f && y >= 0.0f) ? 0.0f : g * z * logf(x);
    }
    return NAN;
}

__device__ float unary_f(uz_unary_op op, float s, float x)
{
    switch (op) {
    case UZ_UNARY_ADD_SCALAR: return x + s;
    case UZ_UNARY_MUL_SCALAR: return x * s;
    case UZ_UNARY_POW_SCALAR: return s == 2.0f ? x * x : powf(x, s);
    case UZ_UNARY_EXP: return expf(x);
    case UZ_UNARY_LOG: return logf(x);
    case UZ_UNARY_SQRT: return sqrtf(x);
    case UZ_UNARY_RELU: return x <= 0.0f ? 0.0f : x;
    case UZ_UNARY_SIGMOID: return uz_sigmoid1(x);
    case UZ_UNARY_TANH: return tanhf(x);
    case UZ_UNARY_SILU: return x * uz_sigmoid1(x);
    case UZ_UNARY_GELU_ERF: return uz_gelu_erf1(x);
    case UZ_UNARY_GELU_TANH: return x * uz_gelu_tanh_sigmoid(x);
    case UZ_UNARY_ABS: return fabsf(x);
    }
    return NAN;
}

// g * f'(x); z = f(x).
__device__ float unary_grad(uz_unary_op op, float s, float g, float x, float z)
{
    switch (op) {
    case UZ_UNARY_ADD_SCALAR: return g;
    case UZ_UNARY_MUL_SCALAR: return g * s;
    case UZ_UNARY_POW_SCALAR:
        if (s == 0.0f)
            return 0.0f;
        return s == 2.0f ? g * 2.0f * x : g * s * powf(x, s - 1.0f);
    case UZ_UNARY_EXP: return g * z;
    case UZ_UNARY_LOG: return g / x;
    case UZ_UNARY_SQRT: return g / (2.0f * z);
    case UZ_UNARY_RELU: return z <= 0.0f ? 0.0f : g;
    case UZ_UNARY_SIGMOID: return g * (1.0f - z) * z;
    case UZ_UNARY_TANH: return g * (1.0f - z * z);
    case UZ_UNARY_SILU: return g * uz_silu1_grad(x);
    case UZ_UNARY_GELU_ERF: return g * uz_gelu_erf1_grad(x);
    case UZ_UNARY_GELU_TANH: return g * uz_gelu_tanh1_grad(x);
    case UZ_UNARY_ABS: return x > 0.0f ? g : (x < 0.0f ? -g : 0.0f);
    }
    return NAN;
}

__global__ void binary_kernel(uz_binary_op op, float *out, const float *a, const float *b,
                              plan p)
{
    UZ_CU_LOOP(i, p.n)
    {
        int64_t off[2];
        offsets<2>(p, i, off);
        out[i] = binary_f(op, a[off[0]], b[off[1]]);
    }
}

__global__ void binary_backward_kernel(uz_binary_op op, int wrt, bool assign, float *grad,
                                       const float *gout, const float *out, const float *a,
                                       const float *b, plan p)
{
    UZ_CU_LOOP(i, p.n)
    {
        int64_t off[2];
        offsets<2>(p, i, off);
        grad[i] = (assign ? 0.0f : grad[i]) +
                  binary_grad(op, wrt, gout[i], out[i], a[off[0]], b[off[1]]);
    }
}

__global__ void unary_kernel(uz_unary_op op, float s, float *out, const float *a, int64_t n)
{
    UZ_CU_LOOP(i, n) out[i] = unary_f(op, s, a[i]);
}

__global__ void unary_backward_kernel(uz_unary_op op, float s, bool assign, float *grad,
                                      const float *gout, const float *out, const float *a,
                                      int64_t n)
{
    UZ_CU_LOOP(i, n) grad[i] = (assign ? 0.0f : grad[i]) + unary_grad(op, s, gout[i], a[i], out[i]);
}

__global__ void where_kernel(float *out, const float *cond, const float *a, const float *b,
                             plan p)
{
    UZ_CU_LOOP(i, p.n)
    {
        int64_t off[3];
        offsets<3>(p, i, off);
        out[i] = cond[off[0]] != 0.0f ? a[off[1]] : b[off[2]];
    }
}

__global__ void where_backward_kernel(bool to_a, float *grad, const float *gout,
                                      const float *cond, plan p)
{
    UZ_CU_LOOP(i, p.n)
    {
        int64_t off[1];
        offsets<1>(p, i, off);
        grad[i] += (cond[off[0]] != 0.0f) == to_a ? gout[i] : 0.0f;
    }
}

bool known_binary(uz_binary_op op)
{
    if (op >= UZ_BINARY_ADD && op <= UZ_BINARY_POW)
        return true;
    uz_cu_fail("elementwise", "binary op not known to the CUDA backend");
    return false;
}

bool known_unary(uz_unary_op op)
{
    if (op >= UZ_UNARY_ADD_SCALAR && op <= UZ_UNARY_ABS)
        return true;
    uz_cu_fail("elementwise", "unary op not known to the CUDA backend");
    return false;
}

void cu_binary(uz_binary_op op, float *out, const float *a, const int64_t *a_stride,
               const float *b, const int64_t *b_stride, int ndim, const int64_t *shape)
{
    plan p = plan_make(ndim, shape, 2, a_stride, b_stride);
    if (p.n == 0 || !known_binary(op))
        return;
    binary_kernel<<<uz_cu_blocks(p.n, THREADS), THREADS, 0, uz_cu_stream()>>>(op, out, a, b, p);
    uz_cu_launched("binary");
}

void cu_binary_backward(uz_binary_op op, int wrt, bool assign, float *grad, const float *gout,
                        const float *out, const float *a, const int64_t *a_stride,
                        const float *b, const int64_t *b_stride, int ndim, const int64_t *shape)
{
    plan p = plan_make(ndim, shape, 2, a_stride, b_stride);
    if (p.n == 0 || !known_binary(op))
        return;
    binary_backward_kernel<<<uz_cu_blocks(p.n, THREADS), THREADS, 0, uz_cu_stream()>>>(
        op, wrt, assign, grad, gout, out, a, b, p);
    uz_cu_launched("binary_backward");
}

void cu_unary(uz_unary_op op, float s, float *out, const float *a, int64_t n)
{
    if (n <= 0 || !known_unary(op))
        return;
    unary_kernel<<<uz_cu_blocks(n, THREADS), THREADS, 0, uz_cu_stream()>>>(op, s, out, a, n);
    uz_cu_launched("unary");
}

void cu_unary_backward(uz_unary_op op, float s, bool assign, float *grad, const float *gout,
                       const float *out, const float *a, int64_t n)
{
    if (n <= 0 || !known_unary(op))
        return;
    unary_backward_kernel<<<uz_cu_blocks(n, THREADS), THREADS, 0, uz_cu_stream()>>>(
        op, s, assign, grad, gout, out, a, n);
    uz_cu_launched("unary_backward");
}

void cu_where(float *out, const float *cond, const int64_t *cond_stride, const float *a,
              const int64_t *a_stride, const float *b, const int64_t *b_stride, int ndim,
              const int64_t *shape)
{
    plan p = plan_make(ndim, shape, 3, cond_stride, a_stride, b_stride);
    if (p.n == 0)
        return;
    where_kernel<<<uz_cu_blocks(p.n, THREADS), THREADS, 0, uz_cu_stream()>>>(out, cond, a, b,
                                                                              p);
    uz_cu_launched("where");
}

void cu_where_backward(bool to_a, float *grad, const float *gout, const float *cond,
                       const int64_t *cond_stride, int ndim, const int64_t *shape)
{
    plan p = plan_make(ndim, shape, 1, cond_stride);
    if (p.n == 0)
        return;
    where_backward_kernel<<<uz_cu_blocks(p.n, THREADS), THREADS, 0, uz_cu_stream()>>>(
        to_a, grad, gout, cond, p);
    uz_cu_launched("where_backward");
}

} // namespace

extern const struct uz_kernels_elementwise uz_cuda_kernels_elementwise;
const struct uz_kernels_elementwise uz_cuda_kernels_elementwise = {
    .binary = cu_binary,
    .binary_backward = cu_binary_backward,
    .unary = cu_unary,
    .unary_backward = cu_unary_backward,
    .where = cu_where,
    .where_backward = cu_where_backward,
};
