/* Starting a program with the agent, and ending it. */
#define _GNU_SOURCE
#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "leaktop/mem.h"
#include "leaktop/sockpath.h"

#ifndef LEAKTOP_AGENT_DIR_INSTALLED
#define LEAKTOP_AGENT_DIR_INSTALLED "/usr/local/lib/leaktop/agent"
#endif
#ifndef LEAKTOP_AGENT_DIR_FROM_BIN
#define LEAKTOP_AGENT_DIR_FROM_BIN "" /* the installed one relative to the viewer's directory */
#endif

static int
has_bootstrap(const char *dir)
{
    char p[PATH_MAX];
    struct stat st;
    return snprintf(p, sizeof p, "%s/sitecustomize.py", dir) < (int)sizeof p && stat(p, &st) == 0;
}

int
lt_agent_dir(char *out, size_t outlen, char **cause)
{
    const char *env = getenv("LEAKTOP_AGENT_DIR");
    if (env != NULL && env[0] != '\0') {
        if (!has_bootstrap(env)) {
            *cause = lt_asprintf("LEAKTOP_AGENT_DIR=%s holds no leaktop agent", env);
            return -1;
        }
        snprintf(out, outlen, "%s", env);
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
            if ((size_t)snprintf(out, outlen, "%s/agent", exe) < outlen && has_bootstrap(out))
                return 0;
            /* An installation moved as a whole, or a wheel's in whatever environment pip or
             * pipx put it: the agent where the installation put it relative to the viewer. */
            if (LEAKTOP_AGENT_DIR_FROM_BIN[0] != '\0' &&
                (size_t)snprintf(out, outlen, "%s/%s", exe, LEAKTOP_AGENT_DIR_FROM_BIN) < outlen &&
                has_bootstrap(out))
                return 0;
        }
    }
    if (has_bootstrap(LEAKTOP_AGENT_DIR_INSTALLED)) {
        snprintf(out, outlen, "%s", LEAKTOP_AGENT_DIR_INSTALLED);
        return 0;
    }
    *cause = lt_asprintf("cannot find the leaktop agent (looked beside %s and in %s); build it "
                         "with: meson setup build && ninja -C build",
                         n > 0 ? exe : "this program", LEAKTOP_AGENT_DIR_INSTALLED);
    return -1;
}

static uint64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int
lt_child_poll(lt_child *c)
{
    if (c->reaped)
        return 1;
    int st;
    pid_t r = waitpid(c->pid, &st, WNOHANG);
    if (r == c->pid) {
        c->reaped = 1;
        c->status = st;
        return 1;
    }
    return 0;
}

