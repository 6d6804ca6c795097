/*
 * A set of time series keyed by up to three u32 (a traceback id; or file, function and line),
 * each aligned with the model's ring of points: value[slot] for the point in that ring slot.
 * Bounded: past max series, new keys are refused and counted. Not thread-safe.
 */
#ifndef LEAKTOP_SERIES_SET_H
#define LEAKTOP_SERIES_SET_H

#include <stdint.h>

typedef struct lt_series_key {
    uint32_t a, b, c;
} lt_series_key;

typedef struct lt_series {
    lt_series_key key;
    uint32_t extra;          /* caller's: e.g. the largest traceback of a line */
    uint64_t *bytes, *count; /* [cap]; LT_UNKNOWN where no value was given for that point */
} lt_series;

typedef struct lt_series_set {
    lt_series *items;
    uint32_t n, max, cap;   /* cap: points per series */
    uint32_t *slots, nslots; /* open addressing: index + 1 */
    uint64_t refused;
} lt_series_set;

/* Returns 0, or -1 when out of memory. */
int lt_series_set_init(lt_series_set *s, uint32_t points, uint32_t max_series);
void lt_series_set_free(lt_series_set *s);
/* The series of key, created (all unknown) on first use. NULL when full or out of memory. */
lt_series *lt_series_get(lt_series_set *s, lt_series_key key);
/* The series of key if it exists, else NULL. */
lt_series *lt_series_find(const lt_series_set *s, lt_series_key key);
/* Set every series' value at slot to v (LT_UNKNOWN or 0), before a new point's values. */
void lt_series_clear_slot(lt_series_set *s, uint32_t slot, uint64_t v);

#endif
