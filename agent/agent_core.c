/* The agent thread: tick, census fan-out, history, accept, viewer commands. */
#define _GNU_SOURCE
#include "agent_core.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "leaktop/mem.h"
#include "leaktop/sockpath.h"
#include "leaktop/version.h"
#include "fork_gate.h"
#include "mem_stats.h"
#include "proc_self.h"

#define BYE_FLUSH_MS 200 /* how long a stopping agent tries to hand viewers their last frames */
#define HISTORY_MAX_BYTES (6u << 20)
/* Allocation sites: resolved tracebacks kept (a few more than the sampler's raw ones, so a raw
 * traceback always finds room) and their frames' bytes. */
#define SITES_MAX 10240u
#define SITES_MAX_FRAME_BYTES (5u << 19)
#define SWEEP_MAX_ENTRIES 4096 /* names of the socket directory looked at for stale sockets */

uint64_t
lt_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t
lt_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
lt_agent_config_default(lt_agent_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->interval_ms = 1000;
    cfg->history_seconds = 600;
    cfg->history_rows = 128;
    cfg->max_clients = 64;
    cfg->top_sites = 200;
    cfg->history_sites = 32;
}

lt_census *
lt_agent_census(lt_agent *a)
{
    return &a->census;
}

/* Queue bytes for every live viewer. */
static void
broadcast(lt_agent *a, const uint8_t *p, size_t len, int droppable)
{
    for (uint32_t i = 0; i < a->nclients; i++)
        lt_client_queue(&a->clients[i], p, len, droppable);
}

lt_site_table *
lt_agent_sites(lt_agent *a)
{
    return &a->sites;
}

uint32_t
lt_agent_trace_intern(lt_agent *a, const lt_trace_frame *frames, uint32_t n, int truncated)
{
    int added = 0;
    return lt_site_table_intern(&a->sites, frames, n, truncated, &added);
}

void
lt_agent_sites_ready(lt_agent *a, const lt_sites *totals)
{
    a->sites_msg = *totals;
    a->sites_ready = 1;
}

void
lt_agent_memory_python(lt_agent *a, const lt_memory *py)
{
    a->memory = *py;
    a->memory.have = LT_MEM_HAVE_PYMALLOC;
    a->memory_python = 1;
}

uint32_t
lt_agent_intern(lt_agent *a, const char *s, size_t n)
{
    int added;
    return lt_strtab_intern(&a->strings, s, n, &added);
}

/* Send every string interned since the last announcement to the viewers. Returns 0, or -1 when
 * out of memory: nothing is marked announced then, and the caller must not send frames that use
 * the new ids (they go out at the next tick that can announce them). */
static int
announce_strings(lt_agent *a)
{
    a->announce.len = 0;
    a->announce.failed = 0;
    for (uint32_t id = a->announced; id < a->strings.n; id++)
        if (lt_encode_string(&a->announce, id, a->strings.text[id], a->strings.len[id]) < 0)
            return -1;
    broadcast(a, a->announce.data, a->announce.len, 0);
    a->announced = a->strings.n;
    return 0;
}

/* Then every traceback interned since, after the strings it names. Same contract. */
static int
announce_traces(lt_agent *a)
{
    if (a->sites.unannounced == 0)
        return 0;
    a->announce.len = 0;
    a->announce.failed = 0;
    if (lt_site_table_encode_new(&a->sites, &a->announce) < 0)
        return -1;
    broadcast(a, a->announce.data, a->announce.len, 0);
    lt_site_table_mark_announced(&a->sites);
    return 0;
}

/* Estimate rows (SAMPLE 1.2) a history sample keeps. */
#define HISTORY_EST_ROWS 32u

/* ---- the fork gate ---------------------------------------------------------------------- */

/* The agent thread holds the fork gate (fork_gate.h) whenever it runs, but while it blocks in
 * poll and while it is in a host callback (they take the GIL). */
static int
poll_ungated(struct pollfd *pfd, nfds_t n, int timeout_ms)
{
    lt_fork_gate_leave();
    int rc = poll(pfd, n, timeout_ms);
    lt_fork_gate_enter();
    return rc;
}

/* ---- one tick ------------------------------------------------------------------------- */

