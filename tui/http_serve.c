/* The HTTP server of `leaktop metrics`: libmicrohttpd does the HTTP; ours are the listening
 * address, admission (who gets one of the LT_HTTP_MAX_CLIENTS places) and basic
 * authentication. */
#define _GNU_SOURCE
#include "http_serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MHD_NO_DEPRECATION 1 /* the same calls build on 0.9.7x and 1.x */
#include <microhttpd.h>

#include "http_gate.h"
#include "leaktop/mem.h"
#include "leaktop/sockpath.h"
#include "leaktop/version.h"

#define ACCEPT_PAUSE_MS 100 /* out of file descriptors: stop accepting for a moment */
#define REALM "leaktop metrics"
#define RECHECK_MS 25        /* a half-sent head is peeked at again this often */
#define LINGER_MS 2000       /* reading what a refused client still sends after the answer */

/* One connection, from accept to close. */
typedef struct client {
    int fd;
    int answering; /* its request is in: being answered, never evicted */
    int evicted;   /* shut down by us; libmicrohttpd closes it at its next turn */
    uint64_t deadline;
    struct client *prev, *next; /* oldest first */
} client;

/* A connection at the door: its first bytes are peeked at until they pass (then libmicrohttpd
 * gets it) or fail (then a 400 is sent and what else it sends is read away until it closes). */
typedef struct waiting {
    int fd;
    int draining;       /* answered 400; reading until EOF or the deadline */
    size_t peeked;      /* bytes seen at the last look */
    uint64_t deadline;
    uint64_t recheck;   /* with bytes in but the head unfinished: look again then (ms) */
} waiting;

struct lt_http_server {
    int listen_fd;
    waiting door[LT_HTTP_MAX_CLIENTS];
    int ndoor;
    int npolled;
    struct MHD_Daemon *d;
    lt_http_handler handler;
    void *ctx;
    char *user, *password;
    client *first, *last;
    int nclients; /* not evicted */
    uint64_t accept_paused_until;
    lt_http_stats st;
};

static uint64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *
lt_http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
    }
}

/* ---- listening on a Unix socket ---------------------------------------------------------- */

static int
listen_unix(const char *path, char *bound, size_t boundlen, int *loopback, char **cause)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (path[0] != '/' || strlen(path) >= sizeof sa.sun_path) {
        *cause = lt_asprintf("--listen unix:PATH needs an absolute path of at most %zu bytes",
                             sizeof sa.sun_path - 1);
        return -1;
    }
    char dir[sizeof sa.sun_path];
    snprintf(dir, sizeof dir, "%s", path);
    struct stat st;
    const char *parent = dirname(dir);
    if (stat(parent, &st) < 0 || !S_ISDIR(st.st_mode)) {
        *cause = lt_asprintf("--listen unix:%s: %s is not a directory", path, parent);
        return -1;
    }
    if ((st.st_mode & S_IWOTH) || (st.st_uid != geteuid() && st.st_uid != 0)) {
        *cause = lt_asprintf("--listen unix:%s: %s must belong to you or root and not be "
                             "writable by others",
                             path, parent);
        return -1;
    }
    if (lstat(path, &st) == 0) {
        /* Only a dead socket of ours is replaced (a previous exporter killed). */
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        memcpy(sa.sun_path, path, strlen(path) + 1);
        int refused = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) < 0 &&
                      errno == ECONNREFUSED;
        if (probe >= 0)
            close(probe);
        if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid() || !refused) {
            *cause = lt_asprintf("--listen unix:%s: the path is in use", path);
            return -1;
        }
        unlink(path);
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *cause = lt_asprintf("socket: %s", strerror(errno));
        return -1;
    }
    /* Bound with no access at all, then opened to this user only. */
    mode_t old = umask(0777);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    umask(old);
    if (rc < 0 || chmod(path, 0600) < 0 || listen(fd, 64) < 0) {
        *cause = lt_asprintf("cannot listen on unix:%s: %s", path, strerror(rc < 0 ? e : errno));
        if (rc == 0)
            unlink(path);
        close(fd);
        return -1;
    }
    snprintf(bound, boundlen, "unix:%s", path);
    *loopback = 1;
    return fd;
}

