/* agent/type_estimates.c: recognising sampled blocks' types, and the estimates since a census. */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "agent/type_estimates.h"
#include "harness.h"

/* Fake types: only their addresses are compared, never read. */
static char fake_types[4];
#define T(i) ((const void *)&fake_types[(i)])
#define TYPE_OFF 8u /* where an object holds its type pointer, after its refcount */

/* A block of size bytes holding an object of type t after a pre-header of pre bytes. */
static void
make_block(uint64_t *block, size_t size, uint32_t pre, const void *t)
{
    memset(block, 0xAB, size);
    uintptr_t p = (uintptr_t)t;
    memcpy((char *)block + pre + TYPE_OFF, &p, sizeof p);
}

static void
learn_three(lt_type_est *e)
{
    lt_type_est_init(e, TYPE_OFF);
    lt_type_est_forget_types(e);
    /* a GC type with a plain pre-header, one with a managed dict's two more pointers, a
     * variable-size one */
    ck_assert_int_eq(lt_type_est_learn(e, T(0), 10, 16, 32, 0, 0), 0);
    ck_assert_int_eq(lt_type_est_learn(e, T(1), 11, 32, 48, 0, 64), 0);
    ck_assert_int_eq(lt_type_est_learn(e, T(2), 12, 16, 24, 8, 0), 0);
    lt_type_est_learned(e);
    ck_assert(lt_type_est_knows(e, T(1)));
    ck_assert(!lt_type_est_knows(e, T(3)));
}

START_TEST(test_classify_by_type_and_size)
{
    lt_type_est e;
    learn_three(&e);
    uint64_t b[32];
    make_block(b, 48, 16, T(0));
    ck_assert_uint_eq(lt_type_est_classify(&e, b, 48), 10 + LT_KIND_NAME0);
    /* The size must be the type's: a block of another size holding that pointer is not one. */
    ck_assert_uint_eq(lt_type_est_classify(&e, b, 56), LT_KIND_NONE);
    /* An unknown pointer there (or the right one at another type's offset) is nothing. */
    make_block(b, 48, 16, T(3));
    ck_assert_uint_eq(lt_type_est_classify(&e, b, 48), LT_KIND_NONE);
    make_block(b, 80, 16, T(1)); /* T(1)'s pre-header is 32 */
    ck_assert_uint_eq(lt_type_est_classify(&e, b, 80), LT_KIND_NONE);
    /* Inline values: up to extra_max more. */
    make_block(b, 80, 32, T(1));
    ck_assert_uint_eq(lt_type_est_classify(&e, b, 80), 11 + LT_KIND_NAME0);
    ck_assert_uint_eq(lt_type_est_classify(&e, b, 80 + 64), 11 + LT_KIND_NAME0);
    ck_assert_uint_eq(lt_type_est_classify(&e, b, 80 + 72), LT_KIND_NONE);
    /* Variable size: at least the struct. */
    make_block(b, 200, 16, T(2));
    ck_assert_uint_eq(lt_type_est_classify(&e, b, 200), 12 + LT_KIND_NAME0);
    ck_assert_uint_eq(lt_type_est_classify(&e, b, 39), LT_KIND_NONE);
    /* A block too small to hold an object header is never read past its end. */
    ck_assert_uint_eq(lt_type_est_classify(&e, b, 16), LT_KIND_NONE);
    /* No types known: nothing. */
    lt_type_est_forget_types(&e);
    make_block(b, 48, 16, T(0));
    ck_assert_uint_eq(lt_type_est_classify(&e, b, 48), LT_KIND_NONE);
    lt_type_est_free(&e);
}
END_TEST

static void
tally(lt_type_est *e, const uint32_t *kind, const double *w, const uint64_t *seq, int n)
{
    lt_type_est_tally_begin(e);
    for (int i = 0; i < n; i++)
        lt_type_est_tally_add(e, kind[i], 48, w[i], seq[i]);
    ck_assert_int_eq(lt_type_est_tally_end(e), 0);
}

static const lt_est_row *
row_of(const lt_type_est *e, uint32_t name)
{
    for (uint32_t i = 0; i < e->nrows; i++)
        if (e->rows[i].name_id == name)
            return &e->rows[i];
    return NULL;
}

