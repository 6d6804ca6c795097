/* common/proto.c: encoders, framer and decoder of the wire protocol. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "leaktop/mem.h"
#include "leaktop/proto.h"

/* ---- fixtures --------------------------------------------------------------------------- */

static const char *const fixture_argv[] = {"python3", "-m", "app.main", "--name=caf\xc3\xa9", ""};
static const char *const fixture_lib[] = {"/usr/lib/python3.11", "/usr/lib/python3/dist-packages"};

static lt_hello
fixture_hello(void)
{
    lt_hello h = {
        .major = LT_PROTO_MAJOR,
        .minor = LT_PROTO_MINOR,
        .pid = 4242,
        .interval_ms = 250,
        .start_wall_ns = 0x0123456789abcdefull,
        .history_capacity = 2400,
        .python_version = "3.11.7",
        .agent_version = "0.1.0",
        .executable = "/usr/bin/python3.11",
        .argc = 5,
        .argv = (const char **)fixture_argv,
        .nlib = 2,
        .lib_paths = (const char **)fixture_lib,
    };
    return h;
}

static lt_type_row fixture_rows[6] = {
    {7, 1000, 64000}, {3, 900, 1 << 20}, {12, 1, 56}, {1, 0xfffffffffull, 0xffffffffffffull},
    {99999, 5, 5}, {4, 0, 0},
};

/* The fields SAMPLE gained in 1.1, after its rows. */
/* The 1.2 estimates of the fixture: a count, then rows of 36 bytes. */
static lt_est_row fixture_est[2] = {
    {2, 1200, 96000, 310, 0},
    {4, -7, -560, 12, 3000},
};
#define SAMPLE_1_2_BYTES (4u + 2u * 36u)
#define SAMPLE_1_1_BYTES (8u + 8u + 1u + 8u + 8u + 8u + 4u + 4u + 4u + SAMPLE_1_2_BYTES)

static lt_sample
fixture_sample(void)
{
    lt_sample s;
    memset(&s, 0, sizeof s);
    s.seq = 77;
    s.wall_ns = 1700000000123456789ull;
    s.mono_ns = 987654321012ull;
    s.rss_bytes = 50u << 20;
    s.rss_peak_bytes = 60u << 20;
    s.heap_bytes = 40u << 20;
    s.census_ns = 1234567;
    s.tracked_objects = 123456;
    s.agent_bytes = 654321;
    s.gc_enabled = 1;
    for (int g = 0; g < LT_GENERATIONS; g++) {
        s.gc_collections[g] = 100u + (unsigned)g;
        s.gc_collected[g] = 200u + (unsigned)g;
        s.gc_uncollectable[g] = 300u + (unsigned)g;
    }
    s.gc_garbage = 3;
    s.types_total = 6;
    s.types_complete = 1;
    s.ntypes = 6;
    s.types = fixture_rows;
    s.counts_wall_ns = 1700000000000000001ull;
    s.counts_mono_ns = 987000000000ull;
    s.counts_exact = 0;
    s.census_cpu_ns = 4400000;
    s.census_span_ns = 12000000000ull;
    s.census_max_hold_ns = 4100000;
    s.census_slices = 1234;
    s.census_restarts = 2;
    s.budget_ppm = 10000;
    s.nest = 2;
    s.est = fixture_est;
    return s;
}

/* One frame of each kind, by index; returns how many kinds there are when k is out of range. */
enum { KIND_HELLO, KIND_CLIENT_HELLO, KIND_STRING, KIND_SAMPLE, KIND_HISTORY_SAMPLE, KIND_DROPS,
       KIND_COMMAND, KIND_REPLY, KIND_BYE, KIND_HISTORY_END, KIND_MEMORY, KIND_TYPE_SITES,
       NKINDS };

static const uint16_t kind_type[NKINDS] = {
    LT_FRAME_HELLO, LT_FRAME_CLIENT_HELLO, LT_FRAME_STRING, LT_FRAME_SAMPLE, LT_FRAME_SAMPLE,
    LT_FRAME_DROPS, LT_FRAME_COMMAND, LT_FRAME_REPLY, LT_FRAME_BYE, LT_FRAME_HISTORY_END,
    LT_FRAME_MEMORY, LT_FRAME_TYPE_SITES,
};

static lt_type_site_row fixture_type_site_rows[3] = {
    {17, 4u << 20, 87381, 1024}, {3, 0x123456789abull, 1, 0xfffffffeu}, {0xfffffff0u, 0, 0, 0},
};

static lt_type_sites_msg
fixture_type_sites(void)
{
    lt_type_sites_msg ts = {
        .name_id = 4711, .instances = 0x1122334455ull, .sampled = 5150, .sample_interval_bytes = 65536,
        .walk_us = 2345, .note = "", .nrows = 3, .rows = fixture_type_site_rows,
        .owned_sampled = 64, .owned_extra_bytes = 0x1234567890ull, .owned_us = 987,
    };
    return ts;
}

/* Every field a distinct value, so a swapped pair would show. */
static lt_memory
fixture_memory(void)
{
    lt_memory mem = {
        .seq = 78, .have = LT_MEM_HAVE_PYMALLOC | LT_MEM_HAVE_MALLOC | LT_MEM_HAVE_STATUS,
        .py_arenas = 201, .py_arena_bytes = 201u << 20, .py_used_bytes = 190000001,
        .py_free_block_bytes = 3000002, .py_free_pool_bytes = 4000003,
        .py_overhead_bytes = 500004, .py_read_ns = 123005, .py_age = 6,
        .heap_arena_bytes = 70000007, .heap_mmap_bytes = 0x1234567890ull,
        .heap_used_bytes = 60000008, .heap_free_bytes = 9999999, .heap_releasable_bytes = 131072,
        .heap_read_ns = 4009, .vm_size = 0x7fffffff0000ull, .vm_data = 512000010,
        .rss_anon = 400000011, .rss_file = 30000012, .rss_shmem = 13, .vm_swap = 14,
    };
    return mem;
}

static void
encode_kind(lt_buf *b, int k)
{
    int rc = -1;
    switch (k) {
    case KIND_HELLO: {
        lt_hello h = fixture_hello();
        rc = lt_encode_hello(b, &h);
        break;
    }
    case KIND_CLIENT_HELLO: {
        lt_client_hello ch = {LT_PROTO_MAJOR, LT_PROTO_MINOR, "leaktop check 0.1.0"};
        rc = lt_encode_client_hello(b, &ch);
        break;
    }
    case KIND_STRING:
        rc = lt_encode_string(b, 31337, "app.models.Order", strlen("app.models.Order"));
        break;
    case KIND_SAMPLE: {
        lt_sample s = fixture_sample();
        rc = lt_encode_sample(b, &s, 0, 0);
        break;
    }
    case KIND_HISTORY_SAMPLE: {
        lt_sample s = fixture_sample();
        rc = lt_encode_sample(b, &s, LT_FLAG_HISTORY, 0);
        break;
    }
    case KIND_DROPS:
        rc = lt_encode_drops(b, 0xfedcba9876543210ull);
        break;
    case KIND_COMMAND:
        rc = lt_encode_command(b, LT_CMD_GC_COLLECT, 0xa5a5a5a5u);
        break;
    case KIND_REPLY: {
        lt_reply r = {LT_CMD_GC_COLLECT, -22, -1234567890123ll, "collected \"many\""};
        rc = lt_encode_reply(b, &r);
        break;
    }
    case KIND_BYE:
        rc = lt_encode_bye(b, LT_BYE_EXITING, "the process is exiting");
        break;
    case KIND_HISTORY_END:
        rc = lt_encode_empty(b, LT_FRAME_HISTORY_END);
        break;
    case KIND_MEMORY: {
        lt_memory mem = fixture_memory();
        rc = lt_encode_memory(b, &mem, LT_FLAG_HISTORY);
        break;
    }
    case KIND_TYPE_SITES: {
        lt_type_sites_msg ts = fixture_type_sites();
        rc = lt_encode_type_sites(b, &ts);
        break;
    }
    }
    ck_assert_int_eq(rc, 0);
}

