/*
 * The agent's core: a native thread that takes a sample every interval, keeps a bounded history,
 * and serves it to every viewer on the Unix socket of the contracts. Plain C with no Python in
 * it: the binding (leaktop_module.c) supplies the census and the commands through lt_agent_ops,
 * and tests drive it with fakes.
 *
 * Threads: lt_agent_start/stop are called by one controlling thread (the host's, under its own
 * lock such as the GIL); everything else runs on the agent thread. They communicate through
 * atomics and a wake-up pipe, never a lock, so a fork at any moment leaves nothing locked.
 */
#ifndef LEAKTOP_AGENT_CORE_H
#define LEAKTOP_AGENT_CORE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "client_conn.h"
#include "history.h"
#include "leaktop/proto.h"
#include "site_table.h"
#include "strtab.h"
#include "type_census.h"
#include "type_sites.h"

typedef struct lt_agent lt_agent;

#define LT_AGENT_MARKERS 64
#define LT_AGENT_TYPE_SITES 10 /* rows in a TYPE_SITES answer */

typedef struct lt_agent_config {
    uint32_t interval_ms;     /* census period; default 1000 */
    uint32_t history_seconds; /* how far back late joiners see; default 600 */
    uint32_t history_rows;    /* type rows kept per history sample; default 128 */
    uint32_t max_clients;     /* viewers at once; default 64; more are refused */
    const char *socket_path;  /* NULL: the contracts' path for getpid() */
    uint32_t exit_linger_ms;  /* at process exit, wait this long for a first viewer if none has
                                 come yet (a launcher is connecting); 0: do not wait */
    uint32_t top_sites;       /* rows of each list in a live SITES frame; default 200 */
    uint32_t history_sites;   /* rows of each list in a history SITES frame; default 32 */
} lt_agent_config;

typedef struct lt_agent_ops {
    void *ctx;
    /* Take one sample on the agent thread: fill s's scalar fields and run the census into
     * lt_agent_census(a), naming types with lt_agent_intern. With an allocation sampler, also
     * fill lt_agent_sites(a) (lt_site_table_begin, then _add per traceback interned with
     * lt_agent_trace_intern) and call lt_agent_sites_ready: a SITES frame then follows the
     * SAMPLE. Returns 0, or -1 to skip this tick (the host was busy, e.g. in the middle of a
     * garbage collection). */
    int (*sample)(void *ctx, lt_agent *a, lt_sample *s);
    /* Run a host command (LT_CMD_GC_COLLECT). Returns 0 with *value set, or -1 with msg. */
    int (*command)(void *ctx, uint16_t code, int64_t *value, char *msg, size_t msglen);
    /* A viewer asked the agent to stop: undo whatever the host side installed. Called on the
     * agent thread just before it exits. */
    void (*stopping)(void *ctx);
    /* Why are objects of type_name alive: fill w (strings stay valid until the next call).
     * Returns 0, or -1 when it cannot search (out of memory). NULL: not supported. */
    int (*why_alive)(void *ctx, const char *type_name, lt_why_msg *w);
    /* Where were the live instances of type_name allocated: walk them and hand every one whose
     * block is a live sample of the allocation sampler to lt_type_sites_add (site handles of
     * lt_agent_sites(a), as the sample callback interned them), and fill ts's instances, mean,
     * walk_ns and, when there is nothing to show, note. Returns 0, or -1 when it cannot walk
     * (note says why). NULL: not supported. */
    int (*type_sites)(void *ctx, const char *type_name, lt_type_sites *ts);
    /* The agent thread is about to end, however it ends: release what the callbacks keep for
     * the thread's life (a Python thread state). Called last, on the agent thread. NULL: none. */
    void (*thread_exit)(void *ctx);
} lt_agent_ops;

/* Identity sent to every viewer in HELLO. Strings are copied. */
typedef struct lt_agent_identity {
    const char *python_version;
    const char *executable;
    uint32_t argc;
    const char *const *argv;
    uint32_t nlib;                /* the library's path prefixes (HELLO 1.1); at most 64 kept */
    const char *const *lib_paths;
} lt_agent_identity;

