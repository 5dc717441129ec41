/* Sequential-recommendation data: both readers on small files written here
 * (every malformed case names file:line), RecBole's typed header, remapping
 * and stable timestamp sort, the leave-one-out split and the batch builder;
 * and, when ../shared is present, Beauty and ml-100k against SOURCES.md. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_main.h"
#include "datasets/datasets.h"
#include "golden.h"
#include "gradcheck.h"
#include "recsys/recsys.h"

static char g_dir[128];

static const char *tmp_path(const char *name)
{
    static char buf[4][256];
    static int slot;
    if (!g_dir[0]) {
        snprintf(g_dir, sizeof g_dir, "/tmp/uz_seqrec_%d", (int)getpid());
        mkdir(g_dir, 0755);
    }
    char *p = buf[slot++ % 4];
    snprintf(p, 256, "%s/%s", g_dir, name);
    return p;
}

static const char *write_file(const char *name, const char *text)
{
    const char *path = tmp_path(name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Removes the per-test directory (Check forks each test: one per process). */
static void remove_tree(const char *dir)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            remove_tree(p);
        else
            unlink(p);
    }
    closedir(dp);
    rmdir(dir);
}

static void teardown(void)
{
    if (g_dir[0])
        remove_tree(g_dir);
    g_dir[0] = '\0';
}

static void expect_msg(const char *needle)
{
    ck_assert_msg(strstr(uz_error_message(), needle) != NULL, "message '%s' lacks '%s'",
                  uz_error_message(), needle);
}

/* Loads text and expects a format error whose message holds path:line and what. */
static void expect_text_error(const char *text, int line, const char *what)
{
    const char *path = write_file("bad.txt", text);
    uz_seqrec d;
    ck_assert_int_eq(uz_seqrec_load_text(path, &d), UZ_ERR_FORMAT);
    char where[300];
    if (line > 0)
        snprintf(where, sizeof where, "%s:%d: ", path, line);
    else
        snprintf(where, sizeof where, "%s: ", path);
    expect_msg(where);
    expect_msg(what);
    ck_assert_ptr_null(d.items);
}

static void expect_atomic_error(const char *inter, const char *item, const char *where_file,
                                int line, const char *what)
{
    const char *ip = write_file("bad.inter", inter);
    const char *tp = item ? write_file("bad.item", item) : NULL;
    uz_seqrec d;
    ck_assert_int_eq(uz_seqrec_load_atomic(ip, tp, &d), UZ_ERR_FORMAT);
    char where[300];
    snprintf(where, sizeof where, "%s:%d: ", tmp_path(where_file), line);
    expect_msg(where);
    expect_msg(what);
}

static void expect_seq(const uz_seqrec *d, int64_t u, const int32_t *want, int64_t n)
{
    ck_assert_int_eq(uz_seqrec_len(d, u), n);
    for (int64_t i = 0; i < n; i++)
        ck_assert_int_eq(d->items[d->offsets[u] + i], want[i]);
}

START_TEST(test_text_valid)
{
    /* CRLF, tabs, a leading-zero user id and trailing blank lines are fine. */
    const char *path = write_file("ok.txt", "1 3 2 5\r\n007\t4\n10 1 2 3 3\n\n \n");
    uz_seqrec d;
    UZ_CK_OK(uz_seqrec_load_text(path, &d));
    ck_assert_int_eq(d.n_users, 3);
    ck_assert_int_eq(d.n_items, 5);
    ck_assert_int_eq(d.n_inter, 8);
    ck_assert_int_eq(d.n_items_seen, 5);
    ck_assert_int_eq(d.min_len, 1);
    ck_assert_int_eq(d.max_len, 4);
    expect_seq(&d, 0, (const int32_t[]){3, 2, 5}, 3);
    expect_seq(&d, 1, (const int32_t[]){4}, 1);
    expect_seq(&d, 2, (const int32_t[]){1, 2, 3, 3}, 4);
    ck_assert_str_eq(d.user_names[1], "7");
    ck_assert_str_eq(d.user_names[2], "10");
    ck_assert_ptr_null(d.item_names);
    ck_assert_ptr_null(d.titles);
    char buf[160];
    ck_assert_str_eq(uz_seqrec_item_name(&d, 5, buf, sizeof buf), "5");
    uz_seqrec_summary(&d, buf, sizeof buf);
    ck_assert_str_eq(buf, "3 users, 5 items, 8 interactions, avg length 2.67 (1..4)");
    uz_seqrec_free(&d);

    /* Ids as given: gaps stay, and the summary says so. */
    path = write_file("gap.txt", "1 2 9\n");
    UZ_CK_OK(uz_seqrec_load(path, &d));
    ck_assert_int_eq(d.n_items, 9);
    ck_assert_int_eq(d.n_items_seen, 2);
    uz_seqrec_summary(&d, buf, sizeof buf);
    ck_assert_ptr_nonnull(strstr(buf, "7 items never interacted with"));
    uz_seqrec_free(&d);
}
END_TEST