/* Encode a decoded message again: a faithful decoder gives back the original bytes. */
static int
reencode(lt_buf *b, const lt_msg *m)
{
    switch (m->type) {
    case LT_FRAME_HELLO: return lt_encode_hello(b, &m->u.hello);
    case LT_FRAME_CLIENT_HELLO: return lt_encode_client_hello(b, &m->u.client_hello);
    case LT_FRAME_STRING: return lt_encode_string(b, m->u.string.id, m->u.string.text,
                                                  m->u.string.len);
    case LT_FRAME_SAMPLE: return lt_encode_sample(b, &m->u.sample, m->flags, 0);
    case LT_FRAME_DROPS: return lt_encode_drops(b, m->u.drops);
    case LT_FRAME_COMMAND: return lt_encode_command(b, m->u.command.code, m->u.command.arg);
    case LT_FRAME_REPLY: return lt_encode_reply(b, &m->u.reply);
    case LT_FRAME_BYE: return lt_encode_bye(b, m->u.bye.reason, m->u.bye.message);
    case LT_FRAME_HISTORY_END: return lt_encode_empty(b, LT_FRAME_HISTORY_END);
    case LT_FRAME_MEMORY: return lt_encode_memory(b, &m->u.memory, m->flags);
    case LT_FRAME_TYPE_SITES: return lt_encode_type_sites(b, &m->u.type_sites);
    default: return -1;
    }
}

static uint32_t
le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The single frame b holds: its header fields and payload. */
static void
split_one(const lt_buf *b, uint16_t *type, uint16_t *flags, const uint8_t **payload,
          uint32_t *len)
{
    ck_assert_uint_ge(b->len, LT_FRAME_HEADER);
    *len = le32(b->data);
    ck_assert_uint_eq(b->len, LT_FRAME_HEADER + *len);
    *type = (uint16_t)(b->data[4] | b->data[5] << 8);
    *flags = (uint16_t)(b->data[6] | b->data[7] << 8);
    *payload = b->data + LT_FRAME_HEADER;
}

/* Decode a copy of payload[0..len) held in a block of exactly len bytes, so ASan sees any read
 * past the end. */
static int
decode_exact(lt_msg *m, uint16_t type, uint16_t flags, const uint8_t *payload, uint32_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(copy);
    if (len)
        memcpy(copy, payload, len);
    int rc = lt_decode(m, type, flags, copy, len);
    free(copy);
    return rc;
}

/* ---- round trips ------------------------------------------------------------------------ */