static void
take_sample(lt_agent *a)
{
    lt_sample s;
    memset(&s, 0, sizeof s);
    a->sites_ready = 0;
    a->memory_python = 0;
    lt_fork_gate_leave();
    int rc = a->ops.sample(a->ops.ctx, a, &s);
    lt_fork_gate_enter();
    if (rc < 0) {
        /* strings and tracebacks interned before the skip are real */
        if (announce_strings(a) == 0)
            announce_traces(a);
        return;
    }
    s.seq = a->seq++;
    s.wall_ns = lt_wall_ns();
    s.mono_ns = lt_mono_ns();
    lt_proc_self_rss(&s.rss_bytes, &s.rss_peak_bytes);
    s.types = a->census.rows;
    s.ntypes = a->census.nrows;
    s.types_total = a->census.nrows;
    s.types_complete = !a->census.failed;
    if (s.census_ns > a->census_ns_max)
        a->census_ns_max = s.census_ns;
    int with_sites = a->sites_ready;
    if (with_sites) {
        lt_site_table_finish(&a->sites, &a->sites_msg);
        a->sites_msg.seq = s.seq;
    }
    s.agent_bytes = lt_mem_in_use();
    /* Where the memory goes: pymalloc came with the census (under the GIL); the C heap and the
     * kernel's figures are read here, without it. */
    if (!a->memory_python)
        memset(&a->memory, 0, sizeof a->memory);
    a->memory.seq = s.seq;
    lt_mem_stats_malloc(&a->memory);
    lt_mem_stats_status(&a->memory, "/proc/self/status");

    if (announce_strings(a) < 0)
        return; /* its names could not be announced: this sample would be unreadable */
    if (announce_traces(a) < 0)
        with_sites = 0; /* the same for tracebacks: the SAMPLE goes, its SITES not */
    /* SAMPLE, its SITES and MEMORY travel as one droppable unit: a slow viewer loses all or
     * none. */
    a->scratch.len = 0;
    a->scratch.failed = 0;
    if (lt_encode_sample(&a->scratch, &s, 0, 0) == 0 &&
        (!with_sites || lt_encode_sites(&a->scratch, &a->sites_msg, 0, 0, 0) == 0) &&
        lt_encode_memory(&a->scratch, &a->memory, 0) == 0)
        broadcast(a, a->scratch.data, a->scratch.len, 1);

    /* History keeps a trimmed copy: the rows that matter for curves and growth. */
    s.ntypes = lt_census_rank_history(&a->census, a->history_rows, a->cfg.history_rows);
    s.types = a->history_rows;
    s.types_complete = s.ntypes == s.types_total && !a->census.failed;
    if (s.nest > HISTORY_EST_ROWS)
        s.nest = HISTORY_EST_ROWS; /* the largest estimates (rows come largest first) */
    a->scratch.len = 0;
    a->scratch.failed = 0;
    if (lt_encode_sample(&a->scratch, &s, LT_FLAG_HISTORY, 0) == 0 &&
        (!with_sites || lt_encode_sites(&a->scratch, &a->sites_msg, LT_FLAG_HISTORY,
                                        a->cfg.history_sites, a->cfg.history_sites) == 0) &&
        lt_encode_memory(&a->scratch, &a->memory, LT_FLAG_HISTORY) == 0)
        lt_history_push(&a->history, a->scratch.data, (uint32_t)a->scratch.len);

    /* Sites nobody holds any more are kept for late viewers while there is room. */
    if (with_sites)
        lt_site_table_evict(&a->sites, SITES_MAX / 4 * 3, SITES_MAX_FRAME_BYTES / 4 * 3);
}

/* ---- viewers ---------------------------------------------------------------------------- */

static void
encode_marker(lt_buf *b, const struct lt_agent_marker *mk)
{
    lt_marker_msg msg = {.id = mk->id, .seq = mk->seq, .wall_ns = mk->wall_ns, .label = mk->label};
    lt_encode_marker(b, &msg);
}


