/*
 * Allocation sites as viewers see them: resolved tracebacks (file, function and line ids per
 * frame, newest first), each with a wire id announced once in a TRACE frame, and the live
 * estimate of every traceback and of every top frame (file:line in function) at one census.
 *
 * Several raw tracebacks (trace_table.h) may resolve to one site: they differ only in bytecode
 * offsets on the same lines. Each raw traceback holds its site (holders); a site nobody holds is
 * kept for late viewers until the table is over its bounds, then evicted least recently live
 * first (counted in `evicted`). Wire ids only grow: an evicted traceback that comes back gets a
 * new id, so an id never names two tracebacks.
 *
 * Handles are entry index + 1 (0: none); stable while held. Not thread-safe: the agent thread
 * owns it. Memory: lt_malloc'd, 12 bytes per frame, ~80 bytes per site, and the top-K rows
 * (plus 48 bytes per live site while a census is ranked).
 */
#ifndef LEAKTOP_SITE_TABLE_H
#define LEAKTOP_SITE_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "leaktop/proto.h"

typedef struct lt_site {
    uint64_t hash;
    lt_trace_frame *frames; /* NULL when nframes == 0 */
    uint32_t id;            /* wire id; 0: unused entry */
    uint32_t nframes;
    uint32_t holders;       /* raw tracebacks resolved to this site */
    uint32_t last_tick;     /* census when it was created or last had live bytes */
    uint8_t truncated;
    uint8_t announced;      /* its TRACE went to every viewer */
    double bytes, count;    /* live estimate at the current census */
} lt_site;

/* One top frame's total at a census (transient, while ranking). */
typedef struct lt_site_line {
    uint32_t file_id, func_id, line;
    uint32_t used;
    uint32_t best;          /* wire id of the site with the most bytes here */
    double bytes, count, best_bytes;
} lt_site_line;

typedef struct lt_site_table {
    lt_site *e;
    uint32_t cap, count, max; /* entries allocated, used, allowed */
    size_t frame_bytes, max_frame_bytes;
    uint32_t *index, index_mask; /* by frames hash: handle, 0 empty */
    uint32_t next_id;            /* the next wire id; starts at 1 */
    uint32_t unannounced;        /* sites whose TRACE was not sent yet */
    uint32_t tick;
    uint64_t evicted;            /* sites evicted (their ids retired) */
    /* census results */
    uint32_t *order;             /* scratch for ranking, cap entries */
    lt_site_row *rows;
    lt_line_row *line_rows;
    uint32_t top;                /* rows kept: K */
} lt_site_table;

/* Prepare a table for at most max sites and max_frame_bytes of frames, reporting the top `top`
 * rows per census. Returns 0, or -1 when out of memory (then every intern answers 0). */
int lt_site_table_init(lt_site_table *t, uint32_t max, size_t max_frame_bytes, uint32_t top);
void lt_site_table_free(lt_site_table *t);

/* The handle of the traceback frames[0..n) (newest first), created if new, with one more
 * holder. *added is 1 when it is new: the caller announces it (lt_site_table_trace) before any
 * SITES frame names it. When the table is full, the least recently live site nobody holds is
 * evicted to make room; returns 0 when there is none, or memory runs out. */
uint32_t lt_site_table_intern(lt_site_table *t, const lt_trace_frame *frames, uint32_t n,
                              int truncated, int *added);
/* Drop one holder of handle h (a raw traceback went away). */
void lt_site_table_unhold(lt_site_table *t, uint32_t h);

/* The TRACE of handle h (frames point into the table, valid until it changes). Returns 0, or
 * -1 when h is not a site. */
int lt_site_table_trace(const lt_site_table *t, uint32_t h, lt_trace *out);
/* Append the TRACE frame of every site not announced yet to b. Returns 0, or -1 when an
 * encoding failed (b->failed; nothing is marked). */
int lt_site_table_encode_new(const lt_site_table *t, lt_buf *b);
/* Those frames reached every viewer: mark every site announced. */
void lt_site_table_mark_announced(lt_site_table *t);
/* Append the TRACE frame of every announced site to b (for a new viewer). Returns 0 or -1. */
int lt_site_table_encode_announced(const lt_site_table *t, lt_buf *b);
/* The handle of wire id `id`, or 0 when it is unknown or was evicted. */
uint32_t lt_site_table_find_id(const lt_site_table *t, uint32_t id);

/* A census: begin (zero every estimate), add each raw traceback's estimate to its site, then
 * finish: rank sites and top frames by live bytes into out (rows owned by the table, valid until
 * the next begin). finish sets nsites, nlines and traces_total, adds the sites this table ever
 * evicted to out->evicted_traces (the caller's own evictions, if any, already there), and
 * leaves the other scalar fields alone. */
void lt_site_table_begin(lt_site_table *t);
void lt_site_table_add(lt_site_table *t, uint32_t h, double bytes, double count);
void lt_site_table_finish(lt_site_table *t, lt_sites *out);

/* Evict sites nobody holds, least recently live first, while more than keep_count sites or
 * keep_bytes of frames are held. Returns how many went. */
uint32_t lt_site_table_evict(lt_site_table *t, uint32_t keep_count, size_t keep_bytes);

/* Bytes of memory held. */
size_t lt_site_table_bytes(const lt_site_table *t);

#endif
