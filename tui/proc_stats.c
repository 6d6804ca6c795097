/* Process figures through libproc2. */
#define _GNU_SOURCE
#include "proc_stats.h"

#include <libproc2/pids.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "leaktop/mem.h"
#include "leaktop/sockpath.h"

/* PIDS_VAL(item, type, stack, info) lost its unused last argument after libproc2 4.0.4 (4.0.2
 * and 4.0.4 take four, 4.0.7 takes three); tui/meson.build compiles a call to tell which. */
#if LT_PIDS_VAL_TAKES_3
#define LT_PIDS_VAL(item, type, stack, info) PIDS_VAL(item, type, stack)
#else
#define LT_PIDS_VAL(item, type, stack, info) PIDS_VAL(item, type, stack, info)
#endif

enum { I_PID, I_RSS, I_SWAP, I_ANON, I_FILE, I_MAJ, I_MIN, I_NLWP, I_TICS, I_ELAPSED, I_EUID };
static enum pids_item items[] = {
    PIDS_ID_PID, PIDS_VM_RSS, PIDS_VM_SWAP, PIDS_VM_RSS_ANON, PIDS_VM_RSS_FILE, PIDS_FLT_MAJ,
    PIDS_FLT_MIN, PIDS_NLWP, PIDS_TICS_ALL, PIDS_TIME_ELAPSED, PIDS_ID_EUID,
};
#define NITEMS ((int)(sizeof items / sizeof items[0]))

struct lt_proc_reader {
    struct pids_info *info;
    pid_t pid;
    int have_prev;
    unsigned long long prev_tics;
    uint64_t prev_maj, prev_min;
    double prev_t;
};

static double
mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

lt_proc_reader *
lt_proc_reader_new(pid_t pid)
{
    lt_proc_reader *r = lt_calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    if (procps_pids_new(&r->info, items, NITEMS) < 0) {
        lt_free(r);
        return NULL;
    }
    r->pid = pid;
    return r;
}

void
lt_proc_reader_free(lt_proc_reader *r)
{
    if (r == NULL)
        return;
    procps_pids_unref(&r->info);
    lt_free(r);
}

int
lt_proc_reader_read(lt_proc_reader *r, lt_proc_stats *out)
{
    memset(out, 0, sizeof *out);
    unsigned pid = (unsigned)r->pid;
    struct pids_fetch *f = procps_pids_select(r->info, &pid, 1, PIDS_SELECT_PID);
    if (f == NULL || f->counts->total < 1)
        return -1;
    struct pids_stack *s = f->stacks[0];
    out->valid = 1;
    out->rss = (uint64_t)LT_PIDS_VAL(I_RSS, ul_int, s, r->info) * 1024u;
    out->swap = (uint64_t)LT_PIDS_VAL(I_SWAP, ul_int, s, r->info) * 1024u;
    out->rss_anon = (uint64_t)LT_PIDS_VAL(I_ANON, ul_int, s, r->info) * 1024u;
    out->rss_file = (uint64_t)LT_PIDS_VAL(I_FILE, ul_int, s, r->info) * 1024u;
    out->maj_faults = LT_PIDS_VAL(I_MAJ, ul_int, s, r->info);
    out->min_faults = LT_PIDS_VAL(I_MIN, ul_int, s, r->info);
    out->threads = LT_PIDS_VAL(I_NLWP, s_int, s, r->info);
    out->elapsed_s = LT_PIDS_VAL(I_ELAPSED, real, s, r->info);
    out->euid = LT_PIDS_VAL(I_EUID, u_int, s, r->info);
    unsigned long long tics = LT_PIDS_VAL(I_TICS, ull_int, s, r->info);
    double now = mono_s();
    if (r->have_prev && now > r->prev_t) {
        double dt = now - r->prev_t;
        long hz = sysconf(_SC_CLK_TCK);
        out->cpu_percent = (double)(tics - r->prev_tics) / (double)(hz > 0 ? hz : 100) / dt * 100.0;
        out->maj_faults_per_s = (double)(out->maj_faults - r->prev_maj) / dt;
        out->min_faults_per_s = (double)(out->min_faults - r->prev_min) / dt;
    }
    r->have_prev = 1;
    r->prev_tics = tics;
    r->prev_maj = out->maj_faults;
    r->prev_min = out->min_faults;
    r->prev_t = now;
    return 0;
}