struct lt_agent {
    lt_agent_config cfg;
    lt_agent_ops ops;
    char *socket_path;
    char *python_version, *executable;
    char **argv;
    uint32_t argc;
    char **lib_paths;
    uint32_t nlib;
    uint64_t start_wall_ns;
    int listen_fd, wake_rd, wake_wr;
    pthread_t thread;
    int thread_started; /* pthread_create succeeded and not yet joined */
    int thread_running; /* atomic: the thread runs its own code (its start-up is over) */
    int stop_flag;      /* atomic: 1 when the controller asks the thread to end */
    int bye_reason;     /* atomic: LT_BYE_* sent to viewers when ending */
    int finished;       /* atomic: the thread has left its loop */
    lt_client *clients;
    uint32_t nclients;
    uint64_t refused_peers, refused_full;
    int greeted; /* some viewer has said hello */
    /* Markers viewers dropped, the last LT_AGENT_MARKERS kept for viewers who come later. */
    struct lt_agent_marker {
        uint32_t id, seq;
        uint64_t wall_ns;
        char label[96];
    } markers[LT_AGENT_MARKERS];
    uint32_t nmarkers;
    lt_strtab strings;
    lt_census census;
    lt_history history;
    lt_type_row *history_rows;
    uint32_t seq;
    lt_buf scratch;   /* frame encoding */
    lt_buf announce;  /* STRING frames of the strings interned during a sample */
    uint32_t announced; /* ids below this have been sent to every viewer */
    uint64_t census_ns_max;
    lt_site_table sites; /* allocation sites, when the host samples allocations */
    lt_sites sites_msg;  /* the SITES of the current tick */
    int sites_ready;     /* the sample callback filled sites this tick */
    lt_memory memory;    /* the MEMORY of the current tick */
    int memory_python;   /* the sample callback handed pymalloc's figures this tick */
    int swept;           /* atomic: 1 + stale sockets removed at start, 0 until the sweep ran */
};

/* Default configuration. */
void lt_agent_config_default(lt_agent_config *cfg);

/* Create the socket (directory checked, stale socket replaced) and start the thread, which first
 * removes the stale sockets of dead agents in the socket's directory (lt_sock_sweep_stale; the
 * swept field says when it has). Returns the
 * agent, or NULL with *cause (free with lt_free) when the directory is unsafe, the path too long,
 * or memory or threads run out; nothing is left behind then. */
lt_agent *lt_agent_start(const lt_agent_config *cfg, const lt_agent_ops *ops,
                         const lt_agent_identity *id, char **cause);

/* Ask the thread to end (viewers get BYE with reason), join it, remove the socket, free
 * everything. Blocks until the thread is gone: a caller holding a lock the sample callback takes
 * (the GIL) must release it around this call. NULL is a no-op. */
void lt_agent_stop(lt_agent *a, int bye_reason);

/* Has the thread ended by itself (a viewer's STOP)? lt_agent_stop must still be called. */
int lt_agent_finished(const lt_agent *a);

/* In a forked child: the thread does not exist there. Close the parent's descriptors without
 * touching its socket file, and abandon the parent's memory (the thread may have been changing
 * it at the fork). The pointer is dead after this call. */
void lt_agent_abandon_after_fork(lt_agent *a);

/* For the sample callback, on the agent thread: */
lt_census *lt_agent_census(lt_agent *a);
/* The id of a string. New strings are announced to viewers before the frame that uses them. */
uint32_t lt_agent_intern(lt_agent *a, const char *s, size_t n);

/* For an allocation sampler, on the agent thread during the sample callback: */
lt_site_table *lt_agent_sites(lt_agent *a);
/* The site handle of a resolved traceback (newest frame first), held once; a new one is
 * announced to viewers (TRACE, after the STRINGs it names) before the SITES that uses it. 0 when
 * the table is full of held tracebacks or memory runs out. Release with lt_site_table_unhold. */
uint32_t lt_agent_trace_intern(lt_agent *a, const lt_trace_frame *frames, uint32_t n,
                               int truncated);
/* The sites of this tick are added up: totals carries the SITES scalars (interval, heap
 * estimate, counters); rows are ranked by the agent. */
void lt_agent_sites_ready(lt_agent *a, const lt_sites *totals);

/* For the sample callback: pymalloc's figures (the py_* fields of py) for this tick's MEMORY
 * frame. The agent adds the C heap and the kernel's figures itself, after the callback, and
 * sends MEMORY after the SAMPLE (and SITES) every tick, with whatever parts it could read. */
void lt_agent_memory_python(lt_agent *a, const lt_memory *py);

/* Milliseconds of CLOCK_MONOTONIC and nanoseconds of both clocks. */
uint64_t lt_mono_ns(void);
uint64_t lt_wall_ns(void);

#endif
