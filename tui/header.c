/* The header: who is watched, and its memory at a glance (four lines). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "crt.h"
#include "format.h"
#include "leaktop/version.h"
#include "oom_forecast.h"
#include "sparkline.h"
#include "ui.h"

int
lt_header_height(void)
{
    return 4;
}

/* A sparkline of one scalar of every point in the window, at most width cells. */
static int
spark_of(const lt_ui *ui, uint32_t first, uint32_t end, size_t field, int width, int y, int x)
{
    enum { MAXP = 512 };
    double v[MAXP];
    size_t per = lt_crt_utf8() ? 2 : 1;
    uint32_t want = (uint32_t)((size_t)width * per);
    if (want > MAXP)
        want = MAXP;
    uint32_t from = end > first + want ? end - want : first;
    size_t n = 0;
    for (uint32_t i = from; i < end; i++) {
        const lt_point *p = lt_model_point(ui->model, i);
        uint64_t val;
        memcpy(&val, (const char *)p + field, sizeof val);
        v[n++] = (double)val;
    }
    char buf[MAXP * 4];
    lt_sparkline(v, n, width, lt_crt_utf8() ? LT_SPARK_BRAILLE : LT_SPARK_ASCII, buf, sizeof buf);
    int used = lt_crt_text(y, x, LT_A_SPARK, buf, width);
    /* Markers on the timeline: the cell of the sample each was dropped at. */
    const lt_model *m = ui->model;
    for (uint32_t k = 0; k < lt_model_markers_kept(m); k++) {
        uint32_t seq = lt_model_marker_at(m, k)->seq;
        for (uint32_t i = from; i < end; i++)
            if (lt_model_point(m, i)->seq == seq) {
                size_t blank = (size_t)width * per - n; /* short series sit at the right */
                int cell = (int)((blank + (i - from)) / per);
                lt_crt_text(y, x + cell, LT_A_WARN, lt_crt_utf8() ? "\xe2\x94\x83" : "|", 1);
                break;
            }
    }
    return used;
}

static double
rate_of(const lt_ui *ui, uint32_t first, uint32_t end, size_t field)
{
    uint64_t tmp[4096];
    /* lt_ui_rate reads an array indexed by ring slot: build one for this scalar. */
    const lt_model *m = ui->model;
    if (m->cap > 4096)
        return 0;
    for (uint32_t i = 0; i < m->n; i++) {
        const lt_point *p = lt_model_point(m, i);
        memcpy(&tmp[lt_model_slot(m, i)], (const char *)p + field, sizeof tmp[0]);
    }
    return lt_ui_rate(ui, tmp, first, end);
}

/* "Mem <bar> py 45% C 30% file 10%  OOM in ~3 h 10 min (...)" on row y. */
static void
draw_memory_line(const lt_ui *ui, uint32_t first, uint32_t end, const lt_point *p, int y,
                 int cols)
{
    lt_breakdown bd;
    lt_breakdown_of(p, &bd);
    int x = lt_crt_text(y, 0, LT_A_LABEL, "Mem ", 0);
    if (!bd.valid) {
        x += lt_crt_text(y, x, LT_A_DIM, "no breakdown from this agent ", 0);
    } else {
        int bw = cols / 4 < 10 ? 10 : cols / 4 > 30 ? 30 : cols / 4;
        x += lt_memory_bar_draw(&bd, y, x, bw) + 1;
        /* The three largest parts, by name and share. */
        int shown[LT_PART_COUNT] = {0};
        for (int n = 0; n < 3; n++) {
            int best = -1;
            for (int k = 0; k < LT_PART_COUNT; k++)
                if (!shown[k] && bd.part[k] > 0 && (best < 0 || bd.part[k] > bd.part[best]))
                    best = k;
            if (best < 0 || bd.rss == 0)
                break;
            shown[best] = 1;
            char item[48];
            snprintf(item, sizeof item, "%s %.0f%% ", lt_part_short((lt_part)best),
                     100.0 * (double)bd.part[best] / (double)bd.rss);
            x += lt_crt_text(y, x, LT_A_NORMAL, item, 0);
        }
    }
    if (!ui->have_limits)
        return;
    lt_forecast f;
    lt_forecast_from_model(ui->model, first, end, &ui->limits, &f);
    if (!f.have_limit)
        return;
    char text[256], a[48], b[48], c[48], d[48], e[48];
    lt_attr at = LT_A_NORMAL;
    if (f.growing) {
        lt_fmt_duration(a, sizeof a, f.eta_s);
        lt_fmt_duration(b, sizeof b, f.eta_low_s);
        if (isinf(f.eta_high_s))
            snprintf(c, sizeof c, "never");
        else
            lt_fmt_duration(c, sizeof c, f.eta_high_s);
        snprintf(text, sizeof text, " OOM in ~%s (%s-%s): %s %s at %s", a, b, c,
                 lt_fmt_bytes(d, sizeof d, f.limit.limit), f.limit.source,
                 lt_fmt_byte_rate(e, sizeof e, f.growth));
        at = f.eta_s < 3600 ? LT_A_BAD : f.eta_s < 86400 ? LT_A_WARN : LT_A_NORMAL;
    } else {
        snprintf(text, sizeof text, " limit %s %s, %.0f%% used",
                 lt_fmt_bytes(d, sizeof d, f.limit.limit), f.limit.source,
                 f.limit.limit ? 100.0 * (double)f.limit.usage / (double)f.limit.limit : 0.0);
    }
    if (x < cols)
        lt_crt_text(y, x, at, text, cols - x);
}

