/* Checkpoint files: parameters under their own names, optimizer state under
 * "optim.*", the trainer's position under "trainer.*", the config in the
 * metadata. Integers are stored as I64 and the two doubles as F64, so a
 * resumed run starts from bit-identical state. */
#include "train/checkpoint.h"

#include "core/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CKPT_FORMAT "unizoo-checkpoint-1"

enum { N_TRAINER = 12 };

static size_t dtype_size(uz_dtype d)
{
    switch (d) {
    case UZ_F64:
    case UZ_I64: return 8;
    case UZ_F32:
    case UZ_I32: return 4;
    case UZ_BF16:
    case UZ_F16: return 2;
    case UZ_U8: return 1;
    }
    return 1;
}

uz_status uz_checkpoint_find(const char *dir, char *path, size_t n)
{
    static const char *const names[] = {UZ_CKPT_FILE, UZ_CKPT_PREV};
    for (int i = 0; i < 2; i++) {
        snprintf(path, n, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        if (f) {
            fclose(f);
            return UZ_OK;
        }
    }
    return UZ_FAIL(UZ_ERR_IO, "no checkpoint in '%s' (%s or %s)", dir, UZ_CKPT_FILE, UZ_CKPT_PREV);
}

static const char *dtype_name(uz_dtype d)
{
    static const char *const names[] = {"F32", "F64", "I32", "I64", "U8", "BF16", "F16"};
    return (int)d >= 0 && (int)d < 7 ? names[d] : "?";
}

uz_status uz_checkpoint_save(const char *path, uz_params *p, const uz_optim *o,
                             const uz_model_state *extra, int n_extra, const uz_train_state *s,
                             const char *config_json)
{
    int np = uz_params_count(p), no = o ? uz_optim_state_count(o) : 0;
    int n = np + no + n_extra + N_TRAINER;
    uz_st_entry *e = calloc((size_t)n, sizeof *e);
    int64_t *shapes = calloc((size_t)(np + no), sizeof *shapes);
    if (!e || !shapes) {
        free(e);
        free(shapes);
        return UZ_FAIL(UZ_ERR_NOMEM, "checkpoint %s: out of memory", path);
    }
    int k = 0;
    for (int i = 0; i < np; i++) {
        const uz_tensor *t = uz_params_at(p, i);
        e[k++] = (uz_st_entry){t->name, UZ_F32, t->ndim, t->shape, t->data};
    }
    for (int i = 0; i < no; i++) {
        uz_optim_state st = uz_optim_state_at(o, i);
        shapes[np + i] = st.numel;
        e[k++] = (uz_st_entry){st.name, st.dtype, 1, &shapes[np + i], st.data};
    }
    for (int i = 0; i < n_extra; i++)
        e[k++] = (uz_st_entry){extra[i].name, extra[i].dtype, extra[i].ndim, extra[i].shape,
                               extra[i].data};
    static const int64_t one = 1;
    const int64_t ntask = s->n_tasks;
    int64_t step = s->step, batch = s->batch, seed = (int64_t)s->rng_seed;
    int64_t best_step = s->best_step, bad_evals = s->bad_evals;
    double lr_mult = s->lr_mult, elapsed = s->elapsed, best = s->best;
    e[k++] = (uz_st_entry){"trainer.step", UZ_I64, 1, &one, &step};
    e[k++] = (uz_st_entry){"trainer.batch", UZ_I64, 1, &one, &batch};
    e[k++] = (uz_st_entry){"trainer.lr_mult", UZ_F64, 1, &one, &lr_mult};
    e[k++] = (uz_st_entry){"trainer.elapsed", UZ_F64, 1, &one, &elapsed};
    e[k++] = (uz_st_entry){"trainer.rng_seed", UZ_I64, 1, &one, &seed};
    e[k++] = (uz_st_entry){"trainer.n_tasks", UZ_I64, 1, &one, &ntask};
    e[k++] = (uz_st_entry){"trainer.epoch", UZ_I64, 1, &ntask, s->epoch};
    e[k++] = (uz_st_entry){"trainer.cursor", UZ_I64, 1, &ntask, s->cursor};
    e[k++] = (uz_st_entry){"trainer.sampled", UZ_I64, 1, &ntask, s->sampled};
    e[k++] = (uz_st_entry){"trainer.best", UZ_F64, 1, &one, &best};
    e[k++] = (uz_st_entry){"trainer.best_step", UZ_I64, 1, &one, &best_step};
    e[k++] = (uz_st_entry){"trainer.bad_evals", UZ_I64, 1, &one, &bad_evals};
    const char *keys[] = {"format", "config"};
    const char *vals[] = {CKPT_FORMAT, config_json ? config_json : "{}"};
    uz_status st = uz_st_write(path, e, k, keys, vals, 2);
    free(e);
    free(shapes);
    return st;
}

static uz_status open_ckpt(const char *path, uz_st_file **f)
{
    uz_status st = uz_st_open(path, f);
    if (st != UZ_OK)
        return st;
    const char *fmt = uz_st_metadata(*f, "format");
    if (!fmt || strcmp(fmt, CKPT_FORMAT) != 0) {
        uz_st_close(*f);
        return UZ_FAIL(UZ_ERR_FORMAT, "checkpoint %s: not a unizoo training checkpoint (format %s)",
                       path, fmt ? fmt : "missing");
    }
    return UZ_OK;
}

uz_status uz_checkpoint_config(const char *path, char **config_json)
{
    uz_st_file *f;
    uz_status st = open_ckpt(path, &f);
    if (st != UZ_OK)
        return st;
    const char *c = uz_st_metadata(f, "config");
    char *copy = c ? malloc(strlen(c) + 1) : NULL;
    if (copy)
        memcpy(copy, c, strlen(c) + 1);
    uz_st_close(f);
    if (!copy)
        return UZ_FAIL(c ? UZ_ERR_NOMEM : UZ_ERR_FORMAT, "checkpoint %s: %s", path,
                       c ? "out of memory" : "no config in the metadata");
    *config_json = copy;
    return UZ_OK;
}

/* Copies a tensor's raw bytes after checking its dtype and element count. */
static uz_status read_raw(const uz_st_file *f, const char *path, const char *name, uz_dtype dtype,
                          int64_t numel, void *dst)
{
    const uz_st_tensor *t = uz_st_find(f, name);
    if (!t)
        return UZ_FAIL(UZ_ERR_FORMAT, "checkpoint %s: tensor '%s' is missing", path, name);
    size_t want = (size_t)numel * dtype_size(dtype);
    if (t->dtype != dtype || t->nbytes != want)
        return UZ_FAIL(UZ_ERR_FORMAT,
                       "checkpoint %s: tensor '%s' holds %zu bytes of %s, this run needs %lld %s "
                       "elements (%zu bytes): a different model or optimizer",
                       path, name, t->nbytes, dtype_name(t->dtype), (long long)numel,
                       dtype_name(dtype), want);
    memcpy(dst, t->data, want);
    return UZ_OK;
}

static bool in_extra(const char *name, const uz_model_state *extra, int n_extra)
{
    for (int i = 0; i < n_extra; i++)
        if (strcmp(extra[i].name, name) == 0)
            return true;
    return false;
}

static bool known(const char *name, uz_params *p, const uz_optim *o,
                  const uz_model_state *extra, int n_extra)
{
    if (strncmp(name, "trainer.", 8) == 0 || uz_params_find(p, name) ||
        in_extra(name, extra, n_extra))
        return true;
    for (int i = 0; o && i < uz_optim_state_count(o); i++)
        if (strcmp(uz_optim_state_at(o, i).name, name) == 0)
            return true;
    return false;
}

static int64_t numel_of(const uz_model_state *e)
{
    int64_t n = 1;
    for (int d = 0; d < e->ndim; d++)
        n *= e->shape[d];
    return n;
}

static uz_status load_all(const uz_st_file *f, const char *path, uz_params *p, uz_optim *o,
                          const uz_model_state *extra, int n_extra, uz_train_state *s)
{
    for (int i = 0; i < uz_st_count(f); i++) {
        const char *name = uz_st_at(f, i)->name;
        /* Parameters-only loads skip the optimizer state nobody asked for. */
        if (!o && strncmp(name, "optim.", 6) == 0 && !in_extra(name, extra, n_extra))
            continue;
        if (!known(name, p, o, extra, n_extra))
            return UZ_FAIL(UZ_ERR_FORMAT,
                           "checkpoint %s: tensor '%s' is not part of this model or optimizer",
                           path, name);
    }
    for (int i = 0; i < uz_params_count(p); i++) {
        uz_tensor *t = uz_params_at(p, i);
        uz_status st = uz_st_read_f32(f, t->name, t->ndim, t->shape, t->data);
        if (st != UZ_OK) {
            uz_error_context("checkpoint %s: parameter '%s'", path, t->name);
            return st;
        }
    }
    for (int i = 0; o && i < uz_optim_state_count(o); i++) {
        uz_optim_state st = uz_optim_state_at(o, i);
        uz_status r = read_raw(f, path, st.name, st.dtype, st.numel, st.data);
        if (r != UZ_OK)
            return r;
    }
    for (int i = 0; i < n_extra; i++) {
        uz_status r = read_raw(f, path, extra[i].name, extra[i].dtype, numel_of(&extra[i]),
                               extra[i].data);
        if (r != UZ_OK)
            return r;
    }
    if (!s)
        return UZ_OK;
    int64_t n_tasks, seed;
    uz_status st;
    if ((st = read_raw(f, path, "trainer.n_tasks", UZ_I64, 1, &n_tasks)) != UZ_OK)
        return st;
    if (n_tasks != s->n_tasks)
        return UZ_FAIL(UZ_ERR_FORMAT, "checkpoint %s: tensor 'trainer.n_tasks' is %lld, this run has %d tasks",
                       path, (long long)n_tasks, s->n_tasks);
    if ((st = read_raw(f, path, "trainer.step", UZ_I64, 1, &s->step)) != UZ_OK ||
        (st = read_raw(f, path, "trainer.batch", UZ_I64, 1, &s->batch)) != UZ_OK ||
        (st = read_raw(f, path, "trainer.lr_mult", UZ_F64, 1, &s->lr_mult)) != UZ_OK ||
        (st = read_raw(f, path, "trainer.elapsed", UZ_F64, 1, &s->elapsed)) != UZ_OK ||
        (st = read_raw(f, path, "trainer.rng_seed", UZ_I64, 1, &seed)) != UZ_OK ||
        (st = read_raw(f, path, "trainer.epoch", UZ_I64, n_tasks, s->epoch)) != UZ_OK ||
        (st = read_raw(f, path, "trainer.cursor", UZ_I64, n_tasks, s->cursor)) != UZ_OK ||
        (st = read_raw(f, path, "trainer.sampled", UZ_I64, n_tasks, s->sampled)) != UZ_OK ||
        (st = read_raw(f, path, "trainer.best", UZ_F64, 1, &s->best)) != UZ_OK ||
        (st = read_raw(f, path, "trainer.best_step", UZ_I64, 1, &s->best_step)) != UZ_OK ||
        (st = read_raw(f, path, "trainer.bad_evals", UZ_I64, 1, &s->bad_evals)) != UZ_OK)
        return st;
    s->rng_seed = (uint64_t)seed;
    return UZ_OK;
}

uz_status uz_checkpoint_load(const char *path, uz_params *p, uz_optim *o,
                             const uz_model_state *extra, int n_extra, uz_train_state *s)
{
    uz_st_file *f;
    uz_status st = open_ckpt(path, &f);
    if (st != UZ_OK)
        return st;
    st = load_all(f, path, p, o, extra, n_extra, s);
    uz_st_close(f);
    return st;
}
