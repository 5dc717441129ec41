/* The device API on the CPU, where CI runs it: the context's device, CPU
 * copies through uz_memcpy and uz_tensor_to, device-aware allocation and
 * parameter moves that are no-ops on the CPU, and clear failures when CUDA
 * is asked for but absent (a build without CUDA, or no GPU). The CUDA side
 * is tests/cuda/. */
#include <check.h>
#include <string.h>

#include "check_main.h"
#include "core/device.h"
#include "gradcheck.h"

START_TEST(test_cpu_context)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    ck_assert_int_eq(uz_ctx_device(ctx), UZ_DEVICE_CPU);
    UZ_CK_OK(uz_ctx_set_device(ctx, UZ_DEVICE_CPU));
    uz_tensor *t = uz_tensor_empty_on(ctx, UZ_DEVICE_CPU, 2, (int64_t[]){2, 3});
    UZ_CK_NOTNULL(t);
    ck_assert_int_eq(t->device, UZ_DEVICE_CPU);
    float *z = uz_ctx_zalloc_on(ctx, UZ_DEVICE_CPU, 5 * sizeof(float));
    UZ_CK_NOTNULL(z);
    for (int i = 0; i < 5; i++)
        ck_assert_float_eq(z[i], 0.0f);
    ck_assert_uint_eq(uz_ctx_device_peak(ctx), 0);
    UZ_CK_OK(uz_device_sync(UZ_DEVICE_CPU));
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_cpu_copies)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    float src[4] = {1, 2, 3, 4}, dst[4] = {0};
    UZ_CK_OK(uz_memcpy(dst, UZ_DEVICE_CPU, src, UZ_DEVICE_CPU, sizeof src));
    ck_assert_int_eq(memcmp(src, dst, sizeof src), 0);
    UZ_CK_OK(uz_device_zero(UZ_DEVICE_CPU, dst, sizeof dst));
    ck_assert_float_eq(dst[3], 0.0f);
    uz_tensor *a = uz_test_rand(ctx, 2, (int64_t[]){2, 3}, 1, -1, 1);
    ck_assert_ptr_eq(uz_tensor_to(ctx, a, UZ_DEVICE_CPU), a);
    float *p = uz_device_malloc(UZ_DEVICE_CPU, 16, "test");
    UZ_CK_NOTNULL(p);
    uz_device_free(UZ_DEVICE_CPU, p);
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_cpu_params)
{
    uz_params *p = uz_params_new();
    uz_params_add(p, "w", 1, (int64_t[]){3});
    UZ_CK_OK(uz_params_finalize(p));
    float *data = uz_params_data(p);
    UZ_CK_OK(uz_params_to(p, UZ_DEVICE_CPU));
    ck_assert_ptr_eq(uz_params_data(p), data);
    ck_assert_int_eq(uz_params_device(p), UZ_DEVICE_CPU);
    uz_params_free(p);
}
END_TEST

/* Asking for CUDA where there is none fails, naming why, and changes nothing. */
START_TEST(test_no_cuda)
{
    if (uz_cuda_device_count() > 0)
        return; /* a GPU machine: tests/cuda/ covers it */
    uz_ctx *ctx = uz_ctx_new(0, 0);
    ck_assert_int_eq(uz_ctx_set_device(ctx, UZ_DEVICE_CUDA), UZ_ERR_DEVICE);
    ck_assert_msg(strstr(uz_error_message(), "CUDA"), "%s", uz_error_message());
    ck_assert_int_eq(uz_ctx_device(ctx), UZ_DEVICE_CPU);
    uz_tensor *a = uz_test_rand(ctx, 1, (int64_t[]){3}, 2, -1, 1);
    ck_assert_ptr_null(uz_tensor_to(ctx, a, UZ_DEVICE_CUDA));
    ck_assert_ptr_null(uz_ctx_alloc_on(ctx, UZ_DEVICE_CUDA, 64));
    uz_params *p = uz_params_new();
    uz_params_add(p, "w", 1, (int64_t[]){3});
    UZ_CK_OK(uz_params_finalize(p));
    ck_assert_int_eq(uz_params_to(p, UZ_DEVICE_CUDA), UZ_ERR_DEVICE);
    ck_assert_int_eq(uz_params_device(p), UZ_DEVICE_CPU);
    ck_assert_int_eq(uz_device_sync(UZ_DEVICE_CUDA), UZ_ERR_DEVICE);
    uz_params_free(p);
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("device");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_cpu_context);
    tcase_add_test(tc, test_cpu_copies);
    tcase_add_test(tc, test_cpu_params);
    tcase_add_test(tc, test_no_cuda);
    suite_add_tcase(s, tc);
    return s;
}
