/* conv2d (cuDNN) and the pooling kernels on CUDA against the CPU and
 * through finite differences: stride, padding, groups and bias; 1x1;
 * overlapping max windows (the gradient must reach the same first maximum);
 * padded average pooling; adaptive pooling with uneven windows. TF32
 * convolution at UZ_CUDA_TF32. */
#include "cuda_check.h"
#include "cuda_main.h"

static uz_tensor *f_conv(uz_ctx *ctx, uz_tensor **in, void *user)
{
    return uz_conv2d(ctx, in[0], in[1], in[2], *(const uz_conv2d_opts *)user);
}

static uz_tensor *f_conv_nobias(uz_ctx *ctx, uz_tensor **in, void *user)
{
    return uz_conv2d(ctx, in[0], in[1], NULL, *(const uz_conv2d_opts *)user);
}

START_TEST(test_conv2d)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *in[3] = {uz_test_rand(ctx, 4, (int64_t[]){2, 4, 7, 6}, 1, -1, 1),
                        uz_test_rand(ctx, 4, (int64_t[]){6, 2, 3, 3}, 2, -1, 1),
                        uz_test_rand(ctx, 1, (int64_t[]){6}, 3, -1, 1)};
    uz_conv2d_opts o = {.stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 1, .groups = 2};
    UZ_CK_AGREE(in, 3, f_conv, &o, UZ_CUDA_EXACT);
    UZ_CK_GRADCHECK(in, 3, f_conv, &o);
    uz_tensor *pw[2] = {in[0], uz_test_rand(ctx, 4, (int64_t[]){5, 4, 1, 1}, 4, -1, 1)};
    uz_conv2d_opts one = {0};
    UZ_CK_AGREE(pw, 2, f_conv_nobias, &one, UZ_CUDA_EXACT);
    UZ_CK_GRADCHECK(pw, 2, f_conv_nobias, &one);
    uz_tensor *big[3] = {uz_test_rand(ctx, 4, (int64_t[]){8, 16, 32, 32}, 5, -1, 1),
                         uz_test_rand(ctx, 4, (int64_t[]){32, 16, 3, 3}, 6, -1, 1),
                         uz_test_rand(ctx, 1, (int64_t[]){32}, 7, -1, 1)};
    uz_conv2d_opts same = {.pad_h = 1, .pad_w = 1};
    UZ_CK_AGREE(big, 3, f_conv, &same, UZ_CUDA_EXACT);
    bool was = uz_cuda_set_tf32(true);
    UZ_CK_AGREE(big, 3, f_conv, &same, UZ_CUDA_TF32);
    uz_cuda_set_tf32(was);
    uz_ctx_free(ctx);
}
END_TEST

typedef struct pool_case {
    int kind; /* 0 max, 1 avg, 2 adaptive */
    uz_pool2d_opts o;
    int oh, ow;
} pool_case;

static uz_tensor *f_pool(uz_ctx *ctx, uz_tensor **in, void *user)
{
    const pool_case *c = user;
    if (c->kind == 0)
        return uz_max_pool2d(ctx, in[0], c->o);
    if (c->kind == 1)
        return uz_avg_pool2d(ctx, in[0], c->o);
    return uz_adaptive_avg_pool2d(ctx, in[0], c->oh, c->ow);
}

START_TEST(test_pools)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *in[1] = {uz_test_rand(ctx, 4, (int64_t[]){2, 3, 7, 5}, 8, -1, 1)};
    static const pool_case cases[] = {
        {0, {.kernel_h = 3, .kernel_w = 2, .stride_h = 1, .stride_w = 1}, 0, 0},
        {0, {.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1},
         0, 0},
        {1, {.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 1},
         0, 0},
        {1, {.kernel_h = 2, .kernel_w = 2}, 0, 0},
        {2, {0}, 3, 2},
        {2, {0}, 1, 1},
        {2, {0}, 7, 5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char msg[512];
        ck_assert_msg(uz_cuda_agree(in, 1, f_pool, (void *)&cases[i], UZ_CUDA_EXACT, msg,
                                    sizeof msg),
                      "case %zu: %s", i, msg);
        ck_assert_msg(uz_cuda_gradcheck(in, 1, f_pool, (void *)&cases[i], UZ_GC_DEFAULT, msg,
                                        sizeof msg),
                      "case %zu: %s", i, msg);
    }
    /* Ties: the gradient goes to the same first maximum on both sides. */
    float v[2 * 3 * 7 * 5];
    for (int i = 0; i < 2 * 3 * 7 * 5; i++)
        v[i] = (float)(i % 4 == 0);
    uz_tensor *ties = uz_tensor_from(ctx, 4, (int64_t[]){2, 3, 7, 5}, v);
    ties->requires_grad = true;
    uz_tensor *tin[1] = {ties};
    UZ_CK_AGREE(tin, 1, f_pool, (void *)&cases[0], UZ_CUDA_EXACT);
    UZ_CK_AGREE(tin, 1, f_pool, (void *)&cases[1], UZ_CUDA_EXACT);
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("cuda_conv");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_conv2d);
    tcase_add_test(tc, test_pools);
    suite_add_tcase(s, tc);
    return s;
}
