/* Shared parts of the fuzz targets (see fuzz-common.h). */
#include "fuzz-common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leaktop/mem.h"

/* Reads go here so the compiler cannot drop them: ASan must see each one. */
static volatile uint64_t sink;

void
fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    abort();
}

static void
touch_str(const char *s)
{
    FUZZ_CHECK(s != NULL);
    sink += strlen(s);
}

/* A type the decoder knows: it has a name (new frame types are added there too). */
static int
known_type(uint16_t type)
{
    return strcmp(lt_frame_name(type), "unknown") != 0;
}

/* The frame types whose effect on the model the checks below know in full. */
static int
checked_type(uint16_t type)
{
    return type >= LT_FRAME_HELLO && type <= LT_FRAME_SITES;
}

uint8_t *
fuzz_exact_copy(const uint8_t *p, uint32_t len)
{
    uint8_t *c = malloc(len ? len : 1);
    FUZZ_CHECK(c != NULL);
    if (len)
        memcpy(c, p, len);
    return c;
}

void
fuzz_check_msg(const lt_msg *m)
{
    switch (m->type) {
    case LT_FRAME_HELLO: {
        const lt_hello *h = &m->u.hello;
        touch_str(h->python_version);
        touch_str(h->agent_version);
        touch_str(h->executable);
        FUZZ_CHECK(h->argc == 0 || h->argv != NULL);
        for (uint32_t i = 0; i < h->argc; i++)
            touch_str(h->argv[i]);
        break;
    }
    case LT_FRAME_CLIENT_HELLO:
        touch_str(m->u.client_hello.client);
        break;
    case LT_FRAME_STRING:
        touch_str(m->u.string.text);
        /* No embedded NUL is accepted, so the C string is the whole field. */
        FUZZ_CHECK(strlen(m->u.string.text) == m->u.string.len);
        FUZZ_CHECK(m->u.string.len <= LT_STRING_MAX);
        break;
    case LT_FRAME_SAMPLE: {
        const lt_sample *s = &m->u.sample;
        FUZZ_CHECK(s->ntypes == 0 || s->types != NULL);
        for (uint32_t i = 0; i < s->ntypes; i++)
            sink += s->types[i].name_id + s->types[i].count + s->types[i].bytes;
        FUZZ_CHECK(s->nest <= LT_EST_MAX_WIRE);
        FUZZ_CHECK(s->nest == 0 || s->est != NULL);
        for (uint32_t i = 0; i < s->nest; i++)
            sink += s->est[i].name_id + (uint64_t)s->est[i].count_delta + s->est[i].count_sd;
        break;
    }
    case LT_FRAME_REPLY:
        touch_str(m->u.reply.message);
        break;
    case LT_FRAME_BYE:
        touch_str(m->u.bye.message);
        break;
    case LT_FRAME_TRACE: {
        const lt_trace *t = &m->u.trace;
        FUZZ_CHECK(t->nframes <= LT_TRACE_MAX_FRAMES);
        FUZZ_CHECK(t->nframes == 0 || t->frames != NULL);
        for (uint32_t i = 0; i < t->nframes; i++)
            sink += t->frames[i].file_id + t->frames[i].func_id + t->frames[i].line;
        break;
    }
    case LT_FRAME_WHY: {
        const lt_why_msg *w = &m->u.why;
        touch_str(w->note);
        FUZZ_CHECK(w->nhops <= LT_WHY_MAX_HOPS_WIRE);
        for (uint32_t i = 0; i < w->nhops; i++) {
            touch_str(w->hop_text[i]);
            touch_str(w->hop_type[i]);
        }
        break;
    }
    case LT_FRAME_MARKER:
        touch_str(m->u.marker.label);
        break;
    case LT_FRAME_SITES: {
        const lt_sites *x = &m->u.sites;
        FUZZ_CHECK(x->nsites == 0 || x->sites != NULL);
        FUZZ_CHECK(x->nlines == 0 || x->lines != NULL);
        for (uint32_t i = 0; i < x->nsites; i++)
            sink += x->sites[i].trace_id + x->sites[i].live_bytes + x->sites[i].live_count;
        for (uint32_t i = 0; i < x->nlines; i++)
            sink += x->lines[i].file_id + x->lines[i].line + x->lines[i].live_bytes;
        break;
    }
    default:
        break;
    }
}

