/* common/sockpath.c: where sockets live, who may use them, listen and connect. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "leaktop/mem.h"
#include "leaktop/sockpath.h"

/* The scratch root is made and removed by the runner process (an unchecked fixture), so it goes
 * even when a test fails; each test then makes its own directory in it (a checked fixture, run
 * in the test's process). */
static char root[64];
static char tmp[128];

static void
setup_root(void)
{
    lt_test_mkdtemp(root, sizeof root);
}

static void
teardown_root(void)
{
    lt_test_rmtree(root);
}

static void
setup_tmp(void)
{
    snprintf(tmp, sizeof tmp, "%s/t-XXXXXX", root);
    ck_assert_msg(mkdtemp(tmp) != NULL, "mkdtemp under %s failed", root);
}

static char *
join(char *out, size_t n, const char *dir, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
    return out;
}

START_TEST(test_dir_xdg)
{
    char out[4096];
    char *cause = NULL;
    setenv("XDG_RUNTIME_DIR", tmp, 1);
    ck_assert_int_eq(lt_sock_dir(out, sizeof out, &cause), 0);
    char want[4096];
    ck_assert_str_eq(out, join(want, sizeof want, tmp, "leaktop"));
    ck_assert_ptr_null(cause);
}
END_TEST

START_TEST(test_dir_fallback)
{
    char out[4096], want[64];
    char *cause = NULL;
    snprintf(want, sizeof want, "/tmp/leaktop-%u", (unsigned)geteuid());
    unsetenv("XDG_RUNTIME_DIR");
    ck_assert_int_eq(lt_sock_dir(out, sizeof out, &cause), 0);
    ck_assert_str_eq(out, want);
    /* Empty counts as unset. */
    setenv("XDG_RUNTIME_DIR", "", 1);
    ck_assert_int_eq(lt_sock_dir(out, sizeof out, &cause), 0);
    ck_assert_str_eq(out, want);
    ck_assert_ptr_null(cause);
}
END_TEST

START_TEST(test_dir_too_long)
{
    char out[16];
    char *cause = NULL;
    setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1); /* 22 bytes with /leaktop */
    ck_assert_int_eq(lt_sock_dir(out, sizeof out, &cause), -1);
    ck_assert_ptr_nonnull(cause);
    ck_assert_ptr_nonnull(strstr(cause, "too long"));
    lt_free(cause);
}
END_TEST

START_TEST(test_path)
{
    char out[108], want[200];
    char *cause = NULL;
    setenv("XDG_RUNTIME_DIR", tmp, 1);
    ck_assert_int_eq(lt_sock_path(4242, out, sizeof out, &cause), 0);
    snprintf(want, sizeof want, "%s/leaktop/4242.sock", tmp);
    ck_assert_str_eq(out, want);

    unsetenv("XDG_RUNTIME_DIR");
    ck_assert_int_eq(lt_sock_path(17, out, sizeof out, &cause), 0);
    snprintf(want, sizeof want, "/tmp/leaktop-%u/17.sock", (unsigned)geteuid());
    ck_assert_str_eq(out, want);
    ck_assert_ptr_null(cause);
}
END_TEST

/* A path that does not fit a sockaddr_un is refused even when out[] could hold it. */
START_TEST(test_path_too_long)
{
    char dir[200];
    memset(dir, 'd', sizeof dir);
    dir[0] = '/';
    dir[100] = '\0'; /* 100 + "/leaktop/123456.sock" > 107 */
    setenv("XDG_RUNTIME_DIR", dir, 1);
    char out[4096];
    char *cause = NULL;
    ck_assert_int_eq(lt_sock_path(123456, out, sizeof out, &cause), -1);
    ck_assert_ptr_nonnull(cause);
    ck_assert_ptr_nonnull(strstr(cause, "XDG_RUNTIME_DIR"));
    lt_free(cause);

    /* Just fitting: 107 bytes. "/leaktop/1.sock" is 15 bytes. */
    memset(dir, 'd', sizeof dir);
    dir[0] = '/';
    dir[107 - 15] = '\0';
    setenv("XDG_RUNTIME_DIR", dir, 1);
    cause = NULL;
    ck_assert_int_eq(lt_sock_path(1, out, sizeof out, &cause), 0);
    ck_assert_uint_eq(strlen(out), 107);
    ck_assert_ptr_null(cause);
    dir[107 - 15 + 1] = '\0';
    dir[107 - 15] = 'd';
    setenv("XDG_RUNTIME_DIR", dir, 1);
    ck_assert_int_eq(lt_sock_path(1, out, sizeof out, &cause), -1);
    lt_free(cause);

    /* And a too small out[] is refused as well. */
    setenv("XDG_RUNTIME_DIR", "/run", 1);
    cause = NULL;
    char small[10];
    ck_assert_int_eq(lt_sock_path(1, small, sizeof small, &cause), -1);
    ck_assert_ptr_nonnull(cause);
    lt_free(cause);
}
END_TEST

