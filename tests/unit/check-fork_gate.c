/* agent/fork_gate.c: a forker waits for the agent thread's work, and the work waits for the fork. */
#define _GNU_SOURCE
#include "agent/fork_gate.h"
#include "harness.h"

#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int in_work, closed;

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The agent thread: in its work for 100 ms. */
static void *
worker(void *arg)
{
    (void)arg;
    lt_fork_gate_enter();
    __atomic_store_n(&in_work, 1, __ATOMIC_RELEASE);
    sleep_ms(100);
    __atomic_store_n(&in_work, 0, __ATOMIC_RELEASE);
    lt_fork_gate_leave();
    return NULL;
}

START_TEST(test_close_waits_for_the_work)
{
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, worker, NULL), 0);
    while (!__atomic_load_n(&in_work, __ATOMIC_ACQUIRE))
        sleep_ms(1);
    lt_fork_gate_close();
    ck_assert_int_eq(__atomic_load_n(&in_work, __ATOMIC_ACQUIRE), 0); /* the work was over */
    lt_fork_gate_open();
    pthread_join(t, NULL);
}
END_TEST

/* The agent thread: starts work while the gate is closed. */
static void *
late_worker(void *arg)
{
    (void)arg;
    lt_fork_gate_enter();
    int was_closed = __atomic_load_n(&closed, __ATOMIC_ACQUIRE);
    lt_fork_gate_leave();
    return (void *)(intptr_t)was_closed;
}

START_TEST(test_work_waits_for_the_fork)
{
    lt_fork_gate_close();
    __atomic_store_n(&closed, 1, __ATOMIC_RELEASE);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, late_worker, NULL), 0);
    sleep_ms(50); /* the worker would have run by now were the gate open */
    __atomic_store_n(&closed, 0, __ATOMIC_RELEASE);
    lt_fork_gate_open();
    void *was_closed = NULL;
    pthread_join(t, &was_closed);
    ck_assert_ptr_null(was_closed);
}
END_TEST

START_TEST(test_the_child_gets_an_open_gate)
{
    lt_fork_gate_close();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        lt_fork_gate_reset_in_child();
        /* An agent thread started in the child can work at once. */
        pthread_t t;
        void *was_closed = (void *)1;
        if (pthread_create(&t, NULL, late_worker, NULL) != 0 || pthread_join(t, &was_closed) != 0)
            _exit(2);
        _exit(was_closed == NULL ? 0 : 1);
    }
    lt_fork_gate_open();
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

static Suite *
gate_suite(void)
{
    Suite *s = suite_create("fork_gate");
    TCase *tc = lt_test_tcase(s, "fork_gate");
    tcase_add_test(tc, test_close_waits_for_the_work);
    tcase_add_test(tc, test_work_waits_for_the_fork);
    tcase_add_test(tc, test_the_child_gets_an_open_gate);
    return s;
}

int
main(void)
{
    return lt_test_run(gate_suite());
}