/* Everything a new viewer needs before live frames: who we are, every string, the history. */
static int
greet(lt_agent *a, lt_client *c)
{
    lt_buf b;
    lt_buf_init(&b);
    lt_hello h = {
        .major = LT_PROTO_MAJOR,
        .minor = LT_PROTO_MINOR,
        .pid = (uint32_t)getpid(),
        .interval_ms = a->cfg.interval_ms,
        .start_wall_ns = a->start_wall_ns,
        .history_capacity = a->history.cap,
        .python_version = a->python_version,
        .agent_version = LEAKTOP_VERSION,
        .executable = a->executable,
        .argc = a->argc,
        .argv = (const char **)a->argv,
        .nlib = a->nlib,
        .lib_paths = (const char **)a->lib_paths,
    };
    lt_encode_hello(&b, &h);
    for (uint32_t id = 0; id < a->announced; id++)
        lt_encode_string(&b, id, a->strings.text[id], a->strings.len[id]);
    /* Every traceback still held, so live SITES and the history can name them. */
    lt_site_table_encode_announced(&a->sites, &b);
    int ok = !b.failed && lt_client_queue(c, b.data, b.len, 0) > 0;
    lt_buf_free(&b);
    for (uint32_t i = 0; ok && i < a->history.n; i++) {
        const lt_history_entry *e = lt_history_at(&a->history, i);
        ok = lt_client_queue(c, e->frame, e->len, 0) > 0;
    }
    lt_buf_init(&b);
    uint32_t kept = a->nmarkers < LT_AGENT_MARKERS ? a->nmarkers : LT_AGENT_MARKERS;
    for (uint32_t i = a->nmarkers - kept; i < a->nmarkers; i++)
        encode_marker(&b, &a->markers[i % LT_AGENT_MARKERS]);
    lt_encode_empty(&b, LT_FRAME_HISTORY_END);
    ok = ok && !b.failed && lt_client_queue(c, b.data, b.len, 0) > 0;
    lt_buf_free(&b);
    return ok ? 0 : -1;
}

/* Full house: make room by closing the oldest connection that has not said hello yet (junk, or
 * a client too slow to be a viewer). Returns 1 when a slot was freed, 0 when every slot holds a
 * real viewer. */
static int
evict_silent_client(lt_agent *a)
{
    uint32_t victim = UINT32_MAX;
    for (uint32_t i = 0; i < a->nclients; i++)
        if (!a->clients[i].said_hello &&
            (victim == UINT32_MAX || a->clients[i].accepted_ns < a->clients[victim].accepted_ns))
            victim = i;
    if (victim == UINT32_MAX)
        return 0;
    lt_client_close(&a->clients[victim]);
    a->clients[victim] = a->clients[--a->nclients];
    return 1;
}

/* A viewer dropped a marker: keep it (the oldest goes past LT_AGENT_MARKERS) and tell every
 * viewer, this one included. */
static void
drop_marker(lt_agent *a, const lt_client *from)
{
    struct lt_agent_marker *mk = &a->markers[a->nmarkers % LT_AGENT_MARKERS];
    a->nmarkers++;
    mk->id = a->nmarkers;
    mk->seq = a->seq > 0 ? a->seq - 1 : 0;
    mk->wall_ns = lt_wall_ns();
    snprintf(mk->label, sizeof mk->label, "marker %u from %s", mk->id,
             from->name[0] ? from->name : "a viewer");
    lt_buf b;
    lt_buf_init(&b);
    encode_marker(&b, mk);
    if (!b.failed)
        broadcast(a, b.data, b.len, 0);
    lt_buf_free(&b);
}

