/* Sequential recommendation through the unizoo command line (UZ_CLI names
 * the binary): the official MCLRec Beauty checkpoint evaluated by `unizoo
 * eval` gives the paper's row (skipped when ../shared is absent; the same
 * figures as test_mclrec_official, here through the CLI's bare-encoder
 * path); a 3-step MCLRec run on a tiny synthetic S3-Rec file equals, tensor
 * for tensor, a 2-step run resumed for its third step (encoder, augmenters,
 * both optimizers' states); `recommend` writes TSV and JSONL of the right
 * shape without history items; a malformed data line is a one-line error
 * naming file and line, through `data summary` and `train`. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "core/safetensors.h"
#include "gradcheck.h"
#include "subprocess.h"
#include "train/checkpoint.h"

enum { N_USERS = 24 };

/* N_USERS users with 3..12 items out of 30, from a fixed LCG. */
static void write_tiny(const char *path)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    uint32_t x = 12345;
    for (int u = 1; u <= N_USERS; u++) {
        x = x * 1103515245u + 12345u;
        int n = 3 + (int)((x >> 16) % 10);
        fprintf(f, "%d", u);
        for (int i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            fprintf(f, " %u", 1 + (x >> 16) % 30);
        }
        fputc('\n', f);
    }
    fclose(f);
}

START_TEST(official_checkpoint_gives_the_paper_row)
{
    const char *src = getenv("UZ_SOURCE_DIR");
    char data[512], ckpt[512];
    snprintf(data, sizeof data, "%s/../shared/datasets/seqrec/Beauty.txt", src ? src : ".");
    snprintf(ckpt, sizeof ckpt, "%s/../shared/reference/mclrec_beauty_official.safetensors",
             src ? src : ".");
    if (access(data, R_OK) != 0 || access(ckpt, R_OK) != 0) {
        fprintf(stderr, "skipped: %s or %s not found (../shared is absent)\n", data, ckpt);
        return;
    }
    char *out;
    const char *args[] = {"eval", "--ckpt", ckpt, "--data", data, "--set",
                          "model.eval_valid=false", NULL};
    ck_assert_msg(uz_test_run_cli(args, &out, NULL) == 0, "%s", out);
    /* The MCLRec paper's Beauty row (Table 3), as in test_mclrec_official. */
    static const char *const want[] = {"test/hr@5 0.0581\n", "test/hr@10 0.0871\n",
                                       "test/hr@20 0.1243\n", "test/ndcg@5 0.0352\n",
                                       "test/ndcg@10 0.0446\n", "test/ndcg@20 0.0539\n",
                                       "12101 items"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(out, want[i]), "want '%s' in: %s", want[i], out);
    ck_assert_msg(!strstr(out, "valid/"), "validation evaluated: %s", out);
    free(out);
}
END_TEST

/* A small MCLRec (d 16, dropout on, the three-step update) on the tiny
 * file; one step = 3 updates of batch 8, an evaluation (early stopping's
 * state is in the checkpoint too) and a checkpoint after each. */
static int train_tiny(const char *data, const char *out_dir, const char *steps, bool resume,
                      char **log)
{
    char data_set[600], steps_set[64];
    snprintf(data_set, sizeof data_set, "model.data=%s", data);
    snprintf(steps_set, sizeof steps_set, "train.steps=%s", steps);
    const char *fresh[] = {"train", "mclrec-beauty", "--out", out_dir, "--progress", "off",
                           "--set", data_set, "--set", "model.n_items=0", "--set",
                           "model.hidden=16", "--set", "model.inner=32", "--set",
                           "model.max_len=8", "--set", "train.batch=8", "--set", steps_set,
                           "--set", "train.eval_every=1", "--set", "train.ckpt_every=1", NULL};
    const char *again[] = {"train", "--resume", out_dir, "--progress", "lines", "--set",
                           steps_set, NULL};
    return uz_test_run_cli(resume ? again : fresh, log, NULL);
}

START_TEST(training_resumes_bit_exactly)
{
    char *dir = uz_test_tmpdir("seqrec");
    char data[256], a[256], b[256], pa[300], pb[300];
    snprintf(data, sizeof data, "%s/tiny.txt", dir);
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    write_tiny(data);
    char *log;
    ck_assert_msg(train_tiny(data, a, "3", false, &log) == 0, "%s", log);
    ck_assert_msg(strstr(log, "peak memory"), "%s", log);
    free(log);
    ck_assert_msg(train_tiny(data, b, "2", false, &log) == 0, "%s", log);
    free(log);
    ck_assert_msg(train_tiny(data, b, "3", true, &log) == 0, "%s", log);
    ck_assert_msg(strstr(log, "resuming at step 2 of 3"), "%s", log);
    free(log);

    snprintf(pa, sizeof pa, "%s/%s", a, UZ_CKPT_FILE);
    snprintf(pb, sizeof pb, "%s/%s", b, UZ_CKPT_FILE);
    uz_st_file *fa, *fb;
    UZ_CK_OK(uz_st_open(pa, &fa));
    UZ_CK_OK(uz_st_open(pb, &fb));
    ck_assert_int_eq(uz_st_count(fa), uz_st_count(fb));
    int n_aug = 0, n_enc_opt = 0, n_aug_opt = 0;
    for (int i = 0; i < uz_st_count(fa); i++) {
        const uz_st_tensor *ta = uz_st_at(fa, i);
        n_aug += strncmp(ta->name, "aug_", 4) == 0;
        n_enc_opt += strncmp(ta->name, "optim.encoder.", 14) == 0;
        n_aug_opt += strncmp(ta->name, "optim.augmenters.", 17) == 0;
        if (strcmp(ta->name, "trainer.elapsed") == 0)
            continue;
        const uz_st_tensor *tb = uz_st_find(fb, ta->name);
        ck_assert_msg(tb != NULL, "%s missing after resume", ta->name);
        ck_assert_msg(ta->nbytes == tb->nbytes && memcmp(ta->data, tb->data, ta->nbytes) == 0,
                      "%s differs between the straight and the resumed run", ta->name);
    }
    /* 2 augmenters x 3 layers x (weight, bias); Adam's two moments and step. */
    ck_assert_int_eq(n_aug, 12);
    ck_assert_int_ge(n_enc_opt, 2);
    ck_assert_int_ge(n_aug_opt, 2);
    uz_st_close(fa);
    uz_st_close(fb);
    uz_test_rmtree(dir);
    free(dir);
}
END_TEST

