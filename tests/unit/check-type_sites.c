/* agent/type_sites.c: a type's sampled instances added up per allocation site and ranked. */
#define _GNU_SOURCE
#include "agent/type_sites.h"
#include "harness.h"
#include "leaktop/mem.h"

/* Estimates are size * weight per sample, per site; unresolved samples stay apart. */
START_TEST(test_add_and_rank)
{
    uint64_t base = lt_mem_in_use();
    lt_type_sites ts;
    lt_type_sites_init(&ts);
    /* Site 7: 30 samples of 56 bytes standing for 1170.3 blocks each (a 64 KiB interval);
     * site 3: 10 samples; site 9: 5 samples of 8 KiB for 20 each (fewer instances than 3,
     * more bytes);
     * 4 samples whose traceback no census named yet. */
    for (int i = 0; i < 30; i++)
        lt_type_sites_add(&ts, 7, 56, 1170.3);
    for (int i = 0; i < 10; i++)
        lt_type_sites_add(&ts, 3, 56, 1170.3);
    for (int i = 0; i < 5; i++)
        lt_type_sites_add(&ts, 9, 8192, 20.0);
    for (int i = 0; i < 4; i++)
        lt_type_sites_add(&ts, 0, 56, 1170.3);
    ck_assert_uint_eq(ts.sampled, 49);
    ck_assert_uint_eq(ts.n, 3);
    ck_assert_double_eq_tol(ts.unresolved_bytes, 4 * 56 * 1170.3, 1e-6);
    ck_assert_double_eq_tol(ts.unresolved_count, 4 * 1170.3, 1e-6);
    lt_type_site_total top[8];
    ck_assert_uint_eq(lt_type_sites_top(&ts, top, 8), 3);
    ck_assert_uint_eq(top[0].site, 7);
    ck_assert_uint_eq(top[0].samples, 30);
    ck_assert_double_eq_tol(top[0].bytes, 30 * 56 * 1170.3, 1e-6);
    ck_assert_double_eq_tol(top[0].count, 30 * 1170.3, 1e-6);
    ck_assert_uint_eq(top[1].site, 9); /* 819 KB in 100 instances */
    ck_assert_uint_eq(top[2].site, 3);
    ck_assert(top[1].bytes < top[0].bytes && top[2].bytes < top[1].bytes);
    /* A shorter top keeps the largest. */
    ck_assert_uint_eq(lt_type_sites_top(&ts, top, 1), 1);
    ck_assert_uint_eq(top[0].site, 7);
    ck_assert_uint_eq(lt_type_sites_top(&ts, top, 0), 0);
    lt_type_sites_free(&ts);
    ck_assert_uint_eq(ts.n, 0);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

/* Many sites (the table grows), ranked like a full sort; ties go to more instances, then the
 * lower handle. */
START_TEST(test_many_sites_and_ties)
{
    uint64_t base = lt_mem_in_use();
    lt_type_sites ts;
    lt_type_sites_init(&ts);
    const uint32_t nsites = 5000;
    for (uint32_t s = 1; s <= nsites; s++) {
        /* bytes (s * 37) % 1000 per sample, one sample each: many ties */
        lt_type_sites_add(&ts, s, (s * 37u) % 1000u + 1, 1.0);
    }
    /* A tie on bytes broken by count: site 20,001 has 2 blocks of 500, site 20,002 one of
     * 1000. */
    lt_type_sites_add(&ts, 20002, 2000, 1.0);
    lt_type_sites_add(&ts, 20001, 1000, 1.0);
    lt_type_sites_add(&ts, 20001, 1000, 1.0);
    ck_assert_uint_eq(ts.n, nsites + 2);
    ck_assert_int_eq(ts.failed, 0);
    lt_type_site_total top[64];
    uint32_t n = lt_type_sites_top(&ts, top, 64);
    ck_assert_uint_eq(n, 64);
    ck_assert_uint_eq(top[0].site, 20001);
    ck_assert_uint_eq(top[1].site, 20002);
    for (uint32_t i = 2; i + 1 < n; i++) {
        ck_assert(top[i].bytes >= top[i + 1].bytes);
        if (top[i].bytes == top[i + 1].bytes)
            ck_assert_uint_lt(top[i].site, top[i + 1].site);
    }
    /* The largest single-sample value is 1000 bytes: (s * 37) % 1000 == 999 for s = 27 + k*1000
     * (37 * 27 = 999). The lowest handle with it comes first after the two above. */
    ck_assert_double_eq(top[2].bytes, 1000.0);
    ck_assert_uint_eq(top[2].site, 27);
    lt_type_sites_free(&ts);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

/* Out of memory: the sample is left out and said so; what was added stays right. */
START_TEST(test_out_of_memory)
{
    uint64_t base = lt_mem_in_use();
    lt_type_sites ts;
    lt_type_sites_init(&ts);
    lt_mem_fail_after(1); /* the first allocation fails */
    lt_type_sites_add(&ts, 5, 100, 2.0);
    lt_mem_fail_after(0);
    ck_assert_int_eq(ts.failed, 1);
    ck_assert_uint_eq(ts.n, 0);
    lt_type_sites_add(&ts, 5, 100, 2.0);
    lt_type_site_total top[2];
    ck_assert_uint_eq(lt_type_sites_top(&ts, top, 2), 1);
    ck_assert_double_eq(top[0].bytes, 200.0);
    ck_assert_uint_eq(ts.sampled, 2);
    lt_type_sites_free(&ts);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

static Suite *
type_sites_suite(void)
{
    Suite *s = suite_create("type_sites");
    TCase *tc = lt_test_tcase(s, "type_sites");
    tcase_add_test(tc, test_add_and_rank);
    tcase_add_test(tc, test_many_sites_and_ties);
    tcase_add_test(tc, test_out_of_memory);
    return s;
}

int
main(void)
{
    return lt_test_run(type_sites_suite());
}
