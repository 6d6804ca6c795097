/*
 * The census walk over the host's garbage-collected objects, per CPython version. Needs the GIL.
 * It never allocates a Python object and never calls Python code, so no collection can start
 * while it runs.
 */
#ifndef LEAKTOP_PY_CENSUS_H
#define LEAKTOP_PY_CENSUS_H

#include <Python.h>

#include "type_census.h"

/* Add every GC-tracked object to c (reset first by the caller). Returns 0, or -1 without walking
 * when a garbage collection is in progress (finalizers running Python code can hand the GIL to
 * us mid-collection, when the generation lists are being rearranged). */
int lt_py_census_walk(lt_census *c);

/* Call fn on every GC-tracked object until it returns 0, from the oldest to the youngest: the
 * permanent generation, then generations 2, 1 and 0, each list in the order its objects joined
 * it (so the last object visited is the youngest tracked). The same rules as the census: no
 * Python object may be created and no Python code run from fn. Returns 0, or -1 without walking
 * when a garbage collection is in progress. */
int lt_py_gc_for_each(int (*fn)(PyObject *op, void *arg), void *arg);

/* The same walk backwards, the youngest first: generation 0 (never survived a collection) from
 * the object tracked last to the oldest, then generations 1 and 2 the same way, then what
 * gc.freeze() moved away; fn gets the generation (0-2; 3 for the frozen). A collection appends
 * its survivors to the next generation's tail, so this is allocation order, newest first, for
 * objects tracked when created (instances, lists, ...); a dict or tuple CPython tracks later
 * counts from then. The same rules and return values as lt_py_gc_for_each. */
int lt_py_gc_for_each_newest(int (*fn)(PyObject *op, int gen, void *arg), void *arg);

#endif
