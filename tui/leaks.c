/* Suspects grouped into findings, one per leak (see leaks.h). */
#include "leaks.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "report.h"
#include "leaktop/mem.h"

/* Two paces are the same within this factor: instances made together (an object and its
 * __dict__, a callback and its closure cell) grow together, whatever the sampling noise. */
#define SAME_PACE 1.4

/* snprintf that cuts long names short on purpose (a row is read, not parsed). */
__attribute__((format(printf, 3, 4))) static void
say(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

static int
same_pace(double a, double b)
{
    return a > 0 && b > 0 && a / b <= SAME_PACE && b / a <= SAME_PACE;
}

/* A type of the program or a library module ("__main__.Result", "_asyncio.Task") says more
 * than a builtin that anything makes (dict, list, method). */
static int
named_type(const char *name)
{
    return strchr(name, '.') != NULL;
}

static int
chain_has(const lt_model_why *w, const char *type)
{
    if (w == NULL || !w->found)
        return 0;
    for (uint32_t i = 0; i + 1 < w->nhops; i++) /* not the instance itself */
        if (strcmp(w->hop_type[i], type) == 0)
            return 1;
    return 0;
}

static int
container_type(const char *t)
{
    static const char *const names[] = {"list", "dict", "set", "frozenset", "tuple",
                                        "collections.deque", "collections.OrderedDict",
                                        "collections.defaultdict", "weakref.WeakSet",
                                        "weakref.WeakValueDictionary", "deque"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(t, names[i]) == 0)
            return 1;
    return 0;
}

/* The container that holds the instance: the last container on the chain before it, else its
 * direct referrer. Returns its hop index, or -1 without a chain. */
static int
holder_hop(const lt_model_why *w)
{
    if (w == NULL || !w->found || w->nhops < 2)
        return -1;
    for (int i = (int)w->nhops - 2; i >= 1; i--)
        if (container_type(w->hop_type[i]))
            return i;
    /* A container a root holds directly (a module's list) is the holder itself. */
    if (container_type(w->hop_type[w->nhops - 1]))
        return (int)w->nhops - 1;
    return (int)w->nhops - 2;
}

/* The chain's text from its root through hop last. */
static void
chain_text(const lt_model_why *w, int last, char *out, size_t cap)
{
    out[0] = '\0';
    for (int i = 0; i <= last && i < (int)w->nhops; i++)
        strncat(out, w->hop_text[i], cap - strlen(out) - 1);
}

/* a is b or starts it ("__main__.history" starts "__main__.history[3]"). */
static int
starts(const char *a, const char *b)
{
    size_t n = strlen(a);
    return strncmp(a, b, n) == 0 && (b[n] == '\0' || b[n] == '.' || b[n] == '[');
}

/* Two chains end in different containers, neither inside the other: their instances are held
 * apart, not one leak. */
static int
held_apart(const lt_model_why *a, const lt_model_why *b)
{
    int ha = holder_hop(a), hb = holder_hop(b);
    if (ha < 0 || hb < 0)
        return 0;
    char x[256], y[256], fx[256], fy[256];
    chain_text(a, ha, x, sizeof x);
    chain_text(b, hb, y, sizeof y);
    chain_text(a, (int)a->nhops - 1, fx, sizeof fx);
    chain_text(b, (int)b->nhops - 1, fy, sizeof fy);
    return !(starts(x, fy) || starts(y, fx));
}

/* An asyncio task type: the C one (_asyncio.Task), the Python one (asyncio.tasks._PyTask,
 * asyncio.tasks.Task) or a subclass named so. */
static int
task_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot != NULL &&
           (strncmp(name, "_asyncio.", 9) == 0 || strncmp(name, "asyncio.", 8) == 0) &&
           (strcmp(dot, ".Task") == 0 || strcmp(dot, "._PyTask") == 0);
}

/* What a pending task keeps, one or a few of each (one coroutine and, before 3.11, one frame per
 * await level; the future it waits on; its wake-up callback, its context). */
