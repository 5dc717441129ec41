/* The communication layer. Run plainly, this is a world of one (MPI is never
 * initialised): the mean over one rank is the identity, broadcast and barrier
 * are no-ops, arguments are checked, and a recording stand-in backend shows
 * how collectives are cut into buckets. Run under `mpirun -np 2` (CTest's
 * test_comm_mpi2) it checks the MPI backend instead: allreduce of
 * rank-dependent buffers against the known mean for sizes around bucket
 * boundaries, broadcast, and data-parallel training of a small MLP against
 * single-process training on the same global batch. MPI can be initialised
 * once per process, so in that mode the tests share one world and run
 * without Check's fork. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"
#include "train/comm.h"
#include "train/comm_backend.h"

/* ---- a world of one --------------------------------------------------------- */

START_TEST(test_single_world)
{
    uz_comm *c = NULL;
    UZ_CK_OK(uz_comm_init(&c));
    ck_assert_int_eq(uz_comm_rank(c), 0);
    ck_assert_int_eq(uz_comm_size(c), 1);
    ck_assert_ptr_null(c->backend);
    UZ_CK_OK(uz_comm_barrier(c));
    uz_comm_free(c);
    ck_assert_int_eq(uz_comm_rank(NULL), 0);
    ck_assert_int_eq(uz_comm_size(NULL), 1);
    uz_comm_free(NULL);
}
END_TEST

/* mpirun -np 1 (or a one-rank PMI launch) stays a world of one without MPI. */
START_TEST(test_single_launch_of_one)
{
    setenv("OMPI_COMM_WORLD_SIZE", "1", 1);
    setenv("PMI_SIZE", "1", 1);
    uz_comm *c = NULL;
    UZ_CK_OK(uz_comm_init(&c));
    ck_assert_int_eq(uz_comm_size(c), 1);
    ck_assert_ptr_null(c->backend);
    uz_comm_free(c);
    unsetenv("OMPI_COMM_WORLD_SIZE");
    unsetenv("PMI_SIZE");
}
END_TEST

START_TEST(test_single_mean_is_identity)
{
    uz_comm *c = NULL;
    UZ_CK_OK(uz_comm_init(&c));
    enum { N = 1000 };
    float buf[N], want[N];
    double d[N], dwant[N];
    for (int i = 0; i < N; i++) {
        want[i] = buf[i] = 0.1f * (float)i - 3.7f;
        dwant[i] = d[i] = 1e300 / (i + 1);
    }
    want[7] = buf[7] = INFINITY;
    uz_comm_set_bucket_bytes(c, 12);
    UZ_CK_OK(uz_comm_allreduce_mean(c, buf, N));
    UZ_CK_OK(uz_comm_allreduce_sum_f64(c, d, N));
    ck_assert_mem_eq(buf, want, sizeof buf);
    ck_assert_mem_eq(d, dwant, sizeof d);
    UZ_CK_OK(uz_comm_allreduce_mean(c, NULL, 0));
    UZ_CK_OK(uz_comm_allreduce_sum_f64(c, NULL, 0));
    uz_comm_free(c);
}
END_TEST

START_TEST(test_single_broadcast)
{
    uz_comm *c = NULL;
    UZ_CK_OK(uz_comm_init(&c));
    char buf[5] = "abcd";
    UZ_CK_OK(uz_comm_broadcast(c, buf, sizeof buf, 0));
    ck_assert_str_eq(buf, "abcd");
    UZ_CK_OK(uz_comm_broadcast(c, NULL, 0, 0));
    ck_assert_int_eq(uz_comm_broadcast(c, buf, sizeof buf, 1), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "root 1 outside the world of 1 rank"));
    ck_assert_int_eq(uz_comm_broadcast(c, buf, sizeof buf, -1), UZ_ERR_ARG);
    uz_comm_free(c);
}
END_TEST

START_TEST(test_single_bad_args)
{
    uz_comm *c = NULL;
    float x = 1.0f;
    UZ_CK_OK(uz_comm_init(&c));
    ck_assert_int_eq(uz_comm_allreduce_mean(c, &x, -1), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "n = -1 is negative"));
    ck_assert_int_eq(uz_comm_allreduce_mean(c, NULL, 3), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "buf is NULL for n = 3"));
    ck_assert_int_eq(uz_comm_allreduce_sum_f64(c, NULL, 2), UZ_ERR_ARG);
    ck_assert_int_eq(uz_comm_broadcast(c, NULL, 4, 0), UZ_ERR_ARG);
    ck_assert_int_eq(uz_comm_allreduce_mean(NULL, &x, 1), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "comm is NULL"));
    ck_assert_int_eq(uz_comm_barrier(NULL), UZ_ERR_ARG);
    ck_assert_int_eq(uz_comm_init(NULL), UZ_ERR_ARG);
    uz_comm_free(c);
}
END_TEST

