/* `leaktop` alone: this user's Python processes, to pick one. */
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "crt.h"
#include "format.h"
#include "leaktop/mem.h"
#include "proc_stats.h"

#define MAX_PROCS 512

static void
draw(const lt_proc_entry *e, int n, int sel, int top, const char *msg)
{
    char a[64];
    int rows = lt_crt_rows();
    lt_crt_erase();
    lt_crt_bar(0, LT_A_HEADER);
    lt_crt_text(0, 0, LT_A_HEADER, "leaktop  your Python processes  (Enter opens, q quits)", 0);
    lt_crt_bar(1, LT_A_TITLE);
    lt_crt_printf(1, 1, LT_A_TITLE, "%7s %10s %-6s %-8s %s", "PID", "RSS", "AGENT", "UP", "COMMAND");
    for (int i = 0; i + 2 < rows - 1 && top + i < n; i++) {
        const lt_proc_entry *p = &e[top + i];
        int s = top + i == sel;
        if (s)
            lt_crt_bar(2 + i, LT_A_SELECTED);
        char up[32];
        lt_crt_printf(2 + i, 1, s ? LT_A_SELECTED : p->has_agent ? LT_A_GOOD : LT_A_NORMAL,
                      "%7ld %10s %-6s %-8s %s", (long)p->pid, lt_fmt_bytes(a, sizeof a, p->rss),
                      p->has_agent ? "yes" : "-", lt_fmt_duration(up, sizeof up, p->elapsed_s),
                      p->cmdline);
    }
    if (n == 0)
        lt_crt_text(3, 2, LT_A_DIM, "no Python process of yours is running", 0);
    lt_crt_bar(rows - 1, LT_A_FOOTER);
    lt_crt_text(rows - 1, 0, msg[0] ? LT_A_WARN : LT_A_FOOTER,
                msg[0] ? msg : "Up/Down move  Enter open  r refresh  q quit", 0);
    lt_crt_flush();
}

int
lt_app_picker(unsigned max_refreshes)
{
    lt_proc_entry *e = lt_calloc(MAX_PROCS, sizeof *e);
    char *cause = NULL;
    if (e == NULL || lt_crt_init(&cause) < 0) {
        fprintf(stderr, "leaktop: %s\n", cause ? cause : "out of memory");
        lt_free(cause);
        lt_free(e);
        return 2;
    }
    int n = lt_proc_list_python(e, MAX_PROCS), sel = 0, top = 0, chosen = -1;
    char msg[256] = "";
    unsigned refreshes = 0;
    if (n < 0)
        n = 0;
    for (int quit = 0; !quit && !lt_crt_quit_signal();) {
        int page = lt_crt_rows() - 3;
        if (sel >= n)
            sel = n > 0 ? n - 1 : 0;
        if (sel < top)
            top = sel;
        if (page > 0 && sel >= top + page)
            top = sel - page + 1;
        draw(e, n, sel, top, msg);
        if (max_refreshes && ++refreshes >= max_refreshes)
            break;
        int k = lt_crt_key(2000);
        msg[0] = '\0';
        switch (k) {
        case 'q': case LT_KEY_ESC: quit = 1; break;
        case LT_KEY_UP: sel = sel > 0 ? sel - 1 : 0; break;
        case LT_KEY_DOWN: sel++; break;
        case LT_KEY_PGUP: sel = sel > page ? sel - page : 0; break;
        case LT_KEY_PGDN: sel += page; break;
        case LT_KEY_HOME: sel = 0; break;
        case LT_KEY_END: sel = n - 1; break;
        case LT_KEY_ENTER:
            if (n == 0)
                break;
            if (e[sel].has_agent) {
                chosen = (int)e[sel].pid;
                quit = 1;
            } else {
                snprintf(msg, sizeof msg, "pid %ld has no agent: start it with leaktop run, or "
                                          "leaktop.start() in the program",
                         (long)e[sel].pid);
            }
            break;
        case 'r': case LT_KEY_NONE: {
            int m = lt_proc_list_python(e, MAX_PROCS);
            n = m < 0 ? 0 : m;
            break;
        }
        default: break;
        }
    }
    lt_crt_done();
    lt_free(e);
    if (chosen > 0)
        return lt_app_pid((pid_t)chosen, max_refreshes ? max_refreshes - refreshes + 1 : 0);
    return 0;
}
