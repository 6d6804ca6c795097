/* The heap sampler: live blocks, their tracebacks, thinning, and the census. */
#define _GNU_SOURCE
#include "heap_sampler.h"

#include <sched.h>
#include <string.h>

#include "leaktop/mem.h"
#include "sampler.h"

/* ---- the lock ---------------------------------------------------------------------------- */

static void
lock(lt_heap_sampler *hs)
{
    for (unsigned spins = 0; __atomic_exchange_n(&hs->lock, 1, __ATOMIC_ACQUIRE) != 0;) {
        while (__atomic_load_n(&hs->lock, __ATOMIC_RELAXED) != 0) {
            if (++spins < 256)
                __builtin_ia32_pause();
            else
                sched_yield();
        }
    }
}

static void
unlock(lt_heap_sampler *hs)
{
    __atomic_store_n(&hs->lock, 0, __ATOMIC_RELEASE);
}

/* ---- setup ------------------------------------------------------------------------------- */

void
lt_heap_limits_default(lt_heap_limits *lim)
{
    lim->max_samples = 32768;
    lim->max_traces = 16384;
    lim->max_trace_bytes = 3u << 20;
    lim->idle_ticks = 60;
}

int
lt_heap_sampler_init(lt_heap_sampler *hs, const lt_heap_limits *lim,
                     void (*retain)(void *ctx, const lt_raw_stack *s), void *retain_ctx)
{
    /* The epoch survives a re-initialisation in place: countdowns drawn in the sampler's previous
     * life must still look stale. */
    uint32_t epoch = __atomic_load_n(&hs->epoch, __ATOMIC_RELAXED);
    memset(hs, 0, sizeof *hs);
    hs->live.filter = lt_live_filter_none;
    __atomic_store_n(&hs->epoch, epoch + 1, __ATOMIC_RELEASE);
    hs->lim = *lim;
    hs->retain = retain;
    hs->retain_ctx = retain_ctx;
    hs->rng = lt_sampler_seed((uint64_t)(uintptr_t)hs);
    if (lt_live_table_init(&hs->live, lim->max_samples) < 0 ||
        lt_trace_table_init(&hs->traces, lim->max_traces, lim->max_trace_bytes) < 0) {
        lt_live_table_free(&hs->live);
        lt_trace_table_free(&hs->traces);
        return -1;
    }
    return 0;
}

/* Hand every raw traceback to release, then forget them all. Lock held by the caller or not
 * needed; release must not need it. */
static void
release_all(lt_trace_table *t, void (*release)(void *ctx, const lt_raw_stack *s), void *ctx)
{
    for (uint32_t i = 1; t->e != NULL && i < t->cap; i++)
        if (t->e[i].used && release != NULL) {
            lt_raw_stack s = lt_raw_stack_of(&t->e[i]);
            release(ctx, &s);
        }
    for (uint32_t g = 0; g < t->ngraves && release != NULL; g++) {
        lt_raw_trace tmp = {.frames = t->graves[g].frames, .nframes = t->graves[g].nframes};
        lt_raw_stack s = lt_raw_stack_of(&tmp);
        release(ctx, &s);
    }
}

void
lt_heap_sampler_free(lt_heap_sampler *hs, void (*release)(void *ctx, const lt_raw_stack *s),
                     void *ctx)
{
    __atomic_store_n(&hs->active, 0, __ATOMIC_RELEASE);
    release_all(&hs->traces, release, ctx);
    lt_live_table_free(&hs->live);
    lt_trace_table_free(&hs->traces);
}

void
lt_heap_sampler_activate(lt_heap_sampler *hs, uint64_t mean)
{
    lock(hs);
    __atomic_store_n(&hs->mean, mean ? mean : 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&hs->epoch, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&hs->active, 1, __ATOMIC_RELEASE);
    unlock(hs);
}

void
lt_heap_sampler_deactivate(lt_heap_sampler *hs)
{
    __atomic_store_n(&hs->active, 0, __ATOMIC_RELEASE);
    __atomic_add_fetch(&hs->epoch, 1, __ATOMIC_RELEASE);
}

/* Unhold the site and release the references of each grave, then free its frames. */
static void
bury_all(lt_raw_grave *graves, uint32_t n, const lt_heap_census_ops *ops)
{
    for (uint32_t g = 0; g < n; g++) {
        lt_raw_trace tmp = {.frames = graves[g].frames, .nframes = graves[g].nframes};
        lt_raw_stack s = lt_raw_stack_of(&tmp);
        if (graves[g].site != 0 && ops->unhold != NULL)
            ops->unhold(ops->ctx, graves[g].site);
        if (ops->release != NULL)
            ops->release(ops->ctx, &s);
        lt_free(graves[g].frames);
    }
}

