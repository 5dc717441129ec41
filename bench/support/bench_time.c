#include "bench_time.h"

#include <stdlib.h>
#include <time.h>

static double clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

double bench_now_ms(void) { return clock_ms(CLOCK_MONOTONIC); }

double bench_cpu_ms(void) { return clock_ms(CLOCK_PROCESS_CPUTIME_ID); }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bench_sort(double *t, int n) { qsort(t, (size_t)n, sizeof *t, cmp_double); }

double bench_median(double *t, int n)
{
    bench_sort(t, n);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}
