/*
 * The allocation sites of one census: the heap sampler's raw tracebacks resolved to file,
 * function and line (interned with the agent's strings) and added up into the agent's site
 * table, which the agent then ranks and sends as SITES.
 */
#ifndef LEAKTOP_PY_SITES_H
#define LEAKTOP_PY_SITES_H

#include "agent_core.h"

/* On the agent thread, inside the sample callback, with the GIL held and the calling thread's
 * sampling guard on. Returns 0 (lt_agent_sites_ready called), or -1 when the sampler is not
 * running (nothing done). Out of memory makes the census partial, never fails it. */
int lt_py_sites_collect(lt_agent *a);

#endif