/* A stand-in backend that records each bucket it is handed and adds 1 to
 * every element it touches, so the test sees the cut and that every element
 * is reduced exactly once. */
enum { MAX_CALLS = 64 };
static struct {
    const char *base;
    int64_t offset[MAX_CALLS]; /* in elements (bytes for broadcast) */
    int count[MAX_CALLS];
    int calls, closed;
} g_rec;

static void record(const void *buf, size_t elem, int count)
{
    ck_assert_int_lt(g_rec.calls, MAX_CALLS);
    g_rec.offset[g_rec.calls] = (int64_t)(((const char *)buf - g_rec.base) / (ptrdiff_t)elem);
    g_rec.count[g_rec.calls++] = count;
}

static uz_status rec_mean(void *impl, float *buf, int count)
{
    (void)impl;
    record(buf, sizeof *buf, count);
    for (int i = 0; i < count; i++)
        buf[i] += 1.0f;
    return UZ_OK;
}

static uz_status rec_sum_f64(void *impl, double *buf, int count)
{
    (void)impl;
    record(buf, sizeof *buf, count);
    for (int i = 0; i < count; i++)
        buf[i] += 1.0;
    return UZ_OK;
}

static uz_status rec_broadcast(void *impl, void *buf, int bytes, int root)
{
    (void)impl;
    ck_assert_int_eq(root, 0);
    record(buf, 1, bytes);
    for (int i = 0; i < bytes; i++)
        ((char *)buf)[i]++;
    return UZ_OK;
}

static uz_status rec_barrier(void *impl)
{
    (void)impl;
    g_rec.calls++;
    return UZ_OK;
}

static void rec_close(void *impl)
{
    (void)impl;
    g_rec.closed++;
}

static const uz_comm_backend rec_backend = {rec_mean, rec_sum_f64, rec_broadcast, rec_barrier,
                                            rec_close};

static uz_comm *rec_comm(void)
{
    uz_comm *c = NULL;
    UZ_CK_OK(uz_comm_init(&c));
    c->backend = &rec_backend;
    memset(&g_rec, 0, sizeof g_rec);
    return c;
}

/* The recorded buckets are consecutive, each `per` long but the last. */
static void check_cut(int64_t n, int64_t per)
{
    int64_t want_calls = (n + per - 1) / per;
    ck_assert_int_eq(g_rec.calls, want_calls);
    for (int k = 0; k < g_rec.calls; k++) {
        ck_assert_int_eq(g_rec.offset[k], k * per);
        ck_assert_int_eq(g_rec.count[k], k + 1 < g_rec.calls ? per : n - k * per);
    }
}