static int
task_part(const char *name)
{
    static const char *const names[] = {
        "coroutine", "frame", "generator", "async_generator", "cell", "method",
        "builtin_function_or_method", "_asyncio.Future", "asyncio.futures.Future",
        "_asyncio.FutureIter", "_asyncio.TaskWakeupMethWrapper", "_asyncio.TaskStepMethWrapper",
        "Context", "_contextvars.Context", "contextvars.Context"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(name, names[i]) == 0)
            return 1;
    return 0;
}

/* One of a and b is a task type, the other what such tasks keep, growing at one to a few times
 * the tasks' pace: one leak whatever the chains say (a frame's own is often not asked yet). */
static int
kept_by_tasks(const lt_suspect *a, const lt_suspect *b)
{
    const lt_suspect *t = task_type(a->name) ? a : task_type(b->name) ? b : NULL;
    const lt_suspect *o = t == a ? b : a;
    if (t == NULL || !task_part(o->name) || t->growth_count_per_s <= 0 ||
        o->growth_count_per_s <= 0)
        return 0;
    double r = o->growth_count_per_s / t->growth_count_per_s;
    return r >= 1 / SAME_PACE && r <= 4 * SAME_PACE;
}

/* A pending task is kept by the event loop (the future it waits on holds its wake-up, the
 * loop holds that future's callbacks or timer), from no module: no chain from a root, or too
 * many referrers to follow (every task waiting on one Event). What lists it is the loop's task
 * set, the WeakSet asyncio.all_tasks() reads: found on the chain of the weak references that
 * grow with the tasks (_asyncio._all_tasks up to 3.11, _scheduled_tasks on 3.12 and 3.13),
 * else (3.14 keeps them in a list of its own) named for what it is. */
static void
task_holder(const lt_model *m, const lt_suspect *s, int ns, lt_leak *f)
{
    f->have_holder = f->pending_tasks = 1;
    for (int j = 0; j < ns; j++) {
        if (s[j].kind != LT_SUSPECT_TYPE ||
            (strcmp(s[j].name, "weakref") != 0 && strncmp(s[j].name, "weakref.", 8) != 0))
            continue; /* ("weakref" before 3.9, "weakref.ReferenceType" since) */
        const lt_model_why *w = lt_model_why_get(m, s[j].name_id);
        if (w == NULL || !w->found || w->nhops < 3 || strstr(w->hop_text[0], "asyncio") == NULL)
            continue; /* (asyncio's own set, not threading's or the program's) */
        for (uint32_t i = 1; i + 1 < w->nhops; i++) {
            size_t len = strlen(w->hop_type[i]);
            /* The WeakSet, or (its module holding it by its set, as _asyncio does on 3.12
             * and 3.13) the set of the weak references. */
            int weak_set = len >= 7 && strcmp(w->hop_type[i] + len - 7, "WeakSet") == 0;
            if (!weak_set && !(i + 2 == w->nhops && strcmp(w->hop_type[i], "set") == 0))
                continue;
            say(f->root, sizeof f->root, "%s", w->hop_text[0]);
            chain_text(w, (int)i, f->holder, sizeof f->holder);
            say(f->holder_type, sizeof f->holder_type, "%s", w->hop_type[i]);
            say(f->holder_note, sizeof f->holder_note, "pending tasks, never awaited or cancelled");
            return;
        }
    }
    say(f->root, sizeof f->root, "asyncio");
    say(f->holder, sizeof f->holder, "asyncio.all_tasks()");
    say(f->holder_type, sizeof f->holder_type, "the event loop's tasks");
    say(f->holder_note, sizeof f->holder_note, "pending tasks, never awaited or cancelled");
}

static const lt_type_series *
type_series(const lt_model *m, uint32_t name_id)
{
    for (uint32_t i = 0; i < m->ntypes; i++)
        if (m->types[i].name_id == name_id)
            return &m->types[i];
    return NULL;
}

