/* A headless watch of one process. */
#define _GNU_SOURCE
#include "watch.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "leaktop/mem.h"
#include "leaktop/sockpath.h"
#include "proc_stats.h"

#define MODEL_POINTS 4096
#define TERM_GRACE_MS 3000
#define HISTORY_WAIT_MS 5000

static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
    interrupted = sig;
}

void
lt_watch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int
lt_watch_interrupted(void)
{
    return interrupted;
}

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *
lt_watch_explain_pid(pid_t pid, int kind, const char *connect_cause)
{
    if (kill(pid, 0) < 0 && errno == ESRCH) {
        if (kind == LT_SOCK_ESTALE)
            return lt_asprintf("no process with pid %ld; its agent socket is stale (the process "
                               "was killed) and the next agent that starts removes it",
                               (long)pid);
        return lt_asprintf("no process with pid %ld", (long)pid);
    }
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%ld", (long)pid);
    if (stat(path, &st) == 0 && st.st_uid != geteuid() && geteuid() != 0)
        return lt_asprintf("pid %ld belongs to uid %u, not to you; leaktop only watches your own "
                           "processes",
                           (long)pid, (unsigned)st.st_uid);
    if (kind == LT_SOCK_ENOENT) {
        if (!lt_proc_is_python(pid))
            return lt_asprintf("pid %ld is not a Python process", (long)pid);
        return lt_asprintf("pid %ld runs Python but has no leaktop agent; load one with "
                           "`leaktop attach %ld`, start one in the program with `import leaktop; "
                           "leaktop.start()`, or start the program with `leaktop run -- ...`",
                           (long)pid, (long)pid);
    }
    return lt_strdup(connect_cause ? connect_cause : "cannot connect");
}

char *
lt_watch_explain_socket(const char *path, int kind, const char *connect_cause)
{
    if (kind == LT_SOCK_ESTALE)
        return lt_asprintf("stale socket %s: nobody listens on it (the agent has stopped, or "
                           "the forwarding, ssh -L, has ended)",
                           path);
    return lt_strdup(connect_cause ? connect_cause : "cannot connect");
}

int
lt_watch_open(lt_watch *w, const lt_watch_opts *o, char **cause)
{
    memset(w, 0, sizeof *w);
    w->o = *o;
    if (lt_model_init(&w->model, MODEL_POINTS) < 0) {
        *cause = lt_asprintf("out of memory");
        return -1;
    }
    if (o->cmd != NULL) {
        char opts[96];
        lt_launch_agent_options(opts, sizeof opts, o->interval_s, o->budget_pct);
        lt_launch_opts lo = {.options = opts[0] ? opts : NULL,
                             .stdout_to_stderr = o->stdout_to_stderr};
        if (lt_launch(o->cmd, &lo, &w->child, &w->pid, cause) < 0) {
            lt_model_free(&w->model);
            return -1;
        }
        w->started = 1;
    } else {
        w->pid = o->pid;
    }

    int kind = 0;
    char *why = NULL;
    int orc;
    if (o->socket_path != NULL) {
        /* A forwarded socket: nothing local to explain or attach to. */
        if (lt_conn_open_path(&w->conn, o->socket_path, o->client, &kind, &why) < 0) {
            *cause = lt_watch_explain_socket(o->socket_path, kind, why);
            lt_free(why);
            lt_watch_close(w);
            return -1;
        }
        orc = 0;
    } else {
        orc = lt_conn_open(&w->conn, w->pid, o->client, &kind, &why);
    }
    if (orc < 0 && !w->started && (kind == LT_SOCK_ENOENT || kind == LT_SOCK_ESTALE)) {
        /* --pid without an agent: load one (contracts: "attaches otherwise"). */
        lt_free(why);
        why = NULL;
        lt_attach_opts ao = {.interval_s = o->interval_s};
        lt_attach_result res;
        if (lt_attach(w->pid, &ao, &res, cause) < 0) {
            lt_watch_close(w);
            return -1;
        }
        w->attached = !res.already;
        if (w->attached)
            fprintf(stderr, "leaktop: pid %ld had no agent: loaded one (Python %s, %s, %.2f s); "
                            "%s\n",
                    (long)w->pid, res.python, res.route, res.seconds,
                    o->keep ? "it keeps running after leaktop (--keep); `leaktop detach PID` "
                              "stops it"
                            : "it is stopped again at the end (--keep leaves it running)");
        orc = lt_conn_open(&w->conn, w->pid, o->client, &kind, &why);
    }
    if (orc < 0) {
        *cause = w->started ? why : lt_watch_explain_pid(w->pid, kind, why);
        if (!w->started)
            lt_free(why);
        lt_watch_close(w);
        return -1;
    }
    w->connected = 1;
    w->conn.tap = o->tap;
    w->conn.tap_ctx = o->tap_ctx;

    /* History first: everything up to HISTORY_END was taken before we came. */
    double deadline = now_s() + HISTORY_WAIT_MS / 1000.0;
    while (!w->model.history_done && !interrupted && !w->stop) {
        int rc = lt_conn_pump(&w->conn, &w->model, 100, cause);
        if (rc < 0) {
            lt_watch_close(w);
            return -1;
        }
        if (rc == 2)
            break;
        if (now_s() > deadline) {
            *cause = o->socket_path
                         ? lt_asprintf("%s accepted the connection but sent no leaktop stream",
                                       o->socket_path)
                         : lt_asprintf("pid %ld accepted the connection but sent no leaktop "
                                       "stream",
                                       (long)w->pid);
            lt_watch_close(w);
            return -1;
        }
    }
    if (!w->model.have_hello) {
        char who[64];
        snprintf(who, sizeof who, "pid %ld", (long)w->pid);
        *cause = lt_asprintf("%s closed the connection without a leaktop hello; another viewer "
                             "may have stopped its agent, or it is not a leaktop socket",
                             o->socket_path ? o->socket_path : who);
        lt_watch_close(w);
        return -1;
    }
    if (o->socket_path != NULL)
        w->pid = (pid_t)w->model.pid; /* for the report: the process on the other end */
    /* A program we started is ours from its first sample; a running one is watched from now. */
    w->first = w->started ? 0 : w->model.n;
    if (o->follow_tree && o->socket_path == NULL) {
        lt_tree_init(&w->tree, w->pid, o->client, w->started);
        w->tree.tap = o->tree_tap;
        w->tree.tap_ctx = o->tree_tap_ctx;
        lt_tree_scan(&w->tree, now_s(), 1);
        w->following = 1;
    }
    return 0;
}

