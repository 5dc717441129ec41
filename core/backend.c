/* Device -> kernel table. */
#include "backend.h"

extern const uz_backend uz_backend_cpu;
#ifdef UZ_HAVE_CUDA
extern const uz_backend uz_backend_cuda;
int uz_cuda_device_count(void);
#endif

const uz_backend *uz_backend_for(uz_device dev)
{
#ifdef UZ_HAVE_CUDA
    if (dev == UZ_DEVICE_CUDA)
        return &uz_backend_cuda;
#endif
    (void)dev;
    return &uz_backend_cpu;
}

const char *uz_device_name(uz_device dev) { return dev == UZ_DEVICE_CUDA ? "cuda" : "cpu"; }

bool uz_cuda_available(void)
{
#ifdef UZ_HAVE_CUDA
    return uz_cuda_device_count() > 0;
#else
    return false;
#endif
}

const void *uz_kernels_lookup(const uz_tensor *t, size_t offset, const char *family, const char *op)
{
#ifndef UZ_HAVE_CUDA
    if (t->device == UZ_DEVICE_CUDA) {
        UZ_FAIL(UZ_ERR_DEVICE, "%s: tensor is on cuda but unizoo was built without CUDA", op);
        return NULL;
    }
#endif
    const uz_backend *b = uz_backend_for(t->device);
    const void *k = *(const void *const *)((const char *)b + offset);
    if (!k)
        UZ_FAIL(UZ_ERR_DEVICE, "%s: no %s kernels on device %s", op, family, b->name);
    return k;
}
