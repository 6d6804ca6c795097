/* agent/type_census.c: counting by type pointer, merging by name, ranking for history. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "agent/type_census.h"
#include "harness.h"
#include "leaktop/mem.h"

/* Fake types: the census only compares pointers, so any distinct addresses do. */
#define NFAKE 6000
static char fake_types[NFAKE];
#define T(i) ((const void *)&fake_types[(i)])

/* Names: type i is called id name_ids[i]; by default i + 1. */
static uint32_t name_ids[NFAKE];

static uint32_t
name_of(void *ctx, const void *type)
{
    (void)ctx;
    return name_ids[(const char *)type - fake_types];
}

static void
default_names(void)
{
    for (uint32_t i = 0; i < NFAKE; i++)
        name_ids[i] = i + 1;
}

static const lt_census_slot *
slot(lt_census *c, const void *type)
{
    uint32_t used = c->used;
    const lt_census_slot *s = lt_census_slot_of(c, type);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(c->used, used); /* looking up a known type adds nothing */
    return s;
}

START_TEST(test_add_counts_by_pointer)
{
    uint64_t base = lt_mem_in_use();
    lt_census c;
    ck_assert_int_eq(lt_census_init(&c, 10), 0);
    /* Runs and interleavings: the cached last slot must not confuse types. */
    lt_census_add(&c, T(0), 16);
    lt_census_add(&c, T(0), 16);
    lt_census_add(&c, T(1), 100);
    lt_census_add(&c, T(0), 32);
    lt_census_add(&c, T(2), 7);
    lt_census_add(&c, T(1), 100);
    ck_assert_uint_eq(c.objects, 6);
    ck_assert_uint_eq(c.used, 3);
    ck_assert_uint_eq(slot(&c, T(0))->count, 3);
    ck_assert_uint_eq(slot(&c, T(0))->bytes, 64);
    ck_assert_uint_eq(slot(&c, T(1))->count, 2);
    ck_assert_uint_eq(slot(&c, T(1))->bytes, 200);
    ck_assert_uint_eq(slot(&c, T(2))->count, 1);
    ck_assert_int_eq(c.failed, 0);

    /* reset forgets the counts, not the table. */
    uint32_t nslots = c.nslots;
    lt_census_reset(&c);
    ck_assert_uint_eq(c.objects, 0);
    ck_assert_uint_eq(c.used, 0);
    ck_assert_uint_eq(c.nslots, nslots);
    lt_census_add(&c, T(1), 5);
    ck_assert_uint_eq(slot(&c, T(1))->count, 1);
    ck_assert_uint_eq(slot(&c, T(1))->bytes, 5);
    lt_census_free(&c);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

/* A viewer's history before any census: nothing to rank, and no table to read (UBSan). */
START_TEST(test_rank_history_of_an_empty_census)
{
    lt_census c;
    ck_assert_int_eq(lt_census_init(&c, 10), 0);
    lt_type_row out[4];
    ck_assert_uint_eq(lt_census_rank_history(&c, out, 4), 0);
    lt_census_free(&c);
}
END_TEST

START_TEST(test_growth_past_1024)
{
    lt_census c;
    ck_assert_int_eq(lt_census_init(&c, 1), 0);
    ck_assert_uint_eq(c.nslots, 1024);
    /* Type i gets i % 7 + 1 objects of 8 bytes, visited round-robin so that the cached slot
     * is always stale and the table grows while slots are cached. */
    for (uint32_t round = 0; round < 7; round++)
        for (uint32_t i = 0; i < 5000; i++)
            if (round < i % 7 + 1)
                lt_census_add(&c, T(i), 8);
    ck_assert_uint_eq(c.used, 5000);
    ck_assert_uint_gt(c.nslots, 5000);
    ck_assert_uint_eq(c.nslots & (c.nslots - 1), 0); /* a power of two */
    ck_assert_int_eq(c.failed, 0);
    uint64_t total = 0;
    for (uint32_t i = 0; i < 5000; i++) {
        const lt_census_slot *s = slot(&c, T(i));
        ck_assert_uint_eq(s->count, i % 7 + 1);
        ck_assert_uint_eq(s->bytes, 8 * (i % 7 + 1));
        total += s->count;
    }
    ck_assert_uint_eq(c.objects, total);
    lt_census_free(&c);
}
END_TEST

START_TEST(test_growth_out_of_memory)
{
    uint64_t base = lt_mem_in_use();
    lt_census c;
    ck_assert_int_eq(lt_census_init(&c, 1), 0);
    /* The table grows when it would be more than 3/4 full: at the 769th type of 1024 slots. */
    for (uint32_t i = 0; i < 768; i++)
        lt_census_add(&c, T(i), 1);
    ck_assert_uint_eq(c.nslots, 1024);
    lt_mem_fail_after(1);
    lt_census_add(&c, T(768), 1);
    lt_mem_fail_after(0);
    ck_assert_int_eq(c.failed, 1);
    ck_assert_uint_eq(c.objects, 768); /* not counted */
    ck_assert_uint_eq(c.used, 768);
    /* Known types are still counted. */
    lt_census_add(&c, T(5), 1);
    ck_assert_uint_eq(slot(&c, T(5))->count, 2);
    /* With memory back the table grows. */
    lt_census_add(&c, T(768), 1);
    ck_assert_uint_eq(c.nslots, 2048);
    ck_assert_uint_eq(slot(&c, T(768))->count, 1);
    ck_assert_int_eq(c.failed, 1); /* this walk stays marked incomplete until reset */
    lt_census_reset(&c);
    ck_assert_int_eq(c.failed, 0);
    lt_census_free(&c);
    ck_assert_uint_eq(lt_mem_in_use(), base);

    /* init under out of memory. */
    lt_mem_fail_after(1);
    ck_assert_int_eq(lt_census_init(&c, 1), -1);
    lt_mem_fail_after(0);
    lt_census_add(&c, T(1), 1); /* harmless: marked failed */
    ck_assert_int_eq(c.failed, 1);
    lt_census_free(&c);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_merge_by_name)
{
    default_names();
    lt_census c;
    ck_assert_int_eq(lt_census_init(&c, 1), 0);
    /* Types 0 and 1 share the name 50 (one class defined twice). */
    name_ids[0] = 50;
    name_ids[1] = 50;
    for (int i = 0; i < 10; i++)
        lt_census_add(&c, T(0), 100); /* 10 objects, 1000 bytes */
    for (int i = 0; i < 5; i++)
        lt_census_add(&c, T(1), 300); /* 5 objects, 1500 bytes */
    for (int i = 0; i < 1; i++)
        lt_census_add(&c, T(2), 2000); /* id 3: 1 object, 2000 bytes */
    for (int i = 0; i < 40; i++)
        lt_census_add(&c, T(3), 10); /* id 4: 40 objects, 400 bytes */
    for (int i = 0; i < 4; i++)
        lt_census_add(&c, T(4), 100); /* id 5: 4 objects, 400 bytes: same bytes as id 4 */
    ck_assert_int_eq(lt_census_merge(&c, name_of, NULL), 0);
    ck_assert_uint_eq(c.nrows, 4);
    /* By bytes, largest first; equal bytes: more objects first. */
    ck_assert_uint_eq(c.rows[0].name_id, 50);
    ck_assert_uint_eq(c.rows[0].count, 15);
    ck_assert_uint_eq(c.rows[0].bytes, 2500);
    ck_assert_uint_eq(c.rows[1].name_id, 3);
    ck_assert_uint_eq(c.rows[1].bytes, 2000);
    ck_assert_uint_eq(c.rows[2].name_id, 4);
    ck_assert_uint_eq(c.rows[2].count, 40);
    ck_assert_uint_eq(c.rows[3].name_id, 5);
    ck_assert_uint_eq(c.rows[3].count, 4);

    /* A second walk reuses the rows. */
    lt_census_reset(&c);
    ck_assert_uint_eq(c.nrows, 0);
    lt_census_add(&c, T(3), 1);
    ck_assert_int_eq(lt_census_merge(&c, name_of, NULL), 0);
    ck_assert_uint_eq(c.nrows, 1);
    ck_assert_uint_eq(c.rows[0].name_id, 4);
    ck_assert_uint_eq(c.rows[0].count, 1);
    lt_census_free(&c);

    /* A walk that met nothing (the arrivals of a quiet tick) merges into no rows, before any
     * row was ever made (under UBSan: no sort of a null table). */
    ck_assert_int_eq(lt_census_init(&c, 1), 0);
    ck_assert_int_eq(lt_census_merge(&c, name_of, NULL), 0);
    ck_assert_uint_eq(c.nrows, 0);
    lt_census_free(&c);
}
END_TEST

/* Many types under the same name collapse to one row whatever the slot order. */
START_TEST(test_merge_many_same_name)
{
    default_names();
    for (uint32_t i = 0; i < 3000; i++)
        name_ids[i] = i % 3 + 1;
    lt_census c;
    ck_assert_int_eq(lt_census_init(&c, 1), 0);
    for (uint32_t i = 0; i < 3000; i++)
        lt_census_add(&c, T(i), i % 3 + 1);
    ck_assert_int_eq(lt_census_merge(&c, name_of, NULL), 0);
    ck_assert_uint_eq(c.nrows, 3);
    for (uint32_t r = 0; r < 3; r++) {
        ck_assert_uint_eq(c.rows[r].count, 1000);
        ck_assert_uint_eq(c.rows[r].name_id, 3 - r); /* bytes 3000, 2000, 1000 */
        ck_assert_uint_eq(c.rows[r].bytes, 1000 * (3 - r));
    }
    lt_census_free(&c);
}
END_TEST

START_TEST(test_merge_out_of_memory)
{
    default_names();
    lt_census c;
    ck_assert_int_eq(lt_census_init(&c, 1), 0);
    lt_census_add(&c, T(0), 1);
    lt_mem_fail_after(1);
    ck_assert_int_eq(lt_census_merge(&c, name_of, NULL), -1);
    lt_mem_fail_after(0);
    ck_assert_uint_eq(c.nrows, 0);
    ck_assert_int_eq(lt_census_merge(&c, name_of, NULL), 0);
    ck_assert_uint_eq(c.nrows, 1);
    lt_census_free(&c);
}
END_TEST

/* One census for ranking: 30 big stable types (ids 1..30), the leak (id 31, type 30) with
 * `leak` objects of 8 bytes, and 10 shrinking types (ids 32..41). */
#define NBIG 30
#define LEAK 30
static void
census_round(lt_census *c, uint64_t leak, uint32_t round)
{
    lt_census_reset(c);
    for (uint32_t i = 0; i < NBIG; i++)
        for (uint32_t k = 0; k < 1000 + i; k++)
            lt_census_add(c, T(i), 1000);
    for (uint64_t k = 0; k < leak; k++)
        lt_census_add(c, T(LEAK), 8);
    for (uint32_t i = 31; i < 41; i++)
        for (uint32_t k = 0; k < 900 - 10 * round; k++)
            lt_census_add(c, T(i), 1000);
    ck_assert_int_eq(lt_census_merge(c, name_of, NULL), 0);
}

static int
has_id(const lt_type_row *rows, uint32_t n, uint32_t id)
{
    for (uint32_t i = 0; i < n; i++)
        if (rows[i].name_id == id)
            return 1;
    return 0;
}

START_TEST(test_rank_history_growth)
{
    default_names();
    const uint32_t period = 3, max = 9;
    lt_census c;
    ck_assert_int_eq(lt_census_init(&c, period), 0);
    lt_type_row out[16];
    for (uint32_t round = 0; round < 12; round++) {
        census_round(&c, 1 + 40 * round, round);
        ck_assert_uint_eq(c.nrows, 41);
        memset(out, 0xff, sizeof out);
        uint32_t n = lt_census_rank_history(&c, out, max);
        ck_assert_uint_eq(n, max);
        ck_assert_uint_eq(out[max].name_id, 0xffffffffu); /* nothing past max was written */
        /* No duplicates, and every row is a real one. */
        for (uint32_t i = 0; i < n; i++) {
            ck_assert_uint_ge(out[i].name_id, 1);
            ck_assert_uint_le(out[i].name_id, 41);
            for (uint32_t j = 0; j < i; j++)
                ck_assert_uint_ne(out[i].name_id, out[j].name_id);
        }
        /* The leak is small by bytes and by count: only its growth can get it in, and growth
         * needs a reference, which exists once `period` censuses have been ranked. */
        if (round < period)
            ck_assert_msg(!has_id(out, n, LEAK + 1), "round %u: leak chosen without growth",
                          round);
        else
            ck_assert_msg(has_id(out, n, LEAK + 1), "round %u: the growing type was left out",
                          round);
        /* The largest type by bytes is always kept. */
        ck_assert(has_id(out, n, NBIG));
    }
    lt_census_free(&c);
}
END_TEST

START_TEST(test_rank_history_few_rows)
{
    default_names();
    lt_census c;
    ck_assert_int_eq(lt_census_init(&c, 1), 0);
    for (uint32_t i = 0; i < 5; i++)
        for (uint32_t k = 0; k <= i; k++)
            lt_census_add(&c, T(i), 10);
    ck_assert_int_eq(lt_census_merge(&c, name_of, NULL), 0);
    lt_type_row out[8];
    /* Fewer rows than max: all of them, in the merged order. */
    ck_assert_uint_eq(lt_census_rank_history(&c, out, 8), 5);
    for (uint32_t i = 0; i < 5; i++)
        ck_assert_uint_eq(out[i].name_id, c.rows[i].name_id);
    ck_assert_uint_eq(out[0].name_id, 5);
    /* Exactly max rows. */
    ck_assert_uint_eq(lt_census_rank_history(&c, out, 5), 5);
    /* An empty census. */
    lt_census_reset(&c);
    ck_assert_int_eq(lt_census_merge(&c, name_of, NULL), 0);
    ck_assert_uint_eq(lt_census_rank_history(&c, out, 8), 0);
    lt_census_free(&c);
}
END_TEST

/* Out of memory while ranking: it degrades to the largest rows, never more than max. */
START_TEST(test_rank_history_out_of_memory)
{
    default_names();
    lt_census c;
    ck_assert_int_eq(lt_census_init(&c, 1), 0);
    census_round(&c, 5, 0);
    lt_type_row out[16];
    for (long k = 1; k <= 6; k++) {
        lt_mem_fail_after(k);
        uint32_t n = lt_census_rank_history(&c, out, 9);
        lt_mem_fail_after(0);
        ck_assert_uint_le(n, 9);
        ck_assert_uint_ge(n, 1);
        ck_assert(has_id(out, n, NBIG));
    }
    lt_census_free(&c);
}
END_TEST

static Suite *
census_suite(void)
{
    Suite *s = suite_create("type_census");
    TCase *tc = lt_test_tcase(s, "census");
    tcase_add_test(tc, test_add_counts_by_pointer);
    tcase_add_test(tc, test_rank_history_of_an_empty_census);
    tcase_add_test(tc, test_growth_past_1024);
    tcase_add_test(tc, test_growth_out_of_memory);
    tcase_add_test(tc, test_merge_by_name);
    tcase_add_test(tc, test_merge_many_same_name);
    tcase_add_test(tc, test_merge_out_of_memory);
    tc = lt_test_tcase(s, "rank");
    tcase_add_test(tc, test_rank_history_growth);
    tcase_add_test(tc, test_rank_history_few_rows);
    tcase_add_test(tc, test_rank_history_out_of_memory);
    return s;
}

int
main(void)
{
    return lt_test_run(census_suite());
}
