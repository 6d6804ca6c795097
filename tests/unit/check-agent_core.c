/*
 * agent/agent_core.c: a real agent thread on a real Unix socket, with a fake host instead of
 * Python. The test side is a plain AF_UNIX client that checks the stream's invariants on every
 * frame it reads (see track()). Every wait is a poll or a condition loop bounded by a deadline.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/agent_core.h"
#include "harness.h"
#include "leaktop/mem.h"
#include "leaktop/proto.h"
#include "leaktop/sockpath.h"
#include "leaktop/version.h"

#define INTERVAL_MS 50
#define WAIT_MS 5000 /* generous: under sanitizers and on a loaded machine */
#define MAX_IDS 4096

/* ---- the fake host ---------------------------------------------------------------------- */

typedef struct fake_type {
    const char *name;
    uint64_t size;
} fake_type;

/* Two distinct types share the name "app.Leaky": the agent must report one row for them. */
static const fake_type fixed_types[] = {
    {"dict", 232}, {"list", 56}, {"app.Leaky", 48}, {"app.Leaky", 48}, {"tuple", 40},
    {"function", 136},
};
#define NFIXED (sizeof fixed_types / sizeof fixed_types[0])
#define NPOOL 16
static char pool_names[NPOOL][16];
static fake_type pool_types[NPOOL];

typedef struct fake_host {
    int ticks;      /* atomic: sample callbacks so far */
    int stopping;   /* atomic: stopping callbacks so far */
    int skip_every; /* every n-th tick interns a new name and skips (0: never) */
    int arm_oom;    /* atomic: 1 asks the next tick to intern a name while memory runs out */
    int oom_tick;   /* atomic: the tick that did it */
    int with_sites; /* each tick reports two allocation sites (a.py:10 and a.py:20) */
    uint32_t site_a, site_b; /* their handles (agent thread only) */
} fake_host;

static uint32_t
fake_name_of(void *ctx, const void *type)
{
    const fake_type *t = type;
    return lt_agent_intern(ctx, t->name, strlen(t->name));
}

static int
fake_sample(void *ctx, lt_agent *a, lt_sample *s)
{
    fake_host *h = ctx;
    int tick = __atomic_add_fetch(&h->ticks, 1, __ATOMIC_ACQ_REL);
    if (h->skip_every && tick % h->skip_every == 0) {
        char name[32];
        snprintf(name, sizeof name, "skipped.T%d", tick);
        lt_agent_intern(a, name, strlen(name));
        return -1;
    }
    lt_census *c = lt_agent_census(a);
    lt_census_reset(c);
    for (size_t i = 0; i < NFIXED; i++) {
        uint64_t n = 10 * (i + 1);
        if (i == 2)
            n += 5u * (unsigned)tick; /* the leak */
        for (uint64_t k = 0; k < n; k++)
            lt_census_add(c, &fixed_types[i], fixed_types[i].size);
    }
    /* One more type name each tick, for the first NPOOL ticks: new strings keep coming. */
    for (int i = 0; i < tick && i < NPOOL; i++)
        lt_census_add(c, &pool_types[i], 8);
    lt_census_merge(c, fake_name_of, a);
    if (__atomic_load_n(&h->arm_oom, __ATOMIC_ACQUIRE) == 1) {
        /* A long new name (never used in a census), and the agent's next allocation after the
         * string table's copy of it fails: the one that makes room to announce it. */
        static char big[5000];
        memset(big, 'L', sizeof big);
        lt_mem_fail_after(2);
        lt_agent_intern(a, big, sizeof big);
        __atomic_store_n(&h->arm_oom, 2, __ATOMIC_RELEASE);
        __atomic_store_n(&h->oom_tick, tick, __ATOMIC_RELEASE);
    }
    if (h->with_sites) {
        if (h->site_a == 0) {
            uint32_t file = lt_agent_intern(a, "a.py", 4), func = lt_agent_intern(a, "make", 4);
            lt_trace_frame fa = {file, func, 10}, fb = {file, func, 20};
            h->site_a = lt_agent_trace_intern(a, &fa, 1, 0);
            h->site_b = lt_agent_trace_intern(a, &fb, 1, 0);
        }
        lt_site_table *st = lt_agent_sites(a);
        lt_site_table_begin(st);
        lt_site_table_add(st, h->site_a, 5600, 100);
        lt_site_table_add(st, h->site_b, 16800, 300);
        lt_sites totals = {.sample_interval_bytes = 4096};
        lt_agent_sites_ready(a, &totals);
    }
    s->heap_bytes = 1000u * (unsigned)tick;
    s->tracked_objects = c->objects;
    s->census_ns = 1000;
    s->gc_enabled = 1;
    return 0;
}

static int
fake_command(void *ctx, uint16_t code, int64_t *value, char *msg, size_t msglen)
{
    (void)ctx;
    if (code != LT_CMD_GC_COLLECT)
        return -1;
    *value = 42;
    snprintf(msg, msglen, "collected 42");
    return 0;
}

/* app.Leaky: 500 instances, 3 sampled at a.py:20, 1 at a.py:10, 1 not resolved yet;
 * fail.me: the walk fails; anything else has no instance. */
static int
fake_type_sites(void *ctx, const char *type_name, lt_type_sites *ts)
{
    fake_host *h = ctx;
    ts->mean = 4096;
    ts->walk_ns = 1500000;
    if (strcmp(type_name, "fail.me") == 0) {
        snprintf(ts->note, sizeof ts->note, "a garbage collection was running; try again");
        return -1;
    }
    if (strcmp(type_name, "app.Leaky") != 0)
        return 0;
    ts->instances = 500;
    for (int i = 0; i < 3; i++)
        lt_type_sites_add(ts, h->site_b, 56, 100.0);
    lt_type_sites_add(ts, h->site_a, 56, 100.0);
    lt_type_sites_add(ts, 0, 56, 100.0);
    return 0;
}

