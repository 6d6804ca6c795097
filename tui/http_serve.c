/* The tiny HTTP server of `leaktop metrics`. */
#define _GNU_SOURCE
#include "http_serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "leaktop/mem.h"
#include "leaktop/sockpath.h"
#include "leaktop/version.h"

#define ACCEPT_PAUSE_MS 100 /* out of file descriptors: stop accepting for a moment */

enum { C_READ, C_WRITE, C_LINGER, C_DONE };

struct lt_http_client {
    int fd;
    int state;
    uint64_t deadline;
    size_t len;
    char buf[LT_HTTP_MAX_REQUEST];
    lt_buf out;
    size_t off;
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
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
    }
}

/* ---- parsing ----------------------------------------------------------------------------- */

static int
is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Offset just past the blank line that ends the head, or 0 when there is none yet. */
static size_t
head_end(const char *buf, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (buf[i + 1] == '\n')
            return i + 2;
        if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

int
lt_http_parse_request(const char *buf, size_t len, lt_http_request *req)
{
    memset(req, 0, sizeof *req);
    if (memchr(buf, '\0', len) != NULL)
        return -1;
    size_t end = head_end(buf, len);
    if (end == 0)
        return len >= LT_HTTP_MAX_REQUEST ? -1 : 0;
    if (end > LT_HTTP_MAX_REQUEST)
        return -1;

    /* Request line: METHOD SP TARGET SP HTTP/1.x */
    const char *line = buf, *nl = memchr(buf, '\n', end);
    size_t llen = (size_t)(nl - line);
    if (llen > 0 && line[llen - 1] == '\r')
        llen--;
    const char *sp1 = memchr(line, ' ', llen);
    if (sp1 == NULL || sp1 == line || (size_t)(sp1 - line) >= sizeof req->method)
        return -1;
    for (const char *p = line; p < sp1; p++)
        if (!is_tchar((unsigned char)*p))
            return -1;
    memcpy(req->method, line, (size_t)(sp1 - line));
    const char *target = sp1 + 1, *lend = line + llen;
    const char *sp2 = memchr(target, ' ', (size_t)(lend - target));
    if (sp2 == NULL || sp2 == target || (size_t)(sp2 - target) >= sizeof req->path ||
        *target != '/')
        return -1;
    size_t plen = 0;
    int in_query = 0;
    for (const char *p = target; p < sp2; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7f)
            return -1;
        if (c == '?' || c == '#')
            in_query = 1;
        if (!in_query)
            req->path[plen++] = (char)c;
    }
    req->path[plen] = '\0';
    const char *version = sp2 + 1;
    size_t vlen = (size_t)(lend - version);
    if (vlen != 8 || (memcmp(version, "HTTP/1.1", 8) != 0 && memcmp(version, "HTTP/1.0", 8) != 0))
        return -1;
    req->head = strcmp(req->method, "HEAD") == 0;

    /* Header fields: name ":" OWS value OWS, no folding. */
    const char *p = nl + 1, *hend = buf + end;
    for (;;) {
        const char *e = memchr(p, '\n', (size_t)(hend - p));
        size_t n = (size_t)(e - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n == 0)
            break; /* the blank line */
        if (p[0] == ' ' || p[0] == '\t')
            return -1;
        const char *colon = memchr(p, ':', n);
        if (colon == NULL || colon == p)
            return -1;
        for (const char *q = p; q < colon; q++)
            if (!is_tchar((unsigned char)*q))
                return -1;
        const char *v = colon + 1, *vend = p + n;
        for (const char *q = v; q < vend; q++)
            if ((unsigned char)*q < 0x20 && *q != '\t')
                return -1;
        while (v < vend && (*v == ' ' || *v == '\t'))
            v++;
        while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        if (colon - p == 6 && strncasecmp(p, "accept", 6) == 0) {
            size_t have = strlen(req->accept);
            size_t room = sizeof req->accept - 1 - have;
            if (have > 0 && room > 0) {
                req->accept[have++] = ',';
                room--;
            }
            size_t take = (size_t)(vend - v) < room ? (size_t)(vend - v) : room;
            memcpy(req->accept + have, v, take);
            req->accept[have + take] = '\0';
        }
        p = e + 1;
    }
    return 1;
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

void
lt_http_server_init(lt_http_server *s, int fd, lt_http_handler h, void *ctx)
{
    memset(s, 0, sizeof *s);
    s->fd = fd;
    s->handler = h;
    s->ctx = ctx;
}

static void
client_free(lt_http_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    lt_buf_free(&c->out);
    lt_free(c);
}

void
lt_http_server_close(lt_http_server *s)
{
    for (int i = 0; i < s->nclients; i++)
        client_free(s->clients[i]);
    s->nclients = 0;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

int
lt_http_server_pollfds(lt_http_server *s, struct pollfd *pfd)
{
    short listen_events = now_ms() >= s->accept_paused_until ? POLLIN : 0;
    pfd[0] = (struct pollfd){.fd = s->fd, .events = listen_events};
    for (int i = 0; i < s->nclients; i++) {
        const lt_http_client *c = s->clients[i];
        pfd[1 + i] = (struct pollfd){.fd = c->fd, .events = c->state == C_WRITE ? POLLOUT : POLLIN};
    }
    s->npolled = s->nclients;
    return 1 + s->nclients;
}

int
lt_http_server_timeout_ms(const lt_http_server *s)
{
    uint64_t now = now_ms();
    int64_t best = -1;
    for (int i = 0; i < s->nclients; i++) {
        int64_t left = s->clients[i]->deadline > now ? (int64_t)(s->clients[i]->deadline - now) : 0;
        if (best < 0 || left < best)
            best = left;
    }
    if (s->accept_paused_until > now) {
        int64_t left = (int64_t)(s->accept_paused_until - now);
        if (best < 0 || left < best)
            best = left;
    }
    return (int)best;
}

/* Queue the answer to req (or a 400 when req is NULL). */
static void
answer(lt_http_server *s, lt_http_client *c, const lt_http_request *req)
{
    lt_http_response res = {.status = 400, .content_type = "text/plain; charset=utf-8"};
    lt_buf_init(&res.body);
    if (req == NULL) {
        const char *t = "bad request\n";
        lt_buf_put(&res.body, t, strlen(t));
    } else if (strcmp(req->method, "GET") != 0 && !req->head) {
        res.status = 405;
        const char *t = "only GET and HEAD are served\n";
        lt_buf_put(&res.body, t, strlen(t));
    } else {
        res.status = 0;
        s->handler(s->ctx, req, &res);
        if (res.status == 0 || res.body.failed) {
            lt_buf_free(&res.body);
            lt_buf_init(&res.body);
            res.status = 500;
            res.content_type = "text/plain; charset=utf-8";
            const char *t = "out of memory\n";
            lt_buf_put(&res.body, t, strlen(t));
        }
    }
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\nCache-Control: no-store\r\n%sServer: leaktop/"
                     LEAKTOP_VERSION "\r\n\r\n",
                     res.status, lt_http_reason(res.status), res.content_type, res.body.len,
                     res.status == 405 ? "Allow: GET, HEAD\r\n" : "");
    lt_buf_init(&c->out);
    lt_buf_put(&c->out, head, (size_t)n < sizeof head ? (size_t)n : sizeof head - 1);
    if (req == NULL || !req->head)
        lt_buf_put(&c->out, res.body.data, res.body.len);
    lt_buf_free(&res.body);
    if (c->out.failed) {
        c->state = C_DONE;
        return;
    }
    c->off = 0;
    c->state = C_WRITE;
    c->deadline = now_ms() + LT_HTTP_TIMEOUT_MS;
    s->answered++;
}

static void
on_readable(lt_http_server *s, lt_http_client *c)
{
    if (c->state == C_LINGER) {
        char sink[4096];
        ssize_t n;
        while ((n = recv(c->fd, sink, sizeof sink, MSG_DONTWAIT)) > 0)
            ;
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            c->state = C_DONE;
        return;
    }
    for (;;) {
        if (c->len >= sizeof c->buf) {
            answer(s, c, NULL); /* the head does not fit: too big */
            return;
        }
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            c->state = C_DONE; /* gone before a whole request */
            return;
        }
        c->len += (size_t)n;
        lt_http_request req;
        int rc = lt_http_parse_request(c->buf, c->len, &req);
        if (rc != 0) {
            answer(s, c, rc > 0 ? &req : NULL);
            return;
        }
    }
}

