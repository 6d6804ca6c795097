/* common/recording.c: the recording file's header and the scan of its frames. */
#define _GNU_SOURCE
#include <string.h>

#include "harness.h"
#include "leaktop/mem.h"
#include "leaktop/proto.h"
#include "leaktop/recording.h"

/* ---- a recording, made with the protocol's own encoders ---------------------------------- */

typedef struct rec {
    lt_buf b;
    size_t off[8]; /* where each frame starts */
    uint16_t type[8];
    int n;
} rec;

static void
rec_start(rec *r)
{
    memset(r, 0, sizeof *r);
    lt_buf_init(&r->b);
    uint8_t h[LT_REC_HEADER];
    lt_rec_header(h);
    lt_buf_put(&r->b, h, sizeof h);
}

static void
rec_mark(rec *r, uint16_t type)
{
    ck_assert_int_lt(r->n, 8);
    r->off[r->n] = r->b.len;
    r->type[r->n] = type;
    r->n++;
}

static void
rec_string(rec *r, uint32_t id, const char *text)
{
    rec_mark(r, LT_FRAME_STRING);
    ck_assert_int_eq(lt_encode_string(&r->b, id, text, strlen(text)), 0);
}

static void
rec_sample(rec *r, uint32_t seq)
{
    lt_type_row rows[2] = {{1, 10u + seq, 560u + seq}, {2, 3, 300}};
    lt_sample s;
    memset(&s, 0, sizeof s);
    s.seq = seq;
    s.wall_ns = 1000u + seq;
    s.mono_ns = 2000u + seq;
    s.rss_bytes = 1u << 20;
    s.types_total = 2;
    s.types_complete = 1;
    s.ntypes = 2;
    s.types = rows;
    rec_mark(r, LT_FRAME_SAMPLE);
    ck_assert_int_eq(lt_encode_sample(&r->b, &s, 0, 0), 0);
}

/* Frame header bytes by hand (for frames the encoders would never write). */
static void
rec_raw(rec *r, uint32_t len, uint16_t type, const void *payload, size_t plen)
{
    rec_mark(r, type);
    uint8_t h[LT_FRAME_HEADER] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16),
                                  (uint8_t)(len >> 24), (uint8_t)type, (uint8_t)(type >> 8),
                                  0, 0};
    lt_buf_put(&r->b, h, sizeof h);
    if (plen)
        lt_buf_put(&r->b, payload, plen);
}

/* What on_frame saw. */
typedef struct seen {
    int n;
    size_t off[16];
    uint16_t type[16];
    uint32_t plen[16];
    int payload_in_data; /* every payload pointed just past its frame's header */
    const uint8_t *data;
} seen;

static void
on_frame(void *ctx, size_t off, uint16_t type, uint16_t flags, const uint8_t *payload,
         uint32_t plen)
{
    (void)flags;
    seen *s = ctx;
    ck_assert_int_lt(s->n, 16);
    s->off[s->n] = off;
    s->type[s->n] = type;
    s->plen[s->n] = plen;
    if (payload != s->data + off + LT_FRAME_HEADER)
        s->payload_in_data = 0;
    s->n++;
}

static size_t
scan(const rec *r, size_t len, seen *s, char **cause)
{
    memset(s, 0, sizeof *s);
    s->payload_in_data = 1;
    s->data = r->b.data;
    return lt_rec_scan(r->b.data, len, on_frame, s, cause);
}

/* A good recording of five frames. */
static void
rec_good(rec *r)
{
    rec_start(r);
    rec_string(r, 1, "app.Session");
    rec_string(r, 2, "dict");
    rec_sample(r, 0);
    rec_sample(r, 1);
    rec_mark(r, LT_FRAME_HISTORY_END);
    ck_assert_int_eq(lt_encode_empty(&r->b, LT_FRAME_HISTORY_END), 0);
    ck_assert_int_eq(r->b.failed, 0);
}

/* ---- header ----------------------------------------------------------------------------- */

