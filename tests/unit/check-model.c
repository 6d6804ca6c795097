/* tui/model.c: the viewer's model of a process, built frame by frame. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "leaktop/mem.h"
#include "tui/breakdown.h"
#include "tui/model.h"

/* ---- frames, made by hand (the model only reads decoded messages) ------------------------ */

static const char *const argv_fixture[] = {"python3", "app.py", "--port=80"};

static lt_msg
hello(uint16_t major)
{
    lt_msg m;
    memset(&m, 0, sizeof m);
    m.type = LT_FRAME_HELLO;
    m.u.hello = (lt_hello){
        .major = major,
        .minor = 3,
        .pid = 4242,
        .interval_ms = 500,
        .start_wall_ns = 1,
        .history_capacity = 10,
        .python_version = "3.12.1",
        .agent_version = "0.1.0",
        .executable = "/usr/bin/python3",
        .argc = 3,
        .argv = (const char **)argv_fixture,
    };
    return m;
}

static lt_msg
string(uint32_t id, const char *text)
{
    lt_msg m;
    memset(&m, 0, sizeof m);
    m.type = LT_FRAME_STRING;
    m.u.string.id = id;
    m.u.string.text = text;
    m.u.string.len = (uint32_t)strlen(text);
    return m;
}

static lt_msg
sample(uint32_t seq, int complete, lt_type_row *rows, uint32_t n, uint16_t flags)
{
    lt_msg m;
    memset(&m, 0, sizeof m);
    m.type = LT_FRAME_SAMPLE;
    m.flags = flags;
    lt_sample *s = &m.u.sample;
    s->seq = seq;
    s->wall_ns = 1000u + seq;
    s->mono_ns = (uint64_t)seq * 1000000000u;
    s->rss_bytes = 100u + seq;
    s->rss_peak_bytes = 200u + seq;
    s->heap_bytes = 300u + seq;
    s->census_ns = 400u + seq;
    s->tracked_objects = 500u + seq;
    s->agent_bytes = 600u + seq;
    s->gc_enabled = seq % 2;
    for (int g = 0; g < LT_GENERATIONS; g++) {
        s->gc_collections[g] = 10u * seq + (unsigned)g;
        s->gc_collected[g] = 20u * seq + (unsigned)g;
        s->gc_uncollectable[g] = 30u * seq + (unsigned)g;
    }
    s->gc_garbage = seq;
    s->types_total = n + (complete ? 0 : 100);
    s->types_complete = (uint8_t)complete;
    s->ntypes = n;
    s->types = rows;
    return m;
}

static lt_msg
simple(uint16_t type)
{
    lt_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    return m;
}

static void
apply_ok(lt_model *md, lt_msg m)
{
    char *cause = NULL;
    ck_assert_msg(lt_model_apply(md, &m, &cause) == 0, "%s frame refused: %s",
                  lt_frame_name(m.type), cause ? cause : "?");
    ck_assert_ptr_null(cause);
}

static const lt_type_series *
series(const lt_model *md, uint32_t name_id)
{
    for (uint32_t i = 0; i < md->ntypes; i++)
        if (md->types[i].name_id == name_id)
            return &md->types[i];
    ck_abort_msg("no series for name %u", name_id);
    return NULL;
}

/* count of name_id in the i-th oldest point. */
static uint64_t
count_at(const lt_model *md, uint32_t name_id, uint32_t i)
{
    return series(md, name_id)->count[lt_model_slot(md, i)];
}

static uint64_t
bytes_at(const lt_model *md, uint32_t name_id, uint32_t i)
{
    return series(md, name_id)->bytes[lt_model_slot(md, i)];
}

/* ---- tests ------------------------------------------------------------------------------ */

