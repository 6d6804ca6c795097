/* agent/site_table.c: resolved tracebacks with wire ids, ranking by traceback and by top frame,
 * announcement bookkeeping, and eviction that never reuses an id. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/site_table.h"
#include "harness.h"
#include "leaktop/mem.h"

/* Traceback k: top frame (file 1, func 2, line 10 + k % 5), then k-specific callers. */
static uint32_t
frames_of(uint32_t k, lt_trace_frame *f)
{
    uint32_t n = 2 + k % 3;
    f[0] = (lt_trace_frame){1, 2, 10 + k % 5};
    for (uint32_t i = 1; i < n; i++)
        f[i] = (lt_trace_frame){3, 4 + i, 100 * i + k};
    return n;
}

static uint32_t
intern_k(lt_site_table *t, uint32_t k, int *added)
{
    lt_trace_frame f[8];
    uint32_t n = frames_of(k, f);
    return lt_site_table_intern(t, f, n, 0, added);
}

START_TEST(test_intern_and_ids)
{
    uint64_t base = lt_mem_in_use();
    lt_site_table t;
    ck_assert_int_eq(lt_site_table_init(&t, 1000, 1 << 20, 10), 0);
    int added;
    uint32_t h[50], ids[50];
    for (uint32_t k = 0; k < 50; k++) {
        h[k] = intern_k(&t, k, &added);
        ck_assert_int_eq(added, 1);
        ck_assert_uint_ne(h[k], 0);
        lt_trace tr;
        ck_assert_int_eq(lt_site_table_trace(&t, h[k], &tr), 0);
        ids[k] = tr.id;
        ck_assert_uint_eq(tr.id, k + 1); /* ids start at 1 and grow */
        lt_trace_frame f[8];
        ck_assert_uint_eq(tr.nframes, frames_of(k, f));
        ck_assert_int_eq(memcmp(tr.frames, f, sizeof *f * tr.nframes), 0);
        ck_assert_uint_eq(lt_site_table_find_id(&t, tr.id), h[k]);
    }
    /* The same frames: the same handle, one more holder. */
    ck_assert_uint_eq(intern_k(&t, 7, &added), h[7]);
    ck_assert_int_eq(added, 0);
    ck_assert_uint_eq(t.e[h[7] - 1].holders, 2);
    /* truncated makes another traceback. */
    lt_trace_frame f[8];
    uint32_t n = frames_of(7, f);
    uint32_t ht = lt_site_table_intern(&t, f, n, 1, &added);
    ck_assert_int_eq(added, 1);
    ck_assert_uint_ne(ht, h[7]);
    ck_assert_uint_eq(lt_site_table_find_id(&t, 9999), 0);
    ck_assert_int_eq(lt_site_table_trace(&t, 0, &(lt_trace){0}), -1);
    (void)ids;
    lt_site_table_free(&t);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_ranking)
{
    lt_site_table t;
    ck_assert_int_eq(lt_site_table_init(&t, 1000, 1 << 20, 3), 0);
    int added;
    uint32_t h[10];
    for (uint32_t k = 0; k < 10; k++)
        h[k] = intern_k(&t, k, &added);
    lt_site_table_begin(&t);
    /* Site k holds 100 * (k + 1) bytes in k + 1 blocks, except site 4, which has none. */
    for (uint32_t k = 0; k < 10; k++)
        if (k != 4)
            lt_site_table_add(&t, h[k], 50.0 * (k + 1), (double)(k + 1) / 2);
    for (uint32_t k = 0; k < 10; k++)
        if (k != 4)
            lt_site_table_add(&t, h[k], 50.0 * (k + 1), (double)(k + 1) / 2);
    lt_sites out;
    memset(&out, 0, sizeof out);
    lt_site_table_finish(&t, &out);
    ck_assert_uint_eq(out.traces_total, 9);
    ck_assert_uint_eq(out.nsites, 3); /* top 3 */
    lt_trace tr;
    lt_site_table_trace(&t, h[9], &tr);
    ck_assert_uint_eq(out.sites[0].trace_id, tr.id);
    ck_assert_uint_eq(out.sites[0].live_bytes, 1000);
    ck_assert_uint_eq(out.sites[0].live_count, 10);
    ck_assert_uint_eq(out.sites[1].live_bytes, 900);
    ck_assert_uint_eq(out.sites[2].live_bytes, 800);
    /* Lines: top frame line 10 + k % 5. Line 14 gets k=9 only (k=4 has nothing): 1000;
     * line 13: k=3,8 = 400+900; line 12: 300+800; line 11: 200+700; line 10: 100+600. */
    ck_assert_uint_eq(out.nlines, 3);
    ck_assert_uint_eq(out.lines[0].line, 13);
    ck_assert_uint_eq(out.lines[0].live_bytes, 1300);
    ck_assert_uint_eq(out.lines[0].live_count, 13);
    ck_assert_uint_eq(out.lines[0].file_id, 1);
    ck_assert_uint_eq(out.lines[0].func_id, 2);
    lt_site_table_trace(&t, h[8], &tr);
    ck_assert_uint_eq(out.lines[0].trace_id, tr.id); /* the traceback with most bytes there */
    ck_assert_uint_eq(out.lines[1].line, 12);
    ck_assert_uint_eq(out.lines[1].live_bytes, 1100);
    ck_assert_uint_eq(out.lines[2].line, 14);
    ck_assert_uint_eq(out.lines[2].live_bytes, 1000);
    /* A new census starts from zero. */
    lt_site_table_begin(&t);
    lt_site_table_finish(&t, &out);
    ck_assert_uint_eq(out.nsites, 0);
    ck_assert_uint_eq(out.nlines, 0);
    ck_assert_uint_eq(out.traces_total, 0);
    lt_site_table_free(&t);
}
END_TEST

