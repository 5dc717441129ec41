/* Embedding gather and its deterministic scatter-add backward. */
#include "nn.h"

#include <string.h>

/* Columns per task of the backward: a task owns a column range of the whole
 * table and visits the ids in order, so repeated ids add up in the same
 * order for any thread count, without atomics. */
enum { EMB_COL_BLOCK = 64 };

void uz_cpu_embedding_forward(float *y, const float *table, const int32_t *ids, int64_t n,
                              int64_t d)
{
#pragma omp parallel for if (n * d > UZ_NN_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++)
        memcpy(y + i * d, table + (int64_t)ids[i] * d, sizeof(float) * (size_t)d);
}

void uz_cpu_embedding_backward(float *dtable, const float *dy, const int32_t *ids, int64_t n,
                               int64_t d, int32_t padding_idx)
{
    int64_t blocks = (d + EMB_COL_BLOCK - 1) / EMB_COL_BLOCK;
#pragma omp parallel for if (n * d > UZ_NN_PAR_MIN) schedule(static)
    for (int64_t bi = 0; bi < blocks; bi++) {
        int64_t j0 = bi * EMB_COL_BLOCK;
        int64_t len = d - j0 < EMB_COL_BLOCK ? d - j0 : EMB_COL_BLOCK;
        for (int64_t i = 0; i < n; i++) {
            if (ids[i] == padding_idx)
                continue;
            float *dst = dtable + (int64_t)ids[i] * d + j0;
            const float *src = dy + i * d + j0;
            for (int64_t j = 0; j < len; j++)
                dst[j] += src[j];
        }
    }
}
