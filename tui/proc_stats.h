/*
 * What the kernel says about a watched process, read through libproc2 (procps): memory, swap,
 * page faults, threads, CPU. Collection only; the header draws it. Rates (CPU %, faults per
 * second) come from the difference with the previous read of the same reader.
 */
#ifndef LEAKTOP_PROC_STATS_H
#define LEAKTOP_PROC_STATS_H

#include <stdint.h>
#include <sys/types.h>

typedef struct lt_proc_stats {
    int valid;            /* 0: the process is gone or unreadable */
    uint64_t rss, swap;   /* bytes */
    uint64_t rss_anon, rss_file;
    uint64_t maj_faults, min_faults;
    double maj_faults_per_s, min_faults_per_s;
    int threads;
    double cpu_percent;   /* of one core, since the previous read */
    double elapsed_s;     /* since the process started */
    uid_t euid;
} lt_proc_stats;

typedef struct lt_proc_reader lt_proc_reader;

/* A reader for one pid. NULL when libproc2 cannot be initialised (no /proc). */
lt_proc_reader *lt_proc_reader_new(pid_t pid);
void lt_proc_reader_free(lt_proc_reader *r);
/* Read now. Returns 0, or -1 (out->valid = 0) when the process is gone. */
int lt_proc_reader_read(lt_proc_reader *r, lt_proc_stats *out);

/* Does pid run Python? Its executable's name, or a libpython mapped in. 0 when unreadable. */
int lt_proc_is_python(pid_t pid);

/* A process as the picker lists it. */
typedef struct lt_proc_entry {
    pid_t pid;
    uint64_t rss;
    double elapsed_s;
    char cmdline[256];
    int has_agent;   /* a live agent socket of ours exists for it */
    int agent_stale; /* its socket file is there but nobody listens on it (a recycled pid) */
} lt_proc_entry;

/* The Python processes of this user (by executable name or a mapped libpython), largest RSS
 * first, at most max. Returns how many, or -1 when /proc cannot be read. */
int lt_proc_list_python(lt_proc_entry *out, int max);

#endif
