/* The terminal UI's loop: a live agent, a program we started, or a recording, drawn by ui.c. */
#define _GNU_SOURCE
#include "app.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "leaktop/version.h"
#include "crt.h"
#include "launch.h"
#include "leaktop/mem.h"
#include "leaktop/sockpath.h"
#include "proc_stats.h"
#include "replay.h"
#include "proc_tree.h"
#include "tree.h"
#include "tree_summary.h"
#include "ui.h"
#include "watch.h"

#define MODEL_POINTS 4096
#define PROC_PERIOD_MS 1000

typedef struct app {
    lt_ui ui;
    lt_model model;
    char label[160];
    /* live */
    pid_t pid;
    const char *socket_path; /* connect SOCKET: the agent is on the other end of a forwarded
                                socket; pid is its pid there (from HELLO), not a local one */
    lt_conn conn;
    int connected;
    lt_proc_reader *proc;
    /* run */
    int started, keep;
    lt_child child;
    char log_path[256];
    /* replay */
    int replay;
    lt_replay rep;
    int playing;
    double play_due; /* monotonic second when the next sample is due */
    char replay_info[96];
    uint32_t markers_seen; /* markers already announced in the footer */
    int built;             /* the views were built from the model as it was at: */
    uint32_t built_n, built_seq;
    int confirm_detach;    /* D was pressed: the next key answers y/n */
    /* a program of several processes: its other processes, each with its own model */
    int following;
    lt_tree tree;
    lt_tree_summary *summary;
    double next_summary;
    pid_t viewing;      /* the member the views show; 0: the root */
    int workers_auto;   /* the Workers screen opened by itself once (then the user decides) */
    int viewed_gone;    /* the member shown has ended: said once */
    char view_label[160];
    /* loop */
    unsigned refreshes, max_refreshes;
    int dirty;
    double leaks_asked; /* monotonic second the agent was last asked about the findings */
} app;

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
status(app *a, int bad, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
status(app *a, int bad, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->ui.status, sizeof a->ui.status, fmt, ap);
    va_end(ap);
    a->ui.status_bad = bad;
    a->dirty = 1;
}

/* ---- the process shown: the root, or one of its tree's members ---------------------- */

/* The program's other processes: followed live, or those of a recording. */
static lt_tree *
procs(app *a)
{
    return a->replay ? &a->rep.tree : &a->tree;
}

static lt_member *
viewed_member(app *a)
{
    return a->viewing ? lt_tree_find(procs(a), a->viewing) : NULL;
}

static lt_conn *
cur_conn(app *a)
{
    lt_member *mb = viewed_member(a);
    return mb ? &mb->conn : &a->conn;
}

static int
cur_connected(app *a)
{
    lt_member *mb = viewed_member(a);
    return a->viewing ? mb != NULL && mb->connected : a->connected;
}

static pid_t
cur_pid(app *a)
{
    return a->viewing ? a->viewing : a->pid;
}

/* Make every view show pid (the root or a member of its tree), from a fresh display state. */
static void
view_process(app *a, pid_t pid)
{
    lt_member *mb = pid == a->pid ? NULL : lt_tree_find(procs(a), pid);
    a->viewing = mb ? pid : 0;
    procs(a)->pinned = a->viewing;
    a->viewed_gone = 0;
    lt_ui *ui = &a->ui;
    ui->model = mb ? &mb->model : &a->model;
    ui->detail = LT_DETAIL_NONE;
    ui->have_baseline = 0;
    ui->paused = 0;
    ui->why_pending = ui->sites_pending = 0;
    ui->live = cur_connected(a);
    ui->viewing_pid = (int)cur_pid(a);
    if (mb != NULL)
        snprintf(a->view_label, sizeof a->view_label, "pid %ld (%s of %ld)", (long)pid, mb->role,
                 (long)a->pid);
    else
        snprintf(a->view_label, sizeof a->view_label, "%s", a->label);
    ui->source_label = a->view_label;
    if (!a->replay) {
        lt_proc_reader_free(a->proc);
        a->proc = lt_proc_reader_new(cur_pid(a));
    }
    ui->have_proc = 0;
    ui->have_limits = 0;
    a->built = 0;
    a->dirty = 1;
}

/* ---- live ------------------------------------------------------------------------------ */

