/* `unizoo eval DIR`: the model of a training run's checkpoint, evaluated
 * with its family's metrics. */
#include "cli.h"

#include "train/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int uz_cmd_eval(int argc, char **argv)
{
    if (argc != 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        FILE *f = argc == 1 ? stdout : stderr;
        fprintf(f, "usage: unizoo eval DIR   (DIR: the --out directory of `unizoo train`)\n");
        return argc == 1 ? 0 : 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", argv[0], UZ_CKPT_FILE);
    char *text = NULL;
    if (uz_checkpoint_config(path, &text) != UZ_OK) {
        uz_cli_error("eval", NULL);
        return 2;
    }
    uz_train_config cfg;
    bool ok = uz_cli_load_config("eval", text, path, NULL, 0, &cfg);
    free(text);
    if (!ok)
        return 2;
    int rc = 1;
    uz_model *m = NULL;
    uz_ctx *ctx = NULL;
    uz_metrics met = {0};
    if (cfg.model_family->build(cfg.model, cfg.seed, true, &m) != UZ_OK) {
        uz_cli_error("eval", "building the model");
    } else if (uz_checkpoint_load(path, m->params, NULL, NULL) != UZ_OK) {
        uz_cli_error("eval", NULL);
    } else if (!m->ops->eval) {
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
