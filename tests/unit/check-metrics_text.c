/* tui/metrics_text.c: the exposition text of `leaktop metrics`, its names and escaping. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "leaktop/mem.h"
#include "tui/metrics_text.h"
#include "tui/model.h"

/* ---- models made frame by frame ---------------------------------------------------------- */

static void
apply_ok(lt_model *m, const lt_msg *msg)
{
    char *cause = NULL;
    ck_assert_msg(lt_model_apply(m, msg, &cause) == 0, "frame refused: %s", cause ? cause : "?");
}

static void
hello(lt_model *m, uint32_t pid, const char *python, uint32_t argc, const char **argv)
{
    lt_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.type = LT_FRAME_HELLO;
    msg.u.hello = (lt_hello){.major = LT_PROTO_MAJOR, .minor = LT_PROTO_MINOR, .pid = pid,
                             .interval_ms = 1000, .python_version = python,
                             .agent_version = "0.1.0", .executable = "/usr/bin/python3",
                             .argc = argc, .argv = argv};
    apply_ok(m, &msg);
}

static void
string(lt_model *m, uint32_t id, const char *text)
{
    lt_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.type = LT_FRAME_STRING;
    msg.u.string.id = id;
    msg.u.string.text = text;
    msg.u.string.len = (uint32_t)strlen(text);
    apply_ok(m, &msg);
}

/* A sample at second seq: rss, heap (census), and the rows given. */
static void
sample(lt_model *m, uint32_t seq, uint64_t rss, lt_type_row *rows, uint32_t n)
{
    lt_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.type = LT_FRAME_SAMPLE;
    lt_sample *s = &msg.u.sample;
    s->seq = seq;
    s->mono_ns = (uint64_t)seq * 1000000000u;
    s->wall_ns = s->mono_ns;
    s->rss_bytes = rss;
    s->rss_peak_bytes = rss + 1000;
    s->heap_bytes = 5000 + seq;
    s->census_ns = 1500000; /* 1.5 ms */
    s->tracked_objects = 777;
    s->agent_bytes = 4096;
    s->gc_enabled = 1;
    for (int g = 0; g < LT_GENERATIONS; g++) {
        s->gc_collections[g] = 100u * (unsigned)(g + 1);
        s->gc_uncollectable[g] = (unsigned)g;
    }
    s->types_complete = 1;
    s->types_total = n;
    s->ntypes = n;
    s->types = rows;
    apply_ok(m, &msg);
}

static void
sites(lt_model *m, uint32_t seq, uint64_t heap_live)
{
    lt_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.type = LT_FRAME_SITES;
    msg.u.sites.seq = seq;
    msg.u.sites.sample_interval_bytes = 512 * 1024;
    msg.u.sites.heap_live_bytes = heap_live;
    apply_ok(m, &msg);
}

static const char *argv_a[] = {"python3", "app.py", "--port=80"};

/* pid 101: three types; Session is the biggest by bytes, list has the most objects. */
static void
model_a(lt_model *m)
{
    ck_assert_int_eq(lt_model_init(m, 16), 0);
    hello(m, 101, "3.12.1", 3, argv_a);
    string(m, 1, "__main__.Session");
    string(m, 2, "dict");
    string(m, 3, "list");
    string(m, 4, "gone.Type");
    lt_type_row rows[4] = {{1, 1000, 64000}, {2, 50, 9000}, {3, 4000, 8000}, {4, 0, 0}};
    for (uint32_t i = 0; i < 3; i++)
        sample(m, i, 20000000, rows, 4);
}

/* ---- a checker of the exposition format (the parts leaktop writes) ----------------------- */

typedef struct parsed {
    char name[128];
    char labels[8][2][600]; /* name, unescaped value */
    int nlabels;
    double value;
} parsed;

