/*
 * Attaching to a running Python process, and detaching. docs/attach.md explains the sequence.
 *
 * On 3.14+ the PEP 768 route comes first (pep768_route, remote_exec.c): the loader below is
 * written to a script file in the ticket directory and a request to run it is written into the
 * main thread's state with process_vm_writev; when the main thread stays blocked in a system
 * call, into every other Python thread's state too. Nothing is stopped or traced. Requests not
 * taken are withdrawn at the end. gdb (below) is the fallback when no thread takes it, and when
 * the target's debug offsets are not a layout known here.
 *
 * With gdb, in short:
 *
 *   1. Everything that can be checked without ptrace is checked first (the process exists, is
 *      yours, runs Python 3.8+, an agent is built for its version, gdb is installed).
 *   2. gdb attaches (all threads stop), maps one page in the target, writes a small Python
 *      program there and queues it with Py_AddPendingCall (a 39-byte routine that calls
 *      PyRun_SimpleString(page) and always returns 0), then detaches at once. Only mmap (a system call) and Py_AddPendingCall (a short critical
 *      section of its own) run at the stopped instruction; neither allocates or takes a lock
 *      the program may hold. The interpreter runs the pending call itself at its next safe
 *      point: in the main thread, holding the GIL, between two bytecodes, exactly where it runs
 *      signal handlers. The Python program imports the agent built for that interpreter and
 *      starts it.
 *   3. A main thread blocked in a system call (time.sleep, a read on a pipe) never reaches that
 *      point. If no answer comes within PENDING_WAIT_MS, gdb attaches again and, on a thread
 *      parked in a blocking system call inside libc (which holds no allocator or loader lock),
 *      calls pthread_create on a 67-byte routine written into the page: it takes the GIL with
 *      PyGILState_Ensure like any C extension thread, runs the same Python program, releases
 *      the GIL and ends. gdb detaches at once again.
 *   4. The Python program claims a one-time ticket (a rename in a private directory) before it
 *      does anything, so it runs once whichever route gets there first, and never after leaktop
 *      gave up (leaktop removes the ticket).
 *
 * gdb runs in its own session under our control through its machine interface (MI), with a
 * deadline on every command. If it stops answering, it is interrupted, told to detach, to exit,
 * then terminated (gdb detaches on SIGTERM) and killed as the last resort; the target is never
 * signalled except with SIGCONT when a killed gdb left it in a stop it was not in before.
 */
#define _GNU_SOURCE
#include "attach.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "launch.h"
#include "leaktop/mem.h"
#include "leaktop/sockpath.h"
#include "leaktop/version.h"
#include "model.h"
#include "remote_exec.h"

#ifndef LEAKTOP_AGENT_HOWTO /* the advice for a Python with no agent here; its %s: the interpreter */
#define LEAKTOP_AGENT_HOWTO "build one with: meson configure build -Dpythons=%s && ninja -C build"
#endif

#define PENDING_WAIT_MS 1000   /* how long the pending call alone may take before step 3 */
#define MAIN_BLOCKED_MS 250    /* ... or less, when the main thread has not woken up for this */
#define GDB_START_MS 10000     /* gdb started, attached and stopped the target */
#define GDB_CALL_MS 5000       /* one command (an inferior call is microseconds of work) */
#define GDB_QUIT_MS 3000       /* each step of ending gdb */
#define CLAIMED_WAIT_MS 10000  /* the agent is starting (ticket claimed): time to answer */
#define PAGE_THUNK 0x000       /* layout of the page mapped in the target (read, exec) */
#define PAGE_PENDING 0x050     /* the pending call: PyRun_SimpleString, result kept, return 0 */
#define PAGE_CODE 0x100        /* the Python source, NUL-terminated */
#define DATA_ATTR 0x000        /* and of the data page (read, write): pthread_attr_t */
#define DATA_TID 0x080         /* pthread_t written by pthread_create */
#define DATA_STATUS 0x0c0      /* int: what PyRun_SimpleString returned in the pending call */
#define STATUS_NOT_RUN 0x7fffffff
#define WATCH_MAX 64           /* threads watched, and PEP 768 requests made, at most */
#define CONSUMED_WAIT_MS 3000  /* a PEP 768 request was taken: time for its loader to claim */

/* ---- time and small helpers ------------------------------------------------------------ */

static volatile sig_atomic_t attach_signal; /* a signal that interrupts the attach */

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Read a small text file. Returns its length, or -1 with errno. */
static ssize_t
read_text(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    return (ssize_t)n;
}

/* The process state letter from /proc/PID/stat (R, S, D, T, t, Z, ...), or 0 when gone. */
static char
proc_state(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    if (read_text(path, buf, sizeof buf) <= 0)
        return 0;
    const char *p = strrchr(buf, ')'); /* the command name may hold anything, even ")" */
    return p != NULL && p[1] == ' ' ? p[2] : 0;
}

/* The numbers after key in /proc/PID/status ("Uid:", "TracerPid:"). Returns how many. */
static int
proc_status_numbers(pid_t pid, const char *key, long *v, int max)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    if (read_text(path, buf, sizeof buf) <= 0)
        return 0;
    size_t klen = strlen(key);
    for (char *line = buf; line != NULL && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, key, klen) != 0)
            continue;
        char *p = line + klen, *end;
        int n = 0;
        while (n < max) {
            long x = strtol(p, &end, 10);
            if (end == p)
                break;
            v[n++] = x;
            p = end;
        }
        return n;
    }
    return 0;
}

static const char *
user_name(uid_t uid, char *buf, size_t len)
{
    struct passwd *pw = getpwuid(uid);
    if (pw != NULL && pw->pw_name != NULL)
        snprintf(buf, len, "%s", pw->pw_name);
    else
        snprintf(buf, len, "uid %u", (unsigned)uid);
    return buf;
}

static const char *
proc_comm(pid_t pid, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/comm", (long)pid);
    if (read_text(path, buf, len) <= 0)
        snprintf(buf, len, "?");
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

/* ---- what the process is --------------------------------------------------------------- */

/* "3.11" from the digits after "libpython3." or "python3.", into v. */
static int
version_after(const char *p, char *v, size_t vlen)
{
    char *end;
    long minor = strtol(p, &end, 10);
    if (end == p || minor < 0 || minor > 99)
        return 0;
    snprintf(v, vlen, "3.%ld%s", minor, *end == 't' ? "t" : "");
    return 1;
}

int
lt_attach_python_version(pid_t pid, char *version, size_t vlen)
{
    char path[64], exe[PATH_MAX], line[PATH_MAX + 256];
    char from_lib[16] = "", from_exe[16] = "", from_ext[16] = "";
    int python = 0;
    version[0] = '\0';
    snprintf(path, sizeof path, "/proc/%ld/exe", (long)pid);
    ssize_t n = readlink(path, exe, sizeof exe - 1);
    if (n < 0 && errno == ENOENT)
        return -1;
    int hidden = n < 0 && (errno == EACCES || errno == EPERM);
    if (n > 0) {
        exe[n] = '\0';
        const char *base = strrchr(exe, '/');
        base = base ? base + 1 : exe;
        if (strncmp(base, "python", 6) == 0) {
            python = 1;
            if (strncmp(base, "python3.", 8) == 0)
                version_after(base + 8, from_exe, sizeof from_exe);
        }
    }
    snprintf(path, sizeof path, "/proc/%ld/maps", (long)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return python ? 1 : errno == ENOENT ? -1 : hidden ? 2 : 0;
    while (fgets(line, sizeof line, f)) {
        char *file = strchr(line, '/');
        if (file == NULL)
            continue;
        file[strcspn(file, "\n")] = '\0';
        const char *base = strrchr(file, '/') + 1;
        if (strncmp(base, "libpython3.", 11) == 0) {
            python = 1;
            if (!from_lib[0])
                version_after(base + 11, from_lib, sizeof from_lib);
        }
        const char *ext = strstr(base, ".cpython-3");
        if (ext != NULL && !from_ext[0]) {
            /* "x.cpython-311-x86_64-linux-gnu.so": minor version = the digits after "3". */
            python = 1;
            version_after(ext + 10, from_ext, sizeof from_ext);
        }
    }
    fclose(f);
    const char *v = from_lib[0] ? from_lib : from_exe[0] ? from_exe : from_ext;
    snprintf(version, vlen, "%s", v);
    return python;
}

/* The agent module built for version ("3.11") in dir, into out. Returns 1 found, 0 not. */
static int
agent_module(const char *dir, const char *version, char *out, size_t outlen)
{
    char prefix[64];
    int minor = atoi(version + 2);
    int ft = strchr(version, 't') != NULL;
    snprintf(prefix, sizeof prefix, "leaktop.cpython-3%d%s-", minor, ft ? "t" : "");
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && len > 3 &&
            strcmp(e->d_name + len - 3, ".so") == 0 &&
            (size_t)snprintf(out, outlen, "%s/%s", dir, e->d_name) < outlen)
            found = 1;
    }
    closedir(d);
    return found;
}

