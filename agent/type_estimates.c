/* Per-type estimates between censuses from the sampler's live samples (type_estimates.h). */
#include "type_estimates.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "leaktop/mem.h"

/* A sampled block's bytes are the program's and may be unwritten (a buffer's spare room):
 * under valgrind, the copy read from it is marked as defined (the block itself is left as it
 * is), so looking it up is not reported as the program's own use of uninitialised memory. */
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#endif
#endif
#ifndef VALGRIND_MAKE_MEM_DEFINED
#define VALGRIND_MAKE_MEM_DEFINED(p, n) ((void)(p), (void)(n))
#endif

#define EMPTY_NAME UINT32_MAX

static inline uint32_t
mix(uint64_t x)
{
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    return (uint32_t)x;
}

void
lt_type_est_init(lt_type_est *e, uint32_t type_offset)
{
    memset(e, 0, sizeof *e);
    e->type_offset = type_offset;
}

static void
map_free(lt_est_map *m)
{
    lt_free(m->slots);
    memset(m, 0, sizeof *m);
}

void
lt_type_est_free(lt_type_est *e)
{
    lt_free(e->types);
    map_free(&e->cur);
    map_free(&e->now);
    map_free(&e->base);
    map_free(&e->arr_base);
    map_free(&e->arr_now);
    lt_free(e->rows);
    uint32_t off = e->type_offset;
    lt_type_est_init(e, off);
}

/* ---- the types the census knows -------------------------------------------------------- */

void
lt_type_est_forget_types(lt_type_est *e)
{
    if (e->types != NULL)
        memset(e->types, 0, ((size_t)e->types_mask + 1) * sizeof *e->types);
    e->ntypes = 0;
    e->npreheaders = 0;
}

static lt_est_type *
type_probe(lt_est_type *slots, uint32_t mask, uintptr_t type)
{
    uint32_t i = mix((uint64_t)type >> 3) & mask;
    while (slots[i].type != 0 && slots[i].type != type)
        i = (i + 1) & mask;
    return &slots[i];
}

static int
types_grow(lt_type_est *e)
{
    uint32_t n = e->types ? (e->types_mask + 1) * 2 : 256;
    lt_est_type *slots = lt_calloc(n, sizeof *slots);
    if (slots == NULL)
        return -1;
    for (uint32_t i = 0; e->types != NULL && i <= e->types_mask; i++)
        if (e->types[i].type != 0)
            *type_probe(slots, n - 1, e->types[i].type) = e->types[i];
    lt_free(e->types);
    e->types = slots;
    e->types_mask = n - 1;
    return 0;
}

int
lt_type_est_learn(lt_type_est *e, const void *type, uint32_t name_id, uint32_t preheader,
                  uint64_t basicsize, uint64_t itemsize, uint64_t extra_max)
{
    if (type == NULL || basicsize == 0)
        return 0;
    if ((e->types == NULL || (e->ntypes + 1) * 2 > e->types_mask + 1) && types_grow(e) < 0)
        return -1;
    lt_est_type *s = type_probe(e->types, e->types_mask, (uintptr_t)type);
    if (s->type == 0)
        e->ntypes++;
    *s = (lt_est_type){(uintptr_t)type, name_id, preheader, basicsize, itemsize, extra_max};
    uint32_t k = 0;
    while (k < e->npreheaders && e->preheaders[k] != preheader)
        k++;
    if (k == e->npreheaders && k < LT_EST_MAX_PREHEADERS)
        e->preheaders[e->npreheaders++] = preheader;
    return 0;
}

int
lt_type_est_knows(const lt_type_est *e, const void *type)
{
    return e->types != NULL && type != NULL &&
           type_probe(e->types, e->types_mask, (uintptr_t)type)->type == (uintptr_t)type;
}

void
lt_type_est_learned(lt_type_est *e)
{
    e->relearned = 1;
}

