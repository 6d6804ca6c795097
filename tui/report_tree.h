/*
 * The check report of a program of several processes: the root's report (report.h) plus one
 * report per followed descendant, each judged alone by the same judge, and the findings merged
 * over all of them (tree_findings.h). The writers (report_json.c, report_text.c) list the
 * processes and give each suspect the pids it was found in.
 */
#ifndef LEAKTOP_REPORT_TREE_H
#define LEAKTOP_REPORT_TREE_H

#include <sys/types.h>

#include "report.h"
#include "tree.h"
#include "tree_findings.h"

#define LT_REPORT_TREE_MAX_FINDINGS 40

typedef struct lt_report_proc {
    const lt_report *report; /* the root's is the caller's; the others are owned */
    pid_t pid, ppid;
    char role[24];
    int gone;                /* its stream ended before the watch did */
} lt_report_proc;

typedef struct lt_report_tree {
    lt_report_proc *procs; /* the root first, then the members in the order they joined */
    int nprocs;
    lt_finding findings[LT_REPORT_TREE_MAX_FINDINGS];
    int nfindings;
} lt_report_tree;

/* Build the tree report: root (already built, over root_pid's model) and every member of tree
 * with a sample in the watch, judged over its own points from its first; top as for
 * lt_report_build. Returns 0, or -1 when out of memory. */
int lt_report_tree_build(lt_report_tree *t, const lt_report *root, pid_t root_pid, lt_tree *tree,
                         uint32_t top);
void lt_report_tree_free(lt_report_tree *t);

/* The report that holds finding f's best suspect (its model has the tracebacks). */
const lt_report *lt_report_tree_owner(const lt_report_tree *t, const lt_finding *f);

#endif
