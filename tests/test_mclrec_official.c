/* End-to-end golden check: the official MCLRec Beauty checkpoint
 * (../shared/reference/mclrec_beauty_official.safetensors, PyTorch names),
 * loaded by name into the SASRec encoder and evaluated on Beauty.txt under
 * the paper's protocol (leave-one-out test = last item, history = all
 * before it cut to the last 50, full ranking over all 12,101 items, no
 * history masking) must give the paper's Beauty row to the fourth decimal:
 * HR@5 0.0581, HR@20 0.1243, NDCG@5 0.0352, NDCG@20 0.0539 (and HR@50
 * 0.1853, which the official code printed for the same checkpoint). That
 * checks the encoder's forward, the split and the metrics in one go.
 * Skips, passing, when ../shared is absent. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "golden.h"
#include "gradcheck.h"
#include "recsys/recsys.h"

/* value rounded to 4 decimals equals the paper's figure. */
static void expect_4dp(const uz_rank_metrics *m, const char *name, double paper)
{
    double v;
    ck_assert_int_eq(uz_rank_metric(m, name, &v), UZ_OK);
    ck_assert_msg(fabs(round(v * 1e4) / 1e4 - paper) < 1e-9, "%s %.6f, paper %.4f", name, v,
                  paper);
}

START_TEST(test_official_beauty_checkpoint)
{
    char data_buf[512], ckpt_buf[512];
    const char *data =
        uz_test_shared_file("datasets/seqrec/Beauty.txt", data_buf, sizeof data_buf);
    const char *ckpt = uz_test_shared_file("reference/mclrec_beauty_official.safetensors",
                                           ckpt_buf, sizeof ckpt_buf);
    if (!data || !ckpt)
        return;
    uz_seqrec d;
    UZ_CK_OK(uz_seqrec_load_text(data, &d));
    ck_assert_int_eq(d.n_items, 12101);
    /* The checkpoint's row i is the id RecBole gave by first appearance in
     * Amazon_Beauty.inter (Beauty.txt's interactions in file order); that
     * equals the raw id only if the ids are numbered by first appearance. */
    int32_t seen = 0;
    for (int64_t i = 0; i < d.n_inter; i++) {
        ck_assert_int_le(d.items[i], seen + 1);
        seen = d.items[i] > seen ? d.items[i] : seen;
    }

    uz_params *p = uz_params_new();
    uz_sasrec enc;
    uz_sasrec_config cfg = uz_sasrec_config_default(d.n_items);
    UZ_CK_OK(uz_sasrec_declare(&enc, p, "", &cfg));
    UZ_CK_OK(uz_params_finalize(p));
    UZ_CK_OK(uz_params_load(p, ckpt)); /* every tensor, by name and shape */

    uz_seqrec_split split;
    UZ_CK_OK(uz_seqrec_split_loo(&d, &split));
    ck_assert_int_eq(split.test.n, d.n_users);
    uz_rank_metrics m;
    UZ_CK_OK(uz_sasrec_evaluate(&enc, &d, &split.test, &(uz_sasrec_eval_opts){.batch = 512},
                                &m));
    char line[512];
    uz_rank_metrics_format(&m, line, sizeof line);
    fprintf(stderr, "official MCLRec Beauty checkpoint, test: %s\n", line);
    ck_assert_int_eq(m.count, 22363);
    expect_4dp(&m, "hit@5", 0.0581);
    expect_4dp(&m, "hit@20", 0.1243);
    expect_4dp(&m, "ndcg@5", 0.0352);
    expect_4dp(&m, "ndcg@20", 0.0539);
    expect_4dp(&m, "hit@50", 0.1853);

    uz_seqrec_split_free(&split);
    uz_params_free(p);
    uz_seqrec_free(&d);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("mclrec_official");
    TCase *tc = tcase_create("official");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_official_beauty_checkpoint);
    suite_add_tcase(s, tc);
    return s;
}

#include "check_main.h"