/* ---- listening --------------------------------------------------------------------------- */

static int
is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return 0;
}

static void
format_addr(const struct sockaddr *sa, char *out, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
        snprintf(out, len, "%s:%u", host, port);
    } else {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
        snprintf(out, len, "[%s]:%u", host, port);
    }
}

int
lt_http_listen(const char *spec, char *bound, size_t boundlen, int *loopback, char **cause)
{
    if (strncmp(spec, "unix:", 5) == 0)
        return listen_unix(spec + 5, bound, boundlen, loopback, cause);
    char host[256], port[8];
    const char *colon;
    size_t speclen = strlen(spec);
    if (speclen > 0 && strspn(spec, "0123456789") == speclen) {
        snprintf(host, sizeof host, "127.0.0.1");
        colon = spec - 1;
    } else if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - spec - 1) >= sizeof host) {
            *cause = lt_asprintf("--listen needs HOST:PORT, [IPV6]:PORT or PORT, not '%s'", spec);
            return -1;
        }
        snprintf(host, sizeof host, "%.*s", (int)(close - spec - 1), spec + 1);
        colon = close + 1;
    } else {
        colon = strrchr(spec, ':');
        if (colon == NULL || colon == spec || (size_t)(colon - spec) >= sizeof host ||
            memchr(spec, ':', (size_t)(colon - spec)) != NULL) {
            *cause = lt_asprintf("--listen needs HOST:PORT, [IPV6]:PORT or PORT, not '%s'", spec);
            return -1;
        }
        snprintf(host, sizeof host, "%.*s", (int)(colon - spec), spec);
    }
    const char *ps = colon + 1;
    size_t pl = strlen(ps);
    if (pl == 0 || pl > 5 || strspn(ps, "0123456789") != pl || atoi(ps) > 65535) {
        *cause = lt_asprintf("--listen needs a port from 0 to 65535, not '%s'", spec);
        return -1;
    }
    snprintf(port, sizeof port, "%s", ps);

    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        *cause = lt_asprintf("cannot listen on %s: %s", spec, gai_strerror(gai));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0) {
            err = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        *cause = lt_asprintf("cannot listen on %s: %s", spec, strerror(err ? err : EINVAL));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        *cause = lt_asprintf("getsockname: %s", strerror(errno));
        close(fd);
        return -1;
    }
    format_addr((struct sockaddr *)&ss, bound, boundlen);
    *loopback = is_loopback((struct sockaddr *)&ss);
    return fd;
}

/* ---- serving ----------------------------------------------------------------------------- */

static void
unlink_client(lt_http_server *s, client *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        s->first = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        s->last = c->prev;
    if (!c->evicted)
        s->nclients--;
}

/* Close c from our side: libmicrohttpd sees the end at its next turn and frees it. shutdown()
 * does not release the descriptor, so no other connection can be hit by mistake. */
static void
evict(lt_http_server *s, client *c)
{
    if (c->evicted)
        return;
    shutdown(c->fd, SHUT_RDWR);
    c->evicted = 1;
    s->nclients--;
}

static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
              enum MHD_ConnectionNotificationCode toe)
{
    lt_http_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        client *c = lt_calloc(1, sizeof *c);
        *socket_context = c;
        if (c == NULL) {
            if (ci != NULL)
                shutdown(ci->connect_fd, SHUT_RDWR);
            return;
        }
        c->fd = ci != NULL ? ci->connect_fd : -1;
        c->deadline = now_ms() + LT_HTTP_TIMEOUT_MS;
        c->prev = s->last;
        if (s->last)
            s->last->next = c;
        else
            s->first = c;
        s->last = c;
        s->nclients++;
    } else if (*socket_context != NULL) {
        client *c = *socket_context;
        unlink_client(s, c);
        lt_free(c);
        *socket_context = NULL;
    }
}

static client *
client_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

typedef struct accept_join {
    char *out;
    size_t cap;
} accept_join;