static void
accept_clients(lt_agent *a)
{
    for (;;) {
        int fd = accept4(a->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a transient error: poll tells us again */
        uid_t uid = (uid_t)-1;
        if (lt_sock_peer_allowed(fd, &uid) != 1) {
            a->refused_peers++;
            close(fd);
            continue;
        }
        if (a->nclients >= a->cfg.max_clients && !evict_silent_client(a)) {
            a->refused_full++;
            close(fd);
            continue;
        }
        lt_client *c = &a->clients[a->nclients];
        lt_client_init(c, fd, uid);
        c->accepted_ns = lt_mono_ns();
        if (greet(a, c) < 0) {
            lt_client_close(c);
            continue;
        }
        a->nclients++;
        lt_client_flush(c);
    }
}

static void
reply(lt_client *c, uint16_t code, int32_t status, int64_t value, const char *msg)
{
    lt_buf b;
    lt_buf_init(&b);
    lt_reply r = {.code = code, .status = status, .value = value, .message = msg};
    if (lt_encode_reply(&b, &r) == 0)
        lt_client_queue(c, b.data, b.len, 0);
    lt_buf_free(&b);
}

/* LT_CMD_TYPE_SITES: the top sites of a type's live instances, each with its TRACE first (the
 * viewer may have missed or evicted it), then the TYPE_SITES frame and the reply. */
static void
answer_type_sites(lt_agent *a, lt_client *c, uint32_t name_id)
{
    uint16_t code = LT_CMD_TYPE_SITES;
    if (name_id >= a->strings.n || name_id == LT_STRTAB_OVERFLOW_ID) {
        reply(c, code, -1, 0, "unknown type name id");
        return;
    }
    lt_type_sites ts;
    lt_type_sites_init(&ts);
    lt_fork_gate_leave();
    int rc = a->ops.type_sites(a->ops.ctx, a->strings.text[name_id], &ts);
    lt_fork_gate_enter();
    lt_type_site_total top[LT_AGENT_TYPE_SITES];
    lt_type_site_row rows[LT_AGENT_TYPE_SITES];
    uint32_t n = rc == 0 ? lt_type_sites_top(&ts, top, LT_AGENT_TYPE_SITES) : 0, nrows = 0;
    lt_buf b;
    lt_buf_init(&b);
    for (uint32_t i = 0; i < n; i++) {
        lt_trace t;
        if (lt_site_table_trace(&a->sites, top[i].site, &t) < 0 || lt_encode_trace(&b, &t) < 0)
            continue;
        rows[nrows++] = (lt_type_site_row){t.id, (uint64_t)(top[i].bytes + 0.5),
                                           (uint64_t)(top[i].count + 0.5), top[i].samples};
    }
    if (rc == 0 && nrows == 0 && ts.note[0] == '\0')
        snprintf(ts.note, sizeof ts.note, "%s",
                 ts.instances == 0 ? "no live instance"
                 : ts.sampled == 0 ? "no instance is among the sampled blocks yet"
                                   : "the sampled instances' tracebacks are not resolved yet");
    lt_type_sites_msg m = {.name_id = name_id, .instances = ts.instances, .sampled = ts.sampled,
                           .sample_interval_bytes = ts.mean,
                           .walk_us = (uint32_t)(ts.walk_ns / 1000u), .note = ts.note,
                           .nrows = nrows, .rows = rows, .owned_sampled = ts.owned_sampled,
                           .owned_extra_bytes = ts.owned_extra_bytes,
                           .owned_us = (uint32_t)(ts.owned_ns / 1000u)};
    if (lt_encode_type_sites(&b, &m) == 0)
        lt_client_queue(c, b.data, b.len, 0);
    lt_buf_free(&b);
    if (rc < 0)
        reply(c, code, -1, 0, ts.note[0] ? ts.note : "cannot walk the heap now");
    else
        reply(c, code, 0, (int64_t)nrows, nrows ? "sites found" : ts.note);
    lt_type_sites_free(&ts);
}

/* A frame from a viewer. Only fixed commands exist; anything else ends the connection. */
static void
handle_frame(lt_agent *a, lt_client *c, uint16_t type, uint16_t flags, const uint8_t *p,
             uint32_t len)
{
    lt_msg m;
    memset(&m, 0, sizeof m);
    int rc = lt_decode(&m, type, flags, p, len);
    if (!c->said_hello) {
        if (rc != 0 || type != LT_FRAME_CLIENT_HELLO ||
            m.u.client_hello.major != LT_PROTO_MAJOR)
            c->dead = 1;
        else
        {
            c->said_hello = a->greeted = 1;
            snprintf(c->name, sizeof c->name, "%s", m.u.client_hello.client);
        }
    } else if (rc == 1) {
        /* An unknown frame from a newer client: skip it. */
    } else if (rc != 0 || type != LT_FRAME_COMMAND) {
        c->dead = 1;
    } else {
        uint16_t code = m.u.command.code;
        if (code == LT_CMD_PING) {
            reply(c, code, 0, 0, "pong");
        } else if (code == LT_CMD_STOP) {
            reply(c, code, 0, 0, "stopping");
            __atomic_store_n(&a->bye_reason, LT_BYE_STOPPED, __ATOMIC_RELAXED);
            __atomic_store_n(&a->stop_flag, 2, __ATOMIC_RELEASE);
        } else if (code == LT_CMD_GET_TRACE) {
            lt_trace t;
            uint32_t h = lt_site_table_find_id(&a->sites, m.u.command.arg);
            if (h != 0 && lt_site_table_trace(&a->sites, h, &t) == 0) {
                lt_buf b;
                lt_buf_init(&b);
                if (lt_encode_trace(&b, &t) == 0)
                    lt_client_queue(c, b.data, b.len, 0);
                lt_buf_free(&b);
                reply(c, code, 0, (int64_t)t.id, "trace sent");
            } else {
                reply(c, code, -1, 0, "no such traceback (unknown id, or evicted)");
            }
        } else if (code == LT_CMD_MARKER) {
            drop_marker(a, c);
            reply(c, code, 0, (int64_t)a->nmarkers, "marker dropped");
        } else if (code == LT_CMD_WHY_ALIVE && a->ops.why_alive != NULL) {
            uint32_t id = m.u.command.arg;
            lt_why_msg w;
            memset(&w, 0, sizeof w);
            int searched = -1; /* -1: no such name, 0: failed, 1: done */
            if (id < a->strings.n && id != LT_STRTAB_OVERFLOW_ID) {
                lt_fork_gate_leave();
                searched = a->ops.why_alive(a->ops.ctx, a->strings.text[id], &w) < 0 ? 0 : 1;
                lt_fork_gate_enter();
            }
            if (searched < 0) {
                reply(c, code, -1, 0, "unknown type name id");
            } else if (!searched) {
                reply(c, code, -1, 0, "out of memory");
            } else {
                w.name_id = id;
                lt_buf b;
                lt_buf_init(&b);
                if (lt_encode_why(&b, &w) == 0)
                    lt_client_queue(c, b.data, b.len, 0);
                lt_buf_free(&b);
                reply(c, code, 0, w.found, w.found ? "chain found" : w.note);
            }
        } else if (code == LT_CMD_TYPE_SITES && a->ops.type_sites != NULL) {
            answer_type_sites(a, c, m.u.command.arg);
        } else if (code == LT_CMD_GC_COLLECT && a->ops.command != NULL) {
            int64_t value = 0;
            char msg[256] = "";
            lt_fork_gate_leave();
            int st = a->ops.command(a->ops.ctx, code, &value, msg, sizeof msg);
            lt_fork_gate_enter();
            reply(c, code, st, value, msg);
        } else {
            reply(c, code, -1, 0, "unknown command");
        }
    }
    lt_msg_clear(&m);
}

static void
read_client(lt_agent *a, lt_client *c)
{
    uint8_t buf[4096];
    ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        c->dead = 1;
        return;
    }
    if (n < 0)
        return;
    if (lt_framer_feed(&c->in, buf, (size_t)n) < 0) {
        c->dead = 1;
        return;
    }
    uint16_t type, flags;
    const uint8_t *p;
    uint32_t len;
    int rc;
    while (!c->dead && (rc = lt_framer_next(&c->in, &type, &flags, &p, &len)) == 1) {
        if (len > LT_CLIENT_IN_MAX) {
            c->dead = 1;
            break;
        }
        handle_frame(a, c, type, flags, p, len);
    }
    /* Viewers send small frames: a large pending one is an attack or a bug. */
    if (rc < 0 || lt_framer_pending(&c->in) > LT_CLIENT_IN_MAX + LT_FRAME_HEADER)
        c->dead = 1;
}

