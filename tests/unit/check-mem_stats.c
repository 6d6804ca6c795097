/* agent/mem_stats.c: pymalloc's report parsed as 3.8 and 3.13 print it, the C heap from
 * mallinfo2, the kernel's figures from a status file. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/mem_stats.h"
#include "harness.h"

/* CPython 3.8's report (256 KiB arenas, 4 KiB pools), the class table shortened. */
static const char report_38[] =
    "Small block threshold = 512, in 32 size classes.\n"
    "\n"
    "class   size   num pools   blocks in use  avail blocks\n"
    "-----   ----   ---------   -------------  ------------\n"
    "    0     16           1             104           149\n"
    "    1     32          11            1297            68\n"
    "\n"
    "# arenas allocated total           =                   22\n"
    "# arenas reclaimed                 =                   10\n"
    "# arenas highwater mark            =                   12\n"
    "# arenas allocated current         =                   12\n"
    "12 arenas * 262144 bytes/arena     =            3,145,728\n"
    "\n"
    "# bytes in allocated blocks        =            2,908,640\n"
    "# bytes in available blocks        =               62,480\n"
    "30 unused pools * 4096 bytes       =              122,880\n"
    "# bytes lost to pool headers       =               35,424\n"
    "# bytes lost to quantization       =               16,304\n"
    "# bytes lost to arena alignment    =                    0\n"
    "Total                              =            3,145,728\n";

/* CPython 3.13's (1 MiB arenas, 16 KiB pools) with the arena map after the first Total. */
static const char report_313[] =
    "Small block threshold = 512, in 32 size classes.\n"
    "\n"
    "class   size   num pools   blocks in use  avail blocks\n"
    "-----   ----   ---------   -------------  ------------\n"
    "    0     16           1             412           608\n"
    "\n"
    "# arenas allocated total           =                    4\n"
    "# arenas reclaimed                 =                    0\n"
    "# arenas highwater mark            =                    4\n"
    "# arenas allocated current         =                    4\n"
    "4 arenas * 1048576 bytes/arena     =            4,194,304\n"
    "\n"
    "# bytes in allocated blocks        =            2,974,032\n"
    "# bytes in available blocks        =              269,328\n"
    "53 unused pools * 16384 bytes      =              868,352\n"
    "# bytes lost to pool headers       =                9,552\n"
    "# bytes lost to quantization       =                7,504\n"
    "# bytes lost to arena alignment    =               65,536\n"
    "Total                              =            4,194,304\n"
    "\n"
    "arena map counts\n"
    "# arena map mid nodes              =                    1\n"
    "# arena map bot nodes              =                    1\n"
    "\n"
    "# bytes lost to arena map root     =              262,144\n"
    "# bytes lost to arena map mid      =              262,144\n"
    "# bytes lost to arena map bot      =              131,072\n"
    "Total                              =              655,360\n";

START_TEST(test_parse_38)
{
    lt_memory m;
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(lt_mem_stats_parse_pymalloc(report_38, strlen(report_38), &m), 0);
    ck_assert_uint_eq(m.py_arenas, 12);
    ck_assert_uint_eq(m.py_arena_bytes, 3145728);
    ck_assert_uint_eq(m.py_used_bytes, 2908640);
    ck_assert_uint_eq(m.py_free_block_bytes, 62480);
    ck_assert_uint_eq(m.py_free_pool_bytes, 122880);
    ck_assert_uint_eq(m.py_overhead_bytes, 35424 + 16304);
    ck_assert_uint_eq(m.have, 0); /* the caller says what it read */
}
END_TEST

START_TEST(test_parse_313_ignores_arena_map)
{
    lt_memory m;
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(lt_mem_stats_parse_pymalloc(report_313, strlen(report_313), &m), 0);
    ck_assert_uint_eq(m.py_arenas, 4);
    ck_assert_uint_eq(m.py_arena_bytes, 4194304);
    ck_assert_uint_eq(m.py_used_bytes, 2974032);
    ck_assert_uint_eq(m.py_free_block_bytes, 269328);
    ck_assert_uint_eq(m.py_free_pool_bytes, 868352);
    ck_assert_uint_eq(m.py_overhead_bytes, 9552 + 7504 + 65536);
}
END_TEST

/* A report cut anywhere before its Total, or whose parts do not add up, is refused whole. */
START_TEST(test_parse_refuses)
{
    lt_memory m, zero;
    memset(&zero, 0, sizeof zero);
    size_t total = (size_t)(strstr(report_38, "Total") - report_38);
    for (size_t cut = 0; cut < total + 5; cut += 7) {
        memset(&m, 0, sizeof m);
        ck_assert_int_eq(lt_mem_stats_parse_pymalloc(report_38, cut, &m), -1);
        ck_assert_mem_eq(&m, &zero, sizeof m);
    }
    char bad[sizeof report_38];
    memcpy(bad, report_38, sizeof bad);
    char *p = strstr(bad, "2,908,640");
    p[0] = '3'; /* a part off by a million */
    ck_assert_int_eq(lt_mem_stats_parse_pymalloc(bad, strlen(bad), &m), -1);
    ck_assert_int_eq(lt_mem_stats_parse_pymalloc("", 0, &m), -1);
    static const char junk[] = "Total = lots\n# bytes in allocated blocks = x\n";
    ck_assert_int_eq(lt_mem_stats_parse_pymalloc(junk, strlen(junk), &m), -1);
}
END_TEST

