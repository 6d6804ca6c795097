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
        double ms = (double)p->census_ns / 1e6;
        if (ms > r->census_ms_max)
            r->census_ms_max = ms;
    }
    for (uint32_t i = 0; i < n; i++)
        y[i] = (double)lt_model_point(m, first + i)->rss;
    r->rss_growth = lt_slope(x, y, n);
    for (uint32_t i = 0; i < n; i++)
        y[i] = (double)lt_model_point(m, first + i)->heap;
    r->heap_growth = lt_slope(x, y, n);

    /* Types: every type the last sample lists, with its growth over the watch. */
    r->types = lt_calloc(m->ntypes ? m->ntypes : 1, sizeof *r->types);
    double *tx = lt_malloc(n * sizeof *tx), *ty = lt_malloc(n * sizeof *ty);
    if (r->types == NULL || tx == NULL || ty == NULL) {
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
        tr->growth_per_s = lt_slope(tx, ty, k);
    }
    lt_free(tx);
    lt_free(ty);
    lt_free(x);
    lt_free(y);
    qsort(r->types, r->ntypes, sizeof *r->types, cmp_types);
    if (top > 0 && r->ntypes > top)
        r->ntypes = top;
    return 0;
}

void
lt_report_free(lt_report *r)
{
    lt_free(r->types);
    r->types = NULL;
    r->ntypes = 0;
}
