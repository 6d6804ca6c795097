/* agent/heap_sampler.c: recording and forgetting sampled blocks, the census with its
 * resolve/add/unhold/release protocol, thinning when full, and concurrent use. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/heap_sampler.h"
#include "agent/sampler.h"
#include "harness.h"
#include "leaktop/mem.h"

static int codes_pool[16]; /* fake code objects */

/* The fake owner: references per code, sites by first code, estimates per site. */
typedef struct owner {
    long refs[16];
    long retains, releases, holds, unholds, resolves;
    double bytes[17], count[17];
    int fail_resolve;
} owner;

static int
code_index(const void *code)
{
    return (int)((const int *)code - codes_pool);
}

static void
retain(void *ctx, const lt_raw_stack *s)
{
    owner *o = ctx;
    o->retains++;
    for (uint32_t i = 0; i < s->n; i++)
        o->refs[code_index(s->codes[i])]++;
}

static void
release(void *ctx, const lt_raw_stack *s)
{
    owner *o = ctx;
    o->releases++;
    for (uint32_t i = 0; i < s->n; i++)
        o->refs[code_index(s->codes[i])]--;
}

static uint32_t
resolve(void *ctx, const lt_raw_stack *s, int overflow)
{
    owner *o = ctx;
    if (o->fail_resolve)
        return 0;
    o->resolves++;
    o->holds++;
    if (overflow || s->n == 0)
        return 16 + 1;
    return (uint32_t)code_index(s->codes[0]) + 1; /* site = top frame */
}

static void
add(void *ctx, uint32_t site, double bytes, double count)
{
    owner *o = ctx;
    o->bytes[site - 1] += bytes;
    o->count[site - 1] += count;
}

static void
unhold(void *ctx, uint32_t site)
{
    owner *o = ctx;
    (void)site;
    o->unholds++;
}

static lt_heap_census_ops
ops_of(owner *o)
{
    lt_heap_census_ops ops = {o, resolve, add, unhold, release};
    return ops;
}

static void
census(lt_heap_sampler *hs, owner *o, lt_heap_totals *tot)
{
    memset(o->bytes, 0, sizeof o->bytes);
    memset(o->count, 0, sizeof o->count);
    lt_heap_census_ops ops = ops_of(o);
    lt_heap_sampler_census(hs, &ops, tot);
}

/* Stack k: top frame code k % 4, then two callers. */
static lt_raw_stack
stack_of(uint32_t k, const void **codes, int32_t *addrs)
{
    codes[0] = &codes_pool[k % 4];
    codes[1] = &codes_pool[8];
    codes[2] = &codes_pool[9];
    addrs[0] = (int32_t)(k % 8);
    addrs[1] = 20;
    addrs[2] = 30;
    lt_raw_stack s = {codes, addrs, 3, 0};
    return s;
}

static uintptr_t
ptr_of(uint32_t i)
{
    return 0x10000000u + (uintptr_t)i * 32u;
}

