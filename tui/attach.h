/*
 * Loading the agent into a Python process that is already running (`leaktop attach PID`, and
 * `--pid PID` when PID has no agent), and stopping it again from outside (`leaktop detach PID`).
 *
 * On Python 3.14+ the interpreter's own PEP 768 protocol does it without gdb (remote_exec.h):
 * a request to run the loader script, written into a thread state from outside; gdb is the
 * fallback when every thread stays blocked in a system call, and the only route before 3.14.
 * gdb is attached only for a few milliseconds at a time and never calls
 * anything that can wait for a lock the stopped program may hold: it queues a Python "pending
 * call" that the interpreter runs at its next safe point (the main thread, the GIL held, between
 * two bytecodes), and when the main thread is blocked in a system call it starts a small native
 * thread that takes the GIL like any C extension thread. docs/attach.md has the whole sequence
 * and why each step is safe. Errors are -1 with *cause (lt_free it): one line for the user.
 */
#ifndef LEAKTOP_ATTACH_H
#define LEAKTOP_ATTACH_H

#include <stddef.h>
#include <sys/types.h>

#define LT_ATTACH_TIMEOUT_MS 20000 /* the whole attach, unless LEAKTOP_ATTACH_TIMEOUT says */

typedef struct lt_attach_opts {
    double interval_s; /* census period for the agent; 0: its default */
    int timeout_ms;    /* 0: LEAKTOP_ATTACH_TIMEOUT (seconds) or LT_ATTACH_TIMEOUT_MS */
} lt_attach_opts;

typedef struct lt_attach_result {
    int already;        /* an agent was running already: nothing was done */
    char python[16];    /* "3.11", when known */
    const char *route;  /* "PEP 768", "PEP 768, another thread", "pending call", "helper
                         * thread", or "already running" */
    double seconds;     /* time the attach took */
} lt_attach_result;

/* Load the agent into pid and start it; on success the agent serves pid's socket. Returns 0, or
 * -1 with *cause (gdb missing, ptrace refused, remote debugging disabled, not Python, no agent
 * built for its version, another user's process, process gone, no safe point reached in time). The process is left
 * running in every case. */
int lt_attach(pid_t pid, const lt_attach_opts *o, lt_attach_result *res, char **cause);

/* Stop the agent in pid (LT_CMD_STOP): its hooks are removed, its thread ends, its socket goes;
 * the program goes on. Returns 0, or -1 with *cause (no agent there, not yours, ...). */
int lt_detach(pid_t pid, int timeout_ms, char **cause);

/* Does pid's agent socket exist (looked at, not connected to)? */
int lt_attach_socket_exists(pid_t pid);

/* Is pid a Python process, and which version ("3.11" into version, "" when unknown)? From
 * /proc only: the executable's name, a mapped libpython or extension module. Returns 1 yes,
 * 0 no, 2 cannot tell (/proc hides a process that is not dumpable), -1 gone. */
int lt_attach_python_version(pid_t pid, char *version, size_t vlen);

#endif
