/* tui/suspects.c: which series keep growing (lt_trend_judge), and the suspects of a model. */
#define _GNU_SOURCE
#include <math.h>
#include <string.h>

#include "harness.h"
#include "leaktop/mem.h"
#include "tui/model.h"
#include "tui/suspects.h"

#define MAXN 256

static double t_[MAXN], v_[MAXN];

/* Points i = 0..n-1 at one second apart, valued f(i). */
static void
series(uint32_t n, double (*f)(uint32_t), double dt)
{
    ck_assert_uint_le(n, MAXN);
    for (uint32_t i = 0; i < n; i++) {
        t_[i] = i * dt;
        v_[i] = f(i);
    }
}

static lt_trend
judge(uint32_t n, double min_net)
{
    lt_trend tr;
    memset(&tr, 0x5a, sizeof tr); /* every field must be written */
    lt_trend_judge(t_, v_, n, min_net, &tr);
    ck_assert(tr.score >= 0.0 && tr.score <= 1.0);
    return tr;
}

static double
rising(uint32_t i)
{
    return 1000.0 + 50.0 * i;
}

/* Grows for the first half, then stays: a cache that filled up. */
static double
plateau(uint32_t i)
{
    return 1000.0 + 50.0 * (i < 30 ? i : 30);
}

/* Grows by 100 five times, then drops back: churn, a buffer that is filled and emptied. */
static double
sawtooth(uint32_t i)
{
    return 1000.0 + 100.0 * (i % 6);
}

/* A steady leak with noise: up 50 a step, with a +-20 wobble that never makes it fall. */
static double
noisy(uint32_t i)
{
    static const double wobble[] = {0, 20, -15, 10, -20, 5, 15, -10};
    return 1000.0 + 50.0 * i + wobble[i % 8];
}

static double
small_rise(uint32_t i)
{
    return 1000.0 + i;
}

static double
falling(uint32_t i)
{
    return 5000.0 - 40.0 * i;
}

static double
flat(uint32_t i)
{
    (void)i;
    return 777.0;
}

START_TEST(test_steady_rise_is_a_suspect)
{
    series(60, rising, 1.0);
    lt_trend tr = judge(60, 20);
    ck_assert_msg(tr.score >= 0.9, "score %f", tr.score);
    ck_assert_double_eq_tol(tr.slope, 50.0, 1e-6);
    ck_assert_double_eq_tol(tr.last_slope, 50.0, 1e-6);
    ck_assert_double_eq_tol(tr.r2, 1.0, 1e-9);
    /* After the warm-up (the first fifth: 12 points), 47 steps, all rising. */
    ck_assert_uint_eq(tr.steps, 47);
    ck_assert_uint_eq(tr.rising, 47);
    ck_assert_uint_eq(tr.falling, 0);
    ck_assert_double_eq_tol(tr.net, 47 * 50.0, 1e-6);
    /* Time counts in seconds: the same points half a second apart grow twice as fast. */
    series(60, rising, 0.5);
    tr = judge(60, 20);
    ck_assert_double_eq_tol(tr.slope, 100.0, 1e-6);
    ck_assert_msg(tr.score >= 0.9, "score %f", tr.score);
    /* Noise does not hide it. */
    series(60, noisy, 1.0);
    tr = judge(60, 20);
    ck_assert_msg(tr.score >= 0.9, "noisy leak scored %f", tr.score);
}
END_TEST

START_TEST(test_plateau_is_not)
{
    series(60, plateau, 1.0);
    lt_trend tr = judge(60, 20);
    ck_assert_msg(tr.score < 0.5, "score %f", tr.score);
    ck_assert(tr.slope > 0);         /* it did grow over the window... */
    ck_assert(tr.last_slope < 1e-9); /* ...but not at the end */
}
END_TEST

