/*
 * A viewer's connection to one agent: connect (with the socket checks of the contracts), say
 * hello, then read frames into a model. Raw frames can be tapped as received (for record).
 * Errors are returned as -1 with *cause (lt_free it).
 */
#ifndef LEAKTOP_CONN_H
#define LEAKTOP_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "leaktop/proto.h"
#include "model.h"

typedef void (*lt_conn_tap)(void *ctx, const uint8_t *frame, size_t len);

typedef struct lt_conn {
    int fd;
    pid_t pid;
    lt_framer in;
    lt_msg msg;
    lt_conn_tap tap;
    void *tap_ctx;
    int eof;
    /* The last REPLY: code, status, value, message (owned). */
    int have_reply;
    uint16_t reply_code;
    int32_t reply_status;
    int64_t reply_value;
    char *reply_message;
} lt_conn;

/* Connect to the agent of pid and send CLIENT_HELLO as `client`. Returns 0, or -1 with *cause;
 * *kind gets LT_SOCK_E* (see sockpath.h) so callers can tell "no agent" from "not yours". */
int lt_conn_open(lt_conn *c, pid_t pid, const char *client, int *kind, char **cause);
/* The same on a socket path (a forwarded agent socket); c->pid is 0 until the agent's HELLO,
 * then lt_conn_pump sets it from the hello. */
int lt_conn_open_path(lt_conn *c, const char *path, const char *client, int *kind, char **cause);
void lt_conn_close(lt_conn *c);

/* Wait up to timeout_ms for data, then apply every complete frame to m. Returns 1 when frames
 * were read, 0 on timeout, 2 when the agent closed the connection (c->eof), -1 with *cause on a
 * protocol error (garbage, a frame over LT_FRAME_MAX, a version mismatch). */
int lt_conn_pump(lt_conn *c, lt_model *m, int timeout_ms, char **cause);

/* Send a command. The reply arrives later through lt_conn_pump (c->have_reply). Returns 0, or -1
 * with *cause when the socket is gone. */
int lt_conn_command(lt_conn *c, uint16_t code, uint32_t arg, char **cause);

#endif