/* Connect to a->pid with a fresh model. Returns 0, or -1 with *cause. */
static int
connect_live(app *a, char **cause)
{
    int kind = 0;
    char *why = NULL;
    if (a->socket_path != NULL) {
        if (lt_conn_open_path(&a->conn, a->socket_path, "leaktop tui " LEAKTOP_VERSION, &kind,
                              &why) < 0) {
            *cause = lt_watch_explain_socket(a->socket_path, kind, why);
            lt_free(why);
            return -1;
        }
    } else if (lt_conn_open(&a->conn, a->pid, "leaktop tui " LEAKTOP_VERSION, &kind, &why) < 0) {
        *cause = a->started ? why : lt_watch_explain_pid(a->pid, kind, why);
        if (!a->started)
            lt_free(why);
        return -1;
    }
    lt_model_free(&a->model);
    if (lt_model_init(&a->model, MODEL_POINTS) < 0) {
        lt_conn_close(&a->conn);
        *cause = lt_asprintf("out of memory");
        return -1;
    }
    a->connected = 1;
    a->ui.live = 1;
    a->ui.model = &a->model;
    a->viewing = 0; /* (re)connected to the root: the views show it */
    a->tree.pinned = 0;
    a->ui.viewing_pid = (int)a->pid;
    if (a->label[0]) {
        snprintf(a->view_label, sizeof a->view_label, "%s", a->label);
        a->ui.source_label = a->view_label;
    }
    a->ui.have_baseline = 0;
    a->ui.paused = 0;
    return 0;
}

static void
lost_connection(app *a)
{
    lt_conn_close(&a->conn);
    a->connected = 0;
    if (a->viewing == 0)
        a->ui.live = 0;
    if (a->started && lt_child_poll(&a->child)) {
        char how[128];
        lt_child_describe(&a->child, how, sizeof how);
        status(a, 1, "the program %s; its last data stays on screen. q quits", how);
    } else if (a->model.bye == LT_BYE_EXITING) {
        status(a, 1, "pid %ld exited; its last data stays on screen. r reconnects, q quits",
               (long)a->pid);
    } else if (a->model.bye == LT_BYE_STOPPED) {
        status(a, 1, "the agent in pid %ld was stopped. r reconnects, q quits", (long)a->pid);
    } else {
        status(a, 1, "lost the connection to pid %ld. r reconnects, q quits", (long)a->pid);
    }
}

/* A REPLY on c, the connection of the process shown (pid): say what it answered. */
static void
take_reply(app *a, lt_conn *c, pid_t pid)
{
    if (!c->have_reply)
        return;
    c->have_reply = 0;
    if (c->reply_code == LT_CMD_GC_COLLECT)
        status(a, c->reply_status != 0, "gc.collect() in pid %ld: %s", (long)pid,
               c->reply_message ? c->reply_message : "");
    else if (c->reply_code == LT_CMD_TYPE_SITES && c->reply_status != 0 &&
             a->ui.sites_pending != 0) {
        /* No answer is coming (an agent without the command, or the walk failed). */
        a->ui.sites_pending = 0;
        status(a, 1, "allocation sites of the type: %s",
               c->reply_message ? c->reply_message : "no answer");
    }
}

/* The tree's members: new ones joined, data read, the Workers screen's figures judged again
 * (at most once a second: judging is the costly part). */
static void
pump_tree(app *a, const struct pollfd *pfd, lt_member *const *who, int n)
{
    double now = now_s();
    lt_member *shown = viewed_member(a);
    for (int i = 0; i < n; i++) {
        if (!pfd[i].revents)
            continue;
        if (lt_tree_service(who[i], now) && who[i] == shown)
            a->dirty = 1;
        if (who[i] == shown)
            take_reply(a, &shown->conn, shown->pid);
    }
    if (lt_tree_scan(&a->tree, now, 0) > 0 && !a->workers_auto) {
        /* A program of several processes: start on the list of them, once. */
        a->workers_auto = 1;
        a->ui.workers_shown = 1;
        a->dirty = 1;
    }
    if (a->viewing && shown == NULL)
        view_process(a, a->pid); /* cannot happen while pinned; be safe */
    else if (shown != NULL && shown->gone && !a->viewed_gone) {
        a->viewed_gone = 1;
        a->ui.live = 0;
        status(a, 1, "pid %ld ended; its last data stays on screen. w lists the processes",
               (long)shown->pid);
    }
    if (a->tree.n > 0 && now >= a->next_summary) {
        lt_tree_summary_build(a->summary, &a->model, a->pid, lt_proc_tree_parent("/proc", a->pid),
                              !a->connected, &a->tree, LT_UI_SUSPECT_WINDOW);
        a->ui.tree = a->summary;
        lt_view_workers_build(&a->ui);
        a->next_summary = now + 1.0;
        a->dirty = 1;
    }
}