START_TEST(test_prepare_creates_0700)
{
    char dir[256];
    char *cause = NULL;
    join(dir, sizeof dir, tmp, "leaktop");
    mode_t old = umask(022);
    ck_assert_int_eq(lt_sock_dir_prepare(dir, &cause), 0);
    umask(old);
    ck_assert_ptr_null(cause);
    struct stat st;
    ck_assert_int_eq(lstat(dir, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 0777, 0700);
    ck_assert_uint_eq(st.st_uid, geteuid());
    /* Again: it exists and is fine. */
    ck_assert_int_eq(lt_sock_dir_prepare(dir, &cause), 0);
    ck_assert_ptr_null(cause);
}
END_TEST

START_TEST(test_prepare_refuses_0755)
{
    char dir[256];
    char *cause = NULL;
    join(dir, sizeof dir, tmp, "open");
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    ck_assert_int_eq(chmod(dir, 0755), 0);
    ck_assert_int_eq(lt_sock_dir_prepare(dir, &cause), -1);
    ck_assert_ptr_nonnull(cause);
    ck_assert_ptr_nonnull(strstr(cause, "755"));
    lt_free(cause);
    /* Nothing was chmod-ed to make it pass. */
    struct stat st;
    ck_assert_int_eq(stat(dir, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0755);

    /* Group access alone is enough to refuse. */
    ck_assert_int_eq(chmod(dir, 0710), 0);
    cause = NULL;
    ck_assert_int_eq(lt_sock_dir_prepare(dir, &cause), -1);
    lt_free(cause);
}
END_TEST

START_TEST(test_prepare_refuses_symlink)
{
    char real[256], link[256];
    char *cause = NULL;
    join(real, sizeof real, tmp, "real");
    join(link, sizeof link, tmp, "link");
    ck_assert_int_eq(mkdir(real, 0700), 0);
    ck_assert_int_eq(symlink(real, link), 0);
    ck_assert_int_eq(lt_sock_dir_prepare(link, &cause), -1);
    ck_assert_ptr_nonnull(cause);
    ck_assert_ptr_nonnull(strstr(cause, "symlink"));
    lt_free(cause);

    /* A symlink as the parent is refused too. */
    char under[300];
    join(under, sizeof under, link, "leaktop");
    cause = NULL;
    ck_assert_int_eq(lt_sock_dir_prepare(under, &cause), -1);
    ck_assert_ptr_nonnull(strstr(cause, "symlink"));
    lt_free(cause);
    ck_assert_int_eq(access(under, F_OK), -1); /* and nothing was created through it */
}
END_TEST

START_TEST(test_prepare_refuses_other_things)
{
    char *cause = NULL;
    char file[256], ww[256], under[300];
    /* A regular file where the directory should be. */
    join(file, sizeof file, tmp, "file");
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_int_eq(lt_sock_dir_prepare(file, &cause), -1);
    ck_assert_ptr_nonnull(strstr(cause, "not a directory"));
    lt_free(cause);

    /* A parent anyone may write to, without the sticky bit. */
    join(ww, sizeof ww, tmp, "ww");
    ck_assert_int_eq(mkdir(ww, 0700), 0);
    ck_assert_int_eq(chmod(ww, 0777), 0);
    join(under, sizeof under, ww, "leaktop");
    cause = NULL;
    ck_assert_int_eq(lt_sock_dir_prepare(under, &cause), -1);
    ck_assert_ptr_nonnull(strstr(cause, "sticky"));
    lt_free(cause);
    /* With the sticky bit (like /tmp) it is fine. */
    ck_assert_int_eq(chmod(ww, 01777), 0);
    cause = NULL;
    ck_assert_int_eq(lt_sock_dir_prepare(under, &cause), 0);
    ck_assert_ptr_null(cause);

    /* A parent that does not exist. */
    join(under, sizeof under, tmp, "missing/leaktop");
    ck_assert_int_eq(lt_sock_dir_prepare(under, &cause), -1);
    ck_assert_ptr_nonnull(cause);
    lt_free(cause);
}
END_TEST

/* listen, peer check and connect, end to end, in a private XDG_RUNTIME_DIR. */
START_TEST(test_listen_connect)
{
    char dir[256], path[256];
    char *cause = NULL;
    setenv("XDG_RUNTIME_DIR", tmp, 1);
    ck_assert_int_eq(lt_sock_dir(dir, sizeof dir, &cause), 0);
    ck_assert_int_eq(lt_sock_dir_prepare(dir, &cause), 0);
    ck_assert_int_eq(lt_sock_path(getpid(), path, sizeof path, &cause), 0);

    /* Nobody there yet. */
    int kind = 0;
    ck_assert_int_eq(lt_sock_connect(getpid(), &kind, &cause), -1);
    ck_assert_int_eq(kind, LT_SOCK_ENOENT);
    lt_free(cause);
    cause = NULL;

    /* A stale file at the path is replaced. */
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_int_eq(lt_sock_connect(getpid(), &kind, &cause), -1);
    ck_assert_int_eq(kind, LT_SOCK_EOTHER);
    ck_assert_ptr_nonnull(strstr(cause, "not a socket"));
    lt_free(cause);
    cause = NULL;

    int lfd = lt_sock_listen(path, &cause);
    ck_assert_int_ge(lfd, 0);
    ck_assert_ptr_null(cause);
    struct stat st;
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 0777, 0600);

    int cfd = lt_sock_connect(getpid(), &kind, &cause);
    ck_assert_int_ge(cfd, 0);
    int afd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(afd, 0);
    uid_t uid = (uid_t)-1;
    ck_assert_int_eq(lt_sock_peer_allowed(afd, &uid), 1);
    ck_assert_uint_eq(uid, geteuid());
    ck_assert_int_eq(write(cfd, "hi", 2), 2);
    char buf[2];
    ck_assert_int_eq(read(afd, buf, 2), 2);
    ck_assert_mem_eq(buf, "hi", 2);
    close(afd);
    close(cfd);

    /* The listener is gone but its file is not: a stale socket. */
    close(lfd);
    ck_assert_int_eq(lt_sock_connect(getpid(), &kind, &cause), -1);
    ck_assert_int_eq(kind, LT_SOCK_ESTALE);
    lt_free(cause);
    cause = NULL;

    /* The peer check on something that is not a socket. */
    ck_assert_int_eq(lt_sock_peer_allowed(-1, &uid), -1);

    /* A path too long for a sockaddr_un. */
    char longp[200];
    memset(longp, 'p', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    ck_assert_int_eq(lt_sock_listen(longp, &cause), -1);
    ck_assert_ptr_nonnull(cause);
    lt_free(cause);
}
END_TEST

/* A pid that was just used and is gone: a child that exited and was reaped. */
static pid_t
dead_pid(void)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(0);
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
    return pid;
}

/* A socket bound at dir/name; listening when listening, else closed at once (stale). Returns
 * the listening fd or -1. */
static int
plant_socket(const char *dir, const char *name, int listening)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char path[512];
    join(path, sizeof path, dir, name);
    ck_assert_uint_lt(strlen(path), sizeof sa.sun_path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    if (listening) {
        ck_assert_int_eq(listen(fd, 4), 0);
        return fd;
    }
    close(fd);
    return -1;
}

static int
exists(const char *dir, const char *name)
{
    char p[512];
    struct stat st;
    return lstat(join(p, sizeof p, dir, name), &st) == 0;
}

START_TEST(test_sweep_stale)
{
    pid_t gone = dead_pid(), gone2 = dead_pid(), gone3 = dead_pid(), gone4 = dead_pid();
    char dead[32], dead_listening[32], alive[32], not_socket[32], mine[32], foreign[32];
    snprintf(dead, sizeof dead, "%ld.sock", (long)gone);
    /* A pid we cannot see but whose socket accepts: an agent of another pid namespace. */
    snprintf(dead_listening, sizeof dead_listening, "%ld.sock", (long)gone2);
    /* The pid is alive (our parent): whatever its socket does, it is not ours to judge. */
    snprintf(alive, sizeof alive, "%ld.sock", (long)getppid());
    snprintf(not_socket, sizeof not_socket, "%ld.sock", (long)gone3);
    snprintf(mine, sizeof mine, "%ld.sock", (long)getpid());
    snprintf(foreign, sizeof foreign, "%ld.sock", (long)gone4);

    plant_socket(tmp, dead, 0);
    int lfd = plant_socket(tmp, dead_listening, 1);
    plant_socket(tmp, alive, 0);
    plant_socket(tmp, mine, 0);
    plant_socket(tmp, "stale.sock", 0); /* not a pid's name */
    char p[512];
    FILE *f = fopen(join(p, sizeof p, tmp, not_socket), "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    int have_foreign = 0;
    if (geteuid() == 0) { /* another user's stale socket is never touched */
        plant_socket(tmp, foreign, 0);
        ck_assert_int_eq(lchown(join(p, sizeof p, tmp, foreign), 65534, 65534), 0);
        have_foreign = 1;
    }

    struct stat st;
    ck_assert_int_eq(lt_sock_is_stale(join(p, sizeof p, tmp, dead), gone, &st), 1);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_int_eq(lt_sock_is_stale(join(p, sizeof p, tmp, dead_listening), gone2, NULL), 0);
    ck_assert_int_eq(lt_sock_is_stale(join(p, sizeof p, tmp, alive), getppid(), NULL), 0);
    ck_assert_int_eq(lt_sock_is_stale(join(p, sizeof p, tmp, not_socket), gone3, NULL), 0);

    ck_assert_int_eq(lt_sock_sweep_stale(tmp, getpid(), 4096), 1);
    ck_assert(!exists(tmp, dead));
    ck_assert(exists(tmp, dead_listening));
    ck_assert(exists(tmp, alive));
    ck_assert(exists(tmp, not_socket));
    ck_assert(exists(tmp, mine));
    ck_assert(exists(tmp, "stale.sock"));
    if (have_foreign)
        ck_assert(exists(tmp, foreign));
    /* Nothing is left aside either. */
    ck_assert_int_eq(lt_sock_sweep_stale(tmp, getpid(), 4096), 0);
    close(lfd);
    /* Once its listener is gone, that one is stale too. */
    ck_assert_int_eq(lt_sock_sweep_stale(tmp, getpid(), 4096), 1);
    ck_assert(!exists(tmp, dead_listening));
    /* A directory that is not there: nothing to do. */
    ck_assert_int_eq(lt_sock_sweep_stale("/nonexistent-leaktop-dir", getpid(), 4096), 0);
}
END_TEST

START_TEST(test_asprintf)
{
    uint64_t base = lt_mem_in_use();
    char *s = lt_asprintf("%s-%d-%05.1f", "x", 42, 2.5);
    ck_assert_str_eq(s, "x-42-002.5");
    ck_assert_uint_gt(lt_mem_in_use(), base);
    lt_free(s);
    ck_assert_uint_eq(lt_mem_in_use(), base);
    lt_mem_fail_after(1);
    ck_assert_ptr_null(lt_asprintf("%d", 1));
    lt_mem_fail_after(0);
}
END_TEST

static Suite *
sockpath_suite(void)
{
    Suite *s = suite_create("sockpath");
    TCase *tc = lt_test_tcase(s, "sockpath");
    tcase_add_unchecked_fixture(tc, setup_root, teardown_root);
    tcase_add_checked_fixture(tc, setup_tmp, NULL);
    tcase_add_test(tc, test_dir_xdg);
    tcase_add_test(tc, test_dir_fallback);
    tcase_add_test(tc, test_dir_too_long);
    tcase_add_test(tc, test_path);
    tcase_add_test(tc, test_path_too_long);
    tcase_add_test(tc, test_prepare_creates_0700);
    tcase_add_test(tc, test_prepare_refuses_0755);
    tcase_add_test(tc, test_prepare_refuses_symlink);
    tcase_add_test(tc, test_prepare_refuses_other_things);
    tcase_add_test(tc, test_listen_connect);
    tcase_add_test(tc, test_sweep_stale);
    tcase_add_test(tc, test_asprintf);
    return s;
}

int
main(void)
{
    return lt_test_run(sockpath_suite());
}
