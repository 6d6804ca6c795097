/* agent/live_table.c: the pointer table of live samples and the filter in front of it. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/live_table.h"
#include "harness.h"
#include "leaktop/mem.h"

/* Pointers as an allocator hands them out: 16-byte aligned, clustered. */
static uintptr_t
ptr_of(uint32_t i)
{
    return 0x7f0000000000ull + (uintptr_t)i * 48u + ((uintptr_t)(i / 1000) << 24);
}

static lt_live_entry
entry(uint32_t i)
{
    lt_live_entry e = {ptr_of(i), 32 + i % 100, i % 13, 1.5f};
    return e;
}

static uint32_t
count_bits(const lt_live_table *t)
{
    uint32_t n = 0;
    for (uint32_t w = 0; w < LT_LIVE_FILTER_WORDS; w++)
        n += (uint32_t)__builtin_popcountll(t->filter[w]);
    return n;
}

START_TEST(test_insert_remove)
{
    uint64_t base = lt_mem_in_use();
    lt_live_table t;
    ck_assert_int_eq(lt_live_table_init(&t, 100000), 0);
    const uint32_t n = 50000;
    lt_live_entry old;
    for (uint32_t i = 0; i < n; i++) {
        lt_live_entry e = entry(i);
        ck_assert_int_eq(lt_live_table_insert(&t, &e, &old), 0);
    }
    ck_assert_uint_eq(t.n, n);
    ck_assert_uint_le(t.n * 2, t.mask + 1); /* at most half full */
    /* Every entry passes the filter (no false negatives) and is found. */
    for (uint32_t i = 0; i < n; i++)
        ck_assert(lt_live_table_maybe(&t, ptr_of(i)));
    /* Remove every other one, in an order unrelated to insertion. */
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = (k * 7919u) % n;
        if (i % 2)
            continue;
        lt_live_entry out;
        ck_assert_int_eq(lt_live_table_remove(&t, ptr_of(i), &out), 1);
        ck_assert_uint_eq(out.ptr, ptr_of(i));
        ck_assert_uint_eq(out.size, entry(i).size);
        ck_assert_uint_eq(out.trace, entry(i).trace);
        ck_assert_int_eq(lt_live_table_remove(&t, ptr_of(i), &out), 0);
    }
    ck_assert_uint_eq(t.n, n / 2);
    /* find sees the survivors with their entries, and not the removed, changing nothing. */
    for (uint32_t i = 0; i < n; i++) {
        lt_live_entry out;
        ck_assert_int_eq(lt_live_table_find(&t, ptr_of(i), &out), (int)(i % 2));
        if (i % 2) {
            ck_assert_uint_eq(out.ptr, ptr_of(i));
            ck_assert_uint_eq(out.size, entry(i).size);
            ck_assert_uint_eq(out.trace, entry(i).trace);
        }
    }
    ck_assert_uint_eq(t.n, n / 2);
    /* Backward-shift deletion kept every survivor reachable. */
    for (uint32_t i = 1; i < n; i += 2) {
        ck_assert(lt_live_table_maybe(&t, ptr_of(i)));
        lt_live_entry out;
        ck_assert_int_eq(lt_live_table_remove(&t, ptr_of(i), &out), 1);
        ck_assert_int_eq(lt_live_table_insert(&t, &out, &old), 0);
    }
    /* Unknown pointers are not found, and the filter turns most away. */
    uint32_t passed = 0;
    for (uint32_t i = 0; i < 10000; i++) {
        lt_live_entry out;
        uintptr_t p = 0x100000000ull + (((uintptr_t)i * 2654435761u) & 0xFFFFFFF) * 16;
        passed += (uint32_t)lt_live_table_maybe(&t, p);
        ck_assert_int_eq(lt_live_table_find(&t, p, &out), 0);
        ck_assert_int_eq(lt_live_table_remove(&t, p, &out), 0);
    }
    ck_assert_uint_lt(passed, 10000 / 10); /* 50k bits set of 1M: ~5% */
    lt_live_table_free(&t);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_filter_rebuild)
{
    lt_live_table t;
    ck_assert_int_eq(lt_live_table_init(&t, 100000), 0);
    lt_live_entry old, out;
    for (uint32_t i = 0; i < 20000; i++) {
        lt_live_entry e = entry(i);
        lt_live_table_insert(&t, &e, &old);
    }
    ck_assert_uint_eq(t.filter_bits, 20000);
    for (uint32_t i = 0; i < 19000; i++)
        lt_live_table_remove(&t, ptr_of(i), &out);
    /* A removed entry takes its bit with it when nobody shares the bit: the allocator reuses
     * the address at once, and its frees must stay on the fast path. */
    ck_assert_uint_eq(t.filter_bits, 1000);
    ck_assert_uint_eq(count_bits(&t), 1000);
    for (uint32_t i = 0; i < 19000; i++)
        ck_assert(!lt_live_table_maybe(&t, ptr_of(i)));
    for (uint32_t i = 19000; i < 20000; i++)
        ck_assert(lt_live_table_maybe(&t, ptr_of(i)));
    ck_assert(!lt_live_table_filter_stale(&t));

    /* Pointers 16 MiB apart share a bit: it stays while either lives, and after both went it
     * is stale until a rebuild, which builds the other bitmap. */
    uintptr_t a = 0x7e0000000000ull, b = a + (16u << 20);
    lt_live_entry ea = {a, 64, 1, 1.0f}, eb = {b, 64, 2, 1.0f};
    ck_assert_int_eq(lt_live_table_insert(&t, &ea, &old), 0);
    ck_assert_int_eq(lt_live_table_insert(&t, &eb, &old), 0);
    ck_assert_int_eq(lt_live_table_remove(&t, a, &out), 1);
    ck_assert(lt_live_table_maybe(&t, b));
    ck_assert_int_eq(lt_live_table_remove(&t, b, &out), 1);
    ck_assert(lt_live_table_maybe(&t, a)); /* stale */
    ck_assert_uint_eq(t.filter_bits, 1001);
    const uint64_t *before = t.filter;
    lt_live_table_rebuild_filter(&t);
    ck_assert_ptr_ne(t.filter, before);
    ck_assert_uint_eq(t.filter_bits, 1000);
    ck_assert_uint_eq(count_bits(&t), t.filter_bits);
    ck_assert(!lt_live_table_maybe(&t, a));
    for (uint32_t i = 19000; i < 20000; i++)
        ck_assert(lt_live_table_maybe(&t, ptr_of(i)));
    /* Many shared bits left stale: the table says a rebuild is due. */
    for (uint32_t i = 0; i < 3000; i++) {
        lt_live_entry x = {a + (uintptr_t)i * 16, 64, 1, 1.0f};
        lt_live_entry y = {b + (uintptr_t)i * 16, 64, 1, 1.0f};
        lt_live_table_insert(&t, &x, &old);
        lt_live_table_insert(&t, &y, &old);
    }
    for (uint32_t i = 0; i < 3000; i++) {
        lt_live_table_remove(&t, a + (uintptr_t)i * 16, &out);
        lt_live_table_remove(&t, b + (uintptr_t)i * 16, &out);
    }
    ck_assert(lt_live_table_filter_stale(&t));
    lt_live_table_rebuild_filter(&t);
    ck_assert(!lt_live_table_filter_stale(&t));
    /* clear empties the table and the filter. */
    lt_live_table_clear(&t);
    ck_assert_uint_eq(t.n, 0);
    ck_assert_uint_eq(count_bits(&t), 0);
    ck_assert(!lt_live_table_maybe(&t, ptr_of(19500)));
    lt_live_table_free(&t);
}
END_TEST

