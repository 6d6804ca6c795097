/* tui/mem_limits.c: cgroup v1 and v2 limits, rlimits and MemAvailable, read from fixture trees
 * (tests/unit/fixtures/limits/<case>/{proc,sys}) as they look on real machines. */
#define _GNU_SOURCE
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "leaktop/mem.h"
#include "tui/mem_limits.h"

#define GiB (1ull << 30)
#define MiB (1ull << 20)

static lt_limits lim;

/* Read fixture case `name` for pid 4242; returns lt_limits_read's result. */
static int
read_case(const char *name)
{
    const char *base = getenv("LT_FIXTURES");
    char proc[4096], sys[4096];
    snprintf(proc, sizeof proc, "%s/limits/%s/proc", base ? base : "tests/unit/fixtures", name);
    snprintf(sys, sizeof sys, "%s/limits/%s/sys", base ? base : "tests/unit/fixtures", name);
    char *cause = NULL;
    memset(&lim, 0x5a, sizeof lim); /* every field must be written */
    int rc = lt_limits_read(proc, sys, 4242, &lim, &cause);
    if (rc < 0) {
        ck_assert_ptr_nonnull(cause);
        lt_free(cause);
    }
    return rc;
}

static const lt_limit *
find(const char *source)
{
    for (int i = 0; i < lim.nlimits; i++)
        if (strcmp(lim.limits[i].source, source) == 0)
            return &lim.limits[i];
    return NULL;
}

/* systemd slices: the smallest memory.max is two levels up, and usage is counted there. */
START_TEST(test_v2_limit_up_the_tree)
{
    ck_assert_int_eq(read_case("v2"), 0);
    ck_assert_int_eq(lim.cgroup_version, 2);
    ck_assert_str_eq(lim.cgroup, "/user.slice/user-1000.slice/app.scope");
    ck_assert_uint_eq(lim.cgroup_current, 700000000);
    ck_assert_uint_eq(lim.cgroup_max, 2 * GiB);
    ck_assert_uint_eq(lim.cgroup_high, 1 * GiB);
    ck_assert_uint_eq(lim.cgroup_oom_kills, 3);
    const lt_limit *max = find("cgroup v2 memory.max");
    ck_assert_ptr_nonnull(max);
    ck_assert_str_eq(max->where, "/user.slice");
    ck_assert_uint_eq(max->limit, 2 * GiB);
    ck_assert_uint_eq(max->usage, 3000000000u); /* over it: the slice is at its limit */
    ck_assert_int_eq(max->figure, LT_FIGURE_RSS);
    const lt_limit *high = find("cgroup v2 memory.high");
    ck_assert_ptr_nonnull(high);
    ck_assert_str_eq(high->where, "/user.slice/user-1000.slice/app.scope");
    ck_assert_uint_eq(high->usage, 700000000);
    /* The process and its rlimits. */
    ck_assert_uint_eq(lim.rss, 524288 * 1024ull);
    ck_assert_uint_eq(lim.vm_size, 1048576 * 1024ull);
    ck_assert_uint_eq(lim.vm_data, 600000 * 1024ull);
    ck_assert_uint_eq(lim.swap, 2048 * 1024ull);
    ck_assert_uint_eq(lim.rlimit_as, 8 * GiB);
    ck_assert_uint_eq(lim.rlimit_data, LT_NO_LIMIT);
    const lt_limit *as = find("RLIMIT_AS");
    ck_assert_ptr_nonnull(as);
    ck_assert_uint_eq(as->limit, 8 * GiB);
    ck_assert_uint_eq(as->usage, lim.vm_size);
    ck_assert_int_eq(as->figure, LT_FIGURE_VM_SIZE);
    ck_assert_ptr_null(find("RLIMIT_DATA"));
    const lt_limit *avail = find("MemAvailable");
    ck_assert_ptr_nonnull(avail);
    ck_assert_uint_eq(lim.mem_available, 8000000 * 1024ull);
    ck_assert_uint_eq(lim.mem_total, 16318712 * 1024ull);
    ck_assert_uint_eq(avail->limit, lim.rss + lim.mem_available);
    ck_assert_uint_eq(avail->usage, lim.rss);
    ck_assert_int_eq(lim.nlimits, 4);
    ck_assert_uint_eq(lt_limits_figure(&lim, LT_FIGURE_VM_DATA), lim.vm_data);
}
END_TEST

