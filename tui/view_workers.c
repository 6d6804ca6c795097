/* The Workers screen: every process of the program (pid, role, RSS, growth, suspects), and the
 * findings merged over them ("in 3 of 3 workers"). Data from tree_summary.c; Enter on a process
 * (app.c) makes every other view show that one. */
#include <stdio.h>
#include <string.h>

#include "crt.h"
#include "format.h"
#include "tree_summary.h"
#include "ui.h"

static const lt_table_col workers_cols[] = {
    {"PID", 8, 1}, {"ROLE", 16, 0}, {"RSS", 9, 1}, {"GROWTH", 11, 1}, {"SUSP", 4, 1},
    {"TOP SUSPECT", 0, 0},
};
static const lt_table_col findings_cols[] = {
    {"FINDING OVER THE PROCESSES", 0, 0}, {"KIND", 6, 0}, {"WHERE", 20, 0}, {"GROWTH", 11, 1},
};

void
lt_view_workers_init(lt_ui *ui)
{
    ui->workers_table = (lt_table){.cols = workers_cols, .ncols = 6, .spark_col = -1};
    ui->findings_table = (lt_table){.cols = findings_cols, .ncols = 4, .spark_col = -1};
}

void
lt_view_workers_build(lt_ui *ui)
{
    const lt_tree_summary *s = ui->tree;
    lt_table *w = &ui->workers_table, *f = &ui->findings_table;
    lt_table_clear(w);
    lt_table_clear(f);
    if (s == NULL)
        return;
    int nworkers = 0;
    for (int i = 1; i < s->nprocs; i++)
        nworkers += !s->procs[i].gone && strcmp(s->procs[i].role, "worker") == 0;
    for (int i = 0; i < s->nprocs; i++) {
        const lt_summary_proc *p = &s->procs[i];
        if (p->gone && p->pid != ui->viewing_pid)
            continue; /* a worker that ended leaves the list (its successor joins it) */
        lt_table_row *r = lt_table_add(w);
        if (r == NULL)
            return;
        r->key = (uint64_t)p->pid;
        snprintf(r->cells[0], LT_TABLE_CELL, "%s%ld", p->pid == ui->viewing_pid ? "*" : "",
                 (long)p->pid);
        snprintf(r->cells[1], LT_TABLE_CELL, "%s%s", p->role, p->gone ? " (ended)" : "");
        if (p->samples > 0) {
            lt_fmt_bytes(r->cells[2], LT_TABLE_CELL, p->rss);
            lt_fmt_byte_rate(r->cells[3], LT_TABLE_CELL, p->rss_growth);
        } else {
            snprintf(r->cells[2], LT_TABLE_CELL, "-");
            snprintf(r->cells[3], LT_TABLE_CELL, "waiting");
        }
        snprintf(r->cells[4], LT_TABLE_CELL, "%d", p->nsuspects);
        snprintf(r->name, sizeof r->name, "%s", p->nsuspects ? p->suspects[0].name : "");
        r->attr = p->gone ? LT_A_DIM : p->nsuspects ? LT_A_WARN : LT_A_NORMAL;
    }
    lt_table_reselect(w);
    for (int i = 0; i < s->nfindings; i++) {
        const lt_finding *fd = &s->findings[i];
        if (!lt_ui_match(ui, fd->best->name))
            continue;
        lt_table_row *r = lt_table_add(f);
        if (r == NULL)
            return;
        r->key = (uint64_t)i;
        snprintf(r->name, sizeof r->name, "%s", fd->best->name);
        snprintf(r->cells[1], LT_TABLE_CELL, "%s", lt_suspect_kind_name(fd->best->kind));
        lt_finding_where(fd, s->procs[0].pid, nworkers, s->nalive, r->cells[2], LT_TABLE_CELL);
        lt_fmt_byte_rate(r->cells[3], LT_TABLE_CELL, fd->growth_bytes_per_s);
        r->attr = fd->best->score >= 0.8 ? LT_A_BAD : LT_A_WARN;
    }
    lt_table_reselect(f);
}

void
lt_view_workers_draw(lt_ui *ui, int y, int height)
{
    const lt_tree_summary *s = ui->tree;
    if (s == NULL || height < 4)
        return;
    char a[64], line[160];
    snprintf(line, sizeof line, " %d processes, RSS %s in all.  Enter: watch one   Esc/w: back",
             s->nalive, lt_fmt_bytes(a, sizeof a, s->rss_total));
    lt_crt_text(y, 0, LT_A_DIM, line, 0);
    int wh = ui->workers_table.nrows + 1;
    if (wh < 3)
        wh = 3;
    if (wh > (height - 1) / 2 + 1)
        wh = (height - 1) / 2 + 1;
    lt_table_draw(&ui->workers_table, y + 1, wh);
    int fy = y + 1 + wh, fh = height - 1 - wh;
    if (fh >= 2)
        lt_table_draw(&ui->findings_table, fy, fh);
}
