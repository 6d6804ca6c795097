/* The check report of a program of several processes. */
#include "report_tree.h"

#include <stdio.h>
#include <string.h>

#include "leaktop/mem.h"
#include "proc_tree.h"

int
lt_report_tree_build(lt_report_tree *t, const lt_report *root, pid_t root_pid, lt_tree *tree,
                     uint32_t top)
{
    memset(t, 0, sizeof *t);
    t->procs = lt_calloc(tree->n + 1, sizeof *t->procs);
    lt_proc_suspects *ps = lt_calloc(tree->n + 1, sizeof *ps);
    if (t->procs == NULL || ps == NULL) {
        lt_free(t->procs);
        lt_free(ps);
        t->procs = NULL;
        return -1;
    }
    t->procs[0].report = root;
    t->procs[0].pid = root_pid;
    t->procs[0].ppid = lt_proc_tree_parent(tree->proc, root_pid);
    snprintf(t->procs[0].role, sizeof t->procs[0].role, "%s", "main");
    t->nprocs = 1;
    for (uint32_t i = 0; i < tree->n; i++) {
        lt_member *mb = tree->m[i];
        uint32_t first = mb->have_first ? mb->first : mb->model.n;
        lt_report *r = lt_calloc(1, sizeof *r);
        char *cause = NULL;
        if (r == NULL || lt_report_build(r, &mb->model, first, top, &cause) < 0) {
            lt_free(cause); /* no sample in the watch: nothing to say about it */
            lt_free(r);
            continue;
        }
        lt_report_proc *p = &t->procs[t->nprocs++];
        p->report = r;
        p->pid = mb->pid;
        p->ppid = mb->ppid;
        p->gone = mb->gone;
        snprintf(p->role, sizeof p->role, "%s", mb->role);
    }
    for (int i = 0; i < t->nprocs; i++)
        ps[i] = (lt_proc_suspects){t->procs[i].pid, t->procs[i].report->suspects,
                                   t->procs[i].report->nsuspects};
    t->nfindings = lt_findings_merge(ps, t->nprocs, t->findings, LT_REPORT_TREE_MAX_FINDINGS);
    lt_free(ps);
    return 0;
}

void
lt_report_tree_free(lt_report_tree *t)
{
    for (int i = 1; i < t->nprocs; i++) {
        lt_report *r = (lt_report *)t->procs[i].report;
        lt_report_free(r);
        lt_free(r);
    }
    lt_free(t->procs);
    t->procs = NULL;
    t->nprocs = 0;
    t->nfindings = 0;
}

const lt_report *
lt_report_tree_owner(const lt_report_tree *t, const lt_finding *f)
{
    return t->procs[f->best_proc].report;
}
