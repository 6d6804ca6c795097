/* The census walk. This is the one file that walks CPython's private GC lists, so it is built
 * with Py_BUILD_CORE_MODULE against each version's internal headers; where the lists are and how
 * to follow them, per version, is in py_gc_lists.h. Every version's lists are walked directly
 * (PyUnstable_GC_VisitObjects, 3.12+, leaves out the permanent generation on 3.12-3.13 and
 * includes it on 3.14+: one walk over all four lists counts each object once everywhere).
 *
 * The walk in slices relies on what every version's collector does: a collection of generation
 * g merges the younger lists into g, rearranges g, and appends the survivors at the tail of g+1;
 * gc.freeze() appends every generation to the permanent list and gc.unfreeze() the permanent
 * list to generation 2; the per-generation collection counters grow by one when a collection
 * ends, and `collecting` is set while one runs (py_gc_lists.h reads all of it).
 */
#define PY_SSIZE_T_CLEAN
#ifndef Py_BUILD_CORE_MODULE
#define Py_BUILD_CORE_MODULE
#endif
#include <Python.h>

#include "py_gc_lists.h"
#if PY_VERSION_HEX >= 0x030D0000
#include "internal/pycore_dict.h" /* _PyDict_SizeOf moved here */
#endif

#include "agent_core.h" /* lt_mono_ns */
#include "py_census.h"

/* What one object costs on its own: the GC header and any pre-header, the struct, inline items,
 * and for the common containers the table they own (as sys.getsizeof counts it). */
uint64_t
lt_py_shallow_size(PyObject *op, PyTypeObject *tp)
{
    uint64_t size = (uint64_t)tp->tp_basicsize + sizeof(PyGC_Head);
    /* Inline items: tuples and other true var-sized objects. Some types have an itemsize but
     * use ob_size for something else (generators and coroutines since 3.11 size their frame by
     * the code object): an item count that cannot be real is left out. */
    if (tp->tp_itemsize != 0 && tp != &PyGen_Type && tp != &PyCoro_Type) {
        Py_ssize_t n = Py_SIZE(op);
        uint64_t items = (uint64_t)(n < 0 ? -n : n);
        if (items < ((uint64_t)1 << 32))
            size += (uint64_t)tp->tp_itemsize * items;
    }
#if PY_VERSION_HEX >= 0x030C0000
    if (tp->tp_flags & Py_TPFLAGS_PREHEADER)
        size += 2 * sizeof(PyObject *);
#elif PY_VERSION_HEX >= 0x030B0000
    if (tp->tp_flags & Py_TPFLAGS_MANAGED_DICT)
        size += 2 * sizeof(PyObject *);
#endif
    if (tp == &PyList_Type)
        size += (uint64_t)((PyListObject *)op)->allocated * sizeof(PyObject *);
    else if (tp == &PyDict_Type)
        size += (uint64_t)_PyDict_SizeOf((PyDictObject *)op) - (uint64_t)tp->tp_basicsize;
    else if (tp == &PySet_Type || tp == &PyFrozenSet_Type) {
        PySetObject *so = (PySetObject *)op;
        if (so->table != so->smalltable)
            size += (uint64_t)(so->mask + 1) * sizeof(setentry);
    }
    return size;
}

static inline void
count_object(lt_census *c, PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    lt_census_add(c, tp, lt_py_shallow_size(op, tp));
}

static void
walk_list(lt_census *c, PyGC_Head *head)
{
    for (PyGC_Head *g = lt_py_gc_next(head); g != head; g = lt_py_gc_next(g))
        count_object(c, lt_py_gc_object(g));
}

/* ---- the walk in slices ---------------------------------------------------------------- */

/* The lists in walk order: the permanent generation (gc.freeze()), then the oldest generation
 * to the youngest. Collections move objects only from a younger list to the tail of an older
 * one, so a list walked head to tail still reaches what joins it meanwhile, and nothing counted
 * in an older list can turn up again in a younger one. */
