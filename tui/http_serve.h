/*
 * The HTTP server of `leaktop metrics`, on GNU libmicrohttpd, driven by the caller's poll()
 * loop (libmicrohttpd's epoll mode, without threads: the handler runs on the caller's thread).
 * Every answer closes its connection (Connection: close). GET and HEAD only (405 otherwise).
 * A connection is handed to libmicrohttpd once its whole head is in and starts with an
 * HTTP/1.x request line (http_gate.h: the bytes are peeked at, not consumed); anything else,
 * a request target of LT_HTTP_MAX_TARGET bytes or more, or a head over LT_HTTP_MAX_REQUEST,
 * gets 400 at once; libmicrohttpd judges the header fields. Ours is what is left: the
 * listening address, that first look, admission and the basic-authentication check.
 *
 * Admission: at most LT_HTTP_MAX_CLIENTS connections; when all are taken, the one that has been
 * sending its request the longest is closed to make room for a newcomer, and any connection
 * that has not sent a whole request within LT_HTTP_TIMEOUT_MS is closed, so that slow or
 * silent clients never lock scrapes out.
 */
#ifndef LEAKTOP_HTTP_SERVE_H
#define LEAKTOP_HTTP_SERVE_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "http_auth.h"
#include "leaktop/proto.h"

#define LT_HTTP_MAX_CLIENTS 64
#define LT_HTTP_MAX_REQUEST 8192     /* bytes of request line and headers */
#define LT_HTTP_MAX_TARGET 1024
#define LT_HTTP_TIMEOUT_MS 10000     /* to receive a request, and again to send the answer */

typedef struct lt_http_request {
    char method[16];
    char path[LT_HTTP_MAX_TARGET]; /* the target without its query string */
    int head;                      /* HEAD: the answer has no body */
    char accept[512];              /* the Accept headers, joined by ',' and cut to fit; "" */
} lt_http_request;

typedef struct lt_http_response {
    int status;
    const char *content_type; /* static text */
    lt_buf body;
} lt_http_response;

/* Fill res for req (status 0 means 500). res->body starts empty. */
typedef void (*lt_http_handler)(void *ctx, const lt_http_request *req, lt_http_response *res);

/* The reason phrase of a status code. */
const char *lt_http_reason(int status);

/* Parse HOST:PORT ("127.0.0.1:9464", "[::1]:9464", "localhost:9464", or a bare PORT meaning
 * 127.0.0.1), or unix:PATH (a Unix socket made 0600 in a directory that must not be writable
 * by others, for a local scraper), bind and listen, non-blocking. *bound gets the address
 * actually bound (with the port the kernel chose for 0), *loopback whether only this host can
 * reach it (loopback, or a Unix socket). Returns the fd, or -1 with *cause. */
int lt_http_listen(const char *spec, char *bound, size_t boundlen, int *loopback, char **cause);

typedef struct lt_http_server lt_http_server;

/* Serve on the listening fd (owned from now on; closed on failure too). With user non-NULL,
 * every request needs basic authentication with user and password (copied). Returns the
 * server, or NULL with *cause. */
lt_http_server *lt_http_server_new(int fd, lt_http_handler h, void *ctx, const char *user,
                                   const char *password, char **cause);
void lt_http_server_free(lt_http_server *s);
/* Poll entries into pfd (room for LT_HTTP_POLLFDS). Returns how many. */
#define LT_HTTP_POLLFDS (2 + LT_HTTP_MAX_CLIENTS)
int lt_http_server_pollfds(lt_http_server *s, struct pollfd *pfd);
/* Act on what poll() reported in the entries lt_http_server_pollfds made: accept, read,
 * answer, write, close, and expire clients past their deadline. */
void lt_http_server_dispatch(lt_http_server *s, const struct pollfd *pfd);
/* Milliseconds until the server needs dispatching without any event, -1 for never. */
int lt_http_server_timeout_ms(lt_http_server *s);

/* Counters, for tests and the log. */
typedef struct lt_http_stats {
    uint64_t answered, evicted, refused, timed_out, unauthorized;
    int clients;
} lt_http_stats;
void lt_http_server_stats(const lt_http_server *s, lt_http_stats *out);

#endif