static void
reap_clients(lt_agent *a)
{
    uint32_t out = 0;
    uint64_t now = lt_mono_ns();
    for (uint32_t i = 0; i < a->nclients; i++) {
        lt_client *c = &a->clients[i];
        /* A slot held without a hello is a slot denied to a real viewer. */
        if (!c->said_hello && now - c->accepted_ns > LT_CLIENT_HELLO_MS * 1000000ull)
            c->dead = 1;
        if (c->dead) {
            lt_client_close(c);
            continue;
        }
        /* Tell a viewer that it missed frames, once per change. */
        if (c->dropped != c->dropped_reported) {
            lt_buf b;
            lt_buf_init(&b);
            if (lt_encode_drops(&b, c->dropped) == 0 && lt_client_queue(c, b.data, b.len, 0) > 0)
                c->dropped_reported = c->dropped;
            lt_buf_free(&b);
        }
        a->clients[out++] = *c;
    }
    a->nclients = out;
}

/* ---- the thread ------------------------------------------------------------------------- */

static void
say_goodbye(lt_agent *a)
{
    int reason = __atomic_load_n(&a->bye_reason, __ATOMIC_RELAXED);
    lt_buf b;
    lt_buf_init(&b);
    lt_encode_bye(&b, (uint8_t)(reason ? reason : LT_BYE_STOPPED),
                  reason == LT_BYE_EXITING ? "the process is exiting" : "the agent was stopped");
    broadcast(a, b.data, b.len, 0);
    lt_buf_free(&b);
    /* Best effort, bounded: a viewer that does not read gets cut off. */
    uint64_t deadline = lt_mono_ns() + BYE_FLUSH_MS * 1000000ull;
    for (;;) {
        struct pollfd pfd[64];
        nfds_t n = 0;
        for (uint32_t i = 0; i < a->nclients && n < 64; i++) {
            lt_client_flush(&a->clients[i]);
            if (!a->clients[i].dead && lt_client_pending(&a->clients[i]) > 0)
                pfd[n++] = (struct pollfd){.fd = a->clients[i].fd, .events = POLLOUT};
        }
        uint64_t now = lt_mono_ns();
        if (n == 0 || now >= deadline)
            break;
        poll_ungated(pfd, n, (int)((deadline - now) / 1000000u) + 1);
    }
}

