/*
 * The allocation sites of one census: the heap sampler's raw tracebacks resolved to file,
 * function and line (interned with the agent's strings) and added up into the agent's site
 * table, which the agent then ranks and sends as SITES.
 */
#ifndef LEAKTOP_PY_SITES_H
#define LEAKTOP_PY_SITES_H

#include "agent_core.h"
#include "type_estimates.h"

/* On the agent thread, inside the sample callback, with the GIL held and the calling thread's
 * sampling guard on. Returns 0 (lt_agent_sites_ready called), or -1 when the sampler is not
 * running (nothing done). Out of memory makes the census partial, never fails it. */
int lt_py_sites_collect(lt_agent *a);

/* The estimates between censuses (type_estimates.h) that lt_py_sites_collect keeps: the rows
 * of its last tally are in lt_py_type_est()->rows. census_done: a census was published (its
 * types learnt), so the next tally is the new baseline. reset: forget everything (the agent
 * stops, or starts in a forked child). Agent thread, GIL held. */
#include "type_estimates.h"
lt_type_est *lt_py_type_est(void);
void lt_py_type_est_census_done(void);
int lt_py_type_est_rebase_due(void); /* census_done was called since the last tally */
void lt_py_type_est_reset(void);

#endif
