/* agent/python_support.c: which CPython releases an agent module built against some headers may
 * run in. */
#define _GNU_SOURCE
#include <string.h>

#include "agent/python_support.h"
#include "harness.h"

/* PY_VERSION_HEX of major.minor.micro at release level (0xA, 0xB, 0xC, 0xF) and serial. */
static uint32_t
hex(unsigned major, unsigned minor, unsigned micro, unsigned level, unsigned serial)
{
    return major << 24 | minor << 16 | micro << 8 | level << 4 | serial;
}

#define FINAL(a, b, c) hex(a, b, c, 0xF, 0)

/* Runs built in running; returns the verdict and leaves the reason in why. */
static int
verdict(uint32_t built, uint32_t running, char *why, size_t len)
{
    memset(why, 'x', len);
    int ok = lt_python_supported(built, running, why, len);
    ck_assert_ptr_nonnull(memchr(why, '\0', len)); /* always terminated */
    if (!ok) {
        ck_assert_ptr_null(strchr(why, '\n')); /* one line */
        ck_assert_uint_gt(strlen(why), 0);
    }
    return ok;
}

START_TEST(test_every_release_of_3_8_to_3_13)
{
    char why[256];
    for (unsigned minor = 8; minor <= 13; minor++)
        for (unsigned micro = 0; micro <= 20; micro++) {
            /* A module built against any release of its minor runs in any other. */
            ck_assert_int_eq(verdict(FINAL(3, minor, 4), FINAL(3, minor, micro), why, sizeof why),
                             1);
            ck_assert_int_eq(
                verdict(FINAL(3, minor, 4), hex(3, minor, micro, 0xC, 1), why, sizeof why), 1);
        }
}
END_TEST

START_TEST(test_3_14_before_5_refused)
{
    char why[256];
    for (unsigned micro = 0; micro <= 4; micro++) {
        ck_assert_int_eq(verdict(FINAL(3, 14, 10), FINAL(3, 14, micro), why, sizeof why), 0);
        ck_assert_ptr_nonnull(strstr(why, "3.14.0-3.14.4"));
        ck_assert_ptr_nonnull(strstr(why, "3.14.5"));
    }
    ck_assert_int_eq(verdict(FINAL(3, 14, 10), FINAL(3, 14, 3), why, sizeof why), 0);
    ck_assert_ptr_nonnull(strstr(why, "Python 3.14.3 is not supported:"));
    for (unsigned micro = 5; micro <= 30; micro++)
        ck_assert_int_eq(verdict(FINAL(3, 14, 10), FINAL(3, 14, micro), why, sizeof why), 1);
}
END_TEST

START_TEST(test_3_15)
{
    char why[256];
    for (unsigned micro = 0; micro <= 30; micro++)
        ck_assert_int_eq(verdict(FINAL(3, 15, 2), FINAL(3, 15, micro), why, sizeof why), 1);
}
END_TEST

START_TEST(test_pre_releases_of_3_14_on_only_exactly)
{
    char why[256];
    uint32_t b1 = hex(3, 15, 0, 0xB, 1), rc2 = hex(3, 15, 0, 0xC, 2);
    ck_assert_int_eq(verdict(FINAL(3, 15, 2), b1, why, sizeof why), 0);
    ck_assert_ptr_nonnull(strstr(why, "3.15.0b1"));
    ck_assert_ptr_nonnull(strstr(why, "3.15.2"));
    ck_assert_int_eq(verdict(rc2, FINAL(3, 15, 0), why, sizeof why), 0);
    ck_assert_ptr_nonnull(strstr(why, "3.15.0rc2"));
    ck_assert_int_eq(verdict(rc2, rc2, why, sizeof why), 1);
    ck_assert_int_eq(verdict(hex(3, 14, 5, 0xC, 1), hex(3, 14, 5, 0xC, 1), why, sizeof why), 1);
    ck_assert_int_eq(verdict(FINAL(3, 14, 10), hex(3, 14, 11, 0xA, 1), why, sizeof why), 0);
    ck_assert_ptr_nonnull(strstr(why, "3.14.11a1"));
}
END_TEST

START_TEST(test_outside_the_range)
{
    char why[256];
    ck_assert_int_eq(verdict(FINAL(3, 7, 16), FINAL(3, 7, 16), why, sizeof why), 0);
    ck_assert_ptr_nonnull(strstr(why, "Python 3.7.16"));
    ck_assert_ptr_nonnull(strstr(why, LEAKTOP_PYTHONS));
    ck_assert_int_eq(verdict(FINAL(3, 16, 0), FINAL(3, 16, 0), why, sizeof why), 0);
    ck_assert_ptr_nonnull(strstr(why, "3.16.0"));
    ck_assert_int_eq(verdict(FINAL(2, 7, 18), FINAL(2, 7, 18), why, sizeof why), 0);
    /* Another minor than the headers' (the extension suffix normally prevents it). */
    ck_assert_int_eq(verdict(FINAL(3, 12, 1), FINAL(3, 13, 0), why, sizeof why), 0);
    ck_assert_ptr_nonnull(strstr(why, "built for Python 3.12"));
}
END_TEST

START_TEST(test_short_buffer)
{
    char why[16];
    ck_assert_int_eq(verdict(FINAL(3, 14, 10), FINAL(3, 14, 2), why, sizeof why), 0);
    ck_assert_uint_eq(strlen(why), sizeof why - 1);
}
END_TEST

static Suite *
python_support_suite(void)
{
    Suite *s = suite_create("python_support");
    TCase *tc = lt_test_tcase(s, "python_support");
    tcase_add_test(tc, test_every_release_of_3_8_to_3_13);
    tcase_add_test(tc, test_3_14_before_5_refused);
    tcase_add_test(tc, test_3_15);
    tcase_add_test(tc, test_pre_releases_of_3_14_on_only_exactly);
    tcase_add_test(tc, test_outside_the_range);
    tcase_add_test(tc, test_short_buffer);
    return s;
}

int
main(void)
{
    return lt_test_run(python_support_suite());
}
