/* Tensor creation and queries. */
#include "tensor.h"

#include "alloc.h"
#include "backend.h"
#include "device.h"
#include "kernels.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static uz_status check_shape(int ndim, const int64_t *shape)
{
    if (ndim < 0 || ndim > UZ_MAX_DIMS)
        return UZ_FAIL(UZ_ERR_ARG, "tensor: %d dims, at most %d supported", ndim, UZ_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0)
            return UZ_FAIL(UZ_ERR_ARG, "tensor: negative size %lld in dim %d",
                           (long long)shape[i], i);
    return UZ_OK;
}

static void set_contiguous_strides(uz_tensor *t)
{
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        t->stride[i] = s;
        s *= t->shape[i];
    }
}

uz_tensor *uz_tensor_wrap(uz_ctx *ctx, int ndim, const int64_t *shape, float *data)
{
    if (check_shape(ndim, shape) != UZ_OK)
        return NULL;
    uz_tensor *t = uz_ctx_zalloc(ctx, sizeof *t);
    if (!t)
        return NULL;
    t->ndim = ndim;
    memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
    set_contiguous_strides(t);
    t->data = data;
    t->device = uz_ctx_device(ctx);
    return t;
}

uz_tensor *uz_tensor_empty_on(uz_ctx *ctx, uz_device dev, int ndim, const int64_t *shape)
{
    if (check_shape(ndim, shape) != UZ_OK)
        return NULL;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    float *data = uz_ctx_alloc_on(ctx, dev, sizeof(float) * (size_t)n);
    if (!data)
        return NULL;
    uz_tensor *t = uz_tensor_wrap(ctx, ndim, shape, data);
    if (t)
        t->device = dev;
    return t;
}

uz_tensor *uz_tensor_empty(uz_ctx *ctx, int ndim, const int64_t *shape)
{
    return uz_tensor_empty_on(ctx, uz_ctx_device(ctx), ndim, shape);
}

uz_tensor *uz_tensor_zeros(uz_ctx *ctx, int ndim, const int64_t *shape)
{
    return uz_tensor_full(ctx, ndim, shape, 0.0f);
}

uz_tensor *uz_tensor_full(uz_ctx *ctx, int ndim, const int64_t *shape, float value)
{
    uz_tensor *t = uz_tensor_empty(ctx, ndim, shape);
    if (t)
        uz_backend_for(t->device)->copy->fill(t->data, value, uz_tensor_numel(t));
    return t;
}

uz_tensor *uz_tensor_from(uz_ctx *ctx, int ndim, const int64_t *shape, const float *values)
{
    uz_tensor *t = uz_tensor_empty(ctx, ndim, shape);
    if (t && uz_memcpy(t->data, t->device, values, UZ_DEVICE_CPU,
                       sizeof(float) * (size_t)uz_tensor_numel(t)) != UZ_OK)
        return NULL;
    return t;
}

uz_tensor *uz_tensor_like(uz_ctx *ctx, const uz_tensor *t)
{
    return uz_tensor_empty(ctx, t->ndim, t->shape);
}

void uz_tensor_set_requires_grad(uz_tensor *t, bool on) { t->requires_grad = on; }

int64_t uz_tensor_numel(const uz_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

bool uz_tensor_is_contiguous(const uz_tensor *t)
{
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s)
            return false;
        s *= t->shape[i];
    }
    return true;
}

bool uz_tensor_same_shape(const uz_tensor *a, const uz_tensor *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return false;
    return true;
}

const char *uz_shape_str(const uz_tensor *t, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    len += (size_t)snprintf(buf + len, n - len, "[");
    for (int i = 0; i < t->ndim && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, i ? ",%lld" : "%lld", (long long)t->shape[i]);
    if (len < n)
        snprintf(buf + len, n - len, "]");
    return buf;
}

float uz_tensor_get(const uz_tensor *t, const int64_t *idx)
{
    int64_t off = 0;
    for (int i = 0; i < t->ndim; i++)
        off += idx[i] * t->stride[i];
    if (t->device == UZ_DEVICE_CPU)
        return t->data[off];
    float v;
    if (uz_memcpy(&v, UZ_DEVICE_CPU, t->data + off, t->device, sizeof v) != UZ_OK)
        return NAN;
    return v;
}

void uz_tensor_copy_out(const uz_tensor *t, float *out)
{
    if (t->device == UZ_DEVICE_CPU) {
        uz_backend_for(t->device)->copy->gather(out, t->data, t->ndim, t->shape, t->stride);
        return;
    }
    int64_t n = uz_tensor_numel(t);
    if (n == 0)
        return;
    if (uz_tensor_is_contiguous(t)) {
        uz_memcpy(out, UZ_DEVICE_CPU, t->data, t->device, sizeof(float) * (size_t)n);
        return;
    }
    /* A strided view: bring the span it reads (strides are never negative)
     * to the host and gather there. */
    int64_t span = 1;
    for (int i = 0; i < t->ndim; i++)
        span += (t->shape[i] - 1) * t->stride[i];
    float *host = uz_malloc(sizeof(float) * (size_t)span, "copy_out staging");
    if (!host)
        return;
    if (uz_memcpy(host, UZ_DEVICE_CPU, t->data, t->device, sizeof(float) * (size_t)span) == UZ_OK)
        uz_backend_for(UZ_DEVICE_CPU)->copy->gather(out, host, t->ndim, t->shape, t->stride);
    uz_free(host);
}
