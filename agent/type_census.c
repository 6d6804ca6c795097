#define _GNU_SOURCE
/* The per-type census table, its merge by name, and the history ranking. */
#include "type_census.h"

#include <stdlib.h>
#include <string.h>

#include "leaktop/mem.h"

static inline uint32_t
hash_ptr(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (uint32_t)x;
}

int
lt_census_init(lt_census *c, uint32_t ref_period)
{
    memset(c, 0, sizeof *c);
    c->nslots = 1024;
    c->slots = lt_calloc(c->nslots, sizeof *c->slots);
    c->ref_period = ref_period ? ref_period : 1;
    return c->slots ? 0 : -1;
}

void
lt_census_free(lt_census *c)
{
    lt_free(c->slots);
    lt_free(c->rows);
    lt_free(c->ref_count);
    lt_free(c->cand_count);
    memset(c, 0, sizeof *c);
}

void
lt_census_clear_slots(lt_census *c)
{
    if (c->slots)
        memset(c->slots, 0, c->nslots * sizeof *c->slots);
    c->used = 0;
    c->last = NULL;
    c->objects = 0;
    c->failed = 0;
}

void
lt_census_reset(lt_census *c)
{
    lt_census_clear_slots(c);
    c->nrows = 0;
}

void
lt_census_zero_counts(lt_census *c)
{
    for (uint32_t i = 0; c->slots != NULL && i < c->nslots; i++)
        c->slots[i].count = c->slots[i].bytes = 0;
    c->objects = 0;
    c->failed = 0;
}

static lt_census_slot *
probe(lt_census_slot *slots, uint32_t nslots, const void *type)
{
    uint32_t mask = nslots - 1;
    uint32_t i = hash_ptr(type) & mask;
    while (slots[i].type != NULL && slots[i].type != type)
        i = (i + 1) & mask;
    return &slots[i];
}

static int
grow(lt_census *c)
{
    uint32_t n = c->nslots * 2;
    lt_census_slot *slots = lt_calloc(n, sizeof *slots);
    if (slots == NULL)
        return -1;
    for (uint32_t i = 0; i < c->nslots; i++)
        if (c->slots[i].type != NULL)
            *probe(slots, n, c->slots[i].type) = c->slots[i];
    lt_free(c->slots);
    c->slots = slots;
    c->nslots = n;
    c->last = NULL;
    return 0;
}

lt_census_slot *
lt_census_slot_of(lt_census *c, const void *type)
{
    if (c->slots == NULL) {
        c->failed = 1;
        return NULL;
    }
    lt_census_slot *s = probe(c->slots, c->nslots, type);
    if (s->type != NULL)
        return s;
    if ((c->used + 1) * 4 > c->nslots * 3) {
        if (grow(c) < 0) {
            c->failed = 1;
            return NULL;
        }
        s = probe(c->slots, c->nslots, type);
    }
    s->type = type;
    c->used++;
    return s;
}

static int
cmp_rows_by_bytes(const void *a, const void *b)
{
    const lt_type_row *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? 1 : -1;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return x->name_id < y->name_id ? -1 : x->name_id > y->name_id;
}

static int
cmp_rows_by_id(const void *a, const void *b)
{
    const lt_type_row *x = a, *y = b;
    return x->name_id < y->name_id ? -1 : x->name_id > y->name_id;
}

int
lt_census_merge(lt_census *c, uint32_t (*name_of)(void *ctx, const void *type), void *ctx)
{
    c->nrows = 0;
    if (c->used > c->rows_cap) {
        lt_type_row *rows = lt_realloc(c->rows, c->used * sizeof *rows);
        if (rows == NULL)
            return -1;
        c->rows = rows;
        c->rows_cap = c->used;
    }
    for (uint32_t i = 0; i < c->nslots; i++) {
        const lt_census_slot *s = &c->slots[i];
        if (s->type == NULL || s->count == 0)
            continue;
        c->rows[c->nrows++] = (lt_type_row){name_of(ctx, s->type), s->count, s->bytes};
    }
    /* Several live types can share one name (a class defined in a function called twice): they
     * are one row, which is what a person reading the table means by that name. */
    if (c->nrows > 1)
        qsort(c->rows, c->nrows, sizeof *c->rows, cmp_rows_by_id);
    uint32_t out = 0;
    for (uint32_t i = 0; i < c->nrows; i++) {
        if (out > 0 && c->rows[out - 1].name_id == c->rows[i].name_id) {
            c->rows[out - 1].count += c->rows[i].count;
            c->rows[out - 1].bytes += c->rows[i].bytes;
        } else {
            c->rows[out++] = c->rows[i];
        }
    }
    c->nrows = out;
    if (c->nrows > 1)
        qsort(c->rows, c->nrows, sizeof *c->rows, cmp_rows_by_bytes);
    return 0;
}

