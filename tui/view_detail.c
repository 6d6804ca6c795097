/* The drill-down: a traceback with its source lines (as tracemalloc prints one), or a type's
 * detail. */
#include <stdio.h>
#include <string.h>

#include "crt.h"
#include "format.h"
#include "sparkline.h"
#include "ui.h"

/* Line `line` of file, stripped, into out; "" when unreadable. Reads at most a few MiB. */
static void
source_line(const char *file, uint32_t line, char *out, size_t outlen)
{
    out[0] = '\0';
    FILE *f = fopen(file, "re");
    if (f == NULL)
        return;
    char buf[1024];
    uint32_t n = 0;
    while (fgets(buf, sizeof buf, f) != NULL) {
        size_t len = strlen(buf);
        int whole = len > 0 && buf[len - 1] == '\n';
        if (++n == line) {
            char *s = buf;
            while (*s == ' ' || *s == '\t')
                s++;
            s[strcspn(s, "\r\n")] = '\0';
            snprintf(out, outlen, "%s", s);
            break;
        }
        /* A line longer than the buffer continues in the next read: it is still one line. */
        while (!whole && fgets(buf, sizeof buf, f) != NULL) {
            len = strlen(buf);
            whole = len > 0 && buf[len - 1] == '\n';
        }
        if (n > 10000000)
            break;
    }
    fclose(f);
}

static void
draw_trace(lt_ui *ui, int y, int height)
{
    const lt_model *m = ui->model;
    const lt_model_trace *t = lt_model_trace_get(m, ui->detail_trace);
    lt_crt_bar(y, LT_A_TITLE);
    lt_crt_printf(y, 1, LT_A_TITLE, "Traceback (most recent call first): %s", ui->detail_title);
    if (t == NULL) {
        lt_crt_text(y + 2, 2, LT_A_DIM, "(this traceback was not received)", 0);
        return;
    }
    int rows = height - 1, line = 0;
    /* (The model's cache of which files are library fills as a side effect.) */
    lt_model *cache = (lt_model *)m;
    uint32_t own = lt_model_user_frame(cache, t);
    for (uint32_t i = 0; i < t->nframes; i++) {
        const lt_trace_frame *f = &t->frames[i];
        const char *file = lt_model_string(m, f->file_id);
        if (!ui->show_library && lt_model_file_is_library(cache, f->file_id)) {
            /* Library frames in a row fold into one line, l shows them. */
            uint32_t k = i;
            while (k + 1 < t->nframes && lt_model_file_is_library(cache, t->frames[k + 1].file_id))
                k++;
            /* Its package and file: "flask/app.py", not a bare "app.py". */
            const char *base = strrchr(file, '/');
            while (base != NULL && base > file && base[-1] != '/')
                base--;
            base = base != NULL && base > file ? base - 1 : NULL;
            int r = line++ - ui->detail_top;
            if (r >= 0 && r < rows)
                lt_crt_printf(y + 1 + r, 2, LT_A_DIM, "... %u library frame%s (%s%s) - l shows "
                              "them", k - i + 1, k > i ? "s" : "", base ? base + 1 : file,
                              k > i ? ", ..." : "");
            i = k;
            continue;
        }
        char src[512];
        source_line(file, f->line, src, sizeof src);
        for (int part = 0; part < 2; part++, line++) {
            int r = line - ui->detail_top;
            if (r < 0 || r >= rows)
                continue;
            if (part == 0)
                lt_crt_printf(y + 1 + r, 2, i == own ? LT_A_VALUE : LT_A_NORMAL,
                              "File \"%s\", line %u, in %s", file, f->line,
                              lt_model_string(m, f->func_id));
            else
                lt_crt_printf(y + 1 + r, 6, LT_A_LABEL, "%s", src[0] ? src : "?");
        }
    }
    if (t->truncated && line - ui->detail_top < rows)
        lt_crt_text(y + 1 + line - ui->detail_top, 2, LT_A_DIM, "(deeper frames not captured)", 0);
    if (ui->detail_top > line - 1)
        ui->detail_top = line > 0 ? line - 1 : 0;
}