static void
pump_live(app *a)
{
    char *cause = NULL;
    uint32_t before = a->model.n ? lt_model_point(&a->model, a->model.n - 1)->seq : 0;
    uint32_t n_before = a->model.n;
    int rc = lt_conn_pump(&a->conn, &a->model, 0, &cause);
    if (rc < 0) {
        lt_conn_close(&a->conn);
        a->connected = 0;
        a->ui.live = 0;
        status(a, 1, "%s. r reconnects, q quits", cause);
        lt_free(cause);
        return;
    }
    if (a->socket_path != NULL && a->conn.pid != 0)
        a->pid = a->conn.pid; /* its pid on the other end, for the messages */
    if (a->viewing == 0)
        take_reply(a, &a->conn, a->pid);
    if (a->model.nmarkers != a->markers_seen) {
        if (a->markers_seen != 0 || a->model.history_done)
            status(a, 0, "%s", lt_model_marker_at(&a->model,
                                                 lt_model_markers_kept(&a->model) - 1)->label);
        a->markers_seen = a->model.nmarkers;
    }
    if (a->model.n != n_before ||
        (a->model.n && lt_model_point(&a->model, a->model.n - 1)->seq != before))
        a->dirty = 1;
    if (rc == 2)
        lost_connection(a);
}

/* ---- replay ---------------------------------------------------------------------------- */

static void
replay_show(app *a, long k)
{
    char *cause = NULL;
    if (k < 1)
        k = 1;
    if (k > (long)a->rep.nsamples)
        k = (long)a->rep.nsamples;
    if (lt_replay_seek(&a->rep, (uint32_t)k, &cause) < 0) {
        status(a, 1, "%s", cause);
        lt_free(cause);
    }
    /* Seeking back rebuilds the other processes' models: find the one shown again. */
    lt_member *mb = viewed_member(a);
    if (a->viewing && mb == NULL)
        view_process(a, a->pid);
    a->ui.model = mb ? &mb->model : &a->model;
    if (a->rep.tree.n > 0 && a->summary != NULL) {
        lt_tree_summary_build(a->summary, &a->model, a->pid, (pid_t)a->rep.root_ppid, 0,
                              &a->rep.tree, LT_UI_SUSPECT_WINDOW);
        a->ui.tree = a->summary;
        lt_view_workers_build(&a->ui);
        if (!a->workers_auto) {
            a->workers_auto = 1;
            a->ui.workers_shown = 1;
        }
    }
    snprintf(a->replay_info, sizeof a->replay_info, "sample %u/%u %s", a->rep.shown,
             a->rep.nsamples, a->playing ? "playing" : "paused");
    a->ui.replay_info = a->replay_info;
    if (a->rep.shown == a->rep.nsamples && a->rep.stop_reason != NULL)
        status(a, 1, "%s; what came before is shown", a->rep.stop_reason);
    a->dirty = 1;
}

static void
replay_tick(app *a)
{
    if (!a->playing || now_s() < a->play_due)
        return;
    if (a->rep.shown >= a->rep.nsamples) {
        a->playing = 0;
        replay_show(a, a->rep.shown);
        return;
    }
    replay_show(a, a->rep.shown + 1);
    double gap = lt_replay_gap(&a->rep, a->rep.shown);
    a->play_due = now_s() + (gap > 0 && gap < 1.0 ? gap : 1.0);
}

/* ---- keys ------------------------------------------------------------------------------ */

static int
page(void)
{
    int h = lt_crt_rows() - lt_header_height() - 3;
    return h > 1 ? h : 1;
}

/* The type detail just opened (or Enter asked again): ask the agent what keeps the type alive
 * and where its live instances were allocated; the answers show when they come. */
static void
ask_about_type(app *a)
{
    lt_ui *ui = &a->ui;
    char *cause = NULL;
    if (!cur_connected(a))
        return;
    if (lt_conn_command(cur_conn(a), LT_CMD_WHY_ALIVE, ui->detail_name_id, &cause) < 0 ||
        lt_conn_command(cur_conn(a), LT_CMD_TYPE_SITES, ui->detail_name_id, &cause) < 0) {
        status(a, 1, "%s", cause);
        lt_free(cause);
        return;
    }
    ui->why_pending = ui->detail_name_id;
    ui->sites_pending = ui->detail_name_id;
}

