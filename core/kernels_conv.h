/* Kernel family `conv`: 2-D convolution and pooling over contiguous NCHW
 * buffers. Gradient outputs are accumulated (+=), as everywhere. */
#ifndef UZ_KERNELS_CONV_H
#define UZ_KERNELS_CONV_H

#include <stdint.h>

/* x [n, c, h, w] * w [o, c / groups, kh, kw] -> y [n, o, oh, ow]; the front-end
 * has checked the shapes and resolved the defaults (stride >= 1, groups >= 1). */
typedef struct uz_conv2d_geom {
    int64_t n, c, h, w;
    int64_t o, kh, kw;
    int64_t stride_h, stride_w, pad_h, pad_w, groups;
    int64_t oh, ow;
} uz_conv2d_geom;

/* Pooling windows of kh x kw at the given stride over x [n, c, h, w]
 * zero-/-inf-padded by pad_h, pad_w -> y [n, c, oh, ow]. */
typedef struct uz_pool2d_geom {
    int64_t n, c, h, w;
    int64_t kh, kw, stride_h, stride_w, pad_h, pad_w;
    int64_t oh, ow;
} uz_pool2d_geom;

struct uz_kernels_conv {
    /* Floats of scratch memory conv2d_forward and conv2d_backward need for
     * this geometry (0: they take a NULL workspace). */
    int64_t (*conv2d_workspace)(const uz_conv2d_geom *g);
    /* y = conv(x, w) + bias (bias may be NULL); y is overwritten. */
    void (*conv2d_forward)(const uz_conv2d_geom *g, const float *x, const float *w,
                           const float *bias, float *y, float *work);
    /* dx += d/dx, dw += d/dw, db += d/dbias of sum(y * dy); any of dx, dw, db
     * may be NULL to skip it. dw sums the batch in sample order whatever the
     * thread count, so it is deterministic. */
    void (*conv2d_backward)(const uz_conv2d_geom *g, const float *x, const float *w,
                            const float *dy, float *dx, float *dw, float *db, float *work);

    /* y = window maxima (padding never wins); argmax (may be NULL) receives
     * the in-plane index h * w_size + w of the first maximum of each window. */
    void (*max_pool2d_forward)(const uz_pool2d_geom *g, const float *x, float *y,
                               int64_t *argmax);
    void (*max_pool2d_backward)(const uz_pool2d_geom *g, const int64_t *argmax,
                                const float *dy, float *dx);
    /* Window means with padding counted in the divisor (kh * kw). */
    void (*avg_pool2d_forward)(const uz_pool2d_geom *g, const float *x, float *y);
    void (*avg_pool2d_backward)(const uz_pool2d_geom *g, const float *dy, float *dx);

    /* Adaptive means over `planes` planes of h x w -> oh x ow, with window
     * rows [floor(i h / oh), ceil((i + 1) h / oh)) and likewise columns. */
    void (*adaptive_avg_pool2d_forward)(int64_t planes, int64_t h, int64_t w, int64_t oh,
                                        int64_t ow, const float *x, float *y);
    void (*adaptive_avg_pool2d_backward)(int64_t planes, int64_t h, int64_t w, int64_t oh,
                                         int64_t ow, const float *dy, float *dx);
};

#endif
