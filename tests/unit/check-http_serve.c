/* tui/http_serve.c: request parsing, the listen address, and a served round trip. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "leaktop/mem.h"
#include "tui/http_serve.h"

static int
parse(const char *text, lt_http_request *req)
{
    return lt_http_parse_request(text, strlen(text), req);
}

START_TEST(test_parse_good)
{
    lt_http_request r;
    ck_assert_int_eq(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &r), 1);
    ck_assert_str_eq(r.method, "GET");
    ck_assert_str_eq(r.path, "/metrics");
    ck_assert_int_eq(r.head, 0);
    ck_assert_str_eq(r.accept, "");
    /* Query strings are not part of the path; bare LF line ends are accepted. */
    ck_assert_int_eq(parse("HEAD /metrics?x=1&y=2 HTTP/1.0\n\n", &r), 1);
    ck_assert_str_eq(r.path, "/metrics");
    ck_assert_int_eq(r.head, 1);
    ck_assert_int_eq(parse("GET /#frag HTTP/1.1\r\n\r\n", &r), 1);
    ck_assert_str_eq(r.path, "/");
    /* Accept is kept (repeated ones joined), whatever its case and spacing. */
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\naccept:   text/plain  \r\nACCEPT: a/b\r\n"
                           "User-Agent: Prometheus/2.42.0\r\n\r\n",
                           &r),
                     1);
    ck_assert_str_eq(r.accept, "text/plain,a/b");
    /* Other methods parse; the server answers them 405. */
    ck_assert_int_eq(parse("POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", &r), 1);
    ck_assert_str_eq(r.method, "POST");
}
END_TEST

