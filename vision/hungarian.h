/* Minimum-cost assignment (the Hungarian problem) on a rectangular cost
 * matrix, for matching predicted boxes to ground truth. */
#ifndef UZ_VISION_HUNGARIAN_H
#define UZ_VISION_HUNGARIAN_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Bytes of workspace uz_hungarian needs for an n x m matrix. */
size_t uz_hungarian_workspace(int64_t n, int64_t m);

/* Assigns min(n, m) rows to distinct columns minimising the summed cost of
 * cost[n, m] (row-major). assign[i] receives row i's column, or -1 for a row
 * left over when n > m. Shortest augmenting paths with potentials (Jonker-
 * Volgenant, as e-maxx), O(min^2 max). Deterministic: among equally short
 * paths the lowest column (row, when n > m) wins, so equal inputs give
 * equal assignments. work: uz_hungarian_workspace(n, m) bytes, 8-byte
 * aligned (the caller owns it, so a training step can take it from its
 * context arena and allocate nothing). A non-finite cost is an error
 * naming its position (UZ_ERR_NUMERIC); assign is then undefined. */
uz_status uz_hungarian(const double *cost, int64_t n, int64_t m, void *work, int64_t *assign);

#endif
