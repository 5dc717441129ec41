/* Progress output, metrics lines and the loss history of a training run. */
#include "train/progress.h"

#include "core/clock.h"
#include "core/file_io.h"
#include "train/plot.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { PATH_MAX_LEN = 4096, BAR_WIDTH = 24 };

static uz_status mkdir_p(const char *dir)
{
    char buf[PATH_MAX_LEN];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf)
        return UZ_FAIL(UZ_ERR_ARG, "output directory '%s': empty or too long", dir);
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return UZ_FAIL(UZ_ERR_IO, "cannot create directory '%s': %s", buf, strerror(errno));
        buf[i] = c;
    }
    return UZ_OK;
}

static void join_path(char *out, const char *dir, const char *file)
{
    snprintf(out, PATH_MAX_LEN, "%s/%s", dir, file);
}

static uz_status push(uz_progress *p, double x, double y, int task)
{
    if (p->hn == p->hcap) {
        int64_t cap = p->hcap ? 2 * p->hcap : 1024;
        double *hx = realloc(p->hx, sizeof(double) * (size_t)cap);
        if (hx)
            p->hx = hx;
        double *hy = realloc(p->hy, sizeof(double) * (size_t)cap);
        if (hy)
            p->hy = hy;
        int *ht = realloc(p->ht, sizeof(int) * (size_t)cap);
        if (ht)
            p->ht = ht;
        if (!hx || !hy || !ht)
            return UZ_FAIL(UZ_ERR_NOMEM, "training log: out of memory for the loss history");
        p->hcap = cap;
    }
    p->hx[p->hn] = x;
    p->hy[p->hn] = y;
    p->ht[p->hn] = task;
    p->hn++;
    return UZ_OK;
}

static int task_index(const uz_train_config *cfg, const char *name)
{
    for (int k = 0; k < cfg->n_tasks; k++)
        if (strcmp(cfg->tasks[k].name, name) == 0)
            return k;
    return -1;
}

/* Adds a metrics line's losses to the history. */
static uz_status history_from(uz_progress *p, const cJSON *j, double step)
{
    const cJSON *tl = cJSON_GetObjectItemCaseSensitive(j, "task_loss");
    const cJSON *loss = cJSON_GetObjectItemCaseSensitive(j, "loss");
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(j, "task");
    if (cJSON_IsObject(tl)) {
        for (const cJSON *c = tl->child; c; c = c->next) {
            int k = task_index(p->cfg, c->string);
            if (k >= 0 && cJSON_IsNumber(c)) {
                uz_status st = push(p, step, c->valuedouble, k);
                if (st != UZ_OK)
                    return st;
            }
        }
    } else if (cJSON_IsNumber(loss) && cJSON_IsString(task)) {
        int k = task_index(p->cfg, task->valuestring);
        if (k >= 0)
            return push(p, step, loss->valuedouble, k);
    }
    return UZ_OK;
}

/* Copies the old run's lines up to step `from` into the new metrics file. */
static uz_status carry_metrics(uz_progress *p, const char *old_path, FILE *dst, int64_t from)
{
    FILE *src = fopen(old_path, "r");
    if (!src)
        return UZ_OK; /* a checkpoint without a metrics file: nothing to carry */
    char *line = NULL;
    size_t cap = 0;
    uz_status st = UZ_OK;
    while (st == UZ_OK && getline(&line, &cap, src) > 0) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "step");
        if (cJSON_IsNumber(s) && s->valuedouble <= (double)from) {
            fputs(line, dst);
            st = history_from(p, j, s->valuedouble);
        }
        cJSON_Delete(j);
    }
    free(line);
    fclose(src);
    return st;
}

static uz_status write_config(const uz_train_config *cfg, const char *dir)
{
    char path[PATH_MAX_LEN];
    join_path(path, dir, "config.json");
    char *text = cJSON_Print(cfg->root);
    if (!text)
        return UZ_FAIL(UZ_ERR_NOMEM, "cannot write '%s': out of memory", path);
    uz_status st = uz_file_write_atomic(path, text, strlen(text));
    free(text);
    return st;
}

