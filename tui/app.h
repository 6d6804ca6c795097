/*
 * The terminal UI's entry points, one per way of getting data. Each returns the process exit
 * status: 0, 2 on an error (one line on stderr), 128+signal when a signal ended it. The terminal
 * is restored in every case. max_refreshes > 0 ends the UI after that many screen updates (so CI
 * can run it under sanitizers).
 */
#ifndef LEAKTOP_APP_H
#define LEAKTOP_APP_H

#include <sys/types.h>

/* `leaktop PID`: the agent already running in pid. */
int lt_app_pid(pid_t pid, unsigned max_refreshes);
/* `leaktop connect SOCKET`: the agent at a socket path (forwarded with ssh -L); nothing is read
 * from this host's /proc. */
int lt_app_socket(const char *path, unsigned max_refreshes);
/* `leaktop run -- CMD`: start cmd with the agent, watch it, end it on quit unless keep. */
int lt_app_run(char **cmd, double interval, double budget, int keep, unsigned max_refreshes);
/* `leaktop replay FILE`. */
int lt_app_replay(const char *path, unsigned max_refreshes);
/* `leaktop`: pick one of this user's Python processes, then watch it. */
int lt_app_picker(unsigned max_refreshes);

#endif
