/*
 * Per-type estimates between exact censuses, from the allocation sampler's live samples.
 *
 * On a big heap the census is spaced out to stay within its CPU budget, so its counts can be
 * minutes old. The sampler already holds the sampled blocks still alive (live_table.h), each
 * standing for `weight` blocks. Each one is resolved once to the type of the object it holds,
 * if any: the block is read at the object's pre-header offset and the pointer found there is
 * taken for a type only when it is one the last census met (compared, never dereferenced) and
 * the block's size is that type's size. The sampled weight of each type is added up at every
 * tick; when a census completes, those sums become the baseline, and in between
 *
 *     estimated count(T) = census count(T) + (sum_T now - sum_T at the census)
 *
 * with the standard deviation of that difference (samples that came or went since: each adds
 * w*(w-1) to the variance, the samples alive at both times cancel).
 *
 * Arrivals make it exact on the side of what came. The binding marks the collector's oldest
 * list when a census completes and then counts, each tick, every tracked object that joined the
 * lists since (py_census.h, lt_py_mark): those counts by name, at the census (A0) and now (A),
 * replace the samples that came. For a type of the census (a tracked one):
 *
 *     estimated count(T) = census count(T) + (A_T - A0_T) - (what the samples alive at the
 *                          census and gone since weigh)
 *
 * and the standard deviation counts the samples that went only: a type that only grows (a leak
 * of 20 objects a second in a 20 M-object heap) is estimated exactly. Types the collector does
 * not track (str, bytes, int) keep the estimate from samples alone.
 *
 * Plain C: the binding supplies each type's name id, pre-header and size (every type alive, so
 * that a class made after the census is recognised too). Not thread-safe:
 * classify/tally run under the sampler's lock (heap_sampler.h), everything else on the agent
 * thread, which also owns that lock's callers' sequence (census, then tally). Memory: a slot per
 * type the census met, and two per type name with live samples.
 */
#ifndef LEAKTOP_TYPE_ESTIMATES_H
#define LEAKTOP_TYPE_ESTIMATES_H

#include <stddef.h>
#include <stdint.h>

#include "leaktop/proto.h" /* lt_est_row */

/* Tags of a live sample (lt_live_entry.kind): not looked at yet; not an object of a type the
 * census knows; otherwise the type's name id + LT_KIND_NAME0. */
#define LT_KIND_UNRESOLVED 0u
#define LT_KIND_NONE 1u
#define LT_KIND_NAME0 2u

#define LT_EST_MAX_PREHEADERS 4u

/* What the census knows of one type, to recognise its instances' blocks. */
typedef struct lt_est_type {
    uintptr_t type;      /* the type object's address; 0: empty slot */
    uint32_t name_id;
    uint32_t preheader;  /* bytes between the block's start and the object */
    uint64_t basicsize, itemsize;
    uint64_t extra_max;  /* a fixed-size type's blocks may be up to this much larger (3.13's
                            inline attribute values, whose number the class's keys decide) */
} lt_est_type;

/* The sampled weight of one type name. */
typedef struct lt_est_sum {
    uint32_t name_id;    /* UINT32_MAX: empty slot */
    uint32_t samples;
    double count, bytes; /* sum of weights, of weight * size */
    double var_all;      /* sum of w*(w-1) over the samples alive */
    double var_old;      /* ... over those alive at the baseline too (seq at most its seq) */
    double count_old, bytes_old; /* the weights, and bytes, of those alive at the baseline */
    double unsampled;    /* baseline only: the census's count beyond what the samples cover */
    int tracked;         /* baseline only: a type the census counted (the collector tracks it) */
} lt_est_sum;

typedef struct lt_est_map {
    lt_est_sum *slots;
    uint32_t mask, n; /* slots: mask + 1, a power of two, or none */
} lt_est_map;