void
lt_header_draw(lt_ui *ui, int rows)
{
    (void)rows;
    const lt_model *m = ui->model;
    int cols = lt_crt_cols();
    uint32_t first, end;
    lt_ui_window(ui, &first, &end);
    const lt_point *p = end > 0 ? lt_model_point(m, end - 1) : NULL;
    char a[64], b[64], c[64];

    /* Line 1: leaktop, what is watched, its Python and age. */
    lt_crt_bar(0, LT_A_HEADER);
    int x = lt_crt_text(0, 0, LT_A_HEADER, "leaktop ", 0);
    x += lt_crt_text(0, x, LT_A_LABEL, ui->source_label ? ui->source_label : "", 0) + 1;
    char cmd[512] = "";
    size_t len = 0;
    for (uint32_t i = 0; i < m->argc && len < sizeof cmd - 2; i++)
        len += (size_t)snprintf(cmd + len, sizeof cmd - len, "%s%s", i ? " " : "", m->argv[i]);
    char right[96];
    double age = ui->have_proc ? ui->proc.elapsed_s
                 : p ? (double)(p->wall_ns - (m->n ? lt_model_point(m, 0)->wall_ns : p->wall_ns)) / 1e9
                     : 0;
    snprintf(right, sizeof right, " Python %s  up %s", m->python_version ? m->python_version : "?",
             lt_fmt_duration(a, sizeof a, age));
    int rw = (int)strlen(right);
    char shown[512];
    lt_fmt_elide(shown, sizeof shown, cmd, cols - x - rw - 1, lt_crt_utf8());
    lt_crt_text(0, x, LT_A_HEADER, shown, cols - x - rw - 1);
    lt_crt_text(0, cols - rw > x ? cols - rw : x, LT_A_HEADER, right, 0);

    if (p == NULL) {
        lt_crt_text(1, 0, LT_A_DIM, "waiting for the first sample...", 0);
        return;
    }
    /* Line 2: process memory (libproc2 when live, the samples otherwise) and its curve. */
    uint64_t rss = ui->have_proc && ui->proc.valid ? ui->proc.rss : p->rss;
    x = lt_crt_text(1, 0, LT_A_LABEL, "RSS ", 0);
    x += lt_crt_text(1, x, LT_A_VALUE, lt_fmt_bytes(a, sizeof a, rss), 0) + 1;
    int tailw = 0;
    char tail[160];
    if (ui->have_proc && ui->proc.valid)
        snprintf(tail, sizeof tail, " %s peak %s swap %s flt %.0f/s thr %d CPU %.0f%%",
                 lt_fmt_byte_rate(c, sizeof c, rate_of(ui, first, end, offsetof(lt_point, rss))),
                 lt_fmt_bytes(a, sizeof a, p->rss_peak), lt_fmt_bytes(b, sizeof b, ui->proc.swap),
                 ui->proc.maj_faults_per_s + ui->proc.min_faults_per_s, ui->proc.threads,
                 ui->proc.cpu_percent);
    else
        snprintf(tail, sizeof tail, " %s peak %s",
                 lt_fmt_byte_rate(c, sizeof c, rate_of(ui, first, end, offsetof(lt_point, rss))),
                 lt_fmt_bytes(a, sizeof a, p->rss_peak));
    tailw = (int)strlen(tail);
    int sw = cols - x - tailw;
    if (sw > 40)
        sw = 40;
    if (sw >= 6)
        x += spark_of(ui, first, end, offsetof(lt_point, rss), sw, 1, x);
    lt_crt_text(1, x, LT_A_NORMAL, tail, 0);

    /* Line 3: the Python heap, GC and the agent's own cost. */
    size_t heap_field = p->have_sites ? offsetof(lt_point, heap_sampled) : offsetof(lt_point, heap);
    uint64_t heap = p->have_sites ? p->heap_sampled : p->heap;
    x = lt_crt_text(2, 0, LT_A_LABEL, "Heap ", 0);
    x += lt_crt_text(2, x, LT_A_VALUE, lt_fmt_bytes(a, sizeof a, heap), 0) + 1;
    /* Counts from a census that ended a while ago (a big heap, walked within the budget). */
    char stale[80] = "", dur[24];
    double counts_age = lt_model_counts_age(m, p);
    if (counts_age > 0)
        snprintf(stale, sizeof stale, " counts %s old%s%s",
                 lt_fmt_duration(dur, sizeof dur, counts_age),
                 p->counts_exact ? "" : " (not exact)", p->nest ? ", ~ estimated since" : "");
    else if (!p->counts_exact)
        snprintf(stale, sizeof stale, " counts not exact");
    snprintf(tail, sizeof tail, " %s GC %s %llu/%llu/%llu unc %llu agent %.1fms %s drop %llu%s",
             lt_fmt_byte_rate(c, sizeof c, rate_of(ui, first, end, heap_field)),
             p->gc_enabled ? "on" : "OFF", (unsigned long long)p->gc_collections[0],
             (unsigned long long)p->gc_collections[1], (unsigned long long)p->gc_collections[2],
             (unsigned long long)(p->gc_uncollectable[0] + p->gc_uncollectable[1] +
                                  p->gc_uncollectable[2]),
             (double)p->census_ns / 1e6, lt_fmt_bytes(b, sizeof b, p->agent_bytes),
             (unsigned long long)m->drops, stale);
    tailw = (int)strlen(tail);
    sw = cols - x - tailw;
    if (sw > 40)
        sw = 40;
    if (sw >= 6)
        x += spark_of(ui, first, end, heap_field, sw, 2, x);
    lt_crt_text(2, x, p->gc_enabled ? LT_A_NORMAL : LT_A_WARN, tail, 0);

    /* Line 4: where the memory goes as a stacked bar, and the limit that binds first. */
    draw_memory_line(ui, first, end, p, 3, cols);
}
