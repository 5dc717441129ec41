/* `unizoo recommend --ckpt CKPT [--data FILE] --topk K --out FILE
 * [--format tsv|jsonl] [--keep-history]`: top-K items for every user of the
 * data from a seqrec model (recsys/recommend.h), written atomically. */
#include "cli.h"

#include "core/clock.h"
#include "models/seqrec.h"
#include "recsys/recommend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_SETS = 64 };

static void usage(FILE *f)
{
    fprintf(f,
            "usage: unizoo recommend --ckpt CKPT [--data FILE] --out FILE [--topk K]\n"
            "                        [--format tsv|jsonl] [--keep-history] [--set path=value]\n"
            "  --ckpt          a seqrec run directory, checkpoint, or bare encoder file\n"
            "  --data          user histories (default: the run's model.data; required for a\n"
            "                  bare encoder file)\n"
            "  --topk          items per user (default 10)\n"
            "  --format        tsv (user, rank, item, score[, title]) or jsonl (default: from\n"
            "                  the extension of --out)\n"
            "  --keep-history  allow items already in the user's history (excluded by default)\n");
}

typedef struct rec_args {
    const char *ckpt, *data, *out, *sets[MAX_SETS];
    int n_sets;
    long long topk;
    int format; /* -1: from the extension */
    bool keep_history;
} rec_args;

static int parse(int argc, char **argv, rec_args *a)
{
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(s, "--keep-history") == 0) {
            a->keep_history = true;
            continue;
        }
        const char *v = uz_cli_option_value("recommend", argc, argv, &i);
        if (!v)
            return -1;
        if (strcmp(s, "--ckpt") == 0) {
            a->ckpt = v;
        } else if (strcmp(s, "--data") == 0) {
            a->data = v;
        } else if (strcmp(s, "--out") == 0) {
            a->out = v;
        } else if (strcmp(s, "--topk") == 0) {
            if (!uz_cli_parse_int("recommend", s, v, 1, 100000, &a->topk))
                return -1;
        } else if (strcmp(s, "--format") == 0) {
            if (strcmp(v, "tsv") == 0)
                a->format = UZ_RECS_TSV;
            else if (strcmp(v, "jsonl") == 0)
                a->format = UZ_RECS_JSONL;
            else {
                fprintf(stderr, "unizoo recommend: --format '%s' is not tsv or jsonl\n", v);
                return -1;
            }
        } else if (strcmp(s, "--set") == 0 && a->n_sets < MAX_SETS) {
            a->sets[a->n_sets++] = v;
        } else {
            fprintf(stderr, "unizoo recommend: unknown option '%s' (see unizoo recommend --help)\n", s);
            return -1;
        }
    }
    if (!a->ckpt || !a->out) {
        fprintf(stderr, "unizoo recommend: --ckpt and --out are required\n");
        return -1;
    }
    return 0;
}

int uz_cmd_recommend(int argc, char **argv)
{
    rec_args a = {.topk = 10, .format = -1};
    int r = parse(argc, argv, &a);
    if (r)
        return r > 0 ? 0 : 2;
    double t0 = uz_clock_s();
    uz_train_config cfg;
    uz_model *m = NULL;
    if (!uz_cli_load_model("recommend", a.ckpt, a.data, a.sets, a.n_sets, &cfg, &m))
        return 2;
    int rc = 1;
    const uz_seqrec *d = uz_seqrec_model_data(m);
    const uz_sasrec *enc = uz_seqrec_model_encoder(m);
    uz_ctx *ctx = NULL;
    uz_recs recs = {0};
    if (!d || !enc) {
        fprintf(stderr, "unizoo recommend: the %s family does not recommend (seqrec does)\n",
                cfg.family);
    } else if (!(ctx = uz_ctx_new(0, 0))) {
        uz_cli_error("recommend", NULL);
    } else {
        uz_sasrec_runner runner = {enc, ctx};
        uz_recommend_opts o = {.topk = a.topk, .max_len = enc->cfg.max_len,
                               .keep_history = a.keep_history};
        uz_recs_format fmt = a.format >= 0 ? (uz_recs_format)a.format : uz_recs_format_for(a.out);
        double t1 = uz_clock_s();
        if (uz_recommend_topk(d, uz_sasrec_encode, &runner, enc->item_emb->data,
                              enc->cfg.hidden, &o, &recs) != UZ_OK) {
            uz_cli_error("recommend", NULL);
        } else {
            double t2 = uz_clock_s();
            if (uz_recs_write(&recs, d, fmt, a.out) != UZ_OK) {
                uz_cli_error("recommend", NULL);
            } else {
                double t3 = uz_clock_s();
                printf("recommend: top-%lld for %lld users over %lld items to %s (%s): load %.2f "
                       "s, scoring %.2f s, writing %.2f s; peak memory %.0f MiB\n",
                       a.topk, (long long)recs.n_users, (long long)d->n_items, a.out,
                       fmt == UZ_RECS_JSONL ? "jsonl" : "tsv", t1 - t0, t2 - t1, t3 - t2,
                       uz_cli_peak_mb());
                rc = 0;
            }
        }
    }
    uz_recs_free(&recs);
    uz_ctx_free(ctx);
    uz_model_free(m);
    uz_config_free(&cfg);
    return rc;
}
