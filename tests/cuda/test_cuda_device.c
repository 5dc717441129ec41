/* Device memory and transfers: uz_tensor_to both ways with its gradient,
 * reads of strided CUDA views on the host, views' backwards (stride-0
 * scatter-adds) against the CPU, parameters moved to the GPU and back,
 * initialised and zeroed there, checkpoints written from one device and
 * loaded on the other, gradient accumulation over two backward calls, and
 * a training step that allocates no device memory once warm. */
#include "cuda_check.h"
#include "cuda_main.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

START_TEST(test_to_and_back)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *a = uz_test_rand(ctx, 2, (int64_t[]){5, 7}, 1, -1, 1);
    uz_tensor *d = uz_tensor_to(ctx, a, UZ_DEVICE_CUDA);
    UZ_CK_NOTNULL(d);
    ck_assert_int_eq(d->device, UZ_DEVICE_CUDA);
    /* A strided view read on the host, element by element and whole. */
    uz_tensor *dt = uz_transpose(ctx, uz_narrow(ctx, d, 1, 2, 4), 0, 1);
    float got[20];
    uz_tensor_copy_out(dt, got);
    for (int64_t i = 0; i < 4; i++)
        for (int64_t j = 0; j < 5; j++) {
            float want = a->data[j * 7 + i + 2];
            ck_assert_float_eq(got[i * 5 + j], want);
            ck_assert_float_eq(uz_tensor_get(dt, (int64_t[]){i, j}), want);
        }
    uz_tensor *back = uz_tensor_to(ctx, dt, UZ_DEVICE_CPU);
    UZ_CK_NOTNULL(back);
    ck_assert_int_eq(back->device, UZ_DEVICE_CPU);
    uz_tensor *ref = uz_transpose(ctx, uz_narrow(ctx, a, 1, 2, 4), 0, 1);
    ck_assert_double_eq(uz_test_max_abs_diff(back, ref), 0.0);
    /* The gradient comes back through both copies and the views. */
    float w[20];
    for (int i = 0; i < 20; i++)
        w[i] = (float)i;
    UZ_CK_OK(uz_backward_with(ctx, back, w));
    for (int64_t r = 0; r < 5; r++)
        for (int64_t c = 0; c < 7; c++) {
            float want = c >= 2 && c < 6 ? (float)((c - 2) * 5 + r) : 0.0f;
            ck_assert_float_eq(a->grad->data[r * 7 + c], want);
        }
    UZ_CK_OK(uz_device_sync(UZ_DEVICE_CUDA));
    uz_ctx_free(ctx);
}
END_TEST

/* Views whose backward scatter-adds with stride-0 dims (expand), after a
 * permute and a narrow. */
static uz_tensor *f_views(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    uz_tensor *x = uz_permute(ctx, in[0], (int[]){2, 0, 1});          /* [4, 1, 3] */
    x = uz_expand(ctx, x, 4, (int64_t[]){2, 4, 5, 3});                 /* stride 0 twice */
    x = uz_narrow(ctx, x, 2, 1, 3);
    return uz_mul(ctx, uz_contiguous(ctx, x), uz_reshape(ctx, in[1], 4, (int64_t[]){2, 4, 3, 3}));
}

