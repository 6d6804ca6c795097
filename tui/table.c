/* The list table. */
#include "table.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crt.h"
#include "format.h"
#include "leaktop/mem.h"
#include "sparkline.h"

lt_table_row *
lt_table_add(lt_table *t)
{
    if (t->nrows == t->cap) {
        int cap = t->cap ? t->cap * 2 : 64;
        lt_table_row *r = lt_realloc(t->rows, (size_t)cap * sizeof *r);
        if (r == NULL)
            return NULL;
        t->rows = r;
        t->cap = cap;
    }
    lt_table_row *row = &t->rows[t->nrows++];
    memset(row, 0, sizeof *row);
    return row;
}

void
lt_table_clear(lt_table *t)
{
    t->nrows = 0;
}

void
lt_table_reselect(lt_table *t)
{
    if (t->have_selected_key)
        for (int i = 0; i < t->nrows; i++)
            if (t->rows[i].key == t->selected_key) {
                t->selected = i;
                return;
            }
    if (t->selected >= t->nrows)
        t->selected = t->nrows > 0 ? t->nrows - 1 : 0;
}

void
lt_table_free(lt_table *t)
{
    lt_free(t->rows);
    t->rows = NULL;
    t->nrows = t->cap = 0;
}

static int sort_col;
static const lt_table *sort_table;

static int
cmp_rows(const void *a, const void *b)
{
    const lt_table_row *x = a, *y = b;
    if (sort_table->cols[sort_col].width == 0)
        return strcmp(x->name, y->name);
    double p = x->sort_key[sort_col], q = y->sort_key[sort_col];
    if (p != q)
        return p < q ? 1 : -1;
    return strcmp(x->name, y->name);
}

void
lt_table_sort(lt_table *t, int col)
{
    if (col < 0 || col >= t->ncols || t->nrows == 0)
        return;
    sort_col = col;
    sort_table = t;
    qsort(t->rows, (size_t)t->nrows, sizeof *t->rows, cmp_rows);
}

void
lt_table_move(lt_table *t, int delta)
{
    long s = (long)t->selected + delta;
    if (s >= t->nrows)
        s = t->nrows - 1;
    if (s < 0)
        s = 0;
    t->selected = (int)s;
    if (t->selected < t->nrows) {
        t->selected_key = t->rows[t->selected].key;
        t->have_selected_key = 1;
    }
}

const lt_table_row *
lt_table_selected(const lt_table *t)
{
    return t->nrows > 0 && t->selected < t->nrows ? &t->rows[t->selected] : NULL;
}

/* Column x positions: fixed columns keep their width, the flexible one takes the rest. */
static void
layout(const lt_table *t, int cols, int *x, int *w)
{
    int fixed = 0;
    for (int i = 0; i < t->ncols; i++)
        fixed += t->cols[i].width + 1;
    int flex = cols - fixed - 1;
    if (flex < 12)
        flex = 12;
    int pos = 1;
    for (int i = 0; i < t->ncols; i++) {
        x[i] = pos;
        w[i] = t->cols[i].width ? t->cols[i].width : flex;
        pos += w[i] + 1;
    }
}

static void
draw_cell(int y, int x, int w, int right, lt_attr attr, const char *s)
{
    char buf[600];
    lt_fmt_elide(buf, sizeof buf, s, w, lt_crt_utf8());
    int len = 0;
    for (const char *p = buf; *p; p++)
        len += (*p & 0xC0) != 0x80;
    lt_crt_text(y, right ? x + w - len : x, attr, buf, w);
}

void
lt_table_draw(lt_table *t, int y, int height)
{
    if (height < 2)
        return;
    int cols = lt_crt_cols();
    int x[LT_TABLE_MAX_COLS], w[LT_TABLE_MAX_COLS];
    layout(t, cols, x, w);
    lt_crt_bar(y, LT_A_TITLE);
    for (int i = 0; i < t->ncols; i++)
        draw_cell(y, x[i], w[i], t->cols[i].right, LT_A_TITLE, t->cols[i].title);

    int visible = height - 1;
    if (t->selected >= t->nrows)
        t->selected = t->nrows > 0 ? t->nrows - 1 : 0;
    if (t->selected < t->top)
        t->top = t->selected;
    if (t->selected >= t->top + visible)
        t->top = t->selected - visible + 1;
    if (t->top > t->nrows - visible)
        t->top = t->nrows - visible > 0 ? t->nrows - visible : 0;

    lt_spark_mode mode = lt_crt_utf8() ? LT_SPARK_BLOCK : LT_SPARK_ASCII;
    for (int r = 0; r < visible && t->top + r < t->nrows; r++) {
        const lt_table_row *row = &t->rows[t->top + r];
        int sel = t->top + r == t->selected;
        lt_attr a = sel ? LT_A_SELECTED : (lt_attr)row->attr;
        if (sel)
            lt_crt_bar(y + 1 + r, LT_A_SELECTED);
        for (int i = 0; i < t->ncols; i++) {
            if (i == t->spark_col) {
                char spark[LT_TABLE_SPARK_POINTS * 4];
                lt_sparkline(row->spark, (size_t)row->nspark, w[i], mode, spark, sizeof spark);
                lt_crt_text(y + 1 + r, x[i], sel ? LT_A_SELECTED : LT_A_SPARK, spark, w[i]);
            } else {
                draw_cell(y + 1 + r, x[i], w[i], t->cols[i].right, a,
                          t->cols[i].width == 0 ? row->name : row->cells[i]);
            }
        }
    }
    if (t->nrows == 0)
        lt_crt_text(y + 2, 2, LT_A_DIM, "(nothing to show yet)", 0);
}
