/* A transformer block training step on CUDA against the same step on the
 * CPU: pre-LN, causal, with dropout (the same Philox masks on both), loss
 * mean(y * g); the loss and every parameter gradient must agree. Tolerance
 * 1e-4 relative to each tensor's scale in f32 (a dozen ops deep, each
 * within UZ_CUDA_EXACT), 2e-2 with TF32 GEMMs. */
#include "cuda_check.h"
#include "cuda_main.h"
#include "models/transformer.h"

#include <stdlib.h>

enum { B = 2, T = 16, C = 32, HEADS = 4 };

typedef struct model {
    uz_params *p;
    uz_transformer_block block;
} model;

static void model_init(model *m)
{
    uz_transformer_config cfg = {.width = C, .heads = HEADS, .pre_ln = true,
                                 .gelu = UZ_GELU_TANH, .dropout = 0.1f};
    m->p = uz_params_new();
    ck_assert_int_eq(uz_transformer_block_declare(&m->block, m->p, "h.0.", &cfg), UZ_OK);
    ck_assert_int_eq(uz_params_finalize(m->p), UZ_OK);
    uz_transformer_block_init(&m->block, 5);
}

/* Loss of one step on dev; the parameter gradients land in m->p. */
static float step(model *m, uz_device dev, const float *x, const float *g)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    ck_assert_int_eq(uz_ctx_set_device(ctx, dev), UZ_OK);
    uz_ctx_set_seed(ctx, 99);
    const int64_t shape[3] = {B, T, C};
    uz_tensor *xt = uz_tensor_from(ctx, 3, shape, x), *gt = uz_tensor_from(ctx, 3, shape, g);
    uz_tensor *y = uz_transformer_block_forward(ctx, &m->block, xt, NULL, true, true);
    uz_tensor *loss = uz_mean(ctx, uz_mul(ctx, y, gt), NULL, 0, false);
    ck_assert_msg(loss != NULL, "%s", uz_error_message());
    ck_assert_int_eq(uz_backward(ctx, loss), UZ_OK);
    float l = uz_tensor_get(loss, NULL);
    ck_assert_int_eq(uz_device_sync(dev), UZ_OK);
    uz_ctx_free(ctx);
    return l;
}

static void compare(bool tf32, double rtol)
{
    model cpu, gpu;
    model_init(&cpu);
    model_init(&gpu);
    ck_assert_int_eq(uz_params_to(gpu.p, UZ_DEVICE_CUDA), UZ_OK);
    float x[B * T * C], g[B * T * C];
    uz_rng_fill_normal(x, B * T * C, 1, 0, 0, 0.0f, 1.0f);
    uz_rng_fill_normal(g, B * T * C, 2, 0, 0, 0.0f, 1.0f);
    bool was = uz_cuda_set_tf32(tf32);
    float lc = step(&cpu, UZ_DEVICE_CPU, x, g), lg = step(&gpu, UZ_DEVICE_CUDA, x, g);
    uz_cuda_set_tf32(was);
    char msg[512];
    uz_cuda_tol tol = {rtol};
    ck_assert_msg(uz_cuda_close(&lg, &lc, 1, tol, "loss", msg, sizeof msg), "%s", msg);
    int64_t n = uz_params_numel(cpu.p);
    float *gc = malloc(sizeof(float) * (size_t)n), *gg = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < uz_params_count(cpu.p); i++) {
        const uz_tensor *tc = uz_params_at(cpu.p, i), *tg = uz_params_at(gpu.p, i);
        uz_tensor_copy_out(tc->grad, gc);
        uz_tensor_copy_out(tg->grad, gg);
        ck_assert_msg(uz_cuda_close(gg, gc, uz_tensor_numel(tc), tol, tc->name, msg, sizeof msg),
                      "%s", msg);
    }
    free(gc);
    free(gg);
    uz_params_free(cpu.p);
    uz_params_free(gpu.p);
}

START_TEST(test_block_step_f32) { compare(false, 1e-4); }
END_TEST

START_TEST(test_block_step_tf32) { compare(true, 2e-2); }
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("cuda_block");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_block_step_f32);
    tcase_add_test(tc, test_block_step_tf32);
    suite_add_tcase(s, tc);
    return s;
}