/* The process exits before the viewer that launched it has connected (a short program): serve
 * until that viewer has said hello, or the linger runs out. */
static void
linger_for_first_viewer(lt_agent *a)
{
    uint64_t deadline = lt_mono_ns() + (uint64_t)a->cfg.exit_linger_ms * 1000000ull;
    while (!a->greeted) {
        uint64_t now = lt_mono_ns();
        if (now >= deadline)
            break;
        struct pollfd pfd[65];
        nfds_t n = 0;
        pfd[n++] = (struct pollfd){.fd = a->listen_fd, .events = POLLIN};
        for (uint32_t i = 0; i < a->nclients && n < 65; i++)
            pfd[n++] = (struct pollfd){.fd = a->clients[i].fd, .events = POLLIN};
        if (poll_ungated(pfd, n, (int)((deadline - now) / 1000000u) + 1) <= 0)
            continue;
        for (nfds_t i = 1; i < n; i++)
            if (pfd[i].revents)
                read_client(a, &a->clients[i - 1]);
        if (pfd[0].revents & POLLIN)
            accept_clients(a);
        reap_clients(a);
    }
}

/* Remove what dead agents left in our socket directory (a SIGKILLed or SIGTERMed Python runs
 * no atexit): on the agent thread, so that the host's start() never waits on it. */
static void
sweep_stale_sockets(lt_agent *a)
{
    char dir[4096];
    const char *slash = strrchr(a->socket_path, '/');
    if (slash == NULL || slash == a->socket_path ||
        (size_t)(slash - a->socket_path) >= sizeof dir)
        return;
    memcpy(dir, a->socket_path, (size_t)(slash - a->socket_path));
    dir[slash - a->socket_path] = '\0';
    int n = lt_sock_sweep_stale(dir, getpid(), SWEEP_MAX_ENTRIES);
    __atomic_store_n(&a->swept, n + 1, __ATOMIC_RELEASE);
}