START_TEST(test_roundtrip_hello)
{
    lt_buf b;
    lt_buf_init(&b);
    encode_kind(&b, KIND_HELLO);
    uint16_t type, flags;
    const uint8_t *p;
    uint32_t len;
    split_one(&b, &type, &flags, &p, &len);
    ck_assert_uint_eq(type, LT_FRAME_HELLO);
    ck_assert_uint_eq(flags, 0);
    ck_assert_mem_eq(p, LT_PROTO_MAGIC, 4);

    lt_msg m;
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(lt_decode(&m, type, flags, p, len), 0);
    const lt_hello *h = &m.u.hello;
    ck_assert_uint_eq(m.type, LT_FRAME_HELLO);
    ck_assert_uint_eq(h->major, LT_PROTO_MAJOR);
    ck_assert_uint_eq(h->minor, LT_PROTO_MINOR);
    ck_assert_uint_eq(h->pid, 4242);
    ck_assert_uint_eq(h->interval_ms, 250);
    ck_assert_uint_eq(h->start_wall_ns, 0x0123456789abcdefull);
    ck_assert_uint_eq(h->history_capacity, 2400);
    ck_assert_str_eq(h->python_version, "3.11.7");
    ck_assert_str_eq(h->agent_version, "0.1.0");
    ck_assert_str_eq(h->executable, "/usr/bin/python3.11");
    ck_assert_uint_eq(h->argc, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_str_eq(h->argv[i], fixture_argv[i]);
    ck_assert_uint_eq(h->nlib, 2);
    ck_assert_str_eq(h->lib_paths[0], fixture_lib[0]);
    ck_assert_str_eq(h->lib_paths[1], fixture_lib[1]);
    lt_msg_clear(&m);
    lt_buf_free(&b);
}
END_TEST

/* A 1.0 agent's HELLO and TYPE_SITES end before the 1.1 fields: they decode, the new fields 0;
 * a count of library paths beyond what the payload holds is refused. */
START_TEST(test_decode_1_0_payloads)
{
    lt_buf b;
    lt_buf_init(&b);
    lt_hello h = fixture_hello();
    h.nlib = 0;
    ck_assert_int_eq(lt_encode_hello(&b, &h), 0);
    uint16_t type, flags;
    const uint8_t *p;
    uint32_t len;
    split_one(&b, &type, &flags, &p, &len);
    lt_msg m;
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(lt_decode(&m, type, flags, p, len - 4), 0); /* without u32 nlib */
    ck_assert_uint_eq(m.u.hello.argc, 5);
    ck_assert_uint_eq(m.u.hello.nlib, 0);
    /* nlib = 1000 with nothing after it */
    uint8_t *q = lt_malloc(len);
    memcpy(q, p, len);
    q[len - 4] = 0xe8;
    q[len - 3] = 0x03;
    ck_assert_int_eq(lt_decode(&m, type, flags, q, len), -1);
    lt_free(q);
    lt_buf_free(&b);

    lt_buf_init(&b);
    lt_type_sites_msg ts = fixture_type_sites();
    ck_assert_int_eq(lt_encode_type_sites(&b, &ts), 0);
    split_one(&b, &type, &flags, &p, &len);
    ck_assert_int_eq(lt_decode(&m, type, flags, p, len - 16), 0); /* without the owned fields */
    ck_assert_uint_eq(m.u.type_sites.nrows, 3);
    ck_assert_uint_eq(m.u.type_sites.owned_sampled, 0);
    ck_assert_uint_eq(m.u.type_sites.owned_extra_bytes, 0);
    ck_assert_int_eq(lt_decode(&m, type, flags, p, len), 0);
    ck_assert_uint_eq(m.u.type_sites.owned_sampled, 64);
    ck_assert_uint_eq(m.u.type_sites.owned_extra_bytes, 0x1234567890ull);
    ck_assert_uint_eq(m.u.type_sites.owned_us, 987);
    lt_msg_clear(&m);
    lt_buf_free(&b);
}
END_TEST

START_TEST(test_roundtrip_hello_null_strings)
{
    lt_buf b;
    lt_buf_init(&b);
    lt_hello h = {.major = 1, .python_version = NULL, .agent_version = NULL, .executable = NULL,
                  .argc = 0, .argv = NULL};
    ck_assert_int_eq(lt_encode_hello(&b, &h), 0);
    uint16_t type, flags;
    const uint8_t *p;
    uint32_t len;
    split_one(&b, &type, &flags, &p, &len);
    lt_msg m;
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(lt_decode(&m, type, flags, p, len), 0);
    ck_assert_str_eq(m.u.hello.python_version, "");
    ck_assert_str_eq(m.u.hello.executable, "");
    ck_assert_uint_eq(m.u.hello.argc, 0);
    lt_msg_clear(&m);
    lt_buf_free(&b);
}
END_TEST

START_TEST(test_roundtrip_small_frames)
{
    lt_buf b;
    lt_msg m;
    memset(&m, 0, sizeof m);
    uint16_t type, flags;
    const uint8_t *p;
    uint32_t len;

    lt_buf_init(&b);
    encode_kind(&b, KIND_CLIENT_HELLO);
    split_one(&b, &type, &flags, &p, &len);
    ck_assert_int_eq(lt_decode(&m, type, flags, p, len), 0);
    ck_assert_uint_eq(m.type, LT_FRAME_CLIENT_HELLO);
    ck_assert_uint_eq(m.u.client_hello.major, LT_PROTO_MAJOR);
    ck_assert_uint_eq(m.u.client_hello.minor, LT_PROTO_MINOR);
    ck_assert_str_eq(m.u.client_hello.client, "leaktop check 0.1.0");
    lt_buf_free(&b);

    encode_kind(&b, KIND_STRING);
    split_one(&b, &type, &flags, &p, &len);
    ck_assert_int_eq(lt_decode(&m, type, flags, p, len), 0);
    ck_assert_uint_eq(m.type, LT_FRAME_STRING);
    ck_assert_uint_eq(m.u.string.id, 31337);
    ck_assert_uint_eq(m.u.string.len, strlen("app.models.Order"));
    ck_assert_str_eq(m.u.string.text, "app.models.Order");
    lt_buf_free(&b);

    encode_kind(&b, KIND_DROPS);
    split_one(&b, &type, &flags, &p, &len);
    ck_assert_uint_eq(len, 8);
    ck_assert_int_eq(lt_decode(&m, type, flags, p, len), 0);
    ck_assert_uint_eq(m.u.drops, 0xfedcba9876543210ull);
    lt_buf_free(&b);

    encode_kind(&b, KIND_COMMAND);
    split_one(&b, &type, &flags, &p, &len);
    ck_assert_int_eq(lt_decode(&m, type, flags, p, len), 0);
    ck_assert_uint_eq(m.u.command.code, LT_CMD_GC_COLLECT);
    ck_assert_uint_eq(m.u.command.arg, 0xa5a5a5a5u);
    lt_buf_free(&b);

    encode_kind(&b, KIND_REPLY);
    split_one(&b, &type, &flags, &p, &len);
    ck_assert_int_eq(lt_decode(&m, type, flags, p, len), 0);
    ck_assert_uint_eq(m.u.reply.code, LT_CMD_GC_COLLECT);
    ck_assert_int_eq(m.u.reply.status, -22);
    ck_assert_int_eq(m.u.reply.value, -1234567890123ll);
    ck_assert_str_eq(m.u.reply.message, "collected \"many\"");
    lt_buf_free(&b);

    encode_kind(&b, KIND_BYE);
    split_one(&b, &type, &flags, &p, &len);
    ck_assert_int_eq(lt_decode(&m, type, flags, p, len), 0);
    ck_assert_uint_eq(m.u.bye.reason, LT_BYE_EXITING);
    ck_assert_str_eq(m.u.bye.message, "the process is exiting");
    lt_buf_free(&b);

    encode_kind(&b, KIND_HISTORY_END);
    split_one(&b, &type, &flags, &p, &len);
    ck_assert_uint_eq(type, LT_FRAME_HISTORY_END);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(lt_decode(&m, type, flags, p, len), 0);
    ck_assert_uint_eq(m.type, LT_FRAME_HISTORY_END);
    lt_buf_free(&b);

    lt_msg_clear(&m);
}
END_TEST

START_TEST(test_roundtrip_sample)
{
    lt_buf b;
    lt_buf_init(&b);
    encode_kind(&b, KIND_HISTORY_SAMPLE);
    uint16_t type, flags;
    const uint8_t *p;
    uint32_t len;
    split_one(&b, &type, &flags, &p, &len);
    ck_assert_uint_eq(type, LT_FRAME_SAMPLE);
    ck_assert_uint_eq(flags, LT_FLAG_HISTORY);

    lt_msg m;
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(lt_decode(&m, type, flags, p, len), 0);
    ck_assert_uint_eq(m.flags, LT_FLAG_HISTORY);
    lt_sample want = fixture_sample();
    const lt_sample *s = &m.u.sample;
    ck_assert_uint_eq(s->seq, want.seq);
    ck_assert_uint_eq(s->wall_ns, want.wall_ns);
    ck_assert_uint_eq(s->mono_ns, want.mono_ns);
    ck_assert_uint_eq(s->rss_bytes, want.rss_bytes);
    ck_assert_uint_eq(s->rss_peak_bytes, want.rss_peak_bytes);
    ck_assert_uint_eq(s->heap_bytes, want.heap_bytes);
    ck_assert_uint_eq(s->census_ns, want.census_ns);
    ck_assert_uint_eq(s->tracked_objects, want.tracked_objects);
    ck_assert_uint_eq(s->agent_bytes, want.agent_bytes);
    ck_assert_uint_eq(s->gc_enabled, 1);
    for (int g = 0; g < LT_GENERATIONS; g++) {
        ck_assert_uint_eq(s->gc_collections[g], want.gc_collections[g]);
        ck_assert_uint_eq(s->gc_collected[g], want.gc_collected[g]);
        ck_assert_uint_eq(s->gc_uncollectable[g], want.gc_uncollectable[g]);
    }
    ck_assert_uint_eq(s->gc_garbage, 3);
    ck_assert_uint_eq(s->types_total, 6);
    ck_assert_uint_eq(s->types_complete, 1);
    ck_assert_uint_eq(s->ntypes, 6);
    for (uint32_t i = 0; i < 6; i++) {
        ck_assert_uint_eq(s->types[i].name_id, fixture_rows[i].name_id);
        ck_assert_uint_eq(s->types[i].count, fixture_rows[i].count);
        ck_assert_uint_eq(s->types[i].bytes, fixture_rows[i].bytes);
    }
    ck_assert_uint_eq(s->counts_wall_ns, want.counts_wall_ns);
    ck_assert_uint_eq(s->counts_mono_ns, want.counts_mono_ns);
    ck_assert_uint_eq(s->counts_exact, 0);
    ck_assert_uint_eq(s->census_cpu_ns, want.census_cpu_ns);
    ck_assert_uint_eq(s->census_span_ns, want.census_span_ns);
    ck_assert_uint_eq(s->census_max_hold_ns, want.census_max_hold_ns);
    ck_assert_uint_eq(s->census_slices, 1234);
    ck_assert_uint_eq(s->census_restarts, 2);
    ck_assert_uint_eq(s->budget_ppm, 10000);
    ck_assert_uint_eq(s->nest, 2);
    ck_assert_uint_eq(s->est[0].name_id, 2);
    ck_assert_int_eq(s->est[0].count_delta, 1200);
    ck_assert_int_eq(s->est[0].bytes_delta, 96000);
    ck_assert_uint_eq(s->est[0].count_sd, 310);
    ck_assert_int_eq(s->est[1].count_delta, -7);
    ck_assert_int_eq(s->est[1].bytes_delta, -560);
    ck_assert_uint_eq(s->est[1].unsampled, 3000);
    lt_msg_clear(&m);
    lt_buf_free(&b);
}
END_TEST

/* A 1.0 agent's SAMPLE ends with its rows: its counts were taken at the sample, a whole census. */
START_TEST(test_sample_1_0_decodes_as_fresh)
{
    lt_buf b;
    lt_buf_init(&b);
    lt_sample in = fixture_sample();
    ck_assert_int_eq(lt_encode_sample(&b, &in, 0, 0), 0);
    uint16_t type, flags;
    const uint8_t *p;
    uint32_t len;
    split_one(&b, &type, &flags, &p, &len);
    lt_msg m;
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(lt_decode(&m, type, flags, p, len - SAMPLE_1_1_BYTES), 0);
    ck_assert_uint_eq(m.u.sample.ntypes, 6);
    ck_assert_uint_eq(m.u.sample.counts_wall_ns, in.wall_ns);
    ck_assert_uint_eq(m.u.sample.counts_mono_ns, in.mono_ns);
    ck_assert_uint_eq(m.u.sample.counts_exact, 1);
    ck_assert_uint_eq(m.u.sample.census_slices, 0);
    ck_assert_uint_eq(m.u.sample.budget_ppm, 0);
    lt_msg_clear(&m);
    /* Part of the 1.1 fields: cut short, malformed. */
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(lt_decode(&m, type, flags, p, len - SAMPLE_1_1_BYTES + 9), -1);
    lt_msg_clear(&m);
    /* A 1.1 sample (no estimates) decodes with none; estimates cut short are malformed. */
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(lt_decode(&m, type, flags, p, len - SAMPLE_1_2_BYTES), 0);
    ck_assert_uint_eq(m.u.sample.nest, 0);
    ck_assert_uint_eq(m.u.sample.budget_ppm, 10000);
    lt_msg_clear(&m);
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(lt_decode(&m, type, flags, p, len - 36), -1);
    lt_msg_clear(&m);
    lt_buf_free(&b);
}
END_TEST

START_TEST(test_roundtrip_memory)
{
    lt_buf b;
    lt_buf_init(&b);
    encode_kind(&b, KIND_MEMORY);
    uint16_t type, flags;
    const uint8_t *p;
    uint32_t len;
    split_one(&b, &type, &flags, &p, &len);
    ck_assert_uint_eq(type, LT_FRAME_MEMORY);
    ck_assert_uint_eq(flags, LT_FLAG_HISTORY);
    ck_assert_uint_eq(len, 4 + 4 + 7 * 8 + 4 + 6 * 8 + 6 * 8);
    lt_msg m;
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(decode_exact(&m, type, flags, p, len), 0);
    lt_memory want = fixture_memory();
    const lt_memory *got = &m.u.memory;
    const uint64_t w64[] = {want.py_arenas, want.py_arena_bytes, want.py_used_bytes,
                            want.py_free_block_bytes, want.py_free_pool_bytes,
                            want.py_overhead_bytes, want.py_read_ns, want.heap_arena_bytes,
                            want.heap_mmap_bytes, want.heap_used_bytes, want.heap_free_bytes,
                            want.heap_releasable_bytes, want.heap_read_ns, want.vm_size,
                            want.vm_data, want.rss_anon, want.rss_file, want.rss_shmem,
                            want.vm_swap};
    const uint64_t g64[] = {got->py_arenas, got->py_arena_bytes, got->py_used_bytes,
                            got->py_free_block_bytes, got->py_free_pool_bytes,
                            got->py_overhead_bytes, got->py_read_ns, got->heap_arena_bytes,
                            got->heap_mmap_bytes, got->heap_used_bytes, got->heap_free_bytes,
                            got->heap_releasable_bytes, got->heap_read_ns, got->vm_size,
                            got->vm_data, got->rss_anon, got->rss_file, got->rss_shmem,
                            got->vm_swap};
    for (size_t i = 0; i < sizeof w64 / sizeof w64[0]; i++)
        ck_assert_uint_eq(g64[i], w64[i]);
    ck_assert_uint_eq(got->seq, 78);
    ck_assert_uint_eq(got->have, want.have);
    ck_assert_uint_eq(got->py_age, 6);
    ck_assert_str_eq(lt_frame_name(LT_FRAME_MEMORY), "memory");
    lt_msg_clear(&m);
    lt_buf_free(&b);
}
END_TEST

START_TEST(test_roundtrip_type_sites)
{
    lt_buf b;
    lt_buf_init(&b);
    encode_kind(&b, KIND_TYPE_SITES);
    uint16_t type, flags;
    const uint8_t *p;
    uint32_t len;
    split_one(&b, &type, &flags, &p, &len);
    ck_assert_uint_eq(type, LT_FRAME_TYPE_SITES);
    ck_assert_uint_eq(len, 4 + 3 * 8 + 4 + 4 + 4 + 3 * 24 + 4 + 8 + 4);
    lt_msg m;
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(decode_exact(&m, type, flags, p, len), 0);
    const lt_type_sites_msg *got = &m.u.type_sites;
    ck_assert_uint_eq(got->name_id, 4711);
    ck_assert_uint_eq(got->instances, 0x1122334455ull);
    ck_assert_uint_eq(got->sampled, 5150);
    ck_assert_uint_eq(got->sample_interval_bytes, 65536);
    ck_assert_uint_eq(got->walk_us, 2345);
    ck_assert_str_eq(got->note, "");
    ck_assert_uint_eq(got->nrows, 3);
    for (uint32_t i = 0; i < 3; i++) {
        ck_assert_uint_eq(got->rows[i].trace_id, fixture_type_site_rows[i].trace_id);
        ck_assert_uint_eq(got->rows[i].live_bytes, fixture_type_site_rows[i].live_bytes);
        ck_assert_uint_eq(got->rows[i].live_count, fixture_type_site_rows[i].live_count);
        ck_assert_uint_eq(got->rows[i].samples, fixture_type_site_rows[i].samples);
    }
    ck_assert_str_eq(lt_frame_name(LT_FRAME_TYPE_SITES), "type-sites");
    lt_msg_clear(&m);
    lt_buf_free(&b);
}
END_TEST

/* More rows than the wire allows are cut on encoding and refused on decoding, before any
 * allocation for them; a note travels when there are none. */
START_TEST(test_type_sites_bounds)
{
    lt_type_site_row rows[LT_TYPE_SITES_MAX_WIRE + 5];
    for (uint32_t i = 0; i < LT_TYPE_SITES_MAX_WIRE + 5; i++)
        rows[i] = (lt_type_site_row){i + 1, 1000u - i, 10, 1};
    lt_type_sites_msg ts = {.name_id = 9, .note = NULL, .nrows = LT_TYPE_SITES_MAX_WIRE + 5,
                            .rows = rows};
    lt_buf b;
    lt_buf_init(&b);
    ck_assert_int_eq(lt_encode_type_sites(&b, &ts), 0);
    uint16_t type, flags;
    const uint8_t *p;
    uint32_t len;
    split_one(&b, &type, &flags, &p, &len);
    lt_msg m;
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(decode_exact(&m, type, flags, p, len), 0);
    ck_assert_uint_eq(m.u.type_sites.nrows, LT_TYPE_SITES_MAX_WIRE);
    ck_assert_uint_eq(m.u.type_sites.rows[LT_TYPE_SITES_MAX_WIRE - 1].trace_id,
                      LT_TYPE_SITES_MAX_WIRE);
    ck_assert_str_eq(m.u.type_sites.note, "");
    lt_msg_clear(&m);
    /* A count over the bound, with bytes enough behind it: refused. */
    uint8_t *copy = malloc(len + 24);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, p, len);
    memset(copy + len, 0, 24);
    uint32_t count_at = 4 + 3 * 8 + 4 + 4; /* the note is "" */
    uint32_t n = LT_TYPE_SITES_MAX_WIRE + 1;
    memcpy(copy + count_at, &n, 4);
    ck_assert_int_eq(lt_decode(&m, type, flags, copy, len + 24), -1);
    lt_msg_clear(&m);
    /* A count the payload cannot hold: refused. */
    n = 2;
    memcpy(copy + count_at, &n, 4);
    ck_assert_int_eq(lt_decode(&m, type, flags, copy, count_at + 4 + 24 + 23), -1);
    lt_msg_clear(&m);
    free(copy);
    lt_buf_free(&b);
    /* No sampler: a note and no rows. */
    lt_type_sites_msg off = {.name_id = 2, .note = "the allocation sampler is off"};
    lt_buf_init(&b);
    ck_assert_int_eq(lt_encode_type_sites(&b, &off), 0);
    split_one(&b, &type, &flags, &p, &len);
    ck_assert_int_eq(decode_exact(&m, type, flags, p, len), 0);
    ck_assert_uint_eq(m.u.type_sites.nrows, 0);
    ck_assert_str_eq(m.u.type_sites.note, "the allocation sampler is off");
    lt_msg_clear(&m);
    lt_buf_free(&b);
}
END_TEST