void
lt_heap_sampler_clear(lt_heap_sampler *hs, const lt_heap_census_ops *ops)
{
    /* Swap the traceback table for an empty one under the lock; release the old one outside. */
    lt_trace_table old, fresh;
    int ok = lt_trace_table_init(&fresh, hs->lim.max_traces, hs->lim.max_trace_bytes) == 0;
    lock(hs);
    lt_live_table_clear(&hs->live);
    old = hs->traces;
    if (ok) {
        hs->traces = fresh;
    } else {
        /* No memory for a fresh table: keep the old one, emptied. */
        memset(&hs->traces, 0, sizeof hs->traces);
    }
    unlock(hs);
    for (uint32_t i = 0; old.e != NULL && i < old.cap; i++) {
        if (!old.e[i].used)
            continue;
        if (ops != NULL && ops->unhold != NULL && old.e[i].site != 0)
            ops->unhold(ops->ctx, old.e[i].site);
        if (i != LT_RAW_OVERFLOW && ops != NULL && ops->release != NULL) {
            lt_raw_stack s = lt_raw_stack_of(&old.e[i]);
            ops->release(ops->ctx, &s);
        }
    }
    uint32_t ninline = 0;
    lt_raw_grave *inline_graves = lt_trace_table_take_graves(&old, &ninline);
    if (ops != NULL)
        bury_all(inline_graves, ninline, ops);
    else
        for (uint32_t g = 0; g < ninline; g++)
            lt_free(inline_graves[g].frames);
    lt_free(inline_graves);
    lt_trace_table_free(&old);
    if (!ok) {
        lock(hs);
        if (hs->traces.e == NULL)
            lt_trace_table_init(&hs->traces, hs->lim.max_traces, hs->lim.max_trace_bytes);
        unlock(hs);
    }
}

void
lt_heap_sampler_after_fork(lt_heap_sampler *hs)
{
    __atomic_store_n(&hs->lock, 0, __ATOMIC_RELEASE);
    hs->rng = lt_sampler_seed((uint64_t)(uintptr_t)hs ^ hs->rng);
}

/* ---- recording (the hooks) ---------------------------------------------------------------- */

typedef struct thin_ctx {
    lt_heap_sampler *hs;
    uint64_t mean;
} thin_ctx;

/* Keep a sample taken with probability 1/weight with probability p_new * weight, reweighted. */
static int
thin_keep(void *ctx, lt_live_entry *e)
{
    thin_ctx *c = ctx;
    double p_new = lt_sampler_probability(e->size, c->mean);
    double keep = p_new * (double)e->weight;
    if (keep < 1.0 && lt_sampler_uniform(&c->hs->rng) >= keep)
        return 0;
    e->weight = (float)(1.0 / p_new);
    return 1;
}

static void
thin_drop(void *ctx, const lt_live_entry *e)
{
    thin_ctx *c = ctx;
    lt_trace_table *t = &c->hs->traces;
    if (e->trace < t->cap && t->e[e->trace].refs > 0)
        t->e[e->trace].refs--;
    c->hs->thinned++;
}

/* The live table is full: double the interval and thin what is held to match. Lock held.
 * Returns 0, or -1 when the interval is already at its maximum. */
static int
thin(lt_heap_sampler *hs)
{
    uint64_t mean = __atomic_load_n(&hs->mean, __ATOMIC_RELAXED);
    if (mean >= LT_HEAP_MAX_MEAN)
        return -1;
    thin_ctx c = {hs, mean * 2};
    lt_live_table_filter_entries(&hs->live, thin_keep, thin_drop, &c);
    __atomic_store_n(&hs->mean, c.mean, __ATOMIC_RELAXED);
    __atomic_add_fetch(&hs->epoch, 1, __ATOMIC_RELEASE);
    return 0;
}

