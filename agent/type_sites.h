/*
 * Where the live instances of one type were allocated: the answer to LT_CMD_TYPE_SITES being
 * built. The host walks the type's instances and hands over each one whose memory block is a
 * live sample of the heap sampler (its size, the blocks it stands for, and the site its
 * traceback resolved to); this adds them up per site and ranks the sites by estimated bytes.
 *
 * The estimate is the sampler's own, restricted to the type's blocks: a sampled block of s bytes
 * standing for w blocks counts s*w bytes and w instances, so the figures are unbiased for the
 * instances' own blocks (struct, GC header and pre-header; not what they reference).
 *
 * Plain C, no locking: one thread builds and reads it. Memory: lt_malloc'd, 24 bytes per site
 * slot, grown as sites come (out of memory makes the answer incomplete, never wrong: `failed`).
 */
#ifndef LEAKTOP_TYPE_SITES_H
#define LEAKTOP_TYPE_SITES_H

#include <stddef.h>
#include <stdint.h>

/* One site's total. */
typedef struct lt_type_site_total {
    uint32_t site;    /* the site table's handle; 0 never appears here */
    uint32_t samples; /* sampled instances */
    double bytes, count;
} lt_type_site_total;

typedef struct lt_type_sites {
    lt_type_site_total *slots; /* open addressing by site; site 0: empty */
    uint32_t mask, n;          /* slots - 1 (0 before the first add), and sites held */
    uint64_t instances;        /* instances the walk saw (the host counts them) */
    uint64_t sampled;          /* of them, live samples (lt_type_sites_add counts them) */
    double unresolved_bytes, unresolved_count; /* samples whose traceback no census named yet */
    uint64_t mean;             /* the sampler's mean interval when asked; 0: it is off */
    uint64_t walk_ns;          /* how long the host was held for the walk */
    char note[128];            /* why there is nothing to show, or "" */
    int failed;                /* memory ran out: some samples were not added */
    /* What a bounded sample of the instances owns by their own __sizeof__ (the host fills). */
    uint32_t owned_sampled;    /* instances measured */
    uint64_t owned_extra_bytes; /* what they own beyond their shallow size, in all */
    uint64_t owned_ns;         /* how long measuring them took */
} lt_type_sites;

/* An empty answer. */
void lt_type_sites_init(lt_type_sites *ts);
/* Free what it holds; it is empty (and usable) again. */
void lt_type_sites_free(lt_type_sites *ts);

/* One sampled instance: a block of size bytes standing for weight blocks, allocated at site
 * (0: its traceback is not resolved yet; counted apart). Never fails: without memory for a new
 * site the sample is left out and `failed` set. */
void lt_type_sites_add(lt_type_sites *ts, uint32_t site, uint64_t size, double weight);

/* The top sites by estimated bytes (ties: more instances first, then the lower handle) into
 * out[0..max). Returns how many. */
uint32_t lt_type_sites_top(const lt_type_sites *ts, lt_type_site_total *out, uint32_t max);

#endif
