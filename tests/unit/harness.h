/*
 * The shared bits of the unit tests (one check-<module>.c per module, see README): running a
 * suite, clocks and deadlines, and scratch directories under /tmp that are always removed.
 * Everything is static inline so a test that does not use a helper gets no warning for it.
 */
#ifndef LEAKTOP_TEST_HARNESS_H
#define LEAKTOP_TEST_HARNESS_H

/* nftw() and friends: every check-*.c defines _GNU_SOURCE before its first include. */
#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before including any header"
#endif

#include <check.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Seconds check gives one test before it kills it (tests run forked by default). */
#define LT_TEST_TIMEOUT 20

/* Run every test of s; the exit status of the test binary. CK_VERBOSITY=verbose lists each
 * test, CK_FORK=no runs them in-process (handy under a debugger). */
static inline int
lt_test_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* A test case named name with the default timeout, added to s. */
static inline TCase *
lt_test_tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, LT_TEST_TIMEOUT);
    suite_add_tcase(s, tc);
    return tc;
}

/* CLOCK_MONOTONIC in milliseconds. */
static inline uint64_t
lt_test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Milliseconds left until deadline (a lt_test_now_ms() value), 0 once it has passed. */
static inline int
lt_test_left_ms(uint64_t deadline)
{
    uint64_t now = lt_test_now_ms();
    return now >= deadline ? 0 : (int)(deadline - now);
}

/* A fresh 0700 directory under /tmp; its path goes into buf (at least 64 bytes). */
static inline void
lt_test_mkdtemp(char *buf, size_t len)
{
    snprintf(buf, len, "/tmp/leaktop-unit-XXXXXX");
    ck_assert_msg(mkdtemp(buf) != NULL, "mkdtemp failed");
}

static inline int
lt_test_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Remove path and everything under it, without following symlinks. */
static inline void
lt_test_rmtree(const char *path)
{
    nftw(path, lt_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
