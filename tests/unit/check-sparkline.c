/* tui/sparkline.c: one line of text per series, block, braille and ASCII. */
#define _GNU_SOURCE
#include <math.h>
#include <string.h>

#include "harness.h"
#include "tui/sparkline.h"

#define N(a) (sizeof(a) / sizeof(a)[0])

/* Draw v into a static buffer and check the returned cell count. */
static const char *
spark(const double *v, size_t n, int width, lt_spark_mode mode, int want_cells)
{
    static char out[512];
    memset(out, 'z', sizeof out);
    int cells = lt_sparkline(v, n, width, mode, out, sizeof out);
    ck_assert_int_eq(cells, want_cells);
    return out;
}

/* Code points of a UTF-8 string. */
static size_t
cps(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += (*s & 0xC0) != 0x80;
    return n;
}

START_TEST(test_block_levels)
{
    const double v[] = {0, 1, 2, 3, 4, 5, 6, 7};
    ck_assert_str_eq(spark(v, N(v), 8, LT_SPARK_BLOCK, 8), "▁▂▃▄▅▆▇█");
    /* Scaled between its own minimum and maximum: an offset and a factor change nothing. */
    const double w[] = {1000, 1010, 1020, 1030, 1040, 1050, 1060, 1070};
    ck_assert_str_eq(spark(w, N(w), 8, LT_SPARK_BLOCK, 8), "▁▂▃▄▅▆▇█");
    const double down[] = {7, 0};
    ck_assert_str_eq(spark(down, N(down), 2, LT_SPARK_BLOCK, 2), "█▁");
}
END_TEST

START_TEST(test_ascii_levels)
{
    const double v[] = {0, 1, 2, 3, 4};
    ck_assert_str_eq(spark(v, N(v), 5, LT_SPARK_ASCII, 5), "_.-~^");
    /* Rounding to the nearest level: 0.5 of the range is the middle one. */
    const double mid[] = {0, 50, 100};
    ck_assert_str_eq(spark(mid, N(mid), 3, LT_SPARK_ASCII, 3), "_-^");
}
END_TEST

