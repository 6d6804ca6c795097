/* The processes of one program beyond its root, each with its own connection and model. */
#define _GNU_SOURCE
#include "tree.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "leaktop/mem.h"
#include "leaktop/sockpath.h"
#include "proc_tree.h"

void
lt_tree_init(lt_tree *t, pid_t root, const char *client, int started)
{
    memset(t, 0, sizeof *t);
    t->root = root;
    t->proc = "/proc";
    t->client = client;
    t->started = started;
}

static void
member_free(lt_member *mb)
{
    if (mb == NULL)
        return;
    if (mb->connected)
        lt_conn_close(&mb->conn);
    lt_model_free(&mb->model);
    lt_free(mb);
}

void
lt_tree_free(lt_tree *t)
{
    for (uint32_t i = 0; i < t->n; i++)
        member_free(t->m[i]);
    t->n = 0;
}

lt_member *
lt_tree_find(lt_tree *t, pid_t pid)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (t->m[i]->pid == pid)
            return t->m[i];
    return NULL;
}

uint32_t
lt_tree_alive(const lt_tree *t)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < t->n; i++)
        k += !t->m[i]->gone;
    return k;
}

static void
member_tap(void *ctx, const uint8_t *frame, size_t len)
{
    lt_member *mb = ctx;
    if (mb->tree->tap != NULL)
        mb->tree->tap(mb->tree->tap_ctx, mb, frame, len);
}

/* Free the oldest gone member. Returns 0, or -1 when none is gone. */
static int
drop_oldest_gone(lt_tree *t)
{
    uint32_t best = UINT32_MAX;
    for (uint32_t i = 0; i < t->n; i++)
        if (t->m[i]->gone && t->m[i]->pid != t->pinned && (best == UINT32_MAX || t->m[i]->gone_s < t->m[best]->gone_s))
            best = i;
    if (best == UINT32_MAX)
        return -1;
    member_free(t->m[best]);
    memmove(&t->m[best], &t->m[best + 1], (t->n - best - 1) * sizeof t->m[0]);
    t->n--;
    return 0;
}

/* Connect to node's agent. Returns the new member, or NULL (no socket yet, not ours, no
 * memory). */
static lt_member *
join(lt_tree *t, const lt_proc_node *node, double now_s)
{
    char path[4096], *cause = NULL;
    struct stat st;
    if (lt_sock_path(node->pid, path, sizeof path, &cause) < 0) {
        lt_free(cause);
        return NULL;
    }
    if (stat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
        return NULL; /* no agent (yet): a forked child starts its own a moment later */
    lt_member *mb = lt_calloc(1, sizeof *mb);
    if (mb == NULL)
        return NULL;
    if (lt_model_init(&mb->model, LT_TREE_MODEL_POINTS) < 0) {
        lt_free(mb);
        return NULL;
    }
    int kind = 0;
    if (lt_conn_open(&mb->conn, node->pid, t->client, &kind, &cause) < 0) {
        lt_free(cause);
        lt_model_free(&mb->model);
        lt_free(mb);
        return NULL;
    }
    mb->tree = t;
    mb->pid = node->pid;
    mb->ppid = node->ppid;
    snprintf(mb->role, sizeof mb->role, "%s", node->role);
    mb->connected = 1;
    mb->preexisting = !t->started && !t->scanned;
    mb->joined_s = now_s;
    mb->serial = ++t->serial;
    mb->conn.tap = member_tap;
    mb->conn.tap_ctx = mb;
    return mb;
}

int
lt_tree_scan(lt_tree *t, double now_s, int force)
{
    if (!force && t->scanned && now_s < t->next_scan)
        return 0;
    t->next_scan = now_s + LT_TREE_SCAN_S;
    static lt_proc_node nodes[LT_PROC_TREE_MAX];
    int n = lt_proc_tree_descendants(t->proc, t->root, nodes, LT_PROC_TREE_MAX);
    int joined = 0;
    for (int i = 0; i < n; i++) {
        lt_member *old = lt_tree_find(t, nodes[i].pid);
        if (old != NULL)
            continue; /* followed, or its agent stopped: not asked again */
        if (lt_tree_alive(t) >= LT_TREE_MAX)
            break;
        while (t->n >= LT_TREE_MAX + LT_TREE_KEEP_GONE && drop_oldest_gone(t) == 0) {
        }
        if (t->n >= LT_TREE_MAX + LT_TREE_KEEP_GONE)
            break;
        lt_member *mb = join(t, &nodes[i], now_s);
        if (mb == NULL)
            continue;
        t->m[t->n++] = mb;
        joined++;
    }
    /* More gone than we keep: the oldest go. */
    uint32_t gone = t->n - lt_tree_alive(t);
    while (gone-- > LT_TREE_KEEP_GONE && drop_oldest_gone(t) == 0) {
    }
    t->scanned = 1;
    return joined;
}

lt_member *
lt_tree_adopt(lt_tree *t, pid_t pid, pid_t ppid, const char *role)
{
    while (t->n >= LT_TREE_MAX + LT_TREE_KEEP_GONE && drop_oldest_gone(t) == 0) {
    }
    if (t->n >= LT_TREE_MAX + LT_TREE_KEEP_GONE)
        return NULL;
    lt_member *mb = lt_calloc(1, sizeof *mb);
    if (mb == NULL)
        return NULL;
    if (lt_model_init(&mb->model, LT_TREE_MODEL_POINTS) < 0) {
        lt_free(mb);
        return NULL;
    }
    mb->tree = t;
    mb->pid = pid;
    mb->ppid = ppid;
    snprintf(mb->role, sizeof mb->role, "%s", role && role[0] ? role : "worker");
    mb->conn.fd = -1;
    mb->have_first = 1;
    mb->serial = ++t->serial;
    t->m[t->n++] = mb;
    return mb;
}

int
lt_tree_pollfds(lt_tree *t, struct pollfd *pfd, lt_member **who, int max)
{
    int k = 0;
    for (uint32_t i = 0; i < t->n && k < max; i++) {
        if (!t->m[i]->connected)
            continue;
        pfd[k] = (struct pollfd){.fd = t->m[i]->conn.fd, .events = POLLIN};
        who[k++] = t->m[i];
    }
    return k;
}

static void
mark_gone(lt_member *mb, double now_s)
{
    if (mb->connected)
        lt_conn_close(&mb->conn);
    mb->connected = 0;
    mb->gone = 1;
    mb->gone_s = now_s;
}

int
lt_tree_service(lt_member *mb, double now_s)
{
    if (!mb->connected)
        return 0;
    char *cause = NULL;
    uint32_t n = mb->model.n;
    int rc = lt_conn_pump(&mb->conn, &mb->model, 0, &cause);
    lt_free(cause); /* a broken stream of one worker ends that member only */
    if (!mb->have_first && mb->model.history_done) {
        mb->first = mb->preexisting ? mb->model.n : 0;
        mb->have_first = 1;
    }
    if (rc < 0 || rc == 2) {
        mark_gone(mb, now_s);
        return 1;
    }
    (void)n;
    return rc == 1;
}

void
lt_tree_drain(lt_tree *t, double now_s)
{
    for (uint32_t i = 0; i < t->n; i++) {
        lt_member *mb = t->m[i];
        for (int k = 0; k < 64 && mb->connected && lt_tree_service(mb, now_s) == 1; k++) {
        }
    }
}

void
lt_tree_disconnect(lt_tree *t)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (t->m[i]->connected) {
            lt_conn_close(&t->m[i]->conn);
            t->m[i]->connected = 0;
        }
}