/* Every kind decodes to something that encodes to the very same bytes. */
START_TEST(test_roundtrip_reencode_every_kind)
{
    for (int k = 0; k < NKINDS; k++) {
        lt_buf b, again;
        lt_buf_init(&b);
        lt_buf_init(&again);
        encode_kind(&b, k);
        uint16_t type, flags;
        const uint8_t *p;
        uint32_t len;
        split_one(&b, &type, &flags, &p, &len);
        ck_assert_uint_eq(type, kind_type[k]);
        lt_msg m;
        memset(&m, 0, sizeof m);
        ck_assert_int_eq(decode_exact(&m, type, flags, p, len), 0);
        ck_assert_int_eq(reencode(&again, &m), 0);
        ck_assert_uint_eq(again.len, b.len);
        ck_assert_mem_eq(again.data, b.data, b.len);
        lt_msg_clear(&m);
        lt_buf_free(&b);
        lt_buf_free(&again);
    }
}
END_TEST

START_TEST(test_frame_names)
{
    ck_assert_str_eq(lt_frame_name(LT_FRAME_HELLO), "hello");
    ck_assert_str_eq(lt_frame_name(LT_FRAME_CLIENT_HELLO), "client-hello");
    ck_assert_str_eq(lt_frame_name(LT_FRAME_STRING), "string");
    ck_assert_str_eq(lt_frame_name(LT_FRAME_SAMPLE), "sample");
    ck_assert_str_eq(lt_frame_name(LT_FRAME_DROPS), "drops");
    ck_assert_str_eq(lt_frame_name(LT_FRAME_COMMAND), "command");
    ck_assert_str_eq(lt_frame_name(LT_FRAME_REPLY), "reply");
    ck_assert_str_eq(lt_frame_name(LT_FRAME_BYE), "bye");
    ck_assert_str_eq(lt_frame_name(LT_FRAME_HISTORY_END), "history-end");
    ck_assert_str_eq(lt_frame_name(0), "unknown");
    ck_assert_str_eq(lt_frame_name(4711), "unknown");
}
END_TEST

