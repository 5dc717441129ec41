/* Strided copies, fills and accumulations. */
#include "kernels_cpu.h"

#include <string.h>

/* Walks a (up to 5-d) index space in row-major order, calling the inner
 * loop over the last dim with the source offset of its first element. */
#define UZ_FOR_OUTER(ndim, shape, stride, body)                                              \
    do {                                                                                     \
        int64_t sh_[UZ_MAX_DIMS] = {1, 1, 1, 1, 1}, st_[UZ_MAX_DIMS] = {0, 0, 0, 0, 0};      \
        int pad_ = UZ_MAX_DIMS - (ndim);                                                     \
        for (int d_ = 0; d_ < (ndim); d_++) {                                                \
            sh_[pad_ + d_] = (shape)[d_];                                                    \
            st_[pad_ + d_] = (stride)[d_];                                                   \
        }                                                                                    \
        int64_t flat_ = 0;                                                                   \
        for (int64_t i0 = 0; i0 < sh_[0]; i0++)                                              \
            for (int64_t i1 = 0; i1 < sh_[1]; i1++)                                          \
                for (int64_t i2 = 0; i2 < sh_[2]; i2++)                                      \
                    for (int64_t i3 = 0; i3 < sh_[3]; i3++) {                                \
                        int64_t off_ = i0 * st_[0] + i1 * st_[1] + i2 * st_[2] + i3 * st_[3];\
                        int64_t inner_n_ = sh_[4], inner_s_ = st_[4];                        \
                        body;                                                                \
                        flat_ += inner_n_;                                                   \
                    }                                                                        \
    } while (0)

static void cpu_gather(float *dst, const float *src, int ndim, const int64_t *shape,
                       const int64_t *src_stride)
{
    UZ_FOR_OUTER(ndim, shape, src_stride, {
        const float *s = src + off_;
        float *d = dst + flat_;
        if (inner_s_ == 1)
            memcpy(d, s, sizeof(float) * (size_t)inner_n_);
        else
            for (int64_t j = 0; j < inner_n_; j++)
                d[j] = s[j * inner_s_];
    });
}

static void cpu_scatter_add(float *dst, const int64_t *dst_stride, const float *src, int ndim,
                            const int64_t *shape)
{
    /* Serial on purpose: stride-0 dims make several sources hit one target. */
    UZ_FOR_OUTER(ndim, shape, dst_stride, {
        float *d = dst + off_;
        const float *s = src + flat_;
        for (int64_t j = 0; j < inner_n_; j++)
            d[j * inner_s_] += s[j];
    });
}

static void cpu_add(float *dst, const float *src, int64_t n)
{
#pragma omp parallel for simd if (n > 32768) schedule(static)
    for (int64_t i = 0; i < n; i++)
        dst[i] += src[i];
}

static void cpu_fill(float *dst, float value, int64_t n)
{
#pragma omp parallel for simd if (n > 32768) schedule(static)
    for (int64_t i = 0; i < n; i++)
        dst[i] = value;
}

const struct uz_kernels_copy uz_cpu_kernels_copy = {
    .gather = cpu_gather,
    .scatter_add = cpu_scatter_add,
    .add = cpu_add,
    .fill = cpu_fill,
};
