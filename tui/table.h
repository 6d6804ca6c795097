/*
 * A scrolling table with a selected row, as every list view shows it: a title row, cells
 * right- or left-aligned in fixed columns, one flexible column (a name, elided in the middle),
 * and an optional sparkline column. Rows are built by the view each frame; the table only
 * draws them and keeps the selection in view.
 */
#ifndef LEAKTOP_TABLE_H
#define LEAKTOP_TABLE_H

#include <stddef.h>
#include <stdint.h>

#define LT_TABLE_MAX_COLS 8
#define LT_TABLE_CELL 48
#define LT_TABLE_SPARK_POINTS 120

typedef struct lt_table_col {
    const char *title;
    int width;  /* 0: the flexible column (takes what is left) */
    int right;  /* right-aligned */
} lt_table_col;

typedef struct lt_table_row {
    char name[512]; /* the flexible column's text */
    char cells[LT_TABLE_MAX_COLS][LT_TABLE_CELL];
    double spark[LT_TABLE_SPARK_POINTS]; /* NaN: unknown */
    int nspark;
    int attr;       /* lt_attr of the row, LT_A_NORMAL usually */
    uint64_t key;   /* what the row stands for (name id, trace id...), for drill-down */
    double sort_key[LT_TABLE_MAX_COLS]; /* per column, for sorting */
} lt_table_row;

typedef struct lt_table {
    const lt_table_col *cols;
    int ncols;       /* including the flexible one */
    int spark_col;   /* index of the column drawn as a sparkline, or -1 */
    lt_table_row *rows;
    int nrows, cap;
    int selected, top; /* selection and first visible row */
    uint64_t selected_key; /* the row the user moved to, followed across rebuilds; until the */
    int have_selected_key; /* user moves, the selection stays at its position (the top) */
} lt_table;

/* Append a zeroed row; NULL when out of memory. */
lt_table_row *lt_table_add(lt_table *t);
/* Drop the rows before a rebuild (the selection is kept, see lt_table_reselect). */
void lt_table_clear(lt_table *t);
/* After a rebuild (and sort): select the row with the remembered key again, or keep the
 * position when that row is gone. */
void lt_table_reselect(lt_table *t);
void lt_table_free(lt_table *t);
/* Sort by column col (descending for numbers, ascending for the name column). The selection
 * index is left alone: call lt_table_reselect to follow the selected row. */
void lt_table_sort(lt_table *t, int col);
/* Move the selection by delta rows (clamped); page moves use the visible height. */
void lt_table_move(lt_table *t, int delta);
/* Draw at rows y..y+height-1. */
void lt_table_draw(lt_table *t, int y, int height);
/* The selected row, or NULL when empty. */
const lt_table_row *lt_table_selected(const lt_table *t);

#endif