#define LIST_PERMANENT NUM_GENERATIONS
/* lt_py_gc_heads gives the heads in this order. */
static const int walk_order[LT_PY_GC_LISTS] = {LIST_PERMANENT, 2, 1, 0};
#define WALK_LISTS LT_PY_GC_LISTS
#define WALK_MAX_RESTARTS 3

/* The head of the list at index i of the walk order. */
static PyGC_Head *
list_head(struct _gc_runtime_state *gc, int i)
{
    PyGC_Head *heads[LT_PY_GC_LISTS];
    lt_py_gc_heads(gc, heads);
    return heads[i];
}

/* Is g one of the list heads (they all live in the collector's state)? */
static inline int
is_a_head(struct _gc_runtime_state *gc, PyGC_Head *g)
{
    return (char *)g >= (char *)gc && (char *)g < (char *)(gc + 1);
}

/* Marks placed so far, and the marker of the last (lt_py_mark_place): a walk whose cursor is
 * the marker (a walk that visits every object can stop at it) cannot go on from it once the
 * marker has moved. */
static uint64_t mark_moves;
static PyObject *moved_marker;

static void
snapshot(lt_py_walk *w, struct _gc_runtime_state *gc)
{
    w->mark_moves = mark_moves;
    for (int i = 0; i < NUM_GENERATIONS && i < LT_PY_WALK_GENS; i++)
        w->collections[i] = (int64_t)lt_py_gc_collections_of(gc, i);
    w->perm_next = gc->permanent_generation.head._gc_next;
    w->perm_prev = gc->permanent_generation.head._gc_prev;
}

/* Can the walk go on from where it stopped? Only if no collection rearranged the list it is in
 * or moved objects into a list already walked (a collection of the current generation or an
 * older one), gc.freeze()/unfreeze() did not move lists (the permanent list's ends moved), and
 * the cursor is still tracked. */
static int
still_valid(const lt_py_walk *w, struct _gc_runtime_state *gc)
{
    int list = walk_order[w->phase];
    int from = list == LIST_PERMANENT ? NUM_GENERATIONS : list;
    for (int i = from; i < NUM_GENERATIONS; i++)
        if ((int64_t)lt_py_gc_collections_of(gc, i) != w->collections[i])
            return 0;
    if (gc->permanent_generation.head._gc_next != w->perm_next ||
        gc->permanent_generation.head._gc_prev != w->perm_prev)
        return 0;
    if (w->cursor != NULL && lt_py_gc_entry(w->cursor)->_gc_next == 0) /* untracked */
        return 0;
    if (w->cursor != NULL && w->cursor == moved_marker && w->mark_moves != mark_moves)
        return 0;
    return 1;
}

/* Take a reference to every type the walk met since the last slice: between slices a type
 * could otherwise die, and another take its address. */
static void
hold_types(lt_census *c)
{
    for (uint32_t i = 0; c->slots != NULL && i < c->nslots; i++)
        if (c->slots[i].type != NULL && !c->slots[i].held) {
            Py_INCREF((PyObject *)c->slots[i].type);
            c->slots[i].held = 1;
        }
}

/* Let go of the types held (may run a type's deallocation: nothing may be in progress). */
static void
release_types(lt_census *c)
{
    for (uint32_t i = 0; c->slots != NULL && i < c->nslots; i++)
        if (c->slots[i].held) {
            c->slots[i].held = 0;
            Py_DECREF((PyObject *)c->slots[i].type);
        }
}

/* A new walk from the first list, its figures zeroed. */
static void
walk_reset(lt_py_walk *w)
{
    w->mark = NULL;
    w->phase = 0;
    w->active = 1;
    w->slices = w->restarts = 0;
    w->exact = 1;
    w->stop = 0;
    w->longest_ns = 0;
    snapshot(w, lt_py_gc_state());
}

