/* The census's CPU budget (token bucket). */
#include "census_pace.h"

#include <time.h>

void
lt_pace_init(lt_pace *p, uint32_t budget_ppm, int64_t cap_ns, int64_t tokens_ns, uint64_t wall_ns)
{
    p->budget_ppm = budget_ppm == 0 ? 1 : budget_ppm > 1000000u ? 1000000u : budget_ppm;
    p->cap_ns = cap_ns > 0 ? cap_ns : 0;
    p->tokens_ns = tokens_ns < p->cap_ns ? tokens_ns : p->cap_ns;
    p->last_wall_ns = wall_ns;
}

void
lt_pace_tick(lt_pace *p, uint64_t wall_ns)
{
    if (wall_ns <= p->last_wall_ns)
        return;
    uint64_t dt = wall_ns - p->last_wall_ns;
    p->last_wall_ns = wall_ns;
    /* dt * ppm would overflow past 5 hours between ticks: the bucket is full long before. */
    if (dt > 3600ull * 1000000000ull)
        dt = 3600ull * 1000000000ull;
    p->tokens_ns += (int64_t)(dt / 1000000u * p->budget_ppm +
                              dt % 1000000u * p->budget_ppm / 1000000u);
    if (p->tokens_ns > p->cap_ns)
        p->tokens_ns = p->cap_ns;
}

void
lt_pace_spend(lt_pace *p, uint64_t cpu_ns)
{
    if (cpu_ns > (uint64_t)INT64_MAX / 2)
        cpu_ns = (uint64_t)INT64_MAX / 2;
    p->tokens_ns -= (int64_t)cpu_ns;
    if (p->tokens_ns < -p->cap_ns)
        p->tokens_ns = -p->cap_ns;
}

int
lt_pace_allows(const lt_pace *p)
{
    return p->tokens_ns > 0;
}

uint64_t
lt_thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