/* gdb: $LEAKTOP_GDB, else the first `gdb` on PATH. */
static int
find_gdb(char *out, size_t outlen)
{
    const char *env = getenv("LEAKTOP_GDB");
    if (env != NULL && env[0] != '\0') {
        snprintf(out, outlen, "%s", env);
        return access(out, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/usr/bin:/bin";
    while (*path) {
        size_t len = strcspn(path, ":");
        if (len > 0 && (size_t)snprintf(out, outlen, "%.*s/gdb", (int)len, path) < outlen &&
            access(out, X_OK) == 0)
            return 1;
        path += len;
        if (*path == ':')
            path++;
    }
    return 0;
}

/* ---- system calls a thread can be parked in -------------------------------------------- */

/* A thread stopped inside one of these (called through libc) holds no allocator, loader or
 * thread-creation lock: it is a safe place for gdb to call pthread_create. futex only counts as
 * a wait on a condition variable or semaphore (read_syscalls): a plain futex wait may be malloc
 * waiting for its arena lock. */
static const struct {
    long nr;
    const char *name;
    int parked;
} syscall_names[] = {
#ifdef SYS_read
    {SYS_read, "read", 1},
#endif
#ifdef SYS_write
    {SYS_write, "write", 1},
#endif
#ifdef SYS_readv
    {SYS_readv, "readv", 1},
#endif
#ifdef SYS_writev
    {SYS_writev, "writev", 1},
#endif
#ifdef SYS_pread64
    {SYS_pread64, "pread64", 1},
#endif
#ifdef SYS_poll
    {SYS_poll, "poll", 1},
#endif
#ifdef SYS_ppoll
    {SYS_ppoll, "ppoll", 1},
#endif
#ifdef SYS_select
    {SYS_select, "select", 1},
#endif
#ifdef SYS_pselect6
    {SYS_pselect6, "pselect6", 1},
#endif
#ifdef SYS_epoll_wait
    {SYS_epoll_wait, "epoll_wait", 1},
#endif
#ifdef SYS_epoll_pwait
    {SYS_epoll_pwait, "epoll_pwait", 1},
#endif
#ifdef SYS_epoll_pwait2
    {SYS_epoll_pwait2, "epoll_pwait2", 1},
#endif
#ifdef SYS_nanosleep
    {SYS_nanosleep, "nanosleep", 1},
#endif
#ifdef SYS_clock_nanosleep
    {SYS_clock_nanosleep, "clock_nanosleep", 1},
#endif
#ifdef SYS_pause
    {SYS_pause, "pause", 1},
#endif
#ifdef SYS_rt_sigsuspend
    {SYS_rt_sigsuspend, "rt_sigsuspend", 1},
#endif
#ifdef SYS_rt_sigtimedwait
    {SYS_rt_sigtimedwait, "rt_sigtimedwait", 1},
#endif
#ifdef SYS_accept
    {SYS_accept, "accept", 1},
#endif
#ifdef SYS_accept4
    {SYS_accept4, "accept4", 1},
#endif
#ifdef SYS_connect
    {SYS_connect, "connect", 1},
#endif
#ifdef SYS_recvfrom
    {SYS_recvfrom, "recvfrom", 1},
#endif
#ifdef SYS_recvmsg
    {SYS_recvmsg, "recvmsg", 1},
#endif
#ifdef SYS_recvmmsg
    {SYS_recvmmsg, "recvmmsg", 1},
#endif
#ifdef SYS_sendto
    {SYS_sendto, "sendto", 1},
#endif
#ifdef SYS_sendmsg
    {SYS_sendmsg, "sendmsg", 1},
#endif
#ifdef SYS_wait4
    {SYS_wait4, "wait4", 1},
#endif
#ifdef SYS_waitid
    {SYS_waitid, "waitid", 1},
#endif
#ifdef SYS_flock
    {SYS_flock, "flock", 1},
#endif
#ifdef SYS_futex
    {SYS_futex, "futex", 0},
#endif
#ifdef SYS_mmap
    {SYS_mmap, "mmap", 0},
#endif
#ifdef SYS_munmap
    {SYS_munmap, "munmap", 0},
#endif
#ifdef SYS_ioctl
    {SYS_ioctl, "ioctl", 0},
#endif
};

static const char *
syscall_name(long nr, int *parked)
{
    *parked = 0;
    for (size_t i = 0; i < sizeof syscall_names / sizeof syscall_names[0]; i++)
        if (syscall_names[i].nr == nr) {
            *parked = syscall_names[i].parked;
            return syscall_names[i].name;
        }
    return NULL;
}

/* ---- the target, as gdb and /proc show it ------------------------------------------------ */

typedef struct code_range {
    uint64_t lo, hi;
} code_range;

typedef struct thread_info {
    int gdb_id;
    pid_t lwp;
    long sysno;   /* system call it is stopped in, -1 none */
    uint64_t pc;
    int parked;   /* in a parked system call, called from libc */
} thread_info;

#define MAX_THREADS 256

typedef struct target {
    pid_t pid;
    char version[16];
    char exe[PATH_MAX];
    char agent_dir[PATH_MAX];
    char libpython[PATH_MAX]; /* mapped libpython, "" for a static interpreter */
    char libc[PATH_MAX];
    char libpthread[PATH_MAX];
    code_range libc_code[8];
    int nlibc_code;
    thread_info threads[MAX_THREADS];
    int nthreads;
} target;

/* Libraries and libc's code ranges from /proc/PID/maps. */
static void
read_maps(target *t)
{
    char path[64], line[PATH_MAX + 256];
    snprintf(path, sizeof path, "/proc/%ld/maps", (long)t->pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return;
    t->nlibc_code = 0;
    while (fgets(line, sizeof line, f)) {
        char *file = strchr(line, '/');
        if (file == NULL)
            continue;
        file[strcspn(file, "\n")] = '\0';
        const char *base = strrchr(file, '/') + 1;
        unsigned long long lo, hi;
        char perms[8];
        if (sscanf(line, "%llx-%llx %7s", &lo, &hi, perms) != 3)
            continue;
        int is_libc = strncmp(base, "libc.so", 7) == 0 || strncmp(base, "libc-2.", 7) == 0 ||
                      strncmp(base, "ld-musl", 7) == 0;
        int is_pthread = strncmp(base, "libpthread", 10) == 0;
        if (strncmp(base, "libpython3", 10) == 0 && !t->libpython[0])
            snprintf(t->libpython, sizeof t->libpython, "%s", file);
        if (is_libc && !t->libc[0])
            snprintf(t->libc, sizeof t->libc, "%s", file);
        if (is_pthread && !t->libpthread[0])
            snprintf(t->libpthread, sizeof t->libpthread, "%s", file);
        if ((is_libc || is_pthread) && perms[2] == 'x' && t->nlibc_code < 8)
            t->libc_code[t->nlibc_code++] = (code_range){lo, hi};
    }
    fclose(f);
}

static int
in_libc(const target *t, uint64_t pc)
{
    for (int i = 0; i < t->nlibc_code; i++)
        if (pc >= t->libc_code[i].lo && pc < t->libc_code[i].hi)
            return 1;
    return 0;
}

/* While the target is stopped: which system call each thread is in (/proc/TID/syscall is stable
 * then: "NR args... sp pc", or "-1 sp pc" outside a system call). */
static void
read_syscalls(target *t)
{
    for (int i = 0; i < t->nthreads; i++) {
        thread_info *th = &t->threads[i];
        char path[96], buf[512];
        th->sysno = -1;
        th->pc = 0;
        th->parked = 0;
        snprintf(path, sizeof path, "/proc/%ld/task/%ld/syscall", (long)t->pid, (long)th->lwp);
        if (read_text(path, buf, sizeof buf) <= 0 || strncmp(buf, "running", 7) == 0)
            continue;
        char *p = buf;
        th->sysno = strtol(p, &p, 10);
        strtoull(p, &p, 16);                       /* first argument */
        unsigned long long arg2 = strtoull(p, &p, 16);
        const char *last = strrchr(buf, ' ');
        if (last != NULL)
            th->pc = strtoull(last + 1, NULL, 16);
        int parked = 0;
        if (th->sysno >= 0 && syscall_name(th->sysno, &parked) != NULL && in_libc(t, th->pc)) {
#ifdef SYS_futex
            /* FUTEX_WAIT_BITSET: glibc's condition variables, semaphores and joins (every
             * Python lock and the GIL wait there), never a mutex or malloc's arena lock
             * (plain FUTEX_WAIT). */
            if (th->sysno == SYS_futex)
                parked = (arg2 & 127) == 9;
#endif
            th->parked = parked;
        }
    }
}

static thread_info *
main_thread(target *t)
{
    for (int i = 0; i < t->nthreads; i++)
        if (t->threads[i].lwp == t->pid)
            return &t->threads[i];
    return t->nthreads > 0 ? &t->threads[0] : NULL;
}

/* A parked thread, the main thread first. NULL when none is. */
static thread_info *
parked_thread(target *t)
{
    thread_info *m = main_thread(t);
    if (m != NULL && m->parked)
        return m;
    for (int i = 0; i < t->nthreads; i++)
        if (t->threads[i].parked)
            return &t->threads[i];
    return NULL;
}

/* ---- gdb's machine interface ----------------------------------------------------------- */

typedef struct mi {
    pid_t pid;
    int wfd, rfd;
    char *buf;
    size_t len, cap, off; /* unread output is buf[off, len) */
    unsigned token;
    char *result;         /* the last result record, from '^' on */
    char msg[1024];       /* the last ^error's message */
    int stopped;          /* the target stopped since it last ran */
    int hung;             /* a command got no answer in time */
    int verbose;
} mi;

enum { MI_OK = 0, MI_ERROR = -1, MI_TIMEOUT = -2, MI_GONE = -3 };

static int
mi_start(mi *m, const char *gdb, char **cause)
{
    memset(m, 0, sizeof *m);
    m->wfd = m->rfd = -1;
    m->verbose = getenv("LEAKTOP_ATTACH_DEBUG") != NULL && getenv("LEAKTOP_ATTACH_DEBUG")[0];
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) < 0) {
        *cause = lt_asprintf("pipe: %s", strerror(errno));
        return -1;
    }
    if (pipe2(out, O_CLOEXEC) < 0) {
        close(in[0]);
        close(in[1]);
        *cause = lt_asprintf("pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        /* Its own session: a Ctrl-C in our terminal must never reach gdb (it would stop the
         * target). Messages in English, for the few we read. */
        setsid();
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(out[1], 2);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        setenv("LC_ALL", "C", 1);
        execl(gdb, gdb, "--interpreter=mi2", "-nx", "-q", "-readnever",
              "-iex", "set debuginfod enabled off", "-iex", "set auto-load off",
              "-iex", "set confirm off", "-iex", "set pagination off", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    if (pid < 0) {
        close(in[1]);
        close(out[0]);
        *cause = lt_asprintf("fork: %s", strerror(errno));
        return -1;
    }
    m->pid = pid;
    m->wfd = in[1];
    m->rfd = out[0];
    fcntl(m->rfd, F_SETFL, O_NONBLOCK);
    m->cap = 65536;
    m->buf = lt_malloc(m->cap);
    if (m->buf == NULL) {
        *cause = lt_asprintf("out of memory");
        return -1;
    }
    return 0;
}

/* The next line gdb printed, NUL-terminated (valid until the next call), or NULL with *rc
 * MI_TIMEOUT at the deadline or MI_GONE when gdb closed its output. */
static char *
mi_line(mi *m, int64_t deadline, int *rc)
{
    for (;;) {
        char *nl = m->off < m->len ? memchr(m->buf + m->off, '\n', m->len - m->off) : NULL;
        if (nl != NULL) {
            char *line = m->buf + m->off;
            *nl = '\0';
            if (nl > line && nl[-1] == '\r')
                nl[-1] = '\0';
            m->off = (size_t)(nl - m->buf) + 1;
            if (m->verbose)
                fprintf(stderr, "%6lld gdb< %.300s\n", (long long)(now_ms() % 1000000), line);
            if (strncmp(line, "*stopped", 8) == 0)
                m->stopped = 1;
            else if (strncmp(line, "*running", 8) == 0)
                m->stopped = 0;
            return line;
        }
        if (m->off > 0) {
            memmove(m->buf, m->buf + m->off, m->len - m->off);
            m->len -= m->off;
            m->off = 0;
        }
        if (m->len + 4096 > m->cap) {
            if (m->cap >= (64u << 20)) { /* a line this long is not gdb talking to us */
                *rc = MI_GONE;
                return NULL;
            }
            char *b = lt_realloc(m->buf, m->cap * 2);
            if (b == NULL) {
                *rc = MI_GONE;
                return NULL;
            }
            m->buf = b;
            m->cap *= 2;
        }
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            *rc = MI_TIMEOUT;
            return NULL;
        }
        struct pollfd p = {.fd = m->rfd, .events = POLLIN};
        int pr = poll(&p, 1, left > 200 ? 200 : (int)left);
        if (pr < 0 && errno != EINTR) {
            *rc = MI_GONE;
            return NULL;
        }
        if (pr <= 0)
            continue;
        ssize_t r = read(m->rfd, m->buf + m->len, m->cap - m->len - 1);
        if (r == 0) {
            *rc = MI_GONE;
            return NULL;
        }
        if (r > 0)
            m->len += (size_t)r;
        else if (errno != EAGAIN && errno != EINTR) {
            *rc = MI_GONE;
            return NULL;
        }
    }
}

/* Decode the MI C-string starting at the quote in s into out. */
static void
mi_cstring(const char *s, char *out, size_t outlen)
{
    size_t n = 0;
    if (*s == '"')
        s++;
    while (*s && *s != '"' && n + 1 < outlen) {
        char c = *s++;
        if (c == '\\' && *s) {
            c = *s++;
            if (c == 'n')
                c = ' ';
            else if (c == 't')
                c = ' ';
            else if (c >= '0' && c <= '7') {
                int v = c - '0';
                for (int k = 0; k < 2 && *s >= '0' && *s <= '7'; k++)
                    v = v * 8 + (*s++ - '0');
                c = (char)v;
            }
        }
        out[n++] = c;
    }
    out[n] = '\0';
}

static int
mi_send(mi *m, const char *text, size_t len)
{
    while (len > 0) {
        ssize_t w = write(m->wfd, text, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        text += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Send one MI command and wait for its result record. Returns MI_OK, MI_ERROR (m->msg), or
 * MI_TIMEOUT / MI_GONE. */
static int mi_cmd(mi *m, int timeout_ms, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
mi_cmd(mi *m, int timeout_ms, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *body = NULL;
    int blen = vasprintf(&body, fmt, ap);
    va_end(ap);
    if (blen < 0)
        return MI_GONE;
    unsigned tok = ++m->token;
    char head[16];
    int hlen = snprintf(head, sizeof head, "%u", tok);
    if (m->verbose)
        fprintf(stderr, "%6lld gdb> %u%.300s\n", (long long)(now_ms() % 1000000), tok, body);
    int sent = mi_send(m, head, (size_t)hlen) == 0 && mi_send(m, body, (size_t)blen) == 0 &&
               mi_send(m, "\n", 1) == 0;
    free(body);
    if (!sent)
        return MI_GONE;
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        int rc = MI_OK;
        char *line = mi_line(m, deadline, &rc);
        if (line == NULL) {
            m->hung = rc == MI_TIMEOUT;
            return rc;
        }
        char *end;
        unsigned long got = strtoul(line, &end, 10);
        if (end == line || got != tok || *end != '^')
            continue;
        lt_free(m->result);
        m->result = lt_strdup(end);
        if (strncmp(end, "^error", 6) == 0) {
            const char *msg = strstr(end, "msg=");
            mi_cstring(msg ? msg + 4 : "\"gdb failed\"", m->msg, sizeof m->msg);
            return MI_ERROR;
        }
        return MI_OK;
    }
}

/* Wait until the target is stopped (after an attach). */
static int
mi_wait_stopped(mi *m, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    while (!m->stopped) {
        int rc = MI_OK;
        if (mi_line(m, deadline, &rc) == NULL)
            return rc;
    }
    return MI_OK;
}

/* Evaluate expr in the target (maybe calling a function there) as an integer. */
static int mi_eval(mi *m, int timeout_ms, long long *out, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
mi_eval(mi *m, int timeout_ms, long long *out, const char *fmt, ...)
{
    char expr[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(expr, sizeof expr, fmt, ap);
    va_end(ap);
    int rc = mi_cmd(m, timeout_ms, "-data-evaluate-expression \"%s\"", expr);
    if (rc != MI_OK)
        return rc;
    const char *v = strstr(m->result, "value=\"");
    if (v == NULL) {
        snprintf(m->msg, sizeof m->msg, "gdb gave no value for %s", expr);
        return MI_ERROR;
    }
    *out = strtoll(v + 7, NULL, 0);
    return MI_OK;
}

/* The threads gdb sees, with their gdb ids and LWPs. */
static int
mi_threads(mi *m, target *t)
{
    int rc = mi_cmd(m, GDB_CALL_MS, "-thread-info");
    if (rc != MI_OK)
        return rc;
    t->nthreads = 0;
    for (const char *p = strstr(m->result, "{id=\""); p != NULL && t->nthreads < MAX_THREADS;) {
        thread_info *th = &t->threads[t->nthreads];
        memset(th, 0, sizeof *th);
        th->gdb_id = atoi(p + 5);
        const char *next = strstr(p + 5, "{id=\"");
        const char *tid = strstr(p, "target-id=\"");
        if (tid != NULL && (next == NULL || tid < next)) {
            const char *lwp = strstr(tid, "LWP ");
            const char *proc = strstr(tid, "process ");
            if (lwp != NULL && (next == NULL || lwp < next))
                th->lwp = (pid_t)atol(lwp + 4);
            else if (proc != NULL && (next == NULL || proc < next))
                th->lwp = (pid_t)atol(proc + 8);
        }
        if (th->gdb_id > 0 && th->lwp > 0)
            t->nthreads++;
        p = next;
    }
    return t->nthreads > 0 ? MI_OK : MI_ERROR;
}

/* End gdb: politely, then firmly. The target is detached in every case: by gdb itself, or by
 * the kernel when gdb dies. */
static void
mi_finish(mi *m, pid_t target_pid, char state_before)
{
    if (m->pid <= 0)
        goto out;
    if (!m->hung)
        mi_cmd(m, GDB_QUIT_MS, "-gdb-exit");
    close(m->wfd); /* EOF on its input also makes gdb detach and exit */
    m->wfd = -1;
    int st;
    int64_t deadline = now_ms() + GDB_QUIT_MS;
    int reaped = 0;
    while (!reaped && now_ms() < deadline) {
        if (waitpid(m->pid, &st, WNOHANG) == m->pid)
            reaped = 1;
        else
            sleep_ms(10);
    }
    if (!reaped) {
        kill(m->pid, SIGTERM); /* gdb detaches from attached processes on SIGTERM */
        deadline = now_ms() + GDB_QUIT_MS;
        while (!reaped && now_ms() < deadline) {
            if (waitpid(m->pid, &st, WNOHANG) == m->pid)
                reaped = 1;
            else
                sleep_ms(10);
        }
    }
    if (!reaped) {
        kill(m->pid, SIGKILL); /* the kernel detaches the target */
        waitpid(m->pid, &st, 0);
        /* A stop gdb had asked for may be left pending: resume what we stopped. */
        char now = proc_state(target_pid);
        if ((now == 'T' || now == 't') && state_before != 'T' && state_before != 't')
            kill(target_pid, SIGCONT);
    }
    m->pid = 0;
out:
    if (m->wfd >= 0)
        close(m->wfd);
    if (m->rfd >= 0)
        close(m->rfd);
    m->wfd = m->rfd = -1;
    lt_free(m->buf);
    lt_free(m->result);
    m->buf = m->result = NULL;
}

/* A command that did not answer in time: interrupt it (gdb unwinds an interrupted call with
 * unwindonsignal on) and detach. */
static void
mi_rescue(mi *m)
{
    if (m->pid <= 0)
        return;
    m->hung = 0;
    kill(m->pid, SIGINT);
    int rc = MI_OK;
    int64_t deadline = now_ms() + GDB_QUIT_MS;
    char *line;
    while ((line = mi_line(m, deadline, &rc)) != NULL)
        if (strstr(line, "^error") != NULL || strstr(line, "^done") != NULL)
            break;
    mi_cmd(m, GDB_QUIT_MS, "-target-detach");
}

/* ---- the Python program run in the target ----------------------------------------------- */

/* Runs inside the target, once (the ticket), never raising: an exception escaping a pending
 * call would surface as a SystemError in whatever the main thread runs. It binds no name in
 * __main__ (it runs in its own globals) and does not touch sys.path: the module is loaded by
 * its path, and registered as `leaktop` so the program can `import leaktop` afterwards. */
static const char attach_py[] =
    "def _leaktop_attach(d, agent_dir, expect, interval, leaktop_pid, via):\n"
    "    import os\n"
    "    import sys\n"
    "    try:\n"
    "        os.kill(leaktop_pid, 0)  # the leaktop that asked is still there\n"
    "    except ProcessLookupError:\n"
    "        return\n"
    "    except OSError:\n"
    "        pass\n"
    "    try:\n"
    "        os.rename(os.path.join(d, 'go'), os.path.join(d, 'claimed'))\n"
    "    except OSError:\n"
    "        return  # leaktop gave up, or the other route got here first\n"
    "    def answer(text):\n"
    "        tmp = os.path.join(d, 'answer.tmp')\n"
    "        try:\n"
    "            with open(tmp, 'w', encoding='utf-8', errors='replace') as f:\n"
    "                f.write(text + '\\n')\n"
    "            os.rename(tmp, os.path.join(d, 'answer'))\n"
    "        except OSError:\n"
    "            pass\n"
    "    version = '%d.%d' % sys.version_info[:2]\n"
    "    try:\n"
    "        mod = sys.modules.get('leaktop')\n"
    "        if mod is None:\n"
    "            import importlib.machinery\n"
    "            import importlib.util\n"
    "            path = None\n"
    "            for suffix in importlib.machinery.EXTENSION_SUFFIXES:\n"
    "                candidate = os.path.join(agent_dir, 'leaktop' + suffix)\n"
    "                if os.path.isfile(candidate):\n"
    "                    path = candidate\n"
    "                    break\n"
    "            if path is None:\n"
    "                answer(('E no leaktop agent built for Python %s (%s); '\n"
    "                        '" LEAKTOP_AGENT_HOWTO "')\n"
    "                       % (version, sys.executable, sys.executable))\n"
    "                return\n"
    "            loader = importlib.machinery.ExtensionFileLoader('leaktop', path)\n"
    "            spec = importlib.util.spec_from_file_location('leaktop', path, loader=loader)\n"
    "            mod = importlib.util.module_from_spec(spec)\n"
    "            loader.exec_module(mod)\n"
    "            sys.modules['leaktop'] = mod\n"
    "        elif not hasattr(mod, 'socket_path'):\n"
    "            answer('E the program has a module of its own named leaktop; the agent cannot '\n"
    "                   'be loaded beside it')\n"
    "            return\n"
    "        was_running = mod.is_running()\n"
    "        if not was_running:\n"
    "            opts = {'interval': interval} if interval > 0 else {}\n"
    "            mod.start(**opts)\n"
    "        where = mod.socket_path()\n"
    "        if where != expect:\n"
    "            if not was_running:\n"
    "                mod.stop()\n"
    "            answer('X %s' % os.environ.get('XDG_RUNTIME_DIR', ''))\n"
    "            return\n"
    "        import _thread\n"
    "        how = 'main' if _thread.get_native_id() == os.getpid() else 'thread'\n"
    "        answer('R %d %s %s %s' % (os.getpid(), version, how, via))\n"
    "    except KeyboardInterrupt:\n"
    "        answer('E interrupted by SIGINT while the agent was starting')\n"
    "        try:\n"
    "            import _thread\n"
    "            _thread.interrupt_main()  # the program still gets its Ctrl-C\n"
    "        except BaseException:\n"
    "            pass\n"
    "    except BaseException as e:\n"
    "        answer('E agent not started: %s: %s' % (type(e).__name__, e))\n";

static void
hex_append(char *out, const void *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;
    out += strlen(out);
    for (size_t i = 0; i < len; i++) {
        *out++ = digits[p[i] >> 4];
        *out++ = digits[p[i] & 15];
    }
    *out = '\0';
}

/* The program above and its call, inside one try (nothing may escape into the program), the
 * arguments hex-encoded (no quoting to get wrong, paths may hold any byte). via names the route
 * in the answer: "gdb" or "pep768". This is the script a PEP 768 request runs (in a fresh
 * namespace of its own, no exec() involved). */
static char *
build_loader(const char *dir, const char *agent_dir, const char *expect, double interval,
             const char *via)
{
    size_t cap = 4 * (strlen(attach_py) + 3 * PATH_MAX + 1024);
    char *inner = lt_calloc(1, cap);
    if (inner == NULL)
        return NULL;
    /* Everything inside one try: nothing may escape into the program. */
    strcat(inner, "__name__ = '__leaktop_attach__'\ntry:\n");
    for (const char *l = attach_py; *l;) {
        size_t n = strcspn(l, "\n");
        strcat(inner, "    ");
        strncat(inner, l, n);
        strcat(inner, "\n");
        l += n + (l[n] == '\n');
    }
    strcat(inner, "    import os\n    _leaktop_attach(os.fsdecode(bytes.fromhex('");
    hex_append(inner, dir, strlen(dir));
    strcat(inner, "')), os.fsdecode(bytes.fromhex('");
    hex_append(inner, agent_dir, strlen(agent_dir));
    strcat(inner, "')), os.fsdecode(bytes.fromhex('");
    hex_append(inner, expect, strlen(expect));
    char tail[128];
    snprintf(tail, sizeof tail, "')), %.3f, %ld, '%s')\nexcept BaseException:\n    pass\n",
             interval, (long)getpid(), via);
    strcat(inner, tail);
    return inner;
}

/* The one statement PyRun_SimpleString runs: exec the loader, hex-encoded, in a fresh
 * namespace. */
static char *
build_code(const char *dir, const char *agent_dir, const char *expect, double interval)
{
    char *inner = build_loader(dir, agent_dir, expect, interval, "gdb");
    char *outer = inner != NULL ? lt_calloc(1, 2 * strlen(inner) + 512) : NULL;
    if (outer == NULL) {
        lt_free(inner);
        return NULL;
    }
    /* The outer try too: an audit hook may refuse exec() itself. */
    strcat(outer, "try:\n    __import__('builtins').exec(bytes.fromhex('");
    hex_append(outer, inner, strlen(inner));
    strcat(outer, "').decode('ascii'), {'__name__': '__leaktop_attach__'})\n"
                  "except BaseException:\n    pass\n");
    lt_free(inner);
    return outer;
}

#if defined(__x86_64__)
/* void *thunk(void *code): the start routine of the helper thread.
 *     endbr64; push rbx; push r12; sub rsp,8; mov r12,rdi
 *     movabs rax,PyGILState_Ensure; call rax; mov ebx,eax
 *     mov rdi,r12; movabs rax,PyRun_SimpleString; call rax
 *     mov edi,ebx; movabs rax,PyGILState_Release; call rax
 *     add rsp,8; pop r12; pop rbx; xor eax,eax; ret
 * The three addresses are patched in at THUNK_ENSURE, THUNK_RUN and THUNK_RELEASE. */
static const unsigned char thunk_code[] = {
    0xf3, 0x0f, 0x1e, 0xfa, 0x53, 0x41, 0x54, 0x48, 0x83, 0xec, 0x08, 0x49, 0x89, 0xfc,
    0x48, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xd0, 0x89, 0xc3,
    0x4c, 0x89, 0xe7, 0x48, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xd0,
    0x89, 0xdf, 0x48, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xd0,
    0x48, 0x83, 0xc4, 0x08, 0x41, 0x5c, 0x5b, 0x31, 0xc0, 0xc3,
};
#define THUNK_ENSURE 16
#define THUNK_RUN 33
#define THUNK_RELEASE 47
/* int pending(void *code): the pending call. It keeps PyRun_SimpleString's result where
 * leaktop can read it, and always returns 0: a pending call that returns -1 without an
 * exception set becomes a SystemError in whatever the main thread was running, and
 * PyRun_SimpleString returns -1 when something refuses the code before it even runs (an audit
 * hook refusing exec, say).
 *     endbr64; sub rsp,8; movabs rax,PyRun_SimpleString; call rax
 *     movabs rcx,status; mov [rcx],eax; xor eax,eax; add rsp,8; ret */
static const unsigned char pending_code[] = {
    0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0x83, 0xec, 0x08, 0x48, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0,
    0xff, 0xd0, 0x48, 0xb9, 0, 0, 0, 0, 0, 0, 0, 0, 0x89, 0x01, 0x31, 0xc0,
    0x48, 0x83, 0xc4, 0x08, 0xc3,
};
#define PENDING_RUN 10
#define PENDING_STATUS 22
#define HAVE_THUNK 1
#else
#define HAVE_THUNK 0
#endif

/* ---- refusals, in words ---------------------------------------------------------------- */

static char *
explain_ptrace_refused(pid_t pid, const char *gdb_msg)
{
    long tracer = 0;
    char comm[64];
    if (proc_status_numbers(pid, "TracerPid:", &tracer, 1) == 1 && tracer > 0)
        return lt_asprintf("cannot attach to pid %ld: it is already being traced by pid %ld "
                           "(%s), and a process can have only one tracer",
                           (long)pid, tracer, proc_comm((pid_t)tracer, comm, sizeof comm));
    char scope[32], note[96];
    int sc = -1;
    if (read_text("/proc/sys/kernel/yama/ptrace_scope", scope, sizeof scope) > 0) {
        sc = atoi(scope);
        snprintf(note, sizeof note, "kernel.yama.ptrace_scope is %d", sc);
    } else {
        snprintf(note, sizeof note, "this kernel has no Yama ptrace_scope");
    }
    /* /proc/PID files belong to root when the process is not dumpable. */
    char path[64];
    struct stat st;
    long uids[4] = {0};
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    int not_dumpable = stat(path, &st) == 0 && st.st_uid == 0 &&
                       proc_status_numbers(pid, "Uid:", uids, 4) >= 2 && uids[1] != 0;
    /* Do we hold CAP_SYS_PTRACE (bit 19 of CapEff) already? */
    int have_cap = 0;
    char capbuf[4096];
    if (read_text("/proc/self/status", capbuf, sizeof capbuf) > 0) {
        const char *c = strstr(capbuf, "CapEff:");
        if (c != NULL) {
            unsigned long long eff = strtoull(c + 7, NULL, 16);
            have_cap = (eff >> 19) & 1;
        }
    }
    const char *why;
    if (have_cap)
        why = "leaktop already has CAP_SYS_PTRACE, so a security policy forbids it (a "
              "container, seccomp, SELinux or AppArmor), or the process is protected";
    else if (sc == 1)
        why = "only a parent may trace its children; run leaktop as root or with "
              "CAP_SYS_PTRACE, or have ptrace_scope set to 0 (leaktop never changes it)";
    else if (sc == 2)
        why = "only root or CAP_SYS_PTRACE may attach (leaktop never changes it)";
    else if (sc == 3)
        why = "no process may attach until the next reboot";
    else if (not_dumpable)
        why = "the process is not dumpable (prctl(PR_SET_DUMPABLE, 0), or it changed "
              "credentials), so only root or CAP_SYS_PTRACE may attach";
    else
        why = "run leaktop as root or with CAP_SYS_PTRACE (a container or seccomp policy may "
              "also forbid ptrace)";
    return lt_asprintf("cannot attach to pid %ld: ptrace refused (%s): %s; %s", (long)pid,
                       gdb_msg, note, why);
}

/* Everything that can be refused without ptrace. Returns NULL, or the reason. */
static char *
precheck(target *t)
{
    pid_t pid = t->pid;
    char state = proc_state(pid);
    if (state == 0 || (kill(pid, 0) < 0 && errno == ESRCH))
        return lt_asprintf("no process with pid %ld", (long)pid);
    if (state == 'Z' || state == 'X')
        return lt_asprintf("pid %ld has exited (it is a zombie)", (long)pid);
    long uids[4] = {0};
    char name[64];
    uid_t me = geteuid();
    if (proc_status_numbers(pid, "Uid:", uids, 4) >= 2) {
        if (me != 0 && (uids[0] != (long)me || uids[1] != (long)me))
            return lt_asprintf("pid %ld belongs to %s, not to you; leaktop only attaches to your "
                               "own processes",
                               (long)pid, user_name((uid_t)uids[1], name, sizeof name));
        if (me == 0 && uids[1] != 0)
            return lt_asprintf("pid %ld belongs to %s, not to root; its agent's socket would be "
                               "that user's: attach as that user (sudo -u %s leaktop attach %ld)",
                               (long)pid, user_name((uid_t)uids[1], name, sizeof name), name,
                               (long)pid);
    }
    if (pid == getpid())
        return lt_asprintf("pid %ld is leaktop itself", (long)pid);
    long tracer = 0;
    char comm[64];
    if (proc_status_numbers(pid, "TracerPid:", &tracer, 1) == 1 && tracer > 0)
        return lt_asprintf("cannot attach to pid %ld: it is already being traced by pid %ld "
                           "(%s), and a process can have only one tracer",
                           (long)pid, tracer, proc_comm((pid_t)tracer, comm, sizeof comm));
    if (state == 'T' || state == 't')
        return lt_asprintf("pid %ld is stopped; resume it first (kill -CONT %ld)", (long)pid,
                           (long)pid);
    char a[PATH_MAX], b[PATH_MAX], p[64];
    snprintf(p, sizeof p, "/proc/%ld/ns/mnt", (long)pid);
    ssize_t na = readlink("/proc/self/ns/mnt", a, sizeof a - 1), nb = readlink(p, b, sizeof b - 1);
    if (na > 0 && nb > 0 && (na != nb || memcmp(a, b, (size_t)na) != 0))
        return lt_asprintf("pid %ld runs in another mount namespace (a container?); run leaktop "
                           "inside it",
                           (long)pid);
    int py = lt_attach_python_version(pid, t->version, sizeof t->version);
    if (py < 0)
        return lt_asprintf("no process with pid %ld", (long)pid);
    snprintf(p, sizeof p, "/proc/%ld/exe", (long)pid);
    ssize_t n = readlink(p, t->exe, sizeof t->exe - 1);
    t->exe[n > 0 ? n : 0] = '\0';
    if (py == 2) {
        /* /proc hides its executable and maps (not dumpable, or protected): only its command
         * line is left to go by. Hand it to gdb only when that says Python. */
        char cmd[256] = "";
        snprintf(p, sizeof p, "/proc/%ld/cmdline", (long)pid);
        read_text(p, cmd, sizeof cmd);
        const char *base = strrchr(cmd, '/');
        base = base ? base + 1 : cmd;
        if (strncmp(base, "python", 6) == 0)
            return NULL;
        return lt_asprintf("pid %ld is not a Python process, as far as /proc shows (%s)",
                           (long)pid, cmd[0] ? cmd : proc_comm(pid, comm, sizeof comm));
    }
    if (!py)
        return lt_asprintf("pid %ld is not a Python process (%s)", (long)pid,
                           t->exe[0] ? t->exe : proc_comm(pid, comm, sizeof comm));
    return NULL;
}

/* The agent for t->version, or the reason there is none. */
static char *
check_version(target *t)
{
    char module[PATH_MAX];
    if (!t->version[0])
        return NULL; /* gdb will tell */
    if (atoi(t->version + 2) < 8)
        return lt_asprintf("pid %ld runs Python %s; leaktop supports Python 3.8 and newer",
                           (long)t->pid, t->version);
    if (!agent_module(t->agent_dir, t->version, module, sizeof module))
        return lt_asprintf("no leaktop agent built for Python %s (pid %ld runs %s); "
                           LEAKTOP_AGENT_HOWTO, t->version, (long)t->pid, t->exe, t->exe);
    return NULL;
}

/* ---- the injection --------------------------------------------------------------------- */

typedef struct attach_run {
    target t;
    mi g;
    int gdb_started;
    int attached;
    char state_before;
    sigset_t saved_mask;
    uint64_t page;     /* mapped in the target; 0 before */
    uint64_t data;     /* a writable page for the helper thread's attributes */
    int page_exec;     /* the helper-thread routine can run from page */
    size_t code_len;
    char *code;
    long long sym_run, sym_ensure, sym_release, sym_pending;
    long long sym_pthread_create, sym_attr_init, sym_attr_setdetach;
    char dir[PATH_MAX]; /* the private directory holding the ticket */
    char blocked_in[64];
    int64_t deadline;   /* of the whole attach */
    /* The PEP 768 route (3.14+): the requests made, withdrawn at the end. */
    lt_rexec rx;
    lt_rexec_thread rth[WATCH_MAX];
    unsigned char rsent[WATCH_MAX];
    int nrth;
    int main_blocked;  /* the main thread did not take the PEP 768 request: no pending-call wait */
} attach_run;

/* ms, or what is left of the attach when that is less (but at least a second). */
static int
budget(const attach_run *r, int ms)
{
    int64_t left = r->deadline - now_ms();
    if (left < 1000)
        left = 1000;
    return left < ms ? (int)left : ms;
}

static int path_exists(const char *dir, const char *name);
static int answered(attach_run *r);

/* While gdb holds the target stopped, our own SIGINT/SIGTERM/SIGHUP wait: leaving in the middle
 * would leave gdb to clean up alone. They are delivered right after the detach. */
static void
hold_signals(attach_run *r)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGINT);
    sigaddset(&s, SIGTERM);
    sigaddset(&s, SIGHUP);
    sigaddset(&s, SIGQUIT);
    sigaddset(&s, SIGTSTP);
    sigprocmask(SIG_BLOCK, &s, &r->saved_mask);
}

static void
release_signals(attach_run *r)
{
    sigprocmask(SIG_SETMASK, &r->saved_mask, NULL);
}

static char *
gdb_failed(attach_run *r, const char *what, int rc)
{
    if (rc == MI_TIMEOUT)
        return lt_asprintf("gdb did not answer in time while %s; it was ended and pid %ld left "
                           "running",
                           what, (long)r->t.pid);
    if (rc == MI_GONE)
        return lt_asprintf("gdb ended unexpectedly while %s", what);
    return lt_asprintf("gdb failed while %s in pid %ld: %s", what, (long)r->t.pid, r->g.msg);
}

static int
attach_gdb(attach_run *r, char **cause)
{
    hold_signals(r);
    int rc = mi_cmd(&r->g, budget(r, GDB_START_MS), "-target-attach %ld", (long)r->t.pid);
    if (rc == MI_OK) {
        r->attached = 1;
        rc = mi_wait_stopped(&r->g, budget(r, GDB_START_MS));
    }
    if (rc == MI_OK)
        return 0;
    if (rc == MI_ERROR) {
        release_signals(r);
        if (strstr(r->g.msg, "No such process") != NULL || proc_state(r->t.pid) == 0)
            *cause = lt_asprintf("no process with pid %ld (it exited)", (long)r->t.pid);
        else if (strstr(r->g.msg, "not permitted") != NULL || strstr(r->g.msg, "ptrace") != NULL)
            *cause = explain_ptrace_refused(r->t.pid, r->g.msg);
        else
            *cause = lt_asprintf("gdb could not attach to pid %ld: %s", (long)r->t.pid, r->g.msg);
        return -1;
    }
    *cause = gdb_failed(r, "attaching", rc);
    mi_rescue(&r->g);
    r->attached = 0;
    release_signals(r);
    return -1;
}

static void
detach_gdb(attach_run *r)
{
    if (r->attached) {
        if (r->g.hung || mi_cmd(&r->g, GDB_CALL_MS, "-target-detach") != MI_OK)
            mi_rescue(&r->g);
        r->attached = 0;
    }
    release_signals(r);
}

/* Load symbols of one library, minimal symbols only (-readnever): addresses, no debug info. */
static void
load_library(attach_run *r, const char *path)
{
    if (!path[0])
        return;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    /* A regex for the name, escaped once for the regex and once for the MI string. */
    char rx[PATH_MAX * 3];
    size_t n = 0;
    for (const char *c = base; *c && n + 4 < sizeof rx; c++) {
        if (strchr(".+*?[](){}^$|\\", *c) != NULL) {
            rx[n++] = '\\';
            rx[n++] = '\\';
        }
        rx[n++] = *c;
    }
    rx[n] = '\0';
    mi_cmd(&r->g, GDB_CALL_MS, "-interpreter-exec console \"sharedlibrary %s\"", rx);
}

static int
symbol(attach_run *r, const char *name, long long *out)
{
    return mi_eval(&r->g, GDB_CALL_MS, out, "(long)&%s", name) == MI_OK && *out != 0 ? 0 : -1;
}

/* Read the interpreter's version through gdb when /proc did not tell. */
static void
version_from_gdb(attach_run *r)
{
    long long hex = 0;
    if (mi_eval(&r->g, GDB_CALL_MS, &hex, "*(unsigned int *)&Py_Version") == MI_OK && hex > 0) {
        snprintf(r->t.version, sizeof r->t.version, "%lld.%lld", (hex >> 24) & 0xff,
                 (hex >> 16) & 0xff);
        return;
    }
    /* Before 3.11: Py_GetVersion() formats into a static buffer, no allocation. */
    if (mi_cmd(&r->g, GDB_CALL_MS, "-data-evaluate-expression \"(char *)Py_GetVersion()\"") ==
        MI_OK) {
        const char *q = strstr(r->g.result, "\\\"");
        if (q != NULL && q[2] == '3' && q[3] == '.')
            version_after(q + 4, r->t.version, sizeof r->t.version);
    }
}

static int
write_bytes(attach_run *r, uint64_t addr, const void *data, size_t len)
{
    char *hex = lt_calloc(1, 2 * len + 1);
    if (hex == NULL)
        return MI_ERROR;
    hex_append(hex, data, len);
    int rc = mi_cmd(&r->g, GDB_CALL_MS, "-data-write-memory-bytes 0x%llx %s",
                    (unsigned long long)addr, hex);
    lt_free(hex);
    return rc;
}

/* Select the thread gdb runs its calls on. */
static int
select_thread(attach_run *r, const thread_info *th)
{
    return mi_cmd(&r->g, GDB_CALL_MS, "-thread-select %d", th->gdb_id);
}

static void
describe_blocked(attach_run *r)
{
    thread_info *m = main_thread(&r->t);
    int parked;
    const char *name = m != NULL && m->sysno >= 0 ? syscall_name(m->sysno, &parked) : NULL;
    if (m == NULL || m->sysno < 0)
        r->blocked_in[0] = '\0';
    else if (name != NULL)
        snprintf(r->blocked_in, sizeof r->blocked_in, "%s()", name);
    else
        snprintf(r->blocked_in, sizeof r->blocked_in, "system call %ld", m->sysno);
}

/* Step 2: attach, map the page, write the program, queue the pending call, detach. Returns 0,
 * or -1 with *cause. *queued tells whether the pending call is in. */
static int
first_visit(attach_run *r, int *queued, char **cause)
{
    *queued = 0;
    if (attach_gdb(r, cause) < 0)
        return -1;
    int rc;
    read_maps(&r->t);
    load_library(r, r->t.libc);
    load_library(r, r->t.libpthread);
    load_library(r, r->t.libpython);
    if ((rc = mi_threads(&r->g, &r->t)) != MI_OK) {
        *cause = gdb_failed(r, "listing the threads", rc);
        goto fail;
    }
    read_syscalls(&r->t);
    describe_blocked(r);
    if (symbol(r, "Py_AddPendingCall", &r->sym_pending) < 0 ||
        symbol(r, "PyRun_SimpleString", &r->sym_run) < 0 ||
        symbol(r, "PyGILState_Ensure", &r->sym_ensure) < 0 ||
        symbol(r, "PyGILState_Release", &r->sym_release) < 0) {
        *cause = lt_asprintf("pid %ld is not a Python process gdb can work with: no CPython "
                             "runtime symbols (Py_AddPendingCall) in it",
                             (long)r->t.pid);
        goto fail;
    }
    if (!r->t.version[0]) {
        version_from_gdb(r);
        char *why = check_version(&r->t);
        if (why != NULL) {
            *cause = why;
            goto fail;
        }
    }
    /* A process that is finalizing would reject the call (and 3.8-3.11 would report it with a
     * thread state that may not exist). These read a flag; nothing else. */
    long long fin = 0;
    if (mi_eval(&r->g, GDB_CALL_MS, &fin, "(int)_Py_IsFinalizing()") != MI_OK)
        mi_eval(&r->g, GDB_CALL_MS, &fin, "(int)Py_IsFinalizing()");
    if (fin == 1) {
        *cause = lt_asprintf("pid %ld is exiting (its interpreter is finalizing)", (long)r->t.pid);
        goto fail;
    }
    r->page_exec = HAVE_THUNK && symbol(r, "pthread_create", &r->sym_pthread_create) == 0 &&
                   symbol(r, "pthread_attr_init", &r->sym_attr_init) == 0 &&
                   symbol(r, "pthread_attr_setdetachstate", &r->sym_attr_setdetach) == 0;

    /* Calls run on a parked thread when there is one (it holds no lock at all), else on the
     * main thread wherever it stopped: mmap is a system call and Py_AddPendingCall needs no
     * thread state and takes only its own short lock. */
    thread_info *host = parked_thread(&r->t);
    if (host == NULL)
        host = main_thread(&r->t);
    if (host == NULL || select_thread(r, host) != MI_OK) {
        *cause = gdb_failed(r, "selecting a thread", MI_ERROR);
        goto fail;
    }
    size_t size = (PAGE_CODE + r->code_len + 1 + 4095) & ~(size_t)4095;
    long long page = -1;
    /* PROT_READ|PROT_EXEC: gdb writes through ptrace; the program never sees it writable. */
    if (r->page_exec)
        rc = mi_eval(&r->g, GDB_CALL_MS, &page,
                     "(long)mmap((void *)0, (unsigned long)%zu, 5, 34, -1, (long)0)", size);
    if (!r->page_exec || rc != MI_OK || page == -1 || page == 0) {
        r->page_exec = 0;
        rc = mi_eval(&r->g, GDB_CALL_MS, &page,
                     "(long)mmap((void *)0, (unsigned long)%zu, 1, 34, -1, (long)0)", size);
    }
    if (rc != MI_OK || page == -1 || page == 0) {
        *cause = rc == MI_OK ? lt_asprintf("cannot map memory in pid %ld", (long)r->t.pid)
                             : gdb_failed(r, "mapping a page", rc);
        goto fail;
    }
    r->page = (uint64_t)page;
    if (r->page_exec) {
        long long data = -1;
        if (mi_eval(&r->g, GDB_CALL_MS, &data,
                    "(long)mmap((void *)0, (unsigned long)4096, 3, 34, -1, (long)0)") == MI_OK &&
            data != -1 && data != 0)
            r->data = (uint64_t)data;
        else
            r->page_exec = 0;
    }
    if ((rc = write_bytes(r, r->page + PAGE_CODE, r->code, r->code_len + 1)) != MI_OK) {
        *cause = gdb_failed(r, "writing the agent's loader", rc);
        goto fail;
    }
    /* Without an executable page, PyRun_SimpleString itself is the pending call. */
    uint64_t pending_fn = (uint64_t)r->sym_run;
#if HAVE_THUNK
    if (r->page_exec) {
        unsigned char thunk[sizeof thunk_code], pend[sizeof pending_code];
        uint64_t status = r->data + DATA_STATUS;
        int not_run = STATUS_NOT_RUN;
        memcpy(thunk, thunk_code, sizeof thunk);
        memcpy(thunk + THUNK_ENSURE, &r->sym_ensure, 8);
        memcpy(thunk + THUNK_RUN, &r->sym_run, 8);
        memcpy(thunk + THUNK_RELEASE, &r->sym_release, 8);
        memcpy(pend, pending_code, sizeof pend);
        memcpy(pend + PENDING_RUN, &r->sym_run, 8);
        memcpy(pend + PENDING_STATUS, &status, 8);
        if (write_bytes(r, r->page + PAGE_THUNK, thunk, sizeof thunk) == MI_OK &&
            write_bytes(r, r->data + DATA_STATUS, &not_run, sizeof not_run) == MI_OK &&
            write_bytes(r, r->page + PAGE_PENDING, pend, sizeof pend) == MI_OK)
            pending_fn = r->page + PAGE_PENDING;
        else
            r->page_exec = 0;
    }
#endif
    long long ok = -1;
    rc = mi_eval(&r->g, GDB_CALL_MS, &ok, "(int)((int (*)(void *, void *))0x%llx)"
                 "((void *)0x%llx, (void *)0x%llx)",
                 (unsigned long long)r->sym_pending, (unsigned long long)pending_fn,
                 (unsigned long long)(r->page + PAGE_CODE));
    if (rc != MI_OK) {
        *cause = gdb_failed(r, "queueing the pending call", rc);
        goto fail;
    }
    *queued = ok == 0;
    detach_gdb(r);
    return 0;
fail:
    detach_gdb(r);
    return -1;
}

/* Step 3: a helper thread, started from a parked thread. Returns 1 started, 0 no parked thread
 * (or no executable page), -1 with *cause. */
static int
second_visit(attach_run *r, char **cause)
{
    if (!r->page_exec)
        return 0;
    if (attach_gdb(r, cause) < 0)
        return -1;
    int rc = mi_threads(&r->g, &r->t);
    if (rc != MI_OK) {
        *cause = gdb_failed(r, "listing the threads", rc);
        detach_gdb(r);
        return -1;
    }
    read_syscalls(&r->t);
    describe_blocked(r);
    long long status = STATUS_NOT_RUN;
    if (mi_eval(&r->g, GDB_CALL_MS, &status, "*(int *)0x%llx",
                (unsigned long long)(r->data + DATA_STATUS)) == MI_OK &&
        status != STATUS_NOT_RUN) {
        detach_gdb(r);
        if (status == 0 && (path_exists(r->dir, "claimed") || answered(r)))
            return 0; /* it got there meanwhile */
        if (status != 0) /* the interpreter refused the code before any of it ran */
            *cause = lt_asprintf("pid %ld refused to run leaktop's loader (PyRun_SimpleString "
                                 "failed before any of it ran: an audit hook refusing exec?); "
                                 "its stderr says why; it runs on unchanged",
                                 (long)r->t.pid);
        else /* it ran, and did not find its ticket */
            *cause = lt_asprintf("leaktop's loader ran in pid %ld but could not reach %s (is "
                                 "it in another mount or pid namespace?); it runs on unchanged",
                                 (long)r->t.pid, r->dir);
        return -1;
    }
    thread_info *host = parked_thread(&r->t);
    if (host == NULL) {
        detach_gdb(r);
        return 0;
    }
    long long ok = -1;
    if ((rc = select_thread(r, host)) == MI_OK &&
        (rc = mi_eval(&r->g, GDB_CALL_MS, &ok, "(int)((int (*)(void *))0x%llx)((void *)0x%llx)",
                      (unsigned long long)r->sym_attr_init,
                      (unsigned long long)(r->data + DATA_ATTR))) == MI_OK && ok == 0 &&
        (rc = mi_eval(&r->g, GDB_CALL_MS, &ok,
                      "(int)((int (*)(void *, int))0x%llx)((void *)0x%llx, 1)",
                      (unsigned long long)r->sym_attr_setdetach,
                      (unsigned long long)(r->data + DATA_ATTR))) == MI_OK && ok == 0)
        rc = mi_eval(&r->g, GDB_CALL_MS, &ok,
                     "(int)((int (*)(void *, void *, void *, void *))0x%llx)((void *)0x%llx, "
                     "(void *)0x%llx, (void *)0x%llx, (void *)0x%llx)",
                     (unsigned long long)r->sym_pthread_create,
                     (unsigned long long)(r->data + DATA_TID),
                     (unsigned long long)(r->data + DATA_ATTR),
                     (unsigned long long)(r->page + PAGE_THUNK),
                     (unsigned long long)(r->page + PAGE_CODE));
    detach_gdb(r);
    if (rc != MI_OK) {
        *cause = gdb_failed(r, "starting the helper thread", rc);
        return -1;
    }
    return ok == 0 ? 1 : 0;
}

/* ---- waiting for the answer ------------------------------------------------------------ */

static int
path_exists(const char *dir, const char *name)
{
    char p[PATH_MAX + 32];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return lstat(p, &st) == 0;
}

static int
answered(attach_run *r)
{
    return path_exists(r->dir, "answer");
}

/* Wait until the answer comes, until deadline, or until the target is gone. A claimed ticket
 * means the agent is starting: that always gets CLAIMED_WAIT_MS. Returns 1 answered. */
static int
wait_answer(attach_run *r, int64_t deadline, int even_interrupted)
{
    int64_t claimed_deadline = 0;
    for (;;) {
        if (answered(r))
            return 1;
        if (proc_state(r->t.pid) == 0 || (attach_signal && !even_interrupted))
            return 0;
        int64_t now = now_ms();
        if (!claimed_deadline && path_exists(r->dir, "claimed"))
            claimed_deadline = now + CLAIMED_WAIT_MS;
        if (now >= (claimed_deadline > deadline ? claimed_deadline : deadline))
            return 0;
        sleep_ms(10);
    }
}

/* A thread's voluntary context switches, and whether it sits in a system call now (read
 * without ptrace). Returns -1 when unreadable (the thread is gone). */
static long long
thread_switches(pid_t pid, pid_t tid, int *in_syscall)
{
    char path[96], buf[4096];
    snprintf(path, sizeof path, "/proc/%ld/task/%ld/syscall", (long)pid, (long)tid);
    *in_syscall = read_text(path, buf, sizeof buf) > 0 && buf[0] >= '0' && buf[0] <= '9';
    snprintf(path, sizeof path, "/proc/%ld/task/%ld/status", (long)pid, (long)tid);
    if (read_text(path, buf, sizeof buf) <= 0)
        return -1;
    const char *v = strstr(buf, "voluntary_ctxt_switches:");
    return v != NULL ? strtoll(v + 24, NULL, 10) : -1;
}

/* Wait for the answer until deadline, but stop early when none of the n threads tids has woken
 * up once for MAIN_BLOCKED_MS: they are all blocked in system calls, and only another route
 * can help. Stops too when the ticket is claimed (the caller waits for the agent then).
 * Returns 1 answered. */
static int
wait_threads(attach_run *r, const pid_t *tids, int n, int64_t deadline)
{
    long long last[WATCH_MAX];
    int64_t since[WATCH_MAX];
    int in_syscall = 0;
    if (n > WATCH_MAX)
        n = WATCH_MAX;
    for (int i = 0; i < n; i++) {
        last[i] = thread_switches(r->t.pid, tids[i], &in_syscall);
        since[i] = now_ms();
    }
    while (now_ms() < deadline) {
        if (wait_answer(r, now_ms() + 20 < deadline ? now_ms() + 20 : deadline, 0))
            return 1;
        if (attach_signal || proc_state(r->t.pid) == 0 || path_exists(r->dir, "claimed"))
            return 0;
        int all_blocked = 1;
        for (int i = 0; i < n; i++) {
            long long sw = thread_switches(r->t.pid, tids[i], &in_syscall);
            if (sw < 0) /* gone: it will never take the request */
                continue;
            if (sw != last[i] || !in_syscall) {
                last[i] = sw;
                since[i] = now_ms();
            }
            if (now_ms() - since[i] < MAIN_BLOCKED_MS)
                all_blocked = 0;
        }
        if (all_blocked)
            return 0;
    }
    return answered(r);
}

/* Wait for the pending call's answer until deadline, but stop early when the main thread has
 * not woken up once for MAIN_BLOCKED_MS: it is blocked, and only the helper thread can help.
 * Returns 1 answered. */
static int
wait_pending(attach_run *r, int64_t deadline)
{
    return wait_threads(r, &r->t.pid, 1, deadline);
}

/* Remove the ticket and the directory. Returns 1 when the ticket was still there (nothing will
 * ever run), 0 when it was claimed. */
static int
cancel_ticket(attach_run *r)
{
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/go", r->dir);
    return unlink(p) == 0;
}

static void
remove_dir(const char *dir)
{
    static const char *names[] = {"go", "claimed", "answer", "answer.tmp", "loader.py"};
    char p[PATH_MAX + 32];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

static char *
read_answer(attach_run *r, const char **route)
{
    /* "R pid version main|thread gdb|pep768", "X their-XDG_RUNTIME_DIR" or "E message". */
    char p[PATH_MAX + 32], text[2048];
    snprintf(p, sizeof p, "%s/answer", r->dir);
    if (read_text(p, text, sizeof text) <= 0)
        return lt_asprintf("the agent in pid %ld gave no answer", (long)r->t.pid);
    text[strcspn(text, "\n")] = '\0';
    if (text[0] == 'R' && text[1] == ' ') {
        char version[16] = "", how[16] = "", via[16] = "";
        if (sscanf(text + 2, "%*s %15s %15s %15s", version, how, via) >= 1 && !r->t.version[0])
            snprintf(r->t.version, sizeof r->t.version, "%s", version);
        if (strcmp(via, "pep768") == 0)
            *route = strcmp(how, "thread") == 0 ? "PEP 768, another thread" : "PEP 768";
        else
            *route = strcmp(how, "thread") == 0 ? "helper thread" : "pending call";
        return NULL;
    }
    if (text[0] == 'X') {
        const char *theirs = text[1] == ' ' ? text + 2 : "";
        const char *mine = getenv("XDG_RUNTIME_DIR");
        return lt_asprintf("pid %ld has XDG_RUNTIME_DIR=%s and you have %s, so its agent's socket "
                           "is not where this leaktop looks; run: XDG_RUNTIME_DIR=%s leaktop "
                           "attach %ld",
                           (long)r->t.pid, theirs[0] ? theirs : "(unset)",
                           mine && *mine ? mine : "(unset)", theirs, (long)r->t.pid);
    }
    return lt_strdup(text[0] == 'E' && text[1] == ' ' ? text + 2 : text);
}

/* ---- signals during an attach ---------------------------------------------------------- */

/* SIGINT, SIGTERM and SIGHUP during an attach end it cleanly (ticket withdrawn, gdb ended);
 * the signal is raised again afterwards, under the handler the caller had (attach_signal is
 * declared at the top). */

static void
on_attach_signal(int sig)
{
    attach_signal = sig;
}

static const int attach_signals[] = {SIGINT, SIGTERM, SIGHUP};

static void
catch_signals(struct sigaction *saved)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_attach_signal;
    attach_signal = 0;
    for (size_t i = 0; i < 3; i++) {
        sigaction(attach_signals[i], NULL, &saved[i]);
        if (saved[i].sa_handler != SIG_IGN) /* what the caller ignores stays ignored */
            sigaction(attach_signals[i], &sa, NULL);
    }
}

static void
restore_signals(const struct sigaction *saved)
{
    for (size_t i = 0; i < 3; i++)
        sigaction(attach_signals[i], &saved[i], NULL);
    if (attach_signal)
        raise(attach_signal);
}

/* Directories of attaches whose leaktop is gone (killed mid-way): remove them. */
static void
remove_stale_dirs(const char *sockdir)
{
    DIR *d = opendir(sockdir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long owner = 0;
        if (sscanf(e->d_name, "attach-%ld-", &owner) != 1 || owner <= 0 ||
            (kill((pid_t)owner, 0) < 0 && errno == ESRCH) == 0)
            continue;
        char dir[PATH_MAX];
        if ((size_t)snprintf(dir, sizeof dir, "%s/%s", sockdir, e->d_name) < sizeof dir)
            remove_dir(dir);
    }
    closedir(d);
}

static int
timeout_from_env(void)
{
    const char *e = getenv("LEAKTOP_ATTACH_TIMEOUT");
    if (e == NULL || !*e)
        return LT_ATTACH_TIMEOUT_MS;
    double s = strtod(e, NULL);
    return s >= 1 && s <= 3600 ? (int)(s * 1000) : LT_ATTACH_TIMEOUT_MS;
}

static int
has_agent(pid_t pid)
{
    int kind = 0;
    char *why = NULL;
    int fd = lt_sock_connect(pid, &kind, &why);
    lt_free(why);
    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

/* ---- the PEP 768 route (3.14+) ---------------------------------------------------------- */

/* Is PEP 768 worth trying? Python 3.14 or newer and not free-threaded, or a version /proc
 * does not show (the target's own table tells then, and the same ptrace rules that hide its
 * maps would refuse gdb too). */
static int
pep768_eligible(const target *t)
{
    return !t->version[0] || (atoi(t->version + 2) >= 14 && strchr(t->version, 't') == NULL);
}

/* What the main thread sits in now, from /proc (no ptrace), into r->blocked_in. */
static void
blocked_in_now(attach_run *r)
{
    char path[96], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/task/%ld/syscall", (long)r->t.pid, (long)r->t.pid);
    r->blocked_in[0] = '\0';
    if (read_text(path, buf, sizeof buf) <= 0 || buf[0] < '0' || buf[0] > '9')
        return;
    int parked;
    long nr = strtol(buf, NULL, 10);
    const char *name = syscall_name(nr, &parked);
    if (name != NULL)
        snprintf(r->blocked_in, sizeof r->blocked_in, "%s()", name);
    else
        snprintf(r->blocked_in, sizeof r->blocked_in, "system call %ld", nr);
}

/* LEAKTOP_ATTACH_DEBUG=1: what the PEP 768 route does, on stderr, with timestamps (as gdb's
 * conversation is). */
static void pep768_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
pep768_debug(const char *fmt, ...)
{
    const char *e = getenv("LEAKTOP_ATTACH_DEBUG");
    if (e == NULL || !*e)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%6lld pep768: ", (long long)(now_ms() % 1000000));
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Write the request into the thread states rth[from, to) not asked yet. Returns how many
 * were asked, or -1 with *cause when the kernel refuses or the process is gone, or -2 with
 * *cause when the main thread's state could not be written for another reason (a layout that
 * is not what the table says: gdb may do better). */
static int
pep768_ask(attach_run *r, const char *script, int from, int to, char **cause)
{
    int asked = 0;
    for (int i = from; i < to; i++) {
        if (r->rsent[i])
            continue;
        int kind = 0;
        char *why = NULL;
        if (lt_rexec_send(&r->rx, r->rth[i].tstate, script, &kind, &why) == 0) {
            r->rsent[i] = 1;
            asked++;
            pep768_debug("asked thread %ld (state %#llx)", (long)r->rth[i].tid,
                         (unsigned long long)r->rth[i].tstate);
        } else if (kind == LT_REXEC_FORBIDDEN || kind == LT_REXEC_GONE || i == 0) {
            lt_free(*cause);
            *cause = kind == LT_REXEC_FORBIDDEN ? explain_ptrace_refused(r->t.pid, why) : why;
            if (*cause != why)
                lt_free(why);
            return kind == LT_REXEC_FORBIDDEN || kind == LT_REXEC_GONE ? -1 : -2;
        } else {
            lt_free(why); /* a thread that ended meanwhile */
        }
    }
    return asked;
}

/* Was a request taken (its flag cleared by the thread) without the loader claiming the
 * ticket? Then something in the target stopped it before it ran. */
static int
pep768_taken(attach_run *r)
{
    for (int i = 0; i < r->nrth; i++)
        if (r->rsent[i] && lt_rexec_pending(&r->rx, r->rth[i].tstate) == 0)
            return 1;
    return 0;
}

/* A request was taken and the ticket is still not claimed: give the loader CONSUMED_WAIT_MS
 * to claim it (it does that first). Returns 1 with *cause when it never did. */
static int
taken_not_run(attach_run *r, char **cause)
{
    if (path_exists(r->dir, "claimed") || attach_signal || proc_state(r->t.pid) == 0 ||
        !pep768_taken(r))
        return 0;
    int64_t until = now_ms() + CONSUMED_WAIT_MS;
    while (now_ms() < until && !path_exists(r->dir, "claimed") && !attach_signal)
        sleep_ms(10);
    if (path_exists(r->dir, "claimed") || attach_signal)
        return 0;
    *cause = lt_asprintf("pid %ld took leaktop's PEP 768 request but did not run its loader (an "
                         "audit hook refusing cpython.remote_debugger_script?); its stderr says "
                         "why; it runs on unchanged",
                         (long)r->t.pid);
    return 1;
}

/* Withdraw every request still pending, so that no thread reads the script after it is
 * removed. A thread that took one just as it was withdrawn opens the script within
 * microseconds: it is given a moment before the directory goes. */
static void
pep768_withdraw(attach_run *r)
{
    int withdrawn = 0;
    for (int i = 0; i < r->nrth; i++)
        if (r->rsent[i] && lt_rexec_withdraw(&r->rx, r->rth[i].tstate) == 1)
            withdrawn++;
    memset(r->rsent, 0, sizeof r->rsent);
    if (r->nrth > 0)
        pep768_debug("withdrew %d request(s) not taken", withdrawn);
    if (withdrawn)
        sleep_ms(50);
}

/* Attach through PEP 768: the loader as a script file in the ticket directory, the request
 * written into the main thread's state; when the main thread stays blocked in a system call,
 * into every other Python thread's too (the protocol takes any thread state; whichever gets to
 * a bytecode boundary first runs the loader, and the ticket makes it run once). Returns 1
 * answered, 0 not answered (still pending: another route may help; *cause NULL), -1 with
 * *cause when the attach must end here (ptrace refused, remote debugging disabled, the process
 * gone, the loader refused), or 2 when PEP 768 cannot be used but gdb could (*cause says why). */
static int
pep768_route(attach_run *r, const char *expect, double interval, int wait_all, char **cause)
{
    int kind = 0;
    char *why = NULL;
    if (lt_rexec_open(&r->rx, r->t.pid, &kind, &why) < 0) {
        pep768_debug("not usable (kind %d): %s", kind, why);
        if (kind == LT_REXEC_FORBIDDEN) {
            *cause = explain_ptrace_refused(r->t.pid, why);
            lt_free(why);
            return -1;
        }
        *cause = why;
        return kind == LT_REXEC_UNSUPPORTED || kind == LT_REXEC_FAILED ? 2 : -1;
    }
    int n = lt_rexec_threads(&r->rx, r->rth, WATCH_MAX, &kind, &why);
    if (n < 0) {
        *cause = kind == LT_REXEC_FORBIDDEN ? explain_ptrace_refused(r->t.pid, why) : why;
        if (*cause != why)
            lt_free(why);
        return kind == LT_REXEC_FAILED ? 2 : -1;
    }
    r->nrth = n;
    pep768_debug("_PyRuntime at %#llx in %s, Python %#llx, interpreter at %#llx, %d thread "
                 "state(s), script path at most %llu bytes",
                 (unsigned long long)r->rx.runtime, r->rx.image,
                 (unsigned long long)r->rx.version, (unsigned long long)r->rx.interp, n,
                 (unsigned long long)r->rx.script_path_size - 1);
    char script[PATH_MAX + 16];
    snprintf(script, sizeof script, "%s/loader.py", r->dir);
    if (strlen(script) >= r->rx.script_path_size) {
        *cause = lt_asprintf("the loader's path %s is too long for PEP 768 (%llu bytes at most)",
                             script, (unsigned long long)r->rx.script_path_size - 1);
        return 2;
    }
    char *loader = build_loader(r->dir, r->t.agent_dir, expect, interval, "pep768");
    int fd = loader != NULL ? open(script, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) : -1;
    size_t len = loader != NULL ? strlen(loader) : 0;
    int written = fd >= 0 && write(fd, loader, len) == (ssize_t)len;
    if (fd >= 0)
        close(fd);
    lt_free(loader);
    if (!written) {
        *cause = lt_asprintf("cannot write %s: %s", script, strerror(errno));
        return -1;
    }
    /* The main thread first, as sys.remote_exec does. */
    int asked = pep768_ask(r, script, 0, 1, cause);
    if (asked < 0)
        return asked == -2 ? 2 : -1;
    int64_t first = now_ms() + PENDING_WAIT_MS;
    pid_t main_tid = r->rth[0].tid > 0 ? r->rth[0].tid : r->t.pid;
    if (wait_threads(r, &main_tid, 1, first < r->deadline ? first : r->deadline))
        return 1;
    r->main_blocked = !attach_signal && !path_exists(r->dir, "claimed");
    /* Taken and not run: asking the other threads would only repeat that. */
    if (r->main_blocked && pep768_taken(r))
        return taken_not_run(r, cause) ? -1 : 0;
    /* Blocked: every other thread may take it. */
    if (!attach_signal && !path_exists(r->dir, "claimed") && n > 1) {
        if (pep768_ask(r, script, 1, n, cause) == -1)
            return -1;
        pid_t tids[WATCH_MAX];
        int nt = 0;
        for (int i = 1; i < n; i++)
            if (r->rth[i].tid > 0)
                tids[nt++] = r->rth[i].tid;
        int64_t second = now_ms() + PENDING_WAIT_MS;
        if (nt > 0 && wait_threads(r, tids, nt, second < r->deadline ? second : r->deadline))
            return 1;
    }
    if (wait_all && !attach_signal)
        wait_answer(r, r->deadline, 0);
    if (answered(r))
        return 1;
    if (taken_not_run(r, cause))
        return -1;
    blocked_in_now(r);
    return 0;
}

/* ---- lt_attach ------------------------------------------------------------------------- */

static int
gdb_route(attach_run *r, const char *gdb, int *got, char **cause)
{
    int64_t deadline = r->deadline;
    pid_t pid = r->t.pid;
    if (mi_start(&r->g, gdb, cause) < 0)
        return -1;
    r->gdb_started = 1;
    int mrc = mi_cmd(&r->g, budget(r, GDB_START_MS), "-gdb-set unwindonsignal on");
    if (mrc != MI_OK) {
        *cause = mrc == MI_GONE ? lt_asprintf("%s did not start as gdb", gdb)
                                : gdb_failed(r, "starting", mrc);
        return -1;
    }
    mi_cmd(&r->g, GDB_CALL_MS, "-gdb-set auto-solib-add off");
    mi_cmd(&r->g, GDB_CALL_MS, "-interpreter-exec console \"handle all nostop noprint pass\"");
    mi_cmd(&r->g, GDB_CALL_MS, "-interpreter-exec console \"handle SIGINT nostop noprint pass\"");
    /* A fault inside one of our calls stops gdb, which unwinds the call (unwindonsignal) and
     * drops the signal: the program goes on as if the call had not been made. */
    mi_cmd(&r->g, GDB_CALL_MS,
           "-interpreter-exec console \"handle SIGSEGV SIGBUS SIGILL SIGFPE SIGABRT stop print "
           "nopass\"");
    mi_cmd(&r->g, GDB_CALL_MS, "-gdb-set print thread-events off");

    int queued = 0;
    if (first_visit(r, &queued, cause) < 0)
        return -1;
    /* The pending call runs in the main thread: when PEP 768 already saw it blocked (its
     * request waits there too), waiting for it again only costs time. */
    int64_t first_wait = now_ms() + PENDING_WAIT_MS;
    *got = queued && !r->main_blocked &&
           wait_pending(r, first_wait < deadline ? first_wait : deadline);
    if (!*got && !attach_signal && !path_exists(r->dir, "claimed") && proc_state(pid) != 0) {
        /* The main thread is not reaching the interpreter loop: try the helper thread. */
        if (second_visit(r, cause) < 0)
            return -1;
        *got = wait_answer(r, deadline, 0);
    } else if (!*got) {
        *got = wait_answer(r, deadline, 0);
    }
    return 0;
}

int
lt_attach(pid_t pid, const lt_attach_opts *o, lt_attach_result *res, char **cause)
{
    int64_t t0 = now_ms();
    memset(res, 0, sizeof *res);
    *cause = NULL;
    attach_run *r = lt_calloc(1, sizeof *r);
    if (r == NULL) {
        *cause = lt_asprintf("out of memory");
        return -1;
    }
    r->t.pid = pid;
    r->g.pid = 0;
    r->g.wfd = r->g.rfd = -1;
    int rc = -1;
    const char *route = NULL;
    int64_t deadline = t0 + (o != NULL && o->timeout_ms > 0 ? o->timeout_ms : timeout_from_env());
    r->deadline = deadline;
    struct sigaction saved_actions[3];
    catch_signals(saved_actions);
    void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);
    double interval = o != NULL ? o->interval_s : 0;

    if ((*cause = precheck(&r->t)) != NULL)
        goto out;
    if (has_agent(pid)) {
        res->already = 1;
        route = "already running";
        rc = 0;
        goto out;
    }
    if (lt_agent_dir(r->t.agent_dir, sizeof r->t.agent_dir, cause) < 0)
        goto out;
    if ((*cause = check_version(&r->t)) != NULL)
        goto out;
    /* LEAKTOP_ATTACH_VIA=gdb or pep768: one route only (to compare them, or to avoid one). */
    const char *via = getenv("LEAKTOP_ATTACH_VIA");
    if (via != NULL && *via && strcmp(via, "gdb") != 0 && strcmp(via, "pep768") != 0) {
        *cause = lt_asprintf("LEAKTOP_ATTACH_VIA=%s: expected gdb or pep768", via);
        goto out;
    }
    int only_gdb = via != NULL && strcmp(via, "gdb") == 0;
    int only_pep768 = via != NULL && strcmp(via, "pep768") == 0;
    if (only_pep768 && r->t.version[0] && !pep768_eligible(&r->t)) {
        *cause = lt_asprintf("pid %ld runs Python %s; PEP 768 (LEAKTOP_ATTACH_VIA=pep768) needs "
                             "3.14 or newer, not free-threaded",
                             (long)pid, r->t.version);
        goto out;
    }
    char gdb[PATH_MAX];
    int have_gdb = !only_pep768 && find_gdb(gdb, sizeof gdb);
    int pep768 = !only_gdb && pep768_eligible(&r->t);
    char *gdb_missing = NULL;
    if (only_pep768)
        gdb_missing = lt_asprintf("LEAKTOP_ATTACH_VIA=pep768 leaves gdb out");
    else if (!have_gdb)
        gdb_missing = getenv("LEAKTOP_GDB") && *getenv("LEAKTOP_GDB")
                          ? lt_asprintf("LEAKTOP_GDB=%s is not an executable gdb",
                                        getenv("LEAKTOP_GDB"))
                          : lt_asprintf("attaching needs gdb, which is not installed (or not on "
                                        "PATH); install it: apt-get install gdb");
    if (!have_gdb && !pep768) {
        *cause = gdb_missing;
        goto out;
    }

    /* The ticket lives in a private directory of ours, beside our sockets. */
    char sockdir[PATH_MAX], expect[PATH_MAX];
    if (lt_sock_dir(sockdir, sizeof sockdir, cause) < 0 ||
        lt_sock_dir_prepare(sockdir, cause) < 0 || lt_sock_path(pid, expect, sizeof expect, cause) < 0)
        goto out_gdb_missing;
    remove_stale_dirs(sockdir);
    if ((size_t)snprintf(r->dir, sizeof r->dir, "%s/attach-%ld-%ld-XXXXXX", sockdir,
                         (long)getpid(), (long)pid) >= sizeof r->dir ||
        mkdtemp(r->dir) == NULL) {
        *cause = lt_asprintf("cannot create a directory in %s: %s", sockdir, strerror(errno));
        r->dir[0] = '\0';
        goto out_gdb_missing;
    }
    char ticket[PATH_MAX + 8];
    snprintf(ticket, sizeof ticket, "%s/go", r->dir);
    int tfd = open(ticket, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (tfd < 0) {
        *cause = lt_asprintf("cannot create %s: %s", ticket, strerror(errno));
        goto out_gdb_missing;
    }
    close(tfd);
    r->code = build_code(r->dir, r->t.agent_dir, expect, interval);
    if (r->code == NULL) {
        *cause = lt_asprintf("out of memory");
        goto out_gdb_missing;
    }
    r->code_len = strlen(r->code);
    r->state_before = proc_state(pid);

    int got = 0;
    char *why768 = NULL;
    if (pep768) {
        /* PEP 768 first; gdb only where it can do what PEP 768 could not. */
        int prc = pep768_route(r, expect, interval, !have_gdb, &why768);
        if (prc < 0) {
            *cause = why768;
            goto withdraw;
        }
        got = prc == 1;
        if (prc == 2 && !have_gdb) {
            *cause = lt_asprintf("%s, and %s", why768, gdb_missing);
            lt_free(why768);
            goto withdraw;
        }
        lt_free(why768);
    }
    if (!got && have_gdb && !attach_signal && !path_exists(r->dir, "claimed") &&
        proc_state(pid) != 0) {
        if (gdb_route(r, gdb, &got, cause) < 0)
            goto stop_gdb;
    }
withdraw:
    if (!got && r->dir[0] && cancel_ticket(r) == 0) {
        /* Claimed meanwhile: the agent is starting. Let it answer, even when interrupted. */
        got = wait_answer(r, now_ms() + CLAIMED_WAIT_MS, 1);
        if (got && attach_signal && read_answer(r, &route) == NULL) {
            char *ignored = NULL; /* interrupted: undo */
            lt_detach(pid, 3000, &ignored);
            lt_free(ignored);
            got = 0;
        }
    }
    if (*cause != NULL)
        goto stop_gdb;
    if (!got) {
        if (attach_signal)
            *cause = lt_asprintf("interrupted; pid %ld was left as it was", (long)pid);
        else if (proc_state(pid) == 0)
            *cause = lt_asprintf("pid %ld exited while leaktop was attaching", (long)pid);
        else if (!have_gdb)
            *cause = lt_asprintf(
                "pid %ld did not reach a point where the agent can start within %.0f s: its main "
                "thread stays in %s and no other Python thread ran (a PEP 768 request runs only "
                "between two bytecodes); with gdb leaktop would start it from a helper thread "
                "(apt-get install gdb); it runs on unchanged",
                (long)pid, (double)(deadline - t0) / 1000.0,
                r->blocked_in[0] ? r->blocked_in : "native code");
        else
            *cause = lt_asprintf(
                "pid %ld did not reach a point where the agent can start within %.0f s: its main "
                "thread stays in %s and no thread is waiting in a system call a helper thread "
                "could start from (threads blocked on locks, or native code that never returns "
                "to Python); it runs on unchanged",
                (long)pid, (double)(deadline - t0) / 1000.0,
                r->blocked_in[0] ? r->blocked_in : "native code");
        goto stop_gdb;
    }
    if ((*cause = read_answer(r, &route)) != NULL)
        goto stop_gdb;
    rc = 0;

stop_gdb:
    if (r->gdb_started)
        mi_finish(&r->g, pid, r->state_before);
out_gdb_missing:
    if (*cause != gdb_missing)
        lt_free(gdb_missing);
out:
    pep768_withdraw(r);
    if (r->dir[0])
        remove_dir(r->dir);
    res->route = route;
    snprintf(res->python, sizeof res->python, "%s", r->t.version);
    res->seconds = (double)(now_ms() - t0) / 1000.0;
    if (r->g.pid > 0)
        mi_finish(&r->g, pid, r->state_before);
    signal(SIGPIPE, old_pipe);
    lt_free(r->code);
    lt_free(r);
    restore_signals(saved_actions);
    return rc;
}

int
lt_attach_socket_exists(pid_t pid)
{
    char path[PATH_MAX];
    char *cause = NULL;
    struct stat st;
    int known = lt_sock_path(pid, path, sizeof path, &cause) == 0;
    lt_free(cause);
    return known && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* ---- lt_detach ------------------------------------------------------------------------- */

int
lt_detach(pid_t pid, int timeout_ms, char **cause)
{
    lt_conn c;
    int kind = 0;
    char *why = NULL;
    if (timeout_ms <= 0)
        timeout_ms = 10000;
    if (lt_conn_open(&c, pid, "leaktop detach " LEAKTOP_VERSION, &kind, &why) < 0) {
        if (kind == LT_SOCK_ENOENT || kind == LT_SOCK_ESTALE) {
            char version[16];
            int py = lt_attach_python_version(pid, version, sizeof version);
            lt_free(why);
            if (kill(pid, 0) < 0 && errno == ESRCH)
                *cause = lt_asprintf("no process with pid %ld", (long)pid);
            else if (py == 0)
                *cause = lt_asprintf("pid %ld is not a Python process", (long)pid);
            else
                *cause = lt_asprintf("pid %ld has no leaktop agent running; nothing to detach",
                                     (long)pid);
        } else {
            *cause = why;
        }
        return -1;
    }
    lt_model m;
    if (lt_model_init(&m, 64) < 0) {
        lt_conn_close(&c);
        *cause = lt_asprintf("out of memory");
        return -1;
    }
    int rc = -1;
    if (lt_conn_command(&c, LT_CMD_STOP, 0, cause) < 0)
        goto out;
    int64_t deadline = now_ms() + timeout_ms;
    while (!c.eof && now_ms() < deadline) {
        int prc = lt_conn_pump(&c, &m, 100, cause);
        if (prc < 0)
            goto out;
        if (prc == 2)
            break;
    }
    if (!c.eof) {
        *cause = lt_asprintf("the agent in pid %ld did not stop within %d s", (long)pid,
                             timeout_ms / 1000);
        goto out;
    }
    /* Its socket goes as it stops. */
    char path[PATH_MAX];
    char *perr = NULL;
    if (lt_sock_path(pid, path, sizeof path, &perr) == 0) {
        struct stat st;
        while (lstat(path, &st) == 0 && now_ms() < deadline)
            sleep_ms(10);
    }
    lt_free(perr);
    rc = 0;
out:
    lt_model_free(&m);
    lt_conn_close(&c);
    return rc;
}