void
fuzz_check_roundtrip(const lt_msg *m, const uint8_t *payload, uint32_t len)
{
    lt_buf b;
    lt_buf_init(&b);
    int rc;
    uint16_t flags = 0;
    switch (m->type) {
    case LT_FRAME_HELLO:
        rc = lt_encode_hello(&b, &m->u.hello);
        /* A 1.0 hello ends after argv: its re-encoding has the 1.1 count (0) more. */
        if (rc == 0 && m->u.hello.nlib == 0 && b.len >= LT_FRAME_HEADER + 4 &&
            b.len - LT_FRAME_HEADER > len) {
            b.len -= 4;
            uint32_t n = (uint32_t)(b.len - LT_FRAME_HEADER);
            b.data[0] = (uint8_t)n;
            b.data[1] = (uint8_t)(n >> 8);
            b.data[2] = (uint8_t)(n >> 16);
            b.data[3] = (uint8_t)(n >> 24);
        }
        break;
    case LT_FRAME_CLIENT_HELLO:
        rc = lt_encode_client_hello(&b, &m->u.client_hello);
        break;
    case LT_FRAME_STRING:
        rc = lt_encode_string(&b, m->u.string.id, m->u.string.text, m->u.string.len);
        break;
    case LT_FRAME_SAMPLE: {
        flags = m->flags;
        rc = lt_encode_sample(&b, &m->u.sample, flags, 0);
        /* A 1.0 sample ends after its rows and decodes with the 1.1 defaults (counts of the
         * sample's own time, exact, no census figures); its re-encoding has the 1.1 fields
         * more, which are cut off to compare the rest; so is a 1.1 sample's (no estimates):
         * its re-encoding has the 1.2 count of estimates (0) more. */
        const lt_sample *x = &m->u.sample;
        int v1_0 = x->counts_mono_ns == x->mono_ns && x->counts_wall_ns == x->wall_ns &&
                   x->counts_exact == 1 && x->census_cpu_ns == 0 && x->census_span_ns == 0 &&
                   x->census_max_hold_ns == 0 && x->census_slices == 0 &&
                   x->census_restarts == 0 && x->budget_ppm == 0;
        if (rc == 0 && (v1_0 || x->nest == 0) && b.len - LT_FRAME_HEADER > len) {
            b.len = LT_FRAME_HEADER + len;
            b.data[0] = (uint8_t)len;
            b.data[1] = (uint8_t)(len >> 8);
            b.data[2] = (uint8_t)(len >> 16);
            b.data[3] = (uint8_t)(len >> 24);
        }
        break;
    }
    case LT_FRAME_DROPS:
        rc = lt_encode_drops(&b, m->u.drops);
        break;
    case LT_FRAME_COMMAND:
        rc = lt_encode_command(&b, m->u.command.code, m->u.command.arg);
        break;
    case LT_FRAME_REPLY:
        rc = lt_encode_reply(&b, &m->u.reply);
        break;
    case LT_FRAME_BYE:
        rc = lt_encode_bye(&b, m->u.bye.reason, m->u.bye.message);
        break;
    case LT_FRAME_HISTORY_END:
        rc = lt_encode_empty(&b, LT_FRAME_HISTORY_END);
        break;
    case LT_FRAME_TRACE:
        rc = lt_encode_trace(&b, &m->u.trace);
        /* "truncated" is a flag: the encoder sends any nonzero value as 1. */
        if (rc == 0 && b.len > LT_FRAME_HEADER) {
            size_t at = b.len - 1; /* the flag is the trace's last field */
            FUZZ_CHECK(at - LT_FRAME_HEADER < len);
            FUZZ_CHECK((b.data[at] != 0) == (payload[at - LT_FRAME_HEADER] != 0));
            b.data[at] = payload[at - LT_FRAME_HEADER];
        }
        break;
    case LT_FRAME_SITES:
        flags = m->flags;
        rc = lt_encode_sites(&b, &m->u.sites, flags, 0, 0);
        break;
    case LT_FRAME_WHY:
        rc = lt_encode_why(&b, &m->u.why);
        break;
    case LT_FRAME_MARKER:
        rc = lt_encode_marker(&b, &m->u.marker);
        break;
    default:
        return;
    }
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(!b.failed && b.len >= LT_FRAME_HEADER);
    uint32_t n = (uint32_t)b.data[0] | (uint32_t)b.data[1] << 8 | (uint32_t)b.data[2] << 16 |
                 (uint32_t)b.data[3] << 24;
    FUZZ_CHECK(n == b.len - LT_FRAME_HEADER);
    FUZZ_CHECK((b.data[4] | b.data[5] << 8) == m->type);
    FUZZ_CHECK((b.data[6] | b.data[7] << 8) == flags);
    FUZZ_CHECK(n <= len);
    FUZZ_CHECK(n == 0 || memcmp(b.data + LT_FRAME_HEADER, payload, n) == 0);
    lt_buf_free(&b);
}

