/*
 * "Why is it alive": a chain of references from a root (a module global, a class attribute, a
 * frame's local) down to a live instance of a type, as objgraph.find_backref_chain finds one,
 * without building a list of the heap and without running Python code during the walks.
 *
 * Breadth-first, upwards from one instance of the type at a time: from each of its youngest
 * instances (a growing type's young ones are mostly the ones that leak), the answer most of them
 * give; failing any, from the one the allocation sampler picked most recently, then a few of a
 * reservoir of LT_WHY_START spread over the heap. Finding the instances is one walk over the
 * GC-tracked objects, and so is each level: it asks each object (through tp_traverse) whether it
 * refers to the previous level. Every walk goes in slices as the census's (py_census.h), the GIL
 * let go between them: every object found, the instances picked and the walk's cursor are held
 * by strong references, a collection that moved the lists makes the walk go on correctly or
 * start over, so no hold of the GIL lasts longer than the pause bound however big the heap.
 */
#ifndef LEAKTOP_PY_REFERRERS_H
#define LEAKTOP_PY_REFERRERS_H

#include <stddef.h>
#include <stdint.h>

#define LT_WHY_START 256      /* instances the search starts from */
#define LT_WHY_YOUNG 8        /* the youngest instances, each searched from; most agree */
#define LT_WHY_YOUNG_MAX 32   /* and past temporaries in flight, up to this many */
#define LT_WHY_MAX_LEVELS 16
#define LT_WHY_MAX_HOPS 24
#define LT_WHY_FRONTIER_MAX 20000

typedef struct lt_why_hop {
    char text[160]; /* "__main__.bus", ".handlers", "[1041]", "[<str key, item 3>]", ... */
    char type[96];  /* the type of the object reached by this hop */
} lt_why_hop;

typedef struct lt_why {
    int found;       /* 1: the chain reaches a root */
    int nhops;       /* hops[0] is the root */
    lt_why_hop hops[LT_WHY_MAX_HOPS];
    int levels;      /* levels searched */
    double max_pause_ms, total_ms; /* the longest hold of the GIL (wall), the whole search */
    double max_pause_cpu_ms;       /* the longest hold in the agent thread's CPU time */
    uint32_t holds, slices, restarts; /* holds of the GIL, walk slices, walks started over */
    int skipped;     /* a walk skipped part of a list (collections kept moving it) */
    uint64_t instances; /* of the type, when the search began */
    char note[160];  /* why nothing was found, when found is 0 */
} lt_why;

/* Search for type_name (as the census names types). Must be called holding the GIL; releases
 * and retakes it between the slices of its walks, each slice within max_pause_ns as a census
 * slice (40% of it, the young lists 30% more); each hold is counted under LT_HOLD_WHY
 * (gil_holds.h). budget_ms bounds the time the search holds the GIL in all, and four times
 * budget_ms its wall time; it ends early as out of budget once *stop (atomic, when not NULL)
 * is nonzero. Returns 0 with *out filled
 * (found or not), or -1 when out of memory. Never raises a Python exception. */
int lt_py_why_alive(const char *type_name, double budget_ms, uint64_t max_pause_ns,
                    const int *stop, lt_why *out);

/* Whether the chains name the keys of dicts that are data (not namespaces): off by default, so
 * a hop into a plain dict reads "[<str key, item 12>]" (the key's type and the item's position
 * in iteration order) and never the key's text; on, "['alice@example.com']" and "[12345]". The
 * process owner's choice (leaktop.start(show_keys=True)). GIL held. */
void lt_py_why_show_keys(int on);

/* The census name of a type into buf ("dict", "module.QualName"). GIL held. */
void lt_py_type_name(void *type, char *buf, size_t buflen);

/* Which objects are instances of a type given by its census name, for heap walks: a type's name
 * is rendered once and the answer kept per type pointer (256 entries; a collision renders it
 * again), so a walk over a mixed heap does not render a name per object. Zero it, set want. */
#define LT_PY_TYPE_MATCH_CACHE 256u
typedef struct lt_py_type_match {
    const char *want;
    struct {
        void *type;
        int match;
    } cache[LT_PY_TYPE_MATCH_CACHE];
} lt_py_type_match;

/* 1 when type's census name is m->want. GIL held; creates no object that outlives the call. */
int lt_py_type_matches(lt_py_type_match *m, void *type);

/* Join out's hops into one line: "__main__.bus.handlers[1041] -> method -> RequestContext". */
void lt_why_format(const lt_why *w, char *buf, size_t buflen);

#endif