static void
fake_stopping(void *ctx)
{
    fake_host *h = ctx;
    __atomic_add_fetch(&h->stopping, 1, __ATOMIC_ACQ_REL);
}

static const char *const fake_argv[] = {"fakepython", "-m", "app"};

/* ---- scratch directory: made and removed by the runner, one subdirectory per test -------- */

static char root[40];
static char tmp[64];
static char sock_path[96];

static void
setup_root(void)
{
    lt_test_mkdtemp(root, sizeof root);
}

static void
teardown_root(void)
{
    lt_test_rmtree(root);
}

static void
setup_test(void)
{
    snprintf(tmp, sizeof tmp, "%s/t-XXXXXX", root);
    ck_assert_msg(mkdtemp(tmp) != NULL, "mkdtemp under %s failed", root);
    snprintf(sock_path, sizeof sock_path, "%s/agent.sock", tmp);
    for (int i = 0; i < NPOOL; i++) {
        snprintf(pool_names[i], sizeof pool_names[i], "gen.T%02d", i);
        pool_types[i] = (fake_type){pool_names[i], 8};
    }
}

static lt_agent *
start_agent_every(fake_host *h, uint32_t interval_ms, uint32_t history_rows, uint32_t max_clients)
{
    lt_agent_config cfg;
    lt_agent_config_default(&cfg);
    cfg.interval_ms = interval_ms;
    cfg.history_rows = history_rows;
    cfg.max_clients = max_clients;
    cfg.socket_path = sock_path;
    lt_agent_ops ops = {.ctx = h, .sample = fake_sample, .command = fake_command,
                        .stopping = fake_stopping, .type_sites = fake_type_sites};
    lt_agent_identity id = {.python_version = "3.99.0+fake", .executable = "/usr/bin/fakepython",
                            .argc = 3, .argv = fake_argv};
    char *cause = NULL;
    lt_agent *a = lt_agent_start(&cfg, &ops, &id, &cause);
    ck_assert_msg(a != NULL, "lt_agent_start: %s", cause ? cause : "?");
    ck_assert_ptr_null(cause);
    return a;
}

static lt_agent *
start_agent(fake_host *h, uint32_t history_rows, uint32_t max_clients)
{
    return start_agent_every(h, INTERVAL_MS, history_rows, max_clients);
}

/* ---- the test client -------------------------------------------------------------------- */

typedef struct tclient {
    int fd;
    const char *name;
    lt_framer fr;
    lt_msg m; /* the last frame read */
    char *text[MAX_IDS]; /* STRING frames so far, by id */
    int got_hello, got_history_end, bye;
    int closed; /* EOF or reset seen */
    int64_t last_seq;
    uint32_t live, history, strings;
    uint32_t hist_max_rows, hist_complete;
    int skipped_strings; /* "skipped.T*" strings seen */
    int allow_gaps;      /* a sample may be missing (the agent ran out of memory) */
    uint32_t memory;     /* MEMORY frames, each right after its SAMPLE */
    uint32_t trace_line[MAX_IDS]; /* TRACE frames so far: id -> top frame's line */
} tclient;

/* Send bytes; a peer that has already cut us off is not an error here. */
static void
tc_send(tclient *t, const void *p, size_t n)
{
    ssize_t w = send(t->fd, p, n, MSG_NOSIGNAL);
    ck_assert_msg(w == (ssize_t)n || (w < 0 && (errno == EPIPE || errno == ECONNRESET)),
                  "%s: send: %s", t->name, strerror(errno));
}

