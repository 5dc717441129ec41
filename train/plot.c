/* SVG line plots: data are mapped to a fixed 800x480 canvas; ticks are 1, 2
 * or 5 times a power of ten, about six per axis. */
#include "train/plot.h"

#include "core/file_io.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { W = 800, H = 480, LEFT = 70, RIGHT = 150, TOP = 40, BOTTOM = 50 };

static const char *const COLOURS[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                      "#9467bd", "#8c564b", "#e377c2", "#17becf"};

static double nice_step(double range)
{
    if (!(range > 0))
        return 1.0;
    double raw = range / 6.0, p = pow(10.0, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0) * p;
}

typedef struct frame {
    double x0, x1, y0, y1;
} frame;

static double px(const frame *f, double x)
{
    return LEFT + (x - f->x0) / (f->x1 - f->x0) * (W - LEFT - RIGHT);
}

static double py(const frame *f, double y)
{
    return H - BOTTOM - (y - f->y0) / (f->y1 - f->y0) * (H - TOP - BOTTOM);
}

static void escape(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", out);
        else if (*s == '>')
            fputs("&gt;", out);
        else if (*s == '&')
            fputs("&amp;", out);
        else
            fputc(*s, out);
    }
}

static void polyline(FILE *out, const frame *f, const double *x, const double *y, int64_t n,
                     const char *colour, double width, double opacity)
{
    fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" opacity=\"%.2f\" points=\"",
            colour, width, opacity);
    for (int64_t i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i]))
            fprintf(out, "%.1f,%.1f ", px(f, x[i]), py(f, y[i]));
    fputs("\"/>\n", out);
}

static void axes(FILE *out, const frame *f, const char *xlabel, const char *ylabel)
{
    fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n",
            LEFT, TOP, W - LEFT - RIGHT, H - TOP - BOTTOM);
    double xs = nice_step(f->x1 - f->x0), ys = nice_step(f->y1 - f->y0);
    for (double t = ceil(f->x0 / xs) * xs; t <= f->x1 + 1e-9 * xs; t += xs) {
        double x = px(f, t);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n", x, TOP,
                x, H - BOTTOM);
        fprintf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", x,
                H - BOTTOM + 18, fabs(t) < 1e-12 * xs ? 0.0 : t);
    }
    for (double t = ceil(f->y0 / ys) * ys; t <= f->y1 + 1e-9 * ys; t += ys) {
        double y = py(f, t);
        fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", LEFT, y,
                W - RIGHT, y);
        fprintf(out, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", LEFT - 6, y + 4,
                fabs(t) < 1e-12 * ys ? 0.0 : t);
    }
    fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", (LEFT + W - RIGHT) / 2, H - 12);
    escape(out, xlabel);
    fprintf(out, "</text>\n<text x=\"16\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 16 %d)\">",
            (TOP + H - BOTTOM) / 2, (TOP + H - BOTTOM) / 2);
    escape(out, ylabel);
    fputs("</text>\n", out);
}

/* Trailing moving average over `win` points, so the trend shows through
 * per-step noise. */
static void moving_average(const double *y, int64_t n, int64_t win, double *out)
{
    double sum = 0.0;
    int64_t cnt = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isfinite(y[i])) {
            sum += y[i];
            cnt++;
        }
        if (i >= win && isfinite(y[i - win])) {
            sum -= y[i - win];
            cnt--;
        }
        out[i] = cnt ? sum / (double)cnt : NAN;
    }
}

uz_status uz_plot_svg(const char *path, const char *title, const char *xlabel, const char *ylabel,
                      const uz_plot_series *series, int n_series)
{
    frame f = {INFINITY, -INFINITY, INFINITY, -INFINITY};
    int64_t longest = 0;
    for (int s = 0; s < n_series; s++) {
        for (int64_t i = 0; i < series[s].n; i++) {
            double x = series[s].x[i], y = series[s].y[i];
            if (!isfinite(x) || !isfinite(y))
                continue;
            f.x0 = fmin(f.x0, x);
            f.x1 = fmax(f.x1, x);
            f.y0 = fmin(f.y0, y);
            f.y1 = fmax(f.y1, y);
        }
        longest = series[s].n > longest ? series[s].n : longest;
    }
    if (!(f.x0 <= f.x1)) {
        f = (frame){0, 1, 0, 1};
    }
    if (f.x1 - f.x0 < 1e-12)
        f.x1 = f.x0 + 1;
    if (f.y1 - f.y0 < 1e-12) {
        f.y0 -= 0.5;
        f.y1 += 0.5;
    }
    double pad = 0.05 * (f.y1 - f.y0);
    f.y0 = f.y0 - pad < 0 && f.y0 >= 0 ? 0 : f.y0 - pad;
    f.y1 += pad;

    double *avg = malloc(sizeof(double) * (size_t)(longest ? longest : 1));
    if (!avg)
        return UZ_FAIL(UZ_ERR_NOMEM, "plot %s: out of memory", path);
    uz_atomic_file af;
    if (uz_atomic_file_begin(&af, path) != UZ_OK) {
        free(avg);
        return uz_error_status();
    }
    FILE *out = af.fp;
    fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                 "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            W, H);
    fprintf(out, "<text x=\"%d\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">", (LEFT + W - RIGHT) / 2);
    escape(out, title);
    fputs("</text>\n", out);
    axes(out, &f, xlabel, ylabel);
    for (int s = 0; s < n_series; s++) {
        const char *colour = COLOURS[s % (int)(sizeof COLOURS / sizeof COLOURS[0])];
        const uz_plot_series *sr = &series[s];
        int64_t win = sr->n / 40 > 1 ? sr->n / 40 : 1;
        polyline(out, &f, sr->x, sr->y, sr->n, colour, 1.0, win > 1 ? 0.3 : 1.0);
        if (win > 1) {
            moving_average(sr->y, sr->n, win, avg);
            polyline(out, &f, sr->x, avg, sr->n, colour, 2.0, 1.0);
        }
        int ly = TOP + 10 + 20 * s;
        fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"/>\n",
                W - RIGHT + 12, ly, W - RIGHT + 36, ly, colour);
        fprintf(out, "<text x=\"%d\" y=\"%d\">", W - RIGHT + 42, ly + 4);
        escape(out, sr->name);
        fputs("</text>\n", out);
    }
    fputs("</svg>\n", out);
    free(avg);
    /* A plot is redrawn often and rebuilt from metrics.jsonl: no fsync. */
    return uz_atomic_file_commit(&af, false);
}
