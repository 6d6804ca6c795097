/* The Memory view: where the process's RSS goes, part by part (breakdown.h), with each part's
 * share, rate and curve; the allocators' own figures; every limit found and when the one that
 * binds first is reached (oom_forecast.h). The stacked bar of the header is drawn here too. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "breakdown.h"
#include "crt.h"
#include "format.h"
#include "leaktop/mem.h"
#include "oom_forecast.h"
#include "ui.h"

/* A part's cell in the stacked bar: a glyph that tells it apart without colour, and a colour. */
static const struct {
    const char *ascii, *utf8;
    lt_attr attr;
} glyphs[LT_PART_COUNT] = {
    [LT_PART_PY_USED] = {"#", "\xe2\x96\x88", LT_A_GOOD},     /* █ */
    [LT_PART_PY_FREE] = {"+", "\xe2\x96\x93", LT_A_GOOD},     /* ▓ */
    [LT_PART_NATIVE_USED] = {"=", "\xe2\x96\x92", LT_A_WARN}, /* ▒ */
    [LT_PART_AGENT] = {"a", "\xe2\x96\xaa", LT_A_DIM},        /* ▪ */
    [LT_PART_NATIVE_FREE] = {"-", "\xe2\x96\x91", LT_A_WARN}, /* ░ */
    [LT_PART_FILE] = {"f", "\xe2\x96\xab", LT_A_LABEL},       /* ▫ */
    [LT_PART_OTHER] = {".", "\xc2\xb7", LT_A_NORMAL},         /* · */
};

const char *
lt_part_glyph(lt_part part)
{
    return lt_crt_utf8() ? glyphs[part].utf8 : glyphs[part].ascii;
}

int
lt_memory_bar_draw(const lt_breakdown *b, int y, int x, int width)
{
    if (!b->valid || width <= 0)
        return 0;
    double total = 0;
    for (int k = 0; k < LT_PART_COUNT; k++)
        total += b->part[k] > 0 ? (double)b->part[k] : 0;
    if (total <= 0)
        return 0;
    /* Largest remainders: the cells add up to the width exactly. */
    int cells[LT_PART_COUNT], used = 0;
    double rem[LT_PART_COUNT];
    for (int k = 0; k < LT_PART_COUNT; k++) {
        double exact = b->part[k] > 0 ? (double)b->part[k] / total * width : 0;
        cells[k] = (int)exact;
        rem[k] = exact - cells[k];
        used += cells[k];
    }
    while (used < width) {
        int best = 0;
        for (int k = 1; k < LT_PART_COUNT; k++)
            if (rem[k] > rem[best])
                best = k;
        cells[best]++;
        rem[best] = -1;
        used++;
    }
    int col = x;
    for (int k = 0; k < LT_PART_COUNT; k++)
        for (int c = 0; c < cells[k]; c++)
            col += lt_crt_text(y, col, glyphs[k].attr, lt_part_glyph((lt_part)k), 1);
    return col - x;
}

static const lt_table_col memory_cols[] = {
    {"PART", 0, 0}, {"BYTES", 10, 1}, {"SHARE", 6, 1}, {"PER S", 11, 1}, {"TREND", 16, 0},
};

const lt_table_col *
lt_view_memory_cols(int *ncols)
{
    *ncols = (int)(sizeof memory_cols / sizeof memory_cols[0]);
    return memory_cols;
}

void
lt_view_memory_build(lt_ui *ui, lt_table *t)
{
    const lt_model *m = ui->model;
    lt_table_clear(t);
    uint32_t first, end;
    lt_ui_window(ui, &first, &end);
    if (end == 0)
        return;
    lt_breakdown b;
    lt_breakdown_of(lt_model_point(m, end - 1), &b);
    if (!b.valid)
        return;
    uint64_t *values = lt_malloc(m->cap * sizeof *values);
    if (values == NULL)
        return;
    for (int k = 0; k < LT_PART_COUNT; k++) {
        if ((k == LT_PART_PY_USED || k == LT_PART_PY_FREE) && !b.have_py)
            continue;
        if ((k == LT_PART_NATIVE_USED || k == LT_PART_NATIVE_FREE || k == LT_PART_AGENT) &&
            !b.have_heap)
            continue;
        lt_table_row *r = lt_table_add(t);
        if (r == NULL)
            break;
        for (uint32_t i = 0; i < m->n; i++)
            values[lt_model_slot(m, i)] = lt_breakdown_value(m, i, (lt_part)k);
        int64_t v = b.part[k];
        snprintf(r->name, sizeof r->name, "%s %s", lt_part_glyph((lt_part)k),
                 lt_part_name((lt_part)k));
        r->key = (uint64_t)k;
        char num[32];
        lt_fmt_bytes(num, sizeof num, (uint64_t)(v < 0 ? -v : v));
        snprintf(r->cells[1], LT_TABLE_CELL, "%s%s", v < 0 ? "-" : "", num);
        snprintf(r->cells[2], LT_TABLE_CELL, "%.0f%%", b.rss ? 100.0 * (double)v / b.rss : 0.0);
        double rate = lt_ui_rate(ui, values, first, end);
        lt_fmt_byte_rate(r->cells[3], LT_TABLE_CELL, rate);
        r->sort_key[1] = (double)v;
        r->sort_key[2] = (double)v;
        r->sort_key[3] = rate;
        r->sort_key[4] = rate;
        lt_ui_spark(ui, values, first, end, r);
        if (k == LT_PART_OTHER && v < 0)
            r->attr = LT_A_DIM; /* allocators hold address space not all resident */
    }
    lt_free(values);
}

