#define _GNU_SOURCE
/* The UI's state, layout, tabs and footer; each view and the header live in their own files. */
#include "ui.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "crt.h"
#include "format.h"
#include "report.h"

static const lt_table_col types_cols[] = {
    {"TYPE", 0, 0}, {"COUNT", 11, 1}, {"CHANGE", 10, 1}, {"PER S", 8, 1}, {"BYTES", 9, 1},
    {"TREND", 12, 0},
};
static const lt_table_col sites_cols[] = {
    {"ALLOCATION SITE", 0, 0}, {"LIVE", 9, 1}, {"COUNT", 9, 1}, {"CHANGE", 9, 1},
    {"PER S", 11, 1}, {"TREND", 12, 0},
};
static const lt_table_col suspects_cols[] = {
    {"FINDING (Enter: its parts)", 0, 0}, {"SCORE", 5, 1}, {"GROWTH", 11, 1},
};

void
lt_ui_init(lt_ui *ui)
{
    memset(ui, 0, sizeof *ui);
    ui->view = LT_VIEW_SUSPECTS;
    ui->tables[LT_VIEW_TYPES] = (lt_table){.cols = types_cols, .ncols = 6, .spark_col = 5};
    ui->tables[LT_VIEW_SITES] = (lt_table){.cols = sites_cols, .ncols = 6, .spark_col = 5};
    ui->tables[LT_VIEW_SUSPECTS] = (lt_table){.cols = suspects_cols, .ncols = 3, .spark_col = -1};
    ui->tables[LT_VIEW_GC] = (lt_table){.cols = suspects_cols, .ncols = 0, .spark_col = -1};
    int ncols;
    const lt_table_col *mcols = lt_view_memory_cols(&ncols);
    ui->tables[LT_VIEW_MEMORY] = (lt_table){.cols = mcols, .ncols = ncols, .spark_col = 4};
    ui->sort[LT_VIEW_MEMORY] = -1; /* the parts in their order */
    ui->sort[LT_VIEW_TYPES] = 2;    /* change since baseline */
    ui->sort[LT_VIEW_SITES] = 4;    /* growth per second */
    ui->sort[LT_VIEW_SUSPECTS] = -1; /* most likely first, as computed */
    lt_view_workers_init(ui);
}

void
lt_ui_free(lt_ui *ui)
{
    for (int i = 0; i < LT_VIEW_COUNT; i++)
        lt_table_free(&ui->tables[i]);
    lt_table_free(&ui->workers_table);
    lt_table_free(&ui->findings_table);
}

void
lt_ui_window(const lt_ui *ui, uint32_t *first, uint32_t *end)
{
    const lt_model *m = ui->model;
    *first = 0;
    *end = m->n;
    if (ui->paused)
        for (uint32_t i = m->n; i > 0; i--)
            if (lt_model_point(m, i - 1)->seq == ui->paused_seq) {
                *end = i;
                break;
            }
}

uint32_t
lt_ui_baseline(const lt_ui *ui, uint32_t first, uint32_t end)
{
    if (ui->have_baseline)
        for (uint32_t i = first; i < end; i++)
            if (lt_model_point(ui->model, i)->seq == ui->baseline_seq)
                return i;
    return first;
}

uint64_t
lt_ui_base_value(const lt_ui *ui, const uint64_t *values, uint32_t first, uint32_t end)
{
    for (uint32_t i = lt_ui_baseline(ui, first, end); i < end; i++) {
        uint64_t v = values[lt_model_slot(ui->model, i)];
        if (v != LT_UNKNOWN)
            return v;
    }
    return LT_UNKNOWN;
}

