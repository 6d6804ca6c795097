/*
 * `leaktop metrics`: a Prometheus exporter for the agents of this user on this host (or of one
 * process). One thread, one poll() loop over the HTTP listener, its clients and one connection
 * per agent; each agent's stream goes into a small model (LT_METRICS_POINTS samples) from which
 * GET /metrics is rendered (metrics_text.h). New agents are found by rescanning the socket
 * directory, vanished ones dropped.
 */
#ifndef LEAKTOP_METRICS_H
#define LEAKTOP_METRICS_H

#include <sys/types.h>

#include "cli.h"

#define LT_METRICS_LISTEN_DEFAULT "127.0.0.1:9464"
#define LT_METRICS_POINTS 120      /* samples kept per process (suspects are judged over them) */
#define LT_METRICS_MAX_AGENTS 256
#define LT_METRICS_RESCAN_DEFAULT 2.0 /* seconds */

typedef struct lt_metrics_opts {
    const char *listen; /* NULL: LT_METRICS_LISTEN_DEFAULT */
    pid_t pid;          /* 0: every agent of this user */
    unsigned top;       /* types per process; 0: LT_METRICS_TOP_DEFAULT */
    double rescan_s;    /* 0: LT_METRICS_RESCAN_DEFAULT */
    const char *auth_file; /* NULL: no authentication; else "user:password" (a 0600 file) */
} lt_metrics_opts;

/* Serve until SIGINT/SIGTERM/SIGHUP. Returns 0, or -1 with *cause (lt_free it) when it cannot
 * start: the address cannot be bound, or --pid names a process that is gone or not ours. */
int lt_metrics_serve(const lt_metrics_opts *o, char **cause);

/* `leaktop metrics`: the exit status. */
int lt_metrics_main(const lt_cli *cli);

#endif
