/* The limits on a process's memory, from /proc and /sys (any roots). */
#define _GNU_SOURCE
#include "mem_limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "leaktop/mem.h"
#include "leaktop/sockpath.h"

/* v1 writes "no limit" as the largest page-aligned counter: 9223372036854771712 on 4 KiB
 * pages. Anything this large is no limit. */
#define V1_UNLIMITED (1ull << 60)

/* Read a small file into buf (NUL-terminated). Returns its length, or -1. */
static long
read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return -1;
    buf[n] = '\0';
    return (long)n;
}

/* A cgroup file holding one number, or "max" (v2). Returns 0 and *out, or -1 when absent. */
static int
read_value(const char *dir, const char *name, uint64_t *out)
{
    char path[4096], buf[64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (read_file(path, buf, sizeof buf) <= 0)
        return -1;
    if (strncmp(buf, "max", 3) == 0) {
        *out = LT_NO_LIMIT;
        return 0;
    }
    char *end;
    unsigned long long v = strtoull(buf, &end, 10);
    if (end == buf)
        return -1;
    *out = v;
    return 0;
}

/* "key N" in a flat-keyed file (memory.events, memory.oom_control). */
static int
read_keyed(const char *dir, const char *name, const char *key, uint64_t *out)
{
    char path[4096], buf[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (read_file(path, buf, sizeof buf) <= 0)
        return -1;
    size_t klen = strlen(key);
    for (const char *line = buf; *line;) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
            *out = strtoull(line + klen + 1, NULL, 10);
            return 0;
        }
        const char *nl = strchr(line, '\n');
        if (nl == NULL)
            break;
        line = nl + 1;
    }
    return -1;
}

/* "Name:   1234 kB" of a status file, in bytes. */
static uint64_t
kib_field(const char *buf, const char *name)
{
    const char *p = strstr(buf, name);
    return p ? strtoull(p + strlen(name), NULL, 10) * 1024u : 0;
}

/* The soft limit of one row of /proc/PID/limits ("Max address space  unlimited  ..."). */
static uint64_t
soft_limit(const char *buf, const char *row)
{
    const char *p = strstr(buf, row);
    if (p == NULL)
        return LT_NO_LIMIT;
    p += strlen(row);
    while (*p == ' ')
        p++;
    if (strncmp(p, "unlimited", 9) == 0)
        return LT_NO_LIMIT;
    char *end;
    unsigned long long v = strtoull(p, &end, 10);
    return end == p ? LT_NO_LIMIT : v;
}

/* Unescape mountinfo's octal escapes (\040 for a space) in place. */
static void
unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '7' && p[2] >= '0' && p[2] <= '7' &&
            p[3] >= '0' && p[3] <= '7') {
            *o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
            p += 3;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}

/* Find the mount of the hierarchy in mountinfo: cgroup2, or v1 "cgroup" with the memory
 * controller among its super options. root and mnt get the mount's root within the hierarchy
 * and its mount point. Returns 0, or -1 when it is not mounted. */
static int
find_mount(const char *proc_root, pid_t pid, int version, char *root, size_t rootlen, char *mnt,
           size_t mntlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%ld/mountinfo", proc_root, (long)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    char line[4096];
    int found = -1;
    while (found < 0 && fgets(line, sizeof line, f)) {
        /* id parent major:minor root mount-point options [optional...] - fstype source super */
        char *dash = strstr(line, " - ");
        if (dash == NULL)
            continue;
        char fstype[64] = "", source[256] = "", super[1024] = "";
        if (sscanf(dash + 3, "%63s %255s %1023s", fstype, source, super) < 2)
            continue;
        int match = version == 2 ? strcmp(fstype, "cgroup2") == 0
                                 : strcmp(fstype, "cgroup") == 0 &&
                                       (strstr(super, ",memory") || strncmp(super, "memory", 6) == 0);
        if (!match)
            continue;
        char r[1024], m[1024];
        if (sscanf(line, "%*s %*s %*s %1023s %1023s", r, m) != 2)
            continue;
        unescape(r);
        unescape(m);
        snprintf(root, rootlen, "%s", r);
        snprintf(mnt, mntlen, "%s", m);
        found = 0;
    }
    fclose(f);
    return found;
}

/* The directory of the cgroup path cg: the mount point plus cg below the mount's root, with a
 * mount point under /sys looked for under sys_root. */
