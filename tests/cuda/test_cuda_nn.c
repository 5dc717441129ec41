/* The fused nn ops on CUDA against the CPU and through finite differences:
 * softmax and log-softmax with a broadcast mask holding -inf (and a fully
 * masked row), cross-entropy with ignore_index and label smoothing, layer
 * norm with and without affine parameters (many row blocks for the
 * parameter gradients), dropout (the same Philox masks bit for bit),
 * embedding with repeated and padding ids, L2 normalisation, BCE and focal
 * loss on logits. */
#include "cuda_check.h"
#include "cuda_main.h"

#include <math.h>
#include <string.h>

static const float MASK34[12] = {0.0f, -INFINITY, 0.5f, 0.0f, -INFINITY, -INFINITY,
                                 -INFINITY, -INFINITY, -1.0f, 0.0f, 0.0f, -INFINITY};

static uz_tensor *f_softmax(uz_ctx *ctx, uz_tensor **in, void *user)
{
    bool log_space = user != NULL;
    uz_tensor *mask = in[1];
    return log_space ? uz_log_softmax(ctx, in[0], mask) : uz_softmax(ctx, in[0], mask);
}

/* log_softmax's -inf outputs: sum the finite ones only (a weighted sum with
 * -inf entries is not a number). */
static uz_tensor *f_log_softmax_finite(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    uz_tensor *y = uz_log_softmax(ctx, in[0], in[1]);
    uz_tensor *keep = uz_tensor_from(ctx, 2, (int64_t[]){3, 4},
                                     (float[]){1, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0});
    uz_tensor *zero = uz_tensor_zeros(ctx, 0, (int64_t[]){1});
    return uz_where(ctx, keep, y, zero);
}

START_TEST(test_softmax)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *mask = uz_tensor_from(ctx, 2, (int64_t[]){3, 4}, MASK34);
    uz_tensor *in[2] = {uz_test_rand(ctx, 3, (int64_t[]){2, 3, 4}, 1, -3, 3), mask};
    UZ_CK_AGREE(in, 2, f_softmax, NULL, UZ_CUDA_EXACT);
    UZ_CK_GRADCHECK(in, 2, f_softmax, NULL);
    UZ_CK_AGREE(in, 2, f_log_softmax_finite, NULL, UZ_CUDA_EXACT);
    UZ_CK_GRADCHECK(in, 2, f_log_softmax_finite, NULL);
    uz_tensor *big[2] = {uz_test_rand(ctx, 2, (int64_t[]){300, 1000}, 2, -5, 5),
                         uz_test_rand(ctx, 1, (int64_t[]){1000}, 3, -1, 1)};
    UZ_CK_AGREE(big, 2, f_softmax, NULL, UZ_CUDA_EXACT);
    UZ_CK_AGREE(big, 2, f_softmax, (void *)1, UZ_CUDA_EXACT);
    uz_ctx_free(ctx);
}
END_TEST

typedef struct ce_case {
    const int32_t *targets;
    int32_t ignore;
    float smoothing;
} ce_case;

static uz_tensor *f_ce(uz_ctx *ctx, uz_tensor **in, void *user)
{
    const ce_case *c = user;
    return uz_cross_entropy(ctx, in[0], c->targets, c->ignore, c->smoothing);
}

START_TEST(test_cross_entropy)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    static const int32_t t6[6] = {3, -100, 0, 9, 9, 4};
    uz_tensor *in[1] = {uz_test_rand(ctx, 2, (int64_t[]){6, 10}, 4, -2, 2)};
    ce_case plain = {t6, -100, 0.0f}, smooth = {t6, -100, 0.1f};
    UZ_CK_AGREE(in, 1, f_ce, &plain, UZ_CUDA_EXACT);
    UZ_CK_GRADCHECK(in, 1, f_ce, &plain);
    UZ_CK_AGREE(in, 1, f_ce, &smooth, UZ_CUDA_EXACT);
    UZ_CK_GRADCHECK(in, 1, f_ce, &smooth);
    int64_t n = 512, c = 5000;
    int32_t *tb = malloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        tb[i] = i % 17 == 0 ? -1 : (int32_t)((i * 131) % c);
    ce_case big = {tb, -1, 0.05f};
    uz_tensor *bin[1] = {uz_test_rand(ctx, 2, (int64_t[]){n, c}, 5, -4, 4)};
    UZ_CK_AGREE(bin, 1, f_ce, &big, UZ_CUDA_EXACT);
    free(tb);
    uz_ctx_free(ctx);
}
END_TEST

static uz_tensor *f_ln(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    return uz_layer_norm(ctx, in[0], in[1], in[2], 1e-5f);
}

static uz_tensor *f_ln_plain(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    return uz_layer_norm(ctx, in[0], NULL, NULL, 1e-5f);
}

START_TEST(test_layer_norm)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *in[3] = {uz_test_rand(ctx, 3, (int64_t[]){2, 3, 7}, 6, -2, 2),
                        uz_test_rand(ctx, 1, (int64_t[]){7}, 7, 0.5f, 1.5f),
                        uz_test_rand(ctx, 1, (int64_t[]){7}, 8, -1, 1)};
    UZ_CK_AGREE(in, 3, f_ln, NULL, UZ_CUDA_EXACT);
    UZ_CK_GRADCHECK(in, 3, f_ln, NULL);
    UZ_CK_AGREE(in, 1, f_ln_plain, NULL, UZ_CUDA_EXACT);
    UZ_CK_GRADCHECK(in, 1, f_ln_plain, NULL);
    uz_tensor *big[3] = {uz_test_rand(ctx, 2, (int64_t[]){300, 768}, 9, -3, 3),
                         uz_test_rand(ctx, 1, (int64_t[]){768}, 10, 0.5f, 1.5f),
                         uz_test_rand(ctx, 1, (int64_t[]){768}, 11, -1, 1)};
    UZ_CK_AGREE(big, 3, f_ln, NULL, UZ_CUDA_EXACT);
    uz_ctx_free(ctx);
}
END_TEST

