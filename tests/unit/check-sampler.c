/* agent/sampler.c: the Poisson byte countdown, its draws, and the weights that make the
 * estimates unbiased. Statistical tests use fixed-size streams and bounds several standard
 * deviations wide, so they do not flake. */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/sampler.h"
#include "harness.h"

START_TEST(test_weights)
{
    /* weight * probability == 1, weight >= 1, large blocks stand for themselves. */
    uint64_t sizes[] = {0, 1, 16, 100, 4096, 65536, 1u << 20, 1u << 30};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        double p = lt_sampler_probability(sizes[i], 65536);
        double w = lt_sampler_weight(sizes[i], 65536);
        ck_assert(p > 0 && p <= 1);
        ck_assert(w >= 1.0);
        ck_assert_double_eq_tol(p * w, 1.0, 1e-9);
    }
    ck_assert_double_eq_tol(lt_sampler_weight(1u << 30, 65536), 1.0, 1e-9);
    /* Small blocks: about mean / size blocks each. */
    ck_assert_double_eq_tol(lt_sampler_weight(16, 65536), 65536.0 / 16, 1.0);
    /* Zero counts as one byte, never infinite. */
    ck_assert(isfinite(lt_sampler_weight(0, 65536)));
    ck_assert_double_eq(lt_sampler_weight(0, 65536), lt_sampler_weight(1, 65536));
}
END_TEST

START_TEST(test_draws)
{
    uint64_t rng = lt_sampler_seed(42);
    ck_assert_uint_ne(rng, 0);
    const uint64_t mean = 10000;
    const int n = 200000;
    double sum = 0;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < n; i++) {
        uint64_t v = lt_sampler_draw(&rng, mean);
        sum += (double)v;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    /* Exp(mean): the sample mean's sd is mean / sqrt(n) = 0.22%: allow 2%. */
    ck_assert_double_eq_tol(sum / n, (double)mean, mean * 0.02);
    ck_assert_uint_ge(lo, 1);
    ck_assert_uint_le(hi, 64 * mean);
    /* Memorylessness at a glance: about e^-1 of draws exceed the mean. */
    rng = lt_sampler_seed(7);
    int above = 0;
    for (int i = 0; i < n; i++)
        above += lt_sampler_draw(&rng, mean) > mean;
    ck_assert_double_eq_tol((double)above / n, exp(-1.0), 0.01);
    /* A zero mean is treated as one byte. */
    ck_assert_uint_ge(lt_sampler_draw(&rng, 0), 1);
    /* Seeds differ even when asked for at the same moment with the same salt. */
    ck_assert_uint_ne(lt_sampler_seed(1), lt_sampler_seed(1));
}
END_TEST

/* Feed a stream of n allocations of the sizes given by size_of(i) through a countdown; return
 * the estimates of bytes and blocks from the samples. */
static void
run_stream(lt_countdown *c, uint64_t mean, uint32_t epoch, long n, uint64_t (*size_of)(long),
           double *est_bytes, double *est_count, double *true_bytes)
{
    *est_bytes = *est_count = *true_bytes = 0;
    for (long i = 0; i < n; i++) {
        uint64_t s = size_of(i);
        *true_bytes += (double)s;
        uint64_t sm;
        if (lt_countdown_take(c, s) && lt_countdown_expired(c, s, mean, epoch, &sm)) {
            double w = lt_sampler_weight(s, sm);
            *est_bytes += w * (double)s;
            *est_count += w;
        }
    }
}

static uint64_t
mixed_size(long i)
{
    /* Mostly small, some medium, a rare block larger than the interval. */
    if (i % 1000 == 999)
        return 300000;
    if (i % 10 == 0)
        return 1500;
    return 16 + (uint64_t)(i % 7) * 24;
}