typedef struct lt_type_est {
    /* types the last census met, by address */
    lt_est_type *types;
    uint32_t types_mask, ntypes;
    uint32_t preheaders[LT_EST_MAX_PREHEADERS], npreheaders;
    uint32_t type_offset; /* offsetof(PyObject, ob_type) */
    int relearned;        /* the types changed: samples tagged NONE are looked at again */
    /* the tally under way, the last one, and the baseline */
    lt_est_map cur, now, base;
    uint64_t base_seq;    /* the sampler's sample count when the baseline was taken */
    int have_base;
    int failed;           /* out of memory during the tally: no estimate this time */
    /* arrivals by name (count and bytes in lt_est_sum): at the census's mark, and the last
     * count; arr_fresh: that count is this tick's (lt_type_est_rows uses it, then clears it) */
    lt_est_map arr_base, arr_now;
    int have_arr_base, arr_fresh;
    /* the rows of the last tally against the baseline, largest |count_delta| first */
    lt_est_row *rows;
    uint32_t nrows, rows_cap;
} lt_type_est;

/* Prepare an empty estimator (no types known: every sample stays NONE). */
void lt_type_est_init(lt_type_est *e, uint32_t type_offset);
void lt_type_est_free(lt_type_est *e);

/* Forget the known types; then lt_type_est_learn each type of the census just completed, then
 * lt_type_est_learned. Returns 0 or -1 when out of memory (the type is then not recognised). */
void lt_type_est_forget_types(lt_type_est *e);
int lt_type_est_learn(lt_type_est *e, const void *type, uint32_t name_id, uint32_t preheader,
                      uint64_t basicsize, uint64_t itemsize, uint64_t extra_max);
void lt_type_est_learned(lt_type_est *e);
/* Is type among the known? */
int lt_type_est_knows(const lt_type_est *e, const void *type);

/* The tag of a live block of size bytes at ptr: the name of the object's type it holds, or
 * LT_KIND_NONE. Reads at most the pointer at each known pre-header offset plus type_offset, and
 * only inside the block; the caller guarantees the block stays allocated meanwhile (the
 * sampler's lock: its free waits for it) and that objects in it are initialised (the GIL). */
uint32_t lt_type_est_classify(const lt_type_est *e, const void *ptr, uint64_t size);

/* A tally: begin, add every live sample with its tag, end. end() returns 0, or -1 when memory
 * ran out (the previous tally stays). */
void lt_type_est_tally_begin(lt_type_est *e);
void lt_type_est_tally_add(lt_type_est *e, uint32_t kind, uint64_t size, double weight,
                           uint64_t seq);
int lt_type_est_tally_end(lt_type_est *e);

/* A census completed: the last tally becomes the baseline (taken at the sampler's count
 * `seq`), and the estimates are zero. rows: that census's counts by name, to tell for each
 * type how many objects the samples do not cover (allocated before the sampler started): more
 * than the sampled weight plus three standard deviations of it. */
void lt_type_est_rebase(lt_type_est *e, uint64_t seq, const lt_type_row *rows, uint32_t nrows);

/* The objects the collector tracks that joined its lists since the census's mark, by name:
 * at_census for the count taken when the mark was placed (the census just completed: the new
 * baseline's), else this tick's. Returns 0, or -1 when out of memory (no arrivals then until the
 * next census). */
int lt_type_est_arrivals(lt_type_est *e, const lt_type_row *rows, uint32_t nrows, int at_census);

/* The mark was lost (a collection of the oldest generation, gc.freeze()) or arrivals were too
 * many to count: estimates from the samples alone until the next census's mark. */
void lt_type_est_arrivals_lost(lt_type_est *e);

/* Compute e->rows from the last tally against the baseline (and this tick's arrivals, if
 * counted): every type whose estimate is not exactly zero (a delta, or samples that came or
 * went), at most max_rows, largest |delta| first. Returns how many; 0 without a baseline. */
uint32_t lt_type_est_rows(lt_type_est *e, uint32_t max_rows);

/* Bytes of memory held. */
size_t lt_type_est_bytes(const lt_type_est *e);

#endif
