/* Devices: where a context creates its tensors, explicit copies between host
 * and device memory, and raw device memory for long-lived buffers.
 *
 * A context creates every tensor on its device (uz_ctx_set_device; CPU by
 * default): uz_tensor_empty and the other creators, and so the output of
 * every op. An op therefore runs with its context set to its inputs' device.
 * Gradients, views and contiguous copies always live on their tensor's
 * device, and kernel scratch on the device of the tensor it serves, so a
 * backward pass needs no device switch. Data crosses devices only through
 * uz_tensor_to (differentiable), uz_tensor_from / uz_tensor_copy_out /
 * uz_tensor_get (host values in and out), uz_params_to and uz_memcpy.
 *
 * Device work is queued on one CUDA stream, in order; a copy to the host
 * waits for it. Failures of queued work surface at the next copy to the host
 * or uz_device_sync. */
#ifndef UZ_DEVICE_H
#define UZ_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

/* Number of CUDA devices; 0 without a GPU or in a build without CUDA. It
 * initialises CUDA, which must not happen before Check forks a test: call it
 * only from suites run with CK_FORK=no. */
int uz_cuda_device_count(void);

/* TF32 tensor-core math for f32 GEMMs and convolutions on CUDA (about 10
 * mantissa bits per product instead of 23, several times faster). Off by
 * default, so CUDA results match the CPU to f32 rounding; the environment
 * variable UZ_CUDA_TF32=1 turns it on at start-up. Returns the previous
 * setting; always false in a build without CUDA. */
bool uz_cuda_set_tf32(bool on);

/* The device the context creates tensors on; fails (and keeps the old one)
 * when that device is not available. */
uz_status uz_ctx_set_device(uz_ctx *ctx, uz_device dev);
uz_device uz_ctx_device(const uz_ctx *ctx);
/* Peak bytes of the context's device arena (0 before its first use). */
size_t uz_ctx_device_peak(const uz_ctx *ctx);

/* Step-lifetime memory on dev (64-byte aligned; zeroed for zalloc). Device
 * memory comes from the context's device arena, which allocates in chunks
 * that uz_ctx_reset keeps, so a repeated step allocates nothing. */
void *uz_ctx_alloc_on(uz_ctx *ctx, uz_device dev, size_t bytes);
void *uz_ctx_zalloc_on(uz_ctx *ctx, uz_device dev, size_t bytes);

/* uz_tensor_empty on a given device. */
uz_tensor *uz_tensor_empty_on(uz_ctx *ctx, uz_device dev, int ndim, const int64_t *shape);

/* Contiguous copy of t on dev (t itself when it is already there);
 * differentiable: the gradient is copied back to t's device. */
uz_tensor *uz_tensor_to(uz_ctx *ctx, uz_tensor *t, uz_device dev);

/* Long-lived raw memory on dev (the parameter store's); NULL with the error
 * set on failure. CPU memory is uz_malloc's. */
void *uz_device_malloc(uz_device dev, size_t bytes, const char *what);
void uz_device_free(uz_device dev, void *p);

/* Copies bytes between any two devices; a copy to the host waits for the
 * device work queued before it. */
uz_status uz_memcpy(void *dst, uz_device dst_dev, const void *src, uz_device src_dev,
                    size_t bytes);
uz_status uz_device_zero(uz_device dev, void *p, size_t bytes);

/* Waits for the device's queued work and reports any failure in it. */
uz_status uz_device_sync(uz_device dev);

/* Device memory allocations made so far (cudaMalloc calls): a repeated step
 * must leave it unchanged. */
uint64_t uz_device_alloc_count(void);

#endif
