/* leaktop: dispatch the command line to its mode. */
#include <stdio.h>

#include "check.h"
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
    default:
        fprintf(stderr, "leaktop: the terminal UI is not in this build yet; use check or "
                        "record\n");
        return 2;
    }
}