static uz_tensor *f_dropout(uz_ctx *ctx, uz_tensor **in, void *user)
{
    uz_ctx_set_seed(ctx, 1234);
    return uz_dropout(ctx, in[0], *(const float *)user, true);
}

START_TEST(test_dropout_same_masks)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *in[1] = {uz_test_rand(ctx, 2, (int64_t[]){37, 1001}, 12, -1, 1)};
    /* Tolerance 0: the kept elements are the same products, so bit-equal. */
    static const float ps[] = {0.1f, 0.5f, 1.0f};
    for (int i = 0; i < 3; i++)
        UZ_CK_AGREE(in, 1, f_dropout, (void *)&ps[i], ((uz_cuda_tol){0.0}));
    uz_ctx_free(ctx);
}
END_TEST

typedef struct emb_case {
    const int32_t *ids;
    int64_t n;
    int32_t padding;
} emb_case;

static uz_tensor *f_embedding(uz_ctx *ctx, uz_tensor **in, void *user)
{
    const emb_case *c = user;
    return uz_embedding(ctx, in[0], c->ids, 1, (int64_t[]){c->n}, c->padding);
}

START_TEST(test_embedding)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    static const int32_t ids[7] = {2, 0, 2, 4, 1, 2, 0};
    uz_tensor *in[1] = {uz_test_rand(ctx, 2, (int64_t[]){5, 3}, 13, -1, 1)};
    emb_case plain = {ids, 7, -1}, pad = {ids, 7, 2};
    UZ_CK_AGREE(in, 1, f_embedding, &plain, UZ_CUDA_EXACT);
    UZ_CK_GRADCHECK(in, 1, f_embedding, &plain);
    UZ_CK_AGREE(in, 1, f_embedding, &pad, UZ_CUDA_EXACT);
    UZ_CK_GRADCHECK(in, 1, f_embedding, &pad);
    int64_t n = 8192;
    int32_t *bid = malloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        bid[i] = (int32_t)((i * i + 7 * i) % 1000);
    emb_case big = {bid, n, 0};
    uz_tensor *bin[1] = {uz_test_rand(ctx, 2, (int64_t[]){1000, 96}, 14, -1, 1)};
    /* The same additions in the same order as the CPU: bit-equal. */
    UZ_CK_AGREE(bin, 1, f_embedding, &big, ((uz_cuda_tol){0.0}));
    free(bid);
    uz_ctx_free(ctx);
}
END_TEST

static uz_tensor *f_l2(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    return uz_l2_normalize(ctx, in[0], 1e-6f);
}

static uz_tensor *f_cos(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    return uz_cosine_similarity_matrix(ctx, in[0], in[1], 1e-8f);
}

START_TEST(test_l2_normalize)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *in[2] = {uz_test_rand(ctx, 2, (int64_t[]){4, 6}, 15, -1, 1),
                        uz_test_rand(ctx, 2, (int64_t[]){3, 6}, 16, -1, 1)};
    UZ_CK_AGREE(in, 1, f_l2, NULL, UZ_CUDA_EXACT);
    UZ_CK_GRADCHECK(in, 1, f_l2, NULL);
    UZ_CK_AGREE(in, 2, f_cos, NULL, UZ_CUDA_EXACT);
    UZ_CK_GRADCHECK(in, 2, f_cos, NULL);
    uz_ctx_free(ctx);
}
END_TEST

static uz_tensor *f_bce(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    return uz_bce_with_logits(ctx, in[0], in[1], in[2]);
}

static uz_tensor *f_focal(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    return uz_sigmoid_focal_loss(ctx, in[0], in[1], 0.25f, 2.0f);
}

START_TEST(test_bce_focal)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *y = uz_tensor_from(ctx, 2, (int64_t[]){2, 3}, (float[]){1, 0, 1, 0, 0, 1});
    uz_tensor *w = uz_tensor_from(ctx, 1, (int64_t[]){3}, (float[]){0.5f, 1.0f, 2.0f});
    uz_tensor *in[3] = {uz_test_rand(ctx, 2, (int64_t[]){2, 3}, 17, -3, 3), y, w};
    UZ_CK_AGREE(in, 3, f_bce, NULL, UZ_CUDA_EXACT);
    UZ_CK_GRADCHECK(in, 3, f_bce, NULL);
    UZ_CK_AGREE(in, 2, f_focal, NULL, UZ_CUDA_EXACT);
    UZ_CK_GRADCHECK(in, 2, f_focal, NULL);
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("cuda_nn");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_softmax);
    tcase_add_test(tc, test_cross_entropy);
    tcase_add_test(tc, test_layer_norm);
    tcase_add_test(tc, test_dropout_same_masks);
    tcase_add_test(tc, test_embedding);
    tcase_add_test(tc, test_l2_normalize);
    tcase_add_test(tc, test_bce_focal);
    suite_add_tcase(s, tc);
    return s;
}