START_TEST(test_churn_is_not)
{
    series(60, sawtooth, 1.0);
    lt_trend tr = judge(60, 20);
    ck_assert_msg(tr.score < 0.5, "score %f", tr.score);
    ck_assert_uint_gt(tr.falling, 0);
    /* A zigzag that fits a rising line well but falls every other step: not rising in most
     * steps, so not a suspect (the line fit alone would say it is). */
    for (uint32_t i = 0; i < 60; i++)
        v_[i] = 1000.0 + 50.0 * i + (i % 2 ? 200.0 : 0.0);
    tr = judge(60, 20);
    ck_assert_msg(tr.r2 > 0.9, "r2 %f", tr.r2);
    ck_assert_msg(tr.score < 0.5, "zigzag scored %f", tr.score);
    /* Churn on top of a real leak is still a leak, as long as most steps rise (here one step
     * in six falls). */
    for (uint32_t i = 0; i < 60; i++)
        v_[i] = 1000.0 + 200.0 * i - (i % 6 == 5 ? 300.0 : 0.0);
    tr = judge(60, 20);
    ck_assert_msg(tr.score >= 0.5, "score %f", tr.score);
}
END_TEST

START_TEST(test_falling_and_flat_are_not)
{
    series(60, falling, 1.0);
    lt_trend tr = judge(60, 0);
    ck_assert(tr.score == 0.0);
    ck_assert(tr.slope < 0);
    ck_assert_uint_eq(tr.falling, tr.steps);
    series(60, flat, 1.0);
    tr = judge(60, 0);
    ck_assert(tr.score == 0.0);
    ck_assert_uint_eq(tr.rising, 0);
}
END_TEST

/* A rise that noise could explain (less than min_net over the window) is not judged. */
START_TEST(test_rise_below_min_net)
{
    series(60, small_rise, 1.0);
    lt_trend tr = judge(60, 100);
    ck_assert(tr.score == 0.0);
    ck_assert_double_eq_tol(tr.net, 47.0, 1e-9);
    ck_assert_double_eq_tol(tr.slope, 1.0, 1e-9); /* measured all the same */
    /* The same line with a lower bar is a suspect: min_net is what made the difference. */
    tr = judge(60, 40);
    ck_assert_msg(tr.score >= 0.9, "score %f", tr.score);
}
END_TEST

START_TEST(test_too_few_points)
{
    series(60, rising, 1.0);
    for (uint32_t n = 0; n < 6; n++) {
        lt_trend tr = judge(n, 0);
        ck_assert_msg(tr.score == 0.0, "%u points scored %f", n, tr.score);
        ck_assert_uint_eq(tr.steps, 0);
    }
    /* Six points over five seconds are enough. */
    lt_trend tr = judge(6, 0);
    ck_assert_msg(tr.score >= 0.9, "score %f", tr.score);
    /* Unknown values do not count as points. */
    series(10, rising, 1.0);
    for (uint32_t i = 0; i < 10; i += 2)
        v_[i] = NAN;
    tr = judge(10, 0);
    ck_assert(tr.score == 0.0);
    /* Nor does a window shorter than five seconds, however many points it has. */
    series(200, rising, 0.02);
    tr = judge(200, 0);
    ck_assert(tr.score == 0.0);
}
END_TEST

START_TEST(test_unknown_values_are_skipped)
{
    series(60, rising, 1.0);
    for (uint32_t i = 1; i < 60; i += 3)
        v_[i] = NAN;
    lt_trend tr = judge(60, 20);
    ck_assert_msg(tr.score >= 0.9, "score %f", tr.score);
    ck_assert_double_eq_tol(tr.slope, 50.0, 1e-6);
    ck_assert_uint_eq(tr.falling, 0);
}
END_TEST

/* ---- lt_suspects_find on a model built frame by frame ------------------------------------ */

enum { ID_LEAK = 1, ID_FLAT = 2 };

static void
apply_ok(lt_model *md, const lt_msg *m)
{
    char *cause = NULL;
    ck_assert_msg(lt_model_apply(md, m, &cause) == 0, "%s frame refused: %s",
                  lt_frame_name(m->type), cause ? cause : "?");
}