static void
tc_open(tclient *t, const char *name, int say_hello)
{
    memset(t, 0, sizeof *t);
    t->name = name;
    t->last_seq = -1;
    lt_framer_init(&t->fr);
    t->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(t->fd, 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
    ck_assert_msg(connect(t->fd, (struct sockaddr *)&sa, sizeof sa) == 0, "%s: connect: %s", name,
                  strerror(errno));
    if (say_hello) {
        lt_buf b;
        lt_buf_init(&b);
        lt_client_hello ch = {LT_PROTO_MAJOR, LT_PROTO_MINOR, "check-agent_core"};
        ck_assert_int_eq(lt_encode_client_hello(&b, &ch), 0);
        tc_send(t, b.data, b.len); /* a refused client may already be cut off */
        lt_buf_free(&b);
    }
}

static void
tc_close(tclient *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    lt_framer_free(&t->fr);
    lt_msg_clear(&t->m);
    for (int i = 0; i < MAX_IDS; i++)
        free(t->text[i]);
    memset(t->text, 0, sizeof t->text);
}

static void
tc_command_arg(tclient *t, uint16_t code, uint32_t arg)
{
    lt_buf b;
    lt_buf_init(&b);
    ck_assert_int_eq(lt_encode_command(&b, code, arg), 0);
    tc_send(t, b.data, b.len);
    lt_buf_free(&b);
}

static void
tc_command(tclient *t, uint16_t code)
{
    lt_buf b;
    lt_buf_init(&b);
    ck_assert_int_eq(lt_encode_command(&b, code, 0), 0);
    tc_send(t, b.data, b.len);
    lt_buf_free(&b);
}

/* The stream's invariants, checked on every frame a client reads. */
static void
track(tclient *t)
{
    const lt_msg *m = &t->m;
    ck_assert_msg(!t->bye, "%s: a %s frame after BYE", t->name, lt_frame_name(m->type));
    if (!t->got_hello)
        ck_assert_msg(m->type == LT_FRAME_HELLO, "%s: first frame is %s, not hello", t->name,
                      lt_frame_name(m->type));
    switch (m->type) {
    case LT_FRAME_HELLO:
        ck_assert_msg(!t->got_hello, "%s: a second hello", t->name);
        t->got_hello = 1;
        break;
    case LT_FRAME_STRING:
        ck_assert_uint_lt(m->u.string.id, MAX_IDS);
        ck_assert_ptr_null(t->text[m->u.string.id]); /* each id is announced once */
        t->text[m->u.string.id] = strdup(m->u.string.text);
        t->strings++;
        if (strncmp(m->u.string.text, "skipped.T", 9) == 0)
            t->skipped_strings++;
        break;
    case LT_FRAME_SAMPLE: {
        const lt_sample *s = &m->u.sample;
        int hist = (m->flags & LT_FLAG_HISTORY) != 0;
        if (hist) {
            ck_assert_msg(!t->got_history_end, "%s: history sample after HISTORY_END", t->name);
            t->history++;
            if (s->ntypes > t->hist_max_rows)
                t->hist_max_rows = s->ntypes;
            t->hist_complete += s->types_complete;
        } else {
            ck_assert_msg(t->got_history_end, "%s: live sample before HISTORY_END", t->name);
            t->live++;
            ck_assert_uint_eq(s->types_complete, 1);
        }
        /* No gap, no repeat: every sample once, in order. */
        if (t->last_seq >= 0 && t->allow_gaps)
            ck_assert_msg(s->seq > (uint64_t)t->last_seq, "%s: seq %u after %lld", t->name,
                          s->seq, (long long)t->last_seq);
        else if (t->last_seq >= 0)
            ck_assert_msg(s->seq == (uint64_t)t->last_seq + 1, "%s: seq %u after %lld", t->name,
                          s->seq, (long long)t->last_seq);
        t->last_seq = s->seq;
        int leaky = 0;
        for (uint32_t i = 0; i < s->ntypes; i++) {
            uint32_t id = s->types[i].name_id;
            ck_assert_msg(id < MAX_IDS && t->text[id] != NULL,
                          "%s: sample %u uses string %u before its STRING frame", t->name, s->seq,
                          id);
            for (uint32_t j = 0; j < i; j++)
                ck_assert_uint_ne(s->types[j].name_id, id); /* merged by name */
            if (i > 0 && !hist)
                ck_assert_uint_le(s->types[i].bytes, s->types[i - 1].bytes);
            if (strcmp(t->text[id], "app.Leaky") == 0)
                leaky++;
        }
        if (!hist)
            ck_assert_int_eq(leaky, 1);
        if (s->types_complete)
            ck_assert_uint_eq(s->types_total, s->ntypes);
        break;
    }
    case LT_FRAME_MEMORY: {
        /* The fake host hands no pymalloc figures: the agent sends what it reads itself. */
        const lt_memory *mem = &m->u.memory;
        ck_assert_msg((int64_t)mem->seq == t->last_seq, "%s: MEMORY %u after SAMPLE %lld",
                      t->name, mem->seq, (long long)t->last_seq);
        ck_assert_uint_eq(mem->have & ~(uint32_t)LT_MEM_HAVE_MALLOC, LT_MEM_HAVE_STATUS);
        if (mem->have & LT_MEM_HAVE_MALLOC) /* not under a sanitizer's malloc */
            ck_assert_uint_gt(mem->heap_arena_bytes + mem->heap_mmap_bytes, 0);
        ck_assert_uint_gt(mem->rss_anon, 0);
        ck_assert_uint_gt(mem->vm_size, mem->rss_anon);
        ck_assert_uint_eq(mem->py_arena_bytes, 0);
        t->memory++;
        break;
    }
    case LT_FRAME_TRACE:
        ck_assert_uint_lt(m->u.trace.id, MAX_IDS);
        ck_assert_uint_ge(m->u.trace.nframes, 1);
        for (uint32_t i = 0; i < m->u.trace.nframes; i++)
            ck_assert_ptr_nonnull(t->text[m->u.trace.frames[i].file_id]);
        t->trace_line[m->u.trace.id] = m->u.trace.frames[0].line;
        break;
    case LT_FRAME_TYPE_SITES:
        /* Every row's traceback was announced before it. */
        for (uint32_t i = 0; i < m->u.type_sites.nrows; i++)
            ck_assert_uint_ne(t->trace_line[m->u.type_sites.rows[i].trace_id], 0);
        break;
    case LT_FRAME_HISTORY_END:
        ck_assert_msg(!t->got_history_end, "%s: a second HISTORY_END", t->name);
        t->got_history_end = 1;
        break;
    case LT_FRAME_BYE:
        t->bye = m->u.bye.reason;
        ck_assert_int_ne(t->bye, 0);
        break;
    case LT_FRAME_CLIENT_HELLO:
    case LT_FRAME_COMMAND:
        ck_abort_msg("%s: the agent sent a %s frame", t->name, lt_frame_name(m->type));
        break;
    default: /* replies, drops, and frames of later protocol minors */
        break;
    }
}

/* The next frame into t->m: 1, or 0 when the agent closed the connection, or -1 at the
 * deadline. */
static int
tc_next(tclient *t, uint64_t deadline)
{
    for (;;) {
        uint16_t type, flags;
        const uint8_t *p;
        uint32_t len;
        int rc = lt_framer_next(&t->fr, &type, &flags, &p, &len);
        ck_assert_msg(rc >= 0, "%s: framing error %d", t->name, t->fr.error);
        if (rc == 1) {
            int d = lt_decode(&t->m, type, flags, p, len);
            ck_assert_msg(d == 0 || d == 1, "%s: malformed %s frame", t->name,
                          lt_frame_name(type));
            track(t);
            return 1;
        }
        if (t->closed)
            return 0;
        struct pollfd pfd = {.fd = t->fd, .events = POLLIN};
        int left = lt_test_left_ms(deadline);
        if (left == 0)
            return -1;
        int n = poll(&pfd, 1, left);
        if (n < 0 && errno == EINTR)
            continue;
        ck_assert_int_ge(n, 0);
        if (n == 0)
            return -1;
        uint8_t buf[16384];
        ssize_t r = recv(t->fd, buf, sizeof buf, 0);
        if (r == 0 || (r < 0 && errno == ECONNRESET)) {
            t->closed = 1;
            continue; /* frames already buffered still count */
        }
        if (r < 0 && errno == EINTR)
            continue;
        ck_assert_msg(r > 0, "%s: recv: %s", t->name, strerror(errno));
        ck_assert_int_eq(lt_framer_feed(&t->fr, buf, (size_t)r), 0);
    }
}

/* Read until a frame of type arrives; it is then in t->m. */
static const lt_msg *
tc_wait_type(tclient *t, uint16_t type)
{
    uint64_t deadline = lt_test_now_ms() + WAIT_MS;
    for (;;) {
        int rc = tc_next(t, deadline);
        ck_assert_msg(rc == 1, "%s: no %s frame (%s)", t->name, lt_frame_name(type),
                      rc == 0 ? "connection closed" : "timed out");
        if (t->m.type == type)
            return &t->m;
    }
}

/* Read until the client has seen n live samples. */
static void
tc_wait_live(tclient *t, uint32_t n)
{
    uint64_t deadline = lt_test_now_ms() + WAIT_MS;
    while (t->live < n) {
        int rc = tc_next(t, deadline);
        ck_assert_msg(rc == 1, "%s: %u of %u live samples (%s)", t->name, t->live, n,
                      rc == 0 ? "connection closed" : "timed out");
    }
}

/* Read until the agent closes the connection, at most timeout_ms. */
static void
tc_wait_closed_within(tclient *t, int timeout_ms)
{
    uint64_t deadline = lt_test_now_ms() + (uint64_t)timeout_ms;
    int rc;
    while ((rc = tc_next(t, deadline)) == 1) {
    }
    ck_assert_msg(rc == 0, "%s: the agent did not close the connection within %d ms", t->name,
                  timeout_ms);
}

static void
tc_wait_closed(tclient *t)
{
    tc_wait_closed_within(t, WAIT_MS);
}

/* A PING answered: the agent has read everything this client sent before it. */
static void
tc_ping(tclient *t)
{
    tc_command(t, LT_CMD_PING);
    ck_assert_str_eq(tc_wait_type(t, LT_FRAME_REPLY)->u.reply.message, "pong");
}

static int
wait_finished(lt_agent *a)
{
    uint64_t deadline = lt_test_now_ms() + WAIT_MS;
    while (!lt_agent_finished(a)) {
        if (lt_test_left_ms(deadline) == 0)
            return 0;
        poll(NULL, 0, 5);
    }
    return 1;
}

static int
ticks_at_least(fake_host *h, int n)
{
    uint64_t deadline = lt_test_now_ms() + WAIT_MS;
    while (__atomic_load_n(&h->ticks, __ATOMIC_ACQUIRE) < n) {
        if (lt_test_left_ms(deadline) == 0)
            return 0;
        poll(NULL, 0, 5);
    }
    return 1;
}

/* ---- tests ------------------------------------------------------------------------------ */

START_TEST(test_config_default)
{
    lt_agent_config cfg;
    memset(&cfg, 0xaa, sizeof cfg);
    lt_agent_config_default(&cfg);
    ck_assert_uint_eq(cfg.interval_ms, 1000);
    ck_assert_uint_eq(cfg.history_seconds, 600);
    ck_assert_uint_eq(cfg.history_rows, 128);
    ck_assert_uint_eq(cfg.max_clients, 64);
    ck_assert_ptr_null(cfg.socket_path);
}
END_TEST

START_TEST(test_stream_and_bye)
{
    uint64_t base = lt_mem_in_use();
    fake_host h = {0};
    lt_agent *a = start_agent(&h, 128, 8);
    struct stat st;
    ck_assert_int_eq(lstat(sock_path, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));

    tclient c;
    tc_open(&c, "A", 1);
    const lt_msg *m = tc_wait_type(&c, LT_FRAME_HELLO);
    const lt_hello *hl = &m->u.hello;
    ck_assert_uint_eq(hl->major, LT_PROTO_MAJOR);
    ck_assert_uint_eq(hl->minor, LT_PROTO_MINOR);
    ck_assert_uint_eq(hl->pid, (uint32_t)getpid());
    ck_assert_uint_eq(hl->interval_ms, INTERVAL_MS);
    ck_assert_uint_eq(hl->history_capacity, 600u * 1000u / INTERVAL_MS);
    ck_assert_str_eq(hl->python_version, "3.99.0+fake");
    ck_assert_str_eq(hl->agent_version, LEAKTOP_VERSION);
    ck_assert_str_eq(hl->executable, "/usr/bin/fakepython");
    ck_assert_uint_eq(hl->argc, 3);
    for (uint32_t i = 0; i < 3; i++)
        ck_assert_str_eq(hl->argv[i], fake_argv[i]);
    ck_assert_uint_gt(hl->start_wall_ns, 0);

    tc_wait_type(&c, LT_FRAME_HISTORY_END);
    tc_wait_live(&c, 6);
    ck_assert_uint_ge(c.memory, c.live - 1); /* the last SAMPLE's may still be on its way */
    /* New type names appeared while we watched, each announced before its first use. */
    ck_assert_uint_ge(c.strings, NFIXED - 1 + 6);
    ck_assert_int_eq(c.closed, 0);
    ck_assert_int_eq(lt_agent_finished(a), 0);

    lt_agent_stop(a, LT_BYE_EXITING);
    tc_wait_closed(&c);
    ck_assert_int_eq(c.bye, LT_BYE_EXITING);
    ck_assert_str_eq(c.m.u.bye.message, "the process is exiting");
    ck_assert_int_eq(access(sock_path, F_OK), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(__atomic_load_n(&h.stopping, __ATOMIC_ACQUIRE), 0);
    tc_close(&c);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_late_joiner_gets_history)
{
    uint64_t base = lt_mem_in_use();
    fake_host h = {.skip_every = 3};
    lt_agent *a = start_agent(&h, 4, 8);
    tclient first, late;
    tc_open(&first, "first", 1);
    tc_wait_live(&first, 5);
    /* Strings interned during a skipped tick reach viewers anyway. */
    ck_assert_int_ge(first.skipped_strings, 1);

    tc_open(&late, "late", 1);
    tc_wait_type(&late, LT_FRAME_HISTORY_END);
    ck_assert_uint_ge(late.history, 5);
    ck_assert_uint_eq(late.live, 0);
    /* History samples are trimmed to history_rows rows, and say so. */
    ck_assert_uint_le(late.hist_max_rows, 4);
    ck_assert_uint_gt(late.hist_max_rows, 0);
    ck_assert_uint_eq(late.hist_complete, 0);
    ck_assert_uint_ge(late.memory, late.history); /* history keeps each sample's MEMORY */
    /* Every string, including the skipped ticks' ones, came with the greeting. */
    ck_assert_int_ge(late.skipped_strings, 1);
    int64_t last_history = late.last_seq;
    tc_wait_live(&late, 2); /* track() checks seq continues at last_history + 1 */
    ck_assert_int_gt(late.last_seq, last_history);

    /* The first viewer kept going meanwhile, and never saw a history sample after its start. */
    tc_wait_live(&first, first.live + 2);

    lt_agent_stop(a, LT_BYE_STOPPED);
    tc_wait_closed(&first);
    tc_wait_closed(&late);
    ck_assert_int_eq(first.bye, LT_BYE_STOPPED);
    ck_assert_int_eq(late.bye, LT_BYE_STOPPED);
    tc_close(&first);
    tc_close(&late);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_commands)
{
    fake_host h = {0};
    lt_agent *a = start_agent(&h, 128, 8);
    tclient c;
    tc_open(&c, "A", 1);
    tc_wait_type(&c, LT_FRAME_HELLO);

    tc_command(&c, LT_CMD_PING);
    const lt_msg *m = tc_wait_type(&c, LT_FRAME_REPLY);
    ck_assert_uint_eq(m->u.reply.code, LT_CMD_PING);
    ck_assert_int_eq(m->u.reply.status, 0);
    ck_assert_str_eq(m->u.reply.message, "pong");

    tc_command(&c, LT_CMD_GC_COLLECT);
    m = tc_wait_type(&c, LT_FRAME_REPLY);
    ck_assert_uint_eq(m->u.reply.code, LT_CMD_GC_COLLECT);
    ck_assert_int_eq(m->u.reply.status, 0);
    ck_assert_int_eq(m->u.reply.value, 42);
    ck_assert_str_eq(m->u.reply.message, "collected 42");

    tc_command(&c, 999);
    m = tc_wait_type(&c, LT_FRAME_REPLY);
    ck_assert_uint_eq(m->u.reply.code, 999);
    ck_assert_int_lt(m->u.reply.status, 0);

    /* A frame type from a newer client is skipped, not fatal. */
    lt_buf b;
    lt_buf_init(&b);
    size_t off = lt_frame_begin(&b, 300, 0);
    lt_put_u32(&b, 12345);
    ck_assert_int_eq(lt_frame_end(&b, off), 0);
    tc_send(&c, b.data, b.len);
    lt_buf_free(&b);
    tc_command(&c, LT_CMD_PING);
    m = tc_wait_type(&c, LT_FRAME_REPLY);
    ck_assert_str_eq(m->u.reply.message, "pong");
    tc_wait_live(&c, c.live + 1);
    ck_assert_int_eq(c.closed, 0);

    lt_agent_stop(a, LT_BYE_EXITING);
    tc_wait_closed(&c);
    tc_close(&c);
}
END_TEST

/* The string id a client was told for text, or 0. */
static uint32_t
tc_string_id(const tclient *t, const char *text)
{
    for (uint32_t i = 1; i < MAX_IDS; i++)
        if (t->text[i] != NULL && strcmp(t->text[i], text) == 0)
            return i;
    return 0;
}

/* TYPE_SITES: the host's samples ranked per site and named by the tracebacks' wire ids, each
 * TRACE sent before the answer; unknown ids, types without instances and a failed walk are
 * answered too. */
START_TEST(test_type_sites_command)
{
    fake_host h = {0};
    h.with_sites = 1;
    lt_agent *a = start_agent(&h, 128, 8);
    tclient c;
    tc_open(&c, "A", 1);
    tc_wait_live(&c, 2);
    uint32_t leaky = tc_string_id(&c, "app.Leaky"), dict = tc_string_id(&c, "dict");
    ck_assert_uint_ne(leaky, 0);
    ck_assert_uint_ne(dict, 0);

    tc_command_arg(&c, LT_CMD_TYPE_SITES, leaky);
    const lt_msg *m = tc_wait_type(&c, LT_FRAME_TYPE_SITES);
    const lt_type_sites_msg *ts = &m->u.type_sites;
    ck_assert_uint_eq(ts->name_id, leaky);
    ck_assert_uint_eq(ts->instances, 500);
    ck_assert_uint_eq(ts->sampled, 5);
    ck_assert_uint_eq(ts->sample_interval_bytes, 4096);
    ck_assert_uint_eq(ts->walk_us, 1500);
    ck_assert_str_eq(ts->note, "");
    ck_assert_uint_eq(ts->nrows, 2);
    ck_assert_uint_eq(c.trace_line[ts->rows[0].trace_id], 20); /* most bytes first */
    ck_assert_uint_eq(ts->rows[0].live_bytes, 3 * 56 * 100);
    ck_assert_uint_eq(ts->rows[0].live_count, 300);
    ck_assert_uint_eq(ts->rows[0].samples, 3);
    ck_assert_uint_eq(c.trace_line[ts->rows[1].trace_id], 10);
    ck_assert_uint_eq(ts->rows[1].live_bytes, 56 * 100);
    m = tc_wait_type(&c, LT_FRAME_REPLY);
    ck_assert_uint_eq(m->u.reply.code, LT_CMD_TYPE_SITES);
    ck_assert_int_eq(m->u.reply.status, 0);
    ck_assert_int_eq(m->u.reply.value, 2);

    /* A type without instances: an answer with a note, no rows. */
    tc_command_arg(&c, LT_CMD_TYPE_SITES, dict);
    m = tc_wait_type(&c, LT_FRAME_TYPE_SITES);
    ck_assert_uint_eq(m->u.type_sites.name_id, dict);
    ck_assert_uint_eq(m->u.type_sites.nrows, 0);
    ck_assert_str_eq(m->u.type_sites.note, "no live instance");
    m = tc_wait_type(&c, LT_FRAME_REPLY);
    ck_assert_int_eq(m->u.reply.status, 0);
    ck_assert_int_eq(m->u.reply.value, 0);

    /* An id no string has: refused. */
    tc_command_arg(&c, LT_CMD_TYPE_SITES, MAX_IDS + 7);
    m = tc_wait_type(&c, LT_FRAME_REPLY);
    ck_assert_uint_eq(m->u.reply.code, LT_CMD_TYPE_SITES);
    ck_assert_int_lt(m->u.reply.status, 0);
    ck_assert_str_eq(m->u.reply.message, "unknown type name id");
    tc_wait_live(&c, c.live + 1);
    ck_assert_int_eq(c.closed, 0);

    lt_agent_stop(a, LT_BYE_EXITING);
    tc_wait_closed(&c);
    tc_close(&c);
}
END_TEST

START_TEST(test_stop_command)
{
    uint64_t base = lt_mem_in_use();
    fake_host h = {0};
    lt_agent *a = start_agent(&h, 128, 8);
    tclient c;
    tc_open(&c, "A", 1);
    tc_wait_live(&c, 1);

    tc_command(&c, LT_CMD_STOP);
    const lt_msg *m = tc_wait_type(&c, LT_FRAME_REPLY);
    ck_assert_uint_eq(m->u.reply.code, LT_CMD_STOP);
    ck_assert_int_eq(m->u.reply.status, 0);
    tc_wait_closed(&c);
    ck_assert_int_eq(c.bye, LT_BYE_STOPPED);

    ck_assert_msg(wait_finished(a), "the agent thread did not finish after STOP");
    ck_assert_int_eq(__atomic_load_n(&h.stopping, __ATOMIC_ACQUIRE), 1);
    ck_assert_int_eq(access(sock_path, F_OK), -1);
    ck_assert_int_eq(errno, ENOENT);

    /* Nobody can connect to a stopped agent. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), -1);
    close(fd);

    /* lt_agent_stop still cleans up, and does not call stopping a second time. */
    lt_agent_stop(a, LT_BYE_EXITING);
    ck_assert_int_eq(__atomic_load_n(&h.stopping, __ATOMIC_ACQUIRE), 1);
    tc_close(&c);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

/* Misbehaving viewers are cut off at once (without a BYE, and well before the hello deadline
 * could be what cut them off); a good one next to them is not disturbed. */
START_TEST(test_bad_clients_disconnected)
{
    fake_host h = {0};
    lt_agent *a = start_agent(&h, 128, 16);
    tclient good;
    tc_open(&good, "good", 1);
    tc_wait_live(&good, 2);

    enum { GARBAGE, NO_HELLO, WRONG_MAJOR, WRONG_DIRECTION, TOO_LARGE, OVERSIZED_PENDING, NBAD };
    static const char *names[NBAD] = {"garbage", "command-before-hello", "wrong-major",
                                      "sample-from-client", "too-large", "oversized-pending"};
    /* Which of them first say a proper hello: their fault comes after it. */
    static const int hello_first[NBAD] = {0, 0, 0, 1, 1, 1};
    tclient bad[NBAD];
    for (int i = 0; i < NBAD; i++) {
        tc_open(&bad[i], names[i], hello_first[i]);
        lt_buf b;
        lt_buf_init(&b);
        switch (i) {
        case GARBAGE: {
            uint8_t junk[16];
            memset(junk, 0xff, sizeof junk);
            lt_buf_put(&b, junk, sizeof junk);
            break;
        }
        case NO_HELLO:
            ck_assert_int_eq(lt_encode_command(&b, LT_CMD_PING, 0), 0);
            break;
        case WRONG_MAJOR: {
            lt_client_hello ch = {LT_PROTO_MAJOR + 1, 0, "from the future"};
            ck_assert_int_eq(lt_encode_client_hello(&b, &ch), 0);
            break;
        }
        case WRONG_DIRECTION: {
            lt_sample smp;
            memset(&smp, 0, sizeof smp);
            ck_assert_int_eq(lt_encode_sample(&b, &smp, 0, 0), 0);
            break;
        }
        case TOO_LARGE: { /* well-formed, but larger than any frame a viewer sends */
            size_t off = lt_frame_begin(&b, 300, 0);
            for (int k = 0; k < 5000; k++)
                lt_put_u8(&b, 'x');
            ck_assert_int_eq(lt_frame_end(&b, off), 0);
            break;
        }
        case OVERSIZED_PENDING: { /* announces a 1 MiB frame and keeps sending it */
            size_t off = lt_frame_begin(&b, 300, 0);
            for (int k = 0; k < 6000; k++)
                lt_put_u8(&b, 'x');
            uint32_t n = 1u << 20;
            for (int k = 0; k < 4; k++)
                b.data[off + (size_t)k] = (uint8_t)(n >> (8 * k));
            break;
        }
        }
        tc_send(&bad[i], b.data, b.len);
        lt_buf_free(&b);
    }
    /* And one that just goes away. */
    tclient gone;
    tc_open(&gone, "gone", 1);
    close(gone.fd);
    gone.fd = -1;

    for (int i = 0; i < NBAD; i++) {
        tc_wait_closed_within(&bad[i], (int)LT_CLIENT_HELLO_MS * 3 / 4);
        ck_assert_msg(bad[i].bye == 0, "%s: got a BYE instead of being cut off", names[i]);
    }
    uint32_t before = good.live;
    tc_wait_live(&good, before + 3);
    ck_assert_int_eq(good.closed, 0);
    tc_ping(&good);

    lt_agent_stop(a, LT_BYE_EXITING);
    tc_wait_closed(&good);
    ck_assert_int_eq(good.bye, LT_BYE_EXITING);
    for (int i = 0; i < NBAD; i++)
        tc_close(&bad[i]);
    tc_close(&gone);
    tc_close(&good);
}
END_TEST

/* A connection that never says hello is greeted, then dropped at the hello deadline. */
START_TEST(test_hello_deadline)
{
    fake_host h = {0};
    lt_agent *a = start_agent(&h, 128, 8);
    tclient silent, viewer;
    uint64_t t0 = lt_test_now_ms();
    tc_open(&silent, "silent", 0);
    tc_open(&viewer, "viewer", 1);
    tc_wait_closed_within(&silent, (int)LT_CLIENT_HELLO_MS + WAIT_MS);
    uint64_t waited = lt_test_now_ms() - t0;
    ck_assert_int_eq(silent.got_hello, 1); /* it was greeted like anyone */
    ck_assert_uint_ge(waited, LT_CLIENT_HELLO_MS - 100);
    ck_assert_int_eq(silent.bye, 0);
    /* The viewer that said hello stays. */
    tc_wait_live(&viewer, viewer.live + 2);
    ck_assert_int_eq(viewer.closed, 0);
    lt_agent_stop(a, LT_BYE_EXITING);
    tc_wait_closed(&viewer);
    tc_close(&silent);
    tc_close(&viewer);
}
END_TEST

START_TEST(test_max_clients)
{
    fake_host h = {0};
    lt_agent *a = start_agent(&h, 128, 1);
    tclient one, two;
    tc_open(&one, "one", 1);
    tc_ping(&one); /* its hello has been read: the only slot holds a real viewer */
    tc_open(&two, "two", 1);
    tc_wait_closed(&two);
    ck_assert_int_eq(two.got_hello, 0); /* refused before any greeting */
    tc_wait_live(&one, one.live + 2);
    ck_assert_int_eq(one.closed, 0);
    lt_agent_stop(a, LT_BYE_EXITING);
    tc_wait_closed(&one);
    ck_assert_int_eq(one.bye, LT_BYE_EXITING);
    tc_close(&one);
    tc_close(&two);
}
END_TEST

/* When every slot is taken, a connection that has not said hello gives its slot to a new one. */
START_TEST(test_full_house_evicts_silent)
{
    fake_host h = {0};
    lt_agent *a = start_agent(&h, 128, 2);
    tclient one, silent, late;
    tc_open(&one, "one", 1);
    tc_ping(&one);
    tc_open(&silent, "silent", 0);
    tc_wait_type(&silent, LT_FRAME_HISTORY_END); /* accepted and greeted */
    tc_open(&late, "late", 1);
    tc_wait_closed_within(&silent, (int)LT_CLIENT_HELLO_MS / 2);
    tc_ping(&late);
    tc_wait_live(&late, 1);
    tc_wait_live(&one, one.live + 1);
    ck_assert_int_eq(one.closed, 0);
    lt_agent_stop(a, LT_BYE_EXITING);
    tc_wait_closed(&one);
    tc_wait_closed(&late);
    ck_assert_int_eq(late.bye, LT_BYE_EXITING);
    tc_close(&one);
    tc_close(&silent);
    tc_close(&late);
}
END_TEST

/* Stopping because the process exits takes one last sample, so even a short run has an end;
 * a plain stop does not. A long interval keeps the ticks out of the way. */
START_TEST(test_final_sample_at_exit)
{
    static const int reasons[] = {LT_BYE_EXITING, LT_BYE_STOPPED};
    for (int r = 0; r < 2; r++) {
        fake_host h = {0};
        lt_agent *a = start_agent_every(&h, 60000, 128, 8);
        ck_assert(ticks_at_least(&h, 1)); /* the first census is taken at start */
        tclient c;
        tc_open(&c, "viewer", 1);
        tc_wait_type(&c, LT_FRAME_HISTORY_END);
        ck_assert_uint_eq(c.history, 1);
        tc_ping(&c);
        ck_assert_uint_eq(c.live, 0);
        lt_agent_stop(a, reasons[r]);
        tc_wait_closed(&c);
        ck_assert_int_eq(c.bye, reasons[r]);
        if (reasons[r] == LT_BYE_EXITING) {
            ck_assert_uint_eq(c.live, 1);
            ck_assert_int_eq(c.last_seq, 1);
        } else {
            ck_assert_uint_eq(c.live, 0);
        }
        tc_close(&c);
    }
}
END_TEST

/* Running out of memory while announcing one string loses at most that string: the names of
 * later censuses still reach the viewers before the samples that use them. */
START_TEST(test_strings_after_out_of_memory)
{
    fake_host h = {0};
    lt_agent *a = start_agent(&h, 128, 8);
    tclient c;
    tc_open(&c, "viewer", 1);
    c.allow_gaps = 1; /* skipping the census whose names cannot be announced is fair */
    tc_wait_type(&c, LT_FRAME_HISTORY_END);
    /* From here until the agent is done this thread allocates nothing, so the failure the fake
     * host arms is the agent's own. */
    __atomic_store_n(&h.arm_oom, 1, __ATOMIC_RELEASE);
    uint64_t deadline = lt_test_now_ms() + WAIT_MS;
    while (__atomic_load_n(&h.oom_tick, __ATOMIC_ACQUIRE) == 0 && lt_test_left_ms(deadline) > 0)
        poll(NULL, 0, 5);
    int oom_tick = __atomic_load_n(&h.oom_tick, __ATOMIC_ACQUIRE);
    ck_assert_int_gt(oom_tick, 0);
    ck_assert_int_le(oom_tick + 3, NPOOL); /* new type names keep coming after it */
    ck_assert(ticks_at_least(&h, oom_tick + 3));
    lt_mem_fail_after(0); /* in case the agent made fewer allocations than armed */
    /* track() checks every id used was announced first. */
    tc_wait_live(&c, c.live + 4);
    lt_agent_stop(a, LT_BYE_EXITING);
    tc_wait_closed(&c);
    tc_close(&c);
}
END_TEST

/* Without a socket_path the agent uses the contracts' place: $XDG_RUNTIME_DIR/leaktop/<pid>.sock,
 * in a 0700 directory it makes, with the socket 0600; and it refuses a directory that is not
 * private. */
START_TEST(test_default_socket_path)
{
    setenv("XDG_RUNTIME_DIR", tmp, 1);
    char dir[72];
    snprintf(dir, sizeof dir, "%s/leaktop", tmp);
    snprintf(sock_path, sizeof sock_path, "%s/%ld.sock", dir, (long)getpid());
    fake_host h = {0};
    lt_agent_config cfg;
    lt_agent_config_default(&cfg);
    cfg.interval_ms = INTERVAL_MS;
    lt_agent_ops ops = {.ctx = &h, .sample = fake_sample};
    lt_agent_identity id = {.python_version = "3.99", .executable = "x", .argc = 0};
    char *cause = NULL;
    lt_agent *a = lt_agent_start(&cfg, &ops, &id, &cause);
    ck_assert_msg(a != NULL, "lt_agent_start: %s", cause ? cause : "?");
    struct stat st;
    ck_assert_int_eq(lstat(dir, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0700);
    ck_assert_int_eq(lstat(sock_path, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    /* A client finds it by pid alone. */
    int kind = 0;
    int fd = lt_sock_connect(getpid(), &kind, &cause);
    ck_assert_msg(fd >= 0, "lt_sock_connect: %s", cause ? cause : "?");
    close(fd);
    tclient c;
    tc_open(&c, "viewer", 1);
    tc_wait_live(&c, 1);
    lt_agent_stop(a, LT_BYE_EXITING);
    tc_wait_closed(&c);
    tc_close(&c);
    ck_assert_int_eq(access(sock_path, F_OK), -1);

    /* Someone opened the directory up: the agent does not start there. */
    ck_assert_int_eq(chmod(dir, 0755), 0);
    cause = NULL;
    ck_assert_ptr_null(lt_agent_start(&cfg, &ops, &id, &cause));
    ck_assert_ptr_nonnull(cause);
    ck_assert_ptr_nonnull(strstr(cause, "0700"));
    lt_free(cause);
    ck_assert_int_eq(access(sock_path, F_OK), -1);
}
END_TEST

START_TEST(test_start_failures)
{
    uint64_t base = lt_mem_in_use();
    fake_host h = {0};
    lt_agent_config cfg;
    lt_agent_config_default(&cfg);
    lt_agent_ops ops = {.ctx = &h, .sample = fake_sample};
    lt_agent_identity id = {.python_version = "3.99", .executable = "x", .argc = 3,
                            .argv = fake_argv};

    /* A path longer than a sockaddr_un holds. */
    char longp[300];
    snprintf(longp, sizeof longp, "%s/%0200d.sock", tmp, 0);
    cfg.socket_path = longp;
    char *cause = NULL;
    ck_assert_ptr_null(lt_agent_start(&cfg, &ops, &id, &cause));
    ck_assert_ptr_nonnull(cause);
    lt_free(cause);

    /* A directory that does not exist. */
    char missing[256];
    snprintf(missing, sizeof missing, "%s/no/such/dir/a.sock", tmp);
    cfg.socket_path = missing;
    cause = NULL;
    ck_assert_ptr_null(lt_agent_start(&cfg, &ops, &id, &cause));
    ck_assert_ptr_nonnull(cause);
    lt_free(cause);

    /* Out of memory at each allocation lt_agent_start makes, in turn, until it succeeds: it
     * fails cleanly (a cause when one can be allocated, no socket file, no memory held). */
    cfg.socket_path = sock_path;
    int failures = 0, successes = 0;
    for (long k = 1; k <= 64 && successes < 2; k++) {
        cause = NULL;
        lt_mem_fail_after(k);
        lt_agent *a = lt_agent_start(&cfg, &ops, &id, &cause);
        lt_mem_fail_after(0);
        if (a != NULL) {
            /* Once k passes the allocations of start, the countdown may hit the new thread
             * instead; the agent must cope with that as well. */
            successes++;
            lt_agent_stop(a, LT_BYE_EXITING);
        } else {
            failures++;
            lt_free(cause);
            ck_assert_msg(access(sock_path, F_OK) == -1, "k=%ld: socket file left behind", k);
        }
        ck_assert_msg(lt_mem_in_use() == base, "k=%ld: %llu bytes still held", k,
                      (unsigned long long)(lt_mem_in_use() - base));
    }
    ck_assert_int_ge(failures, 10);
    ck_assert_int_ge(successes, 1);

    /* NULL is a no-op for both. */
    lt_agent_stop(NULL, LT_BYE_EXITING);
    ck_assert_int_eq(lt_agent_finished(NULL), 0);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

static Suite *
agent_suite(void)
{
    Suite *s = suite_create("agent_core");
    TCase *tc = lt_test_tcase(s, "agent_core");
    tcase_add_unchecked_fixture(tc, setup_root, teardown_root);
    tcase_add_checked_fixture(tc, setup_test, NULL);
    tcase_add_test(tc, test_config_default);
    tcase_add_test(tc, test_stream_and_bye);
    tcase_add_test(tc, test_late_joiner_gets_history);
    tcase_add_test(tc, test_commands);
    tcase_add_test(tc, test_type_sites_command);
    tcase_add_test(tc, test_stop_command);
    tcase_add_test(tc, test_bad_clients_disconnected);
    tcase_add_test(tc, test_hello_deadline);
    tcase_add_test(tc, test_max_clients);
    tcase_add_test(tc, test_full_house_evicts_silent);
    tcase_add_test(tc, test_final_sample_at_exit);
    tcase_add_test(tc, test_strings_after_out_of_memory);
    tcase_add_test(tc, test_default_socket_path);
    tcase_add_test(tc, test_start_failures);
    return s;
}

int
main(void)
{
    return lt_test_run(agent_suite());
}
