/* Leak suspects from the model's series. */
#include "suspects.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "breakdown.h"
#include "format.h"
#include "leaktop/mem.h"
#include "report.h"

#define FRAG_MIN_BYTES (16.0 * 1024 * 1024)
#define FRAG_MIN_SHARE 0.5

#define MIN_POINTS 6
#define MIN_SECONDS 5.0

const char *
lt_suspect_kind_name(lt_suspect_kind k)
{
    return k == LT_SUSPECT_SITE ? "site" : k == LT_SUSPECT_TYPE ? "type" : "native";
}

static double
r_squared(const double *x, const double *y, uint32_t n, double slope)
{
    double mx = 0, my = 0;
    for (uint32_t i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= n;
    my /= n;
    double ss_tot = 0, ss_res = 0;
    for (uint32_t i = 0; i < n; i++) {
        double fit = my + slope * (x[i] - mx);
        ss_res += (y[i] - fit) * (y[i] - fit);
        ss_tot += (y[i] - my) * (y[i] - my);
    }
    return ss_tot > 0 ? 1.0 - ss_res / ss_tot : 0.0;
}

void
lt_trend_judge(const double *t, const double *v, uint32_t n, double min_net, lt_trend *out)
{
    memset(out, 0, sizeof *out);
    double *x = lt_malloc((n ? n : 1) * sizeof *x), *y = lt_malloc((n ? n : 1) * sizeof *y);
    if (x == NULL || y == NULL)
        goto done;
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        if (!isnan(v[i])) {
            x[k] = t[i];
            y[k] = v[i];
            k++;
        }
    uint32_t warm = k / 5;
    if (k - warm < MIN_POINTS - 1)
        goto done;
    const double *wx = x + warm, *wy = y + warm;
    uint32_t m = k - warm;
    if (wx[m - 1] - wx[0] < MIN_SECONDS * 0.8)
        goto done;
    for (uint32_t i = 1; i < m; i++) {
        out->steps++;
        if (wy[i] > wy[i - 1])
            out->rising++;
        else if (wy[i] < wy[i - 1])
            out->falling++;
    }
    out->net = wy[m - 1] - wy[0];
    out->slope = lt_slope(wx, wy, m);
    out->r2 = r_squared(wx, wy, m, out->slope);
    uint32_t tail = m / 3 < 3 ? 3 : m / 3;
    out->last_slope = lt_slope(wx + m - tail, wy + m - tail, tail);
    if (out->slope <= 0 || out->net < min_net || out->steps == 0)
        goto done;
    /* Rising in most steps; a step that stays level (growth below what one sample resolves)
     * counts half, one that falls counts against. */
    double level = (double)(out->steps - out->rising - out->falling);
    double mostly_up = ((double)out->rising + 0.5 * level - (double)out->falling) / out->steps;
    if (mostly_up < 0)
        mostly_up = 0;
    /* Still rising at the end: the last third keeps at least a third of the overall pace. */
    double keep = out->last_slope / out->slope;
    double no_plateau = keep >= 0.6 ? 1.0 : keep <= 0.2 ? 0.0 : (keep - 0.2) / 0.4;
    double fit = out->r2 < 0 ? 0 : out->r2;
    out->score = sqrt(mostly_up) * fit * no_plateau;
done:
    lt_free(x);
    lt_free(y);
}

/* Gather (time, value) of one series over points [first, m->n). */
typedef struct window {
    double *t, *v;
    uint32_t n;
} window;

static void
fill_times(const lt_model *m, uint32_t first, window *w)
{
    const lt_point *p0 = lt_model_point(m, first);
    for (uint32_t i = 0; i < w->n; i++)
        w->t[i] = (double)(lt_model_point(m, first + i)->mono_ns - p0->mono_ns) / 1e9;
}

static void
from_array(const lt_model *m, uint32_t first, const uint64_t *a, window *w)
{
    for (uint32_t i = 0; i < w->n; i++) {
        uint64_t x = a[lt_model_slot(m, first + i)];
        w->v[i] = x == LT_UNKNOWN ? NAN : (double)x;
    }
}

/* How much a sampled live-bytes series can rise by chance: its estimate counts samples of
 * `interval` bytes, whose number varies by about its square root, so a line holding many
 * intervals (a full cache at its steady size) wanders by several of them. Three standard
 * deviations of the window's mean level, and never under four intervals. */
static double
sampling_noise(const double *v, uint32_t n, uint64_t interval)
{
    double sum = 0;
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        if (!isnan(v[i])) {
            sum += v[i];
            k++;
        }
    double iv = (double)interval, samples = k ? sum / k / iv : 0;
    double noise = 3.0 * sqrt(samples > 0 ? samples : 0) * iv;
    return noise > 4.0 * iv ? noise : 4.0 * iv;
}

/* The sampling noise of a type's count over the window, when its first or last figure is an
 * estimate since a census (SAMPLE 1.2): each estimate's standard deviation, combined. The
 * estimates of one census share their older samples, so this overstates the noise a little:
 * the side to err on, a bounded type must not be named by chance. 0: both are exact. */
static double
estimate_sd(const lt_model *m, const lt_type_series *s, uint32_t first, uint32_t n)
{
    uint32_t a = lt_model_slot(m, first), b = lt_model_slot(m, first + n - 1);
    double sa = lt_type_estimated(s, a) ? (double)s->est_sd[a] : 0;
    double sb = lt_type_estimated(s, b) ? (double)s->est_sd[b] : 0;
    return sqrt(sa * sa + sb * sb);
}

static void
reason(lt_suspect *s, const lt_trend *tr, const char *what)
{
    char rate[48];
    lt_fmt_byte_rate(rate, sizeof rate, s->growth_bytes_per_s);
    snprintf(s->reason, sizeof s->reason, "%s grew in %u of the last %u samples, %s%s", what,
             tr->rising, tr->steps, rate,
             tr->last_slope >= 0.6 * tr->slope ? ", no plateau" : ", slowing");
}

static int
cmp_suspects(const void *a, const void *b)
{
    const lt_suspect *x = a, *y = b;
    /* Most likely first; among near-equal likelihoods, the one that costs most memory. */
    double sx = floor(x->score * 20), sy = floor(y->score * 20);
    if (sx != sy)
        return sx < sy ? 1 : -1;
    if (x->growth_bytes_per_s != y->growth_bytes_per_s)
        return x->growth_bytes_per_s < y->growth_bytes_per_s ? 1 : -1;
    return strcmp(x->name, y->name);
}

/* Python's allocations over the window: the sampler's estimate of every live block when it
 * runs, else the GC census's shallow bytes. */
static void
python_heap(const lt_model *m, uint32_t first, window *w)
{
    for (uint32_t i = 0; i < w->n; i++) {
        const lt_point *p = lt_model_point(m, first + i);
        w->v[i] = (double)(p->have_sites ? p->heap_sampled : p->heap);
    }
}

/* One part of the breakdown over the window, NaN where a point has no MEMORY. Returns how many
 * points have it. */
static uint32_t
part_values(const lt_model *m, uint32_t first, lt_part part, int signed_ok, window *w)
{
    uint32_t have = 0;
    for (uint32_t i = 0; i < w->n; i++) {
        lt_breakdown b;
        lt_breakdown_of(lt_model_point(m, first + i), &b);
        int ok = b.valid && (part == LT_PART_PY_USED || part == LT_PART_PY_FREE ? b.have_py
                             : part == LT_PART_NATIVE_USED ? b.have_heap : 1);
        w->v[i] = ok && (signed_ok || b.part[part] >= 0) ? (double)b.part[part] : NAN;
        have += ok;
    }
    return have;
}

/* Slope over the points whose value is known; tmp has room for w->n times. */
static double
known_slope(const window *w, double *tmp, double *vals)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < w->n; i++)
        if (!isnan(w->v[i])) {
            tmp[k] = w->t[i];
            vals[k] = w->v[i];
            k++;
        }
    return lt_slope(tmp, vals, k);
}