/* REC_PROCESS, the recorder's own frame (recordings v2): round trip, pid 0 and a cut payload
 * refused. */
START_TEST(test_rec_process)
{
    lt_buf b;
    lt_buf_init(&b);
    lt_rec_process_msg in = {.pid = 4301, .ppid = 4242, .role = "worker"};
    ck_assert_int_eq(lt_encode_rec_process(&b, &in), 0);
    uint16_t type, flags;
    const uint8_t *p;
    uint32_t len;
    split_one(&b, &type, &flags, &p, &len);
    ck_assert_uint_eq(type, LT_FRAME_REC_PROCESS);
    ck_assert_str_eq(lt_frame_name(type), "rec-process");
    lt_msg m;
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(lt_decode(&m, type, flags, p, len), 0);
    ck_assert_uint_eq(m.u.rec_process.pid, 4301);
    ck_assert_uint_eq(m.u.rec_process.ppid, 4242);
    ck_assert_str_eq(m.u.rec_process.role, "worker");
    ck_assert_int_eq(lt_decode(&m, type, flags, p, len - 1), -1);
    lt_msg_clear(&m);
    lt_buf_free(&b);
    lt_buf_init(&b);
    in.pid = 0;
    ck_assert_int_eq(lt_encode_rec_process(&b, &in), 0);
    split_one(&b, &type, &flags, &p, &len);
    ck_assert_int_eq(lt_decode(&m, type, flags, p, len), -1);
    lt_msg_clear(&m);
    lt_buf_free(&b);
}
END_TEST

/* ---- framer ----------------------------------------------------------------------------- */

/* A stream of every kind of frame, twice, and where each frame starts. */
#define STREAM_FRAMES (2 * NKINDS)

static void
build_stream(lt_buf *b, size_t *offs)
{
    lt_buf_init(b);
    for (int i = 0; i < STREAM_FRAMES; i++) {
        offs[i] = b->len;
        encode_kind(b, i % NKINDS);
    }
    offs[STREAM_FRAMES] = b->len;
}

/* Take every complete frame out of f and check it against the stream; returns how many. */
static int
drain_and_check(lt_framer *f, const lt_buf *stream, const size_t *offs, int got)
{
    uint16_t type, flags;
    const uint8_t *p;
    uint32_t len;
    int rc;
    while ((rc = lt_framer_next(f, &type, &flags, &p, &len)) == 1) {
        ck_assert_int_lt(got, STREAM_FRAMES);
        const uint8_t *want = stream->data + offs[got];
        size_t want_len = offs[got + 1] - offs[got];
        ck_assert_uint_eq(LT_FRAME_HEADER + len, want_len);
        ck_assert_uint_eq(type, kind_type[got % NKINDS]);
        ck_assert_uint_eq(flags, (uint16_t)(want[6] | want[7] << 8));
        if (len)
            ck_assert_mem_eq(p, want + LT_FRAME_HEADER, len);
        got++;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(f->error, LT_FRAMER_OK);
    return got;
}

START_TEST(test_framer_one_byte_at_a_time)
{
    lt_buf stream;
    size_t offs[STREAM_FRAMES + 1];
    build_stream(&stream, offs);
    lt_framer f;
    lt_framer_init(&f);
    int got = 0;
    for (size_t i = 0; i < stream.len; i++) {
        ck_assert_int_eq(lt_framer_feed(&f, stream.data + i, 1), 0);
        int before = got;
        got = drain_and_check(&f, &stream, offs, got);
        /* A frame comes out exactly when its last byte arrives. */
        if (got > before)
            ck_assert_uint_eq(offs[got], i + 1);
        else
            ck_assert_uint_eq(lt_framer_pending(&f), i + 1 - offs[got]);
    }
    ck_assert_int_eq(got, STREAM_FRAMES);
    ck_assert_uint_eq(lt_framer_pending(&f), 0);
    lt_framer_free(&f);
    lt_buf_free(&stream);
}
END_TEST

START_TEST(test_framer_chunks)
{
    static const size_t chunks[] = {3, 7, 64, 1000, 1u << 20};
    lt_buf stream;
    size_t offs[STREAM_FRAMES + 1];
    build_stream(&stream, offs);
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        lt_framer f;
        lt_framer_init(&f);
        int got = 0;
        for (size_t i = 0; i < stream.len; i += chunks[c]) {
            size_t n = stream.len - i < chunks[c] ? stream.len - i : chunks[c];
            ck_assert_int_eq(lt_framer_feed(&f, stream.data + i, n), 0);
            got = drain_and_check(&f, &stream, offs, got);
        }
        ck_assert_int_eq(got, STREAM_FRAMES);
        ck_assert_uint_eq(lt_framer_pending(&f), 0);
        lt_framer_free(&f);
    }
    lt_buf_free(&stream);
}
END_TEST

