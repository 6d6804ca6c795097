/*
 * Which CPython releases an agent module may run in, decided from version numbers alone (plain
 * C, no Python): the module calls it at import with the headers it was built against and the
 * interpreter it was loaded into (Py_Version). The interpreter's extension suffix already keeps a
 * module to its own minor version; what is left are the patch releases whose private layouts
 * differ from the headers' within that minor:
 *   3.14.0-3.14.4  the incremental garbage collector (other GC lists, another struct layout, a
 *                  flag bit in _gc_next); 3.14.5 went back to the generational one
 *   pre-releases   (alpha, beta, candidate) of 3.14 and later: their internal structs change from
 *                  one to the next, so only the exact release the module was built against
 */
#ifndef LEAKTOP_PYTHON_SUPPORT_H
#define LEAKTOP_PYTHON_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "leaktop/version.h" /* LEAKTOP_PYTHONS: what is supported, as said to people */

/* The newest minor version whose internals the agent knows (3.15). */
#define LT_PYTHON_NEWEST_MINOR 15

/* Decide whether a module built against headers `built` (PY_VERSION_HEX) can run in an
 * interpreter of version `running` (Py_Version, same encoding). Returns 1 when it can; 0 when it
 * cannot, with the reason as one line in why (truncated to whylen; why is always terminated, empty
 * when supported). */
int lt_python_supported(uint32_t built, uint32_t running, char *why, size_t whylen);

#endif
