/* Device placement of a context's tensors, the device arena, cross-device
 * copies and uz_tensor_to. The CUDA work itself is in core/cuda/. */
#include "device.h"

#include "alloc.h"
#include "autograd.h"
#include "backend.h"
#include "context.h"
#include "kernels.h"

#include <string.h>

#ifdef UZ_HAVE_CUDA
#include "cuda/cuda_api.h"
#endif

#ifndef UZ_HAVE_CUDA
int uz_cuda_device_count(void) { return 0; }
bool uz_cuda_set_tf32(bool on)
{
    (void)on;
    return false;
}
#endif

/* Fails unless dev can hold memory in this build, on this machine. */
static uz_status device_usable(uz_device dev, const char *what)
{
    if (dev == UZ_DEVICE_CPU)
        return UZ_OK;
#ifdef UZ_HAVE_CUDA
    if (dev == UZ_DEVICE_CUDA) {
        if (uz_cuda_device_count() > 0)
            return UZ_OK;
        return UZ_FAIL(UZ_ERR_DEVICE, "%s: no CUDA device is present", what);
    }
    return UZ_FAIL(UZ_ERR_DEVICE, "%s: unknown device %d", what, (int)dev);
#else
    return UZ_FAIL(UZ_ERR_DEVICE, "%s: device %s needs a build with CUDA (UZ_CUDA=ON)", what,
                   uz_device_name(dev));
#endif
}

/* ---- raw memory ---------------------------------------------------------------- */

void *uz_device_malloc(uz_device dev, size_t bytes, const char *what)
{
    if (dev == UZ_DEVICE_CPU)
        return uz_malloc(bytes, what);
    if (device_usable(dev, what) != UZ_OK)
        return NULL;
#ifdef UZ_HAVE_CUDA
    return uz_cuda_malloc(bytes, what);
#else
    return NULL;
#endif
}

void uz_device_free(uz_device dev, void *p)
{
    if (dev == UZ_DEVICE_CPU) {
        uz_free(p);
        return;
    }
#ifdef UZ_HAVE_CUDA
    uz_cuda_free(p);
#else
    (void)p;
#endif
}

uz_status uz_memcpy(void *dst, uz_device dst_dev, const void *src, uz_device src_dev,
                    size_t bytes)
{
    if (bytes == 0)
        return UZ_OK;
    if (dst_dev == UZ_DEVICE_CPU && src_dev == UZ_DEVICE_CPU) {
        memcpy(dst, src, bytes);
        return UZ_OK;
    }
    uz_status st = device_usable(dst_dev, "memcpy");
    if (st == UZ_OK)
        st = device_usable(src_dev, "memcpy");
    if (st != UZ_OK)
        return st;
#ifdef UZ_HAVE_CUDA
    uz_cuda_copy_kind kind = src_dev == UZ_DEVICE_CPU   ? UZ_CUDA_H2D
                             : dst_dev == UZ_DEVICE_CPU ? UZ_CUDA_D2H
                                                        : UZ_CUDA_D2D;
    return uz_cuda_memcpy(dst, src, bytes, kind);
#else
    return UZ_FAIL(UZ_ERR_DEVICE, "memcpy: no device in this build");
#endif
}

uz_status uz_device_zero(uz_device dev, void *p, size_t bytes)
{
    if (dev == UZ_DEVICE_CPU) {
        memset(p, 0, bytes);
        return UZ_OK;
    }
    uz_status st = device_usable(dev, "zero");
    if (st != UZ_OK)
        return st;
#ifdef UZ_HAVE_CUDA
    return uz_cuda_zero(p, bytes);
#else
    return UZ_FAIL(UZ_ERR_DEVICE, "zero: no device in this build");
#endif
}

uz_status uz_device_sync(uz_device dev)
{
    if (dev == UZ_DEVICE_CPU)
        return UZ_OK;
    uz_status st = device_usable(dev, "sync");
    if (st != UZ_OK)
        return st;
#ifdef UZ_HAVE_CUDA
    return uz_cuda_sync();
#else
    return UZ_FAIL(UZ_ERR_DEVICE, "sync: no device in this build");
#endif
}

uint64_t uz_device_alloc_count(void)
{
#ifdef UZ_HAVE_CUDA
    return uz_cuda_alloc_count();
#else
    return 0;
#endif
}

/* ---- the context's device and device arena ------------------------------------ */

uz_status uz_ctx_set_device(uz_ctx *ctx, uz_device dev)
{
    uz_status st = device_usable(dev, "context device");
    if (st == UZ_OK)
        ctx->device = dev;
    return st;
}

uz_device uz_ctx_device(const uz_ctx *ctx) { return ctx->device; }

size_t uz_ctx_device_peak(const uz_ctx *ctx)
{
    return ctx->dev_arena ? uz_arena_peak(ctx->dev_arena) : 0;
}

void *uz_ctx_alloc_on(uz_ctx *ctx, uz_device dev, size_t bytes)
{
    if (dev == UZ_DEVICE_CPU)
        return uz_arena_alloc(ctx->arena, bytes);
    /* One device kind per build (CUDA), so one device arena per context. */
    if (!ctx->dev_arena) {
        if (device_usable(dev, "device arena") != UZ_OK)
            return NULL;
        ctx->dev_arena = uz_arena_new_on(dev, ctx->arena_bytes, ctx->arena_limit);
        if (!ctx->dev_arena)
            return NULL;
    }
    return uz_arena_alloc(ctx->dev_arena, bytes);
}

void *uz_ctx_zalloc_on(uz_ctx *ctx, uz_device dev, size_t bytes)
{
    void *p = uz_ctx_alloc_on(ctx, dev, bytes);
    if (p && uz_device_zero(dev, p, bytes) != UZ_OK)
        return NULL;
    return p;
}

/* ---- uz_tensor_to ----------------------------------------------------------------- */

static uz_status to_backward(uz_ctx *ctx, uz_node *node)
{
    uz_tensor *in = node->in[0], *out = node->out;
    bool fresh;
    float *g = uz_grad_buf_fresh(ctx, in, &fresh);
    if (!g)
        return uz_error_status();
    int64_t n = uz_tensor_numel(in);
    size_t bytes = sizeof(float) * (size_t)n;
    /* A fresh gradient takes the copy directly; otherwise it lands in
     * scratch on in's device and is added there. */
    float *dst = fresh ? g : uz_ctx_alloc_on(ctx, in->device, bytes);
    if (!dst)
        return uz_error_status();
    uz_status st = uz_memcpy(dst, in->device, out->grad->data, out->device, bytes);
    if (st != UZ_OK)
        return st;
    if (!fresh)
        uz_backend_for(in->device)->copy->add(g, dst, n);
    return UZ_OK;
}

uz_tensor *uz_tensor_to(uz_ctx *ctx, uz_tensor *t, uz_device dev)
{
    if (!t)
        return NULL;
    if (t->device == dev)
        return t;
    if (device_usable(dev, "to") != UZ_OK || device_usable(t->device, "to") != UZ_OK)
        return NULL;
    uz_tensor *src = uz_contiguous(ctx, t);
    if (!src)
        return NULL;
    uz_tensor *out = uz_tensor_empty_on(ctx, dev, src->ndim, src->shape);
    if (!out)
        return NULL;
    size_t bytes = sizeof(float) * (size_t)uz_tensor_numel(src);
    if (uz_memcpy(out->data, dev, src->data, src->device, bytes) != UZ_OK)
        return NULL;
    if (uz_needs_grad(ctx, 1, &src) && !uz_record(ctx, "to", to_backward, out, 1, &src, 0))
        return NULL;
    return out;
}
