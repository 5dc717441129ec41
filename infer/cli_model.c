/* Models for `eval` and `recommend`: from a training run (its directory or
 * a checkpoint file, with the config stored in it) or, for the seqrec
 * family, from a bare safetensors file of SASRec encoder weights under
 * RecBole's names (e.g. the official MCLRec checkpoint), whose sizes are
 * read from the tensor shapes. */
#include "cli.h"

#include "core/safetensors.h"
#include "models/seqrec.h"
#include "train/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MAX_SETS = 66 };

double uz_cli_peak_mb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0.0;
    return (double)ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}

/* A run directory means its best checkpoint when early stopping kept one,
 * else its last. */
static void checkpoint_path(const char *arg, char *path, size_t n)
{
    struct stat sb;
    if (stat(arg, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        snprintf(path, n, "%s", arg);
        return;
    }
    snprintf(path, n, "%s/%s", arg, UZ_CKPT_BEST);
    if (access(path, R_OK) != 0 && uz_checkpoint_find(arg, path, n) != UZ_OK)
        snprintf(path, n, "%s/%s", arg, UZ_CKPT_FILE);
}

/* The seqrec config of a bare encoder file, from its shapes. */
static char *bare_config(const char *cmd, const char *path, const uz_st_file *f)
{
    const uz_st_tensor *items = uz_st_find(f, "item_embedding.weight");
    const uz_st_tensor *pos = uz_st_find(f, "position_embedding.weight");
    const uz_st_tensor *ff = uz_st_find(f, "trm_encoder.layer.0.feed_forward.dense_1.weight");
    if (!items || !pos || !ff || items->ndim != 2 || pos->ndim != 2 || ff->ndim != 2 ||
        items->shape[0] < 3) {
        fprintf(stderr,
                "unizoo %s: %s is neither a unizoo checkpoint nor a SASRec encoder file "
                "(item_embedding.weight, position_embedding.weight, trm_encoder.layer.0.*)\n",
                cmd, path);
        return NULL;
    }
    int layers = 0;
    for (;; layers++) {
        char name[96];
        snprintf(name, sizeof name, "trm_encoder.layer.%d.feed_forward.dense_1.weight", layers);
        bool found = false;
        for (int i = 0; i < uz_st_count(f) && !found; i++)
            found = strcmp(uz_st_at(f, i)->name, name) == 0;
        if (!found)
            break;
    }
    char *text = malloc(1024);
    if (text)
        snprintf(text, 1024,
                 "{\"name\":\"%s\",\"family\":\"seqrec\",\"model\":{\"variant\":\"sasrec\","
                 "\"n_items\":%lld,\"hidden\":%lld,\"layers\":%d,\"inner\":%lld,"
                 "\"max_len\":%lld},\"tasks\":[{\"name\":\"next-item\"}]}",
                 "encoder", (long long)(items->shape[0] - 2), (long long)items->shape[1], layers,
                 (long long)ff->shape[0], (long long)pos->shape[0]);
    return text;
}

/* Reads the config text of path (a checkpoint's, or one made from a bare
 * encoder file: *bare set). */
static char *config_of(const char *cmd, const char *path, bool *bare)
{
    uz_st_file *f;
    if (uz_st_open(path, &f) != UZ_OK) {
        uz_cli_error(cmd, NULL);
        return NULL;
    }
    const char *fmt = uz_st_metadata(f, "format");
    *bare = !fmt || strncmp(fmt, "unizoo-checkpoint", 17) != 0;
    char *text = NULL;
    if (*bare) {
        text = bare_config(cmd, path, f);
    } else {
        uz_st_close(f);
        f = NULL;
        if (uz_checkpoint_config(path, &text) != UZ_OK)
            uz_cli_error(cmd, NULL);
    }
    if (f)
        uz_st_close(f);
    return text;
}

static uz_status load_weights(uz_model *m, const uz_train_config *cfg, const char *path,
                              bool bare)
{
    if (bare)
        return uz_sasrec_load(uz_seqrec_model_encoder(m), path);
    /* The model's own state (augmenters, optimizers) is in the file too;
     * its optimizers must be the run's for the state to match. */
    uz_status st = UZ_OK;
    if (m->ops->set_optim && (st = m->ops->set_optim(m, &cfg->optim)) != UZ_OK)
        return st;
    int n = m->ops->state_count ? m->ops->state_count(m) : 0;
    uz_model_state *extra = n ? malloc(sizeof *extra * (size_t)n) : NULL;
    if (n && !extra)
        return UZ_FAIL(UZ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++)
        extra[i] = m->ops->state_at(m, i);
    st = uz_checkpoint_load(path, m->params, NULL, extra, n, NULL);
    free(extra);
    return st;
}

static bool load_model(const char *cmd, const char *ckpt, const char *data,
                       const char *const *sets, int n_sets, bool with_data, uz_train_config *cfg,
                       uz_model **out)
{
    *out = NULL;
    char path[4096];
    checkpoint_path(ckpt, path, sizeof path);
    bool bare = false;
    char *text = config_of(cmd, path, &bare);
    if (!text)
        return false;
    if (bare && !data) {
        fprintf(stderr, with_data ? "unizoo %s: %s holds encoder weights only; give the data "
                                    "with --data FILE\n"
                                  : "unizoo %s: %s is a bare encoder file, not a unizoo "
                                    "checkpoint\n",
                cmd, path);
        free(text);
        return false;
    }
    const char *all[MAX_SETS];
    char data_set[4200];
    int n = 0;
    for (int i = 0; i < n_sets && n < MAX_SETS - 1; i++)
        all[n++] = sets[i];
    if (data) {
        snprintf(data_set, sizeof data_set, "model.data=%s", data);
        all[n++] = data_set;
    }
    bool ok = uz_cli_load_config(cmd, text, path, all, n, cfg);
    free(text);
    if (!ok)
        return false;
    uz_model *m = NULL;
    if (cfg->model_family->build(cfg->model, cfg->seed, with_data, &m) != UZ_OK) {
        uz_cli_error(cmd, "building the model");
        uz_config_free(cfg);
        return false;
    }
    if (load_weights(m, cfg, path, bare) != UZ_OK) {
        uz_cli_error(cmd, NULL);
        uz_model_free(m);
        uz_config_free(cfg);
        return false;
    }
    *out = m;
    return true;
}

bool uz_cli_load_model(const char *cmd, const char *ckpt, const char *data,
                       const char *const *sets, int n_sets, uz_train_config *cfg, uz_model **out)
{
    return load_model(cmd, ckpt, data, sets, n_sets, true, cfg, out);
}

bool uz_cli_load_model_only(const char *cmd, const char *ckpt, const char *const *sets,
                            int n_sets, uz_train_config *cfg, uz_model **out)
{
    return load_model(cmd, ckpt, NULL, sets, n_sets, false, cfg, out);
}