void
lt_py_walk_begin_visit(lt_py_walk *w, void (*visit)(PyObject *op, void *arg),
                       void (*restart_fn)(void *arg), void *arg)
{
    lt_py_walk_abandon(w, NULL);
    w->visit = visit;
    w->restart = restart_fn;
    w->arg = arg;
    walk_reset(w);
}

void
lt_py_walk_begin(lt_py_walk *w, lt_census *c)
{
    lt_py_walk_abandon(w, c);
    w->visit = NULL;
    walk_reset(w);
}

void
lt_py_walk_abandon(lt_py_walk *w, lt_census *c)
{
    PyObject *cur = w->cursor;
    w->cursor = NULL;
    w->active = 0;
    if (c != NULL) {
        release_types(c);
        lt_census_clear_slots(c);
    }
    Py_XDECREF(cur);
}

void
lt_py_walk_finish(lt_py_walk *w, lt_census *c)
{
    lt_py_walk_abandon(w, c);
}

/* Start over from the first list (a walk of arrivals: from its marker, in generation 2): counts
 * to zero (types stay held), or the visitor told. */
static void
restart(lt_py_walk *w, lt_census *c, struct _gc_runtime_state *gc)
{
    w->restarts++;
    w->phase = w->mark != NULL ? 1 : 0;
    if (c != NULL) {
        lt_census_zero_counts(c);
        c->last = NULL;
    } else {
        w->restart(w->arg);
    }
    snapshot(w, gc);
}

enum { WALK_END, WALK_STOP, WALK_LOST };

/* Visit from g to head, or until limit (checked every 256 objects counted, 16 visited). *last is the last object
 * visited. WALK_LOST: g reached another list's head (the cursor had been moved). With a census
 * (c) the objects are counted inline; otherwise w->visit sees them. */
static int
walk_some(lt_py_walk *w, lt_census *c, struct _gc_runtime_state *gc, PyGC_Head *head,
          PyGC_Head *g, PyObject **last, uint64_t limit)
{
    uint32_t n = 0;
    /* A census counts an object in nanoseconds; a visitor may take longer (a traversal). */
    uint32_t check_mask = c != NULL ? 255 : 15;
    while (g != head) {
        if (is_a_head(gc, g))
            return WALK_LOST;
        PyObject *op = lt_py_gc_object(g);
        if (c != NULL)
            count_object(c, op);
        else
            w->visit(op, w->arg);
        *last = op;
        if (c == NULL && w->stop)
            return WALK_END;
        g = lt_py_gc_next(g);
        if ((++n & check_mask) == 0 && lt_mono_ns() >= limit)
            return g == head ? WALK_END : WALK_STOP;
    }
    return WALK_END;
}

/* Is the mark where it was put: no collection of generation 2 since, no move of the permanent
 * list, the marker still tracked? */
static int
mark_holds(const lt_py_mark *m, struct _gc_runtime_state *gc)
{
    return m->valid && m->marker != NULL &&
           (int64_t)lt_py_gc_collections_of(gc, 2) == m->collections2 &&
           gc->permanent_generation.head._gc_next == m->perm_next &&
           gc->permanent_generation.head._gc_prev == m->perm_prev &&
           lt_py_gc_entry(m->marker)->_gc_next != 0;
}

/* Where a walk that starts over resumes: after the marker for a walk of arrivals, else at the
 * head of its first list (NULL). */
static inline PyObject *
restart_point(const lt_py_walk *w)
{
    return w->mark != NULL ? w->mark->marker : NULL;
}

/* The walk cannot go on from where it is: start over, or past a bounded number of restarts,
 * skip what is left of the current list and say the census is not exact. (A walk of arrivals
 * has lost its mark: the caller ends it.) */
