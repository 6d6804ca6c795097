/* tui/report.c: slopes, and the check report built from a hand-made model. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "leaktop/mem.h"
#include "tui/report.h"

#define SEC 1000000000ull
#define MB (1024.0 * 1024.0)

START_TEST(test_slope_exact_lines)
{
    double x[] = {0, 1, 2, 3, 4};
    double y[5];
    for (int i = 0; i < 5; i++)
        y[i] = 2 * x[i] + 1;
    ck_assert_double_eq_tol(lt_slope(x, y, 5), 2.0, 1e-12);
    for (int i = 0; i < 5; i++)
        y[i] = 7 - 0.5 * x[i];
    ck_assert_double_eq_tol(lt_slope(x, y, 5), -0.5, 1e-12);
    for (int i = 0; i < 5; i++)
        y[i] = 42;
    ck_assert_double_eq_tol(lt_slope(x, y, 5), 0.0, 1e-12);
    /* Uneven spacing, large offsets (timestamps): still exact. */
    double tx[] = {1e6, 1e6 + 0.5, 1e6 + 2, 1e6 + 7};
    double ty[4];
    for (int i = 0; i < 4; i++)
        ty[i] = 3e9 + 1000 * (tx[i] - 1e6);
    ck_assert_double_eq_tol(lt_slope(tx, ty, 4), 1000.0, 1e-6);
    /* Two points are a line. */
    ck_assert_double_eq_tol(lt_slope(x, y, 2), 0.0, 1e-12);
    double y2[] = {1, 4};
    ck_assert_double_eq_tol(lt_slope(x, y2, 2), 3.0, 1e-12);
}
END_TEST

START_TEST(test_slope_degenerate)
{
    double x[] = {5, 5, 5};
    double y[] = {1, 2, 3};
    ck_assert_double_eq(lt_slope(x, y, 3), 0.0); /* x constant: no slope, not NaN */
    ck_assert_double_eq(lt_slope(x, y, 1), 0.0);
    ck_assert_double_eq(lt_slope(x, y, 0), 0.0);
    /* Symmetric noise around a line leaves the slope of the line. */
    double nx[] = {0, 1, 2, 3, 4, 5};
    double ny[] = {0 + 1, 10 - 1, 20 + 1, 30 - 1, 40 + 1, 50 - 1};
    double s = lt_slope(nx, ny, 6);
    ck_assert(isfinite(s));
    ck_assert_double_eq_tol(s, 10.0, 0.5);
}
END_TEST

/* ---- a hand-built model ------------------------------------------------------------------- */

static void
apply(lt_model *md, lt_msg *m)
{
    char *cause = NULL;
    ck_assert_msg(lt_model_apply(md, m, &cause) == 0, "%s", cause ? cause : "?");
}

static const char *const argv_fixture[] = {"python3", "app.py"};

static void
model_hello(lt_model *md)
{
    lt_msg m;
    memset(&m, 0, sizeof m);
    m.type = LT_FRAME_HELLO;
    m.u.hello = (lt_hello){.major = LT_PROTO_MAJOR, .pid = 99, .interval_ms = 1000,
                           .python_version = "3.11.4", .agent_version = "0.1.0",
                           .executable = "/usr/bin/python3", .argc = 2,
                           .argv = (const char **)argv_fixture};
    apply(md, &m);
    static const char *const names[] = {"?", "A", "B", "C", "D", "E"};
    for (uint32_t id = 1; id <= 5; id++) {
        memset(&m, 0, sizeof m);
        m.type = LT_FRAME_STRING;
        m.u.string.id = id;
        m.u.string.text = names[id];
        apply(md, &m);
    }
}

/* Sample i at i seconds. A grows by 10 a second, B stays, C shrinks, D is gone by the last
 * sample, E appears at sample 2. rss grows by 1 MiB a second, heap by 2 MiB. */