/* A series set: bounded, every series findable under its key, values for every ring slot. */
static void
check_series_set(const lt_series_set *set, uint32_t cap)
{
    FUZZ_CHECK(set->n <= set->max && set->cap == cap);
    FUZZ_CHECK(set->n == 0 || set->nslots >= 2 * set->n);
    for (uint32_t i = 0; i < set->n; i++) {
        const lt_series *se = &set->items[i];
        FUZZ_CHECK(lt_series_find(set, se->key) == se);
        for (uint32_t k = 0; k < cap; k++)
            sink += se->bytes[k] + se->count[k];
    }
}

/* The string table may have a million slots, mostly empty: scanning them with ASan's check on
 * every load costs more than the rest of an input. The caller checks the table's bounds (first
 * and last slot), and strlen() is intercepted, so every string is still checked whole. */
__attribute__((no_sanitize("address"))) static void
touch_strings(const lt_model *m)
{
    for (uint32_t i = 0; i < m->nstrings; i++)
        if (m->strings[i] != NULL)
            touch_str(m->strings[i]);
}

void
fuzz_check_model(const lt_model *m, int oom)
{
    FUZZ_CHECK(m->cap >= 1 && m->points != NULL);
    FUZZ_CHECK(m->n <= m->cap && m->head < m->cap);
    FUZZ_CHECK(m->n == m->cap || m->head == 0); /* the head moves only once the ring is full */
    for (uint32_t i = 0; i < m->n; i++) {
        const lt_point *p = lt_model_point(m, i);
        FUZZ_CHECK(p == &m->points[lt_model_slot(m, i)]);
        sink += p->seq + p->rss;
    }
    if (m->have_hello && !oom) { /* a copy that failed is NULL */
        touch_str(m->python_version);
        touch_str(m->agent_version);
        touch_str(m->executable);
        FUZZ_CHECK(m->argc == 0 || m->argv != NULL);
        for (uint32_t i = 0; i < m->argc; i++)
            touch_str(m->argv[i]);
    }
    FUZZ_CHECK(m->nstrings <= 2 * LT_STRTAB_LIMIT);
    if (m->nstrings > 0)
        sink += (uintptr_t)m->strings[0] + (uintptr_t)m->strings[m->nstrings - 1];
    touch_strings(m);
    FUZZ_CHECK(m->ntypes <= LT_MODEL_MAX_TYPES);
    for (uint32_t i = 0; i < m->ntypes; i++) {
        const lt_type_series *t = &m->types[i];
        FUZZ_CHECK(t->name_id < m->index_cap && m->index[t->name_id] == i + 1);
        for (uint32_t k = 0; k < m->cap; k++)
            sink += t->count[k] + t->bytes[k];
    }
    /* (Every series is indexed under its name, so no two series share one.) */
    FUZZ_CHECK(m->index_cap <= 2 * LT_STRTAB_LIMIT);
    check_series_set(&m->sites, m->cap);
    check_series_set(&m->lines, m->cap);
    FUZZ_CHECK(m->ntraces <= LT_MODEL_MAX_TRACES);
    FUZZ_CHECK(m->ntraces == 0 || (m->traces_cap >= 2 * m->ntraces &&
                                   (m->traces_cap & (m->traces_cap - 1)) == 0));
    uint32_t traces = 0;
    for (uint32_t i = 0; i < m->traces_cap; i++) {
        const lt_model_trace *t = &m->traces[i];
        if (t->frames == NULL)
            continue;
        traces++;
        FUZZ_CHECK(lt_model_trace_get(m, t->id) == t);
        for (uint32_t k = 0; k < t->nframes; k++)
            sink += t->frames[k].file_id + t->frames[k].line;
    }
    FUZZ_CHECK(traces == m->ntraces);
    touch_str(lt_model_string(m, 0));
    touch_str(lt_model_string(m, UINT32_MAX));
    if (m->bye && !oom)
        touch_str(m->bye_message);
}

