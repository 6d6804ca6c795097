/* agent/trace_table.c: interned raw tracebacks, their bounds, and eviction. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/trace_table.h"
#include "harness.h"
#include "leaktop/mem.h"

static int codes_pool[64]; /* fake code objects: their addresses */

/* Stack number k: depth 1 + k % 8, frames from the pool, offsets from k. */
static lt_raw_stack
stack_of(uint32_t k, const void **codes, int32_t *addrs)
{
    uint32_t n = 1 + k % 8;
    for (uint32_t i = 0; i < n; i++) {
        codes[i] = &codes_pool[(k + i) % 64];
        addrs[i] = (int32_t)(k * 2 + i);
    }
    lt_raw_stack s = {codes, addrs, n, 0};
    return s;
}

START_TEST(test_intern)
{
    uint64_t base = lt_mem_in_use();
    lt_trace_table t;
    ck_assert_int_eq(lt_trace_table_init(&t, 1000, 1 << 20), 0);
    ck_assert_uint_eq(t.count, 1); /* the overflow entry */
    const void *codes[8];
    int32_t addrs[8];
    uint32_t idx[500];
    for (uint32_t k = 0; k < 500; k++) {
        lt_raw_stack s = stack_of(k, codes, addrs);
        int added = 0;
        idx[k] = lt_trace_table_intern(&t, &s, 3, &added);
        ck_assert_int_eq(added, 1);
        ck_assert_uint_ne(idx[k], LT_RAW_OVERFLOW);
        ck_assert_uint_eq(t.e[idx[k]].nframes, s.n);
        ck_assert_uint_eq(t.e[idx[k]].last_tick, 3);
        /* The frames are copied: changing the caller's buffer changes nothing. */
        ck_assert_ptr_eq(lt_raw_codes(&t.e[idx[k]])[0], codes[0]);
        ck_assert_int_eq(lt_raw_addrs(&t.e[idx[k]])[s.n - 1], addrs[s.n - 1]);
    }
    ck_assert_uint_eq(t.count, 501);
    /* Again: the same entries, nothing added, last_tick refreshed. */
    for (uint32_t k = 0; k < 500; k++) {
        lt_raw_stack s = stack_of(k, codes, addrs);
        int added = 1;
        ck_assert_uint_eq(lt_trace_table_intern(&t, &s, 4, &added), idx[k]);
        ck_assert_int_eq(added, 0);
        ck_assert_uint_eq(t.e[idx[k]].last_tick, 4);
    }
    /* One offset, the truncated flag, or the depth makes another traceback. */
    lt_raw_stack s = stack_of(9, codes, addrs);
    int added;
    addrs[1]++;
    uint32_t other = lt_trace_table_intern(&t, &s, 4, &added);
    ck_assert_int_eq(added, 1);
    ck_assert_uint_ne(other, idx[9]);
    addrs[1]--;
    s.truncated = 1;
    ck_assert_uint_ne(lt_trace_table_intern(&t, &s, 4, &added), idx[9]);
    ck_assert_int_eq(added, 1);
    s.truncated = 0;
    s.n--;
    ck_assert_uint_ne(lt_trace_table_intern(&t, &s, 4, &added), idx[9]);
    /* The empty traceback (no Python frame) is a traceback like any other. */
    lt_raw_stack empty = {codes, addrs, 0, 0};
    uint32_t e1 = lt_trace_table_intern(&t, &empty, 4, &added);
    ck_assert_int_eq(added, 1);
    ck_assert_uint_ne(e1, LT_RAW_OVERFLOW);
    ck_assert_uint_eq(lt_trace_table_intern(&t, &empty, 4, &added), e1);
    ck_assert_int_eq(added, 0);
    lt_trace_table_free(&t);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_bounds)
{
    lt_trace_table t;
    const void *codes[8];
    int32_t addrs[8];
    int added;
    /* By count: 10 entries, the overflow one included, all with live samples. */
    ck_assert_int_eq(lt_trace_table_init(&t, 10, 1 << 20), 0);
    uint32_t idx[9];
    for (uint32_t k = 0; k < 9; k++) {
        lt_raw_stack s = stack_of(k, codes, addrs);
        idx[k] = lt_trace_table_intern(&t, &s, 1, &added);
        ck_assert_uint_ne(idx[k], LT_RAW_OVERFLOW);
        t.e[idx[k]].refs = 1;
    }
    lt_raw_stack s = stack_of(100, codes, addrs);
    ck_assert_uint_eq(lt_trace_table_intern(&t, &s, 1, &added), LT_RAW_OVERFLOW);
    ck_assert_int_eq(added, 0);
    ck_assert_uint_eq(t.overflowed, 1);
    /* Known ones are still found when full. */
    s = stack_of(3, codes, addrs);
    ck_assert_uint_eq(lt_trace_table_intern(&t, &s, 1, &added), idx[3]);
    /* Entries whose samples are all gone make room on the spot: they wait in the graveyard
     * (still holding what their codes hold) until the owner takes it. */
    t.e[idx[2]].refs = 0;
    t.e[idx[5]].refs = 0;
    t.e[idx[5]].site = 55;
    s = stack_of(100, codes, addrs);
    uint32_t fresh = lt_trace_table_intern(&t, &s, 2, &added);
    ck_assert_uint_ne(fresh, LT_RAW_OVERFLOW);
    ck_assert_int_eq(added, 1);
    ck_assert_uint_eq(t.evicted, 1); /* a batch is an eighth of the table: one here */
    ck_assert_uint_gt(t.grave_bytes, 0);
    uint32_t ng = 0;
    lt_raw_grave *g = lt_trace_table_take_graves(&t, &ng);
    ck_assert_uint_eq(ng, 1);
    ck_assert(g[0].site == 55 || g[0].site == 0);
    ck_assert_uint_eq(t.grave_bytes, 0);
    ck_assert_uint_eq(t.ngraves, 0);
    lt_free(g[0].frames);
    lt_free(g);
    /* Nothing left to evict: overflow again. */
    t.e[fresh].refs = 1;
    for (uint32_t k = 0; k < 9; k++)
        if (t.e[idx[k]].used)
            t.e[idx[k]].refs = 1;
    s = stack_of(200, codes, addrs);
    ck_assert_uint_eq(lt_trace_table_intern(&t, &s, 2, &added), LT_RAW_OVERFLOW);
    lt_trace_table_free(&t); /* frees the graveyard too */

    /* By frame bytes: 12 bytes a frame. */
    ck_assert_int_eq(lt_trace_table_init(&t, 1000, 12 * 20), 0);
    uint32_t frames = 0, k = 0;
    for (;; k++) {
        s = stack_of(k, codes, addrs);
        uint32_t i = lt_trace_table_intern(&t, &s, 1, &added);
        if (i == LT_RAW_OVERFLOW)
            break;
        t.e[i].refs = 1;
        frames += s.n;
    }
    ck_assert_uint_le(frames, 20);
    ck_assert_uint_eq(t.frame_bytes, 12u * frames);
    ck_assert_uint_eq(t.overflowed, 1);
    lt_trace_table_free(&t);
}
END_TEST

