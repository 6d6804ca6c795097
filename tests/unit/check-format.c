/* tui/format.c: sizes, rates and counts for people. */
#define _GNU_SOURCE
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "tui/format.h"

static const char *
bytes(uint64_t n)
{
    static char out[32];
    char *r = lt_fmt_bytes(out, sizeof out, n);
    ck_assert_ptr_eq(r, out);
    return out;
}

static const char *
rate(double r)
{
    static char out[32];
    ck_assert_ptr_eq(lt_fmt_byte_rate(out, sizeof out, r), out);
    return out;
}

static const char *
count(uint64_t n)
{
    static char out[48];
    ck_assert_ptr_eq(lt_fmt_count(out, sizeof out, n), out);
    return out;
}

static const char *
delta(int64_t n)
{
    static char out[48];
    ck_assert_ptr_eq(lt_fmt_delta(out, sizeof out, n), out);
    return out;
}

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)

START_TEST(test_bytes_small)
{
    ck_assert_str_eq(bytes(0), "0 B");
    ck_assert_str_eq(bytes(1), "1 B");
    ck_assert_str_eq(bytes(512), "512 B");
    ck_assert_str_eq(bytes(1023), "1023 B");
    ck_assert_str_eq(bytes(1024), "1.00 KiB");
    ck_assert_str_eq(bytes(1536), "1.50 KiB");
}
END_TEST

/* Three significant digits: the precision changes at 9.995 and 99.95 of a unit. */
START_TEST(test_bytes_precision_steps)
{
    ck_assert_str_eq(bytes(10234), "9.99 KiB");  /* 9.994 KiB */
    ck_assert_str_eq(bytes(10235), "10.0 KiB");  /* 9.995 KiB rounds up: one decimal */
    ck_assert_str_eq(bytes(10240), "10.0 KiB");
    ck_assert_str_eq(bytes(12595), "12.3 KiB");
    ck_assert_str_eq(bytes(102348), "99.9 KiB"); /* 99.949 KiB */
    ck_assert_str_eq(bytes(102349), "100 KiB");  /* 99.950 KiB: no decimals */
    ck_assert_str_eq(bytes(999 * KiB), "999 KiB");
}
END_TEST

/* Rounding must not print four digits ("1024 KiB"): it moves up a unit instead. */
START_TEST(test_bytes_carry_to_next_unit)
{
    ck_assert_str_eq(bytes(1048535), "1.00 MiB"); /* 1023.96 KiB */
    ck_assert_str_eq(bytes(1023 * KiB), "1.00 MiB");
    ck_assert_str_eq(bytes(1023488), "0.98 MiB"); /* 999.5 KiB */
    ck_assert_str_eq(bytes(1023487), "999 KiB");  /* 999.499 KiB */
    ck_assert_str_eq(bytes(MiB - 1), "1.00 MiB");
    ck_assert_str_eq(bytes(MiB), "1.00 MiB");
    ck_assert_str_eq(bytes(GiB - 1), "1.00 GiB");
    for (uint64_t n = 900 * KiB; n < 2 * MiB; n += 37) {
        const char *s = bytes(n);
        /* Never more than three digits before the unit. */
        size_t digits = strspn(s, "0123456789");
        ck_assert_msg(digits <= 3, "%llu bytes printed as %s", (unsigned long long)n, s);
    }
}
END_TEST

START_TEST(test_bytes_large)
{
    ck_assert_str_eq(bytes(GiB), "1.00 GiB");
    ck_assert_str_eq(bytes(2 * GiB), "2.00 GiB");
    ck_assert_str_eq(bytes(3 * GiB / 2), "1.50 GiB");
    ck_assert_str_eq(bytes(123 * GiB), "123 GiB");
    ck_assert_str_eq(bytes(1024 * GiB), "1.00 TiB");
    ck_assert_str_eq(bytes(1024 * 1024 * GiB), "1.00 PiB");
    /* Past PiB there is no bigger unit: the number grows instead. */
    ck_assert_str_eq(bytes(UINT64_MAX), "16384 PiB");
}
END_TEST

START_TEST(test_bytes_small_buffer)
{
    char out[4];
    memset(out, 'z', sizeof out);
    lt_fmt_bytes(out, sizeof out, 123456789);
    ck_assert_uint_eq(strlen(out), 3); /* cut, but terminated */
    ck_assert_str_eq(out, "118");
}
END_TEST

START_TEST(test_rates)
{
    ck_assert_str_eq(rate(0), "0 B/s");
    ck_assert_str_eq(rate(0.49), "0 B/s");
    ck_assert_str_eq(rate(-0.49), "0 B/s"); /* no "-0" */
    ck_assert_str_eq(rate(0.5), "+1 B/s");
    ck_assert_str_eq(rate(300), "+300 B/s");
    ck_assert_str_eq(rate(-300), "-300 B/s");
    ck_assert_str_eq(rate(-300.4), "-300 B/s");
    ck_assert_str_eq(rate(2048), "+2.00 KiB/s");
    ck_assert_str_eq(rate(-2048), "-2.00 KiB/s");
    ck_assert_str_eq(rate(1.5 * MiB), "+1.50 MiB/s");
    ck_assert_str_eq(rate(-(double)(3 * GiB)), "-3.00 GiB/s");
}
END_TEST

START_TEST(test_counts)
{
    ck_assert_str_eq(count(0), "0");
    ck_assert_str_eq(count(7), "7");
    ck_assert_str_eq(count(999), "999");
    ck_assert_str_eq(count(1000), "1,000");
    ck_assert_str_eq(count(12345), "12,345");
    ck_assert_str_eq(count(123456), "123,456");
    ck_assert_str_eq(count(1234567), "1,234,567");
    ck_assert_str_eq(count(1000000000), "1,000,000,000");
    ck_assert_str_eq(count(UINT64_MAX), "18,446,744,073,709,551,615");
}
END_TEST

START_TEST(test_deltas)
{
    ck_assert_str_eq(delta(0), "0");
    ck_assert_str_eq(delta(5), "+5");
    ck_assert_str_eq(delta(-3), "-3");
    ck_assert_str_eq(delta(12000), "+12,000");
    ck_assert_str_eq(delta(-1234567), "-1,234,567");
    ck_assert_str_eq(delta(INT64_MAX), "+9,223,372,036,854,775,807");
    ck_assert_str_eq(delta(INT64_MIN), "-9,223,372,036,854,775,808");
}
END_TEST

static Suite *
format_suite(void)
{
    Suite *s = suite_create("format");
    TCase *tc = lt_test_tcase(s, "format");
    tcase_add_test(tc, test_bytes_small);
    tcase_add_test(tc, test_bytes_precision_steps);
    tcase_add_test(tc, test_bytes_carry_to_next_unit);
    tcase_add_test(tc, test_bytes_large);
    tcase_add_test(tc, test_bytes_small_buffer);
    tcase_add_test(tc, test_rates);
    tcase_add_test(tc, test_counts);
    tcase_add_test(tc, test_deltas);
    return s;
}

int
main(void)
{
    return lt_test_run(format_suite());
}
