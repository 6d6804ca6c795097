/* tui/leaks.c and tui/code_paths.c: suspects grouped into findings (one per leak), sites named
 * by the program's own line. Models are built from real frames (encoded, decoded, applied). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "leaktop/mem.h"
#include "tui/code_paths.h"
#include "tui/leaks.h"
#include "tui/model.h"
#include "tui/suspects.h"

/* ---- code paths ------------------------------------------------------------------------ */

START_TEST(test_code_paths_rules)
{
    const char *agent[] = {"/usr/lib/python3.11/", NULL, "/opt/py/lib"};
    lt_code_paths cp;
    ck_assert_int_eq(lt_code_paths_init(&cp, agent, 3, "/srv/vendor::/x", "/usr/lib/python3.11/"
                                        "mine"), 0);
    ck_assert_uint_eq(cp.nlib, 4); /* the NULL and the empty entry are skipped */
    ck_assert_int_eq(lt_code_paths_is_library(&cp, "/usr/lib/python3.11/json/encoder.py"), 1);
    ck_assert_int_eq(lt_code_paths_is_library(&cp, "/usr/lib/python3.11"), 1);
    ck_assert_int_eq(lt_code_paths_is_library(&cp, "/usr/lib/python3.111/x.py"), 0);
    ck_assert_int_eq(lt_code_paths_is_library(&cp, "/opt/py/lib/os.py"), 1);
    ck_assert_int_eq(lt_code_paths_is_library(&cp, "/srv/vendor/req.py"), 1);
    ck_assert_int_eq(lt_code_paths_is_library(&cp, "/x"), 1);
    ck_assert_int_eq(lt_code_paths_is_library(&cp, "/home/u/venv/lib/python3.11/site-packages/"
                                                   "flask/app.py"), 1);
    ck_assert_int_eq(lt_code_paths_is_library(&cp, "/usr/lib/python3/dist-packages/a.py"), 1);
    ck_assert_int_eq(lt_code_paths_is_library(&cp, "<frozen importlib._bootstrap>"), 1);
    /* The program's own: its files, code given as a string, and what the user says is theirs. */
    ck_assert_int_eq(lt_code_paths_is_library(&cp, "/home/u/app/app.py"), 0);
    ck_assert_int_eq(lt_code_paths_is_library(&cp, "<string>"), 0);
    ck_assert_int_eq(lt_code_paths_is_library(&cp, ""), 0);
    ck_assert_int_eq(lt_code_paths_is_library(&cp, NULL), 0);
    ck_assert_int_eq(lt_code_paths_is_library(&cp, "/usr/lib/python3.11/mine/tool.py"), 0);
    lt_code_paths_free(&cp);
    ck_assert_uint_eq(cp.nlib, 0);
    /* Nothing given: the built-in rules alone. */
    ck_assert_int_eq(lt_code_paths_init(&cp, NULL, 0, NULL, ""), 0);
    ck_assert_int_eq(lt_code_paths_is_library(&cp, "/usr/lib/python3.11/json/encoder.py"), 0);
    ck_assert_int_eq(lt_code_paths_is_library(&cp, "/a/site-packages/b.py"), 1);
    lt_code_paths_free(&cp);
}
END_TEST

/* ---- a model from frames ---------------------------------------------------------------- */

static void
apply_all(lt_model *m, lt_buf *b)
{
    lt_framer fr;
    lt_framer_init(&fr);
    ck_assert_int_eq(lt_framer_feed(&fr, b->data, b->len), 0);
    uint16_t type, flags;
    const uint8_t *p;
    uint32_t len;
    while (lt_framer_next(&fr, &type, &flags, &p, &len) == 1) {
        lt_msg msg;
        memset(&msg, 0, sizeof msg);
        ck_assert_int_eq(lt_decode(&msg, type, flags, p, len), 0);
        char *cause = NULL;
        ck_assert_msg(lt_model_apply(m, &msg, &cause) == 0, "%s", cause ? cause : "");
        lt_msg_clear(&msg);
    }
    lt_framer_free(&fr);
    b->len = 0;
}

