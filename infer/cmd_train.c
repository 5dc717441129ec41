/* `unizoo train NAME|FILE [--out DIR] [--set path=value ...] [--resume DIR]`:
 * resolves the config, builds the model of its family, and runs the
 * trainer; under mpirun every rank runs this and trains data-parallel.
 * SIGINT/SIGTERM finish the current step, write a checkpoint and exit with
 * 128 + the signal number. */
#include "cli.h"

#include "models/zoo.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_SETS = 64 };

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: unizoo train NAME|FILE [--out DIR] [--set path=value ...] [--resume DIR]\n"
            "                    [--progress auto|bar|lines|off]\n"
            "  NAME       a built-in config (`unizoo zoo` lists them), or FILE a JSON config\n"
            "  --out      output directory (default: runs/NAME, or the --resume directory)\n"
            "  --set      override a config field, e.g. --set train.steps=100 --set lr.base=0.1\n"
            "  --resume   continue exactly from DIR's checkpoint (NAME may then be left out)\n"
            "under mpirun -np N every rank trains its shard of each batch\n");
}

typedef struct train_args {
    const char *source, *out, *resume;
    const char *sets[MAX_SETS];
    int n_sets;
    uz_progress_mode progress;
} train_args;

static int parse_args(int argc, char **argv, train_args *a)
{
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (s[0] != '-') {
            if (a->source) {
                fprintf(stderr, "unizoo train: more than one config given ('%s', '%s')\n",
                        a->source, s);
                return -1;
            }
            a->source = s;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "unizoo train: %s needs a value\n", s);
            return -1;
        }
        const char *v = argv[++i];
        if (strcmp(s, "--out") == 0) {
            a->out = v;
        } else if (strcmp(s, "--resume") == 0) {
            a->resume = v;
        } else if (strcmp(s, "--set") == 0) {
            if (a->n_sets == MAX_SETS) {
                fprintf(stderr, "unizoo train: at most %d --set options\n", MAX_SETS);
                return -1;
            }
            a->sets[a->n_sets++] = v;
        } else if (strcmp(s, "--progress") == 0) {
            static const char *const modes[] = {"auto", "bar", "lines", "off"};
            int m = -1;
            for (int k = 0; k < 4; k++)
                if (strcmp(v, modes[k]) == 0)
                    m = k;
            if (m < 0) {
                fprintf(stderr, "unizoo train: --progress '%s' is not one of auto, bar, lines, off\n", v);
                return -1;
            }
            a->progress = (uz_progress_mode)m;
        } else {
            fprintf(stderr, "unizoo train: unknown option '%s' (see unizoo train --help)\n", s);
            return -1;
        }
    }
    if (!a->source && !a->resume) {
        fprintf(stderr, "unizoo train: no config given (a built-in NAME, a FILE, or --resume DIR)\n");
        return -1;
    }
    return 0;
}

/* The config text: the named one, or the one saved in the checkpoint. */
static char *config_text(const train_args *a, char *source, size_t n)
{
    if (a->source) {
        snprintf(source, n, "%s", a->source);
        return uz_cli_config_text("train", a->source);
    }
    char *text = NULL;
    if (uz_checkpoint_find(a->resume, source, n) != UZ_OK ||
        uz_checkpoint_config(source, &text) != UZ_OK)
        uz_cli_error("train", "--resume");
    return text;
}

static int train(const train_args *a, const uz_train_config *cfg, uz_comm *comm)
{
    int rank = uz_comm_rank(comm);
    char out[4096];
    if (a->out)
        snprintf(out, sizeof out, "%s", a->out);
    else if (a->resume)
        snprintf(out, sizeof out, "%s", a->resume);
    else
        snprintf(out, sizeof out, "runs/%s", cfg->name[0] ? cfg->name : cfg->family);

    uz_model *model = NULL;
    if (cfg->model_family->build(cfg->model, cfg->seed, true, &model) != UZ_OK) {
        uz_cli_error("train", "building the model");
        return 1;
    }
    if (rank == 0)
        printf("%s: %s model, %lld parameters, %d rank%s; writing to %s\n",
               cfg->name[0] ? cfg->name : "config", cfg->family,
               (long long)uz_params_numel(model->params), uz_comm_size(comm),
               uz_comm_size(comm) == 1 ? "" : "s", out);
    fflush(stdout);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    uz_trainer_opts opts = {.out_dir = out, .resume_dir = a->resume, .comm = comm,
                            .stop = &stop_signal, .progress = a->progress};
    uz_train_result res;
    uz_status st = uz_train(cfg, model, &opts, &res);
    if (rank == 0)
        printf("peak memory %.0f MiB\n", uz_cli_peak_mb());
    int rc = 0;
    if (st != UZ_OK) {
        if (uz_comm_size(comm) > 1) {
            char what[32];
            snprintf(what, sizeof what, "rank %d", rank);
            uz_cli_error("train", what);
        } else {
            uz_cli_error("train", NULL);
        }
        rc = 1;
    } else if (res.interrupted) {
        if (rank == 0)
            fprintf(stderr, "unizoo train: stopped by signal %d at step %lld; continue with "
                            "`unizoo train --resume %s`\n",
                    (int)stop_signal, (long long)res.steps, out);
        rc = 128 + (int)stop_signal;
    }
    uz_model_free(model);
    return rc;
}

int uz_cmd_train(int argc, char **argv)
{
    train_args a = {.progress = UZ_PROGRESS_AUTO};
    int r = parse_args(argc, argv, &a);
    if (r)
        return r > 0 ? 0 : 2;
    char source[4096];
    char *text = config_text(&a, source, sizeof source);
    if (!text)
        return 2;
    uz_train_config cfg;
    bool ok = uz_cli_load_config("train", text, source, a.sets, a.n_sets, &cfg);
    free(text);
    if (!ok)
        return 2;
    uz_comm *comm = NULL;
    int rc;
    if (uz_comm_init(&comm) != UZ_OK) {
        uz_cli_error("train", "starting the ranks");
        rc = 1;
    } else {
        rc = train(&a, &cfg, comm);
    }
    uz_comm_free(comm);
    uz_config_free(&cfg);
    return rc;
}