/* Mean shallow bytes of an instance at the newest point that lists the type; 0 unknown. */
static double
shallow_each(const lt_model *m, uint32_t name_id)
{
    const lt_type_series *t = type_series(m, name_id);
    for (uint32_t i = m->n; t != NULL && i-- > 0;) {
        uint32_t slot = lt_model_slot(m, i);
        if (t->count[slot] != LT_UNKNOWN && t->count[slot] > 0)
            return (double)t->bytes[slot] / (double)t->count[slot];
    }
    return 0;
}

/* Where the instances of a type were allocated: the innermost own frame of the top TYPE_SITES
 * row. Returns 1 with *f and *trace set, 0 when the answer has no row (or none came). */
static int
type_site(lt_model *m, uint32_t name_id, uint32_t row, lt_trace_frame *f, uint32_t *trace,
          uint32_t *lib_frames)
{
    const lt_model_type_sites *ts = lt_model_type_sites_get(m, name_id);
    if (ts == NULL || ts->nrows <= row)
        return 0;
    const lt_model_trace *t = lt_model_trace_get(m, ts->rows[row].trace_id);
    if (t == NULL || t->nframes == 0)
        return 0;
    uint32_t k = lt_model_user_frame(m, t);
    *f = t->frames[k];
    *trace = t->id;
    *lib_frames = k;
    return 1;
}

/* The traceback trace_id passes through the line of fr, below its newest frame: allocated by
 * what that line called (a constructor's attributes). */
static int
calls_from(const lt_model *m, uint32_t trace_id, const lt_trace_frame *fr)
{
    const lt_model_trace *t = lt_model_trace_get(m, trace_id);
    for (uint32_t i = 1; t != NULL && i < t->nframes; i++)
        if (t->frames[i].file_id == fr->file_id && t->frames[i].line == fr->line)
            return 1;
    return 0;
}

/* Bytes per second the live allocations of a line of the program's own code grew by over the
 * model's last GROWTH_POINTS points (the sampler's estimate: now, not while the program
 * started); 0 unknown. */
#define GROWTH_POINTS 10u
static double
line_growth(const lt_model *m, const lt_trace_frame *fr)
{
    const lt_series *x = lt_series_find(&m->user_lines, (lt_series_key){fr->file_id, fr->func_id,
                                                                         fr->line});
    if (x == NULL || m->n < 2)
        return 0;
    double t[GROWTH_POINTS], v[GROWTH_POINTS];
    uint32_t k = 0, from = m->n > GROWTH_POINTS ? m->n - GROWTH_POINTS : 0;
    uint64_t t0 = lt_model_point(m, from)->mono_ns;
    for (uint32_t i = from; i < m->n; i++) {
        uint64_t b = x->bytes[lt_model_slot(m, i)];
        if (b == LT_UNKNOWN)
            continue;
        t[k] = (double)(lt_model_point(m, i)->mono_ns - t0) / 1e9;
        v[k++] = (double)b;
    }
    return lt_slope(t, v, k);
}

static const char *
base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The bytes per second one type part adds: its instances' pace times what each owns when the
 * agent measured it, else the growth of its shallow bytes. */
static double
type_bytes_rate(const lt_model *m, const lt_suspect *x, double *owned, double *shallow)
{
    const lt_model_type_sites *ts = lt_model_type_sites_get(m, x->name_id);
    *shallow = shallow_each(m, x->name_id);
    double extra = ts && ts->owned_sampled ? (double)ts->owned_extra_bytes / ts->owned_sampled
                                           : 0;
    *owned = ts && ts->owned_sampled ? *shallow + extra : 0;
    /* The census counts the shallow bytes exactly; what each new instance owns beyond them
     * comes with its pace. */
    return x->growth_bytes_per_s + (x->growth_count_per_s > 0 ? x->growth_count_per_s * extra
                                                                : 0);
}

static void
add_part(lt_leak *f, int i, int *used)
{
    if (f->nparts < LT_LEAK_MAX_PARTS) {
        f->parts[f->nparts++] = i;
        used[i] = 1;
    }
}

