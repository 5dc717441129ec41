/* Scalar activations and their derivatives shared by the CPU
 * (core/cpu/elementwise.c) and CUDA (core/cuda/elementwise.cu) kernels. */
#ifndef UZ_ACTIVATION_TERMS_H
#define UZ_ACTIVATION_TERMS_H

#include "host_device.h"

#include <math.h>

#define UZ_SQRT1_2 0.70710678118654752440f /* 1/sqrt(2) */
#define UZ_INV_SQRT_2PI 0.39894228040143267794f
#define UZ_SQRT_2_OVER_PI 0.79788456080286535588f
#define UZ_GELU_KAPPA 0.044715f

/* exp(-x) overflows to inf for x < -88 and the quotient rounds to 0: no NaN. */
UZ_HOST_DEVICE float uz_sigmoid1(float x) { return 1.0f / (1.0f + expf(-x)); }

UZ_HOST_DEVICE float uz_gelu_erf1(float x) { return 0.5f * x * (1.0f + erff(x * UZ_SQRT1_2)); }

UZ_HOST_DEVICE float uz_gelu_erf1_grad(float x)
{
    float cdf = 0.5f * (1.0f + erff(x * UZ_SQRT1_2));
    return cdf + x * UZ_INV_SQRT_2PI * expf(-0.5f * x * x);
}

/* GELU's tanh form 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3),
 * is evaluated as x * sigmoid(2u): the same function (1 + tanh(u) =
 * 2 sigmoid(2u)), one expf instead of a tanhf that is several times slower,
 * and no cancellation in 1 + tanh(u) for negative x. This is sigmoid(2u). */
UZ_HOST_DEVICE float uz_gelu_tanh_sigmoid(float x)
{
    return uz_sigmoid1(2.0f * UZ_SQRT_2_OVER_PI * (x + UZ_GELU_KAPPA * x * x * x));
}

/* d/dx x s(2u) = s + x s (1 - s) 2 u'. */
UZ_HOST_DEVICE float uz_gelu_tanh1_grad(float x)
{
    float s = uz_gelu_tanh_sigmoid(x);
    float du = UZ_SQRT_2_OVER_PI * (1.0f + 3.0f * UZ_GELU_KAPPA * x * x);
    return s + 2.0f * x * s * (1.0f - s) * du;
}

UZ_HOST_DEVICE float uz_silu1_grad(float x)
{
    float sg = uz_sigmoid1(x);
    return sg * (1.0f + x * (1.0f - sg));
}

#endif
