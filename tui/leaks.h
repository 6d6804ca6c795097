/*
 * Findings: the suspects that are one leak, said as one sentence. A type whose instances grow,
 * where they are allocated (the innermost line of the program's own code, from the agent's
 * TYPE_SITES answer), what holds them (the root and the container of the agent's WHY chain),
 * and the suspects that grow with it: the types at the same pace or on its chain, and the
 * sites at the same pace in the same file. Sites and native memory that no type explains are
 * findings of their own.
 *
 * Built from suspects.c's list and the answers the model holds; asking the agent is the
 * caller's (lt_leaks_wanted says about which types). Plain C over the model, no I/O.
 */
#ifndef LEAKTOP_LEAKS_H
#define LEAKTOP_LEAKS_H

#include <stdint.h>

#include "model.h"
#include "suspects.h"

#define LT_LEAK_MAX_PARTS 8
#define LT_LEAKS_MAX 16

typedef struct lt_leak {
    lt_suspect_kind kind;    /* of the lead: type, site or native */
    int parts[LT_LEAK_MAX_PARTS]; /* indexes into the suspects, the lead first */
    int nparts;
    uint32_t name_id;        /* kind type: the lead type's STRING id */
    char what[256];          /* what grows: "__main__.Result", or the site's, or native's name */
    double count_per_s;      /* the lead's instances (or blocks) per second */
    double bytes_per_s;      /* everything the finding's parts add per second */
    double owned_each;       /* kind type: mean bytes an instance owns (__sizeof__); 0 unknown */
    double shallow_each;     /* kind type: mean shallow bytes of an instance; 0 unknown */
    /* Where: the innermost frame of the program's own code, and its traceback. */
    int have_site;
    uint32_t file_id, func_id, line, trace_id, lib_frames;
    /* What holds it: the chain's root ("__main__"), its container expression
     * ("__main__.bus.handlers") and that container's type ("list"); or why not. */
    int have_holder;
    char root[160], holder[256], holder_type[96];
    char holder_note[160];
    int pending_tasks;       /* asyncio tasks the event loop keeps: holder is what lists them
                              * (its task set), holder_note says so */
    double score;            /* 0..1: how sure */
    char score_why[256];     /* why that sure */
    char sentence[768];      /* the row: what grows, where, what holds it */
} lt_leak;

/* Group the ns suspects (most likely first) into findings, most likely first, at most max.
 * Returns how many. The model's library cache is filled as a side effect. */
int lt_leaks_build(lt_model *m, const lt_suspect *s, int ns, lt_leak *out, int max);

/* The type suspects whose WHY and TYPE_SITES answers the findings use (each finding's types),
 * as STRING ids into ids[0..max), most important first. Returns how many. */
int lt_leaks_wanted(const lt_leak *f, int nf, const lt_suspect *s, uint32_t *ids,
                       int max);

#endif