void
lt_heap_sampler_record(lt_heap_sampler *hs, const void *ptr, uint64_t size, uint64_t sampled_mean,
                       const lt_raw_stack *s)
{
    if (ptr == NULL)
        return;
    lt_live_entry e = {(uintptr_t)ptr, size, 0, (float)lt_sampler_weight(size, sampled_mean), 0,
                       0};
    lock(hs);
    if (!__atomic_load_n(&hs->active, __ATOMIC_RELAXED)) {
        unlock(hs);
        return;
    }
    e.seq = ++hs->samples;
    if (hs->live.n >= hs->live.max) {
        if (thin(hs) < 0) {
            hs->dropped++;
            unlock(hs);
            return;
        }
        /* This sample was taken at the old rate: thin it the same way. */
        thin_ctx c = {hs, __atomic_load_n(&hs->mean, __ATOMIC_RELAXED)};
        if (sampled_mean < c.mean && !thin_keep(&c, &e)) {
            hs->thinned++;
            unlock(hs);
            return;
        }
    }
    if (hs->traces.e == NULL) {
        hs->dropped++;
        unlock(hs);
        return;
    }
    int added = 0;
    e.trace = lt_trace_table_intern(&hs->traces, s, hs->tick, &added);
    if (added && hs->retain != NULL)
        hs->retain(hs->retain_ctx, s);
    lt_live_entry old;
    int rc = lt_live_table_insert(&hs->live, &e, &old);
    if (rc < 0) {
        hs->dropped++;
    } else {
        if (rc == 1 && old.trace < hs->traces.cap && hs->traces.e[old.trace].refs > 0)
            hs->traces.e[old.trace].refs--; /* its free went unseen */
        hs->traces.e[e.trace].refs++;
    }
    /* Bits of freed samples stay set until a rebuild, and every free that lands on one pays for
     * the lock and a lookup: once 4,096 bits are set (0.4% of frees) and most are stale, rebuild
     * now rather than at the next census. A rebuild costs about one 128 KiB memset. */
    if (hs->live.filter_bits > 4096 && lt_live_table_filter_stale(&hs->live))
        lt_live_table_rebuild_filter(&hs->live);
    unlock(hs);
}

int
lt_heap_sampler_forget(lt_heap_sampler *hs, const void *ptr, lt_live_entry *out)
{
    lock(hs);
    int found = lt_live_table_remove(&hs->live, (uintptr_t)ptr, out);
    if (found && out->trace < hs->traces.cap && hs->traces.e[out->trace].refs > 0)
        hs->traces.e[out->trace].refs--;
    unlock(hs);
    return found;
}

int
lt_heap_sampler_lookup(lt_heap_sampler *hs, const void *ptr, lt_live_entry *out, uint32_t *site)
{
    *site = 0;
    if (ptr == NULL || !lt_heap_sampler_maybe(hs, ptr))
        return 0;
    lock(hs);
    int found = lt_live_table_find(&hs->live, (uintptr_t)ptr, out);
    if (found && out->trace < hs->traces.cap && hs->traces.e[out->trace].used)
        *site = hs->traces.e[out->trace].site;
    unlock(hs);
    return found;
}

void
lt_heap_sampler_restore(lt_heap_sampler *hs, const lt_live_entry *e)
{
    lock(hs);
    lt_live_entry old;
    /* The traceback may have been evicted meanwhile only if nothing referenced it, and this
     * entry did until forget(): check anyway. */
    if (e->trace < hs->traces.cap && hs->traces.e[e->trace].used &&
        lt_live_table_insert(&hs->live, e, &old) >= 0)
        hs->traces.e[e->trace].refs++;
    else
        hs->dropped++;
    unlock(hs);
}

/* ---- census ------------------------------------------------------------------------------ */

typedef struct pending {
    uint64_t hash; /* to recognise the entry again */
    uint32_t idx;
    uint32_t off; /* into the frames copy, in frames */
    uint32_t n;
    uint8_t truncated;
    uint32_t site;
} pending;