START_TEST(test_text_malformed)
{
    expect_text_error("1 2 x\n", 1, "item id 'x' is not an integer");
    expect_text_error("1 2 3\n2 4 5b\n", 2, "item id '5b'");
    expect_text_error("1 2\nabc 3\n", 2, "user id 'abc' is not a non-negative integer");
    expect_text_error("1 2\n-4 3\n", 2, "user id '-4'");
    expect_text_error("1 2\n2\n3 4\n", 2, "user 2 has no items (empty history)");
    expect_text_error("1 2\n2   \n", 2, "user 2 has no items");
    expect_text_error("1 2\n\n3 4\n", 2, "blank line");
    expect_text_error("1 2\n2 3\n01 3\n", 3, "user 1 appears again (first on line 1)");
    expect_text_error("1 2 0\n", 1, "item id '0'");
    expect_text_error("1 -3\n", 1, "item id '-3'");
    expect_text_error("1 2 99999999999\n", 1, "item id '99999999999'");
    expect_text_error("1 2.5\n", 1, "item id '2.5'");
    expect_text_error("", 0, "no users");
    expect_text_error("\n\n", 0, "no users");
    uz_seqrec d;
    ck_assert_int_eq(uz_seqrec_load_text(tmp_path("missing.txt"), &d), UZ_ERR_IO);
    expect_msg("missing.txt: cannot open");
}
END_TEST

static const char *const k_inter =
    "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    "u1\tb\t3\t30\n"
    "u2\ta\t4\t5\n"
    "u1\ta\t5\t10\n"
    "u1\tc\t1\t30\n"   /* ties with b at 30: file order keeps b first */
    "u2\td\t2\t1.5\n"
    "u1\td\t2\t10\n";  /* ties with a at 10 */

START_TEST(test_atomic_valid)
{
    const char *ip = write_file("ok.inter", k_inter);
    const char *tp = write_file("ok.item", "item_id:token\tmovie_title:token_seq\tyear:token\n"
                                           "c\tThe \"C\" Movie\t1999\n"
                                           "a\tA Film\t2001\n"
                                           "z\tOnly Listed\t2002\n");
    uz_seqrec d;
    UZ_CK_OK(uz_seqrec_load_atomic(ip, tp, &d));
    ck_assert_int_eq(d.n_users, 2);
    /* Dense ids by first appearance in the .inter (b=1, a=2, c=3, d=4), then
     * the item that only the .item file lists (z=5), as RecBole remaps. */
    ck_assert_int_eq(d.n_items, 5);
    ck_assert_int_eq(d.n_items_seen, 4);
    ck_assert_int_eq(d.n_inter, 6);
    const char *names[] = {"[PAD]", "b", "a", "c", "d", "z"};
    for (int i = 0; i <= 5; i++)
        ck_assert_str_eq(d.item_names[i], names[i]);
    ck_assert_str_eq(d.user_names[0], "u1");
    ck_assert_str_eq(d.user_names[1], "u2");
    /* u1: a@10, d@10, b@30, c@30 — stable in file order on ties. */
    expect_seq(&d, 0, (const int32_t[]){2, 4, 1, 3}, 4);
    expect_seq(&d, 1, (const int32_t[]){4, 2}, 2);
    ck_assert_ptr_nonnull(d.titles);
    ck_assert_ptr_null(d.titles[1]); /* b has no .item row: kept, untitled */
    ck_assert_str_eq(d.titles[2], "A Film");
    ck_assert_str_eq(d.titles[3], "The \"C\" Movie");
    ck_assert_str_eq(d.titles[5], "Only Listed");
    uz_seqrec_free(&d);

    /* Without a timestamp column the file order is the order. */
    ip = write_file("nots.inter", "item_id:token\tuser_id:token\n"
                                  "x\t7\ny\t8\nz\t7\nx\t7\n");
    UZ_CK_OK(uz_seqrec_load_atomic(ip, NULL, &d));
    ck_assert_int_eq(d.n_users, 2);
    ck_assert_int_eq(d.n_items, 3);
    expect_seq(&d, 0, (const int32_t[]){1, 3, 1}, 3);
    expect_seq(&d, 1, (const int32_t[]){2}, 1);
    ck_assert_ptr_null(d.titles);
    uz_seqrec_free(&d);

    /* Dispatch: a directory DIR loads DIR/<base>.inter and its .item. */
    char dir[256], sub[300];
    snprintf(dir, sizeof dir, "%s/mini", g_dir);
    mkdir(dir, 0755);
    snprintf(sub, sizeof sub, "mini/mini.inter");
    write_file(sub, k_inter);
    snprintf(sub, sizeof sub, "mini/mini.item");
    write_file(sub, "item_id:token\ttitle:token_seq\nb\tBee\n");
    strcat(dir, "/");
    UZ_CK_OK(uz_seqrec_load(dir, &d));
    ck_assert_int_eq(d.n_users, 2);
    ck_assert_str_eq(d.titles[1], "Bee");
    uz_seqrec_free(&d);
}
END_TEST

