/* A small SVG line-plot writer for training curves: one polyline per series
 * (the raw values faint, a moving average solid), axes with "nice" ticks and
 * a legend. No dependencies; written atomically. */
#ifndef UZ_PLOT_H
#define UZ_PLOT_H

#include <stdint.h>

#include "core/error.h"

typedef struct uz_plot_series {
    const char *name;
    const double *x, *y;
    int64_t n;
} uz_plot_series;

/* Non-finite points are skipped; an empty series only shows in the legend. */
uz_status uz_plot_svg(const char *path, const char *title, const char *xlabel, const char *ylabel,
                      const uz_plot_series *series, int n_series);

#endif
