/* The Suspects view: what grows without bound, most likely first (suspects.c decides). */
#include <stdio.h>

#include "crt.h"
#include "format.h"
#include "ui.h"

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
    for (int i = 0; i < ui->nsuspects; i++) {
        const lt_suspect *s = &ui->suspects[i];
        if (!lt_ui_match(ui, s->name))
            continue;
        lt_table_row *r = lt_table_add(t);
        if (r == NULL)
            return;
        snprintf(r->name, sizeof r->name, "%s", s->name);
        r->key = (uint64_t)i;
        snprintf(r->cells[1], LT_TABLE_CELL, "%s", lt_suspect_kind_name(s->kind));
        snprintf(r->cells[2], LT_TABLE_CELL, "%.2f", s->score);
        lt_fmt_byte_rate(r->cells[3], LT_TABLE_CELL, s->growth_bytes_per_s);
        r->sort_key[2] = s->score;
        r->sort_key[3] = s->growth_bytes_per_s;
        r->attr = s->score >= 0.8 ? LT_A_BAD : LT_A_WARN;
    }
}
