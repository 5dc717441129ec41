/* One table of kernels per device, grouped by op family. Op front-ends
 * (core/ops/) check shapes, record autograd and call the kernels of the
 * device their inputs live on. The CPU table is the reference. */
#ifndef UZ_BACKEND_H
#define UZ_BACKEND_H

#include "tensor.h"

struct uz_kernels_copy;
struct uz_kernels_blas;
struct uz_kernels_elementwise;
struct uz_kernels_reduce;
struct uz_kernels_nn;
struct uz_kernels_index;
struct uz_kernels_conv;
struct uz_kernels_attention;

typedef struct uz_backend {
    const char *name;
    const struct uz_kernels_copy *copy;
    const struct uz_kernels_blas *blas;
    const struct uz_kernels_elementwise *elementwise;
    const struct uz_kernels_reduce *reduce;
    const struct uz_kernels_nn *nn;
    const struct uz_kernels_index *index;
    const struct uz_kernels_conv *conv;
    const struct uz_kernels_attention *attention;
} uz_backend;

const uz_backend *uz_backend_for(uz_device dev);
const char *uz_device_name(uz_device dev);
bool uz_cuda_available(void);

/* Fetches a kernel family for an op on t's device, or fails naming the op:
 *   const struct uz_kernels_blas *k = UZ_KERNELS(t, blas, "matmul"); if (!k) return NULL; */
const void *uz_kernels_lookup(const uz_tensor *t, size_t offset, const char *family,
                              const char *op);
#define UZ_KERNELS(t, family, op)                                                           \
    ((const struct uz_kernels_##family *)uz_kernels_lookup((t), offsetof(uz_backend, family), \
                                                           #family, (op)))

#endif
