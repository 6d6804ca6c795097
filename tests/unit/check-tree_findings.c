/* tui/tree_findings.c: the suspects of several processes merged by what they name. */
#define _GNU_SOURCE
#include <string.h>

#include "harness.h"
#include "tui/tree_findings.h"

static lt_suspect
sus(lt_suspect_kind kind, const char *name, double score, double bytes)
{
    lt_suspect s;
    memset(&s, 0, sizeof s);
    s.kind = kind;
    snprintf(s.name, sizeof s.name, "%s", name);
    s.score = score;
    s.growth_bytes_per_s = bytes;
    return s;
}

/* A type that grows in every worker is one finding with their pids; one in a single worker
 * comes after it; a site and a type of the same name stay apart. */
START_TEST(test_merge_by_name)
{
    lt_suspect w1[] = {sus(LT_SUSPECT_TYPE, "app.Session", 0.9, 100),
                       sus(LT_SUSPECT_SITE, "app.py:5 in f", 0.95, 50)};
    lt_suspect w2[] = {sus(LT_SUSPECT_TYPE, "app.Session", 0.99, 200)};
    lt_suspect w3[] = {sus(LT_SUSPECT_TYPE, "app.Session", 0.7, 300),
                       sus(LT_SUSPECT_SITE, "app.Session", 0.6, 1),
                       sus(LT_SUSPECT_TYPE, "app.Session", 0.65, 1)}; /* listed twice: once */
    lt_proc_suspects procs[] = {{1000, NULL, 0}, {1003, w3, 3}, {1001, w1, 2}, {1002, w2, 1}};
    lt_finding f[8];
    int n = lt_findings_merge(procs, 4, f, 8);
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(f[0].best->name, "app.Session");
    ck_assert_int_eq(f[0].best->kind, LT_SUSPECT_TYPE);
    ck_assert_int_eq(f[0].nprocs, 3);
    ck_assert_int_eq(f[0].pids[0], 1001); /* ascending */
    ck_assert_int_eq(f[0].pids[1], 1002);
    ck_assert_int_eq(f[0].pids[2], 1003);
    ck_assert(f[0].best == &w2[0]);       /* the best score */
    ck_assert_int_eq(f[0].best_proc, 3);
    ck_assert(f[0].growth_bytes_per_s == 600.0);
    ck_assert_int_eq(f[1].nprocs, 1);     /* then the best score among the rest */
    ck_assert_str_eq(f[1].best->name, "app.py:5 in f");
    ck_assert_int_eq(f[2].best->kind, LT_SUSPECT_SITE);
    char where[64];
    lt_finding_where(&f[0], 1000, 3, 4, where, sizeof where);
    ck_assert_str_eq(where, "in 3 of 3 workers");
    lt_finding_where(&f[1], 1000, 3, 4, where, sizeof where);
    ck_assert_str_eq(where, "in 1 of 3 workers");
    /* max bounds the findings; nothing in, nothing out. */
    ck_assert_int_eq(lt_findings_merge(procs, 4, f, 1), 1);
    ck_assert_int_eq(lt_findings_merge(procs, 1, f, 8), 0);
}
END_TEST

START_TEST(test_where_with_the_root)
{
    lt_suspect r[] = {sus(LT_SUSPECT_NATIVE, "native memory", 0.8, 10)};
    lt_suspect w[] = {sus(LT_SUSPECT_NATIVE, "native memory", 0.8, 10)};
    lt_proc_suspects procs[] = {{50, r, 1}, {51, w, 1}};
    lt_finding f[4];
    char where[64];
    ck_assert_int_eq(lt_findings_merge(procs, 2, f, 4), 1);
    lt_finding_where(&f[0], 50, 1, 2, where, sizeof where);
    ck_assert_str_eq(where, "in 2 of 2 processes");
    ck_assert_int_eq(lt_findings_merge(procs, 1, f, 4), 1);
    lt_finding_where(&f[0], 50, 0, 1, where, sizeof where);
    ck_assert_str_eq(where, "in pid 50");
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("tree_findings");
    TCase *tc = lt_test_tcase(s, "tree_findings");
    tcase_add_test(tc, test_merge_by_name);
    tcase_add_test(tc, test_where_with_the_root);
    return lt_test_run(s);
}