START_TEST(test_record_census_forget)
{
    uint64_t base = lt_mem_in_use();
    owner o;
    memset(&o, 0, sizeof o);
    lt_heap_limits lim;
    lt_heap_limits_default(&lim);
    lt_heap_sampler hs;
    memset(&hs, 0, sizeof hs);
    ck_assert_int_eq(lt_heap_sampler_init(&hs, &lim, retain, &o), 0);
    const void *codes[3];
    int32_t addrs[3];
    /* Inactive: nothing is kept. */
    lt_raw_stack s = stack_of(0, codes, addrs);
    lt_heap_sampler_record(&hs, (void *)ptr_of(0), 100, 1000, &s);
    ck_assert_uint_eq(hs.live.n, 0);
    uint32_t e0 = lt_heap_sampler_epoch(&hs);
    lt_heap_sampler_activate(&hs, 1000);
    ck_assert_uint_gt(lt_heap_sampler_epoch(&hs), e0);
    ck_assert_uint_eq(lt_heap_sampler_mean(&hs), 1000);
    ck_assert(lt_heap_sampler_active(&hs));
    /* 100 blocks of 100 bytes and 4 of 10,000 over 4 top frames (k % 4) and 8 offsets. */
    double truth[4] = {0};
    for (uint32_t i = 0; i < 104; i++) {
        uint64_t size = i < 100 ? 100 : 10000;
        s = stack_of(i, codes, addrs);
        lt_heap_sampler_record(&hs, (void *)ptr_of(i), size, 1000, &s);
        truth[i % 4] += lt_sampler_weight(size, 1000) * (double)size;
    }
    ck_assert_uint_eq(hs.live.n, 104);
    ck_assert_int_eq(o.retains, 8); /* distinct raw tracebacks: k % 8 */
    ck_assert_int_eq(o.refs[8], 8);
    lt_heap_totals tot;
    census(&hs, &o, &tot);
    ck_assert_int_eq(o.resolves, 8);
    ck_assert_uint_eq(tot.live_samples, 104);
    ck_assert_uint_eq(tot.traces, 9); /* and the overflow entry */
    ck_assert_uint_eq(tot.mean, 1000);
    double sum = 0;
    for (int k = 0; k < 4; k++) {
        ck_assert_double_eq_tol(o.bytes[k], truth[k], truth[k] * 1e-6);
        sum += truth[k];
    }
    ck_assert_double_eq_tol(tot.live_bytes, sum, sum * 1e-6);
    /* Resolved once: a second census resolves nothing new. */
    census(&hs, &o, &tot);
    ck_assert_int_eq(o.resolves, 8);
    /* lookup: a sampled block's entry and the site its traceback resolved to (top frame k % 4,
     * so site k % 4 + 1); nothing for a pointer inside a block or never sampled. */
    for (uint32_t i = 0; i < 104; i++) {
        lt_live_entry e;
        uint32_t site = 99;
        ck_assert_int_eq(lt_heap_sampler_lookup(&hs, (void *)ptr_of(i), &e, &site), 1);
        ck_assert_uint_eq(e.ptr, ptr_of(i));
        ck_assert_uint_eq(e.size, i < 100 ? 100 : 10000);
        ck_assert_uint_eq(site, i % 4 + 1);
        ck_assert_int_eq(lt_heap_sampler_lookup(&hs, (void *)(ptr_of(i) + 16), &e, &site), 0);
        ck_assert_uint_eq(site, 0);
    }
    ck_assert_uint_eq(hs.live.n, 104);
    {
        /* Sampled since the last census: found, its traceback not resolved yet (site 0). */
        const void *c2[3];
        int32_t a2[3];
        lt_raw_stack s2 = stack_of(0, c2, a2);
        a2[0] = 99; /* a new raw traceback */
        lt_heap_sampler_record(&hs, (void *)ptr_of(500), 64, 1000, &s2);
        lt_live_entry e;
        uint32_t site = 99;
        ck_assert_int_eq(lt_heap_sampler_lookup(&hs, (void *)ptr_of(500), &e, &site), 1);
        ck_assert_uint_eq(site, 0);
        ck_assert_int_eq(lt_heap_sampler_forget(&hs, (void *)ptr_of(500), &e), 1);
    }
    /* The filter lets every sampled pointer through; forgetting removes it once. */
    for (uint32_t i = 0; i < 104; i += 2) {
        ck_assert(lt_heap_sampler_maybe(&hs, (void *)ptr_of(i)));
        lt_live_entry e;
        ck_assert_int_eq(lt_heap_sampler_forget(&hs, (void *)ptr_of(i), &e), 1);
        ck_assert_uint_eq(e.ptr, ptr_of(i));
        ck_assert_int_eq(lt_heap_sampler_forget(&hs, (void *)ptr_of(i), &e), 0);
        if (i == 50)
            lt_heap_sampler_restore(&hs, &e); /* a failed realloc: alive again */
    }
    census(&hs, &o, &tot);
    ck_assert_uint_eq(tot.live_samples, 53);
    /* Offsets 0, 2, 4, 6 (even k) have no samples left but one (k = 50: offset 2). */
    /* Everything goes at clear: every reference released, every site unheld. */
    lt_heap_census_ops ops = ops_of(&o);
    lt_heap_sampler_clear(&hs, &ops);
    ck_assert_int_eq(o.releases, o.retains);
    ck_assert_int_eq(o.unholds, o.holds);
    for (int k = 0; k < 16; k++)
        ck_assert_int_eq(o.refs[k], 0);
    census(&hs, &o, &tot);
    ck_assert_uint_eq(tot.live_samples, 0);
    ck_assert(tot.live_bytes == 0);
    lt_heap_sampler_free(&hs, release, &o);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_idle_tracebacks_released)
{
    owner o;
    memset(&o, 0, sizeof o);
    lt_heap_limits lim;
    lt_heap_limits_default(&lim);
    lim.idle_ticks = 3;
    lt_heap_sampler hs;
    memset(&hs, 0, sizeof hs);
    ck_assert_int_eq(lt_heap_sampler_init(&hs, &lim, retain, &o), 0);
    lt_heap_sampler_activate(&hs, 1000);
    const void *codes[3];
    int32_t addrs[3];
    lt_heap_totals tot;
    for (uint32_t i = 0; i < 8; i++) {
        lt_raw_stack s = stack_of(i, codes, addrs);
        lt_heap_sampler_record(&hs, (void *)ptr_of(i), 64, 1000, &s);
    }
    census(&hs, &o, &tot); /* resolves all 8 */
    lt_live_entry e;
    for (uint32_t i = 0; i < 4; i++)
        lt_heap_sampler_forget(&hs, (void *)ptr_of(i), &e);
    for (int t = 0; t < 6; t++)
        census(&hs, &o, &tot);
    /* The 4 tracebacks without live samples were idle long enough: released and unheld. */
    ck_assert_int_eq(o.releases, 4);
    ck_assert_int_eq(o.unholds, 4);
    ck_assert_uint_eq(tot.traces, 5);
    ck_assert_uint_eq(tot.trace_evicted, 4);
    /* A traceback that could not be resolved is tried again next census. */
    o.fail_resolve = 1;
    lt_raw_stack s = stack_of(100, codes, addrs);
    addrs[2] = 99;
    lt_heap_sampler_record(&hs, (void *)ptr_of(100), 64, 1000, &s);
    census(&hs, &o, &tot);
    o.fail_resolve = 0;
    long before = o.resolves;
    census(&hs, &o, &tot);
    ck_assert_int_eq(o.resolves, before + 1);
    lt_heap_census_ops ops = ops_of(&o);
    lt_heap_sampler_clear(&hs, &ops);
    ck_assert_int_eq(o.releases, o.retains);
    ck_assert_int_eq(o.unholds, o.holds);
    lt_heap_sampler_free(&hs, release, &o);
}
END_TEST

