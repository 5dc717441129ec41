/* Max, average and adaptive average pooling on the CPU. Every kernel runs one
 * (sample, channel) plane per thread, so gradient sums have a fixed order. */
#include "pool.h"

#include <math.h>

/* Below this many window reads threads cost more than they save. */
enum { PAR_MIN_WORK = 1 << 16 };

/* Window of output position o along one axis, clipped to the input [0, size). */
static void window(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t size, int64_t *lo,
                   int64_t *hi)
{
    int64_t a = o * stride - pad, b = a + k;
    *lo = a < 0 ? 0 : a;
    *hi = b > size ? size : b;
}

void uz_cpu_max_pool2d_forward(const uz_pool2d_geom *g, const float *x, float *y,
                               int64_t *argmax)
{
    int64_t planes = g->n * g->c, H = g->h, W = g->w, OH = g->oh, OW = g->ow;
#pragma omp parallel for schedule(static) if (planes * OH * OW * g->kh * g->kw >= PAR_MIN_WORK)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + p * H * W;
        float *yp = y + p * OH * OW;
        for (int64_t oy = 0; oy < OH; oy++) {
            int64_t y0, y1;
            window(oy, g->stride_h, g->pad_h, g->kh, H, &y0, &y1);
            for (int64_t ox = 0; ox < OW; ox++) {
                int64_t x0, x1;
                window(ox, g->stride_w, g->pad_w, g->kw, W, &x0, &x1);
                /* Padding is at most half the kernel, so no window is all padding. */
                int64_t best_i = y0 * W + x0;
                float best = xp[best_i];
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++) {
                        float v = xp[iy * W + ix];
                        /* Strictly greater keeps the first maximum; a NaN wins (and
                         * stays), as in PyTorch. */
                        if (v > best || (isnan(v) && !isnan(best))) {
                            best = v;
                            best_i = iy * W + ix;
                        }
                    }
                yp[oy * OW + ox] = best;
                if (argmax)
                    argmax[p * OH * OW + oy * OW + ox] = best_i;
            }
        }
    }
}

void uz_cpu_max_pool2d_backward(const uz_pool2d_geom *g, const int64_t *argmax,
                                const float *dy, float *dx)
{
    int64_t planes = g->n * g->c, hw = g->h * g->w, ohw = g->oh * g->ow;
#pragma omp parallel for schedule(static) if (planes * ohw >= PAR_MIN_WORK)
    for (int64_t p = 0; p < planes; p++) {
        float *dxp = dx + p * hw;
        const float *dyp = dy + p * ohw;
        const int64_t *ap = argmax + p * ohw;
        for (int64_t i = 0; i < ohw; i++)
            dxp[ap[i]] += dyp[i];
    }
}

void uz_cpu_avg_pool2d_forward(const uz_pool2d_geom *g, const float *x, float *y)
{
    int64_t planes = g->n * g->c, H = g->h, W = g->w, OH = g->oh, OW = g->ow;
    /* Windows never reach past the padded input, so count_include_pad divides by kh * kw. */
    float scale = 1.0f / (float)(g->kh * g->kw);
#pragma omp parallel for schedule(static) if (planes * OH * OW * g->kh * g->kw >= PAR_MIN_WORK)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + p * H * W;
        float *yp = y + p * OH * OW;
        for (int64_t oy = 0; oy < OH; oy++) {
            int64_t y0, y1;
            window(oy, g->stride_h, g->pad_h, g->kh, H, &y0, &y1);
            for (int64_t ox = 0; ox < OW; ox++) {
                int64_t x0, x1;
                window(ox, g->stride_w, g->pad_w, g->kw, W, &x0, &x1);
                float acc = 0.0f;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++)
                        acc += xp[iy * W + ix];
                yp[oy * OW + ox] = acc * scale;
            }
        }
    }
}

void uz_cpu_avg_pool2d_backward(const uz_pool2d_geom *g, const float *dy, float *dx)
{
    int64_t planes = g->n * g->c, H = g->h, W = g->w, OH = g->oh, OW = g->ow;
    float scale = 1.0f / (float)(g->kh * g->kw);
#pragma omp parallel for schedule(static) if (planes * OH * OW * g->kh * g->kw >= PAR_MIN_WORK)
    for (int64_t p = 0; p < planes; p++) {
        float *dxp = dx + p * H * W;
        const float *dyp = dy + p * OH * OW;
        for (int64_t oy = 0; oy < OH; oy++) {
            int64_t y0, y1;
            window(oy, g->stride_h, g->pad_h, g->kh, H, &y0, &y1);
            for (int64_t ox = 0; ox < OW; ox++) {
                int64_t x0, x1;
                window(ox, g->stride_w, g->pad_w, g->kw, W, &x0, &x1);
                float d = dyp[oy * OW + ox] * scale;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++)
                        dxp[iy * W + ix] += d;
            }
        }
    }
}

/* PyTorch's adaptive window along one axis: [floor(o size / out), ceil((o + 1) size / out)). */
static void adaptive_window(int64_t o, int64_t out, int64_t size, int64_t *lo, int64_t *hi)
{
    *lo = o * size / out;
    *hi = ((o + 1) * size + out - 1) / out;
}

void uz_cpu_adaptive_avg_pool2d_forward(int64_t planes, int64_t h, int64_t w, int64_t oh,
                                        int64_t ow, const float *x, float *y)
{
#pragma omp parallel for schedule(static) if (planes * h * w >= PAR_MIN_WORK)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + p * h * w;
        float *yp = y + p * oh * ow;
        for (int64_t oy = 0; oy < oh; oy++) {
            int64_t y0, y1;
            adaptive_window(oy, oh, h, &y0, &y1);
            for (int64_t ox = 0; ox < ow; ox++) {
                int64_t x0, x1;
                adaptive_window(ox, ow, w, &x0, &x1);
                float acc = 0.0f;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++)
                        acc += xp[iy * w + ix];
                yp[oy * ow + ox] = acc / (float)((y1 - y0) * (x1 - x0));
            }
        }
    }
}

void uz_cpu_adaptive_avg_pool2d_backward(int64_t planes, int64_t h, int64_t w, int64_t oh,
                                         int64_t ow, const float *dy, float *dx)
{
#pragma omp parallel for schedule(static) if (planes * h * w >= PAR_MIN_WORK)
    for (int64_t p = 0; p < planes; p++) {
        float *dxp = dx + p * h * w;
        const float *dyp = dy + p * oh * ow;
        for (int64_t oy = 0; oy < oh; oy++) {
            int64_t y0, y1;
            adaptive_window(oy, oh, h, &y0, &y1);
            for (int64_t ox = 0; ox < ow; ox++) {
                int64_t x0, x1;
                adaptive_window(ox, ow, w, &x0, &x1);
                float d = dyp[oy * ow + ox] / (float)((y1 - y0) * (x1 - x0));
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++)
                        dxp[iy * w + ix] += d;
            }
        }
    }
}