/* One line per limit, the forecast, fragmentation; below the table. Returns the next row. */
static int
draw_limits(lt_ui *ui, uint32_t first, uint32_t end, int y, int bottom)
{
    char a[48], b[48], text[320];
    if (!ui->have_limits) {
        if (y < bottom)
            lt_crt_text(y++, 1, LT_A_DIM,
                        ui->live ? "limits: not readable for this process"
                                 : "limits: read from the live process only", 0);
        return y;
    }
    const lt_limits *l = &ui->limits;
    lt_forecast f;
    lt_forecast_from_model(ui->model, first, end, l, &f);
    if (y < bottom) {
        lt_attr at = !f.growing ? LT_A_NORMAL : f.eta_s < 3600 ? LT_A_BAD
                     : f.eta_s < 86400 ? LT_A_WARN : LT_A_NORMAL;
        lt_crt_text(y++, 1, at, lt_forecast_describe(&f, text, sizeof text), 0);
    }
    for (int i = 0; i < l->nlimits && y < bottom; i++) {
        const lt_limit *x = &l->limits[i];
        int binding = f.have_limit && strcmp(x->source, f.limit.source) == 0;
        lt_crt_printf(y++, 1, binding ? LT_A_VALUE : LT_A_NORMAL,
                      "%s %-32s %10s  used %10s (%3.0f%%)%s%s", binding ? ">" : " ", x->source,
                      lt_fmt_bytes(a, sizeof a, x->limit), lt_fmt_bytes(b, sizeof b, x->usage),
                      x->limit ? 100.0 * (double)x->usage / (double)x->limit : 0.0,
                      x->where[0] ? "  at " : "", x->where);
    }
    if (l->cgroup_version && y < bottom)
        lt_crt_printf(y++, 1, l->cgroup_oom_kills ? LT_A_BAD : LT_A_DIM,
                      "  cgroup v%d %s: %llu OOM kills%s", l->cgroup_version, l->cgroup,
                      (unsigned long long)l->cgroup_oom_kills,
                      l->cgroup_version == 1 && l->cgroup_failcnt ? ", limit hit (failcnt)" : "");
    return y;
}

void
lt_view_memory_draw(lt_ui *ui, int y, int height)
{
    lt_table *t = &ui->tables[LT_VIEW_MEMORY];
    const lt_model *m = ui->model;
    uint32_t first, end;
    lt_ui_window(ui, &first, &end);
    int bottom = y + height;
    if (t->nrows == 0) {
        lt_crt_text(y, 1, LT_A_DIM,
                    end ? "no memory breakdown: the agent sends none (an older leaktop agent)"
                        : "waiting for the first sample...", 0);
        if (end)
            draw_limits(ui, first, end, y + 2, bottom);
        return;
    }
    int th = t->nrows + 1 < height ? t->nrows + 1 : height;
    lt_table_draw(t, y, th);
    int row = y + th;
    const lt_point *p = lt_model_point(m, end - 1);
    const lt_memory *mem = &p->mem;
    char a[48], b[48], c[48], d[48];
    lt_breakdown bd;
    lt_breakdown_of(p, &bd);
    if (row < bottom) {
        int x = lt_crt_text(row, 1, LT_A_LABEL, "RSS ", 0) + 1;
        x += lt_crt_text(row, x, LT_A_VALUE, lt_fmt_bytes(a, sizeof a, bd.rss), 0) + 1;
        int w = lt_crt_cols() - x - 2;
        lt_memory_bar_draw(&bd, row, x, w > 60 ? 60 : w);
        row++;
    }
    if (row < bottom)
        lt_crt_printf(row++, 1, LT_A_NORMAL,
                      "swap %s (not in RSS); address space %s, of it data %s",
                      lt_fmt_bytes(a, sizeof a, mem->vm_swap), lt_fmt_bytes(b, sizeof b, mem->vm_size),
                      lt_fmt_bytes(c, sizeof c, mem->vm_data));
    char age[48] = "";
    if (mem->py_age > 0) /* a reading put off to keep its budget: say how old it is, first */
        snprintf(age, sizeof age, " (read %.1f s ago)", lt_model_py_age_s(m, end - 1));
    if (row < bottom && bd.have_py)
        lt_crt_printf(row++, 1, LT_A_NORMAL,
                      "pymalloc%s: %llu arenas, %s, %.0f%% in use (free blocks %s, empty pools "
                      "%s); read in %.2f ms",
                      age, (unsigned long long)mem->py_arenas,
                      lt_fmt_bytes(a, sizeof a, mem->py_arena_bytes),
                      mem->py_arena_bytes ? 100.0 * mem->py_used_bytes / mem->py_arena_bytes : 0.0,
                      lt_fmt_bytes(b, sizeof b, mem->py_free_block_bytes),
                      lt_fmt_bytes(c, sizeof c, mem->py_free_pool_bytes),
                      mem->py_read_ns / 1e6);
    if (row < bottom && bd.have_heap)
        lt_crt_printf(row++, 1, LT_A_NORMAL,
                      "malloc: heaps %s (free %s, %s at the top releasable), large blocks %s",
                      lt_fmt_bytes(a, sizeof a, mem->heap_arena_bytes),
                      lt_fmt_bytes(b, sizeof b, mem->heap_free_bytes),
                      lt_fmt_bytes(c, sizeof c, mem->heap_releasable_bytes),
                      lt_fmt_bytes(d, sizeof d, mem->heap_mmap_bytes));
    lt_fragmentation fr;
    if (row < bottom && lt_fragmentation_judge(m, first, &fr))
        lt_crt_text(row++, 1, LT_A_WARN, fr.reason, 0);
    row++;
    draw_limits(ui, first, end, row, bottom);
}
