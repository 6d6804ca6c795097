/* `leaktop metrics`: the exporter loop. */
#define _GNU_SOURCE
#include "metrics.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "http_serve.h"
#include "leaktop/mem.h"
#include "leaktop/sockpath.h"
#include "metrics_text.h"
#include "proc_tree.h"
#include "model.h"
#include "watch.h"

#define RETRY_AFTER_ERROR_MS 30000 /* an agent that sent garbage is tried again this much later */
#define READS_PER_ROUND 64         /* recv()s of 64 KiB per agent before the others get a turn */
#ifndef MODEL_BUDGET /* (-D for experiments) */
#define MODEL_BUDGET (24u << 20)   /* bytes of one stream's model before it is renewed */
#define RENEW_MIN_MS 600000        /* and at most this often */
#endif
#define SUSPECTS_EVERY_MS 5000     /* suspects are judged again at most this often */

/* One connection to an agent and the model of what it said. */
typedef struct stream {
    int open;
    lt_conn conn;
    lt_model model;
    int64_t bytes; /* counted memory its model and buffers took while reading */
} stream;

typedef struct agent {
    pid_t pid;
    int seen;          /* its socket was there at the last scan */
    stream cur;        /* the stream the figures come from */
    stream next;       /* a fresh stream that replaces cur once its history is in */
    uint64_t next_try; /* ms: when to try connecting again */
    uint64_t renewed_at;
    int complained;    /* the last failure to connect was said on stderr */
    int said_hello;
    /* leak suspects, judged again when a new sample arrived (at most every SUSPECTS_EVERY_MS) */
    int suspects;
    uint32_t suspects_seq;
    uint64_t suspects_at;
    int suspects_valid;
} agent;

typedef struct exporter {
    lt_metrics_opts o;
    agent *agents[LT_METRICS_MAX_AGENTS];
    int nagents;
    int said_full;
    lt_http_server *http;
} exporter;

static uint64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int
process_exists(pid_t pid)
{
    return kill(pid, 0) == 0 || errno == EPERM;
}

/* ---- streams ----------------------------------------------------------------------------- */

static void
stream_close(stream *s)
{
    if (s->open) {
        lt_conn_close(&s->conn);
        lt_model_free(&s->model);
    }
    memset(s, 0, sizeof *s);
    s->conn.fd = -1;
}

static int
stream_open(stream *s, pid_t pid, int *kind, char **cause)
{
    stream_close(s);
    uint64_t before = lt_mem_in_use();
    if (lt_model_init(&s->model, LT_METRICS_POINTS) < 0) {
        *kind = LT_SOCK_EOTHER;
        *cause = lt_asprintf("out of memory");
        return -1;
    }
    if (lt_conn_open(&s->conn, pid, "leaktop metrics", kind, cause) < 0) {
        lt_model_free(&s->model);
        s->conn.fd = -1;
        return -1;
    }
    s->open = 1;
    s->bytes = (int64_t)(lt_mem_in_use() - before);
    return 0;
}

/* Read what the agent sent into the model. Tracebacks are skipped: no metric needs them, and
 * an agent holds up to 65536. Returns 1 data, 0 none, 2 end of stream, -1 with *cause. */
static int
stream_read(stream *s, char **cause)
{
    lt_conn *c = &s->conn;
    int got = 0;
    for (int round = 0; round < READS_PER_ROUND; round++) {
        uint8_t buf[65536];
        ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            c->eof = 1;
            return 2;
        }
        got = 1;
        if (lt_framer_feed(&c->in, buf, (size_t)n) < 0) {
            *cause = lt_asprintf("out of memory");
            return -1;
        }
        uint16_t type, flags;
        const uint8_t *p;
        uint32_t len;
        int rc;
        while ((rc = lt_framer_next(&c->in, &type, &flags, &p, &len)) == 1) {
            if (type == LT_FRAME_TRACE)
                continue;
            int d = lt_decode(&c->msg, type, flags, p, len);
            if (d == 1) {
                lt_msg_clear(&c->msg);
                continue; /* a frame type from a newer agent */
            }
            int bad = d < 0 ? (*cause = lt_asprintf("malformed %s frame (%u bytes): not a "
                                                    "leaktop agent, or a corrupted stream",
                                                    lt_frame_name(type), len)) != NULL
                            : lt_model_apply(&s->model, &c->msg, cause) < 0;
            lt_msg_clear(&c->msg);
            if (bad)
                return -1;
        }
        if (rc < 0) {
            *cause = lt_asprintf(c->in.error == LT_FRAMER_TOO_BIG
                                     ? "a frame larger than the protocol allows: not a leaktop "
                                       "agent, or a corrupted stream"
                                     : "out of memory");
            return -1;
        }
    }
    return got;
}

