/* Interned raw tracebacks with a bound and eviction. */
#define _GNU_SOURCE
#include "trace_table.h"

#include <stdlib.h>
#include <string.h>

#include "leaktop/mem.h"

#define MIN_ENTRIES 256u

static uint64_t
hash_stack(const lt_raw_stack *s)
{
    uint64_t h = 0x84222325CBF29CE4ull ^ ((uint64_t)s->n << 1) ^ (uint64_t)(s->truncated != 0);
    for (uint32_t i = 0; i < s->n; i++) {
        h ^= (uint64_t)(uintptr_t)s->codes[i] + ((uint64_t)(uint32_t)s->addrs[i] << 40);
        h *= 0x100000001B3ull;
        h ^= h >> 29;
    }
    return h ? h : 1;
}

static int
same_stack(const lt_raw_trace *e, const lt_raw_stack *s, uint64_t h)
{
    if (e->hash != h || e->nframes != s->n || e->truncated != (s->truncated != 0))
        return 0;
    if (s->n == 0)
        return 1;
    return memcmp(lt_raw_codes(e), s->codes, sizeof(void *) * s->n) == 0 &&
           memcmp(lt_raw_addrs(e), s->addrs, sizeof(int32_t) * s->n) == 0;
}

static void
index_put(lt_trace_table *t, uint32_t idx)
{
    uint32_t i = (uint32_t)t->e[idx].hash & t->index_mask;
    while (t->index[i] != 0)
        i = (i + 1) & t->index_mask;
    t->index[i] = idx;
}

static void
index_rebuild(lt_trace_table *t)
{
    memset(t->index, 0, ((size_t)t->index_mask + 1) * sizeof *t->index);
    for (uint32_t i = 1; i < t->cap; i++)
        if (t->e[i].used)
            index_put(t, i);
}

int
lt_trace_table_init(lt_trace_table *t, uint32_t max, size_t max_frame_bytes)
{
    memset(t, 0, sizeof *t);
    t->max = max < 2 ? 2 : max;
    t->max_frame_bytes = max_frame_bytes;
    uint32_t cap = MIN_ENTRIES < t->max ? MIN_ENTRIES : t->max;
    t->e = lt_calloc(cap, sizeof *t->e);
    t->free_idx = lt_malloc(cap * sizeof *t->free_idx);
    t->index = lt_calloc(2 * MIN_ENTRIES, sizeof *t->index);
    if (t->e == NULL || t->free_idx == NULL || t->index == NULL) {
        lt_trace_table_free(t);
        return -1;
    }
    t->cap = cap;
    t->index_mask = 2 * MIN_ENTRIES - 1;
    t->e[LT_RAW_OVERFLOW].used = 1;
    t->e[LT_RAW_OVERFLOW].hash = 0;
    t->count = 1;
    for (uint32_t i = cap; i > 1; i--)
        t->free_idx[t->nfree++] = i - 1;
    return 0;
}

void
lt_trace_table_free(lt_trace_table *t)
{
    for (uint32_t i = 1; t->e != NULL && i < t->cap; i++)
        if (t->e[i].used)
            lt_free(t->e[i].frames);
    for (uint32_t g = 0; g < t->ngraves; g++)
        lt_free(t->graves[g].frames);
    lt_free(t->graves);
    lt_free(t->e);
    lt_free(t->index);
    lt_free(t->free_idx);
    memset(t, 0, sizeof *t);
}

/* Room for one more entry: more entries and, when needed, a larger index. */
static int
make_room(lt_trace_table *t)
{
    if (t->nfree > 0)
        return 0;
    if (t->cap >= t->max)
        return -1;
    uint32_t cap = t->cap * 2 < t->max ? t->cap * 2 : t->max;
    lt_raw_trace *e = lt_realloc(t->e, (size_t)cap * sizeof *e);
    if (e == NULL)
        return -1;
    memset(e + t->cap, 0, (size_t)(cap - t->cap) * sizeof *e);
    t->e = e;
    uint32_t *fi = lt_realloc(t->free_idx, (size_t)cap * sizeof *fi);
    if (fi == NULL)
        return -1; /* e grew but stays consistent: cap unchanged */
    t->free_idx = fi;
    if ((size_t)cap * 2 > (size_t)t->index_mask + 1) {
        uint32_t n = (t->index_mask + 1) * 2;
        while (n < cap * 2)
            n *= 2;
        uint32_t *ix = lt_calloc(n, sizeof *ix);
        if (ix == NULL)
            return -1;
        lt_free(t->index);
        t->index = ix;
        t->index_mask = n - 1;
        index_rebuild(t);
    }
    for (uint32_t i = cap; i > t->cap; i--)
        t->free_idx[t->nfree++] = i - 1;
    t->cap = cap;
    return 0;
}

static void
bury(lt_trace_table *t, uint32_t idx, lt_raw_grave *g)
{
    lt_raw_trace *e = &t->e[idx];
    g->frames = e->frames;
    g->nframes = e->nframes;
    g->site = e->site;
    t->frame_bytes -= (sizeof(void *) + sizeof(int32_t)) * (size_t)e->nframes;
    memset(e, 0, sizeof *e);
    t->free_idx[t->nfree++] = idx;
    t->count--;
    t->evicted++;
}

/* Full at intern time: move up to an eighth of the entries without live samples to the
 * graveyard, scanning on from where the last batch stopped. Returns how many went. */