void
lt_child_terminate(lt_child *c, int grace_ms)
{
    if (c->pid <= 0 || lt_child_poll(c)) {
        if (c->pid > 0)
            kill(-c->pid, SIGKILL); /* leftovers of its group, if any; ours alone */
        return;
    }
    kill(-c->pid, SIGTERM);
    uint64_t deadline = now_ms() + (uint64_t)grace_ms;
    while (!lt_child_poll(c) && now_ms() < deadline) {
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (!c->reaped) {
        kill(-c->pid, SIGKILL);
        int st;
        if (waitpid(c->pid, &st, 0) == c->pid) {
            c->reaped = 1;
            c->status = st;
        }
    }
    kill(-c->pid, SIGKILL);
}

void
lt_child_describe(const lt_child *c, char *out, size_t outlen)
{
    if (!c->reaped)
        snprintf(out, outlen, "still running");
    else if (WIFEXITED(c->status))
        snprintf(out, outlen, "exited with status %d", WEXITSTATUS(c->status));
    else if (WIFSIGNALED(c->status))
        snprintf(out, outlen, "killed by signal %d (%s)", WTERMSIG(c->status),
                 strsignal(WTERMSIG(c->status)));
    else
        snprintf(out, outlen, "ended");
}

/* PYTHONPATH with dir first. */
static char *
python_path(const char *dir)
{
    const char *old = getenv("PYTHONPATH");
    if (old != NULL && old[0] != '\0')
        return lt_asprintf("%s:%s", dir, old);
    return lt_strdup(dir);
}

/* In the child after fork: become a group leader, set the environment, exec. On failure the
 * errno goes up errpipe. Never returns. */
static void
exec_child(char *const argv[], const lt_launch_opts *o, const char *pypath, int ready_wr,
           int errpipe_wr)
{
    setpgid(0, 0);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGXFSZ, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (o->output_fd > 0) {
        dup2(o->output_fd, 1);
        dup2(o->output_fd, 2);
    } else if (o->stdout_to_stderr) {
        dup2(2, 1);
    }
    char fdtext[16];
    snprintf(fdtext, sizeof fdtext, "%d", ready_wr);
    setenv("LEAKTOP_READY_FD", fdtext, 1);
    setenv("PYTHONPATH", pypath, 1);
    setenv("LEAKTOP_AUTOSTART", "1", 1);
    if (o->options != NULL) {
        /* The user's own LEAKTOP_OPTIONS (sample_bytes=65536,frames=32) stay; ours come last,
         * so a command-line flag wins over the same key in the environment. */
        const char *user = getenv("LEAKTOP_OPTIONS");
        char merged[1024];
        size_t ul = user ? strlen(user) : 0, ol = strlen(o->options);
        if (ul > 0 && ul + ol + 2 <= sizeof merged) {
            memcpy(merged, user, ul);
            merged[ul] = ',';
            memcpy(merged + ul + 1, o->options, ol + 1);
            setenv("LEAKTOP_OPTIONS", merged, 1);
        } else {
            setenv("LEAKTOP_OPTIONS", o->options, 1);
        }
    }
    execvp(argv[0], argv);
    int e = errno;
    ssize_t w = write(errpipe_wr, &e, sizeof e);
    (void)w;
    _exit(127);
}

/* Read the bootstrap's answer: "R <pid>" or "E <message>". Returns 1 ready, 0 not yet (or the
 * pipe closed without an answer), -1 error (*cause). */
static int
read_answer(int fd, char *line, size_t cap, size_t *len, pid_t *agent_pid, char **cause,
            int *closed)
{
    ssize_t n = read(fd, line + *len, cap - 1 - *len);
    if (n == 0) {
        *closed = 1;
        return 0;
    }
    if (n < 0)
        return 0;
    *len += (size_t)n;
    line[*len] = '\0';
    char *nl = strchr(line, '\n');
    if (nl == NULL)
        return *len >= cap - 1 ? (*cause = lt_asprintf("garbled answer from the agent"), -1) : 0;
    *nl = '\0';
    if (line[0] == 'R' && line[1] == ' ') {
        *agent_pid = (pid_t)strtol(line + 2, NULL, 10);
        return 1;
    }
    if (line[0] == 'E' && line[1] == ' ') {
        *cause = lt_strdup(line + 2);
        return -1;
    }
    *cause = lt_asprintf("garbled answer from the agent: %s", line);
    return -1;
}

char *
lt_launch_agent_options(char *out, size_t outlen, double interval_s, double budget_pct)
{
    out[0] = '\0';
    size_t n = 0;
    if (interval_s > 0)
        n += (size_t)snprintf(out, outlen, "interval=%g", interval_s);
    if (budget_pct > 0 && n < outlen)
        snprintf(out + n, outlen - n, "%sbudget=%g", n ? "," : "", budget_pct / 100.0);
    return out;
}

int
lt_launch(char *const argv[], const lt_launch_opts *o, lt_child *child, pid_t *agent_pid,
          char **cause)
{
    memset(child, 0, sizeof *child);
    char dir[PATH_MAX];
    if (lt_agent_dir(dir, sizeof dir, cause) < 0)
        return -1;
    char *pypath = python_path(dir);
    int ready[2], errpipe[2];
    if (pypath == NULL || pipe2(ready, O_CLOEXEC) < 0) {
        lt_free(pypath);
        *cause = lt_asprintf("pipe: %s", strerror(errno));
        return -1;
    }
    if (pipe2(errpipe, O_CLOEXEC) < 0) {
        close(ready[0]);
        close(ready[1]);
        lt_free(pypath);
        *cause = lt_asprintf("pipe: %s", strerror(errno));
        return -1;
    }
    /* The write end must survive exec: clear close-on-exec on it (in the child only). */
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        close(errpipe[0]);
        fcntl(ready[1], F_SETFD, 0);
        exec_child(argv, o, pypath, ready[1], errpipe[1]);
    }
    lt_free(pypath);
    close(ready[1]);
    close(errpipe[1]);
    if (pid < 0) {
        close(ready[0]);
        close(errpipe[0]);
        *cause = lt_asprintf("fork: %s", strerror(errno));
        return -1;
    }
    child->pid = pid;
    setpgid(pid, pid); /* also here, so the group exists before we might signal it */

    int e = 0;
    ssize_t r;
    while ((r = read(errpipe[0], &e, sizeof e)) < 0 && errno == EINTR) {
    }
    close(errpipe[0]);
    if (r == (ssize_t)sizeof e) {
        close(ready[0]);
        lt_child_terminate(child, 0);
        *cause = lt_asprintf("cannot run '%s': %s", argv[0], strerror(e));
        return -1;
    }

    int timeout = o->timeout_ms > 0 ? o->timeout_ms : 15000;
    uint64_t deadline = now_ms() + (uint64_t)timeout;
    char line[1024];
    size_t len = 0;
    int closed = 0, rc = 0;
    *cause = NULL;
    while (rc == 0) {
        if (lt_child_poll(child)) {
            /* It ended: read what it may have said first. */
            rc = read_answer(ready[0], line, sizeof line, &len, agent_pid, cause, &closed);
            if (rc != 0)
                break;
            char how[128];
            lt_child_describe(child, how, sizeof how);
            *cause = lt_asprintf("'%s' %s before the leaktop agent started (is it a Python "
                                 "program?)",
                                 argv[0], how);
            rc = -1;
            break;
        }
        uint64_t now = now_ms();
        if (now >= deadline) {
            *cause = lt_asprintf("'%s' did not load the leaktop agent within %d s: is it a "
                                 "Python program (3.8 or newer), started without -S, -I or -E?",
                                 argv[0], timeout / 1000);
            rc = -1;
            break;
        }
        if (closed) {
            /* The pipe closed without an answer; keep watching the child until the deadline. */
            struct timespec ts = {0, 50 * 1000000};
            nanosleep(&ts, NULL);
            continue;
        }
        struct pollfd pfd = {.fd = ready[0], .events = POLLIN};
        int wait = (int)(deadline - now);
        poll(&pfd, 1, wait < 100 ? wait : 100);
        if (pfd.revents)
            rc = read_answer(ready[0], line, sizeof line, &len, agent_pid, cause, &closed);
    }
    close(ready[0]);
    if (rc < 0) {
        lt_child_terminate(child, 2000);
        return -1;
    }
    return 0;
}