/* Parse one sample line; fails the test when it is not well formed. */
static void
parse_sample(const char *line, parsed *out)
{
    memset(out, 0, sizeof *out);
    const char *p = line;
    size_t n = strcspn(p, "{ ");
    ck_assert_msg(n > 0 && n < sizeof out->name, "bad name in: %s", line);
    memcpy(out->name, p, n);
    ck_assert_msg(lt_metrics_name_valid(out->name), "invalid metric name in: %s", line);
    p += n;
    if (*p == '{') {
        p++;
        while (*p != '}') {
            ck_assert_int_lt(out->nlabels, 8);
            char *ln = out->labels[out->nlabels][0], *lv = out->labels[out->nlabels][1];
            size_t k = strcspn(p, "=");
            ck_assert_msg(k > 0 && k < 600 && p[k] == '=' && p[k + 1] == '"', "bad label: %s",
                          line);
            memcpy(ln, p, k);
            ck_assert_msg(lt_metrics_label_name_valid(ln), "invalid label name %s", ln);
            p += k + 2;
            size_t v = 0;
            while (*p != '"') {
                ck_assert_msg(*p != '\0' && *p != '\n', "unterminated label value: %s", line);
                if (*p == '\\') {
                    p++;
                    ck_assert_msg(*p == '\\' || *p == '"' || *p == 'n', "bad escape: %s", line);
                    lv[v++] = *p == 'n' ? '\n' : *p;
                } else {
                    lv[v++] = *p;
                }
                p++;
                ck_assert_uint_lt(v, 599);
            }
            p++;
            out->nlabels++;
            if (*p == ',')
                p++;
            else
                ck_assert_msg(*p == '}', "expected , or } in: %s", line);
        }
        p++;
    }
    ck_assert_msg(*p == ' ', "no space before the value: %s", line);
    char *end;
    out->value = strtod(p + 1, &end);
    ck_assert_msg(end != p + 1 && *end == '\0', "bad value in: %s", line);
}

static const char *
label(const parsed *s, const char *name)
{
    for (int i = 0; i < s->nlabels; i++)
        if (strcmp(s->labels[i][0], name) == 0)
            return s->labels[i][1];
    return NULL;
}

/* Check the whole text: comment lines well formed, each family announced once, right before
 * its samples, which are contiguous. Returns the number of sample lines. */
static int
check_text(const char *text, lt_metrics_format fmt)
{
    char *copy = strdup(text);
    char seen[64][128];
    int nseen = 0, samples = 0, eof = 0;
    char current[128] = "";
    for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        ck_assert_msg(!eof, "text after # EOF");
        if (strcmp(line, "# EOF") == 0) {
            eof = 1;
            continue;
        }
        if (strncmp(line, "# HELP ", 7) == 0) {
            size_t n = strcspn(line + 7, " ");
            ck_assert_uint_lt(n, sizeof current);
            snprintf(current, sizeof current, "%.*s", (int)n, line + 7);
            ck_assert_msg(lt_metrics_name_valid(current), "bad HELP name %s", current);
            for (int i = 0; i < nseen; i++)
                ck_assert_msg(strcmp(seen[i], current) != 0, "family %s twice", current);
            ck_assert_int_lt(nseen, 64);
            snprintf(seen[nseen++], sizeof seen[0], "%s", current);
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            size_t n = strlen(current);
            ck_assert_msg(strncmp(line + 7, current, n) == 0 && line[7 + n] == ' ',
                          "TYPE without its HELP: %s", line);
            const char *t = line + 8 + n;
            ck_assert_msg(strcmp(t, "gauge") == 0 || strcmp(t, "counter") == 0, "type %s", t);
            continue;
        }
        ck_assert_msg(line[0] != '#', "unknown comment: %s", line);
        parsed s;
        parse_sample(line, &s);
        samples++;
        /* The sample belongs to the family announced last (a counter's samples end in _total;
         * in OpenMetrics its family name does not). */
        size_t n = strlen(current);
        ck_assert_msg(strncmp(s.name, current, n) == 0 &&
                          (s.name[n] == '\0' ||
                           (fmt == LT_METRICS_OPENMETRICS && strcmp(s.name + n, "_total") == 0)),
                      "sample %s outside its family %s", s.name, current);
    }
    ck_assert_int_eq(eof, fmt == LT_METRICS_OPENMETRICS);
    free(copy);
    return samples;
}

/* Render procs into a NUL-terminated string (free it). */
static char *
render(const lt_metrics_proc *procs, size_t n, unsigned top, lt_metrics_format fmt)
{
    lt_buf b;
    lt_buf_init(&b);
    ck_assert_int_eq(lt_metrics_render(&b, procs, n, top, fmt), 0);
    char *s = malloc(b.len + 1);
    if (b.len > 0)
        memcpy(s, b.data, b.len);
    s[b.len] = '\0';
    lt_buf_free(&b);
    return s;
}

/* The value of the sample of name whose labels include pid (and type when not NULL); NaN when
 * absent. */