START_TEST(test_header_round_trip)
{
    uint8_t h[LT_REC_HEADER + 4];
    memset(h, 0xee, sizeof h);
    lt_rec_header(h);
    ck_assert_int_eq(memcmp(h, "LEAKTOP-REC\n", 12), 0);
    ck_assert_int_eq(h[12], LT_REC_VERSION);
    ck_assert_int_eq(h[13], 0);
    ck_assert_int_eq(h[14], 0);
    ck_assert_int_eq(h[15], 0);
    ck_assert_int_eq(h[16], 0xee); /* nothing past the 16 bytes */
    char *cause = NULL;
    ck_assert_int_eq(lt_rec_check_header(h, LT_REC_HEADER, &cause), 0);
    ck_assert_ptr_null(cause);
    /* A header followed by frames is just as good. */
    ck_assert_int_eq(lt_rec_check_header(h, sizeof h, &cause), 0);
    ck_assert_ptr_null(cause);
}
END_TEST

START_TEST(test_header_bad)
{
    uint64_t base = lt_mem_in_use();
    uint8_t h[LT_REC_HEADER];
    lt_rec_header(h);
    char *cause = NULL;
    /* Too short to hold a header, even when what is there is right. */
    for (size_t len = 0; len < LT_REC_HEADER; len++) {
        ck_assert_int_eq(lt_rec_check_header(h, len, &cause), -1);
        ck_assert_ptr_nonnull(cause);
        ck_assert_ptr_nonnull(strstr(cause, "not a leaktop recording"));
        lt_free(cause);
        cause = NULL;
    }
    /* Any byte of the magic wrong. */
    for (size_t i = 0; i < LT_REC_MAGIC_LEN; i++) {
        uint8_t bad[LT_REC_HEADER];
        memcpy(bad, h, sizeof bad);
        bad[i] ^= 0x20;
        ck_assert_int_eq(lt_rec_check_header(bad, sizeof bad, &cause), -1);
        ck_assert_ptr_nonnull(strstr(cause, "not a leaktop recording"));
        lt_free(cause);
        cause = NULL;
    }
    /* Something else entirely: a JSON report, say. */
    const char *json = "{\"pid\": 4242, \"suspects\": []}";
    ck_assert_int_eq(lt_rec_check_header((const uint8_t *)json, strlen(json), &cause), -1);
    ck_assert_ptr_nonnull(strstr(cause, "not a leaktop recording"));
    lt_free(cause);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_header_newer_version)
{
    uint64_t base = lt_mem_in_use();
    uint8_t h[LT_REC_HEADER];
    lt_rec_header(h);
    char *cause = NULL;
    /* Version 1 (one process) is still read; version 2 (a tree of processes) is written. */
    ck_assert_int_eq(LT_REC_VERSION, 2);
    h[12] = 1;
    ck_assert_int_eq(lt_rec_check_header(h, sizeof h, &cause), 0);
    ck_assert_ptr_null(cause);
    h[12] = LT_REC_VERSION + 1;
    ck_assert_int_eq(lt_rec_check_header(h, sizeof h, &cause), -1);
    ck_assert_ptr_nonnull(cause);
    ck_assert_ptr_nonnull(strstr(cause, "newer"));
    ck_assert_ptr_nonnull(strstr(cause, "version 3"));
    lt_free(cause);
    cause = NULL;
    /* The version is a little-endian u32: a high byte makes it huge (1 << 24 + 2), not ignored. */
    lt_rec_header(h);
    h[15] = 1;
    ck_assert_int_eq(lt_rec_check_header(h, sizeof h, &cause), -1);
    ck_assert_ptr_nonnull(strstr(cause, "16777218"));
    lt_free(cause);
    cause = NULL;
    /* Version 0 never existed. */
    lt_rec_header(h);
    h[12] = 0;
    ck_assert_int_eq(lt_rec_check_header(h, sizeof h, &cause), -1);
    ck_assert_ptr_nonnull(cause);
    lt_free(cause);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

/* ---- scan ------------------------------------------------------------------------------- */

START_TEST(test_scan_whole_file)
{
    uint64_t base = lt_mem_in_use();
    rec r;
    rec_good(&r);
    seen s;
    char *cause = (char *)"not reset";
    ck_assert_uint_eq(scan(&r, r.b.len, &s, &cause), r.b.len);
    ck_assert_ptr_null(cause);
    ck_assert_int_eq(s.n, 5);
    for (int i = 0; i < 5; i++) {
        ck_assert_uint_eq(s.off[i], r.off[i]);
        ck_assert_uint_eq(s.type[i], r.type[i]);
        size_t end = i + 1 < 5 ? r.off[i + 1] : r.b.len;
        ck_assert_uint_eq(s.plen[i], end - r.off[i] - LT_FRAME_HEADER);
    }
    ck_assert_int_eq(s.payload_in_data, 1);
    ck_assert_uint_eq(s.off[0], LT_REC_HEADER);
    /* Without a callback the answer is the same. */
    ck_assert_uint_eq(lt_rec_scan(r.b.data, r.b.len, NULL, NULL, &cause), r.b.len);
    ck_assert_ptr_null(cause);
    /* A header alone: nothing to scan, nothing wrong. */
    ck_assert_uint_eq(scan(&r, LT_REC_HEADER, &s, &cause), LT_REC_HEADER);
    ck_assert_ptr_null(cause);
    ck_assert_int_eq(s.n, 0);
    lt_buf_free(&r.b);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

/* Frames of types this leaktop does not know are whole frames: passed on, not an error (a
 * newer agent may send them). */
START_TEST(test_scan_unknown_type_passes)
{
    rec r;
    rec_start(&r);
    rec_string(&r, 1, "x");
    const uint8_t junk[5] = {1, 2, 3, 4, 5};
    rec_raw(&r, sizeof junk, 999, junk, sizeof junk);
    rec_sample(&r, 0);
    seen s;
    char *cause = NULL;
    ck_assert_uint_eq(scan(&r, r.b.len, &s, &cause), r.b.len);
    ck_assert_ptr_null(cause);
    ck_assert_int_eq(s.n, 3);
    ck_assert_uint_eq(s.type[1], 999);
    ck_assert_uint_eq(s.plen[1], 5);
    lt_buf_free(&r.b);
}
END_TEST

/* Cut anywhere inside a frame: the scan stops at that frame's start, names its byte offset,
 * and has passed on every whole frame before it. */
START_TEST(test_scan_truncated)
{
    uint64_t base = lt_mem_in_use();
    rec r;
    rec_good(&r);
    for (size_t len = LT_REC_HEADER + 1; len < r.b.len; len++) {
        int k = 0; /* the frame the cut falls in */
        while (k + 1 < r.n && r.off[k + 1] <= len)
            k++;
        if (r.off[k] == len)
            continue; /* a cut between frames is a shorter, good recording */
        seen s;
        char *cause = NULL;
        size_t usable = scan(&r, len, &s, &cause);
        ck_assert_uint_eq(usable, r.off[k]);
        ck_assert_int_eq(s.n, k);
        ck_assert_msg(cause != NULL, "no cause for a cut at %zu", len);
        char at[64];
        snprintf(at, sizeof at, "truncated at byte %zu", r.off[k]);
        ck_assert_msg(strstr(cause, at) != NULL, "cut at %zu: %s", len, cause);
        if (len - r.off[k] < LT_FRAME_HEADER) {
            ck_assert_msg(strstr(cause, "half a frame header") != NULL, "%s", cause);
        } else {
            ck_assert_msg(strstr(cause, lt_frame_name(r.type[k])) != NULL, "%s", cause);
            ck_assert_msg(strstr(cause, "cut short") != NULL, "%s", cause);
        }
        lt_free(cause);
    }
    /* Cuts between frames. */
    for (int k = 1; k < r.n; k++) {
        seen s;
        char *cause = NULL;
        ck_assert_uint_eq(scan(&r, r.off[k], &s, &cause), r.off[k]);
        ck_assert_ptr_null(cause);
        ck_assert_int_eq(s.n, k);
    }
    lt_buf_free(&r.b);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

/* A length past LT_FRAME_MAX is corruption, not a frame to wait for: the scan stops there
 * without reading (or trusting) the length. */
START_TEST(test_scan_oversized_length)
{
    rec r;
    rec_start(&r);
    rec_string(&r, 1, "app.Session");
    rec_raw(&r, LT_FRAME_MAX + 1, LT_FRAME_SAMPLE, NULL, 0);
    rec_sample(&r, 0); /* never reached */
    seen s;
    char *cause = NULL;
    ck_assert_uint_eq(scan(&r, r.b.len, &s, &cause), r.off[1]);
    ck_assert_int_eq(s.n, 1);
    ck_assert_ptr_nonnull(cause);
    char want[96];
    snprintf(want, sizeof want, "corrupted at byte %zu (a frame of %u bytes)", r.off[1],
             LT_FRAME_MAX + 1);
    ck_assert_msg(strstr(cause, want) != NULL, "%s", cause);
    lt_free(cause);
    /* LT_FRAME_MAX itself is allowed: a file that ends before it is truncated instead. */
    lt_buf_free(&r.b);
    rec_start(&r);
    rec_raw(&r, LT_FRAME_MAX, 999, NULL, 0);
    ck_assert_uint_eq(scan(&r, r.b.len, &s, &cause), LT_REC_HEADER);
    ck_assert_ptr_nonnull(strstr(cause, "truncated at byte 16"));
    lt_free(cause);
    /* 0xffffffff: no overflow in the length arithmetic. */
    lt_buf_free(&r.b);
    rec_start(&r);
    rec_raw(&r, 0xffffffffu, LT_FRAME_STRING, NULL, 0);
    ck_assert_uint_eq(scan(&r, r.b.len, &s, &cause), LT_REC_HEADER);
    ck_assert_ptr_nonnull(strstr(cause, "corrupted at byte 16"));
    lt_free(cause);
    lt_buf_free(&r.b);
}
END_TEST

/* A whole frame whose payload does not decode (a SAMPLE too short for its fields, a STRING
 * whose length runs past its payload). */
START_TEST(test_scan_malformed_payload)
{
    uint64_t base = lt_mem_in_use();
    rec r;
    rec_start(&r);
    rec_string(&r, 1, "ok");
    const uint8_t short_sample[6] = {0};
    rec_raw(&r, sizeof short_sample, LT_FRAME_SAMPLE, short_sample, sizeof short_sample);
    rec_string(&r, 2, "never reached");
    seen s;
    char *cause = NULL;
    ck_assert_uint_eq(scan(&r, r.b.len, &s, &cause), r.off[1]);
    ck_assert_int_eq(s.n, 1);
    char want[96];
    snprintf(want, sizeof want, "corrupted at byte %zu (a malformed sample frame)", r.off[1]);
    ck_assert_msg(cause != NULL && strstr(cause, want) != NULL, "%s", cause ? cause : "NULL");
    lt_free(cause);
    lt_buf_free(&r.b);

    rec_start(&r);
    /* id 7, then a string of 100 bytes of which 3 are there. */
    const uint8_t bad_string[] = {7, 0, 0, 0, 100, 0, 0, 0, 'a', 'b', 'c'};
    rec_raw(&r, sizeof bad_string, LT_FRAME_STRING, bad_string, sizeof bad_string);
    ck_assert_uint_eq(scan(&r, r.b.len, &s, &cause), LT_REC_HEADER);
    ck_assert_int_eq(s.n, 0);
    ck_assert_ptr_nonnull(strstr(cause, "corrupted at byte 16 (a malformed string frame)"));
    lt_free(cause);
    lt_buf_free(&r.b);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

static Suite *
recording_suite(void)
{
    Suite *s = suite_create("recording");
    TCase *tc = lt_test_tcase(s, "header");
    tcase_add_test(tc, test_header_round_trip);
    tcase_add_test(tc, test_header_bad);
    tcase_add_test(tc, test_header_newer_version);
    tc = lt_test_tcase(s, "scan");
    tcase_add_test(tc, test_scan_whole_file);
    tcase_add_test(tc, test_scan_unknown_type_passes);
    tcase_add_test(tc, test_scan_truncated);
    tcase_add_test(tc, test_scan_oversized_length);
    tcase_add_test(tc, test_scan_malformed_payload);
    return s;
}

int
main(void)
{
    return lt_test_run(recording_suite());
}
