/* Per-epoch permutations by Fisher-Yates with Philox draws. */
#include "train/order.h"

#include "core/rng.h"

#include <stdlib.h>
#include <string.h>

/* Keeps the order's draws apart from parameter initialisation, the task
 * sampler and dropout, which use the same user seed ("order" in ASCII). */
static const uint64_t ORDER_SEED_MIX = 0x6f72646572ULL;

static void shuffle(uz_data_order *o, int k)
{
    int64_t n = o->size[k], *perm = o->perm[k];
    uint64_t stream = ((uint64_t)k << 48) | (uint64_t)o->epoch[k];
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    uint32_t w[4];
    for (int64_t i = n - 1; i > 0; i--) {
        if ((i & 3) == 3 || i == n - 1)
            uz_philox(o->seed ^ ORDER_SEED_MIX, stream, (uint64_t)i >> 2, w);
        /* Multiply-shift maps a 32-bit draw onto [0, i]: sizes stay below 2^32. */
        int64_t j = (int64_t)(((uint64_t)w[i & 3] * (uint64_t)(i + 1)) >> 32);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

uz_status uz_order_init(uz_data_order *o, int n_tasks, const int64_t *sizes, uint64_t seed)
{
    memset(o, 0, sizeof *o);
    if (n_tasks < 1 || n_tasks > UZ_MAX_TASKS)
        return UZ_FAIL(UZ_ERR_ARG, "data order: %d tasks, allowed 1 to %d", n_tasks, UZ_MAX_TASKS);
    o->n_tasks = n_tasks;
    o->seed = seed;
    for (int k = 0; k < n_tasks; k++) {
        if (sizes[k] < 1 || sizes[k] >= (INT64_C(1) << 32)) {
            uz_order_free(o);
            return UZ_FAIL(UZ_ERR_ARG, "data order: task %d has %lld examples, allowed 1 to 2^32-1",
                           k, (long long)sizes[k]);
        }
        o->size[k] = sizes[k];
        o->perm[k] = malloc(sizeof(int64_t) * (size_t)sizes[k]);
        if (!o->perm[k]) {
            uz_order_free(o);
            return UZ_FAIL(UZ_ERR_NOMEM, "data order: out of memory for %lld indices",
                           (long long)sizes[k]);
        }
        shuffle(o, k);
    }
    return UZ_OK;
}

uz_status uz_order_seek(uz_data_order *o, int task, int64_t epoch, int64_t cursor)
{
    if (task < 0 || task >= o->n_tasks || epoch < 0 || cursor < 0 || cursor >= o->size[task])
        return UZ_FAIL(UZ_ERR_ARG,
                       "data order: position (epoch %lld, cursor %lld) of task %d is outside its "
                       "%lld examples",
                       (long long)epoch, (long long)cursor, task,
                       (long long)(task >= 0 && task < o->n_tasks ? o->size[task] : 0));
    if (epoch != o->epoch[task]) {
        o->epoch[task] = epoch;
        shuffle(o, task);
    }
    o->cursor[task] = cursor;
    return UZ_OK;
}

int64_t uz_order_next(uz_data_order *o, int task)
{
    int64_t v = o->perm[task][o->cursor[task]];
    if (++o->cursor[task] == o->size[task]) {
        o->epoch[task]++;
        o->cursor[task] = 0;
        shuffle(o, task);
    }
    return v;
}

void uz_order_free(uz_data_order *o)
{
    for (int k = 0; k < UZ_MAX_TASKS; k++) {
        free(o->perm[k]);
        o->perm[k] = NULL;
    }
}
