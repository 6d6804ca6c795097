/* tui/proc_tree.c: a program's descendants found in a /proc tree written by the test (stat
 * lines as the kernel writes them, command names with spaces and parentheses), and the roles
 * their command lines give them. */
#define _GNU_SOURCE
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "tui/proc_tree.h"

static char proc[128];

/* /proc/<pid>/stat and cmdline (args NUL-separated; "|" in argv_bar stands for NUL). */
static void
add(long pid, const char *comm, long ppid, const char *argv_bar)
{
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "%s/%ld", proc, pid);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/stat", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%ld (%s) S %ld %ld %ld 0 -1 4194560 100 0 0 0 1 1 0 0 20 0 2 0 100 1000 200\n",
            pid, comm, ppid, pid, pid);
    fclose(f);
    snprintf(path, sizeof path, "%s/cmdline", dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (const char *p = argv_bar; *p; p++)
        fputc(*p == '|' ? '\0' : *p, f);
    fputc('\0', f);
    fclose(f);
}

static void
setup(void)
{
    lt_test_mkdtemp(proc, sizeof proc);
}

static void
teardown(void)
{
    lt_test_rmtree(proc);
}

static const lt_proc_node *
find(const lt_proc_node *n, int count, long pid)
{
    for (int i = 0; i < count; i++)
        if (n[i].pid == pid)
            return &n[i];
    return NULL;
}

/* gunicorn: a master with three workers, beside unrelated processes and a grandchild. */
START_TEST(test_descendants_breadth_first)
{
    add(1, "init", 0, "/sbin/init");
    add(100, "gunicorn", 1, "/usr/bin/python3|/usr/bin/gunicorn|-w|3|app:app");
    add(103, "gunicorn", 100, "/usr/bin/python3|/usr/bin/gunicorn|-w|3|app:app");
    add(101, "gunicorn", 100, "/usr/bin/python3|/usr/bin/gunicorn|-w|3|app:app");
    add(102, "weird) (name", 100, "/usr/bin/python3|/usr/bin/gunicorn");
    add(200, "bash", 1, "bash");
    add(201, "python3", 200, "python3|other.py");
    add(150, "sh", 103, "sh|-c|true"); /* a worker's child: depth 2 */
    lt_proc_node n[16];
    int count = lt_proc_tree_descendants(proc, 100, n, 16);
    ck_assert_int_eq(count, 4);
    ck_assert_int_eq(n[0].depth, 1);
    ck_assert_int_eq(n[3].pid, 150); /* parents before their children */
    ck_assert_int_eq(n[3].depth, 2);
    ck_assert_int_eq(n[3].ppid, 103);
    const lt_proc_node *odd = find(n, count, 102);
    ck_assert_ptr_nonnull(odd);
    ck_assert_int_eq(odd->ppid, 100); /* the ppid after the last ')' */
    ck_assert_str_eq(odd->role, "worker");
    ck_assert_ptr_null(find(n, count, 201));
    ck_assert_ptr_null(find(n, count, 100)); /* not the root itself */
    ck_assert_int_eq(lt_proc_tree_parent(proc, 102), 100);
    ck_assert_int_eq(lt_proc_tree_parent(proc, 999), 0);
    /* max bounds the list. */
    ck_assert_int_eq(lt_proc_tree_descendants(proc, 100, n, 2), 2);
    /* A root with no children, and a /proc that is not there. */
    ck_assert_int_eq(lt_proc_tree_descendants(proc, 201, n, 16), 0);
    ck_assert_int_eq(lt_proc_tree_descendants("/nonexistent/proc", 1, n, 16), -1);
}
END_TEST

/* multiprocessing with forkserver: the helpers by their command lines, the forkserver's forked
 * children are workers although their command line is the forkserver's. */
START_TEST(test_multiprocessing_roles)
{
    add(10, "python3", 1, "python3|pool.py|forkserver");
    add(11, "python3", 10,
        "/usr/bin/python3|-c|from multiprocessing.resource_tracker import main;main(6)");
    add(12, "python3", 10,
        "/usr/bin/python3|-c|from multiprocessing.forkserver import main; main(8, 9, "
        "['__main__'], **{'sys_path': []})");
    add(13, "python3", 12,
        "/usr/bin/python3|-c|from multiprocessing.forkserver import main; main(8, 9)");
    add(14, "python3", 10,
        "/usr/bin/python3|-c|from multiprocessing.spawn import spawn_main; spawn_main(7)|"
        "--multiprocessing-fork");
    lt_proc_node n[16];
    int count = lt_proc_tree_descendants(proc, 10, n, 16);
    ck_assert_int_eq(count, 4);
    ck_assert_str_eq(find(n, count, 11)->role, "resource tracker");
    ck_assert_str_eq(find(n, count, 12)->role, "forkserver");
    ck_assert_str_eq(find(n, count, 13)->role, "worker");
    ck_assert_str_eq(find(n, count, 14)->role, "worker");
    ck_assert_str_eq(lt_proc_tree_role("", 0), "worker");
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("proc_tree");
    TCase *tc = lt_test_tcase(s, "proc_tree");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_descendants_breadth_first);
    tcase_add_test(tc, test_multiprocessing_roles);
    return lt_test_run(s);
}
