/* The viewer's model of one process. */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leaktop/mem.h"
#include "leaktop/sockpath.h"

int
lt_model_init(lt_model *m, uint32_t cap)
{
    memset(m, 0, sizeof *m);
    m->cap = cap ? cap : 1;
    m->points = lt_calloc(m->cap, sizeof *m->points);
    if (m->points == NULL || lt_series_set_init(&m->sites, m->cap, LT_MODEL_MAX_SITES) < 0 ||
        lt_series_set_init(&m->lines, m->cap, LT_MODEL_MAX_SITES) < 0 ||
        lt_series_set_init(&m->user_lines, m->cap, LT_MODEL_MAX_SITES) < 0) {
        lt_model_free(m);
        return -1;
    }
    return 0;
}

static void why_clear(lt_model_why *w);

static void
free_hello(lt_model *m)
{
    lt_free(m->python_version);
    lt_free(m->agent_version);
    lt_free(m->executable);
    for (uint32_t i = 0; i < m->argc; i++)
        lt_free(m->argv[i]);
    lt_free(m->argv);
    m->python_version = m->agent_version = m->executable = NULL;
    m->argv = NULL;
    m->argc = 0;
}

void
lt_model_free(lt_model *m)
{
    free_hello(m);
    for (uint32_t i = 0; i < m->nstrings; i++)
        lt_free(m->strings[i]);
    lt_free(m->strings);
    for (uint32_t i = 0; i < m->ntypes; i++) {
        lt_free(m->types[i].count);
        lt_free(m->types[i].bytes);
        lt_free(m->types[i].est_sd);
        lt_free(m->types[i].est_unsampled);
    }
    lt_free(m->types);
    lt_free(m->index);
    lt_free(m->points);
    lt_free(m->bye_message);
    for (uint32_t i = 0; i < m->nwhy; i++)
        why_clear(&m->why[i]);
    lt_series_set_free(&m->sites);
    lt_series_set_free(&m->lines);
    lt_series_set_free(&m->user_lines);
    lt_code_paths_free(&m->code);
    lt_free(m->file_class);
    for (uint32_t i = 0; i < m->traces_cap; i++)
        lt_free(m->traces[i].frames);
    lt_free(m->traces);
    memset(m, 0, sizeof *m);
}

double
lt_model_counts_age(const lt_model *m, const lt_point *p)
{
    if (p->counts_mono_ns == 0 || p->counts_mono_ns >= p->mono_ns)
        return 0.0;
    double age = (double)(p->mono_ns - p->counts_mono_ns) / 1e9;
    double interval = m->interval_ms ? (double)m->interval_ms / 1000.0 : 1.0;
    return age > 2.0 * interval ? age : 0.0;
}

const lt_point *
lt_model_point(const lt_model *m, uint32_t i)
{
    return &m->points[lt_model_slot(m, i)];
}

uint32_t
lt_model_slot(const lt_model *m, uint32_t i)
{
    return (m->head + i) % m->cap;
}

double
lt_model_py_age_s(const lt_model *m, uint32_t i)
{
    const lt_point *p = lt_model_point(m, i);
    uint32_t age = p->have_memory ? p->mem.py_age : 0;
    if (age == 0)
        return 0.0;
    for (uint32_t j = i; j-- > 0;) {
        const lt_point *q = lt_model_point(m, j);
        if (q->seq + age == p->seq)
            return (double)(p->mono_ns - q->mono_ns) / 1e9;
        if (q->seq + age < p->seq)
            break;
    }
    return (double)age * m->interval_ms / 1e3;
}

const char *
lt_model_string(const lt_model *m, uint32_t id)
{
    return id < m->nstrings && m->strings[id] ? m->strings[id] : "?";
}

static int
set_string(lt_model *m, uint32_t id, const char *text)
{
    if (id >= LT_STRTAB_LIMIT)
        return -1;
    if (id >= m->nstrings) {
        uint32_t n = m->nstrings ? m->nstrings : 256;
        while (n <= id)
            n *= 2;
        char **s = lt_realloc(m->strings, n * sizeof *s);
        if (s == NULL)
            return -1;
        memset(s + m->nstrings, 0, (n - m->nstrings) * sizeof *s);
        m->strings = s;
        m->nstrings = n;
    }
    char *copy = lt_strdup(text);
    if (copy == NULL)
        return -1;
    lt_free(m->strings[id]);
    m->strings[id] = copy;
    return 0;
}