/* A process that leaks app.Session objects (50 a second, 56 bytes each), holds a steady 500
 * app.Config, and whose RSS grows by 2 MiB a second outside the Python heap (the heap stays
 * flat); one step in four the RSS holds still, so that suspect is less certain than the type. */
static void
build_model(lt_model *md, uint32_t n, uint64_t dt_ns)
{
    ck_assert_int_eq(lt_model_init(md, 128), 0);
    lt_msg m;
    memset(&m, 0, sizeof m);
    m.type = LT_FRAME_HELLO;
    m.u.hello = (lt_hello){.major = LT_PROTO_MAJOR, .minor = 0, .pid = 7, .interval_ms = 1000,
                           .python_version = "3.12.1", .agent_version = "0", .executable = "py"};
    apply_ok(md, &m);
    static const char *const names[] = {"", "app.Session", "app.Config"};
    for (uint32_t id = 1; id <= 2; id++) {
        memset(&m, 0, sizeof m);
        m.type = LT_FRAME_STRING;
        m.u.string.id = id;
        m.u.string.text = names[id];
        m.u.string.len = (uint32_t)strlen(names[id]);
        apply_ok(md, &m);
    }
    uint64_t rss = 100u << 20;
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0 && i % 4 != 0)
            rss += 2u << 20;
        lt_type_row rows[2] = {{ID_LEAK, 100u + 50u * i, (100u + 50u * i) * 56u},
                               {ID_FLAT, 500, 500u * 64u}};
        memset(&m, 0, sizeof m);
        m.type = LT_FRAME_SAMPLE;
        m.u.sample = (lt_sample){.seq = i,
                                 .wall_ns = 1700000000000000000ull + i * dt_ns,
                                 .mono_ns = 5000000000ull + i * dt_ns,
                                 .rss_bytes = rss,
                                 .rss_peak_bytes = rss,
                                 .heap_bytes = 20u << 20,
                                 .gc_enabled = 1,
                                 .types_total = 2,
                                 .types_complete = 1,
                                 .ntypes = 2,
                                 .types = rows};
        apply_ok(md, &m);
    }
}

/* A process whose memory goes one way, with MEMORY frames: RSS grows 2 MiB a second, and what
 * grows is the C heap (NATIVE_HEAP), pymalloc's free arena memory with its objects in use flat
 * (FRAGMENTATION), or the C heap holding Python's large objects, which the Python heap shows
 * (PYTHON_LARGE). */
enum { NATIVE_HEAP, FRAGMENTATION, PYTHON_LARGE };

static void
build_memory_model(lt_model *md, uint32_t n, int mode)
{
    ck_assert_int_eq(lt_model_init(md, 128), 0);
    lt_msg m;
    memset(&m, 0, sizeof m);
    m.type = LT_FRAME_HELLO;
    m.u.hello = (lt_hello){.major = LT_PROTO_MAJOR, .pid = 7, .interval_ms = 1000,
                           .python_version = "3.12.1", .agent_version = "0", .executable = "py"};
    apply_ok(md, &m);
    const uint64_t MiB = 1u << 20;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t grow = 2 * MiB * i;
        memset(&m, 0, sizeof m);
        m.type = LT_FRAME_SAMPLE;
        m.u.sample = (lt_sample){.seq = i, .mono_ns = 5000000000ull + i * 1000000000ull,
                                 .rss_bytes = 100 * MiB + grow,
                                 .heap_bytes = 20 * MiB + (mode == PYTHON_LARGE ? grow : 0),
                                 .agent_bytes = MiB, .gc_enabled = 1, .types_complete = 1};
        apply_ok(md, &m);
        memset(&m, 0, sizeof m);
        m.type = LT_FRAME_MEMORY;
        lt_memory *x = &m.u.memory;
        x->seq = i;
        x->have = LT_MEM_HAVE_PYMALLOC | LT_MEM_HAVE_MALLOC | LT_MEM_HAVE_STATUS;
        x->py_used_bytes = 10 * MiB;
        x->py_arena_bytes = 20 * MiB + (mode == FRAGMENTATION ? grow : 0);
        x->heap_used_bytes = 30 * MiB + (mode != FRAGMENTATION ? grow : 0);
        x->heap_free_bytes = MiB;
        x->heap_arena_bytes = x->heap_used_bytes + x->heap_free_bytes;
        x->rss_anon = 90 * MiB + grow;
        x->rss_file = 10 * MiB;
        apply_ok(md, &m);
    }
}