/* A header that announces more than LT_FRAME_MAX is a fatal, sticky stream error. */
START_TEST(test_framer_too_big)
{
    uint8_t hdr[LT_FRAME_HEADER];
    uint32_t n = LT_FRAME_MAX + 1;
    for (int i = 0; i < 4; i++)
        hdr[i] = (uint8_t)(n >> (8 * i));
    hdr[4] = LT_FRAME_SAMPLE;
    hdr[5] = hdr[6] = hdr[7] = 0;

    lt_framer f;
    lt_framer_init(&f);
    ck_assert_int_eq(lt_framer_feed(&f, hdr, sizeof hdr), 0);
    uint16_t type, flags;
    const uint8_t *p;
    uint32_t len;
    ck_assert_int_eq(lt_framer_next(&f, &type, &flags, &p, &len), -1);
    ck_assert_int_eq(f.error, LT_FRAMER_TOO_BIG);
    /* Sticky: even a good frame afterwards is not accepted. */
    lt_buf good;
    lt_buf_init(&good);
    encode_kind(&good, KIND_DROPS);
    ck_assert_int_eq(lt_framer_feed(&f, good.data, good.len), -1);
    ck_assert_int_eq(lt_framer_next(&f, &type, &flags, &p, &len), -1);
    lt_buf_free(&good);
    lt_framer_free(&f);

    /* Exactly LT_FRAME_MAX is allowed: the framer just waits for the payload. */
    n = LT_FRAME_MAX;
    for (int i = 0; i < 4; i++)
        hdr[i] = (uint8_t)(n >> (8 * i));
    lt_framer_init(&f);
    ck_assert_int_eq(lt_framer_feed(&f, hdr, sizeof hdr), 0);
    ck_assert_int_eq(lt_framer_next(&f, &type, &flags, &p, &len), 0);
    ck_assert_int_eq(f.error, LT_FRAMER_OK);
    ck_assert_uint_eq(lt_framer_pending(&f), LT_FRAME_HEADER);
    lt_framer_free(&f);
}
END_TEST

START_TEST(test_framer_out_of_memory)
{
    lt_framer f;
    lt_framer_init(&f);
    lt_mem_fail_after(1);
    uint8_t bytes[16] = {0};
    ck_assert_int_eq(lt_framer_feed(&f, bytes, sizeof bytes), -1);
    lt_mem_fail_after(0);
    ck_assert_int_eq(f.error, LT_FRAMER_NOMEM);
    uint16_t type, flags;
    const uint8_t *p;
    uint32_t len;
    ck_assert_int_eq(lt_framer_next(&f, &type, &flags, &p, &len), -1);
    lt_framer_free(&f);
}
END_TEST

/* The encoder refuses to build a frame the framer would refuse, and leaves b as it was. */
START_TEST(test_frame_end_too_big)
{
    lt_buf b;
    lt_buf_init(&b);
    encode_kind(&b, KIND_DROPS);
    size_t before = b.len;
    uint8_t *big = calloc(1, LT_FRAME_MAX + 1);
    ck_assert_ptr_nonnull(big);

    size_t off = lt_frame_begin(&b, LT_FRAME_STRING, 0);
    ck_assert_uint_eq(off, before);
    lt_buf_put(&b, big, LT_FRAME_MAX + 1);
    ck_assert_int_eq(lt_frame_end(&b, off), -1);
    ck_assert_uint_eq(b.len, before);
    ck_assert_int_eq(b.failed, 0);

    off = lt_frame_begin(&b, LT_FRAME_STRING, 0);
    lt_buf_put(&b, big, LT_FRAME_MAX);
    ck_assert_int_eq(lt_frame_end(&b, off), 0);
    ck_assert_uint_eq(b.len, before + LT_FRAME_HEADER + LT_FRAME_MAX);
    ck_assert_uint_eq(le32(b.data + off), LT_FRAME_MAX);
    free(big);
    lt_buf_free(&b);
}
END_TEST

/* ---- decoder rejections ----------------------------------------------------------------- */

/* Every strict prefix of every payload is malformed, except those that end where a 1.0 sender's
 * payload ended (the 1.1 fields are optional; what follows them is trailing bytes). */
START_TEST(test_decode_truncated)
{
    lt_hello fh = fixture_hello();
    uint32_t hello_1_1 = 4;
    for (uint32_t i = 0; i < fh.nlib; i++)
        hello_1_1 += 4 + (uint32_t)strlen(fh.lib_paths[i]);
    for (int k = 0; k < NKINDS; k++) {
        lt_buf b;
        lt_buf_init(&b);
        encode_kind(&b, k);
        uint16_t type, flags;
        const uint8_t *p;
        uint32_t len;
        split_one(&b, &type, &flags, &p, &len);
        if (k == KIND_HISTORY_END)
            ck_assert_uint_eq(len, 0); /* nothing to cut */
        uint32_t v1_0 = k == KIND_HELLO ? len - hello_1_1 : k == KIND_TYPE_SITES ? len - 16 : len;
        for (uint32_t cut = 0; cut < v1_0; cut++) {
            /* A SAMPLE without the fields appended in 1.1 is a 1.0 sample, not a cut one. */
            if (type == LT_FRAME_SAMPLE &&
                (cut == len - SAMPLE_1_1_BYTES || cut == len - SAMPLE_1_2_BYTES))
                continue; /* ... nor one without those of 1.2 */
            lt_msg m;
            memset(&m, 0, sizeof m);
            ck_assert_msg(decode_exact(&m, type, flags, p, cut) == -1,
                          "%s payload cut to %u of %u bytes was accepted", lt_frame_name(type),
                          cut, len);
            lt_msg_clear(&m);
        }
        lt_buf_free(&b);
    }
}
END_TEST

/* A newer sender may append fields: trailing bytes are ignored, the known fields intact. */
START_TEST(test_decode_trailing_bytes)
{
    static const uint8_t extra[] = {0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02};
    for (int k = 0; k < NKINDS; k++) {
        lt_buf b, longer, again;
        lt_buf_init(&b);
        lt_buf_init(&longer);
        lt_buf_init(&again);
        encode_kind(&b, k);
        uint16_t type, flags;
        const uint8_t *p;
        uint32_t len;
        split_one(&b, &type, &flags, &p, &len);
        lt_buf_put(&longer, p, len);
        lt_buf_put(&longer, extra, sizeof extra);
        lt_msg m;
        memset(&m, 0, sizeof m);
        ck_assert_int_eq(decode_exact(&m, type, flags, longer.data, (uint32_t)longer.len), 0);
        ck_assert_int_eq(reencode(&again, &m), 0);
        ck_assert_uint_eq(again.len, b.len);
        ck_assert_mem_eq(again.data, b.data, b.len);
        lt_msg_clear(&m);
        lt_buf_free(&b);
        lt_buf_free(&longer);
        lt_buf_free(&again);
    }
}
END_TEST

START_TEST(test_decode_unknown_type)
{
    static const uint8_t payload[] = {1, 2, 3, 4};
    lt_msg m;
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(lt_decode(&m, 4711, 3, payload, sizeof payload), 1);
    ck_assert_uint_eq(m.type, 4711);
    ck_assert_uint_eq(m.flags, 3);
    lt_msg_clear(&m);
    ck_assert_int_eq(lt_decode(&m, 0, 0, payload, 0), 1);
    ck_assert_uint_eq(m.type, 0);
    lt_msg_clear(&m);
}
END_TEST

START_TEST(test_decode_bad_magic)
{
    lt_buf b;
    lt_buf_init(&b);
    encode_kind(&b, KIND_HELLO);
    b.data[LT_FRAME_HEADER] = 'X';
    uint16_t type, flags;
    const uint8_t *p;
    uint32_t len;
    split_one(&b, &type, &flags, &p, &len);
    lt_msg m;
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(lt_decode(&m, type, flags, p, len), -1);
    lt_msg_clear(&m);
    lt_buf_free(&b);

    lt_buf_init(&b);
    encode_kind(&b, KIND_CLIENT_HELLO);
    b.data[LT_FRAME_HEADER + 3] = 'Q';
    split_one(&b, &type, &flags, &p, &len);
    ck_assert_int_eq(lt_decode(&m, type, flags, p, len), -1);
    lt_msg_clear(&m);
    lt_buf_free(&b);
}
END_TEST

