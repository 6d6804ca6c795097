/*
 * PEP 445 hooks over PYMEM_DOMAIN_MEM and PYMEM_DOMAIN_OBJ feeding the heap sampler.
 *
 * Fast paths: an allocation is the wrapped call plus a subtraction on a thread-local countdown;
 * a free is one bit test in the sampler's filter before the wrapped call. Everything else (the
 * traceback, the tables) happens on the rare sampled allocation or freed sampled block.
 *
 * Safety rules kept here (learned from tracemalloc, dd-trace-py's memalloc and memray):
 *  - wrap, never replace; the wrapped allocator (domains[].orig) is published before the hook is
 *    installed and never cleared, so a hook still running while stop() removes it calls a valid
 *    allocator;
 *  - hooks are removed only with the GIL held, and MEM/OBJ hooks only run with the GIL held, so
 *    none is running on another thread at that moment;
 *  - the sampled path never calls Python, never creates a Python object (so no garbage
 *    collection can start inside it), and skips samples when the calling thread does not hold
 *    the GIL or belongs to a sub-interpreter;
 *  - a real thread-local guard keeps a thread from sampling its own sampling, and the agent
 *    thread's census from being sampled;
 *  - a fork leaves a child whose sampler is reset before anything else touches it.
 *
 * Globals: `domains`, `running`, `sampler_ready` are protected by the GIL; `sampler` by its own
 * lock and atomics (heap_sampler.h); `tls` is per thread.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#include "leaktop/mem.h"
#include "py_alloc_hook.h"
#include "py_frames.h"
#include "sampler.h"

/* While sampling is off but the hooks stay (another tool wrapped them), a thread looks at the
 * sampler again after this many bytes: a restart is noticed soon, at no measurable cost. */
#define INACTIVE_INTERVAL (1 << 20)

typedef struct hook_domain {
    PyMemAllocatorEx orig; /* what the hook wraps; never cleared once published */
    PyMemAllocatorDomain domain;
    int installed;         /* our hook is in this domain's chain (GIL) */
} hook_domain;

static hook_domain domains[2] = {{.domain = PYMEM_DOMAIN_MEM}, {.domain = PYMEM_DOMAIN_OBJ}};
static lt_heap_sampler sampler = LT_HEAP_SAMPLER_INIT;
static int sampler_ready; /* the sampler's tables exist */
static int running;
static uint32_t frames_max = LT_PY_FRAMES_DEFAULT; /* atomic */

typedef struct thread_state {
    lt_countdown cd;
    int guard; /* this thread is sampling (or is the agent's census): do not sample */
} thread_state;

/* initial-exec: one %fs-relative load on the fast path instead of a __tls_get_addr call. The
 * few bytes come from the static TLS surplus glibc keeps for dlopen'ed modules. */
static __thread thread_state tls __attribute__((tls_model("initial-exec")));

/* ---- the sampled path ------------------------------------------------------------------- */

/* The countdown of this thread ran out at an allocation of n bytes that returned p. */
static void __attribute__((noinline))
sample_slow(void *p, size_t n)
{
    thread_state *t = &tls;
    if (!lt_heap_sampler_active(&sampler)) {
        t->cd.left = INACTIVE_INTERVAL;
        return;
    }
    uint64_t sampled_mean;
    if (!lt_countdown_expired(&t->cd, n, lt_heap_sampler_mean(&sampler),
                              lt_heap_sampler_epoch(&sampler), &sampled_mean) ||
        p == NULL || t->guard)
        return;
    if (!PyGILState_Check()) {
        lt_heap_sampler_skip(&sampler);
        return;
    }
    t->guard = 1;
    const void *codes[LT_PY_FRAMES_MAX];
    int32_t addrs[LT_PY_FRAMES_MAX];
    int truncated = 0;
    int nf = lt_py_frames_capture(codes, addrs, __atomic_load_n(&frames_max, __ATOMIC_RELAXED),
                                  &truncated);
    if (nf < 0) {
        lt_heap_sampler_skip(&sampler);
    } else {
        lt_raw_stack s = {codes, addrs, (uint32_t)nf, truncated};
        lt_heap_sampler_record(&sampler, p, n, sampled_mean, &s);
    }
    t->guard = 0;
}

/* The slow halves of the hooks: the countdown ran out, so call the wrapped allocator here and
 * look at the sample afterwards. Kept apart so the fast paths below are a few instructions and
 * a tail call, with no stack frame. */
static void *__attribute__((noinline))
malloc_slow(hook_domain *d, size_t n)
{
    void *p = d->orig.malloc(d->orig.ctx, n);
    sample_slow(p, n);
    return p;
}