/* After a SAMPLE was applied: the newest point holds it, every series has the value of the
 * last row naming it at that slot (or "absent" when no row did), and series created by this
 * sample know nothing of older slots. */
static void
check_sample_applied(const lt_model *m, const lt_msg *msg, uint32_t ntypes_before)
{
    const lt_sample *s = &msg->u.sample;
    FUZZ_CHECK(m->n >= 1);
    uint32_t slot = lt_model_slot(m, m->n - 1);
    const lt_point *p = lt_model_point(m, m->n - 1);
    FUZZ_CHECK(p->seq == s->seq && p->wall_ns == s->wall_ns && p->rss == s->rss_bytes);
    FUZZ_CHECK(p->history == ((msg->flags & LT_FLAG_HISTORY) != 0));
    FUZZ_CHECK(p->types_total == s->types_total && p->gc_garbage == s->gc_garbage);

    uint32_t *last = lt_calloc(m->ntypes ? m->ntypes : 1, sizeof *last);
    FUZZ_CHECK(last != NULL);
    for (uint32_t i = 0; i < s->ntypes; i++) {
        uint32_t id = s->types[i].name_id;
        if (id < m->index_cap && m->index[id] != 0)
            last[m->index[id] - 1] = i + 1;
    }
    uint64_t absent = s->types_complete ? 0 : LT_UNKNOWN;
    /* What the census rows leave, then (1.2) each estimate row in order adds its deltas to it:
     * to 0 for a type a complete census did not list; skipped when there is no known base. */
    uint64_t *want = lt_calloc(2 * (size_t)(m->ntypes ? m->ntypes : 1), sizeof *want);
    FUZZ_CHECK(want != NULL);
    for (uint32_t t = 0; t < m->ntypes; t++) {
        want[2 * t] = last[t] ? s->types[last[t] - 1].count : absent;
        want[2 * t + 1] = last[t] ? s->types[last[t] - 1].bytes : absent;
    }
    for (uint32_t i = 0; i < s->nest; i++) {
        uint32_t id = s->est[i].name_id;
        if (id >= m->index_cap || m->index[id] == 0)
            continue;
        uint32_t t = m->index[id] - 1;
        if (want[2 * t] == LT_UNKNOWN && !s->types_complete)
            continue;
        double c = (double)(want[2 * t] == LT_UNKNOWN ? 0 : want[2 * t]) +
                   (double)s->est[i].count_delta;
        double b = (double)(want[2 * t + 1] == LT_UNKNOWN ? 0 : want[2 * t + 1]) +
                   (double)s->est[i].bytes_delta;
        want[2 * t] = c > 0 ? (uint64_t)c : 0;
        want[2 * t + 1] = b > 0 ? (uint64_t)b : 0;
    }
    for (uint32_t t = 0; t < m->ntypes; t++) {
        const lt_type_series *ts = &m->types[t];
        FUZZ_CHECK(ts->count[slot] == want[2 * t] && ts->bytes[slot] == want[2 * t + 1]);
        if (t >= ntypes_before)
            for (uint32_t k = 0; k < m->cap; k++)
                if (k != slot)
                    FUZZ_CHECK(ts->count[k] == LT_UNKNOWN && ts->bytes[k] == LT_UNKNOWN);
    }
    lt_free(want);
    lt_free(last);
}

/* After a TRACE: a new id is kept as sent (unless the table is full), a known one unchanged
 * ("ids are never reused for another traceback"). */
