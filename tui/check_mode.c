/* `leaktop check`: watch, then report and judge. */
#include "check_mode.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "leaks.h"
#include "leaktop/mem.h"
#include "mem_limits.h"
#include "report.h"
#include "report_tree.h"
#include "watch.h"

#define WHY_TYPES 6
#define SITES_TYPES 8
/* A busy program's answers: 8 walks, then searches of up to 3 s each; on a machine that busy
 * too (a load of 25 on 2 cores: a million asyncio objects' walks) 25 s was not enough. Waited
 * for only as long as they take. */
#define WHY_WAIT_S 60.0

/* While the process still runs: ask its agent what holds the types of its findings and where
 * their live instances were allocated (leaks.h says which types). Best effort: a process that
 * has exited, an agent without the TYPE_SITES command, or a search that takes too long leave
 * them without an answer. */
static void
ask_about_types(lt_conn *conn, lt_model *model, const lt_report *r, const struct timespec *t0)
{
    if (conn->fd < 0 || conn->eof || r->nsuspects == 0)
        return;
    lt_leak f[LT_LEAKS_MAX];
    int nf = lt_leaks_build(model, r->suspects, r->nsuspects, f, LT_LEAKS_MAX);
    uint32_t ids[SITES_TYPES];
    int nids = lt_leaks_wanted(f, nf, r->suspects, ids, SITES_TYPES);
    /* Where first (one walk each), then what holds them (a search each, up to its budget):
     * the agent answers in order, and a long search must not starve the quick answers. */
    for (int k = 0; k < 2 * nids; k++) {
        char *cause = NULL;
        int why = k >= nids, i = why ? k - nids : k;
        if (why && i >= WHY_TYPES)
            break;
        if (lt_conn_command(conn, why ? LT_CMD_WHY_ALIVE : LT_CMD_TYPE_SITES, ids[i],
                            &cause) < 0) {
            lt_free(cause);
            return;
        }
    }
    int asked_why = nids < WHY_TYPES ? nids : WHY_TYPES, asked_sites = nids;
    int sites_refused = 0;
    struct timespec t;
    for (;;) {
        int why = 0, sites = 0;
        for (int k = 0; k < nids; k++) {
            why += k < WHY_TYPES && lt_model_why_get(model, ids[k]) != NULL;
            sites += lt_model_type_sites_get(model, ids[k]) != NULL;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        double waited = (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
        if ((why >= asked_why && (sites >= asked_sites || sites_refused)) ||
            waited > WHY_WAIT_S || lt_watch_interrupted())
            return;
        char *cause = NULL;
        if (lt_conn_pump(conn, model, 200, &cause) != 0 && conn->eof) {
            lt_free(cause);
            return;
        }
        lt_free(cause);
        /* An agent that does not know TYPE_SITES answers "unknown command": stop waiting. */
        if (conn->have_reply && conn->reply_code == LT_CMD_TYPE_SITES &&
            conn->reply_status < 0 && conn->reply_message != NULL &&
            strcmp(conn->reply_message, "unknown command") == 0)
            sites_refused = 1;
        conn->have_reply = 0;
    }
}

int
lt_check_main(const lt_cli *cli)
{
    lt_watch_signals();
    lt_watch w;
    /* With --json our stdout is the report alone: the program's stdout goes to stderr. */
    lt_watch_opts o = {.cmd = cli->cmd, .pid = cli->pid, .socket_path = cli->socket,
                       .interval_s = cli->interval,
                       .budget_pct = cli->budget,
                       .keep = cli->keep, .stdout_to_stderr = 1,
                       .client = "leaktop check " LEAKTOP_VERSION,
                       .follow_tree = cli->socket == NULL};
    char *cause = NULL;
    if (lt_watch_open(&w, &o, &cause) < 0) {
        fprintf(stderr, "leaktop: %s\n", cause ? cause : "cannot start");
        lt_free(cause);
        return 2;
    }
    /* The limits now and again at the end: a process that died of them is read at the start. */
    lt_limits limits;
    char *why = NULL;
    /* (Not for a forwarded socket: this host's /proc knows nothing of that process.) */
    int have_limits = !cli->socket && lt_limits_read("/proc", "/sys", w.pid, &limits, &why) == 0;
    lt_free(why);
    if (lt_watch_run(&w, cli->duration, &cause) < 0) {
        fprintf(stderr, "leaktop: %s\n", cause);
        lt_free(cause);
        lt_watch_close(&w);
        return 2;
    }
    lt_report r;
    if (lt_report_build(&r, &w.model, w.first, cli->top, &cause) < 0) {
        fprintf(stderr, "leaktop: pid %ld: %s (%s)\n", (long)w.pid, cause,
                w.end_reason ? w.end_reason : "ended");
        lt_free(cause);
        lt_watch_close(&w);
        return 2;
    }
    lt_limits now;
    if (!cli->socket && lt_limits_read("/proc", "/sys", w.pid, &now, &why) == 0)
        lt_report_set_limits(&r, &w.model, w.first, &now);
    else if (have_limits)
        lt_report_set_limits(&r, &w.model, w.first, &limits);
    lt_free(why);
    /* A program of several processes: each one judged alone, and the findings merged. */
    lt_report_tree tree;
    memset(&tree, 0, sizeof tree);
    int have_tree = w.following && w.tree.n > 0 &&
                    lt_report_tree_build(&tree, &r, w.pid, &w.tree, cli->top) == 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (w.connected)
        ask_about_types(&w.conn, &w.model, &r, &t0);
    lt_report_set_leaks(&r, &w.model);
    for (int i = 1; have_tree && i < tree.nprocs; i++) {
        lt_member *mb = lt_tree_find(&w.tree, tree.procs[i].pid);
        if (mb != NULL && mb->connected && tree.procs[i].report->nsuspects > 0)
            ask_about_types(&mb->conn, &mb->model, tree.procs[i].report, &t0);
    }
    lt_watch_stop_target(&w);
    if (have_tree)
        r.tree = &tree;
    /* The command is what the user asked to run, when they asked. */
    if (cli->cmd != NULL) {
        uint32_t n = 0;
        while (cli->cmd[n] != NULL)
            n++;
        r.command = (const char *const *)cli->cmd;
        r.argc = n;
    }
    char ended[160] = "";
    if (w.started && w.child.reaped && strcmp(w.end_reason, "the process exited") == 0) {
        char how[128];
        lt_child_describe(&w.child, how, sizeof how);
        snprintf(ended, sizeof ended, "the process %s", how);
        r.have_exit = 1;
        r.exit_code = WIFEXITED(w.child.status) ? WEXITSTATUS(w.child.status) : -1;
        r.exit_signal = WIFSIGNALED(w.child.status) ? WTERMSIG(w.child.status) : 0;
    } else if (w.end_reason != NULL && strcmp(w.end_reason, "time is up") != 0) {
        snprintf(ended, sizeof ended, "%s", w.end_reason);
    }
    r.ended = ended[0] ? ended : NULL;
    if (cli->json)
        lt_report_write_json(&r, stdout);
    else
        lt_report_write_text(&r, stdout);
    int status = (have_tree ? tree.nfindings : r.nsuspects) > 0 ? 1 : 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "leaktop: cannot write the report to stdout\n");
        status = 2;
    }
    if (have_tree)
        lt_report_tree_free(&tree);
    lt_report_free(&r);
    lt_watch_close(&w);
    return status;
}