enum { S_APP = 1, S_LIB, S_HANDLE, S_DUMPS, S_CTX, S_METHOD, S_LIST, S_RESP, S_MODULE,
       S_BUS, S_DICT, S_TASK, S_WREF, S_FRAME, S_CORO, NSTR };
static const char *const strings[NSTR] = {
    "", "/srv/app/app.py", "/usr/lib/python3.11/json/encoder.py", "handle", "iterencode",
    "__main__.RequestContext", "method", "list", "__main__.Response", "module",
    "__main__.EventBus", "dict", "_asyncio.Task", "weakref.ReferenceType", "frame", "coroutine",
};

/* The HELLO with the library's prefix, every string, and three tracebacks: 1 app.py:17 called
 * through json (a library frame on top), 2 app.py:30 directly, 3 json's alone (a library's
 * thread before it calls the program). */
static void
greet(lt_model *m)
{
    lt_buf b;
    lt_buf_init(&b);
    const char *lib[] = {"/usr/lib/python3.11"};
    const char *argv[] = {"python3", "app.py"};
    lt_hello h = {.major = LT_PROTO_MAJOR, .minor = LT_PROTO_MINOR, .pid = 7, .interval_ms = 1000,
                  .python_version = "3.11.7", .agent_version = "t", .executable = "python3",
                  .argc = 2, .argv = argv, .nlib = 1, .lib_paths = lib};
    ck_assert_int_eq(lt_encode_hello(&b, &h), 0);
    for (uint32_t i = 1; i < NSTR; i++)
        ck_assert_int_eq(lt_encode_string(&b, i, strings[i], strlen(strings[i])), 0);
    lt_trace_frame f1[] = {{S_LIB, S_DUMPS, 258}, {S_APP, S_HANDLE, 17}};
    lt_trace_frame f2[] = {{S_APP, S_HANDLE, 30}};
    lt_trace t1 = {.id = 1, .nframes = 2, .frames = f1}, t2 = {.id = 2, .nframes = 1,
                                                              .frames = f2};
    lt_trace_frame f3[] = {{S_LIB, S_DUMPS, 260}};
    lt_trace t3 = {.id = 3, .nframes = 1, .frames = f3};
    ck_assert_int_eq(lt_encode_trace(&b, &t1), 0);
    ck_assert_int_eq(lt_encode_trace(&b, &t2), 0);
    ck_assert_int_eq(lt_encode_trace(&b, &t3), 0);
    apply_all(m, &b);
    lt_buf_free(&b);
}

/* 20 samples a second apart: RequestContext and method +100 each a second, Response +100 a
 * second, a growing list (one container: bytes only); traceback 1 grows 64 KiB a second. */
static void
samples(lt_model *m)
{
    lt_buf b;
    lt_buf_init(&b);
    for (uint32_t i = 0; i < 20; i++) {
        lt_type_row rows[] = {{S_CTX, 1000 + 100 * i, 56 * (1000 + 100 * i)},
                              {S_METHOD, 1000 + 100 * i, 48 * (1000 + 100 * i)},
                              {S_RESP, 500 + 100 * i, 64 * (500 + 100 * i)},
                              {S_LIST, 50, 100000 + 80000 * i}};
        lt_sample s = {.seq = i + 1, .wall_ns = (i + 1) * 1000000000ull,
                       .mono_ns = (i + 1) * 1000000000ull, .rss_bytes = 50 << 20,
                       .types_total = 4, .types_complete = 1, .ntypes = 4, .types = rows};
        ck_assert_int_eq(lt_encode_sample(&b, &s, 0, 0), 0);
        lt_site_row sites[] = {{1, 65536ull * (i + 1) * 10, 100ull * (i + 1)},
                               {2, 4096, 4}};
        lt_line_row lines[] = {{S_LIB, S_DUMPS, 258, 1, 65536ull * (i + 1) * 10, 100 * (i + 1)}};
        lt_sites st = {.seq = i + 1, .sample_interval_bytes = 65536, .nsites = 2, .sites = sites,
                       .nlines = 1, .lines = lines};
        ck_assert_int_eq(lt_encode_sites(&b, &st, 0, 0, 0), 0);
    }
    apply_all(m, &b);
    lt_buf_free(&b);
}

