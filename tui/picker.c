/*
 * `leaktop` alone: this user's Python processes, to pick one. Each row shows what the kernel
 * says (libproc2): RSS, its growth over the last minute as a rate and a sparkline (sampled here
 * once a second, no agent needed), the Python version, whether an agent runs in it. Enter opens
 * a process with an agent, and offers to attach (y/n) to one without.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "attach.h"
#include "crt.h"
#include "format.h"
#include "leaktop/mem.h"
#include "proc_stats.h"
#include "sparkline.h"

#define MAX_PROCS 512
#define HISTORY 60     /* RSS samples kept per process, one a second */
#define SAMPLE_MS 1000
#define SPARK_CELLS 16

typedef struct row {
    lt_proc_entry e;
    char version[16];
    double rss[HISTORY]; /* oldest first */
    double when[HISTORY];
    int n;
} row;

typedef struct picker {
    row *rows, *next;
    int nrows;
    lt_proc_entry *scratch;
    pid_t sel_pid;
    int sel, top;
    pid_t confirm; /* asking whether to attach to this pid */
    char msg[512];
    int msg_bad;
} picker;

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* List the processes again, carrying each one's history over and adding a sample when a
 * second has passed since its last. */
static void
refresh(picker *p)
{
    int m = lt_proc_list_python(p->scratch, MAX_PROCS);
    if (m < 0)
        m = 0;
    double t = now_s();
    for (int i = 0; i < m; i++) {
        row *r = &p->next[i];
        const row *old = NULL;
        for (int j = 0; j < p->nrows && old == NULL; j++)
            if (p->rows[j].e.pid == p->scratch[i].pid)
                old = &p->rows[j];
        if (old != NULL) {
            *r = *old;
        } else {
            memset(r, 0, sizeof *r);
            lt_attach_python_version(p->scratch[i].pid, r->version, sizeof r->version);
        }
        r->e = p->scratch[i];
        if (r->n == 0 || t - r->when[r->n - 1] >= SAMPLE_MS / 1000.0 * 0.9) {
            if (r->n == HISTORY) {
                memmove(r->rss, r->rss + 1, (HISTORY - 1) * sizeof r->rss[0]);
                memmove(r->when, r->when + 1, (HISTORY - 1) * sizeof r->when[0]);
                r->n--;
            }
            r->rss[r->n] = (double)r->e.rss;
            r->when[r->n] = t;
            r->n++;
        }
    }
    row *swap = p->rows;
    p->rows = p->next;
    p->next = swap;
    p->nrows = m;
    /* Keep the same process selected when rows move. */
    for (int i = 0; i < m; i++)
        if (p->rows[i].e.pid == p->sel_pid)
            p->sel = i;
}

static double
growth(const row *r)
{
    if (r->n < 2 || r->when[r->n - 1] <= r->when[0])
        return 0;
    return (r->rss[r->n - 1] - r->rss[0]) / (r->when[r->n - 1] - r->when[0]);
}

static void
draw(picker *p)
{
    int rows = lt_crt_rows();
    lt_spark_mode mode = lt_crt_utf8() ? LT_SPARK_BLOCK : LT_SPARK_ASCII;
    lt_crt_erase();
    lt_crt_bar(0, LT_A_HEADER);
    lt_crt_text(0, 0, LT_A_HEADER,
                "leaktop  your Python processes  (Enter opens or attaches, q quits)", 0);
    lt_crt_bar(1, LT_A_TITLE);
    lt_crt_printf(1, 1, LT_A_TITLE, "%7s %10s %12s %-*s %-5s %-5s %-8s %s", "PID", "RSS",
                  "GROWTH", SPARK_CELLS, "RSS (1 min)", "PY", "AGENT", "UP", "COMMAND");
    for (int i = 0; i + 2 < rows - 1 && p->top + i < p->nrows; i++) {
        const row *r = &p->rows[p->top + i];
        int s = p->top + i == p->sel;
        if (s)
            lt_crt_bar(2 + i, LT_A_SELECTED);
        char rss[32], rate[32], up[32], spark[SPARK_CELLS * 4 + 1];
        lt_sparkline(r->rss, (size_t)r->n, SPARK_CELLS, mode, spark, sizeof spark);
        lt_attr a = s ? LT_A_SELECTED : r->e.has_agent ? LT_A_GOOD : LT_A_NORMAL;
        lt_crt_printf(2 + i, 1, a, "%7ld %10s %12s", (long)r->e.pid,
                      lt_fmt_bytes(rss, sizeof rss, r->e.rss),
                      r->n >= 2 ? lt_fmt_byte_rate(rate, sizeof rate, growth(r)) : "");
        lt_crt_text(2 + i, 33, s ? LT_A_SELECTED : LT_A_SPARK, spark, SPARK_CELLS);
        lt_crt_printf(2 + i, 34 + SPARK_CELLS, a, "%-5s %-5s %-8s %s",
                      r->version[0] ? r->version : "?", r->e.has_agent ? "yes" : r->e.agent_stale ? "stale" : "-",
                      lt_fmt_duration(up, sizeof up, r->e.elapsed_s), r->e.cmdline);
    }
    if (p->nrows == 0)
        lt_crt_text(3, 2, LT_A_DIM, "no Python process of yours is running", 0);
    lt_crt_bar(rows - 1, LT_A_FOOTER);
    lt_crt_text(rows - 1, 0, p->msg[0] ? (p->msg_bad ? LT_A_BAD : LT_A_WARN) : LT_A_FOOTER,
                p->msg[0] ? p->msg : "Up/Down move  Enter open (or attach)  r refresh  q quit", 0);
    lt_crt_flush();
}

