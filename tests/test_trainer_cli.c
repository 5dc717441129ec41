/* The unizoo command line as a subprocess (UZ_CLI names the binary, UZ_MPIEXEC
 * OpenMPI's mpirun): `zoo`, one-line config errors, `infer` without its
 * arguments, and on Fashion-MNIST (skipped when Debian's data set is absent):
 * the non-finite stop, SIGTERM writing a checkpoint that `--resume` and
 * `eval` use, and a 2-rank data-parallel run matching the 1-process run on
 * the same global batch. Runs use a few hundred images and a few steps. */
#include <check.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check_main.h"
#include "core/unizoo.h"
#include "datasets/datasets.h"
#include "gradcheck.h"
#include "subprocess.h"
#include "train/checkpoint.h"

static bool have_fmnist(void)
{
    return access(UZ_FMNIST_DEFAULT_DIR "/train-images-idx3-ubyte.gz", R_OK) == 0;
}

START_TEST(zoo_lists_builtins)
{
    uz_test_expect_cli((const char *[]){"zoo", NULL}, 0,
                       "fmnist-mlp               mlp            203530");
    uz_test_expect_cli((const char *[]){"zoo", NULL}, 0, "fmnist-multitask");
}
END_TEST

START_TEST(bad_configs_are_one_line)
{
    const char *kind[] = {"train", "fmnist-mlp", "--set", "optim.kind=adamx", NULL};
    char *out;
    ck_assert_int_eq(uz_test_run_cli(kind, &out, NULL), 2);
    ck_assert_str_eq(out, "unizoo train: config optim.kind: 'adamx' is not one of sgd, adamw, "
                          "mt-adamw, lamb, lars, adagrad, adagrad-norm\n");
    free(out);
    uz_test_expect_cli((const char *[]){"train", "fmnist-mlp", "--set", "train.nope=3", NULL}, 2,
           "unizoo train: config --set train.nope: no such field (train has steps, batch");
    uz_test_expect_cli((const char *[]){"train", "fmnist-mlp", "--set", "lr.base=-1", NULL}, 2,
           "config lr.base: -1 is not allowed (numbers in (0, inf))");
    uz_test_expect_cli((const char *[]){"train", "no-such-model", NULL}, 2,
           "'no-such-model' is neither a built-in model");
    uz_test_expect_cli((const char *[]){"train", "fmnist-mlp", "--bogus", "1", NULL}, 2,
           "unknown option '--bogus'");
}
END_TEST

START_TEST(infer_without_arguments_says_what_it_needs)
{
    uz_test_expect_cli((const char *[]){"infer", NULL}, 2,
           "--ckpt, --task and one of --image or --list are required");
}
END_TEST

static const char *const SMALL[] = {"--set", "model.train_limit=512", "--set",
                                    "model.test_limit=200", "--progress", "lines"};

/* unizoo train fmnist-mlp SMALL... extra... --out dir */
static int train(const char *dir, const char *const *extra, char **out)
{
    const char *args[UZ_TEST_MAX_ARGS] = {"train", "fmnist-mlp"};
    int n = 2;
    for (int i = 0; i < 6; i++)
        args[n++] = SMALL[i];
    for (; *extra; extra++)
        args[n++] = *extra;
    args[n++] = "--out";
    args[n++] = dir;
    args[n] = NULL;
    return uz_test_run_cli(args, out, NULL);
}

START_TEST(nan_stops_with_message)
{
    if (!have_fmnist())
        return;
    char *d = uz_test_tmpdir("cli"), *out;
    int rc = train(d, (const char *[]){"--set", "lr.base=1e30", "--set", "train.ckpt_every=1",
                                       NULL},
                   &out);
    ck_assert_msg(rc == 1, "exit %d: %s", rc, out);
    const char *at = strstr(out, ": step ");
    ck_assert_msg(at && strstr(out, "non-finite") && strstr(out, "the last checkpoint is kept"),
                  "%s", out);
    long failed = strtol(at + 7, NULL, 10);
    ck_assert_int_eq(uz_test_ckpt_step(d, UZ_CKPT_FILE), failed - 1);
    free(out);
    uz_test_rmtree(d);
    free(d);
}
END_TEST