static void
why(lt_model *m, uint32_t name, const char *const *text, const char *const *types, uint32_t n)
{
    lt_buf b;
    lt_buf_init(&b);
    lt_why_msg w = {.name_id = name, .found = n > 0, .levels = n, .note = n ? "" : "gc is off",
                    .nhops = n, .hop_text = (const char **)text, .hop_type = (const char **)types};
    ck_assert_int_eq(lt_encode_why(&b, &w), 0);
    apply_all(m, &b);
    lt_buf_free(&b);
}

static void
type_sites(lt_model *m, uint32_t name, uint32_t trace, uint32_t owned_each)
{
    lt_buf b;
    lt_buf_init(&b);
    lt_type_site_row row = {trace, 1 << 20, 1000, 10};
    lt_type_sites_msg ts = {.name_id = name, .instances = 1000, .sampled = 10,
                            .sample_interval_bytes = 65536, .note = "", .nrows = 1, .rows = &row,
                            .owned_sampled = owned_each ? 10 : 0,
                            .owned_extra_bytes = 10ull * owned_each};
    ck_assert_int_eq(lt_encode_type_sites(&b, &ts), 0);
    apply_all(m, &b);
    lt_buf_free(&b);
}

START_TEST(test_user_line_names_the_site)
{
    lt_model m;
    ck_assert_int_eq(lt_model_init(&m, 64), 0);
    greet(&m);
    samples(&m);
    /* Traceback 1's own frame is app.py:17, under json's. */
    const lt_model_trace *t = lt_model_trace_get(&m, 1);
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(lt_model_user_frame(&m, t), 1);
    ck_assert_ptr_nonnull(lt_series_find(&m.user_lines, (lt_series_key){S_APP, S_HANDLE, 17}));
    ck_assert_ptr_null(lt_series_find(&m.user_lines, (lt_series_key){S_LIB, S_DUMPS, 258}));
    lt_suspect s[16];
    int n = lt_suspects_find(&m, 0, s, 16);
    int site = -1;
    for (int i = 0; i < n; i++)
        if (s[i].kind == LT_SUSPECT_SITE)
            site = i;
    ck_assert_int_ge(site, 0);
    ck_assert_str_eq(s[site].name, "/srv/app/app.py:17 in handle");
    ck_assert_uint_eq(s[site].lib_frames, 1);
    ck_assert_uint_eq(s[site].trace_id, 1);
    ck_assert(s[site].growth_count_per_s > 90 && s[site].growth_count_per_s < 110);
    lt_model_free(&m);
}
END_TEST

