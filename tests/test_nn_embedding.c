/* embedding: gathered rows, gradient checks with repeated ids and a
 * transposed table, padding_idx rows without gradient, a scatter-add that
 * matches a serial loop bit for bit for 1 and 2 threads, errors naming the
 * bad id's position. */
#include <check.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"

START_TEST(test_embedding_values)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *table = uz_test_rand(ctx, 2, (int64_t[]){6, 3}, 1, -1, 1);
    const int32_t ids[6] = {5, 0, 2, 2, 4, 1};
    uz_tensor *y = uz_embedding(ctx, table, ids, 2, (int64_t[]){2, 3}, -1);
    UZ_CK_NOTNULL(y);
    ck_assert_int_eq(y->ndim, 3);
    ck_assert_int_eq(y->shape[0], 2);
    ck_assert_int_eq(y->shape[1], 3);
    ck_assert_int_eq(y->shape[2], 3);
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 3; j++)
            ck_assert(y->data[i * 3 + j] == table->data[ids[i] * 3 + j]);
    /* 0-d ids: one row, shape [D]. */
    uz_tensor *y0 = uz_embedding(ctx, table, (int32_t[]){3}, 0, NULL, -1);
    UZ_CK_NOTNULL(y0);
    ck_assert_int_eq(y0->ndim, 1);
    ck_assert(y0->data[1] == table->data[10]);
    uz_ctx_free(ctx);
}
END_TEST

static const int32_t GC_IDS[8] = {1, 3, 3, 0, 4, 1, 3, 2};

static uz_tensor *f_embedding(uz_ctx *ctx, uz_tensor **in, void *user)
{
    uz_tensor *t = user ? uz_transpose(ctx, in[0], 0, 1) : in[0];
    return uz_embedding(ctx, t, GC_IDS, 2, (int64_t[]){2, 4}, -1);
}

START_TEST(test_embedding_grad)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    char msg[256];
    uz_tensor *in[1];
    in[0] = uz_test_rand(ctx, 2, (int64_t[]){5, 3}, 1, -1, 1);
    ck_assert_msg(uz_gradcheck(in, 1, f_embedding, NULL, UZ_GC_DEFAULT, msg, sizeof msg), "plain: %s", msg);
    in[0] = uz_test_rand(ctx, 2, (int64_t[]){3, 5}, 2, -1, 1); /* transposed: [5,3] */
    int nc = 1;
    ck_assert_msg(uz_gradcheck(in, 1, f_embedding, &nc, UZ_GC_DEFAULT, msg, sizeof msg), "non-contiguous: %s", msg);
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_embedding_padding)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *table = uz_test_rand(ctx, 2, (int64_t[]){4, 2}, 1, -1, 1);
    const int32_t ids[5] = {0, 2, 0, 3, 2};
    uz_tensor *y = uz_embedding(ctx, table, ids, 1, (int64_t[]){5}, 0);
    UZ_CK_NOTNULL(y);
    ck_assert(y->data[0] == table->data[0]); /* the padding row is still gathered */
    float ones[10];
    for (int i = 0; i < 10; i++)
        ones[i] = 1.0f;
    UZ_CK_OK(uz_backward_with(ctx, y, ones));
    const float want[8] = {0, 0, 0, 0, 2, 2, 1, 1};
    for (int i = 0; i < 8; i++)
        ck_assert_float_eq(table->grad->data[i], want[i]);
    uz_ctx_free(ctx);
}
END_TEST

enum { V = 50, D = 130, N = 4000 };

static void emb_grad(int threads, const int32_t *ids, const float *dy, float *out)
{
    omp_set_num_threads(threads);
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *table = uz_test_rand(ctx, 2, (int64_t[]){V, D}, 3, -1, 1);
    uz_tensor *y = uz_embedding(ctx, table, ids, 1, (int64_t[]){N}, 7);
    ck_assert_ptr_nonnull(y);
    UZ_CK_OK(uz_backward_with(ctx, y, dy));
    memcpy(out, table->grad->data, sizeof(float) * V * D);
    uz_ctx_free(ctx);
}

START_TEST(test_embedding_deterministic)
{
    int32_t *ids = malloc(sizeof(int32_t) * N);
    float *dy = malloc(sizeof(float) * N * D);
    float *g1 = malloc(sizeof(float) * V * D), *g2 = malloc(sizeof(float) * V * D);
    float *ref = calloc(V * D, sizeof(float));
    for (int i = 0; i < N; i++)
        ids[i] = (int32_t)((i * 7919) % V);
    uz_rng_fill_uniform(dy, (int64_t)N * D, 4, 0, 0, -1.0f, 1.0f);
    /* The serial loop, in id order, that the kernel must reproduce exactly. */
    for (int i = 0; i < N; i++)
        if (ids[i] != 7)
            for (int j = 0; j < D; j++)
                ref[ids[i] * D + j] += dy[i * D + j];
    int was = omp_get_max_threads();
    emb_grad(1, ids, dy, g1);
    emb_grad(2, ids, dy, g2);
    omp_set_num_threads(was);
    ck_assert(memcmp(g1, ref, sizeof(float) * V * D) == 0);
    ck_assert(memcmp(g2, ref, sizeof(float) * V * D) == 0);
    free(ids);
    free(dy);
    free(g1);
    free(g2);
    free(ref);
}
END_TEST

START_TEST(test_embedding_errors)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *table = uz_test_rand(ctx, 2, (int64_t[]){10, 4}, 1, -1, 1);
    const int32_t ids[6] = {1, 2, 3, 4, 5, 10};
    ck_assert_ptr_null(uz_embedding(ctx, table, ids, 2, (int64_t[]){2, 3}, -1));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "embedding: id 10 at position [1,2] (flat 5) outside [0, 10)"));
    const int32_t neg[2] = {0, -3};
    ck_assert_ptr_null(uz_embedding(ctx, table, neg, 1, (int64_t[]){2}, -1));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "id -3 at position [1]"));
    ck_assert_ptr_null(uz_embedding(ctx, table, ids, 1, (int64_t[]){2}, 10));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "padding_idx 10"));
    uz_tensor *t3 = uz_test_rand(ctx, 3, (int64_t[]){2, 2, 2}, 2, -1, 1);
    ck_assert_ptr_null(uz_embedding(ctx, t3, ids, 1, (int64_t[]){2}, -1));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "table must be [V, D], got [2,2,2]"));
    ck_assert_ptr_null(uz_embedding(ctx, table, ids, 5, (int64_t[]){1, 1, 1, 1, 1}, -1));
    ck_assert_ptr_null(uz_embedding(ctx, NULL, ids, 1, (int64_t[]){2}, -1));
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("nn_embedding");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_embedding_values);
    tcase_add_test(tc, test_embedding_grad);
    tcase_add_test(tc, test_embedding_padding);
    tcase_add_test(tc, test_embedding_deterministic);
    tcase_add_test(tc, test_embedding_errors);
    suite_add_tcase(s, tc);
    return s;
}