/* Live: ask the agent what holds the findings' types and where they were allocated, so each
 * finding's row can say it. At most every LEAKS_ASK_S, and only about types whose answers
 * are missing or older than LEAKS_STALE points. */
#define LEAKS_ASK_S 5.0
#define LEAKS_TYPES 4
#define LEAKS_STALE 60u
static void
ask_about_leaks(app *a)
{
    lt_ui *ui = &a->ui;
    if (!a->connected || ui->paused || ui->nleaks == 0 ||
        now_s() - a->leaks_asked < LEAKS_ASK_S)
        return;
    uint32_t ids[LEAKS_TYPES];
    int n = lt_leaks_wanted(ui->leaks, ui->nleaks, ui->suspects, ids, LEAKS_TYPES);
    int asked = 0;
    for (int i = 0; i < n; i++) {
        const lt_model_type_sites *ts = lt_model_type_sites_get(&a->model, ids[i]);
        uint32_t seq = a->model.n ? lt_model_point(&a->model, a->model.n - 1)->seq : 0;
        if (lt_model_why_get(&a->model, ids[i]) != NULL && ts != NULL &&
            seq - ts->at_seq < LEAKS_STALE)
            continue;
        char *cause = NULL;
        if (lt_conn_command(&a->conn, LT_CMD_WHY_ALIVE, ids[i], &cause) < 0 ||
            lt_conn_command(&a->conn, LT_CMD_TYPE_SITES, ids[i], &cause) < 0) {
            lt_free(cause);
            break;
        }
        asked = 1;
    }
    if (asked || n == 0)
        a->leaks_asked = now_s();
}

/* Enter in a type's detail: open the selected allocation site's traceback (Esc comes back);
 * without any site, ask the process again. */
static void
open_type_site(app *a)
{
    lt_ui *ui = &a->ui;
    char title[512];
    uint32_t id = lt_detail_selected_site(ui, title, sizeof title);
    if (id == 0) {
        ask_about_type(a);
        return;
    }
    if (lt_model_trace_get(ui->model, id) == NULL && cur_connected(a)) {
        char *cause = NULL;
        if (lt_conn_command(cur_conn(a), LT_CMD_GET_TRACE, id, &cause) < 0) {
            status(a, 1, "%s", cause);
            lt_free(cause);
        }
    }
    ui->detail = LT_DETAIL_TRACE;
    ui->detail_trace = id;
    ui->detail_top = 0;
    ui->detail_from_type = 1;
    snprintf(ui->detail_title, sizeof ui->detail_title, "%s", title[0] ? title : "?");
}