static enum MHD_Result
join_accept(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    accept_join *j = cls;
    if (strcasecmp(key, "accept") != 0 || value == NULL)
        return MHD_YES;
    size_t have = strlen(j->out), room = j->cap - 1 - have;
    if (have > 0 && room > 0) {
        j->out[have++] = ',';
        room--;
    }
    size_t take = strlen(value) < room ? strlen(value) : room;
    memcpy(j->out + have, value, take);
    j->out[have + take] = '\0';
    return MHD_YES;
}

static int
authorized(lt_http_server *s, struct MHD_Connection *conn)
{
    if (s->user == NULL)
        return 1;
    char *password = NULL;
    char *user = MHD_basic_auth_get_username_password(conn, &password);
    int ok = user != NULL && password != NULL && lt_http_same_secret(user, s->user) &
                                                     lt_http_same_secret(password, s->password);
    if (user != NULL)
        MHD_free(user);
    if (password != NULL) {
        memset(password, 0, strlen(password));
        MHD_free(password);
    }
    return ok;
}

static enum MHD_Result
queue(lt_http_server *s, struct MHD_Connection *conn, int status, const char *content_type,
      const lt_buf *body, int unauthorized)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(body->len, body->data, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, MHD_HTTP_HEADER_SERVER, "leaktop/" LEAKTOP_VERSION);
    if (status == 405)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = unauthorized ? MHD_queue_basic_auth_fail_response(conn, REALM, r)
                                      : MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    if (rc == MHD_YES)
        s->st.answered++;
    return rc;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size,
           void **req_cls)
{
    (void)version;
    (void)upload_data;
    lt_http_server *s = cls;
    if (*req_cls == NULL) {
        /* The head is in: answer now, whatever body may follow (it is not read). */
        *req_cls = s;
        client *c = client_of(conn);
        if (c != NULL) {
            c->answering = 1;
            c->deadline = now_ms() + LT_HTTP_TIMEOUT_MS;
        }
    }
    *upload_data_size = 0;
    lt_http_request req;
    memset(&req, 0, sizeof req);
    lt_http_response res = {.status = 400, .content_type = "text/plain; charset=utf-8"};
    lt_buf_init(&res.body);
    enum MHD_Result rc;
    if (!authorized(s, conn)) {
        const char *t = "this server needs basic authentication\n";
        lt_buf_put(&res.body, t, strlen(t));
        s->st.unauthorized++;
        rc = queue(s, conn, 401, res.content_type, &res.body, 1);
        lt_buf_free(&res.body);
        return rc;
    }
    size_t ul = strlen(url), ml = strlen(method);
    if (ul >= sizeof req.path || ml >= sizeof req.method || url[0] != '/') {
        const char *t = "bad request\n";
        lt_buf_put(&res.body, t, strlen(t));
    } else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        res.status = 405;
        const char *t = "only GET and HEAD are served\n";
        lt_buf_put(&res.body, t, strlen(t));
    } else {
        memcpy(req.method, method, ml + 1);
        memcpy(req.path, url, ul + 1);
        req.head = strcmp(method, "HEAD") == 0;
        accept_join j = {.out = req.accept, .cap = sizeof req.accept};
        MHD_get_connection_values(conn, MHD_HEADER_KIND, join_accept, &j);
        res.status = 0;
        s->handler(s->ctx, &req, &res);
        if (res.status == 0 || res.body.failed) {
            lt_buf_free(&res.body);
            lt_buf_init(&res.body);
            res.status = 500;
            res.content_type = "text/plain; charset=utf-8";
            const char *t = "out of memory\n";
            lt_buf_put(&res.body, t, strlen(t));
        }
    }
    rc = queue(s, conn, res.status, res.content_type, &res.body, 0);
    lt_buf_free(&res.body);
    return rc;
}

