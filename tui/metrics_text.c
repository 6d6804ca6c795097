/* The exposition text of `leaktop metrics`. */
#include "metrics_text.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "leaktop/mem.h"
#include "suspects.h"

enum {
    F_UP, F_RSS, F_RSS_PEAK, F_HEAP, F_TRACKED, F_TRACKED_BYTES, F_GC_COLLECTIONS,
    F_GC_UNCOLLECTABLE, F_TYPE_OBJECTS, F_TYPE_BYTES, F_SUSPECTS, F_AGENT_BYTES, F_CENSUS_SECONDS,
    F_COUNT
};

static const struct family {
    const char *name; /* of the samples; counters end in _total */
    int counter;
    const char *help;
} families[F_COUNT] = {
    [F_UP] = {"leaktop_up", 0,
              "1 while leaktop is connected to the process's agent and reading its stream, "
              "else 0."},
    [F_RSS] = {"leaktop_process_rss_bytes", 0,
               "Resident set size of the process, as its agent read it at the last census."},
    [F_RSS_PEAK] = {"leaktop_process_rss_peak_bytes", 0,
                    "Peak resident set size of the process (VmHWM)."},
    [F_HEAP] = {"leaktop_python_heap_bytes", 0,
                "Python heap: the allocation sampler's estimate of live bytes when it runs, else "
                "the shallow bytes of the objects the garbage collector tracks."},
    [F_TRACKED] = {"leaktop_gc_tracked_objects", 0,
                   "Objects the garbage collector tracks, counted by the last census."},
    [F_TRACKED_BYTES] = {"leaktop_gc_tracked_bytes", 0,
                         "Shallow bytes of the objects the garbage collector tracks, by the last "
                         "census."},
    [F_GC_COLLECTIONS] = {"leaktop_gc_collections_total", 1,
                          "Garbage collections of each generation since the interpreter started."},
    [F_GC_UNCOLLECTABLE] = {"leaktop_gc_uncollectable_total", 1,
                            "Objects the garbage collector found uncollectable, all generations."},
    [F_TYPE_OBJECTS] = {"leaktop_type_objects", 0,
                        "Live objects of a type (exact for objects the garbage collector tracks), "
                        "for the types with the most shallow bytes."},
    [F_TYPE_BYTES] = {"leaktop_type_bytes", 0,
                      "Shallow bytes of the live objects of a type, for the types with the most."},
    [F_SUSPECTS] = {"leaktop_leak_suspects", 0,
                    "Series that keep growing after warm-up (types, allocation sites, native "
                    "memory) over the points leaktop holds, as leaktop check judges them."},
    [F_AGENT_BYTES] = {"leaktop_agent_bytes", 0, "Memory the leaktop agent itself holds."},
    [F_CENSUS_SECONDS] = {"leaktop_agent_census_seconds", 0,
                          "Duration of the agent's last census (the GIL is held meanwhile)."},
};

const char *
lt_metrics_family_name(size_t i)
{
    return i < F_COUNT ? families[i].name : NULL;
}

