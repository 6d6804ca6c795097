/*
 * The per-type census: while the heap is walked, every object is added by its type pointer
 * (lt_census_add, inline and allocation-free in the common case); afterwards the types are
 * named, merged by name and ranked. Plain C: the Python binding supplies the walk and the names.
 *
 * Not thread-safe; the agent thread owns it. Memory: one slot per distinct live type, and one row
 * per distinct type name.
 */
#ifndef LEAKTOP_TYPE_CENSUS_H
#define LEAKTOP_TYPE_CENSUS_H

#include <stddef.h>
#include <stdint.h>

#include "leaktop/proto.h"

typedef struct lt_census_slot {
    const void *type; /* NULL: empty */
    uint64_t count, bytes;
    int held;         /* the binding holds a reference to type (a walk in slices) */
} lt_census_slot;

typedef struct lt_census {
    lt_census_slot *slots;
    uint32_t nslots, used; /* nslots is a power of two */
    lt_census_slot *last;  /* the slot of the previous object's type: runs of one type are common */
    uint64_t objects;
    int failed;            /* out of memory during this walk: the census is incomplete */
    /* After lt_census_merge: rows by name, sorted by bytes, largest first. */
    lt_type_row *rows;
    uint32_t nrows, rows_cap;
    /* Growth reference per name id, for ranking history rows (see lt_census_rank_history). */
    uint64_t *ref_count, *cand_count;
    uint32_t ref_cap;
    uint32_t ref_age, ref_period;
} lt_census;

/* Returns 0 or -1 when out of memory. ref_period: samples between growth references. */
int lt_census_init(lt_census *c, uint32_t ref_period);
void lt_census_free(lt_census *c);
/* Forget the previous walk's counts (keeps the table's size and the growth references). */
void lt_census_reset(lt_census *c);
/* Start a new walk but keep the rows of the last merge (still what viewers are shown): empties
 * the slots (the caller has let go of any type it held) and the counts. */
void lt_census_clear_slots(lt_census *c);
/* The walk starts over: every slot's count and bytes go to zero, its type and held flag stay
 * (a walk in slices must not let go of a type in the middle of a slice). Rows are kept. */
void lt_census_zero_counts(lt_census *c);

/* Slow path of lt_census_add: find or insert the slot of type, growing the table. Returns NULL
 * (and sets c->failed) only when out of memory. */
lt_census_slot *lt_census_slot_of(lt_census *c, const void *type);

/* Count one object of type with its shallow size. Never calls Python, never fails loudly: on out
 * of memory the object is not counted and c->failed is set. */
static inline void
lt_census_add(lt_census *c, const void *type, uint64_t bytes)
{
    lt_census_slot *s = c->last;
    if (s == NULL || s->type != type) {
        s = lt_census_slot_of(c, type);
        if (s == NULL)
            return;
        c->last = s;
    }
    s->count++;
    s->bytes += bytes;
    c->objects++;
}

/* Merge the walk's slots into rows by name (slots with no object are left out): name_of(slot->type)
 * returns the interned id of the type's name. Rows come out sorted by bytes (then count), largest first. Returns 0 or -1 when
 * out of memory (rows then cover what fit). */
int lt_census_merge(lt_census *c, uint32_t (*name_of)(void *ctx, const void *type), void *ctx);

/* Choose at most max rows worth keeping in history: the largest by bytes, by count, and by growth
 * since the reference taken ref_period..2*ref_period samples ago. Writes the chosen rows into
 * out (capacity max) and returns how many. Also advances the growth reference; call it exactly
 * once per census. */
uint32_t lt_census_rank_history(lt_census *c, lt_type_row *out, uint32_t max);

#endif
