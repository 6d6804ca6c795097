/* A type's allocation sites, added up per site and ranked (see type_sites.h). */
#include "type_sites.h"

#include <string.h>

#include "leaktop/mem.h"

void
lt_type_sites_init(lt_type_sites *ts)
{
    memset(ts, 0, sizeof *ts);
}

void
lt_type_sites_free(lt_type_sites *ts)
{
    lt_free(ts->slots);
    lt_type_sites_init(ts);
}

static uint32_t
site_hash(uint32_t site)
{
    return site * 2654435761u;
}

/* Grow to twice the slots (16 at first). Returns 0, or -1 when out of memory. */
static int
grow(lt_type_sites *ts)
{
    uint32_t cap = ts->slots ? (ts->mask + 1) * 2 : 16;
    lt_type_site_total *s = lt_calloc(cap, sizeof *s);
    if (s == NULL)
        return -1;
    for (uint32_t i = 0; ts->slots != NULL && i <= ts->mask; i++) {
        if (ts->slots[i].site == 0)
            continue;
        uint32_t j = site_hash(ts->slots[i].site) & (cap - 1);
        while (s[j].site != 0)
            j = (j + 1) & (cap - 1);
        s[j] = ts->slots[i];
    }
    lt_free(ts->slots);
    ts->slots = s;
    ts->mask = cap - 1;
    return 0;
}

void
lt_type_sites_add(lt_type_sites *ts, uint32_t site, uint64_t size, double weight)
{
    ts->sampled++;
    if (site == 0) {
        ts->unresolved_bytes += (double)size * weight;
        ts->unresolved_count += weight;
        return;
    }
    /* At most half full. */
    if ((ts->slots == NULL || (ts->n + 1) * 2 > ts->mask + 1) && grow(ts) < 0) {
        ts->failed = 1;
        return;
    }
    uint32_t i = site_hash(site) & ts->mask;
    while (ts->slots[i].site != 0 && ts->slots[i].site != site)
        i = (i + 1) & ts->mask;
    lt_type_site_total *t = &ts->slots[i];
    if (t->site == 0) {
        t->site = site;
        ts->n++;
    }
    t->samples++;
    t->bytes += (double)size * weight;
    t->count += weight;
}

/* Does a rank before b? */
static int
before(const lt_type_site_total *a, const lt_type_site_total *b)
{
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes;
    if (a->count != b->count)
        return a->count > b->count;
    return a->site < b->site;
}

uint32_t
lt_type_sites_top(const lt_type_sites *ts, lt_type_site_total *out, uint32_t max)
{
    /* Insertion into a sorted top-max: the walk finds few sites per type, and max is small. */
    uint32_t n = 0;
    for (uint32_t i = 0; ts->slots != NULL && i <= ts->mask && max > 0; i++) {
        const lt_type_site_total *t = &ts->slots[i];
        if (t->site == 0 || (n == max && !before(t, &out[n - 1])))
            continue;
        uint32_t k = n < max ? n++ : max - 1;
        while (k > 0 && before(t, &out[k - 1])) {
            out[k] = out[k - 1];
            k--;
        }
        out[k] = *t;
    }
    return n;
}
