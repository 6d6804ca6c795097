/* Resolved tracebacks with wire ids, and their ranking at each census. */
#define _GNU_SOURCE
#include "site_table.h"

#include <stdlib.h>
#include <string.h>

#include "leaktop/mem.h"

#define MIN_SITES 256u

static uint64_t
hash_frames(const lt_trace_frame *f, uint32_t n, int truncated)
{
    uint64_t h = 0x9AE16A3B2F90404Full ^ ((uint64_t)n << 1) ^ (uint64_t)(truncated != 0);
    for (uint32_t i = 0; i < n; i++) {
        h ^= (uint64_t)f[i].file_id | (uint64_t)f[i].func_id << 32;
        h *= 0x100000001B3ull;
        h ^= (uint64_t)f[i].line;
        h *= 0xC2B2AE3D27D4EB4Full;
        h ^= h >> 31;
    }
    return h ? h : 1;
}

static void
index_put(lt_site_table *t, uint32_t h)
{
    uint32_t i = (uint32_t)t->e[h - 1].hash & t->index_mask;
    while (t->index[i] != 0)
        i = (i + 1) & t->index_mask;
    t->index[i] = h;
}

static void
index_rebuild(lt_site_table *t)
{
    memset(t->index, 0, ((size_t)t->index_mask + 1) * sizeof *t->index);
    for (uint32_t i = 0; i < t->cap; i++)
        if (t->e[i].id != 0)
            index_put(t, i + 1);
}

int
lt_site_table_init(lt_site_table *t, uint32_t max, size_t max_frame_bytes, uint32_t top)
{
    memset(t, 0, sizeof *t);
    t->max = max < 1 ? 1 : max;
    t->max_frame_bytes = max_frame_bytes;
    t->top = top ? top : 1;
    t->next_id = 1;
    uint32_t cap = MIN_SITES < t->max ? MIN_SITES : t->max;
    t->e = lt_calloc(cap, sizeof *t->e);
    t->order = lt_malloc((size_t)cap * sizeof *t->order);
    t->index = lt_calloc(2 * MIN_SITES, sizeof *t->index);
    t->rows = lt_malloc((size_t)t->top * sizeof *t->rows);
    t->line_rows = lt_malloc((size_t)t->top * sizeof *t->line_rows);
    if (!t->e || !t->order || !t->index || !t->rows || !t->line_rows) {
        lt_site_table_free(t);
        return -1;
    }
    t->cap = cap;
    t->index_mask = 2 * MIN_SITES - 1;
    return 0;
}

void
lt_site_table_free(lt_site_table *t)
{
    for (uint32_t i = 0; t->e != NULL && i < t->cap; i++)
        lt_free(t->e[i].frames);
    lt_free(t->e);
    lt_free(t->order);
    lt_free(t->index);
    lt_free(t->rows);
    lt_free(t->line_rows);
    memset(t, 0, sizeof *t);
}

static void
evict_one(lt_site_table *t, uint32_t i)
{
    lt_site *s = &t->e[i];
    if (!s->announced)
        t->unannounced--;
    t->frame_bytes -= sizeof *s->frames * (size_t)s->nframes;
    lt_free(s->frames);
    memset(s, 0, sizeof *s);
    t->count--;
    t->evicted++;
}

static int
older_first(const void *a, const void *b, void *ctx)
{
    const lt_site_table *t = ctx;
    uint32_t x = t->e[*(const uint32_t *)a].last_tick, y = t->e[*(const uint32_t *)b].last_tick;
    return x < y ? -1 : x > y;
}

/* Evict sites nobody holds and with no live bytes, least recently live first, until at most
 * keep_count sites and keep_bytes of frames remain (or no candidate is left). Uses order[]. */
static uint32_t
evict_batch(lt_site_table *t, uint32_t keep_count, size_t keep_bytes)
{
    if (t->count <= keep_count && t->frame_bytes <= keep_bytes)
        return 0;
    uint32_t ncand = 0;
    for (uint32_t i = 0; i < t->cap; i++) {
        const lt_site *s = &t->e[i];
        if (s->id != 0 && s->holders == 0 && s->bytes <= 0)
            t->order[ncand++] = i;
    }
    qsort_r(t->order, ncand, sizeof *t->order, older_first, t);
    uint32_t n = 0;
    for (uint32_t k = 0; k < ncand && (t->count > keep_count || t->frame_bytes > keep_bytes); k++) {
        evict_one(t, t->order[k]);
        n++;
    }
    if (n > 0)
        index_rebuild(t);
    return n;
}

/* Room for one more site with n frames: grow the arrays, or evict. Returns a free index or
 * UINT32_MAX. */
