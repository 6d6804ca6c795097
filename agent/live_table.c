/* Live sampled blocks by pointer, with a bitmap filter in front. */
#include "live_table.h"

#include <string.h>

#include "leaktop/mem.h"

#define MIN_SLOTS 1024u
#define FILTER_BYTES (LT_LIVE_FILTER_WORDS * sizeof(uint64_t))

/* In .bss: costs no memory until read, and then only the kernel's shared zero page. */
uint64_t lt_live_filter_none[LT_LIVE_FILTER_WORDS];

static inline uint32_t
slot_hash(uintptr_t p)
{
    uint64_t x = (uint64_t)(p >> 4);
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    return (uint32_t)x;
}

int
lt_live_table_init(lt_live_table *t, uint32_t max)
{
    memset(t, 0, sizeof *t);
    t->filter = lt_live_filter_none;
    t->max = max < 16 ? 16 : max;
    t->slots = lt_calloc(MIN_SLOTS, sizeof *t->slots);
    t->filters[0] = lt_calloc(1, FILTER_BYTES);
    t->filters[1] = lt_calloc(1, FILTER_BYTES);
    t->shared = lt_calloc(1, FILTER_BYTES);
    if (t->slots == NULL || t->filters[0] == NULL || t->filters[1] == NULL || t->shared == NULL) {
        lt_live_table_free(t);
        return -1;
    }
    t->mask = MIN_SLOTS - 1;
    __atomic_store_n(&t->filter, t->filters[0], __ATOMIC_RELEASE);
    return 0;
}

void
lt_live_table_free(lt_live_table *t)
{
    __atomic_store_n(&t->filter, lt_live_filter_none, __ATOMIC_RELEASE);
    lt_free(t->slots);
    lt_free(t->filters[0]);
    lt_free(t->filters[1]);
    lt_free(t->shared);
    t->slots = NULL;
    t->filters[0] = t->filters[1] = t->shared = NULL;
    t->mask = t->n = t->max = t->filter_bits = 0;
}

void
lt_live_table_clear(lt_live_table *t)
{
    if (t->slots == NULL)
        return;
    memset(t->slots, 0, ((size_t)t->mask + 1) * sizeof *t->slots);
    t->n = 0;
    lt_live_table_rebuild_filter(t);
}

static void
set_bit(lt_live_table *t, uintptr_t p)
{
    uint32_t b = lt_live_filter_bit(p);
    uint64_t *f = t->filter, m = 1ull << (b & 63);
    if (!(f[b >> 6] & m)) {
        __atomic_fetch_or(&f[b >> 6], m, __ATOMIC_RELAXED);
        t->filter_bits++;
    } else {
        t->shared[b >> 6] |= m; /* a second entry on this bit: it must outlive the first */
    }
}

/* p's entry went: clear its bit when no other entry can be on it. */
static void
clear_bit(lt_live_table *t, uintptr_t p)
{
    uint32_t b = lt_live_filter_bit(p);
    uint64_t m = 1ull << (b & 63);
    if (t->shared[b >> 6] & m)
        return; /* maybe another entry's too: stale at worst, until the next rebuild */
    uint64_t *f = t->filter;
    if (f[b >> 6] & m) {
        __atomic_fetch_and(&f[b >> 6], ~m, __ATOMIC_RELAXED);
        t->filter_bits--;
    }
}

/* Place e in slots (which must have room) without the filter. Returns its slot. */
static lt_live_entry *
probe(lt_live_entry *slots, uint32_t mask, uintptr_t p)
{
    uint32_t i = slot_hash(p) & mask;
    while (slots[i].ptr != 0 && slots[i].ptr != p)
        i = (i + 1) & mask;
    return &slots[i];
}

static int
grow(lt_live_table *t)
{
    uint32_t n = (t->mask + 1) * 2;
    lt_live_entry *slots = lt_calloc(n, sizeof *slots);
    if (slots == NULL)
        return -1;
    for (uint32_t i = 0; i <= t->mask; i++)
        if (t->slots[i].ptr != 0)
            *probe(slots, n - 1, t->slots[i].ptr) = t->slots[i];
    lt_free(t->slots);
    t->slots = slots;
    t->mask = n - 1;
    return 0;
}