/* Two values per cell, left column then right, dots filled from the bottom up to the level. */
START_TEST(test_braille)
{
    const double v[] = {0, 1, 2, 3};
    /* Levels 0,1 -> dots 7 | 8,6 = U+28E0; levels 2,3 -> dots 7,3,2 | 8,6,5,4 = U+28FE. */
    ck_assert_str_eq(spark(v, N(v), 2, LT_SPARK_BRAILLE, 2), "⣠⣾");
    const double top[] = {3, 3, 0, 0};
    ck_assert_str_eq(spark(top, N(top), 2, LT_SPARK_BRAILLE, 2), "⣿⣀");
    /* An odd count: the first cell's left half is before the data, and empty. */
    const double odd[] = {0, 1, 3};
    ck_assert_str_eq(spark(odd, N(odd), 2, LT_SPARK_BRAILLE, 2), "⢀⣼");
    /* Each cell is one code point of three bytes. */
    const double many[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    const char *s = spark(many, N(many), 5, LT_SPARK_BRAILLE, 5);
    ck_assert_uint_eq(strlen(s), 15);
    ck_assert_uint_eq(cps(s), 5);
}
END_TEST

/* Fewer values than cells: blanks first, so the newest value is always at the right edge. */
START_TEST(test_short_series_right_aligned)
{
    const double v[] = {0, 4};
    ck_assert_str_eq(spark(v, N(v), 5, LT_SPARK_ASCII, 5), "   _^");
    ck_assert_str_eq(spark(v, N(v), 4, LT_SPARK_BLOCK, 4), "  ▁█");
    /* Braille blanks are the empty pattern U+2800, one per cell like every other cell. */
    const double b[] = {0, 3};
    ck_assert_str_eq(spark(b, N(b), 3, LT_SPARK_BRAILLE, 3), "⠀⠀⣸");
    /* No values at all: a full width of blanks. */
    ck_assert_str_eq(spark(v, 0, 3, LT_SPARK_ASCII, 3), "   ");
    ck_assert_str_eq(spark(NULL, 0, 3, LT_SPARK_BLOCK, 3), "   ");
}
END_TEST

/* More values than cells: the last ones are drawn and scaled among themselves. */
START_TEST(test_long_series_keeps_the_newest)
{
    const double v[] = {1000, -1000, 0, 0, 0, 0, 0, 7, 8, 9};
    ck_assert_str_eq(spark(v, N(v), 3, LT_SPARK_ASCII, 3), "_-^");
    ck_assert_str_eq(spark(v, N(v), 2, LT_SPARK_BLOCK, 2), "▁█");
    /* Braille takes two values a cell: 0,7,8,9 at width 2. */
    ck_assert_str_eq(spark(v, N(v), 2, LT_SPARK_BRAILLE, 2), "⣰⣿");
}
END_TEST

START_TEST(test_nan_is_blank)
{
    const double v[] = {0, NAN, 4, NAN};
    ck_assert_str_eq(spark(v, N(v), 4, LT_SPARK_ASCII, 4), "_ ^ ");
    ck_assert_str_eq(spark(v, N(v), 4, LT_SPARK_BLOCK, 4), "▁ █ ");
    /* NaN takes no part in the scale: the others still span the full height. */
    const double w[] = {NAN, 10, NAN, 20};
    ck_assert_str_eq(spark(w, N(w), 4, LT_SPARK_ASCII, 4), " _ ^");
    /* In braille an unknown half has no dots, a known one keeps its own. */
    const double b[] = {NAN, 3, 0, NAN};
    ck_assert_str_eq(spark(b, N(b), 2, LT_SPARK_BRAILLE, 2), "⢸⡀");
    const double all[] = {NAN, NAN, NAN};
    ck_assert_str_eq(spark(all, N(all), 3, LT_SPARK_ASCII, 3), "   ");
    ck_assert_str_eq(spark(all, N(all), 2, LT_SPARK_BRAILLE, 2), "⠀⠀");
}
END_TEST

/* A flat series sits at the bottom, zero or not: only change should catch the eye. */
START_TEST(test_flat_series)
{
    const double zero[] = {0, 0, 0, 0};
    ck_assert_str_eq(spark(zero, N(zero), 4, LT_SPARK_ASCII, 4), "____");
    ck_assert_str_eq(spark(zero, N(zero), 4, LT_SPARK_BLOCK, 4), "▁▁▁▁");
    ck_assert_str_eq(spark(zero, N(zero), 2, LT_SPARK_BRAILLE, 2), "⣀⣀");
    const double five[] = {5, 5, 5, 5};
    ck_assert_str_eq(spark(five, N(five), 4, LT_SPARK_ASCII, 4), "____");
    ck_assert_str_eq(spark(five, N(five), 4, LT_SPARK_BLOCK, 4), "▁▁▁▁");
    ck_assert_str_eq(spark(five, N(five), 2, LT_SPARK_BRAILLE, 2), "⣀⣀");
    /* One value is flat too. */
    const double one[] = {42};
    ck_assert_str_eq(spark(one, N(one), 3, LT_SPARK_ASCII, 3), "  _");
}
END_TEST

/* A wobble of under 2% of the magnitude is drawn flat; 2% or more uses the full height. */
START_TEST(test_small_wobble_is_flat)
{
    const double wobble[] = {100, 101, 100, 101.9};
    ck_assert_str_eq(spark(wobble, N(wobble), 4, LT_SPARK_ASCII, 4), "____");
    ck_assert_str_eq(spark(wobble, N(wobble), 4, LT_SPARK_BLOCK, 4), "▁▁▁▁");
    const double big[] = {1e9, 1e9 + 1e6, 1e9 - 1e6, 1e9};
    ck_assert_str_eq(spark(big, N(big), 4, LT_SPARK_ASCII, 4), "____");
    const double swing[] = {100, 103, 100, 103};
    ck_assert_str_eq(spark(swing, N(swing), 4, LT_SPARK_ASCII, 4), "_^_^");
    const double from_zero[] = {0, 1};
    ck_assert_str_eq(spark(from_zero, N(from_zero), 2, LT_SPARK_ASCII, 2), "_^");
}
END_TEST

START_TEST(test_width_limits)
{
    const double v[] = {0, 1, 2};
    char out[16] = "unchanged";
    ck_assert_int_eq(lt_sparkline(v, N(v), 0, LT_SPARK_ASCII, out, sizeof out), 0);
    ck_assert_str_eq(out, "");
    strcpy(out, "unchanged");
    ck_assert_int_eq(lt_sparkline(v, N(v), -3, LT_SPARK_BLOCK, out, sizeof out), 0);
    ck_assert_str_eq(out, "");
    /* outlen 0: nothing is written, not even the terminator. */
    strcpy(out, "unchanged");
    ck_assert_int_eq(lt_sparkline(v, N(v), 3, LT_SPARK_ASCII, out, 0), 0);
    ck_assert_str_eq(out, "unchanged");
}
END_TEST

/* A buffer too small for the width: whole cells only, always terminated, and the count says
 * how many fit. */
START_TEST(test_outlen_limits)
{
    const double v[] = {0, 1, 2, 3, 4, 5, 6, 7};
    char out[32];
    memset(out, 'z', sizeof out);
    ck_assert_int_eq(lt_sparkline(v, N(v), 8, LT_SPARK_BLOCK, out, 7), 2);
    ck_assert_str_eq(out, "▁▂"); /* the cells from the left that fit */
    ck_assert_int_eq(out[7], 'z');
    memset(out, 'z', sizeof out);
    ck_assert_int_eq(lt_sparkline(v, N(v), 8, LT_SPARK_BLOCK, out, 6), 1);
    ck_assert_uint_eq(strlen(out), 3);
    memset(out, 'z', sizeof out);
    ck_assert_int_eq(lt_sparkline(v, N(v), 5, LT_SPARK_ASCII, out, 3), 2);
    ck_assert_uint_eq(strlen(out), 2);
    ck_assert_int_eq(lt_sparkline(v, N(v), 4, LT_SPARK_BRAILLE, out, 1), 0);
    ck_assert_str_eq(out, "");
    /* Exactly enough room: 3 bytes a cell and the terminator. */
    ck_assert_int_eq(lt_sparkline(v, N(v), 4, LT_SPARK_BRAILLE, out, 13), 4);
    ck_assert_uint_eq(strlen(out), 12);
    ck_assert_int_eq(lt_sparkline(v, N(v), 4, LT_SPARK_BRAILLE, out, 12), 3);
    ck_assert_uint_eq(strlen(out), 9);
}
END_TEST

static Suite *
sparkline_suite(void)
{
    Suite *s = suite_create("sparkline");
    TCase *tc = lt_test_tcase(s, "sparkline");
    tcase_add_test(tc, test_block_levels);
    tcase_add_test(tc, test_ascii_levels);
    tcase_add_test(tc, test_braille);
    tcase_add_test(tc, test_short_series_right_aligned);
    tcase_add_test(tc, test_long_series_keeps_the_newest);
    tcase_add_test(tc, test_nan_is_blank);
    tcase_add_test(tc, test_flat_series);
    tcase_add_test(tc, test_small_wobble_is_flat);
    tcase_add_test(tc, test_width_limits);
    tcase_add_test(tc, test_outlen_limits);
    return s;
}

int
main(void)
{
    return lt_test_run(sparkline_suite());
}
