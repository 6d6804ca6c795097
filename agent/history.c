/* A bounded ring of encoded frames. */
#include "history.h"

#include <string.h>

#include "leaktop/mem.h"

int
lt_history_init(lt_history *h, uint32_t cap, size_t max_bytes)
{
    memset(h, 0, sizeof *h);
    h->cap = cap ? cap : 1;
    h->max_bytes = max_bytes;
    h->ring = lt_calloc(h->cap, sizeof *h->ring);
    return h->ring ? 0 : -1;
}

static void
drop_oldest(lt_history *h)
{
    lt_history_entry *e = &h->ring[h->head];
    h->bytes -= e->len;
    lt_free(e->frame);
    e->frame = NULL;
    e->len = 0;
    h->head = (h->head + 1) % h->cap;
    h->n--;
}

void
lt_history_free(lt_history *h)
{
    while (h->n > 0)
        drop_oldest(h);
    lt_free(h->ring);
    memset(h, 0, sizeof *h);
}

void
lt_history_push(lt_history *h, const uint8_t *frame, uint32_t len)
{
    if (h->ring == NULL || len > h->max_bytes)
        return;
    if (h->n == h->cap)
        drop_oldest(h);
    while (h->n > 0 && h->bytes + len > h->max_bytes) {
        drop_oldest(h);
        h->evicted++;
    }
    uint8_t *copy = lt_malloc(len);
    if (copy == NULL)
        return;
    memcpy(copy, frame, len);
    lt_history_entry *e = &h->ring[(h->head + h->n) % h->cap];
    e->frame = copy;
    e->len = len;
    h->n++;
    h->bytes += len;
}

const lt_history_entry *
lt_history_at(const lt_history *h, uint32_t i)
{
    return &h->ring[(h->head + i) % h->cap];
}
