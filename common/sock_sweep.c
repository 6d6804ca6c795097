/* Stale agent sockets: judging one, and sweeping a socket directory of them.
 *
 * A SIGKILLed or SIGTERMed Python (SIGTERM's default action runs no atexit) leaves its socket
 * file behind; nothing else would ever remove it. An agent that starts sweeps its directory
 * (agent/agent_core.c), and only removes what is provably dead: our own uid, the pid gone, and
 * nobody accepting on it. The connect() is what protects agents whose pid we cannot see (a
 * process of another pid namespace sharing the directory). */
#define _GNU_SOURCE
#include "leaktop/sockpath.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Does connect() to path fail with ECONNREFUSED? */
static int
refuses(const char *path)
{
    struct sockaddr_un sa;
    if (strlen(path) >= sizeof sa.sun_path)
        return 0;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    /* Non-blocking: a live agent with a full backlog answers EAGAIN, never ECONNREFUSED. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    close(fd);
    return rc < 0 && e == ECONNREFUSED;
}

int
lt_sock_is_stale(const char *path, pid_t pid, struct stat *st_out)
{
    struct stat st;
    if (pid <= 0 || lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode) || st.st_uid != geteuid())
        return 0;
    if (!(kill(pid, 0) < 0 && errno == ESRCH))
        return 0;
    if (!refuses(path))
        return 0;
    if (st_out != NULL)
        *st_out = st;
    return 1;
}

/* Is name "<digits>.sock"? Its pid into *pid. */
static int
name_pid(const char *name, pid_t *pid)
{
    size_t n = strspn(name, "0123456789");
    if (n == 0 || n > 9 || name[0] == '0' || strcmp(name + n, ".sock") != 0)
        return 0;
    *pid = (pid_t)strtol(name, NULL, 10);
    return *pid > 0;
}

int
lt_sock_sweep_stale(const char *dir, pid_t self, int max_entries)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    int removed = 0, seen = 0;
    struct dirent *e;
    while (seen < max_entries && (e = readdir(d)) != NULL) {
        seen++;
        pid_t pid;
        char path[4096], aside[4096];
        struct stat judged, now;
        if (!name_pid(e->d_name, &pid) || pid == self ||
            (size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path ||
            (size_t)snprintf(aside, sizeof aside, "%s/.stale-%ld-%s", dir, (long)self,
                             e->d_name) >= sizeof aside ||
            !lt_sock_is_stale(path, pid, &judged))
            continue;
        /* Take it out of the way atomically, then make sure it is what was judged: a new
         * process that got the same pid may have bound its own socket there meanwhile. */
        if (rename(path, aside) < 0)
            continue; /* another agent's sweep took it first */
        if (lstat(aside, &now) == 0 && now.st_ino == judged.st_ino &&
            now.st_dev == judged.st_dev) {
            if (unlink(aside) == 0)
                removed++;
        } else {
            rename(aside, path); /* a live socket: put it back */
        }
    }
    closedir(d);
    return removed;
}