static void
model_sample(lt_model *md, uint32_t i, uint32_t last)
{
    lt_type_row rows[5];
    uint32_t n = 0;
    rows[n++] = (lt_type_row){1, 10 + 10 * i, 64 * (10 + 10 * i)};
    rows[n++] = (lt_type_row){2, 100, 5000};
    rows[n++] = (lt_type_row){3, 50 - 10 * i, 32 * (50 - 10 * i)};
    if (i < last)
        rows[n++] = (lt_type_row){4, 5, 5};
    if (i >= 2)
        rows[n++] = (lt_type_row){5, 1000 + (i - 2), 8000};
    lt_msg m;
    memset(&m, 0, sizeof m);
    m.type = LT_FRAME_SAMPLE;
    lt_sample *s = &m.u.sample;
    s->seq = i;
    s->mono_ns = 7 * SEC + i * SEC; /* the clock does not start at 0 */
    s->rss_bytes = (uint64_t)((100 + i) * MB);
    s->rss_peak_bytes = i == 1 ? (uint64_t)(500 * MB) : s->rss_bytes;
    s->heap_bytes = (uint64_t)((50 + 2 * i) * MB);
    s->census_ns = i == 1 ? 9000000 : 2000000; /* 9 ms once, 2 ms otherwise */
    s->tracked_objects = 1000 + i;
    s->agent_bytes = 4096;
    s->gc_enabled = 1;
    s->gc_collections[0] = 10 * i;
    s->gc_collections[1] = i;
    s->gc_uncollectable[0] = 1;
    s->gc_uncollectable[2] = 2;
    s->types_complete = 1;
    s->types_total = n;
    s->ntypes = n;
    s->types = rows;
    apply(md, &m);
}

static const lt_type_report *
find(const lt_report *r, const char *name)
{
    for (uint32_t i = 0; i < r->ntypes; i++)
        if (strcmp(r->types[i].name, name) == 0)
            return &r->types[i];
    return NULL;
}

