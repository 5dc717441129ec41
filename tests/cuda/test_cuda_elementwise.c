/* Elementwise ops on CUDA against the CPU and through finite differences:
 * every binary op on equal shapes and on a transposed (strided) operand,
 * add and sub broadcast (gradients summed by the reduce kernels), every
 * unary op on inputs away from their kinks, where with a broadcast
 * condition; last, the broadcast backward of mul/div/pow, whose scratch the
 * elementwise front-end allocates. */
#include "cuda_check.h"
#include "cuda_main.h"

typedef struct binary_case {
    uz_tensor *(*fn)(uz_ctx *, uz_tensor *, uz_tensor *);
} binary_case;

static uz_tensor *f_binary(uz_ctx *ctx, uz_tensor **in, void *user)
{
    return ((const binary_case *)user)->fn(ctx, in[0], in[1]);
}

/* a read through transposed strides. */
static uz_tensor *f_binary_t(uz_ctx *ctx, uz_tensor **in, void *user)
{
    return ((const binary_case *)user)->fn(ctx, uz_transpose(ctx, in[0], 0, 1), in[1]);
}

static const binary_case BINARY[] = {{uz_add}, {uz_sub}, {uz_mul}, {uz_div}, {uz_pow}};

START_TEST(test_binary_same_shape)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    /* Positive bases and divisors keep pow and div smooth. */
    uz_tensor *in[2] = {uz_test_rand(ctx, 2, (int64_t[]){3, 4}, 1, 0.5f, 2.0f),
                        uz_test_rand(ctx, 2, (int64_t[]){3, 4}, 2, 0.5f, 2.0f)};
    uz_tensor *tin[2] = {uz_test_rand(ctx, 2, (int64_t[]){4, 3}, 3, 0.5f, 2.0f), in[1]};
    for (int i = 0; i < 5; i++) {
        UZ_CK_AGREE(in, 2, f_binary, (void *)&BINARY[i], UZ_CUDA_EXACT);
        UZ_CK_GRADCHECK(in, 2, f_binary, (void *)&BINARY[i]);
        UZ_CK_AGREE(tin, 2, f_binary_t, (void *)&BINARY[i], UZ_CUDA_EXACT);
    }
    uz_tensor *big[2] = {uz_test_rand(ctx, 3, (int64_t[]){16, 64, 129}, 4, 0.5f, 2.0f),
                         uz_test_rand(ctx, 3, (int64_t[]){16, 64, 129}, 5, 0.5f, 2.0f)};
    for (int i = 0; i < 5; i++)
        UZ_CK_AGREE(big, 2, f_binary, (void *)&BINARY[i], UZ_CUDA_EXACT);
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_binary_broadcast_add_sub)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *in[2] = {uz_test_rand(ctx, 3, (int64_t[]){2, 3, 4}, 6, -1, 1),
                        uz_test_rand(ctx, 2, (int64_t[]){3, 1}, 7, -1, 1)};
    for (int i = 0; i < 2; i++) {
        UZ_CK_AGREE(in, 2, f_binary, (void *)&BINARY[i], UZ_CUDA_EXACT);
        UZ_CK_GRADCHECK(in, 2, f_binary, (void *)&BINARY[i]);
    }
    uz_ctx_free(ctx);
}
END_TEST

typedef struct unary_case {
    const char *name;
    uz_tensor *(*fn)(uz_ctx *, uz_tensor *);
    float lo, hi;
} unary_case;

static uz_tensor *gelu_erf(uz_ctx *ctx, uz_tensor *a) { return uz_gelu(ctx, a, UZ_GELU_ERF); }
static uz_tensor *gelu_tanh(uz_ctx *ctx, uz_tensor *a) { return uz_gelu(ctx, a, UZ_GELU_TANH); }
static uz_tensor *add_s(uz_ctx *ctx, uz_tensor *a) { return uz_add_scalar(ctx, a, 0.75f); }
static uz_tensor *mul_s(uz_ctx *ctx, uz_tensor *a) { return uz_mul_scalar(ctx, a, -1.5f); }
static uz_tensor *sq(uz_ctx *ctx, uz_tensor *a) { return uz_pow_scalar(ctx, a, 2.0f); }
static uz_tensor *cube(uz_ctx *ctx, uz_tensor *a) { return uz_pow_scalar(ctx, a, 3.0f); }