static uint32_t
evict_inline(lt_trace_table *t)
{
    if (t->grave_bytes > t->max_frame_bytes / 2)
        return 0; /* the owner has not drained the last ones yet */
    uint32_t want = t->max / 8 ? t->max / 8 : 1, n = 0;
    if (t->ngraves + want > t->graves_cap) {
        uint32_t cap = t->graves_cap ? t->graves_cap : 64;
        while (cap < t->ngraves + want)
            cap *= 2;
        lt_raw_grave *g = lt_realloc(t->graves, sizeof *g * cap);
        if (g == NULL)
            return 0;
        t->graves = g;
        t->graves_cap = cap;
    }
    for (uint32_t k = 0; k < t->cap && n < want; k++) {
        uint32_t i = (t->cursor + k) % t->cap;
        lt_raw_trace *e = &t->e[i];
        if (i == LT_RAW_OVERFLOW || !e->used || e->refs != 0)
            continue;
        t->grave_bytes += (sizeof(void *) + sizeof(int32_t)) * (size_t)e->nframes;
        bury(t, i, &t->graves[t->ngraves++]);
        n++;
        t->cursor = i + 1;
    }
    if (n > 0)
        index_rebuild(t);
    return n;
}

lt_raw_grave *
lt_trace_table_take_graves(lt_trace_table *t, uint32_t *n)
{
    lt_raw_grave *g = t->graves;
    *n = t->ngraves;
    t->graves = NULL;
    t->ngraves = t->graves_cap = 0;
    t->grave_bytes = 0;
    return g;
}

uint32_t
lt_trace_table_intern(lt_trace_table *t, const lt_raw_stack *s, uint32_t tick, int *added)
{
    *added = 0;
    if (t->e == NULL)
        return LT_RAW_OVERFLOW;
    uint64_t h = hash_stack(s);
    for (uint32_t i = (uint32_t)h & t->index_mask; t->index[i] != 0; i = (i + 1) & t->index_mask) {
        lt_raw_trace *e = &t->e[t->index[i]];
        if (same_stack(e, s, h)) {
            e->last_tick = tick;
            return t->index[i];
        }
    }
    size_t bytes = (sizeof(void *) + sizeof(int32_t)) * (size_t)s->n;
    if ((t->frame_bytes + bytes > t->max_frame_bytes || (t->nfree == 0 && t->cap >= t->max)) &&
        evict_inline(t) > 0) {
        /* Room made: the index was rebuilt, the slots below are the new free ones. */
    }
    if (t->frame_bytes + bytes > t->max_frame_bytes || make_room(t) < 0) {
        t->overflowed++;
        t->e[LT_RAW_OVERFLOW].last_tick = tick;
        return LT_RAW_OVERFLOW;
    }
    void *frames = NULL;
    if (s->n > 0) {
        frames = lt_malloc(bytes);
        if (frames == NULL) {
            t->overflowed++;
            return LT_RAW_OVERFLOW;
        }
        memcpy(frames, s->codes, sizeof(void *) * s->n);
        memcpy((char *)frames + sizeof(void *) * s->n, s->addrs, sizeof(int32_t) * s->n);
    }
    uint32_t idx = t->free_idx[--t->nfree];
    lt_raw_trace *e = &t->e[idx];
    memset(e, 0, sizeof *e);
    e->hash = h;
    e->frames = frames;
    e->nframes = s->n;
    e->truncated = s->truncated != 0;
    e->last_tick = tick;
    e->used = 1;
    index_put(t, idx);
    t->count++;
    t->frame_bytes += bytes;
    *added = 1;
    return idx;
}

static int
older_first(const void *a, const void *b, void *ctx)
{
    const lt_trace_table *t = ctx;
    uint32_t x = t->e[*(const uint32_t *)a].last_tick, y = t->e[*(const uint32_t *)b].last_tick;
    return x < y ? -1 : x > y;
}

uint32_t
lt_trace_table_evict(lt_trace_table *t, uint32_t now, uint32_t idle_ticks, uint32_t keep_count,
                     size_t keep_bytes, lt_raw_grave *out, uint32_t max_out, uint32_t *scratch)
{
    uint32_t n = 0, ncand = 0;
    for (uint32_t i = 1; t->e != NULL && i < t->cap && n < max_out; i++) {
        lt_raw_trace *e = &t->e[i];
        if (!e->used || e->refs != 0 || e->last_tick == now)
            continue;
        if (now - e->last_tick > idle_ticks)
            bury(t, i, &out[n++]);
        else if (scratch != NULL)
            scratch[ncand++] = i;
    }
    if (scratch != NULL && ncand > 0 &&
        (t->count > keep_count || t->frame_bytes > keep_bytes)) {
        qsort_r(scratch, ncand, sizeof *scratch, older_first, t);
        for (uint32_t k = 0; k < ncand && n < max_out &&
                             (t->count > keep_count || t->frame_bytes > keep_bytes);
             k++)
            bury(t, scratch[k], &out[n++]);
    }
    if (n > 0)
        index_rebuild(t);
    return n;
}

size_t
lt_trace_table_bytes(const lt_trace_table *t)
{
    return t->frame_bytes + t->grave_bytes + (size_t)t->graves_cap * sizeof *t->graves +
           (size_t)t->cap * (sizeof *t->e + sizeof *t->free_idx) +
           ((size_t)t->index_mask + 1) * sizeof *t->index;
}