START_TEST(test_parse_incomplete)
{
    lt_http_request r;
    ck_assert_int_eq(parse("", &r), 0);
    ck_assert_int_eq(parse("GET /metrics HTTP/1.1\r\n", &r), 0);
    ck_assert_int_eq(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r", &r), 0);
}
END_TEST

START_TEST(test_parse_bad)
{
    lt_http_request r;
    const char *bad[] = {
        "\r\n\r\n",
        "GET\r\n\r\n",
        "GET /metrics\r\n\r\n",
        "GET metrics HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/2.0\r\n\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "GET /metrics HTTP/1.1 extra\r\n\r\n",
        "GET  /metrics HTTP/1.1\r\n\r\n",
        "G(T /metrics HTTP/1.1\r\n\r\n",
        "GET /met rics HTTP/1.1\r\n\r\n",
        "GET /m\x7f HTTP/1.1\r\n\r\n",
        "GET /m\xc3\xa9 HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
        "GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nX: a\x01b\r\n\r\n",
        "AVERYLONGMETHODNAME / HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(parse(bad[i], &r) == -1, "accepted: %s", bad[i]);
    /* A NUL anywhere. */
    const char nul[] = "GET /metrics HTTP/1.1\r\nX: a\0b\r\n\r\n";
    ck_assert_int_eq(lt_http_parse_request(nul, sizeof nul - 1, &r), -1);
    /* A target longer than LT_HTTP_MAX_TARGET. */
    char *big = malloc(LT_HTTP_MAX_REQUEST + 64);
    int n = snprintf(big, 64, "GET /");
    memset(big + n, 'a', LT_HTTP_MAX_TARGET);
    strcpy(big + n + LT_HTTP_MAX_TARGET, " HTTP/1.1\r\n\r\n");
    ck_assert_int_eq(parse(big, &r), -1);
    /* A head that never ends within LT_HTTP_MAX_REQUEST bytes. */
    n = snprintf(big, 64, "GET / HTTP/1.1\r\nX: ");
    memset(big + n, 'a', LT_HTTP_MAX_REQUEST - (size_t)n);
    ck_assert_int_eq(lt_http_parse_request(big, LT_HTTP_MAX_REQUEST, &r), -1);
    ck_assert_int_eq(lt_http_parse_request(big, LT_HTTP_MAX_REQUEST - 1, &r), 0);
    free(big);
}
END_TEST

START_TEST(test_listen_specs)
{
    char bound[128], *cause = NULL;
    int loop = -1;
    int fd = lt_http_listen("127.0.0.1:0", bound, sizeof bound, &loop, &cause);
    ck_assert_msg(fd >= 0, "%s", cause ? cause : "?");
    ck_assert_int_eq(loop, 1);
    ck_assert(strncmp(bound, "127.0.0.1:", 10) == 0 && atoi(bound + 10) > 0);
    ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    /* The same port again: in use. */
    char again[140];
    snprintf(again, sizeof again, "%s", bound);
    int fd2 = lt_http_listen(again, bound, sizeof bound, &loop, &cause);
    ck_assert_int_eq(fd2, -1);
    ck_assert_ptr_nonnull(strstr(cause, "in use"));
    lt_free(cause);
    cause = NULL;
    close(fd);

    fd = lt_http_listen("0", bound, sizeof bound, &loop, &cause); /* a bare port: loopback */
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(loop, 1);
    ck_assert(strncmp(bound, "127.0.0.1:", 10) == 0);
    close(fd);
    fd = lt_http_listen("0.0.0.0:0", bound, sizeof bound, &loop, &cause);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(loop, 0);
    close(fd);
    fd = lt_http_listen("[::1]:0", bound, sizeof bound, &loop, &cause);
    if (fd >= 0) { /* where IPv6 exists */
        ck_assert(strncmp(bound, "[::1]:", 6) == 0);
        ck_assert_int_eq(loop, 1);
        close(fd);
    } else {
        lt_free(cause);
        cause = NULL;
    }
    const char *bad[] = {"", ":9464", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
                         "127.0.0.1:12x", "::1:9464", "[::1]9464", "[::1", "host:-1",
                         "127.0.0.1:123456"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fd = lt_http_listen(bad[i], bound, sizeof bound, &loop, &cause);
        ck_assert_msg(fd == -1 && cause != NULL, "accepted '%s'", bad[i]);
        lt_free(cause);
        cause = NULL;
    }
}
END_TEST

/* ---- a served round trip ---------------------------------------------------------------- */

static int handled;

static void
handler(void *ctx, const lt_http_request *req, lt_http_response *res)
{
    (void)ctx;
    handled++;
    res->status = strcmp(req->path, "/") == 0 ? 200 : 404;
    res->content_type = "text/plain";
    lt_buf_put(&res->body, "hello\n", 6);
}

static int
connect_to(const char *bound)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)atoi(strchr(bound, ':') + 1))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* Run the server until fd has the whole answer (EOF), or the deadline. */
static size_t
serve_until_answered(lt_http_server *s, int fd, char *out, size_t cap)
{
    size_t len = 0;
    uint64_t deadline = lt_test_now_ms() + 5000;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    while (lt_test_left_ms(deadline) > 0) {
        struct pollfd pfd[1 + LT_HTTP_MAX_CLIENTS];
        int n = lt_http_server_pollfds(s, pfd);
        ck_assert_int_ge(poll(pfd, (nfds_t)n, 20), 0);
        lt_http_server_dispatch(s, pfd);
        ssize_t r = recv(fd, out + len, cap - 1 - len, 0);
        if (r == 0)
            break;
        if (r > 0)
            len += (size_t)r;
    }
    out[len] = '\0';
    return len;
}

