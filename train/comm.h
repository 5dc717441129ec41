/* Communication between data-parallel ranks. One process is a world of one;
 * under mpirun the MPI backend is used. The table of operations is what the
 * CUDA backend will implement with NCCL. */
#ifndef UZ_COMM_H
#define UZ_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct uz_comm uz_comm;

/* MPI when launched by mpirun with more than one rank (MPI_Init on first
 * use), otherwise a single-rank world. */
uz_status uz_comm_init(uz_comm **out);
void uz_comm_free(uz_comm *c);    /* finalizes MPI if this module initialised it */
int uz_comm_rank(const uz_comm *c);
int uz_comm_size(const uz_comm *c);

/* buf[0..n) = mean over ranks, in buckets (default 4 MiB) so large models
 * do not need one huge message; the result is identical on every rank. */
uz_status uz_comm_allreduce_mean(uz_comm *c, float *buf, int64_t n);
uz_status uz_comm_allreduce_sum_f64(uz_comm *c, double *buf, int64_t n);
uz_status uz_comm_broadcast(uz_comm *c, void *buf, size_t bytes, int root);
uz_status uz_comm_barrier(uz_comm *c);
void uz_comm_set_bucket_bytes(uz_comm *c, size_t bytes);

#endif
