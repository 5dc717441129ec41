/* The CPU pooling kernels (cpu/pool.c), gathered into uz_cpu_kernels_conv by
 * cpu/conv.c. */
#ifndef UZ_CPU_POOL_H
#define UZ_CPU_POOL_H

#include "../kernels_conv.h"

void uz_cpu_max_pool2d_forward(const uz_pool2d_geom *g, const float *x, float *y,
                               int64_t *argmax);
void uz_cpu_max_pool2d_backward(const uz_pool2d_geom *g, const int64_t *argmax,
                                const float *dy, float *dx);
void uz_cpu_avg_pool2d_forward(const uz_pool2d_geom *g, const float *x, float *y);
void uz_cpu_avg_pool2d_backward(const uz_pool2d_geom *g, const float *dy, float *dx);
void uz_cpu_adaptive_avg_pool2d_forward(int64_t planes, int64_t h, int64_t w, int64_t oh,
                                        int64_t ow, const float *x, float *y);
void uz_cpu_adaptive_avg_pool2d_backward(int64_t planes, int64_t h, int64_t w, int64_t oh,
                                         int64_t ow, const float *dy, float *dx);

#endif
