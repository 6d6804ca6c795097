/* The GC view: the collector's state per generation, and what it could not free. */
#include <stdio.h>

#include "crt.h"
#include "format.h"
#include "ui.h"

void
lt_view_gc_draw(lt_ui *ui, int y, int height)
{
    const lt_model *m = ui->model;
    uint32_t first, end;
    lt_ui_window(ui, &first, &end);
    if (end == 0 || height < 4)
        return;
    const lt_point *p = lt_model_point(m, end - 1);
    const lt_point *b = lt_model_point(m, lt_ui_baseline(ui, first, end));
    double dt = (double)(p->mono_ns - b->mono_ns) / 1e9;
    char a[64], c[64], d[64];
    lt_crt_bar(y, LT_A_TITLE);
    lt_crt_printf(y, 1, LT_A_TITLE, "%-12s %14s %14s %14s %14s", "GENERATION", "COLLECTIONS",
                  "PER MINUTE", "COLLECTED", "UNCOLLECTABLE");
    for (int g = 0; g < LT_GENERATIONS && g + 1 < height; g++) {
        double per_min = dt > 0 ? (double)(p->gc_collections[g] - b->gc_collections[g]) / dt * 60
                                : 0;
        lt_crt_printf(y + 1 + g, 1, p->gc_uncollectable[g] ? LT_A_BAD : LT_A_NORMAL,
                      "%-12d %14s %14.1f %14s %14s", g,
                      lt_fmt_count(a, sizeof a, p->gc_collections[g]), per_min,
                      lt_fmt_count(c, sizeof c, p->gc_collected[g]),
                      lt_fmt_count(d, sizeof d, p->gc_uncollectable[g]));
    }
    int row = y + 5;
    lt_crt_printf(row++, 1, p->gc_enabled ? LT_A_GOOD : LT_A_BAD, "automatic collection: %s",
                  p->gc_enabled ? "enabled" : "DISABLED (gc.disable()): cycles are never freed");
    lt_crt_printf(row++, 1, p->gc_garbage ? LT_A_BAD : LT_A_NORMAL,
                  "gc.garbage: %s objects the collector found but could not free",
                  lt_fmt_count(a, sizeof a, p->gc_garbage));
    lt_crt_printf(row++, 1, LT_A_NORMAL, "tracked objects: %s, census %.2f ms (%.1f ns each)",
                  lt_fmt_count(a, sizeof a, p->tracked), (double)p->census_ns / 1e6,
                  p->tracked ? (double)p->census_ns / (double)p->tracked : 0.0);
    lt_crt_printf(row++, 1, LT_A_NORMAL, "agent memory: %s; frames dropped for this viewer: %llu",
                  lt_fmt_bytes(a, sizeof a, p->agent_bytes), (unsigned long long)m->drops);
    if (p->have_sites)
        lt_crt_printf(row++, 1, LT_A_NORMAL,
                      "sampler: one sample per %s allocated, %llu live samples, %llu tracebacks",
                      lt_fmt_bytes(a, sizeof a, p->sample_interval),
                      (unsigned long long)p->live_samples, (unsigned long long)p->traces_total);
    lt_crt_text(row + 1, 1, LT_A_DIM, "g: run gc.collect() in the process now", 0);
}