START_TEST(test_bounds_and_replace)
{
    lt_live_table t;
    ck_assert_int_eq(lt_live_table_init(&t, 100), 0);
    lt_live_entry old;
    for (uint32_t i = 0; i < 100; i++) {
        lt_live_entry e = entry(i);
        ck_assert_int_eq(lt_live_table_insert(&t, &e, &old), 0);
    }
    lt_live_entry e = entry(100);
    ck_assert_int_eq(lt_live_table_insert(&t, &e, &old), -1); /* full */
    ck_assert_uint_eq(t.n, 100);
    /* The same pointer again (its free went unseen): replaced, old entry handed back. */
    e = entry(5);
    e.size = 999;
    e.trace = 77;
    ck_assert_int_eq(lt_live_table_insert(&t, &e, &old), 1);
    ck_assert_uint_eq(old.size, entry(5).size);
    lt_live_entry out;
    ck_assert_int_eq(lt_live_table_remove(&t, ptr_of(5), &out), 1);
    ck_assert_uint_eq(out.size, 999);
    ck_assert_uint_eq(out.trace, 77);
    /* A null pointer is never an entry. */
    e.ptr = 0;
    ck_assert_int_eq(lt_live_table_insert(&t, &e, &old), -1);
    ck_assert_int_eq(lt_live_table_remove(&t, 0, &out), 0);
    lt_live_table_free(&t);
}
END_TEST

