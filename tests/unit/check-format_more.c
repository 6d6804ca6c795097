/* tui/format.c, the rest: names elided in the middle, and durations for people. */
#define _GNU_SOURCE
#include <math.h>
#include <string.h>

#include "harness.h"
#include "tui/format.h"

static const char *
elide(const char *s, int width, int utf8)
{
    static char out[256];
    memset(out, 'z', sizeof out);
    ck_assert_ptr_eq(lt_fmt_elide(out, sizeof out, s, width, utf8), out);
    return out;
}

static const char *
duration(double seconds)
{
    static char out[64];
    memset(out, 'z', sizeof out);
    ck_assert_ptr_eq(lt_fmt_duration(out, sizeof out, seconds), out);
    return out;
}

/* Display columns: UTF-8 code points. */
static size_t
columns(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += (*s & 0xC0) != 0x80;
    return n;
}

START_TEST(test_elide_fits)
{
    ck_assert_str_eq(elide("abcdefghij", 10, 0), "abcdefghij");
    ck_assert_str_eq(elide("abcdefghij", 11, 1), "abcdefghij");
    ck_assert_str_eq(elide("", 5, 0), "");
    /* Columns, not bytes: six code points in twelve bytes fit in six columns. */
    ck_assert_str_eq(elide("αβγδεζ", 6, 1), "αβγδεζ");
}
END_TEST

/* The middle goes, so the head (module, directory) and the tail (class, file) both stay. */
START_TEST(test_elide_middle)
{
    ck_assert_str_eq(elide("abcdefghij", 9, 0), "abcd~ghij");
    ck_assert_str_eq(elide("abcdefghij", 5, 0), "ab~ij");
    ck_assert_str_eq(elide("abcdefghij", 6, 0), "ab~hij"); /* odd: the tail gets the extra */
    ck_assert_str_eq(elide("abcdefghij", 5, 1), "ab…ij");
    ck_assert_uint_eq(strlen(elide("abcdefghij", 5, 1)), 7); /* "…" is 3 bytes, 1 column */
    ck_assert_str_eq(elide("myservice.handlers.sessions.SessionCache", 20, 0),
                     "myservice~ssionCache");
    ck_assert_str_eq(elide("/srv/app/lib/python3.12/site-packages/requests/adapters.py", 24, 1),
                     "/srv/app/li…/adapters.py");
}
END_TEST

START_TEST(test_elide_tiny_widths)
{
    ck_assert_str_eq(elide("abcdefghij", 2, 0), "~j");
    ck_assert_str_eq(elide("abcdefghij", 1, 0), "~");
    ck_assert_str_eq(elide("abcdefghij", 1, 1), "…");
    ck_assert_str_eq(elide("abcdefghij", 0, 0), "");
    ck_assert_str_eq(elide("abcdefghij", -4, 1), "");
}
END_TEST

/* Multi-byte input is cut between code points, never inside one. */
START_TEST(test_elide_utf8_input)
{
    ck_assert_str_eq(elide("αβγδεζ", 4, 0), "α~εζ");
    ck_assert_str_eq(elide("αβγδεζ", 4, 1), "α…εζ");
    ck_assert_str_eq(elide("mod.Ünïcødé_Klass", 9, 1), "mod.…lass");
    ck_assert_str_eq(elide("日本語のクラス名です", 5, 1), "日本…です");
}
END_TEST