static void
native_suspect(lt_suspect *x, const char *name, const lt_trend *tr, double growth)
{
    memset(x, 0, sizeof *x);
    x->kind = LT_SUSPECT_NATIVE;
    snprintf(x->name, sizeof x->name, "%s", name);
    x->score = tr->score;
    x->growth_bytes_per_s = growth;
}

/* The native suspects of the window into out (room for 2). Returns how many. */
static int
native_suspects(const lt_model *m, uint32_t first, window *w, lt_suspect *out)
{
    uint32_t n = w->n;
    int found = 0;
    double *tmp = lt_malloc(n * sizeof *tmp), *vals = lt_malloc(n * sizeof *vals);
    if (tmp == NULL || vals == NULL)
        goto done;
    python_heap(m, first, w);
    double py_slope = lt_slope(w->t, w->v, n);
    char py_rate[48], rate[48];
    lt_fmt_byte_rate(py_rate, sizeof py_rate, py_slope);

    /* The C heap in use, as malloc counts it. */
    double heap_slope = 0;
    int have_heap = part_values(m, first, LT_PART_NATIVE_USED, 0, w) * 2 > n;
    lt_trend tr;
    if (have_heap) {
        heap_slope = known_slope(w, tmp, vals);
        lt_trend_judge(w->t, w->v, n, 4.0 * 1024 * 1024, &tr);
        if (tr.score >= LT_SUSPECT_THRESHOLD && py_slope < 0.25 * tr.slope) {
            lt_suspect *x = &out[found++];
            native_suspect(x, "native heap (malloc, outside Python's allocations)", &tr,
                           tr.slope - (py_slope > 0 ? py_slope : 0));
            reason(x, &tr, "native heap in use (mallinfo2)");
            size_t len = strlen(x->reason);
            snprintf(x->reason + len, sizeof x->reason - len,
                     "; native heap grows while Python's allocations: %s", py_rate);
        }
    }

    /* RSS: what grows beyond the C heap and Python's objects. */
    for (uint32_t i = 0; i < n; i++)
        w->v[i] = (double)lt_model_point(m, first + i)->rss;
    lt_trend_judge(w->t, w->v, n, 4.0 * 1024 * 1024, &tr);
    if (tr.score < LT_SUSPECT_THRESHOLD)
        goto done;
    double explained = (py_slope > 0 ? py_slope : 0) + (heap_slope > 0 ? heap_slope : 0);
    if (explained >= 0.25 * tr.slope)
        goto done; /* Python or the C heap (named above) accounts for it */
    lt_fragmentation frag;
    if (have_heap && lt_fragmentation_judge(m, first, &frag)) {
        /* pymalloc's free arena memory grows with it: fragmentation, noted elsewhere. */
        part_values(m, first, LT_PART_PY_FREE, 0, w);
        double free_slope = known_slope(w, tmp, vals);
        part_values(m, first, LT_PART_NATIVE_FREE, 0, w);
        free_slope += known_slope(w, tmp, vals);
        if (free_slope >= 0.5 * tr.slope)
            goto done;
    }
    lt_suspect *x = &out[found++];
    native_suspect(x,
                   have_heap ? "native memory (outside Python's allocations and malloc's heap)"
                             : "native memory (outside Python's allocators)",
                   &tr, tr.slope - explained);
    lt_fmt_byte_rate(rate, sizeof rate, heap_slope);
    reason(x, &tr, "RSS");
    size_t len = strlen(x->reason);
    if (have_heap)
        snprintf(x->reason + len, sizeof x->reason - len,
                 "; the Python heap: %s, malloc's heap in use: %s (mmap, thread stacks, other "
                 "allocators)", py_rate, rate);
    else
        snprintf(x->reason + len, sizeof x->reason - len, "; the Python heap: %s", py_rate);
done:
    lt_free(tmp);
    lt_free(vals);
    return found;
}