static void
sentence_type(lt_model *m, const lt_suspect *s, lt_leak *f)
{
    char rate[48], each[48] = "", count[48];
    lt_fmt_byte_rate(rate, sizeof rate, f->bytes_per_s);
    if (f->count_per_s > 0)
        say(count, sizeof count, "+%.0f/s, ", f->count_per_s);
    else
        say(count, sizeof count, "one growing, ");
    if (f->owned_each > f->shallow_each * 1.5 && f->owned_each > 0) {
        char b[32];
        say(each, sizeof each, ", %s each", lt_fmt_bytes(b, sizeof b,
                                                              (uint64_t)f->owned_each));
    }
    char where[256], held[320];
    if (f->have_site)
        say(where, sizeof where, "allocated at %s:%u in %s",
                 base_name(lt_model_string(m, f->file_id)), f->line,
                 lt_model_string(m, f->func_id));
    else
        say(where, sizeof where, "allocation site not known yet");
    if (f->pending_tasks)
        say(held, sizeof held, "held by the event loop: %s (listed in %s, %s)", f->holder_note,
            f->holder, f->holder_type);
    else if (f->have_holder)
        say(held, sizeof held, "held by %s (%s)", f->holder, f->holder_type);
    else if (f->holder_note[0])
        say(held, sizeof held, "not held by a chain: %s", f->holder_note);
    else
        say(held, sizeof held, "holder not known yet");
    char with[160] = "";
    for (int k = 1; k < f->nparts; k++) {
        const lt_suspect *p = &s[f->parts[k]];
        if (p->kind != LT_SUSPECT_TYPE)
            continue;
        size_t len = strlen(with);
        say(with + len, sizeof with - len, "%s%s", len ? ", " : "; with ", p->name);
    }
    say(f->sentence, sizeof f->sentence, "%s grows (%s%s%s), %s, %s%s", f->what, count,
             rate, each, where, held, with);
}

