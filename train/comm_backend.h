/* Internal: the table a multi-rank communication backend implements (MPI in
 * comm_mpi.c; the CUDA issue adds NCCL the same way). train/comm.c checks the
 * arguments, splits every collective into buckets and answers a world of one
 * itself, so a backend only moves one bucket at a time and its counts always
 * fit the int that MPI and NCCL take. */
#ifndef UZ_COMM_BACKEND_H
#define UZ_COMM_BACKEND_H

#include "train/comm.h"

typedef struct uz_comm_backend {
    /* buf[0..count) = mean over ranks (NCCL: ncclAvg; MPI: sum, then divide). */
    uz_status (*allreduce_mean_f32)(void *impl, float *buf, int count);
    uz_status (*allreduce_sum_f64)(void *impl, double *buf, int count);
    uz_status (*broadcast)(void *impl, void *buf, int bytes, int root);
    uz_status (*barrier)(void *impl);
    void (*close)(void *impl);
} uz_comm_backend;

struct uz_comm {
    const uz_comm_backend *backend; /* NULL: a single-rank world */
    void *impl;
    int rank, size;
    size_t bucket_bytes;
};

/* Joins the MPI world (MPI_Init on first use): sets c->backend, impl, rank
 * and size. */
uz_status uz_comm_mpi_open(uz_comm *c);

#endif