START_TEST(test_serve)
{
    uint64_t base = lt_mem_in_use();
    char bound[128], *cause = NULL;
    int loop;
    int lfd = lt_http_listen("127.0.0.1:0", bound, sizeof bound, &loop, &cause);
    ck_assert_int_ge(lfd, 0);
    lt_http_server s;
    lt_http_server_init(&s, lfd, handler, NULL);
    ck_assert_int_eq(lt_http_server_timeout_ms(&s), -1);

    /* A silent client first: it must not stop the others from being answered. */
    int silent = connect_to(bound);
    char out[4096];

    int fd = connect_to(bound);
    const char *req = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    ck_assert_int_eq(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    serve_until_answered(&s, fd, out, sizeof out);
    ck_assert_msg(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "\r\nContent-Length: 6\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "\r\nConnection: close\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "\r\n\r\nhello\n"));
    close(fd);

    fd = connect_to(bound);
    req = "HEAD /nope HTTP/1.1\r\n\r\n";
    send(fd, req, strlen(req), 0);
    serve_until_answered(&s, fd, out, sizeof out);
    ck_assert(strncmp(out, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
    ck_assert_ptr_nonnull(strstr(out, "\r\nContent-Length: 6\r\n"));
    ck_assert_ptr_null(strstr(out, "hello")); /* HEAD: no body */
    close(fd);

    fd = connect_to(bound);
    req = "DELETE / HTTP/1.1\r\n\r\n";
    send(fd, req, strlen(req), 0);
    serve_until_answered(&s, fd, out, sizeof out);
    ck_assert(strncmp(out, "HTTP/1.1 405 ", 13) == 0);
    ck_assert_ptr_nonnull(strstr(out, "\r\nAllow: GET, HEAD\r\n"));
    close(fd);

    /* Garbage, and a head too big: 400, and the handler never sees them. */
    int before = handled;
    fd = connect_to(bound);
    static const char tls[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"; /* a TLS hello */
    send(fd, tls, sizeof tls - 1, 0);
    serve_until_answered(&s, fd, out, sizeof out);
    ck_assert(strncmp(out, "HTTP/1.1 400 Bad Request\r\n", 26) == 0);
    close(fd);
    fd = connect_to(bound);
    char *big = malloc(3 * LT_HTTP_MAX_REQUEST);
    memset(big, 'a', 3 * LT_HTTP_MAX_REQUEST);
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    size_t sent = 0;
    size_t got = 0;
    uint64_t deadline = lt_test_now_ms() + 5000;
    while (lt_test_left_ms(deadline) > 0) {
        ssize_t w = send(fd, big + sent, 3 * LT_HTTP_MAX_REQUEST - sent, MSG_NOSIGNAL);
        if (w > 0)
            sent += (size_t)w;
        struct pollfd pfd[1 + LT_HTTP_MAX_CLIENTS];
        int n = lt_http_server_pollfds(&s, pfd);
        poll(pfd, (nfds_t)n, 20);
        lt_http_server_dispatch(&s, pfd);
        ssize_t r = recv(fd, out + got, sizeof out - 1 - got, 0);
        if (r == 0)
            break;
        if (r > 0)
            got += (size_t)r;
    }
    out[got] = '\0';
    ck_assert_msg(strncmp(out, "HTTP/1.1 400 Bad Request\r\n", 26) == 0, "%s", out);
    free(big);
    close(fd);
    ck_assert_int_eq(handled, before);

    /* Closed clients go; the silent one is still held, with a deadline. */
    deadline = lt_test_now_ms() + 3000;
    while (s.nclients > 1 && lt_test_left_ms(deadline) > 0) {
        struct pollfd pfd[1 + LT_HTTP_MAX_CLIENTS];
        int n = lt_http_server_pollfds(&s, pfd);
        poll(pfd, (nfds_t)n, 20);
        lt_http_server_dispatch(&s, pfd);
    }
    ck_assert_int_eq(s.nclients, 1);
    int left = lt_http_server_timeout_ms(&s);
    ck_assert(left > 0 && left <= LT_HTTP_TIMEOUT_MS);
    close(silent);
    lt_http_server_close(&s);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("http_serve");
    TCase *tc = lt_test_tcase(s, "core");
    tcase_add_test(tc, test_parse_good);
    tcase_add_test(tc, test_parse_incomplete);
    tcase_add_test(tc, test_parse_bad);
    tcase_add_test(tc, test_listen_specs);
    tcase_add_test(tc, test_serve);
    return lt_test_run(s);
}