static void
check_trace_applied(const lt_model *m, const lt_trace *tr, int known, uint32_t ntraces_before)
{
    const lt_model_trace *t = lt_model_trace_get(m, tr->id);
    if (known) {
        FUZZ_CHECK(t != NULL && m->ntraces == ntraces_before);
        return;
    }
    if (ntraces_before >= LT_MODEL_MAX_TRACES) {
        FUZZ_CHECK(t == NULL && m->ntraces == ntraces_before);
        return;
    }
    FUZZ_CHECK(t != NULL && m->ntraces == ntraces_before + 1);
    FUZZ_CHECK(t->id == tr->id && t->nframes == tr->nframes);
    FUZZ_CHECK((t->truncated != 0) == (tr->truncated != 0));
    FUZZ_CHECK(tr->nframes == 0 ||
               memcmp(t->frames, tr->frames, tr->nframes * sizeof *tr->frames) == 0);
}

/* After a SITES: when it matches the newest point, that point has its totals, and every listed
 * site and line (the last row of each key) its values at the point's slot. */
static void
check_sites_applied(const lt_model *m, const lt_sites *x)
{
    if (m->n == 0 || lt_model_point(m, m->n - 1)->seq != x->seq)
        return;
    uint32_t slot = lt_model_slot(m, m->n - 1);
    const lt_point *p = lt_model_point(m, m->n - 1);
    FUZZ_CHECK(p->have_sites && p->sample_interval == x->sample_interval_bytes);
    FUZZ_CHECK(p->heap_sampled == x->heap_live_bytes && p->traces_total == x->traces_total);
    FUZZ_CHECK(p->evicted_traces == x->evicted_traces);
    /* A row whose key comes again later was overwritten: only the last row of a key counts. */
    for (uint32_t i = 0; i < x->nsites; i++) {
        lt_series_key k = {x->sites[i].trace_id, 0, 0};
        int later = 0; /* a later row has the same key, or there are too many to look */
        for (uint32_t j = i + 1; j < x->nsites && !later; j++)
            later = j - i > 1024 || x->sites[j].trace_id == k.a;
        const lt_series *se = lt_series_find(&m->sites, k);
        if (se == NULL) {
            FUZZ_CHECK(m->sites.refused > 0);
            continue;
        }
        if (!later)
            FUZZ_CHECK(se->bytes[slot] == x->sites[i].live_bytes &&
                       se->count[slot] == x->sites[i].live_count);
    }
    for (uint32_t i = 0; i < x->nlines; i++) {
        const lt_line_row *r = &x->lines[i];
        lt_series_key k = {r->file_id, r->func_id, r->line};
        int later = 0;
        for (uint32_t j = i + 1; j < x->nlines && !later; j++)
            later = j - i > 1024 || (x->lines[j].file_id == k.a && x->lines[j].func_id == k.b &&
                                     x->lines[j].line == k.c);
        const lt_series *se = lt_series_find(&m->lines, k);
        if (se == NULL) {
            FUZZ_CHECK(m->lines.refused > 0);
            continue;
        }
        if (!later)
            FUZZ_CHECK(se->bytes[slot] == r->live_bytes && se->count[slot] == r->live_count &&
                       se->extra == r->trace_id);
    }
}

