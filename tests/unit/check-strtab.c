/* agent/strtab.c: interned strings with dense ids, bounded, never failing loudly. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/strtab.h"
#include "harness.h"
#include "leaktop/mem.h"

static uint32_t
intern(lt_strtab *t, const char *s, int *added)
{
    return lt_strtab_intern(t, s, strlen(s), added);
}

/* Every id below t->n still maps back to its text through the index. */
static void
check_all_found(lt_strtab *t)
{
    for (uint32_t id = 1; id < t->n; id++) {
        int added = 1;
        ck_assert_uint_eq(lt_strtab_intern(t, t->text[id], t->len[id], &added), id);
        ck_assert_int_eq(added, 0);
    }
}

START_TEST(test_same_id)
{
    uint64_t base = lt_mem_in_use();
    lt_strtab t;
    ck_assert_int_eq(lt_strtab_init(&t), 0);
    ck_assert_uint_eq(t.n, 1); /* id 0 is the overflow text */
    ck_assert_str_eq(t.text[LT_STRTAB_OVERFLOW_ID], "(string table full)");

    int added = 0;
    uint32_t a = intern(&t, "dict", &added);
    ck_assert_int_eq(added, 1);
    ck_assert_uint_eq(a, 1);
    uint32_t again = intern(&t, "dict", &added);
    ck_assert_int_eq(added, 0);
    ck_assert_uint_eq(again, a);
    ck_assert_str_eq(t.text[a], "dict");
    ck_assert_uint_eq(t.len[a], 4);

    /* Lengths matter, not NUL terminators: a prefix is another string. */
    uint32_t b = lt_strtab_intern(&t, "dictionary", 4, &added);
    ck_assert_uint_eq(b, a);
    ck_assert_int_eq(added, 0);
    uint32_t c = lt_strtab_intern(&t, "dictionary", 3, &added);
    ck_assert_int_eq(added, 1);
    ck_assert_uint_ne(c, a);
    ck_assert_str_eq(t.text[c], "dic");

    /* The empty string is a string like any other. */
    uint32_t e = lt_strtab_intern(&t, "", 0, &added);
    ck_assert_int_eq(added, 1);
    ck_assert_uint_eq(lt_strtab_intern(&t, "", 0, &added), e);
    ck_assert_int_eq(added, 0);

    /* The overflow text itself is already there, as id 0. */
    ck_assert_uint_eq(intern(&t, "(string table full)", &added), LT_STRTAB_OVERFLOW_ID);
    ck_assert_int_eq(added, 0);
    ck_assert_uint_eq(t.refused, 0);

    lt_strtab_free(&t);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_dense_ids)
{
    lt_strtab t;
    ck_assert_int_eq(lt_strtab_init(&t), 0);
    char name[32];
    /* Enough to grow the id arrays (256) and the index (1024 slots) several times. */
    for (uint32_t i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "mod.Type%u", i);
        int added = 0;
        ck_assert_uint_eq(intern(&t, name, &added), i + 1);
        ck_assert_int_eq(added, 1);
        /* Re-interning an older one in between does not disturb the numbering. */
        snprintf(name, sizeof name, "mod.Type%u", i / 2);
        ck_assert_uint_eq(intern(&t, name, &added), i / 2 + 1);
        ck_assert_int_eq(added, 0);
    }
    ck_assert_uint_eq(t.n, 5001);
    ck_assert_uint_ge(t.nslots, 2 * t.n); /* the index stays at most half full */
    check_all_found(&t);
    lt_strtab_free(&t);
}
END_TEST

