/* A program's process tree, read from /proc. */
#define _GNU_SOURCE
#include "proc_tree.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "leaktop/mem.h"

/* Read a small file whole. Returns its length, or -1. */
static ssize_t
slurp(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    ssize_t n;
    while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

/* The ppid field of a stat line: after the last ')' (the command name may hold anything). */
static pid_t
stat_ppid(const char *stat)
{
    const char *p = strrchr(stat, ')');
    if (p == NULL)
        return 0;
    char state;
    long ppid;
    if (sscanf(p + 1, " %c %ld", &state, &ppid) != 2 || ppid < 0)
        return 0;
    return (pid_t)ppid;
}

pid_t
lt_proc_tree_parent(const char *proc, pid_t pid)
{
    char path[512], buf[1024];
    snprintf(path, sizeof path, "%s/%ld/stat", proc, (long)pid);
    if (slurp(path, buf, sizeof buf) <= 0)
        return 0;
    return stat_ppid(buf);
}

const char *
lt_proc_tree_role(const char *cmdline, size_t len)
{
    /* memmem over the NUL-separated arguments: python -c 'from multiprocessing.forkserver
     * import main; main(...)' names the helper it runs. */
    if (memmem(cmdline, len, "multiprocessing.forkserver", 26) != NULL)
        return "forkserver";
    if (memmem(cmdline, len, "multiprocessing.resource_tracker", 32) != NULL)
        return "resource tracker";
    return "worker";
}

typedef struct pair {
    pid_t pid, ppid;
} pair;

static int
cmp_pair(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

int
lt_proc_tree_descendants(const char *proc, pid_t root, lt_proc_node *out, int max)
{
    DIR *d = opendir(proc);
    if (d == NULL)
        return -1;
    size_t n = 0, cap = 256;
    pair *all = lt_malloc(cap * sizeof *all);
    if (all == NULL) {
        closedir(d);
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0 || pid == root)
            continue;
        pid_t ppid = lt_proc_tree_parent(proc, (pid_t)pid);
        if (ppid <= 0)
            continue;
        if (n == cap) {
            pair *bigger = lt_realloc(all, cap * 2 * sizeof *all);
            if (bigger == NULL)
                break;
            all = bigger;
            cap *= 2;
        }
        all[n++] = (pair){(pid_t)pid, ppid};
    }
    closedir(d);
    qsort(all, n, sizeof *all, cmp_pair);
    /* Breadth first from the root: each round takes the children of the last round's nodes
     * [from, before). */
    int count = 0, from = 0, depth = 1;
    for (;;) {
        int before = count;
        for (size_t i = 0; i < n && count < max; i++) {
            int is_child = depth == 1 && all[i].ppid == root, parent = -1;
            for (int k = from; depth > 1 && k < before && !is_child; k++)
                if (all[i].ppid == out[k].pid) {
                    is_child = 1;
                    parent = k;
                }
            if (!is_child)
                continue;
            lt_proc_node *node = &out[count++];
            memset(node, 0, sizeof *node);
            node->pid = all[i].pid;
            node->ppid = all[i].ppid;
            node->depth = depth;
            char path[512], cmd[4096];
            snprintf(path, sizeof path, "%s/%ld/cmdline", proc, (long)node->pid);
            ssize_t len = slurp(path, cmd, sizeof cmd);
            /* A forkserver's children are forked from it: same command line, but workers. */
            int forked_worker = parent >= 0 && strcmp(out[parent].role, "forkserver") == 0;
            snprintf(node->role, sizeof node->role, "%s",
                     forked_worker ? "worker" : lt_proc_tree_role(cmd, len > 0 ? (size_t)len : 0));
        }
        if (count == before || count >= max)
            break;
        from = before;
        depth++;
    }
    lt_free(all);
    return count;
}