/* Handle one key. Returns 1 to quit. */
static int
handle_key(app *a, int key)
{
    lt_ui *ui = &a->ui;
    lt_table *t = &ui->tables[ui->view];
    a->dirty = 1;
    if (ui->filter_editing) {
        size_t len = strlen(ui->filter);
        if (key == LT_KEY_ENTER)
            ui->filter_editing = 0;
        else if (key == LT_KEY_ESC) {
            ui->filter_editing = 0;
            ui->filter[0] = '\0';
        } else if (key == LT_KEY_BACKSPACE && len > 0)
            ui->filter[len - 1] = '\0';
        else if (key >= 0x20 && key < 0x7f && len + 1 < sizeof ui->filter) {
            ui->filter[len] = (char)key;
            ui->filter[len + 1] = '\0';
        }
        lt_ui_rebuild(ui);
        return 0;
    }
    if (ui->help) {
        ui->help = 0;
        return key == 'q';
    }
    if (a->confirm_detach) {
        /* D: stop the agent in the process (LT_CMD_STOP); the program goes on. */
        char *cause = NULL;
        a->confirm_detach = 0;
        if (key != 'y' && key != 'Y')
            status(a, 0, "the agent keeps running");
        else if (!cur_connected(a) || lt_conn_command(cur_conn(a), LT_CMD_STOP, 0, &cause) < 0)
            status(a, 1, "%s", cause ? cause : "not connected to a live process");
        else
            status(a, 0, "stopping the agent in pid %ld...", (long)cur_pid(a));
        lt_free(cause);
        return 0;
    }
    ui->status[0] = '\0';
    if (ui->workers_shown && ui->tree != NULL) {
        /* The Workers screen: move, Enter watches one, Esc or w goes back; other keys close it
         * and do what they do. */
        lt_table *wt = &ui->workers_table;
        switch (key) {
        case LT_KEY_UP: lt_table_move(wt, -1); return 0;
        case LT_KEY_DOWN: lt_table_move(wt, 1); return 0;
        case LT_KEY_PGUP: lt_table_move(wt, -page()); return 0;
        case LT_KEY_PGDN: lt_table_move(wt, page()); return 0;
        case LT_KEY_HOME: lt_table_move(wt, -wt->nrows); return 0;
        case LT_KEY_END: lt_table_move(wt, wt->nrows); return 0;
        case LT_KEY_ENTER: {
            const lt_table_row *row = lt_table_selected(wt);
            if (row != NULL) {
                view_process(a, (pid_t)row->key);
                ui->workers_shown = 0;
                ui->view = LT_VIEW_SUSPECTS;
                status(a, 0, "watching pid %ld; w lists the processes", (long)row->key);
            }
            return 0;
        }
        case LT_KEY_ESC: case LT_KEY_BACKSPACE: case 'w':
            ui->workers_shown = 0;
            return 0;
        case 'q': case 'Q': case '?': case 'h': case LT_KEY_F1: case LT_KEY_RESIZE:
            break;
        default:
            ui->workers_shown = 0;
            break;
        }
    }
    switch (key) {
    case 'q': case 'Q':
        return 1;
    case 'w':
        if (ui->tree == NULL)
            status(a, 0, "one process: no other process of the program has an agent");
        else {
            ui->workers_shown = 1;
            lt_view_workers_build(ui);
        }
        break;
    case '?': case 'h': case LT_KEY_F1:
        ui->help = 1;
        break;
    case LT_KEY_ESC: case LT_KEY_BACKSPACE:
        if (ui->detail == LT_DETAIL_TRACE && ui->detail_from_type) {
            /* Back to the type whose site this was. */
            ui->detail = LT_DETAIL_TYPE;
            ui->detail_from_type = 0;
            snprintf(ui->detail_title, sizeof ui->detail_title, "%s",
                     lt_model_string(ui->model, ui->detail_name_id));
        } else if (ui->detail != LT_DETAIL_NONE)
            ui->detail = LT_DETAIL_NONE;
        else if (ui->filter[0]) {
            ui->filter[0] = '\0';
            lt_ui_rebuild(ui);
        }
        break;
    case LT_KEY_TAB: case LT_KEY_RIGHT:
        ui->detail = LT_DETAIL_NONE;
        ui->view = (lt_view)((ui->view + 1) % LT_VIEW_COUNT);
        break;
    case LT_KEY_BTAB: case LT_KEY_LEFT:
        ui->detail = LT_DETAIL_NONE;
        ui->view = (lt_view)((ui->view + LT_VIEW_COUNT - 1) % LT_VIEW_COUNT);
        break;
    case '1': case '2': case '3': case '4': case '5':
        ui->detail = LT_DETAIL_NONE;
        ui->view = (lt_view)(key - '1');
        break;
    case LT_KEY_UP:
        if (ui->detail == LT_DETAIL_TYPE) ui->detail_sel = ui->detail_sel > 0 ? ui->detail_sel - 1 : 0;
        else if (ui->detail) ui->detail_top = ui->detail_top > 0 ? ui->detail_top - 1 : 0;
        else lt_table_move(t, -1);
        break;
    case LT_KEY_DOWN:
        if (ui->detail == LT_DETAIL_TYPE) ui->detail_sel++; /* kept in range when drawn */
        else if (ui->detail) ui->detail_top++;
        else lt_table_move(t, 1);
        break;
    case LT_KEY_PGUP:
        if (ui->detail) ui->detail_top = ui->detail_top > page() ? ui->detail_top - page() : 0;
        else lt_table_move(t, -page());
        break;
    case LT_KEY_PGDN:
        if (ui->detail) ui->detail_top += page();
        else lt_table_move(t, page());
        break;
    case LT_KEY_HOME:
        if (ui->detail) ui->detail_top = 0;
        else lt_table_move(t, -t->nrows);
        break;
    case LT_KEY_END:
        lt_table_move(t, t->nrows);
        break;
    case LT_KEY_ENTER:
        if (ui->detail == LT_DETAIL_TYPE) {
            open_type_site(a);
        } else if (ui->detail == LT_DETAIL_NONE) {
            if (lt_ui_open_detail(ui) < 0) {
                status(a, 0, "nothing to open here");
            } else if (ui->detail == LT_DETAIL_TYPE) {
                ui->detail_sel = 0;
                ui->detail_from_type = 0;
                ask_about_type(a);
            } else {
                ui->detail_from_type = 0;
            }
        }
        break;
    case 's': {
        if (t->ncols <= 1)
            break;
        int col = ui->sort[ui->view] + 1;
        if (col >= t->ncols || col == t->spark_col)
            col = 0;
        ui->sort[ui->view] = col;
        lt_table_sort(t, col);
        lt_table_reselect(t);
        status(a, 0, "sorted by %s", t->cols[col].title);
        break;
    }
    case '/':
        ui->filter_editing = 1;
        break;
    case 'l':
        ui->show_library = !ui->show_library;
        lt_ui_rebuild(ui);
        status(a, 0, ui->show_library ? "library frames shown: sites by their newest frame"
                                      : "library frames folded: sites by the program's own line");
        break;
    case 'b': {
        uint32_t first, end;
        lt_ui_window(ui, &first, &end);
        if (ui->have_baseline) {
            ui->have_baseline = 0;
            status(a, 0, "baseline: the first sample");
        } else if (end > 0) {
            ui->have_baseline = 1;
            ui->baseline_seq = lt_model_point(ui->model, end - 1)->seq;
            status(a, 0, "baseline set: CHANGE counts from sample #%u", ui->baseline_seq);
        }
        lt_ui_rebuild(ui);
        break;
    }
    case 'D':
        if (!cur_connected(a))
            status(a, 1, "not connected to a live process");
        else {
            a->confirm_detach = 1;
            status(a, 1, "stop the agent in pid %ld (detach; the program goes on)? y/n",
                   (long)cur_pid(a));
        }
        break;
    case 'g': {
        char *cause = NULL;
        if (!cur_connected(a))
            status(a, 1, "not connected to a live process");
        else if (lt_conn_command(cur_conn(a), LT_CMD_GC_COLLECT, 0, &cause) < 0) {
            status(a, 1, "%s", cause);
            lt_free(cause);
        } else
            status(a, 0, "gc.collect() requested...");
        break;
    }
    case 'p': case ' ':
        if (a->replay) {
            a->playing = !a->playing;
            if (a->playing && a->rep.shown >= a->rep.nsamples)
                replay_show(a, 1);
            a->play_due = now_s();
            replay_show(a, a->rep.shown);
        } else {
            ui->paused = !ui->paused;
            if (ui->paused && ui->model->n)
                ui->paused_seq = lt_model_point(ui->model, ui->model->n - 1)->seq;
            status(a, 0, ui->paused ? "display paused; collection goes on (p resumes)"
                                    : "display resumed");
            lt_ui_rebuild(ui);
        }
        break;
    case ',': case '.': case '<': case '>': case '[': case ']':
        if (!a->replay) {
            status(a, 0, "stepping through time is for replay; p pauses a live view");
            break;
        }
        a->playing = 0;
        replay_show(a, key == '[' ? 1 : key == ']' ? (long)a->rep.nsamples
                     : (long)a->rep.shown + (key == ',' ? -1 : key == '.' ? 1 : key == '<' ? -10 : 10));
        break;
    case 'm': {
        char *cause = NULL;
        if (!cur_connected(a))
            status(a, 1, "markers are dropped on a live process");
        else if (lt_conn_command(cur_conn(a), LT_CMD_MARKER, 0, &cause) < 0) {
            status(a, 1, "%s", cause);
            lt_free(cause);
        }
        break;
    }
    case 'r':
        if (a->replay || a->connected)
            break;
        if (a->started) {
            status(a, 1, "the program leaktop started has ended; nothing to reconnect to");
            break;
        } else {
            char *cause = NULL;
            if (connect_live(a, &cause) < 0) {
                status(a, 1, "%s", cause);
                lt_free(cause);
            } else
                status(a, 0, "reconnected to pid %ld", (long)a->pid);
        }
        break;
    case LT_KEY_RESIZE:
        break;
    default:
        a->dirty = 0;
        break;
    }
    return 0;
}