START_TEST(test_views)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *in[2] = {uz_test_rand(ctx, 3, (int64_t[]){1, 3, 4}, 2, -1, 1),
                        uz_test_rand(ctx, 2, (int64_t[]){8, 9}, 3, -1, 1)};
    UZ_CK_AGREE(in, 2, f_views, NULL, UZ_CUDA_EXACT);
    UZ_CK_GRADCHECK(in, 2, f_views, NULL);
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_creation_on_device)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    UZ_CK_OK(uz_ctx_set_device(ctx, UZ_DEVICE_CUDA));
    uz_tensor *f = uz_tensor_full(ctx, 2, (int64_t[]){3, 3}, 2.5f);
    uz_tensor *z = uz_tensor_zeros(ctx, 1, (int64_t[]){4});
    uz_tensor *v = uz_tensor_from(ctx, 1, (int64_t[]){3}, (float[]){1, 2, 3});
    UZ_CK_NOTNULL(f);
    ck_assert_int_eq(f->device, UZ_DEVICE_CUDA);
    ck_assert_float_eq(uz_tensor_get(f, (int64_t[]){2, 1}), 2.5f);
    ck_assert_float_eq(uz_tensor_get(z, (int64_t[]){3}), 0.0f);
    ck_assert_float_eq(uz_tensor_get(v, (int64_t[]){2}), 3.0f);
    /* uz_backward from a device loss, twice: the second call accumulates. */
    v->requires_grad = true;
    uz_tensor *loss = uz_sum(ctx, uz_mul(ctx, v, v), NULL, 0, false);
    UZ_CK_OK(uz_backward(ctx, loss));
    ck_assert_int_eq(v->grad->device, UZ_DEVICE_CUDA);
    ck_assert_float_eq(uz_tensor_get(v->grad, (int64_t[]){1}), 4.0f);
    UZ_CK_OK(uz_backward_with(ctx, v, (float[]){1, 1, 1}));
    ck_assert_float_eq(uz_tensor_get(v->grad, (int64_t[]){1}), 5.0f);
    ck_assert_uint_gt(uz_ctx_device_peak(ctx), 0);
    uz_ctx_free(ctx);
}
END_TEST

static uz_params *make_params(void)
{
    uz_params *p = uz_params_new();
    uz_params_add(p, "layer.weight", 2, (int64_t[]){3, 4});
    uz_params_add(p, "layer.bias", 1, (int64_t[]){3});
    ck_assert_int_eq(uz_params_finalize(p), UZ_OK);
    return p;
}

START_TEST(test_params_and_checkpoints)
{
    uz_params *cpu = make_params(), *gpu = make_params();
    UZ_CK_OK(uz_params_to(gpu, UZ_DEVICE_CUDA));
    ck_assert_int_eq(uz_params_device(gpu), UZ_DEVICE_CUDA);
    ck_assert_int_eq(uz_params_at(gpu, 0)->device, UZ_DEVICE_CUDA);
    ck_assert_int_eq(uz_params_at(gpu, 0)->grad->device, UZ_DEVICE_CUDA);
    /* Initialised on the device: the same values as on the CPU. */
    for (int i = 0; i < 2; i++) {
        uz_param_init_normal(uz_params_at(cpu, i), 7, (uint64_t)i, 0.0f, 1.0f);
        uz_param_init_normal(uz_params_at(gpu, i), 7, (uint64_t)i, 0.0f, 1.0f);
    }
    uz_ctx *ctx = uz_ctx_new(0, 0);
    for (int i = 0; i < 2; i++)
        ck_assert_double_eq(uz_test_max_abs_diff(uz_params_at(cpu, i), uz_params_at(gpu, i)), 0.0);
    /* Saved from the GPU, loaded on the CPU (and the reverse). */
    char path[] = "/tmp/uz_cuda_ckpt_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    UZ_CK_OK(uz_params_save(gpu, path));
    uz_param_init_const(uz_params_at(cpu, 0), 0.0f);
    UZ_CK_OK(uz_params_load(cpu, path));
    ck_assert_double_eq(uz_test_max_abs_diff(uz_params_at(cpu, 0), uz_params_at(gpu, 0)), 0.0);
    uz_param_init_uniform(uz_params_at(cpu, 1), 9, 1, -1.0f, 1.0f);
    UZ_CK_OK(uz_params_save(cpu, path));
    UZ_CK_OK(uz_params_load(gpu, path));
    ck_assert_double_eq(uz_test_max_abs_diff(uz_params_at(cpu, 1), uz_params_at(gpu, 1)), 0.0);
    unlink(path);
    /* A gradient made on the GPU, zeroed there, and the store back on the CPU. */
    UZ_CK_OK(uz_ctx_set_device(ctx, UZ_DEVICE_CUDA));
    uz_tensor *x = uz_tensor_full(ctx, 2, (int64_t[]){2, 4}, 1.0f);
    uz_tensor *y = uz_linear(ctx, x, uz_params_at(gpu, 0), uz_params_at(gpu, 1));
    UZ_CK_OK(uz_backward(ctx, uz_sum(ctx, y, NULL, 0, false)));
    ck_assert_float_eq(uz_tensor_get(uz_params_at(gpu, 1)->grad, (int64_t[]){0}), 2.0f);
    uz_params_zero_grad(gpu);
    ck_assert_float_eq(uz_tensor_get(uz_params_at(gpu, 1)->grad, (int64_t[]){0}), 0.0f);
    UZ_CK_OK(uz_params_to(gpu, UZ_DEVICE_CPU));
    ck_assert_double_eq(uz_test_max_abs_diff(uz_params_at(cpu, 1), uz_params_at(gpu, 1)), 0.0);
    uz_ctx_free(ctx);
    uz_params_free(cpu);
    uz_params_free(gpu);
}
END_TEST

