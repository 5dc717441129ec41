/* matmul and linear on CUDA (cuBLAS) against the CPU: 2-D, batched, a
 * shared 2-D right operand, transposed views fed without a copy, linear
 * with and without bias; f32 at UZ_CUDA_EXACT, TF32 at UZ_CUDA_TF32; and
 * finite-difference gradient checks through the CUDA kernels. */
#include "cuda_check.h"
#include "cuda_main.h"

static uz_tensor *f_matmul(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    return uz_matmul(ctx, in[0], in[1]);
}

/* Both operands transposed views: cuBLAS gets them through the op flags. */
static uz_tensor *f_matmul_tt(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    int nd = in[0]->ndim;
    return uz_matmul(ctx, uz_transpose(ctx, in[0], nd - 2, nd - 1),
                     uz_transpose(ctx, in[1], in[1]->ndim - 2, in[1]->ndim - 1));
}

static uz_tensor *f_linear(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    return uz_linear(ctx, in[0], in[1], in[2]);
}

static uz_tensor *f_linear_nobias(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    return uz_linear(ctx, in[0], in[1], NULL);
}

static void check_pair(const int64_t *sa, int na, const int64_t *sb, int nb, uz_gc_fn fn,
                       bool gradcheck)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *in[2] = {uz_test_rand(ctx, na, sa, 1, -1, 1), uz_test_rand(ctx, nb, sb, 2, -1, 1)};
    UZ_CK_AGREE(in, 2, fn, NULL, UZ_CUDA_EXACT);
    if (gradcheck)
        UZ_CK_GRADCHECK(in, 2, fn, NULL);
    uz_ctx_free(ctx);
}

START_TEST(test_matmul_2d)
{
    check_pair((int64_t[]){3, 4}, 2, (int64_t[]){4, 5}, 2, f_matmul, true);
    check_pair((int64_t[]){4, 3}, 2, (int64_t[]){5, 4}, 2, f_matmul_tt, true);
    check_pair((int64_t[]){96, 80}, 2, (int64_t[]){80, 112}, 2, f_matmul, false);
}
END_TEST

START_TEST(test_matmul_batched)
{
    check_pair((int64_t[]){3, 4, 5}, 3, (int64_t[]){3, 5, 6}, 3, f_matmul, true);
    check_pair((int64_t[]){2, 5, 4}, 3, (int64_t[]){2, 6, 5}, 3, f_matmul_tt, true);
    /* b 2-D, shared across the batch: its gradient sums every batch item. */
    check_pair((int64_t[]){2, 3, 4, 5}, 4, (int64_t[]){5, 6}, 2, f_matmul, true);
    check_pair((int64_t[]){2, 3, 5, 4}, 4, (int64_t[]){6, 5}, 2, f_matmul_tt, true);
    check_pair((int64_t[]){8, 33, 40}, 3, (int64_t[]){8, 40, 17}, 3, f_matmul, false);
}
END_TEST

START_TEST(test_linear)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *in[3] = {uz_test_rand(ctx, 3, (int64_t[]){2, 3, 5}, 3, -1, 1),
                        uz_test_rand(ctx, 2, (int64_t[]){4, 5}, 4, -1, 1),
                        uz_test_rand(ctx, 1, (int64_t[]){4}, 5, -1, 1)};
    UZ_CK_AGREE(in, 3, f_linear, NULL, UZ_CUDA_EXACT);
    UZ_CK_GRADCHECK(in, 3, f_linear, NULL);
    UZ_CK_AGREE(in, 2, f_linear_nobias, NULL, UZ_CUDA_EXACT);
    UZ_CK_GRADCHECK(in, 2, f_linear_nobias, NULL);
    /* Many rows: the bias gradient takes the chunked column-sum path. */
    uz_tensor *big[3] = {uz_test_rand(ctx, 2, (int64_t[]){4096, 48}, 6, -1, 1),
                         uz_test_rand(ctx, 2, (int64_t[]){40, 48}, 7, -1, 1),
                         uz_test_rand(ctx, 1, (int64_t[]){40}, 8, -1, 1)};
    UZ_CK_AGREE(big, 3, f_linear, NULL, UZ_CUDA_EXACT);
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_tf32)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *in[2] = {uz_test_rand(ctx, 2, (int64_t[]){256, 256}, 9, -1, 1),
                        uz_test_rand(ctx, 2, (int64_t[]){256, 256}, 10, -1, 1)};
    bool was = uz_cuda_set_tf32(true);
    UZ_CK_AGREE(in, 2, f_matmul, NULL, UZ_CUDA_TF32);
    uz_cuda_set_tf32(was);
    /* And exact again once it is off. */
    UZ_CK_AGREE(in, 2, f_matmul, NULL, UZ_CUDA_EXACT);
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("cuda_blas");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_matmul_2d);
    tcase_add_test(tc, test_matmul_batched);
    tcase_add_test(tc, test_linear);
    tcase_add_test(tc, test_tf32);
    suite_add_tcase(s, tc);
    return s;
}
