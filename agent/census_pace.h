/*
 * The census's cost budget: a token bucket of CPU time. Every tick credits budget x the wall time
 * since the last tick; every census slice debits the CPU time it took; a slice may start while
 * the credit is positive. Only the census is charged: it is the work the budget spaces out (the
 * rest of a tick, the stream to viewers, is bounded by the tick itself). The first census after
 * start, and the last at exit, are not held back (the caller decides). Plain C, no clock of its
 * own but lt_thread_cpu_ns: the caller passes the times.
 */
#ifndef LEAKTOP_CENSUS_PACE_H
#define LEAKTOP_CENSUS_PACE_H

#include <stdint.h>

#define LT_PACE_BUDGET_DEFAULT_PPM 10000u /* 1% of one core */

typedef struct lt_pace {
    uint32_t budget_ppm; /* of one core, in millionths (10000: 1%) */
    int64_t tokens_ns;   /* CPU the census may still use; negative: in debt */
    int64_t cap_ns;      /* most credit kept, and deepest debt remembered */
    uint64_t last_wall_ns;
} lt_pace;

/* budget_ppm in 1..1000000 (clamped); cap_ns: the most CPU credit saved up. The bucket starts
 * with tokens_ns credit (at most cap_ns). */
void lt_pace_init(lt_pace *p, uint32_t budget_ppm, int64_t cap_ns, int64_t tokens_ns,
                  uint64_t wall_ns);

/* A tick at wall_ns (CLOCK_MONOTONIC): credit the budget for the wall time since the last tick.
 * A clock that goes back credits nothing. */
void lt_pace_tick(lt_pace *p, uint64_t wall_ns);

/* The census used cpu_ns of CPU time. A debt deeper than the cap is forgotten, so one long
 * census does not hold the next back for longer than a full bucket takes to refill. */
void lt_pace_spend(lt_pace *p, uint64_t cpu_ns);

/* May a census slice run now? */
int lt_pace_allows(const lt_pace *p);

/* The calling thread's CPU clock (CLOCK_THREAD_CPUTIME_ID) in nanoseconds; 0 if unreadable. */
uint64_t lt_thread_cpu_ns(void);

#endif