/* One step of a small MLP classifier on the GPU. */
static float mlp_step(uz_ctx *ctx, uz_params *p, const float *x, const int32_t *y)
{
    uz_tensor *in = uz_tensor_from(ctx, 2, (int64_t[]){64, 32}, x);
    uz_tensor *h = uz_gelu(ctx, uz_linear(ctx, in, uz_params_at(p, 0), uz_params_at(p, 1)),
                           UZ_GELU_TANH);
    h = uz_layer_norm(ctx, h, NULL, NULL, 1e-5f);
    uz_tensor *logits = uz_linear(ctx, h, uz_params_at(p, 2), uz_params_at(p, 3));
    uz_tensor *loss = uz_cross_entropy(ctx, logits, y, -1, 0.0f);
    ck_assert_int_eq(uz_backward(ctx, loss), UZ_OK);
    return uz_tensor_get(loss, NULL);
}

START_TEST(test_no_device_allocation_when_warm)
{
    uz_params *p = uz_params_new();
    uz_params_add(p, "fc1.weight", 2, (int64_t[]){128, 32});
    uz_params_add(p, "fc1.bias", 1, (int64_t[]){128});
    uz_params_add(p, "fc2.weight", 2, (int64_t[]){10, 128});
    uz_params_add(p, "fc2.bias", 1, (int64_t[]){10});
    UZ_CK_OK(uz_params_finalize(p));
    for (int i = 0; i < 4; i++)
        uz_param_init_uniform(uz_params_at(p, i), 3, (uint64_t)i, -0.2f, 0.2f);
    UZ_CK_OK(uz_params_to(p, UZ_DEVICE_CUDA));
    float x[64 * 32];
    int32_t y[64];
    uz_rng_fill_uniform(x, 64 * 32, 5, 0, 0, -1.0f, 1.0f);
    for (int i = 0; i < 64; i++)
        y[i] = i % 10;
    /* A small first chunk, so the first step grows the arena. */
    uz_ctx *ctx = uz_ctx_new(4096, 0);
    UZ_CK_OK(uz_ctx_set_device(ctx, UZ_DEVICE_CUDA));
    float first = mlp_step(ctx, p, x, y);
    ck_assert(isfinite(first));
    uz_ctx_reset(ctx);
    mlp_step(ctx, p, x, y);
    uz_ctx_reset(ctx);
    uint64_t before = uz_device_alloc_count();
    for (int s = 0; s < 3; s++) {
        mlp_step(ctx, p, x, y);
        uz_ctx_reset(ctx);
    }
    ck_assert_uint_eq(uz_device_alloc_count(), before);
    UZ_CK_OK(uz_device_sync(UZ_DEVICE_CUDA));
    uz_ctx_free(ctx);
    uz_params_free(p);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("cuda_device");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_to_and_back);
    tcase_add_test(tc, test_views);
    tcase_add_test(tc, test_creation_on_device);
    tcase_add_test(tc, test_params_and_checkpoints);
    tcase_add_test(tc, test_no_device_allocation_when_warm);
    suite_add_tcase(s, tc);
    return s;
}