static int
keep_odd(void *ctx, lt_live_entry *e)
{
    (void)ctx;
    e->weight *= 2;
    return e->trace % 2;
}

static void
count_drop(void *ctx, const lt_live_entry *e)
{
    uint32_t *n = ctx;
    ck_assert_uint_eq(e->trace % 2, 0);
    (*n)++;
}

START_TEST(test_filter_entries)
{
    uint64_t base = lt_mem_in_use();
    lt_live_table t;
    ck_assert_int_eq(lt_live_table_init(&t, 10000), 0);
    lt_live_entry old;
    uint32_t odd = 0;
    for (uint32_t i = 0; i < 5000; i++) {
        lt_live_entry e = entry(i);
        lt_live_table_insert(&t, &e, &old);
        odd += e.trace % 2;
    }
    uint32_t dropped = 0;
    ck_assert_uint_eq(lt_live_table_filter_entries(&t, keep_odd, count_drop, &dropped),
                      5000 - odd);
    ck_assert_uint_eq(dropped, 5000 - odd);
    ck_assert_uint_eq(t.n, odd);
    for (uint32_t i = 0; i < 5000; i++) {
        lt_live_entry out;
        int found = lt_live_table_remove(&t, ptr_of(i), &out);
        ck_assert_int_eq(found, (int)(entry(i).trace % 2));
        if (found)
            ck_assert_float_eq(out.weight, 3.0f); /* keep() may reweight */
    }
    ck_assert_uint_eq(t.n, 0);
    lt_live_table_free(&t);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_out_of_memory)
{
    uint64_t base = lt_mem_in_use();
    for (long k = 1; k <= 4; k++) {
        lt_live_table t;
        lt_mem_fail_after(k);
        int rc = lt_live_table_init(&t, 1000);
        lt_mem_fail_after(0);
        if (rc < 0) {
            /* A table whose init failed refuses inserts and finds nothing. */
            lt_live_entry e = entry(1), old, out;
            ck_assert_int_eq(lt_live_table_insert(&t, &e, &old), -1);
            ck_assert(!lt_live_table_maybe(&t, e.ptr));
            ck_assert_int_eq(lt_live_table_remove(&t, e.ptr, &out), 0);
        }
        lt_live_table_free(&t);
        ck_assert_uint_eq(lt_mem_in_use(), base);
    }
    /* Growth failing: the insert fails, the table stays usable. */
    lt_live_table t;
    ck_assert_int_eq(lt_live_table_init(&t, 100000), 0);
    lt_live_entry old;
    uint32_t i = 0;
    for (; t.n * 2 + 2 <= t.mask + 1; i++) {
        lt_live_entry e = entry(i);
        ck_assert_int_eq(lt_live_table_insert(&t, &e, &old), 0);
    }
    lt_mem_fail_after(1);
    lt_live_entry e = entry(i);
    ck_assert_int_eq(lt_live_table_insert(&t, &e, &old), -1);
    lt_mem_fail_after(0);
    ck_assert_int_eq(lt_live_table_insert(&t, &e, &old), 0);
    lt_live_table_free(&t);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

static Suite *
live_table_suite(void)
{
    Suite *s = suite_create("live_table");
    TCase *tc = lt_test_tcase(s, "live_table");
    tcase_add_test(tc, test_insert_remove);
    tcase_add_test(tc, test_filter_rebuild);
    tcase_add_test(tc, test_bounds_and_replace);
    tcase_add_test(tc, test_filter_entries);
    tcase_add_test(tc, test_out_of_memory);
    return s;
}

int
main(void)
{
    return lt_test_run(live_table_suite());
}