START_TEST(test_hello_first)
{
    uint64_t base = lt_mem_in_use();
    lt_model md;
    ck_assert_int_eq(lt_model_init(&md, 8), 0);
    lt_type_row rows[1] = {{1, 1, 1}};
    lt_msg before[] = {sample(0, 1, rows, 1, 0), string(1, "x"), simple(LT_FRAME_HISTORY_END),
                       simple(LT_FRAME_BYE)};
    for (size_t i = 0; i < sizeof before / sizeof before[0]; i++) {
        char *cause = NULL;
        ck_assert_int_eq(lt_model_apply(&md, &before[i], &cause), -1);
        ck_assert_ptr_nonnull(cause);
        ck_assert_ptr_nonnull(strstr(cause, "before saying hello"));
        ck_assert_ptr_nonnull(strstr(cause, lt_frame_name(before[i].type)));
        lt_free(cause);
    }
    ck_assert_uint_eq(md.n, 0);
    ck_assert_int_eq(md.have_hello, 0);

    /* Another major version is refused with a reason. */
    lt_msg h2 = hello(LT_PROTO_MAJOR + 1);
    char *cause = NULL;
    ck_assert_int_eq(lt_model_apply(&md, &h2, &cause), -1);
    ck_assert_ptr_nonnull(strstr(cause, "protocol"));
    lt_free(cause);
    ck_assert_int_eq(md.have_hello, 0);

    apply_ok(&md, hello(LT_PROTO_MAJOR));
    ck_assert_int_eq(md.have_hello, 1);
    ck_assert_uint_eq(md.major, LT_PROTO_MAJOR);
    ck_assert_uint_eq(md.minor, 3);
    ck_assert_uint_eq(md.pid, 4242);
    ck_assert_uint_eq(md.interval_ms, 500);
    ck_assert_str_eq(md.python_version, "3.12.1");
    ck_assert_str_eq(md.agent_version, "0.1.0");
    ck_assert_str_eq(md.executable, "/usr/bin/python3");
    ck_assert_uint_eq(md.argc, 3);
    for (uint32_t i = 0; i < 3; i++)
        ck_assert_str_eq(md.argv[i], argv_fixture[i]);
    /* A second HELLO (a reconnect) replaces the first without leaking it. */
    apply_ok(&md, hello(LT_PROTO_MAJOR));
    ck_assert_uint_eq(md.argc, 3);
    lt_model_free(&md);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_strings)
{
    uint64_t base = lt_mem_in_use();
    lt_model md;
    ck_assert_int_eq(lt_model_init(&md, 8), 0);
    apply_ok(&md, hello(LT_PROTO_MAJOR));
    apply_ok(&md, string(3, "app.Order"));
    apply_ok(&md, string(0, "(string table full)"));
    apply_ok(&md, string(5000, "far.Away")); /* grows the table past its first size */
    ck_assert_str_eq(lt_model_string(&md, 3), "app.Order");
    ck_assert_str_eq(lt_model_string(&md, 0), "(string table full)");
    ck_assert_str_eq(lt_model_string(&md, 5000), "far.Away");
    ck_assert_str_eq(lt_model_string(&md, 4), "?");
    ck_assert_str_eq(lt_model_string(&md, 4999), "?");
    ck_assert_str_eq(lt_model_string(&md, 1u << 30), "?");
    apply_ok(&md, string(3, "app.Order2")); /* an id redefined: the new text wins */
    ck_assert_str_eq(lt_model_string(&md, 3), "app.Order2");

    lt_msg bad = string(LT_STRTAB_LIMIT, "too far");
    char *cause = NULL;
    ck_assert_int_eq(lt_model_apply(&md, &bad, &cause), -1);
    ck_assert_ptr_nonnull(cause);
    lt_free(cause);
    ck_assert_str_eq(lt_model_string(&md, LT_STRTAB_LIMIT), "?");
    lt_model_free(&md);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_samples_and_absent_types)
{
    uint64_t base = lt_mem_in_use();
    lt_model md;
    ck_assert_int_eq(lt_model_init(&md, 8), 0);
    apply_ok(&md, hello(LT_PROTO_MAJOR));

    lt_type_row s0[] = {{1, 10, 100}, {2, 5, 50}};
    apply_ok(&md, sample(0, 1, s0, 2, 0));
    ck_assert_uint_eq(md.n, 1);
    ck_assert_uint_eq(md.ntypes, 2);
    ck_assert_uint_eq(count_at(&md, 1, 0), 10);
    ck_assert_uint_eq(bytes_at(&md, 1, 0), 100);
    ck_assert_uint_eq(count_at(&md, 2, 0), 5);

    /* A complete census without type 2: it has no objects now. */
    lt_type_row s1[] = {{1, 11, 110}};
    apply_ok(&md, sample(1, 1, s1, 1, 0));
    ck_assert_uint_eq(count_at(&md, 1, 1), 11);
    ck_assert_uint_eq(count_at(&md, 2, 1), 0);
    ck_assert_uint_eq(bytes_at(&md, 2, 1), 0);

    /* A trimmed census without type 1 says nothing about it. */
    lt_type_row s2[] = {{2, 7, 70}};
    apply_ok(&md, sample(2, 0, s2, 1, 0));
    ck_assert_uint_eq(count_at(&md, 1, 2), LT_UNKNOWN);
    ck_assert_uint_eq(bytes_at(&md, 1, 2), LT_UNKNOWN);
    ck_assert_uint_eq(count_at(&md, 2, 2), 7);

    /* A type first seen later is unknown before, and the earlier values are untouched. */
    lt_type_row s3[] = {{1, 12, 120}, {2, 8, 80}, {9, 1, 16}};
    apply_ok(&md, sample(3, 1, s3, 3, 0));
    ck_assert_uint_eq(md.ntypes, 3);
    ck_assert_uint_eq(count_at(&md, 9, 3), 1);
    ck_assert_uint_eq(count_at(&md, 9, 0), LT_UNKNOWN);
    ck_assert_uint_eq(count_at(&md, 9, 2), LT_UNKNOWN);
    ck_assert_uint_eq(count_at(&md, 1, 0), 10);
    ck_assert_uint_eq(count_at(&md, 2, 1), 0);

    /* The scalars of a point. */
    const lt_point *p = lt_model_point(&md, 3);
    ck_assert_uint_eq(p->seq, 3);
    ck_assert_int_eq(p->history, 0);
    ck_assert_int_eq(p->types_complete, 1);
    ck_assert_uint_eq(p->wall_ns, 1003);
    ck_assert_uint_eq(p->mono_ns, 3000000000ull);
    ck_assert_uint_eq(p->rss, 103);
    ck_assert_uint_eq(p->rss_peak, 203);
    ck_assert_uint_eq(p->heap, 303);
    ck_assert_uint_eq(p->census_ns, 403);
    ck_assert_uint_eq(p->tracked, 503);
    ck_assert_uint_eq(p->agent_bytes, 603);
    ck_assert_int_eq(p->gc_enabled, 1);
    ck_assert_uint_eq(p->gc_collections[2], 32);
    ck_assert_uint_eq(p->gc_collected[1], 61);
    ck_assert_uint_eq(p->gc_uncollectable[0], 90);
    ck_assert_uint_eq(p->gc_garbage, 3);
    ck_assert_uint_eq(p->types_total, 3);
    ck_assert_int_eq(lt_model_point(&md, 2)->types_complete, 0);
    ck_assert_uint_eq(lt_model_point(&md, 2)->types_total, 101);

    lt_model_free(&md);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

/* How old a point's counts are: shown only past two intervals (HELLO: 500 ms). */
START_TEST(test_counts_age)
{
    uint64_t base = lt_mem_in_use();
    lt_model md;
    ck_assert_int_eq(lt_model_init(&md, 8), 0);
    apply_ok(&md, hello(LT_PROTO_MAJOR));
    lt_type_row rows[] = {{1, 10, 100}};
    lt_msg m = sample(20, 1, rows, 1, 0); /* mono 20 s */
    m.u.sample.counts_mono_ns = 8000000000ull; /* a census that ended 12 s ago */
    m.u.sample.counts_exact = 1;
    m.u.sample.census_slices = 300;
    m.u.sample.budget_ppm = 10000;
    apply_ok(&md, m);
    m = sample(21, 1, rows, 1, 0);
    m.u.sample.counts_mono_ns = 20500000000ull; /* 0.5 s ago: fresh */
    apply_ok(&md, m);
    m = sample(22, 1, rows, 1, 0);
    m.u.sample.counts_mono_ns = 0; /* unknown: taken as fresh */
    apply_ok(&md, m);
    const lt_point *p = lt_model_point(&md, 0);
    ck_assert(lt_model_counts_age(&md, p) > 11.99 && lt_model_counts_age(&md, p) < 12.01);
    ck_assert_int_eq(p->counts_exact, 1);
    ck_assert_uint_eq(p->census_slices, 300);
    ck_assert_uint_eq(p->budget_ppm, 10000);
    ck_assert(lt_model_counts_age(&md, lt_model_point(&md, 1)) == 0.0);
    ck_assert(lt_model_counts_age(&md, lt_model_point(&md, 2)) == 0.0);
    ck_assert_int_eq(lt_model_point(&md, 1)->counts_exact, 0);
    lt_model_free(&md);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_ring_wraps)
{
    lt_model md;
    ck_assert_int_eq(lt_model_init(&md, 3), 0);
    apply_ok(&md, hello(LT_PROTO_MAJOR));
    for (uint32_t seq = 0; seq < 7; seq++) {
        lt_type_row rows[] = {{1, 100 + seq, 1}, {2, 200 + seq, 1}};
        /* Sample 5 is trimmed and lists only type 2; sample 6 lists nothing. */
        uint32_t n = seq == 6 ? 0 : seq == 5 ? 1 : 2;
        apply_ok(&md, sample(seq, seq != 5, seq == 5 ? rows + 1 : rows, n, 0));
        ck_assert_uint_eq(md.n, seq + 1 < 3 ? seq + 1 : 3);
    }
    /* The last three, oldest first, with the values of their own samples. */
    for (uint32_t i = 0; i < 3; i++)
        ck_assert_uint_eq(lt_model_point(&md, i)->seq, 4 + i);
    ck_assert_uint_eq(count_at(&md, 1, 0), 104);
    ck_assert_uint_eq(count_at(&md, 2, 0), 204);
    ck_assert_uint_eq(count_at(&md, 1, 1), LT_UNKNOWN); /* trimmed sample 5 */
    ck_assert_uint_eq(count_at(&md, 2, 1), 205);
    ck_assert_uint_eq(count_at(&md, 1, 2), 0); /* complete, empty sample 6 */
    ck_assert_uint_eq(count_at(&md, 2, 2), 0);
    /* Slots are a permutation of the ring. */
    uint32_t seen = 0;
    for (uint32_t i = 0; i < 3; i++)
        seen |= 1u << lt_model_slot(&md, i);
    ck_assert_uint_eq(seen, 7);
    lt_model_free(&md);
}
END_TEST

START_TEST(test_other_frames)
{
    uint64_t base = lt_mem_in_use();
    lt_model md;
    ck_assert_int_eq(lt_model_init(&md, 4), 0);
    apply_ok(&md, hello(LT_PROTO_MAJOR));

    lt_type_row rows[] = {{1, 1, 1}};
    apply_ok(&md, sample(0, 1, rows, 1, LT_FLAG_HISTORY));
    ck_assert_int_eq(lt_model_point(&md, 0)->history, 1);
    ck_assert_int_eq(md.history_done, 0);
    apply_ok(&md, simple(LT_FRAME_HISTORY_END));
    ck_assert_int_eq(md.history_done, 1);
    apply_ok(&md, sample(1, 1, rows, 1, 0));
    ck_assert_int_eq(lt_model_point(&md, 1)->history, 0);

    lt_msg d = simple(LT_FRAME_DROPS);
    d.u.drops = 17;
    apply_ok(&md, d);
    ck_assert_uint_eq(md.drops, 17);

    /* Replies and unknown frames change nothing. */
    lt_msg r = simple(LT_FRAME_REPLY);
    r.u.reply.message = "pong";
    apply_ok(&md, r);
    apply_ok(&md, simple(4711));
    ck_assert_uint_eq(md.n, 2);

    lt_msg b = simple(LT_FRAME_BYE);
    b.u.bye.reason = 0; /* an unset reason still means the agent said goodbye */
    b.u.bye.message = "the agent was stopped";
    apply_ok(&md, b);
    ck_assert_int_eq(md.bye, LT_BYE_STOPPED);
    ck_assert_str_eq(md.bye_message, "the agent was stopped");
    b.u.bye.reason = LT_BYE_EXITING;
    b.u.bye.message = "the process is exiting";
    apply_ok(&md, b);
    ck_assert_int_eq(md.bye, LT_BYE_EXITING);
    ck_assert_str_eq(md.bye_message, "the process is exiting");
    lt_model_free(&md);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

static lt_msg
memory(uint32_t seq)
{
    lt_msg m = simple(LT_FRAME_MEMORY);
    lt_memory *x = &m.u.memory;
    x->seq = seq;
    x->have = LT_MEM_HAVE_PYMALLOC | LT_MEM_HAVE_MALLOC | LT_MEM_HAVE_STATUS;
    x->py_arenas = 3;
    x->py_arena_bytes = 3u << 20;
    x->py_used_bytes = 2u << 20;
    x->heap_used_bytes = 5000;
    x->heap_mmap_bytes = 1u << 20;
    x->heap_free_bytes = 700;
    x->rss_anon = 5u << 20;
    x->rss_file = 1u << 20;
    x->rss_shmem = 4096;
    x->vm_size = 100u << 20;
    return m;
}

/* TYPE_SITES answers are kept per type name, a newer one replacing the older, the oldest type
 * going first when the store is full; rows beyond the model's bound are cut. */
START_TEST(test_type_sites_answers)
{
    uint64_t base = lt_mem_in_use();
    lt_model md;
    ck_assert_int_eq(lt_model_init(&md, 4), 0);
    apply_ok(&md, hello(LT_PROTO_MAJOR));
    ck_assert_ptr_null(lt_model_type_sites_get(&md, 5));
    lt_type_site_row rows[LT_MODEL_TYPE_SITE_ROWS + 3];
    for (uint32_t i = 0; i < LT_MODEL_TYPE_SITE_ROWS + 3; i++)
        rows[i] = (lt_type_site_row){100 + i, 5000 - i, 50, 3};
    lt_msg t = simple(LT_FRAME_TYPE_SITES);
    t.u.type_sites = (lt_type_sites_msg){.name_id = 5, .instances = 900, .sampled = 12,
                                         .sample_interval_bytes = 4096, .walk_us = 2500,
                                         .note = "", .nrows = 2, .rows = rows};
    apply_ok(&md, t);
    const lt_model_type_sites *got = lt_model_type_sites_get(&md, 5);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(got->instances, 900);
    ck_assert_uint_eq(got->sampled, 12);
    ck_assert_uint_eq(got->sample_interval, 4096);
    ck_assert_double_eq_tol(got->walk_ms, 2.5, 1e-9);
    ck_assert_uint_eq(got->nrows, 2);
    ck_assert_uint_eq(got->rows[1].trace_id, 101);
    /* A newer answer about the same type replaces it. */
    t.u.type_sites.nrows = LT_MODEL_TYPE_SITE_ROWS + 3;
    t.u.type_sites.note = "again";
    apply_ok(&md, t);
    ck_assert_uint_eq(md.ntype_sites, 1);
    got = lt_model_type_sites_get(&md, 5);
    ck_assert_uint_eq(got->nrows, LT_MODEL_TYPE_SITE_ROWS);
    ck_assert_str_eq(got->note, "again");
    /* Full: the oldest type goes first. */
    for (uint32_t id = 6; id < 6 + LT_MODEL_MAX_TYPE_SITES; id++) {
        t.u.type_sites.name_id = id;
        apply_ok(&md, t);
    }
    ck_assert_uint_eq(md.ntype_sites, LT_MODEL_MAX_TYPE_SITES);
    ck_assert_ptr_null(lt_model_type_sites_get(&md, 5));
    ck_assert_ptr_nonnull(lt_model_type_sites_get(&md, 6));
    ck_assert_ptr_nonnull(lt_model_type_sites_get(&md, 5 + LT_MODEL_MAX_TYPE_SITES));
    lt_model_free(&md);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

/* A pymalloc reading the agent put off (py_age samples old) is that old in seconds: from the time
 * of the sample it was read at while the model holds it, else py_age intervals. */
START_TEST(test_pymalloc_reading_age)
{
    uint64_t base = lt_mem_in_use();
    lt_model md;
    ck_assert_int_eq(lt_model_init(&md, 4), 0);
    lt_msg h = hello(LT_PROTO_MAJOR);
    apply_ok(&md, h);
    lt_type_row rows[] = {{1, 1, 1}};
    for (uint32_t seq = 10; seq < 16; seq++) { /* 1 s apart; the ring keeps 12-15 */
        apply_ok(&md, sample(seq, 1, rows, 1, 0));
        lt_msg m = memory(seq);
        m.u.memory.py_age = seq - 10; /* read at sample 10, carried since */
        apply_ok(&md, m);
    }
    ck_assert_uint_eq(md.n, 4);
    ck_assert_double_eq_tol(lt_model_py_age_s(&md, 3), 5.0 * md.interval_ms / 1e3, 1e-9);
    /* Read at a sample the model holds: its time. */
    apply_ok(&md, sample(16, 1, rows, 1, 0));
    lt_msg m = memory(16);
    m.u.memory.py_age = 2; /* read at sample 14 */
    apply_ok(&md, m);
    ck_assert_double_eq_tol(lt_model_py_age_s(&md, 3), 2.0, 1e-9);
    m = memory(16);
    m.u.memory.py_age = 0;
    apply_ok(&md, m);
    ck_assert_double_eq_tol(lt_model_py_age_s(&md, 3), 0.0, 1e-9);
    lt_model_free(&md);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

/* MEMORY joins the SAMPLE of its seq; the breakdown's parts add up to the RSS. */
START_TEST(test_memory_and_breakdown)
{
    uint64_t base = lt_mem_in_use();
    lt_model md;
    ck_assert_int_eq(lt_model_init(&md, 4), 0);
    apply_ok(&md, hello(LT_PROTO_MAJOR));
    apply_ok(&md, memory(0)); /* before any sample: nowhere to go */
    lt_type_row rows[] = {{1, 1, 1}};
    apply_ok(&md, sample(7, 1, rows, 1, 0));
    apply_ok(&md, memory(6)); /* another census's: ignored */
    ck_assert_int_eq(lt_model_point(&md, 0)->have_memory, 0);
    lt_breakdown b;
    lt_breakdown_of(lt_model_point(&md, 0), &b);
    ck_assert_int_eq(b.valid, 0);
    ck_assert_uint_eq(lt_breakdown_value(&md, 0, LT_PART_PY_USED), LT_UNKNOWN);
    apply_ok(&md, memory(7));
    const lt_point *p = lt_model_point(&md, 0);
    ck_assert_int_eq(p->have_memory, 1);
    ck_assert_uint_eq(p->mem.vm_size, 100u << 20);

    lt_breakdown_of(p, &b);
    ck_assert_int_eq(b.valid, 1);
    ck_assert_uint_eq(b.rss, (6u << 20) + 4096);
    ck_assert_int_eq(b.part[LT_PART_PY_USED], 2 << 20);
    ck_assert_int_eq(b.part[LT_PART_PY_FREE], 1 << 20);
    ck_assert_int_eq(b.part[LT_PART_AGENT], 607); /* the sample's agent_bytes */
    ck_assert_int_eq(b.part[LT_PART_NATIVE_USED], 5000 + (1 << 20) - 607);
    ck_assert_int_eq(b.part[LT_PART_NATIVE_FREE], 700);
    ck_assert_int_eq(b.part[LT_PART_FILE], (1 << 20) + 4096);
    int64_t sum = 0;
    for (int k = 0; k < LT_PART_COUNT; k++)
        sum += b.part[k];
    ck_assert_int_eq(sum, (int64_t)b.rss);
    ck_assert_int_eq(b.part[LT_PART_OTHER], (int64_t)(6u << 20) + 4096 - (3 << 20) -
                                                5000 - (1 << 20) - 700 - (1 << 20) - 4096);
    ck_assert_uint_eq(lt_breakdown_value(&md, 0, LT_PART_NATIVE_FREE), 700);

    /* Without pymalloc (PYTHONMALLOC=malloc), its parts are 0 and "unexplained" grows. */
    lt_msg m = memory(8);
    m.u.memory.have &= ~(uint32_t)LT_MEM_HAVE_PYMALLOC;
    apply_ok(&md, sample(8, 1, rows, 1, 0));
    apply_ok(&md, m);
    lt_breakdown_of(lt_model_point(&md, 1), &b);
    ck_assert_int_eq(b.have_py, 0);
    ck_assert_int_eq(b.part[LT_PART_PY_USED], 0);
    ck_assert_int_eq(b.part[LT_PART_OTHER], (int64_t)(6u << 20) + 4096 - 5000 - (1 << 20) -
                                                700 - (1 << 20) - 4096);
    ck_assert_str_eq(lt_part_json(LT_PART_OTHER), "unexplained_bytes");
    lt_model_free(&md);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_type_limits)
{
    uint64_t base = lt_mem_in_use();
    lt_model md;
    ck_assert_int_eq(lt_model_init(&md, 2), 0);
    apply_ok(&md, hello(LT_PROTO_MAJOR));
    uint32_t n = LT_MODEL_MAX_TYPES + 10;
    lt_type_row *rows = calloc(n + 1, sizeof *rows);
    ck_assert_ptr_nonnull(rows);
    for (uint32_t i = 0; i < n; i++)
        rows[i] = (lt_type_row){i, i + 1, 8};
    rows[n] = (lt_type_row){LT_STRTAB_LIMIT + 5, 1, 1}; /* an id no string can have */
    apply_ok(&md, sample(0, 1, rows, n + 1, 0));
    ck_assert_uint_eq(md.ntypes, LT_MODEL_MAX_TYPES);
    ck_assert_uint_eq(md.types_refused, 10);
    ck_assert_uint_eq(count_at(&md, 0, 0), 1);
    ck_assert_uint_eq(count_at(&md, LT_MODEL_MAX_TYPES - 1, 0), LT_MODEL_MAX_TYPES);
    free(rows);
    lt_model_free(&md);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

static Suite *
model_suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = lt_test_tcase(s, "model");
    tcase_add_test(tc, test_hello_first);
    tcase_add_test(tc, test_strings);
    tcase_add_test(tc, test_samples_and_absent_types);
    tcase_add_test(tc, test_counts_age);
    tcase_add_test(tc, test_ring_wraps);
    tcase_add_test(tc, test_other_frames);
    tcase_add_test(tc, test_type_sites_answers);
    tcase_add_test(tc, test_type_limits);
    tcase_add_test(tc, test_memory_and_breakdown);
    tcase_add_test(tc, test_pymalloc_reading_age);
    return s;
}

int
main(void)
{
    return lt_test_run(model_suite());
}