lt_http_server *
lt_http_server_new(int fd, lt_http_handler h, void *ctx, const char *user, const char *password,
                   char **cause)
{
    lt_http_server *s = lt_calloc(1, sizeof *s);
    if (s == NULL || (user != NULL && ((s->user = lt_strdup(user)) == NULL ||
                                       (s->password = lt_strdup(password)) == NULL))) {
        close(fd);
        lt_http_server_free(s);
        *cause = lt_asprintf("out of memory");
        return NULL;
    }
    s->listen_fd = fd;
    s->handler = h;
    s->ctx = ctx;
    /* We accept (and choose whom to let in); libmicrohttpd serves what we hand it. Its own
     * limit is above ours, for the evicted connections it has not closed yet. */
    s->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET,
                            0, NULL, NULL, on_request, s,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)(4 * LT_HTTP_MAX_CLIENTS),
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)LT_HTTP_MAX_REQUEST * 4,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(LT_HTTP_TIMEOUT_MS / 1000),
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                            MHD_OPTION_END);
    if (s->d == NULL) {
        *cause = lt_asprintf("libmicrohttpd could not start (epoll)");
        lt_http_server_free(s);
        return NULL;
    }
    return s;
}

void
lt_http_server_free(lt_http_server *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < s->ndoor; i++)
        close(s->door[i].fd);
    if (s->d != NULL)
        MHD_stop_daemon(s->d); /* closes every connection: on_connection frees them */
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->password != NULL)
        memset(s->password, 0, strlen(s->password));
    lt_free(s->user);
    lt_free(s->password);
    lt_free(s);
}

int
lt_http_server_pollfds(lt_http_server *s, struct pollfd *pfd)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
    short listen_events = now_ms() >= s->accept_paused_until ? POLLIN : 0;
    pfd[0] = (struct pollfd){.fd = s->listen_fd, .events = listen_events};
    pfd[1] = (struct pollfd){.fd = di != NULL ? di->epoll_fd : -1, .events = POLLIN};
    /* Peeked bytes stay readable: a head that is on its way is looked at on a timer instead. */
    for (int i = 0; i < s->ndoor; i++) {
        const waiting *w = &s->door[i];
        pfd[2 + i] = (struct pollfd){.fd = w->draining || w->peeked == 0 ? w->fd : -1,
                                     .events = POLLIN};
    }
    s->npolled = s->ndoor;
    return 2 + s->ndoor;
}

static void
earliest(int64_t *best, uint64_t at, uint64_t now)
{
    int64_t left = at > now ? (int64_t)(at - now) : 0;
    if (*best < 0 || left < *best)
        *best = left;
}

int
lt_http_server_timeout_ms(lt_http_server *s)
{
    uint64_t now = now_ms();
    int64_t best = -1;
    MHD_UNSIGNED_LONG_LONG mhd;
    if (MHD_get_timeout(s->d, &mhd) == MHD_YES)
        best = mhd > 60000 ? 60000 : (int64_t)mhd;
    for (const client *c = s->first; c != NULL; c = c->next)
        if (!c->evicted)
            earliest(&best, c->deadline, now);
    for (int i = 0; i < s->ndoor; i++) {
        earliest(&best, s->door[i].deadline, now);
        if (!s->door[i].draining && s->door[i].peeked > 0)
            earliest(&best, s->door[i].recheck, now);
    }
    if (s->accept_paused_until > now)
        earliest(&best, s->accept_paused_until, now);
    return (int)best;
}

static void
door_close(lt_http_server *s, int i)
{
    close(s->door[i].fd);
    s->door[i] = s->door[--s->ndoor];
}

/* The 400 of a connection the door refused, as libmicrohttpd would frame it. */
static void
refuse(lt_http_server *s, waiting *w)
{
    static const char answer[] = "HTTP/1.1 400 Bad Request\r\n"
                                 "Content-Type: text/plain; charset=utf-8\r\n"
                                 "Content-Length: 12\r\n"
                                 "Connection: close\r\n"
                                 "Cache-Control: no-store\r\n"
                                 "Server: leaktop/" LEAKTOP_VERSION "\r\n"
                                 "\r\n"
                                 "bad request\n";
    ssize_t n = send(w->fd, answer, sizeof answer - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)n; /* a fresh socket's buffer holds it; a client that is gone needs no answer */
    shutdown(w->fd, SHUT_WR);
    w->draining = 1;
    w->deadline = now_ms() + LINGER_MS;
    s->st.answered++;
}

