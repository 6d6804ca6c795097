/* leaktop: dispatch the command line to its mode. */
#include <stdio.h>

#include "app.h"
#include "check_mode.h"
#include "cli.h"
#include "record.h"

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
    case LT_MODE_PID:
        return lt_app_pid(cli.pid, cli.refreshes);
    case LT_MODE_RUN:
        return lt_app_run(cli.cmd, cli.interval, cli.keep, cli.refreshes);
    case LT_MODE_REPLAY:
        return lt_app_replay(cli.file, cli.refreshes);
    case LT_MODE_PICKER:
        return lt_app_picker(cli.refreshes);
    case LT_MODE_ATTACH:
        fprintf(stderr, "leaktop: attaching to a running process is not in this version yet; "
                        "start the program with `leaktop run -- ...` or call leaktop.start() "
                        "in it\n");
        return 2;
    }
    return 2;
}
