/* Hungarian algorithm, shortest-augmenting-path form (e-maxx's O(n^2 m)
 * version): rows are added one at a time; each addition grows a Dijkstra-like
 * tree over reduced costs a(i, j) - u[i] - v[j] until it reaches a free
 * column, then flips the path. The solver wants rows <= columns, so a tall
 * matrix is solved transposed by reading it through swapped strides. */
#include "vision/hungarian.h"

#include <math.h>
#include <stdbool.h>

/* The solver's arrays, 1-based with slot 0 as the virtual start column. */
typedef struct hungarian_ws {
    double *u, *v, *minv;
    int64_t *p, *way; /* p[j]: row holding column j (0 = free); way: the tree */
    unsigned char *used;
} hungarian_ws;

static int64_t slots(int64_t n, int64_t m) { return (n > m ? n : m) + 1; }

size_t uz_hungarian_workspace(int64_t n, int64_t m)
{
    size_t k = (size_t)slots(n < 0 ? 0 : n, m < 0 ? 0 : m);
    return k * (3 * sizeof(double) + 2 * sizeof(int64_t) + 1);
}

static hungarian_ws carve(void *work, int64_t k)
{
    hungarian_ws w;
    w.u = work;
    w.v = w.u + k;
    w.minv = w.v + k;
    w.p = (int64_t *)(w.minv + k);
    w.way = w.p + k;
    w.used = (unsigned char *)(w.way + k);
    return w;
}

uz_status uz_hungarian(const double *cost, int64_t n, int64_t m, void *work, int64_t *assign)
{
    if (n < 0 || m < 0)
        return UZ_FAIL(UZ_ERR_ARG, "hungarian: negative size %lld x %lld", (long long)n,
                       (long long)m);
    for (int64_t i = 0; i < n * m; i++)
        if (!isfinite(cost[i]))
            return UZ_FAIL(UZ_ERR_NUMERIC, "hungarian: cost[%lld][%lld] is %g, expected finite",
                           (long long)(i / m), (long long)(i % m), cost[i]);
    for (int64_t i = 0; i < n; i++)
        assign[i] = -1;
    if (n == 0 || m == 0)
        return UZ_OK;
    /* Solve rows x cols with rows <= cols; a(i, j) = cost[i * rs + j * cs]. */
    bool tall = n > m;
    int64_t rows = tall ? m : n, cols = tall ? n : m;
    int64_t rs = tall ? 1 : m, cs = tall ? m : 1;
    int64_t k = slots(n, m);
    hungarian_ws w = carve(work, k);
    for (int64_t j = 0; j < k; j++) {
        w.u[j] = w.v[j] = 0.0;
        w.p[j] = w.way[j] = 0;
    }
    for (int64_t i = 1; i <= rows; i++) {
        w.p[0] = i;
        int64_t j0 = 0;
        for (int64_t j = 0; j <= cols; j++) {
            w.minv[j] = INFINITY;
            w.used[j] = 0;
        }
        do {
            w.used[j0] = 1;
            int64_t i0 = w.p[j0], j1 = 0;
            double delta = INFINITY;
            const double *row = cost + (i0 - 1) * rs;
            for (int64_t j = 1; j <= cols; j++) {
                if (w.used[j])
                    continue;
                double cur = row[(j - 1) * cs] - w.u[i0] - w.v[j];
                if (cur < w.minv[j]) {
                    w.minv[j] = cur;
                    w.way[j] = j0;
                }
                /* Strict: the lowest column wins a tie (determinism). */
                if (w.minv[j] < delta) {
                    delta = w.minv[j];
                    j1 = j;
                }
            }
            /* Only costs near DBL_MAX can make every reduced cost overflow. */
            if (j1 == 0)
                return UZ_FAIL(UZ_ERR_NUMERIC,
                               "hungarian: reduced costs overflow a double (row %lld); scale "
                               "the costs down",
                               (long long)(i - 1));
            for (int64_t j = 0; j <= cols; j++) {
                if (w.used[j]) {
                    w.u[w.p[j]] += delta;
                    w.v[j] -= delta;
                } else {
                    w.minv[j] -= delta;
                }
            }
            j0 = j1;
        } while (w.p[j0] != 0);
        do {
            int64_t j1 = w.way[j0];
            w.p[j0] = w.p[j1];
            j0 = j1;
        } while (j0 != 0);
    }
    for (int64_t j = 1; j <= cols; j++) {
        if (w.p[j] == 0)
            continue;
        if (tall)
            assign[j - 1] = w.p[j] - 1;
        else
            assign[w.p[j] - 1] = j - 1;
    }
    return UZ_OK;
}
