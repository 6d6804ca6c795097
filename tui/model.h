/*
 * What a viewer knows about one monitored process, built from the stream: its identity, the
 * interned strings, and a bounded series of samples with per-type counts aligned to them.
 * Collected here, drawn elsewhere (check's report now, the TUI later). Not thread-safe.
 */
#ifndef LEAKTOP_MODEL_H
#define LEAKTOP_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "code_paths.h"
#include "leaktop/proto.h"
#include "series_set.h"

#define LT_MODEL_MAX_TYPES 8192u
#define LT_MODEL_MAX_SITES 8192u
#define LT_MODEL_MAX_TRACES 65536u
#define LT_UNKNOWN UINT64_MAX /* a type's value in a sample that did not list it */

/* Scalars of one sample. */
typedef struct lt_point {
    uint32_t seq;
    int history; /* taken before this viewer connected */
    int types_complete;
    uint64_t wall_ns, mono_ns;
    uint64_t rss, rss_peak, heap, census_ns, tracked, agent_bytes;
    int gc_enabled;
    uint64_t gc_collections[LT_GENERATIONS], gc_collected[LT_GENERATIONS];
    uint64_t gc_uncollectable[LT_GENERATIONS], gc_garbage;
    uint32_t types_total;
    /* The census behind the counts (protocol 1.1; a 1.0 agent's are the sample's own). */
    uint64_t counts_mono_ns;
    int counts_exact;
    uint64_t census_cpu_ns, census_max_hold_ns;
    uint32_t census_slices, census_restarts, budget_ppm;
    uint32_t nest; /* types with an estimate since that census (1.2): shown "~N" */
    /* From the SITES frame of the same census, when the sampler runs. */
    int have_sites;
    uint64_t sample_interval, heap_sampled, heap_sampled_count, live_samples;
    uint64_t dropped_samples, evicted_traces;
    uint32_t traces_total;
    /* From the MEMORY frame of the same census (breakdown.h makes the parts of it). */
    int have_memory;
    lt_memory mem;
} lt_point;

/* The answer to "why is it alive" for one type. */
#define LT_MODEL_MAX_WHY 32
typedef struct lt_model_why {
    uint32_t name_id;
    int found;
    uint32_t levels;
    double max_pause_ms, total_ms;
    uint64_t instances;
    char note[160];
    uint32_t nhops;
    char (*hop_text)[160];
    char (*hop_type)[96];
} lt_model_why;

/* Where a type's live instances were allocated: the answer to TYPE_SITES, rows by live bytes. */
#define LT_MODEL_MAX_TYPE_SITES 32
#define LT_MODEL_TYPE_SITE_ROWS 16
typedef struct lt_model_type_sites {
    uint32_t name_id;
    uint64_t instances, sampled;  /* instances walked, and those the sampler holds */
    uint64_t sample_interval;     /* the sampler's mean interval; 0: it is off */
    double walk_ms;               /* how long the process was held */
    char note[128];               /* why there are no rows, or "" */
    uint32_t nrows;
    lt_type_site_row rows[LT_MODEL_TYPE_SITE_ROWS];
    uint32_t owned_sampled;       /* instances whose __sizeof__ was measured (0: none) */
    uint64_t owned_extra_bytes;   /* what they own beyond their shallow size, in all */
    uint32_t at_seq;              /* the newest sample's seq when it came (to know its age) */
} lt_model_type_sites;

/* A marker some viewer dropped on the timeline. */
#define LT_MODEL_MAX_MARKERS 256
typedef struct lt_model_marker {
    uint32_t id, seq;
    uint64_t wall_ns;
    char label[96];
} lt_model_marker;

/* An interned traceback, newest frame first. */
typedef struct lt_model_trace {
    uint32_t id;
    uint32_t nframes;
    lt_trace_frame *frames;
    int truncated;
} lt_model_trace;

/* One type name's values, aligned with the model's ring of points. */
/* est_sd[slot]: LT_EST_EXACT where count and bytes are the census's own; otherwise they are an
 * estimate since that census from the allocation sampler (SAMPLE 1.2), and est_sd is one
 * standard deviation of its count (sampling noise, capped at UINT32_MAX - 1). */
#define LT_EST_EXACT UINT32_MAX

typedef struct lt_type_series {
    uint32_t name_id;
    uint64_t *count, *bytes; /* [cap], LT_UNKNOWN where the sample did not list the type */
    uint32_t *est_sd;        /* [cap] */
    uint32_t *est_unsampled; /* [cap] with est_sd: how much lower the count may be (objects
                              * the sampler never saw, whose deaths it cannot see) */
} lt_type_series;