/* Ranges stay off the kinks (relu, abs at 0) and the domains' edges. */
static const unary_case UNARY[] = {
    {"exp", uz_exp, -2, 2},           {"log", uz_log, 0.2f, 3},
    {"sqrt", uz_sqrt, 0.2f, 3},       {"relu", uz_relu, 0.1f, 2},
    {"abs", uz_abs, 0.1f, 2},         {"sigmoid", uz_sigmoid, -3, 3},
    {"tanh", uz_tanh, -2, 2},         {"silu", uz_silu, -3, 3},
    {"gelu_erf", gelu_erf, -3, 3},    {"gelu_tanh", gelu_tanh, -3, 3},
    {"add_scalar", add_s, -1, 1},     {"mul_scalar", mul_s, -1, 1},
    {"square", sq, -1, 1},            {"cube", cube, -1, 1},
};

static uz_tensor *f_unary(uz_ctx *ctx, uz_tensor **in, void *user)
{
    const unary_case *c = user;
    return c->fn(ctx, in[0]);
}

START_TEST(test_unary)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    for (size_t i = 0; i < sizeof UNARY / sizeof UNARY[0]; i++) {
        const unary_case *c = &UNARY[i];
        uz_tensor *in[1] = {uz_test_rand(ctx, 2, (int64_t[]){3, 5}, 10 + i, c->lo, c->hi)};
        char msg[512];
        ck_assert_msg(uz_cuda_agree(in, 1, f_unary, (void *)c, UZ_CUDA_EXACT, msg, sizeof msg),
                      "%s: %s", c->name, msg);
        ck_assert_msg(uz_cuda_gradcheck(in, 1, f_unary, (void *)c, UZ_GC_DEFAULT, msg,
                                        sizeof msg),
                      "%s: %s", c->name, msg);
        uz_tensor *big[1] = {uz_test_rand(ctx, 1, (int64_t[]){100003}, 40 + i, c->lo, c->hi)};
        ck_assert_msg(uz_cuda_agree(big, 1, f_unary, (void *)c, UZ_CUDA_EXACT, msg, sizeof msg),
                      "%s (large): %s", c->name, msg);
    }
    uz_ctx_free(ctx);
}
END_TEST

static uz_tensor *f_where(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    return uz_where(ctx, in[2], in[0], in[1]);
}

START_TEST(test_where)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *cond = uz_tensor_from(ctx, 2, (int64_t[]){1, 4}, (float[]){1, 0, 0, 2});
    uz_tensor *in[3] = {uz_test_rand(ctx, 2, (int64_t[]){3, 4}, 20, -1, 1),
                        uz_test_rand(ctx, 2, (int64_t[]){3, 4}, 21, -1, 1), cond};
    UZ_CK_AGREE(in, 3, f_where, NULL, UZ_CUDA_EXACT);
    UZ_CK_GRADCHECK(in, 3, f_where, NULL);
    uz_ctx_free(ctx);
}
END_TEST

/* Needs core/ops/elementwise.c to allocate its broadcast-gradient scratch
 * on the operand's device (uz_ctx_zalloc_on); kept last so that a failure
 * here cannot disturb the suites above. */
START_TEST(test_binary_broadcast_mul_div_pow)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *in[2] = {uz_test_rand(ctx, 3, (int64_t[]){2, 3, 4}, 30, 0.5f, 2.0f),
                        uz_test_rand(ctx, 2, (int64_t[]){3, 1}, 31, 0.5f, 2.0f)};
    for (int i = 2; i < 5; i++) {
        UZ_CK_AGREE(in, 2, f_binary, (void *)&BINARY[i], UZ_CUDA_EXACT);
        UZ_CK_GRADCHECK(in, 2, f_binary, (void *)&BINARY[i]);
    }
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("cuda_elementwise");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_binary_same_shape);
    tcase_add_test(tc, test_binary_broadcast_add_sub);
    tcase_add_test(tc, test_unary);
    tcase_add_test(tc, test_where);
    tcase_add_test(tc, test_binary_broadcast_mul_div_pow);
    suite_add_tcase(s, tc);
    return s;
}