START_TEST(test_atomic_malformed)
{
    expect_atomic_error("user_id:token\titem_id:token\tuser_id:token\n", NULL, "bad.inter", 1,
                        "duplicate header column 'user_id'");
    expect_atomic_error("user_id:token\titem_id:token\n1\t2\nuser_id:token\titem_id:token\n3\t4\n",
                        NULL, "bad.inter", 3, "duplicate header (the header is line 1)");
    expect_atomic_error("user_id:token\titem_id:token\n1\t2\n3\t4\t5\n", NULL, "bad.inter", 3,
                        "3 columns, the header has 2");
    expect_atomic_error("user_id:token\titem_id:token\n1\n", NULL, "bad.inter", 2,
                        "1 columns, the header has 2");
    expect_atomic_error("user_id:token\trating:float\n1\t2\n", NULL, "bad.inter", 1,
                        "missing required column item_id:token");
    expect_atomic_error("user_id:token\titem_id\n1\t2\n", NULL, "bad.inter", 1,
                        "header field 'item_id' is not name:type");
    expect_atomic_error("user_id:token\titem_id:int\n1\t2\n", NULL, "bad.inter", 1,
                        "has type 'int'");
    expect_atomic_error("user_id:float\titem_id:token\n1\t2\n", NULL, "bad.inter", 1,
                        "column user_id must be :token, not :float");
    expect_atomic_error("user_id:token\titem_id:token\n1\t2\n\t3\n", NULL, "bad.inter", 3,
                        "empty user_id");
    expect_atomic_error("user_id:token\titem_id:token\ttimestamp:float\n1\t2\t5\n1\t3\tsoon\n",
                        NULL, "bad.inter", 3, "timestamp 'soon' is not a finite number");
    expect_atomic_error("user_id:token\titem_id:token\ttimestamp:float\n1\t2\t\n", NULL,
                        "bad.inter", 2, "timestamp '' is not");
    expect_atomic_error("user_id:token\titem_id:token\n1\t2\n\n1\t3\n", NULL, "bad.inter", 3,
                        "1 columns");
    const char *inter = "user_id:token\titem_id:token\n1\ta\n";
    expect_atomic_error(inter, "item_id:token\ttitle:token_seq\na\tA\nb\tB\na\tA2\n", "bad.item",
                        4, "item 'a' is listed again (first on line 2)");
    expect_atomic_error(inter, "item_id:token\ttitle:token_seq\na\tA\nitem_id:token\tx\n",
                        "bad.item", 3, "duplicate header");
    expect_atomic_error(inter, "title:token_seq\nA\n", "bad.item", 1,
                        "missing required column item_id:token");
    expect_atomic_error(inter, "item_id:token\ttitle:token_seq\na\n", "bad.item", 2,
                        "1 columns, the header has 2");

    uz_seqrec d;
    const char *ip = write_file("hdr.inter", "user_id:token\titem_id:token\n");
    ck_assert_int_eq(uz_seqrec_load_atomic(ip, NULL, &d), UZ_ERR_FORMAT);
    expect_msg("no interactions after the header");
    ip = write_file("empty.inter", "");
    ck_assert_int_eq(uz_seqrec_load_atomic(ip, NULL, &d), UZ_ERR_FORMAT);
    expect_msg("empty file, expected a typed header");
}
END_TEST

