/* pymalloc's own report, read under the GIL and parsed (see py_memstats.h). Globals below are
 * protected by the GIL. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gil_holds.h"
#include "mem_stats.h"
#include "py_memstats.h"

#if PY_VERSION_HEX >= 0x030B0000
/* Still exported, but declared only in the internal headers since 3.11. */
PyAPI_FUNC(int) _PyObject_DebugMallocStats(FILE *out);
#endif

#define REPORT_MAX 16384    /* the report is about 3 KiB on 3.8 to 3.13 */
#define BUDGET_FRACTION 100 /* a reading may cost 1/100 of the sampling interval */

static PyMemAllocatorEx pymalloc; /* the OBJ allocator at import, when it was pymalloc */
static int have_pymalloc;
static char report[REPORT_MAX];
static lt_memory last; /* the newest reading: py_* fields only */
static int have_last;
static uint32_t age, skip; /* samples since the last reading; samples to skip before the next */
static uint64_t cost_cpu_ns, cost_objects; /* the last reading's CPU time, and the heap's size then */
static int have_cost;

/* CPU time of the calling thread, ns (0 when it cannot be read: then no reading is put off). */
static uint64_t
thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
same_allocator(const PyMemAllocatorEx *x, const PyMemAllocatorEx *y)
{
    return x->ctx == y->ctx && x->malloc == y->malloc && x->calloc == y->calloc &&
           x->realloc == y->realloc && x->free == y->free;
}

/* Print pymalloc's report into `report` and parse it into m. Returns 0, or -1 when it reports
 * nothing or cannot be parsed. */
static int
read_pymalloc(lt_memory *m)
{
    FILE *f = fmemopen(report, sizeof report, "w");
    if (f == NULL)
        return -1;
    PyMemAllocatorEx cur;
    PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &cur);
    int swapped = have_pymalloc && !same_allocator(&cur, &pymalloc);
    if (swapped)
        PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &pymalloc);
    int printed = _PyObject_DebugMallocStats(f);
    if (swapped)
        PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &cur);
    long len = ftell(f);
    fclose(f);
    if (!printed || len <= 0 || (size_t)len >= sizeof report)
        return -1;
    return lt_mem_stats_parse_pymalloc(report, (size_t)len, m);
}

void
lt_py_memstats_init(void)
{
    lt_memory m;
    memset(&m, 0, sizeof m);
    have_pymalloc = 0;
    uint64_t c0 = thread_cpu_ns();
    int rc = read_pymalloc(&m);
    cost_cpu_ns = thread_cpu_ns() - c0;
    cost_objects = 0; /* the heap's size is known at the first census */
    have_cost = 1;
    if (rc == 0) {
        PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &pymalloc);
        have_pymalloc = 1;
    }
}

/* Would a reading now hold the GIL past bound_ns? The last one's cost, scaled by the heap's
 * growth in objects since (a reading walks every arena: it grows with the heap), with a margin
 * of half again: the walk's cost per object rises as the heap outgrows the caches (3.11, 23 M
 * objects: a reading predicted within 10 ms took 12.5 ms of CPU). */
#define PREDICTION_MARGIN 1.5
static int
too_long(uint64_t objects, uint64_t bound_ns)
{
    if (!have_cost || bound_ns == 0)
        return 0;
    if (cost_objects == 0)
        cost_objects = objects; /* the first reading (at import) was of about this heap */
    double predicted = (double)cost_cpu_ns;
    if (objects > cost_objects && cost_objects > 0)
        predicted *= (double)objects / (double)cost_objects;
    return predicted * PREDICTION_MARGIN > (double)bound_ns;
}

void
lt_py_memstats_collect(lt_agent *a, uint32_t interval_ms, uint64_t objects, uint64_t bound_ns)
{
    if (!have_pymalloc)
        return;
    if (have_last && too_long(objects, bound_ns)) {
        age++; /* the last reading stays, older (its cost still known: a smaller heap reads) */
        if (cost_objects > 0 && objects < cost_objects) {
            cost_cpu_ns = (uint64_t)((double)cost_cpu_ns * (double)objects / (double)cost_objects);
            cost_objects = objects;
        }
    } else if (have_last && skip > 0) {
        skip--;
        age++;
    } else {
        lt_memory m;
        memset(&m, 0, sizeof m);
        lt_hold_mark hm; /* one hold of the GIL of its own (LT_HOLD_MEMORY) */
        lt_hold_begin(&hm);
        uint64_t t0 = lt_mono_ns(), c0 = thread_cpu_ns();
        int rc = read_pymalloc(&m);
        m.py_read_ns = lt_mono_ns() - t0;
        uint64_t cpu_ns = thread_cpu_ns() - c0;
        lt_hold_end(&hm, LT_HOLD_MEMORY, NULL);
        cost_cpu_ns = cpu_ns;
        cost_objects = objects;
        have_cost = 1;
        if (rc == 0) {
            last = m;
            have_last = 1;
            age = 0;
        } else if (have_last) {
            age++;
        }
        /* Keep the average cost within the budget: a reading of k budgets is taken every k
         * samples. Its cost is the CPU time this thread spent on it, not the wall time: on a
         * busy machine the thread can be descheduled mid-reading, and a reading that took 1 ms
         * of work but 100 ms of wall time must not put the next forty off (each sample in
         * between would carry a reading from before what the program just freed). */
        uint64_t budget = (uint64_t)interval_ms * 1000000u / BUDGET_FRACTION;
        uint64_t k = budget ? cpu_ns / budget : 0;
        skip = k > 3600 ? 3600 : (uint32_t)k;
    }
    if (have_last) {
        last.py_age = age;
        lt_agent_memory_python(a, &last);
    }
}

void
lt_py_memstats_after_fork_child(void)
{
    have_last = 0;
    age = skip = 0;
}
