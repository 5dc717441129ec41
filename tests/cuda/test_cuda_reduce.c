/* sum, mean and max on CUDA against the CPU and through finite
 * differences: several dim sets with and without keepdim, a transposed
 * input, large reductions that take the chunked (innermost dim kept) and
 * segmented (innermost dim reduced) paths, ties (the gradient must reach
 * the same first maximum as on the CPU) and NaN. */
#include "cuda_check.h"
#include "cuda_main.h"

#include <math.h>

typedef struct red_case {
    int kind; /* 0 sum, 1 mean, 2 max */
    int dims[UZ_MAX_DIMS];
    int n_dims;
    bool keepdim, transpose;
} red_case;

static uz_tensor *f_reduce(uz_ctx *ctx, uz_tensor **in, void *user)
{
    const red_case *c = user;
    uz_tensor *a = c->transpose ? uz_transpose(ctx, in[0], 0, in[0]->ndim - 1) : in[0];
    if (c->kind == 0)
        return uz_sum(ctx, a, c->dims, c->n_dims, c->keepdim);
    if (c->kind == 1)
        return uz_mean(ctx, a, c->dims, c->n_dims, c->keepdim);
    return uz_max(ctx, a, c->dims, c->n_dims, c->keepdim);
}

static const red_case SMALL[] = {
    {0, {1}, 1, false, false},    {0, {0, 2}, 2, true, false}, {0, {0}, 0, false, false},
    {1, {2}, 1, false, true},     {1, {-1, 0}, 2, true, false}, {2, {1}, 1, false, false},
    {2, {0, 2}, 2, false, true},  {2, {0}, 0, true, false},
};

START_TEST(test_small)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *in[1] = {uz_test_rand(ctx, 3, (int64_t[]){3, 4, 5}, 1, -1, 1)};
    for (size_t i = 0; i < sizeof SMALL / sizeof SMALL[0]; i++) {
        char msg[512];
        ck_assert_msg(uz_cuda_agree(in, 1, f_reduce, (void *)&SMALL[i], UZ_CUDA_EXACT, msg,
                                    sizeof msg),
                      "case %zu: %s", i, msg);
        ck_assert_msg(uz_cuda_gradcheck(in, 1, f_reduce, (void *)&SMALL[i], UZ_GC_DEFAULT, msg,
                                        sizeof msg),
                      "case %zu: %s", i, msg);
    }
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_large)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    static const red_case cases[] = {
        {0, {0}, 1, false, false}, {0, {1}, 1, false, false}, {1, {0}, 0, false, false},
        {2, {0}, 1, false, false}, {2, {1}, 1, false, false}, {2, {0}, 0, false, false},
    };
    const int64_t shapes[][2] = {{64, 3000}, {2, 100000}, {100000, 3}};
    for (int s = 0; s < 3; s++) {
        uz_tensor *in[1] = {uz_test_rand(ctx, 2, shapes[s], 2 + s, -1, 1)};
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            char msg[512];
            ck_assert_msg(uz_cuda_agree(in, 1, f_reduce, (void *)&cases[i], UZ_CUDA_EXACT, msg,
                                        sizeof msg),
                          "shape %d case %zu: %s", s, i, msg);
        }
    }
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_max_ties_and_nan)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    /* Values from {0, 1, 2}: many ties, whose gradient goes to the first. */
    int64_t n = 20000;
    float *v = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)((i * 7919) % 3);
    uz_tensor *t = uz_tensor_from(ctx, 2, (int64_t[]){40, 500}, v);
    t->requires_grad = true;
    uz_tensor *in[1] = {t};
    static const red_case cases[] = {
        {2, {0}, 1, false, false}, {2, {1}, 1, false, false}, {2, {0}, 0, false, false}};
    for (size_t i = 0; i < 3; i++)
        UZ_CK_AGREE(in, 1, f_reduce, (void *)&cases[i], UZ_CUDA_EXACT);
    v[1234] = NAN;
    v[777] = NAN;
    uz_tensor *tn = uz_tensor_from(ctx, 2, (int64_t[]){40, 500}, v);
    tn->requires_grad = true;
    uz_tensor *inn[1] = {tn};
    for (size_t i = 0; i < 3; i++)
        UZ_CK_AGREE(inn, 1, f_reduce, (void *)&cases[i], UZ_CUDA_EXACT);
    free(v);
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("cuda_reduce");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_small);
    tcase_add_test(tc, test_large);
    tcase_add_test(tc, test_max_ties_and_nan);
    suite_add_tcase(s, tc);
    return s;
}