START_TEST(test_full_by_ids)
{
    uint64_t base = lt_mem_in_use();
    lt_strtab t;
    ck_assert_int_eq(lt_strtab_init(&t), 0);
    char name[32];
    int added;
    for (uint32_t i = 1; i < LT_STRTAB_MAX_IDS; i++) {
        int n = snprintf(name, sizeof name, "t%u", i);
        uint32_t id = lt_strtab_intern(&t, name, (size_t)n, &added);
        if (id != i)
            ck_abort_msg("id %u for string %u", id, i);
    }
    ck_assert_uint_eq(t.n, LT_STRTAB_MAX_IDS);
    ck_assert_uint_eq(t.refused, 0);

    /* Full: a new string gets the overflow id, is counted, and is not added. */
    ck_assert_uint_eq(intern(&t, "one.too.many", &added), LT_STRTAB_OVERFLOW_ID);
    ck_assert_int_eq(added, 0);
    ck_assert_uint_eq(intern(&t, "another", &added), LT_STRTAB_OVERFLOW_ID);
    ck_assert_uint_eq(t.refused, 2);
    ck_assert_uint_eq(t.n, LT_STRTAB_MAX_IDS);
    /* Known strings are still found. */
    ck_assert_uint_eq(intern(&t, "t1", &added), 1);
    ck_assert_uint_eq(intern(&t, "t262143", &added), LT_STRTAB_MAX_IDS - 1);
    ck_assert_int_eq(added, 0);
    ck_assert_uint_eq(t.refused, 2);
    lt_strtab_free(&t);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_full_by_bytes)
{
    lt_strtab t;
    ck_assert_int_eq(lt_strtab_init(&t), 0);
    size_t big = 60000;
    char *s = malloc(big);
    ck_assert_ptr_nonnull(s);
    memset(s, 'x', big);
    int added;
    uint32_t i;
    for (i = 0;; i++) {
        snprintf(s, 16, "%010u", i); /* distinct prefixes, the rest 'x' */
        s[10] = 'x';
        uint32_t id = lt_strtab_intern(&t, s, big, &added);
        if (id == LT_STRTAB_OVERFLOW_ID)
            break;
        ck_assert_uint_eq(id, i + 1);
        ck_assert_uint_le(t.bytes, LT_STRTAB_MAX_BYTES);
    }
    ck_assert_int_eq(added, 0);
    ck_assert_uint_eq(t.refused, 1);
    ck_assert_uint_gt(t.bytes + big + 1, LT_STRTAB_MAX_BYTES);
    ck_assert_uint_gt(i, 100); /* it really was the byte bound, not something else */
    /* A short string still fits in what is left. */
    ck_assert_uint_eq(intern(&t, "small", &added), i + 1);
    ck_assert_int_eq(added, 1);
    free(s);
    lt_strtab_free(&t);
}
END_TEST

/* Every allocation intern can make, failing in turn: the overflow id, no crash, and the table
 * fully usable afterwards. */
START_TEST(test_out_of_memory)
{
    uint64_t base = lt_mem_in_use();
    char name[32];
    int added;
    /* The 512th id needs a bigger index (calloc), bigger text[] and len[] (two reallocs) and the
     * copy (strndup): allocations 1 to 4. */
    for (long k = 1; k <= 4; k++) {
        lt_strtab t;
        ck_assert_int_eq(lt_strtab_init(&t), 0);
        for (uint32_t i = 1; i < 512; i++) {
            snprintf(name, sizeof name, "name%u", i);
            ck_assert_uint_eq(intern(&t, name, &added), i);
        }
        ck_assert_uint_eq(t.n, 512);
        lt_mem_fail_after(k);
        added = 1;
        ck_assert_uint_eq(intern(&t, "victim", &added), LT_STRTAB_OVERFLOW_ID);
        lt_mem_fail_after(0);
        ck_assert_int_eq(added, 0);
        ck_assert_uint_eq(t.refused, 1);
        ck_assert_uint_eq(t.n, 512);
        check_all_found(&t);
        /* Memory is back: the same string now gets the next dense id. */
        ck_assert_uint_eq(intern(&t, "victim", &added), 512);
        ck_assert_int_eq(added, 1);
        ck_assert_str_eq(t.text[512], "victim");
        check_all_found(&t);
        lt_strtab_free(&t);
        ck_assert_uint_eq(lt_mem_in_use(), base);
    }

    /* init itself under out of memory: -1, nothing held, and free is harmless after. */
    for (long k = 1; k <= 4; k++) {
        lt_strtab t;
        lt_mem_fail_after(k);
        int rc = lt_strtab_init(&t);
        lt_mem_fail_after(0);
        if (rc < 0) {
            ck_assert_uint_eq(lt_mem_in_use(), base);
            /* A table whose init failed still answers, with the overflow id. */
            ck_assert_uint_eq(intern(&t, "x", &added), LT_STRTAB_OVERFLOW_ID);
        }
        lt_strtab_free(&t);
        ck_assert_uint_eq(lt_mem_in_use(), base);
    }
}
END_TEST

static Suite *
strtab_suite(void)
{
    Suite *s = suite_create("strtab");
    TCase *tc = lt_test_tcase(s, "strtab");
    tcase_add_test(tc, test_same_id);
    tcase_add_test(tc, test_dense_ids);
    tcase_add_test(tc, test_full_by_ids);
    tcase_add_test(tc, test_full_by_bytes);
    tcase_add_test(tc, test_out_of_memory);
    return s;
}

int
main(void)
{
    return lt_test_run(strtab_suite());
}
