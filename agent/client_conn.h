/*
 * One connected viewer, as the agent sees it: its socket, the frames queued for it, and the
 * bytes it sent us. Writes never block the agent: a viewer that does not read has its live
 * samples dropped (and counted) past LT_CLIENT_SOFT_MAX queued bytes, and is disconnected when
 * even the frames it must not miss (strings, replies) pass LT_CLIENT_HARD_MAX.
 */
#ifndef LEAKTOP_CLIENT_CONN_H
#define LEAKTOP_CLIENT_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "leaktop/proto.h"

#define LT_CLIENT_SOFT_MAX (4u << 20)
#define LT_CLIENT_HARD_MAX (16u << 20)
#define LT_CLIENT_IN_MAX 4096u /* the largest frame a client may send */
#define LT_CLIENT_HELLO_MS 2000u /* a connection that has not said hello by then is dropped */

typedef struct lt_client {
    int fd;
    uid_t uid;
    lt_buf out;     /* queued bytes; out.data[sent..len) not yet written */
    size_t sent;
    lt_framer in;
    int said_hello; /* a valid CLIENT_HELLO arrived */
    char name[64];  /* what it called itself in CLIENT_HELLO */
    uint64_t accepted_ns; /* CLOCK_MONOTONIC at accept */
    uint64_t dropped, dropped_reported;
    int dead;       /* to be closed by the owner */
} lt_client;

/* Take ownership of a connected fd. Returns 0, or -1 when out of memory (fd not taken). */
int lt_client_init(lt_client *c, int fd, uid_t uid);
/* Close the fd and free the queues. */
void lt_client_close(lt_client *c);
/* Queue one or more complete frames. droppable: a live sample that may be skipped when the
 * client is behind. Returns 1 queued, 0 dropped (counted), -1 the client is now dead. */
int lt_client_queue(lt_client *c, const uint8_t *frames, size_t len, int droppable);
/* Write as much as the socket takes without blocking. Returns 0, or -1 when the client is dead. */
int lt_client_flush(lt_client *c);
/* Bytes waiting to be written. */
size_t lt_client_pending(const lt_client *c);

#endif
