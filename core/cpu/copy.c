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

/* Below this many elements a parallel loop costs more than it saves. */
enum { COPY_PAR_MIN = 32768 };

static void cpu_scatter_add(float *dst, const int64_t *dst_stride, const float *src, int ndim,
                            const int64_t *shape)
{
    int64_t sh[UZ_MAX_DIMS] = {1, 1, 1, 1, 1}, st[UZ_MAX_DIMS] = {0, 0, 0, 0, 0};
    int pad = UZ_MAX_DIMS - ndim;
    bool distinct = true;
    for (int d = 0; d < ndim; d++) {
        sh[pad + d] = shape[d];
        st[pad + d] = dst_stride[d];
        distinct = distinct && (dst_stride[d] != 0 || shape[d] == 1);
    }
    int64_t rows = sh[0] * sh[1] * sh[2] * sh[3], inner = sh[4], is = st[4];
    if (!distinct || rows * inner <= COPY_PAR_MIN || rows < 2) {
        /* Serial: stride-0 dims make several sources hit one target, and
         * their order must not depend on the thread count. */
        UZ_FOR_OUTER(ndim, shape, dst_stride, {
            float *d = dst + off_;
            const float *s = src + flat_;
            for (int64_t j = 0; j < inner_n_; j++)
                d[j * inner_s_] += s[j];
        });
        return;
    }
    /* Every target is hit once, so rows can go to any thread. */
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        int64_t i3 = r % sh[3], q = r / sh[3];
        int64_t i2 = q % sh[2];
        q /= sh[2];
        int64_t i1 = q % sh[1], i0 = q / sh[1];
        float *d = dst + i0 * st[0] + i1 * st[1] + i2 * st[2] + i3 * st[3];
        const float *s = src + r * inner;
        if (is == 1) {
#pragma omp simd
            for (int64_t j = 0; j < inner; j++)
                d[j] += s[j];
        } else {
            for (int64_t j = 0; j < inner; j++)
                d[j * is] += s[j];
        }
    }
}

static void cpu_add(float *dst, const float *src, int64_t n)
{
#pragma omp parallel for simd if (n > COPY_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++)
        dst[i] += src[i];
}

static void cpu_fill(float *dst, float value, int64_t n)
{
#pragma omp parallel for simd if (n > COPY_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++)
        dst[i] = value;
}

const struct uz_kernels_copy uz_cpu_kernels_copy = {
    .gather = cpu_gather,
    .scatter_add = cpu_scatter_add,
    .add = cpu_add,
    .fill = cpu_fill,
};
