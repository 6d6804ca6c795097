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
#include "gil_holds.h"
#include "leaktop/mem.h"
#include "py_alloc_hook.h"
#include "py_census.h"
#include "py_referrers.h"
#include "py_sites.h"
#include "py_type_sites.h"

#define OWNED_SAMPLE 64              /* instances whose __sizeof__ is asked */
#define OWNED_BUDGET_NS 10000000ull  /* and at most this long */

typedef struct walk {
    lt_py_type_match want;
    lt_heap_sampler *hs;
    lt_type_sites *ts;
    /* A uniform sample of the instances (reservoir): picked during a slice (borrowed: nothing
     * runs meanwhile), held (strong) between slices, when the GIL is let go. */
    PyObject *pick[OWNED_SAMPLE], *keep[OWNED_SAMPLE];
    uint32_t nkeep;
    uint64_t seen, rng;
    int stale; /* the walk started over: what is kept is from before */
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
    w->seen++;
    if (w->nkeep < OWNED_SAMPLE) {
        w->pick[w->nkeep++] = op;
    } else {
        w->rng ^= w->rng << 13; /* xorshift64 */
        w->rng ^= w->rng >> 7;
        w->rng ^= w->rng << 17;
        uint64_t j = w->rng % w->seen;
        if (j < OWNED_SAMPLE)
            w->pick[j] = op;
    }
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

/* After a slice, the GIL still held: hold the instances picked in it (and let go of those
 * they replace, or of everything kept before the walk started over). */
static void
keep_picks(walk *w)
{
    for (uint32_t j = 0; j < OWNED_SAMPLE; j++) {
        PyObject *old = NULL;
        if (w->stale || w->pick[j] != NULL) {
            old = w->keep[j];
            w->keep[j] = w->pick[j];
            Py_XINCREF(w->keep[j]);
            w->pick[j] = NULL;
        }
        Py_XDECREF(old);
    }
    w->stale = 0;
}

/* The bytes op owns by its type's own __sizeof__ (a C method: no Python code runs), plus its
 * pre-header, less the census's shallow size (a buffer, an ndarray's data); -1 when the type's
 * __sizeof__ is written in Python or fails. */
static int64_t
owned_extra(PyObject *op, PyObject *name)
{
    PyTypeObject *tp = Py_TYPE(op);
    PyObject *d = _PyType_Lookup(tp, name); /* borrowed */
    if (d == NULL || Py_TYPE(d) != &PyMethodDescr_Type)
        return -1;
    PyObject *r = PyObject_CallFunctionObjArgs(d, op, NULL);
    Py_ssize_t n = r != NULL && PyLong_Check(r) ? PyLong_AsSsize_t(r) : -1;
    Py_XDECREF(r);
    PyErr_Clear();
    if (n < 0)
        return -1;
    uint64_t b = (uint64_t)n + preheader(tp), shallow = lt_py_shallow_size(op, tp);
    return b > shallow ? (int64_t)(b - shallow) : 0;
}

/* After the walk: what the kept instances own, within OWNED_BUDGET_NS, the GIL let go every
 * slice_ns (the hold that began at *hm ends, and a new one begins); lets go of them. */
static void
measure_owned(walk *w, uint64_t slice_ns, lt_hold_mark *hm)
{
    PyObject *name = PyUnicode_InternFromString("__sizeof__");
    uint64_t t0 = lt_mono_ns(), spent = 0;
    for (uint32_t i = 0; name != NULL && i < OWNED_SAMPLE && spent < OWNED_BUDGET_NS; i++) {
        if (w->keep[i] == NULL)
            continue;
        if (lt_mono_ns() - hm->wall_ns >= slice_ns) {
            spent += lt_mono_ns() - t0;
            lt_hold_end(hm, LT_HOLD_TYPE_SITES, NULL);
            Py_BEGIN_ALLOW_THREADS
            sched_yield();
            Py_END_ALLOW_THREADS
            lt_hold_begin(hm);
            t0 = lt_mono_ns();
        }
        int64_t b = owned_extra(w->keep[i], name);
        if (b < 0)
            continue;
        w->ts->owned_sampled++;
        w->ts->owned_extra_bytes += (uint64_t)b;
    }
    w->ts->owned_ns = spent + (lt_mono_ns() - t0);
    for (uint32_t i = 0; i < OWNED_SAMPLE; i++)
        Py_CLEAR(w->keep[i]);
    Py_XDECREF(name);
    PyErr_Clear();
}

/* The walk starts over: forget what was gathered. */
static void
restart_walk(void *arg)
{
    walk *w = arg;
    memset(w->pick, 0, sizeof w->pick);
    w->nkeep = 0;
    w->seen = 0;
    w->stale = 1;
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
    w->rng = 0x9E3779B97F4A7C15ull;
    /* In slices as the census walks (py_census.h), the GIL released between them; walk_ns is
     * the longest hold. */
    lt_py_walk wk;
    memset(&wk, 0, sizeof wk);
    lt_py_walk_begin_visit(&wk, visit_slice, restart_walk, w);
    uint64_t start = lt_mono_ns(), longest = 0;
    lt_hold_mark hm; /* each hold of the GIL, counted under LT_HOLD_TYPE_SITES */
    lt_hold_begin(&hm);
    int rc;
    for (;;) {
        /* A type's address may be another type's after the GIL was let go. */
        memset(w->want.cache, 0, sizeof w->want.cache);
        rc = lt_py_walk_slice(&wk, NULL, max_pause_ns * 2 / 5, max_pause_ns * 3 / 10);
        keep_picks(w);
        uint64_t hold = lt_hold_end(&hm, LT_HOLD_TYPE_SITES, NULL);
        if (hold > longest)
            longest = hold;
        lt_hold_begin(&hm);
        if (rc == LT_WALK_DONE || lt_mono_ns() - start > TYPE_SITES_MAX_S * 1000000000ull)
            break;
        Py_BEGIN_ALLOW_THREADS
        sched_yield();
        Py_END_ALLOW_THREADS
        lt_hold_begin(&hm);
    }
    lt_py_walk_abandon(&wk, NULL);
    ts->walk_ns = longest;
    if (rc == LT_WALK_DONE)
        measure_owned(w, max_pause_ns * 2 / 5, &hm);
    for (uint32_t i = 0; i < OWNED_SAMPLE; i++)
        Py_CLEAR(w->keep[i]);
    lt_hold_end(&hm, LT_HOLD_TYPE_SITES, NULL); /* nearly when the caller lets go of the GIL */
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

void
lt_py_type_est_learn_type(const void *type, uint32_t name_id)
{
    PyTypeObject *tp = (PyTypeObject *)type;
    if (!PyType_IS_GC(tp))
        return; /* the census counts GC-tracked objects only */
    uint64_t extra = 0;
#ifdef Py_TPFLAGS_INLINE_VALUES
    /* 3.13+: an instance's attribute values follow its struct in the same block, as many as
     * the class's shared keys held when it was made (at most 30, and a byte each before them). */
    if (tp->tp_flags & Py_TPFLAGS_INLINE_VALUES)
        extra = 64 * sizeof(PyObject *);
#endif
    lt_type_est_learn(lt_py_type_est(), type, name_id, (uint32_t)preheader(tp),
                      (uint64_t)tp->tp_basicsize, (uint64_t)tp->tp_itemsize, extra);
}
