/*
 * A headless watch of one process, shared by `check` and `record`: get the target (start CMD
 * with the agent, or find PID's agent), connect, read the stream into a model until the time is
 * up, the agent goes away, the started program exits, or the user interrupts; then end what we
 * started (unless keep). Errors are -1 with *cause (lt_free it): one line for the user.
 */
#ifndef LEAKTOP_WATCH_H
#define LEAKTOP_WATCH_H

#include <sys/types.h>

#include "conn.h"
#include "launch.h"
#include "model.h"
#include "tree.h"

typedef struct lt_watch_opts {
    char **cmd;            /* program to start, NULL-terminated; or NULL with pid */
    pid_t pid;             /* process to watch when cmd is NULL */
    const char *socket_path; /* or an agent socket at this path (forwarded); cmd NULL, pid 0 */
    double interval_s;     /* census period for a started program; 0: agent default */
    double budget_pct;     /* census CPU budget for a started program, percent; 0: default */
    int keep;              /* leave a started program running at the end */
    int stdout_to_stderr;  /* the started program's stdout goes to our stderr */
    const char *client;    /* name sent in CLIENT_HELLO */
    lt_conn_tap tap;       /* raw frames as received, or NULL */
    void *tap_ctx;
    int follow_tree;       /* also every descendant with an agent (tree.h); not for a socket */
    lt_tree_tap tree_tap;  /* their raw frames, or NULL */
    void *tree_tap_ctx;
} lt_watch_opts;

typedef struct lt_watch {
    lt_watch_opts o;
    lt_child child;
    int started; /* we started child */
    pid_t pid;   /* the process serving the socket */
    int attached; /* we loaded the agent into pid (it had none): stopped again at the end */
    lt_conn conn;
    int connected;
    lt_model model;
    uint32_t first; /* index of the first point of the watch (after history, for --pid) */
    const char *end_reason; /* why the watch ended, static text */
    int stop; /* set by a tap (record's failed write): end the watch at the next turn */
    int following; /* tree holds the descendants (follow_tree) */
    lt_tree tree;
} lt_watch;

/* Get the target and connect; wait for the agent's history. A pid without an agent gets one
 * (lt_attach). Returns 0 or -1 with *cause (a started program is ended then). */
int lt_watch_open(lt_watch *w, const lt_watch_opts *o, char **cause);
/* Read until duration_s pass (forever when < 0), the stream ends, the started program exits or
 * SIGINT/SIGTERM arrive. Returns 0, or -1 with *cause on a protocol error. */
int lt_watch_run(lt_watch *w, double duration_s, char **cause);
/* Disconnect and end a started program (unless keep), or stop the agent we attached (unless
 * keep); the model stays for the report. Idempotent. */
void lt_watch_stop_target(lt_watch *w);
/* lt_watch_stop_target, then free the model. */
void lt_watch_close(lt_watch *w);

/* Install SIGINT/SIGTERM/SIGHUP handlers that make lt_watch_run return; SIGPIPE ignored. */
void lt_watch_signals(void);
/* The signal that interrupted, or 0. */
int lt_watch_interrupted(void);

/* Explain why pid cannot be watched (gone, another user's, not Python, no agent) into a cause
 * built from the connect error of kind (LT_SOCK_E*). */
char *lt_watch_explain_pid(pid_t pid, int kind, const char *connect_cause);
/* The same for a socket path given by the user (lt_conn_open_path's error of kind). */
char *lt_watch_explain_socket(const char *path, int kind, const char *connect_cause);

#endif