START_TEST(sigterm_checkpoints_then_resume_and_eval)
{
    if (!have_fmnist())
        return;
    char *d = uz_test_tmpdir("cli"), log[512], metrics[512];
    snprintf(log, sizeof log, "%s.log", d);
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", d);
    const char *argv[] = {uz_test_cli(),
                          "train",
                          "fmnist-mlp",
                          SMALL[0],
                          SMALL[1],
                          SMALL[2],
                          SMALL[3],
                          SMALL[4],
                          SMALL[5],
                          "--set",
                          "train.steps=1000000",
                          "--set",
                          "train.log_every=1",
                          "--out",
                          d,
                          NULL};
    pid_t pid = uz_test_spawn(argv, log, NULL, false);
    /* Wait until a few steps are logged, then ask it to stop. */
    struct stat st;
    for (int i = 0; i < 600 && !(stat(metrics, &st) == 0 && st.st_size > 400); i++)
        nanosleep(&(struct timespec){0, 50000000}, NULL);
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    int rc = uz_test_wait(pid);
    char *out = uz_test_slurp(log);
    ck_assert_msg(rc == 128 + SIGTERM, "exit %d: %s", rc, out);
    ck_assert_msg(strstr(out, "stopped by signal 15"), "%s", out);
    free(out);
    remove(log);
    int64_t s = uz_test_ckpt_step(d, UZ_CKPT_FILE);
    ck_assert_int_ge(s, 1);

    char steps[64];
    snprintf(steps, sizeof steps, "train.steps=%lld", (long long)s + 3);
    uz_test_expect_cli(
        (const char *[]){"train", "--resume", d, "--set", steps, "--progress", "lines", NULL}, 0,
        "resuming at step");
    ck_assert_int_eq(uz_test_ckpt_step(d, UZ_CKPT_FILE), s + 3);
    uz_test_expect_cli((const char *[]){"eval", d, NULL}, 0, "classes/accuracy 0.");
    uz_test_rmtree(d);
    free(d);
}
END_TEST

/* Parameters after 4 steps of 2 ranks x 32 examples vs 1 process x 64 (also
 * over 2 micro-batches): equal up to float summation order; SGD with lr 0.05
 * keeps the difference near 1e-8, the tolerance is 1e-6. */
START_TEST(two_ranks_match_one_process)
{
    const char *mpiexec = getenv("UZ_MPIEXEC");
    if (!have_fmnist() || !mpiexec || !*mpiexec)
        return;
    char *d1 = uz_test_tmpdir("cli"), *d2 = uz_test_tmpdir("cli"), *out;
    const char *common[] = {"--set", "train.steps=4", "--set", "train.batch=64", "--set",
                            "train.micro_batches=2", NULL};
    int rc = train(d1, common, &out);
    ck_assert_msg(rc == 0, "1 process: %s", out);
    free(out);

    const char *argv[UZ_TEST_MAX_ARGS] = {
        mpiexec, "--allow-run-as-root", "--oversubscribe", "--stdin",   "none", "-np",
        "2",     uz_test_cli(),         "train",           "fmnist-mlp"};
    int n = 10;
    for (int i = 0; i < 6; i++)
        argv[n++] = SMALL[i];
    for (int i = 0; common[i]; i++)
        argv[n++] = common[i];
    argv[n++] = "--out";
    argv[n++] = d2;
    argv[n] = NULL;
    char log[512];
    snprintf(log, sizeof log, "%s.log", d2);
    rc = uz_test_wait(uz_test_spawn(argv, log, NULL, true));
    out = uz_test_slurp(log);
    ck_assert_msg(rc == 0, "mpirun: %s", out);
    ck_assert_msg(strstr(out, "2 ranks"), "%s", out);
    free(out);
    remove(log);

    char p1[512], p2[512];
    snprintf(p1, sizeof p1, "%s/%s", d1, UZ_CKPT_FILE);
    snprintf(p2, sizeof p2, "%s/%s", d2, UZ_CKPT_FILE);
    uz_st_file *f1, *f2;
    UZ_CK_OK(uz_st_open(p1, &f1));
    UZ_CK_OK(uz_st_open(p2, &f2));
    int compared = 0;
    for (int i = 0; i < uz_st_count(f1); i++) {
        const uz_st_tensor *a = uz_st_at(f1, i);
        if (a->dtype != UZ_F32)
            continue;
        const uz_st_tensor *b = uz_st_find(f2, a->name);
        ck_assert_ptr_nonnull(b);
        ck_assert_uint_eq(a->nbytes, b->nbytes);
        const float *x = a->data, *y = b->data;
        double worst = 0;
        for (size_t j = 0; j < a->nbytes / 4; j++)
            worst = fmax(worst, fabs((double)x[j] - (double)y[j]));
        ck_assert_msg(worst <= 1e-6, "%s: max |diff| %g", a->name, worst);
        compared++;
    }
    ck_assert_int_ge(compared, 4);
    ck_assert_int_eq(uz_test_ckpt_step(d2, UZ_CKPT_FILE), 4);
    uz_st_close(f1);
    uz_st_close(f2);
    uz_test_rmtree(d1);
    uz_test_rmtree(d2);
    free(d1);
    free(d2);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("trainer_cli");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, zoo_lists_builtins);
    tcase_add_test(tc, bad_configs_are_one_line);
    tcase_add_test(tc, infer_without_arguments_says_what_it_needs);
    tcase_add_test(tc, nan_stops_with_message);
    tcase_add_test(tc, sigterm_checkpoints_then_resume_and_eval);
    tcase_add_test(tc, two_ranks_match_one_process);
    suite_add_tcase(s, tc);
    return s;
}
