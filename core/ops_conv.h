/* Convolution and pooling over NCHW images. */
#ifndef UZ_OPS_CONV_H
#define UZ_OPS_CONV_H

#include "tensor.h"

typedef struct uz_conv2d_opts {
    int stride_h, stride_w;   /* 0 means 1 */
    int pad_h, pad_w;         /* zero padding */
    int groups;               /* 0 means 1 */
} uz_conv2d_opts;

/* x [N, C, H, W], w [O, C/groups, KH, KW], bias [O] or NULL ->
 * [N, O, (H + 2 pad_h - KH) / stride_h + 1, ...]. */
uz_tensor *uz_conv2d(uz_ctx *ctx, uz_tensor *x, uz_tensor *w, uz_tensor *bias,
                     uz_conv2d_opts opts);

typedef struct uz_pool2d_opts {
    int kernel_h, kernel_w;
    int stride_h, stride_w;   /* 0 means the kernel size, as PyTorch */
    int pad_h, pad_w;         /* at most half the kernel */
} uz_pool2d_opts;

/* Max pooling (padding counts as -inf; the gradient goes to the first
 * maximum of each window) and average pooling (padding counted in the
 * divisor, PyTorch's count_include_pad=True). */
uz_tensor *uz_max_pool2d(uz_ctx *ctx, uz_tensor *x, uz_pool2d_opts opts);
uz_tensor *uz_avg_pool2d(uz_ctx *ctx, uz_tensor *x, uz_pool2d_opts opts);

/* Average over the adaptive windows of torch.nn.AdaptiveAvgPool2d:
 * rows [floor(i H / out_h), ceil((i+1) H / out_h)). */
uz_tensor *uz_adaptive_avg_pool2d(uz_ctx *ctx, uz_tensor *x, int out_h, int out_w);

#endif