static int
stream_pump(stream *s, char **cause)
{
    uint64_t before = lt_mem_in_use();
    int rc = stream_read(s, cause);
    s->bytes += (int64_t)(lt_mem_in_use() - before);
    return rc;
}

/* ---- agents ------------------------------------------------------------------------------ */

static agent *
find_agent(exporter *x, pid_t pid)
{
    for (int i = 0; i < x->nagents; i++)
        if (x->agents[i]->pid == pid)
            return x->agents[i];
    return NULL;
}

static agent *
add_agent(exporter *x, pid_t pid)
{
    if (x->nagents >= LT_METRICS_MAX_AGENTS) {
        if (!x->said_full)
            fprintf(stderr, "leaktop metrics: more than %d agents; the others are left out\n",
                    LT_METRICS_MAX_AGENTS);
        x->said_full = 1;
        return NULL;
    }
    agent *a = lt_calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->pid = pid;
    a->cur.conn.fd = a->next.conn.fd = -1;
    x->agents[x->nagents++] = a;
    return a;
}

static void
remove_agent(exporter *x, int i)
{
    stream_close(&x->agents[i]->cur);
    stream_close(&x->agents[i]->next);
    lt_free(x->agents[i]);
    x->agents[i] = x->agents[--x->nagents];
}

static void
try_connect(exporter *x, agent *a, uint64_t now)
{
    if (a->cur.open || now < a->next_try)
        return;
    a->next_try = now + (uint64_t)(x->o.rescan_s * 1000);
    int kind = 0;
    char *cause = NULL;
    if (stream_open(&a->cur, a->pid, &kind, &cause) < 0) {
        if (!a->complained)
            fprintf(stderr, "leaktop metrics: pid %ld: %s\n", (long)a->pid, cause);
        a->complained = 1;
        lt_free(cause);
        return;
    }
    a->complained = 0;
    a->said_hello = 0;
    a->suspects_valid = 0;
    a->renewed_at = now;
}

/* A model that grew past its budget (allocation sites pile up over days) is replaced by a fresh
 * connection's, which the agent's history fills at once; cur serves until then. */
static void
maybe_renew(agent *a, uint64_t now)
{
    if (!a->cur.open || a->next.open || a->cur.bytes < (int64_t)MODEL_BUDGET ||
        now - a->renewed_at < RENEW_MIN_MS)
        return;
    a->renewed_at = now;
    int kind;
    char *cause = NULL;
    if (stream_open(&a->next, a->pid, &kind, &cause) < 0)
        lt_free(cause); /* cur goes on; tried again later */
}

