/*
 * Sampling allocations by bytes: a Poisson process over the stream of allocated bytes with mean
 * interval R. Every byte is a sampling point with probability 1/R, independently, so an
 * allocation of s bytes is sampled with probability 1 - exp(-s/R), and a sampled allocation
 * stands for 1 / (1 - exp(-s/R)) allocations of its size: the unbiased (Horvitz-Thompson)
 * estimate of live blocks and bytes.
 *
 * Each thread owns one lt_countdown (the hook keeps it thread-local), so the fast path is a
 * subtraction and a compare on memory nobody else touches. Plain C, no locks, no allocation.
 */
#ifndef LEAKTOP_SAMPLER_H
#define LEAKTOP_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

/* One thread's countdown to its next sample. All zero is a valid, unseeded countdown: its first
 * allocation takes the slow path, which seeds it. */
typedef struct lt_countdown {
    int64_t left;   /* bytes until the next sampling point; <= 0: the last allocation hit it */
    uint64_t mean;  /* the mean interval `left` was drawn with */
    uint64_t rng;   /* xorshift64* state; 0 until seeded */
    uint32_t epoch; /* the sampler generation it was drawn for (see lt_countdown_expired) */
} lt_countdown;

/* The fast path: count n bytes. Returns nonzero when the countdown ran out, and the caller must
 * then call lt_countdown_expired for this same allocation. */
static inline int
lt_countdown_take(lt_countdown *c, size_t n)
{
    /* n is an allocation size: far below 2^62, so the subtraction cannot wrap. */
    c->left -= (int64_t)n;
    return c->left <= 0;
}

/* The slow path, after lt_countdown_take returned nonzero for an allocation of n bytes.
 * mean is the interval wanted now and epoch the sampler's generation: a countdown from another
 * generation (a new thread, a restart, a new mean) is first redrawn from scratch, and this
 * allocation counts against the new interval. Returns 1 when the allocation is sampled, with
 * *sampled_mean the interval it was sampled under (what its weight must use); 0 otherwise. The
 * countdown is refilled either way. Never fails. */
int lt_countdown_expired(lt_countdown *c, size_t n, uint64_t mean, uint32_t epoch,
                         uint64_t *sampled_mean);

/* A fresh exponentially distributed interval of the given mean, at least 1 and at most 64 times
 * the mean, from the xorshift state *rng (seeded by lt_sampler_seed). */
uint64_t lt_sampler_draw(uint64_t *rng, uint64_t mean);

/* A nonzero seed mixing salt with the clock and a process-wide counter, so threads started in
 * the same nanosecond still differ. */
uint64_t lt_sampler_seed(uint64_t salt);

/* A uniform double in [0, 1) from *rng. */
double lt_sampler_uniform(uint64_t *rng);

/* Probability that an allocation of size bytes is sampled at mean interval `mean`. */
double lt_sampler_probability(uint64_t size, uint64_t mean);

/* Blocks one sampled allocation of size bytes stands for: 1 / lt_sampler_probability. At least 1;
 * a zero size counts as one byte. */
double lt_sampler_weight(uint64_t size, uint64_t mean);

#endif
