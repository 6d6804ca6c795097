/* Connecting to an agent and reading its stream. */
#include "conn.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "leaktop/mem.h"
#include "leaktop/sockpath.h"

static int
send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int
say_hello(lt_conn *c, const char *client, char **cause);

int
lt_conn_open(lt_conn *c, pid_t pid, const char *client, int *kind, char **cause)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->pid = pid;
    lt_framer_init(&c->in);
    c->fd = lt_sock_connect(pid, kind, cause);
    if (c->fd < 0)
        return -1;
    return say_hello(c, client, cause);
}

int
lt_conn_open_path(lt_conn *c, const char *path, const char *client, int *kind, char **cause)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    lt_framer_init(&c->in);
    c->fd = lt_sock_connect_path(path, kind, cause);
    if (c->fd < 0)
        return -1;
    return say_hello(c, client, cause);
}

static int
say_hello(lt_conn *c, const char *client, char **cause)
{
    lt_buf b;
    lt_buf_init(&b);
    lt_client_hello h = {.major = LT_PROTO_MAJOR, .minor = LT_PROTO_MINOR, .client = client};
    int rc = lt_encode_client_hello(&b, &h) == 0 ? send_all(c->fd, b.data, b.len) : -1;
    lt_buf_free(&b);
    if (rc < 0) {
        *cause = c->pid ? lt_asprintf("the agent of pid %ld closed the connection at once",
                                      (long)c->pid)
                        : lt_asprintf("the socket closed the connection at once");
        lt_conn_close(c);
        return -1;
    }
    return 0;
}

void
lt_conn_close(lt_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    lt_framer_free(&c->in);
    lt_msg_clear(&c->msg);
    lt_free(c->reply_message);
    c->reply_message = NULL;
}

int
lt_conn_command(lt_conn *c, uint16_t code, uint32_t arg, char **cause)
{
    lt_buf b;
    lt_buf_init(&b);
    int rc = lt_encode_command(&b, code, arg) == 0 ? send_all(c->fd, b.data, b.len) : -1;
    lt_buf_free(&b);
    if (rc < 0)
        *cause = lt_asprintf("cannot send to the agent of pid %ld: %s", (long)c->pid,
                             strerror(errno));
    return rc;
}

static int
apply_frames(lt_conn *c, lt_model *m, char **cause)
{
    uint16_t type, flags;
    const uint8_t *p;
    uint32_t len;
    int rc;
    while ((rc = lt_framer_next(&c->in, &type, &flags, &p, &len)) == 1) {
        if (c->tap)
            c->tap(c->tap_ctx, p - LT_FRAME_HEADER, (size_t)len + LT_FRAME_HEADER);
        int d = lt_decode(&c->msg, type, flags, p, len);
        if (d == 1)
            continue; /* a frame type from a newer agent: skip it */
        if (d < 0) {
            *cause = lt_asprintf("malformed %s frame (%u bytes) from pid %ld: not a leaktop "
                                 "agent, or a corrupted stream",
                                 lt_frame_name(type), len, (long)c->pid);
            return -1;
        }
        if (type == LT_FRAME_REPLY) {
            c->have_reply = 1;
            c->reply_code = c->msg.u.reply.code;
            c->reply_status = c->msg.u.reply.status;
            c->reply_value = c->msg.u.reply.value;
            lt_free(c->reply_message);
            c->reply_message = lt_strdup(c->msg.u.reply.message);
        }
        if (lt_model_apply(m, &c->msg, cause) < 0)
            return -1;
        if (type == LT_FRAME_HELLO && c->pid == 0)
            c->pid = (pid_t)c->msg.u.hello.pid; /* opened by path: now we know whose it is */
    }
    if (rc < 0) {
        *cause = lt_asprintf(c->in.error == LT_FRAMER_TOO_BIG
                                 ? "pid %ld sent a frame larger than the protocol allows: not a "
                                   "leaktop agent, or a corrupted stream"
                                 : "out of memory reading from pid %ld",
                             (long)c->pid);
        return -1;
    }
    return 0;
}

int
lt_conn_pump(lt_conn *c, lt_model *m, int timeout_ms, char **cause)
{
    if (c->eof)
        return 2;
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int r = poll(&pfd, 1, timeout_ms);
    if (r < 0 && errno == EINTR)
        return 0;
    if (r <= 0)
        return 0;
    int got = 0;
    for (;;) {
        uint8_t buf[65536];
        ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            c->eof = 1;
            break;
        }
        got = 1;
        if (lt_framer_feed(&c->in, buf, (size_t)n) < 0 || apply_frames(c, m, cause) < 0) {
            if (*cause == NULL)
                *cause = lt_asprintf("out of memory reading from pid %ld", (long)c->pid);
            return -1;
        }
    }
    if (c->eof) {
        if (lt_framer_pending(&c->in) > 0 && m->bye == 0) {
            /* Half a frame and then nothing: the agent died mid-write. Not an error of ours. */
        }
        return 2;
    }
    return got ? 1 : 0;
}