static int
decode_buf(lt_msg *m, const lt_buf *b)
{
    uint16_t type, flags;
    const uint8_t *p;
    uint32_t len;
    split_one(b, &type, &flags, &p, &len);
    return decode_exact(m, type, flags, p, len);
}

/* Strings on the wire are names and messages: an embedded NUL is malformed wherever it is. */
START_TEST(test_decode_embedded_nul)
{
    lt_msg m;
    memset(&m, 0, sizeof m);
    lt_buf b;

    lt_buf_init(&b);
    ck_assert_int_eq(lt_encode_string(&b, 5, "a\0b", 3), 0);
    ck_assert_int_eq(decode_buf(&m, &b), -1);
    lt_msg_clear(&m);
    lt_buf_free(&b);

    /* A NUL at the very end counts too. */
    lt_buf_init(&b);
    ck_assert_int_eq(lt_encode_string(&b, 5, "ab\0", 3), 0);
    ck_assert_int_eq(decode_buf(&m, &b), -1);
    lt_msg_clear(&m);
    lt_buf_free(&b);

    /* In an argv entry of HELLO. */
    lt_buf_init(&b);
    lt_hello h = fixture_hello();
    size_t off = lt_frame_begin(&b, LT_FRAME_HELLO, 0);
    lt_buf_put(&b, LT_PROTO_MAGIC, 4);
    lt_put_u16(&b, h.major);
    lt_put_u16(&b, h.minor);
    lt_put_u32(&b, h.pid);
    lt_put_u32(&b, h.interval_ms);
    lt_put_u64(&b, h.start_wall_ns);
    lt_put_u32(&b, h.history_capacity);
    lt_put_str(&b, h.python_version);
    lt_put_str(&b, h.agent_version);
    lt_put_str(&b, h.executable);
    lt_put_u32(&b, 2);
    lt_put_str(&b, "python3");
    lt_put_strn(&b, "x\0y", 3);
    ck_assert_int_eq(lt_frame_end(&b, off), 0);
    ck_assert_int_eq(decode_buf(&m, &b), -1);
    lt_msg_clear(&m);
    lt_buf_free(&b);

    /* In REPLY and BYE messages, and the client's name. */
    lt_buf_init(&b);
    off = lt_frame_begin(&b, LT_FRAME_REPLY, 0);
    lt_put_u16(&b, LT_CMD_PING);
    lt_put_u32(&b, 0);
    lt_put_u64(&b, 0);
    lt_put_strn(&b, "po\0ng", 5);
    ck_assert_int_eq(lt_frame_end(&b, off), 0);
    ck_assert_int_eq(decode_buf(&m, &b), -1);
    lt_msg_clear(&m);
    lt_buf_free(&b);

    lt_buf_init(&b);
    off = lt_frame_begin(&b, LT_FRAME_BYE, 0);
    lt_put_u8(&b, LT_BYE_STOPPED);
    lt_put_strn(&b, "\0", 1);
    ck_assert_int_eq(lt_frame_end(&b, off), 0);
    ck_assert_int_eq(decode_buf(&m, &b), -1);
    lt_msg_clear(&m);
    lt_buf_free(&b);

    lt_buf_init(&b);
    off = lt_frame_begin(&b, LT_FRAME_CLIENT_HELLO, 0);
    lt_buf_put(&b, LT_PROTO_MAGIC, 4);
    lt_put_u16(&b, LT_PROTO_MAJOR);
    lt_put_u16(&b, LT_PROTO_MINOR);
    lt_put_strn(&b, "lt\0", 3);
    ck_assert_int_eq(lt_frame_end(&b, off), 0);
    ck_assert_int_eq(decode_buf(&m, &b), -1);
    lt_msg_clear(&m);
    lt_buf_free(&b);
}
END_TEST

/* Writers cut strings at LT_STRING_MAX; readers refuse a longer string field. */
START_TEST(test_string_max)
{
    size_t n = LT_STRING_MAX + 5000;
    char *text = malloc(n);
    ck_assert_ptr_nonnull(text);
    memset(text, 'x', n);
    lt_buf b;
    lt_buf_init(&b);
    ck_assert_int_eq(lt_encode_string(&b, 1, text, n), 0);
    lt_msg m;
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(decode_buf(&m, &b), 0);
    ck_assert_uint_eq(m.u.string.len, LT_STRING_MAX);
    ck_assert_uint_eq(strlen(m.u.string.text), LT_STRING_MAX);
    lt_msg_clear(&m);
    lt_buf_free(&b);

    /* Hand-made: a string field of LT_STRING_MAX + 1 bytes. */
    lt_buf_init(&b);
    size_t off = lt_frame_begin(&b, LT_FRAME_STRING, 0);
    lt_put_u32(&b, 1);
    lt_put_u32(&b, LT_STRING_MAX + 1);
    lt_buf_put(&b, text, LT_STRING_MAX + 1);
    ck_assert_int_eq(lt_frame_end(&b, off), 0);
    ck_assert_int_eq(decode_buf(&m, &b), -1);
    lt_msg_clear(&m);
    lt_buf_free(&b);
    free(text);
}
END_TEST

/* The HELLO payload up to (not including) argc. */
static void
hello_head(lt_buf *b)
{
    lt_buf_put(b, LT_PROTO_MAGIC, 4);
    lt_put_u16(b, LT_PROTO_MAJOR);
    lt_put_u16(b, LT_PROTO_MINOR);
    lt_put_u32(b, 1);
    lt_put_u32(b, 1000);
    lt_put_u64(b, 0);
    lt_put_u32(b, 600);
    lt_put_str(b, "3.12.1");
    lt_put_str(b, "0.1.0");
    lt_put_str(b, "/usr/bin/python3");
}

/* Decode payload and report the memory the message holds before it is cleared: a decoder that
 * believed a lying count would have allocated for it. */
static int
decode_measure(const lt_buf *payload, uint16_t type, uint64_t *held)
{
    lt_msg m;
    memset(&m, 0, sizeof m);
    uint64_t base = lt_mem_in_use();
    int rc = decode_exact(&m, type, 0, payload->data, (uint32_t)payload->len);
    *held = lt_mem_in_use() - base;
    lt_msg_clear(&m);
    ck_assert_uint_eq(lt_mem_in_use(), base);
    return rc;
}

START_TEST(test_decode_absurd_argc)
{
    static const uint32_t lies[] = {0xffffffffu, 0x40000000u, 1000000u, 3u};
    uint64_t held;
    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        lt_buf b;
        lt_buf_init(&b);
        hello_head(&b);
        lt_put_u32(&b, lies[i]);
        lt_put_str(&b, ""); /* room for two empty strings: 8 bytes */
        lt_put_str(&b, "");
        ck_assert_int_eq(decode_measure(&b, LT_FRAME_HELLO, &held), -1);
        ck_assert_uint_lt(held, 4096);
        lt_buf_free(&b);
    }
    /* The same payload with the truth in it decodes. */
    lt_buf b;
    lt_buf_init(&b);
    hello_head(&b);
    lt_put_u32(&b, 2);
    lt_put_str(&b, "");
    lt_put_str(&b, "");
    ck_assert_int_eq(decode_measure(&b, LT_FRAME_HELLO, &held), 0);
    lt_buf_free(&b);
}
END_TEST

/* The SAMPLE payload up to (not including) ntypes. */
static void
sample_head(lt_buf *b)
{
    lt_put_u32(b, 1);
    for (int i = 0; i < 8; i++)
        lt_put_u64(b, 0);
    lt_put_u8(b, 1);
    for (int i = 0; i < 3 * LT_GENERATIONS + 1; i++)
        lt_put_u64(b, 0);
    lt_put_u32(b, 2);
    lt_put_u8(b, 1);
}

