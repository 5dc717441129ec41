/* concat, split, index_select and gather on CUDA against the CPU and
 * through finite differences, repeated indices included (their gradients
 * add up in index order, as on the CPU). */
#include "cuda_check.h"
#include "cuda_main.h"

static uz_tensor *f_concat(uz_ctx *ctx, uz_tensor **in, void *user)
{
    int dim = *(const int *)user;
    /* A transposed piece exercises the contiguous copy in front. */
    uz_tensor *parts[3] = {in[0], in[1], uz_transpose(ctx, uz_transpose(ctx, in[2], 0, 1), 0, 1)};
    return uz_concat(ctx, parts, 3, dim);
}

START_TEST(test_concat)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *in[3] = {uz_test_rand(ctx, 3, (int64_t[]){2, 3, 4}, 1, -1, 1),
                        uz_test_rand(ctx, 3, (int64_t[]){2, 1, 4}, 2, -1, 1),
                        uz_test_rand(ctx, 3, (int64_t[]){2, 2, 4}, 3, -1, 1)};
    static const int dim = 1;
    UZ_CK_AGREE(in, 3, f_concat, (void *)&dim, UZ_CUDA_EXACT);
    UZ_CK_GRADCHECK(in, 3, f_concat, (void *)&dim);
    uz_ctx_free(ctx);
}
END_TEST

/* The pieces of a split, scaled differently and joined again, so each
 * view's gradient is distinct. */
static uz_tensor *f_split(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    uz_tensor *p[3];
    if (uz_split(ctx, in[0], 2, (int64_t[]){1, 2, 1}, 3, p) != UZ_OK)
        return NULL;
    uz_tensor *q[3] = {uz_mul_scalar(ctx, p[0], 2.0f), uz_exp(ctx, p[1]),
                       uz_mul_scalar(ctx, p[2], -1.0f)};
    return uz_concat(ctx, q, 3, 0);
}

START_TEST(test_split)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *in[1] = {uz_test_rand(ctx, 3, (int64_t[]){2, 3, 4}, 4, -1, 1)};
    UZ_CK_AGREE(in, 1, f_split, NULL, UZ_CUDA_EXACT);
    UZ_CK_GRADCHECK(in, 1, f_split, NULL);
    uz_ctx_free(ctx);
}
END_TEST

typedef struct sel_case {
    int dim;
    const int32_t *idx;
    int64_t n;
} sel_case;

static uz_tensor *f_index_select(uz_ctx *ctx, uz_tensor **in, void *user)
{
    const sel_case *c = user;
    return uz_index_select(ctx, in[0], c->dim, c->idx, c->n);
}

START_TEST(test_index_select)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    static const int32_t idx[6] = {2, 0, 2, 3, 2, 1};
    uz_tensor *in[1] = {uz_test_rand(ctx, 3, (int64_t[]){3, 4, 5}, 5, -1, 1)};
    for (int dim = 0; dim < 3; dim++) {
        sel_case c = {dim, idx, dim == 0 ? 4 : 6};
        UZ_CK_AGREE(in, 1, f_index_select, &c, UZ_CUDA_EXACT);
        UZ_CK_GRADCHECK(in, 1, f_index_select, &c);
    }
    uz_ctx_free(ctx);
}
END_TEST

typedef struct gather_case {
    int dim;
    const int32_t *index;
    int64_t shape[3];
} gather_case;

static uz_tensor *f_gather(uz_ctx *ctx, uz_tensor **in, void *user)
{
    const gather_case *c = user;
    return uz_gather(ctx, in[0], c->dim, c->index, 3, c->shape);
}

START_TEST(test_gather)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *in[1] = {uz_test_rand(ctx, 3, (int64_t[]){3, 4, 5}, 6, -1, 1)};
    int32_t index[60];
    for (int dim = 0; dim < 3; dim++) {
        /* Index shape smaller than the source outside dim, repeats along it. */
        gather_case c = {dim, index, {2, 3, 4}};
        c.shape[dim] = 5;
        int64_t size = in[0]->shape[dim];
        for (int i = 0; i < 60; i++)
            index[i] = (int32_t)((i * 7 + 3) % size);
        UZ_CK_AGREE(in, 1, f_gather, &c, UZ_CUDA_EXACT);
        UZ_CK_GRADCHECK(in, 1, f_gather, &c);
    }
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("cuda_index");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_concat);
    tcase_add_test(tc, test_split);
    tcase_add_test(tc, test_index_select);
    tcase_add_test(tc, test_gather);
    suite_add_tcase(s, tc);
    return s;
}
