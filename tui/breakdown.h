/*
 * The parts of a process's resident memory at one point, from its MEMORY frame: Python's small
 * objects in use and what pymalloc holds free, the C heap in use (less the agent's own) and
 * free, file-backed pages, and what none of those explains. Each part is a figure the agent
 * measured, never a share guessed from another; only "unexplained" is a difference.
 *
 * Why "unexplained" can be negative: allocators count address space they hold, and part of it
 * may not be resident (a pymalloc pool never touched, a malloc'ed block never written).
 */
#ifndef LEAKTOP_BREAKDOWN_H
#define LEAKTOP_BREAKDOWN_H

#include <stdint.h>

#include "model.h"

typedef enum lt_part {
    LT_PART_PY_USED,     /* pymalloc blocks in use: Python objects of at most 512 bytes */
    LT_PART_PY_FREE,     /* pymalloc arenas not in use: free blocks and pools, overhead */
    LT_PART_NATIVE_USED, /* malloc in use: C code, and Python's blocks over 512 bytes */
    LT_PART_AGENT,       /* malloc in use by leaktop's agent */
    LT_PART_NATIVE_FREE, /* malloc's free chunks it keeps */
    LT_PART_FILE,        /* file-backed and shared resident pages: code, libraries, mmap */
    LT_PART_OTHER,       /* RSS none of the above explains: stacks, static data, ... */
    LT_PART_COUNT
} lt_part;

typedef struct lt_breakdown {
    int valid;     /* the point had a MEMORY frame */
    int have_py;   /* pymalloc was read (else its parts are 0 and counted in OTHER) */
    int have_heap; /* malloc was read */
    uint64_t rss;  /* anon + file + shmem, as the agent read them */
    uint64_t anon, swap, vm_size, vm_data;
    int64_t part[LT_PART_COUNT];
} lt_breakdown;

/* The breakdown of one point (valid = 0 without MEMORY). */
void lt_breakdown_of(const lt_point *p, lt_breakdown *out);

/* One part's value of the i-th oldest point of m, for series; LT_UNKNOWN without MEMORY (and
 * for OTHER when it is negative: a series of sizes has no negative values). */
uint64_t lt_breakdown_value(const lt_model *m, uint32_t i, lt_part part);

/* Names: for people ("Python objects"), short ones for the header bar ("py"), the JSON key
 * ("python_objects_bytes"). */
const char *lt_part_name(lt_part part);
const char *lt_part_short(lt_part part);
const char *lt_part_json(lt_part part);

#endif
