/*
 * The processes of one program beyond its root: every descendant with a leaktop agent (pre-fork
 * workers, pool processes, spawned children), each with its own connection and model, exactly
 * as a viewer of that one process would have. Found by walking the root's children in /proc and
 * looking for their agent sockets; members join as they appear and are marked gone when their
 * stream ends (a recycled or killed worker). The root itself is the caller's (watch.c, app.c).
 * Not thread-safe.
 */
#ifndef LEAKTOP_TREE_H
#define LEAKTOP_TREE_H

#include <poll.h>
#include <stdint.h>
#include <sys/types.h>

#include "conn.h"
#include "model.h"

#define LT_TREE_MAX 64          /* processes followed at once beside the root */
#define LT_TREE_KEEP_GONE 16    /* ended members kept (their last data) before the oldest go */
#define LT_TREE_MODEL_POINTS 1024 /* samples kept per member (17 min at 1 s) */
#define LT_TREE_SCAN_S 0.5      /* how often the tree is walked for new members */

typedef struct lt_tree lt_tree;

typedef struct lt_member {
    lt_tree *tree;
    pid_t pid, ppid;
    char role[24];
    lt_conn conn;
    int connected;   /* its stream is open */
    lt_model model;
    uint32_t first;  /* its first point of the watch (after the history of a running one) */
    int have_first;  /* first is known (its history has ended) */
    int preexisting; /* it ran before the watch began: its history is not part of the watch */
    int gone;        /* its stream ended: it exited, was killed, or its agent stopped */
    double joined_s, gone_s; /* monotonic seconds */
    uint32_t serial; /* order of joining, from 1 */
} lt_member;

/* Raw frames of a member as received (record). */
typedef void (*lt_tree_tap)(void *ctx, const lt_member *m, const uint8_t *frame, size_t len);

struct lt_tree {
    pid_t root;
    const char *proc;   /* "/proc" */
    const char *client; /* CLIENT_HELLO name */
    int started;        /* leaktop started the root: every member's life is in the watch */
    int scanned;        /* the tree was walked at least once */
    double next_scan;
    lt_member *m[LT_TREE_MAX + LT_TREE_KEEP_GONE];
    uint32_t n;
    uint32_t serial;
    lt_tree_tap tap;
    void *tap_ctx;
    pid_t pinned;       /* a member never freed while gone (the one a viewer shows), or 0 */
};

/* An empty tree below root. started: leaktop started root (members' histories count). */
void lt_tree_init(lt_tree *t, pid_t root, const char *client, int started);
/* End every connection and free every member. */
void lt_tree_free(lt_tree *t);

/* Walk root's descendants and connect to each new one whose agent socket exists; ended members
 * beyond LT_TREE_KEEP_GONE are freed, oldest first. Does nothing before next_scan unless force.
 * Returns how many joined. Never fails: a process that cannot be reached is tried again at the
 * next walk. */
int lt_tree_scan(lt_tree *t, double now_s, int force);

/* Poll entries for the open members' sockets into pfd (at most max), with who[i] the member.
 * Returns how many. */
int lt_tree_pollfds(lt_tree *t, struct pollfd *pfd, lt_member **who, int max);
/* Read what the member's socket holds into its model; a stream that ends or breaks marks it
 * gone. Returns 1 when its data changed, 0 otherwise. */
int lt_tree_service(lt_member *mb, double now_s);
/* Read everything already queued on every open member (the last samples before the end). */
void lt_tree_drain(lt_tree *t, double now_s);
/* Close every member's connection (the models stay). */
void lt_tree_disconnect(lt_tree *t);

/* A member that is never connected: its model is filled by the caller (a recording's process,
 * replay.c). NULL when the tree is full or out of memory. */
lt_member *lt_tree_adopt(lt_tree *t, pid_t pid, pid_t ppid, const char *role);

/* Members alive (not gone). */
uint32_t lt_tree_alive(const lt_tree *t);
/* The member serving pid, or NULL. */
lt_member *lt_tree_find(lt_tree *t, pid_t pid);

#endif