/* A finding led by type suspect i: the types that grow with it, its site, its holder. */
static void
type_finding(lt_model *m, const lt_suspect *s, int ns, int i, int *used, lt_leak *f)
{
    memset(f, 0, sizeof *f);
    f->kind = LT_SUSPECT_TYPE;
    add_part(f, i, used);
    /* Whatever grows with any part joins (transitively: a list on an object's chain, the
     * object's other attributes at its pace). */
    for (int grew = 1; grew;) {
        grew = 0;
        for (int j = i + 1; j < ns; j++) {
            if (used[j] || s[j].kind != LT_SUSPECT_TYPE || s[j].growth_count_per_s <= 0)
                continue; /* (one growing container joins what it holds: see the build) */
            const lt_model_why *wj = lt_model_why_get(m, s[j].name_id);
            for (int k = 0; k < f->nparts && !used[j]; k++) {
                const lt_suspect *p = &s[f->parts[k]];
                const lt_model_why *wp = lt_model_why_get(m, p->name_id);
                int related = chain_has(wp, s[j].name) || chain_has(wj, p->name) ||
                              kept_by_tasks(p, &s[j]);
                if ((related || same_pace(p->growth_count_per_s, s[j].growth_count_per_s)) &&
                    !held_apart(wp, wj)) {
                    add_part(f, j, used);
                    grew = used[j];
                }
            }
        }
    }
    /* The lead: a task says most of what a program made (a pending task keeps its
     * coroutine, its future and their callbacks); then a named type; else the most likely. */
    int lead_k = -1;
    for (int k = 0; k < f->nparts && lead_k < 0; k++)
        if (task_type(s[f->parts[k]].name))
            lead_k = k;
    for (int k = 0; k < f->nparts && lead_k < 0; k++)
        if (named_type(s[f->parts[k]].name))
            lead_k = k;
    if (lead_k > 0) {
        int t = f->parts[0];
        f->parts[0] = f->parts[lead_k];
        f->parts[lead_k] = t;
    }
    const lt_suspect *lead = &s[f->parts[0]];
    f->name_id = lead->name_id;
    say(f->what, sizeof f->what, "%s", lead->name);
    f->count_per_s = lead->growth_count_per_s;

    /* Where: of the sites of the lead's instances (then of a part's), the one whose line is a
     * suspect too and grows fastest (old instances made elsewhere may hold more bytes); else
     * the largest. A traceback through the program's own code comes before one that has none
     * (made by a library's thread before it calls the program: a router's lists), whichever
     * part's it is. */
    int site_grows = 0, best_own = -1, best_k = 0, best_suspect = 0;
    double best = 0;
    for (int k = 0; k < f->nparts; k++) {
        for (uint32_t row = 0; row < LT_MODEL_TYPE_SITE_ROWS; row++) {
            lt_trace_frame fr;
            uint32_t tr, lib;
            if (!type_site(m, s[f->parts[k]].name_id, row, &fr, &tr, &lib))
                break;
            int own = !lt_model_file_is_library(m, fr.file_id);
            int suspect = 0;
            for (int j = 0; j < ns && !suspect; j++)
                suspect = s[j].kind == LT_SUSPECT_SITE && s[j].file_id == fr.file_id &&
                          s[j].line == fr.line;
            double g = line_growth(m, &fr);
            if (best_own >= 0 &&
                (own < best_own ||
                 (own == best_own &&
                  (k > best_k || suspect < best_suspect ||
                   (suspect == best_suspect && g <= best)))))
                continue;
            best = g > 0 ? g : 0;
            best_own = own;
            best_k = k;
            best_suspect = suspect;
            f->have_site = 1;
            f->file_id = fr.file_id;
            f->func_id = fr.func_id;
            f->line = fr.line;
            f->trace_id = tr;
            f->lib_frames = lib;
            site_grows = suspect;
        }
    }
    /* No sampled instance at a growing line (objects too small to be sampled often, whose
     * items are: a list of 1,000 items): the growing line whose bytes keep the type's pace. */
    for (int j = 0; j < ns && !site_grows; j++)
        for (int k = 0; k < f->nparts && !site_grows; k++)
            if (s[j].kind == LT_SUSPECT_SITE &&
                same_pace(s[j].growth_bytes_per_s, s[f->parts[k]].growth_bytes_per_s) &&
                (best_own != 1 || !lt_model_file_is_library(m, s[j].file_id))) {
                site_grows = f->have_site = 1;
                f->file_id = s[j].file_id;
                f->func_id = s[j].func_id;
                f->line = s[j].line;
                f->trace_id = s[j].trace_id;
                f->lib_frames = s[j].lib_frames;
            }
    /* What holds it. */
    const lt_model_why *w = lt_model_why_get(m, lead->name_id);
    int h = holder_hop(w);
    if (h >= 0) {
        f->have_holder = 1;
        say(f->root, sizeof f->root, "%s", w->hop_text[0]);
        chain_text(w, h, f->holder, sizeof f->holder);
        say(f->holder_type, sizeof f->holder_type, "%s", w->hop_type[h]);
    } else if (w != NULL && task_type(lead->name)) {
        task_holder(m, s, ns, f);
    } else if (w != NULL) {
        say(f->holder_note, sizeof f->holder_note, "%s",
                 w->note[0] ? w->note : "no chain from a root was found");
    }

    /* Bytes: what each type part owns, then the sites that grow with it. */
    double types_rate = 0;
    for (int k = 0; k < f->nparts; k++) {
        double owned, shallow;
        double r = type_bytes_rate(m, &s[f->parts[k]], &owned, &shallow);
        types_rate += r > 0 ? r : 0;
        if (k == 0) {
            f->owned_each = owned;
            f->shallow_each = shallow;
        }
    }
    f->bytes_per_s = types_rate;

    /* How sure: the lead's growth, times what the agent confirmed. */
    /* (The census counts a type's objects exactly: even unconfirmed, it is surer than a
     * sampled site alone.) */
    f->score = lead->score * (0.8 + 0.1 * f->have_site +
                              0.1 * (f->have_holder || f->holder_note[0]));
    say(f->score_why, sizeof f->score_why, "%s; %s; %s", lead->reason,
             f->have_site ? "its instances' site found in sampled allocations"
                          : "no sampled instance yet",
             f->pending_tasks ? "pending tasks the event loop keeps"
             : f->have_holder ? "one reference chain from a root"
             : f->holder_note[0] ? "no chain (see the note)"
                                 : "not asked what holds it yet");
}

