/* Whole-file reading (regular files, empty files, pipes that outgrow the
 * first buffer, size limits, missing files and directories) and atomic
 * replacement (streamed and one-buffer writes, durable or not, failures at
 * each step naming the file and leaving the old file and no temporary
 * behind, threads saving to the same path). */
#include <check.h>
#include <dirent.h>
#include <omp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_main.h"
#include "core/alloc.h"
#include "core/file_io.h"
#include "gradcheck.h"

static char g_dir[64];

static void setup(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/uz_file_io_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
}

static void teardown(void)
{
    char cmd[192];
    snprintf(cmd, sizeof cmd, "chmod -R u+w '%s'; rm -rf '%s'", g_dir, g_dir);
    ck_assert_int_eq(system(cmd), 0);
}

static const char *in_dir(const char *name)
{
    static char path[192];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    return path;
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(p, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

/* The names in g_dir, sorted, space-separated. */
static void listing(char *out, size_t n)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "ls '%s' | tr '\\n' ' '", g_dir);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t got = fread(out, 1, n - 1, p);
    out[got] = '\0';
    pclose(p);
}

static void expect_error(const char *part)
{
    ck_assert_msg(strstr(uz_error_message(), part) != NULL, "'%s' not in '%s'", part,
                  uz_error_message());
}

static void expect_file(const char *path, const void *want, size_t n)
{
    char *got;
    size_t len;
    UZ_CK_OK(uz_file_read_all(path, SIZE_MAX, &got, &len));
    ck_assert_uint_eq(len, n);
    ck_assert(memcmp(got, want, n) == 0);
    uz_free(got);
}

/* ---- reading ----------------------------------------------------------------- */