/* Where the blocks below are published, so that the compiler cannot prove them unobserved: gcc 16
 * removes a malloc whose block is only written and freed (memset included), and mallinfo2 then
 * has nothing to see. */
static char *volatile published_big;
static char **volatile published_small;

/* mallinfo2 sees a block this test allocates, written so it is resident. */
START_TEST(test_malloc_sees_allocations)
{
    lt_memory before, after;
    memset(&before, 0, sizeof before);
    memset(&after, 0, sizeof after);
    if (lt_mem_stats_malloc(&before) < 0) {
        /* A sanitizer's malloc: glibc's holds nothing, and nothing is made up. */
        ck_assert_uint_eq(before.have, 0);
        ck_assert_uint_eq(before.heap_used_bytes, 0);
        return;
    }
    ck_assert_uint_eq(before.have, LT_MEM_HAVE_MALLOC);
    size_t big = 64u << 20, small = 1000, nsmall = 10000;
    char *b = malloc(big);
    char **s = malloc(nsmall * sizeof *s);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_nonnull(s);
    memset(b, 1, big);
    for (size_t i = 0; i < nsmall; i++) {
        s[i] = malloc(small);
        ck_assert_ptr_nonnull(s[i]);
    }
    published_big = b;
    published_small = s;
    ck_assert_int_eq(lt_mem_stats_malloc(&after), 0);
    /* The large block is mmap'd on its own, the small ones sit in the arena. */
    ck_assert_uint_ge(after.heap_mmap_bytes - before.heap_mmap_bytes, big);
    ck_assert_uint_le(after.heap_mmap_bytes - before.heap_mmap_bytes, big + 4096);
    ck_assert_uint_ge(after.heap_used_bytes - before.heap_used_bytes, nsmall * small);
    ck_assert_uint_le(after.heap_used_bytes - before.heap_used_bytes,
                      nsmall * (small + 32) + nsmall * sizeof *s + 4096);
    ck_assert_uint_eq(after.heap_arena_bytes, after.heap_used_bytes + after.heap_free_bytes);
    for (size_t i = 0; i < nsmall; i++)
        free(s[i]);
    free(s);
    free(b);
}
END_TEST

START_TEST(test_status)
{
    char dir[64], path[128];
    lt_test_mkdtemp(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/status", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("Name:\tpython3\nVmPeak:\t  900 kB\nVmSize:\t  800 kB\nVmRSS:\t 300 kB\n"
          "RssAnon:\t 200 kB\nRssFile:\t 90 kB\nRssShmem:\t 10 kB\nVmData:\t 500 kB\n"
          "VmSwap:\t 7 kB\n", f);
    fclose(f);
    lt_memory m;
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(lt_mem_stats_status(&m, path), 0);
    ck_assert_uint_eq(m.have, LT_MEM_HAVE_STATUS);
    ck_assert_uint_eq(m.vm_size, 800 * 1024);
    ck_assert_uint_eq(m.vm_data, 500 * 1024);
    ck_assert_uint_eq(m.rss_anon, 200 * 1024);
    ck_assert_uint_eq(m.rss_file, 90 * 1024);
    ck_assert_uint_eq(m.rss_shmem, 10 * 1024);
    ck_assert_uint_eq(m.vm_swap, 7 * 1024);
    memset(&m, 0, sizeof m);
    snprintf(path, sizeof path, "%s/missing", dir);
    ck_assert_int_eq(lt_mem_stats_status(&m, path), -1);
    ck_assert_uint_eq(m.have, 0);
    lt_test_rmtree(dir);
    /* Our own: the parts add up to what the kernel calls RSS. */
    ck_assert_int_eq(lt_mem_stats_status(&m, "/proc/self/status"), 0);
    ck_assert_uint_gt(m.rss_anon, 0);
    ck_assert_uint_gt(m.vm_size, m.rss_anon + m.rss_file);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("mem_stats");
    TCase *tc = lt_test_tcase(s, "pymalloc");
    tcase_add_test(tc, test_parse_38);
    tcase_add_test(tc, test_parse_313_ignores_arena_map);
    tcase_add_test(tc, test_parse_refuses);
    tc = lt_test_tcase(s, "process");
    tcase_add_test(tc, test_malloc_sees_allocations);
    tcase_add_test(tc, test_status);
    return lt_test_run(s);
}