static void
pump(agent *a, int which)
{
    stream *s = which ? &a->next : &a->cur;
    if (!s->open)
        return; /* closed earlier in this round */
    char *cause = NULL;
    int rc = stream_pump(s, &cause);
    if (which) {
        if (rc == 2 || rc < 0) {
            lt_free(cause);
            stream_close(&a->next);
        } else if (a->next.model.history_done) {
            stream_close(&a->cur);
            a->cur = a->next;
            memset(&a->next, 0, sizeof a->next);
            a->next.conn.fd = -1;
            a->suspects_valid = 0;
        }
        return;
    }
    if (!a->said_hello && a->cur.model.have_hello) {
        const lt_model *m = &a->cur.model;
        a->said_hello = 1;
        fprintf(stderr, "leaktop metrics: watching pid %ld (%s, Python %s)\n", (long)a->pid,
                m->argc > 0 ? m->argv[0] : m->executable ? m->executable : "?",
                m->python_version ? m->python_version : "?");
    }
    if (rc == 2) {
        fprintf(stderr, "leaktop metrics: pid %ld: the agent closed the stream%s%s\n",
                (long)a->pid, a->cur.model.bye_message ? ": " : "",
                a->cur.model.bye_message ? a->cur.model.bye_message : "");
        stream_close(&a->cur);
        stream_close(&a->next);
    } else if (rc < 0) {
        fprintf(stderr, "leaktop metrics: pid %ld: %s; trying again in %d s\n", (long)a->pid,
                cause ? cause : "protocol error", RETRY_AFTER_ERROR_MS / 1000);
        lt_free(cause);
        stream_close(&a->cur);
        stream_close(&a->next);
        a->next_try = now_ms() + RETRY_AFTER_ERROR_MS;
        a->complained = 1;
    }
}

/* Is name "<digits>.sock"? Its pid into *pid. */
static int
socket_pid(const char *name, pid_t *pid)
{
    size_t n = strspn(name, "0123456789");
    if (n == 0 || n > 9 || strcmp(name + n, ".sock") != 0)
        return 0;
    long v = strtol(name, NULL, 10);
    if (v <= 0)
        return 0;
    *pid = (pid_t)v;
    return 1;
}

/* Find the agents whose sockets appeared, drop those that are gone, connect the new ones. */
static void
scan(exporter *x, uint64_t now)
{
    if (x->o.pid == 0) {
        for (int i = 0; i < x->nagents; i++)
            x->agents[i]->seen = 0;
        char dir[4096], *cause = NULL;
        DIR *d = NULL;
        if (lt_sock_dir(dir, sizeof dir, &cause) == 0)
            d = opendir(dir);
        lt_free(cause);
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL) {
            pid_t pid;
            if (!socket_pid(e->d_name, &pid) || !process_exists(pid))
                continue;
            agent *a = find_agent(x, pid);
            if (a == NULL)
                a = add_agent(x, pid);
            if (a != NULL)
                a->seen = 1;
        }
        if (d != NULL)
            closedir(d);
        /* Gone: no socket and no connection, or no process at all. */
        for (int i = x->nagents; i-- > 0;) {
            agent *a = x->agents[i];
            if ((!a->seen && !a->cur.open) || !process_exists(a->pid))
                remove_agent(x, i);
        }
    }
    for (int i = 0; i < x->nagents; i++) {
        try_connect(x, x->agents[i], now);
        maybe_renew(x->agents[i], now);
    }
}

/* ---- HTTP -------------------------------------------------------------------------------- */