static void
cgroup_dir(const char *sys_root, const char *root, const char *mnt, const char *cg, char *out,
           size_t len)
{
    size_t rl = strlen(root);
    const char *rel = cg;
    if (strcmp(root, "/") != 0 && strncmp(cg, root, rl) == 0 && (cg[rl] == '/' || cg[rl] == '\0'))
        rel = cg + rl;
    if (strcmp(rel, "/") == 0)
        rel = "";
    if (strncmp(mnt, "/sys/", 5) == 0 || strcmp(mnt, "/sys") == 0)
        snprintf(out, len, "%s%s%s", sys_root, mnt + 4, rel);
    else
        snprintf(out, len, "%s%s", mnt, rel);
}

static void
add_limit(lt_limits *l, const char *source, const char *where, uint64_t limit, uint64_t usage,
          lt_limit_figure fig)
{
    if (limit == LT_NO_LIMIT || l->nlimits >= LT_LIMITS_MAX)
        return;
    lt_limit *x = &l->limits[l->nlimits++];
    snprintf(x->source, sizeof x->source, "%s", source);
    snprintf(x->where, sizeof x->where, "%s", where);
    x->limit = limit;
    x->usage = usage;
    x->figure = fig;
}

/* Up the hierarchy from dir to top (the mount point's directory): the smallest value of file
 * name, with its level (as a path relative to top) and the usage there. */
typedef struct smallest {
    uint64_t value, usage;
    char where[192];
} smallest;

static void
walk_up(const char *dir, size_t toplen, const char *name, const char *usage_name, int v1,
        smallest *s)
{
    char d[4096];
    snprintf(d, sizeof d, "%s", dir);
    if (strlen(d) < toplen)
        toplen = strlen(d); /* not below the mount point: look at this level only */
    s->value = LT_NO_LIMIT;
    s->usage = 0;
    s->where[0] = '\0';
    for (;;) {
        uint64_t v;
        if (read_value(d, name, &v) == 0) {
            if (v1 && v >= V1_UNLIMITED)
                v = LT_NO_LIMIT;
            if (v < s->value) {
                s->value = v;
                s->usage = 0;
                read_value(d, usage_name, &s->usage);
                snprintf(s->where, sizeof s->where, "%s", d[toplen] ? d + toplen : "/");
            }
        }
        if (strlen(d) <= toplen)
            break;
        char *slash = strrchr(d + toplen, '/');
        if (slash == NULL)
            break;
        *slash = '\0';
    }
}

