/*
 * How long the agent holds the host's GIL at a time, per kind of work: the longest single hold
 * in wall time and in the agent thread's CPU time (wall time includes being descheduled by a
 * loaded machine; CPU time is the work itself), how many holds, their sum. Plain C: the caller
 * marks where a hold begins and ends. Written by the agent thread with the GIL held and read
 * under the GIL too, so the GIL is its lock.
 */
#ifndef LEAKTOP_GIL_HOLDS_H
#define LEAKTOP_GIL_HOLDS_H

#include <stdint.h>

typedef enum lt_hold_kind {
    LT_HOLD_CENSUS,     /* a census slice and, for the last one, the merge */
    LT_HOLD_WHY,        /* "why is it alive": a slice of a level's walk, or naming the chain */
    LT_HOLD_TYPE_SITES, /* a slice of the TYPE_SITES walk, or the owned-bytes sample */
    LT_HOLD_MEMORY,     /* the pymalloc reading (arenas and pools) */
    LT_HOLD_TICK,       /* the rest of a sample: sites, gc state */
    LT_HOLD_KINDS
} lt_hold_kind;

typedef struct lt_hold_mark {
    uint64_t wall_ns, cpu_ns;
} lt_hold_mark;

typedef struct lt_hold_stats {
    uint64_t holds;
    uint64_t longest_wall_ns, longest_cpu_ns; /* each the largest seen (maybe not one hold) */
    uint64_t total_wall_ns, total_cpu_ns;
    uint64_t over_bound; /* holds whose CPU time passed the bound (lt_holds_reset) */
} lt_hold_stats;

/* The hold begins now (the GIL just taken). Never fails. */
void lt_hold_begin(lt_hold_mark *m);

/* The hold that began at m ends now: counted under kind. Returns its wall time in ns; *cpu_ns
 * (when not NULL) gets its CPU time. An unknown kind is not counted. */
uint64_t lt_hold_end(const lt_hold_mark *m, lt_hold_kind kind, uint64_t *cpu_ns);

/* The figures of one kind since the last reset (zeros for an unknown kind). */
void lt_holds_get(lt_hold_kind kind, lt_hold_stats *out);

/* Forget every figure (a new agent starts); bound_ns is the pause bound holds are held to
 * (max_pause): over_bound counts those whose CPU time passed it (0: none counted). */
void lt_holds_reset(uint64_t bound_ns);

/* "census", "why_alive", "type_sites", "memory", "tick"; NULL for an unknown kind. */
const char *lt_hold_kind_name(lt_hold_kind kind);

#endif