START_TEST(test_read_regular)
{
    /* Every byte value, NULs included, and a length that is no multiple of
     * the read chunk. */
    enum { N = 10007 };
    unsigned char *bytes = malloc(N);
    for (int i = 0; i < N; i++)
        bytes[i] = (unsigned char)(i * 31 + 7);
    const char *path = in_dir("data.bin");
    write_bytes(path, bytes, N);
    char *got;
    size_t n;
    UZ_CK_OK(uz_file_read_all(path, N, &got, &n));
    ck_assert_uint_eq(n, N);
    ck_assert(memcmp(got, bytes, N) == 0);
    ck_assert_int_eq(got[N], '\0');
    uz_free(got);

    /* One byte over the limit, known from the size before reading. */
    ck_assert_int_eq(uz_file_read_all(path, N - 1, &got, &n), UZ_ERR_FORMAT);
    ck_assert_ptr_null(got);
    ck_assert_uint_eq(n, 0);
    expect_error(path);
    expect_error("too large");

    write_bytes(path, "", 0);
    UZ_CK_OK(uz_file_read_all(path, 0, &got, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert_str_eq(got, "");
    uz_free(got);
    free(bytes);
}
END_TEST

START_TEST(test_read_errors)
{
    char *got;
    size_t n;
    const char *missing = in_dir("missing.txt");
    ck_assert_int_eq(uz_file_read_all(missing, SIZE_MAX, &got, &n), UZ_ERR_IO);
    ck_assert_ptr_null(got);
    expect_error(missing);
    expect_error("cannot open: No such file or directory");

    ck_assert_int_eq(uz_file_read_all(g_dir, SIZE_MAX, &got, &n), UZ_ERR_IO);
    ck_assert_ptr_null(got);
    expect_error(g_dir);
    expect_error("not a regular file");
}
END_TEST

/* A pipe holding text, as a path (/dev/fd/N); returns its read end. */
static int pipe_with(const char *text, size_t n, char *path, size_t path_len)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_uint_lt(n, 60000); /* fits the pipe's buffer: no writer thread needed */
    ck_assert_int_eq(write(fds[1], text, n), (ssize_t)n);
    close(fds[1]);
    snprintf(path, path_len, "/dev/fd/%d", fds[0]);
    return fds[0];
}

/* A pipe has no size: the reader grows its buffer as the data comes. */
START_TEST(test_read_pipe)
{
    enum { N = 20000 };
    char *text = malloc(N);
    for (int i = 0; i < N; i++)
        text[i] = (char)('a' + i % 26);
    char path[64];
    char *got;
    size_t n;
    int fd = pipe_with(text, N, path, sizeof path);
    UZ_CK_OK(uz_file_read_all(path, SIZE_MAX, &got, &n));
    close(fd);
    ck_assert_uint_eq(n, N);
    ck_assert(memcmp(got, text, N) == 0);
    ck_assert_int_eq(got[N], '\0');
    uz_free(got);

    /* The limit holds while reading, too. */
    fd = pipe_with(text, N, path, sizeof path);
    ck_assert_int_eq(uz_file_read_all(path, N - 1, &got, &n), UZ_ERR_FORMAT);
    close(fd);
    ck_assert_ptr_null(got);
    expect_error(path);
    expect_error("too large");

    fd = pipe_with(text, N, path, sizeof path);
    UZ_CK_OK(uz_file_read_all(path, N, &got, &n));
    close(fd);
    ck_assert_uint_eq(n, N);
    uz_free(got);
    free(text);
}
END_TEST

/* ---- atomic writing ---------------------------------------------------------- */

START_TEST(test_write_and_replace)
{
    const char *path = in_dir("out.txt");
    UZ_CK_OK(uz_file_write_atomic(path, "old text", 8));
    expect_file(path, "old text", 8);

    /* Streamed through both the writer and stdio, and not durable. */
    uz_atomic_file f;
    UZ_CK_OK(uz_atomic_file_begin(&f, path));
    uz_atomic_file_write(&f, "new ", 4);
    fprintf(f.fp, "%d ", 42);
    uz_atomic_file_write(&f, "", 0);
    uz_atomic_file_write(&f, "text", 4);
    expect_file(path, "old text", 8); /* nothing shows before the commit */
    UZ_CK_OK(uz_atomic_file_commit(&f, false));
    expect_file(path, "new 42 text", 11);

    /* An aborted write leaves the file as it was and no temporary behind. */
    UZ_CK_OK(uz_atomic_file_begin(&f, path));
    uz_atomic_file_write(&f, "dropped", 7);
    uz_atomic_file_abort(&f);
    expect_file(path, "new 42 text", 11);

    UZ_CK_OK(uz_file_write_atomic(path, "", 0));
    expect_file(path, "", 0);
    char list[256];
    listing(list, sizeof list);
    ck_assert_str_eq(list, "out.txt ");
}
END_TEST

START_TEST(test_write_errors)
{
    char list[256];
    /* No such directory: the temporary file cannot be made. */
    const char *nodir = in_dir("no/such/out.txt");
    ck_assert_int_eq(uz_file_write_atomic(nodir, "x", 1), UZ_ERR_IO);
    expect_error(nodir);
    expect_error("cannot create");
    expect_error("No such file or directory");

    /* Onto a directory: the rename fails after the data was written. */
    char target[192];
    snprintf(target, sizeof target, "%s", in_dir("target"));
    ck_assert_int_eq(mkdir(target, 0700), 0);
    ck_assert_int_eq(uz_file_write_atomic(target, "x", 1), UZ_ERR_IO);
    expect_error(target);
    expect_error("rename of");
    listing(list, sizeof list);
    ck_assert_str_eq(list, "target ");

    /* A write that fails part way (file size limit: works even as root):
     * the old file stays, the first error is the one reported. */
    char path[192];
    snprintf(path, sizeof path, "%s", in_dir("big.bin"));
    UZ_CK_OK(uz_file_write_atomic(path, "old", 3));
    enum { N = 100000 };
    char *big = calloc(1, N);
    struct rlimit saved, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
    lim = saved;
    lim.rlim_cur = 1024;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    signal(SIGXFSZ, SIG_IGN);
    uz_atomic_file f;
    uz_status st = uz_atomic_file_begin(&f, path);
    if (st == UZ_OK) {
        uz_atomic_file_write(&f, big, N);
        uz_atomic_file_write(&f, "more", 4);
        st = uz_atomic_file_commit(&f, true);
    }
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, SIG_DFL);
    ck_assert_int_eq(st, UZ_ERR_IO);
    expect_error(path);
    expect_error("write of");
    expect_error("File too large");
    expect_file(path, "old", 3);
    listing(list, sizeof list);
    ck_assert_str_eq(list, "big.bin target ");
    free(big);
}
END_TEST

/* Threads saving to one path each use their own temporary file: the result
 * is one of the writes whole, and nothing is left behind. */
START_TEST(test_write_threads)
{
    enum { T = 8, N = 50000 };
    const char *path = in_dir("shared.bin");
    int failures = 0;
#pragma omp parallel for num_threads(4) reduction(+ : failures)
    for (int t = 0; t < T; t++) {
        char *buf = malloc(N);
        memset(buf, 'a' + t, N);
        failures += uz_file_write_atomic(path, buf, N) != UZ_OK;
        free(buf);
    }
    ck_assert_int_eq(failures, 0);
    char *got;
    size_t n;
    UZ_CK_OK(uz_file_read_all(path, SIZE_MAX, &got, &n));
    ck_assert_uint_eq(n, N);
    for (size_t i = 1; i < n; i++)
        ck_assert_int_eq(got[i], got[0]);
    uz_free(got);
    char list[256];
    listing(list, sizeof list);
    ck_assert_str_eq(list, "shared.bin ");
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("file_io");
    TCase *tc = tcase_create("file_io");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_read_regular);
    tcase_add_test(tc, test_read_errors);
    tcase_add_test(tc, test_read_pipe);
    tcase_add_test(tc, test_write_and_replace);
    tcase_add_test(tc, test_write_errors);
    tcase_add_test(tc, test_write_threads);
    suite_add_tcase(s, tc);
    return s;
}