static double
value_of(const char *text, const char *name, const char *pid, const char *type)
{
    char *copy = strdup(text);
    double v = NAN;
    for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            continue;
        parsed s;
        parse_sample(line, &s);
        const char *p = label(&s, "pid"), *t = label(&s, "type");
        if (strcmp(s.name, name) == 0 && p && strcmp(p, pid) == 0 &&
            (type == NULL || (t && strcmp(t, type) == 0))) {
            ck_assert_msg(isnan(v), "%s{pid=%s} twice", name, pid);
            v = s.value;
        }
    }
    free(copy);
    return v;
}

/* ---- tests ------------------------------------------------------------------------------- */

START_TEST(test_names)
{
    size_t i = 0;
    for (const char *n; (n = lt_metrics_family_name(i)) != NULL; i++) {
        ck_assert_msg(lt_metrics_name_valid(n), "%s", n);
        ck_assert_msg(strncmp(n, "leaktop_", 8) == 0, "%s", n);
    }
    ck_assert_uint_eq(i, 13);
    const char *good[] = {"a", "_x", ":x", "leaktop_up", "a:b_c9"};
    const char *bad[] = {"", "9a", "a-b", "a b", "caf\xc3\xa9", "a.b", "a{"};
    for (size_t k = 0; k < sizeof good / sizeof *good; k++)
        ck_assert_msg(lt_metrics_name_valid(good[k]), "%s", good[k]);
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++)
        ck_assert_msg(!lt_metrics_name_valid(bad[k]), "%s", bad[k]);
    ck_assert(!lt_metrics_name_valid(NULL));
    ck_assert(lt_metrics_label_name_valid("pid"));
    ck_assert(!lt_metrics_label_name_valid("a:b"));
}
END_TEST

static void
expect_escaped(const char *in, size_t max, const char *want)
{
    lt_buf b;
    lt_buf_init(&b);
    lt_metrics_put_label_value(&b, in, max);
    ck_assert_msg(b.len == strlen(want) && (b.len == 0 || memcmp(b.data, want, b.len) == 0),
                  "escaping '%s' gave '%.*s', not '%s'", in, (int)b.len,
                  b.len ? (const char *)b.data : "", want);
    lt_buf_free(&b);
}