static int
cmp_proc(const void *a, const void *b)
{
    const lt_metrics_proc *x = a, *y = b;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

static int
suspects_of(agent *a)
{
    const lt_model *m = &a->cur.model;
    uint32_t seq = m->n ? lt_model_point(m, m->n - 1)->seq : 0;
    uint64_t now = now_ms();
    if (!a->suspects_valid ||
        (a->suspects_seq != seq && now - a->suspects_at >= SUSPECTS_EVERY_MS)) {
        a->suspects = lt_metrics_suspects(m);
        a->suspects_seq = seq;
        a->suspects_at = now;
        a->suspects_valid = a->suspects >= 0;
    }
    return a->suspects;
}

static void
render_metrics(exporter *x, const lt_http_request *req, lt_http_response *res)
{
    lt_metrics_proc *procs = lt_calloc(x->nagents ? (size_t)x->nagents : 1, sizeof *procs);
    if (procs == NULL)
        return; /* status 0: 500 */
    for (int i = 0; i < x->nagents; i++) {
        agent *a = x->agents[i];
        int up = a->cur.open && a->cur.model.have_hello;
        procs[i] = (lt_metrics_proc){.pid = (uint32_t)a->pid, .up = up,
                                     .model = up ? &a->cur.model : NULL,
                                     .suspects = up ? suspects_of(a) : -1,
                                     .ppid = (uint32_t)lt_proc_tree_parent("/proc", a->pid)};
    }
    qsort(procs, (size_t)x->nagents, sizeof *procs, cmp_proc);
    lt_metrics_format fmt = lt_metrics_wants_openmetrics(req->accept) ? LT_METRICS_OPENMETRICS
                                                                       : LT_METRICS_PROMETHEUS;
    if (lt_metrics_render(&res->body, procs, (size_t)x->nagents, x->o.top, fmt) == 0) {
        res->status = 200;
        res->content_type = fmt == LT_METRICS_OPENMETRICS ? LT_METRICS_CONTENT_TYPE_OPENMETRICS
                                                          : LT_METRICS_CONTENT_TYPE_PROMETHEUS;
    }
    lt_free(procs);
}

static void
handle(void *ctx, const lt_http_request *req, lt_http_response *res)
{
    exporter *x = ctx;
    res->content_type = "text/plain; charset=utf-8";
    if (strcmp(req->path, "/metrics") == 0) {
        render_metrics(x, req, res);
    } else if (strcmp(req->path, "/") == 0) {
        const char *t = "leaktop metrics " LEAKTOP_VERSION "\n"
                        "\n"
                        "/metrics  the memory of the Python processes leaktop watches, in the "
                        "Prometheus text format\n";
        res->status = 200;
        lt_buf_put(&res->body, t, strlen(t));
    } else {
        const char *t = "not found; the metrics are at /metrics\n";
        res->status = 404;
        lt_buf_put(&res->body, t, strlen(t));
    }
}

/* ---- the loop ---------------------------------------------------------------------------- */

/* --pid: the process must exist and be ours; an agent it does not have yet is waited for. */
static int
check_pid(exporter *x, char **cause)
{
    pid_t pid = x->o.pid;
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%ld", (long)pid);
    if (!process_exists(pid) || stat(path, &st) < 0) {
        *cause = lt_asprintf("no process with pid %ld", (long)pid);
        return -1;
    }
    if (st.st_uid != geteuid() && geteuid() != 0) {
        *cause = lt_asprintf("pid %ld belongs to uid %u, not to you; leaktop only watches your "
                             "own processes",
                             (long)pid, (unsigned)st.st_uid);
        return -1;
    }
    agent *a = add_agent(x, pid);
    if (a == NULL) {
        *cause = lt_asprintf("out of memory");
        return -1;
    }
    a->complained = 1; /* said below, in its own words */
    try_connect(x, a, now_ms());
    if (!a->cur.open) {
        int kind = 0;
        char *why = NULL;
        int fd = lt_sock_connect(pid, &kind, &why);
        if (fd >= 0)
            close(fd); /* it came up meanwhile: the next scan connects */
        char *explain = lt_watch_explain_pid(pid, kind, why);
        lt_free(why);
        fprintf(stderr, "leaktop metrics: %s; leaktop_up{pid=\"%ld\"} is 0 until it has one "
                        "(leaktop metrics never attaches by itself)\n",
                explain, (long)pid);
        lt_free(explain);
    }
    return 0;
}

int
lt_metrics_serve(const lt_metrics_opts *o, char **cause)
{
    *cause = NULL;
    exporter *x = lt_calloc(1, sizeof *x);
    if (x == NULL) {
        *cause = lt_asprintf("out of memory");
        return -1;
    }
    x->o = *o;
    if (x->o.listen == NULL)
        x->o.listen = LT_METRICS_LISTEN_DEFAULT;
    if (x->o.rescan_s <= 0)
        x->o.rescan_s = LT_METRICS_RESCAN_DEFAULT;
    if (x->o.top == 0)
        x->o.top = LT_METRICS_TOP_DEFAULT;

    if (x->o.pid != 0 && check_pid(x, cause) < 0) {
        for (int i = x->nagents; i-- > 0;)
            remove_agent(x, i);
        lt_free(x);
        return -1;
    }
    char bound[128];
    int loopback = 0;
    int fd = lt_http_listen(x->o.listen, bound, sizeof bound, &loopback, cause);
    if (fd < 0) {
        for (int i = x->nagents; i-- > 0;)
            remove_agent(x, i);
        lt_free(x);
        return -1;
    }
    char *user = NULL, *password = NULL;
    if (x->o.auth_file != NULL &&
        lt_http_read_credentials(x->o.auth_file, &user, &password, cause) < 0) {
        close(fd);
        for (int i = x->nagents; i-- > 0;)
            remove_agent(x, i);
        lt_free(x);
        return -1;
    }
    x->http = lt_http_server_new(fd, handle, x, user, password, cause);
    if (password != NULL)
        memset(password, 0, strlen(password));
    lt_free(user);
    lt_free(password);
    if (x->http == NULL) {
        for (int i = x->nagents; i-- > 0;)
            remove_agent(x, i);
        lt_free(x);
        return -1;
    }
    lt_watch_signals();
    if (!loopback)
        fprintf(stderr, "leaktop metrics: warning: %s is not a loopback address; anyone who can "
                        "reach it sees your processes' command lines and type names\n",
                bound);
    int on_unix = strncmp(bound, "unix:", 5) == 0;
    printf("leaktop metrics: serving %s%s%s (%s%s)\n", on_unix ? "/metrics on " : "http://",
           bound, on_unix ? "" : "/metrics",
           x->o.pid ? "one process" : "every agent of this user",
           x->o.auth_file ? ", basic authentication" : "");
    fflush(stdout);

    uint64_t next_scan = 0;
    size_t cap = LT_HTTP_POLLFDS + 2 * LT_METRICS_MAX_AGENTS;
    struct pollfd *pfd = lt_calloc(cap, sizeof *pfd);
    agent **polled = lt_calloc(2 * LT_METRICS_MAX_AGENTS, sizeof *polled);
    int *which = lt_calloc(2 * LT_METRICS_MAX_AGENTS, sizeof *which);
    while (pfd != NULL && polled != NULL && which != NULL && !lt_watch_interrupted()) {
        uint64_t now = now_ms();
        if (now >= next_scan) {
            scan(x, now);
            next_scan = now + (uint64_t)(x->o.rescan_s * 1000);
        }
        int n = lt_http_server_pollfds(x->http, pfd);
        int first_agent = n, na = 0;
        for (int i = 0; i < x->nagents; i++)
            for (int w = 0; w < 2; w++) {
                const stream *st = w ? &x->agents[i]->next : &x->agents[i]->cur;
                if (!st->open)
                    continue;
                polled[na] = x->agents[i];
                which[na++] = w;
                pfd[n++] = (struct pollfd){.fd = st->conn.fd, .events = POLLIN};
            }
        int timeout = next_scan > now ? (int)(next_scan - now) : 0;
        int ht = lt_http_server_timeout_ms(x->http);
        if (ht >= 0 && ht < timeout)
            timeout = ht;
        int r = poll(pfd, (nfds_t)n, timeout);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            *cause = lt_asprintf("poll: %s", strerror(errno));
            break;
        }
        /* Agents first, so that a scrape in the same round sees their newest sample. */
        for (int i = 0; i < na; i++)
            if (pfd[first_agent + i].revents != 0)
                pump(polled[i], which[i]);
        lt_http_server_dispatch(x->http, pfd);
    }
    int oom = pfd == NULL || polled == NULL || which == NULL;
    int failed = oom || *cause != NULL;
    if (oom)
        *cause = lt_asprintf("out of memory");
    lt_free(pfd);
    lt_free(polled);
    lt_free(which);
    lt_http_server_free(x->http);
    for (int i = x->nagents; i-- > 0;)
        remove_agent(x, i);
    lt_free(x);
    return failed ? -1 : 0;
}

int
lt_metrics_main(const lt_cli *cli)
{
    lt_metrics_opts o = {.listen = cli->listen, .pid = cli->pid, .top = cli->top,
                         .rescan_s = cli->interval, .auth_file = cli->auth_file};
    char *cause = NULL;
    if (lt_metrics_serve(&o, &cause) < 0) {
        fprintf(stderr, "leaktop: %s\n", cause ? cause : "metrics failed");
        lt_free(cause);
        return 2;
    }
    return 0;
}