START_TEST(test_report_build)
{
    uint64_t base = lt_mem_in_use();
    lt_model md;
    ck_assert_int_eq(lt_model_init(&md, 16), 0);
    model_hello(&md);
    for (uint32_t i = 0; i < 4; i++)
        model_sample(&md, i, 3);

    lt_report r;
    char *cause = NULL;
    ck_assert_int_eq(lt_report_build(&r, &md, 0, 0, &cause), 0);
    ck_assert_ptr_null(cause);
    ck_assert_uint_eq(r.samples, 4);
    ck_assert_double_eq_tol(r.duration_s, 3.0, 1e-9);
    ck_assert_uint_eq(r.pid, 99);
    ck_assert_str_eq(r.python, "3.11.4");
    ck_assert_uint_eq(r.argc, 2);
    ck_assert_str_eq(r.command[1], "app.py");
    ck_assert_uint_eq(r.rss, (uint64_t)(103 * MB));
    ck_assert_uint_eq(r.rss_peak, (uint64_t)(500 * MB));
    ck_assert_double_eq_tol(r.rss_growth, MB, 1e-3);
    ck_assert_uint_eq(r.heap, (uint64_t)(56 * MB));
    ck_assert_double_eq_tol(r.heap_growth, 2 * MB, 1e-3);
    ck_assert_double_eq_tol(r.census_ms_last, 2.0, 1e-9);
    ck_assert_double_eq_tol(r.census_ms_max, 9.0, 1e-9);
    ck_assert_uint_eq(r.tracked, 1003);
    ck_assert_uint_eq(r.agent_bytes, 4096);
    ck_assert_int_eq(r.gc_enabled, 1);
    ck_assert_uint_eq(r.gc_collections[0], 30);
    ck_assert_uint_eq(r.gc_collections[1], 3);
    ck_assert_uint_eq(r.gc_uncollectable, 3);

    /* D has no objects at the end: not listed. The rest sorted by delta, largest first. */
    ck_assert_uint_eq(r.ntypes, 4);
    ck_assert_ptr_null(find(&r, "D"));
    ck_assert_str_eq(r.types[0].name, "A");
    ck_assert_str_eq(r.types[1].name, "E");
    ck_assert_str_eq(r.types[2].name, "B");
    ck_assert_str_eq(r.types[3].name, "C");
    const lt_type_report *a = find(&r, "A");
    ck_assert_uint_eq(a->count, 40);
    ck_assert_uint_eq(a->bytes, 64 * 40);
    ck_assert_int_eq(a->delta, 30);
    ck_assert_double_eq_tol(a->growth_per_s, 10.0, 1e-9);
    const lt_type_report *b = find(&r, "B");
    ck_assert_int_eq(b->delta, 0);
    ck_assert_double_eq_tol(b->growth_per_s, 0.0, 1e-9);
    const lt_type_report *c = find(&r, "C");
    ck_assert_uint_eq(c->count, 20);
    ck_assert_int_eq(c->delta, -30);
    ck_assert_double_eq_tol(c->growth_per_s, -10.0, 1e-9);
    /* E was first seen at sample 2: its delta and growth start there. */
    const lt_type_report *e = find(&r, "E");
    ck_assert_uint_eq(e->count, 1001);
    ck_assert_int_eq(e->delta, 1);
    ck_assert_double_eq_tol(e->growth_per_s, 1.0, 1e-9);
    lt_report_free(&r);
    ck_assert_ptr_null(r.types);

    /* top keeps the first ones. */
    ck_assert_int_eq(lt_report_build(&r, &md, 0, 2, &cause), 0);
    ck_assert_uint_eq(r.ntypes, 2);
    ck_assert_str_eq(r.types[0].name, "A");
    ck_assert_str_eq(r.types[1].name, "E");
    lt_report_free(&r);

    /* From point 2 on: the earlier points are history from before the watch. */
    ck_assert_int_eq(lt_report_build(&r, &md, 2, 0, &cause), 0);
    ck_assert_uint_eq(r.samples, 2);
    ck_assert_double_eq_tol(r.duration_s, 1.0, 1e-9);
    ck_assert_uint_eq(r.rss_peak, (uint64_t)(103 * MB)); /* the old peak is outside the watch */
    ck_assert_double_eq_tol(r.census_ms_max, 2.0, 1e-9);
    a = find(&r, "A");
    ck_assert_int_eq(a->delta, 10);
    ck_assert_double_eq_tol(a->growth_per_s, 10.0, 1e-9);
    lt_report_free(&r);

    lt_model_free(&md);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

/* MEMORY with each sample (the VmSize growing 4 MiB a second), a limit read, the report written:
 * the breakdown and the forecast are in the JSON, and without MEMORY the breakdown is null. */
START_TEST(test_report_breakdown_and_forecast)
{
    uint64_t base = lt_mem_in_use();
    lt_model md;
    ck_assert_int_eq(lt_model_init(&md, 16), 0);
    model_hello(&md);
    for (uint32_t i = 0; i < 8; i++) {
        model_sample(&md, i, 99);
        lt_msg m;
        memset(&m, 0, sizeof m);
        m.type = LT_FRAME_MEMORY;
        m.u.memory = (lt_memory){.seq = i, .have = LT_MEM_HAVE_PYMALLOC | LT_MEM_HAVE_MALLOC |
                                                   LT_MEM_HAVE_STATUS,
                                 .py_arenas = 40, .py_arena_bytes = (uint64_t)(40 * MB),
                                 .py_used_bytes = (uint64_t)((30 + i) * MB),
                                 .heap_used_bytes = (uint64_t)(20 * MB),
                                 .heap_arena_bytes = (uint64_t)(21 * MB),
                                 .heap_free_bytes = (uint64_t)MB, .vm_size = (uint64_t)((500 + 4 * i) * MB),
                                 .rss_anon = (uint64_t)((90 + i) * MB), .rss_file = (uint64_t)(10 * MB)};
        apply(&md, &m);
    }
    lt_report r;
    char *cause = NULL;
    ck_assert_int_eq(lt_report_build(&r, &md, 0, 0, &cause), 0);
    ck_assert_int_eq(r.have_breakdown, 1);
    ck_assert_int_eq(r.breakdown.part[LT_PART_PY_USED], (int64_t)(37 * MB));
    ck_assert_double_eq_tol(r.part_growth[LT_PART_PY_USED], MB, 1e-3);
    ck_assert_double_eq_tol(r.part_growth[LT_PART_PY_FREE], -MB, 1e-3);
    ck_assert_int_eq(r.have_limits, 0);
    lt_limits l;
    memset(&l, 0, sizeof l);
    l.limits[l.nlimits++] = (lt_limit){.source = "RLIMIT_AS", .limit = (uint64_t)(1028 * MB),
                                       .usage = (uint64_t)(528 * MB),
                                       .figure = LT_FIGURE_VM_SIZE};
    l.rlimit_as = (uint64_t)(1028 * MB);
    l.rlimit_data = l.cgroup_max = l.cgroup_high = LT_NO_LIMIT;
    lt_report_set_limits(&r, &md, 0, &l);
    ck_assert_int_eq(r.forecast.growing, 1);
    ck_assert_double_eq_tol(r.forecast.eta_s, 125.0, 1e-6);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    lt_report_write_json(&r, f);
    fclose(f);
    ck_assert_msg(strstr(text, "\"limit_bytes\": 1077936128") &&
                      strstr(text, "\"limit_source\": \"RLIMIT_AS\"") &&
                      strstr(text, "\"oom_eta_s\": 125.0") &&
                      strstr(text, "\"python_objects_bytes\": 38797312") &&
                      strstr(text, "\"fragmentation\": false") &&
                      strstr(text, "\"cgroup\": null"),
                  "%s", text);
    free(text);
    f = open_memstream(&text, &len);
    lt_report_write_text(&r, f);
    fclose(f);
    ck_assert_msg(strstr(text, "reaches its 1.00 GiB RLIMIT_AS in about 2 min"), "%s", text);
    free(text);
    lt_report_free(&r);
    lt_model_free(&md);

    /* An older agent: no MEMORY, no limits read. */
    ck_assert_int_eq(lt_model_init(&md, 16), 0);
    model_hello(&md);
    model_sample(&md, 0, 9);
    ck_assert_int_eq(lt_report_build(&r, &md, 0, 0, &cause), 0);
    f = open_memstream(&text, &len);
    lt_report_write_json(&r, f);
    fclose(f);
    ck_assert_msg(strstr(text, "\"breakdown\": null") && strstr(text, "\"oom_eta_s\": null") &&
                      strstr(text, "\"limit_source\": null") && !strstr(text, "oom_forecast"),
                  "%s", text);
    free(text);
    lt_report_free(&r);
    lt_model_free(&md);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_report_no_samples)
{
    uint64_t base = lt_mem_in_use();
    lt_model md;
    ck_assert_int_eq(lt_model_init(&md, 4), 0);
    model_hello(&md);
    lt_report r;
    char *cause = NULL;
    ck_assert_int_eq(lt_report_build(&r, &md, 0, 0, &cause), -1);
    ck_assert_ptr_nonnull(cause);
    ck_assert_ptr_nonnull(strstr(cause, "no sample"));
    lt_free(cause);
    model_sample(&md, 0, 9);
    cause = NULL;
    ck_assert_int_eq(lt_report_build(&r, &md, 1, 0, &cause), -1); /* first past the end */
    lt_free(cause);
    /* One sample: a report with no growth. */
    ck_assert_int_eq(lt_report_build(&r, &md, 0, 0, &cause), 0);
    ck_assert_uint_eq(r.samples, 1);
    ck_assert_double_eq(r.duration_s, 0.0);
    ck_assert_double_eq(r.rss_growth, 0.0);
    for (uint32_t i = 0; i < r.ntypes; i++) {
        ck_assert_int_eq(r.types[i].delta, 0);
        ck_assert_double_eq(r.types[i].growth_per_s, 0.0);
    }
    lt_report_free(&r);
    lt_model_free(&md);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

/* A ring that has wrapped: the report covers the points still held, oldest first. */
START_TEST(test_report_wrapped_ring)
{
    lt_model md;
    ck_assert_int_eq(lt_model_init(&md, 3), 0);
    model_hello(&md);
    for (uint32_t i = 0; i < 5; i++)
        model_sample(&md, i, 99);
    lt_report r;
    char *cause = NULL;
    ck_assert_int_eq(lt_report_build(&r, &md, 0, 0, &cause), 0);
    ck_assert_uint_eq(r.samples, 3);
    ck_assert_double_eq_tol(r.duration_s, 2.0, 1e-9);
    const lt_type_report *a = find(&r, "A");
    ck_assert_uint_eq(a->count, 50);
    ck_assert_int_eq(a->delta, 20);
    ck_assert_double_eq_tol(a->growth_per_s, 10.0, 1e-9);
    ck_assert_double_eq_tol(r.rss_growth, MB, 1e-3);
    lt_report_free(&r);
    lt_model_free(&md);
}
END_TEST

START_TEST(test_report_out_of_memory)
{
    uint64_t base = lt_mem_in_use();
    lt_model md;
    ck_assert_int_eq(lt_model_init(&md, 8), 0);
    model_hello(&md);
    for (uint32_t i = 0; i < 4; i++)
        model_sample(&md, i, 3);
    uint64_t held = lt_mem_in_use();
    /* x, y, the type table, tx, ty: each allocation failing in turn. */
    for (long k = 1; k <= 5; k++) {
        lt_report r;
        char *cause = NULL;
        lt_mem_fail_after(k);
        int rc = lt_report_build(&r, &md, 0, 0, &cause);
        lt_mem_fail_after(0);
        ck_assert_int_eq(rc, -1);
        lt_free(cause);
        lt_report_free(&r);
        ck_assert_uint_eq(lt_mem_in_use(), held);
    }
    lt_model_free(&md);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

static Suite *
report_suite(void)
{
    Suite *s = suite_create("report");
    TCase *tc = lt_test_tcase(s, "slope");
    tcase_add_test(tc, test_slope_exact_lines);
    tcase_add_test(tc, test_slope_degenerate);
    tc = lt_test_tcase(s, "build");
    tcase_add_test(tc, test_report_build);
    tcase_add_test(tc, test_report_breakdown_and_forecast);
    tcase_add_test(tc, test_report_no_samples);
    tcase_add_test(tc, test_report_wrapped_ring);
    tcase_add_test(tc, test_report_out_of_memory);
    return s;
}

int
main(void)
{
    return lt_test_run(report_suite());
}