uz_status uz_progress_open(uz_progress *p, const uz_train_config *cfg, const char *dir,
                           const char *resume_dir, int64_t from, uz_progress_mode mode,
                           FILE *out, bool rank0)
{
    memset(p, 0, sizeof *p);
    p->cfg = cfg;
    p->first_step = from;
    p->t0 = p->last_draw = uz_clock_s();
    if (!rank0)
        return UZ_OK;
    p->out = mode == UZ_PROGRESS_OFF ? NULL : out ? out : stdout;
    p->bar = p->out && (mode == UZ_PROGRESS_BAR ||
                        (mode == UZ_PROGRESS_AUTO && isatty(fileno(p->out))));
    if (!dir)
        return UZ_OK;
    uz_status st = mkdir_p(dir);
    if (st == UZ_OK)
        st = write_config(cfg, dir);
    if (st != UZ_OK)
        return st;
    p->dir = malloc(strlen(dir) + 1);
    if (!p->dir)
        return UZ_FAIL(UZ_ERR_NOMEM, "training log: out of memory");
    memcpy(p->dir, dir, strlen(dir) + 1);

    char path[PATH_MAX_LEN];
    join_path(path, dir, "metrics.jsonl");
    if (!resume_dir) {
        p->metrics = fopen(path, "w");
    } else {
        char old[PATH_MAX_LEN];
        join_path(old, resume_dir, "metrics.jsonl");
        uz_atomic_file af;
        if (uz_atomic_file_begin(&af, path) != UZ_OK)
            return uz_error_status();
        st = carry_metrics(p, old, af.fp, from);
        if (st != UZ_OK) {
            uz_atomic_file_abort(&af);
            return st;
        }
        if ((st = uz_atomic_file_commit(&af, false)) != UZ_OK)
            return st;
        p->metrics = fopen(path, "a");
    }
    if (!p->metrics)
        return UZ_FAIL(UZ_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    return UZ_OK;
}

static void clock_str(char *buf, size_t n, double s)
{
    if (!isfinite(s) || s < 0)
        s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static void clear_bar(uz_progress *p)
{
    if (p->bar && p->out)
        fprintf(p->out, "\r%*s\r", 100, "");
}

void uz_progress_note(uz_progress *p, const char *fmt, ...)
{
    if (!p->out)
        return;
    clear_bar(p);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->out, fmt, ap);
    va_end(ap);
    fputc('\n', p->out);
    fflush(p->out);
}

static void metrics_line(uz_progress *p, const uz_step_record *r)
{
    const uz_train_config *cfg = p->cfg;
    fprintf(p->metrics, "{\"step\":%lld,\"task\":\"%s\",\"loss\":%.9g", (long long)r->step,
            r->task >= 0 ? cfg->tasks[r->task].name : "mixed", r->loss);
    if (r->task < 0) {
        fputs(",\"task_loss\":{", p->metrics);
        int w = 0;
        for (int k = 0; k < cfg->n_tasks; k++)
            if (!isnan(r->task_loss[k]))
                fprintf(p->metrics, "%s\"%s\":%.9g", w++ ? "," : "", cfg->tasks[k].name,
                        r->task_loss[k]);
        fputc('}', p->metrics);
    }
    fprintf(p->metrics, ",\"lr\":%.9g,\"grad_norm\":%.9g,\"batch\":%lld,\"time\":%.3f}\n", r->lr,
            r->grad_norm, (long long)r->batch, r->time);
}

uz_status uz_progress_step(uz_progress *p, const uz_step_record *r)
{
    const uz_train_config *cfg = p->cfg;
    if (p->metrics)
        metrics_line(p, r);
    if (p->dir || p->out) {
        uz_status st = UZ_OK;
        if (r->task >= 0)
            st = push(p, (double)r->step, r->loss, r->task);
        for (int k = 0; r->task < 0 && k < cfg->n_tasks && st == UZ_OK; k++)
            if (!isnan(r->task_loss[k]))
                st = push(p, (double)r->step, r->task_loss[k], k);
        if (st != UZ_OK)
            return st;
    }
    if (!p->out)
        return UZ_OK;
    p->sum += r->loss;
    p->count++;
    double t = uz_clock_s(), rate = (double)(r->step - p->first_step) / fmax(t - p->t0, 1e-9);
    char eta[32];
    clock_str(eta, sizeof eta, (double)(cfg->steps - r->step) / rate);
    bool at_log = r->step % cfg->log_every == 0 || r->step == cfg->steps;
    if (p->bar) {
        if (t - p->last_draw >= 0.1 || r->step == cfg->steps) {
            int fill = (int)((double)BAR_WIDTH * (double)r->step / (double)cfg->steps);
            char bar[BAR_WIDTH + 1];
            for (int i = 0; i < BAR_WIDTH; i++)
                bar[i] = i < fill ? '#' : '-';
            bar[BAR_WIDTH] = '\0';
            fprintf(p->out, "\rstep %lld/%lld [%s] loss %.4f  %.1f steps/s  ETA %s   ",
                    (long long)r->step, (long long)cfg->steps, bar, p->sum / (double)p->count,
                    rate, eta);
            fflush(p->out);
            p->last_draw = t;
        }
    } else if (at_log) {
        fprintf(p->out,
                "step %lld/%lld  loss %.4f  task %s  lr %.3g  grad_norm %.3g  batch %lld  "
                "%.1f steps/s  ETA %s\n",
                (long long)r->step, (long long)cfg->steps, p->sum / (double)p->count,
                r->task >= 0 ? cfg->tasks[r->task].name : "mixed", r->lr, r->grad_norm,
                (long long)r->batch, rate, eta);
        fflush(p->out);
    }
    if (at_log) {
        p->sum = 0;
        p->count = 0;
    }
    return UZ_OK;
}

static void metric_name(const uz_train_config *cfg, const uz_metric *m, char *buf, size_t n)
{
    if (m->task >= 0 && m->task < cfg->n_tasks)
        snprintf(buf, n, "%s/%s", cfg->tasks[m->task].name, m->name);
    else
        snprintf(buf, n, "%s", m->name);
}

uz_status uz_progress_eval(uz_progress *p, int64_t step, const uz_metrics *m)
{
    char line[2048], name[UZ_METRIC_NAME + 40];
    size_t used = 0;
    line[0] = '\0';
    if (p->metrics)
        fprintf(p->metrics, "{\"step\":%lld,\"eval\":{", (long long)step);
    for (int i = 0; i < m->n; i++) {
        metric_name(p->cfg, &m->m[i], name, sizeof name);
        if (p->metrics)
            fprintf(p->metrics, "%s\"%s\":%.9g", i ? "," : "", name, m->m[i].value);
        if (used < sizeof line) {
            int w = snprintf(line + used, sizeof line - used, "%s%s %.4f", i ? ", " : "", name,
                             m->m[i].value);
            used += w > 0 ? (size_t)w : 0;
        }
    }
    if (p->metrics) {
        fputs("}}\n", p->metrics);
        fflush(p->metrics);
    }
    uz_progress_note(p, "eval at step %lld: %s", (long long)step, line);
    return UZ_OK;
}

void uz_progress_flush(uz_progress *p)
{
    if (p->metrics)
        fflush(p->metrics);
}

uz_status uz_progress_plot(uz_progress *p)
{
    if (!p->dir)
        return UZ_OK;
    const uz_train_config *cfg = p->cfg;
    uz_plot_series s[UZ_MAX_TASKS];
    double *xs = malloc(sizeof(double) * (size_t)(p->hn ? p->hn : 1));
    double *ys = malloc(sizeof(double) * (size_t)(p->hn ? p->hn : 1));
    if (!xs || !ys) {
        free(xs);
        free(ys);
        return UZ_FAIL(UZ_ERR_NOMEM, "plot: out of memory");
    }
    /* Group the history by task into consecutive runs of xs/ys. */
    int64_t off = 0;
    for (int k = 0; k < cfg->n_tasks; k++) {
        s[k] = (uz_plot_series){cfg->tasks[k].name, xs + off, ys + off, 0};
        for (int64_t i = 0; i < p->hn; i++)
            if (p->ht[i] == k) {
                xs[off] = p->hx[i];
                ys[off] = p->hy[i];
                off++;
                s[k].n++;
            }
    }
    char path[PATH_MAX_LEN], title[256];
    join_path(path, p->dir, "loss.svg");
    snprintf(title, sizeof title, "%s: training loss", cfg->name[0] ? cfg->name : cfg->family);
    uz_status st = uz_plot_svg(path, title, "step", "loss", s, cfg->n_tasks);
    free(xs);
    free(ys);
    return st;
}

void uz_progress_close(uz_progress *p)
{
    if (p->bar && p->out) {
        fputc('\n', p->out);
        fflush(p->out);
    }
    if (p->metrics)
        fclose(p->metrics);
    free(p->dir);
    free(p->hx);
    free(p->hy);
    free(p->ht);
    memset(p, 0, sizeof *p);
}
