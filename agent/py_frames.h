/*
 * The current thread's Python stack, read the way the interpreter keeps it on each version
 * (py_frames.c), for the allocation hook: no allocation, no Python call, no frame object made.
 *
 * A captured frame is a borrowed code object pointer and a bytecode offset in bytes; turning it
 * into a file, a function and a line (lt_py_frame_resolve) happens later on the agent thread.
 */
#ifndef LEAKTOP_PY_FRAMES_H
#define LEAKTOP_PY_FRAMES_H

#include <Python.h>
#include <stdint.h>

/* Capture at most max frames of the calling thread's stack, newest first, into codes[] and
 * addrs[]. *truncated is set when there were more. Returns the number captured, or -1 when the
 * calling thread has no thread state or belongs to another interpreter than the main one (its
 * objects are not ours to hold). The caller holds the GIL. Never allocates, never calls Python,
 * never fails otherwise. Frames still being set up (3.11+: incomplete; 3.12+: the C-stack shims)
 * are skipped. */
int lt_py_frames_capture(const void **codes, int32_t *addrs, uint32_t max, int *truncated);

/* The file name and function name (borrowed str objects) and line of a captured frame. code must
 * still be alive (the caller holds a reference). Needs the GIL; does not allocate. */
void lt_py_frame_resolve(const void *code, int32_t addr, PyObject **file, PyObject **name,
                         int *line);

#endif