uint32_t
lt_type_est_classify(const lt_type_est *e, const void *ptr, uint64_t size)
{
    if (e->types == NULL || ptr == NULL)
        return LT_KIND_NONE;
    for (uint32_t k = 0; k < e->npreheaders; k++) {
        uint64_t off = (uint64_t)e->preheaders[k] + e->type_offset;
        if (size < off + sizeof(uintptr_t))
            continue;
        uintptr_t t;
        memcpy(&t, (const char *)ptr + off, sizeof t);
        (void)VALGRIND_MAKE_MEM_DEFINED(&t, sizeof t);
        if (t == 0)
            continue;
        const lt_est_type *s = type_probe(e->types, e->types_mask, t);
        if (s->type != t || s->preheader != e->preheaders[k])
            continue;
        /* The size the allocator was asked for: the pre-header and the struct for a fixed-size
         * type (and its inline values, up to extra_max); a variable one adds its items. */
        uint64_t fixed = (uint64_t)s->preheader + s->basicsize;
        if (size < fixed || (s->itemsize == 0 && size > fixed + s->extra_max))
            continue;
        return s->name_id + LT_KIND_NAME0;
    }
    return LT_KIND_NONE;
}

/* ---- tallies --------------------------------------------------------------------------- */

static void
map_clear(lt_est_map *m)
{
    if (m->slots != NULL)
        for (uint32_t i = 0; i <= m->mask; i++)
            m->slots[i].name_id = EMPTY_NAME;
    m->n = 0;
}

static lt_est_sum *
sum_probe(lt_est_sum *slots, uint32_t mask, uint32_t name_id)
{
    uint32_t i = mix(name_id) & mask;
    while (slots[i].name_id != EMPTY_NAME && slots[i].name_id != name_id)
        i = (i + 1) & mask;
    return &slots[i];
}

static int
map_grow(lt_est_map *m)
{
    uint32_t n = m->slots ? (m->mask + 1) * 2 : 64;
    lt_est_sum *slots = lt_malloc(n * sizeof *slots);
    if (slots == NULL)
        return -1;
    for (uint32_t i = 0; i < n; i++)
        slots[i].name_id = EMPTY_NAME;
    for (uint32_t i = 0; m->slots != NULL && i <= m->mask; i++)
        if (m->slots[i].name_id != EMPTY_NAME)
            *sum_probe(slots, n - 1, m->slots[i].name_id) = m->slots[i];
    lt_free(m->slots);
    m->slots = slots;
    m->mask = n - 1;
    return 0;
}

/* The sum of name_id in m, added when absent; NULL when out of memory. */
static lt_est_sum *
map_get(lt_est_map *m, uint32_t name_id, int add)
{
    if (m->slots == NULL) {
        if (!add || map_grow(m) < 0)
            return NULL;
    }
    lt_est_sum *s = sum_probe(m->slots, m->mask, name_id);
    if (s->name_id == name_id)
        return s;
    if (!add)
        return NULL;
    if ((m->n + 1) * 2 > m->mask + 1) {
        if (map_grow(m) < 0)
            return NULL;
        s = sum_probe(m->slots, m->mask, name_id);
    }
    memset(s, 0, sizeof *s);
    s->name_id = name_id;
    m->n++;
    return s;
}

void
lt_type_est_tally_begin(lt_type_est *e)
{
    map_clear(&e->cur);
    e->failed = 0;
}

void
lt_type_est_tally_add(lt_type_est *e, uint32_t kind, uint64_t size, double weight, uint64_t seq)
{
    if (kind < LT_KIND_NAME0)
        return;
    lt_est_sum *s = map_get(&e->cur, kind - LT_KIND_NAME0, 1);
    if (s == NULL) {
        e->failed = 1;
        return;
    }
    double v = weight > 1.0 ? weight * (weight - 1.0) : 0.0;
    s->samples++;
    s->count += weight;
    s->bytes += weight * (double)size;
    s->var_all += v;
    if (e->have_base && seq <= e->base_seq) {
        s->var_old += v;
        s->count_old += weight;
        s->bytes_old += weight * (double)size;
    }
}