void
lt_heap_sampler_census(lt_heap_sampler *hs, const lt_heap_census_ops *ops, lt_heap_totals *out)
{
    memset(out, 0, sizeof *out);

    /* 1. Under the lock, copy the tracebacks that have live samples and no site yet. */
    lock(hs);
    hs->tick++;
    lt_trace_table *t = &hs->traces;
    uint32_t npend = 0, nframes = 0;
    for (uint32_t i = 0; t->e != NULL && i < t->cap; i++)
        if (t->e[i].used && t->e[i].site == 0 && t->e[i].refs > 0) {
            npend++;
            nframes += t->e[i].nframes;
        }
    pending *pend = npend ? lt_malloc(sizeof *pend * npend) : NULL;
    const void **codes = nframes ? lt_malloc(sizeof *codes * nframes) : NULL;
    int32_t *addrs = nframes ? lt_malloc(sizeof *addrs * nframes) : NULL;
    if ((npend && pend == NULL) || (nframes && (codes == NULL || addrs == NULL)))
        npend = 0; /* out of memory: resolve nothing this time */
    uint32_t k = 0, off = 0;
    for (uint32_t i = 0; npend && t->e != NULL && i < t->cap && k < npend; i++) {
        lt_raw_trace *e = &t->e[i];
        if (!e->used || e->site != 0 || e->refs == 0)
            continue;
        pend[k] = (pending){e->hash, i, off, e->nframes, e->truncated, 0};
        if (e->nframes) {
            memcpy(codes + off, lt_raw_codes(e), sizeof *codes * e->nframes);
            memcpy(addrs + off, lt_raw_addrs(e), sizeof *addrs * e->nframes);
        }
        off += e->nframes;
        k++;
    }
    unlock(hs);

    /* 2. Resolve them without the lock: the owner may call into Python. An entry may go away
     * meanwhile only if a hook evicts it (another thread allocating without the GIL): step 3
     * checks. */
    for (uint32_t j = 0; j < npend; j++) {
        lt_raw_stack s = {codes + pend[j].off, addrs + pend[j].off, pend[j].n, pend[j].truncated};
        pend[j].site = ops->resolve(ops->ctx, &s, pend[j].idx == LT_RAW_OVERFLOW);
    }

    /* 3. Under the lock again: record the sites, add up the live table, evict. */
    double *acc = NULL;
    lt_raw_grave *graves = NULL;
    uint32_t *scratch = NULL;
    uint32_t ngraves = 0;
    lock(hs);
    t = &hs->traces;
    for (uint32_t j = 0; j < npend; j++) {
        lt_raw_trace *e = pend[j].idx < t->cap ? &t->e[pend[j].idx] : NULL;
        if (pend[j].site == 0)
            continue;
        if (e != NULL && e->used && e->site == 0 && e->hash == pend[j].hash &&
            e->nframes == pend[j].n)
            e->site = pend[j].site;
        else
            ops->unhold(ops->ctx, pend[j].site); /* it went: stay balanced */
    }
    uint32_t cap = t->cap;
    acc = cap ? lt_calloc((size_t)cap * 2, sizeof *acc) : NULL;
    if (acc != NULL) {
        for (uint32_t i = 0; hs->live.slots != NULL && i <= hs->live.mask; i++) {
            lt_live_entry *le = &hs->live.slots[i];
            if (le->ptr == 0)
                continue;
            if (ops->classify != NULL &&
                (le->kind == 0 || (ops->reclassify && le->kind == 1)))
                le->kind = ops->classify(ops->ctx, (const void *)le->ptr, le->size);
            if (ops->tally != NULL)
                ops->tally(ops->ctx, le);
            if (le->trace >= cap)
                continue;
            double w = (double)le->weight;
            acc[2 * le->trace] += w * (double)le->size;
            acc[2 * le->trace + 1] += w;
        }
        for (uint32_t i = 0; i < cap; i++) {
            out->live_bytes += acc[2 * i];
            out->live_count += acc[2 * i + 1];
            if (acc[2 * i] > 0 && t->e[i].used && t->e[i].site != 0)
                ops->add(ops->ctx, t->e[i].site, acc[2 * i], acc[2 * i + 1]);
        }
    }
    graves = lt_malloc(sizeof *graves * (cap ? cap : 1));
    scratch = lt_malloc(sizeof *scratch * (cap ? cap : 1));
    if (graves != NULL)
        ngraves = lt_trace_table_evict(t, hs->tick, hs->lim.idle_ticks, hs->lim.max_traces / 4 * 3,
                                       hs->lim.max_trace_bytes / 4 * 3, graves, cap, scratch);
    uint32_t ninline = 0;
    lt_raw_grave *inline_graves = lt_trace_table_take_graves(t, &ninline);
    if (lt_live_table_filter_stale(&hs->live))
        lt_live_table_rebuild_filter(&hs->live);
    out->mean = __atomic_load_n(&hs->mean, __ATOMIC_RELAXED);
    out->live_samples = hs->live.n;
    out->dropped = hs->dropped + __atomic_load_n(&hs->skipped, __ATOMIC_RELAXED);
    out->thinned = hs->thinned;
    out->traces = t->count;
    out->trace_overflow = t->overflowed;
    out->trace_evicted = t->evicted;
    out->samples = hs->samples;
    unlock(hs);

    /* 4. Release the evicted tracebacks without the lock. */
    bury_all(graves, ngraves, ops);
    bury_all(inline_graves, ninline, ops);
    lt_free(graves);
    lt_free(inline_graves);
    lt_free(scratch);
    lt_free(acc);
    lt_free(pend);
    lt_free(codes);
    lt_free(addrs);
}

size_t
lt_heap_sampler_bytes(const lt_heap_sampler *hs)
{
    return lt_live_table_bytes(&hs->live) + lt_trace_table_bytes(&hs->traces);
}