/* The series of name_id, created on first sight. NULL when full or out of memory. */
static lt_type_series *
series_of(lt_model *m, uint32_t name_id)
{
    if (name_id >= LT_STRTAB_LIMIT)
        return NULL;
    if (name_id >= m->index_cap) {
        uint32_t n = m->index_cap ? m->index_cap : 1024;
        while (n <= name_id)
            n *= 2;
        uint32_t *ix = lt_realloc(m->index, n * sizeof *ix);
        if (ix == NULL)
            return NULL;
        memset(ix + m->index_cap, 0, (n - m->index_cap) * sizeof *ix);
        m->index = ix;
        m->index_cap = n;
    }
    if (m->index[name_id] != 0)
        return &m->types[m->index[name_id] - 1];
    if (m->ntypes >= LT_MODEL_MAX_TYPES) {
        m->types_refused++;
        return NULL;
    }
    lt_type_series *t = lt_realloc(m->types, (m->ntypes + 1) * sizeof *t);
    if (t == NULL)
        return NULL;
    m->types = t;
    lt_type_series *s = &m->types[m->ntypes];
    s->name_id = name_id;
    s->count = lt_malloc(m->cap * sizeof *s->count);
    s->bytes = lt_malloc(m->cap * sizeof *s->bytes);
    s->est_sd = lt_malloc(m->cap * sizeof *s->est_sd);
    s->est_unsampled = lt_calloc(m->cap, sizeof *s->est_unsampled);
    if (s->count == NULL || s->bytes == NULL || s->est_sd == NULL || s->est_unsampled == NULL) {
        lt_free(s->count);
        lt_free(s->bytes);
        lt_free(s->est_sd);
        lt_free(s->est_unsampled);
        return NULL;
    }
    for (uint32_t i = 0; i < m->cap; i++) {
        s->count[i] = s->bytes[i] = LT_UNKNOWN;
        s->est_sd[i] = LT_EST_EXACT;
    }
    m->ntypes++;
    m->index[name_id] = m->ntypes;
    return s;
}

/* ---- markers ---- */

uint32_t
lt_model_markers_kept(const lt_model *m)
{
    return m->nmarkers < LT_MODEL_MAX_MARKERS ? m->nmarkers : LT_MODEL_MAX_MARKERS;
}

const lt_model_marker *
lt_model_marker_at(const lt_model *m, uint32_t i)
{
    uint32_t first = m->nmarkers - lt_model_markers_kept(m);
    return &m->markers[(first + i) % LT_MODEL_MAX_MARKERS];
}

static void
apply_marker(lt_model *m, const lt_marker_msg *x)
{
    /* A marker sent again (to a viewer that reconnected) is not a new one. */
    for (uint32_t i = 0; i < lt_model_markers_kept(m); i++)
        if (lt_model_marker_at(m, i)->id == x->id)
            return;
    lt_model_marker *mk = &m->markers[m->nmarkers % LT_MODEL_MAX_MARKERS];
    m->nmarkers++;
    mk->id = x->id;
    mk->seq = x->seq;
    mk->wall_ns = x->wall_ns;
    snprintf(mk->label, sizeof mk->label, "%s", x->label);
}

/* ---- why is it alive ---- */

static void
why_clear(lt_model_why *w)
{
    lt_free(w->hop_text);
    lt_free(w->hop_type);
    memset(w, 0, sizeof *w);
}

const lt_model_why *
lt_model_why_get(const lt_model *m, uint32_t name_id)
{
    for (uint32_t i = 0; i < m->nwhy; i++)
        if (m->why[i].name_id == name_id)
            return &m->why[i];
    return NULL;
}