/* Whatever the text and width, the result fits in width columns and keeps both ends. */
START_TEST(test_elide_always_fits)
{
    static const char *const names[] = {
        "x", "builtins.dict", "a.b", "αβγδεζηθικλμ", "pkg.sub.Mod€l.Inner.Class",
        "/usr/lib/python3/dist-packages/very/long/path/to/module.py:1234 in handler",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        for (int utf8 = 0; utf8 <= 1; utf8++)
            for (int w = 1; w < 90; w++) {
                const char *out = elide(names[i], w, utf8);
                size_t n = columns(names[i]), c = columns(out);
                ck_assert_msg(c <= (size_t)w, "%s at %d: %s", names[i], w, out);
                ck_assert_msg(c == (n < (size_t)w ? n : (size_t)w), "%s at %d: %s", names[i], w,
                              out);
                if (n <= (size_t)w)
                    ck_assert_str_eq(out, names[i]);
                else if (w >= 3) {
                    /* The first byte and the last code point survive. */
                    ck_assert_int_eq(out[0], names[i][0]);
                    const char *last = names[i] + strlen(names[i]);
                    do
                        last--;
                    while ((*last & 0xC0) == 0x80);
                    size_t tail = strlen(last);
                    ck_assert_int_eq(memcmp(out + strlen(out) - tail, last, tail), 0);
                }
            }
}
END_TEST

/* A short buffer: cut, but always terminated, and nothing written past outlen. */
START_TEST(test_elide_small_buffer)
{
    char out[8];
    memset(out, 'z', sizeof out);
    lt_fmt_elide(out, 4, "abcdefghij", 5, 0);
    ck_assert_str_eq(out, "ab~");
    ck_assert_int_eq(out[4], 'z');
    memset(out, 'z', sizeof out);
    lt_fmt_elide(out, 1, "abcdefghij", 5, 0);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(out[1], 'z');
    memset(out, 'z', sizeof out);
    lt_fmt_elide(out, 0, "abcdefghij", 5, 0);
    ck_assert_int_eq(out[0], 'z');
}
END_TEST

START_TEST(test_duration_seconds)
{
    ck_assert_str_eq(duration(0), "0 s");
    ck_assert_str_eq(duration(1), "1 s");
    ck_assert_str_eq(duration(42), "42 s");
    ck_assert_str_eq(duration(0.4), "0 s");
    ck_assert_str_eq(duration(0.5), "1 s"); /* rounded to the nearest second */
    ck_assert_str_eq(duration(59.4), "59 s");
}
END_TEST

START_TEST(test_duration_minutes_hours_days)
{
    ck_assert_str_eq(duration(59.5), "1 min"); /* rounds up into the next unit */
    ck_assert_str_eq(duration(60), "1 min");
    ck_assert_str_eq(duration(119), "1 min"); /* whole minutes: 1 min 59 s is "1 min" */
    ck_assert_str_eq(duration(720), "12 min");
    ck_assert_str_eq(duration(3599), "59 min");
    ck_assert_str_eq(duration(3600), "1 h 0 min");
    ck_assert_str_eq(duration(3 * 3600 + 10 * 60), "3 h 10 min");
    ck_assert_str_eq(duration(3 * 3600 + 10 * 60 + 59), "3 h 10 min");
    ck_assert_str_eq(duration(86399), "23 h 59 min");
    ck_assert_str_eq(duration(86400), "1 d 0 h");
    ck_assert_str_eq(duration(2 * 86400 + 4 * 3600), "2 d 4 h");
    ck_assert_str_eq(duration(400 * 86400.0 + 23 * 3600 + 3599), "400 d 23 h");
}
END_TEST

START_TEST(test_duration_nonsense)
{
    ck_assert_str_eq(duration(-1), "0 s");
    ck_assert_str_eq(duration(-1e12), "0 s");
    ck_assert_str_eq(duration(NAN), "0 s");
    ck_assert_str_eq(duration(-0.0), "0 s");
    char out[4];
    memset(out, 'z', sizeof out);
    lt_fmt_duration(out, sizeof out, 3 * 3600 + 600);
    ck_assert_str_eq(out, "3 h");
}
END_TEST

static Suite *
format_more_suite(void)
{
    Suite *s = suite_create("format_more");
    TCase *tc = lt_test_tcase(s, "elide");
    tcase_add_test(tc, test_elide_fits);
    tcase_add_test(tc, test_elide_middle);
    tcase_add_test(tc, test_elide_tiny_widths);
    tcase_add_test(tc, test_elide_utf8_input);
    tcase_add_test(tc, test_elide_always_fits);
    tcase_add_test(tc, test_elide_small_buffer);
    tc = lt_test_tcase(s, "duration");
    tcase_add_test(tc, test_duration_seconds);
    tcase_add_test(tc, test_duration_minutes_hours_days);
    tcase_add_test(tc, test_duration_nonsense);
    return s;
}

int
main(void)
{
    return lt_test_run(format_more_suite());
}