/* How site suspect j belongs to type finding f, from the most certain way to the least:
 * 0 it is where a part's instances were allocated (their top site), 1 one of their next sites:
 * the same bytes as the part's; then what the instances keep, allocated with them: 2 below
 * the line that made a part's instance (a constructor's attributes), 3 in the same function
 * (ints, strings, untracked dicts), a few blocks per instance, 4 in the same file at the same
 * pace (a closure's buffer). Returns the part it belongs with + 1, 0 when not at that level. */
static int
site_belongs(lt_model *m, const lt_suspect *s, const lt_leak *f, int j, int level)
{
    for (int k = 0; k < f->nparts; k++) {
        const lt_suspect *p = &s[f->parts[k]];
        if (p->kind != LT_SUSPECT_TYPE)
            continue;
        double ratio = p->growth_count_per_s > 0
                           ? s[j].growth_count_per_s / p->growth_count_per_s : 0;
        int few = ratio >= 0.5 && ratio <= 5;
        for (uint32_t row = 0; row < (level == 1 ? 3u : 1u); row++) {
            lt_trace_frame fr;
            uint32_t tr, lib;
            if (!type_site(m, p->name_id, row, &fr, &tr, &lib) || fr.file_id != s[j].file_id)
                continue;
            if ((level <= 1 && fr.line == s[j].line) ||
                (level == 2 && few && calls_from(m, s[j].trace_id, &fr)) ||
                (level == 3 && few && fr.func_id == s[j].func_id) ||
                (level == 4 && same_pace(p->growth_count_per_s, s[j].growth_count_per_s)))
                return f->parts[k] + 1;
        }
    }
    return 0;
}

static void
site_finding(lt_model *m, const lt_suspect *s, int i, int *used, lt_leak *f)
{
    memset(f, 0, sizeof *f);
    f->kind = s[i].kind;
    add_part(f, i, used);
    say(f->what, sizeof f->what, "%s", s[i].name);
    f->count_per_s = s[i].growth_count_per_s;
    f->bytes_per_s = s[i].growth_bytes_per_s;
    char rate[48];
    lt_fmt_byte_rate(rate, sizeof rate, f->bytes_per_s);
    if (s[i].kind == LT_SUSPECT_SITE) {
        f->have_site = 1;
        f->file_id = s[i].file_id;
        f->func_id = s[i].func_id;
        f->line = s[i].line;
        f->trace_id = s[i].trace_id;
        f->lib_frames = s[i].lib_frames;
        char folded[64] = "";
        if (f->lib_frames)
            say(folded, sizeof folded, " (through %u library frame%s)", f->lib_frames,
                     f->lib_frames == 1 ? "" : "s");
        say(f->sentence, sizeof f->sentence,
                 "memory allocated at %s:%u in %s grows (%s%s), no container type grows "
                 "with it%s",
                 base_name(lt_model_string(m, f->file_id)), f->line,
                 lt_model_string(m, f->func_id), rate,
                 f->count_per_s >= 1 ? "" : ", a few growing blocks", folded);
        f->score = s[i].score * 0.75;
        say(f->score_why, sizeof f->score_why, "%s; no GC-tracked type grows with it",
                 s[i].reason);
    } else {
        say(f->sentence, sizeof f->sentence, "%s grows (%s)", s[i].name, rate);
        f->score = s[i].score;
        say(f->score_why, sizeof f->score_why, "%s", s[i].reason);
    }
}