START_TEST(test_thinning_keeps_estimates)
{
    uint64_t base = lt_mem_in_use();
    owner o;
    memset(&o, 0, sizeof o);
    lt_heap_limits lim;
    lt_heap_limits_default(&lim);
    lim.max_samples = 4096;
    lt_heap_sampler hs;
    memset(&hs, 0, sizeof hs);
    ck_assert_int_eq(lt_heap_sampler_init(&hs, &lim, retain, &o), 0);
    lt_heap_sampler_activate(&hs, 256);
    /* 2,000,000 live blocks of 48 bytes (96 MB) at a 256-byte interval would be 375,000
     * samples; the table holds 4,096, so the interval doubles until it fits. */
    lt_countdown c;
    memset(&c, 0, sizeof c);
    const void *codes[3];
    int32_t addrs[3];
    double truth = 0;
    for (uint32_t i = 0; i < 2000000; i++) {
        truth += 48;
        uint64_t sm;
        if (lt_countdown_take(&c, 48) &&
            lt_countdown_expired(&c, 48, lt_heap_sampler_mean(&hs), lt_heap_sampler_epoch(&hs),
                                 &sm)) {
            lt_raw_stack s = stack_of(i, codes, addrs);
            lt_heap_sampler_record(&hs, (void *)(uintptr_t)(0x100000000ull + i * 48ull), 48, sm,
                                   &s);
        }
    }
    lt_heap_totals tot;
    census(&hs, &o, &tot);
    ck_assert_uint_le(tot.live_samples, 4096);
    ck_assert_uint_ge(tot.mean, 256 * 32);
    ck_assert_uint_gt(hs.thinned, 0);
    ck_assert_uint_eq(tot.dropped, 0);
    /* >= 2,048 samples left: relative sd about 2%; allow 10%. */
    ck_assert_double_eq_tol(tot.live_bytes / truth, 1.0, 0.10);
    ck_assert_double_eq_tol(tot.live_count / 2000000.0, 1.0, 0.10);
    lt_heap_census_ops ops = ops_of(&o);
    lt_heap_sampler_clear(&hs, &ops);
    lt_heap_sampler_free(&hs, release, &o);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

typedef struct worker_arg {
    lt_heap_sampler *hs;
    uint32_t id;
    int *stop;
} worker_arg;

static void *
worker(void *p)
{
    worker_arg *a = p;
    const void *codes[3];
    int32_t addrs[3];
    uint32_t i = 0;
    while (!__atomic_load_n(a->stop, __ATOMIC_ACQUIRE) || i < 1000) {
        uintptr_t ptr = 0x200000000ull * (a->id + 1) + (uintptr_t)(i % 5000) * 16u;
        lt_live_entry e;
        if (lt_heap_sampler_maybe(a->hs, (void *)ptr))
            lt_heap_sampler_forget(a->hs, (void *)ptr, &e);
        lt_raw_stack s = stack_of(i * 7 + a->id, codes, addrs);
        lt_heap_sampler_record(a->hs, (void *)ptr, 16 + i % 200, 4096, &s);
        i++;
    }
    /* Forget everything this thread recorded. */
    for (uint32_t k = 0; k < 5000; k++) {
        lt_live_entry e;
        uintptr_t ptr = 0x200000000ull * (a->id + 1) + (uintptr_t)k * 16u;
        lt_heap_sampler_forget(a->hs, (void *)ptr, &e);
    }
    return NULL;
}

START_TEST(test_concurrent)
{
    owner o;
    memset(&o, 0, sizeof o);
    lt_heap_limits lim;
    lt_heap_limits_default(&lim);
    lim.max_samples = 2048; /* thinning happens under contention too */
    lim.idle_ticks = 1;
    lt_heap_sampler hs;
    memset(&hs, 0, sizeof hs);
    ck_assert_int_eq(lt_heap_sampler_init(&hs, &lim, retain, &o), 0);
    lt_heap_sampler_activate(&hs, 4096);
    int stop = 0;
    pthread_t th[4];
    worker_arg args[4];
    for (uint32_t t = 0; t < 4; t++) {
        args[t] = (worker_arg){&hs, t, &stop};
        ck_assert_int_eq(pthread_create(&th[t], NULL, worker, &args[t]), 0);
    }
    lt_heap_totals tot;
    uint64_t deadline = lt_test_now_ms() + 1500;
    int censuses = 0;
    while (lt_test_now_ms() < deadline) {
        census(&hs, &o, &tot);
        ck_assert_uint_le(tot.live_samples, 2048);
        censuses++;
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int t = 0; t < 4; t++)
        pthread_join(th[t], NULL);
    census(&hs, &o, &tot);
    ck_assert_int_gt(censuses, 5);
    ck_assert_uint_eq(tot.live_samples, 0);
    ck_assert(tot.live_bytes == 0);
    for (int k = 0; k < 3; k++)
        census(&hs, &o, &tot);
    lt_heap_census_ops ops = ops_of(&o);
    lt_heap_sampler_clear(&hs, &ops);
    ck_assert_int_eq(o.releases, o.retains);
    ck_assert_int_eq(o.unholds, o.holds);
    for (int k = 0; k < 16; k++)
        ck_assert_int_eq(o.refs[k], 0);
    lt_heap_sampler_free(&hs, release, &o);
}
END_TEST

START_TEST(test_after_fork_lock)
{
    owner o;
    memset(&o, 0, sizeof o);
    lt_heap_limits lim;
    lt_heap_limits_default(&lim);
    lt_heap_sampler hs;
    memset(&hs, 0, sizeof hs);
    ck_assert_int_eq(lt_heap_sampler_init(&hs, &lim, retain, &o), 0);
    lt_heap_sampler_activate(&hs, 100);
    hs.lock = 1; /* as if another thread held it when the process forked */
    lt_heap_sampler_after_fork(&hs);
    const void *codes[3];
    int32_t addrs[3];
    lt_raw_stack s = stack_of(1, codes, addrs);
    lt_heap_sampler_record(&hs, (void *)ptr_of(1), 10, 100, &s); /* would spin forever */
    ck_assert_uint_eq(hs.live.n, 1);
    lt_heap_sampler_deactivate(&hs);
    lt_heap_sampler_record(&hs, (void *)ptr_of(2), 10, 100, &s);
    ck_assert_uint_eq(hs.live.n, 1);
    lt_heap_census_ops ops = ops_of(&o);
    lt_heap_sampler_clear(&hs, &ops);
    lt_heap_sampler_free(&hs, release, &o);
    /* Re-initialised in place, the epoch keeps counting. */
    uint32_t e = hs.epoch;
    ck_assert_int_eq(lt_heap_sampler_init(&hs, &lim, retain, &o), 0);
    ck_assert_uint_gt(hs.epoch, e);
    lt_heap_sampler_free(&hs, release, &o);
}
END_TEST

static Suite *
heap_sampler_suite(void)
{
    Suite *s = suite_create("heap_sampler");
    TCase *tc = lt_test_tcase(s, "heap_sampler");
    tcase_add_test(tc, test_record_census_forget);
    tcase_add_test(tc, test_idle_tracebacks_released);
    tcase_add_test(tc, test_thinning_keeps_estimates);
    tcase_add_test(tc, test_concurrent);
    tcase_add_test(tc, test_after_fork_lock);
    return s;
}

int
main(void)
{
    return lt_test_run(heap_sampler_suite());
}
