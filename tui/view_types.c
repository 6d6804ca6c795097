/* The Types view: live objects per type, change since the baseline, rate, bytes, trend. A
 * count estimated since the last census is shown as "~N". */
#include <math.h>
#include <stdio.h>

#include "format.h"
#include "ui.h"

void
lt_view_types_build(lt_ui *ui, lt_table *t)
{
    const lt_model *m = ui->model;
    lt_table_clear(t);
    uint32_t first, end;
    lt_ui_window(ui, &first, &end);
    if (end == 0)
        return;
    uint32_t slot = lt_model_slot(m, end - 1);
    for (uint32_t i = 0; i < m->ntypes; i++) {
        const lt_type_series *s = &m->types[i];
        uint64_t count = s->count[slot];
        if (count == LT_UNKNOWN || count == 0)
            continue;
        const char *name = lt_model_string(m, s->name_id);
        if (!lt_ui_match(ui, name))
            continue;
        lt_table_row *r = lt_table_add(t);
        if (r == NULL)
            return;
        snprintf(r->name, sizeof r->name, "%s", name);
        r->key = s->name_id;
        uint64_t then = lt_ui_base_value(ui, s->count, first, end);
        if (then == LT_UNKNOWN)
            then = count;
        int64_t change = (int64_t)count - (int64_t)then;
        double rate = lt_ui_rate(ui, s->count, first, end);
        if (fabs(rate) < 0.05)
            rate = 0; /* no "-0.0" */
        uint64_t bytes = s->bytes[slot] == LT_UNKNOWN ? 0 : s->bytes[slot];
        /* An estimate between censuses (the arrivals and the sampled deaths since) reads
         * "~12,340": plain ASCII, distinct without colour. */
        int est = lt_type_estimated(s, slot);
        lt_fmt_count(r->cells[1] + est, LT_TABLE_CELL - est, count);
        if (est)
            r->cells[1][0] = '~';
        lt_fmt_delta(r->cells[2], LT_TABLE_CELL, change);
        snprintf(r->cells[3], LT_TABLE_CELL, "%+.1f", rate);
        lt_fmt_bytes(r->cells[4], LT_TABLE_CELL, bytes);
        r->sort_key[1] = (double)count;
        r->sort_key[2] = (double)change;
        r->sort_key[3] = rate;
        r->sort_key[4] = (double)bytes;
        r->sort_key[5] = rate;
        lt_ui_spark(ui, s->count, first, end, r);
    }
}