static int
apply_why(lt_model *m, const lt_why_msg *x)
{
    lt_model_why *w = (lt_model_why *)lt_model_why_get(m, x->name_id);
    if (w == NULL) {
        w = &m->why[m->nwhy < LT_MODEL_MAX_WHY ? m->nwhy++ : m->why_next];
        m->why_next = (m->why_next + 1) % LT_MODEL_MAX_WHY;
    }
    why_clear(w);
    w->name_id = x->name_id;
    w->found = x->found;
    w->levels = x->levels;
    w->max_pause_ms = x->max_pause_us / 1000.0;
    w->total_ms = x->total_us / 1000.0;
    w->instances = x->instances;
    snprintf(w->note, sizeof w->note, "%s", x->note);
    w->hop_text = lt_calloc(x->nhops ? x->nhops : 1, sizeof *w->hop_text);
    w->hop_type = lt_calloc(x->nhops ? x->nhops : 1, sizeof *w->hop_type);
    if (w->hop_text == NULL || w->hop_type == NULL) {
        why_clear(w);
        return -1;
    }
    for (uint32_t i = 0; i < x->nhops; i++) {
        snprintf(w->hop_text[i], sizeof w->hop_text[i], "%s", x->hop_text[i]);
        snprintf(w->hop_type[i], sizeof w->hop_type[i], "%s", x->hop_type[i]);
    }
    w->nhops = x->nhops;
    return 0;
}

/* ---- where a type's instances were allocated ---- */

const lt_model_type_sites *
lt_model_type_sites_get(const lt_model *m, uint32_t name_id)
{
    for (uint32_t i = 0; i < m->ntype_sites; i++)
        if (m->type_sites[i].name_id == name_id)
            return &m->type_sites[i];
    return NULL;
}

static void
apply_type_sites(lt_model *m, const lt_type_sites_msg *x)
{
    lt_model_type_sites *t = (lt_model_type_sites *)lt_model_type_sites_get(m, x->name_id);
    if (t == NULL) {
        t = &m->type_sites[m->ntype_sites < LT_MODEL_MAX_TYPE_SITES ? m->ntype_sites++
                                                                     : m->type_sites_next];
        m->type_sites_next = (m->type_sites_next + 1) % LT_MODEL_MAX_TYPE_SITES;
    }
    memset(t, 0, sizeof *t);
    t->name_id = x->name_id;
    t->instances = x->instances;
    t->sampled = x->sampled;
    t->sample_interval = x->sample_interval_bytes;
    t->walk_ms = x->walk_us / 1000.0;
    snprintf(t->note, sizeof t->note, "%s", x->note);
    t->nrows = x->nrows < LT_MODEL_TYPE_SITE_ROWS ? x->nrows : LT_MODEL_TYPE_SITE_ROWS;
    if (t->nrows > 0)
        memcpy(t->rows, x->rows, t->nrows * sizeof *t->rows);
    t->owned_sampled = x->owned_sampled;
    t->owned_extra_bytes = x->owned_extra_bytes;
    t->at_seq = m->n ? lt_model_point(m, m->n - 1)->seq : 0;
}

/* ---- traces ---- */

static lt_model_trace *
trace_slot(lt_model_trace *t, uint32_t cap, uint32_t id)
{
    uint32_t i = (id * 2654435761u) & (cap - 1);
    while (t[i].frames != NULL && t[i].id != id)
        i = (i + 1) & (cap - 1);
    return &t[i];
}

const lt_model_trace *
lt_model_trace_get(const lt_model *m, uint32_t id)
{
    if (m->traces == NULL)
        return NULL;
    const lt_model_trace *t = trace_slot(m->traces, m->traces_cap, id);
    return t->frames ? t : NULL;
}

