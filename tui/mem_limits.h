/*
 * What can end a process for memory, read from /proc and /sys: its cgroup's limit (v2
 * memory.max and memory.high, v1 memory.limit_in_bytes, the smallest up its hierarchy), its
 * RLIMIT_AS and RLIMIT_DATA, and the machine's MemAvailable. Each comes with the figure of the
 * process it binds (memory.current, VmSize, VmData, RSS) so a forecast can tell which is hit
 * first (oom_forecast.h). Collection only; never changes a cgroup or a limit.
 *
 * The roots are parameters, as htop's PROCDIR: tests point them at fixture trees
 * (tests/unit/fixtures/limits/). A mount point under /sys that mountinfo names is looked for
 * under sys_root instead.
 */
#ifndef LEAKTOP_MEM_LIMITS_H
#define LEAKTOP_MEM_LIMITS_H

#include <stdint.h>
#include <sys/types.h>

#define LT_NO_LIMIT UINT64_MAX
#define LT_LIMITS_MAX 8

/* Which of the process's figures grows toward a limit. */
typedef enum lt_limit_figure {
    LT_FIGURE_RSS,     /* resident memory: cgroups charge it, MemAvailable runs out of it */
    LT_FIGURE_VM_SIZE, /* address space: RLIMIT_AS */
    LT_FIGURE_VM_DATA, /* data segment and private mappings: RLIMIT_DATA */
} lt_limit_figure;

/* One limit: usage grows toward limit; usage may include other processes (a cgroup's). */
typedef struct lt_limit {
    char source[48];       /* "cgroup v2 memory.max", "RLIMIT_AS", "MemAvailable", ... */
    char where[192];       /* the cgroup (relative to its hierarchy) it is set on, or "" */
    uint64_t limit, usage; /* bytes; usage <= limit usually, not always (memory.high) */
    lt_limit_figure figure;
} lt_limit;

typedef struct lt_limits {
    uint64_t read_wall_ns; /* when this was read (CLOCK_REALTIME): usages are of that moment */
    /* The process, from /proc/PID/status. */
    uint64_t rss, vm_size, vm_data, swap;
    /* Its memory cgroup: version 0 when none was found (no memory controller mounted). */
    int cgroup_version;
    char cgroup[192];          /* its path in the hierarchy, "/user.slice/..." */
    uint64_t cgroup_current;   /* memory.current (v2) or memory.usage_in_bytes (v1) */
    uint64_t cgroup_max;       /* the smallest memory.max / memory.limit_in_bytes up the tree */
    uint64_t cgroup_high;      /* v2: the smallest memory.high; LT_NO_LIMIT on v1 */
    uint64_t cgroup_oom_kills; /* memory.events oom_kill (v2), memory.oom_control (v1) */
    uint64_t cgroup_failcnt;   /* v1: memory.failcnt */
    uint64_t rlimit_as, rlimit_data; /* soft limits; LT_NO_LIMIT when unlimited */
    uint64_t mem_available, mem_total;
    /* Every finite limit above, in the order found. */
    lt_limit limits[LT_LIMITS_MAX];
    int nlimits;
} lt_limits;

/* Read everything for pid under proc_root ("/proc") and sys_root ("/sys"). Missing pieces are
 * left out (no cgroup, no limits file); the status file is required. Returns 0, or -1 with
 * *cause (lt_free it) when the process is gone or unreadable. */
int lt_limits_read(const char *proc_root, const char *sys_root, pid_t pid, lt_limits *out,
                   char **cause);

/* The figure f of the process as lt_limits_read saw it. */
uint64_t lt_limits_figure(const lt_limits *l, lt_limit_figure f);

#endif
