/* `unizoo eval DIR | --ckpt FILE [--data FILE] [--set path=value ...]`: the
 * model of a training run's checkpoint (or, for sequential recommendation,
 * a bare encoder file such as the official MCLRec checkpoint), evaluated
 * with its family's metrics. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_SETS = 64 };

static void usage(FILE *f)
{
    fprintf(f,
            "usage: unizoo eval DIR | --ckpt FILE [--data FILE] [--set path=value ...]\n"
            "  DIR      the --out directory of `unizoo train` (its best.safetensors when early\n"
            "           stopping kept one, else its last checkpoint)\n"
            "  --ckpt   a checkpoint file or run directory; for the seqrec family also a bare\n"
            "           SASRec encoder file (RecBole names), which needs --data\n"
            "  --data   the data to evaluate on (overrides the config's model.data)\n"
            "  --set    override a model field, e.g. --set model.mask_history=true\n");
}

int uz_cmd_eval(int argc, char **argv)
{
    const char *ckpt = NULL, *data = NULL, *sets[MAX_SETS];
    int n_sets = 0;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (s[0] != '-' && !ckpt) {
            ckpt = s;
            continue;
        }
        const char *v = uz_cli_option_value("eval", argc, argv, &i);
        if (!v)
            return 2;
        if (strcmp(s, "--ckpt") == 0 && !ckpt) {
            ckpt = v;
        } else if (strcmp(s, "--data") == 0) {
            data = v;
        } else if (strcmp(s, "--set") == 0 && n_sets < MAX_SETS) {
            sets[n_sets++] = v;
        } else {
            fprintf(stderr, "unizoo eval: unknown or repeated option '%s' (see unizoo eval --help)\n", s);
            return 2;
        }
    }
    if (!ckpt) {
        usage(stderr);
        return 2;
    }
    uz_train_config cfg;
    uz_model *m = NULL;
    if (!uz_cli_load_model("eval", ckpt, data, sets, n_sets, &cfg, &m))
        return 2;
    int rc = 1;
    uz_ctx *ctx = NULL;
    uz_metrics met = {0};
    if (!m->ops->eval) {
        fprintf(stderr, "unizoo eval: the %s family has no evaluation\n", cfg.family);
    } else if (!(ctx = uz_ctx_new(0, 0))) {
        uz_cli_error("eval", NULL);
    } else {
        uz_grad_enable(ctx, false);
        if (m->ops->eval(m, ctx, &met) != UZ_OK) {
            uz_cli_error("eval", NULL);
        } else {
            for (int i = 0; i < met.n; i++) {
                const uz_metric *x = &met.m[i];
                if (x->task >= 0 && x->task < cfg.n_tasks)
                    printf("%s/%s %.4f\n", cfg.tasks[x->task].name, x->name, x->value);
                else
                    printf("%s %.4f\n", x->name, x->value);
            }
            rc = 0;
        }
    }
    uz_ctx_free(ctx);
    uz_model_free(m);
    uz_config_free(&cfg);
    return rc;
}