static uint32_t
free_slot(lt_site_table *t, uint32_t n)
{
    size_t bytes = sizeof(lt_trace_frame) * (size_t)n;
    if (t->frame_bytes + bytes > t->max_frame_bytes || t->count >= t->max) {
        /* Full: make room for this one and for the next several, in one pass. */
        size_t keep_bytes = t->max_frame_bytes - t->max_frame_bytes / 8;
        evict_batch(t, t->max - t->max / 8 - 1, keep_bytes > bytes ? keep_bytes - bytes : 0);
        if (t->frame_bytes + bytes > t->max_frame_bytes || t->count >= t->max)
            return UINT32_MAX;
    }
    if (t->count < t->cap) {
        for (uint32_t i = 0; i < t->cap; i++)
            if (t->e[i].id == 0)
                return i;
    }
    uint32_t cap = t->cap * 2 < t->max ? t->cap * 2 : t->max;
    if (cap <= t->cap)
        return UINT32_MAX;
    lt_site *e = lt_realloc(t->e, (size_t)cap * sizeof *e);
    if (e == NULL)
        return UINT32_MAX;
    memset(e + t->cap, 0, (size_t)(cap - t->cap) * sizeof *e);
    t->e = e;
    uint32_t *order = lt_realloc(t->order, (size_t)cap * sizeof *order);
    if (order == NULL)
        return UINT32_MAX;
    t->order = order;
    uint32_t nidx = t->index_mask + 1;
    while (nidx < cap * 2)
        nidx *= 2;
    if (nidx != t->index_mask + 1) {
        uint32_t *ix = lt_calloc(nidx, sizeof *ix);
        if (ix == NULL)
            return UINT32_MAX;
        lt_free(t->index);
        t->index = ix;
        t->index_mask = nidx - 1;
        uint32_t old = t->cap;
        t->cap = cap;
        index_rebuild(t);
        return old;
    }
    uint32_t old = t->cap;
    t->cap = cap;
    return old;
}

uint32_t
lt_site_table_intern(lt_site_table *t, const lt_trace_frame *frames, uint32_t n, int truncated,
                     int *added)
{
    *added = 0;
    if (t->e == NULL)
        return 0;
    if (n > LT_TRACE_MAX_FRAMES)
        n = LT_TRACE_MAX_FRAMES;
    uint64_t h = hash_frames(frames, n, truncated);
    for (uint32_t i = (uint32_t)h & t->index_mask; t->index[i] != 0; i = (i + 1) & t->index_mask) {
        lt_site *s = &t->e[t->index[i] - 1];
        if (s->hash == h && s->nframes == n && s->truncated == (truncated != 0) &&
            (n == 0 || memcmp(s->frames, frames, sizeof *frames * n) == 0)) {
            s->holders++;
            return t->index[i];
        }
    }
    uint32_t slot = free_slot(t, n);
    if (slot == UINT32_MAX)
        return 0;
    lt_trace_frame *copy = NULL;
    if (n > 0) {
        copy = lt_malloc(sizeof *copy * n);
        if (copy == NULL)
            return 0;
        memcpy(copy, frames, sizeof *copy * n);
    }
    lt_site *s = &t->e[slot];
    memset(s, 0, sizeof *s);
    s->hash = h;
    s->frames = copy;
    s->nframes = n;
    s->truncated = truncated != 0;
    s->holders = 1;
    s->last_tick = t->tick;
    s->id = t->next_id++;
    if (t->next_id == 0)
        t->next_id = 1;
    t->count++;
    t->unannounced++;
    t->frame_bytes += sizeof *copy * (size_t)n;
    index_put(t, slot + 1);
    *added = 1;
    return slot + 1;
}

void
lt_site_table_unhold(lt_site_table *t, uint32_t h)
{
    if (h == 0 || h > t->cap || t->e[h - 1].id == 0)
        return;
    if (t->e[h - 1].holders > 0)
        t->e[h - 1].holders--;
}

int
lt_site_table_trace(const lt_site_table *t, uint32_t h, lt_trace *out)
{
    if (h == 0 || h > t->cap || t->e[h - 1].id == 0)
        return -1;
    const lt_site *s = &t->e[h - 1];
    out->id = s->id;
    out->nframes = s->nframes;
    out->frames = s->frames;
    out->truncated = s->truncated;
    return 0;
}

static int
encode_sites(const lt_site_table *t, lt_buf *b, int announced)
{
    for (uint32_t i = 0; t->e != NULL && i < t->cap; i++) {
        lt_trace tr;
        if (t->e[i].id == 0 || t->e[i].announced != announced ||
            lt_site_table_trace(t, i + 1, &tr) < 0)
            continue;
        if (lt_encode_trace(b, &tr) < 0)
            return -1;
    }
    return 0;
}

int
lt_site_table_encode_new(const lt_site_table *t, lt_buf *b)
{
    return encode_sites(t, b, 0);
}

int
lt_site_table_encode_announced(const lt_site_table *t, lt_buf *b)
{
    return encode_sites(t, b, 1);
}

void
lt_site_table_mark_announced(lt_site_table *t)
{
    for (uint32_t i = 0; t->e != NULL && i < t->cap; i++)
        if (t->e[i].id != 0)
            t->e[i].announced = 1;
    t->unannounced = 0;
}

