/* leaktop: dispatch the command line to its mode. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "attach.h"
#include "check_mode.h"
#include "cli.h"
#include "leaktop/mem.h"
#include "metrics.h"
#include "record.h"

/* `leaktop attach PID`: load the agent, then the terminal UI on it. */
static int
attach_and_watch(pid_t pid, unsigned refreshes)
{
    lt_attach_result res;
    char *cause = NULL;
    if (lt_attach(pid, NULL, &res, &cause) < 0) {
        fprintf(stderr, "leaktop: %s\n", cause);
        lt_free(cause);
        return 2;
    }
    int rc = lt_app_pid(pid, refreshes);
    if (!res.already && lt_attach_socket_exists(pid))
        fprintf(stderr, "leaktop: the agent loaded into pid %ld (Python %s, %s, %.2f s) keeps "
                        "running; `leaktop detach %ld` stops it\n",
                (long)pid, res.python, res.route, res.seconds, (long)pid);
    return rc;
}

/* `leaktop PID` on a Python process without an agent, at a terminal: offer to attach. */
static int
offer_attach(pid_t pid)
{
    char version[16];
    if (!isatty(0) || !isatty(2) || lt_attach_python_version(pid, version, sizeof version) != 1)
        return 0;
    /* Only look: a connection would take a turn the agent owes the real viewer. */
    if (lt_attach_socket_exists(pid))
        return 0;
    fprintf(stderr, "leaktop: pid %ld runs Python%s%s but has no leaktop agent. Load it now "
                    "(leaktop attach, %s)? [y/N] ",
            (long)pid, version[0] ? " " : "", version,
            version[0] && atoi(version + 2) >= 14 ? "PEP 768" : "with gdb");
    fflush(stderr);
    char line[16];
    if (fgets(line, sizeof line, stdin) == NULL)
        return 0;
    return line[0] == 'y' || line[0] == 'Y';
}

int
main(int argc, char **argv)
{
    lt_cli cli;
    int rc = lt_cli_parse(&cli, argc, argv);
    if (rc != 0)
        return rc;
    switch (cli.mode) {
    case LT_MODE_HELP:
        lt_cli_help(stdout);
        return 0;
    case LT_MODE_VERSION:
        puts("leaktop " LEAKTOP_VERSION);
        return 0;
    case LT_MODE_CHECK:
        return lt_check_main(&cli);
    case LT_MODE_RECORD:
        return lt_record_main(&cli);
    case LT_MODE_METRICS:
        return lt_metrics_main(&cli);
    case LT_MODE_PID:
        if (offer_attach(cli.pid))
            return attach_and_watch(cli.pid, cli.refreshes);
        return lt_app_pid(cli.pid, cli.refreshes);
    case LT_MODE_RUN:
        return lt_app_run(cli.cmd, cli.interval, cli.budget, cli.keep, cli.refreshes);
    case LT_MODE_CONNECT:
        return lt_app_socket(cli.socket, cli.refreshes);
    case LT_MODE_REPLAY:
        return lt_app_replay(cli.file, cli.refreshes);
    case LT_MODE_PICKER:
        return lt_app_picker(cli.refreshes);
    case LT_MODE_ATTACH:
        return attach_and_watch(cli.pid, cli.refreshes);
    case LT_MODE_DETACH: {
        char *cause = NULL;
        if (lt_detach(cli.pid, 10000, &cause) < 0) {
            fprintf(stderr, "leaktop: %s\n", cause);
            lt_free(cause);
            return 2;
        }
        printf("stopped the agent in pid %ld; the program goes on\n", (long)cli.pid);
        return 0;
    }
    }
    return 2;
}