static int
add_trace(lt_model *m, const lt_trace *tr)
{
    if (m->traces != NULL) {
        lt_model_trace *old = trace_slot(m->traces, m->traces_cap, tr->id);
        if (old->frames != NULL)
            return 0; /* ids are never reused for another traceback */
    }
    if (m->ntraces >= LT_MODEL_MAX_TRACES)
        return 0; /* bounded: later tracebacks show as unknown */
    if ((m->ntraces + 1) * 2 > m->traces_cap) {
        uint32_t cap = m->traces_cap ? m->traces_cap * 2 : 1024;
        lt_model_trace *t = lt_calloc(cap, sizeof *t);
        if (t == NULL)
            return -1;
        for (uint32_t i = 0; i < m->traces_cap; i++)
            if (m->traces[i].frames != NULL)
                *trace_slot(t, cap, m->traces[i].id) = m->traces[i];
        lt_free(m->traces);
        m->traces = t;
        m->traces_cap = cap;
    }
    lt_model_trace *t = trace_slot(m->traces, m->traces_cap, tr->id);
    t->frames = lt_malloc(sizeof *t->frames * (tr->nframes ? tr->nframes : 1));
    if (t->frames == NULL)
        return -1;
    memcpy(t->frames, tr->frames, sizeof *t->frames * tr->nframes);
    t->id = tr->id;
    t->nframes = tr->nframes;
    t->truncated = tr->truncated;
    m->ntraces++;
    return 0;
}

int
lt_model_file_is_library(lt_model *m, uint32_t file_id)
{
    if (file_id >= LT_STRTAB_LIMIT)
        return 0;
    if (file_id >= m->nfile_class) {
        uint32_t n = m->nfile_class ? m->nfile_class : 256;
        while (n <= file_id)
            n *= 2;
        uint8_t *c = lt_realloc(m->file_class, n);
        if (c == NULL)
            return lt_code_paths_is_library(&m->code, lt_model_string(m, file_id));
        memset(c + m->nfile_class, 0, n - m->nfile_class);
        m->file_class = c;
        m->nfile_class = n;
    }
    if (m->file_class[file_id] == 0) {
        if (file_id >= m->nstrings || m->strings[file_id] == NULL)
            return 0; /* not announced yet: judged when it is */
        m->file_class[file_id] = lt_code_paths_is_library(&m->code, m->strings[file_id]) ? 2 : 1;
    }
    return m->file_class[file_id] == 2;
}

uint32_t
lt_model_user_frame(lt_model *m, const lt_model_trace *t)
{
    for (uint32_t i = 0; i < t->nframes; i++)
        if (!lt_model_file_is_library(m, t->frames[i].file_id))
            return i;
    return 0;
}

/* SITES listed by traceback, added up by each one's innermost own frame at slot. */
static void
apply_user_lines(lt_model *m, const lt_sites *s, uint32_t slot)
{
    for (uint32_t i = 0; i < s->nsites; i++) {
        const lt_model_trace *t = lt_model_trace_get(m, s->sites[i].trace_id);
        if (t == NULL || t->nframes == 0)
            continue;
        const lt_trace_frame *f = &t->frames[lt_model_user_frame(m, t)];
        lt_series *x = lt_series_get(&m->user_lines, (lt_series_key){f->file_id, f->func_id,
                                                                       f->line});
        if (x == NULL)
            continue;
        if (x->bytes[slot] == LT_UNKNOWN) {
            /* The list is by live bytes, most first: the first traceback is the largest. */
            x->bytes[slot] = x->count[slot] = 0;
            x->extra = s->sites[i].trace_id;
        }
        x->bytes[slot] += s->sites[i].live_bytes;
        x->count[slot] += s->sites[i].live_count;
    }
}

/* SITES belongs to the newest point when their seq match (it follows its SAMPLE). */
static void
apply_sites(lt_model *m, const lt_sites *s)
{
    if (m->n == 0)
        return;
    uint32_t slot = lt_model_slot(m, m->n - 1);
    lt_point *p = &m->points[slot];
    if (p->seq != s->seq)
        return;
    p->have_sites = 1;
    p->sample_interval = s->sample_interval_bytes;
    p->heap_sampled = s->heap_live_bytes;
    p->heap_sampled_count = s->heap_live_count;
    p->live_samples = s->live_samples;
    p->dropped_samples = s->dropped_samples;
    p->evicted_traces = s->evicted_traces;
    p->traces_total = s->traces_total;
    /* Top-K lists: a site not listed is below the cut, not gone. */
    for (uint32_t i = 0; i < s->nsites; i++) {
        lt_series *x = lt_series_get(&m->sites, (lt_series_key){s->sites[i].trace_id, 0, 0});
        if (x != NULL) {
            x->bytes[slot] = s->sites[i].live_bytes;
            x->count[slot] = s->sites[i].live_count;
        }
    }
    for (uint32_t i = 0; i < s->nlines; i++) {
        const lt_line_row *r = &s->lines[i];
        lt_series *x = lt_series_get(&m->lines, (lt_series_key){r->file_id, r->func_id, r->line});
        if (x != NULL) {
            x->bytes[slot] = r->live_bytes;
            x->count[slot] = r->live_count;
            x->extra = r->trace_id;
        }
    }
    apply_user_lines(m, s, slot);
}