int
lt_fragmentation_judge(const lt_model *m, uint32_t first, lt_fragmentation *out)
{
    memset(out, 0, sizeof *out);
    uint32_t last = UINT32_MAX;
    for (uint32_t i = m->n; i-- > first;)
        if (lt_model_point(m, i)->have_memory) {
            last = i;
            break;
        }
    if (last == UINT32_MAX)
        return 0;
    const lt_point *p = lt_model_point(m, last);
    const lt_memory *mem = &p->mem;
    uint32_t n = m->n - first;
    window w = {lt_malloc(n * sizeof(double)), lt_malloc(n * sizeof(double)), n};
    double *tmp = lt_malloc(n * sizeof *tmp), *vals = lt_malloc(n * sizeof *vals);
    if (w.t == NULL || w.v == NULL || tmp == NULL || vals == NULL)
        goto done;
    fill_times(m, first, &w);
    double span = w.t[n - 1] > 0 ? w.t[n - 1] : 1;
    char a[32], b[32], c[32];
    if (mem->have & LT_MEM_HAVE_PYMALLOC) {
        double arena = (double)mem->py_arena_bytes, used = (double)mem->py_used_bytes;
        out->py_free = arena - used;
        part_values(m, first, LT_PART_PY_USED, 0, &w);
        double used_gain = known_slope(&w, tmp, vals) * span;
        /* Free space held while what is in use stays flat (or shrinks). */
        if (out->py_free >= FRAG_MIN_BYTES && out->py_free >= FRAG_MIN_SHARE * arena &&
            used_gain < 0.1 * out->py_free) {
            out->found = 1;
            snprintf(
                out->reason, sizeof out->reason,
                "pymalloc holds %s free in %llu arenas (%.0f%% of their %s) while the objects "
                "in use (%s) stay flat: freed objects left pools with a few survivors, which "
                "keep their arenas",
                lt_fmt_bytes(a, sizeof a, (uint64_t)out->py_free),
                (unsigned long long)mem->py_arenas, 100.0 * out->py_free / arena,
                lt_fmt_bytes(b, sizeof b, mem->py_arena_bytes),
                lt_fmt_bytes(c, sizeof c, mem->py_used_bytes));
        }
    }
    if (mem->have & LT_MEM_HAVE_MALLOC) {
        double heap = (double)mem->heap_arena_bytes, used = (double)mem->heap_used_bytes;
        out->heap_free = (double)mem->heap_free_bytes;
        for (uint32_t i = 0; i < n; i++) {
            const lt_point *q = lt_model_point(m, first + i);
            w.v[i] = q->have_memory && (q->mem.have & LT_MEM_HAVE_MALLOC)
                         ? (double)q->mem.heap_used_bytes : NAN;
        }
        double used_gain = known_slope(&w, tmp, vals) * span;
        if (out->heap_free >= 4 * FRAG_MIN_BYTES && out->heap_free >= FRAG_MIN_SHARE * heap &&
            used_gain < 0.1 * out->heap_free) {
            size_t len = strlen(out->reason);
            out->found = 1;
            snprintf(
                out->reason + len, sizeof out->reason - len,
                "%smalloc keeps %s free in its heaps (%.0f%%) while %s is in use; only %s at "
                "the top could be returned",
                len ? "; " : "", lt_fmt_bytes(a, sizeof a, mem->heap_free_bytes),
                100.0 * out->heap_free / heap, lt_fmt_bytes(b, sizeof b, (uint64_t)used),
                lt_fmt_bytes(c, sizeof c, mem->heap_releasable_bytes));
        }
    }
    size_t len = strlen(out->reason);
    if (out->found)
        snprintf(out->reason + len, sizeof out->reason - len, "; fragmentation, not a leak");
done:
    lt_free(w.t);
    lt_free(w.v);
    lt_free(tmp);
    lt_free(vals);
    return out->found;
}

