/*
 * The `leaktop` Python module: a thin binding over the plain-C agent core (agent_core.h).
 * It supplies the census walk (py_census.c), type names, GC figures and the garbage-collection
 * command, starts the allocation sampler (py_alloc_hook.c, py_sites.c) with the agent, and ties
 * both to the interpreter's life: atexit stops them, a forked child gets its own agent, socket
 * and an empty sampler (blocks inherited from the parent are not sampled in the child).
 *
 * Every global below is protected by the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent_core.h"
#include "leaktop/mem.h"
#include "leaktop/version.h"
#include "py_alloc_hook.h"
#include "census_pace.h"
#include "fork_gate.h"
#include "gil_holds.h"
#include "py_census.h"
#include "py_memstats.h"
#include "py_referrers.h"
#include "python_support.h"

#define WHY_BUDGET_MS 3000.0 /* a whole "why is it alive" search, on a small heap */
#define WHY_BUDGET_CENSUSES 20.0   /* on a big one: about 20 walks, each as long as a census */
#define WHY_BUDGET_MAX_MS 60000.0  /* and never more than a minute */
#include "py_sites.h"
#include "py_type_sites.h"

static lt_agent *agent;         /* the running agent, or NULL */
static lt_agent_config agent_cfg; /* what it was started with, to restart it in a forked child */
static uint64_t sample_bytes;   /* the sampler's mean interval; 0: no sampler */
static uint32_t sample_frames;  /* frames per sampled traceback */
static int exiting;             /* atexit has run: never start again */
static PyObject *gc_module;     /* strong reference */
static PyObject *module_key;    /* interned "__module__" */

/* ---- names ------------------------------------------------------------------------------ */

