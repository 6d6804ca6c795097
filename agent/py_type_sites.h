/*
 * Where the live instances of a type were allocated, from the allocation sampler: walk the
 * GC-tracked objects of the type and look each one's memory block up among the sampler's live
 * samples (heap_sampler.h). The block starts before the object by CPython's pre-header: the GC
 * header (3.8+), and on 3.11 the managed-dict pointers, on 3.12+ those or the managed weakref
 * list (_PyType_PreHeaderSize in each version's internal/pycore_object.h).
 *
 * What it can see: instances whose block the sampler picked (about one in interval/size), with
 * the traceback of the allocation that made the block. An object taken from a free list (dicts,
 * lists, tuples, frames, ...) reuses a block allocated earlier, maybe elsewhere: for such
 * builtins the site may be an older allocation's; user classes have no free list.
 */
#ifndef LEAKTOP_PY_TYPE_SITES_H
#define LEAKTOP_PY_TYPE_SITES_H

#include <Python.h>

#include "type_sites.h"

/* Fill ts for type_name (as the census names types: "dict", "module.QualName"): instances
 * walked, each sampled one added with its site, the sampler's mean, the longest hold of the GIL;
 * with the sampler off, only a note. The walk goes in slices of at most max_pause_ns (as the
 * census, py_census.h), the GIL released between them. Must be called holding the GIL, from a
 * thread whose own allocations are not sampled (lt_py_alloc_hook_guard). Returns 0, or -1 with
 * ts->note when collections kept moving the heap for a minute. Never raises a Python
 * exception. */
int lt_py_type_sites(const char *type_name, lt_type_sites *ts, uint64_t max_pause_ns);

/* When the block of op (a GC-tracked object) is one of the sampler's live samples: its sequence
 * number, larger for newer samples; else 0 (also with the sampler off). GIL held. */
uint64_t lt_py_sampled_seq(PyObject *op);

/* The census met type (held, GIL held) under the name name_id: tell the estimates between
 * censuses (py_sites.h) its pre-header and sizes, so its instances' sampled blocks are
 * recognised. Out of memory leaves the type unrecognised. */
void lt_py_type_est_learn_type(const void *type, uint32_t name_id);

#endif
