/* Sparkline rendering. */
#include "sparkline.h"

#include <math.h>
#include <string.h>

static const char *const blocks[8] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
static const char ascii_levels[5] = {'_', '.', '-', '~', '^'};
/* Braille dots per column from the bottom: left column dots 7,3,2,1; right column 8,6,5,4. */
static const unsigned left_dots[4] = {0x40, 0x04, 0x02, 0x01};
static const unsigned right_dots[4] = {0x80, 0x20, 0x10, 0x08};

/* Level 0..levels-1 of x between lo and hi; -1 for unknown. A flat series sits at the bottom:
 * only change should catch the eye. */
static int
level(double x, double lo, double hi, int levels)
{
    if (isnan(x))
        return -1;
    /* A wobble of under 2% is flat: scaling it to the full height would cry wolf. */
    if (hi <= lo || (hi - lo) < 0.02 * fmax(fabs(hi), fabs(lo)))
        return 0;
    int l = (int)((x - lo) / (hi - lo) * (levels - 1) + 0.5);
    return l < 0 ? 0 : l >= levels ? levels - 1 : l;
}

static int
put(char *out, size_t outlen, size_t *pos, const char *s, size_t len)
{
    if (*pos + len + 1 > outlen)
        return -1;
    memcpy(out + *pos, s, len);
    *pos += len;
    return 0;
}

/* Encode one braille cell (U+2800 + dots) as UTF-8. */
static void
braille(unsigned dots, char buf[4])
{
    unsigned cp = 0x2800 + dots;
    buf[0] = (char)(0xE0 | (cp >> 12));
    buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    buf[2] = (char)(0x80 | (cp & 0x3F));
    buf[3] = '\0';
}

int
lt_sparkline(const double *v, size_t n, int width, lt_spark_mode mode, char *out, size_t outlen)
{
    size_t pos = 0;
    if (outlen == 0)
        return 0;
    out[0] = '\0';
    if (width <= 0)
        return 0;
    size_t per = mode == LT_SPARK_BRAILLE ? 2 : 1;
    size_t take = (size_t)width * per;
    size_t first = n > take ? n - take : 0;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = first; i < n; i++)
        if (!isnan(v[i])) {
            lo = v[i] < lo ? v[i] : lo;
            hi = v[i] > hi ? v[i] : hi;
        }
    size_t have = n - first;
    size_t blank_values = take - have;
    int cells = 0;
    for (int c = 0; c < width; c++) {
        int rc;
        if (mode == LT_SPARK_BRAILLE) {
            unsigned dots = 0;
            for (size_t half = 0; half < 2; half++) {
                size_t k = (size_t)c * 2 + half;
                if (k < blank_values)
                    continue;
                int l = level(v[first + k - blank_values], lo, hi, 4);
                for (int d = 0; d <= l; d++)
                    dots |= half ? right_dots[d] : left_dots[d];
            }
            char b[4];
            braille(dots, b);
            rc = put(out, outlen, &pos, b, 3);
        } else {
            size_t k = (size_t)c;
            int l = k < blank_values ? -1 : level(v[first + k - blank_values], lo, hi,
                                                   mode == LT_SPARK_BLOCK ? 8 : 5);
            if (l < 0)
                rc = put(out, outlen, &pos, " ", 1);
            else if (mode == LT_SPARK_BLOCK)
                rc = put(out, outlen, &pos, blocks[l], strlen(blocks[l]));
            else
                rc = put(out, outlen, &pos, &ascii_levels[l], 1);
        }
        if (rc < 0)
            break;
        cells++;
    }
    out[pos] = '\0';
    return cells;
}