/* Whether item occurs in user u's line of the tiny file. */
static bool in_history(const char *data, int user, int item)
{
    FILE *f = fopen(data, "r");
    char line[512];
    bool found = false;
    while (fgets(line, sizeof line, f)) {
        char *p = line, *end;
        if (strtol(p, &end, 10) != user)
            continue;
        for (p = end; *p && *p != '\n'; p = end) {
            long v = strtol(p, &end, 10);
            if (end == p)
                break;
            found |= v == item;
        }
    }
    fclose(f);
    return found;
}

START_TEST(recommend_writes_tsv_and_jsonl)
{
    char *dir = uz_test_tmpdir("seqrec");
    char data[256], run[256], tsv[256], jsonl[256];
    snprintf(data, sizeof data, "%s/tiny.txt", dir);
    snprintf(run, sizeof run, "%s/run", dir);
    snprintf(tsv, sizeof tsv, "%s/recs.tsv", dir);
    snprintf(jsonl, sizeof jsonl, "%s/recs.out", dir);
    write_tiny(data);
    char *log;
    ck_assert_msg(train_tiny(data, run, "1", false, &log) == 0, "%s", log);
    free(log);
    uz_test_expect_cli(
        (const char *[]){"recommend", "--ckpt", run, "--topk", "3", "--out", tsv, NULL}, 0,
        "peak memory");
    char *text = uz_test_slurp(tsv);
    ck_assert_msg(strncmp(text, "user\trank\titem\tscore\n", 21) == 0, "%s", text);
    int rows = 0;
    for (char *line = strchr(text, '\n') + 1; *line; line = strchr(line, '\n') + 1) {
        int user, rank, item;
        float score;
        ck_assert_int_eq(sscanf(line, "%d\t%d\t%d\t%f", &user, &rank, &item, &score), 4);
        ck_assert_int_eq(rank, rows % 3 + 1);
        ck_assert_int_eq(user, rows / 3 + 1);
        ck_assert_msg(!in_history(data, user, item), "user %d got history item %d", user, item);
        rows++;
    }
    ck_assert_int_eq(rows, 3 * N_USERS);
    free(text);

    uz_test_expect_cli((const char *[]){"recommend", "--ckpt", run, "--topk", "2", "--format",
                                        "jsonl", "--keep-history", "--out", jsonl, NULL},
                       0, "(jsonl)");
    text = uz_test_slurp(jsonl);
    int lines = 0;
    for (char *p = text; (p = strchr(p, '\n')); p++)
        lines++;
    ck_assert_int_eq(lines, N_USERS);
    ck_assert_msg(strncmp(text, "{\"user\": \"1\", \"recs\": [{\"rank\": 1, \"item\": ", 43) == 0,
                  "%s", text);
    free(text);
    uz_test_expect_cli(
        (const char *[]){"recommend", "--ckpt", run, "--topk", "0", "--out", tsv, NULL}, 2,
        "--topk '0' is not an integer in [1, 100000]");
    uz_test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(bad_data_lines_name_file_and_line)
{
    char *dir = uz_test_tmpdir("seqrec");
    char bad[256], set[300];
    snprintf(bad, sizeof bad, "%s/bad.txt", dir);
    FILE *f = fopen(bad, "w");
    fputs("1 2 3 4\n2 4 x 5\n", f);
    fclose(f);
    char want[300];
    snprintf(want, sizeof want, "%s:2: item id 'x' is not an integer", bad);
    uz_test_expect_cli((const char *[]){"data", "summary", bad, NULL}, 1, want);
    snprintf(set, sizeof set, "model.data=%s", bad);
    uz_test_expect_cli((const char *[]){"train", "mclrec-beauty", "--set", set, "--out", dir, NULL},
                       1, want);
    f = fopen(bad, "w");
    fputs("1 2 3 4\n2 4 5\n", f);
    fclose(f);
    uz_test_expect_cli((const char *[]){"data", "summary", bad, NULL}, 0,
           "2 users, 5 items, 5 interactions");
    uz_test_rmtree(dir);
    free(dir);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("seqrec_cli");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, official_checkpoint_gives_the_paper_row);
    tcase_add_test(tc, training_resumes_bit_exactly);
    tcase_add_test(tc, recommend_writes_tsv_and_jsonl);
    tcase_add_test(tc, bad_data_lines_name_file_and_line);
    suite_add_tcase(s, tc);
    return s;
}
