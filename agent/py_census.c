/* The census walk. This is the one file that walks CPython's private GC lists, so it is built
 * with Py_BUILD_CORE_MODULE against each version's internal headers; where the lists are and how
 * to follow them, per version, is in py_gc_lists.h. Every version's lists are walked directly
 * (PyUnstable_GC_VisitObjects, 3.12+, leaves out the permanent generation on 3.12-3.13 and
 * includes it on 3.14+: one walk over all four lists counts each object once everywhere).
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

#include "py_census.h"

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

static void
walk_list(lt_census *c, PyGC_Head *head)
{
    for (PyGC_Head *g = lt_py_gc_next(head); g != head; g = lt_py_gc_next(g))
        count_object(c, lt_py_gc_object(g));
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