static void *__attribute__((noinline))
calloc_slow(hook_domain *d, size_t nelem, size_t elsize)
{
    void *p = d->orig.calloc(d->orig.ctx, nelem, elsize);
    sample_slow(p, elsize != 0 && nelem > (SIZE_MAX >> 2) / elsize ? SIZE_MAX >> 2
                                                                   : nelem * elsize);
    return p;
}

/* realloc of a block the filter may know: untrack the old block first (once the wrapped
 * realloc returns, its address may be handed out again), put it back if realloc fails. */
static void *__attribute__((noinline))
realloc_slow(hook_domain *d, void *p, size_t n)
{
    lt_live_entry old;
    int had = p != NULL && lt_heap_sampler_maybe(&sampler, p) &&
              lt_heap_sampler_forget(&sampler, p, &old);
    void *q = d->orig.realloc(d->orig.ctx, p, n);
    if (q == NULL) {
        if (had)
            lt_heap_sampler_restore(&sampler, &old);
        return NULL;
    }
    if (lt_countdown_take(&tls.cd, n))
        sample_slow(q, n);
    return q;
}

static void __attribute__((noinline))
free_slow(hook_domain *d, void *p)
{
    lt_live_entry e;
    if (p != NULL)
        lt_heap_sampler_forget(&sampler, p, &e);
    d->orig.free(d->orig.ctx, p);
}

/* ---- the hooks -------------------------------------------------------------------------- */

/* The countdown is taken before the wrapped call: whether this allocation is the one a
 * sampling point falls in depends only on its size, so the answer is the same, and the fast
 * path becomes a tail call. */
static void *
hook_malloc(void *ctx, size_t n)
{
    hook_domain *d = ctx;
    if (__builtin_expect(lt_countdown_take(&tls.cd, n), 0))
        return malloc_slow(d, n);
    return d->orig.malloc(d->orig.ctx, n);
}

static void *
hook_calloc(void *ctx, size_t nelem, size_t elsize)
{
    hook_domain *d = ctx;
    /* An impossible size fails in the wrapped calloc; count it as a large one, not negative. */
    size_t n = elsize != 0 && nelem > (SIZE_MAX >> 2) / elsize ? SIZE_MAX >> 2 : nelem * elsize;
    if (__builtin_expect(lt_countdown_take(&tls.cd, n), 0))
        return calloc_slow(d, nelem, elsize);
    return d->orig.calloc(d->orig.ctx, nelem, elsize);
}

static void *
hook_realloc(void *ctx, void *p, size_t n)
{
    hook_domain *d = ctx;
    /* A tracked old block or a countdown running out: the slow path does both checks. */
    if (__builtin_expect(lt_heap_sampler_maybe(&sampler, p), 0) ||
        __builtin_expect(tls.cd.left <= (int64_t)n, 0))
        return realloc_slow(d, p, n);
    tls.cd.left -= (int64_t)n;
    return d->orig.realloc(d->orig.ctx, p, n);
}

static void
hook_free(void *ctx, void *p)
{
    hook_domain *d = ctx;
    if (__builtin_expect(lt_heap_sampler_maybe(&sampler, p), 0))
        return free_slow(d, p);
    d->orig.free(d->orig.ctx, p);
}

/* ---- installing ------------------------------------------------------------------------- */

static int
is_ours(const PyMemAllocatorEx *a, const hook_domain *d)
{
    return a->malloc == hook_malloc && a->ctx == d;
}

static void
install(hook_domain *d)
{
    PyMemAllocatorEx cur;
    PyMem_GetAllocator(d->domain, &cur);
    if (is_ours(&cur, d)) {
        d->installed = 1;
        return;
    }
    if (d->installed)
        return; /* another tool wrapped our hook since: it is still in the chain, do not nest */
    d->orig = cur;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    PyMemAllocatorEx mine = {d, hook_malloc, hook_calloc, hook_realloc, hook_free};
    PyMem_SetAllocator(d->domain, &mine);
    d->installed = 1;
}

static void
uninstall(hook_domain *d)
{
    PyMemAllocatorEx cur;
    PyMem_GetAllocator(d->domain, &cur);
    if (is_ours(&cur, d)) {
        PyMem_SetAllocator(d->domain, &d->orig);
        d->installed = 0;
    }
    /* Otherwise someone wrapped us (tracemalloc started after leaktop): removing ourselves would
     * remove them too. The hook stays and passes everything through while sampling is off. */
}

/* ---- references held by raw tracebacks ---------------------------------------------------- */

/* Called with the sampler's lock held, from the hook, with the GIL: Py_INCREF allocates
 * nothing. */
