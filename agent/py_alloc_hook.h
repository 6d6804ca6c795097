/*
 * The PEP 445 allocator hooks that feed the heap sampler (heap_sampler.h): they wrap whatever
 * allocators are installed for PYMEM_DOMAIN_MEM and PYMEM_DOMAIN_OBJ (never replacing them),
 * count allocated bytes against a per-thread Poisson countdown (sampler.h), and record the
 * allocations it picks with the caller's Python traceback (py_frames.h).
 *
 * Domains: MEM and OBJ, which CPython only calls with the GIL held. RAW is not hooked: it is
 * called without the GIL (no traceback can be taken safely there), and pymalloc's own fallback
 * for large blocks goes through it, so hooking it would count those twice. Invisible therefore:
 * PyMem_RawMalloc callers, C libraries calling malloc directly (numpy data, compression buffers,
 * ...), and allocator overhead (arenas, fragmentation).
 *
 * All functions except lt_py_alloc_hook_guard need the GIL.
 */
#ifndef LEAKTOP_PY_ALLOC_HOOK_H
#define LEAKTOP_PY_ALLOC_HOOK_H

#include <stdint.h>

#include "heap_sampler.h"

#define LT_PY_SAMPLE_BYTES_DEFAULT (64u << 10) /* see docs/benchmarks.md, "Allocation sampler" */
#define LT_PY_FRAMES_DEFAULT 64u
#define LT_PY_FRAMES_MAX 256u

/* Start sampling at mean interval `mean` bytes, with tracebacks of at most `frames` frames:
 * set up the tables, install the hooks if they are not (or re-arm hooks left in place), and
 * arm every thread's countdown. Returns 0, or -1 with a Python exception set (out of memory). */
int lt_py_alloc_hook_start(uint64_t mean, uint32_t frames);

/* Stop sampling: remove the hooks when they are still the installed allocators (when another
 * tool wrapped them since, they stay, passing everything through), then forget every sample,
 * free the tables, and last release every traceback's code references (which may run Python
 * code). The agent's sites are not told: the agent goes with the sampler. */
void lt_py_alloc_hook_stop(void);

/* The sampler's counters, for tests and benchmarks: fills *mean (interval now), *samples
 * (recorded), *live (held), *dropped, *thinned. Returns 0, or -1 when it is not running. */
int lt_py_alloc_hook_stats(uint64_t *mean, uint64_t *samples, uint64_t *live, uint64_t *dropped,
                           uint64_t *thinned);

/* The sampler, to look blocks up with lt_heap_sampler_lookup, or NULL when it is not running.
 * The pointer stays valid until lt_py_alloc_hook_stop (GIL held). */
lt_heap_sampler *lt_py_alloc_hook_sampler(void);

/* Is the sampler running? */
int lt_py_alloc_hook_running(void);

/* One census of the sampler (lt_heap_sampler_census) with ops->release supplied here (it drops
 * the code references evicted tracebacks held). Returns 0, or -1 when the sampler is not
 * running (*out zeroed). */
int lt_py_alloc_hook_census(const lt_heap_census_ops *ops, lt_heap_totals *out);

/* The calling thread's own allocations are not sampled while on (the agent thread sets it
 * around its census). No GIL needed. */
void lt_py_alloc_hook_guard(int on);

/* In a forked child, first thing: the sampler's lock is free, its tables are forgotten (the
 * references they hold released), and sampling is off until lt_py_alloc_hook_start. The hooks
 * stay in place, passing everything through. */
void lt_py_alloc_hook_after_fork_child(void);

#endif
