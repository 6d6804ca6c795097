/*
 * The `check` report: what the stream says about a process over a watch, computed from the
 * model (growth as least-squares slopes, deltas from the first sample that saw a type), then
 * written as the contracts' JSON or as text for a person. Collecting and judging live here;
 * writing is report_json.c and report_text.c.
 */
#ifndef LEAKTOP_REPORT_H
#define LEAKTOP_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "breakdown.h"
#include "leaks.h"
#include "model.h"
#include "oom_forecast.h"
#include "suspects.h"
#include "tree_findings.h"

struct lt_report_tree;

#define LT_REPORT_MAX_SUSPECTS 20

typedef struct lt_type_report {
    const char *name; /* points into the model */
    uint64_t count, bytes;
    int64_t delta;
    double growth_per_s;
    int estimated;     /* count and bytes are an estimate since the last census (SAMPLE 1.2) */
    uint64_t count_sd; /* then: one standard deviation of the count (sampling noise) */
    uint64_t unsampled; /* then: how much lower it may be (objects the sampler never saw) */
} lt_type_report;

/* One allocation site: the top frame of the allocating tracebacks (file:line in function). */
typedef struct lt_site_report {
    const char *file, *function; /* point into the model */
    uint32_t line;
    uint64_t live_bytes, live_count; /* the sampler's estimate of what is alive, last sample */
    double growth_bytes_per_s;       /* least-squares slope over the watch */
    uint32_t trace_id;               /* the traceback with the most live bytes there; 0 none */
} lt_site_report;

typedef struct lt_report {
    const char *const *command; /* what was run, or the process's own command line */
    uint32_t argc;
    uint32_t pid;
    const char *python;
    double duration_s;
    uint32_t samples;
    uint64_t rss, rss_peak;
    double rss_growth;
    uint64_t heap;     /* the sampler's live estimate when it runs, else GC-tracked shallow bytes */
    double heap_growth;
    int heap_sampled;  /* heap comes from the allocation sampler */
    uint64_t heap_gc;  /* shallow bytes of GC-tracked objects, last sample */
    double census_ms_last, census_ms_max;
    /* The census behind the last sample's counts: how old (0: fresh), whether exact, its CPU
     * time and slices; the longest single hold of the GIL by any census of the watch. */
    double counts_age_s;
    int counts_exact;
    double census_cpu_ms_last, census_hold_ms_max, census_budget;
    uint32_t census_slices_last;
    uint64_t tracked, agent_bytes, sample_interval_bytes;
    uint64_t agent_bytes_max; /* the most the agent held at any sample of the watch */
    /* The allocation sampler's own figures at the last sample that had them. */
    uint64_t live_samples, dropped_samples, evicted_traces;
    uint32_t sampled_traces; /* distinct tracebacks with live samples */
    int gc_enabled;
    uint64_t gc_collections[3], gc_uncollectable;
    lt_type_report *types;
    uint32_t ntypes;
    /* Allocation sites by top frame, largest live bytes first (empty without the sampler). */
    lt_site_report *sites;
    uint32_t nsites;
    /* Leak suspects, most likely first (suspects.c), and the model their tracebacks are in. */
    lt_suspect *suspects;
    int nsuspects;
    /* The suspects grouped into findings (leaks.h), most likely first: after the agent
     * was asked about them (lt_report_set_leaks). */
    lt_leak *leaks;
    int nleaks;
    const lt_model *model;
    /* Where the memory goes at the last point with MEMORY, each part's growth over the watch,
     * what reading it cost, and fragmentation (memory held free, not a leak). */
    int have_breakdown;
    lt_breakdown breakdown;
    const lt_memory *memory; /* that point's figures, in the model */
    double part_growth[LT_PART_COUNT];
    double pymalloc_read_ms_max, malloc_read_ms_max;
    double pymalloc_age_s; /* how old that point's pymalloc figures are (0: read at it) */
    lt_fragmentation fragmentation;
    /* The limits and the forecast (lt_report_set_limits); have_limits 0 when not read. */
    int have_limits;
    lt_limits limits;
    lt_forecast forecast;
    double forecast_wall_s; /* when the usages it starts from were read, Unix seconds */
    /* How the watch ended, for people: "the process exited with status 0" or NULL. */
    const char *ended;
    int have_exit;
    int exit_code, exit_signal;
    /* The program's other processes when its tree was followed (report_tree.c), or NULL: the
     * suspects written are then the findings merged over every process, each with its pids. */
    const struct lt_report_tree *tree;
} lt_report;

/* Build a report over the model's points from index `first` on (earlier ones are history from
 * before the watch), keeping the top_types types that grew most (then the largest) and as many
 * allocation sites (the largest by live bytes in the last sample that had sites), and judge
 * its leak suspects. Returns 0, or -1 when out of memory or when there is no sample at all (then
 * *cause says so). */
int lt_report_build(lt_report *r, const lt_model *m, uint32_t first, uint32_t top_types,
                    char **cause);
void lt_report_free(lt_report *r);

/* Group the report's suspects into findings with what the model now knows (the agent's WHY and
 * TYPE_SITES answers). Without memory there are none; the suspects stay. */
void lt_report_set_leaks(lt_report *r, lt_model *m);

/* The limits read for the process (lt_limits_read) and the forecast against them over the
 * report's points from first on. */
void lt_report_set_limits(lt_report *r, const lt_model *m, uint32_t first, const lt_limits *l);

/* Least-squares slope of (x, y) over n points; 0 when fewer than 2 points or x is constant. */
double lt_slope(const double *x, const double *y, uint32_t n);

/* Write the report as the contracts' JSON object (pretty-printed), or as text. */
void lt_report_write_json(const lt_report *r, FILE *f);
void lt_report_write_text(const lt_report *r, FILE *f);

#endif