/* MEMORY belongs to the newest point when their seq match (it follows its SAMPLE). */
static void
apply_memory(lt_model *m, const lt_memory *mem)
{
    if (m->n == 0)
        return;
    lt_point *p = &m->points[lt_model_slot(m, m->n - 1)];
    if (p->seq != mem->seq)
        return;
    p->have_memory = 1;
    p->mem = *mem;
}

/* Estimates between censuses (1.2): the census's figure plus what the sampler saw since. A
 * type the census did not list has 0 when the census was complete, else no known base (its
 * estimate is then left out). */
static void
apply_estimates(lt_model *m, const lt_sample *s, uint32_t slot)
{
    for (uint32_t i = 0; i < s->nest; i++) {
        const lt_est_row *r = &s->est[i];
        lt_type_series *t = series_of(m, r->name_id);
        if (t == NULL || (t->count[slot] == LT_UNKNOWN && !s->types_complete))
            continue;
        double c = (double)(t->count[slot] == LT_UNKNOWN ? 0 : t->count[slot]) +
                   (double)r->count_delta;
        double b = (double)(t->bytes[slot] == LT_UNKNOWN ? 0 : t->bytes[slot]) +
                   (double)r->bytes_delta;
        t->count[slot] = c > 0 ? (uint64_t)c : 0;
        t->bytes[slot] = b > 0 ? (uint64_t)b : 0;
        t->est_sd[slot] = r->count_sd < LT_EST_EXACT ? (uint32_t)r->count_sd : LT_EST_EXACT - 1;
        t->est_unsampled[slot] = r->unsampled < UINT32_MAX ? (uint32_t)r->unsampled : UINT32_MAX;
    }
}

static void
apply_sample(lt_model *m, const lt_sample *s, int history)
{
    uint32_t slot;
    if (m->n == m->cap) {
        slot = m->head;
        m->head = (m->head + 1) % m->cap;
    } else {
        slot = (m->head + m->n) % m->cap;
        m->n++;
    }
    lt_point *p = &m->points[slot];
    memset(p, 0, sizeof *p);
    p->seq = s->seq;
    p->history = history;
    p->types_complete = s->types_complete;
    p->wall_ns = s->wall_ns;
    p->mono_ns = s->mono_ns;
    p->rss = s->rss_bytes;
    p->rss_peak = s->rss_peak_bytes;
    p->heap = s->heap_bytes;
    p->census_ns = s->census_ns;
    p->tracked = s->tracked_objects;
    p->agent_bytes = s->agent_bytes;
    p->gc_enabled = s->gc_enabled;
    for (int g = 0; g < LT_GENERATIONS; g++) {
        p->gc_collections[g] = s->gc_collections[g];
        p->gc_collected[g] = s->gc_collected[g];
        p->gc_uncollectable[g] = s->gc_uncollectable[g];
    }
    p->gc_garbage = s->gc_garbage;
    p->types_total = s->types_total;
    p->counts_mono_ns = s->counts_mono_ns;
    p->counts_exact = s->counts_exact;
    p->census_cpu_ns = s->census_cpu_ns;
    p->census_max_hold_ns = s->census_max_hold_ns;
    p->census_slices = s->census_slices;
    p->census_restarts = s->census_restarts;
    p->budget_ppm = s->budget_ppm;
    p->nest = s->nest;
    /* A complete census says every type not listed has no objects; a trimmed one says nothing
     * about them. */
    lt_series_clear_slot(&m->sites, slot, LT_UNKNOWN);
    lt_series_clear_slot(&m->lines, slot, LT_UNKNOWN);
    lt_series_clear_slot(&m->user_lines, slot, LT_UNKNOWN);
    uint64_t absent = s->types_complete ? 0 : LT_UNKNOWN;
    for (uint32_t i = 0; i < m->ntypes; i++) {
        m->types[i].count[slot] = m->types[i].bytes[slot] = absent;
        m->types[i].est_sd[slot] = LT_EST_EXACT;
        m->types[i].est_unsampled[slot] = 0;
    }
    for (uint32_t i = 0; i < s->ntypes; i++) {
        lt_type_series *t = series_of(m, s->types[i].name_id);
        if (t == NULL)
            continue;
        t->count[slot] = s->types[i].count;
        t->bytes[slot] = s->types[i].bytes;
    }
    apply_estimates(m, s, slot);
}