/* lt_model_apply with its contract checked: which frames it refuses, and what it keeps. */
static int
apply_checked(lt_model *m, const lt_msg *msg)
{
    int had_hello = m->have_hello;
    uint32_t ntypes_before = m->ntypes;
    uint32_t ntraces_before = m->ntraces;
    int trace_known = msg->type == LT_FRAME_TRACE && lt_model_trace_get(m, msg->u.trace.id);
    uint32_t n_before = m->n;
    int refuse = (!had_hello && msg->type != LT_FRAME_HELLO) ||
                 (msg->type == LT_FRAME_HELLO && msg->u.hello.major != LT_PROTO_MAJOR) ||
                 (msg->type == LT_FRAME_STRING && msg->u.string.id >= LT_STRTAB_LIMIT);
    char *cause = NULL;
    int rc = lt_model_apply(m, msg, &cause);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc < 0) {
        FUZZ_CHECK(refuse || !checked_type(msg->type));
        FUZZ_CHECK(cause != NULL);
        touch_str(cause);
        lt_free(cause);
        return -1;
    }
    FUZZ_CHECK(!refuse);
    FUZZ_CHECK(cause == NULL);
    FUZZ_CHECK(m->have_hello);
    if (!checked_type(msg->type))
        return 0;
    FUZZ_CHECK(msg->type == LT_FRAME_SAMPLE || m->n == n_before);
    switch (msg->type) {
    case LT_FRAME_HELLO: {
        const lt_hello *h = &msg->u.hello;
        FUZZ_CHECK(m->major == h->major && m->minor == h->minor && m->pid == h->pid);
        FUZZ_CHECK(strcmp(m->python_version, h->python_version) == 0);
        FUZZ_CHECK(strcmp(m->executable, h->executable) == 0);
        FUZZ_CHECK(m->argc == h->argc);
        for (uint32_t i = 0; i < h->argc; i++)
            FUZZ_CHECK(strcmp(m->argv[i], h->argv[i]) == 0);
        break;
    }
    case LT_FRAME_STRING:
        FUZZ_CHECK(strcmp(lt_model_string(m, msg->u.string.id), msg->u.string.text) == 0);
        break;
    case LT_FRAME_SAMPLE:
        FUZZ_CHECK(m->n == (n_before < m->cap ? n_before + 1 : m->cap));
        check_sample_applied(m, msg, ntypes_before);
        break;
    case LT_FRAME_DROPS:
        FUZZ_CHECK(m->drops == msg->u.drops);
        break;
    case LT_FRAME_HISTORY_END:
        FUZZ_CHECK(m->history_done);
        break;
    case LT_FRAME_BYE:
        FUZZ_CHECK(m->bye == (msg->u.bye.reason ? msg->u.bye.reason : LT_BYE_STOPPED));
        FUZZ_CHECK(strcmp(m->bye_message, msg->u.bye.message) == 0);
        break;
    case LT_FRAME_TRACE:
        check_trace_applied(m, &msg->u.trace, trace_known, ntraces_before);
        break;
    case LT_FRAME_SITES:
        check_sites_applied(m, &msg->u.sites);
        break;
    default:
        break;
    }
    return 0;
}

/* lt_model_apply while allocations may fail: no contract to check beyond "no crash, no leak". */
static int
apply_oom(lt_model *m, const lt_msg *msg)
{
    char *cause = NULL;
    int rc = lt_model_apply(m, msg, &cause);
    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK(rc < 0 || cause == NULL);
    if (cause != NULL)
        touch_str(cause);
    lt_free(cause); /* NULL when lt_asprintf itself ran out */
    return rc;
}

int
fuzz_stream_init(fuzz_stream *s, uint32_t cap, int lenient, int oom)
{
    memset(s, 0, sizeof *s);
    lt_framer_init(&s->framer);
    s->lenient = lenient;
    s->oom = oom;
    if (lt_model_init(&s->model, cap) < 0) {
        FUZZ_CHECK(oom);
        return -1;
    }
    return 0;
}

void
fuzz_stream_free(fuzz_stream *s)
{
    lt_framer_free(&s->framer);
    lt_msg_clear(&s->msg);
    lt_model_free(&s->model);
}