static void
on_writable(lt_http_client *c)
{
    while (c->off < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->off, c->out.len - c->off,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            c->state = C_DONE;
            return;
        }
        c->off += (size_t)n;
    }
    /* All sent: tell the client, then read what it may still send so that closing does not
     * reset the connection under the answer. */
    shutdown(c->fd, SHUT_WR);
    lt_buf_free(&c->out);
    lt_buf_init(&c->out);
    c->state = C_LINGER;
    c->deadline = now_ms() + LT_HTTP_LINGER_MS;
}

/* All LT_HTTP_MAX_CLIENTS are taken: make room for a newcomer by closing a client that is done
 * (lingering), else the one that has been sending its request the longest, so that idle
 * connections can never lock scrapes out. Returns 0 when every client is being answered. */
static int
evict_one(lt_http_server *s)
{
    int victim = -1;
    for (int i = 0; i < s->nclients; i++) {
        const lt_http_client *c = s->clients[i];
        if (c->state == C_LINGER) {
            victim = i;
            break;
        }
        if (c->state == C_READ && (victim < 0 || c->deadline < s->clients[victim]->deadline))
            victim = i;
    }
    if (victim < 0)
        return 0;
    client_free(s->clients[victim]);
    s->clients[victim] = s->clients[--s->nclients];
    s->refused++;
    return 1;
}

