/*
 * Sparklines: a series of values drawn as one line of text, scaled between its own minimum and
 * maximum. Pure functions, no terminal: the caller prints the result.
 *   LT_SPARK_BLOCK    one value per cell, 8 levels: ▁▂▃▄▅▆▇█   (UTF-8)
 *   LT_SPARK_BRAILLE  two values per cell, 4 levels each: ⣀⣤⣶⣿   (UTF-8)
 *   LT_SPARK_ASCII    one value per cell, 5 levels: _.-~^ (any terminal)
 * Unknown values (NaN) draw as a blank cell.
 */
#ifndef LEAKTOP_SPARKLINE_H
#define LEAKTOP_SPARKLINE_H

#include <stddef.h>

typedef enum lt_spark_mode { LT_SPARK_ASCII, LT_SPARK_BLOCK, LT_SPARK_BRAILLE } lt_spark_mode;

/* Draw the last values of v[0..n) that fit in width cells into out (NUL-terminated, at most
 * outlen bytes; a UTF-8 cell takes 3 bytes). Fewer values than cells are right-aligned with
 * blanks before them, so time always ends at the right edge. Returns the number of cells
 * written (width unless outlen is too small). */
int lt_sparkline(const double *v, size_t n, int width, lt_spark_mode mode, char *out,
                 size_t outlen);

#endif
