/* What every benchmark program times with: wall and process CPU clocks in
 * milliseconds, and sorting or taking the median of a set of timings. */
#ifndef UZ_BENCH_TIME_H
#define UZ_BENCH_TIME_H

/* Monotonic wall time. */
double bench_now_ms(void);
/* CPU time of every thread of the process: the work done, which other jobs
 * sharing the cores inflate far less than the wall time. */
double bench_cpu_ms(void);
/* t[0..n) in increasing order. */
void bench_sort(double *t, int n);
/* The median of t[0..n) (sorts t). */
double bench_median(double *t, int n);

#endif