static int
cmp_findings(const void *a, const void *b)
{
    const lt_leak *x = a, *y = b;
    double sx = floor(x->score * 10), sy = floor(y->score * 10);
    if (sx != sy)
        return sx < sy ? 1 : -1;
    /* As sure: a type (counted exactly) says more than a sampled site; one whose holder is
     * known more than one whose instances were found held by nothing (a builtin type's
     * temporaries, made faster than the objects that leak keep theirs). */
    if ((x->kind == LT_SUSPECT_SITE) != (y->kind == LT_SUSPECT_SITE))
        return x->kind == LT_SUSPECT_SITE ? 1 : -1;
    if (x->have_holder != y->have_holder)
        return x->have_holder ? -1 : 1;
    if (x->bytes_per_s != y->bytes_per_s)
        return x->bytes_per_s < y->bytes_per_s ? 1 : -1;
    return strcmp(x->what, y->what);
}

int
lt_leaks_build(lt_model *m, const lt_suspect *s, int ns, lt_leak *out, int max)
{
    if (ns <= 0 || max <= 0)
        return 0;
    int *used = lt_calloc((size_t)ns, sizeof *used);
    if (used == NULL)
        return 0;
    int n = 0;
    for (int i = 0; i < ns && n < max; i++)
        if (!used[i] && s[i].kind == LT_SUSPECT_TYPE && s[i].growth_count_per_s > 0)
            type_finding(m, s, ns, i, used, &out[n++]);
    /* A type that grows by its bytes alone is one container growing: the holder of a finding
     * when it is of the holder's type (the chain asked about it may start elsewhere). */
    for (int i = 0; i < ns; i++) {
        if (used[i] || s[i].kind != LT_SUSPECT_TYPE)
            continue;
        for (int k = 0; k < n && !used[i]; k++)
            if (out[k].kind == LT_SUSPECT_TYPE && out[k].have_holder &&
                strcmp(out[k].holder_type, s[i].name) == 0) {
                add_part(&out[k], i, used);
                out[k].bytes_per_s += s[i].growth_bytes_per_s > 0 ? s[i].growth_bytes_per_s : 0;
            }
        if (!used[i] && n < max) {
            type_finding(m, s, ns, i, used, &out[n]);
            /* A container growing alone is most likely the holder of objects that grow: the
             * finding about those says more. */
            if (n > 0)
                out[n].score *= 0.9;
            n++;
        }
    }
    /* Sites: to the finding they belong to most surely. */
    for (int level = 0; level <= 4; level++)
        for (int j = 0; j < ns; j++)
            for (int k = 0; k < n && !used[j] && s[j].kind == LT_SUSPECT_SITE; k++) {
                int part = out[k].kind == LT_SUSPECT_TYPE ? site_belongs(m, s, &out[k], j, level)
                                                          : 0;
                if (part == 0)
                    continue;
                add_part(&out[k], j, used);
                /* The part's own bytes are counted; what else that line keeps (the floats of
                 * a list it fills) adds. */
                double owned = 0, shallow = 0;
                double extra = s[j].growth_bytes_per_s -
                               (level <= 1 ? type_bytes_rate(m, &s[part - 1], &owned, &shallow)
                                           : 0);
                out[k].bytes_per_s += extra > 0 ? extra : 0;
            }
    for (int i = 0; i < n; i++)
        sentence_type(m, s, &out[i]);
    for (int i = 0; i < ns && n < max; i++)
        if (!used[i])
            site_finding(m, s, i, used, &out[n++]);
    lt_free(used);
    qsort(out, (size_t)n, sizeof *out, cmp_findings);
    return n;
}

int
lt_leaks_wanted(const lt_leak *f, int nf, const lt_suspect *s, uint32_t *ids, int max)
{
    int n = 0;
    /* Each finding's lead first, then the types grouped with them. */
    for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < nf; i++)
        for (int k = pass; k < (pass ? f[i].nparts : 1) && n < max; k++) {
            const lt_suspect *x = &s[f[i].parts[k]];
            if (x->kind != LT_SUSPECT_TYPE)
                continue;
            int seen = 0;
            for (int j = 0; j < n && !seen; j++)
                seen = ids[j] == x->name_id;
            if (!seen)
                ids[n++] = x->name_id;
        }
    return n;
}
