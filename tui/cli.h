/*
 * The command line of docs/leaktop.1, parsed into one struct. Bad usage gives a
 * one-line reason, the short usage line, and exit status 2.
 */
#ifndef LEAKTOP_CLI_H
#define LEAKTOP_CLI_H

#include <stdio.h>
#include <sys/types.h>

#include "leaktop/version.h"

typedef enum lt_mode {
    LT_MODE_PICKER, LT_MODE_PID, LT_MODE_RUN, LT_MODE_ATTACH, LT_MODE_CHECK, LT_MODE_RECORD,
    LT_MODE_REPLAY, LT_MODE_HELP, LT_MODE_VERSION, LT_MODE_DETACH, LT_MODE_METRICS,
    LT_MODE_CONNECT,
} lt_mode;

typedef struct lt_cli {
    lt_mode mode;
    pid_t pid;        /* 0: none */
    char **cmd;       /* NULL-terminated program to start, or NULL */
    double duration;  /* seconds; < 0 until the program or agent ends */
    double interval;  /* census period for a started program, 0 default */
    double budget;    /* the census's CPU budget for a started program, percent of a core; 0
                         default */
    int json, keep, quiet;
    unsigned top;     /* types in a check report */
    unsigned refreshes; /* TUI: quit after this many screen updates (0: never), for CI */
    const char *output, *file;
    const char *socket; /* connect, --socket: an agent socket by path (a forwarded one) */
    const char *listen; /* metrics: HOST:PORT to serve on, NULL default */
    const char *auth_file; /* metrics: basic authentication's user:password file, or NULL */
} lt_cli;

/* Parse argv. Returns 0, or 2 after printing the reason and usage to stderr. */
int lt_cli_parse(lt_cli *cli, int argc, char **argv);
void lt_cli_usage(FILE *f);
void lt_cli_help(FILE *f);

#endif
