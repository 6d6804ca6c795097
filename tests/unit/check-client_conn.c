/* agent/client_conn.c: a viewer's queue, non-blocking writes, dropping and cutting off. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/client_conn.h"
#include "harness.h"
#include "leaktop/mem.h"

/* c wraps sv[0]; the test reads sv[1] as the viewer would. */
static void
make_pair(lt_client *c, int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(lt_client_init(c, sv[0], getuid()), 0);
    ck_assert_int_eq(c->dead, 0);
    ck_assert_uint_eq(lt_client_pending(c), 0);
}

/* Read whatever is there without blocking; returns bytes read. */
static size_t
drain(int fd, uint8_t *out, size_t cap)
{
    size_t got = 0;
    while (got < cap) {
        ssize_t n = recv(fd, out + got, cap - got, MSG_DONTWAIT);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

START_TEST(test_queue_flush_delivers)
{
    uint64_t base = lt_mem_in_use();
    lt_client c;
    int sv[2];
    make_pair(&c, sv);
    static const char msg[] = "frame one|frame two";
    ck_assert_int_eq(lt_client_queue(&c, (const uint8_t *)msg, 10, 0), 1);
    ck_assert_int_eq(lt_client_queue(&c, (const uint8_t *)msg + 10, sizeof msg - 10, 1), 1);
    ck_assert_uint_eq(lt_client_pending(&c), sizeof msg);
    ck_assert_int_eq(lt_client_flush(&c), 0);
    ck_assert_uint_eq(lt_client_pending(&c), 0);
    uint8_t buf[64];
    ck_assert_uint_eq(drain(sv[1], buf, sizeof buf), sizeof msg);
    ck_assert_mem_eq(buf, msg, sizeof msg);
    /* Flushing an empty queue is fine. */
    ck_assert_int_eq(lt_client_flush(&c), 0);
    lt_client_close(&c);
    ck_assert_int_eq(c.fd, -1);
    ck_assert_int_eq(c.dead, 1);
    ck_assert_int_eq(lt_client_queue(&c, (const uint8_t *)msg, 1, 0), -1);
    close(sv[1]);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

/* Megabytes through a socket that takes a little at a time: every byte arrives once, in order,
 * while the queue compacts what was sent. */
START_TEST(test_stream_in_order)
{
    uint64_t base = lt_mem_in_use();
    lt_client c;
    int sv[2];
    make_pair(&c, sv);
    const size_t total = 3u << 20;
    uint8_t *src = malloc(total), *dst = malloc(total);
    ck_assert_ptr_nonnull(src);
    ck_assert_ptr_nonnull(dst);
    for (size_t i = 0; i < total; i++)
        src[i] = (uint8_t)(i * 7 + i / 251);
    size_t queued = 0, got = 0;
    size_t chunk = 1;
    uint64_t deadline = lt_test_now_ms() + 10000;
    while (got < total) {
        ck_assert_int_gt(lt_test_left_ms(deadline), 0);
        if (queued < total) {
            size_t n = total - queued < chunk ? total - queued : chunk;
            ck_assert_int_eq(lt_client_queue(&c, src + queued, n, 0), 1);
            queued += n;
            chunk = chunk * 3 % 65521 + 1; /* sizes all over the place */
        }
        ck_assert_int_eq(lt_client_flush(&c), 0);
        ck_assert_uint_le(lt_client_pending(&c), LT_CLIENT_HARD_MAX);
        got += drain(sv[1], dst + got, total - got);
    }
    ck_assert_uint_eq(lt_client_pending(&c), 0);
    ck_assert_int_eq(memcmp(src, dst, total), 0);
    /* Once idle, a queue grown by a burst gives its memory back. */
    ck_assert_uint_le(c.out.cap, 64u << 10);
    free(src);
    free(dst);
    lt_client_close(&c);
    close(sv[1]);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_drop_past_soft_max)
{
    lt_client c;
    int sv[2];
    make_pair(&c, sv);
    const size_t mb = 1u << 20;
    uint8_t *block = calloc(1, mb);
    ck_assert_ptr_nonnull(block);
    /* The viewer never reads: fill up to exactly the soft limit with frames it must get. */
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(lt_client_queue(&c, block, mb, 0), 1);
    ck_assert_uint_eq(lt_client_pending(&c), LT_CLIENT_SOFT_MAX);
    /* A live sample now is dropped and counted. */
    ck_assert_int_eq(lt_client_queue(&c, block, 100, 1), 0);
    ck_assert_int_eq(lt_client_queue(&c, block, 1, 1), 0);
    ck_assert_uint_eq(c.dropped, 2);
    ck_assert_int_eq(c.dead, 0);
    ck_assert_uint_eq(lt_client_pending(&c), LT_CLIENT_SOFT_MAX);
    /* A frame that must not be missed is still queued. */
    ck_assert_int_eq(lt_client_queue(&c, block, 100, 0), 1);
    ck_assert_uint_eq(lt_client_pending(&c), LT_CLIENT_SOFT_MAX + 100);
    ck_assert_uint_eq(c.dropped, 2);

    /* Flushing into a socket nobody reads moves some bytes and never blocks. */
    uint64_t t0 = lt_test_now_ms();
    ck_assert_int_eq(lt_client_flush(&c), 0);
    ck_assert_uint_lt(lt_test_now_ms() - t0, 2000);
    size_t after_flush = lt_client_pending(&c);
    ck_assert_uint_lt(after_flush, LT_CLIENT_SOFT_MAX + 100);
    ck_assert_uint_gt(after_flush, 0);
    free(block);
    lt_client_close(&c);
    close(sv[1]);
}
END_TEST

START_TEST(test_dead_past_hard_max)
{
    lt_client c;
    int sv[2];
    make_pair(&c, sv);
    const size_t mb = 1u << 20;
    uint8_t *block = calloc(1, mb);
    ck_assert_ptr_nonnull(block);
    for (int i = 0; i < 16; i++)
        ck_assert_int_eq(lt_client_queue(&c, block, mb, 0), 1);
    ck_assert_uint_eq(lt_client_pending(&c), LT_CLIENT_HARD_MAX);
    ck_assert_int_eq(c.dead, 0);
    ck_assert_int_eq(lt_client_queue(&c, block, 1, 0), -1);
    ck_assert_int_eq(c.dead, 1);
    /* Dead is final. */
    ck_assert_int_eq(lt_client_queue(&c, block, 1, 0), -1);
    ck_assert_int_eq(lt_client_queue(&c, block, 1, 1), -1);
    ck_assert_int_eq(lt_client_flush(&c), -1);
    free(block);
    lt_client_close(&c);
    close(sv[1]);
}
END_TEST

/* A viewer that went away: the write fails (no SIGPIPE), the client is dead. */
START_TEST(test_peer_closed)
{
    lt_client c;
    int sv[2];
    make_pair(&c, sv);
    close(sv[1]);
    ck_assert_int_eq(lt_client_queue(&c, (const uint8_t *)"x", 1, 0), 1);
    ck_assert_int_eq(lt_client_flush(&c), -1);
    ck_assert_int_eq(c.dead, 1);
    lt_client_close(&c);
}
END_TEST

START_TEST(test_queue_out_of_memory)
{
    lt_client c;
    int sv[2];
    make_pair(&c, sv);
    lt_mem_fail_after(1);
    ck_assert_int_eq(lt_client_queue(&c, (const uint8_t *)"x", 1, 0), -1);
    lt_mem_fail_after(0);
    ck_assert_int_eq(c.dead, 1);
    lt_client_close(&c);
    close(sv[1]);
}
END_TEST

static Suite *
client_suite(void)
{
    Suite *s = suite_create("client_conn");
    TCase *tc = lt_test_tcase(s, "client_conn");
    tcase_add_test(tc, test_queue_flush_delivers);
    tcase_add_test(tc, test_stream_in_order);
    tcase_add_test(tc, test_drop_past_soft_max);
    tcase_add_test(tc, test_dead_past_hard_max);
    tcase_add_test(tc, test_peer_closed);
    tcase_add_test(tc, test_queue_out_of_memory);
    return s;
}

int
main(void)
{
    return lt_test_run(client_suite());
}
