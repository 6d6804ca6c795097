/*
 * The sampled blocks still alive: pointer -> (size, traceback, weight), an open-addressing table
 * with linear probing and backward-shift deletion, bounded by a maximum number of entries.
 *
 * In front of it sits a bitmap filter of 2^LT_LIVE_FILTER_LOG2 bits, one bit per pointer (its
 * address modulo 16 MiB): a free of a pointer whose bit is clear (nearly every free) never
 * touches the table. Removing an entry clears its bit unless another entry shares it (a second
 * bitmap, touched only on inserts and removals, says which bits are shared); such a bit stays
 * set until lt_live_table_rebuild_filter(), which builds the second of two filters, so a reader
 * that loaded the filter pointer just before never sees a half-built one. Clearing matters: the
 * allocator hands a freed address out again at once, and every free of it would otherwise pay
 * for the stale bit.
 *
 * Not thread-safe: the owner serialises every call except lt_live_table_maybe (heap_sampler.c
 * holds its lock). Memory: 40 bytes per slot, two slots per entry at most, plus three bitmaps of
 * 128 KiB.
 */
#ifndef LEAKTOP_LIVE_TABLE_H
#define LEAKTOP_LIVE_TABLE_H

#include <stddef.h>
#include <stdint.h>

#define LT_LIVE_FILTER_LOG2 20u
#define LT_LIVE_FILTER_WORDS ((1u << LT_LIVE_FILTER_LOG2) / 64u)

typedef struct lt_live_entry {
    uintptr_t ptr;  /* 0: empty slot */
    uint64_t size;  /* bytes the program asked for */
    uint32_t trace; /* index in the traceback table */
    float weight;   /* blocks this sample stands for (lt_sampler_weight) */
    uint64_t seq;   /* the sampler's count of samples when it was taken: larger is newer */
    uint32_t kind;  /* its object's type, once the census owner looked (type_estimates.h's
                       LT_KIND_*); 0: not looked at yet */
} lt_live_entry;

typedef struct lt_live_table {
    lt_live_entry *slots;
    uint32_t mask;       /* slots - 1; slots is a power of two */
    uint32_t n, max;     /* entries in use, and the most allowed */
    uint64_t *filter;    /* atomic pointer: the bitmap readers use */
    uint64_t *filters[2];
    uint64_t *shared;     /* bits of the filter that more than one entry set */
    uint32_t filter_bits; /* bits set in the current bitmap */
} lt_live_table;

/* Prepare an empty table for at most max entries (at least 16). Returns 0, or -1 when out of
 * memory (the table is then empty, its filter lt_live_filter_none, and every insert fails). */
int lt_live_table_init(lt_live_table *t, uint32_t max);
void lt_live_table_free(lt_live_table *t);
/* Forget every entry (keeps the memory). */
void lt_live_table_clear(lt_live_table *t);

/* The filter bit of a pointer: its address in 16-byte units, modulo the bitmap. Not a mixing
 * hash on purpose: blocks the allocator hands out close together (one pymalloc pool) share a
 * cache line of the bitmap, so the free path touches about as many lines as the program's own
 * working set does; addresses 16 MiB apart share a bit. */
static inline uint32_t
lt_live_filter_bit(uintptr_t p)
{
    return (uint32_t)(p >> 4) & ((1u << LT_LIVE_FILTER_LOG2) - 1);
}

/* The filter of a table without entries' memory (before init, after free, init failed): all
 * zero, never written. A zeroed lt_live_table must have its filter set to it before use. */
extern uint64_t lt_live_filter_none[LT_LIVE_FILTER_WORDS];

/* May p be in the table? 0 means certainly not. Lock-free: the one call allowed concurrently
 * with the others (it then answers for the table as it was a moment ago). */
static inline int
lt_live_table_maybe(const lt_live_table *t, uintptr_t p)
{
    const uint64_t *f = __atomic_load_n(&t->filter, __ATOMIC_ACQUIRE);
    uint32_t b = lt_live_filter_bit(p);
    return (f[b >> 6] >> (b & 63)) & 1u;
}

/* Add e (e->ptr nonzero). When e->ptr is already there (its free was never seen) the old entry
 * is replaced and copied to *old. Returns 1 replaced, 0 added, -1 the table is full or out of
 * memory (nothing changed). */
int lt_live_table_insert(lt_live_table *t, const lt_live_entry *e, lt_live_entry *old);
/* Remove p. Returns 1 with the entry copied to *out, or 0 when p is not in the table. */
int lt_live_table_remove(lt_live_table *t, uintptr_t p, lt_live_entry *out);
/* Look p up without changing anything. Returns 1 with its entry copied to *out, or 0 when p is
 * not in the table (check lt_live_table_maybe first: most pointers stop there). */
int lt_live_table_find(const lt_live_table *t, uintptr_t p, lt_live_entry *out);
/* Clear the stale bits: rebuild the filter from the entries. */
void lt_live_table_rebuild_filter(lt_live_table *t);
/* Is the filter worth rebuilding? (more than twice as many bits set as entries, and over 1,024
 * stale ones: only shared bits can go stale) */
int lt_live_table_filter_stale(const lt_live_table *t);

/* Iterate: for (i = 0; i <= t->mask; i++) if (t->slots[i].ptr) ... ; slots may be NULL when
 * init failed (mask is then 0 and n 0). */

/* Remove every entry for which keep() returns 0 (keep may change the entry's weight), then
 * rebuild the filter. Returns how many were removed; drop() sees each of them first. */
uint32_t lt_live_table_filter_entries(lt_live_table *t, int (*keep)(void *ctx, lt_live_entry *e),
                                      void (*drop)(void *ctx, const lt_live_entry *e), void *ctx);

/* Bytes of memory held. */
size_t lt_live_table_bytes(const lt_live_table *t);

#endif