uint32_t
lt_site_table_find_id(const lt_site_table *t, uint32_t id)
{
    for (uint32_t i = 0; id != 0 && i < t->cap; i++)
        if (t->e[i].id == id)
            return i + 1;
    return 0;
}

void
lt_site_table_begin(lt_site_table *t)
{
    t->tick++;
    for (uint32_t i = 0; i < t->cap; i++)
        t->e[i].bytes = t->e[i].count = 0;
}

void
lt_site_table_add(lt_site_table *t, uint32_t h, double bytes, double count)
{
    if (h == 0 || h > t->cap || t->e[h - 1].id == 0)
        return;
    t->e[h - 1].bytes += bytes;
    t->e[h - 1].count += count;
}

static int
site_larger(const void *a, const void *b, void *ctx)
{
    const lt_site_table *t = ctx;
    const lt_site *x = &t->e[*(const uint32_t *)a], *y = &t->e[*(const uint32_t *)b];
    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static const lt_trace_frame no_frame = {0, 0, 0};

static const lt_trace_frame *
top_frame(const lt_site *s)
{
    return s->nframes ? &s->frames[0] : &no_frame;
}

static int
same_line_order(const void *a, const void *b, void *ctx)
{
    const lt_site_table *t = ctx;
    const lt_trace_frame *x = top_frame(&t->e[*(const uint32_t *)a]);
    const lt_trace_frame *y = top_frame(&t->e[*(const uint32_t *)b]);
    if (x->file_id != y->file_id)
        return x->file_id < y->file_id ? -1 : 1;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->func_id < y->func_id ? -1 : x->func_id > y->func_id;
}

static int
line_larger(const void *a, const void *b)
{
    const lt_site_line *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? 1 : -1;
    if (x->file_id != y->file_id)
        return x->file_id < y->file_id ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

static uint64_t
round_u64(double v)
{
    return v <= 0 ? 0 : (uint64_t)(v + 0.5);
}

void
lt_site_table_finish(lt_site_table *t, lt_sites *out)
{
    out->nsites = out->nlines = out->traces_total = 0;
    out->sites = t->rows;
    out->lines = t->line_rows;
    out->evicted_traces += t->evicted;
    if (t->e == NULL)
        return;
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->cap; i++) {
        lt_site *s = &t->e[i];
        if (s->id == 0 || s->bytes <= 0)
            continue;
        s->last_tick = t->tick;
        t->order[n++] = i;
    }
    out->traces_total = n;

    /* Top frames: group the live sites by file, line and function, then rank the groups. The
     * groups live only for this call. */
    lt_site_line *groups = n ? lt_malloc(sizeof *groups * n) : NULL;
    uint32_t ng = 0;
    if (groups != NULL) {
        qsort_r(t->order, n, sizeof *t->order, same_line_order, t);
        for (uint32_t j = 0; j < n; j++) {
            const lt_site *s = &t->e[t->order[j]];
            const lt_trace_frame *f = top_frame(s);
            lt_site_line *g = ng ? &groups[ng - 1] : NULL;
            if (g == NULL || g->file_id != f->file_id || g->line != f->line ||
                g->func_id != f->func_id) {
                g = &groups[ng++];
                memset(g, 0, sizeof *g);
                g->file_id = f->file_id;
                g->func_id = f->func_id;
                g->line = f->line;
                g->used = 1;
            }
            g->bytes += s->bytes;
            g->count += s->count;
            if (s->bytes > g->best_bytes) {
                g->best_bytes = s->bytes;
                g->best = s->id;
            }
        }
        qsort(groups, ng, sizeof *groups, line_larger);
        uint32_t k = ng < t->top ? ng : t->top;
        for (uint32_t j = 0; j < k; j++)
            t->line_rows[j] = (lt_line_row){groups[j].file_id, groups[j].func_id, groups[j].line,
                                            groups[j].best, round_u64(groups[j].bytes),
                                            round_u64(groups[j].count)};
        out->nlines = k;
        lt_free(groups);
    }

    qsort_r(t->order, n, sizeof *t->order, site_larger, t);
    uint32_t k = n < t->top ? n : t->top;
    for (uint32_t j = 0; j < k; j++) {
        const lt_site *s = &t->e[t->order[j]];
        t->rows[j] = (lt_site_row){s->id, round_u64(s->bytes), round_u64(s->count)};
    }
    out->nsites = k;
}

uint32_t
lt_site_table_evict(lt_site_table *t, uint32_t keep_count, size_t keep_bytes)
{
    return evict_batch(t, keep_count, keep_bytes);
}

size_t
lt_site_table_bytes(const lt_site_table *t)
{
    return t->frame_bytes + (size_t)t->cap * (sizeof *t->e + sizeof *t->order) +
           ((size_t)t->index_mask + 1) * sizeof *t->index +
           (size_t)t->top * (sizeof *t->rows + sizeof *t->line_rows);
}
