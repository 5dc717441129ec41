/* The rank-independent half of the communication layer: picking the world
 * (MPI only when a launcher started several ranks, so tests and the CLI never
 * pay for MPI start-up), argument checks, and cutting collectives into
 * buckets for the backend.
 *
 * Results: MPI_Allreduce delivers the same sum to every rank, and the mean is
 * that sum divided by the rank count on each rank alike, so all ranks hold
 * bit-identical results and take the same optimizer step. Compared with one
 * process over the whole batch the float summation order differs (each rank
 * sums its shard, then the shards are summed), so data-parallel training
 * matches single-process training to rounding, not bit for bit. */
#include "train/comm_backend.h"

#include <limits.h>
#include <stdlib.h>

enum { UZ_COMM_DEFAULT_BUCKET = 4 << 20 };

/* Ranks announced by the launcher: OpenMPI's mpirun sets
 * OMPI_COMM_WORLD_SIZE, MPICH's Hydra (and Slurm's PMI) set PMI_SIZE. */
static long launched_ranks(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end == '\0' && n > 0)
                return n;
        }
    }
    return 1;
}

uz_status uz_comm_init(uz_comm **out)
{
    if (!out)
        return UZ_FAIL(UZ_ERR_ARG, "comm_init: out is NULL");
    *out = NULL;
    uz_comm *c = calloc(1, sizeof *c);
    if (!c)
        return UZ_FAIL(UZ_ERR_NOMEM, "comm_init: out of memory");
    c->rank = 0;
    c->size = 1;
    c->bucket_bytes = UZ_COMM_DEFAULT_BUCKET;
    if (launched_ranks() > 1) {
        uz_status st = uz_comm_mpi_open(c);
        if (st != UZ_OK) {
            free(c);
            return st;
        }
    }
    *out = c;
    return UZ_OK;
}

void uz_comm_free(uz_comm *c)
{
    if (!c)
        return;
    if (c->backend)
        c->backend->close(c->impl);
    free(c);
}

/* A NULL comm reads as a world of one, so single-process code can pass none. */
int uz_comm_rank(const uz_comm *c)
{
    return c ? c->rank : 0;
}

int uz_comm_size(const uz_comm *c)
{
    return c ? c->size : 1;
}

/* 0 restores the default; anything below one element is rounded up to one,
 * and a bucket never holds more than INT_MAX elements (MPI counts are int). */
void uz_comm_set_bucket_bytes(uz_comm *c, size_t bytes)
{
    if (c)
        c->bucket_bytes = bytes ? bytes : UZ_COMM_DEFAULT_BUCKET;
}

static int64_t bucket_count(const uz_comm *c, size_t elem)
{
    size_t n = c->bucket_bytes / elem;
    if (n < 1)
        n = 1;
    if (n > INT_MAX)
        n = INT_MAX;
    return (int64_t)n;
}

static uz_status check_buf(const uz_comm *c, const void *buf, int64_t n, const char *op)
{
    if (!c)
        return UZ_FAIL(UZ_ERR_ARG, "%s: comm is NULL", op);
    if (n < 0)
        return UZ_FAIL(UZ_ERR_ARG, "%s: n = %lld is negative", op, (long long)n);
    if (n > 0 && !buf)
        return UZ_FAIL(UZ_ERR_ARG, "%s: buf is NULL for n = %lld", op, (long long)n);
    return UZ_OK;
}

uz_status uz_comm_allreduce_mean(uz_comm *c, float *buf, int64_t n)
{
    uz_status st = check_buf(c, buf, n, "comm_allreduce_mean");
    if (st != UZ_OK || !c->backend)
        return st;
    int64_t step = bucket_count(c, sizeof *buf);
    for (int64_t i = 0; i < n && st == UZ_OK; i += step)
        st = c->backend->allreduce_mean_f32(c->impl, buf + i, (int)(n - i < step ? n - i : step));
    return st;
}

uz_status uz_comm_allreduce_sum_f64(uz_comm *c, double *buf, int64_t n)
{
    uz_status st = check_buf(c, buf, n, "comm_allreduce_sum_f64");
    if (st != UZ_OK || !c->backend)
        return st;
    int64_t step = bucket_count(c, sizeof *buf);
    for (int64_t i = 0; i < n && st == UZ_OK; i += step)
        st = c->backend->allreduce_sum_f64(c->impl, buf + i, (int)(n - i < step ? n - i : step));
    return st;
}

uz_status uz_comm_broadcast(uz_comm *c, void *buf, size_t bytes, int root)
{
    if (bytes > INT64_MAX)
        return UZ_FAIL(UZ_ERR_ARG, "comm_broadcast: %zu bytes is too large", bytes);
    uz_status st = check_buf(c, buf, (int64_t)bytes, "comm_broadcast");
    if (st != UZ_OK)
        return st;
    if (root < 0 || root >= c->size)
        return UZ_FAIL(UZ_ERR_ARG, "comm_broadcast: root %d outside the world of %d rank(s)",
                       root, c->size);
    if (!c->backend)
        return UZ_OK;
    char *p = buf;
    size_t step = (size_t)bucket_count(c, 1);
    for (size_t i = 0; i < bytes && st == UZ_OK; i += step)
        st = c->backend->broadcast(c->impl, p + i, (int)(bytes - i < step ? bytes - i : step), root);
    return st;
}

uz_status uz_comm_barrier(uz_comm *c)
{
    if (!c)
        return UZ_FAIL(UZ_ERR_ARG, "comm_barrier: comm is NULL");
    return c->backend ? c->backend->barrier(c->impl) : UZ_OK;
}
