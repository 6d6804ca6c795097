/*
 * The terminal UI's state and its parts: header, views (suspects, types, sites, GC), the
 * drill-down (traceback, type detail), help and footer. Views read the model and draw through
 * crt.h; they never talk to the agent or the terminal directly. app.c owns the loop.
 */
#ifndef LEAKTOP_UI_H
#define LEAKTOP_UI_H

#include <stddef.h>
#include <stdint.h>

#include "breakdown.h"
#include "leaks.h"
#include "mem_limits.h"
#include "model.h"
#include "proc_stats.h"
#include "suspects.h"
#include "table.h"

typedef enum lt_view {
    LT_VIEW_SUSPECTS, LT_VIEW_TYPES, LT_VIEW_SITES, LT_VIEW_GC, LT_VIEW_MEMORY, LT_VIEW_COUNT
} lt_view;

#define LT_UI_LEAK_KEY (1ull << 40) /* a Suspects row's key: a finding, not a part */
#define LT_UI_SUSPECT_WINDOW 600 /* samples the Suspects view judges: 10 min at 1 s */

typedef enum lt_detail { LT_DETAIL_NONE, LT_DETAIL_TRACE, LT_DETAIL_TYPE } lt_detail;

typedef struct lt_ui {
    const lt_model *model;
    const char *source_label;  /* "pid 1234", "replay incident.lktp" */
    lt_view view;
    lt_table tables[LT_VIEW_COUNT];
    int sort[LT_VIEW_COUNT];   /* column sorted on */
    char filter[64];
    int filter_editing;
    int help;
    lt_detail detail;
    uint32_t detail_trace;     /* LT_DETAIL_TRACE */
    char detail_title[512];
    uint32_t detail_name_id;   /* LT_DETAIL_TYPE */
    int detail_top;            /* scroll of the detail pane */
    uint32_t why_pending;      /* type name id whose "why alive" answer is awaited, 0 none */
    uint32_t sites_pending;    /* type name id whose TYPE_SITES answer is awaited, 0 none */
    int detail_sel;            /* LT_DETAIL_TYPE: the selected allocation site */
    int detail_from_type;      /* LT_DETAIL_TRACE opened from a type's sites: Esc goes back */
    int paused;
    uint32_t paused_seq;       /* newest point shown while paused */
    int have_baseline;
    uint32_t baseline_seq;
    char status[256];          /* one-line message in the footer */
    int status_bad;
    int live;                  /* connected to a live agent (commands possible) */
    int have_proc;
    lt_proc_stats proc;        /* from libproc2, live only */
    int have_limits;
    lt_limits limits;          /* what can end the process for memory, live only */
    const char *replay_info;   /* "sample 12/340  x1" while replaying, else NULL */
    lt_suspect suspects[64];
    int nsuspects;
    /* A program of several processes (app.c follows its tree), or NULL: the Workers screen. */
    const struct lt_tree_summary *tree;
    int workers_shown;         /* the Workers screen is up (w) */
    int viewing_pid;           /* the process the other views show */
    lt_table workers_table, findings_table;
    /* The suspects as findings (leaks.h), the rows of the Suspects view; Enter on one
     * shows its parts under it (the one whose lead is `expanded`). */
    lt_leak leaks[LT_LEAKS_MAX];
    int nleaks;
    char expanded[256];
    int show_library;          /* l: library frames inline in tracebacks, sites by top frame */
} lt_ui;

void lt_ui_init(lt_ui *ui);
void lt_ui_free(lt_ui *ui);
/* The model's points the UI shows: [first, end) (end stops at the paused point). */
void lt_ui_window(const lt_ui *ui, uint32_t *first, uint32_t *end);
/* Rebuild every view's rows from the model (call when data changed). */
void lt_ui_rebuild(lt_ui *ui);
/* Draw everything. */
void lt_ui_draw(lt_ui *ui);
/* Open the drill-down of the selected row. Returns 0, or -1 when the row has none. */
int lt_ui_open_detail(lt_ui *ui);

/* Helpers for views over the window [first, end) of the model's points. */
/* Index of the baseline point (the first point when no baseline was set or it scrolled out). */
uint32_t lt_ui_baseline(const lt_ui *ui, uint32_t first, uint32_t end);
/* The series' value at the baseline: the first known value at or after it (history samples
 * list only the larger types). LT_UNKNOWN when none is known. */
uint64_t lt_ui_base_value(const lt_ui *ui, const uint64_t *values, uint32_t first, uint32_t end);
/* Per-second rate of a series over the last 30 points of the window (least squares). */
double lt_ui_rate(const lt_ui *ui, const uint64_t *values, uint32_t first, uint32_t end);
/* Fill row->spark with the window's last points of values. */
void lt_ui_spark(const lt_ui *ui, const uint64_t *values, uint32_t first, uint32_t end,
                 lt_table_row *row);
/* Does name pass the filter? */
int lt_ui_match(const lt_ui *ui, const char *name);

/* Parts, each in its own file. */
void lt_header_draw(lt_ui *ui, int rows);               /* header.c: returns nothing, uses rows */
int lt_header_height(void);
void lt_view_types_build(lt_ui *ui, lt_table *t);       /* view_types.c */
void lt_view_sites_build(lt_ui *ui, lt_table *t);       /* view_sites.c */
void lt_view_suspects_build(lt_ui *ui, lt_table *t);    /* view_suspects.c */
uint64_t lt_view_leak_key(const lt_leak *f);       /* its rows' key */
void lt_view_gc_draw(lt_ui *ui, int y, int height);     /* view_gc.c */
void lt_view_memory_build(lt_ui *ui, lt_table *t);      /* view_memory.c */
void lt_view_memory_draw(lt_ui *ui, int y, int height);
const lt_table_col *lt_view_memory_cols(int *ncols);
/* The stacked bar of b's parts at (y, x), width cells; returns the cells drawn. */
int lt_memory_bar_draw(const lt_breakdown *b, int y, int x, int width);
const char *lt_part_glyph(lt_part part);
void lt_detail_draw(lt_ui *ui, int y, int height);      /* view_detail.c */
/* The traceback id of the type detail's selected allocation site (detail_sel, kept in range),
 * and its "file:line in function" title into title; 0 when the type has no site rows. */
uint32_t lt_detail_selected_site(lt_ui *ui, char *title, size_t titlelen);
void lt_help_draw(int y, int height);                   /* help.c */
void lt_view_workers_init(lt_ui *ui);                   /* view_workers.c */
void lt_view_workers_build(lt_ui *ui);                  /* from ui->tree */
void lt_view_workers_draw(lt_ui *ui, int y, int height);

#endif
