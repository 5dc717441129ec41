/* Test helpers for what runs outside the test process: the unizoo command
 * line (UZ_CLI names the binary) and other programs as subprocesses, scratch
 * directories, whole-file reads and a checkpoint's step. They report
 * failure by return value, not ck_assert, so a suite's one-time setup (run
 * outside any test) can use them too. */
#ifndef UZ_TEST_SUBPROCESS_H
#define UZ_TEST_SUBPROCESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum { UZ_TEST_MAX_ARGS = 64 };

/* The unizoo binary (UZ_CLI), or NULL when it is not set. */
const char *uz_test_cli(void);

/* A fresh /tmp/uz_<tag>_XXXXXX (malloc'd), or NULL. */
char *uz_test_tmpdir(const char *tag);
/* rm -rf dir; false when it failed. */
bool uz_test_rmtree(const char *dir);

/* The whole file, NUL-terminated (malloc'd); an empty string when it
 * cannot be read. */
char *uz_test_slurp(const char *path);

/* Starts argv (argv[0] a path) with one OpenMP thread, stdout into out_path
 * and stderr into err_path (NULL: into out_path too). mpi adds the
 * environment mpirun needs in a container (root, fewer cores than ranks).
 * The pid, or -1. */
pid_t uz_test_spawn(const char *const *argv, const char *out_path, const char *err_path, bool mpi);
/* The exit code of pid, 256 + the signal when killed, -1 when waiting failed. */
int uz_test_wait(pid_t pid);

/* Runs `unizoo args...` (args NULL-terminated) and returns its exit code
 * (-1 when it could not run) with its stdout in *out and its stderr in *err
 * (malloc'd); err NULL puts both streams in *out. */
int uz_test_run_cli(const char *const *args, char **out, char **err);

/* Inside a test: asserts that `unizoo args...` exits with rc and that its
 * output (stdout and stderr) contains want. */
void uz_test_expect_cli(const char *const *args, int rc, const char *want);

/* The "trainer.step" of the checkpoint dir/file, or -1. */
int64_t uz_test_ckpt_step(const char *dir, const char *file);

#endif
