/* Interned strings: a dense id array plus an open-addressing index. */
#include "strtab.h"

#include <string.h>

#include "leaktop/mem.h"

static const char overflow_text[] = "(string table full)";

static uint32_t
hash_bytes(const char *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

static int
add_text(lt_strtab *t, const char *s, size_t n)
{
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 256;
        char **text = lt_realloc(t->text, cap * sizeof *text);
        if (text == NULL)
            return -1;
        t->text = text;
        uint32_t *len = lt_realloc(t->len, cap * sizeof *len);
        if (len == NULL)
            return -1;
        t->len = len;
        t->cap = cap;
    }
    char *copy = lt_strndup(s, n);
    if (copy == NULL)
        return -1;
    t->text[t->n] = copy;
    t->len[t->n] = (uint32_t)n;
    t->n++;
    t->bytes += n + 1;
    return 0;
}

static void
index_insert(lt_strtab *t, uint32_t id)
{
    uint32_t mask = t->nslots - 1;
    uint32_t i = hash_bytes(t->text[id], t->len[id]) & mask;
    while (t->slots[i] != 0)
        i = (i + 1) & mask;
    t->slots[i] = id + 1;
}

static int
grow_index(lt_strtab *t)
{
    uint32_t n = t->nslots * 2;
    uint32_t *slots = lt_calloc(n, sizeof *slots);
    if (slots == NULL)
        return -1;
    lt_free(t->slots);
    t->slots = slots;
    t->nslots = n;
    for (uint32_t id = 0; id < t->n; id++)
        index_insert(t, id);
    return 0;
}

int
lt_strtab_init(lt_strtab *t)
{
    memset(t, 0, sizeof *t);
    t->nslots = 1024;
    t->slots = lt_calloc(t->nslots, sizeof *t->slots);
    if (t->slots == NULL || add_text(t, overflow_text, sizeof overflow_text - 1) < 0) {
        lt_strtab_free(t);
        return -1;
    }
    index_insert(t, 0);
    return 0;
}

void
lt_strtab_free(lt_strtab *t)
{
    for (uint32_t i = 0; i < t->n; i++)
        lt_free(t->text[i]);
    lt_free(t->text);
    lt_free(t->len);
    lt_free(t->slots);
    memset(t, 0, sizeof *t);
}

uint32_t
lt_strtab_intern(lt_strtab *t, const char *s, size_t n, int *added)
{
    *added = 0;
    if (t->slots == NULL)
        return LT_STRTAB_OVERFLOW_ID;
    uint32_t mask = t->nslots - 1;
    for (uint32_t i = hash_bytes(s, n) & mask; t->slots[i] != 0; i = (i + 1) & mask) {
        uint32_t id = t->slots[i] - 1;
        if (t->len[id] == n && memcmp(t->text[id], s, n) == 0)
            return id;
    }
    if (t->n >= LT_STRTAB_MAX_IDS || t->bytes + n + 1 > LT_STRTAB_MAX_BYTES) {
        t->refused++;
        return LT_STRTAB_OVERFLOW_ID;
    }
    if ((t->n + 1) * 2 > t->nslots && grow_index(t) < 0) {
        t->refused++;
        return LT_STRTAB_OVERFLOW_ID;
    }
    if (add_text(t, s, n) < 0) {
        t->refused++;
        return LT_STRTAB_OVERFLOW_ID;
    }
    index_insert(t, t->n - 1);
    *added = 1;
    return t->n - 1;
}
