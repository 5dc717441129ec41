/* The order in which the trainer visits each task's examples: a fresh
 * permutation per epoch, a pure function of (seed, task, epoch) through
 * Philox, and a cursor into it. A position is (epoch, cursor) per task, so a
 * checkpoint stores two integers per task and a resumed run continues the
 * same sequence. */
#ifndef UZ_ORDER_H
#define UZ_ORDER_H

#include <stdint.h>

#include "core/error.h"
#include "train/sampler.h"

typedef struct uz_data_order {
    int n_tasks;
    uint64_t seed;
    int64_t size[UZ_MAX_TASKS];
    int64_t epoch[UZ_MAX_TASKS], cursor[UZ_MAX_TASKS];
    int64_t *perm[UZ_MAX_TASKS];  /* the current epoch's permutation */
} uz_data_order;

/* sizes[k] in [1, 2^32). Starts at epoch 0, cursor 0 for every task. */
uz_status uz_order_init(uz_data_order *o, int n_tasks, const int64_t *sizes, uint64_t seed);
/* Moves task k to a saved position. */
uz_status uz_order_seek(uz_data_order *o, int task, int64_t epoch, int64_t cursor);
/* The next example of task k (rolling over into the next epoch). */
int64_t uz_order_next(uz_data_order *o, int task);
void uz_order_free(uz_data_order *o);

#endif