double
lt_ui_rate(const lt_ui *ui, const uint64_t *values, uint32_t first, uint32_t end)
{
    double x[30], y[30];
    uint32_t k = 0;
    uint32_t from = end > first + 30 ? end - 30 : first;
    const lt_point *p0 = end > from ? lt_model_point(ui->model, from) : NULL;
    for (uint32_t i = from; i < end; i++) {
        uint64_t v = values[lt_model_slot(ui->model, i)];
        if (v == LT_UNKNOWN)
            continue;
        x[k] = (double)(lt_model_point(ui->model, i)->mono_ns - p0->mono_ns) / 1e9;
        y[k] = (double)v;
        k++;
    }
    return lt_slope(x, y, k);
}

void
lt_ui_spark(const lt_ui *ui, const uint64_t *values, uint32_t first, uint32_t end,
            lt_table_row *row)
{
    uint32_t from = end > first + LT_TABLE_SPARK_POINTS ? end - LT_TABLE_SPARK_POINTS : first;
    row->nspark = 0;
    for (uint32_t i = from; i < end; i++) {
        uint64_t v = values[lt_model_slot(ui->model, i)];
        row->spark[row->nspark++] = v == LT_UNKNOWN ? NAN : (double)v;
    }
}

int
lt_ui_match(const lt_ui *ui, const char *name)
{
    return ui->filter[0] == '\0' || strcasestr(name, ui->filter) != NULL;
}

void
lt_ui_rebuild(lt_ui *ui)
{
    lt_view_suspects_build(ui, &ui->tables[LT_VIEW_SUSPECTS]);
    lt_view_types_build(ui, &ui->tables[LT_VIEW_TYPES]);
    lt_view_sites_build(ui, &ui->tables[LT_VIEW_SITES]);
    lt_view_memory_build(ui, &ui->tables[LT_VIEW_MEMORY]);
    /* Rebuilt rows come in model order: sort them, then find the selected row again. */
    for (int v = 0; v < LT_VIEW_COUNT; v++) {
        if (ui->sort[v] >= 0)
            lt_table_sort(&ui->tables[v], ui->sort[v]);
        lt_table_reselect(&ui->tables[v]);
    }
}

int
lt_ui_open_detail(lt_ui *ui)
{
    const lt_table_row *row = lt_table_selected(&ui->tables[ui->view]);
    if (row == NULL)
        return -1;
    ui->detail_top = 0;
    snprintf(ui->detail_title, sizeof ui->detail_title, "%s", row->name);
    if (ui->view == LT_VIEW_TYPES) {
        ui->detail = LT_DETAIL_TYPE;
        ui->detail_name_id = (uint32_t)row->key;
        return 0;
    }
    if (ui->view == LT_VIEW_SITES) {
        ui->detail = LT_DETAIL_TRACE;
        ui->detail_trace = (uint32_t)row->key;
        return 0;
    }
    if (ui->view == LT_VIEW_SUSPECTS && (row->key & LT_UI_LEAK_KEY)) {
        /* A finding: show or hide its parts under it. */
        int i = 0;
        while (i < ui->nleaks && lt_view_leak_key(&ui->leaks[i]) != row->key)
            i++;
        if (i >= ui->nleaks)
            return -1;
        if (strcmp(ui->expanded, ui->leaks[i].what) == 0)
            ui->expanded[0] = '\0';
        else
            snprintf(ui->expanded, sizeof ui->expanded, "%s", ui->leaks[i].what);
        ui->detail = LT_DETAIL_NONE;
        lt_view_suspects_build(ui, &ui->tables[LT_VIEW_SUSPECTS]);
        lt_table_reselect(&ui->tables[LT_VIEW_SUSPECTS]);
        return 0;
    }
    if (ui->view == LT_VIEW_SUSPECTS) {
        int i = (int)row->key;
        if (i < 0 || i >= ui->nsuspects)
            return -1;
        const lt_suspect *s = &ui->suspects[i];
        if (s->kind == LT_SUSPECT_SITE) {
            ui->detail = LT_DETAIL_TRACE;
            ui->detail_trace = s->trace_id;
            return 0;
        }
        if (s->kind == LT_SUSPECT_TYPE) {
            for (uint32_t t = 0; t < ui->model->ntypes; t++)
                if (strcmp(lt_model_string(ui->model, ui->model->types[t].name_id), s->name) == 0) {
                    ui->detail = LT_DETAIL_TYPE;
                    ui->detail_name_id = ui->model->types[t].name_id;
                    return 0;
                }
        }
    }
    return -1;
}