int
lt_proc_is_python(pid_t pid)
{
    char path[64], exe[PATH_MAX];
    snprintf(path, sizeof path, "/proc/%ld/exe", (long)pid);
    ssize_t n = readlink(path, exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        const char *base = strrchr(exe, '/');
        base = base ? base + 1 : exe;
        if (strncmp(base, "python", 6) == 0)
            return 1;
    }
    snprintf(path, sizeof path, "/proc/%ld/maps", (long)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return 0;
    char line[512];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, "libpython3") != NULL;
    fclose(f);
    return found;
}

/* Is a socket listening at path, by the kernel's table of Unix sockets (/proc/net/unix:
 * nothing is sent to the agent)? 1 yes, 0 no (a stale file), -1 when the table cannot be read. */
static int
unix_listening(const char *path)
{
    FILE *f = fopen("/proc/net/unix", "re");
    if (f == NULL)
        return -1;
    char line[4096 + 128];
    int found = 0;
    size_t plen = strlen(path);
    while (!found && fgets(line, sizeof line, f)) {
        unsigned long flags;
        size_t n = strcspn(line, "\n");
        line[n] = '\0';
        /* Num RefCount Protocol Flags Type St Inode Path; flag 0x10000 is __SO_ACCEPTCON */
        if (sscanf(line, "%*s %*s %*s %lx", &flags) == 1 && (flags & 0x10000) && n > plen &&
            line[n - plen - 1] == ' ' && strcmp(line + n - plen, path) == 0)
            found = 1;
    }
    fclose(f);
    return found;
}

static int
cmp_rss(const void *a, const void *b)
{
    const lt_proc_entry *x = a, *y = b;
    return x->rss < y->rss ? 1 : x->rss > y->rss ? -1 : (x->pid > y->pid) - (x->pid < y->pid);
}

int
lt_proc_list_python(lt_proc_entry *out, int max)
{
    enum pids_item li[] = {PIDS_ID_PID, PIDS_VM_RSS, PIDS_TIME_ELAPSED, PIDS_CMDLINE};
    struct pids_info *info = NULL;
    if (procps_pids_new(&info, li, 4) < 0)
        return -1;
    unsigned uid = (unsigned)geteuid();
    struct pids_fetch *f = procps_pids_select(info, &uid, 1, PIDS_SELECT_UID);
    if (f == NULL) {
        procps_pids_unref(&info);
        return -1;
    }
    int n = 0;
    pid_t self = getpid();
    for (int i = 0; i < f->counts->total && n < max; i++) {
        struct pids_stack *s = f->stacks[i];
        pid_t pid = LT_PIDS_VAL(0, s_int, s, info);
        if (pid == self || !lt_proc_is_python(pid))
            continue;
        lt_proc_entry *e = &out[n++];
        memset(e, 0, sizeof *e);
        e->pid = pid;
        e->rss = (uint64_t)LT_PIDS_VAL(1, ul_int, s, info) * 1024u;
        e->elapsed_s = LT_PIDS_VAL(2, real, s, info);
        const char *cmd = LT_PIDS_VAL(3, str, s, info);
        snprintf(e->cmdline, sizeof e->cmdline, "%s", cmd ? cmd : "?");
        char sock[4096], *cause = NULL;
        struct stat st;
        if (lt_sock_path(pid, sock, sizeof sock, &cause) == 0 && stat(sock, &st) == 0 &&
            S_ISSOCK(st.st_mode)) {
            e->agent_stale = unix_listening(sock) == 0;
            e->has_agent = !e->agent_stale;
        }
        lt_free(cause);
    }
    procps_pids_unref(&info);
    qsort(out, (size_t)n, sizeof *out, cmp_rss);
    return n;
}
