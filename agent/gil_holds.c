/* The longest holds of the GIL per kind of work (see gil_holds.h). */
#include "gil_holds.h"

#include <string.h>
#include <time.h>

static lt_hold_stats stats[LT_HOLD_KINDS];
static uint64_t bound;

static uint64_t
clock_ns(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void
lt_hold_begin(lt_hold_mark *m)
{
    m->wall_ns = clock_ns(CLOCK_MONOTONIC);
    m->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

uint64_t
lt_hold_end(const lt_hold_mark *m, lt_hold_kind kind, uint64_t *cpu_ns)
{
    uint64_t wall = clock_ns(CLOCK_MONOTONIC), cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    wall = wall > m->wall_ns ? wall - m->wall_ns : 0;
    cpu = cpu > m->cpu_ns ? cpu - m->cpu_ns : 0;
    if (cpu_ns != NULL)
        *cpu_ns = cpu;
    if ((unsigned)kind < LT_HOLD_KINDS) {
        lt_hold_stats *s = &stats[kind];
        s->holds++;
        s->total_wall_ns += wall;
        s->total_cpu_ns += cpu;
        if (wall > s->longest_wall_ns)
            s->longest_wall_ns = wall;
        if (cpu > s->longest_cpu_ns)
            s->longest_cpu_ns = cpu;
        s->over_bound += bound != 0 && cpu > bound;
    }
    return wall;
}

void
lt_holds_get(lt_hold_kind kind, lt_hold_stats *out)
{
    if ((unsigned)kind < LT_HOLD_KINDS)
        *out = stats[kind];
    else
        memset(out, 0, sizeof *out);
}

void
lt_holds_reset(uint64_t bound_ns)
{
    memset(stats, 0, sizeof stats);
    bound = bound_ns;
}

const char *
lt_hold_kind_name(lt_hold_kind kind)
{
    static const char *const names[LT_HOLD_KINDS] = {"census", "why_alive", "type_sites",
                                                     "memory", "tick"};
    return (unsigned)kind < LT_HOLD_KINDS ? names[kind] : NULL;
}
