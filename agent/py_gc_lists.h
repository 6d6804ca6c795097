/*
 * Where CPython's garbage collector keeps its object lists, per version: the one place that
 * knows. The census and the heap walks (py_census.c) read the lists only through these.
 *
 * Include it only from a file built with Py_BUILD_CORE_MODULE (the layouts are in the internal
 * headers). Everything here needs the GIL and allocates nothing.
 *
 *   3.8         _PyRuntime.gc: generations[3], permanent_generation
 *   3.9-3.13    interp->gc: the same
 *   3.14.5+     interp->gc: the same again (3.14.0-3.14.4 shipped the incremental collector:
 *               young, old[2], another struct layout and a flag bit in _gc_next; the agent
 *               refuses those releases, lt_version_check)
 *   3.15        interp->gc: the same lists; the statistics moved behind a pointer
 * Free-threaded builds (Py_GIL_DISABLED) have no such lists at all; the agent is not built for
 * them (docs/free-threading.md).
 */
#ifndef LEAKTOP_PY_GC_LISTS_H
#define LEAKTOP_PY_GC_LISTS_H

#ifndef Py_BUILD_CORE
#error "py_gc_lists.h reads CPython's internal GC state: build with Py_BUILD_CORE_MODULE"
#endif
#ifdef Py_GIL_DISABLED
#error "leaktop's agent does not support free-threaded CPython (see docs/free-threading.md)"
#endif
#if PY_VERSION_HEX >= 0x030E0000 && PY_VERSION_HEX < 0x030E0500
#error "leaktop's agent does not support CPython 3.14.0-3.14.4 (their incremental GC): use 3.14.5+"
#endif

#include <Python.h>
#include <stdint.h>

#if PY_VERSION_HEX < 0x03090000
#include "internal/pycore_pystate.h"
#else
#include "internal/pycore_interp.h"
#endif

/* The lists a census walks: the three generations and the permanent one (gc.freeze()). */
#define LT_PY_GC_LISTS (NUM_GENERATIONS + 1)

/* The calling interpreter's collector state. */
static inline struct _gc_runtime_state *
lt_py_gc_state(void)
{
#if PY_VERSION_HEX < 0x03090000
    return &_PyRuntime.gc;
#else
    return &PyInterpreterState_Get()->gc;
#endif
}

/* Nonzero while a collection runs: objects then sit on the collector's own local lists and
 * _gc_prev holds reference counts, so no list may be walked. */
static inline int
lt_py_gc_collecting(const struct _gc_runtime_state *gc)
{
    return gc->collecting != 0;
}

/* The list heads, oldest first: the permanent generation, then generations 2, 1, 0. Fills
 * heads[LT_PY_GC_LISTS]. */
static inline void
lt_py_gc_heads(struct _gc_runtime_state *gc, PyGC_Head *heads[LT_PY_GC_LISTS])
{
    heads[0] = &gc->permanent_generation.head;
    for (int i = 0; i < NUM_GENERATIONS; i++)
        heads[1 + i] = &gc->generations[NUM_GENERATIONS - 1 - i].head;
}

/* The entry after g in its list (the list head after the last object). The two low bits of
 * _gc_next are flags on some versions (the incremental collector's old-space bit, the
 * collector's "unreachable" mark while it runs), never part of the address: masked on all. */
static inline PyGC_Head *
lt_py_gc_next(const PyGC_Head *g)
{
    return (PyGC_Head *)(g->_gc_next & ~(uintptr_t)3);
}

/* The entry before g in its list (the list head before the first object): the low bits of
 * _gc_prev are the collector's flags (finalized; collecting, only while it runs). */
static inline PyGC_Head *
lt_py_gc_prev(const PyGC_Head *g)
{
    return (PyGC_Head *)(g->_gc_prev & ~(uintptr_t)3);
}

/* The object a list entry heads. */
static inline PyObject *
lt_py_gc_object(PyGC_Head *g)
{
    return (PyObject *)(g + 1);
}

/* The list entry of a tracked object. */
static inline PyGC_Head *
lt_py_gc_entry(PyObject *op)
{
    return (PyGC_Head *)op - 1;
}

/* Move the tracked entry g to the tail of the list at head (GIL held, no collection running):
 * it is then the newest entry of that list. The flag bits of each field written stay that
 * field's own (the collector's "finalized" bit in _gc_prev). */
static inline void
lt_py_gc_move_to_tail(PyGC_Head *g, PyGC_Head *head)
{
    PyGC_Head *prev = lt_py_gc_prev(g), *next = lt_py_gc_next(g);
    prev->_gc_next = (uintptr_t)next | (prev->_gc_next & 3);
    next->_gc_prev = (uintptr_t)prev | (next->_gc_prev & 3);
    PyGC_Head *last = lt_py_gc_prev(head);
    last->_gc_next = (uintptr_t)g | (last->_gc_next & 3);
    g->_gc_prev = (uintptr_t)last | (g->_gc_prev & 3);
    g->_gc_next = (uintptr_t)head | (g->_gc_next & 3);
    head->_gc_prev = (uintptr_t)g | (head->_gc_prev & 3);
}

/* How many collections of generation gen (0 the youngest, 2 the oldest) have finished, as
 * gc.get_stats() counts them (bumped when one ends). A walk in slices goes on from where it
 * stopped only if none of its generation or an older one ran. */
static inline uint64_t
lt_py_gc_collections_of(const struct _gc_runtime_state *gc, int gen)
{
#if PY_VERSION_HEX >= 0x030F0000
    /* 3.15: ring buffers of statistics, young for generation 0 and old[0], old[1] for 1 and 2;
     * the newest entry of each holds the running totals (checked against gc.get_stats() on
     * 3.15.2, past the buffers' wrap). */
    const struct gc_stats *st = gc->generation_stats;
    if (st == NULL)
        return 0;
    if (gen == 0)
        return (uint64_t)st->young.items[st->young.index].collections;
    const struct gc_old_stats_buffer *old = &st->old[gen == 1 ? 0 : 1];
    return (uint64_t)old->items[old->index].collections;
#else
    return (uint64_t)gc->generation_stats[gen].collections;
#endif
}

/* How many collections have finished, all generations together: a walk that saw this number
 * change while it let go of the GIL knows objects moved between lists meanwhile. */
static inline uint64_t
lt_py_gc_collections(const struct _gc_runtime_state *gc)
{
    uint64_t n = 0;
    for (int i = 0; i < NUM_GENERATIONS; i++)
        n += lt_py_gc_collections_of(gc, i);
    return n;
}

#endif
