/* agent/gil_holds.c: the longest holds of the GIL per kind of work. */
#define _GNU_SOURCE
#include "agent/gil_holds.h"
#include "harness.h"

#include <string.h>
#include <time.h>

/* Burn about ms of this thread's CPU time. */
static void
spin_cpu_ms(double ms)
{
    struct timespec a, b;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    do {
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    } while ((double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6 < ms);
}

START_TEST(test_longest_and_totals_per_kind)
{
    lt_holds_reset(2000000); /* a bound of 2 ms */
    lt_hold_mark m;
    uint64_t cpu = 0;
    lt_hold_begin(&m);
    spin_cpu_ms(3.0);
    uint64_t wall = lt_hold_end(&m, LT_HOLD_WHY, &cpu);
    ck_assert_uint_ge(cpu, 3000000u);
    ck_assert_uint_ge(wall, cpu - cpu / 50); /* wall >= CPU on one thread, give or take clocks */
    lt_hold_begin(&m);
    spin_cpu_ms(1.0);
    lt_hold_end(&m, LT_HOLD_WHY, NULL);
    /* A sleep is wall time, not CPU time. */
    lt_hold_begin(&m);
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
    lt_hold_end(&m, LT_HOLD_WHY, NULL);
    lt_hold_stats st;
    lt_holds_get(LT_HOLD_WHY, &st);
    ck_assert_uint_eq(st.holds, 3);
    ck_assert_uint_eq(st.longest_cpu_ns, cpu);
    ck_assert_uint_ge(st.longest_wall_ns, 20000000u);
    ck_assert_uint_ge(st.total_cpu_ns, cpu + 1000000u);
    ck_assert_uint_lt(st.total_cpu_ns, cpu + 1000000u + 10000000u);
    ck_assert_uint_eq(st.over_bound, 1); /* the 3 ms one; the sleep is no CPU */
    /* Other kinds untouched. */
    lt_holds_get(LT_HOLD_CENSUS, &st);
    ck_assert_uint_eq(st.holds, 0);
    ck_assert_uint_eq(st.longest_wall_ns, 0);
}
END_TEST

START_TEST(test_unknown_kind_and_reset)
{
    lt_holds_reset(0);
    lt_hold_mark m;
    lt_hold_begin(&m);
    lt_hold_end(&m, LT_HOLD_KINDS, NULL); /* not counted anywhere */
    lt_hold_end(&m, LT_HOLD_MEMORY, NULL);
    lt_hold_stats st;
    lt_holds_get(LT_HOLD_KINDS, &st);
    ck_assert_uint_eq(st.holds, 0);
    lt_holds_get(LT_HOLD_MEMORY, &st);
    ck_assert_uint_eq(st.holds, 1);
    lt_holds_reset(0);
    lt_holds_get(LT_HOLD_MEMORY, &st);
    ck_assert_uint_eq(st.holds, 0);
    ck_assert_str_eq(lt_hold_kind_name(LT_HOLD_CENSUS), "census");
    ck_assert_str_eq(lt_hold_kind_name(LT_HOLD_TYPE_SITES), "type_sites");
    ck_assert_ptr_null(lt_hold_kind_name(LT_HOLD_KINDS));
}
END_TEST

static Suite *
holds_suite(void)
{
    Suite *s = suite_create("gil_holds");
    TCase *tc = lt_test_tcase(s, "gil_holds");
    tcase_add_test(tc, test_longest_and_totals_per_kind);
    tcase_add_test(tc, test_unknown_kind_and_reset);
    return s;
}

int
main(void)
{
    return lt_test_run(holds_suite());
}
