/* The fork gate: see fork_gate.h. */
#include "fork_gate.h"

#include <pthread.h>
#include <time.h>

static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static int forks_waiting; /* forkers waiting for the gate or holding it: the agent thread waits */

void
lt_fork_gate_enter(void)
{
    /* A mutex is not fair: a forker waiting for it lets the agent thread go first. */
    while (__atomic_load_n(&forks_waiting, __ATOMIC_ACQUIRE) > 0) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&gate);
}

void
lt_fork_gate_leave(void)
{
    pthread_mutex_unlock(&gate);
}

void
lt_fork_gate_close(void)
{
    __atomic_add_fetch(&forks_waiting, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_lock(&gate);
}

void
lt_fork_gate_open(void)
{
    pthread_mutex_unlock(&gate);
    __atomic_sub_fetch(&forks_waiting, 1, __ATOMIC_ACQ_REL);
}

void
lt_fork_gate_reset_in_child(void)
{
    /* The child's one thread is the one that closed the gate: it owns the copy, and a mutex's
     * owner may unlock it (re-initialising a locked mutex is undefined). The parent's other
     * forkers, counted in the copy, are not here. */
    pthread_mutex_unlock(&gate);
    __atomic_store_n(&forks_waiting, 0, __ATOMIC_RELEASE);
}