int
lt_live_table_insert(lt_live_table *t, const lt_live_entry *e, lt_live_entry *old)
{
    if (t->slots == NULL || e->ptr == 0)
        return -1;
    lt_live_entry *s = probe(t->slots, t->mask, e->ptr);
    if (s->ptr == e->ptr) {
        *old = *s;
        *s = *e;
        return 1;
    }
    if (t->n >= t->max)
        return -1;
    /* At most half full, so probes stay short. */
    if ((t->n + 1) * 2 > t->mask + 1) {
        if (grow(t) < 0)
            return -1;
        s = probe(t->slots, t->mask, e->ptr);
    }
    *s = *e;
    t->n++;
    set_bit(t, e->ptr);
    return 0;
}

int
lt_live_table_remove(lt_live_table *t, uintptr_t p, lt_live_entry *out)
{
    if (t->slots == NULL || p == 0)
        return 0;
    uint32_t mask = t->mask;
    uint32_t i = slot_hash(p) & mask;
    while (t->slots[i].ptr != p) {
        if (t->slots[i].ptr == 0)
            return 0;
        i = (i + 1) & mask;
    }
    *out = t->slots[i];
    /* Backward-shift deletion: pull later members of the cluster into the hole when their home
     * slot does not lie (cyclically) between the hole and them. */
    uint32_t hole = i;
    for (uint32_t j = (i + 1) & mask; t->slots[j].ptr != 0; j = (j + 1) & mask) {
        uint32_t home = slot_hash(t->slots[j].ptr) & mask;
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            t->slots[hole] = t->slots[j];
            hole = j;
        }
    }
    t->slots[hole].ptr = 0;
    t->n--;
    clear_bit(t, p);
    return 1;
}

int
lt_live_table_find(const lt_live_table *t, uintptr_t p, lt_live_entry *out)
{
    if (t->slots == NULL || p == 0)
        return 0;
    uint32_t mask = t->mask;
    for (uint32_t i = slot_hash(p) & mask; t->slots[i].ptr != 0; i = (i + 1) & mask)
        if (t->slots[i].ptr == p) {
            *out = t->slots[i];
            return 1;
        }
    return 0;
}

void
lt_live_table_rebuild_filter(lt_live_table *t)
{
    if (t->filters[0] == NULL)
        return;
    uint64_t *next = t->filter == t->filters[0] ? t->filters[1] : t->filters[0];
    memset(next, 0, FILTER_BYTES);
    memset(t->shared, 0, FILTER_BYTES);
    uint32_t bits = 0;
    for (uint32_t i = 0; t->slots != NULL && i <= t->mask; i++) {
        if (t->slots[i].ptr == 0)
            continue;
        uint32_t b = lt_live_filter_bit(t->slots[i].ptr);
        uint64_t m = 1ull << (b & 63);
        if (!(next[b >> 6] & m)) {
            next[b >> 6] |= m;
            bits++;
        } else {
            t->shared[b >> 6] |= m;
        }
    }
    __atomic_store_n(&t->filter, next, __ATOMIC_RELEASE);
    t->filter_bits = bits;
}

int
lt_live_table_filter_stale(const lt_live_table *t)
{
    return t->filter_bits > 2 * t->n + 1024;
}

uint32_t
lt_live_table_filter_entries(lt_live_table *t, int (*keep)(void *ctx, lt_live_entry *e),
                             void (*drop)(void *ctx, const lt_live_entry *e), void *ctx)
{
    if (t->slots == NULL)
        return 0;
    /* Survivors go into a fresh array of the same size: deleting in place while iterating a
     * linear-probing table would move unvisited entries behind the cursor. */
    uint32_t nslots = t->mask + 1, removed = 0;
    lt_live_entry *slots = lt_calloc(nslots, sizeof *slots);
    if (slots == NULL)
        return 0;
    for (uint32_t i = 0; i < nslots; i++) {
        lt_live_entry e = t->slots[i];
        if (e.ptr == 0)
            continue;
        if (keep(ctx, &e)) {
            *probe(slots, t->mask, e.ptr) = e;
        } else {
            drop(ctx, &e);
            removed++;
        }
    }
    lt_free(t->slots);
    t->slots = slots;
    t->n -= removed;
    lt_live_table_rebuild_filter(t);
    return removed;
}

size_t
lt_live_table_bytes(const lt_live_table *t)
{
    return (t->slots ? ((size_t)t->mask + 1) * sizeof *t->slots : 0) +
           (t->filters[0] ? 3 * FILTER_BYTES : 0);
}
