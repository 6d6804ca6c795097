/* Collecting the Workers screen: each process's figures and the merged findings. */
#include "tree_summary.h"

#include <stdio.h>
#include <string.h>

#include "report.h"

static void
fill(lt_summary_proc *p, const lt_model *m, uint32_t window)
{
    p->samples = m->n;
    if (m->n == 0)
        return;
    const lt_point *pl = lt_model_point(m, m->n - 1);
    p->rss = pl->rss;
    p->heap = pl->have_sites ? pl->heap_sampled : pl->heap;
    double x[30], y[30];
    uint32_t from = m->n > 30 ? m->n - 30 : 0, k = 0;
    const lt_point *p0 = lt_model_point(m, from);
    for (uint32_t i = from; i < m->n; i++, k++) {
        const lt_point *q = lt_model_point(m, i);
        x[k] = (double)(q->mono_ns - p0->mono_ns) / 1e9;
        y[k] = (double)q->rss;
    }
    p->rss_growth = lt_slope(x, y, k);
    uint32_t first = m->n > window ? m->n - window : 0;
    p->nsuspects = lt_suspects_find(m, first, p->suspects, LT_SUMMARY_SUSPECTS);
}

void
lt_tree_summary_build(lt_tree_summary *s, const lt_model *root_model, pid_t root_pid,
                      pid_t root_ppid, int root_gone, const lt_tree *tree, uint32_t window)
{
    s->nprocs = 0;
    s->nalive = 0;
    s->rss_total = 0;
    lt_summary_proc *r = &s->procs[s->nprocs++];
    memset(r, 0, sizeof *r);
    r->pid = root_pid;
    r->ppid = root_ppid;
    snprintf(r->role, sizeof r->role, "main");
    r->gone = root_gone;
    fill(r, root_model, window);
    for (uint32_t i = 0; i < tree->n && s->nprocs < LT_SUMMARY_PROCS; i++) {
        const lt_member *mb = tree->m[i];
        lt_summary_proc *p = &s->procs[s->nprocs++];
        memset(p, 0, sizeof *p);
        p->pid = mb->pid;
        p->ppid = mb->ppid;
        snprintf(p->role, sizeof p->role, "%s", mb->role);
        p->gone = mb->gone;
        fill(p, &mb->model, window);
    }
    lt_proc_suspects ps[LT_SUMMARY_PROCS];
    int n = 0;
    for (int i = 0; i < s->nprocs; i++) {
        if (!s->procs[i].gone) {
            s->nalive++;
            s->rss_total += s->procs[i].rss;
        } else {
            continue; /* the findings are about the processes running now */
        }
        ps[n++] = (lt_proc_suspects){s->procs[i].pid, s->procs[i].suspects,
                                     s->procs[i].nsuspects};
    }
    s->nfindings = lt_findings_merge(ps, n, s->findings, LT_SUMMARY_FINDINGS);
}