START_TEST(test_one_leak_one_finding)
{
    lt_model m;
    ck_assert_int_eq(lt_model_init(&m, 64), 0);
    greet(&m);
    samples(&m);
    static const char *const ctx_text[] = {"__main__", ".bus", ".handlers", "[12]", ".__self__"};
    static const char *const ctx_type[] = {"module", "__main__.EventBus", "list", "method",
                                           "__main__.RequestContext"};
    static const char *const resp_text[] = {"__main__", ".cache", "[<int key, item 3>]"};
    static const char *const resp_type[] = {"module", "dict", "__main__.Response"};
    why(&m, S_CTX, ctx_text, ctx_type, 5);
    why(&m, S_METHOD, ctx_text, ctx_type, 4);
    why(&m, S_RESP, resp_text, resp_type, 3);
    type_sites(&m, S_CTX, 1, 4000);
    lt_suspect s[16];
    int ns = lt_suspects_find(&m, 0, s, 16);
    lt_leak f[LT_LEAKS_MAX];
    int nf = lt_leaks_build(&m, s, ns, f, LT_LEAKS_MAX);
    /* RequestContext (with method, its chain's, the list its holder, and the site of its
     * instances), and Response held apart: two findings, no part left alone. */
    ck_assert_int_eq(nf, 2);
    const lt_leak *ctx = strcmp(f[0].what, "__main__.RequestContext") == 0 ? &f[0] : &f[1];
    const lt_leak *resp = ctx == &f[0] ? &f[1] : &f[0];
    ck_assert_str_eq(ctx->what, "__main__.RequestContext");
    ck_assert_int_eq(ctx->kind, LT_SUSPECT_TYPE);
    ck_assert_int_eq(ctx->nparts, 4);
    ck_assert_int_eq(ctx->have_site, 1);
    ck_assert_uint_eq(ctx->file_id, S_APP);
    ck_assert_uint_eq(ctx->line, 17);
    ck_assert_uint_eq(ctx->lib_frames, 1);
    ck_assert_int_eq(ctx->have_holder, 1);
    ck_assert_str_eq(ctx->holder, "__main__.bus.handlers");
    ck_assert_str_eq(ctx->holder_type, "list");
    ck_assert_str_eq(ctx->root, "__main__");
    ck_assert(ctx->count_per_s > 95 && ctx->count_per_s < 105);
    /* Its bytes: what each instance owns beyond its shallow bytes (4000) at its pace and those
     * (5,600/s), method's (4,800/s), the list's table (80,000/s), and what the site of its
     * instances keeps beyond them (655,360 - 405,600). */
    double want = 405600 + 4800 + 80000 + (655360 - 405600);
    ck_assert_msg(ctx->bytes_per_s > 0.97 * want && ctx->bytes_per_s < 1.03 * want, "%f",
                  ctx->bytes_per_s);
    ck_assert(ctx->owned_each > 4000 && ctx->shallow_each > 50);
    ck_assert(ctx->score > 0.9);
    ck_assert_ptr_nonnull(strstr(ctx->sentence, "__main__.RequestContext grows (+100/s"));
    ck_assert_ptr_nonnull(strstr(ctx->sentence, "allocated at app.py:17 in handle"));
    ck_assert_ptr_nonnull(strstr(ctx->sentence, "held by __main__.bus.handlers (list)"));
    ck_assert_str_eq(resp->what, "__main__.Response");
    ck_assert_str_eq(resp->holder, "__main__.cache");
    ck_assert_int_eq(resp->have_site, 0);
    ck_assert_ptr_nonnull(strstr(resp->sentence, "allocation site not known yet"));
    ck_assert(resp->score < ctx->score); /* the agent confirmed less of it */
    ck_assert_ptr_eq(ctx, &f[0]);
    /* What to ask the agent about: the leads first. */
    uint32_t ids[8];
    int nids = lt_leaks_wanted(f, nf, s, ids, 8);
    ck_assert_int_eq(nids, 4);
    ck_assert_uint_eq(ids[0], S_CTX);
    ck_assert_uint_eq(ids[1], S_RESP);
    lt_model_free(&m);
}
END_TEST

START_TEST(test_without_answers_the_pace_groups)
{
    lt_model m;
    ck_assert_int_eq(lt_model_init(&m, 64), 0);
    greet(&m);
    samples(&m);
    lt_suspect s[16];
    int ns = lt_suspects_find(&m, 0, s, 16);
    lt_leak f[LT_LEAKS_MAX];
    int nf = lt_leaks_build(&m, s, ns, f, LT_LEAKS_MAX);
    /* Three types at one pace are one guess until the agent says what holds them; the list
     * and the site stay apart (nothing ties them yet), below: a container growing alone is
     * most likely what holds the objects that grow. */
    ck_assert_int_ge(nf, 1);
    ck_assert_int_eq(f[0].kind, LT_SUSPECT_TYPE);
    ck_assert_int_eq(f[0].nparts, 3);
    ck_assert_int_eq(f[0].have_holder, 0);
    ck_assert_ptr_nonnull(strstr(f[0].sentence, "holder not known yet"));
    ck_assert_int_eq(lt_leaks_build(&m, s, 0, f, LT_LEAKS_MAX), 0);
    lt_model_free(&m);
}
END_TEST

