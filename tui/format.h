/* Number formatting for people: sizes, rates, counts. Pure functions, unit-tested. */
#ifndef LEAKTOP_FORMAT_H
#define LEAKTOP_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* "512 B", "1.5 KiB", "12.3 MiB", "2.00 GiB" (3 significant digits). Returns out. */
char *lt_fmt_bytes(char *out, size_t outlen, uint64_t bytes);
/* A signed byte rate: "+1.2 MiB/s", "-300 B/s", "0 B/s". */
char *lt_fmt_byte_rate(char *out, size_t outlen, double bytes_per_s);
/* A count with thousands separators: "123,457". */
char *lt_fmt_count(char *out, size_t outlen, uint64_t n);
/* A signed count: "+12,000", "-3", "0". */
char *lt_fmt_delta(char *out, size_t outlen, int64_t n);

/* s shortened to at most width display columns by replacing its middle with one "~" (ASCII) or
 * "…" (utf8), so both the module and the class, or the directory and the file, stay readable.
 * Columns count UTF-8 code points. Returns out. */
char *lt_fmt_elide(char *out, size_t outlen, const char *s, int width, int utf8);
/* A duration for people: "42 s", "12 min", "3 h 10 min", "2 d 4 h". */
char *lt_fmt_duration(char *out, size_t outlen, double seconds);

#endif