START_TEST(test_decode_absurd_ntypes)
{
    static const uint32_t lies[] = {0xffffffffu, 0x10000000u, 3u};
    uint64_t held;
    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        lt_buf b;
        lt_buf_init(&b);
        sample_head(&b);
        lt_put_u32(&b, lies[i]);
        for (int r = 0; r < 2; r++) { /* two rows: 40 bytes */
            lt_put_u32(&b, (uint32_t)r);
            lt_put_u64(&b, 1);
            lt_put_u64(&b, 2);
        }
        ck_assert_int_eq(decode_measure(&b, LT_FRAME_SAMPLE, &held), -1);
        ck_assert_uint_lt(held, 4096);
        lt_buf_free(&b);
    }
    lt_buf b;
    lt_buf_init(&b);
    sample_head(&b);
    lt_put_u32(&b, 2);
    for (int r = 0; r < 2; r++) {
        lt_put_u32(&b, (uint32_t)r);
        lt_put_u64(&b, 1);
        lt_put_u64(&b, 2);
    }
    ck_assert_int_eq(decode_measure(&b, LT_FRAME_SAMPLE, &held), 0);
    lt_buf_free(&b);
}
END_TEST

START_TEST(test_decode_len_over_max)
{
    static const uint8_t payload[8] = {0};
    lt_msg m;
    memset(&m, 0, sizeof m);
    /* The length is checked before a single byte is read. */
    ck_assert_int_eq(lt_decode(&m, LT_FRAME_DROPS, 0, payload, LT_FRAME_MAX + 1), -1);
    lt_msg_clear(&m);
}
END_TEST

/* A message reused for many frames frees each previous frame's memory. */
START_TEST(test_decode_reuse_frees)
{
    uint64_t base = lt_mem_in_use();
    lt_buf b;
    lt_buf_init(&b);
    encode_kind(&b, KIND_HELLO);
    uint16_t type, flags;
    const uint8_t *p;
    uint32_t len;
    split_one(&b, &type, &flags, &p, &len);
    lt_msg m;
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(lt_decode(&m, type, flags, p, len), 0);
    uint64_t one = lt_mem_in_use();
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(lt_decode(&m, type, flags, p, len), 0);
    ck_assert_uint_eq(lt_mem_in_use(), one);
    lt_msg_clear(&m);
    lt_buf_free(&b);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

/* ---- sample trimming and out of memory ---------------------------------------------------- */

START_TEST(test_sample_max_rows)
{
    static const struct {
        uint32_t max_rows;
        uint32_t want_rows;
        uint8_t want_complete;
    } cases[] = {{0, 6, 1}, {4, 4, 0}, {1, 1, 0}, {6, 6, 1}, {100, 6, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        lt_sample s = fixture_sample();
        lt_buf b;
        lt_buf_init(&b);
        ck_assert_int_eq(lt_encode_sample(&b, &s, 0, cases[c].max_rows), 0);
        lt_msg m;
        memset(&m, 0, sizeof m);
        ck_assert_int_eq(decode_buf(&m, &b), 0);
        ck_assert_uint_eq(m.u.sample.ntypes, cases[c].want_rows);
        ck_assert_uint_eq(m.u.sample.types_complete, cases[c].want_complete);
        ck_assert_uint_eq(m.u.sample.types_total, 6); /* the census size is not trimmed */
        for (uint32_t i = 0; i < cases[c].want_rows; i++)
            ck_assert_uint_eq(m.u.sample.types[i].name_id, fixture_rows[i].name_id);
        lt_msg_clear(&m);
        lt_buf_free(&b);
    }
    /* An incomplete census stays incomplete whatever the trimming. */
    lt_sample s = fixture_sample();
    s.types_complete = 0;
    lt_buf b;
    lt_buf_init(&b);
    ck_assert_int_eq(lt_encode_sample(&b, &s, 0, 0), 0);
    lt_msg m;
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(decode_buf(&m, &b), 0);
    ck_assert_uint_eq(m.u.sample.types_complete, 0);
    lt_msg_clear(&m);
    lt_buf_free(&b);
}
END_TEST

START_TEST(test_encode_out_of_memory)
{
    lt_buf b;
    lt_buf_init(&b);
    lt_mem_fail_after(1);
    lt_hello h = fixture_hello();
    ck_assert_int_eq(lt_encode_hello(&b, &h), -1);
    lt_mem_fail_after(0);
    ck_assert_int_eq(b.failed, 1);
    ck_assert_uint_eq(b.len, 0);
    /* Failed is sticky: nothing is appended later either. */
    ck_assert_int_eq(lt_encode_drops(&b, 1), -1);
    ck_assert_uint_eq(b.len, 0);
    lt_buf_free(&b);
    ck_assert_int_eq(b.failed, 0); /* lt_buf_free resets the buffer */

    /* A frame that needs to grow a buffer which already holds frames: the old frames stay. */
    lt_buf_init(&b);
    encode_kind(&b, KIND_DROPS);
    size_t before = b.len;
    uint8_t first[64];
    memcpy(first, b.data, before);
    lt_mem_fail_after(1);
    lt_sample s = fixture_sample();
    lt_type_row many[64];
    for (uint32_t i = 0; i < 64; i++)
        many[i] = (lt_type_row){i, i, i};
    s.types = many;
    s.ntypes = 64;
    ck_assert_int_eq(lt_encode_sample(&b, &s, 0, 0), -1);
    lt_mem_fail_after(0);
    ck_assert_uint_eq(b.len, before);
    ck_assert_mem_eq(b.data, first, before);
    lt_buf_free(&b);
}
END_TEST

static Suite *
proto_suite(void)
{
    Suite *s = suite_create("proto");
    TCase *tc = lt_test_tcase(s, "roundtrip");
    tcase_add_test(tc, test_roundtrip_hello);
    tcase_add_test(tc, test_roundtrip_hello_null_strings);
    tcase_add_test(tc, test_decode_1_0_payloads);
    tcase_add_test(tc, test_roundtrip_small_frames);
    tcase_add_test(tc, test_roundtrip_sample);
    tcase_add_test(tc, test_sample_1_0_decodes_as_fresh);
    tcase_add_test(tc, test_roundtrip_memory);
    tcase_add_test(tc, test_roundtrip_type_sites);
    tcase_add_test(tc, test_type_sites_bounds);
    tcase_add_test(tc, test_roundtrip_reencode_every_kind);
    tcase_add_test(tc, test_frame_names);
    tcase_add_test(tc, test_rec_process);
    tc = lt_test_tcase(s, "framer");
    tcase_add_test(tc, test_framer_one_byte_at_a_time);
    tcase_add_test(tc, test_framer_chunks);
    tcase_add_test(tc, test_framer_too_big);
    tcase_add_test(tc, test_framer_out_of_memory);
    tcase_add_test(tc, test_frame_end_too_big);
    tc = lt_test_tcase(s, "decode");
    tcase_add_test(tc, test_decode_truncated);
    tcase_add_test(tc, test_decode_trailing_bytes);
    tcase_add_test(tc, test_decode_unknown_type);
    tcase_add_test(tc, test_decode_bad_magic);
    tcase_add_test(tc, test_decode_embedded_nul);
    tcase_add_test(tc, test_string_max);
    tcase_add_test(tc, test_decode_absurd_argc);
    tcase_add_test(tc, test_decode_absurd_ntypes);
    tcase_add_test(tc, test_decode_len_over_max);
    tcase_add_test(tc, test_decode_reuse_frees);
    tc = lt_test_tcase(s, "encode");
    tcase_add_test(tc, test_sample_max_rows);
    tcase_add_test(tc, test_encode_out_of_memory);
    return s;
}

int
main(void)
{
    return lt_test_run(proto_suite());
}