int
lt_model_apply(lt_model *m, const lt_msg *msg, char **cause)
{
    if (!m->have_hello && msg->type != LT_FRAME_HELLO) {
        *cause = lt_asprintf("the agent sent a %s frame before saying hello",
                             lt_frame_name(msg->type));
        return -1;
    }
    switch (msg->type) {
    case LT_FRAME_HELLO: {
        const lt_hello *h = &msg->u.hello;
        if (h->major != LT_PROTO_MAJOR) {
            *cause = lt_asprintf("the agent speaks protocol %u.%u, this leaktop speaks %u.%u: "
                                 "use a leaktop of the agent's version",
                                 h->major, h->minor, LT_PROTO_MAJOR, LT_PROTO_MINOR);
            return -1;
        }
        free_hello(m);
        m->have_hello = 1;
        m->major = h->major;
        m->minor = h->minor;
        m->pid = h->pid;
        m->interval_ms = h->interval_ms;
        m->python_version = lt_strdup(h->python_version);
        m->agent_version = lt_strdup(h->agent_version);
        m->executable = lt_strdup(h->executable);
        m->argv = lt_calloc(h->argc ? h->argc : 1, sizeof *m->argv);
        if (m->argv != NULL)
            for (uint32_t i = 0; i < h->argc; i++)
                if ((m->argv[m->argc] = lt_strdup(h->argv[i])) != NULL)
                    m->argc++;
        /* Without memory for the lists, only the built-in rules tell library from own. */
        lt_code_paths_free(&m->code);
        lt_code_paths_init(&m->code, h->lib_paths, h->nlib, getenv("LEAKTOP_LIBRARY_PATHS"),
                           getenv("LEAKTOP_OWN_PATHS"));
        if (m->file_class != NULL)
            memset(m->file_class, 0, m->nfile_class);
        break;
    }
    case LT_FRAME_STRING:
        if (set_string(m, msg->u.string.id, msg->u.string.text) < 0) {
            *cause = lt_asprintf("string id %u out of range", msg->u.string.id);
            return -1;
        }
        break;
    case LT_FRAME_SAMPLE:
        apply_sample(m, &msg->u.sample, (msg->flags & LT_FLAG_HISTORY) != 0);
        break;
    case LT_FRAME_HISTORY_END:
        m->history_done = 1;
        break;
    case LT_FRAME_TRACE:
        if (add_trace(m, &msg->u.trace) < 0) {
            *cause = lt_asprintf("out of memory");
            return -1;
        }
        break;
    case LT_FRAME_SITES:
        apply_sites(m, &msg->u.sites);
        break;
    case LT_FRAME_MARKER:
        apply_marker(m, &msg->u.marker);
        break;
    case LT_FRAME_MEMORY:
        apply_memory(m, &msg->u.memory);
        break;
    case LT_FRAME_WHY:
        if (apply_why(m, &msg->u.why) < 0) {
            *cause = lt_asprintf("out of memory");
            return -1;
        }
        break;
    case LT_FRAME_TYPE_SITES:
        apply_type_sites(m, &msg->u.type_sites);
        break;
    case LT_FRAME_DROPS:
        m->drops = msg->u.drops;
        break;
    case LT_FRAME_BYE:
        m->bye = msg->u.bye.reason ? msg->u.bye.reason : LT_BYE_STOPPED;
        lt_free(m->bye_message);
        m->bye_message = lt_strdup(msg->u.bye.message);
        break;
    default:
        break; /* replies are the connection's business; unknown frames are skipped */
    }
    return 0;
}