START_TEST(test_bucket_sizes)
{
    uz_comm *c = rec_comm();
    enum { N = 10 };
    float f[N] = {0};
    double d[N] = {0};
    char b[N] = {0};

    /* 12 bytes: 3 floats, 1 double (rounded down), 12 bytes of broadcast. */
    uz_comm_set_bucket_bytes(c, 12);
    g_rec.base = (const char *)f;
    UZ_CK_OK(uz_comm_allreduce_mean(c, f, N));
    check_cut(N, 3);
    for (int i = 0; i < N; i++)
        ck_assert_float_eq(f[i], 1.0f);

    g_rec.calls = 0;
    g_rec.base = (const char *)d;
    UZ_CK_OK(uz_comm_allreduce_sum_f64(c, d, N));
    check_cut(N, 1);

    g_rec.calls = 0;
    g_rec.base = b;
    UZ_CK_OK(uz_comm_broadcast(c, b, 7, 0));
    check_cut(7, 7);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(b[i], i < 7 ? 1 : 0);

    /* Below one element rounds up to one element. */
    uz_comm_set_bucket_bytes(c, 1);
    g_rec.calls = 0;
    g_rec.base = (const char *)f;
    UZ_CK_OK(uz_comm_allreduce_mean(c, f, 4));
    check_cut(4, 1);

    /* An exact multiple gives full buckets only; n = 0 makes no call. */
    uz_comm_set_bucket_bytes(c, 5 * sizeof(float));
    g_rec.calls = 0;
    UZ_CK_OK(uz_comm_allreduce_mean(c, f, N));
    check_cut(N, 5);
    g_rec.calls = 0;
    UZ_CK_OK(uz_comm_allreduce_mean(c, f, 0));
    ck_assert_int_eq(g_rec.calls, 0);
    for (int i = 0; i < N; i++)
        ck_assert_float_eq(f[i], i < 4 ? 3.0f : 2.0f);

    /* 0 restores the 4 MiB default: 2^20 floats per bucket. */
    uz_comm_set_bucket_bytes(c, 0);
    int64_t big = (1 << 20) * 2 + 5;
    float *g = calloc((size_t)big, sizeof *g);
    ck_assert_ptr_nonnull(g);
    g_rec.calls = 0;
    g_rec.base = (const char *)g;
    UZ_CK_OK(uz_comm_allreduce_mean(c, g, big));
    check_cut(big, 1 << 20);
    free(g);

    g_rec.calls = 0;
    UZ_CK_OK(uz_comm_barrier(c));
    ck_assert_int_eq(g_rec.calls, 1);
    uz_comm_free(c);
    ck_assert_int_eq(g_rec.closed, 1);
}
END_TEST

/* ---- two (or more) ranks under mpirun --------------------------------------- */

static uz_comm *g_world; /* shared by the MPI tests: MPI starts once per process */
static char g_init_error[512];

static void world_free(void)
{
    uz_comm_free(g_world);
    g_world = NULL;
}

/* Rank r's element i: small multiples of 1/2, so sums and the mean over two
 * ranks are exact in float and the expected values are exact too. */
static float rank_value(int r, int64_t i)
{
    return (float)(i % 61) - 30.0f + 0.5f * (float)r;
}

START_TEST(test_mpi_world)
{
    ck_assert_msg(g_world, "comm_init: %s", g_init_error);
    int size = uz_comm_size(g_world), rank = uz_comm_rank(g_world);
    ck_assert_int_ge(size, 2);
    double ranks[2] = {rank, 1.0};
    UZ_CK_OK(uz_comm_allreduce_sum_f64(g_world, ranks, 2));
    ck_assert_double_eq(ranks[0], size * (size - 1) / 2.0);
    ck_assert_double_eq(ranks[1], size);
    UZ_CK_OK(uz_comm_barrier(g_world));
}
END_TEST

START_TEST(test_mpi_allreduce_mean)
{
    int size = uz_comm_size(g_world), rank = uz_comm_rank(g_world);
    /* 1 KiB buckets (256 floats): sizes below, at and around one and several
     * buckets, then the default bucket with n straddling 2^20. */
    static const int64_t sizes[] = {0, 1, 3, 255, 256, 257, 1000, 1024, 1025};
    const int n_sizes = (int)(sizeof sizes / sizeof sizes[0]);
    for (int s = 0; s <= n_sizes; s++) {
        int64_t n = s < n_sizes ? sizes[s] : (1 << 20) + 7;
        uz_comm_set_bucket_bytes(g_world, s < n_sizes ? 1024 : 0);
        float *buf = malloc((size_t)(n + 1) * sizeof *buf);
        float *from0 = malloc((size_t)(n + 1) * sizeof *from0);
        ck_assert(buf && from0);
        for (int64_t i = 0; i < n; i++)
            buf[i] = rank_value(rank, i);
        UZ_CK_OK(uz_comm_allreduce_mean(g_world, n ? buf : NULL, n));
        memcpy(from0, buf, (size_t)n * sizeof *buf);
        UZ_CK_OK(uz_comm_broadcast(g_world, from0, (size_t)n * sizeof *from0, 0));
        for (int64_t i = 0; i < n; i++) {
            double sum = 0.0;
            for (int r = 0; r < size; r++)
                sum += rank_value(r, i);
            ck_assert_msg(buf[i] == (float)(sum / size), "n %lld: element %lld is %g, want %g",
                          (long long)n, (long long)i, (double)buf[i], sum / size);
        }
        /* Every rank holds the same bits. */
        ck_assert_int_eq(memcmp(buf, from0, (size_t)n * sizeof *buf), 0);
        free(buf);
        free(from0);
    }
    uz_comm_set_bucket_bytes(g_world, 0);
}
END_TEST

