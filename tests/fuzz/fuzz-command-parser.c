/*
 * The agent's side of a connection under a hostile viewer: what it sends (CLIENT_HELLO,
 * COMMANDs, garbage) goes through lt_framer and lt_decode with the agent's rules, a frame at
 * most LT_CLIENT_IN_MAX bytes and no more than one such frame pending.
 *
 * read_client() and handle_frame() are static in agent/agent_core.c and want a live socket and
 * a whole lt_agent, so their logic is repeated here step for step: keep the two in step. Beyond
 * crashes and leaks, this checks that the agent's input buffer stays bounded whatever arrives
 * (a viewer must not make the agent hold more than a couple of frames) and that the replies it
 * would queue decode back to what was meant.
 *
 * Input:
 *     byte 0, 1  sizes of the reads, used alternately: 1..255, or 0 for a full 4096-byte recv
 *     byte 2     0, or n: the n-th counted allocation fails (lt_mem_fail_after), as it may in
 *                the host process; the agent must drop the viewer, not crash or leak
 *     rest       the bytes the viewer sends
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_conn.h"
#include "fuzz-common.h"
#include "leaktop/mem.h"

#define FUZZER_MAXLEN (1u << 20)
#define RECV_MAX 4096u /* read_client's buffer */

/* What lt_buf grows to for at most LT_CLIENT_IN_MAX + LT_FRAME_HEADER pending bytes plus one
 * recv: the framer drops consumed bytes before it grows. */
#define FRAMER_CAP_BOUND 16384u

typedef struct viewer {
    lt_framer in;
    int oom; /* an allocation will fail */
    char name[64]; /* lt_client.name: what it called itself in CLIENT_HELLO */
    uint32_t nmarkers;
    int said_hello;
    int dead;
    int stopping;
    uint64_t replies;
} viewer;

/* The reply the agent queues: encode it, and check it decodes to what was meant. */
static void
reply(viewer *c, uint16_t code, int32_t status, int64_t value, const char *message)
{
    lt_buf b;
    lt_buf_init(&b);
    lt_reply r = {.code = code, .status = status, .value = value, .message = message};
    if (lt_encode_reply(&b, &r) < 0) { /* the agent then queues nothing */
        FUZZ_CHECK(c->oom);
        lt_buf_free(&b);
        return;
    }
    FUZZ_CHECK(b.len >= LT_FRAME_HEADER);
    lt_msg m;
    memset(&m, 0, sizeof m);
    int rc = lt_decode(&m, LT_FRAME_REPLY, 0, b.data + LT_FRAME_HEADER,
                       (uint32_t)(b.len - LT_FRAME_HEADER));
    FUZZ_CHECK(rc == 0 || (rc == -1 && c->oom));
    if (rc == 0) {
        FUZZ_CHECK(m.u.reply.code == code && m.u.reply.status == status);
        FUZZ_CHECK(m.u.reply.value == value && strcmp(m.u.reply.message, message) == 0);
    }
    lt_msg_clear(&m);
    lt_buf_free(&b);
    c->replies++;
}

/* A frame the agent broadcasts: check it decodes to what was meant, as reply() does. */
static void
marker(viewer *c)
{
    c->nmarkers++;
    char label[128];
    snprintf(label, sizeof label, "marker %u from %s", c->nmarkers,
             c->name[0] ? c->name : "a viewer");
    lt_marker_msg mk = {.id = c->nmarkers, .seq = 0, .wall_ns = 0, .label = label};
    lt_buf b;
    lt_buf_init(&b);
    if (lt_encode_marker(&b, &mk) == 0) {
        lt_msg m;
        memset(&m, 0, sizeof m);
        int rc = lt_decode(&m, LT_FRAME_MARKER, 0, b.data + LT_FRAME_HEADER,
                           (uint32_t)(b.len - LT_FRAME_HEADER));
        FUZZ_CHECK(rc == 0 || (rc == -1 && c->oom));
        if (rc == 0)
            FUZZ_CHECK(m.u.marker.id == mk.id && strcmp(m.u.marker.label, label) == 0);
        lt_msg_clear(&m);
    } else {
        FUZZ_CHECK(c->oom);
    }
    lt_buf_free(&b);
}

/* agent_core.c handle_frame(): only fixed commands exist; anything else ends the connection.
 * This agent has no Python behind it: no string table, no sampled tracebacks. */
