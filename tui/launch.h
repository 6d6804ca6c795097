/*
 * Starting a program with the agent loaded (run, check --, record --) and ending it.
 * The program runs in its own process group with the agent's bootstrap first on PYTHONPATH;
 * the bootstrap answers through a pipe with the pid that serves the socket, or the reason it
 * could not start (no agent built for that Python, ...).
 */
#ifndef LEAKTOP_LAUNCH_H
#define LEAKTOP_LAUNCH_H

#include <stddef.h>
#include <sys/types.h>

typedef struct lt_child {
    pid_t pid;  /* the process we started; leader of its process group */
    int reaped; /* waitpid collected its status */
    int status; /* as from waitpid */
} lt_child;

typedef struct lt_launch_opts {
    const char *options;  /* LEAKTOP_OPTIONS for the agent, "interval=0.5" */
    int stdout_to_stderr; /* keep our stdout clean for a report */
    int timeout_ms;       /* how long to wait for the agent; 0: 15 s */
    int output_fd;        /* > 0: the program's stdout and stderr go there */
} lt_launch_opts;

/* The agent's options for a started program: "interval=0.5,budget=0.02" (interval_s and
 * budget_pct 0: the agent's defaults; budget_pct is a percent of one core). Returns out, "" when
 * both are defaults. */
char *lt_launch_agent_options(char *out, size_t outlen, double interval_s, double budget_pct);

/* Directory holding the agent modules and their bootstrap: $LEAKTOP_AGENT_DIR, else `agent/`
 * beside this executable (the build tree), else the installed one, first where it is relative to
 * this executable (a wheel in any environment), then at the path it was installed to. Returns 0,
 * or -1 with *cause. */
int lt_agent_dir(char *out, size_t outlen, char **cause);

/* Start argv with the agent. On success returns 0 with *child filled and *agent_pid the process
 * that serves the socket (argv's pid, or its child when argv is a wrapper such as a pyenv shim).
 * On failure returns -1 with *cause: the program cannot be run, it exited first, it is not Python
 * (no answer within the timeout), or its Python has no agent built. The started process is then
 * already ended and reaped. */
int lt_launch(char *const argv[], const lt_launch_opts *o, lt_child *child, pid_t *agent_pid,
              char **cause);

/* Has the child exited? Reaps it without blocking. Returns 1 exited, 0 running. */
int lt_child_poll(lt_child *c);

/* End the child's process group: SIGTERM, then SIGKILL after grace_ms; reaps the child. */
void lt_child_terminate(lt_child *c, int grace_ms);

/* "exited with status 3" / "killed by signal 9 (Killed)" into out. */
void lt_child_describe(const lt_child *c, char *out, size_t outlen);

#endif