/* The memory cgroup of pid: v1 when a hierarchy has the memory controller, else v2. */
static void
read_cgroup(const char *proc_root, const char *sys_root, pid_t pid, lt_limits *l)
{
    char path[4096], buf[8192];
    snprintf(path, sizeof path, "%s/%ld/cgroup", proc_root, (long)pid);
    if (read_file(path, buf, sizeof buf) <= 0)
        return;
    char v1[192] = "", v2[192] = "";
    int have_v1 = 0, have_v2 = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c2 == NULL)
            continue;
        *c1 = *c2 = '\0';
        const char *controllers = c1 + 1, *cg = c2 + 1;
        if (strcmp(line, "0") == 0 && controllers[0] == '\0') {
            snprintf(v2, sizeof v2, "%s", cg);
            have_v2 = 1;
            continue;
        }
        /* "memory" alone or among others: "4:memory:/x", "3:cpu,memory:/x" */
        char list[256];
        snprintf(list, sizeof list, ",%s,", controllers);
        if (strstr(list, ",memory,")) {
            snprintf(v1, sizeof v1, "%s", cg);
            have_v1 = 1;
        }
    }
    char root[1024], mnt[1024], dir[4096], top[4096];
    if (have_v1 && find_mount(proc_root, pid, 1, root, sizeof root, mnt, sizeof mnt) == 0) {
        cgroup_dir(sys_root, root, mnt, v1, dir, sizeof dir);
        cgroup_dir(sys_root, root, mnt, root, top, sizeof top);
        l->cgroup_version = 1;
        snprintf(l->cgroup, sizeof l->cgroup, "%s", v1);
        read_value(dir, "memory.usage_in_bytes", &l->cgroup_current);
        read_value(dir, "memory.failcnt", &l->cgroup_failcnt);
        read_keyed(dir, "memory.oom_control", "oom_kill", &l->cgroup_oom_kills);
        smallest s;
        walk_up(dir, strlen(top), "memory.limit_in_bytes", "memory.usage_in_bytes", 1, &s);
        l->cgroup_max = s.value;
        add_limit(l, "cgroup v1 memory.limit_in_bytes", s.where, s.value, s.usage, LT_FIGURE_RSS);
        return;
    }
    if (have_v2 && find_mount(proc_root, pid, 2, root, sizeof root, mnt, sizeof mnt) == 0) {
        cgroup_dir(sys_root, root, mnt, v2, dir, sizeof dir);
        cgroup_dir(sys_root, root, mnt, root, top, sizeof top);
        /* No memory controller in this hierarchy (a hybrid system's unified mount), or not
         * enabled down to this cgroup: no memory files, nothing to say. */
        char controllers[512];
        snprintf(path, sizeof path, "%s/cgroup.controllers", top);
        if (read_file(path, controllers, sizeof controllers) < 0 ||
            strstr(controllers, "memory") == NULL)
            return;
        uint64_t cur = 0;
        if (read_value(dir, "memory.current", &cur) < 0 && strlen(dir) > strlen(top))
            return;
        l->cgroup_version = 2;
        snprintf(l->cgroup, sizeof l->cgroup, "%s", v2);
        l->cgroup_current = cur;
        read_keyed(dir, "memory.events", "oom_kill", &l->cgroup_oom_kills);
        smallest s;
        walk_up(dir, strlen(top), "memory.max", "memory.current", 0, &s);
        l->cgroup_max = s.value;
        add_limit(l, "cgroup v2 memory.max", s.where, s.value, s.usage, LT_FIGURE_RSS);
        walk_up(dir, strlen(top), "memory.high", "memory.current", 0, &s);
        l->cgroup_high = s.value;
        add_limit(l, "cgroup v2 memory.high", s.where, s.value, s.usage, LT_FIGURE_RSS);
    }
}

int
lt_limits_read(const char *proc_root, const char *sys_root, pid_t pid, lt_limits *l,
               char **cause)
{
    memset(l, 0, sizeof *l);
    l->cgroup_max = l->cgroup_high = l->rlimit_as = l->rlimit_data = LT_NO_LIMIT;
    char path[4096], buf[8192];
    snprintf(path, sizeof path, "%s/%ld/status", proc_root, (long)pid);
    if (read_file(path, buf, sizeof buf) <= 0) {
        *cause = lt_asprintf("cannot read %s: the process is gone", path);
        return -1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    l->read_wall_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    l->rss = kib_field(buf, "\nVmRSS:");
    l->vm_size = kib_field(buf, "\nVmSize:");
    l->vm_data = kib_field(buf, "\nVmData:");
    l->swap = kib_field(buf, "\nVmSwap:");

    read_cgroup(proc_root, sys_root, pid, l);

    snprintf(path, sizeof path, "%s/%ld/limits", proc_root, (long)pid);
    if (read_file(path, buf, sizeof buf) > 0) {
        l->rlimit_as = soft_limit(buf, "Max address space");
        l->rlimit_data = soft_limit(buf, "Max data size");
        add_limit(l, "RLIMIT_AS", "", l->rlimit_as, l->vm_size, LT_FIGURE_VM_SIZE);
        add_limit(l, "RLIMIT_DATA", "", l->rlimit_data, l->vm_data, LT_FIGURE_VM_DATA);
    }

    snprintf(path, sizeof path, "%s/meminfo", proc_root);
    if (read_file(path, buf, sizeof buf) > 0 && strstr(buf, "MemAvailable:")) {
        l->mem_available = kib_field(buf, "MemAvailable:");
        l->mem_total = kib_field(buf, "MemTotal:");
        /* The machine runs out when this process has taken what is available now. */
        add_limit(l, "MemAvailable", "", l->rss + l->mem_available, l->rss, LT_FIGURE_RSS);
    }
    return 0;
}

uint64_t
lt_limits_figure(const lt_limits *l, lt_limit_figure f)
{
    return f == LT_FIGURE_VM_SIZE ? l->vm_size : f == LT_FIGURE_VM_DATA ? l->vm_data : l->rss;
}
