/* Resolving raw tracebacks to named frames, and the per-census site totals. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <string.h>

#include "leaktop/mem.h"
#include "py_alloc_hook.h"
#include "py_frames.h"
#include "py_sites.h"
#include "type_estimates.h"

/* Names of one code object, remembered for the length of one census (the raw tracebacks hold
 * the code objects, so the pointers cannot be reused meanwhile). */
#define NAME_CACHE 512u

typedef struct census_ctx {
    lt_agent *a;
    struct {
        const void *code;
        uint32_t file_id, func_id;
    } names[NAME_CACHE];
} census_ctx;

static uint32_t
intern_str(lt_agent *a, PyObject *u)
{
    Py_ssize_t len = 0;
    const char *t = u != NULL && PyUnicode_Check(u) ? PyUnicode_AsUTF8AndSize(u, &len) : NULL;
    if (t == NULL) {
        PyErr_Clear();
        t = "?";
        len = 1;
    }
    return lt_agent_intern(a, t, (size_t)len);
}

static lt_trace_frame
pseudo_frame(lt_agent *a, const char *file, const char *func)
{
    lt_trace_frame f = {lt_agent_intern(a, file, strlen(file)),
                        lt_agent_intern(a, func, strlen(func)), 0};
    return f;
}

static uint32_t
resolve(void *ctx, const lt_raw_stack *s, int overflow)
{
    census_ctx *c = ctx;
    lt_trace_frame fr[LT_PY_FRAMES_MAX];
    uint32_t n = 0;
    if (overflow) {
        fr[n++] = pseudo_frame(c->a, "<leaktop>", "<traceback not kept: table full>");
    } else if (s->n == 0) {
        fr[n++] = pseudo_frame(c->a, "<unknown>", "<no Python frame>");
    } else {
        for (; n < s->n && n < LT_PY_FRAMES_MAX; n++) {
            PyObject *file, *name;
            int line;
            lt_py_frame_resolve(s->codes[n], s->addrs[n], &file, &name, &line);
            uint32_t slot = (uint32_t)(((uintptr_t)s->codes[n] >> 4) * 2654435761u) % NAME_CACHE;
            if (c->names[slot].code != s->codes[n]) {
                c->names[slot].code = s->codes[n];
                c->names[slot].file_id = intern_str(c->a, file);
                c->names[slot].func_id = intern_str(c->a, name);
            }
            fr[n].file_id = c->names[slot].file_id;
            fr[n].func_id = c->names[slot].func_id;
            fr[n].line = line > 0 ? (uint32_t)line : 0;
        }
    }
    return lt_agent_trace_intern(c->a, fr, n, s->truncated);
}

static void
add(void *ctx, uint32_t site, double bytes, double count)
{
    census_ctx *c = ctx;
    lt_site_table_add(lt_agent_sites(c->a), site, bytes, count);
}

static void
unhold(void *ctx, uint32_t site)
{
    census_ctx *c = ctx;
    lt_site_table_unhold(lt_agent_sites(c->a), site);
}

/* The per-type estimates between censuses (type_estimates.h); agent thread, GIL held. */
static lt_type_est est = {.type_offset = offsetof(PyObject, ob_type)};
static int est_rebase; /* a census completed since the last tally */

lt_type_est *
lt_py_type_est(void)
{
    return &est;
}

void
lt_py_type_est_census_done(void)
{
    est_rebase = 1;
}

int
lt_py_type_est_rebase_due(void)
{
    return est_rebase;
}

void
lt_py_type_est_reset(void)
{
    lt_type_est_free(&est);
    est_rebase = 0;
}

static uint32_t
classify(void *ctx, const void *ptr, uint64_t size)
{
    (void)ctx;
    return lt_type_est_classify(&est, ptr, size);
}

static void
tally(void *ctx, const lt_live_entry *e)
{
    (void)ctx;
    lt_type_est_tally_add(&est, e->kind, e->size, (double)e->weight, e->seq);
}

int
lt_py_sites_collect(lt_agent *a)
{
    if (!lt_py_alloc_hook_running())
        return -1;
    /* ~8 KiB of name cache: on the heap (counted), not on the agent thread's stack. */
    census_ctx *c = lt_calloc(1, sizeof *c);
    if (c == NULL)
        return -1;
    c->a = a;
    lt_site_table_begin(lt_agent_sites(a));
    lt_heap_census_ops ops = {.ctx = c, .resolve = resolve, .add = add, .unhold = unhold,
                              .classify = classify, .tally = tally,
                              .reclassify = est.relearned};
    lt_heap_totals tot;
    lt_type_est_tally_begin(&est);
    int rc = lt_py_alloc_hook_census(&ops, &tot);
    lt_free(c);
    if (rc < 0)
        return -1;
    /* The estimates: zero right after a census (its counts are fresh), else what the samples
     * that came and went since say. */
    if (lt_type_est_tally_end(&est) == 0 && est_rebase) {
        lt_census *cen = lt_agent_census(a);
        lt_type_est_rebase(&est, tot.samples, cen->rows, cen->nrows);
        est_rebase = 0;
    }
    lt_type_est_rows(&est, LT_EST_MAX_WIRE);
    lt_sites s;
    memset(&s, 0, sizeof s);
    s.sample_interval_bytes = tot.mean;
    s.heap_live_bytes = tot.live_bytes > 0 ? (uint64_t)llround(tot.live_bytes) : 0;
    s.heap_live_count = tot.live_count > 0 ? (uint64_t)llround(tot.live_count) : 0;
    s.live_samples = tot.live_samples;
    s.dropped_samples = tot.dropped;
    s.evicted_traces = tot.trace_evicted; /* the agent adds the resolved ones it evicted */
    lt_agent_sites_ready(a, &s);
    return 0;
}
