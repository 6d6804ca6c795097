/*
 * The heap sampler's shared state: the live sampled blocks (live_table.h), their raw tracebacks
 * (trace_table.h), the current mean interval, and the counters a viewer sees. The allocation
 * hooks record and forget blocks from any thread; the agent thread takes a census of it.
 *
 * Locking: one spinlock, a leaf: nothing that waits for anything else (the GIL, a Python call,
 * the hooked allocators) is ever done while it is held, so it cannot deadlock, and a fork at any
 * moment can only find it held by the forking thread or by nobody (lt_heap_sampler_after_fork
 * resets it in the child). The hooks run with the GIL in practice, so it is almost never
 * contended; it is there for callers that break that rule and for sub-interpreters.
 *
 * Memory: bounded by lt_heap_limits and counted by lt_malloc. When the live table is full the
 * mean interval doubles and the samples already held are thinned to match (each kept with
 * probability p_new / p_old and reweighted), so estimates stay unbiased for any heap size.
 */
#ifndef LEAKTOP_HEAP_SAMPLER_H
#define LEAKTOP_HEAP_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "live_table.h"
#include "trace_table.h"

#define LT_HEAP_MAX_MEAN (1ull << 32) /* thinning never doubles the interval past 4 GiB */

typedef struct lt_heap_limits {
    uint32_t max_samples;   /* live sampled blocks; default 32768 */
    uint32_t max_traces;    /* raw tracebacks; default 16384 */
    size_t max_trace_bytes; /* their frames; default 3 MiB */
    uint32_t idle_ticks;    /* censuses a traceback without live samples is kept; default 60 */
} lt_heap_limits;

typedef struct lt_heap_sampler {
    int lock;           /* the spinlock */
    int active;         /* atomic: record() keeps samples */
    uint64_t mean;      /* atomic: mean interval new countdowns are drawn with */
    uint32_t epoch;     /* atomic: bumped whenever countdowns must be redrawn */
    lt_heap_limits lim;
    lt_live_table live;
    lt_trace_table traces;
    uint64_t rng;       /* for thinning; under the lock */
    uint32_t tick;      /* censuses so far */
    /* retain(ctx, stack): a new raw traceback; take the references its codes need. Called with
     * the lock held, from the hook: it must not allocate through the hooked allocators. */
    void (*retain)(void *ctx, const lt_raw_stack *s);
    void *retain_ctx;
    /* counters, under the lock */
    uint64_t samples;   /* samples recorded */
    uint64_t dropped;   /* samples not kept: table or memory exhausted */
    uint64_t thinned;   /* samples removed by thinning (their weight moved to the others) */
    uint64_t skipped;   /* atomic: samples the hook could not take (see lt_heap_sampler_skip) */
} lt_heap_sampler;

/* What the census sees. */
typedef struct lt_heap_totals {
    uint64_t mean;           /* the mean interval now */
    double live_bytes;       /* unbiased estimate of the bytes of live sampled-domain blocks */
    double live_count;       /* ... and of their number */
    uint64_t live_samples;   /* samples held */
    uint64_t dropped;        /* samples lost: tables full, no memory, or skipped by the hook */
    uint64_t thinned;
    uint32_t traces;         /* raw tracebacks held */
    uint64_t trace_overflow; /* samples whose traceback was not kept (table full) */
    uint64_t trace_evicted;  /* raw tracebacks evicted */
    uint64_t samples;        /* samples recorded so far (a live entry's seq is at most this) */
} lt_heap_totals;

/* What the census needs from its owner. resolve and release run without the lock (they may call
 * into Python); add runs with it (plain C only). */
typedef struct lt_heap_census_ops {
    void *ctx;
    /* The site handle (nonzero, held once) of a raw traceback; overflow: the pseudo-traceback of
     * samples whose traceback was not kept. 0: cannot resolve now (try again next census). */
    uint32_t (*resolve)(void *ctx, const lt_raw_stack *s, int overflow);
    /* Add one raw traceback's estimate to its site. */
    void (*add)(void *ctx, uint32_t site, double bytes, double count);
    /* A raw traceback resolved to site went away. */
    void (*unhold)(void *ctx, uint32_t site);
    /* Release what retain took for an evicted traceback. */
    void (*release)(void *ctx, const lt_raw_stack *s);
    /* Optional (NULL: not called), with the lock held, plain C only. classify: the kind of a
     * live sample not looked at yet (entry's kind 0), read from its block, which stays
     * allocated meanwhile (its free waits for the lock); stored in the entry, never asked
     * again unless `reclassify` is set and it was 1 (LT_KIND_NONE). tally: every live sample
     * with its kind, once per census. */
    uint32_t (*classify)(void *ctx, const void *ptr, uint64_t size);
    void (*tally)(void *ctx, const lt_live_entry *e);
    int reclassify;
} lt_heap_census_ops;

