/*
 * Findings over the processes of one program: the suspects each process's own model gave
 * (suspects.c, the same judge as for one process), merged by what they name, so that a type
 * that grows in every worker is one finding "in 3 of 3 workers" with the pids it grows in.
 * Plain data in, plain data out; the TUI and `check` both use it.
 */
#ifndef LEAKTOP_TREE_FINDINGS_H
#define LEAKTOP_TREE_FINDINGS_H

#include <sys/types.h>

#include "suspects.h"

#define LT_FINDING_MAX_PIDS 64

/* One process's verdict. */
typedef struct lt_proc_suspects {
    pid_t pid;
    const lt_suspect *suspects; /* most likely first */
    int n;
} lt_proc_suspects;

typedef struct lt_finding {
    const lt_suspect *best; /* the highest-scoring suspect of that name, in procs[best_proc] */
    int best_proc;
    int nprocs;             /* in how many of the processes it is a suspect */
    pid_t pids[LT_FINDING_MAX_PIDS]; /* those processes, ascending (the first 64) */
    double growth_bytes_per_s; /* summed over the processes */
    double growth_count_per_s;
} lt_finding;

/* Merge the suspects of nprocs processes by kind and name into out (at most max), the findings
 * in most processes first, then by the best score. Returns how many. */
int lt_findings_merge(const lt_proc_suspects *procs, int nprocs, lt_finding *out, int max);

/* Where f was found, into buf: "in pid 1234" (one process), "in 3 of 3 workers" (only
 * processes other than root, of nworkers), or "in 4 of 4 processes" (root too, of nprocs). */
void lt_finding_where(const lt_finding *f, pid_t root, int nworkers, int nprocs, char *buf,
                      size_t len);

#endif
