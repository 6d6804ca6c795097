/* Keyed series aligned with the model's ring. */
#include "series_set.h"

#include <string.h>

#include "leaktop/mem.h"
#include "model.h"

static uint32_t
hash_key(lt_series_key k)
{
    uint64_t x = (uint64_t)k.a * 0x9E3779B97F4A7C15ull ^ (uint64_t)k.b * 0xC2B2AE3D27D4EB4Full ^
                 (uint64_t)k.c * 0x165667B19E3779F9ull;
    x ^= x >> 31;
    return (uint32_t)x;
}

static int
same(lt_series_key x, lt_series_key y)
{
    return x.a == y.a && x.b == y.b && x.c == y.c;
}

int
lt_series_set_init(lt_series_set *s, uint32_t points, uint32_t max_series)
{
    memset(s, 0, sizeof *s);
    s->cap = points ? points : 1;
    s->max = max_series;
    s->nslots = 256;
    s->slots = lt_calloc(s->nslots, sizeof *s->slots);
    return s->slots ? 0 : -1;
}

void
lt_series_set_free(lt_series_set *s)
{
    for (uint32_t i = 0; i < s->n; i++) {
        lt_free(s->items[i].bytes);
        lt_free(s->items[i].count);
    }
    lt_free(s->items);
    lt_free(s->slots);
    memset(s, 0, sizeof *s);
}

static uint32_t *
probe(const lt_series_set *s, lt_series_key key)
{
    uint32_t mask = s->nslots - 1;
    uint32_t i = hash_key(key) & mask;
    while (s->slots[i] != 0 && !same(s->items[s->slots[i] - 1].key, key))
        i = (i + 1) & mask;
    return &s->slots[i];
}

lt_series *
lt_series_find(const lt_series_set *s, lt_series_key key)
{
    if (s->slots == NULL)
        return NULL;
    uint32_t *slot = probe(s, key);
    return *slot ? &s->items[*slot - 1] : NULL;
}

static int
grow_index(lt_series_set *s)
{
    uint32_t n = s->nslots * 2;
    uint32_t *slots = lt_calloc(n, sizeof *slots);
    if (slots == NULL)
        return -1;
    lt_free(s->slots);
    s->slots = slots;
    s->nslots = n;
    for (uint32_t i = 0; i < s->n; i++)
        *probe(s, s->items[i].key) = i + 1;
    return 0;
}

lt_series *
lt_series_get(lt_series_set *s, lt_series_key key)
{
    lt_series *found = lt_series_find(s, key);
    if (found != NULL || s->slots == NULL)
        return found;
    if (s->n >= s->max) {
        s->refused++;
        return NULL;
    }
    if ((s->n + 1) * 2 > s->nslots && grow_index(s) < 0)
        return NULL;
    lt_series *items = lt_realloc(s->items, (s->n + 1) * sizeof *items);
    if (items == NULL)
        return NULL;
    s->items = items;
    lt_series *it = &s->items[s->n];
    memset(it, 0, sizeof *it);
    it->key = key;
    it->bytes = lt_malloc(s->cap * sizeof *it->bytes);
    it->count = lt_malloc(s->cap * sizeof *it->count);
    if (it->bytes == NULL || it->count == NULL) {
        lt_free(it->bytes);
        lt_free(it->count);
        return NULL;
    }
    for (uint32_t i = 0; i < s->cap; i++)
        it->bytes[i] = it->count[i] = LT_UNKNOWN;
    s->n++;
    *probe(s, key) = s->n;
    return it;
}

void
lt_series_clear_slot(lt_series_set *s, uint32_t slot, uint64_t v)
{
    for (uint32_t i = 0; i < s->n; i++)
        s->items[i].bytes[slot] = s->items[i].count[slot] = v;
}
