/* tui/http_serve.c: credentials, the listen address, and served round trips (libmicrohttpd). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "leaktop/mem.h"
#include "tui/http_gate.h"
#include "tui/http_serve.h"

static int
gate(const char *text)
{
    return lt_http_gate(text, strlen(text), LT_HTTP_MAX_TARGET, LT_HTTP_MAX_REQUEST);
}

START_TEST(test_gate)
{
    ck_assert_int_eq(gate("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), LT_HTTP_GATE_PASS);
    ck_assert_int_eq(gate("HEAD / HTTP/1.0\n\n"), LT_HTTP_GATE_PASS);
    ck_assert_int_eq(gate("POST /x?y=1 HTTP/1.1\r\n\r\nbody"), LT_HTTP_GATE_PASS);
    /* On its way. */
    static const char *const more[] = {"", "G", "GET", "GET ", "GET /metr",
                                       "GET /metrics HTTP/1.1\r", "GET / HTTP/1.1\r\nHost: x",
                                       "GET / HTTP/1.1\r\n\r"};
    for (size_t i = 0; i < sizeof more / sizeof *more; i++)
        ck_assert_msg(gate(more[i]) == LT_HTTP_GATE_MORE, "'%s'", more[i]);
    /* Not HTTP/1.x, or not a request line we serve. */
    static const char *const bad[] = {"\x16\x03\x01\x00\xa5", "GET\r\n\r\n", "GET  / HTTP/1.1\r\n\r\n",
                                      "GET /metrics HTTP/9.9\r\n\r\n", "GET metrics HTTP/1.1\r\n\r\n",
                                      "GET / HTTP/1.1 x\r\n\r\n", "GET /\x01 HTTP/1.1\r\n\r\n",
                                      "G(T / HTTP/1.1\r\n\r\n", "AVERYLONGMETHODNAME / HTTP/1.1",
                                      "GET /\x7f", "GET /x\ry"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(gate(bad[i]) == LT_HTTP_GATE_REJECT, "'%s'", bad[i]);
    ck_assert_int_eq(lt_http_gate("GET / HTTP/1.1\r\nX: \0\r\n\r\n", 24, 1024, 8192),
                     LT_HTTP_GATE_REJECT);
    /* A target of LT_HTTP_MAX_TARGET bytes, or a head that does not end in time. */
    static char big[2 * LT_HTTP_MAX_REQUEST];
    memset(big, 'a', 2 * LT_HTTP_MAX_REQUEST);
    memcpy(big, "GET /", 5);
    big[5 + LT_HTTP_MAX_TARGET + 40] = 0;
    ck_assert_int_eq(gate(big), LT_HTTP_GATE_REJECT); /* no line end yet, already too long */
    memcpy(big + 4 + LT_HTTP_MAX_TARGET - 1, " HTTP/1.1\r\n\r\n", 14);
    ck_assert_int_eq(gate(big), LT_HTTP_GATE_PASS); /* target of MAX_TARGET - 1 bytes */
    memset(big, 'a', 2 * LT_HTTP_MAX_REQUEST);
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    ck_assert_int_eq(lt_http_gate(big, LT_HTTP_MAX_REQUEST - 1, LT_HTTP_MAX_TARGET,
                                  LT_HTTP_MAX_REQUEST), LT_HTTP_GATE_MORE);
    ck_assert_int_eq(lt_http_gate(big, 2 * LT_HTTP_MAX_REQUEST, LT_HTTP_MAX_TARGET,
                                  LT_HTTP_MAX_REQUEST), LT_HTTP_GATE_REJECT);
}
END_TEST

START_TEST(test_credentials)
{
    char *u = NULL, *pw = NULL, *cause = NULL;
    ck_assert_int_eq(lt_http_parse_credentials("prom:s3cr:et\n", 13, &u, &pw, &cause), 0);
    ck_assert_str_eq(u, "prom");
    ck_assert_str_eq(pw, "s3cr:et"); /* the first colon splits */
    lt_free(u);
    lt_free(pw);
    ck_assert_int_eq(lt_http_parse_credentials("a:b\r\n", 5, &u, &pw, &cause), 0);
    ck_assert_str_eq(pw, "b");
    lt_free(u);
    lt_free(pw);
    static const char *const bad[] = {"", "\n", "nocolon", ":pw", "user:", "a:b\nc:d",
                                      "a:b\x01", "a:\tb"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cause = NULL;
        ck_assert_msg(lt_http_parse_credentials(bad[i], strlen(bad[i]), &u, &pw, &cause) == -1,
                      "accepted '%s'", bad[i]);
        ck_assert_ptr_null(u);
        ck_assert_ptr_nonnull(cause);
        lt_free(cause);
    }
    char longer[LT_HTTP_MAX_CREDENTIALS + 2];
    memset(longer, 'a', sizeof longer);
    longer[1] = ':';
    cause = NULL;
    ck_assert_int_eq(lt_http_parse_credentials(longer, sizeof longer, &u, &pw, &cause), -1);
    lt_free(cause);

    ck_assert(lt_http_same_secret("abc", "abc"));
    ck_assert(!lt_http_same_secret("abc", "abd"));
    ck_assert(!lt_http_same_secret("abc", "abcd"));
    ck_assert(!lt_http_same_secret("", "a"));
    ck_assert(lt_http_same_secret("", ""));

    /* The file: ours, 0600, regular. */
    char dir[] = "/tmp/check-http-XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/auth", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "prom:pw\n", 8), 8);
    close(fd);
    cause = NULL;
    ck_assert_int_eq(lt_http_read_credentials(path, &u, &pw, &cause), -1);
    ck_assert_ptr_nonnull(strstr(cause, "chmod 600"));
    lt_free(cause);
    ck_assert_int_eq(chmod(path, 0600), 0);
    ck_assert_int_eq(lt_http_read_credentials(path, &u, &pw, &cause), 0);
    ck_assert_str_eq(u, "prom");
    ck_assert_str_eq(pw, "pw");
    lt_free(u);
    lt_free(pw);
    cause = NULL;
    ck_assert_int_eq(lt_http_read_credentials(dir, &u, &pw, &cause), -1); /* a directory */
    lt_free(cause);
    cause = NULL;
    char missing[80];
    snprintf(missing, sizeof missing, "%s/none", dir);
    ck_assert_int_eq(lt_http_read_credentials(missing, &u, &pw, &cause), -1);
    lt_free(cause);
    unlink(path);
    rmdir(dir);
}
END_TEST

