/*
 * What the TUI's Workers screen shows about a program of several processes: one row per process
 * (pid, role, RSS and its growth, suspects) and the findings merged over them. Collected from
 * the root's model and the tree's members (each judged by suspects.c over its own last
 * LT_UI_SUSPECT_WINDOW samples); view_workers.c draws it.
 */
#ifndef LEAKTOP_TREE_SUMMARY_H
#define LEAKTOP_TREE_SUMMARY_H

#include <stdint.h>
#include <sys/types.h>

#include "model.h"
#include "suspects.h"
#include "tree.h"
#include "tree_findings.h"

#define LT_SUMMARY_PROCS (1 + LT_TREE_MAX + LT_TREE_KEEP_GONE)
#define LT_SUMMARY_SUSPECTS 16  /* judged per process */
#define LT_SUMMARY_FINDINGS 32

typedef struct lt_summary_proc {
    pid_t pid, ppid;
    char role[24];
    int gone;
    uint32_t samples;
    uint64_t rss, heap;
    double rss_growth;          /* bytes per second over its last 30 samples */
    int nsuspects;
    lt_suspect suspects[LT_SUMMARY_SUSPECTS];
} lt_summary_proc;

typedef struct lt_tree_summary {
    lt_summary_proc procs[LT_SUMMARY_PROCS]; /* the root first */
    int nprocs, nalive;
    uint64_t rss_total;         /* over the processes alive */
    lt_finding findings[LT_SUMMARY_FINDINGS];
    int nfindings;
} lt_tree_summary;

/* Fill s from the root (root_model may have no sample yet; its parent root_ppid) and every
 * member of tree, each judged over its last `window` samples. */
void lt_tree_summary_build(lt_tree_summary *s, const lt_model *root_model, pid_t root_pid,
                           pid_t root_ppid, int root_gone, const lt_tree *tree, uint32_t window);

#endif