int
lt_metrics_name_valid(const char *name)
{
    if (name == NULL || !(isalpha((unsigned char)name[0]) || name[0] == '_' || name[0] == ':'))
        return 0;
    for (const char *p = name; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_' || *p == ':') || (unsigned char)*p > 127)
            return 0;
    return 1;
}

int
lt_metrics_label_name_valid(const char *name)
{
    return lt_metrics_name_valid(name) && strchr(name, ':') == NULL;
}

/* ---- label values ------------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when the bytes there are not one. */
static size_t
utf8_seq(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned min, cp;
    if ((c & 0xe0) == 0xc0) {
        len = 2, min = 0x80, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3, min = 0x800, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void
lt_metrics_put_label_value(lt_buf *out, const char *s, size_t max)
{
    static const char replacement[] = "\xef\xbf\xbd";
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t used = 0;
    while (*p) {
        size_t n = utf8_seq(p);
        const char *text = (const char *)p;
        size_t tlen = n;
        if (n == 0) {
            text = replacement;
            tlen = 3;
            n = 1;
        }
        if (used + tlen > max) {
            lt_buf_put(out, "...", 3);
            return;
        }
        used += tlen;
        if (tlen == 1 && (*text == '\\' || *text == '"'))
            lt_buf_put(out, (const char[]){'\\', *text}, 2);
        else if (tlen == 1 && *text == '\n')
            lt_buf_put(out, "\\n", 2);
        else
            lt_buf_put(out, text, tlen);
        p += n;
    }
}

/* ---- figures from the model -------------------------------------------------------------- */

uint64_t
lt_metrics_heap(const lt_model *m, int *sampled)
{
    if (sampled)
        *sampled = 0;
    if (m == NULL || m->n == 0)
        return 0;
    for (uint32_t i = m->n; i-- > 0;) {
        const lt_point *p = lt_model_point(m, i);
        if (p->have_sites) {
            if (sampled)
                *sampled = 1;
            return p->heap_sampled;
        }
    }
    return lt_model_point(m, m->n - 1)->heap;
}

int
lt_metrics_suspects(const lt_model *m)
{
    lt_suspect *s = lt_calloc(LT_METRICS_MAX_SUSPECTS, sizeof *s);
    if (s == NULL)
        return -1;
    int n = lt_suspects_find(m, 0, s, LT_METRICS_MAX_SUSPECTS);
    lt_free(s);
    return n;
}

/* ---- content negotiation ----------------------------------------------------------------- */

/* The q parameter of one media range (its text after the type), 1 when absent. */
static double
media_q(const char *params, size_t len, int *version_ok)
{
    double q = 1.0;
    *version_ok = 1;
    size_t i = 0;
    while (i < len) {
        while (i < len && (params[i] == ';' || params[i] == ' ' || params[i] == '\t'))
            i++;
        size_t start = i;
        while (i < len && params[i] != ';')
            i++;
        const char *kv = params + start;
        size_t kvlen = i - start;
        if (kvlen > 2 && strncasecmp(kv, "q=", 2) == 0) {
            char num[16];
            size_t nl = kvlen - 2 < sizeof num - 1 ? kvlen - 2 : sizeof num - 1;
            memcpy(num, kv + 2, nl);
            num[nl] = '\0';
            q = strtod(num, NULL);
            if (!(q >= 0.0 && q <= 1.0))
                q = 0.0;
        } else if (kvlen > 8 && strncasecmp(kv, "version=", 8) == 0) {
            *version_ok = (kvlen - 8 == 5 && (strncmp(kv + 8, "1.0.0", 5) == 0 ||
                                             strncmp(kv + 8, "0.0.1", 5) == 0));
        }
    }
    return q;
}

int
lt_metrics_wants_openmetrics(const char *accept)
{
    if (accept == NULL)
        return 0;
    double om = 0.0, other = 0.0;
    const char *p = accept;
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *semi = memchr(p, ';', len);
        size_t tlen = semi ? (size_t)(semi - p) : len;
        while (tlen > 0 && (p[tlen - 1] == ' ' || p[tlen - 1] == '\t'))
            tlen--;
        int version_ok;
        double q = media_q(p + tlen, len - tlen, &version_ok);
        if (tlen == 28 && strncasecmp(p, "application/openmetrics-text", 28) == 0) {
            if (version_ok && q > om)
                om = q;
        } else if ((tlen == 10 && strncasecmp(p, "text/plain", 10) == 0) ||
                   (tlen == 6 && strncasecmp(p, "text/*", 6) == 0) ||
                   (tlen == 3 && strncmp(p, "*/*", 3) == 0)) {
            if (q > other)
                other = q;
        }
        p += len;
    }
    return om > 0.0 && om >= other;
}

/* ---- rendering --------------------------------------------------------------------------- */

typedef struct render {
    lt_buf *out;
    lt_metrics_format fmt;
    int fam;       /* the family being written */
    int announced; /* its HELP and TYPE are out */
} render;

static void
put_s(lt_buf *b, const char *s)
{
    lt_buf_put(b, s, strlen(s));
}

static void
announce(render *r)
{
    if (r->announced)
        return;
    r->announced = 1;
    const struct family *f = &families[r->fam];
    size_t len = strlen(f->name);
    /* OpenMetrics names a counter's family without its _total; the 0.0.4 format uses the
     * sample name. */
    if (f->counter && r->fmt == LT_METRICS_OPENMETRICS)
        len -= strlen("_total");
    put_s(r->out, "# HELP ");
    lt_buf_put(r->out, f->name, len);
    lt_buf_put(r->out, " ", 1);
    put_s(r->out, f->help);
    put_s(r->out, "\n# TYPE ");
    lt_buf_put(r->out, f->name, len);
    put_s(r->out, f->counter ? " counter\n" : " gauge\n");
}

typedef struct label {
    const char *name, *value;
    size_t max;
} label;

/* One sample line: name{pid="..",labels...} value */
static void
sample(render *r, uint32_t pid, const label *labels, int nlabels, const char *value)
{
    announce(r);
    char pidtext[16];
    snprintf(pidtext, sizeof pidtext, "%" PRIu32, pid);
    put_s(r->out, families[r->fam].name);
    put_s(r->out, "{pid=\"");
    put_s(r->out, pidtext);
    lt_buf_put(r->out, "\"", 1);
    for (int i = 0; i < nlabels; i++) {
        lt_buf_put(r->out, ",", 1);
        put_s(r->out, labels[i].name);
        put_s(r->out, "=\"");
        lt_metrics_put_label_value(r->out, labels[i].value, labels[i].max);
        lt_buf_put(r->out, "\"", 1);
    }
    put_s(r->out, "} ");
    put_s(r->out, value);
    lt_buf_put(r->out, "\n", 1);
}

static void
sample_u64(render *r, uint32_t pid, const label *labels, int nlabels, uint64_t v)
{
    char text[32];
    snprintf(text, sizeof text, "%" PRIu64, v);
    sample(r, pid, labels, nlabels, text);
}

static void
sample_double(render *r, uint32_t pid, double v)
{
    char text[40];
    if (isnan(v))
        snprintf(text, sizeof text, "NaN");
    else
        snprintf(text, sizeof text, "%.9g", v);
    sample(r, pid, NULL, 0, text);
}

/* The process's command line as one string: argv joined by spaces, else the executable. */
static void
command_of(const lt_model *m, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (uint32_t i = 0; i < m->argc && used + 1 < len; i++) {
        int w = snprintf(out + used, len - used, "%s%s", i ? " " : "", m->argv[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (out[0] == '\0' && m->executable)
        snprintf(out, len, "%s", m->executable);
}

/* Does p contribute figures beyond leaktop_up? */
static const lt_point *
newest(const lt_metrics_proc *p)
{
    if (!p->up || p->model == NULL || p->model->n == 0)
        return NULL;
    return lt_model_point(p->model, p->model->n - 1);
}

typedef struct ranked {
    uint32_t series;
    uint64_t count, bytes;
    const char *name;
} ranked;

static int
cmp_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? 1 : -1;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->name, y->name);
}

/* The top types of m at its newest point into *out (lt_free it). Returns how many, -1 OOM. */
static int
top_types(const lt_model *m, unsigned top, ranked **out)
{
    *out = NULL;
    uint32_t slot = lt_model_slot(m, m->n - 1);
    ranked *all = lt_malloc((m->ntypes ? m->ntypes : 1) * sizeof *all);
    if (all == NULL)
        return -1;
    uint32_t k = 0;
    for (uint32_t i = 0; i < m->ntypes; i++) {
        const lt_type_series *s = &m->types[i];
        if (s->count[slot] == LT_UNKNOWN || s->count[slot] == 0)
            continue;
        all[k++] = (ranked){i, s->count[slot], s->bytes[slot] == LT_UNKNOWN ? 0 : s->bytes[slot],
                            lt_model_string(m, s->name_id)};
    }
    qsort(all, k, sizeof *all, cmp_ranked);
    *out = all;
    return (int)(k < top ? k : top);
}

int
lt_metrics_render(lt_buf *out, const lt_metrics_proc *procs, size_t n, unsigned top,
                  lt_metrics_format fmt)
{
    if (top == 0)
        top = LT_METRICS_TOP_DEFAULT;
    render r = {.out = out, .fmt = fmt};
    /* The top types of each process, ranked once for both type families. */
    ranked **tops = lt_calloc(n ? n : 1, sizeof *tops);
    int *ntops = lt_calloc(n ? n : 1, sizeof *ntops);
    if (tops == NULL || ntops == NULL) {
        lt_free(tops);
        lt_free(ntops);
        out->failed = 1;
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (newest(&procs[i]) != NULL && (ntops[i] = top_types(procs[i].model, top, &tops[i])) < 0)
            out->failed = 1;

    for (r.fam = 0; r.fam < F_COUNT && !out->failed; r.fam++) {
        r.announced = 0;
        for (size_t i = 0; i < n; i++) {
            const lt_metrics_proc *pr = &procs[i];
            const lt_point *p = newest(pr);
            if (r.fam == F_UP) {
                sample_u64(&r, pr->pid, NULL, 0, pr->up ? 1 : 0);
                continue;
            }
            if (p == NULL)
                continue;
            const lt_model *m = pr->model;
            switch (r.fam) {
            case F_RSS: {
                char cmd[LT_METRICS_CMD_MAX * 2];
                command_of(m, cmd, sizeof cmd);
                char ppid[16];
                snprintf(ppid, sizeof ppid, "%" PRIu32, pr->ppid);
                /* ppid groups a service's processes (a master and its workers): sum by (ppid). */
                label l[3] = {{"cmd", cmd, LT_METRICS_CMD_MAX},
                              {"python", m->python_version ? m->python_version : "", 64},
                              {"ppid", ppid, sizeof ppid}};
                sample_u64(&r, pr->pid, l, pr->ppid ? 3 : 2, p->rss);
                break;
            }
            case F_RSS_PEAK:
                sample_u64(&r, pr->pid, NULL, 0, p->rss_peak > p->rss ? p->rss_peak : p->rss);
                break;
            case F_HEAP: sample_u64(&r, pr->pid, NULL, 0, lt_metrics_heap(m, NULL)); break;
            case F_TRACKED: sample_u64(&r, pr->pid, NULL, 0, p->tracked); break;
            case F_TRACKED_BYTES: sample_u64(&r, pr->pid, NULL, 0, p->heap); break;
            case F_GC_COLLECTIONS:
                for (int g = 0; g < LT_GENERATIONS; g++) {
                    char gen[4];
                    snprintf(gen, sizeof gen, "%d", g);
                    label l = {"generation", gen, sizeof gen};
                    sample_u64(&r, pr->pid, &l, 1, p->gc_collections[g]);
                }
                break;
            case F_GC_UNCOLLECTABLE: {
                uint64_t sum = 0;
                for (int g = 0; g < LT_GENERATIONS; g++)
                    sum += p->gc_uncollectable[g];
                sample_u64(&r, pr->pid, NULL, 0, sum);
                break;
            }
            case F_TYPE_OBJECTS:
            case F_TYPE_BYTES:
                for (int t = 0; t < ntops[i]; t++) {
                    label l = {"type", tops[i][t].name, LT_METRICS_TYPE_MAX};
                    sample_u64(&r, pr->pid, &l, 1,
                               r.fam == F_TYPE_OBJECTS ? tops[i][t].count : tops[i][t].bytes);
                }
                break;
            case F_SUSPECTS:
                if (pr->suspects >= 0)
                    sample_u64(&r, pr->pid, NULL, 0, (uint64_t)pr->suspects);
                break;
            case F_AGENT_BYTES: sample_u64(&r, pr->pid, NULL, 0, p->agent_bytes); break;
            case F_CENSUS_SECONDS: sample_double(&r, pr->pid, (double)p->census_ns / 1e9); break;
            default: break;
            }
        }
    }
    if (fmt == LT_METRICS_OPENMETRICS)
        put_s(out, "# EOF\n");
    for (size_t i = 0; i < n; i++)
        lt_free(tops[i]);
    lt_free(tops);
    lt_free(ntops);
    return out->failed ? -1 : 0;
}
