/* IDX reader: a valid file, corrupt files (each a clean error naming the
 * file), and the real Fashion-MNIST test split when the package is installed. */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "check_main.h"
#include "datasets/datasets.h"
#include "gradcheck.h"

static void write_gz(const char *path, const unsigned char *bytes, size_t n)
{
    gzFile f = gzopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(gzwrite(f, bytes, (unsigned)n), (int)n);
    gzclose(f);
}

START_TEST(test_idx_valid_and_corrupt)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/uz_idx_%d.gz", (int)getpid());
    const unsigned char good[] = {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6};
    write_gz(path, good, sizeof good);
    uz_idx idx;
    UZ_CK_OK(uz_idx_load(path, &idx));
    ck_assert_int_eq(idx.ndim, 2);
    ck_assert_int_eq(idx.dims[1], 3);
    ck_assert_int_eq(idx.data[5], 6);
    uz_idx_free(&idx);

    write_gz(path, good, sizeof good - 2); /* payload cut short */
    ck_assert_int_eq(uz_idx_load(path, &idx), UZ_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), path));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "truncated"));

    const unsigned char bad_magic[] = {0, 0, 13, 1, 0, 0, 0, 1, 7};
    write_gz(path, bad_magic, sizeof bad_magic);
    ck_assert_int_eq(uz_idx_load(path, &idx), UZ_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "magic"));

    write_gz(path, good, 6); /* inside the dimensions */
    ck_assert_int_eq(uz_idx_load(path, &idx), UZ_ERR_FORMAT);
    unlink(path);
    ck_assert_int_eq(uz_idx_load(path, &idx), UZ_ERR_IO);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "cannot open"));
}
END_TEST

START_TEST(test_fmnist_real)
{
    if (access(UZ_FMNIST_DEFAULT_DIR "/t10k-labels-idx1-ubyte.gz", R_OK) != 0) {
        fprintf(stderr, "skipped: dataset-fashion-mnist not installed\n");
        return;
    }
    uz_fmnist d;
    UZ_CK_OK(uz_fmnist_load(NULL, 0, &d));
    ck_assert_int_eq(d.n, 10000);
    int count[10] = {0};
    for (int64_t i = 0; i < d.n; i++)
        count[d.labels[i]]++;
    for (int c = 0; c < 10; c++)
        ck_assert_int_eq(count[c], 1000); /* the test split is balanced */
    int64_t outside = 0;
    for (int64_t i = 0; i < d.n * 784; i++)
        outside += !(d.images[i] >= 0.0f && d.images[i] <= 1.0f);
    ck_assert_int_eq(outside, 0);
    uz_fmnist_free(&d);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("datasets");
    TCase *tc = tcase_create("idx");
    tcase_add_test(tc, test_idx_valid_and_corrupt);
    tcase_add_test(tc, test_fmnist_real);
    suite_add_tcase(s, tc);
    return s;
}