/* ---- the loop -------------------------------------------------------------------------- */

static int
loop(app *a)
{
    double next_proc = 0;
    int quit = 0;
    a->dirty = 1;
    while (!quit && !lt_crt_quit_signal()) {
        double now = now_s();
        if (a->proc != NULL && now >= next_proc) {
            a->ui.have_proc = lt_proc_reader_read(a->proc, &a->ui.proc) == 0;
            char *why = NULL;
            a->ui.have_limits = lt_limits_read("/proc", "/sys", cur_pid(a), &a->ui.limits, &why) == 0;
            lt_free(why);
            next_proc = now + PROC_PERIOD_MS / 1000.0;
            a->dirty = 1;
        }
        if (a->replay)
            replay_tick(a);
        if (a->started && !a->connected && !a->child.reaped && lt_child_poll(&a->child))
            lost_connection(a);
        if (a->max_refreshes)
            a->dirty = 1; /* -n N: N refreshes, one per tick, even when nothing changes */
        if (a->dirty) {
            /* Views change with data, not with the clock: rebuild only when a sample came (the
             * header reads the model directly). Judging suspects is the costly part. */
            uint32_t n = a->ui.model->n;
            uint32_t seq = n ? lt_model_point(a->ui.model, n - 1)->seq : 0;
            if ((!a->ui.paused || n == 0) &&
                (!a->built || n != a->built_n || seq != a->built_seq)) {
                lt_ui_rebuild(&a->ui);
                ask_about_leaks(a);
                a->built = 1;
                a->built_n = n;
                a->built_seq = seq;
            }
            lt_ui_draw(&a->ui);
            a->dirty = 0;
            if (a->max_refreshes && ++a->refreshes >= a->max_refreshes)
                break;
        }
        struct pollfd pfd[2 + LT_TREE_MAX];
        lt_member *who[LT_TREE_MAX];
        nfds_t n = 0;
        pfd[n++] = (struct pollfd){.fd = lt_crt_input_fd(), .events = POLLIN};
        int root_fd = a->connected;
        if (a->connected)
            pfd[n++] = (struct pollfd){.fd = a->conn.fd, .events = POLLIN};
        int nm = a->following ? lt_tree_pollfds(&a->tree, pfd + n, who, LT_TREE_MAX) : 0;
        int timeout = 200;
        if (poll(pfd, n + (nfds_t)nm, timeout) < 0 && errno != EINTR)
            break;
        if (root_fd && pfd[1].revents)
            pump_live(a);
        if (a->following)
            pump_tree(a, pfd + n, who, nm);
        int key;
        while (!quit && (key = lt_crt_key(0)) != LT_KEY_NONE)
            quit = handle_key(a, key);
    }
    return 0;
}