static void *
agent_main(void *arg)
{
    lt_agent *a = arg;
    __atomic_store_n(&a->thread_running, 1, __ATOMIC_RELEASE);
    uint64_t interval = (uint64_t)a->cfg.interval_ms * 1000000ull;
    uint64_t next = lt_mono_ns();
    lt_fork_gate_enter();
    struct pollfd *pfd = lt_calloc(a->cfg.max_clients + 2, sizeof *pfd);
    sweep_stale_sockets(a);
    while (pfd != NULL && __atomic_load_n(&a->stop_flag, __ATOMIC_ACQUIRE) == 0) {
        uint64_t now = lt_mono_ns();
        if (now >= next) {
            take_sample(a);
            next += interval;
            now = lt_mono_ns();
            if (next <= now) /* fell behind (a long census, a stopped process): do not catch up */
                next = now + interval;
            for (uint32_t i = 0; i < a->nclients; i++)
                lt_client_flush(&a->clients[i]);
            reap_clients(a);
        }
        nfds_t n = 0;
        pfd[n++] = (struct pollfd){.fd = a->wake_rd, .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = a->listen_fd, .events = POLLIN};
        for (uint32_t i = 0; i < a->nclients; i++) {
            short ev = POLLIN;
            if (lt_client_pending(&a->clients[i]) > 0)
                ev |= POLLOUT;
            pfd[n++] = (struct pollfd){.fd = a->clients[i].fd, .events = ev};
        }
        int timeout = (int)((next - now + 999999u) / 1000000u);
        int rc = poll_ungated(pfd, n, timeout);
        if (rc <= 0)
            continue;
        if (pfd[0].revents) {
            char junk[64];
            while (read(a->wake_rd, junk, sizeof junk) > 0) {
            }
        }
        uint32_t before = a->nclients;
        for (uint32_t i = 0; i < before; i++) {
            short re = pfd[i + 2].revents;
            lt_client *c = &a->clients[i];
            if (re & (POLLIN | POLLHUP | POLLERR))
                read_client(a, c);
            if (!c->dead && (re & POLLOUT))
                lt_client_flush(c);
        }
        if (pfd[1].revents & POLLIN)
            accept_clients(a);
        reap_clients(a);
    }
    lt_free(pfd);
    int exiting = __atomic_load_n(&a->bye_reason, __ATOMIC_RELAXED) == LT_BYE_EXITING;
    if (exiting && !a->greeted && a->cfg.exit_linger_ms > 0)
        linger_for_first_viewer(a);
    /* Connections still in the backlog are viewers too: greet them before the goodbye. */
    accept_clients(a);
    /* The process is exiting: viewers get its last state, so even a short run has an end. */
    if (exiting)
        take_sample(a);
    if (__atomic_load_n(&a->stop_flag, __ATOMIC_ACQUIRE) == 2 && a->ops.stopping != NULL) {
        lt_fork_gate_leave();
        a->ops.stopping(a->ops.ctx);
        lt_fork_gate_enter();
    }
    say_goodbye(a);
    for (uint32_t i = 0; i < a->nclients; i++)
        lt_client_close(&a->clients[i]);
    a->nclients = 0;
    /* The socket goes as soon as the agent stops serving, so nobody connects to a dead one. */
    if (a->listen_fd >= 0) {
        close(a->listen_fd);
        a->listen_fd = -1;
        unlink(a->socket_path);
    }
    lt_fork_gate_leave();
    if (a->ops.thread_exit != NULL)
        a->ops.thread_exit(a->ops.ctx);
    __atomic_store_n(&a->finished, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* ---- lifecycle -------------------------------------------------------------------------- */

static void
agent_free(lt_agent *a)
{
    for (uint32_t i = 0; i < a->nclients; i++)
        lt_client_close(&a->clients[i]);
    lt_free(a->clients);
    if (a->listen_fd >= 0) {
        close(a->listen_fd);
        unlink(a->socket_path);
    }
    if (a->wake_rd >= 0)
        close(a->wake_rd);
    if (a->wake_wr >= 0)
        close(a->wake_wr);
    lt_strtab_free(&a->strings);
    lt_census_free(&a->census);
    lt_history_free(&a->history);
    lt_site_table_free(&a->sites);
    lt_free(a->history_rows);
    lt_buf_free(&a->scratch);
    lt_buf_free(&a->announce);
    for (uint32_t i = 0; i < a->argc; i++)
        lt_free(a->argv[i]);
    lt_free(a->argv);
    for (uint32_t i = 0; i < a->nlib; i++)
        lt_free(a->lib_paths[i]);
    lt_free(a->lib_paths);
    lt_free(a->socket_path);
    lt_free(a->python_version);
    lt_free(a->executable);
    lt_free(a);
}

lt_agent *
lt_agent_start(const lt_agent_config *cfg, const lt_agent_ops *ops, const lt_agent_identity *id,
               char **cause)
{
    *cause = NULL;
    lt_agent *a = lt_calloc(1, sizeof *a);
    if (a == NULL) {
        *cause = lt_asprintf("out of memory");
        return NULL;
    }
    a->cfg = *cfg;
    if (a->cfg.interval_ms == 0)
        a->cfg.interval_ms = 1000;
    if (a->cfg.max_clients == 0)
        a->cfg.max_clients = 64;
    if (a->cfg.history_rows == 0)
        a->cfg.history_rows = 128;
    if (a->cfg.top_sites == 0)
        a->cfg.top_sites = 200;
    if (a->cfg.history_sites == 0)
        a->cfg.history_sites = 32;
    a->ops = *ops;
    a->listen_fd = a->wake_rd = a->wake_wr = -1;
    a->start_wall_ns = lt_wall_ns();

    uint32_t hist = (uint32_t)((uint64_t)a->cfg.history_seconds * 1000u / a->cfg.interval_ms);
    if (hist < 2)
        hist = 2;
    if (hist > 36000)
        hist = 36000;
    uint32_t ref_period = 60000u / a->cfg.interval_ms;

    char path[4096];
    if (cfg->socket_path == NULL) {
        char dir[4096];
        if (lt_sock_dir(dir, sizeof dir, cause) < 0 || lt_sock_dir_prepare(dir, cause) < 0 ||
            lt_sock_path(getpid(), path, sizeof path, cause) < 0)
            goto fail;
    } else {
        snprintf(path, sizeof path, "%s", cfg->socket_path);
    }

    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0) {
        *cause = lt_asprintf("pipe: %s", strerror(errno));
        goto fail;
    }
    a->wake_rd = pipefd[0];
    a->wake_wr = pipefd[1];

    a->socket_path = lt_strdup(path);
    a->python_version = lt_strdup(id->python_version ? id->python_version : "");
    a->executable = lt_strdup(id->executable ? id->executable : "");
    a->argv = lt_calloc(id->argc ? id->argc : 1, sizeof *a->argv);
    a->clients = lt_calloc(a->cfg.max_clients, sizeof *a->clients);
    a->history_rows = lt_calloc(a->cfg.history_rows, sizeof *a->history_rows);
    if (!a->socket_path || !a->python_version || !a->executable || !a->argv || !a->clients ||
        !a->history_rows || lt_strtab_init(&a->strings) < 0 ||
        lt_census_init(&a->census, ref_period) < 0 ||
        lt_site_table_init(&a->sites, SITES_MAX, SITES_MAX_FRAME_BYTES, a->cfg.top_sites) < 0 ||
        lt_history_init(&a->history, hist, HISTORY_MAX_BYTES) < 0) {
        *cause = lt_asprintf("out of memory");
        goto fail;
    }
    for (uint32_t i = 0; i < id->argc; i++) {
        a->argv[i] = lt_strdup(id->argv[i] ? id->argv[i] : "");
        if (a->argv[i] == NULL) {
            *cause = lt_asprintf("out of memory");
            goto fail;
        }
        a->argc++;
    }
    uint32_t nlib = id->nlib > LT_HELLO_MAX_LIB ? LT_HELLO_MAX_LIB : id->nlib;
    a->lib_paths = lt_calloc(nlib ? nlib : 1, sizeof *a->lib_paths);
    for (uint32_t i = 0; a->lib_paths != NULL && i < nlib; i++) {
        a->lib_paths[i] = lt_strdup(id->lib_paths[i] ? id->lib_paths[i] : "");
        if (a->lib_paths[i] == NULL)
            break;
        a->nlib++;
    }
    if (a->lib_paths == NULL || a->nlib < nlib) {
        *cause = lt_asprintf("out of memory");
        goto fail;
    }
    lt_buf_init(&a->scratch);
    lt_buf_init(&a->announce);

    a->listen_fd = lt_sock_listen(a->socket_path, cause);
    if (a->listen_fd < 0)
        goto fail;

    /* The thread takes no signal: the host's handlers stay on the host's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&a->thread, NULL, agent_main, a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        *cause = lt_asprintf("cannot start the agent thread: %s", strerror(rc));
        goto fail;
    }
    a->thread_started = 1;
    /* A new thread's start-up allocates (its stack's attributes, a sanitizer's thread record)
     * before the fork gate can cover it: the caller, who holds the GIL, returns after it, so
     * that no os.fork() copies it half done (bounded: a thread that never runs is waited 5 s). */
    for (int i = 0; i < 100000 && !__atomic_load_n(&a->thread_running, __ATOMIC_ACQUIRE); i++) {
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
    }
    return a;

fail:
    if (*cause == NULL)
        *cause = lt_asprintf("out of memory");
    agent_free(a);
    return NULL;
}

int
lt_agent_finished(const lt_agent *a)
{
    return a != NULL && __atomic_load_n(&a->finished, __ATOMIC_ACQUIRE);
}

void
lt_agent_stop(lt_agent *a, int bye_reason)
{
    if (a == NULL)
        return;
    if (__atomic_load_n(&a->stop_flag, __ATOMIC_ACQUIRE) == 0) {
        __atomic_store_n(&a->bye_reason, bye_reason, __ATOMIC_RELAXED);
        __atomic_store_n(&a->stop_flag, 1, __ATOMIC_RELEASE);
    }
    char one = 1;
    ssize_t w = write(a->wake_wr, &one, 1);
    (void)w;
    if (a->thread_started)
        pthread_join(a->thread, NULL);
    a->thread_started = 0;
    agent_free(a);
}

/* Parent agents abandoned in forked children stay reachable here: the memory is the parent's
 * copy-on-write pages, and keeping the pointer says it was left on purpose. */
static lt_agent *abandoned_after_fork;

void
lt_agent_abandon_after_fork(lt_agent *a)
{
    if (a == NULL)
        return;
    for (uint32_t i = 0; i < a->nclients; i++)
        if (a->clients[i].fd >= 0)
            close(a->clients[i].fd);
    if (a->listen_fd >= 0)
        close(a->listen_fd);
    if (a->wake_rd >= 0)
        close(a->wake_rd);
    if (a->wake_wr >= 0)
        close(a->wake_wr);
    abandoned_after_fork = a;
}
