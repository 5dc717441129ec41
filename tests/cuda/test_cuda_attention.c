/* Attention on CUDA against the CPU and through finite differences: plain,
 * masked (with a fully masked query), causal, fewer queries than keys, q, k
 * and v as permuted views of [B, T, H, D] projections (read in place), and
 * a larger case at the shapes of a small model. */
#include "cuda_check.h"
#include "cuda_main.h"

#include <math.h>

typedef struct att_case {
    bool causal, permuted, masked;
} att_case;

static uz_tensor *f_attention(uz_ctx *ctx, uz_tensor **in, void *user)
{
    const att_case *c = user;
    uz_tensor *q = in[0], *k = in[1], *v = in[2];
    if (c->permuted) {
        static const int perm[4] = {0, 2, 1, 3};
        q = uz_permute(ctx, q, perm);
        k = uz_permute(ctx, k, perm);
        v = uz_permute(ctx, v, perm);
    }
    return uz_attention(ctx, q, k, v, c->masked ? in[3] : NULL, c->causal, 0.0f);
}

START_TEST(test_small)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    /* Query 2 sees no key at all. */
    float m[3 * 5];
    for (int i = 0; i < 15; i++)
        m[i] = i / 5 == 2 || i % 4 == 3 ? -INFINITY : 0.1f * (float)(i % 3);
    uz_tensor *mask = uz_tensor_from(ctx, 2, (int64_t[]){3, 5}, m);
    uz_tensor *in[4] = {uz_test_rand(ctx, 4, (int64_t[]){2, 2, 3, 4}, 1, -1, 1),
                        uz_test_rand(ctx, 4, (int64_t[]){2, 2, 5, 4}, 2, -1, 1),
                        uz_test_rand(ctx, 4, (int64_t[]){2, 2, 5, 3}, 3, -1, 1), mask};
    static const att_case cases[] = {
        {false, false, false}, {true, false, false}, {false, false, true}, {true, false, true}};
    for (size_t i = 0; i < 4; i++) {
        char msg[512];
        ck_assert_msg(uz_cuda_agree(in, 4, f_attention, (void *)&cases[i], UZ_CUDA_EXACT, msg,
                                    sizeof msg),
                      "case %zu: %s", i, msg);
        ck_assert_msg(uz_cuda_gradcheck(in, 4, f_attention, (void *)&cases[i], UZ_GC_DEFAULT,
                                        msg, sizeof msg),
                      "case %zu: %s", i, msg);
    }
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_permuted)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    /* [B, T, H, D], permuted to [B, H, T, D] inside. */
    uz_tensor *in[3] = {uz_test_rand(ctx, 4, (int64_t[]){2, 4, 3, 2}, 4, -1, 1),
                        uz_test_rand(ctx, 4, (int64_t[]){2, 4, 3, 2}, 5, -1, 1),
                        uz_test_rand(ctx, 4, (int64_t[]){2, 4, 3, 2}, 6, -1, 1)};
    static const att_case c = {true, true, false};
    UZ_CK_AGREE(in, 3, f_attention, (void *)&c, UZ_CUDA_EXACT);
    UZ_CK_GRADCHECK(in, 3, f_attention, (void *)&c);
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_model_sized)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *in[3] = {uz_test_rand(ctx, 4, (int64_t[]){2, 128, 4, 32}, 7, -1, 1),
                        uz_test_rand(ctx, 4, (int64_t[]){2, 128, 4, 32}, 8, -1, 1),
                        uz_test_rand(ctx, 4, (int64_t[]){2, 128, 4, 32}, 9, -1, 1)};
    static const att_case c = {true, true, false};
    UZ_CK_AGREE(in, 3, f_attention, (void *)&c, UZ_CUDA_EXACT);
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("cuda_attention");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_small);
    tcase_add_test(tc, test_permuted);
    tcase_add_test(tc, test_model_sized);
    suite_add_tcase(s, tc);
    return s;
}