START_TEST(test_unbiased_stream)
{
    lt_countdown c;
    memset(&c, 0, sizeof c);
    const long n = 2000000;
    const uint64_t mean = 4096;
    double eb, ec, tb;
    run_stream(&c, mean, 1, n, mixed_size, &eb, &ec, &tb);
    /* ~tb / mean = 1.5e5 samples: relative sd well under 1%; allow 3%. */
    ck_assert_double_eq_tol(eb / tb, 1.0, 0.03);
    ck_assert_double_eq_tol(ec / (double)n, 1.0, 0.03);
}
END_TEST

START_TEST(test_epochs)
{
    lt_countdown c;
    memset(&c, 0, sizeof c);
    uint64_t sm = 0;
    /* A fresh countdown is drawn on its first allocation, which counts against it. */
    ck_assert(lt_countdown_take(&c, 10));
    int sampled = lt_countdown_expired(&c, 10, 1000, 1, &sm);
    ck_assert_uint_eq(c.epoch, 1);
    ck_assert_uint_eq(c.mean, 1000);
    ck_assert_uint_ne(c.rng, 0);
    if (!sampled)
        ck_assert_int_gt(c.left, 0);
    /* Run it down: a sample reports the mean it was drawn with. */
    for (int i = 0; i < 100000 && !(lt_countdown_take(&c, 64) &&
                                     lt_countdown_expired(&c, 64, 1000, 1, &sm));
         i++) {
    }
    ck_assert_uint_eq(sm, 1000);
    /* A new epoch with a new mean: the next expiry redraws instead of sampling under the old
     * interval, and later samples carry the new mean. */
    c.left = 0;
    lt_countdown_expired(&c, 1, 50000, 2, &sm);
    ck_assert_uint_eq(c.epoch, 2);
    ck_assert_uint_eq(c.mean, 50000);
    int got = 0;
    for (int i = 0; i < 1000000 && !got; i++)
        got = lt_countdown_take(&c, 64) && lt_countdown_expired(&c, 64, 50000, 2, &sm);
    ck_assert(got);
    ck_assert_uint_eq(sm, 50000);
    /* The mean of the next interval can change without an epoch: the sample in hand still
     * reports the old one. */
    c.left = 0;
    lt_countdown_expired(&c, 64, 7777, 2, &sm);
    ck_assert_uint_eq(sm, 50000);
    ck_assert_uint_eq(c.mean, 7777);
}
END_TEST

typedef struct thread_arg {
    long n;
    uint64_t size;
    double est, truth;
} thread_arg;

static uint64_t thread_size;

static uint64_t
fixed_size(long i)
{
    (void)i;
    return thread_size;
}

static void *
thread_main(void *p)
{
    thread_arg *a = p;
    lt_countdown c;
    memset(&c, 0, sizeof c);
    double ec;
    run_stream(&c, 2048, 3, a->n, fixed_size, &a->est, &ec, &a->truth);
    return NULL;
}

START_TEST(test_threads_independent)
{
    /* Countdowns are per thread: every thread's own estimate is right, and the seeds differ. */
    thread_size = 48;
    thread_arg args[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thread_arg){.n = 500000, .size = 48};
        ck_assert_int_eq(pthread_create(&th[i], NULL, thread_main, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        /* 24 MB / 2 KiB = 11,700 samples: sd 0.9%; allow 5%. */
        ck_assert_double_eq_tol(args[i].est / args[i].truth, 1.0, 0.05);
    }
    ck_assert(args[0].est != args[1].est || args[1].est != args[2].est);
}
END_TEST

static Suite *
sampler_suite(void)
{
    Suite *s = suite_create("sampler");
    TCase *tc = lt_test_tcase(s, "sampler");
    tcase_add_test(tc, test_weights);
    tcase_add_test(tc, test_draws);
    tcase_add_test(tc, test_unbiased_stream);
    tcase_add_test(tc, test_epochs);
    tcase_add_test(tc, test_threads_independent);
    return s;
}

int
main(void)
{
    return lt_test_run(sampler_suite());
}