int
lt_type_est_tally_end(lt_type_est *e)
{
    e->relearned = 0;
    if (e->failed)
        return -1;
    lt_est_map t = e->now;
    e->now = e->cur;
    e->cur = t;
    return 0;
}

void
lt_type_est_rebase(lt_type_est *e, uint64_t seq, const lt_type_row *rows, uint32_t nrows)
{
    /* The baseline is the last tally: copy it (the next tally reuses cur, then swaps). */
    map_clear(&e->base);
    e->have_base = 0;
    for (uint32_t i = 0; e->now.slots != NULL && i <= e->now.mask; i++) {
        lt_est_sum *s = &e->now.slots[i];
        if (s->name_id == EMPTY_NAME)
            continue;
        /* against the new baseline, every sample of it is old */
        s->var_old = s->var_all;
        s->count_old = s->count;
        s->bytes_old = s->bytes;
        lt_est_sum *b = map_get(&e->base, s->name_id, 1);
        if (b == NULL) {
            map_clear(&e->base);
            e->nrows = 0;
            return; /* no baseline: no estimates until the next census */
        }
        *b = *s;
    }
    for (uint32_t i = 0; i < nrows; i++) {
        lt_est_sum *b = map_get(&e->base, rows[i].name_id, 1);
        if (b == NULL) {
            map_clear(&e->base);
            e->nrows = 0;
            return;
        }
        double u = (double)rows[i].count - b->count - 3.0 * sqrt(b->var_all);
        b->unsampled = u > 0 ? u : 0;
        b->tracked = 1;
    }
    e->base_seq = seq;
    e->have_base = 1;
    e->nrows = 0;
}

static int
cmp_rows(const void *a, const void *b)
{
    const lt_est_row *x = a, *y = b;
    uint64_t dx = (uint64_t)llabs(x->count_delta), dy = (uint64_t)llabs(y->count_delta);
    if (dx != dy)
        return dx < dy ? 1 : -1;
    if (x->count_sd != y->count_sd)
        return x->count_sd < y->count_sd ? 1 : -1;
    return x->name_id < y->name_id ? -1 : x->name_id > y->name_id;
}

int
lt_type_est_arrivals(lt_type_est *e, const lt_type_row *rows, uint32_t nrows, int at_census)
{
    lt_est_map *m = at_census ? &e->arr_base : &e->arr_now;
    map_clear(m);
    e->arr_fresh = 0;
    if (at_census)
        e->have_arr_base = 0;
    for (uint32_t i = 0; i < nrows; i++) {
        lt_est_sum *s = map_get(m, rows[i].name_id, 1);
        if (s == NULL) {
            lt_type_est_arrivals_lost(e);
            return -1;
        }
        s->count += (double)rows[i].count;
        s->bytes += (double)rows[i].bytes;
    }
    if (at_census) {
        e->have_arr_base = 1;
        /* This tick's count is the census's: nothing arrived since. */
        map_clear(&e->arr_now);
        for (uint32_t i = 0; e->arr_base.slots != NULL && i <= e->arr_base.mask; i++)
            if (e->arr_base.slots[i].name_id != EMPTY_NAME) {
                lt_est_sum *d = map_get(&e->arr_now, e->arr_base.slots[i].name_id, 1);
                if (d == NULL) {
                    lt_type_est_arrivals_lost(e);
                    return -1;
                }
                *d = e->arr_base.slots[i];
            }
    }
    e->arr_fresh = e->have_arr_base;
    return 0;
}

void
lt_type_est_arrivals_lost(lt_type_est *e)
{
    map_clear(&e->arr_base);
    map_clear(&e->arr_now);
    e->have_arr_base = e->arr_fresh = 0;
}

