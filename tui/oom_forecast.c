/* Time to the binding memory limit, with its uncertainty. */
#include "oom_forecast.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "format.h"
#include "leaktop/mem.h"

int
lt_forecast_fit(const double *t, const double *v, uint32_t n, double *slope, double *se)
{
    *slope = *se = 0;
    if (n < 2)
        return -1;
    double mt = 0, mv = 0;
    for (uint32_t i = 0; i < n; i++) {
        mt += t[i];
        mv += v[i];
    }
    mt /= n;
    mv /= n;
    double stt = 0, stv = 0;
    for (uint32_t i = 0; i < n; i++) {
        stt += (t[i] - mt) * (t[i] - mt);
        stv += (t[i] - mt) * (v[i] - mv);
    }
    if (stt <= 0)
        return -1;
    *slope = stv / stt;
    if (n < 3)
        return 0;
    double ssr = 0;
    for (uint32_t i = 0; i < n; i++) {
        double r = v[i] - (mv + *slope * (t[i] - mt));
        ssr += r * r;
    }
    *se = sqrt(ssr / (double)(n - 2) / stt);
    return 0;
}

/* Student's t at 97.5% for df degrees of freedom: the 95% interval of a slope. */
static double
t975(uint32_t df)
{
    static const double t[] = {0, 12.71, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                               2.262, 2.228};
    if (df < sizeof t / sizeof t[0])
        return df ? t[df] : INFINITY;
    return df < 20 ? 2.09 + (2.228 - 2.09) * (20.0 - df) / 10.0 : df < 60 ? 2.02 : 1.96;
}

/* Fill the rate and the times of f from one series (f->headroom set). */
static void
project(lt_forecast *f, const lt_forecast_series *s)
{
    f->points = s->n;
    f->window_s = s->n ? s->t[s->n - 1] - s->t[0] : 0;
    f->growing = 0;
    f->eta_s = f->eta_low_s = f->eta_high_s = INFINITY;
    if (s->n < LT_FORECAST_MIN_POINTS ||
        lt_forecast_fit(s->t, s->v, s->n, &f->growth, &f->growth_se) < 0)
        return;
    double q = t975(s->n - 2);
    /* Flat or falling: no clear rise, or one too small to matter over the window. */
    if (f->growth <= 0 || f->growth - q * f->growth_se <= 0 ||
        f->growth * f->window_s < LT_FORECAST_MIN_GAIN)
        return;
    double eta = f->headroom / f->growth;
    if (eta > LT_FORECAST_MAX_S)
        return;
    f->growing = 1;
    f->eta_s = eta;
    f->eta_low_s = f->headroom / (f->growth + q * f->growth_se);
    f->eta_high_s = f->headroom / (f->growth - q * f->growth_se);
}

void
lt_forecast_make(const lt_limits *l, const lt_forecast_series series[3], lt_forecast *out)
{
    memset(out, 0, sizeof *out);
    out->eta_s = out->eta_low_s = out->eta_high_s = INFINITY;
    for (int i = 0; i < l->nlimits; i++) {
        const lt_limit *x = &l->limits[i];
        lt_forecast f;
        memset(&f, 0, sizeof f);
        f.have_limit = 1;
        f.limit = *x;
        f.headroom = x->usage < x->limit ? (double)(x->limit - x->usage) : 0.0;
        project(&f, &series[x->figure]);
        int better;
        if (!out->have_limit)
            better = 1;
        else if (f.growing != out->growing)
            better = f.growing;
        else if (f.growing)
            better = f.eta_s < out->eta_s;
        else
            better = f.headroom < out->headroom;
        if (better)
            *out = f;
    }
}

void
lt_forecast_from_model(const lt_model *m, uint32_t first, uint32_t end, const lt_limits *l,
                       lt_forecast *out)
{
    uint32_t n = end > first ? end - first : 0;
    double *buf = lt_malloc((n ? n : 1) * 5 * sizeof *buf);
    lt_forecast_series s[3];
    memset(s, 0, sizeof s);
    if (buf == NULL) {
        lt_forecast_make(l, s, out);
        return;
    }
    /* RSS comes with every point; VmSize and VmData only with those that carried MEMORY, so
     * they have times of their own. */
    double *t = buf, *rss = buf + n, *tv = buf + 2 * n, *vms = buf + 3 * n, *vmd = buf + 4 * n;
    uint32_t k = 0, kv = 0;
    const lt_point *last = n ? lt_model_point(m, end - 1) : NULL;
    for (uint32_t i = first; i < end; i++) {
        const lt_point *p = lt_model_point(m, i);
        double ts = -(double)(last->mono_ns - p->mono_ns) / 1e9; /* seconds before the last */
        if (-ts > LT_FORECAST_WINDOW_S)
            continue;
        t[k] = ts;
        rss[k] = (double)p->rss;
        k++;
        if (p->have_memory && (p->mem.have & LT_MEM_HAVE_STATUS)) {
            tv[kv] = ts;
            vms[kv] = (double)p->mem.vm_size;
            vmd[kv] = (double)p->mem.vm_data;
            kv++;
        }
    }
    s[LT_FIGURE_RSS] = (lt_forecast_series){t, rss, k};
    s[LT_FIGURE_VM_SIZE] = (lt_forecast_series){tv, vms, kv};
    s[LT_FIGURE_VM_DATA] = (lt_forecast_series){tv, vmd, kv};
    lt_forecast_make(l, s, out);
    lt_free(buf);
}

char *
lt_forecast_describe(const lt_forecast *f, char *out, size_t len)
{
    char lim[32], rate[32], a[32], b[32], c[32], head[32];
    if (!f->have_limit) {
        snprintf(out, len, "no memory limit known");
        return out;
    }
    lt_fmt_bytes(lim, sizeof lim, f->limit.limit);
    if (!f->growing) {
        snprintf(out, len, "limit %s (%s), %s to go; not growing", lim, f->limit.source,
                 lt_fmt_bytes(head, sizeof head, (uint64_t)f->headroom));
        return out;
    }
    lt_fmt_byte_rate(rate, sizeof rate, f->growth);
    lt_fmt_duration(a, sizeof a, f->eta_s);
    lt_fmt_duration(b, sizeof b, f->eta_low_s);
    if (isinf(f->eta_high_s))
        snprintf(c, sizeof c, "never");
    else
        lt_fmt_duration(c, sizeof c, f->eta_high_s);
    snprintf(out, len, "at %s this process reaches its %s %s in about %s (%s to %s)", rate, lim,
             f->limit.source, a, b, c);
    return out;
}
