/* Parameter store. */
#include "params.h"

#include "alloc.h"
#include "backend.h"
#include "device.h"
#include "rng.h"

#include <string.h>

struct uz_params {
    uz_tensor **t;
    int n, cap;
    int64_t numel;
    float *data, *grad;
    uz_tensor *grads;     /* gradient tensor structs, one per parameter */
    uz_device device;     /* where data and grad live */
};

uz_params *uz_params_new(void) { return uz_calloc(sizeof(uz_params), "parameter store"); }

void uz_params_free(uz_params *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n; i++) {
        uz_free((void *)p->t[i]->name);
        uz_free(p->t[i]);
    }
    uz_free(p->t);
    uz_free(p->grads);
    uz_device_free(p->device, p->data);
    uz_device_free(p->device, p->grad);
    uz_free(p);
}

uz_tensor *uz_params_add(uz_params *p, const char *name, int ndim, const int64_t *shape)
{
    if (p->data) {
        UZ_FAIL(UZ_ERR_ARG, "params: cannot add '%s' after finalize", name);
        return NULL;
    }
    if (ndim < 0 || ndim > UZ_MAX_DIMS) {
        UZ_FAIL(UZ_ERR_ARG, "params: '%s' has %d dims, at most %d supported", name, ndim, UZ_MAX_DIMS);
        return NULL;
    }
    if (uz_params_find(p, name)) {
        UZ_FAIL(UZ_ERR_ARG, "params: duplicate parameter name '%s'", name);
        return NULL;
    }
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 16;
        uz_tensor **t = uz_malloc(sizeof *t * (size_t)cap, "parameter list");
        if (!t)
            return NULL;
        if (p->n)
            memcpy(t, p->t, sizeof *t * (size_t)p->n);
        uz_free(p->t);
        p->t = t;
        p->cap = cap;
    }
    uz_tensor *t = uz_calloc(sizeof *t, "parameter");
    size_t len = strlen(name) + 1;
    char *nm = uz_malloc(len, "parameter name");
    if (!t || !nm) {
        uz_free(t);
        uz_free(nm);
        return NULL;
    }
    memcpy(nm, name, len);
    t->name = nm;
    t->ndim = ndim;
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t->shape[i] = shape[i];
        t->stride[i] = s;
        s *= shape[i];
    }
    t->requires_grad = true;
    t->is_param = true;
    p->t[p->n++] = t;
    p->numel += s;
    return t;
}

uz_status uz_params_finalize(uz_params *p)
{
    size_t bytes = sizeof(float) * (size_t)(p->numel ? p->numel : 1);
    p->data = uz_calloc(bytes, "parameters");
    p->grad = uz_calloc(bytes, "parameter gradients");
    p->grads = uz_calloc(sizeof(uz_tensor) * (size_t)(p->n ? p->n : 1), "gradient tensors");
    if (!p->data || !p->grad || !p->grads)
        return uz_error_status();
    int64_t off = 0;
    for (int i = 0; i < p->n; i++) {
        uz_tensor *t = p->t[i], *g = &p->grads[i];
        *g = *t;
        g->name = NULL;
        g->requires_grad = false;
        g->is_param = false;
        t->data = p->data + off;
        g->data = p->grad + off;
        t->grad = g;
        off += uz_tensor_numel(t);
    }
    return UZ_OK;
}

void uz_params_zero_grad(uz_params *p)
{
    uz_device_zero(p->device, p->grad, sizeof(float) * (size_t)p->numel);
}

uz_device uz_params_device(const uz_params *p) { return p->device; }

uz_status uz_params_to(uz_params *p, uz_device dev)
{
    if (!p->data)
        return UZ_FAIL(UZ_ERR_ARG, "params to %s: parameters are not finalized",
                       uz_device_name(dev));
    if (dev == p->device)
        return UZ_OK;
    size_t bytes = sizeof(float) * (size_t)(p->numel ? p->numel : 1);
    float *data = uz_device_malloc(dev, bytes, "parameters");
    float *grad = data ? uz_device_malloc(dev, bytes, "parameter gradients") : NULL;
    uz_status st = grad ? UZ_OK : uz_error_status();
    if (st == UZ_OK)
        st = uz_memcpy(data, dev, p->data, p->device, bytes);
    if (st == UZ_OK)
        st = uz_memcpy(grad, dev, p->grad, p->device, bytes);
    if (st != UZ_OK) {
        uz_device_free(dev, data);
        uz_device_free(dev, grad);
        return st;
    }
    uz_device_free(p->device, p->data);
    uz_device_free(p->device, p->grad);
    int64_t off = 0;
    for (int i = 0; i < p->n; i++) {
        uz_tensor *t = p->t[i], *g = &p->grads[i];
        t->data = data + off;
        g->data = grad + off;
        t->device = g->device = dev;
        off += uz_tensor_numel(t);
    }
    p->data = data;
    p->grad = grad;
    p->device = dev;
    return UZ_OK;
}
int uz_params_count(const uz_params *p) { return p->n; }
int64_t uz_params_numel(const uz_params *p) { return p->numel; }
uz_tensor *uz_params_at(const uz_params *p, int i) { return p->t[i]; }
float *uz_params_data(uz_params *p) { return p->data; }
float *uz_params_grad(uz_params *p) { return p->grad; }

uz_tensor *uz_params_find(const uz_params *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->t[i]->name, name) == 0)
            return p->t[i];
    return NULL;
}

/* Host memory to fill t's values into: t's own, or staging that
 * init_done copies to t's device and frees. */
static float *init_begin(uz_tensor *t)
{
    if (t->device == UZ_DEVICE_CPU)
        return t->data;
    return uz_malloc(sizeof(float) * (size_t)uz_tensor_numel(t), "parameter init staging");
}

static void init_done(uz_tensor *t, float *host)
{
    if (!host || host == t->data)
        return;
    uz_memcpy(t->data, t->device, host, UZ_DEVICE_CPU, sizeof(float) * (size_t)uz_tensor_numel(t));
    uz_free(host);
}

void uz_param_init_uniform(uz_tensor *t, uint64_t seed, uint64_t stream, float lo, float hi)
{
    float *v = init_begin(t);
    if (v)
        uz_rng_fill_uniform(v, uz_tensor_numel(t), seed, stream, 0, lo, hi);
    init_done(t, v);
}

void uz_param_init_normal(uz_tensor *t, uint64_t seed, uint64_t stream, float mean, float std)
{
    float *v = init_begin(t);
    if (v)
        uz_rng_fill_normal(v, uz_tensor_numel(t), seed, stream, 0, mean, std);
    init_done(t, v);
}

void uz_param_init_const(uz_tensor *t, float value)
{
    float *v = init_begin(t);
    int64_t n = uz_tensor_numel(t);
    for (int64_t i = 0; v && i < n; i++)
        v[i] = value;
    init_done(t, v);
}