/* Append one row; 0, or -1 when out of memory. */
static int
push_row(lt_type_est *e, uint32_t name_id, const lt_est_sum *now, const lt_est_sum *base)
{
    static const lt_est_sum zero;
    if (now == NULL)
        now = &zero;
    if (base == NULL)
        base = &zero;
    double dc = now->count - base->count, db = now->bytes - base->bytes;
    /* Came since the baseline, and went since (alive then, not now). */
    double came = now->var_all - now->var_old, went = base->var_all - now->var_old;
    const lt_est_sum *a = e->arr_fresh ? map_get(&e->arr_now, name_id, 0) : NULL;
    const lt_est_sum *a0 = e->arr_fresh ? map_get(&e->arr_base, name_id, 0) : NULL;
    if (e->arr_fresh && (base->tracked || a != NULL || a0 != NULL)) {
        /* What came is counted: the arrivals since the mark; what went, sampled. */
        if (a == NULL)
            a = &zero;
        if (a0 == NULL)
            a0 = &zero;
        dc = (a->count - a0->count) - (base->count - now->count_old);
        db = (a->bytes - a0->bytes) - (base->bytes - now->bytes_old);
        came = 0;
    }
    double var = (came > 0 ? came : 0) + (went > 0 ? went : 0);
    int64_t c = (int64_t)llround(dc), b = (int64_t)llround(db);
    uint64_t sd = (uint64_t)llround(sqrt(var));
    if (c == 0 && b == 0 && sd == 0)
        return 0;
    if (e->nrows == e->rows_cap) {
        uint32_t cap = e->rows_cap ? e->rows_cap * 2 : 64;
        lt_est_row *r = lt_realloc(e->rows, cap * sizeof *r);
        if (r == NULL)
            return -1;
        e->rows = r;
        e->rows_cap = cap;
    }
    e->rows[e->nrows++] =
        (lt_est_row){name_id, c, b, sd, (uint64_t)llround(base->unsampled)};
    return 0;
}

uint32_t
lt_type_est_rows(lt_type_est *e, uint32_t max_rows)
{
    e->nrows = 0;
    if (!e->have_base)
        return 0;
    for (uint32_t i = 0; e->now.slots != NULL && i <= e->now.mask; i++) {
        const lt_est_sum *s = &e->now.slots[i];
        if (s->name_id != EMPTY_NAME &&
            push_row(e, s->name_id, s, map_get(&e->base, s->name_id, 0)) < 0)
            break;
    }
    /* Types with samples at the baseline and none now. */
    for (uint32_t i = 0; e->base.slots != NULL && i <= e->base.mask; i++) {
        const lt_est_sum *s = &e->base.slots[i];
        if (s->name_id != EMPTY_NAME && map_get(&e->now, s->name_id, 0) == NULL &&
            push_row(e, s->name_id, NULL, s) < 0)
            break;
    }
    /* Types with arrivals and no sample at either time. */
    lt_est_map *arr[2] = {&e->arr_now, &e->arr_base};
    for (int k = 0; e->arr_fresh && k < 2; k++)
        for (uint32_t i = 0; arr[k]->slots != NULL && i <= arr[k]->mask; i++) {
            uint32_t id = arr[k]->slots[i].name_id;
            if (id == EMPTY_NAME || map_get(&e->now, id, 0) != NULL ||
                map_get(&e->base, id, 0) != NULL ||
                (k == 1 && map_get(&e->arr_now, id, 0) != NULL))
                continue;
            if (push_row(e, id, NULL, NULL) < 0)
                break;
        }
    e->arr_fresh = 0;
    if (e->nrows > 1)
        qsort(e->rows, e->nrows, sizeof *e->rows, cmp_rows);
    if (max_rows != 0 && e->nrows > max_rows)
        e->nrows = max_rows;
    return e->nrows;
}

size_t
lt_type_est_bytes(const lt_type_est *e)
{
    size_t b = (e->types ? ((size_t)e->types_mask + 1) * sizeof *e->types : 0) +
               (size_t)e->rows_cap * sizeof *e->rows;
    const lt_est_map *maps[5] = {&e->cur, &e->now, &e->base, &e->arr_base, &e->arr_now};
    for (int i = 0; i < 5; i++)
        if (maps[i]->slots)
            b += ((size_t)maps[i]->mask + 1) * sizeof *maps[i]->slots;
    return b;
}
