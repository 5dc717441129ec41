#include "subprocess.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/safetensors.h"

const char *uz_test_cli(void)
{
    const char *p = getenv("UZ_CLI");
    return p && *p ? p : NULL;
}

char *uz_test_tmpdir(const char *tag)
{
    size_t n = strlen(tag) + 32;
    char *d = malloc(n);
    if (!d)
        return NULL;
    snprintf(d, n, "/tmp/uz_%s_XXXXXX", tag);
    if (!mkdtemp(d)) {
        free(d);
        return NULL;
    }
    return d;
}

bool uz_test_rmtree(const char *dir)
{
    char cmd[4200];
    if (snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir) >= (int)sizeof cmd)
        return false;
    return system(cmd) == 0;
}

char *uz_test_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return calloc(1, 1);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = calloc(1, n > 0 ? (size_t)n + 1 : 1);
    if (buf && n > 0)
        buf[fread(buf, 1, (size_t)n, f)] = '\0';
    fclose(f);
    return buf;
}

pid_t uz_test_spawn(const char *const *argv, const char *out_path, const char *err_path, bool mpi)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fe = err_path ? open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644) : fo;
    if (fo < 0 || fe < 0)
        _exit(127);
    dup2(fo, 1);
    dup2(fe, 2);
    setenv("OMP_NUM_THREADS", "1", 1);
    if (mpi) {
        setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
        setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
        setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
        /* OpenMPI's components leak at exit (see tests/CMakeLists.txt). */
        setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
    }
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

int uz_test_wait(pid_t pid)
{
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 256 + WTERMSIG(status);
}

/* A fresh empty file for a stream's output; false on failure. */
static bool temp_path(char *path)
{
    int fd = mkstemp(path);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

int uz_test_run_cli(const char *const *args, char **out, char **err)
{
    const char *argv[UZ_TEST_MAX_ARGS] = {uz_test_cli()};
    int n = 1;
    for (; args[n - 1] && n < UZ_TEST_MAX_ARGS - 1; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    char out_path[] = "/tmp/uz_cli_out_XXXXXX", err_path[] = "/tmp/uz_cli_err_XXXXXX";
    bool ok = argv[0] && !args[n - 1] && temp_path(out_path) && (!err || temp_path(err_path));
    int rc = ok ? uz_test_wait(uz_test_spawn(argv, out_path, err ? err_path : NULL, false)) : -1;
    *out = uz_test_slurp(out_path);
    remove(out_path);
    if (err) {
        *err = uz_test_slurp(err_path);
        remove(err_path);
    }
    return rc;
}

void uz_test_expect_cli(const char *const *args, int rc, const char *want)
{
    char *out;
    int got = uz_test_run_cli(args, &out, NULL);
    ck_assert_msg(got == rc, "exit %d, want %d; output: %s", got, rc, out);
    ck_assert_msg(strstr(out, want) != NULL, "want '%s' in: %s", want, out);
    free(out);
}

int64_t uz_test_ckpt_step(const char *dir, const char *file)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    uz_st_file *f;
    if (uz_st_open(p, &f) != UZ_OK)
        return -1;
    const uz_st_tensor *t = uz_st_find(f, "trainer.step");
    int64_t s = -1;
    if (t)
        memcpy(&s, t->data, sizeof s);
    uz_st_close(f);
    return s;
}