/* Follow the tree below the root (not for a forwarded socket: no local /proc to walk). */
static int
follow_tree(app *a)
{
    a->summary = lt_calloc(1, sizeof *a->summary);
    if (a->summary == NULL)
        return -1;
    lt_tree_init(&a->tree, a->pid, "leaktop tui " LEAKTOP_VERSION, a->started);
    a->following = 1;
    lt_tree_scan(&a->tree, now_s(), 1);
    a->ui.viewing_pid = (int)a->pid;
    snprintf(a->view_label, sizeof a->view_label, "%s", a->label);
    a->ui.source_label = a->view_label;
    return 0;
}

static void
app_free(app *a)
{
    if (a->following)
        lt_tree_free(&a->tree);
    a->following = 0;
    lt_free(a->summary);
    a->summary = NULL;
    if (a->connected)
        lt_conn_close(&a->conn);
    lt_proc_reader_free(a->proc);
    if (a->replay)
        lt_replay_close(&a->rep);
    lt_ui_free(&a->ui);
    lt_model_free(&a->model);
}

/* Start the UI on an initialised app. Returns the exit status. */
static int
run_ui(app *a)
{
    char *cause = NULL;
    if (lt_crt_init(&cause) < 0) {
        fprintf(stderr, "leaktop: %s\n", cause);
        lt_free(cause);
        return 2;
    }
    loop(a);
    lt_crt_done();
    int sig = lt_crt_quit_signal();
    return sig ? 128 + sig : 0;
}

/* Watch an agent already running: in pid (a local process, its /proc read too), or at
 * socket_path (a forwarded socket: its memory figures come from the agent's own samples, never
 * from this host's /proc, where that pid means another process or none). */
static int
watch_running(pid_t pid, const char *socket_path, unsigned max_refreshes)
{
    app a;
    memset(&a, 0, sizeof a);
    lt_ui_init(&a.ui);
    a.pid = pid;
    a.socket_path = socket_path;
    a.max_refreshes = max_refreshes;
    char *cause = NULL;
    if (lt_model_init(&a.model, MODEL_POINTS) < 0 || connect_live(&a, &cause) < 0) {
        fprintf(stderr, "leaktop: %s\n", cause ? cause : "out of memory");
        lt_free(cause);
        app_free(&a);
        return 2;
    }
    if (socket_path != NULL) {
        snprintf(a.label, sizeof a.label, "%s", socket_path);
    } else {
        snprintf(a.label, sizeof a.label, "pid %ld", (long)pid);
        a.proc = lt_proc_reader_new(pid);
    }
    a.ui.source_label = a.label;
    if (socket_path == NULL)
        follow_tree(&a);
    int rc = run_ui(&a);
    app_free(&a);
    return rc;
}

