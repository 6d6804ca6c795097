/* Merging the suspects of a program's processes. */
#include "tree_findings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
same(const lt_suspect *a, const lt_suspect *b)
{
    return a->kind == b->kind && strcmp(a->name, b->name) == 0;
}

static int
cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

static int
cmp_finding(const void *a, const void *b)
{
    const lt_finding *x = a, *y = b;
    if (x->nprocs != y->nprocs)
        return x->nprocs < y->nprocs ? 1 : -1;
    if (x->best->score != y->best->score)
        return x->best->score < y->best->score ? 1 : -1;
    return strcmp(x->best->name, y->best->name);
}

int
lt_findings_merge(const lt_proc_suspects *procs, int nprocs, lt_finding *out, int max)
{
    int n = 0;
    for (int p = 0; p < nprocs; p++) {
        for (int i = 0; i < procs[p].n; i++) {
            const lt_suspect *s = &procs[p].suspects[i];
            lt_finding *f = NULL;
            for (int k = 0; k < n && f == NULL; k++)
                if (same(out[k].best, s))
                    f = &out[k];
            if (f == NULL) {
                if (n >= max)
                    continue;
                f = &out[n++];
                memset(f, 0, sizeof *f);
                f->best = s;
                f->best_proc = p;
            } else {
                /* The same process listed twice under one name counts once. */
                int seen = 0;
                for (int k = 0; k < f->nprocs && k < LT_FINDING_MAX_PIDS; k++)
                    seen |= f->pids[k] == procs[p].pid;
                if (seen)
                    continue;
                if (s->score > f->best->score) {
                    f->best = s;
                    f->best_proc = p;
                }
            }
            if (f->nprocs < LT_FINDING_MAX_PIDS)
                f->pids[f->nprocs] = procs[p].pid;
            f->nprocs++;
            f->growth_bytes_per_s += s->growth_bytes_per_s;
            f->growth_count_per_s += s->growth_count_per_s;
        }
    }
    for (int k = 0; k < n; k++)
        qsort(out[k].pids, out[k].nprocs < LT_FINDING_MAX_PIDS ? (size_t)out[k].nprocs
                                                               : LT_FINDING_MAX_PIDS,
              sizeof out[k].pids[0], cmp_pid);
    qsort(out, (size_t)n, sizeof *out, cmp_finding);
    return n;
}

void
lt_finding_where(const lt_finding *f, pid_t root, int nworkers, int nprocs, char *buf,
                 size_t len)
{
    int has_root = 0;
    for (int k = 0; k < f->nprocs && k < LT_FINDING_MAX_PIDS; k++)
        has_root |= f->pids[k] == root;
    if (f->nprocs == 1 && (has_root || nworkers <= 1))
        snprintf(buf, len, "in pid %ld", (long)f->pids[0]);
    else if (!has_root)
        snprintf(buf, len, "in %d of %d worker%s", f->nprocs, nworkers, nworkers == 1 ? "" : "s");
    else
        snprintf(buf, len, "in %d of %d processes", f->nprocs, nprocs);
}