START_TEST(test_listen_unix)
{
    char dir[] = "/tmp/check-http-XXXXXX", path[64], bound[128], *cause = NULL;
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "unix:%s/m.sock", dir);
    int loop = 0;
    int fd = lt_http_listen(path, bound, sizeof bound, &loop, &cause);
    ck_assert_int_ge(fd, 0);
    ck_assert_str_eq(bound, path);
    ck_assert_int_eq(loop, 1);
    struct stat st;
    ck_assert_int_eq(stat(path + 5, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    /* In use while it listens; replaced once it is dead. */
    ck_assert_int_eq(lt_http_listen(path, bound, sizeof bound, &loop, &cause), -1);
    ck_assert_ptr_nonnull(strstr(cause, "in use"));
    lt_free(cause);
    close(fd);
    fd = lt_http_listen(path, bound, sizeof bound, &loop, &cause);
    ck_assert_int_ge(fd, 0);
    close(fd);
    unlink(path + 5);
    /* Relative, or in a directory anyone may write to. */
    cause = NULL;
    ck_assert_int_eq(lt_http_listen("unix:rel.sock", bound, sizeof bound, &loop, &cause), -1);
    lt_free(cause);
    ck_assert_int_eq(chmod(dir, 0777), 0);
    cause = NULL;
    ck_assert_int_eq(lt_http_listen(path, bound, sizeof bound, &loop, &cause), -1);
    ck_assert_ptr_nonnull(strstr(cause, "writable by others"));
    lt_free(cause);
    rmdir(dir);
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
        struct pollfd pfd[LT_HTTP_POLLFDS];
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
    lt_http_server *sv = lt_http_server_new(lfd, handler, NULL, NULL, NULL, &cause);
    ck_assert_ptr_nonnull(sv);
    lt_http_server *const s = sv;

    /* A silent client first: it must not stop the others from being answered. */
    int silent = connect_to(bound);
    char out[4096];

    int fd = connect_to(bound);
    const char *req = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    ck_assert_int_eq(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    serve_until_answered(s, fd, out, sizeof out);
    ck_assert_msg(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "\r\nContent-Length: 6\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "\r\nConnection: close\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "\r\n\r\nhello\n"));
    close(fd);

    fd = connect_to(bound);
    req = "HEAD /nope HTTP/1.1\r\nHost: t\r\n\r\n";
    send(fd, req, strlen(req), 0);
    serve_until_answered(s, fd, out, sizeof out);
    ck_assert(strncmp(out, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
    ck_assert_ptr_nonnull(strstr(out, "\r\nContent-Length: 6\r\n"));
    ck_assert_ptr_null(strstr(out, "hello")); /* HEAD: no body */
    close(fd);

    fd = connect_to(bound);
    req = "DELETE / HTTP/1.1\r\nHost: t\r\n\r\n";
    send(fd, req, strlen(req), 0);
    serve_until_answered(s, fd, out, sizeof out);
    ck_assert(strncmp(out, "HTTP/1.1 405 ", 13) == 0);
    ck_assert_ptr_nonnull(strstr(out, "\r\nAllow: GET, HEAD\r\n"));
    close(fd);

    /* Garbage, and a head too big: 400, and the handler never sees them. */
    int before = handled;
    fd = connect_to(bound);
    static const char tls[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"; /* a TLS hello */
    send(fd, tls, sizeof tls - 1, 0);
    serve_until_answered(s, fd, out, sizeof out);
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
        struct pollfd pfd[LT_HTTP_POLLFDS];
        int n = lt_http_server_pollfds(s, pfd);
        poll(pfd, (nfds_t)n, 20);
        lt_http_server_dispatch(s, pfd);
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
    lt_http_stats st;
    deadline = lt_test_now_ms() + 3000;
    do {
        struct pollfd pfd[LT_HTTP_POLLFDS];
        int n = lt_http_server_pollfds(s, pfd);
        poll(pfd, (nfds_t)n, 20);
        lt_http_server_dispatch(s, pfd);
        lt_http_server_stats(s, &st);
    } while (st.clients > 1 && lt_test_left_ms(deadline) > 0);
    ck_assert_int_eq(st.clients, 1);
    int left = lt_http_server_timeout_ms(s);
    ck_assert(left > 0 && left <= LT_HTTP_TIMEOUT_MS);
    close(silent);
    lt_http_server_free(sv);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("http_serve");
    TCase *tc = lt_test_tcase(s, "core");
    tcase_add_test(tc, test_gate);
    tcase_add_test(tc, test_credentials);
    tcase_add_test(tc, test_listen_unix);
    tcase_add_test(tc, test_listen_specs);
    tcase_add_test(tc, test_serve);
    return lt_test_run(s);
}