/* The C heap grows and Python's allocations do not: a native suspect named as the heap. */
START_TEST(test_native_heap_named)
{
    uint64_t base = lt_mem_in_use();
    lt_model md;
    build_memory_model(&md, 30, NATIVE_HEAP);
    lt_suspect out[8];
    int n = lt_suspects_find(&md, 0, out, 8);
    ck_assert_int_eq(n, 1); /* the RSS it explains makes no second one */
    ck_assert_int_eq(out[0].kind, LT_SUSPECT_NATIVE);
    ck_assert_msg(strstr(out[0].name, "native heap"), "%s", out[0].name);
    ck_assert_msg(strstr(out[0].reason, "native heap grows while Python's allocations: 0 B/s"),
                  "%s", out[0].reason);
    ck_assert_double_eq_tol(out[0].growth_bytes_per_s, 2.0 * (1 << 20), 1);
    lt_fragmentation fr;
    ck_assert_int_eq(lt_fragmentation_judge(&md, 0, &fr), 0);
    ck_assert_str_eq(fr.reason, "");
    lt_model_free(&md);

    /* Python's large objects live in the C heap too: the Python heap accounts for them. */
    build_memory_model(&md, 30, PYTHON_LARGE);
    ck_assert_int_eq(lt_suspects_find(&md, 0, out, 8), 0);
    lt_model_free(&md);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

/* pymalloc's arenas grow while its objects in use stay flat: fragmentation, not a suspect. */
START_TEST(test_fragmentation_is_not_a_leak)
{
    uint64_t base = lt_mem_in_use();
    lt_model md;
    build_memory_model(&md, 30, FRAGMENTATION);
    lt_suspect out[8];
    ck_assert_int_eq(lt_suspects_find(&md, 0, out, 8), 0);
    lt_fragmentation fr;
    ck_assert_int_eq(lt_fragmentation_judge(&md, 0, &fr), 1);
    ck_assert_double_eq_tol(fr.py_free, (10.0 + 58) * (1 << 20), 1);
    ck_assert_msg(strstr(fr.reason, "pymalloc holds 68.0 MiB free") &&
                      strstr(fr.reason, "fragmentation, not a leak"),
                  "%s", fr.reason);
    /* Early on, with little held free, it is nothing to mention. */
    lt_model_free(&md);
    build_memory_model(&md, 3, FRAGMENTATION);
    ck_assert_int_eq(lt_fragmentation_judge(&md, 0, &fr), 0);
    lt_model_free(&md);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_find_type_and_native)
{
    uint64_t base = lt_mem_in_use();
    lt_model md;
    build_model(&md, 40, 1000000000ull);
    lt_suspect out[8];
    memset(out, 0, sizeof out);
    int n = lt_suspects_find(&md, 0, out, 8);
    ck_assert_int_eq(n, 2);
    /* Most likely first: the type (a perfect line) before native memory (level one step in
     * four), although native memory grows faster in bytes. */
    ck_assert_int_eq(out[0].kind, LT_SUSPECT_TYPE);
    ck_assert_str_eq(out[0].name, "app.Session");
    ck_assert_msg(out[0].score >= 0.9, "type scored %f", out[0].score);
    ck_assert_double_eq_tol(out[0].growth_count_per_s, 50.0, 1e-6);
    ck_assert_double_eq_tol(out[0].growth_bytes_per_s, 50.0 * 56, 1e-3);
    ck_assert_ptr_nonnull(strstr(out[0].reason, "count"));
    ck_assert_ptr_nonnull(strstr(out[0].reason, "no plateau"));

    ck_assert_int_eq(out[1].kind, LT_SUSPECT_NATIVE);
    ck_assert_ptr_nonnull(strstr(out[1].name, "native memory"));
    ck_assert_msg(out[1].score >= LT_SUSPECT_THRESHOLD && out[1].score < out[0].score,
                  "native scored %f, type %f", out[1].score, out[0].score);
    ck_assert_msg(out[1].growth_bytes_per_s > 1.0 * (1 << 20) &&
                      out[1].growth_bytes_per_s < 2.0 * (1 << 20),
                  "native grows %f B/s", out[1].growth_bytes_per_s);
    ck_assert_ptr_nonnull(strstr(out[1].reason, "RSS"));
    ck_assert_ptr_nonnull(strstr(out[1].reason, "the Python heap: 0 B/s"));
    ck_assert_str_eq(lt_suspect_kind_name(out[0].kind), "type");
    ck_assert_str_eq(lt_suspect_kind_name(out[1].kind), "native");
    ck_assert_str_eq(lt_suspect_kind_name(LT_SUSPECT_SITE), "site");

    /* max cuts the list after sorting: the most likely one stays. */
    memset(out, 0, sizeof out);
    ck_assert_int_eq(lt_suspects_find(&md, 0, out, 1), 1);
    ck_assert_str_eq(out[0].name, "app.Session");
    ck_assert_int_eq(lt_suspects_find(&md, 0, out, 0), 0);

    /* A window of the last 5 points is too short to judge; of the last 6 it is not. */
    ck_assert_int_eq(lt_suspects_find(&md, md.n - 5, out, 8), 0);
    ck_assert_int_gt(lt_suspects_find(&md, md.n - 6, out, 8), 0);
    ck_assert_int_eq(lt_suspects_find(&md, md.n, out, 8), 0);
    lt_model_free(&md);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

/* When the heap grows with the RSS, the growth is Python's, not native. */
START_TEST(test_no_native_when_the_heap_grows_too)
{
    lt_model md;
    build_model(&md, 40, 1000000000ull);
    for (uint32_t i = 0; i < md.n; i++) {
        lt_point *p = &md.points[lt_model_slot(&md, i)];
        p->heap = p->rss - (80u << 20);
    }
    lt_suspect out[8];
    int n = lt_suspects_find(&md, 0, out, 8);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(out[0].kind, LT_SUSPECT_TYPE);
    lt_model_free(&md);
}
END_TEST

/* Forty samples a tenth of a second apart: too short a time to call anything a leak. */
START_TEST(test_short_window_has_no_suspects)
{
    lt_model md;
    build_model(&md, 40, 100000000ull);
    lt_suspect out[8];
    ck_assert_int_eq(lt_suspects_find(&md, 0, out, 8), 0);
    lt_model_free(&md);
}
END_TEST

/* Between censuses (SAMPLE 1.2): the census's count stays, the estimate rises by `step` a sample
 * with standard deviation sd and `unsampled` objects the sampler never saw. Through the model. */
static void
build_estimated(lt_model *md, uint32_t n, int64_t step, uint64_t sd, uint64_t unsampled)
{
    ck_assert_int_eq(lt_model_init(md, 128), 0);
    lt_msg m;
    memset(&m, 0, sizeof m);
    m.type = LT_FRAME_HELLO;
    m.u.hello = (lt_hello){.major = LT_PROTO_MAJOR, .minor = 2, .pid = 7, .interval_ms = 1000,
                           .python_version = "3.12.1", .agent_version = "0", .executable = "py"};
    apply_ok(md, &m);
    memset(&m, 0, sizeof m);
    m.type = LT_FRAME_STRING;
    m.u.string.id = ID_LEAK;
    m.u.string.text = "app.Record";
    m.u.string.len = 10;
    apply_ok(md, &m);
    for (uint32_t i = 0; i < n; i++) {
        lt_type_row rows[1] = {{ID_LEAK, 1000, 1000u * 72u}};
        lt_est_row est[1] = {{ID_LEAK, step * (int64_t)i, step * (int64_t)i * 72, sd, unsampled}};
        memset(&m, 0, sizeof m);
        m.type = LT_FRAME_SAMPLE;
        m.u.sample = (lt_sample){.seq = i, .wall_ns = 1700000000000000000ull + i * 1000000000ull,
                                 .mono_ns = 5000000000ull + i * 1000000000ull,
                                 .rss_bytes = 100u << 20, .heap_bytes = 20u << 20,
                                 .gc_enabled = 1, .types_total = 1, .types_complete = 1,
                                 .ntypes = 1, .types = rows, .counts_mono_ns = 5000000000ull,
                                 .counts_wall_ns = 1700000000000000000ull, .counts_exact = 1,
                                 .nest = i ? 1 : 0, .est = est};
        apply_ok(md, &m);
    }
}

START_TEST(test_estimated_type_clears_its_noise)
{
    uint64_t base = lt_mem_in_use();
    lt_model md;
    lt_suspect out[4];
    /* +40 a second for 30 s with a noise of 60: named, and said to be an estimate. */
    build_estimated(&md, 30, 40, 60, 0);
    const lt_type_series *s = &md.types[0];
    uint32_t last = lt_model_slot(&md, md.n - 1);
    ck_assert(lt_type_estimated(s, last));
    ck_assert(!lt_type_estimated(s, lt_model_slot(&md, 0)));
    ck_assert_uint_eq(s->count[last], 1000 + 40 * 29);
    ck_assert_uint_eq(s->est_sd[last], 60);
    ck_assert_int_eq(lt_suspects_find(&md, 0, out, 4), 1);
    ck_assert_str_eq(out[0].name, "app.Record");
    ck_assert(out[0].estimated);
    ck_assert_ptr_nonnull(strstr(out[0].reason, "estimated since the last census"));
    lt_model_free(&md);
    /* The same rise within three standard deviations of the sampling noise: not named. */
    build_estimated(&md, 30, 40, 500, 0);
    ck_assert_int_eq(lt_suspects_find(&md, 0, out, 4), 0);
    lt_model_free(&md);
    /* ... nor when the census counted more objects than the samples cover (their deaths are
     * invisible: a bounded type whose old objects die would look like this). */
    build_estimated(&md, 30, 40, 60, 2000);
    ck_assert_int_eq(lt_suspects_find(&md, 0, out, 4), 0);
    lt_model_free(&md);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

static Suite *
suspects_suite(void)
{
    Suite *s = suite_create("suspects");
    TCase *tc = lt_test_tcase(s, "trend");
    tcase_add_test(tc, test_steady_rise_is_a_suspect);
    tcase_add_test(tc, test_plateau_is_not);
    tcase_add_test(tc, test_churn_is_not);
    tcase_add_test(tc, test_falling_and_flat_are_not);
    tcase_add_test(tc, test_rise_below_min_net);
    tcase_add_test(tc, test_too_few_points);
    tcase_add_test(tc, test_unknown_values_are_skipped);
    tc = lt_test_tcase(s, "find");
    tcase_add_test(tc, test_find_type_and_native);
    tcase_add_test(tc, test_estimated_type_clears_its_noise);
    tcase_add_test(tc, test_native_heap_named);
    tcase_add_test(tc, test_fragmentation_is_not_a_leak);
    tcase_add_test(tc, test_no_native_when_the_heap_grows_too);
    tcase_add_test(tc, test_short_window_has_no_suspects);
    return s;
}

int
main(void)
{
    return lt_test_run(suspects_suite());
}