int
fuzz_stream_feed(fuzz_stream *s, const uint8_t *p, size_t n)
{
    if (s->closed)
        return -1;
    size_t before = lt_framer_pending(&s->framer);
    /* Only running out of memory makes a feed fail. */
    if (lt_framer_feed(&s->framer, p, n) < 0) {
        FUZZ_CHECK(s->oom && s->framer.error == LT_FRAMER_NOMEM);
        s->closed = 1;
        return -1;
    }
    FUZZ_CHECK(lt_framer_pending(&s->framer) == before + n);

    uint16_t type, flags;
    const uint8_t *payload;
    uint32_t len;
    int rc;
    while ((rc = lt_framer_next(&s->framer, &type, &flags, &payload, &len)) == 1) {
        s->frames++;
        FUZZ_CHECK(len <= LT_FRAME_MAX);
        /* The payload sits inside the framer's buffer, whose spare capacity would hide a read
         * past the frame's end from ASan: decode an exact-size copy instead. */
        uint8_t *exact = fuzz_exact_copy(payload, len);
        payload = exact;
        int d = lt_decode(&s->msg, type, flags, payload, len);
        FUZZ_CHECK(s->msg.type == type && s->msg.flags == flags);
        if (d == 1) {
            FUZZ_CHECK(!known_type(type)); /* only unknown types are skipped */
            free(exact);
            continue;
        }
        FUZZ_CHECK(known_type(type));
        if (d != 0) {
            FUZZ_CHECK(d == -1);
            free(exact);
            if (s->lenient)
                continue;
            s->closed = 1; /* tui/conn.c: "malformed ... frame", the connection ends */
            return -1;
        }
        fuzz_check_msg(&s->msg);
        if (!s->oom) /* the encoders allocate too */
            fuzz_check_roundtrip(&s->msg, payload, len);
        free(exact);
        if ((s->oom ? apply_oom(&s->model, &s->msg) : apply_checked(&s->model, &s->msg)) < 0) {
            if (s->lenient)
                continue;
            s->closed = 1;
            return -1;
        }
        s->applied++;
    }
    if (rc < 0) {
        FUZZ_CHECK(rc == -1 && s->framer.error == LT_FRAMER_TOO_BIG);
        s->closed = 1;
        return -1;
    }
    FUZZ_CHECK(rc == 0);
    /* Waiting for more: either less than a header, or a header whose frame is incomplete. */
    size_t pending = lt_framer_pending(&s->framer);
    if (pending >= LT_FRAME_HEADER) {
        const uint8_t *h = s->framer.in.data + s->framer.off;
        uint32_t want = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
                        (uint32_t)h[3] << 24;
        FUZZ_CHECK(want <= LT_FRAME_MAX && pending - LT_FRAME_HEADER < want);
    }
    return 0;
}

/* ---- the frame-aware mutator ------------------------------------------------------------- */

static uint32_t
get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void
put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t
next_rand(uint32_t *state)
{
    uint32_t x = *state ? *state : 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

#define MUTATE_FRAMES_MAX 512

size_t
fuzz_mutate_frames(uint8_t *data, size_t size, size_t max_size, unsigned int seed, size_t prefix)
{
    uint32_t rnd = seed;
    if (size > max_size) /* libFuzzer may hand over more than it allows back */
        size = max_size;
    if (size <= prefix || next_rand(&rnd) % 5 == 0)
        return LLVMFuzzerMutate(data, size, max_size);
    if (next_rand(&rnd) % 8 == 0) { /* the target's option bytes */
        LLVMFuzzerMutate(data, prefix, prefix);
        return size;
    }

    /* Where the whole frames are; what follows them is left as it is. */
    size_t start[MUTATE_FRAMES_MAX];
    size_t n = 0, off = prefix;
    while (n < MUTATE_FRAMES_MAX && size - off >= LT_FRAME_HEADER &&
           get32(data + off) <= size - off - LT_FRAME_HEADER) {
        start[n++] = off;
        off += LT_FRAME_HEADER + get32(data + off);
    }
    if (n == 0)
        return LLVMFuzzerMutate(data, size, max_size);

    size_t fo = start[next_rand(&rnd) % n];
    size_t flen = get32(data + fo);
    size_t whole = LT_FRAME_HEADER + flen;
    size_t tail = size - fo - whole; /* bytes after the frame */
    switch (next_rand(&rnd) % 8) {
    case 0: /* duplicate it */
        if (max_size - size < whole)
            return size;
        memmove(data + fo + whole, data + fo, size - fo);
        return size + whole;
    case 1: /* drop it */
        memmove(data + fo, data + fo + whole, tail);
        return size - whole;
    case 2: /* its type and flags */
        LLVMFuzzerMutate(data + fo + 4, 4, 4);
        return size;
    default: { /* its payload, length following */
        size_t room = flen + (max_size - size);
        if (room == 0) /* LLVMFuzzerMutate would write a byte anyway */
            return LLVMFuzzerMutate(data, size, max_size);
        uint8_t *tmp = malloc(room);
        FUZZ_CHECK(tmp != NULL);
        memcpy(tmp, data + fo + LT_FRAME_HEADER, flen);
        size_t nlen = LLVMFuzzerMutate(tmp, flen, room);
        FUZZ_CHECK(nlen <= room);
        memmove(data + fo + LT_FRAME_HEADER + nlen, data + fo + whole, tail);
        memcpy(data + fo + LT_FRAME_HEADER, tmp, nlen);
        put32(data + fo, (uint32_t)nlen);
        free(tmp);
        return size - flen + nlen;
    }
    }
}