static void
accept_clients(lt_http_server *s)
{
    for (;;) {
        int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                s->accept_paused_until = now_ms() + ACCEPT_PAUSE_MS;
            return; /* EAGAIN, or a connection that went away before we took it */
        }
        lt_http_client *c = NULL;
        if (s->nclients < LT_HTTP_MAX_CLIENTS || evict_one(s))
            c = lt_malloc(sizeof *c);
        if (c == NULL) {
            s->refused++; /* every client is being answered: this one sees the door closed */
            close(fd);
            continue;
        }
        c->fd = fd;
        c->state = C_READ;
        c->len = 0;
        c->off = 0;
        lt_buf_init(&c->out);
        c->deadline = now_ms() + LT_HTTP_TIMEOUT_MS;
        s->clients[s->nclients++] = c;
    }
}

void
lt_http_server_dispatch(lt_http_server *s, const struct pollfd *pfd)
{
    for (int i = 0; i < s->npolled && i < s->nclients; i++) {
        lt_http_client *c = s->clients[i];
        short re = pfd[1 + i].revents;
        if (re == 0)
            continue;
        if (c->state == C_WRITE) {
            if (re & (POLLOUT | POLLERR | POLLHUP))
                on_writable(c);
        } else if (re & (POLLIN | POLLERR | POLLHUP)) {
            on_readable(s, c);
            if (c->state == C_WRITE)
                on_writable(c); /* most answers fit the socket buffer at once */
        }
    }
    uint64_t now = now_ms();
    int kept = 0;
    for (int i = 0; i < s->nclients; i++) {
        lt_http_client *c = s->clients[i];
        if (c->state != C_DONE && now >= c->deadline) {
            if (c->state != C_LINGER)
                s->timed_out++;
            c->state = C_DONE;
        }
        if (c->state == C_DONE)
            client_free(c);
        else
            s->clients[kept++] = c;
    }
    s->nclients = kept;
    s->npolled = 0;
    if (pfd[0].revents & POLLIN)
        accept_clients(s);
}
