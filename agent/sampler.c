/* The Poisson byte countdown and the weights of its samples. */
#include "sampler.h"

#include <math.h>
#include <time.h>

static uint64_t seed_counter; /* atomic */

static uint64_t
splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint64_t
lt_sampler_seed(uint64_t salt)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t n = __atomic_add_fetch(&seed_counter, 1, __ATOMIC_RELAXED);
    uint64_t s = splitmix64(salt ^ splitmix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32)) ^
                            splitmix64(n));
    return s ? s : 0x2545F4914F6CDD1Dull;
}

double
lt_sampler_uniform(uint64_t *rng)
{
    uint64_t x = *rng;
    if (x == 0)
        x = lt_sampler_seed((uint64_t)(uintptr_t)rng);
    x ^= x >> 12; /* xorshift64* */
    x ^= x << 25;
    x ^= x >> 27;
    *rng = x;
    return (double)((x * 0x2545F4914F6CDD1Dull) >> 11) * (1.0 / 9007199254740992.0);
}

uint64_t
lt_sampler_draw(uint64_t *rng, uint64_t mean)
{
    if (mean == 0)
        mean = 1;
    /* -log(1 - u) with u in [0, 1) is Exp(1); 1 - u is never 0. */
    double e = -log1p(-lt_sampler_uniform(rng));
    if (e > 64.0)
        e = 64.0;
    double v = e * (double)mean;
    uint64_t r = (uint64_t)v;
    return r ? r : 1;
}

int
lt_countdown_expired(lt_countdown *c, size_t n, uint64_t mean, uint32_t epoch,
                     uint64_t *sampled_mean)
{
    if (c->rng == 0)
        c->rng = lt_sampler_seed((uint64_t)(uintptr_t)c);
    if (c->epoch != epoch || c->mean == 0) {
        /* Stale or new: start a fresh interval at this allocation's first byte. */
        c->epoch = epoch;
        c->mean = mean;
        c->left = (int64_t)lt_sampler_draw(&c->rng, mean);
        if (!lt_countdown_take(c, n))
            return 0;
    }
    /* A sampling point fell inside this allocation. The process is memoryless: the next point
     * is a fresh interval after its last byte, however far the countdown overshot. */
    *sampled_mean = c->mean;
    c->mean = mean;
    c->left = (int64_t)lt_sampler_draw(&c->rng, mean);
    return 1;
}

double
lt_sampler_probability(uint64_t size, uint64_t mean)
{
    if (size == 0)
        size = 1;
    if (mean == 0)
        return 1.0;
    return -expm1(-(double)size / (double)mean);
}

double
lt_sampler_weight(uint64_t size, uint64_t mean)
{
    double p = lt_sampler_probability(size, mean);
    return p > 0 ? 1.0 / p : (double)mean;
}