START_TEST(test_mpi_sum_f64_and_broadcast)
{
    int size = uz_comm_size(g_world), rank = uz_comm_rank(g_world);
    enum { N = 300, BYTES = 1001 };
    uz_comm_set_bucket_bytes(g_world, 100); /* 12 doubles or 100 bytes per bucket */
    double d[N];
    for (int i = 0; i < N; i++)
        d[i] = (rank + 1) * 0.25 + i;
    UZ_CK_OK(uz_comm_allreduce_sum_f64(g_world, d, N));
    for (int i = 0; i < N; i++)
        ck_assert_double_eq(d[i], 0.25 * size * (size + 1) / 2.0 + (double)i * size);

    for (int root = 0; root < size; root += size - 1) {
        unsigned char b[BYTES];
        for (int i = 0; i < BYTES; i++)
            b[i] = (unsigned char)(rank == root ? (i * 7 + root) & 0xff : 0xee);
        UZ_CK_OK(uz_comm_broadcast(g_world, b, BYTES, root));
        for (int i = 0; i < BYTES; i++)
            ck_assert_int_eq(b[i], (i * 7 + root) & 0xff);
    }
    uz_comm_set_bucket_bytes(g_world, 0);
    UZ_CK_OK(uz_comm_barrier(g_world));
}
END_TEST

/* Data parallel versus one process: a 2-layer MLP (6 -> 16 -> relu -> 4,
 * cross-entropy) trained K steps by gradient descent on a fixed global batch
 * of 16. In the data-parallel run each rank takes its 16/size rows, the mean
 * gradients are averaged across ranks (the global mean, as the shards are
 * equal) and every rank applies the same update; the reference is one
 * process over all 16 rows, computed on rank 0 in the same test. */
enum { DIN = 6, DH = 16, DC = 4, BATCH = 16, K_STEPS = 5 };
static const float LR = 0.5f;

static uz_params *mlp_new(void)
{
    uz_params *p = uz_params_new();
    uz_params_add(p, "fc1.weight", 2, (int64_t[]){DH, DIN});
    uz_params_add(p, "fc1.bias", 1, (int64_t[]){DH});
    uz_params_add(p, "fc2.weight", 2, (int64_t[]){DC, DH});
    uz_params_add(p, "fc2.bias", 1, (int64_t[]){DC});
    UZ_CK_OK(uz_params_finalize(p));
    for (int i = 0; i < uz_params_count(p); i++)
        uz_param_init_uniform(uz_params_at(p, i), 11, (uint64_t)i, -0.4f, 0.4f);
    return p;
}

/* Accumulates the gradient of the mean loss over rows [row0, row0 + rows). */
static float mlp_grad(uz_params *p, uz_ctx *ctx, float *x, const int32_t *y, int64_t row0,
                      int64_t rows)
{
    uz_tensor *in = uz_tensor_wrap(ctx, 2, (int64_t[]){rows, DIN}, x + row0 * DIN);
    uz_tensor *h = uz_relu(ctx, uz_linear(ctx, in, uz_params_find(p, "fc1.weight"),
                                          uz_params_find(p, "fc1.bias")));
    uz_tensor *logits = uz_linear(ctx, h, uz_params_find(p, "fc2.weight"),
                                  uz_params_find(p, "fc2.bias"));
    uz_tensor *loss = uz_cross_entropy(ctx, logits, y + row0, -100, 0.0f);
    UZ_CK_NOTNULL(loss);
    UZ_CK_OK(uz_backward(ctx, loss));
    float v = loss->data[0];
    uz_ctx_reset(ctx);
    return v;
}

static void sgd_update(uz_params *p)
{
    float *w = uz_params_data(p), *g = uz_params_grad(p);
    for (int64_t i = 0; i < uz_params_numel(p); i++)
        w[i] -= LR * g[i];
    uz_params_zero_grad(p);
}

