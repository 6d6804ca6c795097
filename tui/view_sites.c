/* The Sites view: live allocation sites by line (the program's own, or with l the newest frame
 * even in a library), with their estimated bytes and growth. */
#include <stdio.h>

#include "format.h"
#include "ui.h"

void
lt_view_sites_build(lt_ui *ui, lt_table *t)
{
    const lt_model *m = ui->model;
    lt_table_clear(t);
    uint32_t first, end;
    lt_ui_window(ui, &first, &end);
    if (end == 0)
        return;
    uint32_t slot = lt_model_slot(m, end - 1);
    /* By the innermost line of the program's own code; l: by the newest frame, library's too. */
    const lt_series_set *set = ui->show_library ? &m->lines : &m->user_lines;
    for (uint32_t i = 0; i < set->n; i++) {
        const lt_series *s = &set->items[i];
        uint64_t bytes = s->bytes[slot];
        if (bytes == LT_UNKNOWN || bytes == 0)
            continue;
        char name[512];
        const char *file = lt_model_string(m, s->key.a);
        const char *base_name = file;
        for (const char *p = file; *p; p++)
            if (*p == '/')
                base_name = p + 1;
        snprintf(name, sizeof name, "%s:%u %s", base_name, s->key.c, lt_model_string(m, s->key.b));
        if (!lt_ui_match(ui, name) && !lt_ui_match(ui, file))
            continue;
        lt_table_row *r = lt_table_add(t);
        if (r == NULL)
            return;
        snprintf(r->name, sizeof r->name, "%s", name);
        r->key = s->extra; /* the traceback to open */
        uint64_t then = lt_ui_base_value(ui, s->bytes, first, end);
        if (then == LT_UNKNOWN)
            then = bytes;
        int64_t change = (int64_t)bytes - (int64_t)then;
        double rate = lt_ui_rate(ui, s->bytes, first, end);
        uint64_t count = s->count[slot] == LT_UNKNOWN ? 0 : s->count[slot];
        char sign[32];
        lt_fmt_bytes(r->cells[1], LT_TABLE_CELL, bytes);
        lt_fmt_count(r->cells[2], LT_TABLE_CELL, count);
        lt_fmt_bytes(sign, sizeof sign, (uint64_t)(change < 0 ? -change : change));
        snprintf(r->cells[3], LT_TABLE_CELL, "%s%.30s", change > 0 ? "+" : change < 0 ? "-" : "",
                 change ? sign : "0");
        lt_fmt_byte_rate(r->cells[4], LT_TABLE_CELL, rate);
        r->sort_key[1] = (double)bytes;
        r->sort_key[2] = (double)count;
        r->sort_key[3] = (double)change;
        r->sort_key[4] = rate;
        r->sort_key[5] = rate;
        lt_ui_spark(ui, s->bytes, first, end, r);
    }
}