int
lt_suspects_find(const lt_model *m, uint32_t first, lt_suspect *out, int max)
{
    if (first >= m->n || max <= 0)
        return 0;
    uint32_t n = m->n - first;
    if (n < MIN_POINTS)
        return 0;
    window w = {lt_malloc(n * sizeof(double)), lt_malloc(n * sizeof(double)), n};
    double *aux = lt_malloc(n * sizeof(double));
    if (w.t == NULL || w.v == NULL || aux == NULL) {
        lt_free(w.t);
        lt_free(w.v);
        lt_free(aux);
        return 0;
    }
    fill_times(m, first, &w);
    int count = 0, cap = 256;
    lt_suspect *all = lt_calloc((size_t)cap, sizeof *all);
    lt_trend tr;

    /* Types: the count must grow (more objects), or failing that the bytes (one container that
     * keeps growing: a global list or dict); the bytes give the cost either way. */
    for (uint32_t i = 0; all && i < m->ntypes && count < cap; i++) {
        const lt_type_series *s = &m->types[i];
        /* Estimated figures (between censuses) must rise by more than three standard
         * deviations of their sampling noise too. */
        double sd = estimate_sd(m, s, first, n);
        uint32_t last = lt_model_slot(m, first + n - 1);
        /* ... and by more than the deaths the sampler cannot see (objects it never sampled,
         * made before it started, may have died since the census). */
        sd += lt_type_estimated(s, last) ? (double)s->est_unsampled[last] / 3.0 : 0;
        double per_object = s->count[last] != LT_UNKNOWN && s->count[last] > 0 &&
                                    s->bytes[last] != LT_UNKNOWN
                                ? (double)s->bytes[last] / (double)s->count[last] : 0;
        from_array(m, first, s->count, &w);
        double start = isnan(w.v[0]) ? 0 : w.v[0];
        lt_trend_judge(w.t, w.v, n, fmax(fmax(20.0, start * 0.02), 3.0 * sd), &tr);
        int by_bytes = 0;
        if (tr.score < LT_SUSPECT_THRESHOLD) {
            from_array(m, first, s->bytes, &w);
            start = isnan(w.v[0]) ? 0 : w.v[0];
            lt_trend_judge(w.t, w.v, n,
                           fmax(fmax(64.0 * 1024, start * 0.02), 3.0 * sd * per_object), &tr);
            by_bytes = 1;
        }
        if (tr.score < LT_SUSPECT_THRESHOLD)
            continue;
        lt_suspect *x = &all[count++];
        memset(x, 0, sizeof *x);
        x->kind = LT_SUSPECT_TYPE;
        x->name_id = s->name_id;
        snprintf(x->name, sizeof x->name, "%s", lt_model_string(m, s->name_id));
        x->score = tr.score;
        x->growth_count_per_s = tr.slope;
        x->estimated = lt_type_estimated(s, last);
        for (uint32_t k = 0; k < n; k++) {
            uint64_t b = s->bytes[lt_model_slot(m, first + k)];
            aux[k] = b == LT_UNKNOWN ? NAN : (double)b;
        }
        uint32_t kk = 0;
        for (uint32_t k = 0; k < n; k++)
            if (!isnan(aux[k])) {
                w.v[kk] = aux[k];
                aux[kk] = w.t[k];
                kk++;
            }
        x->growth_bytes_per_s = lt_slope(aux, w.v, kk);
        char what[64];
        if (by_bytes) {
            x->growth_count_per_s = 0;
            snprintf(what, sizeof what, "size");
        } else {
            snprintf(what, sizeof what, "count (+%.0f/s)", tr.slope);
        }
        reason(x, &tr, what);
        if (x->estimated) {
            size_t len = strlen(x->reason);
            snprintf(x->reason + len, sizeof x->reason - len,
                     "; estimated since the last census (+-%.0f objects)", sd);
        }
    }

    /* Sites by line: live bytes must grow by more than sampling noise (a few intervals). */
    uint64_t interval = 0;
    for (uint32_t i = 0; i < n; i++)
        if (lt_model_point(m, first + i)->have_sites)
            interval = lt_model_point(m, first + i)->sample_interval;
    /* By the innermost frame in the program's own code (model.h's user_lines). */
    for (uint32_t i = 0; all && interval && i < m->user_lines.n && count < cap; i++) {
        const lt_series *s = &m->user_lines.items[i];
        from_array(m, first, s->bytes, &w);
        lt_trend_judge(w.t, w.v, n, sampling_noise(w.v, n, interval), &tr);
        if (tr.score < LT_SUSPECT_THRESHOLD)
            continue;
        lt_suspect *x = &all[count++];
        memset(x, 0, sizeof *x);
        x->kind = LT_SUSPECT_SITE;
        x->file_id = s->key.a;
        x->func_id = s->key.b;
        x->line = s->key.c;
        x->trace_id = s->extra;
        const lt_model_trace *t = lt_model_trace_get(m, s->extra);
        /* (The model's library cache is filled as a side effect.) */
        x->lib_frames = t ? lt_model_user_frame((lt_model *)m, t) : 0;
        snprintf(x->name, sizeof x->name, "%s:%u in %s", lt_model_string(m, s->key.a),
                 s->key.c, lt_model_string(m, s->key.b));
        x->score = tr.score;
        x->growth_bytes_per_s = tr.slope;
        /* Blocks per second too: a finding groups what grows at the same pace. */
        uint32_t kk = 0;
        for (uint32_t k = 0; k < n; k++) {
            uint64_t c = s->count[lt_model_slot(m, first + k)];
            if (c == LT_UNKNOWN)
                continue;
            aux[kk] = w.t[k];
            w.v[kk] = (double)c;
            kk++;
        }
        x->growth_count_per_s = lt_slope(aux, w.v, kk);
        reason(x, &tr, "live bytes");
    }

    /* Native: memory grows that Python's allocations do not account for. With MEMORY, the C
     * heap is judged on its own (mallinfo's bytes in use, less the agent's); RSS growth that
     * neither it nor Python explains is named apart, and growth that is pymalloc holding
     * freed memory is fragmentation, not a suspect. */
    if (all && count + 2 <= cap)
        count += native_suspects(m, first, &w, &all[count]);
    lt_free(w.t);
    lt_free(w.v);
    lt_free(aux);
    if (all == NULL)
        return 0;
    qsort(all, (size_t)count, sizeof *all, cmp_suspects);
    if (count > max)
        count = max;
    memcpy(out, all, (size_t)count * sizeof *out);
    lt_free(all);
    return count;
}
