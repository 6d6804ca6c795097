/* The Suspects view: the leaks found, most likely first (findings.c groups what suspects.c
 * judges), each one row; Enter shows the suspects it groups under it, and Enter on one of those
 * opens its detail. */
#include <stdio.h>
#include <string.h>

#include "crt.h"
#include "format.h"
#include "ui.h"

/* A finding's row key: stable across rebuilds (its lead's name), marked as a finding. */
uint64_t
lt_view_leak_key(const lt_leak *f)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = f->what; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return LT_UI_LEAK_KEY | h;
}

static const char *
base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* A name as the program's own code writes it: without the "__main__." of a script's globals
 * and classes (the row is narrow; the JSON report and the parts keep it). */
static const char *
own_name(const char *name)
{
    return strncmp(name, "__main__.", 9) == 0 && name[9] ? name + 9 : name;
}

/* The row: what grows, where, what holds it; the rate and the score have their columns. */
static void
finding_row(const lt_ui *ui, const lt_leak *f, char *out, size_t cap)
{
    const lt_model *m = ui->model;
    char where[160] = "", held[300] = "";
    if (f->have_site)
        snprintf(where, sizeof where, " at %s:%u", base_name(lt_model_string(m, f->file_id)),
                 f->line);
    if (f->kind == LT_SUSPECT_TYPE) {
        if (f->pending_tasks)
            snprintf(held, sizeof held, " held by the event loop (pending tasks)");
        else if (f->have_holder)
            snprintf(held, sizeof held, " held by %s", own_name(f->holder));
        else if (f->holder_note[0])
            snprintf(held, sizeof held, ", no holder: %s",
                     strstr(f->holder_note, "cycle") ? "cycles" : "not traced");
        char count[32] = "";
        if (f->count_per_s > 0)
            snprintf(count, sizeof count, " +%.0f/s", f->count_per_s);
        snprintf(out, cap, "%s%s%s%s", own_name(f->what), count, where, held);
    } else if (f->kind == LT_SUSPECT_SITE) {
        snprintf(out, cap, "memory allocated%s in %s", where, lt_model_string(m, f->func_id));
    } else {
        snprintf(out, cap, "%s", f->what);
    }
}

void
lt_view_suspects_build(lt_ui *ui, lt_table *t)
{
    lt_table_clear(t);
    uint32_t first, end;
    lt_ui_window(ui, &first, &end);
    /* Judge the window as it is shown (paused or not): copy the model's view of it. */
    /* "What is growing now": the last LT_UI_SUSPECT_WINDOW samples, however long the session. */
    if (end > first + LT_UI_SUSPECT_WINDOW)
        first = end - LT_UI_SUSPECT_WINDOW;
    ui->nsuspects = end > first ? lt_suspects_find(ui->model, first, ui->suspects, 64) : 0;
    /* (The model's library cache fills as a side effect: the UI's model is that cache's.) */
    ui->nleaks = lt_leaks_build((lt_model *)ui->model, ui->suspects, ui->nsuspects,
                                      ui->leaks, LT_LEAKS_MAX);
    for (int i = 0; i < ui->nleaks; i++) {
        const lt_leak *f = &ui->leaks[i];
        char text[480];
        finding_row(ui, f, text, sizeof text);
        int open = strcmp(ui->expanded, f->what) == 0;
        int shown = lt_ui_match(ui, text);
        for (int k = 0; !shown && k < f->nparts; k++)
            shown = lt_ui_match(ui, ui->suspects[f->parts[k]].name);
        if (!shown)
            continue;
        lt_table_row *r = lt_table_add(t);
        if (r == NULL)
            return;
        snprintf(r->name, sizeof r->name, "%s %s", f->nparts > 1 ? (open ? "-" : "+") : " ",
                 text);
        r->key = lt_view_leak_key(f);
        snprintf(r->cells[1], LT_TABLE_CELL, "%.2f", f->score);
        lt_fmt_byte_rate(r->cells[2], LT_TABLE_CELL, f->bytes_per_s);
        r->sort_key[1] = f->score;
        r->sort_key[2] = f->bytes_per_s;
        r->attr = f->score >= 0.8 ? LT_A_BAD : LT_A_WARN;
        if (!open)
            continue;
        /* Its parts, each one Enter from its detail. */
        for (int k = 0; k < f->nparts; k++) {
            const lt_suspect *s = &ui->suspects[f->parts[k]];
            lt_table_row *p = lt_table_add(t);
            if (p == NULL)
                return;
            char name[400];
            if (s->kind == LT_SUSPECT_SITE)
                snprintf(name, sizeof name, "%s:%u in %s",
                         base_name(lt_model_string(ui->model, s->file_id)), s->line,
                         lt_model_string(ui->model, s->func_id));
            else
                snprintf(name, sizeof name, "%s", s->name);
            snprintf(p->name, sizeof p->name, "   %s %s %s", k + 1 < f->nparts ? "|-" : "`-",
                     lt_suspect_kind_name(s->kind), name);
            p->key = (uint64_t)f->parts[k];
            snprintf(p->cells[1], LT_TABLE_CELL, "%.2f", s->score);
            lt_fmt_byte_rate(p->cells[2], LT_TABLE_CELL, s->growth_bytes_per_s);
            p->sort_key[1] = f->score;
            p->sort_key[2] = f->bytes_per_s;
            p->attr = LT_A_NORMAL;
        }
    }
}
