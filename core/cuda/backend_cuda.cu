// The CUDA kernel table. Kernel families land here as the CUDA backend grows
// (see the CUDA issue); until then every family is absent and ops on CUDA
// tensors fail with "no <family> kernels on device cuda".
#include <cuda_runtime.h>

extern "C" {
#include "../backend.h"

// `extern` gives the const table external linkage in C++.
extern const uz_backend uz_backend_cuda;
const uz_backend uz_backend_cuda = {
    "cuda", nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
};

int uz_cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess)
        return 0;
    return n;
}
}
