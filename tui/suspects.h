/*
 * Leak suspects: which series keep growing after warm-up, without a plateau and not as churn.
 * One module for every viewer, so the TUI and `check` give the same verdict from the same data.
 *
 * A series (a type's count, a site's live bytes, the process RSS) is judged over the points of
 * a window: after a warm-up (the first fifth), it must rise in most steps, fit a rising line
 * well, keep rising in its last third (no plateau), and grow by a margin that noise would not
 * explain. The score (0..1) multiplies those; 0.5 or more is a suspect.
 */
#ifndef LEAKTOP_SUSPECTS_H
#define LEAKTOP_SUSPECTS_H

#include <stdint.h>

#include "model.h"

#define LT_SUSPECT_THRESHOLD 0.5

typedef enum lt_suspect_kind { LT_SUSPECT_SITE, LT_SUSPECT_TYPE, LT_SUSPECT_NATIVE } lt_suspect_kind;

/* The verdict on one series. */
typedef struct lt_trend {
    double score;        /* 0..1 */
    double slope;        /* units per second over the window after warm-up */
    double last_slope;   /* over its last third */
    double r2;           /* of the line fit */
    uint32_t steps, rising, falling; /* steps after warm-up, and how many went up or down */
    double net;          /* last - first after warm-up */
} lt_trend;

/* Judge values v at times t (seconds), n points; NaN values are skipped. min_net: the smallest
 * net growth that counts (in the series' units). */
void lt_trend_judge(const double *t, const double *v, uint32_t n, double min_net, lt_trend *out);

typedef struct lt_suspect {
    lt_suspect_kind kind;
    char name[512];      /* type name, "file:line in function", or "native memory" */
    uint32_t trace_id;   /* for kind site; 0 none */
    uint32_t name_id;    /* for kind type: the STRING id of its name */
    uint32_t file_id, func_id, line; /* for kind site: the innermost frame in the program's
                                      * own code of its largest traceback (code_paths.h) */
    uint32_t lib_frames; /* for kind site: library frames newer than that one */
    double score;
    double growth_bytes_per_s;
    double growth_count_per_s;      /* objects per second (type), blocks (site) */
    int estimated;                  /* kind type: its newest count is an estimate since the
                                     * last census (the sampler's live samples) */
    char reason[256];
} lt_suspect;

/* Suspects over the model's points from index first to the newest, most likely first, at most
 * max. Returns how many (0 when the window is too short to judge: fewer than 6 points or 5 s).
 */
int lt_suspects_find(const lt_model *m, uint32_t first, lt_suspect *out, int max);

/* Fragmentation is memory an allocator holds free, not a leak: pymalloc arenas kept alive by a
 * few objects each while the objects in use stay flat, or malloc keeping freed chunks. It is
 * named as such, apart from the suspects (a leak of objects is not fragmentation, and growth
 * explained by it makes no native suspect). */
typedef struct lt_fragmentation {
    int found;
    double py_free, heap_free; /* bytes held free at the last point */
    char reason[512];
} lt_fragmentation;

/* Judge the points [first, m->n) that carry MEMORY. Returns found (0 without MEMORY). */
int lt_fragmentation_judge(const lt_model *m, uint32_t first, lt_fragmentation *out);

/* The kind's name in the JSON report: "site", "type", "native". */
const char *lt_suspect_kind_name(lt_suspect_kind k);

#endif