/* The name a person would write: "dict" for builtins, "module.QualName" for the rest. */
static uint32_t
type_name_id(void *ctx, const void *type)
{
    lt_agent *a = ctx;
    PyTypeObject *tp = (PyTypeObject *)type;
    if (!(tp->tp_flags & Py_TPFLAGS_HEAPTYPE))
        return lt_agent_intern(a, tp->tp_name, strlen(tp->tp_name));

    Py_ssize_t qlen = 0, mlen = 0;
    const char *qual = NULL, *mod = NULL;
    PyHeapTypeObject *ht = (PyHeapTypeObject *)tp;
    if (ht->ht_qualname != NULL && PyUnicode_Check(ht->ht_qualname))
        qual = PyUnicode_AsUTF8AndSize(ht->ht_qualname, &qlen);
    if (qual == NULL) {
        PyErr_Clear();
        qual = tp->tp_name;
        qlen = (Py_ssize_t)strlen(qual);
    }
    PyObject *m = tp->tp_dict ? PyDict_GetItemWithError(tp->tp_dict, module_key) : NULL;
    if (m != NULL && PyUnicode_Check(m))
        mod = PyUnicode_AsUTF8AndSize(m, &mlen);
    if (mod == NULL)
        PyErr_Clear();
    if (mod == NULL || strcmp(mod, "builtins") == 0)
        return lt_agent_intern(a, qual, (size_t)qlen);

    char buf[1024];
    int n = snprintf(buf, sizeof buf, "%.*s.%.*s", (int)mlen, mod, (int)qlen, qual);
    if (n < 0)
        return LT_STRTAB_OVERFLOW_ID;
    return lt_agent_intern(a, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* ---- callbacks from the agent thread ---------------------------------------------------- */

static uint64_t
as_u64(PyObject *o)
{
    unsigned long long v = o ? PyLong_AsUnsignedLongLong(o) : 0;
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return v;
}

/* gc.isenabled(), gc.get_stats(), len(gc.garbage). Errors leave zeros. */
static void
read_gc_state(lt_sample *s)
{
    PyObject *r = PyObject_CallMethod(gc_module, "isenabled", NULL);
    s->gc_enabled = r != NULL && PyObject_IsTrue(r) == 1;
    Py_XDECREF(r);
    PyObject *stats = PyObject_CallMethod(gc_module, "get_stats", NULL);
    if (stats != NULL && PyList_Check(stats)) {
        for (Py_ssize_t g = 0; g < PyList_GET_SIZE(stats) && g < LT_GENERATIONS; g++) {
            PyObject *d = PyList_GET_ITEM(stats, g);
            if (!PyDict_Check(d))
                continue;
            s->gc_collections[g] = as_u64(PyDict_GetItemString(d, "collections"));
            s->gc_collected[g] = as_u64(PyDict_GetItemString(d, "collected"));
            s->gc_uncollectable[g] = as_u64(PyDict_GetItemString(d, "uncollectable"));
        }
    }
    Py_XDECREF(stats);
    PyObject *garbage = PyObject_GetAttrString(gc_module, "garbage");
    if (garbage != NULL && PyList_Check(garbage))
        s->gc_garbage = (uint64_t)PyList_GET_SIZE(garbage);
    Py_XDECREF(garbage);
    PyErr_Clear();
}

/* The agent thread keeps one Python thread state for its whole life. PyGILState_Ensure on a
 * thread without one creates it (PyMem_RawCalloc) and the matching Release deletes it; doing
 * that at every census crashes CPython's tracemalloc when tracemalloc.stop() runs at that moment
 * (its RAW hook does not check again that it is still tracing after taking the GIL; fixed only
 * in 3.12.9 and 3.13.2). The first entry takes one extra level, which thread_exit_cb gives back.
 * Agent thread only. */
static int agent_tstate_kept;

/* Take the GIL on the agent thread. */
static PyGILState_STATE
host_enter(void)
{
    if (agent_tstate_kept)
        return PyGILState_Ensure();
    /* The first time makes the thread state (an allocation without the GIL): in the fork gate. */
    lt_fork_gate_enter();
    PyGILState_STATE g = PyGILState_Ensure();
    PyGILState_Ensure(); /* the extra level: the thread state outlives this call */
    agent_tstate_kept = 1;
    lt_fork_gate_leave();
    return g;
}

static void census_forget(void);

/* Let the host's threads have the GIL for a moment (the agent thread holds it). */
static void
host_yield(void)
{
    Py_BEGIN_ALLOW_THREADS
    sched_yield();
    Py_END_ALLOW_THREADS
}

/* The agent thread ends: drop what the census walk holds and let the thread state go (with the
 * GIL, which this releases). */
static void
thread_exit_cb(void *ctx)
{
    (void)ctx;
    if (!agent_tstate_kept)
        return;
    agent_tstate_kept = 0;
    PyGILState_Ensure();
    census_forget();
    PyGILState_Release(PyGILState_LOCKED);   /* the level just taken; the GIL stays */
    PyGILState_Release(PyGILState_UNLOCKED); /* the extra one: deletes the thread state */
}

/* Every type alive (object's subclasses, transitively, at most LEARN_MAX), named, for the
 * estimates between censuses: a type made after the last census (no instance then) must be
 * recognised too. type.__subclasses__ is called as type's own (a metaclass's override would run
 * Python code). Agent thread, GIL held; a failure leaves the types learnt so far. */
#define LEARN_MAX 65536u
#define LEARN_EVERY 10u /* ticks between learnings when no census completed */

static void
learn_types(lt_agent *a)
{
    lt_type_est *e = lt_py_type_est();
    PyObject *subclasses = PyObject_GetAttrString((PyObject *)&PyType_Type, "__subclasses__");
    PyObject *stack = PyList_New(0);
    if (subclasses == NULL || stack == NULL || PyList_Append(stack, (PyObject *)&PyBaseObject_Type) < 0)
        goto done;
    lt_type_est_forget_types(e);
    uint32_t learnt = 0;
    Py_ssize_t n;
    while ((n = PyList_GET_SIZE(stack)) > 0 && learnt < LEARN_MAX) {
        PyObject *tp = PyList_GET_ITEM(stack, n - 1);
        Py_INCREF(tp);
        if (PyList_SetSlice(stack, n - 1, n, NULL) < 0) {
            Py_DECREF(tp);
            break;
        }
        if (!lt_type_est_knows(e, tp)) {
            lt_py_type_est_learn_type(tp, type_name_id(a, tp));
            learnt++;
            PyObject *subs = PyObject_CallFunctionObjArgs(subclasses, tp, NULL);
            if (subs != NULL && PyList_Check(subs))
                for (Py_ssize_t i = 0; i < PyList_GET_SIZE(subs); i++)
                    if (PyType_Check(PyList_GET_ITEM(subs, i)))
                        PyList_Append(stack, PyList_GET_ITEM(subs, i));
            Py_XDECREF(subs);
        }
        Py_DECREF(tp);
    }
    lt_type_est_learned(e);
done:
    Py_XDECREF(subclasses);
    Py_XDECREF(stack);
    PyErr_Clear();
}

/* ---- the census in slices, within the budget ---------------------------------------------- */

/* The census walk under way and the figures of the last one finished. Agent thread only (and
 * the GIL for the walk itself). */
static struct {
    lt_py_walk walk;
    lt_census *census; /* the agent's census the walk fills */
    lt_pace pace;
    uint32_t budget_ppm;      /* leaktop.start(budget=...) in millionths of a core */
    uint64_t max_pause_ns;    /* leaktop.start(max_pause=...) */
    int paced;                /* the pace is initialised (on the agent thread) */
    /* the walk under way */
    uint64_t cur_start_ns, cur_cpu_ns, cur_hold_ns, cur_max_hold_ns, cur_max_slice_cpu_ns;
    /* the last census finished */
    int have;
    uint64_t done_wall_ns, done_mono_ns, cpu_ns, span_ns, hold_ns, max_hold_ns, objects, bytes;
    uint64_t max_slice_cpu_ns; /* the most CPU time one slice took (wall holds include waits) */
    uint32_t slices, restarts;
    int exact;
    uint64_t censuses;        /* finished since start */
    uint64_t given_up;        /* walks not published: not exact, while an exact census was */
    uint64_t longest_hold_ns; /* the longest hold of the GIL by any census since start */
} cs = {.budget_ppm = LT_PACE_BUDGET_DEFAULT_PPM, .max_pause_ns = 10000000u};

/* ---- the arrivals since the census's mark (py_census.h, type_estimates.h) --------------- */

/* More tracked objects than this joined the lists since the census: estimates from the samples
 * alone until the next census. Counting them each tick may take half the census's budget for a
 * tick (at the last census's CPU time per object), and never less than ARRIVALS_FLOOR objects
 * (a millisecond or two); a steady heap gains far fewer. */
#define ARRIVALS_FLOOR 20000u

static struct {
    lt_py_mark mark;
    lt_py_walk walk;
    lt_census census;
    int census_ready;
    uint64_t counted, lost, too_many; /* since start: counts made, marks lost, given up */
    uint64_t last_objects, longest_hold_ns;
} ar;

static void
arrivals_forget(void)
{
    if (ar.walk.active && ar.census_ready)
        lt_py_walk_abandon(&ar.walk, &ar.census);
    ar.walk.active = 0;
    ar.walk.cursor = NULL;
    lt_py_mark_forget(&ar.mark);
    if (ar.census_ready)
        lt_census_free(&ar.census);
    ar.census_ready = 0;
    ar.counted = ar.lost = ar.too_many = ar.last_objects = ar.longest_hold_ns = 0;
}

/* Count the tracked objects that joined the lists since the mark, into the estimates (at_census:
 * the count right after the mark was placed, the new baseline's). GIL held on entry and on
 * return, let go between slices (of the census's size, charged to its budget). A lost mark, a
 * collection under way or too many arrivals: no arrivals this tick (the first two: none until
 * the next census's mark). */
static uint64_t
arrivals_max(void)
{
    double per_object = cs.objects > 0 && cs.cpu_ns > 0 ? (double)cs.cpu_ns / (double)cs.objects
                                                        : 100.0;
    if (per_object < 10.0)
        per_object = 10.0;
    /* interval_ms * budget_ppm is the budget's nanoseconds per tick */
    double half_tick_ns = (double)agent_cfg.interval_ms * (double)cs.budget_ppm / 2.0;
    double n = half_tick_ns / per_object;
    return n > ARRIVALS_FLOOR ? (uint64_t)n : ARRIVALS_FLOOR;
}

static void
arrivals_count(lt_agent *a, int at_census)
{
    lt_type_est *e = lt_py_type_est();
    uint64_t max_objects = arrivals_max();
    if (!ar.census_ready) {
        if (lt_census_init(&ar.census, 1) < 0)
            return;
        ar.census_ready = 1;
    }
    if (lt_py_walk_begin_arrivals(&ar.walk, &ar.census, &ar.mark) < 0) {
        lt_type_est_arrivals_lost(e);
        return;
    }
    uint64_t slice = cs.max_pause_ns * 2 / 5, grace = cs.max_pause_ns * 3 / 10;
    for (;;) {
        lt_hold_mark hm;
        lt_hold_begin(&hm);
        int rc = lt_py_walk_slice(&ar.walk, &ar.census, slice, grace);
        int merged = rc == LT_WALK_DONE && !ar.census.failed &&
                     lt_census_merge(&ar.census, type_name_id, a) == 0;
        if (merged && lt_type_est_arrivals(e, ar.census.rows, ar.census.nrows, at_census) == 0)
            ar.counted++;
        uint64_t cpu = 0, hold = lt_hold_end(&hm, LT_HOLD_CENSUS, &cpu);
        if (hold > ar.longest_hold_ns)
            ar.longest_hold_ns = hold;
        if (cs.paced)
            lt_pace_spend(&cs.pace, cpu);
        int too_many = ar.census.objects > max_objects;
        if (rc == LT_WALK_DONE || rc == LT_WALK_LOST || rc == LT_WALK_BUSY || too_many) {
            ar.last_objects = ar.census.objects;
            if (rc == LT_WALK_DONE && !merged) {
                lt_type_est_arrivals_lost(e);
            } else if (too_many || !ar.mark.valid) {
                ar.too_many += too_many;
                ar.lost += !too_many;
                ar.mark.valid = 0;
                lt_type_est_arrivals_lost(e);
            }
            lt_py_walk_abandon(&ar.walk, &ar.census);
            return;
        }
        Py_BEGIN_ALLOW_THREADS
        sched_yield();
        Py_END_ALLOW_THREADS
    }
}

/* Forget the census state of an agent that ends (GIL held): the walk's references go, the next
 * agent starts with a full budget. */
static void
census_forget(void)
{
    arrivals_forget();
    if (cs.census != NULL && cs.walk.active)
        lt_py_walk_abandon(&cs.walk, cs.census);
    cs.census = NULL;
    cs.walk.active = 0;
    cs.walk.cursor = NULL;
    cs.have = 0;
    cs.paced = 0;
    cs.censuses = cs.longest_hold_ns = cs.given_up = 0;
    lt_py_type_est_reset();
}

/* The walk is done and merged: keep its figures, let go of what it held. GIL held. */
static void
census_finished(lt_census *c, uint64_t now)
{
    cs.have = 1;
    cs.done_wall_ns = lt_wall_ns();
    cs.done_mono_ns = now;
    cs.cpu_ns = cs.cur_cpu_ns;
    cs.span_ns = now - cs.cur_start_ns;
    cs.hold_ns = cs.cur_hold_ns;
    cs.max_hold_ns = cs.cur_max_hold_ns;
    cs.max_slice_cpu_ns = cs.cur_max_slice_cpu_ns;
    cs.objects = c->objects;
    cs.bytes = 0;
    for (uint32_t i = 0; i < c->nrows; i++)
        cs.bytes += c->rows[i].bytes;
    cs.slices = cs.walk.slices;
    cs.restarts = cs.walk.restarts;
    cs.exact = cs.walk.exact && !c->failed;
    cs.censuses++;
    lt_py_walk_finish(&cs.walk, c);
}

/* Advance the census, the GIL held on entry and on return: slices of 40% of the pause bound
 * (the young generations may take 30% more, the merge of the last slice the rest), the GIL
 * released between them, as long as the budget allows; `urgent` (no census yet, or the last one
 * at exit) ignores the budget. */
static void
census_advance(lt_agent *a, int urgent)
{
    lt_census *c = lt_agent_census(a);
    uint64_t now = lt_mono_ns();
    if (!cs.walk.active) {
        if (!urgent && !lt_pace_allows(&cs.pace))
            return;
        lt_py_walk_begin(&cs.walk, c);
        cs.census = c;
        cs.cur_start_ns = now;
        cs.cur_cpu_ns = cs.cur_hold_ns = cs.cur_max_hold_ns = cs.cur_max_slice_cpu_ns = 0;
    }
    uint64_t slice = cs.max_pause_ns * 2 / 5, grace = cs.max_pause_ns * 3 / 10;
    /* A tick gives the census at most half an interval of wall time: each new slice may wait
     * a switch interval (5 ms) for the GIL, and the samples must keep coming. */
    uint64_t tick_end = now + (uint64_t)agent_cfg.interval_ms * 500000u;
    for (;;) {
        lt_hold_mark hm; /* the GIL is ours from here to the end of the merge */
        lt_hold_begin(&hm);
        int rc = lt_py_walk_slice(&cs.walk, c, slice, grace);
        /* A walk that had to skip part of a list (collections kept moving it) replaces only a
         * census that was not exact either: viewers keep the last exact counts, and see their
         * age grow. */
        int publish = rc == LT_WALK_DONE &&
                      (!cs.have || !cs.exact || (cs.walk.exact && !c->failed));
        if (publish) {
            lt_census_merge(c, type_name_id, a); /* in the same hold: names need the GIL */
            lt_py_type_est_census_done();
            /* What joins the lists from now on are the arrivals the estimates count. */
            lt_py_mark_place(&ar.mark);
        }
        uint64_t cpu = 0, hold = lt_hold_end(&hm, LT_HOLD_CENSUS, &cpu);
        cs.cur_hold_ns += hold;
        if (hold > cs.cur_max_hold_ns)
            cs.cur_max_hold_ns = hold;
        if (hold > cs.longest_hold_ns)
            cs.longest_hold_ns = hold;
        cs.cur_cpu_ns += cpu;
        lt_pace_spend(&cs.pace, cpu);
        if (cpu > cs.cur_max_slice_cpu_ns)
            cs.cur_max_slice_cpu_ns = cpu;
        if (publish) {
            census_finished(c, lt_mono_ns());
            arrivals_count(a, 1); /* the young lists now: the baseline of the arrivals */
        } else if (rc == LT_WALK_DONE) {
            cs.given_up++;
            lt_py_walk_finish(&cs.walk, c);
        }
        if (rc != LT_WALK_MORE)
            return; /* done, or a collection is running: the next tick goes on */
        if (!urgent && !lt_pace_allows(&cs.pace))
            return;
        if (__atomic_load_n(&a->stop_flag, __ATOMIC_ACQUIRE) != 0 && !urgent)
            return;
        if (cs.have && lt_mono_ns() >= tick_end)
            return;
        /* Let the host run: its threads waiting for the GIL get it now. */
        Py_BEGIN_ALLOW_THREADS
        sched_yield();
        Py_END_ALLOW_THREADS
    }
}

static int
sample_cb(void *ctx, lt_agent *a, lt_sample *s)
{
    (void)ctx;
    /* The agent's own allocations are not the program's: never sample them. */
    lt_py_alloc_hook_guard(1);
    uint64_t now = lt_mono_ns();
    if (!cs.paced) {
        /* A bucket of ten seconds' budget (at least one pause), starting empty: the first
         * census runs at once anyway (urgent), and the next ones keep to the budget from the
         * start. */
        int64_t cap = (int64_t)(10ull * cs.budget_ppm * 1000u);
        if (cap < (int64_t)cs.max_pause_ns)
            cap = (int64_t)cs.max_pause_ns;
        lt_pace_init(&cs.pace, cs.budget_ppm, cap, 0, now);
        cs.paced = 1;
    } else {
        lt_pace_tick(&cs.pace, now);
    }
    int exiting_now = __atomic_load_n(&a->stop_flag, __ATOMIC_ACQUIRE) != 0;
    PyGILState_STATE g = host_enter();
    if (ar.mark.marker == NULL && (ar.mark.marker = PyList_New(0)) == NULL)
        PyErr_Clear(); /* (made here, outside any walk: making it may start a collection) */
    uint64_t censuses = cs.censuses;
    census_advance(a, !cs.have || exiting_now);
    /* Between censuses, what arrived since the last one (its mark). */
    if (cs.have && cs.censuses == censuses && ar.mark.valid && !exiting_now)
        arrivals_count(a, 0);
    int rc = cs.have ? 0 : -1;
    if (rc == 0) {
        s->census_ns = cs.hold_ns;
        s->tracked_objects = cs.objects;
        s->heap_bytes = cs.bytes;
        s->counts_wall_ns = cs.done_wall_ns;
        s->counts_mono_ns = cs.done_mono_ns;
        s->counts_exact = (uint8_t)cs.exact;
        s->census_cpu_ns = cs.cpu_ns;
        s->census_span_ns = cs.span_ns;
        s->census_max_hold_ns = cs.max_hold_ns;
        s->census_slices = cs.slices;
        s->census_restarts = cs.restarts;
        s->budget_ppm = cs.budget_ppm;
        /* The rest of the sample in holds of its own, the GIL let go after the census's last
         * slice and between them: the types learnt, the sites and estimates, the gc state;
         * then the memory reading. */
        host_yield();
        lt_hold_mark hm;
        lt_hold_begin(&hm);
        /* The types the estimates recognise: when a census completed (its baseline), and now
         * and then for types made since. */
        static uint32_t since_learnt;
        if (lt_py_type_est_rebase_due() || ++since_learnt >= LEARN_EVERY) {
            learn_types(a);
            since_learnt = 0;
        }
        if (lt_py_sites_collect(a) == 0) {
            s->nest = lt_py_type_est()->nrows; /* valid until the next tick */
            s->est = lt_py_type_est()->rows;
        }
        read_gc_state(s);
        lt_hold_end(&hm, LT_HOLD_TICK, NULL);
        host_yield();
        lt_py_memstats_collect(a, agent_cfg.interval_ms, cs.objects, cs.max_pause_ns);
        /* (counted as LT_HOLD_MEMORY) */
    }
    PyGILState_Release(g);
    lt_py_alloc_hook_guard(0);
    return rc;
}

static int
command_cb(void *ctx, uint16_t code, int64_t *value, char *msg, size_t msglen)
{
    (void)ctx;
    if (code != LT_CMD_GC_COLLECT) {
        snprintf(msg, msglen, "unsupported command %u", code);
        return -1;
    }
    PyGILState_STATE g = host_enter();
    /* gc.collect() rather than PyGC_Collect(): the latter does nothing while gc is disabled,
     * and a person pressing "collect now" means it. */
    PyObject *r = PyObject_CallMethod(gc_module, "collect", NULL);
    int rc = 0;
    if (r == NULL) {
        PyErr_Clear();
        snprintf(msg, msglen, "gc.collect() raised");
        rc = -1;
    } else {
        *value = PyLong_AsLongLong(r);
        PyErr_Clear();
        snprintf(msg, msglen, "collected %lld objects", (long long)*value);
    }
    Py_XDECREF(r);
    PyGILState_Release(g);
    return rc;
}

/* "Why is it alive", on the agent thread: the search takes the GIL and lets go of it between its
 * levels. The hops live in `why` until the next search. */
static lt_why why;
static const char *why_text[LT_WHY_MAX_HOPS], *why_type[LT_WHY_MAX_HOPS];

static int
why_alive_cb(void *ctx, const char *type_name, lt_why_msg *w)
{
    (void)ctx;
    lt_py_alloc_hook_guard(1); /* the search's own allocations are not the program's */
    PyGILState_STATE g = host_enter();
    /* The budget grows with the heap: a level is a walk over it, as long as a census. */
    double budget_ms = WHY_BUDGET_MS;
    if (cs.have && (double)cs.hold_ns / 1e6 * WHY_BUDGET_CENSUSES > budget_ms)
        budget_ms = (double)cs.hold_ns / 1e6 * WHY_BUDGET_CENSUSES;
    if (budget_ms > WHY_BUDGET_MAX_MS)
        budget_ms = WHY_BUDGET_MAX_MS;
    /* It ends early when the agent stops (agent is NULL from the moment stop_agent begins). */
    static const int stopping = 1;
    int rc = lt_py_why_alive(type_name, budget_ms, cs.max_pause_ns,
                             agent != NULL ? &agent->stop_flag : &stopping, &why);
    PyGILState_Release(g);
    lt_py_alloc_hook_guard(0);
    if (rc < 0)
        return -1;
    for (int i = 0; i < why.nhops; i++) {
        why_text[i] = why.hops[i].text;
        why_type[i] = why.hops[i].type;
    }
    w->found = (uint8_t)why.found;
    w->levels = (uint32_t)why.levels;
    w->max_pause_us = (uint32_t)(why.max_pause_ms * 1000.0);
    w->total_us = (uint32_t)(why.total_ms * 1000.0);
    w->instances = why.instances;
    w->note = why.note;
    w->nhops = (uint32_t)why.nhops;
    w->hop_text = why_text;
    w->hop_type = why_type;
    return 0;
}

/* Where a type's live instances were allocated, on the agent thread: one heap walk with the GIL,
 * its own allocations not sampled. */
static int
type_sites_cb(void *ctx, const char *type_name, lt_type_sites *ts)
{
    (void)ctx;
    lt_py_alloc_hook_guard(1);
    PyGILState_STATE g = host_enter();
    int rc = lt_py_type_sites(type_name, ts, cs.max_pause_ns);
    PyGILState_Release(g);
    lt_py_alloc_hook_guard(0);
    return rc;
}

/* A viewer stopped the agent: take the allocator hooks out before the thread ends. */
static void
stopping_cb(void *ctx)
{
    (void)ctx;
    lt_py_alloc_hook_guard(1);
    PyGILState_STATE g = host_enter();
    lt_py_alloc_hook_stop();
    PyGILState_Release(g);
    lt_py_alloc_hook_guard(0);
}

/* ---- start / stop ----------------------------------------------------------------------- */

/* Join and free the agent, releasing the GIL meanwhile: its thread may be waiting for it. Then
 * take the allocator hooks out. */
static void
stop_agent(int reason)
{
    lt_agent *a = agent;
    agent = NULL;
    if (a != NULL) {
        Py_BEGIN_ALLOW_THREADS
        lt_agent_stop(a, reason);
        Py_END_ALLOW_THREADS
    }
    /* After the join: the agent's last census (at exit) still needed the sampler. */
    lt_py_alloc_hook_stop();
}

/* The command line as the kernel has it: the real interpreter and its arguments. */
static int
read_cmdline(char *buf, size_t cap, const char **argv, uint32_t max)
{
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    uint32_t argc = 0;
    for (ssize_t i = 0; i < n && argc < max; i += (ssize_t)strlen(buf + i) + 1)
        argv[argc++] = buf + i;
    return (int)argc;
}

/* The interpreter's own version (PY_VERSION_HEX encoding): Py_Version from 3.11 on; before, the
 * number Py_GetVersion() starts with (its release level is not told apart: those versions'
 * layouts do not change between their releases). */
static uint32_t
running_version(void)
{
#if PY_VERSION_HEX >= 0x030B0000
    return (uint32_t)Py_Version;
#else
    unsigned major, minor, micro;
    if (sscanf(Py_GetVersion(), "%u.%u.%u", &major, &minor, &micro) != 3)
        return (uint32_t)PY_VERSION_HEX;
    return (major & 0xffu) << 24 | (minor & 0xffu) << 16 | (micro & 0xffu) << 8 | 0xf0u;
#endif
}

/* The interpreter's library as path prefixes (HELLO's lib_paths): the standard library's
 * directory (os's), sysconfig's stdlib and package directories and site's package
 * directories, each as given and resolved, into buf (strings) and out (at most max). Only
 * modules the program already imported are used: importing one here would find a script of
 * the program's own of that name first on sys.path (a types.py, a site.py) and run it. Best
 * effort: nothing when Python cannot say (an error is cleared). GIL held. Returns how many. */
static uint32_t
library_paths(char *buf, size_t cap, const char **out, uint32_t max)
{
    static const char code[] =
        "import os, sys\n"
        "paths = [os.path.dirname(os.__file__)]\n"
        "sysconfig, site = sys.modules.get('sysconfig'), sys.modules.get('site')\n"
        "if sysconfig is not None:\n"
        "    try:\n"
        "        paths += [sysconfig.get_paths().get(k) for k in "
        "('stdlib', 'platstdlib', 'purelib', 'platlib')]\n"
        "    except Exception:\n        pass\n"
        "if site is not None:\n"
        "    try:\n        paths += site.getsitepackages()\n    except Exception:\n        pass\n"
        "    try:\n        paths.append(site.getusersitepackages())\n"
        "    except Exception:\n        pass\n"
        "result = []\n"
        "for p in paths:\n"
        "    for q in (p, p and os.path.realpath(p)):\n"
        "        if q and q.rstrip('/') not in result:\n"
        "            result.append(q.rstrip('/'))\n";
    uint32_t n = 0;
    PyObject *g = PyDict_New();
    if (g == NULL || PyDict_SetItemString(g, "__builtins__", PyEval_GetBuiltins()) < 0)
        goto done;
    PyObject *r = PyRun_String(code, Py_file_input, g, g);
    if (r == NULL)
        goto done;
    Py_DECREF(r);
    PyObject *list = PyDict_GetItemString(g, "result"); /* borrowed */
    size_t used = 0;
    for (Py_ssize_t i = 0; list != NULL && PyList_Check(list) && i < PyList_GET_SIZE(list) &&
                           n < max;
         i++) {
        Py_ssize_t len = 0;
        const char *text = PyUnicode_Check(PyList_GET_ITEM(list, i))
                               ? PyUnicode_AsUTF8AndSize(PyList_GET_ITEM(list, i), &len)
                               : NULL;
        if (text == NULL || len == 0 || used + (size_t)len + 1 > cap)
            continue;
        memcpy(buf + used, text, (size_t)len + 1);
        out[n++] = buf + used;
        used += (size_t)len + 1;
    }
done:
    Py_XDECREF(g);
    PyErr_Clear();
    return n;
}

/* Start with agent_cfg. Returns 0, or -1 with a Python exception set. */
static int
start_agent(void)
{
    char cmdline[8192];
    const char *argv[128];
    uint32_t argc = (uint32_t)read_cmdline(cmdline, sizeof cmdline, argv, 128);
    char version[32];
    uint32_t running = running_version();
    snprintf(version, sizeof version, "%u.%u.%u", (unsigned)(running >> 24) & 0xffu,
             (unsigned)(running >> 16) & 0xffu, (unsigned)(running >> 8) & 0xffu);
    char libbuf[8192];
    const char *lib[LT_HELLO_MAX_LIB];
    uint32_t nlib = library_paths(libbuf, sizeof libbuf, lib, LT_HELLO_MAX_LIB);
    lt_agent_identity id = {
        .python_version = version,
        .executable = argc > 0 ? argv[0] : "",
        .argc = argc,
        .argv = argv,
        .nlib = nlib,
        .lib_paths = lib,
    };
    lt_agent_ops ops = {.ctx = NULL, .sample = sample_cb, .command = command_cb,
                        .stopping = stopping_cb, .why_alive = why_alive_cb,
                        .type_sites = type_sites_cb,
                        .thread_exit = thread_exit_cb};
    char *cause = NULL;
    lt_agent *a = lt_agent_start(&agent_cfg, &ops, &id, &cause);
    if (a == NULL) {
        PyErr_Format(PyExc_RuntimeError, "leaktop: %s", cause ? cause : "cannot start");
        lt_free(cause);
        return -1;
    }
    agent = a;
    if (sample_bytes > 0 && lt_py_alloc_hook_start(sample_bytes, sample_frames) < 0) {
        PyObject *t, *v, *tb;
        PyErr_Fetch(&t, &v, &tb);
        stop_agent(LT_BYE_STOPPED);
        PyErr_Restore(t, v, tb);
        return -1;
    }
    return 0;
}

static PyObject *
leaktop_start(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {(char *)"interval", (char *)"history", (char *)"max_clients",
                             (char *)"_exit_linger", (char *)"sample_bytes", (char *)"frames",
                             (char *)"top_sites", (char *)"show_keys", (char *)"budget",
                             (char *)"max_pause", NULL};
    double interval = 1.0, history = 600.0, linger = 0.0, budget = 0.01, max_pause = 0.010;
    int max_clients = 64, frames = LT_PY_FRAMES_DEFAULT, top_sites = 200;
    int show_keys = 0;
    long long sbytes = LT_PY_SAMPLE_BYTES_DEFAULT;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|$ddidLiipdd:start", kwlist, &interval, &history,
                                     &max_clients, &linger, &sbytes, &frames, &top_sites,
                                     &show_keys, &budget, &max_pause))
        return NULL;
    if (!(budget >= 0.0001 && budget <= 1.0)) {
        PyErr_SetString(PyExc_ValueError,
                        "budget must be between 0.0001 and 1 (a fraction of one core)");
        return NULL;
    }
    if (!(max_pause >= 0.001 && max_pause <= 1.0)) {
        PyErr_SetString(PyExc_ValueError, "max_pause must be between 0.001 and 1 seconds");
        return NULL;
    }
    if (sbytes < 0 || sbytes > (1ll << 32)) {
        PyErr_SetString(PyExc_ValueError,
                        "sample_bytes must be between 0 (no sampling) and 4294967296");
        return NULL;
    }
    if (frames < 1 || frames > (int)LT_PY_FRAMES_MAX) {
        PyErr_SetString(PyExc_ValueError, "frames must be between 1 and 256");
        return NULL;
    }
    if (top_sites < 1 || top_sites > 10000) {
        PyErr_SetString(PyExc_ValueError, "top_sites must be between 1 and 10000");
        return NULL;
    }
    if (!(interval >= 0.01 && interval <= 3600.0)) {
        PyErr_SetString(PyExc_ValueError, "interval must be between 0.01 and 3600 seconds");
        return NULL;
    }
    if (!(history >= 0.0 && history <= 86400.0)) {
        PyErr_SetString(PyExc_ValueError, "history must be between 0 and 86400 seconds");
        return NULL;
    }
    if (max_clients < 1 || max_clients > 1024) {
        PyErr_SetString(PyExc_ValueError, "max_clients must be between 1 and 1024");
        return NULL;
    }
    if (exiting) {
        PyErr_SetString(PyExc_RuntimeError, "leaktop: the interpreter is exiting");
        return NULL;
    }
    if (agent != NULL && lt_agent_finished(agent))
        stop_agent(LT_BYE_STOPPED); /* a viewer stopped it: clean up, then start anew */
    if (agent != NULL)
        Py_RETURN_NONE; /* start twice is a no-op */
    lt_agent_config_default(&agent_cfg);
    agent_cfg.interval_ms = (uint32_t)(interval * 1000.0 + 0.5);
    agent_cfg.history_seconds = (uint32_t)history;
    agent_cfg.max_clients = (uint32_t)max_clients;
    agent_cfg.top_sites = (uint32_t)top_sites;
    sample_bytes = (uint64_t)sbytes;
    sample_frames = (uint32_t)frames;
    cs.budget_ppm = (uint32_t)(budget * 1e6 + 0.5);
    cs.max_pause_ns = (uint64_t)(max_pause * 1e9 + 0.5);
    lt_py_why_show_keys(show_keys); /* referrer chains name data dicts' keys: the owner's opt-in */
    lt_holds_reset(cs.max_pause_ns); /* a new agent's holds of the GIL */
    /* Private to the bootstrap: leaktop launched us and is about to connect. */
    agent_cfg.exit_linger_ms = linger > 0 && linger < 60 ? (uint32_t)(linger * 1000.0) : 0;
    if (start_agent() < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
leaktop_stop(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    stop_agent(LT_BYE_STOPPED);
    Py_RETURN_NONE;
}

static PyObject *
leaktop_is_running(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyBool_FromLong(agent != NULL && !lt_agent_finished(agent));
}

static PyObject *
leaktop_socket_path(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (agent == NULL || lt_agent_finished(agent))
        Py_RETURN_NONE;
    return PyUnicode_DecodeFSDefault(agent->socket_path);
}

/* The allocation sampler's counters (tests and benchmarks), or None when it is not running. */
static PyObject *
leaktop_sampler_stats(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    uint64_t mean, samples, live, dropped, thinned;
    if (lt_py_alloc_hook_stats(&mean, &samples, &live, &dropped, &thinned) < 0)
        Py_RETURN_NONE;
    return Py_BuildValue("{sKsKsKsKsK}", "sample_bytes", (unsigned long long)mean, "samples",
                         (unsigned long long)samples, "live", (unsigned long long)live, "dropped",
                         (unsigned long long)dropped, "thinned", (unsigned long long)thinned);
}

/* The last census finished, for tests and benchmarks: its figures and its counts by type name,
 * or None before the first. Read under the GIL, which every writer of these holds too. */
static PyObject *
leaktop_census(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (agent == NULL || !cs.have || cs.census == NULL)
        Py_RETURN_NONE;
    PyObject *counts = PyDict_New();
    if (counts == NULL)
        return NULL;
    const lt_census *c = cs.census;
    const lt_strtab *t = &agent->strings;
    for (uint32_t i = 0; i < c->nrows; i++) {
        uint32_t id = c->rows[i].name_id;
        if (id >= t->n)
            continue;
        PyObject *v = PyLong_FromUnsignedLongLong(c->rows[i].count);
        if (v == NULL || PyDict_SetItemString(counts, t->text[id], v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(counts);
            return NULL;
        }
        Py_DECREF(v);
    }
    PyObject *arrivals = Py_BuildValue(
        "{sKsKsKsKsKsi}", "counted", (unsigned long long)ar.counted, "lost",
        (unsigned long long)ar.lost, "too_many", (unsigned long long)ar.too_many, "objects",
        (unsigned long long)ar.last_objects, "longest_hold_ns",
        (unsigned long long)ar.longest_hold_ns, "marked", ar.mark.valid);
    if (arrivals == NULL) {
        Py_DECREF(counts);
        return NULL;
    }
    return Py_BuildValue(
        "{sKsKsKsKsKsKsKsKsKsKsIsIsisKsNsN}", "censuses", (unsigned long long)cs.censuses,
        "max_slice_cpu_ns", (unsigned long long)cs.max_slice_cpu_ns,
        "given_up", (unsigned long long)cs.given_up,
        "started_mono_ns", (unsigned long long)(cs.done_mono_ns - cs.span_ns), "done_mono_ns",
        (unsigned long long)cs.done_mono_ns, "objects", (unsigned long long)cs.objects,
        "cpu_ns", (unsigned long long)cs.cpu_ns, "span_ns", (unsigned long long)cs.span_ns,
        "hold_ns", (unsigned long long)cs.hold_ns, "max_hold_ns",
        (unsigned long long)cs.max_hold_ns, "slices", cs.slices, "restarts", cs.restarts,
        "exact", cs.exact, "longest_hold_ns", (unsigned long long)cs.longest_hold_ns, "counts",
        counts, "arrivals", arrivals);
}

/* The agent's holds of the GIL since it started, for tests and benchmarks: per kind of work
 * (gil_holds.h) the number of holds, the longest in wall time and in CPU time, their sums, in
 * ns; the last "why is it alive" search's own figures under "why_last". Read under the GIL,
 * which the writers hold too. */
static PyObject *
leaktop_holds(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    PyObject *d = PyDict_New();
    for (int k = 0; d != NULL && k < LT_HOLD_KINDS; k++) {
        lt_hold_stats st;
        lt_holds_get((lt_hold_kind)k, &st);
        PyObject *v = Py_BuildValue(
            "{sKsKsKsKsKsK}", "holds", (unsigned long long)st.holds, "over_bound",
            (unsigned long long)st.over_bound, "longest_wall_ns",
            (unsigned long long)st.longest_wall_ns, "longest_cpu_ns",
            (unsigned long long)st.longest_cpu_ns, "total_wall_ns",
            (unsigned long long)st.total_wall_ns, "total_cpu_ns",
            (unsigned long long)st.total_cpu_ns);
        if (v == NULL || PyDict_SetItemString(d, lt_hold_kind_name((lt_hold_kind)k), v) < 0) {
            Py_XDECREF(v);
            Py_CLEAR(d);
            break;
        }
        Py_DECREF(v);
    }
    if (d == NULL)
        return NULL;
    char chain[1024];
    lt_why_format(&why, chain, sizeof chain);
    PyObject *w = Py_BuildValue(
        "{sisisdsdsdsIsIsIsisKssss}", "found", why.found, "levels", why.levels, "max_pause_ms",
        why.max_pause_ms, "max_pause_cpu_ms", why.max_pause_cpu_ms, "total_ms", why.total_ms,
        "holds", why.holds, "slices", why.slices, "restarts", why.restarts, "skipped",
        why.skipped, "instances", (unsigned long long)why.instances, "chain", chain, "note",
        why.note);
    if (w == NULL || PyDict_SetItemString(d, "why_last", w) < 0) {
        Py_XDECREF(w);
        Py_DECREF(d);
        return NULL;
    }
    Py_DECREF(w);
    return d;
}

/* atexit: stop before the interpreter finalizes, while the GIL can still be handed over. */
static PyObject *
leaktop_atexit(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    exiting = 1;
    stop_agent(LT_BYE_EXITING);
    Py_RETURN_NONE;
}

/* os.register_at_fork(before=...): the agent thread finishes what it does without the GIL and
 * waits (fork_gate.h), the GIL let go meanwhile. */
static PyObject *
leaktop_before_fork(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    Py_BEGIN_ALLOW_THREADS
    lt_fork_gate_close();
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* os.register_at_fork(after_in_parent=...): the agent thread goes on. */
static PyObject *
leaktop_after_fork_parent(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    lt_fork_gate_open();
    Py_RETURN_NONE;
}

/* os.register_at_fork(after_in_child=...): the child has no agent thread. Forget the parent's
 * agent (its socket file stays the parent's) and, if one ran, start a new one for this pid. */
static PyObject *
leaktop_after_fork_child(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    lt_fork_gate_reset_in_child();
    /* First the sampler: its lock may have been copied held, and its tables are freed before
     * the memory count restarts from zero. */
    lt_py_alloc_hook_after_fork_child();
    lt_py_memstats_after_fork_child();
    census_forget(); /* the references the parent's walk held are this process's too */
    agent_tstate_kept = 0; /* the parent's agent thread and its thread state are not here */
    if (agent == NULL)
        Py_RETURN_NONE;
    int was_running = !lt_agent_finished(agent);
    lt_agent_abandon_after_fork(agent);
    agent = NULL;
    lt_mem_reset_after_fork();
    if (was_running && !exiting && start_agent() < 0) {
        /* The child goes on without an agent; say why once. */
        PyErr_WriteUnraisable(NULL);
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"start", (PyCFunction)(void (*)(void))leaktop_start, METH_VARARGS | METH_KEYWORDS,
     "start(*, interval=1.0, history=600.0, max_clients=64, sample_bytes=65536, frames=64,\n"
     "      top_sites=200, show_keys=False, budget=0.01, max_pause=0.010)\n--\n\n"
     "Start the agent: a census every `interval` seconds, served on this process's leaktop\n"
     "socket, with `history` seconds kept for viewers that connect later. Allocations are\n"
     "sampled every `sample_bytes` bytes on average (0: no sampling) with tracebacks of up to\n"
     "`frames` frames; each census reports the `top_sites` largest live allocation sites.\n"
     "Referrer chains show a data dict's key only by type and position, unless `show_keys`.\n"
     "The agent holds the GIL at most `max_pause` seconds at a time (its census, and the heap\n"
     "walks of \"why is it alive\" and TYPE_SITES); the census uses at most `budget`\n"
     "of one core on average: on a big heap its counts are then older than a sample (every\n"
     "sample says when its counts were completed).\n"
     "Starting twice is a no-op."},
    {"stop", leaktop_stop, METH_NOARGS,
     "stop()\n--\n\nStop the agent: viewers are told, the socket is removed. No-op if stopped."},
    {"is_running", leaktop_is_running, METH_NOARGS, "is_running()\n--\n\nIs the agent running?"},
    {"socket_path", leaktop_socket_path, METH_NOARGS,
     "socket_path()\n--\n\nThe agent's socket path, or None when it is not running."},
    {"_sampler_stats", leaktop_sampler_stats, METH_NOARGS, NULL},
    {"_census", leaktop_census, METH_NOARGS, NULL},
    {"_holds", leaktop_holds, METH_NOARGS, NULL},
    {"_atexit", leaktop_atexit, METH_NOARGS, NULL},
    {"_before_fork", leaktop_before_fork, METH_NOARGS, NULL},
    {"_after_fork_parent", leaktop_after_fork_parent, METH_NOARGS, NULL},
    {"_after_fork_child", leaktop_after_fork_child, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "leaktop",
    "leaktop's in-process agent: live object census streamed to the leaktop viewer.", -1,
    methods, NULL, NULL, NULL, NULL,
};

/* Call module.attr(*args) and drop the result. Returns 0 or -1 with an exception. */
static int
call_and_drop(const char *module, const char *attr, PyObject *args, PyObject *kw)
{
    PyObject *m = PyImport_ImportModule(module);
    if (m == NULL)
        return -1;
    PyObject *f = PyObject_GetAttrString(m, attr);
    Py_DECREF(m);
    if (f == NULL)
        return -1;
    PyObject *r = PyObject_Call(f, args, kw);
    Py_DECREF(f);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

/* Exported explicitly: the module is built with -fvisibility=hidden, and 3.13's PyMODINIT_FUNC
 * no longer marks the symbol visible by itself. */
__attribute__((visibility("default"))) PyMODINIT_FUNC PyInit_leaktop(void);

PyMODINIT_FUNC
PyInit_leaktop(void)
{
    /* Refuse, in one line, an interpreter whose private layouts are not those of the headers
     * this was built against (python_support.h). */
    char refused[256];
    if (!lt_python_supported(PY_VERSION_HEX, running_version(), refused, sizeof refused)) {
        PyErr_Format(PyExc_ImportError, "leaktop: %s", refused);
        return NULL;
    }
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    lt_py_memstats_init(); /* before any hook of ours wraps the allocator */
    gc_module = PyImport_ImportModule("gc");
    module_key = PyUnicode_InternFromString("__module__");
    if (gc_module == NULL || module_key == NULL ||
        PyModule_AddStringConstant(m, "__version__", LEAKTOP_VERSION) < 0)
        goto fail;

    PyObject *args = NULL, *kw = NULL;
    PyObject *exit_fn = PyObject_GetAttrString(m, "_atexit");
    PyObject *before_fn = PyObject_GetAttrString(m, "_before_fork");
    PyObject *parent_fn = PyObject_GetAttrString(m, "_after_fork_parent");
    PyObject *fork_fn = PyObject_GetAttrString(m, "_after_fork_child");
    int rc = -1;
    if (exit_fn && before_fn && parent_fn && fork_fn && (args = PyTuple_Pack(1, exit_fn)) != NULL &&
        call_and_drop("atexit", "register", args, NULL) == 0) {
        Py_CLEAR(args);
        args = PyTuple_New(0);
        kw = Py_BuildValue("{sOsOsO}", "before", before_fn, "after_in_parent", parent_fn,
                           "after_in_child", fork_fn);
        if (args && kw && call_and_drop("os", "register_at_fork", args, kw) == 0)
            rc = 0;
    }
    Py_XDECREF(args);
    Py_XDECREF(kw);
    Py_XDECREF(exit_fn);
    Py_XDECREF(fork_fn);
    Py_XDECREF(parent_fn);
    Py_XDECREF(before_fn);
    if (rc < 0)
        goto fail;
    return m;

fail:
    Py_DECREF(m);
    return NULL;
}
