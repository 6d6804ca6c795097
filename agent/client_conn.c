/* A viewer's queue and non-blocking writes. */
#include "client_conn.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int
lt_client_init(lt_client *c, int fd, uid_t uid)
{
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->uid = uid;
    lt_buf_init(&c->out);
    lt_framer_init(&c->in);
    return 0;
}

void
lt_client_close(lt_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    lt_buf_free(&c->out);
    lt_framer_free(&c->in);
    c->fd = -1;
    c->dead = 1;
}

size_t
lt_client_pending(const lt_client *c)
{
    return c->out.len - c->sent;
}

/* Drop what was written so the buffer does not grow with everything ever sent. */
static void
compact(lt_client *c)
{
    if (c->sent == 0)
        return;
    memmove(c->out.data, c->out.data + c->sent, c->out.len - c->sent);
    c->out.len -= c->sent;
    c->sent = 0;
}

int
lt_client_queue(lt_client *c, const uint8_t *frames, size_t len, int droppable)
{
    if (c->dead)
        return -1;
    size_t pending = lt_client_pending(c);
    if (droppable && pending + len > LT_CLIENT_SOFT_MAX) {
        c->dropped++;
        return 0;
    }
    if (pending + len > LT_CLIENT_HARD_MAX) {
        c->dead = 1;
        return -1;
    }
    if (c->sent > c->out.len / 2)
        compact(c);
    lt_buf_put(&c->out, frames, len);
    if (c->out.failed) {
        c->dead = 1;
        return -1;
    }
    return 1;
}

int
lt_client_flush(lt_client *c)
{
    while (!c->dead && c->sent < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->sent, c->out.len - c->sent,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            c->dead = 1;
        }
    }
    if (c->sent == c->out.len) {
        c->sent = 0;
        c->out.len = 0;
        /* A burst (history on connect) may have grown the buffer: give it back when idle. */
        if (c->out.cap > (64u << 10))
            lt_buf_free(&c->out);
    }
    return c->dead ? -1 : 0;
}
