/*
 * Raw tracebacks as the allocation hook captured them: for each frame, newest first, an opaque
 * code pointer and an instruction offset. Interned, so every sampled block points at one entry,
 * and each entry counts the live samples pointing at it (refs). Names and lines are worked out
 * later, once per entry, by whoever owns the table (the agent thread, see heap_sampler.h); the
 * entry then records that owner's handle in `site`.
 *
 * Bounded by a number of entries and by the bytes of their frames. When either bound is reached,
 * lt_trace_table_intern first evicts a batch of entries without live samples on the spot (they
 * wait in a graveyard, still holding their code references and counted in grave_bytes, until
 * the owner drains it with lt_trace_table_take_graves); when that finds nothing, or the graveyard
 * is already half the frame bound, it returns LT_RAW_OVERFLOW, a pseudo-entry that stands for
 * "traceback not kept" (counted in `overflowed`). lt_trace_table_evict evicts idle entries and
 * trims the table, least recently sampled first; evicted entries are handed back so the owner
 * can release what the code pointers hold (references) outside its lock.
 *
 * Not thread-safe: the owner serialises every call. Memory: lt_malloc'd, 12 bytes per frame
 * plus 40 bytes per entry and 8 per index slot.
 */
#ifndef LEAKTOP_TRACE_TABLE_H
#define LEAKTOP_TRACE_TABLE_H

#include <stddef.h>
#include <stdint.h>

#define LT_RAW_OVERFLOW 0u /* entry index of "traceback not kept: table full" */

/* A traceback being captured or looked up: n frames, newest first. */
typedef struct lt_raw_stack {
    const void **codes;
    const int32_t *addrs;
    uint32_t n;
    int truncated; /* the stack was deeper than the frames captured */
} lt_raw_stack;

typedef struct lt_raw_trace {
    uint64_t hash;
    void *frames;       /* n code pointers, then n int32 offsets; NULL when n == 0 */
    uint32_t nframes;
    uint32_t refs;      /* live samples pointing here */
    uint32_t site;      /* owner's handle for the resolved traceback; 0 until resolved */
    uint32_t last_tick; /* owner's clock when it was last sampled */
    uint8_t used, truncated;
} lt_raw_trace;

typedef struct lt_trace_table {
    lt_raw_trace *e;   /* entries; e[0] is LT_RAW_OVERFLOW */
    uint32_t cap;      /* entries allocated */
    uint32_t count;    /* entries in use, the overflow entry included */
    uint32_t max;      /* entries allowed, the overflow entry included */
    uint32_t *index;   /* open addressing: entry index, 0 empty */
    uint32_t index_mask;
    uint32_t *free_idx; /* unused entry indices below cap */
    uint32_t nfree;
    size_t frame_bytes, max_frame_bytes;
    uint64_t overflowed; /* interns answered with LT_RAW_OVERFLOW */
    uint64_t evicted;    /* entries evicted */
    struct lt_raw_grave *graves; /* evicted by intern, not yet handed to the owner */
    uint32_t ngraves, graves_cap;
    size_t grave_bytes;
    uint32_t cursor;     /* where the next eviction batch starts looking */
} lt_trace_table;

/* An evicted entry handed back by lt_trace_table_evict; free `frames` with lt_free after
 * releasing what its codes hold. */
typedef struct lt_raw_grave {
    void *frames;
    uint32_t nframes;
    uint32_t site;
} lt_raw_grave;

static inline const void **
lt_raw_codes(const lt_raw_trace *t)
{
    return (const void **)t->frames;
}

static inline const int32_t *
lt_raw_addrs(const lt_raw_trace *t)
{
    return (const int32_t *)((const char *)t->frames + sizeof(void *) * t->nframes);
}

/* The frames of entry e as a stack view. */
static inline lt_raw_stack
lt_raw_stack_of(const lt_raw_trace *t)
{
    lt_raw_stack s = {lt_raw_codes(t), lt_raw_addrs(t), t->nframes, t->truncated};
    return s;
}

/* Prepare a table for at most max entries (at least 2) and max_frame_bytes of frames. Returns 0,
 * or -1 when out of memory (the table then answers LT_RAW_OVERFLOW to everything). */
int lt_trace_table_init(lt_trace_table *t, uint32_t max, size_t max_frame_bytes);
/* Free the table (and any graveyard). Entries still holding code references must have been
 * evicted and the graveyard taken first if those references matter. */
void lt_trace_table_free(lt_trace_table *t);

/* The entry index of stack s, added if new (*added set to 1: the caller takes whatever
 * references its codes need). Its last_tick becomes tick. Returns LT_RAW_OVERFLOW when the table
 * is full or memory runs out. Never fails otherwise. */
uint32_t lt_trace_table_intern(lt_trace_table *t, const lt_raw_stack *s, uint32_t tick,
                               int *added);

/* Evict entries without live samples (refs == 0) not sampled at tick `now`: first those idle
 * for more than idle_ticks, then the least recently sampled ones while the table holds more than
 * keep_count entries or keep_bytes of frames. At most max_out are evicted; each goes to out[].
 * Returns how many. The overflow entry is never evicted. Needs no memory beyond `scratch`, an
 * array of t->cap uint32_t the caller provides (NULL: only idle entries go). */
uint32_t lt_trace_table_evict(lt_trace_table *t, uint32_t now, uint32_t idle_ticks,
                              uint32_t keep_count, size_t keep_bytes, lt_raw_grave *out,
                              uint32_t max_out, uint32_t *scratch);

/* Hand over the entries intern evicted: returns the graveyard (lt_free it after dealing with
 * each grave as with lt_trace_table_evict's) and its size in *n; the table starts a new one. */
lt_raw_grave *lt_trace_table_take_graves(lt_trace_table *t, uint32_t *n);

/* Bytes of memory held. */
size_t lt_trace_table_bytes(const lt_trace_table *t);

#endif