int
lt_app_pid(pid_t pid, unsigned max_refreshes)
{
    return watch_running(pid, NULL, max_refreshes);
}

int
lt_app_socket(const char *path, unsigned max_refreshes)
{
    return watch_running(0, path, max_refreshes);
}

int
lt_app_run(char **cmd, double interval, double budget, int keep, unsigned max_refreshes)
{
    app a;
    memset(&a, 0, sizeof a);
    lt_ui_init(&a.ui);
    a.max_refreshes = max_refreshes;
    a.keep = keep;
    /* The program's output would smear the screen: it goes to a log file, named at the end. */
    const char *tmp = getenv("TMPDIR");
    snprintf(a.log_path, sizeof a.log_path, "%s/leaktop-run-XXXXXX.log", tmp && *tmp ? tmp : "/tmp");
    int log_fd = mkstemps(a.log_path, 4);
    if (log_fd < 0) {
        fprintf(stderr, "leaktop: cannot create a log file for the program: %s\n", strerror(errno));
        return 2;
    }
    char opts[96];
    lt_launch_agent_options(opts, sizeof opts, interval, budget);
    lt_launch_opts lo = {.options = opts[0] ? opts : NULL, .output_fd = log_fd};
    char *cause = NULL;
    if (lt_model_init(&a.model, MODEL_POINTS) < 0 ||
        lt_launch(cmd, &lo, &a.child, &a.pid, &cause) < 0) {
        close(log_fd);
        fprintf(stderr, "leaktop: %s (its output: %s)\n", cause ? cause : "out of memory",
                a.log_path);
        lt_free(cause);
        app_free(&a);
        return 2;
    }
    close(log_fd);
    a.started = 1;
    if (connect_live(&a, &cause) < 0) {
        fprintf(stderr, "leaktop: %s\n", cause);
        lt_free(cause);
        lt_child_terminate(&a.child, 3000);
        app_free(&a);
        return 2;
    }
    snprintf(a.label, sizeof a.label, "pid %ld", (long)a.pid);
    a.ui.source_label = a.label;
    a.proc = lt_proc_reader_new(a.pid);
    follow_tree(&a);
    status(&a, 0, "the program's output goes to %s", a.log_path);
    int rc = run_ui(&a);
    if (a.connected) {
        lt_conn_close(&a.conn);
        a.connected = 0;
    }
    if (!keep)
        lt_child_terminate(&a.child, 3000);
    char how[128];
    lt_child_poll(&a.child);
    lt_child_describe(&a.child, how, sizeof how);
    fprintf(stderr, "leaktop: pid %ld %s%s; its output is in %s\n", (long)a.pid, how,
            keep && !a.child.reaped ? " (kept)" : "", a.log_path);
    app_free(&a);
    return rc;
}

int
lt_app_replay(const char *path, unsigned max_refreshes)
{
    app a;
    memset(&a, 0, sizeof a);
    lt_ui_init(&a.ui);
    a.max_refreshes = max_refreshes;
    a.replay = 1;
    char *cause = NULL;
    if (lt_model_init(&a.model, MODEL_POINTS) < 0 ||
        lt_replay_open(&a.rep, path, &a.model, &cause) < 0) {
        fprintf(stderr, "leaktop: %s\n", cause ? cause : "out of memory");
        lt_free(cause);
        a.replay = 0;
        app_free(&a);
        return 2;
    }
    const char *base = strrchr(path, '/');
    snprintf(a.label, sizeof a.label, "replay %s", base ? base + 1 : path);
    snprintf(a.view_label, sizeof a.view_label, "%s", a.label);
    a.ui.source_label = a.view_label;
    a.ui.model = &a.model;
    a.pid = (pid_t)(a.rep.root_pid ? a.rep.root_pid : a.model.pid);
    a.ui.viewing_pid = (int)a.pid;
    a.summary = lt_calloc(1, sizeof *a.summary); /* NULL: the recording shows as one process */
    replay_show(&a, (long)a.rep.nsamples); /* start with the whole recording shown */
    int rc = run_ui(&a);
    app_free(&a);
    return rc;
}