START_TEST(test_own_line_before_a_library_only_traceback)
{
    lt_model m;
    ck_assert_int_eq(lt_model_init(&m, 64), 0);
    greet(&m);
    samples(&m);
    static const char *const resp_text[] = {"__main__", ".cache", "[<int key, item 3>]"};
    static const char *const resp_type[] = {"module", "dict", "__main__.Response"};
    why(&m, S_RESP, resp_text, resp_type, 3);
    /* Most of Response's sampled bytes at json's line alone, fewer at the app's own line. */
    lt_buf b;
    lt_buf_init(&b);
    lt_type_site_row rows[] = {{3, 1 << 20, 1000, 10}, {2, 1 << 16, 100, 1}};
    lt_type_sites_msg ts = {.name_id = S_RESP, .instances = 1000, .sampled = 11,
                            .sample_interval_bytes = 65536, .note = "", .nrows = 2,
                            .rows = rows};
    ck_assert_int_eq(lt_encode_type_sites(&b, &ts), 0);
    apply_all(&m, &b);
    lt_buf_free(&b);
    lt_suspect s[16];
    int ns = lt_suspects_find(&m, 0, s, 16);
    lt_leak f[LT_LEAKS_MAX];
    int nf = lt_leaks_build(&m, s, ns, f, LT_LEAKS_MAX);
    const lt_leak *resp = NULL;
    for (int i = 0; i < nf; i++)
        if (strcmp(f[i].what, "__main__.Response") == 0)
            resp = &f[i];
    ck_assert_ptr_nonnull(resp);
    ck_assert_int_eq(resp->have_site, 1);
    ck_assert_uint_eq(resp->file_id, S_APP);
    ck_assert_uint_eq(resp->line, 30);
    lt_model_free(&m);
}
END_TEST

/* Tasks and their weak references +100 a second each. */
static void
task_samples(lt_model *m)
{
    lt_buf b;
    lt_buf_init(&b);
    for (uint32_t i = 0; i < 20; i++) {
        lt_type_row rows[] = {{S_TASK, 1000 + 100 * i, 200 * (1000 + 100 * i)},
                              {S_WREF, 1000 + 100 * i, 80 * (1000 + 100 * i)}};
        lt_sample s = {.seq = i + 1, .wall_ns = (i + 1) * 1000000000ull,
                       .mono_ns = (i + 1) * 1000000000ull, .rss_bytes = 50 << 20,
                       .types_total = 2, .types_complete = 1, .ntypes = 2, .types = rows};
        ck_assert_int_eq(lt_encode_sample(&b, &s, 0, 0), 0);
    }
    apply_all(m, &b);
    lt_buf_free(&b);
}