static void
lost_place(lt_py_walk *w, lt_census *c, struct _gc_runtime_state *gc)
{
    if (w->mark != NULL) {
        /* From the marker again while it holds; else, or too often, give up (the caller asks
         * the mark whether it still holds). */
        if (w->restarts < WALK_MAX_RESTARTS && mark_holds(w->mark, gc)) {
            restart(w, c, gc);
        } else {
            if (!mark_holds(w->mark, gc))
                w->mark->valid = 0;
            w->phase = WALK_LISTS + 1; /* given up */
        }
        return;
    }
    if (w->restarts < WALK_MAX_RESTARTS) {
        restart(w, c, gc);
    } else {
        w->exact = 0;
        w->phase++;
    }
}

int
lt_py_walk_slice(lt_py_walk *w, lt_census *c, uint64_t slice_ns, uint64_t young_grace_ns)
{
    if (!w->active)
        return LT_WALK_DONE;
    struct _gc_runtime_state *gc = lt_py_gc_state();
    if (lt_py_gc_collecting(gc))
        return LT_WALK_BUSY;
    uint64_t t0 = lt_mono_ns();
    uint64_t deadline = t0 + slice_ns;
    w->slices++;
    PyObject *resume = w->cursor;
    if (!still_valid(w, gc)) {
        lost_place(w, c, gc);
        resume = restart_point(w);
    }
    if (w->mark != NULL && w->phase > WALK_LISTS) {
        w->active = 0;
        return LT_WALK_LOST; /* the cursor is dropped by lt_py_walk_abandon */
    }
    /* The old cursor is dropped at the end of the slice, when nothing is in progress: its
     * deallocation may run Python code. */
    PyObject *old = w->cursor;
    w->cursor = NULL;
    PyObject *last = NULL;
    int done = 0;
    for (;;) {
        if (w->phase >= WALK_LISTS) {
            done = 1;
            break;
        }
        int list = walk_order[w->phase];
        PyGC_Head *head = list_head(gc, w->phase);
        PyGC_Head *g = resume != NULL ? lt_py_gc_next(lt_py_gc_entry(resume)) : lt_py_gc_next(head);
        resume = NULL;
        last = NULL;
        /* The young lists may take the grace too: once the oldest generation is done, a pause
         * would let a collection move objects into a list already walked. */
        uint64_t limit = list < 2 ? deadline + young_grace_ns : deadline;
        int r = walk_some(w, c, gc, head, g, &last, limit);
        if (r == WALK_LOST) {
            lost_place(w, c, gc);
            if (w->mark != NULL && w->phase > WALK_LISTS) {
                w->active = 0;
                w->cursor = old; /* dropped by lt_py_walk_abandon, when nothing is under way */
                return LT_WALK_LOST;
            }
            resume = restart_point(w);
            continue;
        }
        if (r == WALK_STOP)
            break; /* resume after `last` */
        if (c == NULL && w->stop) {
            done = 1; /* the visitor has what it wanted */
            break;
        }
        last = NULL;
        w->phase++;
        /* Between the permanent list and generation 2 a pause is safe. */
        if (list == LIST_PERMANENT && lt_mono_ns() >= deadline)
            break;
    }
    if (!done) {
        Py_XINCREF(last);
        w->cursor = last;
        snapshot(w, gc);
        if (c != NULL)
            hold_types(c);
    } else {
        w->active = 0;
    }
    uint64_t took = lt_mono_ns() - t0;
    if (took > w->longest_ns)
        w->longest_ns = took;
    Py_XDECREF(old);
    return done ? LT_WALK_DONE : LT_WALK_MORE;
}

/* ---- the mark, and the arrivals since ------------------------------------------------- */

int
lt_py_mark_place(lt_py_mark *m)
{
    m->valid = 0;
    if (m->marker == NULL && (m->marker = PyList_New(0)) == NULL) {
        PyErr_Clear();
        return -1;
    }
    struct _gc_runtime_state *gc = lt_py_gc_state();
    if (lt_py_gc_collecting(gc) || lt_py_gc_entry(m->marker)->_gc_next == 0)
        return -1;
    lt_py_gc_move_to_tail(lt_py_gc_entry(m->marker), &gc->generations[2].head);
    mark_moves++;
    moved_marker = m->marker;
    m->collections2 = (int64_t)lt_py_gc_collections_of(gc, 2);
    m->perm_next = gc->permanent_generation.head._gc_next;
    m->perm_prev = gc->permanent_generation.head._gc_prev;
    m->valid = 1;
    return 0;
}

