/*
 * The agent's memory of recent samples, so a client that connects mid-incident sees the curve
 * from before it came. A ring of already-encoded SAMPLE frames (flagged LT_FLAG_HISTORY), bounded
 * by a number of samples and by bytes; the oldest go first. Agent thread only.
 */
#ifndef LEAKTOP_HISTORY_H
#define LEAKTOP_HISTORY_H

#include <stddef.h>
#include <stdint.h>

typedef struct lt_history_entry {
    uint8_t *frame;
    uint32_t len;
} lt_history_entry;

typedef struct lt_history {
    lt_history_entry *ring;
    uint32_t cap, head, n; /* head: index of the oldest */
    size_t bytes, max_bytes;
    uint64_t evicted; /* samples pushed out by the byte bound before their time */
} lt_history;

/* Returns 0, or -1 when out of memory. */
int lt_history_init(lt_history *h, uint32_t cap, size_t max_bytes);
void lt_history_free(lt_history *h);
/* Keep a copy of one encoded frame. On out of memory the frame is simply not kept (the history
 * has a gap, which clients see as a jump in sequence numbers). */
void lt_history_push(lt_history *h, const uint8_t *frame, uint32_t len);
/* The i-th oldest entry, i < h->n. */
const lt_history_entry *lt_history_at(const lt_history *h, uint32_t i);

#endif