START_TEST(test_announce)
{
    lt_site_table t;
    ck_assert_int_eq(lt_site_table_init(&t, 1000, 1 << 20, 10), 0);
    int added;
    for (uint32_t k = 0; k < 5; k++)
        intern_k(&t, k, &added);
    ck_assert_uint_eq(t.unannounced, 5);
    lt_buf b;
    lt_buf_init(&b);
    ck_assert_int_eq(lt_site_table_encode_new(&t, &b), 0);
    /* Five TRACE frames that decode back to the tracebacks. */
    lt_framer fr;
    lt_framer_init(&fr);
    lt_framer_feed(&fr, b.data, b.len);
    uint16_t type, flags;
    const uint8_t *p;
    uint32_t len;
    int frames = 0;
    while (lt_framer_next(&fr, &type, &flags, &p, &len) == 1) {
        lt_msg m;
        memset(&m, 0, sizeof m);
        ck_assert_int_eq(lt_decode(&m, type, flags, p, len), 0);
        ck_assert_uint_eq(type, LT_FRAME_TRACE);
        ck_assert_uint_eq(m.u.trace.id, (uint32_t)frames + 1);
        lt_msg_clear(&m);
        frames++;
    }
    ck_assert_int_eq(frames, 5);
    lt_framer_free(&fr);
    lt_site_table_mark_announced(&t);
    ck_assert_uint_eq(t.unannounced, 0);
    /* Announced ones go to new viewers; new ones wait for the next announcement. */
    intern_k(&t, 99, &added);
    ck_assert_uint_eq(t.unannounced, 1);
    size_t before = b.len;
    b.len = 0;
    ck_assert_int_eq(lt_site_table_encode_announced(&t, &b), 0);
    ck_assert_uint_eq(b.len, before);
    b.len = 0;
    ck_assert_int_eq(lt_site_table_encode_new(&t, &b), 0);
    ck_assert_uint_gt(b.len, 0);
    ck_assert_uint_lt(b.len, before);
    lt_buf_free(&b);
    lt_site_table_free(&t);
}
END_TEST

START_TEST(test_eviction_never_reuses_ids)
{
    uint64_t base = lt_mem_in_use();
    lt_site_table t;
    ck_assert_int_eq(lt_site_table_init(&t, 16, 1 << 20, 10), 0);
    int added;
    uint32_t h[16];
    for (uint32_t k = 0; k < 16; k++)
        h[k] = intern_k(&t, k, &added);
    ck_assert_uint_eq(t.count, 16);
    /* Full of held sites: nothing can go. */
    ck_assert_uint_eq(intern_k(&t, 100, &added), 0);
    ck_assert_uint_eq(lt_site_table_evict(&t, 0, 0), 0);
    /* Release half; they go, least recently live first, when room is needed. */
    lt_site_table_begin(&t);
    for (uint32_t k = 0; k < 16; k++)
        lt_site_table_add(&t, h[k], 10, 1);
    lt_sites out;
    lt_site_table_finish(&t, &out); /* every site live at tick 1 */
    lt_site_table_begin(&t);
    for (uint32_t k = 8; k < 16; k++)
        lt_site_table_add(&t, h[k], 10, 1);
    lt_site_table_finish(&t, &out); /* 8..15 live at tick 2 */
    for (uint32_t k = 0; k < 16; k += 2)
        lt_site_table_unhold(&t, h[k]);
    lt_site_table_begin(&t);
    uint32_t hn = intern_k(&t, 100, &added);
    ck_assert_uint_ne(hn, 0);
    ck_assert_int_eq(added, 1);
    lt_trace tr;
    lt_site_table_trace(&t, hn, &tr);
    ck_assert_uint_eq(tr.id, 17);
    ck_assert_uint_ge(t.evicted, 1);
    /* The oldest unheld ones went (0, 2, ... first); held ones are all there. */
    for (uint32_t k = 1; k < 16; k += 2)
        ck_assert_int_eq(lt_site_table_trace(&t, h[k], &tr), 0);
    /* An evicted traceback that comes back gets a new id. */
    uint32_t h0 = intern_k(&t, 0, &added);
    ck_assert_int_eq(added, 1);
    lt_site_table_trace(&t, h0, &tr);
    ck_assert_uint_gt(tr.id, 17);
    ck_assert_uint_eq(lt_site_table_find_id(&t, 1), 0);
    /* evict() trims to a bound, sparing held sites. */
    uint64_t ev = t.evicted;
    lt_site_table_evict(&t, 0, 0);
    ck_assert_uint_ge(t.count, 9); /* 8 odd + 100 + 0, all held */
    ck_assert_uint_ge(t.evicted, ev);
    lt_site_table_free(&t);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_frame_bytes_bound)
{
    lt_site_table t;
    ck_assert_int_eq(lt_site_table_init(&t, 1000, 12 * 30, 10), 0);
    int added;
    uint32_t n = 0;
    while (intern_k(&t, n, &added) != 0)
        n++;
    ck_assert_uint_le(t.frame_bytes, 12 * 30);
    ck_assert_uint_gt(n, 5);
    lt_site_table_free(&t);
}
END_TEST

static Suite *
site_table_suite(void)
{
    Suite *s = suite_create("site_table");
    TCase *tc = lt_test_tcase(s, "site_table");
    tcase_add_test(tc, test_intern_and_ids);
    tcase_add_test(tc, test_ranking);
    tcase_add_test(tc, test_announce);
    tcase_add_test(tc, test_eviction_never_reuses_ids);
    tcase_add_test(tc, test_frame_bytes_bound);
    return s;
}

int
main(void)
{
    return lt_test_run(site_table_suite());
}
