/* The MPI backend: each rank joins MPI_COMM_WORLD through a private duplicate
 * communicator (so our collectives never match messages of other MPI users in
 * the process) with errors returned rather than aborting. MPI is initialised
 * on the first open and finalised when the last comm this module opened is
 * closed; an MPI that the host program initialised is left to it. All calls
 * come from the thread that opened the comm (MPI_THREAD_FUNNELED: OpenMP
 * threads never call MPI). */
#include "train/comm_backend.h"

#include <mpi.h>
#include <stdbool.h>
#include <stdlib.h>

typedef struct mpi_comm {
    MPI_Comm comm;
} mpi_comm;

static int g_open;      /* comms of this module not yet closed */
static bool g_we_init;  /* this module called MPI_Init */

static uz_status mpi_fail(int err, const char *op)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(err, msg, &len) != MPI_SUCCESS)
        len = 0;
    msg[len] = '\0';
    return UZ_FAIL(UZ_ERR_DEVICE, "comm (MPI): %s failed: %s", op, msg);
}

static uz_status mpi_allreduce_mean_f32(void *impl, float *buf, int count)
{
    mpi_comm *m = impl;
    int err = MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, m->comm);
    if (err != MPI_SUCCESS)
        return mpi_fail(err, "MPI_Allreduce");
    int size;
    MPI_Comm_size(m->comm, &size);
    /* Division rather than a multiply by 1/size: correctly rounded for any
     * rank count, and the same operation on identical sums on every rank. */
    const float fsize = (float)size;
    for (int i = 0; i < count; i++)
        buf[i] /= fsize;
    return UZ_OK;
}

static uz_status mpi_allreduce_sum_f64(void *impl, double *buf, int count)
{
    mpi_comm *m = impl;
    int err = MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_DOUBLE, MPI_SUM, m->comm);
    return err == MPI_SUCCESS ? UZ_OK : mpi_fail(err, "MPI_Allreduce");
}

static uz_status mpi_broadcast(void *impl, void *buf, int bytes, int root)
{
    mpi_comm *m = impl;
    int err = MPI_Bcast(buf, bytes, MPI_BYTE, root, m->comm);
    return err == MPI_SUCCESS ? UZ_OK : mpi_fail(err, "MPI_Bcast");
}

static uz_status mpi_barrier(void *impl)
{
    mpi_comm *m = impl;
    int err = MPI_Barrier(m->comm);
    return err == MPI_SUCCESS ? UZ_OK : mpi_fail(err, "MPI_Barrier");
}

/* Finalises MPI once no comm of ours is left, if we initialised it. */
static void release_mpi(void)
{
    if (g_open == 0 && g_we_init) {
        MPI_Finalize();
        g_we_init = false;
    }
}

static void mpi_close(void *impl)
{
    mpi_comm *m = impl;
    MPI_Comm_free(&m->comm);
    free(m);
    g_open--;
    release_mpi();
}

static const uz_comm_backend mpi_backend = {
    .allreduce_mean_f32 = mpi_allreduce_mean_f32,
    .allreduce_sum_f64 = mpi_allreduce_sum_f64,
    .broadcast = mpi_broadcast,
    .barrier = mpi_barrier,
    .close = mpi_close,
};

uz_status uz_comm_mpi_open(uz_comm *c)
{
    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (finalized)
        return UZ_FAIL(UZ_ERR_DEVICE, "comm (MPI): MPI was already finalized in this process "
                                      "(MPI can be initialised once per process)");
    if (!inited) {
        int provided;
        /* Errors before and during MPI_Init abort under MPI's default
         * handler; from here on they come back as statuses. */
        int err = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (err != MPI_SUCCESS)
            return mpi_fail(err, "MPI_Init_thread");
        g_we_init = true;
    }
    mpi_comm *m = malloc(sizeof *m);
    if (!m) {
        release_mpi();
        return UZ_FAIL(UZ_ERR_NOMEM, "comm (MPI): out of memory");
    }
    int err = MPI_Comm_dup(MPI_COMM_WORLD, &m->comm);
    if (err != MPI_SUCCESS) {
        free(m);
        release_mpi();
        return mpi_fail(err, "MPI_Comm_dup");
    }
    MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(m->comm, &c->rank);
    MPI_Comm_size(m->comm, &c->size);
    g_open++;
    c->backend = &mpi_backend;
    c->impl = m;
    return UZ_OK;
}