static void
retain_codes(void *ctx, const lt_raw_stack *s)
{
    (void)ctx;
    for (uint32_t i = 0; i < s->n; i++)
        Py_INCREF((PyObject *)(uintptr_t)s->codes[i]);
}

/* Without the lock, with the GIL: the last reference may free a code object (and run weakref
 * callbacks). */
static void
release_codes(void *ctx, const lt_raw_stack *s)
{
    (void)ctx;
    for (uint32_t i = 0; i < s->n; i++)
        Py_DECREF((PyObject *)(uintptr_t)s->codes[i]);
}

/* ---- lifecycle -------------------------------------------------------------------------- */

int
lt_py_alloc_hook_start(uint64_t mean, uint32_t frames)
{
    if (running)
        return 0;
    if (!sampler_ready) {
        lt_heap_limits lim;
        lt_heap_limits_default(&lim);
        if (lt_heap_sampler_init(&sampler, &lim, retain_codes, NULL) < 0) {
            PyErr_NoMemory();
            return -1;
        }
        sampler_ready = 1;
    }
    if (frames < 1)
        frames = 1;
    if (frames > LT_PY_FRAMES_MAX)
        frames = LT_PY_FRAMES_MAX;
    __atomic_store_n(&frames_max, frames, __ATOMIC_RELAXED);
    install(&domains[0]);
    install(&domains[1]);
    lt_heap_sampler_activate(&sampler, mean);
    tls.cd.left = 0; /* this thread looks at the new epoch on its next allocation */
    running = 1;
    return 0;
}

/* Code references collected while the tables are torn down, dropped only once the sampler's
 * state is consistent again: a last reference can run Python code (weakref callbacks), which may
 * switch threads and call start() or stop(). */
typedef struct deferred {
    PyObject **codes;
    size_t n, cap;
} deferred;

static void
defer_codes(void *ctx, const lt_raw_stack *s)
{
    deferred *d = ctx;
    if (d->n + s->n > d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 1024;
        while (cap < d->n + s->n)
            cap *= 2;
        PyObject **c = lt_realloc(d->codes, cap * sizeof *c);
        if (c == NULL) {
            /* No memory to defer: drop them now, the lesser evil. */
            release_codes(NULL, s);
            return;
        }
        d->codes = c;
        d->cap = cap;
    }
    for (uint32_t i = 0; i < s->n; i++)
        d->codes[d->n++] = (PyObject *)(uintptr_t)s->codes[i];
}

/* Forget every sample, release every traceback, free the tables. GIL held. */
static void
drop_tables(void)
{
    if (!sampler_ready)
        return;
    deferred d = {NULL, 0, 0};
    lt_heap_sampler_deactivate(&sampler);
    lt_heap_census_ops o = {.ctx = &d, .release = defer_codes};
    lt_heap_sampler_clear(&sampler, &o);
    lt_heap_sampler_free(&sampler, NULL, NULL);
    sampler_ready = 0;
    running = 0;
    for (size_t i = 0; i < d.n; i++)
        Py_DECREF(d.codes[i]);
    lt_free(d.codes);
}

void
lt_py_alloc_hook_stop(void)
{
    if (!sampler_ready)
        return;
    lt_heap_sampler_deactivate(&sampler);
    uninstall(&domains[0]);
    uninstall(&domains[1]);
    drop_tables();
}

int
lt_py_alloc_hook_stats(uint64_t *mean, uint64_t *samples, uint64_t *live, uint64_t *dropped,
                       uint64_t *thinned)
{
    if (!running)
        return -1;
    /* Racy reads of counters (the GIL keeps the hooks out meanwhile): good enough here. */
    *mean = lt_heap_sampler_mean(&sampler);
    *samples = sampler.samples;
    *live = sampler.live.n;
    *dropped = sampler.dropped + __atomic_load_n(&sampler.skipped, __ATOMIC_RELAXED);
    *thinned = sampler.thinned;
    return 0;
}

lt_heap_sampler *
lt_py_alloc_hook_sampler(void)
{
    return running ? &sampler : NULL;
}

int
lt_py_alloc_hook_running(void)
{
    return running;
}

int
lt_py_alloc_hook_census(const lt_heap_census_ops *ops, lt_heap_totals *out)
{
    if (!running) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    lt_heap_census_ops o = *ops;
    o.release = release_codes;
    lt_heap_sampler_census(&sampler, &o, out);
    return 0;
}

void
lt_py_alloc_hook_guard(int on)
{
    tls.guard = on;
}

void
lt_py_alloc_hook_after_fork_child(void)
{
    if (!sampler_ready)
        return;
    lt_heap_sampler_after_fork(&sampler);
    drop_tables();
}
