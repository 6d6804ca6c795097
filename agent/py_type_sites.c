/* A type's instances looked up among the sampler's live samples (see py_type_sites.h). Built
 * with Py_BUILD_CORE_MODULE for each version's own pre-header size. */
#define PY_SSIZE_T_CLEAN
#ifndef Py_BUILD_CORE_MODULE
#define Py_BUILD_CORE_MODULE
#endif
#include <Python.h>

#if PY_VERSION_HEX >= 0x030B0000
#include "internal/pycore_object.h" /* _PyType_PreHeaderSize */
#elif PY_VERSION_HEX >= 0x03090000
#include "internal/pycore_gc.h" /* PyGC_Head */
#endif

#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "agent_core.h"
#include "leaktop/mem.h"
#include "py_alloc_hook.h"
#include "py_census.h"
#include "py_referrers.h"
#include "py_type_sites.h"

typedef struct walk {
    lt_py_type_match want;
    lt_heap_sampler *hs;
    lt_type_sites *ts;
} walk;

/* Bytes between the start of an object's memory block and the object. */
static inline size_t
preheader(PyTypeObject *tp)
{
#if PY_VERSION_HEX >= 0x030B0000
    return _PyType_PreHeaderSize(tp);
#else
    return PyType_IS_GC(tp) ? sizeof(PyGC_Head) : 0;
#endif
}

static int
visit(PyObject *op, void *arg)
{
    walk *w = arg;
    PyTypeObject *tp = Py_TYPE(op);
    if (!lt_py_type_matches(&w->want, tp))
        return 1;
    w->ts->instances++;
    lt_live_entry e;
    uint32_t site;
    if (lt_heap_sampler_lookup(w->hs, (const char *)op - preheader(tp), &e, &site))
        lt_type_sites_add(w->ts, site, e.size, (double)e.weight);
    return 1; /* go on */
}

uint64_t
lt_py_sampled_seq(PyObject *op)
{
    lt_heap_sampler *hs = lt_py_alloc_hook_sampler();
    lt_live_entry e;
    uint32_t site;
    if (hs == NULL ||
        !lt_heap_sampler_lookup(hs, (const char *)op - preheader(Py_TYPE(op)), &e, &site))
        return 0;
    return e.seq;
}

static void
visit_slice(PyObject *op, void *arg)
{
    visit(op, arg);
}

/* The walk starts over: forget what was gathered. */
static void
restart_walk(void *arg)
{
    walk *w = arg;
    uint64_t mean = w->ts->mean;
    lt_type_sites_free(w->ts);
    lt_type_sites_init(w->ts);
    w->ts->mean = mean;
}

#define TYPE_SITES_MAX_S 60 /* a walk that cannot finish in this long (collections all the time)
                               is given up */

int
lt_py_type_sites(const char *type_name, lt_type_sites *ts, uint64_t max_pause_ns)
{
    lt_heap_sampler *hs = lt_py_alloc_hook_sampler();
    if (hs == NULL) {
        snprintf(ts->note, sizeof ts->note,
                 "the allocation sampler is off (leaktop.start(sample_bytes=0))");
        return 0;
    }
    ts->mean = lt_heap_sampler_mean(hs);
    /* ~4 KiB of name cache: on the heap (counted), not on the agent thread's stack. */
    walk *w = lt_calloc(1, sizeof *w);
    if (w == NULL) {
        snprintf(ts->note, sizeof ts->note, "out of memory");
        return -1;
    }
    w->want.want = type_name;
    w->hs = hs;
    w->ts = ts;
    /* In slices as the census walks (py_census.h), the GIL released between them; walk_ns is
     * the longest hold. */
    lt_py_walk wk;
    memset(&wk, 0, sizeof wk);
    lt_py_walk_begin_visit(&wk, visit_slice, restart_walk, w);
    uint64_t start = lt_mono_ns(), longest = 0;
    int rc;
    for (;;) {
        /* A type's address may be another type's after the GIL was let go. */
        memset(w->want.cache, 0, sizeof w->want.cache);
        uint64_t t0 = lt_mono_ns();
        rc = lt_py_walk_slice(&wk, NULL, max_pause_ns * 2 / 5, max_pause_ns * 3 / 10);
        uint64_t hold = lt_mono_ns() - t0;
        if (hold > longest)
            longest = hold;
        if (rc == LT_WALK_DONE || lt_mono_ns() - start > TYPE_SITES_MAX_S * 1000000000ull)
            break;
        Py_BEGIN_ALLOW_THREADS
        sched_yield();
        Py_END_ALLOW_THREADS
    }
    lt_py_walk_abandon(&wk, NULL);
    ts->walk_ns = longest;
    lt_free(w);
    PyErr_Clear();
    if (rc != LT_WALK_DONE) {
        snprintf(ts->note, sizeof ts->note,
                 "collections kept moving the heap for %d s; try again", TYPE_SITES_MAX_S);
        return -1;
    }
    if (!wk.exact)
        snprintf(ts->note, sizeof ts->note,
                 "collections kept moving the heap: some instances were not walked");
    if (ts->failed)
        snprintf(ts->note, sizeof ts->note, "out of memory: some sampled instances left out");
    return 0;
}
