/*
 * A program's process tree as /proc shows it: every descendant of a root pid, its parent, and
 * the role its command line gives it (a multiprocessing helper, or a worker). Collection only,
 * from a /proc root given by the caller (tests point it at a fixture). tree.c connects to the
 * descendants that have an agent socket.
 */
#ifndef LEAKTOP_PROC_TREE_H
#define LEAKTOP_PROC_TREE_H

#include <stddef.h>
#include <sys/types.h>

#define LT_PROC_TREE_MAX 512 /* descendants listed at most; the rest are ignored */

typedef struct lt_proc_node {
    pid_t pid, ppid;
    int depth;     /* 1: a child of the root */
    char role[24]; /* "worker", "forkserver", "resource tracker" */
} lt_proc_node;

/* The descendants of root under proc (normally "/proc"), parents before their children, at most
 * max. Processes that vanish while being read are skipped. Returns how many, or -1 when proc
 * cannot be read. */
int lt_proc_tree_descendants(const char *proc, pid_t root, lt_proc_node *out, int max);

/* The parent of pid under proc, or 0 when unknown (gone, unreadable). */
pid_t lt_proc_tree_parent(const char *proc, pid_t pid);

/* The role a process's command line (NUL-separated, len bytes) gives it: "forkserver",
 * "resource tracker" for multiprocessing's helpers, else "worker". */
const char *lt_proc_tree_role(const char *cmdline, size_t len);

#endif
