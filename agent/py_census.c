/* The census walk. This is the one file that reads CPython's private GC state, so it is built
 * with Py_BUILD_CORE_MODULE against each version's internal headers:
 *   3.8        _PyRuntime.gc             walk the generation lists
 *   3.9-3.11   interp->gc                walk the generation lists
 *   3.12-3.13  interp->gc (collecting)   PyUnstable_GC_VisitObjects, then the permanent
 *                                        generation (gc.freeze()), which it leaves out
 */
#define PY_SSIZE_T_CLEAN
#ifndef Py_BUILD_CORE_MODULE
#define Py_BUILD_CORE_MODULE
#endif
#include <Python.h>

#if PY_VERSION_HEX < 0x03090000
#include "internal/pycore_pystate.h"
#else
#include "internal/pycore_interp.h"
#endif
#if PY_VERSION_HEX >= 0x030D0000
#include "internal/pycore_dict.h" /* _PyDict_SizeOf moved here */
#endif

#include "py_census.h"

static struct _gc_runtime_state *
gc_state(void)
{
#if PY_VERSION_HEX < 0x03090000
    return &_PyRuntime.gc;
#else
    return &PyInterpreterState_Get()->gc;
#endif
}

/* What one object costs on its own: the GC header and any pre-header, the struct, inline items,
 * and for the common containers the table they own (as sys.getsizeof counts it). */
static inline uint64_t
shallow_size(PyObject *op, PyTypeObject *tp)
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
    lt_census_add(c, tp, shallow_size(op, tp));
}

#if PY_VERSION_HEX >= 0x030C0000
static int
visit(PyObject *op, void *arg)
{
    count_object(arg, op);
    return 1; /* go on */
}
#endif

static void
walk_list(lt_census *c, PyGC_Head *head)
{
    for (PyGC_Head *g = (PyGC_Head *)head->_gc_next; g != head; g = (PyGC_Head *)g->_gc_next)
        count_object(c, (PyObject *)(g + 1));
}

int
lt_py_census_walk(lt_census *c)
{
    struct _gc_runtime_state *gc = gc_state();
    if (gc->collecting)
        return -1;
#if PY_VERSION_HEX >= 0x030C0000
    PyUnstable_GC_VisitObjects(visit, c);
    /* VisitObjects leaves out objects moved out of reach of the collector by gc.freeze(). */
    walk_list(c, &gc->permanent_generation.head);
#else
    for (int i = 0; i < NUM_GENERATIONS; i++)
        walk_list(c, &gc->generations[i].head);
    walk_list(c, &gc->permanent_generation.head);
#endif
    return 0;
}

/* One generation list, stopping when fn says so. Returns 0 when stopped. */
static int
for_each_in(PyGC_Head *head, int (*fn)(PyObject *, void *), void *arg)
{
    for (PyGC_Head *g = (PyGC_Head *)head->_gc_next; g != head; g = (PyGC_Head *)g->_gc_next)
        if (!fn((PyObject *)(g + 1), arg))
            return 0;
    return 1;
}

int
lt_py_gc_for_each(int (*fn)(PyObject *op, void *arg), void *arg)
{
    struct _gc_runtime_state *gc = gc_state();
    if (gc->collecting)
        return -1;
    for (int i = 0; i < NUM_GENERATIONS; i++)
        if (!for_each_in(&gc->generations[i].head, fn, arg))
            return 0;
    for_each_in(&gc->permanent_generation.head, fn, arg);
    return 0;
}
