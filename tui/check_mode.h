/* `leaktop check ...`: returns the exit status of the contracts (0 no suspects, 1 suspects, 2
 * error). */
#ifndef LEAKTOP_CHECK_MODE_H
#define LEAKTOP_CHECK_MODE_H

#include "cli.h"

int lt_check_main(const lt_cli *cli);

#endif