START_TEST(test_pending_tasks_are_held_by_the_event_loop)
{
    lt_model m;
    ck_assert_int_eq(lt_model_init(&m, 64), 0);
    greet(&m);
    task_samples(&m);
    why(&m, S_TASK, NULL, NULL, 0); /* no chain from a root */
    lt_suspect s[16];
    int ns = lt_suspects_find(&m, 0, s, 16);
    lt_leak f[LT_LEAKS_MAX];
    /* Before the weak references' chain is known: the loop, named for what it is. */
    int nf = lt_leaks_build(&m, s, ns, f, LT_LEAKS_MAX);
    ck_assert_int_ge(nf, 1);
    ck_assert_str_eq(f[0].what, "_asyncio.Task");
    ck_assert_int_eq(f[0].pending_tasks, 1);
    ck_assert_str_eq(f[0].holder, "asyncio.all_tasks()");
    ck_assert_ptr_nonnull(strstr(f[0].holder_note, "never awaited or cancelled"));
    /* The weak references' chain names asyncio's task set. */
    static const char *const w_text[] = {"_asyncio", "._all_tasks", ".data", "[<item>]"};
    static const char *const w_type[] = {"module", "_weakrefset.WeakSet", "set",
                                         "weakref.ReferenceType"};
    why(&m, S_WREF, w_text, w_type, 4);
    nf = lt_leaks_build(&m, s, ns, f, LT_LEAKS_MAX);
    ck_assert_int_ge(nf, 1);
    ck_assert_str_eq(f[0].what, "_asyncio.Task");
    ck_assert_int_eq(f[0].have_holder, 1);
    ck_assert_str_eq(f[0].holder, "_asyncio._all_tasks");
    ck_assert_str_eq(f[0].holder_type, "_weakrefset.WeakSet");
    ck_assert_str_eq(f[0].root, "_asyncio");
    ck_assert_ptr_nonnull(strstr(f[0].sentence, "held by the event loop: pending tasks"));
    lt_model_free(&m);
}
END_TEST

/* Before 3.11 a pending task two awaits deep keeps two coroutines and two frames: they grow at
 * twice its pace and, bigger, by more bytes; nothing is known of their chains yet. The task
 * still leads the one finding, with them as its parts. */
START_TEST(test_a_task_leads_the_frames_it_keeps)
{
    lt_model m;
    ck_assert_int_eq(lt_model_init(&m, 64), 0);
    greet(&m);
    lt_buf b;
    lt_buf_init(&b);
    for (uint32_t i = 0; i < 20; i++) {
        lt_type_row rows[] = {{S_FRAME, 2000 + 200 * i, 500 * (2000 + 200 * i)},
                              {S_CORO, 2000 + 200 * i, 120 * (2000 + 200 * i)},
                              {S_TASK, 1000 + 100 * i, 200 * (1000 + 100 * i)}};
        lt_sample smp = {.seq = i + 1, .wall_ns = (i + 1) * 1000000000ull,
                         .mono_ns = (i + 1) * 1000000000ull, .rss_bytes = 50 << 20,
                         .types_total = 3, .types_complete = 1, .ntypes = 3, .types = rows};
        ck_assert_int_eq(lt_encode_sample(&b, &smp, 0, 0), 0);
    }
    apply_all(&m, &b);
    lt_buf_free(&b);
    lt_suspect s[16];
    int ns = lt_suspects_find(&m, 0, s, 16);
    ck_assert_int_ge(ns, 3);
    lt_leak f[LT_LEAKS_MAX];
    int nf = lt_leaks_build(&m, s, ns, f, LT_LEAKS_MAX);
    ck_assert_int_eq(nf, 1);
    ck_assert_str_eq(f[0].what, "_asyncio.Task");
    ck_assert_int_eq(f[0].nparts, 3);
    lt_model_free(&m);
}
END_TEST

static Suite *
leaks_suite(void)
{
    Suite *s = suite_create("findings");
    TCase *tc = lt_test_tcase(s, "findings");
    tcase_add_test(tc, test_code_paths_rules);
    tcase_add_test(tc, test_user_line_names_the_site);
    tcase_add_test(tc, test_one_leak_one_finding);
    tcase_add_test(tc, test_without_answers_the_pace_groups);
    tcase_add_test(tc, test_own_line_before_a_library_only_traceback);
    tcase_add_test(tc, test_pending_tasks_are_held_by_the_event_loop);
    tcase_add_test(tc, test_a_task_leads_the_frames_it_keeps);
    return s;
}

int
main(void)
{
    return lt_test_run(leaks_suite());
}