START_TEST(test_split_and_batches)
{
    /* Lengths 5, 1, 2, 3, 7: RecBole's leave-one-out over prefix samples. */
    const char *path =
        write_file("split.txt", "1 1 2 3 4 5\n2 6\n3 7 8\n4 9 10 11\n5 1 2 3 4 5 6 7\n");
    uz_seqrec d;
    UZ_CK_OK(uz_seqrec_load_text(path, &d));
    uz_seqrec_split sp;
    UZ_CK_OK(uz_seqrec_split_loo(&d, &sp));
    /* n - 3 for n >= 4 (2 + 4), one for n = 2 and n = 3, none for n = 1. */
    ck_assert_int_eq(sp.train.n, 2 + 0 + 1 + 1 + 4);
    ck_assert_int_eq(sp.valid.n, 2);
    ck_assert_int_eq(sp.test.n, 3);
    const int32_t tr_user[] = {0, 0, 2, 3, 4, 4, 4, 4}, tr_pos[] = {1, 2, 1, 1, 1, 2, 3, 4};
    for (int k = 0; k < 8; k++) {
        ck_assert_int_eq(sp.train.user[k], tr_user[k]);
        ck_assert_int_eq(sp.train.pos[k], tr_pos[k]);
    }
    ck_assert_int_eq(sp.valid.user[0], 0);
    ck_assert_int_eq(sp.valid.pos[0], 3); /* history items 1..n-2 */
    ck_assert_int_eq(sp.valid.user[1], 4);
    ck_assert_int_eq(sp.valid.pos[1], 5);
    ck_assert_int_eq(sp.test.user[0], 0);
    ck_assert_int_eq(sp.test.pos[0], 4);  /* history items 1..n-1 */
    ck_assert_int_eq(sp.test.user[1], 3); /* n = 3: test only */
    ck_assert_int_eq(sp.test.pos[1], 2);
    ck_assert_int_eq(sp.test.pos[2], 6);

    /* Batch of train samples {7, 0, 2}, window 3. */
    uz_seqrec_batch bt;
    UZ_CK_OK(uz_seqrec_batch_init(&bt, 4, 3));
    const int64_t idx[] = {7, 0, 2};
    UZ_CK_OK(uz_seqrec_batch_fill(&bt, &d, &sp.train, idx, 3, false));
    ck_assert_int_eq(bt.b, 3);
    ck_assert_int_eq(bt.len, 3);
    /* Sample 7: user 5, history 1 2 3 4 -> last three, target 5. */
    const int32_t want_full[] = {2, 3, 4, 1, 0, 0, 7, 0, 0};
    for (int i = 0; i < 9; i++)
        ck_assert_int_eq(bt.ids[i], want_full[i]);
    ck_assert_int_eq(bt.lengths[0], 3);
    ck_assert_int_eq(bt.lengths[1], 1);
    ck_assert_int_eq(bt.targets[0], 5);
    ck_assert_int_eq(bt.targets[1], 2);
    ck_assert_int_eq(bt.targets[2], 8);
    ck_assert_int_eq(bt.users[2], 2);
    ck_assert_int_eq(bt.pos[0], 4);

    /* Cut to the longest history in the batch. */
    const int64_t idx2[] = {0, 3, 2};
    UZ_CK_OK(uz_seqrec_batch_fill(&bt, &d, &sp.train, idx2, 3, true));
    ck_assert_int_eq(bt.len, 1);
    ck_assert_int_eq(bt.ids[0], 1);
    ck_assert_int_eq(bt.ids[1], 9);
    ck_assert_int_eq(bt.ids[2], 7);
    const int64_t idx3[] = {0, 6};
    UZ_CK_OK(uz_seqrec_batch_fill(&bt, &d, &sp.train, idx3, 2, true));
    ck_assert_int_eq(bt.len, 3);
    const int32_t want_cut[] = {1, 0, 0, 1, 2, 3};
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(bt.ids[i], want_cut[i]);

    /* Recommendation histories: whole sequence, no target. */
    uz_seqrec_samples all;
    UZ_CK_OK(uz_seqrec_samples_all(&d, &all));
    const int64_t users[] = {4, 1};
    UZ_CK_OK(uz_seqrec_batch_fill(&bt, &d, &all, users, 2, true));
    ck_assert_int_eq(bt.len, 3);
    ck_assert_int_eq(bt.ids[0], 5);
    ck_assert_int_eq(bt.ids[2], 7);
    ck_assert_int_eq(bt.ids[3], 6);
    ck_assert_int_eq(bt.targets[0], 0);
    ck_assert_int_eq(bt.lengths[1], 1);

    const int64_t out_of_range[] = {8};
    ck_assert_int_eq(uz_seqrec_batch_fill(&bt, &d, &sp.train, out_of_range, 1, true), UZ_ERR_ARG);
    expect_msg("sample index 8 outside 0..7");
    ck_assert_int_eq(uz_seqrec_batch_fill(&bt, &d, &sp.train, idx, 5, true), UZ_ERR_ARG);
    expect_msg("5 samples for a batch of capacity 4");
    uz_seqrec_samples_free(&all);
    uz_seqrec_batch_free(&bt);
    uz_seqrec_split_free(&sp);
    uz_seqrec_free(&d);
}
END_TEST

