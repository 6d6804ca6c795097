/* agent/history.c: the bounded ring of encoded frames kept for late joiners. */
#define _GNU_SOURCE
#include <string.h>

#include "agent/history.h"
#include "harness.h"
#include "leaktop/mem.h"

/* A frame of len bytes whose every byte is tag. */
static void
push_tagged(lt_history *h, uint8_t tag, uint32_t len)
{
    uint8_t buf[256];
    ck_assert_uint_le(len, sizeof buf);
    memset(buf, tag, len);
    lt_history_push(h, buf, len);
}

static void
check_entry(const lt_history *h, uint32_t i, uint8_t tag, uint32_t len)
{
    const lt_history_entry *e = lt_history_at(h, i);
    ck_assert_uint_eq(e->len, len);
    for (uint32_t k = 0; k < len; k++)
        ck_assert_uint_eq(e->frame[k], tag);
}

START_TEST(test_ring_drops_oldest)
{
    uint64_t base = lt_mem_in_use();
    lt_history h;
    ck_assert_int_eq(lt_history_init(&h, 3, 1 << 20), 0);
    push_tagged(&h, 'a', 10);
    push_tagged(&h, 'b', 20);
    ck_assert_uint_eq(h.n, 2);
    check_entry(&h, 0, 'a', 10);
    check_entry(&h, 1, 'b', 20);
    push_tagged(&h, 'c', 30);
    push_tagged(&h, 'd', 40); /* full: 'a' goes */
    ck_assert_uint_eq(h.n, 3);
    check_entry(&h, 0, 'b', 20);
    check_entry(&h, 1, 'c', 30);
    check_entry(&h, 2, 'd', 40);
    ck_assert_uint_eq(h.bytes, 90);
    ck_assert_uint_eq(h.evicted, 0); /* the count bound is not an eviction */
    /* Round and round: always the last three, oldest first. */
    for (uint8_t t = 'e'; t <= 'z'; t++)
        push_tagged(&h, t, t);
    ck_assert_uint_eq(h.n, 3);
    check_entry(&h, 0, 'x', 'x');
    check_entry(&h, 1, 'y', 'y');
    check_entry(&h, 2, 'z', 'z');
    ck_assert_uint_eq(h.bytes, (size_t)'x' + 'y' + 'z');
    ck_assert_uint_eq(h.evicted, 0);
    lt_history_free(&h);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_byte_bound_evicts)
{
    uint64_t base = lt_mem_in_use();
    lt_history h;
    ck_assert_int_eq(lt_history_init(&h, 100, 100), 0);
    for (uint8_t t = 0; t < 4; t++)
        push_tagged(&h, t, 25); /* exactly 100 bytes: all fit */
    ck_assert_uint_eq(h.n, 4);
    ck_assert_uint_eq(h.bytes, 100);
    ck_assert_uint_eq(h.evicted, 0);

    push_tagged(&h, 9, 30); /* needs 30: the two oldest go */
    ck_assert_uint_eq(h.evicted, 2);
    ck_assert_uint_eq(h.n, 3);
    ck_assert_uint_eq(h.bytes, 80);
    check_entry(&h, 0, 2, 25);
    check_entry(&h, 2, 9, 30);

    push_tagged(&h, 10, 100); /* everything else goes */
    ck_assert_uint_eq(h.evicted, 5);
    ck_assert_uint_eq(h.n, 1);
    ck_assert_uint_eq(h.bytes, 100);
    check_entry(&h, 0, 10, 100);

    /* A frame larger than the whole bound is not kept, and evicts nothing. */
    push_tagged(&h, 11, 101);
    ck_assert_uint_eq(h.n, 1);
    ck_assert_uint_eq(h.evicted, 5);
    check_entry(&h, 0, 10, 100);
    ck_assert_uint_le(h.bytes, h.max_bytes);
    lt_history_free(&h);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_out_of_memory)
{
    uint64_t base = lt_mem_in_use();
    lt_history h;
    lt_mem_fail_after(1);
    ck_assert_int_eq(lt_history_init(&h, 4, 1000), -1);
    lt_mem_fail_after(0);
    push_tagged(&h, 1, 10); /* a history whose init failed ignores pushes */
    ck_assert_uint_eq(h.n, 0);
    lt_history_free(&h);
    ck_assert_uint_eq(lt_mem_in_use(), base);

    ck_assert_int_eq(lt_history_init(&h, 4, 1000), 0);
    push_tagged(&h, 1, 10);
    lt_mem_fail_after(1);
    push_tagged(&h, 2, 10); /* not kept: a gap */
    lt_mem_fail_after(0);
    ck_assert_uint_eq(h.n, 1);
    ck_assert_uint_eq(h.bytes, 10);
    push_tagged(&h, 3, 10);
    ck_assert_uint_eq(h.n, 2);
    check_entry(&h, 0, 1, 10);
    check_entry(&h, 1, 3, 10);
    lt_history_free(&h);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_capacity_zero_is_one)
{
    lt_history h;
    ck_assert_int_eq(lt_history_init(&h, 0, 1000), 0);
    ck_assert_uint_eq(h.cap, 1);
    push_tagged(&h, 1, 5);
    push_tagged(&h, 2, 6);
    ck_assert_uint_eq(h.n, 1);
    check_entry(&h, 0, 2, 6);
    lt_history_free(&h);
}
END_TEST

static Suite *
history_suite(void)
{
    Suite *s = suite_create("history");
    TCase *tc = lt_test_tcase(s, "history");
    tcase_add_test(tc, test_ring_drops_oldest);
    tcase_add_test(tc, test_byte_bound_evicts);
    tcase_add_test(tc, test_out_of_memory);
    tcase_add_test(tc, test_capacity_zero_is_one);
    return s;
}

int
main(void)
{
    return lt_test_run(history_suite());
}
