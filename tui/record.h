/* `leaktop record -o FILE ...`: returns the process exit status (0, or 2 on error). */
#ifndef LEAKTOP_RECORD_H
#define LEAKTOP_RECORD_H

#include "cli.h"

int lt_record_main(const lt_cli *cli);

#endif