START_TEST(test_mpi_data_parallel_matches_single)
{
    int size = uz_comm_size(g_world), rank = uz_comm_rank(g_world);
    ck_assert_int_eq(BATCH % size, 0);
    float x[BATCH * DIN];
    int32_t y[BATCH];
    uz_rng_fill_uniform(x, BATCH * DIN, 5, 0, 0, -1.0f, 1.0f);
    for (int b = 0; b < BATCH; b++) /* a learnable rule: the sign pattern of two inputs */
        y[b] = (x[b * DIN] > 0.0f) * 2 + (x[b * DIN + 1] > 0.0f);
    uz_ctx *ctx = uz_ctx_new(0, 0);

    /* Data parallel (rank 0's initial parameters broadcast, as a trainer does). */
    uz_params *dp = mlp_new();
    int64_t n = uz_params_numel(dp), rows = BATCH / size;
    UZ_CK_OK(uz_comm_broadcast(g_world, uz_params_data(dp), (size_t)n * sizeof(float), 0));
    for (int s = 0; s < K_STEPS; s++) {
        mlp_grad(dp, ctx, x, y, rank * rows, rows);
        UZ_CK_OK(uz_comm_allreduce_mean(g_world, uz_params_grad(dp), n));
        sgd_update(dp);
    }
    float *from0 = malloc((size_t)n * sizeof *from0);
    ck_assert_ptr_nonnull(from0);
    memcpy(from0, uz_params_data(dp), (size_t)n * sizeof *from0);
    UZ_CK_OK(uz_comm_broadcast(g_world, from0, (size_t)n * sizeof *from0, 0));
    /* Every rank took the same steps: identical bits. */
    ck_assert_int_eq(memcmp(from0, uz_params_data(dp), (size_t)n * sizeof *from0), 0);

    if (rank == 0) {
        uz_params *ref = mlp_new();
        float first = 0.0f, last = 0.0f;
        for (int s = 0; s < K_STEPS; s++) {
            last = mlp_grad(ref, ctx, x, y, 0, BATCH);
            if (s == 0)
                first = last;
            sgd_update(ref);
        }
        ck_assert_msg(last < first, "the reference did not learn: loss %g -> %g", (double)first,
                      (double)last);
        /* The runs differ only in float summation order (rows summed per
         * shard, then the shards; the loss mean divides by 8 per shard and 2
         * across ranks rather than 16 at once), a few ulp (~1e-7 relative)
         * per gradient element per step. Five steps of lr 0.5 on gradients
         * below 1 move parameters of size ~0.1-1 by at most a few times
         * 1e-7; 1e-6 relative to max(|w|, 0.1) leaves margin while any
         * real difference (a shard missed, sum instead of mean: an O(lr*g)
         * change) is far above it. */
        const float *a = uz_params_data(dp), *b = uz_params_data(ref);
        double worst = 0.0;
        for (int64_t i = 0; i < n; i++) {
            double rel = fabs((double)a[i] - b[i]) / fmax(fabs((double)b[i]), 0.1);
            worst = fmax(worst, rel);
            ck_assert_msg(rel <= 1e-6, "parameter %lld: data parallel %.9g, single %.9g",
                          (long long)i, (double)a[i], (double)b[i]);
        }
        printf("data parallel vs single process after %d steps: max relative diff %.3g "
               "(loss %.4f -> %.4f)\n", K_STEPS, worst, (double)first, (double)last);
        uz_params_free(ref);
    }
    free(from0);
    uz_params_free(dp);
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("comm");
    /* A failed start (under mpirun, a failing MPI) is reported by test_mpi_world. */
    if (uz_comm_init(&g_world) != UZ_OK)
        snprintf(g_init_error, sizeof g_init_error, "%s", uz_error_message());
    if (!g_world || uz_comm_size(g_world) > 1) {
        /* The ranks' processes are MPI's: no fork per test. */
        setenv("CK_FORK", "no", 1);
        TCase *tc = tcase_create("mpi");
        tcase_add_unchecked_fixture(tc, NULL, world_free);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_mpi_world);
        tcase_add_test(tc, test_mpi_allreduce_mean);
        tcase_add_test(tc, test_mpi_sum_f64_and_broadcast);
        tcase_add_test(tc, test_mpi_data_parallel_matches_single);
        suite_add_tcase(s, tc);
        return s;
    }
    world_free();
    TCase *tc = tcase_create("single");
    tcase_add_test(tc, test_single_world);
    tcase_add_test(tc, test_single_launch_of_one);
    tcase_add_test(tc, test_single_mean_is_identity);
    tcase_add_test(tc, test_single_broadcast);
    tcase_add_test(tc, test_single_bad_args);
    tcase_add_test(tc, test_bucket_sizes);
    suite_add_tcase(s, tc);
    return s;
}