typedef struct lt_model {
    /* HELLO */
    int have_hello;
    uint32_t pid, interval_ms;
    uint16_t major, minor;
    char *python_version, *agent_version, *executable;
    char **argv;
    uint32_t argc;
    /* strings by id */
    char **strings;
    uint32_t nstrings;
    /* the ring of points: index (head + i) % cap for the i-th oldest */
    lt_point *points;
    uint32_t cap, head, n;
    lt_type_series *types;
    uint32_t ntypes;
    uint32_t *index, index_cap; /* name id -> series index + 1, 0 none */
    uint64_t types_refused; /* names beyond LT_MODEL_MAX_TYPES */
    /* Allocation sites: by traceback (key a = trace id), by line (file, function, line; extra =
     * the traceback with the most live bytes there). */
    lt_series_set sites, lines;
    /* The same by the innermost frame in the program's own code (code_paths.h), from the
     * tracebacks SITES lists; extra = the one with the most live bytes there. */
    lt_series_set user_lines;
    lt_code_paths code;     /* the agent's library prefixes and the user's LEAKTOP_*_PATHS */
    uint8_t *file_class;    /* by string id: 0 not known yet, 1 own, 2 library */
    uint32_t nfile_class;
    lt_model_why why[LT_MODEL_MAX_WHY]; /* answers received, newest replacing the oldest */
    uint32_t nwhy, why_next;
    lt_model_type_sites type_sites[LT_MODEL_MAX_TYPE_SITES]; /* answers, newest replacing oldest */
    uint32_t ntype_sites, type_sites_next;
    lt_model_marker markers[LT_MODEL_MAX_MARKERS]; /* ring: the newest replace the oldest */
    uint32_t nmarkers;      /* received in all; the last min(n, MAX) are kept */
    lt_model_trace *traces; /* open addressing by id; nframes == 0 and frames NULL: empty */
    uint32_t ntraces, traces_cap;
    int history_done;       /* HISTORY_END seen */
    uint64_t drops;         /* frames the agent dropped for us */
    int bye;                /* BYE reason, 0 while connected */
    char *bye_message;
} lt_model;

/* cap: samples kept (the oldest go first). Returns 0, or -1 when out of memory. */
int lt_model_init(lt_model *m, uint32_t cap);
void lt_model_free(lt_model *m);

/* Apply one decoded frame. Returns 0, or -1 with *cause (lt_free it) when the frame makes no
 * sense in this stream (a protocol error: version mismatch, a sample before HELLO). */
int lt_model_apply(lt_model *m, const lt_msg *msg, char **cause);

/* The i-th oldest point, i < m->n. */
const lt_point *lt_model_point(const lt_model *m, uint32_t i);
/* How old p's counts are, in seconds, when they are not fresh: older than two sample intervals
 * (the census is done in slices within a CPU budget, so on a big heap its counts lag); 0 when
 * fresh. */
double lt_model_counts_age(const lt_model *m, const lt_point *p);
/* How old the pymalloc reading that point i carries is, in seconds (0: taken at that sample;
 * the agent skips readings that would cost more than its budget, and the samples in between
 * carry the last one, py_age samples old). From the time of the sample the reading was taken
 * at when the model still holds it, else py_age sampling intervals. */
double lt_model_py_age_s(const lt_model *m, uint32_t i);
/* Ring slot of the i-th oldest point, to index a series' arrays. */
uint32_t lt_model_slot(const lt_model *m, uint32_t i);
/* The traceback of id, or NULL when it was never announced. */
const lt_model_trace *lt_model_trace_get(const lt_model *m, uint32_t id);
/* The i-th kept marker, oldest first (i < min(nmarkers, LT_MODEL_MAX_MARKERS)). */
const lt_model_marker *lt_model_marker_at(const lt_model *m, uint32_t i);
uint32_t lt_model_markers_kept(const lt_model *m);
/* The last "why is it alive" answer about name_id, or NULL. */
const lt_model_why *lt_model_why_get(const lt_model *m, uint32_t name_id);
/* The last TYPE_SITES answer about name_id, or NULL. */
const lt_model_type_sites *lt_model_type_sites_get(const lt_model *m, uint32_t name_id);
/* The innermost frame of t in the program's own code (code_paths.h): its index in t->frames,
 * 0 (the newest frame) when every frame is library's. */
uint32_t lt_model_user_frame(lt_model *m, const lt_model_trace *t);
/* Whether the file of string id file_id is library code (cached per id). */
int lt_model_file_is_library(lt_model *m, uint32_t file_id);
/* The text of a string id, "?" when unknown. */
const char *lt_model_string(const lt_model *m, uint32_t id);

/* Is the type's figure at slot an estimate (not the census's own count)? */
static inline int
lt_type_estimated(const lt_type_series *s, uint32_t slot)
{
    return s->est_sd[slot] != LT_EST_EXACT;
}

#endif
