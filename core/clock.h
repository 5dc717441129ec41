/* Wall-clock seconds from a monotonic clock, for rates and elapsed times. */
#ifndef UZ_CLOCK_H
#define UZ_CLOCK_H

#include <time.h>

static inline double uz_clock_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
