/*
 * The census walk over the host's garbage-collected objects, per CPython version. Needs the GIL.
 * It never allocates a Python object and never calls Python code, so no collection can start
 * while it runs.
 */
#ifndef LEAKTOP_PY_CENSUS_H
#define LEAKTOP_PY_CENSUS_H

#include <Python.h>

#include <stdint.h>

#include "type_census.h"

#define LT_PY_WALK_GENS 3

/* A census walk done in slices, the GIL released between them. Between slices it keeps a
 * strong reference to its cursor (the last object counted) and to every type it has met. A
 * slice goes on from the cursor only when nothing can have moved it or moved objects behind it:
 * no collection of the cursor's generation or an older one (the collection counters), no
 * gc.freeze()/unfreeze(), the cursor still tracked; otherwise the walk starts over (at most 3
 * times per census, then what is left of the list is skipped and `exact` cleared). */
typedef struct lt_py_walk {
    int active;       /* a walk is under way */
    int phase;        /* index in the walk order: permanent, generation 2, 1, 0 */
    PyObject *cursor; /* strong; NULL: at the start of the phase's list */
    int64_t collections[LT_PY_WALK_GENS];
    uintptr_t perm_next, perm_prev; /* the permanent list's ends at the last slice */
    uint32_t slices, restarts;
    int exact;           /* 0: part of a list was skipped after too many restarts */
    uint64_t longest_ns; /* the longest slice so far */
    /* A walk that is not a census: visit sees every object, restart is told the walk starts
     * over (forget what visit gathered). */
    void (*visit)(PyObject *op, void *arg);
    void (*restart)(void *arg);
    void *arg;
    int stop; /* set by visit: the walk ends after this object (the slice returns DONE) */
    struct lt_py_mark *mark; /* a walk of the arrivals since this mark; NULL: from the start */
    uint64_t mark_moves;     /* marks placed when the cursor was taken (a cursor that is the
                                marker has moved if a mark was placed since) */
} lt_py_walk;

enum { LT_WALK_MORE = 0, LT_WALK_DONE = 1, LT_WALK_BUSY = -1, LT_WALK_LOST = -2 };

/* A mark at the tail of the oldest generation: an empty list of the agent's own, moved there
 * when a census completes. Collections append their survivors at the tail of the next
 * generation, so what follows the mark in generation 2, with generations 1 and 0, is every
 * tracked object that joined the lists since (alive now): the arrivals. The mark is lost when
 * generation 2 is collected (its objects rearranged) or gc.freeze()/unfreeze() moves lists. */
typedef struct lt_py_mark {
    PyObject *marker; /* strong; NULL before the first mark */
    int valid;
    int64_t collections2;           /* generation 2's collections when marked */
    uintptr_t perm_next, perm_prev; /* the permanent list's ends when marked */
} lt_py_mark;

/* Place the mark (GIL held, not inside a walk's slice). Returns 0, or -1 (the mark is then not
 * valid) when a collection is in progress or the marker cannot be made. May allocate the
 * marker (and so start a collection) the first time. */
int lt_py_mark_place(lt_py_mark *m);

/* Let go of the marker (GIL held). */
void lt_py_mark_forget(lt_py_mark *m);

/* Start a walk of the arrivals since the mark into c (slices with lt_py_walk_slice, then merge
 * and lt_py_walk_finish). Returns 0, or -1 when the mark is not valid or lost (then m->valid is
 * cleared). A slice that finds the mark lost meanwhile returns LT_WALK_LOST, clears m->valid and
 * ends the walk (abandon it). GIL held. */
int lt_py_walk_begin_arrivals(lt_py_walk *w, lt_census *c, lt_py_mark *m);

/* Start a new walk into c: the previous walk is abandoned, c's slots emptied (its rows, the last
 * merge, stay). GIL held. */
void lt_py_walk_begin(lt_py_walk *w, lt_census *c);

/* The same walk for another purpose: visit(op, arg) for every object (the rules of
 * lt_py_gc_for_each: no Python object created, no Python code run), restart_fn(arg) when it
 * starts over. Slices with c NULL; finish with lt_py_walk_abandon(w, NULL). visit may set
 * w->stop to end the walk early: the slice then returns LT_WALK_DONE. GIL held. */
void lt_py_walk_begin_visit(lt_py_walk *w, void (*visit)(PyObject *op, void *arg),
                            void (*restart_fn)(void *arg), void *arg);

/* One slice, GIL held: counts objects into c until the walk is done or slice_ns have passed
 * (checked every 256 objects). Once the oldest generation is done the young ones are walked in
 * the same slice if they fit in young_grace_ns more. Returns LT_WALK_DONE (merge c, then
 * lt_py_walk_finish), LT_WALK_MORE, or LT_WALK_BUSY when a collection is in progress (nothing
 * done; try later). Never allocates a Python object nor runs Python code while walking; the old
 * cursor's reference is dropped at the end (which may run a finalizer). */
int lt_py_walk_slice(lt_py_walk *w, lt_census *c, uint64_t slice_ns, uint64_t young_grace_ns);

/* After the merge of a finished walk, or to give up on one: drop the cursor and the types held
 * and empty c's slots (rows stay). GIL held; may run deallocations. */
void lt_py_walk_finish(lt_py_walk *w, lt_census *c);
void lt_py_walk_abandon(lt_py_walk *w, lt_census *c);

/* Add every GC-tracked object to c (reset first by the caller). Returns 0, or -1 without walking
 * when a garbage collection is in progress (finalizers running Python code can hand the GIL to
 * us mid-collection, when the generation lists are being rearranged). */
int lt_py_census_walk(lt_census *c);

/* Call fn on every GC-tracked object until it returns 0, from the oldest to the youngest: the
 * permanent generation, then generations 2, 1 and 0, each list in the order its objects joined
 * it (so the last object visited is the youngest tracked). The same rules as the census: no
 * Python object may be created and no Python code run from fn. Returns 0, or -1 without walking
 * when a garbage collection is in progress. */
/* The census's shallow size of op (of type tp): struct, GC header, inline items, and a list's,
 * dict's or set's table. GIL held; never fails. */
uint64_t lt_py_shallow_size(PyObject *op, PyTypeObject *tp);

int lt_py_gc_for_each(int (*fn)(PyObject *op, void *arg), void *arg);

/* gc.isenabled(), read from the collector's state: no object made, no code run. GIL held. */
int lt_py_gc_enabled(void);

/* The same walk backwards, the youngest first: generation 0 (never survived a collection) from
 * the object tracked last to the oldest, then generations 1 and 2 the same way, then what
 * gc.freeze() moved away; fn gets the generation (0-2; 3 for the frozen). A collection appends
 * its survivors to the next generation's tail, so this is allocation order, newest first, for
 * objects tracked when created (instances, lists, ...); a dict or tuple CPython tracks later
 * counts from then. The same rules and return values as lt_py_gc_for_each. */
int lt_py_gc_for_each_newest(int (*fn)(PyObject *op, int gen, void *arg), void *arg);

#endif