void
lt_py_mark_forget(lt_py_mark *m)
{
    PyObject *x = m->marker;
    m->marker = NULL;
    if (moved_marker == x)
        moved_marker = NULL;
    m->valid = 0;
    Py_XDECREF(x);
}

int
lt_py_walk_begin_arrivals(lt_py_walk *w, lt_census *c, lt_py_mark *m)
{
    lt_py_walk_begin(w, c);
    struct _gc_runtime_state *gc = lt_py_gc_state();
    if (lt_py_gc_collecting(gc) || !mark_holds(m, gc)) {
        m->valid = 0;
        w->active = 0;
        return -1;
    }
    /* Generation 2 from the marker on, then 1 and 0: the walk resumes after its cursor, and
     * is valid as long as the mark holds (the marker's snapshot, not today's). */
    w->mark = m;
    w->phase = 1;
    Py_INCREF(m->marker);
    w->cursor = m->marker;
    w->collections[2] = m->collections2;
    w->perm_next = m->perm_next;
    w->perm_prev = m->perm_prev;
    return 0;
}

int
lt_py_census_walk(lt_census *c)
{
    struct _gc_runtime_state *gc = lt_py_gc_state();
    if (lt_py_gc_collecting(gc))
        return -1;
    PyGC_Head *heads[LT_PY_GC_LISTS];
    lt_py_gc_heads(gc, heads);
    for (int i = 0; i < LT_PY_GC_LISTS; i++)
        walk_list(c, heads[i]);
    return 0;
}

/* One generation list, stopping when fn says so. Returns 0 when stopped. */
static int
for_each_in(PyGC_Head *head, int (*fn)(PyObject *, void *), void *arg)
{
    for (PyGC_Head *g = lt_py_gc_next(head); g != head; g = lt_py_gc_next(g))
        if (!fn(lt_py_gc_object(g), arg))
            return 0;
    return 1;
}

/* One list from its tail (the object that joined it last) back to its head. Returns 0 when fn
 * stopped it. */
static int
for_each_newest_in(PyGC_Head *head, int gen, int (*fn)(PyObject *, int, void *), void *arg)
{
    for (PyGC_Head *g = lt_py_gc_prev(head); g != head; g = lt_py_gc_prev(g))
        if (!fn(lt_py_gc_object(g), gen, arg))
            return 0;
    return 1;
}

int
lt_py_gc_for_each_newest(int (*fn)(PyObject *op, int gen, void *arg), void *arg)
{
    struct _gc_runtime_state *gc = lt_py_gc_state();
    if (lt_py_gc_collecting(gc))
        return -1;
    PyGC_Head *heads[LT_PY_GC_LISTS];
    lt_py_gc_heads(gc, heads); /* oldest first: permanent, 2, 1, 0 */
    for (int i = LT_PY_GC_LISTS - 1; i >= 0; i--)
        if (!for_each_newest_in(heads[i], LT_PY_GC_LISTS - 1 - i, fn, arg))
            return 0;
    return 0;
}

int
lt_py_gc_enabled(void)
{
    return lt_py_gc_state()->enabled != 0;
}

int
lt_py_gc_for_each(int (*fn)(PyObject *op, void *arg), void *arg)
{
    struct _gc_runtime_state *gc = lt_py_gc_state();
    if (lt_py_gc_collecting(gc))
        return -1;
    PyGC_Head *heads[LT_PY_GC_LISTS];
    lt_py_gc_heads(gc, heads);
    for (int i = 0; i < LT_PY_GC_LISTS; i++)
        if (!for_each_in(heads[i], fn, arg))
            return 0;
    return 0;
}