/* Make room for growth references of name ids below n. */
static int
ensure_refs(lt_census *c, uint32_t n)
{
    if (n <= c->ref_cap)
        return 0;
    uint32_t cap = c->ref_cap ? c->ref_cap : 1024;
    while (cap < n)
        cap *= 2;
    uint64_t *r = lt_realloc(c->ref_count, cap * sizeof *r);
    if (r == NULL)
        return -1;
    c->ref_count = r;
    uint64_t *k = lt_realloc(c->cand_count, cap * sizeof *k);
    if (k == NULL)
        return -1;
    c->cand_count = k;
    /* UINT64_MAX: no reference yet for that name. */
    for (uint32_t i = c->ref_cap; i < cap; i++)
        c->ref_count[i] = c->cand_count[i] = UINT64_MAX;
    c->ref_cap = cap;
    return 0;
}

static int
cmp_u32_desc_key(const void *a, const void *b, void *keys)
{
    const int64_t *k = keys;
    int64_t x = k[*(const uint32_t *)a], y = k[*(const uint32_t *)b];
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Indices 0..n-1 of c->rows ordered by key descending (simple insertion of the best `take`). */
static void
mark_top(const lt_census *c, const int64_t *key, uint32_t take, uint8_t *chosen, uint32_t *nchosen,
         uint32_t max)
{
    uint32_t *idx = lt_malloc(c->nrows * sizeof *idx);
    if (idx == NULL)
        return;
    for (uint32_t i = 0; i < c->nrows; i++)
        idx[i] = i;
    qsort_r(idx, c->nrows, sizeof *idx, cmp_u32_desc_key, (void *)key);
    for (uint32_t i = 0, got = 0; i < c->nrows && got < take && *nchosen < max; i++) {
        if (key[idx[i]] <= 0)
            break;
        if (!chosen[idx[i]]) {
            chosen[idx[i]] = 1;
            (*nchosen)++;
        }
        got++;
    }
    lt_free(idx);
}

uint32_t
lt_census_rank_history(lt_census *c, lt_type_row *out, uint32_t max)
{
    uint32_t maxid = 0;
    for (uint32_t i = 0; i < c->nrows; i++)
        if (c->rows[i].name_id + 1 > maxid)
            maxid = c->rows[i].name_id + 1;
    int have_refs = ensure_refs(c, maxid) == 0;

    uint32_t n = 0;
    if (c->nrows <= max) {
        if (c->nrows > 0) /* an empty census may have no table at all */
            memcpy(out, c->rows, c->nrows * sizeof *out);
        n = c->nrows;
    } else {
        uint8_t *chosen = lt_calloc(c->nrows, 1);
        int64_t *key = lt_malloc(c->nrows * sizeof *key);
        if (chosen == NULL || key == NULL) {
            /* Degrade to the largest rows, already sorted by bytes. */
            memcpy(out, c->rows, max * sizeof *out);
            n = max;
        } else {
            uint32_t nchosen = 0, share = max / 3;
            for (uint32_t i = 0; i < c->nrows; i++) {
                uint64_t ref = have_refs ? c->ref_count[c->rows[i].name_id] : UINT64_MAX;
                key[i] = ref == UINT64_MAX ? 0 : (int64_t)c->rows[i].count - (int64_t)ref;
            }
            mark_top(c, key, share, chosen, &nchosen, max);
            for (uint32_t i = 0; i < c->nrows; i++)
                key[i] = (int64_t)c->rows[i].count;
            mark_top(c, key, share, chosen, &nchosen, max);
            /* The rest by bytes: rows are sorted that way already. */
            for (uint32_t i = 0; i < c->nrows && nchosen < max; i++)
                if (!chosen[i]) {
                    chosen[i] = 1;
                    nchosen++;
                }
            for (uint32_t i = 0; i < c->nrows; i++)
                if (chosen[i])
                    out[n++] = c->rows[i];
        }
        lt_free(chosen);
        lt_free(key);
    }

    /* Advance the growth reference: every ref_period censuses the candidate becomes the
     * reference, so the reference is between one and two periods old. */
    if (have_refs) {
        if (++c->ref_age >= c->ref_period) {
            c->ref_age = 0;
            memcpy(c->ref_count, c->cand_count, c->ref_cap * sizeof *c->ref_count);
            for (uint32_t i = 0; i < c->ref_cap; i++)
                c->cand_count[i] = UINT64_MAX;
            for (uint32_t i = 0; i < c->nrows; i++)
                c->cand_count[c->rows[i].name_id] = c->rows[i].count;
        } else {
            for (uint32_t i = 0; i < c->nrows; i++)
                if (c->cand_count[c->rows[i].name_id] == UINT64_MAX)
                    c->cand_count[c->rows[i].name_id] = c->rows[i].count;
        }
    }
    return n;
}
