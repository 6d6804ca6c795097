/* agent/census_pace.c: the census's CPU budget as a token bucket. */
#define _GNU_SOURCE
#include "agent/census_pace.h"
#include "harness.h"

#define MS 1000000ull
#define S 1000000000ull

START_TEST(test_credit_and_spend)
{
    lt_pace p;
    lt_pace_init(&p, 10000, 100 * MS, 100 * MS, 5 * S); /* 1%, a full 100 ms bucket */
    ck_assert(lt_pace_allows(&p));
    lt_pace_spend(&p, 99 * MS);
    ck_assert(lt_pace_allows(&p));
    lt_pace_spend(&p, 1 * MS);
    ck_assert(!lt_pace_allows(&p)); /* the whole bucket used */
    lt_pace_tick(&p, 6 * S);        /* a second later: 10 ms credited */
    ck_assert_int_eq(p.tokens_ns, (int64_t)(10 * MS));
    lt_pace_spend(&p, 9 * MS);
    ck_assert(lt_pace_allows(&p));
    lt_pace_spend(&p, 1 * MS);
    ck_assert(!lt_pace_allows(&p));
}
END_TEST

START_TEST(test_average_stays_within_budget)
{
    /* A greedy census that takes 8 ms slices whenever allowed, ticking every second for
     * 1000 s from an empty bucket, spends the budget: 10 s, give or take one slice. */
    lt_pace p;
    uint64_t wall = 0, cpu = 0;
    lt_pace_init(&p, 10000, 100 * MS, 0, wall);
    for (int t = 0; t < 1000; t++) {
        wall += S;
        lt_pace_tick(&p, wall);
        while (lt_pace_allows(&p)) {
            cpu += 8 * MS;
            lt_pace_spend(&p, 8 * MS);
        }
    }
    ck_assert_uint_le(cpu, 1000 * 10 * MS + 8 * MS);
    ck_assert_uint_ge(cpu, 1000 * 10 * MS - 8 * MS);
}
END_TEST

START_TEST(test_debt_and_cap_are_bounded)
{
    lt_pace p;
    lt_pace_init(&p, 10000, 100 * MS, 0, 0);
    lt_pace_spend(&p, 10 * S); /* a 10 s census: the debt stops at one bucket */
    ck_assert_int_eq(p.tokens_ns, -(int64_t)(100 * MS));
    ck_assert(!lt_pace_allows(&p));
    lt_pace_tick(&p, 10 * S); /* 10 s: debt repaid */
    ck_assert_int_eq(p.tokens_ns, 0);
    ck_assert(!lt_pace_allows(&p));
    lt_pace_tick(&p, 100000 * S); /* never above the cap */
    ck_assert_int_eq(p.tokens_ns, (int64_t)(100 * MS));
    lt_pace_tick(&p, 50 * S); /* a clock that goes back credits nothing */
    ck_assert_int_eq(p.tokens_ns, (int64_t)(100 * MS));
}
END_TEST

START_TEST(test_budget_is_clamped)
{
    lt_pace p;
    lt_pace_init(&p, 0, 0, 5 * MS, 0);
    ck_assert_uint_eq(p.budget_ppm, 1);
    ck_assert(!lt_pace_allows(&p)); /* credit is capped at a zero cap */
    lt_pace_init(&p, 5000000, 10 * MS, 0, 0);
    ck_assert_uint_eq(p.budget_ppm, 1000000);
    lt_pace_tick(&p, 50 * MS);
    ck_assert_int_eq(p.tokens_ns, (int64_t)(10 * MS)); /* a whole core, capped */
    volatile uint64_t x = 0;
    for (int i = 0; i < 1000000; i++)
        x += (uint64_t)i;
    ck_assert_uint_eq(x, 499999500000u); /* read back: gcc 16 warns of a variable only set */
    ck_assert_uint_gt(lt_thread_cpu_ns(), 0);
}
END_TEST

static Suite *
pace_suite(void)
{
    Suite *s = suite_create("census_pace");
    TCase *tc = lt_test_tcase(s, "census_pace");
    tcase_add_test(tc, test_credit_and_spend);
    tcase_add_test(tc, test_average_stays_within_budget);
    tcase_add_test(tc, test_debt_and_cap_are_bounded);
    tcase_add_test(tc, test_budget_is_clamped);
    return s;
}

int
main(void)
{
    return lt_test_run(pace_suite());
}