int
lt_watch_run(lt_watch *w, double duration_s, char **cause)
{
    double end = duration_s >= 0 ? now_s() + duration_s : 0;
    w->end_reason = NULL;
    while (w->end_reason == NULL) {
        if (interrupted) {
            w->end_reason = "interrupted";
            break;
        }
        if (w->stop) {
            w->end_reason = "stopped";
            break;
        }
        double now = now_s();
        if (duration_s >= 0 && now >= end) {
            w->end_reason = "time is up";
            break;
        }
        int wait = 200;
        if (duration_s >= 0 && (end - now) * 1000 < wait)
            wait = (int)((end - now) * 1000) + 1;
        if (w->following) {
            /* Root and members in one poll; the root is then read without waiting. */
            struct pollfd pfd[1 + LT_TREE_MAX];
            lt_member *who[LT_TREE_MAX];
            pfd[0] = (struct pollfd){.fd = w->conn.fd, .events = POLLIN};
            int k = lt_tree_pollfds(&w->tree, pfd + 1, who, LT_TREE_MAX);
            if (poll(pfd, (nfds_t)k + 1, wait) > 0)
                for (int i = 0; i < k; i++)
                    if (pfd[1 + i].revents)
                        lt_tree_service(who[i], now_s());
            lt_tree_scan(&w->tree, now_s(), 0);
            wait = 0;
        }
        int rc = lt_conn_pump(&w->conn, &w->model, wait, cause);
        if (rc < 0)
            return -1;
        if (rc == 2)
            w->end_reason = w->model.bye == LT_BYE_EXITING ? "the process exited"
                            : w->model.bye == LT_BYE_STOPPED ? "the agent was stopped"
                                                             : "the connection was lost";
        else if (w->started && lt_child_poll(&w->child))
            w->end_reason = "the process exited";
    }
    /* Frames already queued (the agent's last sample and goodbye) are part of the watch. */
    if (!w->conn.eof)
        while (lt_conn_pump(&w->conn, &w->model, 0, cause) == 1) {
        }
    return 0;
}

void
lt_watch_stop_target(lt_watch *w)
{
    if (w->following) {
        lt_tree_drain(&w->tree, now_s());
        lt_tree_disconnect(&w->tree);
    }
    if (w->connected)
        lt_conn_close(&w->conn);
    w->connected = 0;
    if (w->started && w->model.bye == LT_BYE_EXITING) {
        /* It said it is exiting: let it finish by itself, so its exit status is its own. */
        for (int i = 0; i < TERM_GRACE_MS / 20 && !lt_child_poll(&w->child); i++) {
            struct timespec ts = {0, 20 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    if (w->started && !w->o.keep)
        lt_child_terminate(&w->child, TERM_GRACE_MS);
    else if (w->started)
        lt_child_poll(&w->child);
    if (w->attached && !w->o.keep && w->model.bye == 0) {
        /* Leave the process as we found it: stop the agent we loaded. */
        char *cause = NULL;
        if (lt_detach(w->pid, TERM_GRACE_MS, &cause) < 0 && kill(w->pid, 0) == 0)
            fprintf(stderr, "leaktop: could not stop the agent loaded into pid %ld: %s\n",
                    (long)w->pid, cause);
        lt_free(cause);
    }
    w->attached = 0;
}

void
lt_watch_close(lt_watch *w)
{
    lt_watch_stop_target(w);
    if (w->following)
        lt_tree_free(&w->tree);
    w->following = 0;
    lt_model_free(&w->model);
}