/* "file.py:42 in func" of a traceback's newest frame into out; "" when it was never received. */
static void
site_title(const lt_model *m, uint32_t trace_id, char *out, size_t outlen)
{
    const lt_model_trace *t = lt_model_trace_get(m, trace_id);
    out[0] = '\0';
    if (t == NULL || t->nframes == 0)
        return;
    const char *file = lt_model_string(m, t->frames[0].file_id);
    const char *base = strrchr(file, '/');
    snprintf(out, outlen, "%s:%u in %s", base ? base + 1 : file, t->frames[0].line,
             lt_model_string(m, t->frames[0].func_id));
}

uint32_t
lt_detail_selected_site(lt_ui *ui, char *title, size_t titlelen)
{
    const lt_model_type_sites *ts = lt_model_type_sites_get(ui->model, ui->detail_name_id);
    if (titlelen > 0)
        title[0] = '\0';
    if (ts == NULL || ts->nrows == 0)
        return 0;
    if (ui->detail_sel >= (int)ts->nrows)
        ui->detail_sel = (int)ts->nrows - 1;
    if (ui->detail_sel < 0)
        ui->detail_sel = 0;
    uint32_t id = ts->rows[ui->detail_sel].trace_id;
    if (titlelen > 0)
        site_title(ui->model, id, title, titlelen);
    return id;
}

/* Where the type's live instances were allocated, the selected row marked. Returns the next
 * free row; at most max_rows site rows. */
static int
draw_type_sites(lt_ui *ui, int row, int max_rows)
{
    const lt_model *m = ui->model;
    const lt_model_type_sites *ts = lt_model_type_sites_get(m, ui->detail_name_id);
    lt_crt_text(row++, 2, LT_A_LABEL, "Allocated at (live instances, sampler's estimate):", 0);
    if (ts == NULL) {
        const char *msg = ui->sites_pending == ui->detail_name_id ? "looking up the sampled blocks..."
                          : ui->live ? "(ask the process: Enter)"
                          : ui->replay_info ? "(not in this recording: allocation sites per type "
                                              "are asked of a live process)"
                                            : "(allocation sites per type need a live process)";
        lt_crt_text(row++, 4, LT_A_DIM, msg, 0);
        return row;
    }
    if (ts->nrows == 0) {
        lt_crt_printf(row++, 4, LT_A_WARN, "none known: %s", ts->note);
        return row;
    }
    lt_detail_selected_site(ui, NULL, 0);
    int cols = lt_crt_cols();
    int namew = cols - 4 - 2 - 10 - 2 - 16;
    if (namew < 16)
        namew = 16;
    for (uint32_t i = 0; i < ts->nrows && (int)i < max_rows; i++) {
        const lt_type_site_row *r = &ts->rows[i];
        char title[512], shown[512], b[32], c[32];
        site_title(m, r->trace_id, title, sizeof title);
        lt_fmt_elide(shown, sizeof shown, title[0] ? title : "(traceback not received)", namew,
                     lt_crt_utf8());
        int sel = (int)i == ui->detail_sel;
        lt_crt_printf(row++, 2, sel ? LT_A_SELECTED : LT_A_NORMAL, "%s %-*s  %10s  %s inst.",
                      sel ? ">" : " ", namew, shown, lt_fmt_bytes(b, sizeof b, r->live_bytes),
                      lt_fmt_count(c, sizeof c, r->live_count));
    }
    if ((int)ts->nrows > max_rows)
        lt_crt_printf(row++, 4, LT_A_DIM, "(%u more)", ts->nrows - (uint32_t)max_rows);
    char n[32], of[32];
    lt_crt_printf(row++, 4, LT_A_DIM, "%s of %s instances sampled; the process was held %.1f ms",
                  lt_fmt_count(n, sizeof n, ts->sampled), lt_fmt_count(of, sizeof of, ts->instances),
                  ts->walk_ms);
    return row;
}