START_TEST(test_real_beauty)
{
    char buf[512];
    const char *path = uz_test_shared_file("datasets/seqrec/Beauty.txt", buf, sizeof buf);
    if (!path)
        return;
    uz_seqrec d;
    UZ_CK_OK(uz_seqrec_load(path, &d));
    char summary[200];
    uz_seqrec_summary(&d, summary, sizeof summary);
    fprintf(stderr, "Beauty.txt: %s\n", summary);
    ck_assert_int_eq(d.n_users, 22363);
    ck_assert_int_eq(d.n_items, 12101);
    ck_assert_int_eq(d.n_items_seen, 12101);
    ck_assert_int_eq(d.n_inter, 198502);
    ck_assert_int_ge(d.min_len, 5); /* 5-core */
    /* The item ids are numbered by first appearance, so RecBole's remapping
     * of Amazon_Beauty.inter gives every item its raw id (the official
     * checkpoint's rows line up with these ids). */
    int32_t seen_max = 0;
    for (int64_t i = 0; i < d.n_inter; i++) {
        int32_t it = d.items[i];
        ck_assert_int_le(it, seen_max + 1);
        seen_max = it > seen_max ? it : seen_max;
    }
    for (int64_t u = 0; u < d.n_users; u++)
        ck_assert_int_eq(atoi(d.user_names[u]), (int)u + 1);
    uz_seqrec_split sp;
    UZ_CK_OK(uz_seqrec_split_loo(&d, &sp));
    ck_assert_int_eq(sp.train.n, 131413); /* mclrec.md appendix */
    ck_assert_int_eq(sp.valid.n, 22363);
    ck_assert_int_eq(sp.test.n, 22363);
    uz_seqrec_split_free(&sp);
    uz_seqrec_free(&d);
}
END_TEST

START_TEST(test_real_ml100k)
{
    char buf[512];
    const char *path = uz_test_shared_file("datasets/ml-100k/ml-100k.inter", buf, sizeof buf);
    if (!path)
        return;
    uz_seqrec d;
    UZ_CK_OK(uz_seqrec_load(path, &d));
    char summary[200];
    uz_seqrec_summary(&d, summary, sizeof summary);
    fprintf(stderr, "ml-100k: %s\n", summary);
    ck_assert_int_eq(d.n_users, 943);
    ck_assert_int_eq(d.n_items, 1682);
    ck_assert_int_eq(d.n_inter, 100000);
    ck_assert_int_eq(d.min_len, 20);
    ck_assert_int_eq(d.max_len, 737);
    ck_assert_str_eq(d.item_names[1], "242");
    ck_assert_str_eq(d.titles[1], "Kolya");
    ck_assert_str_eq(d.titles[2], "L.A. Confidential");
    /* User "1" (the 119th to appear): timestamps with ties, stable order,
     * as computed by Python's sorted((ts, line)) on the raw file. */
    ck_assert_str_eq(d.user_names[118], "1");
    const char *want[] = {"168", "172", "165", "156", "196", "166", "187", "14", "250", "127",
                          "117", "181"};
    for (int i = 0; i < 12; i++)
        ck_assert_str_eq(d.item_names[d.items[d.offsets[118] + i]], want[i]);
    uz_seqrec_free(&d);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("seqrec_data");
    TCase *tc = tcase_create("readers");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_text_valid);
    tcase_add_test(tc, test_text_malformed);
    tcase_add_test(tc, test_atomic_valid);
    tcase_add_test(tc, test_atomic_malformed);
    tcase_add_test(tc, test_split_and_batches);
    tcase_add_test(tc, test_real_beauty);
    tcase_add_test(tc, test_real_ml100k);
    suite_add_tcase(s, tc);
    return s;
}