static void
handle_frame(viewer *c, uint16_t type, uint16_t flags, const uint8_t *p, uint32_t len)
{
    lt_msg m;
    memset(&m, 0, sizeof m);
    uint8_t *exact = fuzz_exact_copy(p, len); /* so ASan sees reads past the frame */
    int rc = lt_decode(&m, type, flags, exact, len);
    free(exact);
    FUZZ_CHECK(rc >= -1 && rc <= 1);
    if (rc == 0)
        fuzz_check_msg(&m);
    if (!c->said_hello) {
        if (rc != 0 || type != LT_FRAME_CLIENT_HELLO ||
            m.u.client_hello.major != LT_PROTO_MAJOR)
            c->dead = 1;
        else {
            c->said_hello = 1;
            snprintf(c->name, sizeof c->name, "%s", m.u.client_hello.client);
        }
    } else if (rc == 1) {
        /* An unknown frame from a newer client: skip it. */
    } else if (rc != 0 || type != LT_FRAME_COMMAND) {
        c->dead = 1;
    } else {
        uint16_t code = m.u.command.code;
        if (code == LT_CMD_PING) {
            reply(c, code, 0, 0, "pong");
        } else if (code == LT_CMD_STOP) {
            reply(c, code, 0, 0, "stopping");
            c->stopping = 1;
        } else if (code == LT_CMD_GET_TRACE) {
            reply(c, code, -1, 0, "no such traceback (unknown id, or evicted)");
        } else if (code == LT_CMD_MARKER) {
            marker(c);
            reply(c, code, 0, (int64_t)c->nmarkers, "marker dropped");
        } else if (code == LT_CMD_WHY_ALIVE) {
            reply(c, code, -1, 0, "unknown type name id");
        } else if (code == LT_CMD_GC_COLLECT) {
            /* What the Python side's command hook answers. */
            char msg[256];
            snprintf(msg, sizeof msg, "collected %u objects", (unsigned)m.u.command.arg);
            reply(c, code, 0, (int64_t)m.u.command.arg, msg);
        } else {
            reply(c, code, -1, 0, "unknown command");
        }
    }
    lt_msg_clear(&m);
}

/* agent_core.c read_client(), given what one recv() returned. */
static void
read_client(viewer *c, const uint8_t *buf, size_t n)
{
    if (lt_framer_feed(&c->in, buf, n) < 0) {
        c->dead = 1;
        return;
    }
    uint16_t type, flags;
    const uint8_t *p;
    uint32_t len;
    int rc = 0;
    while (!c->dead && (rc = lt_framer_next(&c->in, &type, &flags, &p, &len)) == 1) {
        if (len > LT_CLIENT_IN_MAX) {
            c->dead = 1;
            break;
        }
        handle_frame(c, type, flags, p, len);
    }
    if (rc < 0 || lt_framer_pending(&c->in) > LT_CLIENT_IN_MAX + LT_FRAME_HEADER)
        c->dead = 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3 || size > FUZZER_MAXLEN)
        return 0;
    uint64_t mem_before = lt_mem_in_use();

    size_t piece[2] = {data[0] ? data[0] : RECV_MAX, data[1] ? data[1] : RECV_MAX};
    viewer c;
    memset(&c, 0, sizeof c);
    c.oom = data[2] != 0;
    lt_mem_fail_after(data[2]);
    data += 3;
    size -= 3;

    lt_framer_init(&c.in);
    size_t off = 0;
    for (unsigned i = 0; off < size && !c.dead; i++) {
        size_t n = piece[i & 1];
        if (n > size - off)
            n = size - off;
        read_client(&c, data + off, n);
        off += n;
        /* A live connection holds at most one partial frame, and bounded memory. */
        if (!c.dead) {
            FUZZ_CHECK(lt_framer_pending(&c.in) <= LT_CLIENT_IN_MAX + LT_FRAME_HEADER);
            FUZZ_CHECK(c.in.in.cap <= FRAMER_CAP_BOUND);
        }
    }
    FUZZ_CHECK(c.replies == 0 || c.said_hello);
    lt_framer_free(&c.in);
    lt_mem_fail_after(0); /* the countdown may not have run out */

    FUZZ_CHECK(lt_mem_in_use() == mem_before);
    return 0;
}

size_t
LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    return fuzz_mutate_frames(data, size, max_size, seed, 3);
}
