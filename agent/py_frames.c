/*
 * Walking the Python stack inside an allocator hook, per CPython version. Built with
 * Py_BUILD_CORE_MODULE against each version's internal headers (like py_census.c):
 *   3.8-3.10  tstate->frame, a chain of real PyFrameObjects: f_code, f_lasti (bytes before 3.10,
 *             code units in 3.10), f_back
 *   3.11      tstate->cframe->current_frame, _PyInterpreterFrame: f_code, prev_instr, previous;
 *             incomplete frames (still creating cells, before their first RESUME) skipped
 *   3.12      the same, and frames owned by the C stack (entry shims) skipped
 *   3.13      tstate->current_frame; the code is f_executable (may be something else for shims),
 *             the instruction instr_ptr
 *   3.14-3.15 the same, but f_executable is a _PyStackRef (a tagged pointer: the low bits say
 *             how it is counted), the structs moved to pycore_interpframe_structs.h, and the
 *             frames the interpreter owns itself (owner >= FRAME_OWNED_BY_INTERPRETER: the C entry
 *             shims, and in 3.15 the sentinel base frame at the bottom of every thread's stack)
 *             have None as executable; they are skipped
 * The public PyThreadState_GetFrame/PyFrame_GetBack would create frame objects on 3.11+
 * (allocation inside the allocator) and can return incomplete frames.
 *
 * Line numbers come from PyCode_Addr2Line, which on 3.8-3.13 only decodes the code object's line
 * table (co_lnotab, co_linetable) and allocates nothing; tracemalloc calls it from its own hooks.
 */
#define PY_SSIZE_T_CLEAN
#ifndef Py_BUILD_CORE_MODULE
#define Py_BUILD_CORE_MODULE
#endif
#include <Python.h>

#if PY_VERSION_HEX >= 0x030E0000
#include "internal/pycore_interpframe.h"
#elif PY_VERSION_HEX >= 0x030B0000
#include "internal/pycore_frame.h"
#else
#include <frameobject.h>
#endif

#include "py_frames.h"

static PyThreadState *
this_thread_state(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyThreadState_GetUnchecked();
#else
    return _PyThreadState_UncheckedGet();
#endif
}

int
lt_py_frames_capture(const void **codes, int32_t *addrs, uint32_t max, int *truncated)
{
    PyThreadState *ts = this_thread_state();
    *truncated = 0;
    if (ts == NULL || ts->interp != PyInterpreterState_Main())
        return -1;
    uint32_t n = 0;
#if PY_VERSION_HEX < 0x030B0000
    for (PyFrameObject *f = ts->frame; f != NULL; f = f->f_back) {
        if (n == max) {
            *truncated = 1;
            break;
        }
        codes[n] = f->f_code;
#if PY_VERSION_HEX >= 0x030A0000
        addrs[n] = f->f_lasti < 0 ? -1 : f->f_lasti * (int32_t)sizeof(_Py_CODEUNIT);
#else
        addrs[n] = f->f_lasti;
#endif
        n++;
    }
#else
#if PY_VERSION_HEX >= 0x030D0000
    _PyInterpreterFrame *f = ts->current_frame;
#else
    _PyInterpreterFrame *f = ts->cframe != NULL ? ts->cframe->current_frame : NULL;
#endif
    for (; f != NULL; f = f->previous) {
#if PY_VERSION_HEX >= 0x030E0000
        if (f->owner >= FRAME_OWNED_BY_INTERPRETER)
            continue;
        PyObject *code = PyStackRef_AsPyObjectBorrow(f->f_executable);
        if (code == NULL || !PyCode_Check(code))
            continue;
#elif PY_VERSION_HEX >= 0x030D0000
        if (f->owner == FRAME_OWNED_BY_CSTACK)
            continue;
        PyObject *code = f->f_executable;
        if (code == NULL || !PyCode_Check(code))
            continue;
#elif PY_VERSION_HEX >= 0x030C0000
        if (f->owner == FRAME_OWNED_BY_CSTACK)
            continue;
#endif
        if (_PyFrame_IsIncomplete(f))
            continue;
        if (n == max) {
            *truncated = 1;
            break;
        }
#if PY_VERSION_HEX >= 0x030D0000
        codes[n] = code;
#else
        codes[n] = f->f_code;
#endif
        addrs[n] = _PyInterpreterFrame_LASTI(f) * (int32_t)sizeof(_Py_CODEUNIT);
        n++;
    }
#endif
    return (int)n;
}

void
lt_py_frame_resolve(const void *code, int32_t addr, PyObject **file, PyObject **name, int *line)
{
    PyCodeObject *co = (PyCodeObject *)code;
    *file = co->co_filename;
    *name = co->co_name;
    *line = PyCode_Addr2Line(co, addr < 0 ? -1 : addr);
}