static void
draw_type(lt_ui *ui, int y, int height)
{
    const lt_model *m = ui->model;
    lt_crt_bar(y, LT_A_TITLE);
    lt_crt_printf(y, 1, LT_A_TITLE, "Type %s", ui->detail_title);
    const lt_type_series *s = NULL;
    for (uint32_t i = 0; i < m->ntypes; i++)
        if (m->types[i].name_id == ui->detail_name_id)
            s = &m->types[i];
    uint32_t first, end;
    lt_ui_window(ui, &first, &end);
    if (s == NULL || end == 0 || height < 6)
        return;
    uint32_t slot = lt_model_slot(m, end - 1);
    char a[64], b[64];
    uint64_t count = s->count[slot] == LT_UNKNOWN ? 0 : s->count[slot];
    uint64_t bytes = s->bytes[slot] == LT_UNKNOWN ? 0 : s->bytes[slot];
    lt_crt_printf(y + 1, 2, LT_A_NORMAL, "live objects  %s  (%+.1f per second)",
                  lt_fmt_count(a, sizeof a, count), lt_ui_rate(ui, s->count, first, end));
    lt_crt_printf(y + 2, 2, LT_A_NORMAL, "shallow bytes %s  (%s)", lt_fmt_bytes(a, sizeof a, bytes),
                  lt_fmt_byte_rate(b, sizeof b, lt_ui_rate(ui, s->bytes, first, end)));
    lt_table_row r;
    lt_ui_spark(ui, s->count, first, end, &r);
    char spark[LT_TABLE_SPARK_POINTS * 4];
    int w = lt_crt_cols() - 4;
    lt_sparkline(r.spark, (size_t)r.nspark, w < LT_TABLE_SPARK_POINTS ? w : LT_TABLE_SPARK_POINTS,
                 lt_crt_utf8() ? LT_SPARK_BLOCK : LT_SPARK_ASCII, spark, sizeof spark);
    lt_crt_text(y + 3, 2, LT_A_SPARK, spark, 0);
    /* The sites take what the chain below leaves: at least 2 rows, at most 10. */
    int site_rows = (height - 14) > 2 ? height - 14 : 2;
    int row = draw_type_sites(ui, y + 5, site_rows > 10 ? 10 : site_rows) + 1;
    lt_crt_text(row++, 2, LT_A_LABEL, "What keeps it alive:", 0);
    const lt_model_why *why = lt_model_why_get(m, ui->detail_name_id);
    if (why == NULL) {
        lt_crt_text(row++, 4, LT_A_DIM,
                    ui->why_pending == ui->detail_name_id ? "searching the references..."
                                                          : "(ask a live process: Enter)", 0);
    } else if (!why->found) {
        lt_crt_printf(row++, 4, LT_A_WARN, "no chain found: %s", why->note);
    } else {
        char expr[1024];
        size_t len = 0;
        expr[0] = '\0';
        for (uint32_t i = 0; i < why->nhops && len < sizeof expr; i++)
            len += (size_t)snprintf(expr + len, sizeof expr - len, "%s", why->hop_text[i]);
        lt_crt_text(row++, 4, LT_A_VALUE, expr, 0);
        for (uint32_t i = 0; i < why->nhops && row < y + height - 2; i++)
            lt_crt_printf(row++, 6, LT_A_NORMAL, "%s%-40s %s", i ? "-> " : "   ", why->hop_text[i],
                          why->hop_type[i]);
        if (row < y + height - 1)
            lt_crt_printf(row++, 4, LT_A_DIM, "found in %u levels, %.0f ms; the process was held "
                          "at most %.1f ms at a time", why->levels, why->total_ms,
                          why->max_pause_ms);
    }
    if (row + 1 < y + height)
        lt_crt_text(row + 1, 2, LT_A_DIM,
                    "Up/Down Enter: a site's traceback  Esc: back  (counts exact, sites estimated)",
                    0);
}

void
lt_detail_draw(lt_ui *ui, int y, int height)
{
    if (ui->detail == LT_DETAIL_TRACE)
        draw_trace(ui, y, height);
    else
        draw_type(ui, y, height);
}