/* A container with its own cgroup namespace: the process sits at "/", the limit is there. */
START_TEST(test_v2_container_root)
{
    ck_assert_int_eq(read_case("v2-container"), 0);
    ck_assert_int_eq(lim.cgroup_version, 2);
    ck_assert_str_eq(lim.cgroup, "/");
    ck_assert_uint_eq(lim.cgroup_max, 256 * MiB);
    ck_assert_uint_eq(lim.cgroup_high, LT_NO_LIMIT);
    ck_assert_uint_eq(lim.cgroup_current, 209715200);
    ck_assert_uint_eq(lim.cgroup_oom_kills, 0);
    const lt_limit *max = find("cgroup v2 memory.max");
    ck_assert_ptr_nonnull(max);
    ck_assert_str_eq(max->where, "/");
    ck_assert_uint_eq(max->usage, 209715200);
    ck_assert_ptr_null(find("cgroup v2 memory.high"));
    ck_assert_ptr_null(find("RLIMIT_AS"));
}
END_TEST

/* A hybrid system: memory is a v1 controller; the empty unified hierarchy is not used. v1's
 * "unlimited" (a huge page-aligned number) above the container is no limit. */
START_TEST(test_v1_hybrid)
{
    ck_assert_int_eq(read_case("v1"), 0);
    ck_assert_int_eq(lim.cgroup_version, 1);
    ck_assert_str_eq(lim.cgroup, "/docker/abc123");
    ck_assert_uint_eq(lim.cgroup_max, 512 * MiB);
    ck_assert_uint_eq(lim.cgroup_high, LT_NO_LIMIT);
    ck_assert_uint_eq(lim.cgroup_current, 314572800);
    ck_assert_uint_eq(lim.cgroup_failcnt, 7);
    ck_assert_uint_eq(lim.cgroup_oom_kills, 2);
    const lt_limit *max = find("cgroup v1 memory.limit_in_bytes");
    ck_assert_ptr_nonnull(max);
    ck_assert_str_eq(max->where, "/docker/abc123");
    ck_assert_uint_eq(max->usage, 314572800);
    ck_assert_uint_eq(lim.rlimit_data, 1 * GiB);
    const lt_limit *data = find("RLIMIT_DATA");
    ck_assert_ptr_nonnull(data);
    ck_assert_uint_eq(data->usage, 900000 * 1024ull);
    ck_assert_int_eq(data->figure, LT_FIGURE_VM_DATA);
    ck_assert_ptr_null(find("RLIMIT_AS"));
    ck_assert_int_eq(lim.nlimits, 3);
}
END_TEST

/* A v1 mount whose root is the container's own cgroup (what a container sees). */
START_TEST(test_v1_mount_root_below)
{
    ck_assert_int_eq(read_case("v1-nested-root"), 0);
    ck_assert_int_eq(lim.cgroup_version, 1);
    ck_assert_uint_eq(lim.cgroup_max, 128 * MiB);
    ck_assert_uint_eq(lim.cgroup_current, 100000000);
    const lt_limit *max = find("cgroup v1 memory.limit_in_bytes");
    ck_assert_ptr_nonnull(max);
    ck_assert_str_eq(max->where, "/");
    ck_assert_ptr_null(find("MemAvailable")); /* no meminfo in this tree */
}
END_TEST

/* Only the process: no cgroup, no limits file, no meminfo. Nothing made up. */
START_TEST(test_bare)
{
    ck_assert_int_eq(read_case("bare"), 0);
    ck_assert_int_eq(lim.cgroup_version, 0);
    ck_assert_str_eq(lim.cgroup, "");
    ck_assert_int_eq(lim.nlimits, 0);
    ck_assert_uint_eq(lim.cgroup_max, LT_NO_LIMIT);
    ck_assert_uint_eq(lim.rlimit_as, LT_NO_LIMIT);
    ck_assert_uint_eq(lim.rss, 51200 * 1024ull);
}
END_TEST

START_TEST(test_gone)
{
    ck_assert_int_eq(read_case("no-such-case"), -1);
}
END_TEST

/* The real machine: whatever it has, this process is readable and its figures plausible. */
START_TEST(test_this_process)
{
    char *cause = NULL;
    ck_assert_int_eq(lt_limits_read("/proc", "/sys", getpid(), &lim, &cause), 0);
    ck_assert_uint_gt(lim.rss, 0);
    ck_assert_uint_ge(lim.vm_size, lim.rss);
    for (int i = 0; i < lim.nlimits; i++)
        ck_assert_uint_gt(lim.limits[i].limit, 0);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("mem_limits");
    TCase *tc = lt_test_tcase(s, "fixtures");
    tcase_add_test(tc, test_v2_limit_up_the_tree);
    tcase_add_test(tc, test_v2_container_root);
    tcase_add_test(tc, test_v1_hybrid);
    tcase_add_test(tc, test_v1_mount_root_below);
    tcase_add_test(tc, test_bare);
    tcase_add_test(tc, test_gone);
    tc = lt_test_tcase(s, "live");
    tcase_add_test(tc, test_this_process);
    return lt_test_run(s);
}