START_TEST(test_evict)
{
    uint64_t base = lt_mem_in_use();
    lt_trace_table t;
    ck_assert_int_eq(lt_trace_table_init(&t, 1000, 1 << 20), 0);
    const void *codes[8];
    int32_t addrs[8];
    int added;
    uint32_t idx[100];
    /* Entry k last sampled at tick k; the even ones still have live samples. */
    for (uint32_t k = 0; k < 100; k++) {
        lt_raw_stack s = stack_of(k, codes, addrs);
        idx[k] = lt_trace_table_intern(&t, &s, k, &added);
        t.e[idx[k]].refs = k % 2 == 0;
        t.e[idx[k]].site = 1000 + k;
    }
    lt_raw_grave graves[100];
    uint32_t *scratch = lt_malloc(sizeof *scratch * t.cap);
    /* Idle for more than 60 ticks at tick 100: odd k < 40 go; nothing else is over a bound. */
    uint32_t n = lt_trace_table_evict(&t, 100, 60, 1000, 1 << 20, graves, 100, scratch);
    ck_assert_uint_eq(n, 20);
    for (uint32_t g = 0; g < n; g++) {
        ck_assert_uint_eq((graves[g].site - 1000) % 2, 1);
        ck_assert_uint_lt(graves[g].site - 1000, 40);
        lt_free(graves[g].frames);
    }
    ck_assert_uint_eq(t.count, 81);
    ck_assert_uint_eq(t.evicted, 20);
    /* Over a count bound: the least recently sampled unreferenced ones go first. */
    n = lt_trace_table_evict(&t, 100, 60, 71, 1 << 20, graves, 100, scratch);
    ck_assert_uint_eq(n, 10);
    for (uint32_t g = 0; g < n; g++) {
        uint32_t k = graves[g].site - 1000;
        ck_assert_uint_eq(k % 2, 1);
        ck_assert_uint_lt(k, 60); /* 41, 43, ... 59 */
        ck_assert_uint_ge(k, 41);
        lt_free(graves[g].frames);
    }
    /* Referenced entries never go, however tight the bound; nor entries sampled this tick. */
    n = lt_trace_table_evict(&t, 99, 60, 0, 0, graves, 100, scratch);
    for (uint32_t g = 0; g < n; g++) {
        ck_assert_uint_eq((graves[g].site - 1000) % 2, 1);
        ck_assert_uint_ne(graves[g].site - 1000, 99);
        lt_free(graves[g].frames);
    }
    ck_assert_uint_eq(t.count, 1 + 50 + 1); /* overflow, the referenced, tick 99's */
    /* Survivors are still found under their old index after the index rebuild. */
    for (uint32_t k = 0; k < 100; k += 2) {
        lt_raw_stack s = stack_of(k, codes, addrs);
        ck_assert_uint_eq(lt_trace_table_intern(&t, &s, 100, &added), idx[k]);
        ck_assert_int_eq(added, 0);
    }
    /* Freed slots are reused. */
    lt_raw_stack s = stack_of(5000, codes, addrs);
    uint32_t again = lt_trace_table_intern(&t, &s, 100, &added);
    ck_assert_int_eq(added, 1);
    ck_assert_uint_lt(again, 128);
    lt_free(scratch);
    lt_trace_table_free(&t);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_out_of_memory)
{
    uint64_t base = lt_mem_in_use();
    const void *codes[8];
    int32_t addrs[8];
    for (long k = 1; k <= 3; k++) {
        lt_trace_table t;
        lt_mem_fail_after(k);
        int rc = lt_trace_table_init(&t, 100, 1 << 20);
        lt_mem_fail_after(0);
        int added;
        lt_raw_stack s = stack_of(1, codes, addrs);
        if (rc < 0)
            ck_assert_uint_eq(lt_trace_table_intern(&t, &s, 1, &added), LT_RAW_OVERFLOW);
        lt_trace_table_free(&t);
        ck_assert_uint_eq(lt_mem_in_use(), base);
    }
    /* A frames copy that cannot be made: the overflow entry, counted. */
    lt_trace_table t;
    ck_assert_int_eq(lt_trace_table_init(&t, 100, 1 << 20), 0);
    lt_raw_stack s = stack_of(3, codes, addrs);
    int added;
    lt_mem_fail_after(1);
    ck_assert_uint_eq(lt_trace_table_intern(&t, &s, 1, &added), LT_RAW_OVERFLOW);
    lt_mem_fail_after(0);
    ck_assert_uint_eq(t.overflowed, 1);
    ck_assert_uint_ne(lt_trace_table_intern(&t, &s, 1, &added), LT_RAW_OVERFLOW);
    lt_trace_table_free(&t);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

static Suite *
trace_table_suite(void)
{
    Suite *s = suite_create("trace_table");
    TCase *tc = lt_test_tcase(s, "trace_table");
    tcase_add_test(tc, test_intern);
    tcase_add_test(tc, test_bounds);
    tcase_add_test(tc, test_evict);
    tcase_add_test(tc, test_out_of_memory);
    return s;
}

int
main(void)
{
    return lt_test_run(trace_table_suite());
}
