/*
 * A tiny HTTP/1.1 server for `leaktop metrics`, driven by the caller's poll() loop: one listening
 * TCP socket and a bounded set of non-blocking clients, each answered once and closed
 * (Connection: close). GET and HEAD only; a bad or oversized request gets 400, other methods
 * 405. Every client has a deadline, so a slow or silent one never holds the server up; when all
 * LT_HTTP_MAX_CLIENTS are taken, the one that has been sending its request the longest makes
 * room for a newcomer.
 */
#ifndef LEAKTOP_HTTP_SERVE_H
#define LEAKTOP_HTTP_SERVE_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "leaktop/proto.h"

#define LT_HTTP_MAX_CLIENTS 64
#define LT_HTTP_MAX_REQUEST 8192     /* bytes of request line and headers */
#define LT_HTTP_MAX_TARGET 1024
#define LT_HTTP_TIMEOUT_MS 10000     /* to receive a request, and again to send the answer */
#define LT_HTTP_LINGER_MS 2000       /* reading what a client still sends after the answer */

typedef struct lt_http_request {
    char method[16];
    char path[LT_HTTP_MAX_TARGET]; /* the target without its query string */
    int head;                      /* HEAD: the answer has no body */
    char accept[512];              /* the Accept header, cut to fit; "" when absent */
} lt_http_request;

typedef struct lt_http_response {
    int status;
    const char *content_type; /* static text */
    lt_buf body;
} lt_http_response;

/* Fill res for req (status 0 means 500). res->body starts empty. */
typedef void (*lt_http_handler)(void *ctx, const lt_http_request *req, lt_http_response *res);

/* Parse a request head of len bytes. Returns 1 when buf holds a complete, valid head (req
 * filled), 0 when more bytes are needed, -1 when it is malformed or exceeds
 * LT_HTTP_MAX_REQUEST (answer 400). */
int lt_http_parse_request(const char *buf, size_t len, lt_http_request *req);

/* The reason phrase of a status code. */
const char *lt_http_reason(int status);

/* Parse HOST:PORT ("127.0.0.1:9464", "[::1]:9464", "localhost:9464", or a bare PORT meaning
 * 127.0.0.1), bind and listen, non-blocking. *bound gets the address actually bound (with the
 * port the kernel chose for 0), *loopback whether it is a loopback address. Returns the fd, or
 * -1 with *cause. */
int lt_http_listen(const char *spec, char *bound, size_t boundlen, int *loopback, char **cause);

typedef struct lt_http_client lt_http_client;

typedef struct lt_http_server {
    int fd;
    lt_http_client *clients[LT_HTTP_MAX_CLIENTS];
    int nclients;
    int npolled; /* clients in the last lt_http_server_pollfds */
    lt_http_handler handler;
    void *ctx;
    uint64_t answered, refused, timed_out;
    uint64_t accept_paused_until; /* out of descriptors: not accepting until then (ms) */
} lt_http_server;

/* Serve on the listening fd (owned from now on). */
void lt_http_server_init(lt_http_server *s, int fd, lt_http_handler h, void *ctx);
void lt_http_server_close(lt_http_server *s);
/* Poll entries for the listener and every client into pfd (room for 1 + LT_HTTP_MAX_CLIENTS).
 * Returns how many. */
int lt_http_server_pollfds(lt_http_server *s, struct pollfd *pfd);
/* Act on what poll() reported in the entries lt_http_server_pollfds made: read, answer, write,
 * accept, close, and expire clients past their deadline. */
void lt_http_server_dispatch(lt_http_server *s, const struct pollfd *pfd);
/* Milliseconds until the nearest client deadline, -1 when no client waits. */
int lt_http_server_timeout_ms(const lt_http_server *s);

#endif