static void
draw_tabs(lt_ui *ui, int y)
{
    static const char *names[LT_VIEW_COUNT] = {"1 Suspects", "2 Types", "3 Sites", "4 GC",
                                               "5 Memory"};
    lt_crt_bar(y, LT_A_NORMAL);
    int x = 0;
    for (int v = 0; v < LT_VIEW_COUNT; v++) {
        char label[32];
        snprintf(label, sizeof label, " %s ", names[v]);
        x += lt_crt_text(y, x, v == (int)ui->view && !ui->workers_shown ? LT_A_TAB_ACTIVE
                                                                         : LT_A_TAB,
                         label, 0) + 1;
    }
    if (ui->tree != NULL)
        x += lt_crt_text(y, x, ui->workers_shown ? LT_A_TAB_ACTIVE : LT_A_TAB, " w Workers ", 0)
             + 1;
    char right[160] = "";
    size_t len = 0;
    if (ui->filter[0] || ui->filter_editing)
        len += (size_t)snprintf(right + len, sizeof right - len, "filter: %s%s  ", ui->filter,
                                ui->filter_editing ? "_" : "");
    if (ui->have_baseline)
        len += (size_t)snprintf(right + len, sizeof right - len, "baseline #%u  ",
                                ui->baseline_seq);
    if (ui->replay_info)
        len += (size_t)snprintf(right + len, sizeof right - len, "%s  ", ui->replay_info);
    if (ui->paused)
        snprintf(right + len, sizeof right - len, "PAUSED");
    int w = (int)strlen(right);
    if (w > 0 && lt_crt_cols() - w > x)
        lt_crt_text(y, lt_crt_cols() - w, ui->paused ? LT_A_WARN : LT_A_DIM, right, 0);
}

static void
draw_footer(lt_ui *ui, int y)
{
    lt_crt_bar(y, LT_A_FOOTER);
    if (ui->status[0]) {
        lt_crt_text(y, 0, ui->status_bad ? LT_A_BAD : LT_A_VALUE, ui->status, 0);
        return;
    }
    static const char *keys[][2] = {
        {"?", "Help"}, {"Tab", "View"}, {"Enter", "Open"}, {"s", "Sort"}, {"/", "Filter"},
        {"b", "Base"}, {"g", "GC"}, {"p", "Pause"}, {"m", "Mark"}, {"q", "Quit"},
    };
    int x = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        x += lt_crt_text(y, x, LT_A_FOOTER_KEY, keys[i][0], 0);
        x += lt_crt_text(y, x, LT_A_FOOTER, keys[i][1], 0) + 1;
    }
}

void
lt_ui_draw(lt_ui *ui)
{
    int rows = lt_crt_rows();
    lt_crt_erase();
    int h = lt_header_height();
    lt_header_draw(ui, rows);
    draw_tabs(ui, h);
    int body = h + 1, height = rows - body - 1;
    if (ui->help)
        lt_help_draw(body, height);
    else if (ui->workers_shown && ui->tree != NULL)
        lt_view_workers_draw(ui, body, height);
    else if (ui->detail != LT_DETAIL_NONE)
        lt_detail_draw(ui, body, height);
    else if (ui->view == LT_VIEW_GC)
        lt_view_gc_draw(ui, body, height);
    else if (ui->view == LT_VIEW_MEMORY)
        lt_view_memory_draw(ui, body, height);
    else
        lt_table_draw(&ui->tables[ui->view], body, height);
    draw_footer(ui, rows - 1);
    lt_crt_flush();
}