/* A sampler that is not initialised yet but can already answer lt_heap_sampler_maybe. */
#define LT_HEAP_SAMPLER_INIT {.live = {.filter = lt_live_filter_none}}

/* Default limits. */
void lt_heap_limits_default(lt_heap_limits *lim);

/* Prepare an inactive sampler. hs must be LT_HEAP_SAMPLER_INIT, zeroed, or a sampler freed by
 * lt_heap_sampler_free: its epoch keeps counting across re-initialisations. (A zeroed one must
 * not meet lt_heap_sampler_maybe before this call: its filter pointer is NULL.) Returns 0, or -1 when out of memory (nothing
 * held then). */
int lt_heap_sampler_init(lt_heap_sampler *hs, const lt_heap_limits *lim,
                         void (*retain)(void *ctx, const lt_raw_stack *s), void *retain_ctx);
/* Free everything. release (may be NULL) sees every raw traceback still held. The hooks must be
 * gone: nothing may call record/forget during or after this. */
void lt_heap_sampler_free(lt_heap_sampler *hs, void (*release)(void *ctx, const lt_raw_stack *s),
                          void *ctx);

/* Start keeping samples at mean interval `mean` (bytes): a new epoch, so every thread's
 * countdown is redrawn. */
void lt_heap_sampler_activate(lt_heap_sampler *hs, uint64_t mean);
/* Stop keeping samples (record() ignores them); what is held stays until cleared. */
void lt_heap_sampler_deactivate(lt_heap_sampler *hs);
/* Forget every sample and traceback: release sees each traceback, and unhold (may be NULL) the
 * site of each resolved one, both after the lock is dropped. Counters are kept. */
void lt_heap_sampler_clear(lt_heap_sampler *hs, const lt_heap_census_ops *ops);

/* For the hooks: the interval and epoch to pass to lt_countdown_expired. */
static inline uint64_t
lt_heap_sampler_mean(const lt_heap_sampler *hs)
{
    return __atomic_load_n(&hs->mean, __ATOMIC_RELAXED);
}

static inline uint32_t
lt_heap_sampler_epoch(const lt_heap_sampler *hs)
{
    return __atomic_load_n(&hs->epoch, __ATOMIC_ACQUIRE);
}

static inline int
lt_heap_sampler_active(const lt_heap_sampler *hs)
{
    return __atomic_load_n(&hs->active, __ATOMIC_ACQUIRE);
}

/* Record a sampled allocation of size bytes at ptr, sampled under mean interval sampled_mean,
 * with traceback s. Never fails: when it cannot be kept, it is counted in `dropped`. */
void lt_heap_sampler_record(lt_heap_sampler *hs, const void *ptr, uint64_t size,
                            uint64_t sampled_mean, const lt_raw_stack *s);

/* May ptr be a sampled block? The lock-free filter in front of forget(): 0 means no. */
static inline int
lt_heap_sampler_maybe(const lt_heap_sampler *hs, const void *ptr)
{
    return lt_live_table_maybe(&hs->live, (uintptr_t)ptr);
}

/* ptr is being freed (or reallocated): stop tracking it. Returns 1 with its entry in *out when
 * it was a sampled block, else 0. */
int lt_heap_sampler_forget(lt_heap_sampler *hs, const void *ptr, lt_live_entry *out);

/* Is ptr (a block start, as the allocator returned it) a live sample? Returns 1 with its entry
 * in *out and, in *site, the census owner's handle of its traceback (0 when no census has
 * resolved that traceback yet), or 0. Takes the lock only when the filter says maybe; any
 * thread, no GIL needed. Changes nothing. */
int lt_heap_sampler_lookup(lt_heap_sampler *hs, const void *ptr, lt_live_entry *out,
                           uint32_t *site);

/* Put back an entry forget() returned (a failed realloc left the block alive). */
void lt_heap_sampler_restore(lt_heap_sampler *hs, const lt_live_entry *e);

/* A sample the hook had to skip (no GIL, another interpreter): counted as dropped. */
static inline void
lt_heap_sampler_skip(lt_heap_sampler *hs)
{
    __atomic_add_fetch(&hs->skipped, 1, __ATOMIC_RELAXED);
}

/* One census, on the owner's thread: resolve new tracebacks, add every traceback's live
 * estimate to its site, evict idle tracebacks, fill *out. Out of memory only makes the census
 * incomplete (unresolved tracebacks wait for the next one). */
void lt_heap_sampler_census(lt_heap_sampler *hs, const lt_heap_census_ops *ops,
                            lt_heap_totals *out);

/* In a forked child, before anything else touches the sampler: the lock is free again. */
void lt_heap_sampler_after_fork(lt_heap_sampler *hs);

/* Bytes of memory the tables hold. */
size_t lt_heap_sampler_bytes(const lt_heap_sampler *hs);

#endif
