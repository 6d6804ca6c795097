/* Building the check report from the model. */
#include "report.h"

#include <stdlib.h>
#include <string.h>

#include "leaktop/mem.h"
#include "leaktop/sockpath.h"

double
lt_slope(const double *x, const double *y, uint32_t n)
{
    if (n < 2)
        return 0.0;
    double mx = 0, my = 0;
    for (uint32_t i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= n;
    my /= n;
    double sxy = 0, sxx = 0;
    for (uint32_t i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
    }
    return sxx > 0 ? sxy / sxx : 0.0;
}

static int
cmp_sites(const void *a, const void *b)
{
    const lt_site_report *x = a, *y = b;
    if (x->live_bytes != y->live_bytes)
        return x->live_bytes < y->live_bytes ? 1 : -1;
    int c = strcmp(x->file, y->file);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* The newest point from index first on that carries the sampler's figures, or UINT32_MAX. */
static uint32_t
last_with_sites(const lt_model *m, uint32_t first)
{
    for (uint32_t i = m->n; i-- > first;)
        if (lt_model_point(m, i)->have_sites)
            return i;
    return UINT32_MAX;
}

/* Sites: every top frame the last sampled point lists, with its growth over the watch. x[] holds
 * the watch's times (n points from first). Returns 0 or -1 when out of memory. */
static int
build_sites(lt_report *r, const lt_model *m, uint32_t first, const double *x, uint32_t top)
{
    uint32_t n = m->n - first, last = last_with_sites(m, first);
    if (last == UINT32_MAX || m->lines.n == 0)
        return 0;
    uint32_t last_slot = lt_model_slot(m, last);
    r->sites = lt_calloc(m->lines.n, sizeof *r->sites);
    double *tx = lt_malloc(n * sizeof *tx), *ty = lt_malloc(n * sizeof *ty);
    if (r->sites == NULL || tx == NULL || ty == NULL) {
        lt_free(tx);
        lt_free(ty);
        return -1;
    }
    for (uint32_t i = 0; i < m->lines.n; i++) {
        const lt_series *ls = &m->lines.items[i];
        if (ls->bytes[last_slot] == LT_UNKNOWN)
            continue;
        uint32_t k = 0;
        for (uint32_t j = 0; j < n; j++) {
            uint32_t slot = lt_model_slot(m, first + j);
            if (ls->bytes[slot] == LT_UNKNOWN)
                continue;
            tx[k] = x[j];
            ty[k] = (double)ls->bytes[slot];
            k++;
        }
        lt_site_report *sr = &r->sites[r->nsites++];
        sr->file = lt_model_string(m, ls->key.a);
        sr->function = lt_model_string(m, ls->key.b);
        sr->line = ls->key.c;
        sr->live_bytes = ls->bytes[last_slot];
        sr->live_count = ls->count[last_slot];
        sr->growth_bytes_per_s = lt_slope(tx, ty, k);
        sr->trace_id = ls->extra;
    }
    lt_free(tx);
    lt_free(ty);
    qsort(r->sites, r->nsites, sizeof *r->sites, cmp_sites);
    if (top > 0 && r->nsites > top)
        r->nsites = top;
    return 0;
}

/* The breakdown at the last point of [first, m->n) with MEMORY, and each part's slope. */
static void
build_breakdown(lt_report *r, const lt_model *m, uint32_t first, double *x, double *y)
{
    uint32_t last = UINT32_MAX;
    for (uint32_t i = m->n; i-- > first;)
        if (lt_model_point(m, i)->have_memory) {
            last = i;
            break;
        }
    if (last == UINT32_MAX)
        return;
    const lt_point *pl = lt_model_point(m, last), *p0 = lt_model_point(m, first);
    r->have_breakdown = 1;
    lt_breakdown_of(pl, &r->breakdown);
    r->memory = &pl->mem;
    r->pymalloc_age_s = lt_model_py_age_s(m, last);
    for (int part = 0; part < LT_PART_COUNT; part++) {
        uint32_t k = 0;
        for (uint32_t i = first; i < m->n; i++) {
            lt_breakdown b;
            const lt_point *p = lt_model_point(m, i);
            lt_breakdown_of(p, &b);
            if (!b.valid)
                continue;
            x[k] = (double)(p->mono_ns - p0->mono_ns) / 1e9;
            y[k] = (double)b.part[part];
            k++;
        }
        r->part_growth[part] = lt_slope(x, y, k);
    }
    for (uint32_t i = first; i < m->n; i++) {
        const lt_point *p = lt_model_point(m, i);
        if (!p->have_memory)
            continue;
        if (p->mem.py_age == 0 && p->mem.py_read_ns / 1e6 > r->pymalloc_read_ms_max)
            r->pymalloc_read_ms_max = p->mem.py_read_ns / 1e6;
        if (p->mem.heap_read_ns / 1e6 > r->malloc_read_ms_max)
            r->malloc_read_ms_max = p->mem.heap_read_ns / 1e6;
    }
    lt_fragmentation_judge(m, first, &r->fragmentation);
}

static int
cmp_types(const void *a, const void *b)
{
    const lt_type_report *x = a, *y = b;
    if (x->delta != y->delta)
        return x->delta < y->delta ? 1 : -1;
    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? 1 : -1;
    return strcmp(x->name, y->name);
}

int
lt_report_build(lt_report *r, const lt_model *m, uint32_t first, uint32_t top, char **cause)
{
    memset(r, 0, sizeof *r);
    if (first >= m->n) {
        *cause = lt_asprintf("no sample arrived from the agent");
        return -1;
    }
    uint32_t n = m->n - first;
    const lt_point *p0 = lt_model_point(m, first), *pl = lt_model_point(m, m->n - 1);
    r->command = (const char *const *)m->argv;
    r->argc = m->argc;
    r->pid = m->pid;
    r->python = m->python_version;
    r->samples = n;
    r->duration_s = (double)(pl->mono_ns - p0->mono_ns) / 1e9;
    r->rss = pl->rss;
    r->heap = pl->heap;
    r->tracked = pl->tracked;
    r->agent_bytes = pl->agent_bytes;
    r->census_ms_last = (double)pl->census_ns / 1e6;
    r->counts_age_s = lt_model_counts_age(m, pl);
    r->counts_exact = pl->counts_exact;
    r->census_cpu_ms_last = (double)pl->census_cpu_ns / 1e6;
    r->census_slices_last = pl->census_slices;
    r->census_budget = (double)pl->budget_ppm / 1e6;
    r->gc_enabled = pl->gc_enabled;
    for (int g = 0; g < 3; g++) {
        r->gc_collections[g] = pl->gc_collections[g];
        r->gc_uncollectable += pl->gc_uncollectable[g];
    }

    double *x = lt_malloc(n * sizeof *x), *y = lt_malloc(n * sizeof *y);
    if (x == NULL || y == NULL) {
        lt_free(x);
        lt_free(y);
        *cause = lt_asprintf("out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        const lt_point *p = lt_model_point(m, first + i);
        x[i] = (double)(p->mono_ns - p0->mono_ns) / 1e9;
        if (p->rss_peak > r->rss_peak)
            r->rss_peak = p->rss_peak;
        if (p->rss > r->rss_peak)
            r->rss_peak = p->rss;
        if (p->agent_bytes > r->agent_bytes_max)
            r->agent_bytes_max = p->agent_bytes;
        double ms = (double)p->census_ns / 1e6;
        if (ms > r->census_ms_max)
            r->census_ms_max = ms;
        double hold = (double)p->census_max_hold_ns / 1e6;
        if (hold > r->census_hold_ms_max)
            r->census_hold_ms_max = hold;
    }
    for (uint32_t i = 0; i < n; i++)
        y[i] = (double)lt_model_point(m, first + i)->rss;
    r->rss_growth = lt_slope(x, y, n);
    for (uint32_t i = 0; i < n; i++)
        y[i] = (double)lt_model_point(m, first + i)->heap;
    r->heap_growth = lt_slope(x, y, n);
    r->heap_gc = pl->heap;

    /* With the allocation sampler, the heap is its estimate of every live block (the GC census
     * only sees container objects). */
    uint32_t ls = last_with_sites(m, first);
    if (ls != UINT32_MAX) {
        const lt_point *p = lt_model_point(m, ls);
        r->heap_sampled = 1;
        r->heap = p->heap_sampled;
        r->sample_interval_bytes = p->sample_interval;
        r->live_samples = p->live_samples;
        r->dropped_samples = p->dropped_samples;
        r->evicted_traces = p->evicted_traces;
        r->sampled_traces = p->traces_total;
        uint32_t k = 0;
        for (uint32_t i = 0; i < n; i++) {
            const lt_point *q = lt_model_point(m, first + i);
            if (!q->have_sites)
                continue;
            x[k] = (double)(q->mono_ns - p0->mono_ns) / 1e9;
            y[k] = (double)q->heap_sampled;
            k++;
        }
        r->heap_growth = lt_slope(x, y, k);
        for (uint32_t i = 0; i < n; i++) /* x[] again holds every point's time */
            x[i] = (double)(lt_model_point(m, first + i)->mono_ns - p0->mono_ns) / 1e9;
    }

    build_breakdown(r, m, first, x, y);
    for (uint32_t i = 0; i < n; i++) /* x[] again holds every point's time */
        x[i] = (double)(lt_model_point(m, first + i)->mono_ns - p0->mono_ns) / 1e9;

    /* Types: every type the last sample lists, with its growth over the watch. */
    r->types = lt_calloc(m->ntypes ? m->ntypes : 1, sizeof *r->types);
    double *tx = lt_malloc(n * sizeof *tx), *ty = lt_malloc(n * sizeof *ty);
    if (r->types == NULL || tx == NULL || ty == NULL || build_sites(r, m, first, x, top) < 0) {
        lt_free(tx);
        lt_free(ty);
        lt_free(x);
        lt_free(y);
        lt_report_free(r);
        *cause = lt_asprintf("out of memory");
        return -1;
    }
    uint32_t last_slot = lt_model_slot(m, m->n - 1);
    for (uint32_t t = 0; t < m->ntypes; t++) {
        const lt_type_series *s = &m->types[t];
        if (s->count[last_slot] == LT_UNKNOWN || s->count[last_slot] == 0)
            continue;
        uint32_t k = 0;
        uint64_t first_count = LT_UNKNOWN;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t slot = lt_model_slot(m, first + i);
            if (s->count[slot] == LT_UNKNOWN)
                continue;
            if (first_count == LT_UNKNOWN)
                first_count = s->count[slot];
            tx[k] = x[i];
            ty[k] = (double)s->count[slot];
            k++;
        }
        lt_type_report *tr = &r->types[r->ntypes++];
        tr->name = lt_model_string(m, s->name_id);
        tr->count = s->count[last_slot];
        tr->bytes = s->bytes[last_slot];
        tr->delta = (int64_t)tr->count - (int64_t)first_count;
        tr->estimated = lt_type_estimated(s, last_slot);
        tr->count_sd = tr->estimated ? s->est_sd[last_slot] : 0;
        tr->unsampled = tr->estimated ? s->est_unsampled[last_slot] : 0;
        tr->growth_per_s = lt_slope(tx, ty, k);
    }
    lt_free(tx);
    lt_free(ty);
    lt_free(x);
    lt_free(y);
    qsort(r->types, r->ntypes, sizeof *r->types, cmp_types);
    if (top > 0 && r->ntypes > top)
        r->ntypes = top;
    r->model = m;
    r->suspects = lt_calloc(LT_REPORT_MAX_SUSPECTS, sizeof *r->suspects);
    if (r->suspects != NULL)
        r->nsuspects = lt_suspects_find(m, first, r->suspects, LT_REPORT_MAX_SUSPECTS);
    return 0;
}

void
lt_report_set_limits(lt_report *r, const lt_model *m, uint32_t first, const lt_limits *l)
{
    r->have_limits = 1;
    r->limits = *l;
    lt_forecast_from_model(m, first, m->n, l, &r->forecast);
    /* The time to the limit counts from when the usage was read. */
    r->forecast_wall_s = l->read_wall_ns ? (double)l->read_wall_ns / 1e9
                         : m->n ? (double)lt_model_point(m, m->n - 1)->wall_ns / 1e9 : 0;
}

void
lt_report_set_leaks(lt_report *r, lt_model *m)
{
    lt_free(r->leaks);
    r->nleaks = 0;
    r->leaks = lt_calloc(LT_LEAKS_MAX, sizeof *r->leaks);
    if (r->leaks != NULL)
        r->nleaks = lt_leaks_build(m, r->suspects, r->nsuspects, r->leaks,
                                         LT_LEAKS_MAX);
}

void
lt_report_free(lt_report *r)
{
    lt_free(r->leaks);
    r->leaks = NULL;
    r->nleaks = 0;
    lt_free(r->types);
    r->types = NULL;
    r->ntypes = 0;
    lt_free(r->sites);
    r->sites = NULL;
    r->nsites = 0;
    lt_free(r->suspects);
    r->suspects = NULL;
    r->nsuspects = 0;
}