START_TEST(test_escaping)
{
    expect_escaped("plain", 100, "plain");
    expect_escaped("", 100, "");
    expect_escaped(NULL, 100, "");
    expect_escaped("a\\b", 100, "a\\\\b");
    expect_escaped("say \"hi\"", 100, "say \\\"hi\\\"");
    expect_escaped("two\nlines", 100, "two\\nlines");
    expect_escaped("tab\tcr\r", 100, "tab\tcr\r"); /* only \\, " and newline are escaped */
    expect_escaped("caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x90\x8d", 100,
                   "caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x90\x8d");
    /* Invalid UTF-8 becomes U+FFFD, one per bad byte: a lone continuation byte, a truncated
     * sequence, an overlong '/', an encoded surrogate, a code point past U+10FFFF, 0xff. */
    expect_escaped("a\x80z", 100, "a\xef\xbf\xbdz");
    expect_escaped("a\xc3", 100, "a\xef\xbf\xbd");
    expect_escaped("\xc0\xaf", 100, "\xef\xbf\xbd\xef\xbf\xbd");
    expect_escaped("\xed\xa0\x80", 100, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    expect_escaped("\xf4\x90\x80\x80", 100, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    expect_escaped("\xff", 100, "\xef\xbf\xbd");
    /* Cut at max bytes of the value, never inside a character, then "...". */
    expect_escaped("abcdef", 6, "abcdef");
    expect_escaped("abcdefg", 6, "abcdef...");
    expect_escaped("ab\xc3\xa9", 3, "ab...");
    expect_escaped("ab\xc3\xa9", 4, "ab\xc3\xa9");
    expect_escaped("a\"b", 2, "a\\\"...");
}
END_TEST

START_TEST(test_render_prometheus)
{
    uint64_t base = lt_mem_in_use();
    lt_model a, b;
    model_a(&a);
    /* pid 202: connected, said hello, but no sample yet. */
    ck_assert_int_eq(lt_model_init(&b, 4), 0);
    hello(&b, 202, "3.8.10", 0, NULL);
    lt_metrics_proc procs[3] = {
        {.pid = 101, .up = 1, .model = &a, .suspects = 2, .ppid = 7},
        {.pid = 202, .up = 1, .model = &b, .suspects = 0},
        {.pid = 303, .up = 0, .model = NULL, .suspects = -1},
    };
    char *t = render(procs, 3, 0, LT_METRICS_PROMETHEUS);
    ck_assert_int_gt(check_text(t, LT_METRICS_PROMETHEUS), 10);
    ck_assert(value_of(t, "leaktop_up", "101", NULL) == 1);
    ck_assert(value_of(t, "leaktop_up", "202", NULL) == 1);
    ck_assert(value_of(t, "leaktop_up", "303", NULL) == 0);
    ck_assert_ptr_nonnull(strstr(t, "leaktop_process_rss_bytes{pid=\"101\",cmd=\"python3 app.py "
                                    "--port=80\",python=\"3.12.1\",ppid=\"7\"} 20000000\n"));
    ck_assert(value_of(t, "leaktop_process_rss_peak_bytes", "101", NULL) == 20001000);
    ck_assert(value_of(t, "leaktop_python_heap_bytes", "101", NULL) == 5002); /* the census */
    ck_assert(value_of(t, "leaktop_gc_tracked_objects", "101", NULL) == 777);
    ck_assert(value_of(t, "leaktop_gc_tracked_bytes", "101", NULL) == 5002);
    ck_assert_ptr_nonnull(
        strstr(t, "leaktop_gc_collections_total{pid=\"101\",generation=\"0\"} 100\n"
                  "leaktop_gc_collections_total{pid=\"101\",generation=\"1\"} 200\n"
                  "leaktop_gc_collections_total{pid=\"101\",generation=\"2\"} 300\n"));
    ck_assert_ptr_nonnull(strstr(t, "# TYPE leaktop_gc_collections_total counter\n"));
    ck_assert(value_of(t, "leaktop_gc_uncollectable_total", "101", NULL) == 3);
    ck_assert(value_of(t, "leaktop_leak_suspects", "101", NULL) == 2);
    ck_assert(value_of(t, "leaktop_agent_bytes", "101", NULL) == 4096);
    ck_assert(fabs(value_of(t, "leaktop_agent_census_seconds", "101", NULL) - 0.0015) < 1e-12);
    /* Types: by shallow bytes, the largest first; none with no objects. */
    ck_assert(value_of(t, "leaktop_type_objects", "101", "__main__.Session") == 1000);
    ck_assert(value_of(t, "leaktop_type_bytes", "101", "__main__.Session") == 64000);
    ck_assert(value_of(t, "leaktop_type_objects", "101", "list") == 4000);
    ck_assert(isnan(value_of(t, "leaktop_type_objects", "101", "gone.Type")));
    const char *s1 = strstr(t, "type=\"__main__.Session\"} 1000"),
               *s2 = strstr(t, "type=\"dict\"} 50"), *s3 = strstr(t, "type=\"list\"} 4000");
    ck_assert(s1 && s2 && s3 && s1 < s2 && s2 < s3);
    /* A process with no sample yet, or down, has leaktop_up and nothing else. */
    ck_assert(isnan(value_of(t, "leaktop_process_rss_bytes", "202", NULL)));
    ck_assert(isnan(value_of(t, "leaktop_leak_suspects", "202", NULL)));
    ck_assert(isnan(value_of(t, "leaktop_process_rss_bytes", "303", NULL)));
    ck_assert_ptr_null(strstr(t, "# EOF"));
    free(t);

    /* --top 1: the biggest type only. */
    t = render(procs, 1, 1, LT_METRICS_PROMETHEUS);
    check_text(t, LT_METRICS_PROMETHEUS);
    ck_assert(value_of(t, "leaktop_type_bytes", "101", "__main__.Session") == 64000);
    ck_assert(isnan(value_of(t, "leaktop_type_bytes", "101", "dict")));
    free(t);

    /* suspects < 0: not judged, not written. */
    procs[0].suspects = -1;
    t = render(procs, 1, 0, LT_METRICS_PROMETHEUS);
    ck_assert(isnan(value_of(t, "leaktop_leak_suspects", "101", NULL)));
    ck_assert_ptr_null(strstr(t, "leaktop_leak_suspects"));
    free(t);

    /* Down with a model (a stream that ended): only leaktop_up. */
    procs[0].up = 0;
    t = render(procs, 1, 0, LT_METRICS_PROMETHEUS);
    ck_assert_str_eq(t, "# HELP leaktop_up 1 while leaktop is connected to the process's agent "
                        "and reading its stream, else 0.\n# TYPE leaktop_up gauge\n"
                        "leaktop_up{pid=\"101\"} 0\n");
    free(t);

    /* Nothing watched: nothing written. */
    t = render(NULL, 0, 0, LT_METRICS_PROMETHEUS);
    ck_assert_str_eq(t, "");
    free(t);
    lt_model_free(&a);
    lt_model_free(&b);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_render_openmetrics)
{
    lt_model a;
    model_a(&a);
    lt_metrics_proc p = {.pid = 101, .up = 1, .model = &a, .suspects = 0};
    char *t = render(&p, 1, 0, LT_METRICS_OPENMETRICS);
    check_text(t, LT_METRICS_OPENMETRICS);
    /* Counters: the family without _total, the samples with it; the text ends with # EOF. */
    ck_assert_ptr_nonnull(strstr(t, "# TYPE leaktop_gc_collections counter\n"));
    ck_assert_ptr_nonnull(strstr(t, "# TYPE leaktop_gc_uncollectable counter\n"));
    ck_assert_ptr_nonnull(strstr(t, "\nleaktop_gc_uncollectable_total{pid=\"101\"} 3\n"));
    ck_assert_ptr_null(strstr(t, "# TYPE leaktop_gc_collections_total"));
    size_t n = strlen(t);
    ck_assert(n > 6 && strcmp(t + n - 6, "# EOF\n") == 0);
    free(t);
    t = render(NULL, 0, 0, LT_METRICS_OPENMETRICS);
    ck_assert_str_eq(t, "# EOF\n");
    free(t);
    lt_model_free(&a);
}
END_TEST

START_TEST(test_labels_escaped_in_render)
{
    lt_model m;
    ck_assert_int_eq(lt_model_init(&m, 4), 0);
    const char *argv[] = {"python3", "say \"hi\"", "back\\slash", "new\nline", "bad\xff"};
    hello(&m, 7, "3.13.0", 5, argv);
    string(&m, 1, "__main__.we\"ird\\na\nme");
    lt_type_row rows[1] = {{1, 3, 300}};
    sample(&m, 0, 1000, rows, 1);
    lt_metrics_proc p = {.pid = 7, .up = 1, .model = &m, .suspects = 0};
    char *t = render(&p, 1, 0, LT_METRICS_PROMETHEUS);
    check_text(t, LT_METRICS_PROMETHEUS);
    ck_assert_ptr_nonnull(strstr(t, "cmd=\"python3 say \\\"hi\\\" back\\\\slash new\\nline "
                                    "bad\xef\xbf\xbd\""));
    ck_assert_ptr_nonnull(strstr(t, "type=\"__main__.we\\\"ird\\\\na\\nme\"} 3\n"));
    /* The checker unescapes to the original name. */
    ck_assert(value_of(t, "leaktop_type_objects", "7", "__main__.we\"ird\\na\nme") == 3);
    free(t);
    lt_model_free(&m);

    /* A long command line is cut to LT_METRICS_CMD_MAX bytes. */
    ck_assert_int_eq(lt_model_init(&m, 4), 0);
    char longarg[2000];
    memset(longarg, 'x', sizeof longarg - 1);
    longarg[sizeof longarg - 1] = '\0';
    const char *argv2[] = {"python3", longarg};
    hello(&m, 8, "3.13.0", 2, argv2);
    sample(&m, 0, 1000, NULL, 0);
    p = (lt_metrics_proc){.pid = 8, .up = 1, .model = &m, .suspects = 0};
    t = render(&p, 1, 0, LT_METRICS_PROMETHEUS);
    check_text(t, LT_METRICS_PROMETHEUS);
    const char *c = strstr(t, "cmd=\"");
    ck_assert_ptr_nonnull(c);
    const char *e = strstr(c, "...\",python=");
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq((size_t)(e - (c + 5)), LT_METRICS_CMD_MAX);
    free(t);
    lt_model_free(&m);
}
END_TEST

START_TEST(test_heap_source)
{
    lt_model m;
    model_a(&m);
    int sampled = -1;
    ck_assert_uint_eq(lt_metrics_heap(&m, &sampled), 5002);
    ck_assert_int_eq(sampled, 0);
    /* With the sampler: its estimate, from the newest point that has one. */
    sites(&m, 2, 123456);
    ck_assert_uint_eq(lt_metrics_heap(&m, &sampled), 123456);
    ck_assert_int_eq(sampled, 1);
    lt_type_row rows[1] = {{1, 1, 1}};
    sample(&m, 3, 20000000, rows, 1); /* its SITES not here yet */
    ck_assert_uint_eq(lt_metrics_heap(&m, &sampled), 123456);
    lt_metrics_proc p = {.pid = 101, .up = 1, .model = &m, .suspects = 0};
    char *t = render(&p, 1, 0, LT_METRICS_PROMETHEUS);
    ck_assert(value_of(t, "leaktop_python_heap_bytes", "101", NULL) == 123456);
    ck_assert(value_of(t, "leaktop_gc_tracked_bytes", "101", NULL) == 5003); /* still the census */
    free(t);
    lt_model_free(&m);
    lt_model empty;
    ck_assert_int_eq(lt_model_init(&empty, 2), 0);
    ck_assert_uint_eq(lt_metrics_heap(&empty, &sampled), 0);
    ck_assert_uint_eq(lt_metrics_heap(NULL, NULL), 0);
    lt_model_free(&empty);
}
END_TEST

START_TEST(test_suspects_count)
{
    /* One type that grows steadily for 30 s is one suspect; a flat model has none. */
    lt_model m;
    ck_assert_int_eq(lt_model_init(&m, 64), 0);
    hello(&m, 9, "3.12.1", 0, NULL);
    string(&m, 1, "__main__.Leak");
    string(&m, 2, "dict");
    for (uint32_t i = 0; i < 30; i++) {
        lt_type_row rows[2] = {{1, 1000 + 500u * i, 64000 + 32000u * i}, {2, 100, 10000}};
        sample(&m, i, 20000000, rows, 2);
    }
    ck_assert_int_eq(lt_metrics_suspects(&m), 1);
    lt_model_free(&m);
    model_a(&m);
    ck_assert_int_eq(lt_metrics_suspects(&m), 0);
    lt_model_free(&m);
}
END_TEST

START_TEST(test_out_of_memory)
{
    lt_model a;
    model_a(&a);
    lt_metrics_proc p = {.pid = 101, .up = 1, .model = &a, .suspects = 0};
    uint64_t base = lt_mem_in_use();
    /* Every allocation in turn fails: -1, nothing leaked, and no crash. */
    for (long k = 1; k < 40; k++) {
        lt_buf b;
        lt_buf_init(&b);
        lt_mem_fail_after(k);
        int rc = lt_metrics_render(&b, &p, 1, 0, LT_METRICS_PROMETHEUS);
        lt_mem_fail_after(0);
        ck_assert(rc == 0 || (rc == -1 && b.failed));
        lt_buf_free(&b);
        ck_assert_uint_eq(lt_mem_in_use(), base);
    }
    lt_model_free(&a);
}
END_TEST

START_TEST(test_negotiation)
{
    ck_assert(!lt_metrics_wants_openmetrics(NULL));
    ck_assert(!lt_metrics_wants_openmetrics(""));
    ck_assert(!lt_metrics_wants_openmetrics("*/*"));
    ck_assert(!lt_metrics_wants_openmetrics("text/plain;version=0.0.4"));
    ck_assert(!lt_metrics_wants_openmetrics("text/html,application/xhtml+xml,*/*;q=0.8"));
    /* What Prometheus 2.x sends. */
    ck_assert(lt_metrics_wants_openmetrics(
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
        "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"));
    ck_assert(lt_metrics_wants_openmetrics("application/openmetrics-text"));
    ck_assert(lt_metrics_wants_openmetrics("Application/OpenMetrics-Text; version=0.0.1"));
    /* Preferred less than the text format, refused, or a version leaktop does not write. */
    ck_assert(!lt_metrics_wants_openmetrics(
        "text/plain;version=0.0.4,application/openmetrics-text;q=0.5"));
    ck_assert(!lt_metrics_wants_openmetrics("application/openmetrics-text;q=0"));
    ck_assert(!lt_metrics_wants_openmetrics("application/openmetrics-text;version=2.0.0"));
    ck_assert(!lt_metrics_wants_openmetrics("application/openmetrics-textual"));
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("metrics_text");
    TCase *tc = lt_test_tcase(s, "core");
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_escaping);
    tcase_add_test(tc, test_render_prometheus);
    tcase_add_test(tc, test_render_openmetrics);
    tcase_add_test(tc, test_labels_escaped_in_render);
    tcase_add_test(tc, test_heap_source);
    tcase_add_test(tc, test_suspects_count);
    tcase_add_test(tc, test_out_of_memory);
    tcase_add_test(tc, test_negotiation);
    return lt_test_run(s);
}