/* The y of "attach? (y/n)": load the agent, then open the process. Returns 1 to open. */
static int
do_attach(picker *p, pid_t pid)
{
    snprintf(p->msg, sizeof p->msg, "attaching to pid %ld with gdb...", (long)pid);
    p->msg_bad = 0;
    draw(p);
    lt_attach_result res;
    char *cause = NULL;
    if (lt_attach(pid, NULL, &res, &cause) < 0) {
        snprintf(p->msg, sizeof p->msg, "%s", cause);
        p->msg_bad = 1;
        lt_free(cause);
        return 0;
    }
    return 1;
}

int
lt_app_picker(unsigned max_refreshes)
{
    picker p;
    memset(&p, 0, sizeof p);
    p.rows = lt_calloc(MAX_PROCS, sizeof *p.rows);
    p.next = lt_calloc(MAX_PROCS, sizeof *p.next);
    p.scratch = lt_calloc(MAX_PROCS, sizeof *p.scratch);
    char *cause = NULL;
    if (p.rows == NULL || p.next == NULL || p.scratch == NULL || lt_crt_init(&cause) < 0) {
        fprintf(stderr, "leaktop: %s\n", cause ? cause : "out of memory");
        lt_free(cause);
        lt_free(p.rows);
        lt_free(p.next);
        lt_free(p.scratch);
        return 2;
    }
    refresh(&p);
    pid_t chosen = 0;
    int attached = 0;
    unsigned refreshes = 0;
    double next_sample = now_s() + SAMPLE_MS / 1000.0;
    for (int quit = 0; !quit && !lt_crt_quit_signal();) {
        int page = lt_crt_rows() - 3;
        if (p.sel >= p.nrows)
            p.sel = p.nrows > 0 ? p.nrows - 1 : 0;
        if (p.sel < 0)
            p.sel = 0;
        if (p.sel < p.top)
            p.top = p.sel;
        if (page > 0 && p.sel >= p.top + page)
            p.top = p.sel - page + 1;
        p.sel_pid = p.nrows > 0 ? p.rows[p.sel].e.pid : 0;
        draw(&p);
        if (max_refreshes && ++refreshes >= max_refreshes)
            break;
        int wait = (int)((next_sample - now_s()) * 1000);
        int k = lt_crt_key(wait > 0 ? wait : 0);
        if (k == LT_KEY_NONE || now_s() >= next_sample) {
            refresh(&p);
            next_sample = now_s() + SAMPLE_MS / 1000.0;
            if (k == LT_KEY_NONE)
                continue;
        }
        if (p.confirm) {
            pid_t pid = p.confirm;
            p.confirm = 0;
            p.msg[0] = '\0';
            if ((k == 'y' || k == 'Y') && do_attach(&p, pid)) {
                chosen = pid;
                attached = 1;
                quit = 1;
            }
            continue;
        }
        if (k != LT_KEY_RESIZE)
            p.msg[0] = '\0';
        switch (k) {
        case 'q': case LT_KEY_ESC: quit = 1; break;
        case LT_KEY_UP: p.sel = p.sel > 0 ? p.sel - 1 : 0; break;
        case LT_KEY_DOWN: p.sel++; break;
        case LT_KEY_PGUP: p.sel = p.sel > page ? p.sel - page : 0; break;
        case LT_KEY_PGDN: p.sel += page; break;
        case LT_KEY_HOME: p.sel = 0; break;
        case LT_KEY_END: p.sel = p.nrows - 1; break;
        case LT_KEY_ENTER:
            if (p.nrows == 0)
                break;
            if (p.rows[p.sel].e.has_agent) {
                chosen = p.rows[p.sel].e.pid;
                quit = 1;
            } else {
                p.confirm = p.rows[p.sel].e.pid;
                p.msg_bad = 0;
                snprintf(p.msg, sizeof p.msg,
                         p.rows[p.sel].e.agent_stale
                             ? "pid %ld: its agent socket is stale (nobody listens on it). "
                               "Load a new agent (leaktop attach)? y/n"
                             : "pid %ld has no agent. Load it now (leaktop attach)? y/n",
                         (long)p.confirm);
            }
            break;
        case 'r':
            refresh(&p);
            break;
        default: break;
        }
    }
    lt_crt_done();
    lt_free(p.rows);
    lt_free(p.next);
    lt_free(p.scratch);
    if (chosen <= 0)
        return 0;
    int rc = lt_app_pid(chosen, max_refreshes ? max_refreshes - refreshes + 1 : 0);
    if (attached && lt_attach_socket_exists(chosen))
        fprintf(stderr, "leaktop: the agent loaded into pid %ld keeps running; `leaktop detach "
                        "%ld` stops it\n",
                (long)chosen, (long)chosen);
    return rc;
}