/* Look at what w sent so far. Returns 1 when w left the door (handed on or closed). */
static int
door_look(lt_http_server *s, int i)
{
    waiting *w = &s->door[i];
    if (w->draining) {
        char sink[4096];
        ssize_t n;
        while ((n = recv(w->fd, sink, sizeof sink, MSG_DONTWAIT)) > 0)
            ;
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            door_close(s, i);
            return 1;
        }
        return 0;
    }
    static char head[LT_HTTP_MAX_REQUEST + 1];
    ssize_t n = recv(w->fd, head, sizeof head, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    if (n <= 0) { /* gone before a whole request */
        door_close(s, i);
        return 1;
    }
    w->peeked = (size_t)n;
    w->recheck = now_ms() + RECHECK_MS;
    int verdict = lt_http_gate(head, (size_t)n, LT_HTTP_MAX_TARGET, LT_HTTP_MAX_REQUEST);
    if (verdict == LT_HTTP_GATE_REJECT) {
        refuse(s, w);
        return 0;
    }
    if (verdict == LT_HTTP_GATE_MORE)
        return 0;
    /* A whole head of HTTP/1.x: libmicrohttpd reads it (the bytes were only peeked). */
    int fd = w->fd;
    s->door[i] = s->door[--s->ndoor];
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) {
        close(fd);
        return 1;
    }
    if (MHD_add_connection(s->d, fd, (struct sockaddr *)&ss, sl) != MHD_YES)
        s->st.refused++; /* it closed fd */
    return 1;
}

/* All LT_HTTP_MAX_CLIENTS are taken: make room by closing the connection that has been
 * sending its request the longest (at the door first: every one there is). Returns 0 when
 * every one is being answered. */
static int
evict_one(lt_http_server *s)
{
    int victim = -1;
    for (int i = 0; i < s->ndoor; i++) {
        if (s->door[i].draining) {
            victim = i;
            break;
        }
        if (victim < 0 || s->door[i].deadline < s->door[victim].deadline)
            victim = i;
    }
    if (victim >= 0) {
        door_close(s, victim);
        s->st.evicted++;
        return 1;
    }
    for (client *c = s->first; c != NULL; c = c->next)
        if (!c->evicted && !c->answering) {
            evict(s, c);
            s->st.evicted++;
            return 1;
        }
    return 0;
}

static void
accept_clients(lt_http_server *s)
{
    for (;;) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                s->accept_paused_until = now_ms() + ACCEPT_PAUSE_MS;
            return; /* EAGAIN, or a connection that went away before we took it */
        }
        if ((s->ndoor + s->nclients >= LT_HTTP_MAX_CLIENTS && !evict_one(s)) ||
            s->ndoor >= LT_HTTP_MAX_CLIENTS) {
            s->st.refused++; /* every client is being answered: this one sees the door closed */
            close(fd);
            continue;
        }
        s->door[s->ndoor++] = (waiting){.fd = fd, .deadline = now_ms() + LT_HTTP_TIMEOUT_MS};
    }
}

void
lt_http_server_dispatch(lt_http_server *s, const struct pollfd *pfd)
{
    uint64_t now = now_ms();
    /* The door: what poll() reported, heads due for another look, and deadlines. Entries
     * move when one leaves, so the poll entries are matched by descriptor. */
    for (int i = 0; i < s->npolled; i++) {
        if (pfd[2 + i].fd < 0 || pfd[2 + i].revents == 0)
            continue;
        for (int j = 0; j < s->ndoor; j++)
            if (s->door[j].fd == pfd[2 + i].fd) {
                door_look(s, j);
                break;
            }
    }
    for (int i = 0; i < s->ndoor;) {
        waiting *w = &s->door[i];
        if (now >= w->deadline) {
            if (!w->draining)
                s->st.timed_out++;
            door_close(s, i);
            continue;
        }
        if (!w->draining && w->peeked > 0 && now >= w->recheck && door_look(s, i))
            continue;
        i++;
    }
    s->npolled = 0;
    if (pfd[0].revents & POLLIN)
        accept_clients(s);
    for (client *c = s->first; c != NULL; c = c->next)
        if (!c->evicted && now >= c->deadline) {
            evict(s, c);
            s->st.timed_out++;
        }
    MHD_run(s->d);
}

void
lt_http_server_stats(const lt_http_server *s, lt_http_stats *out)
{
    *out = s->st;
    out->clients = s->nclients + s->ndoor;
}