START_TEST(test_deltas_and_noise_since_the_baseline)
{
    lt_type_est e;
    learn_three(&e);
    const uint32_t A = 10 + LT_KIND_NAME0, B = 11 + LT_KIND_NAME0;
    /* At the census: two samples of A (weight 100), one of B; not objects are left out. */
    uint32_t k0[] = {A, A, B, LT_KIND_NONE};
    double w0[] = {100, 100, 50, 1000};
    uint64_t s0[] = {1, 2, 3, 4};
    tally(&e, k0, w0, s0, 4);
    ck_assert_uint_eq(lt_type_est_rows(&e, 0), 0); /* no baseline yet */
    lt_type_row census[] = {{10, 200, 9600}, {11, 5000, 240000}, {12, 7, 300}};
    lt_type_est_rebase(&e, 4, census, 3);
    ck_assert_uint_eq(lt_type_est_rows(&e, 0), 0); /* right after it: nothing to add */

    /* Later: A kept both and gained three more (sequence numbers after the baseline); B's
     * sample died. */
    uint32_t k1[] = {A, A, A, A, A};
    double w1[] = {100, 100, 100, 100, 100};
    uint64_t s1[] = {1, 2, 5, 6, 7};
    tally(&e, k1, w1, s1, 5);
    ck_assert_uint_eq(lt_type_est_rows(&e, 0), 2);
    const lt_est_row *a = row_of(&e, 10), *b = row_of(&e, 11);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(a->count_delta, 300);
    ck_assert_int_eq(a->bytes_delta, 300 * 48);
    /* The three that came: 3 * 100 * 99; those alive at both times cancel. */
    ck_assert_uint_eq(a->count_sd, (uint64_t)llround(sqrt(3 * 100.0 * 99)));
    ck_assert_int_eq(b->count_delta, -50);
    ck_assert_uint_eq(b->count_sd, (uint64_t)llround(sqrt(50.0 * 49)));
    /* A's census count is covered by its samples; B's 5,000 are not (made before the sampler
     * started): their deaths are invisible, and the row says how many. */
    ck_assert_uint_eq(a->unsampled, 0);
    ck_assert_uint_eq(b->unsampled, (uint64_t)llround(5000 - 50 - 3 * sqrt(50.0 * 49)));
    /* Largest change first; at most max_rows. */
    ck_assert_uint_eq(e.rows[0].name_id, 10);
    ck_assert_uint_eq(lt_type_est_rows(&e, 1), 1);
    /* A new census: zero again. */
    lt_type_est_rebase(&e, 7, census, 3);
    ck_assert_uint_eq(lt_type_est_rows(&e, 0), 0);
    ck_assert_uint_gt(lt_type_est_bytes(&e), 0);
    lt_type_est_free(&e);
}
END_TEST

/* With arrivals counted: what came is exact (A: 20 more tracked objects, none sampled; C: a type
 * made since the census), what went is sampled (B's sample died), and a type the collector does
 * not track (name 12: no census row, no arrivals) keeps the samples' estimate. */
START_TEST(test_arrivals_count_what_came)
{
    lt_type_est e;
    learn_three(&e);
    const uint32_t A = 10 + LT_KIND_NAME0, B = 11 + LT_KIND_NAME0, S = 12 + LT_KIND_NAME0;
    uint32_t k0[] = {A, B};
    double w0[] = {100, 50};
    uint64_t s0[] = {1, 2};
    tally(&e, k0, w0, s0, 2);
    lt_type_row census[] = {{10, 200, 9600}, {11, 5000, 240000}};
    /* At the census's mark: 30 A in the young lists. */
    lt_type_row young0[] = {{10, 30, 1440}};
    ck_assert_int_eq(lt_type_est_arrivals(&e, young0, 1, 1), 0);
    lt_type_est_rebase(&e, 2, census, 2);
    ck_assert_uint_eq(lt_type_est_rows(&e, 0), 0);
    /* Later: A's sample lives; B's died; a sample of the untracked type came; 50 A and 7 C (name
     * 13) are in the lists since the mark. */
    uint32_t k1[] = {A, S};
    double w1[] = {100, 40};
    uint64_t s1[] = {1, 3};
    tally(&e, k1, w1, s1, 2);
    lt_type_row young1[] = {{10, 50, 2400}, {13, 7, 700}};
    ck_assert_int_eq(lt_type_est_arrivals(&e, young1, 2, 0), 0);
    ck_assert_uint_eq(lt_type_est_rows(&e, 0), 4);
    const lt_est_row *a = row_of(&e, 10), *b = row_of(&e, 11), *c = row_of(&e, 13),
                     *u = row_of(&e, 12);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(u);
    ck_assert_int_eq(a->count_delta, 20);
    ck_assert_int_eq(a->bytes_delta, 960);
    ck_assert_uint_eq(a->count_sd, 0); /* nothing of A went: exact */
    ck_assert_int_eq(b->count_delta, -50);
    ck_assert_uint_eq(b->count_sd, (uint64_t)llround(sqrt(50.0 * 49)));
    ck_assert_int_eq(c->count_delta, 7);
    ck_assert_uint_eq(c->count_sd, 0);
    ck_assert_int_eq(u->count_delta, 40);
    ck_assert_uint_eq(u->count_sd, (uint64_t)llround(sqrt(40.0 * 39)));
    /* A tick without arrivals counted: the samples alone (A's unsampled 20 are not seen). */
    tally(&e, k1, w1, s1, 2);
    lt_type_est_rows(&e, 0);
    ck_assert_ptr_null(row_of(&e, 10));
    /* Lost mark: the same until the next census's. */
    lt_type_est_arrivals_lost(&e);
    ck_assert_int_eq(lt_type_est_arrivals(&e, young1, 2, 0), 0);
    lt_type_est_rows(&e, 0);
    ck_assert_ptr_null(row_of(&e, 13));
    lt_type_est_free(&e);
}
END_TEST

static Suite *
estimates_suite(void)
{
    Suite *s = suite_create("type_estimates");
    TCase *tc = lt_test_tcase(s, "estimates");
    tcase_add_test(tc, test_classify_by_type_and_size);
    tcase_add_test(tc, test_deltas_and_noise_since_the_baseline);
    tcase_add_test(tc, test_arrivals_count_what_came);
    return s;
}

int
main(void)
{
    return lt_test_run(estimates_suite());
}
