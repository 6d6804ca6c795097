/*
 * Python's small-object allocator (pymalloc) as it reports itself: arenas, blocks in use, free
 * blocks and pools, read on the agent thread with the GIL held and handed to the agent for the
 * MEMORY frame (the C heap and the kernel's figures are read by the plain-C core, mem_stats.h).
 *
 * _PyObject_DebugMallocStats walks every arena and pool header and prints a report (what
 * sys._debugmallocstats() shows); it is parsed from a memory stream. It reports nothing while
 * PYMEM_DOMAIN_OBJ is not pymalloc itself, which it is not while a PEP 445 hook wraps it (the
 * allocation sampler, tracemalloc): so the allocator found at import, when it is pymalloc, is
 * put back for the duration of the call and the hooks restored right after. Nothing allocates
 * from that domain meanwhile: the GIL is held and the call only reads and prints.
 *
 * All functions need the GIL.
 */
#ifndef LEAKTOP_PY_MEMSTATS_H
#define LEAKTOP_PY_MEMSTATS_H

#include <stdint.h>

#include "agent_core.h"

/* At import, before any hook of leaktop is installed: is the OBJ domain pymalloc (with or
 * without CPython's debug hooks)? Remember it if so. Without it, MEMORY has no pymalloc part
 * (PYTHONMALLOC=malloc, or tracemalloc started before leaktop was imported). */
void lt_py_memstats_init(void);

/* In the sample callback: read pymalloc when due and hand the newest reading to the agent
 * (lt_agent_memory_python). A reading costs about a microsecond per arena; when it takes more
 * than 1% of interval_ms (in the agent thread's CPU time, so a reading descheduled on a busy
 * machine does not count its wait) it is taken every Nth sample instead, N chosen to keep that
 * budget, and the samples in between carry the last reading with its age (py_age, samples).
 * A reading is one hold of the GIL that cannot be cut: it is not taken while the last one's CPU
 * time, scaled by the heap's growth since (objects: the census's tracked objects, 0 unknown),
 * would pass bound_ns (max_pause); the last reading then stays, its age growing, until the heap
 * shrinks back. */
void lt_py_memstats_collect(lt_agent *a, uint32_t interval_ms, uint64_t objects,
                            uint64_t bound_ns);

/* In a forked child: the schedule starts again. */
void lt_py_memstats_after_fork_child(void);

#endif
