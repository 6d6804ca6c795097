/* The host process's own memory figures, read from /proc (no Python, no allocation). */
#ifndef LEAKTOP_PROC_SELF_H
#define LEAKTOP_PROC_SELF_H

#include <stdint.h>

/* Resident set size now and at its peak (VmHWM), in bytes. Returns 0, or -1 when /proc is not
 * readable (then both are 0). */
int lt_proc_self_rss(uint64_t *rss, uint64_t *peak);

#endif
